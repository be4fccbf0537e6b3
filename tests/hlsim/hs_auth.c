/*
 * hs_auth.c - access and refresh tokens of each location, and POST /oauth/token with rotating
 * refresh tokens (a used refresh token stops working; earlier access tokens keep working until
 * they expire).
 */
#include "hlsim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t tok_hash(const char *s)
{
    size_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h ^ (h >> 29);
}

static void idx_insert(hs_ctx *c, size_t i)
{
    size_t mask = c->tok_idx_cap - 1;
    size_t k = tok_hash(c->tokens[i].value) & mask;
    while (c->tok_idx[k])
        k = (k + 1) & mask;
    c->tok_idx[k] = i + 1;
}

/* Index token i; at most half full (a rebuild indexes every token by its current value). */
static void idx_add(hs_ctx *c, size_t i)
{
    if ((i + 1) * 2 > c->tok_idx_cap) {
        size_t cap = c->tok_idx_cap ? c->tok_idx_cap * 2 : 64;
        while ((i + 1) * 2 > cap)
            cap *= 2;
        free(c->tok_idx);
        c->tok_idx = calloc(cap, sizeof *c->tok_idx);
        if (!c->tok_idx)
            abort();
        c->tok_idx_cap = cap;
        for (size_t j = 0; j < i; j++)
            idx_insert(c, j);
    }
    idx_insert(c, i);
}

hs_token *hs_token_issue_as(hs_ctx *c, hs_loc *l, bool refresh, const char *value)
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
    if (value)
        snprintf(t->value, sizeof t->value, "%s", value);
    else
        snprintf(t->value, sizeof t->value, "hlsim-%s-%016llx%016llx", refresh ? "rt" : "at",
                 (unsigned long long)hs_rng_next(&c->rng),
                 (unsigned long long)hs_rng_next(&c->rng));
    t->refresh = refresh;
    t->loc = l;
    t->expires_ms = refresh ? 0 : hs_now_ms() + c->token_ttl_s * 1000;
    idx_add(c, c->n_tokens - 1);
    return t;
}

hs_token *hs_token_issue(hs_ctx *c, hs_loc *l, bool refresh)
{
    return hs_token_issue_as(c, l, refresh, NULL);
}

hs_token *hs_token_find(hs_ctx *c, const char *value)
{
    if (!value || !c->tok_idx_cap)
        return NULL;
    size_t mask = c->tok_idx_cap - 1;
    for (size_t k = tok_hash(value) & mask; c->tok_idx[k]; k = (k + 1) & mask)
        if (strcmp(c->tokens[c->tok_idx[k] - 1].value, value) == 0)
            return &c->tokens[c->tok_idx[k] - 1];
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
