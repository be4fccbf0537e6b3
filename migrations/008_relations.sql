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

-- Local writes to <schema>.relations (push, sync/relations.c). A relation has nothing to update:
-- INSERT creates it (POST /associations/relations), DELETE removes it (DELETE
-- /associations/relations/{id}), UPDATE is refused. An inserted row waits in the table itself
-- (_sync_state 'pending', id NULL until HighLevel answers); an end may name a row whose create
-- has not reached HighLevel yet by its _local_id (first_local_id / second_local_id): the
-- relation is sent right after that create, with the new id filled in. A deleted row that
-- HighLevel knows (id set) leaves its delete here until it is sent.
CREATE TABLE ghlsync.relation_deletes (
    seq          bigserial   PRIMARY KEY,
    location_id  text        NOT NULL,
    relation_id  text        NOT NULL,
    state        text        NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done', 'failed')),
    error        text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    done_at      timestamptz
);
CREATE INDEX relation_deletes_due_idx ON ghlsync.relation_deletes (location_id, seq)
    WHERE state = 'pending';
-- a pull must not bring back a relation whose delete is not settled
CREATE INDEX relation_deletes_open_idx ON ghlsync.relation_deletes (relation_id)
    WHERE state <> 'done';

COMMENT ON TABLE ghlsync.relation_deletes IS
    'ghlsync: local deletes of relations, until DELETE /associations/relations/{id} succeeded';

-- The capture trigger of <schema>.relations. It runs as the schema owner (like ghlsync.capture)
-- so that the writing role needs no privilege on ghlsync; the engine's own writes pass through.
CREATE FUNCTION ghlsync.relations_capture() RETURNS trigger LANGUAGE plpgsql
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    n integer;
    loc text;
    k1 text;
    k2 text;
BEGIN
    IF ghlsync.engine_origin() THEN
        IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
        RETURN NEW;
    END IF;
    IF TG_OP = 'UPDATE' THEN
        RAISE EXCEPTION 'a relation has nothing to update: delete the row and insert a new one'
            USING ERRCODE = 'feature_not_supported',
                  DETAIL = 'HighLevel relations are created (POST /associations/relations) and '
                           'deleted (DELETE /associations/relations/{id}); there is no update call.',
                  HINT = 'DELETE FROM ' || quote_ident(TG_TABLE_SCHEMA) || '.' ||
                         quote_ident(TG_TABLE_NAME) || ' WHERE _local_id = ...; then INSERT the '
                         'new link (association_id, first_record_id, second_record_id).';
    END IF;
    IF TG_OP = 'DELETE' THEN
        IF OLD.id IS NOT NULL AND OLD._deleted_at IS NULL THEN
            INSERT INTO ghlsync.relation_deletes (location_id, relation_id)
                VALUES (OLD.location_id, OLD.id);
            PERFORM pg_notify('ghlsync_relations', OLD.location_id);
        END IF;
        RETURN OLD;
    END IF;
    IF NEW.id IS NOT NULL THEN
        RAISE EXCEPTION 'relations.id is assigned by HighLevel: insert the row without it'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF (NEW.first_record_id IS NULL AND NEW.first_local_id IS NULL) OR
       (NEW.second_record_id IS NULL AND NEW.second_local_id IS NULL) THEN
        RAISE EXCEPTION 'each end of a relation needs a record id (first_record_id, '
                        'second_record_id) or the _local_id of a row not yet created '
                        '(first_local_id, second_local_id)'
            USING ERRCODE = 'not_null_violation';
    END IF;
    EXECUTE format('SELECT count(*), min(location_id), min(first_object_key), '
                   'min(second_object_key) FROM %I.associations WHERE id = $1 AND '
                   '($2::text IS NULL OR location_id = $2)', TG_TABLE_SCHEMA)
        INTO n, loc, k1, k2 USING NEW.association_id, NEW.location_id;
    IF n = 0 THEN
        -- not listed (yet: made in HighLevel since the last pass, or a typo): HighLevel decides,
        -- and a refusal fails this row alone with its message
        IF NEW.location_id IS NULL THEN
            RAISE EXCEPTION 'association % is not in %.associations: give location_id',
                NEW.association_id, TG_TABLE_SCHEMA
                USING ERRCODE = 'not_null_violation',
                      HINT = 'the associations table lists the association ids of each location';
        END IF;
        loc := NEW.location_id;
    ELSIF n > 1 THEN
        RAISE EXCEPTION 'association % exists in several locations: say location_id',
            NEW.association_id USING ERRCODE = 'not_null_violation';
    END IF;
    NEW.location_id := loc;
    NEW.first_object_key := COALESCE(NEW.first_object_key, k1);
    NEW.second_object_key := COALESCE(NEW.second_object_key, k2);
    NEW._sync_state := 'pending';
    NEW._sync_error := NULL;
    NEW._deleted_at := NULL;
    NEW._synced_at := NULL;
    PERFORM pg_notify('ghlsync_relations', loc);
    RETURN NEW;
END
$$;

-- associations are edited in HighLevel
CREATE FUNCTION ghlsync.reject_association_write() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF ghlsync.engine_origin() THEN
        IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'table %.% is read-only: associations are edited in HighLevel',
        TG_TABLE_SCHEMA, TG_TABLE_NAME
        USING ERRCODE = 'read_only_sql_transaction',
              HINT = 'Link two records with an INSERT into the relations table.';
END
$$;

-- As for ghlsync.capture (005): nobody but the engine attaches these to a table.
REVOKE EXECUTE ON FUNCTION ghlsync.relations_capture(), ghlsync.reject_association_write()
    FROM PUBLIC;
