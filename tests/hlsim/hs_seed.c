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
    /* The contact fields used to be four objects-shaped fields drawn here; their ids are still
     * drawn so that every later id and value of a given --seed stays what it was. */
    for (int i = 0; i < 4; i++) {
        char burn[21];
        hs_alnum_id(&c->rng, burn);
    }
    hs_contacts_obj(c, l);
    hs_object *opp = hs_obj_new(c, l, "opportunity", "Opportunity", "Opportunities", true);
    for (int i = 0; i < 2; i++) { /* the two objects-shaped fields it had, as for contact */
        char burn[21];
        hs_alnum_id(&c->rng, burn);
    }
    (void)opp;

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
    /* Contacts draw from their own stream (derived from the location id, itself from --seed), so
     * adding them left every other seeded value as it was. */
    hs_rng saved = c->rng;
    uint64_t h = 1469598103934665603ull;
    for (const char *p = l->id; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    c->rng.s = h ^ 0xC0A7AC75ull;
    hs_seed_contact_fields(c, l, con);
    hs_seed_contacts(c, l, con, c->seed_contacts);
    /* opportunities (pipelines, lost reasons, custom fields, records) from a third stream */
    c->rng.s = h ^ 0x0990A7E5ull;
    hs_seed_opportunities(c, l, c->seed_opps);
    /* associations and relations from a fourth stream */
    c->rng.s = h ^ 0xA550C1A7ull;
    hs_seed_relations(c, l, c->seed_rels);
    c->rng = saved;
}

/* ---- contacts ------------------------------------------------------------------------------ */

static const char *const first_names[] = {"Ava",   "Liam",  "Olivia", "Noah",  "Emma",  "Lucas",
                                          "Mia",   "Ethan", "Zoë",    "Mateo", "Chloé", "Owen",
                                          "Sofia", "Jack",  "Amélie", "Leo"};
static const char *const last_names[] = {"Smith", "Garcia", "Nguyen", "Müller", "O'Brien",
                                         "Rossi", "Kim",    "Dubois", "Silva",  "Cohen",
                                         "Novak", "Jones",  "Patel",  "Haddad", "Berg"};
static const char *const sources[] = {"web form", "public api", "import", "facebook ads"};
static const char *const ctags[] = {"vip", "newsletter", "lead-2024", "partner", "Event Guest"};
static const char *const states[] = {"TX", "CO", "MA", "WA", "FL", "IL"};

void hs_seed_contact_fields(hs_ctx *c, hs_loc *l, hs_object *o)
{
    static const char *const plan[] = {"Basic", "Pro", "Enterprise", NULL};
    static const char *const interests[] = {"Sports", "Music", "Travel", "Food", NULL};
    static const char *const news[] = {"Weekly", "Monthly", NULL};
    static const char *const pref[] = {"Email", "Phone", "SMS", NULL};
    static const char *const social[] = {"Twitter", "LinkedIn", NULL};
    hs_cfield_add(c, l, o, "nickname", "Nickname", DT_TEXT, NULL);
    hs_cfield_add(c, l, o, "notes", "Notes", DT_LARGE_TEXT, NULL);
    hs_cfield_add(c, l, o, "score", "Lead score", DT_NUMERICAL, NULL);
    hs_cfield_add(c, l, o, "budget", "Budget", DT_MONETORY, NULL);
    hs_cfield_add(c, l, o, "plan", "Plan", DT_SINGLE_OPTIONS, plan);
    hs_cfield_add(c, l, o, "interests", "Interests", DT_MULTIPLE_OPTIONS, interests);
    hs_cfield_add(c, l, o, "newsletter", "Newsletter", DT_CHECKBOX, news);
    hs_cfield_add(c, l, o, "contact_pref", "Preferred channel", DT_RADIO, pref);
    hs_cfield_add(c, l, o, "renewal_date", "Renewal date", DT_DATE, NULL);
    hs_cfield_add(c, l, o, "mobile", "Mobile", DT_PHONE, NULL);
    hs_cfield_add(c, l, o, "social", "Social profiles", DT_TEXTBOX_LIST, social);
    hs_cfield_add(c, l, o, "documents", "Documents", DT_FILE_UPLOAD, NULL);
}

static void ckey(hs_buf *b, bool *first, const char *k)
{
    hs_buf_puts(b, *first ? "\"" : ",\"");
    *first = false;
    hs_buf_puts(b, k);
    hs_buf_puts(b, "\":");
}

/* One custom field value in the contacts read shape. */
void hs_seed_cf_value(hs_rng *r, const cJSON *f, hs_buf *b)
{
    const cJSON *opts = cJSON_GetObjectItemCaseSensitive(f, "picklistOptions");
    int no = cJSON_GetArraySize(opts);
    char tmp[160];
    switch (hs_field_dtype(f)) {
    case DT_TEXT:
        snprintf(tmp, sizeof tmp, "%s %u", PICK(r, words), (unsigned)(hs_rng_next(r) % 1000));
        hs_buf_json_str(b, tmp);
        break;
    case DT_LARGE_TEXT:
        snprintf(tmp, sizeof tmp, "%s %s.\nSays \"%s\"", PICK(r, words), PICK(r, words),
                 PICK(r, words));
        hs_buf_json_str(b, tmp);
        break;
    case DT_NUMERICAL:
        hs_buf_printf(b, "%u", (unsigned)(hs_rng_next(r) % 100));
        break;
    case DT_MONETORY:
        hs_buf_printf(b, "%u.%02u", (unsigned)(hs_rng_next(r) % 10000),
                      (unsigned)(hs_rng_next(r) % 100));
        break;
    case DT_SINGLE_OPTIONS:
    case DT_RADIO:
        hs_buf_json_str(
            b, cJSON_GetArrayItem(opts, (int)(hs_rng_next(r) % (uint64_t)no))->valuestring);
        break;
    case DT_MULTIPLE_OPTIONS:
    case DT_CHECKBOX: {
        unsigned mask = (unsigned)(hs_rng_next(r) % ((1u << no) - 1)) + 1;
        bool f1 = true;
        hs_buf_puts(b, "[");
        for (int i = 0; i < no; i++) {
            if (!(mask & (1u << i)))
                continue;
            if (!f1)
                hs_buf_puts(b, ",");
            f1 = false;
            hs_buf_json_str(b, cJSON_GetArrayItem(opts, i)->valuestring);
        }
        hs_buf_puts(b, "]");
        break;
    }
    case DT_DATE:
        hs_buf_printf(b, "\"%04u-%02u-%02u\"", (unsigned)(2024 + hs_rng_next(r) % 3),
                      (unsigned)(1 + hs_rng_next(r) % 12), (unsigned)(1 + hs_rng_next(r) % 28));
        break;
    case DT_PHONE:
        hs_buf_printf(b, "\"+1555%07u\"", (unsigned)(hs_rng_next(r) % 10000000));
        break;
    case DT_TEXTBOX_LIST: {
        bool f1 = true;
        hs_buf_puts(b, "{");
        const cJSON *op;
        cJSON_ArrayForEach(op, opts)
        {
            ckey(b, &f1, op->valuestring);
            hs_buf_printf(b, "\"@%s%u\"", PICK(r, words), (unsigned)(hs_rng_next(r) % 1000));
        }
        hs_buf_puts(b, "}");
        break;
    }
    case DT_FILE_UPLOAD: {
        unsigned id = (unsigned)(hs_rng_next(r) % 1000000);
        hs_buf_printf(
            b,
            "{\"0000%04x-2b06-4fc6-b7bc-%012u\":{\"meta\":{\"originalname\":\"doc%u.pdf\","
            "\"mimetype\":\"application/pdf\",\"size\":%u},\"url\":\"https://files.example."
            "com/documents/%u\",\"documentId\":\"doc%u\"}}",
            id & 0xffff, id, id, (unsigned)(1000 + hs_rng_next(r) % 90000), id, id);
        break;
    }
    default:
        hs_buf_puts(b, "null");
    }
}

char *hs_seed_contact_json(hs_ctx *c, hs_object *o, long i)
{
    hs_rng *r = &c->rng;
    hs_buf b = {0};
    bool first = true;
    const char *fn = PICK(r, first_names), *ln = PICK(r, last_names);
    hs_buf_puts(&b, "{");
    ckey(&b, &first, "firstName");
    hs_buf_json_str(&b, fn);
    ckey(&b, &first, "lastName");
    hs_buf_json_str(&b, ln);
    if (hs_rng_next(r) % 20) {
        char em[200];
        snprintf(em, sizeof em, "contact%ld.%u@example.com", i, (unsigned)(hs_rng_next(r) % 100));
        ckey(&b, &first, "email");
        hs_buf_json_str(&b, em);
    }
    if (hs_rng_next(r) % 10) {
        ckey(&b, &first, "phone");
        hs_buf_printf(&b, "\"+1555%07u\"", (unsigned)(hs_rng_next(r) % 10000000));
    }
    if (hs_rng_next(r) % 3 == 0) {
        ckey(&b, &first, "companyName");
        hs_buf_printf(&b, "\"%s %s Inc\"", PICK(r, words), PICK(r, cities));
    }
    ckey(&b, &first, "source");
    hs_buf_json_str(&b, PICK(r, sources));
    ckey(&b, &first, "type");
    hs_buf_puts(&b, hs_rng_next(r) % 4 ? "\"lead\"" : "\"customer\"");
    ckey(&b, &first, "dnd");
    bool dnd = hs_rng_next(r) % 10 == 0;
    hs_buf_puts(&b, dnd ? "true" : "false");
    if (dnd || hs_rng_next(r) % 5 == 0) {
        ckey(&b, &first, "dndSettings");
        hs_buf_printf(&b, "{\"Email\":{\"status\":\"%s\",\"message\":\"\",\"code\":\"\"}}",
                      dnd ? "active" : "inactive");
    }
    ckey(&b, &first, "tags");
    hs_buf_puts(&b, "[");
    bool tf = true;
    for (size_t t = 0; t < sizeof ctags / sizeof ctags[0]; t++) {
        if (hs_rng_next(r) % 3)
            continue;
        if (!tf)
            hs_buf_puts(&b, ",");
        tf = false;
        hs_buf_json_str(&b, ctags[t]);
    }
    hs_buf_puts(&b, "]");
    if (hs_rng_next(r) % 2) {
        char u[21];
        hs_alnum_id(r, u);
        ckey(&b, &first, "assignedTo");
        hs_buf_json_str(&b, u);
    }
    ckey(&b, &first, "followers");
    hs_buf_puts(&b, "[]");
    if (hs_rng_next(r) % 2) {
        ckey(&b, &first, "dateOfBirth");
        hs_buf_printf(&b, "\"%04u-%02u-%02uT00:00:00.000Z\"",
                      (unsigned)(1950 + hs_rng_next(r) % 55), (unsigned)(1 + hs_rng_next(r) % 12),
                      (unsigned)(1 + hs_rng_next(r) % 28));
    }
    if (hs_rng_next(r) % 4) {
        ckey(&b, &first, "address1");
        hs_buf_printf(&b, "\"%u %s St\"", (unsigned)(1 + hs_rng_next(r) % 9999), PICK(r, words));
        ckey(&b, &first, "city");
        hs_buf_json_str(&b, PICK(r, cities));
        ckey(&b, &first, "state");
        hs_buf_json_str(&b, PICK(r, states));
        ckey(&b, &first, "postalCode");
        hs_buf_printf(&b, "\"%05u\"", (unsigned)(hs_rng_next(r) % 100000));
        ckey(&b, &first, "country");
        hs_buf_puts(&b, "\"US\"");
    }
    if (hs_rng_next(r) % 5 == 0) {
        ckey(&b, &first, "website");
        hs_buf_printf(&b, "\"https://www.example.com/%ld\"", i);
    }
    ckey(&b, &first, "timezone");
    hs_buf_puts(&b, hs_rng_next(r) % 2 ? "\"America/Chicago\"" : "\"America/New_York\"");
    if (hs_rng_next(r) % 10 == 0) {
        ckey(&b, &first, "additionalEmails");
        hs_buf_printf(&b, "[\"alt%ld@example.org\"]", i);
    }
    ckey(&b, &first, "customFields");
    hs_buf_puts(&b, "{");
    bool cf1 = true;
    const cJSON *f;
    cJSON_ArrayForEach(f, o->fields)
    {
        if (hs_rng_next(r) % 10 < 3)
            continue;
        ckey(&b, &cf1, cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(f, "id")));
        hs_seed_cf_value(r, f, &b);
    }
    hs_buf_puts(&b, "}}");
    return hs_buf_steal(&b);
}

void hs_seed_contacts(hs_ctx *c, hs_loc *l, hs_object *o, long n)
{
    (void)l;
    int64_t base = 1704067200000LL, now = hs_now_ms();
    for (long i = 0; i < n; i++) {
        hs_rec *r = calloc(1, sizeof *r);
        if (!r)
            abort();
        r->created = base + (int64_t)i * 7919 + (int64_t)(hs_rng_next(&c->rng) % 5000);
        r->updated = r->created;
        if (hs_rng_next(&c->rng) % 3 == 0)
            r->updated += (int64_t)(hs_rng_next(&c->rng) % (30LL * 86400000));
        if (r->updated > now)
            r->updated = now;
        do
            hs_alnum_id(&c->rng, r->id);
        while (hs_rec_find(o, r->id));
        r->props = hs_seed_contact_json(c, o, i);
        hs_rec_append(o, r);
    }
    hs_index_sort_all(o);
}
