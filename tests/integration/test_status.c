/*
 * test_status.c - `ghlsync status [--json]` (the real binary) against a database with known
 * bookkeeping rows: rows per location, pull freshness, outbox states, conflicts, the engine's
 * runtime counters; and the ghlsync.status view that BI tools read directly.
 */
#include "migrate.h"
#include "test.h"
#include "tpg.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char cfg_path[256];

static bool write_config(const char *conninfo)
{
    snprintf(cfg_path, sizeof cfg_path, "%s/ghlsync-test-status-%ld.toml", test_tmpdir(),
             (long)getpid());
    FILE *f = fopen(cfg_path, "w");
    if (!f)
        return false;
    fprintf(f,
            "[database]\nurl = \"%s\"\n\n"
            "[[locations]]\nid = \"locA\"\ntoken_env = \"TEST_STATUS_TOKEN\"\n\n"
            "[[locations]]\nid = \"locIdle\"\ntoken_env = \"TEST_STATUS_TOKEN\"\n",
            conninfo);
    return fclose(f) == 0;
}

/* Run the binary with args; stdout into a malloc'd string; returns the exit status. */
static int run_ghlsync(const char *const *args, char **out)
{
    const char *bin = getenv("GHLSYNC_BIN");
    char cmd[2048];
    int n = snprintf(cmd, sizeof cmd, "TEST_STATUS_TOKEN=tok-abcdef '%s' -c '%s'",
                     bin ? bin : "build/san/ghlsync", cfg_path);
    for (int i = 0; args[i]; i++)
        n += snprintf(cmd + n, sizeof cmd - (size_t)n, " %s", args[i]);
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    size_t r;
    while (buf && (r = fread(buf + len, 1, cap - len - 1, p)) > 0) {
        len += r;
        if (cap - len < 1024) {
            char *nb = realloc(buf, cap * 2);
            if (!nb)
                break;
            buf = nb;
            cap *= 2;
        }
    }
    if (buf)
        buf[len] = 0;
    int st = pclose(p);
    *out = buf;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static PGconn *fresh(char *conninfo, size_t len)
{
    PGconn *c = tpg_fresh_db("status", conninfo, len);
    if (!c)
        return NULL;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/migrations", getenv("GHLSYNC_TOP") ? getenv("GHLSYNC_TOP") : ".");
    gs_err e = {0};
    if (migrate_run(c, dir, NULL, NULL, &e) != 0) {
        printf("# migrate: %s\n", e.msg);
        PQfinish(c);
        return NULL;
    }
    return c;
}

/* Known bookkeeping: locA has pets (3 live rows, 1 soft-deleted, plus 2 rows of another
 * location) with a complete pull and a 10-minute-old watermark; a business backfill in progress;
 * 2 pending + 1 retrying + 2 failed + 1 parked + 1 done + 1 ignored change; 2 conflicts (one
 * older than a day); a runtime row written today. */
static const char fixture[] =
    "CREATE SCHEMA ghl;"
    "CREATE TABLE ghl.\"pets \"\"odd\"\"\" (_local_id bigserial, id text, location_id text, "
    "  _deleted_at timestamptz);"
    "INSERT INTO ghl.\"pets \"\"odd\"\"\" (location_id, _deleted_at) VALUES ('locA', NULL), "
    "  ('locA', NULL), ('locA', NULL), ('locA', now()), ('locB', NULL), ('locB', NULL);"
    "INSERT INTO ghlsync.tables (object_key, table_schema, table_name) VALUES "
    "  ('custom_objects.pet', 'ghl', 'pets \"odd\"'), ('business', 'ghl', 'businesses');"
    "INSERT INTO ghlsync.pull_state (location_id, object_key, mode, watermark, complete, "
    "  updated_at, completed_at, fetched, total) VALUES "
    "  ('locA', 'custom_objects.pet', 'incremental', now() - interval '10 minutes', true, "
    "   now() - interval '30 seconds', now() - interval '1 hour', 4, 4),"
    "  ('locA', 'business', 'full', NULL, false, now(), NULL, 200, 1000);"
    "INSERT INTO ghlsync.changes (location_id, object_key, table_schema, table_name, op, "
    "  local_key, state, last_error, created_at) VALUES "
    "  ('locA', 'custom_objects.pet', 'ghl', 'pets', 'update', 1, 'pending', NULL, now()),"
    "  ('locA', 'custom_objects.pet', 'ghl', 'pets', 'update', 2, 'pending', NULL, now()),"
    "  ('locA', 'custom_objects.pet', 'ghl', 'pets', 'update', 3, 'retrying', 'HTTP 503', now()),"
    "  ('locA', 'custom_objects.pet', 'ghl', 'pets', 'insert', 4, 'failed', 'first failure', "
    "   now()),"
    "  ('locA', 'custom_objects.pet', 'ghl', 'pets', 'insert', 5, 'failed', "
    "   E'422: name must be\\na string', now()),"
    "  ('locA', 'custom_objects.pet', 'ghl', 'pets', 'insert', 6, 'unknown', 'timeout', now()),"
    "  ('locA', 'custom_objects.pet', 'ghl', 'pets', 'insert', 7, 'done', NULL, now()),"
    "  ('locA', 'custom_objects.pet', 'ghl', 'pets', 'insert', 8, 'ignored', NULL, now());"
    "INSERT INTO ghlsync.conflicts (location_id, object_key, table_schema, table_name, policy, "
    "  resolution, detected_at) VALUES "
    "  ('locA', 'custom_objects.pet', 'ghl', 'pets', 'remote_wins', 'remote', now()),"
    "  ('locA', 'custom_objects.pet', 'ghl', 'pets', 'remote_wins', 'remote', "
    "   now() - interval '3 days');"
    "INSERT INTO ghlsync.runtime (location_id, holder, day, requests_today, daily_limit, "
    "  daily_remaining, burst_limit, burst_remaining, rate_per_s, requests_total, "
    "  throttled_total, errors_total, last_error, last_error_at, updated_at) VALUES "
    "  ('locA', 'host:42', (now() AT TIME ZONE 'UTC')::date, 1234, 200000, 198766, 100, 97, "
    "   2.5, 5000, 3, 1, 'HTTP 401 token expired', now(), now() - interval '4 seconds');";

static const cJSON *find_by(const cJSON *arr, const char *key, const char *val)
{
    const cJSON *x;
    cJSON_ArrayForEach(x, arr)
    {
        const char *v = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(x, key));
        if (v && strcmp(v, val) == 0)
            return x;
    }
    return NULL;
}

static double num(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : -999999;
}

static bool is_null(const cJSON *o, const char *k)
{
    return cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(o, k));
}

static void json_report(void)
{
    char ci[512];
    PGconn *c = fresh(ci, sizeof ci);
    TEST_REQUIRE(c != NULL);
    TEST_REQUIRE(write_config(ci));
    TEST_REQUIRE(tpg_exec(c, fixture));
    char *out = NULL;
    const char *args[] = {"status", "--json", NULL};
    TEST_EQ_INT(run_ghlsync(args, &out), 0);
    TEST_REQUIRE(out != NULL);
    cJSON *j = cJSON_Parse(out);
    TEST_CHECK_MSG(j != NULL, "status --json is JSON: %.300s", out);
    const cJSON *locs = cJSON_GetObjectItemCaseSensitive(j, "locations");
    TEST_EQ_INT(cJSON_GetArraySize(locs), 2);
    const cJSON *a = find_by(locs, "location_id", "locA");
    const cJSON *idle = find_by(locs, "location_id", "locIdle");
    TEST_REQUIRE(a && idle);
    TEST_CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(a, "configured")));
    TEST_EQ_INT(num(a, "requests_today"), 1234);
    TEST_EQ_INT(num(a, "daily_remaining"), 198766);
    TEST_EQ_INT(num(a, "burst_remaining"), 97);
    TEST_CHECK(num(a, "rate_per_s") == 2.5);
    TEST_EQ_INT(num(a, "throttled_total"), 3);
    TEST_CHECK(num(a, "runtime_age_s") >= 4 && num(a, "runtime_age_s") < 600);
    TEST_EQ_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(a, "last_error")),
                "HTTP 401 token expired");

    const cJSON *objs = cJSON_GetObjectItemCaseSensitive(a, "objects");
    TEST_EQ_INT(cJSON_GetArraySize(objs), 2);
    const cJSON *pet = find_by(objs, "object_key", "custom_objects.pet");
    const cJSON *biz = find_by(objs, "object_key", "business");
    TEST_REQUIRE(pet && biz);
    TEST_EQ_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(pet, "table")),
                "ghl.pets \"odd\"");
    TEST_EQ_INT(num(pet, "rows"), 3); /* live rows of this location only */
    TEST_EQ_INT(num(pet, "pending"), 3);
    TEST_EQ_INT(num(pet, "failed"), 2);
    TEST_EQ_INT(num(pet, "parked"), 1);
    TEST_EQ_INT(num(pet, "conflicts"), 2);
    TEST_EQ_INT(num(pet, "conflicts_24h"), 1);
    TEST_CHECK(num(pet, "watermark_age_s") >= 600 && num(pet, "watermark_age_s") < 1200);
    TEST_CHECK(num(pet, "last_pull_age_s") >= 30 && num(pet, "last_pull_age_s") < 600);
    TEST_CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(pet, "backfill_complete")));
    /* the newest failed/parked change's message */
    TEST_EQ_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(pet, "last_error")),
                "timeout");
    TEST_CHECK(is_null(biz, "rows")); /* its table does not exist yet */
    TEST_CHECK(is_null(biz, "watermark_age_s"));
    TEST_CHECK(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(biz, "backfill_complete")));
    TEST_EQ_INT(num(biz, "backfill_fetched"), 200);
    TEST_EQ_INT(num(biz, "backfill_total"), 1000);
    TEST_EQ_INT(num(biz, "pending"), 0);

    TEST_CHECK(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(idle, "engine_reported")));
    TEST_CHECK(is_null(idle, "requests_today"));
    TEST_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(idle, "objects")), 0);

    /* A runtime row of an earlier UTC day does not count as today's requests. */
    TEST_REQUIRE(tpg_exec(c, "UPDATE ghlsync.runtime SET day = day - 1"));
    free(out);
    cJSON_Delete(j);
    TEST_EQ_INT(run_ghlsync(args, &out), 0);
    j = cJSON_Parse(out);
    a = find_by(cJSON_GetObjectItemCaseSensitive(j, "locations"), "location_id", "locA");
    TEST_REQUIRE(a != NULL);
    TEST_EQ_INT(num(a, "requests_today"), 0);

    /* BI reads the same numbers from the view. */
    char *v = tpg_scalar(c, "SELECT format('%s/%s/%s/%s', rows, pending, failed, parked) FROM "
                            "ghlsync.status WHERE object_key = 'custom_objects.pet'");
    TEST_EQ_STR(v, "3/3/2/1");
    free(v);
    cJSON_Delete(j);
    free(out);
    PQfinish(c);
    unlink(cfg_path);
}

static void text_report(void)
{
    char ci[512];
    PGconn *c = fresh(ci, sizeof ci);
    TEST_REQUIRE(c != NULL);
    TEST_REQUIRE(write_config(ci));
    TEST_REQUIRE(tpg_exec(c, fixture));
    char *out = NULL;
    const char *args[] = {"status", NULL};
    TEST_EQ_INT(run_ghlsync(args, &out), 0);
    TEST_REQUIRE(out != NULL);
    TEST_CHECK_MSG(strstr(out, "location locA\n") != NULL, "%s", out);
    TEST_CHECK(strstr(out, "requests today 1234, remaining today 198766, burst remaining 97/100"));
    TEST_CHECK(strstr(out, "rate 2.50/s"));
    TEST_CHECK(strstr(out, "location locIdle\n  requests: no engine has reported"));
    TEST_CHECK(strstr(out, "backfill in progress: 200 of 1000"));
    /* one line per pet: rows 3, 3 pending, 2 failed, 1 parked, 2 conflicts */
    const char *pet = strstr(out, "  custom_objects.pet ");
    TEST_REQUIRE(pet != NULL);
    char row[512];
    snprintf(row, sizeof row, "%.*s", (int)(strchr(pet, '\n') - pet), pet);
    char key[64], table[64], table2[64], rows[16], lp[32], wm[16], p[8], f[8], k[8], cf[8];
    int n = sscanf(row, "%63s %63s %63s %15s %31s ago %15s %7s %7s %7s %7s", key, table, table2,
                   rows, lp, wm, p, f, k, cf);
    TEST_CHECK_MSG(n == 10, "row parsed (%d fields): %s", n, row);
    if (n == 10) {
        TEST_EQ_STR(rows, "3");
        TEST_EQ_STR(p, "3");
        TEST_EQ_STR(f, "2");
        TEST_EQ_STR(k, "1");
        TEST_EQ_STR(cf, "2");
        TEST_CHECK_MSG(wm[0] == '1' && strchr(wm, 'm'), "watermark age ~10m: %s", wm);
    }
    /* error texts stay on one line */
    TEST_CHECK(strstr(out, "    last error: timeout\n"));
    TEST_CHECK(strstr(out, "2 failed and 1 parked change(s): see `ghlsync errors`"));
    free(out);
    PQfinish(c);
    unlink(cfg_path);
}

static void missing_schema_is_explained(void)
{
    char ci[512];
    PGconn *c = tpg_fresh_db("status_empty", ci, sizeof ci);
    TEST_REQUIRE(c != NULL);
    TEST_REQUIRE(write_config(ci));
    char *out = NULL;
    const char *args[] = {"status", "2>&1", NULL};
    TEST_EQ_INT(run_ghlsync(args, &out), 1);
    TEST_CHECK_MSG(out && strstr(out, "no ghlsync schema") && strstr(out, "HINT"), "%s", out);
    free(out);
    const char *bad[] = {"status", "--nope", "2>&1", NULL};
    TEST_EQ_INT(run_ghlsync(bad, &out), 2);
    free(out);
    PQfinish(c);
    unlink(cfg_path);
}

int main(void)
{
    if (!tpg_available()) {
        test_skip("status", "no PostgreSQL (run through tests/run.sh)");
        return test_done();
    }
    TEST_RUN(json_report);
    TEST_RUN(text_report);
    TEST_RUN(missing_schema_is_explained);
    return test_done();
}
