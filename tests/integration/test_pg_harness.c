/* The private PostgreSQL server is up and usable through libpq: create, write, read back. */
#include "test.h"
#include "tpg.h"

#include <stdlib.h>
#include <string.h>

static void create_insert_select(void)
{
    char ci[256];
    PGconn *c = tpg_fresh_db("harness", ci, sizeof ci);
    TEST_REQUIRE(c != NULL);
    TEST_CHECK(tpg_exec(c, "CREATE TABLE t (id int primary key, v text)"));
    const char *vals[2] = {"1", "h\xc3\xa9llo \"quoted\""};
    PGresult *r = PQexecParams(c, "INSERT INTO t VALUES ($1, $2)", 2, NULL, vals, NULL, NULL, 0);
    TEST_CHECK(PQresultStatus(r) == PGRES_COMMAND_OK);
    PQclear(r);
    char *v = tpg_scalar(c, "SELECT v FROM t WHERE id = 1");
    TEST_EQ_STR(v, vals[1]);
    free(v);
    char *dir = tpg_scalar(c, "SHOW unix_socket_directories");
    TEST_EQ_STR(dir, getenv("PGHOST"));
    free(dir);
    char *listen = tpg_scalar(c, "SHOW listen_addresses");
    TEST_EQ_STR(listen, ""); /* no TCP listener: nothing to clash with */
    free(listen);
    PQfinish(c);
}

int main(void)
{
    if (!tpg_available()) {
        test_skip("create_insert_select", "no PGHOST: run through tests/run.sh");
        return test_done();
    }
    TEST_RUN(create_insert_select);
    return test_done();
}
