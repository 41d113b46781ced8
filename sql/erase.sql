-- PLUS-8: a number erased from the warehouse (pipelines.erase). Table and column names come from the
-- warehouse's own catalogue (text_columns), quoted; values are bound parameters.

-- name: text_columns
-- Every text column of every table (views derive from them and follow).
SELECT c.table_name, c.column_name, c.data_type
FROM information_schema.columns c
JOIN information_schema.tables t USING (table_catalog, table_schema, table_name)
WHERE t.table_type = 'BASE TABLE' AND c.table_schema = 'main' AND c.data_type IN ('VARCHAR', 'JSON')
  AND c.table_catalog = current_database()  -- a lake's session also sees its catalog's own tables
ORDER BY c.table_name, c.ordinal_position;

-- name: table_columns
SELECT column_name FROM information_schema.columns
WHERE table_catalog = current_database() AND table_schema = 'main' AND table_name = $table;

-- name: erase_column
-- The number however written, replaced by its hash; twice, as two numbers side by side share one separator.
-- {scope} is empty, or AND a condition on campaign_id / account_id built from fixed text.
UPDATE {table} SET {column} = regexp_replace(regexp_replace({column}::VARCHAR, $pattern, '\1' || $hash || '\3', 'g'),
                                             $pattern, '\1' || $hash || '\3', 'g')
WHERE regexp_matches({column}::VARCHAR, $pattern) {scope};

-- name: current_database
SELECT current_database();

-- name: purge_campaign
-- PLUS-8 retention: a campaign's personal data goes, its aggregates stay. Numbers become their hashes through
-- the mapping `purged_numbers(number, hash)` (E.164 → hmac:...), so parts, receipts and replies still join;
-- the raw number as written, the message and the list's other columns go.
UPDATE plan_recipients SET int_mobile = m.hash
FROM purged_numbers m WHERE plan_recipients.campaign_id = $campaign AND m.number = plan_recipients.int_mobile;
UPDATE plan_recipients SET mobile_raw = NULL, message = NULL, fields = NULL WHERE campaign_id = $campaign;
UPDATE messages SET int_mobile = m.hash
FROM purged_numbers m WHERE messages.campaign_id = $campaign AND m.number = messages.int_mobile;
UPDATE parts SET part_key = m.hash || substr(parts.part_key, length(m.number) + 1)
FROM purged_numbers m WHERE parts.campaign_id = $campaign AND starts_with(parts.part_key, m.number || chr(31));
UPDATE events SET handset = m.hash
FROM purged_numbers m WHERE events.campaign_id = $campaign AND '+' || ltrim(events.handset, '+') = m.number;
UPDATE plan_summaries SET summary = $summary WHERE campaign_id = $campaign AND $summary IS NOT NULL;

-- name: has_clicks
-- Whether the warehouse has the clicks table (a single DuckDB file written before tracked links has not).
SELECT count(*) > 0 FROM information_schema.tables
WHERE table_catalog = current_database() AND table_schema = 'main' AND table_name = 'clicks';

-- name: erase_clicks
-- URL-3, PLUS-8: the clicks of the erased number's recipients keep their time and link, not the address prefix
-- and user agent of who clicked. Run before the number is hashed in plan_recipients ($hash: a second run finds the
-- rows the first hashed). {scope} is empty or `AND NOT list_contains($skipped, campaign_id)`.
UPDATE clicks SET ip_prefix = NULL, user_agent = NULL
FROM (SELECT DISTINCT campaign_id, ref_list, id_line FROM plan_recipients
      WHERE int_mobile IN ($number, $hash) {scope}) r
WHERE clicks.campaign_id = r.campaign_id AND clicks.ref_list = r.ref_list AND clicks.id_line = r.id_line
  AND (clicks.ip_prefix IS NOT NULL OR clicks.user_agent IS NOT NULL);

-- name: purge_clicks
-- Retention: a purged campaign's clicks keep their time and link only.
UPDATE clicks SET ip_prefix = NULL, user_agent = NULL
WHERE campaign_id = $campaign AND (ip_prefix IS NOT NULL OR user_agent IS NOT NULL);
