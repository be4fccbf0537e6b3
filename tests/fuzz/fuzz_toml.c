/*
 * fuzz_toml.c - libFuzzer target for the TOML parser (make fuzz -> build/fuzz/fuzz_toml).
 *
 * Any input must either parse or fail with a "FILE:LINE:COL: message" error; never crash, leak
 * or hang. Successful parses are also walked (lookups, JSON form) to exercise the tree.
 */
#include "err.h"
#include "sbuf.h"
#include "toml.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void walk(const toml_value *v)
{
    if (v->type == TOML_TABLE) {
        for (size_t i = 0; i < v->u.tab.n; i++) {
            size_t klen;
            const char *k = toml_key_at(v, i, &klen);
            if (toml_get_len(v, k, klen) != v->u.tab.vals[i])
                abort(); /* every key must be found again, and find its own value */
            walk(v->u.tab.vals[i]);
        }
    } else if (v->type == TOML_ARRAY) {
        for (size_t i = 0; i < v->u.arr.n; i++)
            walk(v->u.arr.items[i]);
    }
    if (v->line < 1 || v->col < 1)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    toml_value *root = NULL;
    gs_err err = {0};
    int rc = toml_parse((const char *)data, size, "f", &root, &err);
    if (rc == 0) {
        walk(root);
        sbuf out = SBUF_INIT;
        toml_to_json(root, &out);
        sbuf_free(&out);
        toml_free(root);
    } else if (root || (rc == GS_EPARSE && strncmp(err.msg, "f:", 2) != 0)) {
        abort();
    }
    return 0;
}
