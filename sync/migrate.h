/*
 * migrate.h - applies migrations/NNN_name.sql to the ghlsync bookkeeping schema.
 *
 * Each pending migration runs in its own transaction and is recorded in
 * ghlsync.schema_migrations (version, name, checksum, applied_at). The whole run holds a
 * session-level advisory lock, so processes starting together apply each migration exactly once.
 * A run refuses to start (GS_ESTATE) when an applied migration's file changed (checksum) or when
 * the database has a migration this binary does not know (it is older than the database).
 *
 * Memory: nothing is retained; the caller owns the connection.
 */
#ifndef GHLSYNC_MIGRATE_H
#define GHLSYNC_MIGRATE_H

#include "err.h"
#include "log.h"

#include <libpq-fe.h>
#include <stddef.h>

/* The advisory lock key used for migrations and schema changes (ddl_apply takes it too). */
#define MIGRATE_LOCK_KEY 0x67686c73796e63LL /* "ghlsync" */

/* Find the migrations directory: $GHLSYNC_DATADIR/migrations, then ./migrations. */
int migrate_find_dir(char *out, size_t len, gs_err *err);

/* Apply every pending migration of `dir`. *applied (may be NULL) gets how many this call applied.
 * `lg` may be NULL. */
int migrate_run(PGconn *c, const char *dir, gs_log *lg, int *applied, gs_err *err);

/* Number of the newest applied migration, 0 when none (or no ghlsync schema). */
int migrate_current(PGconn *c, int *version, gs_err *err);

#endif
