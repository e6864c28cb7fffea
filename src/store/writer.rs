//! The single writer: one thread owns the read-write connection and applies jobs sent over a
//! channel. Polls that queue up together share one transaction (each in its own savepoint, so a
//! failing one is rolled back alone): batching is what makes FTS5 inserts fast, and a batch
//! stays small so that the write lock is held briefly.

use std::thread::JoinHandle;

use chrono::{DateTime, Utc};
use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use super::StoreError;
use super::poll::{self, SourceSpec};
use super::{articles, pages};
use crate::dedup::NearDuplicates;
use crate::dedup::simhash::BandIndex;
use crate::record::{PollCounts, PollRecord};
use crate::source::SourceState;

/// Items written in one transaction at most, so the write lock is never held long.
const BATCH_ITEMS: usize = 2_000;
const QUEUE: usize = 256;

enum Job {
    Sync(Vec<SourceSpec>, oneshot::Sender<Result<Synced, StoreError>>),
    Poll(
        Box<PollRecord>,
        oneshot::Sender<Result<PollCounts, StoreError>>,
    ),
    Prune(Retention, oneshot::Sender<Result<Pruned, StoreError>>),
}

/// What to forget: fetches started before a time, articles dated before a day (`YYYY-MM-DD`).
#[derive(Debug, Clone)]
pub struct Retention {
    pub fetches_before: DateTime<Utc>,
    pub articles_before: Option<String>,
}

/// What pruning removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    pub fetches: usize,
    pub articles: u64,
}

/// The configured sources as the database knows them, and the hosts that asked for quiet.
#[derive(Debug)]
pub struct Synced {
    pub sources: Vec<SourceState>,
    pub host_blocks: Vec<(String, DateTime<Utc>)>,
    /// When a web server last answered, to tell a dead feed from a dead network.
    pub last_network_success: Option<DateTime<Utc>>,
}

/// A cheap, cloneable way to send writes to the writer thread.
#[derive(Clone)]
pub struct WriterHandle {
    jobs: mpsc::Sender<Job>,
}

/// Owns the writer thread; [`Writer::close`] waits for every queued write to be committed.
pub struct Writer {
    handle: WriterHandle,
    thread: JoinHandle<()>,
}

impl Writer {
    pub(crate) fn start(conn: Connection, near: NearDuplicates) -> std::io::Result<Writer> {
        let (jobs, queue) = mpsc::channel(QUEUE);
        let thread = std::thread::Builder::new()
            .name("gleaner-writer".into())
            .spawn(move || run(conn, queue, near))?;
        Ok(Writer {
            handle: WriterHandle { jobs },
            thread,
        })
    }

    pub fn handle(&self) -> WriterHandle {
        self.handle.clone()
    }

    /// Stops taking jobs once every handle is dropped, commits what is queued, closes the
    /// database. Blocking: call it from a blocking context.
    pub fn close(self) {
        drop(self.handle);
        if self.thread.join().is_err() {
            tracing::error!("the database writer thread panicked");
        }
    }
}

impl WriterHandle {
    pub async fn sync_sources(&self, specs: Vec<SourceSpec>) -> Result<Synced, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Job::Sync(specs, reply))
            .await
            .map_err(|_| StoreError::WriterGone)?;
        answer.await.map_err(|_| StoreError::WriterGone)?
    }

    /// Forgets what `retention` says and expired host blocks; old articles are remembered by
    /// their identities so they are not stored again.
    pub async fn prune(&self, retention: Retention) -> Result<Pruned, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Job::Prune(retention, reply))
            .await
            .map_err(|_| StoreError::WriterGone)?;
        answer.await.map_err(|_| StoreError::WriterGone)?
    }

    pub async fn record_poll(&self, record: PollRecord) -> Result<PollCounts, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Job::Poll(Box::new(record), reply))
            .await
            .map_err(|_| StoreError::WriterGone)?;
        answer.await.map_err(|_| StoreError::WriterGone)?
    }
}

fn run(mut conn: Connection, mut queue: mpsc::Receiver<Job>, near: NearDuplicates) {
    let mut pending: Option<Job> = None;
    // Fingerprints of recent articles, loaded when first needed and again whenever they may
    // no longer match the database (a rolled-back write, articles pruned).
    let mut recent: Option<BandIndex> = None;
    loop {
        let job = match pending.take() {
            Some(job) => job,
            None => match queue.blocking_recv() {
                Some(job) => job,
                None => break,
            },
        };
        match job {
            Job::Sync(specs, reply) => {
                let _ = reply.send(sync(&mut conn, &specs));
            }
            Job::Prune(retention, reply) => {
                let _ = reply.send(prune(&mut conn, &retention));
                // Also how fingerprints that left the window stop taking memory.
                recent = None;
            }
            Job::Poll(first, reply) => {
                let mut batch = vec![(first, reply)];
                let mut items = batch[0].0.item_count();
                while items < BATCH_ITEMS {
                    match queue.try_recv() {
                        Ok(Job::Poll(record, reply)) => {
                            items += record.item_count();
                            batch.push((record, reply));
                        }
                        Ok(other) => {
                            pending = Some(other);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                write_batch(&mut conn, batch, &near, &mut recent);
            }
        }
    }
    // Dropping the last connection checkpoints the WAL into the main file.
    if let Err((_, e)) = conn.close() {
        tracing::error!(error = %e, "closing the database");
    }
}

fn sync(conn: &mut Connection, specs: &[SourceSpec]) -> Result<Synced, StoreError> {
    let tx = conn.transaction()?;
    let now = Utc::now();
    let sources = poll::sync_sources(&tx, specs, now)?;
    let host_blocks = poll::host_blocks(&tx, now)?;
    let last_network_success = poll::last_network_success(&tx)?;
    tx.commit()?;
    Ok(Synced {
        sources,
        host_blocks,
        last_network_success,
    })
}

fn prune(conn: &mut Connection, retention: &Retention) -> Result<Pruned, StoreError> {
    let now = Utc::now();
    let fetches = poll::prune(conn, retention.fetches_before, now)?
        + pages::prune(conn, retention.fetches_before)?;
    let articles = match &retention.articles_before {
        Some(before) => articles::remove_old_articles(conn, before, now)?,
        None => 0,
    };
    Ok(Pruned { fetches, articles })
}

type Reply = oneshot::Sender<Result<PollCounts, StoreError>>;

fn write_batch(
    conn: &mut Connection,
    batch: Vec<(Box<PollRecord>, Reply)>,
    near: &NearDuplicates,
    recent: &mut Option<BandIndex>,
) {
    let mut results = Vec::with_capacity(batch.len());
    let outcome = (|| -> Result<(), StoreError> {
        let mut tx = conn.transaction()?;
        let index = match recent {
            Some(index) => index,
            None => recent.insert(articles::load_recent_fingerprints(&tx, Utc::now(), near)?),
        };
        for (record, _) in &batch {
            let sp = tx.savepoint()?;
            // A savepoint derefs to the connection the poll is written through.
            let result = poll::record_poll(&sp, record, near, index);
            match result {
                Ok(_) => sp.commit()?,
                Err(_) => drop(sp), // rolled back on drop
            }
            results.push(result);
        }
        tx.commit()?;
        Ok(())
    })();
    if outcome.is_err() || results.iter().any(Result::is_err) {
        // The index may hold fingerprints of articles that were rolled back.
        *recent = None;
    }
    match outcome {
        Ok(()) => {
            for ((_, reply), result) in batch.into_iter().zip(results) {
                if let Err(e) = &result {
                    tracing::error!(error = %e, "writing a poll failed");
                }
                let _ = reply.send(result);
            }
        }
        Err(e) => {
            // The transaction as a whole failed (a full disk, say): nothing of it was written.
            tracing::error!(error = %e, "writing a batch of polls failed");
            let message = e.to_string();
            for (_, reply) in batch {
                let _ = reply.send(Err(StoreError::Write(message.clone())));
            }
        }
    }
}

impl PollRecord {
    fn item_count(&self) -> usize {
        match &self.outcome {
            crate::record::PollOutcome::Parsed { items, .. } => items.len().max(1),
            _ => 1,
        }
    }
}
