-- gleaner schema, version 4: near-duplicate candidates are looked up in memory.
--
-- The writer keeps the fingerprints of recent articles in a band index of its own, loaded from
-- this one index at start: probing the four band indexes of version 3 cost 68 B-tree seeks per
-- new article at the default distance and four more index updates per insert, which halved the
-- speed of a first poll. `articles.simhash` itself is unchanged.
DROP INDEX articles_simhash_0;
DROP INDEX articles_simhash_1;
DROP INDEX articles_simhash_2;
DROP INDEX articles_simhash_3;
CREATE INDEX articles_simhash ON articles (id, simhash) WHERE simhash IS NOT NULL;
