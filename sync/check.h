/*
 * check.h - online checks for `ghlsync check --online`: does the database answer, does the
 * HighLevel API accept each location's token?
 *
 * Each check is one blocking round trip (no event loop: it is a one-shot diagnostic). Messages
 * are redacted with the logger's secrets before they are stored in `err`.
 */
#ifndef GHLSYNC_CHECK_H
#define GHLSYNC_CHECK_H

#include "config.h"
#include "err.h"
#include "log.h"

#include <stddef.h>

/* Connect with cfg->database.url and run SELECT 1. On success writes the server version
 * ("PostgreSQL 16.4") to `detail`. Failure: GS_EDB with libpq's reason. */
int chk_database(const struct cfg *c, const gs_log *lg, char *detail, size_t len, gs_err *err);

/* GET {base_url}/objects/?locationId=ID with the location's token and the Version header.
 * Any 2xx -> 0. Otherwise GS_EHTTP with "token rejected (HTTP 401)", "HTTP 403: ...", or the
 * transport error. *http_status is the status (0 when no response). */
int chk_api(const struct cfg *c, const struct cfg_location *loc, const gs_log *lg,
            long *http_status, gs_err *err);

#endif
