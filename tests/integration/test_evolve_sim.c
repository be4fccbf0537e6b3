/*
 * test_evolve_sim.c - schema evolution driven by the simulator over HTTP. Each case changes the
 * schema on the simulator (custom-fields endpoints, or the admin state load for a dataType
 * change, which the API cannot do), re-fetches the model, checks the plan's content, applies it,
 * checks the catalog, and checks that planning again finds nothing to do.
 */
#include "db.h"
#include "ddl.h"
#include "mapping.h"
#include "test.h"
#include "tpg.h"
#include "tschema.h"
#include "tsim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static tsim S;
static PGconn *conn;
static map_types *types;
static bool ready;

static char *q1(const char *fmt1, const char *a)
{
    char q[2048];
    snprintf(q, sizeof q, fmt1, a);
    return tpg_scalar(conn, q);
}

/* Fetch `key` as location `loc`, plan it into *p. Returns the model (caller frees) or NULL. */
static schema_object *plan_one(int loc, const char *key, ddl_plan *p)
{
    schema_object *o = tschema_fetch(&S, loc, key);
    gs_err e = {0};
    if (!o)
        return NULL;
    if (tschema_plan(conn, o, types, S.loc[loc].id, p, &e)) {
        schema_object_free(o);
        ddl_plan_free(p);
        return NULL;
    }
    return o;
}

static bool apply(const ddl_plan *p)
{
    gs_err e = {0};
    if (ddl_apply(conn, p, &e)) {
        printf("# apply: %s\n", e.msg);
        return false;
    }
    return true;
}

static void show(const ddl_plan *p)
{
    sbuf b = SBUF_INIT;
    ddl_plan_print(p, &b);
    printf("# plan:\n# %s", sbuf_str(&b));
    sbuf_free(&b);
}

/* Planning again right after an apply must find nothing. */
static void check_no_changes(int loc, const char *key)
{
    ddl_plan p;
    schema_object *o = plan_one(loc, key, &p);
    TEST_REQUIRE(o != NULL);
    TEST_CHECK_MSG(p.n == 0 && p.n_warnings == 0, "expected no changes, got %zu steps", p.n);
    if (p.n)
        show(&p);
    ddl_plan_free(&p);
    schema_object_free(o);
}

/* Every DDL step of the plan is a COMMENT (no table change). */
static bool only_comments(const ddl_plan *p)
{
    for (size_t i = 0; i < p->n; i++)
        if (p->steps[i].kind == DDL_STEP_DDL && strncmp(p->steps[i].sql, "COMMENT ON", 10) != 0)
            return false;
    return true;
}

static bool no_drop(const ddl_plan *p)
{
    for (size_t i = 0; i < p->n; i++)
        if (strstr(p->steps[i].sql, "DROP ") || strstr(p->steps[i].sql, "DELETE "))
            return false;
    return true;
}

static char *field_id(int loc, const char *key, const char *field_key)
{
    schema_object *o = tschema_fetch(&S, loc, key);
    const schema_field *f = o ? schema_find_field(o, field_key) : NULL;
    char *id = f && f->id ? strdup(f->id) : NULL;
    schema_object_free(o);
    return id;
}

static char *col_comment(const char *table, const char *col)
{
    char q[1024];
    snprintf(q, sizeof q,
             "SELECT col_description('%s'::regclass, attnum) FROM pg_attribute "
             "WHERE attrelid = '%s'::regclass AND attname = '%s'",
             table, table, col);
    return tpg_scalar(conn, q);
}

static char *col_type(const char *table, const char *col)
{
    char q[1024];
    snprintf(q, sizeof q,
             "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
             "WHERE attrelid = '%s'::regclass AND attname = '%s' AND NOT attisdropped",
             table, col);
    return tpg_scalar(conn, q);
}

/* ------------------------------------------------------------------ evolution, one location */

static void initial_tables(void)
{
    ddl_plan p;
    schema_object *o = plan_one(0, "custom_objects.pet", &p);
    TEST_REQUIRE(o != NULL);
    TEST_CHECK(tschema_plan_has(&p, "+ create table \"ghl\".\"pet\"", false));
    TEST_REQUIRE(apply(&p));
    ddl_plan_free(&p);
    schema_object_free(o);
    /* A row with data that later steps must keep. */
    TEST_CHECK(tpg_exec(conn, "INSERT INTO ghl.pet (id, location_id, notes, age) VALUES "
                              "('r1', 'L', 'keep me', 7.5)"));
    check_no_changes(0, "custom_objects.pet");
}

static void field_added(void)
{
    char *parent = NULL;
    {
        schema_object *o = tschema_fetch(&S, 0, "custom_objects.pet");
        TEST_REQUIRE(o != NULL);
        parent = strdup(
            cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o->fields[0].raw, "parentId")));
        schema_object_free(o);
    }
    char body[1024];
    snprintf(body, sizeof body,
             "{\"locationId\":\"%s\",\"name\":\"Microchip id\",\"dataType\":\"TEXT\","
             "\"fieldKey\":\"custom_objects.pet.microchip\",\"objectKey\":\"custom_objects.pet\","
             "\"parentId\":\"%s\",\"showInForms\":true}",
             S.loc[0].id, parent);
    free(parent);
    long st;
    cJSON *r = tschema_call(&S, 0, "POST", "/custom-fields/", body, &st);
    TEST_EQ_INT(st, 201);
    cJSON_Delete(r);

    ddl_plan p;
    schema_object *o = plan_one(0, "custom_objects.pet", &p);
    TEST_REQUIRE(o != NULL);
    show(&p);
    TEST_CHECK(tschema_plan_has(&p, "+ add column \"microchip\" text", false));
    TEST_CHECK(tschema_plan_has(
        &p, "ALTER TABLE \"ghl\".\"pet\" ADD COLUMN IF NOT EXISTS \"microchip\" text", true));
    TEST_EQ_INT((long)ddl_plan_ddl_count(&p), 2); /* ADD COLUMN + its COMMENT */
    TEST_EQ_INT((long)p.n_warnings, 0);
    TEST_CHECK(no_drop(&p));
    TEST_REQUIRE(apply(&p));
    ddl_plan_free(&p);
    schema_object_free(o);

    char *t = col_type("ghl.pet", "microchip");
    TEST_EQ_STR(t, "text");
    free(t);
    char *c = col_comment("ghl.pet", "microchip");
    TEST_EQ_STR(c, "Microchip id - HighLevel field custom_objects.pet.microchip (TEXT)");
    free(c);
    c = q1("SELECT column_name || ':' || data_type FROM information_schema.columns WHERE "
           "table_schema = 'ghl' AND table_name = 'pet' AND column_name = '%s'",
           "microchip");
    TEST_EQ_STR(c, "microchip:text");
    free(c);
    check_no_changes(0, "custom_objects.pet");
}

static void label_changed(void)
{
    char *id = field_id(0, "custom_objects.pet", "custom_objects.pet.microchip");
    TEST_REQUIRE(id != NULL);
    char path[256], body[512];
    snprintf(path, sizeof path, "/custom-fields/%s", id);
    snprintf(body, sizeof body,
             "{\"locationId\":\"%s\",\"showInForms\":true,\"name\":\"Chip number (ISO "
             "11784)\"}",
             S.loc[0].id);
    free(id);
    long st;
    cJSON_Delete(tschema_call(&S, 0, "PUT", path, body, &st));
    TEST_EQ_INT(st, 200);

    ddl_plan p;
    schema_object *o = plan_one(0, "custom_objects.pet", &p);
    TEST_REQUIRE(o != NULL);
    show(&p);
    TEST_CHECK(tschema_plan_has(&p, "~ comment on column \"microchip\"", false));
    TEST_CHECK(only_comments(&p));
    TEST_EQ_INT((long)ddl_plan_ddl_count(&p), 1);
    TEST_EQ_INT((long)p.n_warnings, 0);
    TEST_EQ_STR(schema_find_field(o, "custom_objects.pet.microchip")->column, "microchip");
    TEST_REQUIRE(apply(&p));
    ddl_plan_free(&p);
    schema_object_free(o);

    char *c = col_comment("ghl.pet", "microchip");
    TEST_EQ_STR(c, "Chip number (ISO 11784) - HighLevel field custom_objects.pet.microchip (TEXT)");
    free(c);
    c = q1("SELECT count(*) FROM information_schema.columns WHERE table_schema = 'ghl' AND "
           "table_name = 'pet' AND column_name LIKE '%s'",
           "chip%");
    TEST_EQ_STR(c, "0");
    free(c);
    c = q1("SELECT label FROM ghlsync.fields WHERE field_key = '%s'",
           "custom_objects.pet.microchip");
    TEST_EQ_STR(c, "Chip number (ISO 11784)");
    free(c);
    check_no_changes(0, "custom_objects.pet");
}

static void option_added(void)
{
    char *id = field_id(0, "custom_objects.pet", "custom_objects.pet.species");
    TEST_REQUIRE(id != NULL);
    char path[256], body[512];
    snprintf(path, sizeof path, "/custom-fields/%s", id);
    snprintf(body, sizeof body,
             "{\"locationId\":\"%s\",\"showInForms\":true,\"options\":[{\"key\":\"hamster\","
             "\"label\":\"Hamster "
             "'Syrian'\"}]}",
             S.loc[0].id);
    free(id);
    long st;
    cJSON_Delete(tschema_call(&S, 0, "PUT", path, body, &st));
    TEST_EQ_INT(st, 200);

    ddl_plan p;
    schema_object *o = plan_one(0, "custom_objects.pet", &p);
    TEST_REQUIRE(o != NULL);
    show(&p);
    TEST_CHECK(tschema_plan_has(
        &p, "+ option hamster of custom_objects.pet.species: \"Hamster 'Syrian'\"", false));
    TEST_EQ_INT((long)ddl_plan_ddl_count(&p), 0);
    TEST_REQUIRE(apply(&p));
    ddl_plan_free(&p);
    schema_object_free(o);
    char *c = q1("SELECT label FROM ghlsync.field_options WHERE field_key = "
                 "'custom_objects.pet.species' AND option_key = '%s'",
                 "hamster");
    TEST_EQ_STR(c, "Hamster 'Syrian'");
    free(c);
    c = q1("SELECT count(*) FROM ghlsync.field_options WHERE field_key = '%s'",
           "custom_objects.pet.species");
    TEST_EQ_STR(c, "5"); /* dog, cat, bird, fish + hamster */
    free(c);
    check_no_changes(0, "custom_objects.pet");
}

static void field_deleted(void)
{
    char *id = field_id(0, "custom_objects.pet", "custom_objects.pet.notes");
    TEST_REQUIRE(id != NULL);
    char path[256];
    snprintf(path, sizeof path, "/custom-fields/%s?locationId=%s", id, S.loc[0].id);
    free(id);
    long st;
    cJSON_Delete(tschema_call(&S, 0, "DELETE", path, NULL, &st));
    TEST_EQ_INT(st, 200);

    ddl_plan p;
    schema_object *o = plan_one(0, "custom_objects.pet", &p);
    TEST_REQUIRE(o != NULL);
    show(&p);
    TEST_CHECK(tschema_warned(&p, "field custom_objects.pet.notes was deleted in HighLevel"));
    TEST_CHECK(tschema_plan_has(&p, "~ deprecate column \"notes\"", false));
    TEST_CHECK(only_comments(&p));
    TEST_CHECK(no_drop(&p));
    TEST_REQUIRE(apply(&p));
    ddl_plan_free(&p);
    schema_object_free(o);

    char *c = col_comment("ghl.pet", "notes");
    TEST_CHECK_MSG(c && !strncmp(c, "DEPRECATED: field custom_objects.pet.notes was deleted", 54),
                   "comment: %s", c ? c : "(none)");
    free(c);
    c = q1("SELECT notes FROM ghl.pet WHERE id = '%s'", "r1");
    TEST_EQ_STR(c, "keep me");
    free(c);
    c = q1("SELECT state FROM ghlsync.columns WHERE column_name = '%s'", "notes");
    TEST_EQ_STR(c, "deprecated");
    free(c);
    check_no_changes(0, "custom_objects.pet");
}

static void data_type_changed(void)
{
    /* The API cannot change a field's dataType: edit the location's state and load it back. */
    char path[256];
    snprintf(path, sizeof path, "/_admin/state?locationId=%s", S.loc[0].id);
    long st;
    cJSON *state = tschema_admin(&S, "GET", path, NULL, &st);
    TEST_REQUIRE(st == 200 && state);
    cJSON *objs = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(state, "locations"), 0), "objects");
    bool changed = false;
    /* Objects without records (contact, opportunity) crash the simulator's state load (qsort of
     * an empty index under UBSan, see the report): leave them out of this location. */
    for (int i = cJSON_GetArraySize(objs) - 1; i >= 0; i--)
        if (cJSON_GetArraySize(
                cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(objs, i), "records")) == 0)
            cJSON_DeleteItemFromArray(objs, i);
    cJSON *oj;
    cJSON_ArrayForEach(oj, objs)
    {
        /* Stored ages would fail the new type's validation: drop that property from the
         * records. */
        cJSON *rec;
        cJSON_ArrayForEach(rec, cJSON_GetObjectItemCaseSensitive(oj, "records"))
        {
            cJSON_DeleteItemFromObjectCaseSensitive(
                cJSON_GetObjectItemCaseSensitive(rec, "properties"), "age");
        }
        cJSON *f;
        cJSON_ArrayForEach(f, cJSON_GetObjectItemCaseSensitive(oj, "fields"))
        {
            if (!strcmp(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(f, "fieldKey")),
                        "custom_objects.pet.age")) {
                cJSON_ReplaceItemInObjectCaseSensitive(f, "dataType", cJSON_CreateString("TEXT"));
                changed = true;
            }
        }
    }
    TEST_REQUIRE(changed);
    char *body = cJSON_PrintUnformatted(state);
    cJSON_Delete(state);
    cJSON_Delete(tschema_admin(&S, "POST", "/_admin/state", body, &st));
    free(body);
    TEST_EQ_INT(st, 200);

    ddl_plan p;
    schema_object *o = plan_one(0, "custom_objects.pet", &p);
    TEST_REQUIRE(o != NULL);
    show(&p);
    TEST_CHECK(tschema_warned(&p, "field custom_objects.pet.age changed dataType NUMERICAL -> "
                                  "TEXT"));
    TEST_CHECK(tschema_plan_has(&p, "+ add column \"age_text\" text", false));
    TEST_CHECK(tschema_plan_has(&p, "superseded by a new column", false));
    TEST_CHECK(no_drop(&p));
    TEST_EQ_STR(schema_find_field(o, "custom_objects.pet.age")->column, "age_text");
    TEST_REQUIRE(apply(&p));
    ddl_plan_free(&p);
    schema_object_free(o);

    char *t = col_type("ghl.pet", "age");
    TEST_EQ_STR(t, "numeric");
    free(t);
    t = col_type("ghl.pet", "age_text");
    TEST_EQ_STR(t, "text");
    free(t);
    char *c = col_comment("ghl.pet", "age");
    TEST_CHECK_MSG(c && !strncmp(c, "SUPERSEDED", 10), "comment: %s", c ? c : "(none)");
    free(c);
    c = q1("SELECT age::text FROM ghl.pet WHERE id = '%s'", "r1");
    TEST_EQ_STR(c, "7.5");
    free(c);
    c = q1("SELECT string_agg(column_name || '=' || state, ',' ORDER BY column_name) FROM "
           "ghlsync.columns WHERE field_key = '%s'",
           "custom_objects.pet.age");
    TEST_EQ_STR(c, "age=superseded,age_text=active");
    free(c);
    check_no_changes(0, "custom_objects.pet");
}

/* ------------------------------------------------------------------ setup */

static void setup(void)
{
    const char *args[] = {"--locations", "2", "--seed-records", "5", "--burst", "0", NULL};
    TEST_REQUIRE(tsim_start(&S, args) == 0);
    char ci[512];
    conn = tpg_fresh_db("evolve_sim", ci, sizeof ci);
    TEST_REQUIRE(conn != NULL);
    types = tschema_types();
    TEST_REQUIRE(types != NULL);
    TEST_REQUIRE(tschema_migrate(conn) == 0);
    ready = true;
}

int main(void)
{
    if (!tpg_available()) {
        test_skip("evolve_sim", "no PostgreSQL (run via tests/run.sh)");
        return test_done();
    }
    TEST_RUN(setup);
    if (ready) {
        TEST_RUN(initial_tables);
        TEST_RUN(field_added);
        TEST_RUN(label_changed);
        TEST_RUN(option_added);
        TEST_RUN(field_deleted);
        TEST_RUN(data_type_changed);
    }
    map_types_free(types);
    PQfinish(conn);
    if (S.pid > 0)
        tsim_stop(&S);
    return test_done();
}
