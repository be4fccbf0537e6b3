/* push_service.c - see push_service.h. */
#include "push_service.h"

#include "triggers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct push_svc {
    struct engine *E;
    push_service *P;
    struct ref {
        const struct engine_object *eo;
        ps_model *m;
    } * cur; /* the model of each target */
    size_t ncur;
    ps_model **old; /* replaced models that jobs in flight may still use */
    size_t nold;
} push_svc;

bool push_service_pushes(const struct engine_object *eo)
{
    return eo->settings && eo->settings->direction != CFG_DIR_PULL;
}

static int keep_ref(push_svc *s, const struct engine_object *eo, gs_err *e)
{
    struct ref *n = realloc(s->cur, (s->ncur + 1) * sizeof *n);
    if (!n)
        return gs_err_set(e, GS_ENOMEM, "out of memory");
    s->cur = n;
    s->cur[s->ncur++] = (struct ref){eo, ps_model_ref(eo->model)};
    return 0;
}

static void drop_old(push_svc *s)
{
    for (size_t i = 0; i < s->nold; i++)
        ps_model_unref(s->old[i]);
    s->nold = 0;
}

void push_service_stop(void *state)
{
    push_svc *s = state;
    if (!s)
        return;
    /* Jobs still in flight end on their callbacks without touching the models (push.h). */
    push_free(s->P);
    drop_old(s);
    free(s->old);
    for (size_t i = 0; i < s->ncur; i++)
        ps_model_unref(s->cur[i].m);
    free(s->cur);
    free(s);
}

int push_service_open(struct engine *E, bool listen, bool once, void (*on_idle)(void *ud), void *ud,
                      void **state, gs_err *e)
{
    *state = NULL;
    const struct cfg *c = E->cfg;
    if (!c->push.enabled) {
        log_event(E->log, LOG_INFO, "push.disabled", "msg",
                  "[push] enabled = false: local changes stay in ghlsync.changes", NULL);
        return 0;
    }
    push_svc *s = calloc(1, sizeof *s);
    if (!s)
        return gs_err_set(e, GS_ENOMEM, "out of memory");
    s->E = E;
    /* claims live as long as the session that took them, and LISTEN needs one: both on the
     * session conninfo ([database] session_url) */
    push_opts o = {.conninfo = c->database.session_url ? c->database.session_url : E->conninfo,
                   .batch_size = c->push.batch_size,
                   .max_attempts = c->push.max_attempts,
                   .backoff_base_ms = c->push.backoff_base_ms,
                   .backoff_max_ms = c->push.backoff_max_ms,
                   .listen = listen,
                   .once = once,
                   .on_idle = on_idle,
                   .ud = ud};
    /* Test hook and tuning knob: the safety-net sweep period (milliseconds). */
    const char *sw = getenv("GHLSYNC_PUSH_SWEEP_MS");
    if (sw && *sw)
        o.sweep_ms = strtoll(sw, NULL, 10);
    int rc = push_new(&E->loop, &o, &s->P, e);
    if (rc) {
        free(s);
        return rc;
    }
    size_t n = 0;
    for (size_t i = 0; !rc && i < E->nlocs; i++) {
        struct engine_location *L = &E->locs[i];
        for (size_t j = 0; !rc && j < L->n_objects; j++) {
            struct engine_object *eo = &L->objects[j];
            if (!push_service_pushes(eo) || !eo->model)
                continue;
            push_target t = {.location_id = L->cfg->id,
                             .object_key = eo->key,
                             .hl = L->hl,
                             .model = eo->model->obj,
                             .conflict = eo->settings->conflict,
                             .external_id_field = eo->settings->external_id_field,
                             .hard_delete = !eo->settings->soft_delete};
            rc = push_add_target(s->P, &t, e);
            if (!rc)
                rc = keep_ref(s, eo, e);
            /* pushes share this location with backfill: pace the rest evenly (ratelimit.h) */
            if (!rc && L->hl)
                rl_loc_set_smooth(hl_location_budget(L->hl), true);
            n++;
        }
    }
    if (!rc)
        rc = push_start(s->P, e);
    if (rc) {
        push_service_stop(s);
        return rc;
    }
    char nt[24];
    snprintf(nt, sizeof nt, "%zu", n);
    log_event(E->log, LOG_INFO, "push.started", "objects", nt, NULL);
    *state = s;
    return 0;
}

int push_service_start(struct engine *E, void **state, gs_err *e)
{
    return push_service_open(E, true, false, NULL, NULL, state, e);
}

push_service *push_service_of(void *state)
{
    return state ? ((push_svc *)state)->P : NULL;
}

void push_service_model_changed(void *state, struct engine_object *eo)
{
    push_svc *s = state;
    if (!s || !eo->model || !push_service_pushes(eo))
        return;
    struct ref *r = NULL;
    for (size_t i = 0; i < s->ncur && !r; i++)
        if (s->cur[i].eo == eo)
            r = &s->cur[i];
    if (!r)
        return;
    /* Schemas are re-fetched every few minutes: release what no job can use any more. */
    if (push_inflight(s->P) == 0)
        drop_old(s);
    ps_model **n = realloc(s->old, (s->nold + 1) * sizeof *n);
    gs_err e = {0};
    if (!n || push_set_model(s->P, eo->loc->cfg->id, eo->key, eo->model->obj, &e)) {
        /* keep the old target and its model: stale columns beat a dangling model */
        log_event(s->E->log, LOG_ERROR, "push.model_failed", "object", eo->key, "error",
                  n ? e.msg : "out of memory", NULL);
        if (n)
            s->old = n;
        return;
    }
    s->old = n;
    s->old[s->nold++] = r->m;
    r->m = ps_model_ref(eo->model);
}

/* The location an INSERT without location_id belongs to: the only one syncing the object. */
static const char *default_location(const struct engine *E, const char *key)
{
    const char *only = NULL;
    int n = 0;
    for (size_t i = 0; i < E->cfg->n_locations; i++) {
        const struct cfg_location *cl = &E->cfg->locations[i];
        bool has = cl->all_objects;
        for (size_t k = 0; !has && k < cl->n_objects; k++)
            has = strcmp(cl->objects[k], key) == 0;
        if (has) {
            only = cl->id;
            n++;
        }
    }
    return n == 1 ? only : NULL;
}

int push_service_triggers(struct engine *E, const struct engine_object *eo, gs_err *e)
{
    if (!eo->model || !eo->settings)
        return 0;
    trig_settings ts = {.direction = eo->settings->direction,
                        .default_location_id = default_location(E, eo->key)};
    return triggers_apply(E->db, eo->model->obj, &ts, e);
}
