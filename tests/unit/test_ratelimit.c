/* Unit tests for the rate budget arithmetic and the scheduler's ordering, on a fake clock. */
#include "loop.h"
#include "ratelimit.h"
#include "test.h"

#include <stdlib.h>
#include <string.h>

static http_rate no_rate(void)
{
    http_rate r = {-1, -1, -1, -1, -1, -1};
    return r;
}

/* Start requests as soon as allowed (plus a pseudo-random timer lateness) and check that no
 * rolling window ever holds more than `burst` starts while utilisation stays high. */
static void pacing_never_exceeds_rolling_window(void)
{
    rl_params p = {.burst = 100, .window_ms = 1000, .headroom = 0.02};
    rl_budget b;
    rl_budget_init(&b, &p);
    enum { N = 3000 };
    uint64_t *t = calloc(N, sizeof *t);
    TEST_REQUIRE(t != NULL);
    uint64_t now = 0, seed = 12345;
    for (int i = 0; i < N; i++) {
        uint64_t at = rl_budget_next(&b, RL_PRIO_BACKFILL, now);
        if (at > now)
            now = at;
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        now += (seed >> 33) % 4; /* 0..3 ms late, like a busy loop */
        rl_budget_take(&b, RL_PRIO_BACKFILL, now);
        t[i] = now;
        http_rate r = no_rate();
        rl_budget_done(&b, &r, 200, now, 0);
    }
    int worst = 0;
    for (int i = 0, j = 0; i < N; i++) {
        while (t[i] - t[j] >= 1000)
            j++;
        if (i - j + 1 > worst)
            worst = i - j + 1;
    }
    TEST_CHECK_MSG(worst <= 99, "max starts in a 1000 ms rolling window: %d", worst);
    double allowed = (double)(t[N - 1] - t[0]) / 1000.0 * 100.0;
    double util = (double)(N - 1) / allowed;
    TEST_CHECK_MSG(util >= 0.96 && util <= 1.0, "utilisation %.3f", util);
    free(t);
}

static void retry_after_holds_then_resumes(void)
{
    rl_params p = {.burst = 100, .window_ms = 10000};
    rl_budget b;
    rl_budget_init(&b, &p);
    rl_budget_take(&b, RL_PRIO_PULL, 1000);
    http_rate r = no_rate();
    r.retry_after_s = 3;
    r.remaining = 0;
    rl_budget_done(&b, &r, 429, 1100, 0);
    TEST_EQ_INT(b.n_429, 1);
    TEST_EQ_INT(rl_budget_next(&b, RL_PRIO_PUSH, 1100), 4100);
    /* without Retry-After the interval is waited */
    rl_budget_take(&b, RL_PRIO_PULL, 4100);
    r.retry_after_s = -1;
    r.interval_ms = 10000;
    rl_budget_done(&b, &r, 429, 4200, 0);
    TEST_EQ_INT(rl_budget_next(&b, RL_PRIO_PUSH, 4200), 14200);
    /* after the hold, pacing resumes one interval apart */
    rl_budget_take(&b, RL_PRIO_PULL, 14200);
    TEST_CHECK(rl_budget_next(&b, RL_PRIO_PULL, 14200) >= 14200 + 100);
}

static void remaining_below_inflight_slows(void)
{
    rl_params p = {.burst = 10, .window_ms = 1000, .headroom = 0.0001};
    rl_budget b;
    rl_budget_init(&b, &p);
    for (int i = 0; i < 4; i++)
        rl_budget_take(&b, RL_PRIO_PULL, (uint64_t)(i * 100));
    uint64_t before = rl_budget_next(&b, RL_PRIO_PULL, 400);
    http_rate r = no_rate();
    r.remaining = 1; /* someone else is spending this budget: 3 still in flight, 1 left */
    rl_budget_done(&b, &r, 200, 400, 0);
    uint64_t after = rl_budget_next(&b, RL_PRIO_PULL, 400);
    TEST_CHECK_MSG(after >= 400 + 2 * 100 && after > before, "before %llu after %llu",
                   (unsigned long long)before, (unsigned long long)after);
    /* a normal answer (remaining covers what is in flight) changes nothing */
    rl_budget b2;
    rl_budget_init(&b2, &p);
    rl_budget_take(&b2, RL_PRIO_PULL, 0);
    uint64_t n0 = rl_budget_next(&b2, RL_PRIO_PULL, 0);
    r.remaining = 9;
    rl_budget_done(&b2, &r, 200, 5, 0);
    TEST_EQ_INT(rl_budget_next(&b2, RL_PRIO_PULL, 5), n0);
}

static void server_limits_override_config(void)
{
    rl_params p = {.burst = 100, .window_ms = 10000, .headroom = 0.02};
    rl_budget b;
    rl_budget_init(&b, &p);
    http_rate r = no_rate();
    r.max = 50;
    r.interval_ms = 1000;
    r.remaining = 49;
    rl_budget_take(&b, RL_PRIO_PULL, 0);
    rl_budget_done(&b, &r, 200, 1, 0);
    TEST_EQ_INT(b.p.burst, 50);
    TEST_EQ_INT(b.p.window_ms, 1000);
    TEST_CHECK(b.interval_ms > 20.0 && b.interval_ms < 20.6);
}

static void daily_low_slows_pull_and_zero_waits_for_utc_day(void)
{
    rl_params p = {.burst = 100, .window_ms = 1000, .daily = 1000, .daily_low = 0.05};
    rl_budget b;
    rl_budget_init(&b, &p);
    http_rate r = no_rate();
    r.daily_limit = 1000;
    r.daily_remaining = 30; /* below 5% */
    rl_budget_take(&b, RL_PRIO_PULL, 0);
    rl_budget_done(&b, &r, 200, 1, 0);
    rl_budget_take(&b, RL_PRIO_PULL, 20);
    uint64_t pull = rl_budget_next(&b, RL_PRIO_PULL, 20);
    uint64_t push = rl_budget_next(&b, RL_PRIO_PUSH, 20);
    TEST_CHECK_MSG(pull >= 20 + 4 * 10 && push <= 20 + 11, "pull %llu push %llu",
                   (unsigned long long)pull, (unsigned long long)push);

    /* 0 remaining at 23:00:00 UTC: blocked until 00:00:01 UTC, for every priority */
    uint64_t wall = 1700006400000ull - 3600000ull; /* 1700006400000 is a UTC midnight */
    TEST_EQ_INT(1700006400000ull % 86400000ull, 0);
    rl_budget_take(&b, RL_PRIO_PUSH, 100);
    r.daily_remaining = 0;
    TEST_EQ_INT(rl_budget_done(&b, &r, 200, 100, wall), 1);
    TEST_EQ_INT(rl_budget_next(&b, RL_PRIO_PUSH, 100), 100 + 3600000 + 1000);
    TEST_EQ_INT(rl_budget_next(&b, RL_PRIO_BACKFILL, 100), 100 + 3600000 + 1000);
    /* after the rollover a response clears the block */
    rl_budget_take(&b, RL_PRIO_PUSH, 3702000);
    r.daily_remaining = 999;
    TEST_EQ_INT(rl_budget_done(&b, &r, 200, 3702000, wall + 3602000), 0);
    TEST_EQ_INT(b.day_block_until, 0);
}

/* ---- scheduler ordering ---- */

typedef struct {
    rl_item it;
    char tag[16];
    char (*log)[16];
    int *n;
} titem;

static void grant_log(rl_item *it)
{
    titem *t = (titem *)it;
    memcpy(t->log[*t->n], t->tag, sizeof t->tag);
    (*t->n)++;
}

static void priorities_then_round_robin(void)
{
    gs_loop L;
    gs_err e = {0};
    TEST_REQUIRE(gs_loop_init(&L, NULL, NULL, &e) == 0);
    rl_params p = {.burst = 10, .window_ms = 1000, .max_inflight = 100};
    rl_loc *loc = rl_location(L.sched, "loc1", &p);
    TEST_REQUIRE(loc != NULL);
    TEST_CHECK(rl_location(L.sched, "loc1", NULL) == loc);
    rl_queue *bf_a = rl_queue_get(loc, "a", RL_PRIO_BACKFILL);
    rl_queue *bf_b = rl_queue_get(loc, "b", RL_PRIO_BACKFILL);
    rl_queue *push = rl_queue_get(loc, "a", RL_PRIO_PUSH);
    rl_queue *schema = rl_queue_get(loc, "schema", RL_PRIO_SCHEMA);
    TEST_REQUIRE(bf_a && bf_b && push && schema && bf_a != push);
    char log[32][16];
    int n = 0;
    titem items[12];
    memset(items, 0, sizeof items);
    const char *tags[12] = {"a1", "a2", "a3", "a4", "b1", "b2", "s1", "p1", "p2", "x", "", ""};
    rl_queue *qs[12] = {bf_a, bf_a, bf_a, bf_a, bf_b, bf_b, schema, push, push, bf_a, 0, 0};
    for (int i = 0; i < 10; i++) {
        snprintf(items[i].tag, sizeof items[i].tag, "%s", tags[i]);
        items[i].log = log;
        items[i].n = &n;
        items[i].it.grant = grant_log;
        rl_submit(qs[i], &items[i].it);
    }
    TEST_CHECK(rl_cancel(&items[9].it));
    TEST_CHECK(!rl_cancel(&items[9].it));
    TEST_EQ_INT(n, 0); /* never granted inside rl_submit */
    TEST_EQ_INT(rl_sched_pending(L.sched), 9);
    uint64_t now = 1000000;
    for (int guard = 0; guard < 100 && rl_sched_pending(L.sched) > 0; guard++) {
        uint64_t next = rl_sched_dispatch(L.sched, now, 0);
        TEST_REQUIRE(next != UINT64_MAX || rl_sched_pending(L.sched) == 0);
        if (next != UINT64_MAX)
            now = next;
    }
    TEST_EQ_INT(n, 9);
    const char *want[9] = {"p1", "p2", "s1", "a1", "b1", "a2", "b2", "a3", "a4"};
    for (int i = 0; i < 9 && i < n; i++)
        TEST_EQ_STR(log[i], want[i]);
    /* a push submitted while backfill waits goes first */
    const rl_budget *b = rl_loc_budget(loc);
    TEST_EQ_INT(b->inflight, 9);
    TEST_EQ_INT(b->n_started, 9);
    http_rate r = no_rate();
    for (int i = 0; i < 9; i++)
        rl_complete(loc, &r, 200);
    TEST_EQ_INT(b->inflight, 0);
    gs_loop_close(&L);
}

static void inflight_cap_holds_until_completion(void)
{
    gs_loop L;
    gs_err e = {0};
    TEST_REQUIRE(gs_loop_init(&L, NULL, NULL, &e) == 0);
    rl_params p = {.burst = 1000, .window_ms = 1000, .max_inflight = 2};
    rl_loc *loc = rl_location(L.sched, "loc2", &p);
    rl_queue *q = rl_queue_get(loc, "o", RL_PRIO_PULL);
    char log[8][16];
    int n = 0;
    titem items[4];
    memset(items, 0, sizeof items);
    for (int i = 0; i < 4; i++) {
        snprintf(items[i].tag, sizeof items[i].tag, "%d", i);
        items[i].log = log;
        items[i].n = &n;
        items[i].it.grant = grant_log;
        rl_submit(q, &items[i].it);
    }
    uint64_t now = 5000;
    for (int i = 0; i < 10; i++) {
        uint64_t next = rl_sched_dispatch(L.sched, now, 0);
        if (next != UINT64_MAX)
            now = next;
    }
    TEST_EQ_INT(n, 2);
    http_rate r = no_rate();
    rl_complete(loc, &r, 200);
    rl_sched_dispatch(L.sched, now + 10, 0);
    TEST_EQ_INT(n, 3);
    rl_complete(loc, &r, 200);
    rl_complete(loc, &r, 200);
    rl_sched_dispatch(L.sched, now + 20, 0);
    TEST_EQ_INT(n, 4);
    rl_complete(loc, &r, 200);
    gs_loop_close(&L);
}

int main(void)
{
    TEST_RUN(pacing_never_exceeds_rolling_window);
    TEST_RUN(retry_after_holds_then_resumes);
    TEST_RUN(remaining_below_inflight_slows);
    TEST_RUN(server_limits_override_config);
    TEST_RUN(daily_low_slows_pull_and_zero_waits_for_utc_day);
    TEST_RUN(priorities_then_round_robin);
    TEST_RUN(inflight_cap_holds_until_completion);
    return test_done();
}
