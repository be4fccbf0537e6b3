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

CLI_STUB(push, "usage: ghlsync [-c FILE] push\n\n"
               "Send the pending local changes (rows inserted, updated or deleted in the mirrored\n"
               "tables) to HighLevel, then exit. Exit 1 when some changes failed; see\n"
               "`ghlsync errors`.\n\n"
               "Examples:\n"
               "    ghlsync push\n")

CLI_STUB(status, "usage: ghlsync [-c FILE] status\n\n"
                 "Show, per location and object: rows mirrored, time of the last successful pull,\n"
                 "pending and failed local changes, and the rate budget left.\n\n"
                 "Examples:\n"
                 "    ghlsync status\n")

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
