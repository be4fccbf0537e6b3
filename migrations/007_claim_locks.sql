-- 007_claim_locks.sql: a push claim is live while its session holds an advisory lock.
--
-- Until now a claim (claim_pid, claim_start on ghlsync.changes) counted as live when a session
-- with that pid and backend_start showed in pg_stat_activity. pg_stat_activity hides those
-- columns of another role's sessions (unless the reader has pg_read_all_stats), so a second
-- ghlsync process running under another engine role (a member of the owner of ghlsync,
-- migration 005) saw every claim of the first as dead, took it, and pushed the same change twice.
--
-- Now each claiming session takes a session-level advisory lock (two-key form: the namespace
-- 1734896755 = 'ghls', then a key from ghlsync.claim_keys), records the key in the claims it
-- stamps (claim_key), and a claim is live while some session holds that lock. pg_locks shows
-- every lock of the database to every role, so liveness no longer depends on who looks. The
-- server releases the lock when the session ends (also after kill -9 of the client, once the
-- server notices), so a crashed claimer's changes are taken over as before.
--
-- Claims are taken on the push service's own session ([database] session_url with a pooler in
-- transaction mode: a session-level lock and setting must stay with one server session). The
-- key is remembered in the session setting ghlsync.claim_key: DISCARD ALL (a pooler's reset)
-- drops the lock and the setting together, and the next claim takes a new key.

ALTER TABLE ghlsync.changes ADD COLUMN claim_key integer;

-- Keys of claiming sessions. CYCLE: after 2^31 sessions a key may come back; a key some live
-- session still holds is skipped (pg_try_advisory_lock fails).
CREATE SEQUENCE ghlsync.claim_keys AS integer MINVALUE 1 CYCLE;

-- The claim key of this session, taking one (and its lock) on first use.
CREATE FUNCTION ghlsync.claim_session() RETURNS integer LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    k integer := nullif(pg_catalog.current_setting('ghlsync.claim_key', true), '')::integer;
BEGIN
    IF k IS NOT NULL THEN
        RETURN k;
    END IF;
    LOOP
        k := pg_catalog.nextval('ghlsync.claim_keys');
        EXIT WHEN pg_catalog.pg_try_advisory_lock(1734896755, k);
    END LOOP;
    PERFORM pg_catalog.set_config('ghlsync.claim_key', k::text, false);
    RETURN k;
END
$$;

-- The claim keys held by live sessions of this database, whatever their role, as long as the
-- holder is an engine role (ghlsync.is_engine's test on its session user): any role may take
-- advisory locks, and one that held the key of a dead claimer would stall its changes. The
-- holder's pid and user id are the columns of pg_stat_activity every role sees.
CREATE FUNCTION ghlsync.live_claim_keys() RETURNS SETOF integer LANGUAGE sql STABLE AS $$
    SELECT l.objid::text::integer
      FROM pg_catalog.pg_locks l JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid
     WHERE l.locktype = 'advisory' AND l.classid = 1734896755 AND l.objsubid = 2 AND l.granted
       AND l.database = (SELECT oid FROM pg_catalog.pg_database
                          WHERE datname = pg_catalog.current_database())
       AND pg_catalog.has_schema_privilege(a.usesysid, 'ghlsync', 'CREATE')
$$;

-- Is the claim with this key still held?
CREATE FUNCTION ghlsync.claim_held(key integer) RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT key IS NOT NULL AND key IN (SELECT ghlsync.live_claim_keys())
$$;

-- Kept for readers of 003's function (tests, tools): the session with this pid holds a claim
-- lock, seen through pg_locks (every role sees it), and is an engine role's.
CREATE OR REPLACE FUNCTION ghlsync.claim_live(pid integer, started timestamptz) RETURNS boolean
    LANGUAGE sql STABLE AS $$
    SELECT pid IS NOT NULL AND EXISTS (
        SELECT 1 FROM pg_catalog.pg_locks l JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid
         WHERE l.locktype = 'advisory' AND l.classid = 1734896755 AND l.objsubid = 2
           AND l.granted AND l.pid = claim_live.pid
           AND pg_catalog.has_schema_privilege(a.usesysid, 'ghlsync', 'CREATE'))
$$;
