/* End-to-end tests of the push side with the real binary ($GHLSYNC_BIN), the simulator and the
 * private PostgreSQL: `ghlsync backfill`, SQL writes, `ghlsync push` (exit codes, the
 * simulator's dump equals the table); `ghlsync run` pushing local changes while it pulls remote
 * edits; `ghlsync schema apply` installs the triggers; direction = "pull" tables refuse writes. */
#include "test.h"
#include "tpg.h"
#include "tpull.h"
#include "tsim.h"

#include <cjson/cJSON.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static bool ready(void)
{
    return tpg_available() && getenv("GHLSYNC_BIN") && getenv("HLSIM_BIN");
}

#define EQ_SQL(c, sql, want)                                                                       \
    do {                                                                                           \
        char *v_ = tpg_scalar((c), (sql));                                                         \
        TEST_CHECK_MSG(v_ &&strcmp(v_, (want)) == 0, "%s -> %s, want %s", (sql),                   \
                       v_ ? v_ : "(null)", (want));                                                \
        free(v_);                                                                                  \
    } while (0)

static long counter(const tsim *s, const char *route)
{
    char *body = NULL;
    tsim_admin(s, "GET", "/_admin/counters", NULL, &body);
    cJSON *j = cJSON_Parse(body ? body : "");
    free(body);
    const cJSON *e =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "byEndpoint"), route);
    long n = (long)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(e, "total"));
    cJSON_Delete(j);
    return n < 0 ? 0 : n;
}

#define R_CREATE "POST /objects/{schemaKey}/records"
#define R_PUT    "PUT /objects/{schemaKey}/records/{id}"
#define R_DELETE "DELETE /objects/{schemaKey}/records/{id}"

/* The remote record's properties (public API GET), NULL if absent. */
static cJSON *remote(const tsim *s, const char *object, const char *id)
{
    char path[300], *body = NULL;
    snprintf(path, sizeof path, "/objects/%s/records/%s", object, id);
    long st = tsim_api(s, 0, "GET", path, NULL, &body);
    cJSON *j = st == 200 ? cJSON_Parse(body) : NULL;
    free(body);
    return j;
}

static const char *remote_prop(const cJSON *rec, const char *key)
{
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(rec, "record"),
                                         "properties"),
        key);
    return cJSON_IsString(p) ? p->valuestring : NULL;
}

/* backfill; INSERT/UPDATE/DELETE with SQL; `ghlsync push` exits 0 and the simulator holds
 * exactly the table; a second push has nothing to do. */
static void backfill_sql_push(void)
{
    tsim s;
    const char *args[] = {"--locations", "1", "--seed-records", "20", "--burst", "0", NULL};
    TEST_REQUIRE(tsim_start(&s, args) == 0);
    char ci[512], cfg[512];
    PGconn *c = tpg_fresh_db("pe2e_push", ci, sizeof ci);
    TEST_REQUIRE(c != NULL);
    TEST_REQUIRE(tpull_config(&s, ci, NULL, cfg, sizeof cfg));
    const char *bf[] = {"backfill", NULL};
    TEST_REQUIRE(tpull_run(cfg, bf, NULL, 60000) == 0);
    EQ_SQL(c, "SELECT count(*) FROM ghl.pet", "20");
    EQ_SQL(c, "SELECT count(*) FROM ghlsync.changes", "0"); /* pull does not echo */

    /* every data type in the insert; location_id filled in by the trigger (one location) */
    TEST_CHECK(tpg_exec(
        c, "INSERT INTO ghl.pet (name, notes, age, owner_phone, price, price_currency, housing, "
           "species, traits, birth_date, contact_info, photos, size) VALUES "
           "('E2E \"new\" pet''s', E'two\\nlines 名前', 7.25, '+15550002222', 42.5, 'USD', "
           "'{indoor}', 'dog', '{friendly,shy}', '2020-02-29', "
           "'{\"email\": \"e@x.y\"}', '[{\"url\": \"https://x/p.png\", \"name\": \"p.png\"}]', "
           "'small')"));
    TEST_CHECK(tpg_exec(c, "INSERT INTO ghl.business (name, city) VALUES ('E2E Inc', 'Lyon')"));
    TEST_CHECK(tpg_exec(c, "UPDATE ghl.pet SET name = 'renamed', age = 99, traits = '{noisy}' "
                           "WHERE id = (SELECT id FROM ghl.pet ORDER BY id LIMIT 1)"));
    TEST_CHECK(tpg_exec(c, "UPDATE ghl.vaccination SET dose_ml = 1.5 "
                           "WHERE id = (SELECT id FROM ghl.vaccination ORDER BY id LIMIT 1)"));
    char *gone =
        tpg_scalar(c, "SELECT id FROM ghl.pet WHERE id IS NOT NULL ORDER BY id DESC LIMIT 1");
    TEST_REQUIRE(gone != NULL);
    char q[300];
    snprintf(q, sizeof q, "DELETE FROM ghl.pet WHERE id = '%s'", gone);
    TEST_CHECK(tpg_exec(c, q));
    EQ_SQL(c, "SELECT count(*) FROM ghlsync.changes WHERE state = 'pending'", "5");

    const char *push[] = {"push", NULL};
    TEST_EQ_INT(tpull_run(cfg, push, NULL, 60000), 0);
    EQ_SQL(c, "SELECT count(*) FROM ghlsync.changes WHERE state <> 'done'", "0");
    EQ_SQL(c, "SELECT count(*) FROM ghl.pet WHERE id IS NULL OR _sync_state = 'pending'", "0");
    EQ_SQL(c, "SELECT count(*) FROM ghl.business WHERE name = 'E2E Inc' AND id IS NOT NULL", "1");
    TEST_EQ_INT(counter(&s, R_CREATE), 2);
    TEST_EQ_INT(counter(&s, R_PUT), 2);
    TEST_EQ_INT(counter(&s, R_DELETE), 1);
    cJSON *r = remote(&s, "custom_objects.pet", gone);
    TEST_CHECK_MSG(r == NULL, "record %s deleted remotely", gone);
    cJSON_Delete(r);
    free(gone);
    TEST_EQ_INT(tpull_compare(&s, c, "ghl"), 0);

    /* nothing pending: exit 0 at once, no request */
    long before = counter(&s, R_CREATE) + counter(&s, R_PUT) + counter(&s, R_DELETE);
    TEST_EQ_INT(tpull_run(cfg, push, NULL, 30000), 0);
    TEST_EQ_INT(counter(&s, R_CREATE) + counter(&s, R_PUT) + counter(&s, R_DELETE), before);

    /* a value HighLevel rejects: exit 1, only that change failed, the other one went out */
    TEST_CHECK(tpg_exec(c, "UPDATE ghl.pet SET species = 'unicorn' WHERE name = 'renamed'"));
    TEST_CHECK(tpg_exec(c, "UPDATE ghl.pet SET age = 3 WHERE name LIKE 'E2E%'"));
    TEST_EQ_INT(tpull_run(cfg, push, NULL, 60000), 1);
    EQ_SQL(c, "SELECT count(*) || ' ' || min(last_status) FROM ghlsync.push_errors", "1 422");
    EQ_SQL(c, "SELECT _sync_state FROM ghl.pet WHERE name = 'renamed'", "failed");
    EQ_SQL(c, "SELECT _sync_state FROM ghl.pet WHERE name LIKE 'E2E%'", "done");
    /* the failed change waits for a person: the next push has nothing to do and exits 0 */
    TEST_EQ_INT(tpull_run(cfg, push, NULL, 30000), 0);
    /* the user fixes the row; the fix goes out and the table equals the dump again */
    TEST_CHECK(tpg_exec(c, "UPDATE ghl.pet SET species = 'cat' WHERE name = 'renamed'"));
    TEST_EQ_INT(tpull_run(cfg, push, NULL, 60000), 0);
    EQ_SQL(c, "SELECT count(*) FROM ghlsync.push_errors", "0");
    TEST_EQ_INT(tpull_compare(&s, c, "ghl"), 0);
    PQfinish(c);
    tsim_stop(&s);
}

/* `ghlsync schema apply` installs the triggers; direction = "pull" makes the table read-only. */
static void schema_apply_triggers(void)
{
    tsim s;
    const char *args[] = {"--locations", "1", "--seed-records", "3", "--burst", "0", NULL};
    TEST_REQUIRE(tsim_start(&s, args) == 0);
    char ci[512], cfg[512];
    PGconn *c = tpg_fresh_db("pe2e_schema", ci, sizeof ci);
    TEST_REQUIRE(c != NULL);
    TEST_REQUIRE(
        tpull_config(&s, ci, "[objects.\"business\"]\ndirection = \"pull\"\n\n", cfg, sizeof cfg));
    const char *sa[] = {"schema", "apply", NULL};
    TEST_REQUIRE(tpull_run(cfg, sa, NULL, 30000) == 0);
    TEST_CHECK(tpg_exec(c, "INSERT INTO ghl.pet (name) VALUES ('captured')"));
    char want[200];
    snprintf(want, sizeof want, "insert custom_objects.pet %s", s.loc[0].id);
    EQ_SQL(c, "SELECT op || ' ' || object_key || ' ' || location_id FROM ghlsync.changes", want);
    PGresult *r = PQexec(c, "INSERT INTO ghl.business (name) VALUES ('refused')");
    TEST_CHECK_MSG(PQresultStatus(r) == PGRES_FATAL_ERROR, "write to a pull-only table fails");
    const char *st = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    TEST_CHECK_MSG(st && strcmp(st, "25006") == 0, "sqlstate %s", st ? st : "(none)");
    const char *msg = PQresultErrorMessage(r);
    TEST_CHECK_MSG(strstr(msg, "read-only") || strstr(msg, "read only"), "message: %s", msg);
    PQclear(r);
    PQfinish(c);
    tsim_stop(&s);
}

/* `ghlsync run`: local SQL writes reach HighLevel while remote edits arrive; SIGTERM exits 0;
 * then the table equals the dump. */
static void run_pushes_and_pulls(void)
{
    tsim s;
    const char *args[] = {"--locations", "1", "--seed-records", "30", "--burst", "0", NULL};
    TEST_REQUIRE(tsim_start(&s, args) == 0);
    char ci[512], cfg[512];
    PGconn *c = tpg_fresh_db("pe2e_run", ci, sizeof ci);
    TEST_REQUIRE(c != NULL);
    TEST_REQUIRE(tpull_config(&s, ci,
                              "[pull]\npoll_interval = \"1s\"\noverlap = \"2s\"\n"
                              "full_scan_interval = \"3s\"\n\n",
                              cfg, sizeof cfg));
    const char *a[] = {"run", NULL};
    pid_t p = tpull_spawn(cfg, a, NULL);
    TEST_REQUIRE(p > 0);
    TEST_REQUIRE(tpull_wait_scalar(
        c, "SELECT count(*) FROM ghlsync.pull_state WHERE complete AND object_key <> 'opportunity'",
        "4", 30000));
    char *loc_upd = tpg_scalar(c, "SELECT id FROM ghl.pet ORDER BY id LIMIT 1");
    char *rem_upd = tpg_scalar(c, "SELECT id FROM ghl.pet ORDER BY id LIMIT 1 OFFSET 1");
    char *loc_del =
        tpg_scalar(c, "SELECT id FROM ghl.pet WHERE id IS NOT NULL ORDER BY id DESC LIMIT 1");
    TEST_REQUIRE(loc_upd && rem_upd && loc_del);
    char q[400];
    long t0 = tpull_now_ms();
    snprintf(q, sizeof q, "UPDATE ghl.pet SET name = 'local-edit', age = 5 WHERE id = '%s'",
             loc_upd);
    TEST_CHECK(tpg_exec(c, q));
    TEST_CHECK(tpg_exec(c, "INSERT INTO ghl.pet (name, species) VALUES ('local-new', 'cat')"));
    snprintf(q, sizeof q, "DELETE FROM ghl.pet WHERE id = '%s'", loc_del);
    TEST_CHECK(tpg_exec(c, q));
    /* remote edit of another record, as a web user */
    char path[300];
    snprintf(path, sizeof path, "/_admin/records/custom_objects.pet/%s?locationId=%s", rem_upd,
             s.loc[0].id);
    TEST_EQ_INT(tsim_admin(&s, "PUT", path, "{\"properties\":{\"name\":\"remote-edit\"}}", NULL),
                200);
    TEST_CHECK_MSG(tpull_wait_scalar(
                       c, "SELECT count(*) FROM ghlsync.changes WHERE state <> 'done'", "0", 15000),
                   "outbox drained by run");
    printf("# local changes pushed by run within %ld ms\n", tpull_now_ms() - t0);
    cJSON *r = remote(&s, "custom_objects.pet", loc_upd);
    TEST_CHECK(r && remote_prop(r, "name") && strcmp(remote_prop(r, "name"), "local-edit") == 0);
    cJSON_Delete(r);
    r = remote(&s, "custom_objects.pet", loc_del);
    TEST_CHECK_MSG(r == NULL, "deleted remotely");
    cJSON_Delete(r);
    snprintf(q, sizeof q, "SELECT name FROM ghl.pet WHERE id = '%s'", rem_upd);
    TEST_CHECK_MSG(tpull_wait_scalar(c, q, "remote-edit", 10000), "remote edit pulled");
    EQ_SQL(c, "SELECT count(*) FROM ghl.pet WHERE name = 'local-new' AND id IS NOT NULL", "1");
    /* after a full poll cycle nothing flipped back and the delete was not revived */
    usleep(3500 * 1000);
    snprintf(q, sizeof q, "SELECT name FROM ghl.pet WHERE id = '%s'", loc_upd);
    EQ_SQL(c, q, "local-edit");
    snprintf(q, sizeof q, "SELECT count(*) FROM ghl.pet WHERE id = '%s' AND _deleted_at IS NULL",
             loc_del);
    EQ_SQL(c, q, "0");
    long t1 = tpull_now_ms();
    kill(p, SIGTERM);
    TEST_EQ_INT(tpull_wait(p, 6000), 0);
    printf("# stopped in %ld ms\n", tpull_now_ms() - t1);
    TEST_EQ_INT(tpull_compare(&s, c, "ghl"), 0);
    free(loc_upd);
    free(rem_upd);
    free(loc_del);
    PQfinish(c);
    tsim_stop(&s);
}

int main(void)
{
    if (!ready()) {
        test_skip("push_e2e", "needs tests/run.sh (PostgreSQL, GHLSYNC_BIN, HLSIM_BIN)");
        return test_done();
    }
    TEST_RUN(backfill_sql_push);
    TEST_RUN(schema_apply_triggers);
    TEST_RUN(run_pushes_and_pulls);
    return test_done();
}
