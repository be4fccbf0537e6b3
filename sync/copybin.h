/*
 * copybin.h - rows in PostgreSQL's binary COPY format, from the text values the mapping makes.
 *
 * A first backfill writes with COPY (pullstore.h). In text format PostgreSQL splits every line
 * into fields and runs each column's input function (timestamptz_in, array_in, numeric_in, ...):
 * measured with perf on psql's own COPY of contacts, that is about a third of the server's work.
 * In binary format it reads lengths and fixed-width values instead. jsonb is text inside either
 * way.
 *
 * Only the types below are encoded, and only from the exact forms ghlsync's encoders produce:
 * anything else (a timestamp without a zone, which PostgreSQL would read in the session's time
 * zone; a date PostgreSQL would refuse; an array literal of another shape) is refused, and the
 * caller writes that page another way. So binary COPY never stores a value that text COPY of
 * the same text would store differently (tests/integration/test_copybin.c loads both and
 * compares).
 */
#ifndef GHLSYNC_COPYBIN_H
#define GHLSYNC_COPYBIN_H

#include "sbuf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum cb_kind {
    CB_NONE = 0, /* not encoded: the table is written in text format */
    CB_TEXT,
    CB_JSONB,
    CB_BOOL,
    CB_INT4,
    CB_INT8,
    CB_NUMERIC,
    CB_DATE,
    CB_TSTZ,
    CB_TEXT_ARRAY
} cb_kind;

/* The kind for a column type as format_type() prints it ("timestamp with time zone", "text[]");
 * CB_NONE for every other type, typmods included ("numeric(12,2)"). */
cb_kind cb_kind_of(const char *format_type);

/* The header: signature, flags, no extension (CB_HEADER_LEN bytes). */
#define CB_HEADER_LEN 19
void cb_header(sbuf *b);
/* The trailer (CB_TRAILER_LEN bytes). */
#define CB_TRAILER_LEN 2
void cb_trailer(sbuf *b);
/* The start of a tuple of n fields. */
void cb_tuple(sbuf *b, int n);

/* One field from its text (NULL: SQL NULL). False when the text is not in a form this encoder
 * reads exactly; b then holds part of the field (the caller drops what it built). */
bool cb_field(sbuf *b, cb_kind k, const char *text);
void cb_field_int8(sbuf *b, int64_t v);
/* A timestamptz from epoch milliseconds. */
void cb_field_tstz_ms(sbuf *b, int64_t ms);

#endif
