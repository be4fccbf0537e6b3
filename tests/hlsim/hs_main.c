/*
 * hs_main.c - hlsim command line: options, seeding, start-up lines on stdout, signal handling
 * and orderly shutdown. Usage: see --help and tests/hlsim/README.md.
 */
#include "hlsim.h"

#include <errno.h>
#include <microhttpd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fputs(
        "usage: hlsim [options]\n"
        "  HighLevel API 2.0 simulator on 127.0.0.1 (see tests/hlsim/README.md).\n"
        "  --port N               listen port, 0 = pick a free one (default 0)\n"
        "  --locations N          seeded locations, 1..5000 (default 2)\n"
        "  --seed S               PRNG seed for ids, tokens and data (default 1)\n"
        "  --seed-records N       records per object (pet, vaccination, business) (default 20)\n"
        "  --state FILE           load state JSON (same shape as GET /_admin/state) after seeding\n"
        "  --burst N              requests per window per location, 0 = unlimited (default 100)\n"
        "  --window-ms N          burst window in ms (default 10000)\n"
        "  --daily N              requests per UTC day per location, 0 = unlimited (default "
        "200000)\n"
        "  --admin-token T        bearer token of /_admin/ (default: generated, printed)\n"
        "  --client-id ID         OAuth client_id (default hlsim-client)\n"
        "  --client-secret S      OAuth client_secret (default hlsim-secret)\n"
        "  --token-ttl S          access token lifetime, expires_in (default 86399)\n"
        "  --fault SPEC           add a fault rule, e.g. "
        "kind=error,status=503,rate=0.1,path=/search\n"
        "                         (repeatable; keys as in POST /_admin/faults)\n"
        "  --latency-ms N         shorthand: fixed latency on every request\n"
        "  --latency-jitter-ms N  shorthand: extra random latency 0..N ms\n"
        "  --error-rate R         shorthand: 5xx (500/502/503/504) with probability R\n"
        "  --filters MODE         on | ignore | reject (422) search filters (default on)\n"
        "  --no-sort              ignore search sort\n"
        "  --page-cap N           return at most N records per search page, silently\n"
        "  --omit-total           leave total out of search responses\n"
        "  --seed-contacts N      contacts per location (default 0)\n"
        "  --index-lag-ms N       contact writes reach search N ms later (default 0)\n"
        "  --search-names         contacts search also sends firstName/lastName\n"
        "  --seed-opportunities N opportunities per location (default 0; needs contacts)\n"
        "  --seed-relations N     associations pet_owner and vaccination_pet with N relations "
        "each\n"
        "  --opp-post-search-401  POST /opportunities/search answers 401 (IAM Service)\n"
        "  --another-user RATE    background web-user edits/creates/deletes per second\n"
        "  --another-user-object KEY  restrict those to one object key\n"
        "  --webhook-url URL      send signed webhooks for every change (or PUT /_admin/webhooks)\n"
        "  --webhook-retry-ms MS  retry interval of a webhook answered 429 (default 600000)\n"
        "  --webhook-legacy       also sign with RSA-SHA256 in x-wh-signature\n"
        "  --help                 this text\n"
        "stdout: 'listening on 127.0.0.1:PORT', then per location\n"
        "        'location <id> token <access> refresh <refresh>', then 'admin-token <token>'.\n",
        f);
}

static bool num_arg(const char *v, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (errno || end == v || *end || d < lo || d > hi)
        return false;
    *out = d;
    return true;
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    hs_buf b = {0};
    char tmp[65536];
    size_t n;
    while ((n = fread(tmp, 1, sizeof tmp, f)) > 0)
        hs_buf_add(&b, tmp, n);
    fclose(f);
    return hs_buf_steal(&b);
}

static void ctx_free(hs_ctx *c)
{
    hs_wh_free(c->wh);
    c->wh = NULL;
    for (int i = 0; i < c->n_locs; i++)
        hs_loc_free(c->locs[i]);
    free(c->locs);
    free(c->tokens);
    free(c->tok_idx);
    free(c->faults);
    hs_assoc_free(c);
    pthread_mutex_destroy(&c->mu);
}

int main(int argc, char **argv)
{
    hs_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    hs_ctx *c = &ctx;
    pthread_mutex_init(&c->mu, NULL);
    c->burst = 100;
    c->window_ms = 10000;
    c->daily = 200000;
    c->seed_rels = -1;
    c->token_ttl_s = 86399;
    snprintf(c->client_id, sizeof c->client_id, "hlsim-client");
    snprintf(c->client_secret, sizeof c->client_secret, "hlsim-secret");
    double port = 0, nloc = 2, seed = 1, nrec = 20;
    const char *state = NULL, *admin = NULL, *wh_url = NULL;
    double wh_retry = 0;
    bool wh_legacy = false;
    hs_fault pending[64];
    int npending = 0;
    double lat = 0, jit = 0, erate = 0;
    int rc = 2;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        double d = 0;
        bool takes = true, good = true;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            ctx_free(c);
            return 0;
        } else if (!strcmp(a, "--no-sort")) {
            c->sw.sort_off = true;
            takes = false;
        } else if (!strcmp(a, "--omit-total")) {
            c->sw.omit_total = true;
            takes = false;
        } else if (!strcmp(a, "--opp-post-search-401")) {
            c->sw.opp_post_401 = true;
            takes = false;
        } else if (!strcmp(a, "--search-names")) {
            c->sw.search_names = true;
            takes = false;
        } else if (!strcmp(a, "--webhook-legacy")) {
            wh_legacy = true;
            takes = false;
        } else if (!v) {
            good = false;
        } else if (!strcmp(a, "--webhook-url")) {
            wh_url = v;
        } else if (!strcmp(a, "--webhook-retry-ms")) {
            good = num_arg(v, 1, 1e9, &wh_retry);
        } else if (!strcmp(a, "--port")) {
            good = num_arg(v, 0, 65535, &port);
        } else if (!strcmp(a, "--locations")) {
            good = num_arg(v, 1, 5000, &nloc);
        } else if (!strcmp(a, "--seed")) {
            good = num_arg(v, 0, 1e15, &seed);
        } else if (!strcmp(a, "--seed-records")) {
            good = num_arg(v, 0, 1e8, &nrec);
        } else if (!strcmp(a, "--state")) {
            state = v;
        } else if (!strcmp(a, "--burst")) {
            good = num_arg(v, 0, 1e9, &d);
            c->burst = (int)d;
        } else if (!strcmp(a, "--window-ms")) {
            good = num_arg(v, 1, 1e9, &d);
            c->window_ms = (long)d;
        } else if (!strcmp(a, "--daily")) {
            good = num_arg(v, 0, 1e12, &d);
            c->daily = (long)d;
        } else if (!strcmp(a, "--admin-token")) {
            good = strlen(v) > 0 && strlen(v) < sizeof c->admin_token;
            admin = v;
        } else if (!strcmp(a, "--client-id")) {
            snprintf(c->client_id, sizeof c->client_id, "%s", v);
        } else if (!strcmp(a, "--client-secret")) {
            snprintf(c->client_secret, sizeof c->client_secret, "%s", v);
        } else if (!strcmp(a, "--token-ttl")) {
            good = num_arg(v, 1, 1e9, &d);
            c->token_ttl_s = (long)d;
        } else if (!strcmp(a, "--fault")) {
            char err[300];
            if (npending == 64 || hs_fault_from_spec(v, &pending[npending], err, sizeof err)) {
                fprintf(stderr, "hlsim: --fault %s: %s\n", v, npending == 64 ? "too many" : err);
                ctx_free(c);
                return 2;
            }
            npending++;
        } else if (!strcmp(a, "--latency-ms")) {
            good = num_arg(v, 0, 1e7, &lat);
        } else if (!strcmp(a, "--latency-jitter-ms")) {
            good = num_arg(v, 0, 1e7, &jit);
        } else if (!strcmp(a, "--error-rate")) {
            good = num_arg(v, 0, 1, &erate);
        } else if (!strcmp(a, "--filters")) {
            if (!strcmp(v, "on"))
                c->sw.filters = FILTERS_ON;
            else if (!strcmp(v, "ignore"))
                c->sw.filters = FILTERS_IGNORE;
            else if (!strcmp(v, "reject"))
                c->sw.filters = FILTERS_REJECT;
            else
                good = false;
        } else if (!strcmp(a, "--seed-contacts")) {
            good = num_arg(v, 0, 1e8, &d);
            c->seed_contacts = (long)d;
        } else if (!strcmp(a, "--seed-opportunities")) {
            good = num_arg(v, 0, 1e8, &d);
            c->seed_opps = (long)d;
        } else if (!strcmp(a, "--seed-relations")) {
            good = num_arg(v, 0, 1e8, &d);
            c->seed_rels = (long)d;
        } else if (!strcmp(a, "--index-lag-ms")) {
            good = num_arg(v, 0, 3600000, &d);
            c->sw.index_lag_ms = (long)d;
        } else if (!strcmp(a, "--page-cap")) {
            good = num_arg(v, 0, 500, &d);
            c->sw.page_cap = (int)d;
        } else if (!strcmp(a, "--another-user")) {
            good = num_arg(v, 0, 1e6, &c->web_rate);
        } else if (!strcmp(a, "--another-user-object")) {
            snprintf(c->web_object, sizeof c->web_object, "%s", v);
        } else {
            fprintf(stderr, "hlsim: unknown option %s (see --help)\n", a);
            ctx_free(c);
            return 2;
        }
        if (!good) {
            fprintf(stderr, "hlsim: bad or missing value for %s (see --help)\n", a);
            ctx_free(c);
            return 2;
        }
        if (takes)
            i++;
    }

    c->rng.s = (uint64_t)seed * 0x2545F4914F6CDD1Dull + 7;
    for (int i = 0; i < npending; i++)
        hs_fault_add(c, &pending[i]);
    if (lat > 0 || jit > 0) {
        hs_fault f = {0};
        f.kind = FK_LATENCY;
        f.rate = 1;
        f.count = -1;
        f.ms = (long)lat;
        f.jitter_ms = (long)jit;
        hs_fault_add(c, &f);
    }
    if (erate > 0) {
        hs_fault f = {0};
        f.kind = FK_ERROR;
        f.rate = erate;
        f.count = -1;
        hs_fault_add(c, &f);
    }
    if (admin) {
        snprintf(c->admin_token, sizeof c->admin_token, "%s", admin);
    } else {
        hs_rng r = {(uint64_t)hs_now_ms() ^ (uint64_t)getpid() << 32};
        snprintf(c->admin_token, sizeof c->admin_token, "hlsim-admin-%016llx",
                 (unsigned long long)hs_rng_next(&r));
    }
    if (!(c->wh = hs_wh_new(wh_url, (long)wh_retry, wh_legacy))) {
        fprintf(stderr, "hlsim: cannot create the webhook keys\n");
        ctx_free(c);
        return 1;
    }
    for (int i = 0; i < (int)nloc; i++) {
        char id[21];
        hs_alnum_id(&c->rng, id);
        hs_loc *l = hs_loc_new(c, id);
        hs_loc_issue_pair(c, l);
    }
    hs_agency_init(c);
    for (int i = 0; i < c->n_locs; i++)
        hs_seed_location(c, c->locs[i], (long)nrec);
    if (state) {
        char *txt = read_file(state);
        cJSON *j = txt ? cJSON_Parse(txt) : NULL;
        free(txt);
        cJSON *errs = cJSON_CreateArray();
        if (!j || hs_state_load(c, j, errs) != 200) {
            char *e = cJSON_PrintUnformatted(errs);
            fprintf(stderr, "hlsim: cannot load --state %s: %s\n", state,
                    j ? e : "unreadable or not JSON");
            free(e);
            cJSON_Delete(errs);
            cJSON_Delete(j);
            ctx_free(c);
            return 2;
        }
        cJSON_Delete(errs);
        cJSON_Delete(j);
    }

    /* Signals are taken synchronously by this thread only; every other thread inherits the mask. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    int bound = 0;
    struct MHD_Daemon *d = hs_http_start(c, (int)port, &bound);
    if (!d) {
        fprintf(stderr, "hlsim: cannot listen on 127.0.0.1:%d\n", (int)port);
        ctx_free(c);
        return 1;
    }
    hs_wh_start(c->wh); /* changes from now on are sent */
    if (pthread_create(&c->web_thread, NULL, hs_web_thread, c) == 0)
        c->web_started = true;
    printf("listening on 127.0.0.1:%d\n", bound);
    pthread_mutex_lock(&c->mu);
    for (int i = 0; i < c->n_locs; i++)
        printf("location %s token %s refresh %s\n", c->locs[i]->id, c->locs[i]->access,
               c->locs[i]->refresh);
    printf("company %s token %s refresh %s\n", c->company_id, c->company_access,
           c->company_refresh);
    pthread_mutex_unlock(&c->mu);
    printf("webhook-key %s\n", hs_wh_public_key(c->wh));
    printf("admin-token %s\n", c->admin_token);
    fflush(stdout);

    int sig = 0;
    sigwait(&set, &sig);
    c->stop = 1;
    MHD_stop_daemon(d);
    if (c->web_started)
        pthread_join(c->web_thread, NULL);
    hs_wh_free(c->wh);
    c->wh = NULL;
    ctx_free(c);
    rc = 0;
    return rc;
}
