/*
 * tsim.h - start and stop the HighLevel simulator (tests/hlsim) from a test, and call its admin
 * interface.
 *
 * tsim_start runs $HLSIM_BIN (else $GHLSYNC_TOP/build/san/hlsim, else build/san/hlsim) with
 * --port 0 plus the extra arguments, and parses its start-up lines:
 *   listening on 127.0.0.1:PORT
 *   location <id> token <access> refresh <refresh>     (one per location)
 *   webhook-key <base64 SPKI of the Ed25519 key that signs its webhooks>
 *   admin-token <token>
 * The simulator's stderr goes to the test's stderr. A tsim owns nothing on the heap.
 */
#ifndef GHLSYNC_TSIM_H
#define GHLSYNC_TSIM_H

#define TSIM_MAX_LOC 256

typedef struct tsim_loc {
    char id[64];
    char token[256];
    char refresh[256];
} tsim_loc;

typedef struct tsim {
    int pid;
    int port;
    char base_url[64];
    char admin_token[128];
    char webhook_key[128];
    int n_loc;
    tsim_loc loc[TSIM_MAX_LOC];
} tsim;

/* 0 ok, -1 error (prints why with "# " prefix). extra_args is NULL-terminated (may be NULL). */
int tsim_start(tsim *s, const char *const *extra_args);
/* SIGTERM, wait, SIGKILL after 5 s. */
void tsim_stop(tsim *s);
/* Admin call: method, path under /_admin/..., JSON body or NULL; returns the HTTP status (-1
 * on transport error), *resp a malloc'd body (may be NULL; resp may be NULL). */
long tsim_admin(const tsim *s, const char *method, const char *path, const char *body, char **resp);

/* Public API call as location i (its current token, Version 2021-07-28, JSON body).
 * path is appended to base_url. Returns status, *resp malloc'd body (resp may be NULL). */
long tsim_api(const tsim *s, int loc, const char *method, const char *path, const char *body,
              char **resp);

#endif
