/* Integration tests of the Contacts family's push (`ghlsync run` against the simulator and a
 * private PostgreSQL): a tag added remotely while another is added locally ends with both, in
 * HighLevel and in the row; a create refused by the duplicate rule adopts the existing contact
 * and records it; a create whose answer is lost (reset after the contact was made) ends with
 * exactly one contact. */
#include "tcontacts.h"
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

/* Poll the simulator's contact `id` until its tags hold both names. */
static bool remote_has_tags(const tsim *s, const char *id, const char *a, const char *b)
{
    for (int i = 0; i < 300; i++) {
        char *js = tcontacts_get(s, 0, id);
        cJSON *ct = js ? cJSON_Parse(js) : NULL;
        bool ha = false, hb = false;
        const cJSON *t;
        cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(ct, "tags"))
        {
            ha |= cJSON_IsString(t) && !strcmp(t->valuestring, a);
            hb |= cJSON_IsString(t) && !strcmp(t->valuestring, b);
        }
        cJSON_Delete(ct);
        free(js);
        if (ha && hb)
            return true;
        usleep(100000);
    }
    return false;
}

static int count_email(const tsim *s, const char *email)
{
    char path[200], *resp = NULL;
    snprintf(path, sizeof path, "/_admin/contacts?locationId=%s", s->loc[0].id);
    if (tsim_admin(s, "GET", path, NULL, &resp) != 200) {
        free(resp);
        return -1;
    }
    cJSON *j = cJSON_Parse(resp);
    free(resp);
    int n = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(j, "contacts"))
    {
        const char *e = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "email"));
        n += e && !strcasecmp(e, email);
    }
    cJSON_Delete(j);
    return n;
}

static void push_contacts(void)
{
    tsim s;
    const char *args[] = {"--locations", "1", "--seed-records", "0",    "--seed-contacts", "20",
                          "--burst",     "0", "--index-lag-ms", "2000", "--search-names",  NULL};
    TEST_REQUIRE(tsim_start(&s, args) == 0);
    char ci[512], cfg[512];
    PGconn *c = tpg_fresh_db("ct_push", ci, sizeof ci);
    TEST_REQUIRE(c != NULL);
    /* no polls while the faults below are armed: they would match the search path too */
    TEST_REQUIRE(tpull_config(&s, ci, "[pull]\npoll_interval = \"1h\"\n", cfg, sizeof cfg));
    const char *a[] = {"run", NULL};
    pid_t p = tpull_spawn(cfg, a, NULL);
    TEST_REQUIRE(p > 0);
    TEST_CHECK(tpull_wait_scalar(
        c, "SELECT complete::text FROM ghlsync.pull_state WHERE object_key = 'contact'", "true",
        30000));
    sleep(1); /* the first incremental poll follows the scan at once */

    /* 1. tags: one added in HighLevel, one in the table, before either side saw the other */
    char *id = scalar(c, "SELECT id FROM ghl.contacts ORDER BY id LIMIT 1");
    char path[300], q[600];
    snprintf(path, sizeof path, "/_admin/contacts/%s/tags?locationId=%s", id, s.loc[0].id);
    TEST_EQ_INT(tsim_admin(&s, "POST", path, "{\"tags\": [\"remote-tag\"]}", NULL), 200);
    snprintf(q, sizeof q,
             "UPDATE ghl.contacts SET tags = array_append(coalesce(tags, '{}'), 'local-tag') "
             "WHERE id = '%s'",
             id);
    TEST_CHECK(tpg_exec(c, q));
    TEST_CHECK(remote_has_tags(&s, id, "remote-tag", "local-tag"));
    snprintf(q, sizeof q,
             "SELECT ('remote-tag' = ANY(tags) AND 'local-tag' = ANY(tags) AND _sync_state = "
             "'done')::text FROM ghl.contacts WHERE id = '%s'",
             id);
    TEST_CHECK(tpull_wait_scalar(c, q, "true", 30000));

    /* 2. the duplicate rule: a local row with an existing contact's email adopts it */
    snprintf(path, sizeof path, "/_admin/contact-settings?locationId=%s", s.loc[0].id);
    TEST_EQ_INT(tsim_admin(&s, "PUT", path, "{\"duplicates\": [\"email\"]}", NULL), 200);
    int before = tcontacts_count(&s, 0);
    char *dup = scalar(c, "SELECT id FROM ghl.contacts WHERE email IS NOT NULL ORDER BY id DESC "
                          "LIMIT 1");
    snprintf(q, sizeof q,
             "INSERT INTO ghl.contacts (location_id, first_name, email) SELECT location_id, "
             "'Twin', upper(email) FROM ghl.contacts WHERE id = '%s' RETURNING _local_id",
             dup);
    char *lk = scalar(c, q);
    snprintf(q, sizeof q, "SELECT coalesce(id, '') FROM ghl.contacts WHERE _local_id = %s", lk);
    TEST_CHECK(tpull_wait_scalar(c, q, dup, 30000));
    TEST_EQ_INT(tcontacts_count(&s, 0), before);
    snprintf(q, sizeof q, "SELECT count(*) FROM ghl.contacts WHERE id = '%s'", dup);
    char *n = scalar(c, q);
    TEST_EQ_STR(n, "1");
    free(n);
    snprintf(q, sizeof q,
             "SELECT count(*) FROM ghlsync.conflicts WHERE resolution = 'duplicate_adopted' AND "
             "remote_id = '%s'",
             dup);
    n = scalar(c, q);
    TEST_EQ_STR(n, "1");
    free(n);
    snprintf(path, sizeof path, "/_admin/contact-settings?locationId=%s", s.loc[0].id);
    TEST_EQ_INT(tsim_admin(&s, "PUT", path, "{\"duplicates\": []}", NULL), 200);

    /* 3. a create whose answer is lost after the contact was made: exactly one contact */
    TEST_EQ_INT(tsim_admin(&s, "POST", "/_admin/faults",
                           "{\"kind\": \"reset_after\", \"method\": \"POST\", \"path\": "
                           "\"/contacts/\", \"count\": 1}",
                           NULL),
                201);
    TEST_CHECK(tpg_exec(c, "INSERT INTO ghl.contacts (location_id, first_name, email) SELECT "
                           "location_id, 'Once', 'once.only@example.com' FROM ghl.contacts "
                           "LIMIT 1"));
    TEST_CHECK(tpull_wait_scalar(c,
                                 "SELECT (id IS NOT NULL AND _sync_state = 'done')::text FROM "
                                 "ghl.contacts WHERE email = 'once.only@example.com'",
                                 "true", 30000));
    TEST_EQ_INT(count_email(&s, "once.only@example.com"), 1);
    n = scalar(c, "SELECT count(*) FROM ghlsync.changes WHERE state <> 'done'");
    TEST_EQ_STR(n, "0");
    free(n);

    /* 4. plain writes: an update (changed fields only), a create, a delete */
    char *ed = scalar(c, "SELECT id FROM ghl.contacts WHERE id IS NOT NULL ORDER BY id OFFSET 2 "
                         "LIMIT 1");
    snprintf(q, sizeof q,
             "UPDATE ghl.contacts SET city = 'Pushville', score = 42.5, interests = "
             "'{Music,Travel}' WHERE id = '%s'",
             ed);
    TEST_CHECK(tpg_exec(c, q));
    TEST_CHECK(tpg_exec(c, "INSERT INTO ghl.contacts (location_id, first_name, last_name, "
                           "email, tags, dnd, date_of_birth, nickname) SELECT location_id, "
                           "'New', 'Person', 'new.person@example.com', '{a,b}', true, "
                           "'1990-02-03', 'newbie' FROM ghl.contacts LIMIT 1"));
    char *gone = scalar(c, "SELECT id FROM ghl.contacts WHERE id IS NOT NULL ORDER BY id "
                           "DESC OFFSET 3 LIMIT 1");
    snprintf(q, sizeof q, "DELETE FROM ghl.contacts WHERE id = '%s'", gone);
    TEST_CHECK(tpg_exec(c, q));
    TEST_CHECK(tpull_wait_scalar(c,
                                 "SELECT count(*)::text FROM ghlsync.changes WHERE state NOT IN "
                                 "('done', 'ignored')",
                                 "0", 30000));
    char *js = tcontacts_get(&s, 0, gone);
    TEST_CHECK(js == NULL);
    free(js);
    js = tcontacts_get(&s, 0, ed);
    TEST_REQUIRE(js != NULL);
    TEST_CHECK(strstr(js, "\"city\":\"Pushville\"") != NULL);
    TEST_CHECK(strstr(js, "42.5") != NULL);
    free(js);
    TEST_EQ_INT(count_email(&s, "new.person@example.com"), 1);
    /* the table equals HighLevel (write-backs included) */
    TEST_EQ_INT(tcontacts_compare(&s, 0, c, true), 0);
    free(ed);
    free(gone);

    kill(p, SIGTERM);
    TEST_EQ_INT(tpull_wait(p, 15000), 0);
    free(lk);
    free(dup);
    free(id);
    PQfinish(c);
    tsim_stop(&s);
}

int main(void)
{
    if (!ready()) {
        test_skip("contacts_push", "needs tests/run.sh (PostgreSQL, GHLSYNC_BIN, HLSIM_BIN)");
        return test_done();
    }
    TEST_RUN(push_contacts);
    return test_done();
}
