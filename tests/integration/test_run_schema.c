/* A running `ghlsync run` (the real binary) follows schema changes made in HighLevel without a
 * restart: a field added remotely becomes a column and its values arrive; a field deleted
 * remotely keeps its column (and data), marked deprecated. The schema refresh interval is
 * shortened with GHLSYNC_SCHEMA_REFRESH_MS (default 5 minutes). */
#include "test.h"
#include "tpg.h"
#include "tpull.h"
#include "tsim.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void field_added_and_deleted_while_running(void)
{
    tsim s;
    const char *args[] = {"--locations", "1", "--seed-records", "20", "--burst", "0", NULL};
    TEST_REQUIRE(tsim_start(&s, args) == 0);
    char ci[512], cfg[512];
    PGconn *c = tpg_fresh_db("runschema", ci, sizeof ci);
    if (!c) {
        TEST_CHECK(c != NULL);
        tsim_stop(&s);
        return;
    }
    TEST_REQUIRE(tpull_config(&s, ci, "[pull]\npoll_interval = \"1s\"\noverlap = \"2s\"\n", cfg,
                              sizeof cfg));
    char logp[600];
    snprintf(logp, sizeof logp, "%s.log", cfg);
    setenv("GHLSYNC_SCHEMA_REFRESH_MS", "1000", 1);
    const char *a[] = {"run", NULL};
    pid_t p = tpull_spawn(cfg, a, logp);
    unsetenv("GHLSYNC_SCHEMA_REFRESH_MS");
    TEST_REQUIRE(p > 0);
    TEST_CHECK(
        tpull_wait_scalar(c, "SELECT count(*) FROM ghlsync.pull_state WHERE complete", "4", 30000));

    /* A new TEXT field, then a record that uses it. */
    const char *loc = s.loc[0].id;
    char path[300];
    snprintf(path, sizeof path, "/_admin/fields?locationId=%s", loc);
    TEST_EQ_INT(tsim_admin(&s, "POST", path,
                           "{\"objectKey\":\"custom_objects.pet\",\"key\":\"colour\","
                           "\"name\":\"Coat colour\",\"dataType\":\"TEXT\"}",
                           NULL),
                201);
    TEST_CHECK_MSG(tpull_wait_scalar(c,
                                     "SELECT count(*) FROM information_schema.columns WHERE "
                                     "table_schema = 'ghl' AND table_name = 'pet' AND "
                                     "column_name = 'colour'",
                                     "1", 15000),
                   "column colour added by the running engine");
    snprintf(path, sizeof path, "/_admin/records/custom_objects.pet?locationId=%s", loc);
    TEST_EQ_INT(tsim_admin(&s, "POST", path,
                           "{\"properties\":{\"name\":\"Rusty\",\"colour\":\"ginger\"}}", NULL),
                201);
    TEST_CHECK_MSG(
        tpull_wait_scalar(c, "SELECT colour FROM ghl.pet WHERE name = 'Rusty'", "ginger", 15000),
        "a value of the new field arrived in the new column");

    /* Deleting the field remotely keeps the column and its data, marked deprecated. */
    snprintf(path, sizeof path, "/_admin/fields/custom_objects.pet.colour?locationId=%s", loc);
    TEST_EQ_INT(tsim_admin(&s, "DELETE", path, NULL, NULL), 200);
    TEST_CHECK_MSG(tpull_wait_scalar(c,
                                     "SELECT (col_description('ghl.pet'::regclass, attnum) ILIKE "
                                     "'%deprecated%')::text FROM pg_attribute WHERE attrelid = "
                                     "'ghl.pet'::regclass AND attname = 'colour'",
                                     "true", 15000),
                   "column colour kept and marked deprecated");
    TEST_CHECK(
        tpull_wait_scalar(c, "SELECT colour FROM ghl.pet WHERE name = 'Rusty'", "ginger", 1000));

    kill(p, SIGTERM);
    TEST_EQ_INT(tpull_wait(p, 6000), 0);
    PQfinish(c);
    tsim_stop(&s);
}

int main(void)
{
    if (!tpg_available() || !getenv("GHLSYNC_BIN") || !getenv("HLSIM_BIN")) {
        test_skip("run_schema", "needs the private PostgreSQL, GHLSYNC_BIN and HLSIM_BIN");
        return test_done();
    }
    signal(SIGPIPE, SIG_IGN);
    TEST_RUN(field_added_and_deleted_while_running);
    return test_done();
}
