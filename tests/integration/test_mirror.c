/* Integration tests of `ghlsync run` (the real binary, simulator, private PostgreSQL): remote
 * creates, updates and deletes made through the admin interface arrive within a poll interval;
 * the fallbacks when the server rejects or ignores filters and sort (mode detected and stored);
 * SIGTERM exits 0 quickly with cursors saved. */
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

static const char fast_pull[] = "[pull]\npoll_interval = \"1s\"\noverlap = \"2s\"\n"
                                "full_scan_interval = \"1s\"\n";

/* Create one, update one, delete one; all visible in PostgreSQL within a few poll intervals. */
static void edits(const tsim *s, PGconn *c, const char *tag)
{
    const char *loc = s->loc[0].id;
    char path[400], body[300], *resp = NULL;
    snprintf(path, sizeof path, "/_admin/records/custom_objects.pet?locationId=%s", loc);
    snprintf(body, sizeof body, "{\"properties\":{\"name\":\"%s-new\"}}", tag);
    TEST_EQ_INT(tsim_admin(s, "POST", path, body, &resp), 201);
    free(resp);
    char *upd = tpg_scalar(c, "SELECT id FROM ghl.pet WHERE _deleted_at IS NULL ORDER BY id "
                              "LIMIT 1");
    char *del = tpg_scalar(c, "SELECT id FROM ghl.pet WHERE _deleted_at IS NULL ORDER BY id "
                              "DESC LIMIT 1");
    if (!upd || !del) {
        TEST_CHECK(upd && del);
        free(upd);
        free(del);
        return;
    }
    snprintf(path, sizeof path, "/_admin/records/custom_objects.pet/%s?locationId=%s", upd, loc);
    snprintf(body, sizeof body, "{\"properties\":{\"name\":\"%s-upd\"}}", tag);
    TEST_EQ_INT(tsim_admin(s, "PUT", path, body, NULL), 200);
    snprintf(path, sizeof path, "/_admin/records/custom_objects.pet/%s?locationId=%s", del, loc);
    TEST_EQ_INT(tsim_admin(s, "DELETE", path, NULL, NULL), 200);
    char q[400];
    snprintf(q, sizeof q, "SELECT count(*) FROM ghl.pet WHERE name = '%s-new'", tag);
    TEST_CHECK_MSG(tpull_wait_scalar(c, q, "1", 6000), "create arrived");
    snprintf(q, sizeof q, "SELECT name FROM ghl.pet WHERE id = '%s'", upd);
    char want[64];
    snprintf(want, sizeof want, "%s-upd", tag);
    TEST_CHECK_MSG(tpull_wait_scalar(c, q, want, 6000), "update arrived");
    snprintf(q, sizeof q, "SELECT (_deleted_at IS NOT NULL)::text FROM ghl.pet WHERE id = '%s'",
             del);
    TEST_CHECK_MSG(tpull_wait_scalar(c, q, "true", 8000), "delete arrived");
    free(upd);
    free(del);
}

static void stop_and_check(pid_t p)
{
    long t0 = tpull_now_ms();
    kill(p, SIGTERM);
    int rc = tpull_wait(p, 5000);
    TEST_EQ_INT(rc, 0);
    printf("# stopped in %ld ms\n", tpull_now_ms() - t0);
}

static void mirror_with_filters(void)
{
    tsim s;
    const char *args[] = {"--locations", "1", "--seed-records", "40", "--burst", "0", NULL};
    TEST_REQUIRE(tsim_start(&s, args) == 0);
    char ci[512], cfg[512];
    PGconn *c = tpg_fresh_db("mirror", ci, sizeof ci);
    TEST_REQUIRE(c != NULL);
    TEST_REQUIRE(tpull_config(&s, ci, fast_pull, cfg, sizeof cfg));
    const char *a[] = {"run", NULL};
    pid_t p = tpull_spawn(cfg, a, NULL);
    TEST_REQUIRE(p > 0);
    TEST_CHECK(tpull_wait_scalar(
        c, "SELECT count(*) FROM ghlsync.pull_state WHERE complete AND object_key <> 'opportunity'",
        "4", 20000));
    edits(&s, c, "f");
    TEST_CHECK(tpull_wait_scalar(
        c, "SELECT mode FROM ghlsync.pull_state WHERE object_key = 'custom_objects.pet'",
        "incremental", 3000));
    stop_and_check(p);
    TEST_EQ_INT(tpull_compare(&s, c, "ghl"), 0);
    PQfinish(c);
    tsim_stop(&s);
}

static void fallback(const char *filters, bool sort, const char *want_mode, const char *tag)
{
    tsim s;
    const char *args[] = {"--locations", "1", "--seed-records", "40", "--burst", "0", NULL};
    TEST_REQUIRE(tsim_start(&s, args) == 0);
    char body[200];
    snprintf(body, sizeof body, "{\"filters\":\"%s\",\"sort\":%s}", filters,
             sort ? "true" : "false");
    TEST_EQ_INT(tsim_admin(&s, "PUT", "/_admin/switches", body, NULL), 200);
    char ci[512], cfg[512];
    PGconn *c = tpg_fresh_db(tag, ci, sizeof ci);
    TEST_REQUIRE(c != NULL);
    TEST_REQUIRE(tpull_config(&s, ci, fast_pull, cfg, sizeof cfg));
    const char *a[] = {"run", NULL};
    pid_t p = tpull_spawn(cfg, a, NULL);
    TEST_REQUIRE(p > 0);
    TEST_CHECK(tpull_wait_scalar(
        c, "SELECT count(*) FROM ghlsync.pull_state WHERE complete AND object_key <> 'opportunity'",
        "4", 20000));
    TEST_CHECK_MSG(
        tpull_wait_scalar(
            c, "SELECT mode FROM ghlsync.pull_state WHERE object_key = 'custom_objects.pet'",
            want_mode, 8000),
        "mode %s detected", want_mode);
    edits(&s, c, tag);
    stop_and_check(p);
    TEST_EQ_INT(tpull_compare(&s, c, "ghl"), 0);
    PQfinish(c);
    tsim_stop(&s);
}

static void filters_rejected_sorted_scan(void)
{
    fallback("reject", true, "sorted_scan", "fb_rej");
}

static void filters_ignored_sorted_scan(void)
{
    fallback("ignore", true, "sorted_scan", "fb_ign");
}

static void no_filters_no_sort_full_diff(void)
{
    fallback("ignore", false, "full_diff", "fb_diff");
}

/* SIGTERM in the middle of a backfill under `run`: exit 0 quickly, and the saved cursor is
 * where a later backfill resumes (it completes equal to the dump). */
static void sigterm_mid_backfill(void)
{
    tsim s;
    const char *args[] = {
        "--locations", "1", "--seed-records", "600", "--burst", "0", "--latency-ms", "20", NULL};
    TEST_REQUIRE(tsim_start(&s, args) == 0);
    char ci[512], cfg[512];
    PGconn *c = tpg_fresh_db("sigterm", ci, sizeof ci);
    TEST_REQUIRE(c != NULL);
    TEST_REQUIRE(tpull_config(&s, ci, "[pull]\npage_size = 20\n", cfg, sizeof cfg));
    const char *a[] = {"run", NULL};
    pid_t p = tpull_spawn(cfg, a, NULL);
    TEST_REQUIRE(p > 0);
    TEST_CHECK(tpull_wait_scalar(c, "SELECT (sum(fetched) > 0)::text FROM ghlsync.pull_state",
                                 "true", 20000));
    stop_and_check(p);
    char *f = tpg_scalar(c, "SELECT sum(fetched) FROM ghlsync.pull_state WHERE NOT complete");
    char *rows = tpg_scalar(c, "SELECT count(*) FROM ghl.pet");
    printf("# saved at stop: %s records in pull_state (incomplete), %s pet rows\n", f ? f : "-",
           rows ? rows : "-");
    free(f);
    free(rows);
    const char *b[] = {"backfill", NULL};
    TEST_EQ_INT(tpull_run(cfg, b, NULL, 50000), 0);
    TEST_EQ_INT(tpull_compare(&s, c, "ghl"), 0);
    PQfinish(c);
    tsim_stop(&s);
}

int main(void)
{
    if (!ready()) {
        test_skip("mirror", "needs tests/run.sh (PostgreSQL, GHLSYNC_BIN, HLSIM_BIN)");
        return test_done();
    }
    TEST_RUN(mirror_with_filters);
    TEST_RUN(filters_rejected_sorted_scan);
    TEST_RUN(filters_ignored_sorted_scan);
    TEST_RUN(no_filters_no_sort_full_diff);
    TEST_RUN(sigterm_mid_backfill);
    return test_done();
}
