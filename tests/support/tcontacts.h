/*
 * tcontacts.h - helpers for the contacts tests: the simulator's contacts and the mirrored
 * ghl.contacts table, compared without the engine's codecs.
 *
 * tcontacts_compare reads GET /_admin/contacts (the newest versions, GET shape) and each live
 * row as to_jsonb(row), and compares key by key: the standard columns with their contact keys,
 * every custom field (its column as ghlsync.fields records it) by dataType, the timestamps as
 * instants.
 * `names`: first_name / last_name hold firstName / lastName (else their lower-case forms).
 */
#ifndef GHLSYNC_TCONTACTS_H
#define GHLSYNC_TCONTACTS_H

#include "tsim.h"

#include <libpq-fe.h>
#include <stdbool.h>

/* Number of differences (printed with "# "), 0 = equal. */
int tcontacts_compare(const tsim *s, int loc, PGconn *c, bool names);
/* A contact of the simulator's dump by id (malloc'd JSON text, NULL if none). */
char *tcontacts_get(const tsim *s, int loc, const char *id);
/* Number of the simulator's contacts of location `loc` (-1 on error). */
int tcontacts_count(const tsim *s, int loc);

#endif
