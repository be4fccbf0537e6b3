/*
 * bench_agency - agency scale (issue 16) with the real binary (GHLSYNC_BIN), the simulator
 * (HLSIM_BIN, default limits: a bucket per location) and the private PostgreSQL (PGHOST...;
 * tests/bench/agency.sh sets everything up). Every location syncs 3 objects (pet, vaccination,
 * business), 2 records each, default polling (60 s), default leases (ttl 30 s, heartbeat 10 s).
 *
 *   bench_agency idle N BASE WINDOW_S
 *       one `ghlsync run` idle-mirroring N locations, after a baseline run with BASE locations
 *       in the same run: CPU (% of a core) over WINDOW_S seconds once every backfill completed,
 *       RSS, RSS per location ((RSS(N) - RSS(BASE)) / (N - BASE), and RSS / N), requests per
 *       location per day (simulator counters) against the 3 x 1440 polls the interval implies.
 *   bench_agency split N
 *       three `ghlsync run` processes over N locations: the lease split (target N/3 each), the
 *       time to reach it, and the time for the two others to take over after kill -9 of one,
 *       against ttl + heartbeat (40 s).
 *   bench_agency saturated START MAX WINDOW_S PAGE_SIZE
 *       one `ghlsync run`, N locations all backfilling (enough records per location that no
 *       backfill ends before the window does), N doubling from START (to MAX) then bisected
 *       twice: per step the utilization (requests per location per second over WINDOW_S after
 *       the ramp / the limit's 10 per second), 429s, CPU of ghlsync, hlsim, the database's
 *       backends and the whole machine, CPU per request, RSS; then the largest N at >= 0.97
 *       with 0 x 429.
 */
#include "tpg.h"
#include "tpull.h"
#include "thttp.h"
#include "tsim.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static long long scalar_ll(PGconn *c, const char *sql)
{
    char *v = tpg_scalar(c, sql);
    long long n = v ? strtoll(v, NULL, 10) : -1;
    free(v);
    return n;
}

/* sync.toml for every location of the simulator (GET /_admin/locations: tsim keeps 256). */
static int write_config_x(const tsim *s, const char *conninfo, const char *tag, const char *extra,
                          char *path, size_t len)
{
    char *body = NULL;
    if (tsim_admin(s, "GET", "/_admin/locations", NULL, &body) != 200)
        return -1;
    cJSON *j = cJSON_Parse(body ? body : "");
    free(body);
    const cJSON *locs = cJSON_GetObjectItemCaseSensitive(j, "locations");
    char dir[512];
    snprintf(dir, sizeof dir, "/tmp/ghlsync-bench-%s-XXXXXX", tag);
    if (!mkdtemp(dir)) {
        cJSON_Delete(j);
        return -1;
    }
    snprintf(path, len, "%s/sync.toml", dir);
    FILE *f = fopen(path, "w");
    if (!f) {
        cJSON_Delete(j);
        return -1;
    }
    fprintf(f, "[api]\nbase_url = \"%s\"\ninsecure_http = true\n\n", s->base_url);
    fprintf(f, "[database]\nurl = \"%s\"\n\n[log]\nlevel = \"warn\"\n", conninfo);
    if (extra)
        fprintf(f, "\n%s", extra);
    int n = 0;
    const cJSON *l;
    cJSON_ArrayForEach(l, locs)
    {
        const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(l, "id"));
        const char *tok = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(l, "token"));
        if (!id || !tok)
            continue;
        char tf[600];
        snprintf(tf, sizeof tf, "%s/t%d", dir, n);
        FILE *t = fopen(tf, "w");
        if (!t)
            break;
        fputs(tok, t);
        fclose(t);
        chmod(tf, 0600);
        fprintf(f,
                "\n[[locations]]\nid = \"%s\"\ntoken_file = \"%s\"\nobjects = "
                "[\"custom_objects.pet\", \"custom_objects.vaccination\", \"business\"]\n",
                id, tf);
        n++;
    }
    fclose(f);
    cJSON_Delete(j);
    return n;
}

static int write_config(const tsim *s, const char *conninfo, const char *tag, char *path,
                        size_t len)
{
    return write_config_x(s, conninfo, tag, NULL, path, len);
}

static long requests(const tsim *s)
{
    char *body = NULL;
    tsim_admin(s, "GET", "/_admin/counters", NULL, &body);
    cJSON *j = cJSON_Parse(body ? body : "");
    free(body);
    long n = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(j, "byEndpoint"))
    {
        double t = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(e, "total"));
        if (t > 0)
            n += (long)t;
    }
    cJSON_Delete(j);
    return n;
}

/* utime + stime in seconds */
static double cpu_s(pid_t p)
{
    char path[64], buf[2048];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)p);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *q = strrchr(buf, ')');
    if (!q)
        return -1;
    unsigned long ut = 0, st = 0;
    /* fields after the command: state(3) ... utime(14) stime(15) */
    if (sscanf(q + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static long rss_kib(pid_t p, const char *field)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)p);
    FILE *f = fopen(path, "r");
    long kib = -1;
    size_t fl = strlen(field);
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, field, fl) == 0)
            kib = strtol(line + fl + 1, NULL, 10);
    if (f)
        fclose(f);
    return kib;
}

struct idle_fig {
    int n;
    double start_s, cpu_pct, req_day;
    long rss, hwm;
};

static int idle_run(int n, int window_s, struct idle_fig *out)
{
    char nl[16];
    snprintf(nl, sizeof nl, "%d", n);
    const char *args[] = {"--locations", nl, "--seed-records", "2", NULL};
    tsim s;
    if (tsim_start(&s, args) != 0)
        return -1;
    char ci[512], cfg[600], tag[32];
    snprintf(tag, sizeof tag, "bagency%d", n);
    PGconn *c = tpg_fresh_db(tag, ci, sizeof ci);
    int got = c ? write_config(&s, ci, tag, cfg, sizeof cfg) : -1;
    if (got != n) {
        fprintf(stderr, "bench_agency: config for %d locations failed (%d)\n", n, got);
        tsim_stop(&s);
        return -1;
    }
    long t0 = tpull_now_ms();
    pid_t p = tpull_spawn(cfg, (const char *[]){"run", NULL}, "/dev/null");
    char q[300];
    snprintf(q, sizeof q,
             "SELECT (count(*) = %d AND bool_and(complete))::text FROM ghlsync.pull_state", n * 3);
    bool ok = p > 0 && tpull_wait_scalar(c, q, "true", 1200 * 1000);
    out->n = n;
    out->start_s = (double)(tpull_now_ms() - t0) / 1000.0;
    if (ok) {
        sleep(5); /* the last pages' follow-ups */
        tsim_admin(&s, "POST", "/_admin/counters/reset", NULL, NULL);
        double c0 = cpu_s(p);
        long w0 = tpull_now_ms();
        sleep((unsigned)window_s);
        double c1 = cpu_s(p);
        long req = requests(&s);
        double w = (double)(tpull_now_ms() - w0) / 1000.0;
        out->cpu_pct = 100.0 * (c1 - c0) / w;
        out->req_day = (double)req / n * 86400.0 / w;
        out->rss = rss_kib(p, "VmRSS:");
        out->hwm = rss_kib(p, "VmHWM:");
    }
    if (p > 0) {
        kill(p, SIGTERM);
        tpull_wait(p, 20000);
    }
    PQfinish(c);
    tsim_stop(&s);
    return ok ? 0 : -1;
}

static int bench_idle(int n, int base, int window_s)
{
    struct idle_fig b = {0}, f = {0};
    printf("== idle mirror: %d locations x 3 objects, one process, default polling (60 s), "
           "%d s window; baseline %d locations in the same run\n",
           n, window_s, base);
    fflush(stdout);
    if (idle_run(base, window_s, &b) || idle_run(n, window_s, &f)) {
        printf("idle mirror: FAILED (backfill did not complete)\n");
        return 1;
    }
    double per = (double)(f.rss - b.rss) / (n - base);
    printf("start-up (schemas + backfill): %d locations %.1f s, %d locations %.1f s\n", base,
           b.start_s, n, f.start_s);
    printf("CPU: %.2f %% of a core (%d locations: %.2f %%): %.1fx for %.1fx the locations; "
           "target <= 5 %%\n",
           f.cpu_pct, base, b.cpu_pct, b.cpu_pct > 0 ? f.cpu_pct / b.cpu_pct : 0, (double)n / base);
    printf("RSS: %.1f MiB (peak %.1f MiB); %d locations %.1f MiB; per location %.1f KiB "
           "(marginal), %.1f KiB (RSS / N); target <= 64 KiB\n",
           f.rss / 1024.0, f.hwm / 1024.0, base, b.rss / 1024.0, per, (double)f.rss / n);
    printf("requests per location per day: %.0f (%d locations: %.0f) against 3 x 1440 = 4320 "
           "polls: %.2f\n",
           f.req_day, base, b.req_day, f.req_day / 4320.0);
    return 0;
}

static const char split_sql[] =
    "SELECT coalesce(string_agg(n::text, ',' ORDER BY n), '') FROM "
    "(SELECT count(*) n FROM ghlsync.leases WHERE NOT released GROUP BY holder) x";

/* holders' counts within target +- tol and summing to n */
static bool balanced(PGconn *c, int holders, int n, int tol, char *desc, size_t len)
{
    char *v = tpg_scalar(c, split_sql);
    snprintf(desc, len, "%s", v ? v : "");
    int k = 0, sum = 0;
    bool ok = true;
    for (char *t = v ? strtok(v, ",") : NULL; t; t = strtok(NULL, ",")) {
        int x = atoi(t);
        sum += x;
        k++;
        ok = ok && abs(x - n / holders) <= tol;
    }
    free(v);
    return ok && k == holders && sum == n;
}

static int bench_split(int n)
{
    printf("== three processes, %d locations x 3 objects, default leases (ttl 30 s, heartbeat "
           "10 s)\n",
           n);
    fflush(stdout);
    char nl[16];
    snprintf(nl, sizeof nl, "%d", n);
    const char *args[] = {"--locations", nl, "--seed-records", "2", NULL};
    tsim s;
    if (tsim_start(&s, args) != 0)
        return 1;
    char ci[512], cfg[600], desc[128];
    PGconn *c = tpg_fresh_db("bsplit", ci, sizeof ci);
    if (!c || write_config(&s, ci, "split", cfg, sizeof cfg) != n) {
        tsim_stop(&s);
        return 1;
    }
    pid_t p[3];
    long t0 = tpull_now_ms();
    for (int i = 0; i < 3; i++)
        p[i] = tpull_spawn(cfg, (const char *[]){"run", NULL}, "/dev/null");
    /* the migrations first (no error lines from the queries below) */
    tpull_wait_scalar(c, "SELECT to_regclass('ghlsync.lease_holders') IS NOT NULL", "t", 60000);
    bool ok = false;
    for (long end = t0 + 180000; !ok && tpull_now_ms() < end; usleep(200 * 1000))
        ok = balanced(c, 3, n, 0, desc, sizeof desc);
    double t_split = (double)(tpull_now_ms() - t0) / 1000.0;
    int rc = 0;
    if (!ok) {
        printf("split: not balanced after 180 s: %s\n", desc);
        rc = 1;
    } else {
        char first[128];
        snprintf(first, sizeof first, "%s", desc);
        sleep(25); /* stable? */
        bool still = balanced(c, 3, n, 10, desc, sizeof desc);
        printf("split: %s (target %d +- 10 each) %.1f s after the three started; 25 s later: "
               "%s (%s)\n",
               first, n / 3, t_split, desc, still ? "within +- 10" : "NOT within +- 10");
        kill(p[2], SIGKILL);
        tpull_wait(p[2], 5000);
        long k0 = tpull_now_ms();
        bool taken = false;
        for (long end = k0 + 120000; !taken && tpull_now_ms() < end; usleep(100 * 1000))
            taken = balanced(c, 2, n, (n + 1) / 2, desc, sizeof desc);
        double t_take = (double)(tpull_now_ms() - k0) / 1000.0;
        if (taken)
            printf("takeover after kill -9 of one: %.1f s (the others then hold %s) against ttl "
                   "+ heartbeat = 40 s: %.2f\n",
                   t_take, desc, t_take / 40.0);
        else {
            printf("takeover: not within 120 s (%s)\n", desc);
            rc = 1;
        }
    }
    for (int i = 0; i < 2; i++) {
        kill(p[i], SIGTERM);
        tpull_wait(p[i], 20000);
    }
    long long left = scalar_ll(c, "SELECT count(*) FROM ghlsync.leases");
    printf("leases left after SIGTERM of the others: %lld\n", left);
    PQfinish(c);
    tsim_stop(&s);
    return rc;
}

/* ---- saturated: every location backfilling, one process ---- */

/* Busy CPU seconds of the whole machine (all cores; /proc/stat: all but idle and iowait). */
static double machine_busy_s(void)
{
    FILE *f = fopen("/proc/stat", "r");
    unsigned long long v[8] = {0};
    int got = f ? fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2],
                         &v[3], &v[4], &v[5], &v[6], &v[7])
                : 0;
    if (f)
        fclose(f);
    if (got < 5)
        return -1;
    unsigned long long busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
    return (double)busy / (double)sysconf(_SC_CLK_TCK);
}

/* The simulator's counters: requests per location (dailyUsed, 429s included, in the order of
 * GET /_admin/locations) into used[0..n), and the 429s served. Returns the locations read. */
static int sim_used(const tsim *s, long *used, int n, long *n429)
{
    char *body = NULL;
    if (tsim_admin(s, "GET", "/_admin/counters", NULL, &body) != 200) {
        free(body);
        return -1;
    }
    cJSON *j = cJSON_Parse(body ? body : "");
    free(body);
    *n429 = (long)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(j, "served429"));
    int i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(j, "rateLimit"))
    {
        if (i >= n)
            break;
        used[i++] = (long)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(e, "dailyUsed"));
    }
    cJSON_Delete(j);
    return i;
}

/* CPU seconds of the database's backends (they run on this machine too). */
static double pg_cpu_s(PGconn *c, const char *pids)
{
    (void)c;
    double sum = 0;
    char *dup = strdup(pids ? pids : "");
    for (char *t = dup ? strtok(dup, ",") : NULL; t; t = strtok(NULL, ",")) {
        double x = cpu_s((pid_t)atoi(t));
        if (x > 0)
            sum += x;
    }
    free(dup);
    return sum;
}

/* A free TCP port on 127.0.0.1 for the engine's /metrics (0 if none). */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int port = 0;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

/* Sum of the samples of a metric (every label set) in a /metrics text; -1 when absent. */
static double metric_sum(const char *text, const char *name)
{
    double sum = -1;
    size_t nl = strlen(name);
    for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        if (strncmp(l, name, nl) != 0 || (l[nl] != ' ' && l[nl] != '{'))
            continue;
        const char *v = l[nl] == '{' ? strchr(l + nl, '}') : l + nl;
        if (!v)
            continue;
        v += (*v == '}');
        sum = (sum < 0 ? 0 : sum) + strtod(v, NULL);
    }
    return sum;
}

/* The engine's HTTP requests in flight and database statements queued or running, now. */
static void engine_queues(int port, double *http_inflight, double *db_pending)
{
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/metrics", port);
    thttp_resp r = {0};
    *http_inflight = *db_pending = -1;
    if (port > 0 && thttp_do("GET", url, NULL, NULL, &r) == 0 && r.status == 200 && r.body) {
        *http_inflight = metric_sum(r.body, "ghlsync_http_inflight");
        *db_pending = metric_sum(r.body, "ghlsync_db_statements_pending");
    }
    thttp_resp_free(&r);
}

struct sat_fig {
    int n;
    double ramp_s, w_s, util, util_min, cpu_pct, us_req, sim_pct, pg_pct, mach_pct;
    double http_q, db_q; /* mean of the samples during the window (-1: no /metrics) */
    long req, n429_w, n429, rss, dry;
    bool steady;
};

#define SAT_RATE   10.0 /* the simulator's default limit: 100 per 10 s per location */
#define SAT_RAMP_S 60   /* longest wait for every location to reach 90 % of the rate */

/*
 * One step: N locations, each with enough records (page_size `page`) that its backfill outlasts
 * the ramp and the window; one `ghlsync run`; default limits. The window starts once every
 * location made at least 90 % of the limit's rate over the last 3 s twice in a row (or after
 * SAT_RAMP_S: then `steady` is false).
 */
static int sat_run(int n, int page, int window_s, struct sat_fig *o)
{
    memset(o, 0, sizeof *o);
    o->n = n;
    /* each of the 3 objects gets a third of the rate; the ramp may take up to SAT_RAMP_S (plus
     * the start-up before the first backfill request, which takes no records) */
    int pages = (int)((window_s + SAT_RAMP_S) * SAT_RATE / 3.0 * 1.1) + 1;
    char nl[16], rl[16], extra[128], log[600];
    int mport = free_port();
    snprintf(nl, sizeof nl, "%d", n);
    snprintf(rl, sizeof rl, "%d", pages * page);
    snprintf(extra, sizeof extra,
             "[pull]\npage_size = %d\n\n[metrics]\nlisten = \"127.0.0.1:%d\"\n", page, mport);
    const char *args[] = {"--locations", nl, "--seed-records", rl, NULL};
    tsim s;
    if (tsim_start(&s, args) != 0)
        return -1;
    char ci[512], cfg[600];
    PGconn *c = tpg_fresh_db("bsat", ci, sizeof ci);
    int got = c ? write_config_x(&s, ci, "sat", extra, cfg, sizeof cfg) : -1;
    if (got != n) {
        fprintf(stderr, "bench_agency: config for %d locations failed (%d)\n", n, got);
        PQfinish(c);
        tsim_stop(&s);
        return -1;
    }
    snprintf(log, sizeof log, "%.*s/ghlsync.log", (int)(strrchr(cfg, '/') - cfg), cfg);
    long *u0 = calloc((size_t)n, sizeof *u0), *u1 = calloc((size_t)n, sizeof *u1);
    long t0 = tpull_now_ms();
    pid_t p = tpull_spawn(cfg, (const char *[]){"run", NULL}, log);
    int rc = (p > 0 && u0 && u1) ? 0 : -1;
    long x429 = 0;
    int good = 0;
    if (rc == 0)
        sim_used(&s, u0, n, &x429);
    while (rc == 0 && good < 2 && tpull_now_ms() - t0 < SAT_RAMP_S * 1000) {
        sleep(3);
        if (sim_used(&s, u1, n, &x429) != n)
            continue;
        long lo = -1;
        for (int i = 0; i < n; i++)
            if (lo < 0 || u1[i] - u0[i] < lo)
                lo = u1[i] - u0[i];
        good = lo >= (long)(0.9 * SAT_RATE * 3) ? good + 1 : 0;
        memcpy(u0, u1, (size_t)n * sizeof *u0);
    }
    o->steady = good >= 2;
    o->ramp_s = (double)(tpull_now_ms() - t0) / 1000.0;
    if (rc == 0) {
        char *pids = tpg_scalar(c, "SELECT string_agg(pid::text, ',') FROM pg_stat_activity "
                                   "WHERE datname = current_database() AND pid <> "
                                   "pg_backend_pid()");
        long a429 = 0, b429 = 0;
        sim_used(&s, u0, n, &a429);
        double ce = cpu_s(p), cs = cpu_s(s.pid), cp = pg_cpu_s(c, pids), cm = machine_busy_s();
        long w0 = tpull_now_ms();
        /* sample the engine's queues every 5 s of the window */
        int ns = 0;
        double hq = 0, dq = 0;
        for (long end = w0 + window_s * 1000L; tpull_now_ms() < end;) {
            long left = end - tpull_now_ms();
            usleep((useconds_t)(left < 5000 ? left : 5000) * 1000);
            double h, d;
            if (tpull_now_ms() < end - 1000) {
                engine_queues(mport, &h, &d);
                if (h >= 0 && d >= 0) {
                    hq += h;
                    dq += d;
                    ns++;
                }
            }
        }
        o->http_q = ns ? hq / ns : -1;
        o->db_q = ns ? dq / ns : -1;
        int rd = sim_used(&s, u1, n, &b429);
        double w = (double)(tpull_now_ms() - w0) / 1000.0;
        o->w_s = w;
        o->cpu_pct = 100.0 * (cpu_s(p) - ce) / w;
        o->sim_pct = 100.0 * (cpu_s(s.pid) - cs) / w;
        o->pg_pct = 100.0 * (pg_cpu_s(c, pids) - cp) / w;
        o->mach_pct = 100.0 * (machine_busy_s() - cm) / w;
        o->rss = rss_kib(p, "VmRSS:");
        free(pids);
        long lo = -1;
        for (int i = 0; i < n && rd == n; i++) {
            long d = u1[i] - u0[i];
            o->req += d;
            if (lo < 0 || d < lo)
                lo = d;
        }
        if (rd != n)
            rc = -1;
        o->util = (double)o->req / ((double)n * SAT_RATE * w);
        o->util_min = (double)lo / (SAT_RATE * w);
        o->us_req = o->req > 0 ? 1e6 * (o->cpu_pct / 100.0 * w) / (double)o->req : 0;
        o->n429_w = b429 - a429;
        o->n429 = b429;
        o->dry = scalar_ll(c, "SELECT count(*) FROM ghlsync.pull_state WHERE complete");
    }
    if (p > 0) {
        kill(p, SIGTERM);
        tpull_wait(p, 30000);
    }
    free(u0);
    free(u1);
    PQfinish(c);
    tsim_stop(&s);
    /* the step's database is large: drop it before the next */
    PGconn *adm = PQconnectdb("dbname=postgres");
    char sql[600];
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s", ci + strlen("dbname="));
    if (PQstatus(adm) == CONNECTION_OK)
        PQclear(PQexec(adm, sql));
    PQfinish(adm);
    if (rc)
        fprintf(stderr, "bench_agency: saturated step %d failed (log %s)\n", n, log);
    return rc;
}

static bool sat_pass(const struct sat_fig *f)
{
    return f->steady && f->util >= 0.97 && f->n429 == 0 && f->dry == 0;
}

static void sat_print(const struct sat_fig *f)
{
    printf("N %5d | util %.3f (lowest location %.3f) | 429 %ld (window %ld) | ghlsync %5.1f %% "
           "of a core, %6.1f us/request, RSS %.1f MiB | hlsim %5.1f %%, postgres %5.1f %%, "
           "machine %5.1f %% of 200 | in flight: HTTP %.0f, db statements %.0f | ramp %.0f s%s%s | "
           "%s\n",
           f->n, f->util, f->util_min, f->n429, f->n429_w, f->cpu_pct, f->us_req, f->rss / 1024.0,
           f->sim_pct, f->pg_pct, f->mach_pct, f->http_q, f->db_q, f->ramp_s,
           f->steady ? "" : " (NOT steady)", f->dry ? " (a backfill ran dry)" : "",
           sat_pass(f) ? "pass" : "FAIL");
    fflush(stdout);
}

/* Double N from `start` while the step passes (up to `max`), then bisect twice between the
 * last pass and the first failure. */
static int bench_saturated(int start, int max, int window_s, int page)
{
    printf("== saturated: one `ghlsync run`, N locations x 3 objects all backfilling (page_size "
           "%d), limits 100 / 10 s per location, %d s window after the ramp; utilization = "
           "requests per location per second / 10 (simulator counters); pass = utilization >= "
           "0.97 and 0 x 429\n",
           page, window_s);
    fflush(stdout);
    int pass = 0, fail = 0;
    struct sat_fig f, first = {0}, best = {0};
    for (int n = start; n <= max; n *= 2) {
        if (sat_run(n, page, window_s, &f))
            return 1;
        sat_print(&f);
        if (!first.n)
            first = f;
        if (!sat_pass(&f)) {
            fail = n;
            break;
        }
        pass = n;
        best = f;
    }
    for (int k = 0; k < 2 && fail && fail - pass > 1 && pass; k++) {
        int mid = (pass + fail) / 2;
        if (sat_run(mid, page, window_s, &f))
            return 1;
        sat_print(&f);
        if (sat_pass(&f)) {
            pass = mid;
            best = f;
        } else {
            fail = mid;
        }
    }
    if (!pass) {
        printf("largest N at >= 0.97 with 0 x 429: none (N %d failed)\n", start);
        return 1;
    }
    char ff[48];
    snprintf(ff, sizeof ff, fail ? "first failure at N %d" : "no failure up to N %d",
             fail ? fail : max);
    printf("largest N at >= 0.97 with 0 x 429: %d (%s); CPU per request there %.1f us against "
           "%.1f us at N %d: %.2fx\n",
           pass, ff, best.us_req, first.us_req, first.n,
           first.us_req > 0 ? best.us_req / first.us_req : 0);
    return 0;
}

int main(int argc, char **argv)
{
    if (!tpg_available() || !getenv("GHLSYNC_BIN") || !getenv("HLSIM_BIN")) {
        fprintf(stderr, "bench_agency: needs PGHOST, GHLSYNC_BIN and HLSIM_BIN "
                        "(tests/bench/agency.sh)\n");
        return 2;
    }
    if (argc >= 2 && strcmp(argv[1], "idle") == 0)
        return bench_idle(argc > 2 ? atoi(argv[2]) : 2000, argc > 3 ? atoi(argv[3]) : 100,
                          argc > 4 ? atoi(argv[4]) : 120);
    if (argc >= 2 && strcmp(argv[1], "split") == 0)
        return bench_split(argc > 2 ? atoi(argv[2]) : 300);
    if (argc >= 2 && strcmp(argv[1], "saturated") == 0)
        return bench_saturated(argc > 2 ? atoi(argv[2]) : 10, argc > 3 ? atoi(argv[3]) : 5000,
                               argc > 4 ? atoi(argv[4]) : 30, argc > 5 ? atoi(argv[5]) : 10);
    fprintf(stderr, "usage: bench_agency idle [N BASE WINDOW_S] | split [N] | saturated [START "
                    "MAX WINDOW_S PAGE_SIZE]\n");
    return 2;
}
