-- The one derivation of message statuses (PLUS-4, BL-2, SEND-7): from parts, events and the plan, by the rules
-- of pipelines/status.py. The warehouse runs these views over its tables; `pipelines.dlr.recipient_statuses`
-- runs the very same views over a plan, a ledger and events registered in an in-memory DuckDB. The views read
-- `parts`, `events`, `plan_recipients` (schema.sql), `status_rules` and `receipt_states` (status.rule_tables(),
-- stored by `store_rules`) and `status_clock` (when a part counts as expired).

-- name: memory_session
-- dlr.recipient_statuses' in-memory DuckDB: timestamps come back in UTC, as the events were written.
SET TimeZone = 'UTC';

-- name: store_rules
CREATE OR REPLACE TABLE status_rules AS SELECT * FROM status_rules_frame;

-- name: store_receipt_states
CREATE OR REPLACE TABLE receipt_states AS SELECT * FROM receipt_states_frame;

-- name: warehouse_clock
-- In the warehouse a part expires by the wall clock: analysts query hours after the load.
CREATE OR REPLACE VIEW status_clock AS
SELECT now() - to_seconds(validity_seconds) AS expired_before FROM status_rules;

-- name: create_views
-- Receipt state → SPEC status code (DELIVRD → 16, UNDELIV → 20, ...), and whether it is final.
CREATE OR REPLACE VIEW receipt_codes AS SELECT stat, status_code, final FROM receipt_states;

-- Every receipt with the part it belongs to. SMSCs answer submit_sm_resp in one base and may write receipts in
-- the other; which one is a property of the SMSC, not of each receipt, and reading each receipt every way is
-- ambiguous: a receipt's decimal id can also be another part's hex id ("10" is part A's receipt in decimal and
-- part 10's id in hex). So each campaign's id convention is chosen once, the one under which the most receipts
-- match (a tie goes to the first: the same text, then decimal receipts of hex ids, then hex receipts of decimal
-- ids), and every receipt of the campaign matches under that one alone. id_convention says which was chosen.
CREATE OR REPLACE VIEW receipt_parts AS
WITH receipts AS (
    SELECT * FROM events WHERE kind = 'receipt'
), candidates AS MATERIALIZED (
    SELECT 1 AS convention, e.*, p.part_key
    FROM receipts e JOIN parts p ON p.campaign_id = e.campaign_id AND p.id_text = e.id_text
    UNION ALL
    SELECT 2 AS convention, e.*, p.part_key
    FROM receipts e JOIN parts p ON p.campaign_id = e.campaign_id AND p.id_hex = e.id_dec
    UNION ALL
    SELECT 3 AS convention, e.*, p.part_key
    FROM receipts e JOIN parts p ON p.campaign_id = e.campaign_id AND p.id_dec = e.id_hex
), chosen AS (
    SELECT campaign_id, convention FROM candidates GROUP BY campaign_id, convention
    QUALIFY row_number() OVER (PARTITION BY campaign_id ORDER BY count(*) DESC, convention) = 1
)
SELECT c.* EXCLUDE (convention),
       CASE c.convention WHEN 1 THEN 'as written' WHEN 2 THEN 'decimal receipt, hex id'
                         ELSE 'hex receipt, decimal id' END AS id_convention
FROM candidates c JOIN chosen USING (campaign_id, convention);

-- Each part's latest receipt (a final one wins over an intermediate one), matched by receipt_parts.
CREATE OR REPLACE VIEW part_receipts AS
SELECT m.campaign_id, m.part_key, m.stat, m.received_at, coalesce(c.final, false) AS final, c.status_code
FROM receipt_parts m LEFT JOIN receipt_codes c USING (stat)
QUALIFY row_number() OVER (PARTITION BY m.campaign_id, m.part_key
                           ORDER BY coalesce(c.final, false) DESC, m.received_at DESC) = 1;

-- One status per part: refused at submit (for its destination or not), not accepted yet (held by the in-flight
-- policy included: not resent, it may have reached the handset or not), no final receipt within the validity
-- period, its receipt, else accepted.
CREATE OR REPLACE VIEW part_status AS
SELECT p.*, r.stat, r.received_at AS receipt_at,
       CASE WHEN p.outcome = 'refused'
                 THEN (CASE WHEN list_contains(s.destination_errors, p.submit_status)
                            THEN s.submit_refused_destination ELSE s.submit_error END)
            WHEN p.outcome <> 'accepted' THEN s.pending
            WHEN NOT coalesce(r.final, false) AND p.submitted_at < k.expired_before THEN s.no_final_receipt
            WHEN r.status_code IS NOT NULL THEN r.status_code
            ELSE s.submit_accepted END AS status_code,
       coalesce(r.final, false) AS final,
       p.outcome = 'held' AS held,
       -- Accepted, no final receipt, and not expired yet: when it was submitted (the clock may expire it later).
       CASE WHEN p.outcome = 'accepted' AND NOT coalesce(r.final, false)
                 AND NOT coalesce(p.submitted_at < k.expired_before, false) THEN p.submitted_at END AS open_since
FROM parts p CROSS JOIN status_rules s CROSS JOIN status_clock k
LEFT JOIN part_receipts r USING (campaign_id, part_key);

-- One status per plan row, derived from the campaign's facts (`derived_status`). Pre-send rows keep the plan's
-- verdict (`presend`). A sendable one: a multipart message rolls up (all delivered → 16, any failure → it, else
-- the first part under way, else 1); a STOP reply makes it 17 (BL-2); replies are joined with '#' (REP-2 REPLY).
-- `held`/`reason`: the message is still 1 because a part was in flight when the sender stopped (SEND-7).
-- `open_since`: the status is its first part under way, accepted without a final receipt, and the clock turns it
-- into "no final receipt" (10) once that part is older than the validity period; NULL: no clock changes it.
-- Each load writes these rows into the `messages` table in the transaction that writes the facts (REP-3: a
-- derivation kept with its facts, never a status frozen at the end of a run), so queries over millions of
-- messages read one row each; `message_rows` below applies the clock when read.
CREATE OR REPLACE VIEW derived_status AS
WITH rolled AS (
    SELECT p.campaign_id, p.ref_list, p.id_line, count(*) AS sent_parts,
           bool_and(p.status_code = s.delivered_to_handset) AS all_delivered,
           arg_min(p.status_code, p.part) FILTER (WHERE list_contains(s.failed, p.status_code)) AS failure,
           arg_min(p.status_code, p.part) FILTER (WHERE p.status_code <> s.delivered_to_handset) AS under_way,
           arg_min(p.open_since, p.part) FILTER (WHERE p.status_code <> s.delivered_to_handset) AS under_way_open,
           max(p.receipt_at) AS last_receipt,
           bool_or(p.held) AS held
    FROM part_status p CROSS JOIN status_rules s WHERE p.ref_list IS NOT NULL GROUP BY ALL
), replies AS (
    -- An erased number (PLUS-8) is its hash in both columns: kept as it is.
    SELECT e.campaign_id, CASE WHEN e.handset LIKE 'hmac:%' THEN e.handset ELSE '+' || ltrim(e.handset, '+') END
               AS int_mobile,
           string_agg(e.text, '#' ORDER BY e.received_at) AS reply,
           bool_or(list_contains(s.stop_keywords, stop_keyword(e.text))) AS stop
    FROM events e CROSS JOIN status_rules s WHERE e.kind = 'reply' GROUP BY ALL
), derived AS (
    SELECT r.campaign_id, r.ref_list, r.id_line, r.int_mobile, r.status_code IS NOT NULL AS presend,
           CASE WHEN r.status_code IS NOT NULL THEN r.status_code
                WHEN coalesce(q.stop, false) THEN s.stop_requested
                WHEN m.failure IS NOT NULL THEN m.failure
                WHEN m.sent_parts = r.parts AND m.all_delivered THEN s.delivered_to_handset
                WHEN m.under_way IS NOT NULL THEN m.under_way
                ELSE s.pending END AS status_code,
           CASE WHEN r.status_code IS NULL AND NOT coalesce(q.stop, false) AND m.failure IS NULL
                     AND NOT (m.sent_parts = r.parts AND m.all_delivered) THEN m.under_way_open END AS open_since,
           CASE WHEN m.sent_parts = r.parts AND m.all_delivered THEN m.last_receipt END AS delivery_date,
           q.reply, coalesce(q.stop, false) AS stop, coalesce(m.held, false) AS any_part_held,
           s.pending, s.held_reason
    FROM plan_recipients r CROSS JOIN status_rules s
    LEFT JOIN rolled m USING (campaign_id, ref_list, id_line)
    LEFT JOIN replies q ON q.campaign_id = r.campaign_id AND q.int_mobile = r.int_mobile
)
SELECT campaign_id, ref_list, id_line, int_mobile, presend, status_code,
       CASE WHEN NOT presend THEN delivery_date END AS delivery_date,
       CASE WHEN NOT presend THEN reply END AS reply, NOT presend AND stop AS stop,
       NOT presend AND any_part_held AND status_code = pending AS held,
       CASE WHEN NOT presend AND any_part_held AND status_code = pending THEN held_reason END AS reason,
       open_since
FROM derived;

-- name: memory_messages
-- In memory (pipelines.dlr) the rows are derived when read: `messages` is the derivation itself.
CREATE OR REPLACE VIEW messages AS SELECT * FROM derived_status;

-- name: create_count_views
-- REP-1: the derived rows counted by what the figures tell apart (a few hundred rows a campaign, where `messages`
-- has one a plan row), and the parts held or resent by the in-flight policy (SEND-7). `open_since` is kept exact,
-- so the clock turns the very messages `message_rows` turns into "no final receipt" (10): only messages still
-- under way within the validity period have one, each at its submit time. Each load writes these counts into the
-- `message_counts` and `part_counts` tables in its transaction (`count_messages`, `count_parts`), as it writes
-- `messages`: `smsflow stats` then reads a few rows, never the campaign's millions.
CREATE OR REPLACE VIEW counted_messages AS
SELECT campaign_id, presend, status_code, held, reply IS NOT NULL AS replied, open_since, count(*) AS messages
FROM messages GROUP BY ALL;

CREATE OR REPLACE VIEW counted_parts AS
SELECT campaign_id, count(*) FILTER (WHERE outcome = 'held') AS held_parts,
       count(*) FILTER (WHERE coalesce(resent, false)) AS resent_parts
FROM parts GROUP BY campaign_id;

-- name: memory_counts
-- In memory (pipelines.dlr, the single-file baseline of bench/warehouse.py) the counts are taken when read.
CREATE OR REPLACE VIEW message_counts AS SELECT * FROM counted_messages;
CREATE OR REPLACE VIEW part_counts AS SELECT * FROM counted_parts;

-- name: create_message_views
-- Every plan row with its status as of now: the derived rows (the `messages` table) with the clock applied.
CREATE OR REPLACE VIEW message_rows AS
SELECT m.campaign_id, m.ref_list, m.id_line, m.int_mobile, m.presend,
       CASE WHEN m.open_since < k.expired_before THEN s.no_final_receipt ELSE m.status_code END AS status_code,
       m.delivery_date, m.reply, m.stop, m.held, m.reason
FROM messages m CROSS JOIN status_rules s CROSS JOIN status_clock k;

-- One status per sendable recipient.
CREATE OR REPLACE VIEW message_status AS
SELECT campaign_id, ref_list, id_line, int_mobile, status_code, delivery_date, reply, stop, held, reason
FROM message_rows WHERE NOT presend;

-- The counts of message_rows (the `message_counts` table, the clock applied as message_rows applies it): how many
-- messages of a campaign have each status as of now, held or not, replied or not.
CREATE OR REPLACE VIEW message_count_rows AS
SELECT c.campaign_id, c.presend,
       CASE WHEN c.open_since < k.expired_before THEN s.no_final_receipt ELSE c.status_code END AS status_code,
       c.held, c.replied, c.messages
FROM message_counts c CROSS JOIN status_rules s CROSS JOIN status_clock k;

-- REP-1 at a glance, per campaign: recipients by outcome, delivery rate, replies, STOPs, held messages, rows
-- capped or held out (PLUS-7), and the parts held and resent by the in-flight policy (SEND-7; parts no longer in
-- the plan included). Read from the counts (message_count_rows, part_counts), not from the messages.
CREATE OR REPLACE VIEW campaign_stats AS
WITH grouped AS (
    -- The campaign's messages by what the figures tell apart: a few rows, then every figure from them (one pass).
    SELECT campaign_id, status_code, held, replied, sum(messages) AS n
    FROM message_count_rows GROUP BY ALL
), figures AS (
    SELECT campaign_id,
           sum(n)::BIGINT AS recipients,
           coalesce(sum(n) FILTER (WHERE list_contains(s.billed, status_code)), 0)::BIGINT AS sent,  -- to the operator
           coalesce(sum(n) FILTER (WHERE list_contains(s.delivered, status_code)), 0)::BIGINT AS delivered,
           round(sum(n) FILTER (WHERE list_contains(s.delivered, status_code))
                 / nullif(sum(n) FILTER (WHERE list_contains(s.billed, status_code)), 0), 4) AS delivery_rate,
           coalesce(sum(n) FILTER (WHERE replied), 0)::BIGINT AS replies,
           coalesce(sum(n) FILTER (WHERE status_code = s.stop_requested), 0)::BIGINT AS stops,
           coalesce(sum(n) FILTER (WHERE held), 0)::BIGINT AS held,  -- SEND-7: not resent, an operator may release
           coalesce(sum(n) FILTER (WHERE status_code = s.frequency_capped), 0)::BIGINT AS capped,  -- PLUS-7: the cap
           coalesce(sum(n) FILTER (WHERE status_code = s.holdout), 0)::BIGINT AS holdout  -- PLUS-7: uplift group
    FROM grouped CROSS JOIN status_rules s GROUP BY campaign_id
)
SELECT f.*, coalesce(i.held_parts, 0)::BIGINT AS held_parts, coalesce(i.resent_parts, 0)::BIGINT AS resent_parts
FROM figures f LEFT JOIN part_counts i USING (campaign_id);

-- name: delete_messages
-- A load's last step, in its transaction: the campaign's rows derived again from the facts it just wrote.
DELETE FROM messages WHERE campaign_id = $campaign_id;

-- name: insert_messages
INSERT INTO messages SELECT * FROM derived_status WHERE campaign_id = $campaign_id;

-- name: delete_message_counts
DELETE FROM message_counts WHERE campaign_id = $campaign_id;

-- name: count_messages
-- A load's step after it wrote the campaign's `messages` rows, in its transaction: their counts.
INSERT INTO message_counts SELECT * FROM counted_messages WHERE campaign_id = $campaign_id;

-- name: delete_part_counts
DELETE FROM part_counts WHERE campaign_id = $campaign_id;

-- name: count_parts
-- A dispatch load's step after it wrote the campaign's `parts`, in its transaction.
INSERT INTO part_counts SELECT * FROM counted_parts WHERE campaign_id = $campaign_id;

-- name: insert_derived_messages
-- `messages_frame`: the campaign's rows derived in memory from the very frames the load writes (dlr.derived_rows).
INSERT INTO messages SELECT * FROM messages_frame;

-- name: derived_rows
-- For dlr.derived_rows: derived_status in memory, under the campaign's id.
SELECT * REPLACE ($campaign_id AS campaign_id) FROM derived_status;

-- name: backfill_messages
-- A warehouse written before the `messages` table: every campaign's rows derived once.
INSERT INTO messages SELECT * FROM derived_status WHERE campaign_id NOT IN (SELECT campaign_id FROM messages);

-- name: backfill_counts
-- A warehouse written before the `message_counts` and `part_counts` tables: every campaign's counts taken once.
INSERT INTO message_counts SELECT * FROM counted_messages
WHERE campaign_id NOT IN (SELECT campaign_id FROM message_counts);
INSERT INTO part_counts SELECT * FROM counted_parts WHERE campaign_id NOT IN (SELECT campaign_id FROM part_counts);

-- name: create_macros
-- A reply folded for keyword matching: no accents, upper case, letters only ("Arrêt !" → "ARRET").
CREATE OR REPLACE MACRO stop_keyword(text) AS regexp_replace(upper(strip_accents(text)), '[^A-Z]', '', 'g');

-- name: recipient_statuses
-- For dlr.recipient_statuses: message_status over one plan in memory, in plan order, the plan's column names.
SELECT m.ref_list AS "REF_LIST", m.id_line AS "ID_LINE", m.int_mobile AS "INT_MOBILE",
       m.status_code AS "STATUS_CODE", m.delivery_date AS "DELIVERYDATE", m.reply AS "REPLY", m.stop AS "STOP",
       m.held AS "HELD", m.reason AS "REASON"
FROM message_status m JOIN plan_recipients r USING (campaign_id, ref_list, id_line)
ORDER BY r.plan_row;

-- name: receipt_rows
-- For dlr.match_receipts: the part each receipt (numbered `receipt_row` in memory) belongs to, by receipt_parts.
SELECT receipt_row, min(part_key) AS key FROM receipt_parts GROUP BY receipt_row;

-- name: stop_numbers
-- BL-2: the E.164 numbers that asked to stop, in the order they first asked.
SELECT CASE WHEN e.handset LIKE 'hmac:%' THEN e.handset ELSE '+' || ltrim(e.handset, '+') END AS int_mobile
FROM events e CROSS JOIN status_rules s
WHERE e.kind = 'reply' AND list_contains(s.stop_keywords, stop_keyword(e.text))
GROUP BY ALL ORDER BY min(e.received_at), int_mobile;

-- name: fold_keywords
-- The folded keyword of each text in `texts_frame`, and whether it asks to stop.
SELECT stop_keyword(t.text) AS keyword, coalesce(list_contains(s.stop_keywords, stop_keyword(t.text)), false) AS stop
FROM texts_frame t CROSS JOIN status_rules s ORDER BY t.position;
