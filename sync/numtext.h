/*
 * numtext.h - numbers as text without printf, where that is exact.
 *
 * printf's %g and %.0f format a double through multi-precision arithmetic: after the arena
 * parser it was the largest libc entry of a backfill's profile. These cover the common values
 * (integers, decimals of up to 15 significant digits) with plain integer arithmetic and give
 * the same bytes printf would; anything else is left to the caller's printf path.
 */
#ifndef GHLSYNC_NUMTEXT_H
#define GHLSYNC_NUMTEXT_H

#include <stdbool.h>
#include <stddef.h>

/* v in decimal ("-42"); buf needs 21 bytes. Returns the length. */
size_t nt_int(long long v, char *buf);

/* d as %.15g prints it, when d is m / 10^k for an integer m below 10^15 and %.15g uses fixed
 * notation (1e-4 <= |d| < 1e15): then the text reads back as d exactly. False (buf untouched)
 * for anything else, integers included. buf needs 24 bytes. */
bool nt_decimal15(double d, char *buf, size_t len);

#endif
