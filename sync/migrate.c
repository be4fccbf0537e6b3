/* migrate.c - see migrate.h. */
#include "migrate.h"

#include "datadir.h"

#include "db.h"
#include "sbuf.h"

#include <ctype.h>
#include <stdbool.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct mig {
    int version;
    char *name; /* file name */
    char *sql;
} mig;

int migrate_find_dir(char *out, size_t len, gs_err *err)
{
    return datadir_find("migrations", true, out, len, err);
}

static void migs_free(mig *m, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(m[i].name);
        free(m[i].sql);
    }
    free(m);
}

static int cmp_mig(const void *a, const void *b)
{
    return ((const mig *)a)->version - ((const mig *)b)->version;
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    sbuf b = SBUF_INIT;
    char buf[8192];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        sbuf_append(&b, buf, n);
    bool bad = ferror(f) || sbuf_failed(&b);
    fclose(f);
    if (bad || memchr(sbuf_str(&b), 0, b.len)) {
        sbuf_free(&b);
        return NULL;
    }
    sbuf_append(&b, "", 0);
    return sbuf_steal(&b);
}

/* NNN_name.sql with a positive number; anything else in the directory is ignored. */
static int list_migrations(const char *dir, mig **out, size_t *nout, gs_err *err)
{
    *out = NULL;
    *nout = 0;
    DIR *d = opendir(dir);
    if (!d)
        return gs_err_set(err, GS_EIO, "cannot open migrations directory %s: %s", dir,
                          strerror(errno));
    mig *m = NULL;
    size_t n = 0;
    struct dirent *de;
    int rc = 0;
    while ((de = readdir(d))) {
        const char *nm = de->d_name;
        size_t l = strlen(nm);
        if (l < 6 || !isdigit((unsigned char)nm[0]) || strcmp(nm + l - 4, ".sql") != 0)
            continue;
        char *end;
        long v = strtol(nm, &end, 10);
        if (*end != '_' || v <= 0 || v > 99999)
            continue;
        mig *nm2 = realloc(m, (n + 1) * sizeof *m);
        if (!nm2) {
            rc = gs_err_set(err, GS_ENOMEM, "out of memory");
            break;
        }
        m = nm2;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, nm);
        m[n].version = (int)v;
        m[n].name = strdup(nm);
        m[n].sql = read_file(path);
        n++;
        if (!m[n - 1].name || !m[n - 1].sql) {
            rc = gs_err_set(err, GS_EIO, "cannot read migration %s", path);
            break;
        }
    }
    closedir(d);
    if (rc) {
        migs_free(m, n);
        return rc;
    }
    qsort(m, n, sizeof *m, cmp_mig);
    for (size_t i = 1; i < n; i++)
        if (m[i].version == m[i - 1].version) {
            rc = gs_err_set(err, GS_ECONFIG, "two migrations numbered %d: %s and %s", m[i].version,
                            m[i - 1].name, m[i].name);
            migs_free(m, n);
            return rc;
        }
    *out = m;
    *nout = n;
    return 0;
}

static const char *const bootstrap_sql =
    "CREATE SCHEMA IF NOT EXISTS ghlsync;"
    "CREATE TABLE IF NOT EXISTS ghlsync.schema_migrations ("
    " version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,"
    " applied_at timestamptz NOT NULL DEFAULT now())";

/* Checksums are computed by PostgreSQL (sha256) so that no crypto library is needed here. */
static int checksum(PGconn *c, const char *sql, char *out, size_t len, gs_err *err)
{
    PGresult *r;
    const char *p[1] = {sql};
    int rc = db_query(c, "SELECT encode(sha256(convert_to($1, 'UTF8')), 'hex')", 1, p, &r, err);
    if (rc)
        return rc;
    snprintf(out, len, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    return 0;
}

static int run_locked(PGconn *c, const char *dir, mig *m, size_t n, gs_log *lg, int *applied,
                      gs_err *err)
{
    int rc = db_exec(c, bootstrap_sql, err);
    if (rc)
        return rc;
    PGresult *r;
    rc = db_query(c, "SELECT version, name, checksum FROM ghlsync.schema_migrations ORDER BY 1", 0,
                  NULL, &r, err);
    if (rc)
        return rc;
    int rows = PQntuples(r);
    /* Verify every applied migration before applying anything new. */
    for (int i = 0; i < rows; i++) {
        int v = atoi(PQgetvalue(r, i, 0));
        const mig *found = NULL;
        for (size_t j = 0; j < n; j++)
            if (m[j].version == v)
                found = &m[j];
        if (!found) {
            rc = gs_err_set(err, GS_ESTATE,
                            "the database has migration %d (%s) which %s does not contain: this "
                            "ghlsync is older than the database; upgrade it",
                            v, PQgetvalue(r, i, 1), dir);
            break;
        }
        char sum[80];
        if ((rc = checksum(c, found->sql, sum, sizeof sum, err)))
            break;
        if (strcmp(sum, PQgetvalue(r, i, 2)) != 0) {
            rc = gs_err_set(err, GS_ESTATE,
                            "migration %s/%s was changed after it was applied (checksum %.12s..., "
                            "recorded %.12s...); applied migrations must never be edited: restore "
                            "the file and add a new migration instead",
                            dir, found->name, sum, PQgetvalue(r, i, 2));
            break;
        }
    }
    for (size_t j = 0; rc == 0 && j < n; j++) {
        bool done = false;
        for (int i = 0; i < rows; i++)
            if (atoi(PQgetvalue(r, i, 0)) == m[j].version)
                done = true;
        if (done)
            continue;
        char sum[80], ver[16];
        if ((rc = checksum(c, m[j].sql, sum, sizeof sum, err)))
            break;
        snprintf(ver, sizeof ver, "%d", m[j].version);
        const char *p[3] = {ver, m[j].name, sum};
        if ((rc = db_begin(c, err)))
            break;
        rc = db_exec(c, m[j].sql, err);
        if (rc == 0)
            rc = db_execp(c,
                          "INSERT INTO ghlsync.schema_migrations (version, name, checksum) "
                          "VALUES ($1, $2, $3)",
                          3, p, err);
        if (rc == 0)
            rc = db_commit(c, err);
        if (rc) {
            db_rollback(c);
            gs_err_wrap(err, "migration %s", m[j].name);
            break;
        }
        log_event(lg, LOG_INFO, "migrate.applied", "version", ver, "name", m[j].name, NULL);
        if (applied)
            (*applied)++;
    }
    PQclear(r);
    return rc;
}

int migrate_run(PGconn *c, const char *dir, gs_log *lg, int *applied, gs_err *err)
{
    if (applied)
        *applied = 0;
    mig *m;
    size_t n;
    int rc = list_migrations(dir, &m, &n, err);
    if (rc)
        return rc;
    char key[32];
    snprintf(key, sizeof key, "%lld", (long long)MIGRATE_LOCK_KEY);
    const char *p[1] = {key};
    /* Session lock: it must span several transactions. Waiters block here until the first
     * process is done, then find nothing pending. */
    rc = db_execp(c, "SELECT pg_advisory_lock($1::bigint)", 1, p, err);
    if (rc == 0) {
        rc = run_locked(c, dir, m, n, lg, applied, err);
        gs_err unl;
        db_execp(c, "SELECT pg_advisory_unlock($1::bigint)", 1, p, &unl);
    }
    migs_free(m, n);
    return rc;
}

int migrate_current(PGconn *c, int *version, gs_err *err)
{
    *version = 0;
    PGresult *r;
    int rc = db_query(c, "SELECT to_regclass('ghlsync.schema_migrations') IS NOT NULL", 0, NULL, &r,
                      err);
    if (rc)
        return rc;
    bool exists = PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    if (!exists)
        return 0;
    rc = db_query(c, "SELECT coalesce(max(version), 0) FROM ghlsync.schema_migrations", 0, NULL, &r,
                  err);
    if (rc)
        return rc;
    *version = atoi(PQgetvalue(r, 0, 0));
    PQclear(r);
    return 0;
}
