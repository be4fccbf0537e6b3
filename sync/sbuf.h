/*
 * sbuf.h - a growable byte buffer, always NUL-terminated, for building SQL, JSON and messages.
 *
 * Allocation failure is sticky: after one, `failed` is set and further appends are no-ops, so a
 * caller checks once at the end (sbuf_failed) instead of after every append.
 */
#ifndef GHLSYNC_SBUF_H
#define GHLSYNC_SBUF_H

#include <stdbool.h>
#include <stddef.h>

typedef struct sbuf {
    char *data; /* NUL-terminated; NULL until the first append */
    size_t len;
    size_t cap;
    bool failed;
} sbuf;

#define SBUF_INIT                                                                                  \
    {                                                                                              \
        NULL, 0, 0, false                                                                          \
    }

void sbuf_append(sbuf *b, const char *s, size_t n);
void sbuf_puts(sbuf *b, const char *s);
/* One byte: inline when it fits (the COPY and array encoders call it per escaped character). */
static inline void sbuf_putc(sbuf *b, char c)
{
    if (b->len + 1 < b->cap && !b->failed) {
        b->data[b->len++] = c;
        b->data[b->len] = '\0';
    } else {
        sbuf_append(b, &c, 1);
    }
}
void sbuf_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sbuf_reset(sbuf *b); /* len = 0, keeps memory */
void sbuf_free(sbuf *b);
char *sbuf_steal(sbuf *b); /* caller owns the string (never NULL unless failed) */
static inline bool sbuf_failed(const sbuf *b)
{
    return b->failed;
}
static inline const char *sbuf_str(const sbuf *b)
{
    return b->data ? b->data : "";
}

#endif
