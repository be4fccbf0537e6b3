/* cmd_backfill.c - `ghlsync backfill`: copy every record once, resumably (pull.h). */
#include "commands.h"
#include "pull.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

const char cmd_backfill_help[] =
    "usage: ghlsync [-c FILE] backfill [--full] [--object KEY]... [--location ID] [--writes N] "
    "[--snapshot] [OBJECT...]\n\n"
    "Copy every record of every configured object from HighLevel into PostgreSQL once,\n"
    "as fast as the rate limit allows, then exit 0. Each page is written together with its\n"
    "cursor in one transaction: after a crash, kill or Ctrl-C, running it again resumes where\n"
    "it stopped, without losing or duplicating a record. A backfill that had completed runs\n"
    "a new full scan, which also marks records deleted in HighLevel (_deleted_at).\n\n"
    "On a terminal a progress bar per object is shown; otherwise log lines (start, every 50\n"
    "pages, end). Exit 0 when every object completed, 1 (with a summary) when any failed,\n"
    "2 on bad arguments or configuration, 3 when the database could not be reached at start\n"
    "(nothing was done; try again later).\n\n"
    "Options:\n"
    "    --full           ignore saved cursors: start every object from the beginning\n"
    "    --object KEY     only this object key (repeatable; same as OBJECT arguments)\n"
    "    --location ID    only this configured location\n"
    "    --writes N       page transactions in flight per object (1-8, default 3)\n"
    "    --snapshot       load into a shadow table and replace the table's rows with it in\n"
    "                     one transaction at the end: readers see the old rows or the new ones,\n"
    "                     never a half-loaded table (implies --full; refused while the table\n"
    "                     has unpushed local changes)\n\n"
    "Examples:\n"
    "    ghlsync backfill\n"
    "    ghlsync backfill --object custom_objects.pet --location ve9EPM428h8vShlRW1KT\n"
    "    ghlsync -v backfill --full business\n";

int cmd_backfill(struct cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"full", no_argument, NULL, 'f'},           {"object", required_argument, NULL, 'o'},
        {"location", required_argument, NULL, 'l'}, {"writes", required_argument, NULL, 'w'},
        {"snapshot", no_argument, NULL, 's'},       {NULL, 0, NULL, 0}};
    struct engine_opts eo = {0};
    struct pull_opts po = {.progress = isatty(2) == 1};
    const char **objs = calloc((size_t)argc + 1, sizeof *objs);
    if (!objs)
        return CLI_EXIT_RUNTIME;
    size_t nobj = 0;
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
        if (c == 'f') {
            po.full = true;
        } else if (c == 's') {
            po.snapshot = true;
            po.full = true;
        } else if (c == 'o') {
            objs[nobj++] = optarg;
        } else if (c == 'l') {
            eo.only_location = optarg;
        } else if (c == 'w') {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*end || v < 1 || v > PULL_MAX_WRITES) {
                fprintf(stderr, "ghlsync backfill: --writes wants 1 to %d\n", PULL_MAX_WRITES);
                free(objs);
                return CLI_EXIT_USAGE;
            }
            po.writes = (int)v;
        } else {
            fprintf(stderr, "ghlsync backfill: unknown option %s\n%s", argv[optind - 1],
                    "see `ghlsync backfill --help`\n");
            free(objs);
            return CLI_EXIT_USAGE;
        }
    }
    for (int i = optind; i < argc; i++)
        objs[nobj++] = argv[i];
    eo.only_objects = objs;
    eo.n_only_objects = nobj;
    int rc = pull_command(ctx, &eo, &po);
    free(objs);
    return rc;
}
