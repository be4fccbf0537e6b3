/*
 * toml.h - a strict TOML 1.0 parser (our own: Debian ships none for C).
 *
 * toml_parse() builds a tree of toml_value nodes owned by the caller (free with toml_free).
 * Every node remembers the line and column where it was defined, so that configuration errors
 * can say "sync.toml:12:5: ..." about any key. Errors from the parser itself have the form
 * "FILE:LINE:COL: message" in err->msg, with code GS_EPARSE.
 */
#ifndef GHLSYNC_TOML_H
#define GHLSYNC_TOML_H

#include "err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum toml_type {
    TOML_STRING,
    TOML_INTEGER,
    TOML_FLOAT,
    TOML_BOOL,
    TOML_DATETIME,       /* offset date-time: 1979-05-27T07:32:00Z */
    TOML_DATETIME_LOCAL, /* 1979-05-27T07:32:00 */
    TOML_DATE_LOCAL,     /* 1979-05-27 */
    TOML_TIME_LOCAL,     /* 07:32:00 */
    TOML_ARRAY,
    TOML_TABLE,
} toml_type;

typedef struct toml_value toml_value;

struct toml_value {
    toml_type type;
    int line; /* 1-based line and column of the key that defined this value (of the value */
    int col;  /* itself for array items; 1:1 for the root table) */
    union {
        /* TOML_STRING: the decoded UTF-8 string (may contain NUL: use slen).
         * Date/time types: the value as written, normalised to RFC 3339 form
         * ('T' separator upper case, 'Z' upper case), e.g. "1979-05-27T07:32:00.999-07:00". */
        struct {
            char *s;
            size_t slen;
        } str;
        int64_t i;
        double f;
        bool b;
        struct {
            toml_value **items;
            size_t n;
        } arr;
        struct {
            char **keys; /* decoded keys, insertion order */
            toml_value **vals;
            size_t n;
        } tab;
    } u;
};

/* Parse `len` bytes of `src`. `filename` is used only in error messages. On success *out is the
 * root table. On failure returns GS_EPARSE (or GS_ENOMEM) and *out is NULL. Never crashes on any
 * input, however malformed. */
int toml_parse(const char *src, size_t len, const char *filename, toml_value **out, gs_err *err);

/* Read a whole file and parse it. Missing file -> GS_EIO with "cannot read FILE: reason". */
int toml_parse_file(const char *path, toml_value **out, gs_err *err);

void toml_free(toml_value *v);

/* Lookup of a direct child key in a table; NULL when absent or when `table` is not a table. */
const toml_value *toml_get(const toml_value *table, const char *key);

/* "string", "integer", "float", "boolean", "datetime", "datetime-local", "date-local",
 * "time-local", "array", "table". */
const char *toml_type_name(toml_type t);

/* Additions (toml-test decoder, keys containing NUL):
 * toml_get_len: like toml_get for a key of `klen` bytes (keys may contain NUL via "\u0000").
 * toml_key_at: key i of a table (insertion order) and its byte length; NULL when out of range.
 * toml_to_json: append the toml-test tagged-JSON form of v to out; 0 or GS_ENOMEM.
 * Columns in positions and messages count Unicode code points, 1-based. Tables created by a
 * [header] or a dotted key carry the position of that key part; [[a]] elements the position of
 * `a` in their own header. Nesting deeper than 256 tables/arrays is rejected with an error. */
struct sbuf;
const toml_value *toml_get_len(const toml_value *table, const char *key, size_t klen);
const char *toml_key_at(const toml_value *table, size_t i, size_t *len);
int toml_to_json(const toml_value *v, struct sbuf *out);

#endif
