/* test_engine_role.c - only the engine is the engine (migration 005): a second role that writes a
 * mirrored table is captured without any privilege on ghlsync, cannot skip capture or write a
 * pull-only table by claiming ghlsync.origin (per session or per transaction), and cannot write
 * the bookkeeping (changes, claims, pull state) directly; the engine's role (owner of ghlsync,
 * or a member of it) still writes as the engine. */
#include "migrate.h"
#include "test.h"
#include "tpg.h"
#include "tpush.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* A cluster-wide role of this test process (roles are shared by every test database). */
static char role[64], role2[64];

static PGconn *connect_as(const char *conninfo, const char *who)
{
    char ci[700];
    snprintf(ci, sizeof ci, "%s user=%s", conninfo, who);
    PGconn *c = PQconnectdb(ci);
    if (PQstatus(c) != CONNECTION_OK) {
        printf("# connect as %s: %s", who, PQerrorMessage(c));
        PQfinish(c);
        return NULL;
    }
    return c;
}

/* SQLSTATE of the statement ("" = it succeeded). */
static void sqlstate(PGconn *c, const char *sql, char out[6])
{
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    out[0] = 0;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        const char *s = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        snprintf(out, 6, "%s", s ? s : "?????");
    }
    PQclear(r);
    if (PQtransactionStatus(c) == PQTRANS_INERROR) {
        PGresult *rb = PQexec(c, "ROLLBACK");
        PQclear(rb);
    }
}

static void expect_state(PGconn *c, const char *sql, const char *want, int line)
{
    char got[6];
    sqlstate(c, sql, got);
    test_check(!strcmp(got, want), __FILE__, line, "%s\n#   SQLSTATE %s, want %s (%s)", sql,
               got[0] ? got : "none", want[0] ? want : "none", PQerrorMessage(c));
}
#define STATE(c, sql, want) expect_state((c), (sql), (want), __LINE__)

static void grant_table(tpush_db *d, const char *who)
{
    char sql[800];
    snprintf(sql, sizeof sql,
             "GRANT USAGE ON SCHEMA ghl TO %s; GRANT SELECT, INSERT, UPDATE, DELETE ON %s TO %s",
             who, d->qtable, who);
    TEST_CHECK(tpg_exec(d->conn, sql));
}

static void test_second_role_is_captured(void)
{
    tpush_db d;
    TEST_REQUIRE(setup(&d, "role_capture", CFG_DIR_BOTH) == 0);
    grant_table(&d, role);
    PGconn *a = connect_as(d.conninfo, role);
    TEST_REQUIRE(a);
    /* no privilege on ghlsync: the trigger writes the outbox as its owner */
    STATE(a, "INSERT INTO ghl.pet (name) VALUES ('by alice')", "");
    TEST_EQ_INT(tpush_count(d.conn, "SELECT count(*) FROM ghlsync.changes"), 1);

    /* claiming the engine's origin: refused, per session and per transaction */
    STATE(a, "SET ghlsync.origin = 'engine'", "");
    STATE(a, "INSERT INTO ghl.pet (name) VALUES ('sneaky')", "42501");
    STATE(a, "UPDATE ghl.pet SET name = 'sneaky'", "42501");
    STATE(a, "DELETE FROM ghl.pet", "42501");
    STATE(a, "RESET ghlsync.origin", "");
    STATE(a,
          "BEGIN; SELECT set_config('ghlsync.origin', 'engine', true); UPDATE ghl.pet SET name = "
          "'sneaky'; COMMIT",
          "42501");
    STATE(a, "BEGIN; SET LOCAL ghlsync.origin = 'engine'; DELETE FROM ghl.pet; COMMIT", "42501");
    TEST_EQ_INT(tpush_count(d.conn, "SELECT count(*) FROM ghl.pet WHERE name = 'by alice'"), 1);
    TEST_EQ_INT(tpush_count(d.conn, "SELECT count(*) FROM ghlsync.changes"), 1);

    /* the message says why */
    PGresult *r = PQexec(a, "BEGIN; SET LOCAL ghlsync.origin = 'engine'; UPDATE ghl.pet SET age = "
                            "1; COMMIT");
    const char *msg = PQresultErrorMessage(r);
    TEST_CHECK_MSG(strstr(msg, "is not the ghlsync engine") != NULL, "message: %s", msg);
    PQclear(r);
    PQclear(PQexec(a, "ROLLBACK"));

    /* a normal write after all that is still captured */
    STATE(a, "UPDATE ghl.pet SET age = 7", "");
    TEST_EQ_INT(tpush_count(d.conn, "SELECT count(*) FROM ghlsync.changes"), 2);

    /* the bookkeeping itself: no forged changes, claims or state */
    STATE(a,
          "INSERT INTO ghlsync.changes (location_id, object_key, table_schema, table_name, op, "
          "local_key) VALUES ('LOC1', 'custom_objects.pet', 'ghl', 'pet', 'delete', 1)",
          "42501");
    STATE(a, "UPDATE ghlsync.changes SET claim_pid = pg_backend_pid()", "42501");
    STATE(a, "UPDATE ghlsync.changes SET state = 'done'", "42501");
    STATE(a, "DELETE FROM ghlsync.changes", "42501");
    STATE(a, "UPDATE ghlsync.pull_state SET cursor = NULL", "42501");
    STATE(a, "INSERT INTO ghlsync.oauth_tokens VALUES ('x', NULL, 'y')", "42501");
    /* nor can it attach the capture function to a table of its own */
    STATE(a, "CREATE TEMP TABLE t (x int)", "");
    STATE(a,
          "CREATE TRIGGER f BEFORE INSERT ON t FOR EACH ROW EXECUTE FUNCTION "
          "ghlsync.capture('custom_objects.pet', 'LOC1')",
          "42501");
    TEST_EQ_INT(tpush_count(d.conn, "SELECT count(*) FROM ghlsync.changes WHERE state = 'pending' "
                                    "AND claim_pid IS NULL"),
                2);

    /* the engine (owner of ghlsync) still skips capture, per session and per transaction */
    TEST_CHECK(tpg_exec(d.conn, "BEGIN; SELECT set_config('ghlsync.origin', 'engine', true); "
                                "UPDATE ghl.pet SET name = 'pulled'; COMMIT"));
    TEST_CHECK(tpg_exec(d.conn, "SET ghlsync.origin = 'engine'; INSERT INTO ghl.pet (id, "
                                "location_id, name) VALUES ('r2', 'LOC1', 'pulled 2'); RESET "
                                "ghlsync.origin"));
    TEST_EQ_INT(tpush_count(d.conn, "SELECT count(*) FROM ghlsync.changes"), 2);
    TEST_EQ_INT(tpush_count(d.conn, "SELECT count(*) FROM ghl.pet WHERE name LIKE 'pulled%'"), 2);

    /* a member of the owner's role is the engine too (how another login role runs ghlsync) */
    char sql[300];
    snprintf(sql, sizeof sql, "GRANT %s TO %s", PQuser(d.conn) ? PQuser(d.conn) : "postgres",
             role2);
    TEST_CHECK(tpg_exec(d.conn, sql));
    grant_table(&d, role2);
    PGconn *b = connect_as(d.conninfo, role2);
    TEST_REQUIRE(b);
    STATE(b, "BEGIN; SET LOCAL ghlsync.origin = 'engine'; UPDATE ghl.pet SET age = 9; COMMIT", "");
    TEST_EQ_INT(tpush_count(d.conn, "SELECT count(*) FROM ghlsync.changes"), 2);
    PQfinish(b);
    PQfinish(a);
    tpush_close(&d);
}

static void test_second_role_pull_only(void)
{
    tpush_db d;
    TEST_REQUIRE(setup(&d, "role_pull", CFG_DIR_PULL) == 0);
    grant_table(&d, role);
    TEST_CHECK(tpg_exec(d.conn, "SET ghlsync.origin = 'engine'; INSERT INTO ghl.pet (id, "
                                "location_id, name) VALUES ('r1', 'LOC1', 'pulled'); RESET "
                                "ghlsync.origin"));
    PGconn *a = connect_as(d.conninfo, role);
    TEST_REQUIRE(a);
    STATE(a, "UPDATE ghl.pet SET name = 'x'", "25006");
    STATE(a, "BEGIN; SET LOCAL ghlsync.origin = 'engine'; UPDATE ghl.pet SET name = 'x'; COMMIT",
          "42501");
    STATE(a, "SET ghlsync.origin = 'engine'", "");
    STATE(a, "INSERT INTO ghl.pet (id, location_id, name) VALUES ('r9', 'LOC1', 'x')", "42501");
    STATE(a, "DELETE FROM ghl.pet", "42501");
    char sql[600];
    snprintf(sql, sizeof sql, "GRANT TRUNCATE ON %s TO %s", d.qtable, role);
    TEST_CHECK(tpg_exec(d.conn, sql));
    STATE(a, "TRUNCATE ghl.pet", "42501");
    STATE(a, "RESET ghlsync.origin", "");
    STATE(a, "TRUNCATE ghl.pet", "0A000");
    TEST_EQ_INT(tpush_count(d.conn, "SELECT count(*) FROM ghl.pet WHERE name = 'pulled'"), 1);
    TEST_EQ_INT(tpush_count(d.conn, "SELECT count(*) FROM ghlsync.changes"), 0);
    PQfinish(a);
    tpush_close(&d);
}

/* Write grants given before 005 (the old trigger needed INSERT on ghlsync.changes) are taken
 * back; SELECT grants (BI readers) stay. */
static void test_old_write_grants_revoked(void)
{
    char ci[512], dir[4096], tmp[4096];
    PGconn *c = tpg_fresh_db("role_revoke", ci, sizeof ci);
    TEST_REQUIRE(c);
    const char *top = getenv("GHLSYNC_TOP");
    snprintf(tmp, sizeof tmp, "%s/mig-%d", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp",
             (int)getpid());
    TEST_REQUIRE(mkdir(tmp, 0700) == 0);
    const char *old[] = {"001_init.sql", "003_push.sql", "004_status.sql"};
    for (size_t i = 0; i < 3; i++) {
        char src[4096], dst[8300];
        snprintf(src, sizeof src, "%s/migrations/%s", top, old[i]);
        snprintf(dst, sizeof dst, "%s/%s", tmp, old[i]);
        TEST_REQUIRE(symlink(src, dst) == 0);
    }
    gs_err e = {0};
    TEST_REQUIRE(migrate_run(c, tmp, NULL, NULL, &e) == 0);
    char sql[600];
    snprintf(sql, sizeof sql,
             "GRANT USAGE ON SCHEMA ghlsync TO %s; GRANT SELECT, INSERT, UPDATE ON "
             "ghlsync.changes, ghlsync.pull_state TO %s; GRANT USAGE ON SEQUENCE "
             "ghlsync.changes_id_seq TO %s",
             role, role, role);
    TEST_CHECK(tpg_exec(c, sql));
    snprintf(dir, sizeof dir, "%s/migrations", top);
    TEST_REQUIRE(migrate_run(c, dir, NULL, NULL, &e) == 0);
    snprintf(sql, sizeof sql,
             "SELECT has_table_privilege('%s', 'ghlsync.changes', 'INSERT')::int + "
             "has_table_privilege('%s', 'ghlsync.changes', 'UPDATE')::int + "
             "has_table_privilege('%s', 'ghlsync.pull_state', 'UPDATE')::int + "
             "has_sequence_privilege('%s', 'ghlsync.changes_id_seq', 'USAGE')::int",
             role, role, role, role);
    TEST_EQ_INT(tpush_count(c, sql), 0);
    snprintf(sql, sizeof sql, "SELECT has_table_privilege('%s', 'ghlsync.changes', 'SELECT')::int",
             role);
    TEST_EQ_INT(tpush_count(c, sql), 1);
    for (size_t i = 0; i < 3; i++) {
        char dst[8300];
        snprintf(dst, sizeof dst, "%s/%s", tmp, old[i]);
        unlink(dst);
    }
    rmdir(tmp);
    PQfinish(c);
}

int main(void)
{
    if (!tpg_available()) {
        test_skip("engine role tests", "no PostgreSQL (run through tests/run.sh)");
        return test_done();
    }
    snprintf(role, sizeof role, "ghlsync_test_alice_%d", (int)getpid());
    snprintf(role2, sizeof role2, "ghlsync_test_bob_%d", (int)getpid());
    char sql[300];
    char ci[512];
    PGconn *c = tpg_fresh_db("role_admin", ci, sizeof ci);
    snprintf(sql, sizeof sql, "CREATE ROLE %s LOGIN NOSUPERUSER; CREATE ROLE %s LOGIN NOSUPERUSER",
             role, role2);
    if (!c || !tpg_exec(c, sql)) {
        test_report("create the test roles", false, NULL);
        PQfinish(c);
        return test_done();
    }
    TEST_RUN(test_second_role_is_captured);
    TEST_RUN(test_second_role_pull_only);
    TEST_RUN(test_old_write_grants_revoked);
    /* roles own privileges in the test databases: drop those first */
    PGresult *r = PQexec(c, "SELECT datname FROM pg_database WHERE datname LIKE 't\\_role\\_%'");
    for (int i = 0; i < PQntuples(r); i++) {
        char ci2[600];
        snprintf(ci2, sizeof ci2, "dbname=%s", PQgetvalue(r, i, 0));
        PGconn *x = PQconnectdb(ci2);
        snprintf(sql, sizeof sql, "DROP OWNED BY %s, %s", role, role2);
        if (PQstatus(x) == CONNECTION_OK)
            PQclear(PQexec(x, sql));
        PQfinish(x);
    }
    PQclear(r);
    snprintf(sql, sizeof sql, "DROP ROLE %s; DROP ROLE %s", role, role2);
    tpg_exec(c, sql);
    PQfinish(c);
    return test_done();
}
