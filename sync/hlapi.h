/*
 * hlapi.h - typed, asynchronous calls to the HighLevel API 2.0 for the pull and push workers.
 *
 * Every call goes through the location's rate budget (ratelimit.h) with the caller's priority and
 * queue name, then HTTP (http.h); the answer comes back to one callback with a small set of
 * outcome kinds that callers act on:
 *
 *   HL_OK              2xx (and 404 on DELETE: the record is already gone).
 *   HL_RETRYABLE       5xx, connection reset, timeout, 429, malformed or truncated JSON on a read -
 *                      reported only after `max_attempts` tries with exponential backoff and full
 *                      jitter (429s wait on the budget and do not use up attempts, up to 50).
 *                      The caller may try again later.
 *   HL_AUTH            401 that a token refresh could not cure (static token, refresh failed,
 *                      or still 401 after one refresh).
 *   HL_REJECTED        400/403/404/409/422 and other 4xx: never retried; `message` holds the
 *                      API's message verbatim (a string, or an array of strings joined by "; ";
 *                      the array itself is in `json`).
 *   HL_UNKNOWN_OUTCOME a create (POST .../records, not idempotent) whose answer never arrived or
 *                      was cut after the request left (reset, timeout, 502/504, unreadable 2xx
 *                      body): NEVER retried automatically; the caller must look the record up or
 *                      park the change. PUT and DELETE are idempotent and are retried instead.
 *
 * Auth: Authorization: Bearer <token>, Version (default 2021-07-28), Accept: application/json,
 * Content-Type on bodies. On a 401 with a refreshable token the request joins the location's
 * single refresh in flight (oauth.h), which persists the rotated pair before use, then retries.
 *
 * Threading: loop thread only; the callback runs later from the loop, never inside the call.
 *
 * Ownership: every string and cJSON argument is borrowed for the duration of the call only (it is
 * copied or serialised before the call returns). The hl_result and everything it points to is
 * valid only during the callback, except `json`: the callback may take it by setting
 * `r->json = NULL` after keeping the pointer (then it must cJSON_Delete it). Not so for a call
 * made with `answer_borrowed` (a search page, read once and copied from): its successful answer
 * may be parsed into an arena (jdoc.h), freed whole after the callback, so the callback only
 * reads it and keeps copies, or takes the whole answer with hl_result_take (either kind).
 *
 * Example (a pull worker):
 *   hl_search s = {.page_limit = 100, .search_after = cursor};
 *   hl_search_records(loc, "custom_objects.pet", &s, RL_PRIO_BACKFILL, NULL, on_page, w, &e);
 *   static void on_page(hl_result *r, void *ud) {
 *       if (r->kind == HL_OK) { cJSON *recs = cJSON_GetObjectItem(r->json, "records"); ... }
 *   }
 */
#ifndef GHLSYNC_HLAPI_H
#define GHLSYNC_HLAPI_H

#include "err.h"
#include "http.h"
#include "loop.h"
#include "oauth.h"
#include "pgasync.h"
#include "ratelimit.h"
#include "salvage.h"

#include <cjson/cJSON.h>
#include <stdbool.h>

typedef struct hl_client_opts {
    const char *base_url;      /* default https://services.leadconnectorhq.com (no trailing /) */
    const char *version;       /* Version header; default 2021-07-28 */
    rl_params rate;            /* per-location budget defaults (burst, window_ms, daily, ...) */
    int max_attempts;          /* for retryable failures; default 5 */
    long backoff_base_ms;      /* default 250 */
    long backoff_max_ms;       /* default 20000 */
    long timeout_ms;           /* per attempt; 0 = the HTTP engine's total timeout */
    const char *client_id;     /* OAuth app (for refresh) */
    const char *client_secret; /* never logged */
    /* Called on the loop for every HTTP answer (each attempt, 429s included) with a stable
     * endpoint name ("search", "create", "get_record", "update", "delete", "list_objects",
     * "get_schema", "custom_fields"), the status (0 = no answer) and the rate headers seen.
     * For metrics; NULL = none. `location` is valid only during the call. */
    void (*on_answer)(void *ud, const char *location, const char *endpoint, long status,
                      const http_rate *rate);
    void *on_answer_ud;
} hl_client_opts;

typedef struct hl_client hl_client;
typedef struct hl_location hl_location;

enum hl_kind { HL_OK = 0, HL_RETRYABLE, HL_AUTH, HL_REJECTED, HL_UNKNOWN_OUTCOME };
const char *hl_kind_name(enum hl_kind k);

typedef struct hl_result {
    enum hl_kind kind;
    long status;         /* last HTTP status, 0 if none */
    cJSON *json;         /* parsed body (NULL if none/unparseable); see ownership above */
    const char *message; /* API message or transport error; "" on success */
    http_rate rate;      /* rate headers of the last response */
    int attempts;        /* HTTP attempts made */
    bool refreshed;      /* a token refresh happened for this call */
    /* Salvage (valid during the callback): for a read that failed because its 2xx body could
     * not be parsed (HL_RETRYABLE), `raw` is the last such body; for one too large
     * (HL_REJECTED, too_large), `raw` is its head and `tail` its last bytes, of `seen_len` in
     * all (http.h). NULL otherwise. */
    bool too_large;
    const char *raw, *tail;
    size_t raw_len, tail_len, seen_len;
    /* text repaired before parsing (salvage.h: invalid UTF-8, lone surrogates, NULs) */
    sv_stats repairs;
    struct jd_doc *doc; /* private: the arena `json` lives in, NULL = a cJSON tree */
} hl_result;

/* An answer kept past its callback: `json` and its arena (when it has one). */
typedef struct hl_answer {
    cJSON *json;
    struct jd_doc *doc;
} hl_answer;

/* Takes the answer out of `r` (r->json is NULL after): valid until hl_answer_free, which must
 * come before hl_client_free (an arena's block goes back to the client's cache). */
hl_answer hl_result_take(hl_result *r);
void hl_answer_free(hl_answer *a);

typedef void (*hl_cb)(hl_result *r, void *ud);

int hl_client_new(gs_loop *L, const hl_client_opts *o, hl_client **out, gs_err *e);
/* Calls still queued or in flight end with HL_RETRYABLE "shutting down" before this returns
 * (for those in flight: when gs_loop_close aborts transfers). */
void hl_client_free(hl_client *c);

/* Register a location with its token. `refresh_token` NULL = static token (private integration
 * token). `db` persists rotated refresh tokens (ghlsync.oauth_tokens; borrowed). `rate` NULL =
 * the client's defaults. The location is owned by the client. */
hl_location *hl_location_add(hl_client *c, const char *location_id, const char *access_token,
                             const char *refresh_token, int64_t expires_at_ms, pga_conn *db,
                             const rl_params *rate, gs_err *e);
oa_token *hl_location_token(hl_location *l);
rl_loc *hl_location_budget(hl_location *l);

/* `prio`: RL_PRIO_PUSH / _PULL / _SCHEMA / _BACKFILL. `queue`: fairness queue name within the
 * priority (NULL = the object key, or "objects" for calls without one). All return 0 or GS_E*
 * (then the callback will not run). */
int hl_list_objects(hl_location *l, int prio, hl_cb cb, void *ud, gs_err *e);
int hl_get_schema(hl_location *l, const char *key, int prio, hl_cb cb, void *ud, gs_err *e);
int hl_custom_fields(hl_location *l, const char *key, int prio, hl_cb cb, void *ud, gs_err *e);

typedef struct hl_search {
    int page;                  /* 0 = omit */
    int page_limit;            /* 0 = omit */
    const char *query;         /* NULL = "" (match all) */
    const cJSON *search_after; /* NULL = omit; echoed verbatim */
    const cJSON *sort;         /* NULL = omit */
    const cJSON *filters;      /* NULL = omit */
    bool answer_borrowed;      /* the callback only reads the answer (see ownership above) */
} hl_search;
int hl_search_records(hl_location *l, const char *key, const hl_search *s, int prio,
                      const char *queue, hl_cb cb, void *ud, gs_err *e);

/* `body`: {"properties": {...}, "owner": [...], "followers": [...]}; locationId is added. */
int hl_create_record(hl_location *l, const char *key, const cJSON *body, int prio,
                     const char *queue, hl_cb cb, void *ud, gs_err *e);
int hl_get_record(hl_location *l, const char *key, const char *id, int prio, const char *queue,
                  hl_cb cb, void *ud, gs_err *e);
int hl_update_record(hl_location *l, const char *key, const char *id, const cJSON *body, int prio,
                     const char *queue, hl_cb cb, void *ud, gs_err *e);
int hl_delete_record(hl_location *l, const char *key, const char *id, int prio, const char *queue,
                     hl_cb cb, void *ud, gs_err *e);

/* A call described by an endpoint family (family.h): the family builds the path and body, the
 * client does everything else (budget, auth, retries, outcome kinds). `path` is appended to the
 * base URL as given (the caller escapes ids); `query` (may be NULL) follows "?locationId=<id>"
 * when `location_query`, else "?"; `body_location` adds "locationId" to a copy of `body`. A call
 * with `create` set is not idempotent: a lost answer is HL_UNKNOWN_OUTCOME, never retried.
 * `endpoint` is the metrics name (hl_client_opts.on_answer) and must be a static string. */
typedef struct hl_call {
    const char *method; /* "GET", "POST", "PUT", "DELETE" */
    const char *endpoint;
    const char *path;
    const char *query;
    bool location_query;
    const cJSON *body;
    bool body_location;
    bool create;
    bool is_read;         /* a search: an unreadable answer is retried like a GET's */
    bool answer_borrowed; /* the callback only reads the answer (see ownership above) */
} hl_call;
int hl_send(hl_location *l, const hl_call *call, int prio, const char *queue, hl_cb cb, void *ud,
            gs_err *e);
const char *hl_location_id(const hl_location *l);
/* What an endpoint family learnt about this location's server (which of two searches it
 * answers): bits the families define (family.h FAM_LOC_*), kept with the location for the
 * life of the client. */
unsigned *hl_location_family_flags(hl_location *l);

/* Scheduling delay statistics of the client (grant time - submit time), for benchmarks. */
typedef struct hl_stats {
    long requests, retries, refreshes_joined, n429;
} hl_stats;
void hl_client_stats(const hl_client *c, hl_stats *out);

#endif
