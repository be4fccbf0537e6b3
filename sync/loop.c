/* loop.c - see loop.h. */
#include "loop.h"

#include "http.h"
#include "ratelimit.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int gs_loop_init(gs_loop *L, gs_log *log, const struct http_opts *hopts, gs_err *e)
{
    memset(L, 0, sizeof *L);
    L->log = log;
    int rc = uv_loop_init(&L->uv);
    if (rc != 0)
        return gs_err_set(e, GS_EIO, "uv_loop_init: %s", uv_strerror(rc));
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    L->rng = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^ ((uint64_t)getpid() << 40);
    if (!L->rng)
        L->rng = 0x9e3779b97f4a7c15ull;
    rc = http_new(L, hopts, &L->http, e);
    if (rc != 0) {
        uv_loop_close(&L->uv);
        return rc;
    }
    L->sched = rl_sched_new(L);
    if (!L->sched) {
        http_free(L->http);
        L->http = NULL;
        uv_loop_close(&L->uv);
        return gs_err_set(e, GS_ENOMEM, "out of memory creating the rate scheduler");
    }
    return 0;
}

int gs_loop_run(gs_loop *L)
{
    return uv_run(&L->uv, UV_RUN_DEFAULT);
}

void gs_loop_stop(gs_loop *L)
{
    uv_stop(&L->uv);
}

void gs_loop_close(gs_loop *L)
{
    if (L->http)
        http_abort_all(L->http);
    if (L->sched) {
        rl_sched_free(L->sched);
        L->sched = NULL;
    }
    if (L->http) {
        http_free(L->http);
        L->http = NULL;
    }
    /* Let close callbacks run, then close for good. */
    uv_run(&L->uv, UV_RUN_DEFAULT);
    if (uv_loop_close(&L->uv) == UV_EBUSY) {
        uv_run(&L->uv, UV_RUN_DEFAULT);
        uv_loop_close(&L->uv);
    }
}

uint64_t gs_loop_now_ms(const gs_loop *L)
{
    return uv_now(&L->uv);
}

uint64_t gs_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t gs_loop_rand(gs_loop *L, uint64_t n)
{
    uint64_t x = L->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    L->rng = x;
    return n ? x % n : 0;
}

static void free_on_close(uv_handle_t *h)
{
    free(h);
}

void gs_uv_close_free(uv_handle_t *h)
{
    if (!uv_is_closing(h))
        uv_close(h, free_on_close);
}
