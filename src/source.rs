//! A source's state between polls, and how one poll changes it. The store loads and saves it
//! (the `sources` row); the daemon reads it to decide what is due. Keeping the rule here, in one
//! pure type, is what lets a poll recorded by `gleaner once` and one recorded by the daemon
//! leave the same row behind.

use chrono::{DateTime, Utc};

use crate::dedup::IdentityBasis;
use crate::feed::FeedHints;
use crate::fetch::{ErrorClass, Validators};
use crate::record::{FailureClass, PollOutcome, PollRecord};
use crate::schedule::{self, Reason};

/// Polls in a row that must see the same permanent redirect before the source moves.
pub const REDIRECT_POLLS_TO_MOVE: i64 = 3;

/// What one poll does to a source's count of polls that saw the same permanent redirect
/// (`sources.redirect_to`, `redirect_polls`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedirectStep<'a> {
    /// No permanent redirect, and none counted: nothing to write.
    Keep,
    /// No permanent redirect this time: the count starts again.
    Clear,
    /// `polls` polls in a row were sent to `to`: not yet enough to move.
    Count { to: &'a str, polls: i64 },
    /// Enough polls were sent to `to`: the source moves there, unless another source has that
    /// URL already, and then the count is kept (`polls`) and both sources stay as they are.
    Move { to: &'a str, polls: i64 },
}

/// The step after a poll that was permanently redirected to `seen` (`None`: not redirected, or
/// not for good), given the redirect counted so far (`pending`: its target and polls).
pub fn redirect_step<'a>(pending: Option<(&str, i64)>, seen: Option<&'a str>) -> RedirectStep<'a> {
    let Some(to) = seen else {
        return match pending {
            Some(_) => RedirectStep::Clear,
            None => RedirectStep::Keep,
        };
    };
    let polls = match pending {
        Some((target, polls)) if target == to => polls.saturating_add(1),
        _ => 1,
    };
    if polls < REDIRECT_POLLS_TO_MOVE {
        RedirectStep::Count { to, polls }
    } else {
        RedirectStep::Move { to, polls }
    }
}

/// Whether a source is polled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Active,
    /// Retired by a 410; `gleaner revive` brings it back.
    Gone,
    Paused,
    /// No longer in the configuration; its articles stay.
    Removed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Gone => "gone",
            Status::Paused => "paused",
            Status::Removed => "removed",
        }
    }

    /// The stored text; anything unknown is not polled.
    pub fn parse(text: &str) -> Status {
        match text {
            "active" => Status::Active,
            "gone" => Status::Gone,
            "paused" => Status::Paused,
            _ => Status::Removed,
        }
    }
}

/// A source as the `sources` row holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceState {
    pub id: i64,
    pub url: String,
    pub status: Status,
    pub validators: Validators,
    /// Hash of the last body parsed: the same bytes again are not parsed again.
    pub body_hash: Option<String>,
    pub title: Option<String>,
    pub site_url: Option<String>,
    pub hints: FeedHints,
    pub last_polled_at: Option<DateTime<Utc>>,
    pub last_success_at: Option<DateTime<Utc>>,
    pub next_poll_at: Option<DateTime<Utc>>,
    pub next_poll_reason: Option<Reason>,
    /// Errors in a row that were the feed's fault (they drive the backoff).
    pub consecutive_errors: u32,
    /// The last failure, charged or not; cleared by a success.
    pub last_error: Option<String>,
    pub identity_basis: IdentityBasis,
    /// Publication times of its latest articles, newest first (read, never written here).
    pub history: Vec<DateTime<Utc>>,
}

impl SourceState {
    /// A source never polled.
    pub fn new(id: i64, url: String) -> SourceState {
        SourceState {
            id,
            url,
            status: Status::Active,
            validators: Validators::default(),
            body_hash: None,
            title: None,
            site_url: None,
            hints: FeedHints::default(),
            last_polled_at: None,
            last_success_at: None,
            next_poll_at: None,
            next_poll_reason: None,
            consecutive_errors: 0,
            last_error: None,
            identity_basis: IdentityBasis::default(),
            history: Vec::new(),
        }
    }

    pub fn is_due(&self, now: DateTime<Utc>) -> bool {
        self.status == Status::Active && schedule::is_due(self.next_poll_at, now)
    }

    /// Until when a server asked (Retry-After) that this source not be polled, if it still holds.
    pub fn asked_to_wait(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        (self.next_poll_reason == Some(Reason::RetryAfter))
            .then_some(self.next_poll_at)
            .flatten()
            .filter(|at| *at > now)
    }

    /// What one poll changes. The URL (a permanent move) and the identity basis are changed by
    /// the store alongside, since they involve other rows.
    pub fn apply(&mut self, record: &PollRecord) {
        // A poll recorded late (one the database refused at first) never moves this back.
        self.last_polled_at = self.last_polled_at.max(Some(record.started_at));
        self.next_poll_at = Some(record.next.at);
        self.next_poll_reason = Some(record.next.reason);
        match &record.outcome {
            PollOutcome::Failed {
                class,
                message,
                charged,
                ..
            } => {
                if *class == FailureClass::Fetch(ErrorClass::Gone) {
                    self.status = Status::Gone;
                    self.next_poll_at = None;
                    self.next_poll_reason = Some(Reason::Gone);
                }
                if *charged {
                    self.consecutive_errors = self.consecutive_errors.saturating_add(1);
                }
                // Kept even when not charged (an outage, a rate limit): an operator looking for
                // sources in trouble must find it.
                self.last_error = Some(format!("{class}: {message}"));
            }
            success => {
                self.last_success_at = Some(record.started_at);
                self.consecutive_errors = 0;
                self.last_error = None;
                match success {
                    PollOutcome::Unchanged { validators, .. } => {
                        self.validators = validators.clone();
                    }
                    PollOutcome::Parsed {
                        validators,
                        body_hash,
                        feed_title,
                        site_url,
                        hints,
                        ..
                    } => {
                        self.validators = validators.clone();
                        // Empty when the document must be read again (pages left to fetch).
                        self.body_hash = Some(body_hash.clone()).filter(|h| !h.is_empty());
                        if feed_title.is_some() {
                            self.title = feed_title.clone();
                        }
                        if site_url.is_some() {
                            self.site_url = site_url.clone();
                        }
                        self.hints = hints.clone();
                    }
                    _ => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fetch::ResponseMeta;
    use crate::schedule::Plan;
    use std::time::Duration;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    fn record(outcome: PollOutcome) -> PollRecord {
        PollRecord {
            source_id: 1,
            url: "https://example.org/feed".into(),
            started_at: at("2024-05-01T10:00:00Z"),
            duration: Duration::from_millis(5),
            next: Plan {
                at: at("2024-05-01T10:30:00Z"),
                reason: Reason::Interval,
            },
            validators_sent: Validators::default(),
            meta: ResponseMeta::default(),
            outcome,
        }
    }

    fn failure(class: FailureClass, charged: bool) -> PollOutcome {
        PollOutcome::Failed {
            status: None,
            bytes: None,
            class,
            message: "it broke".into(),
            charged,
            retry_after: None,
            block_host: None,
        }
    }

    #[test]
    fn an_uncharged_failure_is_shown_but_not_counted() {
        let mut state = SourceState::new(1, "https://example.org/feed".into());
        state.apply(&record(failure(
            FailureClass::Fetch(ErrorClass::Dns),
            false,
        )));
        assert_eq!(state.consecutive_errors, 0);
        assert_eq!(state.last_error.as_deref(), Some("dns: it broke"));
        assert_eq!(state.next_poll_at, Some(at("2024-05-01T10:30:00Z")));
        state.apply(&record(failure(
            FailureClass::Fetch(ErrorClass::Http5xx),
            true,
        )));
        state.apply(&record(failure(
            FailureClass::Fetch(ErrorClass::Http5xx),
            true,
        )));
        assert_eq!(state.consecutive_errors, 2);
        assert_eq!(state.last_success_at, None);
    }

    #[test]
    fn a_success_clears_errors_and_keeps_what_the_feed_said() {
        let mut state = SourceState::new(1, "https://example.org/feed".into());
        state.apply(&record(failure(
            FailureClass::Fetch(ErrorClass::Http5xx),
            true,
        )));
        let validators = Validators {
            etag: Some("\"v1\"".into()),
            last_modified: None,
        };
        state.apply(&record(PollOutcome::Parsed {
            status: Some(200),
            bytes: 10,
            validators: validators.clone(),
            body_hash: "h".into(),
            feed_title: Some("A feed".into()),
            site_url: None,
            hints: FeedHints::default(),
            items: Vec::new(),
            pages: Vec::new(),
            identity_fallback: None,
        }));
        assert_eq!(state.consecutive_errors, 0);
        assert_eq!(state.last_error, None);
        assert_eq!(state.validators, validators);
        assert_eq!(state.title.as_deref(), Some("A feed"));
        assert_eq!(state.last_success_at, Some(at("2024-05-01T10:00:00Z")));
        // A 304 keeps the validators it was asked with.
        state.apply(&record(PollOutcome::NotModified { status: Some(304) }));
        assert_eq!(state.validators, validators);
        assert_eq!(state.body_hash.as_deref(), Some("h"));
    }

    #[test]
    fn a_poll_recorded_late_does_not_move_the_last_poll_back() {
        let mut state = SourceState::new(1, "https://example.org/feed".into());
        let mut later = record(PollOutcome::NotModified { status: Some(304) });
        later.started_at = at("2024-05-01T11:00:00Z");
        state.apply(&later);
        state.apply(&record(failure(FailureClass::Database, false)));
        assert_eq!(state.last_polled_at, Some(at("2024-05-01T11:00:00Z")));
        assert_eq!(state.last_error.as_deref(), Some("database: it broke"));
    }

    #[test]
    fn a_410_retires_the_source() {
        let mut state = SourceState::new(1, "https://example.org/feed".into());
        state.apply(&record(failure(
            FailureClass::Fetch(ErrorClass::Gone),
            false,
        )));
        assert_eq!(state.status, Status::Gone);
        assert_eq!(state.next_poll_at, None);
        assert!(!state.is_due(at("2030-01-01T00:00:00Z")));
        assert_eq!(state.last_error.as_deref(), Some("gone: it broke"));
    }

    #[test]
    fn a_permanent_redirect_moves_the_source_after_enough_polls_in_a_row() {
        let new = "https://new.example/feed";
        let mut pending: Option<(&str, i64)> = None;
        let mut steps = Vec::new();
        for _ in 0..REDIRECT_POLLS_TO_MOVE {
            let step = redirect_step(pending, Some(new));
            if let RedirectStep::Count { to, polls } = step {
                pending = Some((to, polls));
            }
            steps.push(step);
        }
        assert_eq!(
            steps,
            [
                RedirectStep::Count { to: new, polls: 1 },
                RedirectStep::Count { to: new, polls: 2 },
                RedirectStep::Move { to: new, polls: 3 },
            ]
        );
        // Kept (the target is taken): the count goes on.
        assert_eq!(
            redirect_step(Some((new, 3)), Some(new)),
            RedirectStep::Move { to: new, polls: 4 }
        );
    }

    #[test]
    fn another_target_or_no_redirect_starts_the_count_again() {
        let (old, new) = ("https://a.example/feed", "https://b.example/feed");
        assert_eq!(
            redirect_step(Some((old, 2)), Some(new)),
            RedirectStep::Count { to: new, polls: 1 }
        );
        assert_eq!(redirect_step(Some((old, 2)), None), RedirectStep::Clear);
        assert_eq!(redirect_step(None, None), RedirectStep::Keep);
        assert_eq!(
            redirect_step(None, Some(new)),
            RedirectStep::Count { to: new, polls: 1 }
        );
    }

    #[test]
    fn retry_after_is_honoured_until_it_passes() {
        let mut state = SourceState::new(1, "https://example.org/feed".into());
        let mut r = record(failure(FailureClass::Fetch(ErrorClass::RateLimited), false));
        r.next.reason = Reason::RetryAfter;
        state.apply(&r);
        assert_eq!(
            state.asked_to_wait(at("2024-05-01T10:10:00Z")),
            Some(at("2024-05-01T10:30:00Z"))
        );
        assert_eq!(state.asked_to_wait(at("2024-05-01T10:31:00Z")), None);
    }
}
