/*
 * toml-test 1.0.0 conformance, in process: every file listed in files-toml-1.0.0 from the
 * shared toml-test copy ($GHLSYNC_TOP/../shared/conformance/toml-test/tests).
 *
 * Each valid case (NAME.toml) must parse to a tree semantically equal to the .json beside it (same
 * keys and types; integers and floats compared as numbers with nan == nan; date-times compared as
 * instants or fields, like toml-test does). Each invalid case must be rejected with GS_EPARSE and
 * a "FILE:LINE:COL: message" error. One reported case per file; a missing suite is a failure.
 */
#include "err.h"
#include "sbuf.h"
#include "test.h"
#include "toml.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ minimal JSON reader
 * Our own, because keys and strings in the suite contain NUL ("\u0000") and we need lengths. */

typedef struct jv {
    enum { J_STR, J_ARR, J_OBJ } kind;
    char *s; /* J_STR */
    size_t n;
    struct jv **items; /* J_ARR values, J_OBJ values */
    char **keys;       /* J_OBJ */
    size_t *klens;
    size_t cnt, cap;
} jv;

typedef struct jp {
    const char *s;
    size_t len, pos;
} jp;

static void jv_free(jv *v)
{
    if (!v)
        return;
    for (size_t i = 0; i < v->cnt; i++) {
        jv_free(v->items[i]);
        if (v->keys)
            free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    free(v->klens);
    free(v->s);
    free(v);
}

static void jws(jp *p)
{
    while (p->pos < p->len && strchr(" \t\r\n", p->s[p->pos]))
        p->pos++;
}

static int jhex(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static bool j4(jp *p, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        if (p->pos >= p->len || jhex((unsigned char)p->s[p->pos]) < 0)
            return false;
        v = v * 16 + (unsigned)jhex((unsigned char)p->s[p->pos++]);
    }
    *out = v;
    return true;
}

static bool jstr(jp *p, char **out, size_t *outlen)
{
    if (p->pos >= p->len || p->s[p->pos] != '"')
        return false;
    p->pos++;
    sbuf b = SBUF_INIT;
    while (p->pos < p->len && p->s[p->pos] != '"') {
        char c = p->s[p->pos++];
        if (c != '\\') {
            sbuf_putc(&b, c);
            continue;
        }
        if (p->pos >= p->len)
            break;
        char e = p->s[p->pos++];
        const char *map = "b\bf\fn\nr\rt\t\"\"\\\\//";
        const char *m = strchr(map, e);
        if (e != 'u' && m && (m - map) % 2 == 0) {
            sbuf_putc(&b, m[1]);
            continue;
        }
        unsigned cp;
        if (e != 'u' || !j4(p, &cp)) {
            sbuf_free(&b);
            return false;
        }
        if (cp >= 0xD800 && cp <= 0xDBFF && p->pos + 1 < p->len && p->s[p->pos] == '\\' &&
            p->s[p->pos + 1] == 'u') {
            unsigned lo;
            p->pos += 2;
            if (!j4(p, &lo)) {
                sbuf_free(&b);
                return false;
            }
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        }
        char u[4];
        size_t n;
        if (cp < 0x80)
            u[0] = (char)cp, n = 1;
        else if (cp < 0x800)
            u[0] = (char)(0xC0 | (cp >> 6)), u[1] = (char)(0x80 | (cp & 0x3F)), n = 2;
        else if (cp < 0x10000)
            u[0] = (char)(0xE0 | (cp >> 12)), u[1] = (char)(0x80 | ((cp >> 6) & 0x3F)),
            u[2] = (char)(0x80 | (cp & 0x3F)), n = 3;
        else
            u[0] = (char)(0xF0 | (cp >> 18)), u[1] = (char)(0x80 | ((cp >> 12) & 0x3F)),
            u[2] = (char)(0x80 | ((cp >> 6) & 0x3F)), u[3] = (char)(0x80 | (cp & 0x3F)), n = 4;
        sbuf_append(&b, u, n);
    }
    if (p->pos >= p->len) {
        sbuf_free(&b);
        return false;
    }
    p->pos++;
    sbuf_putc(&b, '\0'); /* make sure data is allocated even for "" */
    *outlen = b.len - 1;
    *out = sbuf_steal(&b);
    return *out != NULL;
}

static bool jpush(jv *v, char *key, size_t klen, jv *item)
{
    if (v->cnt == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 4;
        jv **it = realloc(v->items, cap * sizeof *it);
        if (!it)
            return false;
        v->items = it;
        if (v->kind == J_OBJ) {
            char **k = realloc(v->keys, cap * sizeof *k);
            if (!k)
                return false;
            v->keys = k;
            size_t *kl = realloc(v->klens, cap * sizeof *kl);
            if (!kl)
                return false;
            v->klens = kl;
        }
        v->cap = cap;
    }
    v->items[v->cnt] = item;
    if (v->kind == J_OBJ) {
        v->keys[v->cnt] = key;
        v->klens[v->cnt] = klen;
    }
    v->cnt++;
    return true;
}

static jv *jparse(jp *p, int depth)
{
    jws(p);
    if (p->pos >= p->len || depth > 1000)
        return NULL;
    jv *v = calloc(1, sizeof *v);
    if (!v)
        return NULL;
    char c = p->s[p->pos];
    if (c == '"') {
        v->kind = J_STR;
        if (!jstr(p, &v->s, &v->n))
            goto fail;
        return v;
    }
    if (c != '[' && c != '{')
        goto fail;
    v->kind = c == '[' ? J_ARR : J_OBJ;
    char close = c == '[' ? ']' : '}';
    p->pos++;
    jws(p);
    if (p->pos < p->len && p->s[p->pos] == close) {
        p->pos++;
        return v;
    }
    for (;;) {
        char *key = NULL;
        size_t klen = 0;
        if (v->kind == J_OBJ) {
            jws(p);
            if (!jstr(p, &key, &klen))
                goto fail;
            jws(p);
            if (p->pos >= p->len || p->s[p->pos] != ':') {
                free(key);
                goto fail;
            }
            p->pos++;
        }
        jv *item = jparse(p, depth + 1);
        if (!item || !jpush(v, key, klen, item)) {
            free(key);
            jv_free(item);
            goto fail;
        }
        jws(p);
        if (p->pos < p->len && p->s[p->pos] == ',') {
            p->pos++;
            continue;
        }
        if (p->pos < p->len && p->s[p->pos] == close) {
            p->pos++;
            return v;
        }
        goto fail;
    }
fail:
    jv_free(v);
    return NULL;
}

/* ------------------------------------------------------------------ comparison */

typedef struct dt {
    int y, mo, d, h, mi, s;
    long ns;
    bool has_off;
    int off; /* minutes east of UTC */
} dt;

static bool num_at(const char *s, size_t n, size_t *i, int digits, int *out)
{
    int v = 0;
    for (int k = 0; k < digits; k++, (*i)++) {
        if (*i >= n || s[*i] < '0' || s[*i] > '9')
            return false;
        v = v * 10 + (s[*i] - '0');
    }
    *out = v;
    return true;
}

static bool parse_time_part(const char *s, size_t n, size_t *i, dt *t)
{
    if (!num_at(s, n, i, 2, &t->h) || *i >= n || s[(*i)++] != ':' || !num_at(s, n, i, 2, &t->mi))
        return false;
    if (*i < n && s[*i] == ':') {
        (*i)++;
        if (!num_at(s, n, i, 2, &t->s))
            return false;
    }
    if (*i < n && s[*i] == '.') {
        (*i)++;
        long scale = 100000000;
        while (*i < n && s[*i] >= '0' && s[*i] <= '9') {
            t->ns += (s[*i] - '0') * scale; /* beyond nanoseconds: truncated, as toml-test */
            scale /= 10;
            (*i)++;
        }
    }
    return true;
}

/* Parse any of the four date/time forms; `type` says which one is expected. */
static bool parse_dt(const char *type, const char *s, size_t n, dt *t)
{
    memset(t, 0, sizeof *t);
    size_t i = 0;
    if (strcmp(type, "time-local") != 0) {
        if (!num_at(s, n, &i, 4, &t->y) || i >= n || s[i++] != '-' ||
            !num_at(s, n, &i, 2, &t->mo) || i >= n || s[i++] != '-' || !num_at(s, n, &i, 2, &t->d))
            return false;
        if (strcmp(type, "date-local") == 0)
            return i == n;
        if (i >= n || !strchr("Tt ", s[i++]))
            return false;
    }
    if (!parse_time_part(s, n, &i, t))
        return false;
    if (strcmp(type, "datetime") == 0) {
        if (i < n && (s[i] == 'Z' || s[i] == 'z')) {
            i++;
        } else if (i < n && (s[i] == '+' || s[i] == '-')) {
            int sign = s[i++] == '-' ? -1 : 1, oh, om;
            if (!num_at(s, n, &i, 2, &oh) || i >= n || s[i++] != ':' || !num_at(s, n, &i, 2, &om))
                return false;
            t->off = sign * (oh * 60 + om);
        } else {
            return false;
        }
        t->has_off = true;
    }
    return i == n;
}

static long long days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    long long era = (y >= 0 ? y : y - 399) / 400;
    long long yoe = y - era * 400;
    long long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    long long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static bool dt_equal(const char *type, const char *a, size_t an, const char *b, size_t bn)
{
    dt x, y;
    if (!parse_dt(type, a, an, &x) || !parse_dt(type, b, bn, &y))
        return false;
    if (x.has_off) {
        long long sx =
            days_from_civil(x.y, x.mo, x.d) * 86400 + x.h * 3600 + x.mi * 60 + x.s - x.off * 60LL;
        long long sy =
            days_from_civil(y.y, y.mo, y.d) * 86400 + y.h * 3600 + y.mi * 60 + y.s - y.off * 60LL;
        return sx == sy && x.ns == y.ns;
    }
    return x.y == y.y && x.mo == y.mo && x.d == y.d && x.h == y.h && x.mi == y.mi && x.s == y.s &&
           x.ns == y.ns;
}

static double parse_float_str(const char *s)
{
    const char *t = (*s == '+' || *s == '-') ? s + 1 : s;
    if (strcmp(t, "nan") == 0)
        return NAN;
    if (strcmp(t, "inf") == 0)
        return *s == '-' ? -INFINITY : INFINITY;
    return strtod(s, NULL);
}

static const jv *jget(const jv *o, const char *k)
{
    for (size_t i = 0; i < o->cnt; i++)
        if (o->klens[i] == strlen(k) && memcmp(o->keys[i], k, o->klens[i]) == 0)
            return o->items[i];
    return NULL;
}

/* toml-test's rule: an object with exactly "type" and "value", both strings, is a scalar. */
static bool is_tagged(const jv *e)
{
    const jv *t, *v;
    return e->kind == J_OBJ && e->cnt == 2 && (t = jget(e, "type")) && (v = jget(e, "value")) &&
           t->kind == J_STR && v->kind == J_STR;
}

static bool compare(const jv *e, const toml_value *a, sbuf *why, const char *path);

static bool compare_scalar(const jv *e, const toml_value *a, sbuf *why, const char *path)
{
    const char *type = jget(e, "type")->s;
    const jv *val = jget(e, "value");
    const char *atype = a->type == TOML_BOOL ? "bool" : toml_type_name(a->type);
    if (strcmp(type, atype) != 0) {
        sbuf_printf(why, "%s: type %s, expected %s", path, atype, type);
        return false;
    }
    bool ok;
    switch (a->type) {
    case TOML_STRING:
        ok = val->n == a->u.str.slen && memcmp(val->s, a->u.str.s, val->n) == 0;
        break;
    case TOML_INTEGER:
        ok = strtoll(val->s, NULL, 10) == a->u.i;
        break;
    case TOML_FLOAT: {
        double x = parse_float_str(val->s);
        ok = (isnan(x) && isnan(a->u.f)) || x == a->u.f;
        break;
    }
    case TOML_BOOL:
        ok = strcmp(val->s, a->u.b ? "true" : "false") == 0;
        break;
    default:
        ok = dt_equal(type, val->s, val->n, a->u.str.s, a->u.str.slen);
        break;
    }
    if (!ok) {
        sbuf out = SBUF_INIT;
        toml_to_json(a, &out);
        sbuf_printf(why, "%s: got %s, expected %s", path, sbuf_str(&out), val->s);
        sbuf_free(&out);
    }
    return ok;
}

static bool compare(const jv *e, const toml_value *a, sbuf *why, const char *path)
{
    if (e->kind == J_OBJ && is_tagged(e))
        return compare_scalar(e, a, why, path);
    if (e->kind == J_ARR) {
        if (a->type != TOML_ARRAY || a->u.arr.n != e->cnt) {
            sbuf_printf(why, "%s: expected an array of %zu items, got %s", path, e->cnt,
                        toml_type_name(a->type));
            return false;
        }
        for (size_t i = 0; i < e->cnt; i++) {
            char sub[512];
            snprintf(sub, sizeof sub, "%s[%zu]", path, i);
            if (!compare(e->items[i], a->u.arr.items[i], why, sub))
                return false;
        }
        return true;
    }
    if (e->kind != J_OBJ || a->type != TOML_TABLE) {
        sbuf_printf(why, "%s: expected a table, got %s", path, toml_type_name(a->type));
        return false;
    }
    if (e->cnt != a->u.tab.n) {
        sbuf_printf(why, "%s: table has %zu keys, expected %zu", path, a->u.tab.n, e->cnt);
        return false;
    }
    for (size_t i = 0; i < e->cnt; i++) {
        const toml_value *av = toml_get_len(a, e->keys[i], e->klens[i]);
        char sub[512];
        snprintf(sub, sizeof sub, "%s.%s", path, e->keys[i]);
        if (!av) {
            sbuf_printf(why, "%s: missing key", sub);
            return false;
        }
        if (!compare(e->items[i], av, why, sub))
            return false;
    }
    return true;
}

/* ------------------------------------------------------------------ driver */

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    sbuf b = SBUF_INIT;
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        sbuf_append(&b, chunk, n);
    fclose(f);
    sbuf_putc(&b, '\0');
    if (sbuf_failed(&b)) {
        sbuf_free(&b);
        return NULL;
    }
    *len = b.len - 1;
    return sbuf_steal(&b);
}

/* "FILE:LINE:COL: message" with the given file name, positive line/col, non-empty message. */
static bool error_well_formed(const char *msg, const char *file)
{
    size_t fl = strlen(file);
    if (strncmp(msg, file, fl) != 0 || msg[fl] != ':')
        return false;
    char *end;
    long line = strtol(msg + fl + 1, &end, 10);
    if (line < 1 || *end != ':')
        return false;
    long col = strtol(end + 1, &end, 10);
    return col >= 1 && end[0] == ':' && end[1] == ' ' && end[2] != '\0';
}

static void run_valid(const char *dir, const char *rel, int *pass, int *total)
{
    char path[8192], jpath[8200];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    snprintf(jpath, sizeof jpath, "%.*s.json", (int)(strlen(path) - 5), path);
    (*total)++;
    size_t tlen, jlen;
    char *src = read_all(path, &tlen), *js = read_all(jpath, &jlen);
    sbuf why = SBUF_INIT;
    bool ok = false;
    toml_value *root = NULL;
    jv *exp = NULL;
    gs_err err = {0};
    if (!src || !js) {
        sbuf_printf(&why, "cannot read %s or its .json", path);
    } else if (toml_parse(src, tlen, rel, &root, &err) != 0) {
        sbuf_printf(&why, "rejected: %s", err.msg);
    } else {
        jp p = {js, jlen, 0};
        exp = jparse(&p, 0);
        if (!exp)
            sbuf_printf(&why, "cannot parse expected JSON %s", jpath);
        else
            ok = compare(exp, root, &why, "");
    }
    if (ok)
        (*pass)++;
    test_report(rel, ok, ok ? NULL : sbuf_str(&why));
    toml_free(root);
    jv_free(exp);
    sbuf_free(&why);
    free(src);
    free(js);
}

static void run_invalid(const char *dir, const char *rel, int *rejected, int *total)
{
    char path[8192];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    (*total)++;
    size_t len;
    char *src = read_all(path, &len);
    if (!src) {
        test_report(rel, false, "cannot read the file");
        return;
    }
    toml_value *root = NULL;
    gs_err err = {0};
    int rc = toml_parse(src, len, rel, &root, &err);
    char detail[1200];
    bool ok = false;
    if (rc == 0) {
        snprintf(detail, sizeof detail, "accepted invalid TOML");
        toml_free(root);
    } else if (rc != GS_EPARSE || err.code != GS_EPARSE || root) {
        snprintf(detail, sizeof detail, "rejected with code %d (want GS_EPARSE): %s", rc, err.msg);
    } else if (!error_well_formed(err.msg, rel)) {
        snprintf(detail, sizeof detail, "error not in FILE:LINE:COL: form: %s", err.msg);
    } else {
        ok = true;
    }
    if (rc != 0)
        (*rejected)++;
    test_report(rel, ok, ok ? NULL : detail);
    free(src);
}

int main(void)
{
    const char *top = getenv("GHLSYNC_TOP");
    char dir[4096], list[4200];
    snprintf(dir, sizeof dir, "%s/../shared/conformance/toml-test/tests", top ? top : ".");
    snprintf(list, sizeof list, "%s/files-toml-1.0.0", dir);
    FILE *f = fopen(list, "r");
    if (!f) {
        char why[4400];
        snprintf(why, sizeof why,
                 "toml-test suite not found: cannot open %s (set GHLSYNC_TOP; "
                 "shared/ must sit beside the repository)",
                 list);
        test_report("toml-test suite present", false, why);
        return test_done();
    }
    int vp = 0, vt = 0, ir = 0, it = 0;
    char line[1024];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        size_t n = strlen(line);
        if (n < 6 || strcmp(line + n - 5, ".toml") != 0)
            continue;
        if (strncmp(line, "valid/", 6) == 0)
            run_valid(dir, line, &vp, &vt);
        else if (strncmp(line, "invalid/", 8) == 0)
            run_invalid(dir, line, &ir, &it);
    }
    fclose(f);
    if (vt == 0 || it == 0)
        test_report("toml-test suite present", false, "the file list named no valid/invalid cases");
    printf("# toml-test 1.0.0 valid: %d/%d passed\n", vp, vt);
    printf("# toml-test 1.0.0 invalid: %d/%d rejected\n", ir, it);
    return test_done();
}
