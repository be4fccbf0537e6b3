/*
 * pull.h - the pull workers: one per (location, object), state machines on the engine's loop.
 *
 * Each worker has two lanes:
 *   full   a full scan through records/search with searchAfter (default order createdAt, id),
 *          priority RL_PRIO_BACKFILL. The first one is the backfill; later ones (every
 *          [pull] full_scan_interval, `run` only) find remote deletes (reconcile.h). Its cursor
 *          is saved with every page (pullstore.h), so a killed scan resumes where it stopped.
 *          End of data = an empty page, or a page whose last cursor repeats the previous one; a
 *          short page is not the end (servers may cap pages silently).
 *   incr   (`run`, once a full scan has completed) polls every poll_interval for records changed
 *          since the watermark minus [pull] overlap, priority RL_PRIO_PULL, in the best mode the
 *          server supports, detected and logged once, kept in pull_state.mode:
 *            incremental  filters updated >= since + sort updated asc
 *            sorted_scan  sort updated desc without filters, stop below `since`
 *          ("updated" is the family's updated-at field: updatedAt, dateUpdated; the family
 *          writes the filter and sort in its API's syntax, family.h)
 *            full_diff    a full scan each poll (also sweeps deletes)
 *          A filter that is rejected (400/422) or ignored (records outside the range), a sort
 *          that is ignored (records out of order) moves one mode down. The watermark is saved
 *          when a poll completes (a killed poll is repeated).
 * Fetch and write overlap: the next page is requested as soon as a page arrives (its cursor is
 * known), while the page is written. A full scan keeps up to `writes` page transactions in flight
 * at once, each on the least busy connection of the engine's pool (a page transaction is mostly
 * server time); the resume cursor saved with them only ever moves to a page whose predecessors
 * are all committed (pullstore.h, ps_write_opts), so kill -9 at any moment loses nothing: pages
 * after the saved cursor are fetched and upserted again. Incremental polls write one page at a
 * time. When the window is full, one page waits and fetching pauses.
 *
 * Stop (SIGTERM/SIGINT): no new request starts, the page being written commits, pages held are
 * written, then the engine stops (engine.h bounds this to 5 s).
 *
 * Memory: a pull owns its workers; engine objects point at them (eo->worker). Tear down in the
 * order pull_shutdown(), engine_close(), pull_free() (callbacks of requests aborted by
 * engine_close still find the workers).
 */
#ifndef GHLSYNC_PULL_H
#define GHLSYNC_PULL_H

#include "engine.h"

#include <stdbool.h>
#include <stdio.h>

struct pull_opts {
    bool mirror;   /* `run`: incremental polls, sweeps, schema refresh; never ends by itself */
    bool full;     /* ignore saved cursors: start a new full scan */
    bool progress; /* draw progress bars on stderr (a terminal) */
    int64_t schema_refresh_ms; /* `run`: re-fetch schemas this often; 0 = 5 minutes */
    int writes;                /* page writes in flight per full scan; 0 = PULL_WRITES */
    bool snapshot; /* backfill: load into shadow tables, swap them in at the end (pullsnap.h);
                    * implies full */
};

#define PULL_WRITES     3 /* default: measured in tests/bench/pull.sh */
#define PULL_MAX_WRITES 8

typedef struct pull pull;

/* Create a worker per engine object (after engine_discover(apply=true)) and read pull_state. */
int pull_new(struct engine *E, const struct pull_opts *o, pull **out, gs_err *e);
/* Start every worker on the loop. Backfill (!mirror): engine_stop(E, 0|1) when all are done. */
int pull_start(pull *P, gs_err *e);
/* Close the workers' handles (before engine_close). */
void pull_shutdown(pull *P);
void pull_free(pull *P);

/* Workers that failed; a summary line per object to `f`. */
int pull_failed(const pull *P);
void pull_summary(const pull *P, FILE *f);

/* The whole of `ghlsync backfill` / `ghlsync run` after option parsing: load the configuration,
 * open the engine, apply the schema, run the workers. Returns the exit code. */
int pull_command(struct cli_ctx *ctx, const struct engine_opts *eopts, const struct pull_opts *po);

#endif
