/*
 * jdoc.h - a JSON answer parsed into a read-only cJSON tree that lives in one arena.
 *
 * Why: on a backfill, cJSON's parser and cJSON_Delete were 40 % of ghlsync's CPU, most of it in
 * malloc and free (one allocation per value and one per string, then as many frees). A search
 * page is read once and thrown away whole, so its nodes and strings can come from a few large
 * blocks that are freed together.
 *
 * The tree is made of ordinary `cJSON` nodes, linked exactly as cJSON_Parse links them (the first
 * child's `prev` is the last child, numbers carry valuedouble and the saturated valueint, true
 * has valueint 1), so every read-only cJSON function works on it: cJSON_GetObjectItem*,
 * cJSON_GetArraySize, cJSON_Is*, cJSON_Print*, cJSON_Duplicate, cJSON_Create*Reference. What it
 * does not allow: cJSON_Delete, Detach, Replace or SetValuestring on any node of it, or adding
 * one of its nodes (not a reference) to another tree. Keep what must outlive the document as a
 * copy (cJSON_Duplicate, strdup).
 *
 * What is accepted: RFC 8259 JSON, one value with optional whitespace around it. Anything else
 * (a UTF-8 BOM, trailing text, a raw control byte or \u0000 in a string, a number such as "01"
 * or "1.", nesting deeper than cJSON's 1000 levels) is refused with GS_EPARSE. The caller then
 * falls back to cJSON_ParseWithLength, so an answer is never read more strictly than before;
 * the fast path only has to be exact where it accepts. Numbers read as strtod reads them (the
 * exact fast path for up to 15 significant digits and powers of ten up to 22, strtod beyond).
 *
 * Threading: none; a document belongs to its caller.
 */
#ifndef GHLSYNC_JDOC_H
#define GHLSYNC_JDOC_H

#include "err.h"

#include <cjson/cJSON.h>
#include <stddef.h>

typedef struct jd_doc jd_doc;

/* One arena block kept between documents by its owner (an API client: one per loop, never
 * shared between threads). A page's block is then reused while it is still in the cache, instead
 * of a fresh one whose pages the kernel must fault in and zero, and the heap is not cut into
 * holes of every page's size (peak RSS grew with the number of pages without it). */
typedef struct jd_cache {
    void *block;
} jd_cache;

/* Parses text[0, len) (no NUL needed). 0 and *out, GS_EPARSE (message with the byte offset) or
 * GS_ENOMEM; *out is NULL on failure. `cache` (may be NULL) lends its block and takes one back
 * when the document is freed; it must outlive the document. */
int jd_parse(const char *text, size_t len, jd_cache *cache, jd_doc **out, gs_err *e);

/* Frees the cached block. */
void jd_cache_clear(jd_cache *c);

/* The document's root value; valid until jd_free. */
cJSON *jd_root(const jd_doc *d);

/* Bytes of arena held (for tests and benchmarks). */
size_t jd_bytes(const jd_doc *d);

void jd_free(jd_doc *d);

#endif
