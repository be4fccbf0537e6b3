/*
 * family.h - an endpoint family: what differs between HighLevel record APIs, and nothing else.
 *
 * HighLevel serves its records through several API shapes: custom objects and business through
 * /objects/{key}/records (family/objects.c), contacts through /contacts (family/contacts.c),
 * opportunities through /opportunities (a later family). The engine around them is the same for
 * all: the scheduler and its lanes, page transactions with their cursor, resume, mark-and-sweep
 * deletes, the outbox and claims, conflicts, write-back, status, metrics, schema evolution. A
 * family says only:
 *
 *   fields     its standard fields as fixed typed columns (fam_std), and how to fetch and parse
 *              its custom-field definitions into a schema_object (typed by mappings/types.toml
 *              like object fields);
 *   search     one call (fam_query: page size, cursor, updated-since filter, sort on the updated
 *              time), its page-size maximum, the answer's envelope key and each record's id,
 *              created, updated and cursor keys; the fallbacks when the server refuses or
 *              ignores the filter or the sort are shared (pull.h) and logged with the family's
 *              name of the updated field;
 *   records    where a record's custom-field values are (fam_family.field_values: a properties
 *              map; field_slots: a [{id, value}] list, read by definition index), and the
 *              reverse: a create or update
 *              body from column values (changed fields only on update);
 *   writes     create / get / update / delete calls, the answer's record (unwrapping
 *              {"record": ...}, {"contact": ...}), and what makes a create safe to retry (the
 *              lookup of a record whose create had an unknown outcome).
 *
 * Rows: every mirrored table has the system columns of fam_sys_columns (ONE table: ddl.c creates
 * them, mapping.c lays rows out with them, push.c and triggers.c know which are pushed). A row as
 * mapping.h builds it is: id, location_id, the family's standard columns, created_at,
 * updated_at, then each field's column(s). The rest of fam_sys_columns is engine bookkeeping.
 *
 * Families are static tables of function pointers (no state): fam_for_key picks one for an
 * object key; a schema_object remembers its family (schema.h) and fam_of returns it.
 *
 * Open change states: ghlsync.changes rows whose change is not settled. The texts below are the
 * ONE spelling every query uses (the partial indexes of migrations/003_push.sql use the same
 * list, so the planner can match their predicates).
 */
#ifndef GHLSYNC_FAMILY_H
#define GHLSYNC_FAMILY_H

#include "err.h"
#include "hlapi.h"
#include "mapping.h"
#include "sbuf.h"
#include "schema.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Not settled: a pull keeps the columns they name, the push claims them. */
#define FAM_OPEN_STATES "('pending', 'retrying', 'failed', 'unknown')"
/* Due for a push attempt. */
#define FAM_DUE_STATES "('pending', 'retrying')"
/* Waiting for an operator (`ghlsync errors`). */
#define FAM_PARKED_STATES "('failed', 'unknown')"
/* Claimed together with a due change of the same record. */
#define FAM_CLAIM_STATES "('pending', 'retrying', 'failed')"

/* ---- system columns ---- */
typedef struct fam_column {
    const char *name, *type, *comment;
} fam_column;

/* Table order: _local_id, id, location_id, [the family's standard columns], created_at,
 * updated_at, _deleted_at, _synced_at, _sync_state, _sync_error, _generation. */
extern const fam_column fam_sys_columns[];
extern const size_t fam_n_sys_columns;
#define FAM_SYS_STD_AT 3 /* index in fam_sys_columns the standard columns go before */

/* ---- standard columns ---- */
enum fam_kind {
    FAM_K_TEXT,  /* string (numbers and booleans as text) */
    FAM_K_IDS,   /* text[]: string[] or a bare string */
    FAM_K_BOOL,  /* boolean */
    FAM_K_DATE,  /* date: "YYYY-MM-DD..." */
    FAM_K_JSON,  /* jsonb, any JSON value */
    FAM_K_EXTRA, /* jsonb: the record's keys no column holds (filled by the family) */
    FAM_K_NUM,   /* numeric: a number (or a numeric string); pushed as a JSON number */
    FAM_K_TIME,  /* timestamptz: ISO-8601 or epoch ms (read-only columns) */
};

#define FAM_STD_PUSHED   1u /* a local change is captured and sent */
#define FAM_STD_SET_DIFF 2u /* pushed as added/removed elements (fam_family.set_add/remove) */
#define FAM_STD_KEEP_CASE                                                                          \
    4u /* a pull that brings the lower-cased value of what the row holds keeps the row's value     \
        * (search answers that only know a lower-cased spelling) */

typedef struct fam_std {
    const char *column, *type, *comment;
    const char *key;     /* the record's key */
    const char *alt_key; /* a tolerated alternative (used when `key` is absent or null) */
    enum fam_kind kind;
    unsigned flags;
} fam_std;

/* ---- search ---- */
#define FAM_NO_TIME INT64_MIN

typedef struct fam_query {
    int page;                  /* > 0: page by number (a server that ignores the cursor) */
    int page_limit;            /* 0 = omit */
    const cJSON *search_after; /* NULL = from the start */
    int64_t since;             /* FAM_NO_TIME = no filter; else updated >= since (ms) */
    int sort;                  /* 0 = the server's default order, 1 = updated asc, -1 = desc */
} fam_query;

/* A create whose outcome is unknown, to be looked up before creating again. */
typedef struct fam_lookup {
    const char *local_key;      /* the row's _local_id, as written into the external id field */
    const schema_field *ext;    /* external id field; NULL = none */
    const char *const *values;  /* the row (mapping.h order), for natural keys */
    const char *const *columns; /* their names */
    size_t ncols;
} fam_lookup;

typedef struct fam_family fam_family;

/* fam_family.side_refresh done: error NULL on success; a and b: rows stored (family-defined). */
typedef void (*fam_side_cb)(const char *error, long a, long b, void *ud);
typedef struct pga_conn pga_conn;

struct fam_family {
    const char *name; /* "objects", "contacts": logs and docs */
    bool (*serves)(const char *object_key);
    const fam_std *std; /* standard columns, in table order */
    size_t n_std;
    const char *(*default_table)(const char *object_key); /* NULL: from the key (ddl.h) */

    /* definitions: one call, whose answer parse_schema turns into a model */
    int (*fetch_schema)(hl_location *l, const char *key, int prio, hl_cb cb, void *ud, gs_err *e);
    int (*parse_schema)(const cJSON *answer, const char *key, schema_object **out, gs_err *e);

    /* search */
    int page_max;             /* the documented page-size maximum */
    int64_t index_lag_ms;     /* how far search may lag writes: the incremental window is never
                               * narrower ([pull] overlap is widened to it) */
    const char *envelope;     /* answer key of the record array: "records", "contacts" */
    const char *updated_name; /* the updated-at field as filters and sort name it (logs) */
    const char *created_key[2], *updated_key[2]; /* record keys (first found wins) */
    const char *cursor_key;                      /* each record's cursor: "searchAfter" */
    /* One page; `cb` only reads the answer (hl_call.answer_borrowed: it may be an arena). */
    int (*search)(hl_location *l, const char *key, const fam_query *q, int prio, const char *queue,
                  hl_cb cb, void *ud, gs_err *e);
    /* The page's cursor when the answer carries it beside the records (a search paged by
     * meta.startAfter + startAfterId, not a per-record searchAfter): malloc'd JSON text that
     * comes back as fam_query.search_after, or NULL (the last record's cursor_key is used).
     * NULL hook = never. */
    char *(*page_cursor)(const cJSON *answer);
    /* The name of the search this location's server is served by, when the family chooses
     * between several (pull.c logs it once per object and location); NULL = not chosen yet.
     * NULL hook = one search only. */
    const char *(*search_mode)(hl_location *l);

    /* records: where the field values are; one of the two hooks, the other NULL.
     * field_values: one JSON object keyed by schema_field.prop_key (NULL *props = none), read
     * in place. field_slots: field i's value in slots[i] (NULL = absent; slots[] is NULL on
     * entry), for families that carry them as a list (fam_cf_slots). */
    int (*field_values)(const schema_object *o, const cJSON *record, const cJSON **props,
                        sbuf *warnings);
    int (*field_slots)(const schema_object *o, const cJSON *record, const cJSON **slots,
                       sbuf *warnings);
    /* An FAM_K_EXTRA column's value (JSON text made where `mo` says, mapping.h; NULL = none).
     * NULL hook = never. */
    int (*extra_value)(const schema_object *o, const cJSON *record, const map_out *mo, char **out);
    /* A 2xx write answer that says it did not succeed ({"succeded": false}; either spelling).
     * NULL hook = a 2xx is success. */
    bool (*answer_failed)(const cJSON *answer);
    /* The record inside a read or write answer ({"record": {...}} -> {...}); the answer itself
     * when it is not wrapped. */
    const cJSON *(*answer_record)(const cJSON *answer);
    /* Column values (mapping.h order) -> a create (changed == NULL) or update body (changed
     * columns only; old_values: their values before, may be NULL). A create with an external
     * id field writes `local_key` into it. An update body with no member: nothing to send. */
    int (*row_to_body)(const schema_object *o, const char *const *values,
                       const char *const *old_values, const bool *changed, const schema_field *ext,
                       const char *local_key, cJSON **body, gs_err *e);

    /* writes */
    int (*create)(hl_location *l, const char *key, const cJSON *body, int prio, hl_cb cb, void *ud,
                  gs_err *e);
    int (*get)(hl_location *l, const char *key, const char *id, int prio, hl_cb cb, void *ud,
               gs_err *e);
    int (*update)(hl_location *l, const char *key, const char *id, const cJSON *body, int prio,
                  hl_cb cb, void *ud, gs_err *e);
    int (*remove)(hl_location *l, const char *key, const char *id, int prio, hl_cb cb, void *ud,
                  gs_err *e);
    /* FAM_STD_SET_DIFF columns: add / remove elements (JSON array of strings). */
    int (*set_add)(hl_location *l, const char *key, const char *id, const fam_std *col,
                   const cJSON *items, int prio, hl_cb cb, void *ud, gs_err *e);
    int (*set_remove)(hl_location *l, const char *key, const char *id, const fam_std *col,
                      const cJSON *items, int prio, hl_cb cb, void *ud, gs_err *e);
    /* A rejected create that means "this record exists already" (a duplicate rule): its id
     * (borrowed from the answer), else NULL. NULL hook = never. */
    const char *(*existing_id)(const hl_result *r);

    /* unknown outcome of a create: can_lookup says whether a lookup is possible for this row
     * (an external id field, or a natural key the family knows); lookup searches, and
     * lookup_match picks the record of the answer (NULL = not created; *matches counts). */
    bool (*can_lookup)(const schema_object *o, const fam_lookup *k);
    int (*lookup)(hl_location *l, const schema_object *o, const fam_lookup *k, int prio, hl_cb cb,
                  void *ud, gs_err *e);
    const cJSON *(*lookup_match)(const schema_object *o, const cJSON *answer, const fam_lookup *k,
                                 int *matches);
    /* How long after a create its lookup can see it (a lookup through a lagging search index);
     * the change waits that long before it is looked up. NULL hook = at once. */
    int64_t (*lookup_lag_ms)(const schema_object *o, const fam_lookup *k);

    /* Read-only side tables kept beside the family's table (opportunities: pipelines and their
     * stages), fetched and stored when a pull starts and with each schema refresh, through the
     * engine's connection `db`. `done` runs once unless an error is returned. NULL = none. */
    const char *side_name;      /* for logs: "pipelines" */
    const char *side_counts[2]; /* names of done's counts a and b: "pipelines", "stages" */
    int (*side_refresh)(hl_location *l, pga_conn *db, const schema_object *o, fam_side_cb done,
                        void *ud, gs_err *e);
};

extern const fam_family fam_objects;
extern const fam_family fam_contacts;
extern const fam_family fam_opportunities;

/* hl_location_family_flags bits */
#define FAM_LOC_OPP_POST_OK 1u /* POST /opportunities/search answered */
#define FAM_LOC_OPP_GET     2u /* it was refused: GET /opportunities/search serves the pulls */

/* "updates may take a few seconds to appear in the search results" (highlevel-crm.md 1.1):
 * an order of magnitude more. */
#define FAM_CONTACTS_LAG_MS 30000

/* The family serving an object key; NULL when none does (the key is skipped with a log line). */
const fam_family *fam_for_key(const char *object_key);
/* The family of a model (the objects family for a model that does not say). */
const fam_family *fam_of(const schema_object *o);

/* Row layout: index of created_at (= 2 + n_std), of updated_at, and of the first field column.
 */
size_t fam_row_prefix(const fam_family *f);
/* Name of row column k < fam_row_prefix(f). */
const char *fam_row_column(const fam_family *f, size_t k);
/* PostgreSQL type of row column k < fam_row_prefix(f). */
const char *fam_row_type(const fam_family *f, size_t k);
/* The standard column of a row column, NULL when k is not one. */
const fam_std *fam_row_std(const fam_family *f, size_t k);

/* The record's first present key of the two (NULL entries skipped); JSON null = absent. */
const cJSON *fam_first_of(const cJSON *rec, const char *const keys[2]);
/* Member `key` of object `o`, searched from *hint (NULL: the first member; set to the member
 * after the one found) and wrapping round. Records list their keys in one order, so looking up
 * a record's columns in their own order costs one comparison each instead of a scan each. With
 * a key given twice the occurrence after the hint may be the one found (JSON leaves duplicate
 * keys undefined). */
const cJSON *fam_member(const cJSON *o, const char *key, const cJSON **hint);
/* cJSON_GetObjectItemCaseSensitive as fam_member without a hint (the first byte is compared
 * inline: most keys differ there); it runs for several keys of every record of a page. */
const cJSON *fam_get(const cJSON *o, const char *key);
/* fam_first_of, searched from *hint (fam_member). */
const cJSON *fam_first_of_from(const cJSON *rec, const char *const keys[2], const cJSON **hint);

/* Standard column value <-> JSON: encode makes the text where `mo` says (mapping.h) or NULL (*bad:
 * the value was present but not storable); decode makes the JSON the API takes (NULL column: JSON
 * null, or an empty array for FAM_K_IDS). 0 or GS_ENOMEM. */
int fam_std_encode(const fam_std *s, const cJSON *v, const map_out *mo, char **out, bool *bad);
int fam_std_decode(const fam_std *s, const char *v, cJSON **out, gs_err *e);

/* Escape a path segment (ids and keys come from the API and the user). */
void fam_path_segment(sbuf *b, const char *s);

/* ---- Custom fields as a list (family/cfields.c): the shape contacts and opportunities share.
 * Records carry custom fields as [{id (or key), value | fieldValue | fieldValueString |
 * field_value}]; writes take [{id, field_value}] with money as a bare number; answers wrap the
 * record ({"contact": {...}}) and may say {"succeded": false}. */

/* The value of one item, NULL when it has none of the value keys. */
const cJSON *fam_cf_value(const cJSON *item);
/* The item's field id, else its field key. */
const char *fam_cf_id(const cJSON *item);
/* The field whose id or field key is `id`; *hint (start at 0) carries the position from one
 * call to the next within a record. NULL when none. */
const schema_field *fam_cf_field(const schema_object *o, const char *id, size_t *hint);
/* family.h field_slots over the list `cf` (NULL: none): the first value of each field. */
int fam_cf_slots(const schema_object *o, const cJSON *cf, const cJSON **slots, sbuf *warnings);
/* family.h extra_value: the record's keys `held` says no column holds (asked in record order,
 * with a hint it may keep between the keys of one record: 0 at the first), and the items of `cf`
 * without a definition (all of `cf` when it is not a list). */
int fam_cf_extra(const schema_object *o, const cJSON *record, const cJSON *cf,
                 bool (*held)(const char *key, size_t *hint), const map_out *mo, char **out);
/* Append to `list` the custom fields of a create (changed == NULL: every non-NULL column, and
 * the external id) or of an update (the changed columns). 0, GS_ENOMEM or a decode error. */
int fam_cf_body(const fam_family *fam, const schema_object *o, const char *const *values,
                const bool *changed, const schema_field *ext, const char *local_key, cJSON *list,
                gs_err *e);
/* family.h answer_failed for {"succeded" | "succeeded": false}. */
bool fam_answer_failed(const cJSON *answer);
/* The record inside answer[wrapper] when the answer is only a wrapper, else the answer. */
const cJSON *fam_answer_inner(const cJSON *answer, const char *wrapper);
/* hl_send of METHOD collection{id}suffix (id escaped; collection ends with '/'). */
int fam_send_id(hl_location *l, const char *collection, const char *queue, const char *method,
                const char *endpoint, const char *id, const char *suffix, const cJSON *body,
                int prio, hl_cb cb, void *ud, gs_err *e);

#endif
