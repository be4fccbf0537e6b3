/*
 * schema.h - HighLevel object and field definitions as ghlsync's model.
 *
 * Input is the parsed JSON of the API's schema responses (so the engine's async client and the
 * tests' blocking HTTP can both feed it):
 *   GET /objects/?locationId=                       -> {"objects": [ {object}, ... ]}
 *   GET /objects/{key}?locationId=&fetchProperties=true -> {"object": {...}, "fields": [...]}
 * Parsing is tolerant (missing optional keys are fine, unknown keys ignored); only what the model
 * cannot do without (object key, field key, dataType) is an error. Field keys may carry the
 * "custom_objects." or "custom_object." prefix; the property key is the last dotted segment.
 *
 * The resolution fields (type, column, currency_column, table) are filled by ddl_plan (see ddl.h),
 * which decides names against what the database already recorded; mapping.h uses them.
 *
 * Memory: a schema_object owns everything below it (strings, options, raw JSON copies);
 * free with schema_object_free.
 */
#ifndef GHLSYNC_SCHEMA_H
#define GHLSYNC_SCHEMA_H

#include "err.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

struct map_type;
struct fam_family;

typedef struct schema_option {
    char *key;
    char *label; /* may be NULL */
} schema_option;

typedef struct schema_field {
    char *id;        /* may be NULL */
    char *field_key; /* as the API sent it: custom_objects.pet.name */
    char *prop_key;  /* key inside record properties: name */
    char *label;     /* "name" in the API; may be NULL */
    char *data_type; /* as sent: TEXT, MONETORY, ... */
    char *description;
    schema_option *options;
    size_t n_options;
    cJSON *raw; /* copy of the field's JSON */

    /* Resolution (ddl_plan): */
    const struct map_type *type; /* effective type (after any override) */
    char *type_name;             /* key of that type in the map (e.g. "TEXT", or the
                                  * dataType itself for the fallback) */
    bool type_unknown;           /* dataType not in the map: fallback used */
    struct map_type *type_own;   /* `type` when an override names a plain PostgreSQL type:
                                  * the field's own codec with that column type (owned) */
    char *column;                /* column holding the value */
    char *currency_column;       /* money codec only */
} schema_field;

typedef struct schema_object {
    char *id;
    char *key; /* custom_objects.pet, business */
    char *label_singular, *label_plural, *description;
    char *location_id;
    bool standard;
    schema_field *fields;
    size_t n_fields;
    cJSON *raw; /* copy of the object's JSON (without fields) */
    /* The endpoint family serving it (family.h); NULL = the Objects family. Static, not owned. */
    const struct fam_family *family;

    /* Resolution (ddl_plan): */
    char *table_schema;
    char *table;
} schema_object;

/* Build a model from a GET /objects/{key}?fetchProperties=true response. Fields with the same
 * field key twice keep the first. */
int schema_object_from_json(const cJSON *response, schema_object **out, gs_err *err);

/* Free the raw JSON copies (object and fields; they become NULL). They are for the ddl
 * bookkeeping (ddl_plan_object records them in ghlsync.objects / ghlsync.fields); a model that
 * is only written with (pullstore.h ps_model_new) does not need them, and they are most of its
 * memory. */
void schema_object_drop_raw(schema_object *o);

/* Object keys listed in a GET /objects/ response; caller frees each and the array. */
int schema_list_keys(const cJSON *response, char ***keys, size_t *n, gs_err *err);

/* The last dotted segment of a field key ("custom_objects.pet.name" -> "name"). Never NULL. */
const char *schema_prop_key(const char *field_key);

const schema_field *schema_find_field(const schema_object *o, const char *field_key);

void schema_object_free(schema_object *o);

#endif
