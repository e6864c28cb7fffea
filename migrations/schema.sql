-- The whole gleaner schema at version 7 (PRAGMA user_version), as SQLite stores it in
-- sqlite_master: every table, index, trigger and view, tables first, then each kind by name.
-- Generated, and never executed by gleaner: the numbered migrations make the schema, and
-- tests/schema.rs checks that a new database has exactly this one. After a new migration,
-- regenerate it with
--     GLEANER_WRITE_SCHEMA=1 cargo test --test schema
-- Left out, as SQLite makes them itself: the indexes of UNIQUE and PRIMARY KEY constraints and
-- the tables FTS5 keeps for articles_fts (articles_fts_data, _idx, _docsize, _config). Columns
-- added by ALTER TABLE sit at the end of their table's statement, and the names of the tables
-- rebuilt by a migration are quoted ("sources"): SQLite writes them so.

CREATE TABLE article_revisions (
    id          INTEGER PRIMARY KEY,
    article_id  INTEGER NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
    revision    INTEGER NOT NULL,                 -- the revision this document was
    title       TEXT NOT NULL,
    document    TEXT NOT NULL,
    replaced_at TEXT NOT NULL,
    UNIQUE (article_id, revision)
);

CREATE TABLE articles (
    id             INTEGER PRIMARY KEY,
    key            TEXT NOT NULL UNIQUE CHECK (length(key) = 16 AND key NOT GLOB '*[^0-9a-f]*'),
    url            TEXT,                          -- the link as the publisher first gave it
    canonical_url  TEXT,                          -- normalised link, the identity across sources
    title          TEXT NOT NULL,
    published_at   TEXT,                          -- the publisher's timestamp, in UTC
    date           TEXT NOT NULL,                 -- YYYY-MM-DD as the publisher dated it
    body           TEXT NOT NULL,                 -- paragraphs separated by one blank line
    document       TEXT NOT NULL,                 -- the exact document form (FORMAT.md)
    content_hash   TEXT NOT NULL,
    first_seen_at  TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    revision       INTEGER NOT NULL DEFAULT 1
, simhash INTEGER, body_origin TEXT NOT NULL DEFAULT 'feed' CHECK (body_origin IN ('feed', 'page')), feed_body TEXT, page_marker TEXT);

CREATE VIRTUAL TABLE articles_fts USING fts5 (title, body, content="articles", content_rowid="id");

CREATE TABLE duplicates (
    article_id   INTEGER PRIMARY KEY REFERENCES articles (id) ON DELETE CASCADE, -- the later copy
    duplicate_of INTEGER NOT NULL REFERENCES articles (id) ON DELETE CASCADE,    -- the nearest earlier article
    method       TEXT NOT NULL CHECK (method IN ('simhash')),
    distance     INTEGER NOT NULL,                                               -- bits that differ
    found_at     TEXT NOT NULL,
    CHECK (duplicate_of < article_id)
);

CREATE TABLE "entries" (
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

CREATE TABLE "fetches" (
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

CREATE TABLE host_blocks (
    host  TEXT PRIMARY KEY,
    until TEXT NOT NULL
);

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

CREATE TABLE removed_articles (
    key           TEXT PRIMARY KEY,
    canonical_url TEXT,
    title         TEXT NOT NULL,
    date          TEXT NOT NULL,
    removed_at    TEXT NOT NULL
);

CREATE TABLE removed_entries (
    source_id INTEGER NOT NULL REFERENCES sources (id) ON DELETE CASCADE,
    identity  TEXT NOT NULL,
    key       TEXT NOT NULL,
    PRIMARY KEY (source_id, identity)
) WITHOUT ROWID;

CREATE TABLE source_aliases (
    url       TEXT PRIMARY KEY,
    source_id INTEGER NOT NULL REFERENCES sources (id) ON DELETE CASCADE,
    moved_at  TEXT NOT NULL
);

CREATE TABLE "sources" (
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

CREATE UNIQUE INDEX articles_canonical_url ON articles (canonical_url) WHERE canonical_url IS NOT NULL;

CREATE INDEX articles_date ON articles (date);

CREATE INDEX articles_first_seen ON articles (first_seen_at);

CREATE INDEX articles_simhash ON articles (id, simhash) WHERE simhash IS NOT NULL;

CREATE INDEX duplicates_of ON duplicates (duplicate_of);

CREATE INDEX entries_article ON entries (article_id);

CREATE INDEX fetches_source_time ON fetches (source_id, started_at);

CREATE INDEX fetches_time ON fetches (started_at);

CREATE INDEX page_fetches_article ON page_fetches (article_id, marker);

CREATE INDEX page_fetches_source ON page_fetches (source_id, fetched_at);

CREATE INDEX removed_articles_url ON removed_articles (canonical_url) WHERE canonical_url IS NOT NULL;

CREATE TRIGGER articles_fts_delete AFTER DELETE ON articles BEGIN
    INSERT INTO articles_fts (articles_fts, rowid, title, body) VALUES ('delete', old.id, old.title, old.body);
END;

CREATE TRIGGER articles_fts_insert AFTER INSERT ON articles BEGIN
    INSERT INTO articles_fts (rowid, title, body) VALUES (new.id, new.title, new.body);
END;

CREATE TRIGGER articles_fts_update AFTER UPDATE OF title, body ON articles BEGIN
    INSERT INTO articles_fts (articles_fts, rowid, title, body) VALUES ('delete', old.id, old.title, old.body);
    INSERT INTO articles_fts (rowid, title, body) VALUES (new.id, new.title, new.body);
END;

CREATE VIEW article_sources AS
SELECT a.id AS article_id, a.key, a.date, a.title, a.url,
       s.id AS source_id, coalesce(s.name, s.title, s.url) AS source,
       e.guid, e.link, e.first_seen_at, e.last_seen_at
FROM articles a
JOIN entries e ON e.article_id = a.id
JOIN sources s ON s.id = e.source_id;

CREATE VIEW duplicate_clusters AS
WITH RECURSIVE cluster (cluster_id, article_id, duplicate_of, distance) AS (
    SELECT d.duplicate_of, d.duplicate_of, NULL, 0
    FROM duplicates d
    WHERE NOT EXISTS (SELECT 1 FROM duplicates up WHERE up.article_id = d.duplicate_of)
    GROUP BY d.duplicate_of
    UNION ALL
    SELECT c.cluster_id, d.article_id, d.duplicate_of, d.distance
    FROM duplicates d JOIN cluster c ON d.duplicate_of = c.article_id
)
SELECT c.cluster_id, c.article_id, c.duplicate_of, c.distance, a.key, a.date, a.title, a.url
FROM cluster c JOIN articles a ON a.id = c.article_id;

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

CREATE VIEW source_health AS
SELECT s.id, coalesce(s.name, s.title, s.url) AS source, s.url, s.status,
       s.last_polled_at, s.last_success_at, s.next_poll_at, s.next_poll_reason,
       s.consecutive_errors, s.last_error,
       (SELECT count(DISTINCT e.article_id) FROM entries e WHERE e.source_id = s.id) AS articles,
       (SELECT count(*) FROM fetches f WHERE f.source_id = s.id AND f.error_class IS NOT NULL
          AND f.started_at >= strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-1 day')) AS errors_last_day
FROM sources s;

CREATE VIEW unique_articles AS
SELECT a.id, a.key, a.url, a.canonical_url, a.title, a.published_at, a.date, a.body, a.document,
       a.first_seen_at, a.updated_at, a.revision
FROM articles a
WHERE NOT EXISTS (SELECT 1 FROM duplicates d WHERE d.article_id = a.id);
