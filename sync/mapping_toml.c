/* mapping_toml.c - loading the type map from mappings/types.toml (see mapping.h). Kept apart
 * from mapping.c so that the codecs do not depend on the TOML parser. */
#include "mapping.h"

#include "datadir.h"
#include "toml.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *str_of(const toml_value *t, const char *key)
{
    const toml_value *v = toml_get(t, key);
    return v && v->type == TOML_STRING ? v->u.str.s : NULL;
}

static int load_entry(map_types *m, const char *file, const char *name, const toml_value *t,
                      gs_err *err)
{
    if (t->type != TOML_TABLE)
        return gs_err_set(err, GS_ECONFIG, "%s:%d:%d: type %s must be a table", file, t->line,
                          t->col, name);
    for (size_t i = 0; i < t->u.tab.n; i++) {
        const char *k = t->u.tab.keys[i];
        if (strcmp(k, "column") && strcmp(k, "codec") && strcmp(k, "currency_column"))
            return gs_err_set(err, GS_ECONFIG,
                              "%s:%d:%d: unknown key \"%s\" in type %s (known: column, codec, "
                              "currency_column)",
                              file, t->u.tab.vals[i]->line, t->u.tab.vals[i]->col, k, name);
        if (t->u.tab.vals[i]->type != TOML_STRING)
            return gs_err_set(err, GS_ECONFIG, "%s:%d:%d: %s.%s must be a string", file,
                              t->u.tab.vals[i]->line, t->u.tab.vals[i]->col, name, k);
    }
    const char *column = str_of(t, "column"), *codec = str_of(t, "codec");
    if (!column || !codec)
        return gs_err_set(err, GS_ECONFIG, "%s:%d:%d: type %s needs both column and codec", file,
                          t->line, t->col, name);
    map_codec c;
    if (map_codec_parse(codec, &c))
        return gs_err_set(err, GS_ECONFIG,
                          "%s:%d:%d: type %s: unknown codec \"%s\" (known: text, numeric, money, "
                          "option, options, date, textbox_list, files, json)",
                          file, t->line, t->col, name, codec);
    int rc = map_types_set(m, name, column, c, str_of(t, "currency_column"), err);
    if (rc)
        return gs_err_wrap(err, "%s:%d:%d", file, t->line, t->col);
    return 0;
}

int map_types_load(const char *path, map_types **out, gs_err *err)
{
    *out = NULL;
    toml_value *root;
    int rc = toml_parse_file(path, &root, err);
    if (rc)
        return rc;
    map_types *m = calloc(1, sizeof *m);
    if (!m) {
        toml_free(root);
        return gs_err_set(err, GS_ENOMEM, "out of memory");
    }
    const toml_value *types = toml_get(root, "types");
    const toml_value *fb = toml_get(root, "fallback");
    if (!types || types->type != TOML_TABLE || types->u.tab.n == 0)
        rc = gs_err_set(err, GS_ECONFIG, "%s: no [types.*] entries", path);
    for (size_t i = 0; rc == 0 && i < types->u.tab.n; i++) {
        if (!*types->u.tab.keys[i])
            rc = gs_err_set(err, GS_ECONFIG, "%s: empty type name", path);
        else
            rc = load_entry(m, path, types->u.tab.keys[i], types->u.tab.vals[i], err);
    }
    /* Without [fallback], unknown types still must never fail: keep them as jsonb. */
    if (rc == 0)
        rc = fb ? load_entry(m, path, "", fb, err)
                : map_types_set(m, "", "jsonb", MAP_JSON, NULL, err);
    toml_free(root);
    if (rc) {
        map_types_free(m);
        return rc;
    }
    *out = m;
    return 0;
}

int map_types_find_file(char *out, size_t len, gs_err *err)
{
    return datadir_find("mappings/types.toml", false, out, len, err);
}
