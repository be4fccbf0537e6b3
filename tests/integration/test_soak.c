/* test_soak.c - the 2-minute soak (tests/tools/soak.sh, which starts its own PostgreSQL: it
 * restarts it) as part of `make test`: one case, failed when the soak's checks fail (tables
 * differ from the simulator, a duplicate, a stranded claim, changes left open, the engine
 * died). Its figures are passed on. SOAK_MINUTES overrides the length. */
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

static void soak(void)
{
    const char *top = getenv("GHLSYNC_TOP");
    const char *m = getenv("SOAK_MINUTES");
    char cmd[1200];
    /* BUILD: the build this test program belongs to (tests/run.sh exports GHLSYNC_BIN) */
    const char *bin = getenv("GHLSYNC_BIN");
    char build[600] = "build/san";
    if (bin && strlen(bin) < sizeof build) {
        snprintf(build, sizeof build, "%s", bin);
        char *slash = strrchr(build, '/');
        if (slash)
            *slash = 0;
    }
    snprintf(cmd, sizeof cmd, "cd '%s' && BUILD='%s' bash tests/tools/soak.sh %s 2>&1", top, build,
             m && *m ? m : "2");
    FILE *p = popen(cmd, "r");
    TEST_REQUIRE(p);
    char line[2048];
    bool ok = false, not_ok = false;
    while (fgets(line, sizeof line, p)) {
        /* figures as they are (tests/run.sh shows them), the rest as comments: only this
         * program's own result line counts */
        if (strncmp(line, "# figure: ", 10))
            fputs("# ", stdout);
        fputs(line, stdout);
        if (!strncmp(line, "ok - soak", 9))
            ok = true;
        if (!strncmp(line, "not ok - soak", 13))
            not_ok = true;
    }
    int st = pclose(p);
    TEST_CHECK_MSG(ok && !not_ok && WIFEXITED(st) && WEXITSTATUS(st) == 0,
                   "soak.sh failed (exit %d)", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
}

int main(void)
{
    if (!getenv("GHLSYNC_TOP") || !getenv("GHLSYNC_BIN") || !getenv("HLSIM_BIN")) {
        test_skip("soak", "run through tests/run.sh");
        return test_done();
    }
    TEST_RUN(soak);
    return test_done();
}
