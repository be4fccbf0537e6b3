/* runtime.c - periodic budget -> metrics, counters -> ghlsync.runtime, database gauges. */
#include "runtime.h"

#include "family.h"
#include "ident.h"
#include "mapping.h"
#include "pgasync.h"
#include "sbuf.h"
#include "strmap.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct rt_loc {
    char *id;
    rl_loc *budget;
    const bool *served; /* NULL = always written; else only while served (or with news) */
    long last_started;  /* n_started at the previous tick */
    uint64_t last_ms;   /* monotonic ms of the previous tick */
    long unsent;        /* requests not yet added to ghlsync.runtime.requests_today */
    long inflight_sent; /* part of `unsent` carried by the write in flight */
    double rate;
    long errors;
    char *last_error; /* not yet written; NULL when nothing new */
    char *sending_error;
    bool in_write; /* part of the write in flight */
};

struct gs_runtime {
    gs_loop *L;
    pga_conn *db;
    gs_metrics *m;
    uv_timer_t *timer;
    int64_t interval_ms;
    struct rt_loc **locs; /* each on its own: adding one (engine_location_add) moves none */
    size_t nlocs;
    strmap by_id; /* location id -> its rt_loc */
    char holder[128];
    char started_at[32]; /* epoch seconds, as text for to_timestamp */
    int busy;            /* queries in flight */
    bool round_ok;
    bool closing;
    /* readiness */
    uint64_t last_ok_ms; /* 0 = never */
    bool any_object;
    bool all_complete;
    bool trimmed; /* the heap was trimmed since every backfill completed */
    char not_complete[128];
    void (*done)(void *ud, bool ok);
    void *done_ud;
    /* A tick asked for while a round ran: it runs right after (rt_tick's promise). */
    void (*next_done)(void *ud, bool ok);
    void *next_ud;
    bool next;
};

/* Every location's row in one statement (one array per column, $3...): a process that serves
 * thousands of locations writes them all every interval, and one statement per row would be
 * most of its idle work. */
static const char sql_upsert[] =
    "INSERT INTO ghlsync.runtime AS r (location_id, holder, day, requests_today, daily_limit, "
    "daily_remaining, burst_limit, burst_remaining, rate_per_s, requests_total, throttled_total, "
    "errors_total, last_error, last_error_at, started_at, updated_at) "
    "SELECT u.id, $1, (now() AT TIME ZONE 'UTC')::date, u.today, u.dlim, u.drem, u.blim, u.brem, "
    "u.rate, u.total, u.thr, u.errs, u.err, CASE WHEN u.err IS NULL THEN NULL ELSE now() END, "
    "to_timestamp($2::float8), now() "
    "FROM unnest($3::text[], $4::bigint[], $5::bigint[], $6::bigint[], $7::integer[], "
    "$8::integer[], $9::float8[], $10::bigint[], $11::bigint[], $12::bigint[], $13::text[]) "
    "AS u(id, today, dlim, drem, blim, brem, rate, total, thr, errs, err) "
    "ON CONFLICT (location_id) DO UPDATE SET holder = EXCLUDED.holder, day = EXCLUDED.day, "
    "requests_today = CASE WHEN r.day = EXCLUDED.day THEN r.requests_today + "
    "EXCLUDED.requests_today ELSE EXCLUDED.requests_today END, "
    "daily_limit = coalesce(EXCLUDED.daily_limit, r.daily_limit), "
    "daily_remaining = coalesce(EXCLUDED.daily_remaining, r.daily_remaining), "
    "burst_limit = coalesce(EXCLUDED.burst_limit, r.burst_limit), "
    "burst_remaining = coalesce(EXCLUDED.burst_remaining, r.burst_remaining), "
    "rate_per_s = EXCLUDED.rate_per_s, requests_total = EXCLUDED.requests_total, "
    "throttled_total = EXCLUDED.throttled_total, errors_total = EXCLUDED.errors_total, "
    "last_error = coalesce(EXCLUDED.last_error, r.last_error), "
    "last_error_at = coalesce(EXCLUDED.last_error_at, r.last_error_at), "
    "started_at = EXCLUDED.started_at, updated_at = now()";
#define RT_COLS 11 /* the arrays: $3..$13 */

/* Cheap on purpose (runs every few seconds): no row counts of the mirrored tables, and the
 * pending count uses the partial index of 001 (changes_todo_idx). */
static const char sql_gauges[] =
    "WITH c AS (SELECT location_id, object_key, "
    "count(*) FILTER (WHERE state IN " FAM_DUE_STATES ") AS pending, "
    "count(*) FILTER (WHERE state IN " FAM_PARKED_STATES ") AS failed "
    "FROM ghlsync.changes WHERE state IN " FAM_OPEN_STATES " "
    "GROUP BY 1, 2) "
    "SELECT coalesce(p.location_id, c.location_id), coalesce(p.object_key, c.object_key), "
    "coalesce(c.pending, 0), coalesce(c.failed, 0), "
    "extract(epoch FROM now() - p.watermark)::float8, p.complete, "
    /* open quarantine rows: the partial index quarantine_open_idx of 006 */
    "(SELECT count(*) FROM ghlsync.quarantine q WHERE q.location_id = p.location_id "
    "AND q.object_key = p.object_key AND q.resolved_at IS NULL) "
    "FROM ghlsync.pull_state p FULL JOIN c "
    "ON c.location_id = p.location_id AND c.object_key = p.object_key";

int rt_new(gs_loop *L, const char *conninfo, gs_metrics *m, int64_t interval_ms, gs_runtime **out,
           gs_err *e)
{
    *out = NULL;
    gs_runtime *rt = calloc(1, sizeof *rt);
    if (!rt)
        return gs_err_set(e, GS_ENOMEM, "runtime: out of memory");
    rt->L = L;
    rt->m = m;
    rt->interval_ms = interval_ms > 0 ? interval_ms : 5000;
    char host[64] = "?";
    gethostname(host, sizeof host - 1);
    snprintf(rt->holder, sizeof rt->holder, "%s:%ld", host, (long)getpid());
    snprintf(rt->started_at, sizeof rt->started_at, "%.3f", (double)gs_wall_ms() / 1000.0);
    int rc = pga_open(L, conninfo ? conninfo : "", &rt->db, e);
    if (rc) {
        free(rt);
        return rc;
    }
    *out = rt;
    return 0;
}

int rt_add_location(gs_runtime *rt, const char *location_id, rl_loc *budget)
{
    return rt_add_location_served(rt, location_id, budget, NULL);
}

static struct rt_loc *find_loc(gs_runtime *rt, const char *id)
{
    return strmap_get(&rt->by_id, id);
}

int rt_add_location_served(gs_runtime *rt, const char *location_id, rl_loc *budget,
                           const bool *served)
{
    /* one row per location (a batch may not write a row twice); the budget is per id too
     * (rl_location), so a second add only updates what it was given */
    struct rt_loc *known = find_loc(rt, location_id);
    if (known) {
        known->budget = budget;
        known->served = served;
        return 0;
    }
    struct rt_loc **v = realloc(rt->locs, (rt->nlocs + 1) * sizeof *v);
    if (!v)
        return GS_ENOMEM;
    rt->locs = v;
    struct rt_loc *l = calloc(1, sizeof *l);
    if (!l || !(l->id = strdup(location_id)) || strmap_put(&rt->by_id, l->id, l) != 0) {
        if (l)
            free(l->id);
        free(l);
        return GS_ENOMEM;
    }
    v[rt->nlocs] = l;
    l->budget = budget;
    l->served = served;
    /* The budget counts this process's requests from its start, and every one of them is
     * spent from today's allowance: those made before the runtime existed (start-up schema
     * discovery) are written with the first round. */
    l->last_started = 0;
    l->last_ms = gs_loop_now_ms(rt->L);
    rt->nlocs++;
    return 0;
}

void rt_note_error(gs_runtime *rt, const char *location_id, const char *kind, const char *msg)
{
    const char *labels[] = {location_id ? location_id : "", kind};
    metrics_add(rt->m, GSM_ERRORS, labels, 1);
    struct rt_loc *l = location_id ? find_loc(rt, location_id) : NULL;
    if (!l)
        return;
    l->errors++;
    /* PostgreSQL refuses invalid UTF-8, and the rows are written in one statement: one such
     * message would stop every location's row */
    const char *text = msg ? msg : kind;
    char *dup = ident_utf8_valid(text) ? strdup(text) : ident_clean_text(text);
    if (dup) {
        free(l->last_error);
        l->last_error = dup;
    }
}

/* Budget -> metrics, and the request rate since the previous tick. */
static void sample_budgets(gs_runtime *rt)
{
    uint64_t now = gs_loop_now_ms(rt->L);
    for (size_t i = 0; i < rt->nlocs; i++) {
        struct rt_loc *l = rt->locs[i];
        if (!l->budget)
            continue;
        const rl_budget *b = rl_loc_budget(l->budget);
        const char *lab[] = {l->id};
        long delta = b->n_started - l->last_started;
        if (delta < 0)
            delta = 0;
        l->unsent += delta;
        l->last_started = b->n_started;
        if (now > l->last_ms)
            l->rate = (double)delta * 1000.0 / (double)(now - l->last_ms);
        l->last_ms = now;
        metrics_set(rt->m, GSM_STARTED, lab, (double)b->n_started);
        metrics_set(rt->m, GSM_THROTTLED, lab, (double)b->n_429);
        metrics_set(rt->m, GSM_BURST_LIMIT, lab, (double)b->p.burst);
        metrics_set(rt->m, GSM_INFLIGHT, lab, (double)b->inflight);
        if (b->daily_remaining >= 0)
            metrics_set(rt->m, GSM_DAILY_REMAINING, lab, (double)b->daily_remaining);
        metrics_set(rt->m, GSM_DAILY_LIMIT, lab,
                    (double)(b->daily_limit > 0 ? b->daily_limit : b->p.daily));
    }
}

static void submit_round(gs_runtime *rt);

static void round_finished(gs_runtime *rt)
{
    if (--rt->busy > 0)
        return;
    if (rt->round_ok)
        rt->last_ok_ms = gs_loop_now_ms(rt->L);
    void (*done)(void *, bool) = rt->done;
    void *ud = rt->done_ud;
    rt->done = NULL;
    if (rt->closing) {
        for (size_t i = 0; i < rt->nlocs; i++) {
            free(rt->locs[i]->id);
            free(rt->locs[i]->last_error);
            free(rt->locs[i]->sending_error);
            free(rt->locs[i]);
        }
        free(rt->locs);
        strmap_free(&rt->by_id);
        void (*next_done)(void *, bool) = rt->next ? rt->next_done : NULL;
        void *next_ud = rt->next_ud;
        free(rt);
        if (done)
            done(ud, false);
        if (next_done)
            next_done(next_ud, false);
        return;
    }
    bool ok = rt->round_ok;
    /* The queued round starts before `done` runs, so that a `done` that closes the runtime
     * finds it busy (rt_close then frees it once that round is over). */
    if (rt->next) {
        rt->next = false;
        rt->done = rt->next_done;
        rt->done_ud = rt->next_ud;
        rt->next_done = NULL;
        submit_round(rt);
    }
    if (done)
        done(ud, ok);
}

/* The write of one location ended: on success its delta is accounted for; on failure the
 * delta and the error stay for the next round. */
static void upsert_done(struct rt_loc *l, bool ok)
{
    if (ok) {
        l->unsent -= l->inflight_sent;
        free(l->sending_error);
        l->sending_error = NULL;
    } else if (l->sending_error && !l->last_error) {
        l->last_error = l->sending_error;
        l->sending_error = NULL;
    }
    l->inflight_sent = 0;
}

static void on_upsert(pga_conn *c, PGresult *const *res, int nres, const pga_error *err, void *ud)
{
    (void)c;
    (void)res;
    (void)nres;
    gs_runtime *rt = ud;
    for (size_t i = 0; !rt->closing && i < rt->nlocs; i++)
        if (rt->locs[i]->in_write) {
            rt->locs[i]->in_write = false;
            upsert_done(rt->locs[i], err == NULL);
        }
    if (err) {
        rt->round_ok = false;
        if (!rt->closing && err->err.code != GS_EDBLOST) /* an outage: logged by pgasync */
            log_event(rt->L->log, LOG_WARN, "runtime.write_failed", "error", err->err.msg, NULL);
    }
    round_finished(rt);
}

static void on_gauges(pga_conn *c, PGresult *const *res, int nres, const pga_error *err, void *ud)
{
    (void)c;
    gs_runtime *rt = ud;
    if (err || nres < 1 || rt->closing) {
        rt->round_ok = false;
        if (err && !rt->closing && err->err.code != GS_EDBLOST)
            log_event(rt->L->log, LOG_WARN, "runtime.query_failed", "error", err->err.msg, NULL);
        round_finished(rt);
        return;
    }
    const PGresult *r = res[nres - 1];
    metrics_zero_family(rt->m, GSM_CHANGES_PENDING);
    metrics_zero_family(rt->m, GSM_CHANGES_FAILED);
    rt->any_object = false;
    rt->all_complete = true;
    rt->not_complete[0] = 0;
    for (int i = 0; i < PQntuples(r); i++) {
        const char *lab[] = {PQgetvalue(r, i, 0), PQgetvalue(r, i, 1)};
        metrics_set(rt->m, GSM_CHANGES_PENDING, lab, strtod(PQgetvalue(r, i, 2), NULL));
        metrics_set(rt->m, GSM_CHANGES_FAILED, lab, strtod(PQgetvalue(r, i, 3), NULL));
        if (PQgetisnull(r, i, 4))
            metrics_drop(rt->m, GSM_LAG_SECONDS, lab);
        else
            metrics_set(rt->m, GSM_LAG_SECONDS, lab, strtod(PQgetvalue(r, i, 4), NULL));
        if (!PQgetisnull(r, i, 5)) { /* NULL: only outbox rows, no pull state */
            bool complete = PQgetvalue(r, i, 5)[0] == 't';
            metrics_set(rt->m, GSM_BACKFILL_DONE, lab, complete ? 1 : 0);
            metrics_set(rt->m, GSM_QUARANTINED, lab, strtod(PQgetvalue(r, i, 6), NULL));
            rt->any_object = true;
            if (!complete && rt->all_complete) {
                rt->all_complete = false;
                snprintf(rt->not_complete, sizeof rt->not_complete, "%s/%s", lab[0], lab[1]);
            }
        }
    }
    /* Start-up's peak (every location's schemas at once, then the first pages) is freed by
     * the time every backfill has completed, but the allocator keeps those pages: with
     * thousands of locations, more than half of an idle process's resident memory. Once per
     * completion, give them back. */
    if (!rt->all_complete || !rt->any_object) {
        rt->trimmed = false;
    } else if (!rt->trimmed) {
        rt->trimmed = true;
#if defined(__GLIBC__)
        malloc_trim(0);
#endif
    }
    round_finished(rt);
}

/* One element of each array per location written (NULL elements: SQL NULL). */
struct rt_cols {
    const char **v[RT_COLS];
    char *num; /* the numbers' text, 24 bytes per value */
};

static void submit_round(gs_runtime *rt)
{
    gs_err e = {0};
    rt->round_ok = true;
    rt->busy = 1; /* held until everything is submitted */
    sample_budgets(rt);
    size_t n = rt->nlocs ? rt->nlocs : 1, nw = 0;
    struct rt_cols cols = {.num = malloc(n * RT_COLS * 24)};
    bool mem = cols.num != NULL;
    for (int k = 0; k < RT_COLS; k++)
        mem = mem && (cols.v[k] = malloc(n * sizeof *cols.v[k])) != NULL;
    for (size_t i = 0; mem && i < rt->nlocs; i++) {
        struct rt_loc *l = rt->locs[i];
        /* another process serves it (lease.h): its row is that process's, unless this one has
         * requests or an error to add */
        if (l->served && !*l->served && l->unsent == 0 && !l->last_error)
            continue;
        const rl_budget *b = l->budget ? rl_loc_budget(l->budget) : NULL;
        double burst_rem = -1;
        const char *lab[] = {l->id};
        if (!metrics_lookup(rt->m, GSM_BURST_REMAINING, lab, &burst_rem))
            burst_rem = -1;
        char *t = cols.num + nw * RT_COLS * 24;
        char *today = t, *dlim = t + 24, *drem = t + 48, *blim = t + 72, *brem = t + 96,
             *rate = t + 120, *total = t + 144, *thr = t + 168, *errs = t + 192;
        snprintf(today, 24, "%ld", l->unsent);
        snprintf(dlim, 24, "%ld", b && b->daily_limit > 0 ? b->daily_limit : -1);
        snprintf(drem, 24, "%ld", b ? b->daily_remaining : -1);
        snprintf(blim, 24, "%d", b ? b->p.burst : -1);
        snprintf(brem, 24, "%.0f", burst_rem);
        snprintf(rate, 24, "%.3f", l->rate);
        snprintf(total, 24, "%ld", b ? b->n_started : 0L);
        snprintf(thr, 24, "%ld", b ? b->n_429 : 0L);
        snprintf(errs, 24, "%ld", l->errors);
        free(l->sending_error);
        l->sending_error = l->last_error;
        l->last_error = NULL;
        const char *row[RT_COLS] = {l->id,
                                    today,
                                    dlim[0] == '-' ? NULL : dlim,
                                    drem[0] == '-' ? NULL : drem,
                                    blim[0] == '-' ? NULL : blim,
                                    brem[0] == '-' ? NULL : brem,
                                    b ? rate : NULL,
                                    total,
                                    thr,
                                    errs,
                                    l->sending_error};
        for (int k = 0; k < RT_COLS; k++)
            cols.v[k][nw] = row[k];
        l->inflight_sent = l->unsent;
        l->in_write = true;
        nw++;
    }
    sbuf lit[RT_COLS];
    for (int k = 0; k < RT_COLS; k++) {
        lit[k] = (sbuf)SBUF_INIT;
        if (mem && nw)
            map_array_encode(&lit[k], cols.v[k], nw);
        mem = mem && !sbuf_failed(&lit[k]);
    }
    if (!mem)
        rt->round_ok = false;
    if (mem && nw) {
        const char *v[2 + RT_COLS] = {rt->holder, rt->started_at};
        for (int k = 0; k < RT_COLS; k++)
            v[2 + k] = sbuf_str(&lit[k]);
        if (pga_query(rt->db, sql_upsert, 2 + RT_COLS, v, on_upsert, rt, &e) == 0)
            rt->busy++;
        else
            rt->round_ok = false;
    }
    if (rt->busy == 1) /* nothing in flight: what was picked stays for the next round */
        for (size_t i = 0; i < rt->nlocs; i++)
            if (rt->locs[i]->in_write) {
                rt->locs[i]->in_write = false;
                upsert_done(rt->locs[i], false);
            }
    for (int k = 0; k < RT_COLS; k++) {
        sbuf_free(&lit[k]);
        free(cols.v[k]);
    }
    free(cols.num);
    if (pga_query(rt->db, sql_gauges, 0, NULL, on_gauges, rt, &e) == 0)
        rt->busy++;
    else
        rt->round_ok = false;
    round_finished(rt);
}

void rt_tick(gs_runtime *rt, void (*done)(void *ud, bool ok), void *ud)
{
    if (rt->busy) {
        /* The previous round is still running (slow database): a timer tick is skipped; an
         * explicit one (the final write at stop) runs once that round has finished, since it
         * must carry what happened after the round read its values. */
        if (!done)
            return;
        if (rt->next) {
            done(ud, false);
            return;
        }
        rt->next = true;
        rt->next_done = done;
        rt->next_ud = ud;
        return;
    }
    rt->done = done;
    rt->done_ud = ud;
    submit_round(rt);
}

static void on_timer(uv_timer_t *t)
{
    rt_tick(t->data, NULL, NULL);
}

int rt_start(gs_runtime *rt, gs_err *e)
{
    rt->timer = malloc(sizeof *rt->timer);
    if (!rt->timer)
        return gs_err_set(e, GS_ENOMEM, "runtime: out of memory");
    uv_timer_init(&rt->L->uv, rt->timer);
    rt->timer->data = rt;
    uv_timer_start(rt->timer, on_timer, 0, (uint64_t)rt->interval_ms);
    return 0;
}

bool rt_ready(void *ud, char *why, size_t len)
{
    gs_runtime *rt = ud;
    uint64_t now = gs_loop_now_ms(rt->L);
    if (rt->L->db.down) {
        snprintf(why, len, "database unreachable (%d connection%s without a session for %.0f s)",
                 rt->L->db.down, rt->L->db.down == 1 ? "" : "s",
                 (double)(now - rt->L->db.outage_start_ms) / 1000.0);
        return false;
    }
    if (!rt->last_ok_ms || now - rt->last_ok_ms > 3 * (uint64_t)rt->interval_ms) {
        snprintf(why, len, "database not reachable (no successful query in the last %lld ms)",
                 (long long)(3 * rt->interval_ms));
        return false;
    }
    if (!rt->any_object) {
        snprintf(why, len, "no object pulled yet");
        return false;
    }
    if (!rt->all_complete) {
        snprintf(why, len, "backfill in progress (%s)", rt->not_complete);
        return false;
    }
    return true;
}

void rt_close(gs_runtime *rt)
{
    if (!rt)
        return;
    rt->closing = true;
    if (rt->timer) {
        uv_timer_stop(rt->timer);
        gs_uv_close_free((uv_handle_t *)rt->timer);
        rt->timer = NULL;
    }
    /* pga_close fails the queued queries and may run their callbacks right here: hold a
     * reference so that the last one to finish (possibly the line below) frees rt. */
    rt->busy++;
    pga_close(rt->db);
    rt->db = NULL;
    round_finished(rt);
}
