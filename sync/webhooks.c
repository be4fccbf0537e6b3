/* webhooks.c - see webhooks.h. */
#include "webhooks.h"

#include "metrics.h"
#include "ops_service.h"
#include "whapply.h"
#include "whevent.h"
#include "whlisten.h"
#include "whverify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct wh_svc {
    struct engine *E;
    gs_metrics *m; /* the ops service's registry; NULL = none */
    wh_keys *keys;
    pga_conn *db;       /* the drain */
    pga_conn *store_db; /* the listener's inserts */
    wha *apply;
    whl_server *srv;
    long depth;
    double lag[WH_LAG_SAMPLES]; /* seconds, a ring */
    size_t nlag, lag_at;
} wh_svc;

static void count(wh_svc *s, enum metrics_family f, const char *label)
{
    if (!s->m)
        return;
    const char *l[1] = {label};
    metrics_add(s->m, f, label ? l : NULL, 1);
}

static void on_refused(void *ud, const char *reason)
{
    wh_svc *s = ud;
    count(s, GSM_WH_RECEIVED, NULL);
    if (strcmp(reason, "path") != 0 && strcmp(reason, "method") != 0)
        count(s, GSM_WH_REJECTED, reason);
}

struct pending {
    wh_svc *s;
    whl_req *r;
};

static void on_stored(enum wha_stored st, void *ud)
{
    struct pending *p = ud;
    switch (st) {
    case WHA_STORED:
        whl_answer(p->r, 200, "queued\n");
        break;
    case WHA_DUPLICATE:
        count(p->s, GSM_WH_REJECTED, "replayed");
        whl_answer(p->r, 409, "webhookId seen before\n");
        break;
    case WHA_FULL:
        count(p->s, GSM_WH_REJECTED, "queue_full");
        whl_answer(p->r, 429, "queue full, retry later\n");
        break;
    default:
        count(p->s, GSM_WH_REJECTED, "database");
        whl_answer(p->r, 429, "cannot store now, retry later\n");
        break;
    }
    free(p);
}

static void on_body(void *ud, whl_req *r, const char *ghl_sig, const char *wh_sig, const char *body,
                    size_t len)
{
    wh_svc *s = ud;
    const struct cfg_webhooks *c = &s->E->cfg->webhooks;
    count(s, GSM_WH_RECEIVED, NULL);
    if (wh_verify(s->keys, ghl_sig, wh_sig, body, len) != WH_SIG_OK) {
        count(s, GSM_WH_REJECTED, "signature");
        whl_answer(r, 401, "bad signature\n");
        return;
    }
    wh_event ev;
    const char *why = NULL;
    if (wh_event_parse(body, len, &ev, &why) != 0) {
        count(s, GSM_WH_REJECTED, "payload");
        char t[100];
        snprintf(t, sizeof t, "unreadable payload: %s\n", why);
        whl_answer(r, 400, t);
        return;
    }
    int64_t now = (int64_t)gs_wall_ms();
    if (ev.ts_ms < now - c->max_age_ms || ev.ts_ms > now + c->max_age_ms) {
        count(s, GSM_WH_REJECTED, "stale");
        whl_answer(r, 400, "stale timestamp\n");
        wh_event_free(&ev);
        return;
    }
    /* valid, not for this mirror: 200 (final) and counted; nothing stored */
    const char *drop = NULL;
    if (ev.kind == WH_K_OTHER)
        drop = "event_type";
    else if (!wha_has_location(s->apply, ev.location_id))
        drop = "location";
    else if (ev.object_key && ev.kind != WH_K_RELATION &&
             !wha_object(s->apply, ev.location_id, ev.object_key))
        drop = "object";
    if (drop) {
        count(s, GSM_WH_DROPPED, drop);
        whl_answer(r, 200, "not mirrored\n");
        wh_event_free(&ev);
        return;
    }
    struct pending *p = calloc(1, sizeof *p);
    gs_err e = {0};
    int rc = p ? 0 : GS_ENOMEM;
    if (p) {
        p->s = s;
        p->r = r;
        rc = wha_store(s->apply, &ev, c->queue_max, on_stored, p, &e);
    }
    wh_event_free(&ev);
    if (rc) {
        free(p);
        count(s, GSM_WH_REJECTED, "database");
        whl_answer(r, 429, "cannot store now, retry later\n");
    }
}

static void on_settled(void *ud, const char *state, const char *outcome, int64_t event_ms)
{
    wh_svc *s = ud;
    if (!strcmp(state, "dropped")) {
        count(s, GSM_WH_DROPPED, outcome);
        return;
    }
    if (!strcmp(state, "failed")) {
        count(s, GSM_WH_FAILED, NULL);
        return;
    }
    count(s, GSM_WH_APPLIED, outcome);
    if (event_ms != INT64_MIN) {
        double lag = (double)((int64_t)gs_wall_ms() - event_ms) / 1000.0;
        s->lag[s->lag_at] = lag < 0 ? 0 : lag;
        s->lag_at = (s->lag_at + 1) % WH_LAG_SAMPLES;
        if (s->nlag < WH_LAG_SAMPLES)
            s->nlag++;
    }
}

static void on_rel_requests(void *ud, long n)
{
    wh_svc *s = ud;
    if (s->m)
        metrics_add(s->m, GSM_WH_REL_REQUESTS, NULL, (double)n);
}

static void on_depth(void *ud, long queued)
{
    ((wh_svc *)ud)->depth = queued;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Quantiles are computed on scrape from a copy of the ring (1024 doubles: cheap). */
static void collect(gs_metrics *m, void *ud)
{
    wh_svc *s = ud;
    metrics_set(m, GSM_WH_QUEUE, NULL, (double)s->depth);
    if (!s->nlag)
        return;
    double v[WH_LAG_SAMPLES];
    memcpy(v, s->lag, s->nlag * sizeof *v);
    qsort(v, s->nlag, sizeof *v, cmp_double);
    static const struct {
        const char *name;
        double q;
    } qs[] = {{"0.5", 0.5}, {"0.9", 0.9}, {"0.99", 0.99}, {"1", 1.0}};
    for (size_t i = 0; i < sizeof qs / sizeof *qs; i++) {
        size_t k = (size_t)(qs[i].q * (double)(s->nlag - 1) + 0.5);
        const char *l[1] = {qs[i].name};
        metrics_set(m, GSM_WH_LAG, l, v[k]);
    }
}

void webhooks_service_stop(void *state)
{
    wh_svc *s = state;
    if (!s)
        return;
    if (s->m)
        metrics_off_scrape(s->m, collect, s);
    whl_close(s->srv);
    wha_free(s->apply);
    if (s->db)
        pga_close(s->db);
    if (s->store_db)
        pga_close(s->store_db);
    wh_keys_free(s->keys);
    free(s);
}

static gs_metrics *ops_registry(struct engine *E)
{
    for (size_t i = 0; E->service_state && i < engine_n_services; i++)
        if (!strcmp(engine_services[i].name, "ops") && E->service_state[i])
            return ops_service_metrics(E->service_state[i]);
    return NULL;
}

/* As the engine's own connections: ghlsync.origin = 'engine' per transaction (the push triggers
 * skip these writes), and the session settings the pool uses. */
static int open_conn(struct engine *E, pga_conn **out, gs_err *e)
{
    int rc = pga_open(&E->loop, E->conninfo, out, e);
    if (rc)
        return rc;
    char setup[256];
    engine_tx_setup(E->cfg, setup, sizeof setup);
    if (pga_set_tx_setup(*out, setup) != 0 ||
        pga_set_session(*out, "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; "
                              "SET client_encoding = 'UTF8'") != 0)
        return gs_err_set(e, GS_ENOMEM, "webhooks: out of memory");
    return 0;
}

void webhooks_location_added(void *state, struct engine_location *L)
{
    wh_svc *s = state;
    if (s && s->apply && wha_location_added(s->apply, L) != 0)
        log_event(s->E->log, LOG_ERROR, "webhooks.location_failed", "location", L->cfg->id, "error",
                  "out of memory", NULL);
}

int webhooks_service_start(struct engine *E, void **state, gs_err *e)
{
    *state = NULL;
    const struct cfg_webhooks *c = &E->cfg->webhooks;
    if (!c->listen)
        return 0;
    wh_svc *s = calloc(1, sizeof *s);
    if (!s)
        return gs_err_set(e, GS_ENOMEM, "webhooks: out of memory");
    s->E = E;
    s->m = ops_registry(E);
    int rc = wh_keys_new(c->public_key, c->legacy_public_key, &s->keys, e);
    if (!rc)
        rc = open_conn(E, &s->db, e);
    if (!rc)
        rc = open_conn(E, &s->store_db, e);
    /* A webhook waits for its insert: with the database away, answer 429 (delivered again)
     * after 5 s rather than let HighLevel's own timeout lose it. */
    if (!rc)
        pga_set_wait(s->store_db, 5000);
    wha_hooks h = {
        .settled = on_settled, .depth = on_depth, .relation_requests = on_rel_requests, .ud = s};
    if (!rc)
        rc = wha_new(E, s->db, s->store_db, c->retention_ms, &h, &s->apply, e);
    if (!rc && s->m && metrics_on_scrape(s->m, collect, s) != 0)
        rc = gs_err_set(e, GS_ENOMEM, "webhooks: cannot register the metrics collector");
    whl_opts o = {.listen = c->listen,
                  .path = c->path,
                  .max_body = (size_t)c->max_body,
                  .keys = s->keys,
                  .on_body = on_body,
                  .on_refused = on_refused,
                  .ud = s};
    if (!rc)
        rc = whl_start(&E->loop.uv, &o, E->log, &s->srv, e);
    if (rc) {
        webhooks_service_stop(s);
        return rc;
    }
    *state = s;
    return 0;
}
