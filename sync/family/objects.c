/*
 * family/objects.c - the Objects family (family.h): custom objects and the business standard
 * object, through /objects/{key}/records.
 *
 *   fields   owner and followers as text[] columns beside the properties; definitions from
 *            GET /objects/{key}?fetchProperties=true (schema.h);
 *   search   POST /objects/{key}/records/search, pageLimit <= 100, searchAfter from each record,
 *            filters [{"field": "updatedAt", "operator": "range", "value": {"gte": ISO}}], sort
 *            [{"field": "updatedAt", "direction": ...}], records in "records";
 *   records  values in a "properties" map keyed by the property key; creates and updates send
 *            {"properties": {...}, "owner": [...], "followers": [...]} (changed keys only);
 *   writes   POST/GET/PUT/DELETE /objects/{key}/records[/{id}], answers {"record": {...}}; a
 *            create is safe to retry only with external_id_field (a search on it, filter eq).
 */
#include "family.h"

#include "pullstore.h"

#include <stdio.h>
#include <string.h>

static const fam_std std_cols[] = {
    {"owner", "text[]", "HighLevel owner user id(s)", "owner", NULL, FAM_K_IDS, FAM_STD_PUSHED},
    {"followers", "text[]", "HighLevel follower user ids", "followers", NULL, FAM_K_IDS,
     FAM_STD_PUSHED},
};

/* The records API (search + CRUD) is documented for custom objects and business. */
static bool serves(const char *key)
{
    return strncmp(key, "custom_objects.", 15) == 0 || strcmp(key, "business") == 0;
}

static int fetch_schema(hl_location *l, const char *key, int prio, hl_cb cb, void *ud, gs_err *e)
{
    return hl_get_schema(l, key, prio, cb, ud, e);
}

static int parse_schema(const cJSON *answer, const char *key, schema_object **out, gs_err *e)
{
    (void)key;
    int rc = schema_object_from_json(answer, out, e);
    if (!rc)
        (*out)->family = &fam_objects;
    return rc;
}

static cJSON *sort_json(const char *dir)
{
    cJSON *a = cJSON_CreateArray(), *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "field", "updatedAt");
    cJSON_AddStringToObject(o, "direction", dir);
    cJSON_AddItemToArray(a, o);
    return a;
}

static cJSON *filter_json(int64_t since)
{
    char iso[40];
    ps_time_iso(since, iso, sizeof iso);
    cJSON *a = cJSON_CreateArray(), *o = cJSON_CreateObject(), *v = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "field", "updatedAt");
    cJSON_AddStringToObject(o, "operator", "range");
    cJSON_AddStringToObject(v, "gte", iso);
    cJSON_AddItemToObject(o, "value", v);
    cJSON_AddItemToArray(a, o);
    return a;
}

static int search(hl_location *l, const char *key, const fam_query *q, int prio, const char *queue,
                  hl_cb cb, void *ud, gs_err *e)
{
    cJSON *sort = q->sort ? sort_json(q->sort > 0 ? "asc" : "desc") : NULL;
    cJSON *filters = q->since != FAM_NO_TIME ? filter_json(q->since) : NULL;
    hl_search s = {.page = q->page,
                   .page_limit = q->page_limit,
                   .search_after = q->page > 0 ? NULL : q->search_after,
                   .sort = sort,
                   .filters = filters,
                   .answer_borrowed = true};
    int rc = hl_search_records(l, key, &s, prio, queue, cb, ud, e);
    cJSON_Delete(sort);
    cJSON_Delete(filters);
    return rc;
}

static int field_values(const schema_object *o, const cJSON *record, const cJSON **props,
                        sbuf *warnings)
{
    (void)o;
    *props = cJSON_GetObjectItemCaseSensitive(record, "properties");
    if (*props && !cJSON_IsObject(*props)) {
        if (warnings)
            sbuf_puts(warnings, "properties: not an object; ignored\n");
        *props = NULL;
    }
    return 0;
}

static const cJSON *answer_record(const cJSON *answer)
{
    /* "id" first: a search record has it (usually as its first key), and is not wrapped */
    if (cJSON_GetObjectItemCaseSensitive(answer, "id"))
        return answer;
    const cJSON *inner = cJSON_GetObjectItemCaseSensitive(answer, "record");
    return cJSON_IsObject(inner) ? inner : answer;
}

/* owner / followers text[] column -> JSON array (NULL column: empty array) */
static int add_people(cJSON *body, const fam_std *s, const char *v, gs_err *e)
{
    cJSON *a;
    int rc = fam_std_decode(s, v, &a, e);
    if (rc)
        return rc;
    cJSON_AddItemToObject(body, s->key, a);
    return 0;
}

static int row_to_body(const schema_object *o, const char *const *values,
                       const char *const *old_values, const bool *changed, const schema_field *ext,
                       const char *local_key, cJSON **out, gs_err *e)
{
    *out = NULL;
    bool create = changed == NULL;
    cJSON *props = NULL;
    int rc = map_row_to_properties(o, values, old_values, changed, create, &props, e);
    if (rc)
        return rc;
    cJSON *body = cJSON_CreateObject();
    if (!body) {
        cJSON_Delete(props);
        return gs_err_set(e, GS_ENOMEM, "out of memory");
    }
    if (create && ext) {
        cJSON_DeleteItemFromObjectCaseSensitive(props, ext->prop_key);
        cJSON_AddStringToObject(props, ext->prop_key, local_key);
    }
    /* An update sends "properties" when a field changed, even when every value of it was
     * dropped (the API answers with the record as it is). */
    bool any = create;
    size_t k = fam_row_prefix(&fam_objects);
    for (size_t i = 0; !any && i < o->n_fields; i++) {
        bool money = o->fields[i].currency_column != NULL;
        any = changed[k] || (money && changed[k + 1]);
        k += money ? 2 : 1;
    }
    if (any || cJSON_GetArraySize(props) > 0)
        cJSON_AddItemToObject(body, "properties", props);
    else
        cJSON_Delete(props);
    for (size_t i = 0; !rc && i < fam_objects.n_std; i++) {
        size_t c = 2 + i;
        if (create ? values[c] != NULL : changed[c])
            rc = add_people(body, &fam_objects.std[i], values[c], e);
    }
    if (rc) {
        cJSON_Delete(body);
        return rc;
    }
    *out = body;
    return 0;
}

static int create(hl_location *l, const char *key, const cJSON *body, int prio, hl_cb cb, void *ud,
                  gs_err *e)
{
    return hl_create_record(l, key, body, prio, NULL, cb, ud, e);
}

static int get(hl_location *l, const char *key, const char *id, int prio, hl_cb cb, void *ud,
               gs_err *e)
{
    return hl_get_record(l, key, id, prio, NULL, cb, ud, e);
}

static int update(hl_location *l, const char *key, const char *id, const cJSON *body, int prio,
                  hl_cb cb, void *ud, gs_err *e)
{
    return hl_update_record(l, key, id, body, prio, NULL, cb, ud, e);
}

static int remove_record(hl_location *l, const char *key, const char *id, int prio, hl_cb cb,
                         void *ud, gs_err *e)
{
    return hl_delete_record(l, key, id, prio, NULL, cb, ud, e);
}

static bool can_lookup(const schema_object *o, const fam_lookup *k)
{
    (void)o;
    return k->ext != NULL;
}

static int lookup(hl_location *l, const schema_object *o, const fam_lookup *k, int prio, hl_cb cb,
                  void *ud, gs_err *e)
{
    cJSON *filters = cJSON_CreateArray();
    cJSON *f = cJSON_CreateObject();
    char field[300];
    snprintf(field, sizeof field, "properties.%s", k->ext->prop_key);
    cJSON_AddStringToObject(f, "field", field);
    cJSON_AddStringToObject(f, "operator", "eq");
    cJSON_AddStringToObject(f, "value", k->local_key);
    cJSON_AddItemToArray(filters, f);
    hl_search s = {.page_limit = 10, .filters = filters};
    int rc = hl_search_records(l, o->key, &s, prio, NULL, cb, ud, e);
    cJSON_Delete(filters);
    return rc;
}

static const cJSON *lookup_match(const schema_object *o, const cJSON *answer, const fam_lookup *k,
                                 int *matches)
{
    (void)o;
    const cJSON *recs = cJSON_GetObjectItemCaseSensitive(answer, "records");
    const cJSON *it, *found = NULL;
    *matches = 0;
    cJSON_ArrayForEach(it, recs)
    {
        const cJSON *props = cJSON_GetObjectItemCaseSensitive(it, "properties");
        const char *v =
            cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(props, k->ext->prop_key));
        if (v && !strcmp(v, k->local_key)) {
            if (!found)
                found = it;
            (*matches)++;
        }
    }
    return found;
}

const fam_family fam_objects = {
    .name = "objects",
    .serves = serves,
    .std = std_cols,
    .n_std = sizeof std_cols / sizeof *std_cols,
    .default_table = NULL,
    .fetch_schema = fetch_schema,
    .parse_schema = parse_schema,
    .page_max = 100,
    .envelope = "records",
    .updated_name = "updatedAt",
    .created_key = {"createdAt", "dateAdded"},
    .updated_key = {"updatedAt", "dateUpdated"},
    .cursor_key = "searchAfter",
    .search = search,
    .field_values = field_values,
    .field_slots = NULL,
    .extra_value = NULL,
    .answer_failed = NULL,
    .answer_record = answer_record,
    .row_to_body = row_to_body,
    .create = create,
    .get = get,
    .update = update,
    .remove = remove_record,
    .set_add = NULL,
    .set_remove = NULL,
    .existing_id = NULL,
    .can_lookup = can_lookup,
    .lookup = lookup,
    .lookup_match = lookup_match,
    .lookup_lag_ms = NULL,
};
