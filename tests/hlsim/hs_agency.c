/*
 * hs_agency.c - agency OAuth (decisions.md "agency OAuth", highlevel-crm.md section 4.2):
 *   - one company (agency) with a rotating token pair, issued at start-up and printed as
 *     "company <id> token <access> refresh <refresh>"; POST /oauth/token with a company refresh
 *     token (user_type=Company) rotates it like a location's;
 *   - POST /oauth/locationToken (form companyId, locationId; company bearer) mints a location
 *     access AND refresh token (the refresh token HighLevel confirmed it returns); with the
 *     switch mintRefresh false, an access token only (the answer decisions.md says the engine
 *     must tolerate: it mints again when that expires);
 *   - GET /oauth/installedLocations?companyId&appId[&skip=0][&limit=20][&isInstalled]
 *     -> {"locations":[{"_id","name","isInstalled"}],"count"} (company bearer); without
 *     isInstalled every location is listed with its flag, isInstalled=true lists installed ones;
 *   - a company token on location data, or a location token on these two routes -> 401;
 *   - /_admin/agency: GET {companyId, appId, token, refresh, installed, uninstalled,
 *     refreshes, refused, mints} (company refreshes that rotated the pair, refused ones, and
 *     location tokens minted);
 *     PUT /_admin/agency/installed {"locationId", "installed": bool}: uninstalling revokes the
 *     location's tokens (401, and invalid_grant on refresh) and minting answers 400; installing
 *     again lets the company mint a new pair.
 * Company calls are not rate-limited (the company bucket is not simulated). Runs with ctx->mu.
 */
#include "hlsim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void issue_company(hs_ctx *c)
{
    hs_token *a = hs_token_issue(c, NULL, false);
    a->company = true;
    snprintf(c->company_access, sizeof c->company_access, "%s", a->value);
    hs_token *r = hs_token_issue(c, NULL, true);
    r->company = true;
    snprintf(c->company_refresh, sizeof c->company_refresh, "%s", r->value);
}

void hs_agency_init(hs_ctx *c)
{
    if (!c->company_id[0])
        snprintf(c->company_id, sizeof c->company_id, "hlsimCompany00000001");
    if (!c->app_id[0])
        snprintf(c->app_id, sizeof c->app_id, "hlsimApp0000000000001");
    issue_company(c);
}

bool hs_agency_route(int route)
{
    return route == R_OAUTH_LOCTOKEN || route == R_OAUTH_INSTALLED;
}

static void err(hs_call *k, int status, const char *msg)
{
    k->status = status;
    hs_err_body(&k->out, status, msg, NULL);
}

/* form-urlencoded value (no escapes are needed for ids) */
static bool form_value(const char *b, size_t len, const char *key, char *out, size_t cap)
{
    size_t kl = strlen(key);
    for (const char *p = b, *end = b + len; p < end;) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *seg_end = amp ? amp : end;
        if ((size_t)(seg_end - p) > kl && !strncmp(p, key, kl) && p[kl] == '=') {
            size_t n = (size_t)(seg_end - p) - kl - 1;
            if (n >= cap)
                n = cap - 1;
            memcpy(out, p + kl + 1, n);
            out[n] = 0;
            return true;
        }
        p = seg_end + 1;
    }
    return false;
}

static const char *arg(const hs_call *k, const char *name)
{
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(k->q_all, name));
}

/* `refresh` NULL: no refresh_token key (a mint under mintRefresh false) */
static void pair_json(hs_call *k, const char *access, const char *refresh, const char *user_type,
                      const char *loc)
{
    k->status = 200;
    hs_buf_puts(&k->out, "{\"access_token\":");
    hs_buf_json_str(&k->out, access);
    hs_buf_printf(&k->out, ",\"token_type\":\"Bearer\",\"expires_in\":%ld", k->c->token_ttl_s);
    if (refresh) {
        hs_buf_puts(&k->out, ",\"refresh_token\":");
        hs_buf_json_str(&k->out, refresh);
    }
    hs_buf_printf(&k->out,
                  ",\"scope\":\"objects/record.readonly objects/record.write\","
                  "\"userType\":\"%s\",\"companyId\":",
                  user_type);
    hs_buf_json_str(&k->out, k->c->company_id);
    if (loc) {
        hs_buf_puts(&k->out, ",\"locationId\":");
        hs_buf_json_str(&k->out, loc);
    }
    hs_buf_puts(&k->out, ",\"appId\":");
    hs_buf_json_str(&k->out, k->c->app_id);
    hs_buf_puts(&k->out, ",\"userId\":\"hlsimUser0000000000001\"}");
}

static void location_token(hs_call *k)
{
    char cid[64] = "", lid[128] = "";
    const char *b = k->body ? k->body : "";
    form_value(b, k->body_len, "companyId", cid, sizeof cid);
    form_value(b, k->body_len, "locationId", lid, sizeof lid);
    if (!cid[0] || !lid[0]) {
        err(k, 400, "companyId and locationId are required");
        return;
    }
    if (strcmp(cid, k->c->company_id) != 0) {
        err(k, 403, "The token does not have access to this company");
        return;
    }
    hs_loc *l = hs_loc_find(k->c, lid);
    if (!l) {
        err(k, 400, "Location not found");
        return;
    }
    if (l->uninstalled) {
        err(k, 400, "The app is not installed for this location");
        return;
    }
    k->c->mints++;
    if (k->c->sw.mint_no_refresh) { /* a new access token only; earlier tokens keep working */
        hs_token *a = hs_token_issue(k->c, l, false);
        snprintf(l->access, sizeof l->access, "%s", a->value);
        pair_json(k, l->access, NULL, "Location", l->id);
        return;
    }
    hs_loc_issue_pair(k->c, l);
    pair_json(k, l->access, l->refresh, "Location", l->id);
}

static void installed_locations(hs_call *k)
{
    const char *cid = arg(k, "companyId"), *app = arg(k, "appId");
    if (!cid || !app) {
        err(k, 422, "companyId and appId are required");
        return;
    }
    if (strcmp(cid, k->c->company_id) != 0) {
        err(k, 403, "The token does not have access to this company");
        return;
    }
    const char *sk = arg(k, "skip"), *lim = arg(k, "limit"), *inst = arg(k, "isInstalled");
    long skip = sk ? strtol(sk, NULL, 10) : 0, limit = lim ? strtol(lim, NULL, 10) : 20;
    if (skip < 0 || limit < 1 || limit > 500) {
        err(k, 422, "skip must be >= 0 and limit 1..500");
        return;
    }
    bool only = inst && !strcmp(inst, "true");
    long n = 0, shown = 0;
    hs_buf_puts(&k->out, "{\"locations\":[");
    for (int i = 0; i < k->c->n_locs; i++) {
        const hs_loc *l = k->c->locs[i];
        if (only && l->uninstalled)
            continue;
        if (n++ < skip || shown >= limit)
            continue;
        hs_buf_puts(&k->out, shown++ ? ",{\"_id\":" : "{\"_id\":");
        hs_buf_json_str(&k->out, l->id);
        hs_buf_printf(&k->out, ",\"name\":\"Location %d\",\"isInstalled\":%s}", i,
                      l->uninstalled ? "false" : "true");
    }
    hs_buf_printf(&k->out, "],\"count\":%ld,\"installToFutureLocations\":false}", n);
    k->status = 200;
}

void hs_agency_dispatch(hs_call *k)
{
    if (k->route == R_OAUTH_LOCTOKEN)
        location_token(k);
    else
        installed_locations(k);
}

/* POST /oauth/token with the company's refresh token `t` (valid, not revoked). */
void hs_agency_refresh(hs_call *k, hs_token *t)
{
    t->revoked = true; /* strict rotation: a spent refresh token is refused (invalid_grant) */
    k->c->company_refreshes++;
    issue_company(k->c); /* t is invalid from here (the table may move) */
    pair_json(k, k->c->company_access, k->c->company_refresh, "Company", NULL);
}

static void revoke_location(hs_ctx *c, const hs_loc *l)
{
    for (size_t i = 0; i < c->n_tokens; i++)
        if (c->tokens[i].loc == l)
            c->tokens[i].revoked = true;
}

int hs_agency_admin(hs_ctx *c, const char *method, const char *sub, const cJSON *body, char **out)
{
    hs_buf b = {0};
    int status = 200;
    if (!strcmp(method, "GET") && !sub[0]) {
        hs_buf_puts(&b, "{\"companyId\":");
        hs_buf_json_str(&b, c->company_id);
        hs_buf_puts(&b, ",\"appId\":");
        hs_buf_json_str(&b, c->app_id);
        hs_buf_puts(&b, ",\"token\":");
        hs_buf_json_str(&b, c->company_access);
        hs_buf_puts(&b, ",\"refresh\":");
        hs_buf_json_str(&b, c->company_refresh);
        int inst = 0;
        for (int i = 0; i < c->n_locs; i++)
            inst += !c->locs[i]->uninstalled;
        hs_buf_printf(&b,
                      ",\"installed\":%d,\"uninstalled\":%d,\"refreshes\":%ld,\"refused\":%ld,"
                      "\"mints\":%ld}",
                      inst, c->n_locs - inst, c->company_refreshes, c->company_refused, c->mints);
    } else if (!strcmp(method, "PUT") && !strcmp(sub, "installed")) {
        const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(body, "locationId"));
        const cJSON *on = cJSON_GetObjectItemCaseSensitive(body, "installed");
        hs_loc *l = id ? hs_loc_find(c, id) : NULL;
        if (!l || !cJSON_IsBool(on)) {
            status = l ? 400 : 404;
            hs_buf_puts(&b, l ? "{\"message\":\"installed must be true or false\"}"
                              : "{\"message\":\"no such location\"}");
        } else {
            bool now = cJSON_IsTrue(on);
            if (!now && !l->uninstalled)
                revoke_location(c, l);
            l->uninstalled = !now;
            hs_buf_puts(&b, "{\"locationId\":");
            hs_buf_json_str(&b, l->id);
            hs_buf_printf(&b, ",\"installed\":%s}", now ? "true" : "false");
        }
    } else {
        status = 404;
        hs_buf_puts(&b, "{\"message\":\"unknown /_admin/agency route\"}");
    }
    *out = hs_buf_steal(&b);
    return status;
}
