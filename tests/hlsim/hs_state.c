/*
 * hs_state.c - the full state of locations as JSON: dump (what tests compare against
 * PostgreSQL) and load (the --state file and POST /_admin/state), in the same shape:
 *
 *   {"locations":[{"id","token","refresh","objects":[{"object":{...,"searchableProperties"},
 *                  "fields":[...], "records":[<search-shaped records, createdAt,id order>]}]}]}
 */
#include "hlsim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void dump_loc(hs_ctx *c, hs_loc *l, hs_buf *b)
{
    hs_buf_puts(b, "{\"id\":");
    hs_buf_json_str(b, l->id);
    hs_buf_puts(b, ",\"token\":");
    hs_buf_json_str(b, l->access);
    hs_buf_puts(b, ",\"refresh\":");
    hs_buf_json_str(b, l->refresh);
    hs_buf_puts(b, ",\"objects\":[");
    for (int i = 0; i < l->n_objs; i++) {
        hs_object *o = l->objs[i];
        if (i)
            hs_buf_puts(b, ",");
        if (hs_is_contacts(o)) {
            /* contacts: definitions in the /locations/{id}/customFields shape, contacts in the
             * GET shape; "records" stays empty (the objects API serves no contact records) */
            cJSON *oj = hs_obj_json(l, o, true);
            cJSON *cj = hs_contacts_state_json(c, l, o);
            cJSON *w = cJSON_CreateObject();
            cJSON_AddItemToObject(w, "object", oj);
            cJSON_AddItemToObject(w, "fields", cJSON_DetachItemFromObject(cj, "customFields"));
            cJSON_AddNumberToObject(w, "total", 0);
            cJSON_AddArrayToObject(w, "records");
            cJSON_AddItemToObject(w, "contacts", cJSON_DetachItemFromObject(cj, "contacts"));
            cJSON_AddItemToObject(w, "duplicates", cJSON_DetachItemFromObject(cj, "duplicates"));
            cJSON_Delete(cj);
            char *s = cJSON_PrintUnformatted(w);
            hs_buf_puts(b, s);
            free(s);
            cJSON_Delete(w);
            continue;
        }
        if (hs_is_opps(o)) {
            cJSON *w = cJSON_CreateObject();
            cJSON_AddItemToObject(w, "object", hs_obj_json(l, o, true));
            cJSON_AddItemToObject(w, "fields", cJSON_Duplicate(o->fields, 1));
            cJSON_AddNumberToObject(w, "total", 0);
            cJSON_AddArrayToObject(w, "records");
            cJSON *oj = hs_opps_state_json(c, l, o);
            static const char *const keys[] = {"opportunities", "pipelines", "lostReasons"};
            for (int k = 0; k < 3; k++)
                cJSON_AddItemToObject(w, keys[k], cJSON_DetachItemFromObject(oj, keys[k]));
            cJSON_Delete(oj);
            char *s = cJSON_PrintUnformatted(w);
            hs_buf_puts(b, s);
            free(s);
            cJSON_Delete(w);
            continue;
        }
        cJSON *oj = hs_obj_json(l, o, true);
        char *s = cJSON_PrintUnformatted(oj);
        cJSON_Delete(oj);
        hs_buf_printf(b, "{\"object\":%s,\"fields\":", s);
        free(s);
        s = cJSON_PrintUnformatted(o->fields);
        hs_buf_puts(b, s);
        free(s);
        hs_buf_printf(b, ",\"total\":%zu,\"records\":[", o->by_created.n);
        for (size_t r = 0; r < o->by_created.n; r++) {
            if (r)
                hs_buf_puts(b, ",");
            hs_rec_render(b, c, l, o, o->by_created.v[r], true, NULL);
        }
        hs_buf_puts(b, "]}");
    }
    hs_buf_puts(b, "]}");
}

char *hs_state_dump(hs_ctx *c, hs_loc *l)
{
    hs_buf b = {0};
    hs_buf_puts(&b, "{\"locations\":[");
    bool first = true;
    for (int i = 0; i < c->n_locs; i++) {
        if (l && c->locs[i] != l)
            continue;
        if (!first)
            hs_buf_puts(&b, ",");
        first = false;
        dump_loc(c, c->locs[i], &b);
    }
    hs_buf_puts(&b, "]}");
    return hs_buf_steal(&b);
}

static void e(cJSON *errs, const char *fmt, const char *a)
{
    char m[400];
    snprintf(m, sizeof m, fmt, a ? a : "");
    cJSON_AddItemToArray(errs, cJSON_CreateString(m));
}

static int64_t time_of(const cJSON *r, const char *k1, const char *k2, int64_t dflt, bool *bad)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(r, k1);
    if (!v)
        v = cJSON_GetObjectItemCaseSensitive(r, k2);
    if (!v)
        return dflt;
    int64_t ms;
    if (cJSON_IsNumber(v))
        return (int64_t)v->valuedouble;
    if (cJSON_IsString(v) && hs_parse_iso_ms(v->valuestring, &ms))
        return ms;
    *bad = true;
    return dflt;
}

static int src_of(const cJSON *r, const char *k)
{
    const char *s = cJSON_GetStringValue(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(r, k), "source"));
    return s && strcmp(s, "WEB_USER") == 0 ? SRC_WEB : SRC_API;
}

static bool load_object(hs_ctx *c, hs_loc *real, hs_loc *tmp, const cJSON *oj, cJSON *errs)
{
    const cJSON *obj = cJSON_GetObjectItemCaseSensitive(oj, "object");
    const char *key = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(obj, "key"));
    if (!key) {
        e(errs, "objects[].object.key must be a string%s", NULL);
        return false;
    }
    const cJSON *labels = cJSON_GetObjectItemCaseSensitive(obj, "labels");
    const char *sg = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(labels, "singular"));
    const char *pl = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(labels, "plural"));
    bool standard = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(obj, "standard")) ||
                    strncmp(key, "custom_objects.", 15) != 0;
    hs_object *o = hs_obj_new(c, tmp, key, sg ? sg : key, pl ? pl : key, standard);
    const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(obj, "id"));
    if (id && hs_is_hex24(id))
        snprintf(o->id, sizeof o->id, "%s", id);
    o->records_supported = strcmp(key, "contact") && strcmp(key, "opportunity");
    if (!strcmp(key, "opportunity")) {
        o->extra = cJSON_CreateObject();
        cJSON_AddArrayToObject(o->extra, "pipelines");
        cJSON_AddArrayToObject(o->extra, "lostReasons");
        o->primary = o->primary ? o->primary : strdup("opportunity.name");
        return hs_opps_load(c, real, o, oj, errs);
    }
    if (!strcmp(key, "contact")) {
        o->cs = hs_cstore_new();
        if (!hs_contacts_load(c, real, o, cJSON_GetObjectItemCaseSensitive(oj, "fields"),
                              cJSON_GetObjectItemCaseSensitive(oj, "contacts"), errs))
            return false;
        const cJSON *d;
        cJSON_ArrayForEach(d, cJSON_GetObjectItemCaseSensitive(oj, "duplicates"))
        {
            const char *s = cJSON_GetStringValue(d);
            if (s && o->cs->n_rule < 2 && (!strcmp(s, "email") || !strcmp(s, "phone")))
                o->cs->rule[o->cs->n_rule++] = strcmp(s, "email") ? CDUP_PHONE : CDUP_EMAIL;
        }
        o->primary = o->primary ? o->primary : strdup("contact.first_name");
        return true;
    }
    const char *desc = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(obj, "description"));
    if (desc)
        o->description = strdup(desc);
    const char *prim =
        cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(obj, "primaryDisplayProperty"));
    if (prim)
        o->primary = strdup(prim);
    const cJSON *f;
    char when[32];
    hs_iso_ms(hs_now_ms(), when);
    cJSON_ArrayForEach(f, cJSON_GetObjectItemCaseSensitive(oj, "fields"))
    {
        const char *fk = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(f, "fieldKey"));
        int dt =
            hs_dtype_parse(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(f, "dataType")));
        if (!fk || dt == DT_UNKNOWN) {
            e(errs, "%s: each field needs fieldKey and a known dataType", key);
            return false;
        }
        cJSON *nf = cJSON_Duplicate(f, 1);
        const char *dflt[][2] = {{"locationId", real->id},   {"objectKey", key},
                                 {"parentId", o->folder_id}, {"dateAdded", when},
                                 {"dateUpdated", when},      {"name", fk}};
        for (size_t i = 0; i < sizeof dflt / sizeof dflt[0]; i++)
            if (!cJSON_GetObjectItemCaseSensitive(nf, dflt[i][0]))
                cJSON_AddStringToObject(nf, dflt[i][0], dflt[i][1]);
        if (!cJSON_GetObjectItemCaseSensitive(nf, "id")) {
            char fid[21];
            hs_alnum_id(&c->rng, fid);
            cJSON_AddStringToObject(nf, "id", fid);
        }
        if (!cJSON_GetObjectItemCaseSensitive(nf, "showInForms"))
            cJSON_AddBoolToObject(nf, "showInForms", true);
        cJSON_AddItemToArray(o->fields, nf);
    }
    const cJSON *sp = cJSON_GetObjectItemCaseSensitive(obj, "searchableProperties");
    if (cJSON_IsArray(sp)) {
        cJSON_Delete(o->searchable);
        o->searchable = cJSON_Duplicate(sp, 1);
    } else if (o->primary) {
        cJSON_AddItemToArray(o->searchable, cJSON_CreateString(o->primary));
    }
    int64_t now = hs_now_ms();
    const cJSON *r;
    cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(oj, "records"))
    {
        const cJSON *props = cJSON_GetObjectItemCaseSensitive(r, "properties");
        if (!cJSON_IsObject(props)) {
            e(errs, "%s: each record needs a properties object", key);
            return false;
        }
        cJSON *p = hs_props_apply(o, NULL, props, errs);
        if (!p)
            return false;
        hs_rec *rec = calloc(1, sizeof *rec);
        if (!rec)
            abort();
        bool bad = false;
        rec->created = time_of(r, "createdAt", "dateAdded", now, &bad);
        rec->updated = time_of(r, "updatedAt", "dateUpdated", rec->created, &bad);
        rec->created_src = (uint8_t)src_of(r, "createdBy");
        rec->updated_src = (uint8_t)src_of(r, "lastUpdatedBy");
        rec->props = cJSON_PrintUnformatted(p);
        cJSON_Delete(p);
        const char *rid = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "id"));
        if (rid && (!hs_is_hex24(rid) || hs_rec_find(o, rid))) {
            e(errs, "record id %s is not 24 lowercase hex or is duplicated", rid);
            bad = true;
        }
        if (rid)
            snprintf(rec->id, sizeof rec->id, "%s", rid);
        else
            hs_new_record_id(c, o, rec->created, rec->id);
        rec->owner =
            hs_people_apply(o, "owner", cJSON_GetObjectItemCaseSensitive(r, "owner"), 1, errs);
        rec->followers = hs_people_apply(
            o, "followers", cJSON_GetObjectItemCaseSensitive(r, "followers"), 10, errs);
        if (bad || !rec->owner || !rec->followers) {
            if (!cJSON_GetArraySize(errs))
                e(errs, "%s: a record has a bad createdAt/updatedAt", key);
            hs_rec_free(rec);
            return false;
        }
        hs_rec_append(o, rec);
    }
    hs_index_sort_all(o);
    return true;
}

int hs_state_load(hs_ctx *c, const cJSON *root, cJSON *errs)
{
    const cJSON *locs = cJSON_GetObjectItemCaseSensitive(root, "locations");
    if (!cJSON_IsArray(locs)) {
        e(errs, "state: \"locations\" must be an array%s", NULL);
        return 422;
    }
    const cJSON *lj;
    /* validate everything into temporaries first so that a bad load changes nothing */
    int n = cJSON_GetArraySize(locs), i = 0;
    hs_loc *tmps = calloc((size_t)n + 1, sizeof *tmps);
    bool ok = true;
    cJSON_ArrayForEach(lj, locs)
    {
        const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(lj, "id"));
        if (!id || !*id || strlen(id) >= 64) {
            e(errs, "state: each location needs an id%s", NULL);
            ok = false;
            break;
        }
        hs_loc *tmp = &tmps[i++];
        snprintf(tmp->id, sizeof tmp->id, "%s", id);
        const cJSON *oj;
        cJSON_ArrayForEach(oj, cJSON_GetObjectItemCaseSensitive(lj, "objects"))
        {
            if (!load_object(c, tmp, tmp, oj, errs)) {
                ok = false;
                break;
            }
        }
        if (!ok)
            break;
    }
    if (!ok) {
        for (int k = 0; k < n; k++)
            hs_loc_clear_objects(&tmps[k]);
        free(tmps);
        return 422;
    }
    i = 0;
    cJSON_ArrayForEach(lj, locs)
    {
        hs_loc *tmp = &tmps[i++];
        hs_loc *l = hs_loc_find(c, tmp->id);
        if (!l) {
            l = hs_loc_new(c, tmp->id);
            hs_loc_issue_pair(c, l);
        }
        const char *tok = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(lj, "token"));
        const char *ref = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(lj, "refresh"));
        if (tok && strlen(tok) < 80 && !hs_token_find(c, tok)) {
            hs_token_issue_as(c, l, false, tok);
            snprintf(l->access, sizeof l->access, "%s", tok);
        }
        if (ref && strlen(ref) < 80 && !hs_token_find(c, ref)) {
            hs_token_issue_as(c, l, true, ref);
            snprintf(l->refresh, sizeof l->refresh, "%s", ref);
        }
        if (cJSON_GetObjectItemCaseSensitive(lj, "objects")) {
            hs_loc_clear_objects(l);
            l->objs = tmp->objs;
            l->n_objs = tmp->n_objs;
            tmp->objs = NULL;
            tmp->n_objs = 0;
            for (int k = 0; k < l->n_objs; k++) /* built in tmp, which goes now */
                l->objs[k]->loc = l;
        }
        /* every HighLevel location has contacts: a state without them gets an empty store */
        hs_contacts_obj(c, l);
        hs_opps_obj(c, l);
    }
    free(tmps);
    return 200;
}
