/* cmd_run.c - `ghlsync run`: backfill if needed, then mirror until stopped (pull.h, engine.h). */
#include "commands.h"
#include "pull.h"

#include <libpq-fe.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

const char cmd_run_help[] =
    "usage: ghlsync [-c FILE] run\n\n"
    "Keep PostgreSQL and HighLevel in sync until stopped: complete the backfill first when\n"
    "it is not, then poll each object every poll_interval for records changed since the\n"
    "last poll (filters + sort on updatedAt when the server supports them, else a sorted\n"
    "scan, else a full scan with diff; the mode found is logged once), sweep for remote\n"
    "deletes every [pull] full_scan_interval, pick up schema changes, and run the push\n"
    "worker when enabled.\n\n"
    "Several `run` processes (on one host or several) with the same configuration and database\n"
    "split the locations through leases in PostgreSQL ([leases] ttl, default 30s): each\n"
    "location is served by one of them; one that dies is taken over within ttl plus one\n"
    "heartbeat. `ghlsync status` shows which process serves which location.\n\n"
    "Signals: SIGINT/SIGTERM stop cleanly (the transaction in flight commits, cursors are\n"
    "saved; exit 0 within 5 s). SIGHUP reloads sync.toml ([pull] settings, poll intervals,\n"
    "[log] level; other changes need a restart).\n\n"
    "A database that cannot be reached at start is waited for: connection attempts 1 s apart,\n"
    "doubling to 30 s, one db.unavailable log line per outage and db.available when it\n"
    "answers (SIGINT/SIGTERM end the wait, exit 0).\n\n"
    "Examples:\n"
    "    ghlsync run\n"
    "    ghlsync --log-format json run\n";

/* ---- waiting for the database at start -------------------------------------------------- */

#define DB_WAIT_FIRST_MS 1000
#define DB_WAIT_MAX_MS   30000

struct dbwait {
    uv_loop_t loop;
    uv_timer_t timer;
    uv_signal_t sig[2];
    const char *conninfo;
    gs_log *log;
    uint64_t delay_ms, since_ms;
    int attempts;
    bool ok, stopped;
};

static void dbwait_try(uv_timer_t *t)
{
    struct dbwait *w = t->data;
    /* a blocking connect is fine here: nothing else runs yet, and signals end the wait */
    PGconn *c = PQconnectdb(w->conninfo);
    if (PQstatus(c) == CONNECTION_OK) {
        w->ok = true;
        if (w->attempts) {
            char secs[32], n[16];
            snprintf(secs, sizeof secs, "%.1f", (double)(uv_now(&w->loop) - w->since_ms) / 1000.0);
            snprintf(n, sizeof n, "%d", w->attempts + 1);
            log_event(w->log, LOG_INFO, "db.available", "after_s", secs, "attempts", n, NULL);
        }
        uv_stop(&w->loop);
    } else {
        if (w->attempts++ == 0) {
            w->since_ms = uv_now(&w->loop);
            char *m = strdup(PQerrorMessage(c));
            for (char *p = m ? m + strlen(m) : NULL; p && p > m && (p[-1] == '\n' || p[-1] == ' ');)
                *--p = 0;
            log_event(w->log, LOG_WARN, "db.unavailable", "msg",
                      "cannot connect to the database; retrying with backoff until it answers",
                      "error", m ? m : "", NULL);
            free(m);
        }
        uv_timer_start(t, dbwait_try, w->delay_ms, 0);
        w->delay_ms = w->delay_ms * 2 > DB_WAIT_MAX_MS ? DB_WAIT_MAX_MS : w->delay_ms * 2;
    }
    PQfinish(c);
}

static void dbwait_signal(uv_signal_t *h, int signum)
{
    (void)signum;
    struct dbwait *w = h->data;
    w->stopped = true;
    log_event(w->log, LOG_INFO, "engine.stopping", "msg", "stopped while waiting for the database",
              NULL);
    uv_stop(&w->loop);
}

/* 0: the database answers; 1: a signal asked to stop; -1: the wait could not be set up. */
static int wait_for_database(struct cli_ctx *ctx)
{
    struct dbwait w = {.conninfo = ctx->cfg.database.url ? ctx->cfg.database.url : "",
                       .log = ctx->log,
                       .delay_ms = DB_WAIT_FIRST_MS};
    if (uv_loop_init(&w.loop))
        return -1;
    uv_timer_init(&w.loop, &w.timer);
    w.timer.data = &w;
    int sigs[2] = {SIGTERM, SIGINT};
    for (int i = 0; i < 2; i++) {
        uv_signal_init(&w.loop, &w.sig[i]);
        w.sig[i].data = &w;
        uv_signal_start(&w.sig[i], dbwait_signal, sigs[i]);
    }
    uv_timer_start(&w.timer, dbwait_try, 0, 0);
    uv_run(&w.loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&w.timer, NULL);
    for (int i = 0; i < 2; i++)
        uv_close((uv_handle_t *)&w.sig[i], NULL);
    uv_run(&w.loop, UV_RUN_DEFAULT);
    uv_loop_close(&w.loop);
    return w.ok ? 0 : w.stopped ? 1 : -1;
}

int cmd_run(struct cli_ctx *ctx, int argc, char **argv)
{
    if (argc > 1) {
        fprintf(stderr, "ghlsync run: unexpected argument %s\nsee `ghlsync run --help`\n", argv[1]);
        return CLI_EXIT_USAGE;
    }
    struct engine_opts eo = {.may_start_empty = true};
    struct pull_opts po = {.mirror = true};
    /* Test hook and tuning knob: how often schemas are re-fetched (milliseconds). */
    const char *sr = getenv("GHLSYNC_SCHEMA_REFRESH_MS");
    if (sr && *sr)
        po.schema_refresh_ms = strtoll(sr, NULL, 10);
    int rc = cli_load_config(ctx);
    if (rc)
        return rc;
    /* the database may still be starting (boot, failover, restart): wait for it rather than
     * fail; an outage later on is the connections' own business (they reconnect) */
    rc = wait_for_database(ctx);
    if (rc)
        return rc > 0 ? CLI_EXIT_OK : CLI_EXIT_RUNTIME;
    return pull_command(ctx, &eo, &po);
}
