/* tpull.c - see tpull.h. */
#include "tpull.h"
#include "test.h"

#include "ddl.h"
#include "ident.h"
#include "mapping.h"
#include "pullstore.h"
#include "sbuf.h"
#include "schema.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

long tpull_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

bool tpull_config(const tsim *s, const char *conninfo, const char *extra, char *path, size_t len)
{
    return tpull_config_db(s, conninfo, NULL, extra, path, len);
}

bool tpull_config_db(const tsim *s, const char *conninfo, const char *db_extra, const char *extra,
                     char *path, size_t len)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s/ghlsync-tpull-XXXXXX", test_tmpdir());
    if (!mkdtemp(dir))
        return false;
    snprintf(path, len, "%s/sync.toml", dir);
    FILE *f = fopen(path, "w");
    if (!f)
        return false;
    fprintf(f, "[api]\nbase_url = \"%s\"\ninsecure_http = true\nrequest_timeout = \"10s\"\n\n",
            s->base_url);
    fprintf(f, "[database]\nurl = \"%s\"\n%s\n[log]\nlevel = \"info\"\n\n", conninfo,
            db_extra ? db_extra : "");
    if (extra)
        fputs(extra, f);
    for (int i = 0; i < s->n_loc; i++) {
        char tf[600];
        snprintf(tf, sizeof tf, "%s/token%d", dir, i);
        FILE *t = fopen(tf, "w");
        if (!t) {
            fclose(f);
            return false;
        }
        fputs(s->loc[i].token, t);
        fclose(t);
        chmod(tf, 0600);
        fprintf(f, "\n[[locations]]\nid = \"%s\"\ntoken_file = \"%s\"\n", s->loc[i].id, tf);
    }
    fclose(f);
    return true;
}

pid_t tpull_spawn(const char *config, const char *const *args, const char *log)
{
    const char *bin = getenv("GHLSYNC_BIN");
    const char *top = getenv("GHLSYNC_TOP");
    if (!bin)
        return -1;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        if (top)
            setenv("GHLSYNC_DATADIR", top, 1);
        if (log) {
            int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
            if (fd >= 0) {
                dup2(fd, 2);
                close(fd);
            }
        }
        int fd = open("/dev/null", O_WRONLY);
        if (fd >= 0) {
            dup2(fd, 1);
            close(fd);
        }
        const char *argv[40] = {bin, "-c", config};
        int n = 3;
        for (const char *const *a = args; a && *a && n < 38; a++)
            argv[n++] = *a;
        argv[n] = NULL;
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    return pid;
}

int tpull_wait(pid_t pid, int timeout_ms)
{
    long end = tpull_now_ms() + timeout_ms;
    for (;;) {
        int st;
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        if (r < 0 && errno != EINTR)
            return -1;
        if (tpull_now_ms() > end) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            return -1;
        }
        usleep(5000);
    }
}

int tpull_run(const char *config, const char *const *args, const char *log, int timeout_ms)
{
    pid_t p = tpull_spawn(config, args, log);
    return p < 0 ? -1 : tpull_wait(p, timeout_ms);
}

bool tpull_write_config(const char *token, const char *toml, char *path, size_t len)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s/cfg-XXXXXX", test_tmpdir());
    if (!mkdtemp(dir))
        return false;
    char tf[600];
    snprintf(tf, sizeof tf, "%s/token", dir);
    FILE *t = fopen(tf, "w");
    if (!t)
        return false;
    fputs(token, t);
    fclose(t);
    chmod(tf, 0600);
    snprintf(path, len, "%s/sync.toml", dir);
    FILE *c = fopen(path, "w");
    if (!c)
        return false;
    fputs(toml, c);
    return fclose(c) == 0;
}

char *tpull_slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return strdup("");
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    if (n < 0) {
        fclose(f);
        return strdup("");
    }
    char *t = malloc((size_t)n + 1);
    size_t got = t ? fread(t, 1, (size_t)n, f) : 0;
    fclose(f);
    if (t)
        t[got] = 0;
    return t;
}

bool tpull_wait_scalar(PGconn *c, const char *sql, const char *want, int timeout_ms)
{
    long end = tpull_now_ms() + timeout_ms;
    for (;;) {
        PGresult *r = PQexec(c, sql);
        bool ok = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 &&
                  strcmp(PQgetvalue(r, 0, 0), want) == 0;
        PQclear(r);
        if (ok)
            return true;
        if (tpull_now_ms() > end)
            return false;
        usleep(50000);
    }
}

static bool records_supported(const char *key)
{
    return strncmp(key, "custom_objects.", 15) == 0 || strcmp(key, "business") == 0;
}

static int diff(int *n, const char *fmt, const char *a, const char *b, const char *c)
{
    if (++*n <= 10)
        printf(fmt, a, b, c);
    return 0;
}

static bool json_eq(const cJSON *a, const cJSON *b)
{
    if (cJSON_IsNumber(a) && cJSON_IsNumber(b)) {
        double x = a->valuedouble, y = b->valuedouble;
        return x == y || (x - y < 1e-9 && y - x < 1e-9);
    }
    return cJSON_Compare(a, b, true);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int compare_object(PGconn *c, const char *schema, const char *loc, const cJSON *entry,
                          const map_types *types, int *nd)
{
    const char *key = cJSON_GetStringValue(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(entry, "object"), "key"));
    schema_object *o = NULL;
    gs_err e = {0};
    if (schema_object_from_json(entry, &o, &e)) {
        diff(nd, "# %s: dump object unreadable: %s%s\n", key, e.msg, "");
        return 0;
    }
    ddl_settings st = {.schema = schema, .location_id = loc, .types = types};
    ddl_plan plan;
    ddl_plan_init(&plan);
    if (ddl_plan_object(c, o, &st, &plan, &e)) {
        diff(nd, "# %s: cannot resolve the model: %s%s\n", key, e.msg, "");
        ddl_plan_free(&plan);
        schema_object_free(o);
        return 0;
    }
    ddl_plan_free(&plan);
    map_row cols;
    map_row_init(o, &cols, &e);
    sbuf q = SBUF_INIT;
    sbuf_puts(&q, "SELECT ");
    for (size_t i = 0; i < cols.n; i++) {
        sbuf_puts(&q, i ? ", " : "");
        ident_quote(&q, cols.columns[i]);
        sbuf_puts(&q, "::text");
    }
    sbuf_puts(&q, " FROM ");
    ident_quote(&q, o->table_schema);
    sbuf_putc(&q, '.');
    ident_quote(&q, o->table);
    sbuf_puts(&q, " WHERE location_id = $1 AND _deleted_at IS NULL ORDER BY id COLLATE \"C\"");
    const char *p[1] = {loc};
    PGresult *r = PQexecParams(c, sbuf_str(&q), 1, NULL, p, NULL, NULL, 0);
    sbuf_free(&q);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        diff(nd, "# %s: query failed: %s%s\n", key, PQerrorMessage(c), "");
        goto out;
    }
    const cJSON *recs = cJSON_GetObjectItemCaseSensitive(entry, "records");
    int nrec = cJSON_GetArraySize(recs), nrow = PQntuples(r);
    char cnt[64];
    snprintf(cnt, sizeof cnt, "%d records in the dump, %d live rows", nrec, nrow);
    if (nrec != nrow)
        diff(nd, "# %s @ %s: %s\n", key, loc, cnt);
    const char **ids = calloc((size_t)nrow + 1, sizeof *ids);
    for (int i = 0; i < nrow; i++)
        ids[i] = PQgetvalue(r, i, 0);
    const cJSON *rec;
    cJSON_ArrayForEach(rec, recs)
    {
        map_row want;
        sbuf w = SBUF_INIT;
        if (map_record_to_row(o, rec, loc, &want, &w, &e)) {
            diff(nd, "# %s: dump record unreadable: %s%s\n", key, e.msg, "");
            sbuf_free(&w);
            continue;
        }
        sbuf_free(&w);
        const char *id = want.values[0];
        const char **hit = bsearch(&id, ids, (size_t)nrow, sizeof *ids, cmp_str);
        if (!hit) {
            diff(nd, "# %s @ %s: record %s missing\n", key, loc, id);
            map_row_free(&want);
            continue;
        }
        int row = (int)(hit - ids);
        /* system columns */
        for (int k = 2; k < 6; k++) {
            const char *a = want.values[k],
                       *b = PQgetisnull(r, row, k) ? NULL : PQgetvalue(r, row, k);
            bool eq;
            if (k < 4) {
                cJSON *ja = NULL, *jb = NULL;
                if (a)
                    map_array_decode(a, &ja, &e);
                if (b)
                    map_array_decode(b, &jb, &e);
                eq = (!ja || !cJSON_GetArraySize(ja)) && (!jb || !cJSON_GetArraySize(jb))
                         ? true
                         : json_eq(ja, jb);
                cJSON_Delete(ja);
                cJSON_Delete(jb);
            } else {
                cJSON *sa = cJSON_CreateString(a ? a : ""), *sb = cJSON_CreateString(b ? b : "");
                eq = ps_time_ms(sa) == ps_time_ms(sb);
                cJSON_Delete(sa);
                cJSON_Delete(sb);
            }
            if (!eq) {
                char m[600];
                snprintf(m, sizeof m, "%s: want %s got %s", cols.columns[k], a ? a : "NULL",
                         b ? b : "NULL");
                diff(nd, "# %s record %s: %s\n", key, id, m);
            }
        }
        for (size_t fi = 0; fi < o->n_fields; fi++) {
            long cur;
            size_t k = map_field_column_index(o, fi, &cur);
            cJSON *ja = NULL, *jb = NULL;
            map_decode_field(&o->fields[fi], want.values[k], cur >= 0 ? want.values[cur] : NULL,
                             &ja, &e);
            const char *b1 = PQgetisnull(r, row, (int)k) ? NULL : PQgetvalue(r, row, (int)k);
            const char *b2 =
                cur < 0 || PQgetisnull(r, row, (int)cur) ? NULL : PQgetvalue(r, row, (int)cur);
            map_decode_field(&o->fields[fi], b1, b2, &jb, &e);
            if (!ja || !jb || !json_eq(ja, jb)) {
                char *sa = ja ? cJSON_PrintUnformatted(ja) : NULL;
                char *sb = jb ? cJSON_PrintUnformatted(jb) : NULL;
                char m[900];
                snprintf(m, sizeof m, "%s: want %.300s got %.300s", o->fields[fi].prop_key,
                         sa ? sa : "?", sb ? sb : "?");
                diff(nd, "# %s record %s: %s\n", key, id, m);
                free(sa);
                free(sb);
            }
            cJSON_Delete(ja);
            cJSON_Delete(jb);
        }
        map_row_free(&want);
    }
    free(ids);
out:
    PQclear(r);
    map_row_free(&cols);
    schema_object_free(o);
    return 0;
}

int tpull_compare(const tsim *s, PGconn *c, const char *schema)
{
    int nd = 0;
    char *dump = NULL;
    if (tsim_admin(s, "GET", "/_admin/state", NULL, &dump) != 200 || !dump) {
        printf("# cannot read the simulator's state\n");
        free(dump);
        return 1;
    }
    cJSON *j = cJSON_Parse(dump);
    free(dump);
    const char *top = getenv("GHLSYNC_TOP");
    char tp[1024];
    snprintf(tp, sizeof tp, "%s/mappings/types.toml", top ? top : ".");
    map_types *types = NULL;
    gs_err e = {0};
    if (map_types_load(tp, &types, &e) && map_types_builtin(&types, &e)) {
        cJSON_Delete(j);
        return 1;
    }
    PQclear(PQexec(c, "SET DateStyle = 'ISO, YMD'"));
    PQclear(PQexec(c, "SET TimeZone = 'UTC'"));
    const cJSON *loc;
    cJSON_ArrayForEach(loc, cJSON_GetObjectItemCaseSensitive(j, "locations"))
    {
        const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(loc, "id"));
        const cJSON *ob;
        cJSON_ArrayForEach(ob, cJSON_GetObjectItemCaseSensitive(loc, "objects"))
        {
            const char *key = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
                cJSON_GetObjectItemCaseSensitive(ob, "object"), "key"));
            if (key && records_supported(key))
                compare_object(c, schema, id, ob, types, &nd);
        }
    }
    map_types_free(types);
    cJSON_Delete(j);
    return nd;
}
