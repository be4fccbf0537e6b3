/*
 * loop.h - the process context: one libuv loop and the shared engine services that live on it.
 *
 * A gs_loop is the single place for process state. It owns the uv loop, the HTTP engine
 * (http.h, libcurl multi driven by this loop) and the rate scheduler (ratelimit.h). Higher
 * layers (hlapi.h clients, pgasync.h connections, pull/push workers) take a gs_loop * and keep
 * their own state in their own structs; nothing is global.
 *
 * Threading: every function of http.h, ratelimit.h, hlapi.h, oauth.h and pgasync.h must be
 * called on the thread that runs gs_loop_run(), and every callback they take is invoked on that
 * thread, from inside gs_loop_run(). Callbacks are never invoked from inside the call that
 * registered them (always later, from the loop), so a caller may submit work while holding
 * half-built state.
 *
 * Ownership: the caller allocates the gs_loop (stack or heap) and passes it to gs_loop_init;
 * `log` is borrowed (may be NULL = stderr) and must outlive the loop. gs_loop_close frees what
 * init created; before it, the caller frees its own clients/connections (hl_client_free,
 * pga_close) so that their handles are closed while the loop still exists.
 */
#ifndef GHLSYNC_LOOP_H
#define GHLSYNC_LOOP_H

#include "err.h"
#include "log.h"

#include <stdint.h>
#include <uv.h>

struct gs_http;
struct rl_sched;
struct pga_conn;

/* What the PostgreSQL connections of this process (pgasync.h) share: the defaults new
 * connections take (set by whoever opens the engine, before the first pga_open), and their
 * health for readiness, liveness and metrics (written by pgasync.c only). */
typedef struct gs_dbctx {
    char tx_setup[256];        /* run inside every transaction (pga_set_tx_setup); "" = none */
    int unnamed;               /* no named prepared statements (transaction pooler) */
    int down;                  /* connections without a session after a failure */
    uint64_t outage_start_ms;  /* when `down` went from 0 to 1 */
    uint64_t outage_ms;        /* length of the outages that ended */
    uint64_t outages;          /* outages that ended */
    uint64_t reconnects;       /* sessions re-established after a failure */
    uint64_t pending;          /* statements queued or running, all connections */
    uint64_t last_progress_ms; /* a statement finished, a session came up, or work arrived idle */
    struct pga_conn *conns;    /* open connections (pgasync.c's list), for pga_stalled */
} gs_dbctx;

typedef struct gs_loop {
    uv_loop_t uv;
    gs_dbctx db;
    gs_log *log;            /* borrowed */
    struct gs_http *http;   /* owned: created by gs_loop_init */
    struct rl_sched *sched; /* owned: created by gs_loop_init */
    uint64_t rng;           /* xorshift64 state for retry jitter (not for secrets) */
} gs_loop;

/* Parameters of the shared services; zero fields take the documented defaults of http.h. */
struct http_opts;

/* Initialise the loop, the HTTP engine (with `hopts`, may be NULL for defaults) and the scheduler.
 * Returns 0 or a GS_E* code with `e` filled. */
int gs_loop_init(gs_loop *L, gs_log *log, const struct http_opts *hopts, gs_err *e);

/* Run until no handle is active (or gs_loop_stop). Returns uv_run's result. */
int gs_loop_run(gs_loop *L);

/* Make gs_loop_run return after the current iteration. */
void gs_loop_stop(gs_loop *L);

/* Abort in-flight HTTP transfers (their callbacks run with an "aborted" result), close every
 * handle created by gs_loop_init, drain the loop and free the services. */
void gs_loop_close(gs_loop *L);

/* Monotonic milliseconds from the loop's cached clock (uv_now). */
uint64_t gs_loop_now_ms(const gs_loop *L);

/* Wall clock milliseconds since the Unix epoch (for UTC day boundaries). */
uint64_t gs_wall_ms(void);

/* Uniform pseudo-random integer in [0, n) from L->rng (n > 0). */
uint64_t gs_loop_rand(gs_loop *L, uint64_t n);

/* Close a uv handle and free() it once the loop has released it. */
void gs_uv_close_free(uv_handle_t *h);

#endif
