/*
 * test_evolve_locations.c - a table is shared by every location mirroring the object, so a field
 * deleted in one location must not deprecate its column while another location still has it.
 * Two simulator locations, fields deleted over HTTP (DELETE /custom-fields/{id}); plans made one
 * location at a time and both locations in one plan, in both orders.
 */
#include "db.h"
#include "ddl.h"
#include "test.h"
#include "tpg.h"
#include "tschema.h"
#include "tsim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static tsim S;
static map_types *types;
static bool ready;

/* Plan the pet object of the given locations, in that order, into one plan. */
static bool plan_locs(PGconn *c, const int *locs, int n, ddl_plan *p)
{
    ddl_plan_init(p);
    for (int i = 0; i < n; i++) {
        schema_object *o = tschema_fetch(&S, locs[i], "custom_objects.pet");
        if (!o)
            return false;
        gs_err e = {0};
        ddl_settings s = {.types = types, .location_id = S.loc[locs[i]].id};
        int rc = ddl_plan_object(c, o, &s, p, &e);
        schema_object_free(o);
        if (rc) {
            printf("# plan: %s\n", e.msg);
            return false;
        }
    }
    return true;
}

static bool apply(PGconn *c, const ddl_plan *p)
{
    gs_err e = {0};
    if (ddl_apply(c, p, &e)) {
        printf("# apply: %s\n", e.msg);
        return false;
    }
    return true;
}

static void delete_field(int loc, const char *field_key)
{
    schema_object *o = tschema_fetch(&S, loc, "custom_objects.pet");
    const schema_field *f = o ? schema_find_field(o, field_key) : NULL;
    TEST_REQUIRE(f && f->id);
    char path[256];
    snprintf(path, sizeof path, "/custom-fields/%s?locationId=%s", f->id, S.loc[loc].id);
    schema_object_free(o);
    long st;
    cJSON_Delete(tschema_call(&S, loc, "DELETE", path, NULL, &st));
    TEST_EQ_INT(st, 200);
}

static char *state_and_comment(PGconn *c, const char *col)
{
    char q[512];
    snprintf(q, sizeof q,
             "SELECT k.state || '|' || coalesce(col_description('ghl.pet'::regclass, a.attnum), "
             "'') FROM ghlsync.columns k JOIN pg_attribute a ON a.attrelid = 'ghl.pet'::regclass "
             "AND a.attname = k.column_name WHERE k.column_name = '%s'",
             col);
    return tpg_scalar(c, q);
}

static bool deprecates(const ddl_plan *p, const char *col)
{
    char needle[128];
    snprintf(needle, sizeof needle, "deprecate column \"%s\"", col);
    return tschema_plan_has(p, needle, false) || tschema_warned(p, "was deleted in HighLevel");
}

/* Both locations known to the database; the field goes away in one, then the other. */
static void deleted_in_one_location_then_both(void)
{
    char ci[512];
    PGconn *c = tpg_fresh_db("evolve_loc_a", ci, sizeof ci);
    TEST_REQUIRE(c && tschema_migrate(c) == 0);
    ddl_plan p;
    const int both[] = {0, 1}, rev[] = {1, 0}, l0[] = {0}, l1[] = {1};
    TEST_REQUIRE(plan_locs(c, both, 2, &p));
    TEST_REQUIRE(apply(c, &p));
    ddl_plan_free(&p);
    TEST_CHECK(tpg_exec(c, "INSERT INTO ghl.pet (id, location_id, notes) VALUES ('r', 'L', 'x')"));

    delete_field(0, "custom_objects.pet.notes");
    /* Location 0 alone, and both together in either order: location 1 still has notes. */
    TEST_REQUIRE(plan_locs(c, l0, 1, &p));
    TEST_CHECK(!deprecates(&p, "notes"));
    TEST_EQ_INT((long)ddl_plan_ddl_count(&p), 0);
    ddl_plan_free(&p);
    TEST_REQUIRE(plan_locs(c, rev, 2, &p));
    TEST_CHECK(!deprecates(&p, "notes"));
    ddl_plan_free(&p);
    TEST_REQUIRE(plan_locs(c, both, 2, &p));
    TEST_CHECK(!deprecates(&p, "notes"));
    TEST_REQUIRE(apply(c, &p));
    ddl_plan_free(&p);
    char *v = state_and_comment(c, "notes");
    TEST_EQ_STR(v, "active|Notes - HighLevel field custom_objects.pet.notes (LARGE_TEXT)");
    free(v);
    v = tpg_scalar(c, "SELECT string_agg(location_id, ',') FROM ghlsync.fields WHERE "
                      "field_key = 'custom_objects.pet.notes' AND deleted_at IS NOT NULL");
    TEST_EQ_STR(v, S.loc[0].id);
    free(v);
    /* Location 1 planned alone afterwards: nothing to do, and no deprecation either. */
    TEST_REQUIRE(plan_locs(c, l1, 1, &p));
    TEST_EQ_INT((long)p.n, 0);
    ddl_plan_free(&p);

    /* Now gone in location 1 too: deprecated, once. */
    delete_field(1, "custom_objects.pet.notes");
    TEST_REQUIRE(plan_locs(c, l1, 1, &p));
    TEST_CHECK(deprecates(&p, "notes"));
    TEST_EQ_INT((long)p.n_warnings, 1);
    ddl_plan_free(&p);
    TEST_REQUIRE(plan_locs(c, both, 2, &p));
    TEST_CHECK(deprecates(&p, "notes"));
    TEST_EQ_INT((long)p.n_warnings, 1);
    TEST_REQUIRE(apply(c, &p));
    ddl_plan_free(&p);
    v = state_and_comment(c, "notes");
    TEST_CHECK_MSG(v && !strncmp(v, "deprecated|DEPRECATED: field custom_objects.pet.notes", 53),
                   "%s", v ? v : "(null)");
    free(v);
    v = tpg_scalar(c, "SELECT notes FROM ghl.pet WHERE id = 'r'");
    TEST_EQ_STR(v, "x");
    free(v);
    TEST_REQUIRE(plan_locs(c, both, 2, &p));
    TEST_EQ_INT((long)p.n, 0);
    ddl_plan_free(&p);
    PQfinish(c);
}

/* Location 1 is new (nothing recorded for it) and planned after location 0, which lost the
 * field: the deprecation location 0 queued is taken back. */
static void new_location_in_the_same_plan_keeps_the_column(void)
{
    char ci[512];
    PGconn *c = tpg_fresh_db("evolve_loc_b", ci, sizeof ci);
    TEST_REQUIRE(c && tschema_migrate(c) == 0);
    ddl_plan p;
    const int both[] = {0, 1}, l0[] = {0};
    TEST_REQUIRE(plan_locs(c, l0, 1, &p));
    TEST_REQUIRE(apply(c, &p));
    ddl_plan_free(&p);

    delete_field(0, "custom_objects.pet.owner_phone");
    TEST_REQUIRE(plan_locs(c, l0, 1, &p)); /* location 0 alone: it really is gone everywhere */
    TEST_CHECK(deprecates(&p, "owner_phone"));
    ddl_plan_free(&p);
    TEST_REQUIRE(plan_locs(c, both, 2, &p));
    TEST_CHECK(!deprecates(&p, "owner_phone"));
    TEST_EQ_INT((long)p.n_warnings, 0);
    TEST_REQUIRE(apply(c, &p));
    ddl_plan_free(&p);
    char *v = state_and_comment(c, "owner_phone");
    TEST_EQ_STR(v, "active|Owner phone - HighLevel field custom_objects.pet.owner_phone (PHONE)");
    free(v);
    TEST_REQUIRE(plan_locs(c, both, 2, &p));
    TEST_EQ_INT((long)p.n, 0);
    ddl_plan_free(&p);
    PQfinish(c);
}

static void setup(void)
{
    const char *args[] = {"--locations", "3", "--seed-records", "2", "--burst", "0", NULL};
    TEST_REQUIRE(tsim_start(&S, args) == 0);
    types = tschema_types();
    TEST_REQUIRE(types != NULL);
    ready = true;
}

int main(void)
{
    if (!tpg_available()) {
        test_skip("evolve_locations", "no PostgreSQL (run via tests/run.sh)");
        return test_done();
    }
    TEST_RUN(setup);
    if (ready) {
        TEST_RUN(deleted_in_one_location_then_both);
        TEST_RUN(new_location_in_the_same_plan_keeps_the_column);
    }
    map_types_free(types);
    if (S.pid > 0)
        tsim_stop(&S);
    return test_done();
}
