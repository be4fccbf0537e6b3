/* test_migrate.c - the migration runner against the private PostgreSQL. */
#include "db.h"
#include "migrate.h"
#include "test.h"
#include "tpg.h"

#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char repo_migrations[4096];

static void setup_dir(void)
{
    const char *top = getenv("GHLSYNC_TOP");
    snprintf(repo_migrations, sizeof repo_migrations, "%s/migrations", top ? top : ".");
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

/* Copies the repository's migrations numbered below `below` into `dir` (a database "from before"
 * migration `below`); returns how many, or -1 when one could not be read or written. */
static int copy_migrations_before(const char *dir, int below)
{
    DIR *d = opendir(repo_migrations);
    if (!d)
        return -1;
    struct dirent *de;
    char src[4400], dst[4400]; /* the directory (4096) and a name (255) */
    int copied = 0;
    while (copied >= 0 && (de = readdir(d))) {
        size_t l = strlen(de->d_name);
        if (l < 6 || strcmp(de->d_name + l - 4, ".sql") != 0 || atoi(de->d_name) >= below)
            continue;
        snprintf(src, sizeof src, "%s/%s", repo_migrations, de->d_name);
        snprintf(dst, sizeof dst, "%s/%s", dir, de->d_name);
        FILE *in = fopen(src, "r"), *out = fopen(dst, "w");
        char buf[8192];
        size_t n;
        while (in && out && (n = fread(buf, 1, sizeof buf, in)) > 0)
            if (fwrite(buf, 1, n, out) != n)
                break;
        bool ok = in && out && !ferror(in) && !ferror(out);
        if (in)
            fclose(in);
        if (out && fclose(out) != 0)
            ok = false;
        copied = ok ? copied + 1 : -1;
    }
    closedir(d);
    return copied;
}

/* Removes `dir` and the files in it. */
static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *de;
        char path[4400];
        while ((de = readdir(d)))
            if (de->d_name[0] != '.') {
                snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
                unlink(path);
            }
        closedir(d);
    }
    rmdir(dir);
}

static void test_applies_repo_migrations_once(void)
{
    char ci[512];
    PGconn *c = tpg_fresh_db("mig_once", ci, sizeof ci);
    TEST_REQUIRE(c);
    gs_err e = {0};
    int n = -1;
    TEST_EQ_INT(migrate_run(c, repo_migrations, NULL, &n, &e), 0);
    TEST_CHECK_MSG(n >= 1, "applied %d: %s", n, e.msg);
    int v = 0;
    TEST_EQ_INT(migrate_current(c, &v, &e), 0);
    TEST_CHECK(v >= 1);
    /* Second run: nothing pending. */
    TEST_EQ_INT(migrate_run(c, repo_migrations, NULL, &n, &e), 0);
    TEST_EQ_INT(n, 0);
    /* The tables other engineers code against exist with the agreed shape. */
    char *cols = tpg_scalar(c, "SELECT string_agg(column_name || ':' || data_type || ':' || "
                               "is_nullable, ',' ORDER BY ordinal_position) FROM "
                               "information_schema.columns WHERE table_schema='ghlsync' AND "
                               "table_name='oauth_tokens'");
    /* refresh_token nullable since 016: a location token minted without one */
    TEST_EQ_STR(cols, "location_id:text:NO,access_token:text:YES,refresh_token:text:YES,"
                      "expires_at:timestamp with time zone:YES,updated_at:timestamp with time "
                      "zone:NO");
    free(cols);
    /* ... and still readable by no role but its owner (006's revokes, after 016) */
    char *others = tpg_scalar(c, "SELECT count(*) FROM pg_catalog.pg_class c, "
                                 "pg_catalog.aclexplode(c.relacl) a WHERE c.oid = "
                                 "'ghlsync.oauth_tokens'::regclass AND a.grantee <> c.relowner");
    TEST_EQ_STR(others, "0");
    free(others);
    /* The bookkeeping tables of 001 exist (later migrations may add more). */
    char *tabs = tpg_scalar(
        c, "SELECT string_agg(t, ',' ORDER BY t) FROM unnest(ARRAY['changes','columns',"
           "'conflicts','field_options','fields','leases','oauth_tokens','objects','pull_state',"
           "'schema_migrations','tables']) AS t WHERE NOT EXISTS (SELECT 1 FROM "
           "information_schema.tables WHERE table_schema = 'ghlsync' AND table_name = t AND "
           "table_type = 'BASE TABLE')");
    TEST_CHECK_MSG(tabs == NULL, "missing bookkeeping tables: %s", tabs ? tabs : "");
    free(tabs);
    char *cs = tpg_scalar(c, "SELECT length(checksum) FROM ghlsync.schema_migrations WHERE "
                             "version = 1");
    TEST_EQ_STR(cs, "64");
    free(cs);
    PQfinish(c);
}

static void test_changed_file_refused_and_new_one_applied(void)
{
    char ci[512];
    PGconn *c = tpg_fresh_db("mig_changed", ci, sizeof ci);
    TEST_REQUIRE(c);
    char dir[512];
    snprintf(dir, sizeof dir, "%s/ghlsync-mig-XXXXXX", test_tmpdir());
    TEST_REQUIRE(mkdtemp(dir));
    char p1[600], p2[600], junk[600];
    snprintf(p1, sizeof p1, "%s/001_a.sql", dir);
    snprintf(p2, sizeof p2, "%s/002_b.sql", dir);
    snprintf(junk, sizeof junk, "%s/README", dir);
    write_file(p1, "CREATE SCHEMA IF NOT EXISTS ghlsync; CREATE TABLE ghlsync.t1 (a int);");
    write_file(junk, "not a migration");
    gs_err e = {0};
    int n = 0;
    TEST_EQ_INT(migrate_run(c, dir, NULL, &n, &e), 0);
    TEST_EQ_INT(n, 1);
    /* A new migration is applied; a failing one is rolled back and not recorded. */
    write_file(p2, "CREATE TABLE ghlsync.t2 (a int); SELECT 1/0;");
    TEST_CHECK(migrate_run(c, dir, NULL, &n, &e) == GS_EDB);
    TEST_CHECK_MSG(strstr(e.msg, "002_b.sql") && strstr(e.msg, "division by zero"), "%s", e.msg);
    char *t2 = tpg_scalar(c, "SELECT to_regclass('ghlsync.t2') IS NULL");
    TEST_EQ_STR(t2, "t");
    free(t2);
    write_file(p2, "CREATE TABLE ghlsync.t2 (a int);");
    TEST_EQ_INT(migrate_run(c, dir, NULL, &n, &e), 0);
    TEST_EQ_INT(n, 1);
    /* Editing an applied migration is refused with a message that says what to do. */
    write_file(p1, "CREATE SCHEMA IF NOT EXISTS ghlsync; CREATE TABLE ghlsync.t1 (a bigint);");
    TEST_EQ_INT(migrate_run(c, dir, NULL, &n, &e), GS_ESTATE);
    TEST_CHECK_MSG(strstr(e.msg, "001_a.sql") && strstr(e.msg, "changed"), "%s", e.msg);
    /* A database newer than the binary is refused too. */
    write_file(p1, "CREATE SCHEMA IF NOT EXISTS ghlsync; CREATE TABLE ghlsync.t1 (a int);");
    unlink(p2);
    TEST_EQ_INT(migrate_run(c, dir, NULL, &n, &e), GS_ESTATE);
    TEST_CHECK_MSG(strstr(e.msg, "older"), "%s", e.msg);
    unlink(p1);
    unlink(junk);
    rmdir(dir);
    PQfinish(c);
}

typedef struct racer {
    const char *conninfo;
    pthread_barrier_t *bar;
    int applied;
    int rc;
    char msg[1024];
} racer;

static void *race(void *arg)
{
    racer *r = arg;
    gs_err e = {0};
    PGconn *c;
    r->rc = db_connect(r->conninfo, &c, &e);
    pthread_barrier_wait(r->bar);
    if (r->rc == 0) {
        r->rc = migrate_run(c, repo_migrations, NULL, &r->applied, &e);
        PQfinish(c);
    }
    snprintf(r->msg, sizeof r->msg, "%s", e.msg);
    return NULL;
}

static void test_concurrent_runs_apply_each_once(void)
{
    char ci[512];
    PGconn *c = tpg_fresh_db("mig_race", ci, sizeof ci);
    TEST_REQUIRE(c);
    enum { N = 4 };
    pthread_barrier_t bar;
    pthread_barrier_init(&bar, NULL, N);
    racer rs[N];
    pthread_t th[N];
    for (int i = 0; i < N; i++) {
        rs[i] = (racer){.conninfo = ci, .bar = &bar};
        pthread_create(&th[i], NULL, race, &rs[i]);
    }
    int total = 0, winners = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        TEST_CHECK_MSG(rs[i].rc == 0, "racer %d: %s", i, rs[i].msg);
        total += rs[i].applied;
        winners += rs[i].applied > 0;
    }
    pthread_barrier_destroy(&bar);
    char *files = tpg_scalar(c, "SELECT count(*) FROM ghlsync.schema_migrations");
    TEST_REQUIRE(files);
    TEST_EQ_INT(total, atoi(files)); /* each migration applied by exactly one racer */
    TEST_EQ_INT(winners, 1);
    char *dups = tpg_scalar(c, "SELECT count(*) - count(DISTINCT version) FROM "
                               "ghlsync.schema_migrations");
    TEST_EQ_STR(dups, "0");
    free(dups);
    free(files);
    PQfinish(c);
}

static void test_find_dir(void)
{
    char out[4096];
    gs_err e = {0};
    const char *top = getenv("GHLSYNC_TOP");
    TEST_REQUIRE(top);
    setenv("GHLSYNC_DATADIR", top, 1);
    TEST_EQ_INT(migrate_find_dir(out, sizeof out, &e), 0);
    TEST_EQ_STR(out, repo_migrations);
    setenv("GHLSYNC_DATADIR", "/nonexistent-ghlsync", 1);
    char old[4096];
    TEST_REQUIRE(getcwd(old, sizeof old));
    TEST_REQUIRE(chdir(top) == 0);
    TEST_EQ_INT(migrate_find_dir(out, sizeof out, &e), 0);
    TEST_EQ_STR(out, "./migrations");
    TEST_REQUIRE(chdir("/") == 0);
    TEST_EQ_INT(migrate_find_dir(out, sizeof out, &e), GS_ENOTFOUND);
    TEST_CHECK_MSG(strstr(e.msg, "GHLSYNC_DATADIR"), "%s", e.msg);
    TEST_REQUIRE(chdir(old) == 0);
    unsetenv("GHLSYNC_DATADIR");
}

/* 010 on a database from before it: the (location_id) index of a mapped table goes, the unique
 * index and a user's own (location_id) index on another table stay. */
static void test_010_drops_duplicate_index(void)
{
    char ci[512];
    PGconn *c = tpg_fresh_db("mig_010", ci, sizeof ci);
    TEST_REQUIRE(c);
    char dir[] = "/tmp/ghlsync-mig010-XXXXXX";
    TEST_REQUIRE(mkdtemp(dir) != NULL);
    TEST_REQUIRE(copy_migrations_before(dir, 8) == 6); /* 001, 003-007 */
    gs_err e = {0};
    int n = -1;
    TEST_EQ_INT(migrate_run(c, dir, NULL, &n, &e), 0);
    /* the shape ddl.c gave mapped tables before 010, and a table of the user's */
    TEST_CHECK(tpg_exec(c,
                        "CREATE SCHEMA IF NOT EXISTS ghl; CREATE TABLE ghl.pet (_local_id bigint "
                        "PRIMARY KEY, id text, location_id text, updated_at timestamptz, "
                        "_generation bigint); CREATE UNIQUE INDEX pet_location_id_id_key ON "
                        "ghl.pet (location_id, id) WHERE id IS NOT NULL; CREATE INDEX "
                        "pet_updated_at_idx ON ghl.pet (updated_at); CREATE INDEX "
                        "pet_location_id_idx ON ghl.pet (location_id); CREATE TABLE "
                        "public.mine (location_id text); CREATE INDEX mine_location_id_idx "
                        "ON public.mine (location_id)"));
    TEST_EQ_INT(migrate_run(c, repo_migrations, NULL, &n, &e), 0);
    TEST_CHECK(n >= 1);
    char *v = tpg_scalar(c, "SELECT string_agg(indexname, ',' ORDER BY indexname) FROM pg_indexes "
                            "WHERE tablename IN ('pet', 'mine')");
    TEST_EQ_STR(v ? v : "", "mine_location_id_idx,pet_location_id_id_key,pet_pkey,"
                            "pet_updated_at_idx");
    free(v);
    remove_dir(dir);
    PQfinish(c);
}

/* 017 on a database from before it: the _local_id sequence of a mapped table gets CACHE 1000;
 * a mapped table whose sequence has a cache of its owner's, and a user's table, keep theirs. */
static void test_017_caches_local_id(void)
{
    char ci[512];
    PGconn *c = tpg_fresh_db("mig_017", ci, sizeof ci);
    TEST_REQUIRE(c);
    char dir[] = "/tmp/ghlsync-mig017-XXXXXX";
    TEST_REQUIRE(mkdtemp(dir) != NULL);
    int copied = copy_migrations_before(dir, 17); /* every migration before 017 */
    TEST_CHECK(copied >= 10);
    gs_err e = {0};
    int n = -1;
    TEST_EQ_INT(migrate_run(c, dir, NULL, &n, &e), 0);
    TEST_EQ_INT(n, copied);
    /* the shape ddl.c gave _local_id before 017, a table whose cache was set by hand, a table
     * of the user's */
    TEST_CHECK(tpg_exec(
        c, "CREATE SCHEMA IF NOT EXISTS ghl; CREATE TABLE ghl.pet (_local_id bigint GENERATED "
           "BY DEFAULT AS IDENTITY PRIMARY KEY, id text); CREATE TABLE ghl.\"Odd \"\"T\" "
           "(_local_id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY); CREATE TABLE "
           "ghl.tuned (_local_id bigint GENERATED BY DEFAULT AS IDENTITY (CACHE 50) PRIMARY "
           "KEY); CREATE TABLE public.mine (_local_id bigint GENERATED BY DEFAULT AS IDENTITY); "
           "INSERT INTO ghlsync.tables (object_key, table_schema, table_name) VALUES "
           "('custom_objects.pet', 'ghl', 'pet'), ('custom_objects.odd', 'ghl', 'Odd \"T'), "
           "('custom_objects.tuned', 'ghl', 'tuned')"));
    TEST_EQ_INT(migrate_run(c, repo_migrations, NULL, &n, &e), 0);
    TEST_CHECK(n >= 1);
    char *v = tpg_scalar(c, "SELECT string_agg(schemaname || '.' || sequencename || '=' || "
                            "cache_size, ',' ORDER BY sequencename) FROM pg_sequences WHERE "
                            "schemaname IN ('ghl', 'public')");
    TEST_EQ_STR(v ? v : "", "ghl.Odd \"T__local_id_seq=1000,public.mine__local_id_seq=1,"
                            "ghl.pet__local_id_seq=1000,ghl.tuned__local_id_seq=50");
    free(v);
    /* ghlsync's own sequences (changes are pushed in id order) are not mapped tables' */
    v = tpg_scalar(c, "SELECT count(*) FROM pg_sequences WHERE schemaname = 'ghlsync' AND "
                      "cache_size <> 1");
    TEST_EQ_STR(v ? v : "", "0");
    free(v);
    /* the cached sequence still numbers rows */
    TEST_CHECK(tpg_exec(c, "INSERT INTO ghl.pet (id) VALUES ('a'), ('b')"));
    v = tpg_scalar(c, "SELECT string_agg(_local_id::text, ',' ORDER BY id) FROM ghl.pet");
    TEST_EQ_STR(v ? v : "", "1,2");
    free(v);
    remove_dir(dir);
    PQfinish(c);
}

int main(void)
{
    setup_dir();
    if (!tpg_available()) {
        test_skip("migrate", "no PostgreSQL (run via tests/run.sh)");
        return test_done();
    }
    TEST_RUN(test_applies_repo_migrations_once);
    TEST_RUN(test_changed_file_refused_and_new_one_applied);
    TEST_RUN(test_concurrent_runs_apply_each_once);
    TEST_RUN(test_find_dir);
    TEST_RUN(test_010_drops_duplicate_index);
    TEST_RUN(test_017_caches_local_id);
    return test_done();
}
