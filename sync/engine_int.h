/*
 * engine_int.h - what engine.c and engine_add.c share; not for the other modules.
 */
#ifndef GHLSYNC_ENGINE_INT_H
#define GHLSYNC_ENGINE_INT_H

#include "engine.h"

#include <cjson/cJSON.h>

/* The state of a started engine service by name (engine_services[]), or NULL. */
void *engine_service_state(struct engine *E, const char *name);

/* Keys to pull for one location, from its configuration and (for "*") the object list
 * (objects no family serves go to L->skipped, with a log line). */
int engine_choose_objects(struct engine *E, struct engine_location *L, const cJSON *list,
                          char ***keys, size_t *nkeys, gs_err *e);

/* L->hl for an [agency] location: the given pair (NULL: none yet, the first request mints
 * one), the agency's app credentials and its minter. */
int engine_agency_hl(struct engine *E, struct engine_location *L, const char *access,
                     const char *refresh, int64_t expires_ms, gs_err *e);

/* E->by_id from E->locs (engine_open), and the locations being added (engine_close). */
int engine_index_build(struct engine *E, gs_err *e);
void engine_adding_free(struct engine *E);

/* One engine object's memory (key, model reference). */
void engine_object_free(struct engine_object *o);

#endif
