//! The configuration file: parse the TOML, validate every value, and say exactly where a
//! mistake is (file, line, column, what was expected). Nothing here touches the network or
//! the database; the result is a plain [`Config`] the rest of the daemon reads.

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer};
use toml::Spanned;

use crate::dedup::{MAX_NEAR_DISTANCE, NearDuplicates, TrackingParams};
use crate::full_text::FullText;
use crate::store::Database;

/// Where the daemon looks when neither `--config` nor `GLEANER_CONFIG` is given.
pub const DEFAULT_CONFIG_PATH: &str = "config/gleaner.toml";

const DEFAULT_USER_AGENT: &str = concat!(
    "gleaner/",
    env!("CARGO_PKG_VERSION"),
    " (+https://example.org/gleaner)"
);

/// A validated configuration, with every relative path already resolved against the folder of
/// the configuration file.
#[derive(Debug, Clone)]
pub struct Config {
    pub path: PathBuf,
    pub database: Database,
    /// PostgreSQL only: how long a process's lease on a source and its host lasts unless
    /// renewed (every couple of seconds while it works); a dead process's sources are taken
    /// over by the others after it.
    pub source_lease: Duration,
    pub user_agent: String,
    /// Polls in flight at once, over all sources.
    pub concurrency: usize,
    /// Start interval of a source that does not set its own; it adapts from there.
    pub interval: Duration,
    /// Bounds of an adaptive interval.
    pub min_interval: Duration,
    pub max_interval: Duration,
    /// Longest wait after errors (exponential backoff stops growing here).
    pub max_backoff: Duration,
    /// Requests in flight to one host at most.
    pub per_host: usize,
    /// Least gap between two requests to one host.
    pub host_delay: Duration,
    /// How long rows of `fetches` are kept.
    pub fetch_retention: Duration,
    /// Age (by the article's DATE) after which articles are removed; `None` keeps them all.
    pub article_retention: Option<Duration>,
    /// Query parameters dropped from links before they identify an article.
    pub tracking_params: TrackingParams,
    pub near_duplicates: NearDuplicates,
    /// `per_host` and `host_delay` for particular hosts (`[hosts."example.org"]`).
    pub hosts: std::collections::HashMap<String, HostLimits>,
    pub connect_timeout: Duration,
    /// Whole-request limit, body included: a server that trickles is cut off here.
    pub timeout: Duration,
    /// Cap on the decompressed size of one feed.
    pub max_feed_bytes: u64,
    /// When an item's article page is fetched for its full text, unless a source says.
    pub full_text: FullText,
    pub sources: Vec<SourceConfig>,
}

/// The politeness limits of one host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostLimits {
    pub per_host: usize,
    pub host_delay: Duration,
}

/// One `[[sources]]` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceConfig {
    /// `http://`, `https://` or `file://` URL; plain paths are turned into `file://` URLs.
    pub url: String,
    pub name: Option<String>,
    pub interval: Option<Duration>,
    /// Overrides the global user agent for this source.
    pub user_agent: Option<String>,
    /// A fixed time zone for the DATE of this source's items, instead of each timestamp's own offset.
    pub timezone: Option<chrono_tz::Tz>,
    /// Let redirects and pages of this source reach loopback and private addresses.
    pub allow_private: bool,
    /// Overrides the global `full_text`.
    pub full_text: Option<FullText>,
    /// Categories the user filed it under (`"News/Tech"`): kept for OPML export, not used to poll.
    pub tags: Vec<String>,
    /// Not polled while set (`gleaner pause`); its state and articles stay.
    pub paused: bool,
}

/// A configuration that cannot be used, with the place of the mistake when there is one.
#[derive(Debug)]
pub struct ConfigError {
    pub path: PathBuf,
    pub position: Option<(usize, usize)>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Some((line, column)) => write!(
                f,
                "{}:{}:{}: {}",
                self.path.display(),
                line,
                column,
                self.message
            ),
            None => write!(f, "{}: {}", self.path.display(), self.message),
        }
    }
}

impl std::error::Error for ConfigError {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    database: Option<Spanned<String>>,
    source_lease: Option<Spanned<String>>,
    user_agent: Option<Spanned<String>>,
    concurrency: Option<Spanned<i64>>,
    interval: Option<Spanned<String>>,
    min_interval: Option<Spanned<String>>,
    max_interval: Option<Spanned<String>>,
    max_backoff: Option<Spanned<String>>,
    per_host: Option<Spanned<i64>>,
    host_delay: Option<Spanned<String>>,
    fetch_retention: Option<Spanned<String>>,
    article_retention: Option<Spanned<String>>,
    tracking_params: Option<Vec<Spanned<String>>>,
    near_duplicate_distance: Option<Spanned<i64>>,
    near_duplicate_window: Option<Spanned<String>>,
    connect_timeout: Option<Spanned<String>>,
    timeout: Option<Spanned<String>>,
    max_feed_bytes: Option<Spanned<i64>>,
    #[serde(default, deserialize_with = "full_text_opt")]
    full_text: Option<FullText>,
    #[serde(default)]
    hosts: std::collections::BTreeMap<String, RawHost>,
    #[serde(default)]
    sources: Vec<RawSource>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHost {
    per_host: Option<Spanned<i64>>,
    host_delay: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSource {
    url: Spanned<String>,
    name: Option<String>,
    user_agent: Option<Spanned<String>>,
    interval: Option<Spanned<String>>,
    #[serde(default, deserialize_with = "timezone_opt")]
    timezone: Option<chrono_tz::Tz>,
    #[serde(default)]
    allow_private: bool,
    #[serde(default, deserialize_with = "full_text_opt")]
    full_text: Option<FullText>,
    tags: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    paused: bool,
}

impl Config {
    /// Reads and validates the file at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            path: path.to_owned(),
            position: None,
            message: format!("cannot read the configuration: {e}"),
        })?;
        Config::parse(&text, path)
    }

    /// Validates `text` as if it were read from `path` (which anchors relative paths).
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let error_at = |span: Option<std::ops::Range<usize>>, message: String| ConfigError {
            path: path.to_owned(),
            position: span.map(|s| line_column(text, s.start)),
            message,
        };
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            // serde names Rust types; users wrote TOML.
            let message = e
                .message()
                .trim()
                .replace('\n', " ")
                .replace("expected i64", "expected an integer");
            error_at(e.span(), message)
        })?;
        let base = config_folder(path);

        let database = match raw.database {
            Some(db) if db.get_ref().trim().is_empty() => {
                return Err(error_at(
                    Some(db.span()),
                    "`database` must be a file path or a postgres:// URL, not empty".into(),
                ));
            }
            Some(db) => Database::parse(db.get_ref(), base),
            None => Database::Sqlite(base.join("gleaner.db")),
        };
        let check_user_agent = |ua: Spanned<String>| {
            let value = ua.get_ref().trim();
            if value.is_empty() || !value.chars().all(|c| (' '..='~').contains(&c)) {
                return Err(error_at(
                    Some(ua.span()),
                    "`user_agent` must be non-empty printable ASCII".into(),
                ));
            }
            Ok(value.to_owned())
        };
        let user_agent = match raw.user_agent {
            Some(ua) => check_user_agent(ua)?,
            None => DEFAULT_USER_AGENT.to_owned(),
        };
        let check_per_host = |n: Option<Spanned<i64>>, default: usize| match n {
            Some(n) if !(1..=64).contains(n.get_ref()) => Err(error_at(
                Some(n.span()),
                format!("`per_host` must be between 1 and 64, got {}", n.get_ref()),
            )),
            Some(n) => Ok(*n.get_ref() as usize),
            None => Ok(default),
        };
        let duration = |value: Option<Spanned<String>>, key: &str, bound: Bound| {
            value
                .map(|v| {
                    bounded_duration(v.get_ref(), key, bound)
                        .map_err(|m| error_at(Some(v.span()), m))
                })
                .transpose()
        };
        let per_host = check_per_host(raw.per_host, DEFAULT_PER_HOST)?;
        let host_delay =
            duration(raw.host_delay, "host_delay", HOST_DELAY)?.unwrap_or(Duration::from_secs(1));
        let mut hosts = std::collections::HashMap::new();
        for (host, limits) in raw.hosts {
            let limits = HostLimits {
                per_host: check_per_host(limits.per_host, per_host)?,
                host_delay: duration(limits.host_delay, "host_delay", HOST_DELAY)?
                    .unwrap_or(host_delay),
            };
            hosts.insert(host.to_ascii_lowercase(), limits);
        }
        let interval =
            duration(raw.interval, "interval", INTERVAL)?.unwrap_or(Duration::from_secs(30 * 60));
        let min_interval = duration(raw.min_interval, "min_interval", INTERVAL)?
            .unwrap_or(Duration::from_secs(5 * 60));
        let max_interval = duration(raw.max_interval, "max_interval", INTERVAL)?
            .unwrap_or(Duration::from_secs(86_400));
        let max_backoff = duration(raw.max_backoff, "max_backoff", INTERVAL)?
            .unwrap_or(Duration::from_secs(86_400));
        let fetch_retention = duration(raw.fetch_retention, "fetch_retention", RETENTION)?
            .unwrap_or(Duration::from_secs(90 * 86_400));
        let article_retention = duration(raw.article_retention, "article_retention", RETENTION)?;
        let source_lease = match raw.source_lease {
            Some(text) => {
                let span = text.span();
                let lease =
                    duration(Some(text), "source_lease", INTERVAL)?.expect("a value was given");
                if lease < MIN_LEASE {
                    return Err(error_at(
                        Some(span),
                        "`source_lease` must be at least 3s: leases are renewed every 2 seconds"
                            .into(),
                    ));
                }
                lease
            }
            None => crate::store::database::DEFAULT_LEASE,
        };
        let connect_timeout = duration(raw.connect_timeout, "connect_timeout", CONNECT_TIMEOUT)?
            .unwrap_or(Duration::from_secs(10));
        let timeout = duration(raw.timeout, "timeout", TIMEOUT)?.unwrap_or(Duration::from_secs(60));
        if min_interval > max_interval {
            return Err(error_at(
                None,
                "`min_interval` is longer than `max_interval`".into(),
            ));
        }
        let concurrency = match raw.concurrency {
            Some(c) if !(1..=1024).contains(c.get_ref()) => {
                return Err(error_at(
                    Some(c.span()),
                    format!(
                        "`concurrency` must be between 1 and 1024, got {}",
                        c.get_ref()
                    ),
                ));
            }
            Some(c) => *c.get_ref() as usize,
            None => 16,
        };
        let max_feed_bytes = match raw.max_feed_bytes {
            Some(m) if *m.get_ref() < 1024 => {
                return Err(error_at(
                    Some(m.span()),
                    format!(
                        "`max_feed_bytes` must be at least 1024, got {}",
                        m.get_ref()
                    ),
                ));
            }
            Some(m) => *m.get_ref() as u64,
            None => 32 * 1024 * 1024,
        };

        let tracking_params = match raw.tracking_params {
            None => TrackingParams::default(),
            Some(names) => {
                for name in &names {
                    let value = name.get_ref();
                    let stem = value.strip_suffix('*').unwrap_or(value);
                    let valid = !stem.is_empty()
                        && stem
                            .chars()
                            .all(|c| c.is_ascii_graphic() && !"=&#?*".contains(c));
                    if !valid {
                        return Err(error_at(
                            Some(name.span()),
                            format!(
                                "`tracking_params` holds query parameter names (a trailing * \
                                 matches any rest, \"default\" the built-in list), got {value:?}"
                            ),
                        ));
                    }
                }
                TrackingParams::new(names.iter().map(|n| n.get_ref().as_str()))
            }
        };
        let mut near_duplicates = NearDuplicates::default();
        if let Some(distance) = raw.near_duplicate_distance {
            if !(0..=i64::from(MAX_NEAR_DISTANCE)).contains(distance.get_ref()) {
                return Err(error_at(
                    Some(distance.span()),
                    format!(
                        "`near_duplicate_distance` must be between 0 and {MAX_NEAR_DISTANCE} bits, got {}",
                        distance.get_ref()
                    ),
                ));
            }
            near_duplicates.max_distance = *distance.get_ref() as u32;
        }
        if let Some(window) = duration(
            raw.near_duplicate_window,
            "near_duplicate_window",
            RETENTION,
        )? {
            near_duplicates.window = window;
        }

        let mut seen = HashSet::new();
        let mut sources = Vec::with_capacity(raw.sources.len());
        for source in raw.sources {
            let span = source.url.span();
            let url = source_url(source.url.get_ref(), base)
                .map_err(|message| error_at(Some(span.clone()), message))?;
            if !seen.insert(url.clone()) {
                return Err(error_at(
                    Some(span),
                    format!("source {url} is listed twice"),
                ));
            }
            sources.push(SourceConfig {
                url,
                name: source
                    .name
                    .map(|n| n.trim().to_owned())
                    .filter(|n| !n.is_empty()),
                interval: duration(source.interval, "interval", INTERVAL)?,
                user_agent: source.user_agent.map(check_user_agent).transpose()?,
                timezone: source.timezone,
                allow_private: source.allow_private,
                full_text: source.full_text,
                tags: source_tags(source.tags.unwrap_or_default())
                    .map_err(|(span, message)| error_at(Some(span), message))?,
                paused: source.paused,
            });
        }

        Ok(Config {
            path: path.to_owned(),
            database,
            source_lease,
            user_agent,
            concurrency,
            interval,
            min_interval,
            max_interval,
            max_backoff,
            per_host,
            host_delay,
            hosts,
            fetch_retention,
            article_retention,
            tracking_params,
            near_duplicates,
            connect_timeout,
            timeout,
            max_feed_bytes,
            full_text: raw.full_text.unwrap_or_default(),
            sources,
        })
    }

    /// The full-text rule of `source`.
    pub fn full_text_of(&self, source: &SourceConfig) -> FullText {
        source.full_text.unwrap_or(self.full_text)
    }

    /// The user agent sent for `source`.
    pub fn user_agent_of<'a>(&'a self, source: &'a SourceConfig) -> &'a str {
        source.user_agent.as_deref().unwrap_or(&self.user_agent)
    }
}

/// The `tags` of a source, trimmed, each once, in the order given. An empty one is a mistake
/// (an OPML category is never empty), refused with its place.
fn source_tags(
    tags: Vec<Spanned<String>>,
) -> Result<Vec<String>, (std::ops::Range<usize>, String)> {
    let mut kept: Vec<String> = Vec::with_capacity(tags.len());
    for tag in tags {
        let value = tag.get_ref().trim();
        if value.is_empty() || value.split('/').any(|part| part.trim().is_empty()) {
            return Err((
                tag.span(),
                format!(
                    "`tags` holds non-empty names (\"News\", or \"News/Tech\" for a category \
                     inside another), got {:?}",
                    tag.get_ref()
                ),
            ));
        }
        if !kept.iter().any(|k| k == value) {
            kept.push(value.to_owned());
        }
    }
    Ok(kept)
}

/// The URL under which a source's `url` (as written in the configuration, relative paths
/// against the folder of the configuration file at `config_path`) is known to the database:
/// the one normalisation every command that looks sources up must share.
pub fn normalise_source_url(raw: &str, config_path: &Path) -> Result<String, String> {
    source_url(raw, config_folder(config_path))
}

/// The folder relative paths of a configuration are resolved against.
fn config_folder(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// Turns the `url` of a source into an absolute `http`, `https` or `file` URL.
fn source_url(raw: &str, base: &Path) -> Result<String, String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Err("`url` must not be empty".into());
    }
    let looks_like_url = raw
        .split_once("://")
        .is_some_and(|(scheme, _)| scheme.chars().all(|c| c.is_ascii_alphanumeric()));
    if !looks_like_url {
        // A plain path, relative to the configuration's folder. One that names no file but
        // reads as a web address is a URL with its scheme missing or mistyped: as a file it
        // would fail at every poll. Any other missing file may yet appear (a feed another
        // program writes), and its polls say that it is missing.
        let path = base.join(raw);
        if !path.exists()
            && let Some(meant) = web_address_meant(raw)
        {
            return Err(format!(
                "`url` {raw:?} is neither a URL nor an existing file: did you mean {meant}?"
            ));
        }
        let absolute = std::path::absolute(&path)
            .map_err(|e| format!("cannot resolve the path {}: {e}", path.display()))?;
        return url::Url::from_file_path(&absolute)
            .map(String::from)
            .map_err(|()| format!("cannot turn {} into a file URL", absolute.display()));
    }
    let url = url::Url::parse(raw).map_err(|e| format!("`url` {raw:?} is not a valid URL: {e}"))?;
    match url.scheme() {
        "http" | "https" if url.host().is_some() => Ok(url.into()),
        "http" | "https" => Err(format!("`url` {raw:?} has no host")),
        "file" => Ok(url.into()),
        other => Err(format!(
            "`url` scheme {other:?} is not supported: expected http, https, file or a plain path"
        )),
    }
}

/// The web address a scheme-less `url` was probably meant to be: `http:/host/...` or
/// `https//host/...` (a mistyped scheme) with it repaired, or `host.tld/...` with `https://`.
fn web_address_meant(raw: &str) -> Option<String> {
    for scheme in ["https", "http"] {
        let Some(rest) = raw
            .get(..scheme.len())
            .filter(|prefix| prefix.eq_ignore_ascii_case(scheme))
            .map(|_| &raw[scheme.len()..])
        else {
            continue;
        };
        let address = rest.trim_start_matches([':', '/']);
        if address.len() < rest.len() && starts_with_host_name(address) {
            return Some(format!("{scheme}://{address}"));
        }
    }
    starts_with_host_name(raw).then(|| format!("https://{raw}"))
}

/// Whether the first segment of a path (up to a `/`) reads as a host name, with an optional
/// port: `example.org`, `feeds.example.co.uk:8080`, `localhost`, `127.0.0.1`. A last label
/// that is a feed file's extension (`feed.xml`) makes it a file name.
fn starts_with_host_name(path: &str) -> bool {
    const FILE_EXTENSIONS: [&str; 9] = [
        "xml", "rss", "atom", "rdf", "json", "txt", "htm", "html", "php",
    ];
    let first = path.split('/').next().unwrap_or_default();
    let host = match first.rsplit_once(':') {
        Some((host, port)) if !port.is_empty() && port.chars().all(|c| c.is_ascii_digit()) => host,
        Some(_) => return false,
        None => first,
    };
    if host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::Ipv4Addr>().is_ok() {
        return true;
    }
    let labels: Vec<&str> = host.split('.').collect();
    let valid_label = |label: &&str| {
        !label.is_empty()
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    let top = labels.last().copied().unwrap_or_default();
    labels.len() >= 2
        && labels.iter().all(valid_label)
        && top.len() >= 2
        && top.chars().all(|c| c.is_ascii_alphabetic())
        && !FILE_EXTENSIONS.contains(&top.to_ascii_lowercase().as_str())
}

/// 1-based line and column (in characters) of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    (line, column)
}

/// The longest value a duration setting accepts, and whether zero means "none". Past these a
/// value is a typo (`1000000000w`), and times computed from it would overflow.
#[derive(Debug, Clone, Copy)]
struct Bound {
    longest: Duration,
    zero: bool,
}

const DAY: u64 = 86_400;

/// Poll intervals and backoff: a source polled less than once a year is not being followed.
const INTERVAL: Bound = Bound {
    longest: Duration::from_secs(365 * DAY),
    zero: false,
};
/// Retention and the near-duplicate window: a century keeps everything.
/// Requests in flight to one host at most, unless `per_host` says.
pub const DEFAULT_PER_HOST: usize = 2;

/// Shortest `source_lease`: a lease must outlast the daemon's renewal every `daemon::TICK`.
const MIN_LEASE: Duration = Duration::from_secs(3);

const RETENTION: Bound = Bound {
    longest: Duration::from_secs(36_500 * DAY),
    zero: false,
};
/// The gap between two requests to one host ("0s": none); an hour already makes a host with a
/// few sources fall behind their intervals.
const HOST_DELAY: Bound = Bound {
    longest: Duration::from_secs(3_600),
    zero: true,
};
/// A server that has not accepted a connection in five minutes is not going to.
const CONNECT_TIMEOUT: Bound = Bound {
    longest: Duration::from_secs(5 * 60),
    zero: false,
};
/// A whole request, body included: a feed that takes longer than an hour holds a poll slot
/// hostage.
const TIMEOUT: Bound = Bound {
    longest: Duration::from_secs(3_600),
    zero: false,
};

/// The duration setting `key`, parsed and held to its bound.
fn bounded_duration(text: &str, key: &str, bound: Bound) -> Result<Duration, String> {
    let value = if bound.zero {
        parse_duration_or_zero(text)?
    } else {
        parse_duration(text)?
    };
    if value > bound.longest {
        return Err(format!(
            "`{key}` = {:?} is too long: at most {}",
            text.trim(),
            humane(bound.longest)
        ));
    }
    Ok(value)
}

/// A duration as the configuration writes it, in its largest whole unit.
fn humane(duration: Duration) -> String {
    let seconds = duration.as_secs();
    [(DAY, 'd'), (3_600, 'h'), (60, 'm')]
        .into_iter()
        .find(|(unit, _)| seconds > 0 && seconds.is_multiple_of(*unit))
        .map_or(format!("{seconds}s"), |(unit, name)| {
            format!("{}{name}", seconds / unit)
        })
}

/// Parses a humane duration: one or more `<number><unit>` with units `s`, `m`, `h`, `d`, `w`
/// (`90s`, `15m`, `1h30m`, `1d`). Zero is refused.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let duration = parse_duration_or_zero(text)?;
    if duration.is_zero() {
        return Err(format!(
            "{:?} is zero: a duration must be positive",
            text.trim()
        ));
    }
    Ok(duration)
}

/// [`parse_duration`] where zero makes sense (`host_delay = "0s"`: no gap).
fn parse_duration_or_zero(text: &str) -> Result<Duration, String> {
    let expected = "expected a duration such as 90s, 15m, 2h or 1d";
    let text = text.trim();
    if text.is_empty() {
        return Err(format!("empty duration: {expected}"));
    }
    let mut total: u64 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(format!("{text:?} is not a duration: {expected}"));
        }
        let number: u64 = rest[..digits]
            .parse()
            .map_err(|_| format!("{text:?} is too large"))?;
        rest = &rest[digits..];
        let unit = rest.chars().next().ok_or_else(|| {
            format!("{text:?} has no unit: {expected} (s, m, h, d or w after the number)")
        })?;
        let seconds = match unit {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => DAY,
            'w' => 7 * DAY,
            _ => return Err(format!("{text:?} has an unknown unit {unit:?}: {expected}")),
        };
        rest = &rest[unit.len_utf8()..];
        // Checked: a value past u64 seconds is refused, never wrapped.
        total = number
            .checked_mul(seconds)
            .and_then(|s| total.checked_add(s))
            .ok_or_else(|| format!("{text:?} is too large"))?;
    }
    Ok(Duration::from_secs(total))
}

fn timezone_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<chrono_tz::Tz>, D::Error> {
    let text = String::deserialize(d)?;
    text.trim().parse::<chrono_tz::Tz>().map(Some).map_err(|_| {
        serde::de::Error::custom(format!(
            "unknown time zone {text:?}: expected an IANA name such as Europe/Paris or UTC"
        ))
    })
}

fn full_text_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<FullText>, D::Error> {
    let text = String::deserialize(d)?;
    FullText::parse(text.trim()).map(Some).ok_or_else(|| {
        serde::de::Error::custom(format!(
            "`full_text` is \"auto\", \"always\" or \"never\", got {text:?}"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("/etc/gleaner/gleaner.toml"))
    }

    #[test]
    fn defaults_and_relative_paths() {
        let config = parse("[[sources]]\nurl = \"samples/feed.xml\"\n").unwrap();
        assert_eq!(
            config.database,
            Database::Sqlite("/etc/gleaner/gleaner.db".into())
        );
        assert_eq!(config.source_lease, Duration::from_secs(60));
        assert_eq!(config.concurrency, 16);
        assert_eq!(config.interval, Duration::from_secs(1800));
        assert!(config.user_agent.starts_with("gleaner/"));
        assert_eq!(
            config.sources[0].url,
            "file:///etc/gleaner/samples/feed.xml"
        );
    }

    #[test]
    fn full_example() {
        let config = parse(
            r#"
database = "data/g.db"
user_agent = "gleaner/0.1 (+https://example.org/gleaner)"
concurrency = 4
interval = "15m"
[[sources]]
url = "https://example.org/feed.xml"
name = "Example"
interval = "1h30m"
timezone = "Europe/Paris"
[[sources]]
url = "file:///tmp/x.xml"
"#,
        )
        .unwrap();
        assert_eq!(
            config.database,
            Database::Sqlite("/etc/gleaner/data/g.db".into())
        );
        assert_eq!(config.concurrency, 4);
        assert_eq!(config.sources.len(), 2);
        assert_eq!(config.sources[0].name.as_deref(), Some("Example"));
        assert_eq!(config.sources[0].interval, Some(Duration::from_secs(5400)));
        assert_eq!(
            config.sources[0].timezone,
            Some(chrono_tz::Tz::Europe__Paris)
        );
        assert_eq!(config.sources[1].interval, None);
        assert_eq!(config.per_host, 2);
        assert_eq!(config.host_delay, Duration::from_secs(1));
        let no_gap = parse("host_delay = \"0s\"\n").unwrap();
        assert_eq!(no_gap.host_delay, Duration::ZERO);
        let hosts = parse("per_host = 3\n[hosts.\"Feeds.Example.org\"]\nhost_delay = \"5s\"\n[hosts.\"127.0.0.1\"]\nper_host = 8\n").unwrap();
        assert_eq!(
            hosts.hosts["feeds.example.org"],
            HostLimits {
                per_host: 3,
                host_delay: Duration::from_secs(5)
            }
        );
        assert_eq!(
            hosts.hosts["127.0.0.1"],
            HostLimits {
                per_host: 8,
                host_delay: Duration::from_secs(1)
            }
        );
        assert_eq!(config.article_retention, None);
        assert_eq!(config.tracking_params, TrackingParams::default());
        assert_eq!(config.near_duplicates, NearDuplicates::default());
        let dedup = parse(
            "article_retention = \"365d\"\ntracking_params = [\"default\", \"ref\"]\n\
             near_duplicate_distance = 3\nnear_duplicate_window = \"7d\"\n",
        )
        .unwrap();
        assert_eq!(
            dedup.article_retention,
            Some(Duration::from_secs(365 * 86_400))
        );
        assert!(dedup.tracking_params.matches("ref") && dedup.tracking_params.matches("utm_x"));
        assert_eq!(
            dedup.near_duplicates,
            NearDuplicates {
                max_distance: 3,
                window: Duration::from_secs(7 * 86_400)
            }
        );
        assert_eq!(config.min_interval, Duration::from_secs(300));
        assert_eq!(config.max_interval, Duration::from_secs(86400));
        assert_eq!(
            config.user_agent_of(&config.sources[0]),
            "gleaner/0.1 (+https://example.org/gleaner)"
        );
    }

    #[test]
    fn unknown_key_is_refused_with_position() {
        let err = parse("concurrency = 2\nintervall = \"5m\"\n").unwrap_err();
        assert_eq!(err.position, Some((2, 1)));
        assert!(err.message.contains("intervall"), "{err}");
        assert!(
            err.to_string()
                .starts_with("/etc/gleaner/gleaner.toml:2:1: ")
        );
    }

    #[test]
    fn bad_values_are_refused_with_position() {
        let cases = [
            ("interval = \"soon\"\n", (1, 12), "duration"),
            ("interval = \"0s\"\n", (1, 12), "positive"),
            ("concurrency = 0\n", (1, 15), "between 1 and 1024"),
            ("source_lease = \"2s\"\n", (1, 16), "at least 3s"),
            ("concurrency = \"many\"\n", (1, 15), "integer"),
            (
                "[[sources]]\nurl = \"ftp://x/feed\"\n",
                (2, 7),
                "not supported",
            ),
            (
                "[[sources]]\nurl = \"https://\"\n",
                (2, 7),
                "not a valid URL",
            ),
            (
                "[[sources]]\nurl = \"a.xml\"\ntimezone = \"Mars/Base\"\n",
                (3, 12),
                "time zone",
            ),
            (
                "[[sources]]\nurl = \"https://a/f\"\n[[sources]]\nurl = \"https://a/f\"\n",
                (4, 7),
                "twice",
            ),
            ("[[sources]]\nname = \"x\"\n", (1, 1), "url"),
            ("database = \"\"\n", (1, 12), "empty"),
            ("per_host = 0\n", (1, 12), "between 1 and 64"),
            ("min_interval = \"0s\"\n", (1, 16), "positive"),
            (
                "[hosts.\"a\"]\nper_host = 100\n",
                (2, 12),
                "between 1 and 64",
            ),
            ("[hosts.\"a\"]\ndelay = \"1s\"\n", (2, 1), "delay"),
            (
                "[[sources]]\nurl = \"a.xml\"\nuser_agent = \"\"\n",
                (3, 14),
                "user_agent",
            ),
            (
                "near_duplicate_distance = 13\n",
                (1, 27),
                "between 0 and 12",
            ),
            (
                "tracking_params = [\"utm_*\", \"a=b\"]\n",
                (1, 29),
                "tracking_params",
            ),
            ("tracking_params = [\"*\"]\n", (1, 20), "tracking_params"),
            ("article_retention = \"forever\"\n", (1, 21), "duration"),
        ];
        for (text, position, needle) in cases {
            let err = parse(text).unwrap_err();
            assert_eq!(err.position, Some(position), "{text}: {err}");
            assert!(err.message.contains(needle), "{text}: {err}");
        }
    }

    #[test]
    fn tags_and_paused() {
        let config = parse(
            "[[sources]]\nurl = \"https://a.example/f\"\ntags = [\" News \", \"News/Tech\", \"News\"]\npaused = true\n\
             [[sources]]\nurl = \"https://b.example/f\"\n",
        )
        .unwrap();
        assert_eq!(config.sources[0].tags, ["News", "News/Tech"]);
        assert!(config.sources[0].paused);
        assert!(config.sources[1].tags.is_empty() && !config.sources[1].paused);
        for (text, position) in [
            ("tags = [\"\"]", (3, 9)),
            ("tags = [\"a\", \"  \"]", (3, 14)),
            ("tags = [\"a//b\"]", (3, 9)),
            ("tags = [\"/a\"]", (3, 9)),
        ] {
            let err = parse(&format!(
                "[[sources]]\nurl = \"https://a.example/f\"\n{text}\n"
            ))
            .unwrap_err();
            assert_eq!(err.position, Some(position), "{text}: {err}");
            assert!(err.message.contains("`tags`"), "{text}: {err}");
        }
        let err =
            parse("[[sources]]\nurl = \"https://a.example/f\"\npaused = \"yes\"\n").unwrap_err();
        assert_eq!(err.position, Some((3, 10)), "{err}");
        let err =
            parse("[[sources]]\nurl = \"https://a.example/f\"\ntags = \"News\"\n").unwrap_err();
        assert_eq!(err.position, Some((3, 8)), "{err}");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("1d"), Ok(Duration::from_secs(86400)));
        assert_eq!(parse_duration("1w1d"), Ok(Duration::from_secs(691_200)));
        for bad in ["", "5", "m", "5x", "-5m", "1.5h", "99999999999999999999s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_web_address_without_its_scheme_is_refused_with_a_hint() {
        let cases = [
            ("example.org/feed.xml", "https://example.org/feed.xml"),
            ("http:/example.org", "http://example.org"),
            ("https//x.org/feed", "https://x.org/feed"),
            ("HTTPS:/x.org/feed", "https://x.org/feed"),
            ("http:example.org/rss", "http://example.org/rss"),
            ("https:://x.org", "https://x.org"),
            ("www.example.co.uk", "https://www.example.co.uk"),
            (
                "feeds.example.org:8080/atom",
                "https://feeds.example.org:8080/atom",
            ),
            ("localhost:8080/feed", "https://localhost:8080/feed"),
            ("127.0.0.1/feed.xml", "https://127.0.0.1/feed.xml"),
        ];
        for (url, meant) in cases {
            let text = format!("concurrency = 4\n[[sources]]\nurl = \"{url}\"\n");
            let err = parse(&text).unwrap_err();
            assert_eq!(err.position, Some((3, 7)), "{url}: {err}");
            assert!(
                err.message.contains(&format!("did you mean {meant}?")),
                "{url}: {err}"
            );
            assert!(
                err.to_string()
                    .starts_with("/etc/gleaner/gleaner.toml:3:7: `url`"),
                "{err}"
            );
        }
    }

    #[test]
    fn plain_paths_stay_files() {
        // Not web addresses: files, even while they do not exist (another program may write
        // them; their polls say they are missing).
        for (url, file) in [
            ("feed.xml", "file:///etc/gleaner/feed.xml"),
            (
                "samples/sample-feed.xml",
                "file:///etc/gleaner/samples/sample-feed.xml",
            ),
            ("/var/lib/feeds/a.rss", "file:///var/lib/feeds/a.rss"),
            ("data.d/news.atom", "file:///etc/gleaner/data.d/news.atom"),
            ("https/feed.xml", "file:///etc/gleaner/https/feed.xml"),
            ("my-feed", "file:///etc/gleaner/my-feed"),
        ] {
            let config = parse(&format!("[[sources]]\nurl = \"{url}\"\n"))
                .unwrap_or_else(|e| panic!("{url}: {e}"));
            assert_eq!(config.sources[0].url, file);
        }
        // A file that exists is a file, whatever its name looks like.
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("example.org")).unwrap();
        std::fs::write(dir.path().join("example.org/feed.xml"), "<rss/>").unwrap();
        let config = Config::parse(
            "[[sources]]\nurl = \"example.org/feed.xml\"\n",
            &dir.path().join("gleaner.toml"),
        )
        .unwrap();
        let expected = url::Url::from_file_path(dir.path().join("example.org/feed.xml")).unwrap();
        assert_eq!(config.sources[0].url, expected.as_str());
    }

    #[test]
    fn durations_past_their_bound_are_refused_with_position() {
        let cases = [
            (
                "interval = \"1000000000w\"\n",
                (1, 12),
                "`interval` = \"1000000000w\" is too long: at most 365d",
            ),
            ("interval = \"366d\"\n", (1, 12), "at most 365d"),
            ("min_interval = \"53w\"\n", (1, 16), "`min_interval`"),
            ("max_interval = \"400d\"\n", (1, 16), "`max_interval`"),
            ("max_backoff = \"9999w\"\n", (1, 15), "`max_backoff`"),
            ("host_delay = \"2h\"\n", (1, 14), "at most 1h"),
            (
                "[hosts.\"a\"]\nhost_delay = \"61m\"\n",
                (2, 14),
                "`host_delay`",
            ),
            ("connect_timeout = \"1h\"\n", (1, 19), "at most 5m"),
            ("timeout = \"2h\"\n", (1, 11), "at most 1h"),
            ("fetch_retention = \"36501d\"\n", (1, 19), "at most 36500d"),
            (
                "article_retention = \"5300w\"\n",
                (1, 21),
                "`article_retention`",
            ),
            (
                "near_duplicate_window = \"101000d\"\n",
                (1, 25),
                "`near_duplicate_window`",
            ),
            (
                "[[sources]]\nurl = \"a.xml\"\ninterval = \"2000d\"\n",
                (3, 12),
                "`interval`",
            ),
            ("interval = 30\n", (1, 12), "string"),
        ];
        for (text, position, needle) in cases {
            let err = parse(text).unwrap_err();
            assert_eq!(err.position, Some(position), "{text}: {err}");
            assert!(err.message.contains(needle), "{text}: {err}");
        }
        // The bounds themselves are accepted.
        let config = parse(
            "interval = \"365d\"\nmax_interval = \"52w1d\"\nhost_delay = \"1h\"\n\
             connect_timeout = \"5m\"\ntimeout = \"60m\"\narticle_retention = \"36500d\"\n",
        )
        .unwrap();
        assert_eq!(config.interval, Duration::from_secs(365 * 86_400));
        assert_eq!(config.host_delay, Duration::from_secs(3_600));
        assert_eq!(
            config.article_retention,
            Some(Duration::from_secs(36_500 * 86_400))
        );
        for zero in ["0s", "0m", "00s", "0h0m"] {
            let config = parse(&format!("host_delay = \"{zero}\"\n")).unwrap();
            assert_eq!(config.host_delay, Duration::ZERO, "{zero}");
        }
    }

    #[test]
    fn duration_arithmetic_never_overflows() {
        for huge in [
            "18446744073709551615s1s",
            "18446744073709551615w",
            "30500568904944w",
            "99999999999999999999999999999s",
        ] {
            let err = parse_duration(huge).unwrap_err();
            assert!(err.contains("too large"), "{huge}: {err}");
        }
        assert_eq!(
            parse_duration("18446744073709551615s"),
            Ok(Duration::from_secs(u64::MAX))
        );
        assert_eq!(
            parse_duration("1000000000w"),
            Ok(Duration::from_secs(604_800_000_000_000))
        );
        assert!(parse_duration("0s0m").unwrap_err().contains("positive"));
    }

    #[test]
    fn line_column_counts_characters() {
        let text = "a = 1\nbé = \"x\"";
        assert_eq!(line_column(text, text.find('=').unwrap()), (1, 3));
        assert_eq!(line_column(text, text.rfind('=').unwrap()), (2, 4));
    }
}
