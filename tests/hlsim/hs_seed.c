/*
 * hs_seed.c - the built-in sample schemas (custom_objects.pet with every dataType,
 * custom_objects.vaccination, standard business, contact, opportunity) and deterministic record
 * generation from the context's PRNG (the same --seed gives the same data).
 */
#include "hlsim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const pet_names[] = {"Buddy", "Luna",  "Max",    "Bella", "Charlie", "Lucy",
                                        "Rocky", "Daisy", "Milo",   "Coco",  "Oscar",   "Ruby",
                                        "Teddy", "Rosie", "Bailey", "Nala"};
static const char *const words[] = {"calm", "loves", "walks", "treats", "park",  "sleepy",
                                    "vet",  "check", "ball",  "garden", "quiet", "friendly"};
static const char *const cities[] = {"Austin", "Denver", "Boston", "Seattle", "Miami", "Chicago"};

static const char *pick(hs_rng *r, const char *const *v, size_t n)
{
    return v[hs_rng_next(r) % n];
}
#define PICK(r, arr) pick((r), (arr), sizeof(arr) / sizeof((arr)[0]))

static void key_sep(hs_buf *b, bool *first, const char *k)
{
    if (!*first)
        hs_buf_puts(b, ",");
    *first = false;
    hs_buf_json_str(b, k);
    hs_buf_puts(b, ":");
}

static const char *opt_key(const cJSON *f, hs_rng *r)
{
    cJSON *opts = cJSON_GetObjectItemCaseSensitive(f, "options");
    int n = cJSON_GetArraySize(opts);
    if (n == 0)
        return NULL;
    cJSON *op = cJSON_GetArrayItem(opts, (int)(hs_rng_next(r) % (uint64_t)n));
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(op, "key"));
}

void hs_seed_value(hs_ctx *c, const cJSON *f, hs_buf *b, bool *first)
{
    hs_rng *r = &c->rng;
    const char *k = hs_field_short(f);
    int dt = hs_field_dtype(f);
    char tmp[128];
    switch (dt) {
    case DT_TEXT:
        key_sep(b, first, k);
        if (strcmp(k, "name") == 0)
            snprintf(tmp, sizeof tmp, "%s %u", PICK(r, pet_names),
                     (unsigned)(hs_rng_next(r) % 1000));
        else if (strcmp(k, "email") == 0)
            snprintf(tmp, sizeof tmp, "info%u@example.com", (unsigned)(hs_rng_next(r) % 100000));
        else if (strcmp(k, "city") == 0)
            snprintf(tmp, sizeof tmp, "%s", PICK(r, cities));
        else
            snprintf(tmp, sizeof tmp, "%s %s", PICK(r, words), PICK(r, words));
        hs_buf_json_str(b, tmp);
        break;
    case DT_LARGE_TEXT:
        key_sep(b, first, k);
        snprintf(tmp, sizeof tmp, "%s %s %s.\nLine two: \"%s\"", PICK(r, words), PICK(r, words),
                 PICK(r, words), PICK(r, words));
        hs_buf_json_str(b, tmp);
        break;
    case DT_NUMERICAL:
        key_sep(b, first, k);
        if (hs_rng_next(r) % 2)
            hs_buf_printf(b, "%u", (unsigned)(hs_rng_next(r) % 20));
        else
            hs_buf_printf(b, "%u.%u", (unsigned)(hs_rng_next(r) % 100),
                          (unsigned)(hs_rng_next(r) % 9 + 1));
        break;
    case DT_PHONE:
        key_sep(b, first, k);
        snprintf(tmp, sizeof tmp, "+1555%07u", (unsigned)(hs_rng_next(r) % 10000000));
        hs_buf_json_str(b, tmp);
        break;
    case DT_MONETORY:
        key_sep(b, first, k);
        hs_buf_printf(b, "{\"currency\":\"%s\",\"value\":%u.%02u}",
                      hs_rng_next(r) % 2 ? "default" : "USD", (unsigned)(hs_rng_next(r) % 5000),
                      (unsigned)(hs_rng_next(r) % 100));
        break;
    case DT_SINGLE_OPTIONS:
    case DT_RADIO: {
        const char *o = opt_key(f, r);
        if (!o)
            break;
        key_sep(b, first, k);
        hs_buf_json_str(b, o);
        break;
    }
    case DT_MULTIPLE_OPTIONS:
    case DT_CHECKBOX: {
        cJSON *opts = cJSON_GetObjectItemCaseSensitive(f, "options");
        key_sep(b, first, k);
        hs_buf_puts(b, "[");
        bool any = false;
        cJSON *op;
        cJSON_ArrayForEach(op, opts)
        {
            if (hs_rng_next(r) % 2)
                continue;
            if (any)
                hs_buf_puts(b, ",");
            any = true;
            hs_buf_json_str(b, cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(op, "key")));
        }
        hs_buf_puts(b, "]");
        break;
    }
    case DT_DATE:
        key_sep(b, first, k);
        hs_buf_printf(b, "\"%04u-%02u-%02u\"", (unsigned)(2010 + hs_rng_next(r) % 15),
                      (unsigned)(1 + hs_rng_next(r) % 12), (unsigned)(1 + hs_rng_next(r) % 28));
        break;
    case DT_TEXTBOX_LIST: {
        cJSON *op;
        cJSON_ArrayForEach(op, cJSON_GetObjectItemCaseSensitive(f, "options"))
        {
            char full[300];
            snprintf(full, sizeof full, "%s.%s", k,
                     cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(op, "key")));
            key_sep(b, first, full);
            snprintf(tmp, sizeof tmp, "%s %u", PICK(r, words), (unsigned)(hs_rng_next(r) % 100));
            hs_buf_json_str(b, tmp);
        }
        break;
    }
    case DT_FILE_UPLOAD: {
        unsigned n = (unsigned)(hs_rng_next(r) % 3);
        key_sep(b, first, k);
        hs_buf_puts(b, "[");
        for (unsigned i = 0; i < n; i++) {
            unsigned id = (unsigned)(hs_rng_next(r) % 1000000);
            hs_buf_printf(
                b,
                "%s{\"url\":\"https://files.example.com/%u.jpg\",\"name\":\"photo%u.jpg\","
                "\"size\":%u,\"type\":\"image/jpeg\"}",
                i ? "," : "", id, id, (unsigned)(1000 + hs_rng_next(r) % 90000));
        }
        hs_buf_puts(b, "]");
        break;
    }
    default:
        break;
    }
}

hs_rec *hs_seed_record(hs_ctx *c, hs_object *o, int64_t created, int64_t updated, int src)
{
    hs_rec *r = calloc(1, sizeof *r);
    if (!r)
        abort();
    hs_new_record_id(c, o, created, r->id);
    r->created = created;
    r->updated = updated;
    r->created_src = r->updated_src = (uint8_t)src;
    hs_buf b = {0};
    hs_buf_puts(&b, "{");
    bool first = true;
    cJSON *f;
    cJSON_ArrayForEach(f, o->fields)
    {
        /* the primary property is always present; others are sometimes empty */
        const char *fk = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(f, "fieldKey"));
        bool primary = o->primary && fk && strcmp(o->primary, fk) == 0;
        if (!primary && hs_rng_next(&c->rng) % 10 == 0)
            continue;
        hs_seed_value(c, f, &b, &first);
    }
    hs_buf_puts(&b, "}");
    r->props = hs_buf_steal(&b);
    if (!o->standard && hs_rng_next(&c->rng) % 2) {
        char u[21];
        hs_alnum_id(&c->rng, u);
        char tmp[64];
        snprintf(tmp, sizeof tmp, "[\"%s\"]", u);
        r->owner = strdup(tmp);
    } else {
        r->owner = strdup("[]");
    }
    r->followers = strdup("[]");
    return r;
}

static void set_primary(hs_object *o, const char *short_key)
{
    char fk[300];
    snprintf(fk, sizeof fk, "%s.%s", o->key, short_key);
    free(o->primary);
    o->primary = strdup(fk);
    cJSON_AddItemToArray(o->searchable, cJSON_CreateString(fk));
}

void hs_seed_location(hs_ctx *c, hs_loc *l, long n)
{
    static const char *const species[] = {"dog",  "Dog",  "cat",  "Cat", "bird",
                                          "Bird", "fish", "Fish", NULL};
    static const char *const traits[] = {"friendly", "Friendly", "playful", "Playful", "shy",
                                         "Shy",      "noisy",    "Noisy",   NULL};
    static const char *const housing[] = {"indoor", "Indoor", "outdoor", "Outdoor", NULL};
    static const char *const sizes[] = {"small", "Small", "medium", "Medium",
                                        "large", "Large", NULL};
    static const char *const contact[] = {"email", "Email", "emergency", "Emergency phone", NULL};
    static const char *const vstatus[] = {"scheduled", "Scheduled", "given", "Given",
                                          "missed",    "Missed",    NULL};

    hs_object *pet = hs_obj_new(c, l, "custom_objects.pet", "Pet", "Pets", false);
    free(pet->description);
    pet->description = strdup("Pets of our customers (sample object using every data type)");
    hs_field_add(c, l, pet, "name", "Pet name", DT_TEXT, NULL);
    hs_field_add(c, l, pet, "notes", "Notes", DT_LARGE_TEXT, NULL);
    hs_field_add(c, l, pet, "age", "Age", DT_NUMERICAL, NULL);
    hs_field_add(c, l, pet, "owner_phone", "Owner phone", DT_PHONE, NULL);
    hs_field_add(c, l, pet, "price", "Price", DT_MONETORY, NULL);
    hs_field_add(c, l, pet, "housing", "Housing", DT_CHECKBOX, housing);
    hs_field_add(c, l, pet, "species", "Species", DT_SINGLE_OPTIONS, species);
    hs_field_add(c, l, pet, "traits", "Traits", DT_MULTIPLE_OPTIONS, traits);
    hs_field_add(c, l, pet, "birth_date", "Birth date", DT_DATE, NULL);
    hs_field_add(c, l, pet, "contact_info", "Contact info", DT_TEXTBOX_LIST, contact);
    hs_field_add(c, l, pet, "photos", "Photos", DT_FILE_UPLOAD, NULL);
    hs_field_add(c, l, pet, "size", "Size", DT_RADIO, sizes);
    set_primary(pet, "name");

    hs_object *vac =
        hs_obj_new(c, l, "custom_objects.vaccination", "Vaccination", "Vaccinations", false);
    hs_field_add(c, l, vac, "vaccine", "Vaccine", DT_TEXT, NULL);
    hs_field_add(c, l, vac, "pet_name", "Pet name", DT_TEXT, NULL);
    hs_field_add(c, l, vac, "given_on", "Given on", DT_DATE, NULL);
    hs_field_add(c, l, vac, "dose_ml", "Dose (ml)", DT_NUMERICAL, NULL);
    hs_field_add(c, l, vac, "status", "Status", DT_SINGLE_OPTIONS, vstatus);
    set_primary(vac, "vaccine");

    hs_object *biz = hs_obj_new(c, l, "business", "Company", "Companies", true);
    hs_field_add(c, l, biz, "name", "Company name", DT_TEXT, NULL);
    hs_field_add(c, l, biz, "phone", "Phone", DT_PHONE, NULL);
    hs_field_add(c, l, biz, "email", "Email", DT_TEXT, NULL);
    hs_field_add(c, l, biz, "website", "Website", DT_TEXT, NULL);
    hs_field_add(c, l, biz, "address", "Address", DT_TEXT, NULL);
    hs_field_add(c, l, biz, "city", "City", DT_TEXT, NULL);
    hs_field_add(c, l, biz, "description", "Description", DT_LARGE_TEXT, NULL);
    set_primary(biz, "name");

    hs_object *con = hs_obj_new(c, l, "contact", "Contact", "Contacts", true);
    con->records_supported = false;
    hs_field_add(c, l, con, "first_name", "First name", DT_TEXT, NULL);
    hs_field_add(c, l, con, "last_name", "Last name", DT_TEXT, NULL);
    hs_field_add(c, l, con, "email", "Email", DT_TEXT, NULL);
    hs_field_add(c, l, con, "phone", "Phone", DT_PHONE, NULL);
    set_primary(con, "first_name");

    hs_object *opp = hs_obj_new(c, l, "opportunity", "Opportunity", "Opportunities", true);
    opp->records_supported = false;
    hs_field_add(c, l, opp, "name", "Opportunity name", DT_TEXT, NULL);
    hs_field_add(c, l, opp, "monetary_value", "Value", DT_MONETORY, NULL);
    set_primary(opp, "name");

    /* Records: createdAt spread from 2024-01-01 at a steady pace, updatedAt later but not in
     * the future, so the data set is the same for a given --seed whatever the wall clock. */
    int64_t base = 1704067200000LL, now = hs_now_ms();
    hs_object *targets[] = {pet, vac, biz};
    for (int t = 0; t < 3; t++) {
        hs_object *o = targets[t];
        for (long i = 0; i < n; i++) {
            int64_t created = base + (int64_t)i * 7919 + (int64_t)(hs_rng_next(&c->rng) % 5000);
            int64_t updated = created;
            if (hs_rng_next(&c->rng) % 3 == 0)
                updated += (int64_t)(hs_rng_next(&c->rng) % (30LL * 86400000));
            if (updated > now)
                updated = now;
            hs_rec *r = hs_seed_record(c, o, created, updated, SRC_API);
            hs_rec_append(o, r);
        }
        hs_index_sort_all(o);
    }
}
