/* test_ident.c - sanitising, hashing and allocating identifiers; quoting. */
#include "ident.h"
#include "test.h"

#include <stdlib.h>
#include <string.h>

static void test_sanitize(void)
{
    char out[IDENT_BUF];
    ident_sanitize("Pet Name", "f", 0, out);
    TEST_EQ_STR(out, "pet_name");
    ident_sanitize("a\"; drop table x; --", "f", 0, out);
    TEST_EQ_STR(out, "a_drop_table_x");
    ident_sanitize("名前", "f", 0, out);
    TEST_EQ_STR(out, "f");
    ident_sanitize("1st", "f", 0, out);
    TEST_EQ_STR(out, "f_1st");
    ident_sanitize("__x__", "f", 0, out);
    TEST_EQ_STR(out, "x");
    char longk[201];
    memset(longk, 'a', 200);
    longk[200] = '\0';
    TEST_CHECK(ident_sanitize(longk, "f", 0, out));
    TEST_EQ_INT(strlen(out), 63);
    TEST_CHECK(ident_sanitize(longk, "f", 9, out));
    TEST_EQ_INT(strlen(out), 54);
}

static void test_alloc_collisions(void)
{
    ident_set s;
    ident_set_init(&s);
    ident_set_add(&s, "id");
    char a[IDENT_BUF], b[IDENT_BUF], c[IDENT_BUF], d[IDENT_BUF];
    const char *cur[1] = {"_currency"};
    TEST_EQ_INT(ident_alloc(&s, "Name", "k.Name", "f", NULL, 0, a), 0);
    TEST_EQ_INT(ident_alloc(&s, "name", "k.name", "f", NULL, 0, b), 0);
    TEST_EQ_INT(ident_alloc(&s, "ID", "k.ID", "f", NULL, 0, c), 0);
    TEST_EQ_STR(a, "name");
    TEST_CHECK(strncmp(b, "name_", 5) == 0 && strlen(b) == 13);
    TEST_CHECK(strncmp(c, "id_", 3) == 0);
    /* money: price + price_currency; then a field called price_currency must move. */
    TEST_EQ_INT(ident_alloc(&s, "price", "k.price", "f", cur, 1, d), 0);
    TEST_EQ_STR(d, "price");
    TEST_CHECK(ident_set_has(&s, "price_currency"));
    TEST_EQ_INT(ident_alloc(&s, "price_currency", "k.price_currency", "f", NULL, 0, d), 0);
    TEST_CHECK(strcmp(d, "price_currency") != 0);
    /* and a money field whose companion would collide moves as a pair */
    ident_set_add(&s, "cost_currency");
    TEST_EQ_INT(ident_alloc(&s, "cost", "k.cost", "f", cur, 1, d), 0);
    TEST_CHECK(strcmp(d, "cost") != 0 && strncmp(d, "cost_", 5) == 0);
    /* The same key always gets the same hash. */
    TEST_EQ_INT(ident_hash("abc", 3), ident_hash("abc", 3));
    ident_set_free(&s);
}

static void test_quote(void)
{
    sbuf b = SBUF_INIT;
    ident_quote(&b, "a\"b");
    TEST_EQ_STR(sbuf_str(&b), "\"a\"\"b\"");
    sbuf_reset(&b);
    ident_quote_literal(&b, "it's");
    TEST_EQ_STR(sbuf_str(&b), "'it''s'");
    sbuf_reset(&b);
    ident_quote_literal(&b, "a\\b");
    TEST_EQ_STR(sbuf_str(&b), " E'a\\\\b'");
    sbuf_free(&b);
    char *c = ident_clean_text("ok \xff\xfe bad\x01 é");
    TEST_EQ_STR(c, "ok ?? bad? é");
    free(c);
}

int main(void)
{
    TEST_RUN(test_sanitize);
    TEST_RUN(test_alloc_collisions);
    TEST_RUN(test_quote);
    return test_done();
}
