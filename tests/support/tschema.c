/* tschema.c - see tschema.h. */
#include "tschema.h"

#include "migrate.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

cJSON *tschema_call(const tsim *s, int loc, const char *method, const char *path, const char *body,
                    long *status)
{
    char *resp = NULL;
    *status = tsim_api(s, loc, method, path, body, &resp);
    cJSON *j = resp ? cJSON_Parse(resp) : NULL;
    if ((!j || *status >= 400) && resp && *resp)
        printf("# %s %s: HTTP %ld: %.300s\n", method, path, *status, resp);
    free(resp);
    return j;
}

cJSON *tschema_admin(const tsim *s, const char *method, const char *path, const char *body,
                     long *status)
{
    char *resp = NULL;
    *status = tsim_admin(s, method, path, body, &resp);
    cJSON *j = resp ? cJSON_Parse(resp) : NULL;
    if (*status >= 300)
        printf("# admin %s %s: HTTP %ld %.300s\n", method, path, *status, resp ? resp : "");
    free(resp);
    return j;
}

schema_object *tschema_fetch(const tsim *s, int loc, const char *key)
{
    char path[2048];
    char *ek = curl_easy_escape(NULL, key, 0); /* hostile keys hold spaces, quotes, ... */
    snprintf(path, sizeof path, "/objects/%s?locationId=%s&fetchProperties=true", ek ? ek : key,
             s->loc[loc].id);
    curl_free(ek);
    long st;
    cJSON *j = tschema_call(s, loc, "GET", path, NULL, &st);
    schema_object *o = NULL;
    gs_err e = {0};
    if (st != 200 || !j)
        printf("# GET %s: HTTP %ld\n", path, st);
    else if (schema_object_from_json(j, &o, &e))
        printf("# model of %s: %s\n", key, e.msg);
    cJSON_Delete(j);
    return o;
}

int tschema_plan(PGconn *c, schema_object *o, const map_types *t, const char *loc_id, ddl_plan *p,
                 gs_err *e)
{
    ddl_plan_init(p);
    ddl_settings s = {.types = t, .location_id = loc_id};
    int rc = ddl_plan_object(c, o, &s, p, e);
    if (rc)
        printf("# plan %s: %s\n", o->key, e->msg);
    return rc;
}

map_types *tschema_types(void)
{
    char path[4096];
    const char *top = getenv("GHLSYNC_TOP");
    snprintf(path, sizeof path, "%s/mappings/types.toml", top ? top : ".");
    map_types *t = NULL;
    gs_err e = {0};
    if (map_types_load(path, &t, &e)) {
        printf("# %s: %s\n", path, e.msg);
        return NULL;
    }
    return t;
}

int tschema_migrate(PGconn *c)
{
    char dir[4096];
    const char *top = getenv("GHLSYNC_TOP");
    snprintf(dir, sizeof dir, "%s/migrations", top ? top : ".");
    gs_err e = {0};
    int rc = migrate_run(c, dir, NULL, NULL, &e);
    if (rc)
        printf("# migrate: %s\n", e.msg);
    return rc;
}

bool tschema_plan_has(const ddl_plan *p, const char *needle, bool sql_too)
{
    for (size_t i = 0; i < p->n; i++)
        if ((p->steps[i].summary && strstr(p->steps[i].summary, needle)) ||
            (sql_too && strstr(p->steps[i].sql, needle)))
            return true;
    return false;
}

bool tschema_warned(const ddl_plan *p, const char *needle)
{
    for (size_t i = 0; i < p->n_warnings; i++)
        if (strstr(p->warnings[i], needle))
            return true;
    return false;
}
