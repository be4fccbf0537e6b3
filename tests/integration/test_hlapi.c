/*
 * hlapi against the real simulator (HLSIM_BIN): CRUD round trip with outcome kinds, a rejected
 * 422 message kept verbatim, a static token that is refused, and a burst of 1,000 requests to one
 * location paced under a shortened window (--burst 100 --window-ms 1000) with no 429 at all.
 *
 * The simulator is started here with fork/exec and its documented start-up lines
 * ("listening on 127.0.0.1:PORT", "location <id> token <token> ..."); switch to
 * tests/support/tsim.h once it is merged.
 */
#include "hlapi.h"
#include "loop.h"
#include "sbuf.h"
#include "test.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct sim {
    pid_t pid;
    FILE *out;
    char base[64];
    char loc[64];
    char token[128];
} sim;

static bool sim_start(sim *s, const char *const *extra)
{
    const char *bin = getenv("HLSIM_BIN");
    if (!bin || access(bin, X_OK) != 0)
        return false;
    int fds[2];
    if (pipe(fds) != 0)
        return false;
    const char *argv[32] = {bin, "--port", "0"};
    int n = 3;
    for (const char *const *p = extra; p && *p && n < 30; p++)
        argv[n++] = *p;
    argv[n] = NULL;
    s->pid = fork();
    if (s->pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    close(fds[1]);
    s->out = fdopen(fds[0], "r");
    char line[512];
    s->base[0] = s->loc[0] = '\0';
    while (fgets(line, sizeof line, s->out)) {
        int port;
        char a[64], b[128];
        if (sscanf(line, "listening on 127.0.0.1:%d", &port) == 1)
            snprintf(s->base, sizeof s->base, "http://127.0.0.1:%d", port);
        else if (sscanf(line, "location %63s token %127s", a, b) == 2 && !s->loc[0]) {
            snprintf(s->loc, sizeof s->loc, "%s", a);
            snprintf(s->token, sizeof s->token, "%s", b);
        } else if (strncmp(line, "admin-token", 11) == 0)
            break;
    }
    return s->base[0] && s->loc[0];
}

static void sim_stop(sim *s)
{
    if (s->pid > 0) {
        kill(s->pid, SIGTERM);
        waitpid(s->pid, NULL, 0);
    }
    if (s->out)
        fclose(s->out);
}

typedef struct {
    int done;
    int kinds[5];
    long status;
    char msg[1024];
    char first_msg_item[1024];
    char id[64];
    char key[256];
} res;

static void on_res(hl_result *r, void *ud)
{
    res *x = ud;
    x->done++;
    x->kinds[r->kind]++;
    x->status = r->status;
    snprintf(x->msg, sizeof x->msg, "%s", r->message);
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(r->json, "message");
    const cJSON *m0 = cJSON_IsArray(m) ? cJSON_GetArrayItem(m, 0) : m;
    x->first_msg_item[0] = '\0';
    if (cJSON_IsString(m0))
        snprintf(x->first_msg_item, sizeof x->first_msg_item, "%s", m0->valuestring);
    const cJSON *rec = cJSON_GetObjectItemCaseSensitive(r->json, "record");
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(rec, "id");
    if (cJSON_IsString(id))
        snprintf(x->id, sizeof x->id, "%s", id->valuestring);
    const cJSON *objs = cJSON_GetObjectItemCaseSensitive(r->json, "objects");
    const cJSON *o;
    cJSON_ArrayForEach(o, objs)
    {
        const cJSON *k = cJSON_GetObjectItemCaseSensitive(o, "key");
        if (cJSON_IsString(k) && strncmp(k->valuestring, "custom_objects.", 15) == 0 && !x->key[0])
            snprintf(x->key, sizeof x->key, "%s", k->valuestring);
    }
}

static bool client(gs_loop *L, hl_client **c, const sim *s, int burst, int window_ms)
{
    gs_err e = {0};
    http_opts ho = {.insecure_http = true, .total_timeout_ms = 10000};
    if (gs_loop_init(L, NULL, &ho, &e) != 0)
        return false;
    hl_client_opts o = {.base_url = s->base,
                        .rate = {.burst = burst, .window_ms = window_ms, .headroom = 0.03},
                        .backoff_base_ms = 20,
                        .backoff_max_ms = 200};
    return hl_client_new(L, &o, c, &e) == 0;
}

static void crud_round_trip_and_rejections(void)
{
    sim s = {0};
    const char *args[] = {"--burst", "100", "--window-ms", "1000", NULL};
    TEST_REQUIRE(sim_start(&s, args));
    gs_loop L;
    hl_client *c = NULL;
    TEST_REQUIRE(client(&L, &c, &s, 100, 1000));
    gs_err e = {0};
    hl_location *l = hl_location_add(c, s.loc, s.token, NULL, 0, NULL, NULL, &e);
    TEST_REQUIRE(l != NULL);

    res objs = {0};
    hl_list_objects(l, RL_PRIO_SCHEMA, on_res, &objs, &e);
    gs_loop_run(&L);
    TEST_EQ_INT(objs.kinds[HL_OK], 1);
    TEST_REQUIRE(objs.key[0]);

    res sch = {0};
    hl_get_schema(l, objs.key, RL_PRIO_SCHEMA, on_res, &sch, &e);
    res cf = {0};
    hl_custom_fields(l, objs.key, RL_PRIO_SCHEMA, on_res, &cf, &e);
    gs_loop_run(&L);
    TEST_EQ_INT(sch.kinds[HL_OK], 1);
    TEST_EQ_INT(cf.kinds[HL_OK], 1);

    cJSON *body = cJSON_Parse("{\"properties\":{}}");
    res cr = {0};
    hl_create_record(l, objs.key, body, RL_PRIO_PUSH, NULL, on_res, &cr, &e);
    gs_loop_run(&L);
    TEST_EQ_INT(cr.kinds[HL_OK], 1);
    TEST_CHECK_MSG(cr.id[0], "create returned a record id (status %ld: %s)", cr.status, cr.msg);

    /* unknown property -> 422, message verbatim, not retried */
    cJSON *bad = cJSON_Parse("{\"properties\":{\"no_such_field_zz\":\"x\"}}");
    res rj = {0};
    hl_create_record(l, objs.key, bad, RL_PRIO_PUSH, NULL, on_res, &rj, &e);
    gs_loop_run(&L);
    TEST_EQ_INT(rj.kinds[HL_REJECTED], 1);
    TEST_CHECK(rj.status == 422 || rj.status == 400);
    TEST_CHECK_MSG(rj.first_msg_item[0] && strstr(rj.msg, rj.first_msg_item) == rj.msg,
                   "message \"%s\" kept verbatim from \"%s\"", rj.msg, rj.first_msg_item);

    if (cr.id[0]) {
        res gt = {0}, up = {0}, del = {0}, del2 = {0}, gone = {0};
        hl_get_record(l, objs.key, cr.id, RL_PRIO_PULL, NULL, on_res, &gt, &e);
        hl_update_record(l, objs.key, cr.id, body, RL_PRIO_PUSH, NULL, on_res, &up, &e);
        gs_loop_run(&L);
        TEST_EQ_INT(gt.kinds[HL_OK], 1);
        TEST_EQ_INT(up.kinds[HL_OK], 1);
        hl_delete_record(l, objs.key, cr.id, RL_PRIO_PUSH, NULL, on_res, &del, &e);
        gs_loop_run(&L);
        hl_delete_record(l, objs.key, cr.id, RL_PRIO_PUSH, NULL, on_res, &del2, &e);
        hl_get_record(l, objs.key, cr.id, RL_PRIO_PULL, NULL, on_res, &gone, &e);
        gs_loop_run(&L);
        TEST_EQ_INT(del.kinds[HL_OK], 1);
        TEST_EQ_INT(del2.kinds[HL_OK], 1); /* already gone = done */
        TEST_EQ_INT(gone.kinds[HL_REJECTED], 1);
        TEST_EQ_INT(gone.status, 404);
    }
    cJSON_Delete(body);
    cJSON_Delete(bad);

    /* a static token the server does not know: auth, no refresh possible */
    hl_location *l2 =
        hl_location_add(c, "otherLocationId00001", "not-a-token", NULL, 0, NULL, NULL, &e);
    res au = {0};
    hl_list_objects(l2, RL_PRIO_SCHEMA, on_res, &au, &e);
    gs_loop_run(&L);
    TEST_EQ_INT(au.kinds[HL_AUTH], 1);
    TEST_EQ_INT(au.status, 401);

    hl_client_free(c);
    gs_loop_close(&L);
    sim_stop(&s);
}

static void burst_of_1000_gets_no_429(void)
{
    sim s = {0};
    const char *args[] = {"--burst", "100", "--window-ms", "1000", NULL};
    TEST_REQUIRE(sim_start(&s, args));
    gs_loop L;
    hl_client *c = NULL;
    TEST_REQUIRE(client(&L, &c, &s, 100, 1000));
    gs_err e = {0};
    hl_location *l = hl_location_add(c, s.loc, s.token, NULL, 0, NULL, NULL, &e);
    TEST_REQUIRE(l != NULL);
    res r = {0};
    for (int i = 0; i < 1000; i++)
        TEST_REQUIRE(hl_list_objects(l, RL_PRIO_BACKFILL, on_res, &r, &e) == 0);
    gs_loop_run(&L);
    TEST_EQ_INT(r.done, 1000);
    TEST_EQ_INT(r.kinds[HL_OK], 1000);
    hl_stats st;
    hl_client_stats(c, &st);
    TEST_EQ_INT(st.n429, 0);
    TEST_EQ_INT(rl_loc_budget(hl_location_budget(l))->n_429, 0);
    hl_client_free(c);
    gs_loop_close(&L);
    sim_stop(&s);
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
