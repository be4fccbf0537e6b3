/*
 * runtime.h - the engine's periodic bookkeeping for operators: every `interval_ms` it
 *   1. copies each registered location's rate budget (ratelimit.h: requests started, 429s,
 *      daily remaining, limits, in flight) into the metrics registry;
 *   2. persists per-location counters to ghlsync.runtime (migrations/004_status.sql), which is
 *      what `ghlsync status` (another process) reads: requests today, budget left, rate,
 *      last error;
 *   3. refreshes the gauges that live in the database: change-log depth and failed changes
 *      (ghlsync.changes), lag = now - watermark and backfill completion (ghlsync.pull_state);
 *   4. remembers whether those queries succeed, for the readiness probe (rt_ready).
 *
 * requests_today is written as a delta (requests started since the last successful write) and
 * summed by the upsert, so restarts and several processes add up; a failed write keeps its
 * delta for the next one.
 *
 * It opens its own non-blocking connection (pgasync.h) so that its small periodic queries never
 * queue behind a page write. That connection reconnects by itself (pgasync.h); a round that fails
 * meanwhile keeps its deltas for the next one, so nothing is lost across an outage.
 *
 * Threading: loop thread only. Memory: rt_new allocates; rt_close stops the timer, closes the
 * connection and frees the object once its last callback ran (keep the loop running until
 * then, as gs_loop_close does). Borrowed: the loop, the metrics registry, the rl_loc budgets
 * (they must outlive the runtime: close it before the hl_client).
 */
#ifndef GHLSYNC_RUNTIME_H
#define GHLSYNC_RUNTIME_H

#include "err.h"
#include "loop.h"
#include "metrics.h"
#include "ratelimit.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct gs_runtime gs_runtime;

/* interval_ms 0 = 5000. */
int rt_new(gs_loop *L, const char *conninfo, gs_metrics *m, int64_t interval_ms, gs_runtime **out,
           gs_err *e);

/* Track a location (id copied). `budget` may be NULL (then only errors are reported). */
int rt_add_location(gs_runtime *rt, const char *location_id, rl_loc *budget);
/* Same, for a location this process serves only while *served (lease.h, borrowed): while it
 * does not, its row is left to the process that does, unless there are requests or an error of
 * this one to add. */
int rt_add_location_served(gs_runtime *rt, const char *location_id, rl_loc *budget,
                           const bool *served);

/* An error worth an operator's attention: counted in ghlsync_errors_total{location,kind} and
 * shown as the location's last error by `ghlsync status` (message redacted by the caller). */
void rt_note_error(gs_runtime *rt, const char *location_id, const char *kind, const char *msg);

/* Start the timer; the first tick runs at once (from the loop). */
int rt_start(gs_runtime *rt, gs_err *e);

/* Run one tick now (tests, and a final write before stopping). `done` (may be NULL) runs from
 * the loop when its queries have finished, with ok = every query succeeded. While a round is
 * running, a tick with `done` runs right after it (one such tick waits at most; a second one
 * gets done(ud, false) at once); a tick without `done` is skipped. rt_close calls the done of
 * unfinished ticks with ok = false. */
void rt_tick(gs_runtime *rt, void (*done)(void *ud, bool ok), void *ud);

/* metrics_ready_fn: ready when every PostgreSQL connection of the loop has its session (L->db,
 * pgasync.h), the last database round succeeded within 3 intervals, and every object the
 * database knows has completed its backfill. `ud` is the gs_runtime. */
bool rt_ready(void *ud, char *why, size_t len);

void rt_close(gs_runtime *rt);

#endif
