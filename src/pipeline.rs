//! One poll of one source through every stage: fetch (politely), parse, render, identify, fetch
//! the pages of teasers (`full_text`), then plan the next poll, ending in a [`PollRecord`] for the store. No SQL and no HTTP here: each
//! stage's module owns its part; this is only the wiring, and it never fails: every error
//! becomes a record.

use std::time::Instant;

use chrono::{DateTime, Utc};

use crate::dedup;
use crate::feed::{self, FeedHints};
use crate::fetch::{Body, FetchError, Fetched, Fetcher, Reach, ResponseMeta, Validators};
use crate::full_text::{self, FullText, PageSource, Pages};
use crate::politeness::Politeness;
use crate::record::{FailureClass, PollOutcome, PollRecord};
use crate::render;
use crate::schedule::{self, Hints, Plan, Policy};

/// What a poll needs to know of its source.
#[derive(Debug, Clone)]
pub struct SourceToPoll {
    pub id: i64,
    pub url: String,
    pub user_agent: String,
    pub timezone: Option<chrono_tz::Tz>,
    /// Requests may go to loopback and private addresses (see `fetch`).
    pub allow_private: bool,
    pub validators: Validators,
    /// Hash of the last body parsed: the same bytes again are not parsed again.
    pub body_hash: Option<String>,
    pub policy: Policy,
    /// Publication times of its latest items, for the adaptive interval.
    pub history: Vec<DateTime<Utc>>,
    /// The feed's own hints, from the last time it was parsed.
    pub feed_hints: FeedHints,
    pub consecutive_errors: u32,
    /// The feed's home page, from the last time it was parsed.
    pub site_url: Option<String>,
    pub identity_basis: dedup::IdentityBasis,
    pub tracking: std::sync::Arc<dedup::TrackingParams>,
    /// When its items' pages are fetched for their full text.
    pub full_text: FullText,
}

impl SourceToPoll {
    fn seed(&self) -> u64 {
        schedule::seed_of(&self.url)
    }
}

/// Polls `source` once and says what to write.
pub async fn poll(
    fetcher: &Fetcher,
    politeness: &Politeness,
    pages: &Pages,
    source: &SourceToPoll,
) -> PollRecord {
    let started_at = Utc::now();
    let clock = Instant::now();
    let fetched = fetcher
        .fetch(
            &source.url,
            &source.validators,
            &source.user_agent,
            Reach::of_source(source.allow_private),
            politeness,
        )
        .await;
    let now = Utc::now();
    let (outcome, meta, next) = match fetched {
        Ok(Fetched::NotModified { status, meta }) => {
            politeness.network_ok(Utc::now());
            let next = after_success(source, now, &source.history, &source.feed_hints, &meta);
            (
                PollOutcome::NotModified {
                    status: Some(status),
                },
                meta,
                next,
            )
        }
        Ok(Fetched::Body(body)) => {
            if body.status.is_some() {
                politeness.network_ok(Utc::now());
            }
            let meta = body.meta.clone();
            let mut outcome = outcome_of_body(source, body).await;
            if let PollOutcome::Parsed {
                items,
                pages: fetched,
                validators,
                body_hash,
                ..
            } = &mut outcome
            {
                let completed =
                    full_text::complete(fetcher, politeness, pages, page_source(source), items)
                        .await;
                *fetched = completed.records;
                if completed.pending {
                    // Pages are left to fetch: the next poll must read this document again,
                    // not skip it as unchanged (304 or the same bytes).
                    *validators = Validators::default();
                    body_hash.clear();
                }
            }
            let next = match &outcome {
                PollOutcome::Parsed { items, hints, .. } => {
                    let published: Vec<DateTime<Utc>> = items
                        .iter()
                        .filter_map(|i| i.rendered.published_at)
                        .collect();
                    let history = if published.is_empty() {
                        &source.history
                    } else {
                        &published
                    };
                    after_success(source, now, history, hints, &meta)
                }
                PollOutcome::Failed { .. } => after_error(source, now, &meta),
                _ => after_success(source, now, &source.history, &source.feed_hints, &meta),
            };
            (outcome, meta, next)
        }
        Err(error) => failed(source, politeness, error, now),
    };
    PollRecord {
        source_id: source.id,
        url: source.url.clone(),
        started_at,
        duration: clock.elapsed(),
        next,
        validators_sent: source.validators.clone(),
        meta,
        outcome,
    }
}

fn page_source(source: &SourceToPoll) -> PageSource<'_> {
    PageSource {
        id: source.id,
        url: &source.url,
        user_agent: &source.user_agent,
        allow_private: source.allow_private,
        mode: source.full_text,
        timezone: source.timezone,
        tracking: &source.tracking,
    }
}

/// A body: unchanged since last time, or parsed into items.
async fn outcome_of_body(source: &SourceToPoll, body: Body) -> PollOutcome {
    let body_hash = dedup::bytes_hash(&body.bytes);
    if source.body_hash.as_deref() == Some(body_hash.as_str()) {
        return PollOutcome::Unchanged {
            status: body.status,
            bytes: body.bytes.len() as u64,
            validators: body.validators,
        };
    }
    // Parsing and rendering are CPU work: keep them off the async workers.
    let source = source.clone();
    tokio::task::spawn_blocking(move || parse_and_render(&source, body, body_hash))
        .await
        .unwrap_or_else(|e| PollOutcome::Failed {
            status: None,
            bytes: None,
            class: FailureClass::Internal,
            message: format!("parsing stopped unexpectedly: {e}"),
            charged: true,
            retry_after: None,
            block_host: None,
        })
}

/// A failed fetch: charged to the feed, or not, as [`schedule::after_failure`] says.
fn failed(
    source: &SourceToPoll,
    politeness: &Politeness,
    error: FetchError,
    now: DateTime<Utc>,
) -> (PollOutcome, ResponseMeta, Plan) {
    if error.status.is_some() {
        politeness.network_ok(Utc::now());
    }
    let host = error.host.clone().unwrap_or_default();
    let meta = (*error.meta).clone();
    // Only network failures are told to the outage detector: they are what it counts.
    let network_down =
        error.class.is_network() && politeness.network_down_after_failure(&host, now);
    let charge = schedule::after_failure(
        now,
        &source.policy,
        &source.history,
        &hints(&source.feed_hints, &meta),
        source.consecutive_errors.saturating_add(1),
        source.seed(),
        schedule::Failure {
            class: error.class,
            status: error.status,
            retry_after: error.retry_after,
            network_down,
        },
    );
    let outcome = PollOutcome::Failed {
        status: error.status,
        bytes: None,
        class: FailureClass::Fetch(error.class),
        message: error.message,
        charged: charge.charged,
        retry_after: charge.retry_after,
        // An error without a host (none is known before the first request) blocks no host.
        block_host: (charge.block_host && !host.is_empty()).then_some(host),
    };
    (outcome, meta, charge.next)
}

fn hints(feed: &FeedHints, meta: &ResponseMeta) -> Hints {
    Hints {
        max_age: meta.max_age,
        expires: meta.expires,
        ttl: feed.ttl,
        update_period: feed.update_period,
        skip_hours: feed.skip_hours,
        skip_days: feed.skip_days,
    }
}

fn after_success(
    source: &SourceToPoll,
    now: DateTime<Utc>,
    history: &[DateTime<Utc>],
    feed_hints: &FeedHints,
    meta: &ResponseMeta,
) -> Plan {
    schedule::after_success(
        now,
        &source.policy,
        history,
        &hints(feed_hints, meta),
        source.seed(),
    )
}

fn after_error(source: &SourceToPoll, now: DateTime<Utc>, meta: &ResponseMeta) -> Plan {
    schedule::after_error(
        now,
        &source.policy,
        &source.history,
        &hints(&source.feed_hints, meta),
        source.consecutive_errors.saturating_add(1),
        source.seed(),
    )
}

/// The record of a poll that failed before it could say more (a bug caught, say).
pub fn failure(
    source: &SourceToPoll,
    started_at: DateTime<Utc>,
    class: FailureClass,
    message: String,
) -> PollRecord {
    let next = after_error(source, Utc::now(), &ResponseMeta::default());
    failed_record(source, started_at, next, class, message, true)
}

/// The record of a poll whose result could not be written (a full disk, a database locked by
/// another process): not the feed's fault; `next` is when to poll again.
pub fn unrecorded(
    source: &SourceToPoll,
    started_at: DateTime<Utc>,
    cause: &str,
    next: Plan,
) -> PollRecord {
    let message = format!("the poll could not be written: {cause}");
    failed_record(
        source,
        started_at,
        next,
        FailureClass::Database,
        message,
        false,
    )
}

/// A failure without a response to describe.
fn failed_record(
    source: &SourceToPoll,
    started_at: DateTime<Utc>,
    next: Plan,
    class: FailureClass,
    message: String,
    charged: bool,
) -> PollRecord {
    PollRecord {
        source_id: source.id,
        url: source.url.clone(),
        started_at,
        duration: (Utc::now() - started_at).to_std().unwrap_or_default(),
        next,
        validators_sent: source.validators.clone(),
        meta: ResponseMeta::default(),
        outcome: PollOutcome::Failed {
            status: None,
            bytes: None,
            class,
            message,
            charged,
            retry_after: None,
            block_host: None,
        },
    }
}

/// The CPU-bound stages: bytes to entries to documents to identified items.
pub fn parse_and_render(source: &SourceToPoll, body: Body, body_hash: String) -> PollOutcome {
    let bytes = body.bytes.len() as u64;
    let final_url = body.meta.final_url(&source.url).to_owned();
    let base = (!final_url.starts_with("file:")).then_some(final_url.as_str());
    match feed::parse(&body.bytes, body.content_type.as_deref(), base) {
        Err(e) => PollOutcome::Failed {
            status: body.status,
            bytes: Some(bytes),
            class: FailureClass::from(&e),
            message: e.to_string(),
            charged: true,
            retry_after: None,
            block_host: None,
        },
        Ok(parsed) => {
            let seen_at = Utc::now();
            let rendered = parsed
                .entries
                .iter()
                .map(|entry| render::render_entry(entry, source.timezone, seen_at))
                .collect();
            let context = dedup::SourceContext {
                url: &source.url,
                site_url: parsed.site_url.as_deref().or(source.site_url.as_deref()),
                basis: source.identity_basis,
            };
            let identified = dedup::identify(context, &source.tracking, rendered);
            PollOutcome::Parsed {
                status: body.status,
                bytes,
                validators: body.validators,
                body_hash,
                feed_title: parsed
                    .title
                    .as_deref()
                    .map(crate::text::clean_title)
                    .filter(|t| !t.is_empty()),
                site_url: parsed.site_url,
                hints: parsed.hints,
                items: identified.items,
                pages: Vec::new(),
                identity_fallback: identified.fallback,
            }
        }
    }
}
