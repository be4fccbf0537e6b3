/* test_errors.c - `ghlsync errors` on the real binary: list, show, retry, ignore of changes that
 * really failed against the simulator (a rejected value, a create parked after a reset). */
#include "test.h"
#include "tpg.h"
#include "tpush.h"
#include "tsim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static tsim sim;
static char cfg_path[256];

static int run(const char *args, char *out, size_t len)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "GST_TOKEN=x '%s' -c '%s' %s 2>&1", getenv("GHLSYNC_BIN"), cfg_path,
             args);
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    size_t n = fread(out, 1, len - 1, p);
    out[n] = 0;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_list_show_retry_ignore(void)
{
    tpush_db d;
    TEST_REQUIRE(tpush_setup_sim(&d, "errors_cli", &sim, 0, "custom_objects.pet", CFG_DIR_BOTH) ==
                 0);
    snprintf(cfg_path, sizeof cfg_path, "%s/ghlsync-errors-%d.toml", test_tmpdir(), (int)getpid());
    FILE *f = fopen(cfg_path, "w");
    TEST_REQUIRE(f);
    fprintf(f, "[database]\nurl = \"%s\"\n[[locations]]\nid = \"%s\"\ntoken_env = \"GST_TOKEN\"\n",
            d.conninfo, sim.loc[0].id);
    fclose(f);
    char out[8192];
    TEST_EQ_INT(run("errors", out, sizeof out), 0);
    TEST_CHECK_MSG(strstr(out, "no failed or parked changes"), "%s", out);

    tpush_eng g;
    TEST_REQUIRE(tpush_eng_open(&g, &sim, 0, &d, CFG_REMOTE_WINS, NULL, true) == 0);
    TEST_CHECK(tsim_admin(&sim, "POST", "/_admin/faults",
                          "{\"kind\":\"reset_after\",\"method\":\"POST\",\"path\":\"/records\","
                          "\"count\":1}",
                          NULL) == 201);
    TEST_CHECK(tpg_exec(d.conn, "INSERT INTO ghl.pet (name) VALUES ('parked')"));
    TEST_REQUIRE(tpush_eng_run(&g, 20000) == 0);
    TEST_CHECK(tpg_exec(d.conn, "INSERT INTO ghl.pet (name, species) VALUES ('bad', 'unicorn')"));
    TEST_REQUIRE(tpush_eng_run(&g, 20000) == 0);

    TEST_EQ_INT(run("errors list", out, sizeof out), 0);
    TEST_CHECK_MSG(strstr(out, "unknown") && strstr(out, "failed") && strstr(out, "422") &&
                       strstr(out, "unicorn") && strstr(out, "2 changes"),
                   "%s", out);
    char *bad = tpg_scalar(d.conn, "SELECT id FROM ghlsync.push_errors WHERE state = 'failed'");
    char *unk = tpg_scalar(d.conn, "SELECT id FROM ghlsync.push_errors WHERE state = 'unknown'");
    TEST_REQUIRE(bad && unk);
    char args[128];
    snprintf(args, sizeof args, "errors show %s", bad);
    TEST_EQ_INT(run(args, out, sizeof out), 0);
    TEST_CHECK_MSG(strstr(out, "species: \"unicorn\" is not an option key") &&
                       strstr(out, "{name,species}"),
                   "%s", out);
    snprintf(args, sizeof args, "errors show %s", unk);
    TEST_EQ_INT(run(args, out, sizeof out), 0);
    TEST_CHECK_MSG(strstr(out, "errors retry") && strstr(out, "external_id_field"), "%s", out);
    TEST_EQ_INT(run("errors show 999999", out, sizeof out), 2);
    TEST_EQ_INT(run("errors retry abc", out, sizeof out), 2);

    /* the operator found no record for the parked create: ignore it; fix the bad value as the
     * engine would (no new change), then retry */
    snprintf(args, sizeof args, "errors ignore %s", unk);
    TEST_EQ_INT(run(args, out, sizeof out), 0);
    TEST_CHECK(tpg_exec(d.conn, "SET ghlsync.origin = 'engine'; UPDATE ghl.pet SET species = "
                                "'dog' WHERE name = 'bad'; RESET ghlsync.origin"));
    snprintf(args, sizeof args, "errors retry %s", bad);
    TEST_EQ_INT(run(args, out, sizeof out), 0);
    TEST_CHECK_MSG(strstr(out, "queued 1 change"), "%s", out);
    TEST_EQ_INT(run(args, out, sizeof out), 2); /* not failed any more */
    TEST_REQUIRE(tpush_eng_run(&g, 20000) == 0);
    char *st = tpg_scalar(d.conn, "SELECT string_agg(name || ':' || _sync_state, ',' ORDER BY "
                                  "name) FROM ghl.pet");
    TEST_EQ_STR(st, "bad:done,parked:ignored");
    free(st);
    TEST_EQ_INT(run("errors", out, sizeof out), 0);
    TEST_CHECK_MSG(strstr(out, "no failed or parked changes"), "%s", out);
    TEST_EQ_INT(run("errors retry --all", out, sizeof out), 0);
    free(bad);
    free(unk);
    unlink(cfg_path);
    tpush_eng_close(&g);
    tpush_close(&d);
}

int main(void)
{
    if (!tpg_available() || !getenv("GHLSYNC_BIN")) {
        test_skip("errors tests", "no PostgreSQL or binary (run through tests/run.sh)");
        return test_done();
    }
    const char *args[] = {"--locations", "1", "--seed-records", "0", "--burst", "0", NULL};
    if (tsim_start(&sim, args) != 0) {
        test_skip("errors tests", "simulator not available");
        return test_done();
    }
    TEST_RUN(test_list_show_retry_ignore);
    tsim_stop(&sim);
    return test_done();
}
