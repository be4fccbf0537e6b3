-- 003_push.sql: the push side of the outbox (ghlsync.changes, created by 001).
--
-- What 001 lacked:
--   * claims that die with the claiming process: a push worker stamps the changes it works on with
--     its claim connection's backend pid and start time; a claim is live only while that
--     PostgreSQL session exists (pg_stat_activity), so after kill -9 the server closes the session
--     and the changes are claimable again at once (no lease timeout to wait for);
--   * sent_at: a create is marked as sent (committed) BEFORE the POST leaves; a claim that finds
--     sent_at set on an open insert does not know whether HighLevel created the record and must
--     look it up (external_id_field) or park the change as 'unknown';
--   * the capture trigger functions that the per-table triggers (sync/triggers.c) call;
--   * what pull needs to never overwrite an unpushed local value (ghlsync.protected_columns,
--     ghlsync.locally_deleted), and the ghlsync.push_errors view.
--
-- Open states: pending, retrying (waiting for their turn), failed and unknown (waiting for the
-- user: they keep protecting the local value and block later changes to the SAME record only).

ALTER TABLE ghlsync.changes
    ADD COLUMN sent_at     timestamptz,
    ADD COLUMN claim_pid   integer,
    ADD COLUMN claim_start timestamptz,
    ADD COLUMN claimed_at  timestamptz;

-- Open changes of one record, the hot lookup of both pull (protected columns) and push (claims).
CREATE INDEX changes_open_row_idx ON ghlsync.changes (table_schema, table_name, local_key, id)
    WHERE state IN ('pending', 'retrying', 'failed', 'unknown');
CREATE INDEX changes_open_remote_idx ON ghlsync.changes (remote_id)
    WHERE op = 'delete' AND remote_id IS NOT NULL;

-- Is the claim stamped on a change still held by a live session?
CREATE FUNCTION ghlsync.claim_live(pid integer, started timestamptz) RETURNS boolean
    LANGUAGE sql STABLE AS $$
    SELECT pid IS NOT NULL AND EXISTS (
        SELECT 1 FROM pg_stat_activity a WHERE a.pid = claim_live.pid
                                           AND a.backend_start = claim_live.started)
$$;

-- Columns of a row that carry a local value not yet accepted by HighLevel: pull must not
-- overwrite them (it may still write the other columns and updated_at). Failed and unknown
-- changes protect too, until `ghlsync errors retry|ignore` or a new local change settles them.
CREATE FUNCTION ghlsync.protected_columns(p_schema text, p_table text, p_local_key bigint)
    RETURNS text[] LANGUAGE sql STABLE AS $$
    SELECT coalesce(array_agg(DISTINCT c), '{}')
      FROM ghlsync.changes ch, unnest(ch.changed_columns) c
     WHERE ch.table_schema = p_schema AND ch.table_name = p_table AND ch.local_key = p_local_key
       AND ch.state IN ('pending', 'retrying', 'failed', 'unknown')
$$;

-- A remote record deleted locally: pull must not bring it back. True while the delete is open,
-- and for an hour after it was done (a search page read before the DELETE may arrive later).
CREATE FUNCTION ghlsync.locally_deleted(p_remote_id text) RETURNS boolean
    LANGUAGE sql STABLE AS $$
    SELECT EXISTS (
        SELECT 1 FROM ghlsync.changes ch
         WHERE ch.remote_id = p_remote_id AND ch.op = 'delete'
           AND (ch.state IN ('pending', 'retrying', 'failed', 'unknown')
                OR (ch.state = 'done' AND ch.done_at > now() - interval '1 hour')))
$$;

-- Local changes that need a person: failed (the API said no), unknown (a create whose outcome
-- could not be established without an external id field).
CREATE VIEW ghlsync.push_errors AS
    SELECT id, state, op, location_id, object_key, table_schema, table_name, local_key, remote_id,
           changed_columns, last_status, last_error, attempts, created_at, next_attempt_at
      FROM ghlsync.changes
     WHERE state IN ('failed', 'unknown');

-- Row trigger of every mirrored table with direction "both" or "push" (BEFORE, so that the row's
-- _sync_state can be set without a second write). Arguments: object key, default location id
-- ('' = none: the INSERT must give location_id), then the columns that are pushed (fields,
-- owner, followers). A change touching none of them (system columns only) is not recorded.
-- Sessions of the engine itself (SET ghlsync.origin = 'engine') are skipped: no echo.
CREATE FUNCTION ghlsync.capture() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    o      jsonb;
    n      jsonb;
    col    text;
    cols   text[] := '{}';
    oldv   jsonb := '{}';
    newv   jsonb := '{}';
    loc    text;
BEGIN
    IF current_setting('ghlsync.origin', true) = 'engine' THEN
        IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
        RETURN NEW;
    END IF;
    IF TG_OP = 'INSERT' THEN
        IF NEW.location_id IS NULL AND TG_ARGV[1] <> '' THEN
            NEW.location_id := TG_ARGV[1];
        END IF;
        IF NEW.location_id IS NULL THEN
            RAISE EXCEPTION 'ghlsync: a row inserted into %.% needs location_id', TG_TABLE_SCHEMA, TG_TABLE_NAME
                USING ERRCODE = 'not_null_violation',
                      HINT = 'Several locations sync this object: say which one the record belongs to.';
        END IF;
        n := to_jsonb(NEW);
        FOR i IN 2 .. TG_NARGS - 1 LOOP
            col := TG_ARGV[i];
            IF jsonb_typeof(n -> col) IS DISTINCT FROM 'null' AND n ? col THEN
                cols := cols || col;
                newv := newv || jsonb_build_object(col, n -> col);
            END IF;
        END LOOP;
        NEW._sync_state := 'pending';
        NEW._sync_error := NULL;
        INSERT INTO ghlsync.changes (location_id, object_key, table_schema, table_name, op,
                                     local_key, remote_id, new_values, changed_columns)
        VALUES (NEW.location_id, TG_ARGV[0], TG_TABLE_SCHEMA, TG_TABLE_NAME, 'insert',
                NEW._local_id, NEW.id, newv, cols);
        loc := NEW.location_id;
    ELSIF TG_OP = 'UPDATE' THEN
        o := to_jsonb(OLD);
        n := to_jsonb(NEW);
        FOR i IN 2 .. TG_NARGS - 1 LOOP
            col := TG_ARGV[i];
            IF (o -> col) IS DISTINCT FROM (n -> col) THEN
                cols := cols || col;
                oldv := oldv || jsonb_build_object(col, o -> col);
                newv := newv || jsonb_build_object(col, n -> col);
            END IF;
        END LOOP;
        IF cardinality(cols) = 0 THEN
            RETURN NEW;
        END IF;
        NEW._sync_state := 'pending';
        NEW._sync_error := NULL;
        INSERT INTO ghlsync.changes (location_id, object_key, table_schema, table_name, op,
                                     local_key, remote_id, old_values, new_values,
                                     changed_columns, base_updated_at)
        VALUES (coalesce(OLD.location_id, NEW.location_id), TG_ARGV[0], TG_TABLE_SCHEMA,
                TG_TABLE_NAME, 'update', OLD._local_id, coalesce(OLD.id, NEW.id), oldv, newv, cols,
                OLD.updated_at);
        loc := coalesce(OLD.location_id, NEW.location_id);
    ELSE
        INSERT INTO ghlsync.changes (location_id, object_key, table_schema, table_name, op,
                                     local_key, remote_id, base_updated_at)
        VALUES (coalesce(OLD.location_id, TG_ARGV[1]), TG_ARGV[0], TG_TABLE_SCHEMA, TG_TABLE_NAME,
                'delete', OLD._local_id, OLD.id, OLD.updated_at);
        loc := coalesce(OLD.location_id, TG_ARGV[1]);
    END IF;
    PERFORM pg_notify('ghlsync_push', loc);
    IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
    RETURN NEW;
END
$$;

-- Row trigger of tables whose object has direction = "pull". Argument: the object key.
CREATE FUNCTION ghlsync.reject_write() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('ghlsync.origin', true) = 'engine' THEN
        IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'table %.% is read-only: object "%" is configured with direction = "pull"',
                    TG_TABLE_SCHEMA, TG_TABLE_NAME, TG_ARGV[0]
        USING ERRCODE = 'read_only_sql_transaction',
              DETAIL = 'ghlsync only mirrors HighLevel into this table; a local '
                       || lower(TG_OP) || ' would never reach HighLevel and would be overwritten by the next pull.',
              HINT = format('To write back to HighLevel, set direction = "both" in [objects."%s"] of sync.toml.',
                            TG_ARGV[0]);
END
$$;

-- Statement trigger against TRUNCATE (row triggers do not see it, so nothing would be pushed).
CREATE FUNCTION ghlsync.reject_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('ghlsync.origin', true) = 'engine' THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'TRUNCATE of %.% is not carried to HighLevel', TG_TABLE_SCHEMA, TG_TABLE_NAME
        USING ERRCODE = 'feature_not_supported',
              HINT = 'Use DELETE to delete records in HighLevel too.';
END
$$;
