//! Full text in the database: which items already have their page's text (asked before a
//! page is fetched, so a page is fetched once per item revision), and the record of each page
//! fetch. How a page's text changes an article is filed with the article, in `articles`.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use super::{StoreError, timestamp};
use crate::record::{PageKnown, PageOutcome, PageQuery, PageRecord};

/// Answers `queries`, items of source `source_id`, in order.
pub(super) fn known(
    conn: &Connection,
    source_id: i64,
    queries: &[PageQuery],
) -> Result<Vec<PageKnown>, StoreError> {
    let mut by_entry = conn.prepare_cached(
        "SELECT a.id, a.page_marker FROM entries e JOIN articles a ON a.id = e.article_id
         WHERE e.source_id = ?1 AND e.identity = ?2",
    )?;
    let mut by_url = conn.prepare_cached(
        "SELECT id, page_marker FROM articles WHERE canonical_url = ?1
         UNION ALL SELECT id, page_marker FROM articles WHERE key = ?2 LIMIT 1",
    )?;
    let mut removed = conn.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM removed_entries WHERE source_id = ?1 AND identity = ?2)
             OR EXISTS (SELECT 1 FROM removed_articles WHERE key = ?3)
             OR EXISTS (SELECT 1 FROM removed_articles WHERE canonical_url = ?4)",
    )?;
    let mut deferred = conn.prepare_cached(
        "SELECT count(*) FROM page_fetches
         WHERE article_id = ?1 AND marker = ?2 AND outcome = 'deferred'",
    )?;
    let row = |r: &rusqlite::Row<'_>| Ok((r.get::<_, i64>(0)?, r.get::<_, Option<String>>(1)?));
    let mut answers = Vec::with_capacity(queries.len());
    for q in queries {
        let own = by_entry
            .query_row(params![source_id, q.identity], row)
            .optional()?;
        let answer = match own {
            Some((_, Some(marker))) if marker == q.marker => PageKnown::Done,
            Some((article, _)) => PageKnown::Fetch {
                deferred: deferred.query_row(params![article, q.marker], |r| r.get(0))?,
            },
            None => match by_url
                .query_row(params![q.canonical_url, q.key], row)
                .optional()?
            {
                // Another source's article: its page is the same page, fetched already.
                Some((_, Some(_))) => PageKnown::Done,
                Some((article, None)) => PageKnown::Fetch {
                    deferred: deferred.query_row(params![article, q.marker], |r| r.get(0))?,
                },
                None if removed.query_row(
                    params![source_id, q.identity, q.key, q.canonical_url],
                    |r| r.get(0),
                )? =>
                {
                    PageKnown::Removed
                }
                None => PageKnown::Fetch { deferred: 0 },
            },
        };
        answers.push(answer);
    }
    Ok(answers)
}

/// How a page fetch ended, as `page_fetches.outcome` says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::store) enum Stored {
    /// The page's text became the body (first time, or an edit).
    Extracted,
    /// The body was the page's text already.
    Unchanged,
    KeptFeed,
    Deferred,
}

impl Stored {
    pub(in crate::store) fn as_str(self) -> &'static str {
        match self {
            Stored::Extracted => "extracted",
            Stored::Unchanged => "unchanged",
            Stored::KeptFeed => "kept_feed",
            Stored::Deferred => "deferred",
        }
    }
}

/// Writes the record of a page fetch for `article_id` and, when it came to a conclusion and
/// `own` (the article's own source) or the article had no page yet, marks the revision done.
pub(super) fn record(
    tx: &Connection,
    source_id: i64,
    article_id: i64,
    page: &PageRecord,
    stored: Stored,
    own: bool,
) -> Result<(), StoreError> {
    let (reason, message) = match &page.outcome {
        PageOutcome::KeptFeed {
            reason, message, ..
        } if matches!(stored, Stored::KeptFeed | Stored::Deferred) => {
            (Some(*reason), Some(message.as_str()))
        }
        _ => (None, None),
    };
    tx.prepare_cached(
        "INSERT INTO page_fetches (article_id, source_id, marker, url, final_url, fetched_at,
                                   http_status, bytes, duration_ms, outcome, reason, message)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?
    .execute(params![
        article_id,
        source_id,
        page.marker,
        page.url,
        page.final_url,
        timestamp(page.fetched_at),
        page.status,
        page.bytes.map(|b| b as i64),
        page.duration.as_millis() as i64,
        stored.as_str(),
        reason,
        message,
    ])?;
    if stored != Stored::Deferred {
        tx.prepare_cached(
            "UPDATE articles SET page_marker = ?2 WHERE id = ?1 AND (?3 OR page_marker IS NULL)",
        )?
        .execute(params![article_id, page.marker, own])?;
    }
    Ok(())
}

/// Removes page fetch records older than `cutoff` (the marks of what is done stay on the
/// articles).
pub(super) fn prune(conn: &Connection, cutoff: DateTime<Utc>) -> Result<usize, StoreError> {
    Ok(conn.execute(
        "DELETE FROM page_fetches WHERE fetched_at < ?1",
        [timestamp(cutoff)],
    )?)
}
