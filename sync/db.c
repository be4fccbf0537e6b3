/* db.c - see db.h. */
#include "db.h"

#include <stdio.h>
#include <string.h>

static const char session_settings[] = "SET client_encoding = 'UTF8'; SET DateStyle = 'ISO, YMD'; "
                                       "SET TimeZone = 'UTC'; SET IntervalStyle = 'postgres'";

int db_revive(PGconn *c, const char *session_sql, gs_err *err)
{
    if (PQstatus(c) == CONNECTION_OK)
        return 0;
    PQreset(c);
    if (PQstatus(c) != CONNECTION_OK) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", PQerrorMessage(c));
        size_t l = strlen(msg);
        while (l > 0 && (msg[l - 1] == '\n' || msg[l - 1] == ' '))
            msg[--l] = '\0';
        return gs_err_set(err, GS_EDBLOST, "cannot reconnect to PostgreSQL: %s", msg);
    }
    int rc = db_exec(c, session_settings, err);
    if (!rc && session_sql)
        rc = db_exec(c, session_sql, err);
    return rc;
}

int db_connect(const char *conninfo, PGconn **out, gs_err *err)
{
    *out = NULL;
    PGconn *c = PQconnectdb(conninfo ? conninfo : "");
    if (!c)
        return gs_err_set(err, GS_ENOMEM, "out of memory connecting to PostgreSQL");
    if (PQstatus(c) != CONNECTION_OK) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", PQerrorMessage(c));
        size_t l = strlen(msg);
        while (l > 0 && (msg[l - 1] == '\n' || msg[l - 1] == ' '))
            msg[--l] = '\0';
        PQfinish(c);
        return gs_err_set(err, GS_EDB,
                          "cannot connect to PostgreSQL: %s (check the [database] settings or "
                          "PGHOST/PGPORT/PGUSER)",
                          msg);
    }
    int rc = db_exec(c, session_settings, err);
    if (rc) {
        PQfinish(c);
        return rc;
    }
    *out = c;
    return 0;
}

static void trim_nl(char *s)
{
    size_t l = strlen(s);
    while (l > 0 && (s[l - 1] == '\n' || s[l - 1] == ' '))
        s[--l] = '\0';
}

int db_err_result(gs_err *err, const PGresult *res, PGconn *c, const char *what)
{
    char primary[512], detail[384] = "", hint[384] = "";
    const char *p = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    snprintf(primary, sizeof primary, "%s", p ? p : (c ? PQerrorMessage(c) : "unknown error"));
    trim_nl(primary);
    const char *d = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL) : NULL;
    const char *h = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_HINT) : NULL;
    if (d)
        snprintf(detail, sizeof detail, " (DETAIL: %s)", d);
    if (h)
        snprintf(hint, sizeof hint, " (HINT: %s)", h);
    return gs_err_set(err, GS_EDB, "%s: %s%s%s", what, primary, detail, hint);
}

int db_query(PGconn *c, const char *sql, int n, const char *const *params, PGresult **out,
             gs_err *err)
{
    *out = NULL;
    PGresult *r =
        n > 0 || params ? PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0) : PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        /* The statement's first line says which one failed without dumping a whole migration. */
        char what[120];
        size_t l = strcspn(sql, "\n");
        snprintf(what, sizeof what, "%.*s%s", (int)(l > 100 ? 100 : l), sql,
                 l > 100 || sql[l] ? " ..." : "");
        int rc = db_err_result(err, r, c, what);
        PQclear(r);
        return rc;
    }
    *out = r;
    return 0;
}

int db_execp(PGconn *c, const char *sql, int n, const char *const *params, gs_err *err)
{
    PGresult *r;
    int rc = db_query(c, sql, n, params, &r, err);
    PQclear(r);
    return rc;
}

int db_exec(PGconn *c, const char *sql, gs_err *err)
{
    return db_execp(c, sql, 0, NULL, err);
}

int db_begin(PGconn *c, gs_err *err)
{
    return db_exec(c, "BEGIN", err);
}

int db_commit(PGconn *c, gs_err *err)
{
    return db_exec(c, "COMMIT", err);
}

void db_rollback(PGconn *c)
{
    PQclear(PQexec(c, "ROLLBACK"));
}
