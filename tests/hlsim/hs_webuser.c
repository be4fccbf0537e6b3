/*
 * hs_webuser.c - "another user" editing records and contacts in the HighLevel web app: random
 * edits, creates and deletes (source WEB_USER) at a configured rate, from a background thread
 * or on demand (POST /_admin/another-user/step).
 */
#include "hlsim.h"

#include <stdlib.h>
#include <string.h>

/* contacts join the random choice once the location has some, so that a location without
 * contacts sees the same record edits as before contacts existed */
static bool pickable(const hs_object *o)
{
    if (hs_is_contacts(o))
        return o->by_created.n > 0 || o->cs->cur.n > 0;
    if (hs_is_opps(o))
        return o->by_created.n > 0;
    return o->records_supported && cJSON_GetArraySize(o->fields) > 0;
}

static hs_object *pick_object(hs_ctx *c, hs_loc *l)
{
    if (c->web_object[0])
        return hs_obj_find(l, c->web_object);
    int n = 0;
    for (int i = 0; i < l->n_objs; i++)
        n += pickable(l->objs[i]);
    if (!n)
        return NULL;
    int k = (int)(hs_rng_next(&c->rng) % (uint64_t)n);
    for (int i = 0; i < l->n_objs; i++)
        if (pickable(l->objs[i]) && k-- == 0)
            return l->objs[i];
    return NULL;
}

void hs_web_step(hs_ctx *c)
{
    if (!c->n_locs)
        return;
    hs_loc *l = c->web_location[0] ? hs_loc_find(c, c->web_location)
                                   : c->locs[hs_rng_next(&c->rng) % (uint64_t)c->n_locs];
    if (!l)
        return;
    hs_object *o = pick_object(c, l);
    if (hs_is_contacts(o)) {
        hs_web_contact_step(c, o);
        return;
    }
    if (hs_is_opps(o)) {
        hs_web_opp_step(c, o);
        return;
    }
    if (!o || !o->records_supported)
        return;
    int64_t now = hs_now_ms();
    double u = hs_rng_unit(&c->rng);
    if (o->by_created.n == 0 || (u >= 0.6 && u < 0.85)) {
        hs_rec *r = hs_seed_record(c, o, now, now, SRC_WEB);
        hs_rec_insert(o, r);
        c->ctr.web_creates++;
        return;
    }
    hs_rec *r = o->by_created.v[hs_rng_next(&c->rng) % o->by_created.n];
    if (u >= 0.85) {
        hs_rel_forget_record(c, r->id);
        hs_rec_remove(o, r);
        c->ctr.web_deletes++;
        return;
    }
    int nf = cJSON_GetArraySize(o->fields);
    const cJSON *f = cJSON_GetArrayItem(o->fields, (int)(hs_rng_next(&c->rng) % (uint64_t)nf));
    hs_buf b = {0};
    bool first = true;
    hs_buf_puts(&b, "{");
    hs_seed_value(c, f, &b, &first);
    hs_buf_puts(&b, "}");
    cJSON *in = cJSON_Parse(b.d);
    cJSON *base = cJSON_Parse(r->props);
    cJSON *errs = cJSON_CreateArray();
    cJSON *p = in && base ? hs_props_apply(o, base, in, errs) : NULL;
    if (p) {
        free(r->props);
        r->props = cJSON_PrintUnformatted(p);
        r->updated_src = SRC_WEB;
        hs_rec_touch(o, r, now > r->updated ? now : r->updated + 1);
        c->ctr.web_edits++;
    }
    cJSON_Delete(p);
    cJSON_Delete(errs);
    cJSON_Delete(base);
    cJSON_Delete(in);
    free(b.d);
}

void *hs_web_thread(void *arg)
{
    hs_ctx *c = arg;
    while (!c->stop) {
        pthread_mutex_lock(&c->mu);
        double rate = c->web_rate;
        pthread_mutex_unlock(&c->mu);
        if (rate <= 0) {
            hs_sleep_ms(100, &c->stop);
            continue;
        }
        int64_t wait = (int64_t)(1000.0 / rate);
        if (wait > 0)
            hs_sleep_ms(wait, &c->stop);
        if (c->stop)
            break;
        pthread_mutex_lock(&c->mu);
        if (c->web_rate > 0)
            hs_web_step(c);
        pthread_mutex_unlock(&c->mu);
    }
    return NULL;
}

/* One web-app operation on contacts: edits (60%: tags added or removed, a name or city, a
 * custom field), creates (25%), deletes (15%), as WEB_USER, through the same versioning as API
 * writes (so the index lag applies to them too). */
void hs_web_contact_step(hs_ctx *c, hs_object *o)
{
    hs_contacts_settle(c, o);
    int64_t now = hs_now_ms();
    double u = hs_rng_unit(&c->rng);
    if (o->by_created.n == 0 || (u >= 0.6 && u < 0.85)) {
        char *txt = hs_seed_contact_json(c, o, (long)(hs_rng_next(&c->rng) % 1000000000));
        cJSON *d = cJSON_Parse(txt);
        free(txt);
        hs_rec *r = hs_contact_new(c, o, d, now, SRC_WEB);
        cJSON_Delete(d);
        hs_contact_commit(c, o, r);
        c->ctr.web_creates++;
        return;
    }
    hs_rec *r = hs_contact_get(o, o->by_created.v[hs_rng_next(&c->rng) % o->by_created.n]->id);
    if (!r)
        return; /* deleted, not yet out of the index */
    hs_rec *v = hs_rec_clone(r);
    v->updated = now > r->updated ? now : r->updated + 1;
    v->updated_src = SRC_WEB;
    if (u >= 0.85) {
        v->deleted = 1;
        hs_contact_commit(c, o, v);
        c->ctr.web_deletes++;
        return;
    }
    static const char *const tags[] = {"vip", "newsletter", "web-edit", "partner", "Event Guest"};
    cJSON *d = cJSON_Parse(v->props);
    cJSON *tl = cJSON_GetObjectItemCaseSensitive(d, "tags");
    if (!cJSON_IsArray(tl)) {
        cJSON_DeleteItemFromObjectCaseSensitive(d, "tags");
        tl = cJSON_AddArrayToObject(d, "tags");
    }
    double w = hs_rng_unit(&c->rng);
    if (w < 0.3) {
        const char *t = tags[hs_rng_next(&c->rng) % 5];
        bool has = false;
        const cJSON *x;
        cJSON_ArrayForEach(x, tl) has |= cJSON_IsString(x) && !strcmp(x->valuestring, t);
        if (!has)
            cJSON_AddItemToArray(tl, cJSON_CreateString(t));
    } else if (w < 0.45) {
        if (cJSON_GetArraySize(tl))
            cJSON_DeleteItemFromArray(
                tl, (int)(hs_rng_next(&c->rng) % (uint64_t)cJSON_GetArraySize(tl)));
    } else if (w < 0.7 || cJSON_GetArraySize(o->fields) == 0) {
        static const char *const cities[] = {"Portland", "Denver", "Austin", "Madison"};
        cJSON_DeleteItemFromObjectCaseSensitive(d, "city");
        cJSON_AddStringToObject(d, "city", cities[hs_rng_next(&c->rng) % 4]);
    } else {
        const cJSON *f = cJSON_GetArrayItem(
            o->fields, (int)(hs_rng_next(&c->rng) % (uint64_t)cJSON_GetArraySize(o->fields)));
        hs_buf b = {0};
        hs_seed_cf_value(&c->rng, f, &b);
        cJSON *val = cJSON_Parse(b.d);
        free(b.d);
        cJSON *cf = cJSON_GetObjectItemCaseSensitive(d, "customFields");
        if (!cJSON_IsObject(cf)) {
            cJSON_DeleteItemFromObjectCaseSensitive(d, "customFields");
            cf = cJSON_AddObjectToObject(d, "customFields");
        }
        const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(f, "id"));
        cJSON_DeleteItemFromObjectCaseSensitive(cf, id);
        if (val)
            cJSON_AddItemToObject(cf, id, val);
    }
    hs_contact_set_data(v, d);
    cJSON_Delete(d);
    hs_contact_commit(c, o, v);
    c->ctr.web_edits++;
}
