-- Human page views per campaign (utm_campaign, utm_source, utm_medium).
SELECT
    detail.utm_campaign AS campaign,
    COALESCE(detail.utm_source, '') AS source,
    COALESCE(detail.utm_medium, '') AS medium,
    count(DISTINCT detail.event_id) AS views
FROM page_views
WHERE detail.is_bot = false
    AND detail.utm_campaign IS NOT NULL
GROUP BY detail.utm_campaign, COALESCE(detail.utm_source, ''), COALESCE(detail.utm_medium, '')
ORDER BY views DESC, campaign, source, medium
