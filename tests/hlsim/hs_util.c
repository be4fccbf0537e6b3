/* hs_util.c - buffers, PRNG, clock, ids and date helpers for the simulator. */
#include "hlsim.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void buf_grow(hs_buf *b, size_t need)
{
    if (b->n + need + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->n + need + 1)
        cap *= 2;
    char *d = realloc(b->d, cap);
    if (!d)
        abort(); /* the simulator cannot continue without memory */
    b->d = d;
    b->cap = cap;
}

void hs_buf_add(hs_buf *b, const char *s, size_t n)
{
    buf_grow(b, n);
    memcpy(b->d + b->n, s, n);
    b->n += n;
    b->d[b->n] = 0;
}

void hs_buf_puts(hs_buf *b, const char *s)
{
    hs_buf_add(b, s, strlen(s));
}

void hs_buf_printf(hs_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char tmp[512];
    int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (k < 0)
        return;
    if ((size_t)k < sizeof tmp) {
        hs_buf_add(b, tmp, (size_t)k);
        return;
    }
    buf_grow(b, (size_t)k);
    va_start(ap, fmt);
    vsnprintf(b->d + b->n, (size_t)k + 1, fmt, ap);
    va_end(ap);
    b->n += (size_t)k;
}

void hs_buf_json_str(hs_buf *b, const char *s)
{
    buf_grow(b, strlen(s) + 2);
    hs_buf_add(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            char e[2] = {'\\', (char)*p};
            hs_buf_add(b, e, 2);
        } else if (*p < 0x20) {
            char e[8];
            snprintf(e, sizeof e, "\\u%04x", *p);
            hs_buf_add(b, e, 6);
        } else {
            hs_buf_add(b, (const char *)p, 1);
        }
    }
    hs_buf_add(b, "\"", 1);
}

char *hs_buf_steal(hs_buf *b)
{
    if (!b->d)
        hs_buf_add(b, "", 0);
    char *d = b->d;
    b->d = NULL;
    b->n = b->cap = 0;
    return d;
}

uint64_t hs_rng_next(hs_rng *r)
{
    /* splitmix64: tiny, fast, good enough for test data */
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

double hs_rng_unit(hs_rng *r)
{
    return (double)(hs_rng_next(r) >> 11) / 9007199254740992.0;
}

int64_t hs_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void hs_iso_ms(int64_t ms, char out[32])
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    char tmp[64];
    snprintf(tmp, sizeof tmp, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", (tm.tm_year + 1900) % 10000,
             (tm.tm_mon + 1) % 100, tm.tm_mday % 100, tm.tm_hour % 100, tm.tm_min % 100,
             tm.tm_sec % 100, (int)(((ms % 1000) + 1000) % 1000));
    memcpy(out, tmp, 31);
    out[31] = 0;
}

static int days_in_month(int y, int m)
{
    static const int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 29;
    return d[m - 1];
}

bool hs_valid_date(const char *s)
{
    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return false;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && !isdigit((unsigned char)s[i]))
            return false;
    int y = atoi(s), m = atoi(s + 5), d = atoi(s + 8);
    return y >= 1 && m >= 1 && m <= 12 && d >= 1 && d <= days_in_month(y, m);
}

bool hs_parse_iso_ms(const char *s, int64_t *ms)
{
    size_t n = strlen(s);
    if (n > 0 && n < 16 && strspn(s, "0123456789") == n) {
        *ms = strtoll(s, NULL, 10);
        return true;
    }
    int y, mo, d, h = 0, mi = 0, sec = 0;
    if (n < 10 || sscanf(s, "%4d-%2d-%2d", &y, &mo, &d) != 3)
        return false;
    char tmp[11];
    memcpy(tmp, s, 10);
    tmp[10] = 0;
    if (!hs_valid_date(tmp))
        return false;
    const char *p = s + 10;
    long frac = 0;
    int off = 0;
    if (*p == 'T' || *p == ' ') {
        if (sscanf(p + 1, "%2d:%2d:%2d", &h, &mi, &sec) != 3)
            return false;
        p += 9;
        if (*p == '.') {
            p++;
            int digits = 0;
            while (isdigit((unsigned char)*p)) {
                if (digits < 3)
                    frac = frac * 10 + (*p - '0');
                digits++;
                p++;
            }
            while (digits < 3) {
                frac *= 10;
                digits++;
            }
        }
        if (*p == 'Z') {
            p++;
        } else if (*p == '+' || *p == '-') {
            int oh, om;
            if (sscanf(p + 1, "%2d:%2d", &oh, &om) != 2)
                return false;
            off = (oh * 60 + om) * (*p == '+' ? 1 : -1);
            p += 6;
        }
        if (*p)
            return false;
    } else if (*p) {
        return false;
    }
    struct tm tm = {0};
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    int64_t t = (int64_t)timegm(&tm) - (int64_t)off * 60;
    *ms = t * 1000 + frac;
    return true;
}

void hs_hex_id(hs_rng *r, int64_t ms, char out[25])
{
    /* Like a Mongo ObjectId: seconds first, then random. */
    uint64_t a = hs_rng_next(r);
    snprintf(out, 25, "%08x%016llx", (unsigned)(ms / 1000), (unsigned long long)a);
}

void hs_alnum_id(hs_rng *r, char out[21])
{
    static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    for (int i = 0; i < 20; i++)
        out[i] = al[hs_rng_next(r) % 62];
    out[20] = 0;
}

bool hs_is_hex24(const char *s)
{
    if (strlen(s) != 24)
        return false;
    for (int i = 0; i < 24; i++)
        if (!isdigit((unsigned char)s[i]) && !(s[i] >= 'a' && s[i] <= 'f'))
            return false;
    return true;
}

void hs_sleep_ms(int64_t ms, const volatile int *stop)
{
    /* Short slices so that shutdown never waits for a long stall. */
    while (ms > 0 && !*stop) {
        int64_t step = ms < 50 ? ms : 50;
        struct timespec ts = {(time_t)(step / 1000), (long)(step % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        ms -= step;
    }
}

static const char *const dtype_names[DT__COUNT] = {
    "TEXT",           "LARGE_TEXT",       "NUMERICAL", "PHONE",        "MONETORY",    "CHECKBOX",
    "SINGLE_OPTIONS", "MULTIPLE_OPTIONS", "DATE",      "TEXTBOX_LIST", "FILE_UPLOAD", "RADIO"};

const char *hs_dtype_name(int dt)
{
    return dt >= 0 && dt < DT__COUNT ? dtype_names[dt] : "UNKNOWN";
}

int hs_dtype_parse(const char *s)
{
    if (!s)
        return DT_UNKNOWN;
    if (strcmp(s, "MONETARY") == 0)
        return DT_MONETORY;
    for (int i = 0; i < DT__COUNT; i++)
        if (strcmp(s, dtype_names[i]) == 0)
            return i;
    return DT_UNKNOWN;
}

static const char *const fault_names[FK__COUNT] = {
    "latency", "error",     "reset", "reset_after", "truncate",
    "cutoff",  "malformed", "stall", "rate429",     "expire_token"};

const char *hs_fault_name(int k)
{
    return k >= 0 && k < FK__COUNT ? fault_names[k] : "?";
}

static const char *const route_names[R__COUNT] = {
    "unmatched",
    "GET /objects",
    "POST /objects",
    "GET /objects/{key}",
    "PUT /objects/{key}",
    "POST /objects/{schemaKey}/records",
    "GET /objects/{schemaKey}/records/{id}",
    "PUT /objects/{schemaKey}/records/{id}",
    "DELETE /objects/{schemaKey}/records/{id}",
    "POST /objects/{schemaKey}/records/search",
    "GET /custom-fields/object-key/{objectKey}",
    "POST /custom-fields",
    "GET /custom-fields/{id}",
    "PUT /custom-fields/{id}",
    "DELETE /custom-fields/{id}",
    "POST /contacts/search",
    "POST /contacts/",
    "POST /contacts/upsert",
    "GET /contacts/{id}",
    "PUT /contacts/{id}",
    "DELETE /contacts/{id}",
    "POST /contacts/{id}/tags",
    "DELETE /contacts/{id}/tags",
    "GET /contacts/search/duplicate",
    "POST /contacts/{id}/followers",
    "DELETE /contacts/{id}/followers",
    "GET /locations/{id}/customFields",
    "GET /opportunities/search",
    "POST /opportunities/search",
    "GET /opportunities/pipelines",
    "GET /opportunities/lost-reason",
    "POST /opportunities/",
    "GET /opportunities/{id}",
    "PUT /opportunities/{id}",
    "DELETE /opportunities/{id}",
    "POST /opportunities/{id}/followers",
    "DELETE /opportunities/{id}/followers",
    "PUT /opportunities/{id}/status",
    "GET /associations/",
    "POST /associations/",
    "GET /associations/{id}",
    "DELETE /associations/{id}",
    "GET /associations/relations/{recordId}",
    "POST /associations/relations",
    "DELETE /associations/relations/{id}",
    "POST /oauth/token",
    "POST /oauth/locationToken",
    "GET /oauth/installedLocations",
    "/_admin",
};

const char *hs_route_name(int r)
{
    return r >= 0 && r < R__COUNT ? route_names[r] : "?";
}

void hs_fold(char *s)
{
    /* ASCII and the Latin-1 letters (U+00C0..U+00DE but U+00D7): the same bytes count, so a
     * folded copy lines up with the original; enough for names like "Müller" or "ZOË" */
    for (unsigned char *p = (unsigned char *)s; *p; p++) {
        if (*p >= 'A' && *p <= 'Z')
            *p = (unsigned char)(*p + 32);
        else if (*p == 0xC3 && p[1] >= 0x80 && p[1] <= 0x9E && p[1] != 0x97)
            p[1] = (unsigned char)(p[1] + 0x20), p++;
    }
}

bool hs_ci_contains(const char *hay, const char *needle, bool whole)
{
    char *h = strdup(hay), *n = strdup(needle);
    if (!h || !n)
        abort();
    hs_fold(h);
    hs_fold(n);
    bool r = whole ? strcmp(h, n) == 0 : strstr(h, n) != NULL;
    free(h);
    free(n);
    return r;
}
