/*
 * cmd_stubs.c - placeholders for the commands not implemented yet.
 *
 * To implement a command, define cmd_NAME and cmd_NAME_help in your own file (sync/cmd_NAME.c),
 * moving the help text below along with you, and delete the CLI_STUB(NAME, ...) entry here.
 * This is the only place where "not implemented yet" may be printed.
 */
#include "commands.h"

#include <stdio.h>

#define CLI_STUB(name, help_text)                                                                  \
    const char cmd_##name##_help[] = help_text;                                                    \
    int cmd_##name(struct cli_ctx *ctx, int argc, char **argv)                                     \
    {                                                                                              \
        (void)ctx;                                                                                 \
        (void)argc;                                                                                \
        fprintf(stderr, "ghlsync %s: not implemented yet\n", argv[0]);                             \
        return CLI_EXIT_USAGE;                                                                     \
    }

CLI_STUB(schema,
         "usage: ghlsync [-c FILE] schema plan [OBJECT...]\n"
         "   or: ghlsync [-c FILE] schema apply [OBJECT...]\n\n"
         "Read the object and field definitions of every configured location from HighLevel\n"
         "and turn them into PostgreSQL tables in [database] schema.\n\n"
         "    plan     print the DDL that would bring the tables up to date; change nothing\n"
         "    apply    run that DDL in one transaction (new tables, new columns, comments);\n"
         "             never drops a column that holds data\n\n"
         "Arguments:\n"
         "    OBJECT   limit to these object keys (default: every configured object)\n\n"
         "Examples:\n"
         "    ghlsync schema plan\n"
         "    ghlsync schema apply custom_objects.pet\n")

CLI_STUB(backfill,
         "usage: ghlsync [-c FILE] backfill [OBJECT...]\n\n"
         "Copy every record of every configured object from HighLevel into PostgreSQL once,\n"
         "as fast as the rate limit allows, then exit 0. Progress is saved after every page:\n"
         "after a crash or Ctrl-C, running it again resumes where it stopped.\n\n"
         "Arguments:\n"
         "    OBJECT   limit to these object keys (default: every configured object)\n\n"
         "Examples:\n"
         "    ghlsync backfill\n"
         "    ghlsync -v backfill business\n")

CLI_STUB(run, "usage: ghlsync [-c FILE] run\n\n"
              "Keep PostgreSQL and HighLevel in sync until stopped (SIGINT or SIGTERM stop it\n"
              "cleanly): poll each object for remote changes, push local changes as they are\n"
              "committed, sweep for remote deletes on [pull] full_scan_interval.\n\n"
              "Examples:\n"
              "    ghlsync run\n"
              "    ghlsync --log-format json run\n")

CLI_STUB(push, "usage: ghlsync [-c FILE] push\n\n"
               "Send the pending local changes (rows inserted, updated or deleted in the mirrored\n"
               "tables) to HighLevel, then exit. Exit 1 when some changes failed; see\n"
               "`ghlsync errors`.\n\n"
               "Examples:\n"
               "    ghlsync push\n")

CLI_STUB(errors, "usage: ghlsync [-c FILE] errors [list]\n"
                 "   or: ghlsync [-c FILE] errors show ID\n"
                 "   or: ghlsync [-c FILE] errors retry ID\n"
                 "   or: ghlsync [-c FILE] errors ignore ID\n\n"
                 "Local changes that could not be pushed after [push] max_attempts, or that were\n"
                 "parked for an operator.\n\n"
                 "    list         list them (the default)\n"
                 "    show ID      show one, with the API's answer\n"
                 "    retry ID     queue it again\n"
                 "    ignore ID    mark it resolved without pushing it\n\n"
                 "Examples:\n"
                 "    ghlsync errors\n"
                 "    ghlsync errors retry 42\n")
