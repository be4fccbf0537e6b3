/* test_push.c - local SQL writes reach the simulator: insert / update / delete with every data
 * type (compared with the admin dump), a rejected value fails only its own change, and a burst
 * of 10,000 updates to 100 records is coalesced into 100 calls; a record deleted remotely while
 * updated locally. */
#include "ident.h"
#include "mapping.h"
#include "test.h"
#include "tpg.h"
#include "tpush.h"
#include "tsim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static tsim sim;

static cJSON *dump_records(const char *object_key)
{
    char path[256], *body = NULL;
    snprintf(path, sizeof path, "/_admin/state?locationId=%s", sim.loc[0].id);
    if (tsim_admin(&sim, "GET", path, NULL, &body) != 200) {
        free(body);
        return NULL;
    }
    cJSON *st = cJSON_Parse(body);
    free(body);
    cJSON *objs =
        cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(st, "locations"), 0), "objects");
    cJSON *o, *out = NULL;
    cJSON_ArrayForEach(o, objs)
    {
        const char *k =
            cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "object"), "key"));
        if (k && !strcmp(k, object_key))
            out = cJSON_DetachItemFromObject(o, "records");
    }
    cJSON_Delete(st);
    return out;
}

static const cJSON *find_id(const cJSON *recs, const char *id)
{
    const cJSON *r;
    cJSON_ArrayForEach(r, recs)
    {
        const char *x = cJSON_GetStringValue(cJSON_GetObjectItem(r, "id"));
        if (x && id && !strcmp(x, id))
            return r;
    }
    return NULL;
}

static long counter(const char *route)
{
    char *body = NULL;
    tsim_admin(&sim, "GET", "/_admin/counters", NULL, &body);
    cJSON *j = cJSON_Parse(body);
    free(body);
    const cJSON *t = cJSON_GetObjectItem(
        cJSON_GetObjectItem(cJSON_GetObjectItem(j, "byEndpoint"), route), "total");
    long n = cJSON_IsNumber(t) ? (long)t->valuedouble : 0;
    cJSON_Delete(j);
    return n;
}

#define R_CREATE "POST /objects/{schemaKey}/records"
#define R_PUT    "PUT /objects/{schemaKey}/records/{id}"
#define R_DELETE "DELETE /objects/{schemaKey}/records/{id}"

/* Every row of the table must be in the dump with the same properties, and vice versa. */
static bool table_equals_dump(tpush_db *d, int line)
{
    cJSON *recs = dump_records(d->model->key);
    map_row row = {0};
    gs_err e = {0};
    map_row_init(d->model, &row, &e);
    sbuf q = SBUF_INIT;
    sbuf_puts(&q, "SELECT ");
    for (size_t c = 0; c < row.n; c++) {
        ident_quote(&q, row.columns[c]);
        sbuf_puts(&q, ", ");
    }
    sbuf_printf(&q, "_local_id FROM %s ORDER BY _local_id", d->qtable);
    PGresult *r = PQexec(d->conn, sbuf_str(&q));
    bool ok = recs && PQresultStatus(r) == PGRES_TUPLES_OK &&
              test_check(PQntuples(r) == cJSON_GetArraySize(recs), __FILE__, line,
                         "rows %d, records %d", PQntuples(r), cJSON_GetArraySize(recs));
    for (int i = 0; ok && i < PQntuples(r); i++) {
        const char *id = PQgetisnull(r, i, 0) ? NULL : PQgetvalue(r, i, 0);
        const cJSON *rec = find_id(recs, id);
        if (!test_check(rec != NULL, __FILE__, line, "row %s (id %s) not in the dump",
                        PQgetvalue(r, i, (int)row.n), id ? id : "NULL")) {
            ok = false;
            break;
        }
        const char **vals = calloc(row.n, sizeof *vals);
        for (size_t c = 0; c < row.n; c++)
            vals[c] = PQgetisnull(r, i, (int)c) ? NULL : PQgetvalue(r, i, (int)c);
        cJSON *props = NULL;
        map_row_to_properties(d->model, vals, NULL, NULL, true, &props, &e);
        /* the dump's record read back through the same mapping: the row must hold exactly it */
        map_row back = {0};
        sbuf w = SBUF_INIT;
        map_record_to_row(d->model, rec, sim.loc[0].id, &back, &w, &e);
        cJSON *want = NULL;
        map_row_to_properties(d->model, (const char *const *)back.values, NULL, NULL, true, &want,
                              &e);
        bool same = cJSON_Compare(props, want, 1) &&
                    cJSON_Compare(props, cJSON_GetObjectItem(rec, "properties"), 1);
        for (size_t c = 0; c < row.n; c++) {
            if (strcmp(row.columns[c], "created_at") && strcmp(row.columns[c], "updated_at"))
                continue;
            /* timestamps: same instant (text forms differ: ISO Z vs PostgreSQL's) */
            char sql[256];
            snprintf(sql, sizeof sql, "SELECT '%s'::timestamptz = '%s'::timestamptz",
                     vals[c] ? vals[c] : "epoch", back.values[c] ? back.values[c] : "-infinity");
            char *eq = tpg_scalar(d->conn, sql);
            same &= eq && eq[0] == 't';
            if (!(eq && eq[0] == 't'))
                printf("# %s: row %s, dump %s\n", row.columns[c], vals[c] ? vals[c] : "NULL",
                       back.values[c] ? back.values[c] : "NULL");
            free(eq);
        }
        char *a = cJSON_PrintUnformatted(props), *b = cJSON_PrintUnformatted(rec);
        ok &=
            test_check(same, __FILE__, line, "row %s differs\n#   row  %s\n#   dump %s", id, a, b);
        free(a);
        free(b);
        cJSON_Delete(props);
        cJSON_Delete(want);
        map_row_free(&back);
        sbuf_free(&w);
        free(vals);
    }
    PQclear(r);
    sbuf_free(&q);
    map_row_free(&row);
    cJSON_Delete(recs);
    return ok;
}

static char *scalar(tpush_db *d, const char *sql)
{
    return tpg_scalar(d->conn, sql);
}

#define EQ_SQL(d, sql, want)                                                                       \
    do {                                                                                           \
        char *v_ = scalar(d, sql);                                                                 \
        TEST_CHECK_MSG(v_ && !strcmp(v_, want), "%s\n#   got %s, want %s", sql,                    \
                       v_ ? v_ : "(null)", want);                                                  \
        free(v_);                                                                                  \
    } while (0)

static void test_insert_update_delete_every_type(void)
{
    tpush_db d;
    TEST_REQUIRE(tpush_setup_sim(&d, "push_crud", &sim, 0, "custom_objects.pet", CFG_DIR_BOTH) ==
                 0);
    tpush_eng g;
    TEST_REQUIRE(tpush_eng_open(&g, &sim, 0, &d, CFG_REMOTE_WINS, NULL, true) == 0);
    TEST_CHECK(tpg_exec(
        d.conn,
        "INSERT INTO ghl.pet (name, notes, age, owner_phone, price, price_currency, housing, "
        "species, traits, birth_date, contact_info, photos, size) VALUES "
        "('Rex \"the\" dog''s', E'line1\\nline2 \\\\ 名前', 12.5, '+15550001111', 100.25, 'USD', "
        "'{indoor,outdoor}', 'dog', '{friendly,shy}', '2021-07-28', "
        "'{\"email\": \"a@b.c\", \"emergency\": \"911\"}', "
        "'[{\"url\": \"https://x/1.pdf\", \"name\": \"1.pdf\", \"size\": 1024, \"type\": "
        "\"application/pdf\"}]', 'small'), "
        "('Minimal', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL), "
        "('Third', NULL, 0, NULL, 0, 'default', '{}', 'cat', '{}', NULL, NULL, NULL, 'large')"));
    TEST_REQUIRE(tpush_eng_run(&g, 20000) == 0);
    EQ_SQL(&d, "SELECT count(*) FROM ghl.pet WHERE id IS NOT NULL AND _sync_state = 'done'", "3");
    EQ_SQL(&d, "SELECT count(*) FROM ghlsync.changes WHERE state = 'done'", "3");
    TEST_CHECK(table_equals_dump(&d, __LINE__));
    TEST_EQ_INT(counter(R_CREATE), 3);

    /* updates: several columns, clearing values, options, textbox options dropped */
    TEST_CHECK(tpg_exec(d.conn, "UPDATE ghl.pet SET age = 13, traits = '{noisy}', "
                                "contact_info = '{\"email\": \"new@b.c\"}', notes = NULL, "
                                "price = 7, price_currency = 'EUR' WHERE name LIKE 'Rex%'"));
    TEST_CHECK(tpg_exec(d.conn, "UPDATE ghl.pet SET name = 'Min2', birth_date = '1999-12-31', "
                                "housing = '{indoor}' WHERE name = 'Minimal'"));
    long puts0 = counter(R_PUT);
    TEST_REQUIRE(tpush_eng_run(&g, 20000) == 0);
    TEST_EQ_INT(counter(R_PUT) - puts0, 2);
    TEST_CHECK(table_equals_dump(&d, __LINE__));
    EQ_SQL(&d, "SELECT count(*) FROM ghl.pet WHERE _sync_state = 'done'", "3");

    TEST_CHECK(tpg_exec(d.conn, "DELETE FROM ghl.pet WHERE name = 'Third'"));
    TEST_REQUIRE(tpush_eng_run(&g, 20000) == 0);
    TEST_EQ_INT(counter(R_DELETE), 1);
    TEST_CHECK(table_equals_dump(&d, __LINE__));
    EQ_SQL(&d, "SELECT count(*) FROM ghlsync.changes WHERE state <> 'done'", "0");
    /* the write-backs were not captured (no echo) */
    EQ_SQL(&d, "SELECT count(*) FROM ghlsync.changes", "6");
    tpush_eng_close(&g);
    tpush_close(&d);
}

static void test_rejected_value_fails_only_its_change(void)
{
    tpush_db d;
    TEST_REQUIRE(tpush_setup_sim(&d, "push_reject", &sim, 0, "custom_objects.pet", CFG_DIR_BOTH) ==
                 0);
    tpush_eng g;
    TEST_REQUIRE(tpush_eng_open(&g, &sim, 0, &d, CFG_REMOTE_WINS, NULL, true) == 0);
    TEST_CHECK(tpg_exec(d.conn, "INSERT INTO ghl.pet (name, species) VALUES ('ok1', 'dog'), "
                                "('bad', 'unicorn'), ('ok2', 'cat')"));
    TEST_REQUIRE(tpush_eng_run(&g, 20000) == 0);
    EQ_SQL(&d,
           "SELECT string_agg(name || ':' || coalesce(_sync_state, '-'), ',' ORDER BY name) "
           "FROM ghl.pet",
           "bad:failed,ok1:done,ok2:done");
    EQ_SQL(&d, "SELECT last_status || ' ' || state FROM ghlsync.push_errors", "422 failed");
    char *err = scalar(&d, "SELECT last_error FROM ghlsync.push_errors");
    TEST_CHECK_MSG(err && strstr(err, "species"), "API message kept: %s", err ? err : "(null)");
    free(err);
    err = scalar(&d, "SELECT _sync_error FROM ghl.pet WHERE name = 'bad'");
    TEST_CHECK_MSG(err && strstr(err, "HTTP 422") && strstr(err, "species"), "row error: %s",
                   err ? err : "(null)");
    free(err);
    /* later changes to the other rows flow; the failed one is not retried by itself */
    long creates = counter(R_CREATE);
    TEST_CHECK(tpg_exec(d.conn, "UPDATE ghl.pet SET age = 5 WHERE name = 'ok1'"));
    TEST_REQUIRE(tpush_eng_run(&g, 20000) == 0);
    TEST_EQ_INT(counter(R_CREATE), creates);
    EQ_SQL(&d, "SELECT count(*) FROM ghlsync.push_errors", "1");
    /* the user fixes the row: the failed insert goes out with the fix, as one create */
    TEST_CHECK(tpg_exec(d.conn, "UPDATE ghl.pet SET species = 'fish' WHERE name = 'bad'"));
    TEST_REQUIRE(tpush_eng_run(&g, 20000) == 0);
    TEST_EQ_INT(counter(R_CREATE), creates + 1);
    EQ_SQL(&d, "SELECT count(*) FROM ghlsync.push_errors", "0");
    EQ_SQL(&d, "SELECT count(*) FROM ghl.pet WHERE _sync_state = 'done' AND id IS NOT NULL", "3");
    TEST_CHECK(table_equals_dump(&d, __LINE__));
    tpush_eng_close(&g);
    tpush_close(&d);
}

static void test_burst_is_coalesced(void)
{
    tpush_db d;
    TEST_REQUIRE(tpush_setup_sim(&d, "push_burst", &sim, 0, "custom_objects.vaccination",
                                 CFG_DIR_BOTH) == 0);
    tpush_eng g;
    TEST_REQUIRE(tpush_eng_open(&g, &sim, 0, &d, CFG_REMOTE_WINS, NULL, true) == 0);
    TEST_CHECK(tpg_exec(d.conn, "INSERT INTO ghl.vaccination (vaccine, dose_ml) SELECT 'v' || i, "
                                "0 FROM generate_series(1, 100) i"));
    TEST_REQUIRE(tpush_eng_run(&g, 30000) == 0);
    EQ_SQL(&d, "SELECT count(*) FROM ghl.vaccination WHERE id IS NOT NULL", "100");
    long puts0 = counter(R_PUT), creates0 = counter(R_CREATE);
    /* 100 transactions of 100 row updates each: 10,000 changes */
    for (int i = 0; i < 100; i++)
        TEST_CHECK(tpg_exec(d.conn, "UPDATE ghl.vaccination SET dose_ml = dose_ml + 1"));
    EQ_SQL(&d, "SELECT count(*) FROM ghlsync.changes WHERE state = 'pending'", "10000");
    /* a deadline against a hung run, not a figure: ASan on a busy machine is slow */
    TEST_REQUIRE(tpush_eng_run(&g, 120000) == 0);
    TEST_EQ_INT(counter(R_PUT) - puts0, 100);
    TEST_EQ_INT(counter(R_CREATE) - creates0, 0);
    EQ_SQL(&d, "SELECT count(*) FROM ghlsync.changes WHERE state = 'done'", "10100");
    EQ_SQL(&d, "SELECT min(dose_ml) || ' ' || max(dose_ml) FROM ghl.vaccination", "100 100");
    TEST_CHECK(table_equals_dump(&d, __LINE__));
    tpush_eng_close(&g);
    tpush_close(&d);
}

/* A record deleted in HighLevel while the row was updated locally: remote_wins lets the deletion
 * win (changes ignored, conflict 'remote_deleted', row marked deleted, nothing left for an
 * operator); local_wins cannot undo it and fails the change with the API's 404. */
static void remote_deleted_case(enum cfg_conflict policy, const char *tag)
{
    tpush_db d;
    TEST_REQUIRE(tpush_setup_sim(&d, tag, &sim, 0, "custom_objects.pet", CFG_DIR_BOTH) == 0);
    tpush_eng g;
    TEST_REQUIRE(tpush_eng_open(&g, &sim, 0, &d, policy, NULL, true) == 0);
    TEST_CHECK(tpg_exec(d.conn, "INSERT INTO ghl.pet (name) VALUES ('keep'), ('gone')"));
    TEST_REQUIRE(tpush_eng_run(&g, 20000) == 0);
    char *id = scalar(&d, "SELECT id FROM ghl.pet WHERE name = 'gone'");
    TEST_REQUIRE(id != NULL);
    char path[300];
    snprintf(path, sizeof path, "/_admin/records/custom_objects.pet/%s?locationId=%s", id,
             sim.loc[0].id);
    TEST_EQ_INT(tsim_admin(&sim, "DELETE", path, NULL, NULL), 200);
    free(id);
    TEST_CHECK(tpg_exec(d.conn, "UPDATE ghl.pet SET age = 4 WHERE name IN ('gone', 'keep')"));
    TEST_REQUIRE(tpush_eng_run(&g, 20000) == 0);
    EQ_SQL(&d, "SELECT _sync_state FROM ghl.pet WHERE name = 'keep'", "done");
    if (policy == CFG_REMOTE_WINS) {
        EQ_SQL(&d, "SELECT count(*) FROM ghlsync.push_errors", "0");
        EQ_SQL(&d,
               "SELECT state || ' ' || last_status FROM ghlsync.changes WHERE op = 'update' "
               "AND local_key = (SELECT _local_id FROM ghl.pet WHERE name = 'gone')",
               "ignored 404");
        EQ_SQL(&d,
               "SELECT (_deleted_at IS NOT NULL)::text || ' ' || _sync_state FROM ghl.pet "
               "WHERE name = 'gone'",
               "true done");
        EQ_SQL(&d,
               "SELECT resolution || ' ' || policy || ' ' || (local_value->>'age') FROM "
               "ghlsync.conflicts",
               "remote_deleted remote_wins 4");
        EQ_SQL(&d, "SELECT count(*) FROM ghl.pet WHERE _deleted_at IS NULL", "1");
    } else {
        EQ_SQL(&d, "SELECT count(*) || ' ' || min(last_status) FROM ghlsync.push_errors", "1 404");
        EQ_SQL(&d,
               "SELECT (_deleted_at IS NULL)::text || ' ' || _sync_state FROM ghl.pet "
               "WHERE name = 'gone'",
               "true failed");
    }
    tpush_eng_close(&g);
    tpush_close(&d);
}

static void test_remote_deleted_remote_wins(void)
{
    remote_deleted_case(CFG_REMOTE_WINS, "push_gone_rw");
}

static void test_remote_deleted_local_wins(void)
{
    remote_deleted_case(CFG_LOCAL_WINS, "push_gone_lw");
}

int main(void)
{
    if (!tpg_available()) {
        test_skip("push tests", "no PostgreSQL (run through tests/run.sh)");
        return test_done();
    }
    const char *args[] = {"--locations", "1", "--seed-records", "0", "--burst", "0", NULL};
    if (tsim_start(&sim, args) != 0) {
        test_skip("push tests", "simulator not available");
        return test_done();
    }
    tsim_stop(&sim);
    /* a fresh simulator per case: the dump comparisons see only that case's records */
    test_fn cases[] = {test_insert_update_delete_every_type,
                       test_rejected_value_fails_only_its_change, test_burst_is_coalesced,
                       test_remote_deleted_remote_wins, test_remote_deleted_local_wins};
    const char *names[] = {"test_insert_update_delete_every_type",
                           "test_rejected_value_fails_only_its_change", "test_burst_is_coalesced",
                           "test_remote_deleted_remote_wins", "test_remote_deleted_local_wins"};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        if (tsim_start(&sim, args) != 0) {
            test_skip(names[i], "simulator did not start");
            continue;
        }
        test_run(names[i], cases[i]);
        tsim_stop(&sim);
    }
    return test_done();
}
