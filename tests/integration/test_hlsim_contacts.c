/*
 * test_hlsim_contacts.c - the simulator's contacts over real HTTP: write validation (every
 * custom field dataType), CRUD shapes, tags, upsert, duplicates, the search index lag, search
 * rules, paging through everything with searchAfter, filters and sort against the admin dump,
 * switches, faults, the other user, definitions and the state round trip.
 */
#include "test.h"
#include "thttp.h"
#include "tsim.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define N_SEEDED 1203

static tsim S;

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

static void admin_ok(const char *method, const char *path, const char *body)
{
    long st;
    cJSON *j = admin(method, path, body, &st);
    TEST_CHECK_MSG(st >= 200 && st < 300, "admin %s %s -> %ld", method, path, st);
    cJSON_Delete(j);
}

static const char *str(const cJSON *o, const char *k)
{
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k));
}

static cJSON *get(const cJSON *o, const char *k)
{
    return cJSON_GetObjectItemCaseSensitive(o, k);
}

/* POST /contacts/search as location 0 with the extra body members */
static cJSON *search(const char *extra, long *st)
{
    char body[8192];
    snprintf(body, sizeof body, "{\"locationId\":\"%s\"%s%s}", S.loc[0].id, extra[0] ? "," : "",
             extra);
    return call(0, "POST", "/contacts/search", body, st);
}

static long search_status(const char *extra)
{
    long st;
    cJSON_Delete(search(extra, &st));
    return st;
}

static long total_of(const char *extra)
{
    long st;
    cJSON *j = search(extra, &st);
    long t = st == 200 && cJSON_IsNumber(get(j, "total")) ? (long)get(j, "total")->valuedouble : -1;
    cJSON_Delete(j);
    return t;
}

/* id of the contact custom field contact.<key> of location 0 */
static void field_id(const char *key, char out[64])
{
    char path[200];
    long st;
    out[0] = 0;
    snprintf(path, sizeof path, "/locations/%s/customFields?model=contact", S.loc[0].id);
    cJSON *j = call(0, "GET", path, NULL, &st);
    char fk[100];
    snprintf(fk, sizeof fk, "contact.%s", key);
    cJSON *f;
    cJSON_ArrayForEach(f, get(j, "customFields"))
    {
        if (str(f, "fieldKey") && !strcmp(str(f, "fieldKey"), fk))
            snprintf(out, 64, "%s", str(f, "id"));
    }
    cJSON_Delete(j);
}

static cJSON *create(const char *members, long *st)
{
    char body[8192];
    snprintf(body, sizeof body, "{\"locationId\":\"%s\"%s%s}", S.loc[0].id, members[0] ? "," : "",
             members);
    return call(0, "POST", "/contacts/", body, st);
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

/* the dumped contacts of location 0 (caller frees the root in *root) */
static cJSON *dump(cJSON **root)
{
    char path[200];
    long st;
    snprintf(path, sizeof path, "/_admin/contacts?locationId=%s", S.loc[0].id);
    *root = admin("GET", path, NULL, &st);
    return get(*root, "contacts");
}

static const cJSON *cf_value(const cJSON *contact, const char *id)
{
    const cJSON *x;
    cJSON_ArrayForEach(x, get(contact, "customFields"))
    {
        if (str(x, "id") && !strcmp(str(x, "id"), id))
            return get(x, "value");
    }
    return NULL;
}

static void crud_and_shapes(void)
{
    char plan[64], score[64];
    field_id("plan", plan);
    field_id("score", score);
    TEST_REQUIRE(plan[0] && score[0]);
    long st;
    char m[2048];
    snprintf(m, sizeof m,
             "\"firstName\":\"Zoë\",\"lastName\":\"O'Neil\",\"email\":\"Zoe@Example.com\","
             "\"phone\":\"(555) 010-2030\",\"tags\":[\"a\",\"b\",\"a\"],\"dateOfBirth\":"
             "\"09/25/1990\",\"dnd\":true,\"dndSettings\":{\"SMS\":{\"status\":\"active\"}},"
             "\"customFields\":[{\"id\":\"%s\",\"field_value\":\"Pro\"},{\"key\":\"score\","
             "\"field_value\":7}]",
             plan);
    cJSON *j = create(m, &st);
    TEST_EQ_INT(st, 201);
    cJSON *c = get(j, "contact");
    TEST_REQUIRE(c && str(c, "id"));
    char id[64];
    snprintf(id, sizeof id, "%s", str(c, "id"));
    TEST_EQ_INT(strlen(id), 20);
    TEST_EQ_STR(str(c, "firstName"), "Zoë");
    TEST_EQ_STR(str(c, "lastNameLowerCase"), "o'neil");
    TEST_EQ_STR(str(c, "email"), "Zoe@Example.com");
    TEST_EQ_STR(str(c, "phone"), "+15550102030");
    TEST_EQ_STR(str(c, "dateOfBirth"), "1990-09-25T00:00:00.000Z");
    TEST_EQ_STR(str(c, "type"), "lead");
    TEST_EQ_STR(str(c, "locationId"), S.loc[0].id);
    TEST_EQ_INT(cJSON_GetArraySize(get(c, "tags")), 2);
    TEST_CHECK(cJSON_IsTrue(get(c, "dnd")));
    TEST_EQ_STR(cJSON_GetStringValue(cf_value(c, plan)), "Pro");
    TEST_CHECK(cJSON_IsNumber(cf_value(c, score)) && cf_value(c, score)->valuedouble == 7);
    TEST_CHECK(get(c, "address1") && cJSON_IsNull(get(c, "address1")));
    TEST_CHECK(str(c, "dateAdded") && str(c, "dateUpdated"));
    char added[40];
    snprintf(added, sizeof added, "%s", str(c, "dateUpdated"));
    cJSON_Delete(j);

    char path[200];
    snprintf(path, sizeof path, "/contacts/%s", id);
    j = call(0, "GET", path, NULL, &st);
    TEST_EQ_INT(st, 200);
    TEST_EQ_STR(str(get(j, "contact"), "firstName"), "Zoë");
    cJSON_Delete(j);

    /* PUT: merge, tags replace, null clears, custom fields only those sent */
    j = call(0, "PUT", path, "{\"tags\":[\"c\"],\"city\":\"Austin\",\"email\":null}", &st);
    TEST_EQ_INT(st, 200);
    TEST_CHECK(cJSON_IsTrue(get(j, "succeded")));
    c = get(j, "contact");
    TEST_EQ_INT(cJSON_GetArraySize(get(c, "tags")), 1);
    TEST_EQ_STR(str(c, "city"), "Austin");
    TEST_CHECK(cJSON_IsNull(get(c, "email")));
    TEST_EQ_STR(str(c, "firstName"), "Zoë");
    TEST_CHECK(cf_value(c, plan) != NULL);
    TEST_CHECK(strcmp(str(c, "dateUpdated"), added) > 0);
    cJSON_Delete(j);

    /* tags: add (201) and remove (200) answer the whole list */
    snprintf(path, sizeof path, "/contacts/%s/tags", id);
    j = call(0, "POST", path, "{\"tags\":[\"d\",\"c\"]}", &st);
    TEST_EQ_INT(st, 201);
    TEST_EQ_INT(cJSON_GetArraySize(get(j, "tags")), 2);
    cJSON_Delete(j);
    j = call(0, "DELETE", path, "{\"tags\":[\"c\",\"zz\"]}", &st);
    TEST_EQ_INT(st, 200);
    TEST_EQ_INT(cJSON_GetArraySize(get(j, "tags")), 1);
    TEST_EQ_STR(cJSON_GetStringValue(cJSON_GetArrayItem(get(j, "tags"), 0)), "d");
    cJSON_Delete(j);
    j = call(0, "POST", path, "{\"tags\":[\"x\"],\"locationId\":\"y\"}", &st);
    TEST_EQ_INT(st, 422);
    cJSON_Delete(j);
    /* followers: their own endpoints, the answer names what changed */
    snprintf(path, sizeof path, "/contacts/%s/followers", id);
    j = call(0, "POST", path, "{\"followers\":[\"u1\",\"u2\"]}", &st);
    TEST_EQ_INT(st, 201);
    TEST_EQ_INT(cJSON_GetArraySize(get(j, "followers")), 2);
    TEST_EQ_INT(cJSON_GetArraySize(get(j, "followersAdded")), 2);
    cJSON_Delete(j);
    j = call(0, "DELETE", path, "{\"followers\":[\"u1\",\"u9\"]}", &st);
    TEST_EQ_INT(st, 200);
    TEST_EQ_STR(cJSON_GetStringValue(cJSON_GetArrayItem(get(j, "followers"), 0)), "u2");
    TEST_EQ_INT(cJSON_GetArraySize(get(j, "followersRemoved")), 1);
    cJSON_Delete(j);

    /* strict bodies */
    snprintf(path, sizeof path, "/contacts/%s", id);
    static const struct {
        const char *body;
        const char *msg;
    } bad[] = {
        {"{\"additionalEmails\":[\"a@b.co\"]}", "property additionalEmails should not exist"},
        {"{\"locationId\":\"x\"}", "property locationId should not exist"},
        {"{\"type\":\"customer\"}", "property type should not exist"},
        {"{\"followers\":[\"u1\"]}", "property followers should not exist"},
        {"{\"email\":\"not-an-email\"}", "email must be an email"},
        {"{\"phone\":\"12\"}", "phone must be a valid phone number"},
        {"{\"dnd\":\"yes\"}", "dnd must be a boolean value"},
        {"{\"tags\":\"a\"}", "tags must be an array"},
        {"{\"dateOfBirth\":\"1990-02-30\"}", "dateOfBirth"},
        {"{\"dndSettings\":{\"SMS\":{\"status\":\"on\"}}}", "status must be one of"},
        {"{\"customFields\":[{\"id\":\"nope\",\"field_value\":\"x\"}]}", "unknown custom field"},
        {"{\"customFields\":[{\"key\":\"plan\",\"value\":\"Pro\"}]}",
         "property value should not exist"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        j = call(0, "PUT", path, bad[i].body, &st);
        TEST_CHECK_MSG(st == 422 && has_msg(j, bad[i].msg), "%s -> %ld, want 422 \"%s\"",
                       bad[i].body, st, bad[i].msg);
        cJSON_Delete(j);
    }
    j = create("\"additionalEmails\":[\"a@b.co\"]", &st);
    TEST_CHECK(st == 422 && has_msg(j, "property additionalEmails should not exist"));
    cJSON_Delete(j);
    j = call(0, "POST", "/contacts/", "{\"firstName\":\"x\"}", &st);
    TEST_EQ_INT(st, 422);
    cJSON_Delete(j);
    char body[300];
    snprintf(body, sizeof body, "{\"locationId\":\"%s\",\"firstName\":\"x\"}", S.loc[1].id);
    j = call(0, "POST", "/contacts/", body, &st);
    TEST_EQ_INT(st, 403);
    cJSON_Delete(j);
    j = call(0, "POST", "/contacts/", "{not json", &st);
    TEST_EQ_INT(st, 400);
    cJSON_Delete(j);
    /* another location's token does not see the contact */
    j = call(1, "GET", path, NULL, &st);
    TEST_EQ_INT(st, 404);
    cJSON_Delete(j);

    j = call(0, "DELETE", path, NULL, &st);
    TEST_EQ_INT(st, 200);
    TEST_CHECK(cJSON_IsTrue(get(j, "succeded")));
    cJSON_Delete(j);
    j = call(0, "GET", path, NULL, &st);
    TEST_EQ_INT(st, 404);
    TEST_EQ_STR(str(j, "message"), "Contact not found");
    cJSON_Delete(j);
    j = call(0, "DELETE", path, NULL, &st);
    TEST_EQ_INT(st, 404);
    cJSON_Delete(j);
    j = call(0, "GET", "/contacts/search", NULL, &st);
    TEST_EQ_INT(st, 404);
    cJSON_Delete(j);
}

/* every custom field dataType: one value accepted (and how it reads back), one refused */
static void custom_field_types(void)
{
    static const struct {
        const char *key, *good, *readback, *bad;
    } t[] = {
        {"nickname", "\"Zed\"", "\"Zed\"", "5"},
        {"notes", "\"a\\nb\"", "\"a\\nb\"", "[\"x\"]"},
        {"score", "12.5", "12.5", "\"twelve\""},
        {"budget", "\"99.5\"", "99.5", "{\"value\":1}"},
        {"plan", "\"Enterprise\"", "\"Enterprise\"", "\"Gold\""},
        {"interests", "[\"Music\",\"Food\"]", "[\"Music\",\"Food\"]", "[\"Chess\"]"},
        {"newsletter", "[\"Weekly\"]", "[\"Weekly\"]", "\"Weekly\""},
        {"contact_pref", "\"SMS\"", "\"SMS\"", "\"Fax\""},
        {"renewal_date", "\"2026-02-28T10:00:00Z\"", "\"2026-02-28\"", "\"2026-02-30\""},
        {"mobile", "\"+44 20 7946 0958\"", "\"+44 20 7946 0958\"", "\"call me\""},
        {"social", "{\"Twitter\":\"@z\"}", "{\"Twitter\":\"@z\"}", "{\"MySpace\":\"z\"}"},
        {"documents", "{\"u1\":{\"url\":\"https://f/1\",\"documentId\":\"d1\"}}",
         "{\"u1\":{\"url\":\"https://f/1\",\"documentId\":\"d1\"}}", "{\"u1\":{\"name\":\"x\"}}"},
    };
    long st;
    cJSON *j = create("\"firstName\":\"Types\"", &st);
    TEST_REQUIRE(st == 201);
    char path[200];
    snprintf(path, sizeof path, "/contacts/%s", str(get(j, "contact"), "id"));
    cJSON_Delete(j);
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        char id[64], body[1024];
        field_id(t[i].key, id);
        TEST_CHECK_MSG(id[0], "no seeded field %s", t[i].key);
        snprintf(body, sizeof body, "{\"customFields\":[{\"id\":\"%s\",\"field_value\":%s}]}", id,
                 t[i].good);
        j = call(0, "PUT", path, body, &st);
        TEST_CHECK_MSG(st == 200, "%s good value -> %ld", t[i].key, st);
        cJSON *want = cJSON_Parse(t[i].readback);
        TEST_CHECK_MSG(cJSON_Compare(cf_value(get(j, "contact"), id), want, true),
                       "%s reads back wrong", t[i].key);
        cJSON_Delete(want);
        cJSON_Delete(j);
        snprintf(body, sizeof body, "{\"customFields\":[{\"id\":\"%s\",\"field_value\":%s}]}", id,
                 t[i].bad);
        j = call(0, "PUT", path, body, &st);
        TEST_CHECK_MSG(st == 422 && has_msg(j, id), "%s bad value -> %ld", t[i].key, st);
        cJSON_Delete(j);
        /* null clears */
        snprintf(body, sizeof body,
                 "{\"customFields\":[{\"key\":\"contact.%s\",\"field_value\":null}]}", t[i].key);
        j = call(0, "PUT", path, body, &st);
        TEST_CHECK(st == 200 && cf_value(get(j, "contact"), id) == NULL);
        cJSON_Delete(j);
    }
    j = call(0, "DELETE", path, NULL, &st);
    cJSON_Delete(j);
}

static void definitions(void)
{
    char path[200];
    long st;
    snprintf(path, sizeof path, "/locations/%s/customFields?model=contact", S.loc[0].id);
    cJSON *defs = call(0, "GET", path, NULL, &st);
    TEST_EQ_INT(st, 200);
    cJSON *list = get(defs, "customFields");
    TEST_CHECK(cJSON_GetArraySize(list) >= 12);
    static const char *const types[] = {
        "TEXT",     "LARGE_TEXT", "NUMERICAL", "MONETORY", "SINGLE_OPTIONS", "MULTIPLE_OPTIONS",
        "CHECKBOX", "RADIO",      "DATE",      "PHONE",    "TEXTBOX_LIST",   "FILE_UPLOAD"};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        bool found = false;
        cJSON *f;
        cJSON_ArrayForEach(f, list) found |= !strcmp(str(f, "dataType"), types[i]) &&
                                             !strcmp(str(f, "model"), "contact") &&
                                             !strncmp(str(f, "fieldKey"), "contact.", 8);
        TEST_CHECK_MSG(found, "no contact field of type %s", types[i]);
    }
    snprintf(path, sizeof path, "/objects/contact?locationId=%s&fetchProperties=true", S.loc[0].id);
    cJSON *obj = call(0, "GET", path, NULL, &st);
    TEST_EQ_INT(st, 200);
    /* every custom field is in the schema with the same id and fieldKey */
    cJSON *f;
    cJSON_ArrayForEach(f, list)
    {
        bool same = false;
        cJSON *g;
        cJSON_ArrayForEach(g, get(obj, "fields")) same |=
            !strcmp(str(g, "id"), str(f, "id")) &&
            !strcmp(str(g, "fieldKey"), str(f, "fieldKey")) && cJSON_IsFalse(get(g, "standard"));
        TEST_CHECK_MSG(same, "%s missing from /objects/contact", str(f, "fieldKey"));
    }
    bool std_first = false;
    cJSON_ArrayForEach(f, get(obj, "fields")) std_first |=
        !strcmp(str(f, "fieldKey"), "contact.first_name") && cJSON_IsTrue(get(f, "standard"));
    TEST_CHECK(std_first);
    cJSON_Delete(obj);
    cJSON_Delete(defs);
    snprintf(path, sizeof path, "/locations/%s/customFields?model=contact", S.loc[1].id);
    cJSON_Delete(call(0, "GET", path, NULL, &st));
    TEST_EQ_INT(st, 403);
    snprintf(path, sizeof path, "/locations/%s/customFields?model=nope", S.loc[0].id);
    cJSON_Delete(call(0, "GET", path, NULL, &st));
    TEST_EQ_INT(st, 422);

    /* admin: add a field (both listings), give a contact a value, delete it (value gone) */
    snprintf(path, sizeof path, "/_admin/contact-fields?locationId=%s", S.loc[0].id);
    cJSON *nf = admin("POST", path,
                      "{\"key\":\"colour\",\"name\":\"Colour\",\"dataType\":\"SINGLE_OPTIONS\","
                      "\"options\":[\"Red\",\"Blue\"]}",
                      &st);
    TEST_EQ_INT(st, 201);
    char fid[64];
    snprintf(fid, sizeof fid, "%s",
             str(get(nf, "customField"), "id") ? str(get(nf, "customField"), "id") : "");
    cJSON_Delete(nf);
    char id2[64];
    field_id("colour", id2);
    TEST_EQ_STR(id2, fid);
    char m[300];
    snprintf(m, sizeof m, "\"customFields\":[{\"id\":\"%s\",\"field_value\":\"Blue\"}]", fid);
    cJSON *c = create(m, &st);
    TEST_EQ_INT(st, 201);
    char cpath[200];
    snprintf(cpath, sizeof cpath, "/contacts/%s", str(get(c, "contact"), "id"));
    cJSON_Delete(c);
    snprintf(path, sizeof path, "/_admin/contact-fields/%s?locationId=%s", fid, S.loc[0].id);
    admin_ok("PUT", path, "{\"addOptions\":[\"Green\"]}");
    snprintf(m, sizeof m, "{\"customFields\":[{\"id\":\"%s\",\"field_value\":\"Green\"}]}", fid);
    cJSON_Delete(call(0, "PUT", cpath, m, &st));
    TEST_EQ_INT(st, 200);
    admin_ok("DELETE", path, NULL);
    c = call(0, "GET", cpath, NULL, &st);
    TEST_CHECK(st == 200 && cf_value(get(c, "contact"), fid) == NULL);
    cJSON_Delete(c);
    field_id("colour", id2);
    TEST_EQ_STR(id2, "");
    cJSON_Delete(call(0, "DELETE", cpath, NULL, &st));
}

static void search_rules(void)
{
    TEST_EQ_INT(search_status(""), 422); /* pageLimit is required */
    TEST_EQ_INT(search_status("\"pageLimit\":0"), 422);
    TEST_EQ_INT(search_status("\"pageLimit\":501"), 422);
    TEST_EQ_INT(search_status("\"pageLimit\":500"), 200);
    TEST_EQ_INT(search_status("\"pageLimit\":10,\"limit\":5"), 422);
    TEST_EQ_INT(search_status("\"pageLimit\":500,\"page\":20"), 200);
    TEST_EQ_INT(search_status("\"pageLimit\":500,\"page\":21"), 422);
    TEST_EQ_INT(search_status("\"pageLimit\":100,\"page\":101"), 422);
    TEST_EQ_INT(search_status("\"pageLimit\":100,\"page\":101,\"searchAfter\":[1,\"x\"]"), 200);
    TEST_EQ_INT(search_status("\"pageLimit\":5,\"sort\":[{\"field\":\"dateAdded\"},{\"field\":"
                              "\"email\"},{\"field\":\"dnd\"}]"),
                422);
    TEST_EQ_INT(search_status("\"pageLimit\":5,\"sort\":[{\"field\":\"phone\"}]"), 422);
    TEST_EQ_INT(search_status("\"pageLimit\":5,\"filters\":[{\"field\":\"nope\",\"operator\":"
                              "\"eq\",\"value\":1}]"),
                422);
    TEST_EQ_INT(search_status("\"pageLimit\":5,\"filters\":[{\"field\":\"email\",\"operator\":"
                              "\"contains\",\"value\":\"x\"}]"),
                422);
    TEST_EQ_INT(search_status("\"pageLimit\":5,\"filters\":[{\"field\":\"dateUpdated\","
                              "\"operator\":\"range\",\"value\":{\"gte\":\"yesterday\"}}]"),
                422);
    TEST_EQ_INT(search_status("\"pageLimit\":5,\"query\":\"0123456789012345678901234567890123456789"
                              "0123456789012345678901234567890123456789\""),
                422);
    char body[300];
    long st;
    snprintf(body, sizeof body, "{\"locationId\":\"%s\",\"pageLimit\":5}", S.loc[1].id);
    cJSON_Delete(call(0, "POST", "/contacts/search", body, &st));
    TEST_EQ_INT(st, 403);

    /* the search shape: LowerCase names only (switch for the originals), `address` */
    cJSON *j = search("\"pageLimit\":1", &st);
    cJSON *c = cJSON_GetArrayItem(get(j, "contacts"), 0);
    TEST_REQUIRE(c);
    TEST_CHECK(get(c, "firstName") == NULL && get(c, "lastName") == NULL);
    TEST_CHECK(str(c, "firstNameLowerCase") != NULL);
    TEST_CHECK(get(c, "address") != NULL && get(c, "address1") == NULL);
    TEST_CHECK(cJSON_GetArraySize(get(c, "searchAfter")) == 2);
    TEST_CHECK(str(j, "traceId") != NULL);
    cJSON_Delete(j);
    admin_ok("PUT", "/_admin/switches", "{\"searchNames\":true}");
    j = search("\"pageLimit\":1", &st);
    c = cJSON_GetArrayItem(get(j, "contacts"), 0);
    TEST_CHECK(str(c, "firstName") != NULL);
    TEST_CHECK(!strcasecmp(str(c, "firstName"), str(c, "firstNameLowerCase")));
    cJSON_Delete(j);
    admin_ok("PUT", "/_admin/switches", "{\"searchNames\":false}");
}

/* page through everything with searchAfter; every contact exactly once, in order */
static void page_all(const char *sort_field, bool desc, long page_limit, const char *filter,
                     long expect)
{
    char after[200] = "", extra[1024];
    long seen = 0, pages = 0;
    double last = desc ? 1e300 : -1;
    char last_id[64] = "";
    cJSON *ids = cJSON_CreateObject();
    bool order_ok = true, dup = false;
    for (;;) {
        snprintf(extra, sizeof extra,
                 "\"pageLimit\":%ld,\"sort\":[{\"field\":\"%s\",\"direction\":\"%s\"}]%s%s%s%s",
                 page_limit, sort_field, desc ? "desc" : "asc", filter ? ",\"filters\":" : "",
                 filter ? filter : "", after[0] ? ",\"searchAfter\":" : "", after);
        long st;
        cJSON *j = search(extra, &st);
        TEST_REQUIRE(st == 200);
        cJSON *list = get(j, "contacts");
        int n = cJSON_GetArraySize(list);
        if (n == 0) {
            cJSON_Delete(j);
            break;
        }
        pages++;
        cJSON *c;
        cJSON_ArrayForEach(c, list)
        {
            const char *id = str(c, "id");
            if (get(ids, id))
                dup = true;
            cJSON_AddTrueToObject(ids, id);
            double v = cJSON_GetArrayItem(get(c, "searchAfter"), 0)->valuedouble;
            if (desc ? (v > last || (v == last && strcmp(id, last_id) > 0))
                     : (v < last || (v == last && strcmp(id, last_id) < 0)))
                order_ok = false;
            last = v;
            snprintf(last_id, sizeof last_id, "%s", id);
            seen++;
        }
        char *sa = cJSON_PrintUnformatted(get(cJSON_GetArrayItem(list, n - 1), "searchAfter"));
        snprintf(after, sizeof after, "%s", sa);
        free(sa);
        cJSON_Delete(j);
        if (pages > 1000)
            break;
    }
    TEST_CHECK_MSG(seen == expect, "%s %s: saw %ld, want %ld", sort_field, desc ? "desc" : "asc",
                   seen, expect);
    TEST_CHECK(order_ok);
    TEST_CHECK(!dup);
    cJSON_Delete(ids);
}

static void search_paging(void)
{
    cJSON *root;
    cJSON *all = dump(&root);
    long n = cJSON_GetArraySize(all);
    TEST_CHECK(n >= N_SEEDED);
    TEST_EQ_INT(total_of("\"pageLimit\":1"), n);
    page_all("dateAdded", false, 500, NULL, n);
    page_all("dateUpdated", false, 500, NULL, n);
    page_all("dateUpdated", true, 97, NULL, n);
    /* the incremental pull: updated since T, by dateUpdated, both value forms of T */
    const char *t = "2024-01-05T00:00:00.000Z";
    long since = 0;
    cJSON *c;
    cJSON_ArrayForEach(c, all) since += strcmp(str(c, "dateUpdated"), t) >= 0;
    TEST_CHECK(since > 0 && since < n);
    char f[300];
    snprintf(f, sizeof f,
             "[{\"field\":\"dateUpdated\",\"operator\":\"range\",\"value\":{\"gte\":\"%s\"}}]", t);
    page_all("dateUpdated", false, 500, f, since);
    snprintf(f, sizeof f,
             "[{\"field\":\"dateUpdated\",\"operator\":\"range\",\"value\":{\"gte\":%lld}}]",
             1704412800000LL);
    page_all("dateUpdated", false, 250, f, since);
    char extra[400];
    snprintf(extra, sizeof extra, "\"pageLimit\":10,\"filters\":%s", f);
    TEST_EQ_INT(total_of(extra), since);

    /* page offsets read the same sequence as the cursor */
    long st;
    cJSON *p2 = search(
        "\"pageLimit\":7,\"page\":3,\"sort\":[{\"field\":\"dateAdded\",\"direction\":\"asc\"}]",
        &st);
    TEST_EQ_STR(str(cJSON_GetArrayItem(get(p2, "contacts"), 0), "id"),
                str(cJSON_GetArrayItem(all, 14), "id"));
    cJSON_Delete(p2);
    /* two sorts: gathered, cursor of three elements */
    cJSON *two = search("\"pageLimit\":50,\"sort\":[{\"field\":\"lastNameLowerCase\",\"direction\":"
                        "\"asc\"},{\"field\":\"dateUpdated\",\"direction\":\"desc\"}]",
                        &st);
    TEST_EQ_INT(st, 200);
    cJSON *first = cJSON_GetArrayItem(get(two, "contacts"), 0);
    TEST_EQ_INT(cJSON_GetArraySize(get(first, "searchAfter")), 3);
    bool sorted = true;
    for (int i = 1; i < cJSON_GetArraySize(get(two, "contacts")); i++)
        sorted &=
            strcmp(str(cJSON_GetArrayItem(get(two, "contacts"), i - 1), "lastNameLowerCase"),
                   str(cJSON_GetArrayItem(get(two, "contacts"), i), "lastNameLowerCase")) <= 0;
    TEST_CHECK(sorted);
    cJSON_Delete(two);
    cJSON_Delete(root);
}

/* filters against a count computed from the admin dump */
static void search_filters(void)
{
    char plan[64], score[64], social[64];
    field_id("plan", plan);
    field_id("score", score);
    field_id("social", social);
    cJSON *root;
    cJSON *all = dump(&root);
    long vip = 0, pro = 0, hi = 0, no_email = 0, vip_or_pro = 0, dnd = 0, q = 0;
    cJSON *c;
    cJSON_ArrayForEach(c, all)
    {
        bool v = false, p;
        cJSON *t;
        cJSON_ArrayForEach(t, get(c, "tags")) v |= !strcmp(t->valuestring, "vip");
        const cJSON *pv = cf_value(c, plan), *sv = cf_value(c, score);
        p = cJSON_IsString(pv) && !strcmp(pv->valuestring, "Pro");
        vip += v;
        pro += p;
        vip_or_pro += v || p;
        hi += cJSON_IsNumber(sv) && sv->valuedouble >= 50 && sv->valuedouble < 80;
        no_email += !str(c, "email");
        dnd += cJSON_IsTrue(get(c, "dnd"));
        q += str(c, "lastName") && strstr(str(c, "lastName"), "Müll") != NULL;
    }
    char extra[1024];
    TEST_EQ_INT(total_of("\"pageLimit\":1,\"filters\":[{\"field\":\"tags\",\"operator\":\"eq\","
                         "\"value\":\"vip\"}]"),
                vip);
    snprintf(extra, sizeof extra,
             "\"pageLimit\":1,\"filters\":[{\"field\":\"customFields.%s\",\"operator\":\"eq\","
             "\"value\":\"Pro\"}]",
             plan);
    TEST_EQ_INT(total_of(extra), pro);
    snprintf(extra, sizeof extra,
             "\"pageLimit\":1,\"filters\":[{\"field\":\"customFields.%s\",\"operator\":\"range\","
             "\"value\":{\"gte\":50,\"lt\":80}}]",
             score);
    TEST_EQ_INT(total_of(extra), hi);
    TEST_EQ_INT(total_of("\"pageLimit\":1,\"filters\":[{\"field\":\"email\",\"operator\":"
                         "\"not_exists\"}]"),
                no_email);
    TEST_EQ_INT(total_of("\"pageLimit\":1,\"filters\":[{\"field\":\"dnd\",\"operator\":\"eq\","
                         "\"value\":true}]"),
                dnd);
    snprintf(extra, sizeof extra,
             "\"pageLimit\":1,\"filters\":[{\"group\":\"OR\",\"filters\":[{\"field\":\"tags\","
             "\"operator\":\"eq\",\"value\":\"vip\"},{\"field\":\"customFields.%s\",\"operator\":"
             "\"eq\",\"value\":\"Pro\"}]}]",
             plan);
    TEST_EQ_INT(total_of(extra), vip_or_pro);
    TEST_EQ_INT(total_of("\"pageLimit\":1,\"query\":\"MÜLL\""), q);
    /* email eq is case-insensitive */
    const char *em = NULL;
    cJSON_ArrayForEach(c, all) if (!em && str(c, "email")) em = str(c, "email");
    TEST_REQUIRE(em != NULL);
    char up[200];
    snprintf(up, sizeof up, "%s", em);
    for (char *p = up; *p; p++)
        *p = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
    snprintf(
        extra, sizeof extra,
        "\"pageLimit\":1,\"filters\":[{\"field\":\"email\",\"operator\":\"eq\",\"value\":\"%s\"}]",
        up);
    TEST_CHECK(total_of(extra) >= 1);
    snprintf(extra, sizeof extra,
             "\"pageLimit\":1,\"filters\":[{\"field\":\"customFields.%s.Twitter\",\"operator\":"
             "\"exists\"}]",
             social);
    TEST_CHECK(total_of(extra) > 0);
    cJSON_Delete(root);
}

static void switches(void)
{
    long n = total_of("\"pageLimit\":1");
    long vip = total_of("\"pageLimit\":1,\"filters\":[{\"field\":\"tags\",\"operator\":\"eq\","
                        "\"value\":\"vip\"}]");
    TEST_CHECK(vip > 0 && vip < n);
    long st;
    admin_ok("PUT", "/_admin/switches", "{\"pageCap\":100}");
    cJSON *j = search("\"pageLimit\":500", &st);
    TEST_EQ_INT(cJSON_GetArraySize(get(j, "contacts")), 100);
    TEST_EQ_INT((long)get(j, "total")->valuedouble, n);
    cJSON_Delete(j);
    admin_ok("PUT", "/_admin/switches", "{\"pageCap\":0,\"filters\":\"ignore\"}");
    TEST_EQ_INT(total_of("\"pageLimit\":1,\"filters\":[{\"field\":\"tags\",\"operator\":\"eq\","
                         "\"value\":\"vip\"}]"),
                n);
    admin_ok("PUT", "/_admin/switches", "{\"filters\":\"reject\"}");
    TEST_EQ_INT(search_status("\"pageLimit\":1,\"filters\":[{\"field\":\"tags\",\"operator\":"
                              "\"eq\",\"value\":\"vip\"}]"),
                422);
    admin_ok("PUT", "/_admin/switches", "{\"filters\":\"on\",\"sort\":false}");
    j = search("\"pageLimit\":3,\"sort\":[{\"field\":\"dateUpdated\",\"direction\":\"desc\"}]",
               &st);
    cJSON *d = search("\"pageLimit\":3", &st);
    TEST_EQ_STR(str(cJSON_GetArrayItem(get(j, "contacts"), 0), "id"),
                str(cJSON_GetArrayItem(get(d, "contacts"), 0), "id"));
    cJSON_Delete(j);
    cJSON_Delete(d);
    admin_ok("PUT", "/_admin/switches", "{\"sort\":true,\"omitTotal\":true}");
    j = search("\"pageLimit\":3", &st);
    TEST_CHECK(st == 200 && get(j, "total") == NULL);
    cJSON_Delete(j);
    admin_ok("PUT", "/_admin/switches", "{\"omitTotal\":false}");
}

/* The search index lag: a large lag shows what search sees before, lag 0 lets it through
 * (no sleeps: the test does not depend on timing). */
static void index_lag(void)
{
    long st;
    long n = total_of("\"pageLimit\":1");
    cJSON *j =
        search("\"pageLimit\":1,\"sort\":[{\"field\":\"dateAdded\",\"direction\":\"asc\"}]", &st);
    char old_id[64], old_upd[40];
    snprintf(old_id, sizeof old_id, "%s", str(cJSON_GetArrayItem(get(j, "contacts"), 0), "id"));
    snprintf(old_upd, sizeof old_upd, "%s",
             str(cJSON_GetArrayItem(get(j, "contacts"), 0), "dateUpdated"));
    cJSON_Delete(j);

    admin_ok("PUT", "/_admin/switches", "{\"indexLagMs\":600000}");
    j = create("\"firstName\":\"Lagging\",\"email\":\"lag@example.com\"", &st);
    TEST_REQUIRE(st == 201);
    char path[200];
    snprintf(path, sizeof path, "/contacts/%s", str(get(j, "contact"), "id"));
    cJSON_Delete(j);
    cJSON_Delete(call(0, "GET", path, NULL, &st));
    TEST_EQ_INT(st, 200); /* GET sees it at once */
    TEST_EQ_INT(total_of("\"pageLimit\":1"), n);
    TEST_EQ_INT(total_of("\"pageLimit\":1,\"query\":\"Lagging\""), 0);
    /* an update: search still has the old version at its old dateUpdated */
    char opath[200];
    snprintf(opath, sizeof opath, "/contacts/%s", old_id);
    j = call(0, "PUT", opath, "{\"city\":\"Lagville\"}", &st);
    TEST_EQ_INT(st, 200);
    TEST_EQ_STR(str(get(j, "contact"), "city"), "Lagville");
    cJSON_Delete(j);
    char f[600];
    snprintf(
        f, sizeof f,
        "\"pageLimit\":1,\"filters\":[{\"field\":\"id\",\"operator\":\"eq\",\"value\":\"%s\"}]",
        old_id);
    j = search(f, &st);
    cJSON *c = cJSON_GetArrayItem(get(j, "contacts"), 0);
    TEST_EQ_STR(str(c, "dateUpdated"), old_upd);
    TEST_CHECK(!str(c, "city") || strcmp(str(c, "city"), "Lagville"));
    cJSON_Delete(j);
    /* the duplicate lookup reads the store: it finds the new contact at once */
    char dpath[300];
    snprintf(dpath, sizeof dpath, "/contacts/search/duplicate?locationId=%s&email=LAG@example.com",
             S.loc[0].id);
    j = call(0, "GET", dpath, NULL, &st);
    TEST_EQ_INT(st, 200);
    TEST_EQ_STR(str(get(j, "contact"), "id"), path + strlen("/contacts/"));
    cJSON_Delete(j);
    /* a delete: search still lists it, GET does not */
    cJSON_Delete(call(0, "DELETE", path, NULL, &st));
    j = call(0, "GET", dpath, NULL, &st);
    TEST_CHECK(st == 200 && cJSON_IsNull(get(j, "contact")));
    cJSON_Delete(j);
    snprintf(dpath, sizeof dpath, "/contacts/search/duplicate?locationId=%s&phone=1", S.loc[0].id);
    cJSON_Delete(call(0, "GET", dpath, NULL, &st));
    TEST_EQ_INT(st, 422);
    cJSON_Delete(call(0, "GET", path, NULL, &st));
    TEST_EQ_INT(st, 404);
    TEST_EQ_INT(total_of("\"pageLimit\":1"), n);

    admin_ok("PUT", "/_admin/switches", "{\"indexLagMs\":0}");
    j = search(f, &st);
    c = cJSON_GetArrayItem(get(j, "contacts"), 0);
    TEST_EQ_STR(str(c, "city"), "Lagville");
    TEST_CHECK(strcmp(str(c, "dateUpdated"), old_upd) > 0);
    cJSON_Delete(j);
    TEST_EQ_INT(total_of("\"pageLimit\":1"), n); /* created then deleted */
    TEST_EQ_INT(total_of("\"pageLimit\":1,\"query\":\"Lagging\""), 0);
}

static void duplicates_and_upsert(void)
{
    long st;
    char path[200];
    snprintf(path, sizeof path, "/_admin/contact-settings?locationId=%s", S.loc[0].id);
    /* allowed by default */
    cJSON *a = create("\"firstName\":\"Dup\",\"lastName\":\"One\",\"email\":\"dup@example.com\","
                      "\"phone\":\"+15550009999\"",
                      &st);
    TEST_REQUIRE(st == 201);
    char id1[64];
    snprintf(id1, sizeof id1, "%s", str(get(a, "contact"), "id"));
    cJSON_Delete(a);
    a = create("\"firstName\":\"Dup\",\"email\":\"dup@example.com\"", &st);
    TEST_EQ_INT(st, 201);
    char id2[64], p2[200];
    snprintf(id2, sizeof id2, "%s", str(get(a, "contact"), "id"));
    snprintf(p2, sizeof p2, "/contacts/%s", id2);
    cJSON_Delete(a);
    cJSON_Delete(call(0, "DELETE", p2, NULL, &st));

    admin_ok("PUT", path, "{\"duplicates\":[\"email\",\"phone\"]}");
    a = create("\"firstName\":\"Dup2\",\"email\":\"DUP@example.com\"", &st);
    TEST_EQ_INT(st, 400);
    TEST_EQ_STR(str(a, "message"), "This location does not allow duplicated contacts.");
    TEST_EQ_STR(str(get(a, "meta"), "contactId"), id1);
    TEST_EQ_STR(str(get(a, "meta"), "contactName"), "Dup One");
    TEST_EQ_STR(str(get(a, "meta"), "matchingField"), "email");
    cJSON_Delete(a);
    a = create("\"firstName\":\"Dup3\",\"phone\":\"555-000-9999\"", &st);
    TEST_EQ_INT(st, 400);
    TEST_EQ_STR(str(get(a, "meta"), "matchingField"), "phone");
    cJSON_Delete(a);
    cJSON *g;
    a = admin("GET", path, NULL, &st);
    TEST_EQ_INT(cJSON_GetArraySize(get(a, "duplicates")), 2);
    cJSON_Delete(a);
    TEST_EQ_INT(total_of("\"pageLimit\":1,\"filters\":[{\"field\":\"email\",\"operator\":\"eq\","
                         "\"value\":\"dup@example.com\"}]"),
                1);

    /* upsert: the match is updated (tags replaced), otherwise a new contact */
    char body[600];
    snprintf(body, sizeof body,
             "{\"locationId\":\"%s\",\"email\":\"dup@example.com\",\"city\":\"Upsertville\","
             "\"tags\":[\"u\"]}",
             S.loc[0].id);
    g = call(0, "POST", "/contacts/upsert", body, &st);
    TEST_EQ_INT(st, 200);
    TEST_CHECK(cJSON_IsFalse(get(g, "new")));
    TEST_EQ_STR(str(get(g, "contact"), "id"), id1);
    TEST_EQ_STR(str(get(g, "contact"), "city"), "Upsertville");
    TEST_EQ_STR(str(get(g, "contact"), "phone"), "+15550009999");
    cJSON_Delete(g);
    snprintf(body, sizeof body, "{\"locationId\":\"%s\",\"email\":\"fresh@example.com\"}",
             S.loc[0].id);
    g = call(0, "POST", "/contacts/upsert", body, &st);
    TEST_EQ_INT(st, 200);
    TEST_CHECK(cJSON_IsTrue(get(g, "new")));
    snprintf(p2, sizeof p2, "/contacts/%s", str(get(g, "contact"), "id"));
    cJSON_Delete(g);
    cJSON_Delete(call(0, "DELETE", p2, NULL, &st));
    snprintf(body, sizeof body, "{\"locationId\":\"%s\",\"createNewIfDuplicateAllowed\":\"yes\"}",
             S.loc[0].id);
    cJSON_Delete(call(0, "POST", "/contacts/upsert", body, &st));
    TEST_EQ_INT(st, 422);
    admin_ok("PUT", path, "{\"duplicates\":[]}");
    snprintf(p2, sizeof p2, "/contacts/%s", id1);
    cJSON_Delete(call(0, "DELETE", p2, NULL, &st));
    TEST_EQ_INT(st, 200);
    TEST_EQ_INT(tsim_admin(&S, "PUT", path, "{\"duplicates\":[\"name\"]}", NULL), 422);
}

static void faults_and_another_user(void)
{
    long n = total_of("\"pageLimit\":1");
    /* a reset after the create: the client sees no answer, the contact exists */
    admin_ok("POST", "/_admin/faults",
             "{\"kind\":\"reset_after\",\"method\":\"POST\",\"path\":\"/contacts/\",\"count\":1}");
    char body[300];
    snprintf(body, sizeof body, "{\"locationId\":\"%s\",\"firstName\":\"Ghost\"}", S.loc[0].id);
    TEST_EQ_INT(tsim_api(&S, 0, "POST", "/contacts/", body, NULL), -1);
    TEST_EQ_INT(total_of("\"pageLimit\":1"), n + 1);
    TEST_EQ_INT(total_of("\"pageLimit\":1,\"query\":\"Ghost\""), 1);
    admin_ok("POST", "/_admin/faults",
             "{\"kind\":\"error\",\"status\":503,\"path\":\"/contacts/search\",\"count\":1}");
    TEST_EQ_INT(search_status("\"pageLimit\":1"), 503);
    admin_ok("POST", "/_admin/faults", "{\"kind\":\"rate429\",\"path\":\"/contacts\",\"count\":1}");
    TEST_EQ_INT(search_status("\"pageLimit\":1"), 429);
    admin_ok("POST", "/_admin/faults",
             "{\"kind\":\"truncate\",\"path\":\"/contacts\",\"count\":1}");
    char *resp = NULL;
    snprintf(body, sizeof body, "{\"locationId\":\"%s\",\"pageLimit\":5}", S.loc[0].id);
    TEST_EQ_INT(tsim_api(&S, 0, "POST", "/contacts/search", body, &resp), 200);
    cJSON *j = resp ? cJSON_Parse(resp) : NULL;
    TEST_CHECK(j == NULL);
    cJSON_Delete(j);
    free(resp);
    admin_ok("DELETE", "/_admin/faults", NULL);

    /* another user on contacts: creates, edits (tags too), deletes, as the counters say */
    long st;
    cJSON *before_root, *before = dump(&before_root);
    char path[200];
    snprintf(path, sizeof path, "{\"locationId\":\"%s\",\"objectKey\":\"contact\"}", S.loc[0].id);
    admin_ok("PUT", "/_admin/another-user", path);
    admin_ok("POST", "/_admin/counters/reset", NULL);
    cJSON *ctr = admin("POST", "/_admin/another-user/step", "{\"n\":60}", &st);
    cJSON *au = get(ctr, "anotherUser");
    long cr = (long)get(au, "creates")->valuedouble, de = (long)get(au, "deletes")->valuedouble;
    TEST_CHECK(cr > 0 && get(au, "edits")->valuedouble > 0 && de > 0);
    cJSON_Delete(ctr);
    TEST_EQ_INT(total_of("\"pageLimit\":1"), cJSON_GetArraySize(before) + cr - de);
    cJSON *after_root, *after = dump(&after_root);
    long tag_changes = 0;
    cJSON *a;
    cJSON_ArrayForEach(a, after)
    {
        cJSON *b;
        cJSON_ArrayForEach(b, before)
        {
            if (!strcmp(str(a, "id"), str(b, "id")) &&
                !cJSON_Compare(get(a, "tags"), get(b, "tags"), true))
                tag_changes++;
        }
    }
    TEST_CHECK(tag_changes > 0);
    cJSON_Delete(before_root);
    cJSON_Delete(after_root);
    admin_ok("PUT", "/_admin/another-user", "{\"objectKey\":\"\",\"locationId\":\"\"}");
}

static void admin_edits_and_state(void)
{
    long st;
    char path[300];
    snprintf(path, sizeof path, "/_admin/contacts?locationId=%s", S.loc[0].id);
    cJSON *c = admin("POST", path,
                     "{\"firstName\":\"Web\",\"type\":\"customer\",\"businessId\":\"b1\","
                     "\"additionalEmails\":[\"w2@example.com\"],\"dateAdded\":"
                     "\"2023-06-01T00:00:00Z\",\"customFields\":[{\"key\":\"plan\",\"value\":"
                     "\"Basic\"}]}",
                     &st);
    TEST_EQ_INT(st, 201);
    char id[64];
    snprintf(id, sizeof id, "%s", str(get(c, "contact"), "id"));
    TEST_EQ_STR(str(get(c, "contact"), "type"), "customer");
    TEST_EQ_STR(str(get(c, "contact"), "dateAdded"), "2023-06-01T00:00:00.000Z");
    cJSON_Delete(c);
    snprintf(path, sizeof path, "/_admin/contacts/%s/tags?locationId=%s", id, S.loc[0].id);
    c = admin("POST", path, "{\"tags\":[\"web\"]}", &st);
    TEST_EQ_INT(st, 200);
    TEST_EQ_INT(cJSON_GetArraySize(get(get(c, "contact"), "tags")), 1);
    cJSON_Delete(c);
    snprintf(path, sizeof path, "/_admin/contacts/%s?locationId=%s", id, S.loc[0].id);
    c = admin("PUT", path, "{\"city\":\"Webtown\",\"dateUpdated\":\"2023-07-01T00:00:00Z\"}", &st);
    TEST_EQ_INT(st, 200);
    TEST_EQ_STR(str(get(c, "contact"), "dateUpdated"), "2023-07-01T00:00:00.000Z");
    cJSON_Delete(c);

    /* state dump -> load -> dump: the same contacts and definitions */
    snprintf(path, sizeof path, "/_admin/state?locationId=%s", S.loc[0].id);
    char *s1 = NULL, *s2 = NULL;
    TEST_REQUIRE(tsim_admin(&S, "GET", path, NULL, &s1) == 200);
    TEST_EQ_INT(tsim_admin(&S, "POST", "/_admin/state", s1, NULL), 200);
    TEST_REQUIRE(tsim_admin(&S, "GET", path, NULL, &s2) == 200);
    cJSON *a = cJSON_Parse(s1), *b = cJSON_Parse(s2);
    cJSON *ca = NULL, *cb = NULL, *o;
    cJSON_ArrayForEach(o, get(cJSON_GetArrayItem(get(a, "locations"), 0),
                              "objects")) if (!strcmp(str(get(o, "object"), "key"), "contact")) ca =
        o;
    cJSON_ArrayForEach(o, get(cJSON_GetArrayItem(get(b, "locations"), 0),
                              "objects")) if (!strcmp(str(get(o, "object"), "key"), "contact")) cb =
        o;
    TEST_REQUIRE(ca && cb);
    TEST_CHECK(cJSON_GetArraySize(get(ca, "contacts")) > N_SEEDED / 2);
    TEST_CHECK(cJSON_Compare(get(ca, "contacts"), get(cb, "contacts"), true));
    TEST_CHECK(cJSON_Compare(get(ca, "fields"), get(cb, "fields"), true));
    cJSON_Delete(a);
    cJSON_Delete(b);
    free(s1);
    free(s2);
    snprintf(path, sizeof path, "/_admin/contacts/%s?locationId=%s", id, S.loc[0].id);
    admin_ok("DELETE", path, NULL);
    snprintf(path, sizeof path, "/contacts/%s", id);
    cJSON_Delete(call(0, "GET", path, NULL, &st));
    TEST_EQ_INT(st, 404);
}

int main(void)
{
    char n[16];
    snprintf(n, sizeof n, "%d", N_SEEDED);
    const char *args[] = {
        "--seed-contacts", n, "--seed-records", "5", "--burst", "0", "--daily", "0", NULL};
    if (tsim_start(&S, args) != 0) {
        test_report("hlsim starts", false, "see # lines");
        return test_done();
    }
    TEST_RUN(crud_and_shapes);
    TEST_RUN(custom_field_types);
    TEST_RUN(definitions);
    TEST_RUN(search_rules);
    TEST_RUN(search_paging);
    TEST_RUN(search_filters);
    TEST_RUN(switches);
    TEST_RUN(index_lag);
    TEST_RUN(duplicates_and_upsert);
    TEST_RUN(faults_and_another_user);
    TEST_RUN(admin_edits_and_state);
    tsim_stop(&S);
    return test_done();
}
