/*
 * toml.c - strict TOML 1.0 parser (see toml.h).
 *
 * One pass over the bytes, recursive descent only for arrays and inline tables (bounded by
 * TOML_MAX_DEPTH). Before parsing, the whole document is checked once for UTF-8 validity and
 * forbidden control characters: TOML allows no raw control character other than tab and
 * newline anywhere (strings must escape them, comments may not hold them), so a global check is
 * both correct and gives the simplest error position.
 *
 * Memory: nodes are toml_node (toml_internal.h); the parser owns partly built values and frees
 * them on every error path, so a failed parse leaks nothing.
 */
#include "toml_internal.h"

#include "civil.h"
#include "sbuf.h"
#include "uesc.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Nesting of tables and arrays, from the root. toml-test suggests 128-256 is ample. */
#define TOML_MAX_DEPTH 256
/* Tables with more keys than this get a hash index (lookups stay O(1) for 10k-key tables). */
#define TOML_LINEAR_MAX 8

typedef struct parser {
    const char *s;
    size_t len;
    size_t pos;
    const char *file;
    gs_err *err;
    int line;
    size_t line_start;
    size_t ccache_pos; /* column cache: code points before ccache_pos on the current line */
    int ccache_col;
    bool failed;
    int code; /* the first error's code, valid once failed is set */
    toml_node *root;
    toml_node *cur; /* table that key/value lines go into */
} parser;

typedef struct keypart {
    char *s;
    size_t n;
    int line, col;
} keypart;

typedef struct tkey {
    keypart *p;
    size_t n, cap;
} tkey;

/* ---------------------------------------------------------------- positions and errors */

static int col_at(parser *p, size_t pos)
{
    if (p->ccache_pos < p->line_start || p->ccache_pos > pos) {
        p->ccache_pos = p->line_start;
        p->ccache_col = 1;
    }
    for (size_t i = p->ccache_pos; i < pos && i < p->len; i++)
        if (((unsigned char)p->s[i] & 0xC0) != 0x80)
            p->ccache_col++;
    p->ccache_pos = pos;
    return p->ccache_col;
}

static int errv(parser *p, int code, int line, int col, const char *fmt, va_list ap)
{
    if (p->failed)
        return p->code;
    p->failed = true;
    p->code = code;
    char msg[768];
    vsnprintf(msg, sizeof msg, fmt, ap);
    return gs_err_set(p->err, code, "%s:%d:%d: %s", p->file, line, col, msg);
}

__attribute__((format(printf, 4, 5))) static int perr_at(parser *p, int line, int col,
                                                         const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = errv(p, GS_EPARSE, line, col, fmt, ap);
    va_end(ap);
    return rc;
}

__attribute__((format(printf, 2, 3))) static int perr(parser *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = errv(p, GS_EPARSE, p->line, col_at(p, p->pos), fmt, ap);
    va_end(ap);
    return rc;
}

static int poom(parser *p)
{
    if (!p->failed) {
        p->failed = true;
        p->code = GS_ENOMEM;
        gs_err_set(p->err, GS_ENOMEM, "%s: out of memory while parsing", p->file);
    }
    return p->code;
}

/* A printable description of the byte at pos for "found X" messages. */
static const char *found(parser *p, char *buf, size_t sz)
{
    if (p->pos >= p->len)
        return "end of file";
    unsigned char c = (unsigned char)p->s[p->pos];
    if (c == '\n' || c == '\r')
        return "end of line";
    if (c >= 0x80) {
        size_t n = 1;
        while (p->pos + n < p->len && n < 4 && ((unsigned char)p->s[p->pos + n] & 0xC0) == 0x80)
            n++;
        snprintf(buf, sz, "'%.*s'", (int)n, p->s + p->pos);
    } else {
        snprintf(buf, sz, "'%c'", c);
    }
    return buf;
}

/* ---------------------------------------------------------------- characters */

static bool at_eof(const parser *p)
{
    return p->pos >= p->len;
}

static int cur(const parser *p)
{
    return p->pos < p->len ? (unsigned char)p->s[p->pos] : -1;
}

static int peek(const parser *p, size_t off)
{
    return p->pos + off < p->len ? (unsigned char)p->s[p->pos + off] : -1;
}

static bool is_digit(int c)
{
    return c >= '0' && c <= '9';
}

static bool is_bare(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '_' || c == '-';
}

static bool is_nl(const parser *p)
{
    int c = cur(p);
    return c == '\n' || c == '\r';
}

static void skip_ws(parser *p)
{
    while (p->pos < p->len && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t'))
        p->pos++;
}

/* Consume one newline (LF or CRLF: the pre-check guarantees CR is followed by LF). */
static void eat_nl(parser *p)
{
    if (cur(p) == '\r')
        p->pos++;
    p->pos++;
    p->line++;
    p->line_start = p->pos;
}

static void skip_comment(parser *p)
{
    while (p->pos < p->len && !is_nl(p))
        p->pos++;
}

/* Whitespace, newlines and comments: the filler allowed between array elements. */
static void skip_ws_nl(parser *p)
{
    for (;;) {
        skip_ws(p);
        if (cur(p) == '#')
            skip_comment(p);
        if (!is_nl(p))
            return;
        eat_nl(p);
    }
}

/* ---------------------------------------------------------------- whole-document check */

static int check_text(parser *p)
{
    const unsigned char *s = (const unsigned char *)p->s;
    size_t i = p->pos;
    while (i < p->len) {
        unsigned char c = s[i];
        if (c == '\n') {
            p->line++;
            p->line_start = ++i;
            continue;
        }
        if (c < 0x80) {
            if (c == '\r' && !(i + 1 < p->len && s[i + 1] == '\n'))
                return perr_at(p, p->line, col_at(p, i),
                               "carriage return (CR) not followed by line feed (LF)");
            if ((c < 0x20 && c != '\t' && c != '\r') || c == 0x7F)
                return perr_at(p, p->line, col_at(p, i),
                               "control character U+%04X is not allowed (escape it in a basic "
                               "string)",
                               c);
            i++;
            continue;
        }
        size_t n;
        uint32_t cp, min;
        if (c >= 0xC2 && c <= 0xDF) {
            n = 2, cp = c & 0x1F, min = 0x80;
        } else if (c >= 0xE0 && c <= 0xEF) {
            n = 3, cp = c & 0x0F, min = 0x800;
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 4, cp = c & 0x07, min = 0x10000;
        } else {
            return perr_at(p, p->line, col_at(p, i), "invalid UTF-8 byte 0x%02X", c);
        }
        if (i + n > p->len)
            return perr_at(p, p->line, col_at(p, i), "truncated UTF-8 sequence");
        for (size_t k = 1; k < n; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return perr_at(p, p->line, col_at(p, i), "invalid UTF-8 sequence");
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return perr_at(p, p->line, col_at(p, i),
                           "invalid UTF-8 sequence (overlong, surrogate or out of range)");
        i += n;
    }
    return 0;
}

/* ---------------------------------------------------------------- nodes */

static toml_node *node_new(parser *p, toml_type t, int line, int col, int depth)
{
    if (depth > TOML_MAX_DEPTH) {
        perr_at(p, line, col, "nesting too deep (more than %d levels of tables and arrays)",
                TOML_MAX_DEPTH);
        return NULL;
    }
    toml_node *n = calloc(1, sizeof *n);
    if (!n) {
        poom(p);
        return NULL;
    }
    n->v.type = t;
    n->v.line = line;
    n->v.col = col;
    n->depth = depth;
    return n;
}

static void node_free(toml_node *n)
{
    if (!n)
        return;
    switch (n->v.type) {
    case TOML_ARRAY:
        for (size_t i = 0; i < n->v.u.arr.n; i++)
            node_free((toml_node *)n->v.u.arr.items[i]);
        free(n->v.u.arr.items);
        break;
    case TOML_TABLE:
        for (size_t i = 0; i < n->v.u.tab.n; i++) {
            free(n->v.u.tab.keys[i]);
            node_free((toml_node *)n->v.u.tab.vals[i]);
        }
        free(n->v.u.tab.keys);
        free(n->v.u.tab.vals);
        free(n->klens);
        free(n->hidx);
        break;
    case TOML_STRING:
    case TOML_DATETIME:
    case TOML_DATETIME_LOCAL:
    case TOML_DATE_LOCAL:
    case TOML_TIME_LOCAL:
        free(n->v.u.str.s);
        break;
    default:
        break;
    }
    free(n);
}

static uint64_t key_hash(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static toml_node *tab_find(const toml_node *t, const char *k, size_t klen)
{
    if (t->v.type != TOML_TABLE)
        return NULL;
    if (t->hidx) {
        size_t mask = t->hcap - 1;
        for (size_t h = key_hash(k, klen) & mask;; h = (h + 1) & mask) {
            uint32_t slot = t->hidx[h];
            if (!slot)
                return NULL;
            size_t i = slot - 1;
            if (t->klens[i] == klen && memcmp(t->v.u.tab.keys[i], k, klen) == 0)
                return (toml_node *)t->v.u.tab.vals[i];
        }
    }
    for (size_t i = 0; i < t->v.u.tab.n; i++)
        if (t->klens[i] == klen && memcmp(t->v.u.tab.keys[i], k, klen) == 0)
            return (toml_node *)t->v.u.tab.vals[i];
    return NULL;
}

static void hidx_put(toml_node *t, size_t i)
{
    size_t mask = t->hcap - 1;
    size_t h = key_hash(t->v.u.tab.keys[i], t->klens[i]) & mask;
    while (t->hidx[h])
        h = (h + 1) & mask;
    t->hidx[h] = (uint32_t)(i + 1);
}

/* Append key -> v; takes ownership of `key` (malloc'd, NUL-terminated) and `v` on success. */
static int tab_add(parser *p, toml_node *t, char *key, size_t klen, toml_node *v)
{
    size_t n = t->v.u.tab.n;
    if (n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 4;
        char **keys = realloc(t->v.u.tab.keys, cap * sizeof *keys);
        if (!keys)
            return poom(p);
        t->v.u.tab.keys = keys;
        toml_value **vals = realloc(t->v.u.tab.vals, cap * sizeof *vals);
        if (!vals)
            return poom(p);
        t->v.u.tab.vals = vals;
        size_t *kl = realloc(t->klens, cap * sizeof *kl);
        if (!kl)
            return poom(p);
        t->klens = kl;
        t->cap = cap;
    }
    t->v.u.tab.keys[n] = key;
    t->v.u.tab.vals[n] = &v->v;
    t->klens[n] = klen;
    t->v.u.tab.n = n + 1;
    if (n + 1 > TOML_LINEAR_MAX) {
        if ((n + 1) * 2 > t->hcap) {
            size_t hcap = t->hcap ? t->hcap * 2 : 32;
            while (hcap < (n + 1) * 2)
                hcap *= 2;
            uint32_t *h = calloc(hcap, sizeof *h);
            if (!h) {
                t->v.u.tab.n = n; /* caller still owns key and v */
                return poom(p);
            }
            free(t->hidx);
            t->hidx = h;
            t->hcap = hcap;
            for (size_t i = 0; i <= n; i++)
                hidx_put(t, i);
        } else {
            hidx_put(t, n);
        }
    }
    return 0;
}

static int arr_push(parser *p, toml_node *a, toml_node *v)
{
    if (a->v.u.arr.n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 4;
        toml_value **items = realloc(a->v.u.arr.items, cap * sizeof *items);
        if (!items)
            return poom(p);
        a->v.u.arr.items = items;
        a->cap = cap;
    }
    a->v.u.arr.items[a->v.u.arr.n++] = &v->v;
    return 0;
}

/* ---------------------------------------------------------------- keys */

static void key_free(tkey *k)
{
    for (size_t i = 0; i < k->n; i++)
        free(k->p[i].s);
    free(k->p);
    k->p = NULL;
    k->n = k->cap = 0;
}

/* The dotted key up to and including part `upto`, quoted where needed, for messages. */
static const char *key_name(const tkey *k, size_t upto, char *buf, size_t sz)
{
    sbuf b = SBUF_INIT;
    for (size_t i = 0; i <= upto && i < k->n; i++) {
        if (i)
            sbuf_putc(&b, '.');
        bool bare = k->p[i].n > 0;
        for (size_t j = 0; j < k->p[i].n; j++)
            bare = bare && is_bare((unsigned char)k->p[i].s[j]);
        if (bare) {
            sbuf_append(&b, k->p[i].s, k->p[i].n);
            continue;
        }
        sbuf_putc(&b, '"');
        for (size_t j = 0; j < k->p[i].n; j++) {
            unsigned char c = (unsigned char)k->p[i].s[j];
            if (c == '"' || c == '\\')
                sbuf_printf(&b, "\\%c", c);
            else if (c < 0x20 || c == 0x7F)
                sbuf_printf(&b, "\\u%04X", c);
            else
                sbuf_putc(&b, (char)c);
        }
        sbuf_putc(&b, '"');
    }
    snprintf(buf, sz, "%s", sbuf_failed(&b) ? "?" : sbuf_str(&b));
    if (strlen(buf) == sz - 1 && sz > 4)
        memcpy(buf + sz - 4, "...", 3);
    sbuf_free(&b);
    return buf;
}

static int key_push(parser *p, tkey *k, char *s, size_t n, int line, int col)
{
    if (k->n == k->cap) {
        size_t cap = k->cap ? k->cap * 2 : 4;
        keypart *np = realloc(k->p, cap * sizeof *np);
        if (!np) {
            free(s);
            return poom(p);
        }
        k->p = np;
        k->cap = cap;
    }
    k->p[k->n++] = (keypart){s, n, line, col};
    return 0;
}

/* Add a copy of key part kp -> v to t; frees v on failure (so the caller never has to). */
static int add_copy(parser *p, toml_node *t, const keypart *kp, toml_node *v)
{
    char *s = malloc(kp->n + 1);
    if (!s) {
        node_free(v);
        return poom(p);
    }
    memcpy(s, kp->s, kp->n);
    s[kp->n] = '\0';
    int rc = tab_add(p, t, s, kp->n, v);
    if (rc) {
        free(s);
        node_free(v);
    }
    return rc;
}

/* ---------------------------------------------------------------- strings */

static void put_utf8(sbuf *b, uint32_t cp)
{
    char u[4];
    sbuf_append(b, u, ue_utf8(cp, u));
}

/* At a backslash inside a basic string: decode one escape into b. */
static int parse_escape(parser *p, sbuf *b)
{
    int line = p->line, col = col_at(p, p->pos);
    int e = peek(p, 1);
    const char *simple = NULL;
    switch (e) {
    case 'b':
        simple = "\b";
        break;
    case 't':
        simple = "\t";
        break;
    case 'n':
        simple = "\n";
        break;
    case 'f':
        simple = "\f";
        break;
    case 'r':
        simple = "\r";
        break;
    case '"':
        simple = "\"";
        break;
    case '\\':
        simple = "\\";
        break;
    case 'u':
    case 'U': {
        size_t nd = e == 'u' ? 4 : 8;
        uint32_t cp = 0;
        for (size_t i = 0; i < nd; i++) {
            int h = ue_hexval(peek(p, 2 + i));
            if (h < 0)
                return perr_at(p, line, col, "\\%c escape needs exactly %zu hex digits", e, nd);
            cp = (cp << 4) | (uint32_t)h;
        }
        if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return perr_at(p, line, col,
                           "\\%c escape U+%X is not a Unicode scalar value (surrogate or above "
                           "U+10FFFF)",
                           e, cp);
        put_utf8(b, cp);
        p->pos += 2 + nd;
        return 0;
    }
    default:
        if (e < 0 || e == '\n' || e == '\r')
            return perr_at(p, line, col, "backslash at end of line in a single-line string");
        if (e >= 0x20 && e < 0x7F)
            return perr_at(p, line, col, "invalid escape sequence '\\%c'", e);
        return perr_at(p, line, col, "invalid escape sequence after backslash");
    }
    sbuf_putc(b, simple[0]);
    p->pos += 2;
    return 0;
}

/* A string of any of the four kinds starting at the opening quote. On success out and outlen hold
 * the decoded malloc'd string. `allow_multi` is false for keys. */
static int parse_string(parser *p, bool allow_multi, char **out, size_t *outlen)
{
    int line = p->line, col = col_at(p, p->pos);
    char q = p->s[p->pos];
    bool basic = q == '"';
    bool multi = peek(p, 1) == q && peek(p, 2) == q;
    sbuf b = SBUF_INIT;
    int rc = 0;
    if (multi && !allow_multi)
        return perr(p, "multi-line strings cannot be used as keys");
    if (!multi) {
        p->pos++;
        for (;;) {
            if (at_eof(p) || is_nl(p)) {
                rc = perr_at(p, line, col,
                             "unterminated string: missing closing %c before end of %s", q,
                             at_eof(p) ? "file" : "line");
                goto fail;
            }
            char c = p->s[p->pos];
            if (c == q) {
                p->pos++;
                break;
            }
            if (basic && c == '\\') {
                if ((rc = parse_escape(p, &b)))
                    goto fail;
                continue;
            }
            size_t st = p->pos;
            while (p->pos < p->len && p->s[p->pos] != q && p->s[p->pos] != '\n' &&
                   p->s[p->pos] != '\r' && !(basic && p->s[p->pos] == '\\'))
                p->pos++;
            sbuf_append(&b, p->s + st, p->pos - st);
        }
    } else {
        p->pos += 3;
        if (is_nl(p)) /* a newline right after the opening delimiter is trimmed */
            eat_nl(p);
        for (;;) {
            if (at_eof(p)) {
                rc = perr_at(p, line, col, "unterminated multi-line string: missing closing %c%c%c",
                             q, q, q);
                goto fail;
            }
            char c = p->s[p->pos];
            if (c == q) {
                size_t n = 0;
                while (peek(p, n) == q)
                    n++;
                if (n >= 3) {
                    if (n > 5) {
                        p->pos += 5;
                        rc = perr(p, "too many quotes at the end of a multi-line string");
                        goto fail;
                    }
                    for (size_t i = 3; i < n; i++)
                        sbuf_putc(&b, q);
                    p->pos += n;
                    break;
                }
                for (size_t i = 0; i < n; i++)
                    sbuf_putc(&b, q);
                p->pos += n;
                continue;
            }
            if (c == '\n' || c == '\r') {
                eat_nl(p);
                sbuf_putc(&b, '\n');
                continue;
            }
            if (basic && c == '\\') {
                size_t j = p->pos + 1;
                while (j < p->len && (p->s[j] == ' ' || p->s[j] == '\t'))
                    j++;
                if (j < p->len && (p->s[j] == '\n' || p->s[j] == '\r')) {
                    /* line-ending backslash: drop it and all whitespace/newlines after it */
                    p->pos = j;
                    for (;;) {
                        skip_ws(p);
                        if (!is_nl(p))
                            break;
                        eat_nl(p);
                    }
                    continue;
                }
                if ((rc = parse_escape(p, &b)))
                    goto fail;
                continue;
            }
            size_t st = p->pos;
            while (p->pos < p->len && p->s[p->pos] != q && p->s[p->pos] != '\n' &&
                   p->s[p->pos] != '\r' && !(basic && p->s[p->pos] == '\\'))
                p->pos++;
            sbuf_append(&b, p->s + st, p->pos - st);
        }
    }
    if (sbuf_failed(&b)) {
        rc = poom(p);
        goto fail;
    }
    *outlen = b.len;
    if (!b.data) {
        b.data = calloc(1, 1);
        if (!b.data)
            return poom(p);
    }
    *out = b.data;
    return 0;
fail:
    sbuf_free(&b);
    return rc;
}

/* key = simple-key *( ws "." ws simple-key ); leaves pos after trailing whitespace. */
static int parse_key(parser *p, tkey *k)
{
    for (;;) {
        int line = p->line, col = col_at(p, p->pos);
        int c = cur(p);
        char *s;
        size_t n;
        if (c == '"' || c == '\'') {
            int rc = parse_string(p, false, &s, &n);
            if (rc)
                return rc;
        } else if (is_bare(c)) {
            size_t st = p->pos;
            while (is_bare(cur(p)))
                p->pos++;
            n = p->pos - st;
            s = malloc(n + 1);
            if (!s)
                return poom(p);
            memcpy(s, p->s + st, n);
            s[n] = '\0';
        } else {
            char fb[16];
            return perr(p, "expected a key, found %s", found(p, fb, sizeof fb));
        }
        int rc = key_push(p, k, s, n, line, col);
        if (rc)
            return rc;
        if (k->n > TOML_MAX_DEPTH)
            return perr_at(p, line, col, "key has too many dotted parts (more than %d)",
                           TOML_MAX_DEPTH);
        skip_ws(p);
        if (cur(p) != '.')
            return 0;
        p->pos++;
        skip_ws(p);
    }
}

/* ---------------------------------------------------------------- numbers and dates */

static bool digits_at(const parser *p, size_t pos, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (pos + i >= p->len || !is_digit((unsigned char)p->s[pos + i]))
            return false;
    return true;
}

static int num2(const parser *p, size_t pos)
{
    return (p->s[pos] - '0') * 10 + (p->s[pos + 1] - '0');
}

/* HH:MM:SS[.frac] at q; returns the end position or 0 after setting an error. */
static size_t parse_time_at(parser *p, size_t q, int line, int col)
{
    if (!digits_at(p, q, 2) || q + 2 >= p->len || p->s[q + 2] != ':' || !digits_at(p, q + 3, 2)) {
        perr_at(p, line, col, "malformed time: expected HH:MM:SS");
        return 0;
    }
    if (q + 5 >= p->len || p->s[q + 5] != ':' || !digits_at(p, q + 6, 2)) {
        perr_at(p, line, col, "malformed time: seconds are required (HH:MM:SS) in TOML 1.0");
        return 0;
    }
    int h = num2(p, q), m = num2(p, q + 3), s = num2(p, q + 6);
    if (h > 23 || m > 59 || s > 60) {
        perr_at(p, line, col,
                "time out of range: %02d:%02d:%02d (hour 00-23, minute 00-59, "
                "second 00-60)",
                h, m, s);
        return 0;
    }
    q += 8;
    if (q < p->len && p->s[q] == '.') {
        if (!digits_at(p, q + 1, 1)) {
            perr_at(p, line, col, "malformed time: '.' must be followed by digits");
            return 0;
        }
        q++;
        while (digits_at(p, q, 1))
            q++;
    }
    return q;
}

static int parse_datetime(parser *p, toml_node **out, int line, int col, int depth)
{
    size_t st = p->pos, q;
    toml_type type;
    if (digits_at(p, st, 2) && st + 2 < p->len && p->s[st + 2] == ':') {
        q = parse_time_at(p, st, line, col);
        if (!q)
            return GS_EPARSE;
        type = TOML_TIME_LOCAL;
    } else {
        if (!(digits_at(p, st, 4) && p->s[st + 4] == '-' && digits_at(p, st + 5, 2) &&
              st + 7 < p->len && p->s[st + 7] == '-' && digits_at(p, st + 8, 2)))
            return perr_at(p, line, col, "malformed date: expected YYYY-MM-DD");
        int y = (p->s[st] - '0') * 1000 + (p->s[st + 1] - '0') * 100 + num2(p, st + 2);
        int mo = num2(p, st + 5), d = num2(p, st + 8);
        if (mo < 1 || mo > 12)
            return perr_at(p, line, col, "invalid month %02d in date (01-12)", mo);
        int dim = cv_month_days(y, mo);
        if (d < 1 || d > dim)
            return perr_at(p, line, col, "invalid day %02d in date %04d-%02d (01-%02d)", d, y, mo,
                           dim);
        q = st + 10;
        type = TOML_DATE_LOCAL;
        if (q < p->len &&
            (p->s[q] == 'T' || p->s[q] == 't' ||
             (p->s[q] == ' ' && digits_at(p, q + 1, 2) && q + 3 < p->len && p->s[q + 3] == ':'))) {
            q = parse_time_at(p, q + 1, line, col);
            if (!q)
                return GS_EPARSE;
            type = TOML_DATETIME_LOCAL;
            if (q < p->len && (p->s[q] == 'Z' || p->s[q] == 'z')) {
                q++;
                type = TOML_DATETIME;
            } else if (q < p->len && (p->s[q] == '+' || p->s[q] == '-')) {
                if (!(digits_at(p, q + 1, 2) && q + 3 < p->len && p->s[q + 3] == ':' &&
                      digits_at(p, q + 4, 2)))
                    return perr_at(p, line, col,
                                   "malformed time offset: expected +HH:MM or -HH:MM");
                if (num2(p, q + 1) > 23 || num2(p, q + 4) > 59)
                    return perr_at(p, line, col,
                                   "time offset out of range (hours 00-23, "
                                   "minutes 00-59)");
                q += 6;
                type = TOML_DATETIME;
            }
        }
    }
    toml_node *n = node_new(p, type, line, col, depth);
    if (!n)
        return p->code;
    size_t len = q - st;
    n->v.u.str.s = malloc(len + 1);
    if (!n->v.u.str.s) {
        free(n);
        return poom(p);
    }
    for (size_t i = 0; i < len; i++) {
        char c = p->s[st + i];
        if (i == 10 && (c == ' ' || c == 't'))
            c = 'T';
        else if (c == 'z')
            c = 'Z';
        n->v.u.str.s[i] = c;
    }
    n->v.u.str.s[len] = '\0';
    n->v.u.str.slen = len;
    p->pos = q;
    *out = n;
    return 0;
}

/* Digits of `base` with single underscores only between digits, from t[*j]; at least one. */
static bool scan_digits(const char *t, size_t len, size_t *j, int base)
{
    size_t i = *j;
    bool any = false;
    while (i < len) {
        int c = (unsigned char)t[i];
        int v = ue_hexval(c);
        if (v >= 0 && v < base) {
            any = true;
            i++;
        } else if (c == '_' && any && i + 1 < len && ue_hexval((unsigned char)t[i + 1]) >= 0 &&
                   ue_hexval((unsigned char)t[i + 1]) < base) {
            i++;
        } else {
            break;
        }
    }
    *j = i;
    return any;
}

static int parse_number(parser *p, toml_node **out, int line, int col, int depth)
{
    size_t st = p->pos, e = st;
    while (e < p->len && (is_bare((unsigned char)p->s[e]) || p->s[e] == '.' || p->s[e] == '+'))
        e++;
    const char *t = p->s + st;
    size_t len = e - st, j = 0;
    int shown = len > 40 ? 40 : (int)len;
    bool neg = false, sign = false;
    if (len && (t[0] == '+' || t[0] == '-')) {
        sign = true;
        neg = t[0] == '-';
        j = 1;
    }
    toml_node *n = NULL;
    if (len - j == 3 && (memcmp(t + j, "inf", 3) == 0 || memcmp(t + j, "nan", 3) == 0)) {
        if (!(n = node_new(p, TOML_FLOAT, line, col, depth)))
            return p->code;
        n->v.u.f = t[j] == 'i' ? (neg ? -INFINITY : INFINITY) : (neg ? -NAN : NAN);
        goto done;
    }
    if (len - j >= 2 && t[j] == '0' && (t[j + 1] == 'x' || t[j + 1] == 'o' || t[j + 1] == 'b')) {
        int base = t[j + 1] == 'x' ? 16 : t[j + 1] == 'o' ? 8 : 2;
        if (sign)
            return perr_at(p, line, col,
                           "a sign is not allowed on hexadecimal, octal or binary "
                           "integers");
        j += 2;
        size_t k = j;
        if (!scan_digits(t, len, &k, base) || k != len)
            return perr_at(p, line, col, "invalid %s integer '%.*s'",
                           base == 16  ? "hexadecimal"
                           : base == 8 ? "octal"
                                       : "binary",
                           shown, t);
        uint64_t v = 0;
        for (; j < len; j++) {
            if (t[j] == '_')
                continue;
            uint64_t d = (uint64_t)ue_hexval((unsigned char)t[j]);
            if (v > ((uint64_t)INT64_MAX - d) / (uint64_t)base)
                return perr_at(p, line, col, "integer '%.*s' out of range (64-bit signed)", shown,
                               t);
            v = v * (uint64_t)base + d;
        }
        if (!(n = node_new(p, TOML_INTEGER, line, col, depth)))
            return p->code;
        n->v.u.i = (int64_t)v;
        goto done;
    }
    size_t ist = j;
    if (!scan_digits(t, len, &j, 10))
        return perr_at(p, line, col, "invalid value '%.*s'", shown, t);
    if (t[ist] == '0' && j - ist > 1)
        return perr_at(p, line, col, "leading zeros are not allowed in '%.*s'", shown, t);
    bool isfloat = false;
    if (j < len && t[j] == '.') {
        j++;
        if (!scan_digits(t, len, &j, 10))
            return perr_at(p, line, col, "invalid float '%.*s': '.' must be followed by digits",
                           shown, t);
        isfloat = true;
    }
    if (j < len && (t[j] == 'e' || t[j] == 'E')) {
        j++;
        if (j < len && (t[j] == '+' || t[j] == '-'))
            j++;
        if (!scan_digits(t, len, &j, 10))
            return perr_at(p, line, col, "invalid float '%.*s': exponent needs digits", shown, t);
        isfloat = true;
    }
    if (j != len)
        return perr_at(p, line, col, "invalid number '%.*s'", shown, t);
    if (isfloat) {
        char small[64], *buf = len < sizeof small ? small : malloc(len + 1);
        if (!buf)
            return poom(p);
        size_t bl = 0;
        for (size_t i = 0; i < len; i++)
            if (t[i] != '_')
                buf[bl++] = t[i];
        buf[bl] = '\0';
        errno = 0;
        double d = strtod(buf, NULL);
        if (buf != small)
            free(buf);
        if (isinf(d))
            return perr_at(p, line, col, "float '%.*s' out of range", shown, t);
        if (!(n = node_new(p, TOML_FLOAT, line, col, depth)))
            return p->code;
        n->v.u.f = d;
        goto done;
    }
    uint64_t v = 0, lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (size_t i = ist; i < len; i++) {
        if (t[i] == '_')
            continue;
        uint64_t d = (uint64_t)(t[i] - '0');
        if (v > (lim - d) / 10)
            return perr_at(p, line, col, "integer '%.*s' out of range (64-bit signed)", shown, t);
        v = v * 10 + d;
    }
    if (!(n = node_new(p, TOML_INTEGER, line, col, depth)))
        return p->code;
    n->v.u.i = neg ? (int64_t)(0 - v) : (int64_t)v;
done:
    p->pos = e;
    *out = n;
    return 0;
}

/* ---------------------------------------------------------------- values */

static int parse_value(parser *p, toml_node **out, int depth);
static int parse_keyval(parser *p, toml_node *tbl);

static int parse_array(parser *p, toml_node **out, int depth)
{
    int line = p->line, col = col_at(p, p->pos);
    toml_node *a = node_new(p, TOML_ARRAY, line, col, depth);
    if (!a)
        return p->code;
    a->flags = TOML_F_INLINE;
    p->pos++;
    int rc = 0;
    for (;;) {
        skip_ws_nl(p);
        if (cur(p) == ']') {
            p->pos++;
            break;
        }
        if (at_eof(p)) {
            rc = perr_at(p, line, col, "unterminated array: missing ']'");
            goto fail;
        }
        toml_node *v = NULL;
        if ((rc = parse_value(p, &v, depth + 1)))
            goto fail;
        if ((rc = arr_push(p, a, v))) {
            node_free(v);
            goto fail;
        }
        skip_ws_nl(p);
        if (cur(p) == ',') {
            p->pos++;
            continue;
        }
        if (cur(p) == ']') {
            p->pos++;
            break;
        }
        if (at_eof(p)) {
            rc = perr_at(p, line, col, "unterminated array: missing ']'");
            goto fail;
        }
        char fb[16];
        rc = perr(p, "expected ',' or ']' in array, found %s", found(p, fb, sizeof fb));
        goto fail;
    }
    *out = a;
    return 0;
fail:
    node_free(a);
    return rc;
}

static int parse_inline_table(parser *p, toml_node **out, int depth)
{
    int line = p->line, col = col_at(p, p->pos);
    toml_node *t = node_new(p, TOML_TABLE, line, col, depth);
    if (!t)
        return p->code;
    p->pos++;
    skip_ws(p);
    int rc = 0;
    char fb[16];
    if (cur(p) == '}') {
        p->pos++;
    } else {
        for (;;) {
            skip_ws(p);
            if (is_nl(p) || at_eof(p)) {
                rc = perr(p, "inline table must be on a single line (missing '}'?)");
                goto fail;
            }
            if ((rc = parse_keyval(p, t)))
                goto fail;
            skip_ws(p);
            if (cur(p) == ',') {
                p->pos++;
                skip_ws(p);
                if (cur(p) == '}') {
                    rc = perr(p, "trailing comma is not allowed in an inline table");
                    goto fail;
                }
                continue;
            }
            if (cur(p) == '}') {
                p->pos++;
                break;
            }
            if (is_nl(p) || at_eof(p))
                rc = perr(p, "inline table must be on a single line (missing '}'?)");
            else
                rc = perr(p, "expected ',' or '}' in inline table, found %s",
                          found(p, fb, sizeof fb));
            goto fail;
        }
    }
    t->flags |= TOML_F_INLINE;
    *out = t;
    return 0;
fail:
    node_free(t);
    return rc;
}

static int parse_value(parser *p, toml_node **out, int depth)
{
    int line = p->line, col = col_at(p, p->pos);
    int c = cur(p);
    char fb[16];
    if (depth > TOML_MAX_DEPTH)
        return perr(p, "nesting too deep (more than %d levels of tables and arrays)",
                    TOML_MAX_DEPTH);
    if (c == '"' || c == '\'') {
        char *s;
        size_t n;
        int rc = parse_string(p, true, &s, &n);
        if (rc)
            return rc;
        toml_node *v = node_new(p, TOML_STRING, line, col, depth);
        if (!v) {
            free(s);
            return p->code;
        }
        v->v.u.str.s = s;
        v->v.u.str.slen = n;
        *out = v;
        return 0;
    }
    if (c == 't' || c == 'f') {
        const char *w = c == 't' ? "true" : "false";
        size_t wl = strlen(w);
        if (p->len - p->pos >= wl && memcmp(p->s + p->pos, w, wl) == 0 && !is_bare(peek(p, wl))) {
            toml_node *v = node_new(p, TOML_BOOL, line, col, depth);
            if (!v)
                return p->code;
            v->v.u.b = c == 't';
            p->pos += wl;
            *out = v;
            return 0;
        }
        return perr(p, "invalid value (booleans are lower-case 'true' and 'false'; strings "
                       "need quotes)");
    }
    if (c == '[')
        return parse_array(p, out, depth);
    if (c == '{')
        return parse_inline_table(p, out, depth);
    if (is_digit(c)) {
        if ((digits_at(p, p->pos, 4) && peek(p, 4) == '-') ||
            (digits_at(p, p->pos, 2) && peek(p, 2) == ':'))
            return parse_datetime(p, out, line, col, depth);
        return parse_number(p, out, line, col, depth);
    }
    if (c == '+' || c == '-' || c == 'i' || c == 'n')
        return parse_number(p, out, line, col, depth);
    if (c < 0 || c == '\n' || c == '\r' || c == '#')
        return perr(p, "expected a value, found %s",
                    c == '#' ? "a comment" : found(p, fb, sizeof fb));
    return perr(p, "expected a value, found %s (strings need quotes)", found(p, fb, sizeof fb));
}

/* ---------------------------------------------------------------- tables and redefinition */

static const char *what(const toml_node *n)
{
    if (n->v.type == TOML_TABLE)
        return n->flags & TOML_F_INLINE ? "an inline table" : "a table";
    if (n->v.type == TOML_ARRAY)
        return n->flags & TOML_F_AOT ? "an array of tables" : "an array";
    return "a value";
}

/* Store `val` at the dotted key k under tbl (key/value line or inline table entry). Takes
 * ownership of val in every case. */
static int insert_dotted(parser *p, toml_node *tbl, tkey *k, toml_node *val)
{
    toml_node *t = tbl;
    char nb[200];
    for (size_t i = 0; i + 1 < k->n; i++) {
        keypart *kp = &k->p[i];
        toml_node *c = tab_find(t, kp->s, kp->n);
        if (!c) {
            c = node_new(p, TOML_TABLE, kp->line, kp->col, t->depth + 1);
            if (!c)
                goto fail;
            c->flags = TOML_F_DOTTED;
            if (add_copy(p, t, kp, c))
                goto fail;
        } else if (c->v.type != TOML_TABLE || !(c->flags & TOML_F_DOTTED) ||
                   (c->flags & TOML_F_INLINE)) {
            if (c->v.type == TOML_TABLE && !(c->flags & TOML_F_INLINE))
                perr_at(p, kp->line, kp->col,
                        "cannot add to table '%s' with dotted keys: it was created by a [table] "
                        "header at line %d",
                        key_name(k, i, nb, sizeof nb), c->v.line);
            else
                perr_at(p, kp->line, kp->col,
                        "cannot use '%s' as a table: it is already %s (defined at line %d)",
                        key_name(k, i, nb, sizeof nb), what(c), c->v.line);
            goto fail;
        }
        t = c;
    }
    keypart *last = &k->p[k->n - 1];
    toml_node *ex = tab_find(t, last->s, last->n);
    if (ex) {
        perr_at(p, last->line, last->col, "duplicate key '%s' (already defined at line %d)",
                key_name(k, k->n - 1, nb, sizeof nb), ex->v.line);
        goto fail;
    }
    val->v.line = last->line;
    val->v.col = last->col;
    if (add_copy(p, t, last, val))
        return p->code;
    return 0;
fail:
    node_free(val);
    return p->code;
}

/* key = value, into tbl. pos is at the first character of the key. */
static int parse_keyval(parser *p, toml_node *tbl)
{
    tkey k = {0};
    int rc = parse_key(p, &k);
    if (rc)
        goto out;
    if (cur(p) != '=') {
        char fb[16];
        rc = perr(p, "expected '=' after key '%s', found %s",
                  key_name(&k, k.n - 1, (char[200]){0}, 200), found(p, fb, sizeof fb));
        goto out;
    }
    p->pos++;
    skip_ws(p);
    toml_node *v = NULL;
    if ((rc = parse_value(p, &v, tbl->depth + (int)k.n)))
        goto out;
    rc = insert_dotted(p, tbl, &k, v);
out:
    key_free(&k);
    return rc;
}

/* [a.b.c] or [[a.b.c]] */
static int parse_header(parser *p)
{
    int line = p->line, col = col_at(p, p->pos);
    bool aot = peek(p, 1) == '[';
    p->pos += aot ? 2 : 1;
    skip_ws(p);
    tkey k = {0};
    char nb[200], fb[16];
    int rc = parse_key(p, &k);
    if (rc)
        goto out;
    if (cur(p) != ']' || (aot && peek(p, 1) != ']')) {
        rc = perr(p, "expected '%s' to close the table header, found %s", aot ? "]]" : "]",
                  found(p, fb, sizeof fb));
        goto out;
    }
    p->pos += aot ? 2 : 1;
    toml_node *t = p->root;
    for (size_t i = 0; i + 1 < k.n; i++) {
        keypart *kp = &k.p[i];
        toml_node *c = tab_find(t, kp->s, kp->n);
        if (!c) {
            if (!(c = node_new(p, TOML_TABLE, kp->line, kp->col, t->depth + 1))) {
                rc = p->code;
                goto out;
            }
            c->flags = TOML_F_IMPLICIT;
            if ((rc = add_copy(p, t, kp, c)))
                goto out;
        } else if (c->v.type == TOML_ARRAY && (c->flags & TOML_F_AOT) && c->v.u.arr.n) {
            c = (toml_node *)c->v.u.arr.items[c->v.u.arr.n - 1];
        } else if (c->v.type != TOML_TABLE || (c->flags & TOML_F_INLINE)) {
            rc = perr_at(p, kp->line, kp->col,
                         "cannot use '%s' as a table: it is already %s (defined at line %d)",
                         key_name(&k, i, nb, sizeof nb), what(c), c->v.line);
            goto out;
        }
        t = c;
    }
    keypart *last = &k.p[k.n - 1];
    toml_node *c = tab_find(t, last->s, last->n);
    if (!aot) {
        if (!c) {
            if (!(c = node_new(p, TOML_TABLE, last->line, last->col, t->depth + 1))) {
                rc = p->code;
                goto out;
            }
            c->flags = TOML_F_HEADER;
            if ((rc = add_copy(p, t, last, c)))
                goto out;
        } else if (c->v.type == TOML_TABLE && c->flags == TOML_F_IMPLICIT) {
            c->flags = TOML_F_HEADER;
            c->v.line = last->line;
            c->v.col = last->col;
        } else if (c->v.type == TOML_TABLE && !(c->flags & TOML_F_INLINE)) {
            rc = perr_at(p, line, col, "table [%s] defined twice (%s at line %d)",
                         key_name(&k, k.n - 1, nb, sizeof nb),
                         c->flags & TOML_F_DOTTED ? "already defined by dotted keys"
                                                  : "first defined",
                         c->v.line);
            goto out;
        } else {
            rc = perr_at(p, line, col,
                         "cannot define table [%s]: the key is already %s "
                         "(defined at line %d)",
                         key_name(&k, k.n - 1, nb, sizeof nb), what(c), c->v.line);
            goto out;
        }
        p->cur = c;
    } else {
        if (!c) {
            if (!(c = node_new(p, TOML_ARRAY, last->line, last->col, t->depth + 1))) {
                rc = p->code;
                goto out;
            }
            c->flags = TOML_F_AOT;
            if ((rc = add_copy(p, t, last, c)))
                goto out;
        } else if (c->v.type != TOML_ARRAY || !(c->flags & TOML_F_AOT)) {
            rc = perr_at(p, line, col,
                         "cannot define array of tables [[%s]]: the key is already "
                         "%s (defined at line %d)",
                         key_name(&k, k.n - 1, nb, sizeof nb), what(c), c->v.line);
            goto out;
        }
        toml_node *e = node_new(p, TOML_TABLE, last->line, last->col, c->depth + 1);
        if (!e) {
            rc = p->code;
            goto out;
        }
        e->flags = TOML_F_HEADER;
        if ((rc = arr_push(p, c, e))) {
            node_free(e);
            goto out;
        }
        p->cur = e;
    }
out:
    key_free(&k);
    return rc;
}

/* After a key/value or header: optional whitespace and comment, then newline or EOF. */
static int end_line(parser *p, const char *after)
{
    skip_ws(p);
    if (cur(p) == '#')
        skip_comment(p);
    if (at_eof(p))
        return 0;
    if (is_nl(p)) {
        eat_nl(p);
        return 0;
    }
    char fb[16];
    return perr(p, "expected end of line after %s, found %s", after, found(p, fb, sizeof fb));
}

static int parse_document(parser *p)
{
    for (;;) {
        skip_ws(p);
        if (at_eof(p))
            return 0;
        int c = cur(p), rc;
        if (c == '#') {
            skip_comment(p);
            rc = end_line(p, "comment");
        } else if (c == '\n' || c == '\r') {
            eat_nl(p);
            rc = 0;
        } else if (c == '[') {
            rc = parse_header(p);
            if (!rc)
                rc = end_line(p, "table header");
        } else {
            rc = parse_keyval(p, p->cur);
            if (!rc)
                rc = end_line(p, "value");
        }
        if (rc)
            return rc;
    }
}

/* ---------------------------------------------------------------- public API */

int toml_parse(const char *src, size_t len, const char *filename, toml_value **out, gs_err *err)
{
    *out = NULL;
    parser p = {0};
    p.s = src ? src : "";
    p.len = src ? len : 0;
    p.file = filename ? filename : "<toml>";
    p.err = err;
    p.line = 1;
    if (p.len >= 3 && memcmp(p.s, "\xEF\xBB\xBF", 3) == 0)
        p.pos = p.line_start = 3; /* UTF-8 byte order mark */
    p.ccache_pos = p.pos;
    p.ccache_col = 1;
    int rc = check_text(&p);
    if (rc)
        return rc;
    p.line = 1;
    p.line_start = p.pos;
    p.ccache_pos = p.pos;
    p.ccache_col = 1;
    p.root = node_new(&p, TOML_TABLE, 1, 1, 0);
    if (!p.root)
        return p.code;
    p.root->flags = TOML_F_HEADER;
    p.cur = p.root;
    rc = parse_document(&p);
    if (rc) {
        node_free(p.root);
        return rc;
    }
    *out = &p.root->v;
    return 0;
}

int toml_parse_file(const char *path, toml_value **out, gs_err *err)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return gs_err_set(err, GS_EIO, "cannot read %s: %s", path, strerror(errno));
    sbuf b = SBUF_INIT;
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        sbuf_append(&b, chunk, n);
    int rerr = ferror(f) ? errno : 0;
    fclose(f);
    if (rerr) {
        sbuf_free(&b);
        return gs_err_set(err, GS_EIO, "cannot read %s: %s", path, strerror(rerr));
    }
    if (sbuf_failed(&b)) {
        sbuf_free(&b);
        return gs_err_set(err, GS_ENOMEM, "cannot read %s: out of memory", path);
    }
    int rc = toml_parse(b.data, b.len, path, out, err);
    sbuf_free(&b);
    return rc;
}

void toml_free(toml_value *v)
{
    node_free((toml_node *)v);
}

const toml_value *toml_get_len(const toml_value *table, const char *key, size_t klen)
{
    if (!table || !key || table->type != TOML_TABLE)
        return NULL;
    const toml_node *n = tab_find((const toml_node *)table, key, klen);
    return n ? &n->v : NULL;
}

const toml_value *toml_get(const toml_value *table, const char *key)
{
    return key ? toml_get_len(table, key, strlen(key)) : NULL;
}

const char *toml_key_at(const toml_value *table, size_t i, size_t *len)
{
    if (!table || table->type != TOML_TABLE || i >= table->u.tab.n)
        return NULL;
    if (len)
        *len = ((const toml_node *)table)->klens[i];
    return table->u.tab.keys[i];
}

const char *toml_type_name(toml_type t)
{
    switch (t) {
    case TOML_STRING:
        return "string";
    case TOML_INTEGER:
        return "integer";
    case TOML_FLOAT:
        return "float";
    case TOML_BOOL:
        return "boolean";
    case TOML_DATETIME:
        return "datetime";
    case TOML_DATETIME_LOCAL:
        return "datetime-local";
    case TOML_DATE_LOCAL:
        return "date-local";
    case TOML_TIME_LOCAL:
        return "time-local";
    case TOML_ARRAY:
        return "array";
    case TOML_TABLE:
        return "table";
    }
    return "unknown";
}
