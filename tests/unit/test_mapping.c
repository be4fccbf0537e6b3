/* test_mapping.c - type map and value codecs, without a database. */
#include "family.h"
#include "mapping.h"
#include "test.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static map_types *types;

static schema_field field(const char *key, const char *dt)
{
    schema_field f;
    memset(&f, 0, sizeof f);
    f.field_key = (char *)key;
    f.prop_key = (char *)schema_prop_key(key);
    f.data_type = (char *)dt;
    f.type = map_types_get(types, dt);
    if (!f.type)
        f.type = &types->fallback;
    f.column = f.prop_key;
    return f;
}

static void test_array_literals(void)
{
    const char *items[] = {"plain",       "",     "NULL",     "null", "a,b",  "{x}", "q\"uote",
                           "back\\slash", "名前", " spaced ", "}",    "\\\"", NULL};
    size_t n = sizeof items / sizeof *items;
    sbuf b = SBUF_INIT;
    map_array_encode(&b, items, n);
    TEST_EQ_STR(sbuf_str(&b), "{\"plain\",\"\",\"NULL\",\"null\",\"a,b\",\"{x}\",\"q\\\"uote\","
                              "\"back\\\\slash\",\"名前\",\" spaced \",\"}\",\"\\\\\\\"\",NULL}");
    cJSON *arr;
    gs_err e = {0};
    TEST_REQUIRE(map_array_decode(sbuf_str(&b), &arr, &e) == 0);
    TEST_EQ_INT(cJSON_GetArraySize(arr), (int)n);
    for (size_t i = 0; i < n; i++) {
        cJSON *it = cJSON_GetArrayItem(arr, (int)i);
        if (items[i])
            TEST_CHECK_MSG(cJSON_IsString(it) && strcmp(it->valuestring, items[i]) == 0, "item %zu",
                           i);
        else
            TEST_CHECK(cJSON_IsNull(it));
    }
    cJSON_Delete(arr);
    sbuf_free(&b);
    /* PostgreSQL's own output style: unquoted elements, NULL, quoted "NULL", blanks. */
    TEST_REQUIRE(map_array_decode("{a,NULL,\"NULL\",\"\",\"x y\",b\\,c , d }", &arr, &e) == 0);
    char *s = cJSON_PrintUnformatted(arr);
    TEST_EQ_STR(s, "[\"a\",null,\"NULL\",\"\",\"x y\",\"b,c\",\"d\"]");
    free(s);
    cJSON_Delete(arr);
    TEST_REQUIRE(map_array_decode("{}", &arr, &e) == 0);
    TEST_EQ_INT(cJSON_GetArraySize(arr), 0);
    cJSON_Delete(arr);
    map_array_encode(&b, NULL, 0);
    TEST_EQ_STR(sbuf_str(&b), "{}");
    sbuf_free(&b);
    const char *bad[] = {"", "a", "{", "{\"x}", "{a,}", "{{a}}", "{a}x"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        arr = NULL;
        TEST_CHECK_MSG(map_array_decode(bad[i], &arr, &e) == GS_EPARSE, "%s", bad[i]);
        cJSON_Delete(arr);
    }
}

static void enc(const schema_field *f, const char *props_json, const char *w1, const char *w2,
                bool expect_warning)
{
    cJSON *props = cJSON_Parse(props_json);
    char *v1, *v2;
    sbuf w = SBUF_INIT;
    TEST_REQUIRE(props && map_encode_field(f, props, &v1, &v2, &w) == 0);
    test_check((!w1 && !v1) || (w1 && v1 && strcmp(w1, v1) == 0), __FILE__, __LINE__,
               "%s: v1 %s want %s", props_json, v1 ? v1 : "NULL", w1 ? w1 : "NULL");
    test_check((!w2 && !v2) || (w2 && v2 && strcmp(w2, v2) == 0), __FILE__, __LINE__,
               "%s: v2 %s want %s", props_json, v2 ? v2 : "NULL", w2 ? w2 : "NULL");
    test_check(expect_warning == (w.len > 0), __FILE__, __LINE__, "%s: warnings [%s]", props_json,
               sbuf_str(&w));
    free(v1);
    free(v2);
    sbuf_free(&w);
    cJSON_Delete(props);
}

static void dec(const schema_field *f, const char *v1, const char *v2, const char *want)
{
    cJSON *out;
    gs_err e = {0};
    TEST_REQUIRE(map_decode_field(f, v1, v2, &out, &e) == 0);
    char *s = cJSON_PrintUnformatted(out);
    test_check(strcmp(s, want) == 0, __FILE__, __LINE__, "decode %s: %s want %s", v1 ? v1 : "NULL",
               s, want);
    free(s);
    cJSON_Delete(out);
}

static void test_field_codecs(void)
{
    schema_field num = field("custom_objects.pet.age", "NUMERICAL");
    enc(&num, "{\"age\": 1424}", "1424", NULL, false);
    enc(&num, "{\"age\": 12.5}", "12.5", NULL, false);
    enc(&num, "{\"age\": 0.1}", "0.1", NULL, false);
    enc(&num, "{\"age\": \" 12.50 \"}", "12.50", NULL, false);
    enc(&num, "{\"age\": \"-1e5\"}", "-1e5", NULL, false);
    enc(&num, "{\"age\": \"CUS-123\"}", NULL, NULL, true);
    enc(&num, "{\"age\": \"NaN\"}", NULL, NULL, true);
    /* what numeric can hold (PostgreSQL 15: 131,072 digits before the point, scale 16,383) */
    enc(&num, "{\"age\": \"9.9e131071\"}", "9.9e131071", NULL, false);
    enc(&num, "{\"age\": \"0001e131071\"}", "0001e131071", NULL, false);
    enc(&num, "{\"age\": \"1e-16383\"}", "1e-16383", NULL, false);
    enc(&num, "{\"age\": \"0e999999\"}", "0e999999", NULL, false);
    enc(&num, "{\"age\": \"1e131072\"}", NULL, NULL, true);
    enc(&num, "{\"age\": \"1.5e-16383\"}", NULL, NULL, true);
    enc(&num, "{\"age\": \"1e99999999999\"}", NULL, NULL, true);
    enc(&num, "{\"age\": null}", NULL, NULL, false);
    enc(&num, "{}", NULL, NULL, false);
    dec(&num, "12.50", NULL, "12.5");
    dec(&num, NULL, NULL, "null");

    schema_field m = field("custom_objects.pet.price", "MONETORY");
    schema_field m2 = field("custom_objects.pet.price", "MONETARY");
    TEST_CHECK(m2.type && m2.type->codec == MAP_MONEY);
    enc(&m, "{\"price\": {\"currency\": \"default\", \"value\": 100}}", "100", "default", false);
    enc(&m2, "{\"price\": {\"currency\": \"USD\", \"value\": \"99.95\"}}", "99.95", "USD", false);
    enc(&m, "{\"price\": 7}", "7", NULL, false);
    dec(&m, "100", "default", "{\"currency\":\"default\",\"value\":100}");
    dec(&m, NULL, NULL, "null");

    schema_field mo = field("custom_objects.pet.tags", "MULTIPLE_OPTIONS");
    enc(&mo, "{\"tags\": [\"a\", \"b\"]}", "{\"a\",\"b\"}", NULL, false);
    enc(&mo, "{\"tags\": \"single\"}", "{\"single\"}", NULL, false);
    enc(&mo, "{\"tags\": []}", "{}", NULL, false);
    dec(&mo, "{a,\"b c\"}", NULL, "[\"a\",\"b c\"]");

    schema_field d = field("custom_objects.pet.birthday", "DATE");
    enc(&d, "{\"birthday\": \"2024-07-11\"}", "2024-07-11", NULL, false);
    enc(&d, "{\"birthday\": \"2021-07-28T10:00:00Z\"}", "2021-07-28", NULL, false);
    enc(&d, "{\"birthday\": \"2021-07-28T23:30:00.000-05:00\"}", "2021-07-28", NULL, false);
    enc(&d, "{\"birthday\": \"July 4th\"}", NULL, NULL, true);
    /* days that do not exist: PostgreSQL would refuse the whole page's write */
    enc(&d, "{\"birthday\": \"2024-02-30\"}", NULL, NULL, true);
    enc(&d, "{\"birthday\": \"2023-02-29\"}", NULL, NULL, true);
    enc(&d, "{\"birthday\": \"1900-02-29T00:00:00Z\"}", NULL, NULL, true);
    enc(&d, "{\"birthday\": \"0000-00-00\"}", NULL, NULL, true);
    enc(&d, "{\"birthday\": \"2024-13-01\"}", NULL, NULL, true);
    enc(&d, "{\"birthday\": \"2024-04-31\"}", NULL, NULL, true);
    enc(&d, "{\"birthday\": \"2000-02-29\"}", "2000-02-29", NULL, false);
    enc(&d, "{\"birthday\": \"0001-01-01\"}", "0001-01-01", NULL, false);
    enc(&d, "{\"birthday\": 1e18}", NULL, NULL, true); /* an epoch past the year 9999 */
    dec(&d, "2024-07-11", NULL, "\"2024-07-11\"");

    schema_field tb = field("custom_objects.pet.contacts", "TEXTBOX_LIST");
    enc(&tb, "{\"contacts.option_a\": \"V1\", \"contacts.option_b\": \"V2\", \"contactsx.c\": 1}",
        "{\"option_a\":\"V1\",\"option_b\":\"V2\"}", NULL, false);
    enc(&tb, "{\"contacts\": {\"option_a\": \"V1\"}}", "{\"option_a\":\"V1\"}", NULL, false);
    enc(&tb, "{\"other\": 1}", NULL, NULL, false);
    /* both forms: the flat options go over the nested ones */
    enc(&tb,
        "{\"contacts\": {\"option_a\": \"V1\", \"option_b\": \"old\"}, \"contacts.option_b\": "
        "\"V2\"}",
        "{\"option_a\":\"V1\",\"option_b\":\"V2\"}", NULL, false);
    enc(&tb, "{\"contacts\": null}", NULL, NULL, false);
    enc(&tb, "{\"contacts\": \"plain\"}", "\"plain\"", NULL, true);
    enc(&tb, "{\"contacts\": [1, 2], \"contacts.option_a\": \"V1\"}", "[1,2]", NULL, true);

    schema_field fu = field("custom_objects.pet.photos", "FILE_UPLOAD");
    enc(&fu, "{\"photos\": [{\"url\": \"u\"}]}", "[{\"url\":\"u\"}]", NULL, false);
    enc(&fu, "{\"photos\": \"http://x\"}", "[{\"url\":\"http://x\"}]", NULL, false);

    schema_field tx = field("custom_objects.pet.name", "TEXT");
    enc(&tx, "{\"name\": \"it's \\\"x\\\"\"}", "it's \"x\"", NULL, false);
    enc(&tx, "{\"name\": 5}", "5", NULL, false);
    enc(&tx, "{\"name\": true}", "true", NULL, false);

    schema_field unk = field("custom_objects.pet.sig", "SIGNATURE");
    TEST_CHECK(unk.type == &types->fallback);
    enc(&unk, "{\"sig\": {\"a\": [1, \"x\"]}}", "{\"a\":[1,\"x\"]}", NULL, false);
    dec(&unk, "{\"a\": [1, \"x\"]}", NULL, "{\"a\":[1,\"x\"]}");
}

static void test_number_text(void)
{
    char b[64];
    double cases[] = {0, -0.0, 1, -1, 0.1, 1.0 / 3, 1e20, 123456789012345678.0, 2.5e-7};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        map_number_text(cases[i], b, sizeof b);
        TEST_CHECK_MSG(strtod(b, NULL) == cases[i], "%s", b);
    }
    map_number_text(0.1, b, sizeof b);
    TEST_EQ_STR(b, "0.1");
    map_number_text(-0.0, b, sizeof b);
    TEST_EQ_STR(b, "0");
    /* integers are formatted by hand, fractions from 15 digits up, subnormals from 1 */
    map_number_text(-42, b, sizeof b);
    TEST_EQ_STR(b, "-42");
    map_number_text(999999999999999.0, b, sizeof b);
    TEST_EQ_STR(b, "999999999999999");
    map_number_text(12.5, b, sizeof b);
    TEST_EQ_STR(b, "12.5");
    map_number_text(0.1 + 0.2, b, sizeof b);
    TEST_EQ_STR(b, "0.30000000000000004");
    map_number_text(5e-324, b, sizeof b);
    TEST_EQ_STR(b, "5e-324");
}

/* What map_number_text printed before its fast paths: the first of %.15g..%.17g (from %.1g for
 * subnormals) that reads back. The fast paths must print the same text. */
static void reference_text(double d, char *buf, size_t len)
{
    for (int prec = fabs(d) < DBL_MIN && d != 0 ? 1 : 15; prec <= 17; prec++) {
        snprintf(buf, len, "%.*g", prec, d);
        if (strtod(buf, NULL) == d)
            return;
    }
}

static void number_text_matches_printf(void)
{
    char got[64], want[64], src[64];
    int bad = 0;
    long checked = 0;
    for (long i = 0; i < 1200000 && bad < 10; i++) {
        double d;
        if (i % 3 == 0) {
            /* any bit pattern */
            uint64_t bits = test_rand();
            memcpy(&d, &bits, sizeof d);
        } else {
            /* the decimals APIs send: up to 17 digits, 0 to 8 of them after the point */
            int digits = 1 + (int)(test_rand() % 17), point = (int)(test_rand() % 9);
            unsigned long long m = test_rand() % 100000000000000000ULL;
            for (int k = digits; k < 17; k++)
                m /= 10;
            snprintf(src, sizeof src, "%s%llue-%d", test_rand() % 4 ? "" : "-", m, point);
            d = strtod(src, NULL);
        }
        if (d != d || d - d != 0 || d == floor(d))
            continue; /* NaN, infinities; integers have their own path */
        map_number_text(d, got, sizeof got);
        reference_text(d, want, sizeof want);
        checked++;
        if (strcmp(got, want) != 0) {
            bad++;
            TEST_CHECK_MSG(false, "%.17g: \"%s\", printf says \"%s\"", d, got, want);
        }
    }
    TEST_CHECK(checked > 900000);
    TEST_EQ_INT(bad, 0);
    /* the edges of the fixed range and of 15 digits */
    const double edges[] = {1e-4,
                            0.00012,
                            9.99e-5,
                            0.1,
                            0.5,
                            1.5,
                            99999999999999.9,
                            999999999999999.9,
                            123456789012.345,
                            0.000123456789012345};
    for (size_t i = 0; i < sizeof edges / sizeof *edges; i++) {
        map_number_text(edges[i], got, sizeof got);
        reference_text(edges[i], want, sizeof want);
        TEST_EQ_STR(got, want);
        map_number_text(-edges[i], got, sizeof got);
        reference_text(-edges[i], want, sizeof want);
        TEST_EQ_STR(got, want);
    }
}

static void test_type_map(void)
{
    const char *dts[] = {"TEXT",     "LARGE_TEXT",     "PHONE",      "NUMERICAL",        "MONETORY",
                         "MONETARY", "SINGLE_OPTIONS", "RADIO",      "MULTIPLE_OPTIONS", "CHECKBOX",
                         "DATE",     "TEXTBOX_LIST",   "FILE_UPLOAD"};
    const char *cols[] = {"text", "text",   "text",   "numeric", "numeric", "numeric", "text",
                          "text", "text[]", "text[]", "date",    "jsonb",   "jsonb"};
    for (size_t i = 0; i < sizeof dts / sizeof *dts; i++) {
        const map_type *t = map_types_get(types, dts[i]);
        TEST_CHECK_MSG(t && strcmp(t->column, cols[i]) == 0, "%s", dts[i]);
    }
    TEST_CHECK(map_types_get(types, "SIGNATURE") == NULL);
    TEST_EQ_STR(types->fallback.column, "jsonb");
    TEST_CHECK(map_pg_type_valid("numeric(12,2)"));
    TEST_CHECK(map_pg_type_valid("text[]"));
    TEST_CHECK(!map_pg_type_valid("text; drop table x"));
    TEST_CHECK(!map_pg_type_valid("TEXT"));
    gs_err e = {0};
    TEST_EQ_INT(map_types_set(types, "X", "int; --", MAP_TEXT, NULL, &e), GS_ECONFIG);
}

/* The value of field i of row (NULL = SQL NULL). */
static const char *field_value(const schema_object *o, const map_row *row, size_t i)
{
    long cur;
    return row->values[map_field_column_index(o, i, &cur)];
}

/* The value of the row's column `name` (NULL = SQL NULL or no such column). */
static const char *column(const map_row *row, const char *name)
{
    for (size_t k = 0; k < row->n; k++)
        if (!strcmp(row->columns[k], name))
            return row->values[k];
    return NULL;
}

/* Contacts carry custom fields as a list of {id, value}: each field takes the first item with
 * a value, found by id or by field key, under any of the value keys; unknown ids go to `extra`;
 * a list that is not one leaves every field NULL (and goes to extra whole). */
static void contact_field_lists(void)
{
    schema_field fs[3] = {field("contact.pet", "TEXT"), field("contact.score", "NUMERICAL"),
                          field("contact.social", "TEXTBOX_LIST")};
    fs[0].id = "F1";
    fs[1].id = "F2";
    fs[2].id = "F3";
    schema_object o = {.key = "contact", .family = &fam_contacts, .fields = fs, .n_fields = 3};
    cJSON *rec = cJSON_Parse(
        "{\"id\":\"C1\",\"locationId\":\"L\",\"additionalPhones\":[],\"customFields\":["
        "{\"id\":\"F2\",\"value\":5},{\"id\":\"F1\",\"fieldValue\":\"rex\"},"
        "{\"id\":\"F1\",\"value\":\"second\"},{\"id\":\"contact.score\",\"value\":99},"
        "{\"id\":\"F3\",\"value\":{\"Twitter\":\"@a\"}},{\"id\":\"ZZ\",\"value\":\"unknown\"}]}");
    TEST_REQUIRE(rec != NULL);
    map_row row;
    sbuf w = SBUF_INIT;
    gs_err e = {0};
    TEST_REQUIRE(map_record_to_row(&o, rec, "L", &row, &w, &e) == 0);
    TEST_EQ_STR(field_value(&o, &row, 0), "rex");
    TEST_EQ_STR(field_value(&o, &row, 1), "5");
    TEST_EQ_STR(field_value(&o, &row, 2), "{\"Twitter\":\"@a\"}");
    TEST_CHECK_MSG(w.len == 0, "%s", sbuf_str(&w));
    const char *extra = column(&row, "extra");
    TEST_REQUIRE(extra != NULL);
    TEST_EQ_STR(extra, "{\"additionalPhones\":[],\"customFields\":[{\"id\":\"ZZ\",\"value\":"
                       "\"unknown\"}]}");
    map_row_free(&row);
    cJSON_Delete(rec);

    /* keyed by field key, a TEXTBOX_LIST that is no object (kept as JSON, with a warning) */
    rec = cJSON_Parse("{\"id\":\"C2\",\"customFields\":[{\"id\":\"contact.pet\",\"value\":\"x\"},"
                      "{\"id\":\"F3\",\"field_value\":\"plain\"}]}");
    TEST_REQUIRE(rec != NULL);
    sbuf_reset(&w);
    TEST_REQUIRE(map_record_to_row(&o, rec, "L", &row, &w, &e) == 0);
    TEST_EQ_STR(field_value(&o, &row, 0), "x");
    TEST_CHECK(field_value(&o, &row, 1) == NULL);
    TEST_EQ_STR(field_value(&o, &row, 2), "\"plain\"");
    TEST_CHECK_MSG(strstr(sbuf_str(&w), "contact.social") != NULL, "%s", sbuf_str(&w));
    map_row_free(&row);
    cJSON_Delete(rec);

    /* every key a column holds stays out of extra, in whatever order the record has them */
    rec = cJSON_Parse(
        "{\"timezone\":\"UTC\",\"zz\":1,\"q\\\"k\\n\":\"v\",\"website\":\"w\",\"email\":\"e\","
        "\"firstNameLowerCase\":\"a\",\"firstName\":\"A\",\"address\":\"x\","
        "\"tags\":[],\"aa\":2,\"id\":\"C4\",\"dateAdded\":\"2024-01-01T00:00:00Z\","
        "\"additionalEmails\":[],\"lastNameLowerCase\":\"b\",\"searchAfter\":[1]}");
    TEST_REQUIRE(rec != NULL);
    TEST_REQUIRE(map_record_to_row(&o, rec, "L", &row, &w, &e) == 0);
    extra = column(&row, "extra");
    TEST_REQUIRE(extra != NULL);
    TEST_EQ_STR(extra, "{\"zz\":1,\"q\\\"k\\n\":\"v\",\"aa\":2}");
    map_row_free(&row);
    cJSON_Delete(rec);

    /* not a list */
    rec = cJSON_Parse("{\"id\":\"C3\",\"customFields\":{\"F1\":\"x\"}}");
    TEST_REQUIRE(rec != NULL);
    sbuf_reset(&w);
    TEST_REQUIRE(map_record_to_row(&o, rec, "L", &row, &w, &e) == 0);
    for (size_t i = 0; i < 3; i++)
        TEST_CHECK(field_value(&o, &row, i) == NULL);
    TEST_CHECK_MSG(strstr(sbuf_str(&w), "customFields: not an array") != NULL, "%s", sbuf_str(&w));
    extra = column(&row, "extra");
    TEST_REQUIRE(extra != NULL);
    TEST_EQ_STR(extra, "{\"customFields\":{\"F1\":\"x\"}}");
    map_row_free(&row);
    cJSON_Delete(rec);
    sbuf_free(&w);
}

int main(void)
{
    gs_err e = {0};
    if (map_types_builtin(&types, &e))
        return 1;
    TEST_RUN(test_array_literals);
    TEST_RUN(test_field_codecs);
    TEST_RUN(test_number_text);
    TEST_RUN(number_text_matches_printf);
    TEST_RUN(test_type_map);
    TEST_RUN(contact_field_lists);
    map_types_free(types);
    return test_done();
}
