/*
 * ident.h - safe SQL identifiers derived from hostile API keys, and quoting.
 *
 * Every table and column name ghlsync creates comes from an API key (object key, field key) that
 * may hold anything: quotes, semicolons, unicode, 200-byte names, keys that differ only in case.
 * ident_sanitize() maps a key to lowercase [a-z0-9_], starting with a letter or underscore, at
 * most 63 bytes (PostgreSQL's NAMEDATALEN - 1); on truncation a short hash of the original key is
 * appended so that two long keys with a common prefix stay apart. An ident_set allocates names
 * unique within one table (or schema): on a collision the hash suffix is added too.
 *
 * Names are still always quoted (ident_quote, identical to libpq's PQescapeIdentifier for valid
 * UTF-8) so that a name like "select" is harmless. ident_quote_literal matches PQescapeLiteral
 * under standard_conforming_strings = on; it is needed for COMMENT ON, which takes no parameters.
 *
 * Memory: output buffers are caller-owned; an ident_set owns copies of the names added to it.
 */
#ifndef GHLSYNC_IDENT_H
#define GHLSYNC_IDENT_H

#include "sbuf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IDENT_MAX 63 /* bytes; PostgreSQL truncates longer identifiers silently */
#define IDENT_BUF 64

/* 32-bit FNV-1a of the bytes: stable across runs and platforms (names depend on it). */
uint32_t ident_hash(const char *s, size_t n);

/*
 * Sanitise `raw` into `out` (IDENT_BUF bytes). `fallback_prefix` (e.g. "f" or "t") is used when
 * nothing usable is left (all-unicode key) or the name would start with a digit. `reserve` bytes
 * are kept free at the end for a suffix the caller appends (e.g. "_currency"). Returns true when
 * the name had to be truncated (the caller's collision logic does not need to care: the hash is
 * already appended).
 */
bool ident_sanitize(const char *raw, const char *fallback_prefix, size_t reserve, char *out);

/* `base` shortened so that base + "_" + 8 hex digits of hash(key) + reserve fits in 63 bytes. */
void ident_with_hash(const char *base, const char *key, size_t reserve, char *out);

/* A set of names already taken in one namespace (columns of a table, tables of a schema). */
typedef struct ident_set {
    char **names;
    size_t n, cap;
} ident_set;

void ident_set_init(ident_set *s);
void ident_set_free(ident_set *s);
bool ident_set_has(const ident_set *s, const char *name);
int ident_set_add(ident_set *s, const char *name); /* 0, or GS_ENOMEM */

/*
 * Allocate a unique name for API key `key` (its human part `raw`): sanitise, and if the name (or
 * any of the `n_siblings` suffixed companions, e.g. "_currency" for money columns, which must be
 * free too) is taken, use the hashed form; as a last resort add a counter. The chosen name (and
 * its companions) are added to the set. `out` gets IDENT_BUF bytes.
 */
int ident_alloc(ident_set *s, const char *raw, const char *key, const char *fallback_prefix,
                const char *const *siblings, size_t n_siblings, char *out);

/* Append `name` quoted as an identifier: "name" with inner quotes doubled. */
void ident_quote(sbuf *b, const char *name);
/* Append `s` as a string literal: '...' with quotes doubled; if it holds a backslash the form is
 * " E'...'" with backslashes doubled too (exactly what PQescapeLiteral produces). */
void ident_quote_literal(sbuf *b, const char *s);

/* Copy `s` replacing invalid UTF-8 sequences and NUL-free control bytes < 0x20 (except \n, \t)
 * with '?': labels go into COMMENT text and PostgreSQL rejects invalid UTF-8. Caller frees. */
char *ident_clean_text(const char *s);
/* True when `s` is valid UTF-8 (what PostgreSQL accepts as text). */
bool ident_utf8_valid(const char *s);

#endif
