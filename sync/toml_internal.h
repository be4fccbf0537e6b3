/*
 * toml_internal.h - private node layout shared by toml.c and toml_json.c.
 *
 * Every toml_value handed out by the parser is the first member of a toml_node, which carries
 * what the parser needs to enforce TOML's redefinition rules and a hash index for key lookup.
 * Nodes are allocated only by the parser; toml_free() releases a whole tree.
 */
#ifndef GHLSYNC_TOML_INTERNAL_H
#define GHLSYNC_TOML_INTERNAL_H

#include "toml.h"

enum {
    TOML_F_IMPLICIT = 1 << 0, /* table created as a parent by a [a.b] header */
    TOML_F_HEADER = 1 << 1,   /* table defined by a [header] or a [[header]] element */
    TOML_F_DOTTED = 1 << 2,   /* table created by a dotted key (a.b = 1) */
    TOML_F_INLINE = 1 << 3,   /* inline table or static array: immutable once parsed */
    TOML_F_AOT = 1 << 4,      /* array created by [[header]] */
};

typedef struct toml_node {
    toml_value v; /* must stay first: a toml_value * is a toml_node * */
    unsigned flags;
    int depth;
    size_t cap;     /* allocated slots of arr.items or tab.keys/vals/klens */
    size_t *klens;  /* tables: byte length of each key (keys may contain NUL) */
    uint32_t *hidx; /* tables with many keys: open-addressing index, slot = key index + 1 */
    size_t hcap;    /* slots in hidx (power of two) or 0 */
} toml_node;

#endif
