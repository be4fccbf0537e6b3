/*
 * family/opportunities.c - the Opportunities family (family.h): the standard `opportunity`
 * object, through /opportunities. Facts: shared/reference/highlevel-crm.md section 2,
 * decisions.md "Contacts, opportunities, pipelines, associations", the official
 * opportunities.json.
 *
 *   fields   the standard fields as typed columns (std_cols below: monetary_value numeric, the
 *            change times timestamptz, followers text[]), the keys no column holds in the jsonb
 *            `extra`; custom fields from GET /locations/{id}/customFields?model=opportunity
 *            (GET /objects/opportunity?fetchProperties=true when that is refused), named from
 *            the fieldKey like contact fields.
 *   search   two of them, and the server decides. POST /opportunities/search (limit <= 500,
 *            searchAfter, filters and sort on date_updated) is tried first; it has answered 401
 *            "not yet supported by the IAM Service" on the live API, so a 401 / 404 / 422 to
 *            the first call makes GET /opportunities/search serve this location from then on
 *            (hl_location_family_flags). The GET search takes location_id, limit <= 100 and
 *            pages by meta.startAfter + meta.startAfterId (page_cursor below), every parameter
 *            sent again on every page; meta.nextPageUrl is never followed (the spec's example
 *            points at another host). It filters and sorts on nothing we can use, so its
 *            incremental polls are the shared full scans with diff (pull.c logs the mode).
 *   records  customFields or custom_fields, [{id, value}] with value / fieldValue /
 *            fieldValueString / field_value: made into one object keyed by property key; an id
 *            without a definition goes to `extra`.
 *   writes   POST /opportunities/ (201 {"opportunity"}); pipelineId, name, status and contactId
 *            are required and a row without one fails before any request, naming its column.
 *            PUT /opportunities/{id} with the changed fields only. A changed status goes through
 *            PUT /opportunities/{id}/status with lostReasonId (the update endpoint does not take
 *            lostReasonId, and one status call keeps the pair together), then the remaining
 *            fields through PUT, else a GET for the write-back. contact_id cannot change
 *            (the update DTO refuses contactId): such an update fails with a message.
 *            DELETE /opportunities/{id} ({"succeded": true}). A row created lost with a reason:
 *            the create (whose DTO has no lostReasonId), then the status call, then a GET.
 *   retry    a create with an unknown outcome is looked up by the external_id_field through
 *            POST search (custom_fields.{id} eq); without one (or when only the GET search is
 *            served) it parks (shared push.c).
 */
#include "family.h"

#include "http.h"
#include "pipelines.h"
#include "pullstore.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define P FAM_STD_PUSHED
static const fam_std std_cols[] = {
    {"name", "text", "HighLevel opportunity name", "name", NULL, FAM_K_TEXT, P},
    {"monetary_value", "numeric", "HighLevel monetaryValue", "monetaryValue", "monetary_value",
     FAM_K_NUM, P},
    {"status", "text", "HighLevel status: open, won, lost, abandoned", "status", NULL, FAM_K_TEXT,
     P},
    {"pipeline_id", "text", "HighLevel pipelineId (pipelines.id)", "pipelineId", "pipeline_id",
     FAM_K_TEXT, P},
    {"pipeline_stage_id", "text", "HighLevel pipelineStageId (pipeline_stages.id)",
     "pipelineStageId", "pipeline_stage_id", FAM_K_TEXT, P},
    {"contact_id", "text", "HighLevel contactId (contacts.id; set on create only)", "contactId",
     "contact_id", FAM_K_TEXT, P},
    {"assigned_to", "text", "HighLevel assignedTo user id", "assignedTo", "assigned_to", FAM_K_TEXT,
     P},
    {"source", "text", "HighLevel source (read-only)", "source", NULL, FAM_K_TEXT, 0},
    {"lost_reason_id", "text", "HighLevel lostReasonId (pushed with a status change)",
     "lostReasonId", "lost_reason_id", FAM_K_TEXT, P},
    {"followers", "text[]", "HighLevel follower user ids (read-only)", "followers", NULL, FAM_K_IDS,
     0},
    {"last_status_change_at", "timestamptz", "HighLevel lastStatusChangeAt", "lastStatusChangeAt",
     "last_status_change_date", FAM_K_TIME, 0},
    {"last_stage_change_at", "timestamptz", "HighLevel lastStageChangeAt", "lastStageChangeAt",
     "last_stage_change_date", FAM_K_TIME, 0},
    {"last_action_date", "timestamptz", "HighLevel lastActionDate", "lastActionDate", NULL,
     FAM_K_TIME, 0},
    {"extra", "jsonb", "HighLevel keys of the opportunity that no column holds (kept losslessly)",
     NULL, NULL, FAM_K_EXTRA, 0},
};
#undef P
#define N_STD       (sizeof std_cols / sizeof *std_cols)
#define COL_NAME    0 /* std_cols indexes */
#define COL_STATUS  2
#define COL_PIPE    3
#define COL_CONTACT 5
#define COL_LOST    8

/* Keys held elsewhere (not copied to `extra`). The embedded contact is the contacts table's. */
static const char *const held_keys[] = {
    "id",          "locationId",  "createdAt",    "updatedAt",    "dateAdded",
    "dateUpdated", "date_added",  "date_updated", "customFields", "custom_fields",
    "searchAfter", "location_id", "contact",      "indexVersion"};

static bool serves(const char *key)
{
    return strcmp(key, "opportunity") == 0;
}

static const char *default_table(const char *key)
{
    (void)key;
    return "opportunities";
}

/* ---- definitions ---- */

struct defs_call {
    hl_location *l;
    int prio;
    hl_cb cb;
    void *ud;
};

static void on_objects_defs(hl_result *r, void *ud)
{
    struct defs_call *d = ud;
    d->cb(r, d->ud);
    free(d);
}

static void on_custom_fields(hl_result *r, void *ud)
{
    struct defs_call *d = ud;
    gs_err e = {0};
    if (r->kind == HL_REJECTED &&
        hl_get_schema(d->l, "opportunity", d->prio, on_objects_defs, d, &e) == 0)
        return; /* the objects endpoint answers instead */
    d->cb(r, d->ud);
    free(d);
}

static int fetch_schema(hl_location *l, const char *key, int prio, hl_cb cb, void *ud, gs_err *e)
{
    (void)key;
    struct defs_call *d = calloc(1, sizeof *d);
    if (!d)
        return gs_err_set(e, GS_ENOMEM, "out of memory");
    *d = (struct defs_call){l, prio, cb, ud};
    sbuf p = SBUF_INIT;
    sbuf_puts(&p, "/locations/");
    fam_path_segment(&p, hl_location_id(l));
    sbuf_puts(&p, "/customFields");
    hl_call c = {.method = "GET",
                 .endpoint = "custom_fields",
                 .path = sbuf_str(&p),
                 .query = "model=opportunity"};
    int rc = sbuf_failed(&p) ? gs_err_set(e, GS_ENOMEM, "out of memory")
                             : hl_send(l, &c, prio, "opportunity", on_custom_fields, d, e);
    sbuf_free(&p);
    if (rc)
        free(d);
    return rc;
}

/* A definition of another model (an answer to model=all, or a server ignoring the filter). */
static bool other_model(const cJSON *it)
{
    const char *m = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "model"));
    const char *k = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "fieldKey"));
    if (m)
        return strcmp(m, "opportunity") != 0;
    return k && strncmp(k, "opportunity.", 12) != 0 && strchr(k, '.');
}

/* Both answers become the objects shape schema_object_from_json reads. */
static int parse_schema(const cJSON *answer, const char *key, schema_object **out, gs_err *e)
{
    *out = NULL;
    cJSON *doc = cJSON_CreateObject(), *obj = cJSON_CreateObject(), *fields = cJSON_CreateArray();
    if (!doc || !obj || !fields) {
        cJSON_Delete(doc);
        cJSON_Delete(obj);
        cJSON_Delete(fields);
        return gs_err_set(e, GS_ENOMEM, "out of memory");
    }
    cJSON_AddItemToObject(doc, "object", obj);
    cJSON_AddItemToObject(doc, "fields", fields);
    const cJSON *cf = cJSON_GetObjectItemCaseSensitive(answer, "customFields");
    if (!cf)
        cf = cJSON_GetObjectItemCaseSensitive(answer, "custom_fields");
    const cJSON *of = cJSON_GetObjectItemCaseSensitive(answer, "fields");
    const cJSON *ob = cJSON_GetObjectItemCaseSensitive(answer, "object");
    cJSON_AddStringToObject(obj, "key", key);
    cJSON_AddBoolToObject(obj, "standard", true);
    const char *loc = NULL;
    if (cJSON_IsObject(ob)) {
        const cJSON *labels = cJSON_GetObjectItemCaseSensitive(ob, "labels");
        if (labels)
            cJSON_AddItemToObject(obj, "labels", cJSON_Duplicate(labels, 1));
        loc = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ob, "locationId"));
        const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ob, "id"));
        if (id)
            cJSON_AddStringToObject(obj, "id", id);
    }
    const cJSON *it;
    if (cJSON_IsArray(cf)) {
        cJSON_ArrayForEach(it, cf)
        {
            if (other_model(it))
                continue;
            if (!loc)
                loc = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "locationId"));
            cJSON *f = cJSON_Duplicate(it, 1);
            const cJSON *pick = cJSON_GetObjectItemCaseSensitive(it, "picklistOptions");
            cJSON *opts = cJSON_CreateArray();
            const cJSON *o;
            cJSON_ArrayForEach(o, pick)
            {
                const char *s = cJSON_GetStringValue(o);
                if (!s)
                    continue;
                cJSON *oj = cJSON_CreateObject();
                cJSON_AddStringToObject(oj, "key", s);
                cJSON_AddStringToObject(oj, "label", s);
                cJSON_AddItemToArray(opts, oj);
            }
            cJSON_DeleteItemFromObjectCaseSensitive(f, "options");
            cJSON_AddItemToObject(f, "options", opts);
            cJSON_AddItemToArray(fields, f);
        }
    } else if (cJSON_IsArray(of)) {
        cJSON_ArrayForEach(it, of)
        {
            /* standard fields are the fixed columns */
            if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(it, "standard")))
                continue;
            cJSON_AddItemToArray(fields, cJSON_Duplicate(it, 1));
        }
    } else {
        cJSON_Delete(doc);
        return gs_err_set(e, GS_EPARSE,
                          "opportunity definitions: neither \"customFields\" nor \"fields\" in "
                          "the answer");
    }
    if (loc)
        cJSON_AddStringToObject(obj, "locationId", loc);
    cJSON_AddStringToObject(obj, "description", "HighLevel opportunities");
    int rc = schema_object_from_json(doc, out, e);
    cJSON_Delete(doc);
    if (!rc)
        (*out)->family = &fam_opportunities;
    return rc;
}

/* ---- search ---- */

static int search_get(hl_location *l, const char *key, const fam_query *q, int prio,
                      const char *queue, hl_cb cb, void *ud, gs_err *e)
{
    /* every parameter on every page: a server that forgets location_id answers 422 */
    sbuf s = SBUF_INIT;
    sbuf_puts(&s, "location_id=");
    http_escape(&s, hl_location_id(l));
    int limit = q->page_limit > 0 ? q->page_limit : 100;
    sbuf_printf(&s, "&limit=%d&status=all", limit > 100 ? 100 : limit);
    const cJSON *sa = cJSON_GetObjectItemCaseSensitive(q->search_after, "startAfter");
    const cJSON *sid = cJSON_GetObjectItemCaseSensitive(q->search_after, "startAfterId");
    if (cJSON_IsArray(q->search_after)) { /* a POST search's [ms, id] (a resumed scan) */
        sa = cJSON_GetArrayItem(q->search_after, 0);
        sid = cJSON_GetArrayItem(q->search_after, 1);
    }
    if (q->page > 0) {
        sbuf_printf(&s, "&page=%d", q->page);
    } else if (sa && cJSON_IsString(sid)) {
        sbuf_puts(&s, "&startAfter=");
        if (cJSON_IsNumber(sa))
            sbuf_printf(&s, "%.0f", sa->valuedouble);
        else if (cJSON_IsString(sa))
            http_escape(&s, sa->valuestring);
        sbuf_puts(&s, "&startAfterId=");
        http_escape(&s, sid->valuestring);
    }
    hl_call c = {.method = "GET",
                 .endpoint = "search",
                 .path = "/opportunities/search",
                 .query = sbuf_str(&s),
                 .is_read = true,
                 .answer_borrowed = true};
    int rc = sbuf_failed(&s) ? gs_err_set(e, GS_ENOMEM, "out of memory")
                             : hl_send(l, &c, prio, queue ? queue : key, cb, ud, e);
    sbuf_free(&s);
    return rc;
}

static cJSON *post_body(const fam_query *q)
{
    cJSON *b = cJSON_CreateObject();
    if (!b)
        return NULL;
    cJSON_AddNumberToObject(b, "limit", q->page_limit > 0 ? q->page_limit : 100);
    if (q->page > 0)
        cJSON_AddNumberToObject(b, "page", q->page);
    else if (cJSON_IsArray(q->search_after))
        cJSON_AddItemToObject(b, "searchAfter", cJSON_Duplicate(q->search_after, 1));
    if (q->since != FAM_NO_TIME) {
        char iso[40];
        ps_time_iso(q->since, iso, sizeof iso);
        cJSON *a = cJSON_AddArrayToObject(b, "filters"), *o = cJSON_CreateObject();
        cJSON *v = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "field", "date_updated");
        cJSON_AddStringToObject(o, "operator", "range");
        cJSON_AddStringToObject(v, "gte", iso);
        cJSON_AddItemToObject(o, "value", v);
        cJSON_AddItemToArray(a, o);
    }
    if (q->sort) {
        cJSON *a = cJSON_AddArrayToObject(b, "sort"), *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "field", "date_updated");
        cJSON_AddStringToObject(o, "direction", q->sort > 0 ? "asc" : "desc");
        cJSON_AddItemToArray(a, o);
    }
    return b;
}

/* The first POST search of a location: its answer decides which search serves it. */
struct probe {
    hl_location *l;
    char *key, *queue;
    fam_query q;
    cJSON *after; /* q.search_after, owned */
    int prio;
    hl_cb cb;
    void *ud;
};

static void probe_free(struct probe *p)
{
    free(p->key);
    free(p->queue);
    cJSON_Delete(p->after);
    free(p);
}

static void on_probe(hl_result *r, void *ud)
{
    struct probe *p = ud;
    unsigned *fl = hl_location_family_flags(p->l);
    bool refused = r->kind != HL_OK && (r->status == 401 || r->status == 404 || r->status == 422);
    if (!refused) {
        if (r->kind == HL_OK)
            *fl |= FAM_LOC_OPP_POST_OK;
        p->cb(r, p->ud);
        probe_free(p);
        return;
    }
    *fl |= FAM_LOC_OPP_GET;
    /* the answer to the first page comes from the other search */
    fam_query q = p->q;
    q.search_after = p->after;
    gs_err e = {0};
    if (search_get(p->l, p->key, &q, p->prio, p->queue, p->cb, p->ud, &e) != 0)
        p->cb(r, p->ud); /* the refusal stands (out of memory) */
    probe_free(p);
}

static int search(hl_location *l, const char *key, const fam_query *q, int prio, const char *queue,
                  hl_cb cb, void *ud, gs_err *e)
{
    unsigned fl = *hl_location_family_flags(l);
    if ((fl & FAM_LOC_OPP_GET) || cJSON_IsObject(q->search_after))
        return search_get(l, key, q, prio, queue, cb, ud, e);
    cJSON *b = post_body(q);
    if (!b)
        return gs_err_set(e, GS_ENOMEM, "out of memory");
    hl_call c = {.method = "POST",
                 .endpoint = "search",
                 .path = "/opportunities/search",
                 .body = b,
                 .body_location = true,
                 .is_read = true,
                 .answer_borrowed = true};
    int rc;
    if (fl & FAM_LOC_OPP_POST_OK) {
        rc = hl_send(l, &c, prio, queue ? queue : key, cb, ud, e);
    } else {
        struct probe *p = calloc(1, sizeof *p);
        if (!p || !(p->key = strdup(key)) || (queue && !(p->queue = strdup(queue))) ||
            (q->search_after && !(p->after = cJSON_Duplicate(q->search_after, 1)))) {
            if (p)
                probe_free(p);
            cJSON_Delete(b);
            return gs_err_set(e, GS_ENOMEM, "out of memory");
        }
        p->l = l;
        p->q = *q;
        p->q.search_after = NULL;
        p->prio = prio;
        p->cb = cb;
        p->ud = ud;
        rc = hl_send(l, &c, prio, queue ? queue : key, on_probe, p, e);
        if (rc)
            probe_free(p);
    }
    cJSON_Delete(b);
    return rc;
}

/* GET search pages: {"startAfter", "startAfterId"} from meta, else from the last record
 * (createdAt ms and id, what meta documents them to be). */
static char *page_cursor(const cJSON *answer)
{
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(answer, "meta");
    if (!cJSON_IsObject(meta))
        return NULL; /* a POST search answer: the records' searchAfter */
    const cJSON *sa = cJSON_GetObjectItemCaseSensitive(meta, "startAfter");
    const cJSON *sid = cJSON_GetObjectItemCaseSensitive(meta, "startAfterId");
    char ms[32] = "";
    if (cJSON_IsNumber(sa))
        snprintf(ms, sizeof ms, "%.0f", sa->valuedouble);
    else if (cJSON_IsString(sa) && *sa->valuestring)
        snprintf(ms, sizeof ms, "%.31s", sa->valuestring);
    const char *id = cJSON_GetStringValue(sid);
    if (!ms[0] || !id || !*id) {
        const cJSON *recs = cJSON_GetObjectItemCaseSensitive(answer, "opportunities");
        const cJSON *last = cJSON_GetArrayItem(recs, cJSON_GetArraySize(recs) - 1);
        const cJSON *ca = cJSON_GetObjectItemCaseSensitive(last, "createdAt");
        int64_t t = ps_time_ms(ca);
        id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(last, "id"));
        if (t == PS_NO_TIME || !id)
            return NULL;
        snprintf(ms, sizeof ms, "%lld", (long long)t);
    }
    cJSON *c = cJSON_CreateObject();
    if (!c)
        return NULL;
    cJSON_AddStringToObject(c, "startAfter", ms);
    cJSON_AddStringToObject(c, "startAfterId", id);
    char *s = cJSON_PrintUnformatted(c);
    cJSON_Delete(c);
    return s;
}

static const char *search_mode(hl_location *l)
{
    unsigned fl = *hl_location_family_flags(l);
    if (fl & FAM_LOC_OPP_GET)
        return "GET /opportunities/search (POST search refused: no updated-at filter, full "
               "scans with diff)";
    if (fl & FAM_LOC_OPP_POST_OK)
        return "POST /opportunities/search";
    return NULL;
}

/* ---- records ---- */

static const cJSON *cf_list(const cJSON *record)
{
    const cJSON *cf = cJSON_GetObjectItemCaseSensitive(record, "customFields");
    if (!cf || cJSON_IsNull(cf))
        cf = cJSON_GetObjectItemCaseSensitive(record, "custom_fields");
    return cf && !cJSON_IsNull(cf) ? cf : NULL;
}

static int field_slots(const schema_object *o, const cJSON *record, const cJSON **slots,
                       sbuf *warnings)
{
    return fam_cf_slots(o, cf_list(record), slots, warnings);
}

static bool held(const char *k, size_t *hint)
{
    (void)hint; /* a dozen keys: walked whole */
    for (size_t i = 0; i < sizeof held_keys / sizeof *held_keys; i++)
        if (!strcmp(k, held_keys[i]))
            return true;
    for (size_t i = 0; i < N_STD; i++)
        if ((std_cols[i].key && !strcmp(k, std_cols[i].key)) ||
            (std_cols[i].alt_key && !strcmp(k, std_cols[i].alt_key)))
            return true;
    return false;
}

static int extra_value(const schema_object *o, const cJSON *record, const map_out *mo, char **out)
{
    return fam_cf_extra(o, record, cf_list(record), held, mo, out);
}

static const cJSON *answer_record(const cJSON *answer)
{
    return fam_answer_inner(answer, "opportunity");
}

static int row_to_body(const schema_object *o, const char *const *values,
                       const char *const *old_values, const bool *changed, const schema_field *ext,
                       const char *local_key, cJSON **out, gs_err *e)
{
    (void)old_values;
    *out = NULL;
    bool create = changed == NULL;
    if (create) {
        /* the API's CreateDto: these "should not be empty" (locationId comes from the row's
         * location); refused here, before any request, naming the column */
        static const size_t req[] = {COL_PIPE, COL_NAME, COL_STATUS, COL_CONTACT};
        for (size_t i = 0; i < sizeof req / sizeof *req; i++)
            if (!values[2 + req[i]] || !*values[2 + req[i]])
                return gs_err_set(e, GS_EINVAL,
                                  "%s is required to create an opportunity (HighLevel: \"%s "
                                  "should not be empty\")",
                                  std_cols[req[i]].column, std_cols[req[i]].key);
    } else if (changed[2 + COL_CONTACT]) {
        return gs_err_set(e, GS_EINVAL,
                          "contact_id cannot be changed: HighLevel's opportunity update does "
                          "not take contactId (create a new opportunity instead)");
    }
    cJSON *body = cJSON_CreateObject(), *cf = cJSON_CreateArray();
    if (!body || !cf) {
        cJSON_Delete(body);
        cJSON_Delete(cf);
        return gs_err_set(e, GS_ENOMEM, "out of memory");
    }
    int rc = 0;
    for (size_t i = 0; !rc && i < N_STD; i++) {
        const fam_std *s = &std_cols[i];
        size_t k = 2 + i;
        if (!(s->flags & FAM_STD_PUSHED))
            continue;
        if (create ? !values[k] : !changed[k] || i == COL_CONTACT)
            continue;
        if (!create && i == COL_LOST && !changed[2 + COL_STATUS] && !values[k])
            continue; /* a cleared reason alone: nothing the status call can say */
        cJSON *v;
        if (!(rc = fam_std_decode(s, values[k], &v, e)))
            cJSON_AddItemToObject(body, s->key, v);
    }
    if (!rc)
        rc = fam_cf_body(&fam_opportunities, o, values, changed, ext, local_key, cf, e);
    if (rc) {
        cJSON_Delete(body);
        cJSON_Delete(cf);
        return rc;
    }
    if (cJSON_GetArraySize(cf) > 0)
        cJSON_AddItemToObject(body, "customFields", cf);
    else
        cJSON_Delete(cf);
    /* a reason changed alone goes with the row's status */
    if (!create && cJSON_GetObjectItemCaseSensitive(body, "lostReasonId") &&
        !cJSON_GetObjectItemCaseSensitive(body, "status") && values[2 + COL_STATUS])
        cJSON_AddStringToObject(body, "status", values[2 + COL_STATUS]);
    *out = body;
    return 0;
}

/* ---- writes ---- */

static int send_id(hl_location *l, const char *method, const char *endpoint, const char *id,
                   const char *suffix, const cJSON *body, int prio, hl_cb cb, void *ud, gs_err *e)
{
    return fam_send_id(l, "/opportunities/", "opportunity", method, endpoint, id, suffix, body,
                       prio, cb, ud, e);
}

/* A create of a lost opportunity with its reason: the CreateDto has no lostReasonId, so the
 * reason follows through the status call, and the record is read back for the write-back. The
 * create's own answer is kept: it stands when a later call fails (the record exists; the row
 * shows the reason missing after the write-back and the next local change sends it again). */
struct made {
    hl_location *l;
    int prio;
    hl_cb cb;
    void *ud;
    char *key, *reason, *id;
    hl_result saved; /* the create's answer; saved.json owned */
};

static void made_free(struct made *m)
{
    free(m->key);
    free(m->reason);
    free(m->id);
    cJSON_Delete(m->saved.json);
    free(m);
}

static void made_saved(struct made *m)
{
    m->cb(&m->saved, m->ud);
    made_free(m);
}

static void on_made_get(hl_result *r, void *ud)
{
    struct made *m = ud;
    if (r->kind != HL_OK || !r->json) {
        made_saved(m);
        return;
    }
    m->cb(r, m->ud);
    made_free(m);
}

static void on_made_status(hl_result *r, void *ud)
{
    struct made *m = ud;
    gs_err e = {0};
    if (r->kind != HL_OK || fam_answer_failed(r->json) ||
        send_id(m->l, "GET", "get_record", m->id, NULL, NULL, m->prio, on_made_get, m, &e))
        made_saved(m);
}

static void on_made(hl_result *r, void *ud)
{
    struct made *m = ud;
    const char *id =
        r->kind == HL_OK && r->json
            ? cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(answer_record(r->json), "id"))
            : NULL;
    cJSON *st = id ? cJSON_CreateObject() : NULL;
    if (!st || !(m->id = strdup(id)) || !(m->saved.json = cJSON_Duplicate(r->json, 1))) {
        cJSON_Delete(st);
        m->cb(r, m->ud);
        made_free(m);
        return;
    }
    m->saved.kind = r->kind;
    m->saved.status = r->status;
    m->saved.message = "";
    m->saved.rate = r->rate;
    m->saved.attempts = r->attempts;
    m->saved.refreshed = r->refreshed;
    cJSON_AddStringToObject(st, "status", "lost");
    cJSON_AddStringToObject(st, "lostReasonId", m->reason);
    gs_err e = {0};
    int rc =
        send_id(m->l, "PUT", "update_status", m->id, "/status", st, m->prio, on_made_status, m, &e);
    cJSON_Delete(st);
    if (rc)
        made_saved(m);
}

static int create(hl_location *l, const char *key, const cJSON *body, int prio, hl_cb cb, void *ud,
                  gs_err *e)
{
    const char *reason =
        cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(body, "lostReasonId"));
    const char *status = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(body, "status"));
    cJSON *b = cJSON_Duplicate(body, 1);
    if (!b)
        return gs_err_set(e, GS_ENOMEM, "out of memory");
    cJSON_DeleteItemFromObjectCaseSensitive(b, "lostReasonId");
    hl_call c = {.method = "POST",
                 .endpoint = "create",
                 .path = "/opportunities/",
                 .body = b,
                 .body_location = true,
                 .create = true};
    int rc;
    if (reason && *reason && status && !strcmp(status, "lost")) {
        struct made *m = calloc(1, sizeof *m);
        if (!m || !(m->key = strdup(key)) || !(m->reason = strdup(reason))) {
            if (m)
                made_free(m);
            cJSON_Delete(b);
            return gs_err_set(e, GS_ENOMEM, "out of memory");
        }
        m->l = l;
        m->prio = prio;
        m->cb = cb;
        m->ud = ud;
        rc = hl_send(l, &c, prio, key, on_made, m, e);
        if (rc)
            made_free(m);
    } else {
        rc = hl_send(l, &c, prio, key, cb, ud, e);
    }
    cJSON_Delete(b);
    return rc;
}

static int get(hl_location *l, const char *key, const char *id, int prio, hl_cb cb, void *ud,
               gs_err *e)
{
    (void)key;
    return send_id(l, "GET", "get_record", id, NULL, NULL, prio, cb, ud, e);
}

/* An update with a status: the status call first, then the rest (or a GET for the record). */
struct upd {
    hl_location *l;
    char *id;
    cJSON *rest;
    int prio;
    hl_cb cb;
    void *ud;
};

static void upd_free(struct upd *u)
{
    free(u->id);
    cJSON_Delete(u->rest);
    free(u);
}

static void on_upd_final(hl_result *r, void *ud)
{
    struct upd *u = ud;
    u->cb(r, u->ud);
    upd_free(u);
}

static void on_status_done(hl_result *r, void *ud)
{
    struct upd *u = ud;
    if (r->kind != HL_OK || fam_answer_failed(r->json)) {
        u->cb(r, u->ud);
        upd_free(u);
        return;
    }
    gs_err e = {0};
    int rc =
        cJSON_GetArraySize(u->rest) > 0
            ? send_id(u->l, "PUT", "update", u->id, NULL, u->rest, u->prio, on_upd_final, u, &e)
            : send_id(u->l, "GET", "get_record", u->id, NULL, NULL, u->prio, on_upd_final, u, &e);
    if (rc) {
        r->kind = HL_RETRYABLE; /* the status is set; the rest is sent again */
        u->cb(r, u->ud);
        upd_free(u);
    }
}

static int update(hl_location *l, const char *key, const char *id, const cJSON *body, int prio,
                  hl_cb cb, void *ud, gs_err *e)
{
    (void)key;
    if (!cJSON_GetObjectItemCaseSensitive(body, "status"))
        return send_id(l, "PUT", "update", id, NULL, body, prio, cb, ud, e);
    struct upd *u = calloc(1, sizeof *u);
    cJSON *st = cJSON_CreateObject();
    if (!u || !st || !(u->id = strdup(id)) || !(u->rest = cJSON_Duplicate(body, 1))) {
        if (u)
            upd_free(u);
        cJSON_Delete(st);
        return gs_err_set(e, GS_ENOMEM, "out of memory");
    }
    *u = (struct upd){l, u->id, u->rest, prio, cb, ud};
    cJSON *s = cJSON_DetachItemFromObjectCaseSensitive(u->rest, "status");
    cJSON *lr = cJSON_DetachItemFromObjectCaseSensitive(u->rest, "lostReasonId");
    cJSON_AddItemToObject(st, "status", s);
    if (lr && cJSON_IsString(lr) && cJSON_IsString(s) && !strcmp(s->valuestring, "lost"))
        cJSON_AddItemToObject(st, "lostReasonId", lr);
    else
        cJSON_Delete(lr);
    int rc = send_id(l, "PUT", "update_status", id, "/status", st, prio, on_status_done, u, e);
    cJSON_Delete(st);
    if (rc)
        upd_free(u);
    return rc;
}

static int remove_opp(hl_location *l, const char *key, const char *id, int prio, hl_cb cb, void *ud,
                      gs_err *e)
{
    (void)key;
    return send_id(l, "DELETE", "delete", id, NULL, NULL, prio, cb, ud, e);
}

static bool can_lookup(const schema_object *o, const fam_lookup *k)
{
    (void)o;
    return k->ext && k->ext->id;
}

static int lookup(hl_location *l, const schema_object *o, const fam_lookup *k, int prio, hl_cb cb,
                  void *ud, gs_err *e)
{
    cJSON *b = cJSON_CreateObject();
    cJSON *fl = cJSON_AddArrayToObject(b, "filters"), *f = cJSON_CreateObject();
    char field[300];
    snprintf(field, sizeof field, "custom_fields.%s", k->ext->id);
    cJSON_AddStringToObject(f, "field", field);
    cJSON_AddStringToObject(f, "operator", "eq");
    cJSON_AddStringToObject(f, "value", k->local_key);
    cJSON_AddItemToArray(fl, f);
    cJSON_AddNumberToObject(b, "limit", 10);
    hl_call c = {.method = "POST",
                 .endpoint = "search",
                 .path = "/opportunities/search",
                 .body = b,
                 .body_location = true,
                 .is_read = true};
    int rc = hl_send(l, &c, prio, o->key, cb, ud, e);
    cJSON_Delete(b);
    return rc;
}

static const cJSON *lookup_match(const schema_object *o, const cJSON *answer, const fam_lookup *k,
                                 int *matches)
{
    (void)o;
    *matches = 0;
    const cJSON *it, *found = NULL;
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(answer, "opportunities"))
    {
        const cJSON *c;
        cJSON_ArrayForEach(c, cf_list(it))
        {
            const char *id = fam_cf_id(c);
            const char *v = cJSON_GetStringValue(fam_cf_value(c));
            if (id && v && k->ext && !strcmp(id, k->ext->id) && !strcmp(v, k->local_key)) {
                if (!found)
                    found = it;
                (*matches)++;
                break;
            }
        }
    }
    return found;
}

const fam_family fam_opportunities = {
    .name = "opportunities",
    .serves = serves,
    .std = std_cols,
    .n_std = N_STD,
    .default_table = default_table,
    .fetch_schema = fetch_schema,
    .parse_schema = parse_schema,
    .page_max = 500,
    .index_lag_ms = FAM_CONTACTS_LAG_MS,
    .envelope = "opportunities",
    .updated_name = "date_updated",
    .created_key = {"createdAt", "dateAdded"},
    .updated_key = {"updatedAt", "dateUpdated"},
    .cursor_key = "searchAfter",
    .search = search,
    .page_cursor = page_cursor,
    .search_mode = search_mode,
    .field_values = NULL,
    .field_slots = field_slots,
    .extra_value = extra_value,
    .answer_failed = fam_answer_failed,
    .answer_record = answer_record,
    .row_to_body = row_to_body,
    .create = create,
    .get = get,
    .update = update,
    .remove = remove_opp,
    .can_lookup = can_lookup,
    .lookup = lookup,
    .lookup_match = lookup_match,
    .side_name = "pipelines, pipeline_stages",
    .side_counts = {"pipelines", "stages"},
    .side_refresh = pl_refresh,
};
