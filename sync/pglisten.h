/*
 * pglisten.h - LISTEN on a PostgreSQL channel from the gs_loop.
 *
 * A pgasync.h connection of its own (so that it never blocks the loop, and reconnects like every
 * other connection: backoff with jitter, one log line per outage), whose every session starts with
 * LISTEN before anything else. The callback gets every notification's payload. Notifications sent
 * while there was no session are lost: each time LISTEN is in place again on a new session, the
 * callback is called once with payload NULL, and the caller should sweep (look for work it may
 * have missed). The first session does not call it (the caller sweeps at start anyway).
 *
 * LISTEN needs a session of its own: behind a transaction pooler the conninfo must reach
 * PostgreSQL directly (or a session-mode pool); see [database] session_url in README.md.
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
/* 1 while LISTEN is in place on a live session. */
int pgl_listening(const pgl_listener *l);
void pgl_close(pgl_listener *l);

#endif
