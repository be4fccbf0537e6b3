/*
 * tpg.h - the private PostgreSQL server for integration tests.
 *
 * tests/run.sh starts one server per test run (tests/support/pg.sh) and exports PGHOST (a socket
 * directory), PGPORT and PGUSER. Each test takes a fresh database of its own so that tests never
 * see each other's tables.
 */
#ifndef GHLSYNC_TPG_H
#define GHLSYNC_TPG_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

/* True when the harness exported a server (PGHOST set); tests that need one skip otherwise. */
bool tpg_available(void);

/*
 * Create a new empty database named after `tag` (plus pid and a counter) and write a conninfo
 * for it to `conninfo` (size `len`). Returns a connection to it, or NULL after printing why.
 */
PGconn *tpg_fresh_db(const char *tag, char *conninfo, size_t len);

/* Run a statement that must succeed; prints the error and returns false otherwise. */
bool tpg_exec(PGconn *c, const char *sql);

/* First column of the first row of a query as a malloc'd string (NULL on error or no row). */
char *tpg_scalar(PGconn *c, const char *sql);

#endif
