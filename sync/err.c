/* err.c - see err.h. */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int gs_err_set(gs_err *e, int code, const char *fmt, ...)
{
    if (!e)
        return code;
    e->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return code;
}

int gs_err_wrap(gs_err *e, const char *fmt, ...)
{
    if (!e)
        return GS_EINVAL;
    char prefix[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    char old[sizeof e->msg];
    memcpy(old, e->msg, sizeof old);
    /* Truncation is acceptable for a message; keep the prefix whole and cut the old tail. */
    size_t n = strlen(prefix);
    if (n > sizeof e->msg - 3)
        n = sizeof e->msg - 3;
    memcpy(e->msg, prefix, n);
    memcpy(e->msg + n, ": ", 2);
    size_t room = sizeof e->msg - n - 3, olen = strlen(old);
    if (olen > room)
        olen = room;
    memcpy(e->msg + n + 2, old, olen);
    e->msg[n + 2 + olen] = '\0';
    return e->code;
}

void gs_err_clear(gs_err *e)
{
    if (e) {
        e->code = 0;
        e->msg[0] = '\0';
    }
}
