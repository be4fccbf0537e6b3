/* Unit tests for the configuration loader: cfg_load on real temporary files, every error path,
 * defaults, secrets. */
#include "config.h"
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmpdir[256];

/* Writes `text` to tmpdir/name and returns the path (static buffer, one at a time). */
static const char *write_file(const char *name, const char *text)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    if (!f)
        return NULL;
    fputs(text, f);
    fclose(f);
    return path;
}

/* Loads `text` from a file named bad.toml; returns the code, the message in err. */
static int load_text(const char *text, struct cfg *c, gs_err *err)
{
    const char *p = write_file("bad.toml", text);
    if (!p)
        return 12345;
    return cfg_load(p, c, err);
}

/* The message with the temporary directory stripped, so expectations read "bad.toml:3:1: ...". */
static const char *rel(const gs_err *err)
{
    size_t n = strlen(tmpdir);
    if (!strncmp(err->msg, tmpdir, n) && err->msg[n] == '/')
        return err->msg + n + 1;
    return err->msg;
}

#define MINIMAL_LOC "[[locations]]\nid = \"loc1\"\ntoken_env = \"GST_TOKEN\"\n"

/* Expect a configuration error whose message (without the directory) is exactly `want`. */
#define EXPECT_ERR(text, code, want)                                                               \
    do {                                                                                           \
        struct cfg c_;                                                                             \
        gs_err e_ = {0};                                                                           \
        int rc_ = load_text((text), &c_, &e_);                                                     \
        TEST_EQ_INT(rc_, (code));                                                                  \
        TEST_EQ_STR(rel(&e_), (want));                                                             \
        TEST_EQ_INT(c_.n_locations, 0);                                                            \
        cfg_free(&c_);                                                                             \
    } while (0)

static void sample_loads_with_documented_values(void)
{
    setenv("GHL_TOKEN", "pit-0123456789abcdef", 1);
    struct cfg c;
    gs_err err = {0};
    int rc = cfg_load_string(cfg_sample_toml, strlen(cfg_sample_toml), "sync.toml", &c, &err);
    TEST_EQ_INT(rc, 0);
    TEST_REQUIRE(rc == 0);
    TEST_EQ_STR(c.api.base_url, "https://services.leadconnectorhq.com");
    TEST_EQ_STR(c.api.version, "2021-07-28");
    TEST_EQ_INT(c.api.connect_timeout_ms, 10000);
    TEST_EQ_INT(c.api.request_timeout_ms, 60000);
    TEST_EQ_INT(c.api.stall_timeout_ms, 30000);
    TEST_EQ_INT(c.api.max_response_bytes, 67108864);
    TEST_CHECK(!c.api.insecure_http);
    TEST_EQ_STR(c.database.url, "");
    TEST_EQ_STR(c.database.schema, "ghl");
    TEST_EQ_INT(c.rate_limit.burst, 100);
    TEST_EQ_INT(c.rate_limit.window_ms, 10000);
    TEST_EQ_INT(c.rate_limit.daily, 200000);
    TEST_CHECK(c.rate_limit.headroom > 0.019 && c.rate_limit.headroom < 0.021);
    TEST_EQ_INT(c.log.level, LOG_INFO);
    TEST_EQ_INT(c.log.format, LOG_TEXT);
    TEST_EQ_INT(c.pull.page_size, 100);
    TEST_EQ_INT(c.pull.overlap_ms, 300000);
    TEST_EQ_INT(c.pull.full_scan_interval_ms, 86400000);
    TEST_EQ_INT(c.push.batch_size, 50);
    TEST_EQ_INT(c.push.max_attempts, 8);
    TEST_EQ_INT(c.push.backoff_base_ms, 1000);
    TEST_EQ_INT(c.push.backoff_max_ms, 300000);
    TEST_CHECK(c.push.enabled);
    TEST_CHECK(c.metrics.listen == NULL);
    TEST_REQUIRE(c.n_locations == 1);
    TEST_EQ_STR(c.locations[0].id, "ve9EPM428h8vShlRW1KT");
    TEST_EQ_STR(c.locations[0].token, "pit-0123456789abcdef");
    TEST_EQ_INT(c.locations[0].auth, CFG_AUTH_TOKEN);
    TEST_CHECK(c.locations[0].all_objects);
    TEST_EQ_INT(c.n_warnings, 0);
    const struct cfg_object *pet = cfg_object_get(&c, "custom_objects.pet");
    TEST_EQ_STR(pet->key, "custom_objects.pet");
    TEST_EQ_STR(pet->table, "pets");
    TEST_EQ_INT(pet->direction, CFG_DIR_BOTH);
    TEST_EQ_INT(pet->conflict, CFG_REMOTE_WINS);
    TEST_EQ_INT(pet->poll_interval_ms, 60000);
    TEST_CHECK(pet->soft_delete);
    cfg_free(&c);
    unsetenv("GHL_TOKEN");
}

static void minimal_file_gets_defaults(void)
{
    setenv("GST_TOKEN", "tok-minimal-1234", 1);
    struct cfg c;
    gs_err err = {0};
    int rc = load_text(MINIMAL_LOC, &c, &err);
    TEST_EQ_INT(rc, 0);
    TEST_REQUIRE(rc == 0);
    TEST_EQ_STR(c.api.base_url, "https://services.leadconnectorhq.com");
    TEST_EQ_INT(c.pull.page_size, 100);
    TEST_EQ_INT(c.pull.poll_interval_ms, 60000);
    TEST_CHECK(c.database.session_url == NULL);
    TEST_EQ_INT(c.database.pooler, CFG_POOLER_NONE);
    TEST_EQ_INT(c.database.lock_timeout_ms, 10000);
    TEST_EQ_INT(c.metrics.stall_timeout_ms, 120000);
    TEST_EQ_STR(c.locations[0].token, "tok-minimal-1234");
    TEST_EQ_STR(c.locations[0].token_source, "environment variable GST_TOKEN");
    TEST_EQ_INT(c.n_objects, 0);
    const struct cfg_object *o = cfg_object_get(&c, "business");
    TEST_CHECK(o == &c.object_defaults);
    TEST_CHECK(o->key == NULL && o->table == NULL && o->external_id_field == NULL);
    TEST_EQ_INT(o->direction, CFG_DIR_BOTH);
    TEST_EQ_INT(o->poll_interval_ms, 60000);
    TEST_CHECK(cfg_location_has_object(&c.locations[0], "anything"));
    TEST_CHECK(cfg_location_get(&c, "loc1") == &c.locations[0]);
    TEST_CHECK(cfg_location_get(&c, "nope") == NULL);
    cfg_free(&c);
    cfg_free(&c); /* harmless twice */
}

static void full_settings_are_read(void)
{
    setenv("GST_TOKEN", "tok-full-5678", 1);
    setenv("GST_TOKEN2", "tok-second-9999", 1);
    struct cfg c;
    gs_err err = {0};
    int rc = load_text("[api]\n"
                       "base_url = \"http://127.0.0.1:8080/\"\n"
                       "insecure_http = true\n"
                       "connect_timeout = \"500ms\"\n"
                       "request_timeout = \"2m\"\n"
                       "stall_timeout = \"1h30m\"\n"
                       "max_response_bytes = 1048576\n"
                       "[database]\nurl = \"dbname=x\"\nschema = \"My Schema\"\n"
                       "[rate_limit]\nburst = 10\nwindow = \"1s\"\ndaily = 500\nheadroom = 0\n"
                       "[log]\nlevel = \"debug\"\nformat = \"json\"\n"
                       "[pull]\npage_size = 7\noverlap = \"0\"\nfull_scan_interval = \"1d\"\n"
                       "poll_interval = \"5s\"\n"
                       "[push]\nenabled = false\nbatch_size = 3\nmax_attempts = 2\n"
                       "backoff_base = \"100ms\"\nbackoff_max = \"1s\"\n"
                       "[metrics]\nlisten = \"127.0.0.1:9187\"\n"
                       "[objects.\"*\"]\nconflict = \"newest_wins\"\n"
                       "field_types = { \"x.common\" = \"text\" }\n"
                       "[objects.\"custom_objects.pet\"]\n"
                       "direction = \"pull\"\nsoft_delete = false\n"
                       "external_id_field = \"custom_objects.pet.ext\"\n"
                       "field_types = { \"custom_objects.pet.age\" = \"numeric(10,2)\", "
                       "\"x.common\" = \"varchar(20)\" }\n"
                       "[objects.business]\ntable = \"biz\"\npoll_interval = \"10m\"\n"
                       "[[locations]]\nid = \"loc1\"\ntoken_env = \"GST_TOKEN\"\n"
                       "objects = [\"custom_objects.pet\", \"business\"]\n"
                       "[[locations]]\nid = \"loc-2_b\"\ntoken_env = \"GST_TOKEN2\"\n",
                       &c, &err);
    TEST_EQ_INT(rc, 0);
    if (rc)
        printf("#   %s\n", err.msg);
    TEST_REQUIRE(rc == 0);
    TEST_EQ_STR(c.api.base_url, "http://127.0.0.1:8080");
    TEST_CHECK(c.api.insecure_http);
    TEST_EQ_INT(c.api.connect_timeout_ms, 500);
    TEST_EQ_INT(c.api.request_timeout_ms, 120000);
    TEST_EQ_INT(c.api.stall_timeout_ms, 5400000);
    TEST_EQ_INT(c.api.max_response_bytes, 1048576);
    TEST_EQ_STR(c.database.url, "dbname=x");
    TEST_EQ_STR(c.database.schema, "My Schema");
    TEST_EQ_INT(c.rate_limit.burst, 10);
    TEST_EQ_INT(c.rate_limit.window_ms, 1000);
    TEST_EQ_INT(c.rate_limit.daily, 500);
    TEST_CHECK(c.rate_limit.headroom == 0.0);
    TEST_EQ_INT(c.log.level, LOG_DEBUG);
    TEST_EQ_INT(c.log.format, LOG_JSON);
    TEST_EQ_INT(c.pull.page_size, 7);
    TEST_EQ_INT(c.pull.overlap_ms, 0);
    TEST_EQ_INT(c.pull.full_scan_interval_ms, 86400000);
    TEST_EQ_INT(c.pull.poll_interval_ms, 5000);
    TEST_CHECK(!c.push.enabled);
    TEST_EQ_INT(c.push.batch_size, 3);
    TEST_EQ_INT(c.push.max_attempts, 2);
    TEST_EQ_INT(c.push.backoff_base_ms, 100);
    TEST_EQ_INT(c.push.backoff_max_ms, 1000);
    TEST_EQ_STR(c.metrics.listen, "127.0.0.1:9187");
    TEST_EQ_INT(c.n_objects, 2);
    const struct cfg_object *pet = cfg_object_get(&c, "custom_objects.pet");
    TEST_EQ_INT(pet->direction, CFG_DIR_PULL);
    TEST_EQ_INT(pet->conflict, CFG_NEWEST_WINS); /* from "*" */
    TEST_CHECK(!pet->soft_delete);
    TEST_EQ_INT(pet->poll_interval_ms, 5000); /* from [pull] */
    TEST_EQ_STR(pet->external_id_field, "custom_objects.pet.ext");
    TEST_CHECK(pet->table == NULL);
    TEST_EQ_STR(cfg_field_type(pet, "custom_objects.pet.age"), "numeric(10,2)");
    TEST_EQ_STR(cfg_field_type(pet, "x.common"), "varchar(20)"); /* own entry replaces "*" */
    TEST_CHECK(cfg_field_type(pet, "nope") == NULL);
    const struct cfg_object *biz = cfg_object_get(&c, "business");
    TEST_EQ_STR(biz->table, "biz");
    TEST_EQ_INT(biz->poll_interval_ms, 600000);
    TEST_EQ_INT(biz->direction, CFG_DIR_BOTH);
    TEST_EQ_STR(cfg_field_type(biz, "x.common"), "text");
    const struct cfg_object *other = cfg_object_get(&c, "contact");
    TEST_EQ_INT(other->conflict, CFG_NEWEST_WINS);
    TEST_EQ_INT(other->poll_interval_ms, 5000);
    TEST_REQUIRE(c.n_locations == 2);
    TEST_CHECK(!c.locations[0].all_objects);
    TEST_EQ_INT(c.locations[0].n_objects, 2);
    TEST_CHECK(cfg_location_has_object(&c.locations[0], "business"));
    TEST_CHECK(!cfg_location_has_object(&c.locations[0], "contact"));
    TEST_EQ_STR(c.locations[1].token, "tok-second-9999");
    cfg_free(&c);
    unsetenv("GST_TOKEN2");
}

static void missing_file(void)
{
    struct cfg c;
    gs_err err = {0};
    char path[600];
    snprintf(path, sizeof path, "%s/does-not-exist.toml", tmpdir);
    int rc = cfg_load(path, &c, &err);
    TEST_EQ_INT(rc, GS_EIO);
    TEST_CHECK_MSG(strstr(err.msg, "does-not-exist.toml") != NULL, "message: %s", err.msg);
    TEST_CHECK_MSG(strstr(err.msg, "No such file") != NULL, "message: %s", err.msg);
    cfg_free(&c);
}

static void syntax_error_has_line(void)
{
    struct cfg c;
    gs_err err = {0};
    int rc = load_text("[api]\nversion = \"x\"\nbase_url = \n", &c, &err);
    TEST_EQ_INT(rc, GS_EPARSE);
    TEST_CHECK_MSG(!strncmp(rel(&err), "bad.toml:3:", 11), "message: %s", err.msg);
    cfg_free(&c);
}

static void unknown_keys(void)
{
    EXPECT_ERR("[api]\nbase_ulr = \"https://x\"\n" MINIMAL_LOC, GS_ECONFIG,
               "bad.toml:2:1: [api] base_ulr: unknown key (did you mean \"base_url\"?)");
    EXPECT_ERR("[pull]\npagesize = 3\n", GS_ECONFIG,
               "bad.toml:2:1: [pull] pagesize: unknown key (did you mean \"page_size\"?)");
    EXPECT_ERR("[datbase]\nurl = \"\"\n", GS_ECONFIG,
               "bad.toml:1:2: datbase: unknown key (did you mean \"database\"?)");
    EXPECT_ERR("[push]\nfrobnicate = 1\n", GS_ECONFIG,
               "bad.toml:2:1: [push] frobnicate: unknown key (known keys: enabled, batch_size, "
               "max_attempts, backoff_base, backoff_max)");
    EXPECT_ERR("[[locations]]\nid = \"l\"\ntoken_evn = \"X\"\n", GS_ECONFIG,
               "bad.toml:3:1: [[locations]] #1 token_evn: unknown key (did you mean "
               "\"token_env\"?)");
    EXPECT_ERR("[objects.\"custom_objects.pet\"]\ndirection = \"pull\"\nconflit = \"x\"\n",
               GS_ECONFIG,
               "bad.toml:3:1: [objects.\"custom_objects.pet\"] conflit: unknown key (did you mean "
               "\"conflict\"?)");
    /* Unquoted dotted object key: nested tables, explained. */
    EXPECT_ERR("[objects.custom_objects.pet]\ntable = \"pets\"\n", GS_ECONFIG,
               "bad.toml:1:25: [objects.\"custom_objects\"] pet: unknown key (object keys contain "
               "dots: quote them, as in [objects.\"custom_objects.pet\"])");
}

static void wrong_types(void)
{
    EXPECT_ERR("[pull]\npage_size = \"100\"\n", GS_ECONFIG,
               "bad.toml:2:1: [pull] page_size: expected an integer, got a string");
    EXPECT_ERR("[push]\nenabled = \"yes\"\n", GS_ECONFIG,
               "bad.toml:2:1: [push] enabled: expected a boolean (true or false), got a string");
    EXPECT_ERR("api = 3\n", GS_ECONFIG, "bad.toml:1:1: api: expected a table, got an integer");
    EXPECT_ERR("[api]\nbase_url = 42\n", GS_ECONFIG,
               "bad.toml:2:1: [api] base_url: expected a string, got an integer");
    EXPECT_ERR(MINIMAL_LOC "objects = \"*\"\n", GS_ECONFIG,
               "bad.toml:4:1: [[locations]] #1 (loc1) objects: expected an array of object keys "
               "(or [\"*\"]), got a string");
    EXPECT_ERR("[rate_limit]\nheadroom = \"10%\"\n", GS_ECONFIG,
               "bad.toml:2:1: [rate_limit] headroom: expected a number (a fraction such as 0.1), "
               "got a string");
    EXPECT_ERR("[objects.x]\nfield_types = { a = 1 }\n", GS_ECONFIG,
               "bad.toml:2:17: [objects.\"x\"] field_types.a: expected a string (a PostgreSQL "
               "type), got an integer");
    EXPECT_ERR("locations = 1\n", GS_ECONFIG,
               "bad.toml:1:1: locations: expected an array of tables ([[locations]]), got an "
               "integer");
}

static void ranges(void)
{
    EXPECT_ERR("[pull]\npage_size = 101\n", GS_ECONFIG,
               "bad.toml:2:1: [pull] page_size: must be between 1 and 100, got 101");
    EXPECT_ERR("[pull]\npage_size = 0\n", GS_ECONFIG,
               "bad.toml:2:1: [pull] page_size: must be between 1 and 100, got 0");
    EXPECT_ERR("[rate_limit]\nheadroom = 1.0\n", GS_ECONFIG,
               "bad.toml:2:1: [rate_limit] headroom: must be a fraction in [0, 1), got 1");
    EXPECT_ERR("[push]\nbackoff_base = \"10s\"\nbackoff_max = \"1s\"\n", GS_ECONFIG,
               "bad.toml:3:1: [push] backoff_max: must not be shorter than backoff_base");
    EXPECT_ERR("[metrics]\nlisten = \"9187\"\n", GS_ECONFIG,
               "bad.toml:2:1: [metrics] listen: expected \"HOST:PORT\" such as "
               "\"127.0.0.1:9187\", got \"9187\"");
    EXPECT_ERR("[database]\nschema = \"\"\n", GS_ECONFIG,
               "bad.toml:2:1: [database] schema: must not be empty");
    EXPECT_ERR("[database]\npooler = \"transaction\"\n", GS_ECONFIG,
               "bad.toml:2:1: [database] pooler: \"transaction\" needs session_url: LISTEN and "
               "the push claims need a session of their own (PostgreSQL itself or a "
               "session-mode pool)");
    EXPECT_ERR("[database]\npooler = \"session\"\n", GS_ECONFIG,
               "bad.toml:2:1: [database] pooler: expected one of \"none\", \"transaction\", got "
               "\"session\"");
    EXPECT_ERR("[database]\nsession_url = \"host='oops\"\n", GS_ECONFIG,
               "bad.toml:2:1: [database] session_url: not a valid libpq conninfo or URI: "
               "unterminated quoted string in connection info string");
    EXPECT_ERR("[objects.x]\nfield_types = { a = \"text; drop table t\" }\n", GS_ECONFIG,
               "bad.toml:2:17: [objects.\"x\"] field_types.a: \"text; drop table t\" is not an "
               "accepted PostgreSQL type name (letters, digits, spaces and _ ( ) , [ ] . only)");
}

/* Port 0 asks the kernel for a free port (the bound one is logged); 65536 and -1 are not ports. */
static void metrics_listen_ports(void)
{
    setenv("GST_TOKEN", "tok-metrics-4242", 1);
    struct cfg c;
    gs_err err = {0};
    int rc = load_text(MINIMAL_LOC "[metrics]\nlisten = \"127.0.0.1:0\"\n", &c, &err);
    TEST_EQ_INT(rc, 0);
    TEST_REQUIRE(rc == 0);
    TEST_EQ_STR(c.metrics.listen, "127.0.0.1:0");
    cfg_free(&c);
    EXPECT_ERR("[metrics]\nlisten = \"127.0.0.1:65536\"\n", GS_ECONFIG,
               "bad.toml:2:1: [metrics] listen: expected \"HOST:PORT\" such as "
               "\"127.0.0.1:9187\", got \"127.0.0.1:65536\"");
    EXPECT_ERR("[metrics]\nlisten = \"127.0.0.1:-1\"\n", GS_ECONFIG,
               "bad.toml:2:1: [metrics] listen: expected \"HOST:PORT\" such as "
               "\"127.0.0.1:9187\", got \"127.0.0.1:-1\"");
}

static void webhooks_section(void)
{
    setenv("GST_TOKEN", "tok-hooks-4242", 1);
    struct cfg c;
    gs_err err = {0};
    int rc = load_text(MINIMAL_LOC, &c, &err);
    TEST_REQUIRE(rc == 0);
    TEST_CHECK(c.webhooks.listen == NULL);
    TEST_EQ_STR(c.webhooks.path, "/webhooks/highlevel");
    TEST_EQ_INT(c.webhooks.max_age_ms, 300000);
    TEST_EQ_INT(c.webhooks.max_body, 1048576);
    TEST_EQ_INT(c.webhooks.queue_max, 10000);
    TEST_CHECK(c.webhooks.legacy_public_key == NULL);
    cfg_free(&c);
    const char *kf = write_file("ed.pem", "-----BEGIN PUBLIC KEY-----\nKEY\n"
                                          "-----END PUBLIC KEY-----\n\n");
    TEST_REQUIRE(kf != NULL);
    rc = load_text(MINIMAL_LOC "[webhooks]\nlisten = \"127.0.0.1:0\"\npath = \"/hl\"\n"
                               "public_key_file = \"ed.pem\"\nlegacy_public_key = \"RSAKEY\"\n"
                               "max_age = \"2m\"\nmax_body = 4096\nqueue_max = 7\n"
                               "retention = \"1h\"\n",
                   &c, &err);
    TEST_EQ_INT(rc, 0);
    TEST_REQUIRE(rc == 0);
    TEST_EQ_STR(c.webhooks.listen, "127.0.0.1:0");
    TEST_EQ_STR(c.webhooks.path, "/hl");
    TEST_EQ_STR(c.webhooks.public_key, "-----BEGIN PUBLIC KEY-----\nKEY\n-----END PUBLIC KEY-----");
    TEST_EQ_STR(c.webhooks.legacy_public_key, "RSAKEY");
    TEST_EQ_INT(c.webhooks.max_age_ms, 120000);
    TEST_EQ_INT(c.webhooks.max_body, 4096);
    TEST_EQ_INT(c.webhooks.queue_max, 7);
    TEST_EQ_INT(c.webhooks.retention_ms, 3600000);
    cfg_free(&c);
    EXPECT_ERR("[webhooks]\nlisten = \"127.0.0.1:8788\"\n", GS_ECONFIG,
               "bad.toml:2:1: [webhooks] listen: a listener needs public_key or public_key_file "
               "(the Ed25519 key that signs x-ghl-signature)");
    EXPECT_ERR("[webhooks]\npublic_key = \"K\"\npublic_key_file = \"ed.pem\"\n", GS_ECONFIG,
               "bad.toml:3:1: [webhooks] public_key_file: give public_key or public_key_file, "
               "not both");
    EXPECT_ERR("[webhooks]\npath = \"hl\"\n", GS_ECONFIG,
               "bad.toml:2:1: [webhooks] path: must start with /, got \"hl\"");
    EXPECT_ERR("[webhooks]\nmax_age = \"10m\"\nretention = \"5m\"\n", GS_ECONFIG,
               "bad.toml:3:1: [webhooks] retention: must not be shorter than max_age");
}

static void bad_durations(void)
{
    EXPECT_ERR("[api]\nconnect_timeout = \"10\"\n", GS_ECONFIG,
               "bad.toml:2:1: [api] connect_timeout: invalid duration \"10\" (use a number with "
               "a unit: ms, s, m, h, d; e.g. \"500ms\", \"30s\", \"1h30m\")");
    EXPECT_ERR("[api]\nconnect_timeout = 10\n", GS_ECONFIG,
               "bad.toml:2:1: [api] connect_timeout: expected a duration string such as \"30s\", "
               "got an integer");
    EXPECT_ERR("[api]\nconnect_timeout = \"0\"\n", GS_ECONFIG,
               "bad.toml:2:1: [api] connect_timeout: must be at least 1ms, got \"0\"");
    struct {
        const char *s;
        long long ms;
    } ok[] = {{"0", 0},           {"1ms", 1},
              {"10s", 10000},     {"2m", 120000},
              {"1h", 3600000},    {"1d", 86400000},
              {"1h30m", 5400000}, {"1m500ms", 60500},
              {"007s", 7000},     {"3650d", 315360000000LL}};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        int64_t ms = -1;
        TEST_CHECK_MSG(cfg_parse_duration(ok[i].s, &ms) == 0 && ms == ok[i].ms, "\"%s\" -> %lld",
                       ok[i].s, (long long)ms);
    }
    const char *bad[] = {"",
                         "s",
                         "10",
                         "10 s",
                         " 10s",
                         "10S",
                         "-1s",
                         "1.5s",
                         "10x",
                         "1s ",
                         "ms",
                         "3651d",
                         "99999999999999999999s",
                         "1d1d1d9999d"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t ms = 0;
        TEST_CHECK_MSG(cfg_parse_duration(bad[i], &ms) == -1, "\"%s\" accepted", bad[i]);
    }
}

static void bad_enums(void)
{
    EXPECT_ERR(
        "\n\n\n\n\n\n\n\n\n\n[objects.\"custom_objects.pet\"]\n    direction = \"sideways\"\n",
        GS_ECONFIG,
        "bad.toml:12:5: [objects.\"custom_objects.pet\"] direction: expected one of "
        "\"pull\", \"push\", \"both\", got \"sideways\"");
    EXPECT_ERR("[objects.x]\nconflict = \"mine\"\n", GS_ECONFIG,
               "bad.toml:2:1: [objects.\"x\"] conflict: expected one of \"remote_wins\", "
               "\"local_wins\", \"newest_wins\", got \"mine\"");
    EXPECT_ERR("[log]\nlevel = \"verbose\"\n", GS_ECONFIG,
               "bad.toml:2:1: [log] level: expected one of \"error\", \"warn\", \"info\", "
               "\"debug\", got \"verbose\"");
    EXPECT_ERR("[log]\nformat = 1\n", GS_ECONFIG,
               "bad.toml:2:1: [log] format: expected one of \"text\", \"json\", got an integer");
}

static void locations_required(void)
{
    EXPECT_ERR("[api]\nversion = \"x\"\n", GS_ECONFIG,
               "bad.toml:1:1: locations: no [[locations]]: at least one location (id and "
               "token_env) is required");
    EXPECT_ERR("\nlocations = []\n", GS_ECONFIG,
               "bad.toml:2:1: locations: empty: at least one [[locations]] (id and token_env) is "
               "required");
    EXPECT_ERR("[[locations]]\ntoken_env = \"X\"\n", GS_ECONFIG,
               "bad.toml:1:3: [[locations]] #1 missing key \"id\" (the HighLevel location id)");
    EXPECT_ERR("[[locations]]\nid = \"a/b\"\ntoken_env = \"X\"\n", GS_ECONFIG,
               "bad.toml:2:1: [[locations]] #1 id: \"a/b\" is not a location id (letters, "
               "digits, - and _)");
    EXPECT_ERR(MINIMAL_LOC MINIMAL_LOC, GS_ECONFIG,
               "bad.toml:5:1: [[locations]] #2 (loc1) id: location \"loc1\" is already defined on "
               "line 1");
    EXPECT_ERR("[[locations]]\nid = \"l\"\n", GS_ECONFIG,
               "bad.toml:1:3: [[locations]] #1 (l) no credentials: set token_env = \"VARIABLE\" "
               "(or token_file = \"PATH\", or OAuth: client_id_env, client_secret_env, "
               "refresh_token_file)");
    EXPECT_ERR(MINIMAL_LOC "objects = [\"*\", \"business\"]\n", GS_ECONFIG,
               "bad.toml:4:12: [[locations]] #1 (loc1) objects: \"*\" means every object and "
               "must stand alone");
    EXPECT_ERR(MINIMAL_LOC "objects = [\"business\", \"business\"]\n", GS_ECONFIG,
               "bad.toml:4:24: [[locations]] #1 (loc1) objects: \"business\" is listed twice");
}

static void missing_token_variable(void)
{
    unsetenv("GST_TOKEN");
    EXPECT_ERR("# comment\n" MINIMAL_LOC, GS_ECONFIG,
               "bad.toml:4:1: [[locations]] #1 (loc1) token_env: environment variable GST_TOKEN "
               "is not set");
    setenv("GST_TOKEN", "", 1);
    EXPECT_ERR(MINIMAL_LOC, GS_ECONFIG,
               "bad.toml:3:1: [[locations]] #1 (loc1) token_env: environment variable GST_TOKEN "
               "is empty");
    EXPECT_ERR("[[locations]]\nid = \"l\"\ntoken_env = \"$GHL\"\n", GS_ECONFIG,
               "bad.toml:3:1: [[locations]] #1 (l) token_env: \"$GHL\" is not an environment "
               "variable name (letters, digits, _)");
    setenv("GST_TOKEN", "tok-restored-1234", 1);
}

static void token_in_file_is_warned(void)
{
    struct cfg c;
    gs_err err = {0};
    int rc = load_text("[[locations]]\nid = \"l\"\ntoken = \"pit-inline-secret-42\"\n", &c, &err);
    TEST_EQ_INT(rc, 0);
    TEST_REQUIRE(rc == 0);
    TEST_EQ_STR(c.locations[0].token, "pit-inline-secret-42");
    TEST_REQUIRE(c.n_warnings == 1);
    const char *w = strstr(c.warnings[0], "bad.toml:");
    TEST_EQ_STR(w, "bad.toml:3:1: [[locations]] #1 (l) token: a secret written in the "
                   "configuration file can leak (version control, backups, screen sharing); "
                   "prefer token_env or token_file");
    TEST_CHECK(strstr(c.warnings[0], "pit-inline-secret-42") == NULL);
    cfg_free(&c);
}

static void token_file_and_oauth(void)
{
    TEST_REQUIRE(write_file("tok.txt", "file-token-abcdef\n\n") != NULL);
    TEST_REQUIRE(write_file("refresh.txt", "refresh-token-xyz\n") != NULL);
    struct cfg c;
    gs_err err = {0};
    setenv("GST_CID", "client-id-1", 1);
    setenv("GST_CSEC", "client-secret-2", 1);
    /* Relative paths start at the configuration file's directory, not the working one. */
    int rc = load_text("[[locations]]\nid = \"a\"\ntoken_file = \"tok.txt\"\n"
                       "[[locations]]\nid = \"b\"\nclient_id_env = \"GST_CID\"\n"
                       "client_secret_env = \"GST_CSEC\"\nrefresh_token_file = \"refresh.txt\"\n",
                       &c, &err);
    TEST_EQ_INT(rc, 0);
    if (rc)
        printf("#   %s\n", err.msg);
    TEST_REQUIRE(rc == 0);
    TEST_EQ_STR(c.locations[0].token, "file-token-abcdef");
    TEST_EQ_INT(c.locations[1].auth, CFG_AUTH_OAUTH);
    TEST_CHECK(c.locations[1].token == NULL);
    TEST_EQ_STR(c.locations[1].client_id, "client-id-1");
    TEST_EQ_STR(c.locations[1].client_secret, "client-secret-2");
    TEST_EQ_STR(c.locations[1].refresh_token, "refresh-token-xyz");
    char want[600];
    snprintf(want, sizeof want, "%s/refresh.txt", tmpdir);
    TEST_EQ_STR(c.locations[1].refresh_token_file, want);

    /* Every secret is redacted once registered, and so is a conninfo password. */
    gs_log *lg = log_new(stderr, LOG_INFO, LOG_TEXT);
    cfg_register_secrets(&c, lg);
    char out[256];
    log_redact(lg, "a=file-token-abcdef b=client-secret-2 c=refresh-token-xyz", out, sizeof out);
    TEST_EQ_STR(out, "a=[REDACTED] b=[REDACTED] c=[REDACTED]");
    log_free(lg);
    cfg_free(&c);

    {
        struct cfg c2;
        gs_err e2 = {0};
        rc = load_text("[[locations]]\nid = \"a\"\ntoken_file = \"nope.txt\"\n", &c2, &e2);
        TEST_EQ_INT(rc, GS_ECONFIG);
        TEST_CHECK_MSG(!strncmp(rel(&e2),
                                "bad.toml:3:1: [[locations]] #1 (a) token_file: "
                                "cannot read ",
                                57),
                       "message: %s", e2.msg);
        TEST_CHECK_MSG(strstr(e2.msg, "nope.txt: No such file or directory") != NULL, "message: %s",
                       e2.msg);
    }
    write_file("empty.txt", "\n");
    {
        struct cfg c3;
        gs_err e3 = {0};
        rc = load_text("[[locations]]\nid = \"a\"\ntoken_file = \"empty.txt\"\n", &c3, &e3);
        TEST_EQ_INT(rc, GS_ECONFIG);
        TEST_CHECK_MSG(strstr(e3.msg, "empty.txt is empty or not a text file") != NULL,
                       "message: %s", e3.msg);
    }
    EXPECT_ERR("[[locations]]\nid = \"a\"\ntoken_env = \"GST_TOKEN\"\ntoken_file = \"tok.txt\"\n",
               GS_ECONFIG,
               "bad.toml:4:1: [[locations]] #1 (a) choose one way to authenticate: token_env, "
               "token_file, token, or OAuth (client_id_env + client_secret_env + "
               "refresh_token_file)");
    EXPECT_ERR("[[locations]]\nid = \"a\"\nclient_id_env = \"GST_CID\"\n"
               "refresh_token_file = \"refresh.txt\"\n",
               GS_ECONFIG,
               "bad.toml:1:3: [[locations]] #1 (a) OAuth needs client_id_env, client_secret_env "
               "and refresh_token_file: missing client_secret_env");
    unsetenv("GST_CSEC");
    EXPECT_ERR("[[locations]]\nid = \"b\"\nclient_id_env = \"GST_CID\"\n"
               "client_secret_env = \"GST_CSEC\"\nrefresh_token_file = \"refresh.txt\"\n",
               GS_ECONFIG,
               "bad.toml:4:1: [[locations]] #1 (b) client_secret_env: environment variable "
               "GST_CSEC is not set");
    unsetenv("GST_CID");
}

#define AGENCY_HEAD                                                                                \
    "[agency]\ncompany_id_env = \"GST_CO\"\napp_id = \"app1\"\nclient_id_env = \"GST_CID\"\n"      \
    "client_secret_env = \"GST_CSEC\"\nrefresh_token_file = \"company.txt\"\n"

/* [agency]: secrets from the environment and a file, "installed" or a list, clear errors. */
static void agency_section(void)
{
    TEST_REQUIRE(write_file("company.txt", "company-refresh-q\n") != NULL);
    setenv("GST_CO", "company9", 1);
    setenv("GST_CID", "client-id-1", 1);
    setenv("GST_CSEC", "agency-secret-3", 1);
    struct cfg c;
    gs_err err = {0};
    int rc =
        load_text(AGENCY_HEAD "locations = \"installed\"\ndiscovery_interval = \"5m\"\n", &c, &err);
    TEST_EQ_INT(rc, 0);
    if (rc)
        printf("#   %s\n", err.msg);
    TEST_REQUIRE(rc == 0);
    TEST_CHECK(c.agency.enabled && c.agency.installed && c.agency.all_objects);
    TEST_EQ_INT(c.n_locations, 0); /* discovered by the engine */
    TEST_EQ_STR(c.agency.company_id, "company9");
    TEST_EQ_STR(c.agency.client_secret, "agency-secret-3");
    TEST_EQ_STR(c.agency.refresh_token, "company-refresh-q");
    TEST_EQ_INT(c.agency.discovery_interval_ms, 5 * 60 * 1000);
    gs_log *lg = log_new(stderr, LOG_INFO, LOG_TEXT);
    cfg_register_secrets(&c, lg);
    char out[256];
    log_redact(lg, "s=agency-secret-3 r=company-refresh-q", out, sizeof out);
    TEST_EQ_STR(out, "s=[REDACTED] r=[REDACTED]");
    log_free(lg);
    TEST_EQ_INT(cfg_location_add_agency(&c, "locX", &err), 0);
    TEST_EQ_INT(c.n_locations, 1);
    TEST_EQ_INT(c.locations[0].auth, CFG_AUTH_AGENCY);
    TEST_EQ_INT(cfg_location_add_agency(&c, "bad id", &err), GS_ECONFIG);
    /* one installed while running: on its own, c->locations untouched */
    struct cfg_location *own = NULL;
    const struct cfg_location *before = c.locations;
    TEST_EQ_INT(cfg_agency_location_new(&c, "locY", &own, &err), 0);
    TEST_REQUIRE(own != NULL);
    TEST_EQ_STR(own->id, "locY");
    TEST_EQ_INT(own->auth, CFG_AUTH_AGENCY);
    TEST_CHECK(own->all_objects);
    TEST_CHECK(c.locations == before && c.n_locations == 1);
    cfg_location_delete(own);
    TEST_EQ_INT(cfg_agency_location_new(&c, "bad id", &own, &err), GS_ECONFIG);
    TEST_CHECK(own == NULL);
    cfg_free(&c);

    /* an explicit list, beside a [[locations]] table, with the agency's objects */
    setenv("GST_TOKEN", "tok", 1);
    rc = load_text(AGENCY_HEAD
                   "locations = [\"a1\", \"a2\"]\nobjects = [\"business\"]\n" MINIMAL_LOC,
                   &c, &err);
    TEST_EQ_INT(rc, 0);
    TEST_REQUIRE(rc == 0);
    TEST_EQ_INT(c.n_locations, 3);
    TEST_EQ_STR(c.locations[1].id, "a1");
    TEST_EQ_INT(c.locations[2].auth, CFG_AUTH_AGENCY);
    TEST_CHECK(cfg_location_has_object(&c.locations[2], "business"));
    TEST_CHECK(!cfg_location_has_object(&c.locations[2], "contact"));
    TEST_EQ_INT(c.locations[0].auth, CFG_AUTH_TOKEN);
    cfg_free(&c);

    EXPECT_ERR(AGENCY_HEAD "locations = [\"loc1\"]\n" MINIMAL_LOC, GS_ECONFIG,
               "bad.toml:7:14: [agency] locations: location \"loc1\" is already defined on line 8");
    EXPECT_ERR(AGENCY_HEAD "locations = \"all\"\n", GS_ECONFIG,
               "bad.toml:7:1: [agency] locations: expected \"installed\" or a list of location "
               "ids, got \"all\"");
    EXPECT_ERR(AGENCY_HEAD, GS_ECONFIG,
               "bad.toml:1:2: [agency] missing key \"locations\": \"installed\" (every location "
               "with the app installed) or a list of location ids");
    EXPECT_ERR("[agency]\ncompany_id_env = \"GST_CO\"\nlocations = \"installed\"\n", GS_ECONFIG,
               "bad.toml:1:2: [agency] missing key \"client_id_env\" (the agency needs "
               "company_id_env, client_id_env, client_secret_env and refresh_token_file)");
    EXPECT_ERR(AGENCY_HEAD "locations = [\"x y\"]\n", GS_ECONFIG,
               "bad.toml:7:14: [agency] locations: item 1: \"x y\" is not a location id "
               "(letters, digits, - and _)");
    EXPECT_ERR(AGENCY_HEAD "locations = \"installed\"\ncompnay_id_env = \"x\"\n", GS_ECONFIG,
               "bad.toml:8:1: [agency] compnay_id_env: unknown key (did you mean "
               "\"company_id_env\"?)");
    EXPECT_ERR(AGENCY_HEAD "locations = \"installed\"\ndiscovery_page_size = 0\n", GS_ECONFIG,
               "bad.toml:8:1: [agency] discovery_page_size: must be between 1 and 500, got 0");
    unsetenv("GST_CSEC");
    EXPECT_ERR(AGENCY_HEAD "locations = \"installed\"\n", GS_ECONFIG,
               "bad.toml:5:1: [agency] client_secret_env: environment variable GST_CSEC is not "
               "set");
    setenv("GST_CSEC", "agency-secret-3", 1);
}

static void urls(void)
{
    EXPECT_ERR("[api]\nbase_url = \"http://127.0.0.1:1\"\n" MINIMAL_LOC, GS_ECONFIG,
               "bad.toml:2:1: [api] base_url: plain http:// is refused unless [api] insecure_http "
               "= true (for a local simulator; TLS is always verified otherwise)");
    EXPECT_ERR("[api]\nbase_url = \"ftp://x\"\n", GS_ECONFIG,
               "bad.toml:2:1: [api] base_url: expected an https:// URL, got \"ftp://x\"");
    struct cfg c;
    gs_err err = {0};
    int rc = load_text("[database]\nurl = \"host=x bogus=1\"\n" MINIMAL_LOC, &c, &err);
    TEST_EQ_INT(rc, GS_ECONFIG);
    TEST_CHECK_MSG(!strncmp(rel(&err), "bad.toml:2:1: [database] url: not a valid libpq", 47),
                   "message: %s", err.msg);
    cfg_free(&c);

    rc =
        load_text("[database]\nurl = \"postgresql://u:pw-sekret-77@h/db\"\n" MINIMAL_LOC, &c, &err);
    TEST_EQ_INT(rc, 0);
    TEST_REQUIRE(rc == 0);
    gs_log *lg = log_new(stderr, LOG_INFO, LOG_TEXT);
    cfg_register_secrets(&c, lg);
    char out[128];
    log_redact(lg, "url=postgresql://u:pw-sekret-77@h/db", out, sizeof out);
    TEST_EQ_STR(out, "url=postgresql://u:[REDACTED]@h/db");
    log_free(lg);
    cfg_free(&c);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "%s/ghlsync-test-config.XXXXXX", test_tmpdir());
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    setenv("GST_TOKEN", "tok-default-1234", 1);
    TEST_RUN(sample_loads_with_documented_values);
    TEST_RUN(minimal_file_gets_defaults);
    TEST_RUN(full_settings_are_read);
    TEST_RUN(missing_file);
    TEST_RUN(syntax_error_has_line);
    TEST_RUN(unknown_keys);
    TEST_RUN(wrong_types);
    TEST_RUN(ranges);
    TEST_RUN(metrics_listen_ports);
    TEST_RUN(webhooks_section);
    TEST_RUN(bad_durations);
    TEST_RUN(bad_enums);
    TEST_RUN(locations_required);
    TEST_RUN(missing_token_variable);
    TEST_RUN(token_in_file_is_warned);
    TEST_RUN(token_file_and_oauth);
    TEST_RUN(urls);
    TEST_RUN(agency_section);
    const char *names[] = {"bad.toml", "tok.txt", "refresh.txt", "empty.txt"};
    for (size_t i = 0; i < 4; i++) {
        char p[600];
        snprintf(p, sizeof p, "%s/%s", tmpdir, names[i]);
        unlink(p);
    }
    rmdir(tmpdir);
    return test_done();
}
