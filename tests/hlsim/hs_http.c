/*
 * hs_http.c - libmicrohttpd front end: routing, auth, Version check, rate limits, fault
 * injection, counters, response headers (X-RateLimit-*, traceId in every JSON body).
 *
 * Thread per connection: a stalled or slow response blocks only its own connection. All state
 * access happens under ctx->mu; sleeps (latency, stall) happen without it.
 */
#include "hlsim.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#define UNLIMITED 1000000000L
#define MAX_BODY  (512u << 20)

typedef struct req_state {
    hs_buf body;
    bool too_big;
} req_state;

typedef struct rate_hdr {
    long max, rem, interval, daily, daily_rem;
    long retry_after; /* seconds, 429 only */
} rate_hdr;

/* ---- routing ------------------------------------------------------------------------------ */

static int split(const char *url, char seg[6][256])
{
    int n = 0;
    const char *p = url;
    if (*p == '/')
        p++;
    while (*p && n < 6) {
        const char *s = strchr(p, '/');
        size_t len = s ? (size_t)(s - p) : strlen(p);
        if (len >= 256)
            return -1;
        memcpy(seg[n], p, len);
        seg[n][len] = 0;
        n++;
        if (!s)
            break;
        p = s + 1;
        if (!*p) {
            seg[n][0] = 0; /* trailing slash: an empty last segment */
            n++;
            break;
        }
    }
    if (*p && n == 6 && strchr(p, '/'))
        return -1;
    return n;
}

static int route(const char *m, const char *url, char *key, char *id)
{
    char s[6][256];
    int n = split(url, s);
    if (n <= 0)
        return R_NONE;
    bool get = !strcmp(m, "GET"), post = !strcmp(m, "POST"), put = !strcmp(m, "PUT"),
         del = !strcmp(m, "DELETE");
    if (!strcmp(s[0], "objects")) {
        if (n == 1 || (n == 2 && !s[1][0]))
            return get ? R_OBJECTS_LIST : post ? R_OBJECTS_CREATE : R_NONE;
        if (!s[1][0])
            return R_NONE;
        snprintf(key, 256, "%s", s[1]);
        if (n == 2)
            return get ? R_OBJECT_GET : put ? R_OBJECT_PUT : R_NONE;
        if (strcmp(s[2], "records"))
            return R_NONE;
        if (n == 3)
            return post ? R_RECORD_CREATE : R_NONE;
        if (n == 4 && !strcmp(s[3], "search"))
            return post ? R_RECORD_SEARCH : R_NONE;
        if (n == 4 && s[3][0]) {
            snprintf(id, 128, "%.127s", s[3]);
            return get ? R_RECORD_GET : put ? R_RECORD_PUT : del ? R_RECORD_DELETE : R_NONE;
        }
        return R_NONE;
    }
    if (!strcmp(s[0], "custom-fields")) {
        if (n == 1 || (n == 2 && !s[1][0]))
            return post ? R_CF_CREATE : R_NONE;
        if (n == 3 && !strcmp(s[1], "object-key") && s[2][0]) {
            snprintf(key, 256, "%s", s[2]);
            return get ? R_CF_LIST : R_NONE;
        }
        if (n == 2) {
            snprintf(key, 256, "%s", s[1]);
            return get ? R_CF_GET : put ? R_CF_PUT : del ? R_CF_DELETE : R_NONE;
        }
        return R_NONE;
    }
    if (!strcmp(s[0], "contacts")) {
        if (n == 1 || (n == 2 && !s[1][0]))
            return post ? R_CONTACT_CREATE : R_NONE;
        if (n == 2 && !strcmp(s[1], "search"))
            return post ? R_CONTACT_SEARCH : R_NONE;
        if (n == 2 && !strcmp(s[1], "upsert"))
            return post ? R_CONTACT_UPSERT : R_NONE;
        if (!s[1][0] || strlen(s[1]) > 127)
            return R_NONE;
        snprintf(id, 128, "%.127s", s[1]);
        if (n == 2)
            return get ? R_CONTACT_GET : put ? R_CONTACT_PUT : del ? R_CONTACT_DELETE : R_NONE;
        if (n == 3 && !strcmp(s[1], "search") && !strcmp(s[2], "duplicate"))
            return get ? R_CONTACT_DUP : R_NONE;
        if (n == 3 && !strcmp(s[2], "tags"))
            return post ? R_CONTACT_TAGS_ADD : del ? R_CONTACT_TAGS_DEL : R_NONE;
        if (n == 3 && !strcmp(s[2], "followers"))
            return post ? R_CONTACT_FOLLOWERS_ADD : del ? R_CONTACT_FOLLOWERS_DEL : R_NONE;
        return R_NONE;
    }
    if (!strcmp(s[0], "opportunities")) {
        if (n == 1 || (n == 2 && !s[1][0]))
            return post ? R_OPP_CREATE : R_NONE;
        if (n == 2 && !strcmp(s[1], "search"))
            return get ? R_OPP_GSEARCH : post ? R_OPP_PSEARCH : R_NONE;
        if (n == 2 && !strcmp(s[1], "pipelines"))
            return get ? R_OPP_PIPELINES : R_NONE;
        if (n == 2 && !strcmp(s[1], "lost-reason"))
            return get ? R_OPP_LOST : R_NONE;
        if (!s[1][0] || strlen(s[1]) > 127)
            return R_NONE;
        snprintf(id, 128, "%.127s", s[1]);
        if (n == 2)
            return get ? R_OPP_GET : put ? R_OPP_PUT : del ? R_OPP_DELETE : R_NONE;
        if (n == 3 && !strcmp(s[2], "status"))
            return put ? R_OPP_STATUS : R_NONE;
        if (n == 3 && !strcmp(s[2], "followers"))
            return post ? R_OPP_FOLLOWERS_ADD : del ? R_OPP_FOLLOWERS_DEL : R_NONE;
        return R_NONE;
    }
    if (!strcmp(s[0], "associations")) {
        if (n == 1 || (n == 2 && !s[1][0]))
            return get ? R_ASSOC_LIST : post ? R_ASSOC_CREATE : R_NONE;
        if (n == 2 && !strcmp(s[1], "relations"))
            return post ? R_REL_CREATE : R_NONE;
        if (n == 3 && !strcmp(s[1], "relations") && s[2][0] && strlen(s[2]) < 128) {
            snprintf(id, 128, "%.127s", s[2]);
            return get ? R_REL_LIST : del ? R_REL_DELETE : R_NONE;
        }
        if (n == 3 && !strcmp(s[1], "key") && s[2][0]) {
            snprintf(key, 256, "%s", s[2]);
            return get ? R_ASSOC_GET : R_NONE;
        }
        if (n == 2 && strlen(s[1]) < 128) {
            snprintf(id, 128, "%.127s", s[1]);
            return get ? R_ASSOC_GET : del ? R_ASSOC_DELETE : R_NONE;
        }
        return R_NONE;
    }
    if (n == 3 && !strcmp(s[0], "locations") && s[1][0] && !strcmp(s[2], "customFields")) {
        snprintf(key, 256, "%s", s[1]);
        return get ? R_LOC_CF_LIST : R_NONE;
    }
    if (n == 2 && !strcmp(s[0], "oauth") && !strcmp(s[1], "token"))
        return post ? R_OAUTH_TOKEN : R_NONE;
    if (n == 2 && !strcmp(s[0], "oauth") && !strcmp(s[1], "locationToken"))
        return post ? R_OAUTH_LOCTOKEN : R_NONE;
    if (n == 2 && !strcmp(s[0], "oauth") && !strcmp(s[1], "installedLocations"))
        return get ? R_OAUTH_INSTALLED : R_NONE;
    return R_NONE;
}

/* ---- rate limits -------------------------------------------------------------------------- */

static void default_hdr(const hs_ctx *c, rate_hdr *h)
{
    h->max = c->burst > 0 ? c->burst : UNLIMITED;
    h->rem = h->max;
    h->interval = c->window_ms;
    h->daily = c->daily > 0 ? c->daily : UNLIMITED;
    h->daily_rem = h->daily;
    h->retry_after = 0;
}

/* Admit one request of location l now. Returns false when it must get a 429. */
static bool rate_admit(hs_ctx *c, hs_loc *l, rate_hdr *h)
{
    int64_t now = hs_now_ms();
    hs_rate *r = &l->rate;
    default_hdr(c, h);
    int64_t day = now / 86400000;
    if (day != r->day) {
        r->day = day;
        r->daily_used = 0;
    }
    if (c->burst > 0 && r->cap != c->burst) {
        free(r->ring);
        r->ring = calloc((size_t)c->burst, sizeof *r->ring);
        if (!r->ring)
            abort();
        r->cap = c->burst;
        r->head = r->count = 0;
    }
    while (c->burst > 0 && r->count > 0 && r->ring[r->head] <= now - c->window_ms) {
        r->head = (r->head + 1) % r->cap;
        r->count--;
    }
    r->daily_used++; /* every request counts against the day, a 429 too */
    bool ok = true;
    if (c->daily > 0 && r->daily_used > c->daily) {
        ok = false;
        int64_t next_day = (day + 1) * 86400000;
        h->retry_after = (long)((next_day - now + 999) / 1000);
    } else if (c->burst > 0 && r->count >= c->burst) {
        ok = false;
        int64_t wait = r->ring[r->head] + c->window_ms - now;
        h->retry_after = (long)((wait + 999) / 1000);
        if (h->retry_after < 1)
            h->retry_after = 1;
    }
    if (ok && c->burst > 0) {
        r->ring[(r->head + r->count) % r->cap] = now;
        r->count++;
    }
    if (c->burst > 0)
        h->rem = c->burst - r->count;
    if (c->daily > 0)
        h->daily_rem = c->daily - r->daily_used > 0 ? c->daily - r->daily_used : 0;
    return ok;
}

/* ---- faults ------------------------------------------------------------------------------- */

typedef struct fired {
    long latency_ms;
    long stall_ms;
    int pre;  /* FK_ERROR, FK_RESET, FK_RATE429, FK_EXPIRE_TOKEN or -1 */
    int post; /* FK_RESET_AFTER, FK_TRUNCATE, FK_CUTOFF, FK_MALFORMED or -1 */
    int status;
} fired;

static void pick_faults(hs_ctx *c, const char *method, const char *url, const hs_loc *l, fired *fz)
{
    memset(fz, 0, sizeof *fz);
    fz->pre = fz->post = -1;
    for (int i = 0; i < c->n_faults; i++) {
        hs_fault *f = &c->faults[i];
        if (f->count == 0)
            continue;
        if (f->method[0] && strcasecmp(f->method, method))
            continue;
        if (f->path[0] && !strstr(url, f->path))
            continue;
        if (f->location[0] && (!l || strcmp(f->location, l->id)))
            continue;
        if (f->skip > 0) {
            f->skip--;
            continue;
        }
        if (f->rate < 1.0 && hs_rng_unit(&c->rng) >= f->rate)
            continue;
        bool is_pre = f->kind == FK_ERROR || f->kind == FK_RESET || f->kind == FK_RATE429 ||
                      f->kind == FK_EXPIRE_TOKEN;
        bool is_post = f->kind == FK_RESET_AFTER || f->kind == FK_TRUNCATE ||
                       f->kind == FK_CUTOFF || f->kind == FK_MALFORMED;
        if ((is_pre && fz->pre >= 0) || (is_post && fz->post >= 0))
            continue; /* one terminal fault per request */
        if (f->count > 0)
            f->count--;
        f->hits++;
        c->ctr.faults_injected++;
        switch (f->kind) {
        case FK_LATENCY:
            fz->latency_ms +=
                f->ms + (f->jitter_ms > 0
                             ? (long)(hs_rng_next(&c->rng) % (uint64_t)(f->jitter_ms + 1))
                             : 0);
            break;
        case FK_STALL:
            fz->stall_ms += f->ms;
            break;
        default:
            if (is_pre) {
                fz->pre = f->kind;
                if (f->kind == FK_ERROR) {
                    static const int codes[] = {500, 502, 503, 504};
                    fz->status = f->status ? f->status : codes[hs_rng_next(&c->rng) % 4];
                }
            } else {
                fz->post = f->kind;
            }
        }
    }
}

static enum MHD_Result reset_conn(struct MHD_Connection *conn)
{
    /* SO_LINGER 0 turns the close into a TCP RST: the client sees "connection reset". */
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (ci) {
        struct linger lg = {1, 0};
        setsockopt(ci->connect_fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        shutdown(ci->connect_fd, SHUT_RDWR);
    }
    return MHD_NO;
}

typedef struct cut_src {
    char *body;
    size_t cut;
} cut_src;

static ssize_t cut_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    cut_src *s = cls;
    if (pos >= s->cut)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    size_t n = s->cut - (size_t)pos;
    if (n > max)
        n = max;
    memcpy(buf, s->body + pos, n);
    return (ssize_t)n;
}

static void cut_free(void *cls)
{
    cut_src *s = cls;
    free(s->body);
    free(s);
}

/* ---- responses ---------------------------------------------------------------------------- */

static char *with_trace(hs_ctx *c, char *body, size_t *len)
{
    if (*len < 2 || body[0] != '{' || body[*len - 1] != '}')
        return body;
    uint64_t seq = __atomic_add_fetch(&c->trace_seq, 1, __ATOMIC_RELAXED);
    hs_rng r = {seq * 0x9E3779B97F4A7C15ull ^ 0x5eed};
    uint64_t a = hs_rng_next(&r), b = hs_rng_next(&r);
    char tid[64];
    snprintf(tid, sizeof tid, "%08x-%04x-4%03x-%04x-%012llx", (unsigned)(a >> 32),
             (unsigned)(a & 0xffff), (unsigned)((a >> 16) & 0xfff),
             (unsigned)(0x8000 | (b & 0x3fff)), (unsigned long long)(b >> 16));
    hs_buf out = {0};
    hs_buf_add(&out, body, *len - 1);
    hs_buf_printf(&out, "%s\"traceId\":\"%s\"}", *len > 2 ? "," : "", tid);
    free(body);
    *len = out.n;
    return hs_buf_steal(&out);
}

static void count(hs_ctx *c, int route_id, int status)
{
    pthread_mutex_lock(&c->mu);
    c->ctr.by_route[route_id]++;
    /* admin calls are counted by route only, so tests can read clean API figures */
    if (route_id != R_ADMIN && status >= 0 && status < 600) {
        c->ctr.by_status[status]++;
        c->ctr.by_route_status[route_id][status / 100]++;
    }
    if (status == 429)
        c->ctr.served_429++;
    pthread_mutex_unlock(&c->mu);
}

static enum MHD_Result respond(hs_ctx *c, struct MHD_Connection *conn, int route_id, int status,
                               char *body, const rate_hdr *h, int post)
{
    size_t len = strlen(body);
    count(c, route_id, status);
    if (post == FK_RESET_AFTER) {
        free(body);
        return reset_conn(conn);
    }
    body = with_trace(c, body, &len);
    const char *ctype = "application/json; charset=utf-8";
    if (status == 502 || status == 504) {
        /* gateway errors come from the load balancer, as HTML */
        free(body);
        char tmp[200];
        snprintf(tmp, sizeof tmp,
                 "<html><head><title>%d</title></head><body><h1>%d %s</h1></body></html>\n", status,
                 status, status == 502 ? "Bad Gateway" : "Gateway Timeout");
        body = strdup(tmp);
        len = strlen(body);
        ctype = "text/html";
    }
    struct MHD_Response *resp;
    if (post == FK_TRUNCATE || post == FK_MALFORMED) {
        if (post == FK_TRUNCATE) {
            len = len / 2; /* valid HTTP, JSON cut in the middle */
        } else if (len > 2) {
            body[len - 1] = ','; /* the closing brace becomes a dangling comma */
        }
    }
    if (post == FK_CUTOFF) {
        cut_src *s = malloc(sizeof *s);
        if (!s)
            abort();
        s->body = body;
        s->cut = len / 2;
        resp = MHD_create_response_from_callback(len, 4096, cut_reader, s, cut_free);
    } else {
        resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    }
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", ctype);
    char v[32];
#define HDR(name, val)                                                                             \
    do {                                                                                           \
        snprintf(v, sizeof v, "%ld", (long)(val));                                                 \
        MHD_add_response_header(resp, name, v);                                                    \
    } while (0)
    HDR("X-RateLimit-Max", h->max);
    HDR("X-RateLimit-Remaining", h->rem);
    HDR("X-RateLimit-Interval-Milliseconds", h->interval);
    HDR("X-RateLimit-Limit-Daily", h->daily);
    HDR("X-RateLimit-Daily-Remaining", h->daily_rem);
    if (status == 429)
        HDR("Retry-After", h->retry_after > 0 ? h->retry_after : 1);
#undef HDR
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static char *simple_body(int status, const char *msg)
{
    hs_buf b = {0};
    hs_err_body(&b, status, msg, NULL);
    return hs_buf_steal(&b);
}

/* ---- request handling --------------------------------------------------------------------- */

static const char *bearer(struct MHD_Connection *conn)
{
    const char *a = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
    if (!a || strncasecmp(a, "Bearer ", 7) != 0)
        return NULL;
    a += 7;
    while (*a == ' ')
        a++;
    return a;
}

static enum MHD_Result handle_admin(hs_ctx *c, struct MHD_Connection *conn, const char *method,
                                    const char *url, req_state *st)
{
    rate_hdr h;
    default_hdr(c, &h);
    const char *tok = bearer(conn);
    if (!tok || strcmp(tok, c->admin_token) != 0)
        return respond(c, conn, R_ADMIN, 401,
                       simple_body(401, "Invalid token: access token is invalid"), &h, -1);
    char *out = NULL;
    const char *ql = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "locationId");
    int status = hs_admin(c, method, url, ql, st->body.d ? st->body.d : "", st->body.n, &out);
    return respond(c, conn, R_ADMIN, status, out ? out : strdup("{}"), &h, -1);
}

static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    (void)kind;
    cJSON *o = cls;
    /* associationIds (also spelled associationIds[]) may repeat: kept as an array */
    if (key && (!strcmp(key, "associationIds") || !strcmp(key, "associationIds[]"))) {
        cJSON *a = cJSON_GetObjectItemCaseSensitive(o, "associationIds");
        if (!a)
            a = cJSON_AddArrayToObject(o, "associationIds");
        cJSON_AddItemToArray(a, cJSON_CreateString(value ? value : ""));
    } else if (key && !cJSON_GetObjectItemCaseSensitive(o, key)) {
        cJSON_AddStringToObject(o, key, value ? value : "");
    }
    return MHD_YES;
}

static enum MHD_Result handle(hs_ctx *c, struct MHD_Connection *conn, const char *url,
                              const char *method, req_state *st)
{
    if (strncmp(url, "/_admin/", 8) == 0 || strcmp(url, "/_admin") == 0)
        return handle_admin(c, conn, method, url, st);

    hs_call k;
    memset(&k, 0, sizeof k);
    k.c = c;
    rate_hdr h;
    default_hdr(c, &h);
    k.route = route(method, url, k.key, k.id);
    if (k.route == R_NONE) {
        char m[400];
        snprintf(m, sizeof m, "Cannot %s %.300s", method, url);
        hs_buf b = {0};
        hs_buf_printf(&b, "{\"statusCode\":404,\"message\":");
        hs_buf_json_str(&b, m);
        hs_buf_puts(&b, ",\"error\":\"Not Found\"}");
        return respond(c, conn, R_NONE, 404, hs_buf_steal(&b), &h, -1);
    }
    if (st->too_big)
        return respond(c, conn, k.route, 413, simple_body(413, "Payload Too Large"), &h, -1);

    fired fz;
    int status = 0;
    char *err = NULL;
    if (k.route != R_OAUTH_TOKEN) {
        pthread_mutex_lock(&c->mu);
        hs_token *t = hs_token_find(c, bearer(conn));
        /* a company token is for the agency routes only, a location token for the others */
        if (!t || t->refresh || t->revoked || (t->expires_ms && t->expires_ms <= hs_now_ms()) ||
            t->company != hs_agency_route(k.route)) {
            pthread_mutex_unlock(&c->mu);
            return respond(c, conn, k.route, 401,
                           simple_body(401, "Invalid token: access token is invalid"), &h, -1);
        }
        k.loc = t->loc;
        bool admitted = !k.loc || rate_admit(c, k.loc, &h);
        if (admitted)
            pick_faults(c, method, url, k.loc, &fz);
        pthread_mutex_unlock(&c->mu);
        if (!admitted) {
            hs_buf b = {0};
            hs_buf_puts(&b, "{\"statusCode\":429,\"message\":\"Too Many Requests\"}");
            return respond(c, conn, k.route, 429, hs_buf_steal(&b), &h, -1);
        }
        const char *ver = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Version");
        if (!ver || (strcmp(ver, "2021-07-28") && strcmp(ver, "2023-02-21")))
            return respond(c, conn, k.route, 400, simple_body(400, "Bad Request"), &h, -1);
    } else {
        pthread_mutex_lock(&c->mu);
        pick_faults(c, method, url, NULL, &fz);
        pthread_mutex_unlock(&c->mu);
    }

    if (fz.latency_ms > 0)
        hs_sleep_ms(fz.latency_ms, &c->stop);
    if (fz.stall_ms > 0)
        hs_sleep_ms(fz.stall_ms, &c->stop);
    switch (fz.pre) {
    case FK_RESET:
        count(c, k.route, 0);
        return reset_conn(conn);
    case FK_ERROR:
        status = fz.status;
        err = simple_body(status, status == 500   ? "Internal Server Error"
                                  : status == 503 ? "Service Unavailable"
                                                  : "Error");
        return respond(c, conn, k.route, status, err, &h, -1);
    case FK_RATE429: {
        hs_buf b = {0};
        hs_buf_puts(&b, "{\"statusCode\":429,\"message\":\"Too Many Requests\"}");
        if (h.retry_after < 1)
            h.retry_after = (h.interval + 999) / 1000;
        h.rem = 0;
        return respond(c, conn, k.route, 429, hs_buf_steal(&b), &h, -1);
    }
    case FK_EXPIRE_TOKEN:
        if (k.loc) {
            pthread_mutex_lock(&c->mu);
            hs_loc_expire_access(c, k.loc);
            pthread_mutex_unlock(&c->mu);
        }
        return respond(c, conn, k.route, 401,
                       simple_body(401, "Invalid token: access token is invalid"), &h, -1);
    default:
        break;
    }

    k.q_location = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "locationId");
    k.q_fetch = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "fetchProperties");
    k.q_model = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "model");
    if ((k.route >= R_OPP_GSEARCH && k.route <= R_OPP_STATUS) || k.route == R_CONTACT_DUP ||
        (k.route >= R_ASSOC_LIST && k.route <= R_REL_DELETE) || k.route == R_OAUTH_INSTALLED) {
        k.q_all = cJSON_CreateObject();
        MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, collect_arg, k.q_all);
    }
    k.body = st->body.d ? st->body.d : "";
    k.body_len = st->body.n;
    pthread_mutex_lock(&c->mu);
    if (k.route == R_OAUTH_TOKEN)
        hs_oauth_token(&k);
    else if (hs_agency_route(k.route))
        hs_agency_dispatch(&k);
    else
        hs_api_dispatch(&k);
    pthread_mutex_unlock(&c->mu);
    cJSON_Delete(k.q_all);
    return respond(c, conn, k.route, k.status, hs_buf_steal(&k.out), &h, fz.post);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    (void)version;
    hs_ctx *c = cls;
    req_state *st = *con_cls;
    if (!st) {
        st = calloc(1, sizeof *st);
        if (!st)
            return MHD_NO;
        *con_cls = st;
        return MHD_YES;
    }
    if (*upload_size) {
        if (st->body.n + *upload_size > MAX_BODY)
            st->too_big = true;
        else
            hs_buf_add(&st->body, upload, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    return handle(c, conn, url, method, st);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    req_state *st = *con_cls;
    if (st) {
        free(st->body.d);
        free(st);
        *con_cls = NULL;
    }
}

struct MHD_Daemon *hs_http_start(hs_ctx *c, int port, int *bound_port)
{
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL, 0, NULL,
        NULL, on_request, c, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, c, MHD_OPTION_CONNECTION_LIMIT, (unsigned)1000,
        MHD_OPTION_END);
    if (!d)
        return NULL;
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    *bound_port = di ? di->port : port;
    return d;
}
