/*
 * test_hlsim_api.c - the simulator's public API over real HTTP: auth and Version, schemas,
 * custom fields, record CRUD, search paging (page, searchAfter, sort, filters, query).
 */
#include "test.h"
#include "thttp.h"
#include "tsim.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static tsim S;

static cJSON *call(int loc, const char *method, const char *path, const char *body, long *status)
{
    char *resp = NULL;
    *status = tsim_api(&S, loc, method, path, body, &resp);
    cJSON *j = resp ? cJSON_Parse(resp) : NULL;
    free(resp);
    return j;
}

static const char *str(const cJSON *o, const char *k)
{
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k));
}

static cJSON *search(int loc, const char *key, const char *extra, long *status)
{
    char path[300], body[4096];
    snprintf(path, sizeof path, "/objects/%s/records/search", key);
    snprintf(body, sizeof body, "{\"locationId\":\"%s\"%s%s}", S.loc[loc].id, extra[0] ? "," : "",
             extra);
    return call(loc, "POST", path, body, status);
}

static void auth_failures(void)
{
    char url[512], auth[300];
    snprintf(url, sizeof url, "%s/objects/?locationId=%s", S.base_url, S.loc[0].id);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", S.loc[0].token);
    thttp_resp r;
    const char *none[] = {"Version: 2021-07-28", NULL};
    TEST_REQUIRE(thttp_do("GET", url, none, NULL, &r) == 0);
    TEST_EQ_INT(r.status, 401);
    cJSON *j = cJSON_Parse(r.body);
    TEST_EQ_STR(str(j, "message"), "Invalid token: access token is invalid");
    TEST_EQ_STR(str(j, "error"), "Unauthorized");
    TEST_EQ_INT(cJSON_GetObjectItem(j, "statusCode")->valueint, 401);
    TEST_CHECK(str(j, "traceId") != NULL);
    cJSON_Delete(j);
    char buf[64];
    TEST_CHECK(thttp_header(&r, "X-RateLimit-Max", buf, sizeof buf) != NULL);
    thttp_resp_free(&r);

    const char *badtok[] = {"Authorization: Bearer nope", "Version: 2021-07-28", NULL};
    TEST_REQUIRE(thttp_do("GET", url, badtok, NULL, &r) == 0);
    TEST_EQ_INT(r.status, 401);
    thttp_resp_free(&r);

    const char *nover[] = {auth, NULL};
    TEST_REQUIRE(thttp_do("GET", url, nover, NULL, &r) == 0);
    TEST_EQ_INT(r.status, 400);
    j = cJSON_Parse(r.body);
    TEST_EQ_INT(cJSON_GetObjectItem(j, "statusCode")->valueint, 400);
    TEST_EQ_STR(str(j, "message"), "Bad Request");
    cJSON_Delete(j);
    thttp_resp_free(&r);

    const char *badver[] = {auth, "Version: 2021-04-15", NULL};
    TEST_REQUIRE(thttp_do("GET", url, badver, NULL, &r) == 0);
    TEST_EQ_INT(r.status, 400);
    thttp_resp_free(&r);

    const char *sdk[] = {auth, "Version: 2023-02-21", NULL};
    TEST_REQUIRE(thttp_do("GET", url, sdk, NULL, &r) == 0);
    TEST_EQ_INT(r.status, 200);
    thttp_resp_free(&r);

    /* location 0's token on location 1's data */
    snprintf(url, sizeof url, "/objects/?locationId=%s", S.loc[1].id);
    long st;
    j = call(0, "GET", url, NULL, &st);
    TEST_EQ_INT(st, 403);
    cJSON_Delete(j);
    j = search(0, "custom_objects.pet", "", &st);
    TEST_EQ_INT(st, 200);
    cJSON_Delete(j);
    char body[300];
    snprintf(body, sizeof body, "{\"locationId\":\"%s\"}", S.loc[1].id);
    j = call(0, "POST", "/objects/custom_objects.pet/records/search", body, &st);
    TEST_EQ_INT(st, 403);
    cJSON_Delete(j);
}

static void schemas(void)
{
    char path[300];
    long st;
    snprintf(path, sizeof path, "/objects?locationId=%s", S.loc[0].id);
    cJSON *j = call(0, "GET", path, NULL, &st);
    TEST_EQ_INT(st, 200);
    cJSON *objs = cJSON_GetObjectItem(j, "objects");
    int found = 0;
    cJSON *o;
    cJSON_ArrayForEach(o, objs)
    {
        const char *k = str(o, "key");
        found |= !strcmp(k, "custom_objects.pet")           ? 1
                 : !strcmp(k, "custom_objects.vaccination") ? 2
                 : !strcmp(k, "business")                   ? 4
                 : !strcmp(k, "contact")                    ? 8
                 : !strcmp(k, "opportunity")                ? 16
                                                            : 0;
        TEST_CHECK(str(o, "id") && strlen(str(o, "id")) == 24);
    }
    TEST_EQ_INT(found, 31);
    cJSON_Delete(j);

    snprintf(path, sizeof path, "/objects/custom_objects.pet?locationId=%s&fetchProperties=true",
             S.loc[0].id);
    j = call(0, "GET", path, NULL, &st);
    TEST_EQ_INT(st, 200);
    cJSON *fields = cJSON_GetObjectItem(j, "fields");
    static const char *const types[] = {"TEXT",           "LARGE_TEXT",       "NUMERICAL",
                                        "PHONE",          "MONETORY",         "CHECKBOX",
                                        "SINGLE_OPTIONS", "MULTIPLE_OPTIONS", "DATE",
                                        "TEXTBOX_LIST",   "FILE_UPLOAD",      "RADIO"};
    for (int t = 0; t < 12; t++) {
        bool has = false;
        cJSON *f;
        cJSON_ArrayForEach(f, fields) has |= !strcmp(str(f, "dataType"), types[t]);
        TEST_CHECK_MSG(has, "pet has a %s field", types[t]);
    }
    TEST_CHECK(cJSON_IsFalse(cJSON_GetObjectItem(j, "cache")) ||
               cJSON_IsTrue(cJSON_GetObjectItem(j, "cache")));
    /* by schema id too */
    char id[64];
    snprintf(id, sizeof id, "%s", str(cJSON_GetObjectItem(j, "object"), "id"));
    cJSON_Delete(j);
    snprintf(path, sizeof path, "/objects/%s?locationId=%s", id, S.loc[0].id);
    j = call(0, "GET", path, NULL, &st);
    TEST_EQ_INT(st, 200);
    TEST_EQ_STR(str(cJSON_GetObjectItem(j, "object"), "key"), "custom_objects.pet");
    TEST_CHECK(cJSON_GetObjectItem(j, "fields") == NULL);
    cJSON_Delete(j);

    /* create a custom object, then update it */
    char body[1024];
    snprintf(
        body, sizeof body,
        "{\"labels\":{\"singular\":\"Car\",\"plural\":\"Cars\"},\"key\":\"custom_objects.car\","
        "\"description\":\"d\",\"locationId\":\"%s\",\"primaryDisplayPropertyDetails\":"
        "{\"key\":\"custom_objects.car.model\",\"name\":\"Model\",\"dataType\":\"TEXT\"}}",
        S.loc[0].id);
    j = call(0, "POST", "/objects/", body, &st);
    TEST_EQ_INT(st, 201);
    TEST_EQ_STR(str(cJSON_GetObjectItem(j, "object"), "key"), "custom_objects.car");
    TEST_EQ_STR(str(cJSON_GetObjectItem(j, "object"), "primaryDisplayProperty"),
                "custom_objects.car.model");
    cJSON_Delete(j);
    j = call(0, "POST", "/objects/", body, &st);
    TEST_EQ_INT(st, 400);
    cJSON_Delete(j);
    snprintf(body, sizeof body,
             "{\"labels\":{\"singular\":\"Auto\"},\"description\":null,\"locationId\":\"%s\","
             "\"searchableProperties\":[\"custom_objects.car.model\"]}",
             S.loc[0].id);
    j = call(0, "PUT", "/objects/custom_objects.car", body, &st);
    TEST_EQ_INT(st, 200);
    cJSON *lab = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "object"), "labels");
    TEST_EQ_STR(str(lab, "singular"), "Auto");
    TEST_EQ_STR(str(lab, "plural"), "Cars");
    TEST_CHECK(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "object"), "description") == NULL);
    cJSON_Delete(j);
    snprintf(body, sizeof body, "{\"locationId\":\"%s\",\"searchableProperties\":[\"nope\"]}",
             S.loc[0].id);
    j = call(0, "PUT", "/objects/custom_objects.car", body, &st);
    TEST_EQ_INT(st, 422);
    cJSON_Delete(j);
    snprintf(body, sizeof body, "{\"locationId\":\"%s\"}", S.loc[0].id);
    j = call(0, "PUT", "/objects/custom_objects.car", body, &st);
    TEST_EQ_INT(st, 422); /* searchableProperties is required */
    cJSON_Delete(j);
}

static void custom_fields(void)
{
    char path[300], body[1024];
    long st;
    snprintf(path, sizeof path,
             "/custom-fields/object-key/custom_objects.vaccination?locationId=%s", S.loc[0].id);
    cJSON *j = call(0, "GET", path, NULL, &st);
    TEST_EQ_INT(st, 200);
    TEST_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(j, "fields")), 5);
    cJSON *folder = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "folders"), 0);
    char parent[64];
    snprintf(parent, sizeof parent, "%s", str(folder, "id"));
    cJSON_Delete(j);

    snprintf(body, sizeof body,
             "{\"locationId\":\"%s\",\"name\":\"Clinic\",\"showInForms\":true,\"dataType\":"
             "\"SINGLE_OPTIONS\",\"fieldKey\":\"custom_objects.vaccination.clinic\",\"objectKey\":"
             "\"custom_objects.vaccination\",\"parentId\":\"%s\",\"options\":[{\"key\":\"north\","
             "\"label\":\"North\"}]}",
             S.loc[0].id, parent);
    j = call(0, "POST", "/custom-fields/", body, &st);
    TEST_EQ_INT(st, 201);
    cJSON *f = cJSON_GetObjectItem(j, "field");
    char fid[64];
    snprintf(fid, sizeof fid, "%s", str(f, "id") ? str(f, "id") : "");
    TEST_EQ_STR(str(f, "fieldKey"), "custom_objects.vaccination.clinic");
    cJSON_Delete(j);

    /* the new field is writable at once */
    snprintf(body, sizeof body, "{\"locationId\":\"%s\",\"properties\":{\"clinic\":\"north\"}}",
             S.loc[0].id);
    j = call(0, "POST", "/objects/custom_objects.vaccination/records", body, &st);
    TEST_EQ_INT(st, 201);
    char rid[64];
    snprintf(rid, sizeof rid, "%s", str(cJSON_GetObjectItem(j, "record"), "id"));
    cJSON_Delete(j);

    /* rename + add option */
    snprintf(body, sizeof body,
             "{\"locationId\":\"%s\",\"name\":\"Clinic site\",\"showInForms\":true,\"options\":"
             "[{\"label\":\"South\"}]}",
             S.loc[0].id);
    snprintf(path, sizeof path, "/custom-fields/%s", fid);
    j = call(0, "PUT", path, body, &st);
    TEST_EQ_INT(st, 200);
    f = cJSON_GetObjectItem(j, "field");
    TEST_EQ_STR(str(f, "name"), "Clinic site");
    TEST_EQ_STR(str(f, "fieldKey"), "custom_objects.vaccination.clinic");
    TEST_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(f, "options")), 2);
    cJSON_Delete(j);
    j = call(0, "GET", path, NULL, &st);
    TEST_EQ_INT(st, 200);
    cJSON_Delete(j);

    /* delete: the values go away from records */
    j = call(0, "DELETE", path, NULL, &st);
    TEST_EQ_INT(st, 200);
    TEST_CHECK(cJSON_IsTrue(cJSON_GetObjectItem(j, "succeeded")));
    TEST_EQ_STR(str(j, "key"), "custom_objects.vaccination.clinic");
    cJSON_Delete(j);
    snprintf(path, sizeof path, "/objects/custom_objects.vaccination/records/%s", rid);
    j = call(0, "GET", path, NULL, &st);
    TEST_EQ_INT(st, 200);
    TEST_CHECK(
        cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "record"), "properties"),
                            "clinic") == NULL);
    cJSON_Delete(j);
    snprintf(path, sizeof path, "/custom-fields/%s", fid);
    j = call(0, "DELETE", path, NULL, &st);
    TEST_EQ_INT(st, 404);
    cJSON_Delete(j);
}

static void records_crud(void)
{
    char body[2048], path[300];
    long st;
    snprintf(body, sizeof body,
             "{\"locationId\":\"%s\",\"properties\":{\"name\":\"Rex\",\"age\":3,\"species\":"
             "\"dog\",\"contact_info\":{\"email\":\"a@b.c\"},\"price\":{\"currency\":\"USD\","
             "\"value\":10.5}},\"owner\":[\"u1\"],\"followers\":[\"u2\",\"u3\"]}",
             S.loc[0].id);
    cJSON *j = call(0, "POST", "/objects/custom_objects.pet/records", body, &st);
    TEST_EQ_INT(st, 201);
    cJSON *r = cJSON_GetObjectItem(j, "record");
    char id[64];
    snprintf(id, sizeof id, "%s", str(r, "id") ? str(r, "id") : "");
    TEST_EQ_INT(strlen(id), 24);
    TEST_EQ_INT(strspn(id, "0123456789abcdef"), 24);
    TEST_CHECK(str(r, "dateAdded") && str(r, "dateUpdated"));
    TEST_CHECK(cJSON_IsArray(cJSON_GetObjectItem(r, "relations")));
    TEST_EQ_STR(str(cJSON_GetObjectItem(r, "createdBy"), "source"), "PUBLIC_API");
    cJSON *p = cJSON_GetObjectItem(r, "properties");
    TEST_EQ_STR(str(p, "contact_info.email"), "a@b.c"); /* nested input, flat output */
    TEST_EQ_STR(cJSON_GetStringValue(cJSON_GetArrayItem(cJSON_GetObjectItem(r, "owner"), 0)), "u1");
    TEST_CHECK(str(j, "traceId") != NULL);
    cJSON_Delete(j);

    snprintf(path, sizeof path, "/objects/custom_objects.pet/records/%s", id);
    j = call(0, "GET", path, NULL, &st);
    TEST_EQ_INT(st, 200);
    TEST_EQ_STR(str(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "record"), "properties"), "name"),
                "Rex");
    cJSON_Delete(j);

    /* PUT without locationId -> 422; with it: merge (age kept, name replaced, species cleared) */
    snprintf(body, sizeof body, "{\"properties\":{\"name\":\"Rexy\",\"species\":null}}");
    j = call(0, "PUT", path, body, &st);
    TEST_EQ_INT(st, 422);
    cJSON_Delete(j);
    char putpath[400];
    snprintf(putpath, sizeof putpath, "%s?locationId=%s", path, S.loc[0].id);
    j = call(0, "PUT", putpath, body, &st);
    TEST_EQ_INT(st, 200);
    p = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "record"), "properties");
    TEST_EQ_STR(str(p, "name"), "Rexy");
    TEST_EQ_INT(cJSON_GetObjectItem(p, "age")->valueint, 3);
    TEST_CHECK(cJSON_GetObjectItem(p, "species") == NULL);
    cJSON_Delete(j);
    snprintf(putpath, sizeof putpath, "%s?locationId=%s", path, S.loc[1].id);
    j = call(0, "PUT", putpath, body, &st);
    TEST_EQ_INT(st, 403);
    cJSON_Delete(j);

    j = call(0, "DELETE", path, NULL, &st);
    TEST_EQ_INT(st, 200);
    TEST_EQ_STR(str(j, "id"), id);
    TEST_CHECK(cJSON_IsTrue(cJSON_GetObjectItem(j, "success")));
    cJSON_Delete(j);
    j = call(0, "GET", path, NULL, &st);
    TEST_EQ_INT(st, 404);
    TEST_EQ_STR(str(j, "message"), "Record not found");
    cJSON_Delete(j);
    j = call(0, "DELETE", path, NULL, &st);
    TEST_EQ_INT(st, 404);
    cJSON_Delete(j);

    /* business: standard object through the same endpoints */
    snprintf(body, sizeof body,
             "{\"locationId\":\"%s\",\"properties\":{\"name\":\"Acme\",\"city\":\"Austin\"}}",
             S.loc[0].id);
    j = call(0, "POST", "/objects/business/records", body, &st);
    TEST_EQ_INT(st, 201);
    TEST_EQ_STR(str(cJSON_GetObjectItem(j, "record"), "objectKey"), "business");
    cJSON_Delete(j);
    /* contact records are not served by the objects API: a clean 400, not a crash */
    j = call(0, "POST", "/objects/contact/records", body, &st);
    TEST_EQ_INT(st, 400);
    cJSON_Delete(j);
    j = search(0, "contact", "", &st);
    TEST_EQ_INT(st, 400);
    cJSON_Delete(j);
    /* unknown object */
    j = search(0, "custom_objects.nope", "", &st);
    TEST_EQ_INT(st, 404);
    cJSON_Delete(j);
}

static void search_rules(void)
{
    long st;
    cJSON *j = search(0, "custom_objects.pet", "\"pageLimit\":101", &st);
    TEST_EQ_INT(st, 422);
    TEST_EQ_STR(str(j, "error"), "Unprocessable Entity");
    TEST_CHECK(cJSON_IsArray(cJSON_GetObjectItem(j, "message")));
    cJSON_Delete(j);
    j = search(0, "custom_objects.pet", "\"page\":101,\"pageLimit\":100", &st);
    TEST_EQ_INT(st, 422); /* beyond 10,000 */
    cJSON_Delete(j);
    j = search(0, "custom_objects.pet", "\"page\":100,\"pageLimit\":100", &st);
    TEST_EQ_INT(st, 200); /* exactly 10,000 */
    cJSON_Delete(j);
    j = search(0, "custom_objects.pet", "\"bogus\":1", &st);
    TEST_EQ_INT(st, 422);
    TEST_EQ_STR(cJSON_GetStringValue(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "message"), 0)),
                "property bogus should not exist");
    cJSON_Delete(j);
    j = search(0, "custom_objects.pet", "\"pageLimit\":\"10\"", &st);
    TEST_EQ_INT(st, 422);
    cJSON_Delete(j);
    j = search(0, "custom_objects.pet", "\"searchAfter\":\"x\"", &st);
    TEST_EQ_INT(st, 422);
    cJSON_Delete(j);
    j = search(0, "custom_objects.pet", "\"sort\":[{\"field\":\"colour\",\"direction\":\"asc\"}]",
               &st);
    TEST_EQ_INT(st, 422);
    cJSON_Delete(j);
    j = search(0, "custom_objects.pet",
               "\"filters\":[{\"field\":\"updatedAt\",\"operator\":\"between\",\"value\":1}]", &st);
    TEST_EQ_INT(st, 422);
    cJSON_Delete(j);

    /* GET on the search path is a 404 */
    char path[200];
    snprintf(path, sizeof path, "/objects/custom_objects.pet/records/search?locationId=%s",
             S.loc[0].id);
    j = call(0, "GET", path, NULL, &st);
    TEST_EQ_INT(st, 404);
    cJSON_Delete(j);
    /* invalid JSON body -> 400 */
    j = call(0, "POST", "/objects/custom_objects.pet/records/search", "{nope", &st);
    TEST_EQ_INT(st, 400);
    cJSON_Delete(j);
}

/* Reads the whole collection with searchAfter; checks order and uniqueness. Returns count. */
static int scan(int loc, const char *key, const char *sortf, bool desc, int limit, char ***ids_out)
{
    char extra[1024], cursor[256] = "";
    int n = 0, cap = 1024;
    char **ids = malloc(sizeof *ids * (size_t)cap);
    long long prev_ms = desc ? (1LL << 62) : -1;
    char prev_id[32] = "";
    bool ordered = true;
    for (int pages = 0; pages < 10000; pages++) {
        snprintf(extra, sizeof extra, "\"pageLimit\":%d,\"searchAfter\":[%s]%s%s%s%s", limit,
                 cursor, sortf ? ",\"sort\":[{\"field\":\"" : "", sortf ? sortf : "",
                 sortf ? (desc ? "\",\"direction\":\"desc\"}]" : "\",\"direction\":\"asc\"}]") : "",
                 "");
        long st;
        cJSON *j = search(loc, key, extra, &st);
        if (st != 200) {
            TEST_CHECK_MSG(0, "scan page status %ld", st);
            cJSON_Delete(j);
            break;
        }
        cJSON *recs = cJSON_GetObjectItem(j, "records");
        int got = cJSON_GetArraySize(recs);
        cJSON *r;
        cJSON_ArrayForEach(r, recs)
        {
            cJSON *sa = cJSON_GetObjectItem(r, "searchAfter");
            long long ms = (long long)cJSON_GetArrayItem(sa, 0)->valuedouble;
            const char *id = cJSON_GetStringValue(cJSON_GetArrayItem(sa, 1));
            int c = ms < prev_ms ? -1 : ms > prev_ms ? 1 : strcmp(id, prev_id);
            if ((desc && c >= 0) || (!desc && c <= 0))
                ordered = false;
            prev_ms = ms;
            snprintf(prev_id, sizeof prev_id, "%s", id);
            if (n == cap) {
                cap *= 2;
                ids = realloc(ids, sizeof *ids * (size_t)cap);
            }
            ids[n++] = strdup(str(r, "id"));
            snprintf(cursor, sizeof cursor, "%lld,\"%s\"", ms, id);
        }
        cJSON_Delete(j);
        if (got < limit)
            break;
    }
    TEST_CHECK_MSG(ordered, "scan of %s by %s is strictly ordered", key, sortf ? sortf : "default");
    *ids_out = ids;
    return n;
}

static int cmpstr(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_ids(char **ids, int n)
{
    for (int i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
}

static void search_paging(void)
{
    long st;
    cJSON *j = search(1, "custom_objects.vaccination", "\"pageLimit\":1", &st);
    TEST_EQ_INT(st, 200);
    int total = cJSON_GetObjectItem(j, "total")->valueint;
    cJSON_Delete(j);
    TEST_EQ_INT(total, 237);
    char **ids;
    int n = scan(1, "custom_objects.vaccination", NULL, false, 17, &ids);
    TEST_EQ_INT(n, total);
    qsort(ids, (size_t)n, sizeof *ids, cmpstr);
    int dups = 0;
    for (int i = 1; i < n; i++)
        dups += strcmp(ids[i - 1], ids[i]) == 0;
    TEST_EQ_INT(dups, 0);
    free_ids(ids, n);
    n = scan(1, "custom_objects.vaccination", "updatedAt", false, 100, &ids);
    TEST_EQ_INT(n, total);
    free_ids(ids, n);
    n = scan(1, "custom_objects.vaccination", "updatedAt", true, 33, &ids);
    TEST_EQ_INT(n, total);
    free_ids(ids, n);

    /* page-based paging covers the same set */
    int seen = 0;
    for (int page = 1; page < 100; page++) {
        char extra[100];
        snprintf(extra, sizeof extra, "\"page\":%d,\"pageLimit\":50", page);
        j = search(1, "custom_objects.vaccination", extra, &st);
        int got = cJSON_GetArraySize(cJSON_GetObjectItem(j, "records"));
        cJSON_Delete(j);
        seen += got;
        if (got < 50)
            break;
    }
    TEST_EQ_INT(seen, total);

    /* updatedAt range filter: seek, exact total */
    j = search(1, "custom_objects.vaccination",
               "\"pageLimit\":100,\"sort\":[{\"field\":\"updatedAt\",\"direction\":\"asc\"}]", &st);
    cJSON *recs = cJSON_GetObjectItem(j, "records");
    cJSON *mid = cJSON_GetArrayItem(recs, 50);
    long long mid_ms =
        (long long)cJSON_GetArrayItem(cJSON_GetObjectItem(mid, "searchAfter"), 0)->valuedouble;
    char mid_iso[40];
    snprintf(mid_iso, sizeof mid_iso, "%s", str(mid, "updatedAt"));
    cJSON_Delete(j);
    int expect = 0;
    n = scan(1, "custom_objects.vaccination", "updatedAt", false, 100, &ids);
    free_ids(ids, n);
    {
        /* count records with updatedAt >= mid via a full default scan */
        char cursor[128] = "";
        for (;;) {
            char extra[300];
            snprintf(extra, sizeof extra, "\"pageLimit\":100,\"searchAfter\":[%s]", cursor);
            j = search(1, "custom_objects.vaccination", extra, &st);
            recs = cJSON_GetObjectItem(j, "records");
            cJSON *r;
            cJSON_ArrayForEach(r, recs)
            {
                cJSON *sa = cJSON_GetObjectItem(r, "searchAfter");
                snprintf(cursor, sizeof cursor, "%lld,\"%s\"",
                         (long long)cJSON_GetArrayItem(sa, 0)->valuedouble,
                         cJSON_GetStringValue(cJSON_GetArrayItem(sa, 1)));
                expect += strcmp(str(r, "updatedAt"), mid_iso) >= 0;
            }
            int got = cJSON_GetArraySize(recs);
            cJSON_Delete(j);
            if (got < 100)
                break;
        }
    }
    char extra[400];
    snprintf(
        extra, sizeof extra,
        "\"pageLimit\":100,\"sort\":[{\"field\":\"updatedAt\",\"direction\":\"asc\"}],"
        "\"filters\":[{\"field\":\"updatedAt\",\"operator\":\"range\",\"value\":{\"gte\":\"%s\"}}]",
        mid_iso);
    j = search(1, "custom_objects.vaccination", extra, &st);
    TEST_EQ_INT(st, 200);
    TEST_EQ_INT(cJSON_GetObjectItem(j, "total")->valueint, expect);
    cJSON *first = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "records"), 0);
    TEST_CHECK(
        (long long)cJSON_GetArrayItem(cJSON_GetObjectItem(first, "searchAfter"), 0)->valuedouble >=
        mid_ms);
    cJSON_Delete(j);
    snprintf(
        extra, sizeof extra,
        "\"filters\":[{\"field\":\"updatedAt\",\"operator\":\"range\",\"value\":{\"gte\":%lld}}]",
        mid_ms);
    j = search(1, "custom_objects.vaccination", extra, &st);
    TEST_EQ_INT(cJSON_GetObjectItem(j, "total")->valueint, expect);
    cJSON_Delete(j);
}

/* default (createdAt) order with a narrow updatedAt range: same set as the updatedAt-sorted
 * answer, in createdAt order */
static void search_updated_range_created_order(void)
{
    long st;
    cJSON *j =
        search(1, "custom_objects.vaccination",
               "\"pageLimit\":12,\"sort\":[{\"field\":\"updatedAt\",\"direction\":\"desc\"}]", &st);
    TEST_EQ_INT(st, 200);
    cJSON *last = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "records"), 11);
    char bound[40];
    snprintf(bound, sizeof bound, "%s", str(last, "updatedAt"));
    cJSON_Delete(j);
    char f[300], extra[600];
    snprintf(f, sizeof f,
             "\"filters\":[{\"field\":\"updatedAt\",\"operator\":\"range\",\"value\":{\"gte\":"
             "\"%s\"}}]",
             bound);
    snprintf(extra, sizeof extra,
             "\"pageLimit\":100,%s,\"sort\":[{\"field\":\"updatedAt\",\"direction\":\"asc\"}]", f);
    cJSON *a = search(1, "custom_objects.vaccination", extra, &st);
    snprintf(extra, sizeof extra, "\"pageLimit\":100,%s", f);
    cJSON *b = search(1, "custom_objects.vaccination", extra, &st);
    TEST_EQ_INT(st, 200);
    int ta = cJSON_GetObjectItem(a, "total")->valueint,
        tb = cJSON_GetObjectItem(b, "total")->valueint;
    TEST_EQ_INT(ta, tb);
    TEST_CHECK(ta >= 12 && ta < 30);
    cJSON *ra = cJSON_GetObjectItem(a, "records"), *rb = cJSON_GetObjectItem(b, "records");
    TEST_EQ_INT(cJSON_GetArraySize(rb), ta);
    char prev[40] = "";
    cJSON *r;
    cJSON_ArrayForEach(r, rb)
    {
        TEST_CHECK(strcmp(str(r, "createdAt"), prev) >= 0);
        snprintf(prev, sizeof prev, "%s", str(r, "createdAt"));
        TEST_CHECK(strcmp(str(r, "updatedAt"), bound) >= 0);
        bool in_a = false;
        cJSON *x;
        cJSON_ArrayForEach(x, ra) in_a |= !strcmp(str(x, "id"), str(r, "id"));
        TEST_CHECK(in_a);
    }
    /* and with a cursor: the second half of that set */
    cJSON *mid = cJSON_GetArrayItem(rb, ta / 2 - 1);
    cJSON *sa = cJSON_GetObjectItem(mid, "searchAfter");
    snprintf(extra, sizeof extra, "\"pageLimit\":100,%s,\"searchAfter\":[%lld,\"%s\"]", f,
             (long long)cJSON_GetArrayItem(sa, 0)->valuedouble,
             cJSON_GetStringValue(cJSON_GetArrayItem(sa, 1)));
    j = search(1, "custom_objects.vaccination", extra, &st);
    TEST_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(j, "records")), ta - ta / 2);
    TEST_EQ_STR(str(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "records"), 0), "id"),
                str(cJSON_GetArrayItem(rb, ta / 2), "id"));
    cJSON_Delete(j);
    cJSON_Delete(a);
    cJSON_Delete(b);
}

static void search_query_filters(void)
{
    long st;
    char body[1024];
    snprintf(body, sizeof body,
             "{\"locationId\":\"%s\",\"properties\":{\"name\":\"Zanzibar Unique\",\"species\":"
             "\"cat\",\"traits\":[\"shy\"],\"age\":4242}}",
             S.loc[0].id);
    cJSON *j = call(0, "POST", "/objects/custom_objects.pet/records", body, &st);
    TEST_EQ_INT(st, 201);
    cJSON_Delete(j);
    j = search(0, "custom_objects.pet", "\"query\":\"name:zanzibar\"", &st);
    TEST_EQ_INT(st, 200);
    TEST_EQ_INT(cJSON_GetObjectItem(j, "total")->valueint, 1);
    cJSON_Delete(j);
    j = search(0, "custom_objects.pet", "\"query\":\"Zanzibar\"", &st);
    TEST_EQ_INT(cJSON_GetObjectItem(j, "total")->valueint, 1);
    cJSON_Delete(j);
    j = search(0, "custom_objects.pet", "\"query\":\"\"", &st);
    TEST_CHECK(cJSON_GetObjectItem(j, "total")->valueint > 100);
    cJSON_Delete(j);
    j = search(0, "custom_objects.pet", "\"query\":\"age:42\"", &st);
    TEST_EQ_INT(st, 422); /* age is not searchable */
    cJSON_Delete(j);
    j = search(0, "custom_objects.pet",
               "\"filters\":[{\"field\":\"properties.age\",\"operator\":\"eq\",\"value\":4242},"
               "{\"group\":\"OR\",\"filters\":[{\"field\":\"properties.traits\",\"operator\":"
               "\"contains\",\"value\":\"shy\"},{\"field\":\"properties.species\",\"operator\":"
               "\"eq\",\"value\":\"dog\"}]}]",
               &st);
    TEST_EQ_INT(st, 200);
    TEST_EQ_INT(cJSON_GetObjectItem(j, "total")->valueint, 1);
    cJSON_Delete(j);
    j = search(
        0, "custom_objects.pet",
        "\"filters\":[{\"field\":\"properties.age\",\"operator\":\"range\",\"value\":{\"gt\":4241,"
        "\"lte\":4242}},{\"field\":\"properties.name\",\"operator\":\"exists\"}]",
        &st);
    TEST_EQ_INT(cJSON_GetObjectItem(j, "total")->valueint, 1);
    cJSON_Delete(j);
    j = search(0, "custom_objects.pet",
               "\"pageLimit\":5,\"sort\":[{\"field\":\"properties.age\",\"direction\":\"desc\"}]",
               &st);
    TEST_EQ_INT(st, 200);
    cJSON *r0 = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "records"), 0);
    TEST_EQ_INT(cJSON_GetObjectItem(cJSON_GetObjectItem(r0, "properties"), "age")->valueint, 4242);
    cJSON_Delete(j);
}

int main(void)
{
    const char *args[] = {"--seed-records", "237", "--burst", "0", "--daily", "0", NULL};
    if (tsim_start(&S, args) != 0) {
        test_report("hlsim starts", false, "see # lines");
        return test_done();
    }
    TEST_RUN(auth_failures);
    TEST_RUN(schemas);
    TEST_RUN(custom_fields);
    TEST_RUN(records_crud);
    TEST_RUN(search_rules);
    TEST_RUN(search_paging);
    TEST_RUN(search_updated_range_created_order);
    TEST_RUN(search_query_filters);
    tsim_stop(&S);
    return test_done();
}
