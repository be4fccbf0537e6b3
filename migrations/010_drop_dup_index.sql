-- 010_drop_dup_index.sql: drop the (location_id) index of every mapped table.
--
-- ddl.c created three indexes per mapped table: UNIQUE (location_id, id) WHERE id IS NOT NULL,
-- (updated_at) and (location_id). The last one duplicates the unique index for the engine: every
-- statement of ghlsync that selects a table's rows by location (the sweep of reconcile, the
-- snapshot swap) also says id IS NOT NULL, which the unique (partial) index serves, its leading
-- column being location_id. The duplicate cost a third index write per row pulled
-- (tests/bench/copy.sh, README "write path"). New tables no longer get it (ddl.c). A query of
-- one's own by location alone, without id IS NOT NULL, cannot use the partial index: add the
-- condition, or an index of one's own (README).
--
-- The index is found by shape, not by name (ddl.c shortens long names with a hash): a plain
-- one-column btree index on location_id whose name ends in location_id_idx, on a table that has
-- ghlsync's _generation column and a unique two-column index starting with location_id. Tables
-- the migrating role may not alter are left as they are.
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN
        SELECT i.indexrelid::regclass AS idx
        FROM pg_index i
        JOIN pg_class t ON t.oid = i.indrelid
        JOIN pg_class ic ON ic.oid = i.indexrelid
        JOIN pg_am am ON am.oid = ic.relam AND am.amname = 'btree'
        JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = i.indkey[0]
        WHERE NOT i.indisunique AND i.indnatts = 1 AND i.indpred IS NULL AND i.indexprs IS NULL
          AND a.attname = 'location_id' AND ic.relname LIKE '%location\_id\_idx'
          AND pg_has_role(current_user, t.relowner, 'USAGE')
          AND EXISTS (SELECT 1 FROM pg_attribute g
                      WHERE g.attrelid = t.oid AND g.attname = '_generation' AND NOT g.attisdropped)
          AND EXISTS (SELECT 1 FROM pg_index u
                      WHERE u.indrelid = t.oid AND u.indisunique AND u.indnatts = 2
                        AND u.indkey[0] = i.indkey[0])
    LOOP
        EXECUTE format('DROP INDEX %s', r.idx);
    END LOOP;
END
$$;
