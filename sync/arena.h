/*
 * arena.h - strings that live and die together: a bump allocator over a few large blocks.
 *
 * Why: a search page becomes tens of thousands of column values (pullstore.c), each read a few
 * times and all dropped with the page. One malloc and one free per value were a fifth of a
 * backfill's CPU in ghlsync; here a value costs a pointer bump and the page frees a handful of
 * blocks.
 *
 * Blocks start at AR_FIRST bytes and double up to AR_MAX; a string larger than half a block gets
 * a block of its own. An arena is a plain struct ({0} is empty) that may be moved by value.
 *
 * Threading: none; an arena belongs to its owner.
 */
#ifndef GHLSYNC_ARENA_H
#define GHLSYNC_ARENA_H

#include <stddef.h>

typedef struct ar_block ar_block;

typedef struct ar_arena {
    ar_block *head; /* the block being filled; older ones follow it */
    size_t bytes;   /* bytes of all blocks */
} ar_arena;

#define AR_INIT                                                                                    \
    {                                                                                              \
        0                                                                                          \
    }
#define AR_FIRST ((size_t)16 << 10)
#define AR_MAX   ((size_t)1 << 20)

/* s[0, n) and a NUL, in the arena; NULL when out of memory. */
char *ar_strndup(ar_arena *a, const char *s, size_t n);
/* `from`'s blocks become `to`'s (from is empty after): two pages merged keep both. */
void ar_adopt(ar_arena *to, ar_arena *from);
void ar_free(ar_arena *a);

#endif
