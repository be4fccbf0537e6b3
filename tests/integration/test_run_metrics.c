/* Integration test of the operations side of the real `ghlsync run` ($GHLSYNC_BIN, simulator,
 * private PostgreSQL): with [metrics] listen = "127.0.0.1:0" the bound port is read from the
 * metrics.listen log line; /metrics is scraped over HTTP during the backfill and after remote
 * edits (requests by endpoint "search" status 200 grow, records pulled grow, lag is there),
 * /healthz answers 200, /readyz 200 once the backfill is complete; after SIGTERM the final
 * ghlsync.runtime write holds every request the process started, and `ghlsync status --json`
 * reports them as requests today. `ghlsync backfill` records its requests too. */
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
    return tpg_available() && getenv("GHLSYNC_BIN") && getenv("HLSIM_BIN");
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    char *b = malloc(cap);
    size_t r;
    while (b && (r = fread(b + n, 1, cap - n - 1, f)) > 0) {
        n += r;
        if (cap - n < 2) {
            char *nb = realloc(b, cap * 2);
            if (!nb) {
                free(b);
                b = NULL;
                break;
            }
            b = nb;
            cap *= 2;
        }
    }
    fclose(f);
    if (b)
        b[n] = 0;
    return b;
}

/* The port of the metrics.listen JSON log line, or 0 while it is not there. */
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

/* Value of the series whose line starts with `series` ("name{labels}"), or -1 when absent. */
static double series(const char *text, const char *name_labels)
{
    size_t n = strlen(name_labels);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (strncmp(p, name_labels, n) == 0 && p[n] == ' ')
            return strtod(p + n + 1, NULL);
    }
    return -1;
}

struct scrape {
    double search_200, pulled, lag_pet, started, pushed_update;
};

static bool scrape(int port, const char *loc, struct scrape *s)
{
    char *m = NULL;
    long st = get(port, "/metrics", &m);
    if (st != 200 || !m) {
        free(m);
        return false;
    }
    char k[256];
    snprintf(k, sizeof k,
             "ghlsync_http_requests_total{location=\"%s\",endpoint=\"search\",status=\"200\"}",
             loc);
    s->search_200 = series(m, k);
    s->pulled = series(m, "ghlsync_records_pulled_total{location=\"all\",object=\"all\"}");
    snprintf(k, sizeof k, "ghlsync_lag_seconds{location=\"%s\",object=\"custom_objects.pet\"}",
             loc);
    s->lag_pet = series(m, k);
    snprintf(k, sizeof k, "ghlsync_http_requests_started_total{location=\"%s\"}", loc);
    s->started = series(m, k);
    snprintf(k, sizeof k,
             "ghlsync_records_pushed_total{location=\"%s\",object=\"all\",op=\"update\"}", loc);
    s->pushed_update = series(m, k);
    free(m);
    return true;
}

static bool wait_ready(int port, int timeout_ms)
{
    long t0 = tpull_now_ms();
    while (tpull_now_ms() - t0 < timeout_ms) {
        if (get(port, "/readyz", NULL) == 200)
            return true;
        usleep(200 * 1000);
    }
    return false;
}

/* `ghlsync -c CFG status --json`, parsed. */
static cJSON *status_json(const char *cfg)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "GHLSYNC_DATADIR='%s' '%s' -c '%s' status --json",
             getenv("GHLSYNC_TOP") ? getenv("GHLSYNC_TOP") : ".", getenv("GHLSYNC_BIN"), cfg);
    FILE *p = popen(cmd, "r");
    if (!p)
        return NULL;
    char *out = NULL;
    size_t n = 0, cap = 0;
    char buf[4096];
    size_t r;
    while ((r = fread(buf, 1, sizeof buf, p)) > 0) {
        if (n + r + 1 > cap) {
            cap = (n + r + 1) * 2;
            char *no = realloc(out, cap);
            if (!no)
                break;
            out = no;
        }
        memcpy(out + n, buf, r);
        n += r;
        out[n] = 0;
    }
    int rc = pclose(p);
    TEST_EQ_INT(rc, 0);
    cJSON *j = out ? cJSON_Parse(out) : NULL;
    if (!j)
        printf("# status --json printed: %s\n", out ? out : "(nothing)");
    free(out);
    return j;
}

static const cJSON *status_location(const cJSON *j, const char *loc)
{
    const cJSON *l;
    cJSON_ArrayForEach(l, cJSON_GetObjectItem(j, "locations"))
    {
        const cJSON *id = cJSON_GetObjectItem(l, "location_id");
        if (cJSON_IsString(id) && strcmp(id->valuestring, loc) == 0)
            return l;
    }
    return NULL;
}

/* requests_today and requests_total of the ghlsync.runtime row of `loc` (-1 when absent). */
static void runtime_row(PGconn *c, const char *loc, long *today, long *total)
{
    char q[300];
    snprintf(q, sizeof q, "SELECT requests_today FROM ghlsync.runtime WHERE location_id = '%s'",
             loc);
    char *a = tpg_scalar(c, q);
    snprintf(q, sizeof q, "SELECT requests_total FROM ghlsync.runtime WHERE location_id = '%s'",
             loc);
    char *b = tpg_scalar(c, q);
    *today = a ? atol(a) : -1;
    *total = b ? atol(b) : -1;
    free(a);
    free(b);
}

/* Requests the simulator counted for `loc` today (admin calls excluded), -1 on error. */
static long sim_used(const tsim *s, const char *loc)
{
    char *resp = NULL;
    long used = -1;
    if (tsim_admin(s, "GET", "/_admin/counters", NULL, &resp) == 200 && resp) {
        cJSON *j = cJSON_Parse(resp);
        const cJSON *l = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "rateLimit"), loc);
        const cJSON *d = cJSON_GetObjectItem(l, "dailyUsed");
        if (cJSON_IsNumber(d))
            used = (long)d->valuedouble;
        cJSON_Delete(j);
    }
    free(resp);
    return used;
}

static void run_serves_metrics(void)
{
    tsim s;
    /* Enough records for a backfill of several pages per object. */
    const char *args[] = {"--locations", "1", "--seed-records", "250", NULL};
    TEST_REQUIRE(tsim_start(&s, args) == 0);
    const char *loc = s.loc[0].id;
    char ci[512], cfg[512];
    PGconn *c = tpg_fresh_db("runmetrics", ci, sizeof ci);
    TEST_REQUIRE(c != NULL);
    TEST_REQUIRE(tpull_config(&s, ci,
                              "[pull]\npoll_interval = \"1s\"\noverlap = \"2s\"\n"
                              "[metrics]\nlisten = \"127.0.0.1:0\"\n\n",
                              cfg, sizeof cfg));
    char log[600];
    snprintf(log, sizeof log, "%s.log", cfg);
    const char *a[] = {"--log-format", "json", "run", NULL};
    pid_t p = tpull_spawn(cfg, a, log);
    TEST_REQUIRE(p > 0);

    int port = 0;
    for (long t0 = tpull_now_ms(); !port && tpull_now_ms() - t0 < 15000; usleep(100 * 1000))
        port = logged_port(log);
    TEST_CHECK_MSG(port > 0, "metrics.listen logged with the bound port");
    if (port <= 0) {
        kill(p, SIGKILL);
        tpull_wait(p, 5000);
        PQfinish(c);
        tsim_stop(&s);
        return;
    }
    printf("# metrics on port %d\n", port);
    TEST_EQ_INT(get(port, "/healthz", NULL), 200);

    TEST_CHECK(tpull_wait_scalar(
        c, "SELECT count(*) FROM ghlsync.pull_state WHERE complete AND object_key <> 'opportunity'",
        "4", 30000));
    TEST_CHECK_MSG(wait_ready(port, 15000), "/readyz 200 after the backfill");
    struct scrape s1 = {0};
    TEST_REQUIRE(scrape(port, loc, &s1));
    printf("# after backfill: search 200 = %.0f, pulled = %.0f, lag pet = %.3f, started = %.0f\n",
           s1.search_200, s1.pulled, s1.lag_pet, s1.started);
    /* 3 objects x 250 records, 100 per page: at least 3 pages each. */
    TEST_CHECK(s1.search_200 >= 9);
    TEST_CHECK(s1.pulled >= 750);
    TEST_CHECK_MSG(s1.lag_pet >= 0, "lag of the pet table is published");
    TEST_CHECK(s1.started >= s1.search_200);

    /* Remote edits: polls keep searching, and the new records are counted as pulled. */
    char path[300], body[200];
    snprintf(path, sizeof path, "/_admin/records/custom_objects.pet?locationId=%s", loc);
    for (int i = 0; i < 3; i++) {
        snprintf(body, sizeof body, "{\"properties\":{\"name\":\"metrics-new-%d\"}}", i);
        TEST_EQ_INT(tsim_admin(&s, "POST", path, body, NULL), 201);
    }
    TEST_CHECK(tpull_wait_scalar(c, "SELECT count(*) FROM ghl.pet WHERE name LIKE 'metrics-new-%'",
                                 "3", 10000));
    struct scrape s2 = {0};
    bool moved = false;
    for (long t0 = tpull_now_ms(); !moved && tpull_now_ms() - t0 < 10000; usleep(300 * 1000))
        moved =
            scrape(port, loc, &s2) && s2.pulled >= s1.pulled + 3 && s2.search_200 > s1.search_200;
    printf("# after edits: search 200 = %.0f, pulled = %.0f, lag pet = %.3f\n", s2.search_200,
           s2.pulled, s2.lag_pet);
    TEST_CHECK_MSG(moved, "search requests and records pulled grew");
    TEST_CHECK(s2.lag_pet >= 0);

    /* A local edit is pushed by the same run and counted as a pushed record. */
    TEST_CHECK(tpg_exec(c, "UPDATE ghl.pet SET name = 'metrics-pushed' WHERE _local_id = "
                           "(SELECT min(_local_id) FROM ghl.pet WHERE id IS NOT NULL)"));
    struct scrape s3 = {0};
    bool pushed = false;
    for (long t0 = tpull_now_ms(); !pushed && tpull_now_ms() - t0 < 10000; usleep(300 * 1000))
        pushed = scrape(port, loc, &s3) && s3.pushed_update >= s2.pushed_update + 1;
    TEST_CHECK_MSG(pushed, "records pushed (update) grew: %.0f -> %.0f", s2.pushed_update,
                   s3.pushed_update);

    char *nf = NULL;
    TEST_EQ_INT(get(port, "/nothing-here", &nf), 404);
    free(nf);

    kill(p, SIGTERM);
    TEST_EQ_INT(tpull_wait(p, 8000), 0);
    TEST_CHECK_MSG(get(port, "/healthz", NULL) == -1, "the listener is closed after exit");

    /* The final write: one process, a fresh database and simulator, so today's count is exactly
     * what the simulator served, including the polls after the last periodic write (every
     * 5 s, while the objects were polled every second). */
    long today, total;
    runtime_row(c, loc, &today, &total);
    long used = sim_used(&s, loc);
    printf("# ghlsync.runtime: requests_today = %ld, requests_total = %ld; simulator: %ld\n", today,
           total, used);
    TEST_CHECK(total >= (long)s2.started);
    TEST_EQ_INT(today, total);
    TEST_EQ_INT(today, used);

    cJSON *j = status_json(cfg);
    TEST_REQUIRE(j != NULL);
    const cJSON *jl = status_location(j, loc);
    TEST_REQUIRE(jl != NULL);
    const cJSON *rt = cJSON_GetObjectItem(jl, "requests_today");
    TEST_CHECK(cJSON_IsNumber(rt) && rt->valuedouble > 0);
    TEST_CHECK(cJSON_IsNumber(rt) && (long)rt->valuedouble == today);
    TEST_CHECK(cJSON_IsTrue(cJSON_GetObjectItem(jl, "engine_reported")));
    cJSON_Delete(j);
    unlink(log);
    PQfinish(c);
    tsim_stop(&s);
}

/* A one-shot backfill (cron, CI) spends the same budget: its requests are in ghlsync.runtime
 * too, and it does not open the metrics endpoint (the mirror service owns the port). */
static void backfill_records_requests(void)
{
    tsim s;
    const char *args[] = {"--locations", "1", "--seed-records", "120", NULL};
    TEST_REQUIRE(tsim_start(&s, args) == 0);
    const char *loc = s.loc[0].id;
    char ci[512], cfg[512];
    PGconn *c = tpg_fresh_db("bfmetrics", ci, sizeof ci);
    TEST_REQUIRE(c != NULL);
    TEST_REQUIRE(tpull_config(&s, ci, "[metrics]\nlisten = \"127.0.0.1:0\"\n\n", cfg, sizeof cfg));
    char log[600];
    snprintf(log, sizeof log, "%s.log", cfg);
    const char *a[] = {"--log-format", "json", "backfill", NULL};
    TEST_EQ_INT(tpull_run(cfg, a, log, 60000), 0);
    long today, total;
    runtime_row(c, loc, &today, &total);
    printf("# after backfill: requests_today = %ld, requests_total = %ld\n", today, total);
    /* list objects + 3 schemas + at least 2 pages for each of the 3 objects */
    TEST_CHECK(total >= 10);
    TEST_EQ_INT(today, total);
    TEST_EQ_INT(today, sim_used(&s, loc));
    TEST_EQ_INT(logged_port(log), 0);

    /* A second backfill adds to today's count. */
    TEST_EQ_INT(tpull_run(cfg, a, log, 60000), 0);
    unlink(log);
    long today2, total2;
    runtime_row(c, loc, &today2, &total2);
    TEST_CHECK_MSG(today2 == today + total2, "today %ld = %ld + %ld", today2, today, total2);
    TEST_EQ_INT(today2, sim_used(&s, loc));
    PQfinish(c);
    tsim_stop(&s);
}

int main(void)
{
    if (!ready()) {
        test_skip("run_metrics", "needs PostgreSQL, GHLSYNC_BIN and HLSIM_BIN (tests/run.sh)");
        return test_done();
    }
    TEST_RUN(run_serves_metrics);
    TEST_RUN(backfill_records_requests);
    return test_done();
}
