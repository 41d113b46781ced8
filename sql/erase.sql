-- PLUS-8: a number erased from the warehouse (pipelines.erase). Table and column names come from the
-- warehouse's own catalogue (text_columns), quoted; values are bound parameters.

-- name: text_columns
-- Every text column of every table (views derive from them and follow).
SELECT c.table_name, c.column_name, c.data_type
FROM information_schema.columns c
JOIN information_schema.tables t USING (table_catalog, table_schema, table_name)
WHERE t.table_type = 'BASE TABLE' AND c.table_schema = 'main' AND c.data_type IN ('VARCHAR', 'JSON')
ORDER BY c.table_name, c.ordinal_position;

-- name: table_columns
SELECT column_name FROM information_schema.columns WHERE table_schema = 'main' AND table_name = $table;

-- name: erase_column
-- The number however written, replaced by its hash; twice, as two numbers side by side share one separator.
-- {scope} is empty, or AND a condition on campaign_id / account_id built from fixed text.
UPDATE {table} SET {column} = regexp_replace(regexp_replace({column}::VARCHAR, $pattern, '\1' || $hash || '\3', 'g'),
                                             $pattern, '\1' || $hash || '\3', 'g')
WHERE regexp_matches({column}::VARCHAR, $pattern) {scope};

-- name: current_database
SELECT current_database();
