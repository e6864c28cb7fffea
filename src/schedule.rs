//! When each source is due, and why. Pure functions of the clock, the source's settings, its
//! publishing history and the publisher's hints, so every rule is unit-tested without waiting:
//!
//! - the interval is the source's pinned one, or adaptive: the median gap between its recent
//!   items, bounded by `min_interval` and `max_interval`;
//! - never sooner than the publisher asks (Cache-Control max-age, Expires, RSS `ttl`,
//!   `sy:updatePeriod`/`sy:updateFrequency`), and never in RSS `skipHours`/`skipDays`;
//! - a few percent of jitter, the same for a source every time, so sources added together
//!   drift apart;
//! - after errors, exponential backoff from the interval up to a cap; never a stop;
//! - Retry-After is obeyed (capped), and a local outage is probed, not charged;
//! - a failure is charged to the feed only when it is the feed's fault ([`after_failure`]).

use std::time::Duration;

use chrono::{DateTime, Datelike, Timelike, Utc};

use crate::fetch::ErrorClass;

/// Why the next poll is when it is (`sources.next_poll_reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The configured (pinned or start) interval.
    Interval,
    /// Learnt from how often the source publishes.
    Adaptive,
    /// The publisher asked for a longer wait, or for no polls at this hour or day.
    Hint,
    /// The server said when to come back (429 or 503 with Retry-After).
    RetryAfter,
    /// Errors: the wait doubles with each one.
    Backoff,
    /// Many hosts failed at once: the network is down here, not the feed.
    Outage,
    /// The last poll's result could not be written: polled again as soon as it can be.
    Retry,
    /// The feed is gone for good (410): not polled again until revived.
    Gone,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Interval => "interval",
            Reason::Adaptive => "adaptive",
            Reason::Hint => "hint",
            Reason::RetryAfter => "retry-after",
            Reason::Backoff => "backoff",
            Reason::Outage => "outage",
            Reason::Retry => "retry",
            Reason::Gone => "gone",
        }
    }

    /// Every reason, as `sources.next_poll_reason` may name it.
    pub const ALL: [Reason; 8] = [
        Reason::Interval,
        Reason::Adaptive,
        Reason::Hint,
        Reason::RetryAfter,
        Reason::Backoff,
        Reason::Outage,
        Reason::Retry,
        Reason::Gone,
    ];

    /// The reason a stored `sources.next_poll_reason` names.
    pub fn parse(text: &str) -> Option<Reason> {
        Reason::ALL.into_iter().find(|r| r.as_str() == text)
    }
}

/// A planned poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    pub at: DateTime<Utc>,
    pub reason: Reason,
}

/// A source's scheduling settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// A configured interval: no adaptation.
    pub pinned: Option<Duration>,
    /// Where an unpinned source starts before it has a history.
    pub start: Duration,
    pub min: Duration,
    pub max: Duration,
    pub max_backoff: Duration,
}

/// What the publisher said about polling, from the HTTP response and the feed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hints {
    pub max_age: Option<Duration>,
    pub expires: Option<DateTime<Utc>>,
    /// RSS `<ttl>`.
    pub ttl: Option<Duration>,
    /// `sy:updatePeriod` divided by `sy:updateFrequency`.
    pub update_period: Option<Duration>,
    /// RSS `skipHours`: bit h set for hour h (UTC).
    pub skip_hours: u32,
    /// RSS `skipDays`: bit d set for weekday d (Monday = 0, UTC).
    pub skip_days: u8,
}

/// A publisher hint longer than this is taken as this: a typo should not silence a source.
pub const HINT_CAP: Duration = Duration::from_secs(7 * 86_400);
/// The longest Retry-After obeyed.
pub const RETRY_AFTER_CAP: Duration = Duration::from_secs(2 * 86_400);
/// How often a network outage is probed.
pub const OUTAGE_PROBE: Duration = Duration::from_secs(5 * 60);
/// Items of the history the adaptive interval looks at.
pub const HISTORY: usize = 20;

/// Whether a source whose next poll is `next_poll_at` (never polled: `None`) is due at `now`.
pub fn is_due(next_poll_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    next_poll_at.is_none_or(|at| at <= now)
}

/// The interval for a source: pinned, or the median gap between its recent items (publication
/// times, newest first or in any order), bounded; the start interval while it has fewer than
/// three items.
pub fn interval(policy: &Policy, history: &[DateTime<Utc>]) -> (Duration, Reason) {
    if let Some(pinned) = policy.pinned {
        return (pinned, Reason::Interval);
    }
    let mut times: Vec<DateTime<Utc>> = history.to_vec();
    times.sort_unstable_by(|a, b| b.cmp(a));
    times.dedup();
    times.truncate(HISTORY);
    if times.len() < 3 {
        return (policy.start.clamp(policy.min, policy.max), Reason::Interval);
    }
    let mut gaps: Vec<Duration> = times
        .windows(2)
        .map(|w| (w[0] - w[1]).to_std().unwrap_or_default())
        .collect();
    gaps.sort_unstable();
    let median = gaps[gaps.len() / 2];
    (median.clamp(policy.min, policy.max), Reason::Adaptive)
}

/// The next poll after a success at `now`.
pub fn after_success(
    now: DateTime<Utc>,
    policy: &Policy,
    history: &[DateTime<Utc>],
    hints: &Hints,
    seed: u64,
) -> Plan {
    let (base, mut reason) = interval(policy, history);
    let mut wait = jitter(base, seed);
    if let Some(hint) = hint_wait(now, hints)
        && hint > wait
    {
        wait = hint;
        reason = Reason::Hint;
    }
    let at = add(now, wait);
    let allowed = skip_forward(at, hints);
    if allowed != at {
        reason = Reason::Hint;
    }
    Plan {
        at: allowed,
        reason,
    }
}

/// The next poll after the `errors`-th error in a row (1 for the first): the interval doubled
/// for each error after the first, up to `max_backoff`, and never sooner than the hints.
pub fn after_error(
    now: DateTime<Utc>,
    policy: &Policy,
    history: &[DateTime<Utc>],
    hints: &Hints,
    errors: u32,
    seed: u64,
) -> Plan {
    let (base, _) = interval(policy, history);
    let factor = 2u32.saturating_pow(errors.saturating_sub(1).min(30));
    let cap = policy.max_backoff.max(base);
    let wait = base.saturating_mul(factor).min(cap);
    let mut wait = jitter(wait, seed);
    if let Some(hint) = hint_wait(now, hints) {
        wait = wait.max(hint);
    }
    Plan {
        at: skip_forward(add(now, wait), hints),
        reason: Reason::Backoff,
    }
}

/// The next poll when the server said to come back at `retry_at`.
pub fn after_retry_after(now: DateTime<Utc>, retry_at: DateTime<Utc>) -> Plan {
    let latest = add(now, RETRY_AFTER_CAP);
    Plan {
        at: retry_at.clamp(now, latest),
        reason: Reason::RetryAfter,
    }
}

/// The next probe of a source that failed while the network was down.
pub fn during_outage(now: DateTime<Utc>, policy: &Policy, seed: u64) -> Plan {
    let wait = OUTAGE_PROBE.min(policy.pinned.unwrap_or(policy.start).max(policy.min));
    Plan {
        at: add(now, jitter(wait, seed)),
        reason: Reason::Outage,
    }
}

/// A failed fetch, as the charging rule sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failure {
    pub class: ErrorClass,
    pub status: Option<u16>,
    /// When the server said to come back (429, 503 with Retry-After).
    pub retry_after: Option<DateTime<Utc>>,
    /// For a network failure: the network is down here, or not known to be up lately (the
    /// outage detector's answer, asked of it for network failures only).
    pub network_down: bool,
}

/// What a failure costs its feed, and when the source is polled again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Charge {
    /// Counted against the feed (`consecutive_errors`, backoff).
    pub charged: bool,
    pub next: Plan,
    /// The Retry-After to record: for a rate limit, the time obeyed.
    pub retry_after: Option<DateTime<Utc>>,
    /// The whole host is left alone until `retry_after` (a 429, not a 503).
    pub block_host: bool,
}

/// Whether a failure is the feed's fault, and the next poll after it. Not charged: a rate
/// limit (polled again when the server said, else after the interval and at least an hour), a
/// 410 (the source is retired), a network failure while the network is down here (probed).
/// Anything else is charged and backs off as the `errors`-th error in a row ([`after_error`]).
pub fn after_failure(
    now: DateTime<Utc>,
    policy: &Policy,
    history: &[DateTime<Utc>],
    hints: &Hints,
    errors: u32,
    seed: u64,
    failure: Failure,
) -> Charge {
    let uncharged = |next: Plan| Charge {
        charged: false,
        next,
        retry_after: failure.retry_after,
        block_host: false,
    };
    match failure.class {
        ErrorClass::RateLimited => {
            let fallback = now + chrono::Duration::hours(1);
            let base = interval(policy, history).0;
            let retry_at = failure.retry_after.unwrap_or_else(|| {
                fallback.max(now + chrono::Duration::from_std(base).unwrap_or_default())
            });
            let next = after_retry_after(now, retry_at);
            Charge {
                charged: false,
                next,
                retry_after: Some(next.at),
                block_host: failure.status == Some(429),
            }
        }
        // Never polled again (`gleaner revive` brings it back).
        ErrorClass::Gone => uncharged(Plan {
            at: now,
            reason: Reason::Gone,
        }),
        class if class.is_network() && failure.network_down => {
            uncharged(during_outage(now, policy, seed))
        }
        _ => Charge {
            charged: true,
            ..uncharged(after_error(now, policy, history, hints, errors, seed))
        },
    }
}

/// The longest wait the hints ask for, capped at [`HINT_CAP`].
fn hint_wait(now: DateTime<Utc>, hints: &Hints) -> Option<Duration> {
    let expires = hints
        .expires
        .and_then(|at| (at - now).to_std().ok())
        .filter(|d| !d.is_zero());
    [hints.max_age, expires, hints.ttl, hints.update_period]
        .into_iter()
        .flatten()
        .max()
        .map(|d| d.min(HINT_CAP))
}

/// The first moment at or after `at` that is in neither a skipped hour nor a skipped day.
fn skip_forward(at: DateTime<Utc>, hints: &Hints) -> DateTime<Utc> {
    if hints.skip_hours & 0x00FF_FFFF == 0x00FF_FFFF || hints.skip_days & 0x7F == 0x7F {
        return at; // Everything skipped: a mistake, ignored rather than never polling.
    }
    let skipped = |t: DateTime<Utc>| {
        hints.skip_hours & (1 << t.hour()) != 0
            || hints.skip_days & (1 << t.weekday().num_days_from_monday()) != 0
    };
    let mut t = at;
    // At most a week of hours to look through.
    for _ in 0..(24 * 8) {
        if !skipped(t) {
            return t;
        }
        let next_hour = t
            .with_minute(0)
            .and_then(|t| t.with_second(0))
            .and_then(|t| t.with_nanosecond(0))
            .unwrap_or(t);
        t = next_hour + chrono::Duration::hours(1);
    }
    at
}

/// `d` stretched or shrunk by up to 3%, the same for the same `seed` every time.
pub fn jitter(d: Duration, seed: u64) -> Duration {
    let unit = (seed % 10_001) as f64 / 10_000.0; // 0..=1
    let factor = 0.97 + 0.06 * unit;
    Duration::from_secs_f64(d.as_secs_f64() * factor)
}

/// A stable seed for a source's jitter (FNV-1a of its URL).
pub fn seed_of(url: &str) -> u64 {
    url.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn add(at: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(d)
        .ok()
        .and_then(|d| at.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_reasons_read_back() {
        for reason in Reason::ALL {
            assert_eq!(Reason::parse(reason.as_str()), Some(reason));
        }
        assert_eq!(Reason::parse("whenever"), None);
    }

    const MIN: Duration = Duration::from_secs(60);
    const HOUR: Duration = Duration::from_secs(3600);
    const DAY: Duration = Duration::from_secs(86_400);

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    fn policy() -> Policy {
        Policy {
            pinned: None,
            start: 30 * MIN,
            min: 5 * MIN,
            max: DAY,
            max_backoff: DAY,
        }
    }

    fn every(step: Duration, n: usize, last: DateTime<Utc>) -> Vec<DateTime<Utc>> {
        (0..n).map(|i| add_neg(last, step * i as u32)).collect()
    }

    fn add_neg(t: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
        t - chrono::Duration::from_std(d).unwrap()
    }

    #[test]
    fn due() {
        let now = at("2024-01-01T12:00:00Z");
        assert!(is_due(None, now));
        assert!(is_due(Some(now), now));
        assert!(!is_due(Some(at("2024-01-01T12:00:01Z")), now));
    }

    #[test]
    fn interval_is_pinned_or_learnt_and_bounded() {
        let now = at("2024-03-01T12:00:00Z");
        let mut p = policy();
        assert_eq!(interval(&p, &[]), (30 * MIN, Reason::Interval));
        assert_eq!(
            interval(&p, &every(HOUR, 2, now)),
            (30 * MIN, Reason::Interval)
        );
        assert_eq!(
            interval(&p, &every(HOUR, 20, now)),
            (HOUR, Reason::Adaptive)
        );
        // Weekly publishers are polled daily: the max bounds it.
        assert_eq!(
            interval(&p, &every(7 * DAY, 10, now)),
            (DAY, Reason::Adaptive)
        );
        // A burst of items at once is bounded by the min.
        assert_eq!(
            interval(&p, &every(Duration::from_secs(1), 10, now)),
            (5 * MIN, Reason::Adaptive)
        );
        // The median resists one odd gap.
        let mut times = every(2 * HOUR, 10, now);
        times.push(add_neg(now, 300 * DAY));
        assert_eq!(interval(&p, &times).0, 2 * HOUR);
        p.pinned = Some(2 * HOUR);
        assert_eq!(
            interval(&p, &every(HOUR, 20, now)),
            (2 * HOUR, Reason::Interval)
        );
    }

    #[test]
    fn jitter_is_small_stable_and_spreads_sources() {
        let a = jitter(HOUR, seed_of("https://a.example/feed"));
        let b = jitter(HOUR, seed_of("https://b.example/feed"));
        assert_eq!(a, jitter(HOUR, seed_of("https://a.example/feed")));
        assert_ne!(a, b);
        for d in [a, b] {
            assert!(d >= HOUR.mul_f64(0.97) && d <= HOUR.mul_f64(1.03), "{d:?}");
        }
    }

    #[test]
    fn hints_are_never_undercut() {
        let now = at("2024-03-01T12:00:00Z");
        let p = policy();
        let plan = after_success(
            now,
            &p,
            &[],
            &Hints {
                ttl: Some(3 * HOUR),
                ..Hints::default()
            },
            0,
        );
        assert_eq!(
            (plan.at, plan.reason),
            (now + chrono::Duration::hours(3), Reason::Hint)
        );
        let plan = after_success(
            now,
            &p,
            &[],
            &Hints {
                max_age: Some(2 * HOUR),
                ..Hints::default()
            },
            0,
        );
        assert_eq!(plan.at, now + chrono::Duration::hours(2));
        let expires = now + chrono::Duration::hours(4);
        let plan = after_success(
            now,
            &p,
            &[],
            &Hints {
                expires: Some(expires),
                ..Hints::default()
            },
            0,
        );
        assert_eq!(plan.at, expires);
        let plan = after_success(
            now,
            &p,
            &[],
            &Hints {
                update_period: Some(DAY / 2),
                ..Hints::default()
            },
            0,
        );
        assert_eq!(plan.at, now + chrono::Duration::hours(12));
        // A hint shorter than the interval changes nothing; an absurd one is capped.
        let plan = after_success(
            now,
            &p,
            &[],
            &Hints {
                max_age: Some(MIN),
                ..Hints::default()
            },
            0,
        );
        assert_eq!(plan.reason, Reason::Interval);
        let plan = after_success(
            now,
            &p,
            &[],
            &Hints {
                ttl: Some(1000 * DAY),
                ..Hints::default()
            },
            0,
        );
        assert_eq!(plan.at, now + chrono::Duration::days(7));
        // Errors do not undercut hints either.
        let plan = after_error(
            now,
            &p,
            &[],
            &Hints {
                ttl: Some(6 * HOUR),
                ..Hints::default()
            },
            1,
            0,
        );
        assert!(plan.at >= now + chrono::Duration::hours(6));
    }

    #[test]
    fn skipped_hours_and_days_are_stepped_over() {
        let p = policy();
        // 22:50 + 30 min falls at 23:20; hours 23 and 0-5 are skipped: 06:00 the next day.
        let now = at("2024-03-01T22:50:00Z");
        let hints = Hints {
            skip_hours: (1 << 23) | 0b11_1111,
            ..Hints::default()
        };
        let plan = after_success(now, &p, &[], &hints, 0);
        assert_eq!(
            (plan.at, plan.reason),
            (at("2024-03-02T06:00:00Z"), Reason::Hint)
        );
        // 2024-03-02 is a Saturday; Saturday and Sunday skipped: Monday 00:00.
        let hints = Hints {
            skip_days: (1 << 5) | (1 << 6),
            ..Hints::default()
        };
        let plan = after_success(at("2024-03-01T23:50:00Z"), &p, &[], &hints, 0);
        assert_eq!(plan.at, at("2024-03-04T00:00:00Z"));
        // Everything skipped is a publisher's mistake: ignored.
        let hints = Hints {
            skip_hours: 0x00FF_FFFF,
            ..Hints::default()
        };
        assert_eq!(
            after_success(now, &p, &[], &hints, 0).reason,
            Reason::Interval
        );
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_and_never_stops() {
        let now = at("2024-03-01T12:00:00Z");
        let p = policy();
        let waits: Vec<i64> = (1..=12)
            .map(|n| (after_error(now, &p, &[], &Hints::default(), n, 0).at - now).num_minutes())
            .collect();
        assert_eq!(&waits[..7], &[29, 58, 116, 232, 465, 931, 1396]);
        assert!(waits[7..].iter().all(|&w| w == 1396), "{waits:?}");
        let plan = after_error(now, &p, &[], &Hints::default(), u32::MAX, 0);
        assert_eq!(plan.reason, Reason::Backoff);
        assert!(plan.at <= now + chrono::Duration::days(1));
    }

    #[test]
    fn retry_after_is_obeyed_within_a_cap() {
        let now = at("2024-03-01T12:00:00Z");
        let later = now + chrono::Duration::minutes(90);
        assert_eq!(
            after_retry_after(now, later),
            Plan {
                at: later,
                reason: Reason::RetryAfter
            }
        );
        assert_eq!(
            after_retry_after(now, now - chrono::Duration::hours(1)).at,
            now
        );
        assert_eq!(
            after_retry_after(now, now + chrono::Duration::days(30)).at,
            now + chrono::Duration::days(2)
        );
    }

    fn failure(class: ErrorClass, status: Option<u16>) -> Failure {
        Failure {
            class,
            status,
            retry_after: None,
            network_down: false,
        }
    }

    fn charge(now: DateTime<Utc>, failure: Failure) -> Charge {
        after_failure(now, &policy(), &[], &Hints::default(), 2, 0, failure)
    }

    #[test]
    fn a_feeds_own_failure_is_charged_and_backs_off() {
        let now = at("2024-03-01T12:00:00Z");
        for class in [ErrorClass::Http5xx, ErrorClass::Http4xx, ErrorClass::Tls] {
            let c = charge(now, failure(class, Some(500)));
            assert!(c.charged, "{class:?}");
            assert_eq!(
                c.next,
                after_error(now, &policy(), &[], &Hints::default(), 2, 0)
            );
            assert_eq!((c.retry_after, c.block_host), (None, false));
        }
        // A network failure while the network is known up is the feed's too.
        let c = charge(now, failure(ErrorClass::Timeout, None));
        assert!(c.charged);
        assert_eq!(c.next.reason, Reason::Backoff);
    }

    #[test]
    fn a_network_failure_while_the_network_is_down_is_probed_not_charged() {
        let now = at("2024-03-01T12:00:00Z");
        for class in [
            ErrorClass::Dns,
            ErrorClass::Connect,
            ErrorClass::Timeout,
            ErrorClass::Network,
        ] {
            let c = charge(
                now,
                Failure {
                    network_down: true,
                    ..failure(class, None)
                },
            );
            assert!(!c.charged, "{class:?}");
            assert_eq!(c.next, during_outage(now, &policy(), 0));
        }
        // The network being down excuses only failures of the path to the server.
        let c = charge(
            now,
            Failure {
                network_down: true,
                ..failure(ErrorClass::Http5xx, Some(503))
            },
        );
        assert!(c.charged);
    }

    #[test]
    fn a_rate_limit_is_obeyed_not_charged_and_a_429_blocks_its_host() {
        let now = at("2024-03-01T12:00:00Z");
        let later = now + chrono::Duration::minutes(90);
        let c = charge(
            now,
            Failure {
                retry_after: Some(later),
                ..failure(ErrorClass::RateLimited, Some(429))
            },
        );
        assert_eq!(
            c,
            Charge {
                charged: false,
                next: Plan {
                    at: later,
                    reason: Reason::RetryAfter
                },
                retry_after: Some(later),
                block_host: true,
            }
        );
        // A 503 with Retry-After concerns the feed, not its host; a wait past the cap is cut
        // and recorded as obeyed.
        let c = charge(
            now,
            Failure {
                retry_after: Some(now + chrono::Duration::days(30)),
                ..failure(ErrorClass::RateLimited, Some(503))
            },
        );
        assert!(!c.charged && !c.block_host);
        assert_eq!(c.retry_after, Some(now + chrono::Duration::days(2)));
        // No Retry-After: the interval, and at least an hour.
        let c = charge(now, failure(ErrorClass::RateLimited, Some(429)));
        assert_eq!(c.next.at, now + chrono::Duration::hours(1));
        let weekly: Vec<DateTime<Utc>> =
            (0..10).map(|i| now - chrono::Duration::weeks(i)).collect();
        let c = after_failure(
            now,
            &policy(),
            &weekly,
            &Hints::default(),
            1,
            0,
            failure(ErrorClass::RateLimited, Some(429)),
        );
        assert_eq!(c.next.at, now + chrono::Duration::days(1));
        assert!(!c.charged);
    }

    #[test]
    fn a_410_is_not_charged() {
        let now = at("2024-03-01T12:00:00Z");
        let c = charge(now, failure(ErrorClass::Gone, Some(410)));
        assert!(!c.charged && !c.block_host);
        assert_eq!(c.retry_after, None);
        assert_eq!(c.next.reason, Reason::Gone);
    }

    /// A day in the life, with a fast clock: an hourly publisher with a ttl, a server that
    /// fails for a while, a weekly publisher and a source pinned at 2 h, polled as the daemon
    /// would. No poll is sooner than its hints allow, no source is abandoned, backoff grows
    /// during the failure and is gone after it.
    #[test]
    fn a_day_in_the_life() {
        let start = at("2024-03-04T00:00:00Z");
        let end = start + chrono::Duration::days(2);
        let p = policy();
        let hourly_hints = Hints {
            ttl: Some(45 * MIN),
            skip_hours: 1 << 3,
            ..Hints::default()
        };
        let mut polls: Vec<(DateTime<Utc>, Reason)> = Vec::new();
        let mut errors = 0;
        let mut now = start;
        while now < end {
            let published: Vec<DateTime<Utc>> =
                (0..20).map(|i| now - chrono::Duration::hours(i)).collect();
            // The server fails from 06:00 to 12:00 on the first day.
            let failing = now >= start + chrono::Duration::hours(6)
                && now < start + chrono::Duration::hours(12);
            let plan = if failing {
                errors += 1;
                after_error(now, &p, &published, &hourly_hints, errors, 7)
            } else {
                errors = 0;
                after_success(now, &p, &published, &hourly_hints, 7)
            };
            assert!(plan.at > now, "time moves on");
            if !failing {
                assert!(
                    plan.at - now >= chrono::Duration::minutes(45),
                    "ttl undercut at {now}"
                );
            }
            assert!(plan.at.hour() != 3, "polled in a skipped hour: {}", plan.at);
            assert!(
                plan.at - now <= chrono::Duration::days(1),
                "source abandoned at {now}"
            );
            polls.push((now, plan.reason));
            now = plan.at;
        }
        let backoffs: Vec<_> = polls.iter().filter(|p| p.1 == Reason::Backoff).collect();
        assert!((2..=6).contains(&backoffs.len()), "{backoffs:?}");
        // After recovery the source is polled about hourly again.
        let after: Vec<_> = polls
            .iter()
            .filter(|p| p.0 > start + chrono::Duration::hours(14))
            .collect();
        assert!(after.iter().all(|p| p.1 != Reason::Backoff));
        assert!(
            (25..=40).contains(&after.len()),
            "{} polls after recovery",
            after.len()
        );

        // A weekly publisher is polled daily; a pinned source every 2 h give or take 3%.
        let weekly: Vec<DateTime<Utc>> = (0..10)
            .map(|i| start - chrono::Duration::weeks(i))
            .collect();
        let plan = after_success(start, &p, &weekly, &Hints::default(), 1);
        assert!((plan.at - start).num_hours() >= 23 && (plan.at - start).num_hours() <= 24);
        let pinned = Policy {
            pinned: Some(2 * HOUR),
            ..p
        };
        let plan = after_success(start, &pinned, &[], &Hints::default(), 1);
        assert!((plan.at - start).num_minutes() >= 116 && (plan.at - start).num_minutes() <= 124);
    }
}
