-- gleaner schema, version 2: what polite, adaptive polling needs to remember.

-- A permanent redirect (301/308) seen on consecutive polls; after a few the source moves.
ALTER TABLE sources ADD COLUMN redirect_to TEXT;
ALTER TABLE sources ADD COLUMN redirect_polls INTEGER NOT NULL DEFAULT 0;
-- The feed's own polling hints, kept for polls that get a 304 and no feed.
ALTER TABLE sources ADD COLUMN hint_ttl_seconds INTEGER;           -- RSS <ttl>
ALTER TABLE sources ADD COLUMN hint_update_seconds INTEGER;        -- sy:updatePeriod / sy:updateFrequency
ALTER TABLE sources ADD COLUMN skip_hours INTEGER NOT NULL DEFAULT 0; -- RSS skipHours: bit h = hour h (UTC)
ALTER TABLE sources ADD COLUMN skip_days INTEGER NOT NULL DEFAULT 0;  -- RSS skipDays: bit d = weekday d (Monday 0)

-- URLs a source was known by before it moved: a configuration that still names one maps to it.
CREATE TABLE source_aliases (
    url       TEXT PRIMARY KEY,
    source_id INTEGER NOT NULL REFERENCES sources (id) ON DELETE CASCADE,
    moved_at  TEXT NOT NULL
);

-- Hosts that answered 429 Too Many Requests: no request to them before `until`.
CREATE TABLE host_blocks (
    host  TEXT PRIMARY KEY,
    until TEXT NOT NULL
);

ALTER TABLE fetches ADD COLUMN wire_bytes INTEGER;          -- body bytes as sent, when the server said
ALTER TABLE fetches ADD COLUMN etag_sent TEXT;              -- validators sent with the request
ALTER TABLE fetches ADD COLUMN last_modified_sent TEXT;
ALTER TABLE fetches ADD COLUMN retry_after TEXT;            -- when the server said to come back
ALTER TABLE fetches ADD COLUMN redirects TEXT;              -- hops followed: '301 https://…; 302 https://…'
ALTER TABLE fetches ADD COLUMN charged INTEGER NOT NULL DEFAULT 1; -- 0: an error not counted against the feed (rate limit, outage)
CREATE INDEX fetches_time ON fetches (started_at);
