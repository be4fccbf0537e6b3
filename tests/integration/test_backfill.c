/* Integration tests of `ghlsync backfill` (the real binary against the simulator and a private
 * PostgreSQL): several objects and locations equal the simulator's dump value for value; short
 * pages and a missing total are not the end; kill -9 at random points then resume; a re-run
 * finds remote deletes; --object / --location. */
#include "test.h"
#include "tpg.h"
#include "tpull.h"
#include "tsim.h"

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

static void backfill_equals_dump(void)
{
    tsim s;
    const char *args[] = {"--locations", "2", "--seed-records", "230", "--burst", "0", NULL};
    TEST_REQUIRE(tsim_start(&s, args) == 0);
    char ci[512], cfg[512];
    PGconn *c = tpg_fresh_db("bf_eq", ci, sizeof ci);
    TEST_REQUIRE(c != NULL);
    TEST_REQUIRE(tpull_config(&s, ci, NULL, cfg, sizeof cfg));
    const char *a[] = {"backfill", NULL};
    TEST_EQ_INT(tpull_run(cfg, a, NULL, 50000), 0);
    TEST_EQ_INT(tpull_compare(&s, c, "ghl"), 0);
    char *n = scalar(c, "SELECT count(*) FROM ghlsync.pull_state WHERE complete");
    TEST_EQ_STR(n, "10"); /* pet, vaccination, business, contact, opportunity x 2 locations */
    free(n);
    /* Running it again changes nothing and still ends complete and equal. */
    TEST_EQ_INT(tpull_run(cfg, a, NULL, 50000), 0);
    TEST_EQ_INT(tpull_compare(&s, c, "ghl"), 0);
    n = scalar(c, "SELECT count(*) - count(DISTINCT (location_id, id)) FROM ghl.pet");
    TEST_EQ_STR(n, "0");
    free(n);
    PQfinish(c);
    tsim_stop(&s);
}

/* Pages capped silently below page_size and no total: a short page must not end the scan. */
static void capped_pages_no_total(void)
{
    tsim s;
    const char *args[] = {"--locations", "1", "--seed-records", "150", "--burst", "0",
                          "--page-cap",  "7", "--omit-total",   NULL};
    TEST_REQUIRE(tsim_start(&s, args) == 0);
    char ci[512], cfg[512];
    PGconn *c = tpg_fresh_db("bf_cap", ci, sizeof ci);
    TEST_REQUIRE(c != NULL);
    TEST_REQUIRE(tpull_config(&s, ci, "[pull]\npage_size = 50\n", cfg, sizeof cfg));
    const char *a[] = {"backfill", "--object", "custom_objects.pet", NULL};
    TEST_EQ_INT(tpull_run(cfg, a, NULL, 50000), 0);
    char *n = scalar(c, "SELECT count(*) FROM ghl.pet WHERE _deleted_at IS NULL");
    TEST_EQ_STR(n, "150");
    free(n);
    n = scalar(c, "SELECT count(*) FROM ghlsync.pull_state");
    TEST_EQ_STR(n, "1"); /* --object: only pet */
    free(n);
    PQfinish(c);
    tsim_stop(&s);
}

/* kill -9 at random points, resume, and the result is exactly the remote state. */
static void kill9_then_resume(void)
{
    tsim s;
    const char *args[] = {
        "--locations", "2", "--seed-records", "400", "--burst", "0", "--latency-ms", "4", NULL};
    TEST_REQUIRE(tsim_start(&s, args) == 0);
    char ci[512], cfg[512];
    PGconn *c = tpg_fresh_db("bf_kill", ci, sizeof ci);
    TEST_REQUIRE(c != NULL);
    TEST_REQUIRE(tpull_config(&s, ci, "[pull]\npage_size = 20\n", cfg, sizeof cfg));
    const char *a[] = {"backfill", NULL};
    srand((unsigned)getpid());
    int killed = 0;
    long long saved = 0;
    for (int round = 0; round < 5; round++) {
        pid_t p = tpull_spawn(cfg, a, "/dev/null");
        TEST_REQUIRE(p > 0);
        /* kill at a random point of the pull itself (start-up under the sanitizers on a loaded
         * machine can take longer than a fixed delay) */
        for (int i = 0; i < 1500; i++) {
            char *t = scalar(c, "SELECT to_regclass('ghl.pet') IS NOT NULL");
            bool up = strcmp(t, "t") == 0;
            free(t);
            if (up)
                break;
            usleep(10000);
        }
        usleep((useconds_t)(rand() % 700000));
        if (kill(p, SIGKILL) == 0)
            killed++;
        tpull_wait(p, 10000);
        /* Several page transactions commit out of order; the saved cursor must never pass an
         * uncommitted page: every record up to it (the scan's order: createdAt, id) is in the
         * table, and there are exactly `fetched` of them. */
        char *bad =
            scalar(c, "SELECT count(*) FROM ghlsync.pull_state ps "
                      "WHERE ps.object_key = 'custom_objects.pet' AND ps.cursor IS NOT NULL "
                      "AND ps.fetched <> (SELECT count(*) FROM ghl.pet t "
                      "WHERE t.location_id = ps.location_id AND t.id IS NOT NULL AND "
                      "((extract(epoch FROM t.created_at) * 1000)::bigint, t.id) <= "
                      "((ps.cursor->>0)::bigint, ps.cursor->>1))");
        TEST_EQ_STR(bad, "0");
        free(bad);
        char *np = scalar(c, "SELECT count(*) FROM ghlsync.pull_state "
                             "WHERE object_key = 'custom_objects.pet' AND cursor IS NOT NULL");
        saved += atoll(np);
        free(np);
    }
    printf("# resume points checked after the kills: %lld\n", saved);
    char *mid = scalar(c, "SELECT coalesce(sum(fetched), 0) FROM ghlsync.pull_state");
    printf("# %d kills; records saved before the last resume: %s\n", killed, mid);
    free(mid);
    TEST_EQ_INT(tpull_run(cfg, a, NULL, 55000), 0);
    TEST_EQ_INT(tpull_compare(&s, c, "ghl"), 0);
    char *n = scalar(c, "SELECT count(*) FROM ghl.pet");
    TEST_EQ_STR(n, "800");
    free(n);
    PQfinish(c);
    tsim_stop(&s);
}

/* A record deleted remotely is marked by the next full scan; one that comes back is undeleted. */
static void rerun_finds_deletes(void)
{
    tsim s;
    const char *args[] = {"--locations", "1", "--seed-records", "60", "--burst", "0", NULL};
    TEST_REQUIRE(tsim_start(&s, args) == 0);
    char ci[512], cfg[512];
    PGconn *c = tpg_fresh_db("bf_del", ci, sizeof ci);
    TEST_REQUIRE(c != NULL);
    TEST_REQUIRE(tpull_config(&s, ci, NULL, cfg, sizeof cfg));
    const char *a[] = {"backfill", "--location", s.loc[0].id, NULL};
    TEST_EQ_INT(tpull_run(cfg, a, NULL, 50000), 0);
    char *id = tpg_scalar(c, "SELECT id FROM ghl.pet ORDER BY id LIMIT 1");
    TEST_REQUIRE(id != NULL);
    char path[300];
    snprintf(path, sizeof path, "/_admin/records/custom_objects.pet/%s?locationId=%s", id,
             s.loc[0].id);
    TEST_EQ_INT(tsim_admin(&s, "DELETE", path, NULL, NULL), 200);
    TEST_EQ_INT(tpull_run(cfg, a, NULL, 50000), 0);
    char q[300];
    snprintf(q, sizeof q, "SELECT _deleted_at IS NOT NULL FROM ghl.pet WHERE id = '%s'", id);
    char *v = scalar(c, q);
    TEST_EQ_STR(v, "t");
    free(v);
    TEST_EQ_INT(tpull_compare(&s, c, "ghl"), 0);
    free(id);
    PQfinish(c);
    tsim_stop(&s);
}

int main(void)
{
    if (!ready()) {
        test_skip("backfill", "needs tests/run.sh (PostgreSQL, GHLSYNC_BIN, HLSIM_BIN)");
        return test_done();
    }
    TEST_RUN(backfill_equals_dump);
    TEST_RUN(capped_pages_no_total);
    TEST_RUN(kill9_then_resume);
    TEST_RUN(rerun_finds_deletes);
    return test_done();
}
