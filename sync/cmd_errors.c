/* cmd_errors.c - `ghlsync errors`: local changes that need a person (ghlsync.push_errors):
 * failed (the API said no) and unknown (a create whose outcome could not be established). */
#include "commands.h"
#include "db.h"
#include "family.h"
#include "ident.h"
#include "sbuf.h"
#include "triggers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char cmd_errors_help[] =
    "usage: ghlsync [-c FILE] errors [list]\n"
    "   or: ghlsync [-c FILE] errors show ID\n"
    "   or: ghlsync [-c FILE] errors retry ID | --all\n"
    "   or: ghlsync [-c FILE] errors ignore ID\n\n"
    "Local changes that HighLevel rejected (state failed: the API's status and message are\n"
    "kept), that failed too often with transient errors, or that were parked for an operator\n"
    "(state unknown: a create was sent but its answer never arrived and the object has no\n"
    "external_id_field to look the record up; check HighLevel before retrying, or the record\n"
    "is created twice). A failed change is also retried by the next local change to the same\n"
    "row. The same list is the view ghlsync.push_errors.\n\n"
    "    list         list them (the default)\n"
    "    show ID      show one: the row, the changed columns with old and new values, the\n"
    "                 API's answer\n"
    "    retry ID     queue it again now (--all: every listed change)\n"
    "    ignore ID    mark it resolved without pushing it; the row keeps its local values\n\n"
    "Examples:\n"
    "    ghlsync errors\n"
    "    ghlsync errors show 42\n"
    "    ghlsync errors retry 42\n";

static PGconn *open_db(struct cli_ctx *ctx)
{
    gs_err e = {0};
    PGconn *c = NULL;
    if (db_connect(ctx->cfg.database.url, &c, &e)) {
        fprintf(stderr, "ghlsync errors: %s\n", e.msg);
        return NULL;
    }
    PGresult *r = NULL;
    if (db_query(c, "SELECT to_regclass('ghlsync.push_errors') IS NOT NULL", 0, NULL, &r, &e) ||
        PQgetvalue(r, 0, 0)[0] != 't') {
        fprintf(stderr,
                "ghlsync errors: the database has no ghlsync.push_errors view\n"
                "hint: run `ghlsync run` or `ghlsync schema apply` once to set the database up\n");
        PQclear(r);
        PQfinish(c);
        return NULL;
    }
    PQclear(r);
    return c;
}

static int do_list(PGconn *c)
{
    gs_err e = {0};
    PGresult *r = NULL;
    if (db_query(c,
                 "SELECT id, state, op, table_schema || '.' || table_name, local_key, "
                 "coalesce(remote_id, '-'), coalesce(last_status::text, '-'), "
                 "coalesce(last_error, '') FROM ghlsync.push_errors ORDER BY id",
                 0, NULL, &r, &e)) {
        fprintf(stderr, "ghlsync errors: %s\n", e.msg);
        return CLI_EXIT_RUNTIME;
    }
    int n = PQntuples(r);
    if (n == 0) {
        printf("no failed or parked changes\n");
        PQclear(r);
        return CLI_EXIT_OK;
    }
    printf("%-8s %-8s %-7s %-24s %-9s %-26s %-6s %s\n", "ID", "STATE", "OP", "TABLE", "ROW",
           "REMOTE ID", "HTTP", "ERROR");
    for (int i = 0; i < n; i++) {
        char err[81];
        snprintf(err, sizeof err, "%s", PQgetvalue(r, i, 7));
        for (char *p = err; *p; p++)
            if (*p == '\n')
                *p = ' ';
        printf("%-8s %-8s %-7s %-24s %-9s %-26s %-6s %s%s\n", PQgetvalue(r, i, 0),
               PQgetvalue(r, i, 1), PQgetvalue(r, i, 2), PQgetvalue(r, i, 3), PQgetvalue(r, i, 4),
               PQgetvalue(r, i, 5), PQgetvalue(r, i, 6), err,
               strlen(PQgetvalue(r, i, 7)) > 80 ? "..." : "");
    }
    printf("%d change%s; `ghlsync errors show ID` for details\n", n, n == 1 ? "" : "s");
    PQclear(r);
    return CLI_EXIT_OK;
}

static bool valid_id(const char *s)
{
    if (!s || !*s || strlen(s) > 18)
        return false;
    for (const char *p = s; *p; p++)
        if (*p < '0' || *p > '9')
            return false;
    return true;
}

static int do_show(PGconn *c, const char *id)
{
    gs_err e = {0};
    PGresult *r = NULL;
    const char *p[] = {id};
    if (db_query(c,
                 "SELECT id, state, op, location_id, object_key, table_schema, table_name, "
                 "local_key, coalesce(remote_id, '-'), coalesce(changed_columns::text, '{}'), "
                 "coalesce(old_values::text, '{}'), coalesce(new_values::text, '{}'), "
                 "coalesce(base_updated_at::text, '-'), created_at, attempts, "
                 "coalesce(last_status::text, '-'), coalesce(last_error, ''), "
                 "coalesce(sent_at::text, '-') FROM ghlsync.changes WHERE id = $1::bigint",
                 1, p, &r, &e)) {
        fprintf(stderr, "ghlsync errors: %s\n", e.msg);
        return CLI_EXIT_RUNTIME;
    }
    if (PQntuples(r) == 0) {
        fprintf(stderr, "ghlsync errors: no change %s\n", id);
        PQclear(r);
        return CLI_EXIT_USAGE;
    }
    static const char *const labels[] = {
        "id",    "state",      "operation", "location", "object",     "schema",
        "table", "row",        "remote id", "columns",  "old values", "new values",
        "base",  "changed at", "attempts",  "HTTP",     "error",      "create sent at"};
    for (int i = 0; i < 18; i++)
        printf("%-15s %s\n", labels[i], PQgetvalue(r, 0, i));
    if (!strcmp(PQgetvalue(r, 0, 1), "unknown"))
        printf("\nThe create was sent but its answer never arrived. Look for the record in "
               "HighLevel:\nif it exists, write its id into the row's id column (as the engine: "
               "SET ghlsync.origin = 'engine') and `ghlsync errors ignore %s`;\nif it does not, "
               "`ghlsync errors retry %s` creates it.\n",
               id, id);
    PQclear(r);
    return CLI_EXIT_OK;
}

/* retry / ignore: one change, or all listed (retry --all) */
static int do_set(PGconn *c, const char *id, bool retry)
{
    gs_err e = {0};
    PGresult *r = NULL;
    const char *sql =
        retry ? "UPDATE ghlsync.changes SET state = 'pending', next_attempt_at = now(), attempts "
                "= 0, sent_at = NULL, last_error = NULL, last_status = NULL WHERE state "
                "IN " FAM_PARKED_STATES " AND ($1::bigint IS NULL OR id = $1::bigint) RETURNING "
                "table_schema, table_name, local_key, location_id"
              : "UPDATE ghlsync.changes SET state = 'ignored', done_at = now() WHERE state "
                "IN " FAM_PARKED_STATES " AND id = $1::bigint RETURNING table_schema, table_name, "
                "local_key, location_id";
    const char *p[] = {id};
    /* the engine's marker, for this transaction only (a transaction pooler may sit between) */
    if (db_begin(c, &e) || db_exec(c, "SELECT set_config('ghlsync.origin', 'engine', true)", &e) ||
        db_query(c, sql, 1, p, &r, &e)) {
        fprintf(stderr, "ghlsync errors: %s\n", e.msg);
        db_rollback(c);
        return CLI_EXIT_RUNTIME;
    }
    int n = PQntuples(r);
    for (int i = 0; i < n; i++) {
        sbuf q = SBUF_INIT;
        sbuf_puts(&q, "UPDATE ");
        ident_quote(&q, PQgetvalue(r, i, 0));
        sbuf_putc(&q, '.');
        ident_quote(&q, PQgetvalue(r, i, 1));
        sbuf_printf(&q, " SET _sync_state = %s, _sync_error = NULL WHERE _local_id = $1::bigint",
                    retry ? "'pending'" : "'ignored'");
        const char *k[] = {PQgetvalue(r, i, 2)};
        const char *l[] = {PQgetvalue(r, i, 3)};
        int rc = db_execp(c, sbuf_str(&q), 1, k, &e);
        if (!rc && retry)
            rc = db_execp(c, "SELECT pg_notify('" PUSH_NOTIFY_CHANNEL "', $1)", 1, l, &e);
        sbuf_free(&q);
        if (rc) {
            fprintf(stderr, "ghlsync errors: %s\n", e.msg);
            db_rollback(c);
            PQclear(r);
            return CLI_EXIT_RUNTIME;
        }
    }
    PQclear(r);
    if (db_commit(c, &e)) {
        fprintf(stderr, "ghlsync errors: %s\n", e.msg);
        return CLI_EXIT_RUNTIME;
    }
    if (n == 0 && id) {
        fprintf(stderr,
                "ghlsync errors: change %s is not failed or parked (see `ghlsync errors`)\n", id);
        return CLI_EXIT_USAGE;
    }
    printf("%s %d change%s%s\n", retry ? "queued" : "ignored", n, n == 1 ? "" : "s",
           retry ? " (a running `ghlsync run` picks them up now; else `ghlsync push`)" : "");
    return CLI_EXIT_OK;
}

int cmd_errors(struct cli_ctx *ctx, int argc, char **argv)
{
    const char *sub = argc > 1 ? argv[1] : "list";
    const char *arg = argc > 2 ? argv[2] : NULL;
    bool all = arg && !strcmp(arg, "--all");
    bool ok_args =
        (!strcmp(sub, "list") && argc <= 2) ||
        ((!strcmp(sub, "show") || !strcmp(sub, "ignore")) && argc == 3 && valid_id(arg)) ||
        (!strcmp(sub, "retry") && argc == 3 && (all || valid_id(arg)));
    if (!ok_args) {
        fprintf(stderr, "ghlsync errors: bad arguments\n%s", cmd_errors_help);
        return CLI_EXIT_USAGE;
    }
    int rc = cli_load_config(ctx);
    if (rc)
        return rc;
    PGconn *c = open_db(ctx);
    if (!c)
        return CLI_EXIT_RUNTIME;
    if (!strcmp(sub, "list"))
        rc = do_list(c);
    else if (!strcmp(sub, "show"))
        rc = do_show(c, arg);
    else
        rc = do_set(c, all ? NULL : arg, !strcmp(sub, "retry"));
    PQfinish(c);
    return rc;
}
