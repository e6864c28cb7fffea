//! Identity of articles: the identity of an item within its source, the stable 64-bit article
//! key, content hashes, which near-duplicate candidates are near-duplicates, and (in the
//! submodules) canonical URLs, near-duplicate fingerprints and the edit rule. Pure functions;
//! the store applies them.
//!
//! Within a source an item is known by its guid while the source's guids can be trusted, else by
//! its canonical link, else by a hash of its content: never by a random id. A source whose
//! guids turn out missing, repeated or unstable is known by its links from then on (the store
//! records the switch). Across sources one canonical URL is one article.

pub mod edit;
pub mod simhash;
mod url;

use std::collections::HashMap;

use sha2::{Digest, Sha256};

use crate::render::Rendered;

pub use url::{DEFAULT_TRACKING_PARAMS, TrackingParams, canonical_url, is_front_page};

/// Bodies shorter than this (in characters) get no fingerprint: a sentence or two shares too
/// much with unrelated text for SimHash to tell them apart (see the README's measurements).
pub const MIN_FINGERPRINT_CHARS: usize = 400;

/// The largest near-duplicate distance the configuration accepts: beyond it a lookup would
/// probe too many band values to stay fast, and unrelated texts start to match.
pub const MAX_NEAR_DISTANCE: u32 = 12;

/// The distance new articles are linked at unless the configuration says otherwise, chosen on
/// the labelled set (`cargo bench --bench dedup`, figures in the README): the largest distance
/// whose lookup probes only one bit per band (cheap at a million articles), with no false link on
/// real material and 78% of syndicated copies found; 10 finds 92% at about twice the cost.
pub const DEFAULT_NEAR_DISTANCE: u32 = 7;

/// Shorter body over longer, in characters, below which two bodies are not near-duplicates
/// however close their fingerprints: a digest quoting a story is not the story.
pub const MIN_LENGTH_RATIO: f64 = 0.8;

/// How new articles are checked for near-duplicates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NearDuplicates {
    /// Largest Hamming distance between two SimHashes that still links them.
    pub max_distance: u32,
    /// Only articles first seen this recently are compared with a new one.
    pub window: std::time::Duration,
}

impl Default for NearDuplicates {
    fn default() -> NearDuplicates {
        NearDuplicates {
            max_distance: DEFAULT_NEAR_DISTANCE,
            window: std::time::Duration::from_secs(30 * 86_400),
        }
    }
}

/// What a source's items are told apart by; kept on the source (`sources.identity`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IdentityBasis {
    /// The publisher's guids (Atom ids, JSON Feed ids): used while they are present and unique.
    #[default]
    Guid,
    /// The canonical links, once guids proved missing, repeated or unstable.
    Link,
}

impl IdentityBasis {
    pub fn as_str(self) -> &'static str {
        match self {
            IdentityBasis::Guid => "guid",
            IdentityBasis::Link => "link",
        }
    }

    pub fn parse(text: &str) -> IdentityBasis {
        match text {
            "link" => IdentityBasis::Link,
            _ => IdentityBasis::Guid,
        }
    }
}

/// What identification needs to know of the source of a document.
#[derive(Debug, Clone, Copy)]
pub struct SourceContext<'a> {
    pub url: &'a str,
    /// The feed's home page: a link to it is no article's link.
    pub site_url: Option<&'a str>,
    pub basis: IdentityBasis,
}

/// How an item is known within its source.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Identity {
    Guid(String),
    Link(String),
    Content(String),
}

impl Identity {
    /// The text stored in `entries.identity`: a prefix says which kind it is.
    pub fn as_stored(&self) -> String {
        match self {
            Identity::Guid(g) => format!("guid:{g}"),
            Identity::Link(l) => format!("link:{l}"),
            Identity::Content(h) => format!("hash:{h}"),
        }
    }

    /// The identity a stored `entries.identity` names; `None` for text of no known kind.
    pub fn from_stored(text: &str) -> Option<Identity> {
        let (kind, value) = text.split_once(':')?;
        let value = value.to_owned();
        match kind {
            "guid" => Some(Identity::Guid(value)),
            "link" => Some(Identity::Link(value)),
            "hash" => Some(Identity::Content(value)),
            _ => None,
        }
    }
}

/// A rendered entry with its identity: what the store needs to file it.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub identity: Identity,
    /// The key the article gets if this item is the first of its story.
    pub key: String,
    /// The canonical link when it can identify an article (unique in its document, not a home
    /// page); articles with the same one are one article.
    pub canonical_url: Option<String>,
    pub content_hash: String,
    /// The body's SimHash, when the body is long enough to have one.
    pub simhash: Option<u64>,
    pub rendered: Rendered,
}

/// The items of one document, and why the source should switch to links when the document
/// shows that its guids cannot be trusted.
#[derive(Debug, Clone, PartialEq)]
pub struct Identified {
    pub items: Vec<Item>,
    pub fallback: Option<String>,
}

/// Identifies the rendered entries of one document, dropping entries that repeat an earlier one
/// of the same document.
pub fn identify(
    source: SourceContext<'_>,
    tracking: &TrackingParams,
    rendered: Vec<Rendered>,
) -> Identified {
    let site = source.site_url.and_then(|s| canonical_url(s, tracking));
    let mut canonical: Vec<Option<String>> = rendered
        .iter()
        .map(|r| r.link.as_deref().and_then(|l| canonical_url(l, tracking)))
        .collect();
    let mut link_counts: HashMap<String, usize> = HashMap::new();
    for url in canonical.iter().flatten() {
        *link_counts.entry(url.clone()).or_default() += 1;
    }
    for url in &mut canonical {
        let usable = url
            .as_ref()
            .is_some_and(|u| link_counts[u] == 1 && !is_front_page(u) && Some(u) != site.as_ref());
        if !usable {
            *url = None;
        }
    }
    let hashes: Vec<String> = rendered
        .iter()
        .map(|r| content_hash(&r.title, &r.body))
        .collect();
    let inputs: Vec<IdentityInput<'_>> = rendered
        .iter()
        .zip(&canonical)
        .zip(&hashes)
        .map(|((r, url), hash)| IdentityInput {
            guid: r.guid.as_deref(),
            canonical_url: url.as_deref(),
            content_hash: hash,
        })
        .collect();
    let fallback = guid_trouble(&inputs).filter(|_| source.basis == IdentityBasis::Guid);
    let basis = if fallback.is_some() {
        IdentityBasis::Link
    } else {
        source.basis
    };
    let identities = assign_identities(&inputs, basis);
    let items = rendered
        .into_iter()
        .zip(canonical)
        .zip(hashes)
        .zip(identities)
        .filter_map(|(((rendered, canonical_url), content_hash), identity)| {
            let identity = identity?;
            Some(Item {
                key: article_key(source.url, canonical_url.as_deref(), &identity),
                identity,
                canonical_url,
                content_hash,
                simhash: fingerprint(&rendered.body),
                rendered,
            })
        })
        .collect();
    Identified { items, fallback }
}

/// The SimHash of a body long enough to have one.
pub fn fingerprint(body: &str) -> Option<u64> {
    // Counting stops at the minimum: no need to walk a long body.
    body.chars().nth(MIN_FINGERPRINT_CHARS - 1)?;
    simhash::simhash(body)
}

/// What [`assign_identities`] needs of an item.
pub struct IdentityInput<'a> {
    pub guid: Option<&'a str>,
    /// The canonical link, when it is usable as an identity.
    pub canonical_url: Option<&'a str>,
    pub content_hash: &'a str,
}

/// Why a document's guids cannot identify its items, if they cannot: some are missing or some
/// are repeated.
pub fn guid_trouble(items: &[IdentityInput<'_>]) -> Option<String> {
    let missing = items.iter().filter(|i| i.guid.is_none()).count();
    if missing > 0 {
        return Some(format!("{missing} of {} items have no guid", items.len()));
    }
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for guid in items.iter().filter_map(|i| i.guid) {
        *counts.entry(guid).or_default() += 1;
    }
    let repeated = counts.values().filter(|n| **n > 1).count();
    (repeated > 0).then(|| format!("{repeated} guids are given to more than one item"))
}

/// Gives every item of one document its identity, and says which items repeat an earlier one
/// (`None`: the same item twice in one document, which the store must not see twice).
///
/// A guid is used only when it is unique in the document, and under [`IdentityBasis::Link`]
/// only for items without a usable link; a link only when it is usable (unique in the document,
/// not a home page). Whatever is left is known by its content.
pub fn assign_identities(
    items: &[IdentityInput<'_>],
    basis: IdentityBasis,
) -> Vec<Option<Identity>> {
    let mut guid_counts: HashMap<&str, usize> = HashMap::new();
    for item in items {
        if let Some(guid) = item.guid {
            *guid_counts.entry(guid).or_default() += 1;
        }
    }
    let mut seen = std::collections::HashSet::new();
    items
        .iter()
        .map(|item| {
            let guid = item.guid.filter(|g| guid_counts[g] == 1);
            let identity = match (basis, guid, item.canonical_url) {
                (IdentityBasis::Guid, Some(guid), _) => Identity::Guid(guid.to_owned()),
                (_, _, Some(url)) => Identity::Link(url.to_owned()),
                (_, Some(guid), None) => Identity::Guid(guid.to_owned()),
                (_, None, None) => Identity::Content(item.content_hash.to_owned()),
            };
            seen.insert(identity.clone()).then_some(identity)
        })
        .collect()
}

/// The stable 64-bit key of a new article, as 16 lower-case hex digits: a hash of the article's
/// identity (canonical URL, else source and guid, else content), so the same story gets the same
/// key in every database.
pub fn article_key(source_url: &str, canonical_url: Option<&str>, identity: &Identity) -> String {
    let basis = match (canonical_url, identity) {
        (Some(url), _) => format!("url\0{url}"),
        (None, Identity::Guid(guid)) => format!("guid\0{source_url}\0{guid}"),
        (None, other) => format!("id\0{}", other.as_stored()),
    };
    hex_prefix(&Sha256::digest(basis.as_bytes()), 8)
}

/// A hash of what a reader sees (title and body), to tell an edit from a repeat.
pub fn content_hash(title: &str, body: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(title.as_bytes());
    hasher.update([0]);
    hasher.update(body.as_bytes());
    hex_prefix(&hasher.finalize(), 16)
}

/// Whether two texts report the same figures, as far as their numbers tell: stories written
/// from one template (earthquakes, scores, quarterly results) share most words and differ in
/// their numbers, while a syndicated copy keeps them. True when either text has fewer than two
/// numbers, or when more than half the numbers of the text with fewer are found in the other.
pub fn same_figures(a: &str, b: &str) -> bool {
    let (a, b) = (numbers(a), numbers(b));
    let (few, many) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    if few.len() < 2 {
        return true;
    }
    let mut pool: HashMap<&str, usize> = HashMap::new();
    for n in &many {
        *pool.entry(n.as_str()).or_default() += 1;
    }
    let shared = few
        .iter()
        .filter(|n| match pool.get_mut(n.as_str()) {
            Some(count) if *count > 0 => {
                *count -= 1;
                true
            }
            _ => false,
        })
        .count();
    shared * 2 > few.len()
}

/// Whether a candidate whose fingerprint is near a body's is a near-duplicate of it: of similar
/// length (see [`MIN_LENGTH_RATIO`]) and reporting the same figures ([`same_figures`]).
pub fn confirms_near_duplicate(body: &str, candidate: &str) -> bool {
    let (a, b) = (
        body.chars().count() as f64,
        candidate.chars().count() as f64,
    );
    let ratio = a.min(b) / a.max(b);
    // Two empty bodies (0/0) have always passed the length test: kept as it was.
    (ratio.is_nan() || ratio >= MIN_LENGTH_RATIO) && same_figures(body, candidate)
}

/// The numbers of a text, as written (`4.5`, `2019`, `1,200` becomes `1200`).
fn numbers(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() {
            current.push(c);
        } else if (c == '.' || c == ',')
            && !current.is_empty()
            && chars.peek().is_some_and(char::is_ascii_digit)
        {
            if c == '.' {
                current.push(c);
            }
        } else if !current.is_empty() {
            out.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// Whether two texts differ at most in white space: such a change is no edit.
pub fn same_words(a: &str, b: &str) -> bool {
    a.split_whitespace().eq(b.split_whitespace())
}

/// A hash of raw bytes (a fetched feed), to skip re-parsing a body seen before.
pub fn bytes_hash(bytes: &[u8]) -> String {
    hex_prefix(&Sha256::digest(bytes), 16)
}

fn hex_prefix(digest: &[u8], bytes: usize) -> String {
    use std::fmt::Write;
    digest[..bytes]
        .iter()
        .fold(String::with_capacity(bytes * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_identities_read_back() {
        for identity in [
            Identity::Guid("tag:x:1".into()),
            Identity::Link("https://example.org/a?b=c".into()),
            Identity::Content("0123abcd".into()),
        ] {
            assert_eq!(Identity::from_stored(&identity.as_stored()), Some(identity));
        }
        assert_eq!(Identity::from_stored("id:7"), None);
        assert_eq!(Identity::from_stored("guid"), None);
    }

    #[test]
    fn identities_prefer_unique_guids() {
        let items = [
            IdentityInput {
                guid: Some("g1"),
                canonical_url: Some("https://a/1"),
                content_hash: "h1",
            },
            IdentityInput {
                guid: Some("dup"),
                canonical_url: Some("https://a/2"),
                content_hash: "h2",
            },
            IdentityInput {
                guid: Some("dup"),
                canonical_url: Some("https://a/3"),
                content_hash: "h3",
            },
            IdentityInput {
                guid: None,
                canonical_url: None,
                content_hash: "h4",
            },
            IdentityInput {
                guid: None,
                canonical_url: Some("https://a/1"),
                content_hash: "h5",
            },
            IdentityInput {
                guid: None,
                canonical_url: None,
                content_hash: "h4",
            },
        ];
        let ids = assign_identities(&items, IdentityBasis::Guid);
        assert_eq!(ids[0], Some(Identity::Guid("g1".into())));
        assert_eq!(ids[1], Some(Identity::Link("https://a/2".into())));
        assert_eq!(ids[2], Some(Identity::Link("https://a/3".into())));
        assert_eq!(ids[3], Some(Identity::Content("h4".into())));
        assert_eq!(ids[4], Some(Identity::Link("https://a/1".into())));
        assert_eq!(
            ids[5], None,
            "the same content twice in one document is one item"
        );
        // Known by links: a usable link wins over a guid; a guid still beats the content.
        let ids = assign_identities(&items, IdentityBasis::Link);
        assert_eq!(ids[0], Some(Identity::Link("https://a/1".into())));
        assert_eq!(ids[3], Some(Identity::Content("h4".into())));
        assert_eq!(
            ids[4], None,
            "the same link twice in one document is one item"
        );
        let lone_guid = [IdentityInput {
            guid: Some("g"),
            canonical_url: None,
            content_hash: "h",
        }];
        assert_eq!(
            assign_identities(&lone_guid, IdentityBasis::Link),
            vec![Some(Identity::Guid("g".into()))]
        );
    }

    fn rendered(guid: Option<&str>, link: Option<&str>, title: &str) -> Rendered {
        Rendered {
            guid: guid.map(str::to_owned),
            link: link.map(str::to_owned),
            title: title.to_owned(),
            published_at: None,
            revised_at: None,
            date: "2024-01-01".into(),
            body: format!("Body of {title}."),
            document: String::new(),
        }
    }

    fn source(basis: IdentityBasis) -> SourceContext<'static> {
        SourceContext {
            url: "https://example.org/feed",
            site_url: Some("https://example.org/blog/"),
            basis,
        }
    }

    #[test]
    fn untrustworthy_guids_switch_the_source_to_links() {
        let tracking = TrackingParams::default();
        let good = identify(
            source(IdentityBasis::Guid),
            &tracking,
            vec![
                rendered(Some("1"), Some("https://example.org/a"), "A"),
                rendered(Some("2"), Some("https://example.org/b"), "B"),
            ],
        );
        assert_eq!(good.fallback, None);
        assert_eq!(good.items[0].identity, Identity::Guid("1".into()));

        let repeated = identify(
            source(IdentityBasis::Guid),
            &tracking,
            vec![
                rendered(Some("same"), Some("https://example.org/a"), "A"),
                rendered(
                    Some("same"),
                    Some("https://example.org/b?utm_source=x"),
                    "B",
                ),
                rendered(Some("3"), Some("https://example.org/c"), "C"),
            ],
        );
        assert_eq!(
            repeated.fallback.as_deref(),
            Some("1 guids are given to more than one item")
        );
        let ids: Vec<_> = repeated.items.iter().map(|i| i.identity.clone()).collect();
        assert_eq!(
            ids,
            vec![
                Identity::Link("https://example.org/a".into()),
                Identity::Link("https://example.org/b".into()),
                Identity::Link("https://example.org/c".into()),
            ]
        );

        let missing = identify(
            source(IdentityBasis::Guid),
            &tracking,
            vec![
                rendered(None, Some("https://example.org/a"), "A"),
                rendered(Some("2"), Some("https://example.org/b"), "B"),
            ],
        );
        assert_eq!(
            missing.fallback.as_deref(),
            Some("1 of 2 items have no guid")
        );
        // Already on links: nothing more to record.
        let again = identify(
            source(IdentityBasis::Link),
            &tracking,
            vec![rendered(None, Some("https://example.org/a"), "A")],
        );
        assert_eq!(again.fallback, None);
    }

    #[test]
    fn home_page_and_shared_links_identify_nothing() {
        let tracking = TrackingParams::default();
        let out = identify(
            source(IdentityBasis::Link),
            &tracking,
            vec![
                rendered(None, Some("https://www.example.org/"), "Front page"),
                rendered(None, Some("https://example.org/blog/"), "Blog index"),
                rendered(None, Some("https://example.org/same"), "Shared one"),
                rendered(None, Some("http://example.org/same#x"), "Shared two"),
                rendered(None, Some("https://example.org/own"), "Own"),
            ],
        );
        let ids: Vec<_> = out.items.iter().map(|i| &i.identity).collect();
        assert!(matches!(ids[0], Identity::Content(_)));
        assert!(matches!(ids[1], Identity::Content(_)));
        assert!(matches!(ids[2], Identity::Content(_)));
        assert!(matches!(ids[3], Identity::Content(_)));
        assert_eq!(ids[4], &Identity::Link("https://example.org/own".into()));
        assert_eq!(out.items.len(), 5, "different stories are all kept");
        assert!(out.items[..4].iter().all(|i| i.canonical_url.is_none()));
        // The link as given is still there for the store.
        assert_eq!(
            out.items[3].rendered.link.as_deref(),
            Some("http://example.org/same#x")
        );
    }

    #[test]
    fn figures_tell_templated_stories_apart() {
        let quake = |m: &str, km: &str| {
            format!("A magnitude {m} earthquake struck {km} kilometres north of town at 3:15.")
        };
        assert!(!same_figures(&quake("5.3", "12"), &quake("4.1", "30")));
        assert!(same_figures(&quake("5.3", "12"), &quake("5.3", "12")));
        // A copy that lost or gained a figure is still the same story.
        assert!(same_figures(
            &quake("5.3", "12"),
            &format!("{} Updated at 4:00.", quake("5.3", "12"))
        ));
        assert!(same_figures(
            "Shares rose 1,200 points in 2019",
            "1200 points, 2019"
        ));
        assert!(same_figures("no numbers", "one 1"));
        assert_eq!(numbers("v1.2.3, 4,500 and 7."), ["1.2.3", "4500", "7"]);
    }

    #[test]
    fn near_duplicates_have_similar_lengths_and_the_same_figures() {
        let words = |n: usize| "word ".repeat(n);
        assert!(confirms_near_duplicate(&words(100), &words(100)));
        // 400 of 500 characters is the ratio exactly: still a near-duplicate.
        assert!(confirms_near_duplicate(&words(80), &words(100)));
        assert!(confirms_near_duplicate(&words(100), &words(80)));
        assert!(!confirms_near_duplicate(&words(79), &words(100)));
        // Characters, not bytes.
        assert!(confirms_near_duplicate(&"é".repeat(80), &"e".repeat(100)));
        assert!(!confirms_near_duplicate(&"é".repeat(60), &"e".repeat(100)));
        // Same length, other figures: a templated story, not a copy.
        let quake = |m: &str, km: &str| {
            format!(
                "A magnitude {m} earthquake struck {km} km away at 3:15. {}",
                words(50)
            )
        };
        assert!(confirms_near_duplicate(
            &quake("5.3", "12"),
            &quake("5.3", "12")
        ));
        assert!(!confirms_near_duplicate(
            &quake("5.3", "12"),
            &quake("4.1", "30")
        ));
        assert!(confirms_near_duplicate("", ""));
    }

    #[test]
    fn white_space_alone_is_no_change() {
        assert!(same_words("One two.\n\nThree", "One  two.\u{a0}Three"));
        assert!(!same_words("One two.", "One, two."));
    }

    #[test]
    fn only_long_bodies_get_a_fingerprint() {
        assert_eq!(fingerprint("short body"), None);
        let long = "word ".repeat(MIN_FINGERPRINT_CHARS / 5);
        assert!(fingerprint(&long).is_some());
        assert_eq!(fingerprint(&long[..long.len() - 1]), None);
    }

    #[test]
    fn keys_are_stable_and_shaped() {
        let id = Identity::Guid("g".into());
        let key = article_key("https://s/feed", Some("https://a/1"), &id);
        assert_eq!(key.len(), 16);
        assert!(
            key.chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        // The key follows the canonical URL, whatever the source or guid.
        assert_eq!(
            key,
            article_key(
                "https://other/feed",
                Some("https://a/1"),
                &Identity::Guid("h".into())
            )
        );
        assert_ne!(key, article_key("https://s/feed", None, &id));
        assert_ne!(
            article_key("https://s/feed", None, &id),
            article_key("https://t/feed", None, &id)
        );
        // Pinned: a key must never change between versions (users keep exported files by key).
        assert_eq!(key, "23a876f31d4da67c");
        assert_eq!(content_hash("t", "b").len(), 32);
        assert_ne!(content_hash("t", "b"), content_hash("tb", ""));
    }
}
