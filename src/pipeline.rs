//! One poll of one source through every stage: fetch, parse, render, identify, in that order,
//! ending in a [`PollRecord`] for the store. No SQL and no HTTP here: each stage's module owns
//! its part; this is only the wiring, and it never fails: every error becomes a record.

use std::time::{Duration, Instant};

use chrono::Utc;

use crate::dedup;
use crate::feed;
use crate::fetch::{Fetched, Fetcher, Validators};
use crate::render;
use crate::schedule;
use crate::store::{PollOutcome, PollRecord};

/// What a poll needs to know of its source.
#[derive(Debug, Clone)]
pub struct SourceToPoll {
    pub id: i64,
    pub url: String,
    pub interval: Duration,
    pub timezone: Option<chrono_tz::Tz>,
    pub validators: Validators,
    /// Hash of the last body parsed: the same bytes again are not parsed again.
    pub body_hash: Option<String>,
}

/// Polls `source` once and says what to write.
pub async fn poll(fetcher: &Fetcher, source: &SourceToPoll) -> PollRecord {
    let started_at = Utc::now();
    let clock = Instant::now();
    let outcome = match fetcher.fetch(&source.url, &source.validators).await {
        Ok(Fetched::NotModified { status }) => PollOutcome::NotModified {
            status: Some(status),
        },
        Ok(Fetched::Body(body)) => {
            let body_hash = dedup::bytes_hash(&body.bytes);
            if source.body_hash.as_deref() == Some(body_hash.as_str()) {
                PollOutcome::Unchanged {
                    status: body.status,
                    bytes: body.bytes.len() as u64,
                    validators: body.validators,
                }
            } else {
                // Parsing and rendering are CPU work: keep them off the async workers.
                let source = source.clone();
                tokio::task::spawn_blocking(move || parse_and_render(&source, body, body_hash))
                    .await
                    .unwrap_or_else(|e| PollOutcome::Failed {
                        status: None,
                        bytes: None,
                        class: "internal",
                        message: format!("parsing stopped unexpectedly: {e}"),
                    })
            }
        }
        Err(e) => PollOutcome::Failed {
            status: e.status,
            bytes: None,
            class: e.class.as_str(),
            message: e.message,
        },
    };
    let (next_poll_at, next_poll_reason) = schedule::next_poll(started_at, source.interval);
    PollRecord {
        source_id: source.id,
        url: source.url.clone(),
        started_at,
        duration: clock.elapsed(),
        next_poll_at,
        next_poll_reason,
        outcome,
    }
}

/// The record of a poll that failed before it could say more.
pub fn failure(
    source: &SourceToPoll,
    started_at: chrono::DateTime<Utc>,
    class: &'static str,
    message: String,
) -> PollRecord {
    let (next_poll_at, next_poll_reason) = schedule::next_poll(started_at, source.interval);
    PollRecord {
        source_id: source.id,
        url: source.url.clone(),
        started_at,
        duration: (Utc::now() - started_at).to_std().unwrap_or_default(),
        next_poll_at,
        next_poll_reason,
        outcome: PollOutcome::Failed {
            status: None,
            bytes: None,
            class,
            message,
        },
    }
}

/// The CPU-bound stages: bytes to entries to documents to identified items.
pub fn parse_and_render(
    source: &SourceToPoll,
    body: crate::fetch::Body,
    body_hash: String,
) -> PollOutcome {
    let bytes = body.bytes.len() as u64;
    let base = (!source.url.starts_with("file:")).then_some(source.url.as_str());
    match feed::parse(&body.bytes, body.content_type.as_deref(), base) {
        Err(e) => PollOutcome::Failed {
            status: body.status,
            bytes: Some(bytes),
            class: e.class(),
            message: e.to_string(),
        },
        Ok(parsed) => {
            let seen_at = Utc::now();
            let rendered = parsed
                .entries
                .iter()
                .map(|entry| render::render_entry(entry, source.timezone, seen_at))
                .collect();
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
                items: dedup::identify(&source.url, rendered),
            }
        }
    }
}
