/*
 * hs_capi.c - the public contacts endpoints (search, create, upsert, get, update, delete, tags)
 * and GET /locations/{id}/customFields. Runs with ctx->mu held, like hs_api.c. Every handler
 * first lets due versions into the search index (hs_contacts_settle).
 */
#include "hlsim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static void fail_list(hs_call *k, cJSON *errs)
{
    k->status = 422;
    hs_err_body(&k->out, 422, NULL, errs);
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

static const char *jstr(const cJSON *o, const char *k)
{
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k));
}

/* the body's locationId: required (422) and the token's own (403) */
static bool body_loc(hs_call *k, const cJSON *b)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(b, "locationId");
    if (!cJSON_IsString(v) || !v->valuestring[0]) {
        fail(k, 422, "locationId must be a string");
        return false;
    }
    if (strcmp(v->valuestring, k->loc->id)) {
        fail(k, 403, "The token does not have access to this location");
        return false;
    }
    return true;
}

static void contact_out(hs_call *k, int status, const char *pre, hs_object *o, hs_rec *r)
{
    k->status = status;
    hs_buf_puts(&k->out, pre);
    hs_contact_render(&k->out, k->c, k->loc, o, r, CV_GET, NULL);
    hs_buf_puts(&k->out, "}");
}

static hs_rec *need_contact(hs_call *k, hs_object *o)
{
    hs_rec *r = hs_contact_get(o, k->id);
    if (!r)
        fail(k, 404, "Contact not found");
    return r;
}

static cJSON *data_of(const hs_rec *r)
{
    cJSON *d = cJSON_Parse(r->props ? r->props : "{}");
    return d ? d : cJSON_CreateObject();
}

/* a new version of r with data, dateUpdated moved forward (strictly, so that every write is a
 * new sort key) */
static hs_rec *new_version(const hs_rec *r, const cJSON *data, int src)
{
    hs_rec *n = hs_rec_clone(r);
    hs_contact_set_data(n, data);
    int64_t now = hs_now_ms();
    n->updated = now > r->updated ? now : r->updated + 1;
    n->updated_src = (uint8_t)src;
    return n;
}

/* 400 "does not allow duplicated contacts" when the location's rule finds another contact */
static bool dup_refused(hs_call *k, hs_object *o, const cJSON *data, const char *self)
{
    hs_cstore *cs = o->cs;
    for (int i = 0; i < cs->n_rule; i++) {
        const char *fld = cs->rule[i] == CDUP_EMAIL ? "email" : "phone";
        const char *id = hs_contact_dup_find(o, cs->rule[i], jstr(data, fld), self);
        if (!id)
            continue;
        hs_rec *other = hs_contact_get(o, id);
        cJSON *od = other ? data_of(other) : cJSON_CreateObject();
        const char *fn = jstr(od, "firstName"), *ln = jstr(od, "lastName");
        char name[600];
        snprintf(name, sizeof name, "%s%s%s", fn ? fn : "", fn && ln ? " " : "", ln ? ln : "");
        k->status = 400;
        hs_buf_puts(&k->out, "{\"statusCode\":400,\"message\":\"This location does not allow "
                             "duplicated contacts.\",\"meta\":{\"contactId\":");
        hs_buf_json_str(&k->out, id);
        hs_buf_puts(&k->out, ",\"contactName\":");
        hs_buf_json_str(&k->out, name);
        hs_buf_printf(&k->out, ",\"matchingField\":\"%s\"}}", fld);
        cJSON_Delete(od);
        return true;
    }
    return false;
}

static void contact_create(hs_call *k, hs_object *o)
{
    cJSON *b = parse_body(k);
    if (!b)
        return;
    cJSON *errs = cJSON_CreateArray();
    cJSON *data = hs_contact_apply(o, NULL, b, CW_CREATE, errs);
    if (!data)
        fail_list(k, errs);
    else if (body_loc(k, b) && !dup_refused(k, o, data, NULL)) {
        hs_rec *r = hs_contact_new(k->c, o, data, hs_now_ms(), SRC_API);
        char id[25];
        snprintf(id, sizeof id, "%s", r->id);
        hs_contact_commit(k->c, o, r);
        contact_out(k, 201, "{\"contact\":", o, hs_contact_get(o, id));
    }
    cJSON_Delete(data);
    cJSON_Delete(errs);
    cJSON_Delete(b);
}

static void contact_upsert(hs_call *k, hs_object *o)
{
    cJSON *b = parse_body(k);
    if (!b)
        return;
    cJSON *errs = cJSON_CreateArray();
    cJSON *data = hs_contact_apply(o, NULL, b, CW_UPSERT, errs);
    const cJSON *cn = cJSON_GetObjectItemCaseSensitive(b, "createNewIfDuplicateAllowed");
    if (cn && !cJSON_IsBool(cn)) {
        cJSON_AddItemToArray(
            errs, cJSON_CreateString("createNewIfDuplicateAllowed must be a boolean value"));
        cJSON_Delete(data);
        data = NULL;
    }
    if (!data) {
        fail_list(k, errs);
        goto out;
    }
    if (!body_loc(k, b))
        goto out;
    hs_cstore *cs = o->cs;
    /* match by the location's rule order; with duplicates allowed, email then phone unless
     * the caller asks for a new contact */
    int order[2] = {CDUP_EMAIL, CDUP_PHONE}, n = 2;
    if (cs->n_rule) {
        n = cs->n_rule;
        memcpy(order, cs->rule, sizeof order);
    } else if (cJSON_IsTrue(cn)) {
        n = 0;
    }
    const char *match = NULL;
    for (int i = 0; i < n && !match; i++)
        match = hs_contact_dup_find(o, order[i],
                                    jstr(data, order[i] == CDUP_EMAIL ? "email" : "phone"), NULL);
    char id[25];
    if (match) {
        hs_rec *r = hs_contact_get(o, match);
        cJSON *base = data_of(r);
        cJSON *nd = hs_contact_apply(o, base, b, CW_UPSERT, errs);
        hs_rec *v = new_version(r, nd, SRC_API);
        snprintf(id, sizeof id, "%s", v->id);
        hs_contact_commit(k->c, o, v);
        cJSON_Delete(base);
        cJSON_Delete(nd);
        contact_out(k, 200, "{\"new\":false,\"contact\":", o, hs_contact_get(o, id));
    } else {
        hs_rec *r = hs_contact_new(k->c, o, data, hs_now_ms(), SRC_API);
        snprintf(id, sizeof id, "%s", r->id);
        hs_contact_commit(k->c, o, r);
        contact_out(k, 200, "{\"new\":true,\"contact\":", o, hs_contact_get(o, id));
    }
out:
    cJSON_Delete(data);
    cJSON_Delete(errs);
    cJSON_Delete(b);
}

static void contact_put(hs_call *k, hs_object *o)
{
    cJSON *b = parse_body(k);
    if (!b)
        return;
    cJSON *errs = cJSON_CreateArray();
    hs_rec *r = need_contact(k, o);
    if (r) {
        cJSON *base = data_of(r);
        cJSON *nd = hs_contact_apply(o, base, b, CW_UPDATE, errs);
        if (!nd) {
            fail_list(k, errs);
        } else {
            hs_rec *v = new_version(r, nd, SRC_API);
            hs_contact_commit(k->c, o, v);
            contact_out(k, 200, "{\"succeded\":true,\"contact\":", o, hs_contact_get(o, k->id));
        }
        cJSON_Delete(base);
        cJSON_Delete(nd);
    }
    cJSON_Delete(errs);
    cJSON_Delete(b);
}

static void contact_delete(hs_call *k, hs_object *o)
{
    hs_rec *r = need_contact(k, o);
    if (!r)
        return;
    hs_rec *v = hs_rec_clone(r);
    v->deleted = 1;
    hs_contact_commit(k->c, o, v);
    k->status = 200;
    hs_buf_puts(&k->out, "{\"succeded\":true}");
}

/* POST / DELETE /contacts/{id}/tags and /followers: add to or remove from one list key.
 * Tags answer {"tags": [all]}; followers {"followers": [all], "followersAdded"|"followersRemoved"}
 * (the spec's answer DTOs). */
static void contact_list_op(hs_call *k, hs_object *o, const char *key, bool add)
{
    cJSON *b = parse_body(k);
    if (!b)
        return;
    char m[300];
    cJSON *errs = cJSON_CreateArray(), *changed = cJSON_CreateArray();
    const cJSON *it, *vals = cJSON_GetObjectItemCaseSensitive(b, key);
    cJSON_ArrayForEach(it, b)
    {
        if (strcmp(it->string, key)) {
            snprintf(m, sizeof m, "property %.200s should not exist", it->string);
            cJSON_AddItemToArray(errs, cJSON_CreateString(m));
        }
    }
    if (!cJSON_IsArray(vals)) {
        snprintf(m, sizeof m, "%s must be an array", key);
        cJSON_AddItemToArray(errs, cJSON_CreateString(m));
    }
    cJSON_ArrayForEach(it, vals)
    {
        if (!cJSON_IsString(it) || !it->valuestring[0]) {
            snprintf(m, sizeof m, "each value in %s must be a non-empty string", key);
            cJSON_AddItemToArray(errs, cJSON_CreateString(m));
            break;
        }
    }
    if (cJSON_GetArraySize(errs)) {
        fail_list(k, errs);
        goto out;
    }
    hs_rec *r = need_contact(k, o);
    if (!r)
        goto out;
    cJSON *d = data_of(r);
    cJSON *cur = cJSON_GetObjectItemCaseSensitive(d, key);
    if (!cJSON_IsArray(cur)) {
        cJSON_DeleteItemFromObjectCaseSensitive(d, key);
        cur = cJSON_AddArrayToObject(d, key);
    }
    cJSON_ArrayForEach(it, vals)
    {
        int at = -1, i = 0;
        const cJSON *x;
        cJSON_ArrayForEach(x, cur)
        {
            if (cJSON_IsString(x) && !strcmp(x->valuestring, it->valuestring))
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
    hs_rec *v = new_version(r, d, SRC_API);
    hs_contact_commit(k->c, o, v);
    k->status = add ? 201 : 200;
    char *s = cJSON_PrintUnformatted(cur);
    hs_buf_printf(&k->out, "{\"%s\":%s", key, s ? s : "[]");
    free(s);
    if (!strcmp(key, "followers")) {
        s = cJSON_PrintUnformatted(changed);
        hs_buf_printf(&k->out, ",\"%s\":%s", add ? "followersAdded" : "followersRemoved",
                      s ? s : "[]");
        free(s);
    }
    hs_buf_puts(&k->out, "}");
    cJSON_Delete(d);
out:
    cJSON_Delete(changed);
    cJSON_Delete(errs);
    cJSON_Delete(b);
}

static void contact_search(hs_call *k, hs_object *o)
{
    cJSON *b = parse_body(k);
    if (!b)
        return;
    cJSON *errs = cJSON_CreateArray();
    const cJSON *loc = cJSON_GetObjectItemCaseSensitive(b, "locationId");
    if (cJSON_IsString(loc) && strcmp(loc->valuestring, k->loc->id)) {
        fail(k, 403, "The token does not have access to this location");
    } else {
        int st = hs_family_search(k->c, k->loc, o, HS_FAM_CONTACTS, b, &k->out, errs);
        if (st != 200) {
            free(k->out.d);
            memset(&k->out, 0, sizeof k->out);
            fail_list(k, errs);
        } else {
            k->status = 200;
        }
    }
    cJSON_Delete(errs);
    cJSON_Delete(b);
}

/* GET /contacts/search/duplicate?locationId=&email=&number=: the store, not the search index,
 * so it sees a contact created a moment ago (what a retry after an unknown outcome needs) */
static void contact_dup(hs_call *k, hs_object *o)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, k->q_all)
    {
        if (strcmp(it->string, "locationId") && strcmp(it->string, "email") &&
            strcmp(it->string, "number")) {
            char m[300];
            snprintf(m, sizeof m, "property %.200s should not exist", it->string);
            fail(k, 422, m);
            return;
        }
    }
    const char *loc = jstr(k->q_all, "locationId");
    if (!loc || !*loc) {
        fail(k, 422, "locationId should not be empty");
        return;
    }
    if (strcmp(loc, k->loc->id)) {
        fail(k, 403, "The token does not have access to this location");
        return;
    }
    hs_cstore *cs = o->cs;
    int order[2] = {CDUP_EMAIL, CDUP_PHONE}, n = 2;
    if (cs->n_rule) {
        n = cs->n_rule;
        memcpy(order, cs->rule, sizeof order);
    }
    const char *id = NULL;
    for (int i = 0; i < n && !id; i++)
        id = hs_contact_dup_find(o, order[i],
                                 jstr(k->q_all, order[i] == CDUP_EMAIL ? "email" : "number"), NULL);
    hs_rec *r = id ? hs_contact_get(o, id) : NULL;
    if (r) {
        contact_out(k, 200, "{\"contact\":", o, r);
    } else {
        k->status = 200;
        hs_buf_puts(&k->out, "{\"contact\":null}");
    }
}

static void loc_custom_fields(hs_call *k, hs_object *o)
{
    if (strcmp(k->key, k->loc->id)) {
        fail(k, 403, "The token does not have access to this location");
        return;
    }
    const char *m = k->q_model;
    if (m && strcmp(m, "contact") && strcmp(m, "opportunity") && strcmp(m, "all")) {
        fail(k, 422, "model must be one of the following values: contact, opportunity, all");
        return;
    }
    cJSON *j = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(j, "customFields");
    const cJSON *f;
    if (!m || strcmp(m, "opportunity"))
        cJSON_ArrayForEach(f, o->fields) cJSON_AddItemToArray(arr, cJSON_Duplicate(f, 1));
    if (!m || strcmp(m, "contact")) {
        hs_object *op = hs_opps_obj(k->c, k->loc);
        cJSON_ArrayForEach(f, op->fields) cJSON_AddItemToArray(arr, cJSON_Duplicate(f, 1));
    }
    char *s = cJSON_PrintUnformatted(j);
    k->status = 200;
    hs_buf_puts(&k->out, s ? s : "{}");
    free(s);
    cJSON_Delete(j);
}

void hs_contacts_dispatch(hs_call *k)
{
    hs_object *o = hs_contacts_obj(k->c, k->loc);
    hs_contacts_settle(k->c, o);
    switch (k->route) {
    case R_CONTACT_SEARCH:
        contact_search(k, o);
        break;
    case R_CONTACT_CREATE:
        contact_create(k, o);
        break;
    case R_CONTACT_UPSERT:
        contact_upsert(k, o);
        break;
    case R_CONTACT_GET: {
        hs_rec *r = need_contact(k, o);
        if (r)
            contact_out(k, 200, "{\"contact\":", o, r);
        break;
    }
    case R_CONTACT_PUT:
        contact_put(k, o);
        break;
    case R_CONTACT_DELETE:
        contact_delete(k, o);
        break;
    case R_CONTACT_TAGS_ADD:
        contact_list_op(k, o, "tags", true);
        break;
    case R_CONTACT_TAGS_DEL:
        contact_list_op(k, o, "tags", false);
        break;
    case R_LOC_CF_LIST:
        loc_custom_fields(k, o);
        break;
    case R_CONTACT_DUP:
        contact_dup(k, o);
        break;
    case R_CONTACT_FOLLOWERS_ADD:
        contact_list_op(k, o, "followers", true);
        break;
    case R_CONTACT_FOLLOWERS_DEL:
        contact_list_op(k, o, "followers", false);
        break;
    default:
        fail(k, 404, "Not Found");
    }
}
