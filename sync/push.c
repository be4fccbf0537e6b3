/*
 * push.c - push workers (see push.h for the protocol).
 */
#include "push.h"

#include "family.h"
#include "ident.h"
#include "mapping.h"
#include "pgasync.h"
#include "pglisten.h"
#include "sbuf.h"
#include "strmap.h"
#include "triggers.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OPEN_STATES FAM_OPEN_STATES

typedef struct push_loc {
    struct push_service *P;
    char *id;
    hl_location *hl;
    int inflight;
    bool claiming, again, found_nothing;
    const bool *served; /* push_target.served */
    size_t *tix;        /* its targets: indexes into push_service.targets */
    size_t ntix;
} push_loc;

/* A target's SQL texts: they name the table and its columns, no location, so the targets of
 * the same object in many locations share one copy (push_service.texts). */
typedef struct ptexts {
    int refs;
    char *qtable, *select_sql, *writeback_sql, *state_sql, *dedupe_sql;
} ptexts;

typedef struct ptarget {
    push_loc *loc;
    char *key;
    const schema_object *model;
    enum cfg_conflict conflict;
    bool hard_delete;
    const schema_field *ext; /* external id field, NULL = none */
    ptexts *tx;              /* one reference; the texts below are its */
    char *qtable;
    char *select_sql;          /* row fetch */
    char *writeback_sql;       /* row write-back */
    char *state_sql;           /* row _sync_state/_sync_error */
    char *dedupe_sql;          /* drop a row pull inserted for a record push just created */
    size_t ncols;              /* map_row_init columns */
    const char **cols;         /* borrowed names (model / map_sys_columns) */
    char **coltypes;           /* PostgreSQL type of each column, for comparisons */
    int jobs;                  /* jobs using this target; a retired target is freed at 0 */
    bool retired;              /* replaced by push_set_model */
    void (*release)(void *ud); /* push_target.release, called when the target is freed */
    void *release_ud;
} ptarget;

struct push_service {
    gs_loop *L;
    push_opts o;
    char *conninfo;
    pga_conn *db;
    pgl_listener *lis;
    uv_timer_t *sweep;
    push_loc **locs;
    size_t nlocs;
    strmap loc_by_id; /* push_loc by id: notifications and sweeps name locations */
    strmap texts;     /* ptexts by writeback_sql */
    bool sweeping;    /* the sweep's query for locations with due changes is in flight */
    ptarget **targets;
    size_t ntargets;
    ptarget **retired; /* replaced by push_set_model, still used by jobs in flight */
    size_t nretired;
    /* Changes whose claim could not be released (the release itself failed while the session
     * lives on): released again by the sweep, so that no change stays claimed until restart. */
    int64_t *orphans;
    size_t norphans, orphans_cap;
    bool orphans_busy;
    int releases; /* release_ids statements in flight (also counted in jobs_alive) */
    int jobs_alive;
    struct pjob *jobs; /* alive jobs, to re-take their claims on a new session */
    bool started, closing, idle_reported;
    push_stats st;
};

typedef struct pchange {
    int64_t id;
    char op; /* 'i', 'u', 'd' */
    char *remote_id;
    char **cols;
    size_t ncols;
    cJSON *old_values;
    char *base;    /* base_updated_at text, may be NULL */
    char *created; /* created_at text */
    bool sent;
    int attempts;
} pchange;

typedef struct pjob {
    struct pjob *prev, *next; /* push_service.jobs */
    push_service *P;
    push_loc *loc;
    ptarget *t;
    char *schema, *table;
    int64_t key;
    char keytxt[24];
    pchange *ch;
    size_t n;
    /* the row */
    bool exists;
    char **values; /* t->ncols */
    char *remote_id;
    bool suspect;  /* row updated_at newer than the base version */
    bool *changed; /* t->ncols: columns to send */
    bool create_in_doubt;
    long status;
    cJSON *conflicts; /* compared columns: [{"c": column index}] */
    cJSON *stash;     /* create body text while sent_at is being committed */
    bool releasing;   /* the job's claims are being released after a failure */
    /* FAM_STD_SET_DIFF columns still to send: [{"c": column, "add": [...], "remove": [...]}] */
    cJSON *set_ops;
    bool adopting; /* a create found its record existing (duplicate rule): now an update */
} pjob;

/* ---- small helpers ----------------------------------------------------------------------- */

static char *xstrdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

static void ids_lit_if(const pjob *j, sbuf *b, bool (*pick)(const pchange *), bool want)
{
    sbuf_putc(b, '{');
    bool first = true;
    for (size_t i = 0; i < j->n; i++) {
        if (pick && pick(&j->ch[i]) != want)
            continue;
        sbuf_printf(b, "%s%" PRId64, first ? "" : ",", j->ch[i].id);
        first = false;
    }
    sbuf_putc(b, '}');
}

static void ids_lit(const pjob *j, sbuf *b, bool (*pick)(const pchange *))
{
    ids_lit_if(j, b, pick, true);
}

static void job_end(pjob *j);
static void set_next(pjob *j);
static void lookup_key(const pjob *j, fam_lookup *k);
static const char *policy_name(enum cfg_conflict c);
static bool set_ops_build(pjob *j);
static void do_update(pjob *j);
static void claim(push_loc *l);
static void on_marked(pga_conn *c, PGresult *const *res, int nres, const pga_error *err, void *ud);
static void release_ids(push_service *P, const int64_t *ids, size_t n, int64_t delay_ms,
                        bool sweep);
static void orphans_release(push_service *P);
static void service_release(push_service *P);

/* Release the claims of the changes a step did not settle (they are claimed again later). */
static const char release_sql[] = "UPDATE ghlsync.changes SET claim_pid = NULL, claim_start = "
                                  "NULL, claim_key = NULL WHERE id = ANY($1::bigint[])";

static void log_db(push_service *P, const char *what, const pga_error *err)
{
    /* a lost session is logged once per outage by pgasync; the work is redone after it */
    if (err->err.code == GS_EDBLOST && !err->in_doubt) {
        log_event(P->L->log, LOG_DEBUG, "push.db_error", "what", what, "error", err->err.msg, NULL);
        return;
    }
    log_event(P->L->log, LOG_ERROR, "push.db_error", "what", what, "error", err->err.msg, NULL);
}

/* ---- target set-up ----------------------------------------------------------------------- */

static void texts_free(ptexts *x)
{
    free(x->qtable);
    free(x->select_sql);
    free(x->writeback_sql);
    free(x->dedupe_sql);
    free(x->state_sql);
    free(x);
}

static void texts_unref(push_service *P, ptexts *x)
{
    if (!x || --x->refs > 0)
        return;
    if (strmap_get(&P->texts, x->writeback_sql) == x)
        strmap_del(&P->texts, x->writeback_sql);
    texts_free(x);
}

static bool texts_same(const ptexts *a, const ptexts *b)
{
    return !strcmp(a->qtable, b->qtable) && !strcmp(a->select_sql, b->select_sql) &&
           !strcmp(a->writeback_sql, b->writeback_sql) && !strcmp(a->state_sql, b->state_sql) &&
           !strcmp(a->dedupe_sql, b->dedupe_sql);
}

/* The service's copy of texts equal to x (x is freed), else x, which becomes that copy. */
static ptexts *texts_share(push_service *P, ptexts *x)
{
    ptexts *have = strmap_get(&P->texts, x->writeback_sql);
    if (have && texts_same(have, x)) {
        texts_free(x);
        have->refs++;
        return have;
    }
    if (!have)
        strmap_put(&P->texts, x->writeback_sql, x); /* no memory: x stays unshared */
    return x;
}

static void target_free(ptarget *t)
{
    if (!t)
        return;
    free(t->key);
    texts_unref(t->loc->P, t->tx);
    free(t->cols);
    for (size_t i = 0; t->coltypes && i < t->ncols; i++)
        free(t->coltypes[i]);
    free(t->coltypes);
    if (t->release)
        t->release(t->release_ud);
    free(t);
}

static const schema_field *find_ext(const schema_object *m, const char *name)
{
    if (!name)
        return NULL;
    const schema_field *f = schema_find_field(m, name);
    if (f)
        return f;
    for (size_t i = 0; i < m->n_fields; i++)
        if (!strcmp(m->fields[i].prop_key, schema_prop_key(name)))
            return &m->fields[i];
    return NULL;
}

/* Build the SQL of a target from its model. */
static int target_build(ptarget *t, const schema_object *m, const char *ext_field, gs_err *e)
{
    map_row row = {0};
    int rc = map_row_init(m, &row, e);
    if (rc)
        return rc;
    t->model = m;
    t->ncols = row.n;
    t->cols = row.columns;
    row.columns = NULL;
    free(row.values);
    t->coltypes = calloc(t->ncols, sizeof *t->coltypes);
    if (!t->coltypes)
        return gs_err_set(e, GS_ENOMEM, "out of memory");
    for (size_t c = 0; c < t->ncols; c++) {
        const fam_family *fam = fam_of(m);
        const char *ty = c < fam_row_prefix(fam) ? fam_row_type(fam, c) : "text";
        for (size_t i = 0; i < m->n_fields; i++) {
            const schema_field *f = &m->fields[i];
            if (f->column && !strcmp(f->column, t->cols[c]) && f->type)
                ty = f->type->column;
            else if (f->currency_column && !strcmp(f->currency_column, t->cols[c]) && f->type &&
                     f->type->currency_column)
                ty = f->type->currency_column;
        }
        t->coltypes[c] = strdup(ty);
        if (!t->coltypes[c])
            return gs_err_set(e, GS_ENOMEM, "out of memory");
    }
    t->ext = find_ext(m, ext_field);
    if (ext_field && !t->ext)
        return gs_err_set(e, GS_ECONFIG,
                          "%s: external_id_field \"%s\" is not a field of the object (create a "
                          "TEXT field for it in HighLevel)",
                          m->key, ext_field);

    sbuf q = SBUF_INIT, s = SBUF_INIT, w = SBUF_INIT, st = SBUF_INIT;
    ident_quote(&q, m->table_schema);
    sbuf_putc(&q, '.');
    ident_quote(&q, m->table);

    sbuf_puts(&s, "SELECT ");
    for (size_t c = 0; c < t->ncols; c++) {
        sbuf_puts(&s, "t.");
        ident_quote(&s, t->cols[c]);
        sbuf_puts(&s, ", ");
    }
    sbuf_printf(&s,
                "t._local_id IS NOT NULL, (SELECT ch.remote_id FROM ghlsync.changes ch WHERE "
                "ch.table_schema = $2 AND ch.table_name = $3 AND ch.local_key = $1 AND "
                "ch.remote_id IS NOT NULL ORDER BY ch.id DESC LIMIT 1), coalesce(t.updated_at > "
                "$4::timestamptz, false) FROM (SELECT 1) one LEFT JOIN %s t ON t._local_id = $1",
                sbuf_str(&q));

    /* $1 key, $2 schema, $3 table, $4 completed ids, $5.. column values */
    sbuf_printf(&w, "UPDATE %s t SET ", sbuf_str(&q));
    for (size_t c = 0; c < t->ncols; c++) {
        ident_quote(&w, t->cols[c]);
        sbuf_puts(&w, " = CASE WHEN ");
        ident_quote_literal(&w, t->cols[c]);
        sbuf_puts(&w, " = ANY(p.cols) THEN t.");
        ident_quote(&w, t->cols[c]);
        sbuf_printf(&w, " ELSE $%zu END, ", c + 5);
    }
    sbuf_puts(&w, "_sync_state = CASE WHEN p.n > 0 THEN 'pending' ELSE 'done' END, _sync_error = "
                  "NULL, _synced_at = now(), _deleted_at = NULL FROM (SELECT count(DISTINCT ch.id) "
                  "AS n, coalesce(array_agg(DISTINCT c) FILTER (WHERE c IS NOT NULL), '{}') AS "
                  "cols FROM ghlsync.changes ch LEFT JOIN LATERAL unnest(ch.changed_columns) c ON "
                  "true WHERE ch.table_schema = $2 AND ch.table_name = $3 AND ch.local_key = $1 "
                  "AND ch.state IN " OPEN_STATES
                  " AND NOT ch.id = ANY($4::bigint[])) p WHERE t._local_id = $1");

    sbuf_printf(&st, "UPDATE %s SET _sync_state = $2, _sync_error = $3 WHERE _local_id = $1",
                sbuf_str(&q));

    /* Between the API creating a record and this write-back, a pull page can bring the new
     * record in as a row of its own (it does not know the local row is the same record). The
     * local row is the one that stays (changes and users refer to its _local_id): the pulled
     * copy goes, and any change recorded against it is moved to the local row. The engine
     * transaction's origin marker keeps the capture trigger from recording this DELETE.
     * $1 local key, $2 location id, $3 remote id, $4 schema, $5 table. */
    sbuf dd = SBUF_INIT;
    sbuf_printf(&dd,
                "WITH dup AS (DELETE FROM %s WHERE location_id = $2 AND id = $3 AND _local_id <> "
                "$1::bigint RETURNING _local_id) UPDATE ghlsync.changes SET local_key = $1::bigint "
                "WHERE table_schema = $4 AND table_name = $5 AND local_key IN (SELECT _local_id "
                "FROM dup)",
                sbuf_str(&q));
    if (sbuf_failed(&q) || sbuf_failed(&s) || sbuf_failed(&w) || sbuf_failed(&st) ||
        sbuf_failed(&dd)) {
        sbuf_free(&q);
        sbuf_free(&s);
        sbuf_free(&w);
        sbuf_free(&st);
        sbuf_free(&dd);
        return gs_err_set(e, GS_ENOMEM, "out of memory");
    }
    ptexts *x = calloc(1, sizeof *x);
    if (!x) {
        sbuf_free(&q);
        sbuf_free(&s);
        sbuf_free(&w);
        sbuf_free(&st);
        sbuf_free(&dd);
        return gs_err_set(e, GS_ENOMEM, "out of memory");
    }
    x->refs = 1;
    x->dedupe_sql = sbuf_steal(&dd);
    x->qtable = sbuf_steal(&q);
    x->select_sql = sbuf_steal(&s);
    x->writeback_sql = sbuf_steal(&w);
    x->state_sql = sbuf_steal(&st);
    t->tx = texts_share(t->loc->P, x);
    t->dedupe_sql = t->tx->dedupe_sql;
    t->qtable = t->tx->qtable;
    t->select_sql = t->tx->select_sql;
    t->writeback_sql = t->tx->writeback_sql;
    t->state_sql = t->tx->state_sql;
    return 0;
}

static ptarget *target_new(push_loc *l, const push_target *pt, gs_err *e)
{
    ptarget *t = calloc(1, sizeof *t);
    if (!t) {
        gs_err_set(e, GS_ENOMEM, "out of memory");
        return NULL;
    }
    t->loc = l;
    t->key = strdup(pt->object_key);
    t->conflict = pt->conflict;
    t->hard_delete = pt->hard_delete;
    if (!t->key || target_build(t, pt->model, pt->external_id_field, e)) {
        if (!t->key)
            gs_err_set(e, GS_ENOMEM, "out of memory");
        target_free(t);
        return NULL;
    }
    /* only a target that was made owns the caller's reference */
    t->release = pt->release;
    t->release_ud = pt->release_ud;
    return t;
}

/* ---- service ----------------------------------------------------------------------------- */

int push_new(gs_loop *L, const push_opts *o, push_service **out, gs_err *e)
{
    push_service *P = calloc(1, sizeof *P);
    if (!P)
        return gs_err_set(e, GS_ENOMEM, "out of memory");
    P->L = L;
    P->o = *o;
    if (P->o.batch_size <= 0)
        P->o.batch_size = 8;
    if (P->o.max_attempts <= 0)
        P->o.max_attempts = 10;
    if (P->o.backoff_base_ms <= 0)
        P->o.backoff_base_ms = 1000;
    if (P->o.backoff_max_ms <= 0)
        P->o.backoff_max_ms = 300000;
    if (P->o.sweep_ms <= 0)
        P->o.sweep_ms = 5000;
    P->conninfo = strdup(o->conninfo ? o->conninfo : "");
    if (!P->conninfo) {
        free(P);
        return gs_err_set(e, GS_ENOMEM, "out of memory");
    }
    *out = P;
    return 0;
}

static push_loc *loc_get(push_service *P, const char *id, hl_location *hl)
{
    push_loc *l = strmap_get(&P->loc_by_id, id);
    if (l || !hl)
        return l;
    push_loc **nl = realloc(P->locs, (P->nlocs + 1) * sizeof *nl);
    if (!nl)
        return NULL;
    P->locs = nl;
    l = calloc(1, sizeof *l);
    if (!l || !(l->id = strdup(id)) || strmap_put(&P->loc_by_id, l->id, l) != 0) {
        if (l)
            free(l->id);
        free(l);
        return NULL;
    }
    l->P = P;
    l->hl = hl;
    P->locs[P->nlocs++] = l;
    return l;
}

int push_add_target(push_service *P, const push_target *pt, gs_err *e)
{
    push_loc *l = loc_get(P, pt->location_id, pt->hl);
    if (l && pt->served)
        l->served = pt->served;
    if (!l)
        return gs_err_set(e, GS_ENOMEM, "out of memory");
    ptarget *t = target_new(l, pt, e);
    if (!t)
        return e ? e->code : GS_ENOMEM;
    ptarget **nt = realloc(P->targets, (P->ntargets + 1) * sizeof *nt);
    size_t *ni = nt ? realloc(l->tix, (l->ntix + 1) * sizeof *ni) : NULL;
    if (nt)
        P->targets = nt;
    if (!ni) {
        t->release = NULL; /* the caller keeps its reference on failure */
        target_free(t);
        return gs_err_set(e, GS_ENOMEM, "out of memory");
    }
    l->tix = ni;
    l->tix[l->ntix++] = P->ntargets;
    P->targets[P->ntargets++] = t;
    return 0;
}

int push_set_model(push_service *P, const char *location_id, const char *object_key,
                   const schema_object *model, void (*release)(void *ud), void *release_ud,
                   gs_err *e)
{
    push_loc *l = loc_get(P, location_id, NULL);
    for (size_t x = 0; l && x < l->ntix; x++) {
        size_t i = l->tix[x];
        ptarget *t = P->targets[i];
        if (strcmp(t->key, object_key))
            continue;
        push_target pt = {.location_id = location_id,
                          .object_key = object_key,
                          .hl = t->loc->hl,
                          .model = model,
                          .conflict = t->conflict,
                          .hard_delete = t->hard_delete,
                          .external_id_field = t->ext ? t->ext->field_key : NULL};
        pt.release = release;
        pt.release_ud = release_ud;
        ptarget *n = target_new(t->loc, &pt, e);
        if (!n)
            return e ? e->code : GS_ENOMEM;
        /* jobs in flight keep the old target: retire it; the last of them frees it (job_end),
         * so retired targets do not pile up under steady load */
        if (t->jobs == 0) {
            target_free(t);
        } else {
            ptarget **rt = realloc(P->retired, (P->nretired + 1) * sizeof *rt);
            if (!rt) {
                n->release = NULL; /* the caller keeps its reference on failure */
                target_free(n);
                return gs_err_set(e, GS_ENOMEM, "out of memory");
            }
            P->retired = rt;
            P->retired[P->nretired++] = t;
            t->retired = true;
        }
        P->targets[i] = n;
        log_event(P->L->log, LOG_INFO, "push.model_replaced", "object", object_key, NULL);
        return 0;
    }
    return gs_err_set(e, GS_ENOTFOUND, "push: no target %s/%s", location_id, object_key);
}

static ptarget *target_find(push_service *P, const push_loc *l, const char *schema,
                            const char *table)
{
    for (size_t i = 0; i < l->ntix; i++) {
        ptarget *t = P->targets[l->tix[i]];
        if (!strcmp(t->model->table_schema, schema) && !strcmp(t->model->table, table))
            return t;
    }
    return NULL;
}

static void check_idle(push_service *P)
{
    if (!P->o.once || P->idle_reported || P->closing || P->releases)
        return;
    for (size_t i = 0; i < P->nlocs; i++) {
        push_loc *l = P->locs[i];
        if (l->inflight || l->claiming || !l->found_nothing)
            return;
    }
    P->idle_reported = true;
    if (P->o.on_idle)
        P->o.on_idle(P->o.ud);
}

/* location_id NULL or empty: every location */
static void claim_named(push_service *P, const char *location_id)
{
    if (location_id && *location_id) {
        push_loc *l = loc_get(P, location_id, NULL);
        if (l)
            claim(l);
        return;
    }
    for (size_t i = 0; !P->closing && i < P->nlocs; i++)
        claim(P->locs[i]);
}

static void on_notify(const char *payload, void *ud)
{
    push_service *P = ud;
    if (!P->closing)
        claim_named(P, payload);
}

/* The locations that may have a change to claim now: due (changes_todo_idx) and, as claim_sql
 * requires, at their next attempt time. A superset of what claim_sql takes (it also skips
 * records that are claimed or in doubt): the claim itself decides. */
static const char sweep_sql[] =
    "SELECT DISTINCT location_id FROM ghlsync.changes WHERE state IN " FAM_DUE_STATES
    " AND next_attempt_at <= now()";

static void on_swept(pga_conn *c, PGresult *const *res, int nres, const pga_error *err, void *ud)
{
    (void)c;
    push_service *P = ud;
    P->sweeping = false;
    if (P->closing)
        return;
    if (err || nres < 1) {
        /* without the list, claim everywhere, as the sweep did before it had one */
        if (err && err->err.code != GS_EDBLOST)
            log_db(P, "sweep", err);
        claim_named(P, NULL);
        return;
    }
    const PGresult *r = res[nres - 1];
    for (int i = 0; i < PQntuples(r) && !P->closing; i++)
        if (!PQgetisnull(r, i, 0)) /* no location: no claim_sql takes it */
            claim_named(P, PQgetvalue(r, i, 0));
    /* a location whose last claim did not end with "nothing to claim" (it found work, failed,
     * or never ran) is claimed as before: that claim settles found_nothing (check_idle) */
    for (size_t i = 0; i < P->nlocs && !P->closing; i++)
        if (!P->locs[i]->found_nothing)
            claim(P->locs[i]);
}

static void on_sweep(uv_timer_t *t)
{
    push_service *P = t->data;
    /* claims live as long as the session: nothing to renew; just look for due work. One query
     * names the locations that have some, so an idle mirror of many locations costs one
     * statement per sweep, not a claim transaction per location. */
    orphans_release(P);
    if (P->closing || !P->db || P->sweeping)
        return;
    gs_err e = {0};
    if (pga_query(P->db, sweep_sql, 0, NULL, on_swept, P, &e) == 0)
        P->sweeping = true;
    else
        claim_named(P, NULL);
}

static void on_retaken(pga_conn *c, PGresult *const *res, int nres, const pga_error *err, void *ud)
{
    (void)c;
    (void)res;
    (void)nres;
    push_service *P = ud;
    if (P->closing)
        return;
    if (err)
        log_db(P, "re-taking claims", err);
    /* notifications may have been missed while there was no session: look for work */
    for (size_t i = 0; i < P->nlocs; i++)
        claim(P->locs[i]);
}

/* A claim belongs to the session that took it (claim_sql), and the session that took the claims
 * of the jobs in flight is gone: on the new session, before anything else, stamp them again, so
 * that no claimer (this one after the reconnect, or another process) takes the same records
 * while their jobs still run. Only claims no live session holds are taken. Then a full sweep. */
static void on_push_connect(pga_conn *c, int reconnected, void *ud)
{
    push_service *P = ud;
    if (!reconnected || P->closing)
        return;
    sbuf ids = SBUF_INIT;
    sbuf_putc(&ids, '{');
    bool first = true;
    for (pjob *j = P->jobs; j; j = j->next)
        for (size_t i = 0; i < j->n; i++) {
            sbuf_printf(&ids, "%s%" PRId64, first ? "" : ",", j->ch[i].id);
            first = false;
        }
    sbuf_putc(&ids, '}');
    const char *p[] = {sbuf_str(&ids)};
    gs_err e = {0};
    if (pga_query(c,
                  "UPDATE ghlsync.changes c SET claim_pid = pg_backend_pid(), claim_start = "
                  "(SELECT backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid()), "
                  "claim_key = (SELECT ghlsync.claim_session()) "
                  "WHERE c.id = ANY($1::bigint[]) AND c.state IN " OPEN_STATES
                  " AND (c.claim_pid IS NULL OR NOT ghlsync.claim_held(c.claim_key))",
                  1, p, on_retaken, P, &e) != 0)
        log_event(P->L->log, LOG_ERROR, "push.db_error", "what", "re-taking claims", "error", e.msg,
                  NULL);
    sbuf_free(&ids);
}

int push_start(push_service *P, gs_err *e)
{
    int rc = pga_open(P->L, P->conninfo, &P->db, e);
    if (rc)
        return rc;
    /* per session (kept per client by a pooler, and again after a reconnect); the origin
     * marker is in the loop's transaction set-up (pgasync.h) */
    if (pga_set_session(P->db, "SET DateStyle = 'ISO'; SET TimeZone = 'UTC'; "
                               "SET extra_float_digits = 3") != 0)
        return gs_err_set(e, GS_ENOMEM, "out of memory");
    pga_on_connect(P->db, on_push_connect, P);
    /* without the engine's set-up (a push service on its own loop) the marker is still a must */
    if (!P->L->db.tx_setup[0] &&
        pga_set_tx_setup(P->db, "SELECT set_config('ghlsync.origin', 'engine', true)") != 0)
        return gs_err_set(e, GS_ENOMEM, "out of memory");
    if (P->o.listen) {
        rc = pgl_open(P->L, P->conninfo, PUSH_NOTIFY_CHANNEL, on_notify, P, &P->lis, e);
        if (rc)
            return rc;
    }
    P->sweep = malloc(sizeof *P->sweep);
    if (!P->sweep)
        return gs_err_set(e, GS_ENOMEM, "out of memory");
    uv_timer_init(&P->L->uv, P->sweep);
    P->sweep->data = P;
    uv_timer_start(P->sweep, on_sweep, (uint64_t)P->o.sweep_ms, (uint64_t)P->o.sweep_ms);
    P->started = true;
    push_wake(P, NULL);
    return 0;
}

void push_wake(push_service *P, const char *location_id)
{
    if (!P->started || P->closing)
        return;
    P->idle_reported = false;
    claim_named(P, location_id);
}

int push_inflight(const push_service *P)
{
    int n = 0;
    for (size_t i = 0; i < P->nlocs; i++)
        n += P->locs[i]->inflight;
    return n;
}

void push_get_stats(const push_service *P, push_stats *out)
{
    *out = P->st;
}

static void service_release(push_service *P)
{
    for (size_t i = 0; i < P->ntargets; i++)
        target_free(P->targets[i]);
    free(P->targets);
    for (size_t i = 0; i < P->nretired; i++)
        target_free(P->retired[i]);
    free(P->retired);
    free(P->orphans);
    for (size_t i = 0; i < P->nlocs; i++) {
        free(P->locs[i]->id);
        free(P->locs[i]->tix);
        free(P->locs[i]);
    }
    free(P->locs);
    strmap_free(&P->loc_by_id);
    strmap_free(&P->texts); /* empty: the targets above took their texts with them */
    free(P->conninfo);
    free(P);
}

void push_free(push_service *P)
{
    if (!P)
        return;
    P->closing = true;
    if (P->sweep) {
        uv_timer_stop(P->sweep);
        gs_uv_close_free((uv_handle_t *)P->sweep);
        P->sweep = NULL;
    }
    pgl_close(P->lis);
    P->lis = NULL;
    /* pending statements fail now ("connection closed"), from inside pga_close: their jobs end;
     * the guard keeps the service alive until pga_close has returned */
    pga_conn *db = P->db;
    P->db = NULL;
    P->jobs_alive++;
    pga_close(db);
    if (--P->jobs_alive == 0)
        service_release(P);
}

/* ---- claims ------------------------------------------------------------------------------ */

static const char claim_sql[] =
    "WITH live AS (SELECT k FROM ghlsync.live_claim_keys() k), "
    "recs AS ("
    " SELECT c.table_schema, c.table_name, c.local_key, min(c.id) AS first_id"
    " FROM ghlsync.changes c"
    " WHERE c.location_id = $1 AND c.state IN " OPEN_STATES " GROUP BY 1, 2, 3"
    " HAVING bool_and(c.state <> 'unknown')"
    "    AND bool_or(c.state IN " FAM_DUE_STATES " AND c.next_attempt_at <= now())"
    "    AND bool_and(c.claim_pid IS NULL OR c.claim_key IS NULL"
    "        OR NOT EXISTS (SELECT 1 FROM live WHERE live.k = c.claim_key))"
    " ORDER BY first_id LIMIT $2), "
    "lk AS ("
    " SELECT x.id FROM ghlsync.changes x JOIN recs r USING (table_schema, table_name, local_key)"
    " WHERE x.location_id = $1 AND x.state IN " FAM_CLAIM_STATES " FOR UPDATE OF x SKIP LOCKED) "
    "UPDATE ghlsync.changes c SET claim_pid = pg_backend_pid(),"
    " claim_start = (SELECT backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid()),"
    " claim_key = (SELECT ghlsync.claim_session()), claimed_at = now() FROM lk WHERE c.id = lk.id "
    "RETURNING c.id, c.table_schema, c.table_name, c.local_key, c.op, c.remote_id,"
    " c.changed_columns, c.old_values, c.base_updated_at, c.created_at, c.sent_at IS NOT NULL,"
    " c.attempts";

static void job_start(pjob *j);

static void change_free(pchange *c)
{
    free(c->remote_id);
    for (size_t i = 0; i < c->ncols; i++)
        free(c->cols[i]);
    free(c->cols);
    cJSON_Delete(c->old_values);
    free(c->base);
    free(c->created);
}

static void job_free(pjob *j)
{
    if (j->prev)
        j->prev->next = j->next;
    else if (j->P->jobs == j)
        j->P->jobs = j->next;
    if (j->next)
        j->next->prev = j->prev;
    for (size_t i = 0; i < j->n; i++)
        change_free(&j->ch[i]);
    free(j->ch);
    for (size_t c = 0; j->values && c < j->t->ncols; c++)
        free(j->values[c]);
    free(j->values);
    free(j->changed);
    free(j->remote_id);
    free(j->schema);
    free(j->table);
    cJSON_Delete(j->conflicts);
    cJSON_Delete(j->stash);
    cJSON_Delete(j->set_ops);
    free(j);
}

static int parse_cols(const char *lit, pchange *c)
{
    if (!lit || !*lit)
        return 0;
    cJSON *a = NULL;
    gs_err e;
    if (map_array_decode(lit, &a, &e))
        return -1;
    int n = cJSON_GetArraySize(a);
    c->cols = calloc((size_t)n + 1, sizeof *c->cols);
    if (!c->cols) {
        cJSON_Delete(a);
        return -1;
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, a)
    {
        if (cJSON_IsString(it))
            c->cols[c->ncols++] = strdup(it->valuestring);
    }
    cJSON_Delete(a);
    return 0;
}

typedef struct claim_row {
    int idx;
    const char *schema, *table;
    int64_t key, id;
} claim_row;

static int cmp_claim(const void *a, const void *b)
{
    const claim_row *x = a, *y = b;
    int c = strcmp(x->schema, y->schema);
    if (!c)
        c = strcmp(x->table, y->table);
    if (!c)
        c = x->key < y->key ? -1 : x->key > y->key;
    if (!c)
        c = x->id < y->id ? -1 : x->id > y->id;
    return c;
}

static void on_claimed(pga_conn *c, PGresult *const *res, int nres, const pga_error *err, void *ud)
{
    (void)c;
    push_loc *l = ud;
    push_service *P = l->P;
    l->claiming = false;
    if (err || nres < 2) {
        if (err)
            log_db(P, "claim", err);
        if (!P->closing)
            check_idle(P);
        return;
    }
    PGresult *r = res[nres - 1];
    int n = PQntuples(r);
    P->st.claims++;
    claim_row *rows = calloc((size_t)n + 1, sizeof *rows);
    if (!rows)
        return;
    for (int i = 0; i < n; i++) {
        rows[i].idx = i;
        rows[i].schema = PQgetvalue(r, i, 1);
        rows[i].table = PQgetvalue(r, i, 2);
        rows[i].key = strtoll(PQgetvalue(r, i, 3), NULL, 10);
        rows[i].id = strtoll(PQgetvalue(r, i, 0), NULL, 10);
    }
    qsort(rows, (size_t)n, sizeof *rows, cmp_claim);
    int njobs = 0;
    for (int i = 0; i < n;) {
        int k = i;
        while (k < n && !strcmp(rows[k].schema, rows[i].schema) &&
               !strcmp(rows[k].table, rows[i].table) && rows[k].key == rows[i].key)
            k++;
        ptarget *t = target_find(P, l, rows[i].schema, rows[i].table);
        pjob *j = t ? calloc(1, sizeof *j) : NULL;
        if (j) {
            j->ch = calloc((size_t)(k - i), sizeof *j->ch);
            if (!j->ch) {
                free(j);
                j = NULL;
            }
        }
        if (!j) {
            /* no job for these changes (a table this process does not push, or no memory):
             * release them, not too soon, rather than keep them claimed */
            if (!t)
                log_event(P->L->log, LOG_WARN, "push.no_target", "table", rows[i].table, "location",
                          l->id, NULL);
            int64_t *ids = malloc((size_t)(k - i) * sizeof *ids);
            for (int m = i; ids && m < k; m++)
                ids[m - i] = rows[m].id;
            if (ids)
                release_ids(P, ids, (size_t)(k - i), t ? 2000 : 60000, false);
            free(ids);
        }
        if (j) {
            j->P = P;
            j->loc = l;
            j->t = t;
            t->jobs++;
            j->key = rows[i].key;
            snprintf(j->keytxt, sizeof j->keytxt, "%" PRId64, j->key);
            j->schema = strdup(rows[i].schema);
            j->table = strdup(rows[i].table);
            j->n = (size_t)(k - i);
            for (int m = i; j->ch && m < k; m++) {
                pchange *pc = &j->ch[m - i];
                int x = rows[m].idx;
                pc->id = rows[m].id;
                const char *op = PQgetvalue(r, x, 4);
                pc->op = op[0] == 'i' ? 'i' : op[0] == 'u' ? 'u' : 'd';
                pc->remote_id = PQgetisnull(r, x, 5) ? NULL : strdup(PQgetvalue(r, x, 5));
                parse_cols(PQgetisnull(r, x, 6) ? NULL : PQgetvalue(r, x, 6), pc);
                pc->old_values = PQgetisnull(r, x, 7) ? NULL : cJSON_Parse(PQgetvalue(r, x, 7));
                pc->base = PQgetisnull(r, x, 8) ? NULL : strdup(PQgetvalue(r, x, 8));
                pc->created = strdup(PQgetvalue(r, x, 9));
                pc->sent = PQgetvalue(r, x, 10)[0] == 't';
                pc->attempts = atoi(PQgetvalue(r, x, 11));
            }
            j->next = P->jobs;
            if (P->jobs)
                P->jobs->prev = j;
            P->jobs = j;
            l->inflight++;
            P->jobs_alive++;
            P->st.jobs++;
            njobs++;
            job_start(j);
        }
        i = k;
    }
    free(rows);
    l->found_nothing = njobs == 0;
    if (l->again || (njobs > 0 && l->inflight < P->o.batch_size)) {
        l->again = false;
        claim(l);
    }
    check_idle(P);
}

static void claim(push_loc *l)
{
    push_service *P = l->P;
    if (P->closing || !P->db)
        return;
    if (l->served && !*l->served)
        return; /* another process serves the location */
    if (l->claiming) {
        l->again = true;
        return;
    }
    int room = P->o.batch_size - l->inflight;
    if (room <= 0) {
        l->again = true;
        return;
    }
    char lim[16], lock[64];
    snprintf(lim, sizeof lim, "%d", room);
    /* one lock per location: claimers of a location take turns (per-record order) */
    snprintf(lock, sizeof lock, "%lld",
             (long long)(0x7075736800000000LL | ident_hash(l->id, strlen(l->id))));
    const char *p1[] = {lock};
    const char *p2[] = {l->id, lim};
    pga_stmt st[2] = {
        {"SELECT pg_advisory_xact_lock($1::bigint)", 1, p1},
        {claim_sql, 2, p2},
    };
    gs_err e = {0};
    l->again = false;
    if (pga_tx(P->db, st, 2, on_claimed, l, &e) == 0)
        l->claiming = true;
    else
        log_event(P->L->log, LOG_ERROR, "push.claim_failed", "error", e.msg, NULL);
}

/* ---- job endings ------------------------------------------------------------------------- */

static void target_unuse(push_service *P, ptarget *t)
{
    if (--t->jobs > 0 || !t->retired)
        return;
    for (size_t i = 0; i < P->nretired; i++)
        if (P->retired[i] == t) {
            P->retired[i] = P->retired[--P->nretired];
            break;
        }
    target_free(t);
}

static void job_end(pjob *j)
{
    push_service *P = j->P;
    push_loc *l = j->loc;
    ptarget *t = j->t;
    l->inflight--;
    P->jobs_alive--;
    job_free(j);
    target_unuse(P, t);
    if (P->closing) {
        if (P->jobs_alive == 0)
            service_release(P);
        return;
    }
    claim(l);
    check_idle(P);
}

static bool pick_all(const pchange *c);
static void job_release(pjob *j, bool (*pick)(const pchange *), int64_t delay_ms);

/* ---- claims that could not be released --------------------------------------------------- */

static void orphans_add(push_service *P, const int64_t *ids, size_t n)
{
    if (P->norphans + n > P->orphans_cap) {
        size_t cap = P->orphans_cap ? P->orphans_cap * 2 : 64;
        while (cap < P->norphans + n)
            cap *= 2;
        int64_t *o = realloc(P->orphans, cap * sizeof *o);
        if (!o) {
            log_event(P->L->log, LOG_ERROR, "push.claims_stranded", "msg",
                      "out of memory: some changes stay claimed until this process restarts", NULL);
            return;
        }
        P->orphans = o;
        P->orphans_cap = cap;
    }
    memcpy(P->orphans + P->norphans, ids, n * sizeof *ids);
    P->norphans += n;
}

static void orphans_add_job(pjob *j)
{
    for (size_t i = 0; i < j->n; i++)
        orphans_add(j->P, &j->ch[i].id, 1);
}

typedef struct release_req {
    push_service *P;
    bool sweep; /* the orphans' own release (P->orphans_busy) */
    size_t n;
    int64_t ids[];
} release_req;

static void on_ids_released(pga_conn *c, PGresult *const *res, int nres, const pga_error *err,
                            void *ud)
{
    (void)c;
    (void)res;
    (void)nres;
    release_req *r = ud;
    push_service *P = r->P;
    if (r->sweep)
        P->orphans_busy = false;
    if (err && !P->closing) {
        log_db(P, "releasing claims", err);
        orphans_add(P, r->ids, r->n); /* the next sweep tries again */
    }
    P->jobs_alive--;
    P->releases--;
    free(r);
    if (P->closing) {
        if (P->jobs_alive == 0)
            service_release(P);
        return;
    }
    check_idle(P);
}

/* Release claims that belong to no job (a claimed record without a target, the orphans):
 * they become claimable after delay_ms. Counted in jobs_alive, so that push_free waits for it. */
static void release_ids(push_service *P, const int64_t *ids, size_t n, int64_t delay_ms, bool sweep)
{
    if (n == 0 || P->closing || !P->db)
        return; /* closing: the claims die with the session */
    release_req *r = malloc(sizeof *r + n * sizeof *ids);
    sbuf lit = SBUF_INIT;
    sbuf_putc(&lit, '{');
    for (size_t i = 0; i < n; i++)
        sbuf_printf(&lit, "%s%" PRId64, i ? "," : "", ids[i]);
    sbuf_putc(&lit, '}');
    char d[32];
    snprintf(d, sizeof d, "%" PRId64, delay_ms);
    const char *p[] = {sbuf_str(&lit), d};
    gs_err e = {0};
    if (!r || sbuf_failed(&lit) ||
        pga_query(
            P->db,
            "UPDATE ghlsync.changes SET claim_pid = NULL, claim_start = NULL, claim_key = NULL, "
            "next_attempt_at = greatest(next_attempt_at, now() + $2::bigint * "
            "interval '1 millisecond') WHERE id = ANY($1::bigint[]) AND claim_pid = "
            "pg_backend_pid()",
            2, p, on_ids_released, r, &e)) {
        if (e.msg[0])
            log_event(P->L->log, LOG_ERROR, "push.db_error", "error", e.msg, NULL);
        free(r);
        orphans_add(P, ids, n);
    } else {
        r->P = P;
        r->sweep = sweep;
        r->n = n;
        memcpy(r->ids, ids, n * sizeof *ids);
        P->jobs_alive++;
        P->releases++;
        if (sweep)
            P->orphans_busy = true;
    }
    sbuf_free(&lit);
}

/* Sweep: release the orphans (a copy: new ones may arrive while this runs). */
static void orphans_release(push_service *P)
{
    if (!P->norphans || P->orphans_busy)
        return;
    size_t n = P->norphans;
    int64_t *ids = malloc(n * sizeof *ids);
    if (!ids)
        return;
    memcpy(ids, P->orphans, n * sizeof *ids);
    P->norphans = 0;
    char nt[24];
    snprintf(nt, sizeof nt, "%zu", n);
    log_event(P->L->log, LOG_INFO, "push.releasing_stranded", "changes", nt, NULL);
    release_ids(P, ids, n, 0, true);
    free(ids);
}

/* A step failed before the job could settle its changes (a database error, a call that could
 * not be submitted, a row that vanished): release every claim of the job for a retry after a
 * pause, so that nothing stays claimed by this live session. A create that was sent keeps
 * sent_at: the next claim settles it by the in-doubt path, never re-sending it blindly. */
static void job_fail(pjob *j, const char *what, const char *msg)
{
    push_service *P = j->P;
    if (P->closing) { /* the session closes: its claims die with it */
        job_end(j);
        return;
    }
    log_event(P->L->log, LOG_ERROR, "push.job_failed", "what", what, "table", j->table, "local_key",
              j->keytxt, "error", msg ? msg : "", NULL);
    j->releasing = true;
    job_release(j, pick_all, 2000);
}

static void on_end_stmt(pga_conn *c, PGresult *const *res, int nres, const pga_error *err, void *ud)
{
    (void)c;
    (void)res;
    (void)nres;
    pjob *j = ud;
    if (err && !j->P->closing) {
        log_db(j->P, "finishing a change", err);
        /* The changes are still claimed by this (live) session, so nothing would ever pick
         * them up again: release them for a retry in a few seconds. A create that was sent is
         * then settled by the in-doubt path (external id lookup, or parked), never re-sent
         * blindly. Only once: if releasing fails too, they become orphans (below). */
        if (!j->releasing) {
            j->releasing = true;
            job_release(j, pick_all, 2000);
            return;
        }
        /* releasing failed too: the sweep releases them (the session lives on) */
        orphans_add_job(j);
    }
    job_end(j);
}

static bool pick_all(const pchange *c)
{
    (void)c;
    return true;
}

static bool pick_sent(const pchange *c)
{
    return c->sent;
}

/* Submit a transaction whose completion ends the job; on a submit error end it now. */
static void end_with(pjob *j, const pga_stmt *st, int n)
{
    gs_err e = {0};
    if (j->P->closing || !j->P->db || pga_tx(j->P->db, st, n, on_end_stmt, j, &e)) {
        if (e.msg[0])
            log_event(j->P->L->log, LOG_ERROR, "push.db_error", "error", e.msg, NULL);
        if (!j->P->closing)
            orphans_add_job(j);
        job_end(j);
    }
}

/* Release the claim of some changes (they will be claimed again) and end the job. */
static void job_release(pjob *j, bool (*pick)(const pchange *), int64_t delay_ms)
{
    sbuf ids = SBUF_INIT;
    ids_lit(j, &ids, pick);
    char d[32];
    snprintf(d, sizeof d, "%" PRId64, delay_ms);
    const char *p[] = {sbuf_str(&ids), d};
    pga_stmt st = {
        "UPDATE ghlsync.changes SET claim_pid = NULL, claim_start = NULL, claim_key = NULL, "
        "next_attempt_at = now() + $2::bigint * interval '1 millisecond' "
        "WHERE id = ANY($1::bigint[])",
        2, p};
    end_with(j, &st, 1);
    sbuf_free(&ids);
}

/* state: failed | retrying | unknown | ignored */
static void job_settle(pjob *j, const char *state, long status, const char *msg,
                       bool (*pick)(const pchange *), bool clear_sent)
{
    push_service *P = j->P;
    int attempts = 0;
    for (size_t i = 0; i < j->n; i++)
        if (j->ch[i].attempts > attempts)
            attempts = j->ch[i].attempts;
    int64_t delay = 0;
    if (!strcmp(state, "retrying")) {
        if (attempts + 1 >= P->o.max_attempts) {
            state = "failed";
        } else {
            delay = P->o.backoff_base_ms;
            for (int i = 0; i < attempts && delay < P->o.backoff_max_ms; i++)
                delay *= 2;
            if (delay > P->o.backoff_max_ms)
                delay = P->o.backoff_max_ms;
            delay = delay / 2 + (int64_t)gs_loop_rand(P->L, (uint64_t)delay / 2 + 1);
        }
    }
    if (!strcmp(state, "failed"))
        P->st.failed++;
    else if (!strcmp(state, "retrying"))
        P->st.retrying++;
    else if (!strcmp(state, "unknown"))
        P->st.unknown++;
    else
        P->st.ignored++;
    sbuf ids = SBUF_INIT, rowerr = SBUF_INIT;
    ids_lit(j, &ids, pick);
    char st_txt[16], d[32];
    snprintf(st_txt, sizeof st_txt, "%ld", status);
    snprintf(d, sizeof d, "%" PRId64, delay);
    if (status)
        sbuf_printf(&rowerr, "HTTP %ld: %s", status, msg ? msg : "");
    else
        sbuf_puts(&rowerr, msg ? msg : "");
    bool final = !strcmp(state, "ignored");
    const char *p1[] = {sbuf_str(&ids),     state, status ? st_txt : NULL,
                        final ? NULL : msg, d,     clear_sent ? "t" : "f"};
    const char *p2[] = {j->keytxt, !strcmp(state, "retrying") ? "pending" : state,
                        sbuf_str(&rowerr)};
    sbuf rest = SBUF_INIT;
    ids_lit_if(j, &rest, pick, false);
    const char *p3[] = {sbuf_str(&rest)};
    pga_stmt st[3] = {
        {"UPDATE ghlsync.changes SET state = $2, last_status = $3::int, last_error = $4, "
         "claim_pid = NULL, claim_start = NULL, claim_key = NULL, attempts = attempts + 1, "
         "sent_at = CASE WHEN $6::boolean THEN NULL ELSE sent_at END, "
         "done_at = CASE WHEN $2 = 'ignored' THEN now() END, "
         "next_attempt_at = now() + $5::bigint * interval '1 millisecond' "
         "WHERE id = ANY($1::bigint[])",
         6, p1},
        {release_sql, 1, p3},
        {j->t->state_sql, 3, p2},
    };
    log_event(P->L->log, !strcmp(state, "ignored") ? LOG_DEBUG : LOG_WARN, "push.change_settled",
              "table", j->table, "local_key", j->keytxt, "state", state, "error", msg ? msg : "",
              NULL);
    end_with(j, st, final ? 2 : 3);
    sbuf_free(&rest);
    sbuf_free(&ids);
    sbuf_free(&rowerr);
}

/* The API answered with a record: write it back (except protected columns) and finish the
 * changes picked. */
static void job_writeback(pjob *j, const cJSON *record, bool (*pick)(const pchange *))
{
    push_service *P = j->P;
    map_row row = {0};
    sbuf warn = SBUF_INIT, ids = SBUF_INIT;
    gs_err e = {0};
    const cJSON *rec = fam_of(j->t->model)->answer_record(record);
    if (map_record_to_row(j->t->model, rec, j->loc->id, &row, &warn, &e) || row.n != j->t->ncols) {
        log_event(P->L->log, LOG_ERROR, "push.writeback_map", "error", e.msg, NULL);
        map_row_free(&row);
        sbuf_free(&warn);
        /* the answer cannot be written back: retried with backoff, failed after max_attempts
         * (a create stays in doubt: sent_at is kept) */
        job_settle(j, "retrying", j->status, e.msg[0] ? e.msg : "unreadable answer", pick_all,
                   false);
        return;
    }
    const char *rid = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(rec, "id"));
    ids_lit(j, &ids, pick);
    size_t np = 4 + row.n;
    const char **p = calloc(np, sizeof *p);
    if (!p) {
        map_row_free(&row);
        sbuf_free(&warn);
        sbuf_free(&ids);
        job_fail(j, "write-back", "out of memory");
        return;
    }
    p[0] = j->keytxt;
    p[1] = j->schema;
    p[2] = j->table;
    p[3] = sbuf_str(&ids);
    for (size_t c = 0; c < row.n; c++)
        p[4 + c] = row.values[c];
    char st_txt[16];
    snprintf(st_txt, sizeof st_txt, "%ld", j->status ? j->status : 200);
    const char *pd[] = {sbuf_str(&ids), rid, st_txt};
    const char *pr[] = {j->keytxt, j->schema, j->table, rid};
    const char *pl[] = {j->keytxt};
    sbuf rest = SBUF_INIT;
    ids_lit_if(j, &rest, pick, false);
    const char *prel[] = {sbuf_str(&rest)};
    char lock_sql[600];
    snprintf(lock_sql, sizeof lock_sql, "SELECT 1 FROM %s WHERE _local_id = $1 FOR UPDATE",
             j->t->qtable);
    const char *pdd[] = {j->keytxt, j->loc->id, rid, j->schema, j->table};
    /* The local row gets its remote id now (a create, or an adopted create): a pull page that
     * holds the new record may be in flight, its INSERT not yet visible to the de-duplication.
     * SHARE ROW EXCLUSIVE conflicts with the page's ROW EXCLUSIVE lock, so this waits for the
     * page to commit, and the statements after it (each with a fresh snapshot, READ COMMITTED)
     * see its row. Held for the length of this short transaction, and only for creates. */
    char table_lock_sql[600];
    snprintf(table_lock_sql, sizeof table_lock_sql, "LOCK TABLE %s IN SHARE ROW EXCLUSIVE MODE",
             j->t->qtable);
    bool assigns_id = rid && (!j->remote_id || j->adopting);
    pga_stmt st[7];
    int n = 0;
    if (assigns_id) { /* creates only: an update already has its id, nothing to race with */
        st[n++] = (pga_stmt){table_lock_sql, 0, NULL};
        st[n++] = (pga_stmt){j->t->dedupe_sql, 5, pdd};
    }
    st[n++] = (pga_stmt){release_sql, 1, prel};
    st[n++] = (pga_stmt){lock_sql, 1, pl};
    st[n++] = (pga_stmt){j->t->writeback_sql, (int)np, p};
    st[n++] = (pga_stmt){
        "UPDATE ghlsync.changes SET state = 'done', done_at = now(), remote_id = "
        "coalesce(remote_id, $2), claim_pid = NULL, claim_start = NULL, claim_key = NULL, "
        "last_status = $3::int, last_error = NULL, attempts = attempts + 1 "
        "WHERE id = ANY($1::bigint[])",
        3, pd};
    if (rid)
        st[n++] = (pga_stmt){"UPDATE ghlsync.changes SET remote_id = $4 WHERE table_schema = $2 "
                             "AND table_name = $3 AND local_key = $1 AND remote_id IS NULL AND "
                             "state IN " OPEN_STATES,
                             4, pr};
    for (size_t i = 0; i < j->n; i++)
        if (pick(&j->ch[i]))
            P->st.done++;
    end_with(j, st, n);
    sbuf_free(&rest);
    free(p);
    map_row_free(&row);
    sbuf_free(&warn);
    sbuf_free(&ids);
}

/* Common handling of a failed call. */
static void job_api_error(pjob *j, const hl_result *r, bool is_create)
{
    switch (r->kind) {
    case HL_REJECTED:
        job_settle(j, "failed", r->status, r->message, pick_all, is_create);
        break;
    case HL_UNKNOWN_OUTCOME: {
        /* sent_at stays: the next claim looks the record up or parks the change, once the
         * lookup can see a record this create made (a search index may lag) */
        log_event(j->P->L->log, LOG_WARN, "push.create_unknown", "table", j->table, "local_key",
                  j->keytxt, "error", r->message, NULL);
        const fam_family *fam = fam_of(j->t->model);
        fam_lookup k;
        lookup_key(j, &k);
        job_release(j, pick_all, fam->lookup_lag_ms ? fam->lookup_lag_ms(j->t->model, &k) : 0);
        break;
    }
    case HL_AUTH:
    case HL_RETRYABLE:
    default:
        job_settle(j, "retrying", r->status, r->message, pick_all, is_create);
        break;
    }
}

/* A PUT (or its conflict GET) found the record deleted in HighLevel while the row changed
 * locally: an update/delete conflict. remote_wins: the deletion wins - the changes are ignored,
 * the conflict recorded, the row marked deleted (as the pull's sweep would). Other policies
 * cannot undo a remote deletion (a new record would get a new id): the changes fail with the
 * API's answer and an operator decides (`ghlsync errors`). */
static void job_remote_gone(pjob *j, const hl_result *r)
{
    if (j->t->conflict != CFG_REMOTE_WINS || !j->remote_id) {
        job_settle(j, "failed", r->status, r->message, pick_all, false);
        return;
    }
    push_service *P = j->P;
    sbuf ids = SBUF_INIT, del = SBUF_INIT;
    ids_lit(j, &ids, pick_all);
    if (j->t->hard_delete)
        sbuf_printf(&del, "DELETE FROM %s WHERE _local_id = $1", j->t->qtable);
    else
        sbuf_printf(&del,
                    "UPDATE %s SET _deleted_at = coalesce(_deleted_at, now()), _sync_state = "
                    "'done', _sync_error = NULL WHERE _local_id = $1",
                    j->t->qtable);
    char st_txt[16];
    snprintf(st_txt, sizeof st_txt, "%ld", r->status);
    const char *pc[] = {sbuf_str(&ids), cfg_conflict_name(j->t->conflict)};
    const char *pu[] = {sbuf_str(&ids), st_txt, r->message};
    const char *pd[] = {j->keytxt};
    pga_stmt st[3] = {
        {"INSERT INTO ghlsync.conflicts (change_id, location_id, object_key, table_schema, "
         "table_name, local_key, remote_id, column_name, base_value, local_value, remote_value, "
         "policy, resolution, resolved_at) SELECT id, location_id, object_key, table_schema, "
         "table_name, local_key, remote_id, NULL, old_values, new_values, NULL, $2, "
         "'remote_deleted', now() FROM ghlsync.changes WHERE id = ANY($1::bigint[])",
         2, pc},
        {"UPDATE ghlsync.changes SET state = 'ignored', done_at = now(), claim_pid = NULL, "
         "claim_start = NULL, claim_key = NULL, last_status = $2::int, last_error = 'deleted in "
         "HighLevel: ' || $3, "
         "attempts = attempts + 1 WHERE id = ANY($1::bigint[])",
         3, pu},
        {sbuf_str(&del), 1, pd},
    };
    P->st.conflicts++;
    P->st.ignored += (long)j->n;
    log_event(P->L->log, LOG_INFO, "push.remote_deleted", "table", j->table, "local_key", j->keytxt,
              "id", j->remote_id, "msg",
              "deleted in HighLevel while changed locally; remote_wins: the deletion wins", NULL);
    end_with(j, st, 3);
    sbuf_free(&ids);
    sbuf_free(&del);
}

/* ---- API calls --------------------------------------------------------------------------- */

/* A 2xx whose body says the write did not happen is a rejection (family.h answer_failed). */
static bool answer_refused(const pjob *j, hl_result *r)
{
    const fam_family *fam = fam_of(j->t->model);
    if (r->kind != HL_OK || !r->json || !fam->answer_failed || !fam->answer_failed(r->json))
        return false;
    r->kind = HL_REJECTED;
    r->message = "HighLevel answered the write with success = false";
    return true;
}

static void on_write_done(hl_result *r, void *ud)
{
    pjob *j = ud;
    if (j->P->closing) {
        job_end(j);
        return;
    }
    answer_refused(j, r);
    j->status = r->status;
    if (r->kind == HL_OK && r->json && cJSON_GetArraySize(j->set_ops) > 0) {
        set_next(j);
        return;
    }
    if (r->kind == HL_OK && r->json) {
        job_writeback(j, r->json, pick_all);
        return;
    }
    if (r->kind == HL_REJECTED && r->status == 404) {
        job_remote_gone(j, r);
        return;
    }
    job_api_error(j, r, false);
}

/* ---- set columns (tags): sent as the elements added and removed, never as the whole list,
 * which would drop an element someone else added meanwhile. Then the record is read back. */

static void on_set_done(hl_result *r, void *ud)
{
    pjob *j = ud;
    if (j->P->closing) {
        job_end(j);
        return;
    }
    j->status = r->status;
    if (r->kind == HL_OK) {
        set_next(j);
        return;
    }
    if (r->kind == HL_REJECTED && r->status == 404) {
        job_remote_gone(j, r);
        return;
    }
    job_api_error(j, r, false);
}

static void set_next(pjob *j)
{
    const fam_family *fam = fam_of(j->t->model);
    gs_err e = {0};
    cJSON *op;
    while ((op = cJSON_GetArrayItem(j->set_ops, 0))) {
        size_t c = (size_t)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(op, "c"));
        const fam_std *col = fam_row_std(fam, c);
        for (int k = 0; k < 2; k++) {
            const char *what = k ? "remove" : "add";
            cJSON *items = cJSON_DetachItemFromObjectCaseSensitive(op, what);
            if (cJSON_GetArraySize(items) == 0) {
                cJSON_Delete(items);
                continue;
            }
            int rc = k ? fam->set_remove(j->loc->hl, j->t->key, j->remote_id, col, items,
                                         RL_PRIO_PUSH, on_set_done, j, &e)
                       : fam->set_add(j->loc->hl, j->t->key, j->remote_id, col, items, RL_PRIO_PUSH,
                                      on_set_done, j, &e);
            cJSON_Delete(items);
            if (rc) {
                log_event(j->P->L->log, LOG_ERROR, "push.submit", "error", e.msg, NULL);
                job_release(j, pick_all, 1000);
            }
            return;
        }
        cJSON_DeleteItemFromArray(j->set_ops, 0);
    }
    /* the answers carry only the set: read the record back for the write-back */
    if (fam->get(j->loc->hl, j->t->key, j->remote_id, RL_PRIO_PUSH, on_write_done, j, &e)) {
        log_event(j->P->L->log, LOG_ERROR, "push.submit", "error", e.msg, NULL);
        job_release(j, pick_all, 1000);
    }
}

static bool has_str(const cJSON *arr, const char *s)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, arr)
    {
        if (cJSON_IsString(it) && !strcmp(it->valuestring, s))
            return true;
    }
    return false;
}

/* The set operations of the changed set columns: base = the value before the oldest claimed
 * change of the column. Returns false on out-of-memory. */
static bool set_ops_build(pjob *j)
{
    const fam_family *fam = fam_of(j->t->model);
    for (size_t c = 0; c < j->t->ncols; c++) {
        const fam_std *sc = fam_row_std(fam, c);
        if (!j->changed[c] || !sc || !(sc->flags & FAM_STD_SET_DIFF))
            continue;
        const cJSON *base = NULL;
        for (size_t i = 0; i < j->n && !base; i++)
            base = cJSON_GetObjectItemCaseSensitive(j->ch[i].old_values, j->t->cols[c]);
        cJSON *now = NULL;
        gs_err e;
        if (!j->values[c] || map_array_decode(j->values[c], &now, &e))
            now = cJSON_CreateArray();
        cJSON *op = cJSON_CreateObject();
        cJSON *add = cJSON_CreateArray(), *rm = cJSON_CreateArray();
        if (!j->set_ops)
            j->set_ops = cJSON_CreateArray();
        if (!now || !op || !add || !rm || !j->set_ops) {
            cJSON_Delete(now);
            cJSON_Delete(op);
            cJSON_Delete(add);
            cJSON_Delete(rm);
            return false;
        }
        const cJSON *it;
        cJSON_ArrayForEach(it, now)
        {
            if (cJSON_IsString(it) && !has_str(base, it->valuestring) &&
                !has_str(add, it->valuestring))
                cJSON_AddItemToArray(add, cJSON_CreateString(it->valuestring));
        }
        cJSON_ArrayForEach(it, base)
        {
            if (cJSON_IsString(it) && !has_str(now, it->valuestring) &&
                !has_str(rm, it->valuestring))
                cJSON_AddItemToArray(rm, cJSON_CreateString(it->valuestring));
        }
        cJSON_Delete(now);
        cJSON_AddNumberToObject(op, "c", (double)c);
        cJSON_AddItemToObject(op, "add", add);
        cJSON_AddItemToObject(op, "remove", rm);
        cJSON_AddItemToArray(j->set_ops, op);
    }
    return true;
}

static void on_adoption_recorded(pga_conn *c, PGresult *const *res, int nres, const pga_error *err,
                                 void *ud)
{
    (void)c;
    (void)res;
    (void)nres;
    pjob *j = ud;
    if (err || j->P->closing) {
        if (err && !j->P->closing)
            log_db(j->P, "recording an adopted duplicate", err);
        job_end(j);
        return;
    }
    /* the local values go out as an update under the policy: the record is read first and
     * compared column by column (on_remote_get, base = nothing) */
    for (size_t i = 0; i < j->n; i++)
        j->ch[i].sent = false;
    j->suspect = true;
    do_update(j);
}

/* The create was refused because the record exists (the family's duplicate rule, e.g. a
 * contact with the same email): the row adopts that record instead of making a second one,
 * and ghlsync.conflicts says so. */
static void adopt_existing(pjob *j, const char *id, const hl_result *r)
{
    push_service *P = j->P;
    free(j->remote_id);
    j->remote_id = strdup(id);
    j->adopting = true;
    P->st.adopted++;
    P->st.conflicts++;
    log_event(P->L->log, LOG_INFO, "push.duplicate_adopted", "table", j->table, "local_key",
              j->keytxt, "id", id, "msg", r->message, NULL);
    sbuf ids = SBUF_INIT;
    ids_lit(j, &ids, pick_all);
    char *meta = r->json ? cJSON_PrintUnformatted(r->json) : NULL;
    const char *p[] = {sbuf_str(&ids), id, meta, policy_name(j->t->conflict)};
    gs_err e = {0};
    if (!j->remote_id ||
        pga_query(P->db,
                  "INSERT INTO ghlsync.conflicts (change_id, location_id, object_key, "
                  "table_schema, table_name, local_key, remote_id, column_name, base_value, "
                  "local_value, remote_value, policy, resolution, resolved_at) SELECT id, "
                  "location_id, object_key, table_schema, table_name, local_key, $2, NULL, NULL, "
                  "new_values, $3::jsonb, $4, 'duplicate_adopted', now() FROM ghlsync.changes "
                  "WHERE id = ANY($1::bigint[])",
                  4, p, on_adoption_recorded, j, &e)) {
        log_event(P->L->log, LOG_ERROR, "push.db_error", "error", e.msg, NULL);
        job_end(j);
    }
    free(meta);
    sbuf_free(&ids);
}

static void on_create_done(hl_result *r, void *ud)
{
    pjob *j = ud;
    if (j->P->closing) {
        job_end(j);
        return;
    }
    j->status = r->status;
    if (r->kind == HL_OK && r->json) {
        j->P->st.creates++;
        job_writeback(j, r->json, pick_all);
        return;
    }
    const char *existing =
        fam_of(j->t->model)->existing_id ? fam_of(j->t->model)->existing_id(r) : NULL;
    if (existing) {
        adopt_existing(j, existing, r);
        return;
    }
    if (r->kind == HL_OK) {
        /* 2xx without a readable record: we cannot know the id */
        hl_result u = *r;
        u.kind = HL_UNKNOWN_OUTCOME;
        job_api_error(j, &u, true);
        return;
    }
    job_api_error(j, r, true);
}

static void on_delete_done(hl_result *r, void *ud)
{
    pjob *j = ud;
    if (j->P->closing) {
        job_end(j);
        return;
    }
    answer_refused(j, r);
    if (r->kind == HL_OK) {
        j->P->st.deletes++;
        sbuf ids = SBUF_INIT;
        ids_lit(j, &ids, pick_all);
        char st_txt[16];
        snprintf(st_txt, sizeof st_txt, "%ld", r->status);
        const char *p[] = {sbuf_str(&ids), st_txt};
        pga_stmt st = {
            "UPDATE ghlsync.changes SET state = 'done', done_at = now(), claim_pid = "
            "NULL, claim_start = NULL, claim_key = NULL, last_status = $2::int, last_error = NULL, "
            "attempts = attempts + 1 WHERE id = ANY($1::bigint[])",
            2, p};
        j->P->st.done += (long)j->n;
        end_with(j, &st, 1);
        sbuf_free(&ids);
        return;
    }
    job_api_error(j, r, false);
}

static size_t col_index(const ptarget *t, const char *name)
{
    for (size_t c = 0; c < t->ncols; c++)
        if (!strcmp(t->cols[c], name))
            return c;
    return (size_t)-1;
}

static void do_create(pjob *j)
{
    push_service *P = j->P;
    cJSON *body = NULL;
    gs_err e = {0};
    if (fam_of(j->t->model)
            ->row_to_body(j->t->model, (const char *const *)j->values, NULL, NULL, j->t->ext,
                          j->keytxt, &body, &e)) {
        job_settle(j, "failed", 0, e.msg, pick_all, true);
        return;
    }
    /* committed BEFORE the POST leaves: a crash from here on is an unknown outcome */
    sbuf ids = SBUF_INIT;
    ids_lit(j, &ids, pick_all);
    const char *p[] = {sbuf_str(&ids)};
    char *bodytxt = cJSON_PrintUnformatted(body);
    cJSON_Delete(body);
    /* the body is kept as text until the mark is committed */
    j->stash = cJSON_CreateString(bodytxt ? bodytxt : "{}");
    free(bodytxt);
    for (size_t i = 0; i < j->n; i++)
        j->ch[i].sent = true;
    gs_err e2 = {0};
    if (pga_query(P->db, "UPDATE ghlsync.changes SET sent_at = now() WHERE id = ANY($1::bigint[])",
                  1, p, on_marked, j, &e2)) {
        job_fail(j, "marking a create as sent", e2.msg);
    }
    sbuf_free(&ids);
}

static void on_marked(pga_conn *c, PGresult *const *res, int nres, const pga_error *err, void *ud)
{
    (void)c;
    (void)res;
    (void)nres;
    pjob *j = ud;
    if (err || j->P->closing) {
        job_fail(j, "marking a create as sent", err ? err->err.msg : NULL);
        return;
    }
    cJSON *body = cJSON_Parse(cJSON_GetStringValue(j->stash));
    cJSON_Delete(j->stash);
    j->stash = NULL;
    gs_err e = {0};
    if (!body || fam_of(j->t->model)
                     ->create(j->loc->hl, j->t->key, body, RL_PRIO_PUSH, on_create_done, j, &e)) {
        cJSON_Delete(body);
        log_event(j->P->L->log, LOG_ERROR, "push.submit", "error", e.msg, NULL);
        job_release(j, pick_all, 1000);
        return;
    }
    cJSON_Delete(body);
}

static void do_put(pjob *j)
{
    const fam_family *fam = fam_of(j->t->model);
    cJSON *body = NULL;
    gs_err e = {0};
    /* old values for options that must be cleared (TEXTBOX_LIST) */
    const char **old = calloc(j->t->ncols, sizeof *old);
    char **oldown = calloc(j->t->ncols, sizeof *oldown);
    for (size_t c = 0; old && oldown && c < j->t->ncols; c++) {
        if (!j->changed[c])
            continue;
        for (size_t i = 0; i < j->n && !old[c]; i++) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(j->ch[i].old_values, j->t->cols[c]);
            if (v && !cJSON_IsNull(v)) {
                oldown[c] = cJSON_IsString(v) ? strdup(v->valuestring) : cJSON_PrintUnformatted(v);
                old[c] = oldown[c];
            }
        }
    }
    int rc = old && oldown ? fam->row_to_body(j->t->model, (const char *const *)j->values, old,
                                              j->changed, NULL, NULL, &body, &e)
                           : gs_err_set(&e, GS_ENOMEM, "out of memory");
    for (size_t c = 0; oldown && c < j->t->ncols; c++)
        free(oldown[c]);
    free(oldown);
    free(old);
    if (rc) {
        job_settle(j, "failed", 0, e.msg, pick_all, false);
        return;
    }
    cJSON_Delete(j->set_ops);
    j->set_ops = NULL;
    if (!set_ops_build(j)) {
        cJSON_Delete(body);
        job_fail(j, "set operations", "out of memory");
        return;
    }
    if (cJSON_GetArraySize(body) == 0) {
        /* nothing left to send (every column dropped by the conflict policy, or only set
         * columns changed): the set operations, then the remote record as it is */
        cJSON_Delete(body);
        if (cJSON_GetArraySize(j->set_ops) > 0)
            set_next(j);
        else if (fam->get(j->loc->hl, j->t->key, j->remote_id, RL_PRIO_PUSH, on_write_done, j, &e))
            job_fail(j, "get", e.msg);
        return;
    }
    j->P->st.updates++;
    if (fam->update(j->loc->hl, j->t->key, j->remote_id, body, RL_PRIO_PUSH, on_write_done, j,
                    &e)) {
        log_event(j->P->L->log, LOG_ERROR, "push.submit", "error", e.msg, NULL);
        job_release(j, pick_all, 1000);
    }
    cJSON_Delete(body);
}

/* ---- conflicts --------------------------------------------------------------------------- */

static void on_conflicts_recorded(pga_conn *c, PGresult *const *res, int nres, const pga_error *err,
                                  void *ud)
{
    (void)c;
    (void)nres;
    pjob *j = ud;
    if (err || j->P->closing) {
        job_fail(j, "conflict check", err ? err->err.msg : NULL);
        return;
    }
    /* res[0]: one row per compared column: conflict?, local wins?; in j->conflicts order */
    PGresult *r = res[0];
    cJSON *it;
    int i = 0;
    cJSON_ArrayForEach(it, j->conflicts)
    {
        bool conflict = PQgetvalue(r, 0, 2 * i)[0] == 't';
        bool local = PQgetvalue(r, 0, 2 * i + 1)[0] == 't';
        size_t col = (size_t)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(it, "c"));
        if (conflict) {
            j->P->st.conflicts++;
            if (!local)
                j->changed[col] = false;
        }
        i++;
    }
    do_put(j);
}

static const char *policy_name(enum cfg_conflict c)
{
    return c == CFG_LOCAL_WINS    ? "local_wins"
           : c == CFG_NEWEST_WINS ? "newest_wins"
                                  : "remote_wins";
}

static void add_param(cJSON *list, const char *v)
{
    cJSON_AddItemToArray(list, v ? cJSON_CreateString(v) : cJSON_CreateNull());
}

static void on_remote_get(hl_result *r, void *ud)
{
    pjob *j = ud;
    push_service *P = j->P;
    if (P->closing) {
        job_end(j);
        return;
    }
    P->st.gets++;
    if (r->kind == HL_REJECTED && r->status == 404) {
        job_remote_gone(j, r);
        return;
    }
    if (r->kind != HL_OK || !r->json) {
        job_api_error(j, r, false);
        return;
    }
    const fam_family *fam = fam_of(j->t->model);
    const cJSON *rec = fam->answer_record(r->json);
    map_row remote = {0};
    sbuf warn = SBUF_INIT;
    gs_err e = {0};
    if (map_record_to_row(j->t->model, rec, j->loc->id, &remote, &warn, &e) ||
        remote.n != j->t->ncols) {
        sbuf_free(&warn);
        map_row_free(&remote);
        do_put(j);
        return;
    }
    sbuf_free(&warn);
    const char *rupd = NULL;
    for (int k = 1; k >= 0 && !rupd; k--) /* a read answer's name first (dateUpdated) */
        if (fam->updated_key[k])
            rupd = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(rec, fam->updated_key[k]));
    /* One statement compares every pushed column (typed, in SQL) and records the conflicts:
     * remote differs from the base value AND from the local value = changed on both sides. */
    sbuf q = SBUF_INIT, ins = SBUF_INIT;
    cJSON *plist = cJSON_CreateArray();
    j->conflicts = cJSON_CreateArray();
    int np = 0;
#define PARAM(v) (add_param(plist, (v)), ++np)
    int p_rupd = PARAM(rupd);
    int p_pol = PARAM(policy_name(j->t->conflict));
    int p_key = PARAM(j->keytxt);
    int p_rid = PARAM(j->remote_id);
    int p_loc = PARAM(j->loc->id);
    int p_obj = PARAM(j->t->key);
    int p_sch = PARAM(j->schema);
    int p_tab = PARAM(j->table);
    char chid[24];
    snprintf(chid, sizeof chid, "%" PRId64, j->ch[0].id);
    int p_chid = PARAM(chid);
    sbuf_puts(&q, "WITH v AS (SELECT ");
    int ncmp = 0;
    for (size_t c = 0; c < j->t->ncols; c++) {
        if (!j->changed[c])
            continue;
        const fam_std *sc = fam_row_std(fam, c);
        if (sc && (sc->flags & FAM_STD_SET_DIFF))
            continue; /* sent as a difference: both sides' elements stay, no conflict */
        const char *col = j->t->cols[c];
        const cJSON *base = NULL;
        const char *latest = NULL;
        for (size_t i = 0; i < j->n; i++) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(j->ch[i].old_values, col);
            if (v && !base)
                base = v;
            for (size_t k = 0; k < j->ch[i].ncols; k++)
                if (!strcmp(j->ch[i].cols[k], col))
                    latest = j->ch[i].created;
        }
        cJSON *none = NULL;
        if (!base && j->adopting)
            base = none = cJSON_CreateNull(); /* an adopted create: the row had nothing */
        if (!base)
            continue;
        char *btxt = cJSON_PrintUnformatted(base);
        cJSON_Delete(none);
        int pb = PARAM(btxt);
        free(btxt);
        int pr = PARAM(remote.values[c]);
        int pl = PARAM(j->values[c]);
        int pt = PARAM(latest);
        int pc = PARAM(col);
        const char *ty = j->t->coltypes[c];
        sbuf_printf(&q,
                    "%s$%d::jsonb AS b%d, coalesce(to_jsonb($%d::%s), 'null') AS r%d, "
                    "coalesce(to_jsonb($%d::%s), 'null') AS l%d, "
                    "$%d::timestamptz AS t%d, $%d::text AS n%d",
                    ncmp ? ", " : "", pb, ncmp, pr, ty, ncmp, pl, ty, ncmp, pt, ncmp, pc, ncmp);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "c", (double)c);
        cJSON_AddItemToArray(j->conflicts, o);
        ncmp++;
    }
    if (ncmp == 0) {
        sbuf_free(&q);
        sbuf_free(&ins);
        cJSON_Delete(plist);
        map_row_free(&remote);
        do_put(j);
        return;
    }
    /* conflict_k: remote moved away from the base and is not what we push; local_k: the local
     * value is the one to send under the policy */
    sbuf_puts(&q, "), d AS (SELECT ");
    for (int k = 0; k < ncmp; k++)
        sbuf_printf(&q,
                    "%s(v.r%d IS DISTINCT FROM v.b%d AND v.r%d IS DISTINCT FROM v.l%d) AS c%d, "
                    "CASE $%d WHEN 'local_wins' THEN true WHEN 'newest_wins' THEN v.t%d > "
                    "$%d::timestamptz ELSE false END AS w%d",
                    k ? ", " : "", k, k, k, k, k, p_pol, k, p_rupd, k);
    sbuf_puts(&q, " FROM v), ins AS (INSERT INTO ghlsync.conflicts (change_id, location_id, "
                  "object_key, table_schema, table_name, local_key, remote_id, column_name, "
                  "base_value, local_value, remote_value, remote_updated_at, policy, resolution, "
                  "resolved_at) ");
    for (int k = 0; k < ncmp; k++)
        sbuf_printf(&q,
                    "%sSELECT $%d::bigint, $%d, $%d, $%d, $%d, $%d::bigint, $%d, v.n%d, v.b%d, "
                    "v.l%d, v.r%d, $%d::timestamptz, $%d, CASE WHEN d.w%d THEN 'local_pushed' "
                    "ELSE 'remote_kept' END, now() FROM v, d WHERE d.c%d",
                    k ? " UNION ALL " : "", p_chid, p_loc, p_obj, p_sch, p_tab, p_key, p_rid, k, k,
                    k, k, p_rupd, p_pol, k, k);
    sbuf_puts(&q, " RETURNING 1) SELECT ");
    for (int k = 0; k < ncmp; k++)
        sbuf_printf(&q, "%sd.c%d, d.w%d", k ? ", " : "", k, k);
    sbuf_puts(&q, " FROM d");
#undef PARAM
    const char **vals = calloc((size_t)np, sizeof *vals);
    for (int i = 0; vals && i < np; i++)
        vals[i] = cJSON_GetStringValue(cJSON_GetArrayItem(plist, i));
    gs_err e2 = {0};
    if (!vals || sbuf_failed(&q) ||
        pga_query(P->db, sbuf_str(&q), np, vals, on_conflicts_recorded, j, &e2)) {
        job_fail(j, "conflict check", e2.msg);
    }
    free(vals);
    cJSON_Delete(plist);
    sbuf_free(&q);
    sbuf_free(&ins);
    map_row_free(&remote);
}

static void do_update(pjob *j)
{
    j->changed = calloc(j->t->ncols, sizeof *j->changed);
    if (!j->changed) {
        job_fail(j, "update", "out of memory");
        return;
    }
    for (size_t i = 0; i < j->n; i++)
        for (size_t k = 0; k < j->ch[i].ncols; k++) {
            size_t c = col_index(j->t, j->ch[i].cols[k]);
            if (c != (size_t)-1)
                j->changed[c] = true;
        }
    bool any = false;
    for (size_t c = 0; c < j->t->ncols; c++)
        any |= j->changed[c];
    if (!any) {
        /* only columns that are not pushed (a deprecated field): nothing to send */
        job_settle(j, "ignored", 0, NULL, pick_all, false);
        return;
    }
    if (j->suspect) {
        gs_err e = {0};
        if (fam_of(j->t->model)
                ->get(j->loc->hl, j->t->key, j->remote_id, RL_PRIO_PUSH, on_remote_get, j, &e)) {
            log_event(j->P->L->log, LOG_ERROR, "push.submit", "error", e.msg, NULL);
            job_release(j, pick_all, 1000);
        }
        return;
    }
    do_put(j);
}

/* ---- unknown outcome of a create ---------------------------------------------------------- */

/* What the family may look a record up by: the external id, or the row's own values. */
static void lookup_key(const pjob *j, fam_lookup *k)
{
    *k = (fam_lookup){.local_key = j->keytxt,
                      .ext = j->t->ext,
                      .values = (const char *const *)j->values,
                      .columns = j->t->cols,
                      .ncols = j->t->ncols};
}

static void on_search(hl_result *r, void *ud)
{
    pjob *j = ud;
    push_service *P = j->P;
    if (P->closing) {
        job_end(j);
        return;
    }
    P->st.searches++;
    if (r->kind != HL_OK || !r->json) {
        /* cannot tell yet: keep the change in doubt, try again later */
        job_settle(j, "retrying", r->status, r->message, pick_all, false);
        return;
    }
    fam_lookup k;
    lookup_key(j, &k);
    int matches = 0;
    const cJSON *found = fam_of(j->t->model)->lookup_match(j->t->model, r->json, &k, &matches);
    if (found) {
        char n[16];
        snprintf(n, sizeof n, "%d", matches);
        log_event(P->L->log, matches > 1 ? LOG_WARN : LOG_INFO, "push.create_adopted", "table",
                  j->table, "local_key", j->keytxt, "id",
                  cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(found, "id")), "matches", n,
                  NULL);
        P->st.adopted++;
        j->status = 200;
        /* only the creates are settled; later changes are pushed as an update next */
        job_writeback(j, found, pick_sent);
        return;
    }
    /* not created: create it now (sent_at is set again before the POST) */
    for (size_t i = 0; i < j->n; i++)
        j->ch[i].sent = false;
    if (!j->exists) {
        job_settle(j, "ignored", 0, NULL, pick_all, false);
        return;
    }
    do_create(j);
}

static void resolve_doubt(pjob *j)
{
    push_service *P = j->P;
    const fam_family *fam = fam_of(j->t->model);
    fam_lookup k;
    lookup_key(j, &k);
    if (!fam->can_lookup(j->t->model, &k)) {
        char msg[600];
        snprintf(msg, sizeof msg,
                 "the create was sent but its outcome is unknown (connection lost or no readable "
                 "answer) and %s has no external_id_field to look it up: check HighLevel for the "
                 "record, then `ghlsync errors retry ID` to create it or `ghlsync errors ignore "
                 "ID`",
                 j->t->key);
        job_settle(j, "unknown", 0, msg, pick_sent, false);
        return;
    }
    gs_err e = {0};
    if (fam->lookup(j->loc->hl, j->t->model, &k, RL_PRIO_PUSH, on_search, j, &e)) {
        log_event(P->L->log, LOG_ERROR, "push.submit", "error", e.msg, NULL);
        job_release(j, pick_all, 1000);
    }
}

/* ---- job start: read the row, decide ----------------------------------------------------- */

static void on_row(pga_conn *c, PGresult *const *res, int nres, const pga_error *err, void *ud)
{
    (void)c;
    (void)nres;
    pjob *j = ud;
    if (err || j->P->closing) {
        job_fail(j, "reading a row to push", err ? err->err.msg : NULL);
        return;
    }
    PGresult *r = res[0];
    size_t n = j->t->ncols;
    j->values = calloc(n, sizeof *j->values);
    if (!j->values || PQntuples(r) != 1 || PQnfields(r) < (int)n + 3) {
        job_fail(j, "reading a row to push", j->values ? "unexpected result" : "out of memory");
        return;
    }
    for (size_t k = 0; k < n; k++)
        j->values[k] = PQgetisnull(r, 0, (int)k) ? NULL : strdup(PQgetvalue(r, 0, (int)k));
    j->exists = PQgetvalue(r, 0, (int)n)[0] == 't';
    const char *known = PQgetisnull(r, 0, (int)n + 1) ? NULL : PQgetvalue(r, 0, (int)n + 1);
    j->suspect = PQgetvalue(r, 0, (int)n + 2)[0] == 't';
    size_t idi = col_index(j->t, "id");
    const char *rid = j->exists && idi != (size_t)-1 && j->values[idi] ? j->values[idi] : known;
    for (size_t i = 0; !rid && i < j->n; i++)
        rid = j->ch[i].remote_id;
    j->remote_id = xstrdup(rid);

    bool in_doubt = false;
    for (size_t i = 0; i < j->n; i++)
        in_doubt |= j->ch[i].sent;
    if (in_doubt && !j->remote_id) {
        resolve_doubt(j);
        return;
    }
    if (in_doubt) {
        /* the create did land (a later change knows the id): nothing is in doubt any more */
        for (size_t i = 0; i < j->n; i++)
            j->ch[i].sent = false;
    }
    if (!j->exists) {
        if (!j->remote_id) {
            job_settle(j, "ignored", 0, NULL, pick_all, false); /* insert + delete */
            return;
        }
        gs_err e = {0};
        if (fam_of(j->t->model)
                ->remove(j->loc->hl, j->t->key, j->remote_id, RL_PRIO_PUSH, on_delete_done, j,
                         &e)) {
            log_event(j->P->L->log, LOG_ERROR, "push.submit", "error", e.msg, NULL);
            job_release(j, pick_all, 1000);
        }
        return;
    }
    if (!j->remote_id) {
        do_create(j);
        return;
    }
    do_update(j);
}

static void job_start(pjob *j)
{
    /* base version: the oldest claimed update's (the local edit started from it) */
    const char *base = NULL;
    for (size_t i = 0; i < j->n && !base; i++)
        if (j->ch[i].op == 'u')
            base = j->ch[i].base;
    const char *p[] = {j->keytxt, j->schema, j->table, base};
    gs_err e = {0};
    if (!j->schema || !j->table || !j->ch ||
        pga_query(j->P->db, j->t->select_sql, 4, p, on_row, j, &e)) {
        job_fail(j, "reading a row to push", e.msg[0] ? e.msg : "out of memory");
    }
}
