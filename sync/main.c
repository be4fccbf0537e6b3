/*
 * main.c - the ghlsync command line: parses global options and dispatches to a subcommand.
 *
 * Exit codes: 0 success, 1 runtime failure, 2 usage or configuration error.
 */
#include <stdio.h>
#include <string.h>

#define EXIT_RUNTIME 1
#define EXIT_USAGE   2

struct command {
    const char *name;
    const char *summary;
};

static const struct command commands[] = {
    {"init", "write an annotated sync.toml to start from"},
    {"check", "validate the configuration (--online: also reach the database and the API)"},
    {"schema", "plan | apply: turn HighLevel schemas into PostgreSQL tables"},
    {"backfill", "copy every record once, resumably, then exit"},
    {"run", "keep PostgreSQL and HighLevel in sync until stopped"},
    {"push", "send pending local changes to HighLevel, then exit"},
    {"status", "per location and object: rows, freshness, pending changes, budget"},
    {"errors", "list | show ID | retry ID | ignore ID: failed pushes"},
    {"version", "print the version"},
};

static void usage(FILE *f)
{
    fprintf(f, "Usage: ghlsync [-c FILE] COMMAND [ARGS...]\n\n"
               "Keep HighLevel objects and PostgreSQL tables in sync, both ways.\n\n"
               "Commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f,
            "\nOptions:\n"
            "  -c, --config FILE   configuration file (default ./sync.toml, then $GHLSYNC_CONFIG)\n"
            "  -h, --help          show this help\n"
            "  -V, --version       show the version\n\n"
            "Exit codes: 0 success, 1 runtime failure, 2 usage or configuration error.\n");
}

int main(int argc, char **argv)
{
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "-V") || !strcmp(argv[i], "--version")) {
            printf("ghlsync %s (%s)\n", GHLSYNC_VERSION, GHLSYNC_REV);
            return 0;
        } else if ((!strcmp(argv[i], "-c") || !strcmp(argv[i], "--config")) && i + 1 < argc) {
            i++;
        } else {
            fprintf(stderr, "ghlsync: unknown option '%s'\n", argv[i]);
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (i >= argc) {
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[i];
    if (!strcmp(cmd, "version")) {
        printf("ghlsync %s (%s)\n", GHLSYNC_VERSION, GHLSYNC_REV);
        return 0;
    }
    for (size_t k = 0; k < sizeof commands / sizeof commands[0]; k++)
        if (!strcmp(cmd, commands[k].name)) {
            fprintf(stderr, "ghlsync %s: not implemented yet\n", cmd);
            return EXIT_USAGE;
        }
    fprintf(stderr, "ghlsync: unknown command '%s' (see ghlsync --help)\n", cmd);
    return EXIT_USAGE;
}
