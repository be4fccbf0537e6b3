-- 009_leases.sql: several ghlsync processes share the locations through leases (issue 16).
--
-- ghlsync.leases (001) says which process serves which location. Every `ghlsync run` calls
-- ghlsync.lease_tick once per heartbeat: it renews its own leases, takes free or expired ones up
-- to its fair share and marks those above its share as released (it stops serving them at once
-- and the row is deleted at its next tick, so another process takes them only once the first has
-- let go). The fair share is ceil(locations / live `run` processes), counted from
-- ghlsync.lease_holders, whose rows the same heartbeat renews: a process that joins is counted at
-- its first tick, and the others give up their excess at their next one, without stopping.
--
-- Time is the database's alone (now(), the transaction's start): a lease is valid until
-- expires_at = now() + ttl of the tick that renewed it. A process measures its own validity from
-- the moment it sent that tick (before the server's now()), so it stops serving no later than the
-- server lets another process take over. A process killed with -9 stops renewing; its leases
-- expire after ttl and the next tick of another process takes them.
--
-- One-shot commands (`ghlsync backfill`, `ghlsync push`) take their locations all at once with
-- ghlsync.lease_take (refused, with the holders, when a `run` holds any) and renew them with
-- lease_tick's renewal only (kind <> 'run': they do not count in the share and never balance).
-- Their leases also end with the session that took them (an advisory lock, as push claims do in
-- 007), so a one-shot killed with -9 can be started again at once.
--
-- The ticks of all processes are serialized by a transaction-level advisory lock (namespace
-- 1734896748, key 1), so the share arithmetic never races; a tick is a few index lookups.

ALTER TABLE ghlsync.leases ADD COLUMN host text;
ALTER TABLE ghlsync.leases ADD COLUMN pid integer;
ALTER TABLE ghlsync.leases ADD COLUMN released boolean NOT NULL DEFAULT false;
CREATE INDEX leases_holder ON ghlsync.leases (holder);

-- The live processes that take part in leasing (one row per process, renewed by its heartbeat).
CREATE TABLE ghlsync.lease_holders (
    holder       text        PRIMARY KEY,
    host         text        NOT NULL,
    pid          integer     NOT NULL,
    kind         text        NOT NULL, -- 'run', 'backfill', 'push'
    -- one-shots: the backend pid of the session that took the leases and holds the session-level
    -- advisory lock (1734896748, lock_pid) while it lives; its leases die with that session (a
    -- one-shot killed with -9 can be run again at once), not only after ttl
    lock_pid     integer,
    started_at   timestamptz NOT NULL DEFAULT now(),
    heartbeat_at timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL
);

-- Drop the holders that are gone (expired, or a one-shot whose session ended) and the leases
-- nobody live holds. Callers hold the lease lock.
CREATE FUNCTION ghlsync.lease_sweep() RETURNS void LANGUAGE sql VOLATILE AS $$
    DELETE FROM ghlsync.lease_holders h
     WHERE h.expires_at < now()
        OR (h.lock_pid IS NOT NULL AND NOT EXISTS (
               SELECT 1 FROM pg_catalog.pg_locks k
                WHERE k.locktype = 'advisory' AND k.classid = 1734896748
                  AND k.objid = h.lock_pid::oid AND k.objsubid = 2 AND k.granted
                  AND k.database = (SELECT oid FROM pg_catalog.pg_database
                                     WHERE datname = pg_catalog.current_database())));
    DELETE FROM ghlsync.leases l
     WHERE l.expires_at < now()
        OR NOT EXISTS (SELECT 1 FROM ghlsync.lease_holders h WHERE h.holder = l.holder);
$$;

-- One heartbeat of a process. balance: a `run` (take up to the fair share, release the excess);
-- else only renew. Returns the process's leases and whether to keep serving each (false: it was
-- released by this tick).
CREATE FUNCTION ghlsync.lease_tick(p_holder text, p_host text, p_pid integer, p_kind text,
                                   p_ttl_ms bigint, p_locations text[], p_balance boolean)
    RETURNS TABLE (location_id text, keep boolean) LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
DECLARE
    ttl interval := p_ttl_ms * interval '1 millisecond';
    n_run integer;
    share integer;
    held integer;
BEGIN
    PERFORM pg_catalog.pg_advisory_xact_lock(1734896748, 1);
    INSERT INTO ghlsync.lease_holders AS h (holder, host, pid, kind, expires_at)
         VALUES (p_holder, p_host, p_pid, p_kind, now() + ttl)
    ON CONFLICT ON CONSTRAINT lease_holders_pkey DO UPDATE SET heartbeat_at = now(), expires_at = now() + ttl;
    PERFORM ghlsync.lease_sweep();
    -- this holder's released leases (it stopped serving them a tick ago) and those of locations
    -- it no longer has are let go
    DELETE FROM ghlsync.leases l
     WHERE l.holder = p_holder AND (l.released OR NOT l.location_id = ANY (p_locations));
    UPDATE ghlsync.leases l SET heartbeat_at = now(), expires_at = now() + ttl
     WHERE l.holder = p_holder;
    IF p_balance THEN
        SELECT count(*) INTO n_run FROM ghlsync.lease_holders h WHERE h.kind = 'run';
        share := ceil(cardinality(p_locations)::numeric / greatest(n_run, 1));
        SELECT count(*) INTO held FROM ghlsync.leases l WHERE l.holder = p_holder;
        IF held > share THEN
            UPDATE ghlsync.leases l SET released = true
             WHERE l.location_id IN (SELECT x.location_id FROM ghlsync.leases x
                                      WHERE x.holder = p_holder
                                      ORDER BY x.acquired_at DESC, x.location_id
                                      LIMIT held - share);
        ELSIF held < share THEN
            INSERT INTO ghlsync.leases (location_id, holder, host, pid, expires_at)
            SELECT u.id, p_holder, p_host, p_pid, now() + ttl
              FROM unnest(p_locations) AS u(id)
             WHERE NOT EXISTS (SELECT 1 FROM ghlsync.leases x WHERE x.location_id = u.id)
             ORDER BY pg_catalog.hashtext(u.id || p_holder)
             LIMIT share - held
            ON CONFLICT DO NOTHING;
        END IF;
    END IF;
    RETURN QUERY SELECT l.location_id, NOT l.released FROM ghlsync.leases l
                  WHERE l.holder = p_holder;
END
$$;

-- A one-shot command takes all of its locations, or none: the rows returned are the locations
-- a live `run` holds (then nothing was taken); those another one-shot holds stay its.
CREATE FUNCTION ghlsync.lease_take(p_holder text, p_host text, p_pid integer, p_kind text,
                                   p_ttl_ms bigint, p_locations text[])
    RETURNS TABLE (location_id text, holder text, host text, pid integer, kind text,
                   since timestamptz) LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
DECLARE
    ttl interval := p_ttl_ms * interval '1 millisecond';
BEGIN
    PERFORM pg_catalog.pg_advisory_xact_lock(1734896748, 1);
    PERFORM ghlsync.lease_sweep();
    -- only a `run` blocks: two one-shots at once are kept apart by the push claims (007), as
    -- before leases existed; the later one holds the locations the earlier one left free
    RETURN QUERY
        SELECT l.location_id, l.holder, l.host, l.pid, coalesce(h.kind, 'run'), l.acquired_at
          FROM ghlsync.leases l LEFT JOIN ghlsync.lease_holders h ON h.holder = l.holder
         WHERE l.location_id = ANY (p_locations) AND l.holder <> p_holder
           AND coalesce(h.kind, 'run') = 'run'
         ORDER BY l.location_id;
    IF FOUND THEN
        RETURN;
    END IF;
    -- session-level: held until this session ends (pids are unique among live sessions)
    PERFORM pg_catalog.pg_advisory_lock(1734896748, pg_catalog.pg_backend_pid());
    INSERT INTO ghlsync.lease_holders AS h (holder, host, pid, kind, lock_pid, expires_at)
         VALUES (p_holder, p_host, p_pid, p_kind, pg_catalog.pg_backend_pid(), now() + ttl)
    ON CONFLICT ON CONSTRAINT lease_holders_pkey DO UPDATE SET heartbeat_at = now(), expires_at = now() + ttl;
    INSERT INTO ghlsync.leases (location_id, holder, host, pid, expires_at)
    SELECT DISTINCT u.id, p_holder, p_host, p_pid, now() + ttl FROM unnest(p_locations) AS u(id)
    ON CONFLICT DO NOTHING;
END
$$;

-- A process that stops lets go of everything at once (the others take over at their next tick).
CREATE FUNCTION ghlsync.lease_release(p_holder text) RETURNS void LANGUAGE sql VOLATILE AS $$
    DELETE FROM ghlsync.leases WHERE holder = p_holder;
    DELETE FROM ghlsync.lease_holders WHERE holder = p_holder;
$$;
