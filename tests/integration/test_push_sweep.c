/* test_push_sweep.c - the idle paths of `ghlsync run` at agency scale: the push sweep asks once
 * which locations have due changes and claims only there (push.c), and every location's
 * ghlsync.runtime row goes in one statement per round (runtime.c). A retry whose backoff ends
 * sends no notification, so only the sweep can find it: a change in one location of three that
 * failed once is still sent, once, and every location keeps its runtime row. */
#include "test.h"
#include "tpg.h"
#include "tpull.h"
#include "tsim.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void due_retry_found_by_the_sweep(void)
{
    tsim s;
    const char *args[] = {"--locations", "3", "--seed-records", "2", "--burst", "100000", NULL};
    TEST_REQUIRE(tsim_start(&s, args) == 0);
    char ci[512], cfg[512];
    PGconn *c = tpg_fresh_db("pushsweep", ci, sizeof ci);
    TEST_REQUIRE(c != NULL);
    TEST_REQUIRE(tpull_config(&s, ci, "[push]\nbackoff_base = \"300ms\"\nbackoff_max = \"1s\"\n",
                              cfg, sizeof cfg));
    setenv("GHLSYNC_PUSH_SWEEP_MS", "300", 1);
    const char *a[] = {"run", NULL};
    pid_t p = tpull_spawn(cfg, a, NULL);
    unsetenv("GHLSYNC_PUSH_SWEEP_MS");
    TEST_REQUIRE(p > 0);
    TEST_REQUIRE(tpull_wait_scalar(c,
                                   "SELECT (count(DISTINCT location_id) = 3 AND bool_and(complete))"
                                   "::text FROM ghlsync.pull_state",
                                   "true", 60000));

    /* the updates of the third location's records fail five times (every attempt of the
     * client's first call), so the change is 'retrying' with a backoff */
    char rule[300];
    snprintf(rule, sizeof rule,
             "{\"kind\":\"error\",\"status\":503,\"method\":\"PUT\",\"path\":\"/records/\","
             "\"locationId\":\"%s\",\"count\":5}",
             s.loc[2].id);
    TEST_EQ_INT(tsim_admin(&s, "POST", "/_admin/faults", rule, NULL), 201);
    char sql[600];
    snprintf(sql, sizeof sql,
             "UPDATE ghl.pet SET name = 'found by the sweep' WHERE _local_id = (SELECT "
             "min(_local_id) FROM ghl.pet WHERE location_id = '%s')",
             s.loc[2].id);
    TEST_REQUIRE(tpg_exec(c, sql));
    const char *q = "SELECT string_agg(state || ' ' || (attempts > 1)::text, ',') FROM "
                    "ghlsync.changes";
    bool sent = tpull_wait_scalar(c, q, "done true", 30000);
    char *got = tpg_scalar(c, q);
    TEST_CHECK_MSG(sent, "the change is sent after a failed attempt: %s", got ? got : "(null)");
    free(got);
    TEST_EQ_INT(tpull_compare(&s, c, "ghl"), 0);

    /* one row per location, written by this process, with the requests it made */
    snprintf(sql, sizeof sql,
             "SELECT count(*) FILTER (WHERE holder LIKE '%%:%d' AND requests_total > 0) FROM "
             "ghlsync.runtime",
             (int)p);
    TEST_CHECK(tpull_wait_scalar(c, sql, "3", 10000));

    kill(p, SIGTERM);
    TEST_EQ_INT(tpull_wait(p, 8000), 0);
    /* nothing was sent twice: one change, done */
    char *n = tpg_scalar(c, "SELECT count(*) FROM ghlsync.changes WHERE state = 'done'");
    TEST_EQ_STR(n ? n : "", "1");
    free(n);
    PQfinish(c);
    tsim_stop(&s);
}

int main(void)
{
    TEST_RUN(due_retry_found_by_the_sweep);
    return test_done();
}
