/*
 * ddl.h - from an object model to PostgreSQL tables: plan (diff against what ghlsync recorded in
 * its bookkeeping tables and the catalog) and apply.
 *
 * One table per object, in schema settings.schema (default "ghl"), named after the last segment
 * of the object key (custom_objects.pet -> pet; business -> business: the key is what the
 * account owner chose, labels are free text and may change), or settings.table. Columns are named
 * after the field's property key, sanitised (ident.h); the choice is recorded in ghlsync.columns
 * and ghlsync.fields and reused on every later run, so a renamed label never renames a column.
 *
 * Evolution, all additive (data is never dropped):
 *   field added             -> ADD COLUMN (+ comment, + ghlsync.fields row)
 *   field deleted remotely  -> column kept, comment says DEPRECATED, ghlsync.columns.state;
 *                              only once no location has the field any more (columns are
 *                              shared by all locations: the other locations' current schema
 *                              is what ghlsync.fields recorded, plus the locations of this plan)
 *   label changed           -> COMMENT only
 *   dataType changed        -> when storage changes (column type or codec): a new column
 *                              <key>_<datatype>, the old one kept and marked superseded, a warning;
 *                              when storage is the same (TEXT -> LARGE_TEXT): comment only
 *   option added / relabelled -> ghlsync.field_options row
 *
 * ddl_plan() works with conn == NULL (a fresh database is assumed) so `schema plan` can run
 * without a database. It also resolves the model in place (field->type, field->column,
 * object->table...), which mapping.h needs. ddl_apply() runs a plan in one transaction under an
 * advisory lock.
 *
 * Memory: a ddl_plan owns its steps and warnings (ddl_plan_free). Settings are borrowed.
 */
#ifndef GHLSYNC_DDL_H
#define GHLSYNC_DDL_H

#include "err.h"
#include "ident.h"
#include "log.h"
#include "mapping.h"
#include "sbuf.h"
#include "schema.h"

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct ddl_field_override {
    const char *field_key; /* full field key or its property key */
    const char *type;      /* name of a types.toml entry: "TEXT", "JSON", ... */
} ddl_field_override;

typedef struct ddl_settings {
    const char *schema;      /* NULL -> "ghl" */
    const char *table;       /* NULL -> derived from the object key */
    const char *location_id; /* NULL -> the model's locationId */
    const ddl_field_override *overrides;
    size_t n_overrides;
    const map_types *types; /* required */
    gs_log *log;            /* may be NULL */
} ddl_settings;

enum ddl_step_kind {
    DDL_STEP_DDL,  /* changes a table: shown with its SQL */
    DDL_STEP_META, /* bookkeeping row in ghlsync.*: shown by summary (or only counted) */
};

typedef struct ddl_step {
    enum ddl_step_kind kind;
    char *summary; /* "+ add column ..."; may be NULL for quiet bookkeeping */
    char *sql;
    int nparams;
    char **params; /* NULL entries are SQL NULL */
    char *tag;     /* internal: "object\x1fcolumn" on deprecation steps (a later location of the
                    * same plan that still has the field retracts them); else NULL */
} ddl_step;

typedef struct ddl_plan {
    ddl_step *steps;
    size_t n, cap;
    char **warnings;
    size_t n_warnings;
    ident_set tables; /* "schema.table" names taken by this plan (several objects per plan) */
    /* A column is deprecated only when no location still has its field. Across the locations
     * planned together: */
    ident_set present; /* "object\x1ffield_key": some location of this plan has the field */
    ident_set gone;    /* "location\x1fobject\x1ffield_key": this plan marks it deleted there */
} ddl_plan;

void ddl_plan_init(ddl_plan *p);
void ddl_plan_free(ddl_plan *p);

/* Plan the changes for one object (call once per object; steps accumulate in *plan). */
int ddl_plan_object(PGconn *conn, schema_object *model, const ddl_settings *s, ddl_plan *plan,
                    gs_err *err);

/* Number of DDL steps (changes to tables) and of bookkeeping steps. */
size_t ddl_plan_ddl_count(const ddl_plan *p);
size_t ddl_plan_meta_count(const ddl_plan *p);

/* Human-readable plan with the SQL, like `terraform plan`. */
void ddl_plan_print(const ddl_plan *p, sbuf *out);

/* Run every step in one transaction (under the schema advisory lock). */
int ddl_apply(PGconn *conn, const ddl_plan *p, gs_err *err);

/* Plan and apply as one step, for processes that share the database: ddl_lock() opens a
 * transaction and takes the schema advisory lock, so that the plan built next reads what every
 * other process committed and nobody changes the tables before ddl_apply_locked() runs its
 * steps and commits. A plan built before the lock may be stale: another process may have
 * created the table or registered its columns meanwhile. ddl_unlock() rolls back (a failed
 * plan). */
int ddl_lock(PGconn *conn, gs_err *err);
int ddl_apply_locked(PGconn *conn, const ddl_plan *p, gs_err *err);
void ddl_unlock(PGconn *conn);

#endif
