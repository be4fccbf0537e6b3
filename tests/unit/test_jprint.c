/* Unit tests for jprint.h: jp_print gives cJSON_PrintUnformatted's bytes, for every kind of node,
 * every byte in strings, numbers of every shape, references and arena trees. */
#include "jdoc.h"
#include "jprint.h"
#include "test.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool same_as_cjson(const cJSON *v, int line)
{
    char *a = jp_print(v), *b = cJSON_PrintUnformatted(v);
    bool ok = a && b && strcmp(a, b) == 0;
    test_check(ok, __FILE__, line, "jp_print \"%.200s\", cJSON \"%.200s\"", a ? a : "(null)",
               b ? b : "(null)");
    free(a);
    free(b);
    return ok;
}

#define SAME(v) same_as_cjson((v), __LINE__)

static void scalars_and_containers(void)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNullToObject(o, "n");
    cJSON_AddTrueToObject(o, "t");
    cJSON_AddFalseToObject(o, "f");
    cJSON_AddStringToObject(o, "s", "plain");
    cJSON_AddStringToObject(o, "", "empty key");
    cJSON_AddItemToObject(o, "a", cJSON_CreateArray());
    cJSON_AddItemToObject(o, "o", cJSON_CreateObject());
    cJSON_AddRawToObject(o, "raw", "[1, 2]");
    cJSON *nested = cJSON_CreateArray();
    for (int i = 0; i < 5; i++)
        cJSON_AddItemToArray(nested, cJSON_CreateIntArray((const int[]){i, -i, i * 1000}, 3));
    cJSON_AddItemToObject(o, "nested", nested);
    TEST_CHECK(SAME(o));
    /* references, as fam_cf_extra builds them */
    cJSON *x = cJSON_CreateObject();
    cJSON_AddItemReferenceToObject(x, "ref", nested);
    cJSON *arr = cJSON_AddArrayToObject(x, "list");
    cJSON_AddItemReferenceToArray(arr, cJSON_GetObjectItem(o, "s"));
    TEST_CHECK(SAME(x));
    cJSON_Delete(x);
    cJSON_Delete(o);
}

static void every_byte_in_strings(void)
{
    char s[300];
    size_t k = 0;
    for (int c = 1; c < 256; c++)
        s[k++] = (char)c;
    s[k] = '\0';
    cJSON *v = cJSON_CreateString(s);
    TEST_CHECK(SAME(v));
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, s, cJSON_CreateString("\"quoted\" \\ / \b\f\n\r\t \x01\x1f\x7f"));
    TEST_CHECK(SAME(o));
    cJSON_Delete(o);
    cJSON_Delete(v);
}

static void numbers_of_every_shape(void)
{
    const double fixed[] = {0,
                            -0.0,
                            1,
                            -1,
                            2147483647.0,
                            2147483648.0,
                            -2147483648.0,
                            -2147483649.0,
                            1e15,
                            1e20,
                            123456789012345678.0,
                            0.1,
                            0.5,
                            12.34,
                            -0.001,
                            1e-4,
                            9.99e-5,
                            1.0 / 3,
                            0.1 + 0.2,
                            5e-324,
                            2.2250738585072014e-308,
                            1.7976931348623157e308,
                            NAN,
                            INFINITY,
                            -INFINITY,
                            1704067200000.0,
                            99999999999999.9};
    for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++) {
        cJSON *v = cJSON_CreateNumber(fixed[i]);
        SAME(v);
        cJSON_Delete(v);
    }
    int bad = 0, n = 0;
    char src[64];
    for (int i = 0; i < 300000 && bad < 10; i++, n++) {
        double d;
        if (i % 3 == 0) {
            uint64_t bits = test_rand();
            memcpy(&d, &bits, sizeof d);
        } else if (i % 3 == 1) {
            unsigned long long m = test_rand() % 100000000000000000ULL;
            for (int k = 1 + (int)(test_rand() % 17); k < 17; k++)
                m /= 10;
            snprintf(src, sizeof src, "%s%llue-%d", test_rand() % 4 ? "" : "-", m,
                     (int)(test_rand() % 9));
            d = strtod(src, NULL);
        } else {
            d = (double)(int64_t)test_rand() / (double)(1 + test_rand() % 1000000);
        }
        cJSON *v = cJSON_CreateNumber(d);
        bad += !SAME(v);
        cJSON_Delete(v);
    }
    TEST_CHECK(n >= 300000);
    TEST_EQ_INT(bad, 0);
}

static void arena_trees_print_the_same(void)
{
    const char *text =
        "{\"records\":[{\"id\":\"r1\",\"properties\":{\"n\":12.34,\"big\":1e300,\"i\":-7,"
        "\"s\":\"caf\\u00e9 \\ud83d\\ude00 \\\"q\\\" \\\\ \\/ \\n\",\"l\":[true,false,null,[],{}]},"
        "\"searchAfter\":[1704067200000,\"r1\"]}],\"total\":1}";
    jd_doc *d = NULL;
    gs_err e = {0};
    TEST_REQUIRE(jd_parse(text, strlen(text), NULL, &d, &e) == 0);
    TEST_CHECK(SAME(jd_root(d)));
    /* and the bytes are cJSON's own printing of its own parse */
    cJSON *c = cJSON_Parse(text);
    char *a = jp_print(jd_root(d)), *b = cJSON_PrintUnformatted(c);
    TEST_EQ_STR(a, b);
    free(a);
    free(b);
    cJSON_Delete(c);
    jd_free(d);
    TEST_CHECK(jp_print(NULL) == NULL);
}

/* jp_print_to appends the text jp_print returns, after what the buffer holds. */
static void appends_to_a_buffer(void)
{
    cJSON *v = cJSON_Parse("{\"a\":[1,2.5,\"x\\ny\"],\"b\":null,\"c\":{}}");
    TEST_REQUIRE(v != NULL);
    char *want = jp_print(v);
    TEST_REQUIRE(want != NULL);
    sbuf b = SBUF_INIT;
    sbuf_puts(&b, "prefix:");
    TEST_CHECK(jp_print_to(&b, v));
    TEST_CHECK(strncmp(sbuf_str(&b), "prefix:", 7) == 0);
    TEST_EQ_STR(sbuf_str(&b) + 7, want);
    TEST_CHECK(!jp_print_to(&b, NULL));
    sbuf_free(&b);
    free(want);
    cJSON_Delete(v);
}

int main(void)
{
    TEST_RUN(scalars_and_containers);
    TEST_RUN(every_byte_in_strings);
    TEST_RUN(numbers_of_every_shape);
    TEST_RUN(arena_trees_print_the_same);
    TEST_RUN(appends_to_a_buffer);
    return test_done();
}
