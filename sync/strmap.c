/* strmap.c - see strmap.h. */
#include "strmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static size_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a, 64 bits */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return (size_t)(h ^ (h >> 29));
}

static struct strmap_slot *find(const strmap *m, const char *key)
{
    size_t mask = m->cap - 1;
    for (size_t i = hash(key) & mask;; i = (i + 1) & mask) {
        struct strmap_slot *s = &m->slot[i];
        if (!s->key || strcmp(s->key, key) == 0)
            return s;
    }
}

void *strmap_get(const strmap *m, const char *key)
{
    if (!m->cap)
        return NULL;
    return find(m, key)->val;
}

/* At most half full, so a probe always ends at an empty slot. */
static int grow(strmap *m)
{
    size_t cap = m->cap ? m->cap * 2 : 16;
    strmap old = *m;
    m->slot = calloc(cap, sizeof *m->slot);
    if (!m->slot) {
        *m = old;
        return -1;
    }
    m->cap = cap;
    for (size_t i = 0; i < old.cap; i++)
        if (old.slot[i].key)
            *find(m, old.slot[i].key) = old.slot[i];
    free(old.slot);
    return 0;
}

int strmap_put(strmap *m, const char *key, void *val)
{
    if ((m->n + 1) * 2 > m->cap && grow(m) != 0)
        return -1;
    struct strmap_slot *s = find(m, key);
    if (!s->key)
        m->n++;
    s->key = key;
    s->val = val;
    return 0;
}

void strmap_del(strmap *m, const char *key)
{
    if (!m->cap)
        return;
    struct strmap_slot *s = find(m, key);
    if (!s->key)
        return;
    /* backward shift: move up every later entry of the probe run that may sit in the hole */
    size_t mask = m->cap - 1, hole = (size_t)(s - m->slot);
    for (size_t i = (hole + 1) & mask; m->slot[i].key; i = (i + 1) & mask) {
        size_t home = hash(m->slot[i].key) & mask;
        /* the entry stays when its home lies cyclically in (hole, i] */
        if (((i - home) & mask) < ((i - hole) & mask))
            continue;
        m->slot[hole] = m->slot[i];
        hole = i;
    }
    m->slot[hole].key = NULL;
    m->slot[hole].val = NULL;
    m->n--;
}

void strmap_free(strmap *m)
{
    free(m->slot);
    m->slot = NULL;
    m->cap = m->n = 0;
}
