-- The warehouse as a DuckLake (REP-3): the catalog in SQLite (one machine) or PostgreSQL (production), the data
-- as Parquet files under the bucket. Every process that loads or reads attaches the same lake; DuckLake gives each
-- transaction a snapshot, so readers never block loads and concurrent loads of different campaigns commit both.
-- DuckLake has no PRIMARY KEY, UNIQUE or CHECK constraints: the loaders keep the keys (a load replaces a
-- campaign's rows whole, in one transaction), and pipelines.warehouse.load_plan refuses duplicate list rows itself.

-- name: installed_version
-- The version of the tables, rules and views installed in the lake (pipelines.lake.SCHEMA_VERSION); NULL: none.
SELECT max(version) FROM lake_schema;

-- name: create_version_table
CREATE TABLE IF NOT EXISTS lake_schema (
    version      INTEGER     NOT NULL,
    installed_at TIMESTAMPTZ NOT NULL
);

-- name: record_version
INSERT INTO lake_schema VALUES ($version, current_timestamp);

-- name: create_s3_secret
-- The lake's data on S3 (issue 13): DuckDB's httpfs reaches the bucket with the AWS settings
-- (pipelines.lake_data.secret_parameters), for this in-memory session only, scoped to the lake's bucket.
CREATE OR REPLACE TEMPORARY SECRET smsflow_lake_data (
    TYPE s3, SCOPE $scope, KEY_ID $key_id, SECRET $secret, SESSION_TOKEN $session_token, REGION $region,
    ENDPOINT $endpoint, URL_STYLE $url_style, USE_SSL $use_ssl
);

-- name: create_schema
-- The tables of schema.sql, without the constraints DuckLake does not hold (see above).
CREATE TABLE IF NOT EXISTS plan_recipients (
    campaign_id  VARCHAR  NOT NULL,
    ref_list     VARCHAR  NOT NULL,
    id_line      BIGINT   NOT NULL,
    mobile_raw   VARCHAR,
    int_mobile   VARCHAR,
    mf_valid     BOOLEAN  NOT NULL,
    mf_allow     BOOLEAN  NOT NULL,
    mf_country   VARCHAR,
    status_code  INTEGER,
    status_text  VARCHAR,
    message      VARCHAR,
    encoding     VARCHAR,
    parts        INTEGER  NOT NULL,
    fields       JSON,
    loaded_at    TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
    report_order BIGINT,   -- REP-2: the row's place in the report and its cells that never change after the plan,
    report_head  VARCHAR,  -- as the CSV writes them (schema.sql, plan.sql's insert_plan)
    report_tail  VARCHAR
);
-- A lake of version 5 or before gains them (pipelines.lake fills them once).
ALTER TABLE plan_recipients ADD COLUMN IF NOT EXISTS report_order BIGINT;
ALTER TABLE plan_recipients ADD COLUMN IF NOT EXISTS report_head VARCHAR;
ALTER TABLE plan_recipients ADD COLUMN IF NOT EXISTS report_tail VARCHAR;
CREATE TABLE IF NOT EXISTS plan_summaries (
    campaign_id  VARCHAR NOT NULL,
    name         VARCHAR NOT NULL,
    type         VARCHAR NOT NULL,
    rows         BIGINT  NOT NULL,
    sendable     BIGINT  NOT NULL,
    credits      BIGINT  NOT NULL,
    summary      JSON    NOT NULL,
    loaded_at    TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
);
CREATE TABLE IF NOT EXISTS parts (
    campaign_id  VARCHAR NOT NULL,
    part_key     VARCHAR NOT NULL,
    ref_list     VARCHAR,
    id_line      BIGINT,
    part         INTEGER NOT NULL,
    outcome      VARCHAR NOT NULL,
    submit_status INTEGER,
    message_id   VARCHAR,
    id_text      VARCHAR,
    id_dec       BIGINT,
    id_hex       BIGINT,
    submitted_at TIMESTAMPTZ,
    resent       BOOLEAN DEFAULT false
);
CREATE TABLE IF NOT EXISTS events (
    campaign_id  VARCHAR NOT NULL,
    kind         VARCHAR NOT NULL,
    received_at  TIMESTAMPTZ NOT NULL,
    message_id   VARCHAR,
    id_text      VARCHAR,
    id_dec       BIGINT,
    id_hex       BIGINT,
    stat         VARCHAR,
    err          VARCHAR,
    handset      VARCHAR,
    service      VARCHAR,
    text         VARCHAR
);
CREATE TABLE IF NOT EXISTS messages (
    -- One status per plan row, derived by status.sql's derived_status and rewritten by every load of the campaign
    -- in the transaction that writes its facts; read through the views message_rows, message_status.
    campaign_id  VARCHAR  NOT NULL,
    ref_list     VARCHAR  NOT NULL,
    id_line      BIGINT   NOT NULL,
    int_mobile   VARCHAR,
    presend      BOOLEAN  NOT NULL,
    status_code  INTEGER  NOT NULL,
    delivery_date TIMESTAMPTZ,
    reply        VARCHAR,
    stop         BOOLEAN,
    held         BOOLEAN,
    reason       VARCHAR,
    open_since   TIMESTAMPTZ
);
CREATE TABLE IF NOT EXISTS message_counts (
    -- REP-1: the campaign's `messages` rows counted by status (status.sql's counted_messages), rewritten with them
    -- by every load; `open_since` exact, so the clock applies to the counts as to the rows (message_count_rows).
    campaign_id  VARCHAR  NOT NULL,
    presend      BOOLEAN  NOT NULL,
    status_code  INTEGER  NOT NULL,
    held         BOOLEAN,
    replied      BOOLEAN  NOT NULL,
    open_since   TIMESTAMPTZ,
    messages     BIGINT   NOT NULL
);
CREATE TABLE IF NOT EXISTS part_counts (
    -- SEND-7: the campaign's parts held and resent by the in-flight policy (status.sql's counted_parts).
    campaign_id  VARCHAR  NOT NULL,
    held_parts   BIGINT   NOT NULL,
    resent_parts BIGINT   NOT NULL
);
CREATE TABLE IF NOT EXISTS blacklists (
    account_id   VARCHAR NOT NULL,
    kind         VARCHAR NOT NULL,  -- own | global | client
    int_mobile   VARCHAR NOT NULL,
    loaded_at    TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
);
CREATE TABLE IF NOT EXISTS clicks (
    -- URL-3, URL-4: every click and preview of a tracked short link, as the links service logged it (append-only
    -- facts; counts are derived by links.sql's views). `batch`: the micro-batch file it was loaded from
    -- (events/links/<name>.parquet), so loading a file again replaces its rows (pipelines.links.load).
    token        VARCHAR     NOT NULL,
    campaign_id  VARCHAR     NOT NULL,
    ref_list     VARCHAR     NOT NULL,
    id_line      BIGINT      NOT NULL,
    link         INTEGER     NOT NULL,
    kind         VARCHAR     NOT NULL,  -- click | preview (HEAD requests and preview crawlers)
    clicked_at   TIMESTAMPTZ NOT NULL,  -- when the service answered (the log's `at`: AT is a keyword)
    agent_class  VARCHAR,              -- person, crawler:whatsapp, crawler:imessage, ..., crawler:other
    bot          BOOLEAN     NOT NULL,
    ip_prefix    VARCHAR,              -- the client's address truncated to /24 (IPv4) or /48 (IPv6)
    user_agent   VARCHAR,
    batch        VARCHAR     NOT NULL
);
