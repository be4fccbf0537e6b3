/*
 * ratelimit.h - the per-location rate budget and the request scheduler built on it.
 *
 * HighLevel allows `burst` (B) requests per ROLLING `window_ms` (W) (100 / 10 s) and `daily` per
 * UTC day, per app token per location. The engine must never see a 429 in steady state, so every
 * request to a location is released by this scheduler. It is a sliding-window scheduler that
 * bursts: a backfill of N requests sends B at once, the next B one window later, and so takes
 * about floor((N-1)/B) windows, the least the limit allows (even pacing took (N-1)*W/B).
 *
 * Safety. The server counts request k at its arrival a_k, somewhere between our send s_k and our
 * response r_k (s_k <= a_k <= r_k). A request "holds a slot" from s_k until r_k + H, with
 *   H = window_ms * (1 + headroom) + RL_MARGIN_MS            (> W),
 * and an in-flight request holds its slot until it completes (its r_k is not known yet). A
 * request may start only while fewer than B slots are held. Any B+1 requests that arrive inside
 * one window (x, x+W] all hold a slot at time x+W (s_k <= a_k <= x+W and r_k + H >= a_k + H >
 * x + W), which the scheduler never allows, so no rolling window on the server holds more than B,
 * whatever the latencies. Completions need not be matched to their requests: the number of held
 * slots is (in flight) + (completions in the last H), the same whichever request completed.
 * `headroom` (default 2%) and the few ms of RL_MARGIN_MS cover the server's and our clocks
 * ticking differently. r_k is read from the clock at rl_complete (not the loop's time cached at
 * the start of its iteration, which can be older than the arrival), so it is never earlier than
 * the arrival.
 *
 * Push latency. Backfill (RL_PRIO_BACKFILL) leaves `reserve` slots (a fraction of B, at least 1)
 * for the priorities above it: it may take a slot only if, afterwards, `reserve` slots are free
 * or free within the lookahead D = W/20. A push, pull or schema request therefore starts at once
 * or within D (500 ms at 10 s) instead of waiting for a window to roll, while a long backfill
 * alone still gets the whole window (it takes the reserved slots in the last D before slots free).
 * When higher priorities are busy (their rate over the last H is estimated from their starts),
 * backfill also leaves room so that, at every moment u of the next H, the slots freed by u + D
 * cover that rate * (u - now) plus the reserve: a steady stream of pushes keeps finding slots
 * while backfill uses the rest. What backfill has already taken cannot be taken back: pushes
 * beyond the reserve that start arriving just after backfill spent a window wait for slots to
 * free (at most one H, once; the demand estimate then holds room for them).
 *
 * Corrections from the server, on every response (rl_complete):
 *  - X-RateLimit-Max / -Interval-Milliseconds replace the configured burst/window (the server
 *    is authoritative; the configured values are the starting point).
 *  - X-RateLimit-Remaining: when the server has counted more (B - Remaining) than the slots we
 *    hold, someone else spends this budget: the missing slots are held for H, as if ours.
 *  - 429: nothing starts for Retry-After seconds (or the window when absent), then the slots
 *    that are free by our count may be used again.
 *  - X-RateLimit-Daily-Remaining: below `daily_low` (a fraction of the daily limit) every class
 *    but push is also paced evenly and 4x slower than W/B; at 0 nothing starts until 00:00:01
 *    UTC, logged once ("rate.daily_exhausted") and resumed by itself ("rate.daily_resumed").
 * A cap on requests in flight per location (max_inflight) keeps slow responses from piling up.
 *
 * Smooth mode (rl_loc_set_smooth; on while a push service serves the location, i.e. under
 * `ghlsync run`). Bursting is what a one-shot backfill wants, but it is what hurts pushes that
 * arrive after backfill has spent the window: they wait for it to roll (seconds). In smooth mode
 * every class below push (pull, schema, backfill) is additionally paced evenly (GCRA): emission
 * interval T = W/B*(1+headroom), tolerance one interval (two may start together; a larger
 * tolerance makes the slots it bunched free together, leaving a gap as long in which pushes wait).
 * Every start, pushes and auth included, advances the same pacing clock, so all classes together
 * stay near B per window and the held slots expire evenly, about one every T. Push and auth ignore
 * the pacing and only need a free slot in the window: when it is full one frees within about T, and
 * pushes go first. The pacing clock is kept in both modes, so switching smooth mode on right after
 * a burst waits for that burst's share instead of adding to it. The sliding-window hold stays the
 * safety guarantee in both modes; pacing only decides who gets the slots.
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
 *   ... or, when nothing was sent after all: rl_complete(loc, NULL, 0) gives the slot back.
 * hlapi.h does all of this for API calls; workers only pick a priority and a queue name.
 *
 * Ownership: the scheduler owns rl_loc and rl_queue objects (freed by rl_sched_free). An rl_item
 * belongs to the caller; it must stay valid until granted or rl_cancel'ed. rl_budget holds no
 * heap memory (fixed rings; see rl_ring).
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
    double reserve;   /* fraction of `burst` backfill may not take (at least 1 slot); 0.05 */
} rl_params;

/* Fill zero fields of `p` with the defaults above. */
void rl_params_defaults(rl_params *p);

/* Slack added to every slot's hold beyond window * (1 + headroom), ms. */
#define RL_MARGIN_MS 5
#define RL_RING      256

#define RL_RING_INLINE 4

/* Expiry times (monotonic ms, nondecreasing from the oldest) of held slots. When full (RL_RING
 * entries), new entries merge into the newest one, keeping the later time: slots are then held a
 * little longer than needed, never shorter, so a huge `burst` costs no memory. Beyond the first
 * RL_RING_INLINE entries they are allocated as they are needed (an idle location holds a few,
 * and a process may serve thousands); when that allocation fails, the ring is full. */
typedef struct rl_ring {
    struct rl_mark {
        uint64_t until; /* the slot is free again once now >= until */
        uint32_t n;     /* slots sharing this expiry */
    } inl[RL_RING_INLINE];
    struct rl_mark *m; /* NULL: the entries are `inl` */
    int cap;           /* entries of `m`: a power of two up to RL_RING */
    int head, len;
    long total; /* sum of n, expired entries included until pruned */
} rl_ring;

typedef struct rl_budget {
    rl_params p;              /* effective values (server-corrected) */
    double interval_ms;       /* W/B*(1+headroom): spacing of the daily-low slow mode */
    uint64_t hold_ms;         /* H: how long a completed request keeps its slot */
    int reserve;              /* slots kept for priorities above backfill */
    uint64_t lookahead_ms;    /* a reserved slot may be one that frees within this (W/20) */
    rl_ring held;             /* completed (and foreign, from Remaining) requests' slots */
    rl_ring hi;               /* starts above backfill, expiring after H: their demand */
    double slow_tat;          /* next start of non-push classes while the daily budget is low */
    double tat;               /* pacing clock: theoretical arrival time of the next start (ms) */
    double tolerance_ms;      /* how far ahead of the pacing clock smooth-mode classes may run */
    bool smooth;              /* pace pull/schema/backfill evenly (see "Smooth mode") */
    uint64_t hold_until;      /* nothing starts before (429) */
    uint64_t day_block_until; /* monotonic ms; 0 = not blocked by the daily limit */
    long daily_remaining;     /* -1 unknown; estimate: last header minus starts since */
    long daily_limit;         /* -1 unknown */
    int inflight;
    long n_started, n_429;
} rl_budget;

/* Slots held at `now` (in flight + completed within H + foreign). */
long rl_budget_held(const rl_budget *b, uint64_t now);

void rl_budget_init(rl_budget *b, const rl_params *p);
/* Releases the rings (the budget can be initialised again). */
void rl_budget_free(rl_budget *b);

/* Earliest monotonic ms at which a request of priority `prio` may start (<= now: now). */
uint64_t rl_budget_next(const rl_budget *b, int prio, uint64_t now);

/* A request of priority `prio` starts now (call only when rl_budget_next(...) <= now). */
void rl_budget_take(rl_budget *b, int prio, uint64_t now);

/* A response (or a transport failure: status 0, rate fields -1) for a started request; `rate`
 * NULL when nothing was sent after all (the slot is given back at once). `wall` is UTC ms, used
 * for the day rollover. Returns 1 when this call just blocked the budget
 * until the next UTC day, 0 otherwise. */
int rl_budget_done(rl_budget *b, const http_rate *rate, long status, uint64_t now, uint64_t wall);

/* Smooth mode on or off (see "Smooth mode" above); takes effect for the next start. */
void rl_budget_set_smooth(rl_budget *b, bool on);

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

/* Smooth mode for a location (rl_budget_set_smooth); queued items are re-examined at once. */
void rl_loc_set_smooth(rl_loc *loc, bool on);

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
