/* An answer larger than max_response_bytes keeps memory bounded and still shows its ends: the
 * head (HTTP_KEEP_HEAD bytes) and the last HTTP_KEEP_TAIL bytes, so one oversized record can be
 * identified by its id and cursor. Real HTTP against a scripted server (tfake.h). */
#include "http.h"
#include "loop.h"
#include "tfake.h"
#include "test.h"

#include <stdlib.h>
#include <string.h>

struct got {
    int done;
    bool too_large;
    long status;
    size_t body_len, tail_len, seen;
    char head16[17], tail16[17];
};

static size_t big_len;

static void handler(const tfake_req *rq, tfake_resp *rs, void *ud)
{
    (void)ud;
    size_t n = strcmp(rq->target, "/small") == 0 ? 100 : big_len;
    char *b = malloc(n);
    for (size_t i = 0; i < n; i++)
        b[i] = (char)('a' + (i % 26));
    memcpy(b, "HEAD-", 5);
    memcpy(b + n - 5, "-TAIL", 5);
    rs->status = 200;
    rs->body = b;
    rs->body_len = n;
}

static void on_done(http_result *r, void *ud)
{
    struct got *g = ud;
    g->done++;
    g->too_large = r->too_large;
    g->status = r->status;
    g->body_len = r->body_len;
    g->tail_len = r->tail_len;
    g->seen = r->seen_len;
    snprintf(g->head16, sizeof g->head16, "%.16s", r->body ? r->body : "");
    if (r->tail && r->tail_len >= 16)
        snprintf(g->tail16, sizeof g->tail16, "%.16s", r->tail + r->tail_len - 16);
}

static void fetch(gs_loop *L, const char *url, struct got *g)
{
    http_req rq = {.method = "GET", .url = url};
    gs_err e;
    TEST_REQUIRE(http_send(L->http, &rq, on_done, g, &e) == 0);
    while (!g->done)
        gs_loop_run(L);
}

static void oversized_answers_keep_their_ends(void)
{
    tfake f;
    TEST_REQUIRE(tfake_start(&f, handler, NULL) == 0);
    gs_loop L;
    gs_err e;
    http_opts ho = {.max_response_bytes = 64 * 1024, .insecure_http = true};
    TEST_REQUIRE(gs_loop_init(&L, NULL, &ho, &e) == 0);
    char url[128];

    struct got g = {0};
    snprintf(url, sizeof url, "%s/small", f.base_url);
    fetch(&L, url, &g);
    TEST_CHECK(!g.too_large);
    TEST_EQ_INT(g.body_len, 100);
    TEST_EQ_INT(g.tail_len, 0);

    /* 3 x the limit: drained, head and tail kept */
    big_len = 3 * 64 * 1024 + 123;
    memset(&g, 0, sizeof g);
    snprintf(url, sizeof url, "%s/big", f.base_url);
    fetch(&L, url, &g);
    TEST_CHECK(g.too_large);
    TEST_EQ_INT(g.status, 200);
    TEST_EQ_INT(g.body_len, HTTP_KEEP_HEAD);
    TEST_EQ_INT(g.tail_len, HTTP_KEEP_TAIL);
    TEST_EQ_INT(g.seen, big_len);
    TEST_CHECK(strncmp(g.head16, "HEAD-", 5) == 0);
    TEST_CHECK(strcmp(g.tail16 + 11, "-TAIL") == 0);

    /* past the drain limit the transfer is cut: no tail end, but still "too large" */
    big_len = (size_t)HTTP_DRAIN_FACTOR * 64 * 1024 + 70000;
    memset(&g, 0, sizeof g);
    fetch(&L, url, &g);
    TEST_CHECK(g.too_large);
    TEST_CHECK(g.seen <= big_len);
    TEST_CHECK(strcmp(g.tail16 + 11, "-TAIL") != 0);

    gs_loop_close(&L);
    tfake_stop(&f);
}

int main(void)
{
    TEST_RUN(oversized_answers_keep_their_ends);
    return test_done();
}
