/* oauth.c - see oauth.h. */
#include "oauth.h"

#include "http.h"
#include "sbuf.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#define REFRESH_ATTEMPTS 3
/* After a refused refresh the stored row is re-read this many times, READ_DELAY_MS << (n-1)
 * apart after the first (immediate) one: 0, 150, 300, 600, 1200 ms, about 2.3 s in all, time
 * enough for the process that won the race to get its answer and commit it. */
#define REREADS       5
#define READ_DELAY_MS 150u
/* oa_expired's margin: a stored access token closer than this to its end is not adopted */
#define EXPIRY_MARGIN_MS 30000

struct oa_token {
    gs_loop *L;
    rl_loc *budget;
    rl_queue *queue;
    char *location_id;
    char *access, *refresh;
    int64_t expires_at_ms;
    unsigned gen;
    pga_conn *db;
    char *token_url, *client_id, *client_secret, *version, *user_type;
    oa_waiter *waiters;
    bool refreshing;
    bool in_http; /* a refresh HTTP call or save is in flight (free must not release under it) */
    bool freed;
    int attempt;
    rl_item item;
    /* a rotated pair that is not saved yet */
    char *p_access, *p_refresh;
    int64_t p_expires_ms; /* its lifetime from now (0 = unknown) */
    const char *p_event;  /* logged when it is installed; NULL: "oauth.refreshed" */
    long n_refresh, n_adopt;
    /* the stored row re-read (see oa_refresh): before a refresh, or after a refusal */
    bool read_before;
    int rereads;
    char *refused;     /* the refresh token refused last (compared with the stored one) */
    char *refused_msg; /* why, for the final failure */
    char *file;        /* refresh_token_file, rewritten on rotation; NULL = none */
    char *alt_refresh; /* the other candidate at start, tried once on a refusal */
    oa_load_cb load_cb;
    void *load_ud;
    /* agency: a pair is minted from the company's access token (oa_token_set_minter) */
    oa_token *company; /* borrowed */
    char *mint_url, *company_id;
    oa_waiter cwait;        /* queued on the company's refresh */
    bool waiting_company;   /* cwait is in company->waiters */
    bool company_refreshed; /* this mint already refreshed the company token once */
    long n_mint;
};

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static void free_all(oa_token *t)
{
    free(t->location_id);
    free(t->access);
    free(t->refresh);
    free(t->token_url);
    free(t->client_id);
    free(t->client_secret);
    free(t->version);
    free(t->user_type);
    free(t->p_access);
    free(t->p_refresh);
    free(t->refused);
    free(t->refused_msg);
    free(t->file);
    free(t->alt_refresh);
    free(t->mint_url);
    free(t->company_id);
    free(t);
}

oa_token *oa_token_new(gs_loop *L, rl_loc *budget, const char *location_id, const char *access,
                       const char *refresh, int64_t expires_at_ms, pga_conn *db, const oa_opts *o)
{
    oa_token *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->L = L;
    t->budget = budget;
    t->db = db;
    t->expires_at_ms = expires_at_ms;
    t->location_id = dup_or_null(location_id);
    t->access = dup_or_null(access);
    t->refresh = dup_or_null(refresh);
    t->token_url = dup_or_null(o ? o->token_url : NULL);
    t->client_id = dup_or_null(o ? o->client_id : NULL);
    t->client_secret = dup_or_null(o ? o->client_secret : NULL);
    t->version = strdup(o && o->version ? o->version : "2021-07-28");
    t->user_type = strdup(o && o->user_type ? o->user_type : "Location");
    t->queue = rl_queue_get(budget, "oauth", RL_PRIO_AUTH);
    if (!t->location_id || (access && !t->access) || (refresh && !t->refresh) || !t->version ||
        !t->user_type || !t->queue) {
        free_all(t);
        return NULL;
    }
    log_add_secret(L->log, access);
    log_add_secret(L->log, refresh);
    log_add_secret(L->log, t->client_secret);
    return t;
}

static void wake(oa_token *t, bool ok, const char *msg)
{
    oa_waiter *w = t->waiters;
    t->waiters = NULL;
    t->refreshing = false;
    while (w) {
        oa_waiter *n = w->next;
        w->next = NULL;
        w->done(w, ok, msg);
        w = n;
    }
}

void oa_token_free(oa_token *t)
{
    if (!t)
        return;
    if (t->waiting_company) { /* leave the company's queue: it must not wake freed memory */
        for (oa_waiter **p = &t->company->waiters; *p; p = &(*p)->next)
            if (*p == &t->cwait) {
                *p = t->cwait.next;
                break;
            }
        t->waiting_company = false;
    }
    rl_cancel(&t->item);
    wake(t, false, "shutting down");
    if (t->in_http) {
        t->freed = true; /* released when the call in flight ends */
        return;
    }
    free_all(t);
}

const char *oa_access(const oa_token *t)
{
    return t->access;
}

unsigned oa_gen(const oa_token *t)
{
    return t->gen;
}

bool oa_can_refresh(const oa_token *t)
{
    return t->refresh != NULL || t->p_refresh != NULL || t->company != NULL;
}

bool oa_expired(const oa_token *t, int64_t wall_ms)
{
    return t->access == NULL || (t->expires_at_ms > 0 && wall_ms + 30000 >= t->expires_at_ms);
}

long oa_refresh_count(const oa_token *t)
{
    return t->n_refresh;
}

long oa_mint_count(const oa_token *t)
{
    return t->n_mint;
}

long oa_adopt_count(const oa_token *t)
{
    return t->n_adopt;
}

int oa_token_set_user_type(oa_token *t, const char *user_type)
{
    char *u = strdup(user_type);
    if (!u)
        return GS_ENOMEM;
    free(t->user_type);
    t->user_type = u;
    return 0;
}

int oa_token_set_minter(oa_token *t, oa_token *company, const char *mint_url,
                        const char *company_id)
{
    char *m = strdup(mint_url), *c = strdup(company_id);
    if (!m || !c) {
        free(m);
        free(c);
        return GS_ENOMEM;
    }
    free(t->mint_url);
    free(t->company_id);
    t->mint_url = m;
    t->company_id = c;
    t->company = company;
    return 0;
}

int oa_token_set_client(oa_token *t, const char *client_id, const char *client_secret)
{
    char *i = dup_or_null(client_id), *s = dup_or_null(client_secret);
    if ((client_id && !i) || (client_secret && !s)) {
        free(i);
        free(s);
        return GS_ENOMEM;
    }
    free(t->client_id);
    free(t->client_secret);
    t->client_id = i;
    t->client_secret = s;
    log_add_secret(t->L->log, s);
    return 0;
}

int oa_token_set_file(oa_token *t, const char *path, const char *alt_refresh)
{
    char *f = dup_or_null(path), *a = dup_or_null(alt_refresh);
    if ((path && !f) || (alt_refresh && !a)) {
        free(f);
        free(a);
        return GS_ENOMEM;
    }
    free(t->file);
    free(t->alt_refresh);
    t->file = f;
    t->alt_refresh = a;
    log_add_secret(t->L->log, a);
    return 0;
}

int oa_write_token_file(const char *path, const char *token, gs_err *e)
{
    size_t n = strlen(path);
    char *tmp = malloc(n + 16), *dcopy = strdup(path);
    if (!tmp || !dcopy) {
        free(tmp);
        free(dcopy);
        return gs_err_set(e, GS_ENOMEM, "out of memory");
    }
    /* same directory as the target, so that rename() is atomic; mkstemp creates it 0600 */
    snprintf(tmp, n + 16, "%s.tmp-XXXXXX", path);
    int rc = 0;
    int fd = mkstemp(tmp);
    if (fd < 0) {
        rc = gs_err_set(e, GS_EIO, "cannot create a temporary file beside %s: %s", path,
                        strerror(errno));
        goto out;
    }
    size_t len = strlen(token);
    const char *p = token;
    size_t left = len;
    while (left && !rc) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            rc = gs_err_set(e, GS_EIO, "cannot write %s: %s", tmp, strerror(errno));
        else {
            p += w;
            left -= (size_t)w;
        }
    }
    if (!rc && write(fd, "\n", 1) != 1)
        rc = gs_err_set(e, GS_EIO, "cannot write %s: %s", tmp, strerror(errno));
    if (!rc && fsync(fd) != 0)
        rc = gs_err_set(e, GS_EIO, "cannot fsync %s: %s", tmp, strerror(errno));
    if (close(fd) != 0 && !rc)
        rc = gs_err_set(e, GS_EIO, "cannot close %s: %s", tmp, strerror(errno));
    if (!rc && rename(tmp, path) != 0)
        rc = gs_err_set(e, GS_EIO, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
    if (rc) {
        unlink(tmp);
        goto out;
    }
    /* the rename itself is durable only once the directory is */
    int dfd = open(dirname(dcopy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        if (fsync(dfd) != 0)
            rc = gs_err_set(e, GS_EIO, "cannot fsync the directory of %s: %s", path,
                            strerror(errno));
        close(dfd);
    }
out:
    free(tmp);
    free(dcopy);
    return rc;
}

static void install(oa_token *t)
{
    free(t->access);
    free(t->refresh);
    t->access = t->p_access;
    t->refresh = t->p_refresh;
    t->p_access = t->p_refresh = NULL;
    t->expires_at_ms = t->p_expires_ms > 0 ? (int64_t)gs_wall_ms() + t->p_expires_ms : 0;
    t->gen++;
}

static void finish_rotation(oa_token *t)
{
    /* both start-up candidates are spent now */
    free(t->alt_refresh);
    t->alt_refresh = NULL;
    const char *ev = t->p_event ? t->p_event : "oauth.refreshed";
    t->p_event = NULL;
    install(t);
    log_event(t->L->log, LOG_INFO, ev, "location", t->location_id, NULL);
    wake(t, true, NULL);
}

struct file_job {
    uv_work_t req;
    oa_token *t;
    char *path, *token;
    gs_err err;
    int rc;
    char *fail; /* NULL: the database has the pair, use it; else why the rotation failed */
};

static void file_work(uv_work_t *req)
{
    struct file_job *j = req->data;
    j->rc = oa_write_token_file(j->path, j->token, &j->err);
}

static void file_done(uv_work_t *req, int status)
{
    struct file_job *j = req->data;
    oa_token *t = j->t;
    t->in_http = false;
    if (t->freed) {
        free_all(t);
    } else {
        if (status != 0 || j->rc != 0)
            log_event(t->L->log, LOG_ERROR, "oauth.file_not_written", "location", t->location_id,
                      "file", j->path, "error", status != 0 ? uv_strerror(status) : j->err.msg,
                      "msg",
                      j->fail ? "the rotated refresh token is in memory only"
                              : "the rotated refresh token is saved in the database only; a "
                                "fresh or restored database with this configuration would need "
                                "re-authorisation",
                      NULL);
        if (j->fail)
            wake(t, false, j->fail);
        else
            finish_rotation(t);
    }
    free(j->path);
    free(j->token);
    free(j->fail);
    free(j);
}

/* Write the operator's file with the pending refresh token, then (fail == NULL: the database
 * has the pair, or there is none) use it, or (fail: the database save failed) report `fail`
 * to the waiters. Writing the file in the second case too means a crash before the save is
 * retried does not lose the only valid refresh token: at start the newer file wins. */
static void write_file_then(oa_token *t, const char *fail)
{
    if (!t->file || !t->p_refresh) { /* no file, or a minted access token alone: nothing to keep */
        if (fail)
            wake(t, false, fail);
        else
            finish_rotation(t);
        return;
    }
    struct file_job *j = calloc(1, sizeof *j);
    if (j) {
        j->t = t;
        j->path = strdup(t->file);
        j->token = strdup(t->p_refresh);
        j->fail = fail ? strdup(fail) : NULL;
        j->req.data = j;
    }
    if (!j || !j->path || !j->token || (fail && !j->fail) ||
        uv_queue_work(&t->L->uv, &j->req, file_work, file_done) != 0) {
        if (j) {
            free(j->path);
            free(j->token);
            free(j->fail);
            free(j);
        }
        log_event(t->L->log, LOG_ERROR, "oauth.file_not_written", "location", t->location_id,
                  "file", t->file, "error", "could not start the write", NULL);
        if (fail)
            wake(t, false, fail);
        else
            finish_rotation(t);
        return;
    }
    t->in_http = true;
}

static void saved(pga_conn *c, PGresult *const *res, int nres, const pga_error *err, void *ud)
{
    (void)c;
    (void)res;
    (void)nres;
    oa_token *t = ud;
    t->in_http = false;
    if (t->freed) {
        free_all(t);
        return;
    }
    if (err) {
        log_event(t->L->log, LOG_ERROR, "oauth.save_failed", "location", t->location_id, "error",
                  err->err.msg, "msg",
                  "the refresh token rotated but could not be saved; it is kept in memory and the "
                  "save is retried on the next refresh",
                  NULL);
        char m[1200];
        snprintf(m, sizeof m, "token refreshed but not saved to ghlsync.oauth_tokens: %s",
                 err->err.msg);
        write_file_then(t, m);
        return;
    }
    write_file_then(t, NULL);
}

static void save_pending(oa_token *t)
{
    if (!t->db) {
        if (!t->file)
            log_event(t->L->log, LOG_WARN, "oauth.not_persisted", "location", t->location_id, "msg",
                      "no database given: the rotated refresh token lives in memory only", NULL);
        write_file_then(t, NULL);
        return;
    }
    char exp[32];
    snprintf(exp, sizeof exp, "%lld",
             t->p_expires_ms > 0 ? (long long)(t->p_expires_ms / 1000) : 0LL);
    const char *v[4] = {t->location_id, t->p_access, t->p_refresh, exp};
    pga_stmt st = {"INSERT INTO ghlsync.oauth_tokens AS o "
                   "(location_id, access_token, refresh_token, expires_at, updated_at) "
                   "VALUES ($1, $2, $3, CASE WHEN $4::int > 0 THEN now() + make_interval(secs => "
                   "$4::int) END, now()) "
                   "ON CONFLICT (location_id) DO UPDATE SET access_token = excluded.access_token, "
                   "refresh_token = excluded.refresh_token, expires_at = excluded.expires_at, "
                   "updated_at = now()",
                   4, v};
    gs_err e;
    if (pga_tx(t->db, &st, 1, saved, t, &e) != 0) {
        wake(t, false, e.msg);
        return;
    }
    t->in_http = true;
}

static void start_mint(oa_token *t);
static void grant(rl_item *it);
static void read_grant(rl_item *it);
static void refused_final(oa_token *t);

/* A 200 whose body holds a new pair (a refresh's or a mint's answer: the same shape): keep it
 * pending, its secrets masked in every log line from now on, and persist it before any use
 * (save_pending). `event`, when not NULL, is logged first. False when the answer holds no pair:
 * the caller decides between retrying and failing. `minted`: a mint's answer, which may hold an
 * access token alone (decisions.md, agency OAuth): it is saved with refresh_token NULL and the
 * next expiry or 401 mints again (grant) instead of refreshing. */
static bool take_pair(oa_token *t, const http_result *r, long *counter, const char *event,
                      const char *keep, bool minted)
{
    cJSON *j = r->status == 200 && r->body ? cJSON_ParseWithLength(r->body, r->body_len) : NULL;
    const cJSON *at = cJSON_GetObjectItemCaseSensitive(j, "access_token");
    const cJSON *rt = cJSON_GetObjectItemCaseSensitive(j, "refresh_token");
    const cJSON *ex = cJSON_GetObjectItemCaseSensitive(j, "expires_in");
    /* a refresh answered without a refresh token did not rotate it: the one sent stays valid */
    const char *rv = cJSON_IsString(rt) ? rt->valuestring : keep;
    if (!cJSON_IsString(at) || (!rv && !minted)) {
        cJSON_Delete(j);
        return false;
    }
    (*counter)++;
    free(t->p_access);
    free(t->p_refresh);
    t->p_access = strdup(at->valuestring);
    t->p_refresh = rv ? strdup(rv) : NULL;
    t->p_expires_ms =
        cJSON_IsNumber(ex) && ex->valuedouble > 0 ? (int64_t)ex->valuedouble * 1000 : 0;
    t->p_event = NULL;
    cJSON_Delete(j);
    if (!t->p_access || (rv && !t->p_refresh)) {
        free(t->p_access);
        free(t->p_refresh);
        t->p_access = t->p_refresh = NULL;
        wake(t, false, "out of memory");
        return true;
    }
    log_add_secret(t->L->log, t->p_access);
    log_add_secret(t->L->log, t->p_refresh);
    if (event)
        log_event(t->L->log, LOG_INFO, event, "location", t->location_id, "refresh_token",
                  rv ? "yes" : "none", NULL);
    save_pending(t);
    return true;
}

static void on_refresh_response(http_result *r, void *ud)
{
    oa_token *t = ud;
    t->in_http = false;
    rl_complete(t->budget, &r->rate, r->status);
    if (t->freed) {
        free_all(t);
        return;
    }
    if (take_pair(t, r, &t->n_refresh, NULL, t->refresh, false))
        return;
    bool transient = r->status == 0 || r->status == 429 || r->status >= 500 ||
                     (r->status == 200); /* 200 with a cut body */
    char m[600];
    if (r->status == 0)
        snprintf(m, sizeof m, "token refresh failed: %s", r->error ? r->error : "no response");
    else
        snprintf(m, sizeof m, "token refresh answered HTTP %ld: %.400s", r->status,
                 r->body ? r->body : "");
    if (!transient && (r->status == 400 || r->status == 401) && t->alt_refresh &&
        strcmp(t->alt_refresh, t->refresh ? t->refresh : "") != 0) {
        /* the start-up choice between the file and the database was wrong: try the other */
        log_event(t->L->log, LOG_WARN, "oauth.try_other_token", "location", t->location_id, "error",
                  m, "msg", "the chosen refresh token was refused; trying the other stored copy",
                  NULL);
        free(t->refresh);
        t->refresh = t->alt_refresh;
        t->alt_refresh = NULL;
        rl_submit(t->queue, &t->item);
        return;
    }
    if (transient && ++t->attempt < REFRESH_ATTEMPTS) {
        log_event(t->L->log, LOG_WARN, "oauth.retry", "location", t->location_id, "error", m, NULL);
        rl_submit_after(t->queue, &t->item, 500u << t->attempt);
        return;
    }
    if (!transient && (r->status == 400 || r->status == 401)) {
        /* spent or revoked: maybe by another process sharing this pair (see oa_refresh) */
        free(t->refused);
        free(t->refused_msg);
        t->refused = dup_or_null(t->refresh);
        t->refused_msg = strdup(m);
        if (t->db) {
            log_event(t->L->log, LOG_INFO, "oauth.refused_reread", "location", t->location_id,
                      "error", m, "msg",
                      "the refresh token was refused; looking for a newer pair stored by another "
                      "process",
                      NULL);
            t->item.grant = read_grant;
            rl_submit(t->queue, &t->item);
            return;
        }
        refused_final(t);
        return;
    }
    log_event(t->L->log, LOG_ERROR, "oauth.refresh_failed", "location", t->location_id, "error", m,
              NULL);
    wake(t, false, m);
}

/* ---- the stored row: a pair another process rotated or minted ------------------------------ */

/* The refusal is real: the stored pair is the refused one (or there is none). */
static void refused_final(oa_token *t)
{
    const char *m = t->refused_msg ? t->refused_msg : "the refresh token was refused";
    if (t->company) {
        /* an agency location: its refresh token is spent or revoked, but the company can
         * mint a new pair (refused too when the app was uninstalled there) */
        log_event(t->L->log, LOG_WARN, "oauth.remint", "location", t->location_id, "error", m,
                  "msg", "the refresh token was refused; minting a new pair from the company token",
                  NULL);
        free(t->refresh);
        t->refresh = NULL;
        start_mint(t);
        return;
    }
    log_event(t->L->log, LOG_ERROR, "oauth.refresh_failed", "location", t->location_id, "error", m,
              NULL);
    wake(t, false, m);
}

/* Use the stored pair: through the same path as a rotation (the operator's file follows it,
 * then it is installed and the waiters woken), but not saved again, and not counted as a
 * refresh. `rem_ms` is its remaining lifetime by the database's clock (0 = unknown). */
static void adopt(oa_token *t, const char *access, const char *refresh, int64_t rem_ms)
{
    free(t->p_access);
    free(t->p_refresh);
    t->p_access = strdup(access);
    t->p_refresh = dup_or_null(refresh); /* NULL: an agency location's access token alone */
    t->p_expires_ms = rem_ms;
    if (!t->p_access || (refresh && !t->p_refresh)) {
        free(t->p_access);
        free(t->p_refresh);
        t->p_access = t->p_refresh = NULL;
        wake(t, false, "out of memory");
        return;
    }
    log_add_secret(t->L->log, t->p_access);
    log_add_secret(t->L->log, t->p_refresh);
    t->n_adopt++;
    t->p_event = "oauth.adopted";
    write_file_then(t, NULL);
}

static void read_done(pga_conn *c, PGresult *const *res, int nres, const pga_error *err, void *ud)
{
    (void)c;
    oa_token *t = ud;
    t->in_http = false;
    if (t->freed) {
        free_all(t);
        return;
    }
    bool found = !err && nres == 1 && PQntuples(res[0]) == 1;
    const char *acc = found && !PQgetisnull(res[0], 0, 0) ? PQgetvalue(res[0], 0, 0) : NULL;
    /* NULL: minted without a refresh token (an agency location only) */
    const char *ref = found && !PQgetisnull(res[0], 0, 1) ? PQgetvalue(res[0], 0, 1) : NULL;
    bool known = found && !PQgetisnull(res[0], 0, 2);
    int64_t rem = known ? (int64_t)strtoll(PQgetvalue(res[0], 0, 2), NULL, 10) : 0;
    log_add_secret(t->L->log, acc);
    log_add_secret(t->L->log, ref);
    if (err)
        log_event(t->L->log, LOG_WARN, "oauth.read_failed", "location", t->location_id, "error",
                  err->err.msg, NULL);
    /* an access token this process does not use yet, still valid by the database's clock; one
     * without a refresh token only where a new one can be minted when it expires */
    bool fresh = acc && strcmp(acc, t->access ? t->access : "") != 0 &&
                 (!known || rem > EXPIRY_MARGIN_MS) && (ref ? ref[0] != 0 : t->company != NULL);
    if (t->read_before) {
        t->read_before = false;
        if (fresh) {
            adopt(t, acc, ref, rem);
            return;
        }
        t->item.grant = grant;
        rl_submit(t->queue, &t->item);
        return;
    }
    if (fresh && !ref) { /* another process minted an access token alone since the refusal */
        adopt(t, acc, NULL, rem);
        return;
    }
    if (ref && ref[0] && strcmp(ref, t->refused ? t->refused : "") != 0) {
        if (fresh) {
            adopt(t, acc, ref, rem);
            return;
        }
        /* a newer refresh token whose access token is stale: refresh with it (counted as a
         * re-read, so that refusals of ever newer tokens still end) */
        if (++t->rereads >= REREADS) {
            refused_final(t);
            return;
        }
        char *r = strdup(ref);
        if (!r) {
            wake(t, false, "out of memory");
            return;
        }
        free(t->refresh);
        t->refresh = r;
        log_event(t->L->log, LOG_INFO, "oauth.try_stored_token", "location", t->location_id, "msg",
                  "another process stored a newer refresh token; refreshing with it", NULL);
        t->attempt = 0;
        t->item.grant = grant;
        rl_submit(t->queue, &t->item);
        return;
    }
    if (++t->rereads < REREADS) {
        t->item.grant = read_grant;
        rl_submit_after(t->queue, &t->item, READ_DELAY_MS << (t->rereads - 1));
        return;
    }
    refused_final(t);
}

static void read_grant(rl_item *it)
{
    oa_token *t = (oa_token *)((char *)it - offsetof(oa_token, item));
    rl_complete(t->budget, NULL, 0); /* nothing sent to the API */
    const char *v[1] = {t->location_id};
    gs_err e = {0};
    if (pga_query(t->db,
                  "SELECT access_token, refresh_token, "
                  "(extract(epoch FROM expires_at - now()) * 1000)::bigint "
                  "FROM ghlsync.oauth_tokens WHERE location_id = $1",
                  1, v, read_done, t, &e) == 0) {
        t->in_http = true;
        return;
    }
    log_event(t->L->log, LOG_WARN, "oauth.read_failed", "location", t->location_id, "error", e.msg,
              NULL);
    if (t->read_before) { /* refresh as if nothing were stored */
        t->read_before = false;
        t->item.grant = grant;
        rl_submit(t->queue, &t->item);
    } else {
        refused_final(t);
    }
}

/* ---- minting (agency) -------------------------------------------------------------------- */

static void mint_grant(rl_item *it);

static void company_done(oa_waiter *w, bool ok, const char *msg)
{
    oa_token *t = (oa_token *)((char *)w - offsetof(oa_token, cwait));
    t->waiting_company = false;
    if (!ok) {
        char m[700];
        snprintf(m, sizeof m, "cannot mint a location token: the company token: %.600s",
                 msg ? msg : "refresh failed");
        log_event(t->L->log, LOG_ERROR, "oauth.mint_failed", "location", t->location_id, "error", m,
                  NULL);
        wake(t, false, m);
        return;
    }
    rl_submit(t->queue, &t->item); /* item.grant is mint_grant */
}

static void refresh_company(oa_token *t)
{
    t->company_refreshed = true;
    t->waiting_company = true;
    t->cwait.done = company_done;
    oa_refresh(t->company, &t->cwait);
}

static void on_mint_response(http_result *r, void *ud)
{
    oa_token *t = ud;
    t->in_http = false;
    rl_complete(t->budget, &r->rate, r->status);
    if (t->freed) {
        free_all(t);
        return;
    }
    if (take_pair(t, r, &t->n_mint, "oauth.minted", NULL, true))
        return;
    if (r->status == 401 && !t->company_refreshed) {
        refresh_company(t); /* the company token expired early or was rotated elsewhere */
        return;
    }
    bool transient = r->status == 0 || r->status == 429 || r->status >= 500 || r->status == 200;
    char m[600];
    if (r->status == 0)
        snprintf(m, sizeof m, "location token mint failed: %s",
                 r->error ? r->error : "no response");
    else
        snprintf(m, sizeof m, "location token mint answered HTTP %ld: %.400s", r->status,
                 r->body ? r->body : "");
    if (transient && ++t->attempt < REFRESH_ATTEMPTS) {
        log_event(t->L->log, LOG_WARN, "oauth.retry", "location", t->location_id, "error", m, NULL);
        rl_submit_after(t->queue, &t->item, 500u << t->attempt);
        return;
    }
    log_event(t->L->log, LOG_ERROR, "oauth.mint_failed", "location", t->location_id, "error", m,
              NULL);
    wake(t, false, m);
}

static void mint_grant(rl_item *it)
{
    oa_token *t = (oa_token *)((char *)it - offsetof(oa_token, item));
    oa_token *c = t->company;
    if (!oa_access(c) || oa_expired(c, (int64_t)gs_wall_ms())) {
        rl_complete(t->budget, NULL, 0); /* nothing sent */
        if (t->company_refreshed) {
            wake(t, false, "cannot mint a location token: no valid company access token");
            return;
        }
        refresh_company(t);
        return;
    }
    sbuf form = SBUF_INIT;
    sbuf_puts(&form, "companyId=");
    http_escape(&form, t->company_id);
    sbuf_puts(&form, "&locationId=");
    http_escape(&form, t->location_id);
    sbuf auth = SBUF_INIT;
    sbuf_printf(&auth, "Authorization: Bearer %s", oa_access(c));
    char ver[80];
    snprintf(ver, sizeof ver, "Version: %s", t->version);
    const char *hdrs[] = {"Content-Type: application/x-www-form-urlencoded",
                          "Accept: application/json", ver, sbuf_str(&auth), NULL};
    size_t len = form.len;
    http_req rq = {.method = "POST",
                   .url = t->mint_url,
                   .headers = hdrs,
                   .body = sbuf_steal(&form),
                   .body_len = len,
                   .fresh_connect = true};
    gs_err e;
    int rc = rq.body && !sbuf_failed(&auth) ? http_send(t->L->http, &rq, on_mint_response, t, &e)
                                            : GS_ENOMEM;
    sbuf_free(&auth);
    if (rc != 0) {
        rl_complete(t->budget, NULL, 0);
        wake(t, false, rq.body ? e.msg : "out of memory");
        return;
    }
    t->in_http = true;
}

static void start_mint(oa_token *t)
{
    t->attempt = 0;
    t->company_refreshed = false;
    t->item.grant = mint_grant;
    rl_submit(t->queue, &t->item);
}

static void grant(rl_item *it)
{
    oa_token *t = (oa_token *)((char *)it - offsetof(oa_token, item));
    if (!t->refresh && t->company) {
        t->company_refreshed = false;
        t->item.grant = mint_grant;
        mint_grant(it); /* an agency location without a pair yet */
        return;
    }
    if (!t->refresh || !t->token_url || !t->client_id) {
        rl_complete(t->budget, NULL, 0);
        wake(t, false,
             !t->refresh ? "static token rejected (401) and no refresh token to renew it"
                         : "OAuth refresh not configured (token URL or client id missing)");
        return;
    }
    sbuf form = SBUF_INIT;
    sbuf_puts(&form, "grant_type=refresh_token&refresh_token=");
    http_escape(&form, t->refresh);
    sbuf_puts(&form, "&client_id=");
    http_escape(&form, t->client_id ? t->client_id : "");
    sbuf_puts(&form, "&client_secret=");
    http_escape(&form, t->client_secret ? t->client_secret : "");
    sbuf_puts(&form, "&user_type=");
    http_escape(&form, t->user_type);
    char ver[80];
    snprintf(ver, sizeof ver, "Version: %s", t->version);
    const char *hdrs[] = {"Content-Type: application/x-www-form-urlencoded",
                          "Accept: application/json", ver, NULL};
    size_t len = form.len;
    http_req rq = {.method = "POST",
                   .url = t->token_url,
                   .headers = hdrs,
                   .body = sbuf_steal(&form),
                   .body_len = len,
                   .fresh_connect = true};
    gs_err e;
    if (!rq.body || http_send(t->L->http, &rq, on_refresh_response, t, &e) != 0) {
        rl_complete(t->budget, NULL, 0);
        wake(t, false, rq.body ? e.msg : "out of memory");
        return;
    }
    t->in_http = true;
}

void oa_refresh(oa_token *t, oa_waiter *w)
{
    w->next = t->waiters;
    t->waiters = w;
    if (t->refreshing)
        return;
    t->refreshing = true;
    t->attempt = 0;
    t->rereads = 0;
    if (t->p_access) {
        /* a rotated or minted pair is waiting to be saved: save it rather than spend it */
        save_pending(t);
        return;
    }
    /* grant and read_grant also report "cannot refresh" from the loop, never inline */
    if (t->db) {
        /* another process with the same configuration may have rotated this pair (or minted
         * one) already: a valid stored access token is used instead of spending the refresh
         * token again */
        t->read_before = true;
        t->item.grant = read_grant;
    } else {
        t->item.grant = grant;
    }
    rl_submit(t->queue, &t->item);
}

static void loaded(pga_conn *c, PGresult *const *res, int nres, const pga_error *err, void *ud)
{
    (void)c;
    oa_token *t = ud;
    t->in_http = false;
    if (t->freed) {
        free_all(t);
        return;
    }
    bool found = false;
    if (!err && nres == 1 && PQntuples(res[0]) == 1) {
        found = true;
        /* a NULL refresh token (minted without one): an agency location mints when its access
         * token expires (grant); any other keeps the refresh token it was given */
        char *rt = PQgetisnull(res[0], 0, 1) ? NULL : strdup(PQgetvalue(res[0], 0, 1));
        char *at = PQgetisnull(res[0], 0, 0) ? NULL : strdup(PQgetvalue(res[0], 0, 0));
        if (rt || t->company) {
            free(t->refresh);
            t->refresh = rt;
            log_add_secret(t->L->log, rt);
        }
        free(t->access);
        t->access = at;
        log_add_secret(t->L->log, at);
        t->expires_at_ms = PQgetisnull(res[0], 0, 2)
                               ? 0
                               : (int64_t)gs_wall_ms() + (int64_t)atoll(PQgetvalue(res[0], 0, 2));
        t->gen++;
    }
    t->load_cb(t, found, err ? err->err.msg : NULL, t->load_ud);
}

int oa_load(oa_token *t, oa_load_cb cb, void *ud, gs_err *e)
{
    if (!t->db)
        return gs_err_set(e, GS_ESTATE, "no database to load the OAuth tokens from");
    t->load_cb = cb;
    t->load_ud = ud;
    const char *v[1] = {t->location_id};
    int rc = pga_query(t->db,
                       "SELECT access_token, refresh_token, "
                       "(extract(epoch FROM expires_at - now()) * 1000)::bigint "
                       "FROM ghlsync.oauth_tokens WHERE location_id = $1",
                       1, v, loaded, t, e);
    if (rc == 0)
        t->in_http = true;
    return rc;
}
