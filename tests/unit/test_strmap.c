/* Unit tests for strmap. */
#include "strmap.h"
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* 5,000 keys (several growths), every one found with its own value, absent keys not found. */
static void finds_every_key(void)
{
    strmap m = STRMAP_INIT;
    TEST_CHECK(strmap_get(&m, "x") == NULL);
    enum { N = 5000 };
    char(*keys)[16] = calloc(N, sizeof *keys);
    TEST_REQUIRE(keys != NULL);
    for (int i = 0; i < N; i++) {
        snprintf(keys[i], sizeof keys[i], "loc%d", i);
        TEST_REQUIRE(strmap_put(&m, keys[i], &keys[i]) == 0);
    }
    TEST_EQ_INT(m.n, N);
    int found = 0;
    for (int i = 0; i < N; i++) {
        char k[16];
        snprintf(k, sizeof k, "loc%d", i); /* another copy of the text: compared, not pointers */
        found += strmap_get(&m, k) == &keys[i];
    }
    TEST_EQ_INT(found, N);
    TEST_CHECK(strmap_get(&m, "loc5000") == NULL);
    TEST_CHECK(strmap_get(&m, "") == NULL);
    /* a second put of a key replaces its value */
    TEST_REQUIRE(strmap_put(&m, keys[7], &keys[8]) == 0);
    TEST_CHECK(strmap_get(&m, "loc7") == &keys[8]);
    TEST_EQ_INT(m.n, N);
    /* removing every other key keeps the rest reachable (probe runs are repaired) */
    for (int i = 0; i < N; i += 2)
        strmap_del(&m, keys[i]);
    strmap_del(&m, "absent");
    TEST_EQ_INT(m.n, N / 2);
    int kept = 0, gone = 0;
    for (int i = 0; i < N; i++) {
        void *v = strmap_get(&m, keys[i]);
        if (i % 2)
            kept += v == (i == 7 ? (void *)&keys[8] : (void *)&keys[i]);
        else
            gone += v == NULL;
    }
    TEST_EQ_INT(kept, N / 2);
    TEST_EQ_INT(gone, N / 2);
    strmap_free(&m);
    TEST_CHECK(strmap_get(&m, "loc1") == NULL);
    free(keys);
}

int main(void)
{
    TEST_RUN(finds_every_key);
    return test_done();
}
