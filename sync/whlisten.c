/* whlisten.c - see whlisten.h. */
#include "whlisten.h"

#include "loop.h"
#include "metrics.h"

#include <microhttpd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct whl_req {
    whl_server *srv;
    struct MHD_Connection *conn;
    struct whl_req *prev, *next; /* the server's list of live requests */
    char *body;
    size_t len, cap;
    bool too_large;
    bool dispatched; /* on_body was called */
    bool owed;       /* ... and its whl_answer has not come yet */
    bool suspended;
    bool answered; /* status and text are set (by whl_answer, or by whl_close) */
    bool gone;     /* MHD finished with the connection: the owed whl_answer frees it */
    unsigned status;
    char text[128];
};

struct whl_server {
    uv_loop_t *loop;
    gs_log *log;
    whl_opts o;
    char *path;
    struct MHD_Daemon *d;
    uv_poll_t *poll;
    uv_timer_t *timer;
    whl_req *reqs;
    int port;
    bool closing;
};

static void run_mhd(whl_server *s);

static void req_unlink(whl_req *r)
{
    whl_server *s = r->srv;
    if (r->prev)
        r->prev->next = r->next;
    else if (s->reqs == r)
        s->reqs = r->next;
    if (r->next)
        r->next->prev = r->prev;
    r->prev = r->next = NULL;
}

static void req_free(whl_req *r)
{
    free(r->body);
    free(r);
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *text)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", "text/plain");
    enum MHD_Result rc = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    return rc;
}

static enum MHD_Result refuse(whl_server *s, struct MHD_Connection *c, unsigned status,
                              const char *reason, const char *text)
{
    if (s->o.on_refused)
        s->o.on_refused(s->o.ud, reason);
    return reply(c, status, text);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    (void)version;
    whl_server *s = cls;
    whl_req *r = *con_cls;
    if (!r) {
        /* the head only: everything that needs no body is decided now */
        if (strcmp(method, "POST") != 0)
            return refuse(s, c, MHD_HTTP_METHOD_NOT_ALLOWED, "method", "POST only\n");
        if (strcmp(url, s->path) != 0)
            return refuse(s, c, MHD_HTTP_NOT_FOUND, "path", "not found\n");
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        if (cl && strtoull(cl, NULL, 10) > s->o.max_body)
            return refuse(s, c, MHD_HTTP_CONTENT_TOO_LARGE, "too_large", "body too large\n");
        const char *g = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "x-ghl-signature");
        const char *w = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "x-wh-signature");
        if (!wh_keys_accepts(s->o.keys, g, w))
            return refuse(s, c, MHD_HTTP_UNAUTHORIZED, "unsigned", "signature required\n");
        if (!(r = calloc(1, sizeof *r)))
            return MHD_NO;
        r->srv = s;
        r->conn = c;
        r->next = s->reqs;
        if (s->reqs)
            s->reqs->prev = r;
        s->reqs = r;
        *con_cls = r;
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (r->too_large)
            return MHD_YES;
        if (r->len + n > s->o.max_body) {
            /* chunked or lying Content-Length: stop at the limit, drop the rest */
            r->too_large = true;
            free(r->body);
            r->body = NULL;
            r->len = r->cap = 0;
            return MHD_YES;
        }
        if (r->len + n + 1 > r->cap) {
            size_t cap = r->cap ? r->cap : 4096;
            while (cap < r->len + n + 1)
                cap *= 2;
            char *b = realloc(r->body, cap);
            if (!b)
                return MHD_NO;
            r->body = b;
            r->cap = cap;
        }
        memcpy(r->body + r->len, upload_data, n);
        r->len += n;
        r->body[r->len] = '\0';
        return MHD_YES;
    }
    if (r->too_large)
        return refuse(s, c, MHD_HTTP_CONTENT_TOO_LARGE, "too_large", "body too large\n");
    if (r->answered)
        return reply(c, r->status, r->text);
    if (r->dispatched) /* resumed without an answer: cannot happen, but never hang */
        return reply(c, MHD_HTTP_TOO_MANY_REQUESTS, "try again\n");
    r->dispatched = true;
    r->owed = true;
    const char *g = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "x-ghl-signature");
    const char *w = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "x-wh-signature");
    s->o.on_body(s->o.ud, r, g, w, r->body ? r->body : "", r->len);
    if (r->answered)
        return reply(c, r->status, r->text);
    MHD_suspend_connection(c);
    r->suspended = true;
    return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    whl_req *r = *con_cls;
    if (!r)
        return;
    *con_cls = NULL;
    req_unlink(r);
    r->conn = NULL;
    if (r->owed)
        r->gone = true; /* the handler still holds it: its whl_answer frees it */
    else
        req_free(r);
}

void whl_answer(whl_req *r, unsigned status, const char *text)
{
    if (!r->owed)
        return;
    r->owed = false;
    if (r->gone) {
        req_free(r);
        return;
    }
    if (r->answered) /* whl_close answered for it */
        return;
    r->answered = true;
    r->status = status;
    snprintf(r->text, sizeof r->text, "%s", text ? text : "");
    if (r->suspended) {
        r->suspended = false;
        MHD_resume_connection(r->conn);
        run_mhd(r->srv);
    }
}

static void on_timer(uv_timer_t *t)
{
    run_mhd(t->data);
}

static void on_poll(uv_poll_t *p, int status, int events)
{
    (void)status;
    (void)events;
    run_mhd(p->data);
}

/* One round of MHD's work, then the next timeout. A resumed connection is only picked up by
 * the round after it is resumed, hence the short timer when some are pending. */
static void run_mhd(whl_server *s)
{
    if (!s->d)
        return;
    MHD_run(s->d);
    MHD_UNSIGNED_LONG_LONG ms = 0;
    if (MHD_get_timeout(s->d, &ms) != MHD_YES)
        ms = 1000;
    if (ms > 1000)
        ms = 1000;
    uv_timer_start(s->timer, on_timer, (uint64_t)ms, 0);
}

int whl_start(uv_loop_t *loop, const whl_opts *o, gs_log *lg, whl_server **out, gs_err *e)
{
    *out = NULL;
    struct sockaddr_storage ss;
    int rc = metrics_parse_listen(o->listen, &ss, e);
    if (rc)
        return gs_err_wrap(e, "[webhooks] listen");
    whl_server *s = calloc(1, sizeof *s);
    if (!s || !(s->path = strdup(o->path))) {
        free(s);
        return gs_err_set(e, GS_ENOMEM, "out of memory");
    }
    s->loop = loop;
    s->log = lg;
    s->o = *o;
    unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    s->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR,
                            (struct sockaddr *)&ss, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)256, MHD_OPTION_END);
    if (!s->d) {
        free(s->path);
        free(s);
        return gs_err_set(e, GS_EIO, "[webhooks] listen: cannot listen on %s", o->listen);
    }
    const union MHD_DaemonInfo *fd = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_EPOLL_FD);
    const union MHD_DaemonInfo *port = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    s->port = port ? port->port : 0;
    s->poll = malloc(sizeof *s->poll);
    s->timer = malloc(sizeof *s->timer);
    if (!fd || !s->poll || !s->timer || uv_poll_init(loop, s->poll, fd->epoll_fd) != 0) {
        MHD_stop_daemon(s->d);
        free(s->poll);
        free(s->timer);
        free(s->path);
        free(s);
        return gs_err_set(e, GS_EIO, "[webhooks] listen: cannot watch the listener");
    }
    uv_timer_init(loop, s->timer);
    s->poll->data = s;
    s->timer->data = s;
    uv_poll_start(s->poll, UV_READABLE, on_poll);
    run_mhd(s);
    char port_s[16];
    snprintf(port_s, sizeof port_s, "%d", s->port);
    log_event(lg, LOG_INFO, "webhooks.listen", "listen", o->listen, "port", port_s, "path", o->path,
              NULL);
    *out = s;
    return 0;
}

int whl_port(const whl_server *s)
{
    return s ? s->port : 0;
}

void whl_close(whl_server *s)
{
    if (!s)
        return;
    /* MHD refuses to stop with suspended connections: answer them (429: delivered again). */
    for (whl_req *r = s->reqs; r; r = r->next)
        if (r->suspended && !r->answered) {
            r->answered = true;
            r->status = MHD_HTTP_TOO_MANY_REQUESTS;
            snprintf(r->text, sizeof r->text, "shutting down\n");
            r->suspended = false;
            MHD_resume_connection(r->conn);
        }
    for (int i = 0; i < 3; i++)
        MHD_run(s->d);
    uv_poll_stop(s->poll);
    uv_timer_stop(s->timer);
    gs_uv_close_free((uv_handle_t *)s->poll);
    gs_uv_close_free((uv_handle_t *)s->timer);
    MHD_stop_daemon(s->d); /* on_completed frees the remaining requests */
    s->d = NULL;
    free(s->path);
    free(s);
}
