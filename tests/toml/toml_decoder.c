/*
 * toml_decoder.c - toml-test decoder: TOML on stdin, tagged JSON on stdout (exit 0), or the
 * parser's "FILE:LINE:COL: message" on stderr and exit 1 for invalid input.
 */
#include "err.h"
#include "sbuf.h"
#include "toml.h"

#include <stdio.h>

int main(void)
{
    sbuf in = SBUF_INIT;
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, stdin)) > 0)
        sbuf_append(&in, chunk, n);
    if (ferror(stdin) || sbuf_failed(&in)) {
        fprintf(stderr, "toml_decoder: cannot read stdin\n");
        sbuf_free(&in);
        return 2;
    }
    gs_err err = {0};
    toml_value *root = NULL;
    int rc = toml_parse(in.data, in.len, "<stdin>", &root, &err);
    sbuf_free(&in);
    if (rc) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    sbuf out = SBUF_INIT;
    rc = toml_to_json(root, &out);
    toml_free(root);
    if (rc) {
        fprintf(stderr, "toml_decoder: out of memory\n");
        sbuf_free(&out);
        return 2;
    }
    fwrite(out.data, 1, out.len, stdout);
    fputc('\n', stdout);
    sbuf_free(&out);
    return 0;
}
