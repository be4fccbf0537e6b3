/* test_mapping_toml.c - mappings/types.toml loads and equals the built-in defaults; bad maps are
 * refused with file:line:col messages. (Needs the TOML parser, sync/toml.c.) */
#include "mapping.h"
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void test_repo_file_matches_builtin(void)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/mappings/types.toml", getenv("GHLSYNC_TOP"));
    map_types *m, *b;
    gs_err e = {0};
    TEST_REQUIRE(map_types_load(path, &m, &e) == 0 || !printf("# %s\n", e.msg));
    TEST_REQUIRE(map_types_builtin(&b, &e) == 0);
    TEST_EQ_INT(m->n, b->n);
    for (size_t i = 0; i < b->n; i++) {
        const map_type *x = map_types_get(m, b->types[i].name);
        TEST_CHECK_MSG(x && !strcmp(x->column, b->types[i].column) &&
                           x->codec == b->types[i].codec &&
                           !x->currency_column == !b->types[i].currency_column,
                       "%s", b->types[i].name);
    }
    TEST_EQ_STR(m->fallback.column, "jsonb");
    TEST_EQ_INT(m->fallback.codec, MAP_JSON);
    map_types_free(m);
    map_types_free(b);
}

static int load_text(const char *text, gs_err *e)
{
    char path[512];
    snprintf(path, sizeof path, "%s/ghlsync-types-XXXXXX", test_tmpdir());
    int fd = mkstemp(path);
    if (fd < 0)
        return -100;
    if (write(fd, text, strlen(text)) < 0) {
        close(fd);
        return -100;
    }
    close(fd);
    map_types *m = NULL;
    int rc = map_types_load(path, &m, e);
    map_types_free(m);
    unlink(path);
    return rc;
}

static void test_bad_maps(void)
{
    gs_err e = {0};
    TEST_EQ_INT(load_text("[types.TEXT]\ncolumn = \"text; drop\"\ncodec = \"text\"\n", &e),
                GS_ECONFIG);
    TEST_CHECK_MSG(strstr(e.msg, ":1:") != NULL, "%s", e.msg);
    TEST_EQ_INT(load_text("[types.TEXT]\ncolumn = \"text\"\ncodec = \"nope\"\n", &e), GS_ECONFIG);
    TEST_CHECK_MSG(strstr(e.msg, "unknown codec"), "%s", e.msg);
    TEST_EQ_INT(load_text("[types.TEXT]\ncolumn = \"text\"\ncodex = \"text\"\n", &e), GS_ECONFIG);
    TEST_EQ_INT(load_text("x = 1\n", &e), GS_ECONFIG);
    TEST_EQ_INT(load_text("[types.TEXT\n", &e), GS_EPARSE);
    /* No [fallback]: unknown types still map to jsonb. */
    TEST_EQ_INT(load_text("[types.TEXT]\ncolumn = \"varchar(200)\"\ncodec = \"text\"\n", &e), 0);
}

static void test_find_file(void)
{
    char out[4096];
    gs_err e = {0};
    setenv("GHLSYNC_DATADIR", getenv("GHLSYNC_TOP"), 1);
    TEST_EQ_INT(map_types_find_file(out, sizeof out, &e), 0);
    TEST_CHECK(strstr(out, "/mappings/types.toml") != NULL);
    unsetenv("GHLSYNC_DATADIR");
}

int main(void)
{
    if (!getenv("GHLSYNC_TOP")) {
        test_skip("mapping_toml", "GHLSYNC_TOP not set (run via tests/run.sh)");
        return test_done();
    }
    TEST_RUN(test_repo_file_matches_builtin);
    TEST_RUN(test_bad_maps);
    TEST_RUN(test_find_file);
    return test_done();
}
