/*
 * hs_api.c - the public HighLevel endpoints (schemas, custom fields, records, search, OAuth).
 * Each handler runs with ctx->mu held, reads hs_call's request part and fills status + out.
 */
#include "hlsim.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void hs_err_body(hs_buf *out, int status, const char *message, cJSON *list)
{
    hs_buf_printf(out, "{\"statusCode\":%d,\"message\":", status);
    if (list) {
        char *s = cJSON_PrintUnformatted(list);
        hs_buf_puts(out, s ? s : "[]");
        free(s);
    } else {
        hs_buf_json_str(out, message);
    }
    const char *e = status == 401   ? "Unauthorized"
                    : status == 403 ? "Forbidden"
                    : status == 422 ? "Unprocessable Entity"
                                    : NULL;
    if (e)
        hs_buf_printf(out, ",\"error\":\"%s\"", e);
    hs_buf_puts(out, "}");
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

static void fail_list(hs_call *k, cJSON *errs)
{
    k->status = 422;
    hs_err_body(&k->out, 422, NULL, errs);
}

static void ok_json(hs_call *k, int status, cJSON *j)
{
    char *s = cJSON_PrintUnformatted(j);
    k->status = status;
    hs_buf_puts(&k->out, s ? s : "{}");
    free(s);
    cJSON_Delete(j);
}

/* A location named by the request must be the token's own. */
static bool loc_ok(hs_call *k, const char *loc, bool required)
{
    if (!loc) {
        if (required)
            fail(k, 422, "locationId must be a string");
        return !required;
    }
    if (strcmp(loc, k->loc->id) != 0) {
        fail(k, 403, "The token does not have access to this location");
        return false;
    }
    return true;
}

static cJSON *parse_body(hs_call *k)
{
    if (!k->body_len) {
        fail(k, 400, "Bad Request");
        return NULL;
    }
    cJSON *j = cJSON_ParseWithLength(k->body, k->body_len);
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

static bool only_keys(cJSON *body, const char *const *allowed, cJSON *errs)
{
    bool ok = true;
    const cJSON *it;
    cJSON_ArrayForEach(it, body)
    {
        bool found = false;
        for (int i = 0; allowed[i]; i++)
            found |= strcmp(allowed[i], it->string) == 0;
        if (!found) {
            char m[300];
            snprintf(m, sizeof m, "property %.200s should not exist", it->string);
            cJSON_AddItemToArray(errs, cJSON_CreateString(m));
            ok = false;
        }
    }
    return ok;
}

static const char *jstr(const cJSON *o, const char *k)
{
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k));
}

/* ---- schemas ------------------------------------------------------------------------------ */

static void objects_list(hs_call *k)
{
    if (!loc_ok(k, k->q_location, true))
        return;
    cJSON *j = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(j, "objects");
    for (int i = 0; i < k->loc->n_objs; i++)
        cJSON_AddItemToArray(arr, hs_obj_json(k->loc, k->loc->objs[i], false));
    ok_json(k, 200, j);
}

static hs_object *need_object(hs_call *k)
{
    hs_object *o = hs_obj_find(k->loc, k->key);
    if (!o)
        fail(k, 404, "Object not found");
    return o;
}

static void object_get(hs_call *k)
{
    if (!loc_ok(k, k->q_location, true))
        return;
    hs_object *o = need_object(k);
    if (!o)
        return;
    if (k->q_fetch && strcmp(k->q_fetch, "true") && strcmp(k->q_fetch, "false")) {
        fail(k, 422, "fetchProperties must be \"true\" or \"false\"");
        return;
    }
    cJSON *j = cJSON_CreateObject();
    cJSON_AddItemToObject(j, "object", hs_obj_json(k->loc, o, false));
    cJSON_AddBoolToObject(j, "cache", false);
    if (k->q_fetch && strcmp(k->q_fetch, "true") == 0)
        cJSON_AddItemToObject(j, "fields",
                              hs_is_contacts(o) || hs_is_opps(o)
                                  ? hs_cfields_objects_shape(k->loc, o)
                                  : cJSON_Duplicate(o->fields, 1));
    ok_json(k, 200, j);
}

static bool valid_ident(const char *s)
{
    if (!s || !*s || strlen(s) > 64 || !islower((unsigned char)s[0]))
        return false;
    for (; *s; s++)
        if (!islower((unsigned char)*s) && !isdigit((unsigned char)*s) && *s != '_')
            return false;
    return true;
}

static void object_create(hs_call *k)
{
    cJSON *b = parse_body(k);
    if (!b)
        return;
    cJSON *errs = cJSON_CreateArray();
    static const char *const allowed[] = {
        "labels", "key", "description", "locationId", "primaryDisplayPropertyDetails", NULL};
    only_keys(b, allowed, errs);
    const cJSON *labels = cJSON_GetObjectItemCaseSensitive(b, "labels");
    const char *key = jstr(b, "key");
    const cJSON *pd = cJSON_GetObjectItemCaseSensitive(b, "primaryDisplayPropertyDetails");
    const cJSON *desc = cJSON_GetObjectItemCaseSensitive(b, "description");
    if (!jstr(labels, "singular") || !jstr(labels, "plural"))
        cJSON_AddItemToArray(
            errs, cJSON_CreateString("labels: singular and plural are required strings"));
    if (!key)
        cJSON_AddItemToArray(errs, cJSON_CreateString("key must be a string"));
    if (desc && !cJSON_IsString(desc))
        cJSON_AddItemToArray(errs, cJSON_CreateString("description must be a string"));
    const char *pkey = jstr(pd, "key"), *pname = jstr(pd, "name"), *pdt = jstr(pd, "dataType");
    if (!pkey || !pname || !pdt)
        cJSON_AddItemToArray(
            errs, cJSON_CreateString(
                      "primaryDisplayPropertyDetails: key, name and dataType are required"));
    else if (strcmp(pdt, "TEXT") && strcmp(pdt, "NUMERICAL"))
        cJSON_AddItemToArray(
            errs,
            cJSON_CreateString("primaryDisplayPropertyDetails.dataType must be TEXT or NUMERICAL"));
    if (cJSON_GetArraySize(errs)) {
        fail_list(k, errs);
        goto out;
    }
    if (!loc_ok(k, jstr(b, "locationId"), true))
        goto out;
    const char *bare = key;
    if (strncmp(bare, "custom_objects.", 15) == 0)
        bare += 15;
    else if (strncmp(bare, "custom_object.", 14) == 0)
        bare += 14;
    if (!valid_ident(bare)) {
        fail(k, 422, "key must be lowercase letters, digits and underscores");
        goto out;
    }
    char full[128];
    snprintf(full, sizeof full, "custom_objects.%s", bare);
    if (hs_obj_find(k->loc, full)) {
        fail(k, 400, "An object with this key already exists");
        goto out;
    }
    /* primary property key: last segment of whatever prefix the caller used */
    const char *pshort = strrchr(pkey, '.') ? strrchr(pkey, '.') + 1 : pkey;
    if (!valid_ident(pshort)) {
        fail(k, 422,
             "primaryDisplayPropertyDetails.key must end in lowercase letters, digits and "
             "underscores");
        goto out;
    }
    hs_object *o =
        hs_obj_new(k->c, k->loc, full, jstr(labels, "singular"), jstr(labels, "plural"), false);
    if (cJSON_IsString(desc))
        o->description = strdup(desc->valuestring);
    hs_field_add(k->c, k->loc, o, pshort, pname, hs_dtype_parse(pdt), NULL);
    char fk[300];
    snprintf(fk, sizeof fk, "%s.%s", full, pshort);
    o->primary = strdup(fk);
    cJSON_AddItemToArray(o->searchable, cJSON_CreateString(fk));
    cJSON *j = cJSON_CreateObject();
    cJSON_AddItemToObject(j, "object", hs_obj_json(k->loc, o, false));
    ok_json(k, 201, j);
out:
    cJSON_Delete(errs);
    cJSON_Delete(b);
}

static void object_put(hs_call *k)
{
    cJSON *b = parse_body(k);
    if (!b)
        return;
    cJSON *errs = cJSON_CreateArray();
    static const char *const allowed[] = {"labels", "description", "locationId",
                                          "searchableProperties", NULL};
    only_keys(b, allowed, errs);
    const cJSON *labels = cJSON_GetObjectItemCaseSensitive(b, "labels");
    const cJSON *desc = cJSON_GetObjectItemCaseSensitive(b, "description");
    const cJSON *sp = cJSON_GetObjectItemCaseSensitive(b, "searchableProperties");
    if (labels &&
        (!cJSON_IsObject(labels) ||
         (cJSON_GetObjectItemCaseSensitive(labels, "singular") && !jstr(labels, "singular")) ||
         (cJSON_GetObjectItemCaseSensitive(labels, "plural") && !jstr(labels, "plural"))))
        cJSON_AddItemToArray(errs,
                             cJSON_CreateString("labels: singular and plural must be strings"));
    if (desc && !cJSON_IsString(desc) && !cJSON_IsNull(desc))
        cJSON_AddItemToArray(errs, cJSON_CreateString("description must be a string or null"));
    if (!cJSON_IsArray(sp))
        cJSON_AddItemToArray(errs, cJSON_CreateString("searchableProperties must be an array"));
    if (cJSON_GetArraySize(errs)) {
        fail_list(k, errs);
        goto out;
    }
    if (!loc_ok(k, jstr(b, "locationId"), true))
        goto out;
    hs_object *o = need_object(k);
    if (!o)
        goto out;
    cJSON *newsp = cJSON_CreateArray();
    const cJSON *it;
    cJSON_ArrayForEach(it, sp)
    {
        const cJSON *f = cJSON_IsString(it) ? hs_field_find(o, it->valuestring) : NULL;
        if (!f || strchr(it->valuestring, '.') == NULL) {
            char m[300];
            snprintf(m, sizeof m, "searchableProperties: %.200s is not a field key of this object",
                     cJSON_IsString(it) ? it->valuestring : "(non-string)");
            cJSON_AddItemToArray(errs, cJSON_CreateString(m));
            continue;
        }
        cJSON_AddItemToArray(newsp, cJSON_CreateString(jstr(f, "fieldKey")));
    }
    if (cJSON_GetArraySize(errs)) {
        cJSON_Delete(newsp);
        fail_list(k, errs);
        goto out;
    }
    cJSON_Delete(o->searchable);
    o->searchable = newsp;
    if (jstr(labels, "singular"))
        cJSON_ReplaceItemInObjectCaseSensitive(o->labels, "singular",
                                               cJSON_CreateString(jstr(labels, "singular")));
    if (jstr(labels, "plural"))
        cJSON_ReplaceItemInObjectCaseSensitive(o->labels, "plural",
                                               cJSON_CreateString(jstr(labels, "plural")));
    if (desc) {
        free(o->description);
        o->description = cJSON_IsString(desc) ? strdup(desc->valuestring) : NULL;
    }
    o->date_updated = hs_now_ms();
    cJSON *j = cJSON_CreateObject();
    cJSON_AddItemToObject(j, "object", hs_obj_json(k->loc, o, false));
    ok_json(k, 200, j);
out:
    cJSON_Delete(errs);
    cJSON_Delete(b);
}

/* ---- custom fields ------------------------------------------------------------------------ */

static void cf_list(hs_call *k)
{
    if (!loc_ok(k, k->q_location, true))
        return;
    hs_object *o = need_object(k);
    if (!o)
        return;
    if (!o->standard || strcmp(o->key, "business") == 0) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddItemToObject(j, "fields", cJSON_Duplicate(o->fields, 1));
        cJSON *folders = cJSON_AddArrayToObject(j, "folders");
        cJSON *fo = cJSON_CreateObject();
        cJSON_AddStringToObject(fo, "id", o->folder_id);
        cJSON_AddStringToObject(fo, "objectKey", o->key);
        cJSON_AddStringToObject(fo, "locationId", k->loc->id);
        cJSON_AddStringToObject(fo, "name", "General");
        cJSON_AddItemToArray(folders, fo);
        ok_json(k, 200, j);
        return;
    }
    fail(k, 400, "Custom Fields V2 only support custom objects and business");
}

static bool find_field_any(hs_call *k, const char *id, hs_object **oo, cJSON **ff)
{
    for (int i = 0; i < k->loc->n_objs; i++) {
        cJSON *f;
        /* contact custom fields are not served by Custom Fields V2 */
        if (hs_is_contacts(k->loc->objs[i]) || hs_is_opps(k->loc->objs[i]))
            continue;
        cJSON_ArrayForEach(f, k->loc->objs[i]->fields)
        {
            if (strcmp(jstr(f, "id") ? jstr(f, "id") : "", id) == 0) {
                *oo = k->loc->objs[i];
                *ff = f;
                return true;
            }
        }
    }
    return false;
}

static bool check_options(const cJSON *opts, bool need_key, cJSON *errs)
{
    if (!opts)
        return true;
    if (!cJSON_IsArray(opts)) {
        cJSON_AddItemToArray(errs, cJSON_CreateString("options must be an array"));
        return false;
    }
    const cJSON *op;
    cJSON_ArrayForEach(op, opts)
    {
        if (!cJSON_IsObject(op) || !jstr(op, "label") || (need_key && !jstr(op, "key"))) {
            cJSON_AddItemToArray(
                errs,
                cJSON_CreateString(need_key ? "options: each option needs string key and label"
                                            : "options: each option needs a string label"));
            return false;
        }
    }
    return true;
}

static void touch_field(cJSON *f)
{
    char when[32];
    hs_iso_ms(hs_now_ms(), when);
    cJSON_ReplaceItemInObjectCaseSensitive(f, "dateUpdated", cJSON_CreateString(when));
}

static void set_str(cJSON *f, const char *k, const char *v)
{
    if (cJSON_GetObjectItemCaseSensitive(f, k))
        cJSON_ReplaceItemInObjectCaseSensitive(f, k, cJSON_CreateString(v));
    else
        cJSON_AddStringToObject(f, k, v);
}

static void cf_create(hs_call *k)
{
    cJSON *b = parse_body(k);
    if (!b)
        return;
    cJSON *errs = cJSON_CreateArray();
    static const char *const allowed[] = {
        "locationId",  "name",      "description",     "placeholder",
        "showInForms", "options",   "acceptedFormats", "dataType",
        "fieldKey",    "objectKey", "maxFileLimit",    "allowCustomOption",
        "parentId",    NULL};
    only_keys(b, allowed, errs);
    const char *dts = jstr(b, "dataType"), *fk = jstr(b, "fieldKey"), *ok = jstr(b, "objectKey");
    int dt = hs_dtype_parse(dts);
    if (!cJSON_IsBool(cJSON_GetObjectItemCaseSensitive(b, "showInForms")))
        cJSON_AddItemToArray(errs, cJSON_CreateString("showInForms must be a boolean"));
    if (dt == DT_UNKNOWN)
        cJSON_AddItemToArray(
            errs,
            cJSON_CreateString(
                "dataType must be one of TEXT, LARGE_TEXT, NUMERICAL, PHONE, MONETORY, CHECKBOX, "
                "SINGLE_OPTIONS, MULTIPLE_OPTIONS, DATE, TEXTBOX_LIST, FILE_UPLOAD, RADIO"));
    if (!fk)
        cJSON_AddItemToArray(errs, cJSON_CreateString("fieldKey must be a string"));
    if (!ok)
        cJSON_AddItemToArray(errs, cJSON_CreateString("objectKey must be a string"));
    if (!jstr(b, "parentId"))
        cJSON_AddItemToArray(errs, cJSON_CreateString("parentId must be a string"));
    const cJSON *opts = cJSON_GetObjectItemCaseSensitive(b, "options");
    check_options(opts, true, errs);
    bool needs_opts = dt == DT_SINGLE_OPTIONS || dt == DT_MULTIPLE_OPTIONS || dt == DT_CHECKBOX ||
                      dt == DT_RADIO || dt == DT_TEXTBOX_LIST;
    if (dt != DT_UNKNOWN && needs_opts && cJSON_GetArraySize(opts) == 0)
        cJSON_AddItemToArray(errs, cJSON_CreateString("options are required for this dataType"));
    if (cJSON_GetArraySize(errs)) {
        fail_list(k, errs);
        goto out;
    }
    if (!loc_ok(k, jstr(b, "locationId"), true))
        goto out;
    hs_object *o = hs_obj_find(k->loc, ok);
    if (!o || (o->standard && strcmp(o->key, "business") != 0)) {
        fail(k, 422, "objectKey: no such custom object (or business)");
        goto out;
    }
    const char *shortk = strrchr(fk, '.') ? strrchr(fk, '.') + 1 : fk;
    if (!valid_ident(shortk)) {
        fail(k, 422, "fieldKey: last segment must be lowercase letters, digits and underscores");
        goto out;
    }
    if (hs_field_find(o, shortk)) {
        fail(k, 400, "A field with this fieldKey already exists");
        goto out;
    }
    cJSON *f =
        hs_field_add(k->c, k->loc, o, shortk, jstr(b, "name") ? jstr(b, "name") : shortk, dt, NULL);
    static const char *const copy[] = {"description", "placeholder", "acceptedFormats", "parentId",
                                       NULL};
    for (int i = 0; copy[i]; i++)
        if (jstr(b, copy[i]))
            set_str(f, copy[i], jstr(b, copy[i]));
    cJSON_ReplaceItemInObjectCaseSensitive(
        f, "showInForms",
        cJSON_CreateBool(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(b, "showInForms"))));
    if (opts) {
        cJSON *no = cJSON_CreateArray();
        const cJSON *op;
        cJSON_ArrayForEach(op, opts) cJSON_AddItemToArray(no, cJSON_Duplicate(op, 1));
        cJSON_AddItemToObject(f, "options", no);
    }
    const cJSON *mfl = cJSON_GetObjectItemCaseSensitive(b, "maxFileLimit");
    if (cJSON_IsNumber(mfl)) {
        cJSON_DeleteItemFromObjectCaseSensitive(f, "maxFileLimit");
        cJSON_AddNumberToObject(f, "maxFileLimit", mfl->valuedouble);
    }
    const cJSON *aco = cJSON_GetObjectItemCaseSensitive(b, "allowCustomOption");
    if (cJSON_IsBool(aco)) {
        cJSON_DeleteItemFromObjectCaseSensitive(f, "allowCustomOption");
        cJSON_AddBoolToObject(f, "allowCustomOption", cJSON_IsTrue(aco));
    }
    o->date_updated = hs_now_ms();
    cJSON *j = cJSON_CreateObject();
    cJSON_AddItemToObject(j, "field", cJSON_Duplicate(f, 1));
    ok_json(k, 201, j);
out:
    cJSON_Delete(errs);
    cJSON_Delete(b);
}

static void cf_get(hs_call *k)
{
    hs_object *o;
    cJSON *f;
    if (!find_field_any(k, k->key, &o, &f)) {
        fail(k, 404, "Custom field not found");
        return;
    }
    cJSON *j = cJSON_CreateObject();
    cJSON_AddItemToObject(j, "field", cJSON_Duplicate(f, 1));
    ok_json(k, 200, j);
}

static void cf_put(hs_call *k)
{
    cJSON *b = parse_body(k);
    if (!b)
        return;
    cJSON *errs = cJSON_CreateArray();
    static const char *const allowed[] = {"locationId",      "name",         "description",
                                          "placeholder",     "showInForms",  "options",
                                          "acceptedFormats", "maxFileLimit", NULL};
    only_keys(b, allowed, errs);
    if (!cJSON_IsBool(cJSON_GetObjectItemCaseSensitive(b, "showInForms")))
        cJSON_AddItemToArray(errs, cJSON_CreateString("showInForms must be a boolean"));
    const cJSON *opts = cJSON_GetObjectItemCaseSensitive(b, "options");
    check_options(opts, false, errs);
    if (cJSON_GetArraySize(errs)) {
        fail_list(k, errs);
        goto out;
    }
    if (!loc_ok(k, jstr(b, "locationId"), true))
        goto out;
    hs_object *o;
    cJSON *f;
    if (!find_field_any(k, k->key, &o, &f)) {
        fail(k, 404, "Custom field not found");
        goto out;
    }
    static const char *const copy[] = {"name", "description", "placeholder", "acceptedFormats",
                                       NULL};
    for (int i = 0; copy[i]; i++)
        if (jstr(b, copy[i]))
            set_str(f, copy[i], jstr(b, copy[i]));
    cJSON_ReplaceItemInObjectCaseSensitive(
        f, "showInForms",
        cJSON_CreateBool(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(b, "showInForms"))));
    if (opts) {
        /* "Providing options will completely replace the existing options array... Removal of
         * options is not supported": new labels for known keys, new options appended. */
        cJSON *cur = cJSON_GetObjectItemCaseSensitive(f, "options");
        if (!cur)
            cur = cJSON_AddArrayToObject(f, "options");
        const cJSON *op;
        cJSON_ArrayForEach(op, opts)
        {
            const char *key = jstr(op, "key");
            char gen[128];
            if (!key) {
                size_t n = 0;
                for (const char *p = jstr(op, "label"); *p && n < sizeof gen - 1; p++)
                    gen[n++] = isalnum((unsigned char)*p) ? (char)tolower((unsigned char)*p) : '_';
                gen[n] = 0;
                key = gen;
            }
            cJSON *existing = NULL, *x;
            cJSON_ArrayForEach(x, cur)
            {
                if (jstr(x, "key") && strcmp(jstr(x, "key"), key) == 0)
                    existing = x;
            }
            if (existing) {
                set_str(existing, "label", jstr(op, "label"));
            } else {
                cJSON *no = cJSON_CreateObject();
                cJSON_AddStringToObject(no, "key", key);
                cJSON_AddStringToObject(no, "label", jstr(op, "label"));
                cJSON_AddItemToArray(cur, no);
            }
        }
    }
    const cJSON *mfl = cJSON_GetObjectItemCaseSensitive(b, "maxFileLimit");
    if (cJSON_IsNumber(mfl)) {
        cJSON_DeleteItemFromObjectCaseSensitive(f, "maxFileLimit");
        cJSON_AddNumberToObject(f, "maxFileLimit", mfl->valuedouble);
    }
    touch_field(f);
    o->date_updated = hs_now_ms();
    cJSON *j = cJSON_CreateObject();
    cJSON_AddItemToObject(j, "field", cJSON_Duplicate(f, 1));
    ok_json(k, 200, j);
out:
    cJSON_Delete(errs);
    cJSON_Delete(b);
}

static void cf_delete(hs_call *k)
{
    if (!loc_ok(k, k->q_location, false))
        return;
    hs_object *o;
    cJSON *f;
    if (!find_field_any(k, k->key, &o, &f)) {
        fail(k, 404, "Custom field not found");
        return;
    }
    const char *fk = jstr(f, "fieldKey");
    if (o->primary && fk && strcmp(o->primary, fk) == 0) {
        fail(k, 400, "The primary display property cannot be deleted");
        return;
    }
    cJSON *j = cJSON_CreateObject();
    cJSON_AddBoolToObject(j, "succeeded", true);
    cJSON_AddStringToObject(j, "id", k->key);
    cJSON_AddStringToObject(j, "key", fk ? fk : "");
    char shortk[256];
    snprintf(shortk, sizeof shortk, "%s", hs_field_short(f));
    /* drop it from searchableProperties too */
    for (int i = cJSON_GetArraySize(o->searchable) - 1; i >= 0; i--)
        if (fk && strcmp(cJSON_GetStringValue(cJSON_GetArrayItem(o->searchable, i)), fk) == 0)
            cJSON_DeleteItemFromArray(o->searchable, i);
    cJSON_Delete(cJSON_DetachItemViaPointer(o->fields, f));
    hs_obj_strip_property(o, shortk);
    o->date_updated = hs_now_ms();
    ok_json(k, 200, j);
}

/* ---- records ------------------------------------------------------------------------------ */

static hs_object *record_object(hs_call *k)
{
    hs_object *o = need_object(k);
    if (o && !o->records_supported) {
        char m[200];
        snprintf(m, sizeof m,
                 "Records of %s are not served by the objects API; supported: business and custom "
                 "objects",
                 o->key);
        fail(k, 400, m);
        return NULL;
    }
    return o;
}

static void record_out(hs_call *k, int status, hs_object *o, hs_rec *r)
{
    k->status = status;
    hs_buf_puts(&k->out, "{\"record\":");
    hs_rec_render(&k->out, k->c, k->loc, o, r, false, NULL);
    hs_buf_puts(&k->out, "}");
}

static void record_create(hs_call *k)
{
    cJSON *b = parse_body(k);
    if (!b)
        return;
    cJSON *errs = cJSON_CreateArray();
    cJSON *props = NULL;
    char *owner = NULL, *followers = NULL;
    static const char *const allowed[] = {"locationId", "properties", "owner", "followers", NULL};
    only_keys(b, allowed, errs);
    if (!jstr(b, "locationId"))
        cJSON_AddItemToArray(errs, cJSON_CreateString("locationId must be a string"));
    const cJSON *pin = cJSON_GetObjectItemCaseSensitive(b, "properties");
    if (!cJSON_IsObject(pin))
        cJSON_AddItemToArray(errs, cJSON_CreateString("properties must be an object"));
    if (cJSON_GetArraySize(errs)) {
        fail_list(k, errs);
        goto out;
    }
    if (!loc_ok(k, jstr(b, "locationId"), true))
        goto out;
    hs_object *o = record_object(k);
    if (!o)
        goto out;
    props = hs_props_apply(o, NULL, pin, errs);
    owner = hs_people_apply(o, "owner", cJSON_GetObjectItemCaseSensitive(b, "owner"), 1, errs);
    followers =
        hs_people_apply(o, "followers", cJSON_GetObjectItemCaseSensitive(b, "followers"), 10, errs);
    if (cJSON_GetArraySize(errs)) {
        fail_list(k, errs);
        goto out;
    }
    hs_rec *r = calloc(1, sizeof *r);
    if (!r)
        abort();
    int64_t now = hs_now_ms();
    hs_new_record_id(k->c, o, now, r->id);
    r->created = r->updated = now;
    r->created_src = r->updated_src = SRC_API;
    r->props = cJSON_PrintUnformatted(props);
    r->owner = owner;
    r->followers = followers;
    owner = followers = NULL;
    hs_rec_insert(o, r);
    record_out(k, 201, o, r);
out:
    free(owner);
    free(followers);
    cJSON_Delete(props);
    cJSON_Delete(errs);
    cJSON_Delete(b);
}

static hs_rec *need_record(hs_call *k, hs_object *o)
{
    hs_rec *r = hs_rec_find(o, k->id);
    if (!r)
        fail(k, 404, "Record not found");
    return r;
}

static void record_get(hs_call *k)
{
    if (!loc_ok(k, k->q_location, false))
        return;
    hs_object *o = record_object(k);
    hs_rec *r = o ? need_record(k, o) : NULL;
    if (r)
        record_out(k, 200, o, r);
}

static void record_put(hs_call *k)
{
    if (!k->q_location) {
        fail(k, 422, "locationId must be a string");
        return;
    }
    if (!loc_ok(k, k->q_location, true))
        return;
    cJSON *b = parse_body(k);
    if (!b)
        return;
    cJSON *errs = cJSON_CreateArray(), *base = NULL, *props = NULL;
    char *owner = NULL, *followers = NULL;
    static const char *const allowed[] = {"locationId", "properties", "owner", "followers", NULL};
    only_keys(b, allowed, errs);
    const cJSON *pin = cJSON_GetObjectItemCaseSensitive(b, "properties");
    if (pin && !cJSON_IsObject(pin))
        cJSON_AddItemToArray(errs, cJSON_CreateString("properties must be an object"));
    if (jstr(b, "locationId") && strcmp(jstr(b, "locationId"), k->loc->id) != 0) {
        fail(k, 403, "The token does not have access to this location");
        goto out;
    }
    if (cJSON_GetArraySize(errs)) {
        fail_list(k, errs);
        goto out;
    }
    hs_object *o = record_object(k);
    hs_rec *r = o ? need_record(k, o) : NULL;
    if (!r)
        goto out;
    base = cJSON_Parse(r->props);
    if (pin) {
        props = hs_props_apply(o, base, pin, errs);
    }
    const cJSON *jo = cJSON_GetObjectItemCaseSensitive(b, "owner");
    const cJSON *jf = cJSON_GetObjectItemCaseSensitive(b, "followers");
    if (jo)
        owner = hs_people_apply(o, "owner", jo, 1, errs);
    if (jf)
        followers = hs_people_apply(o, "followers", jf, 10, errs);
    if (cJSON_GetArraySize(errs)) {
        fail_list(k, errs);
        goto out;
    }
    if (props) {
        free(r->props);
        r->props = cJSON_PrintUnformatted(props);
    }
    if (owner) {
        free(r->owner);
        r->owner = owner;
        owner = NULL;
    }
    if (followers) {
        free(r->followers);
        r->followers = followers;
        followers = NULL;
    }
    r->updated_src = SRC_API;
    int64_t now = hs_now_ms();
    hs_rec_touch(o, r, now > r->updated ? now : r->updated + 1);
    record_out(k, 200, o, r);
out:
    free(owner);
    free(followers);
    cJSON_Delete(base);
    cJSON_Delete(props);
    cJSON_Delete(errs);
    cJSON_Delete(b);
}

static void record_delete(hs_call *k)
{
    if (!loc_ok(k, k->q_location, false))
        return;
    hs_object *o = record_object(k);
    hs_rec *r = o ? need_record(k, o) : NULL;
    if (!r)
        return;
    k->status = 200;
    hs_buf_printf(&k->out, "{\"id\":\"%s\",\"success\":true}", r->id);
    hs_rel_forget_record(k->c, r->id);
    hs_rec_remove(o, r);
}

static void record_search(hs_call *k)
{
    cJSON *b = parse_body(k);
    if (!b)
        return;
    cJSON *errs = cJSON_CreateArray();
    const char *loc = jstr(b, "locationId");
    if (!loc) {
        cJSON_AddItemToArray(errs, cJSON_CreateString("locationId must be a string"));
        fail_list(k, errs);
    } else if (loc_ok(k, loc, true)) {
        hs_object *o = record_object(k);
        if (o) {
            int st = hs_search(k->c, k->loc, o, b, &k->out, errs);
            if (st != 200) {
                free(k->out.d);
                memset(&k->out, 0, sizeof k->out);
                fail_list(k, errs);
            } else {
                k->status = 200;
            }
        }
    }
    cJSON_Delete(errs);
    cJSON_Delete(b);
}

void hs_api_dispatch(hs_call *k)
{
    switch (k->route) {
    case R_OBJECTS_LIST:
        objects_list(k);
        break;
    case R_OBJECTS_CREATE:
        object_create(k);
        break;
    case R_OBJECT_GET:
        object_get(k);
        break;
    case R_OBJECT_PUT:
        object_put(k);
        break;
    case R_RECORD_CREATE:
        record_create(k);
        break;
    case R_RECORD_GET:
        record_get(k);
        break;
    case R_RECORD_PUT:
        record_put(k);
        break;
    case R_RECORD_DELETE:
        record_delete(k);
        break;
    case R_RECORD_SEARCH:
        record_search(k);
        break;
    case R_CF_LIST:
        cf_list(k);
        break;
    case R_CF_CREATE:
        cf_create(k);
        break;
    case R_CF_GET:
        cf_get(k);
        break;
    case R_CF_PUT:
        cf_put(k);
        break;
    case R_CF_DELETE:
        cf_delete(k);
        break;
    case R_CONTACT_SEARCH:
    case R_CONTACT_CREATE:
    case R_CONTACT_UPSERT:
    case R_CONTACT_GET:
    case R_CONTACT_PUT:
    case R_CONTACT_DELETE:
    case R_CONTACT_TAGS_ADD:
    case R_CONTACT_TAGS_DEL:
    case R_CONTACT_DUP:
    case R_CONTACT_FOLLOWERS_ADD:
    case R_CONTACT_FOLLOWERS_DEL:
    case R_LOC_CF_LIST:
        hs_contacts_dispatch(k);
        break;
    case R_OPP_GSEARCH:
    case R_OPP_PSEARCH:
    case R_OPP_PIPELINES:
    case R_OPP_LOST:
    case R_OPP_CREATE:
    case R_OPP_GET:
    case R_OPP_PUT:
    case R_OPP_DELETE:
    case R_OPP_FOLLOWERS_ADD:
    case R_OPP_FOLLOWERS_DEL:
    case R_OPP_STATUS:
        hs_opps_dispatch(k);
        break;
    case R_ASSOC_LIST:
    case R_ASSOC_CREATE:
    case R_ASSOC_GET:
    case R_ASSOC_DELETE:
    case R_REL_LIST:
    case R_REL_CREATE:
    case R_REL_DELETE:
        hs_assoc_dispatch(k);
        break;
    default:
        fail(k, 404, "Not Found");
    }
}

/* ---- OAuth -------------------------------------------------------------------------------- */

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* Value of `name` in an application/x-www-form-urlencoded body, decoded into out. */
static bool form_get(const char *body, size_t len, const char *name, char *out, size_t outlen)
{
    size_t nl = strlen(name);
    const char *p = body, *end = body + len;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *seg_end = amp ? amp : end;
        if ((size_t)(seg_end - p) > nl && strncmp(p, name, nl) == 0 && p[nl] == '=') {
            size_t n = 0;
            for (const char *q = p + nl + 1; q < seg_end && n + 1 < outlen; q++) {
                if (*q == '+') {
                    out[n++] = ' ';
                } else if (*q == '%' && q + 2 < seg_end + 0 + 1 && hexval(q[1]) >= 0 &&
                           hexval(q[2]) >= 0) {
                    out[n++] = (char)(hexval(q[1]) * 16 + hexval(q[2]));
                    q += 2;
                } else {
                    out[n++] = *q;
                }
            }
            out[n] = 0;
            return true;
        }
        p = seg_end + 1;
    }
    return false;
}

static void oauth_err(hs_call *k, int status, const char *error, const char *msg)
{
    k->status = status;
    hs_buf_printf(&k->out, "{\"statusCode\":%d,\"error\":\"%s\",\"message\":", status, error);
    hs_buf_json_str(&k->out, msg);
    hs_buf_puts(&k->out, "}");
}

void hs_oauth_token(hs_call *k)
{
    char gt[64] = "", rt[200] = "", cid[128] = "", cs[128] = "";
    const char *b = k->body ? k->body : "";
    form_get(b, k->body_len, "grant_type", gt, sizeof gt);
    form_get(b, k->body_len, "refresh_token", rt, sizeof rt);
    form_get(b, k->body_len, "client_id", cid, sizeof cid);
    form_get(b, k->body_len, "client_secret", cs, sizeof cs);
    if (!gt[0] || !cid[0] || !cs[0]) {
        oauth_err(k, 400, "invalid_request",
                  "client_id, client_secret and grant_type are required");
        return;
    }
    if (strcmp(cid, k->c->client_id) || strcmp(cs, k->c->client_secret)) {
        oauth_err(k, 401, "invalid_client", "Invalid client credentials");
        return;
    }
    if (strcmp(gt, "refresh_token") != 0) {
        oauth_err(k, 400, "unsupported_grant_type",
                  "the simulator supports grant_type=refresh_token only");
        return;
    }
    hs_token *t = hs_token_find(k->c, rt);
    if (!t || !t->refresh || t->revoked) {
        if (t && t->company)
            k->c->company_refused++;
        oauth_err(k, 400, "invalid_grant", "Invalid refresh token");
        return;
    }
    if (t->company) {
        hs_agency_refresh(k, t);
        return;
    }
    hs_loc *l = t->loc; /* t is invalid after issuing (the table may move) */
    bool keep = k->c->sw.keep_refresh;
    if (keep) { /* a new access token only; the refresh token stays valid */
        hs_token *a = hs_token_issue(k->c, l, false);
        snprintf(l->access, sizeof l->access, "%s", a->value);
    } else {
        t->revoked = true;
        hs_loc_issue_pair(k->c, l);
    }
    k->status = 200;
    hs_buf_puts(&k->out, "{\"access_token\":");
    hs_buf_json_str(&k->out, l->access);
    hs_buf_printf(&k->out, ",\"token_type\":\"Bearer\",\"expires_in\":%ld", k->c->token_ttl_s);
    if (!keep) {
        hs_buf_puts(&k->out, ",\"refresh_token\":");
        hs_buf_json_str(&k->out, l->refresh);
    }
    hs_buf_puts(&k->out, ",\"scope\":\"objects/schema.readonly objects/schema.write "
                         "objects/record.readonly objects/record.write\",\"userType\":\"Location\","
                         "\"locationId\":");
    hs_buf_json_str(&k->out, l->id);
    hs_buf_puts(&k->out, ",\"companyId\":\"hlsimCompany00000001\",\"approvedLocations\":[");
    hs_buf_json_str(&k->out, l->id);
    hs_buf_puts(&k->out, "],\"userId\":\"hlsimUser0000000000001\"}");
}
