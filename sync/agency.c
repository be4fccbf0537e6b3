/* agency.c - see agency.h. */
#include "agency.h"

#include "engine.h"
#include "hlapi.h"
#include "http.h"
#include "log.h"
#include "sbuf.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

/* ---- the listing --------------------------------------------------------------------------- */

struct listing {
    struct engine *E;
    agency_list_cb cb; /* NULL: detached (its service stopped) */
    void *ud;
    char **ids;
    size_t n, cap;
    long skip;
};

void agency_ids_free(char **ids, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void listing_end(struct listing *l, int rc, const char *msg)
{
    if (rc == 0 && l->n > 1) { /* sorted for lookups; a location listed twice counts once */
        qsort(l->ids, l->n, sizeof *l->ids, cmp_str);
        size_t w = 1;
        for (size_t i = 1; i < l->n; i++) {
            if (strcmp(l->ids[i], l->ids[w - 1]) == 0)
                free(l->ids[i]);
            else
                l->ids[w++] = l->ids[i];
        }
        l->n = w;
    }
    if (l->cb && rc == 0) {
        l->cb(l->E, 0, l->ids, l->n, NULL, l->ud);
    } else {
        if (l->cb)
            l->cb(l->E, rc, NULL, 0, msg, l->ud);
        agency_ids_free(l->ids, l->n);
    }
    free(l);
}

static int next_page(struct listing *l, gs_err *e);

static void on_page(hl_result *r, void *ud)
{
    struct listing *l = ud;
    if (r->kind != HL_OK) {
        char m[700];
        snprintf(m, sizeof m, "GET /oauth/installedLocations: %s (HTTP %ld): %.500s",
                 hl_kind_name(r->kind), r->status, r->message ? r->message : "");
        listing_end(l, GS_EIO, m);
        return;
    }
    const cJSON *locs = cJSON_GetObjectItemCaseSensitive(r->json, "locations");
    const cJSON *count = cJSON_GetObjectItemCaseSensitive(r->json, "count");
    if (!cJSON_IsArray(locs)) {
        listing_end(l, GS_EIO, "GET /oauth/installedLocations: no \"locations\" array");
        return;
    }
    int got = cJSON_GetArraySize(locs);
    const cJSON *it;
    cJSON_ArrayForEach(it, locs)
    {
        const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "_id"));
        const cJSON *inst = cJSON_GetObjectItemCaseSensitive(it, "isInstalled");
        if (!id || cJSON_IsFalse(inst)) /* asked isInstalled=true; never trust it blindly */
            continue;
        if (l->n == l->cap) {
            size_t nc = l->cap ? l->cap * 2 : 64;
            char **ni = realloc(l->ids, nc * sizeof *ni);
            if (!ni) {
                listing_end(l, GS_ENOMEM, "out of memory");
                return;
            }
            l->ids = ni;
            l->cap = nc;
        }
        if (!(l->ids[l->n] = strdup(id))) {
            listing_end(l, GS_ENOMEM, "out of memory");
            return;
        }
        l->n++;
    }
    l->skip += got;
    bool more = got >= l->E->cfg->agency.discovery_page_size &&
                (!cJSON_IsNumber(count) || l->skip < count->valuedouble);
    if (!more || !l->cb) {
        listing_end(l, 0, NULL);
        return;
    }
    gs_err e = {0};
    if (next_page(l, &e))
        listing_end(l, e.code ? e.code : GS_EIO, e.msg);
}

static int next_page(struct listing *l, gs_err *e)
{
    const struct cfg_agency *a = &l->E->cfg->agency;
    sbuf q = SBUF_INIT;
    sbuf_puts(&q, "companyId=");
    http_escape(&q, a->company_id);
    sbuf_puts(&q, "&appId=");
    http_escape(&q, a->app_id);
    sbuf_printf(&q, "&isInstalled=true&skip=%ld&limit=%d", l->skip, a->discovery_page_size);
    if (sbuf_failed(&q)) {
        sbuf_free(&q);
        return gs_err_set(e, GS_ENOMEM, "out of memory");
    }
    hl_call c = {.method = "GET",
                 .endpoint = "oauth.installed_locations",
                 .path = "/oauth/installedLocations",
                 .query = sbuf_str(&q),
                 .location_query = false,
                 .is_read = true};
    int rc = hl_send(l->E->agency, &c, RL_PRIO_SCHEMA, "agency", on_page, l, e);
    sbuf_free(&q);
    return rc;
}

static int list_start(struct engine *E, agency_list_cb cb, void *ud, struct listing **out,
                      gs_err *e)
{
    if (!E->agency || !E->cfg->agency.app_id)
        return gs_err_set(e, GS_ESTATE, "no [agency] with app_id to discover locations with");
    struct listing *l = calloc(1, sizeof *l);
    if (!l)
        return gs_err_set(e, GS_ENOMEM, "out of memory");
    l->E = E;
    l->cb = cb;
    l->ud = ud;
    int rc = next_page(l, e);
    if (rc)
        free(l);
    else if (out)
        *out = l;
    return rc;
}

int agency_list_installed(struct engine *E, agency_list_cb cb, void *ud, gs_err *e)
{
    return list_start(E, cb, ud, NULL, e);
}

/* ---- start-up ------------------------------------------------------------------------------ */

struct start {
    bool done;
    int rc;
    char msg[800];
    char **ids;
    size_t n;
};

static void start_listed(struct engine *E, int rc, char **ids, size_t n, const char *msg, void *ud)
{
    (void)E;
    struct start *s = ud;
    s->rc = rc;
    s->ids = ids;
    s->n = n;
    if (msg)
        snprintf(s->msg, sizeof s->msg, "%s", msg);
    s->done = true;
}

int agency_discover_at_start(struct engine *E, gs_err *e)
{
    struct start s = {0};
    int rc = agency_list_installed(E, start_listed, &s, e);
    if (rc)
        return rc;
    engine_wait(E, &s.done);
    if (s.rc)
        return gs_err_set(e, GS_EIO, "agency %s: cannot discover the installed locations: %s",
                          E->cfg->agency.company_id, s.msg);
    struct cfg *c = &E->ctx->cfg;
    /* the [[locations]] tables win over discovery: one location, one way to authenticate */
    size_t nconf = c->n_locations;
    char **conf = calloc(nconf ? nconf : 1, sizeof *conf);
    if (!conf) {
        agency_ids_free(s.ids, s.n);
        return gs_err_set(e, GS_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < nconf; i++)
        conf[i] = c->locations[i].id;
    qsort(conf, nconf, sizeof *conf, cmp_str);
    size_t added = 0;
    for (size_t i = 0; i < s.n && !rc; i++) {
        if (nconf && bsearch(&s.ids[i], conf, nconf, sizeof *conf, cmp_str))
            continue;
        gs_err ae = {0};
        if (cfg_location_add_agency(c, s.ids[i], &ae)) {
            /* a hostile or malformed id from the API is left out, not fatal */
            log_event(E->log, LOG_WARN, "agency.location_skipped", "error", ae.msg, NULL);
            if (ae.code == GS_ENOMEM)
                rc = gs_err_set(e, GS_ENOMEM, "out of memory");
            continue;
        }
        added++;
    }
    free(conf);
    char a[24], n[24];
    snprintf(a, sizeof a, "%zu", added);
    snprintf(n, sizeof n, "%zu", s.n);
    log_event(E->log, LOG_INFO, "agency.discovered", "company", c->agency.company_id, "installed",
              n, "added", a, NULL);
    agency_ids_free(s.ids, s.n);
    return rc;
}

/* ---- the re-check while running ------------------------------------------------------------ */

struct agency_svc {
    struct engine *E;
    uv_timer_t *timer;
    struct listing *inflight;
};

/* engine_location_add's answer for a location installed since the start. */
static void added(struct engine *E, const char *id, int rc, const char *msg, void *ud)
{
    (void)ud;
    if (rc == 0)
        log_event(E->log, LOG_INFO, "agency.new_location", "location", id, "msg",
                  "installed since ghlsync started: started syncing", NULL);
    else
        log_event(E->log, LOG_WARN, "agency.new_location_failed", "location", id, "error", msg,
                  "msg", "not synced yet; tried again at the next re-check (discovery_interval)",
                  NULL);
}

static void set_held(struct engine *E, struct engine_location *L, bool h)
{
    if (L->held == h)
        return;
    L->held = h;
    if (E->on_hold)
        E->on_hold(E, L, E->on_hold_ud);
}

static void rechecked(struct engine *E, int rc, char **ids, size_t n, const char *msg, void *ud)
{
    struct agency_svc *s = ud;
    s->inflight = NULL;
    if (rc) {
        log_event(E->log, LOG_WARN, "agency.recheck_failed", "error", msg, "msg",
                  "the locations keep their state; next check at the next interval", NULL);
        return;
    }
    size_t stopped = 0, resumed = 0, fresh = 0;
    for (size_t i = 0; i < E->nlocs; i++) {
        struct engine_location *L = E->locs[i];
        if (L->cfg->auth != CFG_AUTH_AGENCY)
            continue;
        bool installed = n && bsearch(&L->cfg->id, ids, n, sizeof *ids, cmp_str);
        if (!installed && !L->uninstalled) {
            L->uninstalled = true;
            stopped++;
            log_event(E->log, LOG_WARN, "agency.uninstalled", "location", L->cfg->id, "msg",
                      "the app is no longer installed there: the location stops syncing, its "
                      "rows are kept",
                      NULL);
            set_held(E, L, false);
        } else if (installed && L->uninstalled) {
            L->uninstalled = false;
            resumed++;
            log_event(E->log, LOG_INFO, "agency.reinstalled", "location", L->cfg->id, NULL);
            /* with leases, the lease service hands it back at its next tick */
            if (!E->lease.kind)
                set_held(E, L, true);
        }
    }
    /* --location: that one only, never the others */
    for (size_t i = 0; !E->opts.only_location && i < n; i++) {
        if (engine_location_find(E, ids[i]))
            continue;
        /* installed since the start (or its add failed before): it joins once its objects are
         * ready, without a pause for the others */
        gs_err ae = {0};
        int arc = engine_location_add(E, ids[i], added, s, &ae);
        if (arc == 0)
            fresh++;
        else if (arc != GS_ESTATE) /* GS_ESTATE: already on its way */
            log_event(E->log, LOG_WARN, "agency.new_location_failed", "location", ids[i], "error",
                      ae.msg, "msg", "tried again at the next re-check", NULL);
    }
    agency_ids_free(ids, n);
    char a[24], b[24], c[24], d[24];
    snprintf(a, sizeof a, "%zu", n);
    snprintf(b, sizeof b, "%zu", stopped);
    snprintf(c, sizeof c, "%zu", resumed);
    snprintf(d, sizeof d, "%zu", fresh);
    log_event(E->log, LOG_INFO, "agency.rechecked", "installed", a, "stopped", b, "resumed", c,
              "new", d, NULL);
}

static void on_tick(uv_timer_t *t)
{
    struct agency_svc *s = t->data;
    if (s->inflight || s->E->stopping)
        return;
    gs_err e = {0};
    if (list_start(s->E, rechecked, s, &s->inflight, &e))
        log_event(s->E->log, LOG_WARN, "agency.recheck_failed", "error", e.msg, NULL);
}

int agency_service_start(struct engine *E, void **state, gs_err *e)
{
    *state = NULL;
    if (!E->cfg->agency.enabled || !E->cfg->agency.installed || !E->agency)
        return 0;
    struct agency_svc *s = calloc(1, sizeof *s);
    uv_timer_t *t = calloc(1, sizeof *t);
    if (!s || !t) {
        free(s);
        free(t);
        return gs_err_set(e, GS_ENOMEM, "out of memory");
    }
    s->E = E;
    s->timer = t;
    uv_timer_init(&E->loop.uv, t);
    t->data = s;
    uint64_t ms = (uint64_t)E->cfg->agency.discovery_interval_ms;
    uv_timer_start(t, on_tick, ms, ms);
    *state = s;
    return 0;
}

void agency_service_stop(void *state)
{
    struct agency_svc *s = state;
    if (!s)
        return;
    if (s->inflight)
        s->inflight->cb = NULL; /* it ends with the client's "shutting down" and frees itself */
    engine_location_add_forget(s->E, s);
    gs_uv_close_free((uv_handle_t *)s->timer);
    free(s);
}
