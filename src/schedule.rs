//! When each source is due. Pure functions of the clock and the source's settings, so every
//! rule is unit-tested without waiting.
//!
//! Today the rule is a fixed interval per source; the next poll is always recorded with the
//! reason it is when it is, so `gleaner sources` can explain it.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// Why a source's next poll is when it is (stored in `sources.next_poll_reason`).
pub const REASON_INTERVAL: &str = "interval";

/// The next poll after one that started at `polled_at`.
pub fn next_poll(polled_at: DateTime<Utc>, interval: Duration) -> (DateTime<Utc>, &'static str) {
    let step = chrono::Duration::from_std(interval).unwrap_or(chrono::Duration::MAX);
    let at = polled_at
        .checked_add_signed(step)
        .unwrap_or(DateTime::<Utc>::MAX_UTC);
    (at, REASON_INTERVAL)
}

/// Whether a source whose next poll is `next_poll_at` (never polled: `None`) is due at `now`.
pub fn is_due(next_poll_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    next_poll_at.is_none_or(|at| at <= now)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    #[test]
    fn next_poll_adds_the_interval() {
        let (next, reason) = next_poll(at("2024-01-01T00:00:00Z"), Duration::from_secs(1800));
        assert_eq!(next, at("2024-01-01T00:30:00Z"));
        assert_eq!(reason, "interval");
        // An absurd interval saturates instead of overflowing.
        let (far, _) = next_poll(at("2024-01-01T00:00:00Z"), Duration::from_secs(u64::MAX));
        assert!(far > at("9999-01-01T00:00:00Z"));
    }

    #[test]
    fn due_when_never_polled_or_time_has_come() {
        let now = at("2024-01-01T12:00:00Z");
        assert!(is_due(None, now));
        assert!(is_due(Some(now), now));
        assert!(is_due(Some(at("2024-01-01T11:59:59Z")), now));
        assert!(!is_due(Some(at("2024-01-01T12:00:01Z")), now));
    }
}
