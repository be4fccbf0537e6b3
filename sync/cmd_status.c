/* cmd_status.c - `ghlsync status [--json]`: print status.h's report for the configured database. */
#include "commands.h"
#include "db.h"
#include "status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char cmd_status_help[] =
    "usage: ghlsync [-c FILE] status [--json]\n\n"
    "Show, per location and object: rows mirrored, time of the last successful pull, age of\n"
    "the watermark (how far behind HighLevel the table may be), pending / failed / parked\n"
    "local changes, conflicts, and per location the requests used today, the rate budget left,\n"
    "the current request rate and the last error.\n\n"
    "Everything is read from PostgreSQL ([database] url): it works while `ghlsync run` is\n"
    "running, after it stopped, and from another host. Request counters are those the running\n"
    "engine last saved (every few seconds). The same data is in the view ghlsync.status.\n\n"
    "Options:\n"
    "    --json   print one JSON document instead of tables (unknown values are null)\n\n"
    "Exit status: 0 when the report was printed, 1 when the database could not be read.\n\n"
    "Examples:\n"
    "    ghlsync status\n"
    "    ghlsync status --json | jq '.locations[].objects[] | {object_key, watermark_age_s}'\n";

int cmd_status(struct cli_ctx *ctx, int argc, char **argv)
{
    bool json = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            json = true;
        } else {
            fprintf(stderr, "ghlsync status: unknown argument '%s'\n%s", argv[i], cmd_status_help);
            return CLI_EXIT_USAGE;
        }
    }
    int rc = cli_load_config(ctx);
    if (rc != CLI_EXIT_OK)
        return rc;
    gs_err err = {0};
    PGconn *c = NULL;
    if (db_connect(ctx->cfg.database.url, &c, &err) != 0) {
        char msg[sizeof err.msg];
        log_redact(ctx->log, err.msg, msg, sizeof msg);
        fprintf(stderr, "ghlsync status: %s\n", msg);
        PQfinish(c);
        return CLI_EXIT_RUNTIME;
    }
    struct status_report rep;
    rc = status_collect(c, &ctx->cfg, &rep, &err);
    PQfinish(c);
    if (rc != 0) {
        char msg[sizeof err.msg];
        log_redact(ctx->log, err.msg, msg, sizeof msg);
        fprintf(stderr, "ghlsync status: %s\n", msg);
        status_report_free(&rep);
        return CLI_EXIT_RUNTIME;
    }
    int out_rc = 0;
    if (json) {
        char *s = status_to_json(&rep);
        if (!s) {
            fprintf(stderr, "ghlsync status: out of memory\n");
            out_rc = -1;
        } else {
            printf("%s\n", s);
            free(s);
        }
    } else {
        out_rc = status_print_text(stdout, &rep);
    }
    status_report_free(&rep);
    if (fflush(stdout) != 0)
        out_rc = -1;
    return out_rc ? CLI_EXIT_RUNTIME : CLI_EXIT_OK;
}
