/* pgasync.c - see pgasync.h. */
#include "pgasync.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct pstmt {
    char *sql;  /* NULL: a prepared statement run by name only */
    char *name; /* NULL: unnamed (parsed and planned each time) */
    int nparams;
    char **values;
    int prep_only; /* pga_prepare: nothing to execute */
} pstmt;

typedef struct pop {
    struct pop *next;
    pstmt *st;
    int nst;
    int is_tx;
    pga_cb cb;
    void *ud;
    PGresult **res; /* nst */
    int cur;        /* phase: -1 BEGIN, 0..nst-1 statements, nst COMMIT, nst+1 ROLLBACK */
    int preparing;  /* the current statement's Parse is on the wire, its execution follows */
    int nres_cb;    /* results handed to the callback */
    pga_error err;
    int failed;
} pop;

/* A statement prepared on the connection (protocol-level, so not undone by a ROLLBACK). */
typedef struct prepared {
    char *name;
    char *sql;
} prepared;

enum { ST_CONNECTING, ST_READY, ST_FAILED, ST_CLOSED };

struct pga_conn {
    gs_loop *L;
    PGconn *pg;
    uv_poll_t *poll;
    int fd;
    int state;
    int sent; /* a command is on the wire for the head op */
    PGresult *last;
    pop *head, *tail;
    int npending;
    int events;
    char connerr[512];
    prepared *prep;
    int nprep, capprep;
};

static void drive(pga_conn *c);

static char *dupn(const char *s)
{
    return s ? strdup(s) : NULL;
}

static void op_free(pop *o)
{
    for (int i = 0; i < o->nst; i++) {
        free(o->st[i].sql);
        free(o->st[i].name);
        for (int j = 0; j < o->st[i].nparams; j++)
            free(o->st[i].values[j]);
        free(o->st[i].values);
        if (o->res)
            PQclear(o->res[i]);
    }
    free(o->st);
    free(o->res);
    free(o);
}

static void on_poll(uv_poll_t *p, int status, int events);

static void watch(pga_conn *c, int events)
{
    int fd = PQsocket(c->pg);
    if (fd < 0)
        return;
    if (c->poll && c->fd != fd) {
        uv_poll_stop(c->poll);
        gs_uv_close_free((uv_handle_t *)c->poll);
        c->poll = NULL;
    }
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
}

static void finish_head(pga_conn *c)
{
    pop *o = c->head;
    c->head = o->next;
    if (!c->head)
        c->tail = NULL;
    c->npending--;
    c->sent = 0;
    o->cb(c, o->res, o->nres_cb, o->failed ? &o->err : NULL, o->ud);
    op_free(o);
}

static void fail_all(pga_conn *c, const char *why)
{
    while (c->head) {
        pop *o = c->head;
        if (!o->failed) {
            o->failed = 1;
            gs_err_set(&o->err.err, GS_EDB, "%s", why);
        }
        finish_head(c);
    }
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

static const char *prepared_sql(const pga_conn *c, const char *name)
{
    for (int i = 0; i < c->nprep; i++)
        if (strcmp(c->prep[i].name, name) == 0)
            return c->prep[i].sql;
    return NULL;
}

static int remember_prepared(pga_conn *c, const char *name, const char *sql)
{
    if (c->nprep == c->capprep) {
        int cap = c->capprep ? c->capprep * 2 : 8;
        prepared *p = realloc(c->prep, (size_t)cap * sizeof *p);
        if (!p)
            return -1;
        c->prep = p;
        c->capprep = cap;
    }
    prepared *p = &c->prep[c->nprep];
    p->name = strdup(name);
    p->sql = strdup(sql);
    if (!p->name || !p->sql) {
        free(p->name);
        free(p->sql);
        return -1;
    }
    c->nprep++;
    return 0;
}

enum { SEND_OK = 0, SEND_FAILED = -1, SEND_NOTHING = 1, SEND_LOCAL_ERROR = 2 };

/* A named statement of the head op: Parse it first when this connection has not, execute it by
 * name otherwise. */
static int send_named(pga_conn *c, pop *o, pstmt *s)
{
    const char *have = prepared_sql(c, s->name);
    if (have && s->sql && strcmp(have, s->sql) != 0) {
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
        if (!PQsendPrepare(c->pg, s->name, s->sql, s->nparams, NULL))
            return SEND_FAILED;
        o->preparing = 1;
        c->sent = 1;
        return SEND_OK;
    }
    if (s->prep_only)
        return SEND_NOTHING;
    if (!PQsendQueryPrepared(c->pg, s->name, s->nparams, (const char *const *)s->values, NULL, NULL,
                             0))
        return SEND_FAILED;
    c->sent = 1;
    return SEND_OK;
}

/* Send the command for the head op's current phase. */
static int send_current(pga_conn *c)
{
    pop *o = c->head;
    int ok;
    if (o->cur >= 0 && o->cur < o->nst && o->st[o->cur].name)
        return send_named(c, o, &o->st[o->cur]);
    if (o->cur == -1)
        ok = PQsendQueryParams(c->pg, "BEGIN", 0, NULL, NULL, NULL, NULL, 0);
    else if (o->cur == o->nst)
        ok = PQsendQueryParams(c->pg, "COMMIT", 0, NULL, NULL, NULL, NULL, 0);
    else if (o->cur == o->nst + 1)
        ok = PQsendQueryParams(c->pg, "ROLLBACK", 0, NULL, NULL, NULL, NULL, 0);
    else {
        pstmt *s = &o->st[o->cur];
        ok = PQsendQueryParams(c->pg, s->sql, s->nparams, NULL, (const char *const *)s->values,
                               NULL, NULL, 0);
    }
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
        if (remember_prepared(c, s->name, s->sql) != 0) {
            o->failed = 1;
            gs_err_set(&o->err.err, GS_ENOMEM, "out of memory");
            return stmt_failed(o);
        }
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
            return 1;
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

static void drive(pga_conn *c)
{
    for (;;) {
        if (c->state != ST_READY)
            return;
        if (!c->sent) {
            if (!c->head) {
                watch(c, 0);
                return;
            }
            int sr = send_current(c);
            if (sr == SEND_FAILED) {
                pop *o = c->head;
                set_pg_error(o, NULL, c);
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
        int f = PQflush(c->pg);
        if (f < 0) {
            c->state = ST_FAILED;
            snprintf(c->connerr, sizeof c->connerr, "%s", PQerrorMessage(c->pg));
            fail_all(c, c->connerr);
            watch(c, 0);
            return;
        }
        if (f == 1) {
            watch(c, UV_READABLE | UV_WRITABLE);
            return;
        }
        if (!PQconsumeInput(c->pg)) {
            c->state = ST_FAILED;
            snprintf(c->connerr, sizeof c->connerr, "connection lost: %s", PQerrorMessage(c->pg));
            fail_all(c, c->connerr);
            watch(c, 0);
            return;
        }
        while (!PQisBusy(c->pg)) {
            PGresult *r = PQgetResult(c->pg);
            if (r) {
                /* keep the last result of the command (a statement yields one) */
                PQclear(c->last);
                c->last = r;
                continue;
            }
            PGresult *done = c->last;
            c->last = NULL;
            c->sent = 0;
            if (advance(c, done))
                finish_head(c);
            break;
        }
        if (c->sent) {
            watch(c, UV_READABLE);
            return;
        }
    }
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
        c->state = ST_READY;
        PQsetnonblocking(c->pg, 1);
        drive(c);
        return;
    default:
        c->state = ST_FAILED;
        snprintf(c->connerr, sizeof c->connerr, "cannot connect to PostgreSQL: %s",
                 PQerrorMessage(c->pg));
        fail_all(c, c->connerr);
        watch(c, 0);
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
    c->pg = PQconnectStart(conninfo);
    if (!c->pg || PQstatus(c->pg) == CONNECTION_BAD) {
        gs_err_set(e, GS_EDB, "cannot connect to PostgreSQL: %s",
                   c->pg ? PQerrorMessage(c->pg) : "out of memory");
        PQfinish(c->pg);
        free(c);
        return GS_EDB;
    }
    c->state = ST_CONNECTING;
    /* libpq wants the first poll after the socket becomes writable */
    watch(c, UV_WRITABLE);
    if (!c->poll) {
        PQfinish(c->pg);
        free(c);
        return gs_err_set(e, GS_EIO, "cannot watch the PostgreSQL socket");
    }
    *out = c;
    return 0;
}

static void close_cb(uv_handle_t *h)
{
    pga_conn *c = h->data;
    PQfinish(c->pg);
    free(h);
    free(c);
}

void pga_close(pga_conn *c)
{
    if (!c)
        return;
    c->state = ST_CLOSED;
    fail_all(c, "connection closed");
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
        c->poll->data = c;
        uv_close((uv_handle_t *)c->poll, close_cb);
    } else {
        PQfinish(c->pg);
        free(c);
    }
}

static int submit(pga_conn *c, const pga_stmt *stmts, const char *const *names, int n, int is_tx,
                  int prep_only, pga_cb cb, void *ud, gs_err *e)
{
    if (c->state == ST_CLOSED || c->state == ST_FAILED)
        return gs_err_set(e, GS_EDB, "%s", c->connerr[0] ? c->connerr : "connection closed");
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
    o->nres_cb = prep_only ? 0 : n;
    o->cur = is_tx ? -1 : 0;
    o->cb = cb;
    o->ud = ud;
    if (c->tail)
        c->tail->next = o;
    else
        c->head = o;
    c->tail = o;
    c->npending++;
    if (c->state == ST_READY && !c->sent) {
        /* start from the loop, so that the callback never runs inside this call */
        watch(c, UV_WRITABLE);
    }
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
    return submit(c, &s, NULL, 1, 0, 0, cb, ud, e);
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
    return submit(c, &s, names, 1, 0, 1, cb, ud, e);
}

int pga_query_prepared(pga_conn *c, const char *name, int nparams, const char *const *values,
                       pga_cb cb, void *ud, gs_err *e)
{
    if (!name || !*name)
        return gs_err_set(e, GS_EINVAL, "no statement name");
    pga_stmt s = {NULL, nparams, values};
    const char *names[1] = {name};
    return submit(c, &s, names, 1, 0, 0, cb, ud, e);
}

int pga_tx_named(pga_conn *c, const pga_stmt *stmts, const char *const *names, int nstmts,
                 pga_cb cb, void *ud, gs_err *e)
{
    if (nstmts <= 0)
        return gs_err_set(e, GS_EINVAL, "empty transaction");
    for (int i = 0; i < nstmts; i++)
        if (!stmts[i].sql && !(names && names[i]))
            return gs_err_set(e, GS_EINVAL, "statement %d has neither SQL nor a name", i + 1);
    return submit(c, stmts, names, nstmts, 1, 0, cb, ud, e);
}

int pga_is_prepared(const pga_conn *c, const char *name)
{
    return prepared_sql(c, name) != NULL;
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
