/* Convergence of `ghlsync run` (the real binary, simulator, private PostgreSQL): for a while,
 * random edits on both sides - SQL inserts, updates and deletes on the table, and web-user
 * creates, edits and deletes on the simulator (ours through the admin interface, plus the
 * simulator's "another user") - often on the same records; then quiet until the outbox has
 * nothing pending and a full scan that started after that has completed; then the table (live
 * rows, decoded through the codecs) and the simulator's dump must be equal record for record.
 * Twice: with an instant API, and with 80-160 ms per request (changes stay pending while pull
 * polls). CONVERGE_SEED=N replays a run (the seed is printed); CONVERGE_SECONDS sets the busy time.
 */
#include "test.h"
#include "tpg.h"
#include "tpull.h"
#include "tsim.h"

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static bool ready(void)
{
    return tpg_available() && getenv("GHLSYNC_BIN") && getenv("HLSIM_BIN");
}

typedef struct rng {
    uint64_t s;
} rng;

static uint32_t rnd(rng *r, uint32_t n)
{
    r->s = r->s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)((r->s >> 33) % n);
}

static const char *const species[] = {"dog", "cat", "fish"};

/* A random live record id from the table (NULL when none). */
static char *pick_id(PGconn *c, rng *r)
{
    char q[200];
    snprintf(q, sizeof q,
             "SELECT id FROM ghl.pet WHERE id IS NOT NULL AND _deleted_at IS NULL "
             "ORDER BY id OFFSET %u LIMIT 1",
             rnd(r, 40));
    char *id = tpg_scalar(c, q);
    if (!id)
        id = tpg_scalar(c, "SELECT id FROM ghl.pet WHERE id IS NOT NULL AND _deleted_at IS NULL "
                           "ORDER BY id LIMIT 1");
    return id;
}

struct tally {
    int l_ins, l_upd, l_del, r_ins, r_upd, r_del, other;
};

static void local_op(PGconn *c, rng *r, int n, struct tally *t)
{
    char q[400];
    uint32_t k = rnd(r, 100);
    if (k < 50) {
        /* any live row, pushed or not yet */
        snprintf(q, sizeof q,
                 "UPDATE ghl.pet SET name = 'L%d', age = %u, species = '%s' WHERE _local_id = "
                 "(SELECT _local_id FROM ghl.pet WHERE _deleted_at IS NULL ORDER BY _local_id "
                 "OFFSET %u LIMIT 1)",
                 n, rnd(r, 100), species[rnd(r, 3)], rnd(r, 40));
        t->l_upd++;
    } else if (k < 75) {
        snprintf(q, sizeof q,
                 "INSERT INTO ghl.pet (name, age, species) VALUES ('Lnew%d', %u, '%s')", n,
                 rnd(r, 100), species[rnd(r, 3)]);
        t->l_ins++;
    } else {
        snprintf(q, sizeof q,
                 "DELETE FROM ghl.pet WHERE _local_id = (SELECT _local_id FROM ghl.pet WHERE "
                 "_deleted_at IS NULL ORDER BY _local_id OFFSET %u LIMIT 1)",
                 rnd(r, 40));
        t->l_del++;
    }
    /* A concurrent write-back can make a statement wait, never fail. */
    TEST_CHECK(tpg_exec(c, q));
}

static void remote_op(const tsim *s, PGconn *c, rng *r, int n, struct tally *t)
{
    const char *loc = s->loc[0].id;
    char path[400], body[300];
    uint32_t k = rnd(r, 100);
    if (k < 15) {
        snprintf(body, sizeof body, "{\"n\":1}");
        TEST_EQ_INT(tsim_admin(s, "POST", "/_admin/another-user/step", body, NULL), 200);
        t->other++;
        return;
    }
    if (k < 35) {
        snprintf(path, sizeof path, "/_admin/records/custom_objects.pet?locationId=%s", loc);
        snprintf(body, sizeof body,
                 "{\"properties\":{\"name\":\"Rnew%d\",\"age\":%u,\"species\":\"%s\"}}", n,
                 rnd(r, 100), species[rnd(r, 3)]);
        TEST_EQ_INT(tsim_admin(s, "POST", path, body, NULL), 201);
        t->r_ins++;
        return;
    }
    char *id = pick_id(c, r);
    if (!id)
        return;
    snprintf(path, sizeof path, "/_admin/records/custom_objects.pet/%s?locationId=%s", id, loc);
    long st;
    if (k < 85) {
        snprintf(body, sizeof body, "{\"properties\":{\"name\":\"R%d\",\"age\":%u}}", n,
                 rnd(r, 100));
        st = tsim_admin(s, "PUT", path, body, NULL);
        t->r_upd++;
    } else {
        st = tsim_admin(s, "DELETE", path, NULL, NULL);
        t->r_del++;
    }
    /* 404: deleted remotely already, the table has not heard yet */
    TEST_CHECK_MSG(st == 200 || st == 404, "admin edit of %s: %ld", id, st);
    free(id);
}

static void print_open_changes(PGconn *c)
{
    PGresult *r = PQexec(c, "SELECT id, state, op, local_key, remote_id, changed_columns, "
                            "last_status, last_error FROM ghlsync.changes WHERE state NOT IN "
                            "('done', 'ignored') ORDER BY id LIMIT 20");
    for (int i = 0; PQresultStatus(r) == PGRES_TUPLES_OK && i < PQntuples(r); i++)
        printf("# open change %s %s %s key=%s remote=%s cols=%s status=%s error=%s\n",
               PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), PQgetvalue(r, i, 2), PQgetvalue(r, i, 3),
               PQgetvalue(r, i, 4), PQgetvalue(r, i, 5), PQgetvalue(r, i, 6), PQgetvalue(r, i, 7));
    PQclear(r);
}

/* latency_ms: simulator latency per request, so that local changes stay pending while pull
 * polls (the protection of unpushed columns and of local deletes is exercised). */
static void converge(const char *latency_ms)
{
    const char *se = getenv("CONVERGE_SEED");
    rng r = {se ? strtoull(se, NULL, 10) : (uint64_t)time(NULL) ^ (uint64_t)getpid()};
    uint64_t seed = r.s;
    const char *secs = getenv("CONVERGE_SECONDS");
    long busy_ms = (secs ? atol(secs) : 10) * 1000;
    printf("# seed %llu, %ld ms of edits\n", (unsigned long long)seed, busy_ms);

    tsim s;
    const char *args[] = {"--locations",
                          "1",
                          "--seed-records",
                          "30",
                          "--burst",
                          "0",
                          "--another-user-object",
                          "custom_objects.pet",
                          "--latency-ms",
                          latency_ms,
                          "--latency-jitter-ms",
                          latency_ms,
                          NULL};
    TEST_REQUIRE(tsim_start(&s, args) == 0);
    char ci[512], cfg[512];
    PGconn *c = tpg_fresh_db("converge", ci, sizeof ci);
    TEST_REQUIRE(c != NULL);
    /* every object is mirrored (and compared); the edits are on pet */
    char extra[1024];
    snprintf(extra, sizeof extra,
             "[pull]\npoll_interval = \"1s\"\noverlap = \"2s\"\nfull_scan_interval = \"3s\"\n\n");
    TEST_REQUIRE(tpull_config(&s, ci, extra, cfg, sizeof cfg));
    char logp[600];
    snprintf(logp, sizeof logp, "%s.log", cfg);
    const char *a[] = {"run", NULL};
    pid_t p = tpull_spawn(cfg, a, logp);
    TEST_REQUIRE(p > 0);
    TEST_REQUIRE(tpull_wait_scalar(
        c, "SELECT count(*) FROM ghlsync.pull_state WHERE complete AND object_key <> 'opportunity'",
        "4", 30000));

    struct tally t = {0};
    long end = tpull_now_ms() + busy_ms;
    int n = 0;
    while (tpull_now_ms() < end) {
        n++;
        if (rnd(&r, 100) < 55)
            local_op(c, &r, n, &t);
        else
            remote_op(&s, c, &r, n, &t);
        usleep(20000 + rnd(&r, 40000));
    }
    printf("# local: %d inserts, %d updates, %d deletes; remote: %d creates, %d edits, %d "
           "deletes, %d another-user steps\n",
           t.l_ins, t.l_upd, t.l_del, t.r_ins, t.r_upd, t.r_del, t.other);

    /* quiet: the outbox drains, then a full scan that started afterwards completes */
    long q0 = tpull_now_ms();
    TEST_CHECK_MSG(tpull_wait_scalar(c,
                                     "SELECT count(*) FROM ghlsync.changes "
                                     "WHERE state IN ('pending', 'retrying')",
                                     "0", 30000),
                   "outbox drained");
    printf("# outbox drained %ld ms after the last edit\n", tpull_now_ms() - q0);
    char *t0 = tpg_scalar(c, "SELECT now()::text");
    TEST_REQUIRE(t0 != NULL);
    char q[400];
    snprintf(q, sizeof q,
             "SELECT bool_and(started_at > '%s' AND last_full_scan_at >= started_at)::text "
             "FROM ghlsync.pull_state",
             t0);
    free(t0);
    TEST_CHECK_MSG(tpull_wait_scalar(c, q, "true", 20000), "a full scan after the quiet point");
    /* and one more incremental poll */
    usleep(1500 * 1000);
    kill(p, SIGTERM);
    TEST_EQ_INT(tpull_wait(p, 6000), 0);

    print_open_changes(c);
    char *nopen = tpg_scalar(c, "SELECT count(*) FROM ghlsync.changes WHERE state NOT IN "
                                "('done', 'ignored')");
    TEST_CHECK_MSG(nopen && strcmp(nopen, "0") == 0, "changes left open: %s", nopen ? nopen : "?");
    free(nopen);
    char *conf = tpg_scalar(c, "SELECT count(*) FROM ghlsync.conflicts");
    printf("# conflicts recorded: %s\n", conf ? conf : "?");
    free(conf);
    int diffs = tpull_compare(&s, c, "ghl");
    TEST_EQ_INT(diffs, 0);
    if (diffs)
        printf("# ghlsync log: %s (seed %llu)\n", logp, (unsigned long long)seed);
    PQfinish(c);
    tsim_stop(&s);
}

static void converge_fast(void)
{
    converge("0");
}

static void converge_slow_api(void)
{
    converge("80");
}

int main(void)
{
    if (!ready()) {
        test_skip("converge", "needs tests/run.sh (PostgreSQL, GHLSYNC_BIN, HLSIM_BIN)");
        return test_done();
    }
    TEST_RUN(converge_fast);
    TEST_RUN(converge_slow_api);
    return test_done();
}
