-- 011_webhooks.sql: the durable queue of webhook hints ([webhooks] listen, sync/whqueue.c).
--
-- A webhook is a hint, not data: "record X of location L changed (or was deleted), fetch it".
-- The listener answers 2xx only once the hint's row has committed here, so an answered webhook
-- is never lost, and 429 when too many hints are queued (HighLevel retries only 429). The engine
-- drains the queued rows (sync/whapply.c): it fetches each record by id and upserts it through
-- the pull's page upsert, or confirms a delete by a 404.
--
-- webhook_id is unique: a repeated webhookId (a replay, or a duplicate delivery) is refused by
-- the insert itself, whatever process received it. Rows stay after they are settled, for
-- [webhooks] retention (at least max_age, the window in which a replay could still pass the
-- timestamp check), then the engine deletes them.

CREATE TABLE ghlsync.webhook_hints (
    seq         bigserial PRIMARY KEY,
    webhook_id  text NOT NULL UNIQUE,
    location_id text NOT NULL,
    event_type  text NOT NULL,             -- ContactUpdate, RecordDelete, RelationCreate, ...
    object_key  text,                      -- NULL: not in the payload (Record* events)
    record_id   text,                      -- NULL for events without a record (dropped)
    is_delete   boolean NOT NULL DEFAULT false,
    event_at    timestamptz,               -- the payload's timestamp (lag is measured from it)
    received_at timestamptz NOT NULL DEFAULT now(),
    detail      jsonb,                     -- Relation*: the relation (ids, keys, association)
    state       text NOT NULL DEFAULT 'queued'
                CHECK (state IN ('queued', 'applied', 'deleted', 'dropped', 'failed')),
    attempts    integer NOT NULL DEFAULT 0,
    not_before  timestamptz,               -- a failed attempt waits until then
    settled_at  timestamptz,
    note        text                       -- why dropped or failed
);

-- The drain reads queued hints oldest first, and the listener counts them (queue_max).
CREATE INDEX webhook_hints_queued_idx ON ghlsync.webhook_hints (seq) WHERE state = 'queued';
-- Retention deletes settled rows by age.
CREATE INDEX webhook_hints_settled_idx ON ghlsync.webhook_hints (settled_at)
    WHERE state <> 'queued';

COMMENT ON TABLE ghlsync.webhook_hints IS
    'Webhook hints received by ghlsync run ([webhooks] listen): queued until the record is '
    're-fetched, then kept for [webhooks] retention so that a repeated webhookId is refused';
