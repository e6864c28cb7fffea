//! Full text in PostgreSQL: which items already have their page's text, and the record of each
//! page fetch, as `store::pages` does in SQLite.

use chrono::{DateTime, Utc};
use tokio_postgres::types::ToSql;

use super::{Db, clean, clean_opt};
use crate::record::{PageKnown, PageOutcome, PageQuery, PageRecord};
use crate::store::pages::Stored;
use crate::store::{StoreError, timestamp};

/// Answers `queries`, items of source `source_id`, in order.
pub(super) async fn known(
    tx: &Db<'_>,
    source_id: i64,
    queries: &[PageQuery],
) -> Result<Vec<PageKnown>, StoreError> {
    let by_entry =
        "SELECT a.id, a.page_marker FROM entries e JOIN articles a ON a.id = e.article_id
             WHERE e.source_id = $1 AND e.identity = $2";
    let by_url = "(SELECT id, page_marker FROM articles WHERE canonical_url = $1)
             UNION ALL (SELECT id, page_marker FROM articles WHERE key = $2) LIMIT 1";
    let removed =
        "SELECT EXISTS (SELECT 1 FROM removed_entries WHERE source_id = $1 AND identity = $2)
                 OR EXISTS (SELECT 1 FROM removed_articles WHERE key = $3)
                 OR EXISTS (SELECT 1 FROM removed_articles WHERE canonical_url = $4)";
    let deferred = "SELECT count(*) FROM page_fetches
             WHERE article_id = $1 AND marker = $2 AND outcome = 'deferred'";
    let count_deferred = async |article: i64, marker: &str| -> Result<u32, StoreError> {
        let n: i64 = tx.query_one(deferred, &[&article, &marker]).await?.get(0);
        Ok(n.clamp(0, i64::from(u32::MAX)) as u32)
    };
    let mut answers = Vec::with_capacity(queries.len());
    for q in queries {
        let (identity, marker) = (clean(&q.identity), clean(&q.marker));
        let canonical_url = clean_opt(q.canonical_url.as_deref());
        let own = tx
            .query_opt(by_entry, &[&source_id, &identity])
            .await?
            .map(|r| (r.get::<_, i64>(0), r.get::<_, Option<String>>(1)));
        let answer = match own {
            Some((_, Some(stored))) if stored == marker => PageKnown::Done,
            Some((article, _)) => PageKnown::Fetch {
                deferred: count_deferred(article, &marker).await?,
            },
            None => match tx
                .query_opt(by_url, &[&canonical_url, &q.key])
                .await?
                .map(|r| (r.get::<_, i64>(0), r.get::<_, Option<String>>(1)))
            {
                // Another source's article: its page is the same page, fetched already.
                Some((_, Some(_))) => PageKnown::Done,
                Some((article, None)) => PageKnown::Fetch {
                    deferred: count_deferred(article, &marker).await?,
                },
                None => {
                    let gone: bool = tx
                        .query_one(removed, &[&source_id, &identity, &q.key, &canonical_url])
                        .await?
                        .get(0);
                    if gone {
                        PageKnown::Removed
                    } else {
                        PageKnown::Fetch { deferred: 0 }
                    }
                }
            },
        };
        answers.push(answer);
    }
    Ok(answers)
}

/// Writes the record of a page fetch for `article_id` and, when it came to a conclusion and
/// `own` or the article had no page yet, marks the revision done.
pub(super) async fn record(
    tx: &Db<'_>,
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
    let params: [&(dyn ToSql + Sync); 12] = [
        &article_id,
        &source_id,
        &clean(&page.marker),
        &clean(&page.url),
        &clean_opt(page.final_url.as_deref()),
        &timestamp(page.fetched_at),
        &page.status.map(i64::from),
        &page.bytes.map(|b| b as i64),
        &(page.duration.as_millis() as i64),
        &stored.as_str(),
        &reason,
        &clean_opt(message),
    ];
    tx.execute(
        "INSERT INTO page_fetches (article_id, source_id, marker, url, final_url, fetched_at,
                                   http_status, bytes, duration_ms, outcome, reason, message)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        &params,
    )
    .await?;
    if stored != Stored::Deferred {
        tx.execute(
            "UPDATE articles SET page_marker = $2
             WHERE id = $1 AND ($3::boolean OR page_marker IS NULL)",
            &[&article_id, &clean(&page.marker), &own],
        )
        .await?;
    }
    Ok(())
}

/// Removes page fetch records older than `cutoff`.
pub(super) async fn prune(tx: &Db<'_>, cutoff: DateTime<Utc>) -> Result<usize, StoreError> {
    Ok(tx
        .execute(
            "DELETE FROM page_fetches WHERE fetched_at < $1",
            &[&timestamp(cutoff)],
        )
        .await? as usize)
}
