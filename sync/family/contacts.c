/*
 * family/contacts.c - the Contacts family (family.h): the standard `contact` object, through
 * /contacts. Facts: shared/reference/highlevel-crm.md section 1, decisions.md "Contacts".
 *
 *   fields   the standard fields as typed columns (std_cols below), the keys no column holds in
 *            the jsonb `extra` (losslessly: a key the API adds later is kept there); custom
 *            fields from GET /locations/{id}/customFields?model=contact, which wins (it is the
 *            documented definitions endpoint and carries ids, fieldKey, dataType and options);
 *            GET /objects/contact?fetchProperties=true (its standard: false fields) is used
 *            when that call is refused (a token without the locations/customFields scope).
 *            A column is named from the fieldKey (contact.favourite_color -> favourite_color),
 *            with a hash suffix when that is a standard column's name (ddl.h).
 *   search   POST /contacts/search, pageLimit <= 500 (a server capping at 100 silently is fine:
 *            a short page is not the end), always searchAfter, filters [{"field": "dateUpdated",
 *            "operator": "range", "value": {"gte": ISO}}], sort [{"field": "dateUpdated", ...}],
 *            contacts in "contacts". The search index lags writes by seconds: the incremental
 *            window is never narrower than FAM_CONTACTS_LAG_MS (pull.c).
 *   names    search answers may carry only firstNameLowerCase / lastNameLowerCase. They fill
 *            first_name / last_name when firstName / lastName are absent, and a pull that
 *            brings the lower-cased form of what the row holds keeps the row's spelling
 *            (FAM_STD_KEEP_CASE): the original case comes from every GET or write answer (push
 *            write-back, conflict checks) and then stays. No GET per contact is spent on it.
 *   records  customFields [{id, value}] (value / fieldValue / fieldValueString tolerated) are
 *            made into one object keyed by property key for the shared codecs; an id without a
 *            definition goes to `extra` as {"customFields": [...]}.
 *   writes   POST /contacts/ (201 {"contact"}), PUT /contacts/{id} with the changed fields only
 *            and customFields [{id, field_value}], DELETE /contacts/{id} ({"succeded": true},
 *            either spelling); tags by difference through POST / DELETE /contacts/{id}/tags,
 *            never in the PUT (which would replace them all); a create answered 400 with
 *            meta.contactId (the duplicate rule) names the contact that exists.
 *   retry    a create with an unknown outcome is made safe by POST /contacts/upsert when the row
 *            has an email or phone (matched on the store, not the lagging index: the contact
 *            the first create made is found, or made now), else by a search on the
 *            external_id_field, else it parks (shared push.c).
 */
#include "family.h"

#include "pullstore.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define P FAM_STD_PUSHED
static const fam_std std_cols[] = {
    {"first_name", "text", "HighLevel firstName (lower case when only search has seen it)",
     "firstName", "firstNameLowerCase", FAM_K_TEXT, P | FAM_STD_KEEP_CASE},
    {"last_name", "text", "HighLevel lastName (lower case when only search has seen it)",
     "lastName", "lastNameLowerCase", FAM_K_TEXT, P | FAM_STD_KEEP_CASE},
    {"email", "text", "HighLevel email", "email", NULL, FAM_K_TEXT, P},
    {"phone", "text", "HighLevel phone (E.164)", "phone", NULL, FAM_K_TEXT, P},
    {"company_name", "text", "HighLevel companyName", "companyName", NULL, FAM_K_TEXT, P},
    {"business_id", "text", "HighLevel businessId (read-only)", "businessId", NULL, FAM_K_TEXT, 0},
    {"source", "text", "HighLevel source", "source", NULL, FAM_K_TEXT, P},
    {"type", "text", "HighLevel type: lead, customer (read-only)", "type", NULL, FAM_K_TEXT, 0},
    {"dnd", "boolean", "HighLevel dnd (do not disturb, all channels)", "dnd", NULL, FAM_K_BOOL, P},
    {"dnd_settings", "jsonb", "HighLevel dndSettings per channel", "dndSettings", NULL, FAM_K_JSON,
     P},
    {"tags", "text[]", "HighLevel tags (pushed as added / removed tags)", "tags", NULL, FAM_K_IDS,
     P | FAM_STD_SET_DIFF},
    {"assigned_to", "text", "HighLevel assignedTo user id", "assignedTo", NULL, FAM_K_TEXT, P},
    {"followers", "text[]", "HighLevel follower user ids (read-only)", "followers", NULL, FAM_K_IDS,
     0},
    {"date_of_birth", "date", "HighLevel dateOfBirth", "dateOfBirth", NULL, FAM_K_DATE, P},
    {"address1", "text", "HighLevel address1 (address in search answers)", "address1", "address",
     FAM_K_TEXT, P},
    {"city", "text", "HighLevel city", "city", NULL, FAM_K_TEXT, P},
    {"state", "text", "HighLevel state", "state", NULL, FAM_K_TEXT, P},
    {"postal_code", "text", "HighLevel postalCode", "postalCode", NULL, FAM_K_TEXT, P},
    {"country", "text", "HighLevel country", "country", NULL, FAM_K_TEXT, P},
    {"website", "text", "HighLevel website", "website", NULL, FAM_K_TEXT, P},
    {"timezone", "text", "HighLevel timezone", "timezone", NULL, FAM_K_TEXT, P},
    {"additional_emails", "jsonb", "HighLevel additionalEmails (read-only)", "additionalEmails",
     NULL, FAM_K_JSON, 0},
    {"extra", "jsonb", "HighLevel keys of the contact that no column holds (kept losslessly)", NULL,
     NULL, FAM_K_EXTRA, 0},
};
#undef P
#define N_STD     (sizeof std_cols / sizeof *std_cols)
#define COL_EMAIL 2 /* std_cols index */
#define COL_PHONE 3

/* Keys held elsewhere, or derived from what is held (not copied to `extra`). */
static const char *const held_keys[] = {
    "id",        "locationId",   "dateAdded",   "dateUpdated",       "createdAt",
    "updatedAt", "customFields", "searchAfter", "fullNameLowerCase", "emailLowerCase"};

static bool serves(const char *key)
{
    return strcmp(key, "contact") == 0;
}

static const char *default_table(const char *key)
{
    (void)key;
    return "contacts";
}

/* ---- definitions ---- */

struct defs_call {
    hl_location *l;
    int prio;
    hl_cb cb;
    void *ud;
};

static void on_objects_defs(hl_result *r, void *ud)
{
    struct defs_call *d = ud;
    d->cb(r, d->ud);
    free(d);
}

static void on_custom_fields(hl_result *r, void *ud)
{
    struct defs_call *d = ud;
    gs_err e = {0};
    if (r->kind == HL_REJECTED &&
        hl_get_schema(d->l, "contact", d->prio, on_objects_defs, d, &e) == 0)
        return; /* the objects endpoint answers instead */
    d->cb(r, d->ud);
    free(d);
}

static int fetch_schema(hl_location *l, const char *key, int prio, hl_cb cb, void *ud, gs_err *e)
{
    (void)key;
    struct defs_call *d = calloc(1, sizeof *d);
    if (!d)
        return gs_err_set(e, GS_ENOMEM, "out of memory");
    *d = (struct defs_call){l, prio, cb, ud};
    sbuf p = SBUF_INIT;
    sbuf_puts(&p, "/locations/");
    fam_path_segment(&p, hl_location_id(l));
    sbuf_puts(&p, "/customFields");
    hl_call c = {.method = "GET",
                 .endpoint = "custom_fields",
                 .path = sbuf_str(&p),
                 .query = "model=contact"};
    int rc = sbuf_failed(&p) ? gs_err_set(e, GS_ENOMEM, "out of memory")
                             : hl_send(l, &c, prio, "contact", on_custom_fields, d, e);
    sbuf_free(&p);
    if (rc)
        free(d);
    return rc;
}

/* Both answers become the objects shape schema_object_from_json reads. */
static int parse_schema(const cJSON *answer, const char *key, schema_object **out, gs_err *e)
{
    *out = NULL;
    cJSON *doc = cJSON_CreateObject(), *obj = cJSON_CreateObject(), *fields = cJSON_CreateArray();
    if (!doc || !obj || !fields) {
        cJSON_Delete(doc);
        cJSON_Delete(obj);
        cJSON_Delete(fields);
        return gs_err_set(e, GS_ENOMEM, "out of memory");
    }
    cJSON_AddItemToObject(doc, "object", obj);
    cJSON_AddItemToObject(doc, "fields", fields);
    const cJSON *cf = cJSON_GetObjectItemCaseSensitive(answer, "customFields");
    const cJSON *of = cJSON_GetObjectItemCaseSensitive(answer, "fields");
    const cJSON *ob = cJSON_GetObjectItemCaseSensitive(answer, "object");
    cJSON_AddStringToObject(obj, "key", key);
    cJSON_AddBoolToObject(obj, "standard", true);
    const char *loc = NULL;
    if (cJSON_IsObject(ob)) {
        const cJSON *labels = cJSON_GetObjectItemCaseSensitive(ob, "labels");
        if (labels)
            cJSON_AddItemToObject(obj, "labels", cJSON_Duplicate(labels, 1));
        loc = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ob, "locationId"));
        const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ob, "id"));
        if (id)
            cJSON_AddStringToObject(obj, "id", id);
    }
    const cJSON *it;
    if (cJSON_IsArray(cf)) {
        cJSON_ArrayForEach(it, cf)
        {
            if (!loc)
                loc = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "locationId"));
            cJSON *f = cJSON_Duplicate(it, 1);
            const cJSON *pick = cJSON_GetObjectItemCaseSensitive(it, "picklistOptions");
            cJSON *opts = cJSON_CreateArray();
            const cJSON *o;
            cJSON_ArrayForEach(o, pick)
            {
                const char *s = cJSON_GetStringValue(o);
                if (!s)
                    continue;
                cJSON *oj = cJSON_CreateObject();
                cJSON_AddStringToObject(oj, "key", s);
                cJSON_AddStringToObject(oj, "label", s);
                cJSON_AddItemToArray(opts, oj);
            }
            cJSON_DeleteItemFromObjectCaseSensitive(f, "options");
            cJSON_AddItemToObject(f, "options", opts);
            cJSON_AddItemToArray(fields, f);
        }
    } else if (cJSON_IsArray(of)) {
        cJSON_ArrayForEach(it, of)
        {
            /* standard fields are the fixed columns */
            if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(it, "standard")))
                continue;
            cJSON_AddItemToArray(fields, cJSON_Duplicate(it, 1));
        }
    } else {
        cJSON_Delete(doc);
        return gs_err_set(e, GS_EPARSE,
                          "contact definitions: neither \"customFields\" nor \"fields\" in the "
                          "answer");
    }
    if (loc)
        cJSON_AddStringToObject(obj, "locationId", loc);
    cJSON_AddStringToObject(obj, "description", "HighLevel contacts");
    int rc = schema_object_from_json(doc, out, e);
    cJSON_Delete(doc);
    if (!rc)
        (*out)->family = &fam_contacts;
    return rc;
}

/* ---- search ---- */

static int search(hl_location *l, const char *key, const fam_query *q, int prio, const char *queue,
                  hl_cb cb, void *ud, gs_err *e)
{
    cJSON *b = cJSON_CreateObject();
    if (!b)
        return gs_err_set(e, GS_ENOMEM, "out of memory");
    cJSON_AddNumberToObject(b, "pageLimit", q->page_limit > 0 ? q->page_limit : 100);
    if (q->page > 0)
        cJSON_AddNumberToObject(b, "page", q->page);
    else if (q->search_after)
        cJSON_AddItemToObject(b, "searchAfter", cJSON_Duplicate(q->search_after, 1));
    if (q->since != FAM_NO_TIME) {
        char iso[40];
        ps_time_iso(q->since, iso, sizeof iso);
        cJSON *a = cJSON_AddArrayToObject(b, "filters"), *o = cJSON_CreateObject();
        cJSON *v = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "field", "dateUpdated");
        cJSON_AddStringToObject(o, "operator", "range");
        cJSON_AddStringToObject(v, "gte", iso);
        cJSON_AddItemToObject(o, "value", v);
        cJSON_AddItemToArray(a, o);
    }
    if (q->sort) {
        cJSON *a = cJSON_AddArrayToObject(b, "sort"), *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "field", "dateUpdated");
        cJSON_AddStringToObject(o, "direction", q->sort > 0 ? "asc" : "desc");
        cJSON_AddItemToArray(a, o);
    }
    hl_call c = {.method = "POST",
                 .endpoint = "search",
                 .path = "/contacts/search",
                 .body = b,
                 .body_location = true,
                 .is_read = true,
                 .answer_borrowed = true};
    int rc = hl_send(l, &c, prio, queue ? queue : key, cb, ud, e);
    cJSON_Delete(b);
    return rc;
}

/* ---- records ---- */

/* customFields: JSON null = none */
static const cJSON *cf_list(const cJSON *record)
{
    const cJSON *cf = fam_get(record, "customFields");
    return cf && !cJSON_IsNull(cf) ? cf : NULL;
}

static int field_slots(const schema_object *o, const cJSON *record, const cJSON **slots,
                       sbuf *warnings)
{
    return fam_cf_slots(o, cf_list(record), slots, warnings);
}

/* k equals s (NULL: never); the first byte is compared inline, as most names differ there */
static bool same(const char *k, const char *s)
{
    return s && k[0] == s[0] && strcmp(k, s) == 0;
}

/* Asked for every key of every record (fam_cf_extra), in the record's order. The API sends the
 * standard keys in about the order of std_cols, so the search starts after the last one found
 * (*hint): one or two tests per key where a full walk was 50. */
static bool held(const char *k, size_t *hint)
{
    for (size_t i = 0; i < sizeof held_keys / sizeof *held_keys; i++)
        if (same(k, held_keys[i]))
            return true;
    for (size_t n = 0; n < N_STD; n++) {
        size_t i = (*hint + n) % N_STD;
        if (same(k, std_cols[i].key) || same(k, std_cols[i].alt_key)) {
            *hint = i + 1;
            return true;
        }
    }
    return false;
}

static int extra_value(const schema_object *o, const cJSON *record, const map_out *mo, char **out)
{
    return fam_cf_extra(o, record, cf_list(record), held, mo, out);
}

static const cJSON *answer_record(const cJSON *answer)
{
    return fam_answer_inner(answer, "contact");
}

static int row_to_body(const schema_object *o, const char *const *values,
                       const char *const *old_values, const bool *changed, const schema_field *ext,
                       const char *local_key, cJSON **out, gs_err *e)
{
    (void)old_values;
    *out = NULL;
    bool create = changed == NULL;
    cJSON *body = cJSON_CreateObject(), *cf = cJSON_CreateArray();
    if (!body || !cf) {
        cJSON_Delete(body);
        cJSON_Delete(cf);
        return gs_err_set(e, GS_ENOMEM, "out of memory");
    }
    int rc = 0;
    for (size_t i = 0; !rc && i < N_STD; i++) {
        const fam_std *s = &std_cols[i];
        size_t k = 2 + i;
        if (!(s->flags & FAM_STD_PUSHED))
            continue;
        if (create ? !values[k] : !changed[k] || (s->flags & FAM_STD_SET_DIFF))
            continue;
        cJSON *v;
        if (!(rc = fam_std_decode(s, values[k], &v, e)))
            cJSON_AddItemToObject(body, s->key, v);
    }
    if (!rc)
        rc = fam_cf_body(&fam_contacts, o, values, changed, ext, local_key, cf, e);
    if (rc) {
        cJSON_Delete(body);
        cJSON_Delete(cf);
        return rc;
    }
    if (cJSON_GetArraySize(cf) > 0)
        cJSON_AddItemToObject(body, "customFields", cf);
    else
        cJSON_Delete(cf);
    *out = body;
    return 0;
}

/* ---- writes ---- */

static int send_id(hl_location *l, const char *method, const char *endpoint, const char *id,
                   const char *suffix, const cJSON *body, int prio, hl_cb cb, void *ud, gs_err *e)
{
    return fam_send_id(l, "/contacts/", "contact", method, endpoint, id, suffix, body, prio, cb, ud,
                       e);
}

static int create(hl_location *l, const char *key, const cJSON *body, int prio, hl_cb cb, void *ud,
                  gs_err *e)
{
    hl_call c = {.method = "POST",
                 .endpoint = "create",
                 .path = "/contacts/",
                 .body = body,
                 .body_location = true,
                 .create = true};
    return hl_send(l, &c, prio, key, cb, ud, e);
}

static int get(hl_location *l, const char *key, const char *id, int prio, hl_cb cb, void *ud,
               gs_err *e)
{
    (void)key;
    return send_id(l, "GET", "get_record", id, NULL, NULL, prio, cb, ud, e);
}

static int update(hl_location *l, const char *key, const char *id, const cJSON *body, int prio,
                  hl_cb cb, void *ud, gs_err *e)
{
    (void)key;
    return send_id(l, "PUT", "update", id, NULL, body, prio, cb, ud, e);
}

static int remove_contact(hl_location *l, const char *key, const char *id, int prio, hl_cb cb,
                          void *ud, gs_err *e)
{
    (void)key;
    return send_id(l, "DELETE", "delete", id, NULL, NULL, prio, cb, ud, e);
}

static int tags_call(hl_location *l, const char *method, const char *id, const cJSON *items,
                     int prio, hl_cb cb, void *ud, gs_err *e)
{
    cJSON *b = cJSON_CreateObject();
    cJSON *t = cJSON_Duplicate(items, 1);
    if (!b || !t) {
        cJSON_Delete(b);
        cJSON_Delete(t);
        return gs_err_set(e, GS_ENOMEM, "out of memory");
    }
    cJSON_AddItemToObject(b, "tags", t);
    int rc = send_id(l, method, "tags", id, "/tags", b, prio, cb, ud, e);
    cJSON_Delete(b);
    return rc;
}

static int set_add(hl_location *l, const char *key, const char *id, const fam_std *col,
                   const cJSON *items, int prio, hl_cb cb, void *ud, gs_err *e)
{
    (void)key;
    (void)col;
    return tags_call(l, "POST", id, items, prio, cb, ud, e);
}

static int set_remove(hl_location *l, const char *key, const char *id, const fam_std *col,
                      const cJSON *items, int prio, hl_cb cb, void *ud, gs_err *e)
{
    (void)key;
    (void)col;
    return tags_call(l, "DELETE", id, items, prio, cb, ud, e);
}

/* 400 "This location does not allow duplicated contacts." with meta.contactId. */
static const char *existing_id(const hl_result *r)
{
    if (r->kind != HL_REJECTED || r->status != 400)
        return NULL;
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(r->json, "meta");
    const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(meta, "contactId"));
    return id && *id ? id : NULL;
}

static bool has_natural_key(const fam_lookup *k)
{
    return k->ncols > 2 + COL_PHONE && (k->values[2 + COL_EMAIL] || k->values[2 + COL_PHONE]);
}

static bool can_lookup(const schema_object *o, const fam_lookup *k)
{
    (void)o;
    return has_natural_key(k) || (k->ext && k->ext->id);
}

static int lookup(hl_location *l, const schema_object *o, const fam_lookup *k, int prio, hl_cb cb,
                  void *ud, gs_err *e)
{
    if (has_natural_key(k)) {
        /* upsert: found by email / phone on the store, or created now - exactly one */
        cJSON *body = NULL;
        int rc = row_to_body(o, k->values, NULL, NULL, k->ext, k->local_key, &body, e);
        if (rc)
            return rc;
        cJSON_AddFalseToObject(body, "createNewIfDuplicateAllowed");
        hl_call c = {.method = "POST",
                     .endpoint = "upsert",
                     .path = "/contacts/upsert",
                     .body = body,
                     .body_location = true};
        rc = hl_send(l, &c, prio, o->key, cb, ud, e);
        cJSON_Delete(body);
        return rc;
    }
    cJSON *b = cJSON_CreateObject();
    cJSON *fl = cJSON_AddArrayToObject(b, "filters"), *f = cJSON_CreateObject();
    char field[300];
    snprintf(field, sizeof field, "customFields.%s", k->ext->id);
    cJSON_AddStringToObject(f, "field", field);
    cJSON_AddStringToObject(f, "operator", "eq");
    cJSON_AddStringToObject(f, "value", k->local_key);
    cJSON_AddItemToArray(fl, f);
    cJSON_AddNumberToObject(b, "pageLimit", 10);
    hl_call c = {.method = "POST",
                 .endpoint = "search",
                 .path = "/contacts/search",
                 .body = b,
                 .body_location = true,
                 .is_read = true};
    int rc = hl_send(l, &c, prio, o->key, cb, ud, e);
    cJSON_Delete(b);
    return rc;
}

static const cJSON *lookup_match(const schema_object *o, const cJSON *answer, const fam_lookup *k,
                                 int *matches)
{
    (void)o;
    *matches = 0;
    const cJSON *one = cJSON_GetObjectItemCaseSensitive(answer, "contact");
    if (cJSON_IsObject(one)) { /* an upsert's answer: found or made */
        *matches = 1;
        return one;
    }
    const cJSON *it, *found = NULL;
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(answer, "contacts"))
    {
        const cJSON *c;
        cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(it, "customFields"))
        {
            const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "id"));
            const char *v = cJSON_GetStringValue(fam_cf_value(c));
            if (id && v && k->ext && !strcmp(id, k->ext->id) && !strcmp(v, k->local_key)) {
                if (!found)
                    found = it;
                (*matches)++;
                break;
            }
        }
    }
    return found;
}

/* The upsert matches on the store at once; a search on the external id waits for the index. */
static int64_t lookup_lag_ms(const schema_object *o, const fam_lookup *k)
{
    (void)o;
    return has_natural_key(k) ? 0 : FAM_CONTACTS_LAG_MS;
}

const fam_family fam_contacts = {
    .name = "contacts",
    .serves = serves,
    .std = std_cols,
    .n_std = N_STD,
    .default_table = default_table,
    .fetch_schema = fetch_schema,
    .parse_schema = parse_schema,
    .page_max = 500,
    .index_lag_ms = FAM_CONTACTS_LAG_MS,
    .envelope = "contacts",
    .updated_name = "dateUpdated",
    .created_key = {"dateAdded", "createdAt"},
    .updated_key = {"dateUpdated", "updatedAt"},
    .cursor_key = "searchAfter",
    .search = search,
    .field_values = NULL,
    .field_slots = field_slots,
    .extra_value = extra_value,
    .answer_failed = fam_answer_failed,
    .answer_record = answer_record,
    .row_to_body = row_to_body,
    .create = create,
    .get = get,
    .update = update,
    .remove = remove_contact,
    .set_add = set_add,
    .set_remove = set_remove,
    .existing_id = existing_id,
    .can_lookup = can_lookup,
    .lookup = lookup,
    .lookup_match = lookup_match,
    .lookup_lag_ms = lookup_lag_ms,
};
