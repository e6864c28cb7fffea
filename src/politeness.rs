//! Being a good guest: at most `per_host` requests in flight to one host and a least gap
//! between two of them, hosts that said "too many requests" left alone until they said, and a
//! local network outage told apart from dead feeds. Shared by every poll of the daemon.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// Failures from this many different hosts, with no success in between, mean the network is
/// down here.
const OUTAGE_HOSTS: usize = 3;
/// How far back the outage detector looks.
const OUTAGE_WINDOW: Duration = Duration::from_secs(120);

#[derive(Debug)]
struct Host {
    in_flight: Arc<Semaphore>,
    /// When the next request to this host may start.
    next_start: Mutex<Instant>,
}

/// The politeness state of the daemon: cheap to share (`Arc`), safe from many tasks.
#[derive(Debug)]
pub struct Politeness {
    per_host: usize,
    host_delay: Duration,
    /// Limits configured for particular hosts: (per_host, host_delay).
    overrides: HashMap<String, (usize, Duration)>,
    hosts: Mutex<HashMap<String, Arc<Host>>>,
    blocked: Mutex<HashMap<String, DateTime<Utc>>>,
    outage: Mutex<OutageDetector>,
}

/// Held while a request to a host is in flight.
pub struct HostPermit {
    _permit: OwnedSemaphorePermit,
}

impl Politeness {
    pub fn new(per_host: usize, host_delay: Duration) -> Politeness {
        Politeness::with_overrides(per_host, host_delay, HashMap::new())
    }

    /// As [`Politeness::new`], with other limits for some hosts (names in lower case).
    pub fn with_overrides(
        per_host: usize,
        host_delay: Duration,
        overrides: HashMap<String, (usize, Duration)>,
    ) -> Politeness {
        Politeness {
            per_host: per_host.max(1),
            host_delay,
            overrides,
            hosts: Mutex::default(),
            blocked: Mutex::default(),
            outage: Mutex::default(),
        }
    }

    /// Waits for a slot to `host` and for the gap since the last request to it to pass.
    pub async fn acquire(&self, host: &str) -> HostPermit {
        let (per_host, delay) = self.limits(host);
        let host_state = {
            let mut hosts = lock(&self.hosts);
            Arc::clone(hosts.entry(host.to_owned()).or_insert_with(|| {
                Arc::new(Host {
                    in_flight: Arc::new(Semaphore::new(per_host)),
                    next_start: Mutex::new(Instant::now()),
                })
            }))
        };
        let permit = Arc::clone(&host_state.in_flight)
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        let start = {
            let mut next = lock(&host_state.next_start);
            let start = (*next).max(Instant::now());
            *next = start + delay;
            start
        };
        tokio::time::sleep_until(start).await;
        HostPermit { _permit: permit }
    }

    fn limits(&self, host: &str) -> (usize, Duration) {
        self.overrides
            .get(&host.to_ascii_lowercase())
            .map_or((self.per_host, self.host_delay), |&(n, d)| (n.max(1), d))
    }

    /// No request to `host` before `until` (a 429 for the whole host).
    pub fn block_host(&self, host: &str, until: DateTime<Utc>) {
        let mut blocked = lock(&self.blocked);
        let entry = blocked.entry(host.to_owned()).or_insert(until);
        *entry = (*entry).max(until);
    }

    /// When `host` may be asked again, if it is blocked at `now`.
    pub fn blocked_until(&self, host: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        lock(&self.blocked)
            .get(host)
            .copied()
            .filter(|until| *until > now)
    }

    /// Notes a request that reached its server (any HTTP answer): the network is up.
    pub fn network_ok(&self, now: DateTime<Utc>) {
        lock(&self.outage).success(now);
    }

    /// Seeds the detector with the last time a server answered (from the database).
    pub fn network_seen_up(&self, at: DateTime<Utc>) {
        let mut outage = lock(&self.outage);
        outage.last_success = outage.last_success.max(Some(at));
    }

    /// Notes a network failure (DNS, connect, timeout) from `host` and says whether the network
    /// looks down here: down now, or not shown up lately (then the failure is not the feed's
    /// to be charged). Logs once when an outage begins.
    pub fn network_down_after_failure(&self, host: &str, now: DateTime<Utc>) -> bool {
        let mut outage = lock(&self.outage);
        let was_down = outage.is_down();
        outage.failure(host, now);
        if outage.is_down() && !was_down {
            tracing::warn!(
                hosts = OUTAGE_HOSTS,
                "requests to many hosts fail at once: the network looks down here; \
                 no source is charged an error until it is back"
            );
        }
        !outage.charge(now)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic elsewhere must not stop the politeness of every other poll.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Tells a local outage (many hosts failing at once) from a dead feed.
#[derive(Debug, Default)]
pub struct OutageDetector {
    failures: Vec<(String, DateTime<Utc>)>,
    down: bool,
    last_success: Option<DateTime<Utc>>,
}

/// A network failure is charged to its feed only if some server answered within this time:
/// otherwise nothing shows that the fault is the feed's rather than the network's.
const NETWORK_KNOWN_UP: Duration = Duration::from_secs(3600);

impl OutageDetector {
    pub fn success(&mut self, now: DateTime<Utc>) {
        if self.down {
            tracing::info!("a server answered: the network is back");
        }
        self.down = false;
        self.failures.clear();
        self.last_success = self.last_success.max(Some(now));
    }

    pub fn failure(&mut self, host: &str, now: DateTime<Utc>) {
        self.failures
            .retain(|(_, at)| (now - *at).to_std().unwrap_or_default() <= OUTAGE_WINDOW);
        self.failures.push((host.to_owned(), now));
        let hosts: HashSet<&str> = self.failures.iter().map(|(h, _)| h.as_str()).collect();
        if hosts.len() >= OUTAGE_HOSTS {
            self.down = true;
        }
    }

    pub fn is_down(&self) -> bool {
        self.down
    }

    /// Whether a network failure now is the feed's fault.
    pub fn charge(&self, now: DateTime<Utc>) -> bool {
        !self.down
            && self
                .last_success
                .is_some_and(|at| (now - at).to_std().unwrap_or_default() <= NETWORK_KNOWN_UP)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outage_needs_several_hosts_and_ends_with_a_success() {
        let t0 = Utc::now();
        let s = |secs| t0 + chrono::Duration::seconds(secs);
        let mut d = OutageDetector::default();
        d.success(t0);
        d.failure("a", t0);
        d.failure("a", t0);
        d.failure("b", t0);
        assert!(!d.is_down(), "two hosts can both be dead");
        assert!(d.charge(t0), "the network was up a moment ago");
        d.failure("c", s(1));
        assert!(d.is_down());
        assert!(!d.charge(s(1)));
        d.success(s(2));
        assert!(!d.is_down());
        // Failures spread beyond the window do not add up.
        d.failure("a", s(3));
        d.failure("b", s(100));
        d.failure("c", s(300));
        assert!(!d.is_down());
        // Nothing has answered for hours: no failure is charged.
        assert!(!d.charge(s(2 + 3601)));
        assert!(!OutageDetector::default().charge(t0));
    }

    #[tokio::test(start_paused = true)]
    async fn requests_to_one_host_are_limited_and_spaced() {
        let p = Arc::new(Politeness::new(2, Duration::from_secs(1)));
        let start = Instant::now();
        let mut starts = Vec::new();
        for _ in 0..4 {
            let _permit = p.acquire("h").await;
            starts.push(start.elapsed().as_secs());
        }
        assert_eq!(starts, vec![0, 1, 2, 3]);
        // A host with limits of its own.
        let tuned = Politeness::with_overrides(
            1,
            Duration::from_secs(10),
            HashMap::from([("fast.example".to_string(), (3, Duration::ZERO))]),
        );
        let t = Instant::now();
        let held: Vec<_> = [0, 1, 2]
            .iter()
            .map(|_| tuned.acquire("fast.example"))
            .collect();
        let held = futures_join(held).await;
        assert_eq!(t.elapsed(), Duration::ZERO);
        drop(held);
        // Another host is not held up by the first.
        let other = Instant::now();
        let _a = p.acquire("other").await;
        assert_eq!(other.elapsed(), Duration::ZERO);
        // Two in flight at most: a third waits until one is released.
        let _b = p.acquire("other").await;
        let third = tokio::time::timeout(Duration::from_secs(60), p.acquire("other")).await;
        assert!(third.is_err());
    }

    async fn futures_join<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
        let mut out = Vec::new();
        for f in futures {
            out.push(f.await);
        }
        out
    }

    #[test]
    fn blocked_hosts_until_the_time_given() {
        let p = Politeness::new(1, Duration::ZERO);
        let now = Utc::now();
        let later = now + chrono::Duration::minutes(5);
        p.block_host("h", later);
        p.block_host("h", now + chrono::Duration::minutes(1));
        assert_eq!(p.blocked_until("h", now), Some(later));
        assert_eq!(p.blocked_until("h", later), None);
        assert_eq!(p.blocked_until("other", now), None);
    }
}
