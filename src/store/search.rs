//! The commands' full-text reads on SQLite: `gleaner search` on the FTS5 index `articles_fts`
//! (bm25 order, `snippet()` from the body) and `gleaner show` by key or key prefix.

use rusqlite::{Connection, params};

use super::{ExportedDocument, StoreError};
use crate::search::{MATCH_END, MATCH_START, SearchHit, SearchQuery};

/// The articles matching `query`, best first. The source shown is the one filtered on, else
/// the first that carried the article (a `LEFT JOIN`, so an article is found even if no entry
/// is left to name a source).
pub(super) fn search(conn: &Connection, query: &SearchQuery) -> Result<Vec<SearchHit>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT a.key, a.date, a.title,
                coalesce(s.name, s.title, s.url, ''), coalesce(s.url, ''),
                -bm25(articles_fts),
                snippet(articles_fts, 1, ?5, ?6, '…', 24)
         FROM articles_fts
         JOIN articles a ON a.id = articles_fts.rowid
         LEFT JOIN sources s ON s.id = (
             SELECT e.source_id FROM entries e
             WHERE e.article_id = a.id AND (?3 IS NULL OR e.source_id = ?3)
             ORDER BY e.id LIMIT 1)
         WHERE articles_fts MATCH ?1
           AND (?2 IS NULL OR a.date >= ?2)
           AND (?3 IS NULL OR s.id IS NOT NULL)
         ORDER BY bm25(articles_fts), a.id
         LIMIT ?4",
    )?;
    let since = query.since.map(|d| d.to_string());
    let rows = stmt.query_map(
        params![
            query.terms.to_fts5(),
            since,
            query.source,
            query.limit,
            MATCH_START,
            MATCH_END
        ],
        |r| {
            Ok(SearchHit {
                key: r.get(0)?,
                date: r.get(1)?,
                title: r.get(2)?,
                source: r.get(3)?,
                source_url: r.get(4)?,
                rank: r.get(5)?,
                snippet: r.get(6)?,
            })
        },
    )?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The documents whose key starts with `prefix` (lower-case hex, checked by the caller), at most
/// two: enough to tell a unique prefix from an ambiguous one.
pub(super) fn documents_by_key(
    conn: &Connection,
    prefix: &str,
) -> Result<Vec<ExportedDocument>, StoreError> {
    // A range on the unique index rather than LIKE, whose case folding would skip it.
    let mut stmt = conn.prepare_cached(
        "SELECT key, document FROM articles WHERE key >= ?1 AND key < ?1 || 'g'
         ORDER BY key LIMIT 2",
    )?;
    let rows = stmt.query_map([prefix], |r| {
        Ok(ExportedDocument {
            key: r.get(0)?,
            document: r.get(1)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}
