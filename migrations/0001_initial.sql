-- gleaner schema, version 1. The database is a public interface: users query it directly, so
-- names are plain and every change comes as a new numbered migration, never an edit here.
-- Timestamps are TEXT 'YYYY-MM-DDTHH:MM:SSZ' in UTC.

-- One row per feed that is or was in the configuration.
CREATE TABLE sources (
    id                 INTEGER PRIMARY KEY,
    url                TEXT NOT NULL UNIQUE,      -- the URL polled (http, https or file)
    name               TEXT,                      -- from the configuration
    title              TEXT,                      -- from the feed itself
    site_url           TEXT,                      -- the feed's home page
    status             TEXT NOT NULL DEFAULT 'active'
                       CHECK (status IN ('active', 'gone', 'paused', 'removed')),
    etag               TEXT,                      -- validators for conditional GET
    last_modified      TEXT,
    body_hash          TEXT,                      -- hash of the last body parsed
    added_at           TEXT NOT NULL,
    last_polled_at     TEXT,
    last_success_at    TEXT,
    next_poll_at       TEXT,
    next_poll_reason   TEXT,                      -- why next_poll_at is when it is
    consecutive_errors INTEGER NOT NULL DEFAULT 0,
    last_error         TEXT
);

-- One row per distinct article, whatever the number of feeds that carry it.
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
);
CREATE UNIQUE INDEX articles_canonical_url ON articles (canonical_url) WHERE canonical_url IS NOT NULL;
CREATE INDEX articles_date ON articles (date);

-- Every appearance of an article in a source.
CREATE TABLE entries (
    id             INTEGER PRIMARY KEY,
    source_id      INTEGER NOT NULL REFERENCES sources (id) ON DELETE CASCADE,
    article_id     INTEGER NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
    identity       TEXT NOT NULL,                 -- 'guid:…', 'link:…' or 'hash:…'
    guid           TEXT,
    link           TEXT,
    content_hash   TEXT NOT NULL,                 -- of the item as this source last gave it
    first_seen_at  TEXT NOT NULL,
    last_seen_at   TEXT NOT NULL,
    UNIQUE (source_id, identity)
);
CREATE INDEX entries_article ON entries (article_id);

-- The previous document each time a publisher edits an article.
CREATE TABLE article_revisions (
    id          INTEGER PRIMARY KEY,
    article_id  INTEGER NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
    revision    INTEGER NOT NULL,                 -- the revision this document was
    title       TEXT NOT NULL,
    document    TEXT NOT NULL,
    replaced_at TEXT NOT NULL,
    UNIQUE (article_id, revision)
);

-- One row per poll attempt.
CREATE TABLE fetches (
    id            INTEGER PRIMARY KEY,
    source_id     INTEGER NOT NULL REFERENCES sources (id) ON DELETE CASCADE,
    started_at    TEXT NOT NULL,
    url           TEXT NOT NULL,
    http_status   INTEGER,
    not_modified  INTEGER NOT NULL DEFAULT 0,     -- 1 for a 304 (or an unchanged file)
    bytes         INTEGER,                        -- decoded body size
    duration_ms   INTEGER NOT NULL,
    items_seen    INTEGER NOT NULL DEFAULT 0,
    items_new     INTEGER NOT NULL DEFAULT 0,
    items_updated INTEGER NOT NULL DEFAULT 0,
    error_class   TEXT,                           -- NULL on success
    error_message TEXT
);
CREATE INDEX fetches_source_time ON fetches (source_id, started_at);

-- Full-text search over title and body, kept in step by triggers.
CREATE VIRTUAL TABLE articles_fts USING fts5 (title, body, content = 'articles', content_rowid = 'id');
CREATE TRIGGER articles_fts_insert AFTER INSERT ON articles BEGIN
    INSERT INTO articles_fts (rowid, title, body) VALUES (new.id, new.title, new.body);
END;
CREATE TRIGGER articles_fts_delete AFTER DELETE ON articles BEGIN
    INSERT INTO articles_fts (articles_fts, rowid, title, body) VALUES ('delete', old.id, old.title, old.body);
END;
CREATE TRIGGER articles_fts_update AFTER UPDATE OF title, body ON articles BEGIN
    INSERT INTO articles_fts (articles_fts, rowid, title, body) VALUES ('delete', old.id, old.title, old.body);
    INSERT INTO articles_fts (rowid, title, body) VALUES (new.id, new.title, new.body);
END;

-- Each article with every source that carried it.
CREATE VIEW article_sources AS
SELECT a.id AS article_id, a.key, a.date, a.title, a.url,
       s.id AS source_id, coalesce(s.name, s.title, s.url) AS source,
       e.guid, e.link, e.first_seen_at, e.last_seen_at
FROM articles a
JOIN entries e ON e.article_id = a.id
JOIN sources s ON s.id = e.source_id;

-- How each source is doing.
CREATE VIEW source_health AS
SELECT s.id, coalesce(s.name, s.title, s.url) AS source, s.url, s.status,
       s.last_polled_at, s.last_success_at, s.next_poll_at, s.next_poll_reason,
       s.consecutive_errors, s.last_error,
       (SELECT count(DISTINCT e.article_id) FROM entries e WHERE e.source_id = s.id) AS articles,
       (SELECT count(*) FROM fetches f WHERE f.source_id = s.id AND f.error_class IS NOT NULL
          AND f.started_at >= strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-1 day')) AS errors_last_day
FROM sources s;
