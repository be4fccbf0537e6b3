/*
 * pullstore.h - one page of pulled records -> PostgreSQL, in ONE transaction with the cursor.
 *
 * A ps_model is the write plan of one (location, object): the resolved schema model (ddl.h), the
 * column list and the column types read from the catalog, and the SQL text. A page is turned
 * into one array literal per column and written by a single multi-row upsert, a prepared
 * statement (pgasync.h; named after its text, so a schema change makes a new one):
 *
 *   INSERT INTO t (...) SELECT DISTINCT ON (id) ... FROM unnest($1::text[], $2::<type>[], ...)
 *   WITH ORDINALITY ... WHERE id is not locally deleted
 *   ON CONFLICT (location_id, id) WHERE id IS NOT NULL DO UPDATE SET (...) = (SELECT CASE ...)
 *   WHERE <remote updated_at not older than the row's> OR <the row needs the scan's generation>
 *
 * Where a page's time went (tests/bench/pull.sh, 100 records of the all-types object, 2-core
 * machine): unprepared, parse + plan cost ~9 ms against ~1-3 ms of execution; a separate
 * "mark" UPDATE ... WHERE id = ANY($ids) cost ~12 ms per page once its cached generic plan
 * scanned the whole location (now folded into the upsert); what remains is the execution itself
 * (~1 ms unnest + input functions, ~2 ms inserting 100 rows into a table with 4 indexes).
 * A first backfill writes pages with COPY instead (ps_page_copy_stmts below: no ON CONFLICT, no
 * sort, no subqueries), up to 10 API pages / 1,000 records per transaction (pull.c gathers them
 * with ps_page_merge; README "write path" has the figures), in binary format when every column
 * has a copybin.h encoder (a page with a value it does not take goes to the upsert). Pages into a
 * full table keep the array upsert: COPY into a staging table plus one merge per page is not
 * implemented (not measured; it would write each row twice, and behind a transaction pooler the
 * staging table must be created inside each transaction).
 *
 * Rules the upsert enforces (the "no flip-flop" rules of the architecture):
 *  - a row whose updated_at is newer than the record's is not touched (equal: only when `force`,
 *    which a full backfill uses so that a re-run rewrites every row; incremental polls skip
 *    records they already hold, saving the writes of the overlap window);
 *  - a column named in ghlsync.changes.changed_columns of a change to the same row (table_schema,
 *    table_name, local_key = _local_id) that is pending, retrying, failed or unknown keeps its
 *    local value (the partial index changes_open_row_idx serves the lookup);
 *  - _deleted_at is cleared (a record that reappears is undeleted), _synced_at = now(),
 *    _generation = the scan's generation when the page comes from a full scan; a row the record
 *    may not overwrite still gets the scan's generation (the mark of mark-and-sweep), nothing
 *    else;
 *  - a record with an open delete change (ghlsync.locally_deleted) is not inserted again.
 * The engine's sessions run SET ghlsync.origin = 'engine' so the push triggers skip these writes.
 *
 * Memory: a ps_model is reference counted (pages in flight keep the model they were built with
 * alive across a schema change); it owns its schema_object (a shadow model borrows its base's
 * and holds a reference to the base). A ps_page owns its strings and holds
 * one model reference. ps_stmts owns the parameter strings it built.
 */
#ifndef GHLSYNC_PULLSTORE_H
#define GHLSYNC_PULLSTORE_H

#include "arena.h"
#include "err.h"
#include "log.h"
#include "pgasync.h"
#include "schema.h"

#include <cjson/cJSON.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ps_model {
    int refs;
    struct ps_model *base; /* a shadow model (snapshot): the live table's model, one reference */
    schema_object *obj;    /* owned (borrowed from `base`), resolved by ddl_plan_object */
    char *location_id;
    char *object_key;
    char *table_schema, *table_name;
    char *qtable;   /* "schema"."table", quoted */
    size_t ncols;   /* mapped columns, in map_row_init order */
    char **types;   /* catalog type of each column (format_type) */
    char *upsert;   /* $1..$ncols arrays, then generation, force, table_schema, table_name */
    char *copy;     /* COPY qtable (columns, _synced_at, _generation) FROM STDIN */
    char *copy_bin; /* the same in binary format; NULL when a column's type has no encoder */
    char *sweep;    /* $1 location, $2 generation, $3 scan start: soft delete */
    char *hsweep;   /* same, hard delete */
    /* $1 location: does the table hold a row of it that a sweep could touch (one with a remote
     * id)? Asked when a scan starts: a scan that started with none has no sweep to do
     * (reconcile.h) */
    char *held;
    /* $1 location, $2 table_schema, $3 table_name (the live table's, as changes name it): run
     * after a COPY, in its transaction; fails (22012) when the table now holds a record with an
     * open or recent local delete (ps_page_copy_stmts) */
    char *copy_guard;
    /* prepared statement names (pgasync.h): derived from the SQL text, so a new model with a
     * different text (a schema change) never runs a stale statement */
    char upsert_name[PGA_NAME_LEN], copy_guard_name[PGA_NAME_LEN];
    /* ps_model_share_sql: types, upsert, copy, copy_bin, sweep, hsweep, held and copy_guard are
     * this model's (one reference), not owned */
    struct ps_model *sql_owner;
} ps_model;

/* Build the write plan. Takes ownership of `obj` (also on failure) and frees its raw JSON
 * copies (schema_object_drop_raw: plan the DDL before). `c` is a synchronous
 * connection used to read the column types. */
int ps_model_new(PGconn *c, schema_object *obj, const char *location_id, ps_model **out, gs_err *e);
/* The same object written into another table of the same schema and shape (`shadow`, for
 * `backfill --snapshot`): rows and pull_state stay keyed by the live table's names (the outbox
 * lookups use them), only the target of the upsert and the sweep changes. */
int ps_model_new_shadow(PGconn *c, ps_model *base, const char *shadow, ps_model **out, gs_err *e);
/* Use `like`'s column types and SQL texts instead of m's own when they are the same (the same
 * table and columns: the texts hold no location), so that thousands of locations with the same
 * objects hold one copy. Nothing changes when they differ. */
void ps_model_share_sql(ps_model *m, ps_model *like);
ps_model *ps_model_ref(ps_model *m);
void ps_model_unref(ps_model *m);

/* Time values in milliseconds since the epoch; INT64_MIN = absent. */
#define PS_NO_TIME INT64_MIN

/* ISO-8601 (Z or +hh:mm offsets, optional fraction) or epoch milliseconds -> ms. */
int64_t ps_time_ms(const cJSON *v);
/* ms -> "YYYY-MM-DDTHH:MM:SS.mmmZ" (buf >= 32 bytes). */
void ps_time_iso(int64_t ms, char *buf, size_t len);

typedef struct ps_page {
    ps_model *model;  /* one reference */
    size_t n;         /* records in the page */
    char **arrays;    /* model->ncols array literals */
    char *copy;       /* the rows for COPY (ps_copy_opts), else NULL */
    bool copy_bin;    /* `copy` is binary (model->copy_bin: header, tuples, trailer), not text */
    char **vals;      /* with `copy`: the values (n x ncols) until ps_page_fill_arrays; then
                       * only arrays[0] (the ids) is built */
    ar_arena vals_ar; /* where the values' strings live */
    size_t copy_len, copy_cap; /* cap: bytes allocated (groups grow it by doubling) */
    char *cursor;              /* JSON text of the last record's searchAfter; NULL when absent */
    char *first_id, *last_id;
    int64_t min_upd, max_upd; /* updatedAt range of the page */
    bool asc, desc;           /* updatedAt non-decreasing / non-increasing across the page */
    int64_t first_upd, last_upd;
    long long total; /* the response's total, -1 when absent */
    size_t warnings; /* values that could not be stored (logged once per page) */
} ps_page;

/* The values COPY writes where the upsert writes now() and the scan's generation. */
typedef struct ps_copy_opts {
    int64_t synced_ms; /* _synced_at: the server's clock (see pull.c), epoch ms */
    int64_t generation;
} ps_copy_opts;

/* Parse a search response (its family's envelope: "records", "contacts") into a page. Records
 * without an id are skipped (logged). `copy` (may be NULL) also renders the rows for COPY. */
int ps_page_build(ps_model *m, const cJSON *response, gs_log *lg, const ps_copy_opts *copy,
                  ps_page *out, gs_err *e);
void ps_page_free(ps_page *p);
/* The cursor ps_page_build will give the page of `response` (its `cursor`), read without
 * building it, so that the next page can be asked for first (pull.c). NULL when that is not
 * certain from the last record alone (no records, a last record without an id, which the build
 * skips, no cursor key) or out of memory: the caller then builds the page before asking. */
char *ps_page_peek_cursor(const ps_model *m, const cJSON *response);
/* Append `src` (consumed, also on failure) to `dst`, a page of the same model: one write for
 * both, src's records after dst's (the upsert's DISTINCT ON keeps the later of an id seen in
 * both). The cursor, last id and total become src's, the updatedAt range and order cover both.
 * COPY data is kept when both pages have it (a first backfill groups its pages into one
 * transaction, pull.c), else both go to arrays. On failure (ENOMEM) drop `dst` too. */
int ps_page_merge(ps_page *dst, ps_page *src, gs_err *e);
/* The arrays of a page built for COPY, for writing it with ps_page_stmts after all. */
int ps_page_fill_arrays(ps_page *p, gs_err *e);

enum ps_state_kind {
    PS_STATE_NONE,      /* no pull_state change */
    PS_STATE_CURSOR,    /* full scan: save the resume point (cursor, seq, fetched, total) */
    PS_STATE_WATERMARK, /* incremental (ascending): watermark = max(watermark, page max) */
};

/*
 * The resume point of a full scan. Pages of a scan are numbered 1, 2, ... (pull_state.page is
 * the number of the page whose cursor is saved) and several may be written at once, on several
 * connections, committing in any order. A page's transaction saves the cursor of page `seq`
 * only when pages 1..seq are known to be committed (the caller's promise), and the UPDATE
 * skips it when a transaction that committed first saved a later page (page < seq): so the
 * saved cursor never passes an uncommitted page, and never moves back. After a crash, pages
 * after it are fetched and upserted again, which changes nothing (idempotent).
 */
typedef struct ps_write_opts {
    int64_t generation; /* < 0: not a full scan (rows keep their generation) */
    bool force;         /* rewrite rows whose updated_at equals the record's */
    enum ps_state_kind state;
    /* PS_STATE_CURSOR: */
    const char *cursor; /* searchAfter JSON text of page `seq` (NULL keeps the saved one) */
    long long seq;      /* > 0 */
    long long fetched;  /* records in pages 1..seq */
    long long total;    /* the server's total, -1 = unknown (kept) */
} ps_write_opts;

#define PS_MAX_STMTS 3
typedef struct ps_stmts {
    int n;
    const char *sql[PS_MAX_STMTS];
    const char *name[PS_MAX_STMTS]; /* prepared statement name (pga_tx_named), NULL: unnamed */
    int nparams[PS_MAX_STMTS];
    const char **params[PS_MAX_STMTS];
    const char *copy[PS_MAX_STMTS]; /* COPY data of a statement (pga_tx_copy), else NULL */
    size_t copy_len[PS_MAX_STMTS];
    char *owned[16]; /* strings built for the parameters */
    int nowned;
} ps_stmts;

/* The statements of one page write, in order (run them in one transaction). Borrow from `p`
 * and its model: keep both alive until the statements are submitted (pgasync copies them). */
int ps_page_stmts(const ps_page *p, const ps_write_opts *o, ps_stmts *out, gs_err *e);
void ps_stmts_free(ps_stmts *s);

/*
 * The first backfill of a table writes a page with COPY instead of the upsert (measured in
 * tests/bench/copy.sh, README "write path"): COPY of the rows (p->copy, built with
 * ps_copy_opts), a guard (the model's copy_guard) that fails when a record the table now holds
 * was deleted locally (open, or done within the hour: what ghlsync.locally_deleted keeps out of
 * the upsert), then the cursor as ps_page_stmts saves it, in one transaction. COPY has no ON
 * CONFLICT: a record the table holds already fails the page with unique_violation, and the
 * caller writes it again with ps_page_stmts (newer-wins, protected columns and the rest as
 * always); so COPY only ever inserts rows the upsert would have inserted, with the same values.
 */
int ps_page_copy_stmts(const ps_page *p, const ps_write_opts *o, ps_stmts *s, gs_err *e);

/* Synchronous execution in one transaction (tools, tests, the COPY comparison). */
int ps_page_write_sync(PGconn *c, const ps_page *p, const ps_write_opts *o, gs_err *e);

/* ---- pull_state helpers (synchronous, start-up and tools) ---- */
typedef struct ps_state {
    char mode[16];
    char *cursor;         /* JSON text or NULL */
    int64_t watermark_ms; /* PS_NO_TIME when NULL */
    int64_t generation;
    long long total, fetched;
    long long page; /* number of the page whose cursor is saved (ps_write_opts), 0 = none */
    bool complete;
    int64_t started_ms, last_full_scan_ms;
} ps_state;

/* Read (creating the row if missing). */
int ps_state_load(PGconn *c, const char *location_id, const char *object_key, ps_state *st,
                  gs_err *e);
void ps_state_free(ps_state *st);
/* The same read for the loop's connections: $1 location id, $2 object key; one row (the row
 * exists once ps_state_load ran), parsed by ps_state_read (st is overwritten, not freed). */
extern const char ps_sql_state_get[];
void ps_state_read(const PGresult *r, ps_state *st);

/* SQL texts for the async workers ($1 location_id, $2 object_key in all of them). */
/* Start a new full scan: generation+1, cursor NULL, started_at now, fetched 0, complete false.
 * Returns the new generation and started_at (epoch ms) as a row. */
extern const char ps_sql_scan_start[];
/* Save a resume point: $3 cursor (jsonb text; NULL keeps it), $4 page number (saved only when
 * greater than the saved one), $5 fetched, $6 total (NULL keeps). */
extern const char ps_sql_save_cursor[];
/* Scan complete: $3 generation. Sets complete, completed_at, last_full_scan_at, and the watermark
 * to started_at when there is none yet; clears the cursor. */
extern const char ps_sql_scan_done[];
/* $3 mode text. */
extern const char ps_sql_set_mode[];
/* $3 watermark (timestamptz text): watermark = greatest(watermark, $3). */
extern const char ps_sql_set_watermark[];
/* $3 error text (NULL clears). */
extern const char ps_sql_set_error[];

/* One record deleted remotely (confirmed by a 404): soft (_deleted_at, as the sweep) or hard
 * (rows with an open local change kept, as the hard sweep). $1 location_id, $2 id. Malloc'd SQL,
 * NULL on OOM. */
char *ps_delete_one_sql(const ps_model *m, bool hard);

#endif
