/* The refresh token file (sync.toml refresh_token_file) follows every rotation, so the
 * operator's copy survives a lost or restored database: the real binary against the simulator's
 * rotating OAuth (a used refresh token is revoked at once) and a private PostgreSQL.
 *  - a rotation rewrites the file (mode 0600, the simulator's current token), and a fresh
 *    database with the same configuration starts from it;
 *  - a database restored to an older pair than the file starts from the (newer) file;
 *  - when the start-up guess is wrong (the file looks older but holds the live token) the
 *    refused token is replaced by the other copy, once. */
#include "test.h"
#include "tpg.h"
#include "tpull.h"
#include "tsim.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

static bool ready(void)
{
    return tpg_available() && getenv("GHLSYNC_BIN") && getenv("HLSIM_BIN");
}

/* The refresh token the simulator accepts now for location 0 (malloc'd, NULL on error). */
static char *sim_refresh(const tsim *s)
{
    char *body = NULL;
    if (tsim_admin(s, "GET", "/_admin/locations", NULL, &body) != 200) {
        free(body);
        return NULL;
    }
    cJSON *j = cJSON_Parse(body);
    free(body);
    const cJSON *l0 = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "locations"), 0);
    const char *r = cJSON_GetStringValue(cJSON_GetObjectItem(l0, "refresh"));
    char *out = r ? strdup(r) : NULL;
    cJSON_Delete(j);
    return out;
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char buf[1024];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = 0;
    return strdup(buf);
}

/* DIR/NAME: a configuration for location 0 with OAuth and refresh_token_file = DIR/refresh
 * (written with `token` unless NULL). */
static bool write_config(const tsim *s, const char *conninfo, const char *dir, const char *name,
                         const char *token, char *cfg, size_t len, char *rtf, size_t rlen)
{
    snprintf(rtf, rlen, "%s/refresh", dir);
    if (token) {
        FILE *t = fopen(rtf, "w");
        if (!t)
            return false;
        fprintf(t, "%s\n", token);
        fclose(t);
        chmod(rtf, 0600);
    }
    snprintf(cfg, len, "%s/%s", dir, name);
    FILE *f = fopen(cfg, "w");
    if (!f)
        return false;
    fprintf(f,
            "[api]\nbase_url = \"%s\"\ninsecure_http = true\nrequest_timeout = \"10s\"\n\n"
            "[database]\nurl = \"%s\"\n\n[log]\nlevel = \"info\"\n\n"
            "[[locations]]\nid = \"%s\"\nclient_id_env = \"GHLT_CLIENT_ID\"\n"
            "client_secret_env = \"GHLT_CLIENT_SECRET\"\nrefresh_token_file = \"refresh\"\n"
            "objects = [\"custom_objects.pet\"]\n",
            s->base_url, conninfo, s->loc[0].id);
    fclose(f);
    return true;
}

static bool log_has(const char *path, const char *needle)
{
    char *t = NULL;
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    t = malloc((size_t)n + 1);
    size_t got = t ? fread(t, 1, (size_t)n, f) : 0;
    fclose(f);
    if (!t)
        return false;
    t[got] = 0;
    bool found = strstr(t, needle) != NULL;
    free(t);
    return found;
}

static void rotation_follows_the_file(void)
{
    tsim s;
    const char *args[] = {"--locations", "1", "--seed-records", "25", "--burst", "0", NULL};
    TEST_REQUIRE(tsim_start(&s, args) == 0);
    setenv("GHLT_CLIENT_ID", "hlsim-client", 1);
    setenv("GHLT_CLIENT_SECRET", "hlsim-secret", 1);
    char dir[512], cfg1[600], cfg2[600], rtf[600], ci1[512], ci2[512], log[700];
    snprintf(dir, sizeof dir, "%s/oauth-file-XXXXXX", test_tmpdir());
    TEST_REQUIRE(mkdtemp(dir) != NULL);
    snprintf(log, sizeof log, "%s/engine.log", dir);
    PGconn *c1 = tpg_fresh_db("oa_file1", ci1, sizeof ci1);
    TEST_REQUIRE(c1 != NULL);
    TEST_REQUIRE(write_config(&s, ci1, dir, "sync1.toml", s.loc[0].refresh, cfg1, sizeof cfg1, rtf,
                              sizeof rtf));
    const char *bf[] = {"backfill", NULL};

    /* 1. No access token yet: the first call refreshes, the pair rotates, the file follows. */
    TEST_EQ_INT(tpull_run(cfg1, bf, log, 60000), 0);
    char *now = sim_refresh(&s), *file = read_file(rtf);
    TEST_REQUIRE(now && file);
    TEST_CHECK_MSG(strcmp(now, s.loc[0].refresh) != 0, "the refresh token rotated");
    TEST_EQ_STR(file, now);
    struct stat st;
    TEST_CHECK(stat(rtf, &st) == 0 && (st.st_mode & 0777) == 0600);
    char *n = tpg_scalar(c1, "SELECT count(*) FROM ghl.pet");
    TEST_EQ_STR(n ? n : "(null)", "25");
    free(n);
    free(now);
    free(file);

    /* 2. A fresh database with the same configuration: the file's token is the live one. */
    PGconn *c2 = tpg_fresh_db("oa_file2", ci2, sizeof ci2);
    TEST_REQUIRE(c2 != NULL);
    now = sim_refresh(&s);
    TEST_REQUIRE(now != NULL);
    TEST_REQUIRE(
        write_config(&s, ci2, dir, "sync2.toml", NULL, cfg2, sizeof cfg2, rtf, sizeof rtf));
    TEST_EQ_INT(tpull_run(cfg2, bf, log, 60000), 0);
    n = tpg_scalar(c2, "SELECT count(*) FROM ghl.pet");
    TEST_EQ_STR(n ? n : "(null)", "25");
    free(n);
    file = read_file(rtf);
    char *now2 = sim_refresh(&s);
    TEST_REQUIRE(file && now2);
    TEST_EQ_STR(file, now2);
    TEST_CHECK(strcmp(now, now2) != 0);
    free(now);
    free(file);

    /* 3. Database 1 is now "restored": its pair was revoked by run 2; the file is newer. Make
     * its row look fresh so that only the file's mtime decides. */
    TEST_REQUIRE(tpg_exec(c1, "UPDATE ghlsync.oauth_tokens SET updated_at = now() - "
                              "interval '1 hour', expires_at = now() - interval '1 minute'"));
    TEST_REQUIRE(tpg_exec(c1, "TRUNCATE ghlsync.pull_state"));
    TEST_EQ_INT(tpull_run(cfg1, bf, log, 60000), 0);
    file = read_file(rtf);
    char *now3 = sim_refresh(&s);
    TEST_REQUIRE(file && now3);
    TEST_EQ_STR(file, now3);
    char *dbtok = tpg_scalar(c1, "SELECT refresh_token FROM ghlsync.oauth_tokens");
    TEST_EQ_STR(dbtok ? dbtok : "(null)", now3);
    free(dbtok);
    free(file);
    free(now2);

    /* 4. The wrong guess: the database row says "newest" but holds a revoked token (run 3's
     * file and database agree, so revoke by hand), while the file holds the live one with an
     * old mtime. The refused database token is replaced by the file's, once. */
    TEST_REQUIRE(tpg_exec(c1, "UPDATE ghlsync.oauth_tokens SET refresh_token = 'revoked-token', "
                              "updated_at = now(), expires_at = now() - interval '1 minute'"));
    struct timeval old[2] = {{.tv_sec = 946684800}, {.tv_sec = 946684800}};
    TEST_REQUIRE(utimes(rtf, old) == 0);
    TEST_REQUIRE(tpg_exec(c1, "TRUNCATE ghlsync.pull_state"));
    TEST_EQ_INT(tpull_run(cfg1, bf, log, 60000), 0);
    TEST_CHECK_MSG(log_has(log, "oauth.try_other_token"), "the other copy was tried");
    file = read_file(rtf);
    char *now4 = sim_refresh(&s);
    TEST_REQUIRE(file && now4);
    TEST_EQ_STR(file, now4);
    TEST_CHECK(strcmp(now3, now4) != 0);
    TEST_CHECK_MSG(!log_has(log, now4), "no token in the log");
    free(file);
    free(now3);
    free(now4);
    PQfinish(c1);
    PQfinish(c2);
    tsim_stop(&s);
}

/* Two locations installed through different apps: each refreshes with its own credentials.
 * Location 1's app secret is wrong (and listed last, where the old code took the credentials
 * of every location from): location 0 must still sync. */
static void each_location_uses_its_own_app(void)
{
    tsim s;
    const char *args[] = {"--locations", "2", "--seed-records", "12", "--burst", "0", NULL};
    TEST_REQUIRE(tsim_start(&s, args) == 0);
    setenv("GHLT_CLIENT_ID", "hlsim-client", 1);
    setenv("GHLT_CLIENT_SECRET", "hlsim-secret", 1);
    setenv("GHLT_BAD_SECRET", "not-the-secret", 1);
    char dir[512], cfg[600], ci[512], log[700];
    snprintf(dir, sizeof dir, "%s/oauth-apps-XXXXXX", test_tmpdir());
    TEST_REQUIRE(mkdtemp(dir) != NULL);
    snprintf(log, sizeof log, "%s/engine.log", dir);
    PGconn *c = tpg_fresh_db("oa_apps", ci, sizeof ci);
    TEST_REQUIRE(c != NULL);
    for (int i = 0; i < 2; i++) {
        char rtf[600];
        snprintf(rtf, sizeof rtf, "%s/refresh%d", dir, i);
        FILE *t = fopen(rtf, "w");
        TEST_REQUIRE(t != NULL);
        fprintf(t, "%s\n", s.loc[i].refresh);
        fclose(t);
        chmod(rtf, 0600);
    }
    snprintf(cfg, sizeof cfg, "%s/sync.toml", dir);
    FILE *f = fopen(cfg, "w");
    TEST_REQUIRE(f != NULL);
    fprintf(f,
            "[api]\nbase_url = \"%s\"\ninsecure_http = true\nrequest_timeout = \"10s\"\n\n"
            "[database]\nurl = \"%s\"\n\n[pull]\noutage_timeout = \"0s\"\n\n"
            "[[locations]]\nid = \"%s\"\nclient_id_env = \"GHLT_CLIENT_ID\"\n"
            "client_secret_env = \"GHLT_CLIENT_SECRET\"\nrefresh_token_file = \"refresh0\"\n"
            "objects = [\"custom_objects.pet\"]\n\n"
            "[[locations]]\nid = \"%s\"\nclient_id_env = \"GHLT_CLIENT_ID\"\n"
            "client_secret_env = \"GHLT_BAD_SECRET\"\nrefresh_token_file = \"refresh1\"\n"
            "objects = [\"custom_objects.pet\"]\n",
            s.base_url, ci, s.loc[0].id, s.loc[1].id);
    fclose(f);
    const char *bf[] = {"backfill", NULL};
    int rc = tpull_run(cfg, bf, log, 60000);
    TEST_CHECK_MSG(rc != 0, "location 1 cannot refresh: the run is not a success (%d)", rc);
    char q[300];
    snprintf(q, sizeof q, "SELECT count(*) FROM ghl.pet WHERE location_id = '%s'", s.loc[0].id);
    char *n = tpg_scalar(c, q);
    TEST_EQ_STR(n ? n : "(null)", "12");
    free(n);
    TEST_CHECK_MSG(!log_has(log, "not-the-secret") && !log_has(log, "hlsim-secret"),
                   "no client secret in the log");
    PQfinish(c);
    tsim_stop(&s);
}

int main(void)
{
    if (!ready()) {
        test_skip("rotation_follows_the_file", "no PostgreSQL or binaries");
        test_skip("each_location_uses_its_own_app", "no PostgreSQL or binaries");
        return test_done();
    }
    TEST_RUN(rotation_follows_the_file);
    TEST_RUN(each_location_uses_its_own_app);
    return test_done();
}
