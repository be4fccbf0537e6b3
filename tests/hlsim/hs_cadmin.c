/*
 * hs_cadmin.c - the admin calls for contacts (see README.md "Admin interface"): dump, edits as a
 * web user (create, edit, delete, tags), custom field definitions, the duplicate rule. Called
 * from hs_admin.c with ctx->mu held; answers 0 for a path that is not a contacts call.
 */
#include "hlsim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct cres {
    int status;
    char *out;
} cres;

static void reply(cres *r, int status, cJSON *j)
{
    r->status = status;
    r->out = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
}

static void bad(cres *r, int status, const char *msg)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "statusCode", status);
    cJSON_AddItemToArray(cJSON_AddArrayToObject(j, "message"), cJSON_CreateString(msg));
    cJSON_AddStringToObject(j, "error", status == 404 ? "Not Found" : "Bad Request");
    reply(r, status, j);
}

static void bad_list(cres *r, cJSON *errs)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "statusCode", 422);
    cJSON_AddItemToObject(j, "message", cJSON_Duplicate(errs, 1));
    cJSON_AddStringToObject(j, "error", "Unprocessable Entity");
    reply(r, 422, j);
}

static const char *jstr(const cJSON *o, const char *k)
{
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k));
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

static void contact_reply(cres *r, int status, hs_ctx *c, hs_loc *l, hs_object *o, const char *id)
{
    hs_buf b = {0};
    hs_buf_puts(&b, "{\"contact\":");
    hs_contact_render(&b, c, l, o, hs_contact_get(o, id), CV_GET, NULL);
    hs_buf_puts(&b, "}");
    r->status = status;
    r->out = hs_buf_steal(&b);
}

cJSON *hs_contacts_state_json(hs_ctx *c, hs_loc *l, hs_object *o)
{
    hs_buf b = {0};
    hs_contacts_dump(&b, c, l, o);
    cJSON *j = cJSON_CreateObject();
    cJSON_AddItemToObject(j, "customFields", cJSON_Duplicate(o->fields, 1));
    cJSON *arr = cJSON_Parse(b.d);
    free(b.d);
    cJSON_AddNumberToObject(j, "total", cJSON_GetArraySize(arr));
    cJSON_AddItemToObject(j, "contacts", arr ? arr : cJSON_CreateArray());
    cJSON *dup = cJSON_AddArrayToObject(j, "duplicates");
    for (int i = 0; i < o->cs->n_rule; i++)
        cJSON_AddItemToArray(dup,
                             cJSON_CreateString(o->cs->rule[i] == CDUP_EMAIL ? "email" : "phone"));
    return j;
}

/* a contact from an admin body (CW_ADMIN keys); id, dateAdded, dateUpdated optional */
static hs_rec *contact_from(hs_ctx *c, hs_object *o, const cJSON *body, cJSON *errs)
{
    cJSON *d = hs_contact_apply(o, NULL, body, CW_ADMIN, errs);
    if (!d)
        return NULL;
    int64_t now = hs_now_ms(), added = now, updated;
    const cJSON *da = cJSON_GetObjectItemCaseSensitive(body, "dateAdded");
    const cJSON *du = cJSON_GetObjectItemCaseSensitive(body, "dateUpdated");
    if (da && !time_arg(da, &added))
        cJSON_AddItemToArray(errs, cJSON_CreateString("dateAdded must be ISO-8601 or epoch ms"));
    updated = added;
    if (du && !time_arg(du, &updated))
        cJSON_AddItemToArray(errs, cJSON_CreateString("dateUpdated must be ISO-8601 or epoch ms"));
    const char *id = jstr(body, "id");
    if (id && (strlen(id) < 1 || strlen(id) > 24 || hs_contact_get(o, id) ||
               hs_map_find(&o->cs->cur, id) || hs_rec_find(o, id)))
        cJSON_AddItemToArray(errs, cJSON_CreateString("id must be 1..24 characters and unused"));
    if (cJSON_GetArraySize(errs)) {
        cJSON_Delete(d);
        return NULL;
    }
    hs_rec *r = hs_contact_new(c, o, d, added, SRC_WEB);
    r->updated = updated;
    if (id)
        snprintf(r->id, sizeof r->id, "%s", id);
    cJSON_Delete(d);
    return r;
}

bool hs_contacts_load(hs_ctx *c, hs_loc *l, hs_object *o, const cJSON *fields,
                      const cJSON *contacts, cJSON *errs)
{
    const cJSON *f;
    cJSON_ArrayForEach(f, fields)
    {
        const char *fk = jstr(f, "fieldKey");
        int dt = hs_dtype_parse(jstr(f, "dataType"));
        size_t pl = strlen(o->key);
        if (!fk || strncmp(fk, o->key, pl) || fk[pl] != '.' || !fk[pl + 1] || dt == DT_UNKNOWN ||
            hs_cfield_find(o, fk) || (jstr(f, "id") && hs_cfield_find(o, jstr(f, "id")))) {
            cJSON_AddItemToArray(
                errs, cJSON_CreateString("customFields: each needs a new fieldKey "
                                         "<object>.<key>, a known dataType and a new id"));
            return false;
        }
        const char *sk = fk + pl + 1;
        cJSON *nf = hs_cfield_add(c, l, o, sk, jstr(f, "name") ? jstr(f, "name") : sk, dt, NULL);
        const cJSON *it;
        cJSON_ArrayForEach(it, f)
        {
            if (!strcmp(it->string, "locationId") || !strcmp(it->string, "model") ||
                !strcmp(it->string, "fieldKey"))
                continue;
            cJSON_DeleteItemFromObjectCaseSensitive(nf, it->string);
            cJSON_AddItemToObject(nf, it->string, cJSON_Duplicate(it, 1));
        }
    }
    if (!o->cs)
        return true; /* opportunity fields: the records are loaded by hs_opps_load */
    const cJSON *cj;
    cJSON_ArrayForEach(cj, contacts)
    {
        hs_rec *r = contact_from(c, o, cj, errs);
        if (!r)
            return false;
        hs_rec_append(o, r);
    }
    hs_index_sort_all(o);
    return true;
}

static hs_rec *edit_version(const hs_rec *r, const cJSON *data, const cJSON *body, cJSON *errs)
{
    int64_t now = hs_now_ms(), when = now > r->updated ? now : r->updated + 1;
    const cJSON *du = cJSON_GetObjectItemCaseSensitive(body, "dateUpdated");
    if (du && !time_arg(du, &when)) {
        cJSON_AddItemToArray(errs, cJSON_CreateString("dateUpdated must be ISO-8601 or epoch ms"));
        return NULL;
    }
    hs_rec *v = hs_rec_clone(r);
    hs_contact_set_data(v, data);
    v->updated = when;
    v->updated_src = SRC_WEB;
    return v;
}

static void contacts_call(cres *res, hs_ctx *c, hs_loc *l, hs_object *o, const char *method,
                          char seg[][256], int nseg, const cJSON *body)
{
    cJSON *errs = cJSON_CreateArray();
    if (nseg == 1 && !strcmp(method, "GET")) {
        reply(res, 200, hs_contacts_state_json(c, l, o));
    } else if (nseg == 1 && !strcmp(method, "POST")) {
        hs_rec *r = contact_from(c, o, body, errs);
        if (!r) {
            bad_list(res, errs);
        } else {
            char id[25];
            snprintf(id, sizeof id, "%s", r->id);
            hs_contact_commit(c, o, r);
            c->ctr.web_creates++;
            contact_reply(res, 201, c, l, o, id);
        }
    } else {
        hs_rec *r = nseg >= 2 ? hs_contact_get(o, seg[1]) : NULL;
        if (!r) {
            bad(res, 404, "Contact not found");
        } else if (nseg == 2 && !strcmp(method, "DELETE")) {
            hs_rec *v = hs_rec_clone(r);
            v->deleted = 1;
            hs_contact_commit(c, o, v);
            c->ctr.web_deletes++;
            cJSON *j = cJSON_CreateObject();
            cJSON_AddBoolToObject(j, "succeded", true);
            reply(res, 200, j);
        } else if ((nseg == 2 && !strcmp(method, "PUT")) ||
                   (nseg == 3 && !strcmp(seg[2], "tags") &&
                    (!strcmp(method, "POST") || !strcmp(method, "DELETE")))) {
            cJSON *base = cJSON_Parse(r->props);
            cJSON *d = NULL;
            if (nseg == 2) {
                cJSON *b = cJSON_Duplicate(body, 1);
                cJSON_DeleteItemFromObjectCaseSensitive(b, "dateUpdated");
                d = hs_contact_apply(o, base, b, CW_ADMIN, errs);
                cJSON_Delete(b);
            } else {
                const cJSON *tags = cJSON_GetObjectItemCaseSensitive(body, "tags"), *t;
                d = cJSON_Duplicate(base, 1);
                cJSON *cur = cJSON_GetObjectItemCaseSensitive(d, "tags");
                if (!cJSON_IsArray(cur)) {
                    cJSON_DeleteItemFromObjectCaseSensitive(d, "tags");
                    cur = cJSON_AddArrayToObject(d, "tags");
                }
                if (!cJSON_IsArray(tags))
                    cJSON_AddItemToArray(errs, cJSON_CreateString("tags must be an array"));
                cJSON_ArrayForEach(t, tags)
                {
                    if (!cJSON_IsString(t) || !t->valuestring[0]) {
                        cJSON_AddItemToArray(errs, cJSON_CreateString("tags: non-empty strings"));
                        break;
                    }
                    int at = -1, i = 0;
                    const cJSON *x;
                    cJSON_ArrayForEach(x, cur)
                    {
                        if (cJSON_IsString(x) && !strcmp(x->valuestring, t->valuestring))
                            at = i;
                        i++;
                    }
                    if (!strcmp(method, "POST") && at < 0)
                        cJSON_AddItemToArray(cur, cJSON_CreateString(t->valuestring));
                    else if (!strcmp(method, "DELETE") && at >= 0)
                        cJSON_DeleteItemFromArray(cur, at);
                }
            }
            hs_rec *v = d && !cJSON_GetArraySize(errs) ? edit_version(r, d, body, errs) : NULL;
            if (!v) {
                bad_list(res, errs);
            } else {
                char id[25];
                snprintf(id, sizeof id, "%s", v->id);
                hs_contact_commit(c, o, v);
                c->ctr.web_edits++;
                contact_reply(res, 200, c, l, o, id);
            }
            cJSON_Delete(base);
            cJSON_Delete(d);
        } else {
            bad(res, 404, "unknown admin contacts call");
        }
    }
    cJSON_Delete(errs);
}

static void field_reply(cres *r, int status, const cJSON *f)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddItemToObject(j, "customField", cJSON_Duplicate(f, 1));
    cJSON_AddItemToObject(j, "field", cJSON_Duplicate(f, 1));
    reply(r, status, j);
}

static bool valid_key(const char *s)
{
    if (!s || !*s || strlen(s) > 64)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
            return false;
    return true;
}

static const char *opt_str(const cJSON *it)
{
    /* an option as a string, or {key,label} as the records admin takes it */
    if (cJSON_IsString(it))
        return it->valuestring;
    const char *s = jstr(it, "label");
    return s ? s : jstr(it, "key");
}

static void field_add(cres *res, hs_ctx *c, hs_loc *l, hs_object *o, const cJSON *body)
{
    const char *key = jstr(body, "key");
    size_t pl = strlen(o->key);
    if (key && !strncmp(key, o->key, pl) && key[pl] == '.')
        key += pl + 1;
    int dt = hs_dtype_parse(jstr(body, "dataType"));
    if (!valid_key(key) || dt == DT_UNKNOWN || hs_cfield_find(o, key)) {
        bad(res, 422, "need key (new, lowercase letters, digits, _), dataType (known)");
        return;
    }
    const char *opts[65] = {0};
    int n = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(body, "options"))
    {
        if (n < 64 && opt_str(it))
            opts[n++] = opt_str(it);
    }
    cJSON *f = hs_cfield_add(c, l, o, key, jstr(body, "name") ? jstr(body, "name") : key, dt, opts);
    const cJSON *aco = cJSON_GetObjectItemCaseSensitive(body, "isAllowedCustomOption");
    if (!aco)
        aco = cJSON_GetObjectItemCaseSensitive(body, "allowCustomOption");
    if (cJSON_IsBool(aco))
        cJSON_ReplaceItemInObjectCaseSensitive(f, "isAllowedCustomOption",
                                               cJSON_CreateBool(cJSON_IsTrue(aco)));
    o->date_updated = hs_now_ms();
    field_reply(res, 201, f);
}

static void field_edit(cres *res, hs_ctx *c, hs_object *o, cJSON *f, const char *method,
                       const cJSON *body)
{
    if (!strcmp(method, "DELETE")) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddBoolToObject(j, "succeeded", true);
        cJSON_AddStringToObject(j, "id", jstr(f, "id") ? jstr(f, "id") : "");
        cJSON_AddStringToObject(j, "key", jstr(f, "fieldKey") ? jstr(f, "fieldKey") : "");
        hs_cfield_remove(c, o, f);
        o->date_updated = hs_now_ms();
        reply(res, 200, j);
        return;
    }
    if (strcmp(method, "PUT")) {
        bad(res, 404, "unknown admin contact field call");
        return;
    }
    if (jstr(body, "name"))
        cJSON_ReplaceItemInObjectCaseSensitive(f, "name", cJSON_CreateString(jstr(body, "name")));
    cJSON *po = cJSON_GetObjectItemCaseSensitive(f, "picklistOptions");
    const cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(body, "addOptions"))
    {
        const char *s = opt_str(it);
        bool has = false;
        const cJSON *x;
        cJSON_ArrayForEach(x, po) has |= cJSON_IsString(x) && s && !strcmp(x->valuestring, s);
        if (s && !has)
            cJSON_AddItemToArray(po, cJSON_CreateString(s));
    }
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(body, "removeOptions"))
    {
        for (int i = cJSON_GetArraySize(po) - 1; i >= 0; i--)
            if (cJSON_IsString(it) &&
                !strcmp(cJSON_GetArrayItem(po, i)->valuestring, it->valuestring))
                cJSON_DeleteItemFromArray(po, i);
    }
    const cJSON *aco = cJSON_GetObjectItemCaseSensitive(body, "isAllowedCustomOption");
    if (!aco)
        aco = cJSON_GetObjectItemCaseSensitive(body, "allowCustomOption");
    if (cJSON_IsBool(aco))
        cJSON_ReplaceItemInObjectCaseSensitive(f, "isAllowedCustomOption",
                                               cJSON_CreateBool(cJSON_IsTrue(aco)));
    o->date_updated = hs_now_ms();
    field_reply(res, 200, f);
}

static void settings(cres *res, hs_object *o, const char *method, const cJSON *body)
{
    hs_cstore *cs = o->cs;
    if (!strcmp(method, "PUT")) {
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(body, "duplicates"), *it;
        int rule[2], n = 0;
        bool ok = cJSON_IsArray(d) && cJSON_GetArraySize(d) <= 2;
        cJSON_ArrayForEach(it, d)
        {
            const char *s = cJSON_GetStringValue(it);
            int w = s && !strcmp(s, "email")   ? CDUP_EMAIL
                    : s && !strcmp(s, "phone") ? CDUP_PHONE
                                               : -1;
            if (w < 0 || (n == 1 && rule[0] == w))
                ok = false;
            else if (n < 2)
                rule[n++] = w;
        }
        if (!ok) {
            bad(res, 422,
                "duplicates: [] (allowed), or \"email\" and/or \"phone\" in priority order");
            return;
        }
        memcpy(cs->rule, rule, sizeof rule);
        cs->n_rule = n;
    } else if (strcmp(method, "GET")) {
        bad(res, 404, "unknown admin contact-settings call");
        return;
    }
    cJSON *j = cJSON_CreateObject();
    cJSON *dup = cJSON_AddArrayToObject(j, "duplicates");
    for (int i = 0; i < cs->n_rule; i++)
        cJSON_AddItemToArray(dup,
                             cJSON_CreateString(cs->rule[i] == CDUP_EMAIL ? "email" : "phone"));
    reply(res, 200, j);
}

int hs_contacts_admin(hs_ctx *c, const char *method, char seg[][256], int nseg, const char *qloc,
                      const cJSON *body, char **out)
{
    bool contacts = !strcmp(seg[0], "contacts"), fields = !strcmp(seg[0], "contact-fields"),
         sets = !strcmp(seg[0], "contact-settings"), old = !strcmp(seg[0], "fields"),
         ofields = !strcmp(seg[0], "opportunity-fields");
    if (!contacts && !fields && !sets && !old && !ofields)
        return 0;
    bool opp = ofields;
    hs_loc *l = hs_loc_find(c, qloc);
    if (old) {
        /* the records admin's /fields calls reach contact fields too */
        if (!l)
            return 0;
        bool is_c = false;
        for (int w = 0; w < 2 && !is_c; w++) {
            const char *key = w ? "opportunity" : "contact";
            hs_object *o = hs_obj_find(l, key);
            if (nseg == 1)
                is_c = !strcmp(method, "POST") && jstr(body, "objectKey") &&
                       !strcmp(jstr(body, "objectKey"), key);
            else if (nseg == 2 && (hs_is_contacts(o) || hs_is_opps(o))) {
                const cJSON *f = hs_cfield_find(o, seg[1]);
                is_c =
                    f && (!strcmp(jstr(f, "id"), seg[1]) || !strcmp(jstr(f, "fieldKey"), seg[1]));
            }
            opp = is_c && w == 1;
        }
        if (!is_c)
            return 0;
        fields = true;
    }
    cres res = {0, NULL};
    if (!l) {
        bad(&res, 404, "?locationId= must name a known location");
    } else {
        hs_object *o = opp ? hs_opps_obj(c, l) : hs_contacts_obj(c, l);
        if (!opp)
            hs_contacts_settle(c, o);
        if (ofields)
            fields = true;
        if (contacts) {
            contacts_call(&res, c, l, o, method, seg, nseg, body);
        } else if (sets && nseg == 1) {
            settings(&res, o, method, body);
        } else if (fields && nseg == 1 && !strcmp(method, "POST")) {
            field_add(&res, c, l, o, body);
        } else if (fields && nseg == 2) {
            cJSON *f = hs_cfield_find(o, seg[1]);
            if (!f)
                bad(&res, 404, "no such custom field (id or fieldKey)");
            else
                field_edit(&res, c, o, f, method, body);
        } else {
            bad(&res, 404, "unknown admin contacts call (see tests/hlsim/README.md)");
        }
    }
    *out = res.out;
    return res.status;
}
