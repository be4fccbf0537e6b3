/*
 * test.h - the project's own minimal test framework.
 *
 * Each test program runs its cases with TEST_RUN(fn) and ends with `return test_done();`.
 * Every case prints one line, "ok - name" or "not ok - name", which tests/run.sh counts;
 * failed checks print "#   file:line: ..." lines above it. Checks do not abort the case, so
 * one run shows every broken expectation. TEST_REQUIRE aborts the case (returns from it).
 */
#ifndef GHLSYNC_TEST_H
#define GHLSYNC_TEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef void (*test_fn)(void);

void test_run(const char *name, test_fn fn);
void test_skip(const char *name, const char *why);
int test_done(void);
bool test_check(bool ok, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Where tests put scratch files: $TMPDIR (tests/run.sh gives each run its own and removes it
 * afterwards), else /tmp. */
const char *test_tmpdir(void);
/* Pseudo-random numbers for generated cases (xorshift64*): the same sequence on every run of a
 * program, so a failure found once is found again. */
uint64_t test_rand(void);
/* Only for cases generated at run time (e.g. one per conformance file). */
void test_report(const char *name, bool ok, const char *detail);

#define TEST_RUN(fn) test_run(#fn, fn)

#define TEST_CHECK(cond)          test_check((cond), __FILE__, __LINE__, "check failed: %s", #cond)
#define TEST_CHECK_MSG(cond, ...) test_check((cond), __FILE__, __LINE__, __VA_ARGS__)
#define TEST_REQUIRE(cond)                                                                         \
    do {                                                                                           \
        if (!TEST_CHECK(cond))                                                                     \
            return;                                                                                \
    } while (0)
#define TEST_EQ_INT(a, b)                                                                          \
    do {                                                                                           \
        long long a_ = (long long)(a), b_ = (long long)(b);                                        \
        test_check(a_ == b_, __FILE__, __LINE__, "%s == %s: %lld != %lld", #a, #b, a_, b_);        \
    } while (0)
#define TEST_EQ_STR(a, b)                                                                          \
    do {                                                                                           \
        const char *a_ = (a), *b_ = (b);                                                           \
        test_check(a_ &&b_ &&strcmp(a_, b_) == 0, __FILE__, __LINE__,                              \
                   "%s == %s: \"%s\" != \"%s\"", #a, #b, a_ ? a_ : "(null)", b_ ? b_ : "(null)");  \
    } while (0)

#endif
