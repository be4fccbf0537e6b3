/* cmd_push.c - `ghlsync push`: send the pending local changes, then exit (push_service.h). */
#include "commands.h"
#include "db.h"
#include "engine.h"
#include "lease.h"
#include "progress.h"
#include "push_service.h"
#include "sbuf.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char cmd_push_help[] =
    "usage: ghlsync [-c FILE] push [--location ID]\n\n"
    "Send the pending local changes (rows inserted, updated or deleted with SQL in the\n"
    "mirrored tables) to HighLevel, then exit. The tables and their triggers are created or\n"
    "brought up to date first, as `ghlsync schema apply` does. Changes to one record are\n"
    "coalesced into one API call and sent in order; changes that fail with a transient error\n"
    "are retried with backoff ([push] max_attempts, backoff_base, backoff_max) before the\n"
    "command exits. Changes waiting for a person (state failed or unknown, see `ghlsync\n"
    "errors`) do not hold it up; they are counted in the summary.\n\n"
    "On a terminal a progress line is shown; otherwise log lines (start, every 5 s, end).\n"
    "A `ghlsync run` working at the same time is harmless: each change is claimed by one\n"
    "process.\n\n"
    "Exit status:\n"
    "    0    nothing is left pending: every change was pushed (or was already waiting for\n"
    "         a person before this run)\n"
    "    1    some change failed or was parked (unknown outcome) in this run, or the push\n"
    "         could not run (database, schema, HighLevel unreachable), or it was interrupted\n"
    "         with changes still pending\n"
    "    2    bad arguments or configuration ([push] enabled = false included)\n"
    "    3    the database could not be reached: nothing was pushed; try again later\n\n"
    "Options:\n"
    "    --location ID    only the changes of this configured location\n\n"
    "Examples:\n"
    "    ghlsync push\n"
    "    ghlsync push --location ve9EPM428h8vShlRW1KT && ghlsync errors\n";

struct pushrun {
    struct engine *E;
    void *svc;
    bool tty;
    progress *prog;
    int bar;
    long long initial;
    uv_timer_t wake; /* re-wake for changes that are due later (backoff) */
    uv_timer_t tick; /* progress line / log lines */
    uint64_t last_log;
    bool finished;
    bool asking;  /* on_idle's query is in flight */
    sbuf keys[2]; /* text[] literals: location ids, object keys (any number of each) */
};

/* Open changes this run can push: pending/retrying, of our targets, not behind an unknown one.
 * $1 location ids, $2 object keys. Columns: count, ms until the earliest is due. */
static const char remaining_sql[] =
    "SELECT count(*), coalesce((extract(epoch FROM min(c.next_attempt_at) - now()) * 1000)"
    "::bigint, 0) FROM ghlsync.changes c "
    "WHERE c.state IN ('pending', 'retrying') AND c.location_id = ANY($1::text[]) "
    "AND c.object_key = ANY($2::text[]) AND NOT EXISTS (SELECT 1 FROM ghlsync.changes u "
    "WHERE u.state = 'unknown' AND u.table_schema = c.table_schema AND u.table_name = "
    "c.table_name AND u.local_key = c.local_key)";

static void lit_add(sbuf *b, const char *s)
{
    /* ids and keys are validated identifiers (letters, digits, '-', '_', '.'): no quoting */
    sbuf_printf(b, "%s\"%s\"", b->len ? "," : "{", s);
}

/* The location ids and the distinct pushed object keys of this run as text[] literals. Every
 * location usually syncs the same few objects: the distinct keys are few, a scan finds them. */
static int build_keys(struct pushrun *R, gs_err *e)
{
    struct engine *E = R->E;
    size_t cap = 0, n = 0;
    const char **seen = NULL;
    for (size_t i = 0; i < E->nlocs; i++) {
        lit_add(&R->keys[0], E->locs[i]->cfg->id);
        for (size_t j = 0; j < E->locs[i]->n_objects; j++) {
            const struct engine_object *eo = &E->locs[i]->objects[j];
            if (!push_service_pushes(eo))
                continue;
            size_t k = 0;
            while (k < n && strcmp(seen[k], eo->key) != 0)
                k++;
            if (k < n)
                continue;
            if (n == cap) {
                size_t nc = cap ? cap * 2 : 8;
                const char **g = realloc(seen, nc * sizeof *g);
                if (!g) {
                    free(seen);
                    return gs_err_set(e, GS_ENOMEM, "out of memory");
                }
                seen = g;
                cap = nc;
            }
            seen[n++] = eo->key;
            lit_add(&R->keys[1], eo->key);
        }
    }
    free(seen);
    for (int k = 0; k < 2; k++)
        sbuf_puts(&R->keys[k], R->keys[k].len ? "}" : "{}");
    if (sbuf_failed(&R->keys[0]) || sbuf_failed(&R->keys[1]))
        return gs_err_set(e, GS_ENOMEM, "out of memory");
    return 0;
}

/* Before and after the loop only (start-up count, summary). */
static int remaining(struct pushrun *R, long long *n, long long *due_ms, gs_err *e)
{
    const char *p[] = {sbuf_str(&R->keys[0]), sbuf_str(&R->keys[1])};
    PGresult *r;
    int rc = db_query(R->E->db, remaining_sql, 2, p, &r, e);
    if (rc)
        return rc;
    *n = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    *due_ms = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
    PQclear(r);
    return 0;
}

static void finish(struct pushrun *R, int code)
{
    if (R->finished)
        return;
    R->finished = true;
    uv_timer_stop(&R->wake);
    uv_timer_stop(&R->tick);
    engine_stop(R->E, code);
}

static void on_wake(uv_timer_t *t)
{
    struct pushrun *R = t->data;
    push_wake(push_service_of(R->svc), NULL);
}

static void on_remaining(pga_conn *c, PGresult *const *res, int nres, const pga_error *err,
                         void *ud)
{
    (void)c;
    struct pushrun *R = ud;
    R->asking = false;
    if (R->finished)
        return;
    if (err || nres < 1 || PQntuples(res[0]) != 1) {
        log_event(R->E->log, LOG_ERROR, "push.failed", "error",
                  err ? err->err.msg : "unexpected result", NULL);
        finish(R, CLI_EXIT_RUNTIME);
        return;
    }
    long long n = strtoll(PQgetvalue(res[0], 0, 0), NULL, 10);
    long long due = strtoll(PQgetvalue(res[0], 0, 1), NULL, 10);
    if (n == 0) {
        finish(R, CLI_EXIT_OK);
        return;
    }
    /* Due now but not claimable (another process holds it): look again shortly. */
    if (due < 200)
        due = 200;
    uv_timer_start(&R->wake, on_wake, (uint64_t)due, 0);
}

/* Nothing was due and nothing is in flight: done, or wait for the next backoff deadline. The
 * question goes through the loop's own connection (never a blocking call on the loop). */
static void on_idle(void *ud)
{
    struct pushrun *R = ud;
    if (R->asking || R->finished)
        return;
    const char *p[] = {sbuf_str(&R->keys[0]), sbuf_str(&R->keys[1])};
    gs_err e = {0};
    if (pga_query(R->E->meta, remaining_sql, 2, p, on_remaining, R, &e)) {
        log_event(R->E->log, LOG_ERROR, "push.failed", "error", e.msg, NULL);
        finish(R, CLI_EXIT_RUNTIME);
        return;
    }
    R->asking = true;
}

static void on_tick(uv_timer_t *t)
{
    struct pushrun *R = t->data;
    push_stats st;
    push_get_stats(push_service_of(R->svc), &st);
    uint64_t now = gs_loop_now_ms(&R->E->loop);
    if (R->prog) {
        long long done = st.done + st.ignored;
        progress_set(R->prog, R->bar, done, done > R->initial ? done : R->initial, now);
    } else if (now - R->last_log >= 5000) {
        R->last_log = now;
        char d[24], f[24], q[24];
        snprintf(d, sizeof d, "%ld", st.done);
        snprintf(f, sizeof f, "%ld", st.failed);
        snprintf(q, sizeof q, "%ld", st.retrying);
        log_event(R->E->log, LOG_INFO, "push.progress", "done", d, "failed", f, "retrying", q,
                  NULL);
    }
}

/* Prints/logs the summary; returns the changes still pending. */
static long long summary(struct pushrun *R, const push_stats *st)
{
    long long open_failed = 0, open_unknown = 0, pending = 0, due = 0;
    PGresult *r = NULL;
    gs_err e = {0};
    const char *p[] = {sbuf_str(&R->keys[0]), sbuf_str(&R->keys[1])};
    if (db_query(R->E->db,
                 "SELECT count(*) FILTER (WHERE state = 'failed'), count(*) FILTER (WHERE state = "
                 "'unknown') FROM ghlsync.changes WHERE location_id = ANY($1::text[]) AND "
                 "object_key = ANY($2::text[]) AND state IN ('failed', 'unknown')",
                 2, p, &r, &e) == 0) {
        open_failed = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        open_unknown = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
        PQclear(r);
    }
    remaining(R, &pending, &due, &e);
    char line[512];
    snprintf(line, sizeof line,
             "pushed %ld change(s): %ld create(s), %ld update(s), %ld delete(s), %ld coalesced "
             "away; in this run %ld record(s) failed, %ld parked, %ld conflict(s)",
             st->done, st->creates, st->updates, st->deletes, st->ignored, st->failed, st->unknown,
             st->conflicts);
    if (R->tty) {
        fprintf(stderr, "%s\n", line);
        if (open_failed || open_unknown)
            fprintf(stderr,
                    "waiting for a person: %lld failed, %lld unknown change(s); see `ghlsync "
                    "errors`\n",
                    open_failed, open_unknown);
        if (pending)
            fprintf(stderr, "still pending: %lld change(s)\n", pending);
    }
    char a[24], b[24], c[24], d[24], f[24], u[24], x[24], y[24], z[24];
    snprintf(a, sizeof a, "%ld", st->done);
    snprintf(b, sizeof b, "%ld", st->creates);
    snprintf(c, sizeof c, "%ld", st->updates);
    snprintf(d, sizeof d, "%ld", st->deletes);
    snprintf(f, sizeof f, "%ld", st->failed);
    snprintf(u, sizeof u, "%ld", st->unknown);
    snprintf(x, sizeof x, "%lld", open_failed);
    snprintf(y, sizeof y, "%lld", open_unknown);
    snprintf(z, sizeof z, "%lld", pending);
    log_event(R->E->log, LOG_INFO, "push.summary", "done", a, "creates", b, "updates", c, "deletes",
              d, "failed", f, "parked", u, "open_failed", x, "open_unknown", y, "pending", z, NULL);
    return pending;
}

int cmd_push(struct cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {{"location", required_argument, NULL, 'l'},
                                         {NULL, 0, NULL, 0}};
    struct engine_opts eo = {.pool_size = 1};
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
        if (c == 'l') {
            eo.only_location = optarg;
        } else {
            fprintf(stderr, "ghlsync push: unknown option %s\nsee `ghlsync push --help`\n",
                    argv[optind - 1]);
            return CLI_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "ghlsync push: unexpected argument %s\nsee `ghlsync push --help`\n",
                argv[optind]);
        return CLI_EXIT_USAGE;
    }
    int rc = cli_load_config(ctx);
    if (rc)
        return rc;
    if (!ctx->cfg.push.enabled) {
        fprintf(stderr, "ghlsync push: [push] enabled = false in %s; nothing pushed\n",
                ctx->cfg.path);
        return CLI_EXIT_USAGE;
    }
    struct engine E;
    struct pushrun R = {.E = &E, .bar = -1};
    gs_err e = {0};
    int code = CLI_EXIT_RUNTIME;
    bool timers = false;
    /* take the locations' leases, or refuse while a `run` serves one (it pushes them itself) */
    if (engine_open(&E, ctx, &eo, &e) || (engine_signals(&E), 0) ||
        lease_take_once(&E, "push", &e) || engine_discover(&E, true, NULL, &e)) {
        fprintf(stderr, "ghlsync push: %s%s\n", e.msg,
                e.code == GS_EDBLOST ? "; nothing was pushed, try again later" : "");
        code = e.code == GS_ECONFIG   ? CLI_EXIT_USAGE
               : e.code == GS_EDBLOST ? CLI_EXIT_UNAVAILABLE
                                      : CLI_EXIT_RUNTIME;
        goto out;
    }
    if (E.stopping) {
        code = CLI_EXIT_RUNTIME;
        goto out;
    }
    long long due = 0;
    if (build_keys(&R, &e) || remaining(&R, &R.initial, &due, &e)) {
        fprintf(stderr, "ghlsync push: %s\n", e.msg);
        goto out;
    }
    char n0[24];
    snprintf(n0, sizeof n0, "%lld", R.initial);
    log_event(ctx->log, LOG_INFO, "push.start", "pending", n0, NULL);
    R.tty = isatty(2) == 1;
    if (R.tty && (R.prog = progress_new(stderr)))
        R.bar = progress_add(R.prog, "push");
    uv_timer_init(&E.loop.uv, &R.wake);
    uv_timer_init(&E.loop.uv, &R.tick);
    R.wake.data = R.tick.data = &R;
    timers = true;
    R.last_log = gs_loop_now_ms(&E.loop);
    if (push_service_open(&E, false, true, on_idle, &R, &R.svc, &e)) {
        fprintf(stderr, "ghlsync push: %s\n", e.msg);
        goto out;
    }
    uv_timer_start(&R.tick, on_tick, 200, 200);
    code = engine_run(&E, false);
    push_stats st = {0};
    push_get_stats(push_service_of(R.svc), &st);
    if (R.prog) {
        on_tick(&R.tick);
        progress_end(R.prog, R.bar, code == 0, gs_loop_now_ms(&E.loop));
        progress_draw(R.prog, gs_loop_now_ms(&E.loop));
    }
    long long left = summary(&R, &st);
    if (!R.finished && left) /* interrupted by a signal */
        code = CLI_EXIT_RUNTIME;
    if (code == CLI_EXIT_OK && (st.failed || st.unknown))
        code = CLI_EXIT_RUNTIME;
out:
    push_service_stop(R.svc);
    if (timers) {
        uv_close((uv_handle_t *)&R.wake, NULL);
        uv_close((uv_handle_t *)&R.tick, NULL);
    }
    engine_close(&E);
    progress_free(R.prog);
    sbuf_free(&R.keys[0]);
    sbuf_free(&R.keys[1]);
    return code;
}
