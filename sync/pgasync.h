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
/* 1 when `name` has been prepared on this connection (a prepare still queued does not count). */
int pga_is_prepared(const pga_conn *c, const char *name);
/* "pga_" + 16 hex digits of a 64-bit hash of `sql` (buf >= PGA_NAME_LEN). */
#define PGA_NAME_LEN 24
void pga_stmt_name(const char *sql, char *buf, size_t len);

/* Statements queued or running on this connection. */
int pga_pending(const pga_conn *c);

/* The libpq connection, e.g. for PQescapeIdentifier (do not run queries on it). */
PGconn *pga_pgconn(pga_conn *c);

#endif
