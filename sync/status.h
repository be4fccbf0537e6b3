/*
 * status.h - what `ghlsync status` reports: per location and object, freshness (last pull,
 * watermark age), backlog (pending / failed / parked changes, conflicts) and the rate budget.
 *
 * Everything is read from PostgreSQL (the ghlsync.status view and the ghlsync.runtime table of
 * migrations/004_status.sql, the leases of 009_leases.sql), because the engine is another process:
 * status works while the engine runs, after it stopped, and on another host. Nothing is written.
 *
 * status_collect fills a status_report; status_print_text and status_to_json render it.
 * Numbers that are unknown (never pulled, no runtime row yet) are STATUS_NONE (integers) or NAN
 * (doubles); strings that are unknown are NULL.
 *
 * Memory: a status_report owns every string and array in it; status_report_free releases them.
 * status_to_json returns a malloc'd string the caller frees.
 */
#ifndef GHLSYNC_STATUS_H
#define GHLSYNC_STATUS_H

#include "config.h"
#include "err.h"
#include "strmap.h"

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define STATUS_NONE INT64_MIN

struct status_object {
    char *object_key;
    char *table; /* "schema.table" as stored (unquoted), NULL when no table yet */
    int64_t rows;
    char *pull_mode; /* full | incremental | sorted_scan | full_diff, NULL never pulled */
    bool backfill_complete;
    int64_t backfill_fetched, backfill_total;
    char *last_pull_at; /* ISO 8601 UTC, NULL = never */
    double last_pull_age_s;
    char *watermark;
    double watermark_age_s;
    int64_t pending, failed, parked, conflicts, conflicts_24h;
    char *oldest_pending_at;
    char *last_push_at;
    char *last_error;
    int64_t quarantined; /* open rows of ghlsync.quarantine */
};

struct status_location {
    char *location_id;
    bool configured; /* in the configuration given to status_collect */
    /* from ghlsync.runtime (the engine's last write); has_runtime false when no row */
    bool has_runtime;
    int64_t requests_today, daily_limit, daily_remaining, burst_limit, burst_remaining;
    int64_t requests_total, throttled_total, errors_total;
    double rate_per_s;
    char *holder;
    char *runtime_updated_at;
    double runtime_age_s;
    char *last_error;
    char *last_error_at;
    /* the live lease (ghlsync.leases, lease.h): which process serves the location and since
     * when; lease_host NULL = none (no process serves it now) */
    char *lease_host, *lease_kind, *lease_since;
    int64_t lease_pid;
    double lease_age_s;
    struct status_object *objects;
    size_t n_objects;
    /* from ghlsync.relation_state (relations.h); has_relations false when no row */
    bool has_relations;
    struct status_relations {
        int64_t requests_today, budget_cap;
        char *last_full_at, *last_incr_at, *paused_until, *last_error;
        double last_full_age_s, last_incr_age_s;
        bool full_in_progress;
        int64_t full_records, last_full_records, last_full_requests;
        int64_t rows, pending, failed; /* <schema>.relations: live rows, unsent, failed pushes */
    } rel;
};

struct status_report {
    char *generated_at; /* database clock, ISO 8601 UTC */
    struct status_location *locations;
    size_t n_locations;
    strmap by_id; /* location_id -> index + 1 in locations (which realloc moves) */
};

/* Read the status of every location in `cfg` (may be NULL) and every location the database
 * knows. Fails with GS_ESTATE and a hint when the ghlsync schema or migration 004 is missing. */
int status_collect(PGconn *c, const struct cfg *cfg, struct status_report *r, gs_err *err);

void status_report_free(struct status_report *r);

/* Human-readable tables (one block per location). Returns 0, or -1 on a write error. */
int status_print_text(FILE *out, const struct status_report *r);

/* {"generated_at":..., "locations":[{..., "objects":[{...}]}]}; unknown values are null.
 * NULL on out-of-memory. */
char *status_to_json(const struct status_report *r);

/* "3s", "4m", "2h05m", "3d4h" for a non-negative age in seconds; "-" for NAN. */
void status_fmt_age(double s, char *out, size_t len);

#endif
