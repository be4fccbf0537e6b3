/*
 * hs_admin.c - the admin interface under /_admin/ (own bearer token): state dump/load, edits as
 * a web user, field changes, faults, switches, rate limits, tokens, counters, "another user".
 * Runs with ctx->mu taken here. See README.md for the reference.
 */
#include "hlsim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct areq {
    hs_ctx *c;
    const char *method;
    char seg[5][256];
    int nseg;
    const char *qloc;
    cJSON *body;
    int status;
    char *out;
} areq;

static void reply(areq *a, int status, cJSON *j)
{
    a->status = status;
    a->out = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
}

static void bad(areq *a, int status, const char *msg)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "statusCode", status);
    cJSON *l = cJSON_AddArrayToObject(j, "message");
    cJSON_AddItemToArray(l, cJSON_CreateString(msg));
    cJSON_AddStringToObject(j, "error", status == 404 ? "Not Found" : "Bad Request");
    reply(a, status, j);
}

static void bad_list(areq *a, cJSON *errs)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "statusCode", 422);
    cJSON_AddItemToObject(j, "message", cJSON_Duplicate(errs, 1));
    cJSON_AddStringToObject(j, "error", "Unprocessable Entity");
    reply(a, 422, j);
}

static bool is(const areq *a, const char *m, int n, const char *s1, const char *s2)
{
    return !strcmp(a->method, m) && a->nseg == n && (!s1 || !strcmp(a->seg[0], s1)) &&
           (!s2 || (n > 1 && !strcmp(a->seg[1], s2)));
}

static hs_loc *need_loc(areq *a)
{
    hs_loc *l = hs_loc_find(a->c, a->qloc);
    if (!l)
        bad(a, 404, "?locationId= must name a known location");
    return l;
}

static const char *bstr(const areq *a, const char *k)
{
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(a->body, k));
}

static const cJSON *bget(const areq *a, const char *k)
{
    return cJSON_GetObjectItemCaseSensitive(a->body, k);
}

static void ok(areq *a)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddBoolToObject(j, "ok", true);
    reply(a, 200, j);
}

/* ---- records as a web user ---------------------------------------------------------------- */

static void rec_reply(areq *a, int status, hs_loc *l, hs_object *o, hs_rec *r)
{
    hs_buf b = {0};
    hs_buf_puts(&b, "{\"record\":");
    hs_rec_render(&b, a->c, l, o, r, true, NULL);
    hs_buf_puts(&b, "}");
    a->status = status;
    a->out = hs_buf_steal(&b);
}

static void web_records(areq *a)
{
    hs_loc *l = need_loc(a);
    if (!l)
        return;
    hs_object *o = hs_obj_find(l, a->seg[1]);
    if (!o || !o->records_supported) {
        bad(a, 404, "no such object with records in this location");
        return;
    }
    int64_t now = hs_now_ms();
    cJSON *errs = cJSON_CreateArray();
    if (!strcmp(a->method, "POST") && a->nseg == 2) {
        const cJSON *props = bget(a, "properties");
        cJSON *p = cJSON_IsObject(props) ? hs_props_apply(o, NULL, props, errs) : NULL;
        char *owner = hs_people_apply(o, "owner", bget(a, "owner"), 1, errs);
        char *fol = hs_people_apply(o, "followers", bget(a, "followers"), 10, errs);
        if (!cJSON_IsObject(props))
            cJSON_AddItemToArray(errs, cJSON_CreateString("properties must be an object"));
        if (cJSON_GetArraySize(errs)) {
            free(owner);
            free(fol);
            cJSON_Delete(p);
            bad_list(a, errs);
            cJSON_Delete(errs);
            return;
        }
        hs_rec *r = calloc(1, sizeof *r);
        if (!r)
            abort();
        r->created = r->updated = now;
        const cJSON *ca = bget(a, "createdAt");
        int64_t ms;
        if (cJSON_IsString(ca) && hs_parse_iso_ms(ca->valuestring, &ms))
            r->created = r->updated = ms;
        hs_new_record_id(a->c, o, r->created, r->id);
        r->created_src = r->updated_src = SRC_WEB;
        r->props = cJSON_PrintUnformatted(p);
        r->owner = owner;
        r->followers = fol;
        cJSON_Delete(p);
        hs_rec_insert(o, r);
        a->c->ctr.web_creates++;
        rec_reply(a, 201, l, o, r);
        cJSON_Delete(errs);
        return;
    }
    hs_rec *r = a->nseg == 3 ? hs_rec_find(o, a->seg[2]) : NULL;
    if (!r) {
        cJSON_Delete(errs);
        bad(a, 404, "Record not found");
        return;
    }
    if (!strcmp(a->method, "DELETE")) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "id", r->id);
        cJSON_AddBoolToObject(j, "success", true);
        hs_rel_forget_record(a->c, r->id);
        hs_rec_remove(o, r);
        a->c->ctr.web_deletes++;
        reply(a, 200, j);
        cJSON_Delete(errs);
        return;
    }
    if (!strcmp(a->method, "PUT")) {
        cJSON *base = cJSON_Parse(r->props);
        const cJSON *props = bget(a, "properties");
        cJSON *p = cJSON_IsObject(props) ? hs_props_apply(o, base, props, errs) : NULL;
        if (!cJSON_IsObject(props))
            cJSON_AddItemToArray(errs, cJSON_CreateString("properties must be an object"));
        cJSON_Delete(base);
        if (!p) {
            bad_list(a, errs);
            cJSON_Delete(errs);
            return;
        }
        free(r->props);
        r->props = cJSON_PrintUnformatted(p);
        cJSON_Delete(p);
        r->updated_src = SRC_WEB;
        hs_rec_touch(o, r, now > r->updated ? now : r->updated + 1);
        a->c->ctr.web_edits++;
        rec_reply(a, 200, l, o, r);
        cJSON_Delete(errs);
        return;
    }
    cJSON_Delete(errs);
    bad(a, 404, "unknown admin records call");
}

/* ---- fields ------------------------------------------------------------------------------- */

static void field_reply(areq *a, int status, const cJSON *f)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddItemToObject(j, "field", cJSON_Duplicate(f, 1));
    reply(a, status, j);
}

static bool find_field(hs_loc *l, const char *key, hs_object **oo, cJSON **ff)
{
    for (int i = 0; i < l->n_objs; i++) {
        cJSON *f;
        cJSON_ArrayForEach(f, l->objs[i]->fields)
        {
            const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(f, "id"));
            const char *fk = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(f, "fieldKey"));
            if ((id && !strcmp(id, key)) || (fk && !strcmp(fk, key))) {
                *oo = l->objs[i];
                *ff = f;
                return true;
            }
        }
    }
    return false;
}

static void touch(cJSON *f)
{
    char when[32];
    hs_iso_ms(hs_now_ms(), when);
    cJSON_ReplaceItemInObjectCaseSensitive(f, "dateUpdated", cJSON_CreateString(when));
}

static void fields(areq *a)
{
    hs_loc *l = need_loc(a);
    if (!l)
        return;
    if (!strcmp(a->method, "POST") && a->nseg == 1) {
        hs_object *o = hs_obj_find(l, bstr(a, "objectKey"));
        const char *key = bstr(a, "key");
        int dt = hs_dtype_parse(bstr(a, "dataType"));
        if (!o || !key || dt == DT_UNKNOWN || hs_field_find(o, key) || strchr(key, '.')) {
            bad(a, 422, "need objectKey (existing), key (new short key), dataType (known)");
            return;
        }
        cJSON *f = hs_field_add(a->c, l, o, key, bstr(a, "name") ? bstr(a, "name") : key, dt, NULL);
        const cJSON *opts = bget(a, "options");
        if (cJSON_IsArray(opts))
            cJSON_AddItemToObject(f, "options", cJSON_Duplicate(opts, 1));
        const cJSON *aco = bget(a, "allowCustomOption");
        if (cJSON_IsBool(aco)) {
            cJSON_DeleteItemFromObjectCaseSensitive(f, "allowCustomOption");
            cJSON_AddBoolToObject(f, "allowCustomOption", cJSON_IsTrue(aco));
        }
        o->date_updated = hs_now_ms();
        field_reply(a, 201, f);
        return;
    }
    hs_object *o;
    cJSON *f;
    if (a->nseg != 2 || !find_field(l, a->seg[1], &o, &f)) {
        bad(a, 404, "no such field (id or fieldKey)");
        return;
    }
    if (!strcmp(a->method, "DELETE")) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddBoolToObject(j, "succeeded", true);
        char shortk[256];
        snprintf(shortk, sizeof shortk, "%s", hs_field_short(f));
        const char *fk = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(f, "fieldKey"));
        cJSON_AddStringToObject(j, "key", fk ? fk : "");
        for (int i = cJSON_GetArraySize(o->searchable) - 1; i >= 0; i--)
            if (fk && !strcmp(cJSON_GetStringValue(cJSON_GetArrayItem(o->searchable, i)), fk))
                cJSON_DeleteItemFromArray(o->searchable, i);
        cJSON_Delete(cJSON_DetachItemViaPointer(o->fields, f));
        hs_obj_strip_property(o, shortk);
        o->date_updated = hs_now_ms();
        reply(a, 200, j);
        return;
    }
    if (strcmp(a->method, "PUT")) {
        bad(a, 404, "unknown admin fields call");
        return;
    }
    if (bstr(a, "name"))
        cJSON_ReplaceItemInObjectCaseSensitive(f, "name", cJSON_CreateString(bstr(a, "name")));
    cJSON *opts = cJSON_GetObjectItemCaseSensitive(f, "options");
    const cJSON *it;
    cJSON_ArrayForEach(it, bget(a, "addOptions"))
    {
        const char *k = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "key"));
        const char *lb = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "label"));
        if (!k || hs_field_has_option(f, k))
            continue;
        if (!opts)
            opts = cJSON_AddArrayToObject(f, "options");
        cJSON *no = cJSON_CreateObject();
        cJSON_AddStringToObject(no, "key", k);
        cJSON_AddStringToObject(no, "label", lb ? lb : k);
        cJSON_AddItemToArray(opts, no);
    }
    cJSON_ArrayForEach(it, bget(a, "renameOptions"))
    {
        cJSON *op;
        cJSON_ArrayForEach(op, opts)
        {
            const char *k = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(op, "key"));
            if (k && !strcmp(k, it->string) && cJSON_IsString(it))
                cJSON_ReplaceItemInObjectCaseSensitive(op, "label",
                                                       cJSON_CreateString(it->valuestring));
        }
    }
    cJSON_ArrayForEach(it, bget(a, "removeOptions"))
    {
        for (int i = cJSON_GetArraySize(opts) - 1; i >= 0; i--) {
            const char *k = cJSON_GetStringValue(
                cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(opts, i), "key"));
            if (k && cJSON_IsString(it) && !strcmp(k, it->valuestring))
                cJSON_DeleteItemFromArray(opts, i);
        }
    }
    const cJSON *aco = bget(a, "allowCustomOption");
    if (cJSON_IsBool(aco)) {
        cJSON_DeleteItemFromObjectCaseSensitive(f, "allowCustomOption");
        cJSON_AddBoolToObject(f, "allowCustomOption", cJSON_IsTrue(aco));
    }
    touch(f);
    o->date_updated = hs_now_ms();
    field_reply(a, 200, f);
}

/* ---- switches, limits, faults, counters --------------------------------------------------- */

static cJSON *switches_json(const hs_ctx *c)
{
    static const char *const fm[] = {"on", "ignore", "reject"};
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "filters", fm[c->sw.filters]);
    cJSON_AddBoolToObject(j, "sort", !c->sw.sort_off);
    cJSON_AddNumberToObject(j, "pageCap", c->sw.page_cap);
    cJSON_AddBoolToObject(j, "omitTotal", c->sw.omit_total);
    cJSON_AddBoolToObject(j, "searchNames", c->sw.search_names);
    cJSON_AddNumberToObject(j, "indexLagMs", (double)c->sw.index_lag_ms);
    cJSON_AddStringToObject(j, "oppPostSearch", c->sw.opp_post_401 ? "401" : "on");
    cJSON_AddStringToObject(j, "refreshRotation", c->sw.keep_refresh ? "keep" : "rotate");
    cJSON_AddBoolToObject(j, "mintRefresh", !c->sw.mint_no_refresh);
    return j;
}

static void switches_put(areq *a)
{
    hs_switches sw = a->c->sw;
    const cJSON *it;
    cJSON_ArrayForEach(it, a->body)
    {
        if (!strcmp(it->string, "filters") && cJSON_IsString(it)) {
            if (!strcmp(it->valuestring, "on"))
                sw.filters = FILTERS_ON;
            else if (!strcmp(it->valuestring, "ignore"))
                sw.filters = FILTERS_IGNORE;
            else if (!strcmp(it->valuestring, "reject"))
                sw.filters = FILTERS_REJECT;
            else
                goto badk;
        } else if (!strcmp(it->string, "sort") && cJSON_IsBool(it)) {
            sw.sort_off = !cJSON_IsTrue(it);
        } else if (!strcmp(it->string, "pageCap") && cJSON_IsNumber(it) && it->valuedouble >= 0) {
            sw.page_cap = (int)it->valuedouble;
        } else if (!strcmp(it->string, "omitTotal") && cJSON_IsBool(it)) {
            sw.omit_total = cJSON_IsTrue(it);
        } else if (!strcmp(it->string, "searchNames") && cJSON_IsBool(it)) {
            sw.search_names = cJSON_IsTrue(it);
        } else if (!strcmp(it->string, "oppPostSearch") && cJSON_IsString(it) &&
                   (!strcmp(it->valuestring, "on") || !strcmp(it->valuestring, "401"))) {
            sw.opp_post_401 = !strcmp(it->valuestring, "401");
        } else if (!strcmp(it->string, "refreshRotation") && cJSON_IsString(it) &&
                   (!strcmp(it->valuestring, "rotate") || !strcmp(it->valuestring, "keep"))) {
            sw.keep_refresh = !strcmp(it->valuestring, "keep");
        } else if (!strcmp(it->string, "mintRefresh") && cJSON_IsBool(it)) {
            sw.mint_no_refresh = !cJSON_IsTrue(it);
        } else if (!strcmp(it->string, "indexLagMs") && cJSON_IsNumber(it) &&
                   it->valuedouble >= 0 && it->valuedouble <= 3600000) {
            sw.index_lag_ms = (long)it->valuedouble;
        } else {
            goto badk;
        }
        continue;
    badk:
        bad(a, 422,
            "switches: filters on|ignore|reject, sort bool, pageCap number, omitTotal bool, "
            "searchNames bool, indexLagMs 0..3600000, oppPostSearch on|401, refreshRotation "
            "rotate|keep, mintRefresh bool");
        return;
    }
    a->c->sw = sw;
    reply(a, 200, switches_json(a->c));
}

static cJSON *limits_json(const hs_ctx *c)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "burst", c->burst);
    cJSON_AddNumberToObject(j, "windowMs", (double)c->window_ms);
    cJSON_AddNumberToObject(j, "daily", (double)c->daily);
    return j;
}

static void reset_rates(hs_ctx *c)
{
    for (int i = 0; i < c->n_locs; i++) {
        hs_rate *r = &c->locs[i]->rate;
        r->head = r->count = 0;
        r->daily_used = 0;
    }
}

static cJSON *faults_json(const hs_ctx *c)
{
    cJSON *j = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(j, "faults");
    for (int i = 0; i < c->n_faults; i++)
        cJSON_AddItemToArray(arr, hs_fault_json(&c->faults[i]));
    return j;
}

static void faults_post(areq *a)
{
    char err[300];
    hs_fault tmp[64];
    int n = 0;
    if (cJSON_IsArray(a->body)) {
        const cJSON *it;
        cJSON_ArrayForEach(it, a->body)
        {
            if (n == 64 || hs_fault_from_json(it, &tmp[n++], err, sizeof err)) {
                bad(a, 422, n == 64 ? "too many faults" : err);
                return;
            }
        }
    } else if (hs_fault_from_json(a->body, &tmp[n++], err, sizeof err)) {
        bad(a, 422, err);
        return;
    }
    for (int i = 0; i < n; i++)
        hs_fault_add(a->c, &tmp[i]);
    reply(a, 201, faults_json(a->c));
}

static cJSON *counters_json(const hs_ctx *c)
{
    cJSON *j = cJSON_CreateObject();
    cJSON *er = cJSON_AddObjectToObject(j, "byEndpoint");
    for (int r = 0; r < R__COUNT; r++) {
        if (!c->ctr.by_route[r])
            continue;
        cJSON *e = cJSON_AddObjectToObject(er, hs_route_name(r));
        cJSON_AddNumberToObject(e, "total", (double)c->ctr.by_route[r]);
        for (int s = 0; s < 6; s++) {
            if (!c->ctr.by_route_status[r][s])
                continue;
            char k[16];
            snprintf(k, sizeof k, s ? "%dxx" : "reset", s);
            cJSON_AddNumberToObject(e, k, (double)c->ctr.by_route_status[r][s]);
        }
    }
    cJSON *bs = cJSON_AddObjectToObject(j, "byStatus");
    for (int s = 0; s < 600; s++) {
        if (!c->ctr.by_status[s])
            continue;
        char k[16];
        snprintf(k, sizeof k, "%d", s);
        cJSON_AddNumberToObject(bs, s ? k : "reset", (double)c->ctr.by_status[s]);
    }
    cJSON_AddNumberToObject(j, "served429", (double)c->ctr.served_429);
    cJSON_AddNumberToObject(j, "faultsInjected", (double)c->ctr.faults_injected);
    cJSON *w = cJSON_AddObjectToObject(j, "anotherUser");
    cJSON_AddNumberToObject(w, "creates", (double)c->ctr.web_creates);
    cJSON_AddNumberToObject(w, "edits", (double)c->ctr.web_edits);
    cJSON_AddNumberToObject(w, "deletes", (double)c->ctr.web_deletes);
    cJSON *rl = cJSON_AddObjectToObject(j, "rateLimit");
    for (int i = 0; i < c->n_locs; i++) {
        cJSON *x = cJSON_AddObjectToObject(rl, c->locs[i]->id);
        cJSON_AddNumberToObject(x, "inWindow", c->locs[i]->rate.count);
        cJSON_AddNumberToObject(x, "dailyUsed", (double)c->locs[i]->rate.daily_used);
    }
    return j;
}

static cJSON *web_json(const hs_ctx *c)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "rate", c->web_rate);
    cJSON_AddStringToObject(j, "locationId", c->web_location);
    cJSON_AddStringToObject(j, "objectKey", c->web_object);
    return j;
}

static void dispatch(areq *a)
{
    hs_ctx *c = a->c;
    int cst =
        a->nseg ? hs_contacts_admin(c, a->method, a->seg, a->nseg, a->qloc, a->body, &a->out) : 0;
    if (!cst && a->nseg)
        cst = hs_opps_admin(c, a->method, a->seg, a->nseg, a->qloc, a->body, &a->out);
    if (!cst && a->nseg)
        cst = hs_assoc_admin(c, a->method, a->seg, a->nseg, a->qloc, a->body, &a->out);
    if (cst) {
        a->status = cst;
    } else if (is(a, "GET", 1, "health", NULL)) {
        ok(a);
    } else if (is(a, "GET", 1, "locations", NULL)) {
        cJSON *j = cJSON_CreateObject();
        cJSON *arr = cJSON_AddArrayToObject(j, "locations");
        for (int i = 0; i < c->n_locs; i++) {
            cJSON *x = cJSON_CreateObject();
            cJSON_AddStringToObject(x, "id", c->locs[i]->id);
            cJSON_AddStringToObject(x, "token", c->locs[i]->access);
            cJSON_AddStringToObject(x, "refresh", c->locs[i]->refresh);
            cJSON_AddItemToArray(arr, x);
        }
        reply(a, 200, j);
    } else if (is(a, "GET", 1, "state", NULL)) {
        hs_loc *l = NULL;
        if (a->qloc && !(l = need_loc(a)))
            return;
        a->status = 200;
        a->out = hs_state_dump(c, l);
    } else if (is(a, "POST", 1, "state", NULL)) {
        cJSON *errs = cJSON_CreateArray();
        int st = hs_state_load(c, a->body, errs);
        if (st != 200)
            bad_list(a, errs);
        else
            ok(a);
        cJSON_Delete(errs);
    } else if (a->nseg >= 2 && !strcmp(a->seg[0], "records")) {
        web_records(a);
    } else if (a->nseg >= 1 && !strcmp(a->seg[0], "fields")) {
        fields(a);
    } else if (is(a, "GET", 1, "switches", NULL)) {
        reply(a, 200, switches_json(c));
    } else if (is(a, "PUT", 1, "switches", NULL)) {
        switches_put(a);
    } else if (is(a, "GET", 1, "ratelimit", NULL)) {
        reply(a, 200, limits_json(c));
    } else if (is(a, "PUT", 1, "ratelimit", NULL)) {
        const cJSON *b = bget(a, "burst"), *w = bget(a, "windowMs"), *d = bget(a, "daily");
        if ((b && (!cJSON_IsNumber(b) || b->valuedouble < 0)) ||
            (w && (!cJSON_IsNumber(w) || w->valuedouble < 1)) ||
            (d && (!cJSON_IsNumber(d) || d->valuedouble < 0))) {
            bad(a, 422, "ratelimit: burst >= 0, windowMs >= 1, daily >= 0 (0 = unlimited)");
            return;
        }
        if (b)
            c->burst = (int)b->valuedouble;
        if (w)
            c->window_ms = (long)w->valuedouble;
        if (d)
            c->daily = (long)d->valuedouble;
        reset_rates(c);
        reply(a, 200, limits_json(c));
    } else if (is(a, "POST", 2, "ratelimit", "reset")) {
        reset_rates(c);
        ok(a);
    } else if (is(a, "GET", 1, "faults", NULL)) {
        reply(a, 200, faults_json(c));
    } else if (is(a, "POST", 1, "faults", NULL)) {
        faults_post(a);
    } else if (is(a, "DELETE", 1, "faults", NULL)) {
        c->n_faults = 0;
        reply(a, 200, faults_json(c));
    } else if (is(a, "DELETE", 2, "faults", NULL)) {
        int id = atoi(a->seg[1]);
        for (int i = 0; i < c->n_faults; i++)
            if (c->faults[i].id == id) {
                memmove(&c->faults[i], &c->faults[i + 1],
                        (size_t)(c->n_faults - i - 1) * sizeof *c->faults);
                c->n_faults--;
                reply(a, 200, faults_json(c));
                return;
            }
        bad(a, 404, "no such fault");
    } else if (is(a, "POST", 2, "tokens", "expire")) {
        if (a->qloc) {
            hs_loc *l = need_loc(a);
            if (!l)
                return;
            hs_loc_expire_access(c, l);
        } else {
            for (int i = 0; i < c->n_locs; i++)
                hs_loc_expire_access(c, c->locs[i]);
        }
        ok(a);
    } else if (is(a, "PUT", 1, "tokens", NULL)) {
        const cJSON *t = bget(a, "ttlSeconds");
        if (!cJSON_IsNumber(t) || t->valuedouble < 1) {
            bad(a, 422, "ttlSeconds must be a number >= 1");
            return;
        }
        c->token_ttl_s = (long)t->valuedouble;
        ok(a);
    } else if (is(a, "GET", 1, "counters", NULL)) {
        reply(a, 200, counters_json(c));
    } else if (is(a, "POST", 2, "counters", "reset")) {
        memset(&c->ctr, 0, sizeof c->ctr);
        ok(a);
    } else if (is(a, "GET", 1, "another-user", NULL)) {
        reply(a, 200, web_json(c));
    } else if (is(a, "PUT", 1, "another-user", NULL)) {
        const cJSON *r = bget(a, "rate");
        if (r && (!cJSON_IsNumber(r) || r->valuedouble < 0)) {
            bad(a, 422, "rate must be a number >= 0 (operations per second)");
            return;
        }
        if (r)
            c->web_rate = r->valuedouble;
        if (bget(a, "locationId"))
            snprintf(c->web_location, sizeof c->web_location, "%s",
                     bstr(a, "locationId") ? bstr(a, "locationId") : "");
        if (bget(a, "objectKey"))
            snprintf(c->web_object, sizeof c->web_object, "%s",
                     bstr(a, "objectKey") ? bstr(a, "objectKey") : "");
        reply(a, 200, web_json(c));
    } else if (is(a, "POST", 2, "another-user", "step")) {
        const cJSON *n = bget(a, "n");
        long cnt = cJSON_IsNumber(n) ? (long)n->valuedouble : 1;
        for (long i = 0; i < cnt; i++)
            hs_web_step(c);
        reply(a, 200, counters_json(c));
    } else {
        bad(a, 404, "unknown admin endpoint (see tests/hlsim/README.md)");
    }
}

int hs_admin(hs_ctx *c, const char *method, const char *path, const char *query_loc,
             const char *body, size_t body_len, char **out)
{
    areq a;
    memset(&a, 0, sizeof a);
    a.c = c;
    a.method = method;
    a.qloc = query_loc;
    const char *p = path + strlen("/_admin");
    while (*p == '/')
        p++;
    while (*p && a.nseg < 5) {
        const char *s = strchr(p, '/');
        size_t n = s ? (size_t)(s - p) : strlen(p);
        if (n >= sizeof a.seg[0])
            n = sizeof a.seg[0] - 1;
        memcpy(a.seg[a.nseg], p, n);
        a.seg[a.nseg][n] = 0;
        a.nseg++;
        if (!s)
            break;
        p = s + 1;
    }
    if (body_len) {
        a.body = cJSON_ParseWithLength(body, body_len);
        if (!a.body) {
            bad(&a, 400, "body is not valid JSON");
            *out = a.out;
            return a.status;
        }
    } else {
        a.body = cJSON_CreateObject();
    }
    if (a.nseg >= 1 && !strcmp(a.seg[0], "webhooks")) { /* its own lock, may send (slow) */
        a.status = hs_wh_admin(c, a.method, a.seg, a.nseg, a.body, &a.out);
    } else {
        pthread_mutex_lock(&c->mu);
        if (a.nseg >= 1 && !strcmp(a.seg[0], "agency"))
            a.status = hs_agency_admin(c, method, a.nseg > 1 ? a.seg[1] : "", a.body, &a.out);
        else
            dispatch(&a);
        pthread_mutex_unlock(&c->mu);
    }
    cJSON_Delete(a.body);
    *out = a.out;
    return a.status;
}
