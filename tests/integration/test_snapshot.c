/* `ghlsync backfill --snapshot` (the real binary against the simulator and a private PostgreSQL):
 * a reader in another connection sees the old full table or the new full table, never a partial
 * one; kill -9 in the middle leaves the live table untouched and a later run swaps; refused while
 * the outbox has open changes for the table. */
#include "ident.h"
#include "test.h"
#include "tpg.h"
#include "tpull.h"
#include "tsim.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static bool ready(void)
{
    return tpg_available() && getenv("GHLSYNC_BIN") && getenv("HLSIM_BIN");
}

static char *scalar(PGconn *c, const char *sql)
{
    char *v = tpg_scalar(c, sql);
    return v ? v : strdup("(null)");
}

/* Fingerprint of the live table: every column of every row. */
static const char fingerprint_sql[] =
    "SELECT md5(string_agg(t::text, '|' ORDER BY t._local_id)) FROM ghl.pet t";

static bool delete_remote(tsim *s, PGconn *c, const char *order)
{
    char q[200];
    snprintf(q, sizeof q, "SELECT id FROM ghl.pet WHERE _deleted_at IS NULL ORDER BY id %s LIMIT 1",
             order);
    char *id = tpg_scalar(c, q);
    if (!id)
        return false;
    char path[300];
    snprintf(path, sizeof path, "/_admin/records/custom_objects.pet/%s?locationId=%s", id,
             s->loc[0].id);
    long st = tsim_admin(s, "DELETE", path, NULL, NULL);
    free(id);
    return st == 200;
}

static void reader_sees_old_or_new(void)
{
    tsim s;
    const char *args[] = {
        "--locations", "1", "--seed-records", "300", "--burst", "0", "--latency-ms", "3", NULL};
    TEST_REQUIRE(tsim_start(&s, args) == 0);
    char ci[512], cfg[512];
    PGconn *c = tpg_fresh_db("snap_read", ci, sizeof ci);
    TEST_REQUIRE(c != NULL);
    TEST_REQUIRE(tpull_config(&s, ci, "[pull]\npage_size = 10\n", cfg, sizeof cfg));
    const char *plain[] = {"backfill", NULL};
    TEST_EQ_INT(tpull_run(cfg, plain, NULL, 50000), 0);
    char *v = scalar(c, "SELECT count(*) FILTER (WHERE _deleted_at IS NULL) FROM ghl.pet");
    TEST_EQ_STR(v, "300");
    free(v);
    char *local_id_before = scalar(c, "SELECT sum(_local_id) FROM ghl.pet");
    /* remote: every record renamed, two deleted; the snapshot must show all of it at once (an
     * in-place load would show some renamed and some not) */
    PGresult *ids = PQexec(c, "SELECT id FROM ghl.pet");
    TEST_REQUIRE(PQresultStatus(ids) == PGRES_TUPLES_OK);
    int renamed = 0;
    for (int i = 0; i < PQntuples(ids); i++) {
        char path[300];
        snprintf(path, sizeof path, "/_admin/records/custom_objects.pet/%s?locationId=%s",
                 PQgetvalue(ids, i, 0), s.loc[0].id);
        renamed += tsim_admin(&s, "PUT", path, "{\"properties\": {\"name\": \"v2\"}}", NULL) == 200;
    }
    PQclear(ids);
    TEST_EQ_INT(renamed, 300);
    TEST_REQUIRE(delete_remote(&s, c, "ASC"));
    TEST_REQUIRE(delete_remote(&s, c, "DESC"));

    const char *snap[] = {"backfill", "--snapshot", NULL};
    pid_t p = tpull_spawn(cfg, snap, NULL);
    TEST_REQUIRE(p > 0);
    int old_seen = 0, new_seen = 0, other = 0, status = 0;
    char odd[200] = "";
    for (int i = 0; i < 20000; i++) {
        char *r = scalar(c, "SELECT count(*) FILTER (WHERE name = 'v2') || '/' || count(*) "
                            "FILTER (WHERE _deleted_at IS NULL) FROM ghl.pet");
        if (strcmp(r, "0/300") == 0)
            old_seen++;
        else if (strcmp(r, "298/298") == 0)
            new_seen++;
        else {
            other++;
            snprintf(odd, sizeof odd, "%s", r);
        }
        free(r);
        if (waitpid(p, &status, WNOHANG) == p)
            break;
        usleep(2000);
    }
    printf("# reader: %d reads of the old table, %d of the new, %d other\n", old_seen, new_seen,
           other);
    TEST_CHECK_MSG(other == 0, "a reader saw %s", odd);
    TEST_CHECK(old_seen > 5); /* the reader ran while the snapshot loaded */
    TEST_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    TEST_EQ_INT(tpull_compare(&s, c, "ghl"), 0);
    v = scalar(c, "SELECT count(*) FROM pg_tables WHERE tablename LIKE '\\_ghlsync\\_snap\\_%'");
    TEST_EQ_STR(v, "0");
    free(v);
    v = scalar(c,
               "SELECT complete FROM ghlsync.pull_state WHERE object_key = 'custom_objects.pet'");
    TEST_EQ_STR(v, "t");
    free(v);
    /* surviving records kept their _local_id (the two deleted rows are kept, soft-deleted) */
    v = scalar(c, "SELECT sum(_local_id) FROM ghl.pet");
    TEST_EQ_STR(v, local_id_before);
    free(v);
    free(local_id_before);
    PQfinish(c);
    tsim_stop(&s);
}

/* The shadow pullsnap.c builds for ghl.pet: the swaps run one table after another once every scan
 * is done, so a count over all shadows can still be >= 100 after pet's own swap committed. */
static void pet_shadow(char *out, size_t len)
{
    static const char live[] = "ghl.pet";
    snprintf(out, len, "ghl._ghlsync_snap_%08x", ident_hash(live, sizeof live - 1));
}

static void kill9_leaves_live_untouched(void)
{
    tsim s;
    /* 40 pages of 20 ms per object: the kill lands well inside the load */
    const char *args[] = {
        "--locations", "1", "--seed-records", "400", "--burst", "0", "--latency-ms", "20", NULL};
    TEST_REQUIRE(tsim_start(&s, args) == 0);
    char ci[512], cfg[512];
    PGconn *c = tpg_fresh_db("snap_kill", ci, sizeof ci);
    TEST_REQUIRE(c != NULL);
    TEST_REQUIRE(tpull_config(&s, ci, "[pull]\npage_size = 10\n", cfg, sizeof cfg));
    const char *plain[] = {"backfill", NULL};
    TEST_EQ_INT(tpull_run(cfg, plain, NULL, 50000), 0);
    TEST_REQUIRE(delete_remote(&s, c, "ASC"));
    char *before = scalar(c, fingerprint_sql);
    char shadow[80], rows_sql[300], exists_sql[200];
    pet_shadow(shadow, sizeof shadow);
    snprintf(rows_sql, sizeof rows_sql,
             "SELECT CASE WHEN to_regclass('%s') IS NULL THEN -1 ELSE (SELECT count(*) FROM %s) "
             "END",
             shadow, shadow);
    snprintf(exists_sql, sizeof exists_sql, "SELECT to_regclass('%s') IS NOT NULL", shadow);

    const char *snap[] = {"backfill", "--snapshot", NULL};
    pid_t p = tpull_spawn(cfg, snap, NULL);
    TEST_REQUIRE(p > 0);
    /* kill once pet's shadow holds part of its records */
    long long rows = -1;
    for (int i = 0; i < 3000 && rows < 100; i++) {
        char *r = scalar(c, rows_sql);
        rows = strcmp(r, "(null)") ? atoll(r) : -1;
        free(r);
        if (rows < 100)
            usleep(5000);
    }
    printf("# killed with %lld rows in pet's shadow\n", rows);
    TEST_CHECK(rows >= 100);
    int st;
    TEST_CHECK(waitpid(p, &st, WNOHANG) == 0); /* still loading */
    TEST_EQ_INT(kill(p, SIGKILL), 0);
    tpull_wait(p, 10000);
    /* the swap drops the shadow in its own transaction: still there = killed before pet's swap */
    char *left = scalar(c, exists_sql);
    TEST_EQ_STR(left, "t");
    free(left);
    char *after = scalar(c, fingerprint_sql);
    TEST_EQ_STR(after, before); /* not a row, not a column changed */
    free(after);
    free(before);

    /* the next snapshot starts a new shadow and swaps it in */
    const char *again[] = {"backfill", "--snapshot", NULL};
    TEST_EQ_INT(tpull_run(cfg, again, NULL, 50000), 0);
    TEST_EQ_INT(tpull_compare(&s, c, "ghl"), 0);
    char *v = scalar(c, "SELECT count(*) FROM ghl.pet WHERE _deleted_at IS NOT NULL");
    TEST_EQ_STR(v, "1");
    free(v);
    v = scalar(c, "SELECT count(*) FROM pg_tables WHERE tablename LIKE '\\_ghlsync\\_snap\\_%'");
    TEST_EQ_STR(v, "0");
    free(v);
    PQfinish(c);
    tsim_stop(&s);
}

static void refused_with_open_changes(void)
{
    tsim s;
    const char *args[] = {"--locations", "1", "--seed-records", "30", "--burst", "0", NULL};
    TEST_REQUIRE(tsim_start(&s, args) == 0);
    char ci[512], cfg[512];
    PGconn *c = tpg_fresh_db("snap_refuse", ci, sizeof ci);
    TEST_REQUIRE(c != NULL);
    TEST_REQUIRE(tpull_config(&s, ci, NULL, cfg, sizeof cfg));
    const char *plain[] = {"backfill", NULL};
    TEST_EQ_INT(tpull_run(cfg, plain, NULL, 50000), 0);
    /* an unpushed local edit of one row */
    tpg_exec(c, "INSERT INTO ghlsync.changes (location_id, object_key, table_schema, table_name, "
                "op, local_key, remote_id, changed_columns) SELECT location_id, "
                "'custom_objects.pet', 'ghl', 'pet', 'update', _local_id, id, '{name}' "
                "FROM ghl.pet ORDER BY id LIMIT 1");
    tpg_exec(c, "UPDATE ghl.pet SET name = 'local edit' WHERE _local_id = (SELECT local_key FROM "
                "ghlsync.changes LIMIT 1)");
    char *before = scalar(c, fingerprint_sql);
    char log[600];
    snprintf(log, sizeof log, "%s.snaplog", cfg);
    const char *snap[] = {"backfill", "--snapshot", NULL};
    TEST_CHECK(tpull_run(cfg, snap, log, 50000) != 0);
    FILE *f = fopen(log, "r");
    char buf[8192] = "";
    if (f) {
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        buf[n] = '\0';
        fclose(f);
    }
    TEST_CHECK_MSG(strstr(buf, "unpushed local change") != NULL, "output: %s", buf);
    char *after = scalar(c, fingerprint_sql);
    TEST_EQ_STR(after, before);
    free(after);
    free(before);
    char *v = scalar(c, "SELECT count(*) FROM ghl.pet WHERE name = 'local edit'");
    TEST_EQ_STR(v, "1");
    free(v);
    /* once the change is pushed (done), the snapshot runs */
    tpg_exec(c, "UPDATE ghlsync.changes SET state = 'done', done_at = now()");
    TEST_EQ_INT(tpull_run(cfg, snap, NULL, 50000), 0);
    TEST_EQ_INT(tpull_compare(&s, c, "ghl"), 0);
    PQfinish(c);
    tsim_stop(&s);
}

int main(void)
{
    if (!ready()) {
        test_skip("snapshot", "needs tests/run.sh (PostgreSQL, GHLSYNC_BIN, HLSIM_BIN)");
        return test_done();
    }
    TEST_RUN(reader_sees_old_or_new);
    TEST_RUN(kill9_leaves_live_untouched);
    TEST_RUN(refused_with_open_changes);
    return test_done();
}
