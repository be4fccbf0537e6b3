/* salvage.c - see salvage.h. */
#include "salvage.h"

#include "sbuf.h"
#include "uesc.h"

#include <stdbool.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

static const char REPL[] = "\xEF\xBF\xBD"; /* U+FFFD in UTF-8 */

/* Length of the valid UTF-8 sequence at p (1..4), or 0 with *bad = length of the maximal
 * invalid subpart (>= 1) to replace by one U+FFFD. */
static size_t utf8_seq(const unsigned char *p, size_t left, size_t *bad)
{
    unsigned char c = p[0];
    size_t need;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        need = 1;
    else if (c >= 0xE0 && c <= 0xEF) {
        need = 2;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F; /* no encoded surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 3;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else {
        *bad = 1;
        return 0;
    }
    size_t i = 1;
    for (; i <= need; i++) {
        if (i >= left || p[i] < lo || p[i] > hi) {
            *bad = i;
            return 0;
        }
        lo = 0x80;
        hi = 0xBF;
    }
    return need + 1;
}

/* The code unit of "\uXXXX" at p (p[0] == '\\'), or -1 when it is not one. */
static long u_escape(const char *p, size_t left)
{
    if (left < 6 || p[0] != '\\' || p[1] != 'u')
        return -1;
    long v = 0;
    for (int i = 2; i < 6; i++) {
        int h = ue_hexval(p[i]);
        if (h < 0)
            return -1;
        v = v * 16 + h;
    }
    return v;
}

/* One pass; with `out` NULL it only counts. */
static void repair_pass(const char *in, size_t len, sbuf *out, sv_stats *st)
{
    const unsigned char *u = (const unsigned char *)in;
    size_t i = 0, copied = 0; /* in[copied..i) is pending verbatim output */
#define FLUSH()                                                                                    \
    do {                                                                                           \
        if (out && i > copied)                                                                     \
            sbuf_append(out, in + copied, i - copied);                                             \
    } while (0)
    while (i < len) {
        /* Eight plain bytes at a time (every page passes here): only bytes >= 0x80 and '\\'
         * change anything below. A backslash only occurs inside a string in JSON, so strings
         * need not be tracked (a stray one outside a string, in a document that is not JSON
         * anyway, is read as an escape too). */
        while (i + 8 <= len) {
            const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
            uint64_t w, b;
            memcpy(&w, u + i, 8);
            b = w ^ (ones * '\\');
            if ((w | ((b - ones) & ~b)) & highs)
                break;
            i += 8;
        }
        if (i >= len)
            break;
        unsigned char c = u[i];
        if (c >= 0x80) {
            size_t bad = 0, n = utf8_seq(u + i, len - i, &bad);
            if (n) {
                i += n;
                continue;
            }
            FLUSH();
            if (out)
                sbuf_append(out, REPL, 3);
            st->bad_utf8++;
            i += bad;
            copied = i;
            continue;
        }
        if (c != '\\') {
            i++;
            continue;
        }
        long cu = u_escape(in + i, len - i);
        if (cu < 0) {
            i += (i + 1 < len) ? 2 : 1; /* any other escape: two bytes */
            continue;
        }
        if (cu >= 0xD800 && cu <= 0xDBFF) {
            long lo = u_escape(in + i + 6, len - i - 6);
            if (lo >= 0xDC00 && lo <= 0xDFFF) {
                i += 12;
                continue;
            }
        }
        if (cu == 0 || (cu >= 0xD800 && cu <= 0xDFFF)) {
            FLUSH();
            if (out)
                sbuf_append(out, "\\uFFFD", 6);
            if (cu == 0)
                st->nuls++;
            else
                st->surrogates++;
            i += 6;
            copied = i;
            continue;
        }
        i += 6;
    }
    FLUSH();
#undef FLUSH
}

int sv_repair(const char *in, size_t len, char **out, size_t *out_len, sv_stats *st)
{
    memset(st, 0, sizeof *st);
    *out = NULL;
    *out_len = 0;
    repair_pass(in, len, NULL, st);
    if (!st->bad_utf8 && !st->surrogates && !st->nuls)
        return 0;
    sv_stats again = {0};
    sbuf b = SBUF_INIT;
    repair_pass(in, len, &b, &again);
    if (sbuf_failed(&b)) {
        sbuf_free(&b);
        return GS_ENOMEM;
    }
    *out_len = b.len;
    *out = b.data ? sbuf_steal(&b) : strdup("");
    return *out ? 0 : GS_ENOMEM;
}

/* ---- scanning without parsing ---- */

static size_t skip_ws(const char *d, size_t i, size_t len)
{
    while (i < len && (d[i] == ' ' || d[i] == '\t' || d[i] == '\n' || d[i] == '\r'))
        i++;
    return i;
}

/* i at the opening quote; returns the index after the closing quote, or 0 if unterminated. */
static size_t skip_string(const char *d, size_t i, size_t len)
{
    for (i++; i < len; i++) {
        if (d[i] == '\\')
            i++;
        else if (d[i] == '"')
            return i + 1;
    }
    return 0;
}

/* i at the first byte of a value; returns the index after it, or 0 when the document ends
 * first (truncated) or the value is empty. Nesting is counted, not recursed. */
static size_t skip_value(const char *d, size_t i, size_t len)
{
    if (i >= len)
        return 0;
    if (d[i] == '"')
        return skip_string(d, i, len);
    if (d[i] == '{' || d[i] == '[') {
        size_t depth = 0;
        while (i < len) {
            char c = d[i];
            if (c == '"') {
                size_t j = skip_string(d, i, len);
                if (!j)
                    return 0;
                i = j;
                continue;
            }
            if (c == '{' || c == '[')
                depth++;
            else if (c == '}' || c == ']') {
                if (--depth == 0)
                    return i + 1;
            }
            i++;
        }
        return 0;
    }
    size_t s = i;
    while (i < len && d[i] != ',' && d[i] != '}' && d[i] != ']' && d[i] != ' ' && d[i] != '\n' &&
           d[i] != '\r' && d[i] != '\t')
        i++;
    return i > s ? i : 0;
}

static bool key_is(const char *d, size_t ks, size_t ke, const char *key)
{
    /* ks at the opening quote, ke after the closing one: compare the raw bytes between */
    size_t n = strlen(key);
    return ke - ks - 2 == n && memcmp(d + ks + 1, key, n) == 0;
}

/* The value span of member `key` of the object that starts the buffer; returns 0,
 * GS_ENOTFOUND or GS_EPARSE. */
static int find_member(const char *d, size_t len, const char *key, sv_span *out)
{
    size_t i = skip_ws(d, 0, len);
    if (i >= len || d[i] != '{')
        return GS_EPARSE;
    i = skip_ws(d, i + 1, len);
    if (i < len && d[i] == '}')
        return GS_ENOTFOUND;
    while (i < len) {
        if (d[i] != '"')
            return GS_EPARSE;
        size_t ke = skip_string(d, i, len);
        if (!ke)
            return GS_EPARSE;
        bool hit = key_is(d, i, ke, key);
        i = skip_ws(d, ke, len);
        if (i >= len || d[i] != ':')
            return GS_EPARSE;
        i = skip_ws(d, i + 1, len);
        size_t ve = skip_value(d, i, len);
        if (!ve)
            return GS_EPARSE;
        if (hit) {
            out->off = i;
            out->len = ve - i;
            return 0;
        }
        i = skip_ws(d, ve, len);
        if (i < len && d[i] == ',') {
            i = skip_ws(d, i + 1, len);
            continue;
        }
        if (i < len && d[i] == '}')
            return GS_ENOTFOUND;
        return GS_EPARSE;
    }
    return GS_EPARSE;
}

int sv_member(const char *obj, size_t len, const char *key, sv_span *out)
{
    return find_member(obj, len, key, out);
}

int sv_split(const char *doc, size_t len, const char *key, sv_span **items, size_t *n, gs_err *e)
{
    *items = NULL;
    *n = 0;
    sv_span arr;
    int rc = find_member(doc, len, key, &arr);
    if (rc == GS_ENOTFOUND)
        return gs_err_set(e, GS_EPARSE, "the answer has no \"%s\" member", key);
    if (rc)
        return gs_err_set(e, GS_EPARSE, "the answer is not a complete JSON object");
    const char *d = doc + arr.off;
    size_t alen = arr.len;
    if (d[0] != '[')
        return gs_err_set(e, GS_EPARSE, "\"%s\" is not an array", key);
    size_t cap = 0;
    sv_span *v = NULL;
    size_t i = skip_ws(d, 1, alen);
    if (i < alen && d[i] == ']')
        return 0;
    while (i < alen) {
        size_t ve = skip_value(d, i, alen);
        if (!ve) {
            free(v);
            return gs_err_set(e, GS_EPARSE, "element %zu of \"%s\" is cut off", *n, key);
        }
        if (*n == cap) {
            size_t nc = cap ? cap * 2 : 64;
            sv_span *nv = realloc(v, nc * sizeof *nv);
            if (!nv) {
                free(v);
                return gs_err_set(e, GS_ENOMEM, "out of memory");
            }
            v = nv;
            cap = nc;
        }
        v[*n].off = arr.off + i;
        v[*n].len = ve - i;
        (*n)++;
        i = skip_ws(d, ve, alen);
        if (i < alen && d[i] == ',') {
            i = skip_ws(d, i + 1, alen);
            continue;
        }
        if (i < alen && d[i] == ']') {
            *items = v;
            return 0;
        }
        break;
    }
    free(v);
    *n = 0;
    return gs_err_set(e, GS_EPARSE, "\"%s\" is not a well-formed array", key);
}

size_t sv_depth(const char *d, size_t len)
{
    size_t depth = 0, max = 0;
    for (size_t i = 0; i < len; i++) {
        char c = d[i];
        if (c == '"') {
            size_t j = skip_string(d, i, len);
            if (!j)
                break;
            i = j - 1;
        } else if (c == '{' || c == '[') {
            if (++depth > max)
                max = depth;
        } else if ((c == '}' || c == ']') && depth) {
            depth--;
        }
    }
    return max;
}

int sv_head_member(const char *head, size_t len, const char *envelope, const char *key,
                   sv_span *out)
{
    /* walk the top-level members up to the envelope, complete ones only */
    size_t i = skip_ws(head, 0, len);
    if (i >= len || head[i] != '{')
        return GS_ENOTFOUND;
    i = skip_ws(head, i + 1, len);
    for (;;) {
        if (i >= len || head[i] != '"')
            return GS_ENOTFOUND;
        size_t ke = skip_string(head, i, len);
        if (!ke)
            return GS_ENOTFOUND;
        bool hit = key_is(head, i, ke, envelope);
        i = skip_ws(head, ke, len);
        if (i >= len || head[i] != ':')
            return GS_ENOTFOUND;
        i = skip_ws(head, i + 1, len);
        if (hit)
            break;
        size_t ve = skip_value(head, i, len);
        if (!ve)
            return GS_ENOTFOUND;
        i = skip_ws(head, ve, len);
        if (i >= len || head[i] != ',')
            return GS_ENOTFOUND;
        i = skip_ws(head, i + 1, len);
    }
    if (i >= len || head[i] != '[')
        return GS_ENOTFOUND;
    i = skip_ws(head, i + 1, len);
    if (i >= len || head[i] != '{')
        return GS_ENOTFOUND;
    /* members of the first element, until the cut */
    i = skip_ws(head, i + 1, len);
    while (i < len && head[i] == '"') {
        size_t ke = skip_string(head, i, len);
        if (!ke)
            return GS_ENOTFOUND;
        bool hit = key_is(head, i, ke, key);
        i = skip_ws(head, ke, len);
        if (i >= len || head[i] != ':')
            return GS_ENOTFOUND;
        i = skip_ws(head, i + 1, len);
        size_t ve = skip_value(head, i, len);
        if (!ve || ve >= len)
            return GS_ENOTFOUND; /* cut inside (or right after) the value */
        if (hit) {
            out->off = i;
            out->len = ve - i;
            return 0;
        }
        i = skip_ws(head, ve, len);
        if (i >= len || head[i] != ',')
            return GS_ENOTFOUND;
        i = skip_ws(head, i + 1, len);
    }
    return GS_ENOTFOUND;
}

int sv_tail_member(const char *tail, size_t len, const char *key, sv_span *out)
{
    size_t kl = strlen(key);
    if (len < kl + 3)
        return GS_ENOTFOUND;
    for (size_t p = len - kl - 2; p-- > 0;) {
        if (tail[p] != '"' || memcmp(tail + p + 1, key, kl) != 0 || tail[p + 1 + kl] != '"')
            continue;
        if (p > 0 && tail[p - 1] == '\\')
            continue; /* an escaped quote inside a string, not a key */
        size_t i = skip_ws(tail, p + kl + 2, len);
        if (i >= len || tail[i] != ':')
            continue;
        i = skip_ws(tail, i + 1, len);
        size_t ve = skip_value(tail, i, len);
        if (!ve)
            continue;
        out->off = i;
        out->len = ve - i;
        return 0;
    }
    return GS_ENOTFOUND;
}
