-- Human page views per hour of day (UTC, from occurred_at).
SELECT
    CAST(substr(detail.occurred_at, 12, 2) AS INTEGER) AS hour,
    count(DISTINCT detail.event_id) AS views
FROM page_views
WHERE detail.is_bot = false
GROUP BY CAST(substr(detail.occurred_at, 12, 2) AS INTEGER)
ORDER BY hour
