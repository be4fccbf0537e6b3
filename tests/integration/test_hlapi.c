/*
 * hlapi against the real simulator (HLSIM_BIN): CRUD round trip with outcome kinds, a rejected
 * 422 message kept verbatim, a static token that is refused, and a burst of 1,000 requests to one
 * location paced under a shortened window (--burst 100 --window-ms 1000) with no 429 at all
 * (on the client and on the simulator's own counters). The on_answer hook is checked on every
 * call: one report per HTTP answer, with the endpoint name, status and location.
 */
#include "hlapi.h"
#include "loop.h"
#include "test.h"
#include "tloop.h"
#include "tsim.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ANS_MAX 1100

/* Every on_answer report, in order. */
typedef struct answers {
    int n;
    struct {
        char location[64];
        char endpoint[32];
        long status;
    } a[ANS_MAX];
} answers;

static void on_answer(void *ud, const char *location, const char *endpoint, long status,
                      const http_rate *rate)
{
    (void)rate;
    answers *x = ud;
    if (x->n < ANS_MAX) {
        snprintf(x->a[x->n].location, sizeof x->a[x->n].location, "%s", location);
        snprintf(x->a[x->n].endpoint, sizeof x->a[x->n].endpoint, "%s", endpoint);
        x->a[x->n].status = status;
    }
    x->n++;
}

/* Reports since `from` with this location, endpoint and status. */
static int answers_matching(const answers *x, int from, const char *location, const char *endpoint,
                            long status)
{
    int k = 0;
    for (int i = from; i < x->n && i < ANS_MAX; i++)
        k += !strcmp(x->a[i].location, location) && !strcmp(x->a[i].endpoint, endpoint) &&
             x->a[i].status == status;
    return k;
}

static const char *const sim_args[] = {"--burst", "100", "--window-ms", "1000", NULL};

/* A simulator, an answers log and a client with location 0 on it. */
typedef struct hfx {
    tsim s;
    answers *ans;
    gs_loop L;
    hl_client *c;
    hl_location *l;
} hfx;

static bool hfx_start(hfx *f)
{
    memset(f, 0, sizeof *f);
    if (tsim_start(&f->s, sim_args) != 0)
        return false;
    f->ans = calloc(1, sizeof *f->ans);
    hl_client_opts o = {.rate = {.burst = 100, .window_ms = 1000, .headroom = 0.03},
                        .backoff_base_ms = 20,
                        .backoff_max_ms = 200,
                        .on_answer = on_answer,
                        .on_answer_ud = f->ans};
    if (!f->ans || tloop_client(&f->L, &f->c, &f->s, &o, 10000) != 0)
        return false;
    gs_err e = {0};
    f->l = hl_location_add(f->c, f->s.loc[0].id, f->s.loc[0].token, NULL, 0, NULL, NULL, &e);
    return f->l != NULL;
}

static void hfx_stop(hfx *f)
{
    if (f->c) {
        hl_client_free(f->c);
        gs_loop_close(&f->L);
    }
    tsim_stop(&f->s);
    free(f->ans);
}

static void crud_round_trip_and_rejections(void)
{
    hfx f;
    if (!TEST_CHECK(hfx_start(&f))) {
        hfx_stop(&f);
        return;
    }
    answers *ans = f.ans;
    hl_location *l = f.l;
    const char *loc = f.s.loc[0].id;
    gs_err e = {0};

    tloop_res objs = {0};
    hl_list_objects(l, RL_PRIO_SCHEMA, tloop_on_res, &objs, &e);
    gs_loop_run(&f.L);
    TEST_EQ_INT(objs.kinds[HL_OK], 1);
    TEST_EQ_INT(ans->n, 1);
    TEST_EQ_INT(answers_matching(ans, 0, loc, "list_objects", 200), 1);
    TEST_REQUIRE(objs.key[0]);

    int mark = ans->n;
    tloop_res sch = {0};
    hl_get_schema(l, objs.key, RL_PRIO_SCHEMA, tloop_on_res, &sch, &e);
    tloop_res cf = {0};
    hl_custom_fields(l, objs.key, RL_PRIO_SCHEMA, tloop_on_res, &cf, &e);
    gs_loop_run(&f.L);
    TEST_EQ_INT(sch.kinds[HL_OK], 1);
    TEST_EQ_INT(cf.kinds[HL_OK], 1);
    TEST_EQ_INT(ans->n - mark, 2);
    TEST_EQ_INT(answers_matching(ans, mark, loc, "get_schema", 200), 1);
    TEST_EQ_INT(answers_matching(ans, mark, loc, "custom_fields", 200), 1);

    mark = ans->n;
    hl_search srch = {.page_limit = 10};
    tloop_res se = {0};
    hl_search_records(l, objs.key, &srch, RL_PRIO_PULL, NULL, tloop_on_res, &se, &e);
    gs_loop_run(&f.L);
    TEST_EQ_INT(se.kinds[HL_OK], 1);
    TEST_EQ_INT(ans->n - mark, 1);
    TEST_EQ_INT(answers_matching(ans, mark, loc, "search", 200), 1);

    mark = ans->n;
    cJSON *body = cJSON_Parse("{\"properties\":{}}");
    tloop_res cr = {0};
    hl_create_record(l, objs.key, body, RL_PRIO_PUSH, NULL, tloop_on_res, &cr, &e);
    gs_loop_run(&f.L);
    TEST_EQ_INT(cr.kinds[HL_OK], 1);
    TEST_CHECK_MSG(cr.id[0], "create returned a record id (status %ld: %s)", cr.status, cr.msg);
    TEST_EQ_INT(ans->n - mark, 1);
    TEST_EQ_INT(answers_matching(ans, mark, loc, "create", 201), 1);

    /* unknown property -> 422, message verbatim, not retried */
    mark = ans->n;
    cJSON *bad = cJSON_Parse("{\"properties\":{\"no_such_field_zz\":\"x\"}}");
    tloop_res rj = {0};
    hl_create_record(l, objs.key, bad, RL_PRIO_PUSH, NULL, tloop_on_res, &rj, &e);
    gs_loop_run(&f.L);
    TEST_EQ_INT(rj.kinds[HL_REJECTED], 1);
    TEST_EQ_INT(rj.status, 422);
    TEST_CHECK_MSG(rj.first_msg_item[0] && strstr(rj.msg, rj.first_msg_item) == rj.msg,
                   "message \"%s\" kept verbatim from \"%s\"", rj.msg, rj.first_msg_item);
    TEST_EQ_INT(ans->n - mark, 1);
    TEST_EQ_INT(answers_matching(ans, mark, loc, "create", 422), 1);

    TEST_CHECK(cr.id[0]);
    if (cr.id[0]) {
        mark = ans->n;
        tloop_res gt = {0}, up = {0}, del = {0}, del2 = {0}, gone = {0};
        hl_get_record(l, objs.key, cr.id, RL_PRIO_PULL, NULL, tloop_on_res, &gt, &e);
        hl_update_record(l, objs.key, cr.id, body, RL_PRIO_PUSH, NULL, tloop_on_res, &up, &e);
        gs_loop_run(&f.L);
        TEST_EQ_INT(gt.kinds[HL_OK], 1);
        TEST_EQ_INT(up.kinds[HL_OK], 1);
        TEST_EQ_INT(ans->n - mark, 2);
        TEST_EQ_INT(answers_matching(ans, mark, loc, "get_record", 200), 1);
        TEST_EQ_INT(answers_matching(ans, mark, loc, "update", 200), 1);

        mark = ans->n;
        hl_delete_record(l, objs.key, cr.id, RL_PRIO_PUSH, NULL, tloop_on_res, &del, &e);
        gs_loop_run(&f.L);
        TEST_EQ_INT(del.kinds[HL_OK], 1);
        TEST_EQ_INT(ans->n - mark, 1);
        TEST_EQ_INT(answers_matching(ans, mark, loc, "delete", 200), 1);

        mark = ans->n;
        hl_delete_record(l, objs.key, cr.id, RL_PRIO_PUSH, NULL, tloop_on_res, &del2, &e);
        hl_get_record(l, objs.key, cr.id, RL_PRIO_PULL, NULL, tloop_on_res, &gone, &e);
        gs_loop_run(&f.L);
        TEST_EQ_INT(del2.kinds[HL_OK], 1); /* already gone = done */
        TEST_EQ_INT(gone.kinds[HL_REJECTED], 1);
        TEST_EQ_INT(gone.status, 404);
        TEST_EQ_INT(ans->n - mark, 2);
        TEST_EQ_INT(answers_matching(ans, mark, loc, "delete", 404), 1);
        TEST_EQ_INT(answers_matching(ans, mark, loc, "get_record", 404), 1);
    }
    cJSON_Delete(body);
    cJSON_Delete(bad);

    /* a static token the server does not know: auth, no refresh possible */
    mark = ans->n;
    hl_location *l2 =
        hl_location_add(f.c, "otherLocationId00001", "not-a-token", NULL, 0, NULL, NULL, &e);
    tloop_res au = {0};
    hl_list_objects(l2, RL_PRIO_SCHEMA, tloop_on_res, &au, &e);
    gs_loop_run(&f.L);
    TEST_EQ_INT(au.kinds[HL_AUTH], 1);
    TEST_EQ_INT(au.status, 401);
    TEST_EQ_INT(ans->n - mark, 1);
    TEST_EQ_INT(answers_matching(ans, mark, "otherLocationId00001", "list_objects", 401), 1);
    hfx_stop(&f);
}

static void burst_of_1000_gets_no_429(void)
{
    hfx f;
    if (!TEST_CHECK(hfx_start(&f))) {
        hfx_stop(&f);
        return;
    }
    gs_err e = {0};
    TEST_EQ_INT(tsim_admin(&f.s, "POST", "/_admin/counters/reset", "{}", NULL), 200);
    tloop_res r = {0};
    int queued = 0;
    for (int i = 0; i < 1000; i++)
        queued += hl_list_objects(f.l, RL_PRIO_BACKFILL, tloop_on_res, &r, &e) == 0;
    TEST_EQ_INT(queued, 1000);
    gs_loop_run(&f.L);
    TEST_EQ_INT(r.done, 1000);
    TEST_EQ_INT(r.kinds[HL_OK], 1000);
    hl_stats st;
    hl_client_stats(f.c, &st);
    TEST_EQ_INT(st.n429, 0);
    TEST_EQ_INT(rl_loc_budget(hl_location_budget(f.l))->n_429, 0);
    TEST_EQ_INT(f.ans->n, 1000);
    TEST_EQ_INT(answers_matching(f.ans, 0, f.s.loc[0].id, "list_objects", 200), 1000);
    TEST_EQ_INT(tloop_counter(&f.s, NULL, "served429"), 0);
    TEST_EQ_INT(tloop_counter(&f.s, "GET /objects", "total"), 1000);
    hfx_stop(&f);
}

int main(void)
{
    const char *bin = getenv("HLSIM_BIN");
    if (!bin || access(bin, X_OK) != 0) {
        test_skip("hlapi", "no simulator binary (HLSIM_BIN)");
        return test_done();
    }
    signal(SIGPIPE, SIG_IGN);
    TEST_RUN(crud_round_trip_and_rejections);
    TEST_RUN(burst_of_1000_gets_no_429);
    return test_done();
}
