-- Tracked short links (URL-3, URL-4, REP-1, REP-2): the `clicks` table (lake.sql, schema.sql) loaded from the links
-- service's micro-batches (pipelines.links.load), and the counts derived from it. A click is a person's (kind =
-- 'click', not a bot); a preview is a crawler's fetch or a HEAD request (kind = 'preview', or a bot).

-- name: create_views
-- Per recipient and link: first click and clicks, people only.
CREATE OR REPLACE VIEW link_clicks AS
SELECT campaign_id, ref_list, id_line, link, min(clicked_at) AS first_click, count(*) AS clicks
FROM clicks WHERE kind = 'click' AND NOT bot
GROUP BY campaign_id, ref_list, id_line, link;
-- Per recipient: first preview and previews (all links: the hosted product's PREVIEW is per recipient).
CREATE OR REPLACE VIEW recipient_previews AS
SELECT campaign_id, ref_list, id_line, min(clicked_at) AS first_preview, count(*) AS previews
FROM clicks WHERE kind = 'preview' OR bot
GROUP BY campaign_id, ref_list, id_line;
-- REP-1 per campaign: clicks, unique clickers (recipients with at least one click), previews, and the click rate:
-- unique clickers / delivered (a recipient can only click a link that reached them; NULL before any delivery).
CREATE OR REPLACE VIEW campaign_clicks AS
WITH counted AS (
    SELECT campaign_id, count(*) FILTER (WHERE kind = 'click' AND NOT bot) AS clicks,
           count(DISTINCT (ref_list, id_line)) FILTER (WHERE kind = 'click' AND NOT bot) AS unique_clickers,
           count(*) FILTER (WHERE kind = 'preview' OR bot) AS previews
    FROM clicks GROUP BY campaign_id
)
SELECT s.campaign_id, coalesce(c.clicks, 0) AS clicks, coalesce(c.unique_clickers, 0) AS unique_clickers,
       coalesce(c.previews, 0) AS previews,
       round(coalesce(c.unique_clickers, 0) / nullif(s.delivered, 0), 4) AS click_rate
FROM campaign_stats s LEFT JOIN counted c USING (campaign_id);

-- name: loaded_batches
-- The micro-batches the table holds (the loader's checkpoint: a batch is loaded with its record, in one
-- transaction).
SELECT DISTINCT batch FROM clicks;

-- name: delete_batches
-- $batches: the file names about to be loaded (again): their earlier rows go first, so a load is idempotent.
DELETE FROM clicks WHERE list_contains($batches, batch);

-- name: insert_batches
-- $files: the micro-batch files (events/links/*.parquet, pipelines.links.clicks.CLICKS_SCHEMA).
INSERT INTO clicks
SELECT token, campaign_id, ref_list, id_line, link, kind, "at" AS clicked_at, agent_class, bot, ip_prefix, user_agent,
       parse_filename(filename) AS batch
FROM read_parquet($files, filename = true, union_by_name = true);

-- name: delete_campaign
DELETE FROM clicks WHERE campaign_id = $campaign_id;

-- name: insert_campaign
-- A campaign's clicks from every micro-batch of the bucket ($files), its rows only.
INSERT INTO clicks
SELECT token, campaign_id, ref_list, id_line, link, kind, "at" AS clicked_at, agent_class, bot, ip_prefix, user_agent,
       parse_filename(filename) AS batch
FROM read_parquet($files, filename = true, union_by_name = true)
WHERE campaign_id = $campaign_id;

-- name: batch_campaigns
-- The campaigns of the micro-batches just loaded (their reports are written again).
SELECT DISTINCT campaign_id FROM clicks WHERE list_contains($batches, batch) ORDER BY campaign_id;
