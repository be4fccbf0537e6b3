/* jdoc.c - JSON into a cJSON-shaped tree held in an arena (jdoc.h says why and what). */
#include "jdoc.h"

#include "uesc.h"

#include <float.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* cJSON's CJSON_NESTING_LIMIT: deeper input is refused by both, so the fallback agrees. */
#define JD_DEPTH_LIMIT 1000
/* Blocks grow by doubling up to this size; one larger request gets a block of its own size. */
#define JD_BLOCK_MAX ((size_t)4 << 20)
/* The largest block a cache keeps (a page of 1,000 records needs a few MiB). */
#define JD_CACHE_MAX ((size_t)16 << 20)

struct jd_block {
    struct jd_block *next;
    size_t used, cap;
    max_align_t data[];
};

struct jd_doc {
    struct jd_block *blocks;
    cJSON *root;
    size_t bytes;
    jd_cache *cache;
};

typedef struct {
    const unsigned char *p, *end, *start;
    jd_doc *d;
    int depth;
    bool nomem;
} jd_parser;

/* Bytes that end the plain run of a string: the quote, the backslash, and the control bytes
 * (refused in strings: the cJSON fallback decides what to do with them). */
static const unsigned char str_stop[256] = {
    [0] = 1,  [1] = 1,  [2] = 1,  [3] = 1,  [4] = 1,  [5] = 1,   [6] = 1,    [7] = 1,  [8] = 1,
    [9] = 1,  [10] = 1, [11] = 1, [12] = 1, [13] = 1, [14] = 1,  [15] = 1,   [16] = 1, [17] = 1,
    [18] = 1, [19] = 1, [20] = 1, [21] = 1, [22] = 1, [23] = 1,  [24] = 1,   [25] = 1, [26] = 1,
    [27] = 1, [28] = 1, [29] = 1, [30] = 1, [31] = 1, ['"'] = 1, ['\\'] = 1,
};

static void *arena_alloc(jd_parser *ps, size_t n)
{
    jd_doc *d = ps->d;
    n = (n + (sizeof(max_align_t) - 1)) & ~(sizeof(max_align_t) - 1);
    struct jd_block *b = d->blocks;
    if (!b || b->cap - b->used < n) {
        size_t cap = b ? (b->cap < JD_BLOCK_MAX ? b->cap * 2 : JD_BLOCK_MAX) : 4096;
        if (cap < n)
            cap = n;
        struct jd_block *nb = malloc(sizeof *nb + cap);
        if (!nb) {
            ps->nomem = true;
            return NULL;
        }
        nb->next = b;
        nb->used = 0;
        nb->cap = cap;
        d->blocks = nb;
        d->bytes += cap;
        b = nb;
    }
    void *r = (char *)b->data + b->used;
    b->used += n;
    return r;
}

static cJSON *new_node(jd_parser *ps, int type)
{
    cJSON *n = arena_alloc(ps, sizeof *n);
    if (n) {
        memset(n, 0, sizeof *n);
        n->type = type;
    }
    return n;
}

static void skip_ws(jd_parser *ps)
{
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\n' || *ps->p == '\r' || *ps->p == '\t'))
        ps->p++;
}

static int hex4(const unsigned char *p, const unsigned char *end, unsigned *out)
{
    if (end - p < 4)
        return -1;
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        int h = ue_hexval(p[i]);
        if (h < 0)
            return -1;
        v = v << 4 | (unsigned)h;
    }
    *out = v;
    return 0;
}

/* The string at ps->p (its opening quote), decoded into the arena. */
static char *parse_string(jd_parser *ps)
{
    const unsigned char *s = ++ps->p, *p = s, *end = ps->end;
    /* eight bytes at a time while none is a quote, a backslash or a control byte (the lowest
     * flagged byte of each test is always a real one; the byte loop then finds it) */
    const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    while (end - p >= 8) {
        uint64_t x, q, b;
        memcpy(&x, p, 8);
        q = x ^ (ones * '"');
        b = x ^ (ones * '\\');
        if ((((q - ones) & ~q) | ((b - ones) & ~b) | ((x - ones * 0x20) & ~x)) & highs)
            break;
        p += 8;
    }
    while (p < end && !str_stop[*p])
        p++;
    if (p < end && *p == '"') {
        size_t n = (size_t)(p - s);
        char *o = arena_alloc(ps, n + 1);
        if (!o)
            return NULL;
        memcpy(o, s, n);
        o[n] = '\0';
        ps->p = p + 1;
        return o;
    }
    /* Escapes: find the closing quote first; decoded text is never longer than the raw. */
    const unsigned char *q = p;
    while (q < end && *q != '"') {
        if (*q < 0x20)
            return NULL;
        q += *q == '\\' ? 2 : 1;
    }
    if (q >= end)
        return NULL;
    char *o = arena_alloc(ps, (size_t)(q - s) + 1), *w = o;
    if (!o)
        return NULL;
    memcpy(w, s, (size_t)(p - s));
    w += p - s;
    while (p < q) {
        if (*p != '\\') {
            *w++ = (char)*p++;
            continue;
        }
        p++;
        unsigned char c = *p++;
        switch (c) {
        case '"':
        case '\\':
        case '/':
            *w++ = (char)c;
            break;
        case 'b':
            *w++ = '\b';
            break;
        case 'f':
            *w++ = '\f';
            break;
        case 'n':
            *w++ = '\n';
            break;
        case 'r':
            *w++ = '\r';
            break;
        case 't':
            *w++ = '\t';
            break;
        case 'u': {
            unsigned cp, lo;
            if (hex4(p, q, &cp))
                return NULL;
            p += 4;
            /* \u0000 would cut the C string: left to the fallback (salvage repairs it first) */
            if (cp == 0 || (cp >= 0xDC00 && cp <= 0xDFFF))
                return NULL;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (q - p < 6 || p[0] != '\\' || p[1] != 'u' || hex4(p + 2, q, &lo) ||
                    lo < 0xDC00 || lo > 0xDFFF)
                    return NULL;
                p += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            w += ue_utf8(cp, w);
            break;
        }
        default:
            return NULL;
        }
    }
    *w = '\0';
    ps->p = q + 1;
    return o;
}

static const double pow10_exact[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                     1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                     1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* One digit into the significand: leading zeros are not significant; past 19 digits the value
 * goes to strtod anyway, so the significand stops growing. */
static void take_digit(unsigned char c, uint64_t *mant, int *sig)
{
    if (*sig || c != '0') {
        if (*sig < 19)
            *mant = *mant * 10 + (uint64_t)(c - '0');
        (*sig)++;
    }
}

/* A number in RFC 8259's grammar. Up to 15 significant digits and a decimal exponent of at most
 * 22 either way, the value is one correctly rounded operation on two exact doubles, which is
 * what strtod returns; anything else goes to strtod itself. */
static bool parse_number(jd_parser *ps, double *out)
{
    const unsigned char *s = ps->p, *p = s, *end = ps->end;
    bool neg = false;
    if (p < end && *p == '-') {
        neg = true;
        p++;
    }
    if (p >= end)
        return false;
    uint64_t mant = 0;
    int sig = 0, frac = 0;
    if (*p == '0') {
        p++;
    } else if (is_digit(*p)) {
        while (p < end && is_digit(*p))
            take_digit(*p++, &mant, &sig);
    } else {
        return false;
    }
    if (p < end && *p == '.') {
        p++;
        if (p >= end || !is_digit(*p))
            return false;
        while (p < end && is_digit(*p)) {
            take_digit(*p++, &mant, &sig);
            frac++;
        }
    }
    long ex = 0;
    bool ex_big = false;
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        bool eneg = false;
        if (p < end && (*p == '+' || *p == '-'))
            eneg = *p++ == '-';
        if (p >= end || !is_digit(*p))
            return false;
        while (p < end && is_digit(*p)) {
            if (ex < 100000)
                ex = ex * 10 + (*p - '0');
            else
                ex_big = true;
            p++;
        }
        if (eneg)
            ex = -ex;
    }
    ps->p = p;
    long e10 = ex - frac;
    double v;
#if FLT_EVAL_METHOD == 0
    if (sig == 0) {
        v = 0.0;
    } else if (sig <= 15 && !ex_big && e10 >= -22 && e10 <= 22) {
        double m = (double)mant;
        v = e10 < 0 ? m / pow10_exact[-e10] : m * pow10_exact[e10];
    } else
#endif
    {
        size_t n = (size_t)(p - s);
        char buf[128];
        char *t = n < sizeof buf ? buf : malloc(n + 1);
        if (!t) {
            ps->nomem = true;
            return false;
        }
        memcpy(t, s, n);
        t[n] = '\0';
        char *stop;
        v = strtod(t, &stop);
        bool whole = stop == t + n;
        if (t != buf)
            free(t);
        if (!whole)
            return false;
        *out = v;
        return true;
    }
    *out = neg ? -v : v;
    return true;
}

static bool literal(jd_parser *ps, const char *word, size_t n)
{
    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0)
        return false;
    ps->p += n;
    return true;
}

static cJSON *parse_value(jd_parser *ps);

/* The members (or elements) of an object (array) at ps->p, its opening bracket. */
static cJSON *parse_container(jd_parser *ps, bool object)
{
    if (ps->depth >= JD_DEPTH_LIMIT)
        return NULL;
    ps->depth++;
    ps->p++;
    cJSON *node = new_node(ps, object ? cJSON_Object : cJSON_Array), *tail = NULL;
    if (!node)
        return NULL;
    unsigned char close = object ? '}' : ']';
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == close) {
        ps->p++;
        ps->depth--;
        return node;
    }
    for (;;) {
        char *key = NULL;
        if (object) {
            if (ps->p >= ps->end || *ps->p != '"' || !(key = parse_string(ps)))
                return NULL;
            skip_ws(ps);
            if (ps->p >= ps->end || *ps->p != ':')
                return NULL;
            ps->p++;
            skip_ws(ps);
        }
        cJSON *v = parse_value(ps);
        if (!v)
            return NULL;
        v->string = key;
        if (tail) {
            tail->next = v;
            v->prev = tail;
        } else {
            node->child = v;
        }
        tail = v;
        skip_ws(ps);
        if (ps->p >= ps->end)
            return NULL;
        if (*ps->p == ',') {
            ps->p++;
            skip_ws(ps);
            continue;
        }
        if (*ps->p != close)
            return NULL;
        ps->p++;
        break;
    }
    /* as cJSON links them: the head's prev is the tail, so appends stay O(1) */
    node->child->prev = tail;
    ps->depth--;
    return node;
}

static cJSON *parse_value(jd_parser *ps)
{
    if (ps->p >= ps->end)
        return NULL;
    cJSON *n;
    switch (*ps->p) {
    case '{':
        return parse_container(ps, true);
    case '[':
        return parse_container(ps, false);
    case '"': {
        char *s = parse_string(ps);
        if (!s || !(n = new_node(ps, cJSON_String)))
            return NULL;
        n->valuestring = s;
        return n;
    }
    case 't':
        if (!literal(ps, "true", 4) || !(n = new_node(ps, cJSON_True)))
            return NULL;
        n->valueint = 1;
        return n;
    case 'f':
        return literal(ps, "false", 5) ? new_node(ps, cJSON_False) : NULL;
    case 'n':
        return literal(ps, "null", 4) ? new_node(ps, cJSON_NULL) : NULL;
    default: {
        double v;
        if (!parse_number(ps, &v) || !(n = new_node(ps, cJSON_Number)))
            return NULL;
        n->valuedouble = v;
        n->valueint = v >= INT_MAX ? INT_MAX : v <= (double)INT_MIN ? INT_MIN : (int)v;
        return n;
    }
    }
}

int jd_parse(const char *text, size_t len, jd_cache *cache, jd_doc **out, gs_err *e)
{
    *out = NULL;
    jd_doc *d = calloc(1, sizeof *d);
    if (!d)
        return gs_err_set(e, GS_ENOMEM, "out of memory");
    jd_parser ps = {.p = (const unsigned char *)text,
                    .end = (const unsigned char *)text + len,
                    .start = (const unsigned char *)text,
                    .d = d};
    d->cache = cache;
    /* A node is 64 bytes and a short value takes a few bytes of text: a page of records needs
     * about 4 to 8 times its text. Start at 4, or with the cached block when it is as large. */
    size_t want = len * 4 + 4096;
    struct jd_block *cb = cache ? cache->block : NULL;
    if (cb && cb->cap >= want) {
        cache->block = NULL;
        cb->next = NULL;
        cb->used = 0;
        d->blocks = cb;
        d->bytes = cb->cap;
    } else if (len > 0 && !arena_alloc(&ps, want)) {
        jd_free(d);
        return gs_err_set(e, GS_ENOMEM, "out of memory");
    }
    if (d->blocks)
        d->blocks->used = 0;
    skip_ws(&ps);
    d->root = parse_value(&ps);
    skip_ws(&ps);
    if (!d->root || ps.p != ps.end) {
        bool nomem = ps.nomem;
        size_t at = (size_t)(ps.p - ps.start);
        jd_free(d);
        return nomem ? gs_err_set(e, GS_ENOMEM, "out of memory")
                     : gs_err_set(e, GS_EPARSE, "JSON not read at byte %zu", at);
    }
    *out = d;
    return 0;
}

cJSON *jd_root(const jd_doc *d)
{
    return d ? d->root : NULL;
}

size_t jd_bytes(const jd_doc *d)
{
    return d ? d->bytes : 0;
}

void jd_free(jd_doc *d)
{
    if (!d)
        return;
    /* the largest block goes back to the cache (if it has none as large), the rest is freed */
    struct jd_block *keep = NULL;
    for (struct jd_block *b = d->blocks, *next; b; b = next) {
        next = b->next;
        if (d->cache && b->cap <= JD_CACHE_MAX && (!keep || b->cap > keep->cap)) {
            free(keep);
            keep = b;
        } else {
            free(b);
        }
    }
    if (keep) {
        struct jd_block *old = d->cache->block;
        if (old && old->cap >= keep->cap) {
            free(keep);
        } else {
            free(old);
            d->cache->block = keep;
        }
    }
    free(d);
}

void jd_cache_clear(jd_cache *c)
{
    if (c) {
        free(c->block);
        c->block = NULL;
    }
}
