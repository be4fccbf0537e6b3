/*
 * err.h - how ghlsync functions report failure.
 *
 * Functions that can fail return an int: 0 on success, a negative GS_E* code on failure, and
 * fill a caller-owned gs_err with a human message (what failed, why, and where useful what to do).
 * The message never contains a secret: callers redact before formatting (see log.h).
 */
#ifndef GHLSYNC_ERR_H
#define GHLSYNC_ERR_H

enum gs_errcode {
    GS_OK = 0,
    GS_EINVAL = -1,  /* bad argument or input */
    GS_ENOMEM = -2,  /* allocation failed */
    GS_EIO = -3,     /* file or socket error */
    GS_ECONFIG = -4, /* configuration error (exit code 2) */
    GS_EDB = -5,     /* PostgreSQL error */
    GS_EHTTP = -6,   /* HTTP / API error */
    GS_EPARSE = -7,  /* malformed document (TOML, JSON) */
    GS_ENOTFOUND = -8,
    GS_ESTATE = -9,   /* operation not valid in the current state */
    GS_EDBLOST = -10, /* PostgreSQL connection lost or unreachable (pga_error.in_doubt says more) */
};

typedef struct gs_err {
    int code;
    char msg[1024];
} gs_err;

/* Set code and message; returns code so that `return gs_err_set(e, GS_EIO, "...")` reads well.
 * `e` may be NULL. */
int gs_err_set(gs_err *e, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Prefix the existing message with context: "loading sync.toml: <old message>". */
int gs_err_wrap(gs_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void gs_err_clear(gs_err *e);

#endif
