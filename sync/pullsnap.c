/* pullsnap.c - see pullsnap.h. */
#include "pullsnap.h"

#include "db.h"
#include "family.h"
#include "ident.h"
#include "mapping.h"
#include "pullstore.h"
#include "sbuf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char open_changes_sql[] =
    "SELECT count(*) FROM ghlsync.changes WHERE table_schema = $1 AND table_name = $2 "
    "AND state IN " FAM_OPEN_STATES;

int snap_check_outbox(PGconn *c, const char *schema, const char *table, gs_err *e)
{
    const char *p[2] = {schema, table};
    PGresult *r;
    int rc = db_query(c, open_changes_sql, 2, p, &r, e);
    if (rc)
        return rc;
    long long n = PQntuples(r) == 1 ? atoll(PQgetvalue(r, 0, 0)) : 0;
    PQclear(r);
    if (n > 0)
        return gs_err_set(e, GS_ESTATE,
                          "--snapshot refused: table %s.%s has %lld unpushed local change(s) in "
                          "ghlsync.changes (pending, retrying, failed or unknown) that a swap "
                          "would overwrite; push them first (ghlsync run) or resolve them "
                          "(ghlsync errors), then run the snapshot again",
                          schema, table, n);
    return 0;
}

static void shadow_name(const char *schema, const char *table, char out[SNAP_NAME_LEN])
{
    sbuf q = SBUF_INIT;
    sbuf_puts(&q, schema);
    sbuf_putc(&q, '.');
    sbuf_puts(&q, table);
    snprintf(out, SNAP_NAME_LEN, "_ghlsync_snap_%08x", ident_hash(sbuf_str(&q), q.len));
    sbuf_free(&q);
}

static void qualified(sbuf *b, const char *schema, const char *table)
{
    ident_quote(b, schema);
    sbuf_putc(b, '.');
    ident_quote(b, table);
}

int snap_prepare(PGconn *c, const char *schema, const char *table, char shadow[SNAP_NAME_LEN],
                 gs_err *e)
{
    int rc = snap_check_outbox(c, schema, table, e);
    if (rc)
        return rc;
    shadow_name(schema, table, shadow);
    sbuf q = SBUF_INIT;
    sbuf_puts(&q, "DROP TABLE IF EXISTS ");
    qualified(&q, schema, shadow);
    sbuf_puts(&q, ";\nCREATE UNLOGGED TABLE ");
    qualified(&q, schema, shadow);
    sbuf_puts(&q, " (LIKE ");
    qualified(&q, schema, table);
    sbuf_puts(&q, " INCLUDING DEFAULTS INCLUDING IDENTITY INCLUDING GENERATED);\n"
                  "CREATE UNIQUE INDEX ON ");
    qualified(&q, schema, shadow);
    sbuf_puts(&q, " (\"location_id\", \"id\") WHERE \"id\" IS NOT NULL");
    if (sbuf_failed(&q)) {
        sbuf_free(&q);
        return gs_err_set(e, GS_ENOMEM, "out of memory");
    }
    rc = db_begin(c, e);
    if (!rc)
        rc = db_exec(c, sbuf_str(&q), e);
    if (!rc)
        rc = db_commit(c, e);
    else
        db_rollback(c);
    sbuf_free(&q);
    return rc;
}

void snap_drop(PGconn *c, const char *schema, const char *shadow)
{
    sbuf q = SBUF_INIT;
    sbuf_puts(&q, "DROP TABLE IF EXISTS ");
    qualified(&q, schema, shadow);
    gs_err e = {0};
    if (!sbuf_failed(&q))
        db_exec(c, sbuf_str(&q), &e);
    sbuf_free(&q);
}

/* The live table's stored columns other than _local_id, quoted, comma separated, each prefixed
 * with `prefix` (e.g. "s."). */
static int column_list(PGconn *c, const char *qtable, const char *prefix, sbuf *out, gs_err *e)
{
    const char *p[1] = {qtable};
    PGresult *r;
    int rc = db_query(c,
                      "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass($1) "
                      "AND attnum > 0 AND NOT attisdropped AND attgenerated = '' "
                      "AND attname <> '_local_id' ORDER BY attnum",
                      1, p, &r, e);
    if (rc)
        return rc;
    for (int i = 0; i < PQntuples(r); i++) {
        sbuf_printf(out, "%s%s", i ? ", " : "", prefix);
        ident_quote(out, PQgetvalue(r, i, 0));
    }
    if (PQntuples(r) == 0)
        rc = gs_err_set(e, GS_ESTATE, "table %s not found", qtable);
    PQclear(r);
    return rc;
}

static long long tuples(PGresult *r)
{
    return atoll(PQcmdTuples(r));
}

int snap_swap(PGconn *c, const char *schema, const char *table, const char *shadow,
              const char *const *locations, size_t nloc, bool soft, const snap_scan *scans,
              size_t nscans, snap_counts *counts, gs_err *e)
{
    memset(counts, 0, sizeof *counts);
    sbuf live = SBUF_INIT, shd = SBUF_INIT, cols = SBUF_INIT, scols = SBUF_INIT, locs = SBUF_INIT,
         q = SBUF_INIT;
    qualified(&live, schema, table);
    qualified(&shd, schema, shadow);
    map_array_encode(&locs, locations, nloc);
    if (!nloc)
        sbuf_puts(&locs, "{}");
    int rc = column_list(c, sbuf_str(&live), "", &cols, e);
    if (!rc)
        rc = column_list(c, sbuf_str(&live), "s.", &scols, e);
    if (!rc && (sbuf_failed(&live) || sbuf_failed(&shd) || sbuf_failed(&locs)))
        rc = gs_err_set(e, GS_ENOMEM, "out of memory");
    if (rc)
        goto out;
    rc = db_begin(c, e);
    if (rc)
        goto out;
    /* Writers wait (user sessions whose triggers would add outbox rows, other ghlsync
     * processes); readers go on and see the old rows until COMMIT. */
    sbuf_printf(&q, "LOCK TABLE %s IN SHARE ROW EXCLUSIVE MODE", sbuf_str(&live));
    rc = db_exec(c, sbuf_str(&q), e);
    if (!rc)
        rc = snap_check_outbox(c, schema, table, e);
    const char *p1[1] = {sbuf_str(&locs)};
    PGresult *r = NULL;
    /* the _local_id of every record the snapshot replaces, to keep it */
    if (!rc) {
        sbuf_reset(&q);
        sbuf_printf(&q,
                    "CREATE TEMP TABLE _ghlsync_snap_keys ON COMMIT DROP AS SELECT "
                    "\"location_id\", \"id\", \"_local_id\" FROM %s WHERE \"id\" IS NOT NULL AND "
                    "\"location_id\" = ANY($1::text[])",
                    sbuf_str(&live));
        rc = db_execp(c, sbuf_str(&q), 1, p1, e);
    }
    /* records that are gone remotely */
    if (!rc) {
        sbuf_reset(&q);
        if (soft)
            sbuf_printf(&q, "UPDATE %s t SET \"_deleted_at\" = now() WHERE ", sbuf_str(&live));
        else
            sbuf_printf(&q, "DELETE FROM %s t WHERE ", sbuf_str(&live));
        sbuf_printf(&q,
                    "t.\"id\" IS NOT NULL AND t.\"location_id\" = ANY($1::text[]) %s AND NOT "
                    "EXISTS (SELECT 1 FROM %s s WHERE s.\"location_id\" = t.\"location_id\" AND "
                    "s.\"id\" = t.\"id\")",
                    soft ? "AND t.\"_deleted_at\" IS NULL" : "", sbuf_str(&shd));
        rc = db_query(c, sbuf_str(&q), 1, p1, &r, e);
        if (!rc)
            counts->deleted = tuples(r);
        PQclear(r);
        r = NULL;
    }
    /* the others: old versions out, the shadow's in, each keeping its _local_id */
    if (!rc) {
        sbuf_reset(&q);
        sbuf_printf(&q,
                    "DELETE FROM %s t WHERE t.\"id\" IS NOT NULL AND t.\"location_id\" = "
                    "ANY($1::text[]) AND EXISTS (SELECT 1 FROM %s s WHERE s.\"location_id\" = "
                    "t.\"location_id\" AND s.\"id\" = t.\"id\")",
                    sbuf_str(&live), sbuf_str(&shd));
        rc = db_execp(c, sbuf_str(&q), 1, p1, e);
    }
    if (!rc) {
        sbuf_reset(&q);
        sbuf_printf(&q, "INSERT INTO %s (\"_local_id\", %s) SELECT COALESCE(k.\"_local_id\", ",
                    sbuf_str(&live), sbuf_str(&cols));
        sbuf_puts(&q, "nextval(pg_get_serial_sequence(");
        ident_quote_literal(&q, sbuf_str(&live));
        sbuf_printf(&q,
                    ", '_local_id'))), %s FROM %s s LEFT JOIN _ghlsync_snap_keys k ON "
                    "k.\"location_id\" = s.\"location_id\" AND k.\"id\" = s.\"id\"",
                    sbuf_str(&scols), sbuf_str(&shd));
        rc = sbuf_failed(&q) ? gs_err_set(e, GS_ENOMEM, "out of memory")
                             : db_query(c, sbuf_str(&q), 0, NULL, &r, e);
        if (!rc)
            counts->loaded = tuples(r);
        PQclear(r);
        r = NULL;
    }
    for (size_t i = 0; !rc && i < nscans; i++) {
        char gen[32];
        snprintf(gen, sizeof gen, "%lld", (long long)scans[i].generation);
        const char *p[3] = {scans[i].location_id, scans[i].object_key, gen};
        rc = db_execp(c, ps_sql_scan_done, 3, p, e);
    }
    if (!rc) {
        sbuf_reset(&q);
        sbuf_printf(&q, "DROP TABLE %s", sbuf_str(&shd));
        rc = db_exec(c, sbuf_str(&q), e);
    }
    if (!rc)
        rc = db_commit(c, e);
    else
        db_rollback(c);
out:
    sbuf_free(&live);
    sbuf_free(&shd);
    sbuf_free(&cols);
    sbuf_free(&scols);
    sbuf_free(&locs);
    sbuf_free(&q);
    return rc;
}
