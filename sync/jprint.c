/* jprint.c - cJSON-compatible compact printing (jprint.h says why). */
#include "jprint.h"

#include "numtext.h"
#include "sbuf.h"

#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* cJSON's compare_double: equal within DBL_EPSILON of the larger magnitude. */
static bool close_enough(double a, double b)
{
    double m = fabs(a) > fabs(b) ? fabs(a) : fabs(b);
    return fabs(a - b) <= m * DBL_EPSILON;
}

static void put_number(sbuf *b, const cJSON *v)
{
    double d = v->valuedouble;
    char t[64];
    if (isnan(d) || isinf(d)) {
        sbuf_puts(b, "null");
        return;
    }
    /* cJSON prints every number with %1.15g first, so -0 keeps its sign */
    if (d == (double)v->valueint && !(d == 0 && signbit(d))) {
        sbuf_append(b, t, nt_int(v->valueint, t));
        return;
    }
    if (nt_decimal15(d, t, sizeof t)) {
        sbuf_puts(b, t); /* exact, so cJSON's read-back check keeps these 15 digits */
        return;
    }
    snprintf(t, sizeof t, "%1.15g", d);
    if (!close_enough(strtod(t, NULL), d))
        snprintf(t, sizeof t, "%1.17g", d);
    sbuf_puts(b, t);
}

static void put_string(sbuf *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    sbuf_putc(b, '"');
    if (s) {
        const char *run = s;
        for (const unsigned char *p = (const unsigned char *)s;; p++) {
            unsigned char c = *p;
            if (c >= 32 && c != '"' && c != '\\')
                continue;
            if ((const char *)p > run)
                sbuf_append(b, run, (size_t)((const char *)p - run));
            if (!c)
                break;
            sbuf_putc(b, '\\');
            switch (c) {
            case '"':
            case '\\':
                sbuf_putc(b, (char)c);
                break;
            case '\b':
                sbuf_putc(b, 'b');
                break;
            case '\f':
                sbuf_putc(b, 'f');
                break;
            case '\n':
                sbuf_putc(b, 'n');
                break;
            case '\r':
                sbuf_putc(b, 'r');
                break;
            case '\t':
                sbuf_putc(b, 't');
                break;
            default:
                sbuf_puts(b, "u00");
                sbuf_putc(b, hex[c >> 4]);
                sbuf_putc(b, hex[c & 15]);
            }
            run = (const char *)p + 1;
        }
    }
    sbuf_putc(b, '"');
}

static bool put_value(sbuf *b, const cJSON *v)
{
    switch (v->type & 0xFF) {
    case cJSON_NULL:
        sbuf_puts(b, "null");
        return true;
    case cJSON_False:
        sbuf_puts(b, "false");
        return true;
    case cJSON_True:
        sbuf_puts(b, "true");
        return true;
    case cJSON_Number:
        put_number(b, v);
        return true;
    case cJSON_String:
        put_string(b, v->valuestring);
        return true;
    case cJSON_Raw:
        if (!v->valuestring)
            return false;
        sbuf_puts(b, v->valuestring);
        return true;
    case cJSON_Array:
    case cJSON_Object: {
        bool obj = (v->type & 0xFF) == cJSON_Object;
        sbuf_putc(b, obj ? '{' : '[');
        for (const cJSON *c = v->child; c; c = c->next) {
            if (obj) {
                put_string(b, c->string);
                sbuf_putc(b, ':');
            }
            if (!put_value(b, c))
                return false;
            if (c->next)
                sbuf_putc(b, ',');
        }
        sbuf_putc(b, obj ? '}' : ']');
        return true;
    }
    default:
        return false;
    }
}

void jp_print_string(sbuf *b, const char *s)
{
    put_string(b, s);
}

bool jp_print_to(sbuf *b, const cJSON *v)
{
    return v && put_value(b, v) && !sbuf_failed(b);
}

char *jp_print(const cJSON *v)
{
    if (!v)
        return NULL;
    sbuf b = SBUF_INIT;
    if (!put_value(&b, v) || sbuf_failed(&b)) {
        sbuf_free(&b);
        return NULL;
    }
    return sbuf_steal(&b);
}
