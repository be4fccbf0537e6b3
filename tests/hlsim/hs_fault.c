/*
 * hs_fault.c - fault rules: parsing from admin JSON or from a --fault key=value,... spec, and
 * their JSON form. Matching and firing happen in hs_http.c.
 */
#include "hlsim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int hs_fault_from_json(const cJSON *j, hs_fault *f, char *err, size_t errlen)
{
    memset(f, 0, sizeof *f);
    f->rate = 1.0;
    f->count = -1;
    f->kind = -1;
    if (!cJSON_IsObject(j)) {
        snprintf(err, errlen, "a fault must be a JSON object");
        return -1;
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, j)
    {
        const char *k = it->string;
        bool num = cJSON_IsNumber(it), str = cJSON_IsString(it);
        if (!strcmp(k, "kind") && str) {
            for (int i = 0; i < FK__COUNT; i++)
                if (!strcmp(it->valuestring, hs_fault_name(i)))
                    f->kind = i;
        } else if (!strcmp(k, "method") && str) {
            snprintf(f->method, sizeof f->method, "%s", it->valuestring);
        } else if (!strcmp(k, "path") && str) {
            snprintf(f->path, sizeof f->path, "%s", it->valuestring);
        } else if (!strcmp(k, "locationId") && str) {
            snprintf(f->location, sizeof f->location, "%s", it->valuestring);
        } else if (!strcmp(k, "rate") && num && it->valuedouble >= 0 && it->valuedouble <= 1) {
            f->rate = it->valuedouble;
        } else if (!strcmp(k, "count") && num) {
            f->count = (long)it->valuedouble;
        } else if (!strcmp(k, "skip") && num && it->valuedouble >= 0) {
            f->skip = (long)it->valuedouble;
        } else if (!strcmp(k, "ms") && num && it->valuedouble >= 0) {
            f->ms = (long)it->valuedouble;
        } else if (!strcmp(k, "seconds") && num && it->valuedouble >= 0) {
            f->ms = (long)(it->valuedouble * 1000);
        } else if (!strcmp(k, "jitterMs") && num && it->valuedouble >= 0) {
            f->jitter_ms = (long)it->valuedouble;
        } else if (!strcmp(k, "status") && num &&
                   (it->valuedouble == 0 || it->valuedouble == 500 || it->valuedouble == 502 ||
                    it->valuedouble == 503 || it->valuedouble == 504)) {
            f->status = (int)it->valuedouble;
        } else if (!strcmp(k, "id") || !strcmp(k, "hits")) {
            /* read-only keys of the JSON form: ignored so a listed fault can be posted back */
        } else {
            snprintf(err, errlen, "fault: bad key or value \"%s\"", k);
            return -1;
        }
    }
    if (f->kind < 0) {
        snprintf(err, errlen,
                 "fault: kind must be one of latency, error, reset, reset_after, truncate, cutoff, "
                 "malformed, stall, rate429, expire_token");
        return -1;
    }
    if (f->count < 0)
        f->count = -1;
    return 0;
}

int hs_fault_from_spec(const char *spec, hs_fault *f, char *err, size_t errlen)
{
    cJSON *j = cJSON_CreateObject();
    char *dup = strdup(spec), *save = NULL;
    for (char *tok = strtok_r(dup, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        if (!eq) {
            snprintf(err, errlen, "fault spec: expected key=value, got \"%s\"", tok);
            free(dup);
            cJSON_Delete(j);
            return -1;
        }
        *eq = 0;
        const char *v = eq + 1;
        char *end;
        double d = strtod(v, &end);
        if (*v && !*end && strcmp(tok, "method") && strcmp(tok, "path") &&
            strcmp(tok, "locationId") && strcmp(tok, "kind"))
            cJSON_AddNumberToObject(j, tok, d);
        else
            cJSON_AddStringToObject(j, tok, v);
    }
    free(dup);
    int rc = hs_fault_from_json(j, f, err, errlen);
    cJSON_Delete(j);
    return rc;
}

cJSON *hs_fault_json(const hs_fault *f)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "id", f->id);
    cJSON_AddStringToObject(j, "kind", hs_fault_name(f->kind));
    if (f->method[0])
        cJSON_AddStringToObject(j, "method", f->method);
    if (f->path[0])
        cJSON_AddStringToObject(j, "path", f->path);
    if (f->location[0])
        cJSON_AddStringToObject(j, "locationId", f->location);
    cJSON_AddNumberToObject(j, "rate", f->rate);
    cJSON_AddNumberToObject(j, "count", (double)f->count);
    cJSON_AddNumberToObject(j, "skip", (double)f->skip);
    if (f->kind == FK_LATENCY || f->kind == FK_STALL)
        cJSON_AddNumberToObject(j, "ms", (double)f->ms);
    if (f->kind == FK_LATENCY)
        cJSON_AddNumberToObject(j, "jitterMs", (double)f->jitter_ms);
    if (f->kind == FK_ERROR)
        cJSON_AddNumberToObject(j, "status", f->status);
    cJSON_AddNumberToObject(j, "hits", (double)f->hits);
    return j;
}

void hs_fault_add(hs_ctx *c, const hs_fault *f)
{
    if (c->n_faults == c->cap_faults) {
        int cap = c->cap_faults ? c->cap_faults * 2 : 8;
        hs_fault *v = realloc(c->faults, (size_t)cap * sizeof *v);
        if (!v)
            abort();
        c->faults = v;
        c->cap_faults = cap;
    }
    c->faults[c->n_faults] = *f;
    c->faults[c->n_faults].id = ++c->next_fault_id;
    c->faults[c->n_faults].hits = 0;
    c->n_faults++;
}
