/* PostgreSQL outages under the real `ghlsync run` ($GHLSYNC_BIN, simulator, the private server of
 * tests/run.sh, stopped and started again with tests/support/pg.sh halt / resume): once with
 * `-m fast`, once with `-m immediate`. During each outage /readyz answers 503 (database
 * unreachable) while /healthz stays 200 (an outage is not a stall); a remote edit made during the
 * outage, and a remote and a local edit made right after it, all arrive within 10 s of the server
 * accepting connections again. The metrics count the reconnects, the outages and their seconds.
 * At the end the tables and the simulator are equal, every local change was pushed once (no echo
 * of the engine's writes, no duplicate record), and the process exits 0 on SIGTERM. */
#include "test.h"
#include "thttp.h"
#include "tpg.h"
#include "tpull.h"
#include "tsim.h"

#include <cJSON.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static bool ready(void)
{
    return tpg_available() && getenv("GHLSYNC_BIN") && getenv("HLSIM_BIN") && getenv("GHLSYNC_TOP");
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (b) {
        size_t r = fread(b, 1, (size_t)n, f);
        b[r] = 0;
    }
    fclose(f);
    return b;
}

static int logged_port(const char *log)
{
    char *t = slurp(log);
    int port = 0;
    const char *ev = t ? strstr(t, "\"metrics.listen\"") : NULL;
    const char *p = ev ? strstr(ev, "\"port\":") : NULL;
    if (p) {
        p += strlen("\"port\":");
        if (*p == '"')
            p++;
        port = atoi(p);
    }
    free(t);
    return port;
}

static int count_in(const char *log, const char *needle)
{
    char *t = slurp(log);
    int n = 0;
    for (const char *p = t; p && (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    free(t);
    return n;
}

/* The engine's warnings and errors, for the test log (what went wrong when a check fails). */
static void print_problems(const char *log)
{
    char *t = slurp(log);
    int n = 0;
    for (char *line = t ? strtok(t, "\n") : NULL; line && n < 60; line = strtok(NULL, "\n"))
        if (strstr(line, "\"level\":\"warn") || strstr(line, "\"level\":\"error")) {
            printf("# log: %.600s\n", line);
            n++;
        }
    free(t);
}

static long get(int port, const char *path, char **body)
{
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    thttp_resp r;
    if (thttp_do_timeout("GET", url, NULL, NULL, 5000, &r) != 0) {
        thttp_resp_free(&r);
        return -1;
    }
    long st = r.status;
    if (body) {
        *body = r.body;
        r.body = NULL;
    }
    thttp_resp_free(&r);
    return st;
}

static double metric(int port, const char *name)
{
    char *m = NULL;
    double v = -1;
    if (get(port, "/metrics", &m) == 200 && m) {
        size_t n = strlen(name);
        for (const char *p = m; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
            if (strncmp(p, name, n) == 0 && p[n] == ' ')
                v = strtod(p + n + 1, NULL);
    }
    free(m);
    return v;
}

static bool pg_ctl(const char *what, const char *mode)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "bash '%s/tests/support/pg.sh' %s '%s' %s", getenv("GHLSYNC_TOP"),
             what, getenv("PGHOST"), mode ? mode : "");
    return system(cmd) == 0;
}

/* Poll /readyz until it answers `want` (body into *why when not NULL). */
static bool wait_readyz(int port, long want, int timeout_ms, char **why)
{
    for (long t0 = tpull_now_ms(); tpull_now_ms() - t0 < timeout_ms; usleep(100 * 1000)) {
        char *b = NULL;
        long st = get(port, "/readyz", &b);
        if (st == want) {
            if (why)
                *why = b;
            else
                free(b);
            return true;
        }
        free(b);
    }
    return false;
}

static PGconn *connect_db(const char *ci)
{
    for (int i = 0; i < 100; i++) {
        PGconn *c = PQconnectdb(ci);
        if (PQstatus(c) == CONNECTION_OK)
            return c;
        PQfinish(c);
        usleep(100 * 1000);
    }
    return NULL;
}

static void outage(const char *mode, tsim *s, const char *ci, PGconn **c, int port)
{
    const char *loc = s->loc[0].id;
    char path[300], body[300], q[400];
    snprintf(path, sizeof path, "/_admin/records/custom_objects.pet?locationId=%s", loc);
    PQfinish(*c);
    *c = NULL;
    TEST_REQUIRE(pg_ctl("halt", mode));
    char *why = NULL;
    TEST_CHECK_MSG(wait_readyz(port, 503, 10000, &why), "/readyz 503 while PostgreSQL is down (%s)",
                   mode);
    TEST_CHECK_MSG(why && strstr(why, "database unreachable"), "readyz says: %s",
                   why ? why : "(nothing)");
    free(why);
    TEST_EQ_INT(get(port, "/healthz", NULL), 200);
    TEST_CHECK(metric(port, "ghlsync_db_up") == 0);
    snprintf(body, sizeof body, "{\"properties\":{\"name\":\"during-%s\"}}", mode);
    TEST_EQ_INT(tsim_admin(s, "POST", path, body, NULL), 201);
    usleep(1500 * 1000); /* a few reconnect attempts fail */

    TEST_REQUIRE(pg_ctl("resume", NULL));
    long back = tpull_now_ms();
    *c = connect_db(ci);
    TEST_REQUIRE(*c != NULL);
    snprintf(body, sizeof body, "{\"properties\":{\"name\":\"after-%s\"}}", mode);
    TEST_EQ_INT(tsim_admin(s, "POST", path, body, NULL), 201);
    snprintf(q, sizeof q,
             "UPDATE ghl.pet SET name = 'local-%s' WHERE _local_id = (SELECT min(_local_id) "
             "FROM ghl.pet WHERE id IS NOT NULL AND name NOT LIKE 'local-%%')",
             mode);
    TEST_CHECK(tpg_exec(*c, q));
    snprintf(q, sizeof q,
             "SELECT count(*) FROM ghl.pet WHERE name IN ('during-%s', 'after-%s') AND id IS NOT "
             "NULL",
             mode, mode);
    long left = 10000 - (tpull_now_ms() - back);
    TEST_CHECK_MSG(tpull_wait_scalar(*c, q, "2", (int)(left > 0 ? left : 1)),
                   "remote edits during and after the %s outage pulled within 10 s", mode);
    left = 10000 - (tpull_now_ms() - back);
    TEST_CHECK_MSG(tpull_wait_scalar(*c,
                                     "SELECT count(*) FROM ghlsync.changes WHERE state <> 'done'",
                                     "0", (int)(left > 0 ? left : 1)),
                   "the local edit after the %s outage pushed within 10 s", mode);
    printf("# figure: %s restart: edits synced %.1f s after PostgreSQL accepted connections\n",
           mode, (double)(tpull_now_ms() - back) / 1000.0);
    TEST_CHECK_MSG(wait_readyz(port, 200, 10000, NULL), "/readyz 200 again after the %s outage",
                   mode);
    TEST_CHECK(metric(port, "ghlsync_db_up") == 1);
}

static void run_survives_restarts(void)
{
    tsim s;
    const char *args[] = {"--locations", "1", "--seed-records", "30", "--burst", "100000", NULL};
    TEST_REQUIRE(tsim_start(&s, args) == 0);
    char ci[512], cfg[512];
    PGconn *c = tpg_fresh_db("dboutage", ci, sizeof ci);
    TEST_REQUIRE(c != NULL);
    /* The harness runs the server with synchronous_commit = off (speed), and an immediate stop
     * then loses the last commits it acknowledged: not an outage any engine survives unharmed.
     * This database gets durable commits, as a production server has. */
    TEST_REQUIRE(tpg_exec(c, "DO $$BEGIN EXECUTE format('ALTER DATABASE %I SET "
                             "synchronous_commit = on', current_database()); END$$"));
    TEST_REQUIRE(tpull_config(&s, ci,
                              "[pull]\npoll_interval = \"1s\"\noverlap = \"2s\"\n"
                              "[push]\nbackoff_base = \"200ms\"\nbackoff_max = \"1s\"\n"
                              "[metrics]\nlisten = \"127.0.0.1:0\"\n\n",
                              cfg, sizeof cfg));
    char log[600];
    snprintf(log, sizeof log, "%s.log", cfg);
    setenv("GHLSYNC_PUSH_SWEEP_MS", "1000", 1);
    const char *a[] = {"--log-format", "json", "run", NULL};
    pid_t p = tpull_spawn(cfg, a, log);
    unsetenv("GHLSYNC_PUSH_SWEEP_MS");
    TEST_REQUIRE(p > 0);
    int port = 0;
    for (long t0 = tpull_now_ms(); !port && tpull_now_ms() - t0 < 15000; usleep(100 * 1000))
        port = logged_port(log);
    TEST_REQUIRE(port > 0);
    TEST_CHECK_MSG(wait_readyz(port, 200, 30000, NULL), "/readyz 200 after the backfill");
    TEST_EQ_INT((int)metric(port, "ghlsync_db_reconnects_total"), 0);
    TEST_CHECK(tpull_wait_scalar(c, "SELECT count(*) FROM ghl.pet", "30", 5000));

    outage("fast", &s, ci, &c, port);
    double r1 = metric(port, "ghlsync_db_reconnects_total");
    outage("immediate", &s, ci, &c, port);
    double r2 = metric(port, "ghlsync_db_reconnects_total");
    double outages = metric(port, "ghlsync_db_outages_total");
    double secs = metric(port, "ghlsync_db_outage_seconds_total");
    printf("# figure: reconnects %.0f after the first restart, %.0f after the second; %.0f "
           "outages, %.1f s\n",
           r1, r2, outages, secs);
    TEST_CHECK(r1 >= 3); /* pool, meta, runtime, push, listen: each its own session */
    TEST_CHECK(r2 >= 2 * r1 - 1 && r2 > r1);
    TEST_CHECK(outages >= 2);
    TEST_CHECK(secs >= 3); /* each outage lasted at least its 1.5 s sleep */
    /* one log line when an outage starts and one when it ends, not one per attempt */
    int down = count_in(log, "\"db.unreachable\""), up = count_in(log, "\"db.reachable\"");
    TEST_CHECK_MSG(down == up && down >= 2 && down <= 4, "outage lines: %d down, %d up", down, up);

    TEST_REQUIRE(c != NULL);
    /* nothing pushed twice, no echo: exactly the two local edits, each done */
    char *n = tpg_scalar(c, "SELECT count(*) || ' ' || count(*) FILTER (WHERE state = 'done') "
                            "FROM ghlsync.changes");
    TEST_EQ_STR(n ? n : "", "2 2");
    free(n);
    /* seed + 2 remote creates per outage, each once on both sides */
    n = tpg_scalar(c, "SELECT count(*) FROM ghl.pet WHERE _deleted_at IS NULL");
    TEST_EQ_STR(n ? n : "", "34");
    free(n);
    int diffs = tpull_compare(&s, c, "ghl");
    TEST_EQ_INT(diffs, 0);
    if (diffs) {
        PGresult *r = PQexec(c, "SELECT _local_id, id, name, _deleted_at, _sync_state FROM ghl.pet "
                                "WHERE _deleted_at IS NOT NULL OR id IS NULL");
        for (int i = 0; i < PQntuples(r); i++)
            printf("# row: %s %s %s %s %s\n", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1),
                   PQgetvalue(r, i, 2), PQgetvalue(r, i, 3), PQgetvalue(r, i, 4));
        PQclear(r);
        r = PQexec(c, "SELECT id, name, updated_at FROM ghl.pet ORDER BY updated_at DESC LIMIT 8");
        for (int i = 0; i < PQntuples(r); i++)
            printf("# pet: %s %s %s\n", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1),
                   PQgetvalue(r, i, 2));
        PQclear(r);
    }
    TEST_EQ_INT(get(port, "/healthz", NULL), 200);

    kill(p, SIGTERM);
    TEST_EQ_INT(tpull_wait(p, 8000), 0);
    print_problems(log);
    unlink(log);
    PQfinish(c);
    tsim_stop(&s);
}

/* A statement that does not finish on a live connection (here: a page write waiting on a user's
 * lock, with lock_timeout longer than stall_timeout) makes /healthz answer 503; once the lock is
 * gone it is 200 again and the record arrives. */
static void stalled_write_fails_healthz(void)
{
    tsim s;
    const char *args[] = {"--locations", "1", "--seed-records", "5", "--burst", "100000", NULL};
    TEST_REQUIRE(tsim_start(&s, args) == 0);
    char ci[512], cfg[512];
    PGconn *c = tpg_fresh_db("dbstall", ci, sizeof ci);
    TEST_REQUIRE(c != NULL);
    TEST_REQUIRE(tpull_config_db(&s, ci, "lock_timeout = \"60s\"\n",
                                 "[pull]\npoll_interval = \"1s\"\noverlap = \"2s\"\n"
                                 "[metrics]\nlisten = \"127.0.0.1:0\"\nstall_timeout = \"2s\"\n\n",
                                 cfg, sizeof cfg));
    char log[600];
    snprintf(log, sizeof log, "%s.log", cfg);
    const char *a[] = {"--log-format", "json", "run", NULL};
    pid_t p = tpull_spawn(cfg, a, log);
    TEST_REQUIRE(p > 0);
    int port = 0;
    for (long t0 = tpull_now_ms(); !port && tpull_now_ms() - t0 < 15000; usleep(100 * 1000))
        port = logged_port(log);
    TEST_REQUIRE(port > 0);
    TEST_CHECK(wait_readyz(port, 200, 30000, NULL));
    TEST_EQ_INT(get(port, "/healthz", NULL), 200);
    TEST_CHECK(tpg_exec(c, "BEGIN"));
    TEST_CHECK(tpg_exec(c, "LOCK TABLE ghl.pet IN ACCESS EXCLUSIVE MODE"));
    char path[300];
    snprintf(path, sizeof path, "/_admin/records/custom_objects.pet?locationId=%s", s.loc[0].id);
    TEST_EQ_INT(tsim_admin(&s, "POST", path, "{\"properties\":{\"name\":\"blocked\"}}", NULL), 201);
    long st = 0;
    char *body = NULL;
    for (long t0 = tpull_now_ms(); st != 503 && tpull_now_ms() - t0 < 15000; usleep(200 * 1000)) {
        free(body);
        body = NULL;
        st = get(port, "/healthz", &body);
    }
    TEST_EQ_INT(st, 503);
    TEST_CHECK_MSG(body && strstr(body, "unhealthy: a database statement"), "%s", body ? body : "");
    free(body);
    TEST_CHECK(tpg_exec(c, "ROLLBACK"));
    TEST_CHECK(
        tpull_wait_scalar(c, "SELECT count(*) FROM ghl.pet WHERE name = 'blocked'", "1", 10000));
    TEST_EQ_INT(get(port, "/healthz", NULL), 200);
    kill(p, SIGTERM);
    TEST_EQ_INT(tpull_wait(p, 8000), 0);
    unlink(log);
    PQfinish(c);
    tsim_stop(&s);
}

static long sim_counter(const tsim *s, const char *route)
{
    char *body = NULL;
    tsim_admin(s, "GET", "/_admin/counters", NULL, &body);
    cJSON *j = cJSON_Parse(body ? body : "");
    free(body);
    const cJSON *t = cJSON_GetObjectItem(
        cJSON_GetObjectItem(cJSON_GetObjectItem(j, "byEndpoint"), route), "total");
    long n = cJSON_IsNumber(t) ? (long)t->valuedouble : 0;
    cJSON_Delete(j);
    return n;
}

/* Every session of the engine dies while a push is waiting for HighLevel's answer (what a
 * failover does). The claim belonged to the dead session: the new one takes it over before it
 * sweeps, so the record is not claimed and sent a second time; the change ends done, once. */
static void claims_retaken_after_sessions_die(void)
{
    tsim s;
    const char *args[] = {"--locations", "1", "--seed-records", "10", "--burst", "100000", NULL};
    TEST_REQUIRE(tsim_start(&s, args) == 0);
    char ci[512], cfg[512];
    PGconn *c = tpg_fresh_db("dbclaims", ci, sizeof ci);
    TEST_REQUIRE(c != NULL);
    TEST_REQUIRE(tpull_config(&s, ci,
                              "[pull]\npoll_interval = \"1s\"\noverlap = \"2s\"\n"
                              "[metrics]\nlisten = \"127.0.0.1:0\"\n\n",
                              cfg, sizeof cfg));
    char log[600];
    snprintf(log, sizeof log, "%s.log", cfg);
    setenv("GHLSYNC_PUSH_SWEEP_MS", "300", 1);
    const char *a[] = {"--log-format", "json", "run", NULL};
    pid_t p = tpull_spawn(cfg, a, log);
    unsetenv("GHLSYNC_PUSH_SWEEP_MS");
    TEST_REQUIRE(p > 0);
    int port = 0;
    for (long t0 = tpull_now_ms(); !port && tpull_now_ms() - t0 < 15000; usleep(100 * 1000))
        port = logged_port(log);
    TEST_REQUIRE(port > 0);
    TEST_CHECK(wait_readyz(port, 200, 30000, NULL));
    TEST_EQ_INT(tsim_admin(&s, "POST", "/_admin/faults",
                           "{\"kind\":\"latency\",\"method\":\"PUT\",\"ms\":6000,\"count\":1}",
                           NULL),
                201);
    long puts0 = sim_counter(&s, "PUT /objects/{schemaKey}/records/{id}");
    TEST_CHECK(tpg_exec(c, "UPDATE ghl.pet SET name = 'claimed-once' WHERE _local_id = (SELECT "
                           "min(_local_id) FROM ghl.pet)"));
    TEST_CHECK(tpull_wait_scalar(c,
                                 "SELECT count(*) FROM ghlsync.changes WHERE claim_pid IS NOT "
                                 "NULL AND state = 'pending'",
                                 "1", 10000));
    /* the PUT is on its way (answered after 6 s) */
    char *k = tpg_scalar(c, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE "
                            "datname = current_database() AND pid <> pg_backend_pid()");
    printf("# terminated %s sessions of the engine\n", k ? k : "?");
    TEST_CHECK(k && atoi(k) >= 3);
    free(k);
    long killed_at = tpull_now_ms();
    TEST_CHECK(
        tpull_wait_scalar(c, "SELECT string_agg(state, ',') FROM ghlsync.changes", "done", 15000));
    printf("# the change was done %ld ms after the sessions died\n", tpull_now_ms() - killed_at);
    /* the simulator counts a request when it answers: let the delayed one answer */
    long rest = 7000 - (tpull_now_ms() - killed_at);
    if (rest > 0)
        usleep((useconds_t)rest * 1000);
    long puts = sim_counter(&s, "PUT /objects/{schemaKey}/records/{id}") - puts0;
    TEST_EQ_INT(puts, 1);
    TEST_EQ_INT(tpull_compare(&s, c, "ghl"), 0);
    kill(p, SIGTERM);
    TEST_EQ_INT(tpull_wait(p, 8000), 0);
    print_problems(log);
    unlink(log);
    PQfinish(c);
    tsim_stop(&s);
}

int main(void)
{
    if (!ready()) {
        test_skip("db_outage", "needs PostgreSQL, GHLSYNC_BIN and HLSIM_BIN (tests/run.sh)");
        return test_done();
    }
    TEST_RUN(run_survives_restarts);
    TEST_RUN(stalled_write_fails_healthz);
    TEST_RUN(claims_retaken_after_sessions_die);
    /* whatever happened, leave the server of tests/run.sh running for the next program */
    pg_ctl("resume", NULL);
    return test_done();
}
