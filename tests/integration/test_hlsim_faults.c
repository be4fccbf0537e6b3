/*
 * test_hlsim_faults.c - rate limits (burst window, daily quota, headers, 429), OAuth refresh
 * rotation and token expiry, every injectable fault and its targeting, the search switches and
 * the background "another user".
 */
#include "test.h"
#include "thttp.h"
#include "tsim.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static tsim S;

static long ms_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* A search request as location loc with raw response (headers too). */
static int raw_search(int loc, const char *extra, long timeout_ms, thttp_resp *r)
{
    char url[300], auth[300], body[1024];
    snprintf(url, sizeof url, "%s/objects/custom_objects.pet/records/search", S.base_url);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", S.loc[loc].token);
    snprintf(body, sizeof body, "{\"locationId\":\"%s\",\"pageLimit\":20%s%s}", S.loc[loc].id,
             extra && *extra ? "," : "", extra ? extra : "");
    const char *h[] = {auth, "Version: 2021-07-28", "Content-Type: application/json", NULL};
    return thttp_do_timeout("POST", url, h, body, timeout_ms, r);
}

static long search_status(int loc, const char *extra)
{
    thttp_resp r;
    long st = raw_search(loc, extra, 30000, &r) == 0 ? r.status : -1;
    thttp_resp_free(&r);
    return st;
}

static void admin_ok(const char *method, const char *path, const char *body)
{
    char *resp = NULL;
    long st = tsim_admin(&S, method, path, body, &resp);
    TEST_CHECK_MSG(st >= 200 && st < 300, "admin %s %s -> %ld %s", method, path, st,
                   resp ? resp : "");
    free(resp);
}

static long hdr_long(const thttp_resp *r, const char *name)
{
    char buf[64];
    return thttp_header(r, name, buf, sizeof buf) ? atol(buf) : -999;
}

static void burst_limit(void)
{
    /* A 3 s window: 25 requests fit in it on any machine, so the count below does not depend
     * on how fast this one is. */
    admin_ok("PUT", "/_admin/ratelimit", "{\"burst\":20,\"windowMs\":3000,\"daily\":0}");
    int ok = 0, limited = 0;
    long last_rem = -1;
    for (int i = 0; i < 25; i++) {
        thttp_resp r;
        TEST_REQUIRE(raw_search(0, NULL, 30000, &r) == 0);
        TEST_EQ_INT(hdr_long(&r, "X-RateLimit-Max"), 20);
        TEST_EQ_INT(hdr_long(&r, "X-RateLimit-Interval-Milliseconds"), 3000);
        TEST_CHECK(hdr_long(&r, "X-RateLimit-Limit-Daily") > 0);
        TEST_CHECK(hdr_long(&r, "X-RateLimit-Daily-Remaining") > 0);
        if (r.status == 200) {
            ok++;
            long rem = hdr_long(&r, "X-RateLimit-Remaining");
            TEST_CHECK(last_rem < 0 || rem == last_rem - 1);
            last_rem = rem;
        } else if (r.status == 429) {
            limited++;
            TEST_CHECK(hdr_long(&r, "Retry-After") >= 1);
            TEST_EQ_INT(hdr_long(&r, "X-RateLimit-Remaining"), 0);
            cJSON *j = cJSON_Parse(r.body);
            TEST_EQ_INT(cJSON_GetObjectItem(j, "statusCode")->valueint, 429);
            TEST_EQ_STR(cJSON_GetStringValue(cJSON_GetObjectItem(j, "message")),
                        "Too Many Requests");
            cJSON_Delete(j);
        }
        thttp_resp_free(&r);
    }
    TEST_CHECK_MSG(ok == 20 && limited == 5, "ok=%d limited=%d", ok, limited);
    /* the other location has its own window */
    TEST_EQ_INT(search_status(1, NULL), 200);
    usleep(3100 * 1000); /* the rolling window has passed: allowed again */
    TEST_EQ_INT(search_status(0, NULL), 200);
    char *resp = NULL;
    tsim_admin(&S, "GET", "/_admin/counters", NULL, &resp);
    cJSON *j = cJSON_Parse(resp);
    free(resp);
    TEST_CHECK(cJSON_GetObjectItem(j, "served429")->valueint >= limited);
    cJSON_Delete(j);
}

static void daily_limit(void)
{
    admin_ok("PUT", "/_admin/ratelimit", "{\"burst\":0,\"daily\":5}");
    for (int i = 0; i < 5; i++)
        TEST_EQ_INT(search_status(0, NULL), 200);
    thttp_resp r;
    TEST_REQUIRE(raw_search(0, NULL, 30000, &r) == 0);
    TEST_EQ_INT(r.status, 429);
    TEST_EQ_INT(hdr_long(&r, "X-RateLimit-Daily-Remaining"), 0);
    TEST_EQ_INT(hdr_long(&r, "X-RateLimit-Limit-Daily"), 5);
    TEST_CHECK(hdr_long(&r, "Retry-After") >= 1);
    thttp_resp_free(&r);
    TEST_EQ_INT(search_status(0, NULL), 429);
    char *resp = NULL;
    tsim_admin(&S, "GET", "/_admin/counters", NULL, &resp);
    cJSON *j = cJSON_Parse(resp);
    free(resp);
    /* the two 429s counted against the day too */
    cJSON *rl = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "rateLimit"), S.loc[0].id);
    TEST_EQ_INT(cJSON_GetObjectItem(rl, "dailyUsed")->valueint, 7);
    cJSON_Delete(j);
    admin_ok("PUT", "/_admin/ratelimit", "{\"burst\":0,\"daily\":0}");
    TEST_EQ_INT(search_status(0, NULL), 200);
}

static long oauth(const char *form, cJSON **out)
{
    char url[200];
    snprintf(url, sizeof url, "%s/oauth/token", S.base_url);
    const char *h[] = {"Content-Type: application/x-www-form-urlencoded",
                       "Accept: application/json", NULL};
    thttp_resp r;
    *out = NULL;
    if (thttp_do("POST", url, h, form, &r) != 0)
        return -1;
    *out = r.body ? cJSON_Parse(r.body) : NULL;
    long st = r.status;
    thttp_resp_free(&r);
    return st;
}

static void oauth_rotation(void)
{
    char form[600];
    char old_refresh[256], old_access[256];
    snprintf(old_refresh, sizeof old_refresh, "%s", S.loc[1].refresh);
    snprintf(old_access, sizeof old_access, "%s", S.loc[1].token);
    snprintf(form, sizeof form,
             "client_id=hlsim-client&client_secret=hlsim-secret&grant_type=refresh_token&"
             "refresh_token=%s&user_type=Location",
             old_refresh);
    cJSON *j;
    TEST_EQ_INT(oauth(form, &j), 200);
    const char *at = cJSON_GetStringValue(cJSON_GetObjectItem(j, "access_token"));
    const char *rt = cJSON_GetStringValue(cJSON_GetObjectItem(j, "refresh_token"));
    TEST_REQUIRE(at && rt);
    TEST_CHECK(strcmp(rt, old_refresh) != 0);
    TEST_EQ_STR(cJSON_GetStringValue(cJSON_GetObjectItem(j, "token_type")), "Bearer");
    TEST_EQ_STR(cJSON_GetStringValue(cJSON_GetObjectItem(j, "locationId")), S.loc[1].id);
    TEST_CHECK(cJSON_GetObjectItem(j, "expires_in")->valueint > 0);
    TEST_CHECK(cJSON_GetObjectItem(j, "traceId") != NULL);
    snprintf(S.loc[1].token, sizeof S.loc[1].token, "%s", at);
    snprintf(S.loc[1].refresh, sizeof S.loc[1].refresh, "%s", rt);
    cJSON_Delete(j);
    TEST_EQ_INT(search_status(1, NULL), 200);
    /* the used refresh token is dead */
    TEST_EQ_INT(oauth(form, &j), 400);
    TEST_EQ_STR(cJSON_GetStringValue(cJSON_GetObjectItem(j, "error")), "invalid_grant");
    cJSON_Delete(j);
    /* wrong client, missing fields, other grant */
    snprintf(form, sizeof form,
             "client_id=x&client_secret=y&grant_type=refresh_token&refresh_token=%s",
             S.loc[1].refresh);
    TEST_EQ_INT(oauth(form, &j), 401);
    cJSON_Delete(j);
    TEST_EQ_INT(oauth("grant_type=refresh_token", &j), 400);
    cJSON_Delete(j);
    TEST_EQ_INT(oauth("client_id=hlsim-client&client_secret=hlsim-secret&grant_type=authorization_"
                      "code&code=x",
                      &j),
                400);
    cJSON_Delete(j);

    /* expire the tokens early: 401 until refreshed */
    char path[200];
    snprintf(path, sizeof path, "/_admin/tokens/expire?locationId=%s", S.loc[1].id);
    admin_ok("POST", path, NULL);
    thttp_resp r;
    TEST_REQUIRE(raw_search(1, NULL, 30000, &r) == 0);
    TEST_EQ_INT(r.status, 401);
    j = cJSON_Parse(r.body);
    TEST_EQ_STR(cJSON_GetStringValue(cJSON_GetObjectItem(j, "message")),
                "Invalid token: access token is invalid");
    cJSON_Delete(j);
    thttp_resp_free(&r);
    snprintf(form, sizeof form,
             "client_id=hlsim-client&client_secret=hlsim-secret&grant_type=refresh_token&"
             "refresh_token=%s",
             S.loc[1].refresh);
    TEST_EQ_INT(oauth(form, &j), 200);
    snprintf(S.loc[1].token, sizeof S.loc[1].token, "%s",
             cJSON_GetStringValue(cJSON_GetObjectItem(j, "access_token")));
    snprintf(S.loc[1].refresh, sizeof S.loc[1].refresh, "%s",
             cJSON_GetStringValue(cJSON_GetObjectItem(j, "refresh_token")));
    cJSON_Delete(j);
    TEST_EQ_INT(search_status(1, NULL), 200);
    (void)old_access;
}

static void fault(const char *json)
{
    admin_ok("DELETE", "/_admin/faults", NULL);
    admin_ok("POST", "/_admin/faults", json);
}

static int pet_total(int loc)
{
    thttp_resp r;
    int t = -1;
    if (raw_search(loc, NULL, 30000, &r) == 0 && r.status == 200) {
        cJSON *j = cJSON_Parse(r.body);
        t = cJSON_GetObjectItem(j, "total")->valueint;
        cJSON_Delete(j);
    }
    thttp_resp_free(&r);
    return t;
}

static void faults_errors(void)
{
    fault("{\"kind\":\"error\",\"status\":503,\"count\":1,\"path\":\"/records/search\"}");
    thttp_resp r;
    TEST_REQUIRE(raw_search(0, NULL, 30000, &r) == 0);
    TEST_EQ_INT(r.status, 503);
    TEST_CHECK(hdr_long(&r, "X-RateLimit-Max") != -999);
    thttp_resp_free(&r);
    TEST_EQ_INT(search_status(0, NULL), 200);
    fault("{\"kind\":\"error\",\"status\":502,\"count\":1}");
    TEST_REQUIRE(raw_search(0, NULL, 30000, &r) == 0);
    TEST_EQ_INT(r.status, 502);
    char ct[100];
    TEST_CHECK(thttp_header(&r, "Content-Type", ct, sizeof ct) && strstr(ct, "text/html"));
    thttp_resp_free(&r);
    /* a rate: with rate 1 every request fails, with count 3 only three */
    fault("{\"kind\":\"error\",\"rate\":1,\"count\":3}");
    int fails = 0;
    for (int i = 0; i < 5; i++)
        fails += search_status(0, NULL) >= 500;
    TEST_EQ_INT(fails, 3);
    /* 429 storm */
    fault("{\"kind\":\"rate429\",\"count\":2}");
    TEST_REQUIRE(raw_search(0, NULL, 30000, &r) == 0);
    TEST_EQ_INT(r.status, 429);
    TEST_CHECK(hdr_long(&r, "Retry-After") >= 1);
    thttp_resp_free(&r);
    TEST_EQ_INT(search_status(0, NULL), 429);
    TEST_EQ_INT(search_status(0, NULL), 200);
}

static void faults_transport(void)
{
    thttp_resp r;
    fault("{\"kind\":\"reset\",\"count\":1}");
    TEST_CHECK(raw_search(0, NULL, 30000, &r) != 0);
    thttp_resp_free(&r);
    TEST_EQ_INT(search_status(0, NULL), 200);

    /* reset after a write: the client sees an error, the record exists */
    int before = pet_total(0);
    fault("{\"kind\":\"reset_after\",\"method\":\"POST\",\"path\":\"/records\",\"count\":1}");
    char body[300];
    snprintf(body, sizeof body, "{\"locationId\":\"%s\",\"properties\":{\"name\":\"Ghost\"}}",
             S.loc[0].id);
    TEST_EQ_INT(tsim_api(&S, 0, "POST", "/objects/custom_objects.pet/records", body, NULL), -1);
    TEST_EQ_INT(pet_total(0), before + 1);

    fault("{\"kind\":\"truncate\",\"count\":1}");
    TEST_REQUIRE(raw_search(0, NULL, 30000, &r) == 0);
    TEST_EQ_INT(r.status, 200);
    cJSON *j = cJSON_Parse(r.body);
    TEST_CHECK(j == NULL);
    cJSON_Delete(j);
    thttp_resp_free(&r);

    fault("{\"kind\":\"malformed\",\"count\":1}");
    TEST_REQUIRE(raw_search(0, NULL, 30000, &r) == 0);
    TEST_EQ_INT(r.status, 200);
    j = cJSON_Parse(r.body);
    TEST_CHECK(j == NULL);
    cJSON_Delete(j);
    thttp_resp_free(&r);

    fault("{\"kind\":\"cutoff\",\"count\":1}");
    TEST_CHECK(raw_search(0, NULL, 30000, &r) != 0); /* body shorter than Content-Length */
    thttp_resp_free(&r);
    TEST_EQ_INT(search_status(0, NULL), 200);

    fault("{\"kind\":\"stall\",\"seconds\":2,\"count\":1}");
    long t0 = ms_now();
    TEST_CHECK(raw_search(0, NULL, 500, &r) != 0);
    TEST_EQ_INT(r.curl_code, 28); /* timed out: no bytes arrived */
    thttp_resp_free(&r);
    TEST_CHECK(ms_now() - t0 < 1900);

    fault("{\"kind\":\"latency\",\"ms\":300,\"jitterMs\":50,\"count\":1}");
    t0 = ms_now();
    TEST_EQ_INT(search_status(0, NULL), 200);
    TEST_CHECK(ms_now() - t0 >= 290);

    fault("{\"kind\":\"expire_token\",\"count\":1,\"locationId\":\"nobody\"}");
    TEST_EQ_INT(search_status(0, NULL), 200); /* targeted at another location */
    admin_ok("DELETE", "/_admin/faults", NULL);
}

static void faults_targeting(void)
{
    /* skip 2 matching requests, then fail exactly one */
    fault("{\"kind\":\"error\",\"status\":500,\"skip\":2,\"count\":1,\"method\":\"POST\","
          "\"path\":\"/records/search\"}");
    char path[200];
    snprintf(path, sizeof path, "/objects/?locationId=%s", S.loc[0].id);
    TEST_EQ_INT(tsim_api(&S, 0, "GET", path, NULL, NULL), 200); /* not matching */
    TEST_EQ_INT(search_status(0, NULL), 200);
    TEST_EQ_INT(search_status(0, NULL), 200);
    TEST_EQ_INT(search_status(0, NULL), 500);
    TEST_EQ_INT(search_status(0, NULL), 200);
    char *resp = NULL;
    tsim_admin(&S, "GET", "/_admin/faults", NULL, &resp);
    cJSON *j = cJSON_Parse(resp);
    free(resp);
    cJSON *f0 = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "faults"), 0);
    TEST_EQ_INT(cJSON_GetObjectItem(f0, "hits")->valueint, 1);
    TEST_EQ_INT(cJSON_GetObjectItem(f0, "count")->valueint, 0);
    cJSON_Delete(j);
    TEST_EQ_INT(tsim_admin(&S, "POST", "/_admin/faults", "{\"kind\":\"explode\"}", NULL), 422);
    admin_ok("DELETE", "/_admin/faults", NULL);
}

static void fault_flags(void)
{
    tsim t;
    const char *args[] = {"--seed-records", "2", "--fault",
                          "kind=error,status=504,count=1,path=/records/search", NULL};
    TEST_REQUIRE(tsim_start(&t, args) == 0);
    char body[200];
    snprintf(body, sizeof body, "{\"locationId\":\"%s\"}", t.loc[0].id);
    TEST_EQ_INT(tsim_api(&t, 0, "POST", "/objects/business/records/search", body, NULL), 504);
    TEST_EQ_INT(tsim_api(&t, 0, "POST", "/objects/business/records/search", body, NULL), 200);
    tsim_stop(&t);
    const char *args2[] = {"--error-rate", "1", NULL};
    TEST_REQUIRE(tsim_start(&t, args2) == 0);
    snprintf(body, sizeof body, "{\"locationId\":\"%s\"}", t.loc[0].id);
    for (int i = 0; i < 3; i++) {
        long st = tsim_api(&t, 0, "POST", "/objects/business/records/search", body, NULL);
        TEST_CHECK_MSG(st >= 500 && st <= 504, "status %ld", st);
    }
    tsim_stop(&t);
    const char *bad[] = {"--fault", "kind=nope", NULL};
    TEST_CHECK(tsim_start(&t, bad) != 0);
}

static int count_records(const char *extra, bool *has_total)
{
    thttp_resp r;
    int n = -1;
    if (raw_search(0, extra, 30000, &r) == 0 && r.status == 200) {
        cJSON *j = cJSON_Parse(r.body);
        n = cJSON_GetArraySize(cJSON_GetObjectItem(j, "records"));
        *has_total = cJSON_GetObjectItem(j, "total") != NULL;
        cJSON_Delete(j);
    } else if (r.status == 422) {
        n = -422;
    }
    thttp_resp_free(&r);
    return n;
}

static void switches(void)
{
    const char *filt = "\"filters\":[{\"field\":\"properties.name\",\"operator\":\"eq\",\"value\":"
                       "\"no such name\"}]";
    bool has_total = false;
    TEST_EQ_INT(count_records(filt, &has_total), 0);
    admin_ok("PUT", "/_admin/switches", "{\"filters\":\"ignore\"}");
    TEST_EQ_INT(count_records(filt, &has_total), 20);
    admin_ok("PUT", "/_admin/switches", "{\"filters\":\"reject\"}");
    TEST_EQ_INT(count_records(filt, &has_total), -422);
    admin_ok("PUT", "/_admin/switches", "{\"filters\":\"on\",\"pageCap\":7,\"omitTotal\":true}");
    TEST_EQ_INT(count_records(NULL, &has_total), 7);
    TEST_CHECK(!has_total);
    admin_ok("PUT", "/_admin/switches", "{\"pageCap\":0,\"omitTotal\":false,\"sort\":false}");
    thttp_resp r;
    TEST_REQUIRE(raw_search(0, "\"sort\":[{\"field\":\"createdAt\",\"direction\":\"desc\"}]", 30000,
                            &r) == 0);
    cJSON *j = cJSON_Parse(r.body);
    cJSON *recs = cJSON_GetObjectItem(j, "records");
    double a =
        cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetArrayItem(recs, 0), "searchAfter"), 0)
            ->valuedouble;
    double b =
        cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetArrayItem(recs, 1), "searchAfter"), 0)
            ->valuedouble;
    TEST_CHECK(a <= b); /* sort ignored: ascending createdAt */
    TEST_CHECK(cJSON_GetObjectItem(j, "total") != NULL);
    cJSON_Delete(j);
    thttp_resp_free(&r);
    admin_ok("PUT", "/_admin/switches", "{\"sort\":true}");
    TEST_REQUIRE(raw_search(0, "\"sort\":[{\"field\":\"createdAt\",\"direction\":\"desc\"}]", 30000,
                            &r) == 0);
    j = cJSON_Parse(r.body);
    recs = cJSON_GetObjectItem(j, "records");
    a = cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetArrayItem(recs, 0), "searchAfter"), 0)
            ->valuedouble;
    b = cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetArrayItem(recs, 1), "searchAfter"), 0)
            ->valuedouble;
    TEST_CHECK(a >= b);
    cJSON_Delete(j);
    thttp_resp_free(&r);
    TEST_EQ_INT(tsim_admin(&S, "PUT", "/_admin/switches", "{\"filters\":\"maybe\"}", NULL), 422);
}

static void another_user(void)
{
    admin_ok("POST", "/_admin/counters/reset", NULL);
    char body[300];
    snprintf(body, sizeof body,
             "{\"rate\":200,\"locationId\":\"%s\",\"objectKey\":\"custom_objects.pet\"}",
             S.loc[0].id);
    admin_ok("PUT", "/_admin/another-user", body);
    usleep(500 * 1000);
    admin_ok("PUT", "/_admin/another-user", "{\"rate\":0}");
    char *resp = NULL;
    tsim_admin(&S, "GET", "/_admin/counters", NULL, &resp);
    cJSON *j = cJSON_Parse(resp);
    free(resp);
    cJSON *w = cJSON_GetObjectItem(j, "anotherUser");
    int edits = cJSON_GetObjectItem(w, "edits")->valueint;
    int creates = cJSON_GetObjectItem(w, "creates")->valueint;
    int deletes = cJSON_GetObjectItem(w, "deletes")->valueint;
    TEST_CHECK_MSG(edits > 0 && creates > 0 && deletes > 0, "edits %d creates %d deletes %d", edits,
                   creates, deletes);
    cJSON_Delete(j);
    /* the edits are visible as WEB_USER changes, newest updatedAt last */
    thttp_resp r;
    TEST_REQUIRE(raw_search(0, "\"sort\":[{\"field\":\"updatedAt\",\"direction\":\"desc\"}]", 30000,
                            &r) == 0);
    j = cJSON_Parse(r.body);
    cJSON *r0 = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "records"), 0);
    TEST_EQ_STR(cJSON_GetStringValue(
                    cJSON_GetObjectItem(cJSON_GetObjectItem(r0, "lastUpdatedBy"), "source")),
                "WEB_USER");
    cJSON_Delete(j);
    thttp_resp_free(&r);
}

int main(void)
{
    const char *args[] = {"--seed-records", "60", NULL};
    if (tsim_start(&S, args) != 0) {
        test_report("hlsim starts", false, "see # lines");
        return test_done();
    }
    TEST_RUN(burst_limit);
    TEST_RUN(daily_limit);
    TEST_RUN(oauth_rotation);
    TEST_RUN(faults_errors);
    TEST_RUN(faults_transport);
    TEST_RUN(faults_targeting);
    TEST_RUN(switches);
    TEST_RUN(another_user);
    tsim_stop(&S);
    TEST_RUN(fault_flags);
    return test_done();
}
