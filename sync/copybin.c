/* copybin.c - see copybin.h. Layouts: PostgreSQL's COPY docs ("Binary Format") and the types'
 * send/receive functions (date_recv, timestamptz_recv, numeric_recv, array_recv). */
#include "copybin.h"

#include "civil.h"

#include <string.h>

/* PostgreSQL's epoch for date and timestamp: 2000-01-01, in days since 1970-01-01. */
#define PG_EPOCH_DAYS 10957
#define TEXT_OID      25
/* numeric's sign words */
#define NUM_POS 0x0000
#define NUM_NEG 0x4000
/* far inside numeric's own limits (weight and dscale); longer numbers go as text */
#define NUM_MAX_DIGITS 1000

/* n <= 8 bytes: stored in place when they fit (every field starts with a length word, so this
 * runs several times per value), else appended with growth. */
static inline void put_small(sbuf *b, const char *c, size_t n)
{
    if (b->len + n < b->cap && !b->failed) {
        memcpy(b->data + b->len, c, n);
        b->len += n;
        b->data[b->len] = '\0';
    } else {
        sbuf_append(b, c, n);
    }
}

static void put16(sbuf *b, uint16_t v)
{
    char c[2] = {(char)(v >> 8), (char)v};
    put_small(b, c, 2);
}

static void put32(sbuf *b, uint32_t v)
{
    char c[4] = {(char)(v >> 24), (char)(v >> 16), (char)(v >> 8), (char)v};
    put_small(b, c, 4);
}

static void put64(sbuf *b, uint64_t v)
{
    put32(b, (uint32_t)(v >> 32));
    put32(b, (uint32_t)v);
}

/* Overwrite a length word written earlier (the field's size is known once it is built). */
static void patch32(sbuf *b, size_t at, uint32_t v)
{
    if (sbuf_failed(b))
        return;
    unsigned char *p = (unsigned char *)b->data + at;
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

cb_kind cb_kind_of(const char *t)
{
    static const struct {
        const char *name;
        cb_kind kind;
    } kinds[] = {
        {"text", CB_TEXT},         {"jsonb", CB_JSONB},
        {"boolean", CB_BOOL},      {"integer", CB_INT4},
        {"bigint", CB_INT8},       {"numeric", CB_NUMERIC},
        {"date", CB_DATE},         {"timestamp with time zone", CB_TSTZ},
        {"text[]", CB_TEXT_ARRAY},
    };
    for (size_t i = 0; t && i < sizeof kinds / sizeof *kinds; i++)
        if (strcmp(t, kinds[i].name) == 0)
            return kinds[i].kind;
    return CB_NONE;
}

void cb_header(sbuf *b)
{
    sbuf_append(b, "PGCOPY\n\377\r\n\0", 11);
    put32(b, 0); /* flags: no OIDs */
    put32(b, 0); /* header extension: none */
}

void cb_trailer(sbuf *b)
{
    put16(b, 0xFFFF);
}

void cb_tuple(sbuf *b, int n)
{
    put16(b, (uint16_t)n);
}

/* "YYYY-MM-DD", a real day of years 1-9999, as days since 1970-01-01. */
static bool read_date(const char *s, int64_t *days)
{
    int y, m, d;
    if (!cv_date(s, &y, &m, &d))
        return false;
    *days = cv_days_from_civil(y, m, d);
    return true;
}

/* "YYYY-MM-DD[T ]HH:MM:SS[.f{1,6}](Z|+HH|+HHMM|+HH:MM)": microseconds since 1970. PostgreSQL
 * rounds a seventh fraction digit and reads a zoneless stamp in the session's time zone: both
 * are refused here rather than guessed. */
static bool read_tstz(const char *s, int64_t *us)
{
    int64_t days;
    int h, mi, se;
    if (!read_date(s, &days) || (s[10] != 'T' && s[10] != ' ') || !cv_digits(s + 11, 2, &h) ||
        s[13] != ':' || !cv_digits(s + 14, 2, &mi) || s[16] != ':' || !cv_digits(s + 17, 2, &se) ||
        h > 23 || mi > 59 || se > 59)
        return false;
    const char *p = s + 19;
    int64_t frac = 0;
    if (*p == '.') {
        int n = 0;
        for (p++; *p >= '0' && *p <= '9'; p++, n++)
            if (n < 6)
                frac = frac * 10 + (*p - '0');
            else
                return false;
        if (!n)
            return false;
        for (; n < 6; n++)
            frac *= 10;
    }
    int off = 0; /* seconds east of UTC */
    if (*p == 'Z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om = 0;
        const char *q = p + 1;
        if (!cv_digits(q, 2, &oh))
            return false;
        q += 2;
        if (*q == ':') {
            if (!cv_digits(q + 1, 2, &om))
                return false;
            q += 3;
        } else if (*q) {
            if (!cv_digits(q, 2, &om))
                return false;
            q += 2;
        }
        if (oh > 15 || om > 59)
            return false;
        off = (oh * 3600 + om * 60) * (*p == '-' ? -1 : 1);
        p = q;
    } else {
        return false;
    }
    if (*p)
        return false;
    *us = ((days * 86400 + h * 3600 + mi * 60 + se - off) * 1000000) + frac;
    return true;
}

static bool read_int(const char *s, int64_t lo, int64_t hi, int64_t *out)
{
    bool neg = *s == '-';
    if (*s == '-' || *s == '+')
        s++;
    if (!*s)
        return false;
    uint64_t v = 0, lim = neg ? (uint64_t)(-(lo + 1)) + 1 : (uint64_t)hi;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return false;
        unsigned d = (unsigned)(*s - '0');
        if (v > (lim - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return true;
}

static int floordiv4(int x)
{
    return x >= 0 ? x / 4 : -((-x + 3) / 4);
}

/* [+-]digits[.digits][(e|E)[+-]digits], at least one digit: numeric_in's decimal forms. The
 * value goes in base-10000 digits aligned on the decimal point; dscale is the fraction digits
 * as written less the exponent, as numeric_in counts it (so "1.50" keeps its scale of 2). */
static bool put_numeric(sbuf *b, const char *s)
{
    bool neg = *s == '-';
    if (*s == '-' || *s == '+')
        s++;
    const char *mant = s;
    int nint = 0, nfrac = 0;
    for (; *s >= '0' && *s <= '9'; s++)
        nint++;
    const char *frac = s + 1;
    if (*s == '.')
        for (s++; *s >= '0' && *s <= '9'; s++)
            nfrac++;
    if (nint + nfrac == 0 || nint + nfrac > NUM_MAX_DIGITS)
        return false;
    int64_t exp = 0;
    if (*s == 'e' || *s == 'E') {
        if (!read_int(s + 1, -NUM_MAX_DIGITS, NUM_MAX_DIGITS, &exp))
            return false;
        s += strlen(s);
    }
    if (*s)
        return false;
    /* the digits as one string d[0..nd): the integer part, then the fraction */
    int nd = nint + nfrac;
    char d[NUM_MAX_DIGITS];
    memcpy(d, mant, (size_t)nint);
    memcpy(d + nint, frac, (size_t)nfrac);
    int point = nint + (int)exp; /* d[i] stands for 10^(point - 1 - i) */
    int dscale = nfrac - (int)exp;
    if (dscale < 0)
        dscale = 0;
    int first = 0, last = nd - 1;
    while (first < nd && d[first] == '0')
        first++;
    while (last >= first && d[last] == '0')
        last--;
    if (first > last) { /* zero: no digits, positive */
        put32(b, 8);
        put16(b, 0);
        put16(b, 0);
        put16(b, NUM_POS);
        put16(b, (uint16_t)dscale);
        return true;
    }
    int weight = floordiv4(point - 1 - first), low = floordiv4(point - 1 - last);
    int ndig = weight - low + 1;
    put32(b, (uint32_t)(8 + 2 * ndig));
    put16(b, (uint16_t)ndig);
    put16(b, (uint16_t)(int16_t)weight);
    put16(b, neg ? NUM_NEG : NUM_POS);
    put16(b, (uint16_t)dscale);
    for (int g = weight; g >= low; g--) {
        int v = 0;
        /* base-10000 digit g holds the decimal powers 4g+3 .. 4g */
        for (int pw = 4 * g + 3; pw >= 4 * g; pw--) {
            int i = point - 1 - pw;
            v = v * 10 + (i >= first && i <= last ? d[i] - '0' : 0);
        }
        put16(b, (uint16_t)v);
    }
    return true;
}

/* map_array_encode's literal: "{" then "NULL" or a double-quoted element (backslash escapes)
 * separated by commas, then "}". One dimension, lower bound 1, elements of type text. */
static bool put_text_array(sbuf *b, const char *s)
{
    if (*s != '{')
        return false;
    size_t at = b->len;
    put32(b, 0); /* the field's length, patched below */
    size_t head = b->len;
    put32(b, 1);        /* ndim, 0 for an empty array (below) */
    put32(b, 0);        /* has nulls, patched below */
    put32(b, TEXT_OID); /* element type */
    put32(b, 0);        /* elements, patched below */
    put32(b, 1);        /* lower bound */
    uint32_t n = 0;
    bool nulls = false;
    const char *p = s + 1;
    while (*p != '}') {
        if (strncmp(p, "NULL", 4) == 0 && (p[4] == ',' || p[4] == '}')) {
            put32(b, 0xFFFFFFFFu);
            nulls = true;
            p += 4;
        } else if (*p == '"') {
            size_t len_at = b->len;
            put32(b, 0);
            size_t start = b->len;
            const char *run = ++p;
            for (;; p++) {
                if (!*p)
                    return false;
                if (*p != '"' && *p != '\\')
                    continue;
                sbuf_append(b, run, (size_t)(p - run));
                if (*p == '"')
                    break;
                if (!*++p)
                    return false;
                run = p; /* the escaped byte starts the next run */
            }
            patch32(b, len_at, (uint32_t)(b->len - start));
            p++;
        } else {
            return false;
        }
        n++;
        if (*p == ',' && p[1] != '}')
            p++;
        else if (*p != '}')
            return false;
    }
    if (p[1])
        return false;
    if (!n) { /* an empty array has no dimensions */
        b->len = head;
        put32(b, 0);
        put32(b, 0);
        put32(b, TEXT_OID);
    } else {
        patch32(b, head + 4, nulls);
        patch32(b, head + 12, n);
    }
    patch32(b, at, (uint32_t)(b->len - head));
    return true;
}

bool cb_field(sbuf *b, cb_kind k, const char *v)
{
    if (!v) {
        put32(b, 0xFFFFFFFFu);
        return true;
    }
    int64_t x;
    switch (k) {
    case CB_TEXT: {
        size_t n = strlen(v);
        put32(b, (uint32_t)n);
        sbuf_append(b, v, n);
        return true;
    }
    case CB_JSONB: {
        size_t n = strlen(v);
        put32(b, (uint32_t)n + 1);
        sbuf_append(b, "\1", 1); /* jsonb's binary format version, then the JSON text */
        sbuf_append(b, v, n);
        return true;
    }
    case CB_BOOL: {
        bool t = !strcmp(v, "true") || !strcmp(v, "t");
        if (!t && strcmp(v, "false") && strcmp(v, "f"))
            return false;
        put32(b, 1);
        sbuf_append(b, t ? "\1" : "\0", 1);
        return true;
    }
    case CB_INT4:
        if (!read_int(v, INT32_MIN, INT32_MAX, &x))
            return false;
        put32(b, 4);
        put32(b, (uint32_t)(int32_t)x);
        return true;
    case CB_INT8:
        if (!read_int(v, INT64_MIN, INT64_MAX, &x))
            return false;
        cb_field_int8(b, x);
        return true;
    case CB_NUMERIC:
        return put_numeric(b, v);
    case CB_DATE:
        if (!read_date(v, &x) || v[10])
            return false;
        put32(b, 4);
        put32(b, (uint32_t)(int32_t)(x - PG_EPOCH_DAYS));
        return true;
    case CB_TSTZ:
        if (!read_tstz(v, &x))
            return false;
        put32(b, 8);
        put64(b, (uint64_t)(x - (int64_t)PG_EPOCH_DAYS * 86400 * 1000000));
        return true;
    case CB_TEXT_ARRAY:
        return put_text_array(b, v);
    case CB_NONE:
        break;
    }
    return false;
}

void cb_field_int8(sbuf *b, int64_t v)
{
    put32(b, 8);
    put64(b, (uint64_t)v);
}

void cb_field_tstz_ms(sbuf *b, int64_t ms)
{
    put32(b, 8);
    put64(b, (uint64_t)((ms - (int64_t)PG_EPOCH_DAYS * 86400 * 1000) * 1000));
}
