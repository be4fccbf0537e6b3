/* cmd_run.c - `ghlsync run`: backfill if needed, then mirror until stopped (pull.h, engine.h). */
#include "commands.h"
#include "pull.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char cmd_run_help[] =
    "usage: ghlsync [-c FILE] run\n\n"
    "Keep PostgreSQL and HighLevel in sync until stopped: complete the backfill first when\n"
    "it is not, then poll each object every poll_interval for records changed since the\n"
    "last poll (filters + sort on updatedAt when the server supports them, else a sorted\n"
    "scan, else a full scan with diff; the mode found is logged once), sweep for remote\n"
    "deletes every [pull] full_scan_interval, pick up schema changes, and run the push\n"
    "worker when enabled.\n\n"
    "Signals: SIGINT/SIGTERM stop cleanly (the transaction in flight commits, cursors are\n"
    "saved; exit 0 within 5 s). SIGHUP reloads sync.toml ([pull] settings, poll intervals,\n"
    "[log] level; other changes need a restart).\n\n"
    "Examples:\n"
    "    ghlsync run\n"
    "    ghlsync --log-format json run\n";

int cmd_run(struct cli_ctx *ctx, int argc, char **argv)
{
    if (argc > 1) {
        fprintf(stderr, "ghlsync run: unexpected argument %s\nsee `ghlsync run --help`\n", argv[1]);
        return CLI_EXIT_USAGE;
    }
    struct engine_opts eo = {0};
    struct pull_opts po = {.mirror = true};
    /* Test hook and tuning knob: how often schemas are re-fetched (milliseconds). */
    const char *sr = getenv("GHLSYNC_SCHEMA_REFRESH_MS");
    if (sr && *sr)
        po.schema_refresh_ms = strtoll(sr, NULL, 10);
    return pull_command(ctx, &eo, &po);
}
