/* Agency OAuth in the engine ([agency], agency.h, oauth.c minting): the real binary against the
 * simulator's company and a private PostgreSQL.
 *  - discovery of the installed locations, a location pair minted for each, saved in
 *    ghlsync.oauth_tokens, every location synced; the company pair rotated and its file
 *    rewritten; no 401 anywhere (the simulator answers 401 to a company token on location
 *    data, so none means it was never sent there);
 *  - a restart uses the persisted pairs (no new mint); an expiring pair is refreshed with the
 *    agency's client credentials and the rotation saved; a refused refresh token is re-minted;
 *  - `run` with a short discovery_interval: an uninstalled location stops (its rows stay, a
 *    remote change is not pulled) while the others go on;
 *  - one installed while `run` runs starts syncing without a restart: its records mirrored
 *    (equal to the simulator), a local insert in it pushed once, the others synced meanwhile;
 *    with two processes and leases exactly one of them serves it;
 *  - three processes started at the same instant, each wanting to refresh the
 *    company token (from the file alone, or a stored pair whose access token expired): all
 *    keep running, the company is refreshed at most once per process (the others adopt the
 *    stored pair), the locations split through leases, each local insert pushed once;
 *  - a mint answered without a refresh token: saved with refresh_token NULL and minted again at
 *    every expiry or 401, across a `run` and a restart; a plain OAuth location with such a row
 *    is refused by name;
 *  - no location installed at all: a backfill refuses (exit 2), `run` starts and waits, and the
 *    first install syncs both ways;
 *  - an explicit list beside a [[locations]] table. */
#include "test.h"
#include "tpg.h"
#include "tpull.h"
#include "tsim.h"

#include <cjson/cJSON.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static bool ready(void)
{
    return tpg_available() && getenv("GHLSYNC_BIN") && getenv("HLSIM_BIN");
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *t = malloc((size_t)n + 1);
    size_t got = t ? fread(t, 1, (size_t)n, f) : 0;
    fclose(f);
    if (t) {
        t[got] = 0;
        while (got && (t[got - 1] == '\n'))
            t[--got] = 0;
    }
    return t;
}

static int count_in(const char *path, const char *needle)
{
    char *t = slurp(path);
    int n = 0;
    for (const char *p = t; p && (p = strstr(p, needle)); p += strlen(needle))
        n++;
    free(t);
    return n;
}

/* tpull_run, printing the engine's log as diagnostics ("# ") when it fails */
static int run_logged(const char *cfg, const char *const *args, const char *log)
{
    int rc = tpull_run(cfg, args, log, 60000);
    if (rc != 0) {
        char *t = slurp(log);
        for (char *line = t ? strtok(t, "\n") : NULL; line; line = strtok(NULL, "\n"))
            printf("#   | %.300s\n", line);
        free(t);
    }
    return rc;
}

/* A field of GET /_admin/agency (malloc'd). */
static char *agency_field(const tsim *s, const char *key)
{
    char *body = NULL;
    tsim_admin(s, "GET", "/_admin/agency", NULL, &body);
    cJSON *j = cJSON_Parse(body ? body : "");
    free(body);
    const char *v = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, key));
    char *out = v ? strdup(v) : NULL;
    cJSON_Delete(j);
    return out;
}

/* byStatus["401"] of the simulator's counters */
static int n401(const tsim *s)
{
    char *body = NULL;
    tsim_admin(s, "GET", "/_admin/counters", NULL, &body);
    cJSON *j = cJSON_Parse(body ? body : "");
    free(body);
    const cJSON *v =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "byStatus"), "401");
    int n = cJSON_IsNumber(v) ? (int)v->valuedouble : 0;
    cJSON_Delete(j);
    return n;
}

/* DIR/sync.toml for the simulator's agency; `locations` is the [agency] locations value,
 * `objects` its objects value, `extra` more [agency] keys, `tail` more tables. */
static bool write_config_objects(const tsim *s, const char *conninfo, const char *dir,
                                 const char *locations, const char *objects, const char *extra,
                                 const char *tail, char *cfg, size_t len)
{
    char *company = agency_field(s, "companyId"), *app = agency_field(s, "appId");
    if (!company || !app) {
        free(company);
        free(app);
        return false;
    }
    setenv("GHLT_COMPANY", company, 1);
    setenv("GHLT_CLIENT_ID", "hlsim-client", 1);
    setenv("GHLT_CLIENT_SECRET", "hlsim-secret", 1);
    snprintf(cfg, len, "%s/sync.toml", dir);
    FILE *f = fopen(cfg, "w");
    if (f)
        fprintf(f,
                "[api]\nbase_url = \"%s\"\ninsecure_http = true\nrequest_timeout = \"10s\"\n\n"
                "[database]\nurl = \"%s\"\n\n[log]\nlevel = \"info\"\n\n"
                "[pull]\npoll_interval = \"1s\"\n\n[leases]\nttl = \"3s\"\n\n"
                "[agency]\ncompany_id_env = \"GHLT_COMPANY\"\napp_id = \"%s\"\n"
                "client_id_env = \"GHLT_CLIENT_ID\"\nclient_secret_env = \"GHLT_CLIENT_SECRET\"\n"
                "refresh_token_file = \"company_refresh\"\nlocations = %s\n"
                "objects = %s\n%s\n%s",
                s->base_url, conninfo, app, locations, objects, extra ? extra : "",
                tail ? tail : "");
    free(company);
    free(app);
    if (!f)
        return false;
    fclose(f);
    return true;
}

static bool write_config(const tsim *s, const char *conninfo, const char *dir,
                         const char *locations, const char *extra, const char *tail, char *cfg,
                         size_t len)
{
    return write_config_objects(s, conninfo, dir, locations, "[\"custom_objects.pet\"]", extra,
                                tail, cfg, len);
}

static void print_log(const char *log)
{
    char *t = slurp(log);
    for (char *line = t ? strtok(t, "\n") : NULL; line; line = strtok(NULL, "\n"))
        printf("#   | %.300s\n", line);
    free(t);
}

static bool write_company_refresh(const tsim *s, const char *dir)
{
    char path[700];
    snprintf(path, sizeof path, "%s/company_refresh", dir);
    char *r = agency_field(s, "refresh");
    FILE *f = r ? fopen(path, "w") : NULL;
    if (f) {
        fprintf(f, "%s\n", r);
        fclose(f);
        chmod(path, 0600);
    }
    free(r);
    return f != NULL;
}

static void discovery_minting_rotation(void)
{
    tsim s;
    const char *args[] = {"--locations", "5", "--seed-records", "4", "--burst", "0", NULL};
    TEST_REQUIRE(tsim_start(&s, args) == 0);
    char dir[512], cfg[700], ci[512], log[700], rtf[700];
    snprintf(dir, sizeof dir, "%s/agency-oauth-XXXXXX", test_tmpdir());
    TEST_REQUIRE(mkdtemp(dir) != NULL);
    snprintf(log, sizeof log, "%s/engine.log", dir);
    snprintf(rtf, sizeof rtf, "%s/company_refresh", dir);
    PGconn *c = tpg_fresh_db("agency_oauth1", ci, sizeof ci);
    TEST_REQUIRE(c != NULL);
    TEST_REQUIRE(write_company_refresh(&s, dir));
    /* pages of two: three pages for five locations */
    TEST_REQUIRE(write_config(&s, ci, dir, "\"installed\"", "discovery_page_size = 2\n", NULL, cfg,
                              sizeof cfg));
    char *company_before = slurp(rtf);
    const char *bf[] = {"backfill", NULL};

    /* 1. discovery + minting: five locations, four pets each */
    TEST_EQ_INT(run_logged(cfg, bf, log), 0);
    char *n = tpg_scalar(c, "SELECT count(*) FROM ghl.pet");
    TEST_EQ_STR(n ? n : "(null)", "20");
    free(n);
    n = tpg_scalar(c, "SELECT count(DISTINCT location_id) FROM ghl.pet");
    TEST_EQ_STR(n ? n : "(null)", "5");
    free(n);
    TEST_EQ_INT(count_in(log, "oauth.minted"), 5);
    TEST_EQ_INT(count_in(log, "agency.discovered company=hlsimCompany00000001 installed=5 added=5"),
                1);
    n = tpg_scalar(c, "SELECT count(*) FROM ghlsync.oauth_tokens WHERE location_id NOT LIKE "
                      "'agency:%' AND access_token IS NOT NULL");
    TEST_EQ_STR(n ? n : "(null)", "5");
    free(n);
    /* the company pair rotated (it had no access token): file and row follow it */
    char *company_now = agency_field(&s, "refresh"), *file = slurp(rtf);
    TEST_REQUIRE(company_now && file && company_before);
    TEST_CHECK(strcmp(company_now, company_before) != 0);
    TEST_EQ_STR(file, company_now);
    n = tpg_scalar(c, "SELECT refresh_token FROM ghlsync.oauth_tokens WHERE location_id LIKE "
                      "'agency:%'");
    TEST_EQ_STR(n ? n : "(null)", company_now);
    free(n);
    TEST_EQ_INT(n401(&s), 0); /* the company token never went to location data */
    TEST_CHECK_MSG(count_in(log, company_now) == 0, "no company token in the log");
    free(file);

    /* 2. a restart: the persisted pairs, no new mint */
    TEST_REQUIRE(tpg_exec(c, "TRUNCATE ghlsync.pull_state"));
    TEST_REQUIRE(truncate(log, 0) == 0);
    TEST_EQ_INT(run_logged(cfg, bf, log), 0);
    TEST_EQ_INT(count_in(log, "oauth.minted"), 0);
    TEST_EQ_INT(count_in(log, "oauth.refreshed"), 0);

    /* 3. one pair about to expire: refreshed with the agency's app, the rotation saved;
     *    another with a refused refresh token: minted again from the company token */
    char *loc0 = s.loc[0].id, *loc1 = s.loc[1].id, q[400];
    snprintf(q, sizeof q, "SELECT refresh_token FROM ghlsync.oauth_tokens WHERE location_id = '%s'",
             loc0);
    char *r0 = tpg_scalar(c, q);
    snprintf(q, sizeof q,
             "UPDATE ghlsync.oauth_tokens SET expires_at = now() - interval '1 minute' "
             "WHERE location_id = '%s'",
             loc0);
    TEST_REQUIRE(tpg_exec(c, q));
    snprintf(q, sizeof q,
             "UPDATE ghlsync.oauth_tokens SET refresh_token = 'revoked-token', "
             "expires_at = now() - interval '1 minute' WHERE location_id = '%s'",
             loc1);
    TEST_REQUIRE(tpg_exec(c, q));
    TEST_REQUIRE(tpg_exec(c, "TRUNCATE ghlsync.pull_state"));
    TEST_REQUIRE(truncate(log, 0) == 0);
    TEST_EQ_INT(run_logged(cfg, bf, log), 0);
    TEST_EQ_INT(count_in(log, "oauth.refreshed"), 2); /* loc0's rotation, loc1's mint */
    TEST_EQ_INT(count_in(log, "oauth.remint"), 1);
    TEST_EQ_INT(count_in(log, "oauth.minted"), 1);
    snprintf(q, sizeof q, "SELECT refresh_token FROM ghlsync.oauth_tokens WHERE location_id = '%s'",
             loc0);
    char *r0b = tpg_scalar(c, q);
    TEST_REQUIRE(r0 && r0b);
    TEST_CHECK_MSG(strcmp(r0, r0b) != 0, "loc0's rotated pair is saved");
    snprintf(q, sizeof q, "SELECT refresh_token FROM ghlsync.oauth_tokens WHERE location_id = '%s'",
             loc1);
    n = tpg_scalar(c, q);
    TEST_CHECK(n && strcmp(n, "revoked-token") != 0);
    free(n);
    n = tpg_scalar(c, "SELECT count(*) FROM ghl.pet");
    TEST_EQ_STR(n ? n : "(null)", "20");
    free(n);
    TEST_EQ_INT(n401(&s), 0);
    free(r0);
    free(r0b);
    free(company_now);
    free(company_before);
    PQfinish(c);
    tsim_stop(&s);
}

static void uninstall_stops_a_location(void)
{
    tsim s;
    const char *args[] = {"--locations", "3", "--seed-records", "2", "--burst", "0", NULL};
    TEST_REQUIRE(tsim_start(&s, args) == 0);
    char dir[512], cfg[700], ci[512], log[700], q[600], body[300];
    snprintf(dir, sizeof dir, "%s/agency-uninst-XXXXXX", test_tmpdir());
    TEST_REQUIRE(mkdtemp(dir) != NULL);
    snprintf(log, sizeof log, "%s/engine.log", dir);
    PGconn *c = tpg_fresh_db("agency_oauth2", ci, sizeof ci);
    TEST_REQUIRE(c != NULL);
    TEST_REQUIRE(write_company_refresh(&s, dir));
    TEST_REQUIRE(write_config(&s, ci, dir, "\"installed\"", "discovery_interval = \"1s\"\n", NULL,
                              cfg, sizeof cfg));
    /* location 2 has not installed the app yet */
    snprintf(body, sizeof body, "{\"locationId\":\"%s\",\"installed\":false}", s.loc[2].id);
    TEST_EQ_INT(tsim_admin(&s, "PUT", "/_admin/agency/installed", body, NULL), 200);
    const char *run[] = {"run", NULL};
    pid_t pid = tpull_spawn(cfg, run, log);
    TEST_REQUIRE(pid > 0);
    TEST_CHECK(tpull_wait_scalar(c, "SELECT count(*) FROM ghl.pet", "4", 30000));
    TEST_EQ_INT(count_in(log, "installed=2 added=2"), 1);
    /* it installs the app: it starts syncing (new_install_joins checks the rest) */
    snprintf(body, sizeof body, "{\"locationId\":\"%s\",\"installed\":true}", s.loc[2].id);
    TEST_EQ_INT(tsim_admin(&s, "PUT", "/_admin/agency/installed", body, NULL), 200);
    char newloc[200];
    snprintf(newloc, sizeof newloc, "agency.new_location location=%s", s.loc[2].id);
    long t1 = tpull_now_ms();
    while (count_in(log, newloc) < 1 && tpull_now_ms() - t1 < 10000)
        usleep(100000);
    TEST_CHECK(count_in(log, newloc) >= 1);

    const char *gone = s.loc[1].id, *kept = s.loc[0].id;
    snprintf(body, sizeof body, "{\"locationId\":\"%s\",\"installed\":false}", gone);
    TEST_EQ_INT(tsim_admin(&s, "PUT", "/_admin/agency/installed", body, NULL), 200);
    long t0 = tpull_now_ms();
    while (count_in(log, "agency.uninstalled") < 1 && tpull_now_ms() - t0 < 10000)
        usleep(100000);
    TEST_EQ_INT(count_in(log, "agency.uninstalled"), 1);
    /* a remote create in each: only the installed one is pulled */
    const char *where[2] = {gone, kept};
    for (int i = 0; i < 2; i++) {
        snprintf(q, sizeof q, "/_admin/records/custom_objects.pet?locationId=%s", where[i]);
        TEST_EQ_INT(
            tsim_admin(&s, "POST", q, "{\"properties\":{\"name\":\"after-uninstall\"}}", NULL),
            201);
    }
    snprintf(q, sizeof q,
             "SELECT count(*) FROM ghl.pet WHERE location_id = '%s' AND name = 'after-uninstall'",
             kept);
    TEST_CHECK(tpull_wait_scalar(c, q, "1", 15000));
    usleep(1500000); /* more than one poll interval for the stopped one */
    snprintf(q, sizeof q, "SELECT count(*) FROM ghl.pet WHERE location_id = '%s'", gone);
    char *n = tpg_scalar(c, q);
    TEST_EQ_STR(n ? n : "(null)", "2"); /* its rows kept, nothing new */
    free(n);
    kill(pid, SIGTERM);
    TEST_EQ_INT(tpull_wait(pid, 15000), 0);
    PQfinish(c);
    tsim_stop(&s);
}

/* byEndpoint[route].total of the simulator's counters */
static long route_total(const tsim *s, const char *route)
{
    char *body = NULL;
    tsim_admin(s, "GET", "/_admin/counters", NULL, &body);
    cJSON *j = cJSON_Parse(body ? body : "");
    free(body);
    const cJSON *e =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "byEndpoint"), route);
    long n = (long)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(e, "total"));
    cJSON_Delete(j);
    return n < 0 ? 0 : n;
}

static bool compare_eventually(const tsim *s, PGconn *c, int timeout_ms)
{
    for (long end = tpull_now_ms() + timeout_ms;; usleep(300 * 1000)) {
        bool last = tpull_now_ms() >= end;
        if (tpull_compare(s, c, "ghl") == 0)
            return true;
        if (last)
            return false;
    }
}

/* A location installed while `nproc` run processes (sharing it through leases) run: it joins
 * without a restart, and exactly one process serves it. */
static void new_install_joins(int nproc)
{
    tsim s;
    const char *args[] = {"--locations", "3", "--seed-records", "2", "--burst", "0", NULL};
    TEST_REQUIRE(tsim_start(&s, args) == 0);
    char dir[512], cfg[700], ci[512], log[2][700], q[600], body[300], name[64];
    snprintf(dir, sizeof dir, "%s/agency-new-XXXXXX", test_tmpdir());
    TEST_REQUIRE(mkdtemp(dir) != NULL);
    snprintf(name, sizeof name, "agency_oauth_new%d", nproc);
    PGconn *c = tpg_fresh_db(name, ci, sizeof ci);
    TEST_REQUIRE(c != NULL);
    TEST_REQUIRE(write_company_refresh(&s, dir));
    /* every object (the comparison covers them all) */
    TEST_REQUIRE(write_config_objects(&s, ci, dir, "\"installed\"", "[\"*\"]",
                                      "discovery_interval = \"1s\"\n", NULL, cfg, sizeof cfg));
    const char *fresh = s.loc[2].id, *old = s.loc[0].id;
    snprintf(body, sizeof body, "{\"locationId\":\"%s\",\"installed\":false}", fresh);
    TEST_EQ_INT(tsim_admin(&s, "PUT", "/_admin/agency/installed", body, NULL), 200);
    const char *run[] = {"run", NULL};
    pid_t pid[2] = {0, 0};
    for (int i = 0; i < nproc; i++) {
        snprintf(log[i], sizeof log[i], "%s/engine%d.log", dir, i);
        pid[i] = tpull_spawn(cfg, run, log[i]);
        TEST_REQUIRE(pid[i] > 0);
        /* one after the other, so that the first serves both locations before the second
         * joins (concurrent_start covers processes started at the same instant) */
        TEST_CHECK(tpull_wait_scalar(c, "SELECT count(*) FROM ghl.pet", "4", 30000));
    }
    if (nproc > 1) /* both serve (2 locations: one each) */
        TEST_CHECK(tpull_wait_scalar(c,
                                     "SELECT count(DISTINCT holder) FROM ghlsync.leases "
                                     "WHERE NOT released",
                                     "2", 15000));
    bool bad = false; /* the engines' logs are printed when set */

    /* one process: its first attempt fails (every try of its first call answers 503), and the
     * next re-check adds it */
    if (nproc == 1) {
        snprintf(body, sizeof body,
                 "{\"kind\":\"error\",\"status\":503,\"locationId\":\"%s\",\"count\":5}", fresh);
        TEST_EQ_INT(tsim_admin(&s, "POST", "/_admin/faults", body, NULL), 201);
    }
    /* installed while running; a remote change elsewhere at the same time */
    snprintf(body, sizeof body, "{\"locationId\":\"%s\",\"installed\":true}", fresh);
    TEST_EQ_INT(tsim_admin(&s, "PUT", "/_admin/agency/installed", body, NULL), 200);
    snprintf(q, sizeof q, "/_admin/records/custom_objects.pet?locationId=%s", old);
    TEST_EQ_INT(tsim_admin(&s, "POST", q, "{\"properties\":{\"name\":\"meanwhile\"}}", NULL), 201);
    char started[300];
    snprintf(started, sizeof started, "agency.new_location location=%s", fresh);
    long t0 = tpull_now_ms();
    for (int i = 0; i < nproc; i++) {
        while (count_in(log[i], started) < 1 && tpull_now_ms() - t0 < 25000)
            usleep(100000);
        bad |= !TEST_CHECK(count_in(log[i], started) == 1);
    }
    bad |= !TEST_CHECK(count_in(log[0], "started syncing") == 1);
    if (nproc == 1) {
        char failed[300];
        snprintf(failed, sizeof failed, "agency.new_location_failed location=%s", fresh);
        bad |= !TEST_CHECK(count_in(log[0], failed) >= 1);
    }
    snprintf(q, sizeof q, "SELECT count(*) FROM ghl.pet WHERE location_id = '%s'", fresh);
    bad |=
        !TEST_CHECK_MSG(tpull_wait_scalar(c, q, "2", 15000), "the new location's records mirrored");
    snprintf(q, sizeof q,
             "SELECT count(*) FROM ghl.pet WHERE location_id = '%s' AND name = 'meanwhile'", old);
    TEST_CHECK_MSG(tpull_wait_scalar(c, q, "1", 15000), "the others kept syncing");
    bad |= !TEST_CHECK_MSG(compare_eventually(&s, c, 15000), "the mirror equals the simulator");

    /* exactly one process holds it */
    snprintf(q, sizeof q,
             "SELECT count(*) FROM ghlsync.leases WHERE location_id = '%s' AND NOT released",
             fresh);
    TEST_CHECK(tpull_wait_scalar(c, q, "1", 10000));

    /* a local insert in it: pushed, once */
    long posts = route_total(&s, "POST /objects/{schemaKey}/records");
    snprintf(q, sizeof q, "INSERT INTO ghl.pet (location_id, name) VALUES ('%s', 'local-new')",
             fresh);
    TEST_REQUIRE(tpg_exec(c, q));
    TEST_CHECK_MSG(tpull_wait_scalar(c, "SELECT count(*) FROM ghlsync.changes WHERE state = 'done'",
                                     "1", 15000),
                   "the insert is pushed");
    snprintf(q, sizeof q,
             "SELECT count(*) FROM ghl.pet WHERE name = 'local-new' AND id IS NOT NULL");
    TEST_CHECK(tpull_wait_scalar(c, q, "1", 10000));
    usleep(1500000); /* a sweep or two more: nothing is sent again */
    TEST_EQ_INT(route_total(&s, "POST /objects/{schemaKey}/records") - posts, 1);
    bad |= !TEST_CHECK_MSG(compare_eventually(&s, c, 15000), "the mirror equals the simulator");
    TEST_EQ_INT(n401(&s), 0);
    for (int i = 0; i < nproc; i++) {
        bad |= !TEST_CHECK(waitpid(pid[i], NULL, WNOHANG) == 0); /* still running */
        kill(pid[i], SIGTERM);
        TEST_EQ_INT(tpull_wait(pid[i], 15000), 0);
    }
    for (int i = 0; i < nproc && bad; i++)
        print_log(log[i]);
    PQfinish(c);
    tsim_stop(&s);
}

/* An agency whose app is installed in no location yet: `run` starts and waits (a one-shot
 * refuses: nothing to do), and the first install starts syncing, pushes included. */
static void starts_with_none_installed(void)
{
    tsim s;
    const char *args[] = {"--locations", "2", "--seed-records", "2", "--burst", "0", NULL};
    TEST_REQUIRE(tsim_start(&s, args) == 0);
    char dir[512], cfg[700], ci[512], log[700], blog[700], q[600], body[300];
    snprintf(dir, sizeof dir, "%s/agency-none-XXXXXX", test_tmpdir());
    TEST_REQUIRE(mkdtemp(dir) != NULL);
    PGconn *c = tpg_fresh_db("agency_oauth_none", ci, sizeof ci);
    TEST_REQUIRE(c != NULL);
    TEST_REQUIRE(write_company_refresh(&s, dir));
    TEST_REQUIRE(write_config_objects(&s, ci, dir, "\"installed\"", "[\"*\"]",
                                      "discovery_interval = \"1s\"\n", NULL, cfg, sizeof cfg));
    for (int i = 0; i < 2; i++) {
        snprintf(body, sizeof body, "{\"locationId\":\"%s\",\"installed\":false}", s.loc[i].id);
        TEST_EQ_INT(tsim_admin(&s, "PUT", "/_admin/agency/installed", body, NULL), 200);
    }
    /* a one-shot has nothing to do: a configuration error, said as such */
    snprintf(blog, sizeof blog, "%s/backfill.log", dir);
    const char *bf[] = {"backfill", NULL};
    TEST_EQ_INT(tpull_run(cfg, bf, blog, 30000), 2);
    TEST_CHECK(count_in(blog, "none installed") >= 1);

    snprintf(log, sizeof log, "%s/engine.log", dir);
    const char *run[] = {"run", NULL};
    pid_t pid = tpull_spawn(cfg, run, log);
    TEST_REQUIRE(pid > 0);
    long t0 = tpull_now_ms();
    while (count_in(log, "agency.none_installed") < 1 && tpull_now_ms() - t0 < 15000)
        usleep(100000);
    bool bad = !TEST_CHECK(count_in(log, "agency.none_installed") == 1);
    usleep(1500000); /* a re-check or two with nothing installed: still running */
    bad |= !TEST_CHECK(waitpid(pid, NULL, WNOHANG) == 0);

    const char *fresh = s.loc[1].id;
    snprintf(body, sizeof body, "{\"locationId\":\"%s\",\"installed\":true}", fresh);
    TEST_EQ_INT(tsim_admin(&s, "PUT", "/_admin/agency/installed", body, NULL), 200);
    snprintf(q, sizeof q, "SELECT count(*) FROM ghl.pet WHERE location_id = '%s'", fresh);
    bad |= !TEST_CHECK_MSG(tpull_wait_scalar(c, q, "2", 30000),
                           "the first install's records mirrored");
    bad |= !TEST_CHECK(count_in(log, "started syncing") == 1);
    long posts = route_total(&s, "POST /objects/{schemaKey}/records");
    snprintf(q, sizeof q, "INSERT INTO ghl.pet (location_id, name) VALUES ('%s', 'first-local')",
             fresh);
    TEST_REQUIRE(tpg_exec(c, q));
    bad |= !TEST_CHECK_MSG(
        tpull_wait_scalar(c,
                          "SELECT count(*) FROM ghl.pet WHERE name = 'first-local' AND id IS "
                          "NOT NULL",
                          "1", 15000),
        "the insert is pushed");
    usleep(1500000);
    TEST_EQ_INT(route_total(&s, "POST /objects/{schemaKey}/records") - posts, 1);
    snprintf(q, sizeof q, "SELECT count(*) FROM ghl.pet WHERE location_id <> '%s'", fresh);
    TEST_CHECK_MSG(tpull_wait_scalar(c, q, "0", 1000), "the location still uninstalled stays out");
    TEST_EQ_INT(n401(&s), 0);
    bad |= !TEST_CHECK(waitpid(pid, NULL, WNOHANG) == 0);
    kill(pid, SIGTERM);
    TEST_EQ_INT(tpull_wait(pid, 15000), 0);
    if (bad)
        print_log(log);
    PQfinish(c);
    tsim_stop(&s);
}

static void new_install_joins_one(void)
{
    new_install_joins(1);
}

static void new_install_joins_leases(void)
{
    new_install_joins(2);
}

/* A number field of GET /_admin/agency (-1 when missing). */
static long agency_number(const tsim *s, const char *key)
{
    char *body = NULL;
    tsim_admin(s, "GET", "/_admin/agency", NULL, &body);
    cJSON *j = cJSON_Parse(body ? body : "");
    free(body);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    long n = cJSON_IsNumber(v) ? (long)v->valuedouble : -1;
    cJSON_Delete(j);
    return n;
}

#define NPROC_MAX 3

/* `nproc` run processes started at the same instant with one [agency] configuration and
 * database, each wanting to refresh the company token: from the refresh token file alone (no
 * stored access token), or (`stored_expired`) from a stored pair whose access token has
 * expired, as every process sees it once a day. The company refresh token rotates strictly
 * (a spent one answers invalid_grant), so at most one refresh per pair succeeds; the others
 * adopt the stored pair. All keep running, the locations are split through leases, a local
 * insert in each is pushed exactly once, and the company is refreshed at most once per
 * process. */
static void concurrent_start(int nproc, bool stored_expired)
{
    tsim s;
    const char *args[] = {"--locations", "6", "--seed-records", "2", "--burst", "0", NULL};
    TEST_REQUIRE(tsim_start(&s, args) == 0);
    char dir[512], cfg[700], ci[512], log[NPROC_MAX][700], q[600], rtf[700], name[64];
    snprintf(dir, sizeof dir, "%s/agency-conc-XXXXXX", test_tmpdir());
    TEST_REQUIRE(mkdtemp(dir) != NULL);
    snprintf(rtf, sizeof rtf, "%s/company_refresh", dir);
    snprintf(name, sizeof name, "agency_oauth_conc%d%s", nproc, stored_expired ? "x" : "");
    PGconn *c = tpg_fresh_db(name, ci, sizeof ci);
    TEST_REQUIRE(c != NULL);
    TEST_REQUIRE(write_company_refresh(&s, dir));
    /* every object (the comparison covers them all) */
    TEST_REQUIRE(
        write_config_objects(&s, ci, dir, "\"installed\"", "[\"*\"]", NULL, NULL, cfg, sizeof cfg));
    long refreshes0 = 0;
    if (stored_expired) {
        /* a first backfill stores the company pair; then its access token expires */
        snprintf(log[0], sizeof log[0], "%s/backfill.log", dir);
        const char *bf[] = {"backfill", NULL};
        TEST_REQUIRE(run_logged(cfg, bf, log[0]) == 0);
        TEST_REQUIRE(tpg_exec(c, "UPDATE ghlsync.oauth_tokens SET expires_at = now() - "
                                 "interval '1 minute' WHERE location_id LIKE 'agency:%'"));
        refreshes0 = agency_number(&s, "refreshes");
    }
    const char *run[] = {"run", NULL};
    pid_t pid[NPROC_MAX] = {0};
    for (int i = 0; i < nproc; i++) /* at the same instant: no wait in between */
        snprintf(log[i], sizeof log[i], "%s/engine%d.log", dir, i);
    for (int i = 0; i < nproc; i++) {
        pid[i] = tpull_spawn(cfg, run, log[i]);
        TEST_REQUIRE(pid[i] > 0);
    }
    bool bad = false; /* the engines' logs are printed when set */
    bad |= !TEST_CHECK_MSG(tpull_wait_scalar(c, "SELECT count(*) FROM ghl.pet", "12", 30000),
                           "every location mirrored");
    char want[16];
    snprintf(want, sizeof want, "%d", nproc);
    bad |= !TEST_CHECK_MSG(tpull_wait_scalar(c,
                                             "SELECT count(DISTINCT holder) FROM ghlsync.leases "
                                             "WHERE NOT released",
                                             want, 20000),
                           "every process holds locations");
    bad |= !TEST_CHECK(tpull_wait_scalar(c,
                                         "SELECT count(DISTINCT location_id) FROM ghlsync.leases "
                                         "WHERE NOT released AND location_id NOT LIKE 'agency:%'",
                                         "6", 10000));
    char *n = tpg_scalar(c, "SELECT count(*) FROM (SELECT location_id FROM ghlsync.leases WHERE "
                            "NOT released GROUP BY location_id HAVING count(*) > 1) d");
    bad |= !TEST_CHECK_MSG(n && !strcmp(n, "0"), "a location held by one process only");
    free(n);

    /* the company: refreshed at least once (it was stale) and at most once per process, and
     * the stored pair, the file and the simulator agree */
    long refreshes = agency_number(&s, "refreshes") - refreshes0;
    printf("# %d processes: %ld company refreshes, %ld refused\n", nproc, refreshes,
           agency_number(&s, "refused"));
    bad |= !TEST_CHECK(refreshes >= 1 && refreshes <= nproc);
    char *now = agency_field(&s, "refresh"), *file = slurp(rtf);
    n = tpg_scalar(c, "SELECT refresh_token FROM ghlsync.oauth_tokens WHERE location_id LIKE "
                      "'agency:%'");
    bad |= !TEST_CHECK_MSG(now && n && !strcmp(n, now), "the stored company pair is the live one");
    bad |= !TEST_CHECK_MSG(now && file && !strcmp(file, now), "the file follows it");
    free(n);
    free(file);
    int failed = 0;
    for (int i = 0; i < nproc; i++) {
        failed += count_in(log[i], "oauth.refresh_failed") + count_in(log[i], "oauth.mint_failed");
        bad |= !TEST_CHECK_MSG(now && count_in(log[i], now) == 0, "no company token in a log");
    }
    bad |= !TEST_CHECK(failed == 0);
    free(now);

    /* a local insert in every location: each pushed once, by the one process that holds it */
    long posts = route_total(&s, "POST /objects/{schemaKey}/records");
    for (int i = 0; i < 6; i++) {
        snprintf(q, sizeof q, "INSERT INTO ghl.pet (location_id, name) VALUES ('%s', 'local-%d')",
                 s.loc[i].id, i);
        TEST_REQUIRE(tpg_exec(c, q));
    }
    bad |= !TEST_CHECK_MSG(
        tpull_wait_scalar(c, "SELECT count(*) FROM ghlsync.changes WHERE state = 'done'", "6",
                          20000),
        "the inserts are pushed");
    usleep(1500000); /* a sweep or two more: nothing is sent again */
    bad |= !TEST_CHECK(route_total(&s, "POST /objects/{schemaKey}/records") - posts == 6);
    bad |= !TEST_CHECK_MSG(compare_eventually(&s, c, 15000), "the mirror equals the simulator");
    TEST_EQ_INT(n401(&s), 0);
    for (int i = 0; i < nproc; i++) {
        bad |= !TEST_CHECK_MSG(waitpid(pid[i], NULL, WNOHANG) == 0, "still running");
        kill(pid[i], SIGTERM);
        TEST_EQ_INT(tpull_wait(pid[i], 15000), 0);
    }
    for (int i = 0; i < nproc && bad; i++)
        print_log(log[i]);
    PQfinish(c);
    tsim_stop(&s);
}

static void concurrent_start_from_file(void)
{
    concurrent_start(3, false);
}

static void concurrent_start_expired(void)
{
    concurrent_start(3, true);
}

/* The simulator's switch mintRefresh false: POST /oauth/locationToken answers an access token
 * only (decisions.md, agency OAuth). The row is saved with refresh_token NULL, and every expiry
 * (a lifetime of 33 s leaves 3 s before oauth.c's 30 s margin) or 401 mints again from the
 * company token: a `run` keeps mirroring remote creates across several expiries, no refresh is
 * ever sent for a location (POST /oauth/token only carries the company's), a restart starts
 * from the stored rows, and a plain OAuth location with such a row is refused by name. */
static void mint_without_refresh(void)
{
    tsim s;
    const char *args[] = {"--locations", "2", "--seed-records", "2", "--burst", "0", "--token-ttl",
                          "33",          NULL};
    TEST_REQUIRE(tsim_start(&s, args) == 0);
    TEST_EQ_INT(tsim_admin(&s, "PUT", "/_admin/switches", "{\"mintRefresh\":false}", NULL), 200);
    char dir[512], cfg[700], ci[512], log[700], q[600], name[64];
    snprintf(dir, sizeof dir, "%s/agency-norefresh-XXXXXX", test_tmpdir());
    TEST_REQUIRE(mkdtemp(dir) != NULL);
    snprintf(log, sizeof log, "%s/engine.log", dir);
    PGconn *c = tpg_fresh_db("agency_oauth_norefresh", ci, sizeof ci);
    TEST_REQUIRE(c != NULL);
    TEST_REQUIRE(write_company_refresh(&s, dir));
    TEST_REQUIRE(write_config(&s, ci, dir, "\"installed\"", NULL, NULL, cfg, sizeof cfg));
    const char *run[] = {"run", NULL};
    pid_t pid = tpull_spawn(cfg, run, log);
    TEST_REQUIRE(pid > 0);
    bool bad = false; /* the engine's log is printed when set */
    bad |= !TEST_CHECK(tpull_wait_scalar(c, "SELECT count(*) FROM ghl.pet", "4", 30000));
    bad |= !TEST_CHECK_MSG(tpull_wait_scalar(c,
                                             "SELECT count(*) FROM ghlsync.oauth_tokens WHERE "
                                             "location_id NOT LIKE 'agency:%' AND access_token IS "
                                             "NOT NULL AND refresh_token IS NULL",
                                             "2", 10000),
                           "the minted access tokens saved without a refresh token");
    /* four rounds: wait for both locations to mint again (their access tokens expired), then
     * a remote create in each must arrive; the last round forces a 401 instead of waiting */
    for (int round = 0; round < 4; round++) {
        long m0 = agency_number(&s, "mints");
        if (round == 3) {
            snprintf(q, sizeof q, "/_admin/tokens/expire?locationId=%s", s.loc[0].id);
            TEST_EQ_INT(tsim_admin(&s, "POST", q, NULL, NULL), 200);
        }
        long t0 = tpull_now_ms();
        long want = round == 3 ? 1 : 2;
        while (agency_number(&s, "mints") - m0 < want && tpull_now_ms() - t0 < 15000)
            usleep(100000);
        bad |= !TEST_CHECK_MSG(agency_number(&s, "mints") - m0 >= want, "round %d: minted again",
                               round);
        for (int i = 0; i < 2; i++) {
            snprintf(q, sizeof q, "/_admin/records/custom_objects.pet?locationId=%s", s.loc[i].id);
            snprintf(name, sizeof name, "{\"properties\":{\"name\":\"after-%d\"}}", round);
            TEST_EQ_INT(tsim_admin(&s, "POST", q, name, NULL), 201);
        }
        snprintf(q, sizeof q, "SELECT count(*) FROM ghl.pet WHERE name = 'after-%d'", round);
        bad |= !TEST_CHECK_MSG(tpull_wait_scalar(c, q, "2", 15000),
                               "round %d: remote creates mirrored", round);
    }
    /* no location refresh was ever sent: every POST /oauth/token is the company's */
    long tok = route_total(&s, "POST /oauth/token"), comp = agency_number(&s, "refreshes"),
         refused = agency_number(&s, "refused");
    printf("# %ld mints, %ld company refreshes, %ld POST /oauth/token\n",
           agency_number(&s, "mints"), comp, tok);
    bad |= !TEST_CHECK_MSG(tok == comp + refused, "POST /oauth/token %ld = company %ld + %ld", tok,
                           comp, refused);
    bad |= !TEST_CHECK(count_in(log, "oauth.refresh_failed") + count_in(log, "oauth.mint_failed") ==
                       0);
    bad |= !TEST_CHECK(count_in(log, "oauth.minted") >= 8);
    bad |= !TEST_CHECK_MSG(waitpid(pid, NULL, WNOHANG) == 0, "still running");
    kill(pid, SIGTERM);
    TEST_EQ_INT(tpull_wait(pid, 15000), 0);
    /* no token in the log: the live ones (each location's, the company's) */
    PGresult *r = PQexec(c, "SELECT access_token FROM ghlsync.oauth_tokens");
    TEST_REQUIRE(PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 3);
    for (int i = 0; i < PQntuples(r); i++)
        bad |= !TEST_CHECK_MSG(count_in(log, PQgetvalue(r, i, 0)) == 0, "no token in the log");
    PQclear(r);
    char *ct = agency_field(&s, "refresh");
    bad |= !TEST_CHECK_MSG(ct && count_in(log, ct) == 0, "no company refresh token in the log");
    free(ct);
    if (bad)
        print_log(log);

    /* a restart from the stored rows (refresh_token NULL): one still valid is used, an expired
     * one is minted again */
    snprintf(q, sizeof q,
             "UPDATE ghlsync.oauth_tokens SET expires_at = now() - interval '1 minute' "
             "WHERE location_id = '%s'",
             s.loc[1].id);
    TEST_REQUIRE(tpg_exec(c, q));
    TEST_REQUIRE(tpg_exec(c, "TRUNCATE ghlsync.pull_state"));
    TEST_REQUIRE(truncate(log, 0) == 0);
    long m0 = agency_number(&s, "mints");
    const char *bf[] = {"backfill", NULL};
    TEST_EQ_INT(run_logged(cfg, bf, log), 0);
    TEST_CHECK(agency_number(&s, "mints") - m0 >= 1);
    TEST_EQ_INT(count_in(log, "oauth.refresh_failed") + count_in(log, "oauth.mint_failed"), 0);
    char *n = tpg_scalar(c, "SELECT count(*) FROM ghl.pet");
    TEST_EQ_STR(n ? n : "(null)", "12");
    free(n);
    TEST_EQ_INT(route_total(&s, "POST /oauth/token"),
                agency_number(&s, "refreshes") + agency_number(&s, "refused"));

    /* a plain OAuth location whose row has no refresh token: refused at start, by name */
    char rtf[700], tail[2000], lcfg[700];
    snprintf(rtf, sizeof rtf, "%s/loc.refresh", dir);
    FILE *f = fopen(rtf, "w");
    TEST_REQUIRE(f);
    fprintf(f, "%s\n", s.loc[0].refresh);
    fclose(f);
    chmod(rtf, 0600);
    snprintf(lcfg, sizeof lcfg, "%s/plain.toml", dir);
    f = fopen(lcfg, "w");
    TEST_REQUIRE(f);
    snprintf(tail, sizeof tail,
             "[api]\nbase_url = \"%s\"\ninsecure_http = true\n\n[database]\nurl = \"%s\"\n\n"
             "[[locations]]\nid = \"%s\"\nclient_id_env = \"GHLT_CLIENT_ID\"\n"
             "client_secret_env = \"GHLT_CLIENT_SECRET\"\nrefresh_token_file = \"loc.refresh\"\n"
             "objects = [\"custom_objects.pet\"]\n",
             s.base_url, ci, s.loc[0].id);
    fputs(tail, f);
    fclose(f);
    TEST_REQUIRE(truncate(log, 0) == 0);
    TEST_CHECK(tpull_run(lcfg, bf, log, 30000) != 0);
    char want[300];
    snprintf(want, sizeof want, "location %s: its row in ghlsync.oauth_tokens has no refresh token",
             s.loc[0].id);
    TEST_CHECK_MSG(count_in(log, want) >= 1, "the error names the location");
    if (count_in(log, want) < 1)
        print_log(log);
    PQfinish(c);
    tsim_stop(&s);
}

/* An explicit list beside a [[locations]] table with its own static token: only the listed
 * locations are minted, without any discovery call. */
static void explicit_list(void)
{
    tsim s;
    const char *args[] = {"--locations", "3", "--seed-records", "3", "--burst", "0", NULL};
    TEST_REQUIRE(tsim_start(&s, args) == 0);
    char dir[512], cfg[700], ci[512], log[700], list[300], tail[400];
    snprintf(dir, sizeof dir, "%s/agency-list-XXXXXX", test_tmpdir());
    TEST_REQUIRE(mkdtemp(dir) != NULL);
    snprintf(log, sizeof log, "%s/engine.log", dir);
    PGconn *c = tpg_fresh_db("agency_oauth3", ci, sizeof ci);
    TEST_REQUIRE(c != NULL);
    TEST_REQUIRE(write_company_refresh(&s, dir));
    snprintf(list, sizeof list, "[\"%s\", \"%s\"]", s.loc[0].id, s.loc[2].id);
    setenv("GHLT_TOKEN1", s.loc[1].token, 1);
    snprintf(tail, sizeof tail,
             "[[locations]]\nid = \"%s\"\ntoken_env = \"GHLT_TOKEN1\"\nobjects = "
             "[\"custom_objects.pet\"]\n",
             s.loc[1].id);
    TEST_REQUIRE(write_config(&s, ci, dir, list, NULL, tail, cfg, sizeof cfg));
    const char *bf[] = {"backfill", NULL};
    TEST_EQ_INT(run_logged(cfg, bf, log), 0);
    char *n = tpg_scalar(c, "SELECT count(*) FROM ghl.pet");
    TEST_EQ_STR(n ? n : "(null)", "9");
    free(n);
    TEST_EQ_INT(count_in(log, "oauth.minted"), 2);
    TEST_EQ_INT(count_in(log, "agency.discovered"), 0);
    n = tpg_scalar(c, "SELECT count(*) FROM ghlsync.oauth_tokens WHERE location_id NOT LIKE "
                      "'agency:%'");
    TEST_EQ_STR(n ? n : "(null)", "2");
    free(n);
    TEST_EQ_INT(n401(&s), 0);
    PQfinish(c);
    tsim_stop(&s);
}

int main(void)
{
    if (!ready()) {
        test_skip("discovery_minting_rotation", "no PostgreSQL or binaries");
        test_skip("uninstall_stops_a_location", "no PostgreSQL or binaries");
        test_skip("explicit_list", "no PostgreSQL or binaries");
        test_skip("new_install_joins_one", "no PostgreSQL or binaries");
        test_skip("new_install_joins_leases", "no PostgreSQL or binaries");
        test_skip("concurrent_start_from_file", "no PostgreSQL or binaries");
        test_skip("concurrent_start_expired", "no PostgreSQL or binaries");
        test_skip("mint_without_refresh", "no PostgreSQL or binaries");
        return test_done();
    }
    TEST_RUN(discovery_minting_rotation);
    TEST_RUN(uninstall_stops_a_location);
    TEST_RUN(explicit_list);
    TEST_RUN(new_install_joins_one);
    TEST_RUN(new_install_joins_leases);
    TEST_RUN(concurrent_start_from_file);
    TEST_RUN(concurrent_start_expired);
    TEST_RUN(mint_without_refresh);
    TEST_RUN(starts_with_none_installed);
    return test_done();
}
