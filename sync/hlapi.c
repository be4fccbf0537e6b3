/* hlapi.c - see hlapi.h. */
#include "hlapi.h"

#include "jdoc.h"
#include "salvage.h"

#include "sbuf.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define MAX_429 50

struct hl_location {
    hl_location *next;
    hl_client *c;
    char *id;
    rl_loc *budget;
    oa_token *tok;
    unsigned family_flags; /* hl_location_family_flags */
};

typedef struct hl_req hl_req;

struct hl_client {
    gs_loop *L;
    char *base_url, *version, *client_id, *client_secret, *token_url;
    rl_params rate;
    int max_attempts;
    long backoff_base_ms, backoff_max_ms, timeout_ms;
    hl_location *locs;
    hl_req *reqs; /* every call not yet answered */
    bool closing;
    hl_stats st;
    void (*on_answer)(void *, const char *, const char *, long, const http_rate *);
    void *on_answer_ud;
    jd_cache jd; /* the arena block search answers reuse (jdoc.h) */
};

struct hl_req {
    rl_item item; /* first member: the grant callback gets &item */
    oa_waiter waiter;
    hl_req *prev, *next;
    hl_client *c;
    hl_location *l;
    rl_queue *q;
    const char *method;   /* static string */
    const char *endpoint; /* static string, for metrics */
    char *url;
    char *body;
    size_t body_len;
    bool idempotent, is_read, is_delete;
    bool borrowed; /* the callback only reads the answer: it may live in an arena */
    jd_doc *doc;   /* the arena of the answer being delivered, when it was parsed into one */
    bool in_http, waiting_auth;
    bool refreshed;
    int attempts, n429;
    unsigned gen_used;
    long status;
    http_rate rate;
    hl_cb cb;
    void *ud;
    /* what the caller may salvage (hl_result): the last unreadable 2xx body of a read, or the
     * two ends of one that was too large */
    char *raw, *tail;
    size_t raw_len, tail_len, seen_len;
    bool too_large;
    sv_stats repairs;
};

const char *hl_kind_name(enum hl_kind k)
{
    switch (k) {
    case HL_OK:
        return "ok";
    case HL_RETRYABLE:
        return "retryable";
    case HL_AUTH:
        return "auth";
    case HL_REJECTED:
        return "rejected";
    case HL_UNKNOWN_OUTCOME:
        return "unknown_outcome";
    }
    return "?";
}

static char *xstrdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

int hl_client_new(gs_loop *L, const hl_client_opts *o, hl_client **out, gs_err *e)
{
    hl_client *c = calloc(1, sizeof *c);
    if (!c)
        return gs_err_set(e, GS_ENOMEM, "out of memory");
    c->L = L;
    const char *base = o && o->base_url ? o->base_url : "https://services.leadconnectorhq.com";
    size_t bl = strlen(base);
    while (bl > 0 && base[bl - 1] == '/')
        bl--;
    c->base_url = strndup(base, bl);
    c->version = strdup(o && o->version ? o->version : "2021-07-28");
    c->client_id = xstrdup(o ? o->client_id : NULL);
    c->client_secret = xstrdup(o ? o->client_secret : NULL);
    if (o)
        c->rate = o->rate;
    rl_params_defaults(&c->rate);
    c->max_attempts = o && o->max_attempts > 0 ? o->max_attempts : 5;
    c->backoff_base_ms = o && o->backoff_base_ms > 0 ? o->backoff_base_ms : 250;
    c->backoff_max_ms = o && o->backoff_max_ms > 0 ? o->backoff_max_ms : 20000;
    c->timeout_ms = o ? o->timeout_ms : 0;
    c->on_answer = o ? o->on_answer : NULL;
    c->on_answer_ud = o ? o->on_answer_ud : NULL;
    sbuf tu = SBUF_INIT;
    sbuf_append(&tu, base, bl);
    sbuf_puts(&tu, "/oauth/token");
    c->token_url = sbuf_steal(&tu);
    if (!c->base_url || !c->version || !c->token_url) {
        hl_client_free(c);
        return gs_err_set(e, GS_ENOMEM, "out of memory");
    }
    log_add_secret(L->log, c->client_secret);
    *out = c;
    return 0;
}

static void req_free(hl_req *r)
{
    jd_free(r->doc);
    hl_client *c = r->c;
    if (r->prev)
        r->prev->next = r->next;
    else if (c->reqs == r)
        c->reqs = r->next;
    if (r->next)
        r->next->prev = r->prev;
    free(r->url);
    free(r->body);
    free(r->raw);
    free(r->tail);
    free(r);
}

/* Deliver the outcome and release the request. */
static void finish(hl_req *r, enum hl_kind kind, cJSON *json, const char *msg)
{
    hl_result res = {.kind = kind,
                     .status = r->status,
                     .json = json,
                     .message = msg ? msg : "",
                     .rate = r->rate,
                     .attempts = r->attempts,
                     .refreshed = r->refreshed,
                     .too_large = r->too_large,
                     .raw_len = r->raw_len,
                     .tail_len = r->tail_len,
                     .seen_len = r->seen_len,
                     .repairs = r->repairs,
                     .doc = r->doc};
    char *raw = kind == HL_OK ? NULL : r->raw, *tail = kind == HL_OK ? NULL : r->tail;
    if (raw)
        r->raw = NULL;
    if (tail)
        r->tail = NULL;
    res.raw = raw;
    res.tail = tail;
    if (!raw)
        res.raw_len = 0;
    if (!tail)
        res.tail_len = 0;
    hl_cb cb = r->cb;
    void *ud = r->ud;
    r->doc = NULL;
    req_free(r);
    cb(&res, ud);
    hl_answer left = hl_result_take(&res);
    hl_answer_free(&left);
    free(raw);
    free(tail);
}

hl_answer hl_result_take(hl_result *r)
{
    hl_answer a = {r->json, r->doc};
    r->json = NULL;
    r->doc = NULL;
    return a;
}

void hl_answer_free(hl_answer *a)
{
    if (a->doc)
        jd_free(a->doc);
    else
        cJSON_Delete(a->json);
    a->json = NULL;
    a->doc = NULL;
}

void hl_client_free(hl_client *c)
{
    if (!c)
        return;
    c->closing = true;
    /* transfers in flight end now (their requests finish as "shutting down") */
    http_abort_all(c->L->http);
    for (hl_location *l = c->locs; l; l = l->next) {
        oa_token_free(l->tok); /* wakes requests waiting on a refresh */
        l->tok = NULL;
    }
    while (c->reqs) {
        hl_req *r = c->reqs;
        rl_cancel(&r->item);
        finish(r, HL_RETRYABLE, NULL, "shutting down");
    }
    for (hl_location *l = c->locs, *n; l; l = n) {
        n = l->next;
        free(l->id);
        free(l);
    }
    jd_cache_clear(&c->jd);
    free(c->base_url);
    free(c->version);
    free(c->client_id);
    free(c->client_secret);
    free(c->token_url);
    free(c);
}

hl_location *hl_location_add(hl_client *c, const char *location_id, const char *access_token,
                             const char *refresh_token, int64_t expires_at_ms, pga_conn *db,
                             const rl_params *rate, gs_err *e)
{
    hl_location *l = calloc(1, sizeof *l);
    if (!l) {
        gs_err_set(e, GS_ENOMEM, "out of memory");
        return NULL;
    }
    l->c = c;
    l->id = strdup(location_id);
    rl_params p = rate ? *rate : c->rate;
    rl_params_defaults(&p);
    l->budget = rl_location(c->L->sched, location_id, &p);
    oa_opts oo = {.token_url = c->token_url,
                  .client_id = c->client_id,
                  .client_secret = c->client_secret,
                  .version = c->version};
    if (l->id && l->budget)
        l->tok = oa_token_new(c->L, l->budget, location_id, access_token, refresh_token,
                              expires_at_ms, db, &oo);
    if (!l->id || !l->budget || !l->tok) {
        free(l->id);
        free(l);
        gs_err_set(e, GS_ENOMEM, "out of memory");
        return NULL;
    }
    l->next = c->locs;
    c->locs = l;
    return l;
}

oa_token *hl_location_token(hl_location *l)
{
    return l->tok;
}

rl_loc *hl_location_budget(hl_location *l)
{
    return l->budget;
}

void hl_client_stats(const hl_client *c, hl_stats *out)
{
    *out = c->st;
}

static void on_grant(rl_item *it);
static void on_refreshed(oa_waiter *w, bool ok, const char *msg);

static void need_refresh(hl_req *r)
{
    r->waiting_auth = true;
    r->waiter.done = on_refreshed;
    r->c->st.refreshes_joined++;
    oa_refresh(r->l->tok, &r->waiter);
}

static void on_refreshed(oa_waiter *w, bool ok, const char *msg)
{
    hl_req *r = (hl_req *)((char *)w - offsetof(hl_req, waiter));
    r->waiting_auth = false;
    if (r->c->closing) {
        finish(r, HL_RETRYABLE, NULL, "shutting down");
        return;
    }
    if (!ok) {
        finish(r, HL_AUTH, NULL, msg);
        return;
    }
    r->refreshed = true;
    rl_submit(r->q, &r->item);
}

/* Parse a body: the one buffer curl filled is parsed in place (no copy). */
/* Text PostgreSQL cannot store is repaired before parsing (salvage.h has the rules); what was
 * repaired is counted on the request and reported with the outcome. A success for a caller that
 * only reads it goes into an arena (jdoc.h: no allocation per value); what that parser refuses
 * is read by cJSON as before. */
static cJSON *parse_body(hl_req *r, const http_result *h, bool arena)
{
    if (!h->body || h->body_len == 0)
        return NULL;
    char *fixed;
    size_t flen;
    sv_stats st;
    if (sv_repair(h->body, h->body_len, &fixed, &flen, &st) != 0)
        return NULL;
    r->repairs = st;
    const char *text = fixed ? fixed : h->body;
    size_t len = fixed ? flen : h->body_len;
    cJSON *j = NULL;
    if (arena && !r->doc) {
        gs_err e = {0};
        if (jd_parse(text, len, &r->c->jd, &r->doc, &e) == 0)
            j = jd_root(r->doc);
    }
    if (!j)
        j = cJSON_ParseWithLength(text, len);
    free(fixed);
    return j;
}

/* The API's message verbatim: a string, or an array of strings joined by "; ". */
static void api_message(const cJSON *j, const http_result *h, sbuf *out)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "message");
    if (cJSON_IsString(m)) {
        sbuf_puts(out, m->valuestring);
    } else if (cJSON_IsArray(m)) {
        const cJSON *x;
        bool first = true;
        cJSON_ArrayForEach(x, m)
        {
            if (!first)
                sbuf_puts(out, "; ");
            first = false;
            if (cJSON_IsString(x)) {
                sbuf_puts(out, x->valuestring);
            } else {
                char *p = cJSON_PrintUnformatted(x);
                if (p)
                    sbuf_puts(out, p);
                free(p);
            }
        }
    } else if (h->body && h->body_len) {
        sbuf_printf(out, "HTTP %ld: %.300s", h->status, h->body);
    } else {
        sbuf_printf(out, "HTTP %ld", h->status);
    }
}

static void retry_or_fail(hl_req *r, const char *msg)
{
    hl_client *c = r->c;
    if (c->closing) {
        finish(r, HL_RETRYABLE, NULL, "shutting down");
        return;
    }
    if (r->attempts >= c->max_attempts) {
        finish(r, HL_RETRYABLE, NULL, msg);
        return;
    }
    long cap = c->backoff_base_ms << (r->attempts < 16 ? r->attempts : 16);
    if (cap > c->backoff_max_ms || cap <= 0)
        cap = c->backoff_max_ms;
    uint64_t delay = gs_loop_rand(c->L, (uint64_t)cap + 1); /* full jitter */
    c->st.retries++;
    log_event(c->L->log, LOG_DEBUG, "http.retry", "location", r->l->id, "error", msg, NULL);
    rl_submit_after(r->q, &r->item, delay);
}

static void on_http(http_result *h, void *ud)
{
    hl_req *r = ud;
    hl_client *c = r->c;
    r->in_http = false;
    r->status = h->status;
    r->rate = h->rate;
    rl_complete(r->l->budget, &h->rate, h->status);
    if (c->on_answer && !h->aborted)
        c->on_answer(c->on_answer_ud, r->l->id, r->endpoint, h->status, &h->rate);
    if (c->closing || h->aborted) {
        finish(r, HL_RETRYABLE, NULL, "shutting down");
        return;
    }
    sbuf msg = SBUF_INIT;
    if (h->too_large && h->status >= 200 && h->status < 300 && r->is_read) {
        /* read whole or cut after draining: either way never parsed, never retried as is; the
         * caller gets both ends to find the record (a smaller page, or quarantine) */
        r->too_large = true;
        r->seen_len = h->seen_len;
        free(r->raw);
        r->raw = h->body;
        r->raw_len = h->body_len;
        h->body = NULL;
        free(r->tail);
        r->tail = NULL;
        r->tail_len = 0;
        if (h->tail && h->tail_len && (r->tail = malloc(h->tail_len + 1))) {
            memcpy(r->tail, h->tail, h->tail_len);
            r->tail[h->tail_len] = '\0';
            r->tail_len = h->tail_len;
        }
        finish(r, HL_REJECTED, NULL, "response larger than the configured limit");
        return;
    }
    if (h->curl_code != 0 || h->status == 0) {
        sbuf_printf(&msg, "%s %s: %s", r->method, r->url, h->error ? h->error : "no response");
        if (!r->idempotent && h->request_sent)
            finish(r, HL_UNKNOWN_OUTCOME, NULL, sbuf_str(&msg));
        else if (h->too_large)
            finish(r, HL_REJECTED, NULL, "response larger than the configured limit");
        else
            retry_or_fail(r, sbuf_str(&msg));
        sbuf_free(&msg);
        return;
    }
    long st = h->status;
    if (st >= 200 && st < 300) {
        cJSON *j = parse_body(r, h, r->borrowed);
        if (j || (!r->is_read && h->body_len == 0)) {
            finish(r, HL_OK, j, NULL);
        } else if (!r->idempotent) {
            finish(r, HL_UNKNOWN_OUTCOME, NULL, "create answered 2xx with an unreadable body");
        } else {
            if (r->is_read && h->body) {
                /* kept for the caller in case every attempt reads the same: then it is not a
                 * transient cut but one record the parser cannot take (salvage.h) */
                free(r->raw);
                r->raw = h->body;
                r->raw_len = h->body_len;
                h->body = NULL;
            }
            retry_or_fail(r, "malformed or truncated JSON in a 2xx response");
        }
        return;
    }
    cJSON *j = parse_body(r, h, false);
    api_message(j, h, &msg);
    if (st == 429) {
        c->st.n429++;
        r->attempts--; /* waits on the budget; does not use up an attempt */
        if (++r->n429 > MAX_429) {
            finish(r, HL_RETRYABLE, j, sbuf_str(&msg));
        } else {
            cJSON_Delete(j);
            rl_submit(r->q, &r->item); /* the budget holds it for Retry-After */
        }
    } else if (st == 401) {
        oa_token *t = r->l->tok;
        if (oa_gen(t) != r->gen_used) {
            cJSON_Delete(j);
            rl_submit(r->q, &r->item); /* someone refreshed meanwhile */
        } else if (!r->refreshed && oa_can_refresh(t)) {
            cJSON_Delete(j);
            need_refresh(r);
        } else {
            finish(r, HL_AUTH, j, sbuf_str(&msg));
        }
    } else if (st == 404 && r->is_delete) {
        finish(r, HL_OK, j, NULL);
    } else if (st >= 500) {
        if (!r->idempotent && (st == 502 || st == 504)) {
            /* a gateway gave up waiting: the create may have happened behind it */
            finish(r, HL_UNKNOWN_OUTCOME, j, sbuf_str(&msg));
        } else {
            cJSON_Delete(j);
            retry_or_fail(r, sbuf_str(&msg));
        }
    } else {
        finish(r, HL_REJECTED, j, sbuf_str(&msg));
    }
    sbuf_free(&msg);
}

static void on_grant(rl_item *it)
{
    hl_req *r = (hl_req *)it;
    hl_client *c = r->c;
    oa_token *t = r->l->tok;
    if (!r->refreshed && oa_can_refresh(t) && oa_expired(t, (int64_t)gs_wall_ms())) {
        rl_complete(r->l->budget, NULL, 0); /* give the slot back: nothing was sent */
        need_refresh(r);
        return;
    }
    if (!oa_access(t)) {
        rl_complete(r->l->budget, NULL, 0);
        finish(r, HL_AUTH, NULL, "no access token for this location");
        return;
    }
    sbuf auth = SBUF_INIT, ver = SBUF_INIT;
    sbuf_printf(&auth, "Authorization: Bearer %s", oa_access(t));
    sbuf_printf(&ver, "Version: %s", c->version);
    const char *hdrs[5] = {sbuf_str(&auth), sbuf_str(&ver), "Accept: application/json", NULL, NULL};
    if (r->body)
        hdrs[3] = "Content-Type: application/json";
    char *body = NULL;
    if (r->body) {
        body = malloc(r->body_len + 1);
        if (body)
            memcpy(body, r->body, r->body_len + 1);
    }
    http_req hr = {.method = r->method,
                   .url = r->url,
                   .headers = hdrs,
                   .body = body,
                   .body_len = r->body_len,
                   .fresh_connect = !r->idempotent,
                   .total_timeout_ms = c->timeout_ms};
    r->gen_used = oa_gen(t);
    r->attempts++;
    c->st.requests++;
    gs_err e;
    int rc = (r->body && !body) || auth.failed || ver.failed
                 ? gs_err_set(&e, GS_ENOMEM, "out of memory")
                 : http_send(c->L->http, &hr, on_http, r, &e);
    if (rc != 0 && body && (auth.failed || ver.failed))
        free(body);
    sbuf_free(&auth);
    sbuf_free(&ver);
    if (rc != 0) {
        rl_complete(r->l->budget, NULL, 0);
        finish(r, HL_RETRYABLE, NULL, e.msg);
        return;
    }
    r->in_http = true;
}

/* The metrics name of a call, from its method and path: one place instead of one argument at
 * each call site. */
static const char *endpoint_name(const hl_client *c, const char *method, const char *url)
{
    const char *path = url + strlen(c->base_url);
    bool records = strstr(path, "/records") != NULL;
    if (!strcmp(method, "POST"))
        return strstr(path, "/records/search") ? "search" : records ? "create" : "other";
    if (!strcmp(method, "PUT"))
        return records ? "update" : "other";
    if (!strcmp(method, "DELETE"))
        return records ? "delete" : "other";
    if (records)
        return "get_record";
    if (!strncmp(path, "/custom-fields/", 15))
        return "custom_fields";
    if (!strncmp(path, "/objects/?", 10))
        return "list_objects";
    return "get_schema";
}

/* Build and queue a request. Takes ownership of `url` and `body` (even on failure). */
static int submit_as(hl_location *l, const char *method, const char *endpoint, char *url,
                     char *body, bool idempotent, bool is_read, bool borrowed, int prio,
                     const char *queue, hl_cb cb, void *ud, gs_err *e)
{
    hl_client *c = l->c;
    if (c->closing) {
        free(url);
        free(body);
        return gs_err_set(e, GS_ESTATE, "client is shutting down");
    }
    hl_req *r = calloc(1, sizeof *r);
    rl_queue *q = rl_queue_get(l->budget, queue && *queue ? queue : "default", prio);
    if (!r || !url || !q) {
        free(r);
        free(url);
        free(body);
        return gs_err_set(e, GS_ENOMEM, "out of memory");
    }
    r->c = c;
    r->l = l;
    r->q = q;
    r->method = method;
    r->endpoint = endpoint ? endpoint : endpoint_name(c, method, url);
    r->url = url;
    r->body = body;
    r->body_len = body ? strlen(body) : 0;
    r->idempotent = idempotent;
    r->is_read = is_read;
    r->borrowed = borrowed;
    r->is_delete = strcmp(method, "DELETE") == 0;
    r->cb = cb;
    r->ud = ud;
    r->item.grant = on_grant;
    r->next = c->reqs;
    if (c->reqs)
        c->reqs->prev = r;
    c->reqs = r;
    rl_submit(q, &r->item);
    return 0;
}

static int submit(hl_location *l, const char *method, char *url, char *body, bool idempotent,
                  bool is_read, int prio, const char *queue, hl_cb cb, void *ud, gs_err *e)
{
    return submit_as(l, method, NULL, url, body, idempotent, is_read, false, prio, queue, cb, ud,
                     e);
}

/* base + "/objects/" + esc(key) [+ suffix] + "?locationId=" + esc(loc) [+ extra] */
static char *url_for(hl_location *l, const char *prefix, const char *key, const char *mid,
                     const char *id, const char *extra)
{
    sbuf u = SBUF_INIT;
    sbuf_puts(&u, l->c->base_url);
    sbuf_puts(&u, prefix);
    if (key)
        http_escape(&u, key);
    if (mid)
        sbuf_puts(&u, mid);
    if (id)
        http_escape(&u, id);
    sbuf_puts(&u, "?locationId=");
    http_escape(&u, l->id);
    if (extra)
        sbuf_puts(&u, extra);
    return sbuf_steal(&u);
}

static const char *qname(const char *queue, const char *key)
{
    return queue ? queue : key;
}

int hl_list_objects(hl_location *l, int prio, hl_cb cb, void *ud, gs_err *e)
{
    return submit(l, "GET", url_for(l, "/objects/", NULL, NULL, NULL, NULL), NULL, true, true, prio,
                  "objects", cb, ud, e);
}

int hl_get_schema(hl_location *l, const char *key, int prio, hl_cb cb, void *ud, gs_err *e)
{
    return submit(l, "GET", url_for(l, "/objects/", key, NULL, NULL, "&fetchProperties=true"), NULL,
                  true, true, prio, key, cb, ud, e);
}

int hl_custom_fields(hl_location *l, const char *key, int prio, hl_cb cb, void *ud, gs_err *e)
{
    return submit(l, "GET", url_for(l, "/custom-fields/object-key/", key, NULL, NULL, NULL), NULL,
                  true, true, prio, key, cb, ud, e);
}

static char *print_body(cJSON *b)
{
    char *s = cJSON_PrintUnformatted(b);
    cJSON_Delete(b);
    return s;
}

int hl_search_records(hl_location *l, const char *key, const hl_search *s, int prio,
                      const char *queue, hl_cb cb, void *ud, gs_err *e)
{
    cJSON *b = cJSON_CreateObject();
    bool ok = b && cJSON_AddStringToObject(b, "locationId", l->id);
    if (ok && s && s->page > 0)
        ok = cJSON_AddNumberToObject(b, "page", s->page) != NULL;
    if (ok && s && s->page_limit > 0)
        ok = cJSON_AddNumberToObject(b, "pageLimit", s->page_limit) != NULL;
    if (ok)
        ok = cJSON_AddStringToObject(b, "query", s && s->query ? s->query : "") != NULL;
    const struct {
        const char *name;
        const cJSON *v;
    } opt[3] = {{"searchAfter", s ? s->search_after : NULL},
                {"sort", s ? s->sort : NULL},
                {"filters", s ? s->filters : NULL}};
    for (int i = 0; ok && i < 3; i++) {
        if (!opt[i].v)
            continue;
        cJSON *d = cJSON_Duplicate(opt[i].v, 1);
        ok = d && cJSON_AddItemToObject(b, opt[i].name, d);
        if (!ok)
            cJSON_Delete(d);
    }
    if (!ok) {
        cJSON_Delete(b);
        return gs_err_set(e, GS_ENOMEM, "out of memory");
    }
    sbuf u = SBUF_INIT;
    sbuf_puts(&u, l->c->base_url);
    sbuf_puts(&u, "/objects/");
    http_escape(&u, key);
    sbuf_puts(&u, "/records/search");
    return submit_as(l, "POST", NULL, sbuf_steal(&u), print_body(b), true, true,
                     s && s->answer_borrowed, prio, qname(queue, key), cb, ud, e);
}

static char *body_with_location(hl_location *l, const cJSON *body)
{
    cJSON *b = body ? cJSON_Duplicate(body, 1) : cJSON_CreateObject();
    if (!b)
        return NULL;
    if (!cJSON_HasObjectItem(b, "locationId"))
        cJSON_AddStringToObject(b, "locationId", l->id);
    return print_body(b);
}

int hl_create_record(hl_location *l, const char *key, const cJSON *body, int prio,
                     const char *queue, hl_cb cb, void *ud, gs_err *e)
{
    char *b = body_with_location(l, body);
    if (!b)
        return gs_err_set(e, GS_ENOMEM, "out of memory");
    sbuf u = SBUF_INIT;
    sbuf_puts(&u, l->c->base_url);
    sbuf_puts(&u, "/objects/");
    http_escape(&u, key);
    sbuf_puts(&u, "/records");
    return submit(l, "POST", sbuf_steal(&u), b, false, false, prio, qname(queue, key), cb, ud, e);
}

int hl_get_record(hl_location *l, const char *key, const char *id, int prio, const char *queue,
                  hl_cb cb, void *ud, gs_err *e)
{
    return submit(l, "GET", url_for(l, "/objects/", key, "/records/", id, NULL), NULL, true, true,
                  prio, qname(queue, key), cb, ud, e);
}

int hl_update_record(hl_location *l, const char *key, const char *id, const cJSON *body, int prio,
                     const char *queue, hl_cb cb, void *ud, gs_err *e)
{
    cJSON *b = body ? cJSON_Duplicate(body, 1) : cJSON_CreateObject();
    if (!b)
        return gs_err_set(e, GS_ENOMEM, "out of memory");
    cJSON_DeleteItemFromObjectCaseSensitive(b, "locationId"); /* it travels in the query */
    return submit(l, "PUT", url_for(l, "/objects/", key, "/records/", id, NULL), print_body(b),
                  true, false, prio, qname(queue, key), cb, ud, e);
}

int hl_delete_record(hl_location *l, const char *key, const char *id, int prio, const char *queue,
                     hl_cb cb, void *ud, gs_err *e)
{
    return submit(l, "DELETE", url_for(l, "/objects/", key, "/records/", id, NULL), NULL, true,
                  false, prio, qname(queue, key), cb, ud, e);
}

const char *hl_location_id(const hl_location *l)
{
    return l->id;
}

unsigned *hl_location_family_flags(hl_location *l)
{
    return &l->family_flags;
}

int hl_send(hl_location *l, const hl_call *call, int prio, const char *queue, hl_cb cb, void *ud,
            gs_err *e)
{
    sbuf u = SBUF_INIT;
    sbuf_puts(&u, l->c->base_url);
    sbuf_puts(&u, call->path);
    if (call->location_query) {
        sbuf_puts(&u, "?locationId=");
        http_escape(&u, l->id);
        if (call->query && *call->query) {
            sbuf_putc(&u, '&');
            sbuf_puts(&u, call->query);
        }
    } else if (call->query && *call->query) {
        sbuf_putc(&u, '?');
        sbuf_puts(&u, call->query);
    }
    char *body = NULL;
    if (call->body || call->body_location) {
        body = call->body_location ? body_with_location(l, call->body)
                                   : cJSON_PrintUnformatted(call->body);
        if (!body) {
            sbuf_free(&u);
            return gs_err_set(e, GS_ENOMEM, "out of memory");
        }
    }
    return submit_as(l, call->method, call->endpoint, sbuf_steal(&u), body, !call->create,
                     call->is_read || !strcmp(call->method, "GET"), call->answer_borrowed, prio,
                     queue && *queue ? queue : "objects", cb, ud, e);
}
