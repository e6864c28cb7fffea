//! Whether an article's page may be fetched: the site's robots.txt (RFC 9309), fetched through
//! the [`Fetcher`] like any other request and kept per origin for a day. The parsing and the
//! matching are `texting_robots`'; this module decides what to fetch, when, and what a failure
//! means.
//!
//! What a fetch of robots.txt means (RFC 9309, 2.3.1):
//! - 2xx: its rules, for the product token of the User-Agent, for [`ROBOTS_TTL`].
//! - 4xx (404, 410, …), too many redirects, a file over the size cap or that texting_robots
//!   cannot parse: "unavailable", so everything is allowed, for [`ROBOTS_TTL`].
//! - A refused private address: the site is refused ([`Verdict::Refused`]), and so its pages.
//! - 5xx, 429, a network failure: "unreachable", so nothing is
//!   allowed ([`Verdict::Unavailable`]) until it is tried again after [`UNREACHABLE_TTL`]. If
//!   rules were fetched before, they are kept meanwhile (RFC 9309, 2.4), for [`MAX_STALE`] at most.
//! - A file too costly to compile ([`MAX_ANCHORED_RULES`]): nothing is allowed, for [`ROBOTS_TTL`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use texting_robots::Robot;
use url::{Position, Url};

use crate::fetch::{ErrorClass, FetchError, Fetcher, Reach};
use crate::politeness::Politeness;

/// How long a fetched robots.txt (or its absence) holds: RFC 9309 asks for no more than a day.
pub const ROBOTS_TTL: Duration = Duration::from_secs(24 * 3600);
/// How long an unreachable robots.txt blocks its site before it is tried again.
pub const UNREACHABLE_TTL: Duration = Duration::from_secs(3600);
/// How long rules fetched before stand in for a robots.txt that has become unreachable: RFC 9309
/// lets a crawler keep its copy while the file is unreachable, and names 30 days as the horizon.
pub const MAX_STALE: Duration = Duration::from_secs(30 * 24 * 3600);
/// Entries kept at most (one per origin, for each agent and reach that asked): a bound on memory.
pub const MAX_ORIGINS: usize = 2_000;
/// The most '$' a robots.txt may hold to be read. texting_robots compiles a regex for each rule
/// with a '$', about 14 KB and 0.2 ms each (measured: 500 KiB of such rules took 340 MB and 4.7 s),
/// while other rules cost a few times their text. A file past this is not read, and allows
/// nothing: one site must not take a large share of memory.
pub const MAX_ANCHORED_RULES: usize = 1_000;

/// What robots.txt says of one URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    Disallowed {
        robots_url: String,
    },
    /// robots.txt could not be had (or was too costly to read), so nothing may be fetched (RFC
    /// 9309: "complete disallow").
    /// `robots_url` is empty when the URL has none (not http or https).
    Unavailable {
        robots_url: String,
        reason: String,
    },
    /// The site is on an address this fetch may not reach (a private address, for a URL found in
    /// a document): its pages may not be fetched either.
    Refused {
        robots_url: String,
        reason: String,
    },
}

/// The robots.txt rules of the sites asked about: cheap to share (`Arc`), safe from many tasks.
pub struct RobotsCache {
    capacity: usize,
    ttl: Duration,
    unreachable_ttl: Duration,
    entries: Mutex<HashMap<Key, Entry>>,
}

/// One robots.txt as read by one agent. The agent is in the key because the rules are parsed for
/// it (sources may set their own User-Agent); the reach because it decides whether the file can
/// be reached at all.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    /// RFC 9309's origin: scheme, host and port.
    origin: String,
    /// The product token, in lower case (agents match case-insensitively).
    agent: String,
    reach: u8,
}

struct Entry {
    /// Held while the file is fetched, so that the other checks of the origin wait for that
    /// fetch rather than make their own.
    gate: Arc<tokio::sync::Mutex<()>>,
    /// `None` until the first fetch ends.
    cached: Option<Cached>,
}

struct Cached {
    rules: Arc<Rules>,
    /// When these rules were fetched (kept when a later fetch failed and they stood in).
    fetched: Instant,
    expires: Instant,
}

enum Rules {
    Parsed(Robot),
    AllowAll,
    /// Why the file could not be had.
    Unreachable(String),
    /// Why the site may not be reached at all.
    PrivateAddress(String),
    /// A file not read ([`MAX_ANCHORED_RULES`]): it may say no, so nothing is allowed.
    Refused(String),
}

impl Default for RobotsCache {
    fn default() -> RobotsCache {
        RobotsCache::new()
    }
}

impl RobotsCache {
    pub fn new() -> RobotsCache {
        RobotsCache::with_capacity(MAX_ORIGINS)
    }

    /// A cache of at most `capacity` entries (at least one).
    pub fn with_capacity(capacity: usize) -> RobotsCache {
        RobotsCache::build(capacity, ROBOTS_TTL, UNREACHABLE_TTL)
    }

    fn build(capacity: usize, ttl: Duration, unreachable_ttl: Duration) -> RobotsCache {
        RobotsCache {
            capacity: capacity.max(1),
            ttl,
            unreachable_ttl,
            entries: Mutex::default(),
        }
    }

    /// Whether `user_agent` may fetch `url`: the site's robots.txt (scheme, host and port: RFC
    /// 9309's "origin") fetched through `fetcher` at most once per TTL, polite like any other
    /// request.
    pub async fn check(
        &self,
        fetcher: &Fetcher,
        politeness: &Politeness,
        url: &str,
        user_agent: &str,
        reach: Reach,
    ) -> Verdict {
        let Some(site) = Site::of(url, user_agent, reach) else {
            return Verdict::Unavailable {
                robots_url: String::new(),
                reason: "not an http(s) URL".into(),
            };
        };
        if let Some(rules) = self.fresh(&site.key) {
            return site.verdict(&rules);
        }
        let gate = self.gate(&site.key);
        let _fetching = gate.lock().await;
        // Another check may have fetched it while this one waited.
        if let Some(rules) = self.fresh(&site.key) {
            return site.verdict(&rules);
        }
        let rules = if let Some(until) = politeness.blocked_until(&site.host, Utc::now()) {
            // A host that asked to be left alone (a 429) is not asked for its robots.txt either.
            Rules::Unreachable(format!(
                "robots.txt not asked for: {} asks for no request before {until}",
                site.host
            ))
        } else {
            fetch(fetcher, politeness, &site, user_agent, reach).await
        };
        let rules = self.store(&site.key, rules);
        site.verdict(&rules)
    }

    /// The rules of `key` if they have not expired.
    fn fresh(&self, key: &Key) -> Option<Arc<Rules>> {
        let now = Instant::now();
        lock(&self.entries)
            .get(key)?
            .cached
            .as_ref()
            .filter(|c| c.expires > now)
            .map(|c| Arc::clone(&c.rules))
    }

    /// The fetch gate of `key`, its entry made (and room for it) if needed.
    fn gate(&self, key: &Key) -> Arc<tokio::sync::Mutex<()>> {
        let mut entries = lock(&self.entries);
        Arc::clone(&self.entry(&mut entries, key).gate)
    }

    fn entry<'a>(&self, entries: &'a mut HashMap<Key, Entry>, key: &Key) -> &'a mut Entry {
        if !entries.contains_key(key) {
            while entries.len() >= self.capacity {
                let Some(old) = victim(entries, Instant::now()) else {
                    break;
                };
                entries.remove(&old);
            }
        }
        entries.entry(key.clone()).or_insert_with(|| Entry {
            gate: Arc::default(),
            cached: None,
        })
    }

    /// Keeps what a fetch found and returns the rules to go by: those found, or the ones fetched
    /// before if the file is now unreachable and they are recent enough.
    fn store(&self, key: &Key, rules: Rules) -> Arc<Rules> {
        let now = Instant::now();
        let mut entries = lock(&self.entries);
        // Made anew if it was evicted during the fetch.
        let entry = self.entry(&mut entries, key);
        // A refused address is no outage: rules fetched before do not stand in for it.
        let unreachable = matches!(rules, Rules::Unreachable(_));
        let short = unreachable || matches!(rules, Rules::PrivateAddress(_));
        let retry = now + self.unreachable_ttl;
        let cached = match entry.cached.take() {
            Some(old)
                if unreachable
                    && matches!(*old.rules, Rules::Parsed(_) | Rules::AllowAll)
                    && now.duration_since(old.fetched) < MAX_STALE =>
            {
                tracing::debug!(
                    origin = key.origin,
                    "robots.txt unreachable: kept the copy fetched before"
                );
                Cached {
                    expires: retry,
                    ..old
                }
            }
            _ => Cached {
                rules: Arc::new(rules),
                fetched: now,
                expires: if short { retry } else { now + self.ttl },
            },
        };
        let rules = Arc::clone(&cached.rules);
        entry.cached = Some(cached);
        rules
    }
}

/// Fetches and reads a robots.txt.
async fn fetch(
    fetcher: &Fetcher,
    politeness: &Politeness,
    site: &Site,
    user_agent: &str,
    reach: Reach,
) -> Rules {
    let fetched = fetcher
        .fetch_robots(&site.robots_url, user_agent, reach, politeness)
        .await;
    match fetched {
        Ok(body) => {
            let (agent, robots_url) = (site.key.agent.clone(), site.robots_url.clone());
            // Off the runtime's threads: texting_robots compiles a regex for each rule with a
            // '$', which for 500 KiB of them takes seconds (and hundreds of MB).
            tokio::task::spawn_blocking(move || parse(&agent, &body.bytes, &robots_url))
                .await
                .unwrap_or_else(|e| {
                    tracing::debug!(robots_url = site.robots_url, error = %e, "robots.txt parser failed: all allowed");
                    Rules::AllowAll
                })
        }
        Err(e) => {
            if e.class == ErrorClass::RateLimited
                && e.status == Some(429)
                && let (Some(host), Some(until)) = (&e.host, e.retry_after)
            {
                // As for a feed: a 429 speaks for the whole host.
                politeness.block_host(host, until);
            }
            on_error(&e, &site.robots_url)
        }
    }
}

/// The entry to drop to make room: an expired one first, then the one fetched longest ago; one
/// whose first fetch has not ended yet last.
fn victim(entries: &HashMap<Key, Entry>, now: Instant) -> Option<Key> {
    entries
        .iter()
        .min_by_key(|(_, entry)| match &entry.cached {
            Some(c) if c.expires <= now => (0, c.fetched),
            Some(c) => (1, c.fetched),
            None => (2, now),
        })
        .map(|(key, _)| key.clone())
}

/// The product token of a User-Agent, the name robots.txt groups are matched against: the text
/// before the first '/' or space ("gleaner" for "gleaner/0.1 (+https://example.org/)").
/// texting_robots compares it with a group's whole `User-agent` value, case aside: neither the
/// full User-Agent nor a group for `gleaner/1.0` would match.
pub fn agent_token(user_agent: &str) -> &str {
    let ua = user_agent.trim_start();
    let end = ua
        .find(|c: char| c == '/' || c.is_whitespace())
        .unwrap_or(ua.len());
    &ua[..end]
}

/// The rules of a robots.txt for `agent`.
fn parse(agent: &str, bytes: &[u8], robots_url: &str) -> Rules {
    // Counted over the whole file (other groups, comments): an upper bound on the regexes made.
    let anchored = bytes.iter().filter(|&&b| b == b'$').count();
    if anchored > MAX_ANCHORED_RULES {
        let reason =
            format!("robots.txt not read: {anchored} '$' in it, more than {MAX_ANCHORED_RULES}");
        tracing::debug!(robots_url, reason, "robots.txt too costly: nothing allowed");
        return Rules::Refused(reason);
    }
    match Robot::new(agent, bytes) {
        Ok(robot) => Rules::Parsed(robot),
        // texting_robots fails only on a rule it cannot compile (a pattern past its regex size
        // limit): a file that says nothing usable, like an absent one.
        Err(e) => {
            tracing::debug!(robots_url, error = %e, "robots.txt not parsed: all allowed");
            Rules::AllowAll
        }
    }
}

/// What a failed fetch of robots.txt means. Every class is named, so that a new one needs a
/// decision.
fn on_error(e: &FetchError, robots_url: &str) -> Rules {
    match e.class {
        ErrorClass::PrivateAddress => refused(e),
        // "Unavailable": the site has no robots.txt to give. RFC 9309 lets more than five
        // redirects count as that; a loop or a redirect without a usable target is no better.
        ErrorClass::Http4xx | ErrorClass::Gone | ErrorClass::Redirect => {
            tracing::debug!(
                robots_url,
                class = e.class.as_str(),
                "no robots.txt: all allowed"
            );
            Rules::AllowAll
        }
        // The fetcher keeps none of a body past the cap, so the first 512 KiB cannot be parsed
        // (RFC 9309 asks for at least 500 KiB): taken as no robots.txt, as crawlers take the
        // part past their limit.
        ErrorClass::TooLarge => {
            tracing::debug!(robots_url, "robots.txt over the size cap: all allowed");
            Rules::AllowAll
        }
        // "Unreachable": the file may exist and say no.
        ErrorClass::Http5xx
        | ErrorClass::RateLimited
        | ErrorClass::Dns
        | ErrorClass::Connect
        | ErrorClass::Tls
        | ErrorClass::Timeout
        | ErrorClass::Network
        | ErrorClass::HttpOther
        | ErrorClass::Io => {
            let reason = format!(
                "robots.txt unreachable: {}: {}",
                e.class.as_str(),
                e.message
            );
            tracing::debug!(
                robots_url,
                reason,
                "robots.txt unreachable: nothing allowed"
            );
            Rules::Unreachable(reason)
        }
    }
}

/// The site's address is refused for this reach: so are its pages. Kept as long as an
/// unreachable file, since a host name may move to a public address.
fn refused(e: &FetchError) -> Rules {
    Rules::PrivateAddress(e.message.clone())
}

/// A URL as the cache sees it.
struct Site {
    key: Key,
    robots_url: String,
    /// The host, for the politeness rules.
    host: String,
    /// Path and query, which the rules match (not the fragment, which is never sent).
    path: String,
}

impl Site {
    fn of(url: &str, user_agent: &str, reach: Reach) -> Option<Site> {
        let url = Url::parse(url).ok()?;
        if !matches!(url.scheme(), "http" | "https") {
            return None;
        }
        let host = url.host_str().filter(|h| !h.is_empty())?.to_owned();
        let origin = url.origin().ascii_serialization();
        Some(Site {
            robots_url: format!("{origin}/robots.txt"),
            key: Key {
                origin,
                agent: agent_token(user_agent).to_lowercase(),
                reach: match reach {
                    Reach::Anywhere => 0,
                    Reach::Configured => 1,
                    Reach::PublicOnly => 2,
                },
            },
            host,
            path: url[Position::BeforePath..Position::AfterQuery].to_owned(),
        })
    }

    fn verdict(&self, rules: &Rules) -> Verdict {
        match rules {
            Rules::Parsed(robot) if !robot.allowed(&self.path) => Verdict::Disallowed {
                robots_url: self.robots_url.clone(),
            },
            Rules::Parsed(_) | Rules::AllowAll => Verdict::Allowed,
            Rules::Unreachable(reason) | Rules::Refused(reason) => Verdict::Unavailable {
                robots_url: self.robots_url.clone(),
                reason: reason.clone(),
            },
            Rules::PrivateAddress(reason) => Verdict::Refused {
                robots_url: self.robots_url.clone(),
                reason: reason.clone(),
            },
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic in one check must not stop every other.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;
    use crate::fetch::FetchSettings;

    const UA: &str = "gleaner-test/1";

    /// What the test server answers on one path.
    struct Reply {
        status: u16,
        headers: String,
        body: String,
    }

    struct Route {
        reply: Mutex<Reply>,
        hits: AtomicUsize,
    }

    /// A real HTTP/1.1 server on 127.0.0.1, answering each request after `delay`.
    struct Server {
        port: u16,
        routes: Arc<HashMap<&'static str, Route>>,
    }

    impl Server {
        /// Answers `(path, status, extra headers, body)`; anything else is a 404.
        async fn start(routes: &[(&'static str, u16, &str, &str)], delay: Duration) -> Server {
            let routes: HashMap<_, _> = routes
                .iter()
                .map(|&(path, status, headers, body)| {
                    let reply = Reply {
                        status,
                        headers: headers.to_owned(),
                        body: body.to_owned(),
                    };
                    let route = Route {
                        reply: Mutex::new(reply),
                        hits: AtomicUsize::new(0),
                    };
                    (path, route)
                })
                .collect();
            let routes = Arc::new(routes);
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let port = listener.local_addr().unwrap().port();
            let served = Arc::clone(&routes);
            tokio::spawn(async move {
                while let Ok((socket, _)) = listener.accept().await {
                    tokio::spawn(answer(socket, Arc::clone(&served), delay));
                }
            });
            Server { port, routes }
        }

        fn url(&self, path: &str) -> String {
            format!("http://127.0.0.1:{}{path}", self.port)
        }

        fn hits(&self, path: &str) -> usize {
            self.routes[path].hits.load(Ordering::SeqCst)
        }

        fn set(&self, path: &str, status: u16, body: &str) {
            let mut reply = lock(&self.routes[path].reply);
            reply.status = status;
            reply.body = body.to_owned();
        }
    }

    async fn answer(
        mut socket: tokio::net::TcpStream,
        routes: Arc<HashMap<&'static str, Route>>,
        delay: Duration,
    ) {
        let mut request = Vec::new();
        let mut buf = [0u8; 4096];
        while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < 65_536 {
            match socket.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => request.extend_from_slice(&buf[..n]),
            }
        }
        let request = String::from_utf8_lossy(&request);
        let path = request.split(' ').nth(1).unwrap_or("/");
        let (status, headers, body) = match routes.get(path) {
            Some(route) => {
                route.hits.fetch_add(1, Ordering::SeqCst);
                let reply = lock(&route.reply);
                (reply.status, reply.headers.clone(), reply.body.clone())
            }
            None => (404, String::new(), "not found".to_owned()),
        };
        tokio::time::sleep(delay).await;
        let head = format!(
            "HTTP/1.1 {status} Status\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\
             Connection: close\r\n{headers}\r\n",
            body.len()
        );
        let _ = socket.write_all(head.as_bytes()).await;
        let _ = socket.write_all(body.as_bytes()).await;
        let _ = socket.shutdown().await;
    }

    fn fetcher() -> Fetcher {
        Fetcher::new(FetchSettings {
            user_agent: UA.into(),
            connect_timeout: Duration::from_secs(2),
            timeout: Duration::from_secs(5),
            max_bytes: 1 << 20,
        })
        .unwrap()
    }

    fn politeness() -> Politeness {
        Politeness::new(4, Duration::ZERO)
    }

    const GROUPS: &str = "\
User-agent: *
Disallow: /private

User-Agent: Gleaner-Test  # names match whatever their case
Disallow: /no-gleaner
";

    #[test]
    fn agent_token_is_the_product_token() {
        assert_eq!(
            agent_token("gleaner/0.1 (+https://example.org/)"),
            "gleaner"
        );
        assert_eq!(agent_token("gleaner-test/1"), "gleaner-test");
        assert_eq!(agent_token("gleaner (+https://example.org/)"), "gleaner");
        assert_eq!(agent_token("  gleaner\t/1"), "gleaner");
        assert_eq!(agent_token("gleaner"), "gleaner");
        assert_eq!(agent_token("Mozilla/5.0 (compatible; gleaner)"), "Mozilla");
        assert_eq!(agent_token(""), "");
        // How texting_robots matches it: the whole name, in any case, and nothing more.
        let allowed = |agent: &str, group: &str| {
            let txt = format!("User-agent: {group}\nDisallow: /\n");
            Robot::new(agent, txt.as_bytes()).unwrap().allowed("/x")
        };
        assert!(!allowed("gleaner", "GLEANER"));
        assert!(allowed("gleaner", "gleaner/1.0"));
        assert!(allowed("gleaner/0.1 (+https://example.org/)", "gleaner"));
        assert!(allowed("gleaner", "gleaner-test"));
    }

    #[tokio::test]
    async fn the_agents_group_and_everyone_elses() {
        let server = Server::start(&[("/robots.txt", 200, "", GROUPS)], Duration::ZERO).await;
        let (f, p, cache) = (fetcher(), politeness(), RobotsCache::new());
        let check = |path: &str, ua: &'static str| {
            let url = server.url(path);
            let (f, p, cache) = (&f, &p, &cache);
            async move { cache.check(f, p, &url, ua, Reach::Anywhere).await }
        };
        let robots_url = server.url("/robots.txt");
        let disallowed = Verdict::Disallowed {
            robots_url: robots_url.clone(),
        };
        assert_eq!(check("/no-gleaner/a.html", UA).await, disallowed);
        // The agent's own group replaces the one for everyone.
        assert_eq!(check("/private/a.html", UA).await, Verdict::Allowed);
        assert_eq!(check("/a.html?q=1#no-gleaner", UA).await, Verdict::Allowed);
        assert_eq!(server.hits("/robots.txt"), 1);
        // Another agent reads the file for itself, and gets the group for everyone.
        assert_eq!(check("/private/a.html", "other/2").await, disallowed);
        assert_eq!(
            check("/no-gleaner/a.html", "other/2").await,
            Verdict::Allowed
        );
        assert_eq!(server.hits("/robots.txt"), 2);
    }

    #[tokio::test]
    async fn no_robots_txt_allows_everything() {
        let server = Server::start(&[("/robots.txt", 410, "", "gone")], Duration::ZERO).await;
        let (f, p, cache) = (fetcher(), politeness(), RobotsCache::new());
        for path in ["/a", "/b"] {
            let verdict = cache
                .check(&f, &p, &server.url(path), UA, Reach::Anywhere)
                .await;
            assert_eq!(verdict, Verdict::Allowed);
        }
        assert_eq!(server.hits("/robots.txt"), 1, "the absence is cached");
        // No route at all: a 404.
        let missing = Server::start(&[], Duration::ZERO).await;
        let verdict = cache
            .check(&f, &p, &missing.url("/a"), UA, Reach::Anywhere)
            .await;
        assert_eq!(verdict, Verdict::Allowed);
    }

    #[tokio::test]
    async fn an_unreachable_robots_txt_allows_nothing_for_a_while() {
        let server = Server::start(&[("/robots.txt", 503, "", "down")], Duration::ZERO).await;
        let (f, p) = (fetcher(), politeness());
        let cache = RobotsCache::new();
        for _ in 0..2 {
            let verdict = cache
                .check(&f, &p, &server.url("/a"), UA, Reach::Anywhere)
                .await;
            let Verdict::Unavailable { robots_url, reason } = verdict else {
                panic!("{verdict:?}");
            };
            assert_eq!(robots_url, server.url("/robots.txt"));
            assert!(
                reason.contains("http_5xx") && reason.contains("503"),
                "{reason}"
            );
        }
        assert_eq!(
            server.hits("/robots.txt"),
            1,
            "tried again only after a while"
        );
        // Once the while is over (none here), the file is fetched again.
        let cache = RobotsCache::build(10, ROBOTS_TTL, Duration::ZERO);
        let verdict = cache
            .check(&f, &p, &server.url("/a"), UA, Reach::Anywhere)
            .await;
        assert!(matches!(verdict, Verdict::Unavailable { .. }));
        server.set("/robots.txt", 200, "User-agent: *\nDisallow: /a\n");
        let verdict = cache
            .check(&f, &p, &server.url("/b"), UA, Reach::Anywhere)
            .await;
        assert_eq!(verdict, Verdict::Allowed);
        assert_eq!(server.hits("/robots.txt"), 3);
    }

    #[tokio::test]
    async fn rules_fetched_before_stand_in_while_unreachable() {
        let rules = "User-agent: *\nDisallow: /a\n";
        let server = Server::start(&[("/robots.txt", 200, "", rules)], Duration::ZERO).await;
        let (f, p) = (fetcher(), politeness());
        // Every entry expires at once, so each check fetches.
        let cache = RobotsCache::build(10, Duration::ZERO, Duration::ZERO);
        let a = server.url("/a");
        let b = server.url("/b");
        assert!(matches!(
            cache.check(&f, &p, &a, UA, Reach::Anywhere).await,
            Verdict::Disallowed { .. }
        ));
        server.set("/robots.txt", 500, "oops");
        assert!(matches!(
            cache.check(&f, &p, &a, UA, Reach::Anywhere).await,
            Verdict::Disallowed { .. }
        ));
        assert_eq!(
            cache.check(&f, &p, &b, UA, Reach::Anywhere).await,
            Verdict::Allowed
        );
        assert_eq!(server.hits("/robots.txt"), 3);
    }

    #[tokio::test]
    async fn concurrent_checks_of_one_origin_make_one_request() {
        let server = Arc::new(
            Server::start(
                &[("/robots.txt", 200, "", GROUPS)],
                Duration::from_millis(200),
            )
            .await,
        );
        let (f, p, cache) = (
            Arc::new(fetcher()),
            Arc::new(politeness()),
            Arc::new(RobotsCache::new()),
        );
        let checks: Vec<_> = (0..10)
            .map(|i| {
                let (f, p, cache) = (Arc::clone(&f), Arc::clone(&p), Arc::clone(&cache));
                let path = if i % 2 == 0 { "/no-gleaner/x" } else { "/x" };
                let url = server.url(path);
                tokio::spawn(async move { cache.check(&f, &p, &url, UA, Reach::Anywhere).await })
            })
            .collect();
        for (i, check) in checks.into_iter().enumerate() {
            let verdict = check.await.unwrap();
            assert_eq!(
                matches!(verdict, Verdict::Disallowed { .. }),
                i % 2 == 0,
                "{verdict:?}"
            );
        }
        assert_eq!(server.hits("/robots.txt"), 1);
    }

    #[tokio::test]
    async fn a_fresh_entry_makes_no_request_an_expired_one_does() {
        let server = Server::start(&[("/robots.txt", 200, "", GROUPS)], Duration::ZERO).await;
        let (f, p) = (fetcher(), politeness());
        let cache = RobotsCache::new();
        let url = server.url("/x");
        for _ in 0..3 {
            assert_eq!(
                cache.check(&f, &p, &url, UA, Reach::Anywhere).await,
                Verdict::Allowed
            );
        }
        assert_eq!(server.hits("/robots.txt"), 1);
        let expiring = RobotsCache::build(10, Duration::ZERO, Duration::ZERO);
        for _ in 0..2 {
            assert_eq!(
                expiring.check(&f, &p, &url, UA, Reach::Anywhere).await,
                Verdict::Allowed
            );
        }
        assert_eq!(server.hits("/robots.txt"), 3);
    }

    #[tokio::test]
    async fn redirects_are_followed() {
        let server = Server::start(
            &[
                ("/robots.txt", 301, "Location: /moved/robots.txt\r\n", ""),
                ("/moved/robots.txt", 200, "", GROUPS),
            ],
            Duration::ZERO,
        )
        .await;
        let (f, p, cache) = (fetcher(), politeness(), RobotsCache::new());
        let verdict = cache
            .check(&f, &p, &server.url("/no-gleaner/"), UA, Reach::Anywhere)
            .await;
        assert!(matches!(verdict, Verdict::Disallowed { .. }), "{verdict:?}");
        assert_eq!(server.hits("/moved/robots.txt"), 1);
    }

    #[tokio::test]
    async fn a_refused_private_address_refuses_the_site() {
        let server = Server::start(&[("/robots.txt", 200, "", "")], Duration::ZERO).await;
        let (f, p, cache) = (fetcher(), politeness(), RobotsCache::new());
        let verdict = cache
            .check(&f, &p, &server.url("/a"), UA, Reach::PublicOnly)
            .await;
        let Verdict::Refused { reason, .. } = verdict else {
            panic!("{verdict:?}");
        };
        assert!(reason.contains("allow_private"), "{reason}");
        assert_eq!(server.hits("/robots.txt"), 0);
    }

    #[tokio::test]
    async fn a_robots_txt_over_the_cap_allows_everything() {
        let huge = format!("User-agent: *\nDisallow: /\n{}", "#".repeat(600 * 1024));
        let server = Server::start(&[("/robots.txt", 200, "", &huge)], Duration::ZERO).await;
        let (f, p, cache) = (fetcher(), politeness(), RobotsCache::new());
        let verdict = cache
            .check(&f, &p, &server.url("/a"), UA, Reach::Anywhere)
            .await;
        assert_eq!(verdict, Verdict::Allowed);
    }

    #[tokio::test]
    async fn a_429_blocks_the_host_and_a_blocked_host_is_not_asked() {
        let server = Server::start(
            &[("/robots.txt", 429, "Retry-After: 600\r\n", "slow down")],
            Duration::ZERO,
        )
        .await;
        let (f, p, cache) = (fetcher(), politeness(), RobotsCache::new());
        let verdict = cache
            .check(&f, &p, &server.url("/a"), UA, Reach::Anywhere)
            .await;
        let Verdict::Unavailable { reason, .. } = verdict else {
            panic!("{verdict:?}");
        };
        assert!(reason.contains("rate_limited"), "{reason}");
        assert!(p.blocked_until("127.0.0.1", Utc::now()).is_some());
        // Another origin on the blocked host is not asked either.
        let other = Server::start(&[("/robots.txt", 200, "", "")], Duration::ZERO).await;
        let verdict = cache
            .check(&f, &p, &other.url("/a"), UA, Reach::Anywhere)
            .await;
        assert!(
            matches!(verdict, Verdict::Unavailable { .. }),
            "{verdict:?}"
        );
        assert_eq!(other.hits("/robots.txt"), 0);
    }

    #[tokio::test]
    async fn only_http_urls_have_a_robots_txt() {
        let (f, p, cache) = (fetcher(), politeness(), RobotsCache::new());
        for url in [
            "ftp://example.org/a",
            "mailto:a@example.org",
            "file:///etc/passwd",
            "a/b",
        ] {
            let verdict = cache.check(&f, &p, url, UA, Reach::Anywhere).await;
            assert_eq!(
                verdict,
                Verdict::Unavailable {
                    robots_url: String::new(),
                    reason: "not an http(s) URL".into()
                }
            );
        }
    }

    #[tokio::test]
    async fn the_cache_drops_the_entry_fetched_longest_ago() {
        let mut servers = Vec::new();
        for _ in 0..3 {
            servers.push(Server::start(&[("/robots.txt", 200, "", "")], Duration::ZERO).await);
        }
        let (f, p, cache) = (fetcher(), politeness(), RobotsCache::with_capacity(2));
        let check = |i: usize| {
            let url = servers[i].url("/a");
            let (f, p, cache) = (&f, &p, &cache);
            async move { cache.check(f, p, &url, UA, Reach::Anywhere).await }
        };
        let hits = || {
            servers
                .iter()
                .map(|s| s.hits("/robots.txt"))
                .collect::<Vec<_>>()
        };
        check(0).await;
        check(1).await;
        check(0).await;
        assert_eq!(hits(), [1, 1, 0]);
        // Full: the third origin drops the first, fetched before the second.
        check(2).await;
        assert_eq!(lock(&cache.entries).len(), 2);
        check(1).await;
        assert_eq!(hits(), [1, 1, 1]);
        check(0).await;
        assert_eq!(hits(), [2, 1, 1]);
    }

    #[test]
    fn expired_entries_go_first_and_unfinished_ones_last() {
        let t = Instant::now();
        let at = |secs| t + Duration::from_secs(secs);
        let key = |name: &str| Key {
            origin: name.into(),
            agent: "gleaner".into(),
            reach: 0,
        };
        let entry = |cached: Option<(u64, u64)>| Entry {
            gate: Arc::default(),
            cached: cached.map(|(fetched, expires)| Cached {
                rules: Arc::new(Rules::AllowAll),
                fetched: at(fetched),
                expires: at(expires),
            }),
        };
        let now = at(100);
        let mut entries = HashMap::from([
            (key("old"), entry(Some((10, 1_000)))),
            (key("expired"), entry(Some((50, 90)))),
            (key("unfinished"), entry(None)),
            (key("new"), entry(Some((60, 1_000)))),
        ]);
        let mut order = Vec::new();
        while let Some(k) = victim(&entries, now) {
            entries.remove(&k);
            order.push(k.origin);
        }
        assert_eq!(order, ["expired", "old", "new", "unfinished"]);
    }

    #[test]
    fn a_robots_txt_that_does_not_parse_allows_everything() {
        // texting_robots gives up on a pattern past its regex size limit.
        let txt = format!("User-agent: *\nDisallow: /{}$\n", "a*b".repeat(20_000));
        assert!(Robot::new("gleaner", txt.as_bytes()).is_err());
        assert!(matches!(
            parse("gleaner", txt.as_bytes(), "-"),
            Rules::AllowAll
        ));
    }

    #[test]
    fn a_robots_txt_too_costly_to_compile_allows_nothing() {
        // Every '$' counts, even in a comment, where it costs nothing: a cheap way to the limit.
        let with = |dollars: usize| {
            let txt = format!(
                "User-agent: *\nDisallow: /*.pdf$\n# {}\n",
                "$".repeat(dollars)
            );
            parse("gleaner", txt.as_bytes(), "-")
        };
        let Rules::Parsed(robot) = with(MAX_ANCHORED_RULES - 1) else {
            panic!("not read");
        };
        assert!(!robot.allowed("/a.pdf") && robot.allowed("/a.pdf?x"));
        let Rules::Refused(reason) = with(MAX_ANCHORED_RULES) else {
            panic!("read");
        };
        assert!(
            reason.contains(&format!("{}", MAX_ANCHORED_RULES + 1)),
            "{reason}"
        );
    }

    #[test]
    fn the_cache_can_be_shared() {
        fn shared<T: Send + Sync>() {}
        shared::<RobotsCache>();
    }
}
