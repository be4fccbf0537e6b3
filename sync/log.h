/*
 * log.h - structured, levelled logging: one line per event, text or JSON lines.
 *
 *   text:  2026-11-24T13:45:01.123Z INFO  pull.page object=custom_objects.pet records=100
 *   json:  {"ts":"2026-11-24T13:45:01.123Z","level":"info","event":"pull.page",
 *           "object":"custom_objects.pet","records":100}
 *
 * A logger is an object owned by the application context (no global state); functions that log
 * receive it (a NULL logger writes text at INFO to stderr). Fields are given as alternating
 * key / value strings ending with NULL; values that need quoting are quoted (text) or escaped
 * (JSON) by the logger, and every registered secret is replaced by "[REDACTED]" in the message
 * and in every value before anything is written.
 */
#ifndef GHLSYNC_LOG_H
#define GHLSYNC_LOG_H

#include <stdbool.h>
#include <stdio.h>

enum log_level { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };
enum log_format { LOG_TEXT = 0, LOG_JSON = 1 };

typedef struct gs_log gs_log;

/* `out` is not closed by log_free. */
gs_log *log_new(FILE *out, enum log_level level, enum log_format format);
void log_free(gs_log *lg);
void log_set_level(gs_log *lg, enum log_level level);
enum log_level log_get_level(const gs_log *lg);
void log_set_format(gs_log *lg, enum log_format format);
bool log_enabled(const gs_log *lg, enum log_level level);

/* Register a secret (token, refresh token, client secret): never written by this logger.
 * Secrets shorter than 4 bytes are ignored (they would redact ordinary words). Register secrets
 * before other threads log: the list is not locked. */
void log_add_secret(gs_log *lg, const char *secret);

/* Copy `s` into `out` (size `len`) with every registered secret replaced. Used by code that
 * builds messages which leave the process by another path (errors stored in PostgreSQL). */
void log_redact(const gs_log *lg, const char *s, char *out, size_t len);

/* Emit one event. `event` is a dotted name (pull.page, http.retry). Then key, value pairs
 * (both const char *), terminated by NULL. Example:
 *   log_event(lg, LOG_INFO, "pull.page", "object", key, "records", "100", NULL); */
void log_event(gs_log *lg, enum log_level level, const char *event, ...) __attribute__((sentinel));

/* An event with only a free-form message field "msg", formatted printf-style. */
void log_msgf(gs_log *lg, enum log_level level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

enum log_level log_level_parse(const char *s, bool *ok);   /* "error"|"warn"|"info"|"debug" */
const char *log_level_name(enum log_level level);          /* "error" ... "debug" */
enum log_format log_format_parse(const char *s, bool *ok); /* "text"|"json" */

#endif
