-- Reports (REP-1, REP-2): every row of a campaign with its current status, and figures at a glance.

-- name: report_rows
-- Every plan row with its status as of now (message_rows: pre-send statuses are the plan's); {fields} adds the
-- list's own columns, each `json_extract_string(r.fields, $fN) AS fN` with $fN a bound JSON pointer (LIST-3).
SELECT r.ref_list, r.id_line, r.int_mobile, coalesce(m.status_code, r.status_code) AS status_code,
       m.delivery_date, m.reply, r.mf_allow, r.mf_valid, r.mf_country{fields}
FROM plan_recipients r
LEFT JOIN message_rows m USING (campaign_id, ref_list, id_line)
WHERE r.campaign_id = $campaign_id
ORDER BY r.ref_list = 'manual', r.loaded_at, r.ref_list, r.id_line;

-- name: status_counts
-- REP-1: recipients per status, most frequent first.
SELECT status_code, count(*) AS recipients FROM message_rows WHERE campaign_id = $campaign_id
GROUP BY status_code ORDER BY recipients DESC, status_code;

-- name: campaign_summary
SELECT summary FROM plan_summaries WHERE campaign_id = $campaign_id;

-- name: campaign_figures
-- REP-1 at a glance, from the one derivation of statuses (the campaign_stats view).
SELECT recipients, sent, delivered, delivery_rate, replies, stops, held, held_parts, resent_parts, capped, holdout
FROM campaign_stats WHERE campaign_id = $campaign_id;

-- name: campaigns
-- The campaigns loaded here, newest first, with a status derived from what happened to them (the lifecycle
-- itself, CAMP-3, is the account store's: `smsflow campaigns list`).
SELECT c.campaign_id, c.name, c.type, c.rows, c.sendable, c.credits, c.loaded_at,
       CASE WHEN p.parts IS NULL THEN 'draft' WHEN p.open_parts > 0 THEN 'running' ELSE 'finished' END AS status
FROM plan_summaries c
LEFT JOIN (SELECT p.campaign_id, count(*) AS parts,
                  count(*) FILTER (WHERE NOT p.final AND list_contains(s.pending_codes, p.status_code)) AS open_parts
           FROM part_status p CROSS JOIN status_rules s GROUP BY p.campaign_id) p USING (campaign_id)
ORDER BY c.loaded_at DESC;
