-- 005_engine_role.sql: only the engine is the engine.
--
-- Until now the push triggers trusted `ghlsync.origin = 'engine'` from any session: any role
-- that could write a mirrored table could set it and so skip capture (a local edit that never
-- reaches HighLevel, and that pull then silently overwrites) or write a pull-only table.
--
-- The engine is now a role, not a setting: the role that owns schema ghlsync (it ran these
-- migrations: `ghlsync init`, or the first `ghlsync run`) and the roles that are members of it
-- (GRANT <owner> TO <role>), i.e. the roles that may create objects in schema ghlsync
-- (superusers included). The origin setting still
-- says "this write is the engine's own" (per session or per transaction: set_config(..., true)),
-- but it only counts for those roles; any other role that claims it gets an error
-- (insufficient_privilege), never a skipped capture.
--
-- The role is checked on session_user, not current_user: the capture trigger now runs as the
-- schema owner (SECURITY DEFINER, so that the writing role needs no privilege on ghlsync), and a
-- non-superuser cannot change session_user (SET SESSION AUTHORIZATION is for superusers; SET
-- ROLE changes current_user only, and only to roles the session user is a member of).
--
-- Grants: the bookkeeping tables (changes and their claims, pull state, leases, tokens) are the
-- engine's. Before this migration a role writing a mirrored table needed INSERT on
-- ghlsync.changes for the trigger to work, which also let it insert, claim or settle changes
-- directly. That is no longer needed, so every write privilege a non-owner holds on a ghlsync
-- relation is revoked here; SELECT grants (README: BI readers of ghlsync.status) are kept.

-- True when the session's role is the engine: it may create objects in schema ghlsync (the
-- owner, a member of the owner's role, a superuser, or a role an administrator granted CREATE
-- on ghlsync). One catalog function, no subquery: the same test is the WHEN condition of the
-- per-table triggers (sync/triggers.c), so the engine's own writes do not even enter them.
CREATE FUNCTION ghlsync.is_engine() RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT pg_catalog.has_schema_privilege(session_user, 'ghlsync', 'CREATE')
$$;

-- Does this write come from the engine? false: a normal local write. An origin claimed by a
-- role that is not the engine raises.
CREATE FUNCTION ghlsync.engine_origin() RETURNS boolean LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF pg_catalog.current_setting('ghlsync.origin', true) IS DISTINCT FROM 'engine' THEN
        RETURN false;
    END IF;
    IF ghlsync.is_engine() THEN
        RETURN true;
    END IF;
    RAISE EXCEPTION 'ghlsync: role "%" set ghlsync.origin = ''engine'' but is not the ghlsync engine',
                    session_user
        USING ERRCODE = 'insufficient_privilege',
              DETAIL = 'Only the role that owns schema ghlsync, or a member of it, writes as the '
                       || 'engine (its writes are not pushed back to HighLevel).',
              HINT = 'Do not set ghlsync.origin: a normal write to a mirrored table is pushed to '
                     || 'HighLevel (and refused for a table with direction = "pull").';
END
$$;

-- The capture trigger runs as the schema owner with a fixed search_path: the writing role needs
-- no privilege on ghlsync, and objects it creates elsewhere cannot take the place of a function
-- or table the trigger uses. The body is 003's, with the origin test going through the check
-- above (evaluated only when the origin is claimed, so ordinary writes pay one current_setting).
CREATE OR REPLACE FUNCTION ghlsync.capture() RETURNS trigger LANGUAGE plpgsql
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
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
        IF ghlsync.engine_origin() THEN -- raises for a role that is not the engine
            IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
            RETURN NEW;
        END IF;
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

-- The read-only triggers run as the writer (they write nothing) and without a SET clause, which
-- would cost a configuration save and restore on every row that pull writes.
CREATE OR REPLACE FUNCTION ghlsync.reject_write() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('ghlsync.origin', true) = 'engine' THEN
        -- inline (not ghlsync.engine_origin()): the writer may have no USAGE on schema ghlsync
        IF NOT pg_catalog.has_schema_privilege(session_user, 'ghlsync', 'CREATE') THEN
            RAISE EXCEPTION 'ghlsync: role "%" set ghlsync.origin = ''engine'' but is not the ghlsync engine',
                            session_user
                USING ERRCODE = 'insufficient_privilege',
                      HINT = 'Do not set ghlsync.origin: local writes to this table are refused.';
        END IF;
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

CREATE OR REPLACE FUNCTION ghlsync.reject_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('ghlsync.origin', true) = 'engine' THEN
        -- inline (not ghlsync.engine_origin()): the writer may have no USAGE on schema ghlsync
        IF NOT pg_catalog.has_schema_privilege(session_user, 'ghlsync', 'CREATE') THEN
            RAISE EXCEPTION 'ghlsync: role "%" set ghlsync.origin = ''engine'' but is not the ghlsync engine',
                            session_user
                USING ERRCODE = 'insufficient_privilege',
                      HINT = 'Do not set ghlsync.origin: local writes to this table are refused.';
        END IF;
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'TRUNCATE of %.% is not carried to HighLevel', TG_TABLE_SCHEMA, TG_TABLE_NAME
        USING ERRCODE = 'feature_not_supported',
              HINT = 'Use DELETE to delete records in HighLevel too.';
END
$$;

-- Nobody but the engine attaches these to a table (the engine creates the triggers; firing a
-- trigger does not check EXECUTE).
REVOKE EXECUTE ON FUNCTION ghlsync.capture(), ghlsync.reject_write(), ghlsync.reject_truncate()
    FROM PUBLIC;

-- Write privileges of other roles on the bookkeeping relations (see the top comment).
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN
        SELECT DISTINCT c.oid::regclass AS rel, c.relkind, a.grantee
          FROM pg_catalog.pg_class c
          JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
          CROSS JOIN LATERAL pg_catalog.aclexplode(c.relacl) a
         WHERE n.nspname = 'ghlsync' AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
           AND a.grantee <> c.relowner
           AND a.privilege_type IN ('INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'USAGE')
    LOOP
        IF r.relkind = 'S' THEN
            EXECUTE format('REVOKE USAGE, UPDATE ON SEQUENCE %s FROM %s', r.rel,
                           CASE WHEN r.grantee = 0 THEN 'PUBLIC'
                                ELSE quote_ident(pg_catalog.pg_get_userbyid(r.grantee)) END);
        ELSE
            EXECUTE format('REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON %s FROM %s', r.rel,
                           CASE WHEN r.grantee = 0 THEN 'PUBLIC'
                                ELSE quote_ident(pg_catalog.pg_get_userbyid(r.grantee)) END);
        END IF;
    END LOOP;
END
$$;
