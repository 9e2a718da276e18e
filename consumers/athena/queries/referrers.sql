-- Human page views per referring site, internal navigation left out.
SELECT
    detail.referrer_host AS referrer,
    count(DISTINCT detail.event_id) AS views
FROM page_views
WHERE detail.is_bot = false
    AND detail.referrer_host IS NOT NULL
    AND detail.referrer_same_site = false
GROUP BY detail.referrer_host
ORDER BY views DESC, referrer
LIMIT 100
