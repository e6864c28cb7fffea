-- gleaner schema, version 6: full text. For an item whose feed carries only a teaser, the
-- article's page is fetched and its main text becomes the article's body and document.

-- Where `body` (and so `document`) comes from: the feed's item, or the article's page.
ALTER TABLE articles ADD COLUMN body_origin TEXT NOT NULL DEFAULT 'feed' CHECK (body_origin IN ('feed', 'page'));
-- The feed's own text when `body` is the page's; NULL when `body` is the feed's own text (so
-- `coalesce(feed_body, body)` is always the feed's text).
ALTER TABLE articles ADD COLUMN feed_body TEXT;
-- The item revision (its feed timestamp and link) whose page was last fetched to a conclusion:
-- the page is fetched again only when the feed says the article changed.
ALTER TABLE articles ADD COLUMN page_marker TEXT;

-- Every fetch of an article's page, and what came of it.
CREATE TABLE page_fetches (
    id          INTEGER PRIMARY KEY,
    article_id  INTEGER NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
    source_id   INTEGER NOT NULL REFERENCES sources (id) ON DELETE CASCADE,
    marker      TEXT NOT NULL,              -- the item revision it was fetched for
    url         TEXT NOT NULL,              -- the item's link
    final_url   TEXT,                       -- after redirects
    fetched_at  TEXT NOT NULL,
    http_status INTEGER,
    bytes       INTEGER,
    duration_ms INTEGER NOT NULL,
    -- extracted: the page's text is the body now (first time, or an edit of the page);
    -- unchanged: the page's text is the body already; kept_feed: the feed's text stays, for
    -- `reason`; deferred: the feed's text stays for now, the page is tried again at a later poll.
    outcome     TEXT NOT NULL CHECK (outcome IN ('extracted', 'unchanged', 'kept_feed', 'deferred')),
    reason      TEXT,                       -- robots, http_4xx, timeout, no_article, shorter, ...
    message     TEXT,
    CHECK ((outcome IN ('extracted', 'unchanged')) = (reason IS NULL))
);
CREATE INDEX page_fetches_article ON page_fetches (article_id, marker);
CREATE INDEX page_fetches_source ON page_fetches (source_id, fetched_at);

-- Per source, what its pages came to over the last day.
CREATE VIEW page_health AS
SELECT s.id, coalesce(s.name, s.title, s.url) AS source,
       count(p.id) AS pages_last_day,
       count(p.id) FILTER (WHERE p.outcome IN ('extracted', 'unchanged')) AS extracted_last_day,
       count(p.id) FILTER (WHERE p.outcome IN ('kept_feed', 'deferred')) AS kept_feed_last_day,
       (SELECT group_concat(reason || ' ' || n, ', ') FROM
          (SELECT reason, count(*) AS n FROM page_fetches q
           WHERE q.source_id = s.id AND q.reason IS NOT NULL
             AND q.fetched_at >= strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-1 day')
           GROUP BY reason ORDER BY n DESC, reason)) AS reasons_last_day
FROM sources s
LEFT JOIN page_fetches p ON p.source_id = s.id
  AND p.fetched_at >= strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-1 day')
GROUP BY s.id;
