/* cmd_init.c - `ghlsync init`: write the annotated example configuration. */
#include "commands.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

const char cmd_init_help[] =
    "usage: ghlsync [-c FILE] init [--force] [FILE]\n\n"
    "Write an annotated configuration file to start from: every key with its default\n"
    "value and what it does. Edit the location id and token variable, then run\n"
    "`ghlsync check`.\n\n"
    "The file is FILE, else the -c file, else ./sync.toml. An existing file is never\n"
    "overwritten unless --force is given.\n\n"
    "Options:\n"
    "    -f, --force   overwrite an existing file\n\n"
    "Examples:\n"
    "    ghlsync init\n"
    "    ghlsync init /etc/ghlsync/sync.toml\n";

static int write_all(int fd, const char *s, size_t n)
{
    while (n) {
        ssize_t w = write(fd, s, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        s += w;
        n -= (size_t)w;
    }
    return 0;
}

int cmd_init(struct cli_ctx *ctx, int argc, char **argv)
{
    bool force = false;
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-f") || !strcmp(argv[i], "--force")) {
            force = true;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "ghlsync init: unknown option '%s' (see ghlsync init --help)\n",
                    argv[i]);
            return CLI_EXIT_USAGE;
        } else if (!path) {
            path = argv[i];
        } else {
            fprintf(stderr, "ghlsync init: more than one file given\n");
            return CLI_EXIT_USAGE;
        }
    }
    if (!path)
        path = ctx->config_explicit ? ctx->config_path : "sync.toml";
    /* O_EXCL: the existence test and the creation are one step, so a file appearing meanwhile
     * is not clobbered either. */
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | (force ? O_TRUNC : O_EXCL), 0644);
    if (fd < 0) {
        if (errno == EEXIST) {
            fprintf(stderr, "ghlsync init: %s already exists (use --force to overwrite it)\n",
                    path);
            return CLI_EXIT_USAGE;
        }
        fprintf(stderr, "ghlsync init: cannot create %s: %s\n", path, strerror(errno));
        return CLI_EXIT_RUNTIME;
    }
    int w = write_all(fd, cfg_sample_toml, strlen(cfg_sample_toml));
    if (close(fd) != 0 || w != 0) {
        fprintf(stderr, "ghlsync init: cannot write %s: %s\n", path, strerror(errno));
        return CLI_EXIT_RUNTIME;
    }
    printf("wrote %s: edit [[locations]] (id, token_env), then run `ghlsync%s%s check`\n", path,
           strcmp(path, "sync.toml") ? " -c " : "", strcmp(path, "sync.toml") ? path : "");
    return CLI_EXIT_OK;
}
