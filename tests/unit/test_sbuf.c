/* Unit tests for sbuf and gs_err. */
#include "err.h"
#include "sbuf.h"
#include "test.h"

#include <stdlib.h>
#include <string.h>

static void appends_and_grows(void)
{
    sbuf b = SBUF_INIT;
    TEST_EQ_STR(sbuf_str(&b), "");
    for (int i = 0; i < 1000; i++)
        sbuf_printf(&b, "%d,", i);
    TEST_CHECK(!sbuf_failed(&b));
    TEST_CHECK(strncmp(b.data, "0,1,2,", 6) == 0);
    TEST_EQ_INT(b.len, strlen(b.data));
    sbuf_reset(&b);
    TEST_EQ_INT(b.len, 0);
    char big[600];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    sbuf_printf(&b, "[%s]", big); /* longer than the stack buffer in sbuf_printf */
    TEST_EQ_INT(b.len, 601);
    TEST_CHECK(b.data[600] == ']');
    char *s = sbuf_steal(&b);
    TEST_CHECK(s && s[0] == '[');
    free(s);
    TEST_CHECK(b.data == NULL);
}

static void err_wraps(void)
{
    gs_err e;
    gs_err_clear(&e);
    TEST_EQ_INT(gs_err_set(&e, GS_EIO, "cannot open %s", "x.toml"), GS_EIO);
    gs_err_wrap(&e, "loading config");
    TEST_EQ_STR(e.msg, "loading config: cannot open x.toml");
    TEST_EQ_INT(e.code, GS_EIO);
}

int main(void)
{
    TEST_RUN(appends_and_grows);
    TEST_RUN(err_wraps);
    return test_done();
}
