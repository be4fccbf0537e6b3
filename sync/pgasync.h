/*
 * pgasync.h - PostgreSQL access that never blocks the gs_loop.
 *
 * Choice: libpq in non-blocking mode on the loop itself (PQconnectStart/PQconnectPoll,
 * PQsendQueryParams, PQsocket watched by a uv_poll_t, PQflush / PQconsumeInput / PQisBusy /
 * PQgetResult), not a worker thread per connection (uv_queue_work with blocking PQexecParams).
 * Measured with tests/bench/bench_pgasync.c (build/rel, private server on a unix socket, 2-core
 * machine shared with other builds, 20000 single-row statements back to back on one
 * connection, three runs): loop 11400-21300 stmt/s at 24-28 us CPU per statement; worker
 * thread 0.27x-0.83x of that throughput at 1.9x-3.8x the CPU per statement. The loop
 * variant has no thread hand-off and no extra wake-up per statement and needs no locking; a
 * thread only helps when the client side of a statement is CPU-heavy, which it is not here.
 * Each connection runs one statement at a time, in submission order; open several
 * connections for parallelism.
 *
 * API (loop thread only; callbacks run later from the loop, never inside the submitting call):
 *   pga_conn *c; pga_open(L, "dbname=x", &c, &e);         // connects asynchronously; queries
 *                                                          // submitted meanwhile wait
 *   pga_query(c, sql, nparams, values, cb, ud, &e);        // one statement
 *   pga_tx(c, stmts, nstmts, cb, ud, &e);                  // BEGIN; stmts...; COMMIT in order;
 *                                                          // first failure -> ROLLBACK, rest
 *                                                          // skipped
 *   pga_close(c);                                          // pending work fails with "closed"
 *
 * Prepared statements (parsed and planned once per connection instead of once per call; the
 * plan cache then decides between custom and generic plans as for any prepared statement):
 *   pga_prepare(c, name, sql, nparams, cb, ud, &e);        // no-op when `name` is prepared
 *                                                          // with the same text already
 *   pga_query_prepared(c, name, nparams, values, cb, ud, &e);
 *   pga_tx_named(c, stmts, names, n, cb, ud, &e);          // pga_tx where names[i] != NULL runs
 *                                                          // stmts[i] prepared under that name,
 *                                                          // preparing it on first use
 * The connection records the names it prepared (with their text: reusing a name for another
 * text is an error, not a silent wrong statement). pga_stmt_name() derives a name from the SQL
 * text, so a changed statement (a schema change gets a new model) gets a new name. A prepare
 * that fails is a failure of that statement (a transaction rolls back); a prepared name is not
 * forgotten by a ROLLBACK (protocol-level statements are not transactional).
 *
 * Sessions come and go (a PostgreSQL restart, a failover, a pooler restart): a connection never
 * gives up. A lost session (noticed at once, also while idle: the socket stays watched) is
 * re-established with PQconnectStart/PQconnectPoll on the loop, after a backoff of 100 ms doubling
 * to 5 s with jitter (each delay drawn in [d/2, d]); a connect attempt that hangs is abandoned
 * after 10 s. What happens to work:
 *   - queued work waits for the next session, at most pga_set_wait (default 30 s); then it fails
 *     with GS_EDBLOST, in_doubt = 0 (it never ran);
 *   - a transaction on the wire whose COMMIT was not sent was rolled back by the server: it runs
 *     again, from BEGIN, on the next session, and the caller sees one outcome;
 *   - "COMMIT sent, answer lost" (and a single statement sent, whose implicit COMMIT is the same
 *     thing): the work may or may not have committed. It fails with GS_EDBLOST and in_doubt = 1.
 *     Choice: report, not guess and not resolve. Resolving (txid_status() of an xid fetched
 *     before COMMIT) would cost a statement per transaction, and every caller's writes are
 *     idempotent (page upserts, write-backs, state updates) or re-checked (push claims belong to
 *     a session, so a claim whose answer was lost belongs to a dead session and is free again);
 *     so callers redo or re-read, as they do after any failed write.
 *   - a connection that never reached the server (wrong conninfo, database down at start) fails
 *     what is queued at once with the connect error (GS_EDB), and keeps trying in the background.
 * Named statements are prepared again on a new session (their text is kept). The session set-up
 * (pga_set_session) runs first on every session, then the connect hook (pga_on_connect), whose
 * submissions go before the work that waited. One log line per outage of the process (all its
 * connections): "db.unreachable" when the first connection loses its session, "db.reachable" with
 * the outage's length when the last one has it back; L->db (loop.h) counts outages, reconnects,
 * outage time and the statements pending, for readiness, liveness and metrics.
 *
 * Transaction set-up (pga_set_tx_setup; default L->db.tx_setup): a statement without parameters,
 * e.g. "SELECT set_config('ghlsync.origin', 'engine', true), set_config('lock_timeout', '10s',
 * true)", run inside every transaction this connection executes, so that it holds behind a
 * transaction pooler (pgbouncer pool_mode = transaction) where session state would leak to other
 * clients or be lost. No extra round trip: a pga_tx sends "BEGIN; <set-up>" as one simple-protocol
 * message; a single statement runs in a pipeline (set-up, statement, Sync: one implicit
 * transaction). A set-up that fails fails the work. Session-level settings that a pooler keeps
 * per client (TimeZone, DateStyle, client_encoding) belong in pga_set_session.
 *
 * Unnamed mode (pga_set_unnamed; default L->db.unnamed): named prepared statements do not survive
 * a transaction pooler (pgbouncer < 1.21). Then pga_prepare only records the text and named
 * statements run unnamed (parsed each time); the API and its results are unchanged.
 *
 * Ownership: `sql` and `values` are copied at submission (callers may free them right after).
 * The callback gets `res[0..nres-1]` (one PGresult per statement that ran; for pga_tx the
 * BEGIN/COMMIT results are not included) owned by pga_conn and cleared when the callback
 * returns; `err` is NULL on success, else says what failed (the statement's PostgreSQL message,
 * with SQLSTATE in `sqlstate`). A callback may submit more work on the same connection.
 */
#ifndef GHLSYNC_PGASYNC_H
#define GHLSYNC_PGASYNC_H

#include "err.h"
#include "loop.h"

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

typedef struct pga_conn pga_conn;

typedef struct pga_error {
    gs_err err;       /* err.code GS_EDBLOST: the session was lost or never came back */
    char sqlstate[6]; /* "" when not a server error */
    int in_doubt;     /* GS_EDBLOST only: COMMIT (or a single statement) was sent, answer lost */
} pga_error;

typedef void (*pga_cb)(pga_conn *c, PGresult *const *res, int nres, const pga_error *err, void *ud);

typedef struct pga_stmt {
    const char *sql;
    int nparams;
    const char *const *values; /* text format; NULL entries are SQL NULL */
} pga_stmt;

int pga_open(gs_loop *L, const char *conninfo, pga_conn **out, gs_err *e);
void pga_close(pga_conn *c);

/* Settings, right after pga_open (before the loop runs). `sql` is copied; NULL or "" = none. */
int pga_set_tx_setup(pga_conn *c, const char *sql);
int pga_set_session(pga_conn *c, const char *sql); /* simple protocol, may hold several */
void pga_set_unnamed(pga_conn *c, int unnamed);
void pga_set_wait(pga_conn *c, int64_t wait_ms); /* 0 = 30000 */
/* Called from the loop each time a session is established (reconnected = 1 after a loss), before
 * queued work runs; what it submits on `c` runs first, in order. */
typedef void (*pga_connect_fn)(pga_conn *c, int reconnected, void *ud);
void pga_on_connect(pga_conn *c, pga_connect_fn fn, void *ud);
/* NOTIFY messages received on this connection's session (LISTEN is the caller's statement). */
typedef void (*pga_notify_fn)(pga_conn *c, const char *channel, const char *payload, void *ud);
void pga_on_notify(pga_conn *c, pga_notify_fn fn, void *ud);
/* 1 when the connection has a session now. */
int pga_is_up(const pga_conn *c);

/* Process-wide (L->db): seconds without a session on some connection, the running outage
 * included; and 1 when some connection that has its session has been running the same
 * statement or transaction for more than `stall_ms` (a wedged server, pooler or lock wait:
 * liveness); `longest_s` (may be NULL) gets the longest such time. An outage is not a stall. */
double pga_outage_seconds(const gs_loop *L);
int pga_stalled(const gs_loop *L, int64_t stall_ms, double *longest_s);

int pga_query(pga_conn *c, const char *sql, int nparams, const char *const *values, pga_cb cb,
              void *ud, gs_err *e);
int pga_tx(pga_conn *c, const pga_stmt *stmts, int nstmts, pga_cb cb, void *ud, gs_err *e);

/* Prepared statements (see the top comment). pga_prepare's callback gets nres = 0.
 * pga_query_prepared fails (callback, GS_ESTATE) when `name` was not prepared on `c`. In
 * pga_tx_named, `names` may be NULL (= pga_tx); stmts[i].sql may be NULL when names[i] is
 * already prepared. */
int pga_prepare(pga_conn *c, const char *name, const char *sql, int nparams, pga_cb cb, void *ud,
                gs_err *e);
int pga_query_prepared(pga_conn *c, const char *name, int nparams, const char *const *values,
                       pga_cb cb, void *ud, gs_err *e);
int pga_tx_named(pga_conn *c, const pga_stmt *stmts, const char *const *names, int nstmts,
                 pga_cb cb, void *ud, gs_err *e);
/* COPY IN inside a transaction: pga_tx_named where copies[i].data != NULL makes stmts[i] (SQL text
 * "COPY ... FROM STDIN", unnamed, no parameters) read that data (the COPY text or CSV format the
 * statement names; copied at submission; len 0 = no rows). Sent on the loop: PQputCopyData /
 * PQputCopyEnd on the non-blocking connection, the socket watched for writing while libpq's
 * buffer is full. Its result is the COPY's ("COPY n"); a bad row fails the statement and the
 * transaction rolls back as for any statement. Works through a transaction pooler (COPY is one
 * statement). `copies` may be NULL (= pga_tx_named). */
typedef struct pga_copy {
    const char *data;
    size_t len;
} pga_copy;
int pga_tx_copy(pga_conn *c, const pga_stmt *stmts, const char *const *names,
                const pga_copy *copies, int nstmts, pga_cb cb, void *ud, gs_err *e);
/* 1 when `name` has been prepared on this connection (a prepare still queued does not count). */
int pga_is_prepared(const pga_conn *c, const char *name);
/* "pga_" + 16 hex digits of a 64-bit hash of `sql` (buf >= PGA_NAME_LEN). */
#define PGA_NAME_LEN 24
void pga_stmt_name(const char *sql, char *buf, size_t len);

/* Statements queued or running on this connection. */
int pga_pending(const pga_conn *c);

/* The libpq connection, e.g. for PQescapeIdentifier (do not run queries on it); NULL while
 * the connection has no session. */
PGconn *pga_pgconn(pga_conn *c);

#endif
