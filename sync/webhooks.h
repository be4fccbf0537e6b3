/*
 * webhooks.h - HighLevel webhooks as an accelerator: a service of `ghlsync run` ([webhooks]
 * listen), one entry of engine_services[] (engine.c).
 *
 * Why: a mirror that polls every 60 s trails HighLevel by up to a minute. A webhook says which
 * record changed, so the engine re-fetches that record now. It is a hint, never data, and
 * never trusted alone: HighLevel retries only 429 answers (any other failure loses the event),
 * payloads lack dateUpdated or the object key, so polling and full scans stay the source of
 * truth and a lost webhook costs only latency.
 *
 * Pieces (one concern per file):
 *   whlisten.h  the HTTP listener (libmicrohttpd on the engine's loop), size and header checks;
 *   whverify.h  Ed25519 x-ghl-signature over the raw body (legacy RSA x-wh-signature when a
 *               legacy key is configured);
 *   whevent.h   the payload -> the hint (event type, location, object, record id, timestamp);
 *   whapply.h   the durable queue (ghlsync.webhook_hints) and the drain that applies it.
 *
 * Answers (HighLevel retries only 429, so every answer but 429 is final):
 *   200  stored (committed), or valid but not for this mirror (dropped, counted)
 *   400  unreadable payload, or a `timestamp` outside [webhooks] max_age (replay protection)
 *   401  no signature / a bad signature (the body of an unsigned request is not read)
 *   404/405  another path / method
 *   409  a webhookId seen before (replay or duplicate delivery: nothing is stored)
 *   413  a body over [webhooks] max_body
 *   429  the queue holds [webhooks] queue_max hints, or the database cannot take the hint
 *        now: HighLevel delivers it again later. Never 5xx (that would lose the event).
 *
 * Metrics (metrics.h, in the ops service's registry): ghlsync_webhooks_received_total,
 * _rejected_total{reason}, _dropped_total{reason}, _applied_total{outcome}, _failed_total,
 * _queue_depth, _lag_seconds{quantile="0.5"|"0.9"|"0.99"|"1"} (event timestamp -> the hint's
 * transaction committed, over the last WH_LAG_SAMPLES applied hints).
 *
 * Memory: the service state is released by stop. Threading: loop thread only.
 */
#ifndef GHLSYNC_WEBHOOKS_H
#define GHLSYNC_WEBHOOKS_H
#include "engine.h"
#include "err.h"

#define WH_LAG_SAMPLES 1024

int webhooks_service_start(struct engine *E, void **state, gs_err *e);
void webhooks_service_stop(void *state);
/* A location that joined while running (engine_location_add): its events are taken from now
 * on. state NULL: nothing. */
void webhooks_location_added(void *state, struct engine_location *L);
#endif
