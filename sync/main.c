/*
 * main.c - the ghlsync program entry point. Everything lives in the library (cli.c and the
 * cmd_*.c files) so that tests can link it; see commands.h for the commands.
 *
 * Exit codes: 0 success, 1 runtime failure, 2 usage or configuration error.
 */
#include "commands.h"

int main(int argc, char **argv)
{
    return cli_main(argc, argv);
}
