/*
 * uesc.h - the pieces of a "\uXXXX" escape that the JSON reader (jdoc.c), the TOML reader
 * (toml.c) and the text repair (salvage.c) share: the value of a hex digit, and a code point
 * written as UTF-8.
 */
#ifndef GHLSYNC_UESC_H
#define GHLSYNC_UESC_H

#include <stddef.h>
#include <stdint.h>

/* 0-15 for 0-9, a-f, A-F; -1 for anything else (negative values included). */
int ue_hexval(int c);

/* cp (at most 0x10FFFF; the caller has refused surrogates) as 1-4 bytes of UTF-8 in out, no NUL
 * written. Returns the number of bytes. */
size_t ue_utf8(uint32_t cp, char out[4]);

#endif
