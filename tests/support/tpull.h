/*
 * tpull.h - helpers for the pull tests: a sync.toml for a running simulator, running the real
 * ghlsync binary, and comparing the mirrored tables with the simulator's admin dump.
 *
 * tpull_compare decodes both sides through the codecs (mapping.h): each dumped record goes
 * through map_record_to_row then map_decode_field; each row's column texts through
 * map_decode_field; the JSON values must be equal, field by field, and the set of live rows
 * (_deleted_at IS NULL) of each location must be exactly the dumped records.
 */
#ifndef GHLSYNC_TPULL_H
#define GHLSYNC_TPULL_H

#include "tsim.h"

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Write DIR/sync.toml for the simulator's locations (all of them) and the database `conninfo`.
 * `extra` is appended verbatim (e.g. "[pull]\npoll_interval = \"1s\"\n"); the [pull] table is
 * written only from extra. Returns the path in `path`. */
bool tpull_config(const tsim *s, const char *conninfo, const char *extra, char *path, size_t len);
/* Same, with more keys of the [database] table (e.g. "pooler = \"transaction\"\n"). */
bool tpull_config_db(const tsim *s, const char *conninfo, const char *db_extra, const char *extra,
                     char *path, size_t len);

/* For a fake API (tfake.h) rather than the simulator: a fresh directory under test_tmpdir()
 * with a file "token" (mode 0600) holding `token` and a sync.toml holding `toml`, which names it
 * as token_file = "token". Returns the sync.toml's path in `path`. */
bool tpull_write_config(const char *token, const char *toml, char *path, size_t len);

/* The whole file at `path` (malloc'd; "" when it cannot be read, NULL only without memory). */
char *tpull_slurp(const char *path);

/* Start $GHLSYNC_BIN -c CONFIG ARGS... (NULL-terminated) with GHLSYNC_DATADIR=$GHLSYNC_TOP;
 * stderr to `log` (appended; may be NULL = inherit). Returns the pid or -1. */
pid_t tpull_spawn(const char *config, const char *const *args, const char *log);
/* Wait up to timeout_ms; returns the exit status (0..255), 128+signal, or -1 on timeout (the
 * process is then killed). */
int tpull_wait(pid_t pid, int timeout_ms);
/* spawn + wait */
int tpull_run(const char *config, const char *const *args, const char *log, int timeout_ms);

/* Compare every location / object with records (custom objects, business) of the dump. Prints
 * the first differences with "# " and returns the number of differences (0 = equal). */
int tpull_compare(const tsim *s, PGconn *c, const char *schema);

/* Poll `sql` (a scalar query) until it returns `want` or timeout; true when it did. */
bool tpull_wait_scalar(PGconn *c, const char *sql, const char *want, int timeout_ms);

long tpull_now_ms(void);

#endif
