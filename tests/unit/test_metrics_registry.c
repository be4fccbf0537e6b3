/* Unit tests for the metrics registry's index (metrics.c): many series of several families,
 * label tuples that concatenate alike, drops in the middle, values kept throughout. */
#include "metrics.h"
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NLOC 3000

static void many_series(void)
{
    gs_metrics *m = metrics_new();
    TEST_REQUIRE(m != NULL);
    char id[32];
    for (int i = 0; i < NLOC; i++) {
        snprintf(id, sizeof id, "loc%05d", i);
        const char *l1[] = {id};
        const char *l2[] = {id, "custom_objects.pet"};
        TEST_REQUIRE(metrics_set(m, GSM_BURST_LIMIT, l1, i) == 0);
        TEST_REQUIRE(metrics_set(m, GSM_INFLIGHT, l1, i + 0.5) == 0);
        TEST_REQUIRE(metrics_add(m, GSM_RECORDS_PULLED, l2, 2) == 0);
        TEST_REQUIRE(metrics_add(m, GSM_RECORDS_PULLED, l2, 3) == 0);
    }
    /* ("ab","c") and ("a","bc") are different series */
    TEST_REQUIRE(metrics_set(m, GSM_LAG_SECONDS, (const char *[]){"ab", "c"}, 1) == 0);
    TEST_REQUIRE(metrics_set(m, GSM_LAG_SECONDS, (const char *[]){"a", "bc"}, 2) == 0);
    TEST_CHECK(metrics_get(m, GSM_LAG_SECONDS, (const char *[]){"ab", "c"}) == 1);
    TEST_CHECK(metrics_get(m, GSM_LAG_SECONDS, (const char *[]){"a", "bc"}) == 2);
    /* drop every third location's burst limit */
    for (int i = 0; i < NLOC; i += 3) {
        snprintf(id, sizeof id, "loc%05d", i);
        metrics_drop(m, GSM_BURST_LIMIT, (const char *[]){id});
    }
    int bad = 0;
    for (int i = 0; i < NLOC; i++) {
        snprintf(id, sizeof id, "loc%05d", i);
        const char *l1[] = {id};
        const char *l2[] = {id, "custom_objects.pet"};
        double v = -1;
        bool found = metrics_lookup(m, GSM_BURST_LIMIT, l1, &v);
        bad += i % 3 == 0 ? found : (!found || v != i);
        bad += metrics_get(m, GSM_INFLIGHT, l1) != i + 0.5;
        bad += metrics_get(m, GSM_RECORDS_PULLED, l2) != 5;
    }
    TEST_EQ_INT(bad, 0);
    /* unknown series */
    double v;
    TEST_CHECK(!metrics_lookup(m, GSM_BURST_LIMIT, (const char *[]){"nope"}, &v));
    TEST_CHECK(!metrics_lookup(m, GSM_INFLIGHT, (const char *[]){"loc00000x"}, &v));
    metrics_free(m);
}

int main(void)
{
    TEST_RUN(many_series);
    return test_done();
}
