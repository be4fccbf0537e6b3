/*
 * ratelimit.h - the per-location rate budget and the request scheduler built on it.
 *
 * HighLevel allows `burst` requests per ROLLING `window_ms` (100 / 10 s) and `daily` per UTC day,
 * per app token per location. The engine must never see a 429 in steady state, so every request
 * to a location is released by this scheduler, which paces them evenly:
 *
 *   emission interval T = window_ms / burst * (1 + headroom)
 *
 * as a GCRA (a request may start at its theoretical time TAT; TAT' = max(TAT, now - T/2) + T).
 * Any B+1 consecutive requests then span at least B*T - T/2 > window_ms, so a rolling window on
 * the server never holds more than `burst`, with `window_ms * headroom` (minus T/2) of slack for
 * jitter in network latency. Push latency stays near T because nothing is ever sent as a burst.
 *
 * Corrections from the server, on every response (rl_complete):
 *  - X-RateLimit-Max / -Interval-Milliseconds replace the configured burst/window (the server
 *    is authoritative; the configured values are the starting point).
 *  - X-RateLimit-Remaining minus the requests still in flight below zero (someone else spends
 *    this budget) pushes TAT out by one interval per missing slot.
 *  - 429: nothing starts for Retry-After seconds (or the interval when absent), then pacing
 *    resumes from there (below the limit by construction).
 *  - X-RateLimit-Daily-Remaining: below `daily_low` (a fraction of the daily limit) every class
 *    but push is paced 4x slower; at 0 nothing starts until 00:00:01 UTC, logged once
 *    ("rate.daily_exhausted") and resumed by itself ("rate.daily_resumed").
 * A cap on requests in flight per location (max_inflight) keeps slow responses from piling up.
 *
 * Priorities (lower value first): RL_PRIO_AUTH (token refresh, internal) > RL_PRIO_PUSH >
 * RL_PRIO_PULL (incremental) > RL_PRIO_SCHEMA > RL_PRIO_BACKFILL. Within one priority of one
 * location, queues (one per object, or any name the caller picks) take turns round-robin, so a
 * big object cannot starve a small one.
 *
 * Use (all on the loop thread):
 *   rl_loc *loc = rl_location(L->sched, "locId", &params);       // get or create, owned by sched
 *   rl_queue *q = rl_queue_get(loc, "custom_objects.pet", RL_PRIO_BACKFILL); // owned by loc
 *   it->grant = my_start; rl_submit(q, it);   // `it` is caller memory embedded in its request
 *   ... later, from the loop: my_start(it) -> the caller starts its HTTP request now (it is
 *       already counted as in flight) ...
 *   ... on the response: rl_complete(loc, &result->rate, status);   // exactly once per grant
 * hlapi.h does all of this for API calls; workers only pick a priority and a queue name.
 *
 * Ownership: the scheduler owns rl_loc and rl_queue objects (freed by rl_sched_free). An rl_item
 * belongs to the caller; it must stay valid until granted or rl_cancel'ed.
 *
 * rl_budget is pure arithmetic on explicit clocks (monotonic `now` and UTC `wall`, both ms) so
 * that it can be unit-tested without waiting.
 */
#ifndef GHLSYNC_RATELIMIT_H
#define GHLSYNC_RATELIMIT_H

#include "http.h"
#include "loop.h"

#include <stdbool.h>
#include <stdint.h>

enum rl_prio {
    RL_PRIO_AUTH = 0,
    RL_PRIO_PUSH = 1,
    RL_PRIO_PULL = 2,
    RL_PRIO_SCHEMA = 3,
    RL_PRIO_BACKFILL = 4,
    RL_NPRIO = 5
};

typedef struct rl_params {
    int burst;        /* requests per window; default 100 */
    int window_ms;    /* rolling window; default 10000 */
    long daily;       /* requests per UTC day; default 200000 */
    double headroom;  /* fraction kept unused; default 0.02 */
    double daily_low; /* fraction of `daily` below which non-push slows; default 0.05 */
    int max_inflight; /* per location; default 16 */
} rl_params;

/* Fill zero fields of `p` with the defaults above. */
void rl_params_defaults(rl_params *p);

typedef struct rl_budget {
    rl_params p;              /* effective values (server-corrected) */
    double interval_ms;       /* T */
    double tat;               /* theoretical time of the next start (monotonic ms) */
    double slow_tat;          /* same for non-push classes while the daily budget is low */
    uint64_t hold_until;      /* nothing starts before (429, Remaining exhausted) */
    uint64_t day_block_until; /* monotonic ms; 0 = not blocked by the daily limit */
    long daily_remaining;     /* -1 unknown; estimate: last header minus starts since */
    long daily_limit;         /* -1 unknown */
    int inflight;
    long n_started, n_429;
} rl_budget;

void rl_budget_init(rl_budget *b, const rl_params *p);

/* Earliest monotonic ms at which a request of priority `prio` may start (<= now: now). */
uint64_t rl_budget_next(const rl_budget *b, int prio, uint64_t now);

/* A request of priority `prio` starts now (call only when rl_budget_next(...) <= now). */
void rl_budget_take(rl_budget *b, int prio, uint64_t now);

/* A response (or a transport failure: status 0, rate fields -1) for a started request.
 * `wall` is UTC ms, used for the day rollover. Returns 1 when this call just blocked the budget
 * until the next UTC day, 0 otherwise. */
int rl_budget_done(rl_budget *b, const http_rate *rate, long status, uint64_t now, uint64_t wall);

/* ---- scheduler ---- */

typedef struct rl_sched rl_sched;
typedef struct rl_loc rl_loc;
typedef struct rl_queue rl_queue;

typedef struct rl_item rl_item;
struct rl_item {
    rl_item *next;              /* scheduler's link while queued */
    rl_queue *queue;            /* set by rl_submit */
    void (*grant)(rl_item *it); /* called on the loop when the request may start */
    uint64_t submitted_ms;      /* set by rl_submit (monotonic); for delay statistics */
    uint64_t due_ms;            /* rl_submit_after: when it joins its queue */
    bool delayed;               /* on the delayed list rather than in its queue */
};

rl_sched *rl_sched_new(gs_loop *L);
void rl_sched_free(rl_sched *s);

/* Get or create the budget of a location; `p` (may be NULL: defaults) is used on creation only.
 * The id is copied. Returns NULL on OOM. */
rl_loc *rl_location(rl_sched *s, const char *location_id, const rl_params *p);

/* Get or create a queue of one priority in a location (name copied). NULL on OOM. */
rl_queue *rl_queue_get(rl_loc *loc, const char *name, int prio);

/* Queue `it`; its grant callback runs later from the loop, when the budget allows. */
void rl_submit(rl_queue *q, rl_item *it);

/* Queue `it` for submission after `delay_ms` (retry backoff); same contract as rl_submit. The
 * caller's `it` must stay valid; rl_cancel also removes delayed items. */
void rl_submit_after(rl_queue *q, rl_item *it, uint64_t delay_ms);

/* Remove a queued (not yet granted) item; returns true when it was queued. */
bool rl_cancel(rl_item *it);

/* Report the response to a granted request (exactly once per grant). */
void rl_complete(rl_loc *loc, const http_rate *rate, long status);

/* Read-only view of a location's budget (statistics, tests). */
const rl_budget *rl_loc_budget(const rl_loc *loc);
const char *rl_loc_id(const rl_loc *loc);
rl_loc *rl_queue_loc(const rl_queue *q);

/* Release every item whose time has come and return the monotonic ms of the next wake-up
 * (UINT64_MAX: nothing pending). The loop timer calls this; exposed for deterministic tests. */
uint64_t rl_sched_dispatch(rl_sched *s, uint64_t now, uint64_t wall);

/* Queued items, all locations. */
long rl_sched_pending(const rl_sched *s);

#endif
