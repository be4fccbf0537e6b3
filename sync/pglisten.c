/*
 * pglisten.c - see pglisten.h.
 */
#include "pglisten.h"

#include "pgasync.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pgl_listener {
    gs_loop *L;
    char *channel;
    char *listen_sql;
    pgl_cb cb;
    void *ud;
    pga_conn *db;
    int listening;
    int closed;
};

struct listen_op {
    pgl_listener *l;
    int reconnected;
};

static void on_listen(pga_conn *c, PGresult *const *res, int nres, const pga_error *err, void *ud)
{
    (void)c;
    (void)res;
    (void)nres;
    struct listen_op *op = ud;
    pgl_listener *l = op->l;
    int again = op->reconnected;
    free(op);
    if (!l || l->closed)
        return;
    if (err) {
        /* a lost session is reported by pgasync, and LISTEN runs again on the next one */
        if (err->err.code != GS_EDBLOST)
            log_event(l->L->log, LOG_ERROR, "push.listen_failed", "channel", l->channel, "error",
                      err->err.msg, NULL);
        return;
    }
    l->listening = 1;
    if (again)
        l->cb(NULL, l->ud);
}

static void on_connect(pga_conn *c, int reconnected, void *ud)
{
    pgl_listener *l = ud;
    l->listening = 0;
    struct listen_op *op = malloc(sizeof *op);
    if (!op)
        return;
    op->l = l;
    op->reconnected = reconnected;
    gs_err e = {0};
    if (pga_query(c, l->listen_sql, 0, NULL, on_listen, op, &e) != 0) {
        free(op);
        log_event(l->L->log, LOG_ERROR, "push.listen_failed", "channel", l->channel, "error", e.msg,
                  NULL);
    }
}

static void on_notify(pga_conn *c, const char *channel, const char *payload, void *ud)
{
    (void)c;
    pgl_listener *l = ud;
    if (!l->closed && strcmp(channel, l->channel) == 0)
        l->cb(payload, l->ud);
}

int pgl_open(gs_loop *L, const char *conninfo, const char *channel, pgl_cb cb, void *ud,
             pgl_listener **out, gs_err *e)
{
    pgl_listener *l = calloc(1, sizeof *l);
    if (!l)
        return gs_err_set(e, GS_ENOMEM, "out of memory");
    l->L = L;
    l->cb = cb;
    l->ud = ud;
    l->channel = strdup(channel);
    /* the channel is ours (a constant), but quote it as an identifier all the same */
    size_t n = strlen(channel) * 2 + 16;
    l->listen_sql = malloc(n);
    if (!l->channel || !l->listen_sql) {
        free(l->channel);
        free(l->listen_sql);
        free(l);
        return gs_err_set(e, GS_ENOMEM, "out of memory");
    }
    char *q = l->listen_sql;
    q += sprintf(q, "LISTEN \"");
    for (const char *p = channel; *p; p++) {
        if (*p == '"')
            *q++ = '"';
        *q++ = *p;
    }
    strcpy(q, "\"");
    int rc = pga_open(L, conninfo, &l->db, e);
    if (rc) {
        free(l->channel);
        free(l->listen_sql);
        free(l);
        return gs_err_wrap(e, "LISTEN connection");
    }
    /* no transaction set-up: LISTEN writes nothing */
    pga_set_tx_setup(l->db, NULL);
    pga_set_unnamed(l->db, 1);
    pga_on_connect(l->db, on_connect, l);
    pga_on_notify(l->db, on_notify, l);
    *out = l;
    return 0;
}

int pgl_listening(const pgl_listener *l)
{
    return l && l->listening && pga_is_up(l->db);
}

void pgl_close(pgl_listener *l)
{
    if (!l)
        return;
    l->closed = 1;
    /* a LISTEN still queued fails now; its op frees itself and finds the listener closed */
    pga_close(l->db);
    free(l->channel);
    free(l->listen_sql);
    free(l);
}
