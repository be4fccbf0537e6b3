/* ddl.c - see ddl.h. */
#include "ddl.h"

#include "db.h"
#include "family.h"
#include "migrate.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Columns every mirrored table has besides the field columns: the system columns of family.h
 * with the family's standard columns among them (table order). Field columns may not take these
 * names (ident_alloc adds a hash suffix instead). */
static size_t n_fixed(const schema_object *o)
{
    return fam_n_sys_columns + fam_of(o)->n_std;
}

static fam_column fixed_col(const schema_object *o, size_t i)
{
    const fam_family *f = fam_of(o);
    if (i < FAM_SYS_STD_AT)
        return fam_sys_columns[i];
    if (i < FAM_SYS_STD_AT + f->n_std) {
        const fam_std *s = &f->std[i - FAM_SYS_STD_AT];
        return (fam_column){s->column, s->type, s->comment};
    }
    return fam_sys_columns[i - f->n_std];
}

void ddl_plan_init(ddl_plan *p)
{
    memset(p, 0, sizeof *p);
    ident_set_init(&p->tables);
    ident_set_init(&p->present);
    ident_set_init(&p->gone);
}

static void step_free(ddl_step *s)
{
    free(s->summary);
    free(s->sql);
    for (int k = 0; k < s->nparams; k++)
        free(s->params[k]);
    free(s->params);
    free(s->tag);
}

void ddl_plan_free(ddl_plan *p)
{
    for (size_t i = 0; i < p->n; i++)
        step_free(&p->steps[i]);
    free(p->steps);
    for (size_t i = 0; i < p->n_warnings; i++)
        free(p->warnings[i]);
    free(p->warnings);
    ident_set_free(&p->tables);
    ident_set_free(&p->present);
    ident_set_free(&p->gone);
    memset(p, 0, sizeof *p);
}

size_t ddl_plan_ddl_count(const ddl_plan *p)
{
    size_t n = 0;
    for (size_t i = 0; i < p->n; i++)
        n += p->steps[i].kind == DDL_STEP_DDL;
    return n;
}

size_t ddl_plan_meta_count(const ddl_plan *p)
{
    return p->n - ddl_plan_ddl_count(p);
}

/* Planning context for one object. */
typedef struct ctx {
    PGconn *c;
    schema_object *o;
    const ddl_settings *s;
    ddl_plan *p;
    gs_err *err;
    const char *schema, *loc;
    sbuf qtable; /* "schema"."table" */
    int rc;      /* first failure (sticky) */
    /* database state (NULL results = fresh database) */
    PGresult *reg;    /* ghlsync.columns: column_name, field_key, data_type, pg_type, codec, role,
                         state */
    PGresult *cat;    /* catalog: attname, type, comment */
    PGresult *flds;   /* ghlsync.fields: field_key, label, data_type, column_name, raw, deleted */
    PGresult *opts;   /* ghlsync.field_options: field_key, option_key, label */
    PGresult *obj;    /* ghlsync.objects: raw, table_schema, table_name */
    PGresult *others; /* ghlsync.fields of other locations, not deleted: location_id, field_key */
    const char *tag;  /* set while queueing deprecation steps (ddl_step.tag) */
    bool table_exists;
    char *table_comment;
    bool *reg_seen; /* registry rows a model field uses */
} ctx;

static int nrows(const PGresult *r)
{
    return r ? PQntuples(r) : 0;
}

static int find_row(const PGresult *r, int col, const char *v)
{
    for (int i = 0; i < nrows(r); i++)
        if (strcmp(PQgetvalue(r, i, col), v) == 0)
            return i;
    return -1;
}

static void warn(ctx *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warn(ctx *x, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    char **nw = realloc(x->p->warnings, (x->p->n_warnings + 1) * sizeof *nw);
    if (!nw || !(nw[x->p->n_warnings] = strdup(buf))) {
        if (nw)
            x->p->warnings = nw;
        x->rc = x->rc ? x->rc : gs_err_set(x->err, GS_ENOMEM, "out of memory");
        return;
    }
    x->p->warnings = nw;
    x->p->n_warnings++;
    log_event(x->s->log, LOG_WARN, "schema.warning", "object", x->o->key, "msg", buf, NULL);
}

/* Add a step; takes ownership of sql (an sbuf's string) and copies params. */
static void add_step(ctx *x, enum ddl_step_kind kind, char *summary, sbuf *sql, int n,
                     const char *const *params)
{
    ddl_step st = {kind, summary, NULL, n, NULL, NULL};
    if (x->rc) {
        free(summary);
        sbuf_free(sql);
        return;
    }
    ddl_plan *p = x->p;
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 32;
        ddl_step *ns = realloc(p->steps, cap * sizeof *ns);
        if (!ns)
            goto nomem;
        p->steps = ns;
        p->cap = cap;
    }
    if (x->tag && !(st.tag = strdup(x->tag)))
        goto nomem;
    if (sbuf_failed(sql))
        goto nomem;
    if (n) {
        st.params = calloc((size_t)n, sizeof *st.params);
        if (!st.params)
            goto nomem;
        for (int i = 0; i < n; i++)
            if (params[i] && !(st.params[i] = strdup(params[i]))) {
                for (int k = 0; k < i; k++)
                    free(st.params[k]);
                free(st.params);
                st.params = NULL;
                goto nomem;
            }
    }
    st.sql = sbuf_steal(sql);
    p->steps[p->n++] = st;
    return;
nomem:
    free(summary);
    free(st.tag);
    sbuf_free(sql);
    x->rc = gs_err_set(x->err, GS_ENOMEM, "out of memory");
}

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...)
{
    sbuf b = SBUF_INIT;
    va_list ap;
    va_start(ap, f);
    char buf[2048];
    vsnprintf(buf, sizeof buf, f, ap);
    va_end(ap);
    sbuf_puts(&b, buf);
    return sbuf_failed(&b) ? NULL : sbuf_steal(&b);
}

static int query(ctx *x, PGresult **out, const char *sql, int n, const char *const *params)
{
    *out = NULL;
    if (!x->c || x->rc)
        return x->rc;
    x->rc = db_query(x->c, sql, n, params, out, x->err);
    return x->rc;
}

/* ------------------------------------------------------------ comments */

static char *clean(const char *s)
{
    return ident_clean_text(s ? s : "");
}

static char *field_comment(const schema_field *f, bool currency)
{
    char *label = clean(f->label ? f->label : f->prop_key);
    char *key = clean(f->field_key), *dt = clean(f->data_type);
    char *r = NULL;
    if (label && key && dt)
        r = fmt("%s%s - HighLevel field %s (%s)", label, currency ? " (currency)" : "", key, dt);
    free(label);
    free(key);
    free(dt);
    return r;
}

static char *table_comment(const schema_object *o)
{
    char *label =
        clean(o->label_plural ? o->label_plural : (o->label_singular ? o->label_singular : o->key));
    char *key = clean(o->key);
    char *r = NULL;
    if (label && key)
        r = fmt("%s - HighLevel object %s (mirrored by ghlsync)", label, key);
    free(label);
    free(key);
    return r;
}

static void comment_sql(sbuf *b, const char *qtable, const char *column, const char *text)
{
    if (column) {
        sbuf_printf(b, "COMMENT ON COLUMN %s.", qtable);
        ident_quote(b, column);
    } else {
        sbuf_printf(b, "COMMENT ON TABLE %s", qtable);
    }
    sbuf_puts(b, " IS ");
    ident_quote_literal(b, text);
}

static const char *catalog_comment(ctx *x, const char *column, bool *exists)
{
    int r = find_row(x->cat, 0, column);
    *exists = r >= 0;
    if (r < 0 || PQgetisnull(x->cat, r, 2))
        return NULL;
    return PQgetvalue(x->cat, r, 2);
}

/* Emit COMMENT ON COLUMN when the catalog's comment differs (or the column is new). */
static void sync_comment(ctx *x, const char *column, const char *text, const char *why)
{
    if (!text) {
        x->rc = x->rc ? x->rc : gs_err_set(x->err, GS_ENOMEM, "out of memory");
        return;
    }
    bool exists;
    const char *cur = catalog_comment(x, column, &exists);
    if (cur && strcmp(cur, text) == 0)
        return;
    sbuf b = SBUF_INIT;
    comment_sql(&b, sbuf_str(&x->qtable), column, text);
    add_step(x, DDL_STEP_DDL, why ? fmt("~ %s", why) : NULL, &b, 0, NULL);
}

/* ------------------------------------------------------------ loading */

static int load_state(ctx *x)
{
    if (!x->c)
        return 0;
    PGresult *r;
    if (query(x, &r, "SELECT to_regclass('ghlsync.columns') IS NOT NULL", 0, NULL))
        return x->rc;
    bool ok = PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    if (!ok)
        return x->rc = gs_err_set(x->err, GS_ESTATE,
                                  "the ghlsync bookkeeping schema is missing (apply the "
                                  "migrations first: ghlsync schema apply)");
    const char *p2[2] = {x->loc, x->o->key};
    const char *p1[1] = {x->o->key};
    query(x, &x->reg,
          "SELECT column_name, field_key, data_type, pg_type, codec, role, state "
          "FROM ghlsync.columns WHERE object_key = $1 ORDER BY created_at, column_name",
          1, p1);
    query(x, &x->flds,
          "SELECT field_key, label, data_type, column_name, raw::text, deleted_at IS NOT NULL "
          "FROM ghlsync.fields WHERE location_id = $1 AND object_key = $2",
          2, p2);
    query(x, &x->opts,
          "SELECT field_key, option_key, label FROM ghlsync.field_options "
          "WHERE location_id = $1 AND object_key = $2",
          2, p2);
    query(x, &x->obj,
          "SELECT raw::text, table_schema, table_name, deleted_at IS NOT NULL "
          "FROM ghlsync.objects WHERE location_id = $1 AND object_key = $2",
          2, p2);
    query(x, &x->others,
          "SELECT location_id, field_key FROM ghlsync.fields WHERE location_id <> $1 AND "
          "object_key = $2 AND deleted_at IS NULL",
          2, p2);
    return x->rc;
}

static int load_catalog(ctx *x)
{
    if (!x->c)
        return 0;
    const char *p[1] = {sbuf_str(&x->qtable)};
    PGresult *r;
    if (query(x, &r,
              "SELECT to_regclass($1) IS NOT NULL, obj_description(to_regclass($1), 'pg_class')", 1,
              p))
        return x->rc;
    x->table_exists = PQgetvalue(r, 0, 0)[0] == 't';
    if (!PQgetisnull(r, 0, 1) && !(x->table_comment = strdup(PQgetvalue(r, 0, 1))))
        x->rc = gs_err_set(x->err, GS_ENOMEM, "out of memory");
    PQclear(r);
    if (x->table_exists)
        query(x, &x->cat,
              "SELECT attname, format_type(atttypid, atttypmod), col_description(attrelid, attnum) "
              "FROM pg_attribute WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT "
              "attisdropped ORDER BY attnum",
              1, p);
    return x->rc;
}

/* ------------------------------------------------------------ table */

static int choose_table(ctx *x)
{
    const schema_object *o = x->o;
    char name[IDENT_BUF];
    const char *p1[1] = {o->key};
    PGresult *r = NULL;
    if (query(x, &r, "SELECT table_schema, table_name FROM ghlsync.tables WHERE object_key = $1", 1,
              p1))
        return x->rc;
    bool registered = nrows(r) > 0;
    if (registered) {
        const char *rs = PQgetvalue(r, 0, 0), *rt = PQgetvalue(r, 0, 1);
        if (strcmp(rs, x->schema) != 0 || (x->s->table && strcmp(rt, x->s->table) != 0)) {
            x->rc = gs_err_set(x->err, GS_ECONFIG,
                               "object %s is mirrored in \"%s\".\"%s\" but the configuration "
                               "asks for \"%s\".\"%s\": rename the table and update "
                               "ghlsync.tables, or change the configuration back",
                               o->key, rs, rt, x->schema, x->s->table ? x->s->table : rt);
            PQclear(r);
            return x->rc;
        }
        snprintf(name, sizeof name, "%s", rt);
        PQclear(r);
    } else {
        PQclear(r);
        r = NULL;
        /* Names taken in the schema: other objects' tables and any table we did not create. */
        ident_set taken;
        ident_set_init(&taken);
        const char *ps[1] = {x->schema};
        if (x->c && !query(x, &r,
                           "SELECT table_name FROM ghlsync.tables WHERE table_schema = $1 UNION "
                           "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = "
                           "c.relnamespace WHERE n.nspname = $1",
                           1, ps))
            for (int i = 0; i < nrows(r); i++)
                ident_set_add(&taken, PQgetvalue(r, i, 0));
        PQclear(r);
        size_t pl = strlen(x->schema) + 1;
        for (size_t i = 0; i < x->p->tables.n; i++)
            if (strncmp(x->p->tables.names[i], x->schema, pl - 1) == 0 &&
                x->p->tables.names[i][pl - 1] == '.')
                ident_set_add(&taken, x->p->tables.names[i] + pl);
        if (x->s->table) {
            if (strlen(x->s->table) > IDENT_MAX || !*x->s->table)
                x->rc = gs_err_set(x->err, GS_ECONFIG,
                                   "table name \"%s\" for object %s must be 1 to 63 bytes",
                                   x->s->table, o->key);
            else if (ident_set_has(&taken, x->s->table))
                x->rc = gs_err_set(x->err, GS_ECONFIG,
                                   "table \"%s\".\"%s\" (configured for object %s) already exists "
                                   "and was not created by ghlsync for this object",
                                   x->schema, x->s->table, o->key);
            snprintf(name, sizeof name, "%s", x->s->table);
        } else if (x->rc == 0) {
            /* Index names derive from the table name: keep room for the longest suffix. */
            const fam_family *fam = fam_of(o);
            const char *want = fam->default_table ? fam->default_table(o->key) : NULL;
            x->rc = ident_alloc(&taken, want ? want : schema_prop_key(o->key), o->key, "t", NULL, 0,
                                name);
        }
        ident_set_free(&taken);
        if (x->rc)
            return x->rc;
    }
    char full[IDENT_BUF * 2 + 2];
    snprintf(full, sizeof full, "%s.%s", x->schema, name);
    if (ident_set_add(&x->p->tables, full) || !(x->o->table = strdup(name)) ||
        !(x->o->table_schema = strdup(x->schema)))
        return x->rc = gs_err_set(x->err, GS_ENOMEM, "out of memory");
    ident_quote(&x->qtable, x->schema);
    sbuf_putc(&x->qtable, '.');
    ident_quote(&x->qtable, name);
    if (!registered) {
        sbuf b = SBUF_INIT;
        sbuf_puts(&b, "INSERT INTO ghlsync.tables (object_key, table_schema, table_name) "
                      "VALUES ($1, $2, $3) ON CONFLICT (object_key) DO NOTHING");
        const char *p[3] = {o->key, x->schema, name};
        add_step(x, DDL_STEP_META, NULL, &b, 3, p);
    }
    return x->rc;
}

/* An index name from the table name and a suffix, hashed when too long. */
static void index_name(const char *table, const char *suffix, char *out)
{
    char full[IDENT_BUF * 3];
    snprintf(full, sizeof full, "%s_%s", table, suffix);
    if (strlen(full) > IDENT_MAX) {
        char base[IDENT_BUF];
        ident_with_hash(table, full, strlen(suffix) + 1, base);
        snprintf(full, sizeof full, "%s_%s", base, suffix);
    }
    memcpy(out, full, IDENT_BUF - 1);
    out[IDENT_BUF - 1] = '\0';
}

/* ------------------------------------------------------------ fields */

static const map_type *resolve_type(ctx *x, schema_field *f)
{
    const char *name = NULL;
    for (size_t i = 0; i < x->s->n_overrides; i++) {
        const ddl_field_override *ov = &x->s->overrides[i];
        if (strcmp(ov->field_key, f->field_key) == 0 || strcmp(ov->field_key, f->prop_key) == 0)
            name = ov->type;
    }
    const map_type *t;
    if (name) {
        t = map_types_get(x->s->types, name);
        if (!t && map_pg_type_valid(name)) {
            /* A plain PostgreSQL type (sync.toml documents field_types that way): keep the
             * codec the field's dataType maps to and store it in that column type. */
            const map_type *base = map_types_get(x->s->types, f->data_type);
            if (!base)
                base = &x->s->types->fallback;
            map_type *own = calloc(1, sizeof *own);
            size_t nl = strlen(f->data_type) + strlen(name) + 2;
            char *nm = own ? malloc(nl) : NULL;
            if (nm)
                snprintf(nm, nl, "%s:%s", f->data_type, name);
            if (own) {
                own->name = nm;
                own->column = strdup(name);
                own->currency_column = base->currency_column ? strdup(base->currency_column) : NULL;
                own->codec = base->codec;
            }
            if (!own || !nm || !own->column || (base->currency_column && !own->currency_column)) {
                if (own) {
                    free(own->name);
                    free(own->column);
                    free(own->currency_column);
                    free(own);
                }
                x->rc = gs_err_set(x->err, GS_ENOMEM, "out of memory");
                return NULL;
            }
            f->type_own = own;
            t = own;
        }
        if (!t) {
            x->rc = gs_err_set(x->err, GS_ECONFIG,
                               "field %s: type override \"%s\" is neither an entry of the type map "
                               "(the [types.*] names of mappings/types.toml) nor a PostgreSQL "
                               "type made of [a-z0-9_ (),[]]",
                               f->field_key, name);
            return NULL;
        }
    } else {
        t = map_types_get(x->s->types, f->data_type);
        if (!t) {
            t = &x->s->types->fallback;
            f->type_unknown = true;
            warn(x, "field %s has unknown dataType %s: stored losslessly as %s", f->field_key,
                 f->data_type, t->column);
        }
    }
    f->type = t;
    f->type_name = strdup(t->name[0] ? t->name : f->data_type);
    if (!f->type_name)
        x->rc = gs_err_set(x->err, GS_ENOMEM, "out of memory");
    return t;
}

/* Registry row of field_key in `role` that is not superseded, or -1. */
static int reg_find(ctx *x, const char *field_key, const char *role)
{
    for (int i = 0; i < nrows(x->reg); i++)
        if (strcmp(PQgetvalue(x->reg, i, 1), field_key) == 0 &&
            strcmp(PQgetvalue(x->reg, i, 5), role) == 0 &&
            strcmp(PQgetvalue(x->reg, i, 6), "superseded") != 0)
            return i;
    return -1;
}

static void reg_insert(ctx *x, const schema_field *f, const char *column, const char *pg_type,
                       const char *role)
{
    sbuf b = SBUF_INIT;
    sbuf_puts(&b, "INSERT INTO ghlsync.columns (object_key, column_name, field_key, data_type, "
                  "pg_type, codec, role) VALUES ($1, $2, $3, $4, $5, $6, $7) "
                  "ON CONFLICT (object_key, column_name) DO UPDATE SET state = 'active', "
                  "changed_at = now()");
    const char *p[7] = {x->o->key,    column,  f->field_key,
                        f->type_name, pg_type, map_codec_name(f->type->codec),
                        role};
    add_step(x, DDL_STEP_META, NULL, &b, 7, p);
}

static void reg_state(ctx *x, const char *column, const char *state, const char *data_type)
{
    sbuf b = SBUF_INIT;
    sbuf_puts(&b, "UPDATE ghlsync.columns SET state = $3, data_type = coalesce($4, data_type), "
                  "changed_at = now() WHERE object_key = $1 AND column_name = $2");
    const char *p[4] = {x->o->key, column, state, data_type};
    add_step(x, DDL_STEP_META, NULL, &b, 4, p);
}

static void add_column(ctx *x, const char *column, const char *pg_type, const char *why)
{
    sbuf b = SBUF_INIT;
    sbuf_printf(&b, "ALTER TABLE %s ADD COLUMN IF NOT EXISTS ", sbuf_str(&x->qtable));
    ident_quote(&b, column);
    sbuf_printf(&b, " %s", pg_type);
    add_step(x, DDL_STEP_DDL, fmt("+ add column \"%s\" %s (%s)", column, pg_type, why), &b, 0,
             NULL);
}

/* "a\x1fb" or "a\x1fb\x1fc" into buf (keys of the plan's present/gone sets). */
static const char *set_key(char *buf, size_t len, const char *a, const char *b, const char *c)
{
    snprintf(buf, len, "%s\x1f%s%s%s", a, b, c ? "\x1f" : "", c ? c : "");
    return buf;
}

static char *deprecation_warning(const char *field_key, const char *column)
{
    return fmt("field %s was deleted in HighLevel: column \"%s\" is kept (marked deprecated)",
               field_key, column);
}

/* A location planned earlier in this plan deprecated `column`, but this location still has
 * the field: take those steps (and the warning) back out. */
static void retract_deprecation(ctx *x, const char *column, const char *field_key)
{
    char tag[2048];
    set_key(tag, sizeof tag, x->o->key, column, NULL);
    ddl_plan *p = x->p;
    size_t w = 0;
    bool found = false;
    for (size_t i = 0; i < p->n; i++) {
        if (p->steps[i].tag && strcmp(p->steps[i].tag, tag) == 0) {
            step_free(&p->steps[i]);
            found = true;
            continue;
        }
        p->steps[w++] = p->steps[i];
    }
    p->n = w;
    if (!found)
        return;
    char *msg = deprecation_warning(field_key, column);
    for (size_t i = 0; msg && i < p->n_warnings; i++)
        if (strcmp(p->warnings[i], msg) == 0) {
            free(p->warnings[i]);
            memmove(&p->warnings[i], &p->warnings[i + 1],
                    (p->n_warnings - i - 1) * sizeof *p->warnings);
            p->n_warnings--;
            break;
        }
    free(msg);
}

static int cmp_field_key(const void *a, const void *b)
{
    const schema_field *const *fa = a, *const *fb = b;
    return strcmp((*fa)->field_key, (*fb)->field_key);
}

static void plan_fields(ctx *x, ident_set *used, bool creating, sbuf *create_cols)
{
    schema_object *o = x->o;
    size_t nf = o->n_fields;
    x->reg_seen = calloc((size_t)nrows(x->reg) + 1, sizeof *x->reg_seen);
    schema_field **todo = calloc(nf + 1, sizeof *todo);
    char **new_names = calloc(nf + 1, sizeof *new_names); /* raw name for new columns */
    bool *is_new = calloc(nf + 1, sizeof *is_new);
    if (!x->reg_seen || !todo || !new_names || !is_new) {
        x->rc = gs_err_set(x->err, GS_ENOMEM, "out of memory");
        goto out;
    }
    size_t ntodo = 0;
    /* Pass 1: fields that already have a column keep it. */
    for (size_t i = 0; i < nf && !x->rc; i++) {
        schema_field *f = &o->fields[i];
        const map_type *t = resolve_type(x, f);
        if (!t)
            break;
        char pk[2048];
        if (ident_set_add(&x->p->present, set_key(pk, sizeof pk, o->key, f->field_key, NULL))) {
            x->rc = gs_err_set(x->err, GS_ENOMEM, "out of memory");
            break;
        }
        int r = reg_find(x, f->field_key, "value");
        if (r < 0) {
            todo[ntodo++] = f;
            continue;
        }
        x->reg_seen[r] = true;
        int rc2 = reg_find(x, f->field_key, "currency");
        if (rc2 >= 0)
            x->reg_seen[rc2] = true;
        retract_deprecation(x, PQgetvalue(x->reg, r, 0), f->field_key);
        if (rc2 >= 0)
            retract_deprecation(x, PQgetvalue(x->reg, rc2, 0), f->field_key);
        const char *col = PQgetvalue(x->reg, r, 0);
        const char *old_dt = PQgetvalue(x->reg, r, 2);
        bool same = strcmp(PQgetvalue(x->reg, r, 3), t->column) == 0 &&
                    strcmp(PQgetvalue(x->reg, r, 4), map_codec_name(t->codec)) == 0 &&
                    (t->codec != MAP_MONEY || rc2 >= 0);
        if (!same) {
            warn(x,
                 "field %s changed dataType %s -> %s: its values now go to a new column; "
                 "column \"%s\" is kept with the old data",
                 f->field_key, old_dt, f->type_name, col);
            reg_state(x, col, "superseded", NULL);
            if (rc2 >= 0)
                reg_state(x, PQgetvalue(x->reg, rc2, 0), "superseded", NULL);
            char *why = fmt("superseded by a new column: %s changed dataType %s -> %s",
                            f->field_key, old_dt, f->type_name);
            char *cm = why ? fmt("SUPERSEDED (%s). Was: %s", why, f->label ? f->label : "") : NULL;
            sync_comment(x, col, cm, why);
            free(cm);
            free(why);
            char lower[64];
            snprintf(lower, sizeof lower, "%s", f->type_name);
            for (char *q = lower; *q; q++)
                *q = (char)tolower((unsigned char)*q);
            new_names[ntodo] = fmt("%s_%s", f->prop_key, lower);
            todo[ntodo++] = f;
            continue;
        }
        f->column = strdup(col);
        if (rc2 >= 0)
            f->currency_column = strdup(PQgetvalue(x->reg, rc2, 0));
        if (!f->column || (rc2 >= 0 && !f->currency_column)) {
            x->rc = gs_err_set(x->err, GS_ENOMEM, "out of memory");
            break;
        }
        if (strcmp(old_dt, f->type_name) != 0 || strcmp(PQgetvalue(x->reg, r, 6), "active") != 0) {
            if (strcmp(PQgetvalue(x->reg, r, 6), "deprecated") == 0)
                warn(x, "field %s is back in HighLevel: column \"%s\" is active again",
                     f->field_key, col);
            reg_state(x, col, "active", f->type_name);
            if (rc2 >= 0)
                reg_state(x, f->currency_column, "active", f->type_name);
        }
    }
    /* Pass 2: new columns, in key order so the same schema always gets the same names. */
    if (!x->rc) {
        schema_field **order = calloc(ntodo + 1, sizeof *order);
        if (!order) {
            x->rc = gs_err_set(x->err, GS_ENOMEM, "out of memory");
            goto out;
        }
        memcpy(order, todo, ntodo * sizeof *order);
        qsort(order, ntodo, sizeof *order, cmp_field_key);
        for (size_t k = 0; k < ntodo && !x->rc; k++) {
            schema_field *f = order[k];
            const char *raw = f->prop_key;
            for (size_t j = 0; j < ntodo; j++)
                if (todo[j] == f && new_names[j])
                    raw = new_names[j];
            static const char *const cur_sfx[1] = {"_currency"};
            bool money = f->type->codec == MAP_MONEY;
            char name[IDENT_BUF];
            char hkey[1024];
            snprintf(hkey, sizeof hkey, "%s%s%s", f->field_key, raw != f->prop_key ? "#" : "",
                     raw != f->prop_key ? f->type_name : "");
            if ((x->rc = ident_alloc(used, raw, hkey, "f", money ? cur_sfx : NULL, money ? 1 : 0,
                                     name)))
                break;
            f->column = strdup(name);
            if (money) {
                char cn[IDENT_BUF * 2];
                snprintf(cn, sizeof cn, "%s_currency", name);
                f->currency_column = strdup(cn);
            }
            if (!f->column || (money && !f->currency_column)) {
                x->rc = gs_err_set(x->err, GS_ENOMEM, "out of memory");
                break;
            }
            is_new[f - o->fields] = true;
            reg_insert(x, f, f->column, f->type->column, "value");
            if (money)
                reg_insert(x, f, f->currency_column, f->type->currency_column, "currency");
        }
        free(order);
        /* Columns appear in the API's field order (allocation above was in key order). */
        for (size_t i = 0; i < nf && !x->rc; i++) {
            schema_field *f = &o->fields[i];
            if (!is_new[i])
                continue;
            if (creating) {
                sbuf_puts(create_cols, ",\n    ");
                ident_quote(create_cols, f->column);
                sbuf_printf(create_cols, " %s", f->type->column);
                if (f->currency_column) {
                    sbuf_puts(create_cols, ",\n    ");
                    ident_quote(create_cols, f->currency_column);
                    sbuf_printf(create_cols, " %s", f->type->currency_column);
                }
                continue;
            }
            char *why = fmt("%s, %s", f->field_key, f->type_name);
            add_column(x, f->column, f->type->column, why ? why : "");
            if (f->currency_column)
                add_column(x, f->currency_column, f->type->currency_column, why ? why : "");
            free(why);
        }
    }
out:
    for (size_t i = 0; i < nf; i++)
        free(new_names ? new_names[i] : NULL);
    free(new_names);
    free(is_new);
    free(todo);
}

/* Columns the registry says exist but the catalog lacks (dropped by hand): add them back. */
static void restore_missing(ctx *x)
{
    if (!x->table_exists)
        return;
    for (int i = 0; i < nrows(x->reg); i++) {
        const char *col = PQgetvalue(x->reg, i, 0);
        if (find_row(x->cat, 0, col) >= 0 || strcmp(PQgetvalue(x->reg, i, 6), "active") != 0)
            continue;
        bool planned = false;
        for (size_t k = 0; k < x->p->n; k++)
            if (x->p->steps[k].kind == DDL_STEP_DDL && strstr(x->p->steps[k].sql, "ADD COLUMN") &&
                x->p->steps[k].summary && strstr(x->p->steps[k].summary, col))
                planned = true;
        if (!planned)
            add_column(x, col, PQgetvalue(x->reg, i, 3), "recorded by ghlsync but missing");
    }
}

/* Does a location other than this one still have the field? Its recorded schema (not deleted,
 * and not marked deleted by this plan), or any location already planned in this plan. */
static bool field_alive_elsewhere(ctx *x, const char *field_key)
{
    char k[2048];
    if (ident_set_has(&x->p->present, set_key(k, sizeof k, x->o->key, field_key, NULL)))
        return true;
    for (int i = 0; i < nrows(x->others); i++) {
        if (strcmp(PQgetvalue(x->others, i, 1), field_key) != 0)
            continue;
        set_key(k, sizeof k, PQgetvalue(x->others, i, 0), x->o->key, field_key);
        if (!ident_set_has(&x->p->gone, k))
            return true;
    }
    return false;
}

static void plan_deprecations(ctx *x)
{
    /* First record which fields this location lost, so field_alive_elsewhere of a location
     * planned later in the same plan sees it. */
    for (int i = 0; i < nrows(x->flds); i++) {
        const char *fk = PQgetvalue(x->flds, i, 0);
        char k[2048];
        if (!schema_find_field(x->o, fk) &&
            ident_set_add(&x->p->gone, set_key(k, sizeof k, x->loc, x->o->key, fk))) {
            x->rc = x->rc ? x->rc : gs_err_set(x->err, GS_ENOMEM, "out of memory");
            return;
        }
    }
    for (int i = 0; i < nrows(x->reg); i++) {
        if (x->reg_seen[i] || strcmp(PQgetvalue(x->reg, i, 6), "active") != 0)
            continue;
        const char *col = PQgetvalue(x->reg, i, 0), *fk = PQgetvalue(x->reg, i, 1);
        if (field_alive_elsewhere(x, fk)) {
            log_event(x->s->log, LOG_INFO, "schema.field_gone_here", "object", x->o->key,
                      "location", x->loc, "field", fk, "column", col, "msg",
                      "field deleted in this location only: column stays active", NULL);
            continue;
        }
        char *wmsg = deprecation_warning(fk, col);
        if (wmsg)
            warn(x, "%s", wmsg);
        free(wmsg);
        char tag[2048];
        x->tag = set_key(tag, sizeof tag, x->o->key, col, NULL);
        reg_state(x, col, "deprecated", NULL);
        int fr = find_row(x->flds, 0, fk);
        const char *label =
            fr >= 0 && !PQgetisnull(x->flds, fr, 1) ? PQgetvalue(x->flds, fr, 1) : "";
        char *cl = clean(label), *ck = clean(fk);
        char *cm = cl && ck ? fmt("DEPRECATED: field %s was deleted in HighLevel; data kept. "
                                  "Was: %s",
                                  ck, cl)
                            : NULL;
        char *why = fmt("deprecate column \"%s\": field %s deleted remotely", col, fk);
        sync_comment(x, col, cm, why);
        x->tag = NULL;
        free(why);
        free(cm);
        free(cl);
        free(ck);
    }
    /* ghlsync.fields rows of this location whose field is gone. */
    for (int i = 0; i < nrows(x->flds); i++) {
        const char *fk = PQgetvalue(x->flds, i, 0);
        if (schema_find_field(x->o, fk) || PQgetvalue(x->flds, i, 5)[0] == 't')
            continue;
        sbuf b = SBUF_INIT;
        sbuf_puts(&b, "UPDATE ghlsync.fields SET deleted_at = now() WHERE location_id = $1 AND "
                      "object_key = $2 AND field_key = $3");
        const char *p[3] = {x->loc, x->o->key, fk};
        add_step(x, DDL_STEP_META, NULL, &b, 3, p);
    }
}

/* True when the recorded raw JSON text equals `j`. */
static bool same_json(const char *text, const cJSON *j)
{
    cJSON *a = cJSON_Parse(text);
    bool r = a && cJSON_Compare(a, j, 1);
    cJSON_Delete(a);
    return r;
}

static void plan_bookkeeping(ctx *x)
{
    schema_object *o = x->o;
    /* ghlsync.objects */
    char *raw = cJSON_PrintUnformatted(o->raw);
    if (!raw) {
        x->rc = gs_err_set(x->err, GS_ENOMEM, "out of memory");
        return;
    }
    bool obj_same = nrows(x->obj) > 0 && same_json(PQgetvalue(x->obj, 0, 0), o->raw) &&
                    strcmp(PQgetvalue(x->obj, 0, 2), o->table) == 0 &&
                    PQgetvalue(x->obj, 0, 3)[0] != 't';
    if (!obj_same) {
        sbuf b = SBUF_INIT;
        sbuf_puts(&b, "INSERT INTO ghlsync.objects (location_id, object_key, object_id, standard, "
                      "label_singular, label_plural, description, table_schema, table_name, raw) "
                      "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb) "
                      "ON CONFLICT (location_id, object_key) DO UPDATE SET object_id = "
                      "EXCLUDED.object_id, standard = EXCLUDED.standard, label_singular = "
                      "EXCLUDED.label_singular, label_plural = EXCLUDED.label_plural, description "
                      "= EXCLUDED.description, table_schema = EXCLUDED.table_schema, table_name "
                      "= EXCLUDED.table_name, raw = EXCLUDED.raw, fetched_at = now(), deleted_at "
                      "= NULL");
        const char *p[10] = {x->loc,
                             o->key,
                             o->id,
                             o->standard ? "t" : "f",
                             o->label_singular,
                             o->label_plural,
                             o->description,
                             x->schema,
                             o->table,
                             raw};
        add_step(x, DDL_STEP_META, NULL, &b, 10, p);
    }
    free(raw);
    /* ghlsync.fields and ghlsync.field_options */
    for (size_t i = 0; i < o->n_fields && !x->rc; i++) {
        schema_field *f = &o->fields[i];
        int r = find_row(x->flds, 0, f->field_key);
        bool same = r >= 0 && same_json(PQgetvalue(x->flds, r, 4), f->raw) &&
                    strcmp(PQgetvalue(x->flds, r, 3), f->column) == 0 &&
                    PQgetvalue(x->flds, r, 5)[0] != 't';
        if (!same) {
            char *fraw = cJSON_PrintUnformatted(f->raw);
            if (!fraw) {
                x->rc = gs_err_set(x->err, GS_ENOMEM, "out of memory");
                return;
            }
            sbuf b = SBUF_INIT;
            sbuf_puts(&b, "INSERT INTO ghlsync.fields (location_id, object_key, field_key, "
                          "field_id, prop_key, label, data_type, column_name, currency_column, "
                          "raw) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb) "
                          "ON CONFLICT (location_id, object_key, field_key) DO UPDATE SET "
                          "field_id = EXCLUDED.field_id, prop_key = EXCLUDED.prop_key, label = "
                          "EXCLUDED.label, data_type = EXCLUDED.data_type, column_name = "
                          "EXCLUDED.column_name, currency_column = EXCLUDED.currency_column, raw "
                          "= EXCLUDED.raw, fetched_at = now(), deleted_at = NULL");
            const char *p[10] = {
                x->loc,       o->key,    f->field_key,       f->id, f->prop_key, f->label,
                f->data_type, f->column, f->currency_column, fraw};
            add_step(x, DDL_STEP_META, NULL, &b, 10, p);
            free(fraw);
        }
        for (size_t k = 0; k < f->n_options; k++) {
            const schema_option *op = &f->options[k];
            int orow = -1;
            for (int j = 0; j < nrows(x->opts); j++)
                if (strcmp(PQgetvalue(x->opts, j, 0), f->field_key) == 0 &&
                    strcmp(PQgetvalue(x->opts, j, 1), op->key) == 0)
                    orow = j;
            const char *old =
                orow >= 0 && !PQgetisnull(x->opts, orow, 2) ? PQgetvalue(x->opts, orow, 2) : NULL;
            if (orow >= 0 &&
                ((!old && !op->label) || (old && op->label && !strcmp(old, op->label))))
                continue;
            sbuf b = SBUF_INIT;
            sbuf_puts(&b, "INSERT INTO ghlsync.field_options (location_id, object_key, field_key, "
                          "option_key, label) VALUES ($1, $2, $3, $4, $5) ON CONFLICT "
                          "(location_id, object_key, field_key, option_key) DO UPDATE SET label "
                          "= EXCLUDED.label");
            const char *p[5] = {x->loc, o->key, f->field_key, op->key, op->label};
            char *ck = clean(op->key), *cl = clean(op->label);
            add_step(x, DDL_STEP_META,
                     ck && cl ? fmt("%s option %s of %s: \"%s\"", orow < 0 ? "+" : "~", ck,
                                    f->field_key, cl)
                              : NULL,
                     &b, 5, p);
            free(ck);
            free(cl);
        }
    }
}

int ddl_plan_object(PGconn *conn, schema_object *model, const ddl_settings *s, ddl_plan *plan,
                    gs_err *err)
{
    if (!s || !s->types)
        return gs_err_set(err, GS_EINVAL, "ddl_plan_object: settings with a type map required");
    ctx x = {.c = conn, .o = model, .s = s, .p = plan, .err = err};
    x.schema = s->schema ? s->schema : "ghl";
    x.loc = s->location_id ? s->location_id : (model->location_id ? model->location_id : "");
    x.qtable = (sbuf)SBUF_INIT;
    if (strlen(x.schema) > IDENT_MAX || !*x.schema)
        return gs_err_set(err, GS_ECONFIG, "schema name \"%s\" must be 1 to 63 bytes", x.schema);
    /* Re-planning a model: forget the previous resolution. */
    free(model->table);
    free(model->table_schema);
    model->table = model->table_schema = NULL;
    for (size_t i = 0; i < model->n_fields; i++) {
        schema_field *f = &model->fields[i];
        free(f->column);
        free(f->currency_column);
        free(f->type_name);
        f->column = f->currency_column = f->type_name = NULL;
        f->type = NULL;
        f->type_unknown = false;
    }
    size_t first_step = plan->n;
    if (load_state(&x) || choose_table(&x) || load_catalog(&x))
        goto out;
    ident_set used;
    ident_set_init(&used);
    for (size_t i = 0; i < n_fixed(model); i++)
        ident_set_add(&used, fixed_col(model, i).name);
    for (int i = 0; i < nrows(x.reg); i++)
        ident_set_add(&used, PQgetvalue(x.reg, i, 0));
    for (int i = 0; i < nrows(x.cat); i++)
        ident_set_add(&used, PQgetvalue(x.cat, i, 0));
    bool creating = !x.table_exists;
    sbuf cols = SBUF_INIT;
    size_t table_step = plan->n;
    if (creating) {
        sbuf b = SBUF_INIT;
        sbuf_puts(&b, "CREATE SCHEMA IF NOT EXISTS ");
        ident_quote(&b, x.schema);
        bool planned = false; /* by an earlier object of this plan */
        for (size_t i = 0; i < plan->n && !planned; i++)
            planned = strcmp(plan->steps[i].sql, sbuf_str(&b)) == 0;
        if (planned)
            sbuf_free(&b);
        else
            add_step(&x, DDL_STEP_DDL, fmt("+ schema \"%s\"", x.schema), &b, 0, NULL);
        table_step = plan->n;
        for (size_t i = 0; i < n_fixed(model); i++) {
            fam_column fc = fixed_col(model, i);
            sbuf_puts(&cols, i ? ",\n    " : "");
            ident_quote(&cols, fc.name);
            sbuf_printf(&cols, " %s", fc.type);
        }
    }
    plan_fields(&x, &used, creating, &cols);
    ident_set_free(&used);
    if (creating && !x.rc) {
        sbuf b = SBUF_INIT;
        sbuf_printf(&b, "CREATE TABLE IF NOT EXISTS %s (\n    %s\n)", sbuf_str(&x.qtable),
                    sbuf_str(&cols));
        size_t before = plan->n;
        add_step(&x, DDL_STEP_DDL,
                 fmt("+ create table %s for object %s (%zu fields)", sbuf_str(&x.qtable),
                     model->key, model->n_fields),
                 &b, 0, NULL);
        /* The table must come before the registry rows that plan_fields queued. */
        if (!x.rc && plan->n == before + 1 && before > table_step) {
            ddl_step t = plan->steps[before];
            memmove(&plan->steps[table_step + 1], &plan->steps[table_step],
                    (before - table_step) * sizeof t);
            plan->steps[table_step] = t;
        }
        char iname[IDENT_BUF];
        static const struct {
            const char *sfx, *def;
        } idx[] = {
            {"location_id_id_key", "UNIQUE INDEX IF NOT EXISTS %s ON %s (\"location_id\", \"id\") "
                                   "WHERE \"id\" IS NOT NULL"},
            {"updated_at_idx", "INDEX IF NOT EXISTS %s ON %s (\"updated_at\")"},
            /* no (location_id) index: the unique index above leads with it (migration 010) */
        };
        for (size_t i = 0; i < sizeof idx / sizeof *idx; i++) {
            index_name(model->table, idx[i].sfx, iname);
            sbuf q = SBUF_INIT, b2 = SBUF_INIT;
            ident_quote(&q, iname);
            sbuf_puts(&b2, "CREATE ");
            sbuf_printf(&b2, idx[i].def, sbuf_str(&q), sbuf_str(&x.qtable));
            sbuf_free(&q);
            add_step(&x, DDL_STEP_DDL, fmt("+ index %s", iname), &b2, 0, NULL);
        }
        for (size_t i = 0; i < n_fixed(model); i++) {
            fam_column fc = fixed_col(model, i);
            sbuf c = SBUF_INIT;
            comment_sql(&c, sbuf_str(&x.qtable), fc.name, fc.comment);
            add_step(&x, DDL_STEP_DDL, NULL, &c, 0, NULL);
        }
    }
    sbuf_free(&cols);
    if (x.rc)
        goto out;
    /* Comments: table, then every field column (new ones, changed labels). */
    char *tc = table_comment(model);
    if (tc && (!x.table_comment || strcmp(tc, x.table_comment) != 0)) {
        sbuf b = SBUF_INIT;
        comment_sql(&b, sbuf_str(&x.qtable), NULL, tc);
        add_step(&x, DDL_STEP_DDL,
                 x.table_exists ? fmt("~ comment on table %s", sbuf_str(&x.qtable)) : NULL, &b, 0,
                 NULL);
    }
    free(tc);
    for (size_t i = 0; i < model->n_fields && !x.rc; i++) {
        schema_field *f = &model->fields[i];
        bool exists;
        catalog_comment(&x, f->column, &exists);
        char *cm = field_comment(f, false);
        char *why = exists ? fmt("comment on column \"%s\": %s", f->column,
                                 f->label ? f->label : f->prop_key)
                           : NULL;
        sync_comment(&x, f->column, cm, why);
        free(cm);
        free(why);
        if (f->currency_column) {
            cm = field_comment(f, true);
            sync_comment(&x, f->currency_column, cm, NULL);
            free(cm);
        }
    }
    restore_missing(&x);
    plan_deprecations(&x);
    plan_bookkeeping(&x);
out:
    if (x.rc) {
        /* Leave the plan as it was before this object. */
        while (plan->n > first_step)
            step_free(&plan->steps[--plan->n]);
    }
    PQclear(x.reg);
    PQclear(x.cat);
    PQclear(x.flds);
    PQclear(x.opts);
    PQclear(x.obj);
    PQclear(x.others);
    free(x.table_comment);
    free(x.reg_seen);
    sbuf_free(&x.qtable);
    return x.rc;
}

void ddl_plan_print(const ddl_plan *p, sbuf *out)
{
    size_t nd = ddl_plan_ddl_count(p), nm = ddl_plan_meta_count(p);
    for (size_t i = 0; i < p->n_warnings; i++)
        sbuf_printf(out, "warning: %s\n", p->warnings[i]);
    if (p->n == 0) {
        sbuf_puts(out, "No changes: the tables match the HighLevel schema.\n");
        return;
    }
    for (size_t i = 0; i < p->n; i++) {
        const ddl_step *s = &p->steps[i];
        if (s->kind == DDL_STEP_DDL) {
            if (s->summary)
                sbuf_printf(out, "%s\n", s->summary);
            sbuf_puts(out, "    ");
            for (const char *c = s->sql; *c; c++) {
                sbuf_putc(out, *c);
                if (*c == '\n')
                    sbuf_puts(out, "    ");
            }
            sbuf_puts(out, ";\n");
        } else if (s->summary) {
            sbuf_printf(out, "%s\n", s->summary);
        }
    }
    sbuf_printf(out, "Plan: %zu DDL statement%s, %zu bookkeeping change%s.\n", nd,
                nd == 1 ? "" : "s", nm, nm == 1 ? "" : "s");
}

int ddl_lock(PGconn *conn, gs_err *err)
{
    int rc = db_begin(conn, err);
    if (rc)
        return rc;
    char key[32];
    snprintf(key, sizeof key, "%lld", (long long)MIGRATE_LOCK_KEY + 1);
    const char *kp[1] = {key};
    rc = db_execp(conn, "SELECT pg_advisory_xact_lock($1::bigint)", 1, kp, err);
    if (rc)
        db_rollback(conn);
    return rc;
}

void ddl_unlock(PGconn *conn)
{
    db_rollback(conn);
}

int ddl_apply(PGconn *conn, const ddl_plan *p, gs_err *err)
{
    if (p->n == 0)
        return 0;
    int rc = ddl_lock(conn, err);
    return rc ? rc : ddl_apply_locked(conn, p, err);
}

int ddl_apply_locked(PGconn *conn, const ddl_plan *p, gs_err *err)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < p->n; i++) {
        const ddl_step *s = &p->steps[i];
        rc = db_execp(conn, s->sql, s->nparams, (const char *const *)s->params, err);
        if (rc)
            gs_err_wrap(err, "schema apply, step %zu of %zu%s%s", i + 1, p->n,
                        s->summary ? " " : "", s->summary ? s->summary : "");
    }
    if (rc == 0)
        rc = db_commit(conn, err);
    if (rc)
        db_rollback(conn);
    return rc;
}
