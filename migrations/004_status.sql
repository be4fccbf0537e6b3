-- 004_status.sql: runtime statistics written by the engine, and the ghlsync.status view that
-- `ghlsync status` prints and BI tools chart (freshness, backlog, rate budget).
--
-- The engine process keeps request counters in memory; `ghlsync status` is another process, so
-- the engine persists them here every few seconds (sync/runtime.c). One row per location.
-- requests_today is accumulated from deltas (requests made since the previous write), so several
-- processes and restarts add up instead of overwriting each other; it restarts from the delta
-- when the UTC day changes.

CREATE TABLE ghlsync.runtime (
    location_id     text             PRIMARY KEY,
    holder          text,                        -- host:pid of the last writer
    day             date             NOT NULL,   -- UTC day of requests_today
    requests_today  bigint           NOT NULL DEFAULT 0,
    daily_limit     bigint,                      -- from X-RateLimit-Limit-Daily, NULL unknown
    daily_remaining bigint,                      -- from X-RateLimit-Daily-Remaining
    burst_limit     integer,                     -- requests per window (X-RateLimit-Max)
    burst_remaining integer,                     -- from X-RateLimit-Remaining
    rate_per_s      double precision,            -- requests per second over the last interval
    requests_total  bigint           NOT NULL DEFAULT 0, -- since the writer process started
    throttled_total bigint           NOT NULL DEFAULT 0, -- 429 answers since it started
    errors_total    bigint           NOT NULL DEFAULT 0, -- failed calls since it started
    last_error      text,
    last_error_at   timestamptz,
    started_at      timestamptz,
    updated_at      timestamptz      NOT NULL DEFAULT now()
);

COMMENT ON TABLE ghlsync.runtime IS
    'ghlsync: per-location request counters and rate budget, written by the running engine';

-- Live (not soft-deleted) rows of one location in a mirrored table; NULL when the table does not
-- exist (yet). Identifiers are quoted with format(%I): table names come from the API.
CREATE FUNCTION ghlsync.live_rows(p_schema text, p_table text, p_location text)
RETURNS bigint
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    rel regclass := to_regclass(format('%I.%I', p_schema, p_table));
    n bigint;
BEGIN
    IF rel IS NULL THEN
        RETURN NULL;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_attribute
               WHERE attrelid = rel AND attname = '_deleted_at' AND NOT attisdropped) THEN
        EXECUTE format('SELECT count(*) FROM %I.%I WHERE location_id = $1 AND _deleted_at IS NULL',
                       p_schema, p_table) INTO n USING p_location;
    ELSE
        EXECUTE format('SELECT count(*) FROM %I.%I WHERE location_id = $1', p_schema, p_table)
            INTO n USING p_location;
    END IF;
    RETURN n;
END;
$$;

-- One row per location and object known to ghlsync (fetched definition, pull progress or
-- outbox entry). Ages are seconds; NULL means "never" / "unknown".
CREATE VIEW ghlsync.status AS
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
       coalesce(ps.last_error, lf.last_error)                           AS last_error
FROM keys k
LEFT JOIN ghlsync.objects o
       ON o.location_id = k.location_id AND o.object_key = k.object_key
LEFT JOIN ghlsync.tables t ON t.object_key = k.object_key
LEFT JOIN ghlsync.pull_state ps
       ON ps.location_id = k.location_id AND ps.object_key = k.object_key
LEFT JOIN ch ON ch.location_id = k.location_id AND ch.object_key = k.object_key
LEFT JOIN last_fail lf ON lf.location_id = k.location_id AND lf.object_key = k.object_key
LEFT JOIN cf ON cf.location_id = k.location_id AND cf.object_key = k.object_key
LEFT JOIN ghlsync.runtime rt ON rt.location_id = k.location_id;

COMMENT ON VIEW ghlsync.status IS
    'ghlsync: freshness, backlog and rate budget per location and object (ghlsync status)';
