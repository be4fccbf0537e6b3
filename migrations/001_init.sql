-- 001_init.sql: the ghlsync bookkeeping schema.
--
-- Applied by sync/migrate.c inside one transaction, under an advisory lock, recorded in
-- ghlsync.schema_migrations (which the runner itself creates). Never edit an applied migration:
-- the runner refuses to start when a file's checksum changed. Evolve with 002_..., 003_...

CREATE SCHEMA IF NOT EXISTS ghlsync;

-- Fetched object definitions, one row per location and object (definitions can differ per
-- location). raw keeps the API's JSON verbatim so nothing the docs forgot to list is lost.
CREATE TABLE ghlsync.objects (
    location_id    text        NOT NULL,
    object_key     text        NOT NULL,
    object_id      text,
    standard       boolean     NOT NULL DEFAULT false,
    label_singular text,
    label_plural   text,
    description    text,
    table_schema   text        NOT NULL,
    table_name     text        NOT NULL,
    raw            jsonb       NOT NULL,
    fetched_at     timestamptz NOT NULL DEFAULT now(),
    deleted_at     timestamptz,
    PRIMARY KEY (location_id, object_key)
);

-- Fetched field definitions. column_name / currency_column record where the field lives so that
-- a later run (or a renamed label) never renames a column. deleted_at: the field vanished from
-- the remote schema; its column is kept.
CREATE TABLE ghlsync.fields (
    location_id     text        NOT NULL,
    object_key      text        NOT NULL,
    field_key       text        NOT NULL,
    field_id        text,
    prop_key        text        NOT NULL,
    label           text,
    data_type       text        NOT NULL,
    column_name     text        NOT NULL,
    currency_column text,
    raw             jsonb       NOT NULL,
    fetched_at      timestamptz NOT NULL DEFAULT now(),
    deleted_at      timestamptz,
    PRIMARY KEY (location_id, object_key, field_key)
);

-- Option labels for SINGLE_OPTIONS / MULTIPLE_OPTIONS / RADIO / CHECKBOX / TEXTBOX_LIST, so that
-- BI tools can join option keys to labels.
CREATE TABLE ghlsync.field_options (
    location_id text NOT NULL,
    object_key  text NOT NULL,
    field_key   text NOT NULL,
    option_key  text NOT NULL,
    label       text,
    PRIMARY KEY (location_id, object_key, field_key, option_key)
);

-- The mirrored tables: one per object key (shared by all locations; rows carry location_id).
CREATE TABLE ghlsync.tables (
    object_key   text        PRIMARY KEY,
    table_schema text        NOT NULL,
    table_name   text        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (table_schema, table_name)
);

-- Every column ghlsync created for a field, location-independent. state: active | deprecated
-- (field deleted remotely, data kept) | superseded (dataType changed, a new column took over).
CREATE TABLE ghlsync.columns (
    object_key  text        NOT NULL REFERENCES ghlsync.tables (object_key),
    column_name text        NOT NULL,
    field_key   text        NOT NULL,
    data_type   text        NOT NULL,
    pg_type     text        NOT NULL,
    codec       text        NOT NULL,
    role        text        NOT NULL DEFAULT 'value' CHECK (role IN ('value', 'currency')),
    state       text        NOT NULL DEFAULT 'active'
                            CHECK (state IN ('active', 'deprecated', 'superseded')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    changed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (object_key, column_name)
);
CREATE INDEX columns_field_idx ON ghlsync.columns (object_key, field_key);

-- Pull progress per location and object. cursor is the API's searchAfter (any JSON shape,
-- echoed back verbatim). generation numbers full scans for mark-and-sweep of remote deletes.
CREATE TABLE ghlsync.pull_state (
    location_id       text        NOT NULL,
    object_key        text        NOT NULL,
    mode              text        NOT NULL DEFAULT 'full'
                                  CHECK (mode IN ('full', 'incremental', 'sorted_scan', 'full_diff')),
    cursor            jsonb,
    page              integer,
    watermark         timestamptz,
    generation        bigint      NOT NULL DEFAULT 0,
    total             bigint,
    fetched           bigint      NOT NULL DEFAULT 0,
    complete          boolean     NOT NULL DEFAULT false,
    started_at        timestamptz,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    completed_at      timestamptz,
    last_full_scan_at timestamptz,
    last_error        text,
    PRIMARY KEY (location_id, object_key)
);

-- The outbox. Row triggers on mirrored tables append here in the user's transaction; push
-- workers claim rows with FOR UPDATE SKIP LOCKED.
--   state: pending -> (retrying ->)* done | failed | unknown (outcome of a create not known:
--          parked for an operator) | ignored (superseded or coalesced into another change).
CREATE TABLE ghlsync.changes (
    id              bigserial   PRIMARY KEY,
    location_id     text        NOT NULL,
    object_key      text        NOT NULL,
    table_schema    text        NOT NULL,
    table_name      text        NOT NULL,
    op              text        NOT NULL CHECK (op IN ('insert', 'update', 'delete')),
    local_key       bigint      NOT NULL,
    remote_id       text,
    old_values      jsonb,
    new_values      jsonb,
    changed_columns text[],
    base_updated_at timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    state           text        NOT NULL DEFAULT 'pending'
                                CHECK (state IN ('pending', 'retrying', 'done', 'failed',
                                                 'unknown', 'ignored')),
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_status     integer,
    last_error      text,
    done_at         timestamptz
);
CREATE INDEX changes_todo_idx ON ghlsync.changes (next_attempt_at, id)
    WHERE state IN ('pending', 'retrying');
CREATE INDEX changes_row_idx ON ghlsync.changes (table_schema, table_name, local_key);

-- Remote-vs-local conflicts and how the configured policy resolved them.
CREATE TABLE ghlsync.conflicts (
    id           bigserial   PRIMARY KEY,
    change_id    bigint      REFERENCES ghlsync.changes (id) ON DELETE SET NULL,
    location_id  text        NOT NULL,
    object_key   text        NOT NULL,
    table_schema text        NOT NULL,
    table_name   text        NOT NULL,
    local_key    bigint,
    remote_id    text,
    column_name  text,
    base_value   jsonb,
    local_value  jsonb,
    remote_value jsonb,
    remote_updated_at timestamptz,
    policy       text        NOT NULL,
    resolution   text        NOT NULL,
    detected_at  timestamptz NOT NULL DEFAULT now(),
    resolved_at  timestamptz
);
CREATE INDEX conflicts_row_idx ON ghlsync.conflicts (table_schema, table_name, local_key);

-- Which process works on which location (scale-out). A lease is valid until expires_at;
-- holders heartbeat and others take over expired leases.
CREATE TABLE ghlsync.leases (
    location_id  text        PRIMARY KEY,
    holder       text        NOT NULL,
    acquired_at  timestamptz NOT NULL DEFAULT now(),
    heartbeat_at timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL
);

-- OAuth token pairs (the shape is fixed: sync/hlapi codes against it).
CREATE TABLE ghlsync.oauth_tokens (
    location_id   text        PRIMARY KEY,
    access_token  text,
    refresh_token text        NOT NULL,
    expires_at    timestamptz,
    updated_at    timestamptz NOT NULL DEFAULT now()
);
