/* whapply.c - see whapply.h. */
#include "whapply.h"

#include "family.h"
#include "ident.h"
#include "pullstore.h"
#include "ratelimit.h"
#include "relations.h"
#include "sbuf.h"

#include <cjson/cJSON.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The objects of the engine, sorted by (location id, key); locations are found through the
 * engine's index (engine_location_find): the listener and the drain look every hint up
 * without a scan over locations. */
struct objref {
    const char *loc, *key;
    const struct engine_object *eo;
};

struct wha {
    struct engine *E;
    pga_conn *db, *store_db;
    int64_t retention_ms;
    wha_hooks h;
    struct objref *objs;
    size_t nobjs;
    uv_timer_t *tick;
    bool reading; /* the batch query is in flight */
    int inflight; /* hints of the current batch not settled yet */
    bool again;   /* read again when the batch ends */
    bool closing;
    int refs; /* callbacks still to come (stores, reads, hints): `a` outlives them */
    int64_t last_retention_ms;
};

static void a_ref(wha *a)
{
    a->refs++;
}

static void a_unref(wha *a)
{
    if (--a->refs == 0 && a->closing) {
        free(a->objs);
        free(a);
    }
}

typedef struct hint {
    wha *a;
    char *seq, *loc, *type, *key, *id;
    bool del;
    int64_t event_ms;
    int attempts;
    const struct engine_location *el;
    const struct engine_object *eo;
    ps_model *model; /* a reference while a request or write is in flight */
    size_t probe;    /* keyless Record*: next custom object to GET */
    const struct engine_object **cands;
    size_t ncands;
    /* Relation*: the relation's fields (JSON), the end re-listed and its listing so far */
    char *detail, *end_id;
    cJSON *acc;
    int skip;
} hint;

static void next_batch(wha *a);
static void fetch(hint *h);

static int cmp_obj(const void *x, const void *y)
{
    const struct objref *p = x, *q = y;
    int c = strcmp(p->loc, q->loc);
    return c ? c : strcmp(p->key, q->key);
}

bool wha_has_location(const wha *a, const char *location_id)
{
    /* the engine's index: a location joins it before the services hear of it */
    return engine_location_find(a->E, location_id) != NULL;
}

const struct engine_object *wha_object(const wha *a, const char *location_id, const char *key)
{
    struct objref k = {.loc = location_id, .key = key};
    const struct objref *p = bsearch(&k, a->objs, a->nobjs, sizeof *a->objs, cmp_obj);
    return p ? p->eo : NULL;
}

/* ---- store ------------------------------------------------------------------------------- */

/* The CTE's outer SELECT sees the table as it was before the insert: `known` is true only for
 * a webhookId stored earlier, so "not inserted and not known" means the queue was full. */
static const char sql_store[] =
    "WITH ins AS (INSERT INTO ghlsync.webhook_hints (webhook_id, location_id, event_type, "
    "object_key, record_id, is_delete, event_at, detail) "
    "SELECT $1, $2, $3, $4, $5, $6::boolean, to_timestamp($7::bigint / 1000.0), $8::jsonb "
    "WHERE (SELECT count(*) FROM ghlsync.webhook_hints WHERE state = 'queued') < $9::bigint "
    "ON CONFLICT (webhook_id) DO NOTHING RETURNING seq) "
    "SELECT (SELECT seq FROM ins), EXISTS (SELECT 1 FROM ghlsync.webhook_hints WHERE "
    "webhook_id = $1)";

struct store_op {
    wha *a;
    wha_store_cb cb;
    void *ud;
};

static void on_stored(pga_conn *c, PGresult *const *res, int nres, const pga_error *err, void *ud)
{
    (void)c;
    struct store_op *op = ud;
    enum wha_stored r = WHA_DB_ERROR;
    if (!err && nres == 1 && PQntuples(res[0]) == 1) {
        if (!PQgetisnull(res[0], 0, 0))
            r = WHA_STORED;
        else if (PQgetvalue(res[0], 0, 1)[0] == 't')
            r = WHA_DUPLICATE;
        else
            r = WHA_FULL;
    } else if (err) {
        log_event(op->a->E->log, LOG_WARN, "webhooks.store_failed", "error", err->err.msg, NULL);
    }
    wha *a = op->a;
    op->cb(r, op->ud);
    free(op);
    if (r == WHA_STORED && !a->closing) {
        if (a->reading || a->inflight)
            a->again = true;
        else
            next_batch(a);
    }
    a_unref(a);
}

int wha_store(wha *a, const wh_event *ev, int queue_max, wha_store_cb cb, void *ud, gs_err *e)
{
    struct store_op *op = calloc(1, sizeof *op);
    if (!op)
        return gs_err_set(e, GS_ENOMEM, "out of memory");
    op->a = a;
    op->cb = cb;
    op->ud = ud;
    char ts[24], max[16];
    snprintf(ts, sizeof ts, "%lld", (long long)ev->ts_ms);
    snprintf(max, sizeof max, "%d", queue_max);
    const char *p[9] = {ev->webhook_id,
                        ev->location_id,
                        ev->type,
                        ev->object_key,
                        ev->record_id,
                        ev->is_delete ? "true" : "false",
                        ts,
                        ev->detail,
                        max};
    int rc = pga_query(a->store_db, sql_store, 9, p, on_stored, op, e);
    if (rc)
        free(op);
    else
        a_ref(a);
    return rc;
}

/* ---- settle ------------------------------------------------------------------------------ */

static const char sql_settle[] = "UPDATE ghlsync.webhook_hints SET state = $2, note = $3, "
                                 "settled_at = now(), attempts = attempts + 1 WHERE seq = $1";
static const char sql_defer[] =
    "UPDATE ghlsync.webhook_hints SET attempts = attempts + 1, note = $3, "
    "not_before = now() + make_interval(secs => $2::double precision) WHERE seq = $1";

static void hint_free(hint *h)
{
    if (h->model)
        ps_model_unref(h->model);
    free(h->seq);
    free(h->loc);
    free(h->type);
    free(h->key);
    free(h->id);
    free(h->cands);
    free(h->detail);
    free(h->end_id);
    cJSON_Delete(h->acc);
    free(h);
}

/* The hint is done (its settlement committed, or it will be read again). */
static void hint_end(hint *h)
{
    wha *a = h->a;
    hint_free(h);
    if (--a->inflight == 0 && !a->closing)
        next_batch(a); /* the batch may have been full: read until one comes back short */
    a_unref(a);
}

struct settle_op {
    hint *h;
    const char *state, *outcome;
};

static void on_settled(pga_conn *c, PGresult *const *res, int nres, const pga_error *err, void *ud)
{
    (void)c;
    (void)res;
    (void)nres;
    struct settle_op *op = ud;
    hint *h = op->h;
    if (err) {
        /* left queued: read again (the write is idempotent) */
        log_event(h->a->E->log, LOG_WARN, "webhooks.apply_failed", "location", h->loc, "id",
                  h->id ? h->id : "", "error", err->err.msg, NULL);
    } else if (h->a->h.settled) {
        h->a->h.settled(h->a->h.ud, op->state, op->outcome, h->event_ms);
    }
    free(op);
    hint_end(h);
}

/* Run `extra` statements (may be 0) then the settlement, in one transaction. */
static void settle_with(hint *h, const pga_stmt *extra, const char *const *names, int n,
                        const char *state, const char *outcome)
{
    pga_stmt st[PS_MAX_STMTS + 2];
    const char *nm[PS_MAX_STMTS + 2] = {0};
    for (int i = 0; i < n; i++) {
        st[i] = extra[i];
        nm[i] = names ? names[i] : NULL;
    }
    const char *p[3] = {h->seq, state, outcome};
    st[n] = (pga_stmt){.sql = sql_settle, .nparams = 3, .values = p};
    struct settle_op *op = calloc(1, sizeof *op);
    gs_err e = {0};
    int rc = op ? 0 : gs_err_set(&e, GS_ENOMEM, "out of memory");
    if (op) {
        op->h = h;
        op->state = state;
        op->outcome = outcome;
        rc = pga_tx_named(h->a->db, st, nm, n + 1, on_settled, op, &e);
    }
    if (rc) {
        free(op);
        log_event(h->a->E->log, LOG_WARN, "webhooks.apply_failed", "error", e.msg, NULL);
        hint_end(h);
    }
}

static void settle(hint *h, const char *state, const char *outcome)
{
    settle_with(h, NULL, NULL, 0, state, outcome);
}

static void on_deferred(pga_conn *c, PGresult *const *res, int nres, const pga_error *err, void *ud)
{
    (void)c;
    (void)res;
    (void)nres;
    (void)err;
    hint_end(ud);
}

/* Not now: tried again after a backoff, or given up. */
static void defer(hint *h, const char *why)
{
    if (h->attempts + 1 >= WHA_MAX_ATTEMPTS) {
        log_event(h->a->E->log, LOG_WARN, "webhooks.hint_failed", "location", h->loc, "type",
                  h->type, "id", h->id ? h->id : "", "why", why, NULL);
        settle(h, "failed", why);
        return;
    }
    char secs[16];
    snprintf(secs, sizeof secs, "%d", 2 << (h->attempts < 10 ? h->attempts : 10));
    const char *p[3] = {h->seq, secs, why};
    gs_err e = {0};
    if (pga_query(h->a->db, sql_defer, 3, p, on_deferred, h, &e) != 0)
        hint_end(h);
}

/* ---- apply ------------------------------------------------------------------------------- */

static void write_record(hint *h, const cJSON *rec)
{
    const fam_family *fam = fam_of(h->model->obj);
    cJSON *resp = cJSON_CreateObject();
    cJSON *arr = resp ? cJSON_AddArrayToObject(resp, fam->envelope) : NULL;
    if (!arr || !cJSON_AddItemReferenceToArray(arr, (cJSON *)rec)) {
        cJSON_Delete(resp);
        defer(h, "out of memory");
        return;
    }
    ps_page page;
    gs_err e = {0};
    int rc = ps_page_build(h->model, resp, h->a->E->log, NULL, &page, &e);
    cJSON_Delete(resp);
    if (rc) {
        defer(h, e.msg);
        return;
    }
    if (page.n == 0) {
        ps_page_free(&page);
        settle(h, "failed", "the record could not be read");
        return;
    }
    ps_write_opts o = {.generation = -1, .force = false, .state = PS_STATE_NONE};
    ps_stmts s;
    if ((rc = ps_page_stmts(&page, &o, &s, &e))) {
        ps_page_free(&page);
        defer(h, e.msg);
        return;
    }
    pga_stmt st[PS_MAX_STMTS];
    for (int i = 0; i < s.n; i++)
        st[i] = (pga_stmt){.sql = s.sql[i], .nparams = s.nparams[i], .values = s.params[i]};
    /* a delete hint whose record still exists: nothing is deleted, the row is refreshed */
    settle_with(h, st, s.name, s.n, "applied", h->del ? "kept" : "updated");
    ps_stmts_free(&s);
    ps_page_free(&page);
}

static void write_delete(hint *h)
{
    const bool hard = h->eo->settings && !h->eo->settings->soft_delete;
    char *sql = ps_delete_one_sql(h->model, hard);
    if (!sql) {
        defer(h, "out of memory");
        return;
    }
    const char *p[2] = {h->loc, h->id};
    pga_stmt st = {.sql = sql, .nparams = 2, .values = p};
    settle_with(h, &st, NULL, 1, "deleted", "deleted");
    free(sql);
}

static void probe_next(hint *h);

static void on_get(hl_result *r, void *ud)
{
    hint *h = ud;
    if (h->a->closing) {
        hint_end(h);
        return;
    }
    if (r->kind == HL_OK && r->json) {
        const cJSON *rec = fam_of(h->model->obj)->answer_record(r->json);
        write_record(h, rec);
        return;
    }
    if (r->status == 404) {
        if (h->cands) { /* keyless Record*: not this object, try the next */
            probe_next(h);
            return;
        }
        write_delete(h);
        return;
    }
    char why[200];
    snprintf(why, sizeof why, "GET: %s %ld %s", hl_kind_name(r->kind), r->status,
             r->message ? r->message : "");
    defer(h, why);
}

static void fetch(hint *h)
{
    const struct engine_object *eo = h->eo;
    if (!eo->model) { /* its table is not ready yet (start-up, schema change) */
        defer(h, "object not ready");
        return;
    }
    if (h->model)
        ps_model_unref(h->model);
    h->model = ps_model_ref(eo->model);
    gs_err e = {0};
    const fam_family *fam = fam_of(h->model->obj);
    if (fam->get(h->el->hl, eo->key, h->id, RL_PRIO_PUSH, on_get, h, &e) != 0)
        defer(h, e.msg);
}

/* Keyless Record*: GET the id from each custom object in turn. */
static void probe_next(hint *h)
{
    if (h->probe >= h->ncands) {
        /* no custom object has it (deleted, or never mirrored): nothing to write */
        settle(h, "applied", "absent");
        return;
    }
    h->eo = h->cands[h->probe++];
    fetch(h);
}

static void on_found_key(pga_conn *c, PGresult *const *res, int nres, const pga_error *err,
                         void *ud)
{
    (void)c;
    hint *h = ud;
    if (err || nres != 1) {
        defer(h, err ? err->err.msg : "key lookup failed");
        return;
    }
    if (PQntuples(res[0]) == 1) {
        const char *k = PQgetvalue(res[0], 0, 0);
        for (size_t i = 0; i < h->ncands; i++)
            if (strcmp(h->cands[i]->key, k) == 0)
                h->eo = h->cands[i];
        free(h->cands); /* found: a 404 now means deleted */
        h->cands = NULL;
        h->ncands = 0;
        if (h->eo) {
            fetch(h);
            return;
        }
    }
    if (h->del) { /* not held locally: nothing to delete */
        settle(h, "applied", "absent");
        return;
    }
    probe_next(h);
}

/* The custom objects (objects family) of the hint's location, with their tables. */
static void resolve_key(hint *h)
{
    const struct engine_location *el = h->el;
    h->cands = calloc(el->n_objects ? el->n_objects : 1, sizeof *h->cands);
    if (!h->cands) {
        defer(h, "out of memory");
        return;
    }
    sbuf q = SBUF_INIT;
    for (size_t i = 0; i < el->n_objects; i++) {
        const struct engine_object *eo = &el->objects[i];
        if (!eo->model || fam_of(eo->model->obj) != &fam_objects)
            continue;
        h->cands[h->ncands++] = eo;
        sbuf k = SBUF_INIT;
        ident_quote_literal(&k, eo->key);
        sbuf_printf(&q, "%sSELECT %s::text FROM %s WHERE \"location_id\" = $1 AND \"id\" = $2",
                    q.len ? " UNION ALL " : "", sbuf_str(&k), eo->model->qtable);
        sbuf_free(&k);
    }
    if (!h->ncands) {
        sbuf_free(&q);
        settle(h, "dropped", "object");
        return;
    }
    sbuf_puts(&q, " LIMIT 1");
    const char *p[2] = {h->loc, h->id};
    gs_err e = {0};
    int rc = sbuf_failed(&q) ? gs_err_set(&e, GS_ENOMEM, "out of memory")
                             : pga_query(h->a->db, sbuf_str(&q), 2, p, on_found_key, h, &e);
    sbuf_free(&q);
    if (rc)
        defer(h, e.msg);
}

/* ---- Relation* -------------------------------------------------------------------------- */

#define REL_PAGE 100 /* GET /associations/relations/{id}: limit 1..100 */

static void rel_list_page(hint *h);

/* The listing is complete: stored exactly as a relations pass stores one record's listing
 * (relations.h: upserted, the record's other pulled relations marked deleted), with the
 * settlement. A RelationCreate the listing does not show changes nothing; a RelationDelete is
 * applied only when the listing confirms the relation is gone. */
static void rel_store(hint *h)
{
    bool found = false;
    const cJSON *it;
    cJSON_ArrayForEach(it, h->acc)
    {
        const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "id"));
        found = found || (id && !strcmp(id, h->id));
    }
    if (!h->del && !found) {
        settle(h, "applied", "absent");
        return;
    }
    sbuf sql = SBUF_INIT;
    char *json = cJSON_PrintUnformatted(h->acc);
    if (rel_store_sql(h->a->E->cfg->database.schema, &sql) || !json) {
        sbuf_free(&sql);
        free(json);
        defer(h, "out of memory");
        return;
    }
    const char *p[3] = {h->loc, h->end_id, json};
    pga_stmt st = {.sql = sbuf_str(&sql), .nparams = 3, .values = p};
    if (found)
        settle_with(h, &st, NULL, 1, "applied", h->del ? "kept" : "updated");
    else
        settle_with(h, &st, NULL, 1, "deleted", "deleted");
    sbuf_free(&sql);
    free(json);
}

static void on_rel_page(hl_result *res, void *ud)
{
    hint *h = ud;
    wha *a = h->a;
    long spent = res->attempts > 0 ? res->attempts : (res->status ? 1 : 0);
    if (spent && a->h.relation_requests && !a->closing)
        a->h.relation_requests(a->h.ud, spent);
    if (a->closing) {
        hint_end(h);
        return;
    }
    if (res->kind == HL_REJECTED) {
        /* the end is not listable (gone since): the record's own hint or the poll marks it
         * deleted, and the relations pass's sweep then its relations */
        settle(h, "applied", "absent");
        return;
    }
    const cJSON *rels = res->json ? cJSON_GetObjectItemCaseSensitive(res->json, "relations") : NULL;
    if (res->kind != HL_OK || !cJSON_IsArray(rels)) {
        char why[200];
        snprintf(why, sizeof why, "GET relations: %s %ld %s", hl_kind_name(res->kind), res->status,
                 res->message ? res->message : "");
        defer(h, why);
        return;
    }
    int n = cJSON_GetArraySize(rels);
    const cJSON *it;
    cJSON_ArrayForEach(it, rels) cJSON_AddItemToArray(h->acc, cJSON_Duplicate(it, 1));
    const cJSON *total = cJSON_GetObjectItemCaseSensitive(res->json, "total");
    h->skip += n;
    bool more = cJSON_IsNumber(total) ? (n > 0 && h->skip < total->valuedouble) : n >= REL_PAGE;
    if (more && h->skip >= 1000000) { /* a server that ignores skip: never loop forever */
        settle(h, "failed", "more than 1000000 relations of one record");
        return;
    }
    if (more)
        rel_list_page(h);
    else
        rel_store(h);
}

/* At push priority: a hint is a change someone made now (not the pass's budgeted listing). */
static void rel_list_page(hint *h)
{
    sbuf path = SBUF_INIT;
    sbuf_puts(&path, "/associations/relations/");
    fam_path_segment(&path, h->end_id);
    char q[64];
    snprintf(q, sizeof q, "skip=%d&limit=%d", h->skip, REL_PAGE);
    hl_call c = {.method = "GET",
                 .endpoint = "relations",
                 .path = sbuf_str(&path),
                 .query = q,
                 .location_query = true};
    gs_err e = {0};
    int rc = sbuf_failed(&path)
                 ? gs_err_set(&e, GS_ENOMEM, "out of memory")
                 : hl_send(h->el->hl, &c, RL_PRIO_PUSH, "webhooks", on_rel_page, h, &e);
    sbuf_free(&path);
    if (rc)
        defer(h, e.msg);
}

static const char *jstr(const cJSON *o, const char *k)
{
    const char *v = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k));
    return v && *v ? v : NULL;
}

/* The association as the relations pass stored it (its ends' object keys), and how many live
 * relations each end holds here: the end with fewer is re-listed (fewer pages). */
static void on_rel_assoc(pga_conn *c, PGresult *const *res, int nres, const pga_error *err,
                         void *ud)
{
    (void)c;
    hint *h = ud;
    if (err || nres != 1) {
        defer(h, err ? err->err.msg : "association lookup failed");
        return;
    }
    const PGresult *r = res[0];
    if (PQntuples(r) != 1) { /* not listed by the relations pass: not mirrored (yet) */
        settle(h, "dropped", "association");
        return;
    }
    cJSON *d = cJSON_Parse(h->detail);
    const char *ids[2] = {jstr(d, "firstRecordId"), jstr(d, "secondRecordId")};
    const char *pk[2] = {jstr(d, "firstObjectKey"), jstr(d, "secondObjectKey")};
    const struct engine_object *eo[2];
    long long cnt[2];
    for (int i = 0; i < 2; i++) {
        const char *k = PQgetisnull(r, 0, i) ? pk[i] : PQgetvalue(r, 0, i);
        eo[i] = k && ids[i] ? wha_object(h->a, h->loc, k) : NULL;
        cnt[i] = strtoll(PQgetvalue(r, 0, 2 + i), NULL, 10);
    }
    int pick = !eo[0] ? 1 : !eo[1] ? 0 : cnt[1] < cnt[0] ? 1 : 0;
    if (!eo[pick]) {
        cJSON_Delete(d);
        settle(h, "dropped", "relation_ends");
        return;
    }
    h->end_id = strdup(ids[pick]);
    cJSON_Delete(d);
    h->acc = cJSON_CreateArray();
    h->skip = 0;
    if (!h->end_id || !h->acc) {
        defer(h, "out of memory");
        return;
    }
    rel_list_page(h);
}

static void rel_start(hint *h)
{
    wha *a = h->a;
    if (!a->E->cfg->relations.enabled) {
        settle(h, "dropped", "relations");
        return;
    }
    cJSON *d = h->detail ? cJSON_Parse(h->detail) : NULL;
    bool ok =
        h->id && jstr(d, "associationId") && jstr(d, "firstRecordId") && jstr(d, "secondRecordId");
    const char *p[4] = {h->loc, jstr(d, "associationId"), jstr(d, "firstRecordId"),
                        jstr(d, "secondRecordId")};
    if (!ok) {
        cJSON_Delete(d);
        settle(h, "dropped", "payload");
        return;
    }
    const char *schema = a->E->cfg->database.schema;
    sbuf q = SBUF_INIT, rt = SBUF_INIT;
    ident_quote(&rt, schema);
    sbuf_puts(&rt, ".relations");
    sbuf_puts(&q, "SELECT a.first_object_key, a.second_object_key");
    for (int i = 0; i < 2; i++)
        sbuf_printf(&q,
                    ", (SELECT count(*) FROM %s r WHERE r.location_id = $1 AND r._deleted_at IS "
                    "NULL AND (r.first_record_id = $%d OR r.second_record_id = $%d))",
                    sbuf_str(&rt), 3 + i, 3 + i);
    sbuf_puts(&q, " FROM ");
    ident_quote(&q, schema);
    sbuf_puts(&q, ".associations a WHERE a.location_id = $1 AND a.id = $2");
    gs_err e = {0};
    int rc = sbuf_failed(&q) || sbuf_failed(&rt)
                 ? gs_err_set(&e, GS_ENOMEM, "out of memory")
                 : pga_query(a->db, sbuf_str(&q), 4, p, on_rel_assoc, h, &e);
    sbuf_free(&q);
    sbuf_free(&rt);
    cJSON_Delete(d);
    if (rc)
        defer(h, e.msg);
}

/* ---- Association* ----------------------------------------------------------------------- */

/* GET /associations/{id} answered: 200 upserts the association (a delete hint for one that
 * still answers: "kept"); a refusal (404) confirms it is gone: its row is deleted and its
 * relations marked deleted, as HighLevel deletes them with it. */
static void on_assoc_get(hl_result *res, void *ud)
{
    hint *h = ud;
    wha *a = h->a;
    long spent = res->attempts > 0 ? res->attempts : (res->status ? 1 : 0);
    if (spent && a->h.relation_requests && !a->closing)
        a->h.relation_requests(a->h.ud, spent);
    if (a->closing) {
        hint_end(h);
        return;
    }
    const char *schema = a->E->cfg->database.schema;
    sbuf sql = SBUF_INIT;
    if (res->kind == HL_OK && cJSON_IsObject(res->json)) {
        const cJSON *in = cJSON_GetObjectItemCaseSensitive(res->json, "association");
        char *json = cJSON_PrintUnformatted(cJSON_IsObject(in) ? in : res->json);
        if (rel_assoc_upsert_sql(schema, &sql) || !json) {
            sbuf_free(&sql);
            free(json);
            defer(h, "out of memory");
            return;
        }
        const char *p[2] = {h->loc, json};
        pga_stmt st = {.sql = sbuf_str(&sql), .nparams = 2, .values = p};
        settle_with(h, &st, NULL, 1, "applied", h->del ? "kept" : "updated");
        sbuf_free(&sql);
        free(json);
        return;
    }
    if (res->kind == HL_REJECTED && (res->status == 404 || res->status == 400)) {
        if (rel_assoc_delete_sql(schema, &sql)) {
            sbuf_free(&sql);
            defer(h, "out of memory");
            return;
        }
        const char *p[2] = {h->loc, h->id};
        pga_stmt st = {.sql = sbuf_str(&sql), .nparams = 2, .values = p};
        settle_with(h, &st, NULL, 1, "deleted", "deleted");
        sbuf_free(&sql);
        return;
    }
    char why[200];
    snprintf(why, sizeof why, "GET association: %s %ld %s", hl_kind_name(res->kind), res->status,
             res->message ? res->message : "");
    defer(h, why);
}

static void assoc_start(hint *h)
{
    if (!h->a->E->cfg->relations.enabled) {
        settle(h, "dropped", "relations");
        return;
    }
    if (!h->id) {
        settle(h, "dropped", "payload");
        return;
    }
    sbuf path = SBUF_INIT;
    sbuf_puts(&path, "/associations/");
    fam_path_segment(&path, h->id);
    hl_call c = {.method = "GET", .endpoint = "associations", .path = sbuf_str(&path)};
    gs_err e = {0};
    int rc = sbuf_failed(&path)
                 ? gs_err_set(&e, GS_ENOMEM, "out of memory")
                 : hl_send(h->el->hl, &c, RL_PRIO_PUSH, "webhooks", on_assoc_get, h, &e);
    sbuf_free(&path);
    if (rc)
        defer(h, e.msg);
}

static void start(hint *h)
{
    wha *a = h->a;
    h->el = engine_location_find(a->E, h->loc);
    if (!h->el) {
        settle(h, "dropped", "location");
        return;
    }
    if (strncmp(h->type, "Relation", 8) == 0) {
        rel_start(h);
        return;
    }
    if (strncmp(h->type, "Association", 11) == 0) {
        assoc_start(h);
        return;
    }
    if (!h->id) {
        settle(h, "dropped", "event_type");
        return;
    }
    if (!h->key) {
        resolve_key(h);
        return;
    }
    h->eo = wha_object(a, h->loc, h->key);
    if (!h->eo) {
        settle(h, "dropped", "object");
        return;
    }
    fetch(h);
}

/* ---- the drain --------------------------------------------------------------------------- */

static const char sql_batch[] =
    "SELECT seq, location_id, event_type, object_key, record_id, is_delete, "
    "(extract(epoch FROM event_at) * 1000)::bigint, attempts, count(*) OVER (), detail::text "
    "FROM ghlsync.webhook_hints WHERE state = 'queued' AND location_id = ANY($2::text[]) "
    "AND (not_before IS NULL OR not_before <= now()) ORDER BY seq LIMIT $1::int";

static const char sql_depth[] = "SELECT count(*) FROM ghlsync.webhook_hints WHERE state = 'queued'";

static const char sql_retention[] =
    "DELETE FROM ghlsync.webhook_hints WHERE state <> 'queued' "
    "AND settled_at < now() - make_interval(secs => $1::double precision)";

static char *dup_or_null(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? NULL : strdup(PQgetvalue(r, row, col));
}

static void on_depth(pga_conn *c, PGresult *const *res, int nres, const pga_error *err, void *ud)
{
    (void)c;
    wha *a = ud;
    if (!err && nres == 1 && PQntuples(res[0]) == 1 && a->h.depth && !a->closing)
        a->h.depth(a->h.ud, strtol(PQgetvalue(res[0], 0, 0), NULL, 10));
    a_unref(a);
}

static void on_retention(pga_conn *c, PGresult *const *res, int nres, const pga_error *err,
                         void *ud)
{
    (void)c;
    (void)res;
    (void)nres;
    (void)err;
    a_unref(ud);
}

/* A query whose callback releases a reference on `a`. */
static void a_query(wha *a, const char *sql, int n, const char *const *p, pga_cb cb)
{
    gs_err e = {0};
    a_ref(a);
    if (pga_query(a->db, sql, n, p, cb, a, &e) != 0)
        a->refs--;
}

static void on_batch(pga_conn *c, PGresult *const *res, int nres, const pga_error *err, void *ud)
{
    (void)c;
    wha *a = ud;
    a->reading = false;
    if (a->closing || err || nres != 1) {
        if (err && !a->closing)
            log_event(a->E->log, LOG_WARN, "webhooks.read_failed", "error", err->err.msg, NULL);
        a_unref(a); /* the tick tries again */
        return;
    }
    const PGresult *r = res[0];
    int n = PQntuples(r);
    if (n == 0) {
        a_query(a, sql_depth, 0, NULL, on_depth);
        if (a->again) {
            a->again = false;
            next_batch(a);
        }
        a_unref(a);
        return;
    }
    a->again = false;
    a->inflight = n + 1; /* +1: held until every hint has started */
    for (int i = 0; i < n; i++) {
        hint *h = calloc(1, sizeof *h);
        if (!h) {
            a->inflight--;
            continue;
        }
        h->a = a;
        a_ref(a);
        h->seq = dup_or_null(r, i, 0);
        h->loc = dup_or_null(r, i, 1);
        h->type = dup_or_null(r, i, 2);
        h->key = dup_or_null(r, i, 3);
        h->id = dup_or_null(r, i, 4);
        h->del = PQgetvalue(r, i, 5)[0] == 't';
        h->event_ms = PQgetisnull(r, i, 6) ? PS_NO_TIME : strtoll(PQgetvalue(r, i, 6), NULL, 10);
        h->attempts = atoi(PQgetvalue(r, i, 7));
        h->detail = dup_or_null(r, i, 9);
        if (!h->seq || !h->loc || !h->type) {
            hint_free(h);
            a->inflight--;
            a->refs--;
            continue;
        }
        start(h);
    }
    if (a->h.depth)
        a->h.depth(a->h.ud, strtol(PQgetvalue(r, 0, 8), NULL, 10));
    if (--a->inflight == 0)
        next_batch(a);
    a_unref(a);
}

static void next_batch(wha *a)
{
    if (a->reading || a->inflight || a->closing)
        return;
    /* only the hints of the locations this process serves (lease.h): another process applies
     * the others, and the queue is shared */
    const struct engine *E = a->E;
    const char **ids = calloc(E->nlocs + 1, sizeof *ids);
    size_t n = 0;
    for (size_t i = 0; ids && i < E->nlocs; i++)
        if (E->locs[i]->held)
            ids[n++] = E->locs[i]->cfg->id;
    sbuf served = SBUF_INIT;
    if (ids)
        map_array_encode(&served, ids, n);
    free(ids);
    if (n == 0 || sbuf_failed(&served)) {
        sbuf_free(&served);
        return; /* the tick looks again */
    }
    a->reading = true;
    char lim[16];
    snprintf(lim, sizeof lim, "%d", WHA_BATCH);
    const char *p[2] = {lim, sbuf_str(&served)};
    a_ref(a);
    gs_err e = {0};
    if (pga_query(a->db, sql_batch, 2, p, on_batch, a, &e) != 0) {
        a->reading = false;
        a->refs--;
    }
    sbuf_free(&served);
}

static void on_tick(uv_timer_t *t)
{
    wha *a = t->data;
    int64_t now = (int64_t)gs_loop_now_ms(&a->E->loop);
    if (now - a->last_retention_ms >= 60000) {
        a->last_retention_ms = now;
        char secs[24];
        snprintf(secs, sizeof secs, "%lld", (long long)(a->retention_ms / 1000));
        const char *p[1] = {secs};
        a_query(a, sql_retention, 1, p, on_retention);
    }
    if (a->reading || a->inflight)
        a->again = true;
    else
        next_batch(a);
}

int wha_new(struct engine *E, pga_conn *db, pga_conn *store_db, int64_t retention_ms,
            const wha_hooks *h, wha **out, gs_err *e)
{
    *out = NULL;
    wha *a = calloc(1, sizeof *a);
    if (!a)
        return gs_err_set(e, GS_ENOMEM, "out of memory");
    a->E = E;
    a->db = db;
    a->store_db = store_db;
    a->retention_ms = retention_ms;
    if (h)
        a->h = *h;
    size_t n = 0;
    for (size_t i = 0; i < E->nlocs; i++)
        n += E->locs[i]->n_objects;
    a->objs = calloc(n ? n : 1, sizeof *a->objs);
    a->tick = malloc(sizeof *a->tick);
    if (!a->objs || !a->tick) {
        free(a->tick);
        a->tick = NULL;
        wha_free(a);
        return gs_err_set(e, GS_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < E->nlocs; i++) {
        const struct engine_location *el = E->locs[i];
        for (size_t k = 0; k < el->n_objects; k++)
            a->objs[a->nobjs++] = (struct objref){
                .loc = el->cfg->id, .key = el->objects[k].key, .eo = &el->objects[k]};
    }
    qsort(a->objs, a->nobjs, sizeof *a->objs, cmp_obj);
    uv_timer_init(&E->loop.uv, a->tick);
    a->tick->data = a;
    uv_timer_start(a->tick, on_tick, WHA_TICK_MS, WHA_TICK_MS);
    a->last_retention_ms = (int64_t)gs_loop_now_ms(&E->loop) - 60000;
    next_batch(a);
    *out = a;
    return 0;
}

int wha_location_added(wha *a, const struct engine_location *L)
{
    struct objref *no = realloc(a->objs, (a->nobjs + L->n_objects + 1) * sizeof *no);
    if (!no)
        return GS_ENOMEM;
    a->objs = no;
    /* it stays sorted for the lookups: one insertion (a rare event) */
    for (size_t k = 0; k < L->n_objects; k++) {
        struct objref r = {.loc = L->cfg->id, .key = L->objects[k].key, .eo = &L->objects[k]};
        size_t j = 0;
        while (j < a->nobjs && cmp_obj(&a->objs[j], &r) < 0)
            j++;
        memmove(a->objs + j + 1, a->objs + j, (a->nobjs - j) * sizeof *a->objs);
        a->objs[j] = r;
        a->nobjs++;
    }
    return 0;
}

void wha_free(wha *a)
{
    if (!a)
        return;
    a->closing = true;
    if (a->tick) {
        uv_timer_stop(a->tick);
        gs_uv_close_free((uv_handle_t *)a->tick);
    }
    /* Callbacks still to come (the connection closes after this and fails what is queued;
     * HTTP calls end "shutting down") hold references: the last one frees `a`. */
    a->refs++;
    a_unref(a);
}
