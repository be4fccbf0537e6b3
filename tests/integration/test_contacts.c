/* Integration tests of the Contacts family's pull (the real binary against the simulator and a
 * private PostgreSQL): a backfill equals the simulator's contacts value for value, every custom
 * field type included, through a server that caps pages at 100 silently; names from search
 * answers without firstName/lastName, and the original case kept; kill -9 then resume, equal
 * again; `run` picks up remote creates, updates and deletes through a 2 s search index lag. */
#include "tcontacts.h"
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

static char *scalar(PGconn *c, const char *sql)
{
    char *v = tpg_scalar(c, sql);
    return v ? v : strdup("(null)");
}

static void backfill_equals_contacts(void)
{
    tsim s;
    const char *args[] = {"--locations", "1", "--seed-records", "0",   "--seed-contacts", "650",
                          "--burst",     "0", "--page-cap",     "100", "--search-names",  NULL};
    TEST_REQUIRE(tsim_start(&s, args) == 0);
    char ci[512], cfg[512];
    PGconn *c = tpg_fresh_db("ct_eq", ci, sizeof ci);
    TEST_REQUIRE(c != NULL);
    TEST_REQUIRE(tpull_config(&s, ci, NULL, cfg, sizeof cfg));
    const char *a[] = {"backfill", NULL};
    TEST_EQ_INT(tpull_run(cfg, a, NULL, 50000), 0);
    TEST_EQ_INT(tcontacts_compare(&s, 0, c, true), 0);
    char *n = scalar(c, "SELECT count(*) FROM ghl.contacts");
    TEST_EQ_STR(n, "650");
    free(n);
    /* every custom field type has a typed column, named from its fieldKey */
    n = scalar(c, "SELECT string_agg(column_name || ':' || data_type, ',' ORDER BY column_name) "
                  "FROM information_schema.columns WHERE table_schema = 'ghl' AND table_name = "
                  "'contacts' AND column_name IN ('score', 'interests', 'renewal_date', "
                  "'social', 'budget', 'dnd', 'tags')");
    TEST_EQ_STR(n, "budget:numeric,dnd:boolean,interests:ARRAY,renewal_date:date,"
                   "score:numeric,social:jsonb,tags:ARRAY");
    free(n);
    n = scalar(c, "SELECT complete FROM ghlsync.pull_state WHERE object_key = 'contact'");
    TEST_EQ_STR(n, "t");
    free(n);
    /* a re-run changes nothing */
    TEST_EQ_INT(tpull_run(cfg, a, NULL, 50000), 0);
    TEST_EQ_INT(tcontacts_compare(&s, 0, c, true), 0);
    PQfinish(c);
    tsim_stop(&s);
}

/* Search answers with only firstNameLowerCase: the table gets those; the original case, once
 * known (as the engine's write-back would write it), is kept by later pulls. */
static void names_without_original_case(void)
{
    tsim s;
    const char *args[] = {
        "--locations", "1", "--seed-records", "0", "--seed-contacts", "40", "--burst", "0", NULL};
    TEST_REQUIRE(tsim_start(&s, args) == 0);
    char ci[512], cfg[512];
    PGconn *c = tpg_fresh_db("ct_names", ci, sizeof ci);
    TEST_REQUIRE(c != NULL);
    TEST_REQUIRE(tpull_config(&s, ci, NULL, cfg, sizeof cfg));
    const char *a[] = {"backfill", NULL};
    TEST_EQ_INT(tpull_run(cfg, a, NULL, 50000), 0);
    TEST_EQ_INT(tcontacts_compare(&s, 0, c, false), 0);
    char *id = scalar(c, "SELECT id FROM ghl.contacts WHERE first_name IS NOT NULL ORDER BY id "
                         "LIMIT 1");
    char *js = tcontacts_get(&s, 0, id);
    TEST_REQUIRE(js != NULL);
    cJSON *ct = cJSON_Parse(js);
    const char *first = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ct, "firstName"));
    TEST_REQUIRE(first != NULL);
    char q[600];
    snprintf(q, sizeof q,
             "SET ghlsync.origin = 'engine'; UPDATE ghl.contacts SET first_name = '%s' "
             "WHERE id = '%s'; RESET ghlsync.origin",
             first, id);
    TEST_CHECK(tpg_exec(c, q));
    /* a remote edit makes the record newer: the next scan rewrites the row */
    char path[300];
    snprintf(path, sizeof path, "/_admin/contacts/%s?locationId=%s", id, s.loc[0].id);
    TEST_EQ_INT(tsim_admin(&s, "PUT", path, "{\"city\": \"Lowertown\"}", NULL), 200);
    const char *full[] = {"backfill", "--full", NULL};
    TEST_EQ_INT(tpull_run(cfg, full, NULL, 50000), 0);
    snprintf(q, sizeof q, "SELECT first_name || '/' || city FROM ghl.contacts WHERE id = '%s'", id);
    char *v = scalar(c, q);
    char want[300];
    snprintf(want, sizeof want, "%s/Lowertown", first);
    TEST_EQ_STR(v, want);
    free(v);
    cJSON_Delete(ct);
    free(js);
    free(id);
    PQfinish(c);
    tsim_stop(&s);
}

static void kill9_then_resume(void)
{
    tsim s;
    const char *args[] = {"--locations", "1", "--seed-records", "0", "--seed-contacts", "900",
                          "--burst",     "0", "--latency-ms",   "4", "--search-names",  NULL};
    TEST_REQUIRE(tsim_start(&s, args) == 0);
    char ci[512], cfg[512];
    PGconn *c = tpg_fresh_db("ct_kill", ci, sizeof ci);
    TEST_REQUIRE(c != NULL);
    TEST_REQUIRE(tpull_config(&s, ci, "[pull]\npage_size = 20\n", cfg, sizeof cfg));
    const char *a[] = {"backfill", NULL};
    srand((unsigned)getpid());
    int killed = 0, mid_scan = 0;
    for (int round = 0; round < 3; round++) {
        pid_t p = tpull_spawn(cfg, a, "/dev/null");
        TEST_REQUIRE(p > 0);
        for (int i = 0; i < 1500; i++) {
            char *t = scalar(c, "SELECT to_regclass('ghl.contacts') IS NOT NULL AND "
                                "(SELECT count(*) > 0 FROM ghl.contacts)");
            bool up = strcmp(t, "t") == 0;
            free(t);
            if (up)
                break;
            usleep(10000);
        }
        usleep((useconds_t)(rand() % 300000));
        if (kill(p, SIGKILL) == 0)
            killed++;
        tpull_wait(p, 10000);
        char *done = scalar(c, "SELECT complete FROM ghlsync.pull_state WHERE object_key = "
                               "'contact'");
        mid_scan += strcmp(done, "f") == 0;
        free(done);
    }
    TEST_CHECK(mid_scan > 0); /* at least one kill hit the scan itself */
    char *mid = scalar(c, "SELECT count(*) FROM ghl.contacts");
    printf("# %d kills, %d of them mid-scan; %s contacts saved before the last resume\n", killed,
           mid_scan, mid);
    free(mid);
    TEST_EQ_INT(tpull_run(cfg, a, NULL, 55000), 0);
    TEST_EQ_INT(tcontacts_compare(&s, 0, c, true), 0);
    char *n = scalar(c, "SELECT count(*) FROM ghl.contacts");
    TEST_EQ_STR(n, "900");
    free(n);
    PQfinish(c);
    tsim_stop(&s);
}

/* `run` with a 2 s search index lag and no configured overlap: creates, updates and deletes
 * made remotely reach the table (the family's lag window covers the index). */
static void mirror_through_index_lag(void)
{
    tsim s;
    const char *args[] = {"--locations", "1", "--seed-records", "0",    "--seed-contacts", "30",
                          "--burst",     "0", "--index-lag-ms", "2000", "--search-names",  NULL};
    TEST_REQUIRE(tsim_start(&s, args) == 0);
    char ci[512], cfg[512];
    PGconn *c = tpg_fresh_db("ct_mirror", ci, sizeof ci);
    TEST_REQUIRE(c != NULL);
    TEST_REQUIRE(tpull_config(&s, ci,
                              "[pull]\npoll_interval = \"500ms\"\noverlap = \"0s\"\n"
                              "full_scan_interval = \"3s\"\n",
                              cfg, sizeof cfg));
    const char *a[] = {"run", NULL};
    pid_t p = tpull_spawn(cfg, a, NULL);
    TEST_REQUIRE(p > 0);
    TEST_CHECK(tpull_wait_scalar(
        c, "SELECT complete::text FROM ghlsync.pull_state WHERE object_key = 'contact'", "true",
        30000));
    char path[300], *resp = NULL;
    snprintf(path, sizeof path, "/_admin/contacts?locationId=%s", s.loc[0].id);
    TEST_EQ_INT(tsim_admin(&s, "POST", path,
                           "{\"firstName\": \"Remote\", \"lastName\": \"Made\", \"email\": "
                           "\"remote.made@example.com\", \"tags\": [\"vip\"]}",
                           &resp),
                201);
    free(resp);
    char *upd = scalar(c, "SELECT id FROM ghl.contacts ORDER BY id LIMIT 1");
    char *del = scalar(c, "SELECT id FROM ghl.contacts ORDER BY id DESC LIMIT 1");
    snprintf(path, sizeof path, "/_admin/contacts/%s?locationId=%s", upd, s.loc[0].id);
    TEST_EQ_INT(tsim_admin(&s, "PUT", path, "{\"city\": \"Lagville\"}", NULL), 200);
    snprintf(path, sizeof path, "/_admin/contacts/%s?locationId=%s", del, s.loc[0].id);
    TEST_EQ_INT(tsim_admin(&s, "DELETE", path, NULL, NULL), 200);
    TEST_CHECK(tpull_wait_scalar(
        c, "SELECT count(*)::text FROM ghl.contacts WHERE email = 'remote.made@example.com'", "1",
        30000));
    char q[300];
    snprintf(q, sizeof q, "SELECT city FROM ghl.contacts WHERE id = '%s'", upd);
    TEST_CHECK(tpull_wait_scalar(c, q, "Lagville", 30000));
    snprintf(q, sizeof q,
             "SELECT (_deleted_at IS NOT NULL)::text FROM ghl.contacts WHERE id = '%s'", del);
    TEST_CHECK(tpull_wait_scalar(c, q, "true", 30000));
    TEST_EQ_INT(tcontacts_compare(&s, 0, c, true), 0);
    kill(p, SIGTERM);
    TEST_EQ_INT(tpull_wait(p, 15000), 0);
    free(upd);
    free(del);
    PQfinish(c);
    tsim_stop(&s);
}

/* Contact custom fields evolve as object fields do: a new field is a new typed column named
 * from its fieldKey (suffixed when a standard column has the name), with its label as comment;
 * a deleted one keeps its column, marked deprecated. */
static void custom_fields_evolve(void)
{
    tsim s;
    const char *args[] = {
        "--locations", "1", "--seed-records", "0", "--seed-contacts", "10", "--burst", "0", NULL};
    TEST_REQUIRE(tsim_start(&s, args) == 0);
    char ci[512], cfg[512];
    PGconn *c = tpg_fresh_db("ct_evolve", ci, sizeof ci);
    TEST_REQUIRE(c != NULL);
    TEST_REQUIRE(tpull_config(&s, ci, NULL, cfg, sizeof cfg));
    const char *a[] = {"backfill", NULL};
    TEST_EQ_INT(tpull_run(cfg, a, NULL, 50000), 0);
    char path[300];
    snprintf(path, sizeof path, "/_admin/contact-fields?locationId=%s", s.loc[0].id);
    TEST_EQ_INT(tsim_admin(&s, "POST", path,
                           "{\"key\": \"favourite_color\", \"name\": \"Favourite colour\", "
                           "\"dataType\": \"SINGLE_OPTIONS\", \"options\": [\"red\", \"blue\"]}",
                           NULL),
                201);
    TEST_EQ_INT(tsim_admin(&s, "POST", path,
                           "{\"key\": \"city\", \"name\": \"Custom city\", \"dataType\": "
                           "\"TEXT\"}",
                           NULL),
                201);
    snprintf(path, sizeof path, "/_admin/contact-fields/contact.nickname?locationId=%s",
             s.loc[0].id);
    TEST_EQ_INT(tsim_admin(&s, "DELETE", path, NULL, NULL), 200);
    TEST_EQ_INT(tpull_run(cfg, a, NULL, 50000), 0);
    char *v = scalar(c, "SELECT data_type || ' ' || col_description('ghl.contacts'::regclass, "
                        "ordinal_position::int) FROM information_schema.columns WHERE "
                        "table_schema = 'ghl' AND table_name = 'contacts' AND column_name = "
                        "'favourite_color'");
    TEST_CHECK_MSG(strncmp(v, "text Favourite colour", 21) == 0, "favourite_color: %s", v);
    free(v);
    /* "city" is a standard column: the custom field's column has another name */
    v = scalar(c, "SELECT count(*) FROM information_schema.columns WHERE table_schema = 'ghl' "
                  "AND table_name = 'contacts' AND column_name LIKE 'city%'");
    TEST_EQ_STR(v, "2");
    free(v);
    v = scalar(c, "SELECT col_description('ghl.contacts'::regclass, ordinal_position::int) LIKE "
                  "'DEPRECATED%' FROM information_schema.columns WHERE table_schema = 'ghl' AND "
                  "table_name = 'contacts' AND column_name = 'nickname'");
    TEST_EQ_STR(v, "t");
    free(v);
    TEST_EQ_INT(tcontacts_compare(&s, 0, c, false), 0);
    PQfinish(c);
    tsim_stop(&s);
}

int main(void)
{
    if (!ready()) {
        test_skip("contacts", "needs tests/run.sh (PostgreSQL, GHLSYNC_BIN, HLSIM_BIN)");
        return test_done();
    }
    TEST_RUN(backfill_equals_contacts);
    TEST_RUN(names_without_original_case);
    TEST_RUN(kill9_then_resume);
    TEST_RUN(mirror_through_index_lag);
    TEST_RUN(custom_fields_evolve);
    return test_done();
}
