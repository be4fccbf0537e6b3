/* test_roundtrip.c - every data type through its PostgreSQL column and back:
 * API value -> row -> API value, including the tolerated input variants. */
#include "db.h"
#include "ddl.h"
#include "mapping.h"
#include "migrate.h"
#include "schema.h"
#include "test.h"
#include "tpg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static map_types *types;
static PGconn *conn;
static schema_object *pet;

static cJSON *load_fixture(const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/fixtures/%s", getenv("GHLSYNC_TOP"), name);
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return cJSON_Parse(buf);
}

/* Insert the record's row, read it back as text, and rebuild properties. */
static cJSON *through_table(const char *record_json, map_row *back)
{
    cJSON *rec = cJSON_Parse(record_json);
    if (!rec) {
        printf("# bad test JSON: %s\n", record_json);
        return NULL;
    }
    map_row row;
    gs_err e = {0};
    sbuf w = SBUF_INIT;
    if (map_record_to_row(pet, rec, "LOC", &row, &w, &e)) {
        printf("# to_row: %s\n", e.msg);
        cJSON_Delete(rec);
        return NULL;
    }
    if (w.len)
        printf("# warnings: %s", sbuf_str(&w));
    sbuf_free(&w);
    cJSON_Delete(rec);
    sbuf ins = SBUF_INIT, sel = SBUF_INIT, qt = SBUF_INIT;
    ident_quote(&qt, pet->table_schema);
    sbuf_putc(&qt, '.');
    ident_quote(&qt, pet->table);
    sbuf_printf(&ins, "INSERT INTO %s (", sbuf_str(&qt));
    sbuf_puts(&sel, "SELECT ");
    for (size_t i = 0; i < row.n; i++) {
        ident_quote(&ins, row.columns[i]);
        ident_quote(&sel, row.columns[i]);
        sbuf_puts(&ins, i + 1 < row.n ? ", " : ") VALUES (");
        sbuf_puts(&sel, i + 1 < row.n ? ", " : "");
    }
    for (size_t i = 0; i < row.n; i++)
        sbuf_printf(&ins, "$%zu%s", i + 1, i + 1 < row.n ? ", " : ") RETURNING _local_id");
    sbuf_printf(&sel, " FROM %s WHERE _local_id = $1", sbuf_str(&qt));
    PGresult *r = NULL, *r2 = NULL;
    cJSON *props = NULL;
    if (db_query(conn, sbuf_str(&ins), (int)row.n, (const char *const *)row.values, &r, &e)) {
        printf("# insert: %s\n", e.msg);
        goto out;
    }
    const char *id[1] = {PQgetvalue(r, 0, 0)};
    if (db_query(conn, sbuf_str(&sel), 1, id, &r2, &e)) {
        printf("# select: %s\n", e.msg);
        goto out;
    }
    map_row_init(pet, back, &e);
    for (size_t i = 0; i < row.n; i++)
        back->values[i] = PQgetisnull(r2, 0, (int)i) ? NULL : strdup(PQgetvalue(r2, 0, (int)i));
    if (map_row_to_properties(pet, (const char *const *)back->values, NULL, NULL, true, &props, &e))
        printf("# to_properties: %s\n", e.msg);
out:
    PQclear(r);
    PQclear(r2);
    sbuf_free(&ins);
    sbuf_free(&sel);
    sbuf_free(&qt);
    map_row_free(&row);
    return props;
}

static void roundtrip(const char *record, const char *want_props, int line)
{
    map_row back = {0};
    cJSON *got = through_table(record, &back);
    cJSON *want = cJSON_Parse(want_props);
    bool ok = got && want && cJSON_Compare(got, want, 1);
    char *gs = got ? cJSON_PrintUnformatted(got) : NULL;
    test_check(ok, __FILE__, line, "round trip\n#   got  %s\n#   want %s", gs ? gs : "(null)",
               want_props);
    free(gs);
    cJSON_Delete(got);
    cJSON_Delete(want);
    map_row_free(&back);
}

/* The canonical shapes the simulator sends, for every data type. */
static const char *canonical_props =
    "{\"name\":\"Buddy \\\"the\\\" dog's\",\"notes\":\"line1\\nline2 \\\\ 名前\","
    "\"vet_phone\":\"+917000000000\",\"age\":1424,\"price\":{\"currency\":\"default\",\"value\":"
    "100.25},\"species\":\"dog\",\"size\":\"custom value\",\"tags\":[\"friendly\",\"NULL\",\"\","
    "\"a,b\",\"{x}\",\"q\\\"uote\",\"back\\\\slash\",\"名前\",\" spaced \"],\"traits\":[\"a\"],"
    "\"birthday\":\"2024-07-11\",\"contacts.option_a\":\"Value 1\",\"contacts.option_b\":"
    "\"Value, 2\",\"photos\":[{\"url\":\"https://x/1.pdf\",\"name\":\"1.pdf\",\"size\":1024,"
    "\"type\":\"application/pdf\"},{\"url\":\"https://x/2\"}],\"signature\":{\"any\":[1,\"two\","
    "null,true]}}";

static void test_canonical_values(void)
{
    char rec[4096];
    snprintf(
        rec, sizeof rec,
        "{\"id\":\"661c06b4ffde146bdb469442\",\"owner\":[\"u1\"],\"followers\":[\"u2\",\"u3\"],"
        "\"properties\":%s,\"createdAt\":\"2024-07-29T15:51:28.071Z\",\"updatedAt\":"
        "\"2024-07-30T01:02:03.004Z\",\"locationId\":\"ve9EPM428h8vShlRW1KT\","
        "\"searchAfter\":[1,\"x\"],\"relations\":[]}",
        canonical_props);
    roundtrip(rec, canonical_props, __LINE__);
    /* System columns landed where they should. */
    char *v = tpg_scalar(conn, "SELECT array_to_string(owner, ',') || '|' || "
                               "array_to_string(followers, ',') || '|' || location_id || '|' || "
                               "to_char(updated_at, 'YYYY-MM-DD HH24:MI:SS.MS') FROM ghl.pet WHERE "
                               "id = '661c06b4ffde146bdb469442'");
    TEST_EQ_STR(v, "u1|u2,u3|ve9EPM428h8vShlRW1KT|2024-07-30 01:02:03.004");
    free(v);
    v = tpg_scalar(conn, "SELECT format('%s/%s/%s/%s', tags[2] IS NULL, tags[2], tags[3] = '', "
                         "price_currency) FROM ghl.pet WHERE id = '661c06b4ffde146bdb469442'");
    TEST_EQ_STR(v, "f/NULL/t/default");
    free(v);
}

static void test_tolerated_variants(void)
{
    /* CRUD shape, bare-string owner, numeric strings, MONETARY-style object with string value,
     * single string for options, a full timestamp for DATE, nested TEXTBOX_LIST, [{url}]. */
    roundtrip("{\"record\":{\"id\":\"r2\",\"owner\":\"u9\",\"followers\":[],\"dateAdded\":"
              "\"2024-07-29T15:51:28.071Z\",\"dateUpdated\":\"2024-07-29T15:51:28.071Z\","
              "\"properties\":{\"age\":\"12.50\",\"price\":{\"currency\":\"USD\",\"value\":"
              "\"99.95\"},\"tags\":\"friendly\",\"traits\":\"b\",\"birthday\":"
              "\"2021-07-28T10:00:00Z\",\"contacts\":{\"option_a\":\"V1\",\"option_b\":\"V2\"},"
              "\"photos\":[{\"url\":\"https://x/3\"}]}}}",
              "{\"age\":12.5,\"price\":{\"currency\":\"USD\",\"value\":99.95},\"tags\":"
              "[\"friendly\"],\"traits\":[\"b\"],\"birthday\":\"2021-07-28\",\"contacts.option_a\":"
              "\"V1\",\"contacts.option_b\":\"V2\",\"photos\":[{\"url\":\"https://x/3\"}]}",
              __LINE__);
    char *v = tpg_scalar(conn, "SELECT array_to_string(owner, ',') || '|' || location_id || '|' "
                               "|| created_at::date FROM ghl.pet WHERE id = 'r2'");
    TEST_EQ_STR(v, "u9|LOC|2024-07-29");
    free(v);
    /* Empty values and a record without properties. */
    roundtrip("{\"id\":\"r3\",\"properties\":{\"tags\":[],\"name\":\"\"}}",
              "{\"tags\":[],\"name\":\"\"}", __LINE__);
    roundtrip("{\"id\":\"r4\"}", "{}", __LINE__);
}

static void test_update_body(void)
{
    /* Only changed columns are sent; clearing a textbox list nulls each option. */
    map_row row;
    gs_err e = {0};
    TEST_REQUIRE(map_row_init(pet, &row, &e) == 0);
    bool *changed = calloc(row.n, sizeof *changed);
    char **old = calloc(row.n, sizeof *old);
    for (size_t i = 0; i < pet->n_fields; i++) {
        size_t k = map_field_column_index(pet, i, NULL);
        if (!strcmp(pet->fields[i].prop_key, "contacts")) {
            changed[k] = true; /* new value NULL: clear */
            old[k] = "{\"option_a\":\"x\",\"extra\":\"y\"}";
        }
        if (!strcmp(pet->fields[i].prop_key, "age")) {
            changed[k] = true;
            row.values[k] = strdup("7");
        }
    }
    cJSON *p;
    TEST_REQUIRE(map_row_to_properties(pet, (const char *const *)row.values,
                                       (const char *const *)old, changed, false, &p, &e) == 0);
    cJSON *want = cJSON_Parse("{\"age\":7,\"contacts.option_a\":null,\"contacts.option_b\":null,"
                              "\"contacts.extra\":null}");
    char *s = cJSON_PrintUnformatted(p);
    TEST_CHECK_MSG(cJSON_Compare(p, want, 1), "got %s", s);
    free(s);
    cJSON_Delete(want);
    cJSON_Delete(p);
    free(changed);
    free(old);
    map_row_free(&row);
}

int main(void)
{
    if (!tpg_available()) {
        test_skip("roundtrip", "no PostgreSQL (run via tests/run.sh)");
        return test_done();
    }
    gs_err e = {0};
    char ci[512], dir[4096];
    snprintf(dir, sizeof dir, "%s/migrations", getenv("GHLSYNC_TOP"));
    conn = tpg_fresh_db("roundtrip", ci, sizeof ci);
    cJSON *resp = load_fixture("schema_pet.json");
    ddl_plan p;
    ddl_plan_init(&p);
    ddl_settings s = {0};
    if (!conn || !resp || map_types_builtin(&types, &e) || migrate_run(conn, dir, NULL, NULL, &e) ||
        schema_object_from_json(resp, &pet, &e) || (s.types = types, 0) ||
        ddl_plan_object(conn, pet, &s, &p, &e) || ddl_apply(conn, &p, &e) ||
        db_exec(conn, "SET DateStyle = 'ISO, YMD'; SET TimeZone = 'UTC'", &e)) {
        printf("# setup failed: %s\n", e.msg);
        test_report("roundtrip setup", false, e.msg);
        return test_done();
    }
    ddl_plan_free(&p);
    cJSON_Delete(resp);
    TEST_RUN(test_canonical_values);
    TEST_RUN(test_tolerated_variants);
    TEST_RUN(test_update_body);
    schema_object_free(pet);
    map_types_free(types);
    PQfinish(conn);
    return test_done();
}
