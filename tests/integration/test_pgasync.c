/* pgasync against the private PostgreSQL: order, parameters, transactions, errors, and that the
 * loop keeps running while a statement is in progress. */
#include "db.h"
#include "loop.h"
#include "pgasync.h"
#include "test.h"
#include "tpg.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    int calls;
    int order[64];
    int norder;
    char last[1100];
    char sqlstate[6];
    int failed;
    int nres;
    pga_conn *c;
    int ticks;
    uv_timer_t tick;
} ctx;

typedef struct {
    ctx *x;
    int id;
    /* This call's own outcome: ctx's copy is overwritten when one loop iteration delivers
     * several callbacks, so a check about one particular call reads it here. */
    bool failed;
    char last[1100];
} tag;

static void record(pga_conn *c, PGresult *const *res, int nres, const pga_error *err, void *ud)
{
    (void)c;
    tag *t = ud;
    ctx *x = t->x;
    x->calls++;
    x->order[x->norder++] = t->id;
    x->nres = nres;
    x->failed = err != NULL;
    x->last[0] = '\0';
    x->sqlstate[0] = '\0';
    if (err) {
        snprintf(x->last, sizeof x->last, "%s", err->err.msg);
        memcpy(x->sqlstate, err->sqlstate, sizeof x->sqlstate);
    } else if (nres > 0 && res[nres - 1] && PQntuples(res[nres - 1]) > 0) {
        snprintf(x->last, sizeof x->last, "%s", PQgetvalue(res[nres - 1], 0, 0));
    }
    t->failed = x->failed;
    snprintf(t->last, sizeof t->last, "%s", x->last);
    if (x->calls == 1 && t->id == 100) {
        /* a callback may submit more work */
        static tag more;
        more.x = x;
        more.id = 101;
        gs_err e;
        pga_query(c, "select 'chained'", 0, NULL, record, &more, &e);
    }
}

static void close_all(pga_conn *c, PGresult *const *res, int nres, const pga_error *err, void *ud)
{
    (void)res;
    (void)nres;
    (void)err;
    (void)ud;
    pga_close(c);
}

static void on_tick(uv_timer_t *t)
{
    ctx *x = t->data;
    x->ticks++;
}

static bool setup(gs_loop *L, pga_conn **c, char *ci, size_t cilen)
{
    PGconn *pg = tpg_fresh_db("pgasync", ci, cilen);
    if (!pg)
        return false;
    tpg_exec(pg, "create table t (id int primary key, v text)");
    PQfinish(pg);
    gs_err e = {0};
    if (gs_loop_init(L, NULL, NULL, &e) != 0)
        return false;
    if (pga_open(L, ci, c, &e) != 0) {
        printf("# %s\n", e.msg);
        gs_loop_close(L);
        return false;
    }
    return true;
}

static void queries_in_order_with_params(void)
{
    gs_loop L;
    pga_conn *c;
    char ci[256];
    TEST_REQUIRE(setup(&L, &c, ci, sizeof ci));
    ctx x = {0};
    tag tags[20];
    gs_err e = {0};
    for (int i = 0; i < 20; i++) {
        tags[i].x = &x;
        tags[i].id = i;
        char id[16], v[32];
        snprintf(id, sizeof id, "%d", i);
        snprintf(v, sizeof v, "it's \"%d\"", i);
        const char *vals[2] = {id, v};
        TEST_REQUIRE(pga_query(c, "insert into t values ($1, $2)", 2, vals, record, &tags[i], &e) ==
                     0);
    }
    TEST_EQ_INT(x.calls, 0); /* never inside the submitting call */
    tag q = {.x = &x, .id = 50};
    const char *v7[1] = {"7"};
    pga_query(c, "select v from t where id = $1", 1, v7, record, &q, &e);
    tag cl = {.x = &x, .id = 99};
    pga_query(c, "select 1", 0, NULL, close_all, &cl, &e);
    gs_loop_run(&L);
    TEST_EQ_INT(x.calls, 21);
    for (int i = 0; i < 21 && i < x.norder; i++)
        TEST_EQ_INT(x.order[i], i < 20 ? i : 50);
    TEST_EQ_STR(x.last, "it's \"7\"");
    gs_loop_close(&L);
}

static void transaction_commits_or_rolls_back(void)
{
    gs_loop L;
    pga_conn *c;
    char ci[256];
    TEST_REQUIRE(setup(&L, &c, ci, sizeof ci));
    ctx x = {0};
    gs_err e = {0};
    const char *a[1] = {"1"}, *b[1] = {"2"};
    pga_stmt ok[3] = {{"insert into t values ($1, 'a')", 1, a},
                      {"insert into t values ($1, 'b')", 1, b},
                      {"select count(*)::text from t", 0, NULL}};
    tag t1 = {.x = &x, .id = 1};
    TEST_REQUIRE(pga_tx(c, ok, 3, record, &t1, &e) == 0);
    gs_loop_run(&L);
    TEST_EQ_INT(x.calls, 1);
    TEST_CHECK(!x.failed);
    TEST_EQ_INT(x.nres, 3);
    TEST_EQ_STR(x.last, "2");

    const char *c3[1] = {"3"};
    pga_stmt bad[3] = {{"insert into t values ($1, 'c')", 1, c3},
                       {"insert into t values ($1, 'dup')", 1, a}, /* duplicate key */
                       {"insert into t values (4, 'never')", 0, NULL}};
    tag t2 = {.x = &x, .id = 2};
    TEST_REQUIRE(pga_tx(c, bad, 3, record, &t2, &e) == 0);
    tag t3 = {.x = &x, .id = 3};
    pga_query(c, "select count(*)::text from t", 0, NULL, record, &t3, &e);
    gs_loop_run(&L);
    TEST_EQ_INT(x.calls, 3);
    TEST_EQ_INT(x.order[1], 2);
    TEST_EQ_STR(x.last, "2"); /* row 3 rolled back, row 4 never ran */
    pga_close(c);
    gs_loop_run(&L);
    gs_loop_close(&L);
}

static void errors_carry_sqlstate_and_message(void)
{
    gs_loop L;
    pga_conn *c;
    char ci[256];
    TEST_REQUIRE(setup(&L, &c, ci, sizeof ci));
    ctx x = {0};
    gs_err e = {0};
    tag t = {.x = &x, .id = 100};
    pga_query(c, "select * from no_such_table", 0, NULL, record, &t, &e);
    int chained_before = x.calls;
    gs_loop_run(&L);
    TEST_EQ_INT(chained_before, 0);
    TEST_EQ_INT(x.calls, 2); /* the error, then the query the callback chained */
    TEST_EQ_INT(x.order[0], 100);
    TEST_EQ_INT(x.order[1], 101);
    TEST_EQ_STR(x.last, "chained");
    pga_close(c);
    gs_loop_run(&L);
    gs_loop_close(&L);
}

static void errors_sqlstate(void)
{
    gs_loop L;
    pga_conn *c;
    char ci[256];
    TEST_REQUIRE(setup(&L, &c, ci, sizeof ci));
    ctx x = {0};
    gs_err e = {0};
    tag t = {.x = &x, .id = 7};
    pga_query(c, "select * from no_such_table", 0, NULL, record, &t, &e);
    tag cl = {.x = &x, .id = 99};
    pga_query(c, "select 1", 0, NULL, close_all, &cl, &e);
    gs_loop_run(&L);
    TEST_CHECK(x.failed);
    TEST_EQ_STR(x.sqlstate, "42P01");
    TEST_CHECK(strstr(x.last, "no_such_table") != NULL);
    gs_loop_close(&L);
}

static void loop_runs_while_query_runs(void)
{
    gs_loop L;
    pga_conn *c;
    char ci[256];
    TEST_REQUIRE(setup(&L, &c, ci, sizeof ci));
    ctx x = {0};
    gs_err e = {0};
    uv_timer_init(&L.uv, &x.tick);
    x.tick.data = &x;
    uv_timer_start(&x.tick, on_tick, 20, 20);
    tag t = {.x = &x, .id = 1};
    pga_query(c, "select pg_sleep(0.5)::text", 0, NULL, record, &t, &e);
    tag cl = {.x = &x, .id = 99};
    pga_query(c, "select 1", 0, NULL, close_all, &cl, &e);
    while (x.calls == 0)
        uv_run(&L.uv, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&x.tick, NULL);
    gs_loop_run(&L);
    TEST_CHECK_MSG(x.ticks >= 10, "timer ticked %d times during a 0.5 s statement", x.ticks);
    gs_loop_close(&L);
}

static void bad_conninfo_fails_pending(void)
{
    gs_loop L;
    gs_err e = {0};
    TEST_REQUIRE(gs_loop_init(&L, NULL, NULL, &e) == 0);
    pga_conn *c = NULL;
    ctx x = {0};
    int rc = pga_open(&L, "dbname=no_such_db_here", &c, &e);
    if (rc == 0) {
        tag t = {.x = &x, .id = 1};
        pga_query(c, "select 1", 0, NULL, record, &t, &e);
        gs_loop_run(&L);
        TEST_EQ_INT(x.calls, 1);
        TEST_CHECK(x.failed);
        TEST_CHECK(strstr(x.last, "no_such_db_here") != NULL);
        pga_close(c);
        gs_loop_run(&L);
    }
    gs_loop_close(&L);
}

static void run_until_calls(gs_loop *L, ctx *x, int n)
{
    while (x->calls < n)
        uv_run(&L->uv, UV_RUN_ONCE);
}

static void prepared_once_per_connection(void)
{
    gs_loop L;
    pga_conn *c;
    char ci[256];
    TEST_REQUIRE(setup(&L, &c, ci, sizeof ci));
    ctx x = {0};
    gs_err e = {0};
    const char *ins = "insert into t values ($1::int, $2) returning v";
    char name[PGA_NAME_LEN], other[PGA_NAME_LEN], again[PGA_NAME_LEN];
    pga_stmt_name(ins, name, sizeof name);
    pga_stmt_name("select 1", other, sizeof other);
    pga_stmt_name(ins, again, sizeof again);
    TEST_EQ_STR(name, again);
    TEST_CHECK(strcmp(name, other) != 0);
    TEST_CHECK(strncmp(name, "pga_", 4) == 0 && strlen(name) == 20);

    tag tp = {.x = &x, .id = 1}, tp2 = {.x = &x, .id = 2};
    TEST_REQUIRE(pga_prepare(c, name, ins, 2, record, &tp, &e) == 0);
    TEST_REQUIRE(pga_prepare(c, name, ins, 2, record, &tp2, &e) == 0); /* same text: no-op */
    TEST_CHECK(!pga_is_prepared(c, name));                             /* queued, not done */
    run_until_calls(&L, &x, 2);
    TEST_CHECK(!x.failed);
    TEST_EQ_INT(x.nres, 0);
    TEST_CHECK(pga_is_prepared(c, name));

    tag tq[5];
    for (int i = 0; i < 5; i++) {
        char id[16], v[24];
        snprintf(id, sizeof id, "%d", i + 1);
        snprintf(v, sizeof v, "v'%d", i + 1);
        const char *vals[2] = {id, v};
        tq[i] = (tag){.x = &x, .id = 10 + i};
        TEST_REQUIRE(pga_query_prepared(c, name, 2, vals, record, &tq[i], &e) == 0);
    }
    run_until_calls(&L, &x, 7);
    TEST_CHECK(!x.failed);
    TEST_EQ_STR(x.last, "v'5");

    /* a transaction naming the same statement (text given) and a new one (prepared on use) */
    const char *sel = "select count(*)::text from t where id >= $1::int";
    char selname[PGA_NAME_LEN];
    pga_stmt_name(sel, selname, sizeof selname);
    const char *a6[2] = {"6", "six"}, *a7[2] = {"7", "seven"}, *one[1] = {"1"};
    pga_stmt st[4] = {{ins, 2, a6}, {ins, 2, a7}, {"select 'unnamed'", 0, NULL}, {sel, 1, one}};
    const char *names[4] = {name, name, NULL, selname};
    tag tt = {.x = &x, .id = 20};
    TEST_REQUIRE(pga_tx_named(c, st, names, 4, record, &tt, &e) == 0);
    run_until_calls(&L, &x, 8);
    TEST_CHECK_MSG(!x.failed, "%s", x.last);
    TEST_EQ_INT(x.nres, 4);
    TEST_EQ_STR(x.last, "7");

    /* the server holds exactly the two named statements of this connection */
    tag tc = {.x = &x, .id = 21};
    pga_query(c, "select count(*)::text from pg_prepared_statements", 0, NULL, record, &tc, &e);
    run_until_calls(&L, &x, 9);
    TEST_EQ_STR(x.last, "2");

    /* another connection prepares for itself */
    pga_conn *c2;
    TEST_REQUIRE(pga_open(&L, ci, &c2, &e) == 0);
    TEST_CHECK(!pga_is_prepared(c2, name));
    const char *a8[2] = {"8", "eight"};
    pga_stmt st2[1] = {{ins, 2, a8}};
    const char *names2[1] = {name};
    tag t2 = {.x = &x, .id = 22};
    TEST_REQUIRE(pga_tx_named(c2, st2, names2, 1, record, &t2, &e) == 0);
    run_until_calls(&L, &x, 10);
    TEST_CHECK_MSG(!x.failed, "%s", x.last);
    TEST_EQ_STR(x.last, "eight");
    TEST_CHECK(pga_is_prepared(c2, name));
    pga_close(c2);
    pga_close(c);
    gs_loop_run(&L);
    gs_loop_close(&L);
}

static void prepared_errors(void)
{
    gs_loop L;
    pga_conn *c;
    char ci[256];
    TEST_REQUIRE(setup(&L, &c, ci, sizeof ci));
    ctx x = {0};
    gs_err e = {0};
    /* executing a name nobody prepared */
    const char *v1[1] = {"1"};
    tag t1 = {.x = &x, .id = 1};
    TEST_REQUIRE(pga_query_prepared(c, "nope", 1, v1, record, &t1, &e) == 0);
    run_until_calls(&L, &x, 1);
    TEST_CHECK(x.failed);
    TEST_CHECK(strstr(x.last, "not prepared") != NULL);

    /* a prepare that fails inside a transaction rolls the transaction back */
    const char *ins = "insert into t values ($1::int, 'x')";
    const char *bad = "insert into no_such_table values ($1::int)";
    pga_stmt st[2] = {{ins, 1, v1}, {bad, 1, v1}};
    const char *names[2] = {"ins", "bad"};
    tag t2 = {.x = &x, .id = 2};
    TEST_REQUIRE(pga_tx_named(c, st, names, 2, record, &t2, &e) == 0);
    tag t3 = {.x = &x, .id = 3};
    pga_query(c, "select count(*)::text from t", 0, NULL, record, &t3, &e);
    run_until_calls(&L, &x, 3);
    TEST_EQ_INT(x.order[1], 2);
    TEST_EQ_STR(x.last, "0"); /* row 1 rolled back */
    TEST_CHECK(pga_is_prepared(c, "ins"));
    TEST_CHECK(!pga_is_prepared(c, "bad"));

    /* ... but "ins" stays prepared (not transactional): run it by name only */
    pga_stmt st3[1] = {{NULL, 1, v1}};
    const char *names3[1] = {"ins"};
    tag t4 = {.x = &x, .id = 4};
    TEST_REQUIRE(pga_tx_named(c, st3, names3, 1, record, &t4, &e) == 0);
    tag t5 = {.x = &x, .id = 5};
    pga_query(c, "select count(*)::text from t", 0, NULL, record, &t5, &e);
    run_until_calls(&L, &x, 5);
    TEST_EQ_STR(x.last, "1");

    /* one name, another text: refused before reaching the server, and the tx rolls back */
    const char *v2[1] = {"2"};
    pga_stmt st4[2] = {{"insert into t values ($1::int, 'y')", 1, v2}, {"select 2", 0, NULL}};
    const char *names4[2] = {NULL, "ins"};
    st4[1].sql = "insert into t values ($1::int, 'other text')";
    st4[1].nparams = 1;
    st4[1].values = v2;
    tag t6 = {.x = &x, .id = 6};
    TEST_REQUIRE(pga_tx_named(c, st4, names4, 2, record, &t6, &e) == 0);
    tag t7 = {.x = &x, .id = 7};
    pga_query(c, "select count(*)::text from t", 0, NULL, record, &t7, &e);
    run_until_calls(&L, &x, 7);
    TEST_CHECK(t6.failed);
    TEST_CHECK(strstr(t6.last, "different SQL") != NULL);
    TEST_EQ_STR(t7.last, "1");

    /* argument checks */
    TEST_CHECK(pga_prepare(c, "", "select 1", 0, record, &t7, &e) != 0);
    TEST_CHECK(pga_query_prepared(c, NULL, 0, NULL, record, &t7, &e) != 0);
    pga_stmt none[1] = {{NULL, 0, NULL}};
    TEST_CHECK(pga_tx_named(c, none, NULL, 1, record, &t7, &e) != 0);
    pga_close(c);
    gs_loop_run(&L);
    gs_loop_close(&L);
}

/* ---- sessions that die ---- */

typedef struct {
    PGconn *admin;
    uv_timer_t t;
    int killed;
} killer;

/* Terminate every other session of the test database (what a server restart does to us). */
static int kill_sessions(PGconn *admin)
{
    char *n = tpg_scalar(admin, "select count(pg_terminate_backend(pid))::text from "
                                "pg_stat_activity where datname = current_database() and pid <> "
                                "pg_backend_pid()");
    int k = n ? atoi(n) : -1;
    free(n);
    return k;
}

static void on_kill(uv_timer_t *t)
{
    killer *k = t->data;
    k->killed = kill_sessions(k->admin);
    uv_close((uv_handle_t *)t, NULL);
}

static void arm_killer(gs_loop *L, killer *k, uint64_t ms)
{
    uv_timer_init(&L->uv, &k->t);
    k->t.data = k;
    uv_timer_start(&k->t, on_kill, ms, 0);
}

static void keepalive(uv_timer_t *t)
{
    (void)t;
}

/* An idle connection does not hold the loop: something else must (the engine has its timers). */
static void wait_reconnects(gs_loop *L, uint64_t n)
{
    uv_timer_t t;
    uv_timer_init(&L->uv, &t);
    uv_timer_start(&t, keepalive, 10, 10);
    uint64_t deadline = uv_hrtime() + 5000000000ULL;
    while (L->db.reconnects < n && uv_hrtime() < deadline)
        uv_run(&L->uv, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(&L->uv, UV_RUN_NOWAIT);
}

static void wait_down(gs_loop *L)
{
    uv_timer_t t;
    uv_timer_init(&L->uv, &t);
    uv_timer_start(&t, keepalive, 10, 10);
    uint64_t deadline = uv_hrtime() + 5000000000ULL;
    while (L->db.down == 0 && uv_hrtime() < deadline)
        uv_run(&L->uv, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(&L->uv, UV_RUN_NOWAIT);
}

static void lost_session_reconnects_and_reruns_tx(void)
{
    gs_loop L;
    pga_conn *c;
    char ci[256];
    TEST_REQUIRE(setup(&L, &c, ci, sizeof ci));
    PGconn *admin = PQconnectdb(ci);
    TEST_REQUIRE(PQstatus(admin) == CONNECTION_OK);
    ctx x = {0};
    gs_err e = {0};
    tag t0 = {.x = &x, .id = 0};
    pga_query(c, "select pg_backend_pid()::text", 0, NULL, record, &t0, &e);
    run_until_calls(&L, &x, 1);
    char first_pid[1100];
    snprintf(first_pid, sizeof first_pid, "%s", t0.last);

    /* idle session killed: noticed, re-established, next work runs on the new session */
    TEST_EQ_INT(kill_sessions(admin), 1);
    wait_reconnects(&L, 1);
    TEST_EQ_INT((int)L.db.reconnects, 1);
    TEST_EQ_INT(L.db.down, 0);
    TEST_EQ_INT((int)L.db.outages, 1);

    /* a transaction on the wire when the session dies (before COMMIT) runs again, once */
    killer k = {.admin = admin};
    arm_killer(&L, &k, 150);
    pga_stmt tx[2] = {{"insert into t values (1, 'once')", 0, NULL},
                      {"select pg_sleep(0.6)::text", 0, NULL}};
    tag t1 = {.x = &x, .id = 1};
    TEST_REQUIRE(pga_tx(c, tx, 2, record, &t1, &e) == 0);
    tag t2 = {.x = &x, .id = 2};
    pga_query(c, "select count(*)::text || ' ' || pg_backend_pid() from t", 0, NULL, record, &t2,
              &e);
    run_until_calls(&L, &x, 3);
    TEST_EQ_INT(k.killed, 1);
    TEST_CHECK_MSG(!t1.failed, "the transaction failed: %s", t1.last);
    TEST_CHECK_MSG(strncmp(t2.last, "1 ", 2) == 0, "rows and pid: %s", t2.last);
    TEST_CHECK(strcmp(t2.last + 2, first_pid) != 0);
    TEST_EQ_INT((int)L.db.reconnects, 2);

    /* a single statement sent when the session dies: in doubt, said so */
    killer k2 = {.admin = admin};
    arm_killer(&L, &k2, 150);
    tag t3 = {.x = &x, .id = 3};
    pga_query(c, "select pg_sleep(0.6)::text", 0, NULL, record, &t3, &e);
    run_until_calls(&L, &x, 4);
    TEST_CHECK(t3.failed);
    TEST_CHECK_MSG(strstr(t3.last, "connection to PostgreSQL lost") != NULL, "%s", t3.last);
    tag t4 = {.x = &x, .id = 4};
    pga_query(c, "select 'after'", 0, NULL, record, &t4, &e);
    run_until_calls(&L, &x, 5);
    TEST_EQ_STR(t4.last, "after");
    TEST_CHECK(pga_outage_seconds(&L) > 0);
    PQfinish(admin);
    pga_close(c);
    gs_loop_run(&L);
    gs_loop_close(&L);
}

static int last_code, last_in_doubt;
static void record_code(pga_conn *c, PGresult *const *res, int nres, const pga_error *err, void *ud)
{
    last_code = err ? err->err.code : 0;
    last_in_doubt = err ? err->in_doubt : 0;
    record(c, res, nres, err, ud);
}

static void in_doubt_is_flagged(void)
{
    gs_loop L;
    pga_conn *c;
    char ci[256];
    TEST_REQUIRE(setup(&L, &c, ci, sizeof ci));
    PGconn *admin = PQconnectdb(ci);
    TEST_REQUIRE(PQstatus(admin) == CONNECTION_OK);
    ctx x = {0};
    gs_err e = {0};
    killer k = {.admin = admin};
    arm_killer(&L, &k, 150);
    tag t = {.x = &x, .id = 1};
    pga_query(c, "select pg_sleep(0.6)::text", 0, NULL, record_code, &t, &e);
    run_until_calls(&L, &x, 1);
    TEST_EQ_INT(last_code, GS_EDBLOST);
    TEST_EQ_INT(last_in_doubt, 1);
    PQfinish(admin);
    pga_close(c);
    gs_loop_run(&L);
    gs_loop_close(&L);
}

static void tx_setup_is_per_transaction(void)
{
    gs_loop L;
    pga_conn *c;
    char ci[256];
    TEST_REQUIRE(setup(&L, &c, ci, sizeof ci));
    TEST_REQUIRE(pga_set_tx_setup(c, "SELECT set_config('ghlsync.origin', 'engine', true), "
                                     "set_config('lock_timeout', '1234ms', true)") == 0);
    TEST_REQUIRE(pga_set_session(c, "SET application_name = 'pga_test'") == 0);
    ctx x = {0};
    gs_err e = {0};
    tag t1 = {.x = &x, .id = 1}, t2 = {.x = &x, .id = 2}, t3 = {.x = &x, .id = 3},
        t4 = {.x = &x, .id = 4};
    const char *q = "select current_setting('ghlsync.origin', true) || ' ' || "
                    "current_setting('lock_timeout') || ' ' || current_setting('application_name')";
    pga_query(c, q, 0, NULL, record, &t1, &e); /* single statement: pipelined set-up */
    pga_stmt tx[1] = {{q, 0, NULL}};
    pga_tx(c, tx, 1, record, &t2, &e); /* transaction: BEGIN; set-up */
    const char *names[1] = {"named_q"};
    pga_tx_named(c, tx, names, 1, record, &t3, &e);
    run_until_calls(&L, &x, 3);
    TEST_EQ_STR(t1.last, "engine 1234ms pga_test");
    TEST_EQ_STR(t2.last, "engine 1234ms pga_test");
    TEST_EQ_STR(t3.last, "engine 1234ms pga_test");
    /* nothing stays in the session: without the set-up the settings are gone */
    pga_set_tx_setup(c, NULL);
    pga_query(c, q, 0, NULL, record, &t4, &e);
    run_until_calls(&L, &x, 4);
    TEST_CHECK_MSG(strncmp(t4.last, " ", 1) == 0 || strncmp(t4.last, "  ", 2) == 0 ||
                       strstr(t4.last, "engine") == NULL,
                   "session kept: %s", t4.last);
    TEST_CHECK(strstr(t4.last, "1234ms") == NULL);
    /* a failing set-up fails the work */
    pga_set_tx_setup(c, "SELECT no_such_function()");
    tag t5 = {.x = &x, .id = 5}, t6 = {.x = &x, .id = 6};
    pga_query(c, "insert into t values (9, 'x')", 0, NULL, record, &t5, &e);
    pga_stmt ins[1] = {{"insert into t values (10, 'y')", 0, NULL}};
    pga_tx(c, ins, 1, record, &t6, &e);
    run_until_calls(&L, &x, 6);
    TEST_CHECK(t5.failed && strstr(t5.last, "no_such_function") != NULL);
    TEST_CHECK(t6.failed && strstr(t6.last, "no_such_function") != NULL);
    pga_set_tx_setup(c, NULL);
    tag t7 = {.x = &x, .id = 7};
    pga_query(c, "select count(*)::text from t", 0, NULL, record, &t7, &e);
    run_until_calls(&L, &x, 7);
    TEST_EQ_STR(t7.last, "0");
    pga_close(c);
    gs_loop_run(&L);
    gs_loop_close(&L);
}

static void unnamed_mode_prepares_nothing(void)
{
    gs_loop L;
    pga_conn *c;
    char ci[256];
    TEST_REQUIRE(setup(&L, &c, ci, sizeof ci));
    pga_set_unnamed(c, 1);
    ctx x = {0};
    gs_err e = {0};
    const char *v[1] = {"5"};
    pga_stmt st[1] = {{"insert into t values ($1::int, 'n')", 1, v}};
    const char *names[1] = {"ins"};
    tag t1 = {.x = &x, .id = 1}, t2 = {.x = &x, .id = 2}, t3 = {.x = &x, .id = 3};
    pga_tx_named(c, st, names, 1, record, &t1, &e);
    const char *v2[1] = {"6"};
    pga_query_prepared(c, "ins", 1, v2, record, &t2, &e);
    pga_query(c,
              "select (select count(*) from pg_prepared_statements) || ' ' || "
              "(select count(*) from t)",
              0, NULL, record, &t3, &e);
    run_until_calls(&L, &x, 3);
    TEST_CHECK(!t1.failed && !t2.failed);
    TEST_CHECK(pga_is_prepared(c, "ins"));
    TEST_EQ_STR(t3.last, "0 2");
    pga_close(c);
    gs_loop_run(&L);
    gs_loop_close(&L);
}

static void prepared_again_after_reconnect(void)
{
    gs_loop L;
    pga_conn *c;
    char ci[256];
    TEST_REQUIRE(setup(&L, &c, ci, sizeof ci));
    PGconn *admin = PQconnectdb(ci);
    ctx x = {0};
    gs_err e = {0};
    tag t1 = {.x = &x, .id = 1}, t2 = {.x = &x, .id = 2};
    pga_prepare(c, "q", "select 'p' || $1::text", 1, record, &t1, &e);
    run_until_calls(&L, &x, 1);
    kill_sessions(admin);
    wait_reconnects(&L, 1);
    const char *v[1] = {"1"};
    pga_query_prepared(c, "q", 1, v, record, &t2, &e);
    run_until_calls(&L, &x, 2);
    TEST_CHECK_MSG(!t2.failed, "%s", t2.last);
    TEST_EQ_STR(t2.last, "p1");
    PQfinish(admin);
    pga_close(c);
    gs_loop_run(&L);
    gs_loop_close(&L);
}

/* While the server refuses new sessions, queued work waits for pga_set_wait, then fails as
 * "not run" (GS_EDBLOST, not in doubt); once sessions are allowed again the connection is back. */
static void queued_work_waits_bounded(void)
{
    gs_loop L;
    pga_conn *c;
    char ci[256];
    TEST_REQUIRE(setup(&L, &c, ci, sizeof ci));
    PGconn *admin = PQconnectdb(ci);
    TEST_REQUIRE(PQstatus(admin) == CONNECTION_OK);
    pga_set_wait(c, 600);
    ctx x = {0};
    gs_err e = {0};
    tag t1 = {.x = &x, .id = 1};
    pga_query(c, "select 1", 0, NULL, record, &t1, &e);
    run_until_calls(&L, &x, 1);
    char *db = tpg_scalar(admin, "SELECT current_database()");
    PGconn *root = PQconnectdb("dbname=postgres");
    TEST_REQUIRE(db && PQstatus(root) == CONNECTION_OK);
    char q[300];
    snprintf(q, sizeof q, "ALTER DATABASE \"%s\" ALLOW_CONNECTIONS false", db);
    TEST_REQUIRE(tpg_exec(root, q));
    TEST_EQ_INT(kill_sessions(admin), 1);
    wait_down(&L);
    tag t2 = {.x = &x, .id = 2};
    pga_query(c, "select 'late'", 0, NULL, record_code, &t2, &e);
    uint64_t t0 = uv_hrtime();
    run_until_calls(&L, &x, 2);
    double waited = (double)(uv_hrtime() - t0) / 1e9;
    TEST_CHECK(t2.failed);
    TEST_EQ_INT(last_code, GS_EDBLOST);
    TEST_EQ_INT(last_in_doubt, 0);
    TEST_CHECK_MSG(strstr(t2.last, "database unreachable") != NULL, "%s", t2.last);
    TEST_CHECK_MSG(waited >= 0.5, "failed after %.2f s", waited);
    TEST_EQ_INT(L.db.down, 1);
    snprintf(q, sizeof q, "ALTER DATABASE \"%s\" ALLOW_CONNECTIONS true", db);
    TEST_REQUIRE(tpg_exec(root, q));
    free(db);
    PQfinish(root);
    tag t3 = {.x = &x, .id = 3};
    pga_query(c, "select 'back'", 0, NULL, record, &t3, &e);
    run_until_calls(&L, &x, 3);
    TEST_EQ_STR(t3.last, "back");
    TEST_EQ_INT(L.db.down, 0);
    PQfinish(admin);
    pga_close(c);
    gs_loop_run(&L);
    gs_loop_close(&L);
}

/* The synchronous start-up connection (db.h) comes back with its session settings. */
static void db_revive_reconnects(void)
{
    char ci[256];
    PGconn *admin = tpg_fresh_db("dbrevive", ci, sizeof ci);
    TEST_REQUIRE(admin != NULL);
    PGconn *c = NULL;
    gs_err e = {0};
    TEST_REQUIRE(db_connect(ci, &c, &e) == 0);
    TEST_EQ_INT(db_revive(c, "SET application_name = 'revived'", &e), 0); /* alive: no-op */
    TEST_EQ_INT(kill_sessions(admin), 1);
    TEST_CHECK(db_exec(c, "SELECT 1", &e) != 0); /* the loss is seen by the next call */
    TEST_EQ_INT(db_revive(c, "SET application_name = 'revived'", &e), 0);
    char *v = tpg_scalar(c, "SELECT current_setting('application_name') || ' ' || "
                            "current_setting('TimeZone')");
    TEST_EQ_STR(v ? v : "", "revived UTC");
    free(v);
    PQfinish(c);
    PQfinish(admin);
}

/* COPY IN inside a transaction: megabytes of rows (more than libpq's buffer takes at once), a
 * statement before and after it, a bad row that rolls everything back, and an empty COPY. */
static void copy_in_transaction(void)
{
    gs_loop L;
    pga_conn *c;
    char ci[256];
    TEST_REQUIRE(setup(&L, &c, ci, sizeof ci));
    ctx x = {0};
    gs_err e = {0};
    size_t cap = 40 << 20, len = 0;
    char *data = malloc(cap);
    TEST_REQUIRE(data != NULL);
    for (int i = 1000; i < 51000; i++)
        len += (size_t)snprintf(data + len, cap - len, "%d\tit's\\t\"%d\" %0100d\n", i, i, 0);
    pga_stmt st[3] = {{"insert into t values (1, 'before')", 0, NULL},
                      {"COPY t (id, v) FROM STDIN", 0, NULL},
                      {"select count(*)::text || ' ' || max(length(v))::text from t", 0, NULL}};
    pga_copy cp[3] = {{NULL, 0}, {data, len}, {NULL, 0}};
    tag t1 = {.x = &x, .id = 1};
    TEST_REQUIRE(pga_tx_copy(c, st, NULL, cp, 3, record, &t1, &e) == 0);
    gs_loop_run(&L);
    TEST_EQ_INT(x.calls, 1);
    TEST_CHECK(!t1.failed);
    TEST_EQ_INT(x.nres, 3);
    TEST_EQ_STR(t1.last, "50001 113");

    /* a bad row: the whole transaction rolls back, the connection goes on */
    const char bad[] = "2\tok\nnot-a-number\tbad\n";
    pga_copy cb2[3] = {{NULL, 0}, {bad, sizeof bad - 1}, {NULL, 0}};
    tag t2 = {.x = &x, .id = 2};
    st[0].sql = "insert into t values (3, 'rolled back')";
    TEST_REQUIRE(pga_tx_copy(c, st, NULL, cb2, 3, record, &t2, &e) == 0);
    tag t3 = {.x = &x, .id = 3};
    pga_query(c, "select count(*)::text from t", 0, NULL, record, &t3, &e);
    gs_loop_run(&L);
    TEST_CHECK(t2.failed);
    TEST_CHECK(strstr(t2.last, "invalid input syntax") != NULL);
    TEST_CHECK(!t3.failed);
    TEST_EQ_STR(t3.last, "50001");

    /* no rows; and a COPY statement given no data fails instead of hanging */
    pga_stmt one[1] = {{"COPY t (id, v) FROM STDIN", 0, NULL}};
    pga_copy empty[1] = {{"", 0}};
    tag t4 = {.x = &x, .id = 4}, t5 = {.x = &x, .id = 5};
    TEST_REQUIRE(pga_tx_copy(c, one, NULL, empty, 1, record, &t4, &e) == 0);
    TEST_REQUIRE(pga_tx(c, one, 1, record, &t5, &e) == 0);
    gs_loop_run(&L);
    TEST_CHECK(!t4.failed);
    TEST_CHECK(t5.failed && strstr(t5.last, "no COPY data") != NULL);
    /* a named COPY is refused at submission */
    const char *names[1] = {"x"};
    TEST_CHECK(pga_tx_copy(c, one, names, empty, 1, record, &t5, &e) != 0);
    free(data);
    pga_close(c);
    gs_loop_run(&L);
    gs_loop_close(&L);
}

int main(void)
{
    if (!tpg_available()) {
        test_skip("pgasync", "no PostgreSQL (run through tests/run.sh)");
        return test_done();
    }
    TEST_RUN(queries_in_order_with_params);
    TEST_RUN(transaction_commits_or_rolls_back);
    TEST_RUN(copy_in_transaction);
    TEST_RUN(errors_carry_sqlstate_and_message);
    TEST_RUN(errors_sqlstate);
    TEST_RUN(loop_runs_while_query_runs);
    TEST_RUN(bad_conninfo_fails_pending);
    TEST_RUN(prepared_once_per_connection);
    TEST_RUN(prepared_errors);
    TEST_RUN(lost_session_reconnects_and_reruns_tx);
    TEST_RUN(in_doubt_is_flagged);
    TEST_RUN(tx_setup_is_per_transaction);
    TEST_RUN(unnamed_mode_prepares_nothing);
    TEST_RUN(prepared_again_after_reconnect);
    TEST_RUN(db_revive_reconnects);
    TEST_RUN(queued_work_waits_bounded);
    return test_done();
}
