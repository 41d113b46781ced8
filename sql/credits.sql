-- SEND-5: reserving, releasing and reading credits. One writer at a time (DuckDB file, pool of one slot).

-- name: available
SELECT coalesce(sum(CASE kind WHEN 'reserve' THEN -credits ELSE credits END), 0)
FROM credit_ledger WHERE account_id = $account_id;

-- name: held_by_campaign
-- What a campaign still holds: its reservations less what was given back.
SELECT coalesce(sum(CASE kind WHEN 'reserve' THEN credits WHEN 'release' THEN -credits ELSE 0 END), 0)
FROM credit_ledger WHERE account_id = $account_id AND campaign_id = $campaign_id;

-- name: add_entry
INSERT INTO credit_ledger (account_id, campaign_id, kind, credits, reason)
VALUES ($account_id, $campaign_id, $kind, $credits, $reason);

-- name: has_ledger
SELECT count(*) > 0 FROM credit_ledger WHERE account_id = $account_id;
