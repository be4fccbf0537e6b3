/* cmd_check.c - `ghlsync check [--online]`: validate the configuration, optionally reach both
 * ends. The online probes themselves are in check.c. */
#include "check.h"
#include "commands.h"

#include <stdio.h>
#include <string.h>

const char cmd_check_help[] =
    "usage: ghlsync [-c FILE] check [--online]\n\n"
    "Validate the configuration file: TOML syntax, every key and value, and that each\n"
    "location's token (environment variable or file) can be read. Prints a short summary\n"
    "and exits 0, or prints the first error as FILE:LINE:COLUMN: ... and exits 2.\n\n"
    "Options:\n"
    "    --online   also connect to PostgreSQL ([database] url, then SELECT 1) and call\n"
    "               the HighLevel API once per location (GET /objects/) with its token;\n"
    "               exits 1 if either does not answer or the token is rejected\n\n"
    "Examples:\n"
    "    ghlsync check\n"
    "    ghlsync -c /etc/ghlsync/sync.toml check --online\n";

static void summary(const struct cli_ctx *ctx)
{
    const struct cfg *c = &ctx->cfg;
    char url[512];
    log_redact(ctx->log, c->database.url, url, sizeof url);
    printf("%s: ok\n", c->path);
    printf("  api        %s (Version %s)\n", c->api.base_url, c->api.version);
    printf("  database   %s%s%s, schema %s\n", url[0] ? "\"" : "",
           url[0] ? url : "(from PG* environment)", url[0] ? "\"" : "", c->database.schema);
    printf("  locations  %zu\n", c->n_locations);
    for (size_t i = 0; i < c->n_locations; i++) {
        const struct cfg_location *l = &c->locations[i];
        printf("    %s: %s, ", l->id, l->token_source);
        if (l->all_objects) {
            printf("all objects\n");
        } else {
            for (size_t j = 0; j < l->n_objects; j++)
                printf("%s%s", j ? " " : "", l->objects[j]);
            printf("\n");
        }
    }
    for (size_t i = 0; i < c->n_objects; i++) {
        const struct cfg_object *o = &c->objects[i];
        printf("  object     %s -> %s (%s, %s)\n", o->key, o->table ? o->table : "(derived)",
               cfg_direction_name(o->direction), cfg_conflict_name(o->conflict));
    }
    if (c->n_warnings)
        printf("  warnings   %zu (above)\n", c->n_warnings);
}

static int online(struct cli_ctx *ctx)
{
    const struct cfg *c = &ctx->cfg;
    int failures = 0;
    char detail[128];
    gs_err err = {0};
    if (chk_database(c, ctx->log, detail, sizeof detail, &err) == 0) {
        printf("database: ok (%s)\n", detail);
    } else {
        printf("database: FAILED\n");
        fprintf(stderr, "ghlsync check: database: %s\n", err.msg);
        failures++;
    }
    for (size_t i = 0; i < c->n_locations; i++) {
        const struct cfg_location *l = &c->locations[i];
        if (l->auth != CFG_AUTH_TOKEN) {
            /* A refresh (or a mint, for an agency location) would rotate the refresh token:
             * not something a check should do. */
            printf("location %s: api not checked (OAuth: the engine refreshes the token)\n", l->id);
            continue;
        }
        long status;
        gs_err_clear(&err);
        if (chk_api(c, l, ctx->log, &status, &err) == 0) {
            printf("location %s: api ok (HTTP %ld)\n", l->id, status);
        } else {
            printf("location %s: api FAILED\n", l->id);
            fprintf(stderr, "ghlsync check: location %s: %s\n", l->id, err.msg);
            failures++;
        }
    }
    return failures ? CLI_EXIT_RUNTIME : CLI_EXIT_OK;
}

int cmd_check(struct cli_ctx *ctx, int argc, char **argv)
{
    bool want_online = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--online")) {
            want_online = true;
        } else {
            fprintf(stderr, "ghlsync check: unexpected argument '%s' (see ghlsync check --help)\n",
                    argv[i]);
            return CLI_EXIT_USAGE;
        }
    }
    int rc = cli_load_config(ctx);
    if (rc)
        return rc;
    summary(ctx);
    fflush(stdout);
    return want_online ? online(ctx) : CLI_EXIT_OK;
}
