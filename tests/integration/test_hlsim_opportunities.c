/*
 * test_hlsim_opportunities.c - the simulator's opportunities and pipelines over real HTTP:
 * CreateDto / UpdateOpportunityDto / status validation, stage-in-pipeline, both searches
 * (paging through everything by meta.startAfter/startAfterId and by searchAfter, filters, the
 * 401 switch, nextPageUrl on another host), definitions, admin edits, the other user, and the
 * state round trip.
 */
#include "test.h"
#include "thttp.h"
#include "tsim.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_OPPS 311

static tsim S;
static char PIPE0[64], PIPE1[64], STAGE0_1[64], STAGE1_0[64], CONTACT[64], LOST[64];

static cJSON *call(int loc, const char *method, const char *path, const char *body, long *status)
{
    char *resp = NULL;
    *status = tsim_api(&S, loc, method, path, body, &resp);
    cJSON *j = resp ? cJSON_Parse(resp) : NULL;
    free(resp);
    return j;
}

static cJSON *admin(const char *method, const char *path, const char *body, long *status)
{
    char *resp = NULL;
    *status = tsim_admin(&S, method, path, body, &resp);
    cJSON *j = resp ? cJSON_Parse(resp) : NULL;
    free(resp);
    return j;
}

static const char *str(const cJSON *o, const char *k)
{
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k));
}

static cJSON *get(const cJSON *o, const char *k)
{
    return cJSON_GetObjectItemCaseSensitive(o, k);
}

static void setup_ids(void)
{
    char path[300];
    long st;
    snprintf(path, sizeof path, "/opportunities/pipelines?locationId=%s", S.loc[0].id);
    cJSON *j = call(0, "GET", path, NULL, &st);
    TEST_REQUIRE(st == 200);
    cJSON *p0 = cJSON_GetArrayItem(get(j, "pipelines"), 0),
          *p1 = cJSON_GetArrayItem(get(j, "pipelines"), 1);
    TEST_REQUIRE(p0 && p1);
    snprintf(PIPE0, sizeof PIPE0, "%s", str(p0, "id"));
    snprintf(PIPE1, sizeof PIPE1, "%s", str(p1, "id"));
    snprintf(STAGE0_1, sizeof STAGE0_1, "%s", str(cJSON_GetArrayItem(get(p0, "stages"), 1), "id"));
    snprintf(STAGE1_0, sizeof STAGE1_0, "%s", str(cJSON_GetArrayItem(get(p1, "stages"), 0), "id"));
    TEST_EQ_INT(strlen(STAGE0_1), 36);
    TEST_CHECK(cJSON_IsNumber(get(cJSON_GetArrayItem(get(p0, "stages"), 1), "position")));
    cJSON_Delete(j);
    snprintf(path, sizeof path, "/opportunities/lost-reason?locationId=%s", S.loc[0].id);
    j = call(0, "GET", path, NULL, &st);
    snprintf(LOST, sizeof LOST, "%s", str(cJSON_GetArrayItem(get(j, "lostReasons"), 0), "id"));
    cJSON_Delete(j);
    char body[200];
    snprintf(body, sizeof body, "{\"locationId\":\"%s\",\"pageLimit\":1}", S.loc[0].id);
    j = call(0, "POST", "/contacts/search", body, &st);
    snprintf(CONTACT, sizeof CONTACT, "%s", str(cJSON_GetArrayItem(get(j, "contacts"), 0), "id"));
    cJSON_Delete(j);
    TEST_CHECK(LOST[0] && CONTACT[0]);
    snprintf(path, sizeof path, "/opportunities/pipelines?locationId=%s", S.loc[1].id);
    cJSON_Delete(call(0, "GET", path, NULL, &st));
    TEST_EQ_INT(st, 403);
}

static cJSON *create(const char *members, long *st)
{
    char body[4096];
    snprintf(body, sizeof body, "{\"locationId\":\"%s\"%s%s}", S.loc[0].id, members[0] ? "," : "",
             members);
    return call(0, "POST", "/opportunities/", body, st);
}

static bool has_msg(const cJSON *j, const char *needle)
{
    const cJSON *m;
    cJSON_ArrayForEach(m, get(j, "message"))
    {
        if (cJSON_IsString(m) && strstr(m->valuestring, needle))
            return true;
    }
    return cJSON_IsString(get(j, "message")) && strstr(get(j, "message")->valuestring, needle);
}

static void crud_and_status(void)
{
    long st;
    char m[1024];
    snprintf(
        m, sizeof m,
        "\"pipelineId\":\"%s\",\"name\":\"Big deal\",\"status\":\"open\",\"contactId\":\"%s\","
        "\"monetaryValue\":1200.5,\"customFields\":[{\"key\":\"probability\",\"field_value\":40}]",
        PIPE0, CONTACT);
    cJSON *j = create(m, &st);
    TEST_EQ_INT(st, 201);
    cJSON *o = get(j, "opportunity");
    TEST_REQUIRE(o && str(o, "id"));
    char id[64], path[200];
    snprintf(id, sizeof id, "%s", str(o, "id"));
    snprintf(path, sizeof path, "/opportunities/%s", id);
    TEST_EQ_STR(str(o, "pipelineId"), PIPE0);
    TEST_CHECK(str(o, "pipelineStageId") != NULL); /* the first stage */
    TEST_EQ_STR(str(get(o, "contact"), "id"), CONTACT);
    TEST_CHECK(cJSON_IsNumber(get(o, "monetaryValue")) &&
               get(o, "monetaryValue")->valuedouble == 1200.5);
    const cJSON *cf = cJSON_GetArrayItem(get(o, "customFields"), 0);
    TEST_CHECK(cf && str(cf, "id") && cJSON_IsNumber(get(cf, "fieldValue")));
    TEST_CHECK(str(o, "createdAt") && str(o, "updatedAt") && str(o, "lastStatusChangeAt"));
    cJSON_Delete(j);

    /* required fields, shapes, references */
    j = create("\"name\":\"x\"", &st);
    TEST_CHECK(st == 422 && has_msg(j, "pipelineId should not be empty") &&
               has_msg(j, "contactId should not be empty") &&
               has_msg(j, "status should not be empty"));
    cJSON_Delete(j);
    snprintf(m, sizeof m,
             "\"pipelineId\":\"%s\",\"name\":\"x\",\"status\":\"all\",\"contactId\":\"%s\"", PIPE0,
             CONTACT);
    j = create(m, &st);
    TEST_EQ_INT(st, 422);
    cJSON_Delete(j);
    snprintf(m, sizeof m,
             "\"pipelineId\":\"%s\",\"pipelineStageId\":\"%s\",\"name\":\"x\",\"status\":\"open\","
             "\"contactId\":\"%s\"",
             PIPE0, STAGE1_0, CONTACT);
    j = create(m, &st);
    TEST_CHECK(st == 400 && has_msg(j, "does not belong to pipeline"));
    cJSON_Delete(j);
    snprintf(m, sizeof m,
             "\"pipelineId\":\"%s\",\"name\":\"x\",\"status\":\"open\",\"contactId\":\"nope\"",
             PIPE0);
    j = create(m, &st);
    TEST_CHECK(st == 400 && has_msg(j, "Contact nope not found"));
    cJSON_Delete(j);
    snprintf(m, sizeof m,
             "\"pipelineId\":\"%s\",\"name\":\"x\",\"status\":\"open\",\"contactId\":\"%s\","
             "\"lostReasonId\":\"%s\"",
             PIPE0, CONTACT, LOST);
    j = create(m, &st);
    TEST_CHECK(st == 422 && has_msg(j, "property lostReasonId should not exist"));
    cJSON_Delete(j);

    /* PUT: merge; stage checked against the pipeline; a new pipeline moves to its first stage */
    snprintf(m, sizeof m, "{\"pipelineStageId\":\"%s\",\"monetaryValue\":99}", STAGE0_1);
    j = call(0, "PUT", path, m, &st);
    TEST_EQ_INT(st, 200);
    TEST_EQ_STR(str(get(j, "opportunity"), "pipelineStageId"), STAGE0_1);
    TEST_EQ_STR(str(get(j, "opportunity"), "name"), "Big deal");
    cJSON_Delete(j);
    snprintf(m, sizeof m, "{\"pipelineStageId\":\"%s\"}", STAGE1_0);
    j = call(0, "PUT", path, m, &st);
    TEST_EQ_INT(st, 400);
    cJSON_Delete(j);
    snprintf(m, sizeof m, "{\"pipelineId\":\"%s\"}", PIPE1);
    j = call(0, "PUT", path, m, &st);
    TEST_EQ_INT(st, 200);
    TEST_EQ_STR(str(get(j, "opportunity"), "pipelineStageId"), STAGE1_0);
    cJSON_Delete(j);
    j = call(0, "PUT", path, "{\"contactId\":\"x\"}", &st);
    TEST_EQ_INT(st, 422);
    cJSON_Delete(j);

    /* status: lost with a reason, then open clears it */
    char spath[240];
    snprintf(spath, sizeof spath, "%s/status", path);
    snprintf(m, sizeof m, "{\"status\":\"lost\",\"lostReasonId\":\"%s\"}", LOST);
    j = call(0, "PUT", spath, m, &st);
    TEST_EQ_INT(st, 200);
    TEST_CHECK(cJSON_IsTrue(get(j, "succeded")));
    cJSON_Delete(j);
    j = call(0, "GET", path, NULL, &st);
    TEST_EQ_STR(str(get(j, "opportunity"), "status"), "lost");
    TEST_EQ_STR(str(get(j, "opportunity"), "lostReasonId"), LOST);
    cJSON_Delete(j);
    cJSON_Delete(call(0, "PUT", spath, "{\"status\":\"lost\",\"lostReasonId\":\"nope\"}", &st));
    TEST_EQ_INT(st, 400);
    cJSON_Delete(call(0, "PUT", spath, "{\"lostReasonId\":\"x\"}", &st));
    TEST_EQ_INT(st, 422);
    cJSON_Delete(call(0, "PUT", spath, "{\"status\":\"open\"}", &st));
    TEST_EQ_INT(st, 200);
    j = call(0, "GET", path, NULL, &st);
    TEST_CHECK(cJSON_IsNull(get(get(j, "opportunity"), "lostReasonId")));
    cJSON_Delete(j);

    /* followers */
    char fpath[260];
    snprintf(fpath, sizeof fpath, "%s/followers", path);
    j = call(0, "POST", fpath, "{\"followers\":[\"u1\",\"u2\"]}", &st);
    TEST_EQ_INT(st, 201);
    TEST_EQ_INT(cJSON_GetArraySize(get(j, "followersAdded")), 2);
    cJSON_Delete(j);
    j = call(0, "DELETE", fpath, "{\"followers\":[\"u2\"]}", &st);
    TEST_EQ_INT(st, 200);
    TEST_EQ_INT(cJSON_GetArraySize(get(j, "followers")), 1);
    cJSON_Delete(j);
    snprintf(fpath, sizeof fpath, "%s/followers?isRemoveAllFollowers=true", path);
    j = call(0, "DELETE", fpath, NULL, &st);
    TEST_EQ_INT(st, 200);
    TEST_EQ_INT(cJSON_GetArraySize(get(j, "followers")), 0);
    TEST_EQ_INT(cJSON_GetArraySize(get(j, "followersRemoved")), 1);
    cJSON_Delete(j);
    j = call(0, "DELETE", path, NULL, &st);
    TEST_CHECK(st == 200 && cJSON_IsTrue(get(j, "succeded")));
    cJSON_Delete(j);
    j = call(0, "GET", path, NULL, &st);
    TEST_EQ_INT(st, 404);
    TEST_EQ_STR(str(j, "message"), "Opportunity not found");
    cJSON_Delete(j);
    cJSON_Delete(call(1, "GET", "/opportunities/pipelines", NULL, &st));
    TEST_EQ_INT(st, 422);
}

static long admin_count(const char *status, const char *stage)
{
    char path[200];
    long st, n = 0;
    snprintf(path, sizeof path, "/_admin/opportunities?locationId=%s", S.loc[0].id);
    cJSON *j = admin("GET", path, NULL, &st);
    cJSON *o;
    cJSON_ArrayForEach(o, get(j, "opportunities")) n +=
        (!status || !strcmp(str(o, "status"), status)) &&
        (!stage || !strcmp(str(o, "pipelineStageId"), stage));
    cJSON_Delete(j);
    return n;
}

/* GET search: page through everything by meta.startAfter / startAfterId */
static void get_search_paging(void)
{
    for (int asc = 0; asc < 2; asc++) {
        char after[200] = "";
        long seen = 0, total = -1;
        cJSON *ids = cJSON_CreateObject();
        bool dup = false, order = true, last_null = false, host_ok = true;
        double prev = asc ? -1 : 1e300;
        for (int page = 0; page < 200; page++) {
            char path[600];
            snprintf(path, sizeof path, "/opportunities/search?location_id=%s&limit=13%s%s",
                     S.loc[0].id, asc ? "&order=added_asc" : "", after);
            long st;
            cJSON *j = call(0, "GET", path, NULL, &st);
            TEST_REQUIRE(st == 200);
            cJSON *meta = get(j, "meta");
            total = (long)get(meta, "total")->valuedouble;
            cJSON *o;
            cJSON_ArrayForEach(o, get(j, "opportunities"))
            {
                dup |= get(ids, str(o, "id")) != NULL;
                cJSON_AddTrueToObject(ids, str(o, "id"));
                seen++;
            }
            const cJSON *sa = get(meta, "startAfter");
            if (cJSON_IsNumber(sa)) {
                order &= asc ? sa->valuedouble >= prev : sa->valuedouble <= prev;
                prev = sa->valuedouble;
            }
            const char *next = str(meta, "nextPageUrl");
            if (next)
                host_ok &= strncmp(next, "http://localhost:5066/opportunities/search?", 43) == 0 &&
                           strstr(next, "location_id=") != NULL;
            if (!next) {
                last_null = true;
                cJSON_Delete(j);
                break;
            }
            snprintf(after, sizeof after, "&startAfter=%.0f&startAfterId=%s", sa->valuedouble,
                     str(meta, "startAfterId"));
            cJSON_Delete(j);
        }
        TEST_CHECK_MSG(seen == total && total >= N_OPPS, "asc=%d seen %ld total %ld", asc, seen,
                       total);
        TEST_CHECK(!dup && order && last_null && host_ok);
        cJSON_Delete(ids);
    }
    /* filters agree with the admin dump */
    char path[600];
    long st;
    snprintf(path, sizeof path, "/opportunities/search?location_id=%s&status=open&limit=1",
             S.loc[0].id);
    cJSON *j = call(0, "GET", path, NULL, &st);
    TEST_EQ_INT((long)get(get(j, "meta"), "total")->valuedouble, admin_count("open", NULL));
    cJSON_Delete(j);
    snprintf(path, sizeof path,
             "/opportunities/search?location_id=%s&status=open&pipeline_stage_id=%s&limit=1",
             S.loc[0].id, STAGE0_1);
    j = call(0, "GET", path, NULL, &st);
    TEST_EQ_INT((long)get(get(j, "meta"), "total")->valuedouble, admin_count("open", STAGE0_1));
    cJSON_Delete(j);
    snprintf(path, sizeof path, "/opportunities/search?location_id=%s&limit=101", S.loc[0].id);
    cJSON_Delete(call(0, "GET", path, NULL, &st));
    TEST_EQ_INT(st, 422);
    j = call(0, "GET", "/opportunities/search?limit=5", NULL, &st);
    TEST_CHECK(st == 422 && has_msg(j, "location_id can't be undefined"));
    cJSON_Delete(j);
    snprintf(path, sizeof path, "/opportunities/search?location_id=%s&locationId=%s", S.loc[0].id,
             S.loc[0].id);
    cJSON_Delete(call(0, "GET", path, NULL, &st));
    TEST_EQ_INT(st, 422);
    snprintf(path, sizeof path, "/opportunities/search?location_id=%s", S.loc[1].id);
    cJSON_Delete(call(0, "GET", path, NULL, &st));
    TEST_EQ_INT(st, 403);
}

static cJSON *psearch(const char *extra, long *st)
{
    char body[4096];
    snprintf(body, sizeof body, "{\"locationId\":\"%s\"%s%s}", S.loc[0].id, extra[0] ? "," : "",
             extra);
    return call(0, "POST", "/opportunities/search", body, st);
}

static void post_search(void)
{
    long st, total = admin_count(NULL, NULL);
    char after[200] = "", extra[1024];
    long seen = 0;
    bool custom_fields_key = false, relations = false;
    for (int i = 0; i < 100; i++) {
        snprintf(extra, sizeof extra,
                 "\"limit\":40,\"sort\":[{\"field\":\"date_updated\",\"direction\":\"asc\"}]%s%s",
                 after[0] ? ",\"searchAfter\":" : "", after);
        cJSON *j = psearch(extra, &st);
        TEST_REQUIRE(st == 200);
        TEST_EQ_INT((long)get(j, "total")->valuedouble, total);
        int n = cJSON_GetArraySize(get(j, "opportunities"));
        if (!n) {
            cJSON_Delete(j);
            break;
        }
        cJSON *o;
        cJSON_ArrayForEach(o, get(j, "opportunities"))
        {
            custom_fields_key |= get(o, "custom_fields") != NULL && get(o, "customFields") == NULL;
            relations |= cJSON_GetArraySize(get(o, "relations")) == 1;
            seen++;
        }
        char *sa = cJSON_PrintUnformatted(
            get(cJSON_GetArrayItem(get(j, "opportunities"), n - 1), "searchAfter"));
        snprintf(after, sizeof after, "%s", sa);
        free(sa);
        cJSON_Delete(j);
    }
    TEST_EQ_INT(seen, total);
    TEST_CHECK(custom_fields_key && relations);
    snprintf(
        extra, sizeof extra,
        "\"limit\":1,\"filters\":[{\"field\":\"status\",\"operator\":\"eq\",\"value\":\"open\"},"
        "{\"field\":\"pipeline_stage_id\",\"operator\":\"eq\",\"value\":\"%s\"}]",
        STAGE0_1);
    cJSON *j = psearch(extra, &st);
    TEST_EQ_INT((long)get(j, "total")->valuedouble, admin_count("open", STAGE0_1));
    cJSON_Delete(j);
    j = psearch(
        "\"limit\":5,\"filters\":[{\"field\":\"date_updated\",\"operator\":\"range\",\"value\":"
        "{\"gte\":\"2030-01-01T00:00:00Z\"}}]",
        &st);
    TEST_EQ_INT((long)get(j, "total")->valuedouble, 0);
    cJSON_Delete(j);
    cJSON_Delete(psearch("\"limit\":501", &st));
    TEST_EQ_INT(st, 422);
    cJSON_Delete(psearch("\"pageLimit\":5", &st));
    TEST_EQ_INT(st, 422);
    cJSON_Delete(psearch("\"limit\":5,\"sort\":[{\"field\":\"dateUpdated\"}]", &st));
    TEST_EQ_INT(st, 422);
    cJSON_Delete(
        psearch("\"limit\":5,\"additionalDetails\":{\"notes\":true,\"tasks\":false}", &st));
    TEST_EQ_INT(st, 200);
    /* the switch: the IAM Service 401 */
    long ast;
    cJSON_Delete(admin("PUT", "/_admin/switches", "{\"oppPostSearch\":\"401\"}", &ast));
    j = psearch("\"limit\":5", &st);
    TEST_EQ_INT(st, 401);
    TEST_CHECK(has_msg(j, "This route is not yet supported by the IAM Service"));
    cJSON_Delete(j);
    cJSON_Delete(admin("PUT", "/_admin/switches", "{\"oppPostSearch\":\"on\"}", &ast));
    cJSON_Delete(psearch("\"limit\":5", &st));
    TEST_EQ_INT(st, 200);
}

static void definitions(void)
{
    char path[300];
    long st;
    snprintf(path, sizeof path, "/locations/%s/customFields?model=opportunity", S.loc[0].id);
    cJSON *j = call(0, "GET", path, NULL, &st);
    TEST_EQ_INT(st, 200);
    int n = 0;
    cJSON *f;
    cJSON_ArrayForEach(f, get(j, "customFields"))
    {
        TEST_EQ_STR(str(f, "model"), "opportunity");
        TEST_CHECK(!strncmp(str(f, "fieldKey"), "opportunity.", 12));
        n++;
    }
    TEST_CHECK(n >= 6);
    cJSON_Delete(j);
    snprintf(path, sizeof path, "/locations/%s/customFields", S.loc[0].id);
    j = call(0, "GET", path, NULL, &st);
    TEST_CHECK(cJSON_GetArraySize(get(j, "customFields")) >= n + 12); /* all = both models */
    cJSON_Delete(j);
    snprintf(path, sizeof path, "/objects/opportunity?locationId=%s&fetchProperties=true",
             S.loc[0].id);
    j = call(0, "GET", path, NULL, &st);
    int custom = 0;
    cJSON_ArrayForEach(f, get(j, "fields")) custom += cJSON_IsFalse(get(f, "standard"));
    TEST_EQ_INT(custom, n);
    cJSON_Delete(j);
}

static void admin_and_another_user(void)
{
    long st;
    char path[300], body[600];
    /* a pipeline with stages, a stage added and renamed */
    snprintf(path, sizeof path, "/_admin/pipelines?locationId=%s", S.loc[0].id);
    cJSON *p = admin("POST", path, "{\"name\":\"Renewals\",\"stages\":[\"Due\",\"Done\"]}", &st);
    TEST_EQ_INT(st, 201);
    char pid[64], sid[64];
    snprintf(pid, sizeof pid, "%s", str(get(p, "pipeline"), "id"));
    snprintf(sid, sizeof sid, "%s",
             str(cJSON_GetArrayItem(get(get(p, "pipeline"), "stages"), 1), "id"));
    cJSON_Delete(p);
    snprintf(path, sizeof path, "/_admin/pipelines/%s?locationId=%s", pid, S.loc[0].id);
    snprintf(body, sizeof body,
             "{\"addStages\":[\"Lapsed\"],\"renameStages\":{\"%s\":\"Renewed\"}}", sid);
    p = admin("PUT", path, body, &st);
    TEST_EQ_INT(st, 200);
    TEST_EQ_INT(cJSON_GetArraySize(get(get(p, "pipeline"), "stages")), 3);
    TEST_EQ_STR(str(cJSON_GetArrayItem(get(get(p, "pipeline"), "stages"), 1), "name"), "Renewed");
    cJSON_Delete(p);
    /* a web-user opportunity moved to that stage */
    snprintf(path, sizeof path, "/_admin/opportunities?locationId=%s", S.loc[0].id);
    snprintf(body, sizeof body,
             "{\"pipelineId\":\"%s\",\"name\":\"Web\",\"status\":\"open\",\"contactId\":\"%s\","
             "\"createdAt\":\"2023-01-01T00:00:00Z\",\"source\":\"web\"}",
             pid, CONTACT);
    cJSON *o = admin("POST", path, body, &st);
    TEST_EQ_INT(st, 201);
    char oid[64];
    snprintf(oid, sizeof oid, "%s", str(get(o, "opportunity"), "id"));
    TEST_EQ_STR(str(get(o, "opportunity"), "createdAt"), "2023-01-01T00:00:00.000Z");
    cJSON_Delete(o);
    snprintf(path, sizeof path, "/_admin/opportunities/%s?locationId=%s", oid, S.loc[0].id);
    snprintf(body, sizeof body, "{\"pipelineStageId\":\"%s\"}", sid);
    o = admin("PUT", path, body, &st);
    TEST_EQ_INT(st, 200);
    TEST_EQ_STR(str(get(o, "opportunity"), "pipelineStageId"), sid);
    cJSON_Delete(o);
    /* the other user moves stages, changes status and value */
    snprintf(body, sizeof body, "{\"locationId\":\"%s\",\"objectKey\":\"opportunity\"}",
             S.loc[0].id);
    cJSON_Delete(admin("PUT", "/_admin/another-user", body, &st));
    cJSON_Delete(admin("POST", "/_admin/counters/reset", NULL, &st));
    cJSON *ctr = admin("POST", "/_admin/another-user/step", "{\"n\":40}", &st);
    TEST_CHECK(get(get(ctr, "anotherUser"), "edits")->valuedouble > 20);
    cJSON_Delete(ctr);
    cJSON_Delete(
        admin("PUT", "/_admin/another-user", "{\"objectKey\":\"\",\"locationId\":\"\"}", &st));

    /* state dump -> load -> dump */
    snprintf(path, sizeof path, "/_admin/state?locationId=%s", S.loc[0].id);
    char *s1 = NULL, *s2 = NULL;
    TEST_REQUIRE(tsim_admin(&S, "GET", path, NULL, &s1) == 200);
    TEST_EQ_INT(tsim_admin(&S, "POST", "/_admin/state", s1, NULL), 200);
    TEST_REQUIRE(tsim_admin(&S, "GET", path, NULL, &s2) == 200);
    cJSON *a = cJSON_Parse(s1), *b = cJSON_Parse(s2), *x, *oa = NULL, *ob = NULL;
    cJSON_ArrayForEach(x, get(cJSON_GetArrayItem(get(a, "locations"), 0),
                              "objects")) if (!strcmp(str(get(x, "object"), "key"), "opportunity"))
        oa = x;
    cJSON_ArrayForEach(x, get(cJSON_GetArrayItem(get(b, "locations"), 0),
                              "objects")) if (!strcmp(str(get(x, "object"), "key"), "opportunity"))
        ob = x;
    TEST_REQUIRE(oa && ob);
    TEST_CHECK(cJSON_GetArraySize(get(oa, "opportunities")) >= N_OPPS - 40);
    TEST_CHECK(cJSON_Compare(get(oa, "opportunities"), get(ob, "opportunities"), true));
    TEST_CHECK(cJSON_Compare(get(oa, "pipelines"), get(ob, "pipelines"), true));
    TEST_CHECK(cJSON_Compare(get(oa, "fields"), get(ob, "fields"), true));
    cJSON_Delete(a);
    cJSON_Delete(b);
    free(s1);
    free(s2);
}

int main(void)
{
    char n[16];
    snprintf(n, sizeof n, "%d", N_OPPS);
    const char *args[] = {"--seed-contacts",
                          "40",
                          "--seed-opportunities",
                          n,
                          "--seed-records",
                          "3",
                          "--burst",
                          "0",
                          "--daily",
                          "0",
                          NULL};
    if (tsim_start(&S, args) != 0) {
        test_report("hlsim starts", false, "see # lines");
        return test_done();
    }
    TEST_RUN(setup_ids);
    TEST_RUN(crud_and_status);
    TEST_RUN(get_search_paging);
    TEST_RUN(post_search);
    TEST_RUN(definitions);
    TEST_RUN(admin_and_another_user);
    tsim_stop(&S);
    return test_done();
}
