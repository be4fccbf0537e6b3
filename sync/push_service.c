/* push_service.c - see push_service.h. */
#include "push_service.h"

#include "triggers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct push_svc {
    struct engine *E;
    push_service *P;
    const struct engine_object **cur; /* the objects with a push target */
    size_t ncur;
} push_svc;

bool push_service_pushes(const struct engine_object *eo)
{
    return eo->settings && eo->settings->direction != CFG_DIR_PULL;
}

static int keep_obj(push_svc *s, const struct engine_object *eo, gs_err *e)
{
    const struct engine_object **n = realloc(s->cur, (s->ncur + 1) * sizeof *n);
    if (!n)
        return gs_err_set(e, GS_ENOMEM, "out of memory");
    s->cur = n;
    s->cur[s->ncur++] = eo;
    return 0;
}

/* push_target.release: each target holds a reference on its model, dropped by push.c when the
 * target is freed (replaced and its last job ended, or the service released). */
static void unref_model(void *m)
{
    ps_model_unref(m);
}

/* The push targets of one location's objects; *n counts them. */
static int add_targets(push_svc *s, struct engine_location *L, size_t *n, gs_err *e)
{
    int rc = 0;
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
                         .hard_delete = !eo->settings->soft_delete,
                         .served = &L->held,
                         .release = unref_model,
                         .release_ud = ps_model_ref(eo->model)};
        rc = push_add_target(s->P, &t, e);
        if (rc)
            ps_model_unref(t.release_ud);
        if (!rc)
            rc = keep_obj(s, eo, e);
        /* pushes share this location with backfill: pace the rest evenly (ratelimit.h) */
        if (!rc && L->hl)
            rl_loc_set_smooth(hl_location_budget(L->hl), true);
        (*n)++;
    }
    return rc;
}

void push_service_location_added(void *state, struct engine_location *L)
{
    push_svc *s = state;
    if (!s)
        return;
    size_t n = 0;
    gs_err e = {0};
    if (add_targets(s, L, &n, &e))
        log_event(s->E->log, LOG_ERROR, "push.location_failed", "location", L->cfg->id, "error",
                  e.msg, NULL);
    else if (n) /* changes made before it joined wait in ghlsync.changes */
        push_wake(s->P, L->cfg->id);
}

void push_service_stop(void *state)
{
    push_svc *s = state;
    if (!s)
        return;
    /* The targets' model references go with the targets (after the last job in flight). */
    push_free(s->P);
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
    for (size_t i = 0; !rc && i < E->nlocs; i++)
        rc = add_targets(s, E->locs[i], &n, e);
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
    bool known = false;
    for (size_t i = 0; i < s->ncur && !known; i++)
        known = s->cur[i] == eo;
    if (!known)
        return;
    ps_model *ref = ps_model_ref(eo->model);
    gs_err e = {0};
    if (push_set_model(s->P, eo->loc->cfg->id, eo->key, eo->model->obj, unref_model, ref, &e)) {
        /* keep the old target and its model: stale columns beat a dangling model */
        ps_model_unref(ref);
        log_event(s->E->log, LOG_ERROR, "push.model_failed", "object", eo->key, "error", e.msg,
                  NULL);
    }
}

/* The location an INSERT without location_id belongs to: the only one syncing the object. */
const char *push_service_default_location(const struct engine *E, const char *key)
{
    /* the installed locations come and go while running: none is the only one for sure */
    if (E->cfg->agency.enabled && E->cfg->agency.installed)
        return NULL;
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
                        .default_location_id = push_service_default_location(E, eo->key)};
    return triggers_apply(E->db, eo->model->obj, &ts, e);
}
