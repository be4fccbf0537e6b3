/*
 * progress.h - terminal progress bars, one line per (location, object), redrawn in place:
 *
 *   custom_objects.pet @ loc1  [#########.........]  45,200 / 100,000  1,234/s  ETA 0:44
 *
 * Only for a terminal (the caller checks isatty); otherwise the pull workers log start, every
 * N pages and end lines instead. Redraws are throttled (at most every 100 ms) so that a fast
 * backfill does not spend its time writing escape sequences.
 *
 * Memory: a progress owns its labels; `out` is borrowed.
 */
#ifndef GHLSYNC_PROGRESS_H
#define GHLSYNC_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef struct progress progress;

progress *progress_new(FILE *out);
void progress_free(progress *p);
/* Add a bar; returns its index (or -1 on OOM). */
int progress_add(progress *p, const char *label);
/* done: records so far; total: -1 when unknown; now_ms: monotonic clock. */
void progress_set(progress *p, int bar, long long done, long long total, uint64_t now_ms);
/* The bar's work ended (ok or failed). */
void progress_end(progress *p, int bar, bool ok, uint64_t now_ms);
/* A short note shown in place of the ETA ("waiting for the API 35s"); NULL or "" clears it. */
void progress_note(progress *p, int bar, const char *note, uint64_t now_ms);
/* Draw now (ignores the throttle). */
void progress_draw(progress *p, uint64_t now_ms);

/* "1,234,567" into buf. */
void progress_fmt_count(long long n, char *buf, size_t len);

#endif
