/*
 * salvage.h - reading an API answer that would otherwise be lost whole because of one record.
 *
 * A search page is one JSON document: a single bad byte, a lone surrogate or one record nested
 * deeper than cJSON's limit (1000 levels) used to make the whole page unreadable or unstorable,
 * and with it every later page of the object. Two tools, both pure functions on bytes:
 *
 * 1. sv_repair: the rules for text that PostgreSQL's UTF8 text cannot hold or that is not
 *    Unicode at all, applied to the raw body before it is parsed (documented in the README):
 *      - a byte sequence that is not valid UTF-8 (stray continuation bytes, 0xC0/0xC1/0xF5..0xFF,
 *        overlong forms, encoded surrogates, truncated sequences) becomes U+FFFD, one per
 *        maximal invalid subpart (the W3C/Unicode "substitution of maximal subparts" practice);
 *      - inside strings, an escaped lone surrogate (\uD800-\uDBFF not followed by an escaped low
 *        surrogate, or a \uDC00-\uDFFF on its own) becomes \uFFFD;
 *      - inside strings, \u0000 becomes \uFFFD: a NUL cannot be stored in text, and cutting the
 *        string there (what a C string does) would lose the rest silently.
 *    Each repair is counted by kind so the caller can warn; valid input is returned unchanged
 *    (no copy is made: *out is NULL).
 *
 * 2. sv_split: when a page still does not parse, find the array under a top-level key (the
 *    response envelope, e.g. "records" or "contacts") and cut it into its elements without
 *    parsing them, so that each record is parsed on its own: the good ones are stored, the bad
 *    one is quarantined with its raw bytes. The scanner understands strings and escapes and
 *    counts nesting with a size_t, so depth costs nothing. It fails (GS_EPARSE) on a document
 *    that is truncated or not an object with that key: then the page is not salvageable and is
 *    retried like any transient failure.
 *    sv_member finds a top-level member of one element (an object) by key and returns its raw
 *    value span: the id and the cursor of a record that cannot be parsed as a whole.
 *
 * Memory: sv_repair's *out is malloc'd (caller frees); spans point into the caller's buffer.
 */
#ifndef GHLSYNC_SALVAGE_H
#define GHLSYNC_SALVAGE_H

#include "err.h"

#include <stddef.h>

typedef struct sv_stats {
    size_t bad_utf8;   /* invalid UTF-8 subparts replaced */
    size_t surrogates; /* lone escaped surrogates replaced */
    size_t nuls;       /* \u0000 escapes replaced */
} sv_stats;

/* 0 with *out = NULL when nothing needed repair (stats all zero), 0 with *out and *out_len the
 * repaired copy (NUL-terminated), or GS_ENOMEM. */
int sv_repair(const char *in, size_t len, char **out, size_t *out_len, sv_stats *st);

typedef struct sv_span {
    size_t off, len; /* into the scanned buffer */
} sv_span;

/* The elements of the array that is the value of top-level key `key` in the JSON object
 * `doc[0..len)`. *items is malloc'd (free it); *n may be 0 for an empty array. */
int sv_split(const char *doc, size_t len, const char *key, sv_span **items, size_t *n, gs_err *e);

/* The raw value of top-level member `key` of the object `obj[0..len)` (strings include their
 * quotes). GS_ENOTFOUND when absent, GS_EPARSE when `obj` is not a well-formed object shape. */
int sv_member(const char *obj, size_t len, const char *key, sv_span *out);

/* Deepest nesting of arrays and objects in d[0..len) (strings skipped). */
size_t sv_depth(const char *d, size_t len);

/* For an answer cut after its first bytes (http.h too_large): the value of member `key` of the
 * FIRST element of the array under top-level `envelope`, if it lies wholly in the head.
 * GS_ENOTFOUND otherwise. */
int sv_head_member(const char *head, size_t len, const char *envelope, const char *key,
                   sv_span *out);
/* For the last bytes of such an answer: the value of the LAST `"key":` in the tail that is
 * followed by a complete value. A textual search, so it relies on the record's own member
 * coming after any nested one of the same name (true of searchAfter in every answer shape seen:
 * it closes each record); GS_ENOTFOUND when there is none. */
int sv_tail_member(const char *tail, size_t len, const char *key, sv_span *out);

#endif
