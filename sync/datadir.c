/* datadir.c - see datadir.h. */
#include "datadir.h"

#include "sbuf.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef GHLSYNC_DATADIR
#define GHLSYNC_DATADIR "/usr/local/share/ghlsync"
#endif

static bool exists(const char *p, bool want_dir)
{
    struct stat st;
    if (stat(p, &st) != 0)
        return false;
    return want_dir ? S_ISDIR(st.st_mode) : S_ISREG(st.st_mode);
}

/* <dir of the executable>/../share/ghlsync, or "" when /proc/self/exe cannot be read. */
static void exe_datadir(char *out, size_t len)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    out[0] = '\0';
    if (n <= 0)
        return;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash)
        return;
    *slash = '\0';
    /* A path too long for `out` is left out rather than cut: a cut path could name another
     * directory. */
    static const char suffix[] = "/../share/ghlsync";
    size_t el = strlen(exe);
    if (el + sizeof suffix > len)
        return;
    memcpy(out, exe, el);
    memcpy(out + el, suffix, sizeof suffix);
}

int datadir_find(const char *rel, bool want_dir, char *out, size_t len, gs_err *err)
{
    char exe_dd[PATH_MAX];
    exe_datadir(exe_dd, sizeof exe_dd);
    const char *env = getenv("GHLSYNC_DATADIR");
    const char *cand[] = {env && *env ? env : NULL, exe_dd[0] ? exe_dd : NULL, ".",
                          GHLSYNC_DATADIR};
    sbuf tried = SBUF_INIT;
    for (size_t i = 0; i < sizeof cand / sizeof cand[0]; i++) {
        if (!cand[i])
            continue;
        snprintf(out, len, "%s/%s", cand[i], rel);
        if (exists(out, want_dir)) {
            sbuf_free(&tried);
            return 0;
        }
        sbuf_printf(&tried, "%s%s", tried.len ? ", " : "", out);
    }
    int rc = gs_err_set(err, GS_ENOTFOUND,
                        "%s not found: looked at %s (set GHLSYNC_DATADIR to the directory that "
                        "holds it, e.g. /usr/local/share/ghlsync)",
                        rel, sbuf_str(&tried));
    sbuf_free(&tried);
    return rc;
}
