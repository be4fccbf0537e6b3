/*
 * relations.h - associations and relations (highlevel-crm.md §3) as tables to join on, pulled
 * within a request budget.
 *
 *   tables    <schema>.associations (id, location_id, key, first/second object key and label,
 *             association_type, extras) from GET /associations/, and <schema>.relations
 *             (_local_id, id, location_id, association_id, first_object_key, first_record_id,
 *             second_object_key, second_record_id, first_local_id, second_local_id,
 *             _deleted_at, _synced_at, _sync_state, _sync_error), indexed on both record ids
 *             and on (location_id, id). Created at service start (CREATE ... IF NOT EXISTS
 *             under the migration lock). The system association
 *             OPPORTUNITIES_CONTACTS_ASSOCIATION is listed in `associations`; its links are
 *             opportunities.contact_id (the API has no relation rows for it).
 *
 *   listing   the API lists relations per record only (GET /associations/relations/{id},
 *             skip/limit 100), so a pass lists records of the mirrored tables, one at a time
 *             (the rate budget, not the database, is the bottleneck): a FULL pass lists every
 *             live record of the side with fewer live rows of each user-defined association
 *             (a relation has one end on each side, so that finds every relation); an
 *             INCREMENTAL pass lists the records of either side synced (_synced_at, moved only
 *             when updated_at moved) since the previous pass began. Each record's listing
 *             replaces that record's relations: rows it lists are upserted, the record's other
 *             pulled rows are marked deleted (_deleted_at), all in one transaction with the
 *             pass's resume point and the requests spent (ghlsync.relation_state, 008): a
 *             kill -9 resumes after the last record stored. A pass ends by marking deleted the
 *             relations of soft-deleted records and of associations no longer listed.
 *
 *   schedule  `ghlsync run`: a pass every [relations] poll_interval, full when none completed
 *             yet, one is in progress, or the last is older than reconcile_interval (it finds
 *             links made without touching either record, which move no updatedAt); else
 *             incremental. `ghlsync backfill`: one pass after every object's records are
 *             complete, before exit (engine.relations_after; not `ghlsync push`, not a
 *             snapshot backfill, whose tables are swapped in after the run).
 *
 *   budget    calls go at RL_PRIO_BACKFILL on the queue "relations" (behind pushes, pulls and
 *             schema calls), and relation listing spends at most [relations] budget_share of
 *             the location's daily limit (the server's X-RateLimit-Limit-Daily when known) per
 *             UTC day: at the cap the pass pauses until the next UTC day, its resume point
 *             saved.
 *
 *   push      `ghlsync run` with [push] enabled: the capture trigger (migrations/008) refuses
 *             UPDATE, keeps an INSERT in the table itself (_sync_state 'pending', id NULL) and a
 *             DELETE of a known relation in ghlsync.relation_deletes. Every second (at once
 *             again after a round that sent something) each location: ends given as
 *             first_local_id / second_local_id take the id of their row once its create is
 *             through (so a row and its relation inserted together go in that order), the due
 *             inserts go out as POST /associations/relations in _local_id order (RL_PRIO_PUSH;
 *             a 400 "duplicate relation" is done: the existing relation's id is looked up),
 *             then the deletes as DELETE /associations/relations/{id} (404 = done). Any other
 *             refusal fails that row alone (_sync_state 'failed', the API's message in
 *             _sync_error); a retryable failure leaves it pending for the next round. Creating
 *             a relation twice is harmless (the second is a duplicate), so a lost answer is
 *             simply sent again.
 *
 * The service is one of engine_services (engine.c). Loop thread only.
 */
#ifndef GHLSYNC_RELATIONS_H
#define GHLSYNC_RELATIONS_H

#include "engine.h"
#include "err.h"
#include "sbuf.h"

int relations_service_start(struct engine *E, void **state, gs_err *e);
void relations_service_stop(void *state);
/* A location that joined while running (engine_location_add): listed and pushed like the
 * others from now on. state NULL: nothing. */
void relations_location_added(void *state, struct engine_location *L);

/* The statements (exposed for tests): the DDL of both tables in `schema`, and the store of one
 * record's listing ($1 location, $2 record id, $3 the relations, a JSON array). */
int rel_ddl_sql(const char *schema, sbuf *out);
int rel_store_sql(const char *schema, sbuf *out);
/* One association ($1 location, $2 the association, a JSON object in API shape) upserted; and
 * one deleted with its relations marked deleted ($1 location, $2 association id). Used by the
 * webhook drain (whapply.h) for Association* hints. */
int rel_assoc_upsert_sql(const char *schema, sbuf *out);
int rel_assoc_delete_sql(const char *schema, sbuf *out);

#endif
