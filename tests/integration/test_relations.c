/* Integration tests of associations and relations (the real binary against the simulator and a
 * private PostgreSQL): a backfill's `relations` equals the simulator's relations exactly and
 * lists only the smaller side (requests counted by the simulator); a kill -9 in the middle of
 * the listing resumes without listing a record twice more than once; under `run`, a relation
 * made on a changed record appears after the next poll, one made without touching either
 * record only after the next reconciliation, and relations of a deleted record are marked
 * deleted; the budget cap holds under a long backfill (the simulator's counters). */
#include "status.h"
#include "test.h"
#include "tpg.h"
#include "tpull.h"
#include "tsim.h"

#include <cjson/cJSON.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static bool ready(void)
{
    return tpg_available() && getenv("GHLSYNC_BIN") && getenv("HLSIM_BIN");
}

static char *scalar(PGconn *c, const char *sql)
{
    char *v = tpg_scalar(c, sql);
    return v ? v : strdup("(null)");
}

static long scalar_long(PGconn *c, const char *sql)
{
    char *v = scalar(c, sql);
    long n = strtol(v, NULL, 10);
    free(v);
    return n;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* "id|association|first|second" lines, sorted, joined by "\n" */
static char *sim_relations(const tsim *s)
{
    char path[200], *resp = NULL;
    snprintf(path, sizeof path, "/_admin/relations?locationId=%s", s->loc[0].id);
    if (tsim_admin(s, "GET", path, NULL, &resp) != 200) {
        free(resp);
        return strdup("(admin failed)");
    }
    cJSON *j = cJSON_Parse(resp);
    free(resp);
    cJSON *rels = cJSON_GetObjectItemCaseSensitive(j, "relations"), *r;
    size_t n = (size_t)cJSON_GetArraySize(rels), k = 0, len = 1;
    char **lines = calloc(n + 1, sizeof *lines);
    cJSON_ArrayForEach(r, rels)
    {
        char line[300];
        snprintf(line, sizeof line, "%s|%s|%s|%s",
                 cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "id")),
                 cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "associationId")),
                 cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "firstRecordId")),
                 cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "secondRecordId")));
        lines[k++] = strdup(line);
        len += strlen(line) + 1;
    }
    qsort(lines, k, sizeof *lines, cmp_str);
    char *out = calloc(1, len);
    for (size_t i = 0; i < k; i++) {
        if (i)
            strcat(out, "\n");
        strcat(out, lines[i]);
        free(lines[i]);
    }
    free(lines);
    cJSON_Delete(j);
    return out;
}

static char *db_relations(PGconn *c)
{
    return scalar(c, "SELECT COALESCE(string_agg(id || '|' || association_id || '|' || "
                     "first_record_id || '|' || second_record_id, E'\\n' ORDER BY "
                     "id || '|' || association_id || '|' || first_record_id || '|' || "
                     "second_record_id COLLATE \"C\"), '') FROM ghl.relations WHERE _deleted_at "
                     "IS NULL");
}

static long counter(const tsim *s, const char *endpoint)
{
    char *resp = NULL;
    long n = -1;
    if (tsim_admin(s, "GET", "/_admin/counters", NULL, &resp) == 200) {
        cJSON *j = cJSON_Parse(resp);
        cJSON *e = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(j, "byEndpoint"), endpoint);
        cJSON *t = cJSON_GetObjectItemCaseSensitive(e, "total");
        n = cJSON_IsNumber(t) ? (long)t->valuedouble : 0;
        cJSON_Delete(j);
    }
    free(resp);
    return n;
}

#define REL_LIST "GET /associations/relations/{recordId}"

static bool equal_to_sim(const tsim *s, PGconn *c)
{
    char *a = sim_relations(s), *b = db_relations(c);
    bool eq = !strcmp(a, b);
    if (!eq)
        printf("# simulator:\n# %.600s\n# database:\n# %.600s\n", a, b);
    free(a);
    free(b);
    return eq;
}

/* Backfill: relations equal the simulator's; only pets (30, fewer than the 40 contacts, and
 * also an end of vaccination_pet) are listed: one request each; then kill -9 in a second
 * listing and resume. */
static void backfill_equals(void)
{
    if (!ready()) {
        test_skip("backfill_equals", "no PostgreSQL / binaries");
        return;
    }
    tsim s;
    const char *args[] = {"--locations",
                          "1",
                          "--seed-records",
                          "30",
                          "--seed-contacts",
                          "40",
                          "--seed-relations",
                          "45",
                          "--burst",
                          "0",
                          "--daily",
                          "0",
                          NULL};
    TEST_REQUIRE(tsim_start(&s, args) == 0);
    char ci[512], cfg[512], log[600];
    PGconn *c = tpg_fresh_db("rel_backfill", ci, sizeof ci);
    TEST_REQUIRE(c != NULL);
    TEST_REQUIRE(tpull_config(&s, ci, NULL, cfg, sizeof cfg));
    snprintf(log, sizeof log, "%s.log", cfg);
    const char *a[] = {"backfill", NULL};
    long t0 = tpull_now_ms();
    TEST_EQ_INT(tpull_run(cfg, a, log, 60000), 0);
    long ms = tpull_now_ms() - t0;
    TEST_CHECK(equal_to_sim(&s, c));
    long live = scalar_long(c, "SELECT count(*) FROM ghl.relations WHERE _deleted_at IS NULL");
    TEST_EQ_INT(live, 90);
    /* ends carry their object keys, from the association */
    TEST_EQ_INT(scalar_long(c, "SELECT count(*) FROM ghl.relations r JOIN ghl.associations a ON "
                               "a.id = r.association_id WHERE r.first_object_key = "
                               "a.first_object_key AND r.second_object_key = a.second_object_key "
                               "AND a.key IN ('pet_owner', 'vaccination_pet')"),
                90);
    TEST_EQ_INT(scalar_long(c, "SELECT count(*) FROM ghl.associations WHERE key IN "
                               "('OPPORTUNITIES_CONTACTS_ASSOCIATION', 'pet_owner', "
                               "'vaccination_pet')"),
                3);
    long req = counter(&s, REL_LIST);
    long records = scalar_long(c, "SELECT last_full_records FROM ghlsync.relation_state");
    long spent = scalar_long(c, "SELECT last_full_requests FROM ghlsync.relation_state");
    TEST_EQ_INT(records, 30); /* the pets only */
    TEST_EQ_INT(req, 30);
    TEST_EQ_INT(spent, req + counter(&s, "GET /associations/"));
    printf("# backfill listed %ld records with %ld relation requests (%.0f per 1000 records), "
           "%ld ms in all\n",
           records, spent, records ? 1000.0 * (double)spent / (double)records : 0.0, ms);
    /* the join of the README: pets with their owner's email */
    TEST_EQ_INT(scalar_long(c, "SELECT count(*) FROM ghl.pet p JOIN ghl.relations r ON "
                               "r.first_record_id = p.id AND r._deleted_at IS NULL JOIN "
                               "ghl.associations a ON a.id = r.association_id AND a.key = "
                               "'pet_owner' JOIN ghl.contacts c ON c.id = r.second_record_id"),
                45);

    /* `ghlsync push` sends local changes and lists no relations (not even the associations) */
    long assoc_calls = counter(&s, "GET /associations/");
    const char *pa[] = {"push", NULL};
    TEST_EQ_INT(tpull_run(cfg, pa, log, 30000), 0);
    TEST_EQ_INT(counter(&s, "GET /associations/"), assoc_calls);
    TEST_EQ_INT(counter(&s, REL_LIST), req);

    /* a second, slow listing killed in the middle, then resumed */
    tsim_admin(&s, "POST", "/_admin/faults",
               "{\"kind\":\"latency\",\"ms\":60,\"path\":\"/associations/relations\"}", NULL);
    tpg_exec(c, "UPDATE ghlsync.relation_state SET last_full_at = now() - interval '2 days'");
    char body[300], path[200], *resp = NULL;
    snprintf(path, sizeof path, "/_admin/relations?locationId=%s", s.loc[0].id);
    tsim_admin(&s, "GET", path, NULL, &resp);
    cJSON *all = cJSON_Parse(resp);
    free(resp);
    /* a relation removed remotely without touching its records */
    const char *gone = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
        cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(all, "relations"), 0), "id"));
    snprintf(body, sizeof body, "/_admin/relations/%s?locationId=%s", gone, s.loc[0].id);
    TEST_EQ_INT(tsim_admin(&s, "DELETE", body, NULL, NULL), 200);
    cJSON_Delete(all);
    tsim_admin(&s, "POST", "/_admin/counters/reset", NULL, NULL);
    pid_t pid = tpull_spawn(cfg, a, log);
    TEST_REQUIRE(pid > 0);
    TEST_CHECK(
        tpull_wait_scalar(c, "SELECT full_records >= 8 FROM ghlsync.relation_state", "t", 30000));
    kill(pid, SIGKILL);
    tpull_wait(pid, 5000);
    long before = scalar_long(c, "SELECT full_records FROM ghlsync.relation_state");
    TEST_CHECK(before >= 8 && before < 30);
    TEST_EQ_INT(tpull_run(cfg, a, log, 60000), 0);
    TEST_CHECK(equal_to_sim(&s, c));
    TEST_EQ_INT(scalar_long(c, "SELECT last_full_records FROM ghlsync.relation_state"), 30);
    /* at most the record in flight at the kill is listed twice */
    long again = counter(&s, REL_LIST);
    TEST_CHECK_MSG(again >= 30 && again <= 31, "relation requests after resume: %ld", again);
    TEST_EQ_INT(scalar_long(c, "SELECT count(*) FROM ghl.relations WHERE _deleted_at IS NOT NULL"),
                1);
    PQfinish(c);
    tsim_stop(&s);
}

static bool admin_ok(const tsim *s, const char *method, const char *path, const char *body,
                     char *id_out, size_t len)
{
    char *resp = NULL;
    long st = tsim_admin(s, method, path, body, &resp);
    if (id_out) {
        cJSON *j = cJSON_Parse(resp ? resp : "{}");
        const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(j, "relation"), "id"));
        snprintf(id_out, len, "%s", id ? id : "");
        cJSON_Delete(j);
    }
    free(resp);
    return st >= 200 && st < 300;
}

static bool has_rel(PGconn *c, const char *id)
{
    char sql[300];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM ghl.relations WHERE id = '%s' AND _deleted_at IS NULL", id);
    return scalar_long(c, sql) == 1;
}

/* `run`: incremental passes and the reconciliation. */
static void run_incremental_and_reconcile(void)
{
    if (!ready()) {
        test_skip("run_incremental_and_reconcile", "no PostgreSQL / binaries");
        return;
    }
    tsim s;
    const char *args[] = {"--locations",
                          "1",
                          "--seed-records",
                          "10",
                          "--seed-contacts",
                          "12",
                          "--seed-relations",
                          "8",
                          "--burst",
                          "0",
                          "--daily",
                          "0",
                          NULL};
    TEST_REQUIRE(tsim_start(&s, args) == 0);
    char ci[512], cfg[512], log[600];
    PGconn *c = tpg_fresh_db("rel_run", ci, sizeof ci);
    TEST_REQUIRE(c != NULL);
    TEST_REQUIRE(tpull_config(&s, ci,
                              "[pull]\npoll_interval = \"300ms\"\noverlap = \"1s\"\n"
                              "[relations]\npoll_interval = \"300ms\"\n"
                              "reconcile_interval = \"8s\"\n",
                              cfg, sizeof cfg));
    snprintf(log, sizeof log, "%s.log", cfg);
    const char *a[] = {"run", NULL};
    pid_t pid = tpull_spawn(cfg, a, log);
    TEST_REQUIRE(pid > 0);
    TEST_REQUIRE(tpull_wait_scalar(c, "SELECT last_full_at IS NOT NULL FROM ghlsync.relation_state",
                                   "t", 30000));
    /* the pets are all in (run's first full pass may have started before the last page) */
    TEST_REQUIRE(tpull_wait_scalar(c, "SELECT count(*) FROM ghl.pet", "10", 20000));
    TEST_CHECK(tpull_wait_scalar(c, "SELECT count(*) FROM ghl.relations WHERE _deleted_at IS NULL",
                                 "16", 20000));

    /* ids: a pet and a contact not related by the seed */
    char pet[64] = "", pet2[64] = "", contact[64] = "", assoc[64] = "";
    char *v = scalar(c, "SELECT id FROM ghl.associations WHERE key = 'pet_owner'");
    snprintf(assoc, sizeof assoc, "%s", v);
    free(v);
    v = scalar(c, "SELECT p.id FROM ghl.pet p ORDER BY p.id LIMIT 1");
    snprintf(pet, sizeof pet, "%s", v);
    free(v);
    v = scalar(c, "SELECT p.id FROM ghl.pet p ORDER BY p.id DESC LIMIT 1");
    snprintf(pet2, sizeof pet2, "%s", v);
    free(v);
    char sql[600];
    snprintf(sql, sizeof sql,
             "SELECT c.id FROM ghl.contacts c WHERE NOT EXISTS (SELECT 1 FROM ghl.relations r "
             "WHERE r.second_record_id = c.id AND r.first_record_id IN ('%s', '%s')) ORDER BY "
             "c.id LIMIT 1",
             pet, pet2);
    v = scalar(c, sql);
    snprintf(contact, sizeof contact, "%s", v);
    free(v);

    /* wait for a fresh full pass, so that the next one is reconcile_interval away */
    char mark[64];
    v = scalar(c, "SELECT last_full_at::text FROM ghlsync.relation_state");
    snprintf(mark, sizeof mark, "%s", v);
    free(v);
    snprintf(sql, sizeof sql, "SELECT last_full_at > '%s'::timestamptz FROM ghlsync.relation_state",
             mark);
    TEST_REQUIRE(tpull_wait_scalar(c, sql, "t", 20000));

    /* (1) a relation made without touching either record ... */
    char body[400], path[300], r1[64], r2[64];
    snprintf(path, sizeof path, "/_admin/relations?locationId=%s", s.loc[0].id);
    snprintf(body, sizeof body,
             "{\"associationId\":\"%s\",\"firstRecordId\":\"%s\",\"secondRecordId\":\"%s\"}", assoc,
             pet, contact);
    TEST_REQUIRE(admin_ok(&s, "POST", path, body, r1, sizeof r1));
    v = scalar(c, "SELECT now()::text");
    char t1[64];
    snprintf(t1, sizeof t1, "%s", v);
    free(v);
    /* (2) ... and one on a record that changes */
    snprintf(body, sizeof body,
             "{\"associationId\":\"%s\",\"firstRecordId\":\"%s\",\"secondRecordId\":\"%s\"}", assoc,
             pet2, contact);
    TEST_REQUIRE(admin_ok(&s, "POST", path, body, r2, sizeof r2));
    snprintf(path, sizeof path, "/_admin/records/custom_objects.pet/%s?locationId=%s", pet2,
             s.loc[0].id);
    TEST_REQUIRE(admin_ok(&s, "PUT", path, "{\"properties\":{\"name\":\"Moved\"}}", NULL, 0));
    /* the changed record's relation arrives with the next poll, before any reconciliation.
     * A pass stores each record's relations as it lists them and writes last_incr_at only when
     * it ends, so the relation may be visible a moment before the pass is: wait for both. */
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM ghl.relations WHERE id = '%s' AND _deleted_at IS NULL", r2);
    TEST_CHECK(tpull_wait_scalar(c, sql, "1", 6000));
    snprintf(sql, sizeof sql, "SELECT last_incr_at > '%s'::timestamptz FROM ghlsync.relation_state",
             t1);
    TEST_CHECK_MSG(tpull_wait_scalar(c, sql, "t", 6000), "no incremental pass ended since");
    snprintf(sql, sizeof sql,
             "SELECT last_full_at < '%s'::timestamptz AND COALESCE(full_started_at < "
             "'%s'::timestamptz, true) FROM ghlsync.relation_state",
             t1, t1);
    char *st = scalar(c, sql);
    TEST_CHECK_MSG(!strcmp(st, "t"), "no full pass since the relations were made: %s", st);
    free(st);
    /* the untouched one is not there yet: only a reconciliation finds it */
    TEST_CHECK(!has_rel(c, r1));
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM ghl.relations WHERE id = '%s' AND _deleted_at IS NULL", r1);
    TEST_CHECK(tpull_wait_scalar(c, sql, "1", 20000));
    /* found by a reconciliation that began after it was made (it may still be running) */
    snprintf(sql, sizeof sql,
             "SELECT COALESCE(full_started_at > '%s'::timestamptz, false) OR last_full_at > "
             "'%s'::timestamptz FROM ghlsync.relation_state",
             t1, t1);
    v = scalar(c, sql);
    TEST_EQ_STR(v, "t");
    free(v);

    /* (3) a record deleted remotely: its relations go (the API cascades; the next listing of
     * it, or the sweep of vanished records, marks them deleted) */
    snprintf(path, sizeof path, "/_admin/records/custom_objects.pet/%s?locationId=%s", pet2,
             s.loc[0].id);
    TEST_REQUIRE(admin_ok(&s, "DELETE", path, NULL, NULL, 0));
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM ghl.relations WHERE (first_record_id = '%s' OR "
             "second_record_id = '%s') AND _deleted_at IS NULL",
             pet2, pet2);
    TEST_CHECK(tpull_wait_scalar(c, sql, "0", 20000));
    TEST_CHECK(equal_to_sim(&s, c));

    /* `ghlsync status` shows the relations' freshness and the requests they spent today */
    struct status_report rep;
    gs_err err = {0};
    TEST_REQUIRE(status_collect(c, NULL, &rep, &err) == 0);
    char *out = NULL;
    size_t outlen = 0;
    FILE *f = open_memstream(&out, &outlen);
    status_print_text(f, &rep);
    fclose(f);
    TEST_CHECK_MSG(strstr(out, "  relations: - rows, full listing ") != NULL, "%s", out);
    TEST_CHECK_MSG(strstr(out, " ago, changed records ") != NULL, "%s", out);
    long used = scalar_long(c, "SELECT requests_today FROM ghlsync.relation_state");
    char want[120];
    snprintf(want, sizeof want, "requests today %ld of 50000\n", used);
    TEST_CHECK_MSG(used > 10 && strstr(out, want) != NULL, "%s", out);
    free(out);
    char *js = status_to_json(&rep);
    cJSON *j = cJSON_Parse(js);
    cJSON *jr = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "locations"), 0), "relations");
    TEST_CHECK(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(jr, "requests_today")));
    TEST_CHECK(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(jr, "last_full_at")));
    cJSON_Delete(j);
    free(js);
    status_report_free(&rep);
    kill(pid, SIGTERM);
    TEST_EQ_INT(tpull_wait(pid, 10000), 0);
    PQfinish(c);
    tsim_stop(&s);
}

/* The budget cap: with a daily limit of 400, relation listing spends at most 100 requests per
 * UTC day (25 %), however many records wait; a second backfill the same day spends none. */
static void budget_cap(void)
{
    if (!ready()) {
        test_skip("budget_cap", "no PostgreSQL / binaries");
        return;
    }
    tsim s;
    const char *args[] = {"--locations",
                          "1",
                          "--seed-records",
                          "250",
                          "--seed-contacts",
                          "300",
                          "--seed-relations",
                          "200",
                          "--burst",
                          "0",
                          "--daily",
                          "400",
                          NULL};
    TEST_REQUIRE(tsim_start(&s, args) == 0);
    char ci[512], cfg[512], log[600];
    PGconn *c = tpg_fresh_db("rel_budget", ci, sizeof ci);
    TEST_REQUIRE(c != NULL);
    TEST_REQUIRE(tpull_config(&s, ci, "[rate_limit]\ndaily = 400\n", cfg, sizeof cfg));
    snprintf(log, sizeof log, "%s.log", cfg);
    const char *a[] = {"backfill", NULL};
    TEST_EQ_INT(tpull_run(cfg, a, log, 90000), 0);
    long rel = counter(&s, REL_LIST) + counter(&s, "GET /associations/");
    long cap = scalar_long(c, "SELECT budget_cap FROM ghlsync.relation_state");
    long today = scalar_long(c, "SELECT requests_today FROM ghlsync.relation_state");
    printf("# budget: relation requests %ld (simulator), %ld (engine), cap %ld, pets 250\n", rel,
           today, cap);
    TEST_EQ_INT(cap, 100);
    TEST_CHECK(rel <= cap && rel >= cap - 2);
    TEST_EQ_INT(today, rel);
    char *p = scalar(c, "SELECT paused_until > now() FROM ghlsync.relation_state");
    TEST_EQ_STR(p, "t");
    free(p);
    /* the records' backfill itself was not held back: every pet is in */
    TEST_EQ_INT(scalar_long(c, "SELECT count(*) FROM ghl.pet"), 250);
    TEST_EQ_INT(tpull_run(cfg, a, log, 60000), 0);
    TEST_EQ_INT(counter(&s, REL_LIST) + counter(&s, "GET /associations/"), rel);

    PQfinish(c);
    tsim_stop(&s);
}

static bool sim_has(const tsim *s, const char *id)
{
    char path[200], *resp = NULL;
    snprintf(path, sizeof path, "/_admin/relations?locationId=%s", s->loc[0].id);
    tsim_admin(s, "GET", path, NULL, &resp);
    bool has = resp && id && *id && strstr(resp, id) != NULL;
    free(resp);
    return has;
}

static long sim_count(const tsim *s)
{
    char path[200], *resp = NULL;
    snprintf(path, sizeof path, "/_admin/relations?locationId=%s", s->loc[0].id);
    tsim_admin(s, "GET", path, NULL, &resp);
    cJSON *j = cJSON_Parse(resp ? resp : "{}");
    cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "total");
    long n = cJSON_IsNumber(t) ? (long)t->valuedouble : -1;
    cJSON_Delete(j);
    free(resp);
    return n;
}

/* Push: INSERT -> POST, a duplicate pair is done, UPDATE is refused, DELETE -> DELETE, wrong
 * ends fail alone with the API's message, and a new pet with its relation in one statement
 * arrive in that order with the pet's new id filled in. */
static void push_insert_delete(void)
{
    if (!ready()) {
        test_skip("push_insert_delete", "no PostgreSQL / binaries");
        return;
    }
    tsim s;
    const char *args[] = {"--locations",
                          "1",
                          "--seed-records",
                          "6",
                          "--seed-contacts",
                          "6",
                          "--seed-relations",
                          "3",
                          "--burst",
                          "0",
                          "--daily",
                          "0",
                          NULL};
    TEST_REQUIRE(tsim_start(&s, args) == 0);
    char ci[512], cfg[512], log[600];
    PGconn *c = tpg_fresh_db("rel_push", ci, sizeof ci);
    TEST_REQUIRE(c != NULL);
    TEST_REQUIRE(tpull_config(&s, ci,
                              "[pull]\npoll_interval = \"300ms\"\n"
                              "[relations]\npoll_interval = \"300ms\"\n"
                              "reconcile_interval = \"1h\"\n",
                              cfg, sizeof cfg));
    snprintf(log, sizeof log, "%s.log", cfg);
    const char *a[] = {"run", NULL};
    pid_t pid = tpull_spawn(cfg, a, log);
    TEST_REQUIRE(pid > 0);
    TEST_REQUIRE(tpull_wait_scalar(c, "SELECT last_full_at IS NOT NULL FROM ghlsync.relation_state",
                                   "t", 30000));
    TEST_REQUIRE(tpull_wait_scalar(c, "SELECT count(*) FROM ghl.contacts", "6", 20000));
    long base = sim_count(&s);
    char sql[900];
    /* a pet and a contact the seed did not relate */
    char *pair = scalar(c, "SELECT p.id || ' ' || c.id FROM ghl.pet p, ghl.contacts c WHERE NOT "
                           "EXISTS (SELECT 1 FROM ghl.relations r WHERE r.first_record_id = p.id "
                           "AND r.second_record_id = c.id) ORDER BY 1 LIMIT 1");
    char pet[64] = "", contact[64] = "";
    TEST_REQUIRE(sscanf(pair, "%63s %63s", pet, contact) == 2);
    free(pair);
    const char *assoc = "(SELECT id FROM ghl.associations WHERE key = 'pet_owner')";

    /* INSERT */
    snprintf(sql, sizeof sql,
             "INSERT INTO ghl.relations (association_id, first_record_id, second_record_id) "
             "VALUES (%s, '%s', '%s')",
             assoc, pet, contact);
    TEST_REQUIRE(tpg_exec(c, sql));
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM ghl.relations WHERE first_record_id = '%s' AND "
             "second_record_id = '%s' AND id IS NOT NULL AND _sync_state = 'synced'",
             pet, contact);
    TEST_CHECK(tpull_wait_scalar(c, sql, "1", 15000));
    snprintf(sql, sizeof sql,
             "SELECT id FROM ghl.relations WHERE first_record_id = '%s' AND second_record_id = "
             "'%s' AND id IS NOT NULL",
             pet, contact);
    char *rid = scalar(c, sql);
    TEST_CHECK(sim_has(&s, rid));
    TEST_EQ_INT(sim_count(&s), base + 1);

    /* the same pair again: HighLevel answers 400 "duplicate relation": done, one row left */
    snprintf(sql, sizeof sql,
             "INSERT INTO ghl.relations (association_id, first_record_id, second_record_id) "
             "VALUES (%s, '%s', '%s')",
             assoc, pet, contact);
    TEST_REQUIRE(tpg_exec(c, sql));
    TEST_CHECK(tpull_wait_scalar(
        c, "SELECT count(*) FROM ghl.relations WHERE _sync_state = 'pending'", "0", 15000));
    snprintf(sql, sizeof sql,
             "SELECT count(*) || '/' || min(_sync_state) || '/' || min(id) FROM ghl.relations "
             "WHERE first_record_id = '%s' AND second_record_id = '%s'",
             pet, contact);
    char *dup = scalar(c, sql), want[200];
    snprintf(want, sizeof want, "1/synced/%s", rid);
    TEST_EQ_STR(dup, want);
    free(dup);
    TEST_EQ_INT(sim_count(&s), base + 1);

    /* UPDATE is refused with a message that says what to do */
    snprintf(sql, sizeof sql, "UPDATE ghl.relations SET second_record_id = 'x' WHERE id = '%s'",
             rid);
    PGresult *res = PQexec(c, sql);
    TEST_CHECK(PQresultStatus(res) == PGRES_FATAL_ERROR);
    TEST_CHECK_MSG(strstr(PQerrorMessage(c), "nothing to update") != NULL, "%s", PQerrorMessage(c));
    PQclear(res);

    /* DELETE */
    snprintf(sql, sizeof sql, "DELETE FROM ghl.relations WHERE id = '%s'", rid);
    TEST_REQUIRE(tpg_exec(c, sql));
    TEST_CHECK(tpull_wait_scalar(
        c, "SELECT count(*) FROM ghlsync.relation_deletes WHERE state = 'done'", "1", 15000));
    TEST_CHECK(!sim_has(&s, rid));
    TEST_EQ_INT(sim_count(&s), base);
    free(rid);

    /* wrong ends (a contact as the pet): fails alone with the API's message */
    snprintf(sql, sizeof sql,
             "INSERT INTO ghl.relations (association_id, first_record_id, second_record_id) "
             "VALUES (%s, '%s', '%s')",
             assoc, contact, pet);
    TEST_REQUIRE(tpg_exec(c, sql));
    snprintf(sql, sizeof sql,
             "SELECT _sync_state || ': ' || _sync_error FROM ghl.relations WHERE first_record_id "
             "= '%s'",
             contact);
    TEST_CHECK(tpull_wait_scalar(
        c,
        "SELECT count(*) FROM ghl.relations WHERE _sync_state = 'failed' AND _sync_error LIKE "
        "'%not found in custom_objects.pet%'",
        "1", 15000));

    /* an association HighLevel does not know: that row alone fails, with the API's message */
    char *loc = scalar(c, "SELECT min(location_id) FROM ghl.associations");
    snprintf(sql, sizeof sql,
             "INSERT INTO ghl.relations (location_id, association_id, first_record_id, "
             "second_record_id) VALUES ('%s', 'noSuchAssociation', '%s', '%s')",
             loc, pet, contact);
    free(loc);
    TEST_REQUIRE(tpg_exec(c, sql));
    TEST_CHECK(tpull_wait_scalar(c,
                                 "SELECT _sync_state || ': ' || _sync_error FROM ghl.relations "
                                 "WHERE association_id = 'noSuchAssociation'",
                                 "failed: Association noSuchAssociation not found", 15000));

    /* a new pet and its relation in one statement: the pet is created first, the relation
     * right after it with the new id (the simulator refuses a relation to an unknown record) */
    snprintf(sql, sizeof sql,
             "WITH p AS (INSERT INTO ghl.pet (name) VALUES ('Rex') RETURNING _local_id) INSERT "
             "INTO ghl.relations (association_id, first_local_id, second_record_id) SELECT %s, "
             "p._local_id, '%s' FROM p",
             assoc, contact);
    TEST_REQUIRE(tpg_exec(c, sql));
    TEST_CHECK(tpull_wait_scalar(
        c,
        "SELECT count(*) FROM ghl.relations r JOIN ghl.pet p ON p.id = r.first_record_id WHERE "
        "p.name = 'Rex' AND r.id IS NOT NULL AND r._sync_state = 'synced'",
        "1", 20000));
    char *rex = scalar(c, "SELECT r.id FROM ghl.relations r JOIN ghl.pet p ON p.id = "
                          "r.first_record_id WHERE p.name = 'Rex'");
    TEST_CHECK(sim_has(&s, rex));
    free(rex);
    /* the pulled listing agrees with what was pushed (no stray or duplicate rows) */
    TEST_CHECK(tpull_wait_scalar(
        c, "SELECT count(*) FROM ghl.relations WHERE _sync_state = 'pending'", "0", 5000));
    kill(pid, SIGTERM);
    TEST_EQ_INT(tpull_wait(pid, 10000), 0);
    PQfinish(c);
    tsim_stop(&s);
}

int main(void)
{
    TEST_RUN(backfill_equals);
    TEST_RUN(run_incremental_and_reconcile);
    TEST_RUN(budget_cap);
    TEST_RUN(push_insert_delete);
    return test_done();
}
