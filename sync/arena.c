/*
 * arena.c - see arena.h.
 */
#include "arena.h"

#include <stdlib.h>
#include <string.h>

struct ar_block {
    ar_block *next;
    size_t cap, used;
    char data[];
};

static ar_block *block_new(size_t cap)
{
    ar_block *b = malloc(sizeof *b + cap);
    if (b) {
        b->next = NULL;
        b->cap = cap;
        b->used = 0;
    }
    return b;
}

char *ar_strndup(ar_arena *a, const char *s, size_t n)
{
    ar_block *h = a->head;
    if (!h || h->cap - h->used < n + 1) {
        size_t cap = h ? h->cap * 2 : AR_FIRST;
        if (cap > AR_MAX)
            cap = AR_MAX;
        ar_block *b;
        if (n + 1 > cap / 2) {
            /* its own block, behind the one being filled, which keeps its room */
            if (!(b = block_new(n + 1)))
                return NULL;
            a->bytes += n + 1;
            if (h) {
                b->next = h->next;
                h->next = b;
            } else {
                a->head = b;
            }
        } else {
            if (!(b = block_new(cap)))
                return NULL;
            a->bytes += cap;
            b->next = h;
            a->head = b;
        }
        h = b;
    }
    char *o = h->data + h->used;
    memcpy(o, s, n);
    o[n] = '\0';
    h->used += n + 1;
    return o;
}

void ar_adopt(ar_arena *to, ar_arena *from)
{
    if (!from->head)
        return;
    if (!to->head) {
        *to = *from;
    } else {
        /* from's blocks go behind to's head, which keeps filling */
        ar_block *last = from->head;
        while (last->next)
            last = last->next;
        last->next = to->head->next;
        to->head->next = from->head;
        to->bytes += from->bytes;
    }
    from->head = NULL;
    from->bytes = 0;
}

void ar_free(ar_arena *a)
{
    for (ar_block *b = a->head, *next; b; b = next) {
        next = b->next;
        free(b);
    }
    a->head = NULL;
    a->bytes = 0;
}
