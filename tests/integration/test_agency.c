/* test_agency.c - correct with many locations (issue 16), with the real binary ($GHLSYNC_BIN),
 * the simulator and the private PostgreSQL:
 *   - a field only one location has is captured and pushed, whichever location's model
 *     installed the triggers last;
 *   - `ghlsync push` over 200 locations;
 *   - two engine roles (members of the owner of ghlsync) pushing at once never share a claim,
 *     although neither can see the other's sessions in pg_stat_activity. */
#include "test.h"
#include "tpg.h"
#include "tpull.h"
#include "tschema.h"
#include "tsim.h"

#include <cjson/cJSON.h>
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

#define R_PUT "PUT /objects/{schemaKey}/records/{id}"

/* A record's property as HighLevel holds it (public API GET as location `loc`), malloc'd. */
static char *remote_prop(const tsim *s, int loc, const char *id, const char *key)
{
    char path[300], *body = NULL;
    snprintf(path, sizeof path, "/objects/custom_objects.pet/records/%s", id);
    long st = tsim_api(s, loc, "GET", path, NULL, &body);
    cJSON *j = st == 200 ? cJSON_Parse(body) : NULL;
    free(body);
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "record"),
                                         "properties"),
        key);
    char *v = cJSON_IsString(p) ? strdup(p->valuestring) : NULL;
    cJSON_Delete(j);
    return v;
}

/* Location 0 alone gets a pet field "microchip"; the triggers are installed for location 0,
 * then for location 1 (config order), whose model lacks it. An edit of that column in a row of
 * location 0 is still captured and pushed. */
static void field_of_one_location(void)
{
    tsim s;
    const char *args[] = {"--locations", "2", "--seed-records", "3", "--burst", "0", NULL};
    TEST_REQUIRE(tsim_start(&s, args) == 0);
    schema_object *o = tschema_fetch(&s, 0, "custom_objects.pet");
    TEST_REQUIRE(o != NULL && o->n_fields > 0);
    char body[1024];
    snprintf(body, sizeof body,
             "{\"locationId\":\"%s\",\"name\":\"Microchip id\",\"dataType\":\"TEXT\","
             "\"fieldKey\":\"custom_objects.pet.microchip\",\"objectKey\":\"custom_objects.pet\","
             "\"parentId\":\"%s\",\"showInForms\":true}",
             s.loc[0].id,
             cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o->fields[0].raw, "parentId")));
    schema_object_free(o);
    long st;
    cJSON_Delete(tschema_call(&s, 0, "POST", "/custom-fields/", body, &st));
    TEST_EQ_INT(st, 201);

    char ci[512], cfg[512];
    PGconn *c = tpg_fresh_db("agency_field", ci, sizeof ci);
    TEST_REQUIRE(c != NULL);
    TEST_REQUIRE(tpull_config(&s, ci, NULL, cfg, sizeof cfg));
    const char *bf[] = {"backfill", NULL};
    TEST_REQUIRE(tpull_run(cfg, bf, NULL, 60000) == 0);
    EQ_SQL(c, "SELECT count(*) FROM ghl.pet", "6");
    char q[600];
    snprintf(q, sizeof q, "SELECT id FROM ghl.pet WHERE location_id = '%s' ORDER BY id LIMIT 1",
             s.loc[0].id);
    char *id = tpg_scalar(c, q);
    TEST_REQUIRE(id != NULL);
    snprintf(q, sizeof q, "UPDATE ghl.pet SET microchip = 'chip-0042' WHERE id = '%s'", id);
    TEST_CHECK(tpg_exec(c, q));
    EQ_SQL(c, "SELECT string_agg(changed_columns::text, ';') FROM ghlsync.changes", "{microchip}");
    /* the other location's model re-applies the triggers: still captured */
    TEST_REQUIRE(tpull_run(cfg, (const char *[]){"schema", "apply", NULL}, NULL, 60000) == 0);
    snprintf(q, sizeof q, "UPDATE ghl.pet SET microchip = 'chip-0043' WHERE id = '%s'", id);
    TEST_CHECK(tpg_exec(c, q));
    EQ_SQL(c, "SELECT count(*) FROM ghlsync.changes WHERE 'microchip' = ANY(changed_columns)", "2");

    const char *push[] = {"push", NULL};
    TEST_EQ_INT(tpull_run(cfg, push, NULL, 60000), 0);
    EQ_SQL(c, "SELECT count(*) FROM ghlsync.changes WHERE state <> 'done'", "0");
    TEST_CHECK(counter(&s, R_PUT) >= 1);
    char *v = remote_prop(&s, 0, id, "microchip");
    TEST_CHECK_MSG(v && strcmp(v, "chip-0043") == 0, "remote microchip = %s", v ? v : "(none)");
    free(v);
    free(id);
    PQfinish(c);
    tsim_stop(&s);
}

#define R_CREATE "POST /objects/{schemaKey}/records"

/* `ghlsync push` over 200 locations: one new pet per location, each created once, in its own
 * location. */
static void push_many_locations(void)
{
    tsim s;
    const char *args[] = {"--locations", "200", "--seed-records", "0", "--burst", "0", NULL};
    TEST_REQUIRE(tsim_start(&s, args) == 0);
    TEST_REQUIRE(s.n_loc == 200);
    char ci[512], cfg[512];
    PGconn *c = tpg_fresh_db("agency_many", ci, sizeof ci);
    TEST_REQUIRE(c != NULL);
    TEST_REQUIRE(tpull_config(&s, ci, NULL, cfg, sizeof cfg));
    long t0 = tpull_now_ms();
    TEST_REQUIRE(tpull_run(cfg, (const char *[]){"schema", "apply", NULL}, NULL, 120000) == 0);
    printf("# schema apply over 200 locations: %ld ms\n", tpull_now_ms() - t0);
    char q[300];
    for (int i = 0; i < s.n_loc; i++) {
        snprintf(q, sizeof q, "INSERT INTO ghl.pet (location_id, name) VALUES ('%s', 'pet %d')",
                 s.loc[i].id, i);
        TEST_CHECK(tpg_exec(c, q));
    }
    EQ_SQL(c, "SELECT count(DISTINCT location_id) FROM ghlsync.changes WHERE state = 'pending'",
           "200");
    t0 = tpull_now_ms();
    TEST_EQ_INT(tpull_run(cfg, (const char *[]){"push", NULL}, NULL, 180000), 0);
    printf("# push over 200 locations: %ld ms\n", tpull_now_ms() - t0);
    EQ_SQL(c, "SELECT count(*) FROM ghlsync.changes WHERE state <> 'done'", "0");
    EQ_SQL(c, "SELECT count(*) FROM ghl.pet WHERE id IS NOT NULL AND _sync_state = 'done'", "200");
    TEST_EQ_INT(counter(&s, R_CREATE), 200);
    /* each record is in its own location (the simulator refuses another location's token) */
    snprintf(q, sizeof q, "SELECT id FROM ghl.pet WHERE location_id = '%s'", s.loc[199].id);
    char *id = tpg_scalar(c, q);
    TEST_REQUIRE(id != NULL);
    char *name = remote_prop(&s, 199, id, "name");
    TEST_CHECK_MSG(name && strcmp(name, "pet 199") == 0, "name %s", name ? name : "(none)");
    free(name);
    free(id);
    PQfinish(c);
    tsim_stop(&s);
}

/* Polls until `sql` gives a number > 0 or timeout_ms. */
static bool wait_positive(PGconn *c, const char *sql, int timeout_ms)
{
    for (long end = tpull_now_ms() + timeout_ms; tpull_now_ms() < end; usleep(20 * 1000)) {
        char *v = tpg_scalar(c, sql);
        long n = v ? strtol(v, NULL, 10) : 0;
        free(v);
        if (n > 0)
            return true;
    }
    return false;
}

/* Two engine roles (members of the owner of ghlsync, neither a member of the other: neither
 * sees the other's sessions in pg_stat_activity) run `ghlsync push` at once over the same
 * changes while every PUT is slow: each change is sent exactly once. */
static void two_roles_never_share_a_claim(void)
{
    tsim s;
    const char *args[] = {"--locations", "1", "--seed-records", "6", "--burst", "0", NULL};
    TEST_REQUIRE(tsim_start(&s, args) == 0);
    char ci[512], cfg[512], cfg_a[512], cfg_b[512], ci_a[600], ci_b[600];
    PGconn *c = tpg_fresh_db("agency_roles", ci, sizeof ci);
    TEST_REQUIRE(c != NULL);
    TEST_REQUIRE(tpull_config(&s, ci, NULL, cfg, sizeof cfg));
    TEST_REQUIRE(tpull_run(cfg, (const char *[]){"backfill", NULL}, NULL, 60000) == 0);
    char ra[64], rb[64], q[800];
    snprintf(ra, sizeof ra, "ghlsync_test_eng_a_%d", (int)getpid());
    snprintf(rb, sizeof rb, "ghlsync_test_eng_b_%d", (int)getpid());
    snprintf(q, sizeof q,
             "CREATE ROLE %s LOGIN NOSUPERUSER; CREATE ROLE %s LOGIN NOSUPERUSER; "
             "GRANT %s TO %s, %s",
             ra, rb, PQuser(c), ra, rb);
    TEST_REQUIRE(tpg_exec(c, q));
    snprintf(ci_a, sizeof ci_a, "%s user=%s", ci, ra);
    snprintf(ci_b, sizeof ci_b, "%s user=%s", ci, rb);
    bool configs = tpull_config(&s, ci_a, NULL, cfg_a, sizeof cfg_a) &&
                   tpull_config(&s, ci_b, NULL, cfg_b, sizeof cfg_b);
    TEST_CHECK(configs);
    TEST_CHECK(tpg_exec(c, "UPDATE ghl.pet SET name = 'both-' || _local_id"));
    EQ_SQL(c, "SELECT count(*) FROM ghlsync.changes WHERE state = 'pending'", "6");
    TEST_EQ_INT(tsim_admin(&s, "POST", "/_admin/faults",
                           "{\"kind\":\"latency\",\"method\":\"PUT\",\"path\":\"/records/\","
                           "\"ms\":1500}",
                           NULL),
                201);
    pid_t a = configs ? tpull_spawn(cfg_a, (const char *[]){"push", NULL}, NULL) : -1;
    TEST_CHECK(a > 0);
    /* B starts while A holds claims whose PUTs are in flight */
    TEST_CHECK(wait_positive(c, "SELECT count(*) FROM ghlsync.changes WHERE claim_pid IS NOT NULL",
                             30000));
    pid_t b = a > 0 ? tpull_spawn(cfg_b, (const char *[]){"push", NULL}, NULL) : -1;
    TEST_CHECK(b > 0);
    if (a > 0)
        TEST_EQ_INT(tpull_wait(a, 60000), 0);
    if (b > 0)
        TEST_EQ_INT(tpull_wait(b, 60000), 0);
    EQ_SQL(c, "SELECT count(*) FROM ghlsync.changes WHERE state <> 'done'", "0");
    TEST_EQ_INT(counter(&s, R_PUT), 6);
    EQ_SQL(c, "SELECT count(*) FROM ghl.pet WHERE name LIKE 'both-%' AND _sync_state = 'done'",
           "6");
    TEST_EQ_INT(tpull_compare(&s, c, "ghl"), 0);
    snprintf(q, sizeof q, "DROP OWNED BY %s, %s; DROP ROLE %s, %s", ra, rb, ra, rb);
    TEST_CHECK(tpg_exec(c, q));
    PQfinish(c);
    tsim_stop(&s);
}

/* A role that is not the engine holds the advisory lock of a dead claimer's key: the claim
 * is still dead, and `ghlsync push` sends the change. */
static void squatted_claim_key(void)
{
    tsim s;
    const char *args[] = {"--locations", "1", "--seed-records", "2", "--burst", "0", NULL};
    TEST_REQUIRE(tsim_start(&s, args) == 0);
    char ci[512], cfg[512], q[600];
    PGconn *c = tpg_fresh_db("agency_squat", ci, sizeof ci);
    TEST_REQUIRE(c != NULL);
    TEST_REQUIRE(tpull_config(&s, ci, NULL, cfg, sizeof cfg));
    TEST_REQUIRE(tpull_run(cfg, (const char *[]){"backfill", NULL}, NULL, 60000) == 0);
    char r[64];
    snprintf(r, sizeof r, "ghlsync_test_squat_%d", (int)getpid());
    snprintf(q, sizeof q, "CREATE ROLE %s LOGIN NOSUPERUSER", r);
    TEST_REQUIRE(tpg_exec(c, q));
    TEST_CHECK(tpg_exec(c, "UPDATE ghl.pet SET name = 'squat' WHERE _local_id = (SELECT "
                           "min(_local_id) FROM ghl.pet)"));
    /* as a claimer that died would leave it */
    TEST_CHECK(tpg_exec(c, "UPDATE ghlsync.changes SET claim_pid = 1, claim_key = 777777"));
    snprintf(q, sizeof q, "%s user=%s", ci, r);
    PGconn *p = PQconnectdb(q);
    TEST_CHECK(PQstatus(p) == CONNECTION_OK);
    TEST_CHECK(tpg_exec(p, "SELECT pg_advisory_lock(1734896755, 777777)"));
    EQ_SQL(c, "SELECT ghlsync.claim_held(777777)", "f");
    TEST_EQ_INT(tpull_run(cfg, (const char *[]){"push", NULL}, NULL, 20000), 0);
    EQ_SQL(c, "SELECT count(*) FROM ghlsync.changes WHERE state <> 'done'", "0");
    TEST_EQ_INT(counter(&s, R_PUT), 1);
    PQfinish(p);
    snprintf(q, sizeof q, "DROP ROLE %s", r);
    TEST_CHECK(tpg_exec(c, q));
    PQfinish(c);
    tsim_stop(&s);
}

int main(void)
{
    if (!ready()) {
        test_skip("agency", "needs tests/run.sh (PostgreSQL, GHLSYNC_BIN, HLSIM_BIN)");
        return test_done();
    }
    TEST_RUN(field_of_one_location);
    TEST_RUN(push_many_locations);
    TEST_RUN(two_roles_never_share_a_claim);
    TEST_RUN(squatted_claim_key);
    return test_done();
}
