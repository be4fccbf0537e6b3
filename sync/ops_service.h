/*
 * ops_service.h - the operations service of the engine: the metrics registry, the runtime
 * bookkeeping (runtime.h: ghlsync.runtime for `ghlsync status`, database gauges, readiness) and,
 * for `ghlsync run` when [metrics] listen is set, the HTTP endpoint (metrics.h: /metrics,
 * /healthz, /readyz). One entry of engine_services[] (engine.c), marked `one_shot` so that
 * `ghlsync backfill` also records its requests in ghlsync.runtime (without the endpoint: a
 * backfill run from cron must not fight the mirror service for the port).
 *
 * While started it receives every HTTP answer of the engine's hl_client (engine.h on_answer):
 * requests by location, endpoint and status, 429s, burst/daily remaining.
 *
 * Stop makes a final ghlsync.runtime write (waiting at most OPS_FINAL_WRITE_MS on the loop, so
 * that with the engine's 4 s drain deadline a stop stays within 5 s), so that the requests of
 * the last seconds are counted, then closes everything.
 *
 * Memory: the state allocated by start is released by stop (its handles are closed; the loop
 * must run once more, as engine_close / gs_loop_close do). The engine is borrowed.
 */
#ifndef GHLSYNC_OPS_SERVICE_H
#define GHLSYNC_OPS_SERVICE_H

#include "engine.h"
#include "err.h"
#include "metrics.h"

#define OPS_FINAL_WRITE_MS 1000

int ops_service_start(struct engine *E, void **state, gs_err *e);
void ops_service_stop(void *state);

/* The registry of a started service (for other services that want to count into it). */
gs_metrics *ops_service_metrics(void *state);

/* A location that joined while running (engine_location_add): its ghlsync.runtime row and
 * metrics, like the others'. state NULL: nothing. */
void ops_service_location_added(void *state, struct engine_location *L);

#endif
