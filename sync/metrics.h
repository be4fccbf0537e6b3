/*
 * metrics.h - the engine's counters and gauges, and the optional HTTP endpoint that serves them
 * in the Prometheus text format ([metrics] listen = "127.0.0.1:9187").
 *
 * Registry. The metric families are a fixed table (enum metrics_family): name, help, type and
 * label names are constants, so a typo in a name cannot create a new metric at run time. A
 * series is one family plus its label values; workers add to counters (metrics_add) and set
 * gauges (metrics_set) as things happen. Gauges that are cheaper to read on demand (the rate
 * budget of ratelimit.h, for instance) are refreshed by collectors that run right before each
 * scrape (metrics_on_scrape).
 *
 * Endpoint. metrics_server_start binds a uv_tcp_t listener on the given loop. It answers one
 * request per connection (Connection: close), HTTP/1.0 and 1.1, GET and HEAD only:
 *   /metrics   200, text/plain; version=0.0.4 (the registry)
 *   /healthz   200 "ok" whenever the loop runs and the health callback (if any) agrees, else 503
 *              "unhealthy: <reason>" (liveness: a stuck loop does not answer at all; a wedged
 *              engine, e.g. database work that no longer progresses, says so)
 *   /readyz    200 "ready" or 503 "not ready: <reason>" from the readiness callback
 * Anything else gets 404/405/400/431/505. A request head is limited to METRICS_MAX_REQUEST
 * bytes and must arrive within METRICS_REQUEST_TIMEOUT_MS; at most METRICS_MAX_CLIENTS
 * connections are served at once (more are closed at accept). It never reads a request body.
 *
 * Threading: everything on the loop thread. The registry itself has no locks.
 *
 * Memory: the registry owns its series (label values are copied). The server borrows the loop,
 * the registry and the logger (they must outlive it); metrics_server_close starts closing its
 * handles and frees the server once the loop has released them (run the loop afterwards).
 */
#ifndef GHLSYNC_METRICS_H
#define GHLSYNC_METRICS_H

#include "err.h"
#include "log.h"
#include "sbuf.h"

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#define METRICS_MAX_REQUEST        8192
#define METRICS_REQUEST_TIMEOUT_MS 5000
#define METRICS_MAX_CLIENTS        64
#define METRICS_MAX_LABELS         3

enum metrics_family {
    /* counters */
    GSM_REQUESTS,          /* ghlsync_http_requests_total{location,endpoint,status} */
    GSM_STARTED,           /* ghlsync_http_requests_started_total{location}: incl. retries */
    GSM_THROTTLED,         /* ghlsync_http_throttled_total{location}: 429 answers */
    GSM_RECORDS_PULLED,    /* ghlsync_records_pulled_total{location,object} */
    GSM_RECORDS_PUSHED,    /* ghlsync_records_pushed_total{location,object,op} */
    GSM_ERRORS,            /* ghlsync_errors_total{location,kind} */
    GSM_SCRAPES,           /* ghlsync_metrics_scrapes_total */
    GSM_DB_RECONNECTS,     /* ghlsync_db_reconnects_total: sessions re-established after a loss */
    GSM_DB_OUTAGES,        /* ghlsync_db_outages_total: outages that ended */
    GSM_DB_OUTAGE_SECONDS, /* ghlsync_db_outage_seconds_total: time with a connection down */
    /* gauges */
    GSM_BURST_REMAINING, /* ghlsync_rate_burst_remaining{location} */
    GSM_BURST_LIMIT,     /* ghlsync_rate_burst_limit{location} */
    GSM_DAILY_REMAINING, /* ghlsync_rate_daily_remaining{location} */
    GSM_DAILY_LIMIT,     /* ghlsync_rate_daily_limit{location} */
    GSM_INFLIGHT,        /* ghlsync_http_inflight{location} */
    GSM_CHANGES_PENDING, /* ghlsync_changes_pending{location,object}: change-log depth */
    GSM_CHANGES_FAILED,  /* ghlsync_changes_failed{location,object}: failed + parked */
    GSM_LAG_SECONDS,     /* ghlsync_lag_seconds{location,object}: now - watermark */
    GSM_BACKFILL_DONE,   /* ghlsync_backfill_complete{location,object}: 0 or 1 */
    GSM_QUARANTINED,     /* ghlsync_quarantined_records{location,object}: open quarantine */
    GSM_START_TIME,      /* ghlsync_start_time_seconds */
    GSM_DB_UP,           /* ghlsync_db_up: 1 when every connection has its session */
    GSM_DB_PENDING,      /* ghlsync_db_statements_pending: queued or running */
    /* webhooks (webhooks.h) */
    GSM_WH_RECEIVED,     /* ghlsync_webhooks_received_total: requests on the webhook path */
    GSM_WH_REJECTED,     /* ghlsync_webhooks_rejected_total{reason} */
    GSM_WH_DROPPED,      /* ghlsync_webhooks_dropped_total{reason}: valid, not for this mirror */
    GSM_WH_APPLIED,      /* ghlsync_webhooks_applied_total{outcome}: hints settled */
    GSM_WH_FAILED,       /* ghlsync_webhooks_failed_total: hints given up (the poll catches up) */
    GSM_WH_QUEUE,        /* ghlsync_webhooks_queue_depth: hints queued (gauge) */
    GSM_WH_LAG,          /* ghlsync_webhooks_lag_seconds{quantile}: event timestamp -> committed */
    GSM_WH_REL_REQUESTS, /* ghlsync_webhooks_relation_requests_total: Relation* re-listings */
    GSM__COUNT
};

typedef struct gs_metrics gs_metrics;

gs_metrics *metrics_new(void);
void metrics_free(gs_metrics *m);

/* Prometheus name, number of labels of a family. */
const char *metrics_family_name(enum metrics_family f);
int metrics_family_nlabels(enum metrics_family f);

/* `labels` holds exactly metrics_family_nlabels(f) values (may be NULL when 0). Counters only
 * grow: a negative delta is ignored. Returns 0 or GS_ENOMEM / GS_EINVAL. */
int metrics_add(gs_metrics *m, enum metrics_family f, const char *const *labels, double delta);
int metrics_set(gs_metrics *m, enum metrics_family f, const char *const *labels, double value);
/* Remove one series (a gauge that no longer applies). */
void metrics_drop(gs_metrics *m, enum metrics_family f, const char *const *labels);
/* Current value; 0 when the series does not exist. */
double metrics_get(const gs_metrics *m, enum metrics_family f, const char *const *labels);

/* Like metrics_get, telling whether the series exists. */
bool metrics_lookup(const gs_metrics *m, enum metrics_family f, const char *const *labels,
                    double *value);
/* Set every series of a family to 0 (before re-reading gauges that may have vanished). */
void metrics_zero_family(gs_metrics *m, enum metrics_family f);

/* One answer of the HighLevel API: counts it by endpoint and status (status 0 = no answer)
 * and records the X-RateLimit-* remaining values that are >= 0. `endpoint` is a
 * low-cardinality name (hlapi.h on_answer: "search", "create", "get_record", "update",
 * "delete", "list_objects", "get_schema", "custom_fields"): never a path with ids in it. */
void metrics_api_answer(gs_metrics *m, const char *location, const char *endpoint, long status,
                        long burst_remaining, long daily_remaining);

/* Called before every scrape with the registry, to refresh gauges. At most 8 collectors. */
typedef void (*metrics_collect_fn)(gs_metrics *m, void *ud);
int metrics_on_scrape(gs_metrics *m, metrics_collect_fn fn, void *ud);
/* Remove a collector (a service that stops before the registry goes). */
void metrics_off_scrape(gs_metrics *m, metrics_collect_fn fn, void *ud);

/* Run the collectors and write the registry in the text exposition format 0.0.4. */
void metrics_render(gs_metrics *m, sbuf *out);

/* ---- the HTTP endpoint ---- */

typedef struct metrics_server metrics_server;

/* Readiness: return true when ready; otherwise write a short reason into `why`. */
typedef bool (*metrics_ready_fn)(void *ud, char *why, size_t len);

/* Parse "HOST:PORT" ("127.0.0.1:9187", "[::1]:9187", ":9187" = all IPv4 interfaces). */
int metrics_parse_listen(const char *listen, struct sockaddr_storage *out, gs_err *e);

/* Bind and listen. Port 0 picks a free port (see metrics_server_port). */
int metrics_server_start(uv_loop_t *loop, gs_metrics *m, const char *listen, gs_log *lg,
                         metrics_server **out, gs_err *e);
/* NULL fn = always ready. */
void metrics_server_set_ready(metrics_server *s, metrics_ready_fn fn, void *ud);
/* Liveness beyond "the loop answers" (same signature); NULL fn = healthy. */
void metrics_server_set_health(metrics_server *s, metrics_ready_fn fn, void *ud);
int metrics_server_port(const metrics_server *s);
/* Stop listening, drop clients; frees `s` once the loop released its handles. NULL is fine. */
void metrics_server_close(metrics_server *s);

#endif
