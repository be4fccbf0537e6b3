/*
 * family/cfields.c - what the contacts and opportunities families share (family.h "Custom
 * fields as a list"): both carry custom fields as a list of {id, value} items rather than as
 * properties, answer writes with a wrapper object and a "succeded" flag, and address a record
 * as /{collection}/{id}. One copy here, so a variant the API is seen to send (another value key,
 * an item keyed by its field key) is tolerated by both families at once.
 */
#include "family.h"
#include "jprint.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

const cJSON *fam_cf_value(const cJSON *item)
{
    static const char *const keys[] = {"value", "fieldValue", "fieldValueString", "field_value"};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        const cJSON *v = fam_get(item, keys[i]);
        if (v)
            return v;
    }
    return NULL;
}

const char *fam_cf_id(const cJSON *item)
{
    const char *id = cJSON_GetStringValue(fam_get(item, "id"));
    return id ? id : cJSON_GetStringValue(fam_get(item, "key"));
}

/* The list comes in definition order, so the search starts where the last one matched: one
 * pass over the fields per record, not one per value. */
const schema_field *fam_cf_field(const schema_object *o, const char *id, size_t *hint)
{
    for (size_t n = 0; id && n < o->n_fields; n++) {
        size_t i = (*hint + n) % o->n_fields;
        const char *a = o->fields[i].id, *b = o->fields[i].field_key;
        if ((a && a[0] == id[0] && !strcmp(a, id)) || (b && b[0] == id[0] && !strcmp(b, id))) {
            *hint = i + 1;
            return &o->fields[i];
        }
    }
    return NULL;
}

int fam_cf_slots(const schema_object *o, const cJSON *cf, const cJSON **slots, sbuf *warnings)
{
    if (!cf)
        return 0;
    if (!cJSON_IsArray(cf)) {
        if (warnings)
            sbuf_puts(warnings, "customFields: not an array; kept in extra\n");
        return 0;
    }
    size_t hint = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, cf)
    {
        const schema_field *f = fam_cf_field(o, fam_cf_id(it), &hint);
        const cJSON *v = fam_cf_value(it);
        /* the first value of a field wins; unknown ids go to extra */
        if (f && v && !slots[f - o->fields])
            slots[f - o->fields] = v;
    }
    return 0;
}

int fam_cf_extra(const schema_object *o, const cJSON *record, const cJSON *cf,
                 bool (*held)(const char *key, size_t *hint), const map_out *mo, char **out)
{
    *out = NULL;
    /* printed as it is read, in the record's order, as one object */
    sbuf local, *b = map_out_begin(mo, &local);
    bool any = false;
    sbuf_putc(b, '{');
    const cJSON *it;
    size_t at = 0;
    cJSON_ArrayForEach(it, record)
    {
        if (!it->string || held(it->string, &at))
            continue;
        if (any)
            sbuf_putc(b, ',');
        any = true;
        jp_print_string(b, it->string);
        sbuf_putc(b, ':');
        if (!jp_print_to(b, it))
            goto fail;
    }
    if (cf && !cJSON_IsArray(cf)) {
        sbuf_puts(b, any ? ",\"customFields\":" : "\"customFields\":");
        any = true;
        if (!jp_print_to(b, cf))
            goto fail;
    } else if (cf) {
        bool open = false;
        size_t hint = 0;
        cJSON_ArrayForEach(it, cf)
        {
            if (fam_cf_field(o, fam_cf_id(it), &hint))
                continue;
            if (!open)
                sbuf_puts(b, any ? ",\"customFields\":[" : "\"customFields\":[");
            else
                sbuf_putc(b, ',');
            any = open = true;
            if (!jp_print_to(b, it))
                goto fail;
        }
        if (open)
            sbuf_putc(b, ']');
    }
    sbuf_putc(b, '}');
    if (!any) {
        map_out_end(mo, b, false); /* nothing no column holds */
        return 0;
    }
    return (*out = map_out_end(mo, b, true)) ? 0 : GS_ENOMEM;
fail:
    map_out_end(mo, b, false);
    return GS_ENOMEM;
}

/* A field's column value(s) as the field_value the write shape takes: a monetary value is a
 * bare number there, not the {value, currency} pair of custom objects. */
static int cf_write_value(const schema_field *f, const char *v1, const char *v2, cJSON **out,
                          gs_err *e)
{
    int rc = map_decode_field(f, v1, v2, out, e);
    if (rc)
        return rc;
    if (f->type && f->type->codec == MAP_MONEY) {
        cJSON *v = cJSON_DetachItemFromObjectCaseSensitive(*out, "value");
        cJSON_Delete(*out);
        *out = v ? v : cJSON_CreateNull();
        if (!*out)
            return gs_err_set(e, GS_ENOMEM, "out of memory");
    }
    return 0;
}

static int cf_add(cJSON *list, const char *id, cJSON *v, gs_err *e)
{
    cJSON *it = cJSON_CreateObject();
    if (!it || !cJSON_AddStringToObject(it, "id", id)) {
        cJSON_Delete(it);
        cJSON_Delete(v);
        return gs_err_set(e, GS_ENOMEM, "out of memory");
    }
    cJSON_AddItemToObject(it, "field_value", v);
    cJSON_AddItemToArray(list, it);
    return 0;
}

int fam_cf_body(const fam_family *fam, const schema_object *o, const char *const *values,
                const bool *changed, const schema_field *ext, const char *local_key, cJSON *list,
                gs_err *e)
{
    bool create = changed == NULL;
    size_t k = fam_row_prefix(fam);
    int rc = 0;
    for (size_t i = 0; !rc && i < o->n_fields; i++) {
        const schema_field *f = &o->fields[i];
        bool money = f->currency_column != NULL;
        size_t c = k;
        k += money ? 2 : 1;
        if (!f->id || (ext && f == ext && create))
            continue;
        if (create ? !values[c] && !(money && values[c + 1])
                   : !changed[c] && !(money && changed[c + 1]))
            continue;
        cJSON *v;
        if (!(rc = cf_write_value(f, values[c], money ? values[c + 1] : NULL, &v, e)))
            rc = cf_add(list, f->id, v, e);
    }
    if (!rc && create && ext && ext->id)
        rc = cf_add(list, ext->id, cJSON_CreateString(local_key), e);
    return rc;
}

/* {"succeded": true} as the spec spells it, {"succeeded": ...} as English does: either. */
bool fam_answer_failed(const cJSON *answer)
{
    const cJSON *ok = cJSON_GetObjectItemCaseSensitive(answer, "succeded");
    if (!ok)
        ok = cJSON_GetObjectItemCaseSensitive(answer, "succeeded");
    return cJSON_IsFalse(ok);
}

const cJSON *fam_answer_inner(const cJSON *answer, const char *wrapper)
{
    /* "id" first: a search record has it (usually as its first key), and is not wrapped */
    if (cJSON_GetObjectItemCaseSensitive(answer, "id"))
        return answer;
    const cJSON *inner = cJSON_GetObjectItemCaseSensitive(answer, wrapper);
    return cJSON_IsObject(inner) ? inner : answer;
}

int fam_send_id(hl_location *l, const char *collection, const char *queue, const char *method,
                const char *endpoint, const char *id, const char *suffix, const cJSON *body,
                int prio, hl_cb cb, void *ud, gs_err *e)
{
    sbuf p = SBUF_INIT;
    sbuf_puts(&p, collection);
    fam_path_segment(&p, id);
    if (suffix)
        sbuf_puts(&p, suffix);
    hl_call c = {.method = method, .endpoint = endpoint, .path = sbuf_str(&p), .body = body};
    int rc = sbuf_failed(&p) ? gs_err_set(e, GS_ENOMEM, "out of memory")
                             : hl_send(l, &c, prio, queue, cb, ud, e);
    sbuf_free(&p);
    return rc;
}
