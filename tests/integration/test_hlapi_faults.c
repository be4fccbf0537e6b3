/*
 * hlapi under simulator faults (HLSIM_BIN, window shortened to 100 / 1 s), counted on the
 * simulator's own /_admin/counters, not only on the client:
 *  - reset after the write on a create -> HL_UNKNOWN_OUTCOME, exactly one record created;
 *  - 503 on a PUT -> retried, succeeds;
 *  - a 429 storm -> every request still succeeds (none lost);
 *  - access token expired mid-run -> one refresh (counted on the simulator), persisted in
 *    ghlsync.oauth_tokens before use, and the run continues.
 * Switch the process helpers to tests/support/tsim.h once it is merged.
 */
#include "hlapi.h"
#include "loop.h"
#include "pgasync.h"
#include "sbuf.h"
#include "test.h"
#include "tpg.h"

#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct sim {
    pid_t pid;
    FILE *out;
    char base[64], loc[128], token[128], refresh[128], admin[128], client_id[128], secret[128];
} sim;

static bool sim_start(sim *s, const char *const *extra)
{
    const char *bin = getenv("HLSIM_BIN");
    int fds[2];
    if (!bin || pipe(fds) != 0)
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
    char line[1024];
    while (fgets(line, sizeof line, s->out)) {
        int port;
        char a[128], b[128];
        if (sscanf(line, "listening on 127.0.0.1:%d", &port) == 1)
            snprintf(s->base, sizeof s->base, "http://127.0.0.1:%d", port);
        else if (sscanf(line, "location %127s token %127s", a, b) == 2 && !s->loc[0]) {
            snprintf(s->loc, sizeof s->loc, "%s", a);
            snprintf(s->token, sizeof s->token, "%s", b);
            const char *r = strstr(line, " refresh ");
            if (r)
                sscanf(r, " refresh %127s", s->refresh);
        } else if (sscanf(line, "client-id %127s client-secret %127s", a, b) == 2) {
            snprintf(s->client_id, sizeof s->client_id, "%s", a);
            snprintf(s->secret, sizeof s->secret, "%s", b);
        } else if (sscanf(line, "admin-token %127s", a) == 1) {
            snprintf(s->admin, sizeof s->admin, "%s", a);
            break;
        }
    }
    return s->base[0] && s->loc[0] && s->admin[0];
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

static size_t collect(char *p, size_t sz, size_t n, void *ud)
{
    sbuf_append(ud, p, sz * n);
    return sz * n;
}

/* Blocking admin call (outside the loop); returns the parsed body or NULL. */
static cJSON *admin(const sim *s, const char *method, const char *path, const char *body)
{
    CURL *c = curl_easy_init();
    sbuf url = SBUF_INIT, auth = SBUF_INIT, out = SBUF_INIT;
    sbuf_printf(&url, "%s/_admin/%s", s->base, path);
    sbuf_printf(&auth, "Authorization: Bearer %s", s->admin);
    struct curl_slist *h = curl_slist_append(NULL, sbuf_str(&auth));
    h = curl_slist_append(h, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_URL, sbuf_str(&url));
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (body)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &out);
    CURLcode rc = curl_easy_perform(c);
    cJSON *j = rc == CURLE_OK ? cJSON_Parse(sbuf_str(&out)) : NULL;
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    sbuf_free(&url);
    sbuf_free(&auth);
    sbuf_free(&out);
    return j;
}

static long counter(const sim *s, const char *endpoint, const char *field)
{
    cJSON *j = admin(s, "GET", "counters", NULL);
    const cJSON *v;
    if (endpoint) {
        const cJSON *be = cJSON_GetObjectItemCaseSensitive(j, "byEndpoint");
        v = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(be, endpoint), field);
    } else {
        v = cJSON_GetObjectItemCaseSensitive(j, field);
    }
    long n = cJSON_IsNumber(v) ? (long)v->valuedouble : 0;
    cJSON_Delete(j);
    return n;
}

typedef struct {
    int done;
    int kinds[5];
    long status;
    char msg[1024];
    char id[64];
    char key[256];
    int refreshed;
} res;

static void on_res(hl_result *r, void *ud)
{
    res *x = ud;
    x->done++;
    x->kinds[r->kind]++;
    x->status = r->status;
    x->refreshed += r->refreshed;
    snprintf(x->msg, sizeof x->msg, "%s", r->message);
    const cJSON *id =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(r->json, "record"), "id");
    if (cJSON_IsString(id))
        snprintf(x->id, sizeof x->id, "%s", id->valuestring);
    const cJSON *o;
    cJSON_ArrayForEach(o, cJSON_GetObjectItemCaseSensitive(r->json, "objects"))
    {
        const cJSON *k = cJSON_GetObjectItemCaseSensitive(o, "key");
        if (cJSON_IsString(k) && !strncmp(k->valuestring, "custom_objects.", 15) && !x->key[0])
            snprintf(x->key, sizeof x->key, "%s", k->valuestring);
    }
}

typedef struct fx {
    sim s;
    gs_loop L;
    hl_client *c;
    hl_location *l;
    char key[256];
} fx;

static bool fx_start(fx *f, pga_conn *db, bool oauth)
{
    memset(f, 0, sizeof *f);
    const char *args[] = {"--burst",     "100",         "--window-ms",     "1000",
                          "--client-id", "core-client", "--client-secret", "core-secret",
                          NULL};
    if (!sim_start(&f->s, args))
        return false;
    snprintf(f->s.client_id, sizeof f->s.client_id, "core-client");
    snprintf(f->s.secret, sizeof f->s.secret, "core-secret");
    gs_err e = {0};
    http_opts ho = {.insecure_http = true, .total_timeout_ms = 5000};
    if (gs_loop_init(&f->L, NULL, &ho, &e) != 0)
        return false;
    hl_client_opts o = {.base_url = f->s.base,
                        .rate = {.burst = 100, .window_ms = 1000, .headroom = 0.03},
                        .backoff_base_ms = 20,
                        .backoff_max_ms = 300,
                        .client_id = f->s.client_id,
                        .client_secret = f->s.secret};
    if (hl_client_new(&f->L, &o, &f->c, &e) != 0)
        return false;
    f->l =
        hl_location_add(f->c, f->s.loc, f->s.token, oauth ? f->s.refresh : NULL, 0, db, NULL, &e);
    res objs = {0};
    hl_list_objects(f->l, RL_PRIO_SCHEMA, on_res, &objs, &e);
    gs_loop_run(&f->L);
    snprintf(f->key, sizeof f->key, "%s", objs.key);
    cJSON_Delete(admin(&f->s, "POST", "counters/reset", "{}"));
    return f->key[0] != '\0';
}

static void fx_stop(fx *f)
{
    if (f->c)
        hl_client_free(f->c);
    gs_loop_close(&f->L);
    sim_stop(&f->s);
}

static void reset_after_create_is_unknown_outcome(void)
{
    fx f;
    TEST_REQUIRE(fx_start(&f, NULL, false));
    cJSON_Delete(admin(&f.s, "POST", "faults",
                       "{\"kind\":\"reset_after\",\"method\":\"POST\",\"path\":\"/records\","
                       "\"count\":1}"));
    cJSON *body = cJSON_Parse("{\"properties\":{}}");
    res r = {0};
    gs_err e;
    hl_create_record(f.l, f.key, body, RL_PRIO_PUSH, NULL, on_res, &r, &e);
    gs_loop_run(&f.L);
    TEST_EQ_INT(r.kinds[HL_UNKNOWN_OUTCOME], 1);
    /* exactly one create reached the server: never re-sent */
    TEST_EQ_INT(counter(&f.s, "POST /objects/{schemaKey}/records", "total"), 1);
    cJSON_Delete(body);
    fx_stop(&f);
}

static void put_retried_after_503(void)
{
    fx f;
    TEST_REQUIRE(fx_start(&f, NULL, false));
    cJSON *body = cJSON_Parse("{\"properties\":{}}");
    res cr = {0};
    gs_err e;
    hl_create_record(f.l, f.key, body, RL_PRIO_PUSH, NULL, on_res, &cr, &e);
    gs_loop_run(&f.L);
    TEST_REQUIRE(cr.id[0]);
    cJSON_Delete(admin(&f.s, "POST", "faults",
                       "{\"kind\":\"error\",\"status\":503,\"method\":\"PUT\",\"count\":2}"));
    res up = {0};
    hl_update_record(f.l, f.key, cr.id, body, RL_PRIO_PUSH, NULL, on_res, &up, &e);
    gs_loop_run(&f.L);
    TEST_EQ_INT(up.kinds[HL_OK], 1);
    TEST_EQ_INT(counter(&f.s, NULL, "faultsInjected"), 2);
    cJSON_Delete(body);
    fx_stop(&f);
}

static void storm_of_429_loses_nothing(void)
{
    fx f;
    TEST_REQUIRE(fx_start(&f, NULL, false));
    cJSON_Delete(admin(&f.s, "POST", "faults", "{\"kind\":\"rate429\",\"count\":10}"));
    res r = {0};
    gs_err e;
    for (int i = 0; i < 200; i++)
        hl_list_objects(f.l, RL_PRIO_PULL, on_res, &r, &e);
    gs_loop_run(&f.L);
    TEST_EQ_INT(r.done, 200);
    TEST_EQ_INT(r.kinds[HL_OK], 200);
    hl_stats st;
    hl_client_stats(f.c, &st);
    TEST_CHECK_MSG(st.n429 >= 1, "the storm was seen (%ld 429s)", st.n429);
    fx_stop(&f);
}

static void token_expiry_refreshes_once_and_persists(void)
{
    if (!tpg_available()) {
        test_skip("token_expiry_refreshes_once_and_persists", "no PostgreSQL");
        return;
    }
    char ci[256];
    PGconn *pg = tpg_fresh_db("hlapi_oauth", ci, sizeof ci);
    TEST_REQUIRE(pg != NULL);
    TEST_REQUIRE(tpg_exec(pg, "create schema ghlsync"));
    TEST_REQUIRE(tpg_exec(pg, "create table ghlsync.oauth_tokens(location_id text primary key, "
                              "access_token text, refresh_token text not null, expires_at "
                              "timestamptz, updated_at timestamptz not null default now())"));
    fx f;
    /* the db connection must live on the same loop as the client: open it after fx_start */
    TEST_REQUIRE(fx_start(&f, NULL, true));
    if (!f.s.refresh[0] || !f.s.client_id[0]) {
        fx_stop(&f);
        PQfinish(pg);
        test_skip("token_expiry_refreshes_once_and_persists",
                  "simulator did not print a refresh token / client id");
        return;
    }
    hl_client_free(f.c);
    f.c = NULL;
    pga_conn *db = NULL;
    gs_err e = {0};
    TEST_REQUIRE(pga_open(&f.L, ci, &db, &e) == 0);
    hl_client_opts o = {.base_url = f.s.base,
                        .rate = {.burst = 100, .window_ms = 1000, .headroom = 0.03},
                        .client_id = f.s.client_id,
                        .client_secret = f.s.secret};
    TEST_REQUIRE(hl_client_new(&f.L, &o, &f.c, &e) == 0);
    f.l = hl_location_add(f.c, f.s.loc, f.s.token, f.s.refresh, 0, db, NULL, &e);
    res a = {0};
    for (int i = 0; i < 20; i++)
        hl_list_objects(f.l, RL_PRIO_PULL, on_res, &a, &e);
    gs_loop_run(&f.L);
    TEST_EQ_INT(a.kinds[HL_OK], 20);
    cJSON_Delete(admin(&f.s, "POST", "tokens/expire", "{}"));
    res b = {0};
    for (int i = 0; i < 20; i++)
        hl_list_objects(f.l, RL_PRIO_PULL, on_res, &b, &e);
    gs_loop_run(&f.L);
    TEST_EQ_INT(b.kinds[HL_OK], 20);
    TEST_CHECK(b.refreshed >= 1);
    TEST_EQ_INT(oa_refresh_count(hl_location_token(f.l)), 1);
    TEST_EQ_INT(counter(&f.s, "POST /oauth/token", "total") + counter(&f.s, "oauth_token", "total"),
                1);
    char *stored = tpg_scalar(pg, "select refresh_token from ghlsync.oauth_tokens");
    TEST_CHECK_MSG(stored && strcmp(stored, f.s.refresh) != 0,
                   "the rotated refresh token was stored");
    free(stored);
    hl_client_free(f.c);
    f.c = NULL;
    pga_close(db);
    fx_stop(&f);
    PQfinish(pg);
}

static void burst_of_1000_no_429_on_the_server(void)
{
    fx f;
    TEST_REQUIRE(fx_start(&f, NULL, false));
    res r = {0};
    gs_err e;
    for (int i = 0; i < 1000; i++)
        hl_list_objects(f.l, RL_PRIO_BACKFILL, on_res, &r, &e);
    gs_loop_run(&f.L);
    TEST_EQ_INT(r.kinds[HL_OK], 1000);
    TEST_EQ_INT(counter(&f.s, "GET /objects", "total"), 1000);
    TEST_EQ_INT(counter(&f.s, NULL, "served429"), 0);
    TEST_EQ_INT(counter(&f.s, "GET /objects", "4xx"), 0);
    fx_stop(&f);
}

int main(void)
{
    const char *bin = getenv("HLSIM_BIN");
    if (!bin || access(bin, X_OK) != 0) {
        test_skip("hlapi_faults", "no simulator binary (HLSIM_BIN)");
        return test_done();
    }
    signal(SIGPIPE, SIG_IGN);
    TEST_RUN(burst_of_1000_no_429_on_the_server);
    TEST_RUN(reset_after_create_is_unknown_outcome);
    TEST_RUN(put_retried_after_503);
    TEST_RUN(storm_of_429_loses_nothing);
    TEST_RUN(token_expiry_refreshes_once_and_persists);
    return test_done();
}
