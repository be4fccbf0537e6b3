/* pipelines.c - see pipelines.h. */
#include "pipelines.h"

#include "family.h"
#include "ident.h"
#include "migrate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void qname(sbuf *b, const char *schema, const char *name)
{
    ident_quote(b, schema);
    sbuf_putc(b, '.');
    ident_quote(b, name);
}

int pl_store_sql(const char *schema, sbuf *b)
{
    sbuf_puts(b, "WITH p AS (SELECT x->>'id' AS id, x->>'name' AS name, "
                 "x - 'id' - 'name' - 'stages' - 'locationId' AS extras, x->'stages' AS stages "
                 "FROM jsonb_array_elements(CASE WHEN jsonb_typeof($1::jsonb->'pipelines') = "
                 "'array' THEN $1::jsonb->'pipelines' ELSE '[]' END) x "
                 "WHERE jsonb_typeof(x) = 'object' AND x->>'id' IS NOT NULL), "
                 "s AS (SELECT DISTINCT ON (st->>'id') st->>'id' AS id, p.id AS pipeline_id, "
                 "st->>'name' AS name, CASE WHEN jsonb_typeof(st->'position') = 'number' THEN "
                 "round((st->>'position')::numeric)::integer ELSE (t.ord - 1)::integer END AS "
                 "position, st - 'id' - 'name' - 'position' AS extras "
                 "FROM p, jsonb_array_elements(CASE WHEN jsonb_typeof(p.stages) = 'array' THEN "
                 "p.stages ELSE '[]' END) WITH ORDINALITY AS t(st, ord) "
                 "WHERE jsonb_typeof(st) = 'object' AND st->>'id' IS NOT NULL), "
                 "up AS (INSERT INTO ");
    qname(b, schema, "pipelines");
    sbuf_puts(b, " AS t (id, location_id, name, extras, _synced_at) SELECT DISTINCT ON (id) id, "
                 "$2, name, extras, now() FROM p ON CONFLICT (id, location_id) DO UPDATE SET "
                 "name = EXCLUDED.name, extras = EXCLUDED.extras, _synced_at = now() WHERE "
                 "(t.name, t.extras) IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.extras) "
                 "RETURNING 1), "
                 "us AS (INSERT INTO ");
    qname(b, schema, "pipeline_stages");
    sbuf_puts(b, " AS t (id, pipeline_id, location_id, name, position, extras, _synced_at) "
                 "SELECT id, pipeline_id, $2, name, position, extras, now() FROM s "
                 "ON CONFLICT (id, location_id) DO UPDATE SET pipeline_id = EXCLUDED.pipeline_id, "
                 "name = EXCLUDED.name, position = EXCLUDED.position, extras = EXCLUDED.extras, "
                 "_synced_at = now() WHERE (t.pipeline_id, t.name, t.position, t.extras) IS "
                 "DISTINCT FROM (EXCLUDED.pipeline_id, EXCLUDED.name, EXCLUDED.position, "
                 "EXCLUDED.extras) RETURNING 1), "
                 "dp AS (DELETE FROM ");
    qname(b, schema, "pipelines");
    sbuf_puts(b, " t WHERE t.location_id = $2 AND NOT EXISTS (SELECT 1 FROM p WHERE p.id = t.id) "
                 "RETURNING 1), "
                 "ds AS (DELETE FROM ");
    qname(b, schema, "pipeline_stages");
    sbuf_puts(b, " t WHERE t.location_id = $2 AND NOT EXISTS (SELECT 1 FROM s WHERE s.id = t.id) "
                 "RETURNING 1) "
                 "SELECT (SELECT count(*) FROM p), (SELECT count(*) FROM s), "
                 "(SELECT count(*) FROM up) + (SELECT count(*) FROM us) + (SELECT count(*) FROM "
                 "dp) + (SELECT count(*) FROM ds)");
    return sbuf_failed(b) ? GS_ENOMEM : 0;
}

/* An index name of the opportunities table: "<table>_<column>_idx", shortened with a hash. */
static void opp_index(sbuf *b, const char *schema, const char *table, const char *column)
{
    char base[200], name[64];
    snprintf(base, sizeof base, "%s_%s", table, column);
    size_t n = strlen(base);
    if (n + 4 > 63) {
        ident_with_hash(base, base, 4, name);
    } else {
        memcpy(name, base, n);
        name[n] = '\0';
    }
    strncat(name, "_idx", sizeof name - strlen(name) - 1);
    sbuf_puts(b, "CREATE INDEX IF NOT EXISTS ");
    ident_quote(b, name);
    sbuf_puts(b, " ON ");
    qname(b, schema, table);
    sbuf_printf(b, " (%s);\n", column);
}

int pl_ddl_sql(const char *schema, const char *opp_table, sbuf *b)
{
    sbuf_printf(b, "SELECT pg_advisory_xact_lock(%lld);\n", (long long)MIGRATE_LOCK_KEY);
    sbuf_puts(b, "CREATE TABLE IF NOT EXISTS ");
    qname(b, schema, "pipelines");
    sbuf_puts(b, " (id text NOT NULL, location_id text NOT NULL, name text, extras jsonb, "
                 "_synced_at timestamptz, PRIMARY KEY (id, location_id));\n");
    sbuf_puts(b, "CREATE TABLE IF NOT EXISTS ");
    qname(b, schema, "pipeline_stages");
    sbuf_puts(b, " (id text NOT NULL, pipeline_id text NOT NULL, location_id text NOT NULL, "
                 "name text, position integer, extras jsonb, _synced_at timestamptz, "
                 "PRIMARY KEY (id, location_id));\n");
    sbuf_puts(b, "CREATE INDEX IF NOT EXISTS pipeline_stages_pipeline_id_idx ON ");
    qname(b, schema, "pipeline_stages");
    sbuf_puts(b, " (pipeline_id, position);\n");
    opp_index(b, schema, opp_table, "pipeline_stage_id");
    opp_index(b, schema, opp_table, "pipeline_id");
    opp_index(b, schema, opp_table, "contact_id");
    /* local writes are refused: there is no pipeline endpoint in the API 2.0 spec to push to */
    sbuf_puts(b, "CREATE OR REPLACE FUNCTION ghlsync.reject_pipeline_write() RETURNS trigger "
                 "LANGUAGE plpgsql AS $f$\nBEGIN\n"
                 "    IF current_setting('ghlsync.origin', true) = 'engine' AND "
                 "pg_catalog.has_schema_privilege(session_user, 'ghlsync', 'CREATE') THEN\n"
                 "        IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;\n"
                 "        RETURN NEW;\n    END IF;\n"
                 "    RAISE EXCEPTION 'table %.% is read-only: pipelines and stages are edited in "
                 "HighLevel', TG_TABLE_SCHEMA, TG_TABLE_NAME\n"
                 "        USING ERRCODE = 'read_only_sql_transaction',\n"
                 "              DETAIL = 'ghlsync mirrors GET /opportunities/pipelines into this "
                 "table with each schema refresh; a local ' || lower(TG_OP) || ' would never reach "
                 "HighLevel.',\n"
                 "              HINT = 'Move an opportunity with UPDATE ... SET pipeline_stage_id "
                 "on the opportunities table.';\nEND\n$f$;\n");
    const char *tabs[] = {"pipelines", "pipeline_stages"};
    for (int i = 0; i < 2; i++) {
        sbuf_puts(b, "CREATE OR REPLACE TRIGGER ghlsync_readonly BEFORE INSERT OR UPDATE OR "
                     "DELETE ON ");
        qname(b, schema, tabs[i]);
        sbuf_puts(b, " FOR EACH ROW EXECUTE FUNCTION ghlsync.reject_pipeline_write();\n");
        sbuf_puts(b, "CREATE OR REPLACE TRIGGER ghlsync_truncate BEFORE TRUNCATE ON ");
        qname(b, schema, tabs[i]);
        sbuf_puts(b, " FOR EACH STATEMENT EXECUTE FUNCTION ghlsync.reject_truncate();\n");
    }
    sbuf_puts(b, "COMMENT ON TABLE ");
    qname(b, schema, "pipelines");
    sbuf_puts(b, " IS 'ghlsync: HighLevel opportunity pipelines (read-only mirror)';\n");
    sbuf_puts(b, "COMMENT ON TABLE ");
    qname(b, schema, "pipeline_stages");
    sbuf_puts(b, " IS 'ghlsync: HighLevel pipeline stages (read-only mirror)';\n");
    return sbuf_failed(b) ? GS_ENOMEM : 0;
}

/* The DDL as single statements (the extended protocol takes one per message). */
static int ddl_stmts(const char *schema, const char *table, sbuf *all, pga_stmt **out, int *n)
{
    *out = NULL;
    *n = 0;
    if (pl_ddl_sql(schema, table, all))
        return GS_ENOMEM;
    /* statements end with ";\n" at the end of a line; the function body's lines do not */
    char *t = all->data;
    int cap = 16;
    pga_stmt *st = calloc((size_t)cap, sizeof *st);
    if (!st)
        return GS_ENOMEM;
    while (t && *t) {
        char *e = strstr(t, ";\n");
        while (e && !strncmp(t, "CREATE OR REPLACE FUNCTION", 26) && strncmp(e - 3, "$f$", 3))
            e = strstr(e + 2, ";\n");
        if (!e)
            break;
        *e = '\0';
        if (*n == cap) {
            free(st);
            return GS_ENOMEM;
        }
        st[(*n)++] = (pga_stmt){.sql = t};
        t = e + 2;
    }
    *out = st;
    return 0;
}

struct refresh {
    pga_conn *db;
    char *schema, *table, *loc;
    char *answer; /* JSON text of the GET answer */
    bool ddl_done;
    fam_side_cb done;
    void *ud;
};

static void refresh_free(struct refresh *r)
{
    free(r->schema);
    free(r->table);
    free(r->loc);
    free(r->answer);
    free(r);
}

static void finish(struct refresh *r, const char *error, long np, long ns)
{
    r->done(error, np, ns, r->ud);
    refresh_free(r);
}

static int store(struct refresh *r, gs_err *e);

static void on_ddl(pga_conn *c, PGresult *const *res, int nres, const pga_error *err, void *ud)
{
    (void)c;
    (void)res;
    (void)nres;
    struct refresh *r = ud;
    gs_err e = {0};
    if (err) {
        finish(r, err->err.msg, 0, 0);
        return;
    }
    if (store(r, &e))
        finish(r, e.msg, 0, 0);
}

static void on_store(pga_conn *c, PGresult *const *res, int nres, const pga_error *err, void *ud)
{
    struct refresh *r = ud;
    gs_err e = {0};
    if (err && !r->ddl_done && !strcmp(err->sqlstate, "42P01")) {
        r->ddl_done = true;
        sbuf sql = SBUF_INIT;
        pga_stmt *st = NULL;
        int n = 0;
        int rc = ddl_stmts(r->schema, r->table, &sql, &st, &n);
        if (rc || pga_tx(c, st, n, on_ddl, r, &e))
            finish(r, rc ? "out of memory" : e.msg, 0, 0);
        free(st);
        sbuf_free(&sql);
        return;
    }
    if (err) {
        finish(r, err->err.msg, 0, 0);
        return;
    }
    long np = 0, ns = 0;
    if (nres > 0 && PQntuples(res[nres - 1]) == 1) {
        np = strtol(PQgetvalue(res[nres - 1], 0, 0), NULL, 10);
        ns = strtol(PQgetvalue(res[nres - 1], 0, 1), NULL, 10);
    }
    finish(r, NULL, np, ns);
}

static int store(struct refresh *r, gs_err *e)
{
    sbuf sql = SBUF_INIT;
    if (pl_store_sql(r->schema, &sql)) {
        sbuf_free(&sql);
        return gs_err_set(e, GS_ENOMEM, "out of memory");
    }
    const char *p[2] = {r->answer, r->loc};
    int rc = pga_query(r->db, sbuf_str(&sql), 2, p, on_store, r, e);
    sbuf_free(&sql);
    return rc;
}

static void on_pipelines(hl_result *res, void *ud)
{
    struct refresh *r = ud;
    gs_err e = {0};
    if (res->kind != HL_OK || !cJSON_IsObject(res->json)) {
        char m[600];
        snprintf(m, sizeof m, "GET /opportunities/pipelines: %s (HTTP %ld)",
                 res->message && *res->message ? res->message : "no readable answer", res->status);
        finish(r, m, 0, 0);
        return;
    }
    r->answer = cJSON_PrintUnformatted(res->json);
    if (!r->answer) {
        finish(r, "out of memory", 0, 0);
        return;
    }
    if (store(r, &e))
        finish(r, e.msg, 0, 0);
}

int pl_refresh(hl_location *l, pga_conn *db, const schema_object *opp, fam_side_cb done, void *ud,
               gs_err *e)
{
    if (!opp->table_schema || !opp->table)
        return gs_err_set(e, GS_EINVAL, "pipelines: the opportunity model has no table");
    struct refresh *r = calloc(1, sizeof *r);
    if (!r || !(r->schema = strdup(opp->table_schema)) || !(r->table = strdup(opp->table)) ||
        !(r->loc = strdup(hl_location_id(l)))) {
        if (r)
            refresh_free(r);
        return gs_err_set(e, GS_ENOMEM, "out of memory");
    }
    r->db = db;
    r->done = done;
    r->ud = ud;
    hl_call c = {.method = "GET",
                 .endpoint = "pipelines",
                 .path = "/opportunities/pipelines",
                 .location_query = true};
    int rc = hl_send(l, &c, RL_PRIO_SCHEMA, "opportunity", on_pipelines, r, e);
    if (rc)
        refresh_free(r);
    return rc;
}
