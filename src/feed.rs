//! From the bytes of a feed (RSS 0.9x, 1.0 and 2.0, Atom, JSON Feed) to plain entries, as the
//! publisher gave them: feed-rs does the parsing; this module repairs what feed-rs cannot read
//! (encodings, `<rss>` without a version), keeps the publisher's UTC offset of every timestamp,
//! and never invents an id. Pure; never panics on any input.

use std::borrow::Cow;
use std::ops::Range;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, FixedOffset, Utc};
use feed_rs::model::{FeedType, Link};

/// One item of a feed, as the publisher gave it (no HTML processing here).
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The publisher's id (RSS guid, Atom id, JSON id); `None` when absent: never generated.
    pub guid: Option<String>,
    /// The item's link, absolute when a base is known.
    pub link: Option<String>,
    /// The raw title (may hold markup and entities; `text::clean_title` cleans it).
    pub title: Option<String>,
    /// The first of published and updated, in the publisher's own UTC offset.
    pub published: Option<DateTime<FixedOffset>>,
    /// When the publisher last changed the item: its updated time, else its published time.
    pub updated: Option<DateTime<FixedOffset>>,
    /// Full content when it has text, else the summary.
    pub body: Option<Body>,
}

/// A body and how to read it.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    Html(String),
    /// Atom `type="text"` and JSON Feed `content_text`: not markup.
    Text(String),
}

/// A parsed document: its own title and home page, its polling hints, and its entries in
/// document order.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedFeed {
    pub title: Option<String>,
    pub site_url: Option<String>,
    pub hints: FeedHints,
    pub entries: Vec<Entry>,
}

/// What the feed says about how often to poll it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FeedHints {
    /// RSS `<ttl>` (minutes in the feed).
    pub ttl: Option<std::time::Duration>,
    /// `sy:updatePeriod` divided by `sy:updateFrequency`.
    pub update_period: Option<std::time::Duration>,
    /// RSS `skipHours`: bit h set for hour h (UTC).
    pub skip_hours: u32,
    /// RSS `skipDays`: bit d set for weekday d (Monday = 0).
    pub skip_days: u8,
}

#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    #[error("not a feed: {0}")]
    NotAFeed(&'static str),
    #[error("invalid feed: {0}")]
    Invalid(String),
}

/// Parses a feed. `content_type` is the HTTP header, whose charset is a hint; `base_url`
/// resolves relative links.
pub fn parse(
    bytes: &[u8],
    content_type: Option<&str>,
    base_url: Option<&str>,
) -> Result<ParsedFeed, FeedError> {
    let text = decode(bytes, content_type);
    let start = text.trim_start_matches(|c: char| c.is_whitespace() || c == '\u{FEFF}');
    if start.is_empty() {
        return Err(FeedError::NotAFeed("the document is empty"));
    }
    if looks_like_html(start) {
        return Err(FeedError::NotAFeed("the document is an HTML page"));
    }
    // Junk before the document (a PHP warning, say) is skipped when a feed follows it.
    let start = match start.chars().next() {
        Some('<' | '{') => start,
        _ => ["<?xml", "<rss", "<feed", "<rdf:RDF"]
            .iter()
            .filter_map(|t| start.find(t))
            .min()
            .map_or(start, |at| &start[at..]),
    };
    if find_root(start, "<opml").is_some() {
        return Err(FeedError::NotAFeed(
            "the document is an OPML subscription list",
        ));
    }
    let start = if start.starts_with('{') {
        Cow::Owned(repair_json_feed(start)?)
    } else {
        match without_invalid_char_refs(start) {
            Cow::Borrowed(start) => with_rss_version(start),
            Cow::Owned(mended) => Cow::Owned(with_rss_version(&mended).into_owned()),
        }
    };

    // feed-rs turns timestamps into UTC and keeps nothing else, but the DATE rule needs each
    // timestamp's own offset. So the parser keeps every timestamp it reads, whole, and gives
    // feed-rs a receipt in its place (the instant `n` seconds after the epoch for the n-th):
    // an entry's date is read back from its own timestamp, never from another one that
    // happens to denote the same instant.
    let timestamps: Arc<Mutex<Vec<DateTime<FixedOffset>>>> = Arc::default();
    // feed-rs panics on a few inputs (an absurd <itunes:duration>, an author whose name ends in
    // a multi-byte character right before the address): that is one bad document, not a
    // reason to lose the poll's thread. The fields it panics in are none that gleaner uses, so
    // the document is read once more without their text before it is given up.
    // A parser that panicked is left in a broken state: each attempt gets a new one.
    let parse_once = |xml: &str| {
        if let Ok(mut kept) = timestamps.lock() {
            kept.clear();
        }
        let parser = feed_parser(base_url, Arc::clone(&timestamps));
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            parser.parse(xml.as_bytes())
        }))
        .ok()
    };
    let parsed = parse_once(&start)
        .or_else(|| parse_once(&without_texts_of(&start, FRAGILE_UNUSED_ELEMENTS)));
    let feed = match parsed {
        None => {
            return Err(FeedError::Invalid(
                "the feed parser crashed on this document".into(),
            ));
        }
        Some(result) => result.map_err(|e| FeedError::Invalid(one_line(&e.to_string())))?,
    };
    let timestamps = timestamps
        .lock()
        .map(|mut t| std::mem::take(&mut *t))
        .unwrap_or_default();
    let timestamp_of = |receipt: DateTime<Utc>| {
        usize::try_from(receipt.timestamp())
            .ok()
            .and_then(|n| timestamps.get(n).copied())
    };
    let base = base_url.and_then(|b| url::Url::parse(b).ok());
    let markup_everywhere = matches!(
        feed.feed_type,
        FeedType::RSS0 | FeedType::RSS1 | FeedType::RSS2
    );

    let entries = feed
        .entries
        .into_iter()
        .map(|e| {
            let published = e.published.or(e.updated).and_then(timestamp_of);
            let updated = e.updated.or(e.published).and_then(timestamp_of);
            let content = e.content.and_then(|c| {
                let is_text = c.content_type.essence().to_string() == "text/plain";
                c.body.map(|b| make_body(b, is_text && !markup_everywhere))
            });
            let summary = e.summary.map(|s| {
                let is_text = s.content_type.essence().to_string() == "text/plain";
                make_body(s.content, is_text && !markup_everywhere)
            });
            Entry {
                guid: non_empty(e.id),
                link: web_link(&e.links, base.as_ref()),
                title: e.title.map(|t| t.content).and_then(non_empty),
                published,
                updated,
                body: content.filter(has_text).or(summary.filter(has_text)),
            }
        })
        .collect();
    let mut hints = channel_hints(&start);
    hints.ttl = hints.ttl.or(feed
        .ttl
        .map(|minutes| std::time::Duration::from_secs(u64::from(minutes) * 60)));
    Ok(ParsedFeed {
        title: feed.title.map(|t| t.content).and_then(non_empty),
        site_url: web_link(&feed.links, base.as_ref()),
        hints,
        entries,
    })
}

/// feed-rs as gleaner needs it: ids never made up, and every timestamp kept whole in
/// `timestamps`, feed-rs getting a receipt in its place (see `parse`).
fn feed_parser(
    base_url: Option<&str>,
    timestamps: Arc<Mutex<Vec<DateTime<FixedOffset>>>>,
) -> feed_rs::parser::Parser {
    feed_rs::parser::Builder::new()
        .base_uri(base_url)
        // An item without id gets none: the default would be random on every parse.
        .id_generator(|_, _, _| String::new())
        .timestamp_parser(move |text| {
            let (utc, offset) = parse_timestamp(text)?;
            let mut kept = timestamps.lock().ok()?;
            kept.push(utc.with_timezone(&offset));
            DateTime::from_timestamp(i64::try_from(kept.len() - 1).ok()?, 0)
        })
        .build()
}

/// Elements whose text feed-rs reads with code that can panic (a person's name and address, a
/// duration), and that gleaner never uses.
const FRAGILE_UNUSED_ELEMENTS: &[&str] = &[
    "author",
    "managingEditor",
    "webMaster",
    "dc:creator",
    "itunes:author",
    "itunes:owner",
    "itunes:duration",
];

/// `xml` with the content of every `<name>...</name>` of the given names removed, CDATA and
/// markup included; when the end tag is missing (or another `<name>` comes first), the text
/// up to the next tag. Elements written with attributes are left alone.
fn without_texts_of(xml: &str, names: &[&str]) -> String {
    let mut out = xml.to_owned();
    for name in names {
        let close = format!("</{name}>");
        let mut kept = String::with_capacity(out.len());
        let mut rest = out.as_str();
        while let Some(content_at) = after_start_tag(rest, name) {
            let content = &rest[content_at..];
            let next_open = after_start_tag(content, name).unwrap_or(content.len());
            let end = match content.find(&close) {
                Some(end) if end < next_open => end,
                _ => text_node_end(content),
            };
            kept.push_str(&rest[..content_at]);
            rest = &content[end..];
        }
        kept.push_str(rest);
        out = kept;
    }
    out
}

/// Just past the first start tag `<name>` in `xml` (white space before its `>` allowed).
fn after_start_tag(xml: &str, name: &str) -> Option<usize> {
    let open = format!("<{name}");
    let mut search = 0;
    while let Some(pos) = xml[search..].find(&open) {
        let mut at = search + pos + open.len();
        while xml.as_bytes().get(at).copied().is_some_and(is_xml_space) {
            at += 1;
        }
        if xml.as_bytes().get(at) == Some(&b'>') {
            return Some(at + 1);
        }
        search = at;
    }
    None
}

/// Where the text at the start of `content` ends: at the first tag that is no CDATA section.
fn text_node_end(content: &str) -> usize {
    let mut at = 0;
    loop {
        let rest = &content[at..];
        if rest.starts_with("<![CDATA[") {
            match rest.find("]]>") {
                Some(end) => at += end + 3,
                None => return content.len(),
            }
        } else {
            match rest.find('<') {
                Some(0) => return at,
                Some(tag) => at += tag,
                None => return content.len(),
            }
        }
    }
}

/// The channel's polling hints that feed-rs does not read (`sy:*`, `skipHours`, `skipDays`),
/// from the part of the document before the first item.
fn channel_hints(xml: &str) -> FeedHints {
    let head_end = ["<item", "<entry"]
        .iter()
        .filter_map(|t| xml.find(t))
        .min()
        .unwrap_or(xml.len());
    let head = &xml[..head_end];
    let mut hints = FeedHints::default();
    let period = element_texts(head, "updatePeriod")
        .next()
        .and_then(|p| match p.trim() {
            "hourly" => Some(3_600u64),
            "daily" => Some(86_400),
            "weekly" => Some(604_800),
            "monthly" => Some(2_592_000),
            "yearly" => Some(31_536_000),
            _ => None,
        });
    let frequency: u64 = element_texts(head, "updateFrequency")
        .next()
        .and_then(|f| f.trim().parse().ok())
        .filter(|f| *f > 0)
        .unwrap_or(1);
    hints.update_period = period.map(|p| std::time::Duration::from_secs(p / frequency));
    hints.ttl = element_texts(head, "ttl")
        .next()
        .and_then(|t| t.trim().parse::<u64>().ok())
        .map(|minutes| std::time::Duration::from_secs(minutes.saturating_mul(60)));
    for hour in element_texts(head, "hour").filter_map(|h| h.trim().parse::<u32>().ok()) {
        // RSS says 0-23; some feeds write 24 for midnight.
        hints.skip_hours |= 1 << (hour % 24);
    }
    const DAYS: [&str; 7] = [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ];
    for day in element_texts(head, "day") {
        if let Some(d) = DAYS.iter().position(|n| n.eq_ignore_ascii_case(day.trim())) {
            hints.skip_days |= 1 << d;
        }
    }
    hints
}

/// The text of every element named `local` (with any namespace prefix) in `xml`.
fn element_texts<'a>(xml: &'a str, local: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    let mut pos = 0;
    std::iter::from_fn(move || {
        loop {
            let at = pos + xml[pos..].find(local)?;
            pos = at + local.len();
            if !xml[pos..].starts_with('>') {
                continue;
            }
            // Only a start tag: `<local>` or `<prefix:local>`, not `</…>` nor text.
            let Some(open) = xml[..at].rfind('<') else {
                continue;
            };
            let prefix = &xml[open + 1..at];
            let is_start = prefix.is_empty()
                || prefix.strip_suffix(':').is_some_and(|p| {
                    !p.is_empty()
                        && p.chars()
                            .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
                });
            if !is_start {
                continue;
            }
            let content = &xml[pos + 1..];
            return Some(&content[..content.find('<')?]);
        }
    })
}

/// JSON Feeds in the wild stray from the spec in ways feed-rs refuses whole: an `http://`
/// version URL, numeric ids, a comma-separated `tags` string. Those are mended; fields of the
/// wrong type that matter to nobody here are dropped rather than failing the feed.
fn repair_json_feed(text: &str) -> Result<String, FeedError> {
    use serde_json::Value;
    let mut feed: Value = serde_json::from_str(text)
        .map_err(|e| FeedError::Invalid(format!("unable to parse JSON: {e}")))?;
    let Some(object) = feed.as_object_mut() else {
        return Err(FeedError::NotAFeed("JSON that is not an object"));
    };
    if !object.get("items").is_some_and(Value::is_array) {
        return Err(FeedError::NotAFeed(
            "JSON that is not a JSON Feed (it has no items)",
        ));
    }
    object.insert(
        "version".into(),
        Value::String("https://jsonfeed.org/version/1.1".into()),
    );
    // Authors are of no use here, and feed-rs can panic on a name next to an address.
    object.remove("author");
    object.remove("authors");
    if !object.get("title").is_some_and(Value::is_string) {
        object.insert("title".into(), Value::String(String::new()));
    }
    keep_valid(
        object,
        &[
            "home_page_url",
            "feed_url",
            "language",
            "description",
            "icon",
            "favicon",
        ],
        &[],
    );
    if let Some(Value::Array(items)) = object.get_mut("items") {
        items.retain(Value::is_object);
        for item in items.iter_mut().filter_map(Value::as_object_mut) {
            item.remove("author");
            item.remove("authors");
            if let Some(id) = item.get("id").filter(|v| v.is_number()) {
                let id = id.to_string();
                item.insert("id".into(), Value::String(id));
            }
            if let Some(Value::String(tags)) = item.get("tags") {
                let tags = tags
                    .split(',')
                    .map(|t| Value::String(t.trim().to_owned()))
                    .collect();
                item.insert("tags".into(), Value::Array(tags));
            }
            keep_valid(
                item,
                &[
                    "id",
                    "url",
                    "external_url",
                    "title",
                    "content_html",
                    "content_text",
                    "summary",
                    "date_published",
                    "date_modified",
                ],
                &["tags"],
            );
            if let Some(Value::Array(attachments)) = item.get_mut("attachments") {
                attachments.retain(|a| {
                    a.get("url").is_some_and(Value::is_string)
                        && a.get("mime_type").is_some_and(Value::is_string)
                        && a.get("size_in_bytes").is_none_or(Value::is_u64)
                        && a.get("title").is_none_or(Value::is_string)
                });
            }
        }
    }
    Ok(feed.to_string())
}

/// Drops fields that are not strings (`strings`) or not arrays of strings (`string_lists`),
/// and `author`/`authors`/`attachments` of the wrong shape.
fn keep_valid(
    object: &mut serde_json::Map<String, serde_json::Value>,
    strings: &[&str],
    string_lists: &[&str],
) {
    use serde_json::Value;
    let author_ok = |v: &Value| {
        v.as_object().is_some_and(|a| {
            a.get("name").is_none_or(Value::is_string) && a.get("url").is_none_or(Value::is_string)
        })
    };
    object.retain(|key, value| match key.as_str() {
        k if strings.contains(&k) => value.is_string(),
        k if string_lists.contains(&k) => value
            .as_array()
            .is_some_and(|a| a.iter().all(Value::is_string)),
        "author" => author_ok(value),
        "authors" => value.as_array().is_some_and(|a| a.iter().all(author_ok)),
        "attachments" => value.is_array(),
        _ => true,
    });
}

fn make_body(text: String, is_text: bool) -> Body {
    if is_text {
        Body::Text(text)
    } else {
        Body::Html(text)
    }
}

fn non_empty(text: String) -> Option<String> {
    let trimmed = text.trim();
    (!trimmed.is_empty()).then(|| trimmed.to_owned())
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Whether a body has any text outside its tags.
fn has_text(body: &Body) -> bool {
    match body {
        Body::Text(t) => !t.trim().is_empty(),
        Body::Html(html) => {
            let mut in_tag = false;
            html.chars().any(|c| match c {
                '<' => {
                    in_tag = true;
                    false
                }
                '>' => {
                    in_tag = false;
                    false
                }
                c => !in_tag && !c.is_whitespace(),
            })
        }
    }
}

/// The alternate link (the article itself), else the first one.
fn pick_link(links: &[Link]) -> Option<&str> {
    links
        .iter()
        .find(|l| l.rel.as_deref().is_none_or(|r| r == "alternate"))
        .or(links.first())
        .map(|l| l.href.trim())
        .filter(|h| !h.is_empty())
}

/// The link of an entry (or of the feed), made absolute, when it is a web page: `http` or
/// `https`. Anything else is no article's address: `javascript:`, `data:` and `vbscript:` run
/// or carry content in a reader that follows them, and `mailto:`, `ftp:`, `tel:`, `file:` or a
/// relative link with no base to resolve it name no page that the item could be.
fn web_link(links: &[Link], base: Option<&url::Url>) -> Option<String> {
    let href = pick_link(links)?;
    // Kept as the publisher wrote it when it is absolute already.
    let (url, link) = match url::Url::parse(href) {
        Ok(url) => (url, href.to_owned()),
        Err(url::ParseError::RelativeUrlWithoutBase) => {
            let url = base?.join(href).ok()?;
            let link = String::from(url.clone());
            (url, link)
        }
        Err(_) => return None,
    };
    matches!(url.scheme(), "http" | "https").then_some(link)
}

fn looks_like_html(start: &str) -> bool {
    let head: String = start
        .chars()
        .take(64)
        .collect::<String>()
        .to_ascii_lowercase();
    head.starts_with("<!doctype html") || head.starts_with("<html")
}

/// feed-rs refuses an `<rss>` root without a `version` it knows; such feeds are RSS 2.0 in
/// practice, so the root is given one.
fn with_rss_version(text: &str) -> Cow<'_, str> {
    let Some(at) = find_root(text, "<rss") else {
        return Cow::Borrowed(text);
    };
    let Some(end) = text[at..].find('>').map(|e| at + e) else {
        return Cow::Borrowed(text);
    };
    let tag = &text[at..end];
    let version = attribute(tag, "version");
    if matches!(version, Some("2.0" | "0.91" | "0.92")) {
        return Cow::Borrowed(text);
    }
    let mut fixed = String::with_capacity(text.len() + 16);
    fixed.push_str(&text[..at + 4]);
    fixed.push_str(" version=\"2.0\"");
    let rest_of_tag = &text[at + 4..end];
    match version {
        // Drop the unknown version attribute so the root has one only.
        Some(_) => fixed.push_str(&remove_attribute(rest_of_tag, "version")),
        None => fixed.push_str(rest_of_tag),
    }
    fixed.push_str(&text[end..]);
    Cow::Owned(fixed)
}

/// The position of the root start tag `open` (e.g. `<rss`), skipping the prolog and comments.
fn find_root(text: &str, open: &str) -> Option<usize> {
    let mut rest = 0;
    loop {
        let at = rest + text[rest..].find('<')?;
        let tail = &text[at..];
        if tail.starts_with("<?") {
            rest = at + tail.find("?>")? + 2;
        } else if tail.starts_with("<!--") {
            rest = at + tail.find("-->")? + 3;
        } else if tail.starts_with("<!") {
            rest = at + tail.find('>')? + 1;
        } else {
            // The name ends at XML white space, `>` or `/` (not at a no-break space).
            let matches = tail
                .strip_prefix(open)
                .and_then(|after| after.bytes().next())
                .is_some_and(|b| is_xml_space(b) || b == b'>' || b == b'/');
            return matches.then_some(at);
        }
    }
}

/// White space as XML has it: a no-break space is none.
fn is_xml_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// Where the attribute `name` is in a tag: the whole of `name="value"` and the value alone,
/// as byte ranges. Every position found is next to an ASCII byte, so slicing there never cuts
/// a character.
fn find_attribute(tag: &str, name: &str) -> Option<(Range<usize>, Range<usize>)> {
    let bytes = tag.as_bytes();
    let skip_space = |mut at: usize| {
        while bytes.get(at).copied().is_some_and(is_xml_space) {
            at += 1;
        }
        at
    };
    let mut search = 0;
    while let Some(pos) = tag[search..].find(name) {
        let start = search + pos;
        search = start + name.len();
        if !bytes[..start].last().copied().is_some_and(is_xml_space) {
            continue;
        }
        let equals = skip_space(start + name.len());
        if bytes.get(equals) != Some(&b'=') {
            continue;
        }
        let open = skip_space(equals + 1);
        let Some(&quote) = bytes.get(open).filter(|q| matches!(q, b'"' | b'\'')) else {
            continue;
        };
        let close = open + 1 + bytes[open + 1..].iter().position(|b| *b == quote)?;
        return Some((start..close + 1, open + 1..close));
    }
    None
}

fn attribute<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    find_attribute(tag, name).map(|(_, value)| &tag[value])
}

fn remove_attribute(tag: &str, name: &str) -> String {
    match find_attribute(tag, name) {
        Some((whole, _)) => format!("{}{}", &tag[..whole.start], &tag[whole.end..]),
        None => tag.to_owned(),
    }
}

/// The document with every character reference to a character XML forbids (`&#0;`, `&#1;`,
/// `&#xFFFE;`, a surrogate, a number past U+10FFFF) mended, as a browser reads them: control
/// characters dropped (they would be invisible anyway), the others replaced by U+FFFD. The XML
/// parser would otherwise refuse the whole feed for one of them.
fn without_invalid_char_refs(text: &str) -> Cow<'_, str> {
    let mut mended = String::new();
    let mut copied = 0;
    let mut search = 0;
    while let Some(pos) = text[search..].find("&#") {
        let at = search + pos;
        search = at + 2;
        let Some((value, len)) = char_ref_value(&text[at + 2..]) else {
            continue;
        };
        let replacement = match value {
            0x9 | 0xA | 0xD | 0x20..=0xD7FF | 0xE000..=0xFFFD | 0x1_0000..=0x10_FFFF => continue,
            0x1..=0x1F => "",
            _ => "\u{FFFD}",
        };
        mended.push_str(&text[copied..at]);
        mended.push_str(replacement);
        copied = at + 2 + len;
        search = copied;
    }
    if copied == 0 {
        return Cow::Borrowed(text);
    }
    mended.push_str(&text[copied..]);
    Cow::Owned(mended)
}

/// The number of a character reference after its `&#` (`65;` or `x41;`) and the length of
/// what was read, `;` included; a number too large for any character counts as `u32::MAX`.
fn char_ref_value(after: &str) -> Option<(u32, usize)> {
    let (radix, digits_at) = match after.as_bytes().first()? {
        b'x' | b'X' => (16, 1),
        _ => (10, 0),
    };
    let digits = after[digits_at..]
        .bytes()
        .take_while(|b| b.is_ascii_hexdigit() && (radix == 16 || b.is_ascii_digit()))
        .count();
    let end = digits_at + digits;
    if digits == 0 || after.as_bytes().get(end) != Some(&b';') {
        return None;
    }
    let value = u32::from_str_radix(&after[digits_at..end], radix).unwrap_or(u32::MAX);
    Some((value, end + 1))
}

/// The document as UTF-8, with any XML declaration saying so: feed-rs would otherwise decode a
/// second time by the declared encoding, which is often missing or wrong.
fn decode<'a>(bytes: &'a [u8], content_type: Option<&str>) -> Cow<'a, str> {
    let (bom, bom_len) = match encoding_rs::Encoding::for_bom(bytes) {
        Some((encoding, len)) => (Some(encoding), len),
        None => (utf16_without_bom(bytes), 0),
    };
    let text: Cow<'a, str> = if let Some(encoding) = bom {
        let (text, _) = encoding.decode_without_bom_handling(&bytes[bom_len..]);
        text
    } else if let Ok(text) = std::str::from_utf8(bytes) {
        Cow::Borrowed(text)
    } else if let Some(declared) = declared_encoding(bytes).filter(|e| *e != encoding_rs::UTF_8) {
        declared.decode(bytes).0
    } else if mostly_utf8(bytes) {
        // A UTF-8 feed with a stray byte or two (a pasted latin-1 quote, a cut sequence):
        // those become U+FFFD; reading it all in another encoding would garble every other
        // non-ASCII character.
        String::from_utf8_lossy(bytes)
    } else {
        let from_header = content_type
            .and_then(charset_of)
            .filter(|e| *e != encoding_rs::UTF_8);
        let encoding = from_header.unwrap_or_else(|| {
            let mut detector =
                chardetng::EncodingDetector::new(chardetng::Iso2022JpDetection::Deny);
            detector.feed(bytes, true);
            // The bytes are known not to be UTF-8.
            detector.guess(None, chardetng::Utf8Detection::Deny)
        });
        let (text, _, _) = encoding.decode(bytes);
        text
    };
    match declaration_end(&text) {
        Some(end) if attribute(&text[..end], "encoding").is_some() => Cow::Owned(format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>{}",
            &text[end..]
        )),
        _ => text,
    }
}

/// Whether bytes that are not all UTF-8 are mostly so: more well-formed multi-byte sequences
/// than ill-formed ones. Text in a legacy 8-bit encoding almost never forms a well-formed
/// sequence (a lead byte must be followed by exactly the right number of continuation bytes),
/// so it has next to none.
fn mostly_utf8(mut bytes: &[u8]) -> bool {
    let lead_bytes = |valid: &[u8]| valid.iter().filter(|b| **b >= 0xC0).count();
    let (mut well_formed, mut ill_formed) = (0, 0);
    loop {
        match std::str::from_utf8(bytes) {
            Ok(_) => {
                well_formed += lead_bytes(bytes);
                break;
            }
            Err(e) => {
                let (valid, rest) = bytes.split_at(e.valid_up_to());
                well_formed += lead_bytes(valid);
                ill_formed += 1;
                match e.error_len() {
                    Some(len) => bytes = &rest[len..],
                    None => break,
                }
            }
        }
    }
    well_formed > ill_formed
}

/// UTF-16 without a byte-order mark, told by the `<` that every XML document starts with.
fn utf16_without_bom(bytes: &[u8]) -> Option<&'static encoding_rs::Encoding> {
    match bytes {
        [b'<', 0, b'?' | b'r' | b'f' | b'R', 0, ..] => Some(encoding_rs::UTF_16LE),
        [0, b'<', 0, b'?' | b'r' | b'f' | b'R', ..] => Some(encoding_rs::UTF_16BE),
        _ => None,
    }
}

/// The byte just past an XML declaration at the start of `text`.
fn declaration_end(text: &str) -> Option<usize> {
    text.starts_with("<?xml")
        .then(|| text.find("?>").map(|e| e + 2))?
}

fn declared_encoding(bytes: &[u8]) -> Option<&'static encoding_rs::Encoding> {
    let head = &bytes[..bytes.len().min(256)];
    let head = String::from_utf8_lossy(head);
    let end = declaration_end(&head)?;
    let label = attribute(&head[..end], "encoding")?;
    encoding_rs::Encoding::for_label(label.trim().as_bytes())
}

fn charset_of(content_type: &str) -> Option<&'static encoding_rs::Encoding> {
    content_type.split(';').skip(1).find_map(|param| {
        let (name, value) = param.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| encoding_rs::Encoding::for_label(value.trim().trim_matches('"').as_bytes()))?
    })
}

/// Reads a feed timestamp keeping its offset: RFC 3339 and RFC 2822 with the liberties feeds
/// take (named zones, no seconds, no weekday, a wrong weekday, single-digit days), and plain
/// dates. A timestamp without an offset is taken as UTC.
pub fn parse_timestamp(text: &str) -> Option<(DateTime<Utc>, FixedOffset)> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let fixed = DateTime::parse_from_rfc3339(text)
        .or_else(|_| DateTime::parse_from_rfc2822(text))
        .ok()
        .or_else(|| parse_lenient_rfc2822(text))
        .or_else(|| parse_iso_like(text));
    fixed.map(|at| (at.to_utc(), *at.offset()))
}

fn zone_offset(zone: &str) -> Option<FixedOffset> {
    let hours = match zone.to_ascii_uppercase().as_str() {
        "GMT" | "UT" | "UTC" | "Z" => 0,
        "EST" => -5,
        "EDT" => -4,
        "CST" => -6,
        "CDT" => -5,
        "MST" => -7,
        "MDT" => -6,
        "PST" => -8,
        "PDT" => -7,
        // RFC 2822: an unknown alphabetic zone means UTC.
        z if z.chars().all(|c| c.is_ascii_alphabetic()) && z.len() <= 5 => 0,
        _ => {
            let (sign, digits) = match zone.as_bytes().first()? {
                b'+' => (1, &zone[1..]),
                b'-' => (-1, &zone[1..]),
                _ => return None,
            };
            let digits: String = digits.chars().filter(|c| *c != ':').collect();
            if digits.len() != 4 || !digits.chars().all(|c| c.is_ascii_digit()) {
                return None;
            }
            let h: i32 = digits[..2].parse().ok()?;
            let m: i32 = digits[2..].parse().ok()?;
            return FixedOffset::east_opt(sign * (h * 3600 + m * 60));
        }
    };
    FixedOffset::east_opt(hours * 3600)
}

/// `[Weekday,] D Mon YYYY HH:MM[:SS] [ZONE]`, with any weekday (or a wrong one).
fn parse_lenient_rfc2822(text: &str) -> Option<DateTime<FixedOffset>> {
    let text = match text.split_once(',') {
        Some((_, rest)) => rest,
        None => text,
    };
    let parts: Vec<&str> = text.split_whitespace().collect();
    let (day, month, year, time, zone) = match parts.as_slice() {
        [d, m, y, t] => (*d, *m, *y, *t, "UTC"),
        [d, m, y, t, z, ..] => (*d, *m, *y, *t, *z),
        _ => return None,
    };
    let month = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ]
    .iter()
    .position(|m| month.to_ascii_lowercase().starts_with(m))? as u32
        + 1;
    let mut year: i32 = year.parse().ok()?;
    if year < 100 {
        year += if year < 50 { 2000 } else { 1900 };
    }
    let date = chrono::NaiveDate::from_ymd_opt(year, month, day.parse().ok()?)?;
    let mut hms = time.split(':').map(|p| p.parse::<u32>());
    let h = hms.next()?.ok()?;
    let m = hms.next()?.ok()?;
    let s = hms.next().transpose().ok()?.unwrap_or(0);
    let offset = zone_offset(zone)?;
    date.and_hms_opt(h, m, s.min(59))?
        .and_local_timezone(offset)
        .single()
}

/// `YYYY/M/D rest` as `YYYY-MM-DD rest`.
fn slashed_date(text: &str) -> Option<String> {
    let (date, rest) = text.split_once(' ').unwrap_or((text, ""));
    let mut parts = date.split('/');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || y.len() != 4 {
        return None;
    }
    let (m, d): (u32, u32) = (m.parse().ok()?, d.parse().ok()?);
    let date = format!("{y}-{m:02}-{d:02}");
    Some(if rest.is_empty() {
        date
    } else {
        format!("{date} {rest}")
    })
}

/// `YYYY-MM-DD[ T]HH:MM[:SS][.fff][ZONE]` and plain `YYYY-MM-DD`.
fn parse_iso_like(text: &str) -> Option<DateTime<FixedOffset>> {
    let utc = FixedOffset::east_opt(0)?;
    // 2020/1/10 14:33:00 is seen in the wild too.
    let text = slashed_date(text).unwrap_or_else(|| text.to_owned());
    if let Ok(date) = chrono::NaiveDate::parse_from_str(&text, "%Y-%m-%d") {
        return date.and_hms_opt(0, 0, 0)?.and_local_timezone(utc).single();
    }
    let text = text.replacen(' ', "T", 1);
    let split = text
        .char_indices()
        .skip(10)
        .find(|(_, c)| matches!(c, '+' | '-' | 'Z' | 'z'))
        .map_or(text.len(), |(i, _)| i);
    let (local, zone) = text.split_at(split);
    let offset = if zone.is_empty() {
        utc
    } else {
        zone_offset(zone)?
    };
    let naive = ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"]
        .iter()
        .find_map(|f| chrono::NaiveDateTime::parse_from_str(local, f).ok())?;
    naive.and_local_timezone(offset).single()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rss(items: &str) -> String {
        format!(
            "<?xml version=\"1.0\"?><rss version=\"2.0\" xmlns:content=\"http://purl.org/rss/1.0/modules/content/\" \
             xmlns:dc=\"http://purl.org/dc/elements/1.1/\"><channel><title>T</title><link>https://example.org/</link>{items}</channel></rss>"
        )
    }

    fn one(xml: &str) -> Entry {
        let feed = parse(xml.as_bytes(), None, None).unwrap();
        assert_eq!(feed.entries.len(), 1);
        feed.entries.into_iter().next().unwrap()
    }

    #[test]
    fn rss_items_keep_guid_link_and_offset() {
        let e = one(&rss(
            "<item><guid isPermaLink=\"false\"> id-1 </guid><link>https://example.org/a</link><title>A</title>\
             <pubDate>Fri, 03 Feb 2023 22:40:00 -0500</pubDate><description>teaser</description>\
             <content:encoded><![CDATA[<p>Full</p>]]></content:encoded></item>",
        ));
        assert_eq!(e.guid.as_deref(), Some("id-1"));
        assert_eq!(e.link.as_deref(), Some("https://example.org/a"));
        let published = e.published.unwrap();
        assert_eq!(published.offset().local_minus_utc(), -5 * 3600);
        assert_eq!(published.date_naive().to_string(), "2023-02-03");
        assert_eq!(e.body, Some(Body::Html("<p>Full</p>".into())));
    }

    #[test]
    fn items_without_ids_get_none_and_the_same_result_every_time() {
        let xml = rss(
            "<item><description>only text</description></item><item><link>https://example.org/x</link></item>",
        );
        let a = parse(xml.as_bytes(), None, None).unwrap();
        let b = parse(xml.as_bytes(), None, None).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.entries[0].guid, None);
        assert_eq!(a.entries[1].guid, None);
        assert_eq!(a.entries[1].link.as_deref(), Some("https://example.org/x"));
    }

    #[test]
    fn summary_when_content_is_empty_and_dates_fall_back_to_updated() {
        let e = one(&rss(
            "<item><title>t</title><description>&lt;p&gt;desc&lt;/p&gt;</description>\
             <content:encoded><![CDATA[<p> </p><img src=x>]]></content:encoded><dc:date>2023-02-03T03:40:00Z</dc:date></item>",
        ));
        assert_eq!(e.body, Some(Body::Html("<p>desc</p>".into())));
        assert_eq!(e.published.unwrap().date_naive().to_string(), "2023-02-03");
        let atom = "<feed xmlns=\"http://www.w3.org/2005/Atom\"><title>f</title><id>f</id><entry><id>e</id><title>t</title>\
                    <updated>2023-02-04T01:00:00+02:00</updated><summary type=\"text\">a &lt;b&gt;</summary></entry></feed>";
        let e = one(atom);
        assert_eq!(
            e.published.unwrap().to_rfc3339(),
            "2023-02-04T01:00:00+02:00"
        );
        assert_eq!(e.body, Some(Body::Text("a <b>".into())));
    }

    #[test]
    fn atom_content_kinds_and_relative_links() {
        let atom = "<feed xmlns=\"http://www.w3.org/2005/Atom\" xml:base=\"https://example.org/blog/\"><title>f</title><id>f</id>\
                    <entry><id>1</id><title type=\"html\">A &amp;amp; B</title><link rel=\"alternate\" href=\"posts/1\"/>\
                    <published>2023-02-03T10:00:00Z</published><updated>2023-03-01T10:00:00Z</updated>\
                    <content type=\"html\">&lt;p&gt;Hi&lt;/p&gt;</content></entry>\
                    <entry><id>2</id><title>x</title><content type=\"xhtml\"><div xmlns=\"http://www.w3.org/1999/xhtml\"><p>X</p></div></content></entry>\
                    <entry><id>3</id><title>y</title><content type=\"text\">plain &lt;b&gt;</content></entry></feed>";
        let feed = parse(atom.as_bytes(), None, Some("https://example.org/feed.atom")).unwrap();
        let e = &feed.entries;
        assert_eq!(
            e[0].link.as_deref(),
            Some("https://example.org/blog/posts/1")
        );
        assert_eq!(e[0].title.as_deref(), Some("A &amp; B"));
        assert_eq!(
            e[0].published.unwrap().date_naive().to_string(),
            "2023-02-03"
        );
        assert_eq!(e[0].body, Some(Body::Html("<p>Hi</p>".into())));
        assert!(
            matches!(&e[1].body, Some(Body::Html(h)) if h.contains("<p>X</p>")),
            "{:?}",
            e[1].body
        );
        assert_eq!(e[2].body, Some(Body::Text("plain <b>".into())));
    }

    #[test]
    fn json_feed() {
        let json = r#"{"version":"https://jsonfeed.org/version/1.1","title":"J","home_page_url":"https://j.example/",
            "items":[{"id":"1","url":"https://j.example/1","title":"One","content_html":"<p>H</p>","date_published":"2023-02-03T22:40:00-05:00"},
                     {"id":"2","content_text":"line 1\nline 2","date_modified":"2023-02-05T00:00:00Z"},
                     {"id":"3","summary":"just a summary"}]}"#;
        let feed = parse(json.as_bytes(), Some("application/feed+json"), None).unwrap();
        assert_eq!(feed.title.as_deref(), Some("J"));
        let e = &feed.entries;
        assert_eq!(e[0].body, Some(Body::Html("<p>H</p>".into())));
        assert_eq!(
            e[0].published.unwrap().date_naive().to_string(),
            "2023-02-03"
        );
        assert_eq!(e[1].body, Some(Body::Text("line 1\nline 2".into())));
        assert_eq!(
            e[1].published.unwrap().date_naive().to_string(),
            "2023-02-05"
        );
        assert_eq!(e[2].body, Some(Body::Text("just a summary".into())));
    }

    #[test]
    fn json_feeds_that_stray_from_the_spec_are_mended() {
        let json = r#"{"version":"http://jsonfeed.org/version/1","title":"J","author":"someone",
            "items":[{"id":42,"title":"One","tags":"a,b","content_text":"x","attachments":[{"url":1}]},
                     "not an item",
                     {"id":"2","title":["bad"],"summary":"y"}]}"#;
        let feed = parse(json.as_bytes(), None, None).unwrap();
        assert_eq!(feed.entries.len(), 2);
        assert_eq!(feed.entries[0].guid.as_deref(), Some("42"));
        assert_eq!(feed.entries[1].title, None);
        assert_eq!(feed.entries[1].body, Some(Body::Text("y".into())));
    }

    #[test]
    fn rss_without_version_and_rdf() {
        let xml = "<rss><channel><title>T</title><item><title>x</title></item></channel></rss>";
        assert_eq!(parse(xml.as_bytes(), None, None).unwrap().entries.len(), 1);
        let xml = "<?xml version=\"1.0\"?><!-- c --><rss version=\"2.01\"><channel><title>T</title><item><title>x</title></item></channel></rss>";
        assert_eq!(parse(xml.as_bytes(), None, None).unwrap().entries.len(), 1);
        let rdf = "<rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\" xmlns=\"http://purl.org/rss/1.0/\">\
                   <channel><title>R</title></channel><item rdf:about=\"https://r/1\"><title>x</title><link>https://r/1</link>\
                   <description>&lt;b&gt;bold&lt;/b&gt;</description></item></rdf:RDF>";
        let e = one(rdf);
        assert_eq!(
            e.body,
            Some(Body::Html("<b>bold</b>".into())),
            "RSS descriptions are HTML"
        );
    }

    #[test]
    fn polling_hints_of_the_channel() {
        let xml = "<?xml version=\"1.0\"?><rss version=\"2.0\" xmlns:sy=\"http://purl.org/rss/1.0/modules/syndication/\"><channel>\
                   <title>T</title><ttl>90</ttl><sy:updatePeriod>daily</sy:updatePeriod><sy:updateFrequency>4</sy:updateFrequency>\
                   <skipHours><hour>0</hour><hour>23</hour></skipHours><skipDays><day>Saturday</day><day>sunday</day></skipDays>\
                   <item><title>x</title><ttl>5</ttl></item></channel></rss>";
        let feed = parse(xml.as_bytes(), None, None).unwrap();
        assert_eq!(
            feed.hints.ttl,
            Some(std::time::Duration::from_secs(90 * 60))
        );
        assert_eq!(
            feed.hints.update_period,
            Some(std::time::Duration::from_secs(6 * 3600))
        );
        assert_eq!(feed.hints.skip_hours, (1 << 0) | (1 << 23));
        assert_eq!(feed.hints.skip_days, (1 << 5) | (1 << 6));
        let plain = parse(rss("<item><title>x</title></item>").as_bytes(), None, None).unwrap();
        assert_eq!(plain.hints, FeedHints::default());
    }

    #[test]
    fn a_document_that_crashes_feed_rs_is_read_without_the_field() {
        let xml = rss("<item><title>x</title><itunes:duration>99999999999999999999999</itunes:duration></item>")
            .replace("<rss ", "<rss xmlns:itunes=\"http://www.itunes.com/dtds/podcast-1.0.dtd\" ");
        assert_eq!(parse(xml.as_bytes(), None, None).unwrap().entries.len(), 1);
        let junk = format!(
            "Warning: something in /var/www/feed.php\n{}",
            rss("<item><title>j</title></item>")
        );
        assert_eq!(parse(junk.as_bytes(), None, None).unwrap().entries.len(), 1);
    }

    #[test]
    fn fields_that_crash_feed_rs_are_dropped_not_the_feed() {
        // feed-rs 3 slices an author inside the no-break space before the address.
        let xml = rss(
            "<item><title>kept</title><author>Ren\u{e9}e\u{A0}renee@example.org</author>\
             <pubDate>Fri, 03 Feb 2023 22:40:00 -0500</pubDate></item>",
        );
        let crashes = std::panic::catch_unwind(|| feed_rs::parser::parse(xml.as_bytes()));
        assert!(crashes.is_err(), "feed-rs no longer crashes here");
        let e = one(&xml);
        assert_eq!(e.title.as_deref(), Some("kept"));
        assert_eq!(e.published.unwrap().offset().local_minus_utc(), -5 * 3600);
        assert_eq!(
            without_texts_of(
                "<author>a</author><x/><author><![CDATA[a<b>]]></author><author>b",
                &["author"]
            ),
            "<author></author><x/><author></author><author>"
        );
        // An end tag lost: the text up to the next tag goes, not the rest of the document.
        assert_eq!(
            without_texts_of(
                "<webMaster>w@e.org (W)item><title>t</title><webMaster>x</webMaster>",
                &["webMaster"]
            ),
            "<webMaster><title>t</title><webMaster></webMaster>"
        );
        assert_eq!(without_texts_of("<author>a", &["author"]), "<author>");
        assert_eq!(
            without_texts_of("<authors>a</authors><author\r\n>b</author>", &["author"]),
            "<authors>a</authors><author\r\n></author>"
        );
        assert_eq!(
            without_texts_of("<author>a<![CDATA[b<]]>c<x/></author", &["author"]),
            "<author><x/></author"
        );
    }

    #[test]
    fn unknown_entities_do_not_break_the_feed() {
        let e = one(&rss(
            "<item><title>A&nbsp;B&rsquo;s</title><description>x&mdash;y</description></item>",
        ));
        assert!(e.title.unwrap().contains("&nbsp;"));
    }

    #[test]
    fn encodings_are_repaired() {
        let title = "Новости дня";
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"ENC\"?><rss version=\"2.0\"><channel><title>T</title><item><title>{title}</title></item></channel></rss>"
        );
        for (encoding, declared) in [
            (encoding_rs::WINDOWS_1251, "windows-1251"),
            (encoding_rs::KOI8_R, "koi8-r"),
            (encoding_rs::WINDOWS_1251, "utf-8"), // a lying declaration
        ] {
            let text = body.replace("ENC", declared);
            let (bytes, _, _) = encoding.encode(&text);
            let e = one_bytes(&bytes, None);
            assert_eq!(e.title.as_deref(), Some(title), "{declared}");
        }
        // No declaration at all, the charset in the HTTP header.
        let text = body.replace("<?xml version=\"1.0\" encoding=\"ENC\"?>", "");
        let (bytes, _, _) = encoding_rs::KOI8_R.encode(&text);
        assert_eq!(
            one_bytes(&bytes, Some("text/xml; charset=koi8-r"))
                .title
                .as_deref(),
            Some(title)
        );
        // ISO-8859-1 declared.
        let latin = "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><rss version=\"2.0\"><channel><title>T</title><item><title>Caf\u{e9}</title></item></channel></rss>";
        let (bytes, _, _) = encoding_rs::WINDOWS_1252.encode(latin);
        assert_eq!(one_bytes(&bytes, None).title.as_deref(), Some("Café"));
        // UTF-16 with and without a byte-order mark.
        let utf8 = body.replace("ENC", "UTF-16");
        let le: Vec<u8> = utf8.encode_utf16().flat_map(|u| u.to_le_bytes()).collect();
        let be: Vec<u8> = utf8.encode_utf16().flat_map(|u| u.to_be_bytes()).collect();
        assert_eq!(one_bytes(&le, None).title.as_deref(), Some(title));
        assert_eq!(one_bytes(&be, None).title.as_deref(), Some(title));
        let mut with_bom = vec![0xFF, 0xFE];
        with_bom.extend_from_slice(&le);
        assert_eq!(one_bytes(&with_bom, None).title.as_deref(), Some(title));
    }

    fn one_bytes(bytes: &[u8], content_type: Option<&str>) -> Entry {
        let feed = parse(bytes, content_type, None).unwrap();
        feed.entries.into_iter().next().unwrap()
    }

    #[test]
    fn what_is_not_a_feed_says_so() {
        for (input, class) in [
            ("", "not_a_feed"),
            ("  \n ", "not_a_feed"),
            ("<!DOCTYPE html><html><body>x</body></html>", "not_a_feed"),
            ("\u{FEFF}<html lang=en>", "not_a_feed"),
            ("<rss version=\"2.0\"><channel><item><title>x</tit", "parse"),
            ("{\"not\": \"a feed\"", "parse"),
            ("{\"rss\": {\"version\": \"2.0\"}}", "not_a_feed"),
            (
                "<?xml version=\"1.0\"?><opml version=\"2.0\"><body/></opml>",
                "not_a_feed",
            ),
            ("plain text", "not_a_feed"),
        ] {
            let err = parse(input.as_bytes(), None, None).unwrap_err();
            assert!(
                {
                    let found = crate::record::FailureClass::from(&err).as_str();
                    found == class || (input == "plain text" && found == "parse")
                },
                "{input:?}: {err}"
            );
            assert!(!err.to_string().contains('\n'));
        }
    }

    #[test]
    fn multibyte_characters_by_the_root_tag_never_cut() {
        // Each of these once sliced a string inside a character.
        for input in [
            "<rss\u{A0}version=\"n\"><channel><title>t</title></channel></rss>",
            "<rss version\u{A0}=\"n\" version='x'><channel></channel></rss>",
            "<é‹rssé",
            "<‹rssé",
            "‹rssé",
            "<?xml version=\"1.0\"?><r\u{A0}",
            "<opml\u{A0}",
        ] {
            let _ = parse(input.as_bytes(), None, None);
        }
        // A no-break space is no XML white space: neither a root nor an attribute ends there.
        assert_eq!(find_root("<rss\u{A0}>", "<rss"), None);
        assert_eq!(find_root("<!-- c --><rss/>", "<rss"), Some(10));
        assert_eq!(attribute("<rss version\u{A0}=\"n\">", "version"), None);
        let tag = "<rss xversion=\"1\" version = 'é' a=\"b\"";
        assert_eq!(attribute(tag, "version"), Some("é"));
        assert_eq!(
            remove_attribute(tag, "version"),
            "<rss xversion=\"1\"  a=\"b\""
        );
        assert_eq!(attribute("<rss version=\"2", "version"), None);
    }

    #[test]
    fn an_entrys_date_comes_from_its_own_timestamp() {
        // The feed's <updated> is the same instant as the entry's <published>, in UTC: the
        // entry is still dated by its own offset.
        let atom = "<feed xmlns=\"http://www.w3.org/2005/Atom\"><title>f</title><id>f</id>\
                    <updated>2023-02-04T03:30:00Z</updated>\
                    <entry><id>1</id><title>a</title><published>2023-02-03T22:30:00-05:00</published></entry>\
                    <entry><id>2</id><title>b</title><published>2023-02-04T03:30:00Z</published></entry>\
                    <entry><id>3</id><title>c</title><published>2023-02-04T12:30:00+09:00</published></entry>\
                    <entry><id>4</id><title>d</title><updated>2023-02-03T22:30:00-05:00</updated></entry></feed>";
        let feed = parse(atom.as_bytes(), None, None).unwrap();
        let dated: Vec<String> = feed
            .entries
            .iter()
            .map(|e| e.published.unwrap().to_rfc3339())
            .collect();
        assert_eq!(
            dated,
            [
                "2023-02-03T22:30:00-05:00",
                "2023-02-04T03:30:00+00:00",
                "2023-02-04T12:30:00+09:00",
                "2023-02-03T22:30:00-05:00",
            ]
        );
        // The same in RSS, where feed-rs copies pubDate into updated.
        let e = one(&rss(
            "<lastBuildDate>Sat, 04 Feb 2023 03:30:00 GMT</lastBuildDate>\
             <item><title>x</title><pubDate>Fri, 03 Feb 2023 22:30:00 -0500</pubDate></item>",
        ));
        assert_eq!(e.published.unwrap().date_naive().to_string(), "2023-02-03");
    }

    #[test]
    fn character_references_xml_forbids_do_not_reject_the_feed() {
        let e = one(&rss(
            "<item><title>a&#0;b&#1;c&#xFFFE;d&#xD800;e&#99999999999;f&#65;&#x42;</title>\
             <description><![CDATA[<p>x&#0;y</p>]]></description></item>",
        ));
        assert_eq!(
            e.title.as_deref(),
            Some("a\u{FFFD}bc\u{FFFD}d\u{FFFD}e\u{FFFD}fAB")
        );
        assert_eq!(e.body, Some(Body::Html("<p>x\u{FFFD}y</p>".into())));
        // Untouched: references that are fine, escaped ones, and ones without their `;`.
        for text in ["&#65;&#x10FFFF;", "&amp;#0;", "&#0", "&#;", "&#x;"] {
            assert_eq!(without_invalid_char_refs(text), text);
        }
    }

    #[test]
    fn one_bad_byte_does_not_turn_a_utf8_feed_into_windows_1252() {
        let title = "Café Ünïcödé — Новости дня ‹ok›";
        for declaration in ["<?xml version=\"1.0\" encoding=\"UTF-8\"?>", ""] {
            let xml = format!(
                "{declaration}<rss version=\"2.0\"><channel><title>T</title><item><title>{title} BAD</title></item></channel></rss>"
            );
            let bytes = xml.replace("BAD", "\u{1}").into_bytes();
            let bytes: Vec<u8> = bytes
                .iter()
                .map(|b| if *b == 1 { 0xFF } else { *b })
                .collect();
            let e = one_bytes(&bytes, Some("application/rss+xml; charset=iso-8859-1"));
            assert_eq!(
                e.title.as_deref(),
                Some(format!("{title} \u{FFFD}").as_str())
            );
        }
        // A feed in windows-1252 throughout still reads as windows-1252, declared or not.
        let latin = "<rss version=\"2.0\"><channel><title>T</title><item><title>Caf\u{e9} \u{2019}quoted\u{201d} na\u{ef}ve</title></item></channel></rss>";
        let (bytes, _, _) = encoding_rs::WINDOWS_1252.encode(latin);
        assert_eq!(
            one_bytes(&bytes, None).title.as_deref(),
            Some("Café ’quoted” naïve")
        );
        assert!(mostly_utf8("é ü ß \u{FF}".as_bytes()));
        assert!(!mostly_utf8(b"caf\xe9 na\xefve \xc3\xa9"));
    }

    #[test]
    fn links_that_are_no_web_pages_are_dropped() {
        let items: String = [
            "javascript:alert(1)",
            "JavaScript:alert(1)",
            "java&#x9;script:alert(1)",
            "data:text/html,&lt;b&gt;x",
            "vbscript:msgbox(1)",
            "mailto:someone@example.org",
            "ftp://example.org/file",
            "file:///etc/passwd",
            "http://exa mple.org/",
            "/relative/post",
            "https://example.org/ok",
            "HTTP://example.org/upper",
        ]
        .iter()
        .enumerate()
        .map(|(i, link)| format!("<item><guid>{i}</guid><link>{link}</link></item>"))
        .collect();
        let xml = rss(&items);
        let links = |base| -> Vec<Option<String>> {
            let feed = parse(xml.as_bytes(), None, base).unwrap();
            feed.entries.into_iter().map(|e| e.link).collect()
        };
        let mut expected: Vec<Option<String>> = vec![None; 9];
        expected.push(None);
        expected.push(Some("https://example.org/ok".into()));
        expected.push(Some("http://example.org/upper".into()));
        assert_eq!(links(None), expected);
        // A relative link is resolved when there is a base.
        expected[9] = Some("https://example.org/relative/post".into());
        assert_eq!(links(Some("https://example.org/feed")), expected);
    }

    #[test]
    fn timestamps_keep_their_offset() {
        let cases = [
            (
                "Fri, 03 Feb 2023 22:40:00 -0500",
                "2023-02-03T22:40:00-05:00",
            ),
            ("2023-02-03T03:40:00Z", "2023-02-03T03:40:00+00:00"),
            ("Fri, 3 Feb 2023 22:40 EST", "2023-02-03T22:40:00-05:00"),
            ("Mon, 03 Feb 2023 22:40:00 GMT", "2023-02-03T22:40:00+00:00"),
            ("03 Feb 2023 22:40:00 +0530", "2023-02-03T22:40:00+05:30"),
            ("2023-02-03 10:00:00", "2023-02-03T10:00:00+00:00"),
            (
                "2023-02-03T10:00:00.123+01:00",
                "2023-02-03T10:00:00.123+01:00",
            ),
            ("2023-02-03", "2023-02-03T00:00:00+00:00"),
            ("2020/1/10 14:33:00", "2020-01-10T14:33:00+00:00"),
            ("Fri, 03 Feb 2023 22:40:00 XYZ", "2023-02-03T22:40:00+00:00"),
        ];
        for (text, expected) in cases {
            let (utc, offset) = parse_timestamp(text).unwrap_or_else(|| panic!("{text}"));
            assert_eq!(utc.with_timezone(&offset).to_rfc3339(), expected, "{text}");
        }
        assert_eq!(parse_timestamp("yesterday"), None);
        assert_eq!(parse_timestamp(""), None);
    }
}
