//! The commands' reads and `revive` on PostgreSQL: the same queries as SQLite's
//! ([`crate::store::Reader`], `store::poll::revive`) in PostgreSQL's words.

use futures_util::future::BoxFuture;
use futures_util::{StreamExt, pin_mut};

use super::{Db, PostgresStore, clean};
use crate::search::{SearchHit, SearchQuery};
use crate::store::{Catalog, ExportedDocument, SourceStatus, StoreError};

impl Catalog for PostgresStore {
    fn sources(&self) -> BoxFuture<'_, Result<Vec<SourceStatus>, StoreError>> {
        Box::pin(async move {
            in_transaction!(self, begin_read, |tx| {
                let rows = tx
                    .query(
                        "SELECT s.id, s.url, s.name, s.title, s.status, s.last_polled_at,
                                s.last_success_at, s.next_poll_at, s.next_poll_reason,
                                s.consecutive_errors, s.last_error,
                                (SELECT count(DISTINCT article_id) FROM entries e
                                 WHERE e.source_id = s.id),
                                CASE WHEN s.identity = 'link' THEN s.identity_reason END,
                                p.pages_last_day, p.extracted_last_day, p.reasons_last_day
                         FROM sources s JOIN page_health p ON p.id = s.id ORDER BY s.id",
                        &[],
                    )
                    .await?;
                Ok(rows
                    .iter()
                    .map(|r| SourceStatus {
                        id: r.get(0),
                        url: r.get(1),
                        name: r.get(2),
                        title: r.get(3),
                        status: r.get(4),
                        last_polled_at: r.get(5),
                        last_success_at: r.get(6),
                        next_poll_at: r.get(7),
                        next_poll_reason: r.get(8),
                        consecutive_errors: r.get(9),
                        last_error: r.get(10),
                        articles: r.get(11),
                        identity_reason: r.get(12),
                        pages_last_day: r.get(13),
                        full_text_last_day: r.get(14),
                        page_failures_last_day: r.get(15),
                    })
                    .collect())
            })
        })
    }

    fn revive<'a>(&'a self, source: &'a str) -> BoxFuture<'a, Result<Option<String>, StoreError>> {
        Box::pin(async move {
            in_transaction!(self, begin, |tx| {
                let url = tx
                    .query_opt(
                        "UPDATE sources SET status = 'active', next_poll_at = NULL,
                                next_poll_reason = NULL, consecutive_errors = 0
                         WHERE (id::text = $1 OR url = $1
                                OR id IN (SELECT source_id FROM source_aliases WHERE url = $1))
                           AND status NOT IN ('removed', 'paused')
                         RETURNING url",
                        &[&clean(source)],
                    )
                    .await?
                    .map(|r| r.get(0));
                Ok(url)
            })
        })
    }

    fn article_count(&self) -> BoxFuture<'_, Result<u64, StoreError>> {
        Box::pin(async move {
            in_transaction!(self, begin_read, |tx| {
                let count: i64 = tx
                    .query_one("SELECT count(*) FROM articles", &[])
                    .await?
                    .get(0);
                Ok(count as u64)
            })
        })
    }

    fn for_each_document<'a>(
        &'a self,
        each: &'a mut (dyn FnMut(ExportedDocument) -> std::io::Result<()> + Send),
    ) -> BoxFuture<'a, Result<std::io::Result<()>, StoreError>> {
        Box::pin(async move {
            // One snapshot, streamed row by row: no more than a document in memory.
            in_transaction!(self, begin_read, |tx| {
                let statement = tx
                    .statement("SELECT key, document FROM articles ORDER BY id")
                    .await?;
                let rows = tx
                    .tx
                    .query_raw(&statement, std::iter::empty::<i64>())
                    .await?;
                pin_mut!(rows);
                while let Some(row) = rows.next().await {
                    let row = row?;
                    let doc = ExportedDocument {
                        key: row.get(0),
                        document: row.get(1),
                    };
                    if let Err(e) = each(doc) {
                        return Ok(Err(e));
                    }
                }
                Ok(Ok(()))
            })
        })
    }

    fn search<'a>(
        &'a self,
        query: &'a SearchQuery,
    ) -> BoxFuture<'a, Result<Vec<SearchHit>, StoreError>> {
        Box::pin(async move {
            in_transaction!(self, begin_read, |tx| {
                let hits = super::search::search(&tx, query).await?;
                Ok(hits)
            })
        })
    }

    fn documents_by_key<'a>(
        &'a self,
        prefix: &'a str,
    ) -> BoxFuture<'a, Result<Vec<ExportedDocument>, StoreError>> {
        Box::pin(async move {
            in_transaction!(self, begin_read, |tx| {
                let documents = super::search::documents_by_key(&tx, prefix).await?;
                Ok(documents)
            })
        })
    }
}
