-- Share of bots: page views per class ('human' or the bot reason) and their share of all views.
SELECT
    c.class AS class,
    c.views AS views,
    CAST(c.views AS DOUBLE) / t.total AS share
FROM (
    SELECT
        COALESCE(detail.bot_reason, 'human') AS class,
        count(DISTINCT detail.event_id) AS views
    FROM page_views
    GROUP BY COALESCE(detail.bot_reason, 'human')
) c
CROSS JOIN (SELECT count(DISTINCT detail.event_id) AS total FROM page_views) t
ORDER BY views DESC, class
