/*
 * toml_json.c - the toml-test "tagged JSON" form of a parsed TOML tree (see toml.h).
 *
 * Scalars become {"type": "...", "value": "..."}, tables objects, arrays arrays. Used by the
 * conformance decoder and handy for dumping a configuration. The caller owns `out`.
 */
#include "toml_internal.h"

#include "sbuf.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static void json_str(sbuf *b, const char *s, size_t n)
{
    sbuf_putc(b, '"');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            sbuf_putc(b, '\\');
            sbuf_putc(b, (char)c);
        } else if (c < 0x20 || c == 0x7F) {
            sbuf_printf(b, "\\u%04x", c);
        } else {
            sbuf_putc(b, (char)c);
        }
    }
    sbuf_putc(b, '"');
}

static void tagged(sbuf *b, const char *type, const char *val, size_t n)
{
    sbuf_puts(b, "{\"type\": \"");
    sbuf_puts(b, type);
    sbuf_puts(b, "\", \"value\": ");
    json_str(b, val, n);
    sbuf_putc(b, '}');
}

static void emit(sbuf *b, const toml_value *v)
{
    char num[64];
    switch (v->type) {
    case TOML_TABLE: {
        const toml_node *n = (const toml_node *)v;
        sbuf_putc(b, '{');
        for (size_t i = 0; i < v->u.tab.n; i++) {
            if (i)
                sbuf_puts(b, ", ");
            json_str(b, v->u.tab.keys[i], n->klens[i]);
            sbuf_puts(b, ": ");
            emit(b, v->u.tab.vals[i]);
        }
        sbuf_putc(b, '}');
        break;
    }
    case TOML_ARRAY:
        sbuf_putc(b, '[');
        for (size_t i = 0; i < v->u.arr.n; i++) {
            if (i)
                sbuf_puts(b, ", ");
            emit(b, v->u.arr.items[i]);
        }
        sbuf_putc(b, ']');
        break;
    case TOML_STRING:
        tagged(b, "string", v->u.str.s, v->u.str.slen);
        break;
    case TOML_INTEGER:
        snprintf(num, sizeof num, "%" PRId64, v->u.i);
        tagged(b, "integer", num, strlen(num));
        break;
    case TOML_FLOAT:
        if (isnan(v->u.f))
            snprintf(num, sizeof num, "nan");
        else if (isinf(v->u.f))
            snprintf(num, sizeof num, "%s", v->u.f < 0 ? "-inf" : "inf");
        else
            snprintf(num, sizeof num, "%.17g", v->u.f);
        tagged(b, "float", num, strlen(num));
        break;
    case TOML_BOOL:
        tagged(b, "bool", v->u.b ? "true" : "false", v->u.b ? 4 : 5);
        break;
    case TOML_DATETIME:
    case TOML_DATETIME_LOCAL:
    case TOML_DATE_LOCAL:
    case TOML_TIME_LOCAL:
        tagged(b, toml_type_name(v->type), v->u.str.s, v->u.str.slen);
        break;
    }
}

int toml_to_json(const toml_value *v, sbuf *out)
{
    if (!v)
        return GS_EINVAL;
    emit(out, v);
    return sbuf_failed(out) ? GS_ENOMEM : 0;
}
