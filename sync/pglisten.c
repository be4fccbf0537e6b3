/*
 * pglisten.c - see pglisten.h.
 */
#include "pglisten.h"

#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>

struct pgl_listener {
    gs_loop *L;
    char *conninfo, *channel;
    pgl_cb cb;
    void *ud;
    PGconn *pg;
    uv_poll_t *poll;   /* NULL while disconnected */
    uv_timer_t *retry; /* reconnect timer */
};

static void on_readable(uv_poll_t *h, int status, int events);

static int connect_listen(pgl_listener *l, gs_err *e)
{
    l->pg = PQconnectdb(l->conninfo);
    if (PQstatus(l->pg) != CONNECTION_OK) {
        gs_err_set(e, GS_EDB, "LISTEN connection: %s", PQerrorMessage(l->pg));
        PQfinish(l->pg);
        l->pg = NULL;
        return GS_EDB;
    }
    char *ch = PQescapeIdentifier(l->pg, l->channel, strlen(l->channel));
    char sql[512];
    snprintf(sql, sizeof sql, "SET ghlsync.origin = 'engine'; LISTEN %s", ch ? ch : "\"\"");
    PQfreemem(ch);
    PGresult *r = PQexec(l->pg, sql);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok)
        gs_err_set(e, GS_EDB, "LISTEN: %s", PQerrorMessage(l->pg));
    PQclear(r);
    if (!ok || PQsetnonblocking(l->pg, 1) != 0) {
        PQfinish(l->pg);
        l->pg = NULL;
        return GS_EDB;
    }
    l->poll = malloc(sizeof *l->poll);
    if (!l->poll || uv_poll_init(&l->L->uv, l->poll, PQsocket(l->pg)) != 0) {
        free(l->poll);
        l->poll = NULL;
        PQfinish(l->pg);
        l->pg = NULL;
        return gs_err_set(e, GS_ENOMEM, "LISTEN: cannot watch the socket");
    }
    l->poll->data = l;
    uv_poll_start(l->poll, UV_READABLE, on_readable);
    return 0;
}

static void on_retry(uv_timer_t *t)
{
    pgl_listener *l = t->data;
    gs_err e = {0};
    if (connect_listen(l, &e) == 0) {
        uv_timer_stop(t);
        l->cb(NULL, l->ud);
    }
}

static void lost(pgl_listener *l)
{
    if (l->poll) {
        uv_poll_stop(l->poll);
        gs_uv_close_free((uv_handle_t *)l->poll);
        l->poll = NULL;
    }
    PQfinish(l->pg);
    l->pg = NULL;
    log_event(l->L->log, LOG_WARN, "push.listen_lost", "channel", l->channel, NULL);
    uv_timer_start(l->retry, on_retry, 1000, 1000);
}

static void on_readable(uv_poll_t *h, int status, int events)
{
    (void)events;
    pgl_listener *l = h->data;
    if (status < 0 || !PQconsumeInput(l->pg)) {
        lost(l);
        return;
    }
    PGnotify *n;
    while (l->pg && (n = PQnotifies(l->pg)) != NULL) {
        l->cb(n->extra ? n->extra : "", l->ud);
        PQfreemem(n);
    }
    /* results of nothing we asked for (there are none) would be drained here */
    if (l->pg && PQstatus(l->pg) == CONNECTION_BAD)
        lost(l);
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
    l->conninfo = strdup(conninfo ? conninfo : "");
    l->channel = strdup(channel);
    l->retry = malloc(sizeof *l->retry);
    if (!l->conninfo || !l->channel || !l->retry) {
        free(l->conninfo);
        free(l->channel);
        free(l->retry);
        free(l);
        return gs_err_set(e, GS_ENOMEM, "out of memory");
    }
    uv_timer_init(&L->uv, l->retry);
    l->retry->data = l;
    int rc = connect_listen(l, e);
    if (rc) {
        gs_uv_close_free((uv_handle_t *)l->retry);
        free(l->conninfo);
        free(l->channel);
        free(l);
        return rc;
    }
    *out = l;
    return 0;
}

void pgl_close(pgl_listener *l)
{
    if (!l)
        return;
    if (l->poll) {
        uv_poll_stop(l->poll);
        gs_uv_close_free((uv_handle_t *)l->poll);
    }
    uv_timer_stop(l->retry);
    gs_uv_close_free((uv_handle_t *)l->retry);
    PQfinish(l->pg);
    free(l->conninfo);
    free(l->channel);
    free(l);
}
