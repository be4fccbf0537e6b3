/* pullstore.c - see pullstore.h. */
#include "pullstore.h"

#include "civil.h"
#include "copybin.h"
#include "db.h"
#include "family.h"
#include "ident.h"
#include "jprint.h"
#include "mapping.h"
#include "migrate.h"
#include "sbuf.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char ps_sql_scan_start[] =
    "UPDATE ghlsync.pull_state SET generation = generation + 1, cursor = NULL, page = NULL, "
    "fetched = 0, complete = false, started_at = now(), updated_at = now(), last_error = NULL "
    "WHERE location_id = $1 AND object_key = $2 "
    "RETURNING generation, floor(extract(epoch FROM started_at) * 1000)::bigint";
const char ps_sql_save_cursor[] =
    "UPDATE ghlsync.pull_state SET cursor = COALESCE($3::jsonb, cursor), page = $4::integer, "
    "fetched = $5::bigint, total = COALESCE($6::bigint, total), updated_at = now() "
    "WHERE location_id = $1 AND object_key = $2 AND COALESCE(page, 0) < $4::integer";
const char ps_sql_scan_done[] =
    "UPDATE ghlsync.pull_state SET complete = true, completed_at = now(), "
    "last_full_scan_at = now(), cursor = NULL, page = NULL, "
    "watermark = COALESCE(watermark, started_at), updated_at = now(), last_error = NULL "
    "WHERE location_id = $1 AND object_key = $2 AND generation = $3::bigint";
const char ps_sql_set_mode[] = "UPDATE ghlsync.pull_state SET mode = $3, updated_at = now() "
                               "WHERE location_id = $1 AND object_key = $2";
const char ps_sql_set_watermark[] =
    "UPDATE ghlsync.pull_state SET watermark = GREATEST(watermark, $3::timestamptz), "
    "updated_at = now() WHERE location_id = $1 AND object_key = $2";
const char ps_sql_set_error[] = "UPDATE ghlsync.pull_state SET last_error = $3, updated_at = now() "
                                "WHERE location_id = $1 AND object_key = $2";

/* ---- time ---- */

/* "YYYY-MM-DDTHH:MM:SS" (T or blank) exactly; anything looser takes sscanf's path. */
static bool strict_stamp(const char *s, int *y, int *mo, int *d, int *h, int *mi, int *se)
{
    return cv_digits(s, 4, y) && s[4] == '-' && cv_digits(s + 5, 2, mo) && s[7] == '-' &&
           cv_digits(s + 8, 2, d) && (s[10] == 'T' || s[10] == ' ') && cv_digits(s + 11, 2, h) &&
           s[13] == ':' && cv_digits(s + 14, 2, mi) && s[16] == ':' && cv_digits(s + 17, 2, se);
}

int64_t ps_time_ms(const cJSON *v)
{
    if (cJSON_IsNumber(v))
        return (int64_t)v->valuedouble;
    if (!cJSON_IsString(v))
        return PS_NO_TIME;
    const char *s = v->valuestring;
    int y, mo, d, h = 0, mi = 0, se = 0, n = 0;
    const char *p;
    bool timed = true;
    if (strict_stamp(s, &y, &mo, &d, &h, &mi, &se)) {
        p = s + 19; /* the API's own shape, read without sscanf (per record, on the hot path) */
    } else {
        if (sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3 || n != 10)
            return PS_NO_TIME;
        p = s + 10;
        h = mi = se = 0;
        timed = *p == 'T' || *p == ' ';
        if (timed) {
            int m2 = 0;
            if (sscanf(p + 1, "%2d:%2d:%2d%n", &h, &mi, &se, &m2) != 3)
                return PS_NO_TIME;
            p += 1 + m2;
        }
    }
    int64_t frac = 0;
    if (timed) {
        if (*p == '.') {
            int digits = 0;
            p++;
            while (isdigit((unsigned char)*p)) {
                if (digits < 3) {
                    frac = frac * 10 + (*p - '0');
                    digits++;
                }
                p++;
            }
            while (digits++ < 3)
                frac *= 10;
        }
    }
    int64_t off = 0;
    if (*p == '+' || *p == '-') {
        int oh = 0, om = 0;
        if (sscanf(p + 1, "%2d:%2d", &oh, &om) < 1)
            return PS_NO_TIME;
        off = (oh * 60 + om) * 60000LL * (*p == '-' ? -1 : 1);
    }
    int64_t days = cv_days_from_civil(y, mo, d);
    return ((days * 86400 + h * 3600 + mi * 60 + se) * 1000) + frac - off;
}

void ps_time_iso(int64_t ms, char *buf, size_t len)
{
    int64_t secs = ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
    int msec = (int)(ms - secs * 1000);
    time_t t = (time_t)secs;
    struct tm tm;
    gmtime_r(&t, &tm);
    size_t l = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + l, len - l, ".%03dZ", msec);
}

/* ---- model ---- */

static char *xstrdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

ps_model *ps_model_ref(ps_model *m)
{
    if (m)
        m->refs++;
    return m;
}

void ps_model_unref(ps_model *m)
{
    if (!m || --m->refs > 0)
        return;
    if (m->base)
        ps_model_unref(m->base); /* the object belongs to the base model */
    else
        schema_object_free(m->obj);
    free(m->location_id);
    free(m->object_key);
    free(m->table_schema);
    free(m->table_name);
    free(m->qtable);
    if (m->sql_owner) {
        ps_model_unref(m->sql_owner);
    } else {
        if (m->types)
            for (size_t i = 0; i < m->ncols; i++)
                free(m->types[i]);
        free(m->types);
        free(m->upsert);
        free(m->copy);
        free(m->copy_bin);
        free(m->sweep);
        free(m->hsweep);
        free(m->held);
        free(m->copy_guard);
    }
    free(m);
}

static bool same_text(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

void ps_model_share_sql(ps_model *m, ps_model *like)
{
    ps_model *o = like->sql_owner ? like->sql_owner : like;
    if (o == m || m->sql_owner || m->ncols != o->ncols || !same_text(m->upsert, o->upsert) ||
        !same_text(m->copy, o->copy) || !same_text(m->copy_bin, o->copy_bin) ||
        !same_text(m->sweep, o->sweep) || !same_text(m->hsweep, o->hsweep) ||
        !same_text(m->held, o->held) || !same_text(m->copy_guard, o->copy_guard))
        return;
    for (size_t i = 0; i < m->ncols; i++)
        if (!same_text(m->types[i], o->types[i]))
            return;
    for (size_t i = 0; i < m->ncols; i++)
        free(m->types[i]);
    free(m->types);
    free(m->upsert);
    free(m->copy);
    free(m->copy_bin);
    free(m->sweep);
    free(m->hsweep);
    free(m->held);
    free(m->copy_guard);
    m->types = o->types;
    m->upsert = o->upsert;
    m->copy = o->copy;
    m->copy_bin = o->copy_bin;
    m->sweep = o->sweep;
    m->hsweep = o->hsweep;
    m->held = o->held;
    m->copy_guard = o->copy_guard;
    m->sql_owner = ps_model_ref(o);
}

static const char *const pending_changes =
    "SELECT 1 FROM ghlsync.changes ch WHERE ch.table_schema = %s AND ch.table_name = %s "
    "AND ch.local_key = t.\"_local_id\" AND ch.state IN " FAM_OPEN_STATES;

static bool is_array_type(const char *t)
{
    size_t n = strlen(t);
    return n && t[n - 1] == ']';
}

static int build_sql(ps_model *m, const char *const *cols, gs_err *e)
{
    size_t n = m->ncols;
    sbuf b = SBUF_INIT;
    /* upsert */
    sbuf_printf(&b, "INSERT INTO %s AS t (", m->qtable);
    for (size_t i = 0; i < n; i++) {
        ident_quote(&b, cols[i]);
        sbuf_puts(&b, ", ");
    }
    sbuf_puts(&b, "\"_synced_at\", \"_generation\", \"_deleted_at\")\nSELECT DISTINCT ON (u.c0) ");
    /* A scalar column's values arrive as an array of its own type (each element parsed once, by
     * the type's input function); an array column's as text[] cast per element (unnest would
     * flatten an array of arrays). */
    for (size_t i = 0; i < n; i++) {
        sbuf_printf(&b, "u.c%zu", i);
        if (is_array_type(m->types[i]))
            sbuf_printf(&b, "::%s", m->types[i]);
        sbuf_puts(&b, ", ");
    }
    sbuf_printf(&b, "now(), $%zu::bigint, NULL::timestamptz\nFROM unnest(", n + 1);
    for (size_t i = 0; i < n; i++)
        sbuf_printf(&b, "%s$%zu::%s[]", i ? ", " : "", i + 1,
                    is_array_type(m->types[i]) ? "text" : m->types[i]);
    sbuf_puts(&b, ") WITH ORDINALITY AS u(");
    for (size_t i = 0; i < n; i++)
        sbuf_printf(&b, "c%zu, ", i);
    /* A record deleted locally and not yet (or only just) deleted remotely is not brought back
     * by a page read before the DELETE reached HighLevel (ghlsync.locally_deleted, 003). The
     * function is asked once per page, and only about ids that have a delete change at all
     * (changes_open_remote_idx): calling it for each record cost more than the insert. */
    sbuf_puts(&b,
              "ord)\nCROSS JOIN (SELECT COALESCE(array_agg(ch.remote_id), '{}') AS ids "
              "FROM ghlsync.changes ch WHERE ch.op = 'delete' AND ch.remote_id IS NOT NULL "
              "AND ch.remote_id = ANY($1::text[]) AND ghlsync.locally_deleted(ch.remote_id)) d\n"
              "WHERE u.c0 IS NOT NULL AND u.c0 <> ALL (d.ids)\n"
              "ORDER BY u.c0, u.ord DESC\n"
              "ON CONFLICT (\"location_id\", \"id\") WHERE \"id\" IS NOT NULL DO UPDATE SET (");
    for (size_t i = 2; i < n; i++) {
        ident_quote(&b, cols[i]);
        sbuf_puts(&b, ", ");
    }
    sbuf_puts(&b, "\"_synced_at\", \"_generation\", \"_deleted_at\") = (SELECT ");
    const fam_family *fam = fam_of(m->obj);
    for (size_t i = 2; i < n; i++) {
        sbuf q = SBUF_INIT;
        ident_quote(&q, cols[i]);
        sbuf_puts(&b, "CASE WHEN NOT p.newer OR p.c @> ARRAY[");
        ident_quote_literal(&b, cols[i]);
        sbuf_puts(&b, "]::text[] ");
        /* a lower-cased spelling of what the row holds keeps the row's (family.h) */
        const fam_std *sc = fam_row_std(fam, i);
        if (sc && (sc->flags & FAM_STD_KEEP_CASE))
            sbuf_printf(&b, "OR lower(t.%s) = EXCLUDED.%s ", sbuf_str(&q), sbuf_str(&q));
        sbuf_printf(&b, "THEN t.%s ELSE EXCLUDED.%s END, ", sbuf_str(&q), sbuf_str(&q));
        sbuf_free(&q);
    }
    char ps[32], pt[32];
    snprintf(ps, sizeof ps, "$%zu", n + 3);
    snprintf(pt, sizeof pt, "$%zu", n + 4);
    /* "newer": the record may overwrite the row. A row it may not overwrite is still stamped
     * with the scan's generation (the mark of mark-and-sweep, reconcile.h), in the same
     * statement: a separate UPDATE ... WHERE id = ANY(ids) per page cost more than the upsert
     * (its cached generic plan scanned the location). */
    char newer[512];
    snprintf(newer, sizeof newer,
             "(t.\"updated_at\" IS NULL OR EXCLUDED.\"updated_at\" IS NULL OR "
             "EXCLUDED.\"updated_at\" > t.\"updated_at\" OR ($%zu::boolean AND "
             "EXCLUDED.\"updated_at\" = t.\"updated_at\") OR t.\"_deleted_at\" IS NOT NULL)",
             n + 2);
    sbuf_printf(&b,
                "CASE WHEN p.newer THEN now() ELSE t.\"_synced_at\" END, "
                "COALESCE(EXCLUDED.\"_generation\", t.\"_generation\"), NULL::timestamptz "
                "FROM (SELECT array_agg(x) AS c, %s AS newer FROM ghlsync.changes ch, "
                "unnest(ch.changed_columns) x WHERE ",
                newer);
    sbuf_printf(&b,
                "ch.table_schema = %s AND ch.table_name = %s AND ch.local_key = t.\"_local_id\" "
                "AND ch.state IN " FAM_OPEN_STATES ") p)\n",
                ps, pt);
    sbuf_printf(&b,
                "WHERE %s OR (EXCLUDED.\"_generation\" IS NOT NULL AND "
                "EXCLUDED.\"_generation\" IS DISTINCT FROM t.\"_generation\")",
                newer);
    if (sbuf_failed(&b))
        goto nomem;
    m->upsert = sbuf_steal(&b);

    /* COPY (first backfill): the mapped columns, then _synced_at and _generation; _deleted_at
     * and the push columns keep their defaults (NULL) as the upsert leaves them on insert. */
    sbuf_printf(&b, "COPY %s (", m->qtable);
    for (size_t i = 0; i < n; i++) {
        ident_quote(&b, cols[i]);
        sbuf_puts(&b, ", ");
    }
    sbuf_puts(&b, "\"_synced_at\", \"_generation\") FROM STDIN");
    if (sbuf_failed(&b))
        goto nomem;
    m->copy = sbuf_steal(&b);
    /* binary when copybin.h encodes every column's type (copybin.h says why) */
    bool bin = true;
    for (size_t i = 0; i < n && bin; i++)
        bin = cb_kind_of(m->types[i]) != CB_NONE;
    if (bin) {
        sbuf_printf(&b, "%s (FORMAT binary)", m->copy);
        if (sbuf_failed(&b))
            goto nomem;
        m->copy_bin = sbuf_steal(&b);
    }

    const char *cond = "\"location_id\" = $1 AND \"id\" IS NOT NULL AND \"_generation\" IS "
                       "DISTINCT FROM $2::bigint AND (\"_synced_at\" IS NULL OR \"_synced_at\" < "
                       "$3::timestamptz)";
    sbuf_printf(&b, "UPDATE %s SET \"_deleted_at\" = now() WHERE \"_deleted_at\" IS NULL AND %s",
                m->qtable, cond);
    if (sbuf_failed(&b))
        goto nomem;
    m->sweep = sbuf_steal(&b);

    /* A hard delete keeps rows with an unpushed local change: the push side decides. */
    sbuf sch = SBUF_INIT, tab = SBUF_INIT;
    ident_quote_literal(&sch, m->table_schema);
    ident_quote_literal(&tab, m->table_name);
    sbuf_printf(&b, "DELETE FROM %s AS t WHERE %s AND NOT EXISTS (", m->qtable, cond);
    sbuf_printf(&b, pending_changes, sbuf_str(&sch), sbuf_str(&tab));
    sbuf_puts(&b, ")");
    sbuf_free(&sch);
    sbuf_free(&tab);
    if (sbuf_failed(&b))
        goto nomem;
    m->hsweep = sbuf_steal(&b);

    /* the rows either sweep may touch, before its generation and time tests (the hard one
     * takes rows marked deleted too): the unique (location_id, id) WHERE id IS NOT NULL index
     * answers at its first entry */
    sbuf_printf(
        &b, "SELECT EXISTS (SELECT 1 FROM %s WHERE \"location_id\" = $1 AND \"id\" IS NOT NULL)",
        m->qtable);
    if (sbuf_failed(&b))
        goto nomem;
    m->held = sbuf_steal(&b);

    /* The COPY guard starts from the location's delete changes of this table, open or done
     * within the hour (normally none; migration 018 indexes both kinds by location), and looks
     * each one's record up in the table through the unique (location_id, id) index: after the
     * COPY, a record deleted locally that the group brought back is in the table. Records of
     * earlier groups deleted locally since are not (their rows are gone), so only this group's
     * can match. The lookup is a scalar subquery, not EXISTS: the planner would make EXISTS a
     * semi-join and could drive it from the table's side, one probe of the changes per row of
     * the location (it did, given 50,000 pending updates in its statistics). */
    static const char guard_part[] =
        "EXISTS (SELECT 1 FROM ghlsync.changes ch WHERE ch.op = 'delete' AND ch.location_id = $1 "
        "AND ch.table_schema = $2 AND ch.table_name = $3 AND %s AND (SELECT 1 FROM %s t WHERE "
        "t.\"location_id\" = $1 AND t.\"id\" = ch.remote_id LIMIT 1) IS NOT NULL)";
    sbuf_puts(&b, "SELECT 1 / (CASE WHEN ");
    sbuf_printf(&b, guard_part, "ch.state IN " FAM_OPEN_STATES, m->qtable);
    sbuf_puts(&b, " OR ");
    sbuf_printf(&b, guard_part, "ch.state = 'done' AND ch.done_at > now() - interval '1 hour'",
                m->qtable);
    sbuf_puts(&b, " THEN 0 ELSE 1 END)");
    if (sbuf_failed(&b))
        goto nomem;
    m->copy_guard = sbuf_steal(&b);
    pga_stmt_name(m->copy_guard, m->copy_guard_name, sizeof m->copy_guard_name);
    return 0;
nomem:
    sbuf_free(&b);
    return gs_err_set(e, GS_ENOMEM, "out of memory");
}

int ps_model_new(PGconn *c, schema_object *obj, const char *location_id, ps_model **out, gs_err *e)
{
    *out = NULL;
    if (!obj->table || !obj->table_schema) {
        schema_object_free(obj);
        return gs_err_set(e, GS_ESTATE, "object model not resolved (no table)");
    }
    ps_model *m = calloc(1, sizeof *m);
    if (!m) {
        schema_object_free(obj);
        return gs_err_set(e, GS_ENOMEM, "out of memory");
    }
    m->refs = 1;
    m->obj = obj;
    m->location_id = xstrdup(location_id);
    m->object_key = xstrdup(obj->key);
    m->table_schema = xstrdup(obj->table_schema);
    m->table_name = xstrdup(obj->table);
    sbuf q = SBUF_INIT;
    ident_quote(&q, obj->table_schema);
    sbuf_putc(&q, '.');
    ident_quote(&q, obj->table);
    m->qtable = sbuf_steal(&q);
    if (!m->location_id || !m->object_key || !m->table_schema || !m->table_name || !m->qtable) {
        ps_model_unref(m);
        return gs_err_set(e, GS_ENOMEM, "out of memory");
    }
    map_row row;
    int rc = map_row_init(obj, &row, e);
    if (rc) {
        ps_model_unref(m);
        return rc;
    }
    m->ncols = row.n;
    m->types = calloc(row.n, sizeof *m->types);
    PGresult *res = NULL;
    const char *p[1] = {m->qtable};
    if (!m->types) {
        rc = gs_err_set(e, GS_ENOMEM, "out of memory");
        goto out;
    }
    rc = db_query(c,
                  "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
                  "WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped",
                  1, p, &res, e);
    if (rc)
        goto out;
    for (size_t i = 0; i < row.n; i++) {
        for (int r = 0; r < PQntuples(res); r++)
            if (strcmp(PQgetvalue(res, r, 0), row.columns[i]) == 0) {
                m->types[i] = strdup(PQgetvalue(res, r, 1));
                break;
            }
        if (!m->types[i]) {
            rc = gs_err_set(e, GS_ESTATE, "table %s has no column \"%s\" (apply the schema first)",
                            m->qtable, row.columns[i]);
            goto out;
        }
    }
    rc = build_sql(m, row.columns, e);
    if (!rc) {
        pga_stmt_name(m->upsert, m->upsert_name, sizeof m->upsert_name);
        /* the plan is built: the raw JSON copies served the ddl bookkeeping only */
        schema_object_drop_raw(obj);
    }
out:
    PQclear(res);
    map_row_free(&row);
    if (rc) {
        ps_model_unref(m);
        return rc;
    }
    *out = m;
    return 0;
}

int ps_model_new_shadow(PGconn *c, ps_model *base, const char *shadow, ps_model **out, gs_err *e)
{
    (void)c;
    *out = NULL;
    ps_model *m = calloc(1, sizeof *m);
    if (!m)
        return gs_err_set(e, GS_ENOMEM, "out of memory");
    m->refs = 1;
    m->base = ps_model_ref(base);
    m->obj = base->obj;
    m->location_id = xstrdup(base->location_id);
    m->object_key = xstrdup(base->object_key);
    m->table_schema = xstrdup(base->table_schema);
    m->table_name = xstrdup(base->table_name);
    sbuf q = SBUF_INIT;
    ident_quote(&q, base->table_schema);
    sbuf_putc(&q, '.');
    ident_quote(&q, shadow);
    m->qtable = sbuf_steal(&q);
    m->ncols = base->ncols;
    m->types = calloc(base->ncols, sizeof *m->types);
    int rc = 0;
    if (!m->location_id || !m->object_key || !m->table_schema || !m->table_name || !m->qtable ||
        !m->types)
        rc = gs_err_set(e, GS_ENOMEM, "out of memory");
    for (size_t i = 0; !rc && i < base->ncols; i++)
        if (!(m->types[i] = strdup(base->types[i])))
            rc = gs_err_set(e, GS_ENOMEM, "out of memory");
    map_row row;
    if (!rc && !(rc = map_row_init(m->obj, &row, e))) {
        rc = build_sql(m, (const char *const *)row.columns, e);
        map_row_free(&row);
    }
    if (!rc)
        pga_stmt_name(m->upsert, m->upsert_name, sizeof m->upsert_name);
    if (rc) {
        ps_model_unref(m);
        return rc;
    }
    *out = m;
    return 0;
}

/* ---- pages ---- */

static void free_vals(ps_page *p);

void ps_page_free(ps_page *p)
{
    if (p->arrays)
        for (size_t i = 0; i < p->model->ncols; i++)
            free(p->arrays[i]);
    free(p->arrays);
    free_vals(p);
    free(p->copy);
    free(p->cursor);
    free(p->first_id);
    free(p->last_id);
    ps_model_unref(p->model);
    memset(p, 0, sizeof *p);
}

/* The first of the two keys the record has (JSON null included: it reads as no time). */
static const cJSON *first_key(const cJSON *o, const char *const k[2])
{
    const cJSON *v = k[0] ? fam_get(o, k[0]) : NULL;
    return v || !k[1] ? v : fam_get(o, k[1]);
}

/* arrays[0..upto) of page p from its values (row-major, p->model->ncols per record). */
static int build_arrays(ps_page *p, char *const *vals, size_t upto)
{
    size_t n = p->n, nc = p->model->ncols;
    const char **col = n ? malloc(n * sizeof *col) : NULL;
    if (n && !col)
        return GS_ENOMEM;
    for (size_t k = 0; k < upto; k++) {
        if (p->arrays[k])
            continue;
        for (size_t i = 0; i < n; i++)
            col[i] = vals[i * nc + k];
        sbuf b = SBUF_INIT;
        map_array_encode(&b, col, n); /* "{}" when n = 0 */
        if (sbuf_failed(&b)) {
            free(col);
            return GS_ENOMEM;
        }
        p->arrays[k] = sbuf_steal(&b);
    }
    free(col);
    return 0;
}

/* The values and their strings (the arrays, when built, are copies). */
static void free_vals(ps_page *p)
{
    free(p->vals);
    p->vals = NULL;
    ar_free(&p->vals_ar);
}

int ps_page_fill_arrays(ps_page *p, gs_err *e)
{
    if (!p->vals)
        return 0;
    if (build_arrays(p, p->vals, p->model->ncols))
        return gs_err_set(e, GS_ENOMEM, "out of memory");
    free_vals(p);
    return 0;
}

/* "{a,b}" + "{c}" -> "{a,b,c}": array literals of two pages, one after the other. */
static char *array_concat(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    bool ea = strcmp(a, "{}") == 0, eb = strcmp(b, "{}") == 0;
    if (eb || ea)
        return strdup(eb ? a : b);
    char *r = malloc(la + lb);
    if (!r)
        return NULL;
    memcpy(r, a, la - 1); /* without its '}' */
    r[la - 1] = ',';
    memcpy(r + la, b + 1, lb); /* without its '{', with the NUL */
    return r;
}

int ps_page_merge(ps_page *dst, ps_page *src, gs_err *e)
{
    if (dst->model != src->model) {
        ps_page_free(src);
        return gs_err_set(e, GS_ESTATE, "pages of different models cannot be merged");
    }
    size_t nc = dst->model->ncols;
    bool copy = dst->copy && src->copy && dst->copy_bin == src->copy_bin;
    /* without COPY data on both sides the group goes to the upsert: arrays on both sides */
    if (!copy && (ps_page_fill_arrays(dst, e) || ps_page_fill_arrays(src, e))) {
        ps_page_free(src);
        return GS_ENOMEM;
    }
    if (copy) {
        /* doubling: a group of ten pages was ten reallocs, each copying all before it */
        size_t need = dst->copy_len + src->copy_len + 1;
        if (need > dst->copy_cap) {
            size_t cap = dst->copy_cap * 2 > need ? dst->copy_cap * 2 : need;
            char *c = realloc(dst->copy, cap);
            if (!c)
                goto nomem;
            dst->copy = c;
            dst->copy_cap = cap;
        }
        /* binary: one header and one trailer, around both pages' tuples */
        size_t skip = dst->copy_bin ? CB_HEADER_LEN : 0;
        if (dst->copy_bin)
            dst->copy_len -= CB_TRAILER_LEN;
        char *c = dst->copy;
        memcpy(c + dst->copy_len, src->copy + skip, src->copy_len - skip);
        dst->copy_len += src->copy_len - skip;
        c[dst->copy_len] = '\0';
        if (src->n) {
            char **v = realloc(dst->vals, (dst->n + src->n) * nc * sizeof *v);
            if (!v)
                goto nomem;
            memcpy(v + dst->n * nc, src->vals, src->n * nc * sizeof *v);
            dst->vals = v;
            free(src->vals);
            src->vals = NULL;
            ar_adopt(&dst->vals_ar, &src->vals_ar); /* the strings are dst's now */
        }
    } else {
        free(dst->copy);
        dst->copy = NULL;
        dst->copy_len = 0;
        dst->copy_cap = 0;
        dst->copy_bin = false;
    }
    for (size_t k = 0; k < nc; k++) {
        if (!dst->arrays[k] || !src->arrays[k])
            continue; /* built later from the values (ps_page_fill_arrays) */
        char *a = array_concat(dst->arrays[k], src->arrays[k]);
        if (!a)
            goto nomem;
        free(dst->arrays[k]);
        dst->arrays[k] = a;
    }
    /* src's records come after dst's: the later ones win in the upsert (DISTINCT ON) */
    if (dst->last_upd != PS_NO_TIME && src->first_upd != PS_NO_TIME) {
        if (src->first_upd < dst->last_upd)
            dst->asc = false;
        if (src->first_upd > dst->last_upd)
            dst->desc = false;
    }
    dst->asc = dst->asc && src->asc;
    dst->desc = dst->desc && src->desc;
    if (src->min_upd != PS_NO_TIME && (dst->min_upd == PS_NO_TIME || src->min_upd < dst->min_upd))
        dst->min_upd = src->min_upd;
    if (src->max_upd != PS_NO_TIME && (dst->max_upd == PS_NO_TIME || src->max_upd > dst->max_upd))
        dst->max_upd = src->max_upd;
    if (dst->first_upd == PS_NO_TIME)
        dst->first_upd = src->first_upd;
    if (src->last_upd != PS_NO_TIME)
        dst->last_upd = src->last_upd;
    if (src->cursor) {
        free(dst->cursor);
        dst->cursor = src->cursor;
        src->cursor = NULL;
    }
    if (!dst->first_id) {
        dst->first_id = src->first_id;
        src->first_id = NULL;
    }
    if (src->last_id) {
        free(dst->last_id);
        dst->last_id = src->last_id;
        src->last_id = NULL;
    }
    if (src->total >= 0)
        dst->total = src->total;
    dst->warnings += src->warnings;
    dst->n += src->n;
    src->n = 0;
    ps_page_free(src);
    return 0;
nomem:
    ps_page_free(src);
    return gs_err_set(e, GS_ENOMEM, "out of memory");
}

/* Text in COPY's text format: backslash, tab, newline and CR escaped; up to `end` (NULL: to the
 * NUL; else a position inside the same NUL-terminated string). The plain runs are found with
 * strcspn (vectorised in glibc), not byte by byte. */
static void copy_escaped(sbuf *b, const char *v, const char *end)
{
    for (;;) {
        size_t run = strcspn(v, "\\\t\n\r");
        if (end && run > (size_t)(end - v))
            run = (size_t)(end - v);
        if (run)
            sbuf_append(b, v, run);
        v += run;
        if (end ? v >= end : !*v)
            return;
        sbuf_putc(b, '\\');
        sbuf_putc(b, *v == '\t' ? 't' : *v == '\n' ? 'n' : *v == '\r' ? 'r' : '\\');
        v++;
    }
}

/* One value in COPY's text format: \N for NULL. */
static void copy_value(sbuf *b, const char *v)
{
    if (!v)
        sbuf_puts(b, "\\N");
    else
        copy_escaped(b, v, NULL);
}

/* Whether array_in reads this element the same without its quotes: not empty, not NULL in any
 * case, no blank (array_in trims them) and none of the characters with a meaning inside. */
static bool bare_ok(const char *s, size_t n)
{
    if (n == 0 || (n == 4 && strncasecmp(s, "NULL", 4) == 0))
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\' || c == '{' || c == '}' || c == ',' || c == ' ' ||
            (c >= '\t' && c <= '\r'))
            return false;
    }
    return true;
}

/* A text[] literal from map_array_encode (every element quoted), for COPY with the quotes left
 * out where they are not needed: array_in then skips its quote and escape handling, which was
 * about 5 % of PostgreSQL's COPY time for contacts (four text[] columns). A literal of another
 * shape is written as it is. */
static void copy_array(sbuf *b, const char *v)
{
    const char *p = v + 1;
    if (v[0] != '{')
        goto as_is;
    size_t start = b->len;
    sbuf_putc(b, '{');
    while (*p != '}') {
        if (p[0] == 'N' && strncmp(p, "NULL", 4) == 0 && (p[4] == ',' || p[4] == '}')) {
            sbuf_puts(b, "NULL");
            p += 4;
        } else if (*p == '"') {
            const char *q = p + 1;
            bool esc = false;
            while (*q && *q != '"') {
                if (*q == '\\') {
                    esc = true;
                    if (!*++q)
                        break;
                }
                q++;
            }
            if (*q != '"')
                goto undo;
            /* quoted span p..q; bare when nothing in it was escaped and nothing needs quotes */
            if (!esc && bare_ok(p + 1, (size_t)(q - p - 1)))
                sbuf_append(b, p + 1, (size_t)(q - p - 1));
            else
                copy_escaped(b, p, q + 1);
            p = q + 1;
        } else {
            goto undo;
        }
        if (*p == ',') {
            sbuf_putc(b, ',');
            p++;
        } else if (*p != '}') {
            goto undo;
        }
    }
    if (p[1] != '\0')
        goto undo;
    sbuf_putc(b, '}');
    return;
undo:
    b->len = start;
as_is:
    copy_value(b, v);
}

/* The rows in COPY's text format: each value escaped, arrays with quotes only where needed. */
static int copy_rows_text(sbuf *b, const ps_model *m, char *const *vals, size_t n,
                          const ps_copy_opts *copy)
{
    size_t nc = m->ncols;
    char tail[80], iso[40];
    ps_time_iso(copy->synced_ms, iso, sizeof iso);
    snprintf(tail, sizeof tail, "\t%s\t%lld\n", iso, (long long)copy->generation);
    bool few[64], *arr = nc <= 64 ? few : malloc(nc * sizeof *arr);
    if (!arr)
        return GS_ENOMEM;
    for (size_t k = 0; k < nc; k++)
        arr[k] = m->types && m->types[k] && is_array_type(m->types[k]);
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < nc; k++) {
            if (k)
                sbuf_putc(b, '\t');
            const char *v = vals[i * nc + k];
            if (v && arr[k])
                copy_array(b, v);
            else
                copy_value(b, v);
        }
        sbuf_puts(b, tail);
    }
    if (arr != few)
        free(arr);
    return 0;
}

/* The rows in COPY's binary format (header, tuples, trailer). GS_EINVAL, with the column in
 * *bad, when a value is not in a form copybin.h encodes exactly. */
static int copy_rows_bin(sbuf *b, const ps_model *m, char *const *vals, size_t n,
                         const ps_copy_opts *copy, int *bad)
{
    size_t nc = m->ncols;
    cb_kind few[64], *kind = nc <= 64 ? few : malloc(nc * sizeof *kind);
    if (!kind)
        return GS_ENOMEM;
    for (size_t k = 0; k < nc; k++)
        kind[k] = cb_kind_of(m->types[k]);
    int rc = 0;
    cb_header(b);
    for (size_t i = 0; i < n && !rc; i++) {
        cb_tuple(b, (int)nc + 2);
        for (size_t k = 0; k < nc; k++)
            if (!cb_field(b, kind[k], vals[i * nc + k])) {
                *bad = (int)k;
                rc = GS_EINVAL;
                break;
            }
        cb_field_tstz_ms(b, copy->synced_ms);
        cb_field_int8(b, copy->generation);
    }
    cb_trailer(b);
    if (kind != few)
        free(kind);
    return rc;
}

/* The cursor of a page whose last kept record is `last`: the family's page cursor when the
 * answer carries one, else the record's own cursor key (none: *out NULL). GS_ENOMEM or 0. */
static int cursor_text(const fam_family *fam, const cJSON *response, const cJSON *last, char **out)
{
    *out = NULL;
    if (fam->page_cursor && (*out = fam->page_cursor(response)))
        return 0;
    const cJSON *sa = fam_get(last, fam->cursor_key);
    return sa && !(*out = jp_print(sa)) ? GS_ENOMEM : 0;
}

char *ps_page_peek_cursor(const ps_model *m, const cJSON *response)
{
    const fam_family *fam = fam_of(m->obj);
    const cJSON *recs = cJSON_GetObjectItemCaseSensitive(response, fam->envelope);
    if (!cJSON_IsArray(recs) || !recs->child)
        return NULL;
    const cJSON *last = recs->child->prev; /* cJSON links the first child's prev to the last */
    const cJSON *rec = fam->answer_record(last);
    const cJSON *id = cJSON_IsObject(rec) ? fam_get(rec, "id") : NULL;
    if (!cJSON_IsString(id) && !cJSON_IsNumber(id))
        return NULL; /* not kept by the build: its cursor is an earlier record's */
    char *c;
    cursor_text(fam, response, last, &c); /* out of memory: no cursor, the page is built first */
    return c;
}

int ps_page_build(ps_model *m, const cJSON *response, gs_log *lg, const ps_copy_opts *copy,
                  ps_page *out, gs_err *e)
{
    memset(out, 0, sizeof *out);
    out->model = ps_model_ref(m);
    out->total = -1;
    out->asc = out->desc = true;
    out->min_upd = out->max_upd = out->first_upd = out->last_upd = PS_NO_TIME;
    const cJSON *tot = cJSON_GetObjectItemCaseSensitive(response, "total");
    if (cJSON_IsNumber(tot))
        out->total = (long long)tot->valuedouble;
    const fam_family *fam = fam_of(m->obj);
    const cJSON *recs = cJSON_GetObjectItemCaseSensitive(response, fam->envelope);
    if (recs && !cJSON_IsArray(recs)) {
        ps_page_free(out);
        return gs_err_set(e, GS_EPARSE, "search response: \"%s\" is not an array", fam->envelope);
    }
    size_t cap = (size_t)cJSON_GetArraySize(recs), nc = m->ncols;
    if (nc != map_row_width(m->obj)) {
        ps_page_free(out);
        return gs_err_set(e, GS_ESTATE, "page: the model has %zu columns, its rows %zu", nc,
                          map_row_width(m->obj));
    }
    char **vals = cap ? calloc(cap * nc, sizeof *vals) : NULL;
    out->arrays = calloc(nc, sizeof *out->arrays);
    if ((cap && !vals) || !out->arrays)
        goto nomem;
    /* every value of the page in one arena (arena.h), built in one scratch buffer */
    sbuf warn = SBUF_INIT, scratch = SBUF_INIT;
    map_out mo = {&out->vals_ar, &scratch};
    /* Rows belong to the location they were pulled for (the sweep relies on it). */
    char *loc = cap ? map_out_str(&mo, m->location_id) : NULL;
    if (cap && !loc)
        goto nomem_vals;
    size_t n = 0;
    const cJSON *r;
    int64_t prev = PS_NO_TIME;
    const cJSON *last_kept = NULL;
    cJSON_ArrayForEach(r, recs)
    {
        char **row = &vals[n * nc];
        int rc = map_record_values(m->obj, r, m->location_id, &mo, row, &warn, e);
        if (rc == GS_ENOMEM) {
            sbuf_free(&warn);
            sbuf_free(&scratch);
            goto nomem_vals;
        }
        if (rc || !row[0]) {
            memset(row, 0, nc * sizeof *row);
            log_event(lg, LOG_WARN, "pull.record_skipped", "object", m->object_key, "location",
                      m->location_id, "why", rc ? e->msg : "record has no id", NULL);
            continue;
        }
        row[1] = loc;
        int64_t u = ps_time_ms(first_key(r, fam->updated_key));
        if (u != PS_NO_TIME) {
            if (out->min_upd == PS_NO_TIME || u < out->min_upd)
                out->min_upd = u;
            if (out->max_upd == PS_NO_TIME || u > out->max_upd)
                out->max_upd = u;
            if (prev != PS_NO_TIME) {
                if (u < prev)
                    out->asc = false;
                if (u > prev)
                    out->desc = false;
            }
            if (out->first_upd == PS_NO_TIME)
                out->first_upd = u;
            out->last_upd = u;
            prev = u;
        }
        /* only the last kept record's cursor is the page's: printed once, after the loop */
        last_kept = r;
        n++;
    }
    sbuf_free(&scratch);
    if (n && (!(out->first_id = strdup(vals[0])) || !(out->last_id = strdup(vals[(n - 1) * nc]))))
        goto nomem_vals;
    if (n && cursor_text(fam, response, last_kept, &out->cursor))
        goto nomem_vals;
    if (warn.len) {
        size_t lines = 0;
        for (size_t i = 0; i < warn.len; i++)
            lines += warn.data[i] == '\n';
        out->warnings = lines;
        char first[300];
        const char *nl = strchr(sbuf_str(&warn), '\n');
        snprintf(first, sizeof first, "%.*s", nl ? (int)(nl - warn.data) : 280, sbuf_str(&warn));
        char cnt[24];
        snprintf(cnt, sizeof cnt, "%zu", lines);
        log_event(lg, LOG_WARN, "pull.values_dropped", "object", m->object_key, "location",
                  m->location_id, "count", cnt, "first", first, NULL);
    }
    sbuf_free(&warn);
    out->n = n;
    if (copy && n) {
        sbuf b = SBUF_INIT;
        int k_bad = -1;
        int crc = m->copy_bin ? copy_rows_bin(&b, m, vals, n, copy, &k_bad)
                              : copy_rows_text(&b, m, vals, n, copy);
        if (crc == GS_ENOMEM || (!crc && sbuf_failed(&b))) {
            sbuf_free(&b);
            goto nomem_vals;
        }
        if (crc) {
            /* a value binary COPY does not encode exactly: the upsert writes this page */
            sbuf_free(&b);
            log_event(lg, LOG_DEBUG, "pull.copy_skipped", "object", m->object_key, "location",
                      m->location_id, "type", m->types[k_bad], "msg",
                      "a value in a form binary COPY does not take: the page goes to the upsert",
                      NULL);
        } else {
            out->copy_bin = m->copy_bin != NULL;
            out->copy_len = b.len;
            out->copy_cap = b.cap;
            out->copy = sbuf_steal(&b);
            if (!out->copy)
                goto nomem_vals;
        }
    }
    /* With COPY only the id column's array is needed (the guard, quarantine resolution); the
     * values stay for the others, built if the page goes to the upsert after all. */
    if (build_arrays(out, vals, out->copy ? 1 : nc))
        goto nomem_vals;
    if (out->copy) {
        out->vals = vals;
        return 0;
    }
    free(vals);
    ar_free(&out->vals_ar); /* the arrays hold copies */
    return 0;
nomem_vals:
nomem:
    free(vals);
    ps_page_free(out);
    return gs_err_set(e, GS_ENOMEM, "out of memory");
}

/* ---- statements ---- */

static const char *own(ps_stmts *s, char *v)
{
    if (!v)
        return NULL;
    s->owned[s->nowned++] = v;
    return v;
}

static char *fmt_ll(long long v)
{
    char b[32];
    snprintf(b, sizeof b, "%lld", v);
    return strdup(b);
}

void ps_stmts_free(ps_stmts *s)
{
    for (int i = 0; i < s->n; i++)
        free(s->params[i]);
    for (int i = 0; i < s->nowned; i++)
        free(s->owned[i]);
    memset(s, 0, sizeof *s);
}

int ps_page_stmts(const ps_page *p, const ps_write_opts *o, ps_stmts *s, gs_err *e)
{
    memset(s, 0, sizeof *s);
    const ps_model *m = p->model;
    size_t nc = m->ncols;
    const char *gen = o->generation >= 0 ? own(s, fmt_ll(o->generation)) : NULL;
    if (o->generation >= 0 && !gen)
        goto nomem;
    if (p->n && p->vals) {
        ps_stmts_free(s);
        return gs_err_set(e, GS_ESTATE, "page arrays not built (ps_page_fill_arrays)");
    }
    if (p->n) {
        const char **v = calloc(nc + 4, sizeof *v);
        if (!v)
            goto nomem;
        for (size_t k = 0; k < nc; k++)
            v[k] = p->arrays[k];
        v[nc] = gen;
        v[nc + 1] = o->force ? "true" : "false";
        v[nc + 2] = m->table_schema;
        v[nc + 3] = m->table_name;
        s->sql[s->n] = m->upsert;
        s->name[s->n] = m->upsert_name;
        s->nparams[s->n] = (int)nc + 4;
        s->params[s->n++] = v;
    }
    if (o->state == PS_STATE_CURSOR) {
        const char **v = calloc(6, sizeof *v);
        if (!v)
            goto nomem;
        v[0] = m->location_id;
        v[1] = m->object_key;
        v[2] = o->cursor;
        v[3] = own(s, fmt_ll(o->seq));
        v[4] = own(s, fmt_ll(o->fetched));
        v[5] = o->total >= 0 ? own(s, fmt_ll(o->total)) : NULL;
        s->sql[s->n] = ps_sql_save_cursor;
        s->name[s->n] = "ghlsync_pull_cursor";
        s->nparams[s->n] = 6;
        s->params[s->n++] = v;
        if (!v[3] || !v[4] || (o->total >= 0 && !v[5]))
            goto nomem;
    } else if (o->state == PS_STATE_WATERMARK && p->max_upd != PS_NO_TIME) {
        const char **v = calloc(3, sizeof *v);
        if (!v)
            goto nomem;
        char iso[40];
        ps_time_iso(p->max_upd, iso, sizeof iso);
        v[0] = m->location_id;
        v[1] = m->object_key;
        v[2] = own(s, strdup(iso));
        s->sql[s->n] = ps_sql_set_watermark;
        s->name[s->n] = "ghlsync_pull_watermark";
        s->nparams[s->n] = 3;
        s->params[s->n++] = v;
        if (!v[2])
            goto nomem;
    }
    return 0;
nomem:
    ps_stmts_free(s);
    return gs_err_set(e, GS_ENOMEM, "out of memory");
}

int ps_page_copy_stmts(const ps_page *p, const ps_write_opts *o, ps_stmts *s, gs_err *e)
{
    if (!p->n || !p->copy)
        return gs_err_set(e, GS_EINVAL, "page has no COPY data");
    /* the cursor (and nothing else) as ps_page_stmts builds it, after the COPY and its guard */
    ps_page empty = *p;
    empty.n = 0;
    int rc = ps_page_stmts(&empty, o, s, e);
    if (rc)
        return rc;
    if (s->n + 2 > PS_MAX_STMTS) {
        ps_stmts_free(s);
        return gs_err_set(e, GS_EINVAL, "too many statements");
    }
    const char **v = calloc(3, sizeof *v);
    if (!v) {
        ps_stmts_free(s);
        return gs_err_set(e, GS_ENOMEM, "out of memory");
    }
    for (int i = s->n - 1; i >= 0; i--) {
        s->sql[i + 2] = s->sql[i];
        s->name[i + 2] = s->name[i];
        s->nparams[i + 2] = s->nparams[i];
        s->params[i + 2] = s->params[i];
    }
    s->n += 2;
    const ps_model *m = p->model;
    s->sql[0] = p->copy_bin ? m->copy_bin : m->copy;
    s->name[0] = NULL;
    s->nparams[0] = 0;
    s->params[0] = NULL;
    s->copy[0] = p->copy;
    s->copy_len[0] = p->copy_len;
    v[0] = m->location_id;
    v[1] = m->table_schema;
    v[2] = m->table_name;
    s->sql[1] = m->copy_guard;
    s->name[1] = m->copy_guard_name;
    s->nparams[1] = 3;
    s->params[1] = v;
    return 0;
}

int ps_page_write_sync(PGconn *c, const ps_page *p, const ps_write_opts *o, gs_err *e)
{
    ps_stmts s;
    int rc = ps_page_stmts(p, o, &s, e);
    if (rc)
        return rc;
    rc = db_begin(c, e);
    for (int i = 0; !rc && i < s.n; i++)
        rc = db_execp(c, s.sql[i], s.nparams[i], s.params[i], e);
    if (!rc)
        rc = db_commit(c, e);
    else
        db_rollback(c);
    ps_stmts_free(&s);
    return rc;
}

/* ---- pull_state ---- */

void ps_state_free(ps_state *st)
{
    free(st->cursor);
    memset(st, 0, sizeof *st);
}

static int64_t ms_or_none(const PGresult *r, int col)
{
    return PQgetisnull(r, 0, col) ? PS_NO_TIME : strtoll(PQgetvalue(r, 0, col), NULL, 10);
}

const char ps_sql_state_get[] =
    "SELECT mode, cursor::text, (extract(epoch FROM watermark) * 1000)::bigint, "
    "generation, coalesce(total, -1), fetched, complete, "
    "floor(extract(epoch FROM started_at) * 1000)::bigint, "
    "(extract(epoch FROM last_full_scan_at) * 1000)::bigint, coalesce(page, 0) "
    "FROM ghlsync.pull_state WHERE location_id = $1 AND object_key = $2";

void ps_state_read(const PGresult *r, ps_state *st)
{
    memset(st, 0, sizeof *st);
    snprintf(st->mode, sizeof st->mode, "%s", PQgetvalue(r, 0, 0));
    st->cursor = PQgetisnull(r, 0, 1) ? NULL : strdup(PQgetvalue(r, 0, 1));
    st->watermark_ms = ms_or_none(r, 2);
    st->generation = strtoll(PQgetvalue(r, 0, 3), NULL, 10);
    st->total = strtoll(PQgetvalue(r, 0, 4), NULL, 10);
    st->fetched = strtoll(PQgetvalue(r, 0, 5), NULL, 10);
    st->complete = PQgetvalue(r, 0, 6)[0] == 't';
    st->started_ms = ms_or_none(r, 7);
    st->last_full_scan_ms = ms_or_none(r, 8);
    st->page = strtoll(PQgetvalue(r, 0, 9), NULL, 10);
}

int ps_state_load(PGconn *c, const char *location_id, const char *object_key, ps_state *st,
                  gs_err *e)
{
    memset(st, 0, sizeof *st);
    const char *p[2] = {location_id, object_key};
    int rc = db_execp(c,
                      "INSERT INTO ghlsync.pull_state (location_id, object_key) VALUES ($1, $2) "
                      "ON CONFLICT DO NOTHING",
                      2, p, e);
    if (rc)
        return rc;
    PGresult *r;
    rc = db_query(c, ps_sql_state_get, 2, p, &r, e);
    if (rc)
        return rc;
    if (PQntuples(r) != 1) {
        PQclear(r);
        return gs_err_set(e, GS_EDB, "pull_state row missing for %s/%s", location_id, object_key);
    }
    ps_state_read(r, st);
    PQclear(r);
    return 0;
}

/* A remote delete of one record, confirmed by a 404 (webhook hints, whapply.h): the sweep's
 * statement restricted to that id, so that a delete seen early ends the same way as one seen
 * by the next full scan. */
char *ps_delete_one_sql(const ps_model *m, bool hard)
{
    sbuf b = SBUF_INIT;
    const char *cond = "\"location_id\" = $1 AND \"id\" = $2";
    if (!hard) {
        sbuf_printf(&b,
                    "UPDATE %s SET \"_deleted_at\" = now() WHERE \"_deleted_at\" IS NULL AND %s",
                    m->qtable, cond);
    } else {
        sbuf sch = SBUF_INIT, tab = SBUF_INIT;
        ident_quote_literal(&sch, m->table_schema);
        ident_quote_literal(&tab, m->table_name);
        sbuf_printf(&b, "DELETE FROM %s AS t WHERE %s AND NOT EXISTS (", m->qtable, cond);
        sbuf_printf(&b, pending_changes, sbuf_str(&sch), sbuf_str(&tab));
        sbuf_puts(&b, ")");
        sbuf_free(&sch);
        sbuf_free(&tab);
    }
    if (sbuf_failed(&b)) {
        sbuf_free(&b);
        return NULL;
    }
    return sbuf_steal(&b);
}
