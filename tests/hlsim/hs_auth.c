/*
 * hs_auth.c - access and refresh tokens of each location, and POST /oauth/token with rotating
 * refresh tokens (a used refresh token stops working; earlier access tokens keep working until
 * they expire).
 */
#include "hlsim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

hs_token *hs_token_issue(hs_ctx *c, hs_loc *l, bool refresh)
{
    if (c->n_tokens == c->cap_tokens) {
        size_t cap = c->cap_tokens ? c->cap_tokens * 2 : 16;
        hs_token *v = realloc(c->tokens, cap * sizeof *v);
        if (!v)
            abort();
        c->tokens = v;
        c->cap_tokens = cap;
    }
    hs_token *t = &c->tokens[c->n_tokens++];
    memset(t, 0, sizeof *t);
    snprintf(t->value, sizeof t->value, "hlsim-%s-%016llx%016llx", refresh ? "rt" : "at",
             (unsigned long long)hs_rng_next(&c->rng), (unsigned long long)hs_rng_next(&c->rng));
    t->refresh = refresh;
    t->loc = l;
    t->expires_ms = refresh ? 0 : hs_now_ms() + c->token_ttl_s * 1000;
    return t;
}

hs_token *hs_token_find(hs_ctx *c, const char *value)
{
    if (!value)
        return NULL;
    for (size_t i = 0; i < c->n_tokens; i++)
        if (strcmp(c->tokens[i].value, value) == 0)
            return &c->tokens[i];
    return NULL;
}

void hs_loc_issue_pair(hs_ctx *c, hs_loc *l)
{
    hs_token *a = hs_token_issue(c, l, false);
    snprintf(l->access, sizeof l->access, "%s", a->value);
    hs_token *r = hs_token_issue(c, l, true);
    snprintf(l->refresh, sizeof l->refresh, "%s", r->value);
}

void hs_loc_expire_access(hs_ctx *c, hs_loc *l)
{
    int64_t now = hs_now_ms();
    for (size_t i = 0; i < c->n_tokens; i++)
        if (c->tokens[i].loc == l && !c->tokens[i].refresh)
            c->tokens[i].expires_ms = now - 1;
}
