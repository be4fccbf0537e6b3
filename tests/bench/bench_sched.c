/*
 * bench_sched - the rate scheduler against the simulator (HLSIM_BIN).
 *  1. utilisation and 429s, one location, default limits (100 / 10 s), backfill saturating;
 *  2. the same over 50 locations at once (--locations 50);
 *  3. p50/p99 latency of a push while backfill saturates the location, as a ratio against the
 *     same push on an idle location (baseline measured first, same process); runs 1-3 are in
 *     smooth mode (rl_loc_set_smooth), as under `ghlsync run`, where the push service is on;
 *  4. a backfill of N requests alone, bursting as `ghlsync backfill` does (no push service):
 *     time to its last response against the floor the rolling window allows,
 *     floor((N-1)/B) windows;
 *  5. limits off (--burst 0): requests/s and CPU per request.
 *   bench_sched [seconds per run, default 30]
 */
#include "hlapi.h"
#include "loop.h"
#include "tsim.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define MAXLOC TSIM_MAX_LOC

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

typedef struct run run;
typedef struct feeder {
    run *r;
    hl_location *l;
    int outstanding;
} feeder;

struct run {
    double end;
    long ok, fail, n429;
    long limit, sent; /* limit > 0: that many backfill requests in all */
    double last_done; /* mono() of the last backfill response */
    feeder f[MAXLOC];
    int nf;
    int depth;
    /* push probes */
    hl_location *push_loc;
    double push_t[4096];
    int npush;
    uv_timer_t probe;
};

static void feed(feeder *f);

static void on_bf(hl_result *res, void *ud)
{
    feeder *f = ud;
    f->outstanding--;
    if (res->kind == HL_OK)
        f->r->ok++;
    else
        f->r->fail++;
    if (res->status == 429)
        f->r->n429++;
    f->r->last_done = mono();
    feed(f);
}

static void feed(feeder *f)
{
    gs_err e;
    while (mono() < f->r->end && f->outstanding < f->r->depth &&
           (f->r->limit <= 0 || f->r->sent < f->r->limit)) {
        if (hl_list_objects(f->l, RL_PRIO_BACKFILL, on_bf, f, &e) != 0)
            break;
        f->outstanding++;
        f->r->sent++;
    }
}

typedef struct {
    run *r;
    double t0;
} probe_req;

static void on_push(hl_result *res, void *ud)
{
    probe_req *p = ud;
    if (res->kind == HL_OK && p->r->npush < 4096)
        p->r->push_t[p->r->npush++] = mono() - p->t0;
    free(p);
}

static void on_probe(uv_timer_t *t)
{
    run *r = t->data;
    if (mono() >= r->end) {
        uv_timer_stop(t);
        return;
    }
    probe_req *p = malloc(sizeof *p);
    p->r = r;
    p->t0 = mono();
    gs_err e;
    if (hl_get_schema(r->push_loc, "business", RL_PRIO_PUSH, on_push, p, &e) != 0)
        free(p);
}

static int cmpd(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(double *v, int n, double p)
{
    if (n == 0)
        return 0;
    qsort(v, (size_t)n, sizeof *v, cmpd);
    int i = (int)(p * (n - 1) + 0.5);
    return v[i];
}

/* One run: `nloc` locations saturated by backfill for `secs` (or `limit` backfill requests in
 * all); optional push probes; `smooth`: every location in smooth mode. */
static void one(const tsim *s, int loc0, int nloc, double secs, int burst, int window_ms,
                bool probes, bool backfill, bool smooth, long limit, run *r, double *wall,
                double *cpus)
{
    gs_loop L;
    gs_err e = {0};
    http_opts ho = {.insecure_http = true};
    gs_loop_init(&L, NULL, &ho, &e);
    hl_client *c;
    hl_client_opts o = {.base_url = s->base_url,
                        .rate = {.burst = burst, .window_ms = window_ms, .max_inflight = 64}};
    hl_client_new(&L, &o, &c, &e);
    memset(r, 0, sizeof *r);
    r->limit = limit;
    r->depth = burst > 100000 ? 64 : 8;
    for (int i = 0; i < nloc && loc0 + i < s->n_loc; i++) {
        r->f[i].r = r;
        r->f[i].l = hl_location_add(c, s->loc[loc0 + i].id, s->loc[loc0 + i].token, NULL, 0, NULL,
                                    NULL, &e);
        if (smooth)
            rl_loc_set_smooth(hl_location_budget(r->f[i].l), true);
        r->nf++;
    }
    double t0 = mono(), c0 = cpu();
    r->end = t0 + secs;
    r->last_done = t0;
    if (backfill)
        for (int i = 0; i < r->nf; i++)
            feed(&r->f[i]);
    if (probes) {
        r->push_loc = r->f[0].l;
        uv_timer_init(&L.uv, &r->probe);
        r->probe.data = r;
        uv_timer_start(&r->probe, on_probe, 100, 250);
    }
    gs_loop_run(&L);
    *wall = (limit > 0 ? r->last_done : mono()) - t0;
    *cpus = cpu() - c0;
    if (probes)
        uv_close((uv_handle_t *)&r->probe, NULL);
    hl_stats st;
    hl_client_stats(c, &st);
    r->n429 = st.n429;
    hl_client_free(c);
    gs_loop_close(&L);
}

int main(int argc, char **argv)
{
    double secs = argc > 1 ? atof(argv[1]) : 30;
    signal(SIGPIPE, SIG_IGN);
    static run r;
    double wall, cp;
    int rc = 0;

    tsim s1;
    const char *a1[] = {"--locations", "50", NULL};
    if (tsim_start(&s1, a1) != 0) {
        /* older simulators cap --locations; use what they allow and say so */
        const char *a16[] = {"--locations", "16", NULL};
        if (tsim_start(&s1, a16) != 0) {
            fprintf(stderr, "bench_sched: cannot start the simulator\n");
            return 1;
        }
        printf("(simulator refused --locations 50; using %d locations)\n", s1.n_loc);
    }
    /* Each run starts on locations whose server window is empty (others' leftovers would count
     * as foreign use): baseline on location 1, runs on 0, the backfill alone on 2, then all. */
    /* baseline: push latency on an idle location */
    one(&s1, 1, 1, 5, 100, 10000, true, false, true, 0, &r, &wall, &cp);
    int nb = r.npush;
    double b50 = pct(r.push_t, nb, 0.5), b99 = pct(r.push_t, nb, 0.99);
    printf("push latency, idle location (baseline): p50 %.1f ms p99 %.1f ms (n=%d)\n", b50 * 1e3,
           b99 * 1e3, nb);

    one(&s1, 0, 1, secs, 100, 10000, true, true, true, 0, &r, &wall, &cp);
    double allowed = 100.0 * wall / 10.0;
    double p50 = pct(r.push_t, r.npush, 0.5), p99 = pct(r.push_t, r.npush, 0.99);
    printf("smooth mode (as ghlsync run), 1 location, %.0f s: served %ld (+%d push) of %.0f "
           "allowed: utilisation %.3f, 429s %ld\n",
           wall, r.ok, r.npush, allowed, (r.ok + r.npush) / allowed, r.n429);
    printf(
        "push latency under saturating backfill (smooth): p50 %.1f ms (%.2fx baseline) p99 %.1f ms "
        "(%.2fx baseline) (n=%d)\n",
        p50 * 1e3, b50 > 0 ? p50 / b50 : 0, p99 * 1e3, b99 > 0 ? p99 / b99 : 0, r.npush);
    if (r.n429 || p99 >= 1.0)
        rc = 1;
    double util1 = (r.ok + r.npush) / allowed;

    /* backfill alone, bursting (ghlsync backfill): N requests in about `secs` */
    int windows = (int)(secs / 10.0);
    if (windows < 1)
        windows = 1;
    long n = 100L * windows + 52;
    one(&s1, 2, 1, 10.0 * windows + 60, 100, 10000, false, true, false, n, &r, &wall, &cp);
    double floor_s = (double)((n - 1) / 100) * 10.0;
    printf("backfill alone, bursting (ghlsync backfill): %ld requests (%ld ok) in %.2f s, floor "
           "%.0f s: %.3fx the floor, 429s %ld\n",
           n, r.ok, wall, floor_s, wall / floor_s, r.n429);
    if (r.n429 || r.ok + r.fail != n)
        rc = 1;

    one(&s1, 0, 50, secs, 100, 10000, false, true, true, 0, &r, &wall, &cp);
    allowed = 100.0 * wall / 10.0 * (s1.n_loc < 50 ? s1.n_loc : 50);
    printf("smooth mode, %d locations, %.0f s: served %ld of %.0f allowed: utilisation %.3f (%.2fx "
           "the 1-location "
           "figure), 429s %ld\n",
           s1.n_loc < 50 ? s1.n_loc : 50, wall, r.ok, allowed, r.ok / allowed,
           util1 > 0 ? (r.ok / allowed) / util1 : 0, r.n429);

    tsim_stop(&s1);

    tsim s2;
    const char *a2[] = {"--burst", "0", "--daily", "0", NULL};
    if (tsim_start(&s2, a2) == 0) {
        one(&s2, 0, 1, 10, 100000000, 1000, false, true, false, 0, &r, &wall, &cp);
        printf("limits off, 1 location, 64 in flight: %.0f requests/s, %.1f us CPU per request "
               "(client process)\n",
               r.ok / wall, cp / (r.ok ? r.ok : 1) * 1e6);
        tsim_stop(&s2);
    }
    return rc;
}
