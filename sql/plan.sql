-- Loading a plan and reading it back. Parameters are bound ($name), never formatted into the text.

-- name: delete_plan
-- A re-load replaces the campaign's plan whole: loading the same plan twice changes nothing.
DELETE FROM plan_recipients WHERE campaign_id = $campaign_id;

-- name: insert_plan
-- The original list columns (everything after the plan's own) are folded into one JSON object, so that
-- lists with different headers share one table.
INSERT INTO plan_recipients
SELECT $campaign_id, REF_LIST, ID_LINE, MOBILE_RAW, INT_MOBILE, MF_VALID, MF_ALLOW, MF_COUNTRY, STATUS_CODE,
       STATUS_TEXT, MESSAGE, ENCODING, PARTS,
       to_json(struct_pack(*COLUMNS(* EXCLUDE (REF_LIST, ID_LINE, MOBILE_RAW, INT_MOBILE, MF_VALID, MF_ALLOW,
                                              MF_COUNTRY, STATUS_CODE, STATUS_TEXT, MESSAGE, ENCODING, PARTS)))),
       current_timestamp
FROM read_parquet($recipients_path);

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
