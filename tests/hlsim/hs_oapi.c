/*
 * hs_oapi.c - the public opportunity endpoints (both searches, pipelines, lost reasons, CRUD,
 * status) and their admin calls (dump, web-user edits, pipelines) and state dump/load.
 * Runs with ctx->mu held, like hs_api.c.
 */
#include "hlsim.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *jstr(const cJSON *o, const char *k)
{
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k));
}

static cJSON *get(const cJSON *o, const char *k)
{
    return cJSON_GetObjectItemCaseSensitive(o, k);
}

static void fail(hs_call *k, int status, const char *msg)
{
    k->status = status;
    if (status == 422) {
        cJSON *l = cJSON_CreateArray();
        cJSON_AddItemToArray(l, cJSON_CreateString(msg));
        hs_err_body(&k->out, 422, NULL, l);
        cJSON_Delete(l);
    } else {
        hs_err_body(&k->out, status, msg, NULL);
    }
}

static cJSON *parse_body(hs_call *k)
{
    cJSON *j = k->body_len ? cJSON_ParseWithLength(k->body, k->body_len) : NULL;
    if (!j) {
        fail(k, 400, "Bad Request");
        return NULL;
    }
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        fail(k, 422, "body must be a JSON object");
        return NULL;
    }
    return j;
}

static void opp_out(hs_call *k, int status, hs_object *o, const hs_rec *r)
{
    k->status = status;
    hs_buf_puts(&k->out, "{\"opportunity\":");
    hs_opp_render(&k->out, k->c, k->loc, o, r, OV_GET, NULL);
    hs_buf_puts(&k->out, "}");
}

/* ?locationId= (or location_id) required and the token's own */
static bool query_loc(hs_call *k, const char *name)
{
    const char *v = jstr(k->q_all, name);
    if (!v || !*v) {
        char m[100];
        snprintf(m, sizeof m, "%s can't be undefined", name);
        fail(k, 422, m);
        return false;
    }
    if (strcmp(v, k->loc->id)) {
        fail(k, 403, "The token does not have access to this location");
        return false;
    }
    return true;
}

/* ---- GET /opportunities/search -------------------------------------------------------------- */

static bool parse_mdy(const char *s, bool end, int64_t *ms)
{
    int m, d, y;
    char iso[40];
    if (!s || sscanf(s, "%2d-%2d-%4d", &m, &d, &y) != 3 || strlen(s) != 10)
        return false;
    snprintf(iso, sizeof iso, "%04d-%02d-%02dT%s", y, m, d,
             end ? "23:59:59.999Z" : "00:00:00.000Z");
    return hs_parse_iso_ms(iso, ms);
}

typedef struct gq {
    const char *pipeline, *stage, *contact, *status, *assigned, *id, *q;
} gq;

static bool gmatch(const gq *g, const hs_rec *r)
{
    if (g->id && strcmp(g->id, r->id))
        return false;
    if (!g->pipeline && !g->stage && !g->contact && !g->status && !g->assigned && !g->q)
        return true;
    cJSON *d = cJSON_Parse(r->props);
    const char *pairs[][2] = {{g->pipeline, "pipelineId"},
                              {g->stage, "pipelineStageId"},
                              {g->contact, "contactId"},
                              {g->status, "status"},
                              {g->assigned, "assignedTo"}};
    bool ok = true;
    for (size_t i = 0; ok && i < sizeof pairs / sizeof pairs[0]; i++)
        if (pairs[i][0]) {
            const char *v = jstr(d, pairs[i][1]);
            ok = v && !strcmp(v, pairs[i][0]);
        }
    if (ok && g->q)
        ok = jstr(d, "name") && hs_ci_contains(jstr(d, "name"), g->q, false);
    cJSON_Delete(d);
    return ok;
}

static const char *qarg(const hs_call *k, const char *name)
{
    const char *v = jstr(k->q_all, name);
    return v && *v ? v : NULL;
}

static void url_arg(hs_buf *b, const char *k, const char *v)
{
    hs_buf_printf(b, "%s%s=", b->n && b->d[b->n - 1] != '?' ? "&" : "", k);
    for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
        if (isalnum(*p) || strchr("-_.~", *p))
            hs_buf_add(b, (const char *)p, 1);
        else
            hs_buf_printf(b, "%%%02X", *p);
    }
}

static void gsearch(hs_call *k, hs_object *o)
{
    static const char *const allowed[] = {"q",
                                          "location_id",
                                          "pipeline_id",
                                          "pipeline_stage_id",
                                          "contact_id",
                                          "status",
                                          "assigned_to",
                                          "campaignId",
                                          "id",
                                          "order",
                                          "endDate",
                                          "startAfter",
                                          "startAfterId",
                                          "date",
                                          "country",
                                          "page",
                                          "limit",
                                          "getTasks",
                                          "getNotes",
                                          "getCalendarEvents",
                                          NULL};
    cJSON *errs = cJSON_CreateArray();
    const cJSON *it;
    cJSON_ArrayForEach(it, k->q_all)
    {
        bool ok = false;
        for (int i = 0; allowed[i]; i++)
            ok |= !strcmp(allowed[i], it->string);
        if (!ok) {
            char m[300];
            snprintf(m, sizeof m, "property %.200s should not exist", it->string);
            cJSON_AddItemToArray(errs, cJSON_CreateString(m));
        }
    }
    if (cJSON_GetArraySize(errs)) {
        k->status = 422;
        hs_err_body(&k->out, 422, NULL, errs);
        cJSON_Delete(errs);
        return;
    }
    cJSON_Delete(errs);
    if (!query_loc(k, "location_id"))
        return;
    const char *ls = jstr(k->q_all, "limit"), *ps = jstr(k->q_all, "page");
    const char *order = jstr(k->q_all, "order"), *sa = jstr(k->q_all, "startAfter");
    const char *said = jstr(k->q_all, "startAfterId");
    char *end;
    long limit = ls ? strtol(ls, &end, 10) : 20, page = ps ? strtol(ps, &end, 10) : 1;
    if (ls && (!*ls || *end || limit < 1 || limit > 100)) {
        fail(k, 422, "limit must be an integer between 1 and 100");
        return;
    }
    if (ps && (page < 1 || page > 1000000)) {
        fail(k, 422, "page must be a positive integer");
        return;
    }
    bool desc = !order || !strcmp(order, "added_desc");
    if (order && strcmp(order, "added_desc") && strcmp(order, "added_asc")) {
        fail(k, 422, "order must be one of added_asc, added_desc");
        return;
    }
    /* an empty parameter (as nextPageUrl carries them) is no filter */
    gq g = {qarg(k, "pipeline_id"),
            qarg(k, "pipeline_stage_id"),
            qarg(k, "contact_id"),
            qarg(k, "status"),
            qarg(k, "assigned_to"),
            qarg(k, "id"),
            qarg(k, "q")};
    if (g.status && !strcmp(g.status, "all"))
        g.status = NULL;
    else if (g.status && strcmp(g.status, "open") && strcmp(g.status, "won") &&
             strcmp(g.status, "lost") && strcmp(g.status, "abandoned")) {
        fail(k, 422, "status must be one of open, won, lost, abandoned, all");
        return;
    }
    int64_t cur_ms = 0, dfrom = 0, dto = 0;
    bool has_cur = sa && *sa;
    if (has_cur) {
        cur_ms = (int64_t)strtoll(sa, &end, 10);
        if (*end) {
            fail(k, 422, "startAfter must be epoch milliseconds");
            return;
        }
    }
    const char *ds = jstr(k->q_all, "date"), *de = jstr(k->q_all, "endDate");
    if ((ds && *ds && !parse_mdy(ds, false, &dfrom)) || (de && *de && !parse_mdy(de, true, &dto))) {
        fail(k, 422, "date and endDate must be mm-dd-yyyy");
        return;
    }
    const hs_index *ix = &o->by_created;
    size_t lo = ds && *ds ? hs_ix_lower(o, ix, dfrom, "") : 0;
    size_t hi = de && *de ? hs_ix_lower(o, ix, dto, "~") : ix->n;
    if (lo > hi)
        lo = hi;
    bool pure = !g.pipeline && !g.stage && !g.contact && !g.status && !g.assigned && !g.id && !g.q;
    /* positions in walk order: asc from lo up, desc from hi down */
    size_t start;
    if (has_cur) {
        size_t p = hs_ix_lower(o, ix, cur_ms, said ? said : (desc ? "~" : ""));
        if (!desc) {
            if (p < ix->n && ix->v[p]->created == cur_ms && said && !strcmp(ix->v[p]->id, said))
                p++;
            start = p > lo ? p : lo;
        } else {
            start = p < hi ? p : hi;
        }
    } else {
        start = desc ? hi : lo;
    }
    long skip = has_cur ? 0 : (page - 1) * limit;
    hs_rec **pg = calloc((size_t)limit + 1, sizeof *pg);
    long n = 0, seen = 0;
    bool more = false;
    if (!desc) {
        for (size_t i = start; i < hi; i++)
            if (pure || gmatch(&g, ix->v[i])) {
                if (seen++ < skip)
                    continue;
                if (n == limit) {
                    more = true;
                    break;
                }
                pg[n++] = ix->v[i];
            }
    } else {
        for (size_t i = start; i > lo; i--)
            if (pure || gmatch(&g, ix->v[i - 1])) {
                if (seen++ < skip)
                    continue;
                if (n == limit) {
                    more = true;
                    break;
                }
                pg[n++] = ix->v[i - 1];
            }
    }
    long long total = 0;
    if (pure)
        total = (long long)(hi - lo);
    else
        for (size_t i = lo; i < hi; i++)
            total += gmatch(&g, ix->v[i]);
    k->status = 200;
    hs_buf_puts(&k->out, "{\"opportunities\":[");
    for (long i = 0; i < n; i++) {
        if (i)
            hs_buf_puts(&k->out, ",");
        hs_opp_render(&k->out, k->c, k->loc, o, pg[i], OV_GET, NULL);
    }
    hs_buf_printf(&k->out, "],\"meta\":{\"total\":%lld", total);
    if (n && more) {
        /* the spec's example points at another host: an engine must not follow it */
        hs_buf u = {0};
        hs_buf_puts(&u, "http://localhost:5066/opportunities/search?");
        cJSON_ArrayForEach(it, k->q_all)
        {
            if (strcmp(it->string, "startAfter") && strcmp(it->string, "startAfterId") &&
                strcmp(it->string, "page"))
                url_arg(&u, it->string, it->valuestring);
        }
        char num[32];
        snprintf(num, sizeof num, "%lld", (long long)pg[n - 1]->created);
        url_arg(&u, "startAfter", num);
        url_arg(&u, "startAfterId", pg[n - 1]->id);
        snprintf(num, sizeof num, "%ld", page + 1);
        url_arg(&u, "page", num);
        hs_buf_puts(&k->out, ",\"nextPageUrl\":");
        hs_buf_json_str(&k->out, u.d);
        free(u.d);
    } else {
        hs_buf_puts(&k->out, ",\"nextPageUrl\":null");
    }
    if (n)
        hs_buf_printf(&k->out, ",\"startAfterId\":\"%s\",\"startAfter\":%lld", pg[n - 1]->id,
                      (long long)pg[n - 1]->created);
    else
        hs_buf_puts(&k->out, ",\"startAfterId\":null,\"startAfter\":null");
    hs_buf_printf(&k->out, ",\"currentPage\":%ld", page);
    if (more)
        hs_buf_printf(&k->out, ",\"nextPage\":%ld", page + 1);
    else
        hs_buf_puts(&k->out, ",\"nextPage\":null");
    if (page > 1)
        hs_buf_printf(&k->out, ",\"prevPage\":%ld}", page - 1);
    else
        hs_buf_puts(&k->out, ",\"prevPage\":null}");
    hs_buf_puts(&k->out, ",\"aggregations\":{}}");
    free(pg);
}

/* ---- the other endpoints ------------------------------------------------------------------ */

static void psearch(hs_call *k, hs_object *o)
{
    if (k->c->sw.opp_post_401) {
        k->status = 401;
        hs_buf_puts(&k->out, "{\"statusCode\":401,\"message\":\"This route is not yet supported "
                             "by the IAM Service\",\"error\":\"Unauthorized\"}");
        return;
    }
    cJSON *b = parse_body(k);
    if (!b)
        return;
    const cJSON *loc = get(b, "locationId");
    cJSON *errs = cJSON_CreateArray();
    if (cJSON_IsString(loc) && strcmp(loc->valuestring, k->loc->id)) {
        fail(k, 403, "The token does not have access to this location");
    } else if (hs_family_search(k->c, k->loc, o, HS_FAM_OPPORTUNITIES, b, &k->out, errs) != 200) {
        free(k->out.d);
        memset(&k->out, 0, sizeof k->out);
        k->status = 422;
        hs_err_body(&k->out, 422, NULL, errs);
    } else {
        k->status = 200;
    }
    cJSON_Delete(errs);
    cJSON_Delete(b);
}

static void write_opp(hs_call *k, hs_object *o, hs_rec *r, int mode)
{
    cJSON *b = parse_body(k);
    if (!b)
        return;
    cJSON *errs = cJSON_CreateArray(), *base = NULL, *d = NULL;
    char ref[300];
    if (mode == OW_CREATE && cJSON_IsString(get(b, "locationId")) &&
        strcmp(jstr(b, "locationId"), k->loc->id)) {
        fail(k, 403, "The token does not have access to this location");
        goto out;
    }
    hs_object *co = hs_obj_find(k->loc, "contact");
    int64_t now = hs_now_ms();
    if (mode == OW_ADMIN) {
        /* PUT /status: {status, lostReasonId?} only */
        const cJSON *it;
        cJSON_ArrayForEach(it, b)
        {
            if (strcmp(it->string, "status") && strcmp(it->string, "lostReasonId")) {
                char m[300];
                snprintf(m, sizeof m, "property %.200s should not exist", it->string);
                cJSON_AddItemToArray(errs, cJSON_CreateString(m));
            }
        }
        if (!jstr(b, "status"))
            cJSON_AddItemToArray(errs, cJSON_CreateString("status should not be empty"));
    }
    if (r)
        base = cJSON_Parse(r->props);
    if (!cJSON_GetArraySize(errs))
        d = hs_opp_apply(co, o, base, b, mode, now, errs, ref, sizeof ref);
    if (!d) {
        if (cJSON_GetArraySize(errs)) {
            k->status = 422;
            hs_err_body(&k->out, 422, NULL, errs);
        } else {
            fail(k, 400, ref);
        }
        goto out;
    }
    char *txt = cJSON_PrintUnformatted(d);
    if (!r) {
        r = calloc(1, sizeof *r);
        if (!r)
            abort();
        do
            hs_alnum_id(&k->c->rng, r->id);
        while (hs_rec_find(o, r->id));
        r->created = r->updated = now;
        r->created_src = r->updated_src = SRC_API;
        r->props = txt;
        hs_rec_insert(o, r);
        opp_out(k, 201, o, r);
    } else {
        free(r->props);
        r->props = txt;
        r->updated_src = SRC_API;
        hs_rec_touch(o, r, now > r->updated ? now : r->updated + 1);
        if (mode == OW_ADMIN) {
            k->status = 200;
            hs_buf_puts(&k->out, "{\"succeded\":true}");
        } else {
            opp_out(k, 200, o, r);
        }
    }
out:
    cJSON_Delete(d);
    cJSON_Delete(base);
    cJSON_Delete(errs);
    cJSON_Delete(b);
}

/* POST / DELETE /opportunities/{id}/followers {followers: [...]}; DELETE also takes
 * ?isRemoveAllFollowers=true */
static void followers(hs_call *k, hs_object *o, hs_rec *r, bool add)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, k->q_all)
    {
        if (add || strcmp(it->string, "isRemoveAllFollowers")) {
            char m[300];
            snprintf(m, sizeof m, "property %.200s should not exist", it->string);
            fail(k, 422, m);
            return;
        }
    }
    bool all = !add && jstr(k->q_all, "isRemoveAllFollowers") &&
               !strcmp(jstr(k->q_all, "isRemoveAllFollowers"), "true");
    cJSON *b = k->body_len || !all ? parse_body(k) : cJSON_CreateObject();
    if (!b)
        return;
    const cJSON *vals = get(b, "followers");
    bool ok =
        all ? cJSON_GetArraySize(b) == 0 || (cJSON_GetArraySize(b) == 1 && cJSON_IsArray(vals))
            : cJSON_GetArraySize(b) == 1 && cJSON_IsArray(vals);
    cJSON_ArrayForEach(it, vals) ok = ok && cJSON_IsString(it) && it->valuestring[0];
    if (!ok) {
        fail(k, 422, "body must be {\"followers\": [user ids]} and nothing else");
        cJSON_Delete(b);
        return;
    }
    cJSON *d = cJSON_Parse(r->props), *changed = cJSON_CreateArray();
    cJSON *cur = get(d, "followers");
    if (!cJSON_IsArray(cur)) {
        cJSON_DeleteItemFromObjectCaseSensitive(d, "followers");
        cur = cJSON_AddArrayToObject(d, "followers");
    }
    if (all) {
        while (cJSON_GetArraySize(cur))
            cJSON_AddItemToArray(changed, cJSON_DetachItemFromArray(cur, 0));
    }
    const cJSON *todo = all ? NULL : vals;
    cJSON_ArrayForEach(it, todo)
    {
        int at = -1, i = 0;
        const cJSON *x;
        cJSON_ArrayForEach(x, cur)
        {
            if (!strcmp(x->valuestring, it->valuestring))
                at = i;
            i++;
        }
        if (add && at < 0)
            cJSON_AddItemToArray(cur, cJSON_CreateString(it->valuestring));
        else if (!add && at >= 0)
            cJSON_DeleteItemFromArray(cur, at);
        else
            continue;
        cJSON_AddItemToArray(changed, cJSON_CreateString(it->valuestring));
    }
    char *txt = cJSON_PrintUnformatted(d);
    free(r->props);
    r->props = txt;
    int64_t now = hs_now_ms();
    hs_rec_touch(o, r, now > r->updated ? now : r->updated + 1);
    char *f = cJSON_PrintUnformatted(cur), *c = cJSON_PrintUnformatted(changed);
    k->status = add ? 201 : 200;
    hs_buf_printf(&k->out, "{\"followers\":%s,\"%s\":%s}", f ? f : "[]",
                  add ? "followersAdded" : "followersRemoved", c ? c : "[]");
    free(f);
    free(c);
    cJSON_Delete(changed);
    cJSON_Delete(d);
    cJSON_Delete(b);
}

void hs_opps_dispatch(hs_call *k)
{
    hs_object *o = hs_opps_obj(k->c, k->loc);
    hs_object *co = hs_obj_find(k->loc, "contact");
    if (hs_is_contacts(co))
        hs_contacts_settle(k->c, co);
    hs_rec *r = NULL;
    if (k->route == R_OPP_GET || k->route == R_OPP_PUT || k->route == R_OPP_DELETE ||
        k->route == R_OPP_STATUS || k->route == R_OPP_FOLLOWERS_ADD ||
        k->route == R_OPP_FOLLOWERS_DEL) {
        r = hs_rec_find(o, k->id);
        if (!r) {
            fail(k, 404, "Opportunity not found");
            return;
        }
    }
    switch (k->route) {
    case R_OPP_GSEARCH:
        gsearch(k, o);
        break;
    case R_OPP_PSEARCH:
        psearch(k, o);
        break;
    case R_OPP_PIPELINES:
    case R_OPP_LOST:
        if (query_loc(k, "locationId")) {
            bool pl = k->route == R_OPP_PIPELINES;
            cJSON *j = cJSON_CreateObject();
            cJSON_AddItemToObject(
                j, pl ? "pipelines" : "lostReasons",
                cJSON_Duplicate(get(o->extra, pl ? "pipelines" : "lostReasons"), 1));
            char *s = cJSON_PrintUnformatted(j);
            k->status = 200;
            hs_buf_puts(&k->out, s ? s : "{}");
            free(s);
            cJSON_Delete(j);
        }
        break;
    case R_OPP_CREATE:
        write_opp(k, o, NULL, OW_CREATE);
        break;
    case R_OPP_GET:
        opp_out(k, 200, o, r);
        break;
    case R_OPP_PUT:
        write_opp(k, o, r, OW_UPDATE);
        break;
    case R_OPP_STATUS:
        write_opp(k, o, r, OW_ADMIN);
        break;
    case R_OPP_FOLLOWERS_ADD:
    case R_OPP_FOLLOWERS_DEL:
        followers(k, o, r, k->route == R_OPP_FOLLOWERS_ADD);
        break;
    case R_OPP_DELETE:
        hs_rel_forget_record(k->c, r->id);
        hs_rec_remove(o, r);
        k->status = 200;
        hs_buf_puts(&k->out, "{\"succeded\":true}");
        break;
    default:
        fail(k, 404, "Not Found");
    }
}

/* ---- admin and state ---------------------------------------------------------------------- */

cJSON *hs_opps_state_json(hs_ctx *c, hs_loc *l, hs_object *o)
{
    hs_buf b = {0};
    hs_buf_puts(&b, "[");
    for (size_t i = 0; i < o->by_created.n; i++) {
        if (i)
            hs_buf_puts(&b, ",");
        hs_opp_render(&b, c, l, o, o->by_created.v[i], OV_GET, NULL);
    }
    hs_buf_puts(&b, "]");
    cJSON *j = cJSON_CreateObject();
    cJSON *arr = cJSON_Parse(b.d);
    free(b.d);
    cJSON_AddNumberToObject(j, "total", (double)o->by_created.n);
    cJSON_AddItemToObject(j, "opportunities", arr ? arr : cJSON_CreateArray());
    cJSON_AddItemToObject(j, "pipelines", cJSON_Duplicate(get(o->extra, "pipelines"), 1));
    cJSON_AddItemToObject(j, "lostReasons", cJSON_Duplicate(get(o->extra, "lostReasons"), 1));
    cJSON_AddItemToObject(j, "customFields", cJSON_Duplicate(o->fields, 1));
    return j;
}

static bool time_arg(const cJSON *v, int64_t *ms)
{
    if (cJSON_IsNumber(v)) {
        if (!(v->valuedouble > -1e15 && v->valuedouble < 1e15))
            return false; /* no epoch ms; the cast would be undefined */
        *ms = (int64_t)v->valuedouble;
        return true;
    }
    return cJSON_IsString(v) && hs_parse_iso_ms(v->valuestring, ms);
}

/* an opportunity from an admin body (read shape accepted); NULL with errs */
static hs_rec *opp_from(hs_ctx *c, hs_object *co, hs_object *o, const cJSON *body, bool load,
                        cJSON *errs)
{
    char ref[300];
    int64_t now = hs_now_ms(), created = now, updated;
    cJSON *b = cJSON_Duplicate(body, 1);
    /* a dump's read shape: customFields [{id, fieldValue}], lastXAt as ISO strings */
    cJSON_DeleteItemFromObjectCaseSensitive(b, "contact");
    cJSON *d = hs_opp_apply(co, o, NULL, b, load ? OW_LOAD : OW_ADMIN, now, errs, ref, sizeof ref);
    cJSON_Delete(b);
    if (!d) {
        if (!cJSON_GetArraySize(errs))
            cJSON_AddItemToArray(errs, cJSON_CreateString(ref));
        return NULL;
    }
    const cJSON *ca = get(body, "createdAt"), *ua = get(body, "updatedAt");
    if (ca && !time_arg(ca, &created))
        cJSON_AddItemToArray(errs, cJSON_CreateString("createdAt must be ISO-8601 or epoch ms"));
    updated = created;
    if (ua && !time_arg(ua, &updated))
        cJSON_AddItemToArray(errs, cJSON_CreateString("updatedAt must be ISO-8601 or epoch ms"));
    const char *id = jstr(body, "id");
    if (id && (!*id || strlen(id) > 24 || hs_rec_find(o, id)))
        cJSON_AddItemToArray(errs, cJSON_CreateString("id must be 1..24 characters and unused"));
    if (cJSON_GetArraySize(errs)) {
        cJSON_Delete(d);
        return NULL;
    }
    hs_rec *r = calloc(1, sizeof *r);
    if (!r)
        abort();
    if (id)
        snprintf(r->id, sizeof r->id, "%s", id);
    else
        do
            hs_alnum_id(&c->rng, r->id);
        while (hs_rec_find(o, r->id));
    r->created = created;
    r->updated = updated;
    r->created_src = r->updated_src = SRC_WEB;
    r->props = cJSON_PrintUnformatted(d);
    cJSON_Delete(d);
    return r;
}

bool hs_opps_load(hs_ctx *c, hs_loc *l, hs_object *o, const cJSON *entry, cJSON *errs)
{
    if (!hs_contacts_load(c, l, o, get(entry, "fields"), NULL, errs))
        return false;
    const cJSON *p = get(entry, "pipelines"), *lr = get(entry, "lostReasons");
    if (cJSON_IsArray(p)) {
        cJSON_DeleteItemFromObjectCaseSensitive(o->extra, "pipelines");
        cJSON_AddItemToObject(o->extra, "pipelines", cJSON_Duplicate(p, 1));
    }
    if (cJSON_IsArray(lr)) {
        cJSON_DeleteItemFromObjectCaseSensitive(o->extra, "lostReasons");
        cJSON_AddItemToObject(o->extra, "lostReasons", cJSON_Duplicate(lr, 1));
    }
    hs_object *co = hs_obj_find(l, "contact");
    const cJSON *oj;
    cJSON_ArrayForEach(oj, get(entry, "opportunities"))
    {
        hs_rec *r = opp_from(c, co, o, oj, true, errs);
        if (!r)
            return false;
        hs_rec_append(o, r);
    }
    hs_index_sort_all(o);
    return true;
}

typedef struct ores {
    int status;
    char *out;
} ores;

static void reply(ores *r, int status, cJSON *j)
{
    r->status = status;
    r->out = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
}

static void bad(ores *r, int status, const char *msg)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "statusCode", status);
    cJSON_AddItemToArray(cJSON_AddArrayToObject(j, "message"), cJSON_CreateString(msg));
    cJSON_AddStringToObject(j, "error", status == 404 ? "Not Found" : "Bad Request");
    reply(r, status, j);
}

static void opp_reply(ores *res, int status, hs_ctx *c, hs_loc *l, hs_object *o, const hs_rec *r)
{
    hs_buf b = {0};
    hs_buf_puts(&b, "{\"opportunity\":");
    hs_opp_render(&b, c, l, o, r, OV_GET, NULL);
    hs_buf_puts(&b, "}");
    res->status = status;
    res->out = hs_buf_steal(&b);
}

static void pipelines_call(ores *res, hs_ctx *c, hs_loc *l, hs_object *o, const char *method,
                           char seg[][256], int nseg, const cJSON *body)
{
    if (nseg == 1 && !strcmp(method, "POST")) {
        const char *names[65] = {0};
        int n = 0;
        const cJSON *it;
        cJSON_ArrayForEach(it, get(body, "stages")) if (n < 64 && cJSON_IsString(it)) names[n++] =
            it->valuestring;
        if (!jstr(body, "name") || !n) {
            bad(res, 422, "a pipeline needs a name and stages (names)");
            return;
        }
        cJSON *p = hs_pipeline_add(c, l, o, jstr(body, "name"), names);
        cJSON *j = cJSON_CreateObject();
        cJSON_AddItemToObject(j, "pipeline", cJSON_Duplicate(p, 1));
        reply(res, 201, j);
        return;
    }
    cJSON *p = nseg == 2 ? hs_pipeline_find(o, seg[1]) : NULL;
    if (!p) {
        bad(res, 404, "no such pipeline");
        return;
    }
    if (!strcmp(method, "DELETE")) {
        cJSON_Delete(cJSON_DetachItemViaPointer(get(o->extra, "pipelines"), p));
        cJSON *j = cJSON_CreateObject();
        cJSON_AddBoolToObject(j, "ok", true);
        reply(res, 200, j);
        return;
    }
    if (strcmp(method, "PUT")) {
        bad(res, 404, "unknown admin pipelines call");
        return;
    }
    if (jstr(body, "name"))
        cJSON_ReplaceItemInObjectCaseSensitive(p, "name", cJSON_CreateString(jstr(body, "name")));
    cJSON *stages = get(p, "stages");
    const cJSON *it;
    cJSON_ArrayForEach(it, get(body, "addStages"))
    {
        if (!cJSON_IsString(it))
            continue;
        const char *one[] = {it->valuestring, NULL};
        cJSON *tmp = hs_pipeline_add(c, l, o, "tmp", one);
        cJSON *s = cJSON_DetachItemFromArray(get(tmp, "stages"), 0);
        cJSON_Delete(cJSON_DetachItemViaPointer(get(o->extra, "pipelines"), tmp));
        cJSON_ReplaceItemInObjectCaseSensitive(s, "position",
                                               cJSON_CreateNumber(cJSON_GetArraySize(stages)));
        cJSON_AddItemToArray(stages, s);
    }
    cJSON_ArrayForEach(it, get(body, "renameStages"))
    {
        cJSON *s;
        cJSON_ArrayForEach(s, stages) if (cJSON_IsString(it) && !strcmp(jstr(s, "id"), it->string))
            cJSON_ReplaceItemInObjectCaseSensitive(s, "name", cJSON_CreateString(it->valuestring));
    }
    cJSON_ArrayForEach(it, get(body, "removeStages"))
    {
        for (int i = cJSON_GetArraySize(stages) - 1; i >= 0; i--)
            if (cJSON_IsString(it) &&
                !strcmp(jstr(cJSON_GetArrayItem(stages, i), "id"), it->valuestring))
                cJSON_DeleteItemFromArray(stages, i);
    }
    cJSON *j = cJSON_CreateObject();
    cJSON_AddItemToObject(j, "pipeline", cJSON_Duplicate(p, 1));
    reply(res, 200, j);
}

int hs_opps_admin(hs_ctx *c, const char *method, char seg[][256], int nseg, const char *qloc,
                  const cJSON *body, char **out)
{
    bool opps = !strcmp(seg[0], "opportunities"), pipes = !strcmp(seg[0], "pipelines");
    if (!opps && !pipes)
        return 0;
    ores res = {0, NULL};
    hs_loc *l = hs_loc_find(c, qloc);
    if (!l) {
        bad(&res, 404, "?locationId= must name a known location");
        *out = res.out;
        return res.status;
    }
    hs_object *o = hs_opps_obj(c, l), *co = hs_obj_find(l, "contact");
    if (hs_is_contacts(co))
        hs_contacts_settle(c, co);
    cJSON *errs = cJSON_CreateArray();
    if (pipes) {
        pipelines_call(&res, c, l, o, method, seg, nseg, body);
    } else if (nseg == 1 && !strcmp(method, "GET")) {
        reply(&res, 200, hs_opps_state_json(c, l, o));
    } else if (nseg == 1 && !strcmp(method, "POST")) {
        hs_rec *r = opp_from(c, co, o, body, false, errs);
        if (!r) {
            cJSON *j = cJSON_CreateObject();
            cJSON_AddNumberToObject(j, "statusCode", 422);
            cJSON_AddItemToObject(j, "message", cJSON_Duplicate(errs, 1));
            reply(&res, 422, j);
        } else {
            hs_rec_insert(o, r);
            c->ctr.web_creates++;
            opp_reply(&res, 201, c, l, o, r);
        }
    } else {
        hs_rec *r = nseg == 2 ? hs_rec_find(o, seg[1]) : NULL;
        if (!r) {
            bad(&res, 404, "Opportunity not found");
        } else if (!strcmp(method, "DELETE")) {
            hs_rel_forget_record(c, r->id);
            hs_rec_remove(o, r);
            c->ctr.web_deletes++;
            cJSON *j = cJSON_CreateObject();
            cJSON_AddBoolToObject(j, "succeded", true);
            reply(&res, 200, j);
        } else if (!strcmp(method, "PUT")) {
            char ref[300];
            int64_t now = hs_now_ms(), when = now > r->updated ? now : r->updated + 1;
            cJSON *base = cJSON_Parse(r->props), *b = cJSON_Duplicate(body, 1);
            cJSON_DeleteItemFromObjectCaseSensitive(b, "updatedAt");
            cJSON *d = hs_opp_apply(co, o, base, b, OW_ADMIN, now, errs, ref, sizeof ref);
            const cJSON *ua = get(body, "updatedAt");
            if (d && ua && !time_arg(ua, &when))
                cJSON_AddItemToArray(errs, cJSON_CreateString("updatedAt must be ISO-8601 or ms"));
            if (!d || cJSON_GetArraySize(errs)) {
                if (!cJSON_GetArraySize(errs))
                    cJSON_AddItemToArray(errs, cJSON_CreateString(ref));
                cJSON *j = cJSON_CreateObject();
                cJSON_AddNumberToObject(j, "statusCode", 422);
                cJSON_AddItemToObject(j, "message", cJSON_Duplicate(errs, 1));
                reply(&res, 422, j);
            } else {
                free(r->props);
                r->props = cJSON_PrintUnformatted(d);
                r->updated_src = SRC_WEB;
                hs_rec_touch(o, r, when);
                c->ctr.web_edits++;
                opp_reply(&res, 200, c, l, o, r);
            }
            cJSON_Delete(d);
            cJSON_Delete(b);
            cJSON_Delete(base);
        } else {
            bad(&res, 404, "unknown admin opportunities call");
        }
    }
    cJSON_Delete(errs);
    *out = res.out;
    return res.status;
}
