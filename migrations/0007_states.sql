-- gleaner schema, version 7: the state columns accept only the values gleaner writes, so a
-- query can rely on them and a stray write fails instead of being stored.
--
-- The CHECKs come by rebuilding each table, the procedure of lang_altertable.html ("Making Other
-- Kinds Of Table Schema Changes"), long proven; ALTER TABLE ADD CONSTRAINT, new in SQLite 3.53,
-- is not. Create new_X, copy, drop X, rename new_X to X, make its indexes again.
-- `migrate::apply` runs this with foreign keys off (with them on, dropping `sources` would delete
-- every row referencing it, ON DELETE CASCADE) and runs PRAGMA foreign_key_check before it
-- commits. Columns keep their order, types and defaults, and rows their ids. The copies of
-- `entries` and `fetches` are the cost, paid once: 2.5 s for 200,000 entries and 100,000 fetches
-- (a 450 MB database) on the 2-core development machine.

-- The views that name a rebuilt table: the rename refuses a schema with a view naming a missing
-- table (unless legacy_alter_table is on). Made again below exactly as they were.
DROP VIEW article_sources;
DROP VIEW source_health;
DROP VIEW page_health;

CREATE TABLE new_sources (
    id                  INTEGER PRIMARY KEY,
    url                 TEXT NOT NULL UNIQUE,     -- the URL polled (http, https or file)
    name                TEXT,                     -- from the configuration
    title               TEXT,                     -- from the feed itself
    site_url            TEXT,                     -- the feed's home page
    -- source::Status::as_str.
    status              TEXT NOT NULL DEFAULT 'active'
                        CHECK (status IN ('active', 'gone', 'paused', 'removed')),
    etag                TEXT,                     -- validators for conditional GET
    last_modified       TEXT,
    body_hash           TEXT,                     -- hash of the last body parsed
    added_at            TEXT NOT NULL,
    last_polled_at      TEXT,
    last_success_at     TEXT,
    next_poll_at        TEXT,
    -- Why next_poll_at is when it is: schedule::Reason::as_str ('retry': a poll the database
    -- refused, written once it takes writes again); 'gone' after a 410 (SourceState::apply);
    -- NULL for a source not polled yet, revived, or back in the configuration.
    next_poll_reason    TEXT
                        CHECK (next_poll_reason IN ('interval', 'adaptive', 'hint', 'retry-after',
                                                    'backoff', 'outage', 'retry', 'gone')),
    consecutive_errors  INTEGER NOT NULL DEFAULT 0,
    last_error          TEXT,
    -- A permanent redirect (301/308) seen on consecutive polls; after a few the source moves.
    redirect_to         TEXT,
    redirect_polls      INTEGER NOT NULL DEFAULT 0,
    -- The feed's own polling hints, kept for polls that get a 304 and no feed.
    hint_ttl_seconds    INTEGER,                  -- RSS <ttl>
    hint_update_seconds INTEGER,                  -- sy:updatePeriod / sy:updateFrequency
    skip_hours          INTEGER NOT NULL DEFAULT 0, -- RSS skipHours: bit h = hour h (UTC)
    skip_days           INTEGER NOT NULL DEFAULT 0, -- RSS skipDays: bit d = weekday d (Monday 0)
    -- What the source's items are told apart by (see 0003), and what was seen to switch.
    identity            TEXT NOT NULL DEFAULT 'guid' CHECK (identity IN ('guid', 'link')),
    identity_reason     TEXT
);
INSERT INTO new_sources (id, url, name, title, site_url, status, etag, last_modified, body_hash,
                         added_at, last_polled_at, last_success_at, next_poll_at,
                         next_poll_reason, consecutive_errors, last_error, redirect_to,
                         redirect_polls, hint_ttl_seconds, hint_update_seconds, skip_hours,
                         skip_days, identity, identity_reason)
SELECT id, url, name, title, site_url, status, etag, last_modified, body_hash, added_at,
       last_polled_at, last_success_at, next_poll_at, next_poll_reason, consecutive_errors,
       last_error, redirect_to, redirect_polls, hint_ttl_seconds, hint_update_seconds, skip_hours,
       skip_days, identity, identity_reason
FROM sources;
DROP TABLE sources;
ALTER TABLE new_sources RENAME TO sources;

CREATE TABLE new_entries (
    id             INTEGER PRIMARY KEY,
    source_id      INTEGER NOT NULL REFERENCES sources (id) ON DELETE CASCADE,
    article_id     INTEGER NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
    -- dedup::Identity::as_stored: the item's guid, canonical link or content hash.
    identity       TEXT NOT NULL
                   CHECK (identity GLOB 'guid:*' OR identity GLOB 'link:*' OR identity GLOB 'hash:*'),
    guid           TEXT,
    link           TEXT,
    content_hash   TEXT NOT NULL,                 -- of the item as this source last gave it
    first_seen_at  TEXT NOT NULL,
    last_seen_at   TEXT NOT NULL,
    UNIQUE (source_id, identity)
);
INSERT INTO new_entries (id, source_id, article_id, identity, guid, link, content_hash,
                         first_seen_at, last_seen_at)
SELECT id, source_id, article_id, identity, guid, link, content_hash, first_seen_at, last_seen_at
FROM entries;
DROP TABLE entries;
ALTER TABLE new_entries RENAME TO entries;
CREATE INDEX entries_article ON entries (article_id);

CREATE TABLE new_fetches (
    id                 INTEGER PRIMARY KEY,
    source_id          INTEGER NOT NULL REFERENCES sources (id) ON DELETE CASCADE,
    started_at         TEXT NOT NULL,
    url                TEXT NOT NULL,
    http_status        INTEGER,
    not_modified       INTEGER NOT NULL DEFAULT 0,  -- 1 for a 304 (or an unchanged file)
    bytes              INTEGER,                     -- decoded body size
    duration_ms        INTEGER NOT NULL,
    items_seen         INTEGER NOT NULL DEFAULT 0,
    items_new          INTEGER NOT NULL DEFAULT 0,
    items_updated      INTEGER NOT NULL DEFAULT 0,
    -- NULL on success. fetch::ErrorClass::as_str: 'dns' .. 'network'; feed::FeedError::class:
    -- 'not_a_feed', 'parse'; 'internal': a poll or its parsing stopped by a bug (daemon,
    -- pipeline); 'database': a poll whose result the database refused at first
    -- (pipeline::unrecorded).
    error_class        TEXT
                       CHECK (error_class IN ('dns', 'connect', 'tls', 'timeout', 'http_4xx',
                                              'http_5xx', 'http_other', 'too_large', 'redirect',
                                              'private_address', 'gone', 'rate_limited', 'io',
                                              'network', 'not_a_feed', 'parse', 'internal',
                                              'database')),
    error_message      TEXT,
    wire_bytes         INTEGER,                     -- body bytes as sent, when the server said
    etag_sent          TEXT,                        -- validators sent with the request
    last_modified_sent TEXT,
    retry_after        TEXT,                        -- when the server said to come back
    redirects          TEXT,                        -- hops followed: '301 https://…; 302 https://…'
    charged            INTEGER NOT NULL DEFAULT 1   -- 0: an error not counted against the feed
);
INSERT INTO new_fetches (id, source_id, started_at, url, http_status, not_modified, bytes,
                         duration_ms, items_seen, items_new, items_updated, error_class,
                         error_message, wire_bytes, etag_sent, last_modified_sent, retry_after,
                         redirects, charged)
SELECT id, source_id, started_at, url, http_status, not_modified, bytes, duration_ms, items_seen,
       items_new, items_updated, error_class, error_message, wire_bytes, etag_sent,
       last_modified_sent, retry_after, redirects, charged
FROM fetches;
DROP TABLE fetches;
ALTER TABLE new_fetches RENAME TO fetches;
CREATE INDEX fetches_source_time ON fetches (source_id, started_at);
CREATE INDEX fetches_time ON fetches (started_at);

-- As in 0001.
CREATE VIEW article_sources AS
SELECT a.id AS article_id, a.key, a.date, a.title, a.url,
       s.id AS source_id, coalesce(s.name, s.title, s.url) AS source,
       e.guid, e.link, e.first_seen_at, e.last_seen_at
FROM articles a
JOIN entries e ON e.article_id = a.id
JOIN sources s ON s.id = e.source_id;

-- As in 0001.
CREATE VIEW source_health AS
SELECT s.id, coalesce(s.name, s.title, s.url) AS source, s.url, s.status,
       s.last_polled_at, s.last_success_at, s.next_poll_at, s.next_poll_reason,
       s.consecutive_errors, s.last_error,
       (SELECT count(DISTINCT e.article_id) FROM entries e WHERE e.source_id = s.id) AS articles,
       (SELECT count(*) FROM fetches f WHERE f.source_id = s.id AND f.error_class IS NOT NULL
          AND f.started_at >= strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-1 day')) AS errors_last_day
FROM sources s;

-- As in 0006.
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
