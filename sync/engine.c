/* engine.c - see engine.h. */
#include "engine.h"
#include "engine_int.h"

#include "agency.h"

#include "db.h"
#include "ddl.h"
#include "family.h"
#include "lease.h"
#include "migrate.h"
#include "ops_service.h"
#include "push_service.h"
#include "relations.h"
#include "schema.h"
#include "strmap.h"
#include "triggers.h"
#include "webhooks.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* The services `ghlsync run` starts after the pull workers. "ops" comes first: it starts
 * before and stops after the others, so that its final write of ghlsync.runtime counts their
 * last requests. one_shot services also run for `ghlsync backfill` and `ghlsync push`.
 */
const struct engine_service engine_services[] = {
    {"ops", ops_service_start, ops_service_stop, .one_shot = true},
    /* before push: leases are let go only after the pushes in flight ended */
    {"lease", lease_service_start, lease_service_stop, .one_shot = true},
    {"push", push_service_start, push_service_stop, .one_shot = false},
    {"webhooks", webhooks_service_start, webhooks_service_stop, .one_shot = false},
    /* last: it stops first, and in a one-shot command lists relations once the records are in */
    {"relations", relations_service_start, relations_service_stop, .one_shot = true},
    /* re-checks the installed locations of [agency] locations = "installed" */
    {"agency", agency_service_start, agency_service_stop, .one_shot = false},
    {NULL, NULL, NULL, false},
};
const size_t engine_n_services = sizeof engine_services / sizeof *engine_services - 1;

/* The start-up connection (E->db) has a session of its own ([database] session_url): its marker
 * is session-wide. The loop's connections carry it per transaction instead (pgasync.h
 * transaction set-up, engine_tx_setup), which survives a transaction pooler and a reconnect. */
static const char session_sql[] = "SET ghlsync.origin = 'engine'";

void engine_tx_setup(const struct cfg *c, char *buf, size_t len)
{
    snprintf(buf, len,
             "SELECT set_config('ghlsync.origin', 'engine', true), "
             "set_config('lock_timeout', '%lldms', true)",
             (long long)c->database.lock_timeout_ms);
}

static void forward_answer(void *ud, const char *location, const char *endpoint, long status,
                           const http_rate *rate)
{
    struct engine *E = ud;
    if (E->on_answer)
        E->on_answer(E->on_answer_ud, location, endpoint, status, rate);
}

static int open_pga(struct engine *E, pga_conn **out, gs_err *e)
{
    int rc = pga_open(&E->loop, E->conninfo, out, e);
    if (rc)
        return rc;
    /* settings a transaction pooler keeps per client; again on every new session */
    if (pga_set_session(*out, "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; "
                              "SET client_encoding = 'UTF8'") != 0)
        return gs_err_set(e, GS_ENOMEM, "out of memory");
    return 0;
}

/* "schema already exists, skipping" and the like: debug only. */
static void quiet_notice(void *ud, const char *msg)
{
    struct engine *E = ud;
    if (log_enabled(E->log, LOG_DEBUG))
        log_event(E->log, LOG_DEBUG, "db.notice", "msg", msg, NULL);
}

/* The same on the schema thread, which must not log. */
static void silent_notice(void *ud, const char *msg)
{
    (void)ud;
    (void)msg;
}

static bool object_wanted(const struct engine *E, const char *key)
{
    if (!E->opts.n_only_objects)
        return true;
    for (size_t i = 0; i < E->opts.n_only_objects; i++)
        if (strcmp(E->opts.only_objects[i], key) == 0)
            return true;
    return false;
}

/*
 * The refresh token to start from. The configured file (read by the config loader) and the
 * pair in ghlsync.oauth_tokens can disagree: the database is newer after a rotation whose file
 * write failed, the file is newer after a database restore or a re-authorisation. The one
 * written last wins (file mtime against the row's updated_at); the other becomes the fallback
 * that oauth.c tries once if the first is refused, so a wrong guess costs one request.
 */
static int load_oauth(struct engine *E, const struct cfg_location *cl, char **access,
                      char **refresh, char **alt, int64_t *exp_ms, gs_err *e)
{
    *access = NULL;
    *alt = NULL;
    *refresh = cl->refresh_token ? strdup(cl->refresh_token) : NULL;
    *exp_ms = 0;
    const char *p[1] = {cl->id};
    PGresult *r;
    int rc = db_query(E->db,
                      "SELECT access_token, refresh_token, "
                      "(extract(epoch FROM expires_at - now()) * 1000)::bigint, "
                      "(extract(epoch FROM updated_at) * 1000)::bigint "
                      "FROM ghlsync.oauth_tokens WHERE location_id = $1",
                      1, p, &r, e);
    if (rc)
        return rc;
    if (PQntuples(r) == 1 && PQgetisnull(r, 0, 1)) {
        /* only an agency location's minted token may lack one (migration 016): nothing here
         * could renew this access token once it expires */
        PQclear(r);
        free(*refresh);
        *refresh = NULL;
        return gs_err_set(e, GS_ECONFIG,
                          "location %s: its row in ghlsync.oauth_tokens has no refresh token, "
                          "which only an [agency] location's minted token may lack; delete the "
                          "row to start again from refresh_token_file",
                          cl->id);
    }
    if (PQntuples(r) == 1) {
        const char *db_ref = PQgetvalue(r, 0, 1);
        log_add_secret(E->log, db_ref);
        int64_t db_ms = strtoll(PQgetvalue(r, 0, 3), NULL, 10);
        struct stat st;
        bool file_newer = false;
        if (*refresh && strcmp(*refresh, db_ref) != 0 && cl->refresh_token_file &&
            stat(cl->refresh_token_file, &st) == 0) {
            int64_t f_ms = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
            file_newer = f_ms > db_ms;
        }
        if (*refresh && strcmp(*refresh, db_ref) != 0) {
            log_event(E->log, LOG_INFO, "oauth.start_token", "location", cl->id, "from",
                      file_newer ? "refresh_token_file" : "database", "msg",
                      "the refresh token file and ghlsync.oauth_tokens differ; starting from the "
                      "one written last, the other is the fallback",
                      NULL);
            if (!file_newer) {
                *alt = *refresh;
                *refresh = strdup(db_ref);
            } else {
                *alt = strdup(db_ref);
            }
        } else if (!*refresh) {
            *refresh = strdup(db_ref);
        }
        /* the stored access token belongs to the stored pair; still valid until it expires */
        if (!PQgetisnull(r, 0, 0))
            *access = strdup(PQgetvalue(r, 0, 0));
        if (!PQgetisnull(r, 0, 2)) /* its remaining lifetime by the database's clock */
            *exp_ms = (int64_t)gs_wall_ms() + strtoll(PQgetvalue(r, 0, 2), NULL, 10);
        if (*access)
            log_add_secret(E->log, *access);
    }
    PQclear(r);
    if (!*refresh)
        return gs_err_set(e, GS_ENOMEM, "out of memory");
    return 0;
}

/*
 * [agency]: the company's pair is a client location of its own, "agency:<companyId>" (its
 * rate budget, its row in ghlsync.oauth_tokens, refresh with user_type=Company), started like
 * an OAuth location: the newer of the refresh token file and the stored row. With locations =
 * "installed" the installed locations are discovered now and appended to the configuration,
 * before the engine's locations are built from it.
 */
static int open_agency(struct engine *E, gs_err *e)
{
    struct cfg *c = &E->ctx->cfg;
    const struct cfg_agency *a = &c->agency;
    sbuf key = SBUF_INIT;
    sbuf_printf(&key, "agency:%s", a->company_id);
    if (sbuf_failed(&key))
        return gs_err_set(e, GS_ENOMEM, "out of memory");
    struct cfg_location company = {.id = (char *)sbuf_str(&key),
                                   .auth = CFG_AUTH_OAUTH,
                                   .refresh_token_file = a->refresh_token_file,
                                   .refresh_token = a->refresh_token};
    char *acc, *ref, *alt;
    int64_t exp;
    int rc = load_oauth(E, &company, &acc, &ref, &alt, &exp, e);
    if (!rc) {
        E->agency = hl_location_add(E->hl, company.id, acc, ref, exp, E->meta, NULL, e);
        oa_token *t = E->agency ? hl_location_token(E->agency) : NULL;
        if (!E->agency)
            rc = e->code ? e->code : GS_ENOMEM;
        else if (oa_token_set_file(t, a->refresh_token_file, alt) ||
                 oa_token_set_client(t, a->client_id, a->client_secret) ||
                 oa_token_set_user_type(t, "Company"))
            rc = gs_err_set(e, GS_ENOMEM, "out of memory");
        free(acc);
        free(ref);
        free(alt);
    }
    sbuf_free(&key);
    if (!rc && a->installed)
        rc = agency_discover_at_start(E, e);
    return rc;
}

int engine_agency_hl(struct engine *E, struct engine_location *L, const char *acc, const char *ref,
                     int64_t exp, gs_err *e)
{
    const struct cfg *c = E->cfg;
    L->hl = hl_location_add(E->hl, L->cfg->id, acc, ref, exp, E->meta, NULL, e);
    if (!L->hl)
        return e->code ? e->code : GS_ENOMEM;
    sbuf url = SBUF_INIT;
    sbuf_printf(&url, "%s/oauth/locationToken", c->api.base_url);
    oa_token *t = hl_location_token(L->hl);
    int rc = sbuf_failed(&url) ||
                     oa_token_set_client(t, c->agency.client_id, c->agency.client_secret) ||
                     oa_token_set_minter(t, hl_location_token(E->agency), sbuf_str(&url),
                                         c->agency.company_id)
                 ? gs_err_set(e, GS_ENOMEM, "out of memory")
                 : 0;
    sbuf_free(&url);
    return rc;
}

/* An agency location: the pair stored in ghlsync.oauth_tokens if any (minted or rotated
 * earlier), else none yet - the first request mints one (oa_token_set_minter). */
static int add_agency_location(struct engine *E, struct engine_location *L, gs_err *e)
{
    const char *p[1] = {L->cfg->id};
    PGresult *r;
    int rc = db_query(E->db,
                      "SELECT access_token, refresh_token, "
                      "(extract(epoch FROM expires_at - now()) * 1000)::bigint "
                      "FROM ghlsync.oauth_tokens WHERE location_id = $1",
                      1, p, &r, e);
    if (rc)
        return rc;
    const char *acc = NULL, *ref = NULL;
    int64_t exp = 0;
    if (PQntuples(r) == 1) {
        acc = PQgetisnull(r, 0, 0) ? NULL : PQgetvalue(r, 0, 0);
        /* NULL: minted without a refresh token; a new one is minted when it expires */
        ref = PQgetisnull(r, 0, 1) ? NULL : PQgetvalue(r, 0, 1);
        exp = PQgetisnull(r, 0, 2) ? 0
                                   : (int64_t)gs_wall_ms() + strtoll(PQgetvalue(r, 0, 2), NULL, 10);
        log_add_secret(E->log, acc);
        log_add_secret(E->log, ref);
    }
    rc = engine_agency_hl(E, L, acc, ref, exp, e);
    PQclear(r);
    return rc;
}

int engine_open(struct engine *E, struct cli_ctx *ctx, const struct engine_opts *o, gs_err *e)
{
    memset(E, 0, sizeof *E);
    E->ctx = ctx;
    E->cfg = &ctx->cfg;
    E->log = ctx->log;
    if (o)
        E->opts = *o;
    const struct cfg *c = E->cfg;
    if (E->opts.only_location && !c->agency.installed &&
        !cfg_location_get(c, E->opts.only_location))
        return gs_err_set(e, GS_ECONFIG, "location %s is not configured in %s",
                          E->opts.only_location, c->path);
    E->conninfo = strdup(c->database.url ? c->database.url : "");
    if (!E->conninfo)
        return gs_err_set(e, GS_ENOMEM, "out of memory");
    int rc = db_connect(c->database.session_url ? c->database.session_url : E->conninfo, &E->db, e);
    if (rc) {
        /* the usual cause: the server is down or restarting (callers exit 3, `run` waits) */
        gs_err_wrap(e, "cannot connect to the database");
        e->code = GS_EDBLOST;
        return GS_EDBLOST;
    }
    if (!rc) {
        PQsetNoticeProcessor(E->db, quiet_notice, E);
        rc = db_exec(E->db, session_sql, e);
    }
    char dir[1024];
    int applied = 0;
    if (!rc)
        rc = migrate_find_dir(dir, sizeof dir, e);
    if (!rc)
        rc = migrate_run(E->db, dir, E->log, &applied, e);
    if (rc)
        return rc;
    char tpath[1024];
    gs_err te = {0};
    if (map_types_find_file(tpath, sizeof tpath, &te) == 0)
        rc = map_types_load(tpath, &E->types, e);
    else
        rc = map_types_builtin(&E->types, e);
    if (rc)
        return rc;

    http_opts ho = {.connect_timeout_ms = (long)c->api.connect_timeout_ms,
                    .total_timeout_ms = (long)c->api.request_timeout_ms,
                    .stall_seconds = (long)((c->api.stall_timeout_ms + 999) / 1000),
                    .max_response_bytes = (size_t)c->api.max_response_bytes,
                    .insecure_http = c->api.insecure_http};
    if ((rc = gs_loop_init(&E->loop, E->log, &ho, e)))
        return rc;
    E->loop_ready = true;
    engine_tx_setup(c, E->loop.db.tx_setup, sizeof E->loop.db.tx_setup);
    E->loop.db.unnamed = c->database.pooler == CFG_POOLER_TRANSACTION;
    /* App credentials are per location (oa_token_set_client below), never client-wide. */
    hl_client_opts hop = {.base_url = c->api.base_url,
                          .version = c->api.version,
                          .rate = {.burst = c->rate_limit.burst,
                                   .window_ms = (int)c->rate_limit.window_ms,
                                   .daily = c->rate_limit.daily,
                                   .headroom = c->rate_limit.headroom},
                          .timeout_ms = (long)c->api.request_timeout_ms,
                          .on_answer = forward_answer,
                          .on_answer_ud = E};
    if ((rc = hl_client_new(&E->loop, &hop, &E->hl, e)))
        return rc;
    if ((rc = open_pga(E, &E->meta, e)))
        return rc;
    E->npool = E->opts.pool_size > 0 ? E->opts.pool_size : 2;
    E->pool = calloc((size_t)E->npool, sizeof *E->pool);
    if (!E->pool)
        return gs_err_set(e, GS_ENOMEM, "out of memory");
    for (int i = 0; i < E->npool; i++)
        if ((rc = open_pga(E, &E->pool[i], e)))
            return rc;

    if (c->agency.enabled && (rc = open_agency(E, e)))
        return rc;
    if (E->opts.only_location && !cfg_location_get(c, E->opts.only_location))
        return gs_err_set(e, GS_ECONFIG, "location %s is not configured in %s%s",
                          E->opts.only_location, c->path,
                          c->agency.installed ? " nor installed for the agency" : "");
    if (!c->n_locations && !(E->opts.may_start_empty && c->agency.installed))
        return gs_err_set(e, GS_ECONFIG, "%s: no location to sync (the agency has none installed)",
                          c->path);
    if (!c->n_locations)
        log_event(E->log, LOG_WARN, "agency.none_installed", "company", c->agency.company_id, "msg",
                  "the app is installed in no location yet: waiting for the re-check to find one",
                  NULL);
    E->locs = calloc(c->n_locations ? c->n_locations : 1, sizeof *E->locs);
    if (!E->locs)
        return gs_err_set(e, GS_ENOMEM, "out of memory");
    for (size_t i = 0; i < c->n_locations; i++) {
        const struct cfg_location *cl = &c->locations[i];
        if (E->opts.only_location && strcmp(E->opts.only_location, cl->id) != 0)
            continue;
        struct engine_location *L = calloc(1, sizeof *L);
        if (!L)
            return gs_err_set(e, GS_ENOMEM, "out of memory");
        E->locs[E->nlocs++] = L;
        L->E = E;
        L->cfg = cl;
        L->held = true;
        if (cl->auth == CFG_AUTH_OAUTH) {
            char *acc, *ref, *alt;
            int64_t exp;
            if ((rc = load_oauth(E, cl, &acc, &ref, &alt, &exp, e)))
                return rc;
            L->hl = hl_location_add(E->hl, cl->id, acc, ref, exp, E->meta, NULL, e);
            if (L->hl &&
                (oa_token_set_file(hl_location_token(L->hl), cl->refresh_token_file, alt) != 0 ||
                 oa_token_set_client(hl_location_token(L->hl), cl->client_id, cl->client_secret) !=
                     0)) {
                free(acc);
                free(ref);
                free(alt);
                return gs_err_set(e, GS_ENOMEM, "out of memory");
            }
            free(acc);
            free(ref);
            free(alt);
        } else if (cl->auth == CFG_AUTH_AGENCY) {
            if ((rc = add_agency_location(E, L, e)))
                return rc;
        } else {
            L->hl = hl_location_add(E->hl, cl->id, cl->token, NULL, 0, E->meta, NULL, e);
        }
        if (!L->hl)
            return e->code ? e->code : GS_ENOMEM;
    }
    return engine_index_build(E, e);
}

static void sj_cancel_waiting(struct engine *E);

void engine_object_free(struct engine_object *o)
{
    free(o->key);
    ps_model_unref(o->model);
}

void engine_close(struct engine *E)
{
    if (E->lease.kind && E->db && PQstatus(E->db) == CONNECTION_OK) {
        /* a one-shot that ended early (an error after lease_take_once) lets go at once, rather
         * than after the ttl; after the lease service's own release this finds nothing */
        const char *p[1] = {E->lease.holder};
        gs_err e = {0};
        db_execp(E->db, "SELECT ghlsync.lease_release($1)", 1, p, &e);
    }
    if (E->hl)
        hl_client_free(E->hl);
    E->hl = NULL;
    if (E->meta)
        pga_close(E->meta);
    for (int i = 0; i < E->npool; i++)
        if (E->pool[i])
            pga_close(E->pool[i]);
    free(E->pool);
    if (E->sig_on)
        for (int i = 0; i < 3; i++)
            uv_close((uv_handle_t *)&E->sig[i], NULL);
    if (E->stop_timer_on)
        uv_close((uv_handle_t *)&E->stop_timer, NULL);
    if (E->loop_ready) {
        E->stopping = true;
        sj_cancel_waiting(E);
        if (E->sj_timer_on)
            uv_close((uv_handle_t *)&E->sj_timer, NULL);
        gs_loop_close(&E->loop); /* a schema job still running completes in here */
    }
    if (E->ddl_db)
        PQfinish(E->ddl_db);
    for (size_t i = 0; i < E->nlocs; i++) {
        struct engine_location *L = E->locs[i];
        for (size_t j = 0; j < L->n_objects; j++)
            engine_object_free(&L->objects[j]);
        free(L->objects);
        for (size_t j = 0; j < L->n_skipped; j++)
            free(L->skipped[j]);
        free(L->skipped);
        for (size_t j = 0; j < L->n_unavailable; j++) {
            free(L->unavailable[j].key);
            free(L->unavailable[j].why);
        }
        free(L->unavailable);
        cfg_location_delete(L->own_cfg);
        free(L);
    }
    free(E->locs);
    free(E->by_id);
    engine_adding_free(E);
    if (E->types)
        map_types_free(E->types);
    if (E->db)
        PQfinish(E->db);
    free(E->conninfo);
    free(E->service_state);
    memset(E, 0, sizeof *E);
}

pga_conn *engine_pga(struct engine *E, const struct engine_object *eo)
{
    return E->pool[eo->pool_index % E->npool];
}

/* ---- waiting on the loop during start-up ---- */

struct waiter {
    uv_timer_t t;
    struct engine *E;
    const bool *flag;
};

static void waiter_tick(uv_timer_t *t)
{
    struct waiter *w = (struct waiter *)t;
    if (*w->flag)
        gs_loop_stop(&w->E->loop);
}

void engine_wait(struct engine *E, const bool *flag)
{
    if (*flag)
        return;
    struct waiter w = {.E = E, .flag = flag};
    uv_timer_init(&E->loop.uv, &w.t);
    uv_timer_start(&w.t, waiter_tick, 5, 5);
    while (!*flag)
        gs_loop_run(&E->loop);
    uv_close((uv_handle_t *)&w.t, NULL);
    uv_run(&E->loop.uv, UV_RUN_NOWAIT);
}

/* ---- discovery ---- */

struct nap {
    uv_timer_t t;
    bool done;
};

static void nap_done(uv_timer_t *t)
{
    ((struct nap *)t->data)->done = true;
}

/* Wait on the loop (other work goes on). */
static void engine_nap(struct engine *E, uint64_t ms)
{
    struct nap n = {.done = false};
    uv_timer_init(&E->loop.uv, &n.t);
    n.t.data = &n;
    uv_timer_start(&n.t, nap_done, ms, 0);
    engine_wait(E, &n.done);
    uv_close((uv_handle_t *)&n.t, NULL);
    uv_run(&E->loop.uv, UV_RUN_NOWAIT);
}

/* Start-up rides out an API outage ([pull] outage_timeout): true when the caller should send
 * the calls that failed as retryable again, after this wait. */
static bool outage_wait(struct engine *E, int64_t *since, size_t n_failed)
{
    int64_t budget = E->cfg->pull.outage_timeout_ms;
    if (!n_failed || budget <= 0 || E->stopping)
        return false;
    int64_t now = (int64_t)gs_wall_ms();
    if (!*since) {
        *since = now;
        log_event(E->log, LOG_WARN, "schema.waiting", "msg",
                  "the API keeps failing at start; waiting and retrying (outage_timeout)", NULL);
    }
    if (now - *since >= budget)
        return false;
    int64_t waited = now - *since;
    engine_nap(E, waited < 2000 ? 1000 : waited < 30000 ? 5000 : 15000);
    return !E->stopping;
}

struct fetch {
    struct engine *E;
    struct engine_location *L;
    char *key;
    const fam_family *fam;
    cJSON *json; /* the family's definitions answer (GET /objects/{key}, ...) */
    int status;
    char msg[512];
    int *pending;
    bool *done;
};

/* fetch.status: 0 ok, else the hl_kind + 1, or FETCH_UNREADABLE when the server answered with
 * a body the parser refuses (not an outage: waiting would not help). */
#define FETCH_UNREADABLE 100

static void fetch_done(struct fetch *f, hl_result *r)
{
    f->status = r->kind == HL_OK ? 0 : r->raw ? FETCH_UNREADABLE : (int)r->kind + 1;
    if (r->kind == HL_OK) {
        f->json = r->json;
        r->json = NULL;
    } else {
        snprintf(f->msg, sizeof f->msg, "HTTP %ld: %s", r->status, r->message);
    }
    if (--*f->pending == 0)
        *f->done = true;
}

static void on_schema(hl_result *r, void *ud)
{
    fetch_done(ud, r);
}

static void on_list(hl_result *r, void *ud)
{
    fetch_done(ud, r);
}

/* Keys to pull for one location, from its configuration and (for "*") the object list. */
int engine_choose_objects(struct engine *E, struct engine_location *L, const cJSON *list,
                          char ***keys, size_t *nkeys, gs_err *e)
{
    char **all = NULL;
    size_t n = 0;
    int rc;
    if (L->cfg->all_objects) {
        if ((rc = schema_list_keys(list, &all, &n, e)))
            return rc;
    } else {
        all = calloc(L->cfg->n_objects ? L->cfg->n_objects : 1, sizeof *all);
        if (!all)
            return gs_err_set(e, GS_ENOMEM, "out of memory");
        for (size_t i = 0; i < L->cfg->n_objects; i++)
            all[n++] = strdup(L->cfg->objects[i]);
    }
    *keys = calloc(n ? n : 1, sizeof **keys);
    *nkeys = 0;
    for (size_t i = 0; i < n; i++) {
        if (!object_wanted(E, all[i])) {
            free(all[i]);
        } else if (!fam_for_key(all[i])) {
            log_event(E->log, LOG_INFO, "pull.object_skipped", "location", L->cfg->id, "object",
                      all[i], "why", "no endpoint family of ghlsync serves this object yet", NULL);
            char **s = realloc(L->skipped, (L->n_skipped + 1) * sizeof *s);
            if (s) {
                L->skipped = s;
                s[L->n_skipped++] = all[i];
            } else {
                free(all[i]);
            }
        } else {
            (*keys)[(*nkeys)++] = all[i];
        }
    }
    free(all);
    return 0;
}

static void settings_for(struct engine *E, const char *key, const char *loc, ddl_settings *s,
                         ddl_field_override **ov)
{
    const struct cfg_object *co = cfg_object_get(E->cfg, key);
    *ov = co->n_field_types ? calloc(co->n_field_types, sizeof **ov) : NULL;
    memset(s, 0, sizeof *s);
    s->schema = E->cfg->database.schema;
    s->table = co->table;
    s->location_id = loc;
    s->types = E->types;
    s->log = E->log;
    if (*ov) {
        for (size_t i = 0; i < co->n_field_types; i++) {
            (*ov)[i].field_key = co->field_types[i].field;
            (*ov)[i].type = co->field_types[i].pg_type;
        }
        s->overrides = *ov;
        s->n_overrides = co->n_field_types;
    }
}

/* Record (and log, and show in ghlsync.pull_state.last_error) an object left out. */
static int note_unavailable(struct engine *E, struct engine_location *L, const char *key,
                            const char *why, gs_err *e)
{
    struct engine_unavailable *u =
        realloc(L->unavailable, (L->n_unavailable + 1) * sizeof *L->unavailable);
    if (!u)
        return gs_err_set(e, GS_ENOMEM, "out of memory");
    L->unavailable = u;
    u[L->n_unavailable] = (struct engine_unavailable){strdup(key), strdup(why)};
    if (!u[L->n_unavailable].key || !u[L->n_unavailable].why) {
        free(u[L->n_unavailable].key);
        free(u[L->n_unavailable].why);
        return gs_err_set(e, GS_ENOMEM, "out of memory");
    }
    L->n_unavailable++;
    E->n_unavailable++;
    log_event(E->log, LOG_ERROR, "schema.unavailable", "location", L->cfg->id, "object", key,
              "error", why, "msg", "this object is left out; the others sync", NULL);
    /* start-up, before the loop serves anything: a synchronous write is fine here */
    const char *p[3] = {L->cfg->id, key, why};
    PGresult *r;
    gs_err ignore = {0};
    if (db_query(E->db,
                 "INSERT INTO ghlsync.pull_state (location_id, object_key, last_error) "
                 "VALUES ($1, $2, $3) ON CONFLICT (location_id, object_key) "
                 "DO UPDATE SET last_error = excluded.last_error",
                 3, p, &r, &ignore) == 0)
        PQclear(r);
    return 0;
}

/* The first model of each upsert text gives its texts to the later ones (ps_model_share_sql). */
static void share_sql(strmap *shared, ps_model *m)
{
    ps_model *like = strmap_get(shared, m->upsert);
    if (like)
        ps_model_share_sql(m, like);
    else
        strmap_put(shared, m->upsert, m); /* no memory: this one is not shared, that is all */
}

int engine_discover(struct engine *E, bool apply, sbuf *plan_out, gs_err *e)
{
    int rc = 0;
    /* 1. object lists */
    struct fetch *lists = calloc(E->nlocs ? E->nlocs : 1, sizeof *lists);
    if (!lists)
        return gs_err_set(e, GS_ENOMEM, "out of memory");
    int pending = 0;
    bool done = false;
    for (size_t i = 0; i < E->nlocs; i++) {
        struct fetch *f = &lists[i];
        *f = (struct fetch){.E = E, .L = E->locs[i], .pending = &pending, .done = &done};
        if (E->locs[i]->cfg->all_objects) {
            pending++;
            if ((rc = hl_list_objects(E->locs[i]->hl, RL_PRIO_SCHEMA, on_list, f, e))) {
                pending--;
                break;
            }
        }
    }
    if (pending == 0)
        done = true;
    engine_wait(E, &done);
    for (int64_t since = 0; !rc;) {
        size_t nf = 0;
        for (size_t i = 0; i < E->nlocs; i++)
            nf += lists[i].status == HL_RETRYABLE + 1;
        if (!outage_wait(E, &since, nf))
            break;
        done = false;
        for (size_t i = 0; !rc && i < E->nlocs; i++) {
            if (lists[i].status != HL_RETRYABLE + 1)
                continue;
            lists[i].status = 0;
            pending++;
            if ((rc = hl_list_objects(E->locs[i]->hl, RL_PRIO_SCHEMA, on_list, &lists[i], e)))
                pending--;
        }
        if (pending == 0)
            done = true;
        engine_wait(E, &done);
    }
    for (size_t i = 0; !rc && i < E->nlocs; i++)
        if (lists[i].status)
            rc = gs_err_set(e, GS_EHTTP, "location %s: listing objects failed: %s",
                            E->locs[i]->cfg->id, lists[i].msg);
    /* 2. schemas */
    size_t nf = 0, capf = 0;
    struct fetch *fs = NULL;
    for (size_t i = 0; !rc && i < E->nlocs; i++) {
        char **keys = NULL;
        size_t nk = 0;
        rc = engine_choose_objects(E, E->locs[i], lists[i].json, &keys, &nk, e);
        for (size_t k = 0; k < nk; k++) {
            if (!rc && nf == capf) {
                capf = capf ? capf * 2 : 16;
                struct fetch *nfs = realloc(fs, capf * sizeof *fs);
                if (!nfs)
                    rc = gs_err_set(e, GS_ENOMEM, "out of memory");
                else
                    fs = nfs;
            }
            if (rc) {
                free(keys[k]);
                continue;
            }
            fs[nf++] = (struct fetch){
                .E = E, .L = E->locs[i], .key = keys[k], .fam = fam_for_key(keys[k])};
        }
        free(keys);
    }
    for (size_t i = 0; i < E->nlocs; i++)
        cJSON_Delete(lists[i].json);
    free(lists);
    pending = 0;
    done = false;
    for (size_t i = 0; !rc && i < nf; i++) {
        fs[i].pending = &pending;
        fs[i].done = &done;
        pending++;
        if ((rc = fs[i].fam->fetch_schema(fs[i].L->hl, fs[i].key, RL_PRIO_SCHEMA, on_schema, &fs[i],
                                          e)))
            pending--;
    }
    if (pending == 0)
        done = true;
    engine_wait(E, &done);
    for (int64_t since = 0; !rc;) {
        size_t nr = 0;
        for (size_t i = 0; i < nf; i++)
            nr += fs[i].status == HL_RETRYABLE + 1;
        if (!outage_wait(E, &since, nr))
            break;
        done = false;
        for (size_t i = 0; !rc && i < nf; i++) {
            if (fs[i].status != HL_RETRYABLE + 1)
                continue;
            fs[i].status = 0;
            pending++;
            if ((rc = fs[i].fam->fetch_schema(fs[i].L->hl, fs[i].key, RL_PRIO_SCHEMA, on_schema,
                                              &fs[i], e)))
                pending--;
        }
        if (pending == 0)
            done = true;
        engine_wait(E, &done);
    }
    /* One object's definition failing (an outage that outlasted the retries, an answer the
     * parser cannot read) leaves out that object only. */
    for (size_t i = 0; !rc && i < nf; i++) {
        if (!fs[i].status)
            continue;
        char why[1200];
        snprintf(why, sizeof why, "fetching the schema of %s failed: %s", fs[i].key, fs[i].msg);
        if ((rc = note_unavailable(E, fs[i].L, fs[i].key, why, e)))
            break;
    }
    /* 3. plan (and apply) per location: one plan may hold several objects, not the same object
     * twice, and the next location's plan must see what this one created. */
    strmap shared = STRMAP_INIT; /* share_sql */
    for (size_t li = 0; !rc && li < E->nlocs; li++) {
        struct engine_location *L = E->locs[li];
        ddl_plan plan;
        ddl_plan_init(&plan);
        schema_object **models = calloc(nf ? nf : 1, sizeof *models);
        size_t nm = 0;
        if (!models)
            rc = gs_err_set(e, GS_ENOMEM, "out of memory");
        size_t *fi = calloc(nf ? nf : 1, sizeof *fi); /* models[k] is the schema of fs[fi[k]] */
        if (!fi && !rc)
            rc = gs_err_set(e, GS_ENOMEM, "out of memory");
        for (size_t i = 0; !rc && i < nf; i++) {
            if (fs[i].L != L || fs[i].status)
                continue;
            schema_object *obj = NULL;
            if ((rc = fs[i].fam->parse_schema(fs[i].json, fs[i].key, &obj, e))) {
                char why[1200];
                snprintf(why, sizeof why, "the schema of %s cannot be read: %s", fs[i].key, e->msg);
                gs_err_clear(e);
                if ((rc = note_unavailable(E, L, fs[i].key, why, e)))
                    break;
                continue;
            }
            fi[nm] = i;
            models[nm++] = obj;
        }
        /* Other processes of the same database plan and apply at the same time (leases: every
         * process reads every location's schemas): planned under the lock, a plan reads what
         * they committed, and nobody changes the tables before it is applied. */
        bool locked = !rc && apply && nm && !(rc = ddl_lock(E->db, e));
        for (size_t k = 0; !rc && k < nm; k++) {
            size_t i = fi[k];
            ddl_settings s;
            ddl_field_override *ov;
            settings_for(E, fs[i].key, L->cfg->id, &s, &ov);
            rc = ddl_plan_object(E->db, models[k], &s, &plan, e);
            free(ov);
            if (rc)
                gs_err_wrap(e, "location %s, object %s", L->cfg->id, fs[i].key);
        }
        free(fi);
        if (!rc && plan_out) {
            sbuf_printf(plan_out, "-- location %s\n", L->cfg->id);
            ddl_plan_print(&plan, plan_out);
            for (size_t w = 0; w < plan.n_warnings; w++)
                sbuf_printf(plan_out, "warning: %s\n", plan.warnings[w]);
        }
        if (locked && rc)
            ddl_unlock(E->db);
        else if (locked)
            rc = ddl_apply_locked(E->db, &plan, e); /* commits, also an empty plan */
        for (size_t w = 0; w < plan.n_warnings && apply; w++)
            log_event(E->log, LOG_WARN, "schema.warning", "location", L->cfg->id, "msg",
                      plan.warnings[w], NULL);
        ddl_plan_free(&plan);
        if (!rc && apply) {
            L->objects = calloc(nm ? nm : 1, sizeof *L->objects);
            if (!L->objects)
                rc = gs_err_set(e, GS_ENOMEM, "out of memory");
        }
        for (size_t i = 0; i < nm; i++) {
            if (rc || !apply) {
                schema_object_free(models[i]);
                continue;
            }
            struct engine_object *eo = &L->objects[L->n_objects];
            eo->loc = L;
            eo->key = strdup(models[i]->key);
            eo->settings = cfg_object_get(E->cfg, models[i]->key);
            eo->pool_index = (int)(li * 7 + L->n_objects);
            L->n_objects++;
            rc = ps_model_new(E->db, models[i], L->cfg->id, &eo->model, e);
            if (!rc) /* one copy of the SQL texts for the locations with the same object */
                share_sql(&shared, eo->model);
            if (!rc) /* every time: a new field is a new pushed column; idempotent */
                rc = push_service_triggers(E, eo, e);
        }
        free(models);
    }
    for (size_t i = 0; i < nf; i++) {
        free(fs[i].key);
        cJSON_Delete(fs[i].json);
    }
    free(fs);
    strmap_free(&shared);
    return rc;
}

void *engine_service_state(struct engine *E, const char *name)
{
    for (size_t i = 0; E->service_state && i < engine_n_services; i++)
        if (strcmp(engine_services[i].name, name) == 0)
            return E->service_state[i];
    return NULL;
}

int engine_db_revive(struct engine *E, gs_err *e)
{
    return db_revive(E->db, session_sql, e);
}

/* ---- schema refresh off the loop ---- */

/* Lock waits of the refresh DDL: never long (a user's transaction may hold the table for hours),
 * and the job tries again after SCHEMA_RETRY_MS. */
#define SCHEMA_LOCK_TIMEOUT "'2s'"
#define SCHEMA_RETRY_MS     5000

struct engine_schema_job {
    uv_work_t req;
    struct engine *E;
    struct engine_object *eo;
    engine_schema_cb cb;
    void *ud;
    struct engine_schema_job *next;
    int attempts;
    /* inputs, copied on the loop: the configuration may be reloaded meanwhile */
    schema_object *obj;
    char *schema, *table, *location_id, *default_location;
    ddl_field_override *ov;
    size_t nov;
    enum cfg_direction direction;
    bool has_settings;
    /* outputs of the thread */
    int rc;
    gs_err err;
    bool changed, lock_timeout;
    ps_model *model;
    char **warnings;
    size_t nwarnings;
};

static void sj_free(struct engine_schema_job *j)
{
    schema_object_free(j->obj);
    free(j->schema);
    free(j->table);
    free(j->location_id);
    free(j->default_location);
    for (size_t i = 0; i < j->nov; i++) {
        free((char *)j->ov[i].field_key);
        free((char *)j->ov[i].type);
    }
    free(j->ov);
    for (size_t i = 0; i < j->nwarnings; i++)
        free(j->warnings[i]);
    free(j->warnings);
    ps_model_unref(j->model);
    free(j);
}

static char *xdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* Worker thread: nothing here touches the loop, the log or the engine's other connections. */
static void sj_work(uv_work_t *req)
{
    struct engine_schema_job *j = req->data;
    struct engine *E = j->E;
    gs_err *e = &j->err;
    if (E->ddl_db && PQstatus(E->ddl_db) != CONNECTION_OK) {
        PQfinish(E->ddl_db);
        E->ddl_db = NULL;
    }
    if (!E->ddl_db) {
        /* its own session (session-wide lock_timeout): [database] session_url when set */
        j->rc =
            db_connect(E->cfg->database.session_url ? E->cfg->database.session_url : E->conninfo,
                       &E->ddl_db, e);
        if (!j->rc)
            j->rc = db_exec(E->ddl_db, session_sql, e);
        if (j->rc) {
            PQfinish(E->ddl_db);
            E->ddl_db = NULL;
            return;
        }
        PQsetNoticeProcessor(E->ddl_db, silent_notice, NULL);
    }
    PGconn *c = E->ddl_db;
    ddl_settings s = {.schema = j->schema,
                      .table = j->table,
                      .location_id = j->location_id,
                      .overrides = j->ov,
                      .n_overrides = j->nov,
                      .types = E->types};
    ddl_plan plan;
    ddl_plan_init(&plan);
    /* every lock this session waits for (DDL, catalog reads of a locked table) times out */
    j->rc = db_exec(c, "SET lock_timeout = " SCHEMA_LOCK_TIMEOUT, e);
    /* planned under the schema lock: another process may be applying the same table now
     * (ddl_lock) */
    bool locked = !j->rc && !(j->rc = ddl_lock(c, e));
    if (!j->rc)
        j->rc = ddl_plan_object(c, j->obj, &s, &plan, e);
    if (locked && j->rc) {
        ddl_unlock(c);
    } else if (locked) {
        j->rc = ddl_apply_locked(c, &plan, e);
        j->changed = !j->rc && ddl_plan_ddl_count(&plan) > 0;
    }
    if (!j->rc && plan.n_warnings && (j->warnings = calloc(plan.n_warnings, sizeof *j->warnings)))
        for (size_t i = 0; i < plan.n_warnings; i++)
            if ((j->warnings[j->nwarnings] = strdup(plan.warnings[i])))
                j->nwarnings++;
    ddl_plan_free(&plan);
    if (!j->rc) {
        j->rc = ps_model_new(c, j->obj, j->location_id, &j->model, e);
        j->obj = NULL; /* owned by ps_model_new, also on failure */
    }
    if (!j->rc && j->has_settings) { /* a new field is a new pushed column; idempotent */
        trig_settings ts = {.direction = j->direction, .default_location_id = j->default_location};
        j->rc = triggers_apply(c, j->model->obj, &ts, e);
    }
    gs_err ignore = {0};
    db_exec(c, "RESET lock_timeout", &ignore);
    /* lock_not_available (55P03): the message is all db.h keeps */
    j->lock_timeout = j->rc && strstr(e->msg, "lock timeout") != NULL;
}

static void sj_next(struct engine *E);

static void sj_finish(struct engine_schema_job *j, int rc, const char *msg)
{
    if (j->cb)
        j->cb(j->eo, rc, j->changed, msg, j->ud);
    sj_free(j);
}

static void sj_on_retry(uv_timer_t *t)
{
    struct engine *E = t->data;
    /* deferred jobs go back to the end of the queue */
    while (E->sj_deferred) {
        struct engine_schema_job *j = E->sj_deferred;
        E->sj_deferred = j->next;
        j->next = NULL;
        if (E->sj_tail)
            E->sj_tail->next = j;
        else
            E->sj_head = j;
        E->sj_tail = j;
    }
    sj_next(E);
}

static void sj_after(uv_work_t *req, int status)
{
    struct engine_schema_job *j = req->data;
    struct engine *E = j->E;
    E->sj_running = NULL;
    struct engine_object *eo = j->eo;
    const char *loc = eo->loc->cfg->id;
    if (status == UV_ECANCELED) {
        sj_finish(j, GS_ESTATE, "cancelled");
    } else if (j->rc && j->lock_timeout && !E->stopping && j->cb) {
        /* a lock held elsewhere (a user's transaction): try again later, meanwhile the object's
         * pages wait and everything else goes on */
        j->attempts++;
        if (j->attempts == 1 || j->attempts % 12 == 0)
            log_event(E->log, LOG_WARN, "schema.apply_deferred", "location", loc, "object", eo->key,
                      "msg", "a lock on the table was not granted within 2 s; retrying", "error",
                      j->err.msg, NULL);
        gs_err_clear(&j->err);
        j->rc = 0;
        j->lock_timeout = false;
        j->next = E->sj_deferred;
        E->sj_deferred = j;
        if (!E->sj_timer_on) {
            uv_timer_init(&E->loop.uv, &E->sj_timer);
            E->sj_timer.data = E;
            E->sj_timer_on = true;
        }
        if (!uv_is_active((uv_handle_t *)&E->sj_timer))
            uv_timer_start(&E->sj_timer, sj_on_retry, SCHEMA_RETRY_MS, 0);
    } else if (j->rc) {
        sj_finish(j, j->rc, j->err.msg);
    } else {
        for (size_t i = 0; i < j->nwarnings; i++)
            log_event(E->log, LOG_WARN, "schema.warning", "location", loc, "msg", j->warnings[i],
                      NULL);
        if (j->changed)
            E->ctr.schema_changes++;
        ps_model_unref(eo->model);
        eo->model = j->model;
        j->model = NULL;
        push_service_model_changed(engine_service_state(E, "push"), eo);
        if (j->attempts)
            log_event(E->log, LOG_INFO, "schema.apply_resumed", "location", loc, "object", eo->key,
                      NULL);
        sj_finish(j, 0, NULL);
    }
    sj_next(E);
}

static void sj_next(struct engine *E)
{
    while (!E->sj_running && E->sj_head) {
        struct engine_schema_job *j = E->sj_head;
        E->sj_head = j->next;
        if (!E->sj_head)
            E->sj_tail = NULL;
        j->next = NULL;
        if (E->stopping || !j->cb) {
            sj_finish(j, GS_ESTATE, "stopping");
            continue;
        }
        j->req.data = j;
        int r = uv_queue_work(&E->loop.uv, &j->req, sj_work, sj_after);
        if (r) {
            sj_finish(j, GS_EIO, uv_strerror(r));
            continue;
        }
        E->sj_running = j;
    }
}

/* Stop requested: jobs that wait (queued or deferred) end now; a running one completes. */
static void sj_cancel_waiting(struct engine *E)
{
    if (E->sj_timer_on)
        uv_timer_stop(&E->sj_timer);
    struct engine_schema_job *lists[2] = {E->sj_head, E->sj_deferred};
    E->sj_head = E->sj_tail = E->sj_deferred = NULL;
    for (int k = 0; k < 2; k++)
        while (lists[k]) {
            struct engine_schema_job *j = lists[k];
            lists[k] = j->next;
            sj_finish(j, GS_ESTATE, "stopping");
        }
}

void engine_schema_forget(struct engine *E, void *ud)
{
    struct engine_schema_job *lists[3] = {E->sj_head, E->sj_deferred, E->sj_running};
    for (int k = 0; k < 3; k++)
        for (struct engine_schema_job *j = lists[k]; j; j = k < 2 ? j->next : NULL)
            if (j->ud == ud)
                j->cb = NULL;
}

int engine_apply_schema_async(struct engine *E, struct engine_object *eo, schema_object *obj,
                              engine_schema_cb cb, void *ud, gs_err *e)
{
    struct engine_schema_job *j = calloc(1, sizeof *j);
    if (!j) {
        schema_object_free(obj);
        return gs_err_set(e, GS_ENOMEM, "out of memory");
    }
    j->E = E;
    j->eo = eo;
    j->cb = cb;
    j->ud = ud;
    j->obj = obj;
    ddl_settings s;
    ddl_field_override *ov;
    settings_for(E, eo->key, eo->loc->cfg->id, &s, &ov);
    bool oom = false;
    j->schema = xdup(s.schema);
    j->table = xdup(s.table);
    j->location_id = xdup(s.location_id);
    oom |= (s.schema && !j->schema) || (s.table && !j->table) || !j->location_id;
    if (s.n_overrides && (j->ov = calloc(s.n_overrides, sizeof *j->ov))) {
        for (size_t i = 0; i < s.n_overrides; i++) {
            j->ov[i].field_key = xdup(ov[i].field_key);
            j->ov[i].type = xdup(ov[i].type);
        }
        j->nov = s.n_overrides;
    }
    oom |= s.n_overrides && !j->ov;
    free(ov);
    if (eo->settings) {
        j->has_settings = true;
        j->direction = eo->settings->direction;
        j->default_location = xdup(push_service_default_location(E, eo->key));
    }
    if (oom) {
        sj_free(j);
        return gs_err_set(e, GS_ENOMEM, "out of memory");
    }
    if (E->sj_tail)
        E->sj_tail->next = j;
    else
        E->sj_head = j;
    E->sj_tail = j;
    sj_next(E);
    return 0;
}

/* ---- run, signals ---- */

static void stop_deadline(uv_timer_t *t)
{
    struct engine *E = t->data;
    log_event(E->log, LOG_WARN, "engine.stop_deadline", "msg",
              "workers did not drain in time; exiting (uncommitted pages roll back and are "
              "fetched again next time)",
              NULL);
    engine_stop(E, 0);
}

void engine_request_stop(struct engine *E)
{
    if (E->stopping)
        return;
    E->stopping = true;
    log_event(E->log, LOG_INFO, "engine.stopping", NULL);
    sj_cancel_waiting(E);
    uv_timer_init(&E->loop.uv, &E->stop_timer);
    E->stop_timer.data = E;
    E->stop_timer_on = true;
    uv_timer_start(&E->stop_timer, stop_deadline, 4000, 0);
    if (E->on_stop_request)
        E->on_stop_request(E, E->on_stop_ud);
    else
        engine_stop(E, 0);
}

void engine_stop(struct engine *E, int exit_code)
{
    E->exit_code = exit_code;
    E->stopping = true;
    if (E->stop_timer_on)
        uv_timer_stop(&E->stop_timer);
    gs_loop_stop(&E->loop);
    E->loop_done = true;
}

static void reload(struct engine *E)
{
    struct cfg nc;
    gs_err err = {0};
    if (cfg_load(E->ctx->config_path, &nc, &err)) {
        log_event(E->log, LOG_ERROR, "config.reload_failed", "error", err.msg, "msg",
                  "keeping the running configuration", NULL);
        return;
    }
    /* Settings read at use time are taken; the set of locations and objects, tokens, the
     * database and the API address need a restart. */
    struct cfg *c = &E->ctx->cfg;
    c->pull = nc.pull;
    c->log.level = nc.log.level;
    if (!E->ctx->log_format_set)
        log_set_format(E->log, nc.log.format);
    log_set_level(E->log, nc.log.level);
    for (size_t i = 0; i < c->n_objects; i++) {
        const struct cfg_object *no = cfg_object_get(&nc, c->objects[i].key);
        c->objects[i].poll_interval_ms = no->poll_interval_ms;
    }
    c->object_defaults.poll_interval_ms = nc.object_defaults.poll_interval_ms;
    cfg_register_secrets(&nc, E->log);
    cfg_free(&nc);
    log_event(E->log, LOG_INFO, "config.reloaded", "path", E->ctx->config_path, "msg",
              "[pull] settings, poll intervals and [log] level taken; other changes need a "
              "restart",
              NULL);
    if (E->on_reload)
        E->on_reload(E, E->on_stop_ud);
}

static void on_signal(uv_signal_t *s, int signum)
{
    struct engine *E = s->data;
    if (signum == SIGHUP) {
        reload(E);
        return;
    }
    char sig[8];
    snprintf(sig, sizeof sig, "%d", signum);
    log_event(E->log, LOG_INFO, "engine.signal", "signal", sig, NULL);
    engine_request_stop(E);
}

void engine_signals(struct engine *E)
{
    if (E->sig_on)
        return;
    static const int sigs[3] = {SIGTERM, SIGINT, SIGHUP};
    for (int i = 0; i < 3; i++) {
        uv_signal_init(&E->loop.uv, &E->sig[i]);
        E->sig[i].data = E;
        uv_signal_start(&E->sig[i], on_signal, sigs[i]);
    }
    E->sig_on = true;
}

int engine_run(struct engine *E, bool with_services)
{
    engine_signals(E);
    size_t nserv = engine_n_services;
    E->serving = with_services;
    if (!E->service_state)
        E->service_state = calloc(engine_n_services + 1, sizeof *E->service_state);
    if (!E->service_state) {
        E->exit_code = 1;
        return 1;
    }
    for (size_t i = 0; i < nserv; i++) {
        gs_err err = {0};
        if (!with_services && !engine_services[i].one_shot)
            continue;
        if (engine_services[i].start(E, &E->service_state[i], &err)) {
            log_event(E->log, LOG_ERROR, "engine.service_failed", "service",
                      engine_services[i].name, "error", err.msg, NULL);
            for (size_t j = i; j-- > 0;) /* those already started */
                if (with_services || engine_services[j].one_shot)
                    engine_services[j].stop(E->service_state[j]);
            E->exit_code = 1;
            return 1;
        }
    }
    while (!E->loop_done)
        gs_loop_run(&E->loop);
    for (size_t i = nserv; i-- > 0;)
        if (with_services || engine_services[i].one_shot) {
            /* a schema job completing while services stop must not find a stopped one */
            void *st = E->service_state[i];
            E->service_state[i] = NULL;
            engine_services[i].stop(st);
        }
    return E->exit_code;
}
