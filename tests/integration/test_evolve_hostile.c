/*
 * test_evolve_hostile.c - hostile object and field keys and labels, served by the simulator.
 *
 * What the public API accepts (lowercase [a-z0-9_] keys: reserved words, names of ghlsync's
 * system columns, 64-byte keys; any label) is created through POST /objects/ and
 * POST /custom-fields/. What it rejects as the real API would (quotes, semicolons, unicode,
 * case-only differences, 200-byte keys) is put in place with the admin state load. Then the
 * schema is fetched over HTTP, planned and applied; the table must work (records searched from
 * the simulator go in and come back equal) and nothing else may have run (sentinel tables).
 */
#include "db.h"
#include "ddl.h"
#include "mapping.h"
#include "test.h"
#include "tpg.h"
#include "tschema.h"
#include "tsim.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static tsim S;
static PGconn *conn;
static map_types *types;
static bool ready;

#define EVIL            "x\"; drop table sentinel; --"
#define EVIL_LABEL      "Robert'); DROP TABLE sentinel; -- \\ back"
#define EVIL_LABEL_JSON "Robert'); DROP TABLE sentinel; -- \\\\ back" /* inside JSON text */

static bool sentinels_alive(void)
{
    char *v = tpg_scalar(conn, "SELECT (to_regclass('public.sentinel') IS NOT NULL AND "
                               "to_regclass('ghl.sentinel') IS NOT NULL AND (SELECT count(*) "
                               "FROM public.sentinel) = 1)::text");
    bool ok = v && !strcmp(v, "true");
    free(v);
    return ok;
}

/* Column names of the object's table are plain [a-z0-9_] and at most 63 bytes, and the field
 * columns are exactly the model's. */
static void check_columns(const schema_object *o)
{
    char q[1024];
    snprintf(q, sizeof q,
             "SELECT count(*) FILTER (WHERE attname !~ '^[a-z_][a-z0-9_]{0,62}$') || '/' || "
             "count(*) FROM pg_attribute WHERE attrelid = to_regclass('\"%s\".\"%s\"') AND "
             "attnum > 0 AND NOT attisdropped",
             o->table_schema, o->table);
    char *v = tpg_scalar(conn, q);
    size_t n = 12; /* system columns */
    for (size_t i = 0; i < o->n_fields; i++)
        n += o->fields[i].currency_column ? 2 : 1;
    char want[64];
    snprintf(want, sizeof want, "0/%zu", n);
    TEST_EQ_STR(v, want);
    free(v);
    for (size_t i = 0; i < o->n_fields; i++) {
        const schema_field *f = &o->fields[i];
        TEST_CHECK_MSG(strlen(f->column) <= 63, "%s", f->column);
        for (size_t k = 0; k < i; k++)
            TEST_CHECK_MSG(strcmp(f->column, o->fields[k].column) != 0, "duplicate column %s",
                           f->column);
    }
    printf("# object %s -> table \"%s\".\"%s\"\n", o->key, o->table_schema, o->table);
    for (size_t i = 0; i < o->n_fields; i++)
        printf("#   field %s -> column %s%s%s\n", o->fields[i].field_key, o->fields[i].column,
               o->fields[i].currency_column ? " + " : "",
               o->fields[i].currency_column ? o->fields[i].currency_column : "");
}

/* Every record of the object (searched over HTTP) goes through the table and back. */
static void check_records(int loc, const schema_object *o, int min_records)
{
    char *ek = curl_easy_escape(NULL, o->key, 0);
    char path[1024], body[256];
    snprintf(path, sizeof path, "/objects/%s/records/search", ek);
    curl_free(ek);
    snprintf(body, sizeof body, "{\"locationId\":\"%s\",\"page\":1,\"pageLimit\":100}",
             S.loc[loc].id);
    long st;
    cJSON *res = tschema_call(&S, loc, "POST", path, body, &st);
    TEST_EQ_INT(st, 200);
    const cJSON *recs = cJSON_GetObjectItemCaseSensitive(res, "records");
    TEST_CHECK(cJSON_GetArraySize(recs) >= min_records);
    sbuf qt = SBUF_INIT;
    ident_quote(&qt, o->table_schema);
    sbuf_putc(&qt, '.');
    ident_quote(&qt, o->table);
    const cJSON *rec;
    cJSON_ArrayForEach(rec, recs)
    {
        map_row row, back;
        gs_err e = {0};
        sbuf w = SBUF_INIT;
        TEST_REQUIRE(map_record_to_row(o, rec, S.loc[loc].id, &row, &w, &e) == 0);
        sbuf_free(&w);
        sbuf ins = SBUF_INIT, sel = SBUF_INIT;
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
        TEST_REQUIRE(db_query(conn, sbuf_str(&ins), (int)row.n, (const char *const *)row.values, &r,
                              &e) == 0 ||
                     !printf("# insert: %s\n", e.msg));
        const char *lid[1] = {PQgetvalue(r, 0, 0)};
        TEST_REQUIRE(db_query(conn, sbuf_str(&sel), 1, lid, &r2, &e) == 0);
        TEST_REQUIRE(map_row_init(o, &back, &e) == 0);
        for (size_t i = 0; i < back.n; i++)
            back.values[i] = PQgetisnull(r2, 0, (int)i) ? NULL : strdup(PQgetvalue(r2, 0, (int)i));
        cJSON *props = NULL;
        TEST_REQUIRE(map_row_to_properties(o, (const char *const *)back.values, NULL, NULL, true,
                                           &props, &e) == 0);
        const cJSON *want = cJSON_GetObjectItemCaseSensitive(rec, "properties");
        char *a = cJSON_PrintUnformatted(props), *b = cJSON_PrintUnformatted(want);
        TEST_CHECK_MSG(cJSON_Compare(props, want, 1), "\n#   got  %s\n#   want %s", a, b);
        free(a);
        free(b);
        cJSON_Delete(props);
        PQclear(r);
        PQclear(r2);
        sbuf_free(&ins);
        sbuf_free(&sel);
        map_row_free(&row);
        map_row_free(&back);
    }
    sbuf_free(&qt);
    cJSON_Delete(res);
}

static schema_object *plan_apply(int loc, const char *key)
{
    schema_object *o = tschema_fetch(&S, loc, key);
    if (!o)
        return NULL;
    ddl_plan p;
    gs_err e = {0};
    if (tschema_plan(conn, o, types, S.loc[loc].id, &p, &e) || ddl_apply(conn, &p, &e)) {
        printf("# plan/apply %s: %s\n", key, e.msg);
        ddl_plan_free(&p);
        schema_object_free(o);
        return NULL;
    }
    ddl_plan_free(&p);
    /* Planning again finds nothing: the names chosen are stable. */
    schema_object *o2 = tschema_fetch(&S, loc, key);
    if (o2 && tschema_plan(conn, o2, types, S.loc[loc].id, &p, &e) == 0) {
        TEST_CHECK_MSG(p.n == 0, "re-plan of %s has %zu steps", key, p.n);
        ddl_plan_free(&p);
    }
    schema_object_free(o2);
    return o;
}

static void keys_the_api_accepts(void)
{
    long st;
    char body[2048];
    snprintf(body, sizeof body,
             "{\"locationId\":\"%s\",\"key\":\"custom_objects.select\",\"labels\":{\"singular\":"
             "\"%s\",\"plural\":\"%s\"},\"primaryDisplayPropertyDetails\":{\"key\":"
             "\"custom_objects.select.id\",\"name\":\"%s\",\"dataType\":\"TEXT\"}}",
             S.loc[0].id, EVIL_LABEL_JSON, EVIL_LABEL_JSON, EVIL_LABEL_JSON);
    cJSON *r = tschema_call(&S, 0, "POST", "/objects/", body, &st);
    TEST_EQ_INT(st, 201);
    cJSON_Delete(r);
    schema_object *o = tschema_fetch(&S, 0, "custom_objects.select");
    TEST_REQUIRE(o && o->n_fields == 1);
    const char *parent =
        cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o->fields[0].raw, "parentId"));
    static const struct {
        const char *key, *type;
    } fl[] = {
        {"location_id", "TEXT"},
        {"order", "NUMERICAL"},
        {"created_at", "DATE"},
        {"user", "MONETORY"},
        {"user_currency", "TEXT"},
        {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1", "TEXT"},
        {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa2", "TEXT"},
    };
    for (size_t i = 0; i < sizeof fl / sizeof *fl; i++) {
        snprintf(body, sizeof body,
                 "{\"locationId\":\"%s\",\"name\":\"%s %zu\",\"dataType\":\"%s\",\"fieldKey\":"
                 "\"custom_objects.select.%s\",\"objectKey\":\"custom_objects.select\","
                 "\"parentId\":\"%s\",\"showInForms\":true}",
                 S.loc[0].id, EVIL_LABEL_JSON, i, fl[i].type, fl[i].key, parent);
        r = tschema_call(&S, 0, "POST", "/custom-fields/", body, &st);
        TEST_CHECK_MSG(st == 201, "field %s: HTTP %ld", fl[i].key, st);
        cJSON_Delete(r);
    }
    schema_object_free(o);
    /* A record with a value in every field. */
    snprintf(body, sizeof body,
             "{\"locationId\":\"%s\",\"properties\":{\"id\":\"%s\",\"location_id\":\"L'x\","
             "\"order\":3,\"created_at\":\"2020-01-02\",\"user\":{\"currency\":\"EUR\",\"value\":"
             "9.5},\"user_currency\":\"not the currency\",\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
             "aaaaaaaaaaaaaaaaaaaaaaaaaa1\":\"one\",\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
             "aaaaaaaaaaaaaaaaaaaa2\":\"two\"}}",
             S.loc[0].id, "x\\\"; drop table sentinel; --");
    r = tschema_call(&S, 0, "POST", "/objects/custom_objects.select/records", body, &st);
    TEST_EQ_INT(st, 201);
    cJSON_Delete(r);

    o = plan_apply(0, "custom_objects.select");
    TEST_REQUIRE(o != NULL);
    TEST_CHECK(sentinels_alive());
    TEST_EQ_STR(o->table, "select");
    check_columns(o);
    /* Fields named like system columns never take them. */
    for (size_t i = 0; i < o->n_fields; i++) {
        const char *c = o->fields[i].column;
        TEST_CHECK_MSG(strcmp(c, "id") && strcmp(c, "location_id") && strcmp(c, "created_at"),
                       "field %s took system column %s", o->fields[i].field_key, c);
    }
    char *v = tpg_scalar(conn, "SELECT obj_description('ghl.\"select\"'::regclass, 'pg_class')");
    TEST_EQ_STR(v, "Robert'); DROP TABLE sentinel; -- \\ back - HighLevel object "
                   "custom_objects.select (mirrored by ghlsync)");
    free(v);
    check_records(0, o, 1);
    TEST_CHECK(sentinels_alive());
    schema_object_free(o);
}

static void keys_only_a_state_load_can_make(void)
{
    /* Location 1 gets one more object next to its own ones. */
    char path[256];
    snprintf(path, sizeof path, "/_admin/state?locationId=%s", S.loc[1].id);
    long st;
    cJSON *state = tschema_admin(&S, "GET", path, NULL, &st);
    TEST_REQUIRE(st == 200 && state);
    cJSON *objs = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(state, "locations"), 0), "objects");
    /* Objects without records crash the simulator's state load (see the report). */
    for (int i = cJSON_GetArraySize(objs) - 1; i >= 0; i--)
        if (cJSON_GetArraySize(
                cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(objs, i), "records")) == 0)
            cJSON_DeleteItemFromArray(objs, i);
    char longk[201];
    memset(longk, 'k', 200);
    longk[200] = '\0';
    const char *okey = "custom_objects." EVIL;
    static const char *const shorts[] = {
        "a\"; drop table sentinel; --",
        "Robert'); DROP TABLE sentinel;--",
        "ÜberFeld",
        "A",
        "a",
        "_local_id",
        "select",
        "", /* long key */
    };
    cJSON *obj = cJSON_CreateObject();
    cJSON *o = cJSON_AddObjectToObject(obj, "object");
    cJSON_AddStringToObject(o, "key", okey);
    cJSON *lb = cJSON_AddObjectToObject(o, "labels");
    cJSON_AddStringToObject(lb, "singular", EVIL_LABEL);
    cJSON_AddStringToObject(lb, "plural", EVIL_LABEL);
    cJSON *fields = cJSON_AddArrayToObject(obj, "fields");
    cJSON *props = cJSON_CreateObject();
    for (size_t i = 0; i < sizeof shorts / sizeof *shorts; i++) {
        const char *sk = shorts[i][0] ? shorts[i] : longk;
        char fk[512];
        snprintf(fk, sizeof fk, "%s.%s", okey, sk);
        cJSON *f = cJSON_CreateObject();
        cJSON_AddStringToObject(f, "fieldKey", fk);
        cJSON_AddStringToObject(f, "name", EVIL_LABEL);
        bool money = !strcmp(sk, "A");
        cJSON_AddStringToObject(f, "dataType", money ? "MONETORY" : "TEXT");
        cJSON_AddItemToArray(fields, f);
        if (money) {
            cJSON *m = cJSON_AddObjectToObject(props, sk);
            cJSON_AddStringToObject(m, "currency", "USD");
            cJSON_AddNumberToObject(m, "value", 1.25);
        } else {
            char val[64];
            snprintf(val, sizeof val, "value %zu '\"\\", i);
            cJSON_AddStringToObject(props, sk, val);
        }
    }
    cJSON *recs = cJSON_AddArrayToObject(obj, "records");
    cJSON *rec = cJSON_CreateObject();
    cJSON_AddItemToObject(rec, "properties", props);
    cJSON_AddItemToArray(recs, rec);
    cJSON_AddItemToArray(objs, obj);
    char *body = cJSON_PrintUnformatted(state);
    cJSON_Delete(state);
    cJSON_Delete(tschema_admin(&S, "POST", "/_admin/state", body, &st));
    free(body);
    TEST_REQUIRE(st == 200);

    schema_object *m = plan_apply(1, okey);
    TEST_REQUIRE(m != NULL);
    TEST_CHECK(sentinels_alive());
    TEST_EQ_INT((long)m->n_fields, (long)(sizeof shorts / sizeof *shorts));
    check_columns(m);
    check_records(1, m, 1);
    TEST_CHECK(sentinels_alive());
    /* Labels land verbatim in the comments. */
    char q[512];
    snprintf(q, sizeof q,
             "SELECT count(*) FROM pg_attribute WHERE attrelid = to_regclass('\"ghl\".\"%s\"') "
             "AND col_description(attrelid, attnum) LIKE 'Robert''); DROP TABLE sentinel; -- \\\\ "
             "back - HighLevel field %%'",
             m->table);
    char *v = tpg_scalar(conn, q);
    TEST_EQ_STR(v, "8");
    free(v);
    schema_object_free(m);
}

static void setup(void)
{
    const char *args[] = {"--locations", "2", "--seed-records", "2", "--burst", "0", NULL};
    TEST_REQUIRE(tsim_start(&S, args) == 0);
    char ci[512];
    conn = tpg_fresh_db("evolve_hostile", ci, sizeof ci);
    TEST_REQUIRE(conn != NULL);
    types = tschema_types();
    TEST_REQUIRE(types != NULL);
    TEST_REQUIRE(tschema_migrate(conn) == 0);
    TEST_REQUIRE(tpg_exec(conn, "CREATE TABLE public.sentinel (x int); INSERT INTO "
                                "public.sentinel VALUES (1); CREATE SCHEMA ghl; CREATE TABLE "
                                "ghl.sentinel (x int)"));
    ready = true;
}

int main(void)
{
    if (!tpg_available()) {
        test_skip("evolve_hostile", "no PostgreSQL (run via tests/run.sh)");
        return test_done();
    }
    TEST_RUN(setup);
    if (ready) {
        TEST_RUN(keys_the_api_accepts);
        TEST_RUN(keys_only_a_state_load_can_make);
    }
    map_types_free(types);
    PQfinish(conn);
    if (S.pid > 0)
        tsim_stop(&S);
    return test_done();
}
