/* ops_service.c - metrics + runtime bookkeeping as an engine service of `ghlsync run`. */
#include "ops_service.h"

#include "runtime.h"

#include <stdlib.h>

struct ops_state {
    struct engine *E;
    gs_metrics *m;
    gs_runtime *rt;
    metrics_server *srv;
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
    metrics_on_scrape(s->m, collect_engine, s);
    int rc = rt_new(&E->loop, E->conninfo, s->m, 5000, &s->rt, e);
    for (size_t i = 0; rc == 0 && i < E->nlocs; i++)
        if (rt_add_location(s->rt, E->locs[i].cfg->id, hl_location_budget(E->locs[i].hl)) != 0)
            rc = gs_err_set(e, GS_ENOMEM, "ops service: out of memory");
    if (rc == 0)
        rc = rt_start(s->rt, e);
    if (rc == 0 && E->cfg->metrics.listen) {
        rc = metrics_server_start(&E->loop.uv, s->m, E->cfg->metrics.listen, E->log, &s->srv, e);
        if (rc == 0)
            metrics_server_set_ready(s->srv, rt_ready, s->rt);
    }
    if (rc != 0) { /* the engine does not call stop for a service that failed to start */
        ops_service_stop(s);
        *state = NULL;
    }
    return rc;
}

void ops_service_stop(void *state)
{
    struct ops_state *s = state;
    if (!s)
        return;
    metrics_server_close(s->srv);
    rt_close(s->rt);
    metrics_free(s->m);
    free(s);
}

gs_metrics *ops_service_metrics(void *state)
{
    return state ? ((struct ops_state *)state)->m : NULL;
}
