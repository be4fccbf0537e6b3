/*
 * triggers.c - per-table CREATE TRIGGER statements for the push outbox (see triggers.h).
 */
#include "triggers.h"

#include "db.h"
#include "family.h"
#include "ident.h"
#include "migrate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void qtable(sbuf *b, const schema_object *m)
{
    ident_quote(b, m->table_schema);
    sbuf_putc(b, '.');
    ident_quote(b, m->table);
}

/* The engine's own writes (ghlsync.origin = 'engine' in a session of the engine's role, migration
 * 005) do not fire the row triggers at all: pull upserts every row, and a WHEN condition costs
 * far less than entering the function (SECURITY DEFINER with its own search_path) to return at
 * once. Any other session fires them, and a role that claims the origin without being the
 * engine is refused inside the function. */
#define NOT_ENGINE                                                                                 \
    " WHEN (pg_catalog.current_setting('ghlsync.origin', true) IS DISTINCT FROM 'engine' OR NOT "  \
    "pg_catalog.has_schema_privilege(session_user, 'ghlsync', 'CREATE'))"

static void arg(sbuf *b, const char *s)
{
    sbuf_puts(b, ", ");
    ident_quote_literal(b, s ? s : "");
}

/* Appends `c` to a text[] literal being built in b ("{" first, "}" after the last). */
static void lit_item(sbuf *b, const char *c)
{
    sbuf_puts(b, b->len > 1 ? ",\"" : "\"");
    for (; *c; c++) {
        if (*c == '"' || *c == '\\')
            sbuf_putc(b, '\\');
        sbuf_putc(b, *c);
    }
    sbuf_putc(b, '"');
}

int triggers_sql(const schema_object *m, const trig_settings *s, sbuf *out, gs_err *err)
{
    if (!m || !m->table_schema || !m->table || !m->key)
        return gs_err_set(err, GS_EINVAL, "triggers: the model has no table (run ddl_plan first)");
    for (size_t i = 0; i < m->n_fields; i++)
        if (!m->fields[i].column)
            return gs_err_set(err, GS_EINVAL, "triggers: field %s has no column (run ddl_plan)",
                              m->fields[i].field_key);
    sbuf t = {0};
    qtable(&t, m);
    const char *tbl = sbuf_str(&t);
    if (s->direction == CFG_DIR_PULL) {
        sbuf_printf(out, "DROP TRIGGER IF EXISTS ghlsync_capture ON %s;\n", tbl);
        sbuf_printf(out,
                    "CREATE OR REPLACE TRIGGER ghlsync_readonly BEFORE INSERT OR UPDATE OR DELETE "
                    "ON %s FOR EACH ROW" NOT_ENGINE " EXECUTE FUNCTION ghlsync.reject_write(",
                    tbl);
        ident_quote_literal(out, m->key);
        sbuf_puts(out, ");\n");
    } else {
        sbuf_printf(out, "DROP TRIGGER IF EXISTS ghlsync_readonly ON %s;\n", tbl);
        sbuf_printf(out,
                    "CREATE OR REPLACE TRIGGER ghlsync_capture BEFORE INSERT OR UPDATE OR DELETE "
                    "ON %s FOR EACH ROW" NOT_ENGINE " EXECUTE FUNCTION ghlsync.capture(",
                    tbl);
        ident_quote_literal(out, m->key);
        arg(out, s->default_location_id);
        /* the family's pushed standard columns (owner, followers; a contact's name, email...)
         * travel in the create/update body beside the fields */
        const fam_family *fam = fam_of(m);
        for (size_t i = 0; i < fam->n_std; i++)
            if (fam->std[i].flags & FAM_STD_PUSHED)
                arg(out, fam->std[i].column);
        for (size_t i = 0; i < m->n_fields; i++) {
            arg(out, m->fields[i].column);
            if (m->fields[i].currency_column)
                arg(out, m->fields[i].currency_column);
        }
        /* other locations' fields (same table): an edit of their rows is captured too */
        for (size_t i = 0; i < s->n_extra_columns; i++)
            arg(out, s->extra_columns[i]);
        sbuf_puts(out, ");\n");
    }
    sbuf_printf(out,
                "CREATE OR REPLACE TRIGGER ghlsync_truncate BEFORE TRUNCATE ON %s "
                "FOR EACH STATEMENT EXECUTE FUNCTION ghlsync.reject_truncate();\n",
                tbl);
    sbuf_free(&t);
    if (sbuf_failed(out))
        return gs_err_set(err, GS_ENOMEM, "triggers: out of memory");
    return 0;
}

/* The active field columns of the object, of every location, that the table has (a column
 * registered but not created yet is left out: the trigger would name a missing column), minus
 * those the model already passes ($4). Distinct: (object_key, column_name) is the key. */
static const char all_columns_sql[] =
    "SELECT k.column_name FROM ghlsync.columns k JOIN pg_catalog.pg_attribute a ON a.attrelid = "
    "pg_catalog.to_regclass(pg_catalog.format('%I.%I', $2::text, $3::text)) AND a.attname = "
    "k.column_name AND a.attnum > 0 AND NOT a.attisdropped WHERE k.object_key = $1 AND k.state = "
    "'active' AND k.column_name <> ALL ($4::text[]) ORDER BY k.created_at, k.column_name";

/* The columns triggers_sql passes from the model, as a text[] literal. */
static void model_columns(const schema_object *m, sbuf *b)
{
    const fam_family *fam = fam_of(m);
    sbuf_putc(b, '{');
    for (size_t i = 0; i < fam->n_std; i++)
        if (fam->std[i].flags & FAM_STD_PUSHED)
            lit_item(b, fam->std[i].column);
    for (size_t i = 0; i < m->n_fields; i++) {
        if (m->fields[i].column)
            lit_item(b, m->fields[i].column);
        if (m->fields[i].currency_column)
            lit_item(b, m->fields[i].currency_column);
    }
    sbuf_putc(b, '}');
}

int triggers_apply(PGconn *conn, const schema_object *m, const trig_settings *s, gs_err *err)
{
    if (!m || !m->table_schema || !m->table || !m->key)
        return gs_err_set(err, GS_EINVAL, "triggers: the model has no table (run ddl_plan first)");
    sbuf sql = {0};
    PGresult *cols = NULL;
    const char **extra = NULL;
    trig_settings ts = *s;
    ts.extra_columns = NULL;
    ts.n_extra_columns = 0;
    int rc = db_begin(conn, err);
    if (!rc) {
        char lock[80];
        snprintf(lock, sizeof lock, "SELECT pg_advisory_xact_lock(%lld)",
                 (long long)MIGRATE_LOCK_KEY);
        rc = db_exec(conn, lock, err);
    }
    if (!rc && s->direction != CFG_DIR_PULL) {
        sbuf own = {0};
        model_columns(m, &own);
        const char *p[] = {m->key, m->table_schema, m->table, sbuf_str(&own)};
        rc = sbuf_failed(&own) ? gs_err_set(err, GS_ENOMEM, "out of memory")
                               : db_query(conn, all_columns_sql, 4, p, &cols, err);
        sbuf_free(&own);
        int n = rc ? 0 : PQntuples(cols);
        if (n > 0 && !(extra = calloc((size_t)n, sizeof *extra)))
            rc = gs_err_set(err, GS_ENOMEM, "out of memory");
        for (int i = 0; !rc && i < n; i++)
            extra[i] = PQgetvalue(cols, i, 0);
        if (!rc) {
            ts.extra_columns = extra;
            ts.n_extra_columns = (size_t)n;
        }
    }
    if (!rc)
        rc = triggers_sql(m, &ts, &sql, err);
    if (!rc)
        rc = db_exec(conn, sbuf_str(&sql), err);
    if (!rc)
        rc = db_commit(conn, err);
    else
        db_rollback(conn);
    free(extra);
    PQclear(cols);
    sbuf_free(&sql);
    if (rc)
        gs_err_wrap(err, "installing the triggers of %s.%s", m->table_schema, m->table);
    return rc;
}
