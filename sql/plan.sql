-- Loading a plan and reading it back. Parameters are bound ($name), never formatted into the text.

-- name: delete_plan
-- A re-load replaces the campaign's plan whole: loading the same plan twice changes nothing.
DELETE FROM plan_recipients WHERE campaign_id = $campaign_id;

-- name: insert_plan
-- The original list columns (everything after the plan's own) are folded into one JSON object, so that
-- lists with different headers share one table.
-- REP-2: the cells of the row that never change after the plan are formatted here once, as the CSV writes them
-- (report_head: REF_LIST;ID_LINE;INT_MOBILE, report_tail: MF_ALLOW;MF_VALID;MF_COUNTRY;the list's columns read back
-- from that JSON), with the row's place in the report (report_order: list order, manual numbers last): the export
-- joins them to the statuses and writes the lines (pipelines.report.export_csv). `list_fields` and `report_cells`
-- are pipelines.queries.report_cells_sql's text (the list's JSON pointers are bound: $f0, $f1, ...).
-- report_order is the list's place among the campaign's lists (sorted by name, 'manual' last) in the high 32 bits
-- and ID_LINE in the low ones: the order of (manual, ref_list, id_line) without a window over the rows (a sort of
-- every column: 2 s of CPU a million rows).
INSERT INTO plan_recipients (campaign_id, ref_list, id_line, mobile_raw, int_mobile, mf_valid, mf_allow, mf_country,
                             status_code, status_text, message, encoding, parts, fields, loaded_at, report_order,
                             report_head, report_tail)
SELECT q.* EXCLUDE (list_fields), (list_position(o.lists, q.ref_list)::BIGINT << 32) + q.id_line, {report_cells}
FROM (SELECT list(ref_list ORDER BY ref_list = 'manual', ref_list) AS lists
      FROM (SELECT DISTINCT REF_LIST AS ref_list FROM read_parquet($recipients_path))) o,
     (SELECT p.*, {list_fields} AS list_fields
      FROM (SELECT $campaign_id AS campaign_id, REF_LIST AS ref_list, ID_LINE AS id_line, MOBILE_RAW AS mobile_raw,
                   INT_MOBILE AS int_mobile, MF_VALID AS mf_valid, MF_ALLOW AS mf_allow, MF_COUNTRY AS mf_country,
                   STATUS_CODE AS status_code, STATUS_TEXT AS status_text, MESSAGE AS message, ENCODING AS encoding,
                   PARTS AS parts,
                   to_json(struct_pack(*COLUMNS(* EXCLUDE (REF_LIST, ID_LINE, MOBILE_RAW, INT_MOBILE, MF_VALID,
                                                          MF_ALLOW, MF_COUNTRY, STATUS_CODE, STATUS_TEXT, MESSAGE,
                                                          ENCODING, PARTS)))) AS fields,
                   current_timestamp AS loaded_at
            FROM read_parquet($recipients_path)) p) q;

-- name: refresh_report_cells
-- REP-2: a campaign's stored cells (insert_plan's) written again from its rows: the backfill of a warehouse written
-- before them, and PLUS-8 (an erased number, a purge) once the columns they hold changed. `scope` is empty, or
-- pipelines.queries' fixed condition on the rows whose cells hold an erased number's hash.
UPDATE plan_recipients SET report_order = o.report_order, report_head = o.report_head, report_tail = o.report_tail
FROM (SELECT q.ref_list, q.id_line, (list_position(l.lists, q.ref_list)::BIGINT << 32) + q.id_line AS report_order,
             {report_cells}
      FROM (SELECT list(ref_list ORDER BY ref_list = 'manual', ref_list) AS lists
            FROM (SELECT DISTINCT ref_list FROM plan_recipients WHERE campaign_id = $campaign_id)) l,
           (SELECT p.*, {list_fields} AS list_fields FROM plan_recipients p WHERE p.campaign_id = $campaign_id) q) o
WHERE plan_recipients.campaign_id = $campaign_id AND plan_recipients.ref_list = o.ref_list
  AND plan_recipients.id_line = o.id_line{scope};

-- name: has_report_cells
SELECT count(*) > 0 FROM information_schema.columns
WHERE table_catalog = current_database() AND table_schema = 'main' AND table_name = 'plan_recipients'
  AND column_name = 'report_head';

-- name: campaigns_holding
-- PLUS-8: the campaigns whose stored REP-2 cells hold an erased number's hash (written there by erase_column).
SELECT DISTINCT campaign_id FROM plan_recipients
WHERE contains(report_head, $hash) OR contains(report_tail, $hash) ORDER BY campaign_id;

-- name: campaigns_without_report_cells
SELECT DISTINCT campaign_id FROM plan_recipients WHERE report_head IS NULL ORDER BY campaign_id;

-- name: count_plan
SELECT count(*) FROM plan_recipients WHERE campaign_id = $campaign_id;

-- name: delete_summary
-- The summary is replaced (delete, then insert): a lake has no key for INSERT OR REPLACE.
DELETE FROM plan_summaries WHERE campaign_id = $campaign_id;

-- name: insert_summary
INSERT INTO plan_summaries
VALUES ($campaign_id, $name, $type, $rows, $sendable, $credits, $summary, current_timestamp);

-- name: status_breakdown
-- Recipients per pre-send status of one campaign, largest first (REP-1 at a glance).
SELECT coalesce(status_code, 0) AS status_code,
       coalesce(status_text, 'Envoyable') AS status_text,
       count(*) AS recipients,
       sum(parts) AS credits
FROM plan_recipients
WHERE campaign_id = $campaign_id
GROUP BY ALL
ORDER BY recipients DESC, status_code;  -- ties in code order: the same answer every time

-- name: replace_blacklist
-- BL-1: a blacklist file loaded whole for an account (`blacklist_frame` registered by the loader).
DELETE FROM blacklists WHERE account_id = $account_id AND kind = $kind;
INSERT INTO blacklists (account_id, kind, int_mobile)
SELECT DISTINCT $account_id, $kind, int_mobile FROM blacklist_frame WHERE int_mobile IS NOT NULL;
