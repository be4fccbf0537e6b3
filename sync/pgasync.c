/* pgasync.c - see pgasync.h. */
#include "pgasync.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Reconnect backoff: 100 ms doubling to 5 s, each delay drawn in [d/2, d] (jitter, so that the
 * connections of one process, and several processes, do not hammer a restarting server in step).
 * With a 5 s ceiling a server that is back is reached within about 5 s. */
#define BACKOFF_BASE_MS    100
#define BACKOFF_MAX_MS     5000
#define CONNECT_TIMEOUT_MS 10000
#define DEFAULT_WAIT_MS    30000

typedef struct pstmt {
    char *sql;  /* NULL: a prepared statement run by name only */
    char *name; /* NULL: unnamed (parsed and planned each time) */
    int nparams;
    char **values;
    int prep_only; /* pga_prepare: nothing to execute */
    char *copy;    /* COPY ... FROM STDIN: the data to send (pga_tx_copy), else NULL */
    size_t copy_len;
} pstmt;

typedef struct pop {
    struct pop *next;
    pstmt *st;
    int nst;
    int is_tx;
    int internal; /* the session set-up: no transaction set-up, not user work */
    pga_cb cb;
    void *ud;
    PGresult **res; /* nst */
    int cur;        /* phase: -1 BEGIN, 0..nst-1 statements, nst COMMIT, nst+1 ROLLBACK */
    int preparing;  /* the current statement's Parse is on the wire, its execution follows */
    int executed;   /* a single statement's execution was sent (its outcome is then in doubt) */
    int piped;      /* a single statement runs in a pipeline after the transaction set-up */
    int pipe_idx;   /* results of the pipeline seen: 0 set-up, 1 statement */
    PGresult *pipe_err;
    int nres_cb;     /* results handed to the callback */
    int copying;     /* the current statement is in COPY IN: 1 sending data, 2 sending the end */
    size_t copy_off; /* bytes of its data handed to libpq */
    uint64_t queued_ms;
    pga_error err;
    int failed;
} pop;

/* A statement known by name. Its text is kept so that a new session (after a reconnect) can
 * prepare it again; on_server says whether the current session has it. */
typedef struct prepared {
    char *name;
    char *sql;
    int on_server;
} prepared;

enum { ST_CONNECTING, ST_READY, ST_WAITING, ST_CLOSED };

struct pga_conn {
    gs_loop *L;
    char *conninfo;
    PGconn *pg;
    uv_poll_t *poll;
    uv_timer_t *timer; /* backoff, connect timeout */
    int fd;
    int state;
    int sent; /* a command is on the wire for the head op */
    PGresult *last;
    pop *head, *tail;
    pop *front; /* last op queued by the connect hook (they go before waiting work) */
    int in_connect_hook;
    int npending;
    int events;
    int ever_connected;
    int is_down; /* counted in L->db.down */
    int attempts;
    int handles_open;
    char connerr[512];
    prepared *prep;
    int nprep, capprep;
    char *tx_setup;
    char *session_sql;
    int unnamed;
    int64_t wait_ms;
    pga_connect_fn on_connect;
    void *on_connect_ud;
    pga_notify_fn on_notify;
    void *on_notify_ud;
    uint64_t op_started_ms; /* the head op went on the wire; 0 = none */
    pga_conn *prev, *next;  /* L->db.conns */
};

static void drive(pga_conn *c);
static void start_connect(pga_conn *c);
static void on_timer(uv_timer_t *t);

static char *dupn(const char *s)
{
    return s ? strdup(s) : NULL;
}

static uint64_t now_ms(const pga_conn *c)
{
    return gs_loop_now_ms(c->L);
}

static void op_free(pop *o)
{
    for (int i = 0; i < o->nst; i++) {
        free(o->st[i].sql);
        free(o->st[i].name);
        for (int j = 0; j < o->st[i].nparams; j++)
            free(o->st[i].values[j]);
        free(o->st[i].values);
        free(o->st[i].copy);
        if (o->res)
            PQclear(o->res[i]);
    }
    PQclear(o->pipe_err);
    free(o->st);
    free(o->res);
    free(o);
}

/* Undo what a partly run op did on our side, so that it can run again from the start. */
static void op_reset(pop *o)
{
    for (int i = 0; i < o->nst; i++) {
        PQclear(o->res[i]);
        o->res[i] = NULL;
    }
    PQclear(o->pipe_err);
    o->pipe_err = NULL;
    o->cur = o->is_tx ? -1 : 0;
    o->preparing = o->executed = o->piped = o->pipe_idx = 0;
    o->copying = 0;
    o->copy_off = 0;
    o->failed = 0;
    memset(&o->err, 0, sizeof o->err);
}

/* Handles keep the loop alive only while work is queued: an idle connection watching its
 * socket (to notice a lost session) or waiting to reconnect does not hold `gs_loop_run`. */
static void update_refs(pga_conn *c)
{
    if (c->state == ST_CLOSED)
        return;
    uv_handle_t *h[2] = {(uv_handle_t *)c->poll, (uv_handle_t *)c->timer};
    for (int i = 0; i < 2; i++) {
        if (!h[i])
            continue;
        if (c->npending)
            uv_ref(h[i]);
        else
            uv_unref(h[i]);
    }
}

static void on_poll(uv_poll_t *p, int status, int events);

static void unwatch(pga_conn *c)
{
    if (!c->poll)
        return;
    uv_poll_stop(c->poll);
    gs_uv_close_free((uv_handle_t *)c->poll);
    c->poll = NULL;
    c->fd = -1;
    c->events = 0;
}

static void watch(pga_conn *c, int events)
{
    int fd = c->pg ? PQsocket(c->pg) : -1;
    if (fd < 0)
        return;
    if (c->poll && c->fd != fd)
        unwatch(c);
    if (!c->poll) {
        c->poll = malloc(sizeof *c->poll);
        if (!c->poll || uv_poll_init_socket(&c->L->uv, c->poll, fd) != 0) {
            free(c->poll);
            c->poll = NULL;
            return;
        }
        c->poll->data = c;
        c->fd = fd;
        c->events = 0;
    }
    if (events != c->events || !uv_is_active((uv_handle_t *)c->poll)) {
        c->events = events;
        if (events)
            uv_poll_start(c->poll, events, on_poll);
        else
            uv_poll_stop(c->poll);
    }
    update_refs(c);
}

static void pending_dec(pga_conn *c)
{
    c->npending--;
    if (c->L->db.pending)
        c->L->db.pending--;
    c->L->db.last_progress_ms = now_ms(c);
}

static void finish_head(pga_conn *c)
{
    pop *o = c->head;
    c->head = o->next;
    if (!c->head)
        c->tail = NULL;
    if (c->front == o)
        c->front = NULL;
    pending_dec(c);
    c->sent = 0;
    c->op_started_ms = 0;
    o->cb(c, o->res, o->nres_cb, o->failed ? &o->err : NULL, o->ud);
    op_free(o);
    update_refs(c);
}

static void fail_head(pga_conn *c, int code, int in_doubt, const char *why)
{
    pop *o = c->head;
    if (!o->failed || code == GS_EDBLOST) {
        o->failed = 1;
        o->err.sqlstate[0] = '\0';
        o->err.in_doubt = in_doubt;
        gs_err_set(&o->err.err, code, "%s", why);
    }
    finish_head(c);
}

static void fail_all(pga_conn *c, int code, const char *why)
{
    while (c->head)
        fail_head(c, code, 0, why);
}

static void set_pg_error(pop *o, PGresult *r, pga_conn *c)
{
    o->failed = 1;
    const char *st = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    snprintf(o->err.sqlstate, sizeof o->err.sqlstate, "%s", st ? st : "");
    const char *m = r ? PQresultErrorMessage(r) : PQerrorMessage(c->pg);
    gs_err_set(&o->err.err, GS_EDB, "%s", m && *m ? m : "query failed");
    size_t n = strlen(o->err.err.msg);
    while (n && (o->err.err.msg[n - 1] == '\n' || o->err.err.msg[n - 1] == ' '))
        o->err.err.msg[--n] = '\0';
}

static prepared *find_prepared(const pga_conn *c, const char *name)
{
    for (int i = 0; i < c->nprep; i++)
        if (strcmp(c->prep[i].name, name) == 0)
            return &c->prep[i];
    return NULL;
}

static prepared *remember_prepared(pga_conn *c, const char *name, const char *sql)
{
    if (c->nprep == c->capprep) {
        int cap = c->capprep ? c->capprep * 2 : 8;
        prepared *p = realloc(c->prep, (size_t)cap * sizeof *p);
        if (!p)
            return NULL;
        c->prep = p;
        c->capprep = cap;
    }
    prepared *p = &c->prep[c->nprep];
    p->name = strdup(name);
    p->sql = strdup(sql);
    p->on_server = 0;
    if (!p->name || !p->sql) {
        free(p->name);
        free(p->sql);
        return NULL;
    }
    c->nprep++;
    return p;
}

/* ---- outage bookkeeping (per process, in L->db) ---- */

static void mark_down(pga_conn *c)
{
    if (c->is_down)
        return;
    c->is_down = 1;
    gs_dbctx *d = &c->L->db;
    if (d->down++ == 0) {
        d->outage_start_ms = now_ms(c);
        log_event(c->L->log, LOG_WARN, "db.unreachable", "error", c->connerr, NULL);
    }
}

static void mark_up(pga_conn *c)
{
    gs_dbctx *d = &c->L->db;
    d->last_progress_ms = now_ms(c);
    if (!c->is_down)
        return;
    c->is_down = 0;
    if (c->ever_connected)
        d->reconnects++;
    if (d->down && --d->down == 0) {
        uint64_t ms = now_ms(c) - d->outage_start_ms;
        d->outage_ms += ms;
        d->outages++;
        char dur[32];
        snprintf(dur, sizeof dur, "%.3f", (double)ms / 1000.0);
        log_event(c->L->log, LOG_INFO, "db.reachable", "outage_seconds", dur, NULL);
    }
}

/* ---- sending ---- */

enum { SEND_OK = 0, SEND_FAILED = -1, SEND_NOTHING = 1, SEND_LOCAL_ERROR = 2 };

static int send_exec(pga_conn *c, pop *o, pstmt *s, const char *sql, const char *name)
{
    int setup = c->tx_setup && !o->is_tx && !o->internal;
    if (setup) {
        /* One round trip: set-up and statement before one Sync are one implicit transaction,
         * so set_config(..., true) holds for the statement. */
        if (!PQenterPipelineMode(c->pg) ||
            !PQsendQueryParams(c->pg, c->tx_setup, 0, NULL, NULL, NULL, NULL, 0))
            return SEND_FAILED;
        o->piped = 1;
        o->pipe_idx = 0;
    }
    int ok = name ? PQsendQueryPrepared(c->pg, name, s->nparams, (const char *const *)s->values,
                                        NULL, NULL, 0)
                  : PQsendQueryParams(c->pg, sql, s->nparams, NULL, (const char *const *)s->values,
                                      NULL, NULL, 0);
    if (!ok || (setup && !PQpipelineSync(c->pg)))
        return SEND_FAILED;
    if (!o->is_tx)
        o->executed = 1;
    c->sent = 1;
    return SEND_OK;
}

/* A named statement of the head op: Parse it first when this session has not, execute it by
 * name otherwise. Without named statements (transaction pooler) the text runs unnamed. */
static int send_named(pga_conn *c, pop *o, pstmt *s)
{
    prepared *have = find_prepared(c, s->name);
    if (have && s->sql && strcmp(have->sql, s->sql) != 0) {
        o->failed = 1;
        gs_err_set(&o->err.err, GS_ESTATE,
                   "prepared statement \"%s\" already holds a different SQL text", s->name);
        return SEND_LOCAL_ERROR;
    }
    if (!have) {
        if (!s->sql) {
            o->failed = 1;
            gs_err_set(&o->err.err, GS_ESTATE,
                       "statement \"%s\" is not prepared on this connection", s->name);
            return SEND_LOCAL_ERROR;
        }
        if (c->unnamed) {
            if (!(have = remember_prepared(c, s->name, s->sql))) {
                o->failed = 1;
                gs_err_set(&o->err.err, GS_ENOMEM, "out of memory");
                return SEND_LOCAL_ERROR;
            }
        }
    }
    if (c->unnamed)
        return s->prep_only ? SEND_NOTHING : send_exec(c, o, s, have->sql, NULL);
    if (!have || !have->on_server) {
        if (!PQsendPrepare(c->pg, s->name, have ? have->sql : s->sql, s->nparams, NULL))
            return SEND_FAILED;
        o->preparing = 1;
        c->sent = 1;
        return SEND_OK;
    }
    if (s->prep_only)
        return SEND_NOTHING;
    return send_exec(c, o, s, NULL, s->name);
}

/* Send the command for the head op's current phase. */
static int send_current(pga_conn *c)
{
    pop *o = c->head;
    int ok;
    if (o->cur >= 0 && o->cur < o->nst && o->st[o->cur].name)
        return send_named(c, o, &o->st[o->cur]);
    if (o->cur == -1) {
        if (c->tx_setup) {
            /* simple protocol: both statements in one message, one round trip */
            char *q = malloc(strlen(c->tx_setup) + 8);
            if (!q)
                return SEND_FAILED;
            snprintf(q, strlen(c->tx_setup) + 8, "BEGIN; %s", c->tx_setup);
            ok = PQsendQuery(c->pg, q);
            free(q);
        } else {
            ok = PQsendQueryParams(c->pg, "BEGIN", 0, NULL, NULL, NULL, NULL, 0);
        }
    } else if (o->cur == o->nst)
        ok = PQsendQueryParams(c->pg, "COMMIT", 0, NULL, NULL, NULL, NULL, 0);
    else if (o->cur == o->nst + 1)
        ok = PQsendQueryParams(c->pg, "ROLLBACK", 0, NULL, NULL, NULL, NULL, 0);
    else if (o->internal)
        ok = PQsendQuery(c->pg, o->st[o->cur].sql);
    else
        return send_exec(c, o, &o->st[o->cur], o->st[o->cur].sql, NULL);
    if (!ok)
        return SEND_FAILED;
    c->sent = 1;
    return SEND_OK;
}

/* The current statement failed: a transaction rolls back; returns 1 when the op is done. */
static int stmt_failed(pop *o)
{
    if (!o->is_tx)
        return 1;
    o->cur = o->nst + 1; /* ROLLBACK */
    return 0;
}

/* The current statement is complete; returns 1 when the op is done. */
static int stmt_done(pop *o)
{
    o->cur++;
    return o->cur == o->nst && !o->is_tx;
}

/* The command of the current phase has completed with result `r` (NULL for none). Returns 1
 * when the op is done. */
static int advance(pga_conn *c, PGresult *r)
{
    pop *o = c->head;
    ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    int bad = !(st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_EMPTY_QUERY);
    if (o->cur >= 0 && o->cur < o->nst && o->preparing) {
        pstmt *s = &o->st[o->cur];
        o->preparing = 0;
        if (bad) {
            o->res[o->cur] = r;
            set_pg_error(o, r, c);
            return stmt_failed(o);
        }
        PQclear(r);
        prepared *p = find_prepared(c, s->name);
        if (!p && !(p = remember_prepared(c, s->name, s->sql))) {
            o->failed = 1;
            gs_err_set(&o->err.err, GS_ENOMEM, "out of memory");
            return stmt_failed(o);
        }
        p->on_server = 1;
        /* pga_prepare is done; a named statement now runs (next send_current) */
        return s->prep_only ? stmt_done(o) : 0;
    }
    if (o->cur >= 0 && o->cur < o->nst) {
        o->res[o->cur] = r;
        r = NULL;
        if (bad) {
            set_pg_error(o, o->res[o->cur], c);
            return stmt_failed(o);
        }
        return stmt_done(o);
    }
    if (o->cur == -1) {
        if (bad) {
            set_pg_error(o, r, c);
            PQclear(r);
            /* BEGIN may have run and the set-up failed: end the transaction */
            o->cur = o->nst + 1;
            return 0;
        }
        PQclear(r);
        o->cur = 0;
        return 0;
    }
    if (o->cur == o->nst) { /* COMMIT */
        if (bad || (r && strcmp(PQcmdStatus(r), "ROLLBACK") == 0)) {
            if (!o->failed) {
                set_pg_error(o, r, c);
                if (!bad)
                    gs_err_set(&o->err.err, GS_EDB, "transaction rolled back at COMMIT");
            }
        }
        PQclear(r);
        return 1;
    }
    PQclear(r); /* ROLLBACK done */
    return 1;
}

/* ---- losing and regaining the session ---- */

static void schedule_retry(pga_conn *c)
{
    uint64_t d = BACKOFF_BASE_MS;
    for (int i = 0; i < c->attempts && d < BACKOFF_MAX_MS; i++)
        d *= 2;
    if (d > BACKOFF_MAX_MS)
        d = BACKOFF_MAX_MS;
    d = d / 2 + gs_loop_rand(c->L, d / 2 + 1);
    c->attempts++;
    c->state = ST_WAITING;
    uv_timer_start(c->timer, on_timer, d, 0);
    update_refs(c);
}

/* Queued work waits for the session, but not for ever: what waited longer than wait_ms fails
 * (GS_EDBLOST, not in doubt: it never ran). */
static void expire_waiting(pga_conn *c)
{
    uint64_t now = now_ms(c);
    pop **pp = &c->head, *prev = NULL;
    while (*pp) {
        pop *o = *pp;
        if (o->internal || now - o->queued_ms < (uint64_t)c->wait_ms) {
            prev = o;
            pp = &o->next;
            continue;
        }
        *pp = o->next;
        if (c->tail == o)
            c->tail = prev;
        if (c->front == o)
            c->front = prev;
        pending_dec(c);
        o->failed = 1;
        o->err.in_doubt = 0;
        gs_err_set(&o->err.err, GS_EDBLOST, "database unreachable for %lld s: %s",
                   (long long)(c->wait_ms / 1000), c->connerr);
        o->cb(c, NULL, 0, &o->err, o->ud);
        op_free(o);
        if (c->state == ST_CLOSED)
            return;
        pp = prev ? &prev->next : &c->head;
    }
    update_refs(c);
}

static void drop_session(pga_conn *c)
{
    unwatch(c);
    PQclear(c->last);
    c->last = NULL;
    if (c->pg)
        PQfinish(c->pg);
    c->pg = NULL;
    for (int i = 0; i < c->nprep; i++)
        c->prep[i].on_server = 0;
}

/* A connect attempt failed. */
static void attempt_failed(pga_conn *c, const char *why)
{
    snprintf(c->connerr, sizeof c->connerr, "cannot connect to PostgreSQL: %s", why);
    size_t n = strlen(c->connerr);
    while (n && (c->connerr[n - 1] == '\n' || c->connerr[n - 1] == ' '))
        c->connerr[--n] = '\0';
    drop_session(c);
    uv_timer_stop(c->timer);
    if (!c->ever_connected) {
        /* Never reached the server: report at once (a wrong conninfo should not look like a
         * slow database), and keep trying in the background. */
        while (c->head && c->state != ST_CLOSED)
            fail_head(c, GS_EDB, 0, c->connerr);
    }
    if (c->state == ST_CLOSED)
        return;
    mark_down(c);
    expire_waiting(c);
    if (c->state == ST_CLOSED)
        return;
    schedule_retry(c);
}

/* The session died under us. The op on the wire: a transaction whose COMMIT was not sent was
 * rolled back by the server and runs again on the next session; a COMMIT, or a single statement
 * that was sent, may or may not have taken effect: it fails with GS_EDBLOST and in_doubt set
 * (see pgasync.h). */
static void lost(pga_conn *c, const char *why)
{
    snprintf(c->connerr, sizeof c->connerr, "connection to PostgreSQL lost: %s",
             why && *why ? why : "server closed the connection");
    size_t n = strlen(c->connerr);
    while (n && (c->connerr[n - 1] == '\n' || c->connerr[n - 1] == ' '))
        c->connerr[--n] = '\0';
    drop_session(c);
    mark_down(c);
    c->attempts = 0;
    c->state = ST_WAITING;
    c->sent = 0;
    c->op_started_ms = 0;
    pop *o = c->head;
    if (o) {
        int in_doubt = o->is_tx ? o->cur == o->nst : o->executed;
        if (o->internal) {
            op_reset(o);
        } else if (in_doubt) {
            fail_head(c, GS_EDBLOST, 1, c->connerr);
        } else if (o->is_tx && o->cur == o->nst + 1) {
            /* failed already and rolling back: the server rolled back for us */
            finish_head(c);
        } else {
            op_reset(o);
        }
    }
    if (c->state == ST_CLOSED)
        return;
    /* the session set-up of the next session goes first again */
    if (c->head && c->head->internal) {
        pop *s = c->head;
        c->head = s->next;
        if (c->tail == s)
            c->tail = NULL;
        if (c->front == s)
            c->front = NULL;
        pending_dec(c);
        op_free(s);
    }
    schedule_retry(c);
}

static void session_done(pga_conn *c, PGresult *const *res, int nres, const pga_error *err,
                         void *ud)
{
    (void)res;
    (void)nres;
    (void)ud;
    if (err && err->err.code != GS_EDBLOST && c->state != ST_CLOSED)
        log_event(c->L->log, LOG_ERROR, "db.session_setup", "error", err->err.msg, NULL);
}

static int submit(pga_conn *c, const pga_stmt *stmts, const char *const *names,
                  const pga_copy *copies, int n, int is_tx, int prep_only, int internal, pga_cb cb,
                  void *ud, gs_err *e);

static void connected(pga_conn *c)
{
    uv_timer_stop(c->timer);
    c->state = ST_READY;
    c->attempts = 0;
    PQsetnonblocking(c->pg, 1);
    int again = c->ever_connected;
    c->ever_connected = 1;
    mark_up(c);
    if (c->session_sql) {
        pga_stmt s = {c->session_sql, 0, NULL};
        c->in_connect_hook = 1;
        submit(c, &s, NULL, NULL, 1, 0, 0, 1, session_done, NULL, NULL);
        c->in_connect_hook = 0;
    }
    if (c->on_connect) {
        c->in_connect_hook = 1;
        c->on_connect(c, again, c->on_connect_ud);
        c->in_connect_hook = 0;
        if (c->state != ST_READY)
            return;
    }
    c->front = NULL;
    drive(c);
}

static void connect_step(pga_conn *c)
{
    PostgresPollingStatusType ps = PQconnectPoll(c->pg);
    switch (ps) {
    case PGRES_POLLING_READING:
        watch(c, UV_READABLE);
        return;
    case PGRES_POLLING_WRITING:
        watch(c, UV_WRITABLE);
        return;
    case PGRES_POLLING_OK:
        connected(c);
        return;
    default:
        attempt_failed(c, PQerrorMessage(c->pg));
        return;
    }
}

static void start_connect(pga_conn *c)
{
    c->state = ST_CONNECTING;
    c->pg = PQconnectStart(c->conninfo);
    if (!c->pg || PQstatus(c->pg) == CONNECTION_BAD) {
        attempt_failed(c, c->pg ? PQerrorMessage(c->pg) : "out of memory");
        return;
    }
    /* libpq wants the first poll after the socket becomes writable */
    watch(c, UV_WRITABLE);
    if (!c->poll) {
        attempt_failed(c, "cannot watch the PostgreSQL socket");
        return;
    }
    /* PQconnectPoll does not enforce connect_timeout: a server that accepts and never answers
     * must not hold the connection for ever */
    uv_timer_start(c->timer, on_timer, CONNECT_TIMEOUT_MS, 0);
    update_refs(c);
}

static void on_timer(uv_timer_t *t)
{
    pga_conn *c = t->data;
    if (c->state == ST_WAITING)
        start_connect(c);
    else if (c->state == ST_CONNECTING)
        attempt_failed(c, "timed out");
}

/* Hand the notifications libpq has read to the notify callback (dropped without one). */
static void drain_notifies(pga_conn *c)
{
    PGnotify *nt;
    while (c->state == ST_READY && (nt = PQnotifies(c->pg)) != NULL) {
        if (c->on_notify)
            c->on_notify(c, nt->relname, nt->extra ? nt->extra : "", c->on_notify_ud);
        PQfreemem(nt);
    }
}

/* The connection's command finished; 1 when the session turned out to be gone. */
static int session_gone(pga_conn *c)
{
    return PQstatus(c->pg) == CONNECTION_BAD;
}

/* Results of a pipelined single statement: set-up, statement, Sync. Returns 1 when the Sync
 * came (the op's command is complete). */
static int pipe_result(pga_conn *c, PGresult *r)
{
    pop *o = c->head;
    ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_PIPELINE_SYNC) {
        PQclear(r);
        PQexitPipelineMode(c->pg);
        return 1;
    }
    if (o->pipe_idx == 0) {
        if (st == PGRES_FATAL_ERROR && !o->pipe_err)
            o->pipe_err = r;
        else
            PQclear(r);
    } else {
        PQclear(c->last);
        c->last = r;
    }
    return 0;
}

/* COPY IN of the head op's current statement: hand its data to libpq, then the end (or, for a
 * statement that asked for COPY IN without data, an error that makes the server fail it).
 * Returns 0 when the end is queued, 1 when libpq's buffer is full (wait until writable), -1
 * when the session failed. libpq grows its output buffer rather than refuse data, so 1 is rare;
 * the chunks bound how much is copied into it before a flush. */
#define COPY_CHUNK 65536
static int copy_push(pga_conn *c)
{
    pop *o = c->head;
    pstmt *s = &o->st[o->cur];
    while (o->copying == 1 && o->copy_off < s->copy_len) {
        size_t n = s->copy_len - o->copy_off;
        if (n > COPY_CHUNK)
            n = COPY_CHUNK;
        int r = PQputCopyData(c->pg, s->copy + o->copy_off, (int)n);
        if (r < 0)
            return -1;
        if (r == 0)
            return 1;
        o->copy_off += n;
        if (PQflush(c->pg) < 0)
            return -1;
    }
    o->copying = 2;
    int r = PQputCopyEnd(c->pg, s->copy ? NULL : "no COPY data was given for this statement");
    if (r < 0)
        return -1;
    if (r == 0)
        return 1;
    o->copying = 0;
    return 0;
}

static void drive(pga_conn *c)
{
    for (;;) {
        if (c->state != ST_READY)
            return;
        if (!c->sent) {
            if (!c->head) {
                /* idle: watch the socket anyway, to notice a lost session at once */
                if (!PQconsumeInput(c->pg) || session_gone(c)) {
                    lost(c, PQerrorMessage(c->pg));
                    return;
                }
                drain_notifies(c);
                if (c->state != ST_READY)
                    return;
                watch(c, UV_READABLE);
                return;
            }
            if (!c->op_started_ms) {
                /* A session that died while idle (the server said FATAL and closed) is often
                 * not noticed yet: look before sending, so that new work waits for the next
                 * session instead of failing in doubt. */
                if (!PQconsumeInput(c->pg) || session_gone(c)) {
                    lost(c, PQerrorMessage(c->pg));
                    return;
                }
                c->op_started_ms = now_ms(c);
            }
            int sr = send_current(c);
            if (sr == SEND_FAILED) {
                if (session_gone(c)) {
                    lost(c, PQerrorMessage(c->pg));
                    return;
                }
                pop *o = c->head;
                set_pg_error(o, NULL, c);
                if (PQpipelineStatus(c->pg) != PQ_PIPELINE_OFF && !PQexitPipelineMode(c->pg)) {
                    /* the set-up is queued in a pipeline we cannot finish: start afresh */
                    o->piped = 0;
                    lost(c, "could not send a statement");
                    return;
                }
                o->piped = 0;
                finish_head(c);
                continue;
            }
            if (sr == SEND_NOTHING || sr == SEND_LOCAL_ERROR) {
                pop *o = c->head;
                if (sr == SEND_NOTHING ? stmt_done(o) : stmt_failed(o))
                    finish_head(c);
                continue;
            }
        }
        if (c->head && c->head->copying) {
            int cr = copy_push(c);
            if (cr < 0) {
                lost(c, PQerrorMessage(c->pg));
                return;
            }
            if (cr > 0) {
                watch(c, UV_READABLE | UV_WRITABLE);
                return;
            }
        }
        int f = PQflush(c->pg);
        if (f < 0) {
            lost(c, PQerrorMessage(c->pg));
            return;
        }
        if (f == 1) {
            watch(c, UV_READABLE | UV_WRITABLE);
            return;
        }
        if (!PQconsumeInput(c->pg)) {
            lost(c, PQerrorMessage(c->pg));
            return;
        }
        drain_notifies(c);
        if (c->state != ST_READY || !c->head)
            continue;
        pop *o = c->head;
        int complete = 0;
        while (!PQisBusy(c->pg)) {
            PGresult *r = PQgetResult(c->pg);
            if (o->piped) {
                if (!r) {
                    o->pipe_idx++;
                    if (session_gone(c))
                        break;
                    continue;
                }
                if (pipe_result(c, r)) {
                    complete = 1;
                    break;
                }
                continue;
            }
            if (r && PQresultStatus(r) == PGRES_COPY_IN) {
                /* COPY ... FROM STDIN: send the data, its result follows the end */
                PQclear(r);
                o->copying = 1;
                o->copy_off = 0;
                break;
            }
            if (r) {
                /* keep the last result of the command (a statement yields one) */
                PQclear(c->last);
                c->last = r;
                continue;
            }
            complete = 1;
            break;
        }
        if (session_gone(c)) {
            lost(c, PQerrorMessage(c->pg));
            return;
        }
        if (o->copying)
            continue;
        if (complete) {
            PGresult *done = c->last;
            c->last = NULL;
            c->sent = 0;
            if (o->piped && o->pipe_err) {
                /* the set-up failed: report it, not the statement's "aborted" */
                PQclear(done);
                done = o->pipe_err;
                o->pipe_err = NULL;
            }
            o->piped = 0;
            if (advance(c, done))
                finish_head(c);
            continue;
        }
        watch(c, UV_READABLE);
        return;
    }
}

static void on_poll(uv_poll_t *p, int status, int events)
{
    (void)status;
    (void)events;
    pga_conn *c = p->data;
    if (c->state == ST_CONNECTING)
        connect_step(c);
    else
        drive(c);
}

int pga_open(gs_loop *L, const char *conninfo, pga_conn **out, gs_err *e)
{
    pga_conn *c = calloc(1, sizeof *c);
    if (!c)
        return gs_err_set(e, GS_ENOMEM, "out of memory");
    c->L = L;
    c->fd = -1;
    c->wait_ms = DEFAULT_WAIT_MS;
    c->unnamed = L->db.unnamed;
    c->conninfo = strdup(conninfo ? conninfo : "");
    c->tx_setup = L->db.tx_setup[0] ? strdup(L->db.tx_setup) : NULL;
    c->timer = malloc(sizeof *c->timer);
    if (!c->conninfo || !c->timer || (L->db.tx_setup[0] && !c->tx_setup)) {
        free(c->conninfo);
        free(c->tx_setup);
        free(c->timer);
        free(c);
        return gs_err_set(e, GS_ENOMEM, "out of memory");
    }
    uv_timer_init(&L->uv, c->timer);
    c->timer->data = c;
    c->handles_open = 1;
    c->state = ST_CONNECTING;
    c->pg = PQconnectStart(c->conninfo);
    if (!c->pg || PQstatus(c->pg) == CONNECTION_BAD) {
        gs_err_set(e, GS_EDB, "cannot connect to PostgreSQL: %s",
                   c->pg ? PQerrorMessage(c->pg) : "out of memory");
        PQfinish(c->pg);
        c->pg = NULL;
        c->state = ST_CLOSED;
        free(c->conninfo);
        free(c->tx_setup);
        gs_uv_close_free((uv_handle_t *)c->timer);
        free(c);
        return GS_EDB;
    }
    watch(c, UV_WRITABLE);
    if (!c->poll) {
        PQfinish(c->pg);
        c->state = ST_CLOSED;
        free(c->conninfo);
        free(c->tx_setup);
        gs_uv_close_free((uv_handle_t *)c->timer);
        free(c);
        return gs_err_set(e, GS_EIO, "cannot watch the PostgreSQL socket");
    }
    uv_timer_start(c->timer, on_timer, CONNECT_TIMEOUT_MS, 0);
    update_refs(c);
    c->next = L->db.conns;
    if (c->next)
        c->next->prev = c;
    L->db.conns = c;
    *out = c;
    return 0;
}

static int set_str(char **dst, const char *v)
{
    char *d = NULL;
    if (v && *v && !(d = strdup(v)))
        return GS_ENOMEM;
    free(*dst);
    *dst = d;
    return 0;
}

int pga_set_tx_setup(pga_conn *c, const char *sql)
{
    return set_str(&c->tx_setup, sql);
}

int pga_set_session(pga_conn *c, const char *sql)
{
    return set_str(&c->session_sql, sql);
}

void pga_set_unnamed(pga_conn *c, int unnamed)
{
    c->unnamed = unnamed;
}

void pga_set_wait(pga_conn *c, int64_t wait_ms)
{
    c->wait_ms = wait_ms > 0 ? wait_ms : DEFAULT_WAIT_MS;
}

void pga_on_connect(pga_conn *c, pga_connect_fn fn, void *ud)
{
    c->on_connect = fn;
    c->on_connect_ud = ud;
}

void pga_on_notify(pga_conn *c, pga_notify_fn fn, void *ud)
{
    c->on_notify = fn;
    c->on_notify_ud = ud;
}

int pga_is_up(const pga_conn *c)
{
    return c->state == ST_READY;
}

static void handle_closed(uv_handle_t *h)
{
    pga_conn *c = h->data;
    free(h);
    if (--c->handles_open > 0)
        return;
    free(c->conninfo);
    free(c->tx_setup);
    free(c->session_sql);
    free(c);
}

void pga_close(pga_conn *c)
{
    if (!c || c->state == ST_CLOSED)
        return;
    if (c->is_down) {
        /* a closed connection is not part of an outage */
        c->is_down = 0;
        c->ever_connected = 0;
        gs_dbctx *d = &c->L->db;
        if (d->down && --d->down == 0) {
            d->outage_ms += now_ms(c) - d->outage_start_ms;
            d->outages++;
        }
    }
    c->state = ST_CLOSED;
    if (c->prev)
        c->prev->next = c->next;
    else if (c->L->db.conns == c)
        c->L->db.conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    uv_timer_stop(c->timer);
    fail_all(c, GS_EDB, "connection closed");
    PQclear(c->last);
    c->last = NULL;
    for (int i = 0; i < c->nprep; i++) {
        free(c->prep[i].name);
        free(c->prep[i].sql);
    }
    free(c->prep);
    c->prep = NULL;
    c->nprep = c->capprep = 0;
    if (c->poll) {
        uv_poll_stop(c->poll);
        uv_close((uv_handle_t *)c->poll, handle_closed);
        c->poll = NULL;
        c->handles_open++;
    }
    if (c->pg)
        PQfinish(c->pg);
    c->pg = NULL;
    uv_close((uv_handle_t *)c->timer, handle_closed);
}

static int submit(pga_conn *c, const pga_stmt *stmts, const char *const *names,
                  const pga_copy *copies, int n, int is_tx, int prep_only, int internal, pga_cb cb,
                  void *ud, gs_err *e)
{
    if (c->state == ST_CLOSED)
        return gs_err_set(e, GS_EDB, "connection closed");
    pop *o = calloc(1, sizeof *o);
    if (!o)
        return gs_err_set(e, GS_ENOMEM, "out of memory");
    o->st = calloc((size_t)n, sizeof *o->st);
    o->res = calloc((size_t)n, sizeof *o->res);
    o->nst = n;
    if (!o->st || !o->res)
        goto oom;
    for (int i = 0; i < n; i++) {
        o->st[i].sql = dupn(stmts[i].sql);
        if (stmts[i].sql && !o->st[i].sql)
            goto oom;
        if (names && names[i] && !(o->st[i].name = strdup(names[i])))
            goto oom;
        o->st[i].prep_only = prep_only;
        if (copies && copies[i].data) {
            /* +1: a zero-length COPY still has data (no rows), unlike a statement without */
            if (!(o->st[i].copy = malloc(copies[i].len + 1)))
                goto oom;
            memcpy(o->st[i].copy, copies[i].data, copies[i].len);
            o->st[i].copy_len = copies[i].len;
        }
        if (stmts[i].nparams > 0) {
            o->st[i].values = calloc((size_t)stmts[i].nparams, sizeof(char *));
            if (!o->st[i].values)
                goto oom;
            o->st[i].nparams = stmts[i].nparams;
            for (int j = 0; stmts[i].values && j < stmts[i].nparams; j++) {
                o->st[i].values[j] = dupn(stmts[i].values[j]);
                if (stmts[i].values[j] && !o->st[i].values[j])
                    goto oom;
            }
        }
    }
    o->is_tx = is_tx;
    o->internal = internal;
    o->nres_cb = prep_only ? 0 : n;
    o->cur = is_tx ? -1 : 0;
    o->cb = cb;
    o->ud = ud;
    o->queued_ms = now_ms(c);
    if (c->in_connect_hook) {
        /* the connect hook's work runs before what waited for the session */
        pop *after = c->front;
        if (after) {
            o->next = after->next;
            after->next = o;
        } else {
            o->next = c->head;
            c->head = o;
        }
        if (c->tail == after)
            c->tail = o;
        c->front = o;
    } else {
        if (c->tail)
            c->tail->next = o;
        else
            c->head = o;
        c->tail = o;
    }
    if (c->npending++ == 0 && c->L->db.pending == 0)
        c->L->db.last_progress_ms = now_ms(c);
    c->L->db.pending++;
    if (c->state == ST_READY && !c->sent && !c->in_connect_hook) {
        /* start from the loop, so that the callback never runs inside this call */
        watch(c, UV_READABLE | UV_WRITABLE);
    }
    update_refs(c);
    return 0;
oom:
    op_free(o);
    return gs_err_set(e, GS_ENOMEM, "out of memory");
}

int pga_query(pga_conn *c, const char *sql, int nparams, const char *const *values, pga_cb cb,
              void *ud, gs_err *e)
{
    if (!sql)
        return gs_err_set(e, GS_EINVAL, "no SQL text");
    pga_stmt s = {sql, nparams, values};
    return submit(c, &s, NULL, NULL, 1, 0, 0, 0, cb, ud, e);
}

int pga_tx(pga_conn *c, const pga_stmt *stmts, int nstmts, pga_cb cb, void *ud, gs_err *e)
{
    return pga_tx_named(c, stmts, NULL, nstmts, cb, ud, e);
}

int pga_prepare(pga_conn *c, const char *name, const char *sql, int nparams, pga_cb cb, void *ud,
                gs_err *e)
{
    if (!name || !*name || !sql)
        return gs_err_set(e, GS_EINVAL, "a prepared statement needs a name and SQL text");
    pga_stmt s = {sql, nparams, NULL};
    const char *names[1] = {name};
    return submit(c, &s, names, NULL, 1, 0, 1, 0, cb, ud, e);
}

int pga_query_prepared(pga_conn *c, const char *name, int nparams, const char *const *values,
                       pga_cb cb, void *ud, gs_err *e)
{
    if (!name || !*name)
        return gs_err_set(e, GS_EINVAL, "no statement name");
    pga_stmt s = {NULL, nparams, values};
    const char *names[1] = {name};
    return submit(c, &s, names, NULL, 1, 0, 0, 0, cb, ud, e);
}

int pga_tx_named(pga_conn *c, const pga_stmt *stmts, const char *const *names, int nstmts,
                 pga_cb cb, void *ud, gs_err *e)
{
    if (nstmts <= 0)
        return gs_err_set(e, GS_EINVAL, "empty transaction");
    for (int i = 0; i < nstmts; i++)
        if (!stmts[i].sql && !(names && names[i]))
            return gs_err_set(e, GS_EINVAL, "statement %d has neither SQL nor a name", i + 1);
    return submit(c, stmts, names, NULL, nstmts, 1, 0, 0, cb, ud, e);
}

int pga_tx_copy(pga_conn *c, const pga_stmt *stmts, const char *const *names,
                const pga_copy *copies, int nstmts, pga_cb cb, void *ud, gs_err *e)
{
    if (nstmts <= 0)
        return gs_err_set(e, GS_EINVAL, "empty transaction");
    for (int i = 0; i < nstmts; i++) {
        if (!stmts[i].sql && !(names && names[i]))
            return gs_err_set(e, GS_EINVAL, "statement %d has neither SQL nor a name", i + 1);
        if (copies && copies[i].data && (!stmts[i].sql || (names && names[i])))
            return gs_err_set(e, GS_EINVAL, "COPY statement %d must be unnamed SQL text", i + 1);
    }
    return submit(c, stmts, names, copies, nstmts, 1, 0, 0, cb, ud, e);
}

int pga_is_prepared(const pga_conn *c, const char *name)
{
    return find_prepared(c, name) != NULL;
}

void pga_stmt_name(const char *sql, char *buf, size_t len)
{
    /* FNV-1a, 64 bits: a name per SQL text, so a new text (a schema change) gets a new name */
    uint64_t h = 1469598103934665603ULL;
    for (const unsigned char *p = (const unsigned char *)sql; *p; p++) {
        h ^= *p;
        h *= 1099511628211ULL;
    }
    snprintf(buf, len, "pga_%016llx", (unsigned long long)h);
}

int pga_pending(const pga_conn *c)
{
    return c->npending;
}

PGconn *pga_pgconn(pga_conn *c)
{
    return c->pg;
}

double pga_outage_seconds(const gs_loop *L)
{
    uint64_t ms = L->db.outage_ms;
    if (L->db.down)
        ms += gs_loop_now_ms(L) - L->db.outage_start_ms;
    return (double)ms / 1000.0;
}

int pga_stalled(const gs_loop *L, int64_t stall_ms, double *longest_s)
{
    uint64_t now = gs_loop_now_ms(L), worst = 0;
    for (const pga_conn *c = L->db.conns; c; c = c->next)
        if (c->state == ST_READY && c->head && c->op_started_ms && now - c->op_started_ms > worst)
            worst = now - c->op_started_ms;
    if (longest_s)
        *longest_s = (double)worst / 1000.0;
    return stall_ms > 0 && worst > (uint64_t)stall_ms;
}
