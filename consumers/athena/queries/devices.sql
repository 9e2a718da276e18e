-- Human page views per device class, operating system and browser.
SELECT
    detail.device AS device,
    detail.os AS os,
    detail.browser AS browser,
    count(DISTINCT detail.event_id) AS views
FROM page_views
WHERE detail.is_bot = false
GROUP BY detail.device, detail.os, detail.browser
ORDER BY views DESC, device, os, browser
