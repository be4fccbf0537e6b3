/*
 * http.h - asynchronous HTTP on the gs_loop: libcurl's multi-socket interface driven by libuv.
 *
 * curl tells us which sockets to watch (CURLMOPT_SOCKETFUNCTION -> one uv_poll_t per socket) and
 * when to wake it (CURLMOPT_TIMERFUNCTION -> one uv_timer_t); readiness is fed back with
 * curl_multi_socket_action. Connections are kept alive and reused; HTTP/2 is negotiated by ALPN
 * when the server offers it (streams multiplexed on one connection). TLS peer and host
 * verification are always on; `insecure_http` only permits the plain http:// scheme (the
 * simulator), it never turns verification off.
 *
 * A response body is accumulated once into one growable buffer (pre-sized from Content-Length)
 * and handed to the callback in place; hlapi parses it with cJSON_ParseWithLength without a
 * second copy. Bodies above `max_response_bytes` abort the transfer (`too_large`).
 *
 * Non-idempotent requests (http_req.fresh_connect) use a new connection: libcurl silently re-sends
 * a request that got no byte of answer on a reused keep-alive connection, which would turn a
 * reset-after-write on a create into a duplicate record.
 *
 * Threading: loop thread only (see loop.h). Ownership is stated on each field.
 */
#ifndef GHLSYNC_HTTP_H
#define GHLSYNC_HTTP_H

#include "err.h"
#include "loop.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct gs_http gs_http;

typedef struct http_opts {
    long connect_timeout_ms;   /* default 10000 */
    long total_timeout_ms;     /* default 60000; 0 in the struct means default */
    long stall_bytes_per_s;    /* CURLOPT_LOW_SPEED_LIMIT, default 1 */
    long stall_seconds;        /* CURLOPT_LOW_SPEED_TIME, default 30 */
    size_t max_response_bytes; /* default 64 MiB */
    long max_host_connections; /* default 8 per host (HTTP/2 multiplexes over fewer) */
    bool insecure_http;        /* allow http:// (simulator); https is always verified */
    const char *ca_file;       /* optional CA bundle path (copied) */
} http_opts;

/* The five X-RateLimit-* headers and Retry-After of the last response; -1 when absent. */
typedef struct http_rate {
    long max;
    long remaining;
    long interval_ms;
    long daily_limit;
    long daily_remaining;
    long retry_after_s;
} http_rate;

typedef struct http_req {
    const char *method;         /* "GET", "POST", "PUT", "DELETE"; borrowed, copied by send */
    const char *url;            /* borrowed, copied by http_send */
    const char *const *headers; /* NULL-terminated "Name: value" strings, copied; may be NULL */
    char *body;                 /* malloc'd; OWNERSHIP PASSES to http_send (always, even on
                                 * error); NULL for no body */
    size_t body_len;
    bool fresh_connect;    /* non-idempotent: never reuse a connection (see above) */
    long total_timeout_ms; /* 0 = the engine default */
} http_req;

typedef struct http_result {
    long status;       /* HTTP status of the final response, 0 if none arrived */
    int curl_code;     /* CURLcode; 0 = the transfer completed */
    const char *error; /* curl's message when curl_code != 0 (valid during the callback) */
    bool request_sent; /* some request bytes left this process: the server may have acted */
    bool too_large;    /* body exceeded max_response_bytes: then `body` holds only its first
                        * HTTP_KEEP_HEAD bytes and `tail` its last HTTP_KEEP_TAIL, the rest was
                        * read and dropped (up to HTTP_DRAIN_FACTOR x the limit, then the
                        * transfer is cut), so that a caller can still find the id and cursor
                        * of one oversized record without holding it */
    bool aborted;      /* http_abort_all (shutdown) */
    char *body;        /* NUL-terminated, `body_len` bytes; owned by the transfer and freed
                        * after the callback returns unless the callback sets it to NULL
                        * (then the callback owns it and must free() it) */
    size_t body_len;
    const char *tail; /* too_large only (else NULL); valid during the callback */
    size_t tail_len;
    size_t seen_len; /* body bytes received in all */
    http_rate rate;
    double total_ms; /* time from send to completion */
} http_result;

#define HTTP_KEEP_HEAD    (64u * 1024)
#define HTTP_KEEP_TAIL    (64u * 1024)
#define HTTP_DRAIN_FACTOR 16u

typedef void (*http_cb)(http_result *r, void *ud);

/* Create the engine for loop L (gs_loop_init does this). */
int http_new(gs_loop *L, const http_opts *opts, gs_http **out, gs_err *e);
void http_free(gs_http *h);

/* Start a transfer; `cb(result, ud)` runs exactly once, later, on the loop. Returns 0, or a GS_E*
 * code (the callback will then NOT run). */
int http_send(gs_http *h, const http_req *rq, http_cb cb, void *ud, gs_err *e);

/* Finish every in-flight transfer now with `aborted` set (shutdown). */
void http_abort_all(gs_http *h);

/* Number of transfers in flight. */
int http_inflight(const gs_http *h);

/* Escape one URL component (path segment or query value) into `out`; returns false on OOM. */
struct sbuf;
bool http_escape(struct sbuf *out, const char *s);

#endif
