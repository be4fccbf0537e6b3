/*
 * jprint.h - cJSON_PrintUnformatted's bytes, faster.
 *
 * Every jsonb column of every record (contacts' `extra`, dnd settings, a custom object's
 * TEXTBOX_LIST) is printed once per pull. cJSON prints a non-integer number with sprintf
 * ("%1.15g"), reads it back with sscanf and may print it again with "%1.17g", and grows its
 * buffer by realloc; that was most of the printf and sscanf left in a backfill's profile.
 * jp_print writes the same text into one growing buffer, with integers and decimals of up to 15
 * digits formatted by hand (numtext.h) and cJSON's own rule for everything else (NaN and
 * infinities as null, 15 digits when they read back within DBL_EPSILON, else 17).
 *
 * Works on any cJSON tree, references included (arena trees from jdoc.h too).
 */
#ifndef GHLSYNC_JPRINT_H
#define GHLSYNC_JPRINT_H

#include <cjson/cJSON.h>

#include "sbuf.h"

#include <stdbool.h>

/* malloc'd text, or NULL (out of memory, or a node cJSON cannot print either). */
char *jp_print(const cJSON *v);
/* The same text appended to b; false as jp_print's NULL (b then holds part of it). */
bool jp_print_to(sbuf *b, const cJSON *v);
/* A JSON string (quotes and escapes as cJSON prints them) appended to b. */
void jp_print_string(sbuf *b, const char *s);

#endif
