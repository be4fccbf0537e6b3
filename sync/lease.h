/*
 * lease.h - several ghlsync processes share the locations through leases in PostgreSQL
 * (ghlsync.leases, migrations/009_leases.sql).
 *
 * `ghlsync run`: the lease service (an engine service, started with the others) sends one
 * heartbeat every [leases] heartbeat (default ttl / 3) on a connection of its own (pgasync.h,
 * never a blocking call on the loop): ghlsync.lease_tick renews this process's leases, takes
 * free or expired ones up to the fair share (ceil(locations / live `run` processes)) and releases
 * those above it. Every location starts unheld (engine_location.held = false); each change of a
 * location's state is reported through E->on_hold (pull.c starts or stops its workers). A lease
 * is valid for [leases] ttl (default 30 s) from the database's now() of the tick that renewed it;
 * the process counts its own validity from the moment it sent that tick, with the loop's
 * monotonic clock (no wall clock, no clock of its own compared with the server's), so it stops
 * serving a location it could not renew before another process may take it. On a graceful stop
 * it lets go of everything (ghlsync.lease_release), so the others take over at their next
 * heartbeat; after kill -9 they do within ttl plus one heartbeat.
 *
 * One-shot commands (`backfill`, `push`): lease_take_once (start-up, synchronous) takes every
 * location of the command, or refuses when a live `run` holds one, with a message that names the
 * holder (host, pid, since when); while the command runs, the service only renews. Two one-shots
 * at once are not refused (push claims keep their pushes apart, as before leases); the later
 * one holds only what the earlier left free.
 *
 * The holder identity is "host:pid:start" (E->lease.holder), shown by `ghlsync status`.
 * Threading: loop thread only.
 */
#ifndef GHLSYNC_LEASE_H
#define GHLSYNC_LEASE_H

#include "engine.h"
#include "err.h"

/* engine_services[] entry. */
int lease_service_start(struct engine *E, void **state, gs_err *e);
void lease_service_stop(void *state);

/* A location that joined while running (engine_location_add): offered for claiming with the
 * others, at once (a tick is sent unless one is in flight: then at the next heartbeat). It
 * starts unheld; E->on_hold tells when this process takes it. */
void lease_location_added(void *state, struct engine_location *L);

/* One-shot command `kind` ("backfill", "push"): take every location of E (E->db, start-up).
 * GS_ESTATE with the holders in the message when a `run` holds one of them. */
int lease_take_once(struct engine *E, const char *kind, gs_err *e);

#endif
