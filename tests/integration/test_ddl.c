/* test_ddl.c - model -> DDL, diff against the database, evolution, hostile identifiers. */
#include "db.h"
#include "ddl.h"
#include "ident.h"
#include "migrate.h"
#include "schema.h"
#include "test.h"
#include "tpg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static map_types *types;

static cJSON *load_fixture(const char *name)
{
    char path[4096];
    const char *top = getenv("GHLSYNC_TOP");
    snprintf(path, sizeof path, "%s/tests/fixtures/%s", top ? top : ".", name);
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return cJSON_Parse(buf);
}

static cJSON *fields_of(cJSON *resp)
{
    return cJSON_GetObjectItemCaseSensitive(resp, "fields");
}

static cJSON *find_field_json(cJSON *resp, const char *key)
{
    cJSON *f;
    cJSON_ArrayForEach(f, fields_of(resp))
    {
        cJSON *k = cJSON_GetObjectItemCaseSensitive(f, "fieldKey");
        if (cJSON_IsString(k) && strcmp(k->valuestring, key) == 0)
            return f;
    }
    return NULL;
}

static void add_field(cJSON *resp, const char *key, const char *type, const char *label)
{
    cJSON *f = cJSON_CreateObject();
    cJSON_AddStringToObject(f, "fieldKey", key);
    cJSON_AddStringToObject(f, "dataType", type);
    cJSON_AddStringToObject(f, "name", label);
    cJSON_AddItemToArray(fields_of(resp), f);
}

static PGconn *fresh(const char *tag)
{
    char ci[512];
    PGconn *c = tpg_fresh_db(tag, ci, sizeof ci);
    if (!c)
        return NULL;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/migrations", getenv("GHLSYNC_TOP"));
    gs_err e = {0};
    if (migrate_run(c, dir, NULL, NULL, &e)) {
        printf("# migrate: %s\n", e.msg);
        PQfinish(c);
        return NULL;
    }
    tpg_exec(c, "SET DateStyle = 'ISO, YMD'");
    return c;
}

/* Plan `resp` against c (may be NULL); optionally apply; returns the plan (caller frees). */
static int plan_json(PGconn *c, cJSON *resp, const ddl_settings *s, ddl_plan *p, bool apply,
                     gs_err *e)
{
    schema_object *o;
    int rc = schema_object_from_json(resp, &o, e);
    if (rc)
        return rc;
    ddl_plan_init(p);
    rc = ddl_plan_object(c, o, s, p, e);
    if (rc == 0 && apply)
        rc = ddl_apply(c, p, e);
    schema_object_free(o);
    return rc;
}

static bool plan_has(const ddl_plan *p, const char *needle)
{
    for (size_t i = 0; i < p->n; i++)
        if ((p->steps[i].summary && strstr(p->steps[i].summary, needle)) ||
            strstr(p->steps[i].sql, needle))
            return true;
    return false;
}

static bool warned(const ddl_plan *p, const char *needle)
{
    for (size_t i = 0; i < p->n_warnings; i++)
        if (strstr(p->warnings[i], needle))
            return true;
    return false;
}

static char *q1(PGconn *c, const char *sql)
{
    return tpg_scalar(c, sql);
}

static void expect(PGconn *c, const char *sql, const char *want)
{
    char *v = q1(c, sql);
    test_check(v && strcmp(v, want) == 0, __FILE__, __LINE__, "%s -> \"%s\", want \"%s\"", sql,
               v ? v : "(null)", want);
    free(v);
}

static void test_plan_without_database(void)
{
    cJSON *resp = load_fixture("schema_pet.json");
    TEST_REQUIRE(resp);
    ddl_settings s = {.types = types};
    ddl_plan p;
    gs_err e = {0};
    TEST_EQ_INT(plan_json(NULL, resp, &s, &p, false, &e), 0);
    TEST_CHECK(plan_has(&p, "CREATE TABLE IF NOT EXISTS \"ghl\".\"pet\""));
    TEST_CHECK(plan_has(&p, "\"price\" numeric,\n    \"price_currency\" text"));
    TEST_CHECK(plan_has(&p, "\"tags\" text[]"));
    TEST_CHECK(plan_has(&p, "\"birthday\" date"));
    TEST_CHECK(plan_has(&p, "\"contacts\" jsonb"));
    TEST_CHECK(plan_has(&p, "\"signature\" jsonb"));
    TEST_CHECK(warned(&p, "unknown dataType SIGNATURE"));
    TEST_CHECK(plan_has(&p, "COMMENT ON COLUMN \"ghl\".\"pet\".\"name\" IS 'Pet name - HighLevel "
                            "field custom_objects.pet.name (TEXT)'"));
    TEST_CHECK(plan_has(&p, "+ option dog of custom_objects.pet.species: \"Dog\""));
    sbuf out = SBUF_INIT;
    ddl_plan_print(&p, &out);
    TEST_CHECK(strstr(sbuf_str(&out), "Plan: ") != NULL);
    sbuf_free(&out);
    ddl_plan_free(&p);
    cJSON_Delete(resp);
}

static void test_apply_then_no_changes(void)
{
    PGconn *c = fresh("ddl_apply");
    TEST_REQUIRE(c);
    cJSON *resp = load_fixture("schema_pet.json");
    ddl_settings s = {.types = types};
    ddl_plan p;
    gs_err e = {0};
    TEST_REQUIRE(plan_json(c, resp, &s, &p, true, &e) == 0 || !printf("# %s\n", e.msg));
    ddl_plan_free(&p);
    expect(c,
           "SELECT count(*) FROM information_schema.columns WHERE table_schema='ghl' AND "
           "table_name='pet'",
           "26"); /* 12 system + 13 fields + price_currency */
    expect(c, "SELECT col_description('ghl.pet'::regclass, 2)",
           "HighLevel record id (NULL until a locally inserted row is pushed)");
    expect(c, "SELECT obj_description('ghl.pet'::regclass, 'pg_class')",
           "Pets - HighLevel object custom_objects.pet (mirrored by ghlsync)");
    expect(c,
           "SELECT string_agg(option_key || '=' || label, ',' ORDER BY option_key) FROM "
           "ghlsync.field_options WHERE field_key = 'custom_objects.pet.species'",
           "cat=Cat,dog=Dog");
    expect(c,
           "SELECT column_name FROM ghlsync.fields WHERE field_key = "
           "'custom_object.pet.notes'",
           "notes");
    /* primary key (_local_id), unique (location_id, id), (updated_at); no (location_id) (010) */
    expect(c, "SELECT count(*) FROM pg_indexes WHERE schemaname = 'ghl' AND tablename = 'pet'",
           "3");
    expect(c,
           "SELECT count(*) FROM pg_indexes WHERE schemaname = 'ghl' AND tablename = 'pet' AND "
           "indexdef LIKE '%(location_id)'",
           "0");
    /* _local_id's sequence hands out 1,000 values per backend (family.c, migration 017) */
    expect(c,
           "SELECT cache_size FROM pg_sequences WHERE schemaname || '.' || sequencename = "
           "pg_get_serial_sequence('ghl.pet', '_local_id')",
           "1000");
    /* A locally inserted row needs no remote id; two rows without id are fine; ids unique. */
    TEST_CHECK(tpg_exec(c, "INSERT INTO ghl.pet (name) VALUES ('a'), ('b')"));
    TEST_CHECK(tpg_exec(c, "INSERT INTO ghl.pet (id, location_id) VALUES ('x', 'L')"));
    PGresult *r = PQexec(c, "INSERT INTO ghl.pet (id, location_id) VALUES ('x', 'L')");
    TEST_CHECK(PQresultStatus(r) == PGRES_FATAL_ERROR);
    PQclear(r);
    /* Planning the same schema again: nothing to do. */
    TEST_EQ_INT(plan_json(c, resp, &s, &p, false, &e), 0);
    TEST_EQ_INT(p.n, 0);
    if (p.n) {
        sbuf out = SBUF_INIT;
        ddl_plan_print(&p, &out);
        printf("# unexpected plan:\n%s", sbuf_str(&out));
        sbuf_free(&out);
    }
    ddl_plan_free(&p);
    cJSON_Delete(resp);
    PQfinish(c);
}

static void test_evolution(void)
{
    PGconn *c = fresh("ddl_evo");
    TEST_REQUIRE(c);
    cJSON *resp = load_fixture("schema_pet.json");
    ddl_settings s = {.types = types};
    ddl_plan p;
    gs_err e = {0};
    TEST_REQUIRE(plan_json(c, resp, &s, &p, true, &e) == 0);
    ddl_plan_free(&p);
    TEST_CHECK(tpg_exec(c, "INSERT INTO ghl.pet (id, location_id, age, notes) VALUES "
                           "('r1', 'L', 3, 'keep me')"));

    /* 1. field added remotely -> ADD COLUMN */
    add_field(resp, "custom_objects.pet.color", "TEXT", "Color");
    TEST_EQ_INT(plan_json(c, resp, &s, &p, false, &e), 0);
    TEST_CHECK(plan_has(&p, "ALTER TABLE \"ghl\".\"pet\" ADD COLUMN IF NOT EXISTS \"color\" text"));
    TEST_EQ_INT(ddl_apply(c, &p, &e), 0);
    ddl_plan_free(&p);
    expect(c,
           "SELECT col_description('ghl.pet'::regclass, (SELECT attnum FROM pg_attribute "
           "WHERE attrelid = 'ghl.pet'::regclass AND attname = 'color'))",
           "Color - HighLevel field custom_objects.pet.color (TEXT)");

    /* 2. label change -> comment only */
    cJSON_ReplaceItemInObject(find_field_json(resp, "custom_objects.pet.name"), "name",
                              cJSON_CreateString("Name of the pet"));
    TEST_EQ_INT(plan_json(c, resp, &s, &p, false, &e), 0);
    TEST_EQ_INT(ddl_plan_ddl_count(&p), 1);
    TEST_CHECK(plan_has(&p, "COMMENT ON COLUMN \"ghl\".\"pet\".\"name\" IS 'Name of the pet"));
    TEST_CHECK(!plan_has(&p, "ADD COLUMN"));
    TEST_EQ_INT(ddl_apply(c, &p, &e), 0);
    ddl_plan_free(&p);
    expect(c,
           "SELECT label || '/' || column_name FROM ghlsync.fields WHERE field_key = "
           "'custom_objects.pet.name'",
           "Name of the pet/name");

    /* 3. field deleted remotely -> column kept, comment deprecated, data kept */
    cJSON *notes = find_field_json(resp, "custom_object.pet.notes");
    cJSON_DetachItemViaPointer(fields_of(resp), notes);
    cJSON_Delete(notes);
    TEST_EQ_INT(plan_json(c, resp, &s, &p, false, &e), 0);
    TEST_CHECK(warned(&p, "custom_object.pet.notes was deleted"));
    TEST_CHECK(!plan_has(&p, "DROP"));
    TEST_EQ_INT(ddl_apply(c, &p, &e), 0);
    ddl_plan_free(&p);
    expect(c, "SELECT notes FROM ghl.pet WHERE id = 'r1'", "keep me");
    expect(c,
           "SELECT left(col_description('ghl.pet'::regclass, (SELECT attnum FROM pg_attribute "
           "WHERE attrelid = 'ghl.pet'::regclass AND attname = 'notes')), 11)",
           "DEPRECATED:");
    expect(c, "SELECT state FROM ghlsync.columns WHERE column_name = 'notes'", "deprecated");
    expect(c,
           "SELECT deleted_at IS NOT NULL FROM ghlsync.fields WHERE field_key = "
           "'custom_object.pet.notes'",
           "t");

    /* 4. dataType change with different storage -> new column, old kept, warning */
    cJSON_ReplaceItemInObject(find_field_json(resp, "custom_objects.pet.age"), "dataType",
                              cJSON_CreateString("TEXT"));
    TEST_EQ_INT(plan_json(c, resp, &s, &p, false, &e), 0);
    TEST_CHECK(warned(&p, "custom_objects.pet.age changed dataType NUMERICAL -> TEXT"));
    TEST_CHECK(plan_has(&p, "ADD COLUMN IF NOT EXISTS \"age_text\" text"));
    TEST_EQ_INT(ddl_apply(c, &p, &e), 0);
    ddl_plan_free(&p);
    expect(c, "SELECT age::text FROM ghl.pet WHERE id = 'r1'", "3");
    expect(c,
           "SELECT string_agg(column_name || ':' || state, ',' ORDER BY column_name) FROM "
           "ghlsync.columns WHERE field_key = 'custom_objects.pet.age'",
           "age:superseded,age_text:active");
    expect(c, "SELECT column_name FROM ghlsync.fields WHERE field_key = 'custom_objects.pet.age'",
           "age_text");
    /* Same storage (TEXT -> LARGE_TEXT): no new column. */
    cJSON_ReplaceItemInObject(find_field_json(resp, "custom_objects.pet.name"), "dataType",
                              cJSON_CreateString("LARGE_TEXT"));
    TEST_EQ_INT(plan_json(c, resp, &s, &p, true, &e), 0);
    TEST_CHECK(!plan_has(&p, "ADD COLUMN"));
    ddl_plan_free(&p);

    /* 5. new option -> lookup row */
    cJSON *opts = cJSON_GetObjectItemCaseSensitive(
        find_field_json(resp, "custom_objects.pet.species"), "options");
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "key", "parrot");
    cJSON_AddStringToObject(o, "label", "Parrot");
    cJSON_AddItemToArray(opts, o);
    TEST_EQ_INT(plan_json(c, resp, &s, &p, false, &e), 0);
    TEST_EQ_INT(ddl_plan_ddl_count(&p), 0);
    TEST_CHECK(plan_has(&p, "+ option parrot of custom_objects.pet.species: \"Parrot\""));
    TEST_EQ_INT(ddl_apply(c, &p, &e), 0);
    ddl_plan_free(&p);
    expect(c, "SELECT label FROM ghlsync.field_options WHERE option_key = 'parrot'", "Parrot");

    /* 6. the deleted field comes back: same column again */
    add_field(resp, "custom_object.pet.notes", "LARGE_TEXT", "Notes");
    TEST_EQ_INT(plan_json(c, resp, &s, &p, true, &e), 0);
    TEST_CHECK(!plan_has(&p, "ADD COLUMN"));
    ddl_plan_free(&p);
    expect(c, "SELECT state FROM ghlsync.columns WHERE column_name = 'notes'", "active");

    /* After all that: stable. */
    TEST_EQ_INT(plan_json(c, resp, &s, &p, false, &e), 0);
    TEST_EQ_INT(p.n, 0);
    ddl_plan_free(&p);
    cJSON_Delete(resp);
    PQfinish(c);
}

static void test_hostile_identifiers(void)
{
    PGconn *c = fresh("ddl_hostile");
    TEST_REQUIRE(c);
    cJSON *resp = load_fixture("schema_pet.json");
    cJSON_ReplaceItemInObject(cJSON_GetObjectItemCaseSensitive(resp, "object"), "key",
                              cJSON_CreateString("custom_objects.x\"; DROP TABLE y; --"));
    char longkey[260] = "custom_objects.x.";
    for (int i = 0; i < 200; i++)
        strcat(longkey, i % 2 ? "b" : "a");
    char longkey2[260];
    snprintf(longkey2, sizeof longkey2, "%.*sZ", (int)strlen(longkey) - 1, longkey);
    const char *keys[] = {
        "custom_objects.x.a\"; drop table x; --",
        "custom_objects.x.名前",
        "custom_objects.x.ÄÖÜ",
        longkey,
        longkey2,
        "custom_objects.x.Name",
        "custom_objects.x.NAME",
        "custom_objects.x.na-me",
        "custom_objects.x.price_currency", /* collides with MONETORY price's companion */
        "custom_objects.x._deleted_at",
        "custom_objects.x.id",
        "custom_objects.x.select",
        "custom_objects.x.1st",
        "custom_objects.x.back\\slash'quote",
    };
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
        add_field(resp, keys[i], "TEXT", keys[i]);
    ddl_settings s = {.types = types};
    ddl_plan p;
    gs_err e = {0};
    schema_object *o;
    TEST_REQUIRE(schema_object_from_json(resp, &o, &e) == 0);
    ddl_plan_init(&p);
    TEST_REQUIRE(ddl_plan_object(c, o, &s, &p, &e) == 0 || !printf("# %s\n", e.msg));
    int rc = ddl_apply(c, &p, &e);
    TEST_CHECK_MSG(rc == 0, "%s", e.msg);
    /* Every field has its own column, <= 63 bytes, [a-z0-9_] only, and exists in the table. */
    ident_set seen;
    ident_set_init(&seen);
    for (size_t i = 0; i < o->n_fields; i++) {
        const char *col = o->fields[i].column;
        TEST_REQUIRE(col);
        TEST_CHECK_MSG(strlen(col) <= 63, "%s", col);
        TEST_CHECK_MSG(strspn(col, "abcdefghijklmnopqrstuvwxyz0123456789_") == strlen(col) &&
                           !(col[0] >= '0' && col[0] <= '9'),
                       "%s", col);
        TEST_CHECK_MSG(!ident_set_has(&seen, col), "duplicate column %s", col);
        ident_set_add(&seen, col);
        if (o->fields[i].currency_column)
            ident_set_add(&seen, o->fields[i].currency_column);
        char sql[512];
        snprintf(
            sql, sizeof sql,
            "SELECT count(*) FROM pg_attribute WHERE attrelid = 'ghl.x_drop_table_y'::regclass "
            "AND attname = '%s'",
            col);
        expect(c, sql, "1");
    }
    ident_set_free(&seen);
    const schema_field *f = schema_find_field(o, "custom_objects.x.price_currency");
    TEST_CHECK(f && strcmp(f->column, "price_currency") != 0);
    f = schema_find_field(o, "custom_objects.x._deleted_at");
    TEST_CHECK(f && strcmp(f->column, "_deleted_at") != 0);
    f = schema_find_field(o, "custom_objects.x.id");
    TEST_CHECK(f && strcmp(f->column, "id") != 0);
    f = schema_find_field(o, "custom_objects.x.select");
    TEST_CHECK(f && strcmp(f->column, "select") == 0); /* quoted, so harmless */
    expect(c, "SELECT count(*) FROM information_schema.tables WHERE table_name = 'y'", "0");
    /* The mapping is remembered: a second plan reuses every name. */
    ddl_plan_free(&p);
    schema_object *o2;
    TEST_REQUIRE(schema_object_from_json(resp, &o2, &e) == 0);
    ddl_plan_init(&p);
    TEST_EQ_INT(ddl_plan_object(c, o2, &s, &p, &e), 0);
    TEST_EQ_INT(p.n, 0);
    for (size_t i = 0; i < o->n_fields; i++)
        TEST_EQ_STR(o2->fields[i].column, o->fields[i].column);
    schema_object_free(o2);
    ddl_plan_free(&p);
    schema_object_free(o);
    cJSON_Delete(resp);
    PQfinish(c);
}

static void test_table_override_and_collision(void)
{
    PGconn *c = fresh("ddl_tables");
    TEST_REQUIRE(c);
    TEST_CHECK(tpg_exec(c, "CREATE SCHEMA ghl; CREATE TABLE ghl.pet (mine int)"));
    cJSON *resp = load_fixture("schema_pet.json");
    ddl_settings s = {.types = types};
    ddl_plan p;
    gs_err e = {0};
    /* A user's own table named pet is never touched: ghlsync takes another name. */
    TEST_EQ_INT(plan_json(c, resp, &s, &p, true, &e), 0);
    ddl_plan_free(&p);
    expect(c, "SELECT table_name ~ '^pet_[0-9a-f]{8}$' FROM ghlsync.tables", "t");
    expect(c,
           "SELECT count(*) FROM information_schema.columns WHERE table_schema = 'ghl' AND "
           "table_name = 'pet'",
           "1");
    /* A configured table for another schema/object. */
    ddl_settings s2 = {.types = types, .schema = "crm", .table = "Pets Table"};
    cJSON_ReplaceItemInObject(cJSON_GetObjectItemCaseSensitive(resp, "object"), "key",
                              cJSON_CreateString("custom_objects.pet2"));
    TEST_EQ_INT(plan_json(c, resp, &s2, &p, true, &e), 0);
    ddl_plan_free(&p);
    expect(c, "SELECT to_regclass('crm.\"Pets Table\"') IS NOT NULL", "t");
    /* Changing the override later is refused with advice. */
    ddl_settings s3 = {.types = types, .schema = "crm", .table = "other"};
    TEST_EQ_INT(plan_json(c, resp, &s3, &p, false, &e), GS_ECONFIG);
    TEST_CHECK_MSG(strstr(e.msg, "rename the table"), "%s", e.msg);
    ddl_plan_free(&p);
    /* Per-field override: age as TEXT, unknown override name is a config error. */
    ddl_field_override ov[1] = {{"custom_objects.pet.age", "TEXT"}};
    ddl_settings s4 = {.types = types, .overrides = ov, .n_overrides = 1};
    cJSON_ReplaceItemInObject(cJSON_GetObjectItemCaseSensitive(resp, "object"), "key",
                              cJSON_CreateString("custom_objects.pet3"));
    TEST_EQ_INT(plan_json(NULL, resp, &s4, &p, false, &e), 0);
    TEST_CHECK(plan_has(&p, "\"age\" text"));
    ddl_plan_free(&p);
    /* A plain PostgreSQL type, as sync.toml documents field_types: the column type changes,
     * the field keeps its dataType's codec. */
    schema_object *m = NULL;
    ov[0].type = "integer";
    TEST_EQ_INT(plan_json(NULL, resp, &s4, &p, false, &e), 0);
    TEST_CHECK(plan_has(&p, "\"age\" integer"));
    ddl_plan_free(&p);
    TEST_EQ_INT(schema_object_from_json(resp, &m, &e), 0);
    if (m) {
        TEST_EQ_INT(ddl_plan_object(NULL, m, &s4, &p, &e), 0);
        const schema_field *age = schema_find_field(m, "custom_objects.pet.age");
        TEST_CHECK(age && age->type && !strcmp(age->type->column, "integer"));
        TEST_CHECK(age && age->type &&
                   age->type->codec == map_types_get(types, "NUMERICAL")->codec);
        ddl_plan_free(&p);
        schema_object_free(m);
    }
    ov[0].type = "NOPE";
    TEST_EQ_INT(plan_json(NULL, resp, &s4, &p, false, &e), GS_ECONFIG);
    ddl_plan_free(&p);
    ov[0].type = "integer; drop table x";
    TEST_EQ_INT(plan_json(NULL, resp, &s4, &p, false, &e), GS_ECONFIG);
    ddl_plan_free(&p);
    cJSON_Delete(resp);
    PQfinish(c);
}

static void test_quoting_matches_libpq(void)
{
    PGconn *c = fresh("ddl_quote");
    TEST_REQUIRE(c);
    const char *cases[] = {"plain",       "with\"quote", "\"\"",     "a\"; drop table x; --",
                           "back\\slash", "it's",        "名前",     "",
                           "select",      "x\\'y\"z",    "tab\tnl\n"};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        sbuf a = SBUF_INIT, b = SBUF_INIT;
        ident_quote(&a, cases[i]);
        char *lib = PQescapeIdentifier(c, cases[i], strlen(cases[i]));
        TEST_CHECK_MSG(lib && strcmp(lib, sbuf_str(&a)) == 0, "ident %s: %s vs %s", cases[i],
                       sbuf_str(&a), lib ? lib : "(null)");
        PQfreemem(lib);
        ident_quote_literal(&b, cases[i]);
        lib = PQescapeLiteral(c, cases[i], strlen(cases[i]));
        TEST_CHECK_MSG(lib && strcmp(lib, sbuf_str(&b)) == 0, "literal %s: %s vs %s", cases[i],
                       sbuf_str(&b), lib ? lib : "(null)");
        PQfreemem(lib);
        sbuf_free(&a);
        sbuf_free(&b);
    }
    PQfinish(c);
}

int main(void)
{
    gs_err e = {0};
    if (map_types_builtin(&types, &e))
        return 1;
    TEST_RUN(test_plan_without_database);
    if (tpg_available()) {
        TEST_RUN(test_apply_then_no_changes);
        TEST_RUN(test_evolution);
        TEST_RUN(test_hostile_identifiers);
        TEST_RUN(test_table_override_and_collision);
        TEST_RUN(test_quoting_matches_libpq);
    } else {
        test_skip("ddl against PostgreSQL", "no PostgreSQL (run via tests/run.sh)");
    }
    map_types_free(types);
    return test_done();
}
