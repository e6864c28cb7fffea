//! Getting the bytes of a feed: HTTP (conditional GET, compression, timeouts, a cap on the
//! decompressed size) and `file://`. The only module that speaks HTTP. It knows nothing of
//! feeds: it returns bytes, the validators for next time, or a classified error.

use std::path::PathBuf;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{
    CONTENT_TYPE, ETAG, HeaderMap, HeaderValue, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED,
};

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
    Io,
    Network,
}

impl ErrorClass {
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
}

impl FetchError {
    fn new(class: ErrorClass, message: impl Into<String>) -> FetchError {
        FetchError {
            class,
            status: None,
            message: message.into(),
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

/// A shared HTTP client; cheap to clone.
#[derive(Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    settings: FetchSettings,
}

impl Fetcher {
    pub fn new(settings: FetchSettings) -> Result<Fetcher, FetchError> {
        let client = reqwest::Client::builder()
            .user_agent(settings.user_agent.clone())
            .connect_timeout(settings.connect_timeout)
            .timeout(settings.timeout)
            .read_timeout(settings.timeout.min(Duration::from_secs(30)))
            .redirect(reqwest::redirect::Policy::limited(5))
            .gzip(true)
            .brotli(true)
            .deflate(true)
            .build()
            .map_err(|e| {
                FetchError::new(
                    ErrorClass::Tls,
                    format!("cannot build the HTTP client: {e}"),
                )
            })?;
        Ok(Fetcher { client, settings })
    }

    /// Fetches `url` (http, https or file), sending `validators` for a conditional GET.
    pub async fn fetch(&self, url: &str, validators: &Validators) -> Result<Fetched, FetchError> {
        if url.starts_with("file:") {
            return self.fetch_file(url).await;
        }
        let mut headers = HeaderMap::new();
        if let Some(etag) = validators.etag.as_deref().and_then(header_value) {
            headers.insert(IF_NONE_MATCH, etag);
        }
        if let Some(lm) = validators.last_modified.as_deref().and_then(header_value) {
            headers.insert(IF_MODIFIED_SINCE, lm);
        }
        headers.insert(
            reqwest::header::ACCEPT,
            HeaderValue::from_static(
                "application/rss+xml, application/atom+xml, application/feed+json, \
                 application/xml;q=0.9, text/xml;q=0.9, application/json;q=0.8, */*;q=0.5",
            ),
        );
        let mut response = self
            .client
            .get(url)
            .headers(headers)
            .send()
            .await
            .map_err(classify)?;
        let status = response.status();
        if status == StatusCode::NOT_MODIFIED {
            return Ok(Fetched::NotModified {
                status: status.as_u16(),
            });
        }
        if !status.is_success() {
            let class = match status.as_u16() {
                400..=499 => ErrorClass::Http4xx,
                500..=599 => ErrorClass::Http5xx,
                _ => ErrorClass::HttpOther,
            };
            return Err(FetchError {
                class,
                status: Some(status.as_u16()),
                message: format!("HTTP {status}"),
            });
        }
        let header = |name| {
            response
                .headers()
                .get(name)
                .and_then(|v: &HeaderValue| v.to_str().ok())
                .map(str::to_owned)
        };
        let content_type = header(CONTENT_TYPE);
        let validators = Validators {
            etag: header(ETAG),
            last_modified: header(LAST_MODIFIED),
        };
        let max = self.settings.max_bytes;
        if response.content_length().is_some_and(|len| len > max) {
            return Err(too_large(max, status));
        }
        // reqwest has no cap of its own and decompresses as it goes, so count what it yields.
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(classify)? {
            if bytes.len() as u64 + chunk.len() as u64 > max {
                return Err(too_large(max, status));
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(Fetched::Body(Body {
            status: Some(status.as_u16()),
            bytes,
            content_type,
            validators,
        }))
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
            })),
        }
    }
}

fn header_value(text: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(text).ok()
}

fn too_large(max: u64, status: StatusCode) -> FetchError {
    FetchError {
        class: ErrorClass::TooLarge,
        status: Some(status.as_u16()),
        message: format!("body larger than the {max}-byte limit"),
    }
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
    FetchError {
        class,
        status: error.status().map(|s| s.as_u16()),
        message,
    }
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
