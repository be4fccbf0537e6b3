/* Unit tests for the TOML parser: error messages with FILE:LINE:COL, positions, lookups, limits.
 * (Spec conformance as a whole is test_toml_conformance.) */
#include "err.h"
#include "sbuf.h"
#include "test.h"
#include "toml.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static toml_value *parse_ok(const char *src)
{
    toml_value *root = NULL;
    gs_err err = {0};
    int rc = toml_parse(src, strlen(src), "t.toml", &root, &err);
    TEST_CHECK_MSG(rc == 0, "parse failed: %s", err.msg);
    return root;
}

/* The full error message for src, or "" when it parsed. */
static const char *parse_err(const char *src, size_t len, gs_err *err)
{
    toml_value *root = NULL;
    memset(err, 0, sizeof *err);
    int rc = toml_parse(src, len, "sync.toml", &root, err);
    if (rc == 0) {
        toml_free(root);
        return "";
    }
    TEST_CHECK(root == NULL);
    TEST_EQ_INT(rc, err->code);
    return err->msg;
}

#define EXPECT_ERR(src, msg)                                                                       \
    do {                                                                                           \
        gs_err e_;                                                                                 \
        TEST_EQ_STR(parse_err((src), strlen(src), &e_), (msg));                                    \
    } while (0)

static void error_messages_point_at_the_problem(void)
{
    EXPECT_ERR("a = 1\nb = 2\na = 3\n",
               "sync.toml:3:1: duplicate key 'a' (already defined at line 1)");
    EXPECT_ERR("[table]\nx = 1\n\n[table]\n",
               "sync.toml:4:1: table [table] defined twice (first defined at line 1)");
    EXPECT_ERR("[a]\nb.c = 1\n[a.b]\n",
               "sync.toml:3:1: table [a.b] defined twice (already defined by dotted keys at line "
               "2)");
    EXPECT_ERR("[x.y]\n[x]\ny.z = 1\n", "sync.toml:3:1: cannot add to table 'y' with dotted keys: "
                                        "it was created by a [table] header at line 1");
    EXPECT_ERR("name = \"abc\nnext = 1\n",
               "sync.toml:1:8: unterminated string: missing closing \" before end of line");
    EXPECT_ERR("s = \"\"\"abc\n\n", "sync.toml:1:5: unterminated multi-line string: missing "
                                    "closing \"\"\"");
    EXPECT_ERR("s = \"a\\qb\"", "sync.toml:1:7: invalid escape sequence '\\q'");
    EXPECT_ERR("s = \"\\uD800\"", "sync.toml:1:6: \\u escape U+D800 is not a Unicode scalar value "
                                  "(surrogate or above U+10FFFF)");
    EXPECT_ERR("s = \"\\U00110000\"", "sync.toml:1:6: \\U escape U+110000 is not a Unicode scalar "
                                      "value (surrogate or above U+10FFFF)");
    EXPECT_ERR("s = \"\\u12\"", "sync.toml:1:6: \\u escape needs exactly 4 hex digits");
    EXPECT_ERR("n = 0123", "sync.toml:1:5: leading zeros are not allowed in '0123'");
    EXPECT_ERR("n = 9223372036854775808",
               "sync.toml:1:5: integer '9223372036854775808' out of range (64-bit signed)");
    EXPECT_ERR("n = 0x8000000000000000",
               "sync.toml:1:5: integer '0x8000000000000000' out of range (64-bit signed)");
    EXPECT_ERR("n = 1__0", "sync.toml:1:5: invalid number '1__0'");
    EXPECT_ERR("n = -0x1", "sync.toml:1:5: a sign is not allowed on hexadecimal, octal or binary "
                           "integers");
    EXPECT_ERR("f = 1.", "sync.toml:1:5: invalid float '1.': '.' must be followed by digits");
    EXPECT_ERR("f = 1e999", "sync.toml:1:5: float '1e999' out of range");
    EXPECT_ERR("d = 2023-02-29", "sync.toml:1:5: invalid day 29 in date 2023-02 (01-28)");
    EXPECT_ERR("d = 2023-13-01", "sync.toml:1:5: invalid month 13 in date (01-12)");
    EXPECT_ERR("t = 24:00:00", "sync.toml:1:5: time out of range: 24:00:00 (hour 00-23, minute "
                               "00-59, second 00-60)");
    EXPECT_ERR("t = 12:30", "sync.toml:1:5: malformed time: seconds are required (HH:MM:SS) in "
                            "TOML 1.0");
    EXPECT_ERR("d = 1979-05-27T07:32:00+24:00", "sync.toml:1:5: time offset out of range (hours "
                                                "00-23, minutes 00-59)");
    EXPECT_ERR("key value", "sync.toml:1:5: expected '=' after key 'key', found 'v'");
    EXPECT_ERR("key = value", "sync.toml:1:7: expected a value, found 'v' (strings need quotes)");
    EXPECT_ERR("key = ", "sync.toml:1:7: expected a value, found end of file");
    EXPECT_ERR("key = 1 2", "sync.toml:1:9: expected end of line after value, found '2'");
    EXPECT_ERR("b = True", "sync.toml:1:5: expected a value, found 'T' (strings need quotes)");
    EXPECT_ERR("t = {a = 1,}", "sync.toml:1:12: trailing comma is not allowed in an inline table");
    EXPECT_ERR("t = {a = 1,\n b = 2}",
               "sync.toml:1:12: inline table must be on a single line (missing '}'?)");
    EXPECT_ERR("a = [1 2]", "sync.toml:1:8: expected ',' or ']' in array, found '2'");
    EXPECT_ERR("a = [1,\n2,\n", "sync.toml:1:5: unterminated array: missing ']'");
    EXPECT_ERR("[a\nb = 1", "sync.toml:1:3: expected ']' to close the table header, found end of "
                            "line");
    EXPECT_ERR("[[a] ]", "sync.toml:1:4: expected ']]' to close the table header, found ']'");
    EXPECT_ERR("t = {a = 1}\nt.b = 2",
               "sync.toml:2:1: cannot use 't' as a table: it is already an inline table (defined "
               "at line 1)");
    EXPECT_ERR("t = {a = 1}\n[t.b]",
               "sync.toml:2:2: cannot use 't' as a table: it is already an inline table (defined "
               "at line 1)");
    EXPECT_ERR("a = [1]\n[[a]]", "sync.toml:2:1: cannot define array of tables [[a]]: the key is "
                                 "already an array (defined at line 1)");
    EXPECT_ERR("[[a]]\n[a]", "sync.toml:2:1: cannot define table [a]: the key is already an array "
                             "of tables (defined at line 1)");
    EXPECT_ERR("a = 1\n[a.b]", "sync.toml:2:2: cannot use 'a' as a table: it is already a value "
                               "(defined at line 1)");
    EXPECT_ERR("\"multi\".'key' = 1\n\"multi\".'key' = 2",
               "sync.toml:2:9: duplicate key 'multi.key' (already defined at line 1)");
    EXPECT_ERR("\"a b\" = 1\n\"a b\" = 1",
               "sync.toml:2:1: duplicate key '\"a b\"' (already defined at line 1)");
    EXPECT_ERR("\"\"\"k\"\"\" = 1", "sync.toml:1:1: multi-line strings cannot be used as keys");
    EXPECT_ERR("= 1", "sync.toml:1:1: expected a key, found '='");
}

static void error_columns_count_characters(void)
{
    /* "é" is two bytes but one column */
    EXPECT_ERR("s = \"é\" x", "sync.toml:1:9: expected end of line after value, found 'x'");
    EXPECT_ERR("# ünïcode comment\nk = 1 é",
               "sync.toml:2:7: expected end of line after value, found 'é'");
}

static void encoding_errors(void)
{
    gs_err e;
    TEST_EQ_STR(parse_err("a = 1\r\nb = 2\rc = 3", 19, &e),
                "sync.toml:2:6: carriage return (CR) not followed by line feed (LF)");
    TEST_EQ_STR(parse_err("a = \"x\x01\"", 8, &e), "sync.toml:1:7: control character U+0001 is "
                                                   "not allowed (escape it in a basic string)");
    TEST_EQ_STR(parse_err("# \x7f", 3, &e), "sync.toml:1:3: control character U+007F is not "
                                            "allowed (escape it in a basic string)");
    TEST_EQ_STR(parse_err("a = 1\nb = \"\xC3\x28\"", 14, &e),
                "sync.toml:2:6: invalid UTF-8 sequence");
    TEST_EQ_STR(parse_err("a = \"\xC0\xAF\"", 8, &e), "sync.toml:1:6: invalid UTF-8 byte 0xC0");
    TEST_EQ_STR(parse_err("a = \"\xED\xA0\x80\"", 9, &e),
                "sync.toml:1:6: invalid UTF-8 sequence (overlong, surrogate or out of range)");
    TEST_EQ_STR(parse_err("a = \"\xE2\x82", 7, &e), "sync.toml:1:6: truncated UTF-8 sequence");
    TEST_EQ_STR(parse_err("a = 1\n\0", 7, &e), "sync.toml:2:1: control character U+0000 is not "
                                               "allowed (escape it in a basic string)");
}

static void deep_nesting_is_an_error_not_a_crash(void)
{
    size_t n = 100000;
    char *s = calloc(1, n + 8);
    TEST_REQUIRE(s);
    memcpy(s, "a = ", 4);
    memset(s + 4, '[', n);
    gs_err e;
    const char *msg = parse_err(s, n + 4, &e);
    TEST_CHECK_MSG(strstr(msg, "nesting too deep") != NULL, "got: %s", msg);
    TEST_EQ_INT(e.code, GS_EPARSE);
    /* inline tables nest too */
    sbuf b = SBUF_INIT;
    sbuf_puts(&b, "a = ");
    for (int i = 0; i < 5000; i++)
        sbuf_puts(&b, "{b = ");
    msg = parse_err(b.data, b.len, &e);
    TEST_CHECK_MSG(strstr(msg, "nesting too deep") != NULL, "got: %s", msg);
    /* and so do dotted keys and headers */
    sbuf_reset(&b);
    sbuf_putc(&b, '[');
    for (int i = 0; i < 5000; i++)
        sbuf_puts(&b, i ? ".a" : "a");
    sbuf_puts(&b, "]\n");
    msg = parse_err(b.data, b.len, &e);
    TEST_CHECK_MSG(strstr(msg, "too many dotted parts") != NULL, "got: %s", msg);
    /* 200 levels are fine */
    sbuf_reset(&b);
    sbuf_puts(&b, "a = ");
    for (int i = 0; i < 200; i++)
        sbuf_putc(&b, '[');
    for (int i = 0; i < 200; i++)
        sbuf_putc(&b, ']');
    TEST_EQ_STR(parse_err(b.data, b.len, &e), "");
    sbuf_free(&b);
    free(s);
}

static void positions_of_values(void)
{
    const char *src = "title = \"x\"\n"            /* 1 */
                      "[server]\n"                 /* 2 */
                      "  port = 8080\n"            /* 3 */
                      "  hosts = [\"a\", 2]\n"     /* 4 */
                      "[[m]]\n"                    /* 5 */
                      "[[m]]\n"                    /* 6 */
                      "[a.b]\n"                    /* 7 */
                      "x.y = 1\n"                  /* 8 */
                      "t = { \"é\" = 1, z = 2 }\n" /* 9 */
                      "[a]\n";                     /* 10 */
    toml_value *root = parse_ok(src);
    TEST_REQUIRE(root);
    TEST_EQ_INT(root->line, 1);
    TEST_EQ_INT(root->col, 1);
    const toml_value *v = toml_get(root, "title");
    TEST_REQUIRE(v && v->type == TOML_STRING);
    TEST_EQ_INT(v->line, 1);
    TEST_EQ_INT(v->col, 1);
    const toml_value *server = toml_get(root, "server");
    TEST_REQUIRE(server && server->type == TOML_TABLE);
    TEST_EQ_INT(server->line, 2);
    TEST_EQ_INT(server->col, 2);
    v = toml_get(server, "port");
    TEST_REQUIRE(v && v->type == TOML_INTEGER);
    TEST_EQ_INT(v->u.i, 8080);
    TEST_EQ_INT(v->line, 3);
    TEST_EQ_INT(v->col, 3);
    const toml_value *hosts = toml_get(server, "hosts");
    TEST_REQUIRE(hosts && hosts->type == TOML_ARRAY && hosts->u.arr.n == 2);
    TEST_EQ_INT(hosts->line, 4);
    TEST_EQ_INT(hosts->col, 3);
    TEST_EQ_INT(hosts->u.arr.items[0]->col, 12);
    TEST_EQ_INT(hosts->u.arr.items[1]->col, 17);
    TEST_EQ_INT(hosts->u.arr.items[1]->type, TOML_INTEGER);
    const toml_value *m = toml_get(root, "m");
    TEST_REQUIRE(m && m->type == TOML_ARRAY && m->u.arr.n == 2);
    TEST_EQ_INT(m->line, 5);
    TEST_EQ_INT(m->u.arr.items[0]->line, 5);
    TEST_EQ_INT(m->u.arr.items[1]->line, 6);
    TEST_EQ_INT(m->u.arr.items[1]->col, 3);
    const toml_value *a = toml_get(root, "a");
    TEST_REQUIRE(a && a->type == TOML_TABLE);
    TEST_EQ_INT(a->line, 10); /* implicit at 7:2, then defined by [a] */
    TEST_EQ_INT(a->col, 2);
    const toml_value *b = toml_get(a, "b");
    TEST_REQUIRE(b);
    TEST_EQ_INT(b->line, 7);
    TEST_EQ_INT(b->col, 4);
    const toml_value *x = toml_get(b, "x");
    TEST_REQUIRE(x && x->type == TOML_TABLE);
    TEST_EQ_INT(x->line, 8);
    TEST_EQ_INT(x->col, 1);
    const toml_value *y = toml_get(x, "y");
    TEST_REQUIRE(y);
    TEST_EQ_INT(y->line, 8);
    TEST_EQ_INT(y->col, 3);
    const toml_value *t = toml_get(b, "t");
    TEST_REQUIRE(t && t->type == TOML_TABLE);
    const toml_value *z = toml_get(t, "z");
    TEST_REQUIRE(z && toml_get(t, "é"));
    TEST_EQ_INT(z->line, 9);
    TEST_EQ_INT(z->col, 16); /* characters, not bytes */
    toml_free(root);
}

static void lookups(void)
{
    toml_value *root = parse_ok("a = 1\n\"k\\u0000z\" = 2\n[t]\n");
    TEST_REQUIRE(root);
    TEST_CHECK(toml_get(root, "missing") == NULL);
    TEST_CHECK(toml_get(NULL, "a") == NULL);
    TEST_CHECK(toml_get(root, NULL) == NULL);
    const toml_value *a = toml_get(root, "a");
    TEST_REQUIRE(a);
    TEST_CHECK(toml_get(a, "x") == NULL); /* not a table */
    TEST_CHECK(toml_get(root, "k") == NULL);
    const toml_value *kz = toml_get_len(root, "k\0z", 3);
    TEST_REQUIRE(kz && kz->type == TOML_INTEGER);
    TEST_EQ_INT(kz->u.i, 2);
    size_t klen = 0;
    const char *k = toml_key_at(root, 1, &klen);
    TEST_CHECK(k && klen == 3 && memcmp(k, "k\0z", 3) == 0);
    TEST_CHECK(toml_key_at(root, 3, &klen) == NULL);
    TEST_CHECK(toml_key_at(a, 0, &klen) == NULL);
    TEST_EQ_STR(root->u.tab.keys[2], "t");
    toml_free(root);
    toml_free(NULL);
}

static void values_and_normalisation(void)
{
    toml_value *root =
        parse_ok("i = [-9223372036854775808, 9223372036854775807, 0x7FFF_ffff_ffff_ffff, 0o17, "
                 "0b101, +0, -0]\n"
                 "f = [1e3, -0.5, 3.14_15, inf, -inf, nan, 1e-400]\n"
                 "d = [1979-05-27 07:32:00z, 1979-05-27t07:32:00.5+01:30, 1979-05-27T00:00:00, "
                 "2024-02-29, 23:59:60.123456789]\n"
                 "s = \"\"\"\r\n a\\\r\n   b\r\nc\"\"\"\"\"\n"
                 "l = '''x''y'''\n"
                 "b = [true, false]\n");
    TEST_REQUIRE(root);
    const toml_value *i = toml_get(root, "i");
    TEST_REQUIRE(i && i->u.arr.n == 7);
    TEST_CHECK(i->u.arr.items[0]->u.i == INT64_MIN);
    TEST_CHECK(i->u.arr.items[1]->u.i == INT64_MAX);
    TEST_CHECK(i->u.arr.items[2]->u.i == INT64_MAX);
    TEST_EQ_INT(i->u.arr.items[3]->u.i, 15);
    TEST_EQ_INT(i->u.arr.items[4]->u.i, 5);
    const toml_value *f = toml_get(root, "f");
    TEST_REQUIRE(f && f->u.arr.n == 7);
    TEST_CHECK(f->u.arr.items[0]->u.f == 1000.0);
    TEST_CHECK(f->u.arr.items[2]->u.f == 3.1415);
    TEST_CHECK(isinf(f->u.arr.items[3]->u.f) && f->u.arr.items[3]->u.f > 0);
    TEST_CHECK(isinf(f->u.arr.items[4]->u.f) && f->u.arr.items[4]->u.f < 0);
    TEST_CHECK(isnan(f->u.arr.items[5]->u.f));
    const toml_value *d = toml_get(root, "d");
    TEST_REQUIRE(d && d->u.arr.n == 5);
    TEST_EQ_INT(d->u.arr.items[0]->type, TOML_DATETIME);
    TEST_EQ_STR(d->u.arr.items[0]->u.str.s, "1979-05-27T07:32:00Z");
    TEST_EQ_STR(d->u.arr.items[1]->u.str.s, "1979-05-27T07:32:00.5+01:30");
    TEST_EQ_INT(d->u.arr.items[2]->type, TOML_DATETIME_LOCAL);
    TEST_EQ_INT(d->u.arr.items[3]->type, TOML_DATE_LOCAL);
    TEST_EQ_INT(d->u.arr.items[4]->type, TOML_TIME_LOCAL);
    TEST_EQ_STR(d->u.arr.items[4]->u.str.s, "23:59:60.123456789");
    const toml_value *s = toml_get(root, "s");
    TEST_REQUIRE(s);
    TEST_EQ_STR(s->u.str.s, " ab\nc\"\""); /* CRLF normalised to LF, line-ending backslash */
    TEST_EQ_STR(toml_get(root, "l")->u.str.s, "x''y");
    sbuf j = SBUF_INIT;
    TEST_EQ_INT(toml_to_json(toml_get(root, "b"), &j), 0);
    TEST_EQ_STR(sbuf_str(&j),
                "[{\"type\": \"bool\", \"value\": \"true\"}, {\"type\": \"bool\", \"value\": "
                "\"false\"}]");
    sbuf_free(&j);
    toml_free(root);
    TEST_EQ_STR(toml_type_name(TOML_BOOL), "boolean");
    TEST_EQ_STR(toml_type_name(TOML_DATE_LOCAL), "date-local");
}

static void redefinition_rules_that_are_allowed(void)
{
    /* implicit then explicit; sub-table of a dotted-key table; AOT sub-tables; BOM */
    toml_value *root = parse_ok("\xEF\xBB\xBF[a.b.c]\n[a]\nx = 1\n"
                                "[f]\napple.color = 'red'\n[f.apple.texture]\nsmooth = true\n"
                                "[[p]]\n[p.q]\nk = 1\n[[p]]\n[p.q]\nk = 2\n"
                                "[e]\nin = {a.b = 1, a.c = 2}\n");
    TEST_REQUIRE(root);
    const toml_value *p = toml_get(root, "p");
    TEST_REQUIRE(p && p->u.arr.n == 2);
    TEST_EQ_INT(toml_get(toml_get(p->u.arr.items[1], "q"), "k")->u.i, 2);
    const toml_value *in = toml_get(toml_get(root, "e"), "in");
    TEST_REQUIRE(in);
    TEST_EQ_INT(toml_get(toml_get(in, "a"), "c")->u.i, 2);
    toml_free(root);
    gs_err e;
    TEST_EQ_STR(parse_err("", 0, &e), "");
    TEST_EQ_STR(parse_err(NULL, 0, &e), "");
}

static void large_tables(void)
{
    /* 20k keys in one table and 5k sections: lookups are hashed, so this stays fast */
    sbuf b = SBUF_INIT;
    for (int i = 0; i < 20000; i++)
        sbuf_printf(&b, "key_%d = %d\n", i, i);
    for (int i = 0; i < 5000; i++)
        sbuf_printf(&b, "[sec_%d]\nv = %d\n", i, i);
    size_t full = b.len;
    toml_value *root = NULL;
    gs_err err = {0};
    /* a repeated section and a repeated key are found among thousands */
    sbuf_puts(&b, "[sec_77]\n");
    int rc = toml_parse(b.data, b.len, "big.toml", &root, &err);
    TEST_EQ_INT(rc, GS_EPARSE);
    TEST_EQ_STR(err.msg, "big.toml:30001:1: table [sec_77] defined twice (first defined at line "
                         "20155)");
    b.len = full;
    sbuf_puts(&b, "v = 5\n");
    rc = toml_parse(b.data, b.len, "big.toml", &root, &err);
    TEST_EQ_INT(rc, GS_EPARSE);
    TEST_EQ_STR(err.msg, "big.toml:30001:1: duplicate key 'v' (already defined at line 30000)");
    sbuf dup = SBUF_INIT;
    for (int i = 0; i < 20000; i++)
        sbuf_printf(&dup, "key_%d = %d\n", i, i);
    sbuf_puts(&dup, "key_12345 = 0\n");
    rc = toml_parse(dup.data, dup.len, "big.toml", &root, &err);
    TEST_EQ_INT(rc, GS_EPARSE);
    TEST_EQ_STR(err.msg, "big.toml:20001:1: duplicate key 'key_12345' (already defined at line "
                         "12346)");
    sbuf_free(&dup);
    b.len = full;
    b.data[b.len] = '\0';
    rc = toml_parse(b.data, b.len, "big.toml", &root, &err);
    TEST_REQUIRE(rc == 0);
    TEST_EQ_INT(root->u.tab.n, 25000);
    bool all = true;
    for (int i = 0; i < 20000; i += 7) {
        char k[32];
        snprintf(k, sizeof k, "key_%d", i);
        const toml_value *v = toml_get(root, k);
        all = all && v && v->u.i == i;
    }
    TEST_CHECK(all);
    TEST_EQ_INT(toml_get(toml_get(root, "sec_4999"), "v")->u.i, 4999);
    TEST_CHECK(toml_get(root, "key_20000") == NULL);
    toml_free(root);
    sbuf_free(&b);
}

static void parse_file(void)
{
    toml_value *root = NULL;
    gs_err err = {0};
    int rc = toml_parse_file("/nonexistent/dir/sync.toml", &root, &err);
    TEST_EQ_INT(rc, GS_EIO);
    TEST_EQ_STR(err.msg, "cannot read /nonexistent/dir/sync.toml: No such file or directory");
    TEST_CHECK(root == NULL);
    char path[512];
    snprintf(path, sizeof path, "%s/test_toml_XXXXXX", test_tmpdir());
    int fd = mkstemp(path);
    TEST_REQUIRE(fd >= 0);
    const char *doc = "[db]\nport = 5432\nport = 1\n";
    TEST_CHECK(write(fd, doc, strlen(doc)) == (ssize_t)strlen(doc));
    close(fd);
    rc = toml_parse_file(path, &root, &err);
    TEST_EQ_INT(rc, GS_EPARSE);
    char want[700];
    snprintf(want, sizeof want, "%s:3:1: duplicate key 'port' (already defined at line 2)", path);
    TEST_EQ_STR(err.msg, want);
    unlink(path);
}

int main(void)
{
    TEST_RUN(error_messages_point_at_the_problem);
    TEST_RUN(error_columns_count_characters);
    TEST_RUN(encoding_errors);
    TEST_RUN(deep_nesting_is_an_error_not_a_crash);
    TEST_RUN(positions_of_values);
    TEST_RUN(lookups);
    TEST_RUN(values_and_normalisation);
    TEST_RUN(redefinition_rules_that_are_allowed);
    TEST_RUN(large_tables);
    TEST_RUN(parse_file);
    return test_done();
}
