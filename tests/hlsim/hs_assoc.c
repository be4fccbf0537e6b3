/*
 * hs_assoc.c - associations (types of links between two object kinds) and relations (one link
 * between two records), as highlevel-crm.md §3 and decisions.md describe them: the public
 * /associations endpoints, their admin calls ("another user" relating and unrelating), the
 * cascade when a record is deleted, and seeding. Runs with ctx->mu held, like hs_api.c.
 *
 * Store (hs_assoc_store, one per simulator): associations per location (a cJSON array in API
 * shape; the SYSTEM_DEFINED OPPORTUNITIES_CONTACTS_ASSOCIATION is always first), and every
 * relation once, in creation order (a doubly linked list), found by id, by its (association,
 * first, second) triple (duplicates) and by either record id (listing per record, cascade)
 * through hash maps. Record ids are unique across locations (random), so the per-record map is
 * global; each relation remembers its location.
 *
 * The system association has no relation rows of its own: an opportunity's contact is its
 * contactId, and creating a relation of it answers 400 (the engine mirrors it as
 * opportunities.contact_id).
 */
#include "hlsim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SYSTEM_ASSOC "OPPORTUNITIES_CONTACTS_ASSOCIATION"

/* ---- a chained string -> pointer map ---------------------------------------------------- */
typedef struct sent {
    char *key;
    void *val;
    struct sent *next;
} sent;

typedef struct smap {
    sent **b;
    size_t cap, n;
} smap;

static size_t shash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return (size_t)h;
}

static void *smap_get(const smap *m, const char *key)
{
    if (!m->cap)
        return NULL;
    for (sent *e = m->b[shash(key) & (m->cap - 1)]; e; e = e->next)
        if (!strcmp(e->key, key))
            return e->val;
    return NULL;
}

static void smap_put(smap *m, const char *key, void *val)
{
    if (m->n + 1 > m->cap) {
        size_t ncap = m->cap ? m->cap * 2 : 64;
        sent **nb = calloc(ncap, sizeof *nb);
        if (!nb)
            abort();
        for (size_t i = 0; i < m->cap; i++)
            for (sent *e = m->b[i], *nx; e; e = nx) {
                nx = e->next;
                size_t h = shash(e->key) & (ncap - 1);
                e->next = nb[h];
                nb[h] = e;
            }
        free(m->b);
        m->b = nb;
        m->cap = ncap;
    }
    size_t h = shash(key) & (m->cap - 1);
    sent *e = malloc(sizeof *e);
    if (!e || !(e->key = strdup(key)))
        abort();
    e->val = val;
    e->next = m->b[h];
    m->b[h] = e;
    m->n++;
}

static void smap_del(smap *m, const char *key)
{
    if (!m->cap)
        return;
    for (sent **p = &m->b[shash(key) & (m->cap - 1)]; *p; p = &(*p)->next)
        if (!strcmp((*p)->key, key)) {
            sent *e = *p;
            *p = e->next;
            free(e->key);
            free(e);
            m->n--;
            return;
        }
}

static void smap_free(smap *m, void (*freeval)(void *))
{
    for (size_t i = 0; i < m->cap; i++)
        for (sent *e = m->b[i], *nx; e; e = nx) {
            nx = e->next;
            if (freeval)
                freeval(e->val);
            free(e->key);
            free(e);
        }
    free(m->b);
    memset(m, 0, sizeof *m);
}

/* ---- the store ----------------------------------------------------------------------------- */
typedef struct hs_rel {
    char id[21];
    char *assoc, *first, *second, *loc;
    struct hs_rel *prev, *next; /* creation order */
} hs_rel;

typedef struct rvec {
    hs_rel **v;
    size_t n, cap;
} rvec;

struct hs_assoc_store {
    smap assocs;  /* location id -> cJSON array of associations */
    smap by_id;   /* relation id -> hs_rel */
    smap by_pair; /* "assoc\x1f first\x1f second" -> hs_rel */
    smap by_rec;  /* record id -> rvec (its relations, creation order) */
    hs_rel *head, *tail;
};

static struct hs_assoc_store *store(hs_ctx *c)
{
    if (!c->assoc && !(c->assoc = calloc(1, sizeof *c->assoc)))
        abort();
    return c->assoc;
}

static void free_assocs(void *v)
{
    cJSON_Delete(v);
}

static void free_rvec(void *v)
{
    rvec *r = v;
    free(r->v);
    free(r);
}

static void rel_free(hs_rel *r)
{
    free(r->assoc);
    free(r->first);
    free(r->second);
    free(r->loc);
    free(r);
}

void hs_assoc_free(hs_ctx *c)
{
    struct hs_assoc_store *s = c->assoc;
    if (!s)
        return;
    for (hs_rel *r = s->head, *nx; r; r = nx) {
        nx = r->next;
        rel_free(r);
    }
    smap_free(&s->assocs, free_assocs);
    smap_free(&s->by_id, NULL);
    smap_free(&s->by_pair, NULL);
    smap_free(&s->by_rec, free_rvec);
    free(s);
    c->assoc = NULL;
}

static char *pair_key(const char *assoc, const char *first, const char *second)
{
    hs_buf b = {0};
    hs_buf_printf(&b, "%s\x1f%s\x1f%s", assoc, first, second);
    return hs_buf_steal(&b);
}

static void vec_add(smap *m, const char *rec, hs_rel *r)
{
    rvec *v = smap_get(m, rec);
    if (!v) {
        if (!(v = calloc(1, sizeof *v)))
            abort();
        smap_put(m, rec, v);
    }
    if (v->n == v->cap) {
        v->cap = v->cap ? v->cap * 2 : 4;
        hs_rel **nv = realloc(v->v, v->cap * sizeof *nv);
        if (!nv)
            abort();
        v->v = nv;
    }
    v->v[v->n++] = r;
}

static void vec_del(smap *m, const char *rec, const hs_rel *r)
{
    rvec *v = smap_get(m, rec);
    if (!v)
        return;
    for (size_t i = 0; i < v->n; i++)
        if (v->v[i] == r) {
            memmove(v->v + i, v->v + i + 1, (v->n - i - 1) * sizeof *v->v);
            v->n--;
            break;
        }
    if (!v->n) {
        smap_del(m, rec);
        free_rvec(v);
    }
}

static cJSON *assoc_find(hs_ctx *c, const char *loc, const char *id_or_key, bool by_key);
static const char *jstr(const cJSON *o, const char *k);

/* RelationCreate / RelationDelete (hs_webhook.c), for every way a relation comes and goes: API
 * writes, the admin's "another user", cascades. Seeding happens before the sender is armed. */
static void rel_webhook(hs_ctx *c, const hs_rel *r, bool del)
{
    if (!c->wh)
        return;
    const cJSON *a = assoc_find(c, r->loc, r->assoc, false);
    hs_wh_relation(c->wh, r->loc, r->id, r->assoc, a ? jstr(a, "firstObjectKey") : NULL, r->first,
                   a ? jstr(a, "secondObjectKey") : NULL, r->second, del);
}

static void rel_remove(hs_ctx *c, hs_rel *r)
{
    struct hs_assoc_store *s = store(c);
    rel_webhook(c, r, true);
    char *pk = pair_key(r->assoc, r->first, r->second);
    smap_del(&s->by_pair, pk);
    free(pk);
    smap_del(&s->by_id, r->id);
    vec_del(&s->by_rec, r->first, r);
    if (strcmp(r->first, r->second))
        vec_del(&s->by_rec, r->second, r);
    if (r->prev)
        r->prev->next = r->next;
    else
        s->head = r->next;
    if (r->next)
        r->next->prev = r->prev;
    else
        s->tail = r->prev;
    rel_free(r);
}

static hs_rel *rel_add(hs_ctx *c, const char *loc, const char *assoc, const char *first,
                       const char *second)
{
    struct hs_assoc_store *s = store(c);
    hs_rel *r = calloc(1, sizeof *r);
    if (!r)
        abort();
    do
        hs_alnum_id(&c->rng, r->id);
    while (smap_get(&s->by_id, r->id));
    if (!(r->assoc = strdup(assoc)) || !(r->first = strdup(first)) ||
        !(r->second = strdup(second)) || !(r->loc = strdup(loc)))
        abort();
    smap_put(&s->by_id, r->id, r);
    char *pk = pair_key(assoc, first, second);
    smap_put(&s->by_pair, pk, r);
    free(pk);
    vec_add(&s->by_rec, first, r);
    if (strcmp(first, second))
        vec_add(&s->by_rec, second, r);
    r->prev = s->tail;
    if (s->tail)
        s->tail->next = r;
    else
        s->head = r;
    s->tail = r;
    rel_webhook(c, r, false);
    return r;
}

void hs_rel_forget_record(hs_ctx *c, const char *record_id)
{
    if (!c->assoc)
        return;
    rvec *v;
    while ((v = smap_get(&c->assoc->by_rec, record_id)) && v->n)
        rel_remove(c, v->v[v->n - 1]);
}

/* ---- associations -------------------------------------------------------------------------- */
static cJSON *assoc_json(const char *loc, const char *id, const char *key, const char *k1,
                         const char *l1, const char *k2, const char *l2, const char *type)
{
    cJSON *a = cJSON_CreateObject();
    cJSON_AddStringToObject(a, "locationId", loc);
    cJSON_AddStringToObject(a, "id", id);
    cJSON_AddStringToObject(a, "key", key);
    cJSON_AddStringToObject(a, "firstObjectLabel", l1);
    cJSON_AddStringToObject(a, "firstObjectKey", k1);
    cJSON_AddStringToObject(a, "secondObjectLabel", l2);
    cJSON_AddStringToObject(a, "secondObjectKey", k2);
    cJSON_AddStringToObject(a, "associationType", type);
    return a;
}

static cJSON *loc_assocs(hs_ctx *c, const char *loc)
{
    struct hs_assoc_store *s = store(c);
    cJSON *a = smap_get(&s->assocs, loc);
    if (!a) {
        a = cJSON_CreateArray();
        cJSON_AddItemToArray(a,
                             assoc_json(loc, SYSTEM_ASSOC, SYSTEM_ASSOC, "opportunity",
                                        "Opportunities", "contact", "Contacts", "SYSTEM_DEFINED"));
        smap_put(&s->assocs, loc, a);
    }
    return a;
}

static const char *jstr(const cJSON *o, const char *k)
{
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k));
}

static cJSON *assoc_find(hs_ctx *c, const char *loc, const char *id_or_key, bool by_key)
{
    cJSON *a;
    cJSON_ArrayForEach(
        a, loc_assocs(c, loc)) if (!strcmp(jstr(a, by_key ? "key" : "id"), id_or_key)) return a;
    return NULL;
}

/* The object key as the location knows it (custom_object.x -> custom_objects.x), else NULL. */
static const char *object_key(hs_loc *l, const char *key)
{
    hs_object *o = key ? hs_obj_find(l, key) : NULL;
    return o ? o->key : NULL;
}

cJSON *hs_assoc_create(hs_ctx *c, hs_loc *l, const cJSON *body, char *err, size_t errlen)
{
    const char *key = jstr(body, "key"), *k1 = object_key(l, jstr(body, "firstObjectKey")),
               *k2 = object_key(l, jstr(body, "secondObjectKey"));
    const char *l1 = jstr(body, "firstObjectLabel"), *l2 = jstr(body, "secondObjectLabel");
    if (!key || !*key) {
        snprintf(err, errlen, "key should not be empty");
        return NULL;
    }
    if (!k1 || !k2) {
        snprintf(err, errlen, "Object %s not found",
                 !k1 ? (jstr(body, "firstObjectKey") ? jstr(body, "firstObjectKey") : "(none)")
                 : jstr(body, "secondObjectKey") ? jstr(body, "secondObjectKey")
                                                 : "(none)");
        return NULL;
    }
    if (!strcmp(k1, "opportunity") || !strcmp(k2, "opportunity")) {
        snprintf(err, errlen, "Associations with opportunity are system defined");
        return NULL;
    }
    if (assoc_find(c, l->id, key, true)) {
        snprintf(err, errlen, "Association with key %s already exists", key);
        return NULL;
    }
    char id[21];
    do
        hs_alnum_id(&c->rng, id);
    while (assoc_find(c, l->id, id, false));
    cJSON *a = assoc_json(l->id, id, key, k1, l1 ? l1 : k1, k2, l2 ? l2 : k2, "USER_DEFINED");
    cJSON_AddItemToArray(loc_assocs(c, l->id), a);
    if (c->wh)
        hs_wh_association(c->wh, l->id, a, true);
    return a;
}

/* Delete a user-defined association and every relation of it. */
static void assoc_delete(hs_ctx *c, const char *loc, cJSON *a)
{
    struct hs_assoc_store *s = store(c);
    const char *id = jstr(a, "id");
    for (hs_rel *r = s->head, *nx; r; r = nx) {
        nx = r->next;
        if (!strcmp(r->loc, loc) && !strcmp(r->assoc, id))
            rel_remove(c, r);
    }
    if (c->wh)
        hs_wh_association(c->wh, loc, a, false);
    cJSON_Delete(cJSON_DetachItemViaPointer(loc_assocs(c, loc), a));
}

/* ---- relations ----------------------------------------------------------------------------- */
static bool rec_exists(hs_ctx *c, hs_loc *l, const char *okey, const char *id)
{
    hs_object *o = hs_obj_find(l, okey);
    if (!o || !id)
        return false;
    if (hs_is_contacts(o)) {
        hs_contacts_settle(c, o);
        return hs_contact_get(o, id) != NULL;
    }
    return hs_rec_find(o, id) != NULL;
}

static void rel_render(hs_buf *b, const hs_rel *r)
{
    hs_buf_puts(b, "{\"id\":");
    hs_buf_json_str(b, r->id);
    hs_buf_puts(b, ",\"associationId\":");
    hs_buf_json_str(b, r->assoc);
    hs_buf_puts(b, ",\"firstRecordId\":");
    hs_buf_json_str(b, r->first);
    hs_buf_puts(b, ",\"secondRecordId\":");
    hs_buf_json_str(b, r->second);
    hs_buf_puts(b, ",\"locationId\":");
    hs_buf_json_str(b, r->loc);
    hs_buf_puts(b, "}");
}

/* Validate and create; status 201, or 400/422 with the message in err. */
static int rel_create(hs_ctx *c, hs_loc *l, const cJSON *body, hs_rel **out, char *err,
                      size_t errlen)
{
    static const char *const keys[] = {"locationId", "associationId", "firstRecordId",
                                       "secondRecordId"};
    const cJSON *it;
    cJSON_ArrayForEach(it, body)
    {
        bool known = false;
        for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
            known = known || !strcmp(it->string, keys[i]);
        if (!known) {
            snprintf(err, errlen, "property %s should not exist", it->string);
            return 422;
        }
    }
    for (size_t i = 1; i < sizeof keys / sizeof *keys; i++)
        if (!jstr(body, keys[i]) || !*jstr(body, keys[i])) {
            snprintf(err, errlen, "%s should not be empty", keys[i]);
            return 422;
        }
    const char *aid = jstr(body, "associationId"), *f = jstr(body, "firstRecordId"),
               *s = jstr(body, "secondRecordId");
    const cJSON *a = assoc_find(c, l->id, aid, false);
    if (!a) {
        snprintf(err, errlen, "Association %s not found", aid);
        return 400;
    }
    if (!strcmp(aid, SYSTEM_ASSOC)) {
        snprintf(err, errlen,
                 "Relations of the system association %s cannot be created: set the "
                 "opportunity's contactId",
                 aid);
        return 400;
    }
    if (!rec_exists(c, l, jstr(a, "firstObjectKey"), f)) {
        snprintf(err, errlen, "Record %s not found in %s", f, jstr(a, "firstObjectKey"));
        return 400;
    }
    if (!rec_exists(c, l, jstr(a, "secondObjectKey"), s)) {
        snprintf(err, errlen, "Record %s not found in %s", s, jstr(a, "secondObjectKey"));
        return 400;
    }
    char *pk = pair_key(aid, f, s);
    bool dup = smap_get(&store(c)->by_pair, pk) != NULL;
    free(pk);
    if (dup) {
        snprintf(err, errlen,
                 "Could not create relation: duplicate relation of object Ids for given "
                 "association %s",
                 aid);
        return 400;
    }
    *out = rel_add(c, l->id, aid, f, s);
    return 201;
}

/* ---- public endpoints ---------------------------------------------------------------------- */
static void fail(hs_call *k, int status, const char *msg)
{
    k->status = status;
    if (status == 422) {
        cJSON *l = cJSON_CreateArray();
        cJSON_AddItemToArray(l, cJSON_CreateString(msg));
        hs_err_body(&k->out, 422, NULL, l);
        cJSON_Delete(l);
    } else {
        hs_err_body(&k->out, status, msg, NULL);
    }
}

static bool loc_ok(hs_call *k, const char *loc)
{
    if (!loc || !*loc) {
        fail(k, 422, "locationId should not be empty");
        return false;
    }
    if (strcmp(loc, k->loc->id)) {
        fail(k, 403, "The token does not have access to this location");
        return false;
    }
    return true;
}

static const char *qarg(const hs_call *k, const char *name)
{
    return k->q_all ? jstr(k->q_all, name) : NULL;
}

/* skip (>= 0) and limit (1..100), both required (the OAS marks them so) */
static bool paging(hs_call *k, long *skip, long *limit)
{
    const char *s = qarg(k, "skip"), *l = qarg(k, "limit");
    char *end;
    if (!s || !*s || (*skip = strtol(s, &end, 10)) < 0 || *end) {
        fail(k, 422, "skip must be a number conforming to the specified constraints");
        return false;
    }
    if (!l || !*l || (*limit = strtol(l, &end, 10)) < 1 || *limit > 100 || *end) {
        fail(k, 422, "limit must not be greater than 100, limit must not be less than 1");
        return false;
    }
    return true;
}

static void json_out(hs_call *k, int status, cJSON *j)
{
    char *s = cJSON_PrintUnformatted(j);
    k->status = status;
    hs_buf_puts(&k->out, s ? s : "{}");
    free(s);
}

static void assoc_list(hs_call *k)
{
    long skip, limit;
    if (!loc_ok(k, k->q_location) || !paging(k, &skip, &limit))
        return;
    cJSON *all = loc_assocs(k->c, k->loc->id), *page = cJSON_CreateArray();
    int n = cJSON_GetArraySize(all);
    for (long i = skip; i < n && i < skip + limit; i++)
        cJSON_AddItemToArray(page, cJSON_Duplicate(cJSON_GetArrayItem(all, (int)i), 1));
    hs_buf_puts(&k->out, "{\"associations\":");
    char *s = cJSON_PrintUnformatted(page);
    hs_buf_puts(&k->out, s ? s : "[]");
    free(s);
    hs_buf_printf(&k->out, ",\"total\":%d}", n);
    k->status = 200;
    cJSON_Delete(page);
}

static cJSON *parse_body(hs_call *k)
{
    cJSON *j = k->body_len ? cJSON_ParseWithLength(k->body, k->body_len) : NULL;
    if (!j) {
        fail(k, 400, "Bad Request");
        return NULL;
    }
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        fail(k, 422, "body must be a JSON object");
        return NULL;
    }
    return j;
}

static void assoc_create_call(hs_call *k)
{
    cJSON *b = parse_body(k);
    if (!b)
        return;
    char err[300];
    if (loc_ok(k, jstr(b, "locationId"))) {
        cJSON *a = hs_assoc_create(k->c, k->loc, b, err, sizeof err);
        if (a)
            json_out(k, 201, a);
        else
            fail(k, 400, err);
    }
    cJSON_Delete(b);
}

static void assoc_get_call(hs_call *k, bool by_key)
{
    /* GET /associations/{id} takes no locationId in the OAS: the token's location serves */
    if (by_key && !loc_ok(k, k->q_location))
        return;
    cJSON *a = assoc_find(k->c, k->loc->id, by_key ? k->key : k->id, by_key);
    if (!a) {
        fail(k, 404, "Association not found");
        return;
    }
    if (k->route == R_ASSOC_DELETE) {
        if (strcmp(jstr(a, "associationType"), "USER_DEFINED")) {
            fail(k, 400, "Only USER_DEFINED associations can be deleted");
            return;
        }
        hs_buf_puts(&k->out, "{\"deleted\":true,\"id\":");
        hs_buf_json_str(&k->out, jstr(a, "id"));
        hs_buf_puts(&k->out, ",\"message\":\"Association deleted successfully\"}");
        k->status = 200;
        assoc_delete(k->c, k->loc->id, a);
        return;
    }
    json_out(k, 200, a);
}

static bool wanted(const cJSON *ids, const hs_rel *r)
{
    if (!cJSON_GetArraySize(ids))
        return true;
    const cJSON *it;
    cJSON_ArrayForEach(it, ids) if (cJSON_IsString(it) &&
                                    !strcmp(it->valuestring, r->assoc)) return true;
    return false;
}

static void rel_list(hs_call *k)
{
    long skip, limit;
    if (!loc_ok(k, k->q_location) || !paging(k, &skip, &limit))
        return;
    const cJSON *ids =
        k->q_all ? cJSON_GetObjectItemCaseSensitive(k->q_all, "associationIds") : NULL;
    rvec *v = smap_get(&store(k->c)->by_rec, k->id);
    long total = 0, shown = 0;
    hs_buf_puts(&k->out, "{\"relations\":[");
    for (size_t i = 0; v && i < v->n; i++) {
        const hs_rel *r = v->v[i];
        if (strcmp(r->loc, k->loc->id) || !wanted(ids, r))
            continue;
        if (total++ < skip || shown >= limit)
            continue;
        if (shown++)
            hs_buf_puts(&k->out, ",");
        rel_render(&k->out, r);
    }
    hs_buf_printf(&k->out, "],\"total\":%ld}", total);
    k->status = 200;
}

static void rel_create_call(hs_call *k)
{
    cJSON *b = parse_body(k);
    if (!b)
        return;
    if (loc_ok(k, jstr(b, "locationId"))) {
        char err[400];
        hs_rel *r = NULL;
        int st = rel_create(k->c, k->loc, b, &r, err, sizeof err);
        if (st == 201) {
            k->status = 201;
            rel_render(&k->out, r);
        } else {
            fail(k, st, err);
        }
    }
    cJSON_Delete(b);
}

static void rel_delete_call(hs_call *k)
{
    if (!loc_ok(k, k->q_location))
        return;
    hs_rel *r = smap_get(&store(k->c)->by_id, k->id);
    if (!r || strcmp(r->loc, k->loc->id)) {
        fail(k, 404, "Relation not found");
        return;
    }
    k->status = 200;
    rel_render(&k->out, r);
    rel_remove(k->c, r);
}

void hs_assoc_dispatch(hs_call *k)
{
    switch (k->route) {
    case R_ASSOC_LIST:
        assoc_list(k);
        break;
    case R_ASSOC_CREATE:
        assoc_create_call(k);
        break;
    case R_ASSOC_GET:
    case R_ASSOC_DELETE:
        assoc_get_call(k, k->key[0] != 0);
        break;
    case R_REL_LIST:
        rel_list(k);
        break;
    case R_REL_CREATE:
        rel_create_call(k);
        break;
    case R_REL_DELETE:
        rel_delete_call(k);
        break;
    default:
        fail(k, 404, "Not Found");
    }
}

/* ---- admin --------------------------------------------------------------------------------- */
static int admin_err(char **out, int status, const char *msg)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "statusCode", status);
    cJSON_AddItemToArray(cJSON_AddArrayToObject(j, "message"), cJSON_CreateString(msg));
    cJSON_AddStringToObject(j, "error", status == 404 ? "Not Found" : "Bad Request");
    *out = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return status;
}

int hs_assoc_admin(hs_ctx *c, const char *method, char seg[][256], int nseg, const char *qloc,
                   const cJSON *body, char **out)
{
    bool rels = !strcmp(seg[0], "relations"), assocs = !strcmp(seg[0], "associations");
    if (!rels && !assocs)
        return 0;
    hs_loc *l = hs_loc_find(c, qloc);
    if (!l)
        return admin_err(out, 404, "?locationId= must name a known location");
    char err[400];
    if (assocs && nseg == 1 && !strcmp(method, "GET")) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddItemToObject(j, "associations", cJSON_Duplicate(loc_assocs(c, l->id), 1));
        *out = cJSON_PrintUnformatted(j);
        cJSON_Delete(j);
        return 200;
    }
    if (assocs && nseg == 1 && !strcmp(method, "POST")) {
        cJSON *a = body ? hs_assoc_create(c, l, body, err, sizeof err) : NULL;
        if (!a)
            return admin_err(out, 400, body ? err : "a JSON body is required");
        cJSON *j = cJSON_CreateObject();
        cJSON_AddItemToObject(j, "association", cJSON_Duplicate(a, 1));
        *out = cJSON_PrintUnformatted(j);
        cJSON_Delete(j);
        return 201;
    }
    if (assocs && nseg == 2 && !strcmp(method, "DELETE")) {
        cJSON *a = assoc_find(c, l->id, seg[1], false);
        if (!a)
            a = assoc_find(c, l->id, seg[1], true);
        if (!a || !strcmp(jstr(a, "id"), SYSTEM_ASSOC))
            return admin_err(out, 404, "no such user-defined association");
        assoc_delete(c, l->id, a);
        *out = strdup("{\"deleted\":true}");
        return 200;
    }
    if (rels && nseg == 1 && !strcmp(method, "GET")) {
        hs_buf b = {0};
        long n = 0;
        hs_buf_puts(&b, "{\"relations\":[");
        for (const hs_rel *r = c->assoc ? c->assoc->head : NULL; r; r = r->next) {
            if (strcmp(r->loc, l->id))
                continue;
            if (n++)
                hs_buf_puts(&b, ",");
            rel_render(&b, r);
        }
        hs_buf_printf(&b, "],\"total\":%ld}", n);
        *out = hs_buf_steal(&b);
        return 200;
    }
    if (rels && nseg == 1 && !strcmp(method, "POST")) {
        /* "another user" relating two records in the web app */
        if (!body)
            return admin_err(out, 400, "a JSON body is required");
        cJSON *b = cJSON_Duplicate(body, 1);
        cJSON_DeleteItemFromObjectCaseSensitive(b, "locationId");
        hs_rel *r = NULL;
        int st = rel_create(c, l, b, &r, err, sizeof err);
        cJSON_Delete(b);
        if (st != 201)
            return admin_err(out, st, err);
        hs_buf o = {0};
        hs_buf_puts(&o, "{\"relation\":");
        rel_render(&o, r);
        hs_buf_puts(&o, "}");
        *out = hs_buf_steal(&o);
        c->ctr.web_creates++;
        return 201;
    }
    if (rels && nseg == 2 && !strcmp(method, "DELETE")) {
        hs_rel *r = c->assoc ? smap_get(&c->assoc->by_id, seg[1]) : NULL;
        if (!r || strcmp(r->loc, l->id))
            return admin_err(out, 404, "Relation not found");
        rel_remove(c, r);
        c->ctr.web_deletes++;
        *out = strdup("{\"deleted\":true}");
        return 200;
    }
    return admin_err(out, 404, "unknown admin associations call");
}

/* ---- seeding ------------------------------------------------------------------------------- */
static void seed_pairs(hs_ctx *c, hs_loc *l, const cJSON *a, long n)
{
    hs_object *o1 = hs_obj_find(l, jstr(a, "firstObjectKey"));
    hs_object *o2 = hs_obj_find(l, jstr(a, "secondObjectKey"));
    if (!o1 || !o2 || !o1->by_created.n || !o2->by_created.n)
        return;
    for (long i = 0, tries = 0; i < n && tries < n * 4; tries++) {
        const char *f = o1->by_created.v[hs_rng_next(&c->rng) % o1->by_created.n]->id;
        const char *s = o2->by_created.v[hs_rng_next(&c->rng) % o2->by_created.n]->id;
        char *pk = pair_key(jstr(a, "id"), f, s);
        bool dup = smap_get(&store(c)->by_pair, pk) != NULL;
        free(pk);
        if (dup)
            continue;
        rel_add(c, l->id, jstr(a, "id"), f, s);
        i++;
    }
}

void hs_seed_relations(hs_ctx *c, hs_loc *l, long n)
{
    if (n < 0)
        return;
    char err[300];
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "key", "pet_owner");
    cJSON_AddStringToObject(b, "firstObjectKey", "custom_objects.pet");
    cJSON_AddStringToObject(b, "firstObjectLabel", "Pet");
    cJSON_AddStringToObject(b, "secondObjectKey", "contact");
    cJSON_AddStringToObject(b, "secondObjectLabel", "Owner");
    cJSON *a1 = hs_assoc_create(c, l, b, err, sizeof err);
    cJSON_Delete(b);
    b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "key", "vaccination_pet");
    cJSON_AddStringToObject(b, "firstObjectKey", "custom_objects.vaccination");
    cJSON_AddStringToObject(b, "firstObjectLabel", "Vaccination");
    cJSON_AddStringToObject(b, "secondObjectKey", "custom_objects.pet");
    cJSON_AddStringToObject(b, "secondObjectLabel", "Pet");
    cJSON *a2 = hs_assoc_create(c, l, b, err, sizeof err);
    cJSON_Delete(b);
    hs_object *co = hs_obj_find(l, "contact");
    if (hs_is_contacts(co))
        hs_contacts_settle(c, co);
    if (a1)
        seed_pairs(c, l, a1, n);
    if (a2)
        seed_pairs(c, l, a2, n);
}
