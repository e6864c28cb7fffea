-- gleaner schema, version 3: deduplication that survives real publishers.

-- What a source's items are told apart by: their guids, until a document shows them missing,
-- repeated or unstable; from then on their canonical links. `identity_reason` says what was seen.
ALTER TABLE sources ADD COLUMN identity TEXT NOT NULL DEFAULT 'guid' CHECK (identity IN ('guid', 'link'));
ALTER TABLE sources ADD COLUMN identity_reason TEXT;

-- The body's 64-bit SimHash over two-word shingles, as a signed integer; NULL for bodies under
-- 400 characters, too short to compare. Each 16-bit band is indexed with the id (so a lookup
-- skips articles older than the comparison window) and the whole hash (so the distance comes
-- from the index alone): a lookup probes the bands, never scans the table.
ALTER TABLE articles ADD COLUMN simhash INTEGER;
CREATE INDEX articles_simhash_0 ON articles (((simhash >> 48) & 65535), id, simhash) WHERE simhash IS NOT NULL;
CREATE INDEX articles_simhash_1 ON articles (((simhash >> 32) & 65535), id, simhash) WHERE simhash IS NOT NULL;
CREATE INDEX articles_simhash_2 ON articles (((simhash >> 16) & 65535), id, simhash) WHERE simhash IS NOT NULL;
CREATE INDEX articles_simhash_3 ON articles ((simhash & 65535), id, simhash) WHERE simhash IS NOT NULL;
CREATE INDEX articles_first_seen ON articles (first_seen_at);

-- Near-duplicates: an article whose body is within a few bits of an earlier article's (a wire
-- story republished with small edits). Nothing is deleted; `unique_articles` hides the copies.
CREATE TABLE duplicates (
    article_id   INTEGER PRIMARY KEY REFERENCES articles (id) ON DELETE CASCADE, -- the later copy
    duplicate_of INTEGER NOT NULL REFERENCES articles (id) ON DELETE CASCADE,    -- the nearest earlier article
    method       TEXT NOT NULL CHECK (method IN ('simhash')),
    distance     INTEGER NOT NULL,                                               -- bits that differ
    found_at     TEXT NOT NULL,
    CHECK (duplicate_of < article_id)
);
CREATE INDEX duplicates_of ON duplicates (duplicate_of);

-- Articles removed by retention, remembered so that a feed still carrying them does not bring
-- them back as new: by key and canonical URL, and by each source's identity of the item.
CREATE TABLE removed_articles (
    key           TEXT PRIMARY KEY,
    canonical_url TEXT,
    title         TEXT NOT NULL,
    date          TEXT NOT NULL,
    removed_at    TEXT NOT NULL
);
CREATE INDEX removed_articles_url ON removed_articles (canonical_url) WHERE canonical_url IS NOT NULL;
CREATE TABLE removed_entries (
    source_id INTEGER NOT NULL REFERENCES sources (id) ON DELETE CASCADE,
    identity  TEXT NOT NULL,
    key       TEXT NOT NULL,
    PRIMARY KEY (source_id, identity)
) WITHOUT ROWID;

-- Articles that are not a near-duplicate of an earlier one: one row per story.
CREATE VIEW unique_articles AS
SELECT a.id, a.key, a.url, a.canonical_url, a.title, a.published_at, a.date, a.body, a.document,
       a.first_seen_at, a.updated_at, a.revision
FROM articles a
WHERE NOT EXISTS (SELECT 1 FROM duplicates d WHERE d.article_id = a.id);

-- Every article that has near-duplicates, with its copies: `cluster_id` is the first article of
-- the cluster (distance 0 for it), `distance` each copy's distance to the article it was linked to.
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
