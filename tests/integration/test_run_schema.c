/* A running `ghlsync run` (the real binary) follows schema changes made in HighLevel without a
 * restart: a field added remotely becomes a column and its values arrive; a field deleted
 * remotely keeps its column (and data), marked deprecated. The schema refresh interval is
 * shortened with GHLSYNC_SCHEMA_REFRESH_MS (default 5 minutes). A table locked by a user's
 * transaction when its object's schema changes stalls neither the loop (/metrics answers) nor
 * the other objects; its DDL waits and applies once the lock is gone. */
#include "test.h"
#include "thttp.h"
#include "tpg.h"
#include "tpull.h"
#include "tsim.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void field_added_and_deleted_while_running(void)
{
    tsim s;
    const char *args[] = {"--locations", "1", "--seed-records", "20", "--burst", "0", NULL};
    TEST_REQUIRE(tsim_start(&s, args) == 0);
    char ci[512], cfg[512];
    PGconn *c = tpg_fresh_db("runschema", ci, sizeof ci);
    if (!c) {
        TEST_CHECK(c != NULL);
        tsim_stop(&s);
        return;
    }
    TEST_REQUIRE(tpull_config(&s, ci, "[pull]\npoll_interval = \"1s\"\noverlap = \"2s\"\n", cfg,
                              sizeof cfg));
    char logp[600];
    snprintf(logp, sizeof logp, "%s.log", cfg);
    setenv("GHLSYNC_SCHEMA_REFRESH_MS", "1000", 1);
    const char *a[] = {"run", NULL};
    pid_t p = tpull_spawn(cfg, a, logp);
    unsetenv("GHLSYNC_SCHEMA_REFRESH_MS");
    TEST_REQUIRE(p > 0);
    TEST_CHECK(tpull_wait_scalar(
        c, "SELECT count(*) FROM ghlsync.pull_state WHERE complete AND object_key <> 'opportunity'",
        "4", 30000));

    /* A new TEXT field, then a record that uses it. */
    const char *loc = s.loc[0].id;
    char path[300];
    snprintf(path, sizeof path, "/_admin/fields?locationId=%s", loc);
    TEST_EQ_INT(tsim_admin(&s, "POST", path,
                           "{\"objectKey\":\"custom_objects.pet\",\"key\":\"colour\","
                           "\"name\":\"Coat colour\",\"dataType\":\"TEXT\"}",
                           NULL),
                201);
    TEST_CHECK_MSG(tpull_wait_scalar(c,
                                     "SELECT count(*) FROM information_schema.columns WHERE "
                                     "table_schema = 'ghl' AND table_name = 'pet' AND "
                                     "column_name = 'colour'",
                                     "1", 15000),
                   "column colour added by the running engine");
    snprintf(path, sizeof path, "/_admin/records/custom_objects.pet?locationId=%s", loc);
    TEST_EQ_INT(tsim_admin(&s, "POST", path,
                           "{\"properties\":{\"name\":\"Rusty\",\"colour\":\"ginger\"}}", NULL),
                201);
    TEST_CHECK_MSG(
        tpull_wait_scalar(c, "SELECT colour FROM ghl.pet WHERE name = 'Rusty'", "ginger", 15000),
        "a value of the new field arrived in the new column");

    /* Deleting the field remotely keeps the column and its data, marked deprecated. */
    snprintf(path, sizeof path, "/_admin/fields/custom_objects.pet.colour?locationId=%s", loc);
    TEST_EQ_INT(tsim_admin(&s, "DELETE", path, NULL, NULL), 200);
    TEST_CHECK_MSG(tpull_wait_scalar(c,
                                     "SELECT (col_description('ghl.pet'::regclass, attnum) ILIKE "
                                     "'%deprecated%')::text FROM pg_attribute WHERE attrelid = "
                                     "'ghl.pet'::regclass AND attname = 'colour'",
                                     "true", 15000),
                   "column colour kept and marked deprecated");
    TEST_CHECK(
        tpull_wait_scalar(c, "SELECT colour FROM ghl.pet WHERE name = 'Rusty'", "ginger", 1000));

    kill(p, SIGTERM);
    TEST_EQ_INT(tpull_wait(p, 6000), 0);
    PQfinish(c);
    tsim_stop(&s);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *b = calloc(1, 1 << 20);
    size_t n = b ? fread(b, 1, (1 << 20) - 1, f) : 0;
    if (b)
        b[n] = 0;
    fclose(f);
    return b;
}

static bool log_has(const char *path, const char *what)
{
    char *t = slurp(path);
    bool ok = t && strstr(t, what);
    free(t);
    return ok;
}

static int logged_port(const char *log)
{
    char *t = slurp(log);
    int port = 0;
    const char *ev = t ? strstr(t, "\"metrics.listen\"") : NULL;
    const char *p = ev ? strstr(ev, "\"port\":") : NULL;
    if (p) {
        p += strlen("\"port\":");
        if (*p == '"')
            p++;
        port = atoi(p);
    }
    free(t);
    return port;
}

static void locked_table_does_not_stall_others(void)
{
    tsim s;
    const char *args[] = {"--locations", "1", "--seed-records", "5", "--burst", "0", NULL};
    TEST_REQUIRE(tsim_start(&s, args) == 0);
    char ci[512], cfg[512];
    PGconn *c = tpg_fresh_db("runlock", ci, sizeof ci);
    PGconn *locker = c ? PQconnectdb(ci) : NULL;
    if (!c || PQstatus(locker) != CONNECTION_OK) {
        TEST_CHECK(c != NULL && locker != NULL);
        PQfinish(locker);
        PQfinish(c);
        tsim_stop(&s);
        return;
    }
    TEST_REQUIRE(tpull_config(&s, ci,
                              "[pull]\npoll_interval = \"1s\"\noverlap = \"2s\"\n"
                              "[metrics]\nlisten = \"127.0.0.1:0\"\n\n",
                              cfg, sizeof cfg));
    char logp[600];
    snprintf(logp, sizeof logp, "%s.log", cfg);
    setenv("GHLSYNC_SCHEMA_REFRESH_MS", "500", 1);
    const char *a[] = {"--log-format", "json", "run", NULL};
    pid_t p = tpull_spawn(cfg, a, logp);
    unsetenv("GHLSYNC_SCHEMA_REFRESH_MS");
    TEST_REQUIRE(p > 0);
    TEST_CHECK(tpull_wait_scalar(c,
                                 "SELECT count(*) FROM ghlsync.pull_state WHERE complete AND "
                                 "object_key NOT IN ('contact', 'opportunity')",
                                 "3", 30000));
    int port = logged_port(logp);
    TEST_CHECK_MSG(port > 0, "metrics port logged");

    /* a user's transaction holds the pet table; then pet gets a new field remotely */
    TEST_CHECK(tpg_exec(locker, "BEGIN; LOCK TABLE ghl.pet IN ACCESS EXCLUSIVE MODE"));
    const char *loc = s.loc[0].id;
    char path[300];
    snprintf(path, sizeof path, "/_admin/fields?locationId=%s", loc);
    TEST_EQ_INT(tsim_admin(&s, "POST", path,
                           "{\"objectKey\":\"custom_objects.pet\",\"key\":\"colour\","
                           "\"name\":\"Coat colour\",\"dataType\":\"TEXT\"}",
                           NULL),
                201);
    bool deferred = false;
    for (long t0 = tpull_now_ms(); !deferred && tpull_now_ms() - t0 < 15000; usleep(100 * 1000))
        deferred = log_has(logp, "schema.apply_deferred");
    TEST_CHECK_MSG(deferred, "the DDL met the lock and was deferred, not waited for");

    /* meanwhile another object keeps syncing and the loop answers */
    snprintf(path, sizeof path, "/_admin/records/custom_objects.vaccination?locationId=%s", loc);
    TEST_EQ_INT(
        tsim_admin(&s, "POST", path, "{\"properties\":{\"vaccine\":\"rabies-lock\"}}", NULL), 201);
    TEST_CHECK_MSG(tpull_wait_scalar(c,
                                     "SELECT count(*) FROM ghl.vaccination WHERE vaccine = "
                                     "'rabies-lock'",
                                     "1", 15000),
                   "a record of another object arrived while pet was locked");
    char url[100];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/metrics", port);
    thttp_resp r;
    int hr = thttp_do_timeout("GET", url, NULL, NULL, 2000, &r);
    TEST_CHECK_MSG(hr == 0 && r.status == 200, "/metrics answers during the lock (%d, %ld)", hr,
                   (long)r.status);
    thttp_resp_free(&r);
    TEST_CHECK_MSG(tpull_wait_scalar(c,
                                     "SELECT count(*) FROM information_schema.columns WHERE "
                                     "table_schema = 'ghl' AND table_name = 'pet' AND "
                                     "column_name = 'colour'",
                                     "0", 100),
                   "no column while the lock is held");

    /* the lock goes: the DDL applies */
    TEST_CHECK(tpg_exec(locker, "COMMIT"));
    TEST_CHECK_MSG(tpull_wait_scalar(c,
                                     "SELECT count(*) FROM information_schema.columns WHERE "
                                     "table_schema = 'ghl' AND table_name = 'pet' AND "
                                     "column_name = 'colour'",
                                     "1", 20000),
                   "column colour added after the lock was released");
    kill(p, SIGTERM);
    TEST_EQ_INT(tpull_wait(p, 6000), 0);
    PQfinish(locker);
    PQfinish(c);
    tsim_stop(&s);
}

int main(void)
{
    if (!tpg_available() || !getenv("GHLSYNC_BIN") || !getenv("HLSIM_BIN")) {
        test_skip("run_schema", "needs the private PostgreSQL, GHLSYNC_BIN and HLSIM_BIN");
        return test_done();
    }
    signal(SIGPIPE, SIG_IGN);
    TEST_RUN(field_added_and_deleted_while_running);
    TEST_RUN(locked_table_does_not_stall_others);
    return test_done();
}
