/* Integration tests for the ghlsync command line: runs the real binary ($GHLSYNC_BIN) and checks
 * exit codes, stdout and stderr; `check --online` against the private PostgreSQL and, when the
 * simulator binary ($HLSIM_BIN) exists, against the simulator. */
#include "config.h"
#include "test.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *bin;
static char dir[256];

struct result {
    int status; /* exit code, or 128 + signal */
    char *out;
    char *err;
};

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    char *s = calloc(1, (size_t)n + 1);
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n)
        s[0] = '\0';
    fclose(f);
    return s;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

/* Runs ghlsync with the given arguments (NULL-terminated) in directory `cwd`. */
static struct result run_in(const char *cwd, const char *arg, ...)
{
    const char *argv[32] = {bin};
    int argc = 1;
    va_list ap;
    va_start(ap, arg);
    for (const char *a = arg; a && argc < 31; a = va_arg(ap, const char *))
        argv[argc++] = a;
    va_end(ap);
    argv[argc] = NULL;
    char outp[512], errp[512];
    snprintf(outp, sizeof outp, "%s/.stdout", dir);
    snprintf(errp, sizeof errp, "%s/.stderr", dir);
    struct result r = {-1, NULL, NULL};
    pid_t pid = fork();
    if (pid == 0) {
        int o = open(outp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int e = open(errp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (o < 0 || e < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0 || chdir(cwd) != 0)
            _exit(99);
        execv(bin, (char *const *)argv);
        _exit(98);
    }
    int st = 0;
    if (pid > 0 && waitpid(pid, &st, 0) == pid)
        r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    r.out = read_file(outp);
    r.err = read_file(errp);
    if (!r.out)
        r.out = calloc(1, 1);
    if (!r.err)
        r.err = calloc(1, 1);
    return r;
}

#define run(...) run_in(dir, __VA_ARGS__)

static void result_free(struct result *r)
{
    free(r->out);
    free(r->err);
}

#define EXPECT_STATUS(r, want)                                                                     \
    TEST_CHECK_MSG((r).status == (want), "exit %d, want %d; stderr: %s", (r).status, (want),       \
                   (r).err)

static char *path_in(const char *name)
{
    static char p[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s", dir, name);
    return p[k];
}

static void help_everywhere(void)
{
    const char *cmds[] = {"init", "check",  "schema", "backfill", "run",
                          "push", "status", "errors", "version"};
    struct result r = run("--help", NULL);
    EXPECT_STATUS(r, 0);
    TEST_CHECK(!strncmp(r.out, "usage: ghlsync", 14));
    TEST_CHECK(strstr(r.out, "Exit status:") && strstr(r.out, "2  usage or configuration error"));
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        TEST_CHECK_MSG(strstr(r.out, cmds[i]) != NULL, "--help lacks %s", cmds[i]);
    result_free(&r);
    r = run("-h", NULL);
    EXPECT_STATUS(r, 0);
    result_free(&r);
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        char want[64];
        snprintf(want, sizeof want, "usage: ghlsync ");
        r = run(cmds[i], "--help", NULL);
        EXPECT_STATUS(r, 0);
        TEST_CHECK_MSG(!strncmp(r.out, want, strlen(want)) && strstr(r.out, cmds[i]) &&
                           strstr(r.out, "Examples:"),
                       "%s --help: %s", cmds[i], r.out);
        TEST_EQ_STR(r.err, "");
        char *first = strdup(r.out);
        result_free(&r);
        r = run("help", cmds[i], NULL);
        EXPECT_STATUS(r, 0);
        TEST_EQ_STR(r.out, first);
        free(first);
        result_free(&r);
    }
    r = run("schema", "plan", "-h", NULL);
    EXPECT_STATUS(r, 0);
    TEST_CHECK(strstr(r.out, "schema apply") != NULL);
    result_free(&r);
    r = run("--version", NULL);
    EXPECT_STATUS(r, 0);
    TEST_CHECK(!strncmp(r.out, "ghlsync ", 8));
    result_free(&r);
    r = run("version", NULL);
    EXPECT_STATUS(r, 0);
    TEST_CHECK(!strncmp(r.out, "ghlsync ", 8));
    result_free(&r);
}

static void usage_errors(void)
{
    struct result r = run(NULL);
    EXPECT_STATUS(r, 2);
    TEST_CHECK(strstr(r.err, "usage: ghlsync") != NULL);
    result_free(&r);
    r = run("chekc", NULL);
    EXPECT_STATUS(r, 2);
    TEST_CHECK(strstr(r.err, "'chekc' is not a command") && strstr(r.err, "did you mean 'check'"));
    result_free(&r);
    r = run("--frobnicate", "check", NULL);
    EXPECT_STATUS(r, 2);
    TEST_CHECK(strstr(r.err, "unknown option '--frobnicate'") != NULL);
    result_free(&r);
    r = run("--log-format", "xml", "check", NULL);
    EXPECT_STATUS(r, 2);
    TEST_CHECK(strstr(r.err, "expected text or json, got 'xml'") != NULL);
    result_free(&r);
    r = run("-c", NULL);
    EXPECT_STATUS(r, 2);
    TEST_CHECK(strstr(r.err, "option '-c' needs a value") != NULL);
    result_free(&r);
    r = run("check", "--bogus", NULL);
    EXPECT_STATUS(r, 2);
    TEST_CHECK(strstr(r.err, "unexpected argument '--bogus'") != NULL);
    result_free(&r);
}

static void init_writes_the_sample(void)
{
    char sub[512];
    snprintf(sub, sizeof sub, "%s/init", dir);
    TEST_REQUIRE(mkdir(sub, 0700) == 0 || errno == EEXIST);
    char target[600];
    snprintf(target, sizeof target, "%s/sync.toml", sub);
    unlink(target);
    struct result r = run_in(sub, "init", NULL);
    EXPECT_STATUS(r, 0);
    TEST_CHECK(strstr(r.out, "wrote sync.toml") != NULL);
    result_free(&r);
    char *written = read_file(target);
    TEST_REQUIRE(written != NULL);
    TEST_EQ_STR(written, cfg_sample_toml);
    const char *top = getenv("GHLSYNC_TOP");
    if (top) {
        char p[600];
        snprintf(p, sizeof p, "%s/sync.toml", top);
        char *repo = read_file(p);
        TEST_CHECK_MSG(repo && !strcmp(repo, written),
                       "sync.toml and sync/sample_config.c differ: run sync/gen_sample_config.sh");
        free(repo);
    }
    free(written);

    write_file(target, "mine\n");
    r = run_in(sub, "init", NULL);
    EXPECT_STATUS(r, 2);
    TEST_CHECK(strstr(r.err, "sync.toml already exists (use --force to overwrite it)") != NULL);
    result_free(&r);
    char *kept = read_file(target);
    TEST_EQ_STR(kept, "mine\n");
    free(kept);
    r = run_in(sub, "init", "--force", NULL);
    EXPECT_STATUS(r, 0);
    result_free(&r);
    kept = read_file(target);
    TEST_EQ_STR(kept, cfg_sample_toml);
    free(kept);

    r = run_in(sub, "-c", "other.toml", "init", NULL);
    EXPECT_STATUS(r, 0);
    TEST_CHECK(strstr(r.out, "ghlsync -c other.toml check") != NULL);
    result_free(&r);
    snprintf(target, sizeof target, "%s/other.toml", sub);
    kept = read_file(target);
    TEST_EQ_STR(kept, cfg_sample_toml);
    free(kept);

    /* The written file passes check once the token variable exists. */
    setenv("GHL_TOKEN", "pit-sample-token-0001", 1);
    r = run_in(sub, "check", NULL);
    EXPECT_STATUS(r, 0);
    TEST_CHECK(strstr(r.out, "sync.toml: ok") && strstr(r.out, "ve9EPM428h8vShlRW1KT"));
    TEST_CHECK(!strstr(r.out, "pit-sample-token-0001") && !strstr(r.err, "pit-sample-token-0001"));
    result_free(&r);
    unsetenv("GHL_TOKEN");
    r = run_in(sub, "check", NULL);
    EXPECT_STATUS(r, 2);
    /* The error points at the sample's token_env key, wherever the sample puts it. */
    int loc_line = 1;
    const char *hdr = strstr(cfg_sample_toml, "\ntoken_env = ");
    for (const char *p = cfg_sample_toml; hdr && p <= hdr; p++)
        loc_line += *p == '\n';
    /* (the loop counted the newline before the key: loc_line is the key's line) */
    char want[200];
    snprintf(want, sizeof want,
             "sync.toml:%d:1: [[locations]] #1 (ve9EPM428h8vShlRW1KT) token_env: environment "
             "variable GHL_TOKEN is not set\n",
             loc_line);
    TEST_CHECK_MSG(hdr && !strcmp(r.err, want), "stderr: %s (want %s)", r.err, want);
    result_free(&r);
}

static void check_reports_config_errors(void)
{
    setenv("GST_TOKEN", "tok-cli-test-1234", 1);
    write_file(path_in("bad.toml"), "[api]\nversion = \"2021-07-28\"\nbase_ulr = \"https://x\"\n");
    struct result r = run("-c", "bad.toml", "check", NULL);
    EXPECT_STATUS(r, 2);
    TEST_EQ_STR(r.err, "bad.toml:3:1: [api] base_ulr: unknown key (did you mean \"base_url\"?)\n");
    TEST_EQ_STR(r.out, "");
    result_free(&r);

    write_file(path_in("bad.toml"), "[[locations]]\nid = \"l\"\ntoken_env = \"GST_TOKEN\"\n"
                                    "[objects.\"custom_objects.pet\"]\ndirection = \"sideways\"\n");
    r = run("--config", "bad.toml", "check", NULL);
    EXPECT_STATUS(r, 2);
    TEST_EQ_STR(r.err, "bad.toml:5:1: [objects.\"custom_objects.pet\"] direction: expected one "
                       "of \"pull\", \"push\", \"both\", got \"sideways\"\n");
    result_free(&r);

    write_file(path_in("bad.toml"), "[api\n");
    r = run("--config=bad.toml", "check", NULL);
    EXPECT_STATUS(r, 2);
    TEST_CHECK_MSG(!strncmp(r.err, "bad.toml:1:", 11), "stderr: %s", r.err);
    result_free(&r);

    r = run("-c", "missing.toml", "check", NULL);
    EXPECT_STATUS(r, 2);
    TEST_CHECK_MSG(strstr(r.err, "missing.toml") && strstr(r.err, "No such file"), "stderr: %s",
                   r.err);
    result_free(&r);

    /* No -c, no ./sync.toml, no GHLSYNC_CONFIG: a hint says how to give one. */
    unsetenv("GHLSYNC_CONFIG");
    r = run("check", NULL);
    EXPECT_STATUS(r, 2);
    TEST_CHECK_MSG(strstr(r.err, "sync.toml") && strstr(r.err, "hint: ") &&
                       strstr(r.err, "ghlsync init"),
                   "stderr: %s", r.err);
    result_free(&r);
}

static void config_path_fallback(void)
{
    setenv("GST_TOKEN", "tok-cli-test-1234", 1);
    write_file(path_in("env.toml"),
               "[[locations]]\nid = \"from-env\"\ntoken_env = \"GST_TOKEN\"\n");
    setenv("GHLSYNC_CONFIG", path_in("env.toml"), 1);
    struct result r = run("check", NULL);
    EXPECT_STATUS(r, 0);
    TEST_CHECK_MSG(strstr(r.out, "from-env") != NULL, "stdout: %s", r.out);
    result_free(&r);
    /* ./sync.toml comes before $GHLSYNC_CONFIG. */
    write_file(path_in("sync.toml"),
               "[[locations]]\nid = \"from-cwd\"\ntoken_env = \"GST_TOKEN\"\n");
    r = run("check", NULL);
    EXPECT_STATUS(r, 0);
    TEST_CHECK_MSG(strstr(r.out, "from-cwd") != NULL, "stdout: %s", r.out);
    result_free(&r);
    /* And -c before both. */
    write_file(path_in("c.toml"), "[[locations]]\nid = \"from-c\"\ntoken_env = \"GST_TOKEN\"\n");
    r = run("-c", "c.toml", "check", NULL);
    EXPECT_STATUS(r, 0);
    TEST_CHECK_MSG(strstr(r.out, "from-c") != NULL, "stdout: %s", r.out);
    result_free(&r);
    unlink(path_in("sync.toml"));
    unsetenv("GHLSYNC_CONFIG");
}

static void token_in_file_warned_and_redacted(void)
{
    write_file(path_in("inline.toml"), "[log]\nformat = \"text\"\n[[locations]]\nid = \"l\"\n"
                                       "token = \"pit-inline-0123456789\"\n");
    struct result r = run("-c", "inline.toml", "check", NULL);
    EXPECT_STATUS(r, 0);
    TEST_CHECK_MSG(strstr(r.err,
                          " WARN  config.warning msg=\"inline.toml:5:1: [[locations]] #1 "
                          "(l) token: a secret written in the configuration file can leak") != NULL,
                   "stderr: %s", r.err);
    TEST_CHECK(strstr(r.out, "l: inline.toml") != NULL);
    TEST_CHECK(!strstr(r.out, "pit-inline-0123456789") && !strstr(r.err, "pit-inline-0123456789"));
    result_free(&r);

    /* JSON lines, chosen on the command line over [log] format. -q keeps warnings. */
    r = run("-q", "--log-format", "json", "-c", "inline.toml", "check", NULL);
    EXPECT_STATUS(r, 0);
    cJSON *j = cJSON_Parse(r.err);
    TEST_CHECK_MSG(j != NULL, "stderr is not one JSON line: %s", r.err);
    if (j) {
        TEST_EQ_STR(cJSON_GetObjectItem(j, "level")->valuestring, "warn");
        TEST_EQ_STR(cJSON_GetObjectItem(j, "event")->valuestring, "config.warning");
        cJSON_Delete(j);
    }
    result_free(&r);
    /* -qq: errors only, so the warning is not shown. */
    r = run("-qq", "-c", "inline.toml", "check", NULL);
    EXPECT_STATUS(r, 0);
    TEST_EQ_STR(r.err, "");
    result_free(&r);
}

static void check_online_database(void)
{
    setenv("GST_TOKEN", "tok-online-0123456789", 1);
    /* Database from the PG* environment of the private server; API at a closed port. */
    write_file(path_in("online.toml"), "[api]\nbase_url = \"http://127.0.0.1:9\"\n"
                                       "insecure_http = true\nconnect_timeout = \"2s\"\n"
                                       "[database]\nurl = \"dbname=postgres\"\n"
                                       "[[locations]]\nid = \"loc1\"\ntoken_env = \"GST_TOKEN\"\n");
    struct result r = run("-c", "online.toml", "check", "--online", NULL);
    EXPECT_STATUS(r, 1);
    TEST_CHECK_MSG(strstr(r.out, "database: ok (PostgreSQL ") != NULL, "stdout: %s", r.out);
    TEST_CHECK_MSG(strstr(r.out, "location loc1: api FAILED") != NULL, "stdout: %s", r.out);
    TEST_CHECK_MSG(strstr(r.err, "ghlsync check: location loc1: http://127.0.0.1:9/objects/"
                                 "?locationId=loc1: ") != NULL,
                   "stderr: %s", r.err);
    TEST_CHECK(!strstr(r.out, "tok-online-0123456789") && !strstr(r.err, "tok-online-0123456789"));
    result_free(&r);

    write_file(path_in("online.toml"), "[api]\nbase_url = \"http://127.0.0.1:9\"\n"
                                       "insecure_http = true\n"
                                       "[database]\nurl = \"dbname=no_such_database_here\"\n"
                                       "[[locations]]\nid = \"loc1\"\ntoken_env = \"GST_TOKEN\"\n");
    r = run("-c", "online.toml", "check", "--online", NULL);
    EXPECT_STATUS(r, 1);
    TEST_CHECK_MSG(strstr(r.out, "database: FAILED") != NULL, "stdout: %s", r.out);
    TEST_CHECK_MSG(strstr(r.err, "ghlsync check: database: cannot connect: ") &&
                       strstr(r.err, "no_such_database_here"),
                   "stderr: %s", r.err);
    result_free(&r);
}

/* The simulator prints "listening on 127.0.0.1:PORT", then "location <id> token <token> ..."
 * lines, then "admin-token <t>". */
static void check_online_api(void)
{
    const char *sim = getenv("HLSIM_BIN");
    int fds[2];
    TEST_REQUIRE(sim && access(sim, X_OK) == 0 && pipe(fds) == 0);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execl(sim, sim, (char *)NULL);
        _exit(98);
    }
    close(fds[1]);
    FILE *f = fdopen(fds[0], "r");
    char line[512], url[300] = "", loc[300] = "", tok[300] = "";
    while (f && fgets(line, sizeof line, f)) {
        char a[256], b[256];
        if (sscanf(line, "listening on %127s", a) == 1)
            snprintf(url, sizeof url, "http://%s", a);
        else if (!loc[0] && sscanf(line, "location %127s token %255s", a, b) == 2) {
            snprintf(loc, sizeof loc, "%s", a);
            snprintf(tok, sizeof tok, "%s", b);
        } else if (!strncmp(line, "admin-token ", 12))
            break;
    }
    TEST_CHECK_MSG(url[0] && loc[0] && tok[0], "simulator banner not understood");
    if (url[0] && loc[0] && tok[0]) {
        setenv("GST_SIM_TOKEN", tok, 1);
        char cfgtext[1024];
        snprintf(cfgtext, sizeof cfgtext,
                 "[api]\nbase_url = \"%s\"\ninsecure_http = true\n"
                 "[database]\nurl = \"dbname=postgres\"\n"
                 "[[locations]]\nid = \"%s\"\ntoken_env = \"GST_SIM_TOKEN\"\n",
                 url, loc);
        write_file(path_in("sim.toml"), cfgtext);
        struct result r = run("-c", "sim.toml", "check", "--online", NULL);
        EXPECT_STATUS(r, 0);
        char want[512];
        snprintf(want, sizeof want, "location %s: api ok (HTTP 200)", loc);
        TEST_CHECK_MSG(strstr(r.out, want) != NULL, "stdout: %s", r.out);
        result_free(&r);
        setenv("GST_SIM_TOKEN", "wrong-token-0000", 1);
        r = run("-c", "sim.toml", "check", "--online", NULL);
        EXPECT_STATUS(r, 1);
        snprintf(want, sizeof want, "ghlsync check: location %s: token rejected (HTTP 401)", loc);
        TEST_CHECK_MSG(strstr(r.err, want) != NULL, "stderr: %s", r.err);
        TEST_CHECK(!strstr(r.err, "wrong-token-0000") && !strstr(r.out, "wrong-token-0000"));
        result_free(&r);
    }
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    if (f)
        fclose(f);
}

int main(void)
{
    bin = getenv("GHLSYNC_BIN");
    if (!bin || access(bin, X_OK) != 0) {
        test_skip("cli", "no GHLSYNC_BIN: run through tests/run.sh");
        return test_done();
    }
    snprintf(dir, sizeof dir, "%s/ghlsync-test-cli.XXXXXX", test_tmpdir());
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    TEST_RUN(help_everywhere);
    TEST_RUN(usage_errors);
    TEST_RUN(init_writes_the_sample);
    TEST_RUN(check_reports_config_errors);
    TEST_RUN(config_path_fallback);
    TEST_RUN(token_in_file_warned_and_redacted);
    if (getenv("PGHOST"))
        TEST_RUN(check_online_database);
    else
        test_skip("check_online_database", "no PGHOST: run through tests/run.sh");
    const char *sim = getenv("HLSIM_BIN");
    if (sim && access(sim, X_OK) == 0)
        TEST_RUN(check_online_api);
    else
        test_skip("check_online_api", "no simulator binary ($HLSIM_BIN) yet");
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        printf("# could not remove %s\n", dir);
    return test_done();
}
