/*
 * tpush.c - see tpush.h.
 */
#include "tpush.h"

#include "ddl.h"
#include "ident.h"
#include "migrate.h"
#include "tpg.h"
#include "triggers.h"
#include "tsim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int tpush_setup(tpush_db *d, const char *tag, const char *schema_json, enum cfg_direction dir,
                const char *default_loc)
{
    memset(d, 0, sizeof *d);
    gs_err e = {0};
    d->conn = tpg_fresh_db(tag, d->conninfo, sizeof d->conninfo);
    if (!d->conn)
        return -1;
    char dir_path[4096];
    snprintf(dir_path, sizeof dir_path, "%s/migrations",
             getenv("GHLSYNC_TOP") ? getenv("GHLSYNC_TOP") : ".");
    if (migrate_run(d->conn, dir_path, NULL, NULL, &e)) {
        printf("# migrate: %s\n", e.msg);
        return -1;
    }
    if (map_types_builtin(&d->types, &e)) {
        printf("# types: %s\n", e.msg);
        return -1;
    }
    cJSON *resp = cJSON_Parse(schema_json);
    if (!resp || schema_object_from_json(resp, &d->model, &e)) {
        printf("# schema: %s\n", resp ? e.msg : "bad JSON");
        cJSON_Delete(resp);
        return -1;
    }
    cJSON_Delete(resp);
    ddl_settings s = {.schema = "ghl", .types = d->types};
    ddl_plan p;
    ddl_plan_init(&p);
    int rc = ddl_plan_object(d->conn, d->model, &s, &p, &e);
    if (!rc)
        rc = ddl_apply(d->conn, &p, &e);
    ddl_plan_free(&p);
    if (rc) {
        printf("# ddl: %s\n", e.msg);
        return -1;
    }
    trig_settings ts = {.direction = dir, .default_location_id = default_loc};
    if (triggers_apply(d->conn, d->model, &ts, &e)) {
        printf("# triggers: %s\n", e.msg);
        return -1;
    }
    sbuf q = SBUF_INIT;
    ident_quote(&q, d->model->table_schema);
    sbuf_putc(&q, '.');
    ident_quote(&q, d->model->table);
    snprintf(d->qtable, sizeof d->qtable, "%s", sbuf_str(&q));
    sbuf_free(&q);
    return 0;
}

int tpush_setup_sim(tpush_db *d, const char *tag, const tsim *s, int loc, const char *object_key,
                    enum cfg_direction dir)
{
    char path[512], *body = NULL;
    snprintf(path, sizeof path, "/objects/%s?locationId=%s&fetchProperties=true", object_key,
             s->loc[loc].id);
    long st = tsim_api(s, loc, "GET", path, NULL, &body);
    if (st != 200) {
        printf("# schema fetch: HTTP %ld %s\n", st, body ? body : "");
        free(body);
        memset(d, 0, sizeof *d);
        return -1;
    }
    int rc = tpush_setup(d, tag, body, dir, s->loc[loc].id);
    free(body);
    return rc;
}

PGconn *tpush_connect(const tpush_db *d)
{
    PGconn *c = PQconnectdb(d->conninfo);
    if (PQstatus(c) != CONNECTION_OK) {
        printf("# connect: %s", PQerrorMessage(c));
        PQfinish(c);
        return NULL;
    }
    return c;
}

void tpush_close(tpush_db *d)
{
    if (d->conn)
        PQfinish(d->conn);
    schema_object_free(d->model);
    map_types_free(d->types);
    memset(d, 0, sizeof *d);
}

long tpush_count(PGconn *c, const char *sql)
{
    char *v = tpg_scalar(c, sql);
    if (!v) {
        printf("# query failed: %s\n", sql);
        return -1;
    }
    long n = atol(v);
    free(v);
    return n;
}

/* ---- engine-like context ---- */

static void on_idle(void *ud)
{
    tpush_eng *g = ud;
    g->idle = true;
    gs_loop_stop(&g->L);
}

static void on_guard(uv_timer_t *t)
{
    tpush_eng *g = t->data;
    g->timed_out = true;
    gs_loop_stop(&g->L);
}

int tpush_eng_open(tpush_eng *g, const tsim *s, int loc, const tpush_db *d,
                   enum cfg_conflict policy, const char *ext_field, bool fast)
{
    memset(g, 0, sizeof *g);
    gs_err e = {0};
    http_opts ho = {.insecure_http = true, .total_timeout_ms = 10000};
    if (gs_loop_init(&g->L, NULL, &ho, &e)) {
        printf("# loop: %s\n", e.msg);
        return -1;
    }
    hl_client_opts o = {.base_url = s->base_url, .max_attempts = 3, .backoff_base_ms = 50};
    if (fast) {
        o.rate.burst = 100000;
        o.rate.window_ms = 1000;
        o.rate.max_inflight = 64;
    }
    if (hl_client_new(&g->L, &o, &g->hl, &e)) {
        printf("# client: %s\n", e.msg);
        return -1;
    }
    g->loc = hl_location_add(g->hl, s->loc[loc].id, s->loc[loc].token, NULL, 0, NULL, NULL, &e);
    if (!g->loc) {
        printf("# location: %s\n", e.msg);
        return -1;
    }
    push_opts po = {.conninfo = d->conninfo,
                    .once = true,
                    .on_idle = on_idle,
                    .ud = g,
                    .sweep_ms = 200,
                    .backoff_base_ms = 100,
                    .backoff_max_ms = 500,
                    .max_attempts = 3};
    if (push_new(&g->L, &po, &g->push, &e)) {
        printf("# push: %s\n", e.msg);
        return -1;
    }
    push_target t = {.location_id = s->loc[loc].id,
                     .object_key = d->model->key,
                     .hl = g->loc,
                     .model = d->model,
                     .conflict = policy,
                     .external_id_field = ext_field};
    if (push_add_target(g->push, &t, &e)) {
        printf("# target: %s\n", e.msg);
        return -1;
    }
    uv_timer_init(&g->L.uv, &g->guard);
    g->guard.data = g;
    return 0;
}

int tpush_eng_run(tpush_eng *g, long timeout_ms)
{
    gs_err e = {0};
    g->idle = g->timed_out = false;
    if (!g->started) {
        if (push_start(g->push, &e)) {
            printf("# push_start: %s\n", e.msg);
            return -1;
        }
        g->started = true;
    } else {
        push_wake(g->push, NULL);
    }
    uv_timer_start(&g->guard, on_guard, (uint64_t)timeout_ms, 0);
    while (!g->idle && !g->timed_out)
        gs_loop_run(&g->L);
    uv_timer_stop(&g->guard);
    return g->idle ? 0 : -1;
}

void tpush_eng_close(tpush_eng *g)
{
    push_free(g->push);
    hl_client_free(g->hl);
    uv_close((uv_handle_t *)&g->guard, NULL);
    gs_loop_close(&g->L);
}
