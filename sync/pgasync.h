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
 * skipped pga_close(c);                                          // pending work fails with
 * "closed"
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

typedef struct pga_conn pga_conn;

typedef struct pga_error {
    gs_err err;
    char sqlstate[6]; /* "" when not a server error */
} pga_error;

typedef void (*pga_cb)(pga_conn *c, PGresult *const *res, int nres, const pga_error *err, void *ud);

typedef struct pga_stmt {
    const char *sql;
    int nparams;
    const char *const *values; /* text format; NULL entries are SQL NULL */
} pga_stmt;

int pga_open(gs_loop *L, const char *conninfo, pga_conn **out, gs_err *e);
void pga_close(pga_conn *c);

int pga_query(pga_conn *c, const char *sql, int nparams, const char *const *values, pga_cb cb,
              void *ud, gs_err *e);
int pga_tx(pga_conn *c, const pga_stmt *stmts, int nstmts, pga_cb cb, void *ud, gs_err *e);

/* Statements queued or running on this connection. */
int pga_pending(const pga_conn *c);

/* The libpq connection, e.g. for PQescapeIdentifier (do not run queries on it). */
PGconn *pga_pgconn(pga_conn *c);

#endif
