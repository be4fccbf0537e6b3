/*
 * mapping.h - the type map (HighLevel dataType -> PostgreSQL column type + codec) and the value
 * codecs between the API's JSON and PostgreSQL's text format.
 *
 * The type map is data (mappings/types.toml, see map_types_load in mapping_toml.c); a per-field
 * override names another entry of the map. An unknown dataType uses the map's fallback (jsonb,
 * lossless) and is reported as a warning, never an error.
 *
 * Codecs are tolerant on input (every variant in shared/reference/decisions.md) and exact on
 * output (what the API documents). Column values are PostgreSQL text-format strings (as sent
 * with PQexecParams or COPY, and as returned by PQgetvalue with DateStyle=ISO), NULL for SQL NULL.
 *
 * Record level: map_record_to_row turns a record (search or CRUD shape) into the ordered values of
 * the table's columns; map_row_to_properties turns column values back into a "properties" object
 * for a create/update body. Both need a model resolved by ddl_plan (field->type, field->column).
 *
 * Memory: map_types and map_row own their contents; returned strings and cJSON trees belong to
 * the caller. Warnings are appended to a caller-owned sbuf, one "what: why" line each.
 */
#ifndef GHLSYNC_MAPPING_H
#define GHLSYNC_MAPPING_H

#include "arena.h"
#include "err.h"
#include "sbuf.h"
#include "schema.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

typedef enum map_codec {
    MAP_TEXT,
    MAP_NUMERIC,
    MAP_MONEY,
    MAP_OPTION,
    MAP_OPTIONS,
    MAP_DATE,
    MAP_TEXTBOX_LIST,
    MAP_FILES,
    MAP_JSON,
} map_codec;

typedef struct map_type {
    char *name;            /* dataType (or override target such as "JSON") */
    char *column;          /* PostgreSQL type, e.g. "numeric", "text[]" */
    char *currency_column; /* MAP_MONEY: type of <column>_currency; else NULL */
    map_codec codec;
} map_type;

typedef struct map_types {
    map_type *types;
    size_t n;
    map_type fallback; /* name "" */
} map_types;

const char *map_codec_name(map_codec c);
int map_codec_parse(const char *name, map_codec *out); /* 0 or GS_EINVAL */
/* A column type from the map is pasted into DDL: only [a-z0-9_ (),[]] allowed. */
bool map_pg_type_valid(const char *t);

/* The defaults of mappings/types.toml, built in (tests; and a tool run without data files). */
int map_types_builtin(map_types **out, gs_err *err);
/* Add or replace one entry (used by the loaders). */
int map_types_set(map_types *m, const char *name, const char *column, map_codec codec,
                  const char *currency_column, gs_err *err);
/* Entry by name, NULL when absent. */
const map_type *map_types_get(const map_types *m, const char *name);
void map_types_free(map_types *m);

/* Loaders (mapping_toml.c): the TOML file, and where to find it: $GHLSYNC_DATADIR/mappings/
 * types.toml, then ./mappings/types.toml. */
int map_types_load(const char *path, map_types **out, gs_err *err);
int map_types_find_file(char *out, size_t len, gs_err *err);

/* s[0..n) is a decimal number ([+-]digits[.digits][e[+-]digits], already checked) that
 * numeric can hold: 131,072 digits before the point, a scale of at most 16,383. Past that
 * PostgreSQL refuses the whole write ("value overflows numeric format"), so such a value is
 * stored as NULL with a warning. */
bool map_numeric_fits(const char *s, size_t n);

/* --- Where encoded values go: malloc'd strings, each freed by its owner (a NULL map_out, or
 * arena NULL), or a page's arena, all freed together (pullstore.c); `scratch` is where a value
 * is built before it is copied there (its memory is reused from value to value). */
typedef struct map_out {
    ar_arena *arena;
    sbuf *scratch;
} map_out;

char *map_out_dup(const map_out *mo, const char *s, size_t n);
char *map_out_str(const map_out *mo, const char *s);
/* A malloc'd text (may be NULL) as a value: itself, or moved into the arena. */
char *map_out_take(const map_out *mo, char *m);
/* A buffer to build a value in (the scratch, emptied, or `local`), and the value it holds:
 * NULL when !ok (nothing to keep, or a failure the caller saw) or out of memory. `local` is
 * consumed either way. */
sbuf *map_out_begin(const map_out *mo, sbuf *local);
char *map_out_end(const map_out *mo, sbuf *b, bool ok);

/* --- PostgreSQL text[] literals, correct for any string (quotes, backslashes, commas, braces,
 * "NULL", empty strings, unicode). n strings, NULL entries are SQL NULL elements. */
void map_array_encode(sbuf *b, const char *const *items, size_t n);
/* Parse a one-dimensional array literal into a JSON array of strings (NULL -> JSON null). */
int map_array_decode(const char *lit, cJSON **out, gs_err *err);

/* Shortest decimal text that reads back to the same double ("100", "12.5", "1e+20"). */
void map_number_text(double d, char *buf, size_t len);

/* --- One field. `props` is the record's whole properties object (TEXTBOX_LIST in flat form
 * spreads over several keys). On return *v1 (and *v2 for money) are malloc'd text values or NULL.
 * A value the codec cannot store becomes NULL plus a warning line; only ENOMEM is an error. */
int map_encode_field(const schema_field *f, const cJSON *props, char **v1, char **v2,
                     sbuf *warnings);
/* Column text(s) -> JSON value (JSON null when all NULL). */
int map_decode_field(const schema_field *f, const char *v1, const char *v2, cJSON **out,
                     gs_err *err);

/* --- Records. A row is: id, location_id, the family's standard columns, created_at,
 * updated_at (family.h fam_row_column), then the fields. For the Objects family that prefix is: */
#define MAP_SYS_COLUMNS 6 /* id, location_id, owner, followers, created_at, updated_at */

typedef struct map_row {
    size_t n;
    const char **columns; /* names, borrowed from the model / the family's tables */
    char **values;        /* owned; NULL = SQL NULL */
} map_row;

/* Column names of the table's mapped columns, in row order (system, then each field's column and,
 * for money, its currency column). Fills row->n and row->columns; values all NULL. */
int map_row_init(const schema_object *o, map_row *row, gs_err *err);
void map_row_free(map_row *row);
/* Index in the row of field i's value column (and of its currency column via *cur, else -1). */
size_t map_field_column_index(const schema_object *o, size_t field_index, long *cur);

/*
 * Record JSON (a search record, a CRUD record, or an answer wrapping one: {"record": {...}})
 * -> row values, in the shape of the model's family (family.h: its record keys, standard
 * columns and where the field values are). Tolerates either name of the created/updated keys,
 * owner as string[] or a bare string. `location_id` is used when the record has no locationId.
 * Initialises *row.
 */
int map_record_to_row(const schema_object *o, const cJSON *record, const char *location_id,
                      map_row *row, sbuf *warnings, gs_err *err);
/* The same values straight into values[0, map_row_width(o)) (set to NULL first), made where
 * `mo` says (with an arena: nothing to free one by one; on failure some may stay there). */
int map_record_values(const schema_object *o, const cJSON *record, const char *location_id,
                      const map_out *mo, char **values, sbuf *warnings, gs_err *err);
/* The number of values of a row of o (map_row_init's n). */
size_t map_row_width(const schema_object *o);

/*
 * Column values (indexed like map_row_init's columns) -> "properties" object. Only fields with a
 * changed column are included (`changed` NULL = all). for_create: leave out fields whose value is
 * NULL (an update sends null to clear). TEXTBOX_LIST is sent in the documented flat form
 * ("<key>.<option>": value); clearing it (or dropping an option) sends null per option, using the
 * model's options and `old_values` (may be NULL) to know which options to clear.
 */
int map_row_to_properties(const schema_object *o, const char *const *values,
                          const char *const *old_values, const bool *changed, bool for_create,
                          cJSON **props, gs_err *err);

#endif
