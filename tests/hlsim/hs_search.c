/*
 * hs_search.c - POST /objects/{schemaKey}/records/search: body validation, filters, sort,
 * page / searchAfter paging and total.
 *
 * Sorting by createdAt or updatedAt walks the matching sorted index from a binary-searched start
 * (the cursor, the range bound of a filter on the same field, or a page offset), so a page costs
 * O(log n + pageLimit) when the filter is only a time range. Other filters are evaluated per
 * record while walking; an exact total then needs one pass over the range. Sorting by a property
 * gathers the matches and sorts them (O(m log m)); see README.md.
 */
#include "hlsim.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum { SF_CREATED, SF_UPDATED, SF_PROP };
enum { OP_EQ, OP_NEQ, OP_CONTAINS, OP_NCONTAINS, OP_EXISTS, OP_NEXISTS, OP_RANGE };
enum { FN_LEAF, FN_AND, FN_OR };

typedef struct filt {
    int kind;
    int field; /* SF_CREATED, SF_UPDATED, SF_PROP */
    char prop[256];
    int op;
    const cJSON *value; /* borrowed from the request body */
    bool has[4];        /* gte, gt, lte, lt */
    double num[4];      /* numeric bounds (ms for times) */
    const char *str[4]; /* string bounds (properties) */
    struct filt *kids;
    int nkids;
} filt;

typedef struct qry {
    const char *key; /* short key or NULL for any searchable */
    char text[256];
    char keys[32][256]; /* searchable short keys */
    int nkeys;
} qry;

typedef struct sctx {
    filt *root;
    qry q;
    bool has_query;
} sctx;

static void e422(cJSON *errs, const char *msg)
{
    cJSON_AddItemToArray(errs, cJSON_CreateString(msg));
}

static void free_filt(filt *f)
{
    for (int i = 0; i < f->nkids; i++)
        free_filt(&f->kids[i]);
    free(f->kids);
}

static bool bound_value(const cJSON *v, int field, double *num, const char **str)
{
    *str = NULL;
    if (field != SF_PROP) {
        int64_t ms;
        if (cJSON_IsNumber(v)) {
            *num = v->valuedouble;
            return true;
        }
        if (cJSON_IsString(v) && hs_parse_iso_ms(v->valuestring, &ms)) {
            *num = (double)ms;
            return true;
        }
        return false;
    }
    if (cJSON_IsNumber(v)) {
        *num = v->valuedouble;
        return true;
    }
    if (cJSON_IsString(v)) {
        *str = v->valuestring;
        return true;
    }
    return false;
}

static bool compile(const hs_object *o, const cJSON *j, filt *f, cJSON *errs, int depth)
{
    char m[400];
    memset(f, 0, sizeof *f);
    if (!cJSON_IsObject(j)) {
        e422(errs, "filters: each filter must be an object");
        return false;
    }
    if (depth > 8) {
        e422(errs, "filters: nested too deeply");
        return false;
    }
    const cJSON *grp = cJSON_GetObjectItemCaseSensitive(j, "group");
    if (grp) {
        const cJSON *it;
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
        if (!g || (strcmp(g, "AND") && strcmp(g, "OR"))) {
            e422(errs, "filters: group must be \"AND\" or \"OR\"");
            return false;
        }
        const cJSON *kids = cJSON_GetObjectItemCaseSensitive(j, "filters");
        if (!cJSON_IsArray(kids)) {
            e422(errs, "filters: a group needs a \"filters\" array");
            return false;
        }
        f->kind = strcmp(g, "AND") == 0 ? FN_AND : FN_OR;
        f->nkids = cJSON_GetArraySize(kids);
        f->kids = calloc((size_t)f->nkids + 1, sizeof *f->kids);
        int i = 0;
        cJSON_ArrayForEach(it, kids)
        {
            if (!compile(o, it, &f->kids[i++], errs, depth + 1))
                return false;
        }
        return true;
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, j)
    {
        if (strcmp(it->string, "field") && strcmp(it->string, "operator") &&
            strcmp(it->string, "value")) {
            snprintf(m, sizeof m, "filters: property %.100s should not exist", it->string);
            e422(errs, m);
            return false;
        }
    }
    f->kind = FN_LEAF;
    const char *field = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "field"));
    const char *op = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "operator"));
    f->value = cJSON_GetObjectItemCaseSensitive(j, "value");
    if (!field || !op) {
        e422(errs, "filters: each filter needs string \"field\" and \"operator\"");
        return false;
    }
    if (strcmp(field, "createdAt") == 0) {
        f->field = SF_CREATED;
    } else if (strcmp(field, "updatedAt") == 0) {
        f->field = SF_UPDATED;
    } else if (strncmp(field, "properties.", 11) == 0) {
        f->field = SF_PROP;
        snprintf(f->prop, sizeof f->prop, "%s", field + 11);
        char base[256];
        snprintf(base, sizeof base, "%s", f->prop);
        char *dot = strchr(base, '.');
        if (dot)
            *dot = 0;
        const cJSON *fd = hs_field_find(o, base);
        if (!fd || strcmp(hs_field_short(fd), base) != 0) {
            snprintf(m, sizeof m, "filters: unknown field %.200s", field);
            e422(errs, m);
            return false;
        }
    } else {
        snprintf(m, sizeof m,
                 "filters: unknown field %.200s (use createdAt, updatedAt or properties.<key>)",
                 field);
        e422(errs, m);
        return false;
    }
    static const char *const ops[] = {"eq",     "not_eq",     "contains", "not_contains",
                                      "exists", "not_exists", "range"};
    f->op = -1;
    for (int i = 0; i < 7; i++)
        if (strcmp(op, ops[i]) == 0)
            f->op = i;
    if (f->op < 0) {
        snprintf(m, sizeof m, "filters: unknown operator %.100s", op);
        e422(errs, m);
        return false;
    }
    if (f->op == OP_RANGE) {
        static const char *const names[] = {"gte", "gt", "lte", "lt"};
        if (!cJSON_IsObject(f->value)) {
            e422(errs, "filters: range needs an object value {gte,gt,lte,lt}");
            return false;
        }
        cJSON_ArrayForEach(it, f->value)
        {
            int k = -1;
            for (int i = 0; i < 4; i++)
                if (strcmp(it->string, names[i]) == 0)
                    k = i;
            if (k < 0 || !bound_value(it, f->field, &f->num[k], &f->str[k])) {
                snprintf(m, sizeof m, "filters: bad range bound %.60s for %.150s", it->string,
                         field);
                e422(errs, m);
                return false;
            }
            f->has[k] = true;
        }
        return true;
    }
    if (f->op == OP_EXISTS || f->op == OP_NEXISTS)
        return true;
    if (!(cJSON_IsString(f->value) || cJSON_IsNumber(f->value) || cJSON_IsBool(f->value))) {
        snprintf(m, sizeof m, "filters: %.100s needs a string, number or boolean value", op);
        e422(errs, m);
        return false;
    }
    if (f->field != SF_PROP && f->op != OP_EQ && f->op != OP_NEQ) {
        e422(errs, "filters: createdAt/updatedAt support eq, not_eq, exists, not_exists and range");
        return false;
    }
    if (f->field != SF_PROP && !bound_value(f->value, f->field, &f->num[0], &f->str[0])) {
        e422(errs, "filters: time value must be an ISO-8601 string or epoch milliseconds");
        return false;
    }
    return true;
}

/* ---- evaluation ---------------------------------------------------------------------------- */

typedef struct rview {
    const hs_rec *r;
    cJSON *props; /* parsed lazily */
    bool parsed;
} rview;

static cJSON *props_of(rview *v)
{
    if (!v->parsed) {
        v->props = cJSON_Parse(v->r->props);
        v->parsed = true;
    }
    return v->props;
}

static bool scalar_eq(const cJSON *a, const cJSON *want)
{
    if (cJSON_IsObject(a))
        a = cJSON_GetObjectItemCaseSensitive(a, "value");
    if (!a)
        return false;
    if (cJSON_IsString(a) && cJSON_IsString(want))
        return strcmp(a->valuestring, want->valuestring) == 0;
    if (cJSON_IsNumber(a) && cJSON_IsNumber(want))
        return a->valuedouble == want->valuedouble;
    if (cJSON_IsNumber(a) && cJSON_IsString(want))
        return a->valuedouble == strtod(want->valuestring, NULL);
    if (cJSON_IsBool(a) && cJSON_IsBool(want))
        return cJSON_IsTrue(a) == cJSON_IsTrue(want);
    return false;
}

static bool prop_eq(const cJSON *v, const cJSON *want)
{
    if (cJSON_IsArray(v)) {
        const cJSON *it;
        cJSON_ArrayForEach(it, v)
        {
            if (scalar_eq(it, want))
                return true;
        }
        return false;
    }
    return scalar_eq(v, want);
}

static bool prop_contains(const cJSON *v, const cJSON *want)
{
    if (cJSON_IsArray(v))
        return prop_eq(v, want);
    if (cJSON_IsString(v) && cJSON_IsString(want))
        return strcasestr(v->valuestring, want->valuestring) != NULL;
    return scalar_eq(v, want);
}

static bool in_range(const filt *f, double n, const char *s)
{
    for (int k = 0; k < 4; k++) {
        if (!f->has[k])
            continue;
        int c;
        if (f->str[k]) {
            if (!s)
                return false;
            c = strcmp(s, f->str[k]);
        } else {
            if (s)
                return false;
            c = n < f->num[k] ? -1 : n > f->num[k] ? 1 : 0;
        }
        if ((k == 0 && c < 0) || (k == 1 && c <= 0) || (k == 2 && c > 0) || (k == 3 && c >= 0))
            return false;
    }
    return true;
}

static bool eval(const filt *f, rview *v)
{
    if (f->kind == FN_AND) {
        for (int i = 0; i < f->nkids; i++)
            if (!eval(&f->kids[i], v))
                return false;
        return true;
    }
    if (f->kind == FN_OR) {
        for (int i = 0; i < f->nkids; i++)
            if (eval(&f->kids[i], v))
                return true;
        return f->nkids == 0;
    }
    if (f->field != SF_PROP) {
        double t = (double)(f->field == SF_CREATED ? v->r->created : v->r->updated);
        switch (f->op) {
        case OP_EQ:
            return t == f->num[0];
        case OP_NEQ:
            return t != f->num[0];
        case OP_EXISTS:
            return true;
        case OP_NEXISTS:
            return false;
        default:
            return in_range(f, t, NULL);
        }
    }
    cJSON *p = props_of(v);
    const cJSON *x = p ? cJSON_GetObjectItemCaseSensitive(p, f->prop) : NULL;
    bool present = x && !cJSON_IsNull(x) && !(cJSON_IsString(x) && !x->valuestring[0]) &&
                   !(cJSON_IsArray(x) && cJSON_GetArraySize(x) == 0);
    switch (f->op) {
    case OP_EXISTS:
        return present;
    case OP_NEXISTS:
        return !present;
    case OP_EQ:
        return present && prop_eq(x, f->value);
    case OP_NEQ:
        return !present || !prop_eq(x, f->value);
    case OP_CONTAINS:
        return present && prop_contains(x, f->value);
    case OP_NCONTAINS:
        return !present || !prop_contains(x, f->value);
    default:
        if (!present)
            return false;
        if (cJSON_IsObject(x))
            x = cJSON_GetObjectItemCaseSensitive(x, "value");
        if (cJSON_IsNumber(x))
            return in_range(f, x->valuedouble, NULL);
        if (cJSON_IsString(x))
            return in_range(f, 0, x->valuestring);
        return false;
    }
}

static bool query_match(const qry *q, rview *v)
{
    /* cheap pre-check on the raw text before parsing */
    if (!strcasestr(v->r->props, q->text))
        return false;
    cJSON *p = props_of(v);
    if (!p)
        return false;
    for (int i = 0; i < q->nkeys; i++) {
        if (q->key && strcmp(q->key, q->keys[i]) != 0)
            continue;
        const cJSON *x = cJSON_GetObjectItemCaseSensitive(p, q->keys[i]);
        if (cJSON_IsString(x) && strcasestr(x->valuestring, q->text))
            return true;
        if (cJSON_IsNumber(x)) {
            char n[64];
            snprintf(n, sizeof n, "%.15g", x->valuedouble);
            if (strcmp(n, q->text) == 0)
                return true;
        }
    }
    return false;
}

static bool matches(const sctx *s, const hs_rec *r)
{
    if (!s->root && !s->has_query)
        return true;
    rview v = {r, NULL, false};
    bool ok = (!s->has_query || query_match(&s->q, &v)) && (!s->root || eval(s->root, &v));
    cJSON_Delete(v.props);
    return ok;
}

/* ---- sort values ---------------------------------------------------------------------------- */

typedef struct cand {
    hs_rec *r;
    int kind; /* 0 missing, 1 number, 2 string */
    double num;
    char *str;
} cand;

typedef struct sortspec {
    int sf;
    bool desc;
    char prop[256];
} sortspec;

static int cand_cmp_dir(const cand *a, const cand *b, const sortspec *sp)
{
    int c;
    if (sp->sf != SF_PROP) {
        int64_t x = sp->sf == SF_CREATED ? a->r->created : a->r->updated;
        int64_t y = sp->sf == SF_CREATED ? b->r->created : b->r->updated;
        c = x < y ? -1 : x > y ? 1 : 0;
    } else {
        /* missing values sort last in either direction */
        if (a->kind == 0 || b->kind == 0) {
            if (a->kind != b->kind)
                return a->kind == 0 ? 1 : -1;
            c = 0;
        } else if (a->kind != b->kind) {
            c = a->kind < b->kind ? -1 : 1;
        } else if (a->kind == 1) {
            c = a->num < b->num ? -1 : a->num > b->num ? 1 : 0;
        } else {
            c = strcmp(a->str, b->str);
        }
    }
    if (c == 0)
        c = strcmp(a->r->id, b->r->id);
    return sp->desc ? -c : c;
}

static int cand_cmp(const void *a, const void *b, void *sp)
{
    return cand_cmp_dir(a, b, sp);
}

static void cand_value(cand *cd, const sortspec *sp)
{
    cd->kind = 0;
    cd->str = NULL;
    if (sp->sf != SF_PROP)
        return;
    cJSON *p = cJSON_Parse(cd->r->props);
    const cJSON *x = p ? cJSON_GetObjectItemCaseSensitive(p, sp->prop) : NULL;
    if (cJSON_IsObject(x))
        x = cJSON_GetObjectItemCaseSensitive(x, "value");
    if (cJSON_IsArray(x))
        x = cJSON_GetArrayItem(x, 0);
    if (cJSON_IsNumber(x)) {
        cd->kind = 1;
        cd->num = x->valuedouble;
    } else if (cJSON_IsString(x)) {
        cd->kind = 2;
        cd->str = strdup(x->valuestring);
    }
    cJSON_Delete(p);
}

static void cand_after_json(const cand *cd, const sortspec *sp, char *out, size_t len)
{
    if (sp->sf == SF_CREATED || sp->sf == SF_UPDATED) {
        snprintf(out, len, "[%lld,\"%s\"]",
                 (long long)(sp->sf == SF_CREATED ? cd->r->created : cd->r->updated), cd->r->id);
        return;
    }
    if (cd->kind == 1) {
        snprintf(out, len, "[%.17g,\"%s\"]", cd->num, cd->r->id);
    } else if (cd->kind == 2) {
        hs_buf b = {0};
        hs_buf_puts(&b, "[");
        hs_buf_json_str(&b, cd->str);
        hs_buf_printf(&b, ",\"%s\"]", cd->r->id);
        snprintf(out, len, "%s", b.d);
        free(b.d);
    } else {
        snprintf(out, len, "[null,\"%s\"]", cd->r->id);
    }
}

/* ---- main ----------------------------------------------------------------------------------- */

static void time_bounds(const filt *root, int sf, const hs_object *o, const hs_index *ix,
                        size_t *lo, size_t *hi)
{
    *lo = 0;
    *hi = ix->n;
    if (!root)
        return;
    const filt *leaves = root->kind == FN_AND ? root->kids : root;
    int n = root->kind == FN_AND ? root->nkids : 1;
    for (int i = 0; i < n; i++) {
        const filt *f = &leaves[i];
        if (f->kind != FN_LEAF || f->field != sf || (f->op != OP_RANGE && f->op != OP_EQ))
            continue;
        double b[4];
        bool has[4];
        memcpy(b, f->num, sizeof b);
        memcpy(has, f->has, sizeof has);
        if (f->op == OP_EQ) {
            has[0] = has[2] = true;
            has[1] = has[3] = false;
            b[0] = b[2] = f->num[0];
        }
        /* ms bounds -> index positions; ids "" sort before and "~" after every hex id */
        if (has[0]) {
            size_t p = hs_ix_lower(o, ix, (int64_t)ceil(b[0]), "");
            if (p > *lo)
                *lo = p;
        }
        if (has[1]) {
            size_t p = hs_ix_lower(o, ix, (int64_t)floor(b[1]), "~");
            if (p > *lo)
                *lo = p;
        }
        if (has[2]) {
            size_t p = hs_ix_lower(o, ix, (int64_t)floor(b[2]), "~");
            if (p < *hi)
                *hi = p;
        }
        if (has[3]) {
            size_t p = hs_ix_lower(o, ix, (int64_t)ceil(b[3]), "");
            if (p < *hi)
                *hi = p;
        }
    }
    if (*lo > *hi)
        *lo = *hi;
}

/* true when the filter is nothing but time bounds on the sort field (already applied by
 * time_bounds), so every record between the bounds matches */
static bool only_bounds(const filt *root, int sf)
{
    if (!root)
        return true;
    const filt *leaves = root->kind == FN_AND ? root->kids : root;
    int n = root->kind == FN_AND ? root->nkids : 1;
    if (root->kind == FN_OR)
        return false;
    for (int i = 0; i < n; i++) {
        const filt *f = &leaves[i];
        if (f->kind != FN_LEAF || f->field != sf || (f->op != OP_RANGE && f->op != OP_EQ))
            return false;
        if (f->op == OP_RANGE && (f->num[0] != floor(f->num[0]) || f->num[1] != floor(f->num[1]) ||
                                  f->num[2] != floor(f->num[2]) || f->num[3] != floor(f->num[3])))
            return false;
    }
    return true;
}

static bool parse_cursor(const cJSON *sa, const sortspec *sp, cand *cur, cJSON *errs)
{
    if (cJSON_GetArraySize(sa) != 2) {
        e422(errs, "searchAfter must be [<sort value>, \"<record id>\"] as sent in a record's "
                   "searchAfter");
        return false;
    }
    const cJSON *v = cJSON_GetArrayItem(sa, 0), *id = cJSON_GetArrayItem(sa, 1);
    if (!cJSON_IsString(id)) {
        e422(errs, "searchAfter: the second element must be a record id string");
        return false;
    }
    cur->str = NULL;
    if (sp->sf != SF_PROP) {
        int64_t ms;
        if (cJSON_IsNumber(v))
            ms = (int64_t)v->valuedouble;
        else if (!(cJSON_IsString(v) && hs_parse_iso_ms(v->valuestring, &ms))) {
            e422(errs, "searchAfter: the first element must be epoch milliseconds");
            return false;
        }
        cur->num = (double)ms;
        cur->kind = 1;
    } else if (cJSON_IsNumber(v)) {
        cur->kind = 1;
        cur->num = v->valuedouble;
    } else if (cJSON_IsString(v)) {
        cur->kind = 2;
        cur->str = strdup(v->valuestring);
    } else {
        cur->kind = 0;
    }
    return true;
}

int hs_search(hs_ctx *c, hs_loc *l, hs_object *o, const cJSON *body, hs_buf *out, cJSON *errs)
{
    char m[400];
    const cJSON *it;
    cJSON_ArrayForEach(it, body)
    {
        static const char *const allowed[] = {"locationId",  "page",    "pageLimit", "query",
                                              "searchAfter", "filters", "sort"};
        bool ok = false;
        for (int i = 0; i < 7; i++)
            ok |= strcmp(it->string, allowed[i]) == 0;
        if (!ok) {
            snprintf(m, sizeof m, "property %.200s should not exist", it->string);
            e422(errs, m);
        }
    }
    const cJSON *jpage = cJSON_GetObjectItemCaseSensitive(body, "page");
    const cJSON *jlim = cJSON_GetObjectItemCaseSensitive(body, "pageLimit");
    const cJSON *jq = cJSON_GetObjectItemCaseSensitive(body, "query");
    const cJSON *jsa = cJSON_GetObjectItemCaseSensitive(body, "searchAfter");
    const cJSON *jf = cJSON_GetObjectItemCaseSensitive(body, "filters");
    const cJSON *js = cJSON_GetObjectItemCaseSensitive(body, "sort");
    long page = 1, limit = 10;
    if (jpage) {
        if (!cJSON_IsNumber(jpage) || jpage->valuedouble != floor(jpage->valuedouble) ||
            jpage->valuedouble < 1 || jpage->valuedouble > 1e9)
            e422(errs, "page must be a positive integer");
        else
            page = (long)jpage->valuedouble;
    }
    if (jlim) {
        if (!cJSON_IsNumber(jlim) || jlim->valuedouble != floor(jlim->valuedouble))
            e422(errs, "pageLimit must be an integer");
        else if (jlim->valuedouble > 100)
            e422(errs, "pageLimit must not be greater than 100");
        else if (jlim->valuedouble < 1)
            e422(errs, "pageLimit must not be less than 1");
        else
            limit = (long)jlim->valuedouble;
    }
    if (jq && !cJSON_IsString(jq))
        e422(errs, "query must be a string");
    if (jsa && !cJSON_IsArray(jsa))
        e422(errs, "searchAfter must be an array");
    if (jf && !cJSON_IsArray(jf))
        e422(errs, "filters must be an array");
    if (js && !cJSON_IsArray(js))
        e422(errs, "sort must be an array");
    if (cJSON_GetArraySize(errs))
        return 422;

    sortspec sp = {SF_CREATED, false, ""};
    if (js && cJSON_GetArraySize(js) > 0) {
        if (cJSON_GetArraySize(js) > 1) {
            e422(errs, "sort: only one sort field is supported");
            return 422;
        }
        const cJSON *s0 = cJSON_GetArrayItem(js, 0);
        cJSON_ArrayForEach(it, s0)
        {
            if (strcmp(it->string, "field") && strcmp(it->string, "direction")) {
                snprintf(m, sizeof m, "sort: property %.100s should not exist", it->string);
                e422(errs, m);
                return 422;
            }
        }
        const char *fld = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(s0, "field"));
        const char *dir = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(s0, "direction"));
        if (!fld) {
            e422(errs, "sort: field must be a string");
            return 422;
        }
        if (dir && strcmp(dir, "asc") && strcmp(dir, "desc")) {
            e422(errs, "sort: direction must be \"asc\" or \"desc\"");
            return 422;
        }
        if (!c->sw.sort_off) {
            sp.desc = dir && strcmp(dir, "desc") == 0;
            if (strcmp(fld, "createdAt") == 0) {
                sp.sf = SF_CREATED;
            } else if (strcmp(fld, "updatedAt") == 0) {
                sp.sf = SF_UPDATED;
            } else if (strncmp(fld, "properties.", 11) == 0 && hs_field_find(o, fld + 11) &&
                       strcmp(hs_field_short(hs_field_find(o, fld + 11)), fld + 11) == 0) {
                sp.sf = SF_PROP;
                snprintf(sp.prop, sizeof sp.prop, "%s", fld + 11);
            } else {
                snprintf(m, sizeof m, "sort: unknown field %.200s", fld);
                e422(errs, m);
                return 422;
            }
        }
    }

    sctx s = {0};
    filt root = {0};
    if (jf && cJSON_GetArraySize(jf) > 0) {
        if (c->sw.filters == FILTERS_REJECT) {
            e422(errs, "property filters should not exist");
            return 422;
        }
        if (c->sw.filters == FILTERS_ON) {
            root.kind = FN_AND;
            root.nkids = cJSON_GetArraySize(jf);
            root.kids = calloc((size_t)root.nkids, sizeof *root.kids);
            int i = 0;
            bool ok = true;
            cJSON_ArrayForEach(it, jf) ok = ok && compile(o, it, &root.kids[i++], errs, 1);
            if (!ok) {
                free_filt(&root);
                return 422;
            }
            s.root = &root;
        }
    }
    if (jq && jq->valuestring[0]) {
        const char *q = jq->valuestring;
        const char *colon = strchr(q, ':');
        char key[256] = "";
        if (colon) {
            snprintf(key, sizeof key, "%.*s", (int)(colon - q), q);
            snprintf(s.q.text, sizeof s.q.text, "%s", colon + 1);
        } else {
            snprintf(s.q.text, sizeof s.q.text, "%s", q);
        }
        cJSON_ArrayForEach(it, o->searchable)
        {
            const cJSON *fd = hs_field_find(o, cJSON_GetStringValue(it));
            if (fd && s.q.nkeys < 32)
                snprintf(s.q.keys[s.q.nkeys++], 256, "%s", hs_field_short(fd));
        }
        if (colon) {
            const cJSON *fd = hs_field_find(o, key);
            bool searchable = false;
            for (int i = 0; fd && i < s.q.nkeys; i++)
                searchable |= strcmp(s.q.keys[i], hs_field_short(fd)) == 0;
            if (!searchable) {
                snprintf(m, sizeof m, "query: %.150s is not a searchable property of %.150s", key,
                         o->key);
                e422(errs, m);
                free_filt(&root);
                return 422;
            }
            s.q.key = hs_field_short(fd);
        }
        s.has_query = s.q.text[0] != 0;
    }

    bool use_cursor = jsa && cJSON_GetArraySize(jsa) > 0;
    cand cur = {0};
    if (use_cursor && !parse_cursor(jsa, &sp, &cur, errs)) {
        free_filt(&root);
        return 422;
    }
    if (!use_cursor && (page - 1) * limit + limit > 10000) {
        e422(errs, "page * pageLimit must not exceed 10000: use searchAfter to read deeper");
        free_filt(&root);
        free(cur.str);
        return 422;
    }
    long want = limit;
    if (c->sw.page_cap > 0 && want > c->sw.page_cap)
        want = c->sw.page_cap;
    long skip = use_cursor ? 0 : (page - 1) * limit;

    hs_rec **pagev = calloc((size_t)want + 1, sizeof *pagev);
    char(*afters)[400] = NULL;
    long npage = 0;
    long long total = 0;

    /* Where the candidates come from: the sort field's index, or, when a range on the other
     * time field selects far fewer records, that index's range (then sorted here). */
    const hs_index *src = &o->by_created;
    size_t src_lo = 0, src_hi = o->by_created.n;
    bool gather = sp.sf == SF_PROP;
    if (sp.sf != SF_PROP) {
        const hs_index *ix = sp.sf == SF_CREATED ? &o->by_created : &o->by_updated;
        size_t lo, hi;
        time_bounds(s.root, sp.sf, o, ix, &lo, &hi);
        int of = sp.sf == SF_CREATED ? SF_UPDATED : SF_CREATED;
        const hs_index *ox = of == SF_CREATED ? &o->by_created : &o->by_updated;
        size_t olo, ohi;
        time_bounds(s.root, of, o, ox, &olo, &ohi);
        if (ohi - olo < (hi - lo) / 4) {
            gather = true;
            src = ox;
            src_lo = olo;
            src_hi = ohi;
        }
    }
    if (!gather) {
        const hs_index *ix = sp.sf == SF_CREATED ? &o->by_created : &o->by_updated;
        size_t lo, hi;
        time_bounds(s.root, sp.sf, o, ix, &lo, &hi);
        bool pure = !s.has_query && only_bounds(s.root, sp.sf);
        if (use_cursor) {
            size_t p =
                hs_ix_lower(o, ix, (int64_t)cur.num, cJSON_GetArrayItem(jsa, 1)->valuestring);
            if (!sp.desc) {
                const hs_rec *r = p < ix->n ? ix->v[p] : NULL;
                if (r && (sp.sf == SF_CREATED ? r->created : r->updated) == (int64_t)cur.num &&
                    strcmp(r->id, cJSON_GetArrayItem(jsa, 1)->valuestring) == 0)
                    p++;
            }
            /* asc: start at p; desc: records strictly before p */
            if (!sp.desc) {
                size_t i = p > lo ? p : lo;
                for (; i < hi && npage < want; i++)
                    if (pure || matches(&s, ix->v[i]))
                        pagev[npage++] = ix->v[i];
            } else {
                size_t e = p < hi ? p : hi;
                for (size_t i = e; i > lo && npage < want; i--)
                    if (pure || matches(&s, ix->v[i - 1]))
                        pagev[npage++] = ix->v[i - 1];
            }
        } else if (pure) {
            size_t n = hi - lo;
            for (long k = 0; k < want && (size_t)(skip + k) < n; k++)
                pagev[npage++] =
                    sp.desc ? ix->v[hi - 1 - (size_t)(skip + k)] : ix->v[lo + (size_t)(skip + k)];
        } else {
            long seen = 0;
            for (size_t k = 0; k < hi - lo && npage < want; k++) {
                hs_rec *r = sp.desc ? ix->v[hi - 1 - k] : ix->v[lo + k];
                if (matches(&s, r) && seen++ >= skip)
                    pagev[npage++] = r;
            }
        }
        if (!c->sw.omit_total) {
            if (pure) {
                total = (long long)(hi - lo);
            } else {
                for (size_t i = lo; i < hi; i++)
                    total += matches(&s, ix->v[i]);
            }
        }
    } else {
        /* gather the matches, sort them, then apply the cursor / offset */
        size_t cap = src_hi - src_lo, n = 0;
        cand *cv = calloc(cap + 1, sizeof *cv);
        for (size_t i = src_lo; i < src_hi; i++) {
            hs_rec *r = src->v[i];
            if (matches(&s, r)) {
                cv[n].r = r;
                cand_value(&cv[n], &sp);
                n++;
            }
        }
        qsort_r(cv, n, sizeof *cv, cand_cmp, &sp);
        total = (long long)n;
        size_t start = (size_t)skip;
        if (use_cursor) {
            hs_rec fake;
            memset(&fake, 0, sizeof fake);
            snprintf(fake.id, sizeof fake.id, "%s", cJSON_GetArrayItem(jsa, 1)->valuestring);
            fake.created = fake.updated = (int64_t)cur.num;
            cur.r = &fake;
            start = 0;
            while (start < n && cand_cmp_dir(&cv[start], &cur, &sp) <= 0)
                start++;
        }
        afters = calloc((size_t)want + 1, sizeof *afters);
        for (size_t i = start; i < n && npage < want; i++) {
            cand_after_json(&cv[i], &sp, afters[npage], sizeof afters[0]);
            pagev[npage++] = cv[i].r;
        }
        for (size_t i = 0; i < n; i++)
            free(cv[i].str);
        free(cv);
    }

    hs_buf_puts(out, "{\"records\":[");
    for (long i = 0; i < npage; i++) {
        if (i)
            hs_buf_puts(out, ",");
        char sa[128];
        const char *saj = NULL;
        if (afters) {
            saj = afters[i];
        } else if (sp.sf == SF_UPDATED) {
            snprintf(sa, sizeof sa, "[%lld,\"%s\"]", (long long)pagev[i]->updated, pagev[i]->id);
            saj = sa;
        }
        hs_rec_render(out, c, l, o, pagev[i], true, saj);
    }
    hs_buf_puts(out, "]");
    if (!c->sw.omit_total)
        hs_buf_printf(out, ",\"total\":%lld", total);
    hs_buf_puts(out, "}");
    free(pagev);
    free(afters);
    free(cur.str);
    free_filt(&root);
    return 200;
}
