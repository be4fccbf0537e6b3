/*
 * push_service.h - the push side of a running engine: one push_service (push.h) fed with the
 * engine's objects, and the trigger installation of the engine's tables (triggers.h).
 *
 * As an engine service (engine_services[] line {"push", push_service_start, push_service_stop})
 * it runs for `ghlsync run` with LISTEN and the [push] settings; `ghlsync push` opens it with
 * push_service_open(once = true). Targets: every discovered object whose direction is not "pull"
 * and that has a model. When [push] enabled = false the service does nothing (state NULL).
 *
 * Models: the service holds a reference (ps_model_ref) on every model it handed to push.c, the
 * replaced ones included (jobs in flight keep using a retired target's model), and drops them
 * in push_service_stop after push_free.
 *
 * Memory: the state is owned by the caller of start/open and released by stop (NULL is fine);
 * the engine is borrowed and must outlive it. Loop thread only.
 */
#ifndef GHLSYNC_PUSH_SERVICE_H
#define GHLSYNC_PUSH_SERVICE_H

#include "engine.h"
#include "push.h"

#include <stdbool.h>

int push_service_start(struct engine *E, void **state, gs_err *e);
void push_service_stop(void *state);

/* once: stop claiming when nothing is due and call on_idle(ud) (push.h push_opts.once). */
int push_service_open(struct engine *E, bool listen, bool once, void (*on_idle)(void *ud), void *ud,
                      void **state, gs_err *e);
/* The push_service of a started state (NULL when push is disabled). */
push_service *push_service_of(void *state);

/* eo->model was replaced (schema change): hand the new model to the push target. */
void push_service_model_changed(void *state, struct engine_object *eo);

/* A location that joined while running (engine_location_add): targets for its objects, and a
 * claim round for it. state NULL: nothing. */
void push_service_location_added(void *state, struct engine_location *L);

/* Install (or refresh) the triggers of one applied object: capture for direction both/push,
 * read-only for pull; the default location is the object's location when exactly one
 * configured location syncs that object. */
int push_service_triggers(struct engine *E, const struct engine_object *eo, gs_err *e);

/* The location an INSERT without location_id gets: the only configured location syncing
 * object `key`, else NULL (borrowed from the configuration). With [agency] locations =
 * "installed" always NULL: locations may join while running. */
const char *push_service_default_location(const struct engine *E, const char *key);

/* True when the object's local writes are pushed (direction both/push). */
bool push_service_pushes(const struct engine_object *eo);

#endif
