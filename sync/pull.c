/* pull.c - see pull.h. */
#include "pull.h"

#include "lease.h"

#include "db.h"
#include "family.h"
#include "progress.h"
#include "pullsnap.h"
#include "quarantine.h"
#include "reconcile.h"

#include <stdlib.h>
#include <string.h>

enum imode { IM_FILTER, IM_SORTED, IM_DIFF };
static const char *const imode_name[] = {"incremental", "sorted_scan", "full_diff"};

#define LOG_EVERY_PAGES 50
/* A COPY transaction of a first backfill holds up to this many API pages, records and bytes of
 * COPY data: PostgreSQL's cost per transaction (BEGIN, guard, COPY start, cursor update, commit,
 * round trips) is paid once per group instead of per page (README "write path" has the figures).
 * The byte bound keeps a group of wide records, and the write window's max_writes groups in
 * flight, within the memory budget; a group of 1,000 contacts is about 640 kB in text, a fifth
 * more in binary (psql's exports of the same 100,000 contacts: 64 MB text, 78 MB binary).
 * Records pages hold 100 records, contacts pages 500; a smaller [pull] page_size keeps groups
 * (and what a kill -9 makes the next run fetch again) small too. */
#define PULL_GROUP_PAGES   10
#define PULL_GROUP_RECORDS 1000
#define PULL_GROUP_BYTES   ((size_t)4 << 20)
#define MAX_RETRIES        5

struct pull_worker;
struct lane;

/* A page write in flight (or committed while an earlier one is not). */
struct wslot {
    struct lane *l;
    long long seq;
    char *cursor; /* searchAfter of the page's last record */
    long long n;
    bool busy, committed;
    bool resolves; /* the transaction ends with qr_sql_resolve (quarantine rows now stored) */
    uint64_t t0;   /* uv_hrtime at submission */
    /* a page written by COPY is kept until it commits: a failed COPY writes it again with the
     * upsert (pullstore.h ps_page_copy_stmts) */
    ps_page page;
    bool has_page;
    char copied; /* the page went by COPY: 'b' binary, 't' text; 0 by the upsert */
};

struct lane {
    struct pull_worker *w;
    bool full; /* full scan lane (else incremental) */
    bool active, fetching, ended, failed;
    int writing; /* statements in flight (page writes and scan start/end) */
    /* Page writes: pages are numbered 1, 2, ...; up to max_writes of them are in flight, on
     * several connections (pullstore.h ps_write_opts: the resume point only moves to a page
     * whose predecessors are all committed). */
    int max_writes;
    struct wslot *slot;  /* max_writes of them (a ring: page seq % max_writes) */
    long long seq_next;  /* number of the last page submitted */
    long long seq_done;  /* pages 1..seq_done are committed */
    long long seq_saved; /* the highest page number a submitted transaction saves */
    ps_page held;
    bool has_held;
    /* Pipelining (on_page): an answer whose next page is already asked for, built on the loop's
     * second idle turn after (pend_tick), once the request is on the wire. */
    hl_answer pend;
    bool has_pend, pend_queued;
    uint64_t pend_tick;
    struct lane *pend_next;
    /* COPY pages gathered into one transaction (page_arrived): a first backfill writes about
     * PULL_GROUP_RECORDS records per transaction, not one API page */
    ps_page grp;
    bool has_grp;
    int grp_pages;
    qr_salvage held_q; /* quarantine rows that go with `held` (n_bad = 0: none) */
    int prio;
    /* paging */
    cJSON *after;      /* searchAfter for the next request; NULL = from the start */
    char *last_cursor; /* JSON text of the last page's cursor */
    int page_no;       /* > 0: the server ignores searchAfter, page by number */
    int limit;         /* page size asked for: [pull] page_size, halved while answers are too
                        * large for [api] max_response_bytes, doubled back after each good page */
    long long pages, records;
    int retries;
    /* a one-shot backfill rides out an API outage: wall ms of the first failure of the current
     * streak, and the timer of the next try */
    int64_t outage_since;
    uv_timer_t retry_timer;
    uint64_t t_fetch0; /* uv_hrtime when the request in flight was made */
    /* full scans */
    int64_t gen, started_ms;
    bool diff; /* an incremental poll done as a full scan (full_diff mode) */
    /* pages go in by COPY (pullstore.h) until one fails: set for a scan this process started,
     * whose start time on the server's clock it knows (started_ms at loop time started_loop) */
    bool copy;
    /* the location had no row a sweep could mark when this process started the scan (not known
     * for a resumed one): every row the sweep could then find was written while the scan ran,
     * which the sweep leaves alone anyway (reconcile.h), so it is not run */
    bool no_sweep;
    uint64_t started_loop;
    /* incremental polls */
    enum imode mode;
    int64_t since, max_seen, prev_upd;
    bool stop_below; /* sorted desc: the page reached `since` */
    bool sort_broken, filter_ignored;
    uv_timer_t timer; /* next poll / sweep / retry */
};

struct pull_worker {
    struct pull *P;
    struct engine_object *eo;
    ps_state st;
    struct lane full, incr;
    bool done, failed;
    char *err; /* why it failed; NULL = no message */
    int bar;
    long long fetched, total;
    bool mode_logged[3];
    bool search_logged; /* fam_family.search_mode */
    enum imode mode;    /* detected incremental mode (a poll keeps the one it started with) */
    /* schema refresh */
    uv_timer_t schema_timer;
    bool schema_timer_on;
    bool schema_fetching;
    cJSON *schema_pending;
    /* engine_apply_schema_async in progress (or waiting for a lock): pages are held */
    bool schema_applying;
    char *schema_applied; /* the last applied definition (JSON text): an equal one is a no-op */
    char *schema_applying_text;
    /* --snapshot: pages go to the shadow table */
    ps_model *shadow;
    char shadow_name[SNAP_NAME_LEN];
    long long quarantined; /* open rows in ghlsync.quarantine (resolved as records land) */
    /* where the time goes (logged with pull.done): sums over pages, in ns */
    uint64_t t_fetch, t_build, t_write;
    long long n_writes;
    long long n_copy_bin, n_copy_text; /* records committed by COPY, per format */
    long long n_prefetch;              /* pages whose successor was asked for first (on_page) */
    /* leases (lease.h): parked = not serving its location; nothing new starts (requests, polls,
     * sweeps, schema fetches) and work in flight ends. hold_timer waits for that before a
     * location that came back resumes from the state another process may have moved on. */
    bool parked, reloading;
    uv_timer_t hold_timer;
    bool joining; /* its location joined while running: on_joined has not answered yet */
};

struct side;

struct pull {
    struct engine *E;
    struct side *sides; /* side-table refreshes in flight: a backfill waits for them */
    struct pull_opts o;
    struct pull_worker **w;
    size_t n;
    size_t active; /* workers not done (backfill) */
    bool stopping, closing;
    progress *prog;
    /* answers waiting to be built (lane.pend), oldest first, and the idle turns counted */
    uv_idle_t idle;
    bool idle_init;
    uint64_t ticks;
    struct lane *pend_head, *pend_tail;
};

static void lane_fetch(struct lane *l);
static void lane_maybe_finish(struct lane *l);
static void lane_fail(struct lane *l, const char *why);
static void incr_schedule(struct pull_worker *w, uint64_t delay);
static void full_schedule(struct pull_worker *w, uint64_t delay);
static void maybe_apply_schema(struct pull_worker *w);
static void side_refresh(struct pull_worker *w);

/* Bookkeeping updates whose failure is only worth a log line. */
static void log_cb(pga_conn *c, PGresult *const *res, int nres, const pga_error *err, void *ud)
{
    (void)c;
    (void)res;
    (void)nres;
    struct pull *P = ud;
    if (err && !P->closing)
        log_event(P->E->log, LOG_WARN, "pull.state_update", "error", err->err.msg, NULL);
}

static gs_log *LG(const struct pull_worker *w)
{
    return w->P->E->log;
}

static const char *LOC(const struct pull_worker *w)
{
    return w->eo->loc->cfg->id;
}

static const struct cfg_object *settings(const struct pull_worker *w)
{
    return cfg_object_get(w->P->E->cfg, w->eo->key);
}

static uint64_t now_ms(const struct pull *P)
{
    return gs_loop_now_ms(&P->E->loop);
}

static bool idle(const struct lane *l)
{
    return !l->fetching && !l->writing && !l->has_held && !l->has_pend;
}

/* ---- pipelining: answers built after the next request has gone out ---- */

static void page_arrived(struct lane *l, const cJSON *json, qr_salvage *q);

static void pend_unqueue(struct lane *l)
{
    if (!l->pend_queued)
        return;
    struct pull *P = l->w->P;
    struct lane **pp = &P->pend_head, *prev = NULL;
    while (*pp != l) {
        prev = *pp;
        pp = &(*pp)->pend_next;
    }
    *pp = l->pend_next;
    if (P->pend_tail == l)
        P->pend_tail = prev;
    l->pend_next = NULL;
    l->pend_queued = false;
}

/* The answer is dropped unbuilt: the resume point is before it, so nothing is lost. */
static void pend_drop(struct lane *l)
{
    if (!l->has_pend)
        return;
    pend_unqueue(l);
    hl_answer_free(&l->pend);
    l->has_pend = false;
}

static void pend_run(struct lane *l)
{
    if (l->has_held) {
        /* cannot be (nothing is asked for while a page waits); building it would overwrite
         * the held page, and dropping it would skip its records: the scan starts over from its
         * saved point instead */
        lane_fail(l, "internal error: a page arrived while the one before it waited");
        return;
    }
    pend_unqueue(l);
    hl_answer a = l->pend;
    l->has_pend = false;
    memset(&l->pend, 0, sizeof l->pend);
    page_arrived(l, a.json, NULL);
    hl_answer_free(&a);
}

static void on_idle(uv_idle_t *h)
{
    struct pull *P = h->data;
    P->ticks++;
    /* Two turns: the first runs the timers that hand the request to the rate scheduler and to
     * curl (which writes it), whichever libuv turn those land in; the page is built after. */
    while (P->pend_head && P->ticks - P->pend_head->pend_tick >= 2)
        pend_run(P->pend_head);
    if (!P->pend_head)
        uv_idle_stop(h);
}

static void pend_queue(struct lane *l)
{
    struct pull *P = l->w->P;
    l->pend_tick = P->ticks;
    l->pend_next = NULL;
    if (P->pend_tail)
        P->pend_tail->pend_next = l;
    else
        P->pend_head = l;
    P->pend_tail = l;
    l->pend_queued = true;
    uv_idle_start(&P->idle, on_idle);
}

static void pend_drop_all(struct pull *P)
{
    for (size_t i = 0; i < P->n; i++) {
        pend_drop(&P->w[i]->full);
        pend_drop(&P->w[i]->incr);
    }
    if (P->idle_init)
        uv_idle_stop(&P->idle);
}

/* Stop: once no lane writes, leave the loop. */
static void check_stopped(struct pull *P)
{
    if (!P->stopping || P->closing)
        return;
    for (size_t i = 0; i < P->n; i++) {
        const struct pull_worker *w = P->w[i];
        if (w->full.writing || w->full.has_held || w->incr.writing || w->incr.has_held ||
            w->schema_applying)
            return;
    }
    engine_stop(P->E, 0);
}

static void worker_done(struct pull_worker *w, bool ok, const char *why)
{
    struct pull *P = w->P;
    if (w->done)
        return;
    w->done = true;
    w->failed = !ok;
    if (!ok) {
        free(w->err);
        w->err = strdup(why ? why : "");
        P->E->ctr.errors++;
        const char *p[3] = {LOC(w), w->eo->key, why};
        gs_err e = {0};
        pga_query(P->E->meta, ps_sql_set_error, 3, p, log_cb, w->P, &e);
    }
    char n[32], tf[32], tb[32], tw[32], nw[32], cb[32], ct[32], pf[32];
    snprintf(n, sizeof n, "%lld", w->fetched);
    /* sums over requests / pages: fetch = request latency, build = JSON -> column arrays,
     * write = page transaction latency (several overlap) */
    snprintf(tf, sizeof tf, "%.0f", (double)w->t_fetch / 1e6);
    snprintf(tb, sizeof tb, "%.0f", (double)w->t_build / 1e6);
    snprintf(tw, sizeof tw, "%.0f", (double)w->t_write / 1e6);
    snprintf(nw, sizeof nw, "%lld", w->n_writes);
    snprintf(cb, sizeof cb, "%lld", w->n_copy_bin);
    snprintf(ct, sizeof ct, "%lld", w->n_copy_text);
    snprintf(pf, sizeof pf, "%lld", w->n_prefetch);
    log_event(LG(w), ok ? LOG_INFO : LOG_ERROR, ok ? "pull.done" : "pull.failed", "location",
              LOC(w), "object", w->eo->key, "records", n, "fetch_ms", tf, "build_ms", tb,
              "write_ms", tw, "page_writes", nw, "copied_binary", cb, "copied_text", ct,
              "prefetched", pf, "sweep",
              !ok                ? "none"
              : w->full.no_sweep ? "skipped"
                                 : "ran",
              ok ? NULL : "error", why, NULL);
    if (P->prog)
        progress_end(P->prog, w->bar, ok, now_ms(P));
    if (P->o.mirror)
        return;
    if (--P->active == 0 && !P->sides)
        engine_stop(P->E, pull_failed(P) ? 1 : 0);
}

/* Pages gathered and not written: dropped (the saved cursor is before them). */
static void grp_drop(struct lane *l)
{
    if (l->has_grp)
        ps_page_free(&l->grp);
    l->has_grp = false;
    l->grp_pages = 0;
}

static void lane_reset(struct lane *l)
{
    grp_drop(l);
    pend_drop(l);
    cJSON_Delete(l->after);
    l->after = NULL;
    free(l->last_cursor);
    l->last_cursor = NULL;
    l->page_no = 0;
    l->limit = 0;
    l->pages = l->records = 0;
    l->ended = l->failed = false;
    l->copy = l->no_sweep = false;
    l->retries = 0;
    l->max_seen = l->prev_upd = PS_NO_TIME;
    l->stop_below = l->sort_broken = l->filter_ignored = false;
}

static void lane_fail(struct lane *l, const char *why)
{
    struct pull_worker *w = l->w;
    l->failed = true;
    l->ended = true;
    l->active = false;
    grp_drop(l);
    pend_drop(l);
    if (!w->P->o.mirror) {
        worker_done(w, false, why);
        return;
    }
    /* `run` keeps going: log, count, try again later. */
    w->P->E->ctr.errors++;
    log_event(LG(w), LOG_ERROR, l->full ? "pull.scan_failed" : "pull.poll_failed", "location",
              LOC(w), "object", w->eo->key, "error", why, NULL);
    const char *p[3] = {LOC(w), w->eo->key, why};
    gs_err e = {0};
    pga_query(w->P->E->meta, ps_sql_set_error, 3, p, log_cb, w->P, &e);
    if (l->full)
        full_schedule(w, 30000);
    else
        incr_schedule(w, (uint64_t)settings(w)->poll_interval_ms);
}

/* ---- writing ---- */

static void lane_write(struct lane *l, ps_page *page, qr_salvage *q);

static bool window_full(const struct lane *l)
{
    return l->seq_next - l->seq_done >= l->max_writes;
}

static void slot_clear(struct wslot *sl)
{
    free(sl->cursor);
    sl->cursor = NULL;
    if (sl->has_page)
        ps_page_free(&sl->page);
    sl->has_page = false;
    sl->busy = sl->committed = false;
    sl->copied = 0;
}

/* Start numbering pages after `base` (the saved page of a resumed scan, else 0). */
static void lane_slots_reset(struct lane *l, long long base)
{
    for (int i = 0; i < l->max_writes; i++)
        slot_clear(&l->slot[i]);
    l->seq_next = l->seq_done = l->seq_saved = base;
}

/* Committed pages that follow seq_done become the resume point (full scans). */
static void advance_done(struct lane *l)
{
    struct pull_worker *w = l->w;
    for (;;) {
        struct wslot *sl = &l->slot[(l->seq_done + 1) % l->max_writes];
        if (!sl->busy || !sl->committed || sl->seq != l->seq_done + 1)
            return;
        l->seq_done++;
        if (l->full) {
            if (sl->cursor) {
                free(w->st.cursor);
                w->st.cursor = sl->cursor;
                sl->cursor = NULL;
            }
            w->st.page = l->seq_done;
            w->st.fetched += sl->n;
        }
        slot_clear(sl);
    }
}

/* The pool connection with the least work queued; ties rotate with the page number. */
static pga_conn *pick_conn(struct lane *l, long long seq)
{
    struct engine *E = l->w->P->E;
    if (!l->full || l->max_writes <= 1 || !E->pool || E->npool <= 1)
        return engine_pga(E, l->w->eo);
    int start = (int)(((long long)l->w->eo->pool_index + seq) % E->npool);
    pga_conn *best = NULL;
    int least = 0;
    for (int k = 0; k < E->npool; k++) {
        pga_conn *c = E->pool[(start + k) % E->npool];
        int n = pga_pending(c);
        if (!best || n < least) {
            best = c;
            least = n;
        }
    }
    return best;
}

/* Write the page that waited for room in the window (or for a schema change), then fetch on. */
static void lane_resume(struct lane *l)
{
    if (!l->has_held || window_full(l) || l->w->schema_pending || l->w->schema_applying ||
        l->failed)
        return;
    ps_page p = l->held;
    qr_salvage q = l->held_q;
    memset(&l->held_q, 0, sizeof l->held_q);
    l->has_held = false;
    lane_write(l, &p, &q);
    if (!l->ended && !l->w->P->stopping && !l->failed)
        lane_fetch(l);
}

static void on_written(pga_conn *c, PGresult *const *res, int nres, const pga_error *err, void *ud);

/* The write options of the next page transaction of the lane (the resume point it may save). */
static ps_write_opts write_opts(struct lane *l)
{
    struct pull_worker *w = l->w;
    ps_write_opts o = {
        .generation = l->full ? l->gen : -1, .force = l->full && !l->diff, .state = PS_STATE_NONE};
    if (l->full && !w->P->o.snapshot && l->seq_done > l->seq_saved) {
        o.state = PS_STATE_CURSOR;
        o.cursor = w->st.cursor;
        o.seq = l->seq_done;
        o.fetched = w->st.fetched;
        o.total = w->total;
    }
    return o;
}

/* The page of `sl`, refused by COPY, again with the upsert, in the same slot. */
static int page_rewrite(struct lane *l, struct wslot *sl)
{
    ps_write_opts o = write_opts(l);
    ps_stmts s;
    gs_err e = {0};
    int rc = ps_page_fill_arrays(&sl->page, &e);
    if (!rc)
        rc = ps_page_stmts(&sl->page, &o, &s, &e);
    if (rc)
        return rc;
    pga_stmt st[PS_MAX_STMTS];
    for (int i = 0; i < s.n; i++)
        st[i] = (pga_stmt){.sql = s.sql[i], .nparams = s.nparams[i], .values = s.params[i]};
    sl->t0 = uv_hrtime();
    rc = pga_tx_named(pick_conn(l, sl->seq), st, s.name, s.n, on_written, sl, &e);
    ps_stmts_free(&s);
    if (rc)
        return rc;
    ps_page_free(&sl->page);
    sl->has_page = false;
    sl->copied = 0;
    if (o.state == PS_STATE_CURSOR)
        l->seq_saved = o.seq;
    l->writing++;
    return 0;
}

static void on_written(pga_conn *c, PGresult *const *res, int nres, const pga_error *err, void *ud)
{
    (void)c;
    struct wslot *sl = ud;
    struct lane *l = sl->l;
    struct pull_worker *w = l->w;
    struct pull *P = w->P;
    l->writing--;
    w->t_write += uv_hrtime() - sl->t0;
    if (P->closing) {
        slot_clear(sl);
        return;
    }
    if (err && sl->has_page && err->sqlstate[0] && !l->failed) {
        /* COPY refused the page (a record the table holds, one deleted locally, a value COPY
         * reads differently): write it with the upsert, and the rest of the scan too. */
        if (l->copy) {
            l->copy = false;
            log_event(LG(w), LOG_INFO, "pull.copy_off", "location", LOC(w), "object", w->eo->key,
                      "sqlstate", err->sqlstate, NULL);
        }
        if (page_rewrite(l, sl) == 0)
            return;
    }
    if (err || l->failed) {
        /* A failed scan restarts from its resume point once its writes are over. */
        slot_clear(sl);
        if (err && !l->failed) {
            char m[1200];
            snprintf(m, sizeof m, "writing a page failed: %s", err->err.msg);
            if (l->has_held) {
                ps_page_free(&l->held);
                qr_salvage_free(&l->held_q);
                l->has_held = false;
            }
            lane_fail(l, m);
        }
        check_stopped(P);
        return;
    }
    if (sl->resolves && nres > 0) {
        long long n = strtoll(PQcmdTuples(res[nres - 1]), NULL, 10);
        if (n > 0) {
            w->quarantined = w->quarantined > n ? w->quarantined - n : 0;
            char b[32];
            snprintf(b, sizeof b, "%lld", n);
            log_event(LG(w), LOG_INFO, "pull.quarantine_resolved", "location", LOC(w), "object",
                      w->eo->key, "records", b, NULL);
        }
    }
    if (sl->copied == 'b')
        w->n_copy_bin += sl->n;
    else if (sl->copied == 't')
        w->n_copy_text += sl->n;
    if (sl->has_page) {
        ps_page_free(&sl->page);
        sl->has_page = false;
    }
    sl->committed = true;
    advance_done(l);
    maybe_apply_schema(w);
    lane_resume(l);
    check_stopped(P);
    lane_maybe_finish(l);
}

/* Quarantine rows travel in the page's transaction (quarantine.h), before it; the page's
 * records resolve earlier rows of theirs. Statement parameters for both. */
#define QR_MAX_TX 64
struct txextra {
    int n;
    pga_stmt st[QR_MAX_TX];
    const char *v[QR_MAX_TX][8];
};

static void lane_write(struct lane *l, ps_page *page, qr_salvage *q)
{
    struct pull_worker *w = l->w;
    struct pull *P = w->P;
    ps_write_opts o = write_opts(l);
    long long seq = l->seq_next + 1;
    struct wslot *sl = &l->slot[seq % l->max_writes];
    ps_stmts s;
    gs_err e = {0};
    int rc = sl->busy ? gs_err_set(&e, GS_ESTATE, "page window overrun") : 0;
    char *cursor = NULL;
    if (!rc && page->cursor && !(cursor = strdup(page->cursor)))
        rc = gs_err_set(&e, GS_ENOMEM, "out of memory");
    size_t nq = q ? q->n_bad : 0;
    bool resolve = w->quarantined > 0 && page->n > 0;
    bool by_copy = l->copy && page->copy && page->n && !nq && !resolve;
    if (!rc && !by_copy)
        rc = ps_page_fill_arrays(page, &e);
    if (!rc)
        rc = by_copy ? ps_page_copy_stmts(page, &o, &s, &e) : ps_page_stmts(page, &o, &s, &e);
    struct txextra *x = NULL;
    if (!rc && (nq || resolve) && !(x = calloc(1, sizeof *x)))
        rc = gs_err_set(&e, GS_ENOMEM, "out of memory");
    if (!rc && nq + 1 + PS_MAX_STMTS > QR_MAX_TX)
        rc = gs_err_set(&e, GS_EINVAL, "%zu quarantined records in one page", nq);
    if (!rc) {
        pga_stmt st[QR_MAX_TX];
        const char *names[QR_MAX_TX] = {0};
        pga_copy copies[QR_MAX_TX] = {{0}};
        int n = 0;
        for (size_t i = 0; i < nq; i++) {
            const qr_item *it = &q->bad[i];
            const char **v = x->v[i];
            v[0] = LOC(w);
            v[1] = w->eo->key;
            v[2] = it->record_id;
            v[3] = it->cursor;
            v[4] = it->reason;
            v[5] = it->raw_hex;
            v[6] = it->raw_bytes;
            v[7] = it->truncated ? "true" : "false";
            st[n++] = (pga_stmt){.sql = qr_sql_upsert, .nparams = 8, .values = v};
        }
        for (int i = 0; i < s.n; i++) {
            names[n] = s.name[i];
            copies[n] = (pga_copy){.data = s.copy[i], .len = s.copy_len[i]};
            st[n++] = (pga_stmt){.sql = s.sql[i], .nparams = s.nparams[i], .values = s.params[i]};
        }
        if (resolve) {
            const char **v = x->v[QR_MAX_TX - 1];
            v[0] = LOC(w);
            v[1] = w->eo->key;
            v[2] = page->arrays[0]; /* the id column's array literal (map_sys_columns[0]) */
            st[n++] = (pga_stmt){.sql = qr_sql_resolve, .nparams = 3, .values = v};
        }
        sl->l = l;
        sl->t0 = uv_hrtime();
        sl->resolves = resolve;
        rc = pga_tx_copy(pick_conn(l, seq), st, names, copies, n, on_written, sl, &e);
        ps_stmts_free(&s);
    }
    if (!rc && nq) {
        w->quarantined += (long long)nq;
        for (size_t i = 0; i < nq; i++) {
            char b[32];
            snprintf(b, sizeof b, "%s", q->bad[i].raw_bytes);
            log_event(LG(w), LOG_WARN, "pull.quarantined", "location", LOC(w), "object", w->eo->key,
                      "record", q->bad[i].record_id ? q->bad[i].record_id : "(unknown)", "bytes", b,
                      "reason", q->bad[i].reason, NULL);
        }
    }
    free(x);
    if (q)
        qr_salvage_free(q);
    if (rc)
        free(cursor);
    if (!rc) {
        sl->cursor = cursor;
        sl->busy = true;
        sl->committed = false;
        sl->seq = seq;
        sl->n = (long long)page->n;
        sl->copied = by_copy ? (page->copy_bin ? 'b' : 't') : 0;
        l->seq_next = seq;
        if (o.state == PS_STATE_CURSOR)
            l->seq_saved = o.seq;
        l->writing++;
        w->n_writes++;
        P->E->ctr.pages++;
        P->E->ctr.records_pulled += page->n;
        if (l->full) {
            w->fetched += (long long)page->n;
            if (page->total >= 0)
                w->total = page->total;
            if (P->prog)
                progress_set(P->prog, w->bar, w->fetched, w->total, now_ms(P));
            else if (!P->o.mirror && l->pages % LOG_EVERY_PAGES == 0) {
                char a[32], b[32];
                snprintf(a, sizeof a, "%lld", w->fetched);
                snprintf(b, sizeof b, "%lld", w->total);
                log_event(LG(w), LOG_INFO, "pull.progress", "location", LOC(w), "object",
                          w->eo->key, "records", a, "total", w->total >= 0 ? b : "unknown", NULL);
            }
        }
    }
    if (!rc && by_copy) {
        /* kept for a rewrite (on_written), which goes by the upsert: the COPY data is pgasync's
         * to send now (copied at submission), so this one goes, not one per write in flight */
        free(page->copy);
        page->copy = NULL;
        page->copy_len = page->copy_cap = 0;
        page->copy_bin = false;
        sl->page = *page;
        sl->has_page = true;
        memset(page, 0, sizeof *page);
    }
    ps_page_free(page);
    if (rc)
        lane_fail(l, e.msg);
}

/* ---- fetching ---- */

static bool in_order(const struct lane *l, const ps_page *p, bool asc)
{
    if (!(asc ? p->asc : p->desc))
        return false;
    if (l->prev_upd == PS_NO_TIME || p->first_upd == PS_NO_TIME)
        return true;
    return asc ? p->first_upd >= l->prev_upd : p->first_upd <= l->prev_upd;
}

/* `why` may hold one %s: the family's name of the updated-at field. */
static void log_mode(struct pull_worker *w, enum imode m, const char *why_fmt)
{
    if (w->mode_logged[m])
        return;
    w->mode_logged[m] = true;
    char why[200];
    snprintf(why, sizeof why, why_fmt, fam_of(w->eo->model->obj)->updated_name);
    log_event(LG(w), m == IM_FILTER ? LOG_INFO : LOG_WARN, "pull.mode", "location", LOC(w),
              "object", w->eo->key, "mode", imode_name[m], "why", why, NULL);
    const char *p[3] = {LOC(w), w->eo->key, imode_name[m]};
    gs_err e = {0};
    pga_query(w->P->E->meta, ps_sql_set_mode, 3, p, log_cb, w->P, &e);
}

static void set_mode(struct pull_worker *w, enum imode m, const char *why)
{
    if (w->mode >= m)
        return;
    w->mode = m;
    log_mode(w, m, why);
}

/* The configured page size: [pull] page_size is 1..100; 100 (its default and maximum) means
 * the family's own maximum (records 100, contacts 500). */
static int lane_full_limit(const struct lane *l)
{
    const fam_family *fam = fam_of(l->w->eo->model->obj);
    int limit = l->w->P->E->cfg->pull.page_size;
    return limit >= 100 || limit > fam->page_max ? fam->page_max : limit;
}

/* The page size asked for (lane_fetch): smaller while answers are too large. */
static int lane_limit(const struct lane *l)
{
    int full = lane_full_limit(l);
    return l->limit > 0 && l->limit < full ? l->limit : full;
}

static void on_retry_timer(uv_timer_t *t)
{
    struct lane *l = t->data;
    l->fetching = false; /* it held the lane while waiting */
    lane_fetch(l);
}

/* A fetch failed for good (hlapi already retried): try again, or give up on the lane. A
 * one-shot backfill keeps trying through an outage for [pull] outage_timeout, with backoff,
 * and says so; `run` has its own rhythm (lane_fail schedules the next scan or poll). */
static void fetch_failed(struct lane *l, const hl_result *r, const char *m)
{
    struct pull_worker *w = l->w;
    struct pull *P = w->P;
    if (r->kind == HL_RETRYABLE && ++l->retries <= MAX_RETRIES) {
        log_event(LG(w), LOG_WARN, "pull.retry", "location", LOC(w), "object", w->eo->key, "error",
                  m, NULL);
        lane_fetch(l);
        return;
    }
    int64_t budget = P->E->cfg->pull.outage_timeout_ms;
    if (r->kind == HL_RETRYABLE && !P->o.mirror && budget > 0) {
        int64_t now = (int64_t)gs_wall_ms();
        if (!l->outage_since) {
            l->outage_since = now;
            log_event(LG(w), LOG_WARN, "pull.waiting", "location", LOC(w), "object", w->eo->key,
                      "error", m, "msg",
                      "the API keeps failing; the backfill waits and retries (outage_timeout)",
                      NULL);
        }
        if (now - l->outage_since < budget) {
            int64_t waited = now - l->outage_since;
            uint64_t delay = waited < 2000 ? 1000 : waited < 30000 ? 5000 : 15000;
            if (P->prog) {
                char note[64];
                snprintf(note, sizeof note, "waiting for the API %llds",
                         (long long)(waited / 1000));
                progress_note(P->prog, w->bar, note, now_ms(P));
            } else if (waited >= 30000 && (waited / 30000) != ((waited - (int64_t)delay) / 30000)) {
                char a[32];
                snprintf(a, sizeof a, "%lld", (long long)(waited / 1000));
                log_event(LG(w), LOG_INFO, "pull.still_waiting", "location", LOC(w), "object",
                          w->eo->key, "waited_s", a, NULL);
            }
            l->fetching = true; /* the timer owns the next fetch */
            uv_timer_start(&l->retry_timer, on_retry_timer, delay, 0);
            return;
        }
    }
    lane_fail(l, m);
}

/* The next page may be asked for before this one is built: a full scan paging by searchAfter
 * (a page with records always goes on; an incremental poll may stop at it), with nothing
 * waiting before it and room to write it at once. */
static bool can_prefetch(const struct lane *l)
{
    const struct pull_worker *w = l->w;
    return l->full && l->page_no == 0 && !l->has_held && !l->has_pend && !l->failed && !l->ended &&
           !window_full(l) && !w->schema_pending && !w->schema_applying && !w->parked &&
           !w->P->stopping;
}

/* Asks for the page after the answer's and keeps the answer to build once the request is out
 * (on_idle): the server prepares the next page while this one is built. False: build it now. */
static bool prefetch(struct lane *l, hl_result *r)
{
    struct pull_worker *w = l->w;
    if (!can_prefetch(l))
        return false;
    char *cur = ps_page_peek_cursor(w->shadow ? w->shadow : w->eo->model, r->json);
    /* the same cursor again: page_arrived turns to page numbers */
    cJSON *after =
        cur && !(l->last_cursor && strcmp(cur, l->last_cursor) == 0) ? cJSON_Parse(cur) : NULL;
    free(cur);
    if (!after)
        return false;
    cJSON_Delete(l->after);
    l->after = after;
    l->pend = hl_result_take(r);
    l->has_pend = true;
    w->n_prefetch++;
    pend_queue(l);
    lane_fetch(l);
    return true;
}

static void on_page(hl_result *r, void *ud)
{
    struct lane *l = ud;
    struct pull_worker *w = l->w;
    struct pull *P = w->P;
    /* the page before this one first, while `fetching` still keeps its lane_fetch from asking
     * for this page again */
    if (l->has_pend && !l->has_held && !P->closing && !P->stopping)
        pend_run(l);
    l->fetching = false;
    if (P->closing)
        return;
    if (P->stopping) {
        check_stopped(P);
        return;
    }
    if (l->failed)
        return; /* asked for before the lane failed: its restart asks again */
    w->t_fetch += uv_hrtime() - l->t_fetch0;
    if (l->has_held)
        return; /* the page before it waits to be written: lane_resume asks for this one again */
    if (r->kind != HL_OK) {
        char m[1200];
        snprintf(m, sizeof m, "search failed (%s, HTTP %ld): %s", hl_kind_name(r->kind), r->status,
                 r->message);
        if (r->too_large) {
            int cur = lane_limit(l);
            if (cur > 1) {
                /* fewer records per page before anything is quarantined */
                l->limit = cur / 2;
                char a[16], b[16];
                snprintf(a, sizeof a, "%d", cur);
                snprintf(b, sizeof b, "%d", l->limit);
                log_event(LG(w), LOG_WARN, "pull.page_too_large", "location", LOC(w), "object",
                          w->eo->key, "page_size", a, "retry_with", b, NULL);
                lane_fetch(l);
                return;
            }
            qr_salvage q;
            gs_err e = {0};
            if (qr_salvage_oversized(r, fam_of(w->eo->model->obj)->envelope, &q, &e) != 0) {
                lane_fail(l, e.msg);
                return;
            }
            l->limit = 0; /* past it: back to the configured size */
            page_arrived(l, q.response, &q);
            return;
        }
        if (r->kind == HL_RETRYABLE && r->raw) {
            /* every attempt read a body the parser refuses: one record's fault, not a cut */
            qr_salvage q;
            gs_err e = {0};
            if (qr_salvage_page(r->raw, r->raw_len, fam_of(w->eo->model->obj)->envelope, &q, &e) ==
                    0 &&
                q.n_bad) {
                page_arrived(l, q.response, &q);
                return;
            }
            if (q.response)
                qr_salvage_free(&q);
        }
        if (!l->full && r->kind == HL_REJECTED && l->mode == IM_FILTER) {
            set_mode(w, IM_SORTED, "the server rejects filters on %s");
            lane_reset(l);
            l->mode = IM_SORTED;
            lane_fetch(l);
            return;
        }
        if (!l->full && r->kind == HL_REJECTED && l->mode == IM_SORTED) {
            set_mode(w, IM_DIFF, "the server rejects sort on %s");
            l->active = false;
            incr_schedule(w, 0);
            return;
        }
        fetch_failed(l, r, m);
        return;
    }
    if (l->outage_since) {
        char d[32];
        snprintf(d, sizeof d, "%lld",
                 (long long)(((int64_t)gs_wall_ms() - l->outage_since) / 1000));
        log_event(LG(w), LOG_INFO, "pull.resumed", "location", LOC(w), "object", w->eo->key,
                  "waited_s", d, NULL);
        l->outage_since = 0;
        if (P->prog)
            progress_note(P->prog, w->bar, NULL, now_ms(P));
    }
    if (r->repairs.bad_utf8 || r->repairs.surrogates || r->repairs.nuls) {
        char a[24], b[24], c[24];
        snprintf(a, sizeof a, "%zu", r->repairs.bad_utf8);
        snprintf(b, sizeof b, "%zu", r->repairs.surrogates);
        snprintf(c, sizeof c, "%zu", r->repairs.nuls);
        log_event(LG(w), LOG_WARN, "pull.text_repaired", "location", LOC(w), "object", w->eo->key,
                  "invalid_utf8", a, "lone_surrogates", b, "nul_characters", c, "msg",
                  "replaced by U+FFFD (README: hostile answers)", NULL);
    }
    if (l->limit > 0 && (l->limit *= 2) >= lane_full_limit(l))
        l->limit = 0;
    const fam_family *fam = fam_of(w->eo->model->obj);
    const char *sm =
        fam->search_mode && !w->search_logged ? fam->search_mode(w->eo->loc->hl) : NULL;
    if (sm) {
        w->search_logged = true;
        log_event(LG(w), LOG_INFO, "pull.search", "location", LOC(w), "object", w->eo->key,
                  "search", sm, NULL);
    }
    if (!prefetch(l, r))
        page_arrived(l, r->json, NULL);
}

/* A page to store: the answer's records (json) and, when it was salvaged, the quarantine rows
 * and the cursor of its last element (`q`, consumed). */
static void page_arrived(struct lane *l, const cJSON *json, qr_salvage *q)
{
    struct pull_worker *w = l->w;
    l->retries = 0;
    ps_page page;
    gs_err e = {0};
    uint64_t t0 = uv_hrtime();
    ps_copy_opts co = {0};
    if (l->copy) {
        /* _synced_at on the server's clock: the scan's start there plus the time since. The
         * start is read in whole ms rounded down (so that the sweep's "written before the scan
         * began" never takes in a row written just after it); one ms more keeps the stamp of a
         * page that arrives within that ms at or after the start itself */
        co.synced_ms = l->started_ms + 1 + (int64_t)(now_ms(w->P) - l->started_loop);
        co.generation = l->gen;
    }
    int brc = ps_page_build(w->shadow ? w->shadow : w->eo->model, json, LG(w), l->copy ? &co : NULL,
                            &page, &e);
    w->t_build += uv_hrtime() - t0;
    if (brc) {
        if (q)
            qr_salvage_free(q);
        lane_fail(l, e.msg);
        return;
    }
    bool salvaged = q && q->n_bad > 0;
    if (salvaged && q->cursor) {
        /* the last element was quarantined: page on from its cursor, not the last stored one */
        free(page.cursor);
        page.cursor = strdup(q->cursor);
    }
    l->pages++;
    bool end = page.n == 0 && !(salvaged && page.cursor);
    if (!end && page.cursor && l->last_cursor && strcmp(page.cursor, l->last_cursor) == 0) {
        /* The same page again: the server does not honour searchAfter. Page by number. */
        if (l->page_no == 0 && l->full) {
            log_event(LG(w), LOG_WARN, "pull.page_numbers", "location", LOC(w), "object",
                      w->eo->key, "msg",
                      "the server repeated a page for a searchAfter cursor; paging by number "
                      "(limited to 10000 records by the API)",
                      NULL);
            l->page_no = (int)l->pages;
        } else {
            end = true;
        }
    }
    if (!end && !page.cursor && l->page_no == 0)
        l->page_no = 1; /* records carry no searchAfter: page by number */
    if (l->page_no > 0)
        l->page_no++;
    if (!end && !l->full) {
        if (l->mode == IM_FILTER && page.min_upd != PS_NO_TIME && page.min_upd < l->since) {
            l->filter_ignored = true;
            set_mode(w, IM_SORTED, "the server ignores filters on %s");
        }
        if (l->mode == IM_SORTED || (l->mode == IM_FILTER && l->filter_ignored)) {
            bool asc = l->mode == IM_FILTER;
            if (!in_order(l, &page, asc)) {
                l->sort_broken = true;
                set_mode(w, IM_DIFF, "the server ignores sort on %s");
            }
            if (l->mode == IM_SORTED && !l->sort_broken && page.last_upd != PS_NO_TIME &&
                page.last_upd < l->since)
                l->stop_below = true;
        }
        if (page.max_upd != PS_NO_TIME && (l->max_seen == PS_NO_TIME || page.max_upd > l->max_seen))
            l->max_seen = page.max_upd;
        if (page.last_upd != PS_NO_TIME)
            l->prev_upd = page.last_upd;
        if (l->stop_below)
            end = true;
    }
    if (page.cursor) {
        free(l->last_cursor);
        l->last_cursor = strdup(page.cursor);
        cJSON_Delete(l->after);
        l->after = cJSON_Parse(page.cursor);
    }
    if (end)
        l->ended = true;
    /* A first backfill gathers its COPY pages and writes them as one (PULL_GROUP_RECORDS);
     * whatever cannot join (quarantine rows, the end of the scan, COPY turned off) is written
     * with the group, which then goes to the upsert if it must. */
    bool joins = page.copy && page.n && !salvaged;
    if (l->has_grp || joins) {
        if (page.n || salvaged) {
            int mrc = 0;
            l->grp_pages++;
            if (!l->has_grp) {
                l->grp = page;
                l->has_grp = true;
            } else {
                mrc = ps_page_merge(&l->grp, &page, &e);
            }
            memset(&page, 0, sizeof page);
            if (mrc) {
                if (q)
                    qr_salvage_free(q);
                lane_fail(l, e.msg);
                return;
            }
        } else {
            ps_page_free(&page);
        }
        if (joins && !end && l->grp.n < PULL_GROUP_RECORDS && l->grp_pages < PULL_GROUP_PAGES &&
            l->grp.copy_len < PULL_GROUP_BYTES && !w->P->stopping) {
            if (q)
                qr_salvage_free(q);
            if (!l->failed)
                lane_fetch(l);
            return;
        }
        page = l->grp;
        memset(&l->grp, 0, sizeof l->grp);
        l->has_grp = false;
        l->grp_pages = 0;
    }
    if (!page.n && !salvaged) {
        ps_page_free(&page);
        if (q)
            qr_salvage_free(q);
    } else if (window_full(l) || w->schema_pending || w->schema_applying) {
        l->held = page;
        if (q)
            l->held_q = *q;
        l->has_held = true;
        return; /* lane_resume writes it and fetches the next page */
    } else {
        lane_write(l, &page, q);
    }
    if (end)
        lane_maybe_finish(l);
    else if (!l->failed)
        lane_fetch(l);
}

static void lane_fetch(struct lane *l)
{
    struct pull_worker *w = l->w;
    struct pull *P = w->P;
    if (l->fetching || l->ended || P->stopping)
        return;
    if (w->parked) { /* the lease went elsewhere: the saved cursor / watermark is the handover */
        l->active = false;
        return;
    }
    const fam_family *fam = fam_of(w->eo->model->obj);
    fam_query q = {.page_limit = lane_limit(l), .since = FAM_NO_TIME};
    if (l->page_no > 0)
        q.page = l->page_no;
    else
        q.search_after = l->after;
    if (!l->full && l->mode == IM_FILTER) {
        q.since = l->since;
        q.sort = 1;
    } else if (!l->full && l->mode == IM_SORTED) {
        q.sort = -1;
    }
    gs_err e = {0};
    l->fetching = true;
    l->t_fetch0 = uv_hrtime();
    int rc = fam->search(w->eo->loc->hl, w->eo->key, &q, l->prio, NULL, on_page, l, &e);
    if (rc) {
        l->fetching = false;
        lane_fail(l, e.msg);
    }
}

/* ---- scan ends ---- */

static void full_complete(struct pull_worker *w)
{
    struct pull *P = w->P;
    w->st.complete = true;
    if (w->st.watermark_ms == PS_NO_TIME)
        w->st.watermark_ms = w->full.started_ms;
    if (!P->o.mirror) {
        worker_done(w, true, NULL);
        return;
    }
    if (!w->done && w->full.diff) {
        incr_schedule(w, (uint64_t)settings(w)->poll_interval_ms);
        return;
    }
    int64_t iv = P->E->cfg->pull.full_scan_interval_ms;
    if (iv > 0)
        full_schedule(w, (uint64_t)iv);
    if (!w->incr.active && !uv_is_active((uv_handle_t *)&w->incr.timer))
        incr_schedule(w, 0);
}

static void on_scan_done(pga_conn *c, PGresult *const *res, int nres, const pga_error *err,
                         void *ud)
{
    (void)c;
    struct lane *l = ud;
    struct pull_worker *w = l->w;
    l->writing--;
    if (w->P->closing)
        return;
    if (err) {
        char m[1200];
        snprintf(m, sizeof m, "ending the scan failed: %s", err->err.msg);
        lane_fail(l, m);
        check_stopped(w->P);
        return;
    }
    long deleted = !l->no_sweep && nres > 1 ? atol(PQcmdTuples(res[0])) : 0;
    w->P->E->ctr.deletes_found += (uint64_t)deleted;
    if (deleted) {
        char d[32];
        snprintf(d, sizeof d, "%ld", deleted);
        log_event(LG(w), LOG_INFO, "pull.deletes", "location", LOC(w), "object", w->eo->key, "rows",
                  d, "soft", settings(w)->soft_delete ? "true" : "false", NULL);
    }
    l->active = false;
    check_stopped(w->P);
    if (!w->P->stopping)
        full_complete(w);
}

static void on_watermark(pga_conn *c, PGresult *const *res, int nres, const pga_error *err,
                         void *ud)
{
    (void)c;
    (void)res;
    (void)nres;
    struct lane *l = ud;
    struct pull_worker *w = l->w;
    l->writing--;
    if (w->P->closing)
        return;
    l->active = false;
    if (err) {
        lane_fail(l, err->err.msg);
        return;
    }
    if (l->max_seen != PS_NO_TIME && l->max_seen > w->st.watermark_ms)
        w->st.watermark_ms = l->max_seen;
    check_stopped(w->P);
    if (!w->P->stopping)
        incr_schedule(w, (uint64_t)settings(w)->poll_interval_ms);
}

static void lane_maybe_finish(struct lane *l)
{
    struct pull_worker *w = l->w;
    struct pull *P = w->P;
    if (!l->active || !l->ended || l->failed || !idle(l) || P->stopping)
        return;
    gs_err e = {0};
    int rc;
    if (l->full && P->o.snapshot) {
        /* the shadow holds exactly this scan; the swap marks it complete (pull_command) */
        l->active = false;
        full_complete(w);
        return;
    }
    if (l->full) {
        rc_stmts s;
        rc_finish_stmts(w->eo->model, l->gen, l->started_ms, settings(w)->soft_delete, !l->no_sweep,
                        &s);
        pga_stmt st[2];
        for (int i = 0; i < s.n; i++)
            st[i] = (pga_stmt){.sql = s.sql[i], .nparams = s.nparams[i], .values = s.params[i]};
        rc = pga_tx(engine_pga(P->E, w->eo), st, s.n, on_scan_done, l, &e);
    } else {
        char iso[40];
        ps_time_iso(l->max_seen != PS_NO_TIME ? l->max_seen : w->st.watermark_ms, iso, sizeof iso);
        const char *p[3] = {LOC(w), w->eo->key, iso};
        rc = pga_query(engine_pga(P->E, w->eo), ps_sql_set_watermark, 3, p, on_watermark, l, &e);
    }
    if (rc)
        lane_fail(l, e.msg);
    else
        l->writing++;
}

/* ---- starting scans ---- */

static void full_begin(struct pull_worker *w)
{
    struct lane *l = &w->full;
    l->active = true;
    lane_slots_reset(l, w->st.page);
    if (w->P->prog)
        progress_set(w->P->prog, w->bar, w->fetched, w->total, now_ms(w->P));
    char f[32];
    snprintf(f, sizeof f, "%lld", w->fetched);
    log_event(LG(w), LOG_INFO, l->diff ? "pull.diff_scan" : "pull.start", "location", LOC(w),
              "object", w->eo->key, "resume_at", f, NULL);
    lane_fetch(l);
}

static void on_scan_start(pga_conn *c, PGresult *const *res, int nres, const pga_error *err,
                          void *ud)
{
    (void)c;
    struct pull_worker *w = ud;
    struct lane *l = &w->full;
    l->writing--;
    if (w->P->closing)
        return;
    if (err || nres < 2 || PQntuples(res[0]) != 1 || PQntuples(res[1]) != 1) {
        lane_fail(l, err ? err->err.msg : "pull_state row missing");
        return;
    }
    l->no_sweep = strcmp(PQgetvalue(res[1], 0, 0), "f") == 0;
    l->gen = strtoll(PQgetvalue(res[0], 0, 0), NULL, 10);
    l->started_ms = strtoll(PQgetvalue(res[0], 0, 1), NULL, 10);
    l->started_loop = now_ms(w->P);
    l->copy = !l->diff;
    w->st.generation = l->gen;
    w->st.started_ms = l->started_ms;
    w->st.complete = false;
    free(w->st.cursor);
    w->st.cursor = NULL;
    w->st.page = 0;
    w->st.fetched = 0;
    w->fetched = 0;
    if (w->P->stopping) {
        check_stopped(w->P);
        return;
    }
    full_begin(w);
}

/* A new full scan (fresh) or the saved one (resume). */
static void full_start(struct pull_worker *w, bool fresh, bool diff)
{
    struct lane *l = &w->full;
    lane_reset(l);
    l->diff = diff;
    l->prio = diff ? RL_PRIO_PULL : RL_PRIO_BACKFILL;
    l->active = true;
    if (!fresh) {
        l->gen = w->st.generation;
        l->started_ms = w->st.started_ms;
        if (w->st.cursor)
            l->after = cJSON_Parse(w->st.cursor);
        w->fetched = w->st.fetched;
        full_begin(w);
        return;
    }
    const char *p[2] = {LOC(w), w->eo->key};
    const pga_stmt st[2] = {{ps_sql_scan_start, 2, p}, {w->eo->model->held, 1, p}};
    gs_err e = {0};
    if (pga_tx(engine_pga(w->P->E, w->eo), st, 2, on_scan_start, w, &e))
        lane_fail(l, e.msg);
    else
        l->writing++;
}

static void on_full_timer(uv_timer_t *t)
{
    struct pull_worker *w = t->data;
    if (w->P->stopping || w->full.active)
        return;
    if (w->full.writing) { /* writes of a failed scan still in flight */
        full_schedule(w, 1000);
        return;
    }
    /* After a failure the scan resumes at its last committed cursor. */
    full_start(w, w->st.complete || w->st.generation == 0, false);
}

static void full_schedule(struct pull_worker *w, uint64_t delay)
{
    if (w->P->stopping || w->P->closing || w->parked)
        return;
    uv_timer_start(&w->full.timer, on_full_timer, delay, 0);
}

static void incr_begin(struct pull_worker *w)
{
    struct pull *P = w->P;
    if (P->stopping || w->incr.active)
        return;
    if (w->mode == IM_DIFF) {
        if (w->full.active) {
            incr_schedule(w, (uint64_t)settings(w)->poll_interval_ms);
            return;
        }
        log_mode(w, IM_DIFF, "the server supports neither filters nor sort on %s");
        full_start(w, true, true);
        return;
    }
    struct lane *l = &w->incr;
    if (l->writing) { /* writes of a failed poll still in flight */
        incr_schedule(w, 1000);
        return;
    }
    log_mode(w, w->mode,
             w->mode == IM_FILTER ? "filters and sort on %s"
                                  : "mode stored by an earlier run (pull_state.mode)");
    lane_reset(l);
    lane_slots_reset(l, 0);
    l->mode = w->mode;
    l->prio = RL_PRIO_PULL;
    l->active = true;
    int64_t overlap = P->E->cfg->pull.overlap_ms, lag = fam_of(w->eo->model->obj)->index_lag_ms;
    l->since = w->st.watermark_ms - (overlap > lag ? overlap : lag);
    lane_fetch(l);
}

static void on_incr_timer(uv_timer_t *t)
{
    incr_begin(t->data);
}

static void incr_schedule(struct pull_worker *w, uint64_t delay)
{
    if (w->P->stopping || w->P->closing || w->parked)
        return;
    uv_timer_start(&w->incr.timer, on_incr_timer, delay, 0);
}

/* ---- schema refresh ---- */

static void on_schema_applied(struct engine_object *eo, int rc, bool changed, const char *msg,
                              void *ud)
{
    (void)eo;
    struct pull_worker *w = ud;
    w->schema_applying = false;
    if (rc == 0) {
        free(w->schema_applied);
        w->schema_applied = w->schema_applying_text;
    } else {
        free(w->schema_applying_text); /* not applied: the next refresh tries again */
    }
    w->schema_applying_text = NULL;
    if (rc && rc != GS_ESTATE)
        log_event(LG(w), LOG_ERROR, "schema.refresh_failed", "location", LOC(w), "object",
                  w->eo->key, "error", msg ? msg : "", NULL);
    else if (changed)
        log_event(LG(w), LOG_INFO, "schema.changed", "location", LOC(w), "object", w->eo->key,
                  NULL);
    if (w->P->closing)
        return;
    lane_resume(&w->full);
    lane_resume(&w->incr);
    check_stopped(w->P);
}

/* The DDL, the new write plan and the triggers are built off the loop (engine.h), so that a
 * table locked by someone else holds only this object's pages, not the loop. An unchanged
 * definition (the usual refresh) costs nothing: no plan, no new model, no push target swap. */
static void maybe_apply_schema(struct pull_worker *w)
{
    if (!w->schema_pending || w->schema_applying || w->full.writing || w->incr.writing ||
        w->P->closing)
        return;
    cJSON *json = w->schema_pending;
    w->schema_pending = NULL;
    char *text = cJSON_PrintUnformatted(json);
    if (text && w->schema_applied && !strcmp(text, w->schema_applied)) {
        free(text);
        cJSON_Delete(json);
        lane_resume(&w->full);
        lane_resume(&w->incr);
        return;
    }
    schema_object *obj = NULL;
    gs_err e = {0};
    int rc = fam_of(w->eo->model->obj)->parse_schema(json, w->eo->key, &obj, &e);
    cJSON_Delete(json);
    if (!rc) {
        w->schema_applying = true;
        w->schema_applying_text = text;
        text = NULL;
        rc = engine_apply_schema_async(w->P->E, w->eo, obj, on_schema_applied, w, &e);
        if (rc) {
            w->schema_applying = false;
            free(w->schema_applying_text);
            w->schema_applying_text = NULL;
        }
    }
    free(text);
    if (rc) {
        log_event(LG(w), LOG_ERROR, "schema.refresh_failed", "location", LOC(w), "object",
                  w->eo->key, "error", e.msg, NULL);
        lane_resume(&w->full);
        lane_resume(&w->incr);
    }
}

static void on_schema(hl_result *r, void *ud)
{
    struct pull_worker *w = ud;
    w->schema_fetching = false;
    if (w->P->closing || w->P->stopping)
        return;
    if (r->kind != HL_OK) {
        log_event(LG(w), LOG_WARN, "schema.refresh_failed", "location", LOC(w), "object",
                  w->eo->key, "error", r->message, NULL);
        return;
    }
    cJSON_Delete(w->schema_pending);
    w->schema_pending = r->json;
    r->json = NULL;
    side_refresh(w);
    maybe_apply_schema(w);
}

/* ---- side tables (fam_family.side_refresh) ---- */

struct side {
    struct side *next;
    struct pull *P; /* NULL once the pull is freed */
    gs_log *lg;
    char *loc, *key;
    const char *what, *na, *nb;
};

static void on_side(const char *error, long a, long b, void *ud)
{
    struct side *s = ud;
    char na[24], nb[24];
    snprintf(na, sizeof na, "%ld", a);
    snprintf(nb, sizeof nb, "%ld", b);
    if (error)
        log_event(s->lg, LOG_WARN, "pull.side_failed", "location", s->loc, "object", s->key,
                  "tables", s->what, "error", error, NULL);
    else
        log_event(s->lg, LOG_INFO, "pull.side_stored", "location", s->loc, "object", s->key,
                  "tables", s->what, s->na, na, s->nb, nb, NULL);
    struct pull *P = s->P;
    if (P) {
        struct side **pp = &P->sides;
        while (*pp && *pp != s)
            pp = &(*pp)->next;
        if (*pp)
            *pp = s->next;
    }
    free(s->loc);
    free(s->key);
    free(s);
    if (P && !P->o.mirror && !P->closing && P->active == 0 && !P->sides)
        engine_stop(P->E, pull_failed(P) ? 1 : 0);
}

/* The log outlives the API client and the connection, whose shutdown ends a refresh in flight
 * with an error: the context owns copies, not the worker. */
static void side_refresh(struct pull_worker *w)
{
    const fam_family *fam = fam_of(w->eo->model->obj);
    if (!fam->side_refresh || w->P->closing)
        return;
    struct side *s = calloc(1, sizeof *s);
    if (!s || !(s->loc = strdup(LOC(w))) || !(s->key = strdup(w->eo->key))) {
        if (s)
            free(s->loc);
        free(s);
        return;
    }
    s->lg = LG(w);
    s->what = fam->side_name ? fam->side_name : fam->name;
    s->na = fam->side_counts[0] ? fam->side_counts[0] : "rows";
    s->nb = fam->side_counts[1] ? fam->side_counts[1] : "rows2";
    s->P = w->P;
    s->next = w->P->sides;
    w->P->sides = s;
    gs_err e = {0};
    if (fam->side_refresh(w->eo->loc->hl, w->P->E->meta, w->eo->model->obj, on_side, s, &e))
        on_side(e.msg, 0, 0, s);
}

static void on_schema_timer(uv_timer_t *t)
{
    struct pull_worker *w = t->data;
    if (w->schema_fetching || w->P->stopping || w->parked)
        return;
    gs_err e = {0};
    if (fam_of(w->eo->model->obj)
            ->fetch_schema(w->eo->loc->hl, w->eo->key, RL_PRIO_SCHEMA, on_schema, w, &e) == 0)
        w->schema_fetching = true;
}

/* ---- lifecycle ---- */

static void on_stop_request(struct engine *E, void *ud)
{
    (void)E;
    struct pull *P = ud;
    P->stopping = true;
    for (size_t i = 0; i < P->n; i++) {
        struct pull_worker *w = P->w[i];
        uv_timer_stop(&w->full.timer);
        uv_timer_stop(&w->incr.timer);
        uv_timer_stop(&w->full.retry_timer);
        uv_timer_stop(&w->incr.retry_timer);
        uv_timer_stop(&w->hold_timer);
        w->full.fetching = w->incr.fetching = false;
        if (w->schema_timer_on)
            uv_timer_stop(&w->schema_timer);
    }
    pend_drop_all(P); /* unbuilt: the saved cursors are before them */
    check_stopped(P);
}

/* A worker of `eo`, its timers initialised (not yet in P->w). */
static struct pull_worker *worker_new(struct pull *P, struct engine_object *eo)
{
    struct engine *E = P->E;
    struct pull_worker *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->P = P;
    w->eo = eo;
    eo->worker = w;
    w->total = -1;
    w->full.w = w->incr.w = w;
    w->full.full = true;
    int wr = P->o.writes > 0 ? P->o.writes : PULL_WRITES;
    w->full.max_writes = wr < PULL_MAX_WRITES ? wr : PULL_MAX_WRITES;
    w->incr.max_writes = 1;
    /* only the slots a lane can use: thousands of workers idle with them */
    w->full.slot = calloc((size_t)w->full.max_writes, sizeof *w->full.slot);
    w->incr.slot = calloc(1, sizeof *w->incr.slot);
    if (!w->full.slot || !w->incr.slot) {
        free(w->full.slot);
        free(w->incr.slot);
        eo->worker = NULL;
        free(w);
        return NULL;
    }
    uv_timer_init(&E->loop.uv, &w->full.timer);
    uv_timer_init(&E->loop.uv, &w->incr.timer);
    uv_timer_init(&E->loop.uv, &w->schema_timer);
    uv_timer_init(&E->loop.uv, &w->full.retry_timer);
    uv_timer_init(&E->loop.uv, &w->incr.retry_timer);
    uv_timer_init(&E->loop.uv, &w->hold_timer);
    w->full.timer.data = w->incr.timer.data = w->schema_timer.data = w;
    w->hold_timer.data = w;
    w->full.retry_timer.data = &w->full;
    w->incr.retry_timer.data = &w->incr;
    w->schema_timer_on = true;
    return w;
}

int pull_new(struct engine *E, const struct pull_opts *o, pull **out, gs_err *e)
{
    *out = NULL;
    struct pull *P = calloc(1, sizeof *P);
    if (!P)
        return gs_err_set(e, GS_ENOMEM, "out of memory");
    P->E = E;
    P->o = *o;
    size_t n = 0;
    for (size_t i = 0; i < E->nlocs; i++)
        n += E->locs[i]->n_objects;
    P->w = calloc(n ? n : 1, sizeof *P->w);
    if (!P->w) {
        free(P);
        return gs_err_set(e, GS_ENOMEM, "out of memory");
    }
    uv_idle_init(&E->loop.uv, &P->idle);
    P->idle.data = P;
    P->idle_init = true;
    if (o->progress)
        P->prog = progress_new(stderr);
    int rc = 0;
    for (size_t i = 0; !rc && i < E->nlocs; i++)
        for (size_t j = 0; !rc && j < E->locs[i]->n_objects; j++) {
            struct engine_object *eo = &E->locs[i]->objects[j];
            struct pull_worker *w = worker_new(P, eo);
            if (!w) {
                rc = gs_err_set(e, GS_ENOMEM, "out of memory");
                break;
            }
            P->w[P->n++] = w;
            rc = ps_state_load(E->db, eo->loc->cfg->id, eo->key, &w->st, e);
            if (rc)
                break;
            const char *qp[2] = {eo->loc->cfg->id, eo->key};
            PGresult *qr;
            if ((rc = db_query(E->db, qr_sql_open, 2, qp, &qr, e)))
                break;
            w->quarantined = strtoll(PQgetvalue(qr, 0, 0), NULL, 10);
            PQclear(qr);
            w->total = w->st.total;
            if (strcmp(w->st.mode, "sorted_scan") == 0)
                w->mode = IM_SORTED;
            else if (strcmp(w->st.mode, "full_diff") == 0)
                w->mode = IM_DIFF;
            if (P->prog) {
                char label[300];
                snprintf(label, sizeof label, "%s @ %s", eo->key, eo->loc->cfg->id);
                w->bar = progress_add(P->prog, label);
            }
        }
    *out = P;
    return rc;
}

/* Start one worker: a new scan unless a saved one is half done (then resume it); `run` polls
 * and sweeps. */
static void worker_go(struct pull_worker *w)
{
    struct pull *P = w->P;
    struct engine *E = P->E;
    int64_t srefresh = P->o.schema_refresh_ms > 0 ? P->o.schema_refresh_ms : 300000;
    bool fresh = P->o.full || w->st.generation == 0 || w->st.complete;
    side_refresh(w);
    if (P->o.mirror) {
        uv_timer_start(&w->schema_timer, on_schema_timer, (uint64_t)srefresh, (uint64_t)srefresh);
        if (w->st.watermark_ms != PS_NO_TIME && !P->o.full)
            incr_schedule(w, 0); /* polls run beside an interrupted sweep */
        if (w->st.complete && !P->o.full) {
            int64_t iv = E->cfg->pull.full_scan_interval_ms;
            if (iv > 0) {
                int64_t since = (int64_t)gs_wall_ms() - w->st.last_full_scan_ms;
                full_schedule(w, since >= iv ? 0 : (uint64_t)(iv - since));
            }
            return;
        }
    }
    full_start(w, fresh, false);
}

/* ---- leases (lease.h) ---- */

static bool lanes_idle(const struct pull_worker *w)
{
    return idle(&w->full) && idle(&w->incr) && !w->schema_applying && !w->schema_fetching;
}

static void on_hold_timer(uv_timer_t *t);

static void on_state(pga_conn *c, PGresult *const *res, int nres, const pga_error *err, void *ud)
{
    (void)c;
    struct pull_worker *w = ud;
    w->reloading = false;
    if (w->P->closing || w->P->stopping)
        return;
    if (err || nres < 1 || PQntuples(res[0]) != 1) {
        log_event(LG(w), LOG_WARN, "pull.resume_failed", "location", LOC(w), "object", w->eo->key,
                  "error", err ? err->err.msg : "pull_state row missing", NULL);
        uv_timer_start(&w->hold_timer, on_hold_timer, 2000, 0);
        return;
    }
    if (!w->eo->loc->held)
        return; /* lost again meanwhile */
    ps_state_free(&w->st);
    ps_state_read(res[0], &w->st);
    w->fetched = w->st.fetched;
    w->total = w->st.total;
    w->mode = strcmp(w->st.mode, "sorted_scan") == 0 ? IM_SORTED
              : strcmp(w->st.mode, "full_diff") == 0 ? IM_DIFF
                                                     : IM_FILTER;
    w->full.active = w->incr.active = false;
    w->parked = false;
    worker_go(w);
}

/* A held location resumes once what it did before it was parked has ended, from the state in
 * the database (another process may have served it meanwhile). */
static void on_hold_timer(uv_timer_t *t)
{
    struct pull_worker *w = t->data;
    struct pull *P = w->P;
    if (P->closing || P->stopping || !w->parked || w->reloading || !w->eo->loc->held)
        return;
    if (!lanes_idle(w)) {
        uv_timer_start(&w->hold_timer, on_hold_timer, 200, 0);
        return;
    }
    const char *p[2] = {LOC(w), w->eo->key};
    gs_err e = {0};
    if (pga_query(P->E->meta, ps_sql_state_get, 2, p, on_state, w, &e)) {
        uv_timer_start(&w->hold_timer, on_hold_timer, 2000, 0);
        return;
    }
    w->reloading = true;
}

static void worker_park(struct pull_worker *w)
{
    w->parked = true;
    uv_timer_stop(&w->full.timer);
    uv_timer_stop(&w->incr.timer);
    uv_timer_stop(&w->hold_timer);
    struct lane *ls[2] = {&w->full, &w->incr};
    for (int k = 0; k < 2; k++) {
        uv_timer_stop(&ls[k]->retry_timer);
        grp_drop(ls[k]); /* not written: the next holder refetches from the saved cursor */
        /* a lane waiting for nothing in flight (a retry) ends here; the others end at their
         * next fetch (lane_fetch) */
        if (idle(ls[k]))
            ls[k]->active = false;
    }
}

static void on_hold(struct engine *E, struct engine_location *L, void *ud)
{
    (void)E;
    struct pull *P = ud;
    if (P->closing || P->stopping)
        return;
    for (size_t j = 0; j < L->n_objects; j++) {
        struct pull_worker *w = L->objects[j].worker;
        if (!w || w->P != P || w->joining)
            continue;
        if (!L->held)
            worker_park(w);
        else if (w->parked)
            uv_timer_start(&w->hold_timer, on_hold_timer, 0, 0);
    }
}

/* A location that joined while running (engine.h engine_location_add): parked workers, whose
 * pull_state row is created and quarantine count read first (on the loop's connection); they
 * start as the lease service hands the location over (on_hold). */
static const char sql_joined[] =
    "WITH s AS (INSERT INTO ghlsync.pull_state (location_id, object_key) VALUES ($1, $2) "
    "ON CONFLICT DO NOTHING) SELECT count(*) FROM ghlsync.quarantine WHERE location_id = $1 AND "
    "object_key = $2 AND resolved_at IS NULL";

static void on_joined(pga_conn *c, PGresult *const *res, int nres, const pga_error *err, void *ud);
static void on_join_timer(uv_timer_t *t);

static void join_query(struct pull_worker *w)
{
    const char *p[2] = {LOC(w), w->eo->key};
    gs_err e = {0};
    if (pga_query(w->P->E->meta, sql_joined, 2, p, on_joined, w, &e) != 0) {
        log_event(LG(w), LOG_WARN, "pull.resume_failed", "location", LOC(w), "object", w->eo->key,
                  "error", e.msg, NULL);
        uv_timer_start(&w->hold_timer, on_join_timer, 2000, 0);
    }
}

static void on_join_timer(uv_timer_t *t)
{
    struct pull_worker *w = t->data;
    if (!w->P->closing && !w->P->stopping)
        join_query(w);
}

static void on_joined(pga_conn *c, PGresult *const *res, int nres, const pga_error *err, void *ud)
{
    (void)c;
    struct pull_worker *w = ud;
    if (w->P->closing || w->P->stopping)
        return;
    if (err || nres < 1 || PQntuples(res[nres - 1]) != 1) {
        log_event(LG(w), LOG_WARN, "pull.resume_failed", "location", LOC(w), "object", w->eo->key,
                  "error", err ? err->err.msg : "no result", NULL);
        uv_timer_start(&w->hold_timer, on_join_timer, 2000, 0);
        return;
    }
    w->quarantined = strtoll(PQgetvalue(res[nres - 1], 0, 0), NULL, 10);
    w->joining = false;
    if (w->eo->loc->held)
        uv_timer_start(&w->hold_timer, on_hold_timer, 0, 0);
}

static void on_location_added(struct engine *E, struct engine_location *L, void *ud)
{
    struct pull *P = ud;
    if (P->closing || P->stopping)
        return;
    struct pull_worker **nw = realloc(P->w, (P->n + L->n_objects + 1) * sizeof *nw);
    if (!nw) {
        log_event(E->log, LOG_ERROR, "pull.location_failed", "location", L->cfg->id, "error",
                  "out of memory", NULL);
        return;
    }
    P->w = nw;
    for (size_t j = 0; j < L->n_objects; j++) {
        struct pull_worker *w = worker_new(P, &L->objects[j]);
        if (!w) {
            log_event(E->log, LOG_ERROR, "pull.location_failed", "location", L->cfg->id, "error",
                      "out of memory", NULL);
            return;
        }
        P->w[P->n++] = w;
        w->parked = true;
        w->joining = true; /* on_hold leaves it to on_joined */
        join_query(w);
    }
}

int pull_start(pull *P, gs_err *e)
{
    (void)e;
    struct engine *E = P->E;
    E->on_stop_request = on_stop_request;
    E->on_stop_ud = P;
    E->on_hold = on_hold;
    E->on_hold_ud = P;
    E->on_location_added = on_location_added;
    E->on_location_added_ud = P;
    P->active = P->n;
    if (P->n == 0 && !P->o.mirror) {
        engine_stop(E, 0);
        return 0;
    }
    for (size_t i = 0; i < P->n; i++) {
        struct pull_worker *w = P->w[i];
        if (!w->eo->loc->held) { /* `run`: until the lease service hands it over */
            w->parked = true;
            continue;
        }
        worker_go(w);
    }
    return 0;
}

void pull_shutdown(pull *P)
{
    if (!P)
        return;
    P->closing = true;
    /* before the client goes (engine_close): an answer's arena returns to the client's cache */
    pend_drop_all(P);
    if (P->idle_init)
        uv_close((uv_handle_t *)&P->idle, NULL);
    for (size_t i = 0; i < P->n; i++) {
        struct pull_worker *w = P->w[i];
        uv_close((uv_handle_t *)&w->full.timer, NULL);
        uv_close((uv_handle_t *)&w->incr.timer, NULL);
        uv_close((uv_handle_t *)&w->schema_timer, NULL);
        uv_close((uv_handle_t *)&w->full.retry_timer, NULL);
        uv_close((uv_handle_t *)&w->incr.retry_timer, NULL);
        uv_close((uv_handle_t *)&w->hold_timer, NULL);
    }
    if (P->prog)
        progress_draw(P->prog, now_ms(P));
}

void pull_free(pull *P)
{
    if (!P)
        return;
    for (struct side *s = P->sides; s; s = s->next)
        s->P = NULL; /* they end with the client's shutdown */
    for (size_t i = 0; i < P->n; i++) {
        struct pull_worker *w = P->w[i];
        struct lane *ls[2] = {&w->full, &w->incr};
        for (int k = 0; k < 2; k++) {
            if (ls[k]->has_held)
                ps_page_free(&ls[k]->held);
            grp_drop(ls[k]);
            cJSON_Delete(ls[k]->after);
            free(ls[k]->last_cursor);
            for (int j = 0; ls[k]->slot && j < ls[k]->max_writes; j++)
                slot_clear(&ls[k]->slot[j]);
            free(ls[k]->slot);
        }
        cJSON_Delete(w->schema_pending);
        engine_schema_forget(P->E, w);
        free(w->schema_applied);
        free(w->schema_applying_text);
        free(w->err);
        ps_model_unref(w->shadow);
        ps_state_free(&w->st);
        free(w);
    }
    free(P->w);
    progress_free(P->prog);
    free(P);
}

int pull_failed(const pull *P)
{
    int n = (int)P->E->n_unavailable; /* objects whose schema could not be had */
    for (size_t i = 0; i < P->n; i++)
        n += P->w[i]->failed;
    return n;
}

void pull_summary(const pull *P, FILE *f)
{
    for (size_t i = 0; i < P->E->nlocs; i++) {
        const struct engine_location *L = P->E->locs[i];
        for (size_t j = 0; j < L->n_unavailable; j++)
            fprintf(f, "%-8s %s @ %s: %s\n", "FAILED", L->unavailable[j].key, L->cfg->id,
                    L->unavailable[j].why);
    }
    for (size_t i = 0; i < P->n; i++) {
        const struct pull_worker *w = P->w[i];
        char c[32];
        progress_fmt_count(w->fetched, c, sizeof c);
        fprintf(f, "%-8s %s @ %s: %s records%s%s\n",
                w->failed ? "FAILED" : (w->done ? "ok" : "stopped"), w->eo->key, LOC(w), c,
                w->failed ? ": " : "", w->failed && w->err ? w->err : "");
    }
}

/* ---- --snapshot ---- */

static bool same_table(const struct pull_worker *a, const struct pull_worker *b)
{
    return strcmp(a->eo->model->table_schema, b->eo->model->table_schema) == 0 &&
           strcmp(a->eo->model->table_name, b->eo->model->table_name) == 0;
}

/* A shadow per table (locations of an object share its table) and a shadow model per worker. */
static int snapshot_prepare(struct pull *P, gs_err *e)
{
    struct engine *E = P->E;
    for (size_t i = 0; i < P->n; i++) {
        struct pull_worker *w = P->w[i];
        const ps_model *m = w->eo->model;
        size_t k = 0;
        while (k < i && !same_table(P->w[k], w))
            k++;
        int rc = 0;
        if (k < i)
            memcpy(w->shadow_name, P->w[k]->shadow_name, sizeof w->shadow_name);
        else
            rc = snap_prepare(E->db, m->table_schema, m->table_name, w->shadow_name, e);
        if (!rc)
            rc = ps_model_new_shadow(E->db, w->eo->model, w->shadow_name, &w->shadow, e);
        if (rc)
            return rc;
        log_event(LG(w), LOG_INFO, "snapshot.shadow", "location", LOC(w), "object", w->eo->key,
                  "table", m->table_name, "shadow", w->shadow_name, NULL);
    }
    return 0;
}

/* After every scan completed: one swap transaction per table. Otherwise drop the shadows. */
static int snapshot_finish(struct pull *P, bool swap, gs_err *e)
{
    struct engine *E = P->E;
    /* the start-up session may have been lost during a long backfill (a server restart) */
    int rc = engine_db_revive(E, e);
    if (rc)
        return rc;
    for (size_t i = 0; i < P->n; i++) {
        struct pull_worker *w = P->w[i];
        if (!w->shadow_name[0])
            continue;
        size_t k = 0;
        while (k < i && !(P->w[k]->shadow_name[0] && same_table(P->w[k], w)))
            k++;
        if (k < i)
            continue; /* done with the first worker of the table */
        const ps_model *m = w->eo->model;
        if (!swap || rc) {
            snap_drop(E->db, m->table_schema, w->shadow_name);
            continue;
        }
        const char **locs = calloc(P->n, sizeof *locs);
        snap_scan *scans = calloc(P->n, sizeof *scans);
        size_t n = 0;
        if (!locs || !scans) {
            free(locs);
            free(scans);
            rc = gs_err_set(e, GS_ENOMEM, "out of memory");
            snap_drop(E->db, m->table_schema, w->shadow_name);
            continue;
        }
        for (size_t j = i; j < P->n; j++)
            if (P->w[j]->shadow_name[0] && same_table(P->w[j], w)) {
                locs[n] = LOC(P->w[j]);
                scans[n] = (snap_scan){LOC(P->w[j]), P->w[j]->eo->key, P->w[j]->full.gen};
                n++;
            }
        snap_counts cnt;
        rc = snap_swap(E->db, m->table_schema, m->table_name, w->shadow_name, locs, n,
                       settings(w)->soft_delete, scans, n, &cnt, e);
        free(locs);
        free(scans);
        if (rc) {
            snap_drop(E->db, m->table_schema, w->shadow_name);
            continue;
        }
        char a[32], b[32];
        snprintf(a, sizeof a, "%lld", cnt.loaded);
        snprintf(b, sizeof b, "%lld", cnt.deleted);
        log_event(LG(w), LOG_INFO, "snapshot.swapped", "table", m->table_name, "rows", a, "deleted",
                  b, NULL);
    }
    return rc;
}

int pull_command(struct cli_ctx *ctx, const struct engine_opts *eopts, const struct pull_opts *po)
{
    int rc = cli_load_config(ctx);
    if (rc)
        return rc;
    struct engine E;
    gs_err e = {0};
    pull *P = NULL;
    int code = CLI_EXIT_RUNTIME;
    /* a connection per page write in flight, and one for incremental polls */
    struct engine_opts eo = *eopts;
    if (eo.pool_size <= 0)
        eo.pool_size = (po->writes > 0 ? po->writes : PULL_WRITES) + 1;
    /* a one-shot backfill takes its locations' leases, or refuses when a `run` serves one */
    if (engine_open(&E, ctx, &eo, &e) || (engine_signals(&E), 0) ||
        (!po->mirror && lease_take_once(&E, "backfill", &e)) ||
        engine_discover(&E, true, NULL, &e)) {
        log_event(ctx->log, LOG_ERROR, po->mirror ? "run.failed" : "backfill.failed", "error",
                  e.msg, NULL);
        fprintf(stderr, "ghlsync%s: %s\n", po->mirror ? "" : " backfill", e.msg);
        code = e.code == GS_ECONFIG   ? CLI_EXIT_USAGE
               : e.code == GS_EDBLOST ? CLI_EXIT_UNAVAILABLE
                                      : CLI_EXIT_RUNTIME;
        goto out;
    }
    if (E.stopping) {
        code = CLI_EXIT_OK;
        goto out;
    }
    /* `run`: a location is served once the lease service hands its lease over (lease.h) */
    for (size_t i = 0; po->mirror && i < E.nlocs; i++)
        E.locs[i]->held = false;
    if (pull_new(&E, po, &P, &e) || (po->snapshot && snapshot_prepare(P, &e)) ||
        pull_start(P, &e)) {
        fprintf(stderr, "ghlsync: %s\n", e.msg);
        if (P && po->snapshot)
            snapshot_finish(P, false, &e);
        goto out;
    }
    /* a backfill into the live tables lists their relations once the records are in (a
     * snapshot is swapped in after engine_run: the next run or backfill lists them) */
    E.relations_after = !po->mirror && !po->snapshot;
    code = engine_run(&E, po->mirror);
    if (po->snapshot) {
        /* every scan complete: swap; else the live tables stay as they were */
        bool all = !pull_failed(P) && P->active == 0 && code == 0;
        gs_err se = {0};
        if (snapshot_finish(P, all, &se)) {
            fprintf(stderr, "ghlsync backfill: the snapshot was not swapped in: %s\n", se.msg);
            code = CLI_EXIT_RUNTIME;
        } else if (!all) {
            fprintf(stderr, "ghlsync backfill: snapshot incomplete; the tables were not changed\n");
        }
    }
    if (!po->mirror) {
        int failed = pull_failed(P);
        pull_summary(P, stderr);
        if (failed) {
            fprintf(stderr, "ghlsync backfill: %d object(s) failed; run it again to resume\n",
                    failed);
            code = CLI_EXIT_RUNTIME;
        } else if (E.stopping && code == 0 && P->active) {
            /* stopped by a signal before the end: cursors are saved, not an error */
            code = CLI_EXIT_OK;
        }
    }
out:
    pull_shutdown(P);
    engine_close(&E);
    pull_free(P);
    return code;
}
