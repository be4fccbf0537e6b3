/*
 * triggers.h - the row triggers of a mirrored table: how local SQL writes enter the push outbox.
 *
 * For an object with direction "both" or "push", every INSERT, UPDATE and DELETE of the table
 * appends a row to ghlsync.changes in the writer's own transaction (op, local key, remote id, the
 * changed pushable columns only with old and new values, the row's updated_at as base version)
 * and NOTIFYs channel PUSH_NOTIFY_CHANNEL with the location id; the row's _sync_state becomes
 * 'pending'. Sessions of the engine's role (migration 005: it may create in schema ghlsync) that
 * set ghlsync.origin = 'engine' (per session, or per transaction with set_config(..., true);
 * pull, push write-back) do not fire the triggers (a WHEN condition), so the engine's own writes
 * never echo back; any other role that sets it is refused (SQLSTATE 42501), never skipped. An
 * update that touches only columns that are not pushed (id, timestamps, _sync_state...) records
 * nothing. For direction "pull" the triggers reject local writes with an error that says why
 * (SQLSTATE 25006, with DETAIL and HINT). TRUNCATE is rejected in every mode (no row trigger would
 * see it).
 *
 * The trigger functions themselves are in migrations/003_push.sql (ghlsync.capture,
 * ghlsync.reject_write, ghlsync.reject_truncate); this module generates the per-table CREATE
 * TRIGGER statements, whose arguments name the object, the default location and the pushed
 * columns of the model. Re-apply after every ddl_apply (a new field is a new pushed column):
 * the statements are idempotent (CREATE OR REPLACE TRIGGER, PostgreSQL >= 14) and switch a
 * table between capture and read-only when the direction changed. The table is shared by all
 * locations mirroring the object, so triggers_apply captures the field columns of every
 * location (ghlsync.columns), not only those of the model it was given.
 *
 * Memory: nothing retained; the model (resolved by ddl_plan_object) and settings are borrowed.
 */
#ifndef GHLSYNC_TRIGGERS_H
#define GHLSYNC_TRIGGERS_H

#include "config.h"
#include "err.h"
#include "sbuf.h"
#include "schema.h"

#include <libpq-fe.h>

#define PUSH_NOTIFY_CHANNEL "ghlsync_push"

typedef struct trig_settings {
    enum cfg_direction direction;
    /* Filled into location_id when an INSERT leaves it NULL; NULL or "" = the INSERT must give
     * it (the object is synced for several locations). */
    const char *default_location_id;
    /* More columns to capture besides the model's: the table is shared by every location that
     * mirrors the object, and a field only some locations have still lives in a column of it.
     * triggers_apply fills these from ghlsync.columns; they must be distinct and not among the
     * model's own columns (each column is captured once). */
    const char *const *extra_columns;
    size_t n_extra_columns;
} trig_settings;

/* Append the trigger statements for one table (model resolved by ddl_plan_object: table_schema,
 * table, field columns). Returns 0 or GS_EINVAL (unresolved model) / GS_ENOMEM. */
int triggers_sql(const schema_object *model, const trig_settings *s, sbuf *out, gs_err *err);

/* Run triggers_sql's statements in one transaction under the schema advisory lock. The
 * migrations (003) must have been applied. The captured columns are the model's plus every
 * active field column of the object in ghlsync.columns (any location's) that the table has:
 * whichever location's model re-applies the triggers, no location's field goes uncaptured.
 * s->extra_columns is ignored (replaced by that list). */
int triggers_apply(PGconn *conn, const schema_object *model, const trig_settings *s, gs_err *err);

#endif
