/*
 * pullsnap.h - `ghlsync backfill --snapshot`: load into a shadow table, then make it the table's
 * contents in one transaction, so readers never see a half-loaded table.
 *
 * The shadow is an UNLOGGED copy of the table's columns (CREATE TABLE ... (LIKE t INCLUDING
 * DEFAULTS INCLUDING IDENTITY INCLUDING GENERATED)) with only the unique (location_id, id) index
 * the upsert needs, named "_ghlsync_snap_<hash of the table name>" in the table's schema (one
 * per table, whatever the number of locations writing to it); it has no triggers. The pull
 * workers write their pages into it and save no cursor (pull.h): a killed snapshot leaves the
 * live table and its resume point untouched, and the next --snapshot starts a new shadow.
 *
 * The swap (snap_swap, one transaction on the synchronous connection) does NOT rename tables:
 * it locks the live table against writers (SHARE ROW EXCLUSIVE: readers go on), then replaces
 * the rows of the snapshotted locations by the shadow's (DELETE + INSERT, keeping each surviving
 * record's _local_id), marks records absent from the shadow deleted (soft: _deleted_at, else
 * DELETE), marks the scans complete in pull_state and drops the shadow. Why not ALTER TABLE
 * RENAME: the table keeps its OID, so views, grants, triggers, comments, indexes, publications
 * and row security that BI tools and the push side rely on stay as they are without being
 * re-created, and readers are never blocked (a rename needs ACCESS EXCLUSIVE, which waits behind
 * every long BI query and blocks every reader queued after it); MVCC gives readers the old rows
 * until COMMIT and the new ones after it. The price: every row is written a second time (and the
 * old versions are left to VACUUM).
 * Rows with unpushed local changes are not lost: a snapshot is refused while ghlsync.changes has
 * an open change (pending, retrying, failed, unknown) for the table, checked before the load
 * and again under the lock at the swap. Rows of other locations and rows that exist only
 * locally (id IS NULL) are not touched.
 *
 * Memory: strings are borrowed; nothing is kept.
 */
#ifndef GHLSYNC_PULLSNAP_H
#define GHLSYNC_PULLSNAP_H

#include "err.h"

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SNAP_NAME_LEN 32

/* GS_ESTATE with a message telling what to do when the table has open outbox changes. */
int snap_check_outbox(PGconn *c, const char *schema, const char *table, gs_err *e);

/* Check the outbox, then (re)create the shadow of schema.table; its name -> shadow. */
int snap_prepare(PGconn *c, const char *schema, const char *table, char shadow[SNAP_NAME_LEN],
                 gs_err *e);

/* A completed scan to mark complete in pull_state with the swap. */
typedef struct snap_scan {
    const char *location_id;
    const char *object_key;
    int64_t generation;
} snap_scan;

typedef struct snap_counts {
    long long loaded;  /* rows written from the shadow */
    long long deleted; /* rows absent from the shadow (soft or hard deleted) */
} snap_counts;

/* The swap (see the top comment); `locations` are the locations the shadow holds. */
int snap_swap(PGconn *c, const char *schema, const char *table, const char *shadow,
              const char *const *locations, size_t nloc, bool soft, const snap_scan *scans,
              size_t nscans, snap_counts *counts, gs_err *e);

/* Drop a shadow (a failed or interrupted snapshot); errors are ignored. */
void snap_drop(PGconn *c, const char *schema, const char *shadow);

#endif
