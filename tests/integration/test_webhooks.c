/* Integration test of [webhooks] (webhooks.h) with the real `ghlsync run`, the simulator's
 * signed webhooks and a private PostgreSQL:
 *   - a remote edit arrives through a webhook within seconds although the poll interval is 60 s
 *     (a custom object record: the Record* payload has no object key; a contact; an
 *     opportunity);
 *   - wrong / missing signature 401, stale timestamp 400, replayed webhookId 409, oversized
 *     body 413, queue full 429 (then 200 once there is room);
 *   - out-of-order delivery (every event held until the next one): the newest version wins;
 *   - a delete hint for a record that still exists deletes nothing; a real delete is applied;
 *   - the counters on /metrics;
 *   - webhooks that are all dropped are caught by the next poll;
 *   - relations (RelationCreate / RelationDelete): a remote relate and unrelate arrive within
 *     seconds with the relations poll at 60 s and reconciliation at 1 h, a RelationDelete for a
 *     relation that still exists deletes nothing, and a relate whose webhook was dropped is
 *     caught by the next reconciliation; an association created remotely arrives
 *     (AssociationCreate), with a relation of it, and deleting it takes its relations. */
#include "test.h"
#include "thttp.h"
#include "tpg.h"
#include "tpull.h"
#include "tsim.h"

#include <cJSON.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static bool ready(void)
{
    return tpg_available() && getenv("GHLSYNC_BIN") && getenv("HLSIM_BIN");
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)(n > 0 ? n : 0) + 1);
    size_t r = b ? fread(b, 1, (size_t)(n > 0 ? n : 0), f) : 0;
    fclose(f);
    if (b)
        b[r] = 0;
    return b;
}

/* The port of a "<event>" JSON log line, 0 while it is not there. */
static int logged_port(const char *log, const char *event)
{
    char *t = slurp(log);
    char key[64];
    snprintf(key, sizeof key, "\"%s\"", event);
    const char *ev = t ? strstr(t, key) : NULL;
    const char *p = ev ? strstr(ev, "\"port\":") : NULL;
    int port = 0;
    if (p) {
        p += strlen("\"port\":");
        if (*p == '"')
            p++;
        port = atoi(p);
    }
    free(t);
    return port;
}

/* POST /_admin/webhooks/send; returns the status the engine answered (-1 on error). */
static long send_hook(const tsim *s, const char *payload, const char *extra)
{
    char body[4096];
    snprintf(body, sizeof body, "{\"payload\":%s%s%s}", payload, extra ? "," : "",
             extra ? extra : "");
    char *resp = NULL;
    long st = tsim_admin(s, "POST", "/_admin/webhooks/send", body, &resp);
    long got = -1;
    cJSON *j = st == 200 && resp ? cJSON_Parse(resp) : NULL;
    const cJSON *v = cJSON_GetObjectItem(j, "status");
    if (cJSON_IsNumber(v))
        got = (long)v->valuedouble;
    else
        printf("# webhooks/send: %ld %s\n", st, resp ? resp : "");
    cJSON_Delete(j);
    free(resp);
    return got;
}

static double metric(int port, const char *series)
{
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/metrics", port);
    thttp_resp r;
    double v = -1;
    if (thttp_do_timeout("GET", url, NULL, NULL, 5000, &r) == 0 && r.body) {
        size_t n = strlen(series);
        for (const char *p = r.body; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
            if (strncmp(p, series, n) == 0 && p[n] == ' ')
                v = strtod(p + n + 1, NULL);
    }
    thttp_resp_free(&r);
    return v;
}

struct run {
    tsim s;
    PGconn *c;
    char cfg[512], log[600];
    pid_t pid;
    int hook_port, metrics_port;
};

static bool start(struct run *R, const char *tag, const char *pull, const char *hooks_extra)
{
    const char *args[] = {"--locations",
                          "1",
                          "--seed-records",
                          "30",
                          "--seed-contacts",
                          "20",
                          "--seed-opportunities",
                          "5",
                          "--seed-relations",
                          "8",
                          "--webhook-retry-ms",
                          "200",
                          NULL};
    if (tsim_start(&R->s, args) != 0 || !R->s.webhook_key[0])
        return false;
    char ci[512], extra[1024];
    R->c = tpg_fresh_db(tag, ci, sizeof ci);
    if (!R->c)
        return false;
    snprintf(extra, sizeof extra,
             "%s\n[metrics]\nlisten = \"127.0.0.1:0\"\n\n[webhooks]\nlisten = \"127.0.0.1:0\"\n"
             "public_key = \"%s\"\nmax_body = 65536\n%s\n",
             pull, R->s.webhook_key, hooks_extra ? hooks_extra : "");
    if (!tpull_config(&R->s, ci, extra, R->cfg, sizeof R->cfg))
        return false;
    snprintf(R->log, sizeof R->log, "%s.log", R->cfg);
    const char *a[] = {"--log-format", "json", "run", NULL};
    R->pid = tpull_spawn(R->cfg, a, R->log);
    if (R->pid <= 0)
        return false;
    for (long t0 = tpull_now_ms(); tpull_now_ms() - t0 < 20000; usleep(100 * 1000)) {
        R->hook_port = logged_port(R->log, "webhooks.listen");
        R->metrics_port = logged_port(R->log, "metrics.listen");
        if (R->hook_port && R->metrics_port)
            break;
    }
    if (!R->hook_port)
        return false;
    char body[200];
    snprintf(body, sizeof body, "{\"url\":\"http://127.0.0.1:%d/webhooks/highlevel\"}",
             R->hook_port);
    if (tsim_admin(&R->s, "PUT", "/_admin/webhooks", body, NULL) != 200)
        return false;
    /* the backfill of every object first, and the incremental poll that follows it at once:
     * edits after that are what the hooks must bring (the next poll is poll_interval away) */
    bool done = tpull_wait_scalar(
        R->c, "SELECT count(*) >= 5 AND bool_and(complete) FROM ghlsync.pull_state", "t", 30000);
    usleep(2000 * 1000);
    return done;
}

static void stop(struct run *R)
{
    if (R->pid > 0) {
        kill(R->pid, SIGTERM);
        TEST_EQ_INT(tpull_wait(R->pid, 8000), 0);
    }
    if (R->c)
        PQfinish(R->c);
    tsim_stop(&R->s);
}

static char *first_id(PGconn *c, const char *table)
{
    char q[200];
    snprintf(q, sizeof q, "SELECT min(id) FROM %s WHERE _deleted_at IS NULL", table);
    return tpg_scalar(c, q);
}

static void edit_pet(struct run *R, const char *id, const char *name)
{
    char path[300], body[200];
    snprintf(path, sizeof path, "/_admin/records/custom_objects.pet/%s?locationId=%s", id,
             R->s.loc[0].id);
    snprintf(body, sizeof body, "{\"properties\":{\"name\":\"%s\"}}", name);
    TEST_EQ_INT(tsim_admin(&R->s, "PUT", path, body, NULL), 200);
}

static void hooks_accelerate_and_verify(void)
{
    struct run R = {0};
    /* poll every 60 s (the default): anything seen within seconds came by webhook */
    TEST_REQUIRE(start(&R, "hooks", "[pull]\npoll_interval = \"60s\"\n", "queue_max = 5"));
    const char *loc = R.s.loc[0].id;
    char *pet = first_id(R.c, "ghl.pet");
    TEST_REQUIRE(pet != NULL);

    /* a remote edit of a custom object record (RecordUpdate has no object key) */
    long t0 = tpull_now_ms();
    edit_pet(&R, pet, "hooked-1");
    char q[400];
    snprintf(q, sizeof q, "SELECT name FROM ghl.pet WHERE id = '%s'", pet);
    TEST_CHECK_MSG(tpull_wait_scalar(R.c, q, "hooked-1", 5000),
                   "a remote edit is mirrored within 5 s with a 60 s poll");
    printf("# remote edit -> row: %ld ms\n", tpull_now_ms() - t0);

    /* a contact edited remotely (the flat ContactUpdate payload) */
    char *ct = first_id(R.c, "ghl.contacts");
    TEST_REQUIRE(ct != NULL);
    char path[300];
    snprintf(path, sizeof path, "/_admin/contacts/%s?locationId=%s", ct, loc);
    long st = tsim_admin(&R.s, "PUT", path, "{\"firstName\":\"Hooked\"}", NULL);
    TEST_CHECK_MSG(st == 200, "admin contact edit: %ld", st);
    snprintf(q, sizeof q, "SELECT first_name FROM ghl.contacts WHERE id = '%s'", ct);
    TEST_CHECK(tpull_wait_scalar(R.c, q, "Hooked", 5000));

    /* an opportunity (the Opportunity* payload) */
    char *op = first_id(R.c, "ghl.opportunities");
    TEST_REQUIRE(op != NULL);
    snprintf(path, sizeof path, "/_admin/opportunities/%s?locationId=%s", op, loc);
    st = tsim_admin(&R.s, "PUT", path, "{\"name\":\"Hooked deal\"}", NULL);
    TEST_CHECK_MSG(st == 200, "admin opportunity edit: %ld", st);
    snprintf(q, sizeof q, "SELECT name FROM ghl.opportunities WHERE id = '%s'", op);
    TEST_CHECK(tpull_wait_scalar(R.c, q, "Hooked deal", 5000));
    free(op);

    /* verification */
    char pl[600];
    snprintf(pl, sizeof pl, "{\"type\":\"RecordUpdate\",\"locationId\":\"%s\",\"id\":\"%s\"}", loc,
             pet);
    TEST_EQ_INT(send_hook(&R.s, pl, "\"signature\":\"bad\""), 401);
    TEST_EQ_INT(send_hook(&R.s, pl, "\"signature\":\"none\""), 401);
    TEST_EQ_INT(send_hook(&R.s, pl, "\"timestampOffsetMs\":-600000"), 400);
    TEST_EQ_INT(send_hook(&R.s, pl, "\"pad\":70000"), 413);
    snprintf(pl, sizeof pl,
             "{\"type\":\"RecordUpdate\",\"locationId\":\"%s\",\"id\":\"%s\","
             "\"webhookId\":\"replay-1\"}",
             loc, pet);
    TEST_EQ_INT(send_hook(&R.s, pl, NULL), 200);
    TEST_EQ_INT(send_hook(&R.s, pl, NULL), 409);
    /* not mirrored here: accepted (final) and dropped */
    TEST_EQ_INT(send_hook(&R.s,
                          "{\"type\":\"ContactUpdate\",\"locationId\":\"elsewhere\",\"id\":\"x\"}",
                          NULL),
                200);
    snprintf(pl, sizeof pl, "{\"type\":\"NoteCreate\",\"locationId\":\"%s\",\"id\":\"n1\"}", loc);
    TEST_EQ_INT(send_hook(&R.s, pl, NULL), 200);

    /* a relation of an association this mirror has not listed: recorded, then dropped */
    snprintf(pl, sizeof pl,
             "{\"type\":\"RelationCreate\",\"locationId\":\"%s\",\"id\":\"rel-1\","
             "\"firstRecordId\":\"%s\",\"secondRecordId\":\"%s\",\"associationId\":\"a1\","
             "\"webhookId\":\"relation-1\"}",
             loc, pet, ct);
    TEST_EQ_INT(send_hook(&R.s, pl, NULL), 200);
    TEST_CHECK(tpull_wait_scalar(R.c,
                                 "SELECT state || '/' || note || '/' || (detail->>'firstRecordId' "
                                 "IS NOT NULL) FROM ghlsync.webhook_hints WHERE webhook_id = "
                                 "'relation-1'",
                                 "dropped/association/true", 5000));

    /* a delete hint for a record that still exists: nothing is deleted */
    snprintf(pl, sizeof pl,
             "{\"type\":\"RecordDelete\",\"locationId\":\"%s\",\"id\":\"%s\","
             "\"webhookId\":\"fake-delete\"}",
             loc, pet);
    TEST_EQ_INT(send_hook(&R.s, pl, NULL), 200);
    TEST_CHECK(tpull_wait_scalar(
        R.c,
        "SELECT state || '/' || note FROM ghlsync.webhook_hints WHERE webhook_id = 'fake-delete'",
        "applied/kept", 5000));
    snprintf(q, sizeof q, "SELECT _deleted_at IS NULL FROM ghl.pet WHERE id = '%s'", pet);
    TEST_CHECK_MSG(tpull_wait_scalar(R.c, q, "t", 100), "the row is still live");

    /* a real remote delete arrives by webhook and is confirmed by a 404 */
    char *gone = tpg_scalar(R.c, "SELECT max(id) FROM ghl.pet WHERE _deleted_at IS NULL");
    TEST_REQUIRE(gone != NULL);
    snprintf(path, sizeof path, "/_admin/records/custom_objects.pet/%s?locationId=%s", gone, loc);
    TEST_EQ_INT(tsim_admin(&R.s, "DELETE", path, NULL, NULL), 200);
    snprintf(q, sizeof q, "SELECT _deleted_at IS NOT NULL FROM ghl.pet WHERE id = '%s'", gone);
    TEST_CHECK_MSG(tpull_wait_scalar(R.c, q, "t", 5000), "deleted remotely -> soft deleted");

    /* out of order: every event is held until the next one is sent */
    TEST_EQ_INT(tsim_admin(&R.s, "PUT", "/_admin/webhooks", "{\"reorder\":1}", NULL), 200);
    edit_pet(&R, pet, "order-1");
    edit_pet(&R, pet, "order-2");
    TEST_EQ_INT(tsim_admin(&R.s, "PUT", "/_admin/webhooks", "{\"reorder\":0}", NULL), 200);
    snprintf(q, sizeof q, "SELECT name FROM ghl.pet WHERE id = '%s'", pet);
    TEST_CHECK(tpull_wait_scalar(R.c, q, "order-2", 8000));
    usleep(1500 * 1000); /* the held first event lands after the second: nothing moves back */
    TEST_CHECK(tpull_wait_scalar(R.c, q, "order-2", 100));

    /* queue full: 5 hints that are not due fill it; 429 until there is room */
    TEST_CHECK(tpg_exec(R.c, "INSERT INTO ghlsync.webhook_hints (webhook_id, location_id, "
                             "event_type, record_id, not_before) SELECT 'filler-' || g, 'l', "
                             "'RecordUpdate', 'r', now() + interval '1 hour' "
                             "FROM generate_series(1, 5) g"));
    snprintf(pl, sizeof pl, "{\"type\":\"RecordUpdate\",\"locationId\":\"%s\",\"id\":\"%s\"}", loc,
             pet);
    TEST_EQ_INT(send_hook(&R.s, pl, NULL), 429);
    TEST_CHECK(tpg_exec(R.c, "DELETE FROM ghlsync.webhook_hints WHERE webhook_id LIKE 'filler-%'"));
    TEST_EQ_INT(send_hook(&R.s, pl, NULL), 200);

    /* metrics */
    if (R.metrics_port) {
        int mp = R.metrics_port;
        TEST_CHECK(metric(mp, "ghlsync_webhooks_received_total") >= 10);
        TEST_CHECK(metric(mp, "ghlsync_webhooks_rejected_total{reason=\"signature\"}") >= 1);
        TEST_CHECK(metric(mp, "ghlsync_webhooks_rejected_total{reason=\"unsigned\"}") >= 1);
        TEST_CHECK(metric(mp, "ghlsync_webhooks_rejected_total{reason=\"stale\"}") >= 1);
        TEST_CHECK(metric(mp, "ghlsync_webhooks_rejected_total{reason=\"replayed\"}") >= 1);
        TEST_CHECK(metric(mp, "ghlsync_webhooks_rejected_total{reason=\"too_large\"}") >= 1);
        TEST_CHECK(metric(mp, "ghlsync_webhooks_rejected_total{reason=\"queue_full\"}") >= 1);
        TEST_CHECK(metric(mp, "ghlsync_webhooks_dropped_total{reason=\"location\"}") >= 1);
        TEST_CHECK(metric(mp, "ghlsync_webhooks_dropped_total{reason=\"event_type\"}") >= 1);
        TEST_CHECK(metric(mp, "ghlsync_webhooks_dropped_total{reason=\"association\"}") >= 1);
        TEST_CHECK(metric(mp, "ghlsync_webhooks_applied_total{outcome=\"updated\"}") >= 2);
        TEST_CHECK(metric(mp, "ghlsync_webhooks_applied_total{outcome=\"deleted\"}") >= 1);
        double p50 = metric(mp, "ghlsync_webhooks_lag_seconds{quantile=\"0.5\"}");
        printf("# webhook lag p50 %.3f s\n", p50);
        TEST_CHECK(p50 >= 0 && p50 < 5);
    } else {
        TEST_CHECK_MSG(false, "metrics.listen logged");
    }
    free(pet);
    free(ct);
    free(gone);
    stop(&R);
}

/* "<pet> <contact>": a pet and a contact the mirror holds no relation between. */
static char *unrelated_pair(PGconn *c)
{
    return tpg_scalar(c, "SELECT p.id || ' ' || c.id FROM ghl.pet p CROSS JOIN ghl.contacts c "
                         "WHERE p._deleted_at IS NULL AND c._deleted_at IS NULL AND NOT EXISTS "
                         "(SELECT 1 FROM ghl.relations r WHERE r.first_record_id = p.id AND "
                         "r.second_record_id = c.id) ORDER BY 1 LIMIT 1");
}

/* Relate a pet and a contact "as another user" (pet_owner); the new relation's id, or NULL. */
static char *relate(struct run *R, const char *assoc, const char *pair)
{
    char pet[64], ct[64];
    if (!pair || sscanf(pair, "%63s %63s", pet, ct) != 2)
        return NULL;
    char path[200], body[400], *resp = NULL;
    snprintf(path, sizeof path, "/_admin/relations?locationId=%s", R->s.loc[0].id);
    snprintf(body, sizeof body,
             "{\"associationId\":\"%s\",\"firstRecordId\":\"%s\",\"secondRecordId\":\"%s\"}", assoc,
             pet, ct);
    long st = tsim_admin(&R->s, "POST", path, body, &resp);
    cJSON *j = st == 201 && resp ? cJSON_Parse(resp) : NULL;
    const char *id = cJSON_GetStringValue(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "relation"), "id"));
    char *out = id ? strdup(id) : NULL;
    if (!out)
        printf("# relate: %ld %s\n", st, resp ? resp : "");
    cJSON_Delete(j);
    free(resp);
    return out;
}

static bool rel_state(PGconn *c, const char *id, const char *want, long ms)
{
    char q[300];
    snprintf(q, sizeof q,
             "SELECT CASE WHEN _deleted_at IS NULL THEN 'live' ELSE 'deleted' END FROM "
             "ghl.relations WHERE id = '%s'",
             id);
    return tpull_wait_scalar(c, q, want, ms);
}

/* RelationCreate / RelationDelete re-list one end of the relation at push priority: with the
 * relations poll at 60 s and reconciliation at 1 h, what arrives within seconds came by hook. */
static void relation_hooks(void)
{
    struct run R = {0};
    TEST_REQUIRE(start(&R, "hooksrel",
                       "[pull]\npoll_interval = \"60s\"\n[relations]\npoll_interval = \"60s\"\n"
                       "reconcile_interval = \"1h\"\n",
                       NULL));
    TEST_REQUIRE(tpull_wait_scalar(
        R.c, "SELECT last_full_at IS NOT NULL FROM ghlsync.relation_state", "t", 30000));
    char *assoc = tpg_scalar(R.c, "SELECT id FROM ghl.associations WHERE key = 'pet_owner'");
    TEST_REQUIRE(assoc != NULL);
    char *budget0 = tpg_scalar(R.c, "SELECT requests_today FROM ghlsync.relation_state");

    /* a remote relate, its webhook sent twice (the second is a replay: 409) */
    TEST_EQ_INT(tsim_admin(&R.s, "PUT", "/_admin/webhooks", "{\"duplicate\":1}", NULL), 200);
    char *pair = unrelated_pair(R.c);
    long t0 = tpull_now_ms();
    char *rel = relate(&R, assoc, pair);
    TEST_REQUIRE(rel != NULL);
    TEST_CHECK_MSG(rel_state(R.c, rel, "live", 5000), "a remote relate is mirrored within 5 s");
    printf("# remote relate -> row: %ld ms\n", tpull_now_ms() - t0);
    char q[400];
    snprintf(q, sizeof q,
             "SELECT association_id = '%s' AND first_object_key = 'custom_objects.pet' AND "
             "second_object_key = 'contact' FROM ghl.relations WHERE id = '%s'",
             assoc, rel);
    TEST_CHECK(tpull_wait_scalar(R.c, q, "t", 100));

    /* a remote unrelate, its webhook delayed by 500 ms */
    TEST_EQ_INT(tsim_admin(&R.s, "PUT", "/_admin/webhooks",
                           "{\"duplicate\":0,\"delay\":1,\"delayMs\":500}", NULL),
                200);
    char path[300];
    snprintf(path, sizeof path, "/_admin/relations/%s?locationId=%s", rel, R.s.loc[0].id);
    TEST_EQ_INT(tsim_admin(&R.s, "DELETE", path, NULL, NULL), 200);
    TEST_CHECK_MSG(rel_state(R.c, rel, "deleted", 5000), "a remote unrelate within 5 s");
    TEST_EQ_INT(tsim_admin(&R.s, "PUT", "/_admin/webhooks", "{\"delay\":0}", NULL), 200);

    /* a RelationDelete for a relation that still exists: confirmed absent first, so kept */
    char *pair2 = unrelated_pair(R.c);
    char *live = relate(&R, assoc, pair2);
    TEST_REQUIRE(live != NULL);
    TEST_CHECK(rel_state(R.c, live, "live", 5000));
    char pet[64] = "", ct[64] = "", pl[800];
    if (pair2)
        sscanf(pair2, "%63s %63s", pet, ct);
    snprintf(pl, sizeof pl,
             "{\"type\":\"RelationDelete\",\"locationId\":\"%s\",\"id\":\"%s\","
             "\"associationId\":\"%s\",\"firstObjectKey\":\"custom_objects.pet\","
             "\"firstRecordId\":\"%s\",\"secondObjectKey\":\"contact\","
             "\"secondRecordId\":\"%s\",\"webhookId\":\"fake-rel-delete\"}",
             R.s.loc[0].id, live, assoc, pet, ct);
    TEST_EQ_INT(send_hook(&R.s, pl, NULL), 200);
    TEST_CHECK(tpull_wait_scalar(R.c,
                                 "SELECT state || '/' || note FROM ghlsync.webhook_hints WHERE "
                                 "webhook_id = 'fake-rel-delete'",
                                 "applied/kept", 5000));
    TEST_CHECK_MSG(rel_state(R.c, live, "live", 100), "the relation is still live");

    /* ends not mirrored: dropped */
    snprintf(pl, sizeof pl,
             "{\"type\":\"RelationCreate\",\"locationId\":\"%s\",\"id\":\"r-x\","
             "\"associationId\":\"%s\",\"firstObjectKey\":\"custom_objects.nope\","
             "\"firstRecordId\":\"a\",\"secondObjectKey\":\"nope\",\"secondRecordId\":\"b\","
             "\"webhookId\":\"rel-ends\"}",
             R.s.loc[0].id, "no-such-association");
    TEST_EQ_INT(send_hook(&R.s, pl, NULL), 200);
    TEST_CHECK(tpull_wait_scalar(R.c,
                                 "SELECT state || '/' || note FROM ghlsync.webhook_hints WHERE "
                                 "webhook_id = 'rel-ends'",
                                 "dropped/association", 5000));

    /* an association created remotely arrives (AssociationCreate), a relation of it too, and
     * deleting it (AssociationDelete) takes its relations with it */
    snprintf(path, sizeof path, "/_admin/associations?locationId=%s", R.s.loc[0].id);
    char *resp = NULL;
    TEST_EQ_INT(tsim_admin(&R.s, "POST", path,
                           "{\"key\":\"pet_sitter\",\"firstObjectKey\":\"custom_objects.pet\","
                           "\"secondObjectKey\":\"contact\"}",
                           &resp),
                201);
    cJSON *aj = resp ? cJSON_Parse(resp) : NULL;
    const char *a2 = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(aj, "association"), "id"));
    TEST_REQUIRE(a2 != NULL);
    snprintf(q, sizeof q,
             "SELECT key || '/' || first_object_key || '/' || second_object_key FROM "
             "ghl.associations WHERE id = '%s'",
             a2);
    TEST_CHECK_MSG(tpull_wait_scalar(R.c, q, "pet_sitter/custom_objects.pet/contact", 5000),
                   "a remote association arrives within 5 s");
    char *sitter = relate(&R, a2, pair);
    TEST_REQUIRE(sitter != NULL);
    TEST_CHECK_MSG(rel_state(R.c, sitter, "live", 5000), "a relation of the new association");
    snprintf(path, sizeof path, "/_admin/associations/%s?locationId=%s", a2, R.s.loc[0].id);
    TEST_EQ_INT(tsim_admin(&R.s, "DELETE", path, NULL, NULL), 200);
    snprintf(q, sizeof q, "SELECT count(*) FROM ghl.associations WHERE id = '%s'", a2);
    TEST_CHECK_MSG(tpull_wait_scalar(R.c, q, "0", 5000), "a remote association delete");
    TEST_CHECK_MSG(rel_state(R.c, sitter, "deleted", 5000), "its relations go with it");
    cJSON_Delete(aj);
    free(resp);
    free(sitter);

    /* the hooks' listings are counted apart, not against [relations] budget_share */
    char *budget1 = tpg_scalar(R.c, "SELECT requests_today FROM ghlsync.relation_state");
    TEST_CHECK_MSG(budget0 && budget1 && !strcmp(budget0, budget1),
                   "relation_state.requests_today unchanged by hooks (%s -> %s)",
                   budget0 ? budget0 : "?", budget1 ? budget1 : "?");
    if (R.metrics_port) {
        int mp = R.metrics_port;
        TEST_CHECK(metric(mp, "ghlsync_webhooks_relation_requests_total") >= 3);
        TEST_CHECK(metric(mp, "ghlsync_webhooks_rejected_total{reason=\"replayed\"}") >= 1);
        TEST_CHECK(metric(mp, "ghlsync_webhooks_applied_total{outcome=\"deleted\"}") >= 1);
        TEST_CHECK(metric(mp, "ghlsync_webhooks_applied_total{outcome=\"kept\"}") >= 1);
        TEST_CHECK(metric(mp, "ghlsync_webhooks_applied_total{outcome=\"updated\"}") >= 2);
    } else {
        TEST_CHECK_MSG(false, "metrics.listen logged");
    }
    free(budget0);
    free(budget1);
    free(pair);
    free(pair2);
    free(rel);
    free(live);
    free(assoc);
    stop(&R);
}

/* A relate whose webhook is lost (and which moves no updatedAt): the next reconciliation. */
static void dropped_relation_hook_caught_by_reconcile(void)
{
    struct run R = {0};
    TEST_REQUIRE(start(&R, "hooksreldrop",
                       "[pull]\npoll_interval = \"60s\"\n[relations]\npoll_interval = \"1s\"\n"
                       "reconcile_interval = \"3s\"\n",
                       NULL));
    TEST_REQUIRE(tpull_wait_scalar(
        R.c, "SELECT last_full_at IS NOT NULL FROM ghlsync.relation_state", "t", 30000));
    TEST_EQ_INT(tsim_admin(&R.s, "PUT", "/_admin/webhooks", "{\"drop\":1}", NULL), 200);
    char *assoc = tpg_scalar(R.c, "SELECT id FROM ghl.associations WHERE key = 'pet_owner'");
    TEST_REQUIRE(assoc != NULL);
    char *pair = unrelated_pair(R.c);
    char *rel = relate(&R, assoc, pair);
    TEST_REQUIRE(rel != NULL);
    TEST_CHECK_MSG(rel_state(R.c, rel, "live", 15000), "the next full pass brings it");
    char *n = tpg_scalar(R.c, "SELECT count(*) FROM ghlsync.webhook_hints WHERE event_type LIKE "
                              "'Relation%'");
    TEST_CHECK_MSG(n && !strcmp(n, "0"), "no relation hint arrived (%s)", n ? n : "?");
    free(n);
    free(pair);
    free(rel);
    free(assoc);
    stop(&R);
}

/* Every webhook lost (HighLevel gives up on anything but 429): the poll still brings the edit. */
static void dropped_hooks_caught_by_poll(void)
{
    struct run R = {0};
    TEST_REQUIRE(
        start(&R, "hooksdrop", "[pull]\npoll_interval = \"1s\"\noverlap = \"2s\"\n", NULL));
    TEST_EQ_INT(tsim_admin(&R.s, "PUT", "/_admin/webhooks", "{\"drop\":1}", NULL), 200);
    char *pet = first_id(R.c, "ghl.pet");
    TEST_REQUIRE(pet != NULL);
    edit_pet(&R, pet, "polled-1");
    char q[300];
    snprintf(q, sizeof q, "SELECT name FROM ghl.pet WHERE id = '%s'", pet);
    TEST_CHECK(tpull_wait_scalar(R.c, q, "polled-1", 10000));
    char *n = tpg_scalar(R.c, "SELECT count(*) FROM ghlsync.webhook_hints");
    TEST_CHECK_MSG(n && !strcmp(n, "0"), "no hint arrived (%s): the poll did it", n ? n : "?");
    char *resp = NULL;
    TEST_EQ_INT(tsim_admin(&R.s, "GET", "/_admin/webhooks", NULL, &resp), 200);
    cJSON *j = resp ? cJSON_Parse(resp) : NULL;
    const cJSON *d = cJSON_GetObjectItem(j, "dropped");
    TEST_CHECK(cJSON_IsNumber(d) && d->valuedouble >= 1);
    cJSON_Delete(j);
    free(resp);
    free(n);
    free(pet);
    stop(&R);
}

int main(void)
{
    if (!ready()) {
        test_skip("webhooks", "needs PostgreSQL, GHLSYNC_BIN and HLSIM_BIN (tests/run.sh)");
        return test_done();
    }
    TEST_RUN(hooks_accelerate_and_verify);
    TEST_RUN(dropped_hooks_caught_by_poll);
    TEST_RUN(relation_hooks);
    TEST_RUN(dropped_relation_hook_caught_by_reconcile);
    return test_done();
}
