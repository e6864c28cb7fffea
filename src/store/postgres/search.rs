//! `gleaner search` and `gleaner show` on PostgreSQL: the generated tsvector `articles.search`
//! (GIN index, 'simple' configuration) instead of FTS5, ranked by `ts_rank`, snippets by
//! `ts_headline`; the same query terms ([`crate::search::Terms::to_tsquery`]).

use super::Db;
use crate::search::{MATCH_END, MATCH_START, SearchHit, SearchQuery};
use crate::store::{ExportedDocument, StoreError};

pub(super) async fn search(db: &Db<'_>, query: &SearchQuery) -> Result<Vec<SearchHit>, StoreError> {
    // The snippet is made for the hits only (the inner LIMIT): ts_headline parses the whole
    // body again, too dear for every match.
    let rows = db
        .query(
            "SELECT a.key, a.date, a.title,
                    coalesce(s.name, s.title, s.url, ''), coalesce(s.url, ''),
                    hit.rank::float8,
                    ts_headline('simple', a.body, to_tsquery('simple', $1), $5)
             FROM (SELECT a.id, ts_rank(a.search, to_tsquery('simple', $1)) AS rank,
                          (SELECT e.source_id FROM entries e
                           WHERE e.article_id = a.id
                             AND ($3::bigint IS NULL OR e.source_id = $3)
                           ORDER BY e.id LIMIT 1) AS source_id
                   FROM articles a
                   WHERE a.search @@ to_tsquery('simple', $1)
                     AND ($2::text IS NULL OR a.date >= $2)
                     AND ($3::bigint IS NULL OR EXISTS (SELECT 1 FROM entries e
                          WHERE e.article_id = a.id AND e.source_id = $3))
                   ORDER BY rank DESC, a.id
                   LIMIT $4) hit
             JOIN articles a ON a.id = hit.id
             LEFT JOIN sources s ON s.id = hit.source_id
             ORDER BY hit.rank DESC, a.id",
            &[
                &query.terms.to_tsquery(),
                &query.since.map(|d| d.to_string()),
                &query.source,
                &i64::from(query.limit),
                &headline_options(),
            ],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| SearchHit {
            key: r.get(0),
            date: r.get(1),
            title: r.get(2),
            source: r.get(3),
            source_url: r.get(4),
            rank: r.get(5),
            snippet: r.get(6),
        })
        .collect())
}

/// A fragment of about FTS5's snippet size around the best match, marked as SQLite marks it.
fn headline_options() -> String {
    format!(
        "StartSel=\"{MATCH_START}\", StopSel=\"{MATCH_END}\", MaxWords=24, MinWords=12, \
         MaxFragments=1, FragmentDelimiter=\" … \""
    )
}

pub(super) async fn documents_by_key(
    db: &Db<'_>,
    prefix: &str,
) -> Result<Vec<ExportedDocument>, StoreError> {
    // Keys are lower-case hex, so every key with the prefix sorts below prefix || 'g'.
    let rows = db
        .query(
            "SELECT key, document FROM articles WHERE key >= $1 AND key < $1 || 'g'
             ORDER BY key LIMIT 2",
            &[&prefix],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| ExportedDocument {
            key: r.get(0),
            document: r.get(1),
        })
        .collect())
}
