/*
 * triggers.c - per-table CREATE TRIGGER statements for the push outbox (see triggers.h).
 */
#include "triggers.h"

#include "db.h"
#include "family.h"
#include "ident.h"
#include "migrate.h"

#include <stdio.h>
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

int triggers_apply(PGconn *conn, const schema_object *m, const trig_settings *s, gs_err *err)
{
    sbuf sql = {0};
    sbuf_printf(&sql, "SELECT pg_advisory_xact_lock(%lld);\n", (long long)MIGRATE_LOCK_KEY);
    int rc = triggers_sql(m, s, &sql, err);
    if (rc) {
        sbuf_free(&sql);
        return rc;
    }
    rc = db_begin(conn, err);
    if (!rc)
        rc = db_exec(conn, sbuf_str(&sql), err);
    if (!rc)
        rc = db_commit(conn, err);
    else
        db_rollback(conn);
    sbuf_free(&sql);
    if (rc)
        gs_err_wrap(err, "installing the triggers of %s.%s", m->table_schema, m->table);
    return rc;
}
