/*
 * bench_dispatch - the rate scheduler alone (no HTTP, no database) with many locations, on the
 * real loop: N locations x 3 queues, each queue keeping one backfill request outstanding as a
 * pull lane does, smooth mode on (as under `ghlsync run`), default limits (100 / 10 s); a
 * granted request "completes" LAT_MS later (a loop timer) and its lane submits the next one.
 * Prints, per N, the grants per location per second against the limit's 10 (utilization) and
 * the CPU per grant, so that the cost of a dispatch as N grows shows apart from everything
 * else a request costs (bench_agency saturated measures the whole engine), and the CPU per
 * grant at the last N against the first. rl_sched_dispatch walks every location with queued
 * items on each call; calls are at most one per loop iteration, so the walk is amortised over
 * every grant of that iteration (a min-heap of wake-up times measured 1.6-2x the CPU per
 * grant of the walk at 1,000-5,000 locations here, and was not kept).
 *   bench_dispatch SECONDS LAT_MS N...
 */
#include "loop.h"
#include "ratelimit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

typedef struct lane {
    rl_item it; /* first: the grant callback gets &lane->it */
    rl_loc *loc;
    rl_queue *q;
    uv_timer_t done;
    long *grants;
    int lat_ms;
} lane;

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void on_done(uv_timer_t *t)
{
    lane *l = t->data;
    http_rate r = {-1, -1, -1, -1, -1, -1};
    rl_complete(l->loc, &r, 200);
    rl_submit(l->q, &l->it);
}

static void on_grant(rl_item *it)
{
    lane *l = (lane *)it;
    (*l->grants)++;
    uv_timer_start(&l->done, on_done, (uint64_t)l->lat_ms, 0);
}

typedef struct phase {
    gs_loop *L;
    uv_timer_t t;
    int step; /* 0 warm-up, 1 window */
    double seconds, c0, w0, cpu, wall;
    long *grants, g0, got;
} phase;

static void on_phase(uv_timer_t *t)
{
    phase *p = t->data;
    if (p->step == 0) {
        p->step = 1;
        p->c0 = cpu_s();
        p->w0 = mono_s();
        p->g0 = *p->grants;
        uv_timer_start(t, on_phase, (uint64_t)(p->seconds * 1000), 0);
        return;
    }
    p->cpu = cpu_s() - p->c0;
    p->wall = mono_s() - p->w0;
    p->got = *p->grants - p->g0;
    gs_loop_stop(p->L);
}

static int one(int n, double seconds, int lat_ms, double *us_grant)
{
    gs_loop L;
    gs_err e = {0};
    if (gs_loop_init(&L, NULL, NULL, &e)) {
        fprintf(stderr, "bench_dispatch: %s\n", e.msg);
        return 1;
    }
    lane *lanes = calloc((size_t)n * 3, sizeof *lanes);
    long grants = 0;
    if (!lanes)
        return 1;
    rl_params rp = {0};
    for (int i = 0; i < n; i++) {
        char id[32], qn[8];
        snprintf(id, sizeof id, "loc%d", i);
        rl_loc *loc = rl_location(L.sched, id, &rp);
        if (!loc)
            return 1;
        rl_loc_set_smooth(loc, true);
        for (int k = 0; k < 3; k++) {
            lane *l = &lanes[i * 3 + k];
            snprintf(qn, sizeof qn, "o%d", k);
            l->loc = loc;
            l->q = rl_queue_get(loc, qn, RL_PRIO_BACKFILL);
            l->grants = &grants;
            l->lat_ms = lat_ms;
            l->it.grant = on_grant;
            uv_timer_init(&L.uv, &l->done);
            l->done.data = l;
            rl_submit(l->q, &l->it);
        }
    }
    /* warm-up: one window, so the pacing clocks and held slots are in their steady state */
    phase p = {.L = &L, .seconds = seconds, .grants = &grants};
    uv_timer_init(&L.uv, &p.t);
    p.t.data = &p;
    uv_timer_start(&p.t, on_phase, 10500, 0);
    gs_loop_run(&L);
    double util = (double)p.got / ((double)n * 10.0 * p.wall);
    *us_grant = p.got > 0 ? 1e6 * p.cpu / (double)p.got : 0;
    printf("N %5d | grants %7.0f/s, utilization %.3f | CPU %5.1f %% of a core, %.2f us per grant\n",
           n, (double)p.got / p.wall, util, 100.0 * p.cpu / p.wall, *us_grant);
    fflush(stdout);
    for (int i = 0; i < n * 3; i++)
        uv_close((uv_handle_t *)&lanes[i].done, NULL);
    uv_close((uv_handle_t *)&p.t, NULL);
    gs_loop_close(&L);
    free(lanes);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: bench_dispatch SECONDS LAT_MS N...\n");
        return 2;
    }
    double seconds = atof(argv[1]);
    int lat = atoi(argv[2]);
    printf("== rate scheduler alone: N locations x 3 backfill lanes, smooth mode, 100 / 10 s, "
           "completion %d ms after the grant, %.0f s window after a 10.5 s warm-up\n",
           lat, seconds);
    int rc = 0;
    double first = 0, last = 0;
    for (int i = 3; i < argc; i++) {
        rc |= one(atoi(argv[i]), seconds, lat, &last);
        if (i == 3)
            first = last;
    }
    if (argc > 4 && first > 0)
        printf("CPU per grant at N %s against N %s: %.2fx for %.0fx the locations\n",
               argv[argc - 1], argv[3], last / first, atof(argv[argc - 1]) / atof(argv[3]));
    return rc;
}
