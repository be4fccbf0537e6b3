/* The real ghlsync behind a real pgbouncer (Debian's package, tests/support/pgbouncer.sh, pool_mode
 * = transaction, in front of the private server of tests/run.sh): [database] url = the pooler,
 * pooler = "transaction", session_url = the server itself. `ghlsync backfill` copies everything
 * through the pooler; local edits made with SQL (an update and an insert) are pushed by `ghlsync
 * run`, which also pulls a remote edit; the engine's own writes (pages through the pooler, where
 * the origin marker is per transaction) never echo into ghlsync.changes, the pooler served the
 * engine's transactions (SHOW STATS), and at the end the tables equal the simulator. */
#include "test.h"
#include "tpg.h"
#include "tpull.h"
#include "tsim.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PGB_PORT "6439"

static bool ready(void)
{
    return tpg_available() && getenv("GHLSYNC_BIN") && getenv("HLSIM_BIN") &&
           getenv("GHLSYNC_TOP") &&
           (system("command -v pgbouncer >/dev/null || test -x /usr/sbin/pgbouncer") == 0);
}

static bool pgb(const char *what, const char *dir)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "bash '%s/tests/support/pgbouncer.sh' %s '%s' %s",
             getenv("GHLSYNC_TOP"), what, dir, strcmp(what, "start") == 0 ? PGB_PORT : "");
    return system(cmd) == 0;
}

/* Transactions pgbouncer served for database `db` (SHOW STATS on its admin console), -1 on
 * error. */
static long pooled_xacts(const char *dir, const char *db)
{
    char ci[700];
    snprintf(ci, sizeof ci, "host=%s port=" PGB_PORT " dbname=pgbouncer user=postgres", dir);
    PGconn *a = PQconnectdb(ci);
    long n = -1;
    if (PQstatus(a) == CONNECTION_OK) {
        PGresult *r = PQexec(a, "SHOW STATS");
        int col = PQfnumber(r, "total_xact_count");
        for (int i = 0; col >= 0 && i < PQntuples(r); i++)
            if (strcmp(PQgetvalue(r, i, 0), db) == 0)
                n = atol(PQgetvalue(r, i, col));
        PQclear(r);
    } else {
        printf("# pgbouncer admin: %s", PQerrorMessage(a));
    }
    PQfinish(a);
    return n;
}

static char dir[600]; /* stopped by main whatever happened */

static void sync_through_pgbouncer(void)
{
    snprintf(dir, sizeof dir, "%s/pgb-XXXXXX", test_tmpdir());
    TEST_REQUIRE(mkdtemp(dir) != NULL);
    TEST_REQUIRE(pgb("start", dir));
    tsim s;
    const char *args[] = {"--locations", "1", "--seed-records", "40", "--burst", "100000", NULL};
    TEST_REQUIRE(tsim_start(&s, args) == 0);
    char ci[512], cfg[512], pooled[1024], dbx[1400];
    PGconn *c = tpg_fresh_db("pgbouncer", ci, sizeof ci);
    TEST_REQUIRE(c != NULL);
    char *db = tpg_scalar(c, "SELECT current_database()");
    TEST_REQUIRE(db != NULL);
    snprintf(pooled, sizeof pooled, "host=%s port=" PGB_PORT " dbname=%s user=postgres", dir, db);
    snprintf(dbx, sizeof dbx, "pooler = \"transaction\"\nsession_url = \"%s\"\n", ci);
    TEST_REQUIRE(tpull_config_db(
        &s, pooled, dbx, "[pull]\npoll_interval = \"1s\"\noverlap = \"2s\"\n\n", cfg, sizeof cfg));
    char log[600];
    snprintf(log, sizeof log, "%s.log", cfg);

    const char *bf[] = {"backfill", NULL};
    TEST_EQ_INT(tpull_run(cfg, bf, log, 60000), 0);
    TEST_EQ_INT(tpull_compare(&s, c, "ghl"), 0);
    char *n = tpg_scalar(c, "SELECT count(*) FROM ghlsync.changes");
    TEST_EQ_STR(n ? n : "", "0"); /* the backfill's writes are the engine's: no echo */
    free(n);
    long x1 = pooled_xacts(dir, db);
    printf("# figure: pgbouncer served %ld transactions of the backfill\n", x1);
    TEST_CHECK(x1 > 3);

    /* local edits, made directly on the server */
    TEST_CHECK(tpg_exec(c, "UPDATE ghl.pet SET name = 'pooled-update' WHERE _local_id = (SELECT "
                           "min(_local_id) FROM ghl.pet)"));
    TEST_CHECK(tpg_exec(c, "INSERT INTO ghl.pet (name) VALUES ('pooled-insert')"));
    n = tpg_scalar(c, "SELECT count(*) FROM ghlsync.changes");
    TEST_EQ_STR(n ? n : "", "2");
    free(n);

    const char *run[] = {"run", NULL};
    pid_t p = tpull_spawn(cfg, run, log);
    TEST_REQUIRE(p > 0);
    char path[300];
    snprintf(path, sizeof path, "/_admin/records/custom_objects.pet?locationId=%s", s.loc[0].id);
    TEST_EQ_INT(tsim_admin(&s, "POST", path, "{\"properties\":{\"name\":\"pooled-remote\"}}", NULL),
                201);
    TEST_CHECK(tpull_wait_scalar(c, "SELECT count(*) FROM ghlsync.changes WHERE state = 'done'",
                                 "2", 20000));
    TEST_CHECK(tpull_wait_scalar(
        c, "SELECT count(*) FROM ghl.pet WHERE name LIKE 'pooled-%' AND id IS NOT NULL", "3",
        20000));
    /* a few polls more: pulls of the pushed records, write-backs, all without echo */
    sleep(3);
    kill(p, SIGTERM);
    TEST_EQ_INT(tpull_wait(p, 8000), 0);
    n = tpg_scalar(c, "SELECT count(*) || ' ' || count(*) FILTER (WHERE state = 'done') FROM "
                      "ghlsync.changes");
    TEST_EQ_STR(n ? n : "", "2 2");
    free(n);
    TEST_EQ_INT(tpull_compare(&s, c, "ghl"), 0);
    long x2 = pooled_xacts(dir, db);
    printf("# figure: pgbouncer served %ld transactions in all\n", x2);
    TEST_CHECK(x2 > x1);
    if (x2 <= x1 || x1 <= 3) {
        char cmd[800];
        snprintf(cmd, sizeof cmd, "tail -20 '%s/pgbouncer.log' | sed 's/^/# pgbouncer: /'", dir);
        TEST_CHECK(system(cmd) == 0);
    }
    unlink(log);
    free(db);
    PQfinish(c);
    tsim_stop(&s);
    TEST_CHECK(pgb("stop", dir));
    dir[0] = '\0';
}

int main(void)
{
    if (!ready()) {
        test_skip("pgbouncer", "needs PostgreSQL, pgbouncer, GHLSYNC_BIN and HLSIM_BIN");
        return test_done();
    }
    TEST_RUN(sync_through_pgbouncer);
    if (dir[0])
        pgb("stop", dir);
    return test_done();
}
