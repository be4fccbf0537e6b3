/*
 * hs_csearch.c - POST /contacts/search and POST /opportunities/search: body validation, filters
 * (fields and operators of the ClickUp "Search Contacts" / "Search Opportunity" pages), sort (at
 * most 2), page / searchAfter paging, total. The two differ only by the tables of `descs`.
 *
 * It reads the contact object's indexes, i.e. what the search index has seen (see
 * hs_cstore.c for the lag). With no sort or one sort on dateAdded / dateUpdated, a page starts at
 * a binary-searched position (cursor, range bound of that field, page offset) and costs
 * O(log n + pageLimit) when the only filters are ranges on the sort field, which is what an
 * incremental pull sends; `total` is then a difference of positions. Other filters are evaluated
 * per contact; other sorts (or two sorts) gather and sort the matches, O(m log m).
 */
#include "hlsim.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum { F_ADDED, F_UPDATED, F_STR, F_BOOL, F_ARR, F_TIME, F_ID, F_CF, F_CFSUB };
enum { OP_EQ, OP_NEQ, OP_CONTAINS, OP_NCONTAINS, OP_EXISTS, OP_NEXISTS, OP_RANGE };
enum { N_LEAF, N_AND, N_OR };
#define OPB(x) (1u << (x))
#define OPS_TEXT                                                                                   \
    (OPB(OP_EQ) | OPB(OP_NEQ) | OPB(OP_CONTAINS) | OPB(OP_NCONTAINS) | OPB(OP_EXISTS) |            \
     OPB(OP_NEXISTS))
#define OPS_EQ    (OPB(OP_EQ) | OPB(OP_NEQ) | OPB(OP_EXISTS) | OPB(OP_NEXISTS))
#define OPS_RANGE (OPB(OP_RANGE) | OPB(OP_EXISTS) | OPB(OP_NEXISTS))
#define OPS_NUM   (OPS_EQ | OPB(OP_RANGE))

typedef struct sfield {
    const char *name, *key; /* filter field, data key */
    int kind;
    unsigned ops;
} sfield;

typedef struct sortable {
    const char *name, *key;
    int field; /* F_ADDED, F_UPDATED (indexed) or -1 (data key) */
} sortable;

/* what differs between the contacts and the opportunities search */
typedef struct sdesc {
    const sfield *fields;
    size_t nfields;
    const sortable *sorts;
    size_t nsorts;
    const char *cf_prefix; /* customFields. / custom_fields. */
    const char *limit_key; /* pageLimit / limit */
    const char *list_key;  /* contacts / opportunities */
    const char *extra_key; /* another allowed body key or NULL */
    const char *const *qkeys;
    bool aggregations;
} sdesc;

static const sfield cfields[] = {
    {"id", NULL, F_ID, OPS_EQ},
    {"dateAdded", NULL, F_ADDED, OPS_RANGE},
    {"dateUpdated", NULL, F_UPDATED, OPS_RANGE},
    {"dateOfBirth", "dateOfBirth", F_TIME, OPS_RANGE},
    {"email", "email", F_STR, OPS_EQ},
    {"phone", "phone", F_STR, OPS_EQ},
    {"firstNameLowerCase", "firstName", F_STR, OPS_TEXT},
    {"lastNameLowerCase", "lastName", F_STR, OPS_TEXT},
    {"companyName", "companyName", F_STR, OPS_TEXT},
    {"businessName", "companyName", F_STR, OPS_TEXT},
    {"address", "address1", F_STR, OPS_TEXT},
    {"city", "city", F_STR, OPS_TEXT},
    {"state", "state", F_STR, OPS_TEXT},
    {"country", "country", F_STR, OPS_TEXT},
    {"postalCode", "postalCode", F_STR, OPS_TEXT},
    {"source", "source", F_STR, OPS_TEXT},
    {"type", "type", F_STR, OPS_EQ},
    {"timezone", "timezone", F_STR, OPS_TEXT},
    {"website", "website", F_STR, OPS_TEXT},
    {"assignedTo", "assignedTo", F_STR, OPS_EQ},
    {"businessId", "businessId", F_STR, OPS_EQ},
    {"dnd", "dnd", F_BOOL, OPS_EQ},
    {"tags", "tags", F_ARR, OPS_TEXT},
    {"followers", "followers", F_ARR, OPS_EQ},
};

static const sfield ofields[] = {
    {"id", NULL, F_ID, OPS_EQ},
    {"date_added", NULL, F_ADDED, OPS_RANGE},
    {"date_updated", NULL, F_UPDATED, OPS_RANGE},
    {"last_status_change_date", "lastStatusChangeAt", F_TIME, OPS_RANGE},
    {"last_stage_change_date", "lastStageChangeAt", F_TIME, OPS_RANGE},
    {"name", "name", F_STR, OPS_TEXT},
    {"monetary_value", "monetaryValue", F_STR, OPS_NUM},
    {"pipeline_id", "pipelineId", F_STR, OPS_EQ},
    {"pipeline_stage_id", "pipelineStageId", F_STR, OPS_EQ},
    {"status", "status", F_STR, OPS_EQ},
    {"lost_reason_id", "lostReasonId", F_STR, OPS_EQ},
    {"source", "source", F_STR, OPS_TEXT},
    {"assigned_to", "assignedTo", F_STR, OPS_EQ},
    {"followers", "followers", F_ARR, OPS_EQ},
    {"contact_id", "contactId", F_STR, OPS_EQ},
};

static const sortable csorts[] = {
    {"dateAdded", NULL, F_ADDED},
    {"dateUpdated", NULL, F_UPDATED},
    {"firstNameLowerCase", "firstName", -1},
    {"lastNameLowerCase", "lastName", -1},
    {"businessName", "companyName", -1},
    {"email", "email", -1},
    {"dnd", "dnd", -1},
    {"source", "source", -1},
};

static const sortable osorts[] = {
    {"date_added", NULL, F_ADDED},
    {"date_updated", NULL, F_UPDATED},
    {"name", "name", -1},
    {"monetary_value", "monetaryValue", -1},
    {"last_status_change_date", "lastStatusChangeAt", -1},
    {"last_stage_change_date", "lastStageChangeAt", -1},
};

static const char *const cqkeys[] = {"firstName", "lastName",    "email",
                                     "phone",     "companyName", NULL};
static const char *const oqkeys[] = {"name", "source", NULL};

static const sdesc descs[] = {
    {cfields, sizeof cfields / sizeof cfields[0], csorts, sizeof csorts / sizeof csorts[0],
     "customFields.", "pageLimit", "contacts", NULL, cqkeys, false},
    {ofields, sizeof ofields / sizeof ofields[0], osorts, sizeof osorts / sizeof osorts[0],
     "custom_fields.", "limit", "opportunities", "additionalDetails", oqkeys, true},
};

typedef struct cfilt {
    int node;
    int kind, dtype;
    const char *key; /* data key (standard fields) */
    char cf[64];     /* custom field id */
    char sub[128];   /* TEXTBOX_LIST option */
    int op;
    const cJSON *value;
    bool has[4]; /* gte, gt, lte, lt */
    double num[4];
    struct cfilt *kids;
    int nkids;
} cfilt;

static void e422(cJSON *errs, const char *msg)
{
    cJSON_AddItemToArray(errs, cJSON_CreateString(msg));
}

static void free_filt(cfilt *f)
{
    for (int i = 0; i < f->nkids; i++)
        free_filt(&f->kids[i]);
    free(f->kids);
}

static bool time_value(const cJSON *v, double *out)
{
    int64_t ms;
    if (cJSON_IsNumber(v)) {
        /* epoch ms within +-31,000 years: bounds become int64 index keys */
        *out = v->valuedouble;
        return v->valuedouble > -1e15 && v->valuedouble < 1e15;
    }
    if (cJSON_IsString(v) && hs_parse_iso_ms(v->valuestring, &ms)) {
        *out = (double)ms;
        return true;
    }
    if (cJSON_IsString(v) && hs_valid_date(v->valuestring)) {
        char iso[40];
        snprintf(iso, sizeof iso, "%sT00:00:00.000Z", v->valuestring);
        if (hs_parse_iso_ms(iso, &ms)) {
            *out = (double)ms;
            return true;
        }
    }
    return false;
}

static bool is_time(const cfilt *f)
{
    return f->kind == F_ADDED || f->kind == F_UPDATED || f->kind == F_TIME ||
           (f->kind == F_CF && f->dtype == DT_DATE);
}

static bool compile(const sdesc *d, const hs_object *o, const cJSON *j, cfilt *f, cJSON *errs,
                    int depth)
{
    char m[400];
    memset(f, 0, sizeof *f);
    if (!cJSON_IsObject(j) || depth > 8) {
        e422(errs,
             depth > 8 ? "filters: nested too deeply" : "filters: each filter must be an object");
        return false;
    }
    const cJSON *it, *grp = cJSON_GetObjectItemCaseSensitive(j, "group");
    if (grp) {
        cJSON_ArrayForEach(it, j)
        {
            if (strcmp(it->string, "group") && strcmp(it->string, "filters")) {
                snprintf(m, sizeof m, "filters: property %.100s should not exist in a group",
                         it->string);
                e422(errs, m);
                return false;
            }
        }
        const char *g = cJSON_GetStringValue(grp);
        const cJSON *kids = cJSON_GetObjectItemCaseSensitive(j, "filters");
        if (!g || (strcmp(g, "AND") && strcmp(g, "OR")) || !cJSON_IsArray(kids)) {
            e422(errs, "filters: a group is {\"group\": \"AND\"|\"OR\", \"filters\": [...]}");
            return false;
        }
        f->node = strcmp(g, "AND") == 0 ? N_AND : N_OR;
        f->nkids = cJSON_GetArraySize(kids);
        f->kids = calloc((size_t)f->nkids + 1, sizeof *f->kids);
        int i = 0;
        cJSON_ArrayForEach(it, kids)
        {
            if (!compile(d, o, it, &f->kids[i++], errs, depth + 1))
                return false;
        }
        return true;
    }
    cJSON_ArrayForEach(it, j)
    {
        if (strcmp(it->string, "field") && strcmp(it->string, "operator") &&
            strcmp(it->string, "value")) {
            snprintf(m, sizeof m, "filters: property %.100s should not exist", it->string);
            e422(errs, m);
            return false;
        }
    }
    f->node = N_LEAF;
    const char *field = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "field"));
    const char *op = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "operator"));
    f->value = cJSON_GetObjectItemCaseSensitive(j, "value");
    if (!field || !op) {
        e422(errs, "filters: each filter needs string \"field\" and \"operator\"");
        return false;
    }
    unsigned ops = 0;
    f->kind = -1;
    for (size_t i = 0; i < d->nfields; i++)
        if (!strcmp(d->fields[i].name, field)) {
            f->kind = d->fields[i].kind;
            f->key = d->fields[i].key;
            ops = d->fields[i].ops;
        }
    size_t pl = strlen(d->cf_prefix);
    if (f->kind < 0 && !strncmp(field, d->cf_prefix, pl)) {
        char id[64];
        snprintf(id, sizeof id, "%.63s", field + pl);
        char *dot = strchr(id, '.');
        if (dot) {
            *dot = 0;
            snprintf(f->sub, sizeof f->sub, "%s", strchr(field + pl, '.') + 1);
        }
        const cJSON *fd = hs_cfield_find(o, id);
        const char *fid =
            fd ? cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(fd, "id")) : NULL;
        if (fid && !strcmp(fid, id)) {
            snprintf(f->cf, sizeof f->cf, "%s", id);
            f->dtype = hs_field_dtype(fd);
            f->kind = dot ? F_CFSUB : F_CF;
            if (dot && f->dtype != DT_TEXTBOX_LIST)
                f->kind = -1;
            switch (f->dtype) {
            case DT_NUMERICAL:
            case DT_MONETORY:
                ops = OPS_NUM;
                break;
            case DT_DATE:
                ops = OPS_RANGE;
                break;
            case DT_CHECKBOX:
            case DT_MULTIPLE_OPTIONS:
                ops = OPS_EQ;
                break;
            case DT_FILE_UPLOAD:
                ops = OPB(OP_EXISTS) | OPB(OP_NEXISTS);
                break;
            default:
                ops = OPS_TEXT;
            }
        }
    }
    if (f->kind < 0) {
        snprintf(m, sizeof m, "filters: %.200s is not a filterable field", field);
        e422(errs, m);
        return false;
    }
    static const char *const opn[] = {"eq",     "not_eq",     "contains", "not_contains",
                                      "exists", "not_exists", "range"};
    f->op = -1;
    for (int i = 0; i < 7; i++)
        if (!strcmp(op, opn[i]))
            f->op = i;
    if (f->op < 0 || !(ops & OPB(f->op))) {
        snprintf(m, sizeof m, "filters: operator %.60s is not supported for %.200s", op, field);
        e422(errs, m);
        return false;
    }
    if (f->op == OP_EXISTS || f->op == OP_NEXISTS)
        return true;
    if (f->op == OP_RANGE) {
        static const char *const names[] = {"gte", "gt", "lte", "lt"};
        if (!cJSON_IsObject(f->value) || !cJSON_GetArraySize(f->value)) {
            e422(errs, "filters: range needs an object value {gte, gt, lte, lt}");
            return false;
        }
        cJSON_ArrayForEach(it, f->value)
        {
            int k = -1;
            for (int i = 0; i < 4; i++)
                if (!strcmp(it->string, names[i]))
                    k = i;
            bool ok = k >= 0 && (is_time(f) ? time_value(it, &f->num[k]) : cJSON_IsNumber(it));
            if (ok && !is_time(f))
                f->num[k] = it->valuedouble;
            if (!ok) {
                snprintf(m, sizeof m, "filters: bad range bound %.60s for %.150s (a number%s)",
                         it->string, field, is_time(f) ? ", an ISO-8601 string or epoch ms" : "");
                e422(errs, m);
                return false;
            }
            f->has[k] = true;
        }
        return true;
    }
    if (!(cJSON_IsString(f->value) || cJSON_IsNumber(f->value) || cJSON_IsBool(f->value))) {
        snprintf(m, sizeof m, "filters: %.60s needs a string, number or boolean value", op);
        e422(errs, m);
        return false;
    }
    if (cJSON_IsString(f->value) && strlen(f->value->valuestring) > 75) {
        e422(errs, "filters: value must be at most 75 characters");
        return false;
    }
    if (f->kind == F_BOOL && !cJSON_IsBool(f->value)) {
        e422(errs, "filters: dnd takes a boolean value");
        return false;
    }
    return true;
}

/* ---- evaluation ---------------------------------------------------------------------------- */

typedef struct cview {
    const hs_rec *r;
    cJSON *d;
    bool parsed;
} cview;

static cJSON *data(cview *v)
{
    if (!v->parsed) {
        v->d = cJSON_Parse(v->r->props ? v->r->props : "{}");
        v->parsed = true;
    }
    return v->d;
}

static bool scalar_eq(const cJSON *a, const cJSON *want)
{
    if (cJSON_IsString(a) && cJSON_IsString(want))
        return hs_ci_contains(a->valuestring, want->valuestring, true);
    if (cJSON_IsNumber(a) && cJSON_IsNumber(want))
        return a->valuedouble == want->valuedouble;
    if (cJSON_IsNumber(a) && cJSON_IsString(want))
        return a->valuedouble == strtod(want->valuestring, NULL);
    if (cJSON_IsBool(a) && cJSON_IsBool(want))
        return cJSON_IsTrue(a) == cJSON_IsTrue(want);
    return false;
}

static bool any_eq(const cJSON *v, const cJSON *want, bool contains)
{
    if (cJSON_IsArray(v)) {
        const cJSON *it;
        cJSON_ArrayForEach(it, v)
        {
            if (any_eq(it, want, contains))
                return true;
        }
        return false;
    }
    if (contains && cJSON_IsString(v) && cJSON_IsString(want))
        return hs_ci_contains(v->valuestring, want->valuestring, false);
    return scalar_eq(v, want);
}

static bool in_range(const cfilt *f, double n)
{
    if ((f->has[0] && n < f->num[0]) || (f->has[1] && n <= f->num[1]) ||
        (f->has[2] && n > f->num[2]) || (f->has[3] && n >= f->num[3]))
        return false;
    return true;
}

static bool eval(const cfilt *f, cview *v)
{
    if (f->node != N_LEAF) {
        for (int i = 0; i < f->nkids; i++) {
            bool x = eval(&f->kids[i], v);
            if (f->node == N_AND && !x)
                return false;
            if (f->node == N_OR && x)
                return true;
        }
        return f->node == N_AND || f->nkids == 0;
    }
    if (f->kind == F_ADDED || f->kind == F_UPDATED) {
        double t = (double)(f->kind == F_ADDED ? v->r->created : v->r->updated);
        return f->op == OP_EXISTS ? true : f->op == OP_NEXISTS ? false : in_range(f, t);
    }
    cJSON *tmp = NULL;
    const cJSON *x = NULL;
    if (f->kind == F_ID) {
        x = tmp = cJSON_CreateString(v->r->id);
    } else if (f->kind == F_CF || f->kind == F_CFSUB) {
        x = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(data(v), "customFields"), f->cf);
        if (f->kind == F_CFSUB)
            x = cJSON_GetObjectItemCaseSensitive(x, f->sub);
    } else {
        x = cJSON_GetObjectItemCaseSensitive(data(v), f->key);
        if (!x && f->kind == F_BOOL)
            x = tmp = cJSON_CreateFalse();
        if (!x && !strcmp(f->key, "type"))
            x = tmp = cJSON_CreateString("lead");
    }
    bool present = x && !cJSON_IsNull(x) && !(cJSON_IsString(x) && !x->valuestring[0]) &&
                   !(cJSON_IsArray(x) && cJSON_GetArraySize(x) == 0) &&
                   !(cJSON_IsObject(x) && cJSON_GetArraySize(x) == 0);
    bool res;
    switch (f->op) {
    case OP_EXISTS:
        res = present;
        break;
    case OP_NEXISTS:
        res = !present;
        break;
    case OP_EQ:
        res = present && any_eq(x, f->value, false);
        break;
    case OP_NEQ:
        res = !present || !any_eq(x, f->value, false);
        break;
    case OP_CONTAINS:
        res = present && any_eq(x, f->value, true);
        break;
    case OP_NCONTAINS:
        res = !present || !any_eq(x, f->value, true);
        break;
    default: {
        double n = 0;
        res = present &&
              (is_time(f) ? time_value(x, &n) : cJSON_IsNumber(x) && (n = x->valuedouble, true)) &&
              in_range(f, n);
    }
    }
    cJSON_Delete(tmp);
    return res;
}

typedef struct qry {
    char text[80];
    bool on;
    const char *const *keys;
    bool names; /* contacts: also "first last" */
} qry;

static bool query_match(const qry *q, cview *v)
{
    for (int i = 0; q->keys[i]; i++) {
        const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(data(v), q->keys[i]));
        if (s && hs_ci_contains(s, q->text, false))
            return true;
    }
    if (!q->names)
        return false;
    const char *fn = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(data(v), "firstName"));
    const char *ln = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(data(v), "lastName"));
    if (fn && ln) {
        char full[600];
        snprintf(full, sizeof full, "%s %s", fn, ln);
        return hs_ci_contains(full, q->text, false);
    }
    return false;
}

static bool matches(const cfilt *root, const qry *q, const hs_rec *r)
{
    if (!root && !q->on)
        return true;
    cview v = {r, NULL, false};
    bool ok = (!q->on || query_match(q, &v)) && (!root || eval(root, &v));
    cJSON_Delete(v.d);
    return ok;
}

/* ---- sort ---------------------------------------------------------------------------------- */

typedef struct skey {
    int kind; /* 0 missing, 1 number, 2 string */
    double num;
    char *str;
} skey;

typedef struct sspec {
    int n;
    int field[2]; /* F_ADDED, F_UPDATED or -1 (then key holds the data key) */
    const char *key[2];
    bool desc[2];
} sspec;

typedef struct cand {
    hs_rec *r;
    skey k[2];
} cand;

static int skey_cmp(const skey *a, const skey *b)
{
    if (a->kind == 0 || b->kind == 0) /* missing values last in either direction */
        return a->kind == b->kind ? 0 : a->kind == 0 ? 2 : -2;
    if (a->kind != b->kind)
        return a->kind < b->kind ? -1 : 1;
    if (a->kind == 1)
        return a->num < b->num ? -1 : a->num > b->num ? 1 : 0;
    return strcmp(a->str, b->str);
}

static int cand_cmp_dir(const cand *a, const cand *b, const sspec *sp)
{
    for (int i = 0; i < sp->n; i++) {
        int c = skey_cmp(&a->k[i], &b->k[i]);
        if (c == 2 || c == -2)
            return c / 2;
        if (c)
            return sp->desc[i] ? -c : c;
    }
    int c = strcmp(a->r->id, b->r->id);
    return sp->n && sp->desc[sp->n - 1] ? -c : c;
}

static int cand_cmp(const void *a, const void *b, void *sp)
{
    return cand_cmp_dir(a, b, sp);
}

static void cand_keys(cand *cd, const sspec *sp)
{
    cJSON *d = NULL;
    for (int i = 0; i < sp->n; i++) {
        skey *k = &cd->k[i];
        k->kind = 1;
        k->str = NULL;
        if (sp->field[i] == F_ADDED || sp->field[i] == F_UPDATED) {
            k->num = (double)(sp->field[i] == F_ADDED ? cd->r->created : cd->r->updated);
            continue;
        }
        if (!d)
            d = cJSON_Parse(cd->r->props ? cd->r->props : "{}");
        const cJSON *x = cJSON_GetObjectItemCaseSensitive(d, sp->key[i]);
        if (!strcmp(sp->key[i], "dnd") && !x) {
            k->num = 0;
        } else if (cJSON_IsBool(x)) {
            k->num = cJSON_IsTrue(x);
        } else if (cJSON_IsNumber(x)) {
            k->num = x->valuedouble;
        } else if (cJSON_IsString(x) && x->valuestring[0]) {
            k->kind = 2;
            k->str = strdup(x->valuestring);
            hs_fold(k->str);
        } else {
            k->kind = 0;
        }
    }
    cJSON_Delete(d);
}

static void cand_after(const cand *cd, const sspec *sp, hs_buf *b)
{
    hs_buf_puts(b, "[");
    for (int i = 0; i < sp->n; i++) {
        if (cd->k[i].kind == 1)
            hs_buf_printf(b, "%.17g,", cd->k[i].num);
        else if (cd->k[i].kind == 2) {
            hs_buf_json_str(b, cd->k[i].str);
            hs_buf_puts(b, ",");
        } else
            hs_buf_puts(b, "null,");
    }
    hs_buf_json_str(b, cd->r->id);
    hs_buf_puts(b, "]");
}

/* index positions [lo, hi) of ix allowed by range filters on its own time field (top-level AND
 * leaves only) */
static void time_bounds(const cfilt *root, int tf, const hs_object *o, const hs_index *ix,
                        size_t *lo, size_t *hi)
{
    *lo = 0;
    *hi = ix->n;
    if (!root)
        return;
    for (int i = 0; i < root->nkids; i++) {
        const cfilt *f = &root->kids[i];
        if (f->node != N_LEAF || f->kind != tf || f->op != OP_RANGE)
            continue;
        size_t p;
        if (f->has[0] && (p = hs_ix_lower(o, ix, (int64_t)ceil(f->num[0]), "")) > *lo)
            *lo = p;
        if (f->has[1] && (p = hs_ix_lower(o, ix, (int64_t)floor(f->num[1]), "~")) > *lo)
            *lo = p;
        if (f->has[2] && (p = hs_ix_lower(o, ix, (int64_t)floor(f->num[2]), "~")) < *hi)
            *hi = p;
        if (f->has[3] && (p = hs_ix_lower(o, ix, (int64_t)ceil(f->num[3]), "")) < *hi)
            *hi = p;
    }
    if (*lo > *hi)
        *lo = *hi;
}

/* every top-level filter is an integral range on tf, so the bounds alone decide */
static bool only_bounds(const cfilt *root, int tf)
{
    for (int i = 0; root && i < root->nkids; i++) {
        const cfilt *f = &root->kids[i];
        if (f->node != N_LEAF || f->kind != tf || f->op != OP_RANGE)
            return false;
        for (int k = 0; k < 4; k++)
            if (f->has[k] && f->num[k] != floor(f->num[k]))
                return false;
    }
    return true;
}

static bool parse_sort(const sdesc *d, const cJSON *js, sspec *sp, cJSON *errs)
{
    char m[300];
    memset(sp, 0, sizeof *sp);
    if (cJSON_GetArraySize(js) > 2) {
        e422(errs, "sort: at most 2 sort fields can be combined");
        return false;
    }
    const cJSON *s;
    cJSON_ArrayForEach(s, js)
    {
        const cJSON *it;
        cJSON_ArrayForEach(it, s)
        {
            if (strcmp(it->string, "field") && strcmp(it->string, "direction")) {
                snprintf(m, sizeof m, "sort: property %.100s should not exist", it->string);
                e422(errs, m);
                return false;
            }
        }
        const char *fld = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(s, "field"));
        const char *dir = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(s, "direction"));
        if (!cJSON_IsObject(s) || !fld || (dir && strcmp(dir, "asc") && strcmp(dir, "desc")) ||
            (cJSON_GetObjectItemCaseSensitive(s, "direction") && !dir)) {
            e422(errs, "sort: each item is {\"field\": string, \"direction\": \"asc\"|\"desc\"}");
            return false;
        }
        int k = -1;
        for (size_t i = 0; i < d->nsorts; i++)
            if (!strcmp(d->sorts[i].name, fld))
                k = (int)i;
        if (k < 0) {
            snprintf(m, sizeof m, "sort: %.200s is not a sortable field", fld);
            e422(errs, m);
            return false;
        }
        sp->field[sp->n] = d->sorts[k].field;
        sp->key[sp->n] = d->sorts[k].key;
        sp->desc[sp->n] = dir && !strcmp(dir, "desc");
        sp->n++;
    }
    return true;
}

/* cursor: [v1, (v2,) id] as sent in a contact's searchAfter */
static bool parse_cursor(const cJSON *sa, const sspec *sp, cand *cur, hs_rec *fake, cJSON *errs)
{
    int want = (sp->n ? sp->n : 1) + 1;
    if (cJSON_GetArraySize(sa) != want) {
        e422(errs, "searchAfter must be the searchAfter array of a contact of the same search");
        return false;
    }
    const cJSON *id = cJSON_GetArrayItem(sa, want - 1);
    if (!cJSON_IsString(id) || strlen(id->valuestring) >= sizeof fake->id) {
        e422(errs, "searchAfter: the last element must be a contact id");
        return false;
    }
    memset(fake, 0, sizeof *fake);
    snprintf(fake->id, sizeof fake->id, "%s", id->valuestring);
    cur->r = fake;
    for (int i = 0; i < want - 1; i++) {
        const cJSON *v = cJSON_GetArrayItem(sa, i);
        skey *k = &cur->k[i];
        bool timef = sp->n == 0 || sp->field[i] == F_ADDED || sp->field[i] == F_UPDATED;
        k->str = NULL;
        if (cJSON_IsNumber(v) && (!timef || (v->valuedouble > -1e15 && v->valuedouble < 1e15))) {
            k->kind = 1;
            k->num = v->valuedouble;
        } else if (cJSON_IsString(v) && !timef) {
            k->kind = 2;
            k->str = strdup(v->valuestring);
        } else if (cJSON_IsNull(v) && !timef) {
            k->kind = 0;
        } else {
            e422(errs, "searchAfter: a sort value has the wrong type");
            return false;
        }
    }
    return true;
}

int hs_family_search(hs_ctx *c, hs_loc *l, hs_object *o, int family, const cJSON *body, hs_buf *out,
                     cJSON *errs)
{
    const sdesc *d = &descs[family == HS_FAM_OPPORTUNITIES];
    char m[400];
    const cJSON *it;
    cJSON_ArrayForEach(it, body)
    {
        static const char *const allowed[] = {"locationId",  "page",    "query",
                                              "searchAfter", "filters", "sort"};
        bool ok = !strcmp(it->string, d->limit_key) ||
                  (d->extra_key && !strcmp(it->string, d->extra_key));
        for (int i = 0; i < 6; i++)
            ok |= !strcmp(it->string, allowed[i]);
        if (!ok) {
            snprintf(m, sizeof m, "property %.200s should not exist", it->string);
            e422(errs, m);
        }
    }
    const cJSON *jloc = cJSON_GetObjectItemCaseSensitive(body, "locationId");
    const cJSON *jpage = cJSON_GetObjectItemCaseSensitive(body, "page");
    const cJSON *jlim = cJSON_GetObjectItemCaseSensitive(body, d->limit_key);
    const cJSON *jq = cJSON_GetObjectItemCaseSensitive(body, "query");
    const cJSON *jsa = cJSON_GetObjectItemCaseSensitive(body, "searchAfter");
    const cJSON *jf = cJSON_GetObjectItemCaseSensitive(body, "filters");
    const cJSON *js = cJSON_GetObjectItemCaseSensitive(body, "sort");
    long page = 1, limit = 0;
    if (!cJSON_IsString(jloc) || !jloc->valuestring[0])
        e422(errs, "locationId should not be empty");
    if (jpage) {
        if (!cJSON_IsNumber(jpage) || jpage->valuedouble != floor(jpage->valuedouble) ||
            jpage->valuedouble < 1 || jpage->valuedouble > 1e9)
            e422(errs, "page must be a positive integer");
        else
            page = (long)jpage->valuedouble;
    }
    snprintf(m, sizeof m, "%s should not be empty", d->limit_key);
    if (!jlim)
        e422(errs, m);
    else if (!cJSON_IsNumber(jlim) || jlim->valuedouble != floor(jlim->valuedouble))
        snprintf(m, sizeof m, "%s must be an integer number", d->limit_key), e422(errs, m);
    else if (jlim->valuedouble > 500)
        snprintf(m, sizeof m, "%s must not be greater than 500", d->limit_key), e422(errs, m);
    else if (jlim->valuedouble < 1)
        snprintf(m, sizeof m, "%s must not be less than 1", d->limit_key), e422(errs, m);
    else
        limit = (long)jlim->valuedouble;
    if (jq && !cJSON_IsString(jq))
        e422(errs, "query must be a string");
    else if (jq && strlen(jq->valuestring) > 75)
        e422(errs, "query must be shorter than or equal to 75 characters");
    if (jsa && !cJSON_IsArray(jsa))
        e422(errs, "searchAfter must be an array");
    if (jf && !cJSON_IsArray(jf))
        e422(errs, "filters must be an array");
    if (js && !cJSON_IsArray(js))
        e422(errs, "sort must be an array");
    if (cJSON_GetArraySize(errs))
        return 422;

    sspec sp;
    const cJSON *jx = d->extra_key ? cJSON_GetObjectItemCaseSensitive(body, d->extra_key) : NULL;
    if (jx) {
        /* additionalDetails {notes, tasks, calendarEvents, unReadConversations}: booleans */
        bool ok = cJSON_IsObject(jx);
        cJSON_ArrayForEach(it, jx) ok =
            ok && cJSON_IsBool(it) &&
            (!strcmp(it->string, "notes") || !strcmp(it->string, "tasks") ||
             !strcmp(it->string, "calendarEvents") || !strcmp(it->string, "unReadConversations"));
        if (!ok) {
            e422(errs,
                 "additionalDetails must be {notes, tasks, calendarEvents, unReadConversations} "
                 "booleans");
            return 422;
        }
    }
    if (js && !parse_sort(d, js, &sp, errs))
        return 422;
    if (!js || c->sw.sort_off)
        memset(&sp, 0, sizeof sp);

    cfilt root = {0};
    cfilt *rootp = NULL;
    if (jf && cJSON_GetArraySize(jf) > 0) {
        if (c->sw.filters == FILTERS_REJECT) {
            e422(errs, "property filters should not exist");
            return 422;
        }
    }
    /* "ignore" drops the filters unread, as the records search does */
    if (jf && cJSON_GetArraySize(jf) > 0 && c->sw.filters == FILTERS_ON) {
        root.node = N_AND;
        root.nkids = cJSON_GetArraySize(jf);
        root.kids = calloc((size_t)root.nkids, sizeof *root.kids);
        int i = 0;
        bool ok = true;
        cJSON_ArrayForEach(it, jf) ok = ok && compile(d, o, it, &root.kids[i++], errs, 1);
        if (!ok) {
            free_filt(&root);
            return 422;
        }
        rootp = &root;
    }
    qry q = {{0}, false, d->qkeys, family == HS_FAM_CONTACTS};
    if (jq && jq->valuestring[0]) {
        snprintf(q.text, sizeof q.text, "%s", jq->valuestring);
        q.on = true;
    }
    bool use_cursor = jsa && cJSON_GetArraySize(jsa) > 0;
    cand cur;
    hs_rec fake;
    memset(&cur, 0, sizeof cur);
    if (use_cursor && !parse_cursor(jsa, &sp, &cur, &fake, errs)) {
        free_filt(&root);
        free(cur.k[0].str);
        free(cur.k[1].str);
        return 422;
    }
    if (!use_cursor && page * limit > 10000) {
        snprintf(m, sizeof m, "page * %s must not exceed 10000: use searchAfter to read further",
                 d->limit_key);
        e422(errs, m);
        free_filt(&root);
        return 422;
    }
    long want = limit;
    if (c->sw.page_cap > 0 && want > c->sw.page_cap)
        want = c->sw.page_cap;
    long skip = use_cursor ? 0 : (page - 1) * limit;
    hs_rec **pagev = calloc((size_t)want + 1, sizeof *pagev);
    hs_buf *afters = NULL;
    long npage = 0;
    long long total = 0;

    bool indexed = sp.n == 0 || (sp.n == 1 && sp.field[0] >= 0);
    if (indexed) {
        int tf = sp.n ? sp.field[0] : F_ADDED;
        bool desc = sp.n && sp.desc[0];
        const hs_index *ix = tf == F_ADDED ? &o->by_created : &o->by_updated;
        size_t lo, hi;
        time_bounds(rootp, tf, o, ix, &lo, &hi);
        bool pure = !q.on && only_bounds(rootp, tf);
        if (use_cursor) {
            int64_t ms = (int64_t)cur.k[0].num;
            size_t p = hs_ix_lower(o, ix, ms, fake.id);
            if (!desc) {
                const hs_rec *r = p < ix->n ? ix->v[p] : NULL;
                if (r && (tf == F_ADDED ? r->created : r->updated) == ms && !strcmp(r->id, fake.id))
                    p++;
                for (size_t i = p > lo ? p : lo; i < hi && npage < want; i++)
                    if (pure || matches(rootp, &q, ix->v[i]))
                        pagev[npage++] = ix->v[i];
            } else {
                for (size_t i = p < hi ? p : hi; i > lo && npage < want; i--)
                    if (pure || matches(rootp, &q, ix->v[i - 1]))
                        pagev[npage++] = ix->v[i - 1];
            }
        } else if (pure) {
            size_t n = hi - lo;
            for (long k = 0; k < want && (size_t)(skip + k) < n; k++)
                pagev[npage++] =
                    desc ? ix->v[hi - 1 - (size_t)(skip + k)] : ix->v[lo + (size_t)(skip + k)];
        } else {
            long seen = 0;
            for (size_t k = 0; k < hi - lo && npage < want; k++) {
                hs_rec *r = desc ? ix->v[hi - 1 - k] : ix->v[lo + k];
                if (matches(rootp, &q, r) && seen++ >= skip)
                    pagev[npage++] = r;
            }
        }
        if (!c->sw.omit_total) {
            if (pure)
                total = (long long)(hi - lo);
            else
                for (size_t i = lo; i < hi; i++)
                    total += matches(rootp, &q, ix->v[i]);
        }
        afters = calloc((size_t)npage + 1, sizeof *afters);
        for (long i = 0; i < npage; i++)
            hs_buf_printf(&afters[i], "[%lld,\"%s\"]",
                          (long long)(tf == F_ADDED ? pagev[i]->created : pagev[i]->updated),
                          pagev[i]->id);
    } else {
        size_t n = 0, cap = o->by_created.n;
        cand *cv = calloc(cap + 1, sizeof *cv);
        for (size_t i = 0; i < cap; i++) {
            hs_rec *r = o->by_created.v[i];
            if (matches(rootp, &q, r)) {
                cv[n].r = r;
                cand_keys(&cv[n], &sp);
                n++;
            }
        }
        qsort_r(cv, n, sizeof *cv, cand_cmp, &sp);
        total = (long long)n;
        size_t start = (size_t)skip;
        if (use_cursor) {
            start = 0;
            while (start < n && cand_cmp_dir(&cv[start], &cur, &sp) <= 0)
                start++;
        }
        afters = calloc((size_t)want + 1, sizeof *afters);
        for (size_t i = start; i < n && npage < want; i++) {
            cand_after(&cv[i], &sp, &afters[npage]);
            pagev[npage++] = cv[i].r;
        }
        for (size_t i = 0; i < n; i++) {
            free(cv[i].k[0].str);
            free(cv[i].k[1].str);
        }
        free(cv);
    }

    hs_buf_printf(out, "{\"%s\":[", d->list_key);
    for (long i = 0; i < npage; i++) {
        if (i)
            hs_buf_puts(out, ",");
        if (family == HS_FAM_CONTACTS)
            hs_contact_render(out, c, l, o, pagev[i], CV_SEARCH, afters[i].d);
        else
            hs_opp_render(out, c, l, o, pagev[i], OV_POST_SEARCH, afters[i].d);
        free(afters[i].d);
    }
    hs_buf_puts(out, "]");
    if (!c->sw.omit_total)
        hs_buf_printf(out, ",\"total\":%lld", total);
    if (d->aggregations)
        hs_buf_puts(out, ",\"aggregations\":{}");
    hs_buf_puts(out, "}");
    free(afters);
    free(pagev);
    free(cur.k[0].str);
    free(cur.k[1].str);
    free_filt(&root);
    return 200;
}
