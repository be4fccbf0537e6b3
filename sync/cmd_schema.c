/* cmd_schema.c - `ghlsync schema plan|apply`: HighLevel definitions -> tables (engine.h). */
#include "commands.h"
#include "engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char cmd_schema_help[] =
    "usage: ghlsync [-c FILE] schema plan [OBJECT...]\n"
    "   or: ghlsync [-c FILE] schema apply [OBJECT...]\n\n"
    "Read the object and field definitions of every configured location from HighLevel\n"
    "and turn them into PostgreSQL tables in [database] schema.\n\n"
    "    plan     print the DDL that would bring the tables up to date; change nothing\n"
    "    apply    run that DDL in one transaction per location (new tables, new columns,\n"
    "             comments); never drops a column that holds data\n\n"
    "Arguments:\n"
    "    OBJECT   limit to these object keys (default: every configured object)\n\n"
    "Examples:\n"
    "    ghlsync schema plan\n"
    "    ghlsync schema apply custom_objects.pet\n";

int cmd_schema(struct cli_ctx *ctx, int argc, char **argv)
{
    if (argc < 2 || (strcmp(argv[1], "plan") != 0 && strcmp(argv[1], "apply") != 0)) {
        fprintf(stderr, "ghlsync schema: expected plan or apply\nsee `ghlsync schema --help`\n");
        return CLI_EXIT_USAGE;
    }
    bool apply = strcmp(argv[1], "apply") == 0;
    int rc = cli_load_config(ctx);
    if (rc)
        return rc;
    struct engine_opts eo = {.only_objects = (const char *const *)argv + 2,
                             .n_only_objects = (size_t)(argc - 2),
                             .pool_size = 1};
    struct engine E;
    gs_err e = {0};
    sbuf out = SBUF_INIT;
    int code = CLI_EXIT_OK;
    if (engine_open(&E, ctx, &eo, &e) || engine_discover(&E, apply, &out, &e)) {
        fprintf(stderr, "ghlsync schema %s: %s\n", argv[1], e.msg);
        code = e.code == GS_ECONFIG ? CLI_EXIT_USAGE : CLI_EXIT_RUNTIME;
    } else {
        fputs(sbuf_str(&out), stdout);
        if (apply)
            printf("applied\n");
    }
    sbuf_free(&out);
    engine_close(&E);
    return code;
}
