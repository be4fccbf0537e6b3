-- 006_quarantine.sql: records the engine could not store, kept instead of stopping their object.
--
-- A search page used to be all or nothing: one record that cannot be parsed (nested deeper than
-- the JSON parser allows) or that is larger than [api] max_response_bytes made the page fail, and
-- with it every later page of the object. Such a record is now set aside here with its bytes
-- as served and the reason, and the rest of the page and every later page still land. Text that
-- is merely not storable (invalid UTF-8, lone surrogates, NUL) is repaired instead (README,
-- "Hostile answers"); only what cannot be read as a record at all comes here.
--
-- A row is resolved (resolved_at) when a later page brings the same record in a readable shape:
-- a full scan sees every record again, and an incremental poll sees it once it changes remotely.
-- One row per (location, object, record id); a record whose id could not be read gets a row per
-- sighting (record_id NULL), since there is nothing to match it on.

CREATE TABLE ghlsync.quarantine (
    qid           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    location_id   text        NOT NULL,
    object_key    text        NOT NULL,
    record_id     text,                      -- NULL when even the id could not be read
    cursor        jsonb,                     -- the record's searchAfter, when readable
    reason        text        NOT NULL,
    raw           bytea       NOT NULL,      -- the bytes as served (at most raw_kept of them)
    raw_bytes     bigint      NOT NULL,      -- how many bytes the server sent for the record
    raw_truncated boolean     NOT NULL DEFAULT false,
    first_seen_at timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz NOT NULL DEFAULT now(),
    times_seen    integer     NOT NULL DEFAULT 1,
    resolved_at   timestamptz
);

CREATE UNIQUE INDEX quarantine_record_idx ON ghlsync.quarantine (location_id, object_key, record_id)
    WHERE record_id IS NOT NULL;
CREATE INDEX quarantine_open_idx ON ghlsync.quarantine (location_id, object_key)
    WHERE resolved_at IS NULL;

COMMENT ON TABLE ghlsync.quarantine IS
    'ghlsync: records the engine could not store (unparseable or oversized), kept verbatim with the reason';
COMMENT ON COLUMN ghlsync.quarantine.raw IS
    'the record as the API sent it (bytes, so invalid text survives); for an oversized record only its first and last bytes';

-- ghlsync.status gains the open quarantine rows per object (a new last column: the view keeps
-- every column it had, in order, so dashboards built on it keep working).
CREATE OR REPLACE VIEW ghlsync.status AS
WITH keys AS (
    SELECT location_id, object_key FROM ghlsync.objects WHERE deleted_at IS NULL
    UNION
    SELECT location_id, object_key FROM ghlsync.pull_state
    UNION
    SELECT DISTINCT location_id, object_key FROM ghlsync.changes
        WHERE state IN ('pending', 'retrying', 'failed', 'unknown')
),
ch AS (
    SELECT location_id, object_key,
           count(*) FILTER (WHERE state IN ('pending', 'retrying')) AS pending,
           count(*) FILTER (WHERE state = 'failed')                 AS failed,
           count(*) FILTER (WHERE state = 'unknown')                AS parked,
           min(created_at) FILTER (WHERE state IN ('pending', 'retrying')) AS oldest_pending_at,
           max(done_at) FILTER (WHERE state = 'done')               AS last_push_at
    FROM ghlsync.changes
    WHERE state <> 'ignored'
    GROUP BY location_id, object_key
),
last_fail AS (
    SELECT DISTINCT ON (location_id, object_key) location_id, object_key, last_error
    FROM ghlsync.changes
    WHERE state IN ('failed', 'unknown') AND last_error IS NOT NULL
    ORDER BY location_id, object_key, id DESC
),
cf AS (
    SELECT location_id, object_key,
           count(*) AS conflicts,
           count(*) FILTER (WHERE detected_at > now() - interval '24 hours') AS conflicts_24h
    FROM ghlsync.conflicts
    GROUP BY location_id, object_key
),
qr AS (
    SELECT location_id, object_key, count(*) AS quarantined
    FROM ghlsync.quarantine
    WHERE resolved_at IS NULL
    GROUP BY location_id, object_key
)
SELECT k.location_id,
       k.object_key,
       coalesce(o.table_schema, t.table_schema)                         AS table_schema,
       coalesce(o.table_name, t.table_name)                             AS table_name,
       ghlsync.live_rows(coalesce(o.table_schema, t.table_schema),
                         coalesce(o.table_name, t.table_name), k.location_id) AS rows,
       ps.mode                                                          AS pull_mode,
       coalesce(ps.complete, false)                                     AS backfill_complete,
       ps.fetched                                                       AS backfill_fetched,
       ps.total                                                         AS backfill_total,
       -- a pull_state row is saved after every successful page; last_error is set on failure
       CASE WHEN ps.last_error IS NULL THEN ps.updated_at ELSE ps.completed_at END
                                                                        AS last_pull_at,
       ps.watermark,
       extract(epoch FROM now() - ps.watermark)::double precision       AS watermark_age_s,
       ps.last_full_scan_at,
       coalesce(ch.pending, 0)                                          AS pending,
       coalesce(ch.failed, 0)                                           AS failed,
       coalesce(ch.parked, 0)                                           AS parked,
       ch.oldest_pending_at,
       ch.last_push_at,
       coalesce(cf.conflicts, 0)                                        AS conflicts,
       coalesce(cf.conflicts_24h, 0)                                    AS conflicts_24h,
       rt.requests_today,
       rt.daily_remaining,
       rt.burst_remaining,
       rt.rate_per_s,
       rt.updated_at                                                    AS runtime_updated_at,
       coalesce(ps.last_error, lf.last_error)                           AS last_error,
       coalesce(qr.quarantined, 0)                                      AS quarantined
FROM keys k
LEFT JOIN ghlsync.objects o
       ON o.location_id = k.location_id AND o.object_key = k.object_key
LEFT JOIN ghlsync.tables t ON t.object_key = k.object_key
LEFT JOIN ghlsync.pull_state ps
       ON ps.location_id = k.location_id AND ps.object_key = k.object_key
LEFT JOIN ch ON ch.location_id = k.location_id AND ch.object_key = k.object_key
LEFT JOIN last_fail lf ON lf.location_id = k.location_id AND lf.object_key = k.object_key
LEFT JOIN cf ON cf.location_id = k.location_id AND cf.object_key = k.object_key
LEFT JOIN ghlsync.runtime rt ON rt.location_id = k.location_id
LEFT JOIN qr ON qr.location_id = k.location_id AND qr.object_key = k.object_key;

-- The OAuth pairs are the engine's alone: not even a read grant is kept for other roles (a BI
-- role granted SELECT ON ALL TABLES IN SCHEMA ghlsync would otherwise see live refresh tokens).
REVOKE ALL ON ghlsync.oauth_tokens FROM PUBLIC;
DO $$
DECLARE
    g record;
BEGIN
    FOR g IN SELECT DISTINCT a.grantee::regrole::text AS role
             FROM pg_catalog.pg_class c, pg_catalog.aclexplode(c.relacl) a
             WHERE c.oid = 'ghlsync.oauth_tokens'::regclass
               AND a.grantee <> c.relowner AND a.grantee <> 0
    LOOP
        -- regrole's text is already a quoted identifier
        EXECUTE 'REVOKE ALL ON ghlsync.oauth_tokens FROM ' || g.role;
    END LOOP;
END
$$;
