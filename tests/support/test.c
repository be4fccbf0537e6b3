/* test.c - see test.h. Output format is read by tests/run.sh: keep "ok - " / "not ok - ". */
#include "test.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int n_pass, n_fail, n_skip, case_failures;

void test_run(const char *name, test_fn fn)
{
    case_failures = 0;
    fn();
    test_report(name, case_failures == 0, NULL);
}

void test_report(const char *name, bool ok, const char *detail)
{
    if (ok) {
        n_pass++;
        printf("ok - %s\n", name);
    } else {
        n_fail++;
        printf("not ok - %s%s%s\n", name, detail ? ": " : "", detail ? detail : "");
    }
    fflush(stdout);
}

void test_skip(const char *name, const char *why)
{
    n_skip++;
    printf("ok - %s # SKIP %s\n", name, why);
    fflush(stdout);
}

bool test_check(bool ok, const char *file, int line, const char *fmt, ...)
{
    if (ok)
        return true;
    case_failures++;
    va_list ap;
    va_start(ap, fmt);
    printf("#   %s:%d: ", file, line);
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    fflush(stdout);
    return false;
}

int test_done(void)
{
    printf("# %d passed, %d failed, %d skipped\n", n_pass, n_fail, n_skip);
    return n_fail ? 1 : 0;
}

const char *test_tmpdir(void)
{
    const char *d = getenv("TMPDIR");
    return d && *d ? d : "/tmp";
}

uint64_t test_rand(void)
{
    static uint64_t state = 0x9E3779B97F4A7C15ULL;
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    return state * 0x2545F4914F6CDD1DULL;
}
