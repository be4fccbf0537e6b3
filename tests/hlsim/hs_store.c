/*
 * hs_store.c - locations, object schemas, fields and records with their ordered indexes.
 *
 * Records of an object live in an id hash map and in two arrays kept sorted by (createdAt, id)
 * and (updatedAt, id). Reads (seek by cursor, rank for page offsets and totals) are binary
 * searches, so the cost of a search page does not grow with the collection; a write moves one
 * pointer in each array (memmove), cheap next to an HTTP round trip even at a million records.
 */
#include "hlsim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOMB ((hs_rec *)1)

hs_loc *hs_loc_new(hs_ctx *c, const char *id)
{
    hs_loc *l = calloc(1, sizeof *l);
    if (!l)
        abort();
    snprintf(l->id, sizeof l->id, "%s", id);
    hs_loc **v = realloc(c->locs, sizeof *v * (size_t)(c->n_locs + 1));
    if (!v)
        abort();
    c->locs = v;
    c->locs[c->n_locs++] = l;
    return l;
}

void hs_loc_clear_objects(hs_loc *l)
{
    for (int i = 0; i < l->n_objs; i++)
        hs_obj_free(l->objs[i]);
    free(l->objs);
    l->objs = NULL;
    l->n_objs = 0;
}

void hs_loc_free(hs_loc *l)
{
    if (!l)
        return;
    hs_loc_clear_objects(l);
    free(l->rate.ring);
    free(l);
}

hs_loc *hs_loc_find(hs_ctx *c, const char *id)
{
    if (!id)
        return NULL;
    for (int i = 0; i < c->n_locs; i++)
        if (strcmp(c->locs[i]->id, id) == 0)
            return c->locs[i];
    return NULL;
}

hs_object *hs_obj_new(hs_ctx *c, hs_loc *l, const char *key, const char *singular,
                      const char *plural, bool standard)
{
    hs_object *o = calloc(1, sizeof *o);
    if (!o)
        abort();
    int64_t now = hs_now_ms();
    hs_hex_id(&c->rng, now, o->id);
    o->key = strdup(key);
    o->loc = l;
    o->ctx = c;
    o->standard = standard;
    o->records_supported = true;
    o->labels = cJSON_CreateObject();
    cJSON_AddStringToObject(o->labels, "singular", singular);
    cJSON_AddStringToObject(o->labels, "plural", plural);
    o->searchable = cJSON_CreateArray();
    o->fields = cJSON_CreateArray();
    hs_alnum_id(&c->rng, o->folder_id);
    o->date_added = o->date_updated = now;
    hs_object **v = realloc(l->objs, sizeof *v * (size_t)(l->n_objs + 1));
    if (!v)
        abort();
    l->objs = v;
    l->objs[l->n_objs++] = o;
    return o;
}

void hs_rec_free(hs_rec *r)
{
    if (!r)
        return;
    free(r->props);
    free(r->owner);
    free(r->followers);
    free(r);
}

void hs_obj_free(hs_object *o)
{
    if (!o)
        return;
    for (size_t i = 0; i < o->by_created.n; i++)
        hs_rec_free(o->by_created.v[i]);
    free(o->by_created.v);
    free(o->by_updated.v);
    hs_map_free(&o->map);
    hs_cstore_free(o->cs);
    cJSON_Delete(o->extra);
    free(o->key);
    free(o->description);
    free(o->primary);
    cJSON_Delete(o->labels);
    cJSON_Delete(o->searchable);
    cJSON_Delete(o->fields);
    free(o);
}

hs_object *hs_obj_find(hs_loc *l, const char *key)
{
    if (!key)
        return NULL;
    for (int i = 0; i < l->n_objs; i++) {
        hs_object *o = l->objs[i];
        if (strcmp(o->key, key) == 0 || strcmp(o->id, key) == 0)
            return o;
        /* the docs also print the singular prefix custom_object. */
        if (strncmp(key, "custom_object.", 14) == 0 &&
            strncmp(o->key, "custom_objects.", 15) == 0 && strcmp(o->key + 15, key + 14) == 0)
            return o;
    }
    return NULL;
}

cJSON *hs_obj_json(const hs_loc *l, const hs_object *o, bool admin)
{
    char a[32], u[32];
    hs_iso_ms(o->date_added, a);
    hs_iso_ms(o->date_updated, u);
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "id", o->id);
    cJSON_AddBoolToObject(j, "standard", o->standard);
    cJSON_AddStringToObject(j, "key", o->key);
    cJSON_AddItemToObject(j, "labels", cJSON_Duplicate(o->labels, 1));
    if (o->description)
        cJSON_AddStringToObject(j, "description", o->description);
    cJSON_AddStringToObject(j, "locationId", l->id);
    cJSON_AddStringToObject(j, "primaryDisplayProperty", o->primary ? o->primary : "");
    cJSON_AddStringToObject(j, "dateAdded", a);
    cJSON_AddStringToObject(j, "dateUpdated", u);
    cJSON_AddStringToObject(j, "type", o->standard ? "SYSTEM_DEFINED" : "USER_DEFINED");
    if (admin)
        cJSON_AddItemToObject(j, "searchableProperties", cJSON_Duplicate(o->searchable, 1));
    return j;
}

/* ---- fields ------------------------------------------------------------------------------- */

cJSON *hs_field_add(hs_ctx *c, hs_loc *l, hs_object *o, const char *short_key, const char *name,
                    int dtype, const char *const *options)
{
    char id[21], when[32], fk[300];
    hs_alnum_id(&c->rng, id);
    hs_iso_ms(hs_now_ms(), when);
    snprintf(fk, sizeof fk, "%s.%s", o->key, short_key);
    cJSON *f = cJSON_CreateObject();
    cJSON_AddStringToObject(f, "id", id);
    cJSON_AddStringToObject(f, "name", name);
    cJSON_AddStringToObject(f, "description", "");
    cJSON_AddStringToObject(f, "placeholder", "");
    cJSON_AddBoolToObject(f, "showInForms", true);
    cJSON_AddStringToObject(f, "locationId", l->id);
    cJSON_AddStringToObject(f, "objectKey", o->key);
    cJSON_AddStringToObject(f, "dataType", hs_dtype_name(dtype));
    cJSON_AddStringToObject(f, "parentId", o->folder_id);
    cJSON_AddStringToObject(f, "fieldKey", fk);
    cJSON_AddBoolToObject(f, "standard", o->standard);
    if (options) {
        cJSON *opts = cJSON_AddArrayToObject(f, "options");
        for (int i = 0; options[i] && options[i + 1]; i += 2) {
            cJSON *op = cJSON_CreateObject();
            cJSON_AddStringToObject(op, "key", options[i]);
            cJSON_AddStringToObject(op, "label", options[i + 1]);
            cJSON_AddItemToArray(opts, op);
        }
    }
    if (dtype == DT_FILE_UPLOAD) {
        cJSON_AddStringToObject(f, "acceptedFormats", "all");
        cJSON_AddNumberToObject(f, "maxFileLimit", 3);
    }
    if (dtype == DT_RADIO)
        cJSON_AddBoolToObject(f, "allowCustomOption", false);
    cJSON_AddStringToObject(f, "dateAdded", when);
    cJSON_AddStringToObject(f, "dateUpdated", when);
    cJSON_AddItemToArray(o->fields, f);
    return f;
}

const char *hs_field_short(const cJSON *f)
{
    const char *fk = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(f, "fieldKey"));
    if (!fk)
        return "";
    const char *dot = strrchr(fk, '.');
    return dot ? dot + 1 : fk;
}

int hs_field_dtype(const cJSON *f)
{
    return hs_dtype_parse(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(f, "dataType")));
}

cJSON *hs_field_find(const hs_object *o, const char *key)
{
    if (!key)
        return NULL;
    const char *alt = NULL;
    /* custom_object.pet.name (singular prefix) names the same field as custom_objects.pet.name */
    char buf[300];
    if (strncmp(key, "custom_object.", 14) == 0) {
        snprintf(buf, sizeof buf, "custom_objects.%s", key + 14);
        alt = buf;
    }
    cJSON *f;
    cJSON_ArrayForEach(f, o->fields)
    {
        const char *fk = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(f, "fieldKey"));
        const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(f, "id"));
        if ((fk && (strcmp(fk, key) == 0 || (alt && strcmp(fk, alt) == 0))) ||
            (id && strcmp(id, key) == 0) || strcmp(hs_field_short(f), key) == 0)
            return f;
    }
    return NULL;
}

bool hs_field_has_option(const cJSON *f, const char *key)
{
    cJSON *op;
    cJSON_ArrayForEach(op, cJSON_GetObjectItemCaseSensitive(f, "options"))
    {
        const char *k = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(op, "key"));
        if (k && strcmp(k, key) == 0)
            return true;
    }
    return false;
}

void hs_obj_strip_property(hs_object *o, const char *short_key)
{
    size_t kl = strlen(short_key);
    for (size_t i = 0; i < o->by_created.n; i++) {
        hs_rec *r = o->by_created.v[i];
        if (!strstr(r->props, short_key))
            continue;
        cJSON *p = cJSON_Parse(r->props);
        if (!p)
            continue;
        cJSON *it = p->child;
        bool changed = false;
        while (it) {
            cJSON *next = it->next;
            if (strcmp(it->string, short_key) == 0 ||
                (strncmp(it->string, short_key, kl) == 0 && it->string[kl] == '.')) {
                cJSON_Delete(cJSON_DetachItemViaPointer(p, it));
                changed = true;
            }
            it = next;
        }
        if (changed) {
            char *s = cJSON_PrintUnformatted(p);
            if (s) {
                free(r->props);
                r->props = s;
            }
        }
        cJSON_Delete(p);
    }
}

/* ---- record map and indexes --------------------------------------------------------------- */

static uint64_t id_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static void map_insert(hs_map *m, hs_rec *r);

static void map_grow(hs_map *m)
{
    /* at most half full after the rebuild, which also drops the tombstones */
    size_t ncap = 64;
    while (ncap < (m->n + 1) * 2)
        ncap *= 2;
    hs_rec **old = m->slots;
    size_t ocap = m->cap;
    m->slots = calloc(ncap, sizeof *m->slots);
    if (!m->slots)
        abort();
    m->cap = ncap;
    m->used = m->n = 0;
    for (size_t i = 0; i < ocap; i++)
        if (old[i] && old[i] != TOMB)
            map_insert(m, old[i]);
    free(old);
}

/* r's id is not in the map */
static void map_insert(hs_map *m, hs_rec *r)
{
    if ((m->used + 1) * 10 >= m->cap * 7)
        map_grow(m);
    size_t mask = m->cap - 1;
    for (size_t i = id_hash(r->id) & mask;; i = (i + 1) & mask) {
        if (!m->slots[i] || m->slots[i] == TOMB) {
            if (!m->slots[i])
                m->used++;
            m->slots[i] = r;
            m->n++;
            return;
        }
    }
}

static hs_rec **map_slot(const hs_map *m, const char *id)
{
    if (!m->cap || !id)
        return NULL;
    size_t mask = m->cap - 1;
    for (size_t i = id_hash(id) & mask;; i = (i + 1) & mask) {
        hs_rec *r = m->slots[i];
        if (!r)
            return NULL;
        if (r != TOMB && strcmp(r->id, id) == 0)
            return &m->slots[i];
    }
}

void hs_map_put(hs_map *m, hs_rec *r)
{
    hs_rec **s = map_slot(m, r->id);
    if (s)
        *s = r;
    else
        map_insert(m, r);
}

hs_rec *hs_map_find(const hs_map *m, const char *id)
{
    hs_rec **s = map_slot(m, id);
    return s ? *s : NULL;
}

void hs_map_del(hs_map *m, const hs_rec *r)
{
    hs_rec **s = map_slot(m, r->id);
    if (s && *s == r) {
        *s = TOMB;
        m->n--;
    }
}

void hs_map_free(hs_map *m)
{
    free(m->slots);
    memset(m, 0, sizeof *m);
}

hs_rec *hs_rec_find(hs_object *o, const char *id)
{
    return hs_map_find(&o->map, id);
}

static int key_cmp(int64_t am, const char *aid, int64_t bm, const char *bid)
{
    if (am != bm)
        return am < bm ? -1 : 1;
    return strcmp(aid, bid);
}

static int64_t rec_ms(const hs_index *ix, const hs_object *o, const hs_rec *r)
{
    return ix == &o->by_created ? r->created : r->updated;
}

static size_t ix_lower(const hs_object *o, const hs_index *ix, int64_t ms, const char *id)
{
    size_t lo = 0, hi = ix->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const hs_rec *r = ix->v[mid];
        if (key_cmp(rec_ms(ix, o, r), r->id, ms, id) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void ix_reserve(hs_index *ix)
{
    if (ix->n < ix->cap)
        return;
    size_t cap = ix->cap ? ix->cap * 2 : 64;
    hs_rec **v = realloc(ix->v, cap * sizeof *v);
    if (!v)
        abort();
    ix->v = v;
    ix->cap = cap;
}

static void ix_insert(hs_object *o, hs_index *ix, hs_rec *r)
{
    ix_reserve(ix);
    size_t at = ix_lower(o, ix, rec_ms(ix, o, r), r->id);
    memmove(ix->v + at + 1, ix->v + at, (ix->n - at) * sizeof *ix->v);
    ix->v[at] = r;
    ix->n++;
}

static void ix_remove(hs_object *o, hs_index *ix, hs_rec *r)
{
    size_t at = ix_lower(o, ix, rec_ms(ix, o, r), r->id);
    if (at < ix->n && ix->v[at] == r) {
        memmove(ix->v + at, ix->v + at + 1, (ix->n - at - 1) * sizeof *ix->v);
        ix->n--;
    }
}

void hs_rec_insert(hs_object *o, hs_rec *r)
{
    hs_map_put(&o->map, r);
    ix_insert(o, &o->by_created, r);
    ix_insert(o, &o->by_updated, r);
    o->version++;
    hs_wh_record(o, r, HS_WH_CREATE);
}

void hs_rec_append(hs_object *o, hs_rec *r)
{
    hs_map_put(&o->map, r);
    ix_reserve(&o->by_created);
    ix_reserve(&o->by_updated);
    o->by_created.v[o->by_created.n++] = r;
    o->by_updated.v[o->by_updated.n++] = r;
}

static int cmp_created(const void *a, const void *b)
{
    const hs_rec *x = *(hs_rec *const *)a, *y = *(hs_rec *const *)b;
    return key_cmp(x->created, x->id, y->created, y->id);
}

static int cmp_updated(const void *a, const void *b)
{
    const hs_rec *x = *(hs_rec *const *)a, *y = *(hs_rec *const *)b;
    return key_cmp(x->updated, x->id, y->updated, y->id);
}

void hs_index_sort_all(hs_object *o)
{
    if (o->by_created.n > 1) {
        qsort(o->by_created.v, o->by_created.n, sizeof(hs_rec *), cmp_created);
        qsort(o->by_updated.v, o->by_updated.n, sizeof(hs_rec *), cmp_updated);
    }
    o->version++;
}

void hs_rec_remove(hs_object *o, hs_rec *r)
{
    hs_wh_record(o, r, HS_WH_DELETE);
    hs_map_del(&o->map, r);
    ix_remove(o, &o->by_created, r);
    ix_remove(o, &o->by_updated, r);
    o->version++;
    hs_rec_free(r);
}

void hs_rec_touch(hs_object *o, hs_rec *r, int64_t new_updated)
{
    ix_remove(o, &o->by_updated, r);
    r->updated = new_updated;
    ix_insert(o, &o->by_updated, r);
    o->version++;
    hs_wh_record(o, r, HS_WH_UPDATE);
}

void hs_new_record_id(hs_ctx *c, hs_object *o, int64_t ms, char out[25])
{
    do
        hs_hex_id(&c->rng, ms, out);
    while (hs_rec_find(o, out));
}

size_t hs_ix_lower(const hs_object *o, const hs_index *ix, int64_t ms, const char *id)
{
    return ix_lower(o, ix, ms, id);
}

/* ---- rendering ---------------------------------------------------------------------------- */

static void render_by(hs_buf *b, const hs_ctx *c, int src, int64_t at)
{
    char t[32];
    hs_iso_ms(at, t);
    hs_buf_printf(b, "{\"channel\":\"%s\",\"createdAt\":\"%s\",\"source\":\"%s\",\"sourceId\":",
                  src == SRC_WEB ? "WEB_USER" : "API", t,
                  src == SRC_WEB ? "WEB_USER" : "PUBLIC_API");
    hs_buf_json_str(b, src == SRC_WEB ? "hlsimWebUser00000001" : c->client_id);
    hs_buf_puts(b, "}");
}

void hs_rec_render(hs_buf *b, const hs_ctx *c, const hs_loc *l, const hs_object *o, const hs_rec *r,
                   bool search, const char *sort_after_json)
{
    char ca[32], ua[32];
    hs_iso_ms(r->created, ca);
    hs_iso_ms(r->updated, ua);
    hs_buf_printf(b, "{\"id\":\"%s\",\"owner\":%s,\"followers\":%s,\"properties\":", r->id,
                  r->owner, r->followers);
    hs_buf_puts(b, r->props);
    hs_buf_printf(b, ",\"%s\":\"%s\",\"%s\":\"%s\",\"locationId\":",
                  search ? "createdAt" : "dateAdded", ca, search ? "updatedAt" : "dateUpdated", ua);
    hs_buf_json_str(b, l->id);
    hs_buf_printf(b, ",\"objectId\":\"%s\",\"objectKey\":", o->id);
    hs_buf_json_str(b, o->key);
    hs_buf_puts(b, ",\"createdBy\":");
    render_by(b, c, r->created_src, r->created);
    hs_buf_puts(b, ",\"lastUpdatedBy\":");
    render_by(b, c, r->updated_src, r->updated);
    if (search) {
        if (sort_after_json)
            hs_buf_printf(b, ",\"searchAfter\":%s", sort_after_json);
        else
            hs_buf_printf(b, ",\"searchAfter\":[%lld,\"%s\"]", (long long)r->created, r->id);
    }
    hs_buf_puts(b, ",\"relations\":[]}");
}
