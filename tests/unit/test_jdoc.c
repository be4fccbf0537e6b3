/* Unit tests for jdoc.h: wherever the arena parser accepts a text, its tree must be the tree
 * cJSON_ParseWithLength builds (types, keys, strings, the bits of every number, valueint, the
 * head's prev link), and it must refuse what cJSON refuses. Compared on hand-picked cases, on
 * generated numbers, on every prefix of a page and on random byte mutations of it. */
#include "jdoc.h"
#include "test.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool same_str(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* Where two trees first differ ("" when they do not). */
static bool same_tree(const cJSON *a, const cJSON *b, char *why, size_t n)
{
    if (!a || !b) {
        if (a != b)
            snprintf(why, n, "one tree ends early");
        return a == b;
    }
    if (a->type != b->type || !same_str(a->string, b->string) ||
        !same_str(a->valuestring, b->valuestring) || a->valueint != b->valueint ||
        memcmp(&a->valuedouble, &b->valuedouble, sizeof a->valuedouble) != 0) {
        snprintf(why, n, "node %s: type %d/%d valueint %d/%d value %.17g/%.17g string %s/%s",
                 a->string ? a->string : "(root or element)", a->type, b->type, a->valueint,
                 b->valueint, a->valuedouble, b->valuedouble, a->valuestring ? a->valuestring : "-",
                 b->valuestring ? b->valuestring : "-");
        return false;
    }
    const cJSON *x = a->child, *y = b->child, *lx = NULL, *ly = NULL;
    for (; x && y; lx = x, ly = y, x = x->next, y = y->next) {
        if (!same_tree(x, y, why, n))
            return false;
        if ((x->prev == lx) != (y->prev == ly) && x != a->child) {
            snprintf(why, n, "prev link differs");
            return false;
        }
    }
    if (x || y) {
        snprintf(why, n, "child counts differ");
        return false;
    }
    if (a->child && (a->child->prev == lx) != (b->child->prev == ly)) {
        snprintf(why, n, "head's prev is %sthe tail in cJSON", b->child->prev == ly ? "" : "not ");
        return false;
    }
    return true;
}

/* Every comparison parses with one block cache, as the API client does: each document reuses
 * the block the previous one gave back. */
static jd_cache cache;

/* 1 when jdoc accepted and agrees with cJSON, 0 when jdoc refused, -1 when it accepted what
 * cJSON refuses or built another tree. */
static int compare(const char *text, size_t len, char *why, size_t n)
{
    jd_doc *d = NULL;
    gs_err e = {0};
    int rc = jd_parse(text, len, &cache, &d, &e);
    cJSON *c = cJSON_ParseWithLength(text, len);
    int out;
    why[0] = '\0';
    if (rc != 0) {
        out = 0;
        if (rc != GS_EPARSE) {
            snprintf(why, n, "unexpected code %d: %s", rc, e.msg);
            out = -1;
        }
    } else if (!c) {
        snprintf(why, n, "jdoc accepted what cJSON refuses");
        out = -1;
    } else {
        out = same_tree(jd_root(d), c, why, n) ? 1 : -1;
    }
    jd_free(d);
    cJSON_Delete(c);
    return out;
}

static bool expect_same(const char *text, int line)
{
    char why[512];
    int r = compare(text, strlen(text), why, sizeof why);
    return test_check(r == 1, __FILE__, line, "%s: %s", text, r == 0 ? "refused" : why);
}

static void expect_refused(const char *text, size_t len, int line)
{
    char why[512];
    int r = compare(text, len, why, sizeof why);
    test_check(r == 0, __FILE__, line, "%.*s: %s", (int)len, text, r == 1 ? "accepted" : why);
}

#define SAME(t)    expect_same((t), __LINE__)
#define REFUSED(t) expect_refused((t), strlen(t), __LINE__)

static void values_as_cjson_reads_them(void)
{
    SAME("{}");
    SAME("[]");
    SAME(" \r\n\t{ \"a\" : [ 1 , 2 ] , \"b\" : { } } \n");
    SAME("{\"a\":1,\"a\":2}"); /* duplicate keys: both kept, in order */
    SAME("[true,false,null,\"\",0,-0,[],{},[[[]]]]");
    SAME("\"plain\"");
    SAME("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"");
    SAME("\"\\u00e9\\u20AC\\ud83d\\ude00 caf\xc3\xa9\"");
    SAME("{\"\\u006b\\u0065y\":\"v\"}");
    SAME("{\"records\":[{\"id\":\"r1\",\"properties\":{\"n\":12.34,\"m\":-0.5,\"t\":\"x\"}}]}");
    const char *nums[] = {"0",
                          "-0",
                          "-0.0",
                          "0e5",
                          "1",
                          "-1",
                          "12.340",
                          "0.1",
                          "0.000001",
                          "1e22",
                          "1e23",
                          "1E+2",
                          "1e-2",
                          "123456789012345",
                          "1234567890123456",
                          "12345678901234567890",
                          "9007199254740993",
                          "2147483647",
                          "2147483648",
                          "-2147483648",
                          "-2147483649",
                          "1.7976931348623157e308",
                          "1e400",
                          "-1e400",
                          "5e-324",
                          "1e-400",
                          "2.2250738585072014e-308",
                          "0.30000000000000004",
                          "1704067200000",
                          "123.456e-5",
                          "100000000000000000000000000000",
                          "0.0000000000000000000000000000001"};
    for (size_t i = 0; i < sizeof nums / sizeof *nums; i++)
        SAME(nums[i]);
}

static void refuses_what_it_does_not_take(void)
{
    /* also refused by cJSON, or left to it: compare() fails either way if jdoc accepts */
    const char *bad[] = {"",
                         "   ",
                         "\xEF\xBB\xBF{}",
                         "{} x",
                         "{}{}",
                         "01",
                         "1.",
                         ".5",
                         "+1",
                         "-",
                         "1e",
                         "1e+",
                         "[1,]",
                         "[,1]",
                         "{\"a\":1,}",
                         "{\"a\" 1}",
                         "{a:1}",
                         "[1 2]",
                         "tru",
                         "nul",
                         "falsey",
                         "\"a\tb\"",
                         "\"\\u0000\"",
                         "\"\\ud800\"",
                         "\"\\ud800\\u0041\"",
                         "\"\\udc00\"",
                         "\"\\x\"",
                         "\"\\u12G4\"",
                         "\"unterminated",
                         "\"ends in a backslash\\",
                         "[\"a\"",
                         "{\"a\":[1,{\"b\":2}]"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        REFUSED(bad[i]);
    /* a NUL inside the given length is not the end of the text */
    expect_refused("[1]\0", 4, __LINE__);
}

static char *nested(int depth)
{
    char *s = malloc((size_t)depth * 2 + 1);
    memset(s, '[', (size_t)depth);
    memset(s + depth, ']', (size_t)depth);
    s[depth * 2] = '\0';
    return s;
}

static void depth_limit_is_cjsons(void)
{
    char *ok = nested(1000), *deep = nested(1001);
    SAME(ok);
    REFUSED(deep);
    TEST_CHECK(cJSON_Parse(deep) == NULL); /* the limit both share */
    free(ok);
    free(deep);
}

static void generated_numbers_read_exactly(void)
{
    char t[64];
    int bad = 0, n = 0;
    for (int i = 0; i < 200000 && bad < 10; i++, n++) {
        uint64_t bits = test_rand();
        double d;
        memcpy(&d, &bits, sizeof d);
        if (d != d || d - d != 0) /* NaN, infinities: JSON has neither */
            continue;
        static const char *const fmt[] = {"%.17g", "%.15g", "%.6g", "%.16e"};
        snprintf(t, sizeof t, fmt[i % 4], d);
        bad += !SAME(t); /* the number's bits against strtod's, through a whole parse */
    }
    /* decimals of the shapes APIs send: an integer part, a fraction, small exponents */
    for (int i = 0; i < 200000 && bad < 10; i++, n++) {
        size_t k = 0;
        if (test_rand() % 3 == 0)
            t[k++] = '-';
        int ni = (int)(test_rand() % 12), nf = (int)(test_rand() % 12);
        if (ni == 0)
            t[k++] = '0';
        for (int j = 0; j < ni; j++)
            t[k++] = (char)((j == 0 ? '1' : '0') + test_rand() % (j == 0 ? 9 : 10));
        if (nf > 0) {
            t[k++] = '.';
            for (int j = 0; j < nf; j++)
                t[k++] = (char)('0' + test_rand() % 10);
        }
        t[k] = '\0';
        if (test_rand() % 4 == 0)
            snprintf(t + k, sizeof t - k, "e%d", (int)(test_rand() % 61) - 30);
        bad += !SAME(t);
    }
    TEST_CHECK(n > 390000);
    TEST_EQ_INT(bad, 0);
}

/* A search page like HighLevel's: strings with escapes, every kind of number, nested values. */
static char *sample_page(int records)
{
    size_t cap = (size_t)records * 600 + 256, len = 0;
    char *s = malloc(cap);
    len += (size_t)snprintf(s + len, cap - len, "{\"records\":[");
    for (int i = 0; i < records; i++) {
        len += (size_t)snprintf(
            s + len, cap - len,
            "%s{\"id\":\"r%06d\",\"owner\":[\"u1\"],\"followers\":[],\"properties\":{\"name\":"
            "\"Rex \\\"%d\\\" \\u00e9\\ud83d\\ude00\",\"weight\":%d.%02d,\"count\":%d,\"ok\":%s,"
            "\"when\":\"2024-01-01T00:00:%02d.000Z\",\"tags\":[\"a\",\"b\\n\"],\"money\":{"
            "\"value\":-%d.5,\"currency\":\"USD\"},\"none\":null},\"createdAt\":"
            "\"2024-01-01T00:00:00.000Z\",\"searchAfter\":[%lld,\"r%06d\"]}",
            i ? "," : "", i, i, i % 97, i % 100, i * 7, i % 2 ? "true" : "false", i % 60, i,
            1704067200000LL + i, i);
    }
    len += (size_t)snprintf(s + len, cap - len, "],\"total\":%d}", records);
    return s;
}

static void a_page_reads_the_same(void)
{
    char *page = sample_page(100);
    expect_same(page, __LINE__);
    jd_doc *d = NULL;
    gs_err e = {0};
    TEST_EQ_INT(jd_parse(page, strlen(page), NULL, &d, &e), 0);
    TEST_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(jd_root(d), "records")), 100);
    /* read-only cJSON functions on the tree: duplicate and print */
    cJSON *copy = cJSON_Duplicate(jd_root(d), 1);
    char *a = cJSON_PrintUnformatted(copy), *b = cJSON_PrintUnformatted(jd_root(d));
    TEST_EQ_STR(a, b);
    free(a);
    free(b);
    cJSON_Delete(copy);
    jd_free(d);
    free(page);
}

static void every_prefix_is_refused_or_equal(void)
{
    char *page = sample_page(3);
    size_t len = strlen(page);
    int wrong = 0;
    char why[512];
    for (size_t n = 0; n < len; n++) {
        if (compare(page, n, why, sizeof why) < 0 && wrong++ < 5)
            test_check(false, __FILE__, __LINE__, "prefix %zu: %s", n, why);
    }
    TEST_EQ_INT(wrong, 0);
    TEST_EQ_INT(compare(page, len, why, sizeof why), 1);
    free(page);
}

static void mutations_never_disagree(void)
{
    char *page = sample_page(4);
    size_t len = strlen(page);
    char *m = malloc(len + 1);
    static const char bytes[] = "{}[]\",:\\0123456789.eE+-tfnu \t\n\x01\x7f\xc3\xa9";
    int wrong = 0, accepted = 0, refused = 0;
    char why[512];
    for (int i = 0; i < 30000; i++) {
        memcpy(m, page, len + 1);
        int edits = 1 + (int)(test_rand() % 3);
        for (int k = 0; k < edits; k++)
            m[test_rand() % len] = bytes[test_rand() % (sizeof bytes - 1)];
        int r = compare(m, len, why, sizeof why);
        if (r < 0 && wrong++ < 5)
            test_check(false, __FILE__, __LINE__, "mutation %d: %s in %s", i, why, m);
        accepted += r == 1;
        refused += r == 0;
    }
    TEST_EQ_INT(wrong, 0);
    /* both outcomes happened, or the mutations tested nothing */
    TEST_CHECK(accepted > 1000);
    TEST_CHECK(refused > 1000);
    free(m);
    free(page);
}

static void arena_is_a_few_blocks(void)
{
    char *page = sample_page(100);
    size_t len = strlen(page);
    jd_doc *d = NULL;
    gs_err e = {0};
    TEST_EQ_INT(jd_parse(page, len, NULL, &d, &e), 0);
    /* nodes of 64 bytes and strings: a node-dense page needs about 8 times its text, in a
     * first block of 4 times and one of 8 (12 in all), not a block per value */
    TEST_CHECK_MSG(jd_bytes(d) <= len * 13, "arena %zu bytes for %zu of text", jd_bytes(d), len);
    TEST_CHECK(jd_bytes(d) >= len);
    jd_free(d);
    free(page);
    TEST_EQ_INT(jd_parse("[1", 2, NULL, &d, &e), GS_EPARSE);
    TEST_CHECK(d == NULL);
    TEST_CHECK(strstr(e.msg, "byte 2") != NULL);
}

static void a_cache_lends_one_block(void)
{
    jd_cache c = {0};
    char *big = sample_page(100), *small = sample_page(10);
    jd_doc *d = NULL;
    gs_err e = {0};
    TEST_EQ_INT(jd_parse(big, strlen(big), &c, &d, &e), 0);
    size_t first = jd_bytes(d);
    TEST_CHECK(c.block == NULL); /* none to lend yet */
    jd_free(d);
    TEST_CHECK(c.block != NULL); /* the largest block came back */
    /* a smaller page fits in it: one block, the same size, nothing allocated */
    TEST_EQ_INT(jd_parse(small, strlen(small), &c, &d, &e), 0);
    TEST_CHECK(c.block == NULL);
    TEST_CHECK(jd_bytes(d) <= first);
    TEST_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(jd_root(d), "records")), 10);
    /* a second document at the same time gets its own blocks */
    jd_doc *d2 = NULL;
    TEST_EQ_INT(jd_parse(big, strlen(big), &c, &d2, &e), 0);
    char why[512];
    TEST_EQ_INT(compare(big, strlen(big), why, sizeof why), 1);
    jd_free(d2);
    jd_free(d);
    TEST_CHECK(c.block != NULL);
    jd_cache_clear(&c);
    TEST_CHECK(c.block == NULL);
    free(big);
    free(small);
}

int main(void)
{
    TEST_RUN(values_as_cjson_reads_them);
    TEST_RUN(refuses_what_it_does_not_take);
    TEST_RUN(depth_limit_is_cjsons);
    TEST_RUN(generated_numbers_read_exactly);
    TEST_RUN(a_page_reads_the_same);
    TEST_RUN(every_prefix_is_refused_or_equal);
    TEST_RUN(mutations_never_disagree);
    TEST_RUN(arena_is_a_few_blocks);
    TEST_RUN(a_cache_lends_one_block);
    int rc = test_done();
    jd_cache_clear(&cache);
    return rc;
}
