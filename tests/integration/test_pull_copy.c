/* The COPY write path of a first backfill (pullstore.h ps_page_copy_stmts): it writes exactly
 * what the upsert writes; a page with a record the table holds goes to the upsert (23505); a
 * page with a record deleted locally (open, or done within the hour) goes to the upsert too (the
 * guard after the COPY, 22012), which leaves the record out. Pages are grouped, up to 10 per
 * transaction. Array elements go without quotes where array_in does not need them, and every
 * element that does need them keeps them. */
#include "tcontacts.h"
#include "test.h"
#include "tpg.h"
#include "tpull.h"
#include "tsim.h"

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

/* Every object's pull.done line says all its records went by binary COPY (copybin.h); returns
 * the number of such lines with records. */
static int all_binary(const char *log)
{
    int lines = 0;
    for (const char *p = strstr(log, "pull.done"); p; p = strstr(p + 1, "pull.done")) {
        const char *eol = strchr(p, '\n');
        const char *r = strstr(p, " records="), *b = strstr(p, " copied_binary="),
                   *t = strstr(p, " copied_text=");
        if (!r || !b || !t || (eol && (b > eol || t > eol))) {
            test_check(false, __FILE__, __LINE__, "no COPY counts in: %.300s", p);
            continue;
        }
        long long n = atoll(r + 9), nb = atoll(b + 15), nt = atoll(t + 13);
        test_check(nb == n && nt == 0, __FILE__, __LINE__,
                   "records %lld, by binary COPY %lld, by text COPY %lld: %.200s", n, nb, nt, p);
        lines += n > 0;
    }
    return lines;
}

/* Pages whose successor was asked for before they were built (pull.done "prefetched"), summed
 * over the log's pull.done lines. */
static long long prefetched(const char *log)
{
    long long sum = 0;
    for (const char *p = strstr(log, "pull.done"); p; p = strstr(p + 1, "pull.done")) {
        const char *eol = strchr(p, '\n'), *f = strstr(p, " prefetched=");
        if (!f || (eol && f > eol)) {
            test_check(false, __FILE__, __LINE__, "no prefetched count in: %.300s", p);
            continue;
        }
        sum += atoll(f + 12);
    }
    return sum;
}

/* How many pull.done lines of the log for `object` say "sweep=<what>" (reconcile.h). */
static int sweeps(const char *log, const char *object, const char *what)
{
    char want[40], obj[80];
    snprintf(want, sizeof want, " sweep=%s", what);
    snprintf(obj, sizeof obj, " object=%s ", object);
    int n = 0;
    for (const char *p = strstr(log, "pull.done"); p; p = strstr(p + 1, "pull.done")) {
        const char *eol = strchr(p, '\n'), *f = strstr(p, want), *o = strstr(p, obj);
        n += f && o && (!eol || (f < eol && o < eol));
    }
    return n;
}

/* A test's parts: the simulator, a fresh database, a config for the two and a log beside it. */
typedef struct cx {
    tsim s;
    bool sim;
    PGconn *c;
    char ci[512], cfg[512], log[600];
} cx;

static void cx_end(cx *x)
{
    if (x->log[0])
        unlink(x->log);
    if (x->c)
        PQfinish(x->c);
    if (x->sim)
        tsim_stop(&x->s);
}

/* `toml` is added to the config (NULL: none). False, with everything stopped, on failure. */
static bool cx_start(cx *x, const char *db, const char *const *sim_args, const char *toml)
{
    memset(x, 0, sizeof *x);
    x->sim = tsim_start(&x->s, sim_args) == 0;
    if (x->sim)
        x->c = tpg_fresh_db(db, x->ci, sizeof x->ci);
    if (!x->c || !tpull_config(&x->s, x->ci, toml, x->cfg, sizeof x->cfg)) {
        cx_end(x);
        return false;
    }
    snprintf(x->log, sizeof x->log, "%s.log", x->cfg);
    return true;
}

/* Every column but the two the upsert sets from the clock and the scan. */
static const char rows_sum[] =
    "SELECT md5(string_agg((to_jsonb(p) - '_synced_at' - '_generation')::text, '|' "
    "ORDER BY location_id, id)) FROM ghl.pet p";

static void copy_writes_what_the_upsert_writes(void)
{
    tsim s;
    const char *args[] = {"--locations", "2", "--seed-records", "230", "--burst", "0", NULL};
    TEST_REQUIRE(tsim_start(&s, args) == 0);
    char ci[512], cfg[512], log1[600], log2[600];
    PGconn *c = tpg_fresh_db("copy_eq", ci, sizeof ci);
    TEST_REQUIRE(c != NULL);
    TEST_REQUIRE(tpull_config(&s, ci, NULL, cfg, sizeof cfg));
    snprintf(log1, sizeof log1, "%s.1.log", cfg);
    snprintf(log2, sizeof log2, "%s.2.log", cfg);
    const char *a[] = {"backfill", NULL}; /* every family: objects, business, contacts, ... */
    TEST_EQ_INT(tpull_run(cfg, a, log1, 50000), 0);
    TEST_EQ_INT(tpull_compare(&s, c, "ghl"), 0);
    char *t = tpull_slurp(log1);
    TEST_CHECK(strstr(t, "pull.copy_off") == NULL); /* every page went in by COPY */
    TEST_CHECK(all_binary(t) >= 4); /* its binary form: pets and contacts of both locations */
    /* and pipelined: pages built while the next one was on its way (the tables compared equal
     * above, so nothing was skipped or written twice) */
    TEST_CHECK_MSG(prefetched(t) > 0, "no page was prefetched");
    /* both locations started empty: no sweep to do */
    static const char *const held[] = {"custom_objects.pet", "business"};
    for (int i = 0; i < 2; i++) {
        TEST_EQ_INT(sweeps(t, held[i], "skipped"), 2);
        TEST_EQ_INT(sweeps(t, held[i], "ran"), 0);
    }
    free(t);
    /* the scan's generation, and _synced_at on the server's clock, not before the scan */
    char *n = scalar(c, "SELECT count(*) FROM ghl.pet p JOIN ghlsync.pull_state s ON "
                        "s.location_id = p.location_id AND s.object_key = 'custom_objects.pet' "
                        "WHERE p._generation = s.generation AND p._synced_at >= s.started_at "
                        "AND p._synced_at <= now() AND p._deleted_at IS NULL");
    TEST_EQ_STR(n, "460");
    free(n);
    char *before = scalar(c, rows_sum);
    /* Again: the table holds every record, COPY fails at once and the upsert writes the pages;
     * nothing changes but the clock and the generation. */
    TEST_EQ_INT(tpull_run(cfg, a, log2, 50000), 0);
    t = tpull_slurp(log2);
    TEST_CHECK(strstr(t, "pull.copy_off") != NULL && strstr(t, "sqlstate=23505") != NULL);
    for (int i = 0; i < 2; i++) {
        TEST_EQ_INT(sweeps(t, held[i], "ran"), 2);
        TEST_EQ_INT(sweeps(t, held[i], "skipped"), 0);
    }
    free(t);
    char *after = scalar(c, rows_sum);
    TEST_EQ_STR(after, before);
    free(before);
    free(after);
    TEST_EQ_INT(tpull_compare(&s, c, "ghl"), 0);
    n = scalar(c, "SELECT count(*) - count(DISTINCT (location_id, id)) FROM ghl.pet");
    TEST_EQ_STR(n, "0");
    free(n);
    unlink(log1);
    unlink(log2);
    PQfinish(c);
    tsim_stop(&s);
}

static void locally_deleted_records_are_not_copied_back(void)
{
    const char *args[] = {"--locations", "1", "--seed-records", "30", "--burst", "0", NULL};
    cx x;
    TEST_REQUIRE(cx_start(&x, "copy_del", args, NULL));
    PGconn *c = x.c;
    const char *cfg = x.cfg, *log = x.log;
    const char *a[] = {"backfill", "--object", "custom_objects.pet", NULL};
    TEST_EQ_INT(tpull_run(cfg, a, NULL, 50000), 0);
    char *n = scalar(c, "SELECT count(*) FROM ghl.pet");
    TEST_EQ_STR(n, "30");
    free(n);
    /* Every row deleted locally, the deletes not pushed yet: the table is empty again, so the
     * next scan starts with COPY, and only the guard keeps the records out. */
    tpg_exec(c, "INSERT INTO ghlsync.changes (location_id, object_key, table_schema, table_name, "
                "op, local_key, remote_id) SELECT location_id, 'custom_objects.pet', 'ghl', "
                "'pet', 'delete', _local_id, id FROM ghl.pet");
    tpg_exec(c, "SET session_replication_role = replica; DELETE FROM ghl.pet; "
                "RESET session_replication_role");
    TEST_EQ_INT(tpull_run(cfg, a, log, 50000), 0);
    char *t = tpull_slurp(log);
    TEST_CHECK(strstr(t, "pull.copy_off") != NULL && strstr(t, "sqlstate=22012") != NULL);
    free(t);
    n = scalar(c, "SELECT count(*) FROM ghl.pet");
    TEST_EQ_STR(n, "0");
    free(n);
    cx_end(&x);
}

/* Deletes pushed within the last hour keep their records out too (a search page read before the
 * DELETE may still arrive), older ones do not: the guard refuses the group, and the upsert brings
 * back only the records deleted more than an hour ago, as ghlsync.locally_deleted says. */
static void recently_pushed_deletes_are_not_copied_back(void)
{
    const char *args[] = {"--locations", "1", "--seed-records", "30", "--burst", "0", NULL};
    cx x;
    TEST_REQUIRE(cx_start(&x, "copy_done", args, NULL));
    PGconn *c = x.c;
    const char *cfg = x.cfg, *log = x.log;
    const char *a[] = {"backfill", "--object", "custom_objects.pet", NULL};
    TEST_EQ_INT(tpull_run(cfg, a, NULL, 50000), 0);
    /* every row deleted locally and the deletes done: 10 ten minutes ago, 20 two hours ago */
    TEST_CHECK(tpg_exec(c, "INSERT INTO ghlsync.changes (location_id, object_key, table_schema, "
                           "table_name, op, local_key, remote_id, state, done_at) SELECT "
                           "location_id, 'custom_objects.pet', 'ghl', 'pet', 'delete', _local_id, "
                           "id, 'done', now() - CASE WHEN row_number() OVER (ORDER BY id) <= 10 "
                           "THEN interval '10 minutes' ELSE interval '2 hours' END FROM ghl.pet"));
    TEST_CHECK(tpg_exec(c, "SET session_replication_role = replica; DELETE FROM ghl.pet; "
                           "RESET session_replication_role"));
    TEST_EQ_INT(tpull_run(cfg, a, log, 50000), 0);
    char *t = tpull_slurp(log);
    TEST_CHECK(strstr(t, "pull.copy_off") != NULL && strstr(t, "sqlstate=22012") != NULL);
    free(t);
    char *n = scalar(c, "SELECT count(*) FROM ghl.pet");
    TEST_EQ_STR(n, "20");
    free(n);
    n = scalar(c, "SELECT count(*) FROM ghl.pet p JOIN ghlsync.changes ch ON ch.remote_id = p.id "
                  "WHERE ch.done_at > now() - interval '1 hour'");
    TEST_EQ_STR(n, "0");
    free(n);
    cx_end(&x);
}

/* A scan skips the sweep only when its location held no row with a remote id as it started:
 * one row left from before (gone remotely) is enough for the sweep to run and mark it. */
static void a_row_from_before_is_swept(void)
{
    const char *args[] = {"--locations", "1", "--seed-records", "30", "--burst", "0", NULL};
    cx x;
    TEST_REQUIRE(cx_start(&x, "copy_sweep", args, NULL));
    PGconn *c = x.c;
    const char *cfg = x.cfg, *log = x.log;
    const char *a[] = {"backfill", "--object", "custom_objects.pet", NULL};
    TEST_EQ_INT(tpull_run(cfg, a, log, 50000), 0);
    char *t = tpull_slurp(log);
    TEST_EQ_INT(sweeps(t, "custom_objects.pet", "skipped"), 1);
    free(t);
    /* the records' rows gone (triggers off: no delete to push), one row of a record HighLevel
     * no longer has, written a day ago */
    TEST_CHECK(tpg_exec(c, "SET session_replication_role = replica; INSERT INTO ghl.pet (id, "
                           "location_id, _synced_at) SELECT 'gone-1', location_id, now() - "
                           "interval '1 day' FROM ghl.pet LIMIT 1; DELETE FROM ghl.pet WHERE id "
                           "<> 'gone-1'; RESET session_replication_role"));
    char *n = scalar(c, "SELECT count(*) FROM ghl.pet");
    TEST_EQ_STR(n, "1");
    free(n);
    TEST_EQ_INT(tpull_run(cfg, a, log, 50000), 0);
    t = tpull_slurp(log);
    TEST_EQ_INT(sweeps(t, "custom_objects.pet", "ran"), 1);
    TEST_CHECK(strstr(t, "pull.copy_off") == NULL); /* the records themselves went by COPY */
    free(t);
    n = scalar(c, "SELECT string_agg(id, ',') FROM ghl.pet WHERE _deleted_at IS NOT NULL");
    TEST_EQ_STR(n, "gone-1");
    free(n);
    n = scalar(c, "SELECT count(*) FROM ghl.pet WHERE _deleted_at IS NULL");
    TEST_EQ_STR(n, "30");
    free(n);
    cx_end(&x);
}

/* A first backfill writes up to 10 API pages (1,000 records) per transaction: 230 records in
 * pages of 10 are 23 pages, written as 10 + 10 + 3. */
static void pages_are_grouped(void)
{
    const char *args[] = {"--locations", "1", "--seed-records", "230", "--burst", "0", NULL};
    cx x;
    TEST_REQUIRE(cx_start(&x, "copy_grp", args, "[pull]\npage_size = 10\n"));
    PGconn *c = x.c;
    const char *cfg = x.cfg, *log = x.log;
    const char *a[] = {"backfill", "--object", "custom_objects.pet", NULL};
    TEST_EQ_INT(tpull_run(cfg, a, log, 50000), 0);
    char *t = tpull_slurp(log);
    TEST_CHECK(strstr(t, "pull.copy_off") == NULL);
    TEST_CHECK_MSG(strstr(t, "records=230 ") && strstr(t, "page_writes=3"), "%s", t);
    free(t);
    char *n = scalar(c, "SELECT count(*) FROM ghl.pet");
    TEST_EQ_STR(n, "230");
    free(n);
    n = scalar(c, "SELECT complete FROM ghlsync.pull_state WHERE object_key = "
                  "'custom_objects.pet'");
    TEST_EQ_STR(n, "t");
    free(n);
    n = scalar(c, "SELECT count(DISTINCT id) FROM ghl.pet WHERE _deleted_at IS NULL");
    TEST_EQ_STR(n, "230");
    free(n);
    cx_end(&x);
}

/* A group is also bounded by its COPY text (PULL_GROUP_BYTES, 4 MiB), so wide records cannot
 * multiply the memory of the write window: 200 records of 60,000 bytes in pages of 10 are
 * about 12 MB, so at least 3 transactions, where the page bound alone would write 10 + 10. */
static void wide_records_make_smaller_groups(void)
{
    const char *args[] = {"--locations", "1", "--seed-records", "0", "--burst", "0", NULL};
    cx x;
    TEST_REQUIRE(cx_start(&x, "copy_wide", args, "[pull]\npage_size = 10\n"));
    PGconn *c = x.c;
    const char *cfg = x.cfg, *log = x.log;
    char path[300];
    snprintf(path, sizeof path, "/_admin/records/custom_objects.pet?locationId=%s", x.s.loc[0].id);
    size_t wide = 60000;
    char *body = malloc(wide + 64);
    TEST_REQUIRE(body != NULL);
    int made = 0;
    for (int i = 0; i < 200; i++) {
        int k = snprintf(body, 64, "{\"properties\": {\"name\": \"%d-", i);
        memset(body + k, 'a' + i % 26, wide);
        strcpy(body + k + wide, "\"}}");
        made += tsim_admin(&x.s, "POST", path, body, NULL) == 201;
    }
    free(body);
    TEST_EQ_INT(made, 200);
    const char *a[] = {"backfill", NULL};
    TEST_EQ_INT(tpull_run(cfg, a, log, 50000), 0);
    char *t = tpull_slurp(log);
    TEST_CHECK(strstr(t, "pull.copy_off") == NULL);
    const char *pw = strstr(t, "object=custom_objects.pet records=200 ");
    pw = pw ? strstr(pw, "page_writes=") : NULL;
    int writes = pw ? atoi(pw + strlen("page_writes=")) : 0;
    TEST_CHECK_MSG(writes >= 3 && writes <= 20, "page_writes=%d: %s", writes, t);
    free(t);
    char *n = scalar(c, "SELECT count(*) FILTER (WHERE length(name) > 60000) FROM ghl.pet");
    TEST_EQ_STR(n, "200");
    free(n);
    TEST_EQ_INT(tpull_compare(&x.s, c, "ghl"), 0);
    cx_end(&x);
}

/* Tags that only read back right when quoted (NULL, blanks, delimiters, braces, quotes,
 * backslashes, control characters) next to plain ones, through the COPY path. (The empty
 * string is refused by the API as a tag; bare_ok would keep its quotes.) */
static void array_elements_keep_their_text(void)
{
    const char *args[] = {
        "--locations", "1", "--seed-records", "0", "--seed-contacts", "5", "--burst", "0", NULL};
    cx x;
    TEST_REQUIRE(cx_start(&x, "copy_arr", args, NULL));
    PGconn *c = x.c;
    const char *cfg = x.cfg, *log = x.log;
    char path[300];
    snprintf(path, sizeof path, "/_admin/contacts?locationId=%s", x.s.loc[0].id);
    TEST_EQ_INT(tsim_admin(&x.s, "POST", path,
                           "{\"email\": \"arrays@example.com\", \"tags\": [\"plain\", "
                           "\"NULL\", \"null\", \"a b\", \" lead\", \"x,y\", \"{b}\", "
                           "\"q\\\"\", \"back\\\\slash\", \"tab\\there\", \"line\\nnext\", "
                           "\"caf\u00e9\"]}",
                           NULL),
                201);
    const char *a[] = {"backfill", "--object", "contact", NULL};
    TEST_EQ_INT(tpull_run(cfg, a, log, 50000), 0);
    char *t = tpull_slurp(log);
    TEST_CHECK(strstr(t, "pull.copy_off") == NULL); /* written by COPY */
    free(t);
    TEST_EQ_INT(tcontacts_compare(&x.s, 0, c, false), 0); /* search answers lower-case names */
    /* the element texts, checked one by one (the simulator could have changed them) */
    char *n =
        scalar(c, "SELECT tags = ARRAY['plain', 'NULL', 'null', 'a b', ' lead', "
                  "'x,y', '{b}', 'q\"', 'back\\slash', E'tab\\there', E'line\\nnext', "
                  "'caf\u00e9']::text[] FROM ghl.contacts WHERE email = 'arrays@example.com'");
    TEST_EQ_STR(n, "t");
    free(n);
    n = scalar(c, "SELECT count(*) FROM ghl.contacts");
    TEST_EQ_STR(n, "6");
    free(n);
    cx_end(&x);
}

int main(void)
{
    if (!ready()) {
        test_skip("pull_copy", "needs PostgreSQL, GHLSYNC_BIN and HLSIM_BIN (tests/run.sh)");
        return test_done();
    }
    TEST_RUN(copy_writes_what_the_upsert_writes);
    TEST_RUN(locally_deleted_records_are_not_copied_back);
    TEST_RUN(recently_pushed_deletes_are_not_copied_back);
    TEST_RUN(a_row_from_before_is_swept);
    TEST_RUN(pages_are_grouped);
    TEST_RUN(wide_records_make_smaller_groups);
    TEST_RUN(array_elements_keep_their_text);
    return test_done();
}
