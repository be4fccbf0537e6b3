/*
 * tschema.h - schema-layer test helpers on top of tsim: JSON calls to the simulator, fetching an
 * object's model over HTTP, and planning/applying it against a test database.
 *
 * Memory: returned cJSON trees and schema_objects belong to the caller.
 */
#ifndef GHLSYNC_TSCHEMA_H
#define GHLSYNC_TSCHEMA_H

#include "ddl.h"
#include "schema.h"
#include "tsim.h"

#include <cjson/cJSON.h>
#include <libpq-fe.h>

/* Public API call as location `loc` (tsim_api); the parsed body (NULL if none / not JSON). */
cJSON *tschema_call(const tsim *s, int loc, const char *method, const char *path, const char *body,
                    long *status);
/* Admin call (tsim_admin) with the parsed body. */
cJSON *tschema_admin(const tsim *s, const char *method, const char *path, const char *body,
                     long *status);

/* GET /objects/{key}?locationId=&fetchProperties=true as location `loc` -> model. NULL (and a
 * "# why" line) on failure. */
schema_object *tschema_fetch(const tsim *s, int loc, const char *key);

/* Plan `o` for location id `loc_id` into a fresh *p (ddl_plan_init done here). */
int tschema_plan(PGconn *c, schema_object *o, const map_types *t, const char *loc_id, ddl_plan *p,
                 gs_err *e);

/* The type map of the repository's mappings/types.toml ($GHLSYNC_TOP). */
map_types *tschema_types(void);

/* Apply migrations/ of $GHLSYNC_TOP. 0 ok. */
int tschema_migrate(PGconn *c);

/* True when some step's summary (or, with sql_too, its SQL) contains needle. */
bool tschema_plan_has(const ddl_plan *p, const char *needle, bool sql_too);
bool tschema_warned(const ddl_plan *p, const char *needle);

#endif
