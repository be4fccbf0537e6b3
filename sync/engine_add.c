/* engine_add.c - locations that join while running (engine.h engine_location_add) and the
 * index of the engine's locations by id. */
#include "engine.h"
#include "engine_int.h"

#include "family.h"
#include "lease.h"
#include "ops_service.h"
#include "push_service.h"
#include "relations.h"
#include "webhooks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- sorted arrays of locations by id ---- */

static int cmp_key(const void *k, const void *x)
{
    return strcmp(k, (*(struct engine_location *const *)x)->cfg->id);
}

static int cmp_loc(const void *a, const void *b)
{
    return strcmp((*(struct engine_location *const *)a)->cfg->id,
                  (*(struct engine_location *const *)b)->cfg->id);
}

static struct engine_location *sorted_find(struct engine_location *const *v, size_t n,
                                           const char *id)
{
    struct engine_location *const *p = n ? bsearch(id, v, n, sizeof *v, cmp_key) : NULL;
    return p ? *p : NULL;
}

/* Where id goes in v (the first entry not below it). */
static size_t sorted_pos(struct engine_location *const *v, size_t n, const char *id)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(v[mid]->cfg->id, id) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Insert L into *v (n entries, room for one more). */
static void sorted_insert(struct engine_location **v, size_t n, struct engine_location *L)
{
    size_t at = sorted_pos(v, n, L->cfg->id);
    memmove(v + at + 1, v + at, (n - at) * sizeof *v);
    v[at] = L;
}

static void sorted_remove(struct engine_location **v, size_t n, const struct engine_location *L)
{
    size_t at = sorted_pos(v, n, L->cfg->id);
    if (at < n && v[at] == L)
        memmove(v + at, v + at + 1, (n - at - 1) * sizeof *v);
}

int engine_index_build(struct engine *E, gs_err *e)
{
    free(E->by_id);
    E->by_id = calloc(E->nlocs ? E->nlocs : 1, sizeof *E->by_id);
    if (!E->by_id)
        return gs_err_set(e, GS_ENOMEM, "out of memory");
    memcpy(E->by_id, E->locs, E->nlocs * sizeof *E->locs);
    qsort(E->by_id, E->nlocs, sizeof *E->by_id, cmp_loc);
    return 0;
}

struct engine_location *engine_location_find(const struct engine *E, const char *id)
{
    return sorted_find(E->by_id, E->nlocs, id);
}

/* ---- adding one location ---- */

struct engine_adding {
    struct engine *E;
    struct engine_location *L;
    engine_added_cb done;
    void *ud;
    bool busy;      /* an attempt is in progress */
    int pending;    /* its calls, statements and schema jobs not answered yet */
    int rc;         /* its first failure */
    char msg[2400]; /* two gs_err messages fit */
    struct add_fetch {
        struct engine_adding *a;
        char *key;
        const fam_family *fam;
    } * fs;
    size_t nf;
};

static bool gone(const struct engine *E)
{
    return E->stopping || E->loop_done;
}

static void fail(struct engine_adding *a, int rc, const char *fmt, const char *what,
                 const char *why)
{
    if (a->rc)
        return; /* the first failure is the one reported */
    a->rc = rc ? rc : GS_EIO;
    snprintf(a->msg, sizeof a->msg, fmt, what ? what : "", why ? why : "");
}

static void clear_attempt(struct engine_adding *a)
{
    struct engine_location *L = a->L;
    for (size_t i = 0; i < a->nf; i++)
        free(a->fs[i].key);
    free(a->fs);
    a->fs = NULL;
    a->nf = 0;
    for (size_t j = 0; j < L->n_objects; j++)
        engine_object_free(&L->objects[j]);
    free(L->objects);
    L->objects = NULL;
    L->n_objects = 0;
    for (size_t j = 0; j < L->n_skipped; j++)
        free(L->skipped[j]);
    free(L->skipped);
    L->skipped = NULL;
    L->n_skipped = 0;
}

/* Every object ready: the location joins E->locs and the services. */
static int join(struct engine_adding *a, gs_err *e)
{
    struct engine *E = a->E;
    struct engine_location *L = a->L;
    struct engine_location **nl = realloc(E->locs, (E->nlocs + 1) * sizeof *nl);
    if (!nl)
        return gs_err_set(e, GS_ENOMEM, "out of memory");
    E->locs = nl;
    struct engine_location **ni = realloc(E->by_id, (E->nlocs + 1) * sizeof *ni);
    if (!ni)
        return gs_err_set(e, GS_ENOMEM, "out of memory");
    E->by_id = ni;
    sorted_remove(E->adding, E->nadding, L);
    E->nadding--;
    sorted_insert(E->by_id, E->nlocs, L);
    E->locs[E->nlocs++] = L;
    L->adding = NULL;
    L->held = false;
    /* pull first (its workers exist, parked), the lease last: nothing is served before every
     * service knows the location */
    if (E->on_location_added)
        E->on_location_added(E, L, E->on_location_added_ud);
    ops_service_location_added(engine_service_state(E, "ops"), L);
    push_service_location_added(engine_service_state(E, "push"), L);
    webhooks_location_added(engine_service_state(E, "webhooks"), L);
    relations_location_added(engine_service_state(E, "relations"), L);
    void *ls = engine_service_state(E, "lease");
    if (ls) {
        lease_location_added(ls, L);
    } else {
        L->held = true;
        if (E->on_hold)
            E->on_hold(E, L, E->on_hold_ud);
    }
    return 0;
}

static void step(struct engine_adding *a)
{
    if (--a->pending > 0)
        return;
    struct engine *E = a->E;
    a->busy = false;
    engine_added_cb done = a->done;
    void *ud = a->ud;
    if (gone(E)) /* stopping: it stays in E->adding, freed by engine_close */
        return;
    char id[200];
    snprintf(id, sizeof id, "%s", a->L->cfg->id);
    if (a->rc) {
        clear_attempt(a);
        if (done)
            done(E, id, a->rc, a->msg, ud);
        return;
    }
    gs_err e = {0};
    if (join(a, &e)) {
        clear_attempt(a);
        if (done)
            done(E, id, e.code, e.msg, ud);
        return;
    }
    for (size_t i = 0; i < a->nf; i++)
        free(a->fs[i].key);
    free(a->fs);
    free(a);
    if (done)
        done(E, id, 0, NULL, ud);
}

static void on_applied(struct engine_object *eo, int rc, bool changed, const char *msg, void *ud)
{
    (void)changed;
    struct engine_adding *a = ud;
    if (rc)
        fail(a, rc, "object %s: applying its schema failed: %s", eo->key, msg);
    step(a);
}

static void on_schema(hl_result *r, void *ud)
{
    struct add_fetch *f = ud;
    struct engine_adding *a = f->a;
    struct engine *E = a->E;
    struct engine_location *L = a->L;
    if (gone(E) || a->rc) {
        fail(a, GS_ESTATE, "%s%s", "stopping", NULL);
    } else if (r->kind != HL_OK) {
        char why[600];
        snprintf(why, sizeof why, "HTTP %ld: %.500s", r->status, r->message ? r->message : "");
        fail(a, GS_EHTTP, "fetching the schema of %s failed: %s", f->key, why);
    } else {
        schema_object *obj = NULL;
        gs_err e = {0};
        if (f->fam->parse_schema(r->json, f->key, &obj, &e)) {
            fail(a, e.code, "the schema of %s cannot be read: %s", f->key, e.msg);
        } else {
            struct engine_object *eo = &L->objects[L->n_objects];
            eo->loc = L;
            eo->key = strdup(f->key);
            eo->settings = cfg_object_get(E->cfg, f->key);
            eo->pool_index = (int)(E->nlocs * 7 + L->n_objects);
            if (!eo->key) {
                schema_object_free(obj);
                fail(a, GS_ENOMEM, "%s%s", "out of memory", NULL);
            } else {
                L->n_objects++;
                /* the DDL (a field new to this location alters the shared table), the write
                 * plan and the triggers, on the schema thread */
                a->pending++;
                if (engine_apply_schema_async(E, eo, obj, on_applied, a, &e)) {
                    a->pending--;
                    fail(a, e.code, "object %s: %s", f->key, e.msg);
                }
            }
        }
    }
    step(a);
}

static void choose(struct engine_adding *a, const cJSON *list)
{
    struct engine *E = a->E;
    struct engine_location *L = a->L;
    char **keys = NULL;
    size_t nk = 0;
    gs_err e = {0};
    if (engine_choose_objects(E, L, list, &keys, &nk, &e)) {
        fail(a, e.code, "choosing its objects: %s%s", e.msg, NULL);
        return;
    }
    L->objects = calloc(nk ? nk : 1, sizeof *L->objects);
    a->fs = calloc(nk ? nk : 1, sizeof *a->fs);
    if (!L->objects || !a->fs) {
        for (size_t k = 0; k < nk; k++)
            free(keys[k]);
        free(keys);
        fail(a, GS_ENOMEM, "%s%s", "out of memory", NULL);
        return;
    }
    for (size_t k = 0; k < nk; k++)
        a->fs[a->nf++] = (struct add_fetch){.a = a, .key = keys[k], .fam = fam_for_key(keys[k])};
    free(keys);
    for (size_t k = 0; k < a->nf && !a->rc; k++) {
        struct add_fetch *f = &a->fs[k];
        a->pending++;
        if (f->fam->fetch_schema(L->hl, f->key, RL_PRIO_SCHEMA, on_schema, f, &e)) {
            a->pending--;
            fail(a, e.code, "fetching the schema of %s: %s", f->key, e.msg);
        }
    }
}

static void on_list(hl_result *r, void *ud)
{
    struct engine_adding *a = ud;
    if (gone(a->E)) {
        fail(a, GS_ESTATE, "%s%s", "stopping", NULL);
    } else if (r->kind != HL_OK) {
        /* a token that cannot be minted ends here too (the listing is its first call) */
        char why[600];
        snprintf(why, sizeof why, "HTTP %ld: %.500s", r->status, r->message ? r->message : "");
        fail(a, GS_EHTTP, "listing its objects failed: %s%s", why, NULL);
    } else {
        choose(a, r->json);
    }
    step(a);
}

static void list_objects(struct engine_adding *a)
{
    gs_err e = {0};
    if (!a->L->cfg->all_objects) {
        choose(a, NULL);
        return;
    }
    a->pending++;
    if (hl_list_objects(a->L->hl, RL_PRIO_SCHEMA, on_list, a, &e)) {
        a->pending--;
        fail(a, e.code, "listing its objects: %s%s", e.msg, NULL);
    }
}

/* The pair stored for it (a location installed, uninstalled and installed again, or served
 * before by another process), read on the loop's connection. */
static void on_token(pga_conn *c, PGresult *const *res, int nres, const pga_error *err, void *ud)
{
    (void)c;
    struct engine_adding *a = ud;
    struct engine *E = a->E;
    if (gone(E)) {
        fail(a, GS_ESTATE, "%s%s", "stopping", NULL);
    } else if (err || nres < 1) {
        fail(a, GS_EDB, "reading its stored token: %s%s", err ? err->err.msg : "no result", NULL);
    } else {
        const PGresult *r = res[nres - 1];
        const char *acc = NULL, *ref = NULL;
        int64_t exp = 0;
        if (PQntuples(r) == 1) {
            acc = PQgetisnull(r, 0, 0) ? NULL : PQgetvalue(r, 0, 0);
            /* NULL: minted without a refresh token; a new one is minted when it expires */
            ref = PQgetisnull(r, 0, 1) ? NULL : PQgetvalue(r, 0, 1);
            /* its remaining lifetime by the database's clock, as at start-up (engine.c) */
            exp = PQgetisnull(r, 0, 2)
                      ? 0
                      : (int64_t)gs_wall_ms() + strtoll(PQgetvalue(r, 0, 2), NULL, 10);
            log_add_secret(E->log, acc);
            log_add_secret(E->log, ref);
        }
        gs_err e = {0};
        if (engine_agency_hl(E, a->L, acc, ref, exp, &e))
            fail(a, e.code, "%s%s", e.msg, NULL);
        else
            list_objects(a);
    }
    step(a);
}

static void attempt(struct engine_adding *a)
{
    a->busy = true;
    a->rc = 0;
    a->msg[0] = 0;
    a->pending = 1; /* held until everything of this step is sent */
    if (a->L->hl) {
        list_objects(a);
    } else {
        const char *p[1] = {a->L->cfg->id};
        gs_err e = {0};
        a->pending++;
        if (pga_query(a->E->meta,
                      "SELECT access_token, refresh_token, "
                      "(extract(epoch FROM expires_at - now()) * 1000)::bigint "
                      "FROM ghlsync.oauth_tokens WHERE location_id = $1",
                      1, p, on_token, a, &e)) {
            a->pending--;
            fail(a, e.code, "reading its stored token: %s%s", e.msg, NULL);
        }
    }
    step(a);
}

int engine_location_add(struct engine *E, const char *id, engine_added_cb done, void *ud, gs_err *e)
{
    if (gone(E))
        return gs_err_set(e, GS_ESTATE, "stopping");
    if (!E->agency)
        return gs_err_set(e, GS_ESTATE, "no [agency] to add location %s with", id);
    if (engine_location_find(E, id))
        return gs_err_set(e, GS_ESTATE, "location %s is already synced", id);
    struct engine_location *L = sorted_find(E->adding, E->nadding, id);
    if (L && L->adding->busy)
        return gs_err_set(e, GS_ESTATE, "location %s is being added", id);
    if (!L) {
        struct engine_location **na = realloc(E->adding, (E->nadding + 1) * sizeof *na);
        if (!na)
            return gs_err_set(e, GS_ENOMEM, "out of memory");
        E->adding = na;
        struct cfg_location *cl;
        int rc = cfg_agency_location_new(E->cfg, id, &cl, e);
        if (rc)
            return rc;
        L = calloc(1, sizeof *L);
        struct engine_adding *a = calloc(1, sizeof *a);
        if (!L || !a) {
            free(L);
            free(a);
            cfg_location_delete(cl);
            return gs_err_set(e, GS_ENOMEM, "out of memory");
        }
        L->E = E;
        L->cfg = L->own_cfg = cl;
        L->adding = a;
        a->E = E;
        a->L = L;
        sorted_insert(E->adding, E->nadding++, L);
    }
    L->adding->done = done;
    L->adding->ud = ud;
    attempt(L->adding);
    return 0;
}

void engine_location_add_forget(struct engine *E, void *ud)
{
    for (size_t i = 0; i < E->nadding; i++)
        if (E->adding[i]->adding->ud == ud)
            E->adding[i]->adding->done = NULL;
}

/* engine_close, after the loop closed: nothing of theirs is in flight any more. */
void engine_adding_free(struct engine *E)
{
    for (size_t i = 0; i < E->nadding; i++) {
        struct engine_location *L = E->adding[i];
        clear_attempt(L->adding);
        free(L->adding);
        cfg_location_delete(L->own_cfg);
        free(L);
    }
    free(E->adding);
    E->adding = NULL;
    E->nadding = 0;
}
