//! The store as the daemon sees it: what it asks of a database, in gleaner's own types, never
//! a driver's. [`SqliteStore`] and [`super::PostgresStore`] implement it; which one runs is
//! chosen at start from the configured `database` ([`super::database`]).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;

use super::writer::{Pruned, Retention, Synced, Writer, WriterHandle};
use super::{Reader, SourceSpec, StoreError};
use crate::dedup::NearDuplicates;
use crate::record::{PageKnown, PageQuery, PollCounts, PollRecord};
use crate::source::SourceState;

/// What the daemon's loop reads each tick.
#[derive(Debug, Default)]
pub struct Due {
    /// The active sources due now, except those asked to be skipped.
    pub sources: Vec<SourceState>,
    /// The earliest poll planned after now: when to wake next.
    pub next_poll_after: Option<DateTime<Utc>>,
    /// Hosts that asked (429) not to be polled before a time still to come.
    pub host_blocks: Vec<(String, DateTime<Utc>)>,
}

/// A database gleaner can run on. Every method may be called from many tasks at once; writes
/// are applied in the order they are given, each whole or not at all.
pub trait Store: Send + Sync {
    /// Makes the sources match the configuration; their states, host blocks and the last time
    /// the network answered.
    fn sync_sources(&self, specs: Vec<SourceSpec>) -> BoxFuture<'_, Result<Synced, StoreError>>;

    /// Writes one poll: its fetch, its items (and pages) and the source's new state.
    fn record_poll(&self, record: PollRecord) -> BoxFuture<'_, Result<PollCounts, StoreError>>;

    /// Forgets old fetches and articles as `retention` says.
    fn prune(&self, retention: Retention) -> BoxFuture<'_, Result<Pruned, StoreError>>;

    /// The due sources (except `skip`, those this process is polling or holding back), the
    /// next planned poll and the blocked hosts.
    ///
    /// Where several processes share the database (PostgreSQL), the sources returned are
    /// leased to this one: at most `limit`, none another process holds or whose host it holds,
    /// and the leases of `skip` are renewed. This process then polls them or hands them back
    /// with [`Store::release`]. Where one process owns the database (SQLite), every due source
    /// is returned and `limit` is not applied: the daemon's concurrency limit queues them.
    fn due(
        &self,
        now: DateTime<Utc>,
        skip: HashSet<i64>,
        limit: usize,
    ) -> BoxFuture<'_, Result<Due, StoreError>>;

    /// Hands back sources [`Store::due`] returned that this process will not poll after all.
    fn release(&self, sources: Vec<i64>) -> BoxFuture<'_, Result<(), StoreError>>;

    /// Whether this process may send requests to `host` now (an article page's, whose host no
    /// source lease covers). Always where one process owns the database (SQLite); on
    /// PostgreSQL, when no other process holds the host's lease, which is then this one's for
    /// the lease time: per-host limits hold across processes for pages too.
    fn claim_host(&self, host: String) -> BoxFuture<'_, Result<bool, StoreError>>;

    /// Which of `queries` (items of source `source_id`) have their page for their revision.
    fn pages_known(
        &self,
        source_id: i64,
        queries: Vec<PageQuery>,
    ) -> BoxFuture<'_, Result<Vec<PageKnown>, StoreError>>;

    /// Commits what is queued and closes the database. Calls after it fail with
    /// [`StoreError::WriterGone`].
    fn close(&self) -> BoxFuture<'_, ()>;
}

/// The SQLite store: one writer thread owning the read-write connection, and one read-only
/// connection for the loop's reads (WAL: reads never wait for writes).
pub struct SqliteStore {
    path: PathBuf,
    writer: Mutex<Option<Writer>>,
    /// `None` once closed.
    reader: Arc<Mutex<Option<Reader>>>,
}

impl SqliteStore {
    /// Opens (creating or migrating) the database at `path` and starts its writer.
    pub async fn open(path: &Path, near: NearDuplicates) -> Result<SqliteStore, StoreError> {
        let owned = path.to_owned();
        let conn = tokio::task::spawn_blocking(move || super::open_for_writing(&owned))
            .await
            .map_err(|e| StoreError::Write(e.to_string()))??;
        let writer = Writer::start(conn, near).map_err(|e| StoreError::Write(e.to_string()))?;
        let owned = path.to_owned();
        let reader = match tokio::task::spawn_blocking(move || Reader::open(&owned)).await {
            Ok(Ok(reader)) => reader,
            failed => {
                let _ = tokio::task::spawn_blocking(move || writer.close()).await;
                return Err(match failed {
                    Ok(Err(e)) => e,
                    Err(e) => StoreError::Write(e.to_string()),
                    Ok(Ok(_)) => unreachable!("matched above"),
                });
            }
        };
        Ok(SqliteStore {
            path: path.to_owned(),
            writer: Mutex::new(Some(writer)),
            reader: Arc::new(Mutex::new(Some(reader))),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn handle(&self) -> Result<WriterHandle, StoreError> {
        lock(&self.writer)
            .as_ref()
            .map(Writer::handle)
            .ok_or(StoreError::WriterGone)
    }

    /// Runs `read` on the read-only connection, on the blocking pool.
    async fn read<T: Send + 'static>(
        &self,
        read: impl FnOnce(&Reader) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let reader = Arc::clone(&self.reader);
        tokio::task::spawn_blocking(move || match lock(&reader).as_ref() {
            Some(reader) => read(reader),
            None => Err(StoreError::WriterGone),
        })
        .await
        .map_err(|e| StoreError::Write(format!("a read stopped unexpectedly: {e}")))?
    }
}

impl Store for SqliteStore {
    fn sync_sources(&self, specs: Vec<SourceSpec>) -> BoxFuture<'_, Result<Synced, StoreError>> {
        Box::pin(async move { self.handle()?.sync_sources(specs).await })
    }

    fn record_poll(&self, record: PollRecord) -> BoxFuture<'_, Result<PollCounts, StoreError>> {
        Box::pin(async move { self.handle()?.record_poll(record).await })
    }

    fn prune(&self, retention: Retention) -> BoxFuture<'_, Result<Pruned, StoreError>> {
        Box::pin(async move { self.handle()?.prune(retention).await })
    }

    fn due(
        &self,
        now: DateTime<Utc>,
        skip: HashSet<i64>,
        _limit: usize,
    ) -> BoxFuture<'_, Result<Due, StoreError>> {
        Box::pin(self.read(move |reader| {
            Ok(Due {
                host_blocks: reader.host_blocks(now)?,
                sources: reader.due_sources(now, |id| skip.contains(&id))?,
                next_poll_after: reader.next_poll_after(now)?,
            })
        }))
    }

    fn release(&self, _sources: Vec<i64>) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async { Ok(()) })
    }

    fn claim_host(&self, _host: String) -> BoxFuture<'_, Result<bool, StoreError>> {
        Box::pin(async { Ok(true) })
    }

    fn pages_known(
        &self,
        source_id: i64,
        queries: Vec<PageQuery>,
    ) -> BoxFuture<'_, Result<Vec<PageKnown>, StoreError>> {
        Box::pin(self.read(move |reader| reader.pages_known(source_id, &queries)))
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let Some(writer) = lock(&self.writer).take() else {
                return;
            };
            // The writer must be the last connection to close: only the last one checkpoints
            // the WAL into the database and removes it. The reader is closed first.
            let reader = Arc::clone(&self.reader);
            let closed = tokio::task::spawn_blocking(move || {
                drop(lock(&reader).take());
                writer.close();
            })
            .await;
            if closed.is_err() {
                tracing::error!("closing the database failed");
            }
        })
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
