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
