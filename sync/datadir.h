/*
 * datadir.h - where ghlsync finds its data files (migrations/, mappings/).
 *
 * Candidates, first match wins:
 *   1. $GHLSYNC_DATADIR
 *   2. ../share/ghlsync beside the executable (an installed binary, wherever PREFIX or a
 *      DESTDIR relocation put it)
 *   3. the working directory (a source checkout: build/rel/ghlsync run from the top)
 *   4. the data directory compiled in from PREFIX (GHLSYNC_DATADIR)
 */
#ifndef GHLSYNC_DATADIR_H
#define GHLSYNC_DATADIR_H

#include "err.h"

#include <stdbool.h>
#include <stddef.h>

/* Write to `out` the path of `rel` ("migrations" or "mappings/types.toml") under the first
 * candidate where it exists. GS_ENOTFOUND with the list of places looked at otherwise. */
int datadir_find(const char *rel, bool want_dir, char *out, size_t len, gs_err *err);

#endif
