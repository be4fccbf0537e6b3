/*
 * hs_cwrite.c - validation of contact writes (CreateContactDto, UpdateContactDto,
 * UpsertContactDto of the official contacts OpenAPI, plus the admin's wider set) and of custom
 * field values by dataType. Unknown keys are refused as the live API refuses them
 * ("property additionalEmails should not exist"); messages follow its class-validator style.
 */
#include "hlsim.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    K_STR,
    K_NAME,
    K_EMAIL,
    K_PHONE,
    K_BOOL,
    K_DND,
    K_INDND,
    K_STRARR,
    K_EMAILS,
    K_DOB,
    K_CF,
    K_TYPE,
    K_SKIP
};
enum { M_CREATE = 1, M_UPDATE = 2, M_UPSERT = 4, M_ADMIN = 8, M_ALL = 15 };

static const struct {
    const char *key;
    int kind;
    int modes;
} keys[] = {
    {"firstName", K_STR, M_ALL},
    {"lastName", K_STR, M_ALL},
    {"name", K_NAME, M_ALL},
    {"email", K_EMAIL, M_ALL},
    {"locationId", K_SKIP, M_CREATE | M_UPSERT | M_ADMIN},
    {"gender", K_STR, M_CREATE | M_UPSERT | M_ADMIN},
    {"phone", K_PHONE, M_ALL},
    {"address1", K_STR, M_ALL},
    {"city", K_STR, M_ALL},
    {"state", K_STR, M_ALL},
    {"postalCode", K_STR, M_ALL},
    {"website", K_STR, M_ALL},
    {"timezone", K_STR, M_ALL},
    {"dnd", K_BOOL, M_ALL},
    {"dndSettings", K_DND, M_ALL},
    {"inboundDndSettings", K_INDND, M_ALL},
    {"tags", K_STRARR, M_ALL},
    {"customFields", K_CF, M_ALL},
    {"source", K_STR, M_ALL},
    {"dateOfBirth", K_DOB, M_ALL},
    {"country", K_STR, M_ALL},
    /* not in UpdateContactDto, but the web app and public integrations update it */
    {"companyName", K_STR, M_ALL},
    {"assignedTo", K_STR, M_ALL},
    {"createNewIfDuplicateAllowed", K_SKIP, M_UPSERT},
    /* read-only through the API; the admin (a web user, a state file) may set them */
    {"type", K_TYPE, M_ADMIN},
    {"businessId", K_STR, M_ADMIN},
    {"followers", K_STRARR, M_ADMIN},
    {"additionalEmails", K_EMAILS, M_ADMIN},
    /* keys of the read shapes, ignored when a dump is loaded back */
    {"id", K_SKIP, M_ADMIN},
    {"dateAdded", K_SKIP, M_ADMIN},
    {"dateUpdated", K_SKIP, M_ADMIN},
    {"firstNameLowerCase", K_SKIP, M_ADMIN},
    {"lastNameLowerCase", K_SKIP, M_ADMIN},
    {"fullNameLowerCase", K_SKIP, M_ADMIN},
    {"emailLowerCase", K_SKIP, M_ADMIN},
    {"additionalPhones", K_SKIP, M_ADMIN},
    {"deleted", K_SKIP, M_ADMIN},
    {"searchAfter", K_SKIP, M_ADMIN},
};

static void e(cJSON *errs, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void e(cJSON *errs, const char *fmt, ...)
{
    char m[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m, sizeof m, fmt, ap);
    va_end(ap);
    cJSON_AddItemToArray(errs, cJSON_CreateString(m));
}

static const char *jstr(const cJSON *o, const char *k)
{
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k));
}

static void set(cJSON *out, const char *k, cJSON *v)
{
    cJSON_DeleteItemFromObjectCaseSensitive(out, k);
    if (v)
        cJSON_AddItemToObject(out, k, v);
}

static bool valid_email(const char *s)
{
    const char *at = strchr(s, '@');
    if (!at || at == s || strchr(at + 1, '@') || strlen(s) > 254)
        return false;
    const char *dot = strrchr(at, '.');
    if (!dot || dot == at + 1 || !dot[1])
        return false;
    for (const char *p = s; *p; p++)
        if (isspace((unsigned char)*p) || *p == ',' || *p == ';')
            return false;
    return true;
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

/* YYYY-MM-DD, YYYY/MM/DD, MM/DD/YYYY, MM-DD-YYYY or an ISO timestamp -> "YYYY-MM-DD" */
static bool parse_day(const char *s, char out[11])
{
    int y, m, d;
    char sep1, sep2;
    char tail;
    if (sscanf(s, "%4d%c%2d%c%2d%c", &y, &sep1, &m, &sep2, &d, &tail) >= 5 && strlen(s) >= 10 &&
        isdigit((unsigned char)s[0]) && isdigit((unsigned char)s[3]) &&
        (s[4] == '-' || s[4] == '/') && sep1 == sep2 && (strlen(s) == 10 || s[10] == 'T')) {
        /* year first */
    } else if (sscanf(s, "%2d%c%2d%c%4d", &m, &sep1, &d, &sep2, &y) == 5 && strlen(s) == 10 &&
               (sep1 == '/' || sep1 == '-') && sep1 == sep2) {
        /* month first */
    } else {
        return false;
    }
    if (y < 0 || m < 0 || d < 0)
        return false;
    char tmp[32];
    snprintf(tmp, sizeof tmp, "%04d-%02d-%02d", y % 10000, m % 100, d % 100);
    if (strlen(tmp) != 10)
        return false;
    memcpy(out, tmp, 11);
    return hs_valid_date(out);
}

static bool str_in(const cJSON *arr, const char *s)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, arr)
    {
        if (cJSON_IsString(it) && !strcmp(it->valuestring, s))
            return true;
    }
    return false;
}

static bool dnd_one(const cJSON *v, const char *name, cJSON *errs)
{
    if (!cJSON_IsObject(v)) {
        e(errs, "%s must be an object {status, message?, code?}", name);
        return false;
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, v)
    {
        if (strcmp(it->string, "status") && strcmp(it->string, "message") &&
            strcmp(it->string, "code")) {
            e(errs, "%s.property %s should not exist", name, it->string);
            return false;
        }
        if (!cJSON_IsString(it)) {
            e(errs, "%s.%s must be a string", name, it->string);
            return false;
        }
    }
    const char *st = jstr(v, "status");
    if (!st || (strcmp(st, "active") && strcmp(st, "inactive") && strcmp(st, "permanent"))) {
        e(errs, "%s.status must be one of the following values: active, inactive, permanent", name);
        return false;
    }
    return true;
}

/* A custom field value by the field's dataType; returns the value to store (new) or NULL with
 * an error. *clear is set for null / "" / [] (the value is removed). */
static cJSON *cf_value(const cJSON *f, const cJSON *v, bool *clear, cJSON *errs)
{
    char nm[200];
    const char *id = jstr(f, "id");
    snprintf(nm, sizeof nm, "customFields.%s", id ? id : "?");
    int dt = hs_dtype_parse(jstr(f, "dataType"));
    const cJSON *opts = cJSON_GetObjectItemCaseSensitive(f, "picklistOptions");
    *clear = !v || cJSON_IsNull(v) || (cJSON_IsString(v) && !v->valuestring[0]) ||
             (cJSON_IsArray(v) && cJSON_GetArraySize(v) == 0);
    if (*clear)
        return NULL;
    switch (dt) {
    case DT_TEXT:
    case DT_LARGE_TEXT:
        if (!cJSON_IsString(v))
            break;
        return cJSON_Duplicate(v, 1);
    case DT_PHONE:
        if (!cJSON_IsString(v) || !valid_phone(v->valuestring)) {
            e(errs, "%s: must be a phone number string", nm);
            return NULL;
        }
        return cJSON_Duplicate(v, 1);
    case DT_NUMERICAL:
    case DT_MONETORY: {
        if (cJSON_IsNumber(v))
            return cJSON_CreateNumber(v->valuedouble);
        char *end;
        double d = cJSON_IsString(v) ? strtod(v->valuestring, &end) : 0;
        if (cJSON_IsString(v) && end != v->valuestring && !*end && isfinite(d))
            return cJSON_CreateNumber(d);
        e(errs, "%s: must be a number", nm);
        return NULL;
    }
    case DT_SINGLE_OPTIONS:
    case DT_RADIO:
        if (!cJSON_IsString(v))
            break;
        if (!str_in(opts, v->valuestring) &&
            !(dt == DT_RADIO &&
              cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(f, "isAllowedCustomOption")))) {
            e(errs, "%s: \"%.100s\" is not one of the field's picklistOptions", nm, v->valuestring);
            return NULL;
        }
        return cJSON_Duplicate(v, 1);
    case DT_MULTIPLE_OPTIONS:
    case DT_CHECKBOX: {
        if (!cJSON_IsArray(v))
            break;
        const cJSON *it;
        cJSON_ArrayForEach(it, v)
        {
            if (!cJSON_IsString(it) || !str_in(opts, it->valuestring)) {
                e(errs, "%s: every value must be one of the field's picklistOptions (\"%.100s\")",
                  nm, cJSON_IsString(it) ? it->valuestring : "non-string");
                return NULL;
            }
        }
        return cJSON_Duplicate(v, 1);
    }
    case DT_DATE: {
        char day[11];
        if (cJSON_IsNumber(v) && v->valuedouble > -1e15 && v->valuedouble < 1e15) {
            char iso[32];
            hs_iso_ms((int64_t)v->valuedouble, iso);
            snprintf(day, sizeof day, "%.10s", iso);
            return cJSON_CreateString(day);
        }
        if (cJSON_IsString(v) && parse_day(v->valuestring, day))
            return cJSON_CreateString(day);
        e(errs, "%s: must be a date (YYYY-MM-DD, an ISO-8601 timestamp or epoch ms)", nm);
        return NULL;
    }
    case DT_TEXTBOX_LIST: {
        if (!cJSON_IsObject(v))
            break;
        const cJSON *it;
        cJSON_ArrayForEach(it, v)
        {
            if (!str_in(opts, it->string) || !cJSON_IsString(it)) {
                e(errs, "%s: keys must be the field's picklistOptions, values strings (\"%.100s\")",
                  nm, it->string);
                return NULL;
            }
        }
        return cJSON_Duplicate(v, 1);
    }
    case DT_FILE_UPLOAD: {
        if (!cJSON_IsObject(v))
            break;
        const cJSON *lim = cJSON_GetObjectItemCaseSensitive(f, "maxFileLimit");
        if (cJSON_IsNumber(lim) && lim->valuedouble > 0 &&
            cJSON_GetArraySize(v) > (int)lim->valuedouble) {
            e(errs, "%s: more files than maxFileLimit", nm);
            return NULL;
        }
        const cJSON *it;
        cJSON_ArrayForEach(it, v)
        {
            bool ok = cJSON_IsObject(it) && jstr(it, "url");
            const cJSON *x;
            cJSON_ArrayForEach(x, it)
            {
                ok = ok && (!strcmp(x->string, "url")          ? cJSON_IsString(x)
                            : !strcmp(x->string, "documentId") ? cJSON_IsString(x)
                            : !strcmp(x->string, "meta")       ? cJSON_IsObject(x)
                                                               : false);
            }
            if (!ok) {
                e(errs, "%s: each file must be {\"<uuid>\": {\"url\", \"meta\"?, \"documentId\"?}}",
                  nm);
                return NULL;
            }
        }
        return cJSON_Duplicate(v, 1);
    }
    default:
        e(errs, "%s: field has an unsupported dataType", nm);
        return NULL;
    }
    e(errs, "%s: wrong type for a %s field", nm, hs_dtype_name(dt));
    return NULL;
}

static void apply_cfs(const hs_object *o, const cJSON *v, int mode, cJSON *out, cJSON *errs)
{
    if (!cJSON_IsArray(v)) {
        e(errs, "customFields must be an array");
        return;
    }
    cJSON *cf = cJSON_GetObjectItemCaseSensitive(out, "customFields");
    if (!cJSON_IsObject(cf)) {
        cJSON_DeleteItemFromObjectCaseSensitive(out, "customFields");
        cf = cJSON_AddObjectToObject(out, "customFields");
    }
    const cJSON *item;
    cJSON_ArrayForEach(item, v)
    {
        if (!cJSON_IsObject(item)) {
            e(errs, "customFields: each item must be an object {id or key, field_value}");
            continue;
        }
        bool bad = false;
        const cJSON *it;
        cJSON_ArrayForEach(it, item)
        {
            bool ok = !strcmp(it->string, "id") || !strcmp(it->string, "key") ||
                      !strcmp(it->string, "field_value") ||
                      (mode == M_ADMIN &&
                       (!strcmp(it->string, "value") || !strcmp(it->string, "fieldValue")));
            if (!ok) {
                e(errs, "customFields.property %s should not exist", it->string);
                bad = true;
            }
        }
        if (bad)
            continue;
        const char *id = jstr(item, "id"), *key = jstr(item, "key");
        if (!id && !key) {
            e(errs, "customFields: each item needs a string id or key");
            continue;
        }
        const cJSON *f = hs_cfield_find(o, id ? id : key);
        if (!f || (id && strcmp(jstr(f, "id"), id))) {
            e(errs, "customFields: unknown custom field %s", id ? id : key);
            continue;
        }
        const cJSON *val = cJSON_GetObjectItemCaseSensitive(item, "field_value");
        if (!val)
            val = cJSON_GetObjectItemCaseSensitive(item, "value");
        if (!val)
            val = cJSON_GetObjectItemCaseSensitive(item, "fieldValue");
        if (!val) {
            e(errs, "customFields.%s: field_value is required", jstr(f, "id"));
            continue;
        }
        bool clear;
        int before = cJSON_GetArraySize(errs);
        cJSON *nv = cf_value(f, val, &clear, errs);
        if (clear)
            cJSON_DeleteItemFromObjectCaseSensitive(cf, jstr(f, "id"));
        else if (nv)
            set(cf, jstr(f, "id"), nv);
        else if (cJSON_GetArraySize(errs) == before)
            e(errs, "customFields.%s: invalid value", jstr(f, "id"));
    }
}

static int mode_bit(int mode)
{
    return mode == CW_CREATE   ? M_CREATE
           : mode == CW_UPDATE ? M_UPDATE
           : mode == CW_UPSERT ? M_UPSERT
                               : M_ADMIN;
}

cJSON *hs_contact_apply(const hs_object *o, const cJSON *base, const cJSON *body, int mode,
                        cJSON *errs)
{
    int before = cJSON_GetArraySize(errs), mb = mode_bit(mode);
    cJSON *out = base ? cJSON_Duplicate(base, 1) : cJSON_CreateObject();
    const cJSON *it;
    bool names_given = cJSON_GetObjectItemCaseSensitive(body, "firstName") ||
                       cJSON_GetObjectItemCaseSensitive(body, "lastName");
    cJSON_ArrayForEach(it, body)
    {
        int kind = -1;
        for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
            if (!strcmp(keys[i].key, it->string) && (keys[i].modes & mb))
                kind = keys[i].kind;
        /* a dump's `address` (search shape) loads as address1 */
        const char *k = it->string;
        if (kind < 0 && mb == M_ADMIN && !strcmp(k, "address")) {
            kind = K_STR;
            k = "address1";
        }
        if (kind < 0) {
            e(errs, "property %s should not exist", it->string);
            continue;
        }
        bool null = cJSON_IsNull(it);
        switch (kind) {
        case K_SKIP:
            break;
        case K_STR:
        case K_TYPE:
            if (null) {
                set(out, k, NULL);
            } else if (!cJSON_IsString(it)) {
                e(errs, "%s must be a string", k);
            } else if (kind == K_TYPE && strcmp(it->valuestring, "lead") &&
                       strcmp(it->valuestring, "customer")) {
                e(errs, "type must be one of the following values: lead, customer");
            } else {
                set(out, k, cJSON_CreateString(it->valuestring));
            }
            break;
        case K_NAME:
            if (!null && !cJSON_IsString(it)) {
                e(errs, "name must be a string");
            } else if (!null && !names_given) {
                /* "name" fills first and last name when they are not sent */
                const char *s = it->valuestring;
                while (*s == ' ')
                    s++;
                const char *sp = strchr(s, ' ');
                char fn[256];
                snprintf(fn, sizeof fn, "%.*s", sp ? (int)(sp - s) : (int)strlen(s), s);
                set(out, "firstName", fn[0] ? cJSON_CreateString(fn) : NULL);
                set(out, "lastName", sp && sp[1] ? cJSON_CreateString(sp + 1) : NULL);
            }
            break;
        case K_EMAIL:
            if (null)
                set(out, k, NULL);
            else if (!cJSON_IsString(it) || !valid_email(it->valuestring))
                e(errs, "email must be an email");
            else
                set(out, k, cJSON_CreateString(it->valuestring));
            break;
        case K_PHONE:
            if (null) {
                set(out, k, NULL);
            } else if (!cJSON_IsString(it) || !valid_phone(it->valuestring)) {
                e(errs, "phone must be a valid phone number");
            } else {
                char p[64];
                hs_contact_norm_phone(it->valuestring, p, sizeof p);
                set(out, k, cJSON_CreateString(p));
            }
            break;
        case K_BOOL:
            if (!cJSON_IsBool(it))
                e(errs, "%s must be a boolean value", k);
            else
                set(out, k, cJSON_CreateBool(cJSON_IsTrue(it)));
            break;
        case K_DND: {
            if (!cJSON_IsObject(it)) {
                e(errs, "dndSettings must be an object");
                break;
            }
            static const char *const ch[] = {"Call", "Email", "SMS", "WhatsApp", "GMB", "FB"};
            cJSON *cur = cJSON_GetObjectItemCaseSensitive(out, "dndSettings");
            cJSON *nd = cJSON_IsObject(cur) ? cJSON_Duplicate(cur, 1) : cJSON_CreateObject();
            bool ok = true;
            const cJSON *x;
            cJSON_ArrayForEach(x, it)
            {
                bool known = false;
                for (int i = 0; i < 6; i++)
                    known |= !strcmp(ch[i], x->string);
                char nm[64];
                snprintf(nm, sizeof nm, "dndSettings.%.40s", x->string);
                if (!known) {
                    e(errs, "dndSettings.property %s should not exist", x->string);
                    ok = false;
                } else if (dnd_one(x, nm, errs)) {
                    set(nd, x->string, cJSON_Duplicate(x, 1));
                } else {
                    ok = false;
                }
            }
            if (ok)
                set(out, "dndSettings", nd);
            else
                cJSON_Delete(nd);
            break;
        }
        case K_INDND: {
            const cJSON *all = cJSON_GetObjectItemCaseSensitive(it, "all");
            if (!cJSON_IsObject(it) || cJSON_GetArraySize(it) != (all ? 1 : 0)) {
                e(errs, "inboundDndSettings must be an object {all: {status, message?}}");
                break;
            }
            if (all && !dnd_one(all, "inboundDndSettings.all", errs))
                break;
            set(out, "inboundDndSettings", cJSON_Duplicate(it, 1));
            break;
        }
        case K_STRARR:
        case K_EMAILS: {
            if (null && kind == K_STRARR) {
                set(out, k, cJSON_CreateArray());
                break;
            }
            if (!cJSON_IsArray(it)) {
                e(errs, "%s must be an array", k);
                break;
            }
            cJSON *arr = cJSON_CreateArray();
            bool ok = true;
            const cJSON *x;
            cJSON_ArrayForEach(x, it)
            {
                if (!cJSON_IsString(x) || !x->valuestring[0] ||
                    (kind == K_EMAILS && !valid_email(x->valuestring))) {
                    e(errs,
                      kind == K_EMAILS ? "each value in %s must be an email"
                                       : "each value in %s must be a non-empty string",
                      k);
                    ok = false;
                    break;
                }
                if (!str_in(arr, x->valuestring)) /* sets: a repeated tag is kept once */
                    cJSON_AddItemToArray(arr, cJSON_CreateString(x->valuestring));
            }
            if (ok)
                set(out, k, arr);
            else
                cJSON_Delete(arr);
            break;
        }
        case K_DOB: {
            char day[11], iso[40];
            if (null) {
                set(out, k, NULL);
            } else if (cJSON_IsString(it) && parse_day(it->valuestring, day)) {
                snprintf(iso, sizeof iso, "%sT00:00:00.000Z", day);
                set(out, k, cJSON_CreateString(iso));
            } else {
                e(errs,
                  "dateOfBirth must be a date (YYYY-MM-DD, MM/DD/YYYY, MM-DD-YYYY, YYYY/MM/DD or "
                  "ISO-8601)");
            }
            break;
        }
        case K_CF:
            apply_cfs(o, it, mb, out, errs);
            break;
        default:
            break;
        }
    }
    if (cJSON_GetArraySize(errs) > before) {
        cJSON_Delete(out);
        return NULL;
    }
    return out;
}

void hs_contact_set_data(hs_rec *r, const cJSON *data)
{
    char *s = cJSON_PrintUnformatted(data);
    if (!s)
        abort();
    free(r->props);
    r->props = s;
}

hs_rec *hs_contact_new(hs_ctx *c, hs_object *o, cJSON *data, int64_t created, int src)
{
    hs_rec *r = calloc(1, sizeof *r);
    if (!r)
        abort();
    do
        hs_alnum_id(&c->rng, r->id);
    while (hs_map_find(&o->cs->cur, r->id) || hs_rec_find(o, r->id));
    r->created = r->updated = created;
    r->created_src = r->updated_src = (uint8_t)src;
    hs_contact_set_data(r, data);
    return r;
}

void hs_cfields_apply(const hs_object *o, const cJSON *v, bool admin, cJSON *out, cJSON *errs)
{
    apply_cfs(o, v, admin ? M_ADMIN : M_UPDATE, out, errs);
}

bool hs_parse_day(const char *s, char out[11])
{
    return parse_day(s, out);
}
