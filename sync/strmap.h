/*
 * strmap.h - a string -> pointer hash map (open addressing, linear probing), for lookups by
 * location id (or any other key) that would otherwise scan a list of thousands of entries.
 *
 * Keys are borrowed: the caller keeps each key alive (and unchanged) while it is in the map,
 * usually because the key is a string of the value itself (e.g. a location's id). Values are
 * never NULL.
 *
 * Memory: strmap_free releases the table, not the keys or values. Threading: none (one owner).
 */
#ifndef GHLSYNC_STRMAP_H
#define GHLSYNC_STRMAP_H

#include <stddef.h>

typedef struct strmap {
    struct strmap_slot {
        const char *key;
        void *val;
    } * slot;
    size_t cap; /* 0 or a power of two */
    size_t n;
} strmap;

#define STRMAP_INIT                                                                                \
    {                                                                                              \
        NULL, 0, 0                                                                                 \
    }

/* NULL when absent. */
void *strmap_get(const strmap *m, const char *key);
/* Insert or replace. 0, or -1 when out of memory (the map is unchanged). */
int strmap_put(strmap *m, const char *key, void *val);
/* Remove the key if present. */
void strmap_del(strmap *m, const char *key);
void strmap_free(strmap *m);

#endif
