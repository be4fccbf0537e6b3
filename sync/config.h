/*
 * config.h - the configuration model: sync.toml -> a plain, fully defaulted C struct.
 *
 * cfg_load() reads and validates the whole file up front so that the engine never meets a
 * half-valid setting at 3 a.m.: unknown keys (with a "did you mean" hint), wrong types, bad
 * enums, bad durations and missing secrets are all errors of the form
 *   sync.toml:12:5: [objects."custom_objects.pet"] direction: expected one of "pull", ...
 * with code GS_ECONFIG (GS_EIO when the file cannot be read, GS_EPARSE for TOML syntax).
 *
 * Secrets (tokens, OAuth client secret, refresh token) are read from the environment or from
 * files at load time and stored resolved in the struct; cfg_register_secrets() hands them to a
 * logger so that they are redacted everywhere. Durations are milliseconds.
 *
 * Memory: everything reachable from a struct cfg is owned by it and released by cfg_free().
 * Lookups return pointers into it, valid until cfg_free().
 */
#ifndef GHLSYNC_CONFIG_H
#define GHLSYNC_CONFIG_H

#include "err.h"
#include "log.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum cfg_direction { CFG_DIR_PULL, CFG_DIR_PUSH, CFG_DIR_BOTH };
enum cfg_conflict { CFG_REMOTE_WINS, CFG_LOCAL_WINS, CFG_NEWEST_WINS };
/* CFG_AUTH_AGENCY: a location of the [agency] section (listed, or discovered when installed):
 * its pair is minted with the company token and kept in ghlsync.oauth_tokens. */
enum cfg_auth { CFG_AUTH_TOKEN, CFG_AUTH_OAUTH, CFG_AUTH_AGENCY };

struct cfg_field_type {
    char *field;   /* HighLevel field key as configured, e.g. "custom_objects.pet.age" or "age" */
    char *pg_type; /* PostgreSQL type, validated to a safe character set: "numeric(10,2)" */
};

/* Settings of one object key. Objects without a [objects."key"] table use cfg->object_defaults. */
struct cfg_object {
    char *key;   /* "custom_objects.pet", "business"; NULL in cfg->object_defaults */
    char *table; /* target table name; NULL = derive from the key (schema module) */
    enum cfg_direction direction;       /* default both */
    enum cfg_conflict conflict;         /* default remote_wins */
    int64_t poll_interval_ms;           /* default [pull] poll_interval */
    char *external_id_field;            /* NULL = none (unknown-outcome creates are parked) */
    bool soft_delete;                   /* default true: remote deletes set _deleted_at */
    struct cfg_field_type *field_types; /* overrides of the mapped column type */
    size_t n_field_types;
    int line; /* line of the [objects."key"] header, 0 for defaults */
};

struct cfg_location {
    char *id; /* HighLevel location id (validated: letters, digits, '-', '_') */
    enum cfg_auth auth;
    /* CFG_AUTH_TOKEN: the resolved static token (never NULL). CFG_AUTH_OAUTH: NULL (the engine
     * obtains an access token with the refresh token). */
    char *token;
    char *token_source; /* for messages: "environment variable GHL_TOKEN", "file /x", "sync.toml" */
    /* CFG_AUTH_OAUTH only (else NULL): resolved client id and secret, the refresh token file
     * (absolute or relative to the working directory, already resolved against the config
     * file's directory) and its current content. The engine rewrites that file when the
     * refresh token rotates. */
    char *client_id;
    char *client_secret;
    char *refresh_token_file;
    char *refresh_token;
    bool all_objects; /* objects = ["*"] (the default) */
    char **objects;   /* explicit object keys when !all_objects */
    size_t n_objects;
    int line; /* line of its [[locations]] header */
};

struct cfg_api {
    char *base_url; /* no trailing slash */
    char *version;  /* Version header */
    int64_t connect_timeout_ms;
    int64_t request_timeout_ms;
    int64_t stall_timeout_ms; /* abort a transfer that moves no byte for this long */
    bool insecure_http;       /* allow http:// (simulator); TLS is verified otherwise */
    int64_t max_response_bytes;
};

enum cfg_pooler { CFG_POOLER_NONE, CFG_POOLER_TRANSACTION };

struct cfg_database {
    char *url;    /* libpq conninfo or URI ("" = PG* environment) */
    char *schema; /* mirrored tables; non-empty (always quoted) */
    /* Connections that need a session of their own (LISTEN, push claims, which live as long
     * as the session that took them): NULL = url. Behind a transaction pooler: PostgreSQL
     * itself, or a session-mode pool. */
    char *session_url;
    enum cfg_pooler pooler;  /* transaction: no named prepared statements on `url` */
    int64_t lock_timeout_ms; /* every engine transaction waits at most this long for a lock */
};

struct cfg_rate_limit {
    int burst;         /* requests per window per location */
    int64_t window_ms; /* burst window */
    int daily;         /* requests per day per location */
    double headroom;   /* fraction of each budget left unused, 0 <= h < 1 */
};

struct cfg_log {
    enum log_level level;
    enum log_format format;
};

struct cfg_pull {
    int page_size;                 /* 1..100 */
    int64_t overlap_ms;            /* incremental pull re-reads this much before the watermark */
    int64_t full_scan_interval_ms; /* remote delete sweep; 0 = never */
    int64_t poll_interval_ms;      /* default per-object poll interval */
    int64_t outage_timeout_ms;     /* one-shot backfill: keep retrying this long; 0 = give up */
};

struct cfg_push {
    bool enabled;
    int batch_size; /* changes claimed per round */
    int max_attempts;
    int64_t backoff_base_ms;
    int64_t backoff_max_ms;
};

/* [relations]: the associations and relations tables (relations.h) */
struct cfg_relations {
    bool enabled;
    int64_t poll_interval_ms;      /* incremental pass: records synced since the last pass */
    int64_t reconcile_interval_ms; /* full pass: every record of the smaller side */
    double budget_share;           /* of the location's daily request limit, (0, 1] */
};

/* [agency]: agency (company) OAuth. The company pair rotates like a location's; location
 * pairs are minted from the company access token (agency.h). */
struct cfg_agency {
    bool enabled;                  /* the section is present */
    char *company_id;              /* resolved from company_id_env */
    char *app_id;                  /* the marketplace app id (installedLocations needs it) */
    char *client_id;               /* resolved from client_id_env */
    char *client_secret;           /* resolved from client_secret_env; never logged */
    char *refresh_token_file;      /* the company refresh token, rewritten on rotation */
    char *refresh_token;           /* its content at load time */
    bool installed;                /* locations = "installed": discover them */
    int64_t discovery_interval_ms; /* re-check of the installed locations; default 1 h */
    int discovery_page_size;       /* limit of each installedLocations page, 1..500; 100 */
    bool all_objects;              /* objects of every agency location */
    char **objects;
    size_t n_objects;
    int line; /* line of the [agency] header */
};

/* Leases between several `ghlsync run` processes (lease.h). */
struct cfg_leases {
    int64_t ttl_ms;       /* a lease not renewed for this long is free; default 30 s */
    int64_t heartbeat_ms; /* renewal period; default ttl / 3 */
};

struct cfg_metrics {
    char *listen; /* "127.0.0.1:9187", NULL = no metrics endpoint */
    /* /healthz fails when a database statement or transaction has been running for this long
     * on a live connection (a wedged engine); 0 = never */
    int64_t stall_timeout_ms;
};

/* [webhooks]: the optional listener of HighLevel webhooks (webhooks.h). */
struct cfg_webhooks {
    char *listen;            /* "127.0.0.1:8788", NULL = no listener */
    char *path;              /* URL path served, "/webhooks/highlevel" */
    char *public_key;        /* Ed25519 SPKI PEM (public_key or public_key_file), x-ghl-signature */
    char *legacy_public_key; /* RSA SPKI PEM for x-wh-signature; NULL = that header is refused */
    int64_t max_age_ms;      /* a `timestamp` older (or further ahead) than this is stale */
    int64_t max_body;        /* bytes; larger bodies get 413 */
    int queue_max;           /* queued hints; beyond, 429 so that HighLevel retries */
    int64_t retention_ms;    /* applied hints (and their webhookId) are kept this long */
};

struct cfg {
    char *path; /* the file loaded */
    struct cfg_api api;
    struct cfg_database database;
    struct cfg_rate_limit rate_limit;
    struct cfg_log log;
    struct cfg_pull pull;
    struct cfg_push push;
    struct cfg_metrics metrics;
    struct cfg_relations relations;
    struct cfg_leases leases;
    struct cfg_webhooks webhooks;
    struct cfg_agency agency;
    /* at least one, unless [agency] locations = "installed" (the engine appends the discovered
     * ones at start: cfg_location_add_agency) */
    struct cfg_location *locations;
    size_t n_locations;
    struct cfg_object *objects; /* the [objects."key"] tables, in file order */
    size_t n_objects;
    struct cfg_object object_defaults;
    char **warnings; /* non-fatal findings ("token in sync.toml"), "FILE:LINE:COL: ..." */
    size_t n_warnings;
};

/* Load, validate and resolve `path`. On failure returns a GS_E* code, fills err and leaves *c
 * zeroed (cfg_free on it is harmless). */
int cfg_load(const char *path, struct cfg *c, gs_err *err);

/* Same from memory (tests, `ghlsync init` self-check); `filename` names it in messages and is
 * the base for relative token_file paths. */
int cfg_load_string(const char *src, size_t len, const char *filename, struct cfg *c, gs_err *err);

void cfg_free(struct cfg *c);

/* Settings for an object key: its [objects."key"] table, else cfg->object_defaults. Never NULL. */
const struct cfg_object *cfg_object_get(const struct cfg *c, const char *key);

/* The location with this id, or NULL. */
const struct cfg_location *cfg_location_get(const struct cfg *c, const char *id);

/* Append a location of the [agency] section (auth CFG_AUTH_AGENCY, the agency's objects).
 * Invalidates pointers into c->locations: only before anything keeps one (engine_open).
 * 0, GS_ECONFIG (not a location id; already configured) or GS_ENOMEM. */
int cfg_location_add_agency(struct cfg *c, const char *id, gs_err *err);

/* The same location on its own, owned by the caller (cfg_location_delete), for a location
 * installed while running (agency.h): c->locations is left alone, its pointers stay valid.
 * 0, GS_ECONFIG (no [agency]; not a location id) or GS_ENOMEM. */
int cfg_agency_location_new(const struct cfg *c, const char *id, struct cfg_location **out,
                            gs_err *err);
void cfg_location_delete(struct cfg_location *l);

/* Does this location sync this object key? */
bool cfg_location_has_object(const struct cfg_location *loc, const char *key);

/* The override type for a field key in an object's settings, or NULL. */
const char *cfg_field_type(const struct cfg_object *o, const char *field_key);

/* Register every resolved secret (tokens, client secrets, refresh tokens, a database password
 * in the conninfo) with the logger. Call before anything is logged. */
void cfg_register_secrets(const struct cfg *c, gs_log *lg);

/* "10s", "500ms", "2m", "1h30m", "1d" -> milliseconds. 0 on success, -1 on a malformed value. */
int cfg_parse_duration(const char *s, int64_t *ms);

const char *cfg_direction_name(enum cfg_direction d);
const char *cfg_conflict_name(enum cfg_conflict c);

/* The annotated example configuration (same text as the top-level sync.toml). */
extern const char cfg_sample_toml[];

#endif
