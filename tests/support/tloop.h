/*
 * tloop.h - an engine loop with an hl_client pointed at a simulator (tsim.h), for the hlapi
 * tests: the client set-up, a callback that collects outcomes, and the simulator's own counters
 * and record totals read through its admin interface.
 *
 * Ownership: tloop_client fills a caller-owned gs_loop and hands back a client the caller frees
 * (hl_client_free, then gs_loop_close). tloop_res is caller-owned and holds copies only.
 */
#ifndef GHLSYNC_TLOOP_H
#define GHLSYNC_TLOOP_H

#include "hlapi.h"
#include "loop.h"
#include "tsim.h"

/* What the callbacks of one or more calls that share it saw. */
typedef struct tloop_res {
    int done;
    int kinds[5];              /* by enum hl_kind */
    long status;               /* of the last call */
    int refreshed;             /* calls that refreshed the token */
    char msg[1024];            /* message of the last call */
    char first_msg_item[1024]; /* "message" of the body, or its first item if an array */
    char id[64];               /* record.id of a record answer */
    char key[256];             /* first custom_objects.* key of a list_objects answer */
} tloop_res;

/* hl_cb; ud is a tloop_res. */
void tloop_on_res(hl_result *r, void *ud);

/* gs_loop_init (plain HTTP, `timeout_ms` total per request) and hl_client_new with `o`, whose
 * base_url is replaced by the simulator's. 0 ok, -1 error (printed with "# "). On error nothing
 * is left to free. */
int tloop_client(gs_loop *L, hl_client **c, const tsim *s, const hl_client_opts *o,
                 long timeout_ms);

/* One field of GET /_admin/counters: byEndpoint[endpoint][field], or the top-level `field` when
 * endpoint is NULL. 0 when absent (the simulator omits zero counts); -1 if the call failed. */
long tloop_counter(const tsim *s, const char *endpoint, const char *field);

/* Records of object `key` in location `loc` held by the simulator (admin state dump, which
 * does not touch the counters); -1 if not found. */
long tloop_records(const tsim *s, const char *loc, const char *key);

#endif
