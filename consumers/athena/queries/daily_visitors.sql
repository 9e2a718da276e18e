-- Daily unique visitors (distinct daily visitor hashes) and human page views, per UTC day.
-- Views without a visitor hash (the hash is off by default) count as views, not as visitors.
SELECT
    substr(detail.occurred_at, 1, 10) AS day,
    count(DISTINCT detail.visitor_hash) AS visitors,
    count(DISTINCT detail.event_id) AS views
FROM page_views
WHERE detail.is_bot = false
GROUP BY substr(detail.occurred_at, 1, 10)
ORDER BY day
