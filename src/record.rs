//! What a poll found, ready to be written, and what writing it changed: the records the
//! pipeline produces and the store applies. Plain data; the store's implementation is not
//! needed to read or build them.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::dedup::{IdentityBasis, Item};
use crate::feed::{FeedError, FeedHints};
use crate::fetch::{ErrorClass, ResponseMeta, Validators};
use crate::schedule::Plan;

/// Why a poll failed, as `fetches.error_class` and `sources.last_error` say it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureClass {
    /// The request failed (see [`ErrorClass`]).
    Fetch(ErrorClass),
    /// The body is no feed (an HTML page, an empty document).
    NotAFeed,
    /// The body is a feed that cannot be read.
    Parse,
    /// A bug caught: the poll stopped unexpectedly.
    Internal,
    /// The poll's result could not be written to the database.
    Database,
}

impl FailureClass {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureClass::Fetch(class) => class.as_str(),
            FailureClass::NotAFeed => "not_a_feed",
            FailureClass::Parse => "parse",
            FailureClass::Internal => "internal",
            FailureClass::Database => "database",
        }
    }
}

impl From<&FeedError> for FailureClass {
    fn from(error: &FeedError) -> FailureClass {
        match error {
            FeedError::NotAFeed(_) => FailureClass::NotAFeed,
            FeedError::Invalid(_) => FailureClass::Parse,
        }
    }
}

impl std::fmt::Display for FailureClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The outcome of one poll of one source, ready to be written.
#[derive(Debug)]
pub struct PollRecord {
    pub source_id: i64,
    pub url: String,
    pub started_at: DateTime<Utc>,
    pub duration: Duration,
    pub next: Plan,
    pub validators_sent: Validators,
    pub meta: ResponseMeta,
    pub outcome: PollOutcome,
}

#[derive(Debug)]
pub enum PollOutcome {
    /// A 304.
    NotModified { status: Option<u16> },
    /// A body identical to the last one parsed: not parsed again.
    Unchanged {
        status: Option<u16>,
        bytes: u64,
        validators: Validators,
    },
    Parsed {
        status: Option<u16>,
        bytes: u64,
        validators: Validators,
        body_hash: String,
        feed_title: Option<String>,
        site_url: Option<String>,
        hints: FeedHints,
        items: Vec<Item>,
        /// What fetching the pages of some items came to (full text).
        pages: Vec<PageRecord>,
        /// Why the source's guids cannot be trusted, when this document shows it.
        identity_fallback: Option<String>,
    },
    Failed {
        status: Option<u16>,
        bytes: Option<u64>,
        class: FailureClass,
        message: String,
        /// Counted against the feed: false for rate limits and a local outage.
        charged: bool,
        retry_after: Option<DateTime<Utc>>,
        /// A host to leave alone until `retry_after` (a 429).
        block_host: Option<String>,
    },
}

/// What a failed poll says in its `fetches` row; all `None` (and charged) for a success.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FetchFailure<'a> {
    pub class: Option<&'static str>,
    pub message: Option<&'a str>,
    pub charged: bool,
    pub retry_after: Option<DateTime<Utc>>,
}

impl PollOutcome {
    /// The failure columns of this poll's `fetches` row.
    pub fn failure(&self) -> FetchFailure<'_> {
        match self {
            PollOutcome::Failed {
                class,
                message,
                charged,
                retry_after,
                ..
            } => FetchFailure {
                class: Some(class.as_str()),
                message: Some(message),
                charged: *charged,
                retry_after: *retry_after,
            },
            _ => FetchFailure {
                class: None,
                message: None,
                charged: true,
                retry_after: None,
            },
        }
    }
}

/// What a poll changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PollCounts {
    pub seen: u64,
    pub new: u64,
    pub updated: u64,
    /// New articles linked to an earlier one as near-duplicates.
    pub near_duplicates: u64,
    /// Articles whose body became their page's text.
    pub full_text: u64,
    /// Pages fetched.
    pub pages: u64,
    /// Items not stored again because retention removed them.
    pub removed: u64,
    /// The source's new URL when this poll moved it (a permanent redirect that held).
    pub moved_to: Option<String>,
    /// Set when this poll switched the source from guids to links.
    pub identity_basis: Option<IdentityBasis>,
}

/// What fetching an item's page came to, ready to be written with the poll.
#[derive(Debug, Clone, PartialEq)]
pub struct PageRecord {
    /// The item's place in the poll's items.
    pub item: usize,
    /// The item's link.
    pub url: String,
    /// Where the page was read from, after redirects.
    pub final_url: Option<String>,
    pub fetched_at: DateTime<Utc>,
    pub duration: Duration,
    pub status: Option<u16>,
    pub bytes: Option<u64>,
    /// The item revision it was fetched for (see [`PageQuery::marker`]).
    pub marker: String,
    pub outcome: PageOutcome,
}

#[derive(Debug, Clone, PartialEq)]
pub enum PageOutcome {
    /// The item's body and document are the page's article now; the feed's own text is kept.
    Extracted { feed_body: String },
    /// The item keeps its feed text, for `reason` (a short class: `robots`, `http_4xx`,
    /// `no_article`, …). With `retry`, a later poll fetches the page again (a timeout, a server
    /// error, a rate limit); without, not before the item's next revision.
    KeptFeed {
        reason: &'static str,
        message: String,
        retry: bool,
    },
}

impl PageOutcome {
    pub fn feed_body(&self) -> Option<&str> {
        match self {
            PageOutcome::Extracted { feed_body } => Some(feed_body),
            PageOutcome::KeptFeed { .. } => None,
        }
    }
}

/// An item whose page might be fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageQuery {
    /// The item's identity within its source (`Identity::as_stored`).
    pub identity: String,
    pub key: String,
    pub canonical_url: Option<String>,
    /// The item's revision as its feed says it: its latest timestamp and its link. A feed that
    /// edits a teaser without saying so leaves it as it was, and the page is not fetched again.
    pub marker: String,
}

/// What the store knows of an item's page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageKnown {
    /// Not fetched for this revision yet; `deferred` earlier attempts were put off.
    Fetch { deferred: u32 },
    /// Fetched for this revision (the article's own source), or at all (another source's copy).
    Done,
    /// Retention removed the article: the item is not stored again, so its page is not needed.
    Removed,
}
