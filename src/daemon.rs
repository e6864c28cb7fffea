//! Wiring: open the database, start the writer, bring `sources` in line with the configuration,
//! then poll, either once (`gleaner once`) or forever on the schedule (`gleaner run`), with a
//! global limit on polls in flight, a reload on SIGHUP or when the configuration file changes
//! (`gleaner add`, `remove`, `pause`, ... edit it; checked each tick with one `stat`), and a
//! clean stop on SIGINT/SIGTERM.
//!
//! The loop keeps no copy of a source's state: each tick it asks the database which sources are
//! due, so whatever another process did (`gleaner revive`, `gleaner once`) is seen within
//! [`TICK`]. What it does keep is only what the database cannot hold: the polls in flight, and
//! the polls whose result could not be written, held back until the database takes writes.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, SourceConfig};
use crate::dedup::TrackingParams;
use crate::fetch::{FetchSettings, Fetcher};
use crate::full_text::{FullText, Pages};
use crate::notify::{self, Notifier};
use crate::pipeline::{self, SourceToPoll};
use crate::politeness::Politeness;
use crate::record::{FailureClass, PollCounts, PollOutcome, PollRecord};
use crate::robots::RobotsCache;
use crate::schedule::{Plan, Policy, Reason};
use crate::source::SourceState;
use crate::store::writer::{Pruned, Retention, Synced};
use crate::store::{self, Sharing, SourceSpec, Store, StoreError};

/// How long running polls may take to finish after a stop is asked for.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// How often the loop asks the database what is due: the longest a change made by another
/// process waits to be seen.
pub const TICK: Duration = Duration::from_secs(2);
/// How long a source whose poll could not be written waits before it is polled again: doubling
/// from the first to the last while the database keeps refusing.
pub const WRITE_RETRY: (Duration, Duration) = (Duration::from_secs(5), Duration::from_secs(300));
/// How long the configuration file must stay unchanged before a change is applied: a file
/// written in place (truncated, then filled) is read whole, not half-written.
const CONFIG_SETTLE: Duration = Duration::from_secs(1);
/// How often old `fetches` rows (and, with `article_retention`, old articles) are pruned while
/// running.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);
/// Longest wait between two attempts to open a busy database at start.
const START_RETRY_MAX: Duration = Duration::from_secs(30);

/// What one poll did, for the summary line of `gleaner once` and the log.
#[derive(Debug, Clone)]
pub struct PollSummary {
    pub source_id: i64,
    pub source: String,
    pub url: String,
    pub counts: PollCounts,
    /// The poll's own failure (`None` on success), recorded like any result.
    pub error: Option<String>,
    /// Why the result could not be written, when it could not.
    pub unrecorded: Option<String>,
    pub not_modified: bool,
}

impl std::fmt::Display for PollSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(cause) = &self.unrecorded {
            return write!(f, "error  {}: not recorded: {cause}", self.source);
        }
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
                if self.counts.pages > 0 {
                    write!(
                        f,
                        ", {} pages fetched, {} with full text",
                        self.counts.pages, self.counts.full_text
                    )?;
                }
                Ok(())
            }
        }
    }
}

impl PollSummary {
    /// What came of the poll, in one word: `ok`, `not_modified`, `error` (the poll failed, and
    /// that was recorded) or `unrecorded` (its result could not be written).
    pub fn outcome(&self) -> &'static str {
        if self.unrecorded.is_some() {
            "unrecorded"
        } else if self.error.is_some() {
            "error"
        } else if self.not_modified {
            "not_modified"
        } else {
            "ok"
        }
    }

    /// The same as the text line, as one JSON object (`gleaner once --json`; field names are a
    /// documented interface, README "Commands").
    pub fn to_json(&self) -> String {
        /// The fields in the order of the text line.
        #[derive(serde::Serialize)]
        struct Line<'a> {
            source_id: i64,
            source: &'a str,
            url: &'a str,
            outcome: &'static str,
            new: u64,
            updated: u64,
            items: u64,
            near_duplicates: u64,
            removed: u64,
            pages: u64,
            full_text: u64,
            error: Option<&'a str>,
        }
        let line = Line {
            source_id: self.source_id,
            source: &self.source,
            url: &self.url,
            outcome: self.outcome(),
            new: self.counts.new,
            updated: self.counts.updated,
            items: self.counts.seen,
            near_duplicates: self.counts.near_duplicates,
            removed: self.counts.removed,
            pages: self.counts.pages,
            full_text: self.counts.full_text,
            error: self.unrecorded.as_deref().or(self.error.as_deref()),
        };
        // Strings and numbers only: serialising cannot fail.
        serde_json::to_string(&line).unwrap_or_default()
    }
}

/// What the configuration says about polling one source (the database holds the rest).
#[derive(Debug, Clone)]
struct PollSettings {
    name: String,
    user_agent: String,
    timezone: Option<chrono_tz::Tz>,
    allow_private: bool,
    full_text: FullText,
    policy: Policy,
}

impl PollSettings {
    fn of(config: &Config, source: &SourceConfig) -> PollSettings {
        PollSettings {
            name: source.name.clone().unwrap_or_else(|| source.url.clone()),
            user_agent: config.user_agent_of(source).to_owned(),
            timezone: source.timezone,
            allow_private: source.allow_private,
            full_text: config.full_text_of(source),
            policy: Policy {
                pinned: source.interval,
                start: config.interval,
                min: config.min_interval,
                max: config.max_interval,
                max_backoff: config.max_backoff,
            },
        }
    }
}

/// Why the configuration is read again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reload {
    /// SIGHUP: the user asked.
    Asked,
    /// The file changed ([`ConfigWatch`]).
    FileChanged,
}

/// Notices that the configuration file changed (by its size, modification time and inode:
/// one `stat` per tick), so an edit by `gleaner add`, `remove`, `pause`, ... or by hand is
/// applied without a SIGHUP. A change is applied once the file has stayed the same for
/// [`CONFIG_SETTLE`].
struct ConfigWatch {
    path: std::path::PathBuf,
    applied: Option<FileStamp>,
    /// A change seen, and since when it has held.
    pending: Option<(Option<FileStamp>, Instant)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileStamp {
    len: u64,
    modified: Option<std::time::SystemTime>,
    inode: u64,
}

impl FileStamp {
    fn of(path: &std::path::Path) -> Option<FileStamp> {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(path).ok()?;
        Some(FileStamp {
            len: meta.len(),
            modified: meta.modified().ok(),
            inode: meta.ino(),
        })
    }
}

impl ConfigWatch {
    fn new(path: &std::path::Path) -> ConfigWatch {
        ConfigWatch {
            path: path.to_owned(),
            applied: FileStamp::of(path),
            pending: None,
        }
    }

    /// Whether the file changed since it was last applied and has settled: time to reload.
    fn due(&mut self) -> bool {
        let now = FileStamp::of(&self.path);
        if now == self.applied {
            self.pending = None;
            return false;
        }
        match self.pending {
            Some((seen, since)) if seen == now => since.elapsed() >= CONFIG_SETTLE,
            _ => {
                self.pending = Some((now, Instant::now()));
                false
            }
        }
    }

    /// The file as it is now has been applied (or refused: it is not read again until it
    /// changes).
    fn applied_now(&mut self) {
        self.applied = FileStamp::of(&self.path);
        self.pending = None;
    }
}

/// A poll whose result the database refused, kept to be recorded once it takes writes again.
struct Held {
    until: Instant,
    attempts: u32,
    source: SourceToPoll,
    started_at: DateTime<Utc>,
    cause: String,
}

/// What the daemon has done since it started, for the log and systemd's status line.
#[derive(Debug, Default)]
struct Tally {
    polls: u64,
    failed: u64,
    new_articles: u64,
    /// Why the database refuses writes, while it does.
    database_trouble: Option<String>,
}

/// The open database, the writer and the configured sources: what `once` and `run` start from.
pub struct Daemon {
    config: Config,
    /// The configuration's database path was overridden (`--database`): a reload keeps it.
    database_override: bool,
    settings: HashMap<i64, PollSettings>,
    /// The configured sources as the database knew them at the last sync.
    synced: Vec<SourceState>,
    tracking: Arc<TrackingParams>,
    fetcher: Fetcher,
    politeness: Arc<Politeness>,
    limit: Arc<Semaphore>,
    store: Arc<dyn Store>,
    /// robots.txt per site and the database's answers, for the page stage.
    pages: Arc<Pages>,
    held: HashMap<i64, Held>,
    /// The exact next-poll times this daemon planned: the database keeps whole seconds, and a
    /// stored time that is still ours is refined by this (any other value in the database wins).
    planned: HashMap<i64, DateTime<Utc>>,
    tally: Tally,
}

fn host_of(url: &str) -> String {
    url::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_default()
}

pub(crate) fn politeness_of(config: &Config) -> Politeness {
    let overrides = config
        .hosts
        .iter()
        .map(|(host, l)| (host.clone(), (l.per_host, l.host_delay)))
        .collect();
    Politeness::with_overrides(config.per_host, config.host_delay, overrides)
}

pub(crate) fn fetcher_of(config: &Config) -> anyhow::Result<Fetcher> {
    Ok(Fetcher::new(FetchSettings {
        user_agent: config.user_agent.clone(),
        connect_timeout: config.connect_timeout,
        timeout: config.timeout,
        max_bytes: config.max_feed_bytes,
    })?)
}

fn specs_of(config: &Config) -> Vec<SourceSpec> {
    config
        .sources
        .iter()
        .map(|s| SourceSpec {
            url: s.url.clone(),
            name: s.name.clone(),
            paused: s.paused,
        })
        .collect()
}

impl Daemon {
    /// Opens (creating or migrating) the database and syncs the sources of `config` into it.
    /// With `wait`, a database that is busy (locked by another process, say) is waited for,
    /// retrying until `shutdown` fires; otherwise that is an error at once.
    pub async fn start(
        config: Config,
        database_override: bool,
        wait: Option<&CancellationToken>,
    ) -> anyhow::Result<Daemon> {
        let mut delay = Duration::from_secs(1);
        let (store, synced) = loop {
            match Self::open(&config).await {
                Ok(opened) => break opened,
                Err(e) if e.is_transient() && wait.is_some() => {
                    tracing::warn!(error = %e, retry_in = ?delay, "the database is not usable yet: waiting");
                    let shutdown = wait.expect("checked above");
                    tokio::select! {
                        _ = shutdown.cancelled() => anyhow::bail!("stopped while waiting for the database: {e}"),
                        _ = tokio::time::sleep(delay) => {}
                    }
                    delay = (delay * 2).min(START_RETRY_MAX);
                }
                Err(e) => return Err(e.into()),
            }
        };
        let politeness = Arc::new(politeness_of(&config));
        for (host, until) in &synced.host_blocks {
            politeness.block_host(host, *until);
        }
        if let Some(at) = synced.last_network_success {
            politeness.network_seen_up(at);
        }
        let settings = config
            .sources
            .iter()
            .zip(&synced.sources)
            .map(|(cfg, state)| (state.id, PollSettings::of(&config, cfg)))
            .collect();
        let daemon = Daemon {
            tracking: Arc::new(config.tracking_params.clone()),
            fetcher: fetcher_of(&config)?,
            limit: Arc::new(Semaphore::new(config.concurrency)),
            database_override,
            settings,
            synced: synced.sources,
            politeness,
            pages: Arc::new(Pages {
                robots: RobotsCache::new(),
                store: Arc::clone(&store),
            }),
            store,
            held: HashMap::new(),
            planned: HashMap::new(),
            tally: Tally::default(),
            config,
        };
        daemon.prune().await;
        Ok(daemon)
    }

    async fn open(config: &Config) -> Result<(Arc<dyn Store>, Synced), StoreError> {
        let sharing = Sharing {
            lease: config.source_lease,
            per_host: config.per_host,
        };
        let store =
            store::database::open(&config.database, config.near_duplicates, sharing).await?;
        match store.sync_sources(specs_of(config)).await {
            Ok(synced) => Ok((store, synced)),
            Err(e) => {
                store.close().await;
                Err(e)
            }
        }
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
        match self.store.prune(retention).await {
            Ok(pruned) if pruned == Pruned::default() => {}
            Ok(pruned) => tracing::info!(
                fetches = pruned.fetches,
                articles = pruned.articles,
                "pruned old fetches and articles"
            ),
            Err(e) => tracing::error!(error = %e, "pruning failed"),
        }
    }

    fn to_poll(&self, state: &SourceState, settings: &PollSettings) -> SourceToPoll {
        SourceToPoll {
            id: state.id,
            url: state.url.clone(),
            user_agent: settings.user_agent.clone(),
            timezone: settings.timezone,
            allow_private: settings.allow_private,
            validators: state.validators.clone(),
            body_hash: state.body_hash.clone(),
            policy: settings.policy,
            history: state.history.clone(),
            feed_hints: state.hints.clone(),
            consecutive_errors: state.consecutive_errors,
            site_url: state.site_url.clone(),
            identity_basis: state.identity_basis,
            tracking: Arc::clone(&self.tracking),
            full_text: settings.full_text,
        }
    }

    /// Polls every active source that is due (every one with `force`, except those a server
    /// asked to wait), calling `report` as each finishes, then closes the database. Stops
    /// early (finishing what runs) when `shutdown` fires.
    pub async fn once(
        self,
        force: bool,
        shutdown: CancellationToken,
        report: impl FnMut(&PollSummary),
    ) -> anyhow::Result<Vec<PollSummary>> {
        self.once_counted(force, shutdown, |_| {}, report).await
    }

    /// [`Daemon::once`], telling `started` how many polls the pass makes before the first
    /// begins (a progress bar's total).
    pub async fn once_counted(
        mut self,
        force: bool,
        shutdown: CancellationToken,
        started: impl FnOnce(usize),
        mut report: impl FnMut(&PollSummary),
    ) -> anyhow::Result<Vec<PollSummary>> {
        let now = Utc::now();
        let chosen: Vec<SourceToPoll> = self
            .synced
            .iter()
            .filter(|s| {
                s.status == crate::source::Status::Active
                    && s.asked_to_wait(now).is_none()
                    && self
                        .politeness
                        .blocked_until(&host_of(&s.url), now)
                        .is_none()
                    && (force || s.is_due(now))
            })
            .filter_map(|s| Some(self.to_poll(s, self.settings.get(&s.id)?)))
            .collect();
        started(chosen.len());
        let mut polls = JoinSet::new();
        for source in chosen {
            self.spawn_poll(source, &mut polls);
        }
        let mut summaries = Vec::new();
        loop {
            tokio::select! {
                done = polls.join_next() => match done {
                    None => break,
                    Some(Ok(finished)) => {
                        let summary = self.absorb(finished);
                        report(&summary);
                        summaries.push(summary);
                    }
                    Some(Err(e)) => tracing::error!(error = %e, "a poll task failed"),
                },
                _ = shutdown.cancelled() => {
                    tracing::info!("stop requested: finishing the polls in flight");
                    self.drain(&mut polls).await;
                    break;
                }
            }
        }
        self.close().await;
        Ok(summaries)
    }

    /// Polls each source whenever it is due until `shutdown` fires, then stops cleanly;
    /// `reload` (SIGHUP) reads the configuration again.
    pub async fn run(
        mut self,
        shutdown: CancellationToken,
        reload: Arc<Notify>,
    ) -> anyhow::Result<()> {
        let notifier = Notifier::from_env();
        let watchdog = notify::watchdog_interval();
        let mut in_flight: HashSet<i64> = HashSet::new();
        let mut polls = JoinSet::new();
        let mut last_prune = Instant::now();
        let mut last_due = Instant::now();
        let mut last_status = String::new();
        tracing::info!(
            sources = self.settings.len(),
            database = %self.config.database,
            "gleaner is running"
        );
        if let Some(n) = &notifier {
            last_status = self.status_line();
            n.send(&format!("READY=1\n{}", notify::status(&last_status)));
        }
        let mut watchdog_tick =
            tokio::time::interval(watchdog.unwrap_or(Duration::from_secs(3600)));
        let mut config_watch = ConfigWatch::new(&self.config.path);
        loop {
            if config_watch.due() {
                tracing::info!(path = %self.config.path.display(), "the configuration file changed: reloading it");
                config_watch.applied_now();
                self.reload(Reload::FileChanged).await;
            }
            let now = Utc::now();
            let instant = Instant::now();
            // A held source is polled again when its wait is over: the database may have
            // recovered without any other write telling us so.
            let skip = |id: i64| {
                in_flight.contains(&id) || self.held.get(&id).is_some_and(|h| h.until > instant)
            };
            // Asked when slots are free, and every tick regardless (leases of the sources in
            // flight are renewed then). At most twice the concurrency is in flight, half of it
            // queued: enough to keep polling between asks, and no more taken from the sources
            // other processes on the same database could poll.
            let concurrency = self.config.concurrency;
            let (due, mut next_poll) =
                if in_flight.len() < concurrency || last_due.elapsed() >= TICK {
                    last_due = Instant::now();
                    let limit = (2 * concurrency).saturating_sub(in_flight.len());
                    self.due_sources(now, &skip, limit).await
                } else {
                    (Vec::new(), None)
                };
            let mut unpolled = Vec::new();
            for state in due {
                if let Some(&exact) = self.planned.get(&state.id)
                    && exact > now
                    && state.next_poll_at.map(|at| at.timestamp()) == Some(exact.timestamp())
                {
                    next_poll = Some(next_poll.map_or(exact, |next| next.min(exact)));
                    unpolled.push(state.id);
                    continue;
                }
                let Some(settings) = self.settings.get(&state.id) else {
                    unpolled.push(state.id);
                    continue; // in the database, not in this configuration
                };
                if self
                    .politeness
                    .blocked_until(&host_of(&state.url), now)
                    .is_some()
                {
                    // Its host said 429: not before then, and no request is spent on it.
                    unpolled.push(state.id);
                    continue;
                }
                let source = self.to_poll(&state, settings);
                in_flight.insert(state.id);
                self.spawn_poll(source, &mut polls);
            }
            if !unpolled.is_empty()
                && let Err(e) = self.store.release(unpolled).await
            {
                tracing::warn!(error = %e, "cannot hand back sources not polled: their leases lapse");
            }
            if last_prune.elapsed() >= PRUNE_EVERY {
                last_prune = Instant::now();
                self.prune().await;
            }
            if let Some(n) = &notifier {
                let status = self.status_line();
                if status != last_status {
                    n.send(&notify::status(&status));
                    last_status = status;
                }
            }

            // Timestamps are stored to the second: wake when the next one has passed.
            let sleep = next_poll
                .and_then(|at| (at - Utc::now()).to_std().ok())
                .map_or(TICK, |wait| (wait + Duration::from_millis(5)).min(TICK));
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(sleep) => {}
                _ = reload.notified() => {
                    config_watch.applied_now();
                    self.reload(Reload::Asked).await;
                }
                _ = watchdog_tick.tick(), if watchdog.is_some() => {
                    if let Some(n) = &notifier {
                        n.send("WATCHDOG=1");
                    }
                }
                Some(result) = polls.join_next(), if !polls.is_empty() => match result {
                    Ok(finished) => {
                        in_flight.remove(&finished.source.id);
                        let summary = self.absorb(finished);
                        log_summary(&summary);
                    }
                    // Only an aborted task gets here: every poll's own failure is a record.
                    Err(e) => tracing::error!(error = %e, "a poll task failed"),
                },
            }
        }
        if let Some(n) = &notifier {
            n.send("STOPPING=1");
        }
        tracing::info!(
            in_flight = polls.len(),
            "stop requested: finishing the polls in flight"
        );
        self.drain(&mut polls).await;
        self.close().await;
        tracing::info!("stopped cleanly");
        Ok(())
    }

    /// The due sources as the database has them now, and the next poll planned after `now`;
    /// nothing (logged) when the database cannot be read.
    async fn due_sources(
        &self,
        now: DateTime<Utc>,
        skip: &dyn Fn(i64) -> bool,
        limit: usize,
    ) -> (Vec<SourceState>, Option<DateTime<Utc>>) {
        // The skip set is small and copied so the read can run on the blocking pool.
        let skipped: HashSet<i64> = self
            .settings
            .keys()
            .copied()
            .filter(|id| skip(*id))
            .collect();
        match self.store.due(now, skipped, limit).await {
            Ok(due) => {
                for (host, until) in due.host_blocks {
                    self.politeness.block_host(&host, until);
                }
                (due.sources, due.next_poll_after)
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read which sources are due");
                (Vec::new(), None)
            }
        }
    }

    fn spawn_poll(&self, source: SourceToPoll, set: &mut PollSet) {
        let fetcher = self.fetcher.clone();
        let politeness = Arc::clone(&self.politeness);
        let pages = Arc::clone(&self.pages);
        let store = Arc::clone(&self.store);
        let limit = Arc::clone(&self.limit);
        set.spawn(async move {
            let _permit = limit.acquire_owned().await;
            let started_at = Utc::now();
            // A poll runs in a task of its own so that even a bug that panics in it is one
            // failed poll of one source, recorded like any other error.
            let polled = {
                let source = source.clone();
                tokio::spawn(
                    async move { pipeline::poll(&fetcher, &politeness, &pages, &source).await },
                )
                .await
            };
            let record = polled.unwrap_or_else(|e| {
                pipeline::failure(
                    &source,
                    started_at,
                    FailureClass::Internal,
                    format!("the poll stopped unexpectedly: {e}"),
                )
            });
            let summary = RecordSummary::of(&record);
            let written = store.record_poll(record).await;
            Finished {
                source,
                started_at,
                record: summary,
                written,
            }
        });
    }

    /// Takes in a finished poll: a host to leave alone, the tally, and a write that failed.
    fn absorb(&mut self, finished: Finished) -> PollSummary {
        let Finished {
            source,
            started_at,
            record,
            written,
        } = finished;
        if let Some((host, until)) = &record.block_host {
            self.politeness.block_host(host, *until);
        }
        let name = self
            .settings
            .get(&source.id)
            .map_or_else(|| source.url.clone(), |s| s.name.clone());
        self.tally.polls += 1;
        if record.error.is_some() {
            self.tally.failed += 1;
        }
        let unrecorded = match &written {
            Ok(counts) => {
                self.planned.insert(source.id, record.next_at);
                self.tally.new_articles += counts.new;
                if let Some(cause) = self.tally.database_trouble.take() {
                    tracing::info!(%cause, held = self.held.len(), "the database takes writes again");
                }
                if !self.held.is_empty() {
                    let this_one = Plan {
                        at: record.next_at,
                        reason: record.next_reason,
                    };
                    self.record_held(source.id, this_one);
                }
                None
            }
            Err(e) => {
                let cause = e.to_string();
                // Logged once per cause, not once per poll.
                if self.tally.database_trouble.as_deref() != Some(cause.as_str()) {
                    tracing::error!(%cause, "a poll could not be written: holding its source back until the database takes writes");
                    self.tally.database_trouble = Some(cause.clone());
                }
                let attempts = self.held.get(&source.id).map_or(1, |h| h.attempts + 1);
                let wait = WRITE_RETRY
                    .0
                    .saturating_mul(1 << (attempts - 1).min(16))
                    .min(WRITE_RETRY.1);
                // The first refused poll is the one to record: it is when the gap began.
                let started_at = self
                    .held
                    .get(&source.id)
                    .map_or(started_at, |h| h.started_at);
                self.held.insert(
                    source.id,
                    Held {
                        until: Instant::now() + wait,
                        attempts,
                        source: source.clone(),
                        started_at,
                        cause: cause.clone(),
                    },
                );
                Some(cause)
            }
        };
        PollSummary {
            source_id: source.id,
            source: name,
            url: source.url,
            counts: written.unwrap_or_default(),
            error: record.error,
            unrecorded,
            not_modified: record.not_modified,
        }
    }

    /// The database takes writes again: write down each poll it refused (so `gleaner sources`
    /// and `fetches` show it). Each such source is due at once, so it is polled again right
    /// away, except `polled`, whose poll has just been written and keeps its plan `next`.
    fn record_held(&mut self, polled: i64, next: Plan) {
        let now = Utc::now();
        for (id, held) in self.held.drain() {
            let plan = if id == polled {
                next
            } else {
                Plan {
                    at: now,
                    reason: Reason::Retry,
                }
            };
            let record = pipeline::unrecorded(&held.source, held.started_at, &held.cause, plan);
            let store = Arc::clone(&self.store);
            tokio::spawn(async move {
                if let Err(e) = store.record_poll(record).await {
                    tracing::warn!(error = %e, "cannot record a poll that was held back");
                }
            });
        }
    }

    fn status_line(&self) -> String {
        let sources = self.settings.len();
        let t = &self.tally;
        match &t.database_trouble {
            Some(cause) => format!(
                "{sources} sources; the database refuses writes ({cause}): {} polls held back",
                self.held.len()
            ),
            None => format!(
                "{sources} sources; {} polls ({} failed), {} new articles since start",
                t.polls, t.failed, t.new_articles
            ),
        }
    }

    /// Reads the configuration again. A configuration that does not load is refused with its
    /// error and the one in force stays.
    async fn reload(&mut self, why: Reload) {
        let mut config = match Config::load(&self.config.path) {
            Ok(config) => config,
            Err(e) => {
                tracing::error!(error = %e, "configuration not reloaded: the previous one stays in force");
                return;
            }
        };
        if why == Reload::FileChanged && config.sources.is_empty() && !self.settings.is_empty() {
            // An editor may leave the file empty for a moment (truncated, not yet written):
            // that is no reason to mark every source removed. Asked for (SIGHUP), it is done.
            tracing::warn!(
                path = %self.config.path.display(),
                "the configuration file now names no source: not applied on its own; send SIGHUP to apply it"
            );
            return;
        }
        if self.database_override || config.database == self.config.database {
            config.database = self.config.database.clone();
        } else {
            tracing::warn!(
                new = %config.database,
                "a new database path takes a restart; this one stays in use"
            );
            config.database = self.config.database.clone();
        }
        let fetcher = match fetcher_of(&config) {
            Ok(fetcher) => fetcher,
            Err(e) => {
                tracing::error!(error = %e, "configuration not reloaded: the previous one stays in force");
                return;
            }
        };
        let synced = match self.store.sync_sources(specs_of(&config)).await {
            Ok(synced) => synced,
            Err(e) => {
                tracing::error!(error = %e, "configuration not reloaded (the database refused it): the previous one stays in force");
                return;
            }
        };
        let before: HashSet<i64> = self.settings.keys().copied().collect();
        self.settings = config
            .sources
            .iter()
            .zip(&synced.sources)
            .map(|(cfg, state)| (state.id, PollSettings::of(&config, cfg)))
            .collect();
        let after: HashSet<i64> = self.settings.keys().copied().collect();
        let limits_changed = config.per_host != self.config.per_host
            || config.host_delay != self.config.host_delay
            || config.hosts != self.config.hosts;
        if limits_changed {
            // Polls in flight finish under the old limits; new ones start under the new.
            let politeness = politeness_of(&config);
            for (host, until) in &synced.host_blocks {
                politeness.block_host(host, *until);
            }
            self.politeness = Arc::new(politeness);
        }
        if config.concurrency != self.config.concurrency {
            self.limit = Arc::new(Semaphore::new(config.concurrency));
        }
        self.fetcher = fetcher;
        self.tracking = Arc::new(config.tracking_params.clone());
        self.synced = synced.sources;
        self.held.retain(|id, _| after.contains(id));
        self.planned.retain(|id, _| after.contains(id));
        tracing::info!(
            sources = after.len(),
            added = after.difference(&before).count(),
            removed = before.difference(&after).count(),
            "configuration reloaded"
        );
        if config.near_duplicates != self.config.near_duplicates {
            tracing::warn!("near-duplicate settings take effect at the next start");
        }
        self.config = config;
    }

    /// Waits for running polls for [`SHUTDOWN_GRACE`], then abandons the rest: their writes
    /// either committed whole or never started.
    async fn drain(&mut self, polls: &mut PollSet) {
        let deadline = tokio::time::sleep(SHUTDOWN_GRACE);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                done = polls.join_next() => match done {
                    None => return,
                    Some(Ok(finished)) => {
                        let summary = self.absorb(finished);
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
        self.store.close().await;
    }
}

/// A poll that went through the writer, well or not.
struct Finished {
    source: SourceToPoll,
    started_at: DateTime<Utc>,
    record: RecordSummary,
    written: Result<PollCounts, StoreError>,
}

type PollSet = JoinSet<Finished>;

/// The parts of a [`PollRecord`] the loop needs after handing the record to the writer.
struct RecordSummary {
    next_at: DateTime<Utc>,
    next_reason: Reason,
    error: Option<String>,
    block_host: Option<(String, DateTime<Utc>)>,
    not_modified: bool,
}

impl RecordSummary {
    fn of(record: &PollRecord) -> RecordSummary {
        let (error, block_host) = match &record.outcome {
            PollOutcome::Failed {
                class,
                message,
                retry_after,
                block_host,
                ..
            } => (
                Some(format!("{class}: {message}")),
                block_host.clone().zip(*retry_after),
            ),
            _ => (None, None),
        };
        RecordSummary {
            next_at: record.next.at,
            next_reason: record.next.reason,
            error,
            block_host,
            not_modified: matches!(
                record.outcome,
                PollOutcome::NotModified { .. } | PollOutcome::Unchanged { .. }
            ),
        }
    }
}

fn log_summary(summary: &PollSummary) {
    match (&summary.unrecorded, &summary.error) {
        (Some(_), _) => {} // logged once per cause by `absorb`
        (None, Some(error)) => {
            tracing::warn!(source = %summary.source, url = %summary.url, %error, "poll failed")
        }
        (None, None) => tracing::info!(
            source = %summary.source,
            new = summary.counts.new,
            updated = summary.counts.updated,
            near_duplicates = summary.counts.near_duplicates,
            pages = summary.counts.pages,
            full_text = summary.counts.full_text,
            items = summary.counts.seen,
            not_modified = summary.not_modified,
            "polled"
        ),
    }
}

/// The signals a daemon answers: the first SIGINT or SIGTERM cancels the token; each SIGHUP
/// wakes the `Notify` (a reload for `run`; ignored by `once`, instead of the default death).
pub fn signals() -> std::io::Result<(CancellationToken, Arc<Notify>)> {
    use tokio::signal::unix::{SignalKind, signal};
    let token = CancellationToken::new();
    let reload = Arc::new(Notify::new());
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    let cancel = token.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM received"),
            _ = int.recv() => tracing::info!("SIGINT received"),
        }
        cancel.cancel();
    });
    let wake = Arc::clone(&reload);
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            tracing::info!("SIGHUP received: reloading the configuration");
            wake.notify_one();
        }
    });
    Ok((token, reload))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_configuration_is_applied_once_it_has_settled() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gleaner.toml");
        std::fs::write(&path, "interval = \"1h\"\n").unwrap();
        let mut watch = ConfigWatch::new(&path);
        assert!(!watch.due(), "nothing changed");
        std::fs::write(&path, "interval = \"2h\"\n# longer\n").unwrap();
        assert!(!watch.due(), "a change is first seen, not applied at once");
        std::thread::sleep(CONFIG_SETTLE + Duration::from_millis(50));
        assert!(watch.due(), "a change that held is applied");
        watch.applied_now();
        assert!(!watch.due());
        // Replaced by a rename (as the commands write it): a new inode, even at the same size.
        let other = dir.path().join("next.toml");
        std::fs::write(&other, "interval = \"3h\"\n# longer\n").unwrap();
        std::fs::rename(&other, &path).unwrap();
        assert!(!watch.due());
        std::thread::sleep(CONFIG_SETTLE + Duration::from_millis(50));
        assert!(watch.due());
        watch.applied_now();
        // A file that keeps changing is not applied until it stops.
        std::fs::write(&path, "a").unwrap();
        assert!(!watch.due());
        std::thread::sleep(CONFIG_SETTLE / 2);
        std::fs::write(&path, "ab").unwrap();
        assert!(!watch.due());
        std::thread::sleep(CONFIG_SETTLE / 4);
        assert!(!watch.due(), "the second change restarted the wait");
    }
}
