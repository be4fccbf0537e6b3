/* mapping.c - see mapping.h. */
#include "mapping.h"
#include "jprint.h"
#include "numtext.h"

#include "civil.h"
#include "family.h"

#include <ctype.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const codec_names[] = {"text", "numeric",      "money", "option", "options",
                                          "date", "textbox_list", "files", "json"};

const char *map_codec_name(map_codec c)
{
    return (unsigned)c < sizeof codec_names / sizeof *codec_names ? codec_names[c] : "?";
}

int map_codec_parse(const char *name, map_codec *out)
{
    for (size_t i = 0; i < sizeof codec_names / sizeof *codec_names; i++)
        if (strcmp(name, codec_names[i]) == 0) {
            *out = (map_codec)i;
            return 0;
        }
    return GS_EINVAL;
}

bool map_pg_type_valid(const char *t)
{
    if (!t || !*t || strlen(t) > 100)
        return false;
    for (const char *p = t; *p; p++)
        if (!(islower((unsigned char)*p) || isdigit((unsigned char)*p) || strchr("_ (),[]", *p)))
            return false;
    return true;
}

/* ---------------------------------------------------------------- type map */

static void type_clear(map_type *t)
{
    free(t->name);
    free(t->column);
    free(t->currency_column);
    memset(t, 0, sizeof *t);
}

static int type_fill(map_type *t, const char *name, const char *column, map_codec codec,
                     const char *currency_column, gs_err *err)
{
    if (!map_pg_type_valid(column))
        return gs_err_set(err, GS_ECONFIG, "type %s: column type \"%s\" is not a plain type name",
                          name, column);
    if (codec == MAP_MONEY && !currency_column)
        currency_column = "text";
    if (currency_column && !map_pg_type_valid(currency_column))
        return gs_err_set(err, GS_ECONFIG, "type %s: currency_column \"%s\" is not a type name",
                          name, currency_column);
    map_type n = {strdup(name), strdup(column), codec == MAP_MONEY ? strdup(currency_column) : NULL,
                  codec};
    if (!n.name || !n.column || (codec == MAP_MONEY && !n.currency_column)) {
        type_clear(&n);
        return gs_err_set(err, GS_ENOMEM, "out of memory");
    }
    type_clear(t);
    *t = n;
    return 0;
}

int map_types_set(map_types *m, const char *name, const char *column, map_codec codec,
                  const char *currency_column, gs_err *err)
{
    if (!*name)
        return type_fill(&m->fallback, "", column, codec, currency_column, err);
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->types[i].name, name) == 0)
            return type_fill(&m->types[i], name, column, codec, currency_column, err);
    map_type *nt = realloc(m->types, (m->n + 1) * sizeof *nt);
    if (!nt)
        return gs_err_set(err, GS_ENOMEM, "out of memory");
    m->types = nt;
    memset(&m->types[m->n], 0, sizeof *m->types);
    int rc = type_fill(&m->types[m->n], name, column, codec, currency_column, err);
    if (rc == 0)
        m->n++;
    return rc;
}

const map_type *map_types_get(const map_types *m, const char *name)
{
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->types[i].name, name) == 0)
            return &m->types[i];
    return NULL;
}

void map_types_free(map_types *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n; i++)
        type_clear(&m->types[i]);
    free(m->types);
    type_clear(&m->fallback);
    free(m);
}

int map_types_builtin(map_types **out, gs_err *err)
{
    static const struct {
        const char *name, *column;
        map_codec codec;
    } defs[] = {
        {"TEXT", "text", MAP_TEXT},
        {"LARGE_TEXT", "text", MAP_TEXT},
        {"PHONE", "text", MAP_TEXT},
        {"NUMERICAL", "numeric", MAP_NUMERIC},
        {"MONETORY", "numeric", MAP_MONEY},
        {"MONETARY", "numeric", MAP_MONEY},
        {"SINGLE_OPTIONS", "text", MAP_OPTION},
        {"RADIO", "text", MAP_OPTION},
        {"MULTIPLE_OPTIONS", "text[]", MAP_OPTIONS},
        {"CHECKBOX", "text[]", MAP_OPTIONS},
        {"DATE", "date", MAP_DATE},
        {"TEXTBOX_LIST", "jsonb", MAP_TEXTBOX_LIST},
        {"FILE_UPLOAD", "jsonb", MAP_FILES},
        {"JSON", "jsonb", MAP_JSON},
    };
    *out = NULL;
    map_types *m = calloc(1, sizeof *m);
    if (!m)
        return gs_err_set(err, GS_ENOMEM, "out of memory");
    int rc = map_types_set(m, "", "jsonb", MAP_JSON, NULL, err);
    for (size_t i = 0; rc == 0 && i < sizeof defs / sizeof *defs; i++)
        rc = map_types_set(m, defs[i].name, defs[i].column, defs[i].codec,
                           defs[i].codec == MAP_MONEY ? "text" : NULL, err);
    if (rc) {
        map_types_free(m);
        return rc;
    }
    *out = m;
    return 0;
}

/* ---------------------------------------------------------------- arrays */

void map_array_encode(sbuf *b, const char *const *items, size_t n)
{
    /* Every element is quoted: then no string (empty, "NULL", blanks, braces) can be misread. */
    sbuf_putc(b, '{');
    for (size_t i = 0; i < n; i++) {
        if (i)
            sbuf_putc(b, ',');
        if (!items[i]) {
            sbuf_puts(b, "NULL");
            continue;
        }
        sbuf_putc(b, '"');
        /* runs between the characters to escape go in one append */
        const char *run = items[i], *p = run;
        for (;; p++) {
            if (*p && *p != '"' && *p != '\\')
                continue;
            if (p > run)
                sbuf_append(b, run, (size_t)(p - run));
            if (!*p)
                break;
            sbuf_putc(b, '\\');
            sbuf_putc(b, *p);
            run = p + 1;
        }
        sbuf_putc(b, '"');
    }
    sbuf_putc(b, '}');
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

int map_array_decode(const char *lit, cJSON **out, gs_err *err)
{
    *out = NULL;
    const char *p = lit;
    while (is_blank(*p))
        p++;
    if (*p != '{')
        return gs_err_set(err, GS_EPARSE, "array literal does not start with '{'");
    p++;
    cJSON *arr = cJSON_CreateArray();
    sbuf el = SBUF_INIT;
    if (!arr)
        return gs_err_set(err, GS_ENOMEM, "out of memory");
    while (is_blank(*p))
        p++;
    if (*p == '}') {
        p++;
        goto done;
    }
    for (;;) {
        while (is_blank(*p))
            p++;
        sbuf_reset(&el);
        sbuf_append(&el, "", 0);
        bool quoted = false, is_null = false;
        if (*p == '"') {
            quoted = true;
            p++;
            while (*p && *p != '"') {
                if (*p == '\\' && p[1])
                    p++;
                sbuf_putc(&el, *p++);
            }
            if (*p != '"')
                goto bad;
            p++;
            while (is_blank(*p))
                p++;
        } else {
            size_t last_nonblank = 0;
            while (*p && *p != ',' && *p != '}') {
                if (*p == '{' || *p == '"')
                    goto bad; /* nested arrays are not ours */
                if (*p == '\\' && p[1]) {
                    p++;
                    sbuf_putc(&el, *p++);
                    last_nonblank = el.len;
                    continue;
                }
                sbuf_putc(&el, *p);
                if (!is_blank(*p))
                    last_nonblank = el.len;
                p++;
            }
            el.len = last_nonblank;
            if (el.data)
                el.data[el.len] = '\0';
            if (el.len == 0)
                goto bad;
            is_null = strcasecmp(sbuf_str(&el), "NULL") == 0;
        }
        (void)quoted;
        if (sbuf_failed(&el))
            goto nomem;
        cJSON *item = is_null ? cJSON_CreateNull() : cJSON_CreateString(sbuf_str(&el));
        if (!item)
            goto nomem;
        cJSON_AddItemToArray(arr, item);
        if (*p == ',') {
            p++;
            continue;
        }
        if (*p == '}') {
            p++;
            break;
        }
        goto bad;
    }
done:
    while (is_blank(*p))
        p++;
    if (*p)
        goto bad;
    sbuf_free(&el);
    *out = arr;
    return 0;
bad:
    sbuf_free(&el);
    cJSON_Delete(arr);
    return gs_err_set(err, GS_EPARSE, "malformed array literal");
nomem:
    sbuf_free(&el);
    cJSON_Delete(arr);
    return gs_err_set(err, GS_ENOMEM, "out of memory");
}

/* ---------------------------------------------------------------- scalars */

void map_number_text(double d, char *buf, size_t len)
{
    /* integers and short decimals without printf (numtext.h); -0 prints as 0 */
    char t[32];
    bool whole = d == floor(d) && fabs(d) < 1e15;
    if (whole)
        nt_int((long long)d, t);
    if (whole || nt_decimal15(d, t, sizeof t)) {
        size_t n = strlen(t);
        if (len) {
            n = n < len ? n : len - 1;
            memcpy(buf, t, n);
            buf[n] = '\0';
        }
        return;
    }
    /* The shortest text that reads back: a precision below 15 that reads back gives the same
     * digits as 15 (%g drops trailing zeros; 15 digits always name one double uniquely), so
     * start there rather than at 1. Subnormals carry fewer digits: they start at 1. */
    for (int prec = fabs(d) < DBL_MIN ? 1 : 15; prec <= 17; prec++) {
        snprintf(buf, len, "%.*g", prec, d);
        if (strtod(buf, NULL) == d)
            return;
    }
}

/* A PostgreSQL numeric literal we are willing to pass on (no NaN/Infinity: JSON has neither). */
bool map_numeric_fits(const char *s, size_t n)
{
    size_t i = 0;
    if (i < n && (s[i] == '+' || s[i] == '-'))
        i++;
    long nint = 0, nfrac = 0, lead = -1, pos = 0; /* lead: first nonzero digit */
    for (; i < n && isdigit((unsigned char)s[i]); i++, pos++, nint++)
        if (lead < 0 && s[i] != '0')
            lead = pos;
    if (i < n && s[i] == '.')
        for (i++; i < n && isdigit((unsigned char)s[i]); i++, pos++, nfrac++)
            if (lead < 0 && s[i] != '0')
                lead = pos;
    long exp = 0;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        bool neg = i < n && s[i] == '-';
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        for (; i < n && isdigit((unsigned char)s[i]); i++) {
            exp = exp * 10 + (s[i] - '0');
            if (exp > 10000000)
                return false;
        }
        if (neg)
            exp = -exp;
    }
    /* numeric holds 131,072 digits before the point and a scale of 16,383 */
    if (nfrac - exp > 16383)
        return false;
    return lead < 0 || nint + exp - lead <= 131072;
}

static char *numeric_from_string(const char *s)
{
    while (is_blank(*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && is_blank(s[n - 1]))
        n--;
    size_t i = 0;
    if (i < n && (s[i] == '+' || s[i] == '-'))
        i++;
    size_t digits = 0;
    while (i < n && isdigit((unsigned char)s[i]))
        i++, digits++;
    if (i < n && s[i] == '.') {
        i++;
        while (i < n && isdigit((unsigned char)s[i]))
            i++, digits++;
    }
    if (digits == 0)
        return NULL;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        size_t ed = 0;
        while (i < n && isdigit((unsigned char)s[i]))
            i++, ed++;
        if (ed == 0)
            return NULL;
    }
    if (i != n || !map_numeric_fits(s, n))
        return NULL;
    return strndup(s, n);
}

char *map_out_dup(const map_out *mo, const char *s, size_t n)
{
    return mo && mo->arena ? ar_strndup(mo->arena, s, n) : strndup(s, n);
}

char *map_out_str(const map_out *mo, const char *s)
{
    return map_out_dup(mo, s, strlen(s));
}

char *map_out_take(const map_out *mo, char *m)
{
    if (!m || !mo || !mo->arena)
        return m;
    char *o = ar_strndup(mo->arena, m, strlen(m));
    free(m);
    return o;
}

sbuf *map_out_begin(const map_out *mo, sbuf *local)
{
    *local = (sbuf)SBUF_INIT;
    if (mo && mo->arena && mo->scratch) {
        sbuf_reset(mo->scratch);
        return mo->scratch;
    }
    return local;
}

char *map_out_end(const map_out *mo, sbuf *b, bool ok)
{
    bool scratch = mo && mo->arena && b == mo->scratch;
    char *o = NULL;
    if (!ok || sbuf_failed(b))
        o = NULL;
    else if (mo && mo->arena)
        o = ar_strndup(mo->arena, b->data ? b->data : "", b->len);
    else
        return sbuf_steal(b);
    if (!scratch)
        sbuf_free(b); /* the local buffer (also with an arena that has no scratch one) goes */
    return o;
}

/* Frees a value made by map_out_* (those in an arena go with it). */
static void out_release(const map_out *mo, char *v)
{
    if (!mo || !mo->arena)
        free(v);
}

static char *dup_number(const map_out *mo, double d)
{
    char buf[64];
    map_number_text(d, buf, sizeof buf);
    return map_out_str(mo, buf);
}

static char *json_text(const map_out *mo, const cJSON *v)
{
    sbuf local, *b = map_out_begin(mo, &local);
    return map_out_end(mo, b, jp_print_to(b, v));
}

static void warnf(sbuf *w, const schema_field *f, const char *why)
{
    if (w)
        sbuf_printf(w, "%s (%s): %s\n", f->field_key, f->data_type, why);
}

/* Any JSON scalar as text: strings as-is, numbers shortest, booleans true/false. */
static char *scalar_text(const map_out *mo, const cJSON *v)
{
    if (cJSON_IsString(v))
        return map_out_str(mo, v->valuestring);
    if (cJSON_IsNumber(v))
        return dup_number(mo, v->valuedouble);
    if (cJSON_IsBool(v))
        return map_out_str(mo, cJSON_IsTrue(v) ? "true" : "false");
    return json_text(mo, v);
}

static char *encode_numeric(const map_out *mo, const schema_field *f, const cJSON *v, sbuf *w)
{
    if (cJSON_IsNumber(v))
        return dup_number(mo, v->valuedouble);
    if (cJSON_IsString(v)) {
        char *s = numeric_from_string(v->valuestring);
        if (!s)
            warnf(w, f, "value is not a number; stored as NULL");
        return map_out_take(mo, s);
    }
    warnf(w, f, "value is neither a number nor a numeric string; stored as NULL");
    return NULL;
}

/* Asked of every property of a record for each TEXTBOX_LIST field: the first byte is compared
 * inline, as most names differ there (strncmp was 2.5 % of a custom-object backfill). */
static bool flat_option(const cJSON *it, const char *prop_key, size_t pl)
{
    return it->string && (pl == 0 || it->string[0] == prop_key[0]) &&
           strncmp(it->string, prop_key, pl) == 0 && it->string[pl] == '.';
}

/* Returns false only on out-of-memory. */
static bool encode_textbox(const map_out *mo, const schema_field *f, const cJSON *props, char **v1,
                           sbuf *w)
{
    const cJSON *nested = fam_get(props, f->prop_key);
    size_t pl = strlen(f->prop_key);
    const cJSON *it;
    bool flat = false;
    cJSON_ArrayForEach(it, props)
    {
        if ((flat = flat_option(it, f->prop_key, pl)))
            break;
    }
    if (!flat) {
        /* the nested form alone (what search answers send): its text, with no copy to merge
         * options into */
        if (!nested || cJSON_IsNull(nested))
            return true;
        if (!cJSON_IsObject(nested))
            warnf(w, f, "value is not an object; kept as JSON");
        return (*v1 = json_text(mo, nested)) != NULL;
    }
    cJSON *obj = NULL;
    if (nested && !cJSON_IsNull(nested)) {
        if (!cJSON_IsObject(nested))
            warnf(w, f, "value is not an object; kept as JSON");
        obj = cJSON_Duplicate(nested, 1);
        if (!obj)
            return false;
    }
    cJSON_ArrayForEach(it, props)
    {
        if (!flat_option(it, f->prop_key, pl))
            continue;
        if (!obj && !(obj = cJSON_CreateObject()))
            return false;
        if (!cJSON_IsObject(obj))
            continue;
        cJSON *c = cJSON_Duplicate(it, 1);
        if (!c)
            goto nomem;
        cJSON_DeleteItemFromObjectCaseSensitive(obj, it->string + pl + 1);
        cJSON_AddItemToObject(obj, it->string + pl + 1, c);
    }
    if (obj) {
        *v1 = json_text(mo, obj);
        cJSON_Delete(obj);
        if (!*v1)
            return false;
    }
    return true;
nomem:
    cJSON_Delete(obj);
    return false;
}

static int encode_field(const map_out *mo, const schema_field *f, const cJSON *props,
                        const cJSON **hint, char **v1, char **v2, sbuf *warnings);

int map_encode_field(const schema_field *f, const cJSON *props, char **v1, char **v2,
                     sbuf *warnings)
{
    const cJSON *hint = NULL;
    return encode_field(NULL, f, props, &hint, v1, v2, warnings);
}

/* A list of options as a text[] literal: strings as they are, other scalars as text. */
static char *options_text(const map_out *mo, const cJSON *v)
{
    sbuf local, *b = map_out_begin(mo, &local);
    if (!cJSON_IsArray(v)) {
        /* A single string (tolerated variant) is a one-element list. */
        char *s = cJSON_IsString(v) ? NULL : scalar_text(NULL, v);
        const char *one[1] = {s ? s : v->valuestring};
        bool ok = s || cJSON_IsString(v);
        if (ok)
            map_array_encode(b, one, 1);
        free(s);
        return map_out_end(mo, b, ok);
    }
    int n = cJSON_GetArraySize(v);
    const char *few[16] = {0};
    const char **items = n <= 16 ? few : calloc((size_t)n, sizeof *items);
    bool ok = items != NULL;
    int i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, v)
    {
        if (!ok)
            break;
        if (cJSON_IsNull(e))
            items[i] = NULL;
        else if (cJSON_IsString(e))
            items[i] = e->valuestring; /* borrowed: the common case copies nothing */
        else if (!(items[i] = scalar_text(NULL, e)))
            ok = false;
        i++;
    }
    if (ok)
        map_array_encode(b, items, (size_t)n);
    i = 0;
    cJSON_ArrayForEach(e, v)
    {
        if (i >= n || !items)
            break;
        if (!cJSON_IsNull(e) && !cJSON_IsString(e))
            free((char *)items[i]);
        i++;
    }
    if (items != few)
        free(items);
    return map_out_end(mo, b, ok);
}

static int encode_value(const map_out *mo, const schema_field *f, const cJSON *v, char **v1,
                        char **v2, sbuf *warnings);

static int encode_field(const map_out *mo, const schema_field *f, const cJSON *props,
                        const cJSON **hint, char **v1, char **v2, sbuf *warnings)
{
    *v1 = *v2 = NULL;
    if (f->type && f->type->codec == MAP_TEXTBOX_LIST)
        return encode_textbox(mo, f, props, v1, warnings) ? 0 : GS_ENOMEM;
    return encode_value(mo, f, fam_member(props, f->prop_key, hint), v1, v2, warnings);
}

/* One field's value (NULL: absent). A TEXTBOX_LIST value here is the nested form alone (a list
 * of custom fields has no flat "<key>.<option>" form). */
static int encode_value(const map_out *mo, const schema_field *f, const cJSON *v, char **v1,
                        char **v2, sbuf *warnings)
{
    *v1 = *v2 = NULL;
    const map_type *t = f->type;
    map_codec codec = t ? t->codec : MAP_JSON;
    if (!v || cJSON_IsNull(v))
        return 0;
    if (codec == MAP_TEXTBOX_LIST && !cJSON_IsObject(v))
        warnf(warnings, f, "value is not an object; kept as JSON");
    switch (codec) {
    case MAP_TEXT:
    case MAP_OPTION:
        if (cJSON_IsArray(v) || cJSON_IsObject(v))
            warnf(warnings, f, "expected a string; stored the JSON text");
        *v1 = scalar_text(mo, v);
        break;
    case MAP_NUMERIC:
        *v1 = encode_numeric(mo, f, v, warnings);
        return 0;
    case MAP_MONEY: {
        const cJSON *val = v, *cur = NULL;
        if (cJSON_IsObject(v)) {
            val = fam_get(v, "value");
            cur = fam_get(v, "currency");
        }
        if (val && !cJSON_IsNull(val))
            *v1 = encode_numeric(mo, f, val, warnings);
        if (cur && !cJSON_IsNull(cur)) {
            *v2 = scalar_text(mo, cur);
            if (!*v2)
                goto nomem;
        }
        return 0;
    }
    case MAP_OPTIONS:
        *v1 = options_text(mo, v);
        break;
    case MAP_DATE:
        if (cJSON_IsString(v) && strlen(v->valuestring) >= 10 &&
            cv_date(v->valuestring, NULL, NULL, NULL) &&
            (v->valuestring[10] == '\0' || v->valuestring[10] == 'T' || v->valuestring[10] == 't' ||
             v->valuestring[10] == ' ')) {
            *v1 = map_out_dup(mo, v->valuestring, 10);
        } else if (cJSON_IsNumber(v)) {
            /* epoch milliseconds: not documented, but unambiguous */
            time_t secs = (time_t)(v->valuedouble / 1000.0);
            struct tm tm;
            char buf[16];
            if (!gmtime_r(&secs, &tm) || tm.tm_year + 1900 < 1 || tm.tm_year + 1900 > 9999 ||
                !strftime(buf, sizeof buf, "%Y-%m-%d", &tm)) {
                warnf(warnings, f, "number is not a usable epoch; stored as NULL");
                return 0;
            }
            *v1 = map_out_str(mo, buf);
        } else {
            warnf(warnings, f, "value is not a date; stored as NULL");
            return 0;
        }
        break;
    case MAP_FILES:
        if (cJSON_IsString(v)) {
            /* a bare URL: keep it in the documented shape */
            cJSON *arr = cJSON_CreateArray(), *o = cJSON_CreateObject();
            if (!arr || !o || !cJSON_AddStringToObject(o, "url", v->valuestring)) {
                cJSON_Delete(arr);
                cJSON_Delete(o);
                goto nomem;
            }
            cJSON_AddItemToArray(arr, o);
            *v1 = json_text(mo, arr);
            cJSON_Delete(arr);
            break;
        }
        /* an array of files (records), or an object keyed by uuid (contacts: the write
         * shape's FileField, highlevel-crm.md 1.2) */
        if (!cJSON_IsArray(v) && !cJSON_IsObject(v))
            warnf(warnings, f, "expected an array or object of files; kept as JSON");
        *v1 = json_text(mo, v);
        break;
    case MAP_TEXTBOX_LIST:
    case MAP_JSON:
        *v1 = json_text(mo, v);
        break;
    }
    if (!*v1)
        goto nomem;
    return 0;
nomem:
    out_release(mo, *v1);
    out_release(mo, *v2);
    *v1 = *v2 = NULL;
    return GS_ENOMEM;
}
static cJSON *number_from_text(const char *s)
{
    return cJSON_CreateNumber(strtod(s, NULL));
}

int map_decode_field(const schema_field *f, const char *v1, const char *v2, cJSON **out,
                     gs_err *err)
{
    *out = NULL;
    map_codec codec = f->type ? f->type->codec : MAP_JSON;
    cJSON *r = NULL;
    if (!v1 && !(codec == MAP_MONEY && v2)) {
        r = cJSON_CreateNull();
        goto done;
    }
    switch (codec) {
    case MAP_TEXT:
    case MAP_OPTION:
    case MAP_DATE:
        r = cJSON_CreateString(v1);
        break;
    case MAP_NUMERIC:
        r = number_from_text(v1);
        break;
    case MAP_MONEY:
        r = cJSON_CreateObject();
        if (r && v2 && !cJSON_AddStringToObject(r, "currency", v2))
            goto nomem;
        if (r && !(v1 ? cJSON_AddNumberToObject(r, "value", strtod(v1, NULL))
                      : cJSON_AddNullToObject(r, "value")))
            goto nomem;
        break;
    case MAP_OPTIONS: {
        int rc = map_array_decode(v1, &r, err);
        if (rc)
            return gs_err_wrap(err, "column %s", f->column ? f->column : f->prop_key);
        break;
    }
    case MAP_TEXTBOX_LIST:
    case MAP_FILES:
    case MAP_JSON:
        r = cJSON_Parse(v1);
        if (!r)
            return gs_err_set(err, GS_EPARSE, "column %s: not JSON",
                              f->column ? f->column : f->prop_key);
        break;
    }
done:
    if (!r)
        return gs_err_set(err, GS_ENOMEM, "out of memory");
    *out = r;
    return 0;
nomem:
    cJSON_Delete(r);
    return gs_err_set(err, GS_ENOMEM, "out of memory");
}

/* ---------------------------------------------------------------- records */

int map_row_init(const schema_object *o, map_row *row, gs_err *err)
{
    memset(row, 0, sizeof *row);
    const fam_family *fam = fam_of(o);
    size_t pre = fam_row_prefix(fam), n = pre;
    for (size_t i = 0; i < o->n_fields; i++) {
        if (!o->fields[i].column)
            return gs_err_set(err, GS_ESTATE, "field %s has no column (model not resolved)",
                              o->fields[i].field_key);
        n += o->fields[i].currency_column ? 2 : 1;
    }
    row->columns = calloc(n, sizeof *row->columns);
    row->values = calloc(n, sizeof *row->values);
    if (!row->columns || !row->values) {
        map_row_free(row);
        return gs_err_set(err, GS_ENOMEM, "out of memory");
    }
    row->n = n;
    size_t k = 0;
    for (; k < pre; k++)
        row->columns[k] = fam_row_column(fam, k);
    for (size_t i = 0; i < o->n_fields; i++) {
        row->columns[k++] = o->fields[i].column;
        if (o->fields[i].currency_column)
            row->columns[k++] = o->fields[i].currency_column;
    }
    return 0;
}

void map_row_free(map_row *row)
{
    if (row->values)
        for (size_t i = 0; i < row->n; i++)
            free(row->values[i]);
    free(row->values);
    free(row->columns);
    memset(row, 0, sizeof *row);
}

size_t map_field_column_index(const schema_object *o, size_t field_index, long *cur)
{
    size_t k = fam_row_prefix(fam_of(o));
    for (size_t i = 0; i < field_index; i++)
        k += o->fields[i].currency_column ? 2 : 1;
    if (cur)
        *cur = o->fields[field_index].currency_column ? (long)k + 1 : -1;
    return k;
}

static char *timestamp_text(const map_out *mo, const cJSON *v)
{
    if (cJSON_IsString(v) && strlen(v->valuestring) >= 10 &&
        cv_date(v->valuestring, NULL, NULL, NULL))
        return map_out_str(mo, v->valuestring);
    if (cJSON_IsNumber(v)) {
        /* epoch milliseconds */
        double ms = v->valuedouble;
        time_t secs = (time_t)floor(ms / 1000.0);
        struct tm tm;
        char buf[48];
        if (!gmtime_r(&secs, &tm))
            return NULL;
        size_t l = strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(buf + l, sizeof buf - l, ".%03dZ", (int)(ms - (double)secs * 1000.0));
        return map_out_str(mo, buf);
    }
    return NULL;
}

size_t map_row_width(const schema_object *o)
{
    size_t n = fam_row_prefix(fam_of(o));
    for (size_t i = 0; i < o->n_fields; i++)
        n += o->fields[i].currency_column ? 2 : 1;
    return n;
}

int map_record_values(const schema_object *o, const cJSON *record, const char *location_id,
                      const map_out *mo, char **values, sbuf *warnings, gs_err *err)
{
    const fam_family *fam = fam_of(o);
    record = fam->answer_record(record);
    if (!cJSON_IsObject(record))
        return gs_err_set(err, GS_EPARSE, "record is not a JSON object");
    size_t width = map_row_width(o);
    memset(values, 0, width * sizeof *values);
    const cJSON *id = fam_get(record, "id");
    if (cJSON_IsString(id))
        values[0] = map_out_str(mo, id->valuestring);
    else if (cJSON_IsNumber(id))
        values[0] = dup_number(mo, id->valuedouble);
    const cJSON *loc = fam_get(record, "locationId");
    if (cJSON_IsString(loc))
        values[1] = map_out_str(mo, loc->valuestring);
    else if (location_id)
        values[1] = map_out_str(mo, location_id);
    const cJSON *rhint = NULL; /* the record's keys, looked up in column order */
    for (size_t i = 0; i < fam->n_std; i++) {
        const fam_std *s = &fam->std[i];
        char **v = &values[2 + i];
        bool bad = false;
        if (s->kind == FAM_K_EXTRA) {
            if (fam->extra_value && fam->extra_value(o, record, mo, v))
                goto nomem;
            continue;
        }
        const char *keys[2] = {s->key, s->alt_key};
        if (fam_std_encode(s, fam_first_of_from(record, keys, &rhint), mo, v, &bad))
            goto nomem;
        /* an unusable owner or followers value was always dropped silently */
        if (bad && s->kind != FAM_K_IDS && warnings)
            sbuf_printf(warnings, "%s: not a %s value; stored as NULL\n", s->key, s->type);
    }
    size_t ci = 2 + fam->n_std;
    const cJSON *ca = fam_first_of_from(record, fam->created_key, &rhint);
    const cJSON *ua = fam_first_of_from(record, fam->updated_key, &rhint);
    if (ca && !(values[ci] = timestamp_text(mo, ca)) && warnings)
        sbuf_printf(warnings, "%s: not a timestamp; stored as NULL\n", fam->created_key[0]);
    if (ua && !(values[ci + 1] = timestamp_text(mo, ua)) && warnings)
        sbuf_printf(warnings, "%s: not a timestamp; stored as NULL\n", fam->updated_key[0]);
    /* the fields: from a properties object, or by definition index from a list */
    const cJSON *props = NULL, *few[32] = {0}, **slots = NULL;
    if (fam->field_slots) {
        slots = o->n_fields <= 32 ? few : calloc(o->n_fields, sizeof *slots);
        if (!slots || fam->field_slots(o, record, slots, warnings))
            goto nomem_slots;
    } else if (fam->field_values(o, record, &props, warnings)) {
        goto nomem;
    }
    size_t k = ci + 2;
    const cJSON *hint = NULL;
    for (size_t i = 0; i < o->n_fields; i++) {
        const schema_field *f = &o->fields[i];
        long cur = f->currency_column ? (long)k + 1 : -1;
        char *v2 = NULL;
        if (slots ? encode_value(mo, f, slots[i], &values[k], &v2, warnings)
                  : encode_field(mo, f, props, &hint, &values[k], &v2, warnings))
            goto nomem_slots;
        if (cur >= 0)
            values[cur] = v2;
        else
            out_release(mo, v2);
        k += cur >= 0 ? 2 : 1;
    }
    if (slots != few)
        free(slots);
    return 0;
nomem_slots:
    if (slots != few)
        free(slots);
nomem:
    for (size_t j = 0; j < width; j++) {
        out_release(mo, values[j]);
        values[j] = NULL;
    }
    return gs_err_set(err, GS_ENOMEM, "out of memory");
}

int map_record_to_row(const schema_object *o, const cJSON *record, const char *location_id,
                      map_row *row, sbuf *warnings, gs_err *err)
{
    if (!cJSON_IsObject(fam_of(o)->answer_record(record)))
        return gs_err_set(err, GS_EPARSE, "record is not a JSON object");
    int rc = map_row_init(o, row, err);
    if (rc)
        return rc;
    if ((rc = map_record_values(o, record, location_id, NULL, row->values, warnings, err)))
        map_row_free(row);
    return rc;
}
/* Add "<prop>.<option>": value for TEXTBOX_LIST, nulls for options that must be cleared. */
static int textbox_props(const schema_field *f, const char *v, const char *old, bool for_create,
                         cJSON *props, gs_err *err)
{
    cJSON *now = v ? cJSON_Parse(v) : NULL;
    cJSON *before = old ? cJSON_Parse(old) : NULL;
    sbuf key = SBUF_INIT;
    int rc = 0;
    if (v && !cJSON_IsObject(now)) {
        rc = gs_err_set(err, GS_EPARSE, "column %s: not a JSON object", f->column);
        goto out;
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, now)
    {
        sbuf_reset(&key);
        sbuf_printf(&key, "%s.%s", f->prop_key, it->string);
        cJSON *c = cJSON_Duplicate(it, 1);
        if (!c || sbuf_failed(&key) || !cJSON_AddItemToObject(props, sbuf_str(&key), c)) {
            cJSON_Delete(c);
            rc = gs_err_set(err, GS_ENOMEM, "out of memory");
            goto out;
        }
    }
    if (!for_create) {
        /* Options the model knows or the old value had, absent now: clear them. */
        size_t nopt = f->n_options;
        for (size_t i = 0; i < nopt + (size_t)cJSON_GetArraySize(before); i++) {
            const char *ok;
            if (i < nopt)
                ok = f->options[i].key;
            else {
                const cJSON *b = cJSON_GetArrayItem(before, (int)(i - nopt));
                if (!b || !b->string)
                    continue;
                ok = b->string;
            }
            if (cJSON_GetObjectItemCaseSensitive(now, ok))
                continue;
            sbuf_reset(&key);
            sbuf_printf(&key, "%s.%s", f->prop_key, ok);
            if (sbuf_failed(&key)) {
                rc = gs_err_set(err, GS_ENOMEM, "out of memory");
                goto out;
            }
            if (cJSON_GetObjectItemCaseSensitive(props, sbuf_str(&key)))
                continue;
            if (!cJSON_AddNullToObject(props, sbuf_str(&key))) {
                rc = gs_err_set(err, GS_ENOMEM, "out of memory");
                goto out;
            }
        }
    }
out:
    sbuf_free(&key);
    cJSON_Delete(now);
    cJSON_Delete(before);
    return rc;
}

int map_row_to_properties(const schema_object *o, const char *const *values,
                          const char *const *old_values, const bool *changed, bool for_create,
                          cJSON **props, gs_err *err)
{
    *props = NULL;
    cJSON *p = cJSON_CreateObject();
    if (!p)
        return gs_err_set(err, GS_ENOMEM, "out of memory");
    for (size_t i = 0; i < o->n_fields; i++) {
        const schema_field *f = &o->fields[i];
        long cur;
        size_t k = map_field_column_index(o, i, &cur);
        if (changed && !changed[k] && !(cur >= 0 && changed[cur]))
            continue;
        const char *v1 = values[k], *v2 = cur >= 0 ? values[cur] : NULL;
        if (for_create && !v1 && !v2)
            continue;
        int rc;
        if (f->type && f->type->codec == MAP_TEXTBOX_LIST) {
            rc = textbox_props(f, v1, old_values ? old_values[k] : NULL, for_create, p, err);
        } else {
            cJSON *val;
            rc = map_decode_field(f, v1, v2, &val, err);
            if (rc == 0 && !cJSON_AddItemToObject(p, f->prop_key, val)) {
                cJSON_Delete(val);
                rc = gs_err_set(err, GS_ENOMEM, "out of memory");
            }
        }
        if (rc) {
            cJSON_Delete(p);
            return rc;
        }
    }
    *props = p;
    return 0;
}
