-- smsflow warehouse (DuckDB). Analysts open the file read-only; loads are idempotent per campaign.
-- Rule ids refer to ../shared/SPEC.md.

-- name: parts_keyed_by_line
-- A warehouse created before parts were keyed by what was sent (PLUS-1): its parts table is rebuilt, the
-- next load of each campaign fills it again from the ledger.
SELECT count(*) > 0 AND count(*) FILTER (WHERE column_name = 'part_key') = 0
FROM information_schema.columns WHERE table_name = 'parts';

-- name: drop_parts
DROP TABLE parts;

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

-- Every part submitted to the SMSC, from the send ledger (PLUS-1): its last outcome and the SMSC's id, with
-- that id read as text, as decimal and as hexadecimal, so receipts match whichever way the SMSC writes it.
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
    PRIMARY KEY (campaign_id, part_key)
);

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

-- The one table from SMSC facts to SPEC STAT codes (pipelines/dlr.py holds the same one).
CREATE OR REPLACE VIEW receipt_codes AS
SELECT * FROM (VALUES ('ACCEPTD', 10, false), ('ENROUTE', 24, false), ('DELIVRD', 16, true),
                      ('UNDELIV', 20, true), ('EXPIRED', 22, true), ('DELETED', 23, true),
                      ('REJECTD', 27, true), ('UNKNOWN', 26, true)) AS t(stat, status_code, final);

-- Each part's latest receipt (a final one wins over an intermediate one), matched by SMSC id in text,
-- decimal-against-hex, or hex-against-decimal.
CREATE OR REPLACE VIEW part_receipts AS
WITH matched AS (
    SELECT p.campaign_id, p.part_key, e.stat, e.received_at FROM parts p
    JOIN events e ON e.campaign_id = p.campaign_id AND e.kind = 'receipt' AND e.id_text = p.id_text
    UNION
    SELECT p.campaign_id, p.part_key, e.stat, e.received_at FROM parts p
    JOIN events e ON e.campaign_id = p.campaign_id AND e.kind = 'receipt' AND e.id_dec = p.id_hex
    UNION
    SELECT p.campaign_id, p.part_key, e.stat, e.received_at FROM parts p
    JOIN events e ON e.campaign_id = p.campaign_id AND e.kind = 'receipt' AND e.id_hex = p.id_dec
)
SELECT m.*, coalesce(c.final, false) AS final, c.status_code
FROM matched m LEFT JOIN receipt_codes c USING (stat)
QUALIFY row_number() OVER (PARTITION BY campaign_id, part_key
                           ORDER BY coalesce(c.final, false) DESC, received_at DESC) = 1;

-- One status per part, from its submit outcome then its receipt (PLUS-4). A part held by the in-flight
-- policy (SEND-7) stays 1 with `held`: it was not resent and may have reached the handset or not.
CREATE OR REPLACE VIEW part_status AS
SELECT p.*, r.stat, r.received_at AS receipt_at,
       CASE WHEN p.outcome = 'refused' THEN (CASE WHEN p.submit_status IN (11, 12, 51, 52, 80, 81) THEN 13 ELSE 12 END)
            WHEN p.outcome <> 'accepted' THEN 1
            WHEN r.status_code IS NOT NULL THEN r.status_code
            WHEN p.submitted_at < now() - INTERVAL 48 HOUR THEN 10  -- no final receipt within the validity
            ELSE 24 END AS status_code,
       coalesce(r.final, false) AS final,
       p.outcome = 'held' AS held
FROM parts p LEFT JOIN part_receipts r USING (campaign_id, part_key);

-- One status per recipient: a multipart message rolls up (all delivered → 16, any failure → it, else the
-- first part under way); a STOP reply makes it 17 (BL-2). Replies are joined with '#' (REP-2 REPLY).
-- `reason` says why a message is still 1: one of its parts was in flight when the sender stopped (SEND-7).
CREATE OR REPLACE VIEW message_status AS
WITH rolled AS (
    SELECT campaign_id, ref_list, id_line, count(*) AS sent_parts,
           bool_and(status_code = 16) AS all_delivered,
           arg_min(status_code, part) FILTER (WHERE status_code IN (12, 13, 20, 22, 23, 26, 27)) AS failure,
           arg_min(status_code, part) FILTER (WHERE status_code <> 16) AS under_way,
           max(receipt_at) AS last_receipt,
           bool_or(held) AS held
    FROM part_status WHERE ref_list IS NOT NULL GROUP BY ALL
), replies AS (
    SELECT campaign_id, '+' || ltrim(handset, '+') AS int_mobile,
           string_agg(text, '#' ORDER BY received_at) AS reply,
           bool_or(upper(regexp_replace(strip_accents(text), '[^A-Za-z]', '', 'g'))
                   IN ('STOP', 'ARRET', 'STOPALL', 'DESABONNER', 'UNSUBSCRIBE')) AS stop
    FROM events WHERE kind = 'reply' GROUP BY ALL
)
SELECT r.campaign_id, r.ref_list, r.id_line, r.int_mobile,
       CASE WHEN coalesce(q.stop, false) THEN 17
            WHEN m.failure IS NOT NULL THEN m.failure
            WHEN m.sent_parts = r.parts AND m.all_delivered THEN 16
            WHEN m.under_way IS NOT NULL THEN m.under_way
            ELSE 1 END AS status_code,
       CASE WHEN m.sent_parts = r.parts AND m.all_delivered THEN m.last_receipt END AS delivery_date,
       q.reply, coalesce(q.stop, false) AS stop,
       coalesce(m.held, false) AS held,
       CASE WHEN m.held AND m.failure IS NULL THEN 'in flight when the sender stopped' END AS reason
FROM plan_recipients r
LEFT JOIN rolled m USING (campaign_id, ref_list, id_line)
LEFT JOIN replies q ON q.campaign_id = r.campaign_id AND q.int_mobile = r.int_mobile
WHERE r.status_code IS NULL;

-- SEND-5: the credit ledger. A balance is never stored: it is the sum of the entries.
-- topup +n (credits bought), reserve -n (a campaign validated), release +n (a cancelled or rejected
-- campaign, or the unused part of a finished one, gives its reservation back).
CREATE SEQUENCE IF NOT EXISTS credit_entry_id;
CREATE TABLE IF NOT EXISTS credit_ledger (
    entry_id     BIGINT PRIMARY KEY DEFAULT nextval('credit_entry_id'),
    account_id   VARCHAR NOT NULL,
    campaign_id  VARCHAR,
    kind         VARCHAR NOT NULL CHECK (kind IN ('topup', 'reserve', 'release')),
    credits      BIGINT  NOT NULL CHECK (credits >= 0),
    reason       VARCHAR,
    entered_at   TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
);

CREATE OR REPLACE VIEW credit_balances AS
SELECT account_id,
       sum(CASE kind WHEN 'reserve' THEN -credits ELSE credits END) AS available,
       sum(credits) FILTER (WHERE kind = 'reserve') - coalesce(sum(credits) FILTER (WHERE kind = 'release'), 0)
           AS reserved_net
FROM credit_ledger GROUP BY account_id;

-- CAMP-3: every lifecycle step of every campaign, with why (approvals and their audit included).
CREATE SEQUENCE IF NOT EXISTS campaign_step_id;
CREATE TABLE IF NOT EXISTS campaign_lifecycle (
    step_id      BIGINT PRIMARY KEY DEFAULT nextval('campaign_step_id'),
    campaign_id  VARCHAR NOT NULL,
    status       VARCHAR NOT NULL CHECK (status IN ('draft', 'scheduled', 'running', 'finished', 'cancelled')),
    detail       VARCHAR,
    recorded_at  TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
);

CREATE OR REPLACE VIEW campaign_status AS
SELECT campaign_id, arg_max(status, step_id) AS status, max(recorded_at) AS since
FROM campaign_lifecycle GROUP BY campaign_id;

-- BL-1: the numbers never sent to, by list (own, global, client), as loaded from the account's files.
CREATE TABLE IF NOT EXISTS blacklists (
    account_id   VARCHAR NOT NULL,
    kind         VARCHAR NOT NULL CHECK (kind IN ('own', 'global', 'client')),
    int_mobile   VARCHAR NOT NULL,
    loaded_at    TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
    PRIMARY KEY (account_id, kind, int_mobile)
);

-- REP-1 at a glance, per campaign: recipients by outcome, delivery rate, replies and STOPs.
CREATE OR REPLACE VIEW campaign_stats AS
WITH rows AS (
    SELECT r.campaign_id, coalesce(r.status_code, m.status_code) AS status_code, m.reply,
           coalesce(m.held, false) AS held,
           -- the billed statuses of the STAT table: the message went to the operator
           coalesce(r.status_code, m.status_code) IN (10, 28, 24, 16, 21, 17, 20, 25, 29, 30, 31, 32, 13, 27, 22,
                                                       23, 26) AS billed
    FROM plan_recipients r LEFT JOIN message_status m USING (campaign_id, ref_list, id_line)
)
SELECT campaign_id,
       count(*) AS recipients,
       count(*) FILTER (WHERE billed) AS sent,
       count(*) FILTER (WHERE status_code IN (16, 17, 21)) AS delivered,
       round(count(*) FILTER (WHERE status_code IN (16, 17, 21)) / nullif(count(*) FILTER (WHERE billed), 0), 4)
           AS delivery_rate,
       count(reply) AS replies,
       count(*) FILTER (WHERE status_code = 17) AS stops,
       count(*) FILTER (WHERE held AND status_code = 1) AS held  -- SEND-7: not resent, an operator may release
FROM rows GROUP BY campaign_id;
