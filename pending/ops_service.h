/*
 * ops_service.h - the operations service of `ghlsync run`: the metrics registry, the runtime
 * bookkeeping (runtime.h: ghlsync.runtime for `ghlsync status`, database gauges, readiness) and,
 * when [metrics] listen is set, the HTTP endpoint (metrics.h). One entry of engine_services[]:
 *   {"ops", ops_service_start, ops_service_stop},
 *
 * Memory: the state allocated by start is released by stop (its handles are closed; the loop
 * must run once more, as engine_close / gs_loop_close do). The engine is borrowed.
 */
#ifndef GHLSYNC_OPS_SERVICE_H
#define GHLSYNC_OPS_SERVICE_H

#include "engine.h"
#include "err.h"
#include "metrics.h"

int ops_service_start(struct engine *E, void **state, gs_err *e);
void ops_service_stop(void *state);

/* The registry of a started service (for other services that want to count into it). */
gs_metrics *ops_service_metrics(void *state);

#endif
