/*
 * hs_cstore.c - the contact store: versions, the search index lag, the duplicate lookup, the
 * custom field definitions, and the two renderings of a contact (GET/CRUD and search).
 *
 * Why versions: HighLevel's contact search is eventually consistent ("updates may take a few
 * seconds to appear in the search results"). The contact object's map and indexes are what
 * search sees; a write makes a whole new version that waits in a FIFO (and in cs->cur, which
 * GET and every write read first) until `index_lag_ms` has passed, then replaces the indexed
 * version at its new dateUpdated. With no lag a version goes straight to the index. Each write
 * costs one snapshot copy plus the index moves of hs_store.c.
 */
#include "hlsim.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

hs_cstore *hs_cstore_new(void)
{
    hs_cstore *cs = calloc(1, sizeof *cs);
    if (!cs)
        abort();
    return cs;
}

static void dup_clear(hs_duptab *t)
{
    for (size_t i = 0; i < t->cap; i++) {
        hs_dupe *e = t->b[i];
        while (e) {
            hs_dupe *n = e->next;
            free(e->key);
            free(e);
            e = n;
        }
    }
    free(t->b);
    memset(t, 0, sizeof *t);
}

void hs_cstore_free(hs_cstore *cs)
{
    if (!cs)
        return;
    for (size_t i = 0; i < cs->qn; i++)
        hs_rec_free(cs->q[(cs->qhead + i) % cs->qcap].snap);
    free(cs->q);
    hs_map_free(&cs->cur);
    dup_clear(&cs->by_email);
    dup_clear(&cs->by_phone);
    free(cs);
}

bool hs_is_contacts(const hs_object *o)
{
    return o && o->cs;
}

hs_object *hs_contacts_obj(hs_ctx *c, hs_loc *l)
{
    hs_object *o = hs_obj_find(l, "contact");
    if (!o)
        o = hs_obj_new(c, l, "contact", "Contact", "Contacts", true);
    if (!o->primary) {
        o->primary = strdup("contact.first_name");
        cJSON_AddItemToArray(o->searchable, cJSON_CreateString("contact.first_name"));
    }
    o->records_supported = false;
    if (!o->cs)
        o->cs = hs_cstore_new();
    return o;
}

hs_rec *hs_rec_clone(const hs_rec *r)
{
    hs_rec *n = calloc(1, sizeof *n);
    if (!n)
        abort();
    *n = *r;
    n->props = r->props ? strdup(r->props) : NULL;
    n->owner = r->owner ? strdup(r->owner) : NULL;
    n->followers = r->followers ? strdup(r->followers) : NULL;
    return n;
}

/* ---- versions and the lag ----------------------------------------------------------------- */

static void apply_version(hs_object *o, hs_rec *snap)
{
    hs_cstore *cs = o->cs;
    if (hs_map_find(&cs->cur, snap->id) == snap)
        hs_map_del(&cs->cur, snap);
    hs_rec *old = hs_rec_find(o, snap->id);
    if (old)
        hs_rec_remove(o, old);
    if (snap->deleted)
        hs_rec_free(snap);
    else
        hs_rec_insert(o, snap);
}

void hs_contacts_settle(hs_ctx *c, hs_object *o)
{
    hs_cstore *cs = o->cs;
    int64_t now = hs_now_ms();
    while (cs->qn) {
        hs_pend *p = &cs->q[cs->qhead];
        if (c->sw.index_lag_ms > 0 && p->due > now)
            break;
        hs_rec *snap = p->snap;
        cs->qhead = (cs->qhead + 1) % cs->qcap;
        cs->qn--;
        apply_version(o, snap);
    }
}

hs_rec *hs_contact_get(hs_object *o, const char *id)
{
    hs_rec *r = hs_map_find(&o->cs->cur, id);
    if (r)
        return r->deleted ? NULL : r;
    return hs_rec_find(o, id);
}

/* ---- duplicate lookup ----------------------------------------------------------------------- */

static uint64_t str_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static void dup_add(hs_duptab *t, const char *key, const char *id)
{
    if (!key || !*key)
        return;
    if (t->n + 1 > t->cap) {
        size_t ncap = t->cap ? t->cap * 2 : 1024;
        hs_dupe **nb = calloc(ncap, sizeof *nb);
        if (!nb)
            abort();
        for (size_t i = 0; i < t->cap; i++) {
            hs_dupe *e = t->b[i];
            while (e) {
                hs_dupe *nx = e->next;
                size_t k = str_hash(e->key) & (ncap - 1);
                e->next = nb[k];
                nb[k] = e;
                e = nx;
            }
        }
        free(t->b);
        t->b = nb;
        t->cap = ncap;
    }
    hs_dupe *e = calloc(1, sizeof *e);
    if (!e)
        abort();
    e->key = strdup(key);
    snprintf(e->id, sizeof e->id, "%s", id);
    size_t k = str_hash(key) & (t->cap - 1);
    /* appended: the oldest contact with a key is found first */
    hs_dupe **pp = &t->b[k];
    while (*pp)
        pp = &(*pp)->next;
    *pp = e;
    t->n++;
}

static void dup_del(hs_duptab *t, const char *key, const char *id)
{
    if (!key || !*key || !t->cap)
        return;
    for (hs_dupe **pp = &t->b[str_hash(key) & (t->cap - 1)]; *pp; pp = &(*pp)->next) {
        hs_dupe *e = *pp;
        if (!strcmp(e->key, key) && !strcmp(e->id, id)) {
            *pp = e->next;
            free(e->key);
            free(e);
            t->n--;
            return;
        }
    }
}

void hs_contact_norm_phone(const char *in, char *out, size_t len)
{
    /* E.164-like: digits with a leading +; ten digits without + are taken as a US number */
    char d[64];
    size_t n = 0;
    for (const char *p = in; *p && n < sizeof d - 1; p++)
        if (isdigit((unsigned char)*p))
            d[n++] = *p;
    d[n] = 0;
    const char *s = in;
    while (*s == ' ')
        s++;
    if (*s == '+')
        snprintf(out, len, "+%s", d);
    else if (n == 10)
        snprintf(out, len, "+1%s", d);
    else
        snprintf(out, len, "+%s", d);
}

static void keys_of(const hs_rec *r, char *email, size_t el, char *phone, size_t pl)
{
    email[0] = phone[0] = 0;
    cJSON *d = cJSON_Parse(r->props);
    const char *e = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(d, "email"));
    const char *p = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(d, "phone"));
    if (e) {
        size_t i = 0;
        for (; e[i] && i + 1 < el; i++)
            email[i] = (char)tolower((unsigned char)e[i]);
        email[i] = 0;
    }
    if (p)
        snprintf(phone, pl, "%s", p); /* stored normalised */
    cJSON_Delete(d);
}

static void dup_index(hs_cstore *cs, const hs_rec *r, bool add)
{
    char e[320], p[64];
    keys_of(r, e, sizeof e, p, sizeof p);
    if (add) {
        dup_add(&cs->by_email, e, r->id);
        dup_add(&cs->by_phone, p, r->id);
    } else {
        dup_del(&cs->by_email, e, r->id);
        dup_del(&cs->by_phone, p, r->id);
    }
}

static void dup_build(hs_object *o)
{
    hs_cstore *cs = o->cs;
    if (cs->dup_built)
        return;
    cs->dup_built = true;
    for (size_t i = 0; i < o->by_created.n; i++) {
        hs_rec *r = o->by_created.v[i];
        if (!hs_map_find(&cs->cur, r->id))
            dup_index(cs, r, true);
    }
    for (size_t i = 0; i < cs->cur.cap; i++) {
        hs_rec *r = cs->cur.slots[i];
        if (r && r != (hs_rec *)1 && !r->deleted)
            dup_index(cs, r, true);
    }
}

const char *hs_contact_dup_find(hs_object *o, int which, const char *value, const char *not_id)
{
    if (!value || !*value)
        return NULL;
    dup_build(o);
    hs_cstore *cs = o->cs;
    char key[320];
    if (which == CDUP_PHONE) {
        hs_contact_norm_phone(value, key, sizeof key);
    } else {
        size_t i = 0;
        for (; value[i] && i + 1 < sizeof key; i++)
            key[i] = (char)tolower((unsigned char)value[i]);
        key[i] = 0;
    }
    hs_duptab *t = which == CDUP_PHONE ? &cs->by_phone : &cs->by_email;
    if (!t->cap)
        return NULL;
    for (hs_dupe *e = t->b[str_hash(key) & (t->cap - 1)]; e; e = e->next)
        if (!strcmp(e->key, key) && (!not_id || strcmp(e->id, not_id)))
            return e->id;
    return NULL;
}

void hs_contact_commit(hs_ctx *c, hs_object *o, hs_rec *snap)
{
    hs_cstore *cs = o->cs;
    hs_contacts_settle(c, o);
    if (snap->deleted) /* the API deletes a record's relations with it */
        hs_rel_forget_record(c, snap->id);
    hs_wh_contact(o, snap, hs_contact_get(o, snap->id) != NULL);
    if (cs->dup_built) {
        hs_rec *old = hs_contact_get(o, snap->id);
        if (old)
            dup_index(cs, old, false);
        if (!snap->deleted)
            dup_index(cs, snap, true);
    }
    o->version++;
    if (c->sw.index_lag_ms <= 0 && cs->qn == 0) {
        apply_version(o, snap);
        return;
    }
    if (cs->qn == cs->qcap) {
        size_t ncap = cs->qcap ? cs->qcap * 2 : 64;
        hs_pend *nq = calloc(ncap, sizeof *nq);
        if (!nq)
            abort();
        for (size_t i = 0; i < cs->qn; i++)
            nq[i] = cs->q[(cs->qhead + i) % cs->qcap];
        free(cs->q);
        cs->q = nq;
        cs->qcap = ncap;
        cs->qhead = 0;
    }
    hs_pend *p = &cs->q[(cs->qhead + cs->qn) % cs->qcap];
    p->due = hs_now_ms() + c->sw.index_lag_ms;
    p->snap = snap;
    cs->qn++;
    hs_map_put(&cs->cur, snap);
}

/* ---- custom field definitions ------------------------------------------------------------- */

static const char *jstr(const cJSON *o, const char *k)
{
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k));
}

cJSON *hs_cfield_add(hs_ctx *c, hs_loc *l, hs_object *o, const char *short_key, const char *name,
                     int dtype, const char *const *options)
{
    char id[21], when[32], fk[300];
    do
        hs_alnum_id(&c->rng, id);
    while (hs_cfield_find(o, id));
    hs_iso_ms(hs_now_ms(), when);
    snprintf(fk, sizeof fk, "%s.%s", o->key, short_key);
    int pos = 0;
    cJSON *x;
    cJSON_ArrayForEach(x, o->fields)
    {
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(x, "position");
        if (cJSON_IsNumber(p) && (int)p->valuedouble > pos)
            pos = (int)p->valuedouble;
    }
    cJSON *f = cJSON_CreateObject();
    cJSON_AddStringToObject(f, "id", id);
    cJSON_AddStringToObject(f, "name", name);
    cJSON_AddStringToObject(f, "fieldKey", fk);
    cJSON_AddStringToObject(f, "placeholder", "");
    cJSON_AddStringToObject(f, "dataType", hs_dtype_name(dtype));
    cJSON_AddNumberToObject(f, "position", pos + 50);
    cJSON *opts = cJSON_AddArrayToObject(f, "picklistOptions");
    for (int i = 0; options && options[i]; i++)
        cJSON_AddItemToArray(opts, cJSON_CreateString(options[i]));
    cJSON_AddArrayToObject(f, "picklistImageOptions");
    cJSON_AddBoolToObject(f, "isAllowedCustomOption", false);
    cJSON_AddBoolToObject(f, "isMultiFileAllowed", dtype == DT_FILE_UPLOAD);
    cJSON_AddNumberToObject(f, "maxFileLimit", dtype == DT_FILE_UPLOAD ? 3 : 0);
    cJSON_AddStringToObject(f, "locationId", l->id);
    cJSON_AddStringToObject(f, "model", o->key);
    cJSON_AddStringToObject(f, "dateAdded", when);
    cJSON_AddItemToArray(o->fields, f);
    return f;
}

cJSON *hs_cfield_find(const hs_object *o, const char *key)
{
    if (!key)
        return NULL;
    size_t pl = strlen(o->key);
    cJSON *f;
    cJSON_ArrayForEach(f, o->fields)
    {
        const char *id = jstr(f, "id"), *fk = jstr(f, "fieldKey");
        if ((id && !strcmp(id, key)) || (fk && !strcmp(fk, key)) ||
            (fk && !strncmp(fk, o->key, pl) && fk[pl] == '.' && !strcmp(fk + pl + 1, key)))
            return f;
    }
    return NULL;
}

static bool strip_value(hs_rec *r, const char *id)
{
    if (!r->props || !strstr(r->props, id))
        return false;
    cJSON *d = cJSON_Parse(r->props);
    cJSON *cf = cJSON_GetObjectItemCaseSensitive(d, "customFields");
    bool changed = cJSON_GetObjectItemCaseSensitive(cf, id) != NULL;
    if (changed) {
        cJSON_DeleteItemFromObjectCaseSensitive(cf, id);
        hs_contact_set_data(r, d);
    }
    cJSON_Delete(d);
    return changed;
}

void hs_cfield_remove(hs_ctx *c, hs_object *o, cJSON *f)
{
    (void)c;
    char id[64];
    snprintf(id, sizeof id, "%s", jstr(f, "id") ? jstr(f, "id") : "");
    cJSON_Delete(cJSON_DetachItemViaPointer(o->fields, f));
    /* values disappear from every version, indexed or pending; dateUpdated does not move */
    for (size_t i = 0; i < o->by_created.n; i++)
        strip_value(o->by_created.v[i], id);
    hs_cstore *cs = o->cs;
    for (size_t i = 0; cs && i < cs->qn; i++)
        strip_value(cs->q[(cs->qhead + i) % cs->qcap].snap, id);
    o->version++;
}

/* objects-API shape (GET /objects/contact?fetchProperties=true) of the standard fields and the
 * custom ones; the custom ones share ids and fieldKeys with /locations/{id}/customFields */
cJSON *hs_cfields_objects_shape(const hs_loc *l, const hs_object *o)
{
    typedef struct {
        const char *key, *name;
        int dt;
    } stdf;
    static const stdf ostd[] = {
        {"name", "Opportunity Name", DT_TEXT},
        {"monetary_value", "Lead Value", DT_MONETORY},
        {"source", "Source", DT_TEXT},
        {"status", "Status", DT_SINGLE_OPTIONS},
    };
    static const stdf cstd[] = {
        {"first_name", "First Name", DT_TEXT},
        {"last_name", "Last Name", DT_TEXT},
        {"email", "Email", DT_TEXT},
        {"phone", "Phone", DT_PHONE},
        {"company_name", "Company Name", DT_TEXT},
        {"address1", "Street Address", DT_TEXT},
        {"city", "City", DT_TEXT},
        {"state", "State", DT_TEXT},
        {"postal_code", "Postal Code", DT_TEXT},
        {"country", "Country", DT_TEXT},
        {"website", "Website", DT_TEXT},
        {"timezone", "Time Zone", DT_TEXT},
        {"date_of_birth", "Date Of Birth", DT_DATE},
        {"source", "Contact Source", DT_TEXT},
    };
    bool opp = !strcmp(o->key, "opportunity");
    const stdf *std = opp ? ostd : cstd;
    size_t nstd = opp ? sizeof ostd / sizeof ostd[0] : sizeof cstd / sizeof cstd[0];
    char when[32];
    hs_iso_ms(o->date_added, when);
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; i < nstd; i++) {
        char fk[64], id[21];
        snprintf(fk, sizeof fk, "%s.%s", o->key, std[i].key);
        hs_rng r = {str_hash(l->id) ^ str_hash(fk)};
        hs_alnum_id(&r, id);
        cJSON *f = cJSON_CreateObject();
        cJSON_AddStringToObject(f, "id", id);
        cJSON_AddStringToObject(f, "name", std[i].name);
        cJSON_AddStringToObject(f, "description", "");
        cJSON_AddStringToObject(f, "placeholder", "");
        cJSON_AddBoolToObject(f, "showInForms", true);
        cJSON_AddStringToObject(f, "locationId", l->id);
        cJSON_AddStringToObject(f, "objectKey", o->key);
        cJSON_AddStringToObject(f, "dataType", hs_dtype_name(std[i].dt));
        cJSON_AddStringToObject(f, "parentId", o->folder_id);
        cJSON_AddStringToObject(f, "fieldKey", fk);
        cJSON_AddBoolToObject(f, "standard", true);
        cJSON_AddStringToObject(f, "dateAdded", when);
        cJSON_AddStringToObject(f, "dateUpdated", when);
        cJSON_AddItemToArray(arr, f);
    }
    const cJSON *cf;
    cJSON_ArrayForEach(cf, o->fields)
    {
        int dt = hs_dtype_parse(jstr(cf, "dataType"));
        cJSON *f = cJSON_CreateObject();
        cJSON_AddStringToObject(f, "id", jstr(cf, "id") ? jstr(cf, "id") : "");
        cJSON_AddStringToObject(f, "name", jstr(cf, "name") ? jstr(cf, "name") : "");
        cJSON_AddStringToObject(f, "description", "");
        cJSON_AddStringToObject(f, "placeholder",
                                jstr(cf, "placeholder") ? jstr(cf, "placeholder") : "");
        cJSON_AddBoolToObject(f, "showInForms", true);
        cJSON_AddStringToObject(f, "locationId", l->id);
        cJSON_AddStringToObject(f, "objectKey", o->key);
        cJSON_AddStringToObject(f, "dataType", hs_dtype_name(dt));
        cJSON_AddStringToObject(f, "parentId", o->folder_id);
        cJSON_AddStringToObject(f, "fieldKey", jstr(cf, "fieldKey") ? jstr(cf, "fieldKey") : "");
        cJSON_AddBoolToObject(f, "standard", false);
        const cJSON *po = cJSON_GetObjectItemCaseSensitive(cf, "picklistOptions");
        if (cJSON_GetArraySize(po) > 0) {
            /* contact option values are the option strings themselves: key = label */
            cJSON *opts = cJSON_AddArrayToObject(f, "options");
            const cJSON *op;
            cJSON_ArrayForEach(op, po)
            {
                if (!cJSON_IsString(op))
                    continue;
                cJSON *x = cJSON_CreateObject();
                cJSON_AddStringToObject(x, "key", op->valuestring);
                cJSON_AddStringToObject(x, "label", op->valuestring);
                cJSON_AddItemToArray(opts, x);
            }
        }
        if (dt == DT_FILE_UPLOAD) {
            const cJSON *m = cJSON_GetObjectItemCaseSensitive(cf, "maxFileLimit");
            cJSON_AddNumberToObject(f, "maxFileLimit", cJSON_IsNumber(m) ? m->valuedouble : 1);
        }
        if (dt == DT_RADIO)
            cJSON_AddBoolToObject(
                f, "allowCustomOption",
                cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cf, "isAllowedCustomOption")));
        const char *da = jstr(cf, "dateAdded");
        cJSON_AddStringToObject(f, "dateAdded", da ? da : when);
        cJSON_AddStringToObject(f, "dateUpdated", da ? da : when);
        cJSON_AddItemToArray(arr, f);
    }
    return arr;
}

/* ---- rendering ---------------------------------------------------------------------------- */

static void put_key(hs_buf *b, bool *first, const char *k)
{
    hs_buf_puts(b, *first ? "\"" : ",\"");
    *first = false;
    hs_buf_puts(b, k);
    hs_buf_puts(b, "\":");
}

static void put_json(hs_buf *b, const cJSON *v, const char *dflt)
{
    if (!v || (cJSON_IsNull(v) && dflt)) {
        hs_buf_puts(b, dflt ? dflt : "null");
        return;
    }
    if (cJSON_IsString(v)) {
        hs_buf_json_str(b, v->valuestring);
        return;
    }
    char *s = cJSON_PrintUnformatted(v);
    hs_buf_puts(b, s ? s : "null");
    free(s);
}

static void put_lower(hs_buf *b, const char *s)
{
    if (!s) {
        hs_buf_puts(b, "null");
        return;
    }
    char *t = strdup(s);
    if (!t)
        abort();
    hs_fold(t);
    hs_buf_json_str(b, t);
    free(t);
}

void hs_contact_render(hs_buf *b, const hs_ctx *c, const hs_loc *l, const hs_object *o,
                       const hs_rec *r, int view, const char *search_after)
{
    cJSON *d = cJSON_Parse(r->props ? r->props : "{}");
    bool search = view == CV_SEARCH, first = true;
    char t[32];
#define G(k) cJSON_GetObjectItemCaseSensitive(d, k)
    hs_buf_puts(b, "{");
    put_key(b, &first, "id");
    hs_buf_json_str(b, r->id);
    put_key(b, &first, "locationId");
    hs_buf_json_str(b, l->id);
    const char *fn = cJSON_GetStringValue(G("firstName")),
               *ln = cJSON_GetStringValue(G("lastName"));
    if (!search || c->sw.search_names) {
        put_key(b, &first, "firstName");
        put_json(b, G("firstName"), NULL);
        put_key(b, &first, "lastName");
        put_json(b, G("lastName"), NULL);
    }
    put_key(b, &first, "firstNameLowerCase");
    put_lower(b, fn);
    put_key(b, &first, "lastNameLowerCase");
    put_lower(b, ln);
    if (!search) {
        put_key(b, &first, "fullNameLowerCase");
        if (fn || ln) {
            hs_buf full = {0};
            hs_buf_puts(&full, fn ? fn : "");
            if (fn && ln)
                hs_buf_puts(&full, " ");
            hs_buf_puts(&full, ln ? ln : "");
            put_lower(b, full.d);
            free(full.d);
        } else {
            hs_buf_puts(b, "null");
        }
    }
    put_key(b, &first, "email");
    put_json(b, G("email"), NULL);
    if (!search) {
        put_key(b, &first, "emailLowerCase");
        put_lower(b, cJSON_GetStringValue(G("email")));
    }
    static const char *const plain[] = {"phone", "companyName", "businessId", "source", NULL};
    for (int i = 0; plain[i]; i++) {
        put_key(b, &first, plain[i]);
        put_json(b, G(plain[i]), NULL);
    }
    put_key(b, &first, "type");
    put_json(b, G("type"), "\"lead\"");
    put_key(b, &first, "dnd");
    put_json(b, G("dnd"), "false");
    put_key(b, &first, "dndSettings");
    put_json(b, G("dndSettings"), "{}");
    if (!search && G("inboundDndSettings")) {
        put_key(b, &first, "inboundDndSettings");
        put_json(b, G("inboundDndSettings"), "{}");
    }
    put_key(b, &first, "tags");
    put_json(b, G("tags"), "[]");
    put_key(b, &first, "assignedTo");
    put_json(b, G("assignedTo"), NULL);
    put_key(b, &first, "followers");
    put_json(b, G("followers"), "[]");
    put_key(b, &first, "dateOfBirth");
    put_json(b, G("dateOfBirth"), NULL);
    /* the search documentation lists `address`, GET and the write DTOs `address1` */
    put_key(b, &first, search ? "address" : "address1");
    put_json(b, G("address1"), NULL);
    static const char *const tail[] = {"city",    "state",    "postalCode", "country",
                                       "website", "timezone", NULL};
    for (int i = 0; tail[i]; i++) {
        put_key(b, &first, tail[i]);
        put_json(b, G(tail[i]), NULL);
    }
    if (!search && G("gender")) {
        put_key(b, &first, "gender");
        put_json(b, G("gender"), NULL);
    }
    put_key(b, &first, "additionalEmails");
    put_json(b, G("additionalEmails"), "[]");
    put_key(b, &first, "additionalPhones");
    hs_buf_puts(b, "[]");
    put_key(b, &first, "customFields");
    hs_buf_puts(b, "[");
    const cJSON *cf = G("customFields");
    bool cfirst = true;
    const cJSON *f;
    cJSON_ArrayForEach(f, o->fields)
    {
        const char *id = jstr(f, "id");
        const cJSON *v = id ? cJSON_GetObjectItemCaseSensitive(cf, id) : NULL;
        if (!v)
            continue;
        hs_buf_puts(b, cfirst ? "{\"id\":" : ",{\"id\":");
        cfirst = false;
        hs_buf_json_str(b, id);
        hs_buf_puts(b, ",\"value\":");
        put_json(b, v, NULL);
        hs_buf_puts(b, "}");
    }
    hs_buf_puts(b, "]");
    if (!search) {
        put_key(b, &first, "deleted");
        hs_buf_puts(b, "false");
    }
    hs_iso_ms(r->created, t);
    put_key(b, &first, "dateAdded");
    hs_buf_json_str(b, t);
    hs_iso_ms(r->updated, t);
    put_key(b, &first, "dateUpdated");
    hs_buf_json_str(b, t);
    if (search) {
        put_key(b, &first, "searchAfter");
        if (search_after)
            hs_buf_puts(b, search_after);
        else
            hs_buf_printf(b, "[%lld,\"%s\"]", (long long)r->created, r->id);
    }
    hs_buf_puts(b, "}");
#undef G
    cJSON_Delete(d);
}

static int cmp_added(const void *a, const void *b)
{
    const hs_rec *x = *(hs_rec *const *)a, *y = *(hs_rec *const *)b;
    if (x->created != y->created)
        return x->created < y->created ? -1 : 1;
    return strcmp(x->id, y->id);
}

void hs_contacts_dump(hs_buf *b, hs_ctx *c, hs_loc *l, hs_object *o)
{
    hs_contacts_settle(c, o);
    hs_cstore *cs = o->cs;
    size_t cap = o->by_created.n + cs->cur.n + 1, n = 0;
    hs_rec **v = calloc(cap, sizeof *v);
    if (!v)
        abort();
    for (size_t i = 0; i < o->by_created.n; i++) {
        hs_rec *r = o->by_created.v[i];
        if (!hs_map_find(&cs->cur, r->id))
            v[n++] = r;
    }
    for (size_t i = 0; i < cs->cur.cap; i++) {
        hs_rec *r = cs->cur.slots[i];
        if (r && r != (hs_rec *)1 && !r->deleted)
            v[n++] = r;
    }
    qsort(v, n, sizeof *v, cmp_added);
    hs_buf_puts(b, "[");
    for (size_t i = 0; i < n; i++) {
        if (i)
            hs_buf_puts(b, ",");
        hs_contact_render(b, c, l, o, v[i], CV_GET, NULL);
    }
    hs_buf_puts(b, "]");
    free(v);
}
