/* quarantine.c - see quarantine.h. */
#include "quarantine.h"

#include "salvage.h"
#include "sbuf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* cJSON refuses deeper documents (CJSON_NESTING_LIMIT in its build, 1000 in Debian's). */
#define PARSER_DEPTH 1000

const char qr_sql_upsert[] =
    "INSERT INTO ghlsync.quarantine AS q (location_id, object_key, record_id, cursor, reason, raw, "
    "raw_bytes, raw_truncated) VALUES ($1, $2, $3, $4::jsonb, $5, $6::bytea, $7::bigint, "
    "$8::boolean) "
    "ON CONFLICT (location_id, object_key, record_id) WHERE record_id IS NOT NULL DO UPDATE SET "
    "cursor = excluded.cursor, reason = excluded.reason, raw = excluded.raw, "
    "raw_bytes = excluded.raw_bytes, raw_truncated = excluded.raw_truncated, "
    "last_seen_at = now(), times_seen = q.times_seen + 1, resolved_at = NULL";

const char qr_sql_resolve[] =
    "UPDATE ghlsync.quarantine SET resolved_at = now() WHERE location_id = $1 AND object_key = $2 "
    "AND record_id = ANY($3::text[]) AND resolved_at IS NULL";

const char qr_sql_open[] = "SELECT count(*) FROM ghlsync.quarantine WHERE location_id = $1 AND "
                           "object_key = $2 AND resolved_at IS NULL";

static char *hex_of(const char *a, size_t alen, const char *b, size_t blen)
{
    static const char digits[] = "0123456789abcdef";
    char *h = malloc(2 + 2 * (alen + blen) + 1);
    if (!h)
        return NULL;
    h[0] = '\\';
    h[1] = 'x';
    size_t o = 2;
    for (size_t i = 0; i < alen; i++) {
        h[o++] = digits[(unsigned char)a[i] >> 4];
        h[o++] = digits[(unsigned char)a[i] & 15];
    }
    for (size_t i = 0; i < blen; i++) {
        h[o++] = digits[(unsigned char)b[i] >> 4];
        h[o++] = digits[(unsigned char)b[i] & 15];
    }
    h[o] = '\0';
    return h;
}

/* A shallow JSON value (an id string, a cursor array) read on its own. */
static char *value_text(const char *p, size_t len, bool want_string)
{
    cJSON *v = cJSON_ParseWithLength(p, len);
    char *out = NULL;
    if (want_string && cJSON_IsString(v))
        out = strdup(v->valuestring);
    else if (!want_string && v)
        out = cJSON_PrintUnformatted(v);
    cJSON_Delete(v);
    return out;
}

static void item_free(qr_item *it)
{
    free(it->record_id);
    free(it->cursor);
    free(it->reason);
    free(it->raw_hex);
}

void qr_salvage_free(qr_salvage *s)
{
    cJSON_Delete(s->response);
    for (size_t i = 0; i < s->n_bad; i++)
        item_free(&s->bad[i]);
    free(s->bad);
    free(s->cursor);
    memset(s, 0, sizeof *s);
}

/* One element on its own: repaired like any answer (hlapi.c), then parsed. */
static cJSON *parse_element(const char *p, size_t len)
{
    char *fixed;
    size_t flen;
    sv_stats st;
    if (sv_repair(p, len, &fixed, &flen, &st) != 0)
        return NULL;
    cJSON *j = fixed ? cJSON_ParseWithLength(fixed, flen) : cJSON_ParseWithLength(p, len);
    free(fixed);
    return j;
}

int qr_salvage_page(const char *raw, size_t len, const char *envelope, qr_salvage *out,
                    gs_err *e)
{
    memset(out, 0, sizeof *out);
    /* split the bytes as served (the scanner does not care about encodings), so that a
     * quarantined record keeps them verbatim */
    sv_span *it = NULL;
    size_t n = 0;
    int rc = sv_split(raw, len, envelope, &it, &n, e);
    if (rc)
        return rc;
    out->response = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(out->response, envelope);
    out->bad = calloc(n ? n : 1, sizeof *out->bad);
    if (!out->response || !arr || !out->bad) {
        rc = gs_err_set(e, GS_ENOMEM, "out of memory");
        goto done;
    }
    sv_span tot;
    if (sv_member(raw, len, "total", &tot) == 0) {
        cJSON *t = cJSON_ParseWithLength(raw + tot.off, tot.len);
        if (t)
            cJSON_AddItemToObject(out->response, "total", t);
    }
    for (size_t i = 0; i < n; i++) {
        const char *p = raw + it[i].off;
        size_t pl = it[i].len;
        cJSON *rec = parse_element(p, pl);
        sv_span cs;
        bool last = i + 1 == n;
        if (rec) {
            cJSON_AddItemToArray(arr, rec);
            out->n_good++;
            if (last) {
                const cJSON *sa = cJSON_GetObjectItemCaseSensitive(rec, "searchAfter");
                out->cursor = sa ? cJSON_PrintUnformatted(sa) : NULL;
            }
            continue;
        }
        qr_item *q = &out->bad[out->n_bad++];
        sv_span id;
        if (sv_member(p, pl, "id", &id) == 0)
            q->record_id = value_text(p + id.off, id.len, true);
        if (sv_member(p, pl, "searchAfter", &cs) == 0)
            q->cursor = value_text(p + cs.off, cs.len, false);
        size_t depth = sv_depth(p, pl);
        char why[200];
        if (depth > PARSER_DEPTH)
            snprintf(why, sizeof why,
                     "the record is nested %zu levels deep; the JSON parser's limit is %d", depth,
                     PARSER_DEPTH);
        else
            snprintf(why, sizeof why, "the record is not well-formed JSON");
        q->reason = strdup(why);
        q->truncated = pl > QR_RAW_KEEP;
        q->raw_hex = hex_of(p, q->truncated ? QR_RAW_KEEP : pl, NULL, 0);
        snprintf(q->raw_bytes, sizeof q->raw_bytes, "%zu", pl);
        if (!q->reason || !q->raw_hex) {
            rc = gs_err_set(e, GS_ENOMEM, "out of memory");
            goto done;
        }
        if (last && q->cursor)
            out->cursor = strdup(q->cursor);
    }
done:
    free(it);
    if (rc)
        qr_salvage_free(out);
    return rc;
}

int qr_salvage_oversized(const hl_result *r, const char *envelope, qr_salvage *out, gs_err *e)
{
    memset(out, 0, sizeof *out);
    if (!r->too_large || !r->raw)
        return gs_err_set(e, GS_EINVAL, "not an oversized answer");
    sv_span id, cs;
    char *rid = NULL, *cur = NULL;
    if (sv_head_member(r->raw, r->raw_len, envelope, "id", &id) == 0)
        rid = value_text(r->raw + id.off, id.len, true);
    if (r->tail && sv_tail_member(r->tail, r->tail_len, "searchAfter", &cs) == 0)
        cur = value_text(r->tail + cs.off, cs.len, false);
    if (!cur) {
        free(rid);
        return gs_err_set(e, GS_EPARSE,
                          "a single record%s%s is larger than [api] max_response_bytes (%zu bytes "
                          "or more) and its cursor cannot be read, so it cannot be skipped; raise "
                          "max_response_bytes",
                          rid ? " " : "", rid ? rid : "", r->seen_len);
    }
    out->response = cJSON_CreateObject();
    out->bad = calloc(1, sizeof *out->bad);
    if (!out->response || !cJSON_AddArrayToObject(out->response, envelope) || !out->bad) {
        free(rid);
        free(cur);
        qr_salvage_free(out);
        return gs_err_set(e, GS_ENOMEM, "out of memory");
    }
    qr_item *q = &out->bad[0];
    out->n_bad = 1;
    q->record_id = rid;
    q->cursor = cur;
    out->cursor = strdup(cur);
    char why[200];
    snprintf(why, sizeof why,
             "the record alone is larger than [api] max_response_bytes (%zu bytes served); "
             "raw holds its first and last bytes",
             r->seen_len);
    q->reason = strdup(why);
    q->truncated = true;
    q->raw_hex = hex_of(r->raw, r->raw_len, r->tail ? r->tail : "", r->tail ? r->tail_len : 0);
    snprintf(q->raw_bytes, sizeof q->raw_bytes, "%zu", r->seen_len);
    if (!q->reason || !q->raw_hex || !out->cursor) {
        qr_salvage_free(out);
        return gs_err_set(e, GS_ENOMEM, "out of memory");
    }
    return 0;
}
