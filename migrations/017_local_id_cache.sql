-- 017_local_id_cache.sql: a mapped table's _local_id values, 1,000 at a time.
--
-- _local_id is an identity column. Its sequence had CACHE 1, so every row inserted without an
-- explicit _local_id (every row of a first backfill's COPY) read, locked and logged the
-- sequence: about 3 % of PostgreSQL's CPU of that COPY. ddl.c now creates the column with
-- CACHE 1000 (sync/family.c says what that costs: gaps, and ids of two sessions interleaved);
-- this gives the tables created before it the same cache. ALTER SEQUENCE locks the sequence,
-- not the table, so readers of the table are not held up. Tables the migrating role may not
-- alter, and sequences someone gave a cache of their own, are left as they are.
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN
        SELECT s.seqrelid::regclass AS seq
        FROM ghlsync.tables t
        JOIN pg_namespace n ON n.nspname = t.table_schema
        JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = t.table_name
        JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = '_local_id'
                           AND a.attidentity <> '' AND NOT a.attisdropped
        JOIN pg_depend d ON d.refclassid = 'pg_class'::regclass AND d.refobjid = c.oid
                        AND d.refobjsubid = a.attnum AND d.classid = 'pg_class'::regclass
                        AND d.deptype = 'i'
        JOIN pg_sequence s ON s.seqrelid = d.objid
        WHERE s.seqcache = 1 AND pg_has_role(current_user, c.relowner, 'USAGE')
    LOOP
        EXECUTE format('ALTER SEQUENCE %s CACHE 1000', r.seq);
    END LOOP;
END
$$;
