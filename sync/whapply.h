/*
 * whapply.h - the engine side of the webhook hint queue (ghlsync.webhook_hints, migration 011):
 * where hints are stored and how they are applied.
 *
 * Store (wha_store): one statement inserts the hint unless its webhookId is known already or
 * [webhooks] queue_max hints are queued, and says which of the three happened; the listener
 * answers 2xx only when it committed. The bound is approximate under concurrent inserts (each
 * counts the queue before the others commit): a few over, never unbounded. Counting uses the
 * partial index on queued rows, a cost that grows with the queue, bounded by queue_max.
 *
 * Apply (the drain): queued hints, oldest first, in batches of WHA_BATCH run at once; the next
 * batch is read when one ends, when a hint was stored, and every WHA_TICK_MS (hints of another
 * process, retries that came due). For each hint:
 *   - a location or object not mirrored here: settled 'dropped' (counted by reason);
 *   - Relation* (RelationCreate / RelationDelete): the association is looked up in the
 *     relations service's <schema>.associations (not listed there: 'dropped', reason
 *     "association"; [relations] disabled: reason "relations"); of its two ends, the mirrored
 *     one holding fewer live relations here (a tie: the first) is re-listed, GET
 *     /associations/relations/{recordId} page by page at RL_PRIO_PUSH on the fairness queue
 *     "webhooks" (neither end mirrored: reason "relation_ends"). These requests are counted
 *     by the relation_requests hook (ghlsync_webhooks_relation_requests_total), NOT against
 *     [relations] budget_share: that cap bounds the background listing; a hint costs one
 *     listing per change somebody made, like a record hint's GET. The listing is stored as
 *     the relations pass stores one record's (relations.h rel_store_sql: upserted, the
 *     record's other pulled relations marked deleted) in ONE transaction with the
 *     settlement. A RelationCreate whose relation the listing does not show writes nothing
 *     ('applied', "absent"); a RelationDelete marks the row deleted only when the listing
 *     confirms it is gone ("deleted"), else the relation is kept ("kept"). An end the API
 *     refuses to list (gone): "absent", the record's own hint or the poll take it;
 *   - Association* (AssociationCreate/Update/Delete): GET /associations/{id} at RL_PRIO_PUSH
 *     (counted with the relation listings); 200 upserts that one association row (a delete
 *     hint for one that still answers: "kept"), a 404 confirms it is gone: its row is deleted
 *     and its relations marked deleted (HighLevel deletes them with it), in the transaction
 *     that settles the hint;
 *   - Record* without an object key (the documented payload has none): the key is looked up in
 *     the mirrored tables of the location's custom objects by record id (one UNION ALL query);
 *     a record not held locally costs one GET per custom object of the location, in turn,
 *     until one answers 200 (none: 'applied', outcome "absent");
 *   - otherwise GET the record by id at push priority (RL_PRIO_PUSH: a hint is a user waiting)
 *     through its family (family.h get), and write the answer as a one-record pull page
 *     (pullstore.h ps_page_stmts: newer wins, columns with an open local change kept, a record
 *     deleted locally not re-inserted) in ONE transaction with the hint's settlement;
 *   - a 404: the record is gone; the pull sweep's delete of that one row (soft or hard as the
 *     object is configured) in the same transaction. A delete hint for a record that still
 *     answers 200 is applied as an update: nothing is deleted on the payload's word;
 *   - anything else (5xx, timeouts, auth): the hint stays queued, tried again after a backoff
 *     (2 s doubling), given up after WHA_MAX_ATTEMPTS ('failed'): the poll catches up.
 * Settled hints are deleted after [webhooks] retention.
 *
 * Crash safety: a hint is settled in the transaction that writes its row, so a kill -9 leaves it
 * queued (applied again: the upsert is idempotent) or settled with its row; never settled
 * without its row.
 *
 * Threading: loop thread. Memory: wha owns its hints in flight; the engine is borrowed.
 */
#ifndef GHLSYNC_WHAPPLY_H
#define GHLSYNC_WHAPPLY_H
#include "engine.h"
#include "err.h"
#include "pgasync.h"
#include "whevent.h"
#include <stdbool.h>
#include <stdint.h>

#define WHA_BATCH        32
#define WHA_TICK_MS      1000
#define WHA_MAX_ATTEMPTS 6

typedef struct wha wha;

typedef struct wha_hooks {
    /* A hint was settled (records and relations alike). state: "applied" (outcome "updated",
     * "kept", "absent"), "deleted"
     * (outcome "deleted"), "dropped" (outcome = reason), "failed". event_ms: its timestamp. */
    void (*settled)(void *ud, const char *state, const char *outcome, int64_t event_ms);
    /* Queued hints, read with each batch. */
    void (*depth)(void *ud, long queued);
    /* HTTP requests spent for a Relation* or Association* hint (may be NULL). */
    void (*relation_requests)(void *ud, long n);
    void *ud;
} wha_hooks;

/* `db` runs the drain, `store_db` the inserts (its own connection, so that an answer never waits
 * behind apply transactions); both borrowed, closed by the caller after wha_free. */
int wha_new(struct engine *E, pga_conn *db, pga_conn *store_db, int64_t retention_ms,
            const wha_hooks *h, wha **out, gs_err *e);
void wha_free(wha *a);
/* A location that joined while running: its hints and objects are known from now on. 0 or
 * GS_ENOMEM. */
int wha_location_added(wha *a, const struct engine_location *L);

/* Mirrored here? (the listener drops the others before storing) */
bool wha_has_location(const wha *a, const char *location_id);
const struct engine_object *wha_object(const wha *a, const char *location_id, const char *key);

/* Store outcome */
enum wha_stored { WHA_STORED, WHA_DUPLICATE, WHA_FULL, WHA_DB_ERROR };
typedef void (*wha_store_cb)(enum wha_stored r, void *ud);
/* Insert the hint of `ev` (cb runs later, on the loop). */
int wha_store(wha *a, const wh_event *ev, int queue_max, wha_store_cb cb, void *ud, gs_err *e);
#endif
