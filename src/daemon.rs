//! Wiring: open the database, start the writer, bring `sources` in line with the configuration,
//! then poll, either once (`gleaner once`) or forever on the schedule (`gleaner run`), with a
//! global limit on polls in flight and a clean stop on SIGINT/SIGTERM.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::fetch::{FetchSettings, Fetcher};
use crate::pipeline::{self, SourceToPoll};
use crate::schedule;
use crate::store::{self, PollCounts, PollOutcome, PollRecord, SourceSpec, writer::Writer};

/// How long running polls may take to finish after a stop is asked for.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// The loop wakes at least this often, so a clock jump never leaves it asleep for long.
const MAX_SLEEP: Duration = Duration::from_secs(60);

/// A configured source with the state the loop keeps between polls.
#[derive(Debug, Clone)]
struct Source {
    name: String,
    poll: SourceToPoll,
    next_poll_at: Option<DateTime<Utc>>,
    active: bool,
}

/// What one poll did, for the summary line of `gleaner once` and the log.
#[derive(Debug, Clone)]
pub struct PollSummary {
    pub source: String,
    pub url: String,
    pub counts: PollCounts,
    /// `None` on success.
    pub error: Option<String>,
    pub not_modified: bool,
}

impl std::fmt::Display for PollSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.error {
            Some(error) => write!(f, "error  {}: {error}", self.source),
            None if self.not_modified => write!(f, "ok     {}: not modified", self.source),
            None => write!(
                f,
                "ok     {}: {} new, {} updated, {} items",
                self.source, self.counts.new, self.counts.updated, self.counts.seen
            ),
        }
    }
}

/// The open database, the writer and the sources: what both `once` and `run` start from.
pub struct Daemon {
    config: Config,
    fetcher: Fetcher,
    writer: Writer,
    sources: Vec<Source>,
}

impl Daemon {
    /// Opens (creating or migrating) the database and syncs the sources of `config` into it.
    pub async fn start(config: Config) -> anyhow::Result<Daemon> {
        let path = config.database.clone();
        let conn = tokio::task::spawn_blocking(move || store::open_for_writing(&path)).await??;
        let writer = Writer::start(conn)?;
        let specs = config
            .sources
            .iter()
            .map(|s| SourceSpec {
                url: s.url.clone(),
                name: s.name.clone(),
            })
            .collect();
        let states = writer.handle().sync_sources(specs).await?;
        let sources = config
            .sources
            .iter()
            .zip(states)
            .map(|(cfg, state)| Source {
                name: cfg.name.clone().unwrap_or_else(|| cfg.url.clone()),
                active: state.status == "active",
                next_poll_at: state.next_poll_at,
                poll: SourceToPoll {
                    id: state.id,
                    url: state.url,
                    interval: config.interval_of(cfg),
                    timezone: cfg.timezone,
                    validators: state.validators,
                    body_hash: state.body_hash,
                },
            })
            .collect();
        let fetcher = Fetcher::new(FetchSettings {
            user_agent: config.user_agent.clone(),
            connect_timeout: config.connect_timeout,
            timeout: config.timeout,
            max_bytes: config.max_feed_bytes,
        })?;
        Ok(Daemon {
            config,
            fetcher,
            writer,
            sources,
        })
    }

    /// Polls every active source once, calling `report` as each finishes, then closes the
    /// database. Stops early (finishing what runs) when `shutdown` fires.
    pub async fn once(
        mut self,
        shutdown: CancellationToken,
        mut report: impl FnMut(&PollSummary),
    ) -> anyhow::Result<Vec<PollSummary>> {
        let all: Vec<usize> = (0..self.sources.len())
            .filter(|&i| self.sources[i].active)
            .collect();
        let mut polls = JoinSet::new();
        let limit = Arc::new(Semaphore::new(self.config.concurrency));
        self.spawn_polls(&all, &limit, &mut polls);
        let mut summaries = Vec::new();
        loop {
            tokio::select! {
                done = polls.join_next() => match done {
                    None => break,
                    Some(Ok((index, record, written))) => {
                        let summary = self.absorb(index, record, written);
                        report(&summary);
                        summaries.push(summary);
                    }
                    Some(Err(e)) => tracing::error!(error = %e, "a poll task failed"),
                },
                _ = shutdown.cancelled() => {
                    tracing::info!("stop requested: finishing the polls in flight");
                    let deadline = tokio::time::sleep(SHUTDOWN_GRACE);
                    self.drain(&mut polls, deadline).await;
                    break;
                }
            }
        }
        self.close().await;
        Ok(summaries)
    }

    /// Polls each source whenever it is due until `shutdown` fires, then stops cleanly.
    pub async fn run(mut self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let limit = Arc::new(Semaphore::new(self.config.concurrency));
        let mut in_flight: HashSet<usize> = HashSet::new();
        let mut polls = JoinSet::new();
        tracing::info!(
            sources = self.sources.len(),
            database = %self.config.database.display(),
            "gleaner is running"
        );
        loop {
            let now = Utc::now();
            let due: Vec<usize> = (0..self.sources.len())
                .filter(|i| !in_flight.contains(i))
                .filter(|&i| self.sources[i].active)
                .filter(|&i| schedule::is_due(self.sources[i].next_poll_at, now))
                .collect();
            in_flight.extend(&due);
            self.spawn_polls(&due, &limit, &mut polls);

            let next_wake = (0..self.sources.len())
                .filter(|i| !in_flight.contains(i) && self.sources[*i].active)
                .filter_map(|i| self.sources[i].next_poll_at)
                .min()
                .map(|at| (at - now).to_std().unwrap_or(Duration::ZERO))
                .unwrap_or(MAX_SLEEP)
                .min(MAX_SLEEP);

            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(next_wake) => {}
                Some(result) = polls.join_next(), if !polls.is_empty() => match result {
                    Ok((index, record, written)) => {
                        in_flight.remove(&index);
                        let summary = self.absorb(index, record, written);
                        log_summary(&summary);
                    }
                    // Only an aborted task gets here: every poll's own failure is a record.
                    Err(e) => tracing::error!(error = %e, "a poll task failed"),
                },
            }
        }
        tracing::info!(
            in_flight = polls.len(),
            "stop requested: finishing the polls in flight"
        );
        self.drain(&mut polls, tokio::time::sleep(SHUTDOWN_GRACE))
            .await;
        self.close().await;
        tracing::info!("stopped cleanly");
        Ok(())
    }

    fn spawn_polls(&self, indices: &[usize], limit: &Arc<Semaphore>, set: &mut PollSet) {
        for &index in indices {
            let source = self.sources[index].poll.clone();
            let fetcher = self.fetcher.clone();
            let writer = self.writer.handle();
            let limit = Arc::clone(limit);
            set.spawn(async move {
                let _permit = limit.acquire_owned().await;
                let started_at = Utc::now();
                // A poll runs in a task of its own so that even a bug that panics in it is one
                // failed poll of one source, recorded like any other error.
                let polled = {
                    let source = source.clone();
                    tokio::spawn(async move { pipeline::poll(&fetcher, &source).await }).await
                };
                let record = polled.unwrap_or_else(|e| {
                    pipeline::failure(
                        &source,
                        started_at,
                        "internal",
                        format!("the poll stopped unexpectedly: {e}"),
                    )
                });
                let summary = RecordSummary::of(&record);
                let written = writer.record_poll(record).await;
                (index, summary, written)
            });
        }
    }

    /// Folds a finished poll into the in-memory state and summarises it.
    fn absorb(
        &mut self,
        index: usize,
        record: RecordSummary,
        written: Result<PollCounts, store::StoreError>,
    ) -> PollSummary {
        let source = &mut self.sources[index];
        source.next_poll_at = Some(record.next_poll_at);
        let error = match &written {
            Ok(_) => {
                if let Some(v) = record.validators {
                    source.poll.validators = v;
                }
                if let Some(h) = record.body_hash {
                    source.poll.body_hash = Some(h);
                }
                record.error
            }
            Err(e) => Some(format!("database: {e}")),
        };
        PollSummary {
            source: source.name.clone(),
            url: source.poll.url.clone(),
            counts: written.unwrap_or_default(),
            error,
            not_modified: record.not_modified,
        }
    }

    /// Waits for running polls until `deadline`, then abandons the rest: their writes either
    /// committed whole or never started.
    async fn drain(&mut self, polls: &mut PollSet, deadline: tokio::time::Sleep) {
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                done = polls.join_next() => match done {
                    None => return,
                    Some(Ok((index, record, written))) => {
                        let summary = self.absorb(index, record, written);
                        log_summary(&summary);
                    }
                    Some(Err(e)) => tracing::error!(error = %e, "a poll task failed"),
                },
                _ = &mut deadline => {
                    tracing::warn!(abandoned = polls.len(), "grace period over: abandoning polls in flight");
                    polls.abort_all();
                    while polls.join_next().await.is_some() {}
                    return;
                }
            }
        }
    }

    async fn close(self) {
        let writer = self.writer;
        if tokio::task::spawn_blocking(move || writer.close())
            .await
            .is_err()
        {
            tracing::error!("closing the database writer failed");
        }
    }
}

type PollSet = JoinSet<(usize, RecordSummary, Result<PollCounts, store::StoreError>)>;

/// The parts of a [`PollRecord`] the loop keeps after handing the record to the writer.
struct RecordSummary {
    next_poll_at: DateTime<Utc>,
    validators: Option<crate::fetch::Validators>,
    body_hash: Option<String>,
    error: Option<String>,
    not_modified: bool,
}

impl RecordSummary {
    fn of(record: &PollRecord) -> RecordSummary {
        let (validators, body_hash, error) = match &record.outcome {
            PollOutcome::NotModified { .. } => (None, None, None),
            PollOutcome::Unchanged { validators, .. } => (Some(validators.clone()), None, None),
            PollOutcome::Parsed {
                validators,
                body_hash,
                ..
            } => (Some(validators.clone()), Some(body_hash.clone()), None),
            PollOutcome::Failed { class, message, .. } => {
                (None, None, Some(format!("{class}: {message}")))
            }
        };
        RecordSummary {
            next_poll_at: record.next_poll_at,
            validators,
            body_hash,
            error,
            not_modified: matches!(
                record.outcome,
                PollOutcome::NotModified { .. } | PollOutcome::Unchanged { .. }
            ),
        }
    }
}

fn log_summary(summary: &PollSummary) {
    match &summary.error {
        Some(error) => {
            tracing::warn!(source = %summary.source, url = %summary.url, %error, "poll failed")
        }
        None => tracing::info!(
            source = %summary.source,
            new = summary.counts.new,
            updated = summary.counts.updated,
            items = summary.counts.seen,
            not_modified = summary.not_modified,
            "polled"
        ),
    }
}

/// A token cancelled by the first SIGINT or SIGTERM.
pub fn shutdown_on_signals() -> std::io::Result<CancellationToken> {
    use tokio::signal::unix::{SignalKind, signal};
    let token = CancellationToken::new();
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let cancel = token.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM received"),
            _ = int.recv() => tracing::info!("SIGINT received"),
        }
        cancel.cancel();
    });
    Ok(token)
}
