/* test_push_release.c - every way a push job ends leaves no change claimed by the (still live)
 * claim session (push.h "failure"): a database error while finishing, and while releasing too
 * (the sweep releases them later), the API rejecting, a retryable answer, an unknown create
 * outcome, a failing conflict GET, a claimed record with no target, and push_free with jobs in
 * flight. A stranded claim would keep the record from being pushed until the process restarts. */
#include "test.h"
#include "tpg.h"
#include "tpush.h"
#include "tsim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static tsim sim;
static const char *const sim_args[] = {"--locations", "1", "--seed-records", "0", "--burst",
                                       "0",           NULL};

/* Changes claimed by a session that still exists. */
#define STRANDED                                                                                   \
    "SELECT count(*) FROM ghlsync.changes WHERE claim_pid IS NOT NULL AND "                        \
    "ghlsync.claim_live(claim_pid, claim_start)"

static char *sq(tpush_db *d, const char *sql)
{
    return tpg_scalar(d->conn, sql);
}

#define EQ_SQL(d, sql, want)                                                                       \
    do {                                                                                           \
        char *v_ = sq(d, sql);                                                                     \
        TEST_CHECK_MSG(v_ && !strcmp(v_, want), "%s\n#   got %s, want %s", sql,                    \
                       v_ ? v_ : "(null)", want);                                                  \
        free(v_);                                                                                  \
    } while (0)

static bool fault(const char *json)
{
    return tsim_admin(&sim, "POST", "/_admin/faults", json, NULL) == 201;
}

static void on_spin(uv_timer_t *t)
{
    *(bool *)t->data = true;
    uv_stop(t->loop);
}

/* Run the service's loop for ms (sweeps, backoff deadlines) without waiting for idle. */
static void spin(tpush_eng *g, uint64_t ms)
{
    bool done = false;
    uv_timer_t t;
    uv_timer_init(&g->L.uv, &t);
    t.data = &done;
    uv_timer_start(&t, on_spin, ms, 0);
    while (!done)
        gs_loop_run(&g->L);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(&g->L.uv, UV_RUN_NOWAIT);
}

static int open_case(tpush_db *d, tpush_eng *g, const char *tag)
{
    if (tpush_setup_sim(d, tag, &sim, 0, "custom_objects.pet", CFG_DIR_BOTH))
        return -1;
    return tpush_eng_open(g, &sim, 0, d, CFG_REMOTE_WINS, NULL, true);
}

/* One record pushed and done, so that later cases are updates. */
static void created(tpush_db *d, tpush_eng *g)
{
    TEST_CHECK(tpg_exec(d->conn, "INSERT INTO ghl.pet (name, age) VALUES ('orig', 1)"));
    TEST_CHECK(tpush_eng_run(g, 20000) == 0);
    EQ_SQL(d, "SELECT _sync_state || ' ' || (id IS NOT NULL) FROM ghl.pet", "done true");
}

static void test_finish_db_error_releases(void)
{
    tpush_db d;
    tpush_eng g;
    TEST_REQUIRE(open_case(&d, &g, "rel_finish") == 0);
    /* the write-back of a create fails once the record exists remotely */
    TEST_CHECK(tpg_exec(d.conn,
                        "CREATE TABLE ghl.fail_flag (x int); INSERT INTO ghl.fail_flag VALUES (1); "
                        "CREATE FUNCTION ghl.fail_wb() RETURNS trigger LANGUAGE plpgsql AS $$ "
                        "BEGIN IF NEW.id IS NOT NULL AND EXISTS (SELECT 1 FROM ghl.fail_flag) "
                        "THEN RAISE EXCEPTION 'write-back refused'; END IF; RETURN NEW; END $$; "
                        "CREATE TRIGGER fail_wb BEFORE UPDATE ON ghl.pet FOR EACH ROW EXECUTE "
                        "FUNCTION ghl.fail_wb()"));
    TEST_CHECK(tpg_exec(d.conn, "INSERT INTO ghl.pet (name, age) VALUES ('a', 1)"));
    TEST_CHECK(tpush_eng_run(&g, 20000) == 0);
    EQ_SQL(&d, STRANDED, "0");
    /* released for a retry, the create in doubt (sent_at kept: never re-POSTed blindly) */
    EQ_SQL(&d, "SELECT state || ' ' || (sent_at IS NOT NULL) FROM ghlsync.changes", "pending true");

    /* the release fails too: the claims become orphans, released by the next sweep */
    TEST_CHECK(tpg_exec(d.conn, "INSERT INTO ghl.pet (name, age) VALUES ('b', 1)"));
    TEST_CHECK(tpg_exec(d.conn,
                        "CREATE FUNCTION ghl.fail_rel() RETURNS trigger LANGUAGE plpgsql AS $$ "
                        "BEGIN IF NEW.claim_pid IS NULL AND OLD.claim_pid IS NOT NULL AND EXISTS "
                        "(SELECT 1 FROM ghl.fail_flag) THEN RAISE EXCEPTION 'release refused'; "
                        "END IF; RETURN NEW; END $$; CREATE TRIGGER fail_rel BEFORE UPDATE ON "
                        "ghlsync.changes FOR EACH ROW EXECUTE FUNCTION ghl.fail_rel()"));
    TEST_CHECK(tpush_eng_run(&g, 20000) == 0);
    char *n = sq(&d, STRANDED);
    TEST_CHECK_MSG(n && atoi(n) >= 1, "the release was refused, the claims are still held: %s",
                   n ? n : "(null)");
    free(n);
    TEST_CHECK(tpg_exec(d.conn, "DELETE FROM ghl.fail_flag"));
    spin(&g, 2500); /* sweeps every 200 ms; the first record is due again after 2 s */
    TEST_CHECK(tpush_eng_run(&g, 20000) == 0);
    EQ_SQL(&d, STRANDED, "0");
    /* both creates were sent and their outcome is unknown to the engine (no external id
     * field): parked, not re-sent */
    EQ_SQL(&d, "SELECT string_agg(DISTINCT state, ',') FROM ghlsync.changes", "unknown");
    tpush_eng_close(&g);
    tpush_close(&d);
}

static void test_api_failures_release(void)
{
    tpush_db d;
    tpush_eng g;
    TEST_REQUIRE(open_case(&d, &g, "rel_api") == 0);
    created(&d, &g);

    /* rejected: failed, not claimed */
    TEST_CHECK(tpg_exec(d.conn, "UPDATE ghl.pet SET species = 'no_such_option'"));
    TEST_CHECK(tpush_eng_run(&g, 20000) == 0);
    EQ_SQL(&d, STRANDED, "0");
    EQ_SQL(&d, "SELECT state FROM ghlsync.changes ORDER BY id DESC LIMIT 1", "failed");

    /* retryable (503 on every attempt of the client): retrying, then failed; never claimed */
    TEST_CHECK(tpg_exec(d.conn, "UPDATE ghl.pet SET species = NULL, age = 5"));
    TEST_REQUIRE(fault("{\"kind\":\"error\",\"status\":503,\"method\":\"PUT\",\"count\":3}"));
    TEST_CHECK(tpush_eng_run(&g, 20000) == 0);
    EQ_SQL(&d, STRANDED, "0");
    EQ_SQL(&d, "SELECT attempts FROM ghlsync.changes ORDER BY id DESC LIMIT 1", "1");
    spin(&g, 700); /* the backoff (100-500 ms) */
    TEST_CHECK(tpush_eng_run(&g, 20000) == 0);
    EQ_SQL(&d, STRANDED, "0");
    EQ_SQL(&d, "SELECT _sync_state || ' ' || age FROM ghl.pet", "done 5");

    /* the conflict GET fails (the row moved after the local edit) */
    TEST_CHECK(tpg_exec(d.conn, "UPDATE ghl.pet SET age = 6"));
    TEST_CHECK(tpg_exec(d.conn, "SET ghlsync.origin = 'engine'; UPDATE ghl.pet SET updated_at = "
                                "now() + interval '1 minute'; RESET ghlsync.origin"));
    TEST_REQUIRE(fault("{\"kind\":\"error\",\"status\":503,\"method\":\"GET\",\"path\":"
                       "\"/records/\",\"count\":3}"));
    TEST_CHECK(tpush_eng_run(&g, 20000) == 0);
    EQ_SQL(&d, STRANDED, "0");
    EQ_SQL(&d, "SELECT attempts FROM ghlsync.changes ORDER BY id DESC LIMIT 1", "1");
    spin(&g, 700);
    TEST_CHECK(tpush_eng_run(&g, 20000) == 0);
    EQ_SQL(&d, STRANDED, "0");
    EQ_SQL(&d, "SELECT _sync_state || ' ' || age FROM ghl.pet", "done 6");

    /* unknown outcome of a create (reset after the write): released, then parked */
    TEST_REQUIRE(fault("{\"kind\":\"reset_after\",\"method\":\"POST\",\"path\":\"/records\","
                       "\"count\":1}"));
    TEST_CHECK(tpg_exec(d.conn, "INSERT INTO ghl.pet (name) VALUES ('doubt')"));
    TEST_CHECK(tpush_eng_run(&g, 20000) == 0);
    EQ_SQL(&d, STRANDED, "0");
    EQ_SQL(&d, "SELECT state FROM ghlsync.changes ORDER BY id DESC LIMIT 1", "unknown");

    /* a claimed record of a table this service has no target for: released, not kept */
    TEST_CHECK(tpg_exec(d.conn,
                        "CREATE TABLE ghl.other (LIKE ghl.pet INCLUDING ALL); CREATE TRIGGER c "
                        "BEFORE INSERT OR UPDATE OR DELETE ON ghl.other FOR EACH ROW EXECUTE "
                        "FUNCTION ghlsync.capture('custom_objects.other', '', 'name')"));
    char sql[300];
    snprintf(sql, sizeof sql, "INSERT INTO ghl.other (location_id, name) VALUES ('%s', 'x')",
             sim.loc[0].id);
    TEST_CHECK(tpg_exec(d.conn, sql));
    TEST_CHECK(tpush_eng_run(&g, 20000) == 0);
    EQ_SQL(&d, STRANDED, "0");
    EQ_SQL(&d,
           "SELECT state || ' ' || (next_attempt_at > now() + interval '30 seconds') FROM "
           "ghlsync.changes WHERE table_name = 'other'",
           "pending true");
    tpush_eng_close(&g);
    tpush_close(&d);
}

static void on_inflight(uv_timer_t *t)
{
    tpush_eng *g = t->data;
    if (push_inflight(g->push) > 0) {
        g->timed_out = true; /* stop the loop: a job is waiting for its (stalled) PUT */
        uv_stop(t->loop);
    }
}

static void test_shutdown_in_flight_releases(void)
{
    tpush_db d;
    tpush_eng g;
    TEST_REQUIRE(open_case(&d, &g, "rel_shutdown") == 0);
    created(&d, &g);
    TEST_REQUIRE(fault("{\"kind\":\"stall\",\"method\":\"PUT\",\"seconds\":5,\"count\":1}"));
    TEST_CHECK(tpg_exec(d.conn, "UPDATE ghl.pet SET age = 3"));
    push_wake(g.push, NULL);
    uv_timer_t t;
    uv_timer_init(&g.L.uv, &t);
    t.data = &g;
    g.timed_out = false;
    uv_timer_start(&t, on_inflight, 20, 20);
    for (int i = 0; i < 200 && !g.timed_out; i++)
        spin(&g, 20);
    uv_timer_stop(&t);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(&g.L.uv, UV_RUN_NOWAIT);
    TEST_CHECK_MSG(push_inflight(g.push) > 0, "a job is in flight");
    EQ_SQL(&d, STRANDED, "1");
    tpush_eng_close(&g); /* push_free with the job in flight */
    /* the session is gone (the server notices within moments): nothing is held */
    char *n = NULL;
    for (int i = 0; i < 50; i++) {
        free(n);
        n = sq(&d, STRANDED);
        if (n && !strcmp(n, "0"))
            break;
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    TEST_CHECK_MSG(n && !strcmp(n, "0"), "claims after push_free: %s", n ? n : "(null)");
    free(n);
    EQ_SQL(&d, "SELECT state FROM ghlsync.changes ORDER BY id DESC LIMIT 1", "pending");
    tpush_close(&d);
}

int main(void)
{
    if (!tpg_available()) {
        test_skip("push release tests", "no PostgreSQL (run through tests/run.sh)");
        return test_done();
    }
    struct {
        const char *name;
        test_fn fn;
    } cases[] = {
        {"test_finish_db_error_releases", test_finish_db_error_releases},
        {"test_api_failures_release", test_api_failures_release},
        {"test_shutdown_in_flight_releases", test_shutdown_in_flight_releases},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        if (tsim_start(&sim, sim_args) != 0) {
            test_skip(cases[i].name, "simulator not available");
            continue;
        }
        test_run(cases[i].name, cases[i].fn);
        tsim_stop(&sim);
    }
    return test_done();
}
