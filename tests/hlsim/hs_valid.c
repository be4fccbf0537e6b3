/*
 * hs_valid.c - validation of record writes against an object's fields (every dataType), with
 * the merge rules of PUT: keys sent replace, keys not sent stay, null clears. Errors are
 * "<field>: <reason>" strings collected into the caller's array (the 422 message list).
 */
#include "hlsim.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void err(cJSON *errs, const char *field, const char *fmt, const char *arg)
{
    char msg[1024], reason[400];
    snprintf(reason, sizeof reason, fmt, arg ? arg : "");
    snprintf(msg, sizeof msg, "%.500s: %s", field, reason);
    cJSON_AddItemToArray(errs, cJSON_CreateString(msg));
}

static cJSON *field_by_short(const hs_object *o, const char *k)
{
    cJSON *f;
    cJSON_ArrayForEach(f, o->fields)
    {
        if (strcmp(hs_field_short(f), k) == 0)
            return f;
    }
    return NULL;
}

static bool valid_phone(const char *s)
{
    int digits = 0;
    for (const char *p = s; *p; p++) {
        if (isdigit((unsigned char)*p))
            digits++;
        else if (!(*p == '+' && p == s) && !strchr(" -().", *p))
            return false;
    }
    return digits >= 5 && digits <= 15;
}

static void option_list(const cJSON *f, char *out, size_t len)
{
    out[0] = 0;
    size_t n = 0;
    cJSON *op;
    cJSON_ArrayForEach(op, cJSON_GetObjectItemCaseSensitive(f, "options"))
    {
        const char *k = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(op, "key"));
        if (k && n + strlen(k) + 3 < len)
            n += (size_t)snprintf(out + n, len - n, "%s%s", n ? ", " : "", k);
    }
}

/* Validates one non-null value of a non-TEXTBOX_LIST field. */
static bool check_value(const cJSON *f, const char *k, const cJSON *v, cJSON *errs)
{
    char opts[300];
    int dt = hs_field_dtype(f);
    switch (dt) {
    case DT_TEXT:
    case DT_LARGE_TEXT:
        if (!cJSON_IsString(v)) {
            err(errs, k, "must be a string", NULL);
            return false;
        }
        return true;
    case DT_PHONE:
        if (!cJSON_IsString(v) || !valid_phone(v->valuestring)) {
            err(errs, k, "must be a phone number string (digits, optional leading +)", NULL);
            return false;
        }
        return true;
    case DT_NUMERICAL:
        if (!cJSON_IsNumber(v)) {
            err(errs, k, "must be a number", NULL);
            return false;
        }
        return true;
    case DT_MONETORY: {
        if (!cJSON_IsObject(v)) {
            err(errs, k, "must be an object {\"currency\": string, \"value\": number}", NULL);
            return false;
        }
        bool ok = true;
        const cJSON *it;
        cJSON_ArrayForEach(it, v)
        {
            if (strcmp(it->string, "currency") && strcmp(it->string, "value")) {
                err(errs, k, "unknown key \"%s\" (allowed: currency, value)", it->string);
                ok = false;
            }
        }
        const cJSON *val = cJSON_GetObjectItemCaseSensitive(v, "value");
        const cJSON *cur = cJSON_GetObjectItemCaseSensitive(v, "currency");
        if (!cJSON_IsNumber(val)) {
            err(errs, k, "value must be a number", NULL);
            ok = false;
        }
        if (cur && !cJSON_IsString(cur)) {
            err(errs, k, "currency must be a string", NULL);
            ok = false;
        }
        return ok;
    }
    case DT_SINGLE_OPTIONS:
    case DT_RADIO:
        if (!cJSON_IsString(v)) {
            err(errs, k, "must be a string (an option key)", NULL);
            return false;
        }
        if (dt == DT_RADIO &&
            cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(f, "allowCustomOption")))
            return true;
        if (!hs_field_has_option(f, v->valuestring)) {
            option_list(f, opts, sizeof opts);
            char m[400];
            snprintf(m, sizeof m, "\"%.80s\" is not an option key (allowed: %.250s)",
                     v->valuestring, opts);
            err(errs, k, "%s", m);
            return false;
        }
        return true;
    case DT_MULTIPLE_OPTIONS:
    case DT_CHECKBOX: {
        if (!cJSON_IsArray(v)) {
            err(errs, k, "must be an array of option keys", NULL);
            return false;
        }
        bool ok = true;
        const cJSON *it;
        cJSON_ArrayForEach(it, v)
        {
            if (!cJSON_IsString(it)) {
                err(errs, k, "must be an array of option keys (strings)", NULL);
                ok = false;
            } else if (!hs_field_has_option(f, it->valuestring)) {
                option_list(f, opts, sizeof opts);
                char m[400];
                snprintf(m, sizeof m, "\"%.80s\" is not an option key (allowed: %.250s)",
                         it->valuestring, opts);
                err(errs, k, "%s", m);
                ok = false;
            }
        }
        return ok;
    }
    case DT_DATE:
        if (!cJSON_IsString(v) || !hs_valid_date(v->valuestring)) {
            err(errs, k, "must be a date string YYYY-MM-DD", NULL);
            return false;
        }
        return true;
    case DT_FILE_UPLOAD: {
        if (!cJSON_IsArray(v)) {
            err(errs, k, "must be an array of files [{\"url\": string, ...}]", NULL);
            return false;
        }
        const cJSON *lim = cJSON_GetObjectItemCaseSensitive(f, "maxFileLimit");
        if (cJSON_IsNumber(lim) && lim->valuedouble > 0 &&
            cJSON_GetArraySize(v) > (int)lim->valuedouble) {
            char m[64];
            snprintf(m, sizeof m, "at most %d files allowed", (int)lim->valuedouble);
            err(errs, k, "%s", m);
            return false;
        }
        bool ok = true;
        const cJSON *it;
        cJSON_ArrayForEach(it, v)
        {
            if (!cJSON_IsObject(it) ||
                !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(it, "url"))) {
                err(errs, k, "each file must be an object with a string \"url\"", NULL);
                ok = false;
                continue;
            }
            const cJSON *x;
            cJSON_ArrayForEach(x, it)
            {
                bool good = (!strcmp(x->string, "url") || !strcmp(x->string, "name") ||
                             !strcmp(x->string, "type"))
                                ? cJSON_IsString(x)
                            : !strcmp(x->string, "size") ? cJSON_IsNumber(x)
                                                         : false;
                if (!good) {
                    err(errs, k, "file key \"%s\" is unknown or has the wrong type", x->string);
                    ok = false;
                }
            }
        }
        return ok;
    }
    default:
        err(errs, k, "field has an unsupported dataType", NULL);
        return false;
    }
}

static void delete_prefixed(cJSON *out, const char *k)
{
    size_t kl = strlen(k);
    cJSON *it = out->child;
    while (it) {
        cJSON *next = it->next;
        if (strcmp(it->string, k) == 0 ||
            (strncmp(it->string, k, kl) == 0 && it->string[kl] == '.'))
            cJSON_Delete(cJSON_DetachItemViaPointer(out, it));
        it = next;
    }
}

static void set_key(cJSON *out, const char *k, const cJSON *v)
{
    cJSON_DeleteItemFromObjectCaseSensitive(out, k);
    if (!cJSON_IsNull(v))
        cJSON_AddItemToObject(out, k, cJSON_Duplicate(v, 1));
}

static void textbox_one(const cJSON *f, const char *fk, const char *opt, const cJSON *v, cJSON *out,
                        cJSON *errs)
{
    char full[400];
    snprintf(full, sizeof full, "%s.%s", fk, opt);
    if (!hs_field_has_option(f, opt)) {
        char opts[300];
        option_list(f, opts, sizeof opts);
        char m[400];
        snprintf(m, sizeof m,
                 "\"%.60s\" is not an option key of this TEXTBOX_LIST (allowed: %.250s)", opt,
                 opts);
        err(errs, fk, "%s", m);
        return;
    }
    if (!cJSON_IsString(v) && !cJSON_IsNull(v)) {
        err(errs, full, "must be a string", NULL);
        return;
    }
    set_key(out, full, v);
}

cJSON *hs_props_apply(const hs_object *o, const cJSON *base, const cJSON *in, cJSON *errs)
{
    int before = cJSON_GetArraySize(errs);
    cJSON *out = base ? cJSON_Duplicate(base, 1) : cJSON_CreateObject();
    const cJSON *it;
    cJSON_ArrayForEach(it, in)
    {
        const char *k = it->string;
        const char *dot = strchr(k, '.');
        if (dot) {
            char fk[256];
            snprintf(fk, sizeof fk, "%.*s", (int)(dot - k), k);
            const cJSON *f = field_by_short(o, fk);
            if (!f || hs_field_dtype(f) != DT_TEXTBOX_LIST) {
                err(errs, k, "unknown property (not a TEXTBOX_LIST option of %s)", o->key);
                continue;
            }
            textbox_one(f, fk, dot + 1, it, out, errs);
            continue;
        }
        const cJSON *f = field_by_short(o, k);
        if (!f) {
            err(errs, k, "unknown property (no such field on %s)", o->key);
            continue;
        }
        if (cJSON_IsNull(it)) {
            delete_prefixed(out, k);
            continue;
        }
        if (hs_field_dtype(f) == DT_TEXTBOX_LIST) {
            /* nested form {"opt": "value"} is accepted and stored flat */
            if (!cJSON_IsObject(it)) {
                err(errs, k, "must be an object of option keys to strings", NULL);
                continue;
            }
            const cJSON *sub;
            cJSON_ArrayForEach(sub, it) textbox_one(f, k, sub->string, sub, out, errs);
            continue;
        }
        if (check_value(f, k, it, errs))
            set_key(out, k, it);
    }
    if (cJSON_GetArraySize(errs) > before) {
        cJSON_Delete(out);
        return NULL;
    }
    return out;
}

char *hs_people_apply(const hs_object *o, const char *name, const cJSON *v, int max, cJSON *errs)
{
    cJSON *arr = cJSON_CreateArray();
    if (cJSON_IsString(v) && strcmp(name, "owner") == 0) {
        cJSON_AddItemToArray(arr, cJSON_CreateString(v->valuestring));
    } else if (cJSON_IsArray(v)) {
        const cJSON *it;
        cJSON_ArrayForEach(it, v)
        {
            if (!cJSON_IsString(it) || !it->valuestring[0]) {
                err(errs, name, "must be an array of user id strings", NULL);
                cJSON_Delete(arr);
                return NULL;
            }
            cJSON_AddItemToArray(arr, cJSON_CreateString(it->valuestring));
        }
    } else if (v && !cJSON_IsNull(v)) {
        err(errs, name, "must be an array of user id strings", NULL);
        cJSON_Delete(arr);
        return NULL;
    }
    if (cJSON_GetArraySize(arr) > max) {
        char m[64];
        snprintf(m, sizeof m, "at most %d allowed", max);
        err(errs, name, "%s", m);
        cJSON_Delete(arr);
        return NULL;
    }
    if (o->standard && cJSON_GetArraySize(arr) > 0) {
        err(errs, name, "only supported for custom objects", NULL);
        cJSON_Delete(arr);
        return NULL;
    }
    char *s = cJSON_PrintUnformatted(arr);
    cJSON_Delete(arr);
    return s;
}
