/*
 * db.h - small synchronous libpq helpers: connect, execute with parameters, transactions, and
 * error messages that carry PostgreSQL's DETAIL and HINT.
 *
 * For start-up work (migrations, schema plan/apply) and tools; the engine's hot paths may use
 * libpq asynchronously on their own. Values always travel as parameters (text format).
 *
 * Memory: db_query returns a PGresult the caller PQclear()s. Messages land in the caller's gs_err.
 */
#ifndef GHLSYNC_DB_H
#define GHLSYNC_DB_H

#include "err.h"

#include <libpq-fe.h>
#include <stdbool.h>

/* Connect and set the session up for ghlsync (client_encoding UTF8, DateStyle ISO, UTC). */
int db_connect(const char *conninfo, PGconn **out, gs_err *err);

/* A connection whose session was lost (PQstatus CONNECTION_BAD, e.g. after a PostgreSQL restart)
 * connects again (PQreset: blocking, like every call here) and gets db_connect's settings plus
 * `session_sql` (may be NULL) again; a live one is left alone. Call it before a unit of work
 * (never between db_begin and db_commit: a lost transaction is gone, not resumed). Returns 0,
 * or GS_EDBLOST when the server is still unreachable. */
int db_revive(PGconn *c, const char *session_sql, gs_err *err);

/* Fill err from a failed result: "what: message (DETAIL: ...) (HINT: ...)". Returns GS_EDB. */
int db_err_result(gs_err *err, const PGresult *res, PGconn *c, const char *what);

/* Run SQL without parameters (may hold several statements). */
int db_exec(PGconn *c, const char *sql, gs_err *err);

/* Run one statement with n text parameters (NULL entries are SQL NULL). The result is discarded. */
int db_execp(PGconn *c, const char *sql, int n, const char *const *params, gs_err *err);

/* As db_execp, returning the result (tuples or command status) in *out. */
int db_query(PGconn *c, const char *sql, int n, const char *const *params, PGresult **out,
             gs_err *err);

int db_begin(PGconn *c, gs_err *err);
int db_commit(PGconn *c, gs_err *err);
/* Roll back, ignoring errors (used on failure paths; the connection may already be aborted). */
void db_rollback(PGconn *c);

#endif
