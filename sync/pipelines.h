/*
 * pipelines.h - the read-only side tables of opportunities: `pipelines` and `pipeline_stages`,
 * mirrored from GET /opportunities/pipelines (highlevel-crm.md 2.3) beside the opportunities
 * table, in its schema.
 *
 *   tables   pipelines (id, location_id, name, extras jsonb: the keys no column holds) and
 *            pipeline_stages (id, pipeline_id, location_id, name, position, extras), keyed by
 *            (id, location_id) so that a join on the id alone (stage ids are UUIDs) uses the
 *            key; indexes on pipeline_stages (pipeline_id) and on the opportunities table's
 *            pipeline_stage_id, pipeline_id and contact_id, for the joins opportunity -> stage
 *            -> pipeline and opportunity -> contact.
 *   refresh  with the opportunity schema refresh (and when a pull starts): one GET, one
 *            statement that upserts what the answer lists and deletes the location's rows it
 *            no longer lists. A stage list that is not an array (the spec types it as an array
 *            of arrays) stores no stages for that pipeline and keeps the pipeline.
 *   DDL      lazily: a store that finds no table (SQLSTATE 42P01) creates them, under the
 *            migration lock, and stores again. Nothing to do at start, nothing per refresh.
 *   writes   refused for every session but the engine's (the read-only trigger of pull-only
 *            tables, with its own message: pipelines are edited in HighLevel).
 */
#ifndef GHLSYNC_PIPELINES_H
#define GHLSYNC_PIPELINES_H

#include "err.h"
#include "family.h"
#include "hlapi.h"
#include "pgasync.h"
#include "schema.h"
#include "sbuf.h"

#include <cjson/cJSON.h>

/* done(error, pipelines, stages, ud): error NULL on success; the counts the answer listed. */

/* Fetch and store the pipelines of location `l` next to the table of `opp` (its schema and
 * table name, for the indexes). `done` runs once unless an error is returned. */
int pl_refresh(hl_location *l, pga_conn *db, const schema_object *opp, fam_side_cb done, void *ud,
               gs_err *e);

/* The statements (exposed for tests): the store ($1 answer jsonb, $2 location id) and the DDL. */
int pl_store_sql(const char *schema, sbuf *out);
int pl_ddl_sql(const char *schema, const char *opp_table, sbuf *out);

#endif
