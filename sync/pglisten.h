/*
 * pglisten.h - LISTEN on a PostgreSQL channel from the gs_loop (pgasync.h has no notification
 * callback, so this module keeps its own connection, watched with a uv_poll).
 *
 * The callback gets every notification's payload. After the connection was lost and
 * re-established (retried every second, the reconnect itself is a short blocking connect to the
 * local server), it is called once with payload NULL: notifications may have been missed, the
 * caller should sweep. Connecting runs `SET ghlsync.origin = 'engine'` like every engine session.
 *
 * Ownership: conninfo and channel are copied. pgl_close stops the callbacks at once and frees the
 * listener when the loop has released its handles. Loop thread only.
 */
#ifndef GHLSYNC_PGLISTEN_H
#define GHLSYNC_PGLISTEN_H

#include "err.h"
#include "loop.h"

typedef struct pgl_listener pgl_listener;
typedef void (*pgl_cb)(const char *payload, void *ud);

int pgl_open(gs_loop *L, const char *conninfo, const char *channel, pgl_cb cb, void *ud,
             pgl_listener **out, gs_err *e);
void pgl_close(pgl_listener *l);

#endif
