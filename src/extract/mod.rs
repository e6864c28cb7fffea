//! Full text: the article of a web page, for feeds that carry only a teaser (issue 9). Pure:
//! bytes in, the article in the document form out; fetching the page is the caller's.
//!
//! The steps: the page's bytes decoded as a browser would (`charset`); its metadata read
//! (`metadata`: headline, publication time, canonical address); its main content found by
//! dom_smoothie (Readability.js's algorithm); that content trimmed of what is not the article
//! (`cleanup` and `furniture`: captions, bylines, share widgets, lists of related links) and
//! rendered by `text`, so a page's text obeys FORMAT.md exactly as a feed's does.
//!
//! Cost: about 4 ms and 60 MB at most for a typical page (`cargo bench --bench extract`); a
//! page over [`MAX_PAGE_BYTES`] or nested deeper than [`MAX_NESTING`] is refused before any
//! parsing, and one of more than [`MAX_ELEMENTS`] elements before scoring, which bounds the
//! worst page the budget lets through to a few seconds and a few hundred MB.
//! Callers in async code should run [`extract`] on the blocking pool
//! (`tokio::task::spawn_blocking`) under a time budget (`tokio::time::timeout`), as `feed`
//! parsing is: the work is CPU-bound and cannot be interrupted.

mod charset;
mod cleanup;
mod furniture;
mod metadata;
mod nesting;
mod preview;
mod teaser;

use chrono::{DateTime, FixedOffset, Utc};
use url::Url;

use crate::{render, text};

pub use cleanup::Cleanup;
pub use preview::extract_page;
pub use teaser::{TEASER_WORDS, TeaserSigns, is_teaser, teaser_signs};

/// The largest page extracted. Real article pages weigh 50 KB to 1.5 MB (the 181 pages of the
/// benchmark: 174 KB on average, 1.5 MB at most); past this, parsing and scoring cost more than
/// any article is worth.
pub const MAX_PAGE_BYTES: usize = 5 * 1024 * 1024;

/// The deepest nesting of tags extracted (see `nesting`); real pages nest a few dozen deep.
pub const MAX_NESTING: usize = 512;

/// The most elements a page may have: Readability's scoring walks them several times over,
/// keeping a copy of the tree for each attempt. Real pages have a few thousand (the
/// benchmark's at most about 1,700); a 5 MB page of bare links has 300,000.
pub const MAX_ELEMENTS: usize = 100_000;

/// Characters (white space aside) under which what a page gives is not an article but a menu
/// or a "Please enable JavaScript". Characters, not words: Chinese and Japanese put no spaces
/// between words. The shortest article of the benchmark's 181 pages has 301.
pub const MIN_ARTICLE_CHARS: usize = 100;

/// The article of a page, in the document form.
#[derive(Debug, Clone, PartialEq)]
pub struct Extracted {
    /// The headline (FORMAT.md's TITLE): `og:title`, else the JSON-LD article's `headline`,
    /// else `<title>`; empty when the page has none.
    pub title: String,
    /// The publication time, in the publisher's own offset (JSON-LD `datePublished`, else
    /// `article:published_time`): the DATE is its calendar date in that offset.
    pub published: Option<DateTime<FixedOffset>>,
    /// `<link rel=canonical>`, else `og:url`, resolved against the page's address.
    pub canonical_url: Option<String>,
    /// FORMAT.md's BODY: paragraphs joined by a blank line, at least [`MIN_ARTICLE_CHARS`]
    /// characters.
    pub body: String,
}

impl Extracted {
    /// The document gleaner stores for the article: its DATE is the publication date in the
    /// publisher's offset (or in `timezone`, a source's setting), else the UTC date of
    /// `seen_at`, as for a feed's item.
    pub fn document(&self, timezone: Option<chrono_tz::Tz>, seen_at: DateTime<Utc>) -> String {
        let date = render::document_date(self.published, timezone, seen_at);
        text::document(&date.to_string(), &self.title, &self.body)
    }
}

/// Why a page gave no article.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExtractError {
    #[error("the page is {bytes} bytes, over the {limit} bytes extracted at most")]
    TooLarge { bytes: usize, limit: usize },
    #[error("the page's tags nest more than {limit} deep")]
    TooDeep { limit: usize },
    #[error("the page has {elements} elements, over the {limit} extracted at most")]
    TooManyElements { elements: usize, limit: usize },
    #[error("{0:?} is not an absolute http(s) address")]
    BadUrl(String),
    #[error(
        "no article found in the page (its main content has less than {MIN_ARTICLE_CHARS} characters of text)"
    )]
    NoArticle,
}

/// The article of `page`. `content_type` is the HTTP header (its `charset` is obeyed); `url`
/// is the page's address, which relative canonical addresses resolve against.
pub fn extract(
    page: &[u8],
    content_type: Option<&str>,
    url: Option<&str>,
) -> Result<Extracted, ExtractError> {
    extract_with(page, content_type, url, Cleanup::ALL)
}

/// [`extract`] with only some of the post-processing rules (to measure what each is worth).
pub fn extract_with(
    page: &[u8],
    content_type: Option<&str>,
    url: Option<&str>,
    rules: Cleanup,
) -> Result<Extracted, ExtractError> {
    if page.len() > MAX_PAGE_BYTES {
        return Err(ExtractError::TooLarge {
            bytes: page.len(),
            limit: MAX_PAGE_BYTES,
        });
    }
    let page_url = url.map(page_url).transpose()?;
    let html = charset::decode(page, content_type);
    if nesting::deeper_than(&html, MAX_NESTING) {
        return Err(ExtractError::TooDeep { limit: MAX_NESTING });
    }
    let document = dom_query::Document::from(html);
    let metadata = metadata::read(&document, page_url.as_ref());
    let content = main_content(document, page_url.as_ref())?;
    let paragraphs = cleanup::paragraphs(&content, rules);
    let body = text::body_from_paragraphs(&metadata.title, paragraphs);
    if body.chars().filter(|c| !c.is_whitespace()).count() < MIN_ARTICLE_CHARS {
        return Err(ExtractError::NoArticle);
    }
    Ok(Extracted {
        title: metadata.title,
        published: metadata.published,
        canonical_url: metadata.canonical_url,
        body,
    })
}

fn page_url(url: &str) -> Result<Url, ExtractError> {
    Url::parse(url)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
        .ok_or_else(|| ExtractError::BadUrl(url.to_owned()))
}

/// The HTML of the page's main content, as dom_smoothie finds it.
fn main_content(
    document: dom_query::Document,
    page_url: Option<&Url>,
) -> Result<String, ExtractError> {
    let config = dom_smoothie::Config {
        // `cleanup` reads the class names Readability would strip.
        keep_classes: true,
        max_elements_to_parse: MAX_ELEMENTS,
        ..Default::default()
    };
    let mut readability =
        dom_smoothie::Readability::with_document(document, page_url.map(Url::as_str), Some(config))
            .map_err(|_| ExtractError::NoArticle)?;
    let article = readability.parse().map_err(|e| match e {
        dom_smoothie::ReadabilityError::TooManyElements(elements, limit) => {
            ExtractError::TooManyElements { elements, limit }
        }
        _ => ExtractError::NoArticle,
    })?;
    Ok(article.content.to_string())
}
