/* A value binary COPY does not take (copybin.h) sends its group of pages to the upsert, which
 * stores it as the type's input function reads it, and COPY goes on with the next group. The
 * simulator only serves canonical values, so this runs against a fake HighLevel of its own
 * (tests/support/tfake.h): one object, gadget, 2,500 records in pages of 100; record 1500's
 * weight is the numeric string "1e2000", which numeric takes and copybin refuses (exponents
 * past 1,000). Pages 1-10 are a COPY group; pages 11-15 gather into the next one, page 16 (the
 * odd record) cannot join it and ends it, so those 600 records go by the upsert; pages 17-25
 * are a COPY group again: 1,900 records by binary COPY.
 * Values no column can hold do not stop the flow either: record 7's DATE field is 2024-02-30
 * and record 9's createdAt is on that day too; both are stored as NULL with a warning
 * (PostgreSQL would refuse the whole write), and every other record lands. */
#include "sbuf.h"
#include "test.h"
#include "tfake.h"
#include "tpg.h"
#include "tpull.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LOC     "refusedLoc0000000001"
#define TOKEN   "tok-refused-0001"
#define N       2500
#define ODD     1500
#define OBJ_KEY "custom_objects.gadget"

static void object_json(sbuf *b)
{
    sbuf_puts(b, "{\"id\":\"obj-gadget\",\"standard\":false,\"key\":\"" OBJ_KEY "\",\"labels\":"
                 "{\"singular\":\"Gadget\",\"plural\":\"Gadgets\"},\"locationId\":\"" LOC "\","
                 "\"type\":\"USER_DEFINED\"}");
}

static void field_json(sbuf *b, const char *name, const char *type)
{
    sbuf_printf(b,
                "{\"id\":\"f-%s\",\"name\":\"%s\",\"locationId\":\"" LOC
                "\",\"objectKey\":\"" OBJ_KEY "\",\"dataType\":\"%s\",\"fieldKey\":\"" OBJ_KEY
                ".%s\",\"standard\":false}",
                name, name, type, name);
}

static void record_json(sbuf *b, int i)
{
    long long ms = 1704067200000LL + i * 1000LL;
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    char iso[40], weight[32];
    gmtime_r(&s, &tm);
    strftime(iso, sizeof iso, "%Y-%m-%dT%H:%M:%S.000Z", &tm);
    if (i == ODD)
        snprintf(weight, sizeof weight, "\"1e2000\"");
    else
        snprintf(weight, sizeof weight, "%d.5", i);
    char created[40];
    snprintf(created, sizeof created, "%s", i == 9 ? "2024-02-30T10:00:00.000Z" : iso);
    sbuf_printf(
        b,
        "{\"id\":\"g%04d\",\"owner\":[],\"followers\":[],\"properties\":{\"name\":"
        "\"Gadget %d\",\"weight\":%s,\"born\":\"%s\"},\"createdAt\":\"%s\",\"updatedAt\":\"%s\","
        "\"locationId\":\"" LOC "\",\"searchAfter\":[%lld,\"g%04d\"],\"relations\":[]}",
        i, i, weight, i == 7 ? "2024-02-30" : "2024-02-28", created, iso, ms, i);
}

static void handler(const tfake_req *rq, tfake_resp *rs, void *ud)
{
    (void)ud;
    sbuf b = SBUF_INIT;
    if (!strcmp(rq->method, "GET") && !strncmp(rq->target, "/objects/?", 10)) {
        sbuf_puts(&b, "{\"objects\":[");
        object_json(&b);
        sbuf_puts(&b, "],\"traceId\":\"t\"}");
    } else if (!strcmp(rq->method, "GET") && !strncmp(rq->target, "/objects/" OBJ_KEY "?", 31)) {
        sbuf_puts(&b, "{\"object\":");
        object_json(&b);
        sbuf_puts(&b, ",\"cache\":false,\"fields\":[");
        field_json(&b, "name", "TEXT");
        sbuf_putc(&b, ',');
        field_json(&b, "weight", "NUMERICAL");
        sbuf_putc(&b, ',');
        field_json(&b, "born", "DATE");
        sbuf_puts(&b, "]}");
    } else if (!strcmp(rq->method, "POST") &&
               strstr(rq->target, "/objects/" OBJ_KEY "/records/search")) {
        cJSON *j = cJSON_Parse(rq->body);
        int limit = (int)cJSON_GetNumberValue(cJSON_GetObjectItem(j, "pageLimit"));
        if (limit <= 0 || limit > 100)
            limit = 100;
        const cJSON *sa = cJSON_GetObjectItem(j, "searchAfter");
        long long after = cJSON_IsArray(sa) && cJSON_GetArraySize(sa) > 0
                              ? (long long)cJSON_GetNumberValue(cJSON_GetArrayItem(sa, 0))
                              : 0;
        cJSON_Delete(j);
        sbuf_puts(&b, "{\"records\":[");
        for (int i = 0, out = 0; i < N && out < limit; i++) {
            if (after && 1704067200000LL + i * 1000LL <= after)
                continue;
            if (out++)
                sbuf_putc(&b, ',');
            record_json(&b, i);
        }
        sbuf_printf(&b, "],\"total\":%d,\"traceId\":\"t\"}", N);
    } else {
        tfake_set(rs, 404, "{\"statusCode\":404,\"message\":\"Not found\"}", 40);
        return;
    }
    rs->status = 200;
    rs->body_len = b.len;
    rs->body = sbuf_steal(&b);
}

static bool write_config(const tfake *f, const char *ci, char *cfg, size_t n)
{
    char toml[2048];
    snprintf(toml, sizeof toml,
             "[api]\nbase_url = \"%s\"\ninsecure_http = true\n\n[database]\nurl = \"%s\"\n\n"
             "[log]\nlevel = \"info\"\n\n[relations]\nenabled = false\n\n[[locations]]\nid = "
             "\"" LOC "\"\ntoken_file = \"token\"\nobjects = [\"" OBJ_KEY "\"]\n",
             f->base_url, ci);
    return tpull_write_config(TOKEN, toml, cfg, n);
}

static char *q(PGconn *c, const char *sql)
{
    char *v = tpg_scalar(c, sql);
    return v ? v : strdup("(null)");
}

static void refused_group_goes_to_the_upsert(void)
{
    tfake f;
    TEST_REQUIRE(tfake_start(&f, handler, NULL) == 0);
    char ci[512], cfg[600], log[700];
    PGconn *c = tpg_fresh_db("copybin_refused", ci, sizeof ci);
    TEST_REQUIRE(c != NULL);
    TEST_REQUIRE(write_config(&f, ci, cfg, sizeof cfg));
    snprintf(log, sizeof log, "%s.log", cfg);
    const char *bf[] = {"backfill", NULL};
    TEST_EQ_INT(tpull_run(cfg, bf, log, 120000), 0);
    char *t = tpull_slurp(log);
    /* the groups before and after the odd one went by binary COPY, COPY stayed on */
    TEST_CHECK_MSG(strstr(t, "records=2500 ") && strstr(t, "copied_binary=1900 ") &&
                       strstr(t, "copied_text=0"),
                   "%s", t);
    TEST_CHECK(strstr(t, "pull.copy_off") == NULL);
    TEST_CHECK_MSG(strstr(t, "pull.values_dropped") != NULL, "%s", t);
    free(t);
    char *v = q(c, "SELECT count(*) FROM ghl.gadget WHERE _deleted_at IS NULL");
    TEST_EQ_STR(v, "2500");
    free(v);
    /* the odd value as numeric reads it; its neighbours as they were sent */
    v = q(c, "SELECT weight = 1e2000::numeric FROM ghl.gadget WHERE id = 'g1500'");
    TEST_EQ_STR(v, "t");
    free(v);
    v = q(c, "SELECT count(*) FROM ghl.gadget WHERE id <> 'g1500' AND weight = "
             "(substr(id, 2)::integer + 0.5)::numeric AND name = 'Gadget ' || "
             "substr(id, 2)::integer");
    TEST_EQ_STR(v, "2499");
    free(v);
    v = q(c, "SELECT count(*) FILTER (WHERE born = '2024-02-28') || '/' || count(*) FILTER "
             "(WHERE id = 'g0007' AND born IS NULL) || '/' || count(*) FILTER (WHERE id = "
             "'g0009' AND created_at IS NULL) || '/' || count(*) FILTER (WHERE created_at IS NULL) "
             "FROM ghl.gadget");
    TEST_EQ_STR(v, "2499/1/1/1");
    free(v);
    v = q(c, "SELECT complete FROM ghlsync.pull_state WHERE object_key = '" OBJ_KEY "'");
    TEST_EQ_STR(v, "t");
    free(v);
    unlink(log);
    PQfinish(c);
    tfake_stop(&f);
}

int main(void)
{
    if (!tpg_available() || !getenv("GHLSYNC_BIN")) {
        test_skip("copybin_refused", "needs PostgreSQL and GHLSYNC_BIN (tests/run.sh)");
        return test_done();
    }
    TEST_RUN(refused_group_goes_to_the_upsert);
    return test_done();
}
