/* log.c - see log.h. */
#include "log.h"

#include "sbuf.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Secrets are kept longest first, so that when one secret is a prefix of another the longer is
 * matched and no tail of it is left in the clear. The list grows without bound: a fixed cap
 * would silently stop redacting the 33rd location's token. */
struct gs_log {
    FILE *out;
    enum log_level level;
    enum log_format format;
    char **secrets;
    int n_secrets;
    int cap_secrets;
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
    free(lg->secrets);
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
    if (!lg || !secret || strlen(secret) < 4)
        return;
    for (int i = 0; i < lg->n_secrets; i++)
        if (!strcmp(lg->secrets[i], secret))
            return;
    if (lg->n_secrets == lg->cap_secrets) {
        int cap = lg->cap_secrets ? 2 * lg->cap_secrets : 8;
        char **n = realloc(lg->secrets, (size_t)cap * sizeof *n);
        if (!n)
            return;
        lg->secrets = n;
        lg->cap_secrets = cap;
    }
    char *dup = strdup(secret);
    if (!dup)
        return;
    size_t len = strlen(dup);
    int at = lg->n_secrets;
    while (at > 0 && strlen(lg->secrets[at - 1]) < len) {
        lg->secrets[at] = lg->secrets[at - 1];
        at--;
    }
    lg->secrets[at] = dup;
    lg->n_secrets++;
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

/* Length of the well-formed UTF-8 sequence starting at p (lead byte >= 0x80), 0 if malformed
 * (overlong forms, surrogates and code points above U+10FFFF included). */
static size_t utf8_len(const unsigned char *p)
{
    size_t n;
    unsigned min;
    unsigned cp;
    if (p[0] >= 0xc2 && p[0] <= 0xdf) {
        n = 2;
        cp = p[0] & 0x1f;
        min = 0x80;
    } else if (p[0] >= 0xe0 && p[0] <= 0xef) {
        n = 3;
        cp = p[0] & 0x0f;
        min = 0x800;
    } else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
        n = 4;
        cp = p[0] & 0x07;
        min = 0x10000;
    } else {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

/* Values come from the API and from PostgreSQL and may hold any bytes; a JSON line must stay
 * valid whatever they hold, so malformed UTF-8 becomes U+FFFD. */
static void append_json_string(sbuf *b, const char *s)
{
    sbuf_putc(b, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p >= 0x80) {
            size_t n = utf8_len(p);
            if (n) {
                sbuf_append(b, (const char *)p, n);
                p += n - 1;
            } else {
                sbuf_puts(b, "\\ufffd");
            }
            continue;
        }
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
    /* Formatted at full length: cutting before redaction could leave half a secret, which
     * no longer matches and would be written in the clear. */
    char *msg = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&msg, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    emit_msg_only(lg, level, event, msg, (const char *)NULL);
    free(msg);
}

const char *log_level_name(enum log_level level)
{
    return (unsigned)level < 4 ? level_names[level] : "info";
}

enum log_format log_format_parse(const char *s, bool *ok)
{
    bool good = s && (!strcmp(s, "text") || !strcmp(s, "json"));
    if (ok)
        *ok = good;
    return good && !strcmp(s, "json") ? LOG_JSON : LOG_TEXT;
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
