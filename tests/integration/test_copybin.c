/* copybin.h against PostgreSQL itself: every value the encoder takes, loaded with binary COPY,
 * must equal (as a value and as text) the same text read by the type's input function, which is
 * what text COPY and the upsert use; and the encoder must refuse what it does not read exactly
 * (a zoneless stamp, a day that does not exist, a seventh fraction digit, an array literal of
 * another shape). Hand-picked cases, then thousands of generated ones (fixed seed). */
#include "copybin.h"
#include "mapping.h"
#include "test.h"
#include "tpg.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct vals {
    char **v;
    size_t n, cap;
};

static void add(struct vals *s, const char *v)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 64;
        s->v = realloc(s->v, s->cap * sizeof *s->v);
        TEST_REQUIRE(s->v != NULL);
    }
    s->v[s->n] = v ? strdup(v) : NULL;
    TEST_REQUIRE(!v || s->v[s->n]);
    s->n++;
}

static void vals_free(struct vals *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    memset(s, 0, sizeof *s);
}

static uint64_t rnd_state = 0x9E3779B97F4A7C15u;
static uint64_t rnd(void)
{
    rnd_state ^= rnd_state << 13;
    rnd_state ^= rnd_state >> 7;
    rnd_state ^= rnd_state << 17;
    return rnd_state;
}

static unsigned below(unsigned n)
{
    return (unsigned)(rnd() % n);
}

/* Load `vals` of type `type` twice: binary COPY through copybin (table b) and the type's input
 * function on the text (table t, via unnest of a text[]); every pair must agree. */
static void load_and_compare(PGconn *c, const char *type, cb_kind k, const struct vals *vals)
{
    char sql[512];
    snprintf(sql, sizeof sql,
             "DROP TABLE IF EXISTS b, t; CREATE TABLE b (k integer, v %s); "
             "CREATE TABLE t (k integer, v %s)",
             type, type);
    TEST_REQUIRE(tpg_exec(c, sql));
    sbuf data = SBUF_INIT;
    cb_header(&data);
    for (size_t i = 0; i < vals->n; i++) {
        char key[24];
        snprintf(key, sizeof key, "%zu", i);
        cb_tuple(&data, 2);
        TEST_REQUIRE(cb_field(&data, CB_INT4, key));
        TEST_REQUIRE(cb_field(&data, k, vals->v[i]));
    }
    cb_trailer(&data);
    TEST_REQUIRE(!sbuf_failed(&data));
    PGresult *r = PQexec(c, "COPY b (k, v) FROM STDIN (FORMAT binary)");
    TEST_REQUIRE(PQresultStatus(r) == PGRES_COPY_IN);
    PQclear(r);
    TEST_REQUIRE(PQputCopyData(c, data.data, (int)data.len) == 1);
    TEST_REQUIRE(PQputCopyEnd(c, NULL) == 1);
    r = PQgetResult(c);
    TEST_CHECK_MSG(PQresultStatus(r) == PGRES_COMMAND_OK, "%s: binary COPY: %s", type,
                   PQresultErrorMessage(r));
    PQclear(r);
    while ((r = PQgetResult(c)))
        PQclear(r);
    sbuf_free(&data);

    /* the text values as one text[] literal (map_array_encode quotes every element) */
    sbuf lit = SBUF_INIT;
    map_array_encode(&lit, (const char *const *)vals->v, vals->n);
    TEST_REQUIRE(!sbuf_failed(&lit));
    snprintf(sql, sizeof sql,
             "INSERT INTO t SELECT (o - 1)::integer, x::%s FROM unnest($1::text[]) WITH "
             "ORDINALITY AS u(x, o)",
             type);
    const char *p[1] = {sbuf_str(&lit)};
    r = PQexecParams(c, sql, 1, NULL, p, NULL, NULL, 0);
    TEST_CHECK_MSG(PQresultStatus(r) == PGRES_COMMAND_OK, "%s: input function: %s", type,
                   PQresultErrorMessage(r));
    PQclear(r);
    sbuf_free(&lit);

    r = PQexec(c, "SELECT t.k, t.v::text, b.v::text FROM t FULL JOIN b USING (k) WHERE "
                  "t.k IS NULL OR b.k IS NULL OR t.v IS DISTINCT FROM b.v OR "
                  "t.v::text IS DISTINCT FROM b.v::text ORDER BY 1 LIMIT 5");
    TEST_REQUIRE(PQresultStatus(r) == PGRES_TUPLES_OK);
    TEST_CHECK_MSG(PQntuples(r) == 0, "%s: %d value(s) differ, first: k=%s input '%s' binary '%s'",
                   type, PQntuples(r), PQntuples(r) ? PQgetvalue(r, 0, 0) : "",
                   PQntuples(r) ? PQgetvalue(r, 0, 1) : "",
                   PQntuples(r) ? PQgetvalue(r, 0, 2) : "");
    PQclear(r);
    char *n = tpg_scalar(c, "SELECT count(*) FROM b");
    char want[24];
    snprintf(want, sizeof want, "%zu", vals->n);
    TEST_EQ_STR(n, want);
    free(n);
}

static void refuses(cb_kind k, const char *const *bad, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        sbuf b = SBUF_INIT;
        TEST_CHECK_MSG(!cb_field(&b, k, bad[i]), "kind %d took '%s'", (int)k, bad[i]);
        sbuf_free(&b);
    }
}

static PGconn *db(void)
{
    char ci[512];
    PGconn *c = tpg_fresh_db("copybin", ci, sizeof ci);
    /* stamps are compared in another zone than UTC: the encoder must not depend on it */
    if (c && !tpg_exec(c, "SET TimeZone = 'America/St_Johns'")) {
        PQfinish(c);
        c = NULL;
    }
    return c;
}

static void numbers(void)
{
    PGconn *c = db();
    TEST_REQUIRE(c != NULL);
    static const char *const hand[] = {"0",
                                       "-0",
                                       "0.00",
                                       "1.50",
                                       "-1.5",
                                       ".5",
                                       "5.",
                                       "+7",
                                       "-.25",
                                       "1e3",
                                       "1.5E-3",
                                       "-2.50e+2",
                                       "10000",
                                       "9999.9999",
                                       "0.0001",
                                       "0.00001",
                                       "12345.6789e-8",
                                       "1e0",
                                       "100e-2",
                                       "0e5",
                                       "123456789012345678901234567890.000000000000001",
                                       "-99999999",
                                       "0.000000000000000000001",
                                       "1E+20",
                                       "7e-30",
                                       "3.14159265358979323846264338327950288"};
    struct vals v = {0};
    for (size_t i = 0; i < sizeof hand / sizeof *hand; i++)
        add(&v, hand[i]);
    add(&v, NULL);
    for (int i = 0; i < 4000; i++) {
        char s[96];
        int len = 0;
        if (below(3) == 0)
            s[len++] = below(2) ? '-' : '+';
        int ni = (int)below(22), nf = below(2) ? (int)below(22) : 0;
        for (int d = 0; d < ni; d++)
            s[len++] = (char)('0' + (below(4) ? below(10) : 0));
        if (nf || !ni || below(4) == 0) {
            s[len++] = '.';
            if (!ni && !nf)
                nf = 1;
        }
        for (int d = 0; d < nf; d++)
            s[len++] = (char)('0' + (below(4) ? below(10) : 0));
        if (below(4) == 0)
            len += snprintf(s + len, sizeof s - (size_t)len, "e%d", (int)below(61) - 30);
        s[len] = 0;
        add(&v, s);
    }
    load_and_compare(c, "numeric", CB_NUMERIC, &v);
    vals_free(&v);
    static const char *const bad[] = {"",    "abc", "1e", "NaN",   " 1",  "1 ",       "1.2.3",
                                      "--1", "+",   ".",  "1e1.5", "0x1", "Infinity", "1e99999"};
    refuses(CB_NUMERIC, bad, sizeof bad / sizeof *bad);

    static const char *const ints[] = {"0", "-1", "+5", "2147483647", "-2147483648", "007"};
    for (size_t i = 0; i < sizeof ints / sizeof *ints; i++)
        add(&v, ints[i]);
    load_and_compare(c, "integer", CB_INT4, &v);
    add(&v, "9223372036854775807");
    add(&v, "-9223372036854775808");
    add(&v, "2147483648");
    load_and_compare(c, "bigint", CB_INT8, &v);
    vals_free(&v);
    static const char *const bad4[] = {"2147483648", "-2147483649", "", "-", "1.0", "1e3", " 1"};
    refuses(CB_INT4, bad4, sizeof bad4 / sizeof *bad4);
    static const char *const bad8[] = {"9223372036854775808", "-9223372036854775809",
                                       "99999999999999999999", "x"};
    refuses(CB_INT8, bad8, sizeof bad8 / sizeof *bad8);
    PQfinish(c);
}

static void times(void)
{
    PGconn *c = db();
    TEST_REQUIRE(c != NULL);
    static const char *const hand[] = {
        "2024-01-01T00:00:00Z",        "2024-02-29T23:59:59.999999+05:30",
        "1999-12-31 23:59:59.5-08",    "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59.999999Z", "2024-06-01T12:00:00.123+0130",
        "2000-01-01T00:00:00.000Z",    "1969-12-31T23:59:59.999Z",
        "1970-01-01T00:00:00+00",      "2024-03-10T02:30:00-14:59",
        "1583-10-15T00:00:00+15:59",   "1900-02-28T12:00:00.1Z"};
    struct vals v = {0};
    for (size_t i = 0; i < sizeof hand / sizeof *hand; i++)
        add(&v, hand[i]);
    add(&v, NULL);
    for (int i = 0; i < 4000; i++) {
        char s[64];
        int y = 1 + (int)below(9999), mo = 1 + (int)below(12), d = 1 + (int)below(28);
        int len = snprintf(s, sizeof s, "%04d-%02d-%02d%c%02u:%02u:%02u", y, mo, d,
                           below(2) ? 'T' : ' ', below(24), below(60), below(60));
        unsigned nf = below(7);
        if (nf) {
            s[len++] = '.';
            for (unsigned k = 0; k < nf; k++)
                s[len++] = (char)('0' + below(10));
        }
        if (y == 1 || y == 9999) /* an offset could leave the type's range: keep UTC there */
            snprintf(s + len, sizeof s - (size_t)len, "Z");
        else if (below(3) == 0)
            snprintf(s + len, sizeof s - (size_t)len, "Z");
        else
            snprintf(s + len, sizeof s - (size_t)len, "%c%02u%s%02u", below(2) ? '+' : '-',
                     below(16), below(2) ? ":" : "", below(60));
        add(&v, s);
    }
    load_and_compare(c, "timestamp with time zone", CB_TSTZ, &v);
    vals_free(&v);
    static const char *const bad[] = {
        "2024-01-01T00:00:00",           "2024-01-01T24:00:00Z",
        "2024-02-30T00:00:00Z",          "2024-01-01T00:00:00.1234567Z",
        "2024-01-01T00:00:00.Z",         "2024-01-01T00:00:60Z",
        "2024-01-01T00:00:00+16:00",     "2024-01-01T00:00:00+05:60",
        "2024-01-01T00:00:00+5",         "2024-01-01T00:00:00z",
        "0000-01-01T00:00:00Z",          "2024-1-01T00:00:00Z",
        "2024-01-01T00:00:00Z trailing", "2024-01-01",
        "2024-01-01T00:00:00+05:30:00",  ""};
    refuses(CB_TSTZ, bad, sizeof bad / sizeof *bad);

    static const char *const days[] = {"2024-02-29", "0001-01-01", "9999-12-31", "2000-01-01",
                                       "1970-01-01", "1969-12-31", "1600-02-29", "1999-12-31"};
    for (size_t i = 0; i < sizeof days / sizeof *days; i++)
        add(&v, days[i]);
    for (int i = 0; i < 3000; i++) {
        char s[16];
        snprintf(s, sizeof s, "%04u-%02u-%02u", 1 + below(9999), 1 + below(12), 1 + below(28));
        add(&v, s);
    }
    load_and_compare(c, "date", CB_DATE, &v);
    vals_free(&v);
    static const char *const badd[] = {
        "2023-02-29", "1900-02-29",           "2024-04-31", "2024-13-01", "2024-00-10",
        "0000-06-01", "2024-01-01T00:00:00Z", "2024-1-1",   "",           "20240101"};
    refuses(CB_DATE, badd, sizeof badd / sizeof *badd);
    PQfinish(c);
}

static void texts_and_arrays(void)
{
    PGconn *c = db();
    TEST_REQUIRE(c != NULL);
    static const char *const hand[] = {
        "",          "plain", "tab\there", "line\nnext", "back\\slash", "q\"uote",
        "caf\u00e9", "NULL",  "\\N",       "{a,b}",      " lead "};
    struct vals v = {0};
    for (size_t i = 0; i < sizeof hand / sizeof *hand; i++)
        add(&v, hand[i]);
    add(&v, NULL);
    load_and_compare(c, "text", CB_TEXT, &v);
    vals_free(&v);

    static const char *const js[] = {"{\"a\":1}",
                                     "[1,2,{\"b\":[null,true]}]",
                                     "\"x\"",
                                     "null",
                                     "{\"k\":\"caf\u00e9 \\u0041 \\\\ \\\"\"}",
                                     "1.50",
                                     "{}"};
    for (size_t i = 0; i < sizeof js / sizeof *js; i++)
        add(&v, js[i]);
    add(&v, NULL);
    load_and_compare(c, "jsonb", CB_JSONB, &v);
    vals_free(&v);

    static const char *const bools[] = {"true", "false", "t", "f"};
    for (size_t i = 0; i < sizeof bools / sizeof *bools; i++)
        add(&v, bools[i]);
    add(&v, NULL);
    load_and_compare(c, "boolean", CB_BOOL, &v);
    vals_free(&v);
    static const char *const badb[] = {"yes", "no", "1", "0", "TRUE", "", "on"};
    refuses(CB_BOOL, badb, sizeof badb / sizeof *badb);

    /* arrays as map_array_encode writes them (as the mapping does for every text[] value) */
    static const char *const elems[] = {"plain", "NULL", "null", "a b",   " lead", "x,y",
                                        "{b}",   "q\"",  "\\",   "tab\t", "",      "caf\u00e9"};
    size_t ne = sizeof elems / sizeof *elems;
    for (int i = 0; i < 600; i++) {
        const char *items[8];
        size_t n = below(8);
        for (size_t k = 0; k < n; k++)
            items[k] = below(6) ? elems[below((unsigned)ne)] : NULL;
        sbuf b = SBUF_INIT;
        map_array_encode(&b, items, n);
        TEST_REQUIRE(!sbuf_failed(&b));
        add(&v, sbuf_str(&b));
        sbuf_free(&b);
    }
    add(&v, NULL);
    load_and_compare(c, "text[]", CB_TEXT_ARRAY, &v);
    vals_free(&v);
    static const char *const bada[] = {"{a,b}",         "{\"a\",}",  "{,}",      "{{\"a\"}}",
                                       "[1:1]={\"a\"}", "{\"a\"} ",  "{\"a\"",   "",
                                       "{\"a\"\"b\"}",  "{\"a\\\"}", "{ \"a\"}", "x"};
    refuses(CB_TEXT_ARRAY, bada, sizeof bada / sizeof *bada);
    PQfinish(c);
}

/* The kinds format_type names map to; every other type (typmods included) has none. */
static void kinds(void)
{
    TEST_EQ_INT(cb_kind_of("timestamp with time zone"), CB_TSTZ);
    TEST_EQ_INT(cb_kind_of("text[]"), CB_TEXT_ARRAY);
    TEST_EQ_INT(cb_kind_of("numeric"), CB_NUMERIC);
    TEST_EQ_INT(cb_kind_of("numeric(12,2)"), CB_NONE);
    TEST_EQ_INT(cb_kind_of("timestamp without time zone"), CB_NONE);
    TEST_EQ_INT(cb_kind_of("character varying(40)"), CB_NONE);
    TEST_EQ_INT(cb_kind_of("integer[]"), CB_NONE);
    TEST_EQ_INT(cb_kind_of(NULL), CB_NONE);
}

int main(void)
{
    TEST_RUN(kinds);
    if (!tpg_available()) {
        test_skip("copybin", "needs PostgreSQL (tests/run.sh)");
        return test_done();
    }
    TEST_RUN(numbers);
    TEST_RUN(times);
    TEST_RUN(texts_and_arrays);
    return test_done();
}
