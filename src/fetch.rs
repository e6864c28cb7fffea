//! Getting the bytes of a feed: HTTP (conditional GET, compression, timeouts, a cap on the
//! decompressed size, redirects followed hop by hop under the politeness rules, the server's
//! caching hints and Retry-After) and `file://`. The only module that speaks HTTP. It knows
//! nothing of feeds: it returns bytes, the validators for next time, or a classified error.
//!
//! Also article pages and robots.txt, for full text: the same rules, another `Accept` header and
//! size cap.
//!
//! A redirect may not lead to a loopback, private or link-local address (see [`address`])
//! unless the source allows it or is on such an address itself ([`Reach`]); a URL found in a
//! document may not be on one at all.

pub mod address;

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use reqwest::header::{
    CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, ETAG, EXPIRES, HeaderMap, HeaderValue,
    IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED, LOCATION, RETRY_AFTER, USER_AGENT,
};

use crate::politeness::Politeness;
use address::{AddressRules, NotPublic, PublicOnly};

/// Redirects followed for one fetch at most.
pub const MAX_REDIRECTS: usize = 5;

/// The validators of the last successful fetch, sent back for a conditional GET.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Validators {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

/// A successful fetch.
#[derive(Debug)]
pub enum Fetched {
    /// 304: nothing changed since the validators were given.
    NotModified {
        status: u16,
        meta: ResponseMeta,
    },
    Body(Body),
}

#[derive(Debug)]
pub struct Body {
    /// `None` for `file://`.
    pub status: Option<u16>,
    pub bytes: Vec<u8>,
    pub content_type: Option<String>,
    pub validators: Validators,
    pub meta: ResponseMeta,
}

/// What a response said besides its body: caching hints and the redirects on the way.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResponseMeta {
    /// `Cache-Control: max-age`.
    pub max_age: Option<Duration>,
    pub expires: Option<DateTime<Utc>>,
    /// Each hop followed: (status, the URL it pointed to).
    pub redirects: Vec<(u16, String)>,
    /// Bytes of the body as sent, when the server said (`Content-Length`).
    pub wire_bytes: Option<u64>,
    /// The first hop led from a public address to a non-public one (or one not seen): refused,
    /// or followed only because the source allows private addresses. It must not move the
    /// source there, where its next polls would be trusted as a private source's.
    pub first_hop_stays: bool,
}

impl ResponseMeta {
    /// Where the source has moved if the first hop was permanent (301 or 308) and may move it.
    pub fn permanent_redirect(&self) -> Option<&str> {
        self.redirects
            .first()
            .filter(|(status, _)| matches!(status, 301 | 308) && !self.first_hop_stays)
            .map(|(_, url)| url.as_str())
    }

    /// The redirects followed, as `fetches.redirects` keeps them (`301 URL; 302 URL`).
    pub fn redirects_text(&self) -> Option<String> {
        (!self.redirects.is_empty()).then(|| {
            self.redirects
                .iter()
                .map(|(status, url)| format!("{status} {url}"))
                .collect::<Vec<_>>()
                .join("; ")
        })
    }

    /// The URL the body came from.
    pub fn final_url<'a>(&'a self, requested: &'a str) -> &'a str {
        self.redirects
            .last()
            .map_or(requested, |(_, url)| url.as_str())
    }
}

/// Why a fetch failed, in the classes recorded in `fetches.error_class`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    Dns,
    Connect,
    Tls,
    Timeout,
    Http4xx,
    Http5xx,
    HttpOther,
    TooLarge,
    Redirect,
    /// A redirect to a loopback, private or link-local address, refused.
    PrivateAddress,
    /// 410: the feed is gone for good.
    Gone,
    /// 429, or 503 with Retry-After: not a fault of the feed.
    RateLimited,
    Io,
    Network,
}

impl ErrorClass {
    /// Failures of the path to the server rather than of the server: the ones a local outage
    /// causes.
    pub fn is_network(self) -> bool {
        matches!(
            self,
            ErrorClass::Dns | ErrorClass::Connect | ErrorClass::Timeout | ErrorClass::Network
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::Dns => "dns",
            ErrorClass::Connect => "connect",
            ErrorClass::Tls => "tls",
            ErrorClass::Timeout => "timeout",
            ErrorClass::Http4xx => "http_4xx",
            ErrorClass::Http5xx => "http_5xx",
            ErrorClass::HttpOther => "http_other",
            ErrorClass::TooLarge => "too_large",
            ErrorClass::Redirect => "redirect",
            ErrorClass::PrivateAddress => "private_address",
            ErrorClass::Gone => "gone",
            ErrorClass::RateLimited => "rate_limited",
            ErrorClass::Io => "io",
            ErrorClass::Network => "network",
        }
    }
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct FetchError {
    pub class: ErrorClass,
    pub status: Option<u16>,
    pub message: String,
    /// When the server said to come back (429 and 503 with Retry-After).
    pub retry_after: Option<DateTime<Utc>>,
    /// The host that failed (after redirects), for per-host rules.
    pub host: Option<String>,
    /// Boxed: most errors carry no redirects, and a small error keeps results small.
    pub meta: Box<ResponseMeta>,
}

impl FetchError {
    fn new(class: ErrorClass, message: impl Into<String>) -> FetchError {
        FetchError {
            class,
            status: None,
            message: message.into(),
            retry_after: None,
            host: None,
            meta: Box::default(),
        }
    }
}

/// Where a fetch may connect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// Loopback and private addresses too: the source sets `allow_private`.
    Anywhere,
    /// A URL the user configured (or one on its host): it may be on a non-public address
    /// itself, but a redirect from a public address may not lead to one.
    Configured,
    /// A URL found in a document (an article's page): public addresses only, on every hop.
    PublicOnly,
}

impl Reach {
    /// The reach of a source's own URL.
    pub fn of_source(allow_private: bool) -> Reach {
        if allow_private {
            Reach::Anywhere
        } else {
            Reach::Configured
        }
    }
}

/// What is fetched: it decides the `Accept` header and the size cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resource {
    Feed,
    Page,
    Robots,
}

/// The most of a robots.txt read: RFC 9309 asks crawlers to parse at least 500 KiB.
pub const MAX_ROBOTS_BYTES: u64 = 512 * 1024;

impl Resource {
    fn accept(self) -> &'static str {
        match self {
            Resource::Feed => {
                "application/rss+xml, application/atom+xml, application/feed+json, \
                 application/xml;q=0.9, text/xml;q=0.9, application/json;q=0.8, */*;q=0.5"
            }
            Resource::Page => "text/html, application/xhtml+xml;q=0.9, */*;q=0.5",
            Resource::Robots => "text/plain, */*;q=0.5",
        }
    }

    fn max_bytes(self, settings: &FetchSettings) -> u64 {
        match self {
            Resource::Feed => settings.max_bytes,
            Resource::Page => settings
                .max_bytes
                .min(crate::extract::MAX_PAGE_BYTES as u64),
            Resource::Robots => MAX_ROBOTS_BYTES,
        }
    }
}

/// What the fetcher needs from the configuration.
#[derive(Debug, Clone)]
pub struct FetchSettings {
    pub user_agent: String,
    pub connect_timeout: Duration,
    pub timeout: Duration,
    pub max_bytes: u64,
}

/// Shared HTTP clients; cheap to clone.
#[derive(Clone)]
pub struct Fetcher {
    /// Connects only to public addresses: its resolver drops the others.
    guarded: reqwest::Client,
    /// Connects anywhere: for sources that allow private addresses or live on one.
    open: reqwest::Client,
    rules: Arc<AddressRules>,
    settings: FetchSettings,
}

impl Fetcher {
    pub fn new(settings: FetchSettings) -> Result<Fetcher, FetchError> {
        let rules = AddressRules::from_env().map_err(|e| FetchError::new(ErrorClass::Io, e))?;
        let rules = Arc::new(rules);
        let guarded = build_client(
            &settings,
            Some(PublicOnly {
                rules: Arc::clone(&rules),
            }),
        )?;
        let open = build_client(&settings, None)?;
        Ok(Fetcher {
            guarded,
            open,
            rules,
            settings,
        })
    }

    /// Fetches a feed at `url` (http, https or file), sending `validators` for a conditional
    /// GET and `user_agent`, each hop waiting for its host's turn in `politeness`. Where it
    /// may connect is `reach`'s rule.
    pub async fn fetch(
        &self,
        url: &str,
        validators: &Validators,
        user_agent: &str,
        reach: Reach,
        politeness: &Politeness,
    ) -> Result<Fetched, FetchError> {
        if url.starts_with("file:") {
            return self.fetch_file(url).await;
        }
        self.get(
            Resource::Feed,
            url,
            validators,
            user_agent,
            reach,
            politeness,
        )
        .await
    }

    /// Fetches an article's page (http or https only), capped at the smaller of the
    /// configured size and what extraction accepts.
    pub async fn fetch_page(
        &self,
        url: &str,
        user_agent: &str,
        reach: Reach,
        politeness: &Politeness,
    ) -> Result<Body, FetchError> {
        self.get_body(Resource::Page, url, user_agent, reach, politeness)
            .await
    }

    /// Fetches a site's robots.txt, capped at [`MAX_ROBOTS_BYTES`].
    pub async fn fetch_robots(
        &self,
        url: &str,
        user_agent: &str,
        reach: Reach,
        politeness: &Politeness,
    ) -> Result<Body, FetchError> {
        self.get_body(Resource::Robots, url, user_agent, reach, politeness)
            .await
    }

    async fn get_body(
        &self,
        resource: Resource,
        url: &str,
        user_agent: &str,
        reach: Reach,
        politeness: &Politeness,
    ) -> Result<Body, FetchError> {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(FetchError::new(
                ErrorClass::Io,
                format!("{url} is not an http(s) address"),
            ));
        }
        let validators = Validators::default();
        match self
            .get(resource, url, &validators, user_agent, reach, politeness)
            .await?
        {
            Fetched::Body(body) => Ok(body),
            // Only a conditional request gets a 304, and this one sent no validators.
            Fetched::NotModified { status, meta } => {
                let mut e =
                    FetchError::new(ErrorClass::HttpOther, format!("HTTP {status} unasked"));
                e.status = Some(status);
                e.meta = Box::new(meta);
                Err(e)
            }
        }
    }

    async fn get(
        &self,
        resource: Resource,
        url: &str,
        validators: &Validators,
        user_agent: &str,
        reach: Reach,
        politeness: &Politeness,
    ) -> Result<Fetched, FetchError> {
        let mut meta = ResponseMeta::default();
        let mut current = url::Url::parse(url)
            .map_err(|e| FetchError::new(ErrorClass::Io, format!("{url} is not a URL: {e}")))?;
        // An IP literal is judged here; a name by the guarded client's resolver, below.
        let mut open = match reach {
            Reach::Anywhere => true,
            Reach::Configured => literal_ip(&current).is_some_and(|ip| !self.rules.is_public(ip)),
            Reach::PublicOnly => false,
        };
        // Whether the configured URL answered from a public address: a source there is never
        // moved onto a non-public one.
        let mut origin_public = true;
        loop {
            let hop = meta.redirects.len();
            let host = current.host_str().unwrap_or_default().to_owned();
            let at_host = |mut e: FetchError, meta: &ResponseMeta| {
                e.host = Some(host.clone());
                e.meta = Box::new(meta.clone());
                e
            };
            // A configured URL on a non-public address is open: only a redirect from it, or a
            // URL found in a document, can be refused here.
            if !open
                && let Some(ip) = literal_ip(&current)
                && let Some(kind) = self.rules.kind(ip)
            {
                meta.first_hop_stays |= hop == 1;
                let refusal = NotPublic {
                    refused: vec![(ip, kind)],
                };
                return Err(at_host(refused(&current, hop, &refusal), &meta));
            }
            // Held until this hop's body is read (or the hop ends): `per_host` counts requests
            // whose bodies are still downloading, not only those waiting for a response head.
            let turn = politeness.acquire(&host).await;
            let sent = {
                let send = |client: &reqwest::Client| {
                    client
                        .get(current.clone())
                        .headers(request_headers(validators, user_agent, resource))
                        .send()
                };
                let mut sent = send(if open { &self.open } else { &self.guarded }).await;
                if hop == 0
                    && reach == Reach::Configured
                    && sent.as_ref().err().and_then(not_public).is_some()
                {
                    // The configured host resolves only to non-public addresses: an intranet
                    // feed, which its user chose. One more lookup, for such sources only.
                    open = true;
                    sent = send(&self.open).await;
                }
                sent
            };
            let mut response = match sent {
                Ok(response) => response,
                Err(e) => {
                    if let Some(refusal) = not_public(&e) {
                        meta.first_hop_stays |= hop == 1;
                        return Err(at_host(refused(&current, hop, refusal), &meta));
                    }
                    // Where an open client failed to go is not known: not somewhere to move.
                    meta.first_hop_stays |= hop == 1 && open && origin_public;
                    return Err(at_host(classify(e), &meta));
                }
            };
            // The address connected to (a proxy's, behind one). The guarded client reaches
            // public addresses only, so only the open one's are judged.
            let reached_public = !open
                || response
                    .remote_addr()
                    .is_none_or(|addr| self.rules.is_public(addr.ip()));
            match hop {
                0 => origin_public = reached_public,
                1 => meta.first_hop_stays |= origin_public && !reached_public,
                _ => {}
            }
            let status = response.status();
            let headers = response.headers();
            if status.is_redirection() && status != StatusCode::NOT_MODIFIED {
                let target = headers
                    .get(LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|l| current.join(l).ok())
                    .ok_or_else(|| {
                        let e = FetchError::new(
                            ErrorClass::Redirect,
                            format!("HTTP {status} without a usable Location"),
                        );
                        at_host(e, &meta)
                    })?;
                let seen = target.as_str() == url
                    || meta.redirects.iter().any(|(_, u)| u == target.as_str());
                meta.redirects.push((status.as_u16(), target.to_string()));
                if seen {
                    return Err(at_host(
                        FetchError::new(ErrorClass::Redirect, format!("redirect loop at {target}")),
                        &meta,
                    ));
                }
                if meta.redirects.len() > MAX_REDIRECTS {
                    return Err(at_host(
                        FetchError::new(
                            ErrorClass::Redirect,
                            format!("more than {MAX_REDIRECTS} redirects"),
                        ),
                        &meta,
                    ));
                }
                if !matches!(target.scheme(), "http" | "https") {
                    return Err(at_host(
                        FetchError::new(ErrorClass::Redirect, format!("redirect to {target}")),
                        &meta,
                    ));
                }
                current = target;
                // The next hop waits for its own host's turn.
                drop(turn);
                continue;
            }
            meta.max_age = max_age(headers);
            meta.expires = header_text(headers, EXPIRES).and_then(|t| http_date(&t));
            meta.wire_bytes = header_text(headers, CONTENT_LENGTH).and_then(|t| t.parse().ok());
            if status == StatusCode::NOT_MODIFIED {
                return Ok(Fetched::NotModified {
                    status: status.as_u16(),
                    meta,
                });
            }
            if !status.is_success() {
                let retry_after =
                    header_text(headers, RETRY_AFTER).and_then(|t| retry_at(&t, Utc::now()));
                let class = match status.as_u16() {
                    410 => ErrorClass::Gone,
                    429 => ErrorClass::RateLimited,
                    503 if retry_after.is_some() => ErrorClass::RateLimited,
                    400..=499 => ErrorClass::Http4xx,
                    500..=599 => ErrorClass::Http5xx,
                    _ => ErrorClass::HttpOther,
                };
                let mut e = at_host(FetchError::new(class, format!("HTTP {status}")), &meta);
                e.status = Some(status.as_u16());
                e.retry_after = retry_after;
                return Err(e);
            }
            let content_type = header_text(headers, CONTENT_TYPE);
            let validators = Validators {
                etag: header_text(headers, ETAG),
                last_modified: header_text(headers, LAST_MODIFIED),
            };
            let max = resource.max_bytes(&self.settings);
            if response.content_length().is_some_and(|len| len > max) {
                return Err(at_host(too_large(max, status), &meta));
            }
            // reqwest has no cap of its own and decompresses as it goes, so count what it yields.
            let mut bytes = Vec::new();
            while let Some(chunk) = response
                .chunk()
                .await
                .map_err(|e| at_host(classify(e), &meta))?
            {
                if bytes.len() as u64 + chunk.len() as u64 > max {
                    return Err(at_host(too_large(max, status), &meta));
                }
                bytes.extend_from_slice(&chunk);
            }
            drop(turn);
            return Ok(Fetched::Body(Body {
                status: Some(status.as_u16()),
                bytes,
                content_type,
                validators,
                meta,
            }));
        }
    }

    async fn fetch_file(&self, url: &str) -> Result<Fetched, FetchError> {
        let path: PathBuf = url::Url::parse(url)
            .ok()
            .and_then(|u| u.to_file_path().ok())
            .ok_or_else(|| {
                FetchError::new(ErrorClass::Io, format!("{url} is not a usable file URL"))
            })?;
        let max = self.settings.max_bytes;
        let read = async {
            let meta = tokio::fs::metadata(&path).await?;
            if meta.len() > max {
                return Ok(None);
            }
            tokio::fs::read(&path).await.map(Some)
        };
        match tokio::time::timeout(self.settings.timeout, read).await {
            Err(_) => Err(FetchError::new(
                ErrorClass::Timeout,
                format!("reading {} timed out", path.display()),
            )),
            Ok(Err(e)) => Err(FetchError::new(
                ErrorClass::Io,
                format!("cannot read {}: {e}", path.display()),
            )),
            Ok(Ok(None)) => Err(FetchError::new(
                ErrorClass::TooLarge,
                format!("{} is larger than the {max}-byte limit", path.display()),
            )),
            Ok(Ok(Some(bytes))) if bytes.len() as u64 > max => Err(FetchError::new(
                ErrorClass::TooLarge,
                format!("{} is larger than the {max}-byte limit", path.display()),
            )),
            Ok(Ok(Some(bytes))) => Ok(Fetched::Body(Body {
                status: None,
                bytes,
                content_type: None,
                validators: Validators::default(),
                meta: ResponseMeta::default(),
            })),
        }
    }
}

/// A client that follows no redirect itself; with `resolver`, it connects only where that
/// resolver allows.
fn build_client(
    settings: &FetchSettings,
    resolver: Option<PublicOnly>,
) -> Result<reqwest::Client, FetchError> {
    let mut builder = reqwest::Client::builder()
        .user_agent(settings.user_agent.clone())
        .connect_timeout(settings.connect_timeout)
        .timeout(settings.timeout)
        .read_timeout(settings.timeout.min(Duration::from_secs(30)))
        // Redirects are followed here, hop by hop, so each hop obeys the politeness rules
        // and a permanent move can be noticed.
        .redirect(reqwest::redirect::Policy::none())
        .gzip(true)
        .brotli(true)
        .deflate(true);
    if let Some(resolver) = resolver {
        builder = builder.dns_resolver(resolver);
    }
    builder.build().map_err(|e| {
        FetchError::new(
            ErrorClass::Tls,
            format!("cannot build the HTTP client: {e}"),
        )
    })
}

/// The address of a URL whose host is an IP literal (which skips the resolver).
fn literal_ip(url: &url::Url) -> Option<IpAddr> {
    match url.host()? {
        url::Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
        url::Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
        url::Host::Domain(_) => None,
    }
}

/// The guarded resolver's refusal, somewhere in a transport error's causes.
fn not_public(error: &reqwest::Error) -> Option<&NotPublic> {
    let mut cause = std::error::Error::source(error);
    while let Some(e) = cause {
        if let Some(refusal) = e.downcast_ref::<NotPublic>() {
            return Some(refusal);
        }
        cause = e.source();
    }
    None
}

fn refused(target: &url::Url, hop: usize, refusal: &NotPublic) -> FetchError {
    let what = if hop == 0 { "" } else { "redirect to " };
    FetchError::new(
        ErrorClass::PrivateAddress,
        format!(
            "{what}{target} {}; set allow_private = true on the source to allow it",
            refusal.describe()
        ),
    )
}

fn header_value(text: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(text).ok()
}

fn header_text(headers: &HeaderMap, name: reqwest::header::HeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_owned())
}

fn request_headers(validators: &Validators, user_agent: &str, resource: Resource) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Some(etag) = validators.etag.as_deref().and_then(header_value) {
        headers.insert(IF_NONE_MATCH, etag);
    }
    if let Some(lm) = validators.last_modified.as_deref().and_then(header_value) {
        headers.insert(IF_MODIFIED_SINCE, lm);
    }
    if let Some(ua) = header_value(user_agent) {
        headers.insert(USER_AGENT, ua);
    }
    headers.insert(
        reqwest::header::ACCEPT,
        HeaderValue::from_static(resource.accept()),
    );
    headers
}

/// `Cache-Control: max-age=N` (`no-cache` and `no-store` ask for no wait at all).
fn max_age(headers: &HeaderMap) -> Option<Duration> {
    let value = header_text(headers, CACHE_CONTROL)?.to_ascii_lowercase();
    value.split(',').find_map(|directive| {
        let (name, seconds) = directive.trim().split_once('=')?;
        (name.trim() == "max-age")
            .then(|| seconds.trim().trim_matches('"').parse().ok())?
            .map(Duration::from_secs)
    })
}

/// An HTTP date (RFC 7231 IMF-fixdate, also RFC 850 and asctime are rare enough to skip).
pub fn http_date(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc2822(text.trim())
        .ok()
        .map(|t| t.to_utc())
}

/// `Retry-After`: delta-seconds or an HTTP date.
pub fn retry_at(text: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let text = text.trim();
    match text.parse::<u64>() {
        Ok(seconds) => {
            let seconds = i64::try_from(seconds.min(10 * 365 * 86_400)).ok()?;
            Some(now + chrono::Duration::seconds(seconds))
        }
        Err(_) => http_date(text),
    }
}

fn too_large(max: u64, status: StatusCode) -> FetchError {
    let mut e = FetchError::new(
        ErrorClass::TooLarge,
        format!("body larger than the {max}-byte limit"),
    );
    e.status = Some(status.as_u16());
    e
}

/// Sorts a transport error into a class a user (and the scheduler) can act on.
fn classify(error: reqwest::Error) -> FetchError {
    let message = error_chain(&error);
    let mut lower = error.to_string().to_ascii_lowercase();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        lower.push_str(": ");
        lower.push_str(&cause.to_string().to_ascii_lowercase());
        source = cause.source();
    }
    let class = if error.is_timeout() {
        ErrorClass::Timeout
    } else if error.is_redirect() {
        ErrorClass::Redirect
    } else if lower.contains("dns error")
        || lower.contains("failed to lookup")
        || lower.contains("name or service not known")
        || lower.contains("no address associated")
    {
        ErrorClass::Dns
    } else if lower.contains("certificate") || lower.contains("tls") || lower.contains("handshake")
    {
        ErrorClass::Tls
    } else if error.is_connect() {
        ErrorClass::Connect
    } else {
        ErrorClass::Network
    };
    let mut e = FetchError::new(class, message);
    e.status = error.status().map(|s| s.as_u16());
    e
}

/// The most specific cause of an error, which is the one a user can act on: reqwest's own
/// message only repeats the URL, which `fetches.url` already has.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut deepest = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        deepest = cause.to_string();
        source = cause.source();
    }
    deepest
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_in_seconds_or_as_a_date() {
        let now = DateTime::parse_from_rfc3339("2024-03-01T12:00:00Z")
            .unwrap()
            .to_utc();
        assert_eq!(
            retry_at("120", now),
            Some(now + chrono::Duration::seconds(120))
        );
        assert_eq!(
            retry_at("Fri, 01 Mar 2024 13:00:00 GMT", now),
            Some(now + chrono::Duration::hours(1))
        );
        assert_eq!(retry_at("soon", now), None);
        assert!(retry_at("99999999999999", now).is_some());
    }

    #[test]
    fn cache_control_max_age() {
        let mut h = HeaderMap::new();
        h.insert(
            CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=600, must-revalidate"),
        );
        assert_eq!(max_age(&h), Some(Duration::from_secs(600)));
        h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        assert_eq!(max_age(&h), None);
    }

    #[test]
    fn permanent_moves_are_the_first_hop_only() {
        let meta = |hops: &[(u16, &str)]| ResponseMeta {
            redirects: hops.iter().map(|(s, u)| (*s, u.to_string())).collect(),
            ..ResponseMeta::default()
        };
        assert_eq!(
            meta(&[(301, "https://b/")]).permanent_redirect(),
            Some("https://b/")
        );
        assert_eq!(
            meta(&[(308, "https://b/"), (302, "https://c/")]).permanent_redirect(),
            Some("https://b/")
        );
        for temporary in [302, 303, 307] {
            assert_eq!(
                meta(&[(temporary, "https://b/")]).permanent_redirect(),
                None
            );
        }
        assert_eq!(meta(&[]).final_url("https://a/"), "https://a/");
    }

    #[test]
    fn a_first_hop_that_stays_moves_nothing() {
        let meta = ResponseMeta {
            redirects: vec![(301, "http://10.0.0.1/".into())],
            first_hop_stays: true,
            ..ResponseMeta::default()
        };
        assert_eq!(meta.permanent_redirect(), None);
        assert_eq!(meta.final_url("https://a/"), "http://10.0.0.1/");
    }

    #[test]
    fn literal_addresses_are_read_from_the_url() {
        let ip = |url: &str| literal_ip(&url::Url::parse(url).unwrap());
        assert_eq!(ip("http://10.0.0.1/"), Some(IpAddr::from([10, 0, 0, 1])));
        // The URL parser normalises the forms that dodge a naive check.
        assert_eq!(ip("http://0x7f.1/"), Some(IpAddr::from([127, 0, 0, 1])));
        assert_eq!(ip("http://2130706433/"), Some(IpAddr::from([127, 0, 0, 1])));
        assert_eq!(
            ip("http://[::ffff:127.0.0.1]:8080/"),
            Some("::ffff:127.0.0.1".parse().unwrap())
        );
        assert_eq!(ip("https://example.org/"), None);
    }
}
