/* tloop.c - see tloop.h. */
#include "tloop.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void tloop_on_res(hl_result *r, void *ud)
{
    tloop_res *x = ud;
    x->done++;
    x->kinds[r->kind]++;
    x->status = r->status;
    x->refreshed += r->refreshed;
    snprintf(x->msg, sizeof x->msg, "%s", r->message);
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(r->json, "message");
    const cJSON *m0 = cJSON_IsArray(m) ? cJSON_GetArrayItem(m, 0) : m;
    x->first_msg_item[0] = '\0';
    if (cJSON_IsString(m0))
        snprintf(x->first_msg_item, sizeof x->first_msg_item, "%s", m0->valuestring);
    const cJSON *rec = cJSON_GetObjectItemCaseSensitive(r->json, "record");
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(rec, "id");
    if (cJSON_IsString(id))
        snprintf(x->id, sizeof x->id, "%s", id->valuestring);
    const cJSON *o;
    cJSON_ArrayForEach(o, cJSON_GetObjectItemCaseSensitive(r->json, "objects"))
    {
        const cJSON *k = cJSON_GetObjectItemCaseSensitive(o, "key");
        if (cJSON_IsString(k) && !strncmp(k->valuestring, "custom_objects.", 15) && !x->key[0])
            snprintf(x->key, sizeof x->key, "%s", k->valuestring);
    }
}

int tloop_client(gs_loop *L, hl_client **c, const tsim *s, const hl_client_opts *o, long timeout_ms)
{
    gs_err e = {0};
    http_opts ho = {.insecure_http = true, .total_timeout_ms = timeout_ms};
    if (gs_loop_init(L, NULL, &ho, &e) != 0) {
        printf("# tloop: loop: %s\n", e.msg);
        return -1;
    }
    hl_client_opts co = *o;
    co.base_url = s->base_url;
    if (hl_client_new(L, &co, c, &e) != 0) {
        printf("# tloop: client: %s\n", e.msg);
        gs_loop_close(L);
        return -1;
    }
    return 0;
}

long tloop_counter(const tsim *s, const char *endpoint, const char *field)
{
    char *body = NULL;
    if (tsim_admin(s, "GET", "/_admin/counters", NULL, &body) != 200) {
        free(body);
        return -1;
    }
    cJSON *j = cJSON_Parse(body);
    free(body);
    if (!j)
        return -1;
    const cJSON *v = j;
    if (endpoint)
        v = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "byEndpoint"),
                                             endpoint);
    v = cJSON_GetObjectItemCaseSensitive(v, field);
    long n = cJSON_IsNumber(v) ? (long)v->valuedouble : 0;
    cJSON_Delete(j);
    return n;
}

long tloop_records(const tsim *s, const char *loc, const char *key)
{
    char path[256], *body = NULL;
    snprintf(path, sizeof path, "/_admin/state?locationId=%s", loc);
    if (tsim_admin(s, "GET", path, NULL, &body) != 200) {
        free(body);
        return -1;
    }
    cJSON *j = cJSON_Parse(body);
    free(body);
    long n = -1;
    const cJSON *l, *o;
    cJSON_ArrayForEach(l, cJSON_GetObjectItemCaseSensitive(j, "locations"))
    {
        cJSON_ArrayForEach(o, cJSON_GetObjectItemCaseSensitive(l, "objects"))
        {
            const cJSON *obj = cJSON_GetObjectItemCaseSensitive(o, "object");
            const cJSON *k = cJSON_GetObjectItemCaseSensitive(obj, "key");
            const cJSON *recs = cJSON_GetObjectItemCaseSensitive(o, "records");
            if (cJSON_IsString(k) && !strcmp(k->valuestring, key) && cJSON_IsArray(recs))
                n = cJSON_GetArraySize(recs);
        }
    }
    cJSON_Delete(j);
    return n;
}
