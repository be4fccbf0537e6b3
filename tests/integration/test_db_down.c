/* test_db_down.c - the database cannot be reached at start: `backfill` and `push` say so and exit
 * 3 (CLI_EXIT_UNAVAILABLE) without doing anything; `run` waits for it (one db.unavailable log
 * line for the whole outage, not one per attempt), starts syncing when it answers, and a signal
 * during the wait stops it cleanly. "Cannot be reached" is played by a database that does not
 * exist yet (the server refuses the connection, as when it is starting up); it is then
 * created. */
#include "test.h"
#include "tpg.h"
#include "tpull.h"
#include "tsim.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *b = calloc(1, 1 << 20);
    size_t n = b ? fread(b, 1, (1 << 20) - 1, f) : 0;
    if (b)
        b[n] = 0;
    fclose(f);
    return b;
}

static int count(const char *path, const char *what)
{
    char *t = slurp(path);
    int n = 0;
    for (const char *p = t; p && (p = strstr(p, what)); p += strlen(what))
        n++;
    free(t);
    return n;
}

static tsim sim;

static void one_shot_commands_exit_3(void)
{
    char ci[200], cfg[512], logb[600], logp[600];
    snprintf(ci, sizeof ci, "dbname=ghlsync_absent_%d", (int)getpid());
    TEST_REQUIRE(tpull_config(&sim, ci, "", cfg, sizeof cfg));
    snprintf(logb, sizeof logb, "%s.backfill.log", cfg);
    snprintf(logp, sizeof logp, "%s.push.log", cfg);
    const char *b[] = {"backfill", NULL};
    TEST_EQ_INT(tpull_run(cfg, b, logb, 20000), 3);
    const char *p[] = {"push", NULL};
    TEST_EQ_INT(tpull_run(cfg, p, logp, 20000), 3);
    char *tb = slurp(logb), *tp = slurp(logp);
    TEST_CHECK_MSG(tb && strstr(tb, "cannot connect to the database"), "backfill says why: %s",
                   tb ? tb : "(nothing)");
    TEST_CHECK_MSG(tp && strstr(tp, "cannot connect to the database") &&
                       strstr(tp, "nothing was pushed"),
                   "push says why: %s", tp ? tp : "(nothing)");
    free(tb);
    free(tp);
}

static void run_waits_for_the_database(void)
{
    char ci[200], cfg[512], logp[600], dbname[64];
    snprintf(dbname, sizeof dbname, "ghlsync_late_%d", (int)getpid());
    snprintf(ci, sizeof ci, "dbname=%s", dbname);
    TEST_REQUIRE(tpull_config(&sim, ci, "[pull]\npoll_interval = \"1s\"\n", cfg, sizeof cfg));
    snprintf(logp, sizeof logp, "%s.log", cfg);
    const char *a[] = {"run", NULL};
    pid_t pid = tpull_spawn(cfg, a, logp);
    TEST_REQUIRE(pid > 0);
    /* attempts at 0, 1, 3, 7 s: wait for the third, so that "once per outage" is seen */
    long t0 = tpull_now_ms();
    while (count(logp, "db.unavailable") == 0 && tpull_now_ms() - t0 < 10000)
        usleep(100 * 1000);
    TEST_CHECK_MSG(count(logp, "db.unavailable") == 1, "the outage is logged");
    usleep(3500 * 1000);
    TEST_CHECK_MSG(kill(pid, 0) == 0, "run is still up, waiting");
    TEST_EQ_INT(count(logp, "db.unavailable"), 1);

    /* the database appears: run connects, migrates and syncs */
    PGconn *admin = PQconnectdb("dbname=postgres");
    TEST_REQUIRE(PQstatus(admin) == CONNECTION_OK);
    char sql[200];
    snprintf(sql, sizeof sql, "CREATE DATABASE %s TEMPLATE template0", dbname);
    TEST_REQUIRE(tpg_exec(admin, sql));
    PGconn *c = PQconnectdb(ci);
    TEST_REQUIRE(PQstatus(c) == CONNECTION_OK);
    TEST_CHECK_MSG(tpull_wait_scalar(c,
                                     "SELECT count(*) > 0 FROM pg_tables WHERE schemaname = "
                                     "'ghlsync' AND tablename = 'pull_state'",
                                     "t", 30000),
                   "run went on once the database answered");
    TEST_CHECK(tpull_wait_scalar(c,
                                 "SELECT count(*) FROM ghlsync.pull_state WHERE complete AND "
                                 "object_key NOT IN ('contact', 'opportunity')",
                                 "3", 30000));
    TEST_CHECK_MSG(count(logp, "db.available") == 1, "the end of the outage is logged");
    kill(pid, SIGTERM);
    TEST_EQ_INT(tpull_wait(pid, 8000), 0);
    PQfinish(c);

    /* a signal while waiting: a clean stop */
    char ci2[200], cfg2[512];
    snprintf(ci2, sizeof ci2, "dbname=ghlsync_never_%d", (int)getpid());
    TEST_REQUIRE(tpull_config(&sim, ci2, "", cfg2, sizeof cfg2));
    pid = tpull_spawn(cfg2, a, logp);
    TEST_REQUIRE(pid > 0);
    t0 = tpull_now_ms();
    while (count(logp, "db.unavailable") < 2 && tpull_now_ms() - t0 < 10000)
        usleep(100 * 1000);
    kill(pid, SIGTERM);
    TEST_EQ_INT(tpull_wait(pid, 5000), 0);

    snprintf(sql, sizeof sql, "DROP DATABASE %s WITH (FORCE)", dbname);
    tpg_exec(admin, sql);
    PQfinish(admin);
}

int main(void)
{
    if (!tpg_available() || !getenv("GHLSYNC_BIN") || !getenv("HLSIM_BIN")) {
        test_skip("db_down", "needs the private PostgreSQL, GHLSYNC_BIN and HLSIM_BIN");
        return test_done();
    }
    signal(SIGPIPE, SIG_IGN);
    const char *args[] = {"--locations", "1", "--seed-records", "5", "--burst", "0", NULL};
    if (tsim_start(&sim, args) != 0) {
        test_skip("db_down", "simulator not available");
        return test_done();
    }
    TEST_RUN(one_shot_commands_exit_3);
    TEST_RUN(run_waits_for_the_database);
    tsim_stop(&sim);
    return test_done();
}
