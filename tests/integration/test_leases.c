/* test_leases.c - several `ghlsync run` processes share the locations through leases (lease.h,
 * migrations/009_leases.sql), with the real binary, the simulator and the private PostgreSQL:
 *   - one process takes every location; two more join and the three split them 10/10/10 while
 *     the first keeps running;
 *   - a one-shot `ghlsync push` refuses while runs hold the locations and names the holder;
 *   - kill -9 of one: the other two take its locations within ttl plus a heartbeat (or so);
 *   - local changes made before and after the kill are each created once (nothing pushed twice)
 *     and remote ones arrive (nothing missed): the mirror equals the simulator;
 *   - SIGTERM lets go of every lease at once. */
#include "status.h"
#include "test.h"
#include "tpg.h"
#include "tpull.h"
#include "tsim.h"

#include <cjson/cJSON.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static bool ready(void)
{
    return tpg_available() && getenv("GHLSYNC_BIN") && getenv("HLSIM_BIN");
}

#define NLOC   30
#define TTL_MS 3000

static const char extra[] = "[pull]\npoll_interval = \"1s\"\noverlap = \"2s\"\n\n"
                            "[leases]\nttl = \"3s\"\nheartbeat = \"500ms\"\n";

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

static bool alive(pid_t p)
{
    return p > 0 && waitpid(p, NULL, WNOHANG) == 0;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char *buf = calloc(1, 1 << 20);
    size_t n = buf ? fread(buf, 1, (1 << 20) - 1, f) : 0;
    (void)n;
    fclose(f);
    return buf;
}

/* `ghlsync status` (status_collect, what it prints): every location served by one of `pids`,
 * with a start time. */
static void status_shows_holders(PGconn *c, const pid_t *pids, int n)
{
    struct status_report r;
    gs_err e = {0};
    TEST_REQUIRE(status_collect(c, NULL, &r, &e) == 0);
    int served = 0;
    for (size_t i = 0; i < r.n_locations; i++) {
        const struct status_location *l = &r.locations[i];
        bool ours = false;
        for (int k = 0; k < n; k++)
            ours = ours || l->lease_pid == pids[k];
        served += ours && l->lease_host && l->lease_since && l->lease_kind &&
                  strcmp(l->lease_kind, "run") == 0;
    }
    TEST_EQ_INT(served, NLOC);
    status_report_free(&r);
}

/* Lease counts per holder, ascending, "10,10,10". */
static const char split_sql[] =
    "SELECT coalesce(string_agg(n::text, ',' ORDER BY n), '') FROM "
    "(SELECT count(*) n FROM ghlsync.leases WHERE NOT released GROUP BY holder) x";

static void insert_pets(const tsim *s, PGconn *c, const char *tag)
{
    char q[300];
    for (int i = 0; i < s->n_loc; i++) {
        snprintf(q, sizeof q, "INSERT INTO ghl.pet (location_id, name) VALUES ('%s', '%s %d')",
                 s->loc[i].id, tag, i);
        TEST_CHECK(tpg_exec(c, q));
    }
}

static void remote_creates(const tsim *s, const char *tag)
{
    char path[300], body[200];
    for (int i = 0; i < s->n_loc; i += 3) {
        snprintf(path, sizeof path, "/_admin/records/custom_objects.pet?locationId=%s",
                 s->loc[i].id);
        snprintf(body, sizeof body, "{\"properties\":{\"name\":\"%s-%d\"}}", tag, i);
        TEST_EQ_INT(tsim_admin(s, "POST", path, body, NULL), 201);
    }
}

static bool compare_eventually(const tsim *s, PGconn *c, int timeout_ms)
{
    for (long end = tpull_now_ms() + timeout_ms;; usleep(500 * 1000)) {
        bool last = tpull_now_ms() >= end;
        if (tpull_compare(s, c, "ghl") == 0)
            return true;
        if (last)
            return false;
    }
}

static void three_processes(void)
{
    tsim s;
    char nl[16];
    snprintf(nl, sizeof nl, "%d", NLOC);
    const char *args[] = {"--locations", nl, "--seed-records", "3", "--burst", "0", NULL};
    TEST_REQUIRE(tsim_start(&s, args) == 0);
    char ci[512], cfg[512], log[3][600], q[400];
    PGconn *c = tpg_fresh_db("leases3", ci, sizeof ci);
    TEST_REQUIRE(c != NULL);
    TEST_REQUIRE(tpull_config(&s, ci, extra, cfg, sizeof cfg));
    const char *run[] = {"run", NULL};
    pid_t p[3];
    for (int i = 0; i < 3; i++)
        snprintf(log[i], sizeof log[i], "%s.run%d.log", cfg, i);

    /* one process: every location */
    p[0] = tpull_spawn(cfg, run, log[0]);
    TEST_REQUIRE(p[0] > 0);
    snprintf(q, sizeof q, "%d", NLOC);
    TEST_CHECK_MSG(tpull_wait_scalar(c, split_sql, q, 30000), "the first process holds all");
    TEST_CHECK(tpull_wait_scalar(
        c, "SELECT (count(*) >= 30 AND bool_and(complete))::text FROM ghlsync.pull_state", "true",
        60000));

    /* two more join: a fair share each, the first keeps running */
    p[1] = tpull_spawn(cfg, run, log[1]);
    p[2] = tpull_spawn(cfg, run, log[2]);
    TEST_REQUIRE(p[1] > 0 && p[2] > 0);
    long t0 = tpull_now_ms();
    TEST_CHECK_MSG(tpull_wait_scalar(c, split_sql, "10,10,10", 30000), "split 10/10/10");
    printf("# split 10/10/10 %ld ms after two processes joined\n", tpull_now_ms() - t0);
    TEST_CHECK(alive(p[0]));
    status_shows_holders(c, p, 3);
    /* ghlsync.runtime (requests, budget in status) is written by the serving process */
    TEST_CHECK_MSG(tpull_wait_scalar(c,
                                     "SELECT count(*) FROM ghlsync.runtime r JOIN ghlsync.leases l "
                                     "USING (location_id) WHERE r.holder <> l.host || ':' || l.pid",
                                     "0", 15000),
                   "runtime rows by the serving process");
    char *hosts = tpg_scalar(c, "SELECT count(DISTINCT pid) FROM ghlsync.leases");
    TEST_CHECK_MSG(hosts && strcmp(hosts, "3") == 0, "three pids hold leases: %s",
                   hosts ? hosts : "-");
    free(hosts);

    /* a one-shot push refuses and says who holds the locations */
    char plog[600];
    snprintf(plog, sizeof plog, "%s.push.log", cfg);
    TEST_EQ_INT(tpull_run(cfg, (const char *[]){"push", NULL}, plog, 30000), 1);
    char *pl = slurp(plog);
    TEST_CHECK_MSG(pl && strstr(pl, "is served by `ghlsync run` on host") && strstr(pl, "pid"),
                   "refusal names the holder: %.300s", pl ? pl : "(no log)");
    free(pl);

    /* local changes while three serve */
    insert_pets(&s, c, "before");
    TEST_CHECK_MSG(tpull_wait_scalar(c, "SELECT count(*) FROM ghlsync.changes WHERE state = 'done'",
                                     "30", 30000),
                   "30 creates pushed");

    /* kill -9 one: the others take over */
    snprintf(q, sizeof q, "SELECT count(*) FROM ghlsync.leases WHERE pid = %d", (int)p[2]);
    char *mine = tpg_scalar(c, q);
    TEST_CHECK_MSG(mine && strcmp(mine, "10") == 0, "the victim holds 10: %s", mine ? mine : "-");
    free(mine);
    kill(p[2], SIGKILL);
    tpull_wait(p[2], 5000);
    t0 = tpull_now_ms();
    TEST_CHECK_MSG(tpull_wait_scalar(c, split_sql, "15,15", 20000), "taken over 15/15");
    long took = tpull_now_ms() - t0;
    status_shows_holders(c, p, 2);
    printf("# takeover after kill -9: %ld ms (ttl %d ms, heartbeat 500 ms)\n", took, TTL_MS);
    TEST_CHECK_MSG(took <= TTL_MS + 500 + 2500, "takeover in %ld ms", took);

    /* changes after the kill, local and remote, in every location */
    insert_pets(&s, c, "after");
    remote_creates(&s, "remote");
    TEST_CHECK_MSG(tpull_wait_scalar(c, "SELECT count(*) FROM ghlsync.changes WHERE state = 'done'",
                                     "60", 30000),
                   "60 creates pushed");
    TEST_EQ_INT(counter(&s, "POST /objects/{schemaKey}/records"), 60);
    TEST_CHECK_MSG(compare_eventually(&s, c, 15000), "the mirror equals the simulator");
    TEST_CHECK(alive(p[0]) && alive(p[1]));

    /* SIGTERM: every lease let go at once */
    for (int i = 0; i < 2; i++) {
        kill(p[i], SIGTERM);
        TEST_EQ_INT(tpull_wait(p[i], 8000), 0);
    }
    TEST_CHECK(tpull_wait_scalar(c, "SELECT count(*) FROM ghlsync.leases", "0", 1000));
    /* and a one-shot may run again */
    TEST_EQ_INT(tpull_run(cfg, (const char *[]){"push", NULL}, NULL, 30000), 0);
    TEST_EQ_INT(counter(&s, "POST /objects/{schemaKey}/records"), 60);
    PQfinish(c);
    tsim_stop(&s);
}

/* A one-shot killed with -9 does not block the next one: its leases die with its session. */
static void one_shot_killed(void)
{
    tsim s;
    const char *args[] = {
        "--locations", "2", "--seed-records", "400", "--burst", "0", "--latency-ms", "30", NULL};
    TEST_REQUIRE(tsim_start(&s, args) == 0);
    char ci[512], cfg[512];
    PGconn *c = tpg_fresh_db("leases1", ci, sizeof ci);
    TEST_REQUIRE(c != NULL);
    TEST_REQUIRE(tpull_config(&s, ci, "[pull]\npage_size = 20\n", cfg, sizeof cfg));
    pid_t b = tpull_spawn(cfg, (const char *[]){"backfill", NULL}, NULL);
    TEST_REQUIRE(b > 0);
    TEST_CHECK(tpull_wait_scalar(c, "SELECT count(*) FROM ghlsync.leases", "2", 20000));
    kill(b, SIGKILL);
    tpull_wait(b, 5000);
    long t0 = tpull_now_ms();
    TEST_EQ_INT(tpull_run(cfg, (const char *[]){"backfill", NULL}, NULL, 60000), 0);
    printf("# backfill after kill -9 of a backfill: %ld ms\n", tpull_now_ms() - t0);
    TEST_EQ_INT(tpull_compare(&s, c, "ghl"), 0);
    TEST_CHECK(tpull_wait_scalar(c, "SELECT count(*) FROM ghlsync.leases", "0", 1000));
    PQfinish(c);
    tsim_stop(&s);
}

int main(void)
{
    if (!ready()) {
        test_skip("leases", "needs tests/run.sh (PostgreSQL, GHLSYNC_BIN, HLSIM_BIN)");
        return test_done();
    }
    TEST_RUN(three_processes);
    TEST_RUN(one_shot_killed);
    return test_done();
}
