/* One bad record, one bad schema, one long outage: none of them may stop the flow. The real
 * binary against a hostile HighLevel of its own (tests/support/tfake.h, not the simulator) and
 * a private PostgreSQL.
 *
 *  custom_objects.pet   40 records; among them, invalid UTF-8 (p05), a lone surrogate (p07)
 *                       and a NUL (p09) inside strings: repaired (U+FFFD) and stored; a value
 *                       nested 10,000 deep (p12) and a record larger than max_response_bytes
 *                       (p20): quarantined. Every other record lands, equal.
 *  custom_objects.toy   its schema answer is nested 10,000 deep: this object fails alone.
 *  custom_objects.ball  an ordinary object: it lands although toy failed.
 *  outage               the API answers 503 to everything for a while during a backfill: the
 *                       backfill keeps retrying and ends with exit 0 and complete tables.
 */
#include "test.h"
#include "tfake.h"
#include "thttp.h"
#include "tpg.h"
#include "tpull.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define LOC       "hostileLoc0000000001"
#define TOKEN     "tok-hostile-0001"
#define N_PET     40
#define N_BALL    250
#define BIG_BYTES (160 * 1024) /* p20's notes; max_response_bytes is 64 KiB */

struct fake {
    long outage_until_ms; /* 503 for every call until then (0 = none) */
    long outage_calls;
    int outage_at_search; /* > 0: the outage starts at this ball search request */
    long outage_ms;
    int searches;
    int healed; /* p12 is served as an ordinary record (the remote record was fixed) */
};

static void sb_add(char **b, size_t *len, size_t *cap, const char *s, size_t n)
{
    if (*len + n + 1 > *cap) {
        size_t nc = (*cap ? *cap : 4096);
        while (nc < *len + n + 1)
            nc *= 2;
        *b = realloc(*b, nc);
        *cap = nc;
    }
    memcpy(*b + *len, s, n);
    *len += n;
    (*b)[*len] = 0;
}
#define ADD(s) sb_add(&body, &len, &cap, (s), strlen(s))

static void deep(char **b, size_t *len, size_t *cap, size_t depth)
{
    for (size_t i = 0; i < depth; i++)
        sb_add(b, len, cap, "[", 1);
    for (size_t i = 0; i < depth; i++)
        sb_add(b, len, cap, "]", 1);
}

/* The text of pet record i's name as served (raw bytes). */
static const char *pet_name(int i, char *buf, size_t n)
{
    if (i == 5)
        snprintf(buf, n, "Rex \xFF bad byte");
    else if (i == 7)
        snprintf(buf, n, "Lone \\ud800 surrogate");
    else if (i == 9)
        snprintf(buf, n, "Nul\\u0000inside");
    else
        snprintf(buf, n, "Pet %02d", i);
    return buf;
}

static void add_record(char **b, size_t *len, size_t *cap, const char *obj, int i, bool healed)
{
    char t[600], name[64];
    long ms = 1704067200000L + i * 1000L;
    char iso[40];
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    strftime(iso, sizeof iso, "%Y-%m-%dT%H:%M:%S.000Z", &tm);
    const char *prefix = obj[15] == 'p' ? "p" : "b";
    snprintf(t, sizeof t,
             "{\"id\":\"%s%02d\",\"owner\":[],\"followers\":[],\"properties\":{\"name\":\"%s\"",
             prefix, i, strcmp(prefix, "p") == 0 ? pet_name(i, name, sizeof name) : "ball");
    sb_add(b, len, cap, t, strlen(t));
    if (strcmp(prefix, "p") == 0 && i == 12 && !healed) {
        sb_add(b, len, cap, ",\"notes\":", 9);
        deep(b, len, cap, 10000);
    } else if (strcmp(prefix, "p") == 0 && i == 20) {
        sb_add(b, len, cap, ",\"notes\":\"", 10);
        char *big = malloc(BIG_BYTES);
        memset(big, 'x', BIG_BYTES);
        sb_add(b, len, cap, big, BIG_BYTES);
        free(big);
        sb_add(b, len, cap, "\"", 1);
    } else {
        snprintf(t, sizeof t, ",\"notes\":\"note %d\"", i);
        sb_add(b, len, cap, t, strlen(t));
    }
    snprintf(t, sizeof t,
             "},\"createdAt\":\"%s\",\"updatedAt\":\"%s\",\"locationId\":\"" LOC "\","
             "\"searchAfter\":[%ld,\"%s%02d\"],\"relations\":[]}",
             iso, iso, ms, prefix, i);
    sb_add(b, len, cap, t, strlen(t));
}

static const char *object_json(const char *key, char *buf, size_t n)
{
    snprintf(buf, n,
             "{\"id\":\"obj-%s\",\"standard\":false,\"key\":\"%s\",\"labels\":{\"singular\":\"X\","
             "\"plural\":\"Xs\"},\"locationId\":\"" LOC "\",\"type\":\"USER_DEFINED\"}",
             key + 15, key);
    return buf;
}

static void handler(const tfake_req *rq, tfake_resp *rs, void *ud)
{
    struct fake *F = ud;
    char *body = NULL;
    size_t len = 0, cap = 0;
    if (F->outage_at_search && strstr(rq->target, "custom_objects.ball/records/search") &&
        ++F->searches == F->outage_at_search)
        F->outage_until_ms = tpull_now_ms() + F->outage_ms;
    if (F->outage_until_ms && tpull_now_ms() < F->outage_until_ms) {
        __atomic_add_fetch(&F->outage_calls, 1, __ATOMIC_RELAXED);
        tfake_set(rs, 503, "{\"statusCode\":503,\"message\":\"Service Unavailable\"}", 48);
        return;
    }
    const char *objs[] = {"custom_objects.pet", "custom_objects.toy", "custom_objects.ball"};
    char buf[512];
    if (strcmp(rq->method, "GET") == 0 && strncmp(rq->target, "/objects/?", 10) == 0) {
        ADD("{\"objects\":[");
        for (int i = 0; i < 3; i++) {
            if (i)
                ADD(",");
            ADD(object_json(objs[i], buf, sizeof buf));
        }
        ADD("],\"traceId\":\"t\"}");
        rs->status = 200;
    } else if (strcmp(rq->method, "GET") == 0 &&
               strncmp(rq->target, "/objects/custom_objects.", 24) == 0 &&
               !strstr(rq->target, "/records")) {
        const char *k = rq->target + 9;
        size_t kl = strcspn(k, "?");
        char key[64];
        snprintf(key, sizeof key, "%.*s", (int)kl, k);
        ADD("{\"object\":");
        ADD(object_json(key, buf, sizeof buf));
        ADD(",\"cache\":false,\"fields\":[");
        if (strcmp(key, "custom_objects.toy") == 0) {
            /* the whole schema answer is unreadable: nested 10,000 deep */
            ADD("{\"id\":\"f1\",\"extra\":");
            deep(&body, &len, &cap, 10000);
            ADD("}");
        } else {
            const char *names[] = {"name", "notes"}, *types[] = {"TEXT", "LARGE_TEXT"};
            for (int i = 0; i < 2; i++) {
                snprintf(buf, sizeof buf,
                         "%s{\"id\":\"%s-%s\",\"name\":\"%s\",\"locationId\":\"" LOC "\","
                         "\"objectKey\":\"%s\",\"dataType\":\"%s\",\"fieldKey\":\"%s.%s\","
                         "\"standard\":false}",
                         i ? "," : "", key + 15, names[i], names[i], key, types[i], key, names[i]);
                ADD(buf);
            }
        }
        ADD("]}");
        rs->status = 200;
    } else if (strcmp(rq->method, "POST") == 0 && strstr(rq->target, "/records/search")) {
        bool pet = strstr(rq->target, "custom_objects.pet") != NULL;
        bool ball = strstr(rq->target, "custom_objects.ball") != NULL;
        if (!pet && !ball) {
            tfake_set(rs, 404, "{\"statusCode\":404,\"message\":\"Not found\"}", 40);
            return;
        }
        cJSON *j = cJSON_Parse(rq->body);
        int limit = (int)cJSON_GetNumberValue(cJSON_GetObjectItem(j, "pageLimit"));
        if (limit <= 0 || limit > 100)
            limit = 100;
        const cJSON *sa = cJSON_GetObjectItem(j, "searchAfter");
        long after = cJSON_IsArray(sa) && cJSON_GetArraySize(sa) > 0
                         ? (long)cJSON_GetNumberValue(cJSON_GetArrayItem(sa, 0))
                         : 0;
        cJSON_Delete(j);
        int n = pet ? N_PET : N_BALL, out = 0;
        ADD("{\"records\":[");
        for (int i = 0; i < n && out < limit; i++) {
            long ms = 1704067200000L + i * 1000L;
            if (after && ms <= after)
                continue;
            if (out++)
                ADD(",");
            add_record(&body, &len, &cap, pet ? "custom_objects.pet" : "custom_objects.ball", i,
                       __atomic_load_n(&F->healed, __ATOMIC_ACQUIRE) != 0);
        }
        snprintf(buf, sizeof buf, "],\"total\":%d,\"traceId\":\"t\"}", n);
        ADD(buf);
        rs->status = 200;
    } else {
        tfake_set(rs, 404, "{\"statusCode\":404,\"message\":\"Not found\"}", 40);
        return;
    }
    rs->body = body;
    rs->body_len = len;
}

static bool write_config(const tfake *f, const char *ci, const char *extra, char *cfg, size_t n)
{
    char toml[4096];
    int len = snprintf(toml, sizeof toml,
                       "[api]\nbase_url = \"%s\"\ninsecure_http = true\nrequest_timeout = \"10s\"\n"
                       "max_response_bytes = 65536\n\n[database]\nurl = \"%s\"\n\n[log]\nlevel = "
                       "\"info\"\n\n%s\n[[locations]]\nid = \"" LOC "\"\ntoken_file = \"token\"\n"
                       "objects = [\"*\"]\n",
                       f->base_url, ci, extra ? extra : "");
    return len > 0 && (size_t)len < sizeof toml && tpull_write_config(TOKEN, toml, cfg, n);
}

static char *q(PGconn *c, const char *sql)
{
    char *v = tpg_scalar(c, sql);
    return v ? v : strdup("(null)");
}

static void poison_records_are_quarantined_not_fatal(void)
{
    struct fake F = {0};
    tfake f;
    TEST_REQUIRE(tfake_start(&f, handler, &F) == 0);
    char ci[512], cfg[600];
    PGconn *c = tpg_fresh_db("poison", ci, sizeof ci);
    TEST_REQUIRE(c != NULL);
    TEST_REQUIRE(write_config(&f, ci, NULL, cfg, sizeof cfg));
    const char *bf[] = {"backfill", NULL};
    int rc = tpull_run(cfg, bf, NULL, 120000);
    /* toy's schema is unreadable, so the run is incomplete (exit 1) but everything else lands */
    TEST_EQ_INT(rc, 1);
    char *v = q(c, "SELECT count(*) FROM ghl.pet");
    TEST_EQ_STR(v, "38"); /* 40 less the two quarantined */
    free(v);
    v = q(c, "SELECT count(*) FROM ghl.ball");
    TEST_EQ_STR(v, "250");
    free(v);
    v = q(c,
          "SELECT count(*) FROM ghl.pet WHERE id ~ '^p[0-9]+$' AND id NOT IN ('p05','p07','p09') "
          "AND name = 'Pet ' || substr(id, 2) AND notes = 'note ' || (substr(id, 2)::int)");
    TEST_EQ_STR(v, "35");
    free(v);
    v = q(c, "SELECT name FROM ghl.pet WHERE id = 'p05'");
    TEST_EQ_STR(v, "Rex \xEF\xBF\xBD bad byte");
    free(v);
    v = q(c, "SELECT name FROM ghl.pet WHERE id = 'p07'");
    TEST_EQ_STR(v, "Lone \xEF\xBF\xBD surrogate");
    free(v);
    v = q(c, "SELECT name FROM ghl.pet WHERE id = 'p09'");
    TEST_EQ_STR(v, "Nul\xEF\xBF\xBDinside");
    free(v);
    v = q(c, "SELECT string_agg(record_id, ',' ORDER BY record_id) FROM ghlsync.quarantine "
             "WHERE object_key = 'custom_objects.pet' AND resolved_at IS NULL");
    TEST_EQ_STR(v, "p12,p20");
    free(v);
    v = q(c, "SELECT count(*) FROM ghlsync.quarantine WHERE record_id = 'p12' AND reason ~* 'nest' "
             "AND position('\\x5b5b5b'::bytea in raw) > 0");
    TEST_EQ_STR(v, "1");
    free(v);
    v = q(c, "SELECT count(*) FROM ghlsync.quarantine WHERE record_id = 'p20' "
             "AND reason ~* 'max_response_bytes'");
    TEST_EQ_STR(v, "1");
    free(v);
    v = q(c, "SELECT quarantined FROM ghlsync.status WHERE object_key = 'custom_objects.pet'");
    TEST_EQ_STR(v, "2");
    free(v);
    v = q(c, "SELECT count(*) FROM ghlsync.pull_state WHERE last_error ~ 'schema of "
             "custom_objects.toy' AND object_key = 'custom_objects.toy'");
    TEST_EQ_STR(v, "1");
    free(v);
    v = q(c, "SELECT count(*) FROM ghlsync.pull_state WHERE complete AND object_key IN "
             "('custom_objects.pet', 'custom_objects.ball')");
    TEST_EQ_STR(v, "2");
    free(v);
    /* a second run quarantines nothing twice and loses nothing */
    rc = tpull_run(cfg, bf, NULL, 120000);
    TEST_EQ_INT(rc, 1);
    v = q(c, "SELECT count(*) FROM ghlsync.quarantine");
    TEST_EQ_STR(v, "2");
    free(v);
    v = q(c, "SELECT times_seen FROM ghlsync.quarantine WHERE record_id = 'p12'");
    TEST_EQ_STR(v, "2");
    free(v);
    /* the remote record is fixed: the next scan stores it and resolves its quarantine row */
    __atomic_store_n(&F.healed, 1, __ATOMIC_RELEASE);
    const char *full[] = {"backfill", "--full", NULL};
    TEST_EQ_INT(tpull_run(cfg, full, NULL, 120000), 1);
    v = q(c, "SELECT notes FROM ghl.pet WHERE id = 'p12'");
    TEST_EQ_STR(v, "note 12");
    free(v);
    v = q(c, "SELECT string_agg(record_id, ',' ORDER BY record_id) FROM ghlsync.quarantine "
             "WHERE resolved_at IS NULL");
    TEST_EQ_STR(v, "p20");
    free(v);
    PQfinish(c);
    tfake_stop(&f);
}

/* The API goes away in the middle of a backfill (after the first page of ball) for 60 s, and
 * again at start-up for 20 s in a second run: both end with exit 0 and complete tables. */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *t = malloc((size_t)n + 1);
    size_t got = t ? fread(t, 1, (size_t)n, f) : 0;
    fclose(f);
    if (t)
        t[got] = 0;
    return t;
}

/* `ghlsync run` exports the open quarantine count per object. */
static void quarantine_in_metrics(void)
{
    struct fake F = {0};
    tfake f;
    TEST_REQUIRE(tfake_start(&f, handler, &F) == 0);
    char ci[512], cfg[600], log[700];
    PGconn *c = tpg_fresh_db("poison_m", ci, sizeof ci);
    TEST_REQUIRE(c != NULL);
    TEST_REQUIRE(write_config(&f, ci, "[metrics]\nlisten = \"127.0.0.1:0\"\n", cfg, sizeof cfg));
    snprintf(log, sizeof log, "%s.log", cfg);
    const char *run[] = {"run", NULL};
    pid_t pid = tpull_spawn(cfg, run, log);
    TEST_REQUIRE(pid > 0);
    int port = 0;
    for (long t0 = tpull_now_ms(); !port && tpull_now_ms() - t0 < 20000; usleep(100 * 1000)) {
        char *t = slurp(log);
        const char *p = t ? strstr(t, "metrics.listen") : NULL;
        p = p ? strstr(p, "port=") : NULL;
        if (p)
            port = atoi(p + 5);
        free(t);
    }
    TEST_REQUIRE(port > 0);
    char url[128], want[200];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/metrics", port);
    snprintf(want, sizeof want,
             "ghlsync_quarantined_records{location=\"" LOC "\",object=\"custom_objects.pet\"} 2");
    bool seen = false;
    for (long t0 = tpull_now_ms(); !seen && tpull_now_ms() - t0 < 60000; usleep(500 * 1000)) {
        thttp_resp r = {0};
        if (thttp_do_timeout("GET", url, NULL, NULL, 5000, &r) == 0 && r.body)
            seen = strstr(r.body, want) != NULL;
        thttp_resp_free(&r);
    }
    TEST_CHECK_MSG(seen, "/metrics says: %s", want);
    kill(pid, SIGTERM);
    TEST_EQ_INT(tpull_wait(pid, 10000), 0);
    PQfinish(c);
    tfake_stop(&f);
}

static void backfill_rides_out_an_outage(void)
{
    struct fake F = {.outage_at_search = 2, .outage_ms = 60000};
    tfake f;
    TEST_REQUIRE(tfake_start(&f, handler, &F) == 0);
    char ci[512], cfg[600];
    PGconn *c = tpg_fresh_db("outage", ci, sizeof ci);
    TEST_REQUIRE(c != NULL);
    TEST_REQUIRE(write_config(&f, ci, NULL, cfg, sizeof cfg));
    const char *bf[] = {"backfill", "--object", "custom_objects.ball", NULL};
    long t0 = tpull_now_ms();
    int rc = tpull_run(cfg, bf, NULL, 240000);
    TEST_EQ_INT(rc, 0);
    TEST_CHECK_MSG(tpull_now_ms() - t0 >= 60000, "the backfill outlasted the outage");
    TEST_CHECK_MSG(F.outage_calls > 3, "the backfill kept trying during the outage (%ld calls)",
                   F.outage_calls);
    char *v = q(c, "SELECT count(*) FROM ghl.ball");
    TEST_EQ_STR(v, "250");
    free(v);
    v = q(c, "SELECT count(*) FROM ghlsync.pull_state WHERE complete AND object_key = "
             "'custom_objects.ball'");
    TEST_EQ_STR(v, "1");
    free(v);
    /* at start-up: listing and schemas wait for the API too */
    F.outage_calls = 0;
    F.outage_until_ms = tpull_now_ms() + 20000;
    const char *full[] = {"backfill", "--full", "--object", "custom_objects.ball", NULL};
    TEST_EQ_INT(tpull_run(cfg, full, NULL, 240000), 0);
    TEST_CHECK(F.outage_calls > 2);
    v = q(c, "SELECT count(*) FROM ghl.ball WHERE _deleted_at IS NULL");
    TEST_EQ_STR(v, "250");
    free(v);
    PQfinish(c);
    tfake_stop(&f);
}

int main(void)
{
    if (!tpg_available() || !getenv("GHLSYNC_BIN")) {
        test_skip("poison_records_are_quarantined_not_fatal", "no PostgreSQL or binary");
        test_skip("backfill_rides_out_an_outage", "no PostgreSQL or binary");
        test_skip("quarantine_in_metrics", "no PostgreSQL or binary");
        return test_done();
    }
    TEST_RUN(poison_records_are_quarantined_not_fatal);
    TEST_RUN(quarantine_in_metrics);
    TEST_RUN(backfill_rides_out_an_outage);
    return test_done();
}
