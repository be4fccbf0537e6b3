/* log.c - see log.h. */
#include "log.h"

#include "sbuf.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LOG_MAX_SECRETS 32

struct gs_log {
    FILE *out;
    enum log_level level;
    enum log_format format;
    char *secrets[LOG_MAX_SECRETS];
    int n_secrets;
};

static const char *level_names[] = {"error", "warn", "info", "debug"};
static const char *level_tags[] = {"ERROR", "WARN ", "INFO ", "DEBUG"};

gs_log *log_new(FILE *out, enum log_level level, enum log_format format)
{
    gs_log *lg = calloc(1, sizeof *lg);
    if (!lg)
        return NULL;
    lg->out = out ? out : stderr;
    lg->level = level;
    lg->format = format;
    return lg;
}

void log_free(gs_log *lg)
{
    if (!lg)
        return;
    for (int i = 0; i < lg->n_secrets; i++)
        free(lg->secrets[i]);
    free(lg);
}

void log_set_level(gs_log *lg, enum log_level level)
{
    if (lg)
        lg->level = level;
}

enum log_level log_get_level(const gs_log *lg)
{
    return lg ? lg->level : LOG_INFO;
}

void log_set_format(gs_log *lg, enum log_format format)
{
    if (lg)
        lg->format = format;
}

bool log_enabled(const gs_log *lg, enum log_level level)
{
    return level <= (lg ? lg->level : LOG_INFO);
}

void log_add_secret(gs_log *lg, const char *secret)
{
    if (!lg || !secret || strlen(secret) < 4 || lg->n_secrets == LOG_MAX_SECRETS)
        return;
    for (int i = 0; i < lg->n_secrets; i++)
        if (!strcmp(lg->secrets[i], secret))
            return;
    char *dup = strdup(secret);
    if (dup)
        lg->secrets[lg->n_secrets++] = dup;
}

/* Appends `s` to `b` with every secret replaced. Secrets are few and lines short, so a scan per
 * secret at each position is cheap enough and keeps this obviously correct. */
static void append_redacted(const gs_log *lg, sbuf *b, const char *s)
{
    if (!lg || lg->n_secrets == 0) {
        sbuf_puts(b, s);
        return;
    }
    while (*s) {
        bool hit = false;
        for (int i = 0; i < lg->n_secrets; i++) {
            size_t n = strlen(lg->secrets[i]);
            if (!strncmp(s, lg->secrets[i], n)) {
                sbuf_puts(b, "[REDACTED]");
                s += n;
                hit = true;
                break;
            }
        }
        if (!hit)
            sbuf_putc(b, *s++);
    }
}

void log_redact(const gs_log *lg, const char *s, char *out, size_t len)
{
    if (!len)
        return;
    sbuf b = SBUF_INIT;
    append_redacted(lg, &b, s ? s : "");
    const char *r = sbuf_str(&b);
    size_t n = strlen(r);
    if (n >= len)
        n = len - 1;
    memcpy(out, r, n);
    out[n] = '\0';
    sbuf_free(&b);
}

static void append_json_string(sbuf *b, const char *s)
{
    sbuf_putc(b, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"':
            sbuf_puts(b, "\\\"");
            break;
        case '\\':
            sbuf_puts(b, "\\\\");
            break;
        case '\n':
            sbuf_puts(b, "\\n");
            break;
        case '\r':
            sbuf_puts(b, "\\r");
            break;
        case '\t':
            sbuf_puts(b, "\\t");
            break;
        default:
            if (*p < 0x20)
                sbuf_printf(b, "\\u%04x", *p);
            else
                sbuf_putc(b, (char)*p);
        }
    }
    sbuf_putc(b, '"');
}

/* Text values are bare when they are one plain word, else double-quoted with escapes, so that a
 * line always splits back into the same key=value pairs. */
static void append_text_value(sbuf *b, const char *s)
{
    bool bare = *s != '\0';
    for (const char *p = s; *p && bare; p++)
        if (*p == ' ' || *p == '"' || *p == '=' || *p == '\\' || (unsigned char)*p < 0x20)
            bare = false;
    if (bare)
        sbuf_puts(b, s);
    else
        append_json_string(b, s);
}

/* JSON numbers and booleans stay unquoted so that log processors can aggregate them. */
static bool looks_numeric(const char *s)
{
    if (!strcmp(s, "true") || !strcmp(s, "false"))
        return true;
    const char *p = s;
    if (*p == '-')
        p++;
    if (!(*p >= '0' && *p <= '9'))
        return false;
    if (*p == '0' && p[1] >= '0' && p[1] <= '9')
        return false;
    bool dot = false;
    for (; *p; p++) {
        if (*p == '.' && !dot)
            dot = true;
        else if (!(*p >= '0' && *p <= '9'))
            return false;
    }
    return p[-1] != '.';
}

static void timestamp(char *buf, size_t len)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, len - n, ".%03ldZ", ts.tv_nsec / 1000000);
}

static void emit(gs_log *lg, enum log_level level, const char *event, const char *msg, va_list ap)
{
    FILE *out = lg ? lg->out : stderr;
    enum log_format format = lg ? lg->format : LOG_TEXT;
    char ts[40];
    timestamp(ts, sizeof ts);
    sbuf line = SBUF_INIT, val = SBUF_INIT;
    if (format == LOG_JSON) {
        sbuf_printf(&line, "{\"ts\":\"%s\",\"level\":\"%s\",\"event\":", ts, level_names[level]);
        append_json_string(&line, event);
    } else {
        sbuf_printf(&line, "%s %s %s", ts, level_tags[level], event);
    }
    for (;;) {
        const char *k = va_arg(ap, const char *);
        if (!k)
            break;
        const char *v = va_arg(ap, const char *);
        sbuf_reset(&val);
        append_redacted(lg, &val, v ? v : "");
        if (format == LOG_JSON) {
            sbuf_putc(&line, ',');
            append_json_string(&line, k);
            sbuf_putc(&line, ':');
            if (v && looks_numeric(sbuf_str(&val)))
                sbuf_puts(&line, sbuf_str(&val));
            else if (!v)
                sbuf_puts(&line, "null");
            else
                append_json_string(&line, sbuf_str(&val));
        } else {
            sbuf_printf(&line, " %s=", k);
            append_text_value(&line, sbuf_str(&val));
        }
    }
    if (msg) {
        sbuf_reset(&val);
        append_redacted(lg, &val, msg);
        if (format == LOG_JSON) {
            sbuf_puts(&line, ",\"msg\":");
            append_json_string(&line, sbuf_str(&val));
        } else {
            sbuf_puts(&line, " msg=");
            append_text_value(&line, sbuf_str(&val));
        }
    }
    if (format == LOG_JSON)
        sbuf_putc(&line, '}');
    sbuf_putc(&line, '\n');
    if (!sbuf_failed(&line)) {
        /* One fwrite per line so that concurrent writers (threads) never interleave a line. */
        fwrite(line.data, 1, line.len, out);
        fflush(out);
    }
    sbuf_free(&line);
    sbuf_free(&val);
}

void log_event(gs_log *lg, enum log_level level, const char *event, ...)
{
    if (!log_enabled(lg, level))
        return;
    va_list ap;
    va_start(ap, event);
    emit(lg, level, event, NULL, ap);
    va_end(ap);
}

/* Wraps emit() for the message-only form: an empty va_list is built by a helper taking no
 * pairs, since a va_list cannot be constructed by hand. */
static void emit_msg_only(gs_log *lg, enum log_level level, const char *event, const char *msg, ...)
{
    va_list ap;
    va_start(ap, msg);
    emit(lg, level, event, msg, ap);
    va_end(ap);
}

void log_msgf(gs_log *lg, enum log_level level, const char *event, const char *fmt, ...)
{
    if (!log_enabled(lg, level))
        return;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    emit_msg_only(lg, level, event, msg, (const char *)NULL);
}

enum log_level log_level_parse(const char *s, bool *ok)
{
    for (int i = 0; i < 4; i++)
        if (s && !strcmp(s, level_names[i])) {
            if (ok)
                *ok = true;
            return (enum log_level)i;
        }
    if (s && !strcmp(s, "warning")) {
        if (ok)
            *ok = true;
        return LOG_WARN;
    }
    if (ok)
        *ok = false;
    return LOG_INFO;
}
