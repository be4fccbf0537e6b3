/* test_push_outcome.c - creates whose outcome is unknown (reset after the write) never become
 * duplicates: adopted through external_id_field, or parked as 'unknown' without one; and the
 * three conflict policies when a record changed on both sides. */
#include "test.h"
#include "tpg.h"
#include "tpush.h"
#include "tsim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static tsim sim;
static const char *const sim_args[] = {"--locations", "1", "--seed-records", "0", "--burst",
                                       "0",           NULL};

static char *sq(tpush_db *d, const char *sql)
{
    return tpg_scalar(d->conn, sql);
}

#define EQ_SQL(d, sql, want)                                                                       \
    do {                                                                                           \
        char *v_ = sq(d, sql);                                                                     \
        TEST_CHECK_MSG(v_ && !strcmp(v_, want), "%s\n#   got %s, want %s", sql,                    \
                       v_ ? v_ : "(null)", want);                                                  \
        free(v_);                                                                                  \
    } while (0)

static cJSON *records(void)
{
    char path[256], *body = NULL;
    snprintf(path, sizeof path, "/_admin/state?locationId=%s", sim.loc[0].id);
    tsim_admin(&sim, "GET", path, NULL, &body);
    cJSON *st = cJSON_Parse(body);
    free(body);
    cJSON *o, *out = NULL;
    cJSON_ArrayForEach(
        o,
        cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(st, "locations"), 0), "objects"))
    {
        const char *k =
            cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "object"), "key"));
        if (k && !strcmp(k, "custom_objects.pet"))
            out = cJSON_DetachItemFromObject(o, "records");
    }
    cJSON_Delete(st);
    return out;
}

static const char *prop(const cJSON *rec, const char *k)
{
    return cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(rec, "properties"), k));
}

static bool add_ext_field(void)
{
    char path[256];
    snprintf(path, sizeof path, "/_admin/fields?locationId=%s", sim.loc[0].id);
    long st = tsim_admin(&sim, "POST", path,
                         "{\"objectKey\":\"custom_objects.pet\",\"key\":\"ext_id\","
                         "\"dataType\":\"TEXT\",\"name\":\"ghlsync id\"}",
                         NULL);
    return st == 201;
}

static bool reset_after_next_create(void)
{
    return tsim_admin(&sim, "POST", "/_admin/faults",
                      "{\"kind\":\"reset_after\",\"method\":\"POST\",\"path\":\"/records\","
                      "\"count\":1}",
                      NULL) == 201;
}

static void test_unknown_create_adopted_with_external_id(void)
{
    TEST_REQUIRE(add_ext_field());
    tpush_db d;
    TEST_REQUIRE(tpush_setup_sim(&d, "push_adopt", &sim, 0, "custom_objects.pet", CFG_DIR_BOTH) ==
                 0);
    tpush_eng g;
    TEST_REQUIRE(tpush_eng_open(&g, &sim, 0, &d, CFG_REMOTE_WINS, "ext_id", true) == 0);
    TEST_REQUIRE(reset_after_next_create());
    TEST_CHECK(tpg_exec(d.conn, "INSERT INTO ghl.pet (name, age) VALUES ('Adopted', 4)"));
    TEST_REQUIRE(tpush_eng_run(&g, 20000) == 0);
    push_stats st;
    push_get_stats(g.push, &st);
    TEST_EQ_INT(st.adopted, 1);
    cJSON *recs = records();
    TEST_EQ_INT(cJSON_GetArraySize(recs), 1);
    const cJSON *r = cJSON_GetArrayItem(recs, 0);
    TEST_EQ_STR(prop(r, "ext_id"), "1");
    TEST_EQ_STR(prop(r, "name"), "Adopted");
    char *id = sq(&d, "SELECT id FROM ghl.pet");
    TEST_EQ_STR(id, cJSON_GetStringValue(cJSON_GetObjectItem(r, "id")));
    free(id);
    EQ_SQL(&d, "SELECT ext_id || ' ' || _sync_state FROM ghl.pet", "1 done");
    EQ_SQL(&d, "SELECT string_agg(state, ',') FROM ghlsync.changes", "done");
    cJSON_Delete(recs);

    /* a create interrupted with an update queued behind it: one record, the update follows */
    TEST_REQUIRE(reset_after_next_create());
    TEST_CHECK(tpg_exec(d.conn, "INSERT INTO ghl.pet (name) VALUES ('Second')"));
    TEST_CHECK(tpg_exec(d.conn, "UPDATE ghl.pet SET age = 9 WHERE name = 'Second'"));
    TEST_REQUIRE(tpush_eng_run(&g, 20000) == 0);
    recs = records();
    TEST_EQ_INT(cJSON_GetArraySize(recs), 2);
    EQ_SQL(&d, "SELECT count(*) FROM ghl.pet WHERE id IS NOT NULL AND _sync_state = 'done'", "2");
    cJSON_Delete(recs);
    tpush_eng_close(&g);
    tpush_close(&d);
}

static void test_unknown_create_parked_without_external_id(void)
{
    tpush_db d;
    TEST_REQUIRE(tpush_setup_sim(&d, "push_park", &sim, 0, "custom_objects.pet", CFG_DIR_BOTH) ==
                 0);
    tpush_eng g;
    TEST_REQUIRE(tpush_eng_open(&g, &sim, 0, &d, CFG_REMOTE_WINS, NULL, true) == 0);
    TEST_REQUIRE(reset_after_next_create());
    TEST_CHECK(tpg_exec(d.conn, "INSERT INTO ghl.pet (name) VALUES ('Parked'), ('Fine')"));
    TEST_REQUIRE(tpush_eng_run(&g, 20000) == 0);
    cJSON *recs = records();
    TEST_EQ_INT(cJSON_GetArraySize(recs), 2); /* created once each, never twice */
    cJSON_Delete(recs);
    /* the two creates run in parallel: the reset hits whichever POST came first */
    EQ_SQL(&d,
           "SELECT string_agg(_sync_state || ':' || (id IS NULL), ',' ORDER BY _sync_state) "
           "FROM ghl.pet",
           "done:false,unknown:true");
    EQ_SQL(&d, "SELECT state FROM ghlsync.push_errors", "unknown");
    char *why = sq(&d, "SELECT last_error FROM ghlsync.push_errors");
    TEST_CHECK_MSG(why && strstr(why, "external_id_field") && strstr(why, "errors retry"),
                   "parked with an explanation: %s", why ? why : "(null)");
    free(why);
    /* parked means parked: later edits to that row wait, nothing is re-POSTed */
    TEST_CHECK(tpg_exec(d.conn, "UPDATE ghl.pet SET age = 1 WHERE _sync_state = 'unknown'"));
    TEST_REQUIRE(tpush_eng_run(&g, 20000) == 0);
    recs = records();
    TEST_EQ_INT(cJSON_GetArraySize(recs), 2);
    cJSON_Delete(recs);
    tpush_eng_close(&g);
    tpush_close(&d);
}

/* Local edit, remote edit by another user, then pull's view of the row (updated_at moves,
 * protected columns stay): the push must detect the conflict on `name` only. */
static void conflict_case(enum cfg_conflict policy, bool local_later, const char *want_name,
                          const char *want_resolution)
{
    tpush_db d;
    char tag[32];
    snprintf(tag, sizeof tag, "push_conflict%d%d", (int)policy, local_later);
    TEST_REQUIRE(tpush_setup_sim(&d, tag, &sim, 0, "custom_objects.pet", CFG_DIR_BOTH) == 0);
    tpush_eng g;
    TEST_REQUIRE(tpush_eng_open(&g, &sim, 0, &d, policy, NULL, true) == 0);
    TEST_CHECK(tpg_exec(d.conn, "INSERT INTO ghl.pet (name, age) VALUES ('orig', 1)"));
    TEST_REQUIRE(tpush_eng_run(&g, 20000) == 0);
    char *id = sq(&d, "SELECT id FROM ghl.pet");
    TEST_REQUIRE(id);
    char path[256], body[256];
    snprintf(path, sizeof path, "/_admin/records/custom_objects.pet/%s?locationId=%s", id,
             sim.loc[0].id);
    snprintf(body, sizeof body, "{\"properties\":{\"name\":\"remote\"}}");
    if (!local_later)
        TEST_CHECK(tpg_exec(d.conn, "UPDATE ghl.pet SET name = 'local', age = 2"));
    struct timespec ts = {0, 30 * 1000 * 1000};
    nanosleep(&ts, NULL);
    TEST_CHECK(tsim_admin(&sim, "PUT", path, body, NULL) == 200);
    nanosleep(&ts, NULL);
    if (local_later)
        TEST_CHECK(tpg_exec(d.conn, "UPDATE ghl.pet SET name = 'local', age = 2"));
    cJSON *recs = records();
    const char *upd =
        cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(recs, 0), "updatedAt"));
    char sql[256];
    snprintf(sql, sizeof sql,
             "SET ghlsync.origin = 'engine'; UPDATE ghl.pet SET updated_at = '%s'; RESET "
             "ghlsync.origin",
             upd ? upd : "now");
    TEST_CHECK(tpg_exec(d.conn, sql));
    cJSON_Delete(recs);
    TEST_REQUIRE(tpush_eng_run(&g, 20000) == 0);
    recs = records();
    const cJSON *r = cJSON_GetArrayItem(recs, 0);
    TEST_EQ_STR(prop(r, "name"), want_name);
    TEST_CHECK(cJSON_GetNumberValue(
                   cJSON_GetObjectItem(cJSON_GetObjectItem(r, "properties"), "age")) == 2);
    EQ_SQL(&d, "SELECT name || ' ' || age || ' ' || _sync_state FROM ghl.pet",
           want_name[0] == 'r' ? "remote 2 done" : "local 2 done");
    char want[128];
    snprintf(want, sizeof want, "name \"orig\" \"local\" \"remote\" %s %s",
             policy == CFG_LOCAL_WINS    ? "local_wins"
             : policy == CFG_NEWEST_WINS ? "newest_wins"
                                         : "remote_wins",
             want_resolution);
    EQ_SQL(&d,
           "SELECT string_agg(column_name || ' ' || base_value::text || ' ' || local_value::text "
           "|| ' ' || remote_value::text || ' ' || policy || ' ' || resolution, ';') FROM "
           "ghlsync.conflicts",
           want);
    cJSON_Delete(recs);
    free(id);
    tpush_eng_close(&g);
    tpush_close(&d);
}

static void test_conflict_remote_wins(void)
{
    conflict_case(CFG_REMOTE_WINS, false, "remote", "remote_kept");
}

static void test_conflict_local_wins(void)
{
    conflict_case(CFG_LOCAL_WINS, false, "local", "local_pushed");
}

static void test_conflict_newest_wins_remote_newer(void)
{
    conflict_case(CFG_NEWEST_WINS, false, "remote", "remote_kept");
}

static void test_conflict_newest_wins_local_newer(void)
{
    conflict_case(CFG_NEWEST_WINS, true, "local", "local_pushed");
}

int main(void)
{
    if (!tpg_available()) {
        test_skip("push outcome tests", "no PostgreSQL (run through tests/run.sh)");
        return test_done();
    }
    struct {
        const char *name;
        test_fn fn;
    } cases[] = {
        {"test_unknown_create_adopted_with_external_id",
         test_unknown_create_adopted_with_external_id},
        {"test_unknown_create_parked_without_external_id",
         test_unknown_create_parked_without_external_id},
        {"test_conflict_remote_wins", test_conflict_remote_wins},
        {"test_conflict_local_wins", test_conflict_local_wins},
        {"test_conflict_newest_wins_remote_newer", test_conflict_newest_wins_remote_newer},
        {"test_conflict_newest_wins_local_newer", test_conflict_newest_wins_local_newer},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        if (tsim_start(&sim, sim_args) != 0) {
            test_skip(cases[i].name, "simulator not available");
            continue;
        }
        test_run(cases[i].name, cases[i].fn);
        tsim_stop(&sim);
    }
    return test_done();
}
