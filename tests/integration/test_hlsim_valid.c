/*
 * test_hlsim_valid.c - write validation of every field dataType in the simulator: accepted
 * values are stored as sent (TEXTBOX_LIST flattened), rejected ones get a 422 whose message
 * names the field.
 */
#include "test.h"
#include "tsim.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static tsim S;

typedef struct vcase {
    const char *props; /* JSON object text */
    int status;
    const char *field; /* expected at the start of the first message on 422 */
} vcase;

static const vcase cases[] = {
    {"{\"name\":\"Rex\"}", 201, NULL},
    {"{\"name\":5}", 422, "name"},
    {"{\"notes\":\"long\\ntext\"}", 201, NULL},
    {"{\"notes\":[\"x\"]}", 422, "notes"},
    {"{\"age\":3.5}", 201, NULL},
    {"{\"age\":\"3\"}", 422, "age"},
    {"{\"owner_phone\":\"+1 (555) 010-9999\"}", 201, NULL},
    {"{\"owner_phone\":\"call me\"}", 422, "owner_phone"},
    {"{\"owner_phone\":5550100}", 422, "owner_phone"},
    {"{\"price\":{\"currency\":\"default\",\"value\":100}}", 201, NULL},
    {"{\"price\":{\"value\":1}}", 201, NULL},
    {"{\"price\":100}", 422, "price"},
    {"{\"price\":{\"currency\":\"USD\",\"value\":\"1\"}}", 422, "price"},
    {"{\"price\":{\"currency\":\"USD\",\"value\":1,\"cents\":2}}", 422, "price"},
    {"{\"housing\":[\"indoor\"]}", 201, NULL},
    {"{\"housing\":[]}", 201, NULL},
    {"{\"housing\":\"indoor\"}", 422, "housing"},
    {"{\"housing\":[\"attic\"]}", 422, "housing"},
    {"{\"species\":\"dog\"}", 201, NULL},
    {"{\"species\":\"Dog\"}", 422, "species"}, /* the label is not the key */
    {"{\"species\":[\"dog\"]}", 422, "species"},
    {"{\"traits\":[\"shy\",\"noisy\"]}", 201, NULL},
    {"{\"traits\":[\"shy\",\"grumpy\"]}", 422, "traits"},
    {"{\"traits\":[1]}", 422, "traits"},
    {"{\"birth_date\":\"2020-02-29\"}", 201, NULL},
    {"{\"birth_date\":\"2021-02-29\"}", 422, "birth_date"},
    {"{\"birth_date\":\"2020-02-29T10:00:00Z\"}", 422, "birth_date"},
    {"{\"birth_date\":20200229}", 422, "birth_date"},
    {"{\"contact_info.email\":\"a@b.c\"}", 201, NULL},
    {"{\"contact_info\":{\"emergency\":\"911\"}}", 201, NULL},
    {"{\"contact_info.fax\":\"1\"}", 422, "contact_info"},
    {"{\"contact_info\":\"x\"}", 422, "contact_info"},
    {"{\"contact_info.email\":3}", 422, "contact_info.email"},
    {"{\"photos\":[{\"url\":\"https://x/y.png\"}]}", 201, NULL},
    {"{\"photos\":[{\"url\":\"u\",\"name\":\"n\",\"size\":1,\"type\":\"image/png\"}]}", 201, NULL},
    {"{\"photos\":[{\"name\":\"n\"}]}", 422, "photos"},
    {"{\"photos\":\"https://x\"}", 422, "photos"},
    {"{\"photos\":[{\"url\":\"u\",\"size\":\"big\"}]}", 422, "photos"},
    {"{\"photos\":[{\"url\":\"a\"},{\"url\":\"b\"},{\"url\":\"c\"},{\"url\":\"d\"}]}", 422,
     "photos"},
    {"{\"size\":\"large\"}", 201, NULL},
    {"{\"size\":\"huge\"}", 422, "size"},
    {"{\"colour\":\"red\"}", 422, "colour"},
    {"{\"name\":null}", 201, NULL},
};

static const char *first_msg(const cJSON *j)
{
    return cJSON_GetStringValue(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "message"), 0));
}

static void each_type(void)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char body[2048];
        snprintf(body, sizeof body, "{\"locationId\":\"%s\",\"properties\":%s}", S.loc[0].id,
                 cases[i].props);
        char *resp = NULL;
        long st = tsim_api(&S, 0, "POST", "/objects/custom_objects.pet/records", body, &resp);
        cJSON *j = resp ? cJSON_Parse(resp) : NULL;
        char name[300];
        snprintf(name, sizeof name, "create %s -> %d", cases[i].props, cases[i].status);
        bool ok = st == cases[i].status;
        if (ok && cases[i].status == 422) {
            const char *m = first_msg(j);
            size_t fl = strlen(cases[i].field);
            ok = m && strncmp(m, cases[i].field, fl) == 0 && m[fl] == ':' &&
                 cJSON_GetObjectItem(j, "statusCode")->valueint == 422 &&
                 strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(j, "error")),
                        "Unprocessable Entity") == 0;
        }
        if (ok && cases[i].status == 201) {
            /* stored as sent: every sent key (flattened) comes back with the same value */
            cJSON *sent = cJSON_Parse(cases[i].props);
            cJSON *got = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "record"), "properties");
            cJSON *it;
            cJSON_ArrayForEach(it, sent)
            {
                if (cJSON_IsNull(it)) {
                    ok &= cJSON_GetObjectItem(got, it->string) == NULL;
                } else if (cJSON_IsObject(it) && !strcmp(it->string, "contact_info")) {
                    cJSON *sub;
                    cJSON_ArrayForEach(sub, it)
                    {
                        char k[200];
                        snprintf(k, sizeof k, "contact_info.%s", sub->string);
                        ok &= cJSON_Compare(cJSON_GetObjectItem(got, k), sub, 1);
                    }
                } else {
                    ok &= cJSON_Compare(cJSON_GetObjectItem(got, it->string), it, 1);
                }
            }
            cJSON_Delete(sent);
        }
        test_report(name, ok, ok ? NULL : (resp ? resp : "(no body)"));
        cJSON_Delete(j);
        free(resp);
    }
}

static void owner_followers(void)
{
    static const struct {
        const char *extra;
        int status;
    } oc[] = {
        {"\"owner\":[\"u1\"]", 201},
        {"\"owner\":\"u1\"", 201},
        {"\"owner\":[\"u1\",\"u2\"]", 422},
        {"\"followers\":[\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\",\"9\",\"10\"]", 201},
        {"\"followers\":[\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\",\"9\",\"10\",\"11\"]",
         422},
        {"\"followers\":[3]", 422},
        {"\"extra\":1", 422},
    };
    for (size_t i = 0; i < sizeof oc / sizeof oc[0]; i++) {
        char body[1024];
        snprintf(body, sizeof body, "{\"locationId\":\"%s\",\"properties\":{},%s}", S.loc[0].id,
                 oc[i].extra);
        long st = tsim_api(&S, 0, "POST", "/objects/custom_objects.pet/records", body, NULL);
        TEST_CHECK_MSG(st == oc[i].status, "%s: %ld != %d", oc[i].extra, st, oc[i].status);
    }
    char body[300];
    snprintf(body, sizeof body, "{\"properties\":{}}");
    TEST_EQ_INT(tsim_api(&S, 0, "POST", "/objects/custom_objects.pet/records", body, NULL), 422);
    snprintf(body, sizeof body, "{\"locationId\":\"%s\"}", S.loc[0].id);
    TEST_EQ_INT(tsim_api(&S, 0, "POST", "/objects/custom_objects.pet/records", body, NULL), 422);
    /* business owner not supported (standard object) */
    snprintf(body, sizeof body, "{\"locationId\":\"%s\",\"properties\":{},\"owner\":[\"u\"]}",
             S.loc[0].id);
    TEST_EQ_INT(tsim_api(&S, 0, "POST", "/objects/business/records", body, NULL), 422);
}

static void update_validation(void)
{
    char body[1024], path[300];
    snprintf(body, sizeof body, "{\"locationId\":\"%s\",\"properties\":{\"name\":\"Up\"}}",
             S.loc[0].id);
    char *resp = NULL;
    TEST_EQ_INT(tsim_api(&S, 0, "POST", "/objects/custom_objects.pet/records", body, &resp), 201);
    cJSON *j = cJSON_Parse(resp);
    free(resp);
    snprintf(path, sizeof path, "/objects/custom_objects.pet/records/%s?locationId=%s",
             cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "record"), "id")),
             S.loc[0].id);
    cJSON_Delete(j);
    TEST_EQ_INT(tsim_api(&S, 0, "PUT", path, "{\"properties\":{\"age\":\"old\"}}", &resp), 422);
    j = cJSON_Parse(resp);
    free(resp);
    TEST_CHECK(strncmp(first_msg(j), "age:", 4) == 0);
    cJSON_Delete(j);
    TEST_EQ_INT(tsim_api(&S, 0, "PUT", path, "{\"properties\":{\"age\":7},\"x\":1}", NULL), 422);
    TEST_EQ_INT(tsim_api(&S, 0, "PUT", path, "{\"properties\":{\"age\":7}}", &resp), 200);
    j = cJSON_Parse(resp);
    free(resp);
    cJSON *p = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "record"), "properties");
    TEST_EQ_STR(cJSON_GetStringValue(cJSON_GetObjectItem(p, "name")), "Up");
    TEST_EQ_INT(cJSON_GetObjectItem(p, "age")->valueint, 7);
    cJSON_Delete(j);
}

int main(void)
{
    const char *args[] = {"--seed-records", "3", "--burst", "0", NULL};
    if (tsim_start(&S, args) != 0) {
        test_report("hlsim starts", false, "see # lines");
        return test_done();
    }
    each_type();
    TEST_RUN(owner_followers);
    TEST_RUN(update_validation);
    tsim_stop(&S);
    return test_done();
}
