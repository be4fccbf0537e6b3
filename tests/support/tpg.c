/* tpg.c - see tpg.h. */
#include "tpg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int db_counter;

bool tpg_available(void)
{
    const char *h = getenv("PGHOST");
    return h && *h;
}

PGconn *tpg_fresh_db(const char *tag, char *conninfo, size_t len)
{
    PGconn *admin = PQconnectdb("dbname=postgres");
    if (PQstatus(admin) != CONNECTION_OK) {
        printf("# tpg: cannot connect to the test server: %s", PQerrorMessage(admin));
        PQfinish(admin);
        return NULL;
    }
    char name[64];
    snprintf(name, sizeof name, "t_%.30s_%d_%d", tag, (int)getpid(), ++db_counter);
    for (char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')))
            *p = '_';
    char sql[128];
    snprintf(sql, sizeof sql, "CREATE DATABASE %s TEMPLATE template0 ENCODING 'UTF8'", name);
    bool ok = tpg_exec(admin, sql);
    PQfinish(admin);
    if (!ok)
        return NULL;
    snprintf(conninfo, len, "dbname=%s", name);
    PGconn *c = PQconnectdb(conninfo);
    if (PQstatus(c) != CONNECTION_OK) {
        printf("# tpg: cannot connect to %s: %s", name, PQerrorMessage(c));
        PQfinish(c);
        return NULL;
    }
    return c;
}

bool tpg_exec(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    bool ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
    if (!ok)
        printf("# tpg: %s: %s", sql, PQerrorMessage(c));
    PQclear(r);
    return ok;
}

char *tpg_scalar(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    char *out = NULL;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0 && !PQgetisnull(r, 0, 0))
        out = strdup(PQgetvalue(r, 0, 0));
    else if (PQresultStatus(r) != PGRES_TUPLES_OK)
        printf("# tpg: %s: %s", sql, PQerrorMessage(c));
    PQclear(r);
    return out;
}
