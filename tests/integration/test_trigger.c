/* test_trigger.c - capture of local SQL writes into ghlsync.changes (triggers.h, migration 003):
 * what is recorded, what is not (engine sessions, system columns, rolled back work), NOTIFY,
 * read-only tables for direction = "pull", and the queries pull relies on. */
#include "test.h"
#include "tpg.h"
#include "tpush.h"
#include "triggers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>

static char *fixture(void)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/fixtures/schema_pet.json", getenv("GHLSYNC_TOP"));
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = calloc(1, 1 << 16);
    size_t n = fread(buf, 1, (1 << 16) - 1, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

static int setup(tpush_db *d, const char *tag, enum cfg_direction dir)
{
    char *js = fixture();
    int rc = js ? tpush_setup(d, tag, js, dir, "LOC1") : -1;
    free(js);
    return rc;
}

static char *q1(tpush_db *d, const char *sql)
{
    return tpg_scalar(d->conn, sql);
}

static void check_scalar(tpush_db *d, const char *sql, const char *want, int line)
{
    char *v = q1(d, sql);
    test_check(v && want && !strcmp(v, want), __FILE__, line, "%s\n#   got %s, want %s", sql,
               v ? v : "(null)", want ? want : "(null)");
    free(v);
}
#define SCALAR(sql, want) check_scalar(&d, sql, want, __LINE__)

static void test_insert_update_delete_captured(void)
{
    tpush_db d;
    TEST_REQUIRE(setup(&d, "trig_capture", CFG_DIR_BOTH) == 0);
    TEST_CHECK(tpg_exec(d.conn, "INSERT INTO ghl.pet (name, age, tags) VALUES ('Rex', 3, "
                                "'{a,b}')"));
    SCALAR("SELECT count(*) FROM ghlsync.changes", "1");
    SCALAR("SELECT op || ' ' || location_id || ' ' || object_key || ' ' || table_schema || '.' || "
           "table_name || ' ' || local_key || ' ' || coalesce(remote_id, '-') FROM ghlsync.changes",
           "insert LOC1 custom_objects.pet ghl.pet 1 -");
    SCALAR("SELECT changed_columns::text FROM ghlsync.changes", "{name,age,tags}");
    SCALAR("SELECT new_values::text FROM ghlsync.changes",
           "{\"age\": 3, \"name\": \"Rex\", \"tags\": [\"a\", \"b\"]}");
    SCALAR("SELECT location_id || ' ' || _sync_state FROM ghl.pet", "LOC1 pending");

    /* as if pushed: the engine writes id and timestamps back (no echo) */
    TEST_CHECK(tpg_exec(d.conn, "UPDATE ghlsync.changes SET state = 'done'"));
    TEST_CHECK(tpg_exec(d.conn, "BEGIN; SET LOCAL ghlsync.origin = 'engine'; UPDATE ghl.pet SET "
                                "id = 'r1', updated_at = '2024-01-01T00:00:00Z', _sync_state = "
                                "'done', name = 'Rex (pulled)'; COMMIT"));
    SCALAR("SELECT count(*) FROM ghlsync.changes", "1");
    SCALAR("SELECT _sync_state FROM ghl.pet", "done");

    TEST_CHECK(tpg_exec(d.conn, "UPDATE ghl.pet SET age = 4, notes = 'x'"));
    SCALAR("SELECT count(*) FROM ghlsync.changes", "2");
    SCALAR("SELECT op || ' ' || remote_id || ' ' || changed_columns::text || ' ' || "
           "old_values::text || ' ' || new_values::text || ' ' || base_updated_at::text FROM "
           "ghlsync.changes WHERE id = 2",
           "update r1 {notes,age} {\"age\": 3, \"notes\": null} {\"age\": 4, \"notes\": \"x\"} "
           "2024-01-01 00:00:00+00");
    SCALAR("SELECT _sync_state FROM ghl.pet", "pending");

    /* system columns alone and a no-op update are not changes */
    TEST_CHECK(tpg_exec(d.conn, "UPDATE ghl.pet SET _sync_state = 'x', _sync_error = 'y', "
                                "updated_at = now(), _synced_at = now(), id = 'r1'"));
    TEST_CHECK(tpg_exec(d.conn, "UPDATE ghl.pet SET age = 4"));
    SCALAR("SELECT count(*) FROM ghlsync.changes", "2");

    /* rolled back work leaves nothing */
    TEST_CHECK(tpg_exec(d.conn, "BEGIN; UPDATE ghl.pet SET age = 99; ROLLBACK"));
    SCALAR("SELECT count(*) FROM ghlsync.changes", "2");

    /* an explicit NULL is a change (it clears the field remotely) */
    TEST_CHECK(tpg_exec(d.conn, "UPDATE ghl.pet SET tags = NULL"));
    SCALAR("SELECT changed_columns::text || ' ' || new_values::text FROM ghlsync.changes ORDER BY "
           "id DESC LIMIT 1",
           "{tags} {\"tags\": null}");

    TEST_CHECK(tpg_exec(d.conn, "DELETE FROM ghl.pet"));
    SCALAR("SELECT op || ' ' || remote_id || ' ' || location_id || ' ' || local_key FROM "
           "ghlsync.changes ORDER BY id DESC LIMIT 1",
           "delete r1 LOC1 1");

    /* engine sessions are never captured */
    TEST_CHECK(tpg_exec(d.conn, "SET ghlsync.origin = 'engine'; INSERT INTO ghl.pet (id, "
                                "location_id, name) VALUES ('r2', 'LOC1', 'pulled'); UPDATE "
                                "ghl.pet SET name = 'again'; DELETE FROM ghl.pet; RESET "
                                "ghlsync.origin"));
    SCALAR("SELECT count(*) FROM ghlsync.changes", "4");
    tpush_close(&d);
}

static void test_notify_on_commit(void)
{
    tpush_db d;
    TEST_REQUIRE(setup(&d, "trig_notify", CFG_DIR_BOTH) == 0);
    PGconn *l = tpush_connect(&d);
    TEST_REQUIRE(l);
    TEST_CHECK(tpg_exec(l, "LISTEN " PUSH_NOTIFY_CHANNEL));
    TEST_CHECK(tpg_exec(d.conn, "BEGIN; INSERT INTO ghl.pet (name) VALUES ('a'), ('b')"));
    PQconsumeInput(l);
    PGnotify *n = PQnotifies(l);
    TEST_CHECK_MSG(n == NULL, "no notification before COMMIT");
    PQfreemem(n);
    TEST_CHECK(tpg_exec(d.conn, "COMMIT"));
    n = NULL;
    for (int i = 0; i < 50 && !n; i++) {
        fd_set fds;
        FD_ZERO(&fds);
        FD_SET(PQsocket(l), &fds);
        struct timeval tv = {0, 100000};
        select(PQsocket(l) + 1, &fds, NULL, NULL, &tv);
        PQconsumeInput(l);
        n = PQnotifies(l);
    }
    TEST_REQUIRE(n != NULL);
    TEST_EQ_STR(n->relname, PUSH_NOTIFY_CHANNEL);
    TEST_EQ_STR(n->extra, "LOC1");
    PQfreemem(n);
    PQconsumeInput(l);
    n = PQnotifies(l);
    TEST_CHECK_MSG(n == NULL, "one notification per transaction and location");
    PQfreemem(n);
    PQfinish(l);
    tpush_close(&d);
}

static void expect_error(PGconn *c, const char *sql, const char *state, const char *needle,
                         int line)
{
    PGresult *r = PQexec(c, sql);
    const char *st = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    const char *msg = PQresultErrorMessage(r);
    test_check(PQresultStatus(r) == PGRES_FATAL_ERROR && st && !strcmp(st, state) &&
                   strstr(msg, needle),
               __FILE__, line, "%s\n#   sqlstate %s, message %s", sql, st ? st : "-", msg);
    PQclear(r);
}

static void test_pull_only_is_read_only(void)
{
    tpush_db d;
    TEST_REQUIRE(setup(&d, "trig_readonly", CFG_DIR_PULL) == 0);
    expect_error(d.conn, "INSERT INTO ghl.pet (location_id, name) VALUES ('LOC1', 'x')", "25006",
                 "table ghl.pet is read-only: object \"custom_objects.pet\" is configured with "
                 "direction = \"pull\"",
                 __LINE__);
    /* the engine fills it */
    TEST_CHECK(tpg_exec(d.conn, "SET ghlsync.origin = 'engine'; INSERT INTO ghl.pet (id, "
                                "location_id, name) VALUES ('r1', 'LOC1', 'x'); RESET "
                                "ghlsync.origin"));
    expect_error(d.conn, "UPDATE ghl.pet SET name = 'y'", "25006", "read-only", __LINE__);
    expect_error(d.conn, "DELETE FROM ghl.pet", "25006", "read-only", __LINE__);
    PGresult *r = PQexec(d.conn, "UPDATE ghl.pet SET name = 'y'");
    const char *hint = PQresultErrorField(r, PG_DIAG_MESSAGE_HINT);
    TEST_CHECK_MSG(hint && strstr(hint, "direction = \"both\""), "hint: %s", hint ? hint : "-");
    PQclear(r);
    expect_error(d.conn, "TRUNCATE ghl.pet", "0A000", "not carried to HighLevel", __LINE__);
    SCALAR("SELECT count(*) FROM ghlsync.changes", "0");
    SCALAR("SELECT name FROM ghl.pet", "x");

    /* switching the direction re-applies the triggers: writes are captured from then on */
    trig_settings ts = {.direction = CFG_DIR_BOTH, .default_location_id = "LOC1"};
    gs_err e = {0};
    TEST_EQ_INT(triggers_apply(d.conn, d.model, &ts, &e), 0);
    TEST_EQ_INT(triggers_apply(d.conn, d.model, &ts, &e), 0);
    TEST_CHECK(tpg_exec(d.conn, "UPDATE ghl.pet SET name = 'y'"));
    SCALAR("SELECT count(*) || ' ' || min(op) FROM ghlsync.changes", "1 update");
    expect_error(d.conn, "TRUNCATE ghl.pet", "0A000", "not carried to HighLevel", __LINE__);
    tpush_close(&d);
}

static void test_location_required_without_default(void)
{
    char *js = fixture();
    tpush_db d;
    int rc = js ? tpush_setup(&d, "trig_noloc", js, CFG_DIR_BOTH, NULL) : -1;
    free(js);
    TEST_REQUIRE(rc == 0);
    expect_error(d.conn, "INSERT INTO ghl.pet (name) VALUES ('x')", "23502", "needs location_id",
                 __LINE__);
    TEST_CHECK(tpg_exec(d.conn, "INSERT INTO ghl.pet (location_id, name) VALUES ('L2', 'x')"));
    SCALAR("SELECT location_id FROM ghlsync.changes", "L2");
    tpush_close(&d);
}

static void test_pull_side_queries(void)
{
    tpush_db d;
    TEST_REQUIRE(setup(&d, "trig_protect", CFG_DIR_BOTH) == 0);
    TEST_CHECK(tpg_exec(d.conn, "SET ghlsync.origin = 'engine'; INSERT INTO ghl.pet (id, "
                                "location_id, name, age) VALUES ('r1', 'LOC1', 'a', 1), ('r2', "
                                "'LOC1', 'b', 2); RESET ghlsync.origin"));
    SCALAR("SELECT ghlsync.protected_columns('ghl', 'pet', 1)::text", "{}");
    TEST_CHECK(tpg_exec(d.conn, "UPDATE ghl.pet SET name = 'a2' WHERE id = 'r1'"));
    TEST_CHECK(tpg_exec(d.conn, "UPDATE ghl.pet SET age = 5 WHERE id = 'r1'"));
    SCALAR("SELECT ghlsync.protected_columns('ghl', 'pet', 1)::text", "{age,name}");
    SCALAR("SELECT ghlsync.protected_columns('ghl', 'pet', 2)::text", "{}");
    /* failed changes keep protecting the local value; done ones do not */
    TEST_CHECK(tpg_exec(d.conn, "UPDATE ghlsync.changes SET state = 'failed' WHERE id = 1"));
    TEST_CHECK(tpg_exec(d.conn, "UPDATE ghlsync.changes SET state = 'done' WHERE id = 2"));
    SCALAR("SELECT ghlsync.protected_columns('ghl', 'pet', 1)::text", "{name}");
    SCALAR("SELECT count(*) FROM ghlsync.push_errors", "1");

    TEST_CHECK(tpg_exec(d.conn, "DELETE FROM ghl.pet WHERE id = 'r2'"));
    SCALAR("SELECT ghlsync.locally_deleted('r2')", "t");
    SCALAR("SELECT ghlsync.locally_deleted('r1')", "f");
    tpush_close(&d);
}

int main(void)
{
    if (!tpg_available()) {
        test_skip("trigger tests", "no PostgreSQL (run through tests/run.sh)");
        return test_done();
    }
    TEST_RUN(test_insert_update_delete_captured);
    TEST_RUN(test_notify_on_commit);
    TEST_RUN(test_pull_only_is_read_only);
    TEST_RUN(test_location_required_without_default);
    TEST_RUN(test_pull_side_queries);
    return test_done();
}
