/*
 * cli.c - the ghlsync command line: global options, configuration path, logger, dispatch.
 *
 * Global options come before the command (git style); everything after the command name belongs
 * to the command. `ghlsync COMMAND --help` and `ghlsync help COMMAND` are answered here from the
 * command's help text, so commands never need to handle --help themselves.
 */
#include "commands.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct command {
    const char *name;
    const char *summary;
    cli_cmd_fn fn;
    const char *help;
};

static const struct command commands[] = {
    {"init", "write an annotated sync.toml to start from", cmd_init, cmd_init_help},
    {"check", "validate the configuration (--online: also reach the database and the API)",
     cmd_check, cmd_check_help},
    {"schema", "plan | apply: turn HighLevel schemas into PostgreSQL tables", cmd_schema,
     cmd_schema_help},
    {"backfill", "copy every record once, resumably, then exit", cmd_backfill, cmd_backfill_help},
    {"run", "keep PostgreSQL and HighLevel in sync until stopped", cmd_run, cmd_run_help},
    {"push", "send pending local changes to HighLevel, then exit", cmd_push, cmd_push_help},
    {"status", "per location and object: rows, freshness, pending changes, budget", cmd_status,
     cmd_status_help},
    {"errors", "list | show ID | retry ID | ignore ID: failed pushes", cmd_errors, cmd_errors_help},
    {"version", "print the version", cmd_version, cmd_version_help},
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *f)
{
    fprintf(f, "usage: ghlsync [-c FILE] [-v | -q] [--log-format text|json] COMMAND [ARGS...]\n\n"
               "Keep HighLevel objects and PostgreSQL tables in sync, both ways.\n\n"
               "Commands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(f, "    %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\nOptions:\n"
               "    -c, --config FILE      configuration file (default: ./sync.toml if it exists,\n"
               "                           else $GHLSYNC_CONFIG)\n"
               "    -v, --verbose          log more (debug); overrides [log] level\n"
               "    -q, --quiet            log less: warnings and errors only (-qq: errors only)\n"
               "        --log-format FMT   text (key=value lines) or json (JSON lines); overrides\n"
               "                           [log] format\n"
               "    -h, --help             show this help; `ghlsync COMMAND --help` for a command\n"
               "    -V, --version          show the version\n\n"
               "Exit status:\n"
               "    0  success\n"
               "    1  runtime failure (database, network, API)\n"
               "    2  usage or configuration error\n"
               "    3  the database could not be reached at start; nothing was done (`run`\n"
               "       waits for it instead)\n\n"
               "Environment:\n"
               "    GHLSYNC_CONFIG         configuration file when -c is absent and there is no\n"
               "                           ./sync.toml\n"
               "    PGHOST, PGUSER, ...    libpq defaults for [database] url\n\n"
               "Examples:\n"
               "    ghlsync init                      write ./sync.toml to edit\n"
               "    ghlsync check --online            validate it and reach both ends\n"
               "    ghlsync -c /etc/ghlsync/sync.toml run\n");
}

static void print_version(void)
{
    printf("ghlsync %s (%s)\n", GHLSYNC_VERSION, GHLSYNC_REV);
}

const char cmd_version_help[] = "usage: ghlsync version\n\n"
                                "Print the version and the source revision, then exit.\n\n"
                                "Examples:\n"
                                "    ghlsync version\n"
                                "    ghlsync --version\n";

int cmd_version(struct cli_ctx *ctx, int argc, char **argv)
{
    (void)ctx;
    if (argc > 1) {
        fprintf(stderr, "ghlsync version: unexpected argument '%s'\n", argv[1]);
        return CLI_EXIT_USAGE;
    }
    print_version();
    return CLI_EXIT_OK;
}

bool cli_is_help(const char *arg)
{
    return !strcmp(arg, "-h") || !strcmp(arg, "--help");
}

static enum log_level effective_level(const struct cli_ctx *ctx, enum log_level configured)
{
    if (ctx->verbosity == 0)
        return configured;
    int l = LOG_INFO + ctx->verbosity;
    if (l < LOG_ERROR)
        l = LOG_ERROR;
    if (l > LOG_DEBUG)
        l = LOG_DEBUG;
    return (enum log_level)l;
}

int cli_load_config(struct cli_ctx *ctx)
{
    if (ctx->cfg_loaded)
        return CLI_EXIT_OK;
    gs_err err = {0};
    int rc = cfg_load(ctx->config_path, &ctx->cfg, &err);
    if (rc) {
        fprintf(stderr, "%s\n", err.msg);
        if (rc == GS_EIO && !ctx->config_explicit)
            fprintf(stderr, "hint: give the file with -c FILE or $GHLSYNC_CONFIG, or create one "
                            "with `ghlsync init`\n");
        return rc == GS_ENOMEM ? CLI_EXIT_RUNTIME : CLI_EXIT_USAGE;
    }
    ctx->cfg_loaded = true;
    cfg_register_secrets(&ctx->cfg, ctx->log);
    log_set_level(ctx->log, effective_level(ctx, ctx->cfg.log.level));
    if (!ctx->log_format_set)
        log_set_format(ctx->log, ctx->cfg.log.format);
    for (size_t i = 0; i < ctx->cfg.n_warnings; i++)
        log_event(ctx->log, LOG_WARN, "config.warning", "msg", ctx->cfg.warnings[i], NULL);
    return CLI_EXIT_OK;
}

/* -c FILE, -cFILE, --config FILE, --config=FILE; same shapes for --log-format. Returns the value
 * and advances *i, or NULL when `arg` is not this option. *missing is set when the value is. */
static const char *option_value(int argc, char **argv, int *i, const char *shortopt,
                                const char *longopt, bool *missing)
{
    const char *a = argv[*i];
    size_t ll = strlen(longopt);
    if (shortopt && !strncmp(a, shortopt, 2)) {
        if (a[2])
            return a + 2;
    } else if (!strncmp(a, longopt, ll) && a[ll] == '=') {
        return a + ll + 1;
    } else if (strcmp(a, longopt) != 0) {
        return NULL;
    }
    if (*i + 1 >= argc) {
        *missing = true;
        return NULL;
    }
    return argv[++*i];
}

static const struct command *find_command(const char *name)
{
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (!strcmp(name, commands[i].name))
            return &commands[i];
    return NULL;
}

static void unknown_command(const char *name)
{
    fprintf(stderr, "ghlsync: '%s' is not a command (see ghlsync --help)\n", name);
    /* Suggest a command sharing its first two letters: enough for the usual slip (chekc, stauts).
     */
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (strlen(name) >= 2 && !strncmp(name, commands[i].name, 2)) {
            fprintf(stderr, "did you mean '%s'?\n", commands[i].name);
            break;
        }
}

static int parse_globals(struct cli_ctx *ctx, int argc, char **argv, int *next)
{
    int i = 1;
    for (; i < argc; i++) {
        const char *a = argv[i];
        bool missing = false;
        const char *v;
        if (a[0] != '-' || !a[1])
            break;
        if (!strcmp(a, "--")) {
            i++;
            break;
        }
        if ((v = option_value(argc, argv, &i, "-c", "--config", &missing))) {
            ctx->config_path = v;
            ctx->config_explicit = true;
        } else if ((v = option_value(argc, argv, &i, NULL, "--log-format", &missing))) {
            bool ok;
            ctx->log_format = log_format_parse(v, &ok);
            if (!ok) {
                fprintf(stderr, "ghlsync: --log-format: expected text or json, got '%s'\n", v);
                return CLI_EXIT_USAGE;
            }
            ctx->log_format_set = true;
        } else if (missing) {
            fprintf(stderr, "ghlsync: option '%s' needs a value\n", a);
            return CLI_EXIT_USAGE;
        } else if (!strcmp(a, "--verbose")) {
            ctx->verbosity++;
        } else if (!strcmp(a, "--quiet")) {
            ctx->verbosity--;
        } else if (cli_is_help(a)) {
            usage(stdout);
            return -1;
        } else if (!strcmp(a, "-V") || !strcmp(a, "--version")) {
            print_version();
            return -1;
        } else if (a[1] != '-' && strspn(a + 1, "vq") == strlen(a + 1)) {
            for (const char *p = a + 1; *p; p++)
                ctx->verbosity += *p == 'v' ? 1 : -1;
        } else {
            fprintf(stderr, "ghlsync: unknown option '%s'\n\n", a);
            usage(stderr);
            return CLI_EXIT_USAGE;
        }
    }
    *next = i;
    return 0;
}

int cli_main(int argc, char **argv)
{
    struct cli_ctx ctx = {0};
    int next = 0, rc = parse_globals(&ctx, argc, argv, &next);
    if (rc)
        return rc < 0 ? CLI_EXIT_OK : rc;
    if (next >= argc) {
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    const char *name = argv[next];
    if (!strcmp(name, "help")) {
        if (next + 1 >= argc) {
            usage(stdout);
            return CLI_EXIT_OK;
        }
        const struct command *c = find_command(argv[next + 1]);
        if (!c) {
            unknown_command(argv[next + 1]);
            return CLI_EXIT_USAGE;
        }
        fputs(c->help, stdout);
        return CLI_EXIT_OK;
    }
    const struct command *cmd = find_command(name);
    if (!cmd) {
        unknown_command(name);
        return CLI_EXIT_USAGE;
    }
    for (int i = next + 1; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (cli_is_help(argv[i])) {
            fputs(cmd->help, stdout);
            return CLI_EXIT_OK;
        }

    if (!ctx.config_path) {
        const char *env = getenv("GHLSYNC_CONFIG");
        if (access("sync.toml", F_OK) != 0 && env && *env)
            ctx.config_path = env;
        else
            ctx.config_path = "sync.toml";
    }
    ctx.log = log_new(stderr, effective_level(&ctx, LOG_INFO),
                      ctx.log_format_set ? ctx.log_format : LOG_TEXT);
    if (!ctx.log) {
        fprintf(stderr, "ghlsync: out of memory\n");
        return CLI_EXIT_RUNTIME;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "ghlsync: cannot initialise libcurl\n");
        log_free(ctx.log);
        return CLI_EXIT_RUNTIME;
    }
    rc = cmd->fn(&ctx, argc - next, argv + next);
    fflush(stdout);
    curl_global_cleanup();
    cfg_free(&ctx.cfg);
    log_free(ctx.log);
    return rc;
}
