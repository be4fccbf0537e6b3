/*
 * tfake.h - a small scripted HTTP/1.1 server for tests that need answers no faithful simulator
 * gives: hostile bytes, absurd nesting, oversized bodies, outages. It is deliberately not the
 * simulator (tests/hlsim): the engine must survive an implementation it has never seen.
 *
 * One thread accepts on 127.0.0.1 (an ephemeral port) and serves one request per connection
 * (every answer says Connection: close, so a client's parallel requests simply queue in the
 * backlog); the handler builds the whole answer. Bodies
 * are byte strings (may hold NUL or invalid UTF-8). Every answer carries the HighLevel rate
 * headers with a generous budget so that the engine paces nothing.
 *
 * The handler runs on the server's thread: guard shared state with the mutex in tfake.
 */
#ifndef GHLSYNC_TFAKE_H
#define GHLSYNC_TFAKE_H

#include <pthread.h>
#include <stddef.h>

typedef struct tfake_req {
    const char *method;
    const char *target; /* path and query, as sent */
    const char *body;   /* NUL-terminated copy; may be "" */
    size_t body_len;
} tfake_req;

typedef struct tfake_resp {
    int status;
    char *body; /* malloc'd by the handler (freed by the server); NULL = empty */
    size_t body_len;
} tfake_resp;

typedef void (*tfake_handler)(const tfake_req *rq, tfake_resp *rs, void *ud);

typedef struct tfake {
    int fd;
    int port;
    char base_url[64];
    pthread_t thr;
    int running;
    tfake_handler h;
    void *ud;
    pthread_mutex_t mu;
    long requests;
} tfake;

/* 0, or -1 after printing why ("# " lines). */
int tfake_start(tfake *f, tfake_handler h, void *ud);
void tfake_stop(tfake *f);
long tfake_requests(tfake *f);

/* Helpers for handlers: a malloc'd copy of `s` (len bytes) as the body. */
void tfake_set(tfake_resp *rs, int status, const char *s, size_t len);
/* The value of query parameter `name` in `target` (not decoded) into buf; NULL if absent. */
const char *tfake_query(const char *target, const char *name, char *buf, size_t len);

#endif
