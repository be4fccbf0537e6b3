/* status.c - read ghlsync.status / ghlsync.runtime and render them for `ghlsync status`. */
#include "status.h"

#include "db.h"
#include "ident.h"
#include "sbuf.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Timestamps are formatted by PostgreSQL so that the client's time zone and DateStyle do not
 * matter; ages are computed against the database clock, the same clock the engine writes with. */
#define TS(col)  "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
#define AGE(col) "extract(epoch FROM now() - " col ")::float8"

/* clang-format off */
static const char sql_objects[] =
    "SELECT location_id, object_key, "
    "CASE WHEN table_name IS NULL THEN NULL ELSE table_schema || '.' || table_name END, "
    "rows, pull_mode, backfill_complete, backfill_fetched, backfill_total, "
    TS("last_pull_at") ", " AGE("last_pull_at") ", " TS("watermark") ", watermark_age_s, "
    "pending, failed, parked, conflicts, conflicts_24h, "
    TS("oldest_pending_at") ", " TS("last_push_at") ", last_error, quarantined "
    "FROM ghlsync.status ORDER BY location_id, object_key";
/* clang-format on */

static const char sql_runtime[] =
    "SELECT location_id, CASE WHEN day = (now() AT TIME ZONE 'UTC')::date THEN requests_today "
    "ELSE 0 END, daily_limit, daily_remaining, burst_limit, burst_remaining, requests_total, "
    "throttled_total, errors_total, rate_per_s, holder, " TS("updated_at") ", " AGE(
        "updated_at") ", last_error, " TS("last_error_at") " FROM ghlsync.runtime ORDER BY 1";

static const char sql_relations[] =
    "SELECT location_id, CASE WHEN day = (now() AT TIME ZONE 'UTC')::date THEN requests_today "
    "ELSE 0 END, budget_cap, " TS("last_full_at") ", " AGE("last_full_at") ", " TS(
        "last_incr_at") ", " AGE("last_incr_at") ", full_started_at IS NOT NULL, full_records, "
                                                 "last_full_records, last_full_requests, " TS(
                                                     "paused_until") ", last_error FROM "
                                                                     "ghlsync.relation_state ORDER "
                                                                     "BY 1";

static int collect_relations(PGconn *c, const struct cfg *cfg, struct status_report *rep,
                             gs_err *err);
/* Live leases: the process that serves each location (migration 009). */
static const char sql_leases[] =
    "SELECT l.location_id, l.host, l.pid, coalesce(h.kind, 'run'), " TS("l.acquired_at") ", " AGE(
        "l.acquired_at") " FROM ghlsync.leases l LEFT JOIN ghlsync.lease_holders h "
                         "ON h.holder = l.holder WHERE l.expires_at >= now() AND NOT l.released";

static char *dup_or_null(const PGresult *r, int row, int col)
{
    if (PQgetisnull(r, row, col))
        return NULL;
    return strdup(PQgetvalue(r, row, col));
}

static int64_t int_or_none(const PGresult *r, int row, int col)
{
    if (PQgetisnull(r, row, col))
        return STATUS_NONE;
    return strtoll(PQgetvalue(r, row, col), NULL, 10);
}

static double dbl_or_nan(const PGresult *r, int row, int col)
{
    if (PQgetisnull(r, row, col))
        return NAN;
    return strtod(PQgetvalue(r, row, col), NULL);
}

static struct status_location *find_loc(struct status_report *rep, const char *id)
{
    uintptr_t i = (uintptr_t)strmap_get(&rep->by_id, id);
    return i ? &rep->locations[i - 1] : NULL;
}

static struct status_location *add_loc(struct status_report *rep, const char *id)
{
    struct status_location *l = find_loc(rep, id);
    if (l)
        return l;
    struct status_location *v =
        realloc(rep->locations, (rep->n_locations + 1) * sizeof *rep->locations);
    if (!v)
        return NULL;
    rep->locations = v;
    l = &v[rep->n_locations];
    memset(l, 0, sizeof *l);
    l->location_id = strdup(id);
    if (!l->location_id ||
        strmap_put(&rep->by_id, l->location_id, (void *)(uintptr_t)(rep->n_locations + 1))) {
        free(l->location_id);
        return NULL;
    }
    rep->n_locations++;
    l->rate_per_s = NAN;
    l->runtime_age_s = NAN;
    l->lease_pid = STATUS_NONE;
    l->lease_age_s = NAN;
    return l;
}

static int oom(gs_err *err)
{
    return gs_err_set(err, GS_ENOMEM, "status: out of memory");
}

static int check_schema(PGconn *c, gs_err *err)
{
    PGresult *r = NULL;
    int rc = db_query(c,
                      "SELECT to_regclass('ghlsync.status') IS NOT NULL "
                      "AND to_regclass('ghlsync.quarantine') IS NOT NULL, "
                      "to_regnamespace('ghlsync') IS NOT NULL",
                      0, NULL, &r, err);
    if (rc)
        return rc;
    bool have_view = PQgetvalue(r, 0, 0)[0] == 't';
    bool have_schema = PQgetvalue(r, 0, 1)[0] == 't';
    PQclear(r);
    if (!have_schema)
        return gs_err_set(err, GS_ESTATE,
                          "this database has no ghlsync schema: nothing was synced into it yet "
                          "(HINT: run `ghlsync backfill` or `ghlsync run` first, or check "
                          "[database] url)");
    if (!have_view)
        return gs_err_set(err, GS_ESTATE,
                          "this database's ghlsync schema predates migration 006 (the "
                          "ghlsync.status view with quarantined records) (HINT: run `ghlsync "
                          "schema apply` or start `ghlsync "
                          "run` once with this version to apply the migrations)");
    return 0;
}

int status_collect(PGconn *c, const struct cfg *cfg, struct status_report *rep, gs_err *err)
{
    memset(rep, 0, sizeof *rep);
    int rc = check_schema(c, err);
    if (rc)
        return rc;
    PGresult *r = NULL;
    rc = db_query(c, "SELECT " TS("now()"), 0, NULL, &r, err);
    if (rc)
        return rc;
    rep->generated_at = strdup(PQgetvalue(r, 0, 0));
    PQclear(r);
    if (!rep->generated_at)
        return oom(err);

    for (size_t i = 0; cfg && i < cfg->n_locations; i++) {
        struct status_location *l = add_loc(rep, cfg->locations[i].id);
        if (!l)
            return oom(err);
        l->configured = true;
    }

    rc = db_query(c, sql_runtime, 0, NULL, &r, err);
    if (rc)
        return rc;
    for (int i = 0; i < PQntuples(r); i++) {
        struct status_location *l = add_loc(rep, PQgetvalue(r, i, 0));
        if (!l) {
            PQclear(r);
            return oom(err);
        }
        l->has_runtime = true;
        l->requests_today = int_or_none(r, i, 1);
        l->daily_limit = int_or_none(r, i, 2);
        l->daily_remaining = int_or_none(r, i, 3);
        l->burst_limit = int_or_none(r, i, 4);
        l->burst_remaining = int_or_none(r, i, 5);
        l->requests_total = int_or_none(r, i, 6);
        l->throttled_total = int_or_none(r, i, 7);
        l->errors_total = int_or_none(r, i, 8);
        l->rate_per_s = dbl_or_nan(r, i, 9);
        l->holder = dup_or_null(r, i, 10);
        l->runtime_updated_at = dup_or_null(r, i, 11);
        l->runtime_age_s = dbl_or_nan(r, i, 12);
        l->last_error = dup_or_null(r, i, 13);
        l->last_error_at = dup_or_null(r, i, 14);
    }
    PQclear(r);

    rc = db_query(c, "SELECT to_regclass('ghlsync.lease_holders') IS NOT NULL", 0, NULL, &r, err);
    if (rc)
        return rc;
    bool leases = PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    if (leases) {
        if ((rc = db_query(c, sql_leases, 0, NULL, &r, err)))
            return rc;
        for (int i = 0; i < PQntuples(r); i++) {
            struct status_location *l = add_loc(rep, PQgetvalue(r, i, 0));
            if (!l) {
                PQclear(r);
                return oom(err);
            }
            l->lease_host = dup_or_null(r, i, 1);
            l->lease_pid = int_or_none(r, i, 2);
            l->lease_kind = dup_or_null(r, i, 3);
            l->lease_since = dup_or_null(r, i, 4);
            l->lease_age_s = dbl_or_nan(r, i, 5);
        }
        PQclear(r);
    }

    rc = db_query(c, sql_objects, 0, NULL, &r, err);
    if (rc)
        return rc;
    for (int i = 0; i < PQntuples(r); i++) {
        struct status_location *l = add_loc(rep, PQgetvalue(r, i, 0));
        if (!l) {
            PQclear(r);
            return oom(err);
        }
        struct status_object *v = realloc(l->objects, (l->n_objects + 1) * sizeof *v);
        if (!v) {
            PQclear(r);
            return oom(err);
        }
        l->objects = v;
        struct status_object *o = &v[l->n_objects++];
        memset(o, 0, sizeof *o);
        o->object_key = dup_or_null(r, i, 1);
        o->table = dup_or_null(r, i, 2);
        o->rows = int_or_none(r, i, 3);
        o->pull_mode = dup_or_null(r, i, 4);
        o->backfill_complete = PQgetvalue(r, i, 5)[0] == 't';
        o->backfill_fetched = int_or_none(r, i, 6);
        o->backfill_total = int_or_none(r, i, 7);
        o->last_pull_at = dup_or_null(r, i, 8);
        o->last_pull_age_s = dbl_or_nan(r, i, 9);
        o->watermark = dup_or_null(r, i, 10);
        o->watermark_age_s = dbl_or_nan(r, i, 11);
        o->pending = int_or_none(r, i, 12);
        o->failed = int_or_none(r, i, 13);
        o->parked = int_or_none(r, i, 14);
        o->conflicts = int_or_none(r, i, 15);
        o->conflicts_24h = int_or_none(r, i, 16);
        o->oldest_pending_at = dup_or_null(r, i, 17);
        o->last_push_at = dup_or_null(r, i, 18);
        o->last_error = dup_or_null(r, i, 19);
        o->quarantined = int_or_none(r, i, 20);
        if (!o->object_key) {
            PQclear(r);
            return oom(err);
        }
    }
    PQclear(r);
    return collect_relations(c, cfg, rep, err);
}

/* The relations listing (008) and the relations table of the data schema, when present. */
static int collect_relations(PGconn *c, const struct cfg *cfg, struct status_report *rep,
                             gs_err *err)
{
    PGresult *r = NULL;
    int rc =
        db_query(c, "SELECT to_regclass('ghlsync.relation_state') IS NOT NULL", 0, NULL, &r, err);
    if (rc)
        return rc;
    bool have = PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    if (!have)
        return 0;
    if ((rc = db_query(c, sql_relations, 0, NULL, &r, err)))
        return rc;
    for (int i = 0; i < PQntuples(r); i++) {
        struct status_location *l = add_loc(rep, PQgetvalue(r, i, 0));
        if (!l) {
            PQclear(r);
            return oom(err);
        }
        struct status_relations *x = &l->rel;
        l->has_relations = true;
        x->requests_today = int_or_none(r, i, 1);
        x->budget_cap = int_or_none(r, i, 2);
        x->last_full_at = dup_or_null(r, i, 3);
        x->last_full_age_s = dbl_or_nan(r, i, 4);
        x->last_incr_at = dup_or_null(r, i, 5);
        x->last_incr_age_s = dbl_or_nan(r, i, 6);
        x->full_in_progress = PQgetvalue(r, i, 7)[0] == 't';
        x->full_records = int_or_none(r, i, 8);
        x->last_full_records = int_or_none(r, i, 9);
        x->last_full_requests = int_or_none(r, i, 10);
        x->paused_until = dup_or_null(r, i, 11);
        x->last_error = dup_or_null(r, i, 12);
        x->rows = x->pending = x->failed = STATUS_NONE;
    }
    PQclear(r);
    if (!cfg || !cfg->database.schema)
        return 0;
    sbuf q = SBUF_INIT;
    ident_quote(&q, cfg->database.schema);
    sbuf_puts(&q, ".relations");
    const char *p[1] = {sbuf_str(&q)};
    rc = db_query(c, "SELECT to_regclass($1) IS NOT NULL", 1, p, &r, err);
    if (!rc) {
        have = PQgetvalue(r, 0, 0)[0] == 't';
        PQclear(r);
        if (have) {
            sbuf sql = SBUF_INIT;
            sbuf_printf(&sql,
                        "SELECT location_id, count(*) FILTER (WHERE _deleted_at IS NULL AND id "
                        "IS NOT NULL), count(*) FILTER (WHERE _sync_state = 'pending'), count(*) "
                        "FILTER (WHERE _sync_state = 'failed') FROM %s GROUP BY 1",
                        sbuf_str(&q));
            rc = sbuf_failed(&sql) ? oom(err) : db_query(c, sbuf_str(&sql), 0, NULL, &r, err);
            sbuf_free(&sql);
            for (int i = 0; !rc && i < PQntuples(r); i++) {
                struct status_location *l = find_loc(rep, PQgetvalue(r, i, 0));
                if (!l || !l->has_relations)
                    continue;
                l->rel.rows = int_or_none(r, i, 1);
                l->rel.pending = int_or_none(r, i, 2);
                l->rel.failed = int_or_none(r, i, 3);
            }
            if (!rc)
                PQclear(r);
        }
    }
    sbuf_free(&q);
    return rc;
}

void status_report_free(struct status_report *r)
{
    for (size_t i = 0; i < r->n_locations; i++) {
        struct status_location *l = &r->locations[i];
        for (size_t j = 0; j < l->n_objects; j++) {
            struct status_object *o = &l->objects[j];
            free(o->object_key);
            free(o->table);
            free(o->pull_mode);
            free(o->last_pull_at);
            free(o->watermark);
            free(o->oldest_pending_at);
            free(o->last_push_at);
            free(o->last_error);
        }
        free(l->objects);
        free(l->rel.last_full_at);
        free(l->rel.last_incr_at);
        free(l->rel.paused_until);
        free(l->rel.last_error);
        free(l->location_id);
        free(l->holder);
        free(l->runtime_updated_at);
        free(l->lease_host);
        free(l->lease_kind);
        free(l->lease_since);
        free(l->last_error);
        free(l->last_error_at);
    }
    free(r->locations);
    free(r->generated_at);
    strmap_free(&r->by_id);
    memset(r, 0, sizeof *r);
}

void status_fmt_age(double s, char *out, size_t len)
{
    if (isnan(s)) {
        snprintf(out, len, "-");
        return;
    }
    if (s < 0)
        s = 0; /* clocks of two hosts: a watermark slightly in the future is "now" */
    long long t = (long long)s;
    if (t < 60)
        snprintf(out, len, "%llds", t);
    else if (t < 3600)
        snprintf(out, len, "%lldm%02llds", t / 60, t % 60);
    else if (t < 86400)
        snprintf(out, len, "%lldh%02lldm", t / 3600, (t % 3600) / 60);
    else
        snprintf(out, len, "%lldd%02lldh", t / 86400, (t % 86400) / 3600);
}

static void fmt_int(int64_t v, char *out, size_t len)
{
    if (v == STATUS_NONE)
        snprintf(out, len, "-");
    else
        snprintf(out, len, "%lld", (long long)v);
}

/* Error texts come from the API and PostgreSQL: keep one line and a bounded width. */
static void one_line(const char *s, char *out, size_t len)
{
    size_t j = 0;
    for (size_t i = 0; s[i] && j + 4 < len; i++)
        out[j++] = (s[i] == '\n' || s[i] == '\r' || s[i] == '\t') ? ' ' : s[i];
    if (s[j] && j + 4 >= len && len > 4) {
        memcpy(out + len - 4, "...", 3);
        j = len - 1;
    }
    out[j] = 0;
}

static void print_location(FILE *out, const struct status_location *l)
{
    char a[32], b[32], c[32], d[32];
    fprintf(out, "location %s%s\n", l->location_id, l->configured ? "" : "  (not in this config)");
    if (l->has_runtime) {
        fmt_int(l->requests_today, a, sizeof a);
        fmt_int(l->daily_remaining, b, sizeof b);
        fmt_int(l->burst_remaining, c, sizeof c);
        status_fmt_age(l->runtime_age_s, d, sizeof d);
        fprintf(out, "  requests today %s, remaining today %s, burst remaining %s", a, b, c);
        if (l->burst_limit != STATUS_NONE)
            fprintf(out, "/%lld", (long long)l->burst_limit);
        if (!isnan(l->rate_per_s))
            fprintf(out, ", rate %.2f/s", l->rate_per_s);
        fprintf(out, "  (engine %s, updated %s ago)\n", l->holder ? l->holder : "?", d);
        if (l->throttled_total > 0 || l->errors_total > 0)
            fprintf(out, "  since engine start: %lld requests, %lld throttled (429), %lld errors\n",
                    (long long)l->requests_total, (long long)l->throttled_total,
                    (long long)l->errors_total);
    } else {
        fprintf(out, "  requests: no engine has reported for this location yet\n");
    }
    if (l->lease_host) {
        status_fmt_age(l->lease_age_s, d, sizeof d);
        fprintf(out, "  served by `ghlsync %s` on %s (pid %lld) since %s (%s)\n",
                l->lease_kind ? l->lease_kind : "run", l->lease_host, (long long)l->lease_pid,
                l->lease_since ? l->lease_since : "?", d);
    } else {
        fprintf(out, "  served by: no process holds its lease now\n");
    }
    if (l->last_error) {
        char e[200];
        one_line(l->last_error, e, sizeof e);
        fprintf(out, "  last error (%s): %s\n", l->last_error_at ? l->last_error_at : "?", e);
    }
    if (l->has_relations) {
        const struct status_relations *x = &l->rel;
        char full[64], incr[64], rows[24], used[24], cap[24];
        if (isnan(x->last_full_age_s)) {
            snprintf(full, sizeof full, "never");
        } else {
            status_fmt_age(x->last_full_age_s, a, sizeof a);
            snprintf(full, sizeof full, "%s ago", a);
        }
        if (isnan(x->last_incr_age_s)) {
            snprintf(incr, sizeof incr, "never");
        } else {
            status_fmt_age(x->last_incr_age_s, b, sizeof b);
            snprintf(incr, sizeof incr, "%s ago", b);
        }
        fmt_int(x->rows, rows, sizeof rows);
        fmt_int(x->requests_today, used, sizeof used);
        fmt_int(x->budget_cap, cap, sizeof cap);
        fprintf(out,
                "  relations: %s rows, full listing %s, changed records %s, requests today %s of "
                "%s\n",
                rows, full, incr, used, cap);
        if (x->full_in_progress)
            fprintf(out, "    full listing in progress: %lld records listed\n",
                    (long long)x->full_records);
        if (x->paused_until)
            fprintf(out, "    paused by the budget cap until %s ([relations] budget_share)\n",
                    x->paused_until);
        if (x->pending > 0 || x->failed > 0)
            fprintf(out, "    local changes: %lld waiting, %lld failed (_sync_error)\n",
                    (long long)(x->pending > 0 ? x->pending : 0),
                    (long long)(x->failed > 0 ? x->failed : 0));
        if (x->last_error) {
            char e[200];
            one_line(x->last_error, e, sizeof e);
            fprintf(out, "    last error: %s\n", e);
        }
    }
    if (!l->n_objects) {
        fprintf(out, "  objects: none pulled yet\n\n");
        return;
    }
    fprintf(out, "  %-28s %-28s %9s %10s %10s %8s %7s %7s %9s\n", "OBJECT", "TABLE", "ROWS",
            "LAST PULL", "WM AGE", "PENDING", "FAILED", "PARKED", "CONFLICTS");
    for (size_t j = 0; j < l->n_objects; j++) {
        const struct status_object *o = &l->objects[j];
        char rows[24], pend[24], fail[24], park[24], conf[24], lp[40];
        fmt_int(o->rows, rows, sizeof rows);
        fmt_int(o->pending, pend, sizeof pend);
        fmt_int(o->failed, fail, sizeof fail);
        fmt_int(o->parked, park, sizeof park);
        fmt_int(o->conflicts, conf, sizeof conf);
        if (isnan(o->last_pull_age_s)) {
            snprintf(lp, sizeof lp, "never");
        } else {
            status_fmt_age(o->last_pull_age_s, a, sizeof a);
            snprintf(lp, sizeof lp, "%s ago", a);
        }
        status_fmt_age(o->watermark_age_s, b, sizeof b);
        fprintf(out, "  %-28s %-28s %9s %10s %10s %8s %7s %7s %9s\n", o->object_key,
                o->table ? o->table : "-", rows, lp, b, pend, fail, park, conf);
        if (!o->backfill_complete && o->pull_mode) {
            if (o->backfill_total != STATUS_NONE)
                fprintf(out, "    backfill in progress: %lld of %lld\n",
                        (long long)o->backfill_fetched, (long long)o->backfill_total);
            else
                fprintf(out, "    backfill in progress: %lld fetched\n",
                        (long long)o->backfill_fetched);
        }
        if (o->last_error) {
            char e[200];
            one_line(o->last_error, e, sizeof e);
            fprintf(out, "    last error: %s\n", e);
        }
        if (o->quarantined > 0)
            fprintf(out,
                    "    quarantined: %lld record(s) could not be stored (ghlsync.quarantine)\n",
                    (long long)o->quarantined);
    }
    fputc('\n', out);
}

int status_print_text(FILE *out, const struct status_report *r)
{
    fprintf(out, "ghlsync status at %s\n\n", r->generated_at ? r->generated_at : "?");
    if (!r->n_locations)
        fprintf(out, "no locations configured or known to the database\n");
    for (size_t i = 0; i < r->n_locations; i++)
        print_location(out, &r->locations[i]);
    int64_t failed = 0, parked = 0;
    for (size_t i = 0; i < r->n_locations; i++)
        for (size_t j = 0; j < r->locations[i].n_objects; j++) {
            failed += r->locations[i].objects[j].failed;
            parked += r->locations[i].objects[j].parked;
        }
    if (failed || parked)
        fprintf(out, "%lld failed and %lld parked change(s): see `ghlsync errors`\n",
                (long long)failed, (long long)parked);
    return ferror(out) ? -1 : 0;
}

static cJSON *jint(int64_t v)
{
    return v == STATUS_NONE ? cJSON_CreateNull() : cJSON_CreateNumber((double)v);
}

static cJSON *jdbl(double v)
{
    return isnan(v) ? cJSON_CreateNull() : cJSON_CreateNumber(v);
}

static cJSON *jstr(const char *s)
{
    return s ? cJSON_CreateString(s) : cJSON_CreateNull();
}

char *status_to_json(const struct status_report *r)
{
    cJSON *root = cJSON_CreateObject();
    if (!root)
        return NULL;
    cJSON_AddItemToObject(root, "generated_at", jstr(r->generated_at));
    cJSON *locs = cJSON_AddArrayToObject(root, "locations");
    for (size_t i = 0; locs && i < r->n_locations; i++) {
        const struct status_location *l = &r->locations[i];
        cJSON *jl = cJSON_CreateObject();
        if (!jl)
            break;
        cJSON_AddItemToArray(locs, jl);
        cJSON_AddItemToObject(jl, "location_id", jstr(l->location_id));
        cJSON_AddBoolToObject(jl, "configured", l->configured);
        cJSON_AddBoolToObject(jl, "engine_reported", l->has_runtime);
        cJSON_AddItemToObject(jl, "requests_today",
                              jint(l->has_runtime ? l->requests_today : STATUS_NONE));
        cJSON_AddItemToObject(jl, "daily_limit",
                              jint(l->has_runtime ? l->daily_limit : STATUS_NONE));
        cJSON_AddItemToObject(jl, "daily_remaining",
                              jint(l->has_runtime ? l->daily_remaining : STATUS_NONE));
        cJSON_AddItemToObject(jl, "burst_limit",
                              jint(l->has_runtime ? l->burst_limit : STATUS_NONE));
        cJSON_AddItemToObject(jl, "burst_remaining",
                              jint(l->has_runtime ? l->burst_remaining : STATUS_NONE));
        cJSON_AddItemToObject(jl, "rate_per_s", jdbl(l->rate_per_s));
        cJSON_AddItemToObject(jl, "requests_total",
                              jint(l->has_runtime ? l->requests_total : STATUS_NONE));
        cJSON_AddItemToObject(jl, "throttled_total",
                              jint(l->has_runtime ? l->throttled_total : STATUS_NONE));
        cJSON_AddItemToObject(jl, "errors_total",
                              jint(l->has_runtime ? l->errors_total : STATUS_NONE));
        cJSON_AddItemToObject(jl, "engine", jstr(l->holder));
        cJSON *ls = l->lease_host ? cJSON_CreateObject() : cJSON_CreateNull();
        if (l->lease_host) {
            cJSON_AddItemToObject(ls, "host", jstr(l->lease_host));
            cJSON_AddItemToObject(ls, "pid", jint(l->lease_pid));
            cJSON_AddItemToObject(ls, "command", jstr(l->lease_kind));
            cJSON_AddItemToObject(ls, "since", jstr(l->lease_since));
            cJSON_AddItemToObject(ls, "age_s", jdbl(l->lease_age_s));
        }
        cJSON_AddItemToObject(jl, "served_by", ls);
        cJSON_AddItemToObject(jl, "runtime_updated_at", jstr(l->runtime_updated_at));
        cJSON_AddItemToObject(jl, "runtime_age_s", jdbl(l->runtime_age_s));
        cJSON_AddItemToObject(jl, "last_error", jstr(l->last_error));
        cJSON_AddItemToObject(jl, "last_error_at", jstr(l->last_error_at));
        if (l->has_relations) {
            const struct status_relations *x = &l->rel;
            cJSON *jr = cJSON_AddObjectToObject(jl, "relations");
            if (jr) {
                cJSON_AddItemToObject(jr, "rows", jint(x->rows));
                cJSON_AddItemToObject(jr, "last_full_at", jstr(x->last_full_at));
                cJSON_AddItemToObject(jr, "last_full_age_s", jdbl(x->last_full_age_s));
                cJSON_AddItemToObject(jr, "last_incremental_at", jstr(x->last_incr_at));
                cJSON_AddItemToObject(jr, "last_incremental_age_s", jdbl(x->last_incr_age_s));
                cJSON_AddBoolToObject(jr, "full_in_progress", x->full_in_progress);
                cJSON_AddItemToObject(jr, "full_records", jint(x->full_records));
                cJSON_AddItemToObject(jr, "last_full_records", jint(x->last_full_records));
                cJSON_AddItemToObject(jr, "last_full_requests", jint(x->last_full_requests));
                cJSON_AddItemToObject(jr, "requests_today", jint(x->requests_today));
                cJSON_AddItemToObject(jr, "budget_cap", jint(x->budget_cap));
                cJSON_AddItemToObject(jr, "paused_until", jstr(x->paused_until));
                cJSON_AddItemToObject(jr, "pending", jint(x->pending));
                cJSON_AddItemToObject(jr, "failed", jint(x->failed));
                cJSON_AddItemToObject(jr, "last_error", jstr(x->last_error));
            }
        } else {
            cJSON_AddNullToObject(jl, "relations");
        }
        cJSON *objs = cJSON_AddArrayToObject(jl, "objects");
        for (size_t j = 0; objs && j < l->n_objects; j++) {
            const struct status_object *o = &l->objects[j];
            cJSON *jo = cJSON_CreateObject();
            if (!jo)
                break;
            cJSON_AddItemToArray(objs, jo);
            cJSON_AddItemToObject(jo, "object_key", jstr(o->object_key));
            cJSON_AddItemToObject(jo, "table", jstr(o->table));
            cJSON_AddItemToObject(jo, "rows", jint(o->rows));
            cJSON_AddItemToObject(jo, "pull_mode", jstr(o->pull_mode));
            cJSON_AddBoolToObject(jo, "backfill_complete", o->backfill_complete);
            cJSON_AddItemToObject(jo, "backfill_fetched", jint(o->backfill_fetched));
            cJSON_AddItemToObject(jo, "backfill_total", jint(o->backfill_total));
            cJSON_AddItemToObject(jo, "last_pull_at", jstr(o->last_pull_at));
            cJSON_AddItemToObject(jo, "last_pull_age_s", jdbl(o->last_pull_age_s));
            cJSON_AddItemToObject(jo, "watermark", jstr(o->watermark));
            cJSON_AddItemToObject(jo, "watermark_age_s", jdbl(o->watermark_age_s));
            cJSON_AddItemToObject(jo, "pending", jint(o->pending));
            cJSON_AddItemToObject(jo, "failed", jint(o->failed));
            cJSON_AddItemToObject(jo, "parked", jint(o->parked));
            cJSON_AddItemToObject(jo, "conflicts", jint(o->conflicts));
            cJSON_AddItemToObject(jo, "conflicts_24h", jint(o->conflicts_24h));
            cJSON_AddItemToObject(jo, "oldest_pending_at", jstr(o->oldest_pending_at));
            cJSON_AddItemToObject(jo, "last_push_at", jstr(o->last_push_at));
            cJSON_AddItemToObject(jo, "last_error", jstr(o->last_error));
            cJSON_AddItemToObject(jo, "quarantined", jint(o->quarantined));
        }
    }
    char *s = cJSON_Print(root);
    cJSON_Delete(root);
    return s;
}
