/*
 * hlapi under simulator faults (HLSIM_BIN, window shortened to 100 / 1 s), counted on the
 * simulator's own /_admin/counters and state, not only on the client:
 *  - reset after the write on a create -> HL_UNKNOWN_OUTCOME, exactly one create reached the
 *    server and exactly one record exists there;
 *  - 503 on a PUT -> retried, succeeds (two 5xx then one 2xx on the server);
 *  - a 429 storm -> every request still succeeds (none lost: 200 2xx on the server);
 *  - access token expired mid-run -> exactly one refresh (counted on the simulator), persisted
 *    in ghlsync.oauth_tokens before use, and the run continues;
 *  - two holders of one pair refreshing at once (two processes sharing a token): one refresh,
 *    the refused one adopts the pair the other stored;
 *  - a refresh answered without a refresh token (not rotated): the one sent is kept;
 *  - a burst of 1,000 -> no 429 served.
 */
#include "hlapi.h"
#include "loop.h"
#include "pgasync.h"
#include "test.h"
#include "tloop.h"
#include "tpg.h"
#include "tsim.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CLIENT_ID     "core-client"
#define CLIENT_SECRET "core-secret"

#define R_OBJECTS "GET /objects"
#define R_CREATE  "POST /objects/{schemaKey}/records"
#define R_UPDATE  "PUT /objects/{schemaKey}/records/{id}"
#define R_OAUTH   "POST /oauth/token"

typedef struct fx {
    tsim s;
    gs_loop L;
    hl_client *c;
    hl_location *l;
    pga_conn *db;
    char key[256];
} fx;

/* Simulator, loop, optional token store on `pg_conninfo` (it must live on the client's loop),
 * client and location 0 (refreshable when `oauth`); the counters are zeroed once the first
 * custom object key is known. */
static bool fx_start(fx *f, const char *pg_conninfo, bool oauth)
{
    memset(f, 0, sizeof *f);
    const char *args[] = {"--burst",     "100",     "--window-ms",     "1000",
                          "--client-id", CLIENT_ID, "--client-secret", CLIENT_SECRET,
                          NULL};
    if (tsim_start(&f->s, args) != 0)
        return false;
    hl_client_opts o = {.rate = {.burst = 100, .window_ms = 1000, .headroom = 0.03},
                        .backoff_base_ms = 20,
                        .backoff_max_ms = 300,
                        .client_id = CLIENT_ID,
                        .client_secret = CLIENT_SECRET};
    if (tloop_client(&f->L, &f->c, &f->s, &o, 5000) != 0) {
        tsim_stop(&f->s);
        return false;
    }
    gs_err e = {0};
    if (pg_conninfo && pga_open(&f->L, pg_conninfo, &f->db, &e) != 0) {
        printf("# pga_open: %s\n", e.msg);
        return false;
    }
    f->l = hl_location_add(f->c, f->s.loc[0].id, f->s.loc[0].token,
                           oauth ? f->s.loc[0].refresh : NULL, 0, f->db, NULL, &e);
    if (!f->l)
        return false;
    tloop_res objs = {0};
    hl_list_objects(f->l, RL_PRIO_SCHEMA, tloop_on_res, &objs, &e);
    gs_loop_run(&f->L);
    snprintf(f->key, sizeof f->key, "%s", objs.key);
    if (tsim_admin(&f->s, "POST", "/_admin/counters/reset", "{}", NULL) != 200)
        return false;
    return f->key[0] != '\0';
}

static void fx_stop(fx *f)
{
    if (f->c)
        hl_client_free(f->c);
    if (f->db)
        pga_close(f->db);
    if (f->c)
        gs_loop_close(&f->L);
    tsim_stop(&f->s);
}

static void reset_after_create_is_unknown_outcome(void)
{
    fx f;
    if (!TEST_CHECK(fx_start(&f, NULL, false))) {
        fx_stop(&f);
        return;
    }
    long before = tloop_records(&f.s, f.s.loc[0].id, f.key);
    TEST_CHECK(before >= 0);
    TEST_EQ_INT(tsim_admin(&f.s, "POST", "/_admin/faults",
                           "{\"kind\":\"reset_after\",\"method\":\"POST\",\"path\":\"/records\","
                           "\"count\":1}",
                           NULL),
                201);
    cJSON *body = cJSON_Parse("{\"properties\":{}}");
    tloop_res r = {0};
    gs_err e;
    hl_create_record(f.l, f.key, body, RL_PRIO_PUSH, NULL, tloop_on_res, &r, &e);
    gs_loop_run(&f.L);
    TEST_EQ_INT(r.done, 1);
    TEST_EQ_INT(r.kinds[HL_UNKNOWN_OUTCOME], 1);
    /* exactly one create reached the server (never re-sent), it was applied, and the one
     * record it made is the only new one */
    TEST_EQ_INT(tloop_counter(&f.s, R_CREATE, "total"), 1);
    TEST_EQ_INT(tloop_counter(&f.s, NULL, "faultsInjected"), 1);
    TEST_EQ_INT(tloop_records(&f.s, f.s.loc[0].id, f.key), before + 1);
    cJSON_Delete(body);
    fx_stop(&f);
}

static void put_retried_after_503(void)
{
    fx f;
    if (!TEST_CHECK(fx_start(&f, NULL, false))) {
        fx_stop(&f);
        return;
    }
    cJSON *body = cJSON_Parse("{\"properties\":{}}");
    tloop_res cr = {0};
    gs_err e;
    hl_create_record(f.l, f.key, body, RL_PRIO_PUSH, NULL, tloop_on_res, &cr, &e);
    gs_loop_run(&f.L);
    TEST_CHECK(cr.id[0]);
    if (cr.id[0]) {
        TEST_EQ_INT(tsim_admin(&f.s, "POST", "/_admin/faults",
                               "{\"kind\":\"error\",\"status\":503,\"method\":\"PUT\",\"count\":2}",
                               NULL),
                    201);
        tloop_res up = {0};
        hl_update_record(f.l, f.key, cr.id, body, RL_PRIO_PUSH, NULL, tloop_on_res, &up, &e);
        gs_loop_run(&f.L);
        TEST_EQ_INT(up.kinds[HL_OK], 1);
        TEST_EQ_INT(tloop_counter(&f.s, NULL, "faultsInjected"), 2);
        TEST_EQ_INT(tloop_counter(&f.s, R_UPDATE, "total"), 3);
        TEST_EQ_INT(tloop_counter(&f.s, R_UPDATE, "5xx"), 2);
        TEST_EQ_INT(tloop_counter(&f.s, R_UPDATE, "2xx"), 1);
    }
    cJSON_Delete(body);
    fx_stop(&f);
}

static void storm_of_429_loses_nothing(void)
{
    fx f;
    if (!TEST_CHECK(fx_start(&f, NULL, false))) {
        fx_stop(&f);
        return;
    }
    TEST_EQ_INT(
        tsim_admin(&f.s, "POST", "/_admin/faults", "{\"kind\":\"rate429\",\"count\":10}", NULL),
        201);
    tloop_res r = {0};
    gs_err e;
    for (int i = 0; i < 200; i++)
        hl_list_objects(f.l, RL_PRIO_PULL, tloop_on_res, &r, &e);
    gs_loop_run(&f.L);
    TEST_EQ_INT(r.done, 200);
    TEST_EQ_INT(r.kinds[HL_OK], 200);
    hl_stats st;
    hl_client_stats(f.c, &st);
    TEST_CHECK_MSG(st.n429 >= 1, "the storm was seen (%ld 429s)", st.n429);
    /* on the server: the whole storm was served, and every one of the 200 requests got its 2xx */
    TEST_EQ_INT(tloop_counter(&f.s, NULL, "served429"), 10);
    TEST_EQ_INT(tloop_counter(&f.s, R_OBJECTS, "2xx"), 200);
    TEST_EQ_INT(tloop_counter(&f.s, R_OBJECTS, "total"), 210);
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
    bool up = fx_start(&f, ci, true);
    TEST_CHECK(up);
    TEST_CHECK_MSG(f.s.loc[0].refresh[0], "the simulator printed a refresh token");
    if (!up || !f.s.loc[0].refresh[0]) {
        fx_stop(&f);
        PQfinish(pg);
        return;
    }
    gs_err e = {0};
    tloop_res a = {0};
    for (int i = 0; i < 20; i++)
        hl_list_objects(f.l, RL_PRIO_PULL, tloop_on_res, &a, &e);
    gs_loop_run(&f.L);
    TEST_EQ_INT(a.kinds[HL_OK], 20);
    TEST_EQ_INT(tloop_counter(&f.s, R_OAUTH, "total"), 0);
    TEST_EQ_INT(tsim_admin(&f.s, "POST", "/_admin/tokens/expire", "{}", NULL), 200);
    tloop_res b = {0};
    for (int i = 0; i < 20; i++)
        hl_list_objects(f.l, RL_PRIO_PULL, tloop_on_res, &b, &e);
    gs_loop_run(&f.L);
    TEST_EQ_INT(b.kinds[HL_OK], 20);
    TEST_CHECK(b.refreshed >= 1);
    TEST_EQ_INT(oa_refresh_count(hl_location_token(f.l)), 1);
    /* on the server: one token call, and it succeeded */
    TEST_EQ_INT(tloop_counter(&f.s, R_OAUTH, "total"), 1);
    TEST_EQ_INT(tloop_counter(&f.s, R_OAUTH, "2xx"), 1);
    char *stored = tpg_scalar(pg, "select refresh_token from ghlsync.oauth_tokens");
    TEST_CHECK_MSG(stored && strcmp(stored, f.s.loc[0].refresh) != 0,
                   "the rotated refresh token was stored");
    free(stored);
    fx_stop(&f);
    PQfinish(pg);
}

struct waited {
    oa_waiter w;
    int ok, failed;
};

static void on_waited(oa_waiter *w, bool ok, const char *msg)
{
    (void)msg;
    struct waited *x = (struct waited *)w;
    if (ok)
        x->ok++;
    else
        x->failed++;
}

/* Two holders of one pair (as two processes sharing a token through ghlsync.oauth_tokens)
 * refresh at the same moment: both read the stored row first (none yet), both send the same
 * refresh token, the simulator rotates it for the first and refuses it (invalid_grant) to the
 * second, which re-reads the row, finds the winner's pair and adopts it: one refresh on the
 * server, one refusal, both holders on the same live pair, and a request works with each. */
static void refused_refresh_adopts_the_stored_pair(void)
{
    if (!tpg_available()) {
        test_skip("refused_refresh_adopts_the_stored_pair", "no PostgreSQL");
        return;
    }
    char ci[256];
    PGconn *pg = tpg_fresh_db("hlapi_oauth_shared", ci, sizeof ci);
    TEST_REQUIRE(pg != NULL);
    TEST_REQUIRE(tpg_exec(pg, "create schema ghlsync"));
    TEST_REQUIRE(tpg_exec(pg, "create table ghlsync.oauth_tokens(location_id text primary key, "
                              "access_token text, refresh_token text not null, expires_at "
                              "timestamptz, updated_at timestamptz not null default now())"));
    fx f;
    bool up = fx_start(&f, ci, true);
    TEST_CHECK(up);
    gs_err e = {0};
    hl_location *l2 = up ? hl_location_add(f.c, f.s.loc[0].id, f.s.loc[0].token, f.s.loc[0].refresh,
                                           0, f.db, NULL, &e)
                         : NULL;
    TEST_CHECK(l2 != NULL);
    if (!up || !l2) {
        fx_stop(&f);
        PQfinish(pg);
        return;
    }
    oa_token *a = hl_location_token(f.l), *b = hl_location_token(l2);
    struct waited wa = {.w.done = on_waited}, wb = {.w.done = on_waited};
    oa_refresh(a, &wa.w);
    oa_refresh(b, &wb.w);
    gs_loop_run(&f.L);
    TEST_EQ_INT(wa.ok + wb.ok, 2);
    TEST_EQ_INT(wa.failed + wb.failed, 0);
    TEST_EQ_INT(oa_refresh_count(a) + oa_refresh_count(b), 1);
    TEST_EQ_INT(oa_adopt_count(a) + oa_adopt_count(b), 1);
    TEST_EQ_INT(tloop_counter(&f.s, R_OAUTH, "2xx"), 1);
    TEST_EQ_INT(tloop_counter(&f.s, R_OAUTH, "4xx"), 1); /* the loser's spent token */
    TEST_CHECK(oa_access(a) && oa_access(b) && strcmp(oa_access(a), oa_access(b)) == 0);
    char *stored = tpg_scalar(pg, "select access_token from ghlsync.oauth_tokens");
    TEST_CHECK_MSG(stored && oa_access(a) && strcmp(stored, oa_access(a)) == 0,
                   "both use the stored pair");
    free(stored);
    /* the adopted pair works, and a later refresh of either spends the live refresh token */
    tloop_res r = {0};
    hl_list_objects(f.l, RL_PRIO_PULL, tloop_on_res, &r, &e);
    hl_list_objects(l2, RL_PRIO_PULL, tloop_on_res, &r, &e);
    gs_loop_run(&f.L);
    TEST_EQ_INT(r.kinds[HL_OK], 2);
    struct waited wc = {.w.done = on_waited};
    oa_refresh(b, &wc.w);
    gs_loop_run(&f.L);
    TEST_EQ_INT(wc.ok, 1);
    TEST_EQ_INT(tloop_counter(&f.s, R_OAUTH, "2xx"), 2);
    TEST_EQ_INT(tloop_counter(&f.s, R_OAUTH, "4xx"), 1);
    fx_stop(&f);
    PQfinish(pg);
}

/* A refresh answered with a new access token and no refresh token (the token was not rotated,
 * which the docs allow): the refresh token sent is kept, saved with the new access token, and
 * works for the next refresh. */
static void refresh_without_rotation_keeps_the_token(void)
{
    if (!tpg_available()) {
        test_skip("refresh_without_rotation_keeps_the_token", "no PostgreSQL");
        return;
    }
    char ci[256];
    PGconn *pg = tpg_fresh_db("hlapi_oauth_keep", ci, sizeof ci);
    TEST_REQUIRE(pg != NULL);
    TEST_REQUIRE(tpg_exec(pg, "create schema ghlsync"));
    TEST_REQUIRE(tpg_exec(pg, "create table ghlsync.oauth_tokens(location_id text primary key, "
                              "access_token text, refresh_token text not null, expires_at "
                              "timestamptz, updated_at timestamptz not null default now())"));
    fx f;
    bool up = fx_start(&f, ci, true);
    TEST_CHECK(up);
    if (!up) {
        fx_stop(&f);
        PQfinish(pg);
        return;
    }
    TEST_EQ_INT(tsim_admin(&f.s, "PUT", "/_admin/switches", "{\"refreshRotation\":\"keep\"}", NULL),
                200);
    gs_err e = {0};
    for (int round = 1; round <= 2; round++) {
        TEST_EQ_INT(tsim_admin(&f.s, "POST", "/_admin/tokens/expire", "{}", NULL), 200);
        tloop_res r = {0};
        for (int i = 0; i < 5; i++)
            hl_list_objects(f.l, RL_PRIO_PULL, tloop_on_res, &r, &e);
        gs_loop_run(&f.L);
        TEST_EQ_INT(r.kinds[HL_OK], 5);
        TEST_EQ_INT(oa_refresh_count(hl_location_token(f.l)), round);
        TEST_EQ_INT(tloop_counter(&f.s, R_OAUTH, "2xx"), round);
        char *stored = tpg_scalar(pg, "select refresh_token from ghlsync.oauth_tokens");
        TEST_CHECK_MSG(stored && strcmp(stored, f.s.loc[0].refresh) == 0,
                       "the refresh token sent is kept");
        free(stored);
        stored = tpg_scalar(pg, "select access_token from ghlsync.oauth_tokens");
        const char *acc = oa_access(hl_location_token(f.l));
        TEST_CHECK_MSG(stored && acc && strcmp(stored, acc) == 0, "the new access token saved");
        free(stored);
    }
    TEST_EQ_INT(tloop_counter(&f.s, R_OAUTH, "4xx"), 0);
    fx_stop(&f);
    PQfinish(pg);
}

static void burst_of_1000_no_429_on_the_server(void)
{
    fx f;
    if (!TEST_CHECK(fx_start(&f, NULL, false))) {
        fx_stop(&f);
        return;
    }
    tloop_res r = {0};
    gs_err e;
    for (int i = 0; i < 1000; i++)
        hl_list_objects(f.l, RL_PRIO_BACKFILL, tloop_on_res, &r, &e);
    gs_loop_run(&f.L);
    TEST_EQ_INT(r.kinds[HL_OK], 1000);
    TEST_EQ_INT(tloop_counter(&f.s, R_OBJECTS, "total"), 1000);
    TEST_EQ_INT(tloop_counter(&f.s, NULL, "served429"), 0);
    TEST_EQ_INT(tloop_counter(&f.s, R_OBJECTS, "4xx"), 0);
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
    TEST_RUN(refused_refresh_adopts_the_stored_pair);
    TEST_RUN(refresh_without_rotation_keeps_the_token);
    return test_done();
}
