/* Unit tests for arena: every string handed out keeps its bytes while the arena lives, whatever
 * the mix of sizes (small ones in shared blocks, larger than half a block in their own, blocks
 * doubling to AR_MAX), and adopting another arena's blocks keeps theirs too. */
#include "arena.h"
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A string of length n whose bytes depend on its number i (so a value overwritten by another
 * is seen). */
static void fill(char *buf, size_t n, unsigned i)
{
    for (size_t k = 0; k < n; k++)
        buf[k] = (char)('a' + (i * 7 + k) % 26);
}

static bool intact(const char *s, size_t n, unsigned i)
{
    if (s[n] != '\0')
        return false;
    for (size_t k = 0; k < n; k++)
        if (s[k] != (char)('a' + (i * 7 + k) % 26))
            return false;
    return true;
}

/* Lengths: mostly short, some past half the first block, a few past AR_MAX. */
static size_t len_of(unsigned i)
{
    if (i % 997 == 0)
        return AR_MAX + 3;
    if (i % 101 == 0)
        return AR_FIRST / 2 + i % 50;
    return i % 40;
}

static void strings_keep_their_bytes(void)
{
    enum { N = 20000 };
    ar_arena a = AR_INIT;
    char **got = calloc(N, sizeof *got);
    char *buf = malloc(AR_MAX + 8);
    TEST_REQUIRE(got && buf);
    size_t total = 0;
    for (unsigned i = 0; i < N; i++) {
        size_t n = len_of(i);
        fill(buf, n, i);
        got[i] = ar_strndup(&a, buf, n);
        TEST_REQUIRE(got[i] != NULL);
        total += n + 1;
    }
    unsigned bad = 0;
    for (unsigned i = 0; i < N; i++)
        bad += !intact(got[i], len_of(i), i);
    TEST_EQ_INT(bad, 0);
    TEST_CHECK(a.bytes >= total);
    /* blocks double: the bytes held stay within twice what was asked plus one AR_MAX block */
    TEST_CHECK_MSG(a.bytes <= 2 * total + AR_MAX, "%zu bytes for %zu", a.bytes, total);
    ar_free(&a);
    TEST_CHECK(a.head == NULL && a.bytes == 0);
    ar_free(&a); /* twice is harmless */
    free(got);
    free(buf);
}

static void empty_strings_and_copies(void)
{
    ar_arena a = AR_INIT;
    char *e = ar_strndup(&a, "", 0);
    TEST_REQUIRE(e != NULL);
    TEST_EQ_STR(e, "");
    /* only n bytes are read: the rest of the source is not copied */
    char *p = ar_strndup(&a, "abcdef", 3);
    TEST_REQUIRE(p != NULL);
    TEST_EQ_STR(p, "abc");
    TEST_CHECK(p != e);
    ar_free(&a);
}

static void adopted_blocks_stay(void)
{
    ar_arena a = AR_INIT, b = AR_INIT, empty = AR_INIT;
    /* enough for several blocks on each side (16, 32, 64 KiB...) */
    enum { M = 5000 };
    char buf[64];
    /* on the heap, freed before the arena: a block the arena lost is then a leak ASan sees */
    char **in_a = calloc(M, sizeof *in_a), **in_b = calloc(M, sizeof *in_b);
    TEST_REQUIRE(in_a && in_b);
    for (unsigned i = 0; i < M; i++) {
        snprintf(buf, sizeof buf, "a%u.%040u", i, i);
        in_a[i] = ar_strndup(&a, buf, strlen(buf));
        snprintf(buf, sizeof buf, "b%u.%040u", i, i);
        in_b[i] = ar_strndup(&b, buf, strlen(buf));
        TEST_REQUIRE(in_a[i] && in_b[i]);
    }
    size_t bytes = a.bytes + b.bytes;
    ar_adopt(&a, &b);
    TEST_CHECK(b.head == NULL && b.bytes == 0);
    TEST_EQ_INT(a.bytes, bytes);
    ar_adopt(&a, &empty); /* nothing to take */
    TEST_EQ_INT(a.bytes, bytes);
    /* a keeps filling after the adoption; nothing of either is overwritten */
    char *more[500];
    for (unsigned i = 0; i < 500; i++) {
        snprintf(buf, sizeof buf, "m%u", i);
        more[i] = ar_strndup(&a, buf, strlen(buf));
        TEST_REQUIRE(more[i] != NULL);
    }
    unsigned bad = 0;
    for (unsigned i = 0; i < M; i++) {
        snprintf(buf, sizeof buf, "a%u.%040u", i, i);
        bad += strcmp(in_a[i], buf) != 0;
        snprintf(buf, sizeof buf, "b%u.%040u", i, i);
        bad += strcmp(in_b[i], buf) != 0;
    }
    for (unsigned i = 0; i < 500; i++) {
        snprintf(buf, sizeof buf, "m%u", i);
        bad += strcmp(more[i], buf) != 0;
    }
    TEST_EQ_INT(bad, 0);
    /* into an empty arena: it takes the blocks as they are */
    ar_arena c = AR_INIT;
    size_t before = a.bytes;
    ar_adopt(&c, &a);
    TEST_EQ_INT(c.bytes, before);
    TEST_CHECK(a.head == NULL && a.bytes == 0);
    TEST_CHECK(strncmp(in_b[M - 1], "b4999.", 6) == 0);
    free(in_a);
    free(in_b);
    ar_free(&c); /* LeakSanitizer reports any block lost, ASan one freed twice */
}

int main(void)
{
    TEST_RUN(strings_keep_their_bytes);
    TEST_RUN(empty_strings_and_copies);
    TEST_RUN(adopted_blocks_stay);
    return test_done();
}
