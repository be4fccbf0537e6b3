/*
 * hs_webhook.c - the simulator sends HighLevel-style webhooks for every change.
 *
 * Keys: an Ed25519 pair generated at start (the public key printed as "webhook-key <base64 of
 * the SubjectPublicKeyInfo>"), and with --webhook-legacy an RSA-2048 pair for the legacy
 * x-wh-signature ("webhook-legacy-key ..."). Signatures are over the exact body bytes sent.
 *
 * Payloads (highlevel-crm.md 5.1, decisions.md): contacts are flat ({type, locationId, id, the
 * contact's fields, customFields [{id, value}]}, no dateUpdated); opportunities {type,
 * locationId, id, assignedTo, contactId, monetaryValue, name, pipelineId, pipelineStageId,
 * source, status, dateAdded}; records of custom objects and business {type, locationId, id,
 * owners, followers, properties [{key, valueString}], timestamp} with NO object key. Every body
 * carries webhookId and timestamp (the signature docs say so).
 *
 * Delivery: callers queue under ctx->mu (no network); one sender thread posts in due order and,
 * like HighLevel, retries only a 429 (up to 6 times, every retry_ms; default 10 minutes, tests
 * pass --webhook-retry-ms). Switches (PUT /_admin/webhooks): drop, duplicate, delay (+delayMs),
 * badSignature, reorder (a held event goes after the next one): probabilities in [0, 1].
 */
#include "hlsim.h"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct whitem {
    struct whitem *next;
    char *body;
    int64_t due;
    int attempts;
    bool bad_sig, held;
} whitem;

struct hs_wh {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t th;
    bool started, stop, armed;
    char *url;
    long retry_ms;
    int max_retries;
    double drop, dup, delay_rate, bad_sig, reorder;
    long delay_ms;
    EVP_PKEY *ed, *rsa;
    char *pub, *rsa_pub;
    whitem *head;
    long queued;
    hs_rng rng;
    uint64_t seq;
    long events, sent, dropped, dups, delayed, badsigs, reordered, retries, gaveup, failed;
    long by_class[6];
};

static char *b64(const unsigned char *p, size_t n)
{
    char *o = malloc(4 * ((n + 2) / 3) + 1);
    if (o)
        EVP_EncodeBlock((unsigned char *)o, p, (int)n);
    return o;
}

static char *spki_b64(EVP_PKEY *k)
{
    unsigned char *der = NULL;
    int n = i2d_PUBKEY(k, &der);
    if (n <= 0)
        return NULL;
    char *s = b64(der, (size_t)n);
    OPENSSL_free(der);
    return s;
}

static EVP_PKEY *keygen(int type, int bits)
{
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_id(type, NULL);
    EVP_PKEY *k = NULL;
    if (c && EVP_PKEY_keygen_init(c) == 1 &&
        (type != EVP_PKEY_RSA || EVP_PKEY_CTX_set_rsa_keygen_bits(c, bits) == 1))
        EVP_PKEY_keygen(c, &k);
    EVP_PKEY_CTX_free(c);
    return k;
}

/* base64 signature of body (malloc'd) */
static char *sign(EVP_PKEY *k, const EVP_MD *md, const char *body, size_t len, bool corrupt)
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    size_t n = 0;
    unsigned char *sig = NULL;
    char *out = NULL;
    if (c && EVP_DigestSignInit(c, NULL, md, NULL, k) == 1 &&
        EVP_DigestSign(c, NULL, &n, (const unsigned char *)body, len) == 1 && (sig = malloc(n)) &&
        EVP_DigestSign(c, sig, &n, (const unsigned char *)body, len) == 1) {
        if (corrupt)
            sig[n / 2] ^= 0x5a;
        out = b64(sig, n);
    }
    free(sig);
    EVP_MD_CTX_free(c);
    return out;
}

static size_t sink(void *p, size_t s, size_t n, void *ud)
{
    hs_buf *b = ud;
    if (b)
        hs_buf_add(b, p, s * n);
    return s * n;
}

/* POST body to url; sig: 0 good, 1 corrupt, 2 none; legacy: also (or only, when 3) the RSA
 * header. Returns the HTTP status (0: no answer); *resp (may be NULL) gets the answer body. */
static long post(struct hs_wh *w, const char *url, const char *body, int sig, bool legacy,
                 char **resp)
{
    size_t len = strlen(body);
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    hs_buf hb = {0};
    if (sig != 2 && sig != 3) {
        char *s = sign(w->ed, NULL, body, len, sig == 1);
        hs_buf_printf(&hb, "x-ghl-signature: %s", s ? s : "");
        h = curl_slist_append(h, hb.d);
        free(s);
        hb.n = 0;
    }
    if (w->rsa && (legacy || sig == 3)) {
        char *s = sign(w->rsa, EVP_sha256(), body, len, sig == 1);
        hs_buf_printf(&hb, "x-wh-signature: %s", s ? s : "");
        h = curl_slist_append(h, hb.d);
        free(s);
    }
    free(hb.d);
    CURL *c = curl_easy_init();
    long status = 0;
    hs_buf out = {0};
    if (c) {
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)len);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &out);
        if (curl_easy_perform(c) == CURLE_OK)
            curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_cleanup(c);
    }
    curl_slist_free_all(h);
    if (resp)
        *resp = hs_buf_steal(&out);
    else
        free(out.d);
    return status;
}

static void *sender(void *arg)
{
    struct hs_wh *w = arg;
    pthread_mutex_lock(&w->mu);
    while (!w->stop) {
        int64_t now = hs_now_ms();
        whitem **best = NULL;
        for (whitem **p = &w->head; *p; p = &(*p)->next)
            if (!(*p)->held || (*p)->due <= now)
                if (!best || (*p)->due < (*best)->due)
                    best = p;
        if (!best || (*best)->due > now || !w->url) {
            int64_t until = best && w->url ? (*best)->due : now + 200;
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            int64_t ms = until - now;
            ts.tv_sec += ms / 1000;
            ts.tv_nsec += (ms % 1000) * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&w->cv, &w->mu, &ts);
            continue;
        }
        whitem *it = *best;
        *best = it->next;
        w->queued--;
        char *url = strdup(w->url);
        bool legacy = w->rsa != NULL;
        pthread_mutex_unlock(&w->mu);
        long st = post(w, url, it->body, it->bad_sig ? 1 : 0, legacy, NULL);
        free(url);
        pthread_mutex_lock(&w->mu);
        w->sent++;
        w->by_class[st >= 100 && st < 600 ? st / 100 : 0]++;
        if (!it->held) /* what was held for this one goes now */
            for (whitem *p = w->head; p; p = p->next)
                if (p->held) {
                    p->held = false;
                    p->due = hs_now_ms();
                }
        if (st == 429 && it->attempts < w->max_retries) {
            it->attempts++;
            it->held = false;
            it->due = hs_now_ms() + w->retry_ms;
            it->next = w->head;
            w->head = it;
            w->queued++;
            w->retries++;
            continue;
        }
        if (st == 429)
            w->gaveup++;
        else if (st < 200 || st >= 300)
            w->failed++; /* final, as HighLevel does: the event is lost */
        free(it->body);
        free(it);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

struct hs_wh *hs_wh_new(const char *url, long retry_ms, bool legacy)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    struct hs_wh *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    w->url = url ? strdup(url) : NULL;
    w->retry_ms = retry_ms > 0 ? retry_ms : 600000;
    w->max_retries = 6;
    w->delay_ms = 2000;
    w->rng.s = (uint64_t)hs_now_ms() * 0x9E3779B97F4A7C15ull + 1;
    w->ed = keygen(EVP_PKEY_ED25519, 0);
    w->pub = w->ed ? spki_b64(w->ed) : NULL;
    if (legacy) {
        w->rsa = keygen(EVP_PKEY_RSA, 2048);
        w->rsa_pub = w->rsa ? spki_b64(w->rsa) : NULL;
    }
    if (!w->pub || (legacy && !w->rsa_pub)) {
        hs_wh_free(w);
        return NULL;
    }
    if (pthread_create(&w->th, NULL, sender, w) == 0)
        w->started = true;
    return w;
}

void hs_wh_start(struct hs_wh *w)
{
    pthread_mutex_lock(&w->mu);
    w->armed = true;
    pthread_mutex_unlock(&w->mu);
}

void hs_wh_free(struct hs_wh *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->stop = true;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    if (w->started)
        pthread_join(w->th, NULL);
    while (w->head) {
        whitem *n = w->head->next;
        free(w->head->body);
        free(w->head);
        w->head = n;
    }
    EVP_PKEY_free(w->ed);
    EVP_PKEY_free(w->rsa);
    free(w->pub);
    free(w->rsa_pub);
    free(w->url);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    free(w);
}

const char *hs_wh_public_key(const struct hs_wh *w)
{
    return w->pub;
}

static void add_item(struct hs_wh *w, const char *body, int64_t due, bool bad, bool held)
{
    whitem *it = calloc(1, sizeof *it);
    if (!it || !(it->body = strdup(body))) {
        free(it);
        return;
    }
    it->due = due;
    it->bad_sig = bad;
    it->held = held;
    it->next = w->head;
    w->head = it;
    w->queued++;
}

/* Finish the payload (webhookId, timestamp) and queue it with the switches applied. */
static void enqueue(struct hs_wh *w, cJSON *j)
{
    pthread_mutex_lock(&w->mu);
    if (!w->armed || !w->url) {
        pthread_mutex_unlock(&w->mu);
        cJSON_Delete(j);
        return;
    }
    w->events++;
    char id[64], iso[32];
    int64_t now = hs_now_ms();
    snprintf(id, sizeof id, "hlsim-wh-%llu-%016llx", (unsigned long long)++w->seq,
             (unsigned long long)hs_rng_next(&w->rng));
    hs_iso_ms(now, iso);
    cJSON_DeleteItemFromObject(j, "timestamp");
    cJSON_AddStringToObject(j, "timestamp", iso);
    cJSON_AddStringToObject(j, "webhookId", id);
    char *body = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    if (!body) {
        pthread_mutex_unlock(&w->mu);
        return;
    }
    if (hs_rng_unit(&w->rng) < w->drop) {
        w->dropped++;
    } else {
        int64_t due = now;
        if (hs_rng_unit(&w->rng) < w->delay_rate) {
            due += w->delay_ms;
            w->delayed++;
        }
        bool held = hs_rng_unit(&w->rng) < w->reorder;
        if (held) {
            w->reordered++;
            due = now + 5000; /* if nothing follows, it goes anyway */
        }
        bool bad = hs_rng_unit(&w->rng) < w->bad_sig;
        if (bad)
            w->badsigs++;
        add_item(w, body, due, bad, held);
        if (hs_rng_unit(&w->rng) < w->dup) {
            w->dups++;
            add_item(w, body, due + 1, false, false);
        }
        pthread_cond_broadcast(&w->cv);
    }
    pthread_mutex_unlock(&w->mu);
    free(body);
}

/* Without a URL (most tests) a change costs one uncontended lock, no payload. */
static bool wanted(struct hs_wh *w)
{
    pthread_mutex_lock(&w->mu);
    bool on = w->armed && w->url;
    pthread_mutex_unlock(&w->mu);
    return on;
}

static cJSON *base(const hs_object *o, const char *type_prefix, int op, const char *id)
{
    static const char *const ops[] = {"Create", "Update", "Delete"};
    char type[64];
    snprintf(type, sizeof type, "%s%s", type_prefix, ops[op]);
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "type", type);
    cJSON_AddStringToObject(j, "locationId", o->loc->id);
    cJSON_AddStringToObject(j, "id", id);
    return j;
}

void hs_wh_record(hs_object *o, const hs_rec *r, int op)
{
    if (!o->ctx || !o->ctx->wh || !o->loc || hs_is_contacts(o) || !wanted(o->ctx->wh))
        return;
    cJSON *props = r->props ? cJSON_Parse(r->props) : NULL;
    cJSON *j;
    if (hs_is_opps(o)) {
        j = base(o, "Opportunity", op, r->id);
        static const char *const keys[] = {
            "assignedTo",      "contactId", "monetaryValue", "name",      "pipelineId",
            "pipelineStageId", "source",    "status",        "dateAdded", NULL};
        for (int i = 0; keys[i]; i++) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(props, keys[i]);
            if (v)
                cJSON_AddItemToObject(j, keys[i], cJSON_Duplicate(v, true));
        }
    } else {
        j = base(o, "Record", op, r->id);
        cJSON *own = r->owner ? cJSON_Parse(r->owner) : NULL;
        cJSON *fol = r->followers ? cJSON_Parse(r->followers) : NULL;
        cJSON_AddItemToObject(j, "owners", own ? own : cJSON_CreateArray());
        cJSON_AddItemToObject(j, "followers", fol ? fol : cJSON_CreateArray());
        cJSON *pl = cJSON_AddArrayToObject(j, "properties");
        const cJSON *p;
        cJSON_ArrayForEach(p, props)
        {
            cJSON *x = cJSON_CreateObject();
            cJSON_AddStringToObject(x, "key", p->string);
            if (cJSON_IsString(p)) {
                cJSON_AddStringToObject(x, "valueString", p->valuestring);
            } else {
                char *t = cJSON_PrintUnformatted(p);
                cJSON_AddStringToObject(x, "valueString", t ? t : "");
                free(t);
            }
            cJSON_AddItemToArray(pl, x);
        }
    }
    cJSON_Delete(props);
    enqueue(o->ctx->wh, j);
}

void hs_wh_contact(hs_object *o, const hs_rec *snap, bool existed)
{
    if (!o->ctx || !o->ctx->wh || !o->loc || !wanted(o->ctx->wh))
        return;
    int op = snap->deleted ? HS_WH_DELETE : existed ? HS_WH_UPDATE : HS_WH_CREATE;
    cJSON *j = base(o, "Contact", op, snap->id);
    cJSON *d = snap->props ? cJSON_Parse(snap->props) : NULL;
    const cJSON *v;
    cJSON_ArrayForEach(v, d)
    {
        if (!strcmp(v->string, "dateUpdated") || !strcmp(v->string, "id") ||
            !strcmp(v->string, "locationId"))
            continue;
        if (!strcmp(v->string, "customFields") && cJSON_IsObject(v)) {
            cJSON *cf = cJSON_AddArrayToObject(j, "customFields");
            const cJSON *f;
            cJSON_ArrayForEach(f, v)
            {
                cJSON *x = cJSON_CreateObject();
                cJSON_AddStringToObject(x, "id", f->string);
                cJSON_AddItemToObject(x, "value", cJSON_Duplicate(f, true));
                cJSON_AddItemToArray(cf, x);
            }
            continue;
        }
        cJSON_AddItemToObject(j, v->string, cJSON_Duplicate(v, true));
    }
    cJSON_Delete(d);
    enqueue(o->ctx->wh, j);
}

/* highlevel-crm.md 5.1: {id, firstObjectKey, firstRecordId, secondObjectKey, secondRecordId,
 * associationId, locationId} */
void hs_wh_relation(struct hs_wh *w, const char *loc, const char *id, const char *assoc,
                    const char *first_key, const char *first, const char *second_key,
                    const char *second, bool del)
{
    if (!w || !wanted(w))
        return;
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "type", del ? "RelationDelete" : "RelationCreate");
    cJSON_AddStringToObject(j, "locationId", loc);
    cJSON_AddStringToObject(j, "id", id);
    cJSON_AddStringToObject(j, "associationId", assoc);
    if (first_key)
        cJSON_AddStringToObject(j, "firstObjectKey", first_key);
    cJSON_AddStringToObject(j, "firstRecordId", first);
    if (second_key)
        cJSON_AddStringToObject(j, "secondObjectKey", second_key);
    cJSON_AddStringToObject(j, "secondRecordId", second);
    enqueue(w, j);
}

/* highlevel-crm.md 5.1: the association's fields as the API lists them */
void hs_wh_association(struct hs_wh *w, const char *loc, const cJSON *a, bool created)
{
    if (!w || !a || !wanted(w))
        return;
    cJSON *j = cJSON_Duplicate(a, 1);
    cJSON_DeleteItemFromObjectCaseSensitive(j, "type");
    cJSON_AddStringToObject(j, "type", created ? "AssociationCreate" : "AssociationDelete");
    if (!cJSON_GetObjectItemCaseSensitive(j, "locationId"))
        cJSON_AddStringToObject(j, "locationId", loc);
    enqueue(w, j);
}

/* ---- admin -------------------------------------------------------------------------------- */

static cJSON *state_json(struct hs_wh *w)
{
    cJSON *j = cJSON_CreateObject();
    pthread_mutex_lock(&w->mu);
    cJSON_AddStringToObject(j, "url", w->url ? w->url : "");
    cJSON_AddStringToObject(j, "publicKey", w->pub);
    if (w->rsa_pub)
        cJSON_AddStringToObject(j, "legacyPublicKey", w->rsa_pub);
    cJSON_AddNumberToObject(j, "drop", w->drop);
    cJSON_AddNumberToObject(j, "duplicate", w->dup);
    cJSON_AddNumberToObject(j, "delay", w->delay_rate);
    cJSON_AddNumberToObject(j, "delayMs", (double)w->delay_ms);
    cJSON_AddNumberToObject(j, "badSignature", w->bad_sig);
    cJSON_AddNumberToObject(j, "reorder", w->reorder);
    cJSON_AddNumberToObject(j, "retryMs", (double)w->retry_ms);
    cJSON_AddNumberToObject(j, "events", (double)w->events);
    cJSON_AddNumberToObject(j, "queued", (double)w->queued);
    cJSON_AddNumberToObject(j, "sent", (double)w->sent);
    cJSON_AddNumberToObject(j, "dropped", (double)w->dropped);
    cJSON_AddNumberToObject(j, "duplicated", (double)w->dups);
    cJSON_AddNumberToObject(j, "delayed", (double)w->delayed);
    cJSON_AddNumberToObject(j, "badSignatures", (double)w->badsigs);
    cJSON_AddNumberToObject(j, "reordered", (double)w->reordered);
    cJSON_AddNumberToObject(j, "retries", (double)w->retries);
    cJSON_AddNumberToObject(j, "gaveUp", (double)w->gaveup);
    cJSON_AddNumberToObject(j, "lost", (double)w->failed);
    cJSON *bc = cJSON_AddObjectToObject(j, "byStatusClass");
    static const char *const names[] = {"none", "1xx", "2xx", "3xx", "4xx", "5xx"};
    for (int i = 0; i < 6; i++)
        cJSON_AddNumberToObject(bc, names[i], (double)w->by_class[i]);
    pthread_mutex_unlock(&w->mu);
    return j;
}

static bool prob(const cJSON *b, const char *k, double *out, char *err, size_t len)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(b, k);
    if (!v)
        return true;
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 1) {
        snprintf(err, len, "%s must be a number in [0, 1]", k);
        return false;
    }
    *out = v->valuedouble;
    return true;
}

static int put(struct hs_wh *w, const cJSON *b, char *err, size_t len)
{
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(b, "url");
    const cJSON *dm = cJSON_GetObjectItemCaseSensitive(b, "delayMs");
    const cJSON *rm = cJSON_GetObjectItemCaseSensitive(b, "retryMs");
    if ((u && !cJSON_IsString(u)) || (dm && !cJSON_IsNumber(dm)) || (rm && !cJSON_IsNumber(rm))) {
        snprintf(err, len, "url is a string, delayMs and retryMs numbers");
        return 400;
    }
    pthread_mutex_lock(&w->mu);
    bool ok = prob(b, "drop", &w->drop, err, len) && prob(b, "duplicate", &w->dup, err, len) &&
              prob(b, "delay", &w->delay_rate, err, len) &&
              prob(b, "badSignature", &w->bad_sig, err, len) &&
              prob(b, "reorder", &w->reorder, err, len);
    if (ok && u) {
        free(w->url);
        w->url = u->valuestring[0] ? strdup(u->valuestring) : NULL;
    }
    if (ok && dm)
        w->delay_ms = (long)dm->valuedouble;
    if (ok && rm && rm->valuedouble > 0)
        w->retry_ms = (long)rm->valuedouble;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    return ok ? 200 : 400;
}

/* POST /_admin/webhooks/send {payload, signature: good|bad|none|legacy, pad, timestampOffsetMs,
 * webhookId}: one webhook, sent now from this thread, bypassing the queue and the switches;
 * answers {"status", "body"} with what the receiver said. */
static int send_one(struct hs_wh *w, const cJSON *b, char **out)
{
    const cJSON *pl = cJSON_GetObjectItemCaseSensitive(b, "payload");
    cJSON *j = cJSON_IsObject(pl) ? cJSON_Duplicate(pl, true) : NULL;
    char *body = NULL;
    if (cJSON_IsString(pl)) {
        body = strdup(pl->valuestring);
    } else if (j) {
        const cJSON *off = cJSON_GetObjectItemCaseSensitive(b, "timestampOffsetMs");
        if (!cJSON_GetObjectItemCaseSensitive(j, "timestamp")) {
            char iso[32];
            hs_iso_ms(hs_now_ms() + (cJSON_IsNumber(off) ? (int64_t)off->valuedouble : 0), iso);
            cJSON_AddStringToObject(j, "timestamp", iso);
        }
        if (!cJSON_GetObjectItemCaseSensitive(j, "webhookId")) {
            char id[64];
            pthread_mutex_lock(&w->mu);
            snprintf(id, sizeof id, "hlsim-wh-%llu-%016llx", (unsigned long long)++w->seq,
                     (unsigned long long)hs_rng_next(&w->rng));
            pthread_mutex_unlock(&w->mu);
            cJSON_AddStringToObject(j, "webhookId", id);
        }
        const cJSON *pad = cJSON_GetObjectItemCaseSensitive(b, "pad");
        if (cJSON_IsNumber(pad) && pad->valuedouble > 0 && pad->valuedouble < 64e6) {
            size_t n = (size_t)pad->valuedouble;
            char *x = malloc(n + 1);
            if (x) {
                memset(x, 'x', n);
                x[n] = 0;
                cJSON_AddStringToObject(j, "pad", x);
                free(x);
            }
        }
        body = cJSON_PrintUnformatted(j);
    }
    cJSON_Delete(j);
    pthread_mutex_lock(&w->mu);
    char *url = w->url ? strdup(w->url) : NULL;
    pthread_mutex_unlock(&w->mu);
    if (!body || !url) {
        free(body);
        free(url);
        *out = strdup(!url ? "{\"message\":\"no webhook url (PUT /_admin/webhooks {url})\"}"
                           : "{\"message\":\"payload must be an object or a string\"}");
        return 400;
    }
    const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(b, "signature"));
    int sig = !s || !strcmp(s, "good") ? 0 : !strcmp(s, "bad") ? 1 : !strcmp(s, "none") ? 2 : 3;
    char *resp = NULL;
    long st = post(w, url, body, sig, false, &resp);
    cJSON *r = cJSON_CreateObject();
    cJSON_AddNumberToObject(r, "status", (double)st);
    cJSON_AddStringToObject(r, "body", resp ? resp : "");
    cJSON *bj = cJSON_Parse(body);
    const cJSON *wid = cJSON_GetObjectItemCaseSensitive(bj, "webhookId");
    if (cJSON_IsString(wid))
        cJSON_AddStringToObject(r, "webhookId", wid->valuestring);
    cJSON_Delete(bj);
    *out = cJSON_PrintUnformatted(r);
    cJSON_Delete(r);
    free(resp);
    free(body);
    free(url);
    return 200;
}

int hs_wh_admin(hs_ctx *c, const char *method, char seg[][256], int nseg, const cJSON *body,
                char **out)
{
    struct hs_wh *w = c->wh;
    if (!w) {
        *out = strdup("{\"message\":\"webhooks unavailable\"}");
        return 503;
    }
    if (nseg == 1 && !strcmp(method, "GET")) {
        cJSON *j = state_json(w);
        *out = cJSON_PrintUnformatted(j);
        cJSON_Delete(j);
        return 200;
    }
    if (nseg == 1 && !strcmp(method, "PUT")) {
        char err[128] = "";
        int st = put(w, body, err, sizeof err);
        cJSON *j = st == 200 ? state_json(w) : cJSON_CreateObject();
        if (st != 200)
            cJSON_AddStringToObject(j, "message", err);
        *out = cJSON_PrintUnformatted(j);
        cJSON_Delete(j);
        return st;
    }
    if (nseg == 2 && !strcmp(seg[1], "send") && !strcmp(method, "POST"))
        return send_one(w, body, out);
    *out = strdup("{\"message\":\"unknown webhooks admin call (see tests/hlsim/README.md)\"}");
    return 404;
}
