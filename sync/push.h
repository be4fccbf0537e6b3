/*
 * push.h - the push workers: local changes recorded in ghlsync.changes (triggers.h) -> HighLevel.
 *
 * One push_service serves every location and object it is given (push_add_target). Per location
 * it keeps up to `batch_size` records in flight; each record is one job:
 *
 *   claim    a transaction under a per-location advisory lock picks the oldest due records (a
 *            record is due when it has a pending or retrying change whose next_attempt_at has
 *            come, no open 'unknown' change, and no change claimed by a live session) and stamps
 *            ALL their open changes (pending, retrying, failed) with this session's backend pid
 *            and start time and its claim key (FOR UPDATE SKIP LOCKED). The key is a
 *            session-level advisory lock the session takes on its first claim (migration 007,
 *            ghlsync.claim_session); a claim is live while its key shows in pg_locks, which
 *            every role sees (pg_stat_activity hides another role's sessions, so a second
 *            process under another engine role would take live claims). A claim dies with its
 *            session: after a kill -9 the server drops the session and its lock, and the
 *            changes are claimable at once.
 *   coalesce the job reads the row as it is now and makes ONE call for all claimed changes:
 *            row exists, no remote id -> POST (insert+updates = one create);
 *            row exists, remote id    -> PUT with the union of the changed columns only;
 *            row gone, remote id      -> DELETE (update+delete = one delete; 404 = done);
 *            row gone, no remote id   -> nothing (insert+delete), changes 'ignored'.
 *   create   sent_at is committed on the changes BEFORE the POST leaves. A claim that finds an
 *            open change with sent_at and no remote id (crash, or HL_UNKNOWN_OUTCOME) does not
 *            know whether the record exists: with external_id_field (a TEXT field that every
 *            create fills with the row's _local_id) it searches for it (filter eq) and adopts
 *            the record, or creates it when the search finds nothing; without one the change is
 *            parked as 'unknown' for the operator (`ghlsync errors`), never re-POSTed blindly.
 *   conflict before a PUT, when the row's updated_at (kept current by pull, which writes the
 *            columns a pending change does not protect) is newer than the change's base version,
 *            the job GETs the record and compares each pushed column's remote value with the base
 *            (old) value; a column changed on both sides is a conflict, resolved by the object's
 *            policy (remote_wins: not sent, the row takes the remote value; local_wins: sent;
 *            newest_wins: the later of the local change time and the remote updatedAt wins) and
 *            recorded in ghlsync.conflicts with base, local and remote values. So a PUT costs one
 *            request; the GET is paid only when pull saw the record move after the local edit.
 *            A record deleted in HighLevel while the row changed (PUT/GET 404) is a conflict
 *            too: remote_wins ignores the changes, records resolution 'remote_deleted' and marks
 *            the row deleted (_deleted_at, or removes it with hard_delete) as pull would; the
 *            other policies fail the changes for an operator (a new record would get a new id).
 *   outcome  OK: the response record is written back to the row (as the engine, no echo) except
 *            columns that newer open changes protect, _sync_state 'done' (or 'pending' when newer
 *            changes wait), changes 'done'. REJECTED: changes 'failed' with the API's status and
 *            message (row _sync_state 'failed', _sync_error); a failed change blocks nothing but
 *            is retried together with the next local change to the same row, or by `ghlsync
 *            errors retry`. RETRYABLE/AUTH: 'retrying' with exponential backoff, 'failed' after
 *            max_attempts.
 *   failure  every job ends with its claims settled or released, never left on the (live)
 *            claim session: a database error or a call that cannot be submitted releases them
 *            for a retry 2 s later; an answer that cannot be written back is 'retrying'; a
 *            claimed record with no target here is released for 60 s. Claims whose release
 *            fails too are kept in memory and released by the next sweep. On push_free the
 *            session closes, and its claims die with it.
 *
 * Woken by LISTEN (PUSH_NOTIFY_CHANNEL, payload = location id), by push_wake, and by a sweep
 * timer (safety net for lost notifications and for backoff deadlines).
 *
 * Sessions lost (PostgreSQL restart, failover; pgasync.h reconnects): the claims of the jobs in
 * flight belonged to the dead session, so the first statement of the new session stamps them
 * with it again (where no live session holds them), and only then does a full sweep run (as it
 * does when LISTEN is back: notifications of the outage are lost). A job whose statement failed
 * in doubt releases its claims (job_release); its changes are claimed again and settled by the
 * usual rules (sent_at for creates), so nothing is sent twice blindly. Both connections need a
 * session of their own: push_opts.conninfo is [database] session_url. Requests go through the
 * location's rate budget with RL_PRIO_PUSH, one fairness queue per object.
 *
 * Ownership: the service copies ids/keys; hl_location and the gs_loop are borrowed and must
 * outlive it; a model is borrowed until its release hook runs (push_target.release), or must
 * outlive the service (push_set_model swaps a model after a schema change). push_free may be
 * called with jobs in flight: it stops claiming, closes its connections, and the memory is
 * released when the last in-flight API callback has come back (hl_client_free / gs_loop_close
 * make them come back). Loop thread only.
 */
#ifndef GHLSYNC_PUSH_H
#define GHLSYNC_PUSH_H

#include "config.h"
#include "err.h"
#include "hlapi.h"
#include "loop.h"
#include "schema.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct push_service push_service;

typedef struct push_target {
    const char *location_id;
    const char *object_key;
    hl_location *hl;               /* borrowed */
    const schema_object *model;    /* resolved by ddl_plan_object; borrowed */
    enum cfg_conflict conflict;    /* policy */
    const char *external_id_field; /* field key or property key; NULL = none */
    bool hard_delete;              /* soft_delete = false: a remote deletion removes the row */
    /* NULL: always; else the location's changes are claimed only while *served (this process
     * holds its lease, lease.h). Borrowed, outlives the service. */
    const bool *served;
    /* Called once when the service no longer uses `model` (its target was freed: replaced and
     * no job left on it, or the service released); lets the caller hold a reference for it.
     * NULL = the model simply outlives the service. */
    void (*release)(void *ud);
    void *release_ud;
} push_target;

typedef struct push_opts {
    const char *conninfo;    /* the service opens its own sessions (claims, LISTEN) */
    int batch_size;          /* records in flight per location; default 8 */
    int max_attempts;        /* transient failures before 'failed'; default 10 */
    int64_t backoff_base_ms; /* default 1000 */
    int64_t backoff_max_ms;  /* default 300000 */
    int64_t sweep_ms;        /* default 5000 */
    bool listen;             /* LISTEN for changes; default off when once */
    /* once: stop claiming when a round found nothing due and nothing is in flight, then call
     * on_idle (ghlsync push). */
    bool once;
    void (*on_idle)(void *ud);
    void *ud;
} push_opts;

typedef struct push_stats {
    long claims, jobs, creates, updates, deletes, gets, searches;
    long done, failed, retrying, unknown, ignored, adopted, conflicts;
} push_stats;

int push_new(gs_loop *L, const push_opts *o, push_service **out, gs_err *e);
int push_add_target(push_service *p, const push_target *t, gs_err *e);
/* Replace the model of a target (same location and object key); release/release_ud as in
 * push_target (called only on success). The old target is freed when its last job ends. Call it
 * only when the schema changed. GS_ENOTFOUND if unknown. */
int push_set_model(push_service *p, const char *location_id, const char *object_key,
                   const schema_object *model, void (*release)(void *ud), void *release_ud,
                   gs_err *e);
/* Connect (LISTEN, claim session) and start claiming. */
int push_start(push_service *p, gs_err *e);
/* Claim now for one location (NULL = all), as a notification would. */
void push_wake(push_service *p, const char *location_id);
/* Jobs in flight, all locations. */
int push_inflight(const push_service *p);
void push_get_stats(const push_service *p, push_stats *out);
void push_free(push_service *p);

#endif
