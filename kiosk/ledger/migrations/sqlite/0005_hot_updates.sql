-- 0005: nothing to change on SQLite; this step keeps the schema versions of both back-ends in step.
-- On PostgreSQL, 0005 drops a partial index that stopped commit and release from being HOT updates
-- (migrations/postgres/0005_hot_updates.sql). SQLite has no HOT updates: an UPDATE rewrites exactly the index
-- entries whose columns change, so its declarations_status_expiry index (which expire_holds uses) stays.
SELECT 1;
