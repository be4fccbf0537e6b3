/*
 * hs_webuser.c - "another user" editing records in the HighLevel web app: random edits,
 * creates and deletes (source WEB_USER) at a configured rate, from a background thread or on
 * demand (POST /_admin/another-user/step).
 */
#include "hlsim.h"

#include <stdlib.h>
#include <string.h>

static hs_object *pick_object(hs_ctx *c, hs_loc *l)
{
    if (c->web_object[0])
        return hs_obj_find(l, c->web_object);
    int n = 0;
    for (int i = 0; i < l->n_objs; i++)
        n += l->objs[i]->records_supported && cJSON_GetArraySize(l->objs[i]->fields) > 0;
    if (!n)
        return NULL;
    int k = (int)(hs_rng_next(&c->rng) % (uint64_t)n);
    for (int i = 0; i < l->n_objs; i++)
        if (l->objs[i]->records_supported && cJSON_GetArraySize(l->objs[i]->fields) > 0 && k-- == 0)
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
