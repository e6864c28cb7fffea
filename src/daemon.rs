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
use crate::feed::FeedHints;
use crate::fetch::{FetchSettings, Fetcher};
use crate::pipeline::{self, SourceToPoll};
use crate::politeness::Politeness;
use crate::schedule::{self, Policy};
use crate::store::writer::{Pruned, Retention, Writer};
use crate::store::{self, PollCounts, PollOutcome, PollRecord, SourceSpec};

/// How long running polls may take to finish after a stop is asked for.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// The loop wakes at least this often, so a clock jump never leaves it asleep for long.
const MAX_SLEEP: Duration = Duration::from_secs(60);
/// How often old `fetches` rows (and, with `article_retention`, old articles) are pruned while
/// running.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// A configured source with the state the loop keeps between polls.
#[derive(Debug, Clone)]
struct Source {
    name: String,
    host: String,
    poll: SourceToPoll,
    next_poll_at: Option<DateTime<Utc>>,
    next_poll_reason: Option<String>,
    active: bool,
}

impl Source {
    /// Whether a Retry-After still holds for this source or its host.
    fn asked_to_wait(&self, politeness: &Politeness, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let own = (self.next_poll_reason.as_deref() == Some(schedule::Reason::RetryAfter.as_str()))
            .then_some(self.next_poll_at)
            .flatten()
            .filter(|at| *at > now);
        own.into_iter()
            .chain(politeness.blocked_until(&self.host, now))
            .max()
    }
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
            None => {
                write!(
                    f,
                    "ok     {}: {} new, {} updated, {} items",
                    self.source, self.counts.new, self.counts.updated, self.counts.seen
                )?;
                if self.counts.near_duplicates > 0 {
                    write!(f, ", {} near-duplicates", self.counts.near_duplicates)?;
                }
                if self.counts.removed > 0 {
                    write!(f, ", {} removed by retention", self.counts.removed)?;
                }
                Ok(())
            }
        }
    }
}

/// The open database, the writer and the sources: what both `once` and `run` start from.
pub struct Daemon {
    config: Config,
    fetcher: Fetcher,
    politeness: Arc<Politeness>,
    writer: Writer,
    sources: Vec<Source>,
}

fn host_of(url: &str) -> String {
    url::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_default()
}

impl Daemon {
    /// Opens (creating or migrating) the database and syncs the sources of `config` into it.
    pub async fn start(config: Config) -> anyhow::Result<Daemon> {
        let path = config.database.clone();
        let conn = tokio::task::spawn_blocking(move || store::open_for_writing(&path)).await??;
        let writer = Writer::start(conn, config.near_duplicates)?;
        let specs = config
            .sources
            .iter()
            .map(|s| SourceSpec {
                url: s.url.clone(),
                name: s.name.clone(),
            })
            .collect();
        let synced = writer.handle().sync_sources(specs).await?;
        let overrides = config
            .hosts
            .iter()
            .map(|(host, l)| (host.clone(), (l.per_host, l.host_delay)))
            .collect();
        let politeness = Arc::new(Politeness::with_overrides(
            config.per_host,
            config.host_delay,
            overrides,
        ));
        for (host, until) in &synced.host_blocks {
            politeness.block_host(host, *until);
        }
        if let Some(at) = synced.last_network_success {
            politeness.network_seen_up(at);
        }
        let tracking = Arc::new(config.tracking_params.clone());
        let sources = config
            .sources
            .iter()
            .zip(synced.sources)
            .map(|(cfg, state)| Source {
                name: cfg.name.clone().unwrap_or_else(|| cfg.url.clone()),
                host: host_of(&state.url),
                active: state.status == "active",
                next_poll_at: state.next_poll_at,
                next_poll_reason: state.next_poll_reason,
                poll: SourceToPoll {
                    id: state.id,
                    url: state.url,
                    user_agent: config.user_agent_of(cfg).to_owned(),
                    timezone: cfg.timezone,
                    allow_private: cfg.allow_private,
                    validators: state.validators,
                    body_hash: state.body_hash,
                    policy: Policy {
                        pinned: cfg.interval,
                        start: config.interval,
                        min: config.min_interval,
                        max: config.max_interval,
                        max_backoff: config.max_backoff,
                    },
                    history: state.history,
                    feed_hints: state.hints,
                    consecutive_errors: state.consecutive_errors,
                    site_url: state.site_url,
                    identity_basis: state.identity_basis,
                    tracking: tracking.clone(),
                },
            })
            .collect();
        let fetcher = Fetcher::new(FetchSettings {
            user_agent: config.user_agent.clone(),
            connect_timeout: config.connect_timeout,
            timeout: config.timeout,
            max_bytes: config.max_feed_bytes,
        })?;
        let daemon = Daemon {
            config,
            fetcher,
            politeness,
            writer,
            sources,
        };
        daemon.prune().await;
        Ok(daemon)
    }

    async fn prune(&self) {
        let now = Utc::now();
        let before = |age: Duration| {
            chrono::Duration::from_std(age)
                .ok()
                .and_then(|age| now.checked_sub_signed(age))
                .unwrap_or(DateTime::<Utc>::MIN_UTC)
        };
        let retention = Retention {
            fetches_before: before(self.config.fetch_retention),
            articles_before: self
                .config
                .article_retention
                .map(|age| before(age).format("%Y-%m-%d").to_string()),
        };
        match self.writer.handle().prune(retention).await {
            Ok(pruned) if pruned == Pruned::default() => {}
            Ok(pruned) => tracing::info!(
                fetches = pruned.fetches,
                articles = pruned.articles,
                "pruned old fetches and articles"
            ),
            Err(e) => tracing::error!(error = %e, "pruning failed"),
        }
    }

    /// Polls every active source that is due (every one with `force`, except those a server
    /// asked to wait), calling `report` as each finishes, then closes the database. Stops
    /// early (finishing what runs) when `shutdown` fires.
    pub async fn once(
        mut self,
        force: bool,
        shutdown: CancellationToken,
        mut report: impl FnMut(&PollSummary),
    ) -> anyhow::Result<Vec<PollSummary>> {
        let now = Utc::now();
        let chosen: Vec<usize> = (0..self.sources.len())
            .filter(|&i| {
                let s = &self.sources[i];
                s.active
                    && s.asked_to_wait(&self.politeness, now).is_none()
                    && (force || schedule::is_due(s.next_poll_at, now))
            })
            .collect();
        let mut polls = JoinSet::new();
        let limit = Arc::new(Semaphore::new(self.config.concurrency));
        self.spawn_polls(&chosen, &limit, &mut polls);
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
        let mut last_prune = tokio::time::Instant::now();
        tracing::info!(
            sources = self.sources.len(),
            database = %self.config.database.display(),
            "gleaner is running"
        );
        loop {
            let now = Utc::now();
            let mut due = Vec::new();
            for i in 0..self.sources.len() {
                let s = &mut self.sources[i];
                if in_flight.contains(&i) || !s.active || !schedule::is_due(s.next_poll_at, now) {
                    continue;
                }
                if let Some(until) = self.politeness.blocked_until(&s.host, now) {
                    // Its host said 429: not before then, and no request is spent on it.
                    s.next_poll_at = Some(until);
                    s.next_poll_reason = Some(schedule::Reason::RetryAfter.as_str().into());
                    continue;
                }
                due.push(i);
            }
            in_flight.extend(&due);
            self.spawn_polls(&due, &limit, &mut polls);
            if last_prune.elapsed() >= PRUNE_EVERY {
                last_prune = tokio::time::Instant::now();
                self.prune().await;
            }

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
            let politeness = Arc::clone(&self.politeness);
            let writer = self.writer.handle();
            let limit = Arc::clone(limit);
            set.spawn(async move {
                let _permit = limit.acquire_owned().await;
                let started_at = Utc::now();
                // A poll runs in a task of its own so that even a bug that panics in it is one
                // failed poll of one source, recorded like any other error.
                let polled = {
                    let source = source.clone();
                    tokio::spawn(
                        async move { pipeline::poll(&fetcher, &politeness, &source).await },
                    )
                    .await
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
        source.next_poll_reason = Some(record.next_poll_reason.into());
        if let Some((host, until)) = &record.block_host {
            self.politeness.block_host(host, *until);
        }
        let error = match &written {
            Ok(counts) => {
                let poll = &mut source.poll;
                if let Some(v) = record.validators {
                    poll.validators = v;
                }
                if let Some(h) = record.body_hash {
                    poll.body_hash = Some(h);
                }
                if let Some(hints) = record.feed_hints {
                    poll.feed_hints = hints;
                }
                if record.site_url.is_some() {
                    poll.site_url = record.site_url;
                }
                if let Some(basis) = counts.identity_basis {
                    poll.identity_basis = basis;
                }
                if !record.history.is_empty() {
                    poll.history = record.history;
                }
                match (&record.error, record.charged) {
                    (None, _) => poll.consecutive_errors = 0,
                    (Some(_), true) => {
                        poll.consecutive_errors = poll.consecutive_errors.saturating_add(1)
                    }
                    (Some(_), false) => {}
                }
                if record.gone {
                    source.active = false;
                    source.next_poll_at = None;
                }
                if let Some(url) = &counts.moved_to {
                    source.poll.url = url.clone();
                    source.host = host_of(url);
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
    next_poll_reason: &'static str,
    validators: Option<crate::fetch::Validators>,
    body_hash: Option<String>,
    feed_hints: Option<FeedHints>,
    site_url: Option<String>,
    history: Vec<DateTime<Utc>>,
    error: Option<String>,
    charged: bool,
    gone: bool,
    block_host: Option<(String, DateTime<Utc>)>,
    not_modified: bool,
}

impl RecordSummary {
    fn of(record: &PollRecord) -> RecordSummary {
        let mut summary = RecordSummary {
            next_poll_at: record.next.at,
            next_poll_reason: record.next.reason.as_str(),
            validators: None,
            body_hash: None,
            feed_hints: None,
            site_url: None,
            history: Vec::new(),
            error: None,
            charged: false,
            gone: false,
            block_host: None,
            not_modified: matches!(
                record.outcome,
                PollOutcome::NotModified { .. } | PollOutcome::Unchanged { .. }
            ),
        };
        match &record.outcome {
            PollOutcome::NotModified { .. } => {}
            PollOutcome::Unchanged { validators, .. } => {
                summary.validators = Some(validators.clone())
            }
            PollOutcome::Parsed {
                validators,
                body_hash,
                hints,
                items,
                site_url,
                ..
            } => {
                summary.validators = Some(validators.clone());
                summary.body_hash = Some(body_hash.clone());
                summary.feed_hints = Some(hints.clone());
                summary.site_url = site_url.clone();
                summary.history = items
                    .iter()
                    .filter_map(|i| i.rendered.published_at)
                    .collect();
            }
            PollOutcome::Failed {
                class,
                message,
                charged,
                retry_after,
                block_host,
                ..
            } => {
                summary.error = Some(format!("{class}: {message}"));
                summary.charged = *charged;
                summary.gone = *class == "gone";
                summary.block_host = block_host.clone().zip(*retry_after);
            }
        }
        summary
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
            near_duplicates = summary.counts.near_duplicates,
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
