/*
 * tpush.h - test support for the push side (owned by the push tests): a fresh database with the
 * migrations applied and one mirrored table (DDL + triggers) built from a schema response.
 *
 * Memory: tpush_db owns its connection, model and type map; release with tpush_close.
 */
#ifndef GHLSYNC_TPUSH_H
#define GHLSYNC_TPUSH_H

#include "config.h"
#include "mapping.h"
#include "schema.h"

#include <libpq-fe.h>

typedef struct tpush_db {
    PGconn *conn; /* a plain user session (its writes are captured) */
    char conninfo[512];
    map_types *types;
    schema_object *model; /* resolved by ddl_plan_object */
    char qtable[256];     /* "schema"."table" */
} tpush_db;

/* Fresh database `tag`, migrations, table for `schema_json` (a GET /objects/{key}?fetchProperties
 * response) in schema "ghl", triggers for `dir` with `default_loc` (may be NULL). 0 or -1
 * (printed). */
int tpush_setup(tpush_db *d, const char *tag, const char *schema_json, enum cfg_direction dir,
                const char *default_loc);

/* Same, the schema fetched from a running simulator (location index `loc`). */
struct tsim;
int tpush_setup_sim(tpush_db *d, const char *tag, const struct tsim *s, int loc,
                    const char *object_key, enum cfg_direction dir);

/* A new connection to the same database (its writes are captured). */
PGconn *tpush_connect(const tpush_db *d);

void tpush_close(tpush_db *d);

/* Integer result of a query (-1 on error, printed). */
long tpush_count(PGconn *c, const char *sql);

#endif

/* ---- an engine-like context for the push service (loop, client, one location) ---- */
#include "hlapi.h"
#include "loop.h"
#include "push.h"

typedef struct tpush_eng {
    gs_loop L;
    hl_client *hl;
    hl_location *loc;
    push_service *push;
    bool idle, timed_out, started;
    uv_timer_t guard;
} tpush_eng;

/* Loop + client for simulator location `loc` (limits: burst 0 = effectively unlimited pacing
 * when `fast`, else the defaults) + a push service in `once` mode with one target. */
int tpush_eng_open(tpush_eng *g, const struct tsim *s, int loc, const tpush_db *d,
                   enum cfg_conflict policy, const char *ext_field, bool fast);
/* Start (or wake) the service and run the loop until it is idle, or timeout_ms. 0 = idle. */
int tpush_eng_run(tpush_eng *g, long timeout_ms);
void tpush_eng_close(tpush_eng *g);
