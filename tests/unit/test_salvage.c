/* Unit tests for salvage.h: the repair rules for text PostgreSQL cannot store, and splitting a
 * page that cJSON rejects into records that can be parsed one by one. */
#include "salvage.h"
#include "test.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *repaired(const char *in, sv_stats *st)
{
    char *out;
    size_t n;
    if (sv_repair(in, strlen(in), &out, &n, st) != 0)
        return strdup("(ENOMEM)");
    if (!out)
        return strdup("(unchanged)");
    TEST_EQ_INT(n, strlen(out));
    return out;
}

static void valid_text_is_left_alone(void)
{
    sv_stats st;
    /* ASCII, 2-, 3- and 4-byte sequences, escaped pairs, other escapes */
    const char *ok = "{\"a\":\"h\xC3\xA9llo \xE2\x82\xAC \xF0\x9F\x98\x80\","
                     "\"b\":\"\\ud83d\\ude00 \\n \\\" \\\\u0000 \\u00e9\"}";
    char *r = repaired(ok, &st);
    TEST_EQ_STR(r, "(unchanged)");
    TEST_EQ_INT(st.bad_utf8 + st.surrogates + st.nuls, 0);
    free(r);
}

static void invalid_utf8_becomes_fffd(void)
{
    sv_stats st;
    /* a stray 0xFF, a truncated 3-byte sequence (one U+FFFD for the maximal subpart), an
     * encoded surrogate (ED A0 80: three subparts), an overlong C0 80 */
    char *r = repaired("\"a\xFF"
                       "b\xE2\x82"
                       "c\xED\xA0\x80"
                       "d\xC0\x80\"",
                       &st);
    TEST_EQ_STR(r, "\"a\xEF\xBF\xBD"
                   "b\xEF\xBF\xBD"
                   "c\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"
                   "d\xEF\xBF\xBD\xEF\xBF\xBD\"");
    TEST_EQ_INT(st.bad_utf8, 7);
    free(r);
    /* cut at the very end */
    r = repaired("\"x\xF0\x9F", &st);
    TEST_EQ_STR(r, "\"x\xEF\xBF\xBD");
    free(r);
}

static void surrogates_and_nul(void)
{
    sv_stats st;
    char *r = repaired("{\"a\":\"x\\ud800y\",\"b\":\"\\uDC00\",\"c\":\"p\\u0000q\","
                       "\"d\":\"\\ud800\\u0041\"}",
                       &st);
    TEST_EQ_STR(r, "{\"a\":\"x\\uFFFDy\",\"b\":\"\\uFFFD\",\"c\":\"p\\uFFFDq\","
                   "\"d\":\"\\uFFFD\\u0041\"}");
    TEST_EQ_INT(st.surrogates, 3);
    TEST_EQ_INT(st.nuls, 1);
    /* the repaired text parses, and the NUL did not cut the string */
    cJSON *j = cJSON_Parse(r);
    TEST_REQUIRE(j != NULL);
    TEST_EQ_STR(cJSON_GetStringValue(cJSON_GetObjectItem(j, "c")), "p\xEF\xBF\xBDq");
    cJSON_Delete(j);
    free(r);
    /* an escaped backslash does not start an escape; the next string is seen as a string */
    r = repaired("[1, \"\\\\\", \"\\u0000\"]", &st);
    TEST_EQ_STR(r, "[1, \"\\\\\", \"\\uFFFD\"]");
    free(r);
}

static void split_a_page_with_a_deep_record(void)
{
    /* record 2 is nested 10,000 deep: cJSON refuses the page, the split does not */
    size_t depth = 10000;
    size_t cap = depth * 2 + 512;
    char *doc = malloc(cap);
    TEST_REQUIRE(doc != NULL);
    int n = snprintf(doc, cap,
                     "{\"traceId\":\"t\",\"records\":[ {\"id\":\"r1\",\"v\":\"]}\"},"
                     " {\"id\":\"r2\",\"searchAfter\":[2,\"r2\"],\"deep\":");
    for (size_t i = 0; i < depth; i++)
        doc[n++] = '[';
    for (size_t i = 0; i < depth; i++)
        doc[n++] = ']';
    n += snprintf(doc + n, cap - (size_t)n, "} ,{\"id\":\"r3\"}],\"total\":3}");
    cJSON *whole = cJSON_ParseWithLength(doc, (size_t)n);
    TEST_CHECK_MSG(whole == NULL, "cJSON rejects the page (nesting limit)");
    cJSON_Delete(whole);
    sv_span *it;
    size_t k;
    gs_err e;
    TEST_REQUIRE(sv_split(doc, (size_t)n, "records", &it, &k, &e) == 0);
    TEST_EQ_INT(k, 3);
    cJSON *r1 = cJSON_ParseWithLength(doc + it[0].off, it[0].len);
    TEST_EQ_STR(cJSON_GetStringValue(cJSON_GetObjectItem(r1, "v")), "]}");
    cJSON_Delete(r1);
    cJSON *r2 = cJSON_ParseWithLength(doc + it[1].off, it[1].len);
    TEST_CHECK(r2 == NULL);
    sv_span id, sa;
    TEST_EQ_INT(sv_member(doc + it[1].off, it[1].len, "id", &id), 0);
    TEST_CHECK(id.len == 4 && memcmp(doc + it[1].off + id.off, "\"r2\"", 4) == 0);
    TEST_EQ_INT(sv_member(doc + it[1].off, it[1].len, "searchAfter", &sa), 0);
    TEST_CHECK(sa.len == 8 && memcmp(doc + it[1].off + sa.off, "[2,\"r2\"]", 8) == 0);
    TEST_EQ_INT(sv_member(doc + it[1].off, it[1].len, "nope", &sa), GS_ENOTFOUND);
    cJSON *r3 = cJSON_ParseWithLength(doc + it[2].off, it[2].len);
    TEST_EQ_STR(cJSON_GetStringValue(cJSON_GetObjectItem(r3, "id")), "r3");
    cJSON_Delete(r3);
    free(it);
    free(doc);
}

static void split_refuses_what_is_not_salvageable(void)
{
    sv_span *it;
    size_t k;
    gs_err e;
    const char *cut = "{\"records\":[{\"id\":\"a\"},{\"id\":\"b\"";
    TEST_EQ_INT(sv_split(cut, strlen(cut), "records", &it, &k, &e), GS_EPARSE);
    const char *other = "{\"contacts\":[]}";
    TEST_EQ_INT(sv_split(other, strlen(other), "records", &it, &k, &e), GS_EPARSE);
    TEST_EQ_INT(sv_split("[]", 2, "records", &it, &k, &e), GS_EPARSE);
    TEST_EQ_INT(sv_split(other, strlen(other), "contacts", &it, &k, &e), 0);
    TEST_EQ_INT(k, 0);
    const char *unterminated = "{\"records\":[\"abc]}";
    TEST_EQ_INT(sv_split(unterminated, strlen(unterminated), "records", &it, &k, &e), GS_EPARSE);
}

static void ends_of_an_oversized_answer(void)
{
    const char *head =
        "{\"records\":[{\"id\":\"big1\",\"owner\":[],\"properties\":{\"notes\":\"xxxx";
    sv_span sp;
    TEST_EQ_INT(sv_head_member(head, strlen(head), "records", "id", &sp), 0);
    TEST_CHECK(sp.len == 6 && memcmp(head + sp.off, "\"big1\"", 6) == 0);
    TEST_EQ_INT(sv_head_member(head, strlen(head), "records", "properties", &sp), GS_ENOTFOUND);
    TEST_EQ_INT(sv_head_member(head, strlen(head), "contacts", "id", &sp), GS_ENOTFOUND);
    /* the record's own cursor closes it; a nested one earlier, an escaped one in a string */
    const char *tail = "xx\\\"searchAfter\\\":[0]\",\"meta\":{\"searchAfter\":[1,\"n\"]},"
                       "\"searchAfter\":[1704067220000,\"big1\"],\"relations\":[]}],\"total\":3}";
    TEST_EQ_INT(sv_tail_member(tail, strlen(tail), "searchAfter", &sp), 0);
    TEST_CHECK(sp.len == 22 && memcmp(tail + sp.off, "[1704067220000,\"big1\"]", 22) == 0);
    TEST_EQ_INT(sv_tail_member("xxxx", 4, "searchAfter", &sp), GS_ENOTFOUND);
    TEST_EQ_INT(sv_depth("{\"a\":[[1],{\"b\":\"[[[[\"}]}", 23), 3);
}

int main(void)
{
    TEST_RUN(ends_of_an_oversized_answer);
    TEST_RUN(valid_text_is_left_alone);
    TEST_RUN(invalid_utf8_becomes_fffd);
    TEST_RUN(surrogates_and_nul);
    TEST_RUN(split_a_page_with_a_deep_record);
    TEST_RUN(split_refuses_what_is_not_salvageable);
    return test_done();
}
