/*
 * schema_plan - print (and optionally apply) the schema plan for HighLevel object definitions.
 *
 *   schema_plan [--db CONNINFO] [--apply] [--schema NAME] FILE.json...
 *       each FILE is a GET /objects/{key}?fetchProperties=true response
 *   schema_plan [--db CONNINFO] [--apply] [--schema NAME] --base URL --location ID --token TOKEN
 *       fetches GET /objects/?locationId= and every object's definition (e.g. from hlsim)
 *
 * Without --db the plan is made for an empty database. With --apply the migrations are applied
 * first (from $GHLSYNC_DATADIR/migrations or ./migrations) and the plan is run.
 */
#include "db.h"
#include "ddl.h"
#include "mapping.h"
#include "migrate.h"
#include "schema.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t collect(char *p, size_t sz, size_t n, void *ud)
{
    sbuf_append(ud, p, sz * n);
    return sz * n;
}

static cJSON *http_get(const char *url, const char *token)
{
    CURL *h = curl_easy_init();
    if (!h)
        return NULL;
    sbuf body = SBUF_INIT;
    char auth[1024];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
    struct curl_slist *hd = curl_slist_append(NULL, auth);
    hd = curl_slist_append(hd, "Version: 2021-07-28");
    hd = curl_slist_append(hd, "Accept: application/json");
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
    CURLcode rc = curl_easy_perform(h);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    cJSON *j = NULL;
    if (rc != CURLE_OK || status != 200)
        fprintf(stderr, "GET %s: %s (HTTP %ld) %.300s\n", url, curl_easy_strerror(rc), status,
                sbuf_str(&body));
    else
        j = cJSON_Parse(sbuf_str(&body));
    curl_slist_free_all(hd);
    curl_easy_cleanup(h);
    sbuf_free(&body);
    return j;
}

static cJSON *read_json(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    sbuf b = SBUF_INIT;
    char buf[8192];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        sbuf_append(&b, buf, n);
    fclose(f);
    cJSON *j = cJSON_Parse(sbuf_str(&b));
    sbuf_free(&b);
    return j;
}

int main(int argc, char **argv)
{
    const char *db = NULL, *schema = NULL, *base = NULL, *loc = NULL, *token = NULL;
    bool apply = false;
    int first_file = argc;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--db") && i + 1 < argc)
            db = argv[++i];
        else if (!strcmp(argv[i], "--schema") && i + 1 < argc)
            schema = argv[++i];
        else if (!strcmp(argv[i], "--base") && i + 1 < argc)
            base = argv[++i];
        else if (!strcmp(argv[i], "--location") && i + 1 < argc)
            loc = argv[++i];
        else if (!strcmp(argv[i], "--token") && i + 1 < argc)
            token = argv[++i];
        else if (!strcmp(argv[i], "--apply"))
            apply = true;
        else if (argv[i][0] == '-') {
            fprintf(stderr, "usage: schema_plan [--db CONNINFO] [--apply] [--schema NAME] "
                            "(FILE.json... | --base URL --location ID --token TOKEN)\n");
            return 2;
        } else {
            first_file = i;
            break;
        }
    }
    gs_err e = {0};
    map_types *types = NULL;
    char tpath[4096];
    if (map_types_find_file(tpath, sizeof tpath, &e) == 0) {
        if (map_types_load(tpath, &types, &e)) {
            fprintf(stderr, "%s\n", e.msg);
            return 2;
        }
    } else if (map_types_builtin(&types, &e)) {
        return 2;
    }
    PGconn *c = NULL;
    if (db && db_connect(db, &c, &e)) {
        fprintf(stderr, "%s\n", e.msg);
        map_types_free(types);
        return 1;
    }
    if (c && apply) {
        char dir[4096];
        if (migrate_find_dir(dir, sizeof dir, &e) || migrate_run(c, dir, NULL, NULL, &e)) {
            fprintf(stderr, "%s\n", e.msg);
            map_types_free(types);
            PQfinish(c);
            return 1;
        }
    }
    /* Gather the schema responses. */
    cJSON **resp = calloc((size_t)argc + 64, sizeof *resp);
    size_t nresp = 0;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (base) {
        if (!loc || !token) {
            fprintf(stderr, "--base needs --location and --token\n");
            return 2;
        }
        char url[2048];
        snprintf(url, sizeof url, "%s/objects/?locationId=%s", base, loc);
        cJSON *list = http_get(url, token);
        char **keys;
        size_t nk;
        if (!list || schema_list_keys(list, &keys, &nk, &e)) {
            fprintf(stderr, "listing objects failed %s\n", e.msg);
            return 1;
        }
        for (size_t i = 0; i < nk && nresp < (size_t)argc + 64; i++) {
            char *k = curl_easy_escape(NULL, keys[i], 0);
            snprintf(url, sizeof url, "%s/objects/%s?locationId=%s&fetchProperties=true", base, k,
                     loc);
            curl_free(k);
            cJSON *r = http_get(url, token);
            if (r)
                resp[nresp++] = r;
            free(keys[i]);
        }
        free(keys);
        cJSON_Delete(list);
    }
    for (int i = first_file; i < argc; i++) {
        cJSON *r = read_json(argv[i]);
        if (!r) {
            fprintf(stderr, "%s: cannot read JSON\n", argv[i]);
            return 1;
        }
        resp[nresp++] = r;
    }
    /* A database that never saw ghlsync: plan as for an empty one (the migrations come first
     * on apply). */
    PGconn *plan_conn = c;
    int version = 0;
    if (c && !apply && migrate_current(c, &version, &e) == 0 && version == 0) {
        printf("# no ghlsync bookkeeping schema in this database yet: planning as for an empty "
               "database (migrations pending)\n");
        plan_conn = NULL;
    }
    ddl_plan plan;
    ddl_plan_init(&plan);
    ddl_settings s = {.schema = schema, .types = types, .location_id = loc};
    int rc = 0;
    for (size_t i = 0; i < nresp && rc == 0; i++) {
        schema_object *o;
        rc = schema_object_from_json(resp[i], &o, &e);
        if (rc == 0) {
            printf("# object %s\n", o->key);
            rc = ddl_plan_object(plan_conn, o, &s, &plan, &e);
            schema_object_free(o);
        }
    }
    if (rc == 0) {
        sbuf out = SBUF_INIT;
        ddl_plan_print(&plan, &out);
        fputs(sbuf_str(&out), stdout);
        sbuf_free(&out);
        if (apply && c) {
            rc = ddl_apply(c, &plan, &e);
            if (rc == 0)
                printf("Applied.\n");
        }
    }
    if (rc)
        fprintf(stderr, "error: %s\n", e.msg);
    ddl_plan_free(&plan);
    for (size_t i = 0; i < nresp; i++)
        cJSON_Delete(resp[i]);
    free(resp);
    map_types_free(types);
    PQfinish(c);
    curl_global_cleanup();
    return rc ? 1 : 0;
}
