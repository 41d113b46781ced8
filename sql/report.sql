-- Reports (REP-1, REP-2): every row of a campaign with its current status, and figures at a glance.

-- name: report_rows
-- Every plan row with its status as of now (message_rows: pre-send statuses are the plan's), the campaign's messages
-- joined by (ref_list, id_line) alone (both sides filtered to one campaign first); `fields` as stored:
-- pipelines.report reads the list's own columns from it once the rows are sorted (LIST-3).
-- URL-3, URL-4: `clicks` (a placeholder) adds PREVIEW, PREVIEW_COUNTER and TRACK_n, TRACK_n_COUNTER per link of
-- the message, and `click_joins` the joins they read (report_click_joins) when the campaign tracks its links; else
-- NULL columns and no join (an untracked campaign has no clicks). Placeholders are pipelines.report's own text,
-- never a value.
-- `manual`, `loaded_at`: the rows go in list order, manual numbers last (pipelines.report sorts the rows by them,
-- ref_list and id_line).
SELECT r.ref_list, r.id_line, r.int_mobile, coalesce(m.status_code, r.status_code) AS status_code,
       m.delivery_date, m.reply{clicks}, r.mf_allow, r.mf_valid, r.mf_country, r.fields,
       r.ref_list = 'manual' AS manual, r.loaded_at
FROM plan_recipients r
LEFT JOIN (SELECT * FROM message_rows WHERE campaign_id = $campaign_id) m USING (ref_list, id_line){click_joins}
WHERE r.campaign_id = $campaign_id

-- name: report_lines
-- REP-2's CSV (pipelines.report.export_csv): report_rows with the plan row's stored cells (plan.sql's insert_plan:
-- formatted once at plan load) in place of its own columns and JSON, and its place in the report to sort by.
SELECT r.report_head, coalesce(m.status_code, r.status_code) AS status_code, m.delivery_date, m.reply{clicks},
       r.report_tail, r.report_order
FROM plan_recipients r
LEFT JOIN (SELECT ref_list, id_line, status_code, delivery_date, reply FROM message_rows
           WHERE campaign_id = $campaign_id) m USING (ref_list, id_line){click_joins}
WHERE r.campaign_id = $campaign_id

-- name: report_click_joins
-- The campaign's clicks read once, per recipient: the first preview and previews, and per link n the first click
-- and clicks; the placeholder `track_aggregates` is report_track_aggregate once per link of the message. A click
-- and a preview are what links.sql's views say (link_clicks: kind = 'click' and not a bot; recipient_previews:
-- kind = 'preview' or a bot), aggregated here in one pass over `clicks` rather than through both views (twice as
-- fast with a million clicks).
LEFT JOIN (SELECT ref_list, id_line,
                  min(clicked_at) FILTER (WHERE kind = 'preview' OR bot) AS preview,
                  count(*) FILTER (WHERE kind = 'preview' OR bot) AS previews{track_aggregates}
           FROM clicks WHERE campaign_id = $campaign_id
           GROUP BY ref_list, id_line) k USING (ref_list, id_line)

-- name: report_preview_columns
-- PREVIEW, PREVIEW_COUNTER of a tracked campaign: counters 0 rather than empty on its sendable rows.
, k.preview, CASE WHEN r.status_code IS NULL THEN coalesce(k.previews, 0) END AS preview_counter

-- name: report_track_columns
-- TRACK_n, TRACK_n_COUNTER of link n (the placeholder `n`: an integer of pipelines.report, never a value).
, k.track_{n}, CASE WHEN r.status_code IS NULL THEN coalesce(k.track_{n}_counter, 0) END AS track_{n}_counter

-- name: report_track_aggregate
, min(clicked_at) FILTER (WHERE kind = 'click' AND NOT bot AND link = $link_{n}) AS track_{n},
  count(*) FILTER (WHERE kind = 'click' AND NOT bot AND link = $link_{n}) AS track_{n}_counter

-- name: report_untracked_columns
-- An untracked campaign: no clicks, nothing read; REP-2 still has PREVIEW and TRACK_1.
, NULL::TIMESTAMPTZ AS preview, NULL::BIGINT AS preview_counter, NULL::TIMESTAMPTZ AS track_1,
  NULL::BIGINT AS track_1_counter

-- name: status_counts
-- REP-1: recipients per status, most frequent first (the counts of message_rows: message_count_rows).
SELECT status_code, sum(messages)::BIGINT AS recipients FROM message_count_rows WHERE campaign_id = $campaign_id
GROUP BY status_code ORDER BY recipients DESC, status_code;

-- name: campaign_summary
SELECT summary FROM plan_summaries WHERE campaign_id = $campaign_id;

-- name: campaign_figures
-- REP-1 at a glance, from the one derivation of statuses (the campaign_stats view), and the campaign's clicks
-- (links.sql's views: people's clicks, recipients who clicked, click rate = unique clickers / delivered, previews).
-- The clicks in one pass over the campaign's rows of `clicks` (half the time of summing the two views), with the
-- views' predicates: a click is kind = 'click' and not a bot (link_clicks), a preview kind = 'preview' or a bot.
WITH clicked AS (
    SELECT count(*) FILTER (WHERE kind = 'click' AND NOT bot) AS clicks,
           count(DISTINCT (ref_list, id_line)) FILTER (WHERE kind = 'click' AND NOT bot) AS unique_clickers,
           count(*) FILTER (WHERE kind = 'preview' OR bot) AS previews
    FROM clicks WHERE campaign_id = $campaign_id
)
SELECT s.recipients, s.sent, s.delivered, s.delivery_rate, s.replies, s.stops, s.held, s.held_parts,
       s.resent_parts, s.capped, s.holdout, c.clicks, c.unique_clickers,
       round(c.unique_clickers / nullif(s.delivered, 0), 4) AS click_rate, c.previews
FROM campaign_stats s, clicked c WHERE s.campaign_id = $campaign_id;

-- name: campaigns
-- The campaigns loaded here, newest first, with a status derived from what happened to them (the lifecycle
-- itself, CAMP-3, is the account store's: `smsflow campaigns list`).
SELECT c.campaign_id, c.name, c.type, c.rows, c.sendable, c.credits, c.loaded_at,
       CASE WHEN p.parts IS NULL THEN 'draft' WHEN o.open_parts > 0 THEN 'running' ELSE 'finished' END AS status
FROM plan_summaries c
LEFT JOIN (SELECT campaign_id, count(*) AS parts FROM parts GROUP BY campaign_id) p USING (campaign_id)
LEFT JOIN (SELECT m.campaign_id, sum(m.messages) AS open_parts  -- messages still under way (status pending)
           FROM message_count_rows m CROSS JOIN status_rules s
           WHERE NOT m.presend AND list_contains(s.pending_codes, m.status_code) GROUP BY m.campaign_id) o
    USING (campaign_id)
ORDER BY c.loaded_at DESC;
