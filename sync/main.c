/*
 * main.c - the ghlsync program entry point. Everything lives in the library (cli.c and the
 * cmd_*.c files) so that tests can link it; see commands.h for the commands.
 *
 * Exit codes: 0 success, 1 runtime failure, 2 usage or configuration error.
 */
#include "commands.h"

#ifdef __GLIBC__
#include <malloc.h>
#endif

int main(int argc, char **argv)
{
#ifdef __GLIBC__
    /* No fastbins. A pulled page is a tree of thousands of small cJSON nodes and strings freed
     * at once, and the next allocation of 1 KiB or more (a response body, a COPY buffer) makes
     * glibc consolidate every one of them, after which the next page's small allocations are
     * carved out again: malloc_consolidate, unlink_chunk and _int_malloc were a third of a
     * backfill's client CPU (perf, README "write path"). Without fastbins small chunks still
     * go through the per-thread cache, and are merged as they are freed. */
    mallopt(M_MXFAST, 0);
#endif
    return cli_main(argc, argv);
}
