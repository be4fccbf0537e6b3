/* metrics.c - metric registry, Prometheus text rendering and the /metrics HTTP endpoint. */
#include "metrics.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

enum mtype { MT_COUNTER, MT_GAUGE };

static const struct {
    const char *name, *help;
    enum mtype type;
    int nlabels;
    const char *labels[METRICS_MAX_LABELS];
} families[GSM__COUNT] = {
    [GSM_REQUESTS] = {"ghlsync_http_requests_total",
                      "HighLevel API answers by endpoint and HTTP status (0 = no answer)",
                      MT_COUNTER,
                      3,
                      {"location", "endpoint", "status"}},
    [GSM_STARTED] = {"ghlsync_http_requests_started_total",
                     "HighLevel API requests started, retries included (rate budget)",
                     MT_COUNTER,
                     1,
                     {"location"}},
    [GSM_THROTTLED] = {"ghlsync_http_throttled_total",
                       "HighLevel API answers with status 429 (rate limited)",
                       MT_COUNTER,
                       1,
                       {"location"}},
    [GSM_RECORDS_PULLED] = {"ghlsync_records_pulled_total",
                            "Records written to PostgreSQL from HighLevel",
                            MT_COUNTER,
                            2,
                            {"location", "object"}},
    [GSM_RECORDS_PUSHED] = {"ghlsync_records_pushed_total",
                            "Local changes sent to HighLevel successfully",
                            MT_COUNTER,
                            3,
                            {"location", "object", "op"}},
    [GSM_ERRORS] = {"ghlsync_errors_total",
                    "Errors by kind (pull, push, auth, db, rejected, unknown_outcome, ...)",
                    MT_COUNTER,
                    2,
                    {"location", "kind"}},
    [GSM_SCRAPES] =
        {"ghlsync_metrics_scrapes_total", "Scrapes of this endpoint", MT_COUNTER, 0, {NULL}},
    [GSM_BURST_REMAINING] = {"ghlsync_rate_burst_remaining",
                             "Requests left in the current burst window (X-RateLimit-Remaining)",
                             MT_GAUGE,
                             1,
                             {"location"}},
    [GSM_BURST_LIMIT] = {"ghlsync_rate_burst_limit",
                         "Requests allowed per burst window",
                         MT_GAUGE,
                         1,
                         {"location"}},
    [GSM_DAILY_REMAINING] = {"ghlsync_rate_daily_remaining",
                             "Requests left today, UTC (X-RateLimit-Daily-Remaining)",
                             MT_GAUGE,
                             1,
                             {"location"}},
    [GSM_DAILY_LIMIT] =
        {"ghlsync_rate_daily_limit", "Requests allowed per UTC day", MT_GAUGE, 1, {"location"}},
    [GSM_INFLIGHT] = {"ghlsync_http_inflight", "Requests in flight", MT_GAUGE, 1, {"location"}},
    [GSM_CHANGES_PENDING] = {"ghlsync_changes_pending",
                             "Local changes waiting to be pushed (change-log depth)",
                             MT_GAUGE,
                             2,
                             {"location", "object"}},
    [GSM_CHANGES_FAILED] = {"ghlsync_changes_failed",
                            "Local changes failed or parked for an operator (ghlsync errors)",
                            MT_GAUGE,
                            2,
                            {"location", "object"}},
    [GSM_LAG_SECONDS] = {"ghlsync_lag_seconds",
                         "Seconds since the pull watermark (how stale the table may be)",
                         MT_GAUGE,
                         2,
                         {"location", "object"}},
    [GSM_BACKFILL_DONE] = {"ghlsync_backfill_complete",
                           "1 when the initial full copy of the object has completed",
                           MT_GAUGE,
                           2,
                           {"location", "object"}},
    [GSM_QUARANTINED] = {"ghlsync_quarantined_records",
                         "Records that could not be stored, kept in ghlsync.quarantine",
                         MT_GAUGE,
                         2,
                         {"location", "object"}},
    [GSM_START_TIME] =
        {"ghlsync_start_time_seconds", "Unix time the process started", MT_GAUGE, 0, {NULL}},
    [GSM_DB_RECONNECTS] = {"ghlsync_db_reconnects_total",
                           "PostgreSQL sessions re-established after a lost session",
                           MT_COUNTER,
                           0,
                           {NULL}},
    [GSM_DB_OUTAGES] = {"ghlsync_db_outages_total",
                        "PostgreSQL outages that ended (some connection without a session)",
                        MT_COUNTER,
                        0,
                        {NULL}},
    [GSM_DB_OUTAGE_SECONDS] = {"ghlsync_db_outage_seconds_total",
                               "Seconds with some PostgreSQL connection without a session",
                               MT_COUNTER,
                               0,
                               {NULL}},
    [GSM_DB_UP] = {"ghlsync_db_up",
                   "1 when every PostgreSQL connection has its session, else 0",
                   MT_GAUGE,
                   0,
                   {NULL}},
    [GSM_DB_PENDING] = {"ghlsync_db_statements_pending",
                        "Statements queued or running on the PostgreSQL connections",
                        MT_GAUGE,
                        0,
                        {NULL}},
    [GSM_WH_RECEIVED] = {"ghlsync_webhooks_received_total",
                         "Requests received on the webhook path",
                         MT_COUNTER,
                         0,
                         {NULL}},
    [GSM_WH_REJECTED] = {"ghlsync_webhooks_rejected_total",
                         "Webhook requests refused, by reason (signature, stale, replayed, ...)",
                         MT_COUNTER,
                         1,
                         {"reason"}},
    [GSM_WH_DROPPED] = {"ghlsync_webhooks_dropped_total",
                        "Valid webhooks not applied: location, object or event not mirrored",
                        MT_COUNTER,
                        1,
                        {"reason"}},
    [GSM_WH_APPLIED] = {"ghlsync_webhooks_applied_total",
                        "Webhook hints applied (updated, deleted, kept, absent)",
                        MT_COUNTER,
                        1,
                        {"outcome"}},
    [GSM_WH_FAILED] = {"ghlsync_webhooks_failed_total",
                       "Webhook hints given up after repeated failures (polling catches up)",
                       MT_COUNTER,
                       0,
                       {NULL}},
    [GSM_WH_QUEUE] = {"ghlsync_webhooks_queue_depth",
                      "Webhook hints queued in ghlsync.webhook_hints",
                      MT_GAUGE,
                      0,
                      {NULL}},
    [GSM_WH_LAG] = {"ghlsync_webhooks_lag_seconds",
                    "Event timestamp to row committed, quantiles of the last 1024 hints",
                    MT_GAUGE,
                    1,
                    {"quantile"}},
    [GSM_WH_REL_REQUESTS] = {"ghlsync_webhooks_relation_requests_total",
                             "Requests spent for Relation* and Association* hints (push "
                             "priority, outside the [relations] budget_share)",
                             MT_COUNTER,
                             0,
                             {NULL}},
};

struct series {
    int fam;
    char *labels[METRICS_MAX_LABELS];
    double v;
};

#define MAX_COLLECTORS 8

struct gs_metrics {
    struct series *s;
    size_t n, cap;
    /* Open-addressing index over s (entry = series index + 1, 0 = empty; a power of two, at
     * most half full): with thousands of locations there are tens of thousands of series, and
     * every request and every runtime round updates some, so a lookup must not scan them. */
    size_t *idx;
    size_t idx_cap;
    struct {
        metrics_collect_fn fn;
        void *ud;
    } coll[MAX_COLLECTORS];
    int ncoll;
};

gs_metrics *metrics_new(void)
{
    gs_metrics *m = calloc(1, sizeof *m);
    if (m)
        metrics_set(m, GSM_START_TIME, NULL, (double)time(NULL));
    return m;
}

void metrics_free(gs_metrics *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n; i++)
        for (int j = 0; j < METRICS_MAX_LABELS; j++)
            free(m->s[i].labels[j]);
    free(m->s);
    free(m->idx);
    free(m);
}

const char *metrics_family_name(enum metrics_family f)
{
    return (unsigned)f < GSM__COUNT ? families[f].name : "?";
}

int metrics_family_nlabels(enum metrics_family f)
{
    return (unsigned)f < GSM__COUNT ? families[f].nlabels : 0;
}

static size_t series_hash(int f, const char *const *labels, int nlabels)
{
    uint64_t h = 1469598103934665603ull ^ (uint64_t)f; /* FNV-1a */
    for (int j = 0; j < nlabels; j++) {
        for (const unsigned char *p = (const unsigned char *)labels[j]; *p; p++)
            h = (h ^ *p) * 1099511628211ull;
        h = (h ^ 0xffu) * 1099511628211ull; /* separator: ("ab","c") != ("a","bc") */
    }
    return (size_t)h;
}

static bool same(const struct series *s, int f, const char *const *labels)
{
    if (s->fam != f)
        return false;
    for (int j = 0; j < families[f].nlabels; j++)
        if (strcmp(s->labels[j], labels[j]) != 0)
            return false;
    return true;
}

static void idx_put(gs_metrics *m, size_t i)
{
    const struct series *s = &m->s[i];
    size_t mask = m->idx_cap - 1;
    size_t k = series_hash(s->fam, (const char *const *)s->labels, families[s->fam].nlabels) & mask;
    while (m->idx[k])
        k = (k + 1) & mask;
    m->idx[k] = i + 1;
}

/* Rebuild the index for at least `n` series. 0 or GS_ENOMEM (the old index is kept). */
static int idx_rebuild(gs_metrics *m, size_t n)
{
    size_t cap = m->idx_cap >= 64 ? m->idx_cap : 64;
    while (cap < 2 * n)
        cap *= 2;
    size_t *v = calloc(cap, sizeof *v);
    if (!v)
        return GS_ENOMEM;
    free(m->idx);
    m->idx = v;
    m->idx_cap = cap;
    for (size_t i = 0; i < m->n; i++)
        idx_put(m, i);
    return 0;
}

static struct series *find(const gs_metrics *m, enum metrics_family f, const char *const *labels)
{
    if (!m->idx_cap)
        return NULL;
    size_t mask = m->idx_cap - 1;
    for (size_t k = series_hash((int)f, labels, families[f].nlabels) & mask; m->idx[k];
         k = (k + 1) & mask)
        if (same(&m->s[m->idx[k] - 1], (int)f, labels))
            return &m->s[m->idx[k] - 1];
    return NULL;
}

static struct series *get(gs_metrics *m, enum metrics_family f, const char *const *labels)
{
    if ((unsigned)f >= GSM__COUNT)
        return NULL;
    for (int j = 0; j < families[f].nlabels; j++)
        if (!labels || !labels[j])
            return NULL;
    struct series *s = find(m, f, labels);
    if (s)
        return s;
    if (2 * (m->n + 1) > m->idx_cap && idx_rebuild(m, m->n + 1))
        return NULL;
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 32;
        struct series *v = realloc(m->s, cap * sizeof *v);
        if (!v)
            return NULL;
        m->s = v;
        m->cap = cap;
    }
    s = &m->s[m->n];
    memset(s, 0, sizeof *s);
    s->fam = (int)f;
    for (int j = 0; j < families[f].nlabels; j++) {
        s->labels[j] = strdup(labels[j]);
        if (!s->labels[j]) {
            for (int k = 0; k < j; k++)
                free(s->labels[k]);
            return NULL;
        }
    }
    m->n++;
    idx_put(m, m->n - 1);
    return s;
}

int metrics_add(gs_metrics *m, enum metrics_family f, const char *const *labels, double delta)
{
    if ((unsigned)f >= GSM__COUNT)
        return GS_EINVAL;
    struct series *s = get(m, f, labels);
    if (!s)
        return GS_ENOMEM;
    if (families[f].type == MT_COUNTER && !(delta >= 0))
        return 0;
    s->v += delta;
    return 0;
}

int metrics_set(gs_metrics *m, enum metrics_family f, const char *const *labels, double value)
{
    if ((unsigned)f >= GSM__COUNT)
        return GS_EINVAL;
    struct series *s = get(m, f, labels);
    if (!s)
        return GS_ENOMEM;
    s->v = value;
    return 0;
}

void metrics_drop(gs_metrics *m, enum metrics_family f, const char *const *labels)
{
    if ((unsigned)f >= GSM__COUNT)
        return;
    struct series *s = find(m, f, labels);
    if (!s)
        return;
    for (int j = 0; j < METRICS_MAX_LABELS; j++)
        free(s->labels[j]);
    size_t i = (size_t)(s - m->s);
    memmove(&m->s[i], &m->s[i + 1], (m->n - i - 1) * sizeof *m->s);
    m->n--;
    /* the series after it moved: index them again (drops are rare: a location's last error) */
    memset(m->idx, 0, m->idx_cap * sizeof *m->idx);
    for (size_t k = 0; k < m->n; k++)
        idx_put(m, k);
}

double metrics_get(const gs_metrics *m, enum metrics_family f, const char *const *labels)
{
    if ((unsigned)f >= GSM__COUNT)
        return 0;
    struct series *s = find(m, f, labels);
    return s ? s->v : 0;
}

bool metrics_lookup(const gs_metrics *m, enum metrics_family f, const char *const *labels,
                    double *value)
{
    if ((unsigned)f >= GSM__COUNT)
        return false;
    struct series *s = find(m, f, labels);
    if (s)
        *value = s->v;
    return s != NULL;
}

void metrics_zero_family(gs_metrics *m, enum metrics_family f)
{
    for (size_t i = 0; i < m->n; i++)
        if (m->s[i].fam == (int)f)
            m->s[i].v = 0;
}

void metrics_api_answer(gs_metrics *m, const char *location, const char *endpoint, long status,
                        long burst_remaining, long daily_remaining)
{
    char st[24];
    snprintf(st, sizeof st, "%ld", status);
    const char *l3[] = {location, endpoint, st};
    metrics_add(m, GSM_REQUESTS, l3, 1);
    const char *l1[] = {location};
    if (burst_remaining >= 0)
        metrics_set(m, GSM_BURST_REMAINING, l1, (double)burst_remaining);
    if (daily_remaining >= 0)
        metrics_set(m, GSM_DAILY_REMAINING, l1, (double)daily_remaining);
}

int metrics_on_scrape(gs_metrics *m, metrics_collect_fn fn, void *ud)
{
    if (m->ncoll == MAX_COLLECTORS)
        return GS_EINVAL;
    m->coll[m->ncoll].fn = fn;
    m->coll[m->ncoll].ud = ud;
    m->ncoll++;
    return 0;
}

void metrics_off_scrape(gs_metrics *m, metrics_collect_fn fn, void *ud)
{
    for (int i = 0; i < m->ncoll; i++)
        if (m->coll[i].fn == fn && m->coll[i].ud == ud) {
            memmove(&m->coll[i], &m->coll[i + 1], (size_t)(m->ncoll - i - 1) * sizeof *m->coll);
            m->ncoll--;
            return;
        }
}

/* Label values are escaped as the exposition format requires: backslash, quote, newline. */
static void put_label_value(sbuf *b, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\')
            sbuf_puts(b, "\\\\");
        else if (*v == '"')
            sbuf_puts(b, "\\\"");
        else if (*v == '\n')
            sbuf_puts(b, "\\n");
        else
            sbuf_putc(b, *v);
    }
}

static void put_value(sbuf *b, double v)
{
    if (isnan(v))
        sbuf_puts(b, "NaN");
    else if (isinf(v))
        sbuf_puts(b, v > 0 ? "+Inf" : "-Inf");
    else if (v == floor(v) && fabs(v) < 1e15)
        sbuf_printf(b, "%.0f", v);
    else
        sbuf_printf(b, "%.10g", v);
}

void metrics_render(gs_metrics *m, sbuf *out)
{
    metrics_add(m, GSM_SCRAPES, NULL, 1);
    for (int i = 0; i < m->ncoll; i++)
        m->coll[i].fn(m, m->coll[i].ud);
    for (int f = 0; f < GSM__COUNT; f++) {
        sbuf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", families[f].name, families[f].help,
                    families[f].name, families[f].type == MT_COUNTER ? "counter" : "gauge");
        for (size_t i = 0; i < m->n; i++) {
            const struct series *s = &m->s[i];
            if (s->fam != f)
                continue;
            sbuf_puts(out, families[f].name);
            if (families[f].nlabels) {
                sbuf_putc(out, '{');
                for (int j = 0; j < families[f].nlabels; j++) {
                    sbuf_printf(out, "%s%s=\"", j ? "," : "", families[f].labels[j]);
                    put_label_value(out, s->labels[j]);
                    sbuf_putc(out, '"');
                }
                sbuf_putc(out, '}');
            }
            sbuf_putc(out, ' ');
            put_value(out, s->v);
            sbuf_putc(out, '\n');
        }
    }
}

/* ---- HTTP endpoint ------------------------------------------------------------------------- */

struct mclient {
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_write_t wr;
    metrics_server *srv;
    struct mclient *prev, *next;
    char *resp;
    size_t n;
    int open_handles;
    bool responded, closing;
    char buf[METRICS_MAX_REQUEST];
};

struct metrics_server {
    uv_loop_t *loop;
    uv_tcp_t listener;
    gs_metrics *m;
    gs_log *log;
    metrics_ready_fn ready;
    void *ready_ud;
    metrics_ready_fn health;
    void *health_ud;
    struct mclient *clients;
    int nclients;
    int port;
    bool listener_open, closing;
};

static void server_maybe_free(metrics_server *s)
{
    if (s->closing && !s->listener_open && s->nclients == 0)
        free(s);
}

static void client_handle_closed(uv_handle_t *h)
{
    struct mclient *c = h->data;
    if (--c->open_handles > 0)
        return;
    metrics_server *s = c->srv;
    if (c->prev)
        c->prev->next = c->next;
    else
        s->clients = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->nclients--;
    free(c->resp);
    free(c);
    server_maybe_free(s);
}

static void client_close(struct mclient *c)
{
    if (c->closing)
        return;
    c->closing = true;
    uv_close((uv_handle_t *)&c->tcp, client_handle_closed);
    uv_close((uv_handle_t *)&c->timer, client_handle_closed);
}

static void on_written(uv_write_t *req, int status)
{
    (void)status;
    client_close(req->data);
}

static void respond(struct mclient *c, int code, const char *reason, const char *ctype,
                    const char *body, size_t body_len, bool head_only, const char *extra_header)
{
    if (c->responded || c->closing)
        return;
    c->responded = true;
    uv_read_stop((uv_stream_t *)&c->tcp);
    sbuf b = SBUF_INIT;
    sbuf_printf(&b,
                "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                "Cache-Control: no-store\r\nConnection: close\r\n%s\r\n",
                code, reason, ctype, body_len, extra_header ? extra_header : "");
    if (!head_only)
        sbuf_append(&b, body, body_len);
    if (sbuf_failed(&b)) {
        sbuf_free(&b);
        client_close(c);
        return;
    }
    size_t total = b.len;
    c->resp = sbuf_steal(&b);
    uv_buf_t ub = uv_buf_init(c->resp, (unsigned)total);
    c->wr.data = c;
    if (uv_write(&c->wr, (uv_stream_t *)&c->tcp, &ub, 1, on_written) != 0)
        client_close(c);
}

static void respond_text(struct mclient *c, int code, const char *reason, const char *text,
                         bool head_only)
{
    respond(c, code, reason, "text/plain; charset=utf-8", text, strlen(text), head_only, NULL);
}

/* Find a header value in the head (between the request line and the blank line); names are
 * case-insensitive. Returns a pointer to the value (up to CR) or NULL. */
static const char *header(const char *head, const char *name, size_t *vlen)
{
    size_t nl = strlen(name);
    const char *p = strstr(head, "\r\n");
    while (p && p[2] != '\r') {
        p += 2;
        const char *eol = strstr(p, "\r\n");
        if (!eol)
            return NULL;
        if ((size_t)(eol - p) > nl && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            *vlen = (size_t)(eol - v);
            while (*vlen && (v[*vlen - 1] == ' ' || v[*vlen - 1] == '\t'))
                (*vlen)--;
            return v;
        }
        p = eol;
    }
    return NULL;
}

static void handle_request(struct mclient *c)
{
    metrics_server *s = c->srv;
    char *head = c->buf;
    /* Request line: METHOD SP TARGET SP HTTP/1.x, each token printable ASCII. */
    char method[8], target[256], version[16];
    char *eol = strstr(head, "\r\n");
    *eol = 0;
    int n = 0;
    bool ok = sscanf(head, "%7[A-Z] %255[!-~] %15[!-~]%n", method, target, version, &n) == 3 &&
              head[n] == 0;
    *eol = '\r';
    if (!ok) {
        respond_text(c, 400, "Bad Request", "bad request line\n", false);
        return;
    }
    if (strcmp(version, "HTTP/1.1") != 0 && strcmp(version, "HTTP/1.0") != 0) {
        respond_text(c, 505, "HTTP Version Not Supported", "HTTP/1.0 or HTTP/1.1 only\n", false);
        return;
    }
    size_t vl = 0;
    if (strcmp(version, "HTTP/1.1") == 0 && !header(head, "Host", &vl)) {
        respond_text(c, 400, "Bad Request", "HTTP/1.1 request without Host\n", false);
        return;
    }
    const char *cl = header(head, "Content-Length", &vl);
    if (header(head, "Transfer-Encoding", &vl) || (cl && !(vl == 1 && cl[0] == '0'))) {
        respond_text(c, 400, "Bad Request", "request bodies are not accepted\n", false);
        return;
    }
    bool head_only = strcmp(method, "HEAD") == 0;
    if (!head_only && strcmp(method, "GET") != 0) {
        respond(c, 405, "Method Not Allowed", "text/plain; charset=utf-8", "GET or HEAD only\n", 17,
                false, "Allow: GET, HEAD\r\n");
        return;
    }
    char *q = strchr(target, '?'); /* Prometheus may add parameters; none are used */
    if (q)
        *q = 0;
    if (strcmp(target, "/metrics") == 0) {
        sbuf b = SBUF_INIT;
        metrics_render(s->m, &b);
        if (sbuf_failed(&b)) {
            sbuf_free(&b);
            respond_text(c, 500, "Internal Server Error", "out of memory\n", head_only);
            return;
        }
        respond(c, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", sbuf_str(&b), b.len,
                head_only, NULL);
        sbuf_free(&b);
    } else if (strcmp(target, "/healthz") == 0) {
        char why[256] = "";
        if (!s->health || s->health(s->health_ud, why, sizeof why)) {
            respond_text(c, 200, "OK", "ok\n", head_only);
        } else {
            char body[300];
            snprintf(body, sizeof body, "unhealthy: %s\n", why[0] ? why : "stalled");
            respond_text(c, 503, "Service Unavailable", body, head_only);
        }
    } else if (strcmp(target, "/readyz") == 0) {
        char why[256] = "";
        if (!s->ready || s->ready(s->ready_ud, why, sizeof why)) {
            respond_text(c, 200, "OK", "ready\n", head_only);
        } else {
            char body[300];
            snprintf(body, sizeof body, "not ready: %s\n", why[0] ? why : "starting");
            respond_text(c, 503, "Service Unavailable", body, head_only);
        }
    } else {
        respond_text(c, 404, "Not Found", "not found: try /metrics, /healthz or /readyz\n",
                     head_only);
    }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    struct mclient *c = h->data;
    /* Keep one byte for the terminating NUL the parser relies on. */
    size_t room = sizeof c->buf - 1 - c->n;
    *buf = uv_buf_init(c->buf + c->n, (unsigned)room);
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    struct mclient *c = st->data;
    if (nread < 0) {
        if (nread == UV_ENOBUFS)
            respond_text(c, 431, "Request Header Fields Too Large", "request too large\n", false);
        else
            client_close(c);
        return;
    }
    if (nread == 0 || c->responded)
        return;
    /* NUL bytes have no place in a request head and would cut the string search short. */
    if (memchr(c->buf + c->n, 0, (size_t)nread)) {
        respond_text(c, 400, "Bad Request", "NUL in request\n", false);
        return;
    }
    c->n += (size_t)nread;
    c->buf[c->n] = 0;
    if (strstr(c->buf, "\r\n\r\n")) {
        handle_request(c);
    } else if (c->n >= sizeof c->buf - 1) {
        respond_text(c, 431, "Request Header Fields Too Large", "request too large\n", false);
    }
}

static void on_timeout(uv_timer_t *t)
{
    struct mclient *c = t->data;
    if (c->responded)
        client_close(c); /* the client does not read its answer */
    else
        respond_text(c, 408, "Request Timeout", "request timeout\n", false);
}

static void on_connection(uv_stream_t *l, int status)
{
    metrics_server *s = l->data;
    if (status < 0 || s->closing)
        return;
    struct mclient *c = calloc(1, sizeof *c);
    if (!c) {
        /* Out of memory: leave the connection in the backlog; the next one retries. */
        log_event(s->log, LOG_WARN, "metrics.oom", NULL);
        return;
    }
    c->srv = s;
    uv_tcp_init(s->loop, &c->tcp);
    uv_timer_init(s->loop, &c->timer);
    c->tcp.data = c;
    c->timer.data = c;
    c->open_handles = 2;
    c->next = s->clients;
    if (s->clients)
        s->clients->prev = c;
    s->clients = c;
    s->nclients++;
    if (uv_accept(l, (uv_stream_t *)&c->tcp) != 0 || s->nclients > METRICS_MAX_CLIENTS) {
        client_close(c);
        return;
    }
    uv_timer_start(&c->timer, on_timeout, METRICS_REQUEST_TIMEOUT_MS, 0);
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0)
        client_close(c);
}

int metrics_parse_listen(const char *listen, struct sockaddr_storage *out, gs_err *e)
{
    memset(out, 0, sizeof *out);
    const char *colon = strrchr(listen ? listen : "", ':');
    if (!colon)
        return gs_err_set(e, GS_ECONFIG,
                          "[metrics] listen = \"%s\": expected HOST:PORT, e.g. \"127.0.0.1:9187\"",
                          listen ? listen : "");
    char *end = NULL;
    long port = strtol(colon + 1, &end, 10);
    if (!colon[1] || *end || port < 0 || port > 65535)
        return gs_err_set(e, GS_ECONFIG, "[metrics] listen = \"%s\": bad port", listen);
    char host[128];
    size_t hl = (size_t)(colon - listen);
    if (hl >= sizeof host)
        return gs_err_set(e, GS_ECONFIG, "[metrics] listen = \"%s\": host too long", listen);
    memcpy(host, listen, hl);
    host[hl] = 0;
    if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
        host[hl - 1] = 0;
        if (uv_ip6_addr(host + 1, (int)port, (struct sockaddr_in6 *)out) != 0)
            return gs_err_set(e, GS_ECONFIG, "[metrics] listen = \"%s\": bad IPv6 address", listen);
        return 0;
    }
    if (uv_ip4_addr(hl ? host : "0.0.0.0", (int)port, (struct sockaddr_in *)out) != 0)
        return gs_err_set(e, GS_ECONFIG,
                          "[metrics] listen = \"%s\": bad IPv4 address (use [addr] for IPv6; "
                          "host names are not resolved)",
                          listen);
    return 0;
}

int metrics_server_start(uv_loop_t *loop, gs_metrics *m, const char *listen, gs_log *lg,
                         metrics_server **out, gs_err *e)
{
    *out = NULL;
    struct sockaddr_storage addr;
    int rc = metrics_parse_listen(listen, &addr, e);
    if (rc)
        return rc;
    metrics_server *s = calloc(1, sizeof *s);
    if (!s)
        return gs_err_set(e, GS_ENOMEM, "metrics: out of memory");
    s->loop = loop;
    s->m = m;
    s->log = lg;
    uv_tcp_init(loop, &s->listener);
    s->listener.data = s;
    s->listener_open = true;
    int r = uv_tcp_bind(&s->listener, (const struct sockaddr *)&addr, 0);
    if (r == 0)
        r = uv_listen((uv_stream_t *)&s->listener, 64, on_connection);
    if (r != 0) {
        s->closing = true;
        metrics_server_close(s);
        return gs_err_set(e, GS_EIO, "metrics: cannot listen on %s: %s", listen, uv_strerror(r));
    }
    struct sockaddr_storage bound;
    int len = sizeof bound;
    uv_tcp_getsockname(&s->listener, (struct sockaddr *)&bound, &len);
    s->port = bound.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&bound)->sin6_port)
                                          : ntohs(((struct sockaddr_in *)&bound)->sin_port);
    char port[16];
    snprintf(port, sizeof port, "%d", s->port);
    log_event(lg, LOG_INFO, "metrics.listen", "listen", listen, "port", port, NULL);
    *out = s;
    return 0;
}

void metrics_server_set_ready(metrics_server *s, metrics_ready_fn fn, void *ud)
{
    s->ready = fn;
    s->ready_ud = ud;
}

void metrics_server_set_health(metrics_server *s, metrics_ready_fn fn, void *ud)
{
    s->health = fn;
    s->health_ud = ud;
}

int metrics_server_port(const metrics_server *s)
{
    return s->port;
}

static void listener_closed(uv_handle_t *h)
{
    metrics_server *s = h->data;
    s->listener_open = false;
    server_maybe_free(s);
}

void metrics_server_close(metrics_server *s)
{
    if (!s)
        return;
    s->closing = true;
    for (struct mclient *c = s->clients; c; c = c->next)
        client_close(c);
    if (!uv_is_closing((uv_handle_t *)&s->listener))
        uv_close((uv_handle_t *)&s->listener, listener_closed);
}
