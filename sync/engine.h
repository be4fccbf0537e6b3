/*
 * engine.h - the application context: everything a running ghlsync holds, built from a loaded
 * configuration, and the glue between the modules.
 *
 * engine_open() (synchronous, before the loop runs):
 *   - connects a synchronous PGconn (start-up work: migrations, schema DDL, state reads) and runs
 *     the pending migrations;
 *   - loads the type map (mappings/types.toml, else the built-in defaults);
 *   - creates the gs_loop, the hl_client and one hl_location per configured location (a static
 *     token, or OAuth: the pair stored in ghlsync.oauth_tokens supersedes the configured refresh
 *     token, since it may have rotated);
 *   - opens the pga_conn pool the loop writes with.
 * Every engine transaction on the loop starts with engine_tx_setup (ghlsync.origin = 'engine' and
 * lock_timeout, both per transaction, so they hold behind a transaction pooler), and the start-up
 * connection sets the marker for its session: the push triggers never echo the engine's own
 * writes back as local changes.
 *
 * engine_discover() fetches the object list and schemas of every location (hl_list_objects +
 * each object's family's definitions call, RL_PRIO_SCHEMA), plans the DDL (ddl.h) and, when
 * asked, applies it and builds the write plans (pullstore.h ps_model) the pull workers use. An
 * object is served by the endpoint family that claims its key (family.h: fam_for_key); with
 * objects = ["*"] an object no family serves (opportunity, until its family exists) is skipped
 * with a log line.
 *
 * engine_run() installs the signal handlers (SIGTERM/SIGINT: stop gracefully - workers finish the
 * transaction in flight, cursors are already saved with every page - and exit within 5 s;
 * SIGHUP: reload sync.toml; settings that can change at run time are taken, others logged),
 * starts the registered services (engine_services[] in engine.c: push worker, metrics endpoint,
 * each a start/stop pair) and runs the loop until engine_stop().
 *
 * Memory: struct engine is caller memory (stack); everything it points to is owned by it and
 * released by engine_close(). The cli_ctx and its cfg are borrowed and must outlive the engine.
 * Threading: loop thread only (like the modules it ties together).
 */
#ifndef GHLSYNC_ENGINE_H
#define GHLSYNC_ENGINE_H

#include "commands.h"
#include "config.h"
#include "err.h"
#include "hlapi.h"
#include "loop.h"
#include "mapping.h"
#include "pgasync.h"
#include "pullstore.h"
#include "sbuf.h"

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

struct engine;
struct pull_worker;
struct engine_schema_job;
struct engine_adding;

/* A service that lives as long as `ghlsync run` (push worker, metrics endpoint). start returns 0
 * or a GS_E* code (the run then fails with that message); stop releases `state` (it runs after
 * the loop has stopped, in reverse order of start, and may run the loop again, e.g. with
 * engine_wait, to finish its work). one_shot: also started by one-shot commands (`ghlsync
 * backfill`, engine_run with_services = false); E->serving tells which. */
struct engine_service {
    const char *name;
    int (*start)(struct engine *E, void **state, gs_err *e);
    void (*stop)(void *state);
    bool one_shot;
};

/* One object of one location. */
struct engine_object {
    struct engine_location *loc;
    char *key;
    const struct cfg_object *settings; /* borrowed from the cfg */
    ps_model *model;                   /* current write plan; NULL until applied */
    struct pull_worker *worker;        /* owned by pull.c (pull_worker_free) */
    int pool_index;                    /* which pga_conn of the pool writes its pages */
};

struct engine_location {
    struct engine *E;
    const struct cfg_location *cfg; /* borrowed */
    hl_location *hl;                /* owned by the hl_client */
    struct engine_object *objects;
    size_t n_objects;
    char **skipped; /* object keys listed but not pulled (no endpoint family) */
    size_t n_skipped;
    /* objects whose definition could not be fetched or read: they alone are left out (the
     * others sync), and a one-shot command ends "incomplete" */
    struct engine_unavailable {
        char *key, *why;
    } * unavailable;
    size_t n_unavailable;
    /* This process serves the location (lease.h): true, except in `run`, where the lease
     * service sets it as leases come and go (E->on_hold tells). */
    bool held;
    /* An [agency] location whose app was uninstalled (agency.h re-check): not served, rows
     * kept; the lease service leaves it parked. */
    bool uninstalled;
    /* A location added while running (engine_location_add): its configuration, owned here
     * (the others borrow theirs from the cfg); NULL for the locations of the start. */
    struct cfg_location *own_cfg;
    struct engine_adding *adding; /* while being added (not yet in E->locs) */
};

/* Counters for the metrics endpoint and summaries (requests per endpoint/status: hl_client). */
struct engine_counters {
    uint64_t records_pulled;
    uint64_t pages;
    uint64_t errors;
    uint64_t deletes_found;
    uint64_t schema_changes;
};

struct engine_opts {
    const char *only_location;       /* NULL = all */
    const char *const *only_objects; /* NULL/0 = all */
    size_t n_only_objects;
    int pool_size; /* pga connections for the loop; 0 = 2 */
    /* `run` with [agency] locations = "installed": it may start while the app is installed in
     * no location yet, and the re-check adds them as they come (one-shots refuse to) */
    bool may_start_empty;
};

struct engine {
    struct cli_ctx *ctx;
    const struct cfg *cfg;
    gs_log *log;
    struct engine_opts opts;
    char *conninfo;
    PGconn *db; /* synchronous: start-up, DDL */
    map_types *types;
    gs_loop loop;
    bool loop_ready;
    hl_client *hl;
    /* [agency]: the company's pair, as a client location of its own (agency.h); NULL without
     * an [agency] section */
    hl_location *agency;
    pga_conn *meta; /* oauth token persistence, state updates outside a page */
    pga_conn **pool;
    int npool;
    /* each allocated on its own: services keep pointers to them */
    struct engine_location **locs;
    size_t nlocs;
    struct engine_location **by_id; /* the same, sorted by id (engine_location_find) */
    /* locations being added while running (engine_location_add), sorted by id: not in locs
     * (no service sees them) until their objects are ready; one that failed stays here, with
     * its hl_location, until it is tried again */
    struct engine_location **adding;
    size_t nadding;
    struct engine_counters ctr;
    size_t n_unavailable; /* objects left out by engine_discover, all locations */

    /* run state */
    uv_signal_t sig[3];
    bool sig_on;
    uv_timer_t stop_timer;
    bool stop_timer_on;
    bool stopping;
    bool loop_done;
    int exit_code;
    void **service_state;
    bool serving; /* engine_run(E, with_services = true): `ghlsync run` */
    /* A one-shot run that lists relations before it exits (`ghlsync backfill` into the live
     * tables; not `ghlsync push`): relations.h. Set before engine_run. */
    bool relations_after;
    /* Every HTTP answer of `hl` (hl_client_opts.on_answer: location, endpoint, status, rate
     * headers) is forwarded here when set. The client exists before any service starts, so the
     * engine owns the hook and a service plugs in: the ops service sets it at start (metrics by
     * endpoint and status, rate budget) and clears it at stop. */
    void (*on_answer)(void *ud, const char *location, const char *endpoint, long status,
                      const http_rate *rate);
    void *on_answer_ud;
    /* Called (once) when a stop is requested; pull.c drains its workers then calls engine_stop. */
    void (*on_stop_request)(struct engine *E, void *ud);
    void *on_stop_ud;
    /* Called when the lease service changed L->held (lease.h); pull.c starts or stops the
     * location's workers. */
    void (*on_hold)(struct engine *E, struct engine_location *L, void *ud);
    void *on_hold_ud;
    /* Called when a location joined while running (engine_location_add), before the services
     * hear of it: pull.c creates its workers (parked until held). */
    void (*on_location_added)(struct engine *E, struct engine_location *L, void *ud);
    void *on_location_added_ud;
    /* Who this process is in ghlsync.leases (lease.h); kind NULL = takes no lease. */
    struct engine_lease {
        char holder[200], host[128];
        int pid;
        const char *kind; /* "run", "backfill", "push" */
    } lease;
    /* Called after SIGHUP reloaded the configuration (new cfg already in place). */
    void (*on_reload)(struct engine *E, void *ud);

    /* Schema refresh while running (engine_apply_schema_async): one job at a time on a thread
     * of the libuv pool, with the thread's own connection (ddl_db, touched only there); a job
     * that met a lock is queued again after a pause. */
    PGconn *ddl_db;
    struct engine_schema_job *sj_head, *sj_tail; /* waiting to run */
    struct engine_schema_job *sj_running, *sj_deferred;
    uv_timer_t sj_timer; /* retry of deferred jobs */
    bool sj_timer_on;
};

extern const struct engine_service engine_services[];
extern const size_t engine_n_services;

int engine_open(struct engine *E, struct cli_ctx *ctx, const struct engine_opts *o, gs_err *e);
/* The start-up connection E->db does not reconnect by itself (it is synchronous): callers that use
 * it after start-up (schema refresh, full-scan snapshots, trigger refresh) call this first; it
 * reconnects a lost session and sets the origin marker again (db_revive). */
int engine_db_revive(struct engine *E, gs_err *e);
/* The statement every engine transaction starts with (pgasync.h transaction set-up): the origin
 * marker the capture triggers skip (ghlsync.origin = 'engine') and [database] lock_timeout. */
void engine_tx_setup(const struct cfg *c, char *buf, size_t len);
void engine_close(struct engine *E);

/* Fetch schemas and plan the DDL. plan_out (may be NULL) receives ddl_plan_print output per
 * location. apply: run the DDL and build each object's ps_model. Objects whose schema cannot be
 * fetched are an error. */
int engine_discover(struct engine *E, bool apply, sbuf *plan_out, gs_err *e);

/* Plan and apply a freshly fetched definition of one object while running (schema refresh),
 * off the loop thread: the plan, the DDL (under lock_timeout), the
 * new write plan and the triggers run on a worker thread with its own connection, so that a
 * table locked by a user's transaction stalls neither the loop nor the other objects. When a
 * lock is not granted in time the job waits and tries again (every few seconds) instead of
 * waiting on the lock; other errors end it. The callback runs on the loop: rc 0 (the object's
 * model was replaced, push target included; changed = DDL ran), GS_ESTATE (stop requested,
 * or engine_schema_forget), else the error in msg. Takes ownership of `obj`. */
typedef void (*engine_schema_cb)(struct engine_object *eo, int rc, bool changed, const char *msg,
                                 void *ud);
int engine_apply_schema_async(struct engine *E, struct engine_object *eo, schema_object *obj,
                              engine_schema_cb cb, void *ud, gs_err *e);
/* No callback for `ud` any more (its owner is being freed); the jobs still complete. */
void engine_schema_forget(struct engine *E, void *ud);

/* The pool connection of an object. */
pga_conn *engine_pga(struct engine *E, const struct engine_object *eo);

/* Install the signal handlers (engine_run does it; call earlier to cover start-up work). */
void engine_signals(struct engine *E);
/* Install signals, start the services (with_services: `run`), run the loop until engine_stop().
 * Returns E->exit_code. */
int engine_run(struct engine *E, bool with_services);
/* Ask for a graceful stop (as SIGTERM does). */
void engine_request_stop(struct engine *E);
/* Leave the loop now (after the workers drained), with this exit code. */
void engine_stop(struct engine *E, int exit_code);

/* The location with this id among E->locs (binary search), or NULL. */
struct engine_location *engine_location_find(const struct engine *E, const char *id);

/*
 * Add an [agency] location installed while `ghlsync run` runs (agency.h re-check), without
 * blocking the loop: its configuration (the agency's objects), its hl_location with the
 * agency's minter and the pair stored in ghlsync.oauth_tokens if any (read on E->meta), its
 * object list and definitions (RL_PRIO_SCHEMA, its own rate budget; the first call mints its
 * token), then each object's DDL, write plan and triggers on the schema thread as a schema
 * refresh does (engine_apply_schema_async: the tables are shared, so a field new to this
 * location alters the table and the triggers cover it). When every object is ready the location
 * joins E->locs and the services, in this order: pull (E->on_location_added: parked workers),
 * ops (runtime rows, metrics), push (its targets), webhooks, relations, and last the lease
 * service, which offers it at its next heartbeat (sent at once) so that exactly one `run`
 * process takes it; without a lease service it is held at once. done(rc 0) runs then.
 * On a failure (minting, listing, a definition, the DDL) nothing joins; done(rc, msg) runs
 * and the location waits in E->adding for the next call, which tries again. Returns 0 (done
 * will run), GS_ESTATE when the location is already served or being added (done will not
 * run), else an error.
 */
typedef void (*engine_added_cb)(struct engine *E, const char *id, int rc, const char *msg,
                                void *ud);
int engine_location_add(struct engine *E, const char *id, engine_added_cb done, void *ud,
                        gs_err *e);
/* No callback for `ud` any more (its owner stops); the adds in progress still complete. */
void engine_location_add_forget(struct engine *E, void *ud);

/* Run the loop until *flag becomes true (helper for start-up sequences). */
void engine_wait(struct engine *E, const bool *flag);

#endif
