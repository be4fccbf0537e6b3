/*
 * test_hlsim_assoc.c - the simulator's associations and relations over real HTTP: the listing
 * with the system association, skip/limit (required, limit 1..100), relations per record paged
 * and filtered by associationIds, create (validation, wrong ends, unknown association, the
 * system association refused, duplicate -> 400), delete, the cascade when a record, a contact
 * or an opportunity is deleted (API and web user), the admin relate/unrelate "as another user",
 * a user-defined association deleted with its relations, and the counters.
 */
#include "test.h"
#include "tsim.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_REL 100 /* relations per seeded association: some records get several pages */

static tsim S;
static char PET_OWNER[64], VAC_PET[64];

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

/* every relation of location 0 (admin view), creation order */
static cJSON *all_relations(void)
{
    char path[200];
    long st;
    snprintf(path, sizeof path, "/_admin/relations?locationId=%s", S.loc[0].id);
    cJSON *j = admin("GET", path, NULL, &st);
    TEST_CHECK(st == 200);
    return j;
}

/* every relation of one record through the public listing, page by page */
static cJSON *record_relations(const char *rec, const char *assoc, int limit, int *pages)
{
    cJSON *out = cJSON_CreateArray();
    *pages = 0;
    for (int skip = 0;; skip += limit) {
        char path[400];
        long st;
        snprintf(path, sizeof path, "/associations/relations/%s?locationId=%s&skip=%d&limit=%d%s%s",
                 rec, S.loc[0].id, skip, limit, assoc ? "&associationIds=" : "",
                 assoc ? assoc : "");
        cJSON *j = call(0, "GET", path, NULL, &st);
        TEST_CHECK(st == 200);
        (*pages)++;
        cJSON *rels = get(j, "relations"), *it;
        int n = cJSON_GetArraySize(rels);
        TEST_CHECK(cJSON_IsNumber(get(j, "total")));
        cJSON_ArrayForEach(it, rels) cJSON_AddItemToArray(out, cJSON_Duplicate(it, 1));
        cJSON_Delete(j);
        if (n < limit || *pages > 1000)
            break;
    }
    return out;
}

static void listing(void)
{
    char path[300];
    long st;
    snprintf(path, sizeof path, "/associations/?locationId=%s&skip=0&limit=100", S.loc[0].id);
    cJSON *j = call(0, "GET", path, NULL, &st);
    TEST_REQUIRE(st == 200);
    TEST_EQ_INT(cJSON_GetArraySize(get(j, "associations")), 3);
    TEST_EQ_INT(get(j, "total")->valuedouble, 3);
    cJSON *a;
    bool sys = false;
    cJSON_ArrayForEach(a, get(j, "associations"))
    {
        TEST_EQ_STR(str(a, "locationId"), S.loc[0].id);
        if (!strcmp(str(a, "key"), "OPPORTUNITIES_CONTACTS_ASSOCIATION")) {
            sys = true;
            TEST_EQ_STR(str(a, "associationType"), "SYSTEM_DEFINED");
            TEST_EQ_STR(str(a, "id"), "OPPORTUNITIES_CONTACTS_ASSOCIATION");
            TEST_EQ_STR(str(a, "firstObjectKey"), "opportunity");
            TEST_EQ_STR(str(a, "secondObjectKey"), "contact");
        } else if (!strcmp(str(a, "key"), "pet_owner")) {
            snprintf(PET_OWNER, sizeof PET_OWNER, "%s", str(a, "id"));
            TEST_EQ_STR(str(a, "firstObjectKey"), "custom_objects.pet");
            TEST_EQ_STR(str(a, "secondObjectKey"), "contact");
            TEST_EQ_STR(str(a, "associationType"), "USER_DEFINED");
        } else if (!strcmp(str(a, "key"), "vaccination_pet")) {
            snprintf(VAC_PET, sizeof VAC_PET, "%s", str(a, "id"));
        }
    }
    TEST_CHECK(sys && PET_OWNER[0] && VAC_PET[0]);
    cJSON_Delete(j);
    /* paging of the associations listing */
    snprintf(path, sizeof path, "/associations/?locationId=%s&skip=2&limit=1", S.loc[0].id);
    j = call(0, "GET", path, NULL, &st);
    TEST_EQ_INT(cJSON_GetArraySize(get(j, "associations")), 1);
    TEST_EQ_INT(get(j, "total")->valuedouble, 3);
    cJSON_Delete(j);
    /* skip and limit are required, limit at most 100; another location's -> 403 */
    snprintf(path, sizeof path, "/associations/?locationId=%s&limit=10", S.loc[0].id);
    cJSON_Delete(call(0, "GET", path, NULL, &st));
    TEST_EQ_INT(st, 422);
    snprintf(path, sizeof path, "/associations/?locationId=%s&skip=0&limit=101", S.loc[0].id);
    cJSON_Delete(call(0, "GET", path, NULL, &st));
    TEST_EQ_INT(st, 422);
    snprintf(path, sizeof path, "/associations/?locationId=%s&skip=0&limit=10", S.loc[1].id);
    cJSON_Delete(call(0, "GET", path, NULL, &st));
    TEST_EQ_INT(st, 403);
    /* by id and by key */
    snprintf(path, sizeof path, "/associations/%s", PET_OWNER);
    j = call(0, "GET", path, NULL, &st);
    TEST_EQ_INT(st, 200);
    TEST_EQ_STR(str(j, "key"), "pet_owner");
    cJSON_Delete(j);
    snprintf(path, sizeof path, "/associations/key/vaccination_pet?locationId=%s", S.loc[0].id);
    j = call(0, "GET", path, NULL, &st);
    TEST_EQ_STR(str(j, "id"), VAC_PET);
    cJSON_Delete(j);
}

/* The listing per record, paged by skip/limit, gives exactly the admin view's relations of
 * that record (either end); associationIds filters. */
static void per_record_paging(void)
{
    cJSON *all = all_relations();
    TEST_REQUIRE(all);
    TEST_EQ_INT(cJSON_GetArraySize(get(all, "relations")), 2 * N_REL);
    /* the pet with the most relations */
    const char *best = NULL;
    int best_n = 0;
    cJSON *r, *q;
    cJSON_ArrayForEach(r, get(all, "relations"))
    {
        const char *pet = !strcmp(str(r, "associationId"), PET_OWNER) ? str(r, "firstRecordId")
                                                                      : str(r, "secondRecordId");
        int n = 0;
        cJSON_ArrayForEach(q, get(all, "relations")) n +=
            !strcmp(str(q, "firstRecordId"), pet) || !strcmp(str(q, "secondRecordId"), pet);
        if (n > best_n) {
            best_n = n;
            best = pet;
        }
    }
    TEST_REQUIRE(best && best_n >= 3);
    char bestc[64];
    snprintf(bestc, sizeof bestc, "%s", best);
    best = bestc;
    int pages = 0;
    cJSON *got = record_relations(best, NULL, 2, &pages);
    TEST_EQ_INT(cJSON_GetArraySize(got), best_n);
    TEST_EQ_INT(pages, best_n / 2 + 1);
    cJSON_ArrayForEach(r, got)
    {
        TEST_CHECK(!strcmp(str(r, "firstRecordId"), best) ||
                   !strcmp(str(r, "secondRecordId"), best));
        bool found = false;
        cJSON_ArrayForEach(q, get(all, "relations")) found = found || cJSON_Compare(q, r, true);
        TEST_CHECK(found);
        TEST_CHECK(str(r, "id") && str(r, "associationId") && str(r, "locationId"));
    }
    cJSON *only = record_relations(best, PET_OWNER, 100, &pages);
    cJSON_ArrayForEach(r, only) TEST_EQ_STR(str(r, "associationId"), PET_OWNER);
    TEST_CHECK(cJSON_GetArraySize(only) < best_n || best_n == 0);
    cJSON_Delete(only);
    cJSON_Delete(got);
    cJSON_Delete(all);
    /* limit 0 / 101 / missing skip -> 422 */
    char path[300];
    long st;
    snprintf(path, sizeof path, "/associations/relations/%s?locationId=%s&skip=0&limit=0", best,
             S.loc[0].id);
    cJSON_Delete(call(0, "GET", path, NULL, &st));
    TEST_EQ_INT(st, 422);
    snprintf(path, sizeof path, "/associations/relations/%s?locationId=%s&limit=5", best,
             S.loc[0].id);
    cJSON_Delete(call(0, "GET", path, NULL, &st));
    TEST_EQ_INT(st, 422);
}

static void first_id(const char *object, char *out, size_t len, int index)
{
    char body[300];
    long st;
    snprintf(body, sizeof body, "{\"locationId\":\"%s\",\"page\":1,\"pageLimit\":%d}", S.loc[0].id,
             index + 1);
    char path[200];
    snprintf(path, sizeof path, "/objects/%s/records/search", object);
    cJSON *j = call(0, "POST", path, body, &st);
    snprintf(out, len, "%s", str(cJSON_GetArrayItem(get(j, "records"), index), "id"));
    cJSON_Delete(j);
}

static void first_contact(char *out, size_t len, int index)
{
    char body[200];
    long st;
    snprintf(body, sizeof body, "{\"locationId\":\"%s\",\"pageLimit\":%d}", S.loc[0].id, index + 1);
    cJSON *j = call(0, "POST", "/contacts/search", body, &st);
    snprintf(out, len, "%s", str(cJSON_GetArrayItem(get(j, "contacts"), index), "id"));
    cJSON_Delete(j);
}

static int count_for(const char *rec)
{
    int pages;
    cJSON *l = record_relations(rec, NULL, 100, &pages);
    int n = cJSON_GetArraySize(l);
    cJSON_Delete(l);
    return n;
}

/* a new pet: created, related, duplicate refused, deleted */
static void create_and_delete(void)
{
    char body[600], path[300], contact[64], contact2[64], vac[64];
    long st;
    first_contact(contact, sizeof contact, 0);
    first_contact(contact2, sizeof contact2, 1);
    first_id("custom_objects.vaccination", vac, sizeof vac, 0);
    snprintf(body, sizeof body, "{\"locationId\":\"%s\",\"properties\":{\"name\":\"Rel\"}}",
             S.loc[0].id);
    cJSON *j = call(0, "POST", "/objects/custom_objects.pet/records", body, &st);
    TEST_REQUIRE(st == 201);
    char pet[64];
    snprintf(pet, sizeof pet, "%s", str(get(j, "record"), "id"));
    cJSON_Delete(j);
    TEST_EQ_INT(count_for(pet), 0);

    snprintf(body, sizeof body,
             "{\"locationId\":\"%s\",\"associationId\":\"%s\",\"firstRecordId\":\"%s\","
             "\"secondRecordId\":\"%s\"}",
             S.loc[0].id, PET_OWNER, pet, contact);
    j = call(0, "POST", "/associations/relations", body, &st);
    TEST_EQ_INT(st, 201);
    char rel[64];
    snprintf(rel, sizeof rel, "%s", str(j, "id") ? str(j, "id") : "");
    TEST_EQ_STR(str(j, "associationId"), PET_OWNER);
    TEST_EQ_STR(str(j, "firstRecordId"), pet);
    TEST_EQ_STR(str(j, "secondRecordId"), contact);
    cJSON_Delete(j);
    TEST_EQ_INT(count_for(pet), 1);
    /* the same pair again: 400 "duplicate relation" */
    j = call(0, "POST", "/associations/relations", body, &st);
    TEST_EQ_INT(st, 400);
    TEST_CHECK(strstr(str(j, "message") ? str(j, "message") : "", "duplicate relation") != NULL);
    cJSON_Delete(j);
    /* ends in the wrong order (a contact as the pet): 400 with the API's message */
    snprintf(body, sizeof body,
             "{\"locationId\":\"%s\",\"associationId\":\"%s\",\"firstRecordId\":\"%s\","
             "\"secondRecordId\":\"%s\"}",
             S.loc[0].id, PET_OWNER, contact, pet);
    j = call(0, "POST", "/associations/relations", body, &st);
    TEST_EQ_INT(st, 400);
    TEST_CHECK(strstr(str(j, "message") ? str(j, "message") : "", "not found") != NULL);
    cJSON_Delete(j);
    /* unknown association; the system association; a missing key; an unknown key */
    snprintf(body, sizeof body,
             "{\"locationId\":\"%s\",\"associationId\":\"nope\",\"firstRecordId\":\"%s\","
             "\"secondRecordId\":\"%s\"}",
             S.loc[0].id, pet, contact);
    cJSON_Delete(call(0, "POST", "/associations/relations", body, &st));
    TEST_EQ_INT(st, 400);
    snprintf(body, sizeof body,
             "{\"locationId\":\"%s\",\"associationId\":\"OPPORTUNITIES_CONTACTS_ASSOCIATION\","
             "\"firstRecordId\":\"%s\",\"secondRecordId\":\"%s\"}",
             S.loc[0].id, pet, contact);
    cJSON_Delete(call(0, "POST", "/associations/relations", body, &st));
    TEST_EQ_INT(st, 400);
    snprintf(body, sizeof body,
             "{\"locationId\":\"%s\",\"associationId\":\"%s\",\"firstRecordId\":\"%s\"}",
             S.loc[0].id, PET_OWNER, pet);
    cJSON_Delete(call(0, "POST", "/associations/relations", body, &st));
    TEST_EQ_INT(st, 422);
    snprintf(body, sizeof body,
             "{\"locationId\":\"%s\",\"associationId\":\"%s\",\"firstRecordId\":\"%s\","
             "\"secondRecordId\":\"%s\",\"x\":1}",
             S.loc[0].id, PET_OWNER, pet, contact2);
    cJSON_Delete(call(0, "POST", "/associations/relations", body, &st));
    TEST_EQ_INT(st, 422);

    /* delete the relation; again -> 404 */
    snprintf(path, sizeof path, "/associations/relations/%s?locationId=%s", rel, S.loc[0].id);
    cJSON_Delete(call(0, "DELETE", path, NULL, &st));
    TEST_EQ_INT(st, 200);
    TEST_EQ_INT(count_for(pet), 0);
    cJSON_Delete(call(0, "DELETE", path, NULL, &st));
    TEST_EQ_INT(st, 404);

    /* cascade: relate the pet to two contacts and a vaccination, delete the pet */
    const char *ends[][3] = {
        {PET_OWNER, pet, contact}, {PET_OWNER, pet, contact2}, {VAC_PET, vac, pet}};
    for (int i = 0; i < 3; i++) {
        snprintf(body, sizeof body,
                 "{\"locationId\":\"%s\",\"associationId\":\"%s\",\"firstRecordId\":\"%s\","
                 "\"secondRecordId\":\"%s\"}",
                 S.loc[0].id, ends[i][0], ends[i][1], ends[i][2]);
        cJSON_Delete(call(0, "POST", "/associations/relations", body, &st));
        TEST_EQ_INT(st, 201);
    }
    TEST_EQ_INT(count_for(pet), 3);
    int vac_before = count_for(vac);
    snprintf(path, sizeof path, "/objects/custom_objects.pet/records/%s", pet);
    cJSON_Delete(call(0, "DELETE", path, NULL, &st));
    TEST_EQ_INT(st, 200);
    TEST_EQ_INT(count_for(pet), 0);
    TEST_EQ_INT(count_for(vac), vac_before - 1);
}

/* Relations made and removed by another user (admin), the cascade of a contact deleted through
 * the API and by the web user, and a user-defined association deleted with its relations. */
static void admin_and_cascades(void)
{
    char body[600], path[300], pet[64], contact[64];
    long st;
    first_id("custom_objects.pet", pet, sizeof pet, 2);
    first_contact(contact, sizeof contact, 3);
    int before = count_for(pet);
    char rpath[200];
    snprintf(rpath, sizeof rpath, "/objects/custom_objects.pet/records/%s", pet);
    cJSON *pr = call(0, "GET", rpath, NULL, &st);
    char upd0[64];
    snprintf(upd0, sizeof upd0, "%s",
             str(get(pr, "record"), "dateUpdated") ? str(get(pr, "record"), "dateUpdated") : "?");
    cJSON_Delete(pr);
    snprintf(body, sizeof body,
             "{\"associationId\":\"%s\",\"firstRecordId\":\"%s\",\"secondRecordId\":\"%s\"}",
             PET_OWNER, pet, contact);
    snprintf(path, sizeof path, "/_admin/relations?locationId=%s", S.loc[0].id);
    cJSON *j = admin("POST", path, body, &st);
    if (st == 400) { /* the seed related them already */
        cJSON_Delete(j);
        first_contact(contact, sizeof contact, 4);
        snprintf(body, sizeof body,
                 "{\"associationId\":\"%s\",\"firstRecordId\":\"%s\",\"secondRecordId\":\"%s\"}",
                 PET_OWNER, pet, contact);
        j = admin("POST", path, body, &st);
    }
    TEST_EQ_INT(st, 201);
    char rel[64];
    snprintf(rel, sizeof rel, "%s", str(get(j, "relation"), "id"));
    cJSON_Delete(j);
    TEST_EQ_INT(count_for(pet), before + 1);
    /* the pet's updatedAt did not move (decisions.md: relating touches neither record) */
    pr = call(0, "GET", rpath, NULL, &st);
    TEST_EQ_STR(str(get(pr, "record"), "dateUpdated"), upd0);
    cJSON_Delete(pr);
    snprintf(path, sizeof path, "/_admin/relations/%s?locationId=%s", rel, S.loc[0].id);
    cJSON_Delete(admin("DELETE", path, NULL, &st));
    TEST_EQ_INT(st, 200);
    TEST_EQ_INT(count_for(pet), before);

    /* a contact deleted through the API takes its relations with it */
    snprintf(body, sizeof body, "{\"locationId\":\"%s\",\"firstName\":\"Cascade\"}", S.loc[0].id);
    j = call(0, "POST", "/contacts/", body, &st);
    TEST_REQUIRE(st == 201);
    char c2[64];
    snprintf(c2, sizeof c2, "%s", str(get(j, "contact"), "id"));
    cJSON_Delete(j);
    snprintf(body, sizeof body,
             "{\"associationId\":\"%s\",\"firstRecordId\":\"%s\",\"secondRecordId\":\"%s\"}",
             PET_OWNER, pet, c2);
    snprintf(path, sizeof path, "/_admin/relations?locationId=%s", S.loc[0].id);
    cJSON_Delete(admin("POST", path, body, &st));
    TEST_EQ_INT(st, 201);
    TEST_EQ_INT(count_for(pet), before + 1);
    snprintf(path, sizeof path, "/contacts/%s", c2);
    cJSON_Delete(call(0, "DELETE", path, NULL, &st));
    TEST_EQ_INT(st, 200);
    TEST_EQ_INT(count_for(pet), before);
    TEST_EQ_INT(count_for(c2), 0);

    /* the same through the web user's delete of the pet (admin records call) */
    int total_before = cJSON_GetArraySize(get(j = all_relations(), "relations"));
    cJSON_Delete(j);
    snprintf(path, sizeof path, "/_admin/records/custom_objects.pet/%s?locationId=%s", pet,
             S.loc[0].id);
    cJSON_Delete(admin("DELETE", path, NULL, &st));
    TEST_EQ_INT(st, 200);
    j = all_relations();
    TEST_EQ_INT(cJSON_GetArraySize(get(j, "relations")), total_before - before);
    cJSON_Delete(j);

    /* an association created through the API, related, then deleted with its relations */
    snprintf(body, sizeof body,
             "{\"locationId\":\"%s\",\"key\":\"friend\",\"firstObjectKey\":\"contact\","
             "\"firstObjectLabel\":\"Friend\",\"secondObjectKey\":\"contact\","
             "\"secondObjectLabel\":\"Friend\"}",
             S.loc[0].id);
    j = call(0, "POST", "/associations/", body, &st);
    TEST_EQ_INT(st, 201);
    char fr[64];
    snprintf(fr, sizeof fr, "%s", str(j, "id") ? str(j, "id") : "");
    cJSON_Delete(j);
    cJSON_Delete(call(0, "POST", "/associations/", body, &st));
    TEST_EQ_INT(st, 400); /* the key exists */
    char c3[64], c4[64];
    first_contact(c3, sizeof c3, 5);
    first_contact(c4, sizeof c4, 6);
    snprintf(body, sizeof body,
             "{\"locationId\":\"%s\",\"associationId\":\"%s\",\"firstRecordId\":\"%s\","
             "\"secondRecordId\":\"%s\"}",
             S.loc[0].id, fr, c3, c4);
    cJSON_Delete(call(0, "POST", "/associations/relations", body, &st));
    TEST_EQ_INT(st, 201);
    int c3n = count_for(c3);
    TEST_CHECK(c3n >= 1);
    snprintf(path, sizeof path, "/associations/%s", fr);
    cJSON_Delete(call(0, "DELETE", path, NULL, &st));
    TEST_EQ_INT(st, 200);
    TEST_EQ_INT(count_for(c3), c3n - 1);
    cJSON_Delete(call(0, "DELETE", "/associations/OPPORTUNITIES_CONTACTS_ASSOCIATION", NULL, &st));
    TEST_EQ_INT(st, 400);
}

static void counters(void)
{
    long st;
    cJSON *j = admin("GET", "/_admin/counters", NULL, &st);
    TEST_REQUIRE(st == 200);
    cJSON *l = get(get(j, "byEndpoint"), "GET /associations/relations/{recordId}");
    TEST_CHECK(l && get(l, "total") && get(l, "total")->valuedouble > 10);
    TEST_CHECK(get(get(j, "byEndpoint"), "POST /associations/relations") != NULL);
    cJSON_Delete(j);
}

int main(void)
{
    char n[16];
    snprintf(n, sizeof n, "%d", N_REL);
    const char *args[] = {"--seed-contacts",
                          "30",
                          "--seed-records",
                          "20",
                          "--seed-relations",
                          n,
                          "--burst",
                          "0",
                          "--daily",
                          "0",
                          NULL};
    if (tsim_start(&S, args) != 0) {
        test_report("hlsim starts", false, "see # lines");
        return test_done();
    }
    TEST_RUN(listing);
    TEST_RUN(per_record_paging);
    TEST_RUN(create_and_delete);
    TEST_RUN(admin_and_cascades);
    TEST_RUN(counters);
    tsim_stop(&S);
    return test_done();
}
