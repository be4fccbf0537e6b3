/* test_push_crash.c - kill -9 of a pushing process at random moments, then restart: nothing is
 * lost and no record is created twice (external_id_field lookup of creates in doubt). The
 * simulator dump must equal the table at the end. */
#include "test.h"
#include "tpg.h"
#include "tpush.h"
#include "tsim.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static tsim sim;

static pid_t spawn_pusher(const tpush_db *d)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        tpush_eng g;
        int rc = tpush_eng_open(&g, &sim, 0, d, CFG_REMOTE_WINS, "ext_id", true);
        if (rc == 0)
            rc = tpush_eng_run(&g, 40000);
        fflush(stdout);
        _exit(rc == 0 ? 0 : 3);
    }
    return pid;
}

static void test_kill9_during_push(void)
{
    char path[256];
    snprintf(path, sizeof path, "/_admin/fields?locationId=%s", sim.loc[0].id);
    TEST_REQUIRE(tsim_admin(&sim, "POST", path,
                            "{\"objectKey\":\"custom_objects.pet\",\"key\":\"ext_id\","
                            "\"dataType\":\"TEXT\"}",
                            NULL) == 201);
    /* slow answers so that kills land while requests are in flight */
    TEST_REQUIRE(tsim_admin(&sim, "POST", "/_admin/faults",
                            "{\"kind\":\"latency\",\"ms\":40,\"jitterMs\":40}", NULL) == 201);
    tpush_db d;
    TEST_REQUIRE(tpush_setup_sim(&d, "push_crash", &sim, 0, "custom_objects.pet", CFG_DIR_BOTH) ==
                 0);
    TEST_CHECK(tpg_exec(d.conn, "INSERT INTO ghl.pet (name, age) SELECT 'p' || i, i FROM "
                                "generate_series(1, 40) i"));
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    int kills = 0;
    for (int round = 0; round < 8; round++) {
        if (round == 3)
            TEST_CHECK(tpg_exec(d.conn, "UPDATE ghl.pet SET age = age + 100 WHERE age % 3 = 0"));
        if (round == 5)
            TEST_CHECK(tpg_exec(d.conn, "DELETE FROM ghl.pet WHERE age % 7 = 0"));
        pid_t pid = spawn_pusher(&d);
        TEST_REQUIRE(pid > 0);
        struct timespec ts = {0, (long)(50 + rand() % 200) * 1000 * 1000};
        nanosleep(&ts, NULL);
        if (kill(pid, SIGKILL) == 0)
            kills++;
        waitpid(pid, NULL, 0);
    }
    printf("# %d kills\n", kills);
    pid_t pid = spawn_pusher(&d);
    int st = 0;
    waitpid(pid, &st, 0);
    TEST_CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "final push run exit status %d", st);

    char *v = tpg_scalar(d.conn, "SELECT count(*) FROM ghlsync.changes WHERE state <> 'done' AND "
                                 "state <> 'ignored'");
    TEST_EQ_STR(v, "0");
    free(v);
    /* 40 rows, ages 1..40, +100 where divisible by 3, then those divisible by 7 deleted */
    int nrows = 0;
    for (int i = 1; i <= 40; i++)
        nrows += (i % 3 == 0 ? i + 100 : i) % 7 != 0;
    char want_rows[64];
    snprintf(want_rows, sizeof want_rows, "%d %d %d", nrows, nrows, nrows);
    v = tpg_scalar(d.conn, "SELECT count(*) || ' ' || count(id) || ' ' || count(*) FILTER (WHERE "
                           "_sync_state = 'done') FROM ghl.pet");
    TEST_EQ_STR(v, want_rows);
    free(v);

    char *body = NULL;
    snprintf(path, sizeof path, "/_admin/state?locationId=%s", sim.loc[0].id);
    TEST_REQUIRE(tsim_admin(&sim, "GET", path, NULL, &body) == 200);
    cJSON *stj = cJSON_Parse(body);
    free(body);
    cJSON *o, *recs = NULL;
    cJSON_ArrayForEach(
        o, cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(stj, "locations"), 0),
                               "objects"))
    {
        const char *k =
            cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "object"), "key"));
        if (k && !strcmp(k, "custom_objects.pet"))
            recs = cJSON_GetObjectItem(o, "records");
    }
    TEST_EQ_INT(cJSON_GetArraySize(recs), nrows);
    /* every record is one row: same id, same local id in ext_id, same values */
    const cJSON *r;
    int matched = 0;
    cJSON_ArrayForEach(r, recs)
    {
        const cJSON *p = cJSON_GetObjectItem(r, "properties");
        const char *ext = cJSON_GetStringValue(cJSON_GetObjectItem(p, "ext_id"));
        char sql[512];
        snprintf(sql, sizeof sql,
                 "SELECT id || ' ' || name || ' ' || age || ' ' || ext_id FROM ghl.pet WHERE "
                 "_local_id = %ld",
                 ext ? atol(ext) : -1L);
        char *row = tpg_scalar(d.conn, sql);
        char want[256];
        snprintf(want, sizeof want, "%s %s %g %s",
                 cJSON_GetStringValue(cJSON_GetObjectItem(r, "id")),
                 cJSON_GetStringValue(cJSON_GetObjectItem(p, "name")),
                 cJSON_GetNumberValue(cJSON_GetObjectItem(p, "age")), ext ? ext : "");
        if (TEST_CHECK_MSG(row && !strcmp(row, want), "record %s: row %s", want,
                           row ? row : "(none)"))
            matched++;
        free(row);
    }
    TEST_EQ_INT(matched, nrows);
    cJSON_Delete(stj);
    tpush_close(&d);
}

int main(void)
{
    if (!tpg_available()) {
        test_skip("push crash test", "no PostgreSQL (run through tests/run.sh)");
        return test_done();
    }
    const char *args[] = {"--locations", "1", "--seed-records", "0", "--burst", "0", NULL};
    if (tsim_start(&sim, args) != 0) {
        test_skip("push crash test", "simulator not available");
        return test_done();
    }
    TEST_RUN(test_kill9_during_push);
    tsim_stop(&sim);
    return test_done();
}
