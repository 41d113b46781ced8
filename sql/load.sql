-- Loading a campaign's ledger and events. Each load replaces the campaign's rows whole, in one
-- transaction, so re-loading the same files changes nothing and analysts never see half a load.

-- name: delete_parts
DELETE FROM parts WHERE campaign_id = $campaign_id;

-- name: insert_parts
-- `ledger_frame` is the ledger state registered by the loader (pipelines.dlr.part_rows: one row per part key),
-- each part resolved to its plan row by what was sent (NULL ref_list: no longer in the plan).
INSERT INTO parts
SELECT $campaign_id, part_key, ref_list, id_line, part, outcome, submit_status, message_id, id_text, id_dec,
       id_hex, submitted_at, resent
FROM ledger_frame;

-- name: delete_events
DELETE FROM events WHERE campaign_id = $campaign_id;

-- name: insert_events
-- `events_frame`: pipelines.dlr.event_rows, each SMSC id read every way (text, decimal, hexadecimal).
INSERT INTO events
SELECT $campaign_id, kind, received_at, message_id, id_text, id_dec, id_hex, stat, err, handset, service, text
FROM events_frame;

-- name: campaign_statuses
-- One status per sendable recipient of a campaign, derived from its events (view message_status).
SELECT ref_list, id_line, int_mobile, status_code, delivery_date, reply, stop
FROM message_status WHERE campaign_id = $campaign_id ORDER BY ref_list, id_line;

-- name: shared_list_names
-- LIST-4: a list name two lists of one plan share (plans written before REF_LIST was unique per campaign), which
-- the warehouse's (campaign_id, ref_list, id_line) key cannot hold; warehouse.load_plan names it.
SELECT REF_LIST FROM read_parquet($recipients_path)
GROUP BY REF_LIST, ID_LINE HAVING count(*) > 1 ORDER BY REF_LIST LIMIT 1;
