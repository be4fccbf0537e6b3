/* test_hlsim_agency.c - the simulator's agency OAuth (tests/hlsim/hs_agency.c) over real HTTP:
 * installed locations (paging, isInstalled), minting a location pair with the company token,
 * the minted pair on location data and its rotation, the company pair's rotation, a company
 * token refused on location data (and a location token on the agency routes), uninstall and
 * install again. */
#include "test.h"
#include "thttp.h"
#include "tsim.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool ready(void)
{
    return getenv("HLSIM_BIN") != NULL;
}

/* A call with `bearer`; body form-urlencoded when it contains '=' and no '{'. Returns the
 * status, *json the parsed body (caller frees; may be NULL). */
static long call(const tsim *s, const char *method, const char *path, const char *bearer,
                 const char *body, cJSON **json)
{
    char url[600], auth[300];
    snprintf(url, sizeof url, "%s%s", s->base_url, path);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", bearer ? bearer : "");
    bool form = body && !strchr(body, '{');
    const char *h[] = {auth, "Version: 2021-07-28",
                       form ? "Content-Type: application/x-www-form-urlencoded"
                            : "Content-Type: application/json",
                       NULL};
    thttp_resp r = {0};
    if (thttp_do(method, url, h, body, &r) != 0)
        return -1;
    if (json)
        *json = cJSON_Parse(r.body ? r.body : "");
    long st = r.status;
    thttp_resp_free(&r);
    return st;
}

static char *str(const cJSON *j, const char *k)
{
    const char *v = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, k));
    return v ? strdup(v) : NULL;
}

struct agency {
    char *company, *app, *token, *refresh;
};

static bool agency_get(const tsim *s, struct agency *a)
{
    char *body = NULL;
    long st = tsim_admin(s, "GET", "/_admin/agency", NULL, &body);
    cJSON *j = cJSON_Parse(body ? body : "");
    free(body);
    a->company = str(j, "companyId");
    a->app = str(j, "appId");
    a->token = str(j, "token");
    a->refresh = str(j, "refresh");
    cJSON_Delete(j);
    return st == 200 && a->company && a->app && a->token && a->refresh;
}

static void agency_free(struct agency *a)
{
    free(a->company);
    free(a->app);
    free(a->token);
    free(a->refresh);
}

static int installed_count(const tsim *s, const struct agency *a, const char *extra, int *listed)
{
    char path[400];
    snprintf(path, sizeof path, "/oauth/installedLocations?companyId=%s&appId=%s%s", a->company,
             a->app, extra ? extra : "");
    cJSON *j = NULL;
    long st = call(s, "GET", path, a->token, NULL, &j);
    int n =
        st == 200 ? (int)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(j, "count")) : -1;
    if (listed)
        *listed = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "locations"));
    cJSON_Delete(j);
    return n;
}

static void discovery_and_minting(void)
{
    tsim s;
    const char *args[] = {"--locations", "5", "--seed-records", "1", "--burst", "0", NULL};
    TEST_REQUIRE(tsim_start(&s, args) == 0);
    struct agency a = {0};
    TEST_REQUIRE(agency_get(&s, &a));

    /* discovery: all five, paged */
    int listed = 0;
    TEST_EQ_INT(installed_count(&s, &a, "&isInstalled=true", &listed), 5);
    TEST_EQ_INT(listed, 5);
    TEST_EQ_INT(installed_count(&s, &a, "&skip=3&limit=2&isInstalled=true", &listed), 5);
    TEST_EQ_INT(listed, 2);
    char path[400];
    snprintf(path, sizeof path, "/oauth/installedLocations?companyId=%s", a.company);
    TEST_EQ_INT(call(&s, "GET", path, a.token, NULL, NULL), 422); /* appId required */

    /* the company token is refused on location data; a location token on the agency routes */
    snprintf(path, sizeof path, "/objects/?locationId=%s", s.loc[0].id);
    TEST_EQ_INT(call(&s, "GET", path, a.token, NULL, NULL), 401);
    snprintf(path, sizeof path, "/oauth/installedLocations?companyId=%s&appId=%s", a.company,
             a.app);
    TEST_EQ_INT(call(&s, "GET", path, s.loc[0].token, NULL, NULL), 401);

    /* minting: an access and a refresh token, good on the location's data */
    char form[400];
    snprintf(form, sizeof form, "companyId=%s&locationId=%s", a.company, s.loc[1].id);
    cJSON *j = NULL;
    TEST_EQ_INT(call(&s, "POST", "/oauth/locationToken", a.token, form, &j), 200);
    char *at = str(j, "access_token"), *rt = str(j, "refresh_token"), *lid = str(j, "locationId");
    cJSON_Delete(j);
    TEST_REQUIRE(at && rt && lid);
    TEST_CHECK(strcmp(lid, s.loc[1].id) == 0);
    snprintf(path, sizeof path, "/objects/?locationId=%s", s.loc[1].id);
    TEST_EQ_INT(call(&s, "GET", path, at, NULL, NULL), 200);
    TEST_EQ_INT(call(&s, "POST", "/oauth/locationToken", s.loc[1].token, form, NULL), 401);
    snprintf(form, sizeof form, "companyId=other&locationId=%s", s.loc[1].id);
    TEST_EQ_INT(call(&s, "POST", "/oauth/locationToken", a.token, form, NULL), 403);

    /* the minted pair rotates like any location pair */
    snprintf(form, sizeof form,
             "client_id=hlsim-client&client_secret=hlsim-secret&grant_type=refresh_token&"
             "user_type=Location&refresh_token=%s",
             rt);
    TEST_EQ_INT(call(&s, "POST", "/oauth/token", NULL, form, &j), 200);
    char *at2 = str(j, "access_token");
    cJSON_Delete(j);
    TEST_CHECK(at2 && call(&s, "GET", path, at2, NULL, NULL) == 200);
    TEST_EQ_INT(call(&s, "POST", "/oauth/token", NULL, form, NULL), 400); /* used once */

    /* the company pair rotates: the old refresh token is spent, the new access token works */
    snprintf(form, sizeof form,
             "client_id=hlsim-client&client_secret=hlsim-secret&grant_type=refresh_token&"
             "user_type=Company&refresh_token=%s",
             a.refresh);
    TEST_EQ_INT(call(&s, "POST", "/oauth/token", NULL, form, &j), 200);
    char *cat = str(j, "access_token"), *ut = str(j, "userType");
    cJSON_Delete(j);
    TEST_CHECK(ut && strcmp(ut, "Company") == 0);
    TEST_EQ_INT(call(&s, "POST", "/oauth/token", NULL, form, NULL), 400);
    struct agency b = {0};
    TEST_REQUIRE(agency_get(&s, &b));
    TEST_CHECK(cat && strcmp(cat, b.token) == 0 && strcmp(b.refresh, a.refresh) != 0);
    TEST_EQ_INT(installed_count(&s, &b, "&isInstalled=true", NULL), 5);

    free(at);
    free(rt);
    free(lid);
    free(at2);
    free(cat);
    free(ut);
    agency_free(&b);
    agency_free(&a);
    tsim_stop(&s);
}

static void uninstall_and_install(void)
{
    tsim s;
    const char *args[] = {"--locations", "3", "--seed-records", "1", "--burst", "0", NULL};
    TEST_REQUIRE(tsim_start(&s, args) == 0);
    struct agency a = {0};
    TEST_REQUIRE(agency_get(&s, &a));
    char body[300], path[300], form[300];
    snprintf(body, sizeof body, "{\"locationId\":\"%s\",\"installed\":false}", s.loc[2].id);
    TEST_EQ_INT(tsim_admin(&s, "PUT", "/_admin/agency/installed", body, NULL), 200);
    int listed = 0;
    TEST_EQ_INT(installed_count(&s, &a, "&isInstalled=true", &listed), 2);
    TEST_EQ_INT(listed, 2);
    TEST_EQ_INT(installed_count(&s, &a, NULL, &listed), 3); /* listed with its flag */
    /* its tokens stop working, minting is refused, its refresh token is spent */
    snprintf(path, sizeof path, "/objects/?locationId=%s", s.loc[2].id);
    TEST_EQ_INT(call(&s, "GET", path, s.loc[2].token, NULL, NULL), 401);
    snprintf(form, sizeof form, "companyId=%s&locationId=%s", a.company, s.loc[2].id);
    TEST_EQ_INT(call(&s, "POST", "/oauth/locationToken", a.token, form, NULL), 400);
    char rf[400];
    snprintf(rf, sizeof rf,
             "client_id=hlsim-client&client_secret=hlsim-secret&grant_type=refresh_token&"
             "refresh_token=%s",
             s.loc[2].refresh);
    TEST_EQ_INT(call(&s, "POST", "/oauth/token", NULL, rf, NULL), 400);
    /* the others are untouched */
    snprintf(path, sizeof path, "/objects/?locationId=%s", s.loc[0].id);
    TEST_EQ_INT(call(&s, "GET", path, s.loc[0].token, NULL, NULL), 200);
    /* installed again: the company mints a new pair */
    snprintf(body, sizeof body, "{\"locationId\":\"%s\",\"installed\":true}", s.loc[2].id);
    TEST_EQ_INT(tsim_admin(&s, "PUT", "/_admin/agency/installed", body, NULL), 200);
    cJSON *j = NULL;
    TEST_EQ_INT(call(&s, "POST", "/oauth/locationToken", a.token, form, &j), 200);
    char *at = str(j, "access_token");
    cJSON_Delete(j);
    snprintf(path, sizeof path, "/objects/?locationId=%s", s.loc[2].id);
    TEST_CHECK(at && call(&s, "GET", path, at, NULL, NULL) == 200);
    TEST_EQ_INT(installed_count(&s, &a, "&isInstalled=true", NULL), 3);
    snprintf(body, sizeof body, "{\"locationId\":\"nope\",\"installed\":true}");
    TEST_EQ_INT(tsim_admin(&s, "PUT", "/_admin/agency/installed", body, NULL), 404);
    free(at);
    agency_free(&a);
    tsim_stop(&s);
}

int main(void)
{
    if (!ready()) {
        test_skip("hlsim_agency", "needs HLSIM_BIN (tests/run.sh)");
        return test_done();
    }
    TEST_RUN(discovery_and_minting);
    TEST_RUN(uninstall_and_install);
    return test_done();
}
