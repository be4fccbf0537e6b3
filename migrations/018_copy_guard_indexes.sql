-- 018_copy_guard_indexes.sql: a location's delete changes, open or recently done, by index.
--
-- A first backfill writes its groups of records with COPY, guarded against records deleted
-- locally (open, or done within the hour: what ghlsync.locally_deleted keeps out of the upsert).
-- The guard took each group's 1,000 ids as an array and probed changes_open_remote_idx with
-- every one; binding, sorting and probing them was about 4-5 % of PostgreSQL's CPU of the
-- backfill (tests/bench/pgprof.sh). It now runs after the COPY and starts from the other side:
-- the location's delete changes of the table (normally none), found through these two indexes,
-- each looked up in the table by its unique (location_id, id) index (sync/pullstore.c).
CREATE INDEX changes_delete_open_idx ON ghlsync.changes (location_id, table_schema, table_name)
    WHERE op = 'delete' AND state IN ('pending', 'retrying', 'failed', 'unknown');
CREATE INDEX changes_delete_done_idx ON ghlsync.changes (location_id, done_at)
    WHERE op = 'delete' AND state = 'done';
