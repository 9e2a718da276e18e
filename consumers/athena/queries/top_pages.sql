-- Top pages: human page views and unique visitors per page.
-- Views count distinct event ids, so a redelivered event is counted once.
SELECT
    detail.site AS site,
    detail.path AS page,
    count(DISTINCT detail.event_id) AS views,
    count(DISTINCT detail.visitor_hash) AS visitors
FROM page_views
WHERE detail.is_bot = false
GROUP BY detail.site, detail.path
ORDER BY views DESC, site, page
LIMIT 100
