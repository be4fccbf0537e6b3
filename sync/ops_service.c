/* ops_service.c - metrics + runtime bookkeeping as an engine service (see ops_service.h). */
#include "ops_service.h"

#include "pgasync.h"
#include "runtime.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ops_state {
    struct engine *E;
    gs_metrics *m;
    gs_runtime *rt;
    metrics_server *srv;
    /* final write at stop */
    uv_timer_t *deadline;
    bool final_done;   /* stop waiting */
    bool final_asked;  /* rt_tick was called: its done will run, now or from rt_close */
    bool final_called; /* ... and it has run */
    bool orphan;       /* stop returned first: the done frees the state */
};

/* The engine's own counters are process-wide (not per location or object yet): they are
 * published under location="all". */
static void collect_engine(gs_metrics *m, void *ud)
{
    struct ops_state *s = ud;
    const char *lo[] = {"all", "all"};
    metrics_set(m, GSM_RECORDS_PULLED, lo, (double)s->E->ctr.records_pulled);
    const char *le[] = {"all", "pull"};
    metrics_set(m, GSM_ERRORS, le, (double)s->E->ctr.errors);
    const gs_dbctx *d = &s->E->loop.db;
    metrics_set(m, GSM_DB_RECONNECTS, NULL, (double)d->reconnects);
    metrics_set(m, GSM_DB_OUTAGES, NULL, (double)d->outages);
    metrics_set(m, GSM_DB_OUTAGE_SECONDS, NULL, pga_outage_seconds(&s->E->loop));
    metrics_set(m, GSM_DB_UP, NULL, d->down ? 0 : 1);
    metrics_set(m, GSM_DB_PENDING, NULL, (double)d->pending);
}

/* Liveness: a connection that has its session has been running the same statement or
 * transaction for more than [metrics] stall_timeout. An outage is not a stall (readiness says so,
 * and the connections come back by themselves); work stuck on a live session is: a lock wait
 * beyond lock_timeout's reach, a wedged server or pooler. Restarting the process is then the
 * remedy an orchestrator can apply. */
static bool healthy(void *ud, char *why, size_t len)
{
    struct ops_state *s = ud;
    int64_t stall = s->E->cfg->metrics.stall_timeout_ms;
    double longest = 0;
    if (!pga_stalled(&s->E->loop, stall, &longest))
        return true;
    snprintf(why, len, "a database statement has been running for %.0f s (stall_timeout %lld s)",
             longest, (long long)(stall / 1000));
    return false;
}

static const char *error_kind(long status)
{
    if (status == 0)
        return "api_no_answer";
    if (status >= 500)
        return "api_server";
    if (status == 401 || status == 403)
        return "api_auth";
    return NULL;
}

static void on_answer(void *ud, const char *location, const char *endpoint, long status,
                      const http_rate *rate)
{
    struct ops_state *s = ud;
    metrics_api_answer(s->m, location, endpoint, status, rate ? rate->remaining : -1,
                       rate ? rate->daily_remaining : -1);
    /* Only the push workers create, update and delete records, and each success is answered
     * exactly once (a retried attempt that failed is not a success), so successful answers of
     * those endpoints are the records pushed. A 404 on delete means already gone: done too. The
     * answer does not carry the object key, hence object="all". */
    bool write =
        !strcmp(endpoint, "create") || !strcmp(endpoint, "update") || !strcmp(endpoint, "delete");
    if (write &&
        ((status >= 200 && status < 300) || (status == 404 && !strcmp(endpoint, "delete")))) {
        const char *labels[] = {location, "all", endpoint};
        metrics_add(s->m, GSM_RECORDS_PUSHED, labels, 1);
    }
    const char *kind = error_kind(status);
    if (kind) {
        char msg[160];
        if (status)
            snprintf(msg, sizeof msg, "%s: HTTP %ld", endpoint, status);
        else
            snprintf(msg, sizeof msg, "%s: no answer (connection failed or timed out)", endpoint);
        rt_note_error(s->rt, location, kind, msg);
    }
}

int ops_service_start(struct engine *E, void **state, gs_err *e)
{
    struct ops_state *s = calloc(1, sizeof *s);
    if (!s || !(s->m = metrics_new())) {
        free(s);
        return gs_err_set(e, GS_ENOMEM, "ops service: out of memory");
    }
    s->E = E;
    *state = s;
    int rc = metrics_on_scrape(s->m, collect_engine, s);
    if (rc)
        rc = gs_err_set(e, rc, "ops service: cannot register the metrics collector");
    if (rc == 0)
        rc = rt_new(&E->loop, E->conninfo, s->m, 5000, &s->rt, e);
    for (size_t i = 0; rc == 0 && i < E->nlocs; i++)
        if (rt_add_location_served(s->rt, E->locs[i]->cfg->id, hl_location_budget(E->locs[i]->hl),
                                   &E->locs[i]->held) != 0)
            rc = gs_err_set(e, GS_ENOMEM, "ops service: out of memory");
    if (rc == 0)
        rc = rt_start(s->rt, e);
    if (rc == 0 && E->serving && E->cfg->metrics.listen) {
        rc = metrics_server_start(&E->loop.uv, s->m, E->cfg->metrics.listen, E->log, &s->srv, e);
        if (rc == 0) {
            metrics_server_set_ready(s->srv, rt_ready, s->rt);
            metrics_server_set_health(s->srv, healthy, s);
        }
    }
    if (rc == 0) {
        E->on_answer = on_answer;
        E->on_answer_ud = s;
    }
    if (rc != 0) { /* the engine does not call stop for a service that failed to start */
        ops_service_stop(s);
        *state = NULL;
    }
    return rc;
}

void ops_service_location_added(void *state, struct engine_location *L)
{
    struct ops_state *s = state;
    if (s && s->rt &&
        rt_add_location_served(s->rt, L->cfg->id, hl_location_budget(L->hl), &L->held) != 0)
        log_event(s->E->log, LOG_ERROR, "runtime.location_failed", "location", L->cfg->id, "error",
                  "out of memory", NULL);
}

static void on_final_write(void *ud, bool ok)
{
    struct ops_state *s = ud;
    s->final_called = true;
    if (s->orphan) {
        free(s);
        return;
    }
    if (!ok && !s->final_done)
        log_event(s->E->log, LOG_WARN, "runtime.final_write_failed", "msg",
                  "the requests of the last seconds are not in ghlsync.runtime", NULL);
    s->final_done = true;
}

static void on_final_deadline(uv_timer_t *t)
{
    struct ops_state *s = t->data;
    if (!s->final_done)
        log_event(s->E->log, LOG_WARN, "runtime.final_write_timeout", NULL);
    s->final_done = true;
}

/* The engine's loop has stopped when services stop: run it again until the last counters are
 * written (or the deadline passes; a dead database must not hold the exit). */
static void final_write(struct ops_state *s)
{
    s->deadline = malloc(sizeof *s->deadline);
    if (!s->deadline)
        return;
    uv_timer_init(&s->E->loop.uv, s->deadline);
    s->deadline->data = s;
    uv_timer_start(s->deadline, on_final_deadline, OPS_FINAL_WRITE_MS, 0);
    s->final_done = false;
    s->final_asked = true;
    rt_tick(s->rt, on_final_write, s);
    engine_wait(s->E, &s->final_done);
    uv_timer_stop(s->deadline);
    gs_uv_close_free((uv_handle_t *)s->deadline);
    s->deadline = NULL;
}

void ops_service_stop(void *state)
{
    struct ops_state *s = state;
    if (!s)
        return;
    if (s->E->on_answer_ud == s) {
        s->E->on_answer = NULL;
        s->E->on_answer_ud = NULL;
    }
    metrics_server_close(s->srv);
    s->srv = NULL;
    if (s->rt && s->E->loop_ready)
        final_write(s);
    /* rt_close runs the done of a write still in flight (after the deadline) with ok = false,
     * now or once its connection is released: mark it done first so that it does not report
     * a second time, and leave the state to it when it is still to come. */
    s->final_done = true;
    rt_close(s->rt);
    s->rt = NULL;
    metrics_free(s->m);
    s->m = NULL;
    if (s->final_asked && !s->final_called)
        s->orphan = true;
    else
        free(s);
}

gs_metrics *ops_service_metrics(void *state)
{
    return state ? ((struct ops_state *)state)->m : NULL;
}
