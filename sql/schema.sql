-- smsflow warehouse (DuckDB). Analysts open the file read-only; loads are idempotent per campaign.
-- Rule ids refer to ../shared/SPEC.md.

-- name: create_schema
-- One row per input row of a campaign's plan (PLUS-2): the pre-send verdict of every contact (REP-2 columns
-- first), and every original list column kept in `fields` (LIST-3) as JSON, as headers vary from list to list:
-- fields->>'Prénom'.
CREATE TABLE IF NOT EXISTS plan_recipients (
    campaign_id  VARCHAR  NOT NULL,
    ref_list     VARCHAR  NOT NULL,  -- REF_LIST: list file name, or 'manual' (LIST-4, LIST-5)
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
    PRIMARY KEY (campaign_id, ref_list, id_line)
);

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
