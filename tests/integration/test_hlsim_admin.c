/*
 * test_hlsim_admin.c - the simulator's admin interface: auth, state dump and load (also
 * --state at start-up), record edits as a web user, field add/rename/options/delete, counters.
 */
#include "test.h"
#include "tsim.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static tsim S;

static cJSON *admin(const char *method, const char *path, const char *body, long *st)
{
    char *resp = NULL;
    *st = tsim_admin(&S, method, path, body, &resp);
    cJSON *j = resp ? cJSON_Parse(resp) : NULL;
    free(resp);
    return j;
}

static const char *str(const cJSON *o, const char *k)
{
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k));
}

static cJSON *find_object(cJSON *dump, const char *key)
{
    cJSON *o;
    cJSON_ArrayForEach(
        o, cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(dump, "locations"), 0),
                               "objects"))
    {
        if (!strcmp(str(cJSON_GetObjectItem(o, "object"), "key"), key))
            return o;
    }
    return NULL;
}

static void admin_auth(void)
{
    char url[300];
    snprintf(url, sizeof url, "/_admin/health");
    long st;
    cJSON *j = admin("GET", url, NULL, &st);
    TEST_EQ_INT(st, 200);
    cJSON_Delete(j);
    /* a location token is not an admin token */
    TEST_EQ_INT(tsim_api(&S, 0, "GET", "/_admin/health", NULL, NULL), 401);
    j = admin("GET", "/_admin/nope", NULL, &st);
    TEST_EQ_INT(st, 404);
    cJSON_Delete(j);
    j = admin("GET", "/_admin/locations", NULL, &st);
    TEST_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(j, "locations")), S.n_loc);
    TEST_EQ_STR(str(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "locations"), 0), "token"),
                S.loc[0].token);
    cJSON_Delete(j);
}

static void dump_and_web_edits(void)
{
    char path[300];
    long st;
    snprintf(path, sizeof path, "/_admin/state?locationId=%s", S.loc[0].id);
    cJSON *d = admin("GET", path, NULL, &st);
    TEST_EQ_INT(st, 200);
    cJSON *pet = find_object(d, "custom_objects.pet");
    TEST_REQUIRE(pet != NULL);
    cJSON *recs = cJSON_GetObjectItem(pet, "records");
    TEST_EQ_INT(cJSON_GetArraySize(recs), 12);
    TEST_EQ_INT(cJSON_GetObjectItem(pet, "total")->valueint, 12);
    TEST_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(pet, "fields")), 12);
    char id[64];
    snprintf(id, sizeof id, "%s", str(cJSON_GetArrayItem(recs, 3), "id"));
    cJSON_Delete(d);

    /* edit as a web user */
    snprintf(path, sizeof path, "/_admin/records/custom_objects.pet/%s?locationId=%s", id,
             S.loc[0].id);
    cJSON *j = admin("PUT", path, "{\"properties\":{\"name\":\"Edited in UI\"}}", &st);
    TEST_EQ_INT(st, 200);
    cJSON *r = cJSON_GetObjectItem(j, "record");
    TEST_EQ_STR(str(cJSON_GetObjectItem(r, "lastUpdatedBy"), "source"), "WEB_USER");
    TEST_EQ_STR(str(cJSON_GetObjectItem(r, "createdBy"), "source"), "PUBLIC_API");
    cJSON_Delete(j);
    j = admin("PUT", path, "{\"properties\":{\"age\":\"x\"}}", &st);
    TEST_EQ_INT(st, 422);
    cJSON_Delete(j);
    /* the API sees it, with a newer updatedAt */
    char api[300];
    snprintf(api, sizeof api, "/objects/custom_objects.pet/records/%s", id);
    char *resp = NULL;
    TEST_EQ_INT(tsim_api(&S, 0, "GET", api, NULL, &resp), 200);
    j = cJSON_Parse(resp);
    free(resp);
    r = cJSON_GetObjectItem(j, "record");
    TEST_EQ_STR(str(cJSON_GetObjectItem(r, "properties"), "name"), "Edited in UI");
    TEST_CHECK(strcmp(str(r, "dateUpdated"), str(r, "dateAdded")) > 0);
    cJSON_Delete(j);

    /* create and delete as a web user */
    snprintf(path, sizeof path, "/_admin/records/custom_objects.pet?locationId=%s", S.loc[0].id);
    j = admin("POST", path, "{\"properties\":{\"name\":\"From UI\",\"species\":\"cat\"}}", &st);
    TEST_EQ_INT(st, 201);
    char nid[64];
    snprintf(nid, sizeof nid, "%s", str(cJSON_GetObjectItem(j, "record"), "id"));
    TEST_EQ_STR(str(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "record"), "createdBy"), "source"),
                "WEB_USER");
    cJSON_Delete(j);
    snprintf(path, sizeof path, "/_admin/records/custom_objects.pet/%s?locationId=%s", id,
             S.loc[0].id);
    j = admin("DELETE", path, NULL, &st);
    TEST_EQ_INT(st, 200);
    cJSON_Delete(j);
    TEST_EQ_INT(tsim_api(&S, 0, "GET", api, NULL, NULL), 404);

    snprintf(path, sizeof path, "/_admin/state?locationId=%s", S.loc[0].id);
    d = admin("GET", path, NULL, &st);
    pet = find_object(d, "custom_objects.pet");
    recs = cJSON_GetObjectItem(pet, "records");
    TEST_EQ_INT(cJSON_GetArraySize(recs), 12);
    bool has_new = false, has_old = false;
    cJSON *it;
    cJSON_ArrayForEach(it, recs)
    {
        has_new |= !strcmp(str(it, "id"), nid);
        has_old |= !strcmp(str(it, "id"), id);
    }
    TEST_CHECK(has_new && !has_old);
    cJSON_Delete(d);
}

static void fields_admin(void)
{
    char path[300];
    long st;
    snprintf(path, sizeof path, "/_admin/fields?locationId=%s", S.loc[0].id);
    cJSON *j =
        admin("POST", path,
              "{\"objectKey\":\"custom_objects.pet\",\"key\":\"colour\",\"name\":\"Colour\","
              "\"dataType\":\"SINGLE_OPTIONS\",\"options\":[{\"key\":\"red\",\"label\":\"Red\"}]}",
              &st);
    TEST_EQ_INT(st, 201);
    TEST_EQ_STR(str(cJSON_GetObjectItem(j, "field"), "fieldKey"), "custom_objects.pet.colour");
    cJSON_Delete(j);
    char body[300];
    snprintf(body, sizeof body, "{\"locationId\":\"%s\",\"properties\":{\"colour\":\"blue\"}}",
             S.loc[0].id);
    TEST_EQ_INT(tsim_api(&S, 0, "POST", "/objects/custom_objects.pet/records", body, NULL), 422);
    snprintf(path, sizeof path, "/_admin/fields/custom_objects.pet.colour?locationId=%s",
             S.loc[0].id);
    j = admin("PUT", path,
              "{\"name\":\"Coat colour\",\"addOptions\":[{\"key\":\"blue\",\"label\":\"Blue\"}],"
              "\"renameOptions\":{\"red\":\"Crimson\"}}",
              &st);
    TEST_EQ_INT(st, 200);
    cJSON *f = cJSON_GetObjectItem(j, "field");
    TEST_EQ_STR(str(f, "name"), "Coat colour");
    TEST_EQ_STR(str(f, "fieldKey"), "custom_objects.pet.colour");
    TEST_EQ_STR(str(cJSON_GetArrayItem(cJSON_GetObjectItem(f, "options"), 0), "label"), "Crimson");
    cJSON_Delete(j);
    char *resp = NULL;
    TEST_EQ_INT(tsim_api(&S, 0, "POST", "/objects/custom_objects.pet/records", body, &resp), 201);
    j = cJSON_Parse(resp);
    free(resp);
    char rid[64];
    snprintf(rid, sizeof rid, "%s", str(cJSON_GetObjectItem(j, "record"), "id"));
    cJSON_Delete(j);
    /* the schema endpoint shows the renamed field */
    char api[300];
    snprintf(api, sizeof api, "/objects/custom_objects.pet?locationId=%s&fetchProperties=true",
             S.loc[0].id);
    TEST_EQ_INT(tsim_api(&S, 0, "GET", api, NULL, &resp), 200);
    TEST_CHECK(resp && strstr(resp, "Coat colour"));
    free(resp);
    j = admin("DELETE", path, NULL, &st);
    TEST_EQ_INT(st, 200);
    cJSON_Delete(j);
    snprintf(api, sizeof api, "/objects/custom_objects.pet/records/%s", rid);
    TEST_EQ_INT(tsim_api(&S, 0, "GET", api, NULL, &resp), 200);
    TEST_CHECK(resp && !strstr(resp, "colour"));
    free(resp);
    j = admin("DELETE", path, NULL, &st);
    TEST_EQ_INT(st, 404);
    cJSON_Delete(j);
}

static void counters(void)
{
    long st;
    cJSON *j = admin("POST", "/_admin/counters/reset", NULL, &st);
    cJSON_Delete(j);
    char body[200];
    snprintf(body, sizeof body, "{\"locationId\":\"%s\"}", S.loc[0].id);
    for (int i = 0; i < 3; i++)
        tsim_api(&S, 0, "POST", "/objects/custom_objects.pet/records/search", body, NULL);
    tsim_api(&S, 0, "POST", "/objects/custom_objects.pet/records/search", "{}", NULL);
    tsim_api(&S, 0, "GET", "/objects/custom_objects.pet/records/000000000000000000000000", NULL,
             NULL);
    j = admin("GET", "/_admin/counters", NULL, &st);
    TEST_EQ_INT(st, 200);
    cJSON *e = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "byEndpoint"),
                                   "POST /objects/{schemaKey}/records/search");
    TEST_EQ_INT(cJSON_GetObjectItem(e, "total")->valueint, 4);
    TEST_EQ_INT(cJSON_GetObjectItem(e, "2xx")->valueint, 3);
    TEST_EQ_INT(cJSON_GetObjectItem(e, "4xx")->valueint, 1);
    cJSON *bs = cJSON_GetObjectItem(j, "byStatus");
    TEST_EQ_INT(cJSON_GetObjectItem(bs, "200")->valueint, 3);
    TEST_EQ_INT(cJSON_GetObjectItem(bs, "422")->valueint, 1);
    TEST_EQ_INT(cJSON_GetObjectItem(bs, "404")->valueint, 1);
    TEST_EQ_INT(cJSON_GetObjectItem(j, "served429")->valueint, 0);
    cJSON_Delete(j);
}

static void state_roundtrip(void)
{
    long st;
    char path[300];
    snprintf(path, sizeof path, "/_admin/state?locationId=%s", S.loc[1].id);
    char *dump = NULL;
    TEST_EQ_INT(tsim_admin(&S, "GET", path, NULL, &dump), 200);
    /* load location 1's state into a brand-new location and compare */
    cJSON *d = cJSON_Parse(dump);
    cJSON *l = cJSON_GetArrayItem(cJSON_GetObjectItem(d, "locations"), 0);
    cJSON_ReplaceItemInObject(l, "id", cJSON_CreateString("copyLocation00000001"));
    cJSON_DeleteItemFromObject(l, "token");
    cJSON_DeleteItemFromObject(l, "refresh");
    char *txt = cJSON_PrintUnformatted(d);
    cJSON *j = admin("POST", "/_admin/state", txt, &st);
    TEST_EQ_INT(st, 200);
    cJSON_Delete(j);
    free(txt);
    char *copy = NULL;
    TEST_EQ_INT(tsim_admin(&S, "GET", "/_admin/state?locationId=copyLocation00000001", NULL, &copy),
                200);
    cJSON *c = cJSON_Parse(copy);
    cJSON *o1 = find_object(d, "custom_objects.vaccination");
    cJSON *o2 = find_object(c, "custom_objects.vaccination");
    TEST_REQUIRE(o1 && o2);
    cJSON *r1 = cJSON_GetObjectItem(o1, "records"), *r2 = cJSON_GetObjectItem(o2, "records");
    TEST_EQ_INT(cJSON_GetArraySize(r1), cJSON_GetArraySize(r2));
    for (int i = 0; i < cJSON_GetArraySize(r1); i++) {
        cJSON *a = cJSON_GetArrayItem(r1, i), *b = cJSON_GetArrayItem(r2, i);
        TEST_EQ_STR(str(a, "id"), str(b, "id"));
        TEST_EQ_STR(str(a, "updatedAt"), str(b, "updatedAt"));
        TEST_CHECK(cJSON_Compare(cJSON_GetObjectItem(a, "properties"),
                                 cJSON_GetObjectItem(b, "properties"), 1));
    }
    cJSON_Delete(c);
    cJSON_Delete(d);
    free(dump);
    free(copy);
    /* a bad load changes nothing */
    j = admin("POST", "/_admin/state",
              "{\"locations\":[{\"id\":\"copyLocation00000001\",\"objects\":[{\"object\":{\"key\":"
              "\"custom_objects.x\"},\"fields\":[{\"fieldKey\":\"custom_objects.x.n\",\"dataType\":"
              "\"NUMERICAL\"}],\"records\":[{\"properties\":{\"n\":\"text\"}}]}]}]}",
              &st);
    TEST_EQ_INT(st, 422);
    cJSON_Delete(j);
    j = admin("GET", "/_admin/state?locationId=copyLocation00000001", NULL, &st);
    TEST_CHECK(find_object(j, "custom_objects.vaccination") != NULL);
    cJSON_Delete(j);
}

static void state_file(void)
{
    char tmpl[512];
    snprintf(tmpl, sizeof tmpl, "%s/hlsim-state-XXXXXX", test_tmpdir());
    int fd = mkstemp(tmpl);
    TEST_REQUIRE(fd >= 0);
    const char *st =
        "{\"locations\":[{\"id\":\"fileLocation00000001\",\"token\":\"tok-file-1\",\"objects\":[{"
        "\"object\":{\"key\":\"custom_objects.book\",\"labels\":{\"singular\":\"Book\",\"plural\":"
        "\"Books\"},\"primaryDisplayProperty\":\"custom_objects.book.title\"},\"fields\":[{"
        "\"fieldKey\":\"custom_objects.book.title\",\"dataType\":\"TEXT\",\"name\":\"Title\"}],"
        "\"records\":[{\"id\":\"aaaaaaaaaaaaaaaaaaaaaaaa\",\"properties\":{\"title\":\"Dune\"},"
        "\"createdAt\":\"2024-05-01T10:00:00.000Z\",\"updatedAt\":\"2024-05-02T10:00:00.000Z\"}]}]}"
        "]}";
    TEST_REQUIRE(write(fd, st, strlen(st)) == (ssize_t)strlen(st));
    close(fd);
    tsim t;
    const char *args[] = {"--locations", "1", "--seed-records", "1", "--state", tmpl, NULL};
    int rc = tsim_start(&t, args);
    unlink(tmpl);
    TEST_REQUIRE(rc == 0);
    TEST_EQ_INT(t.n_loc, 2); /* the seeded one and the one from the file */
    int k = !strcmp(t.loc[1].id, "fileLocation00000001") ? 1 : 0;
    TEST_EQ_STR(t.loc[k].token, "tok-file-1");
    char *resp = NULL;
    TEST_EQ_INT(tsim_api(&t, k, "GET",
                         "/objects/custom_objects.book/records/aaaaaaaaaaaaaaaaaaaaaaaa", NULL,
                         &resp),
                200);
    cJSON *j = resp ? cJSON_Parse(resp) : NULL;
    cJSON *r = cJSON_GetObjectItem(j, "record");
    TEST_EQ_STR(str(r, "dateUpdated"), "2024-05-02T10:00:00.000Z");
    TEST_EQ_STR(str(cJSON_GetObjectItem(r, "properties"), "title"), "Dune");
    cJSON_Delete(j);
    free(resp);
    tsim_stop(&t);
}

int main(void)
{
    const char *args[] = {"--seed-records", "12", "--burst", "0", NULL};
    if (tsim_start(&S, args) != 0) {
        test_report("hlsim starts", false, "see # lines");
        return test_done();
    }
    TEST_RUN(admin_auth);
    TEST_RUN(dump_and_web_edits);
    TEST_RUN(fields_admin);
    TEST_RUN(counters);
    TEST_RUN(state_roundtrip);
    tsim_stop(&S);
    TEST_RUN(state_file);
    return test_done();
}
