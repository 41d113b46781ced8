-- The single-file warehouse (a location ending in .duckdb): one writing process at a time. The lake is lake.sql.
-- Rule ids refer to ../shared/SPEC.md.

-- name: parts_keyed_by_line
-- A warehouse created before parts were keyed by what was sent (PLUS-1): its parts table is rebuilt, the
-- next load of each campaign fills it again from the ledger.
SELECT count(*) > 0 AND count(*) FILTER (WHERE column_name = 'part_key') = 0
FROM information_schema.columns WHERE table_name = 'parts';

-- name: drop_parts
DROP TABLE parts;

-- name: has_messages
-- Whether the warehouse has its `messages` table yet (a file written before it gets it, filled once).
SELECT count(*) > 0 FROM information_schema.tables WHERE table_name = 'messages';

-- name: has_message_counts
-- Whether the warehouse has its `message_counts` table yet (a file written before it gets its counts, taken once).
SELECT count(*) > 0 FROM information_schema.tables WHERE table_name = 'message_counts';

-- name: create_schema
-- One row per input row of a campaign's plan (PLUS-2): the pre-send verdict of every contact (REP-2 columns
-- first), and every original list column kept in `fields` (LIST-3) as JSON, as headers vary from list to list:
-- fields->>'Prénom'.
CREATE TABLE IF NOT EXISTS plan_recipients (
    campaign_id  VARCHAR  NOT NULL,
    ref_list     VARCHAR  NOT NULL,  -- REF_LIST: the list's name, unique per campaign, or 'manual' (LIST-4, LIST-5)
    id_line      BIGINT   NOT NULL,  -- ID_LINE: 1-based data row in its list (LIST-6)
    mobile_raw   VARCHAR,            -- the number as written in the list
    int_mobile   VARCHAR,            -- INT_MOBILE: E.164 (NUM-2)
    mf_valid     BOOLEAN  NOT NULL,  -- a valid mobile number
    mf_allow     BOOLEAN  NOT NULL,  -- destination country enabled on the account
    mf_country   VARCHAR,            -- ISO region (FR, BE, ...)
    status_code  INTEGER,            -- NULL = sendable; else the pre-send status (STAT table)
    status_text  VARCHAR,
    message      VARCHAR,            -- the rendered text, NULL when not sendable
    encoding     VARCHAR,            -- GSM7 / UCS2 (ENC-1, ENC-2)
    parts        INTEGER  NOT NULL,  -- SMS parts = credits (ENC-6)
    fields       JSON,
    loaded_at    TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
    report_order BIGINT,             -- REP-2: the row's place in the report, and its cells that never change after
    report_head  VARCHAR,            -- the plan as the CSV writes them (plan.sql's insert_plan): REF_LIST..INT_MOBILE
    report_tail  VARCHAR,            -- and MF_ALLOW..the list's columns, neutralised and quoted
    PRIMARY KEY (campaign_id, ref_list, id_line)
);
-- A warehouse written before the stored REP-2 cells gains them; pipelines.warehouse.connect fills them once.
ALTER TABLE plan_recipients ADD COLUMN IF NOT EXISTS report_order BIGINT;
ALTER TABLE plan_recipients ADD COLUMN IF NOT EXISTS report_head VARCHAR;
ALTER TABLE plan_recipients ADD COLUMN IF NOT EXISTS report_tail VARCHAR;

-- The plan's summary, one row per campaign (SEND-4 figures).
CREATE TABLE IF NOT EXISTS plan_summaries (
    campaign_id  VARCHAR PRIMARY KEY,
    name         VARCHAR NOT NULL,
    type         VARCHAR NOT NULL,
    rows         BIGINT  NOT NULL,
    sendable     BIGINT  NOT NULL,
    credits      BIGINT  NOT NULL,
    summary      JSON    NOT NULL,
    loaded_at    TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
);

-- Every part submitted to the SMSC, from the send ledger (PLUS-1): its last outcome and the SMSC's id, with
-- that id read as text, as decimal and as hexadecimal, so receipts match whichever way the SMSC writes it
-- (one way per campaign: status.sql's receipt_parts).
-- A part is keyed by what was sent (number, message digest, occurrence, part: pipelines.dlr.part_key); the
-- loader resolves the plan row it belongs to, and a part whose message is no longer in the plan keeps a NULL
-- ref_list (counted, never shown as someone else's).
CREATE TABLE IF NOT EXISTS parts (
    campaign_id  VARCHAR NOT NULL,
    part_key     VARCHAR NOT NULL,
    ref_list     VARCHAR,           -- NULL: the message is no longer in the plan
    id_line      BIGINT,
    part         INTEGER NOT NULL,
    outcome      VARCHAR NOT NULL,  -- accepted | refused | throttled | held (SEND-7) | none (never answered)
    submit_status INTEGER,          -- submit_sm_resp command_status
    message_id   VARCHAR,
    id_text      VARCHAR,
    id_dec       BIGINT,
    id_hex       BIGINT,
    submitted_at TIMESTAMPTZ,
    resent       BOOLEAN DEFAULT false,  -- SEND-7: in flight when a sender stopped, sent again (resend policy)
    PRIMARY KEY (campaign_id, part_key)
);
-- A warehouse created before `resent` (SEND-7) gains it; its parts read false until their campaign is re-loaded.
ALTER TABLE parts ADD COLUMN IF NOT EXISTS resent BOOLEAN DEFAULT false;

-- Receipts and replies as they arrived (PLUS-4, BL-3): append-only facts, never edited.
CREATE TABLE IF NOT EXISTS events (
    campaign_id  VARCHAR NOT NULL,
    kind         VARCHAR NOT NULL,  -- receipt | reply
    received_at  TIMESTAMPTZ NOT NULL,
    message_id   VARCHAR,
    id_text      VARCHAR,
    id_dec       BIGINT,
    id_hex       BIGINT,
    stat         VARCHAR,           -- DELIVRD, UNDELIV, EXPIRED, ... (receipts)
    err          VARCHAR,
    handset      VARCHAR,           -- the recipient's number as the SMSC writes it
    service      VARCHAR,           -- our sender or short code
    text         VARCHAR            -- receipt excerpt, or the reply
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
    open_since   TIMESTAMPTZ,
    PRIMARY KEY (campaign_id, ref_list, id_line)
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

-- The views that derive statuses from these tables (receipt_codes, receipt_parts, part_receipts, part_status,
-- message_status, campaign_stats) are in status.sql: one derivation, shared with pipelines.dlr.recipient_statuses.

-- SEND-5 credits and the CAMP-3 lifecycle live in the account store (pipelines/store: SQLite or PostgreSQL), the
-- source of truth for state; this warehouse keeps facts and reports.

-- BL-1: a read-only copy of the account's blacklists as the plans and loads saw them (the store holds them).
CREATE TABLE IF NOT EXISTS blacklists (
    account_id   VARCHAR NOT NULL,
    kind         VARCHAR NOT NULL CHECK (kind IN ('own', 'global', 'client')),
    int_mobile   VARCHAR NOT NULL,
    loaded_at    TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
    PRIMARY KEY (account_id, kind, int_mobile)
);

-- URL-3, URL-4: every click and preview of a tracked short link (append-only; counts derived by links.sql's
-- views). `batch`: the micro-batch file (events/links/<name>.parquet) it came from: a file loaded again replaces
-- its rows (pipelines.links.load).
CREATE TABLE IF NOT EXISTS clicks (
    token        VARCHAR     NOT NULL,
    campaign_id  VARCHAR     NOT NULL,
    ref_list     VARCHAR     NOT NULL,
    id_line      BIGINT      NOT NULL,
    link         INTEGER     NOT NULL,
    kind         VARCHAR     NOT NULL CHECK (kind IN ('click', 'preview')),
    clicked_at   TIMESTAMPTZ NOT NULL,  -- when the service answered (the log's `at`: AT is a keyword)
    agent_class  VARCHAR,
    bot          BOOLEAN     NOT NULL,
    ip_prefix    VARCHAR,
    user_agent   VARCHAR,
    batch        VARCHAR     NOT NULL
);
