/* http.c - see http.h. */
#include "http.h"

#include "sbuf.h"

#include <ctype.h>
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct xfer {
    struct xfer *prev, *next; /* gs_http.active */
    gs_http *h;
    CURL *easy;
    struct curl_slist *hdrs;
    char *req_body;
    http_cb cb;
    void *ud;
    sbuf body;
    sbuf tail; /* too_large: a rolling window over the last bytes */
    size_t seen;
    http_result res;
    char errbuf[CURL_ERROR_SIZE];
    uint64_t started_ms;
} xfer;

typedef struct sockctx {
    uv_poll_t poll; /* first: the handle pointer is the allocation */
    struct sockctx *prev, *next;
    curl_socket_t fd;
    gs_http *h;
} sockctx;

struct gs_http {
    gs_loop *L;
    CURLM *multi;
    uv_timer_t *timer; /* heap: closed asynchronously */
    http_opts o;
    char *ca_file;
    xfer *active;
    int n_active;
    sockctx *socks; /* every watched socket, so that http_free can close leftovers */
};

static void sock_unlink(gs_http *h, sockctx *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else
        h->socks = s->next;
    if (s->next)
        s->next->prev = s->prev;
    s->prev = s->next = NULL;
}

static void check_done(gs_http *h);

static void finish(gs_http *h, xfer *x, CURLcode code)
{
    if (x->prev)
        x->prev->next = x->next;
    else
        h->active = x->next;
    if (x->next)
        x->next->prev = x->prev;
    h->n_active--;

    long status = 0;
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
    long reqsize = 0;
    curl_easy_getinfo(x->easy, CURLINFO_REQUEST_SIZE, &reqsize);
    x->res.status = status;
    x->res.curl_code = (int)code;
    /* REQUEST_SIZE counts bytes of request written; any such byte (or any answer) means the
     * server may have seen the request. */
    x->res.request_sent = reqsize > 0 || status > 0;
    if (code != CURLE_OK)
        x->res.error = x->errbuf[0] ? x->errbuf : curl_easy_strerror(code);
    if (x->body.failed) {
        x->res.error = "out of memory buffering the response";
        if (!x->res.curl_code)
            x->res.curl_code = CURLE_OUT_OF_MEMORY;
    }
    x->res.body = x->body.data;
    x->res.body_len = x->body.len;
    if (!x->res.body) {
        x->res.body = NULL;
        x->res.body_len = 0;
    }
    x->res.seen_len = x->seen;
    if (x->res.too_large && x->tail.data) {
        size_t keep = x->tail.len < HTTP_KEEP_TAIL ? x->tail.len : HTTP_KEEP_TAIL;
        x->res.tail = x->tail.data + x->tail.len - keep;
        x->res.tail_len = keep;
    }
    x->res.total_ms = (double)(gs_loop_now_ms(h->L) - x->started_ms);
    curl_multi_remove_handle(h->multi, x->easy);
    x->cb(&x->res, x->ud);
    if (x->res.body == x->body.data)
        sbuf_free(&x->body);
    sbuf_free(&x->tail);
    curl_easy_cleanup(x->easy);
    curl_slist_free_all(x->hdrs);
    free(x->req_body);
    free(x);
}

static void check_done(gs_http *h)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(h->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        xfer *x = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
        finish(h, x, m->data.result);
    }
}

static void on_poll(uv_poll_t *p, int status, int events)
{
    sockctx *s = p->data;
    gs_http *h = s->h;
    int flags = 0;
    if (status < 0)
        flags = CURL_CSELECT_ERR;
    if (events & UV_READABLE)
        flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
        flags |= CURL_CSELECT_OUT;
    int running;
    curl_multi_socket_action(h->multi, s->fd, flags, &running);
    check_done(h);
}

static void on_timer(uv_timer_t *t)
{
    gs_http *h = t->data;
    int running;
    curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(h);
}

static int sock_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    (void)easy;
    gs_http *h = userp;
    sockctx *s = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (s) {
            uv_poll_stop(&s->poll);
            sock_unlink(h, s);
            gs_uv_close_free((uv_handle_t *)&s->poll);
            curl_multi_assign(h->multi, fd, NULL);
        }
        return 0;
    }
    if (!s) {
        s = calloc(1, sizeof *s);
        if (!s)
            return -1;
        s->fd = fd;
        s->h = h;
        if (uv_poll_init_socket(&h->L->uv, &s->poll, fd) != 0) {
            free(s);
            return -1;
        }
        s->poll.data = s;
        s->next = h->socks;
        if (h->socks)
            h->socks->prev = s;
        h->socks = s;
        curl_multi_assign(h->multi, fd, s);
    }
    int ev = 0;
    if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
        ev |= UV_READABLE;
    if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
        ev |= UV_WRITABLE;
    uv_poll_start(&s->poll, ev, on_poll);
    return 0;
}

static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    gs_http *h = userp;
    if (timeout_ms < 0)
        uv_timer_stop(h->timer);
    else
        uv_timer_start(h->timer, on_timer, (uint64_t)timeout_ms, 0);
    return 0;
}

/* Past the limit, memory stays bounded: the head is cut to HTTP_KEEP_HEAD and only a rolling
 * tail is kept while the rest drains, so one oversized record can still be identified. */
static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *ud)
{
    xfer *x = ud;
    size_t n = size * nmemb;
    size_t limit = x->h->o.max_response_bytes;
    x->seen += n;
    if (!x->res.too_large && x->body.len + n <= limit) {
        sbuf_append(&x->body, ptr, n);
        return x->body.failed ? 0 : n;
    }
    if (!x->res.too_large) {
        x->res.too_large = true;
        size_t room = limit > x->body.len ? limit - x->body.len : 0;
        sbuf_append(&x->body, ptr, room < n ? room : n);
        if (x->body.len > HTTP_KEEP_HEAD) {
            x->body.len = HTTP_KEEP_HEAD;
            x->body.data[x->body.len] = '\0';
        }
    }
    if (x->seen > limit * (size_t)HTTP_DRAIN_FACTOR)
        return 0; /* CURLE_WRITE_ERROR: not worth draining further */
    sbuf_append(&x->tail, ptr, n);
    if (x->tail.len > 2 * HTTP_KEEP_TAIL) {
        memmove(x->tail.data, x->tail.data + x->tail.len - HTTP_KEEP_TAIL, HTTP_KEEP_TAIL);
        x->tail.len = HTTP_KEEP_TAIL;
        x->tail.data[x->tail.len] = '\0';
    }
    return x->body.failed || x->tail.failed ? 0 : n;
}

static long header_num(const char *v, size_t n)
{
    char tmp[32];
    while (n && isspace((unsigned char)*v))
        v++, n--;
    while (n && isspace((unsigned char)v[n - 1]))
        n--;
    if (n == 0 || n >= sizeof tmp)
        return -1;
    memcpy(tmp, v, n);
    tmp[n] = '\0';
    char *end;
    long val = strtol(tmp, &end, 10);
    if (end == tmp || *end != '\0' || val < 0)
        return -1;
    return val;
}

static void rate_reset(http_rate *r)
{
    r->max = r->remaining = r->interval_ms = -1;
    r->daily_limit = r->daily_remaining = r->retry_after_s = -1;
}

static size_t header_cb(char *buf, size_t size, size_t nitems, void *ud)
{
    xfer *x = ud;
    size_t n = size * nitems;
    if (n >= 5 && strncmp(buf, "HTTP/", 5) == 0) {
        /* a new response (after 100-continue or a redirect): forget the previous one */
        rate_reset(&x->res.rate);
        return n;
    }
    const char *colon = memchr(buf, ':', n);
    if (!colon)
        return n;
    size_t klen = (size_t)(colon - buf);
    const char *v = colon + 1;
    size_t vlen = n - klen - 1;
    static const struct {
        const char *name;
        size_t off;
    } known[] = {
        {"x-ratelimit-max", offsetof(http_rate, max)},
        {"x-ratelimit-remaining", offsetof(http_rate, remaining)},
        {"x-ratelimit-interval-milliseconds", offsetof(http_rate, interval_ms)},
        {"x-ratelimit-limit-daily", offsetof(http_rate, daily_limit)},
        {"x-ratelimit-daily-remaining", offsetof(http_rate, daily_remaining)},
        {"retry-after", offsetof(http_rate, retry_after_s)},
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        if (strlen(known[i].name) == klen && strncasecmp(buf, known[i].name, klen) == 0) {
            *(long *)((char *)&x->res.rate + known[i].off) = header_num(v, vlen);
            return n;
        }
    }
    if (klen == 14 && strncasecmp(buf, "content-length", 14) == 0) {
        long cl = header_num(v, vlen);
        if (cl > 0 && (size_t)cl <= x->h->o.max_response_bytes && x->body.cap == 0) {
            /* pre-size so the body lands in one allocation */
            sbuf_append(&x->body, "", 0);
            char *p = realloc(x->body.data, (size_t)cl + 1);
            if (p) {
                x->body.data = p;
                x->body.cap = (size_t)cl + 1;
            }
        }
    }
    return n;
}

int http_new(gs_loop *L, const http_opts *opts, gs_http **out, gs_err *e)
{
    /* reference-counted by libcurl; balanced in http_free */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return gs_err_set(e, GS_EHTTP, "curl_global_init failed");
    gs_http *h = calloc(1, sizeof *h);
    if (!h) {
        curl_global_cleanup();
        return gs_err_set(e, GS_ENOMEM, "out of memory");
    }
    h->L = L;
    if (opts)
        h->o = *opts;
    if (h->o.connect_timeout_ms <= 0)
        h->o.connect_timeout_ms = 10000;
    if (h->o.total_timeout_ms <= 0)
        h->o.total_timeout_ms = 60000;
    if (h->o.stall_bytes_per_s <= 0)
        h->o.stall_bytes_per_s = 1;
    if (h->o.stall_seconds <= 0)
        h->o.stall_seconds = 30;
    if (h->o.max_response_bytes == 0)
        h->o.max_response_bytes = 64u << 20;
    if (h->o.max_host_connections <= 0)
        h->o.max_host_connections = 8;
    if (opts && opts->ca_file) {
        h->ca_file = strdup(opts->ca_file);
        if (!h->ca_file) {
            free(h);
            curl_global_cleanup();
            return gs_err_set(e, GS_ENOMEM, "out of memory");
        }
    }
    h->o.ca_file = h->ca_file;
    h->timer = malloc(sizeof *h->timer);
    h->multi = curl_multi_init();
    if (!h->timer || !h->multi) {
        free(h->timer);
        if (h->multi)
            curl_multi_cleanup(h->multi);
        free(h->ca_file);
        free(h);
        curl_global_cleanup();
        return gs_err_set(e, GS_ENOMEM, "out of memory creating the HTTP engine");
    }
    uv_timer_init(&L->uv, h->timer);
    h->timer->data = h;
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
    curl_multi_setopt(h->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
    curl_multi_setopt(h->multi, CURLMOPT_MAX_HOST_CONNECTIONS, h->o.max_host_connections);
    *out = h;
    return 0;
}

void http_abort_all(gs_http *h)
{
    while (h->active) {
        xfer *x = h->active;
        x->res.aborted = true;
        snprintf(x->errbuf, sizeof x->errbuf, "aborted: engine shutting down");
        finish(h, x, CURLE_ABORTED_BY_CALLBACK);
    }
}

void http_free(gs_http *h)
{
    if (!h)
        return;
    http_abort_all(h);
    curl_multi_cleanup(h->multi);
    while (h->socks) {
        sockctx *s = h->socks;
        sock_unlink(h, s);
        gs_uv_close_free((uv_handle_t *)&s->poll);
    }
    gs_uv_close_free((uv_handle_t *)h->timer);
    free(h->ca_file);
    free(h);
    curl_global_cleanup();
}

int http_inflight(const gs_http *h)
{
    return h->n_active;
}

int http_send(gs_http *h, const http_req *rq, http_cb cb, void *ud, gs_err *e)
{
    xfer *x = calloc(1, sizeof *x);
    if (!x) {
        free(rq->body);
        return gs_err_set(e, GS_ENOMEM, "out of memory");
    }
    x->h = h;
    x->cb = cb;
    x->ud = ud;
    x->req_body = rq->body;
    rate_reset(&x->res.rate);
    x->easy = curl_easy_init();
    if (!x->easy)
        goto oom;
    for (const char *const *p = rq->headers; p && *p; p++) {
        struct curl_slist *n = curl_slist_append(x->hdrs, *p);
        if (!n)
            goto oom;
        x->hdrs = n;
    }
    /* curl adds "Expect: 100-continue" to larger bodies; it only adds a round trip here. */
    struct curl_slist *n = curl_slist_append(x->hdrs, "Expect:");
    if (!n)
        goto oom;
    x->hdrs = n;

    CURL *c = x->easy;
    curl_easy_setopt(c, CURLOPT_URL, rq->url);
    curl_easy_setopt(c, CURLOPT_PRIVATE, x);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, x->errbuf);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, h->o.insecure_http ? "http,https" : "https");
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    if (h->o.ca_file)
        curl_easy_setopt(c, CURLOPT_CAINFO, h->o.ca_file);
    curl_easy_setopt(c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    curl_easy_setopt(c, CURLOPT_PIPEWAIT, 1L);
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, ""); /* whatever curl can decode */
    curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, h->o.connect_timeout_ms);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS,
                     rq->total_timeout_ms > 0 ? rq->total_timeout_ms : h->o.total_timeout_ms);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, h->o.stall_bytes_per_s);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, h->o.stall_seconds);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, x->hdrs);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    if (rq->fresh_connect)
        curl_easy_setopt(c, CURLOPT_FRESH_CONNECT, 1L);
    const char *m = rq->method ? rq->method : "GET";
    if (rq->body) {
        /* POSTFIELDS does not copy: the body lives in x->req_body until the transfer ends */
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->body_len);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, rq->body);
    }
    if (strcmp(m, "GET") == 0) {
        if (rq->body)
            curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "GET");
    } else if (strcmp(m, "POST") == 0) {
        if (!rq->body) {
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
            curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
        }
    } else {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, m);
    }

    x->started_ms = gs_loop_now_ms(h->L);
    CURLMcode mc = curl_multi_add_handle(h->multi, c);
    if (mc != CURLM_OK) {
        gs_err_set(e, GS_EHTTP, "curl_multi_add_handle: %s", curl_multi_strerror(mc));
        curl_easy_cleanup(c);
        curl_slist_free_all(x->hdrs);
        free(x->req_body);
        free(x);
        return GS_EHTTP;
    }
    x->next = h->active;
    if (h->active)
        h->active->prev = x;
    h->active = x;
    h->n_active++;
    return 0;
oom:
    if (x->easy)
        curl_easy_cleanup(x->easy);
    curl_slist_free_all(x->hdrs);
    free(x->req_body);
    free(x);
    return gs_err_set(e, GS_ENOMEM, "out of memory");
}

bool http_escape(sbuf *out, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (isalnum(*p) || *p == '-' || *p == '.' || *p == '_' || *p == '~') {
            sbuf_putc(out, (char)*p);
        } else {
            char t[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            sbuf_append(out, t, 3);
        }
    }
    return !out->failed;
}
