/* Unit tests for the logger: text quoting, JSON validity (every line parsed with cJSON),
 * redaction in values and messages, level filtering. Output goes to a temporary file. */
#include "log.h"
#include "test.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Everything the logger wrote so far, as one malloc'd string. */
static char *slurp(FILE *f)
{
    fflush(f);
    long n = ftell(f);
    char *s = calloc(1, (size_t)n + 1);
    rewind(f);
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n)
        s[0] = '\0';
    fseek(f, 0, SEEK_END);
    return s;
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static void text_format_and_quoting(void)
{
    FILE *f = tmpfile();
    TEST_REQUIRE(f != NULL);
    gs_log *lg = log_new(f, LOG_INFO, LOG_TEXT);
    log_event(lg, LOG_INFO, "pull.page", "object", "custom_objects.pet", "records", "100", "note",
              "two words", "q", "say \"hi\"", "eq", "a=b", "nl", "x\ny", "empty", "", "nul", NULL,
              NULL);
    char *out = slurp(f);
    TEST_EQ_INT(count_lines(out), 1);
    /* 2026-11-24T13:45:01.123Z INFO  pull.page ... */
    TEST_CHECK_MSG(strlen(out) > 30 && out[4] == '-' && out[10] == 'T' && out[19] == '.' &&
                       out[23] == 'Z' && out[24] == ' ',
                   "timestamp: %.30s", out);
    const char *rest = out + 25;
    TEST_EQ_STR(rest, "INFO  pull.page object=custom_objects.pet records=100 note=\"two words\" "
                      "q=\"say \\\"hi\\\"\" eq=\"a=b\" nl=\"x\\ny\" empty=\"\" nul=\"\"\n");
    free(out);
    log_free(lg);
    fclose(f);
}

static void json_lines_are_valid(void)
{
    FILE *f = tmpfile();
    TEST_REQUIRE(f != NULL);
    gs_log *lg = log_new(f, LOG_DEBUG, LOG_JSON);
    const char *nasty[] = {"quote \" backslash \\ slash /",
                           "control \x01\x02\x1f tab\t cr\r nl\n",
                           "utf8 h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x90\x88",
                           "bad utf8 \xff\xfe \xc3 \xed\xa0\x80 \xc0\xaf end",
                           "{\"json\":[1,2]}",
                           "123",
                           "-1.5",
                           "007",
                           "1.",
                           "true",
                           "null"};
    size_t n = sizeof nasty / sizeof nasty[0];
    for (size_t i = 0; i < n; i++)
        log_event(lg, LOG_INFO, "test.value", "v", nasty[i], "k\"ey", "x", NULL);
    log_msgf(lg, LOG_WARN, "test.msg", "message with %s and \"quotes\"", "\xff bytes");
    log_event(lg, LOG_DEBUG, "test.null", "v", NULL, NULL);
    char *out = slurp(f);
    TEST_EQ_INT(count_lines(out), (int)n + 2);
    char *save = NULL;
    size_t i = 0;
    for (char *line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save), i++) {
        cJSON *j = cJSON_Parse(line);
        TEST_CHECK_MSG(j != NULL, "line %zu is not JSON: %s", i, line);
        if (!j)
            continue;
        TEST_CHECK(cJSON_IsString(cJSON_GetObjectItem(j, "ts")));
        TEST_CHECK(cJSON_IsString(cJSON_GetObjectItem(j, "level")));
        TEST_CHECK(cJSON_IsString(cJSON_GetObjectItem(j, "event")));
        if (i < n) {
            cJSON *v = cJSON_GetObjectItem(j, "v");
            TEST_EQ_STR(cJSON_GetObjectItem(j, "k\"ey")->valuestring, "x");
            if (i <= 2 || i == 4 || i == 7 || i == 8 || i == 10) /* strings round-trip */
                TEST_CHECK_MSG(cJSON_IsString(v) && !strcmp(v->valuestring, nasty[i]),
                               "line %zu: %s", i, line);
            if (i == 3) /* malformed UTF-8 is replaced, the rest kept */
                TEST_CHECK_MSG(cJSON_IsString(v) &&
                                   !strcmp(v->valuestring, "bad utf8 \xef\xbf\xbd\xef\xbf\xbd "
                                                           "\xef\xbf\xbd \xef\xbf\xbd\xef\xbf\xbd"
                                                           "\xef\xbf\xbd \xef\xbf\xbd\xef\xbf\xbd "
                                                           "end"),
                               "line %zu: %s", i, line);
            if (i == 5)
                TEST_CHECK(cJSON_IsNumber(v) && v->valuedouble == 123);
            if (i == 6)
                TEST_CHECK(cJSON_IsNumber(v) && v->valuedouble == -1.5);
            if (i == 9)
                TEST_CHECK(cJSON_IsTrue(v));
        } else if (i == n) {
            TEST_EQ_STR(cJSON_GetObjectItem(j, "level")->valuestring, "warn");
            cJSON *m = cJSON_GetObjectItem(j, "msg");
            TEST_CHECK(cJSON_IsString(m) &&
                       !strcmp(m->valuestring, "message with \xef\xbf\xbd bytes and \"quotes\""));
        } else {
            TEST_CHECK(cJSON_IsNull(cJSON_GetObjectItem(j, "v")));
            TEST_EQ_STR(cJSON_GetObjectItem(j, "level")->valuestring, "debug");
        }
        cJSON_Delete(j);
    }
    free(out);
    log_free(lg);
    fclose(f);
}

static void secrets_are_redacted(void)
{
    FILE *f = tmpfile();
    TEST_REQUIRE(f != NULL);
    gs_log *lg = log_new(f, LOG_INFO, LOG_TEXT);
    log_add_secret(lg, "abc");             /* too short: ignored */
    log_add_secret(lg, "tok-1234");        /* a prefix of the next one */
    log_add_secret(lg, "tok-1234-longer"); /* must still be redacted whole */
    log_add_secret(lg, "tok-1234");        /* duplicate: harmless */
    /* Many secrets: no silent cap (a cap would leak the 33rd location's token). */
    char many[100][24];
    for (int i = 0; i < 100; i++) {
        snprintf(many[i], sizeof many[i], "secret-%03d-xyz", i);
        log_add_secret(lg, many[i]);
    }
    log_event(lg, LOG_INFO, "http.request", "auth", "Bearer tok-1234-longer", "other",
              "tok-1234 and tok-1234", "last", "secret-099-xyz", "word", "abc", NULL);
    log_msgf(lg, LOG_INFO, "http.error", "request GET /x with Bearer %s failed", "tok-1234-longer");
    /* A message longer than any fixed buffer, with the secret at the old truncation point. */
    char big[2100];
    memset(big, 'a', sizeof big);
    big[2040] = '\0';
    log_msgf(lg, LOG_ERROR, "big", "%s%s%s", big, "tok-1234-longer", "tail");
    log_set_format(lg, LOG_JSON);
    log_event(lg, LOG_INFO, "json", "v", "x secret-000-xyz y", NULL);
    char *out = slurp(f);
    TEST_CHECK_MSG(strstr(out, "tok-1234") == NULL, "leak: %s", out);
    TEST_CHECK_MSG(strstr(out, "-longer") == NULL, "partial leak: %s", out);
    TEST_CHECK_MSG(strstr(out, "secret-0") == NULL, "leak: %s", out);
    TEST_CHECK(strstr(out, "auth=\"Bearer [REDACTED]\" other=\"[REDACTED] and [REDACTED]\" "
                           "last=[REDACTED] word=abc") != NULL);
    TEST_CHECK(strstr(out, "msg=\"request GET /x with Bearer [REDACTED] failed\"") != NULL);
    TEST_CHECK(strstr(out, "[REDACTED]tail") != NULL);
    TEST_CHECK(strstr(out, "\"v\":\"x [REDACTED] y\"") != NULL);
    char buf[32];
    log_redact(lg, "key tok-1234-longer end", buf, sizeof buf);
    TEST_EQ_STR(buf, "key [REDACTED] end");
    log_redact(lg, "tok-1234-longer and much more text here", buf, 12);
    TEST_EQ_STR(buf, "[REDACTED] ");
    free(out);
    log_free(lg);
    fclose(f);
}

static void level_filtering(void)
{
    FILE *f = tmpfile();
    TEST_REQUIRE(f != NULL);
    gs_log *lg = log_new(f, LOG_WARN, LOG_TEXT);
    TEST_CHECK(log_enabled(lg, LOG_ERROR));
    TEST_CHECK(log_enabled(lg, LOG_WARN));
    TEST_CHECK(!log_enabled(lg, LOG_INFO));
    log_event(lg, LOG_ERROR, "e1", NULL);
    log_event(lg, LOG_WARN, "w1", NULL);
    log_event(lg, LOG_INFO, "i1", NULL);
    log_msgf(lg, LOG_DEBUG, "d1", "x");
    log_set_level(lg, LOG_DEBUG);
    TEST_EQ_INT(log_get_level(lg), LOG_DEBUG);
    log_event(lg, LOG_DEBUG, "d2", NULL);
    log_set_level(lg, LOG_ERROR);
    log_event(lg, LOG_WARN, "w2", NULL);
    char *out = slurp(f);
    TEST_EQ_INT(count_lines(out), 3);
    TEST_CHECK(strstr(out, "ERROR e1") && strstr(out, "WARN  w1") && strstr(out, "DEBUG d2"));
    TEST_CHECK(!strstr(out, "i1") && !strstr(out, "d1") && !strstr(out, "w2"));
    free(out);
    log_free(lg);
    fclose(f);

    bool ok;
    TEST_EQ_INT(log_level_parse("debug", &ok), LOG_DEBUG);
    TEST_CHECK(ok);
    TEST_EQ_INT(log_level_parse("warning", &ok), LOG_WARN);
    TEST_CHECK(ok);
    log_level_parse("loud", &ok);
    TEST_CHECK(!ok);
    TEST_EQ_INT(log_format_parse("json", &ok), LOG_JSON);
    TEST_CHECK(ok);
    log_format_parse("xml", &ok);
    TEST_CHECK(!ok);
    TEST_EQ_STR(log_level_name(LOG_WARN), "warn");
}

int main(void)
{
    TEST_RUN(text_format_and_quoting);
    TEST_RUN(json_lines_are_valid);
    TEST_RUN(secrets_are_redacted);
    TEST_RUN(level_filtering);
    return test_done();
}
