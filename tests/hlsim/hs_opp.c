/*
 * hs_opp.c - opportunities, pipelines (with stages) and lost reasons: the store, the rendering,
 * write validation (CreateDto / UpdateOpportunityDto / UpdateStatusDto of the official
 * opportunities OpenAPI), seeding, and the "another user" moving stages. Endpoints: hs_oapi.c.
 *
 * Opportunities are records of the standard `opportunity` object (map + (createdAt, id) and
 * (updatedAt, id) indexes, as records and contacts), so both searches page in
 * O(log n + limit). Writes apply at once (no index lag is documented for opportunities).
 */
#include "hlsim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *jstr(const cJSON *o, const char *k)
{
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k));
}

static cJSON *get(const cJSON *o, const char *k)
{
    return cJSON_GetObjectItemCaseSensitive(o, k);
}

bool hs_is_opps(const hs_object *o)
{
    return o && o->extra && !strcmp(o->key, "opportunity");
}

hs_object *hs_opps_obj(hs_ctx *c, hs_loc *l)
{
    hs_object *o = hs_obj_find(l, "opportunity");
    if (!o)
        o = hs_obj_new(c, l, "opportunity", "Opportunity", "Opportunities", true);
    o->records_supported = false;
    if (!o->primary) {
        o->primary = strdup("opportunity.name");
        cJSON_AddItemToArray(o->searchable, cJSON_CreateString("opportunity.name"));
    }
    if (!o->extra) {
        o->extra = cJSON_CreateObject();
        cJSON_AddArrayToObject(o->extra, "pipelines");
        cJSON_AddArrayToObject(o->extra, "lostReasons");
    }
    return o;
}

static void uuid(hs_rng *r, char out[37])
{
    uint64_t a = hs_rng_next(r), b = hs_rng_next(r);
    snprintf(out, 37, "%08x-%04x-4%03x-%04x-%012llx", (unsigned)(a >> 32), (unsigned)(a & 0xffff),
             (unsigned)((a >> 16) & 0xfff), (unsigned)(0x8000 | (b & 0x3fff)),
             (unsigned long long)(b >> 16) & 0xffffffffffffull);
}

cJSON *hs_pipeline_add(hs_ctx *c, hs_loc *l, hs_object *o, const char *name,
                       const char *const *stages)
{
    char id[21];
    hs_alnum_id(&c->rng, id);
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "id", id);
    cJSON_AddStringToObject(p, "name", name);
    cJSON *st = cJSON_AddArrayToObject(p, "stages");
    for (int i = 0; stages && stages[i]; i++) {
        char u[37];
        uuid(&c->rng, u);
        cJSON *s = cJSON_CreateObject();
        cJSON_AddStringToObject(s, "id", u);
        cJSON_AddStringToObject(s, "name", stages[i]);
        cJSON_AddNumberToObject(s, "position", i);
        cJSON_AddBoolToObject(s, "showInFunnel", true);
        cJSON_AddBoolToObject(s, "showInPieChart", true);
        cJSON_AddItemToArray(st, s);
    }
    cJSON_AddBoolToObject(p, "showInFunnel", true);
    cJSON_AddBoolToObject(p, "showInPieChart", true);
    cJSON_AddStringToObject(p, "locationId", l->id);
    cJSON_AddItemToArray(get(o->extra, "pipelines"), p);
    return p;
}

cJSON *hs_pipeline_find(const hs_object *o, const char *id)
{
    cJSON *p;
    cJSON_ArrayForEach(p, get(o->extra, "pipelines"))
    {
        if (id && jstr(p, "id") && !strcmp(jstr(p, "id"), id))
            return p;
    }
    return NULL;
}

static bool stage_in(const cJSON *p, const char *sid)
{
    const cJSON *s;
    cJSON_ArrayForEach(s, get(p, "stages"))
    {
        if (sid && jstr(s, "id") && !strcmp(jstr(s, "id"), sid))
            return true;
    }
    return false;
}

static bool lost_reason_known(const hs_object *o, const char *id)
{
    const cJSON *r;
    cJSON_ArrayForEach(r, get(o->extra, "lostReasons"))
    {
        if (id && jstr(r, "id") && !strcmp(jstr(r, "id"), id))
            return true;
    }
    return false;
}

/* ---- rendering ---------------------------------------------------------------------------- */

static void put_time(hs_buf *b, const cJSON *v)
{
    if (!cJSON_IsNumber(v)) {
        hs_buf_puts(b, "null");
        return;
    }
    char t[32];
    hs_iso_ms((int64_t)v->valuedouble, t);
    hs_buf_json_str(b, t);
}

static void put_val(hs_buf *b, const cJSON *v, const char *dflt)
{
    if (!v || cJSON_IsNull(v)) {
        hs_buf_puts(b, dflt);
        return;
    }
    char *s = cJSON_PrintUnformatted(v);
    hs_buf_puts(b, s ? s : "null");
    free(s);
}

void hs_opp_render(hs_buf *b, const hs_ctx *c, const hs_loc *l, const hs_object *o, const hs_rec *r,
                   int view, const char *search_after)
{
    (void)c;
    cJSON *d = cJSON_Parse(r->props ? r->props : "{}");
    char t[32];
    hs_buf_puts(b, "{\"id\":");
    hs_buf_json_str(b, r->id);
    static const char *const k1[] = {"name",       "monetaryValue", "pipelineId", "pipelineStageId",
                                     "assignedTo", "status",        "source",     NULL};
    for (int i = 0; k1[i]; i++) {
        hs_buf_printf(b, ",\"%s\":", k1[i]);
        put_val(b, get(d, k1[i]), !strcmp(k1[i], "source") ? "\"\"" : "null");
    }
    static const char *const tk[] = {"lastStatusChangeAt", "lastStageChangeAt", "lastActionDate",
                                     NULL};
    for (int i = 0; tk[i]; i++) {
        hs_buf_printf(b, ",\"%s\":", tk[i]);
        put_time(b, get(d, tk[i]));
    }
    const cJSON *iv = get(d, "indexVersion");
    hs_buf_printf(b, ",\"indexVersion\":%lld",
                  cJSON_IsNumber(iv) ? (long long)iv->valuedouble : 1LL);
    hs_iso_ms(r->created, t);
    hs_buf_printf(b, ",\"createdAt\":\"%s\"", t);
    hs_iso_ms(r->updated, t);
    hs_buf_printf(b, ",\"updatedAt\":\"%s\",\"contactId\":", t);
    put_val(b, get(d, "contactId"), "null");
    hs_buf_puts(b, ",\"locationId\":");
    hs_buf_json_str(b, l->id);
    /* the embedded contact, from the contact store as it is now */
    hs_buf_puts(b, ",\"contact\":");
    const char *cid = jstr(d, "contactId");
    hs_object *co = hs_obj_find((hs_loc *)l, "contact");
    hs_rec *cr = cid && hs_is_contacts(co) ? hs_contact_get(co, cid) : NULL;
    if (cr) {
        cJSON *cd = cJSON_Parse(cr->props);
        const char *fn = jstr(cd, "firstName"), *ln = jstr(cd, "lastName");
        hs_buf name = {0};
        hs_buf_puts(&name, fn ? fn : "");
        if (fn && ln)
            hs_buf_puts(&name, " ");
        hs_buf_puts(&name, ln ? ln : "");
        hs_buf_puts(b, "{\"id\":");
        hs_buf_json_str(b, cid);
        hs_buf_puts(b, ",\"name\":");
        hs_buf_json_str(b, name.d ? name.d : "");
        free(name.d);
        hs_buf_puts(b, ",\"companyName\":");
        put_val(b, get(cd, "companyName"), "null");
        hs_buf_puts(b, ",\"email\":");
        put_val(b, get(cd, "email"), "null");
        hs_buf_puts(b, ",\"phone\":");
        put_val(b, get(cd, "phone"), "null");
        hs_buf_puts(b, ",\"tags\":");
        put_val(b, get(cd, "tags"), "[]");
        hs_buf_puts(b, "}");
        cJSON_Delete(cd);
    } else if (cid) {
        hs_buf_puts(b, "{\"id\":");
        hs_buf_json_str(b, cid);
        hs_buf_puts(b, "}");
    } else {
        hs_buf_puts(b, "{}");
    }
    hs_buf_puts(b, ",\"notes\":[],\"tasks\":[],\"calendarEvents\":[],\"lostReasonId\":");
    put_val(b, get(d, "lostReasonId"), "null");
    /* GET and the GET search send customFields [{id, fieldValue}]; the POST search page of the
     * docs shows custom_fields [{id, fieldValue}] and relations */
    hs_buf_puts(b, view == OV_POST_SEARCH ? ",\"custom_fields\":[" : ",\"customFields\":[");
    const cJSON *cf = get(d, "customFields"), *f;
    bool first = true;
    cJSON_ArrayForEach(f, o->fields)
    {
        const char *id = jstr(f, "id");
        const cJSON *v = id ? get(cf, id) : NULL;
        if (!v)
            continue;
        hs_buf_puts(b, first ? "{\"id\":" : ",{\"id\":");
        first = false;
        hs_buf_json_str(b, id);
        hs_buf_puts(b, ",\"fieldValue\":");
        put_val(b, v, "null");
        hs_buf_puts(b, "}");
    }
    hs_buf_puts(b, "],\"followers\":");
    put_val(b, get(d, "followers"), "[]");
    if (view == OV_POST_SEARCH) {
        hs_buf_puts(b, ",\"relations\":[");
        if (cid) {
            hs_buf_puts(b, "{\"associationId\":\"OPPORTUNITIES_CONTACTS_ASSOCIATION\","
                           "\"objectKey\":\"contact\",\"primary\":true,\"recordId\":");
            hs_buf_json_str(b, cid);
            hs_buf_puts(b, "}");
        }
        hs_buf_puts(b, "],\"searchAfter\":");
        if (search_after)
            hs_buf_puts(b, search_after);
        else
            hs_buf_printf(b, "[%lld,\"%s\"]", (long long)r->created, r->id);
    }
    hs_buf_puts(b, "}");
    cJSON_Delete(d);
}

/* ---- writes ------------------------------------------------------------------------------- */

static void e(cJSON *errs, const char *fmt, const char *a)
{
    char m[400];
    snprintf(m, sizeof m, fmt, a ? a : "");
    cJSON_AddItemToArray(errs, cJSON_CreateString(m));
}

static void set(cJSON *out, const char *k, cJSON *v)
{
    cJSON_DeleteItemFromObjectCaseSensitive(out, k);
    if (v)
        cJSON_AddItemToObject(out, k, v);
}

static bool valid_status(const char *s)
{
    return s && (!strcmp(s, "open") || !strcmp(s, "won") || !strcmp(s, "lost") ||
                 !strcmp(s, "abandoned"));
}

/* Validate body over base into new data. Shape errors are 422 (errs); reference errors (an
 * unknown pipeline, a stage of another pipeline, an unknown contact or lost reason) set
 * *ref_err (answered 400). now moves lastStatusChangeAt / lastStageChangeAt / lastActionDate. */
cJSON *hs_opp_apply(hs_object *co, hs_object *o, const cJSON *base, const cJSON *body, int mode,
                    int64_t now, cJSON *errs, char *ref_err, size_t ref_len)
{
    static const char *const create[] = {
        "pipelineId", "locationId",    "name",       "pipelineStageId", "status",
        "contactId",  "monetaryValue", "assignedTo", "customFields",    NULL};
    static const char *const update[] = {"pipelineId",    "name",       "pipelineStageId", "status",
                                         "monetaryValue", "assignedTo", "customFields",    NULL};
    static const char *const admin[] = {"pipelineId",
                                        "locationId",
                                        "name",
                                        "pipelineStageId",
                                        "status",
                                        "contactId",
                                        "monetaryValue",
                                        "assignedTo",
                                        "customFields",
                                        "lostReasonId",
                                        "source",
                                        "followers",
                                        "id",
                                        "createdAt",
                                        "updatedAt",
                                        "contact",
                                        "notes",
                                        "tasks",
                                        "calendarEvents",
                                        "indexVersion",
                                        "lastStatusChangeAt",
                                        "lastStageChangeAt",
                                        "lastActionDate",
                                        "custom_fields",
                                        "relations",
                                        "searchAfter",
                                        NULL};
    bool load = mode == OW_LOAD;
    if (load)
        mode = OW_ADMIN;
    const char *const *allowed = mode == OW_CREATE ? create : mode == OW_UPDATE ? update : admin;
    int before = cJSON_GetArraySize(errs);
    ref_err[0] = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, body)
    {
        bool ok = false;
        for (int i = 0; allowed[i]; i++)
            ok |= !strcmp(allowed[i], it->string);
        if (!ok)
            e(errs, "property %s should not exist", it->string);
    }
    if (mode == OW_CREATE) {
        static const char *const req[] = {"pipelineId", "locationId", "name",
                                          "status",     "contactId",  NULL};
        for (int i = 0; req[i]; i++)
            if (!jstr(body, req[i]))
                e(errs, "%s should not be empty", req[i]);
    }
    cJSON *out = base ? cJSON_Duplicate(base, 1) : cJSON_CreateObject();
    static const char *const strs[] = {"pipelineId", "name",         "pipelineStageId", "contactId",
                                       "assignedTo", "lostReasonId", "source",          NULL};
    for (int i = 0; strs[i]; i++) {
        const cJSON *v = get(body, strs[i]);
        if (!v)
            continue;
        if (cJSON_IsNull(v) && strcmp(strs[i], "pipelineId") && strcmp(strs[i], "name") &&
            strcmp(strs[i], "contactId"))
            set(out, strs[i], NULL);
        else if (!cJSON_IsString(v) || (!v->valuestring[0] && strcmp(strs[i], "source")))
            e(errs, "%s must be a non-empty string", strs[i]);
        else
            set(out, strs[i], cJSON_CreateString(v->valuestring));
    }
    const cJSON *mv = get(body, "monetaryValue");
    if (mv && cJSON_IsNull(mv))
        set(out, "monetaryValue", NULL);
    else if (mv && !cJSON_IsNumber(mv))
        e(errs, "monetaryValue must be a number", NULL);
    else if (mv)
        set(out, "monetaryValue", cJSON_CreateNumber(mv->valuedouble));
    const cJSON *st = get(body, "status");
    const char *old_status = base ? jstr(base, "status") : NULL;
    if (st && !(cJSON_IsString(st) && valid_status(st->valuestring)))
        e(errs, "status must be one of the following values: open, won, lost, abandoned", NULL);
    else if (st)
        set(out, "status", cJSON_CreateString(st->valuestring));
    const cJSON *fo = get(body, "followers");
    if (fo) {
        bool ok = cJSON_IsArray(fo);
        cJSON_ArrayForEach(it, fo) ok = ok && cJSON_IsString(it);
        if (!ok)
            e(errs, "followers must be an array of user ids", NULL);
        else
            set(out, "followers", cJSON_Duplicate(fo, 1));
    }
    const cJSON *cfs = get(body, "customFields");
    if (cfs)
        hs_cfields_apply(o, cfs, mode == OW_ADMIN, out, errs);
    if (mode == OW_ADMIN) {
        static const char *const times[] = {"lastStatusChangeAt", "lastStageChangeAt",
                                            "lastActionDate", NULL};
        for (int i = 0; times[i]; i++) {
            const cJSON *v = get(body, times[i]);
            int64_t ms;
            if (cJSON_IsNumber(v) && v->valuedouble > -1e15 && v->valuedouble < 1e15)
                set(out, times[i], cJSON_CreateNumber(v->valuedouble));
            else if (cJSON_IsString(v) && hs_parse_iso_ms(v->valuestring, &ms))
                set(out, times[i], cJSON_CreateNumber((double)ms));
            else if (v && !cJSON_IsNull(v))
                e(errs, "%s must be ISO-8601 or epoch ms", times[i]);
        }
    }
    if (cJSON_GetArraySize(errs) > before) {
        cJSON_Delete(out);
        return NULL;
    }
    /* references */
    const char *pid = jstr(out, "pipelineId"), *sid = jstr(out, "pipelineStageId");
    const cJSON *p = hs_pipeline_find(o, pid);
    if (!p) {
        snprintf(ref_err, ref_len, "Pipeline %.60s not found", pid ? pid : "");
    } else {
        bool pipeline_moved = get(body, "pipelineId") && base && jstr(base, "pipelineId") &&
                              strcmp(jstr(base, "pipelineId"), pid);
        if (!get(body, "pipelineStageId") && (!sid || (pipeline_moved && !stage_in(p, sid)))) {
            /* no stage given: the pipeline's first stage */
            const cJSON *s0 = cJSON_GetArrayItem(get(p, "stages"), 0);
            set(out, "pipelineStageId", s0 ? cJSON_CreateString(jstr(s0, "id")) : NULL);
            sid = jstr(out, "pipelineStageId");
        }
        if (sid && !stage_in(p, sid))
            snprintf(ref_err, ref_len, "Pipeline stage %.60s does not belong to pipeline %.40s",
                     sid, pid);
    }
    const char *cid = jstr(out, "contactId");
    if (!ref_err[0] && (!cid || !hs_is_contacts(co) || !hs_contact_get(co, cid)))
        snprintf(ref_err, ref_len, "Contact %.60s not found", cid ? cid : "");
    const char *lr = jstr(out, "lostReasonId");
    if (!ref_err[0] && lr && !lost_reason_known(o, lr))
        snprintf(ref_err, ref_len, "Lost reason %.60s not found", lr);
    if (load)
        ref_err[0] = 0;
    if (ref_err[0]) {
        cJSON_Delete(out);
        return NULL;
    }
    if (mode != OW_ADMIN || !get(body, "lastStatusChangeAt")) {
        if (!old_status || strcmp(old_status, jstr(out, "status") ? jstr(out, "status") : ""))
            set(out, "lastStatusChangeAt", cJSON_CreateNumber((double)now));
    }
    if (mode != OW_ADMIN || !get(body, "lastStageChangeAt")) {
        const char *os = base ? jstr(base, "pipelineStageId") : NULL;
        if (!os || !sid || strcmp(os, sid))
            set(out, "lastStageChangeAt", cJSON_CreateNumber((double)now));
    }
    if (mode != OW_ADMIN || !get(body, "lastActionDate"))
        set(out, "lastActionDate", cJSON_CreateNumber((double)now));
    if (jstr(out, "status") && strcmp(jstr(out, "status"), "lost"))
        set(out, "lostReasonId", NULL);
    const cJSON *iv = get(out, "indexVersion"), *biv = get(body, "indexVersion");
    if (mode == OW_ADMIN && cJSON_IsNumber(biv)) /* a dump loads back as it was */
        set(out, "indexVersion", cJSON_CreateNumber(biv->valuedouble));
    else
        set(out, "indexVersion", cJSON_CreateNumber(cJSON_IsNumber(iv) ? iv->valuedouble + 1 : 1));
    return out;
}

/* ---- seeding ------------------------------------------------------------------------------ */

static const char *const deal_words[] = {"Website",    "Annual",  "Premium",   "Starter",
                                         "Consulting", "Support", "Migration", "Training"};

void hs_seed_opportunities(hs_ctx *c, hs_loc *l, long n)
{
    hs_object *o = hs_opps_obj(c, l);
    hs_object *co = hs_obj_find(l, "contact");
    static const char *const sales[] = {"New Lead", "Contacted", "Proposal Sent", "Negotiation",
                                        NULL};
    static const char *const onboard[] = {"Kickoff", "Setup", "Live", NULL};
    static const char *const deal[] = {"New", "Renewal", "Upsell", NULL};
    static const char *const extras[] = {"Training", "Support", "Hardware", NULL};
    hs_pipeline_add(c, l, o, "Sales Pipeline", sales);
    hs_pipeline_add(c, l, o, "Onboarding", onboard);
    static const char *const reasons[] = {"Too expensive", "Went with a competitor", "No response"};
    for (int i = 0; i < 3; i++) {
        char id[21];
        hs_alnum_id(&c->rng, id);
        cJSON *r = cJSON_CreateObject();
        cJSON_AddStringToObject(r, "id", id);
        cJSON_AddStringToObject(r, "name", reasons[i]);
        cJSON_AddStringToObject(r, "locationId", l->id);
        cJSON_AddItemToArray(get(o->extra, "lostReasons"), r);
    }
    hs_cfield_add(c, l, o, "deal_type", "Deal type", DT_SINGLE_OPTIONS, deal);
    hs_cfield_add(c, l, o, "probability", "Probability", DT_NUMERICAL, NULL);
    hs_cfield_add(c, l, o, "next_step", "Next step", DT_TEXT, NULL);
    hs_cfield_add(c, l, o, "close_date", "Expected close", DT_DATE, NULL);
    hs_cfield_add(c, l, o, "extras", "Extras", DT_MULTIPLE_OPTIONS, extras);
    hs_cfield_add(c, l, o, "contract_value", "Contract value", DT_MONETORY, NULL);
    size_t nc = hs_is_contacts(co) ? co->by_created.n : 0;
    if (!nc)
        return; /* an opportunity needs a contact */
    int64_t base = 1704067200000LL, now = hs_now_ms();
    cJSON *pipes = get(o->extra, "pipelines");
    for (long i = 0; i < n; i++) {
        hs_rng *r = &c->rng;
        hs_rec *rec = calloc(1, sizeof *rec);
        if (!rec)
            abort();
        rec->created = base + (int64_t)i * 15838 + (int64_t)(hs_rng_next(r) % 9000);
        rec->updated = rec->created;
        if (hs_rng_next(r) % 2)
            rec->updated += (int64_t)(hs_rng_next(r) % (60LL * 86400000));
        if (rec->updated > now)
            rec->updated = now;
        do
            hs_alnum_id(r, rec->id);
        while (hs_rec_find(o, rec->id));
        const cJSON *p = cJSON_GetArrayItem(pipes, (int)(hs_rng_next(r) % 2));
        const cJSON *stg = get(p, "stages");
        const cJSON *s =
            cJSON_GetArrayItem(stg, (int)(hs_rng_next(r) % (uint64_t)cJSON_GetArraySize(stg)));
        unsigned u = (unsigned)(hs_rng_next(r) % 100);
        const char *status = u < 60 ? "open" : u < 80 ? "won" : u < 95 ? "lost" : "abandoned";
        hs_buf b = {0};
        hs_buf_printf(&b,
                      "{\"name\":\"%s deal %ld\",\"monetaryValue\":%u,\"pipelineId\":\"%s\","
                      "\"pipelineStageId\":\"%s\",\"status\":\"%s\",\"source\":\"%s\","
                      "\"contactId\":\"%s\",\"followers\":[],\"indexVersion\":1",
                      deal_words[hs_rng_next(r) % 8], i, (unsigned)(hs_rng_next(r) % 200) * 50,
                      jstr(p, "id"), jstr(s, "id"), status,
                      hs_rng_next(r) % 2 ? "website" : "referral",
                      co->by_created.v[hs_rng_next(r) % nc]->id);
        if (!strcmp(status, "lost"))
            hs_buf_printf(
                &b, ",\"lostReasonId\":\"%s\"",
                jstr(cJSON_GetArrayItem(get(o->extra, "lostReasons"), (int)(hs_rng_next(r) % 3)),
                     "id"));
        if (hs_rng_next(r) % 2) {
            char uid[21];
            hs_alnum_id(r, uid);
            hs_buf_printf(&b, ",\"assignedTo\":\"%s\"", uid);
        }
        hs_buf_printf(
            &b, ",\"lastStatusChangeAt\":%lld,\"lastStageChangeAt\":%lld,\"lastActionDate\":%lld",
            (long long)rec->updated, (long long)rec->updated, (long long)rec->updated);
        hs_buf_puts(&b, ",\"customFields\":{");
        bool first = true;
        const cJSON *f;
        cJSON_ArrayForEach(f, o->fields)
        {
            if (hs_rng_next(r) % 10 < 3)
                continue;
            hs_buf_puts(&b, first ? "" : ",");
            first = false;
            hs_buf_json_str(&b, jstr(f, "id"));
            hs_buf_puts(&b, ":");
            hs_seed_cf_value(r, f, &b);
        }
        hs_buf_puts(&b, "}}");
        rec->props = hs_buf_steal(&b);
        hs_rec_append(o, rec);
    }
    hs_index_sort_all(o);
}

/* ---- another user ------------------------------------------------------------------------- */

void hs_web_opp_step(hs_ctx *c, hs_object *o)
{
    if (o->by_created.n == 0)
        return;
    hs_rng *r = &c->rng;
    int64_t now = hs_now_ms();
    hs_rec *rec = o->by_created.v[hs_rng_next(r) % o->by_created.n];
    double u = hs_rng_unit(r);
    if (u >= 0.9) {
        hs_rel_forget_record(c, rec->id);
        hs_rec_remove(o, rec);
        c->ctr.web_deletes++;
        return;
    }
    cJSON *d = cJSON_Parse(rec->props);
    const cJSON *p = hs_pipeline_find(o, jstr(d, "pipelineId"));
    const cJSON *stg = get(p, "stages");
    if (u < 0.5 && cJSON_GetArraySize(stg) > 0) {
        const cJSON *s =
            cJSON_GetArrayItem(stg, (int)(hs_rng_next(r) % (uint64_t)cJSON_GetArraySize(stg)));
        set(d, "pipelineStageId", cJSON_CreateString(jstr(s, "id")));
        set(d, "lastStageChangeAt", cJSON_CreateNumber((double)now));
    } else if (u < 0.7) {
        static const char *const st[] = {"open", "won", "abandoned"};
        set(d, "status", cJSON_CreateString(st[hs_rng_next(r) % 3]));
        set(d, "lostReasonId", NULL);
        set(d, "lastStatusChangeAt", cJSON_CreateNumber((double)now));
    } else {
        set(d, "monetaryValue", cJSON_CreateNumber((double)(hs_rng_next(r) % 400) * 25));
    }
    set(d, "lastActionDate", cJSON_CreateNumber((double)now));
    char *s = cJSON_PrintUnformatted(d);
    cJSON_Delete(d);
    free(rec->props);
    rec->props = s;
    rec->updated_src = SRC_WEB;
    hs_rec_touch(o, rec, now > rec->updated ? now : rec->updated + 1);
    c->ctr.web_edits++;
}
