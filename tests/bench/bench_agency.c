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
 */
#include "tpg.h"
#include "tpull.h"
#include "tsim.h"

#include <cjson/cJSON.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
static int write_config(const tsim *s, const char *conninfo, const char *tag, char *path,
                        size_t len)
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
    fprintf(stderr, "usage: bench_agency idle [N BASE WINDOW_S] | split [N]\n");
    return 2;
}
