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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::Terms;

    /// Whatever the user types, the MATCH expression is valid FTS5: random strings of FTS5's
    /// syntax characters, operators and words, run against a real FTS5 table.
    #[test]
    fn no_query_text_is_an_fts5_syntax_error() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE VIRTUAL TABLE t USING fts5 (title, body);
             INSERT INTO t VALUES ('near and or not', 'x-ray * \"quoted\" (paren) col:on');",
        )
        .unwrap();
        let pieces = [
            "\"", "-", "*", "(", ")", ":", "^", "+", "{", "}", ",", "'", " ", "AND", "OR", "NOT",
            "NEAR", "NEAR(", "x", "ray", "title:", "é", "東京", "\\", "0", "-\"", "*\"",
        ];
        // xorshift64: the same strings every run.
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut tried = 0;
        for _ in 0..5000 {
            let mut text = String::new();
            for _ in 0..next() % 9 {
                text.push_str(pieces[(next() % pieces.len() as u64) as usize]);
            }
            let Ok(terms) = Terms::parse(&text) else {
                continue;
            };
            tried += 1;
            let expression = terms.to_fts5();
            let result: rusqlite::Result<i64> = conn.query_row(
                "SELECT count(*) FROM t WHERE t MATCH ?1",
                [&expression],
                |r| r.get(0),
            );
            assert!(result.is_ok(), "{text:?} -> {expression:?}: {result:?}");
        }
        assert!(tried > 1000, "{tried}");
    }
}
