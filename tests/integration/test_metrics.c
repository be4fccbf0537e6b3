/*
 * test_metrics.c - the Prometheus endpoint in-process, on a real loop, scraped over HTTP.
 *
 * The loop (metrics server, runtime bookkeeping, an hl_client talking to the simulator, a
 * pgasync connection to a fresh database) runs on its own thread; the test thread scrapes with
 * thttp and hands work to the loop thread through a uv_async (everything of the engine stays on
 * the loop thread). Checks: the text format line by line, that the request counters, rate
 * budget, change-log depth, lag and readiness move with real activity, that ghlsync.runtime is
 * written, and the endpoint's strictness (methods, paths, versions, size limit, timeout).
 */
#include "hlapi.h"
#include "metrics.h"
#include "migrate.h"
#include "runtime.h"
#include "test.h"
#include "thttp.h"
#include "tpg.h"
#include "tsim.h"

#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct fx {
    tsim sim;
    gs_loop L;
    hl_client *hc;
    hl_location *hl;
    gs_metrics *m;
    gs_runtime *rt;
    metrics_server *srv;
    uv_async_t async;
    uv_sem_t done;
    uv_thread_t thread;
    PGconn *db;
    char conninfo[512];
    char url[128];
    /* the job handed to the loop thread */
    void (*job)(struct fx *f);
    bool quit;
    int outstanding;
    int ok_answers;
    bool tick_ok;
};

static void on_async(uv_async_t *a)
{
    struct fx *f = a->data;
    if (f->quit) {
        uv_stop(&f->L.uv);
        return;
    }
    f->job(f);
}

static void loop_thread(void *arg)
{
    struct fx *f = arg;
    uv_run(&f->L.uv, UV_RUN_DEFAULT);
}

/* Run `job` on the loop thread and wait until it posts f->done. */
static void on_loop(struct fx *f, void (*job)(struct fx *f))
{
    f->job = job;
    uv_async_send(&f->async);
    uv_sem_wait(&f->done);
}

static void on_search(hl_result *r, void *ud)
{
    struct fx *f = ud;
    metrics_api_answer(f->m, f->sim.loc[0].id, "search", r->status, r->rate.remaining,
                       r->rate.daily_remaining);
    if (r->kind == HL_OK)
        f->ok_answers++;
    if (--f->outstanding == 0)
        uv_sem_post(&f->done);
}

#define N_SEARCHES 7

static void job_searches(struct fx *f)
{
    gs_err e = {0};
    f->outstanding = N_SEARCHES;
    for (int i = 0; i < N_SEARCHES; i++) {
        hl_search s = {.page_limit = 5};
        if (hl_search_records(f->hl, "custom_objects.pet", &s, RL_PRIO_PULL, NULL, on_search, f,
                              &e) != 0) {
            printf("# search: %s\n", e.msg);
            if (--f->outstanding == 0)
                uv_sem_post(&f->done);
        }
    }
}

static void on_tick(void *ud, bool ok)
{
    struct fx *f = ud;
    f->tick_ok = ok;
    uv_sem_post(&f->done);
}

static void job_tick(struct fx *f)
{
    rt_tick(f->rt, on_tick, f);
}

static bool setup(struct fx *f)
{
    memset(f, 0, sizeof *f);
    const char *args[] = {"--locations", "1", "--seed-records", "30", NULL};
    if (tsim_start(&f->sim, args) != 0)
        return false;
    f->db = tpg_fresh_db("metrics", f->conninfo, sizeof f->conninfo);
    if (!f->db)
        return false;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/migrations", getenv("GHLSYNC_TOP") ? getenv("GHLSYNC_TOP") : ".");
    gs_err e = {0};
    if (migrate_run(f->db, dir, NULL, NULL, &e) != 0) {
        printf("# migrate: %s\n", e.msg);
        return false;
    }
    http_opts ho = {.insecure_http = true, .total_timeout_ms = 10000};
    if (gs_loop_init(&f->L, NULL, &ho, &e) != 0)
        return false;
    hl_client_opts o = {.base_url = f->sim.base_url};
    if (hl_client_new(&f->L, &o, &f->hc, &e) != 0)
        return false;
    f->hl = hl_location_add(f->hc, f->sim.loc[0].id, f->sim.loc[0].token, NULL, 0, NULL, NULL, &e);
    f->m = metrics_new();
    if (!f->hl || !f->m)
        return false;
    if (rt_new(&f->L, f->conninfo, f->m, 60000, &f->rt, &e) != 0 ||
        rt_add_location(f->rt, f->sim.loc[0].id, hl_location_budget(f->hl)) != 0) {
        printf("# runtime: %s\n", e.msg);
        return false;
    }
    if (metrics_server_start(&f->L.uv, f->m, "127.0.0.1:0", NULL, &f->srv, &e) != 0) {
        printf("# metrics: %s\n", e.msg);
        return false;
    }
    metrics_server_set_ready(f->srv, rt_ready, f->rt);
    snprintf(f->url, sizeof f->url, "http://127.0.0.1:%d", metrics_server_port(f->srv));
    uv_async_init(&f->L.uv, &f->async, on_async);
    f->async.data = f;
    uv_sem_init(&f->done, 0);
    return uv_thread_create(&f->thread, loop_thread, f) == 0;
}

static void teardown(struct fx *f)
{
    f->quit = true;
    uv_async_send(&f->async);
    uv_thread_join(&f->thread);
    /* The loop thread has returned: the test thread owns the loop again. */
    metrics_server_close(f->srv);
    rt_close(f->rt);
    hl_client_free(f->hc);
    uv_close((uv_handle_t *)&f->async, NULL);
    gs_loop_close(&f->L);
    metrics_free(f->m);
    uv_sem_destroy(&f->done);
    PQfinish(f->db);
    tsim_stop(&f->sim);
}

static char *scrape(struct fx *f, const char *path, long *status)
{
    char url[256];
    snprintf(url, sizeof url, "%s%s", f->url, path);
    thttp_resp r = {0};
    if (thttp_do("GET", url, NULL, NULL, &r) != 0) {
        *status = -1;
        thttp_resp_free(&r);
        return NULL;
    }
    *status = r.status;
    char *body = r.body;
    r.body = NULL;
    thttp_resp_free(&r);
    return body;
}

/* Validate the exposition format; returns false (and says why) on the first bad line. Every
 * sample's metric name must have been announced by a # TYPE line, names must be ghlsync_*,
 * label values must be quoted and the value must parse as a number. */
static bool valid_exposition(const char *text, int *samples)
{
    char typed[64][64];
    int ntyped = 0;
    *samples = 0;
    const char *p = text;
    int lineno = 0;
    while (*p) {
        const char *eol = strchr(p, '\n');
        if (!eol) {
            printf("# line %d: no final newline\n", lineno + 1);
            return false;
        }
        char line[1024];
        size_t n = (size_t)(eol - p);
        if (n >= sizeof line)
            return false;
        memcpy(line, p, n);
        line[n] = 0;
        p = eol + 1;
        lineno++;
        if (strncmp(line, "# HELP ", 7) == 0)
            continue;
        if (strncmp(line, "# TYPE ", 7) == 0) {
            char name[64], type[16];
            if (sscanf(line + 7, "%63s %15s", name, type) != 2 ||
                (strcmp(type, "counter") && strcmp(type, "gauge"))) {
                printf("# line %d: bad TYPE: %s\n", lineno, line);
                return false;
            }
            if (ntyped < 64)
                snprintf(typed[ntyped++], sizeof typed[0], "%s", name);
            continue;
        }
        if (line[0] == '#') {
            printf("# line %d: unexpected comment: %s\n", lineno, line);
            return false;
        }
        size_t nl = strspn(line, "abcdefghijklmnopqrstuvwxyz_0123456789:");
        char name[64];
        if (nl == 0 || nl >= sizeof name || strncmp(line, "ghlsync_", 8) != 0) {
            printf("# line %d: bad metric name: %s\n", lineno, line);
            return false;
        }
        memcpy(name, line, nl);
        name[nl] = 0;
        bool announced = false;
        for (int i = 0; i < ntyped; i++)
            announced |= strcmp(typed[i], name) == 0;
        if (!announced) {
            printf("# line %d: %s has no # TYPE line before it\n", lineno, name);
            return false;
        }
        const char *q = line + nl;
        if (*q == '{') {
            q++;
            while (*q != '}') {
                size_t ln = strspn(q, "abcdefghijklmnopqrstuvwxyz_");
                if (!ln || q[ln] != '=' || q[ln + 1] != '"') {
                    printf("# line %d: bad label: %s\n", lineno, line);
                    return false;
                }
                q += ln + 2;
                while (*q && *q != '"') {
                    if (*q == '\\' && q[1])
                        q++;
                    q++;
                }
                if (*q != '"')
                    return false;
                q++;
                if (*q == ',')
                    q++;
                else if (*q != '}')
                    return false;
            }
            q++;
        }
        if (*q != ' ') {
            printf("# line %d: no space before the value: %s\n", lineno, line);
            return false;
        }
        char *end = NULL;
        strtod(q + 1, &end);
        if (end == q + 1 || *end) {
            printf("# line %d: bad value: %s\n", lineno, line);
            return false;
        }
        (*samples)++;
    }
    return true;
}

/* Value of the sample whose line starts with `prefix` (name plus labels); NAN when absent. */
static double sample(const char *text, const char *prefix)
{
    size_t pl = strlen(prefix);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (strncmp(p, prefix, pl) == 0 && p[pl] == ' ')
            return strtod(p + pl + 1, NULL);
    return NAN;
}

static void counters_move_with_activity(void)
{
    struct fx f;
    TEST_REQUIRE(setup(&f));
    const char *loc = f.sim.loc[0].id;
    char key[256];
    long st = 0;

    char *before = scrape(&f, "/metrics", &st);
    TEST_EQ_INT(st, 200);
    TEST_REQUIRE(before != NULL);
    int ns = 0;
    TEST_CHECK(valid_exposition(before, &ns));
    TEST_CHECK(strstr(before, "# TYPE ghlsync_http_requests_total counter\n") != NULL);
    TEST_CHECK(strstr(before, "# TYPE ghlsync_lag_seconds gauge\n") != NULL);
    snprintf(key, sizeof key,
             "ghlsync_http_requests_total{location=\"%s\",endpoint=\"search\",status=\"200\"}",
             loc);
    TEST_CHECK(isnan(sample(before, key)));
    double scrapes0 = sample(before, "ghlsync_metrics_scrapes_total");
    TEST_CHECK(scrapes0 >= 1);

    long rs = 0;
    char *ready = scrape(&f, "/readyz", &rs);
    TEST_EQ_INT(rs, 503); /* no database round yet */
    TEST_CHECK_MSG(ready && strstr(ready, "not ready: database"), "readyz: %s", ready);
    free(ready);

    /* Real API activity through the rate budget, and bookkeeping rows in the database. */
    on_loop(&f, job_searches);
    TEST_EQ_INT(f.ok_answers, N_SEARCHES);
    char sql[1024];
    snprintf(sql, sizeof sql,
             "INSERT INTO ghlsync.pull_state (location_id, object_key, watermark, complete) "
             "VALUES ('%s', 'custom_objects.pet', now() - interval '90 seconds', false);"
             "INSERT INTO ghlsync.changes (location_id, object_key, table_schema, table_name, op, "
             "local_key, state) VALUES ('%s', 'custom_objects.pet', 'ghl', 'pets', 'update', 1, "
             "'pending'), ('%s', 'custom_objects.pet', 'ghl', 'pets', 'insert', 2, 'retrying'), "
             "('%s', 'custom_objects.pet', 'ghl', 'pets', 'insert', 3, 'unknown'), "
             "('%s', 'custom_objects.pet', 'ghl', 'pets', 'insert', 4, 'done')",
             loc, loc, loc, loc, loc);
    TEST_REQUIRE(tpg_exec(f.db, sql));
    on_loop(&f, job_tick);
    TEST_CHECK(f.tick_ok);

    char *after = scrape(&f, "/metrics", &st);
    TEST_EQ_INT(st, 200);
    TEST_REQUIRE(after != NULL);
    TEST_CHECK(valid_exposition(after, &ns));
    TEST_CHECK(ns > 10);
    TEST_CHECK(sample(after, "ghlsync_metrics_scrapes_total") > scrapes0);
    TEST_EQ_INT(sample(after, key), N_SEARCHES);
    snprintf(key, sizeof key, "ghlsync_http_requests_started_total{location=\"%s\"}", loc);
    TEST_CHECK_MSG(sample(after, key) >= N_SEARCHES, "%s = %g", key, sample(after, key));
    snprintf(key, sizeof key, "ghlsync_http_throttled_total{location=\"%s\"}", loc);
    TEST_EQ_INT(sample(after, key), 0);
    snprintf(key, sizeof key, "ghlsync_rate_burst_remaining{location=\"%s\"}", loc);
    double burst = sample(after, key);
    TEST_CHECK_MSG(burst >= 0 && burst < 100, "%s = %g (the simulator's default burst is 100)", key,
                   burst);
    snprintf(key, sizeof key, "ghlsync_rate_daily_remaining{location=\"%s\"}", loc);
    TEST_CHECK_MSG(sample(after, key) > 0, "%s = %g", key, sample(after, key));
    snprintf(key, sizeof key,
             "ghlsync_changes_pending{location=\"%s\",object=\"custom_objects.pet\"}", loc);
    TEST_EQ_INT(sample(after, key), 2);
    snprintf(key, sizeof key,
             "ghlsync_changes_failed{location=\"%s\",object=\"custom_objects.pet\"}", loc);
    TEST_EQ_INT(sample(after, key), 1);
    snprintf(key, sizeof key, "ghlsync_lag_seconds{location=\"%s\",object=\"custom_objects.pet\"}",
             loc);
    double lag = sample(after, key);
    TEST_CHECK_MSG(lag >= 90 && lag < 3600, "%s = %g", key, lag);

    ready = scrape(&f, "/readyz", &rs);
    TEST_EQ_INT(rs, 503);
    TEST_CHECK_MSG(ready && strstr(ready, "backfill in progress"), "readyz: %s", ready);
    free(ready);

    /* The engine's counters reached ghlsync.runtime (what `ghlsync status` reads). */
    snprintf(sql, sizeof sql, "SELECT requests_today FROM ghlsync.runtime WHERE location_id = '%s'",
             loc);
    char *today = tpg_scalar(f.db, sql);
    TEST_CHECK_MSG(today && atol(today) >= N_SEARCHES, "requests_today = %s",
                   today ? today : "(none)");
    free(today);

    /* Pull finished, changes pushed: gauges go back to zero, the service is ready. */
    TEST_REQUIRE(tpg_exec(f.db, "UPDATE ghlsync.pull_state SET complete = true, watermark = now();"
                                "UPDATE ghlsync.changes SET state = 'done'"));
    on_loop(&f, job_searches);
    on_loop(&f, job_tick);
    TEST_CHECK(f.tick_ok);
    char *last = scrape(&f, "/metrics", &st);
    TEST_REQUIRE(last != NULL);
    snprintf(key, sizeof key,
             "ghlsync_changes_pending{location=\"%s\",object=\"custom_objects.pet\"}", loc);
    TEST_EQ_INT(sample(last, key), 0);
    snprintf(key, sizeof key,
             "ghlsync_http_requests_total{location=\"%s\",endpoint=\"search\",status=\"200\"}",
             loc);
    TEST_EQ_INT(sample(last, key), 2 * N_SEARCHES);
    snprintf(key, sizeof key,
             "ghlsync_backfill_complete{location=\"%s\",object=\"custom_objects.pet\"}", loc);
    TEST_EQ_INT(sample(last, key), 1);
    snprintf(sql, sizeof sql, "SELECT requests_today FROM ghlsync.runtime WHERE location_id = '%s'",
             loc);
    today = tpg_scalar(f.db, sql);
    TEST_CHECK_MSG(today && atol(today) >= 2 * N_SEARCHES, "requests_today accumulates: %s",
                   today ? today : "(none)");
    free(today);
    ready = scrape(&f, "/readyz", &rs);
    TEST_EQ_INT(rs, 200);
    TEST_CHECK(ready && strcmp(ready, "ready\n") == 0);
    free(ready);
    char *health = scrape(&f, "/healthz", &rs);
    TEST_EQ_INT(rs, 200);
    free(health);

    free(before);
    free(after);
    free(last);
    teardown(&f);
}

/* Send raw bytes, read the whole answer (the server closes), return the status code. */
static int raw_request(int port, const char *req, size_t len, char *resp, size_t rlen)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {.tv_sec = 15};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    size_t off = 0;
    while (off < len) {
        ssize_t w = send(fd, req + off, len - off, MSG_NOSIGNAL);
        if (w <= 0)
            break; /* the server may answer and close before reading everything */
        off += (size_t)w;
    }
    size_t got = 0;
    for (;;) {
        ssize_t r = recv(fd, resp + got, rlen - 1 - got, 0);
        if (r <= 0)
            break;
        got += (size_t)r;
        if (got == rlen - 1)
            break;
    }
    resp[got] = 0;
    close(fd);
    int code = 0;
    if (sscanf(resp, "HTTP/1.1 %d", &code) != 1)
        return 0;
    return code;
}

static void strict_http(void)
{
    struct fx f;
    TEST_REQUIRE(setup(&f));
    int port = metrics_server_port(f.srv);
    char resp[65536];
#define RAW(s) raw_request(port, s, strlen(s), resp, sizeof resp)
    TEST_EQ_INT(RAW("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"), 200);
    TEST_CHECK(strstr(resp, "Content-Type: text/plain; version=0.0.4") != NULL);
    TEST_CHECK(strstr(resp, "Connection: close") != NULL);
    TEST_EQ_INT(RAW("GET /metrics?x=1 HTTP/1.0\r\n\r\n"), 200);
    TEST_EQ_INT(RAW("HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n"), 200);
    TEST_CHECK(strstr(resp, "\r\n\r\n") && strstr(resp, "\r\n\r\n")[4] == 0); /* no body */
    TEST_EQ_INT(RAW("POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"), 405);
    TEST_CHECK(strstr(resp, "Allow: GET, HEAD") != NULL);
    TEST_EQ_INT(RAW("GET /nope HTTP/1.1\r\nHost: x\r\n\r\n"), 404);
    TEST_EQ_INT(RAW("GET /metrics HTTP/1.1\r\n\r\n"), 400); /* 1.1 without Host */
    TEST_EQ_INT(RAW("GET /metrics HTTP/2.0\r\nHost: x\r\n\r\n"), 505);
    TEST_EQ_INT(RAW("GET  /metrics\r\n\r\n"), 400);
    TEST_EQ_INT(RAW("GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"), 400);
    TEST_EQ_INT(RAW("GET /metrics HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"), 400);
    char nul[] = "GET /metrics HTTP/1.1\r\nHost: x\0\r\n\r\n";
    TEST_EQ_INT(raw_request(port, nul, sizeof nul - 1, resp, sizeof resp), 400);
    /* A head larger than the limit is refused without waiting for its end. */
    size_t big = METRICS_MAX_REQUEST + 100;
    char *huge = malloc(big + 1);
    TEST_REQUIRE(huge != NULL);
    memset(huge, 'a', big);
    memcpy(huge, "GET /metrics HTTP/1.1\r\nX-Long: ", 31);
    huge[big] = 0;
    TEST_EQ_INT(raw_request(port, huge, big, resp, sizeof resp), 431);
    free(huge);
    /* A client that never finishes its request is answered 408 and dropped. */
    TEST_EQ_INT(RAW("GET /metrics HTTP/1.1\r\nHost: x\r\n"), 408);
    /* The server still works after all of that. */
    TEST_EQ_INT(RAW("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"), 200);
    TEST_CHECK(strstr(resp, "\r\n\r\nok\n") != NULL);
#undef RAW
    teardown(&f);
}

static void listen_parsing(void)
{
    struct sockaddr_storage a;
    gs_err e = {0};
    TEST_EQ_INT(metrics_parse_listen("127.0.0.1:9187", &a, &e), 0);
    TEST_EQ_INT(a.ss_family, AF_INET);
    TEST_EQ_INT(ntohs(((struct sockaddr_in *)&a)->sin_port), 9187);
    TEST_EQ_INT(metrics_parse_listen("[::1]:9", &a, &e), 0);
    TEST_EQ_INT(a.ss_family, AF_INET6);
    TEST_EQ_INT(metrics_parse_listen(":9187", &a, &e), 0);
    TEST_CHECK(metrics_parse_listen("localhost:9187", &a, &e) == GS_ECONFIG);
    TEST_CHECK(strstr(e.msg, "host names are not resolved") != NULL);
    TEST_CHECK(metrics_parse_listen("127.0.0.1", &a, &e) == GS_ECONFIG);
    TEST_CHECK(metrics_parse_listen("127.0.0.1:70000", &a, &e) == GS_ECONFIG);
    TEST_CHECK(metrics_parse_listen("127.0.0.1:", &a, &e) == GS_ECONFIG);

    /* Label values with quotes, backslashes and newlines are escaped. */
    gs_metrics *m = metrics_new();
    const char *lab[] = {"we\"ird\\loc\nx", "kind"};
    metrics_add(m, GSM_ERRORS, lab, 2);
    metrics_add(m, GSM_ERRORS, lab, -5); /* counters never go down */
    sbuf b = SBUF_INIT;
    metrics_render(m, &b);
    int ns = 0;
    TEST_CHECK(valid_exposition(sbuf_str(&b), &ns));
    TEST_CHECK(
        strstr(sbuf_str(&b),
               "ghlsync_errors_total{location=\"we\\\"ird\\\\loc\\nx\",kind=\"kind\"} 2\n") !=
        NULL);
    sbuf_free(&b);
    metrics_free(m);
}

int main(void)
{
    TEST_RUN(listen_parsing);
    if (!tpg_available()) {
        test_skip("counters_move_with_activity", "no PostgreSQL (run through tests/run.sh)");
        return test_done();
    }
    TEST_RUN(counters_move_with_activity);
    TEST_RUN(strict_http);
    return test_done();
}
