/* config.c - see config.h. */
#include "config.h"

#include "sbuf.h"
#include "toml.h"

#include <ctype.h>
#include <errno.h>
#include <libpq-fe.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Loader state: where messages point and where relative paths start. */
struct loader {
    const char *file; /* as given: messages say "sync.toml:3:1" when the user typed sync.toml */
    char *dir;        /* directory of the file, "" for the current one */
    struct cfg *c;
    gs_err *err;
};

static const char *const LEVEL_NAMES[] = {"error", "warn", "info", "debug", NULL};
static const char *const FORMAT_NAMES[] = {"text", "json", NULL};
static const char *const DIRECTION_NAMES[] = {"pull", "push", "both", NULL};
static const char *const CONFLICT_NAMES[] = {"remote_wins", "local_wins", "newest_wins", NULL};

const char *cfg_direction_name(enum cfg_direction d)
{
    return (unsigned)d < 3 ? DIRECTION_NAMES[d] : "?";
}

const char *cfg_conflict_name(enum cfg_conflict c)
{
    return (unsigned)c < 3 ? CONFLICT_NAMES[c] : "?";
}

/* ---- messages ---------------------------------------------------------------------------- */

static void vmessage(struct loader *L, sbuf *b, const toml_value *at, const char *section,
                     const char *key, const char *fmt, va_list ap)
{
    sbuf_printf(b, "%s:%d:%d: ", L->file, at ? at->line : 1, at ? at->col : 1);
    if (section)
        sbuf_printf(b, "%s ", section);
    if (key)
        sbuf_printf(b, "%s: ", key);
    char msg[768];
    vsnprintf(msg, sizeof msg, fmt, ap);
    sbuf_puts(b, msg);
}

/* Records a configuration error at a value's position; returns GS_ECONFIG. */
__attribute__((format(printf, 5, 6))) static int fail(struct loader *L, const toml_value *at,
                                                      const char *section, const char *key,
                                                      const char *fmt, ...)
{
    sbuf b = SBUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    vmessage(L, &b, at, section, key, fmt, ap);
    va_end(ap);
    gs_err_set(L->err, GS_ECONFIG, "%s", sbuf_str(&b));
    sbuf_free(&b);
    return GS_ECONFIG;
}

__attribute__((format(printf, 5, 6))) static int warn(struct loader *L, const toml_value *at,
                                                      const char *section, const char *key,
                                                      const char *fmt, ...)
{
    sbuf b = SBUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    vmessage(L, &b, at, section, key, fmt, ap);
    va_end(ap);
    char **w = realloc(L->c->warnings, (L->c->n_warnings + 1) * sizeof *w);
    char *s = sbuf_steal(&b);
    if (!w || !s) {
        free(s);
        if (w)
            L->c->warnings = w;
        return gs_err_set(L->err, GS_ENOMEM, "out of memory");
    }
    L->c->warnings = w;
    w[L->c->n_warnings++] = s;
    return 0;
}

static int nomem(struct loader *L)
{
    return gs_err_set(L->err, GS_ENOMEM, "out of memory loading %s", L->file);
}

/* ---- did you mean ------------------------------------------------------------------------ */

static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64)
        return 99;
    size_t row[65];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t cost =
                tolower((unsigned char)a[i - 1]) == tolower((unsigned char)b[j - 1]) ? 0 : 1;
            size_t best = diag + cost;
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* The closest known name if it is close enough to be a typo: at most 2 edits, and fewer edits
 * than half the word so that short words do not "match" everything. */
static const char *closest(const char *word, const char *const *known)
{
    const char *best = NULL;
    size_t best_d = 99;
    for (size_t i = 0; known[i]; i++) {
        size_t d = edit_distance(word, known[i]);
        if (d < best_d) {
            best_d = d;
            best = known[i];
        }
    }
    size_t len = strlen(word);
    if (best && best_d <= 2 && best_d * 2 < (len > 1 ? len : 2))
        return best;
    return NULL;
}

static bool in_list(const char *s, const char *const *list)
{
    for (size_t i = 0; list[i]; i++)
        if (!strcmp(s, list[i]))
            return true;
    return false;
}

static int check_keys(struct loader *L, const toml_value *tab, const char *section,
                      const char *const *known)
{
    for (size_t i = 0; i < tab->u.tab.n; i++) {
        const char *k = tab->u.tab.keys[i];
        if (in_list(k, known))
            continue;
        const char *hint = closest(k, known);
        if (hint)
            return fail(L, tab->u.tab.vals[i], section, k, "unknown key (did you mean \"%s\"?)",
                        hint);
        sbuf b = SBUF_INIT;
        for (size_t j = 0; known[j]; j++)
            sbuf_printf(&b, "%s%s", j ? ", " : "", known[j]);
        int rc =
            fail(L, tab->u.tab.vals[i], section, k, "unknown key (known keys: %s)", sbuf_str(&b));
        sbuf_free(&b);
        return rc;
    }
    return 0;
}

/* ---- typed getters: absent keys keep the default already in *out ------------------------ */

static const char *a_or_an(toml_type t)
{
    return (t == TOML_INTEGER || t == TOML_ARRAY) ? "an" : "a";
}

static int type_error(struct loader *L, const toml_value *v, const char *section, const char *key,
                      const char *expected)
{
    return fail(L, v, section, key, "expected %s, got %s %s", expected, a_or_an(v->type),
                toml_type_name(v->type));
}

/* Strings used in this file must be C strings: reject embedded NUL. */
static int get_str(struct loader *L, const toml_value *tab, const char *section, const char *key,
                   char **out, const toml_value **where)
{
    const toml_value *v = toml_get(tab, key);
    if (where)
        *where = v;
    if (!v)
        return 0;
    if (v->type != TOML_STRING)
        return type_error(L, v, section, key, "a string");
    if (strlen(v->u.str.s) != v->u.str.slen)
        return fail(L, v, section, key, "the string contains a NUL character");
    char *s = strdup(v->u.str.s);
    if (!s)
        return nomem(L);
    free(*out);
    *out = s;
    return 0;
}

static int get_nonempty_str(struct loader *L, const toml_value *tab, const char *section,
                            const char *key, char **out, const toml_value **where)
{
    const toml_value *v;
    int rc = get_str(L, tab, section, key, out, &v);
    if (where)
        *where = v;
    if (rc || !v)
        return rc;
    if (!**out)
        return fail(L, v, section, key, "must not be empty");
    return 0;
}

static int get_bool(struct loader *L, const toml_value *tab, const char *section, const char *key,
                    bool *out)
{
    const toml_value *v = toml_get(tab, key);
    if (!v)
        return 0;
    if (v->type != TOML_BOOL)
        return type_error(L, v, section, key, "a boolean (true or false)");
    *out = v->u.b;
    return 0;
}

static int get_int(struct loader *L, const toml_value *tab, const char *section, const char *key,
                   int64_t lo, int64_t hi, int64_t *out)
{
    const toml_value *v = toml_get(tab, key);
    if (!v)
        return 0;
    if (v->type != TOML_INTEGER)
        return type_error(L, v, section, key, "an integer");
    if (v->u.i < lo || v->u.i > hi)
        return fail(L, v, section, key, "must be between %lld and %lld, got %lld", (long long)lo,
                    (long long)hi, (long long)v->u.i);
    *out = v->u.i;
    return 0;
}

static int get_int32(struct loader *L, const toml_value *tab, const char *section, const char *key,
                     int lo, int hi, int *out)
{
    int64_t x = *out;
    int rc = get_int(L, tab, section, key, lo, hi, &x);
    *out = (int)x;
    return rc;
}

int cfg_parse_duration(const char *s, int64_t *ms)
{
    if (!s || !*s)
        return -1;
    if (!strcmp(s, "0")) {
        *ms = 0;
        return 0;
    }
    int64_t total = 0;
    const char *p = s;
    while (*p) {
        if (!isdigit((unsigned char)*p))
            return -1;
        int64_t n = 0;
        while (isdigit((unsigned char)*p)) {
            if (n > (INT64_MAX - 9) / 10)
                return -1;
            n = n * 10 + (*p++ - '0');
        }
        int64_t unit;
        if (!strncmp(p, "ms", 2)) {
            unit = 1;
            p += 2;
        } else if (*p == 's') {
            unit = 1000;
            p++;
        } else if (*p == 'm') {
            unit = 60 * 1000;
            p++;
        } else if (*p == 'h') {
            unit = 3600 * 1000;
            p++;
        } else if (*p == 'd') {
            unit = 86400 * 1000;
            p++;
        } else {
            return -1;
        }
        /* Cap at ten years: anything longer is a typo, and the cap keeps sums far from overflow. */
        const int64_t cap = (int64_t)3650 * 86400 * 1000;
        if (n > cap / unit || total + n * unit > cap)
            return -1;
        total += n * unit;
    }
    *ms = total;
    return 0;
}

static int get_duration(struct loader *L, const toml_value *tab, const char *section,
                        const char *key, int64_t min_ms, int64_t *out)
{
    const toml_value *v = toml_get(tab, key);
    if (!v)
        return 0;
    if (v->type != TOML_STRING)
        return type_error(L, v, section, key, "a duration string such as \"30s\"");
    int64_t ms;
    if (cfg_parse_duration(v->u.str.s, &ms) != 0 || strlen(v->u.str.s) != v->u.str.slen)
        return fail(L, v, section, key,
                    "invalid duration \"%s\" (use a number with a unit: ms, s, m, h, d; e.g. "
                    "\"500ms\", \"30s\", \"1h30m\")",
                    v->u.str.s);
    if (ms < min_ms)
        return fail(L, v, section, key, "must be at least %lldms, got \"%s\"", (long long)min_ms,
                    v->u.str.s);
    *out = ms;
    return 0;
}

static int get_enum(struct loader *L, const toml_value *tab, const char *section, const char *key,
                    const char *const *names, int *out)
{
    const toml_value *v = toml_get(tab, key);
    if (!v)
        return 0;
    sbuf b = SBUF_INIT;
    for (size_t i = 0; names[i]; i++)
        sbuf_printf(&b, "%s\"%s\"", i ? ", " : "", names[i]);
    int rc = 0;
    if (v->type != TOML_STRING) {
        rc = fail(L, v, section, key, "expected one of %s, got %s %s", sbuf_str(&b),
                  a_or_an(v->type), toml_type_name(v->type));
    } else {
        rc = -1;
        for (int i = 0; names[i]; i++)
            if (!strcmp(v->u.str.s, names[i])) {
                *out = i;
                rc = 0;
            }
        if (rc)
            rc = fail(L, v, section, key, "expected one of %s, got \"%s\"", sbuf_str(&b),
                      v->u.str.s);
    }
    sbuf_free(&b);
    return rc;
}

/* A sub-table such as [api]; absent is fine (all defaults). */
static int get_table(struct loader *L, const toml_value *root, const char *key,
                     const toml_value **out)
{
    const toml_value *v = toml_get(root, key);
    *out = NULL;
    if (!v)
        return 0;
    if (v->type != TOML_TABLE)
        return type_error(L, v, NULL, key, "a table");
    *out = v;
    return 0;
}

/* ---- secrets ----------------------------------------------------------------------------- */

static char *join_path(const char *dir, const char *path)
{
    sbuf b = SBUF_INIT;
    if (path[0] != '/' && dir[0])
        sbuf_printf(&b, "%s/", dir);
    sbuf_puts(&b, path);
    return sbuf_steal(&b);
}

/* Reads a secret file; trailing whitespace (the newline editors add) is not part of it. */
static int read_secret_file(struct loader *L, const toml_value *at, const char *section,
                            const char *key, const char *path, char **out)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return fail(L, at, section, key, "cannot read %s: %s", path, strerror(errno));
    sbuf b = SBUF_INIT;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0 && b.len < 65536)
        sbuf_append(&b, buf, n);
    bool ioerr = ferror(f);
    fclose(f);
    if (ioerr || sbuf_failed(&b)) {
        sbuf_free(&b);
        return fail(L, at, section, key, "cannot read %s", path);
    }
    while (b.len && isspace((unsigned char)b.data[b.len - 1]))
        b.data[--b.len] = '\0';
    if (b.len == 0 || strlen(sbuf_str(&b)) != b.len) {
        sbuf_free(&b);
        return fail(L, at, section, key, "%s is empty or not a text file", path);
    }
    *out = sbuf_steal(&b);
    return *out ? 0 : nomem(L);
}

static int read_secret_env(struct loader *L, const toml_value *at, const char *section,
                           const char *key, const char *var, char **out)
{
    const char *v = getenv(var);
    if (!v)
        return fail(L, at, section, key, "environment variable %s is not set", var);
    if (!*v)
        return fail(L, at, section, key, "environment variable %s is empty", var);
    *out = strdup(v);
    return *out ? 0 : nomem(L);
}

static bool valid_env_name(const char *s)
{
    if (!*s || isdigit((unsigned char)*s))
        return false;
    for (; *s; s++)
        if (!(isalnum((unsigned char)*s) || *s == '_'))
            return false;
    return true;
}

static int get_env_name(struct loader *L, const toml_value *tab, const char *section,
                        const char *key, char **out, const toml_value **where)
{
    int rc = get_nonempty_str(L, tab, section, key, out, where);
    if (rc || !*where)
        return rc;
    if (!valid_env_name(*out))
        return fail(L, *where, section, key,
                    "\"%s\" is not an environment variable name (letters, digits, _)", *out);
    return 0;
}

/* ---- sections ---------------------------------------------------------------------------- */

static int load_api(struct loader *L, const toml_value *t)
{
    static const char *const keys[] = {
        "base_url",      "version",       "connect_timeout",    "request_timeout",
        "stall_timeout", "insecure_http", "max_response_bytes", NULL};
    const char *S = "[api]";
    struct cfg_api *a = &L->c->api;
    const toml_value *url_at = NULL;
    int rc;
    if ((rc = check_keys(L, t, S, keys)) ||
        (rc = get_bool(L, t, S, "insecure_http", &a->insecure_http)) ||
        (rc = get_nonempty_str(L, t, S, "base_url", &a->base_url, &url_at)) ||
        (rc = get_nonempty_str(L, t, S, "version", &a->version, NULL)) ||
        (rc = get_duration(L, t, S, "connect_timeout", 1, &a->connect_timeout_ms)) ||
        (rc = get_duration(L, t, S, "request_timeout", 1, &a->request_timeout_ms)) ||
        (rc = get_duration(L, t, S, "stall_timeout", 1, &a->stall_timeout_ms)) ||
        (rc = get_int(L, t, S, "max_response_bytes", 4096, INT64_C(1) << 40,
                      &a->max_response_bytes)))
        return rc;
    if (url_at) {
        bool https = !strncmp(a->base_url, "https://", 8),
             http = !strncmp(a->base_url, "http://", 7);
        if (!https && !http)
            return fail(L, url_at, S, "base_url", "expected an https:// URL, got \"%s\"",
                        a->base_url);
        if (http && !a->insecure_http)
            return fail(L, url_at, S, "base_url",
                        "plain http:// is refused unless [api] insecure_http = true (for a local "
                        "simulator; TLS is always verified otherwise)");
        /* Paths are appended as "/objects/...": a trailing slash would double it. */
        size_t n = strlen(a->base_url);
        while (n && a->base_url[n - 1] == '/')
            a->base_url[--n] = '\0';
        if (strlen(a->base_url) <= (https ? 8u : 7u))
            return fail(L, url_at, S, "base_url", "the URL has no host");
    }
    return 0;
}

static int check_conninfo(struct loader *L, const toml_value *at, const char *S, const char *key,
                          const char *url);

static int load_database(struct loader *L, const toml_value *t)
{
    static const char *const keys[] = {"url",    "schema",       "session_url",
                                       "pooler", "lock_timeout", NULL};
    static const char *const POOLER_NAMES[] = {"none", "transaction", NULL};
    const char *S = "[database]";
    const toml_value *url_at = NULL, *surl_at = NULL;
    int pooler = (int)L->c->database.pooler;
    int rc;
    if ((rc = check_keys(L, t, S, keys)) ||
        (rc = get_str(L, t, S, "url", &L->c->database.url, &url_at)) ||
        (rc = get_nonempty_str(L, t, S, "schema", &L->c->database.schema, NULL)) ||
        (rc = get_str(L, t, S, "session_url", &L->c->database.session_url, &surl_at)) ||
        (rc = get_enum(L, t, S, "pooler", POOLER_NAMES, &pooler)) ||
        (rc = get_duration(L, t, S, "lock_timeout", 1, &L->c->database.lock_timeout_ms)))
        return rc;
    L->c->database.pooler = (enum cfg_pooler)pooler;
    if (pooler == CFG_POOLER_TRANSACTION && !surl_at)
        return fail(L, toml_get(t, "pooler"), S, "pooler",
                    "\"transaction\" needs session_url: LISTEN and the push claims need a "
                    "session of their own (PostgreSQL itself or a session-mode pool)");
    if ((rc = check_conninfo(L, url_at, S, "url", L->c->database.url)) ||
        (rc = check_conninfo(L, surl_at, S, "session_url", L->c->database.session_url)))
        return rc;
    return 0;
}

static int check_conninfo(struct loader *L, const toml_value *at, const char *S, const char *key,
                          const char *url)
{
    if (at && url[0]) {
        char *perr = NULL;
        PQconninfoOption *o = PQconninfoParse(url, &perr);
        if (!o) {
            /* libpq's message may quote the string; it has no secret of ours beyond it, and the
             * password inside a broken conninfo is not knowable, so keep libpq's text short. */
            char why[256];
            snprintf(why, sizeof why, "%s", perr ? perr : "out of memory");
            why[strcspn(why, "\n")] = '\0';
            PQfreemem(perr);
            return fail(L, at, S, key, "not a valid libpq conninfo or URI: %s", why);
        }
        PQconninfoFree(o);
    }
    return 0;
}

static int load_rate_limit(struct loader *L, const toml_value *t)
{
    static const char *const keys[] = {"burst", "window", "daily", "headroom", NULL};
    const char *S = "[rate_limit]";
    struct cfg_rate_limit *r = &L->c->rate_limit;
    int rc;
    if ((rc = check_keys(L, t, S, keys)) ||
        (rc = get_int32(L, t, S, "burst", 1, 100000, &r->burst)) ||
        (rc = get_duration(L, t, S, "window", 1, &r->window_ms)) ||
        (rc = get_int32(L, t, S, "daily", 1, 1000000000, &r->daily)))
        return rc;
    const toml_value *h = toml_get(t, "headroom");
    if (h) {
        double x;
        if (h->type == TOML_FLOAT)
            x = h->u.f;
        else if (h->type == TOML_INTEGER)
            x = (double)h->u.i;
        else
            return type_error(L, h, S, "headroom", "a number (a fraction such as 0.1)");
        if (!(x >= 0.0 && x < 1.0))
            return fail(L, h, S, "headroom", "must be a fraction in [0, 1), got %g", x);
        r->headroom = x;
    }
    return 0;
}

static int load_log(struct loader *L, const toml_value *t)
{
    static const char *const keys[] = {"level", "format", NULL};
    const char *S = "[log]";
    int level = (int)L->c->log.level, format = (int)L->c->log.format;
    int rc;
    if ((rc = check_keys(L, t, S, keys)) ||
        (rc = get_enum(L, t, S, "level", LEVEL_NAMES, &level)) ||
        (rc = get_enum(L, t, S, "format", FORMAT_NAMES, &format)))
        return rc;
    L->c->log.level = (enum log_level)level;
    L->c->log.format = (enum log_format)format;
    return 0;
}

static int load_pull(struct loader *L, const toml_value *t)
{
    static const char *const keys[] = {"page_size",     "overlap",        "full_scan_interval",
                                       "poll_interval", "outage_timeout", NULL};
    const char *S = "[pull]";
    struct cfg_pull *p = &L->c->pull;
    int rc;
    if ((rc = check_keys(L, t, S, keys)) ||
        (rc = get_int32(L, t, S, "page_size", 1, 100, &p->page_size)) ||
        (rc = get_duration(L, t, S, "overlap", 0, &p->overlap_ms)) ||
        (rc = get_duration(L, t, S, "full_scan_interval", 0, &p->full_scan_interval_ms)) ||
        (rc = get_duration(L, t, S, "poll_interval", 100, &p->poll_interval_ms)) ||
        (rc = get_duration(L, t, S, "outage_timeout", 0, &p->outage_timeout_ms)))
        return rc;
    return 0;
}

static int load_push(struct loader *L, const toml_value *t)
{
    static const char *const keys[] = {"enabled",      "batch_size",  "max_attempts",
                                       "backoff_base", "backoff_max", NULL};
    const char *S = "[push]";
    struct cfg_push *p = &L->c->push;
    int rc;
    if ((rc = check_keys(L, t, S, keys)) || (rc = get_bool(L, t, S, "enabled", &p->enabled)) ||
        (rc = get_int32(L, t, S, "batch_size", 1, 1000, &p->batch_size)) ||
        (rc = get_int32(L, t, S, "max_attempts", 1, 1000, &p->max_attempts)) ||
        (rc = get_duration(L, t, S, "backoff_base", 1, &p->backoff_base_ms)) ||
        (rc = get_duration(L, t, S, "backoff_max", 1, &p->backoff_max_ms)))
        return rc;
    if (p->backoff_max_ms < p->backoff_base_ms)
        return fail(L, toml_get(t, "backoff_max") ? toml_get(t, "backoff_max") : t, S,
                    "backoff_max", "must not be shorter than backoff_base");
    return 0;
}

static int load_relations(struct loader *L, const toml_value *t)
{
    static const char *const keys[] = {"enabled", "poll_interval", "reconcile_interval",
                                       "budget_share", NULL};
    const char *S = "[relations]";
    struct cfg_relations *r = &L->c->relations;
    int rc;
    if ((rc = check_keys(L, t, S, keys)) || (rc = get_bool(L, t, S, "enabled", &r->enabled)) ||
        (rc = get_duration(L, t, S, "poll_interval", 100, &r->poll_interval_ms)) ||
        (rc = get_duration(L, t, S, "reconcile_interval", 100, &r->reconcile_interval_ms)))
        return rc;
    const toml_value *h = toml_get(t, "budget_share");
    if (h) {
        double x;
        if (h->type == TOML_FLOAT)
            x = h->u.f;
        else if (h->type == TOML_INTEGER)
            x = (double)h->u.i;
        else
            return type_error(L, h, S, "budget_share", "a number (a fraction such as 0.25)");
        if (!(x > 0.0 && x <= 1.0))
            return fail(L, h, S, "budget_share", "must be a fraction in (0, 1], got %g", x);
        r->budget_share = x;
    }
    return 0;
}

static int load_leases(struct loader *L, const toml_value *t)
{
    static const char *const keys[] = {"ttl", "heartbeat", NULL};
    const char *S = "[leases]";
    struct cfg_leases *l = &L->c->leases;
    int rc;
    l->heartbeat_ms = 0;
    if ((rc = check_keys(L, t, S, keys)) || (rc = get_duration(L, t, S, "ttl", 1000, &l->ttl_ms)) ||
        (rc = get_duration(L, t, S, "heartbeat", 100, &l->heartbeat_ms)))
        return rc;
    if (l->heartbeat_ms == 0)
        l->heartbeat_ms = l->ttl_ms / 3;
    /* a lease must survive one late heartbeat */
    if (l->heartbeat_ms * 2 > l->ttl_ms)
        return fail(L, toml_get(t, "heartbeat") ? toml_get(t, "heartbeat") : t, S, "heartbeat",
                    "must be at most half of ttl");
    return 0;
}

static int load_metrics(struct loader *L, const toml_value *t)
{
    static const char *const keys[] = {"listen", "stall_timeout", NULL};
    const char *S = "[metrics]";
    const toml_value *at;
    int rc;
    if ((rc = check_keys(L, t, S, keys)) ||
        (rc = get_nonempty_str(L, t, S, "listen", &L->c->metrics.listen, &at)) ||
        (rc = get_duration(L, t, S, "stall_timeout", 0, &L->c->metrics.stall_timeout_ms)))
        return rc;
    if (at) {
        const char *colon = strrchr(L->c->metrics.listen, ':');
        char *end = NULL;
        long port = colon ? strtol(colon + 1, &end, 10) : 0;
        /* Port 0 = any free port (tests, several instances); the bound port is logged
         * (metrics.listen). */
        if (!colon || colon == L->c->metrics.listen || !colon[1] || *end || port < 0 ||
            port > 65535)
            return fail(L, at, S, "listen",
                        "expected \"HOST:PORT\" such as \"127.0.0.1:9187\", got \"%s\"",
                        L->c->metrics.listen);
    }
    return 0;
}

/* [webhooks]. A key is given inline (PEM text) or as a file; the file is read now so that a
 * missing key fails the start, not the first webhook. */
static int load_webhook_key(struct loader *L, const toml_value *t, const char *S, const char *key,
                            const char *file_key, char **out)
{
    char *file = NULL;
    const toml_value *at = NULL, *fat = NULL;
    int rc;
    if ((rc = get_nonempty_str(L, t, S, key, out, &at)) ||
        (rc = get_nonempty_str(L, t, S, file_key, &file, &fat)))
        goto done;
    if (at && fat) {
        rc = fail(L, fat, S, file_key, "give %s or %s, not both", key, file_key);
        goto done;
    }
    if (fat) {
        char *p = join_path(L->dir, file);
        rc = p ? read_secret_file(L, fat, S, file_key, p, out) : nomem(L);
        free(p);
    }
done:
    free(file);
    return rc;
}

static int load_webhooks(struct loader *L, const toml_value *t)
{
    static const char *const keys[] = {"listen",
                                       "path",
                                       "public_key",
                                       "public_key_file",
                                       "legacy_public_key",
                                       "legacy_public_key_file",
                                       "max_age",
                                       "max_body",
                                       "queue_max",
                                       "retention",
                                       NULL};
    const char *S = "[webhooks]";
    struct cfg_webhooks *w = &L->c->webhooks;
    const toml_value *at;
    int64_t body = w->max_body;
    int rc;
    if ((rc = check_keys(L, t, S, keys)) ||
        (rc = get_nonempty_str(L, t, S, "listen", &w->listen, &at)) ||
        (rc = get_nonempty_str(L, t, S, "path", &w->path, NULL)) ||
        (rc = load_webhook_key(L, t, S, "public_key", "public_key_file", &w->public_key)) ||
        (rc = load_webhook_key(L, t, S, "legacy_public_key", "legacy_public_key_file",
                               &w->legacy_public_key)) ||
        (rc = get_duration(L, t, S, "max_age", 1000, &w->max_age_ms)) ||
        (rc = get_int(L, t, S, "max_body", 1024, 64 * 1024 * 1024, &body)) ||
        (rc = get_int32(L, t, S, "queue_max", 1, 10000000, &w->queue_max)) ||
        (rc = get_duration(L, t, S, "retention", 60 * 1000, &w->retention_ms)))
        return rc;
    w->max_body = body;
    if (w->path[0] != '/')
        return fail(L, toml_get(t, "path"), S, "path", "must start with /, got \"%s\"", w->path);
    if (at) {
        const char *colon = strrchr(w->listen, ':');
        char *end = NULL;
        long port = colon ? strtol(colon + 1, &end, 10) : 0;
        if (!colon || colon == w->listen || !colon[1] || *end || port < 0 || port > 65535)
            return fail(L, at, S, "listen",
                        "expected \"HOST:PORT\" such as \"127.0.0.1:8788\", got \"%s\"", w->listen);
        if (!w->public_key)
            return fail(L, at, S, "listen",
                        "a listener needs public_key or public_key_file (the Ed25519 key that "
                        "signs x-ghl-signature)");
    }
    /* A replayed webhookId must still be known while its timestamp is fresh. */
    if (w->retention_ms < w->max_age_ms)
        return fail(L, toml_get(t, "retention") ? toml_get(t, "retention") : t, S, "retention",
                    "must not be shorter than max_age");
    return 0;
}

/* PostgreSQL type names are pasted into DDL, so only a conservative alphabet passes: enough for
 * "numeric(12,2)", "timestamp with time zone", "text[]", "pg_catalog.int8". */
static bool safe_pg_type(const char *s)
{
    if (!*s || strlen(s) > 100)
        return false;
    for (const char *p = s; *p; p++)
        if (!(isalnum((unsigned char)*p) || strchr(" _(),[].", *p)))
            return false;
    return isalpha((unsigned char)s[0]) || s[0] == '_';
}

static void object_free(struct cfg_object *o)
{
    free(o->key);
    free(o->table);
    free(o->external_id_field);
    for (size_t i = 0; i < o->n_field_types; i++) {
        free(o->field_types[i].field);
        free(o->field_types[i].pg_type);
    }
    free(o->field_types);
    memset(o, 0, sizeof *o);
}

static int object_copy(struct cfg_object *dst, const struct cfg_object *src)
{
    *dst = *src;
    dst->key = NULL;
    dst->table = NULL;
    dst->external_id_field = NULL;
    dst->field_types = NULL;
    dst->n_field_types = 0;
    if (src->external_id_field && !(dst->external_id_field = strdup(src->external_id_field)))
        return GS_ENOMEM;
    if (src->n_field_types) {
        dst->field_types = calloc(src->n_field_types, sizeof *dst->field_types);
        if (!dst->field_types)
            return GS_ENOMEM;
        for (size_t i = 0; i < src->n_field_types; i++) {
            dst->field_types[i].field = strdup(src->field_types[i].field);
            dst->field_types[i].pg_type = strdup(src->field_types[i].pg_type);
            dst->n_field_types++;
            if (!dst->field_types[i].field || !dst->field_types[i].pg_type)
                return GS_ENOMEM;
        }
    }
    return 0;
}

/* Adds or replaces one field type override (a per-object entry replaces an "*" default). */
static int set_field_type(struct cfg_object *o, const char *field, const char *type)
{
    for (size_t i = 0; i < o->n_field_types; i++)
        if (!strcmp(o->field_types[i].field, field)) {
            char *t = strdup(type);
            if (!t)
                return GS_ENOMEM;
            free(o->field_types[i].pg_type);
            o->field_types[i].pg_type = t;
            return 0;
        }
    struct cfg_field_type *ft = realloc(o->field_types, (o->n_field_types + 1) * sizeof *ft);
    if (!ft)
        return GS_ENOMEM;
    o->field_types = ft;
    ft[o->n_field_types].field = strdup(field);
    ft[o->n_field_types].pg_type = strdup(type);
    o->n_field_types++;
    if (!ft[o->n_field_types - 1].field || !ft[o->n_field_types - 1].pg_type)
        return GS_ENOMEM;
    return 0;
}

static int load_object(struct loader *L, const char *key, const toml_value *t, struct cfg_object *o)
{
    static const char *const keys[] = {
        "table",       "direction",   "conflict", "poll_interval", "external_id_field",
        "soft_delete", "field_types", NULL};
    char section[300];
    snprintf(section, sizeof section, "[objects.\"%.250s\"]", key);
    const char *S = section;
    if (t->type != TOML_TABLE)
        return type_error(L, t, "[objects]", key, "a table of object settings");
    /* [objects.custom_objects.pet] (unquoted) makes nested tables: say how to write it. */
    for (size_t i = 0; i < t->u.tab.n; i++)
        if (!in_list(t->u.tab.keys[i], keys) && t->u.tab.vals[i]->type == TOML_TABLE)
            return fail(L, t->u.tab.vals[i], S, t->u.tab.keys[i],
                        "unknown key (object keys contain dots: quote them, as in "
                        "[objects.\"%s.%s\"])",
                        key, t->u.tab.keys[i]);
    int rc, direction = (int)o->direction, conflict = (int)o->conflict;
    const toml_value *table_at;
    if ((rc = check_keys(L, t, S, keys)) ||
        (rc = get_nonempty_str(L, t, S, "table", &o->table, &table_at)) ||
        (rc = get_enum(L, t, S, "direction", DIRECTION_NAMES, &direction)) ||
        (rc = get_enum(L, t, S, "conflict", CONFLICT_NAMES, &conflict)) ||
        (rc = get_duration(L, t, S, "poll_interval", 100, &o->poll_interval_ms)) ||
        (rc = get_nonempty_str(L, t, S, "external_id_field", &o->external_id_field, NULL)) ||
        (rc = get_bool(L, t, S, "soft_delete", &o->soft_delete)))
        return rc;
    o->direction = (enum cfg_direction)direction;
    o->conflict = (enum cfg_conflict)conflict;
    if (table_at && strlen(o->table) > 63)
        return fail(L, table_at, S, "table",
                    "\"%s\" is longer than 63 bytes (PostgreSQL would truncate it)", o->table);
    if (table_at && !strcmp(key, "*"))
        return fail(L, table_at, S, "table", "a table name cannot be a default for every object");
    const toml_value *ft = toml_get(t, "field_types");
    if (ft) {
        if (ft->type != TOML_TABLE)
            return type_error(L, ft, S, "field_types",
                              "a table of field key = \"postgres type\" pairs");
        for (size_t i = 0; i < ft->u.tab.n; i++) {
            const toml_value *v = ft->u.tab.vals[i];
            char kname[300];
            snprintf(kname, sizeof kname, "field_types.%.250s", ft->u.tab.keys[i]);
            if (v->type == TOML_TABLE)
                return fail(L, v, S, kname,
                            "expected a string, got a table (field keys contain dots: quote "
                            "them, as in \"custom_objects.pet.age\" = \"integer\")");
            if (v->type != TOML_STRING)
                return type_error(L, v, S, kname, "a string (a PostgreSQL type)");
            if (strlen(v->u.str.s) != v->u.str.slen || !safe_pg_type(v->u.str.s))
                return fail(L, v, S, kname,
                            "\"%s\" is not an accepted PostgreSQL type name (letters, digits, "
                            "spaces and _ ( ) , [ ] . only)",
                            v->u.str.s);
            if (set_field_type(o, ft->u.tab.keys[i], v->u.str.s))
                return nomem(L);
        }
    }
    o->line = t->line;
    return 0;
}

static int load_objects(struct loader *L, const toml_value *t)
{
    struct cfg *c = L->c;
    int rc;
    /* "*" first: it is the base every other object starts from. */
    const toml_value *star = toml_get(t, "*");
    if (star && (rc = load_object(L, "*", star, &c->object_defaults)))
        return rc;
    c->object_defaults.line = 0;
    size_t n = t->u.tab.n - (star ? 1 : 0);
    if (n == 0)
        return 0;
    c->objects = calloc(n, sizeof *c->objects);
    if (!c->objects)
        return nomem(L);
    for (size_t i = 0; i < t->u.tab.n; i++) {
        const char *key = t->u.tab.keys[i];
        if (!strcmp(key, "*"))
            continue;
        if (!*key)
            return fail(L, t->u.tab.vals[i], "[objects]", "\"\"", "an object key cannot be empty");
        struct cfg_object *o = &c->objects[c->n_objects++];
        if (object_copy(o, &c->object_defaults) || !(o->key = strdup(key)))
            return nomem(L);
        if ((rc = load_object(L, key, t->u.tab.vals[i], o)))
            return rc;
    }
    return 0;
}

static bool valid_location_id(const char *s)
{
    if (!*s || strlen(s) > 64)
        return false;
    for (; *s; s++)
        if (!(isalnum((unsigned char)*s) || *s == '-' || *s == '_'))
            return false;
    return true;
}

static int load_location_objects(struct loader *L, const toml_value *t, const char *S,
                                 struct cfg_location *loc)
{
    const toml_value *v = toml_get(t, "objects");
    loc->all_objects = true;
    if (!v)
        return 0;
    if (v->type != TOML_ARRAY)
        return type_error(L, v, S, "objects", "an array of object keys (or [\"*\"])");
    if (v->u.arr.n == 0)
        return fail(L, v, S, "objects", "empty: list object keys, or [\"*\"] for all");
    loc->all_objects = false;
    loc->objects = calloc(v->u.arr.n, sizeof *loc->objects);
    if (!loc->objects)
        return nomem(L);
    for (size_t i = 0; i < v->u.arr.n; i++) {
        const toml_value *it = v->u.arr.items[i];
        if (it->type != TOML_STRING)
            return fail(L, it, S, "objects", "item %zu: expected a string, got %s %s", i + 1,
                        a_or_an(it->type), toml_type_name(it->type));
        if (!*it->u.str.s || strlen(it->u.str.s) != it->u.str.slen)
            return fail(L, it, S, "objects", "item %zu: empty object key", i + 1);
        if (!strcmp(it->u.str.s, "*")) {
            if (v->u.arr.n != 1)
                return fail(L, it, S, "objects", "\"*\" means every object and must stand alone");
            loc->all_objects = true;
            return 0;
        }
        for (size_t j = 0; j < loc->n_objects; j++)
            if (!strcmp(loc->objects[j], it->u.str.s))
                return fail(L, it, S, "objects", "\"%s\" is listed twice", it->u.str.s);
        if (!(loc->objects[loc->n_objects] = strdup(it->u.str.s)))
            return nomem(L);
        loc->n_objects++;
    }
    return 0;
}

static int load_location(struct loader *L, size_t idx, const toml_value *t,
                         struct cfg_location *loc)
{
    static const char *const keys[] = {"id",
                                       "token_env",
                                       "token_file",
                                       "token",
                                       "client_id_env",
                                       "client_secret_env",
                                       "refresh_token_file",
                                       "objects",
                                       NULL};
    char section[128];
    snprintf(section, sizeof section, "[[locations]] #%zu", idx + 1);
    const char *S = section;
    if (t->type != TOML_TABLE)
        return type_error(L, t, NULL, "locations", "an array of tables ([[locations]])");
    loc->line = t->line;
    int rc;
    const toml_value *id_at, *env_at, *file_at, *tok_at, *cid_at, *csec_at, *rtf_at;
    char *token_env = NULL, *token_file = NULL, *cid_env = NULL, *csec_env = NULL, *rtf = NULL;
    if ((rc = check_keys(L, t, S, keys)) ||
        (rc = get_nonempty_str(L, t, S, "id", &loc->id, &id_at)))
        return rc;
    if (!id_at)
        return fail(L, t, S, NULL, "missing key \"id\" (the HighLevel location id)");
    if (!valid_location_id(loc->id))
        return fail(L, id_at, S, "id", "\"%s\" is not a location id (letters, digits, - and _)",
                    loc->id);
    snprintf(section, sizeof section, "[[locations]] #%zu (%.40s)", idx + 1, loc->id);
    for (size_t j = 0; j < idx; j++)
        if (!strcmp(L->c->locations[j].id, loc->id))
            return fail(L, id_at, S, "id", "location \"%s\" is already defined on line %d", loc->id,
                        L->c->locations[j].line);
    if ((rc = get_env_name(L, t, S, "token_env", &token_env, &env_at)) ||
        (rc = get_nonempty_str(L, t, S, "token_file", &token_file, &file_at)) ||
        (rc = get_nonempty_str(L, t, S, "token", &loc->token, &tok_at)) ||
        (rc = get_env_name(L, t, S, "client_id_env", &cid_env, &cid_at)) ||
        (rc = get_env_name(L, t, S, "client_secret_env", &csec_env, &csec_at)) ||
        (rc = get_nonempty_str(L, t, S, "refresh_token_file", &rtf, &rtf_at)))
        goto out;
    int n_static = !!env_at + !!file_at + !!tok_at;
    bool oauth = cid_at || csec_at || rtf_at;
    if (n_static > 1 || (n_static && oauth)) {
        const toml_value *second = tok_at ? tok_at : file_at ? file_at : rtf_at ? rtf_at : cid_at;
        rc = fail(L, second, S, NULL,
                  "choose one way to authenticate: token_env, token_file, token, or OAuth "
                  "(client_id_env + client_secret_env + refresh_token_file)");
        goto out;
    }
    if (!n_static && !oauth) {
        rc = fail(L, t, S, NULL,
                  "no credentials: set token_env = \"VARIABLE\" (or token_file = \"PATH\", or "
                  "OAuth: client_id_env, client_secret_env, refresh_token_file)");
        goto out;
    }
    sbuf src = SBUF_INIT;
    if (env_at) {
        loc->auth = CFG_AUTH_TOKEN;
        if ((rc = read_secret_env(L, env_at, S, "token_env", token_env, &loc->token)))
            goto out;
        sbuf_printf(&src, "environment variable %s", token_env);
    } else if (file_at) {
        loc->auth = CFG_AUTH_TOKEN;
        char *p = join_path(L->dir, token_file);
        if (!p) {
            rc = nomem(L);
            goto out;
        }
        rc = read_secret_file(L, file_at, S, "token_file", p, &loc->token);
        sbuf_printf(&src, "file %s", p);
        free(p);
        if (rc) {
            sbuf_free(&src);
            goto out;
        }
    } else if (tok_at) {
        loc->auth = CFG_AUTH_TOKEN;
        sbuf_printf(&src, "%s", L->file);
        if ((rc = warn(L, tok_at, S, "token",
                       "a secret written in the configuration file can leak (version control, "
                       "backups, screen sharing); prefer token_env or token_file"))) {
            sbuf_free(&src);
            goto out;
        }
    } else {
        loc->auth = CFG_AUTH_OAUTH;
        const char *missing = !cid_at    ? "client_id_env"
                              : !csec_at ? "client_secret_env"
                              : !rtf_at  ? "refresh_token_file"
                                         : NULL;
        if (missing) {
            rc = fail(L, t, S, NULL,
                      "OAuth needs client_id_env, client_secret_env and "
                      "refresh_token_file: missing %s",
                      missing);
            goto out;
        }
        if ((rc = read_secret_env(L, cid_at, S, "client_id_env", cid_env, &loc->client_id)) ||
            (rc = read_secret_env(L, csec_at, S, "client_secret_env", csec_env,
                                  &loc->client_secret)))
            goto out;
        if (!(loc->refresh_token_file = join_path(L->dir, rtf))) {
            rc = nomem(L);
            goto out;
        }
        if ((rc = read_secret_file(L, rtf_at, S, "refresh_token_file", loc->refresh_token_file,
                                   &loc->refresh_token)))
            goto out;
        sbuf_printf(&src, "OAuth refresh token in %s", loc->refresh_token_file);
    }
    loc->token_source = sbuf_steal(&src);
    if (!loc->token_source) {
        rc = nomem(L);
        goto out;
    }
    rc = load_location_objects(L, t, S, loc);
out:
    free(token_env);
    free(token_file);
    free(cid_env);
    free(csec_env);
    free(rtf);
    return rc;
}

/* ---- [agency] ------------------------------------------------------------------------------ */

static int copy_objects(const struct cfg_agency *a, struct cfg_location *loc)
{
    loc->all_objects = a->all_objects;
    if (a->all_objects || !a->n_objects)
        return 0;
    loc->objects = calloc(a->n_objects, sizeof *loc->objects);
    if (!loc->objects)
        return GS_ENOMEM;
    for (size_t i = 0; i < a->n_objects; i++) {
        if (!(loc->objects[i] = strdup(a->objects[i])))
            return GS_ENOMEM;
        loc->n_objects++;
    }
    return 0;
}

/* Fill a location of the agency: no secret of its own (the engine mints its pair). */
static int agency_location(const struct cfg_agency *a, const char *id, struct cfg_location *loc)
{
    memset(loc, 0, sizeof *loc);
    loc->auth = CFG_AUTH_AGENCY;
    loc->line = a->line;
    sbuf src = SBUF_INIT;
    sbuf_printf(&src, "agency %s (minted location token)", a->company_id);
    loc->token_source = sbuf_steal(&src);
    loc->id = strdup(id);
    if (!loc->id || !loc->token_source || copy_objects(a, loc))
        return GS_ENOMEM;
    return 0;
}

static void location_free(struct cfg_location *l);

int cfg_location_add_agency(struct cfg *c, const char *id, gs_err *err)
{
    if (!c->agency.enabled)
        return gs_err_set(err, GS_ECONFIG, "%s: no [agency] section", c->path);
    if (!valid_location_id(id))
        return gs_err_set(err, GS_ECONFIG, "agency location \"%.60s\" is not a location id", id);
    struct cfg_location *n = realloc(c->locations, (c->n_locations + 1) * sizeof *n);
    if (!n)
        return gs_err_set(err, GS_ENOMEM, "out of memory");
    c->locations = n;
    struct cfg_location *loc = &c->locations[c->n_locations];
    if (agency_location(&c->agency, id, loc)) {
        location_free(loc);
        return gs_err_set(err, GS_ENOMEM, "out of memory");
    }
    c->n_locations++;
    return 0;
}

int cfg_agency_location_new(const struct cfg *c, const char *id, struct cfg_location **out,
                            gs_err *err)
{
    *out = NULL;
    if (!c->agency.enabled)
        return gs_err_set(err, GS_ECONFIG, "%s: no [agency] section", c->path);
    if (!valid_location_id(id))
        return gs_err_set(err, GS_ECONFIG, "agency location \"%.60s\" is not a location id", id);
    struct cfg_location *loc = calloc(1, sizeof *loc);
    if (!loc)
        return gs_err_set(err, GS_ENOMEM, "out of memory");
    if (agency_location(&c->agency, id, loc)) {
        cfg_location_delete(loc);
        return gs_err_set(err, GS_ENOMEM, "out of memory");
    }
    *out = loc;
    return 0;
}

void cfg_location_delete(struct cfg_location *l)
{
    if (!l)
        return;
    location_free(l);
    free(l);
}

static int load_agency(struct loader *L, const toml_value *t)
{
    static const char *const keys[] = {
        "company_id_env",      "app_id",    "client_id_env", "client_secret_env",
        "refresh_token_file",  "locations", "objects",       "discovery_interval",
        "discovery_page_size", NULL};
    const char *S = "[agency]";
    struct cfg_agency *a = &L->c->agency;
    a->enabled = true;
    a->line = t->line;
    a->discovery_interval_ms = 3600 * 1000;
    a->discovery_page_size = 100;
    const toml_value *co_at, *app_at, *cid_at, *csec_at, *rtf_at;
    char *co_env = NULL, *cid_env = NULL, *csec_env = NULL, *rtf = NULL;
    struct cfg_location tmp = {0};
    int rc;
    if ((rc = check_keys(L, t, S, keys)) ||
        (rc = get_env_name(L, t, S, "company_id_env", &co_env, &co_at)) ||
        (rc = get_nonempty_str(L, t, S, "app_id", &a->app_id, &app_at)) ||
        (rc = get_env_name(L, t, S, "client_id_env", &cid_env, &cid_at)) ||
        (rc = get_env_name(L, t, S, "client_secret_env", &csec_env, &csec_at)) ||
        (rc = get_nonempty_str(L, t, S, "refresh_token_file", &rtf, &rtf_at)) ||
        (rc = get_duration(L, t, S, "discovery_interval", 1000, &a->discovery_interval_ms)) ||
        (rc = get_int32(L, t, S, "discovery_page_size", 1, 500, &a->discovery_page_size)))
        goto out;
    const char *missing = !co_at     ? "company_id_env"
                          : !cid_at  ? "client_id_env"
                          : !csec_at ? "client_secret_env"
                          : !rtf_at  ? "refresh_token_file"
                                     : NULL;
    if (missing) {
        rc = fail(L, t, S, NULL,
                  "missing key \"%s\" (the agency needs company_id_env, client_id_env, "
                  "client_secret_env and refresh_token_file)",
                  missing);
        goto out;
    }
    if ((rc = read_secret_env(L, co_at, S, "company_id_env", co_env, &a->company_id)) ||
        (rc = read_secret_env(L, cid_at, S, "client_id_env", cid_env, &a->client_id)) ||
        (rc = read_secret_env(L, csec_at, S, "client_secret_env", csec_env, &a->client_secret)))
        goto out;
    if (!valid_location_id(a->company_id)) {
        rc = fail(L, co_at, S, "company_id_env",
                  "environment variable %s does not hold a company id (letters, digits, - and _)",
                  co_env);
        goto out;
    }
    if (!(a->refresh_token_file = join_path(L->dir, rtf))) {
        rc = nomem(L);
        goto out;
    }
    if ((rc = read_secret_file(L, rtf_at, S, "refresh_token_file", a->refresh_token_file,
                               &a->refresh_token)))
        goto out;
    if ((rc = load_location_objects(L, t, S, &tmp)))
        goto out;
    a->all_objects = tmp.all_objects;
    a->objects = tmp.objects;
    a->n_objects = tmp.n_objects;
    tmp.objects = NULL;
    const toml_value *v = toml_get(t, "locations");
    if (!v) {
        rc = fail(L, t, S, NULL,
                  "missing key \"locations\": \"installed\" (every location with the app "
                  "installed) or a list of location ids");
        goto out;
    }
    if (v->type == TOML_STRING) {
        if (strcmp(v->u.str.s, "installed") != 0) {
            rc =
                fail(L, v, S, "locations",
                     "expected \"installed\" or a list of location ids, got \"%.60s\"", v->u.str.s);
            goto out;
        }
        a->installed = true;
        if (!app_at) {
            rc = fail(L, v, S, "locations",
                      "\"installed\" needs app_id (GET /oauth/installedLocations asks for it)");
            goto out;
        }
    } else if (v->type != TOML_ARRAY) {
        rc = type_error(L, v, S, "locations", "\"installed\" or an array of location ids");
        goto out;
    } else if (v->u.arr.n == 0) {
        rc = fail(L, v, S, "locations", "empty: list location ids, or \"installed\"");
        goto out;
    }
out:
    free(co_env);
    free(cid_env);
    free(csec_env);
    free(rtf);
    return rc;
}

/* The explicit [agency] locations list, after the [[locations]] tables (which it must not
 * repeat: one location, one way to authenticate). */
static int load_agency_list(struct loader *L, const toml_value *t)
{
    const char *S = "[agency]";
    const toml_value *v = toml_get(t, "locations");
    if (!v || v->type != TOML_ARRAY)
        return 0;
    struct cfg *c = L->c;
    for (size_t i = 0; i < v->u.arr.n; i++) {
        const toml_value *it = v->u.arr.items[i];
        if (it->type != TOML_STRING)
            return fail(L, it, S, "locations", "item %zu: expected a string, got %s %s", i + 1,
                        a_or_an(it->type), toml_type_name(it->type));
        if (strlen(it->u.str.s) != it->u.str.slen || !valid_location_id(it->u.str.s))
            return fail(L, it, S, "locations",
                        "item %zu: \"%.60s\" is not a location id (letters, digits, - and _)",
                        i + 1, it->u.str.s);
        const struct cfg_location *dup = cfg_location_get(c, it->u.str.s);
        if (dup)
            return fail(L, it, S, "locations", "location \"%s\" is already defined on line %d",
                        it->u.str.s, dup->line);
        gs_err e = {0};
        if (cfg_location_add_agency(c, it->u.str.s, &e))
            return nomem(L);
    }
    return 0;
}

static int load_locations(struct loader *L, const toml_value *root)
{
    const toml_value *v = toml_get(root, "locations");
    if (!v && L->c->agency.enabled)
        return 0; /* the agency's locations (listed, or discovered) */
    if (!v)
        return fail(L, NULL, NULL, "locations",
                    "no [[locations]]: at least one location (id and token_env) is required");
    if (v->type != TOML_ARRAY)
        return type_error(L, v, NULL, "locations", "an array of tables ([[locations]])");
    if (v->u.arr.n == 0 && !L->c->agency.enabled)
        return fail(L, v, NULL, "locations",
                    "empty: at least one [[locations]] (id and token_env) is required");
    L->c->locations = calloc(v->u.arr.n, sizeof *L->c->locations);
    if (!L->c->locations)
        return nomem(L);
    for (size_t i = 0; i < v->u.arr.n; i++) {
        L->c->n_locations++;
        int rc = load_location(L, i, v->u.arr.items[i], &L->c->locations[i]);
        if (rc)
            return rc;
    }
    return 0;
}

/* ---- defaults and entry points ----------------------------------------------------------- */

static int set_defaults(struct cfg *c)
{
    c->api.base_url = strdup("https://services.leadconnectorhq.com");
    c->api.version = strdup("2021-07-28");
    c->api.connect_timeout_ms = 10 * 1000;
    c->api.request_timeout_ms = 60 * 1000;
    c->api.stall_timeout_ms = 30 * 1000;
    c->api.insecure_http = false;
    c->api.max_response_bytes = 64 * 1024 * 1024;
    c->database.url = strdup("");
    c->database.schema = strdup("ghl");
    c->database.lock_timeout_ms = 10 * 1000;
    c->metrics.stall_timeout_ms = 120 * 1000;
    c->webhooks.path = strdup("/webhooks/highlevel");
    c->webhooks.max_age_ms = 5 * 60 * 1000;
    c->webhooks.max_body = 1024 * 1024;
    c->webhooks.queue_max = 10000;
    c->webhooks.retention_ms = 24 * 3600 * 1000;
    c->rate_limit.burst = 100;
    c->rate_limit.window_ms = 10 * 1000;
    c->rate_limit.daily = 200000;
    c->rate_limit.headroom = 0.02;
    c->log.level = LOG_INFO;
    c->log.format = LOG_TEXT;
    c->pull.page_size = 100;
    c->pull.overlap_ms = 5 * 60 * 1000;
    c->pull.full_scan_interval_ms = 24 * 3600 * 1000;
    c->pull.poll_interval_ms = 60 * 1000;
    c->pull.outage_timeout_ms = 10 * 60 * 1000;
    c->leases.ttl_ms = 30 * 1000;
    c->leases.heartbeat_ms = 10 * 1000;
    c->push.enabled = true;
    c->push.batch_size = 50;
    c->push.max_attempts = 8;
    c->push.backoff_base_ms = 1000;
    c->push.backoff_max_ms = 5 * 60 * 1000;
    c->relations.enabled = true;
    c->relations.poll_interval_ms = 5 * 60 * 1000;
    c->relations.reconcile_interval_ms = 24 * 3600 * 1000;
    c->relations.budget_share = 0.25;
    c->object_defaults.direction = CFG_DIR_BOTH;
    c->object_defaults.conflict = CFG_REMOTE_WINS;
    c->object_defaults.poll_interval_ms = c->pull.poll_interval_ms;
    c->object_defaults.soft_delete = true;
    return (c->api.base_url && c->api.version && c->database.url && c->database.schema &&
            c->webhooks.path)
               ? 0
               : GS_ENOMEM;
}

static int load_root(struct loader *L, const toml_value *root)
{
    static const char *const keys[] = {"api",    "database", "locations", "objects", "rate_limit",
                                       "log",    "pull",     "push",      "metrics", "relations",
                                       "leases", "webhooks", "agency",    NULL};
    int rc;
    if ((rc = check_keys(L, root, NULL, keys)))
        return rc;
    const toml_value *t;
    if ((rc = get_table(L, root, "api", &t)) || (t && (rc = load_api(L, t))) ||
        (rc = get_table(L, root, "database", &t)) || (t && (rc = load_database(L, t))) ||
        (rc = get_table(L, root, "rate_limit", &t)) || (t && (rc = load_rate_limit(L, t))) ||
        (rc = get_table(L, root, "log", &t)) || (t && (rc = load_log(L, t))) ||
        (rc = get_table(L, root, "pull", &t)) || (t && (rc = load_pull(L, t))) ||
        (rc = get_table(L, root, "push", &t)) || (t && (rc = load_push(L, t))) ||
        (rc = get_table(L, root, "metrics", &t)) || (t && (rc = load_metrics(L, t))) ||
        (rc = get_table(L, root, "relations", &t)) || (t && (rc = load_relations(L, t))) ||
        (rc = get_table(L, root, "leases", &t)) || (t && (rc = load_leases(L, t))) ||
        (rc = get_table(L, root, "webhooks", &t)) || (t && (rc = load_webhooks(L, t))))
        return rc;
    /* Objects inherit the [pull] poll interval unless "*" or their own table says otherwise. */
    L->c->object_defaults.poll_interval_ms = L->c->pull.poll_interval_ms;
    if ((rc = get_table(L, root, "objects", &t)) || (t && (rc = load_objects(L, t))))
        return rc;
    const toml_value *ag;
    if ((rc = get_table(L, root, "agency", &ag)) || (ag && (rc = load_agency(L, ag))) ||
        (rc = load_locations(L, root)) || (ag && (rc = load_agency_list(L, ag))))
        return rc;
    return 0;
}

static int load_common(const char *src, size_t len, const char *filename, bool from_file,
                       struct cfg *c, gs_err *err)
{
    memset(c, 0, sizeof *c);
    gs_err_clear(err);
    toml_value *root = NULL;
    int rc;
    if (from_file)
        rc = toml_parse_file(filename, &root, err);
    else
        rc = toml_parse(src, len, filename, &root, err);
    if (rc)
        return rc;
    struct loader L = {.file = filename, .c = c, .err = err};
    const char *slash = strrchr(filename, '/');
    L.dir =
        slash ? strndup(filename, (size_t)(slash - filename + (slash == filename))) : strdup("");
    if (!L.dir || set_defaults(c) || !(c->path = strdup(filename)))
        rc = gs_err_set(err, GS_ENOMEM, "out of memory loading %s", filename);
    else
        rc = load_root(&L, root);
    free(L.dir);
    toml_free(root);
    if (rc) {
        cfg_free(c);
        if (err && !err->code)
            gs_err_set(err, rc, "%s: invalid configuration", filename);
    }
    return rc;
}

int cfg_load(const char *path, struct cfg *c, gs_err *err)
{
    return load_common(NULL, 0, path, true, c, err);
}

int cfg_load_string(const char *src, size_t len, const char *filename, struct cfg *c, gs_err *err)
{
    return load_common(src, len, filename, false, c, err);
}

static void free_secret(char *s)
{
    /* Best effort: do not leave tokens in freed heap memory for a core dump to show. */
    if (s) {
        volatile char *p = s;
        while (*p)
            *p++ = '\0';
        free(s);
    }
}

static void location_free(struct cfg_location *l)
{
    free(l->id);
    free_secret(l->token);
    free(l->token_source);
    free_secret(l->client_id);
    free_secret(l->client_secret);
    free(l->refresh_token_file);
    free_secret(l->refresh_token);
    for (size_t j = 0; j < l->n_objects; j++)
        free(l->objects[j]);
    free(l->objects);
}

void cfg_free(struct cfg *c)
{
    if (!c)
        return;
    free(c->path);
    free(c->api.base_url);
    free(c->api.version);
    free(c->database.url);
    free(c->database.schema);
    free(c->database.session_url);
    free(c->metrics.listen);
    free(c->webhooks.listen);
    free(c->webhooks.path);
    free(c->webhooks.public_key);
    free(c->webhooks.legacy_public_key);
    for (size_t i = 0; i < c->n_locations; i++)
        location_free(&c->locations[i]);
    free(c->locations);
    free_secret(c->agency.company_id);
    free(c->agency.app_id);
    free_secret(c->agency.client_id);
    free_secret(c->agency.client_secret);
    free(c->agency.refresh_token_file);
    free_secret(c->agency.refresh_token);
    for (size_t j = 0; j < c->agency.n_objects; j++)
        free(c->agency.objects[j]);
    free(c->agency.objects);
    for (size_t i = 0; i < c->n_objects; i++)
        object_free(&c->objects[i]);
    free(c->objects);
    object_free(&c->object_defaults);
    for (size_t i = 0; i < c->n_warnings; i++)
        free(c->warnings[i]);
    free(c->warnings);
    memset(c, 0, sizeof *c);
}

const struct cfg_object *cfg_object_get(const struct cfg *c, const char *key)
{
    for (size_t i = 0; key && i < c->n_objects; i++)
        if (!strcmp(c->objects[i].key, key))
            return &c->objects[i];
    return &c->object_defaults;
}

const struct cfg_location *cfg_location_get(const struct cfg *c, const char *id)
{
    for (size_t i = 0; id && i < c->n_locations; i++)
        if (!strcmp(c->locations[i].id, id))
            return &c->locations[i];
    return NULL;
}

bool cfg_location_has_object(const struct cfg_location *loc, const char *key)
{
    if (loc->all_objects)
        return true;
    for (size_t i = 0; i < loc->n_objects; i++)
        if (!strcmp(loc->objects[i], key))
            return true;
    return false;
}

const char *cfg_field_type(const struct cfg_object *o, const char *field_key)
{
    for (size_t i = 0; i < o->n_field_types; i++)
        if (!strcmp(o->field_types[i].field, field_key))
            return o->field_types[i].pg_type;
    return NULL;
}

void cfg_register_secrets(const struct cfg *c, gs_log *lg)
{
    for (size_t i = 0; i < c->n_locations; i++) {
        const struct cfg_location *l = &c->locations[i];
        log_add_secret(lg, l->token);
        log_add_secret(lg, l->client_secret);
        log_add_secret(lg, l->refresh_token);
    }
    log_add_secret(lg, c->agency.client_secret);
    log_add_secret(lg, c->agency.refresh_token);
    const char *urls[] = {c->database.url, c->database.session_url};
    for (size_t u = 0; u < 2; u++) {
        if (!urls[u] || !urls[u][0])
            continue;
        PQconninfoOption *o = PQconninfoParse(urls[u], NULL);
        for (PQconninfoOption *p = o; p && p->keyword; p++)
            if (!strcmp(p->keyword, "password") && p->val)
                log_add_secret(lg, p->val);
        PQconninfoFree(o);
    }
}
