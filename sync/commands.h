/*
 * commands.h - the ghlsync subcommands and the context the CLI hands them.
 *
 * The CLI front end (cli.c) parses the global options, resolves the configuration path, creates
 * the logger, answers `COMMAND --help` itself (from cmd_NAME_help), then calls
 *     int cmd_NAME(struct cli_ctx *ctx, int argc, char **argv);
 * with argv[0] = the command name and argv[1..] its own arguments (parse them with getopt_long
 * after setting optind = 1, or by hand). The return value is the process exit code:
 * CLI_EXIT_OK, CLI_EXIT_RUNTIME (the work failed), CLI_EXIT_USAGE (bad arguments or bad
 * configuration) or CLI_EXIT_UNAVAILABLE (the database could not be reached at start, nothing
 * was done: try again later; `run` waits instead).
 *
 * Adding a command: define cmd_NAME and cmd_NAME_help in its own file (sync/cmd_NAME.c),
 * declare them below and list it in cli.c's command table.
 *
 * Memory: the context and everything in it belong to the CLI; commands must not free them.
 */
#ifndef GHLSYNC_COMMANDS_H
#define GHLSYNC_COMMANDS_H

#include "config.h"
#include "log.h"

#include <stdbool.h>
#include <stdio.h>

#define CLI_EXIT_OK          0
#define CLI_EXIT_RUNTIME     1
#define CLI_EXIT_USAGE       2
#define CLI_EXIT_UNAVAILABLE 3

struct cli_ctx {
    /* The configuration file: -c FILE, else ./sync.toml when it exists, else $GHLSYNC_CONFIG,
     * else "sync.toml" (which then fails to load with a hint). */
    const char *config_path;
    bool config_explicit; /* given with -c / --config */
    gs_log *log;          /* never NULL; level and format follow -v/-q/--log-format and [log] */
    struct cfg cfg;       /* valid after cli_load_config() returned 0 */
    bool cfg_loaded;
    int verbosity; /* number of -v minus number of -q */
    bool log_format_set;
    enum log_format log_format; /* from --log-format when log_format_set */
};

/* Loads ctx->config_path into ctx->cfg, applies [log] (unless overridden on the command line),
 * registers the secrets with ctx->log and logs the configuration warnings. Returns CLI_EXIT_OK,
 * or prints the error to stderr and returns CLI_EXIT_USAGE (CLI_EXIT_RUNTIME when out of memory).
 * Idempotent. */
int cli_load_config(struct cli_ctx *ctx);

/* True for "-h" and "--help" (for hand-written option loops). */
bool cli_is_help(const char *arg);

/* The whole program: `main` only calls this. */
int cli_main(int argc, char **argv);

typedef int (*cli_cmd_fn)(struct cli_ctx *ctx, int argc, char **argv);

int cmd_init(struct cli_ctx *ctx, int argc, char **argv);
int cmd_check(struct cli_ctx *ctx, int argc, char **argv);
int cmd_schema(struct cli_ctx *ctx, int argc, char **argv);
int cmd_backfill(struct cli_ctx *ctx, int argc, char **argv);
int cmd_run(struct cli_ctx *ctx, int argc, char **argv);
int cmd_push(struct cli_ctx *ctx, int argc, char **argv);
int cmd_status(struct cli_ctx *ctx, int argc, char **argv);
int cmd_errors(struct cli_ctx *ctx, int argc, char **argv);
int cmd_version(struct cli_ctx *ctx, int argc, char **argv);

/* `ghlsync COMMAND --help` text, printed as is (git/psql style: usage, description, options,
 * examples). */
extern const char cmd_init_help[];
extern const char cmd_check_help[];
extern const char cmd_schema_help[];
extern const char cmd_backfill_help[];
extern const char cmd_run_help[];
extern const char cmd_push_help[];
extern const char cmd_status_help[];
extern const char cmd_errors_help[];
extern const char cmd_version_help[];

#endif
