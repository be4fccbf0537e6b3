/*
 * quarantine.h - a search page with records the engine cannot store becomes a page without
 * them, plus rows for ghlsync.quarantine (migrations/006_quarantine.sql), so that one record
 * never stops its object.
 *
 * Two ways a page fails because of one record (salvage.h has the scanning):
 *  - its body does not parse (a record nested deeper than the parser's limit, a stray byte
 *    that breaks the syntax): qr_salvage_page repairs the text, cuts the envelope array into
 *    elements, parses each alone; the readable ones make the page, the others are quarantined
 *    with their bytes, their id and their cursor (searchAfter) where those can be read;
 *  - it is larger than [api] max_response_bytes even with one record per page:
 *    qr_salvage_oversized reads the record's id from the head and its cursor from the tail
 *    (http.h keeps both ends), and quarantines it with those ends as its bytes.
 * The page's cursor is that of its LAST element, readable or not, so paging goes on past the
 * quarantined record; the quarantine rows are written in the page's own transaction, so the
 * saved resume point never passes a record that is neither stored nor quarantined.
 *
 * Memory: a qr_salvage owns everything it points to (qr_salvage_free).
 */
#ifndef GHLSYNC_QUARANTINE_H
#define GHLSYNC_QUARANTINE_H

#include "err.h"
#include "hlapi.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

/* Bytes of a quarantined record kept in ghlsync.quarantine.raw (raw_truncated beyond). */
#define QR_RAW_KEEP (1024u * 1024u)

typedef struct qr_item {
    char *record_id; /* NULL when unreadable */
    char *cursor;    /* JSON text of its searchAfter, NULL when unreadable */
    char *reason;
    char *raw_hex; /* bytea input: "\x" + hex of at most QR_RAW_KEEP bytes */
    char raw_bytes[24];
    bool truncated;
} qr_item;

typedef struct qr_salvage {
    cJSON *response; /* {"<envelope>": [readable records], "total": ...} */
    size_t n_good;
    qr_item *bad;
    size_t n_bad;
    char *cursor; /* JSON text: searchAfter of the last element; NULL when unknown */
} qr_salvage;

/* 0 with *out filled; GS_EPARSE when the body is not salvageable (cut off, not the expected
 * envelope): then the failure was not one record's and the page is retried as usual. */
int qr_salvage_page(const char *raw, size_t len, const char *envelope, qr_salvage *out,
                    gs_err *e);
/* From an hl_result with too_large set (a page of one record). GS_EPARSE when neither the id
 * nor the cursor can be read: then the record cannot be passed and the object stops with a
 * message that says to raise max_response_bytes. */
int qr_salvage_oversized(const hl_result *r, const char *envelope, qr_salvage *out, gs_err *e);
void qr_salvage_free(qr_salvage *s);

/* $1 location, $2 object key, $3 record id (NULL), $4 cursor jsonb (NULL), $5 reason,
 * $6 raw bytea, $7 raw_bytes, $8 truncated. A record seen again updates its row and reopens it. */
extern const char qr_sql_upsert[];
/* $1 location, $2 object key, $3 text[] of record ids now stored: their rows are resolved. */
extern const char qr_sql_resolve[];
/* $1 location, $2 object key: open rows (one row, one count). */
extern const char qr_sql_open[];

#endif
