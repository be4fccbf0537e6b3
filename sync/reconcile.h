/*
 * reconcile.h - remote deletes by mark and sweep.
 *
 * HighLevel sends no delete events we could rely on, so deletes are found by a full scan: each
 * full scan of a (location, object) gets a new generation number (ghlsync.pull_state.generation,
 * bumped when the scan starts, kept across a resume). Every page of the scan stamps the rows it
 * saw with that generation (pullstore.h). When the scan has reached its end, the rows of that
 * location in the table that
 *   - have a remote id (rows inserted locally and not pushed yet are not remote rows),
 *   - were not stamped with the scan's generation, and
 *   - were not written since the scan started (_synced_at < started_at: an incremental poll may
 *     have inserted a record created during the scan, after the scan passed its position)
 * are gone remotely: they get _deleted_at = now() (soft_delete = true, the default), or are
 * deleted (soft_delete = false; rows with an unpushed local change are kept for the push side).
 * A record that reappears is undeleted by the next upsert (_deleted_at = NULL).
 * The sweep and the "scan complete" mark of pull_state run in ONE transaction.
 *
 * A scan that starts while the location has no row with a remote id (the model's `held`
 * probe, asked in the scan's first transaction: a first backfill) has no sweep
 * to do: every row it could find at the end was written after that, by the scan itself (its
 * generation) or beside it (a webhook, a push, a poll: _synced_at after the start), and the sweep
 * leaves both alone. It is skipped: on a first backfill it was a scan of every row just written
 * (about 3 % of PostgreSQL's CPU of the backfill). The one difference is a write that began
 * before the scan's start and committed after the probe: its _synced_at is older than the start,
 * so the sweep would mark it deleted if the scan did not see it, now the next full scan decides
 * (for a record created remotely after the scan passed its place, which is still there, that is
 * the better outcome; for one deleted remotely in that window, a day later by default). A scan
 * resumed after a restart does not know how it started and sweeps.
 *
 * Memory: rc_stmts borrows the model's SQL and owns its parameter strings.
 */
#ifndef GHLSYNC_RECONCILE_H
#define GHLSYNC_RECONCILE_H

#include "pullstore.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct rc_stmts {
    int n;
    const char *sql[2];
    int nparams[2];
    const char *params[2][4];
    char gen[24];
    char started[40];
} rc_stmts;

/* Statements that end a full scan of generation `gen` started at `started_ms` (epoch ms):
 * [0] the sweep (its command tuples = rows found deleted), [1] pull_state complete; with `sweep`
 * false only the latter, as [0]. */
void rc_finish_stmts(const ps_model *m, int64_t gen, int64_t started_ms, bool soft, bool sweep,
                     rc_stmts *out);

#endif
