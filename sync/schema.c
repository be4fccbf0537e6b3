/* schema.c - see schema.h. */
#include "schema.h"

#include "mapping.h"

#include <stdlib.h>
#include <string.h>

static char *dup_str(const cJSON *parent, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(parent, name);
    if (cJSON_IsString(v) && v->valuestring)
        return strdup(v->valuestring);
    return NULL;
}

const char *schema_prop_key(const char *field_key)
{
    const char *dot = strrchr(field_key, '.');
    return dot ? dot + 1 : field_key;
}

static void field_clear(schema_field *f)
{
    free(f->id);
    free(f->field_key);
    free(f->prop_key);
    free(f->label);
    free(f->data_type);
    free(f->description);
    for (size_t i = 0; i < f->n_options; i++) {
        free(f->options[i].key);
        free(f->options[i].label);
    }
    free(f->options);
    cJSON_Delete(f->raw);
    free(f->type_name);
    if (f->type_own) {
        free(f->type_own->name);
        free(f->type_own->column);
        free(f->type_own->currency_column);
        free(f->type_own);
    }
    free(f->column);
    free(f->currency_column);
}

void schema_object_free(schema_object *o)
{
    if (!o)
        return;
    for (size_t i = 0; i < o->n_fields; i++)
        field_clear(&o->fields[i]);
    free(o->fields);
    free(o->id);
    free(o->key);
    free(o->label_singular);
    free(o->label_plural);
    free(o->description);
    free(o->location_id);
    cJSON_Delete(o->raw);
    free(o->table_schema);
    free(o->table);
    free(o);
}

void schema_object_drop_raw(schema_object *o)
{
    for (size_t i = 0; i < o->n_fields; i++) {
        cJSON_Delete(o->fields[i].raw);
        o->fields[i].raw = NULL;
    }
    cJSON_Delete(o->raw);
    o->raw = NULL;
}

const schema_field *schema_find_field(const schema_object *o, const char *field_key)
{
    for (size_t i = 0; i < o->n_fields; i++)
        if (strcmp(o->fields[i].field_key, field_key) == 0)
            return &o->fields[i];
    return NULL;
}

static int parse_field(const cJSON *j, schema_field *f, gs_err *err)
{
    memset(f, 0, sizeof *f);
    f->field_key = dup_str(j, "fieldKey");
    f->data_type = dup_str(j, "dataType");
    if (!f->field_key || !*f->field_key || !f->data_type || !*f->data_type) {
        field_clear(f);
        return gs_err_set(err, GS_EPARSE, "field definition without fieldKey or dataType");
    }
    f->prop_key = strdup(schema_prop_key(f->field_key));
    f->id = dup_str(j, "id");
    f->label = dup_str(j, "name");
    f->description = dup_str(j, "description");
    f->raw = cJSON_Duplicate(j, 1);
    if (!f->prop_key || !f->raw)
        goto nomem;
    const cJSON *opts = cJSON_GetObjectItemCaseSensitive(j, "options");
    if (cJSON_IsArray(opts)) {
        int n = cJSON_GetArraySize(opts);
        if (n > 0) {
            f->options = calloc((size_t)n, sizeof *f->options);
            if (!f->options)
                goto nomem;
        }
        const cJSON *o;
        cJSON_ArrayForEach(o, opts)
        {
            char *k = dup_str(o, "key");
            if (!k)
                continue; /* an option without key cannot be stored or matched */
            f->options[f->n_options].key = k;
            f->options[f->n_options].label = dup_str(o, "label");
            f->n_options++;
        }
    }
    return 0;
nomem:
    field_clear(f);
    return gs_err_set(err, GS_ENOMEM, "out of memory parsing a field");
}

int schema_object_from_json(const cJSON *response, schema_object **out, gs_err *err)
{
    *out = NULL;
    const cJSON *obj = cJSON_GetObjectItemCaseSensitive(response, "object");
    if (!cJSON_IsObject(obj))
        return gs_err_set(err, GS_EPARSE, "schema response has no \"object\"");
    schema_object *o = calloc(1, sizeof *o);
    if (!o)
        return gs_err_set(err, GS_ENOMEM, "out of memory");
    o->key = dup_str(obj, "key");
    if (!o->key || !*o->key) {
        schema_object_free(o);
        return gs_err_set(err, GS_EPARSE, "schema object without \"key\"");
    }
    o->id = dup_str(obj, "id");
    o->description = dup_str(obj, "description");
    o->location_id = dup_str(obj, "locationId");
    const cJSON *labels = cJSON_GetObjectItemCaseSensitive(obj, "labels");
    o->label_singular = dup_str(labels, "singular");
    o->label_plural = dup_str(labels, "plural");
    o->standard = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(obj, "standard"));
    o->raw = cJSON_Duplicate(obj, 1);
    if (!o->raw) {
        schema_object_free(o);
        return gs_err_set(err, GS_ENOMEM, "out of memory");
    }
    const cJSON *fields = cJSON_GetObjectItemCaseSensitive(response, "fields");
    if (cJSON_IsArray(fields) && cJSON_GetArraySize(fields) > 0) {
        o->fields = calloc((size_t)cJSON_GetArraySize(fields), sizeof *o->fields);
        if (!o->fields) {
            schema_object_free(o);
            return gs_err_set(err, GS_ENOMEM, "out of memory");
        }
        const cJSON *fj;
        cJSON_ArrayForEach(fj, fields)
        {
            schema_field f;
            int rc = parse_field(fj, &f, err);
            if (rc) {
                gs_err_wrap(err, "object %s", o->key);
                schema_object_free(o);
                return rc;
            }
            if (schema_find_field(o, f.field_key)) {
                field_clear(&f);
                continue;
            }
            o->fields[o->n_fields++] = f;
        }
    }
    *out = o;
    return 0;
}

int schema_list_keys(const cJSON *response, char ***keys, size_t *n, gs_err *err)
{
    *keys = NULL;
    *n = 0;
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(response, "objects");
    if (!cJSON_IsArray(arr))
        return gs_err_set(err, GS_EPARSE, "objects response has no \"objects\" array");
    size_t cap = (size_t)cJSON_GetArraySize(arr);
    char **k = calloc(cap ? cap : 1, sizeof *k);
    if (!k)
        return gs_err_set(err, GS_ENOMEM, "out of memory");
    const cJSON *o;
    size_t i = 0;
    cJSON_ArrayForEach(o, arr)
    {
        char *s = dup_str(o, "key");
        if (s)
            k[i++] = s;
    }
    *keys = k;
    *n = i;
    return 0;
}
