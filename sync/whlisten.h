/*
 * whlisten.h - the webhook listener: libmicrohttpd driven by the engine's libuv loop.
 *
 * Choice: libmicrohttpd (a maintained HTTP/1.1 server library, already what the simulator is
 * built on) instead of extending the hand-written request reader of the metrics endpoint: a
 * webhook has a body (Content-Length or chunked, arriving in pieces, of a bounded size) and
 * must wait for a database commit before it is answered, which is exactly what MHD's upload
 * callbacks and suspend/resume give. The metrics endpoint (metrics.c) stays as it is: it serves
 * bodiless GETs on its own port, works today, and moving it would only churn a tested module.
 *
 * Loop integration, no thread: the daemon runs with MHD_USE_EPOLL and no internal thread; its
 * epoll descriptor (MHD_DAEMON_INFO_EPOLL_FD) is watched by a uv_poll_t, MHD_run() runs when it
 * is readable, and a uv_timer_t follows MHD_get_timeout() (idle connections time out). Every
 * callback therefore runs on the loop thread, like the rest of the engine (loop.h), so the
 * handler may use pgasync and the engine state directly.
 *
 * A request is checked in this order, each failure answered at once:
 *   method POST (405), path = the configured path (404),
 *   Content-Length above max_body (413, the body is not read),
 *   no signature header the keys can verify (401, the body is not read: whverify.h),
 *   body streamed beyond max_body (413 as soon as it passes the limit);
 * then the complete body goes to `on_body`, which answers with whl_answer: at once, or later
 * (the connection is suspended meanwhile: MHD_ALLOW_SUSPEND_RESUME) after an asynchronous step
 * such as a database commit. Closing the listener answers suspended requests 429 (HighLevel
 * retries only 429: a request cut by a shutdown is then delivered again).
 *
 * Memory: whl_server owns its requests; a whl_req stays valid after on_body returns until
 * whl_answer is called on it (exactly once), even when the client went away meanwhile.
 */
#ifndef GHLSYNC_WHLISTEN_H
#define GHLSYNC_WHLISTEN_H
#include "err.h"
#include "log.h"
#include "whverify.h"
#include <stddef.h>
#include <uv.h>

typedef struct whl_server whl_server;
typedef struct whl_req whl_req;

typedef struct whl_opts {
    const char *listen; /* "HOST:PORT", port 0 = any free port */
    const char *path;
    size_t max_body;
    const wh_keys *keys; /* borrowed: only to refuse requests no key can verify */
    /* A request passed the checks above. Headers may be NULL; body is valid during the call.
     * Must lead to exactly one whl_answer(r, ...), now or later. */
    void (*on_body)(void *ud, whl_req *r, const char *ghl_sig, const char *wh_sig, const char *body,
                    size_t len);
    /* A request refused before on_body (reason: "method", "path", "too_large", "unsigned"). */
    void (*on_refused)(void *ud, const char *reason);
    void *ud;
} whl_opts;

int whl_start(uv_loop_t *loop, const whl_opts *o, gs_log *lg, whl_server **out, gs_err *e);
int whl_port(const whl_server *s);
/* Answer (status and a short text body). Resumes the request if it was suspended. */
void whl_answer(whl_req *r, unsigned status, const char *text);
/* Stop listening; suspended requests are answered 429 first. NULL is fine. */
void whl_close(whl_server *s);
#endif
