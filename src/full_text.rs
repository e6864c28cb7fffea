//! Full text, the pipeline's page stage: for the items of a poll whose feed carries only a
//! teaser (`full_text = "auto"`) or every item (`"always"`), the article's page is fetched,
//! its article extracted (`extract`), and the item given the page's text when that is the
//! article. Every page fetched becomes a [`PageRecord`]; a page that fails in any way leaves
//! the item with its feed's text, and says why.
//!
//! A page is fetched once per item revision (the store says which items have theirs), through
//! the same politeness as feeds (per-host turns and delay, hosts blocked by a 429), under the
//! site's robots.txt, and only on a public address unless it is on the source's own host or
//! the source allows private addresses: page URLs come from feeds and are not trusted.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures_util::StreamExt;

use crate::dedup::{self, Item, TrackingParams};
use crate::extract::{self, ExtractError, Extracted};
use crate::fetch::{ErrorClass, FetchError, Fetcher, Reach};
use crate::politeness::Politeness;
use crate::record::{PageKnown, PageOutcome, PageQuery, PageRecord};
use crate::render;
use crate::robots::{RobotsCache, Verdict};
use crate::store::Store;
use crate::text;

/// When an item's page is fetched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FullText {
    /// When the feed's text is a teaser ([`extract::is_teaser`]).
    #[default]
    Auto,
    /// For every item with a link.
    Always,
    Never,
}

impl FullText {
    pub fn parse(text: &str) -> Option<FullText> {
        match text {
            "auto" => Some(FullText::Auto),
            "always" => Some(FullText::Always),
            "never" => Some(FullText::Never),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            FullText::Auto => "auto",
            FullText::Always => "always",
            FullText::Never => "never",
        }
    }
}

/// Pages fetched in one poll at most. A feed's first poll may list a hundred teasers; the rest
/// are stored with their feed's text and get their pages at the next polls.
pub const MAX_PAGES_PER_POLL: usize = 30;

/// Pages of one poll fetched at once; each still waits for its host's turn.
const PAGES_AT_ONCE: usize = 4;

/// Time for extracting one page. Extraction is bounded by the page's size, depth and elements
/// (`extract`), so this is a last resort; it cannot interrupt the work, only stop waiting.
pub const EXTRACT_BUDGET: Duration = Duration::from_secs(10);

/// Attempts put off (a timeout, a server error) after which a page is not tried again before
/// its item's next revision.
pub const MAX_DEFERRED: u32 = 3;

/// Share of the teaser's words that the page's article must contain to be its article: a
/// summary is written from the article, while a cookie wall, a paywall or a front page shares
/// few of its words.
pub const TEASER_WORDS_FOUND: f64 = 0.5;

/// Teasers with fewer distinct words than this are not compared: too few to judge by.
const MIN_WORDS_COMPARED: usize = 5;

/// What the stage shares between polls: robots.txt per site, and the database's answers.
pub struct Pages {
    pub robots: RobotsCache,
    pub store: Arc<dyn Store>,
}

/// What the stage needs of the source polled.
#[derive(Debug, Clone, Copy)]
pub struct PageSource<'a> {
    pub id: i64,
    /// The source's configured URL: pages on its host are trusted as it is.
    pub url: &'a str,
    pub user_agent: &'a str,
    pub allow_private: bool,
    pub mode: FullText,
    pub timezone: Option<chrono_tz::Tz>,
    pub tracking: &'a TrackingParams,
}

/// What the stage did for one poll.
#[derive(Debug, Default)]
pub struct Completed {
    /// What each page fetch came to.
    pub records: Vec<PageRecord>,
    /// Pages still to fetch at a later poll (put off, or over [`MAX_PAGES_PER_POLL`]): the
    /// next poll must read the feed again even if it has not changed.
    pub pending: bool,
}

/// Fetches the pages `source`'s items need and gives each item its page's text when that is
/// its article.
pub async fn complete(
    fetcher: &Fetcher,
    politeness: &Politeness,
    pages: &Pages,
    source: PageSource<'_>,
    items: &mut [Item],
) -> Completed {
    let wanted = wanted(source.mode, items);
    if wanted.is_empty() {
        return Completed::default();
    }
    let queries: Vec<PageQuery> = wanted.iter().map(|&i| query(&items[i])).collect();
    let markers: Vec<String> = queries.iter().map(|q| q.marker.clone()).collect();
    let known = match pages.store.pages_known(source.id, queries).await {
        Ok(known) => known,
        // Without the answer every page would be fetched again: wait for a later poll.
        Err(e) => {
            tracing::warn!(source = source.url, error = %e, "cannot read which pages are known: no full text this poll");
            return Completed {
                records: Vec::new(),
                pending: true,
            };
        }
    };
    let mut to_fetch: Vec<(usize, String, String)> = wanted
        .iter()
        .zip(known)
        .zip(markers)
        .filter(|((_, known), _)| {
            matches!(known, PageKnown::Fetch { deferred } if deferred < &MAX_DEFERRED)
        })
        .filter_map(|((&i, _), marker)| Some((i, items[i].rendered.link.clone()?, marker)))
        .collect();
    let mut pending = to_fetch.len() > MAX_PAGES_PER_POLL;
    to_fetch.truncate(MAX_PAGES_PER_POLL);
    let fetched: Vec<(PageRecord, Option<Extracted>)> =
        futures_util::stream::iter(to_fetch.into_iter().map(|(index, url, marker)| {
            let feed_body = items[index].rendered.body.clone();
            async move {
                fetch_one(
                    fetcher, politeness, pages, source, index, url, marker, &feed_body,
                )
                .await
            }
        }))
        .buffer_unordered(PAGES_AT_ONCE)
        .collect()
        .await;
    let seen_at = Utc::now();
    let mut records = Vec::with_capacity(fetched.len());
    for (mut record, extracted) in fetched {
        if let Some(extracted) = extracted {
            let item = &mut items[record.item];
            let feed_body = use_page(item, &extracted, &record, source, seen_at);
            record.outcome = PageOutcome::Extracted { feed_body };
        }
        records.push(record);
    }
    records.sort_by_key(|r| r.item);
    pending |= records
        .iter()
        .any(|r| matches!(r.outcome, PageOutcome::KeptFeed { retry: true, .. }));
    Completed { records, pending }
}

/// The items whose page `mode` asks for: with an http(s) link, and (`auto`) a teaser.
fn wanted(mode: FullText, items: &[Item]) -> Vec<usize> {
    items
        .iter()
        .enumerate()
        .filter(|(_, item)| {
            let r = &item.rendered;
            r.link
                .as_deref()
                .is_some_and(|l| l.starts_with("http://") || l.starts_with("https://"))
                && match mode {
                    FullText::Never => false,
                    FullText::Always => true,
                    FullText::Auto => extract::is_teaser(&r.body, r.link.as_deref()),
                }
        })
        .map(|(i, _)| i)
        .collect()
}

/// The item revision a page is fetched for: the feed's latest timestamp of the item, and its
/// link.
fn marker(item: &Item) -> String {
    let r = &item.rendered;
    format!(
        "{} {}",
        r.revised_at
            .map(crate::store::timestamp)
            .unwrap_or_default(),
        r.link.as_deref().unwrap_or_default()
    )
}

fn query(item: &Item) -> PageQuery {
    PageQuery {
        identity: item.identity.as_stored(),
        key: item.key.clone(),
        canonical_url: item.canonical_url.clone(),
        marker: marker(item),
    }
}

/// Fetches and extracts one page: the record, and the article when it is to replace the feed's
/// text.
#[allow(clippy::too_many_arguments)]
async fn fetch_one(
    fetcher: &Fetcher,
    politeness: &Politeness,
    pages: &Pages,
    source: PageSource<'_>,
    item: usize,
    url: String,
    marker: String,
    feed_body: &str,
) -> (PageRecord, Option<Extracted>) {
    let clock = Instant::now();
    let mut record = PageRecord {
        item,
        url,
        final_url: None,
        fetched_at: Utc::now(),
        duration: Duration::ZERO,
        status: None,
        bytes: None,
        marker,
        outcome: kept("", String::new(), false),
    };
    let (outcome, extracted) =
        fetch_and_extract(fetcher, politeness, pages, source, &mut record, feed_body).await;
    record.outcome = outcome;
    record.duration = clock.elapsed();
    (record, extracted)
}

fn kept(reason: &'static str, message: String, retry: bool) -> PageOutcome {
    PageOutcome::KeptFeed {
        reason,
        message,
        retry,
    }
}

async fn fetch_and_extract(
    fetcher: &Fetcher,
    politeness: &Politeness,
    pages: &Pages,
    source: PageSource<'_>,
    record: &mut PageRecord,
    feed_body: &str,
) -> (PageOutcome, Option<Extracted>) {
    let url = record.url.clone();
    let reach = reach(source, &url);
    let host = url::Url::parse(&url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_default();
    if let Some(until) = politeness.blocked_until(&host, Utc::now()) {
        let message = format!("{host} asked not to be fetched before {until}");
        return (kept("rate_limited", message, true), None);
    }
    // Another gleaner process on the same database may be fetching from this host: then it is
    // that one's to fetch from, and this page waits for a later poll.
    match pages.store.claim_host(host.clone()).await {
        Ok(true) => {}
        Ok(false) => {
            let message = format!("another gleaner process is fetching from {host}");
            return (kept("host_busy", message, true), None);
        }
        Err(e) => return (kept("database", e.to_string(), true), None),
    }
    match pages
        .robots
        .check(fetcher, politeness, &url, source.user_agent, reach)
        .await
    {
        Verdict::Allowed => {}
        Verdict::Disallowed { robots_url } => {
            let message = format!("{robots_url} disallows {url}");
            return (kept("robots", message, false), None);
        }
        Verdict::Unavailable { reason, .. } => {
            return (kept("robots_unavailable", reason, true), None);
        }
        Verdict::Refused { reason, .. } => {
            return (kept("private_address", reason, false), None);
        }
    }
    let body = match fetcher
        .fetch_page(&url, source.user_agent, reach, politeness)
        .await
    {
        Ok(body) => body,
        Err(e) => {
            record.status = e.status;
            return (fetch_failed(politeness, &host, e), None);
        }
    };
    record.status = body.status;
    record.bytes = Some(body.bytes.len() as u64);
    let final_url = body.meta.final_url(&url).to_owned();
    record.final_url = Some(final_url.clone());
    let content_type = body.content_type;
    let page = body.bytes;
    let extracted = tokio::time::timeout(
        EXTRACT_BUDGET,
        tokio::task::spawn_blocking(move || {
            extract::extract(&page, content_type.as_deref(), Some(&final_url))
        }),
    )
    .await;
    let extracted = match extracted {
        Ok(Ok(Ok(extracted))) => extracted,
        Ok(Ok(Err(e))) => return (extract_failed(e), None),
        Ok(Err(e)) => {
            let message = format!("extraction stopped unexpectedly: {e}");
            return (kept("internal", message, false), None);
        }
        Err(_) => {
            let message = format!("extraction took longer than {EXTRACT_BUDGET:?}");
            return (kept("extract_timeout", message, false), None);
        }
    };
    match judge(feed_body, &extracted.body) {
        Ok(()) => (kept("", String::new(), false), Some(extracted)),
        Err((reason, message)) => (kept(reason, message, false), None),
    }
}

/// Where a page may be fetched from: anywhere when the source allows private addresses; on its
/// own host as the source's URL is; elsewhere only on public addresses.
fn reach(source: PageSource<'_>, page: &str) -> Reach {
    let host = |u: &str| {
        url::Url::parse(u)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
    };
    if source.allow_private {
        Reach::Anywhere
    } else if host(page).is_some() && host(page) == host(source.url) {
        Reach::Configured
    } else {
        Reach::PublicOnly
    }
}

/// A failed page fetch: the feed's text stays. Failures that a later poll may not meet again
/// (a timeout, a server error, a rate limit) are tried again; the others wait for a revision.
fn fetch_failed(politeness: &Politeness, host: &str, e: FetchError) -> PageOutcome {
    if e.class == ErrorClass::RateLimited && e.status == Some(429) {
        let until = e
            .retry_after
            .unwrap_or_else(|| Utc::now() + chrono::Duration::hours(1));
        politeness.block_host(host, until);
    }
    let retry = e.class.is_network()
        || matches!(
            e.class,
            ErrorClass::Http5xx | ErrorClass::RateLimited | ErrorClass::Tls
        );
    kept(e.class.as_str(), e.message, retry)
}

fn extract_failed(e: ExtractError) -> PageOutcome {
    let reason = match e {
        ExtractError::NoArticle => "no_article",
        ExtractError::TooLarge { .. } => "too_large",
        ExtractError::TooDeep { .. } | ExtractError::TooManyElements { .. } => "too_complex",
        ExtractError::BadUrl(_) => "bad_url",
    };
    kept(reason, e.to_string(), false)
}

/// Whether a page's article is the article the feed's text is a teaser of: longer than it,
/// and containing most of its words. Otherwise why not.
pub fn judge(feed_body: &str, page_body: &str) -> Result<(), (&'static str, String)> {
    let length = |t: &str| t.chars().filter(|c| !c.is_whitespace()).count();
    let (feed, page) = (length(feed_body), length(page_body));
    if page <= feed {
        return Err((
            "shorter",
            format!(
                "the page's article ({page} characters) is not longer than the feed's text ({feed})"
            ),
        ));
    }
    let teaser = words(feed_body);
    if teaser.len() >= MIN_WORDS_COMPARED {
        let article = words(page_body);
        let found = teaser.iter().filter(|w| article.contains(*w)).count();
        let share = found as f64 / teaser.len() as f64;
        if share < TEASER_WORDS_FOUND {
            return Err((
                "mismatch",
                format!(
                    "the page's text has {found} of the teaser's {} words: not its article",
                    teaser.len()
                ),
            ));
        }
    }
    Ok(())
}

/// The distinct words of a text, in lower case, without the one- and two-letter ones (which
/// every text shares) and the calls to read on that end teasers.
fn words(text: &str) -> std::collections::HashSet<String> {
    const CALLS: &[&str] = &[
        "read", "more", "continue", "reading", "click", "here", "full",
    ];
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() > 2)
        .map(str::to_lowercase)
        .filter(|w| !CALLS.contains(&w.as_str()) && !w.starts_with("http"))
        .collect()
}

/// Gives `item` its page's article: the body (less a first paragraph repeating the item's
/// title), the page's headline when the item has no title, its publication time when the item
/// has none, its canonical address when on the page's own site. Returns the feed's own text.
fn use_page(
    item: &mut Item,
    page: &Extracted,
    record: &PageRecord,
    source: PageSource<'_>,
    seen_at: DateTime<Utc>,
) -> String {
    let r = &mut item.rendered;
    if r.title.is_empty() {
        r.title = page.title.clone();
    }
    let paragraphs = page.body.split("\n\n").map(str::to_owned).collect();
    let body = text::body_from_paragraphs(&r.title, paragraphs);
    let feed_body = std::mem::replace(&mut r.body, body);
    if r.published_at.is_none()
        && let Some(published) = render::usable_timestamp(page.published, seen_at)
    {
        r.published_at = Some(published.to_utc());
        r.date = render::document_date(Some(published), source.timezone, seen_at).to_string();
    }
    r.document = text::document(&r.date, &r.title, &r.body);
    item.simhash = dedup::fingerprint(&r.body);
    let page_url = record.final_url.as_deref().unwrap_or(&record.url);
    if let Some(canonical) = page
        .canonical_url
        .as_deref()
        .filter(|c| same_site(c, page_url) || same_site(c, &record.url))
        .and_then(|c| dedup::canonical_url(c, source.tracking))
        .filter(|c| !dedup::is_front_page(c))
    {
        item.canonical_url = Some(canonical);
    }
    feed_body
}

/// Whether two URLs are on one host (a leading `www.` aside): a page may name its canonical
/// address on its own site, not claim another site's article.
fn same_site(a: &str, b: &str) -> bool {
    let host = |u: &str| {
        url::Url::parse(u).ok().and_then(|u| {
            u.host_str()
                .map(|h| h.strip_prefix("www.").unwrap_or(h).to_ascii_lowercase())
        })
    };
    host(a).is_some() && host(a) == host(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse() {
        for mode in [FullText::Auto, FullText::Always, FullText::Never] {
            assert_eq!(FullText::parse(mode.as_str()), Some(mode));
        }
        assert_eq!(FullText::parse("sometimes"), None);
    }

    #[test]
    fn the_article_of_a_teaser_is_longer_and_has_its_words() {
        let teaser = "The council voted on Tuesday to close the old harbour bridge …";
        let article = "The council voted on Tuesday to close the old harbour bridge to traffic \
                       from March.\n\nEngineers found cracks in two of its piers last year.";
        assert_eq!(judge(teaser, article), Ok(()));
        let wall = "We value your privacy. We and our partners use cookies to store and access \
                    information on a device, for personalised ads and content measurement.";
        assert_eq!(judge(teaser, wall).unwrap_err().0, "mismatch");
        assert_eq!(judge(article, teaser).unwrap_err().0, "shorter");
        // Too few words to compare: length decides.
        assert_eq!(judge("Photos …", article), Ok(()));
    }

    #[test]
    fn canonical_addresses_count_on_their_own_site() {
        assert!(same_site(
            "https://www.example.org/a",
            "http://example.org/b?x"
        ));
        assert!(!same_site(
            "https://other.example/a",
            "https://example.org/a"
        ));
        assert!(!same_site("not a url", "not a url"));
    }

    #[test]
    fn pages_off_the_source_host_are_public_only() {
        let tracking = TrackingParams::default();
        let source = PageSource {
            id: 1,
            url: "http://localhost:8080/feed.xml",
            user_agent: "t",
            allow_private: false,
            mode: FullText::Auto,
            timezone: None,
            tracking: &tracking,
        };
        assert_eq!(reach(source, "http://localhost:9090/a"), Reach::Configured);
        assert_eq!(reach(source, "http://127.0.0.2/a"), Reach::PublicOnly);
        let open = PageSource {
            allow_private: true,
            ..source
        };
        assert_eq!(reach(open, "http://127.0.0.2/a"), Reach::Anywhere);
    }
}
