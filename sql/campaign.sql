-- CAMP-3: a campaign's lifecycle, appended step by step (never updated in place: it is the audit).

-- name: record_status
INSERT INTO campaign_lifecycle (campaign_id, status, detail) VALUES ($campaign_id, $status, $detail);

-- name: lifecycle
SELECT status, detail FROM campaign_lifecycle WHERE campaign_id = $campaign_id ORDER BY step_id;
