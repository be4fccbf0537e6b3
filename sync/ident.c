/* ident.c - see ident.h. */
#include "ident.h"

#include "err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint32_t ident_hash(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 16777619u;
    }
    return h;
}

void ident_with_hash(const char *base, const char *key, size_t reserve, char *out)
{
    size_t room = IDENT_MAX - reserve - 9; /* "_" + 8 hex digits */
    size_t n = strlen(base);
    if (n > room)
        n = room;
    while (n > 0 && base[n - 1] == '_')
        n--;
    memcpy(out, base, n);
    snprintf(out + n, IDENT_BUF - n, "_%08x", ident_hash(key, strlen(key)));
}

bool ident_sanitize(const char *raw, const char *fallback_prefix, size_t reserve, char *out)
{
    /* Build the full sanitised name first (unbounded), then decide about truncation, so that
     * the truncation test sees the real length. */
    size_t rl = strlen(raw);
    char *tmp = malloc(rl + strlen(fallback_prefix) + 3);
    if (!tmp) {
        snprintf(out, IDENT_BUF, "%s", fallback_prefix);
        return false;
    }
    size_t n = 0;
    for (size_t i = 0; i < rl; i++) {
        unsigned char c = (unsigned char)raw[i];
        char o;
        if (c >= 'A' && c <= 'Z')
            o = (char)(c - 'A' + 'a');
        else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
            o = (char)c;
        else
            o = '_';
        if (o == '_' && (n == 0 || tmp[n - 1] == '_'))
            continue; /* no leading underscores, no runs */
        tmp[n++] = o;
    }
    while (n > 0 && tmp[n - 1] == '_')
        n--;
    tmp[n] = '\0';
    if (n == 0 || (tmp[0] >= '0' && tmp[0] <= '9')) {
        size_t pl = strlen(fallback_prefix);
        memmove(tmp + pl + (n ? 1 : 0), tmp, n + 1);
        memcpy(tmp, fallback_prefix, pl);
        if (n)
            tmp[pl] = '_';
        n = strlen(tmp);
    }
    bool truncated = n + reserve > IDENT_MAX;
    if (truncated)
        ident_with_hash(tmp, raw, reserve, out);
    else
        memcpy(out, tmp, n + 1);
    free(tmp);
    return truncated;
}

void ident_set_init(ident_set *s)
{
    memset(s, 0, sizeof *s);
}

void ident_set_free(ident_set *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->names[i]);
    free(s->names);
    memset(s, 0, sizeof *s);
}

bool ident_set_has(const ident_set *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->names[i], name) == 0)
            return true;
    return false;
}

int ident_set_add(ident_set *s, const char *name)
{
    if (ident_set_has(s, name))
        return 0;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        char **nn = realloc(s->names, cap * sizeof *nn);
        if (!nn)
            return GS_ENOMEM;
        s->names = nn;
        s->cap = cap;
    }
    char *d = strdup(name);
    if (!d)
        return GS_ENOMEM;
    s->names[s->n++] = d;
    return 0;
}

static bool taken(const ident_set *s, const char *name, const char *const *sib, size_t nsib)
{
    if (ident_set_has(s, name))
        return true;
    char buf[IDENT_BUF * 2];
    for (size_t i = 0; i < nsib; i++) {
        snprintf(buf, sizeof buf, "%s%s", name, sib[i]);
        if (ident_set_has(s, buf))
            return true;
    }
    return false;
}

int ident_alloc(ident_set *s, const char *raw, const char *key, const char *fallback_prefix,
                const char *const *siblings, size_t n_siblings, char *out)
{
    size_t reserve = 0;
    for (size_t i = 0; i < n_siblings; i++)
        if (strlen(siblings[i]) > reserve)
            reserve = strlen(siblings[i]);
    char cand[IDENT_BUF];
    ident_sanitize(raw, fallback_prefix, reserve, cand);
    if (taken(s, cand, siblings, n_siblings)) {
        char hashed[IDENT_BUF];
        ident_with_hash(cand, key, reserve, hashed);
        memcpy(cand, hashed, sizeof cand);
        /* A hash collision as well: count up. Bounded because the set is finite. */
        for (unsigned i = 2; taken(s, cand, siblings, n_siblings); i++) {
            char num[16];
            int nl = snprintf(num, sizeof num, "_%u", i);
            size_t room = IDENT_MAX - reserve - (size_t)nl;
            size_t hl = strlen(hashed);
            if (hl > room)
                hl = room;
            memcpy(cand, hashed, hl);
            memcpy(cand + hl, num, (size_t)nl + 1);
        }
    }
    memcpy(out, cand, IDENT_BUF);
    int rc = ident_set_add(s, cand);
    char buf[IDENT_BUF * 2];
    for (size_t i = 0; rc == 0 && i < n_siblings; i++) {
        snprintf(buf, sizeof buf, "%s%s", cand, siblings[i]);
        rc = ident_set_add(s, buf);
    }
    return rc;
}

void ident_quote(sbuf *b, const char *name)
{
    sbuf_putc(b, '"');
    for (const char *p = name; *p; p++) {
        if (*p == '"')
            sbuf_putc(b, '"');
        sbuf_putc(b, *p);
    }
    sbuf_putc(b, '"');
}

void ident_quote_literal(sbuf *b, const char *s)
{
    if (strchr(s, '\\'))
        sbuf_puts(b, " E");
    sbuf_putc(b, '\'');
    for (const char *p = s; *p; p++) {
        if (*p == '\'' || *p == '\\')
            sbuf_putc(b, *p);
        sbuf_putc(b, *p);
    }
    sbuf_putc(b, '\'');
}

/* Length of the valid UTF-8 sequence at p (1..4), or 0 when invalid. */
static size_t utf8_len(const unsigned char *p)
{
    unsigned char c = p[0];
    if (c < 0x80)
        return 1;
    size_t n;
    unsigned cp;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

bool ident_utf8_valid(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t l; *p; p += l)
        if ((l = utf8_len(p)) == 0)
            return false;
    return true;
}

char *ident_clean_text(const char *s)
{
    size_t n = strlen(s);
    char *o = malloc(n + 1);
    if (!o)
        return NULL;
    const unsigned char *p = (const unsigned char *)s;
    size_t j = 0;
    while (*p) {
        size_t l = utf8_len(p);
        if (l == 0 || (l == 1 && *p < 0x20 && *p != '\n' && *p != '\t')) {
            o[j++] = '?';
            p++;
            continue;
        }
        memcpy(o + j, p, l);
        j += l;
        p += l;
    }
    o[j] = '\0';
    return o;
}
