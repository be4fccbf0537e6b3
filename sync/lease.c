/* lease.c - see lease.h. */
#include "lease.h"

#include "db.h"
#include "log.h"
#include "pgasync.h"
#include "sbuf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct lease_svc {
    struct engine *E;
    pga_conn *db;
    uv_timer_t *beat;     /* heartbeat period */
    uv_timer_t *deadline; /* the leases end here unless a tick renews them */
    sbuf ids;             /* text[] literal of the locations */
    /* the locations sorted by id: a tick's rows are found by binary search */
    struct engine_location **by_id;
    bool *keep; /* per by_id entry, filled while reading a tick */
    size_t n;   /* entries of by_id: the locations offered (lease_location_added adds) */
    bool balance;
    bool ticking; /* a tick in flight */
    uint64_t sent_ms;
    bool failing; /* the last tick failed (log once per streak) */
    bool closing, released;
    int inflight;
    size_t held;
} lease_svc;

static const char tick_sql[] =
    "SELECT location_id, keep FROM ghlsync.lease_tick($1, $2, $3::integer, $4, $5::bigint, "
    "$6::text[], $7::boolean)";

static void identity(struct engine *E, const char *kind)
{
    struct engine_lease *l = &E->lease;
    if (!l->holder[0]) {
        if (gethostname(l->host, sizeof l->host - 1) != 0 || !l->host[0])
            snprintf(l->host, sizeof l->host, "?");
        l->pid = (int)getpid();
        /* host and pid may come back (a restart in a container): the start time tells apart */
        snprintf(l->holder, sizeof l->holder, "%s:%d:%llu", l->host, l->pid,
                 (unsigned long long)gs_wall_ms());
    }
    l->kind = kind;
}

static void id_list(struct engine *E, sbuf *b)
{
    /* ids are validated identifiers (letters, digits, '-', '_', '.'): no quoting needed */
    for (size_t i = 0; i < E->nlocs; i++)
        sbuf_printf(b, "%s\"%s\"", i ? "," : "{", E->locs[i]->cfg->id);
    sbuf_puts(b, E->nlocs ? "}" : "{}");
}

int lease_take_once(struct engine *E, const char *kind, gs_err *e)
{
    identity(E, kind);
    sbuf ids = SBUF_INIT;
    id_list(E, &ids);
    if (sbuf_failed(&ids))
        return gs_err_set(e, GS_ENOMEM, "out of memory");
    char pid[16], ttl[24];
    snprintf(pid, sizeof pid, "%d", E->lease.pid);
    snprintf(ttl, sizeof ttl, "%lld", (long long)E->cfg->leases.ttl_ms);
    const char *p[6] = {E->lease.holder, E->lease.host, pid, kind, ttl, sbuf_str(&ids)};
    PGresult *r;
    int rc = db_query(E->db,
                      "SELECT location_id, host, pid, kind, "
                      "to_char(since AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || ' UTC' "
                      "FROM ghlsync.lease_take($1, $2, $3::integer, $4, $5::bigint, $6::text[])",
                      6, p, &r, e);
    sbuf_free(&ids);
    if (rc) {
        E->lease.kind = NULL;
        return rc;
    }
    int n = PQntuples(r);
    if (n == 0) {
        PQclear(r);
        return 0;
    }
    E->lease.kind = NULL;
    sbuf m = SBUF_INIT;
    sbuf_printf(&m, "not started: ");
    for (int i = 0; i < n && i < 3; i++)
        sbuf_printf(&m, "%slocation %s is served by `ghlsync %s` on host %s (pid %s) since %s",
                    i ? "; " : "", PQgetvalue(r, i, 0), PQgetvalue(r, i, 3), PQgetvalue(r, i, 1),
                    PQgetvalue(r, i, 2), PQgetvalue(r, i, 4));
    if (n > 3)
        sbuf_printf(&m, "; and %d more location(s)", n - 3);
    sbuf_puts(&m, "; that process syncs them (stop it first, or use --location for others)");
    PQclear(r);
    rc = gs_err_set(e, GS_ESTATE, "%s", sbuf_failed(&m) ? "locations held" : sbuf_str(&m));
    sbuf_free(&m);
    return rc;
}

static int cmp_loc(const void *a, const void *b)
{
    const struct engine_location *const *x = a, *const *y = b;
    return strcmp((*x)->cfg->id, (*y)->cfg->id);
}

static long find_loc(const lease_svc *s, const char *id)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(s->by_id[mid]->cfg->id, id);
        if (c == 0)
            return (long)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

static void svc_free(lease_svc *s)
{
    sbuf_free(&s->ids);
    free(s->by_id);
    free(s->keep);
    free(s);
}

/* The last callback of a closing service frees it. */
static bool settle(lease_svc *s)
{
    if (!s->closing)
        return false;
    if (s->inflight == 0 && !s->db)
        svc_free(s);
    return true;
}

/* Set each location's state from s->keep; tell the engine about each change. */
static void apply(lease_svc *s)
{
    struct engine *E = s->E;
    size_t gained = 0, lost = 0, held = 0;
    for (size_t i = 0; i < s->n; i++) {
        struct engine_location *L = s->by_id[i];
        bool h = s->keep[i] && !L->uninstalled; /* agency.h: an uninstalled app stays parked */
        held += h;
        if (L->held == h)
            continue;
        L->held = h;
        if (h)
            gained++;
        else
            lost++;
        log_event(E->log, LOG_DEBUG, h ? "lease.gained" : "lease.lost", "location", L->cfg->id,
                  NULL);
        if (E->on_hold)
            E->on_hold(E, L, E->on_hold_ud);
    }
    s->held = held;
    if (gained || lost) {
        char a[24], b[24], c[24];
        snprintf(a, sizeof a, "%zu", held);
        snprintf(b, sizeof b, "%zu", gained);
        snprintf(c, sizeof c, "%zu", lost);
        log_event(E->log, LOG_INFO, "lease.changed", "holder", E->lease.holder, "held", a, "gained",
                  b, "released", c, NULL);
    }
}

static void on_deadline(uv_timer_t *t)
{
    lease_svc *s = t->data;
    if (s->closing || !s->balance)
        return;
    /* No tick came back in time: another process may take these locations now. */
    if (s->held)
        log_event(s->E->log, LOG_WARN, "lease.expired", "msg",
                  "the leases could not be renewed in time; serving no location until the "
                  "database answers",
                  NULL);
    memset(s->keep, 0, s->n * sizeof *s->keep);
    apply(s);
}

static void on_tick(pga_conn *c, PGresult *const *res, int nres, const pga_error *err, void *ud)
{
    (void)c;
    lease_svc *s = ud;
    s->inflight--;
    s->ticking = false;
    if (settle(s))
        return;
    struct engine *E = s->E;
    if (err || nres < 1) {
        if (!s->failing)
            log_event(E->log, LOG_WARN, "lease.tick_failed", "error",
                      err ? err->err.msg : "no result", NULL);
        s->failing = true;
        return;
    }
    if (s->failing)
        log_event(E->log, LOG_INFO, "lease.tick_ok", NULL);
    s->failing = false;
    /* valid until the server's now() + ttl; that now() came after sent_ms */
    uint64_t now = gs_loop_now_ms(&E->loop), end = s->sent_ms + (uint64_t)E->cfg->leases.ttl_ms;
    uv_timer_start(s->deadline, on_deadline, end > now ? end - now : 0, 0);
    if (!s->balance)
        return; /* a one-shot: held from the start */
    memset(s->keep, 0, s->n * sizeof *s->keep);
    for (int i = 0, n = PQntuples(res[0]); i < n; i++) {
        long k = find_loc(s, PQgetvalue(res[0], i, 0));
        if (k >= 0)
            s->keep[k] = PQgetvalue(res[0], i, 1)[0] == 't';
    }
    apply(s);
}

static void send_tick(lease_svc *s)
{
    if (s->ticking || s->closing)
        return;
    struct engine *E = s->E;
    char pid[16], ttl[24];
    snprintf(pid, sizeof pid, "%d", E->lease.pid);
    snprintf(ttl, sizeof ttl, "%lld", (long long)E->cfg->leases.ttl_ms);
    const char *p[7] = {E->lease.holder,   E->lease.host,         pid, E->lease.kind, ttl,
                        sbuf_str(&s->ids), s->balance ? "t" : "f"};
    gs_err e = {0};
    s->sent_ms = gs_loop_now_ms(&E->loop);
    if (pga_query(s->db, tick_sql, 7, p, on_tick, s, &e)) {
        log_event(E->log, LOG_WARN, "lease.tick_failed", "error", e.msg, NULL);
        return;
    }
    s->ticking = true;
    s->inflight++;
}

static void on_beat(uv_timer_t *t)
{
    send_tick(t->data);
}

int lease_service_start(struct engine *E, void **state, gs_err *e)
{
    *state = NULL;
    if (E->serving)
        identity(E, "run");
    else if (!E->lease.kind)
        return 0; /* a command that takes no lease */
    lease_svc *s = calloc(1, sizeof *s);
    if (!s)
        return gs_err_set(e, GS_ENOMEM, "out of memory");
    s->E = E;
    s->balance = E->serving;
    id_list(E, &s->ids);
    s->by_id = calloc(E->nlocs ? E->nlocs : 1, sizeof *s->by_id);
    s->keep = calloc(E->nlocs ? E->nlocs : 1, sizeof *s->keep);
    s->beat = calloc(1, sizeof *s->beat);
    s->deadline = calloc(1, sizeof *s->deadline);
    if (sbuf_failed(&s->ids) || !s->by_id || !s->keep || !s->beat || !s->deadline) {
        free(s->beat);
        free(s->deadline);
        svc_free(s);
        return gs_err_set(e, GS_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < E->nlocs; i++)
        s->by_id[i] = E->locs[i];
    s->n = E->nlocs;
    qsort(s->by_id, s->n, sizeof *s->by_id, cmp_loc);
    /* its own connection: a heartbeat never queues behind page writes */
    int rc = pga_open(&E->loop, E->conninfo, &s->db, e);
    if (rc) {
        free(s->beat);
        free(s->deadline);
        svc_free(s);
        return rc;
    }
    uv_timer_init(&E->loop.uv, s->beat);
    uv_timer_init(&E->loop.uv, s->deadline);
    s->beat->data = s->deadline->data = s;
    uint64_t hb = (uint64_t)E->cfg->leases.heartbeat_ms;
    uv_timer_start(s->beat, on_beat, 0, hb);
    char t[24], h[24];
    snprintf(t, sizeof t, "%lld", (long long)E->cfg->leases.ttl_ms);
    snprintf(h, sizeof h, "%llu", (unsigned long long)hb);
    log_event(E->log, LOG_INFO, "lease.started", "holder", E->lease.holder, "kind", E->lease.kind,
              "ttl_ms", t, "heartbeat_ms", h, NULL);
    *state = s;
    return 0;
}

void lease_location_added(void *state, struct engine_location *L)
{
    lease_svc *s = state;
    struct engine *E = s->E;
    struct engine_location **nb = realloc(s->by_id, (s->n + 1) * sizeof *nb);
    if (nb)
        s->by_id = nb;
    bool *nk = nb ? realloc(s->keep, (s->n + 1) * sizeof *nk) : NULL;
    if (nk)
        s->keep = nk;
    sbuf ids = SBUF_INIT;
    if (nk) {
        size_t at = s->n;
        while (at > 0 && strcmp(s->by_id[at - 1]->cfg->id, L->cfg->id) > 0)
            at--;
        memmove(s->by_id + at + 1, s->by_id + at, (s->n - at) * sizeof *s->by_id);
        s->by_id[at] = L;
        s->keep[s->n++] = false; /* meaningful only while reading a tick */
        id_list(E, &ids);
    }
    if (!nk || sbuf_failed(&ids)) {
        sbuf_free(&ids);
        log_event(E->log, LOG_ERROR, "lease.location_failed", "location", L->cfg->id, "error",
                  "out of memory", NULL);
        return;
    }
    sbuf_free(&s->ids);
    s->ids = ids;
    if (!s->balance) { /* a one-shot holds what it took at the start; nothing joins it */
        return;
    }
    /* offered now rather than at the next heartbeat: the tick takes it if this process has
     * room in its share; several processes that all offer it are serialized by the tick's lock,
     * and the first to insert the lease row holds it */
    send_tick(s);
}

static void on_release(pga_conn *c, PGresult *const *res, int nres, const pga_error *err, void *ud)
{
    (void)c;
    (void)res;
    (void)nres;
    lease_svc *s = ud;
    s->inflight--;
    if (err)
        log_event(s->E->log, LOG_WARN, "lease.release_failed", "error", err->err.msg, NULL);
    s->released = true;
}

static void on_bound(uv_timer_t *t)
{
    *((bool *)t->data) = true;
}

void lease_service_stop(void *state)
{
    lease_svc *s = state;
    if (!s)
        return;
    struct engine *E = s->E;
    uv_timer_stop(s->beat);
    uv_timer_stop(s->deadline);
    gs_uv_close_free((uv_handle_t *)s->beat);
    gs_uv_close_free((uv_handle_t *)s->deadline);
    /* Let go now, so the others take over at their next heartbeat rather than after ttl. A
     * database that does not answer within 2 s: the leases expire by themselves. */
    const char *p[1] = {E->lease.holder};
    gs_err e = {0};
    if (pga_query(s->db, "SELECT ghlsync.lease_release($1)", 1, p, on_release, s, &e) == 0) {
        s->inflight++;
        bool timed_out = false;
        uv_timer_t t;
        uv_timer_init(&E->loop.uv, &t);
        t.data = &timed_out;
        uv_timer_start(&t, on_bound, 2000, 0);
        while (!s->released && !timed_out)
            uv_run(&E->loop.uv, UV_RUN_ONCE);
        uv_close((uv_handle_t *)&t, NULL);
        uv_run(&E->loop.uv, UV_RUN_NOWAIT);
        if (s->released) {
            char n[24];
            snprintf(n, sizeof n, "%zu", s->held);
            log_event(E->log, LOG_INFO, "lease.released", "holder", E->lease.holder, "held", n,
                      NULL);
        }
    }
    s->closing = true;
    pga_conn *db = s->db;
    s->db = NULL;
    s->inflight++; /* pga_close may run the callbacks of queued work right here */
    pga_close(db);
    s->inflight--;
    settle(s);
}
