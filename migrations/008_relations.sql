-- 008_relations.sql: bookkeeping of the relations listing (sync/relations.c).
--
-- HighLevel lists relations per record only (GET /associations/relations/{recordId}), so a
-- complete listing costs at least one request per record of one side of each association. This
-- row per location says how far the listing got and what it spent:
--   full_*        the full pass in progress (its resume point, records listed, requests spent)
--                 and the last completed one; a kill -9 resumes after full_object/full_cursor;
--   listed_since  every record synced (its _synced_at) before this time had its relations
--                 listed afterwards: the incremental pass re-lists the records synced since;
--   day, requests_today  the requests relation listing spent this UTC day, against the budget
--                 cap ([relations] budget_share of the location's daily limit).
-- The mirrored tables themselves (associations, relations) live in the data schema beside the
-- object tables and are created by the engine (they need [database] schema).

CREATE TABLE ghlsync.relation_state (
    location_id         text        PRIMARY KEY,
    day                 date        NOT NULL DEFAULT (now() AT TIME ZONE 'UTC')::date,
    requests_today      bigint      NOT NULL DEFAULT 0,
    budget_cap          bigint,                 -- requests per day relation listing may spend
    full_started_at     timestamptz,            -- the full pass in progress (NULL: none)
    full_object         text,                   -- its resume point: object key ...
    full_cursor         text,                   -- ... and the last record id listed
    full_records        bigint      NOT NULL DEFAULT 0,
    full_requests       bigint      NOT NULL DEFAULT 0,
    last_full_at        timestamptz,            -- end of the last completed full pass
    last_full_records   bigint,
    last_full_requests  bigint,
    last_incr_at        timestamptz,            -- end of the last incremental pass
    listed_since        timestamptz,
    paused_until        timestamptz,            -- the budget cap was reached: until then
    last_error          text,
    updated_at          timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE ghlsync.relation_state IS
    'ghlsync: progress and request budget of the relations listing, per location';
