-- Human page views per viewer country (ISO 3166-1 alpha-2; 'unknown' when the edge did not know).
SELECT
    COALESCE(detail.country, 'unknown') AS country,
    count(DISTINCT detail.event_id) AS views
FROM page_views
WHERE detail.is_bot = false
GROUP BY COALESCE(detail.country, 'unknown')
ORDER BY views DESC, country
