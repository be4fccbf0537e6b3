/* test_schema.c - schema responses (objects.json shapes) -> model. */
#include "schema.h"
#include "test.h"

#include <stdlib.h>
#include <string.h>

static void test_object_and_fields(void)
{
    cJSON *r = cJSON_Parse(
        "{\"object\":{\"id\":\"o1\",\"key\":\"custom_objects.pet\",\"standard\":false,\"labels\":"
        "{\"singular\":\"Pet\",\"plural\":\"Pets\"},\"locationId\":\"L1\"},\"cache\":true,"
        "\"fields\":[{\"fieldKey\":\"custom_object.pet.name\",\"dataType\":\"TEXT\",\"name\":"
        "\"Name\"},{\"fieldKey\":\"custom_objects.pet.kind\",\"dataType\":\"SINGLE_OPTIONS\","
        "\"options\":[{\"key\":\"a\",\"label\":\"A\"},{\"label\":\"no key\"}]},"
        "{\"fieldKey\":\"custom_object.pet.name\",\"dataType\":\"NUMERICAL\"},{\"fieldKey\":"
        "\"business.email\",\"dataType\":\"TEXT\",\"extra\":[1]}]}");
    schema_object *o;
    gs_err e = {0};
    TEST_REQUIRE(schema_object_from_json(r, &o, &e) == 0);
    TEST_EQ_STR(o->key, "custom_objects.pet");
    TEST_EQ_STR(o->label_plural, "Pets");
    TEST_EQ_STR(o->location_id, "L1");
    TEST_EQ_INT(o->n_fields, 3); /* the duplicate field key is dropped */
    TEST_EQ_STR(o->fields[0].prop_key, "name");
    TEST_EQ_STR(o->fields[0].label, "Name");
    TEST_EQ_INT(o->fields[1].n_options, 1);
    TEST_EQ_STR(o->fields[2].prop_key, "email");
    schema_object_free(o);
    cJSON_Delete(r);
    r = cJSON_Parse("{\"object\":{\"key\":\"x\"},\"fields\":[{\"fieldKey\":\"x.y\"}]}");
    TEST_EQ_INT(schema_object_from_json(r, &o, &e), GS_EPARSE);
    cJSON_Delete(r);
    r = cJSON_Parse("{\"objects\":[{\"key\":\"a\"},{\"nokey\":1},{\"key\":\"business\"}]}");
    char **keys;
    size_t n;
    TEST_REQUIRE(schema_list_keys(r, &keys, &n, &e) == 0);
    TEST_EQ_INT(n, 2);
    TEST_EQ_STR(keys[1], "business");
    for (size_t i = 0; i < n; i++)
        free(keys[i]);
    free(keys);
    cJSON_Delete(r);
}

int main(void)
{
    TEST_RUN(test_object_and_fields);
    return test_done();
}
