//! Identity of articles: canonical URLs, the identity of an item within its source, the stable
//! 64-bit article key, and content hashes. Pure functions; the store applies them.
//!
//! Within a source an item is known by its guid (when the document's guids are present and
//! unique), else by its canonical link, else by a hash of its content: never by a random id.
//! Across sources one canonical URL is one article.

use std::collections::HashMap;

use sha2::{Digest, Sha256};

use crate::render::Rendered;

/// Query parameters that only track the reader and never select content.
const TRACKING_PARAMS: &[&str] = &[
    "fbclid",
    "gclid",
    "dclid",
    "gbraid",
    "wbraid",
    "msclkid",
    "mc_cid",
    "mc_eid",
    "igshid",
    "ref_src",
    "_hsenc",
    "_hsmi",
    "yclid",
    "twclid",
    "mkt_tok",
    "oly_anon_id",
    "oly_enc_id",
    "vero_id",
    "wickedid",
    "rb_clickid",
    "s_cid",
    "_ga",
    "_gl",
];

fn is_tracking_param(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    name.starts_with("utm_") || TRACKING_PARAMS.contains(&name.as_str())
}

/// The canonical form of an article link, so that the same page reached through `http` or
/// `https`, with or without `www.`, with tracking parameters or a fragment, is one URL.
/// Returns `None` for anything that is not an absolute http(s) URL.
pub fn canonical_url(link: &str) -> Option<String> {
    let mut url = url::Url::parse(link.trim()).ok()?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return None;
    }
    url.set_fragment(None);
    // http and https name the same article; the canonical form always says https.
    url.set_scheme("https").ok()?;
    if url.port() == Some(443) || url.port() == Some(80) {
        url.set_port(None).ok()?;
    }
    if let Some(host) = url.host_str().and_then(|h| h.strip_prefix("www.")) {
        let host = host.to_owned();
        url.set_host(Some(&host)).ok()?;
    }
    let mut params: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(name, _)| !is_tracking_param(name))
        .map(|(n, v)| (n.into_owned(), v.into_owned()))
        .collect();
    if params.is_empty() {
        url.set_query(None);
    } else {
        params.sort();
        url.query_pairs_mut().clear().extend_pairs(params);
    }
    Some(url.into())
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
}

/// A rendered entry with its identity: what the store needs to file it.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub identity: Identity,
    /// The key the article gets if this item is the first of its story.
    pub key: String,
    pub canonical_url: Option<String>,
    pub content_hash: String,
    pub rendered: Rendered,
}

/// Identifies the rendered entries of one document of the source at `source_url`, dropping
/// entries that repeat an earlier one of the same document.
pub fn identify(source_url: &str, rendered: Vec<Rendered>) -> Vec<Item> {
    let canonical: Vec<Option<String>> = rendered
        .iter()
        .map(|r| r.link.as_deref().and_then(canonical_url))
        .collect();
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
    let identities = assign_identities(&inputs);
    rendered
        .into_iter()
        .zip(canonical)
        .zip(hashes)
        .zip(identities)
        .filter_map(|(((rendered, canonical_url), content_hash), identity)| {
            let identity = identity?;
            Some(Item {
                key: article_key(source_url, canonical_url.as_deref(), &identity),
                identity,
                canonical_url,
                content_hash,
                rendered,
            })
        })
        .collect()
}

/// What [`assign_identities`] needs of an item.
pub struct IdentityInput<'a> {
    pub guid: Option<&'a str>,
    pub canonical_url: Option<&'a str>,
    pub content_hash: &'a str,
}

/// Gives every item of one document its identity, and says which items repeat an earlier one
/// (`None`: the same item twice in one document, which the store must not see twice).
///
/// A guid is used only when it is unique in the document: a publisher that gives every item the
/// same guid would otherwise merge different stories.
pub fn assign_identities(items: &[IdentityInput<'_>]) -> Vec<Option<Identity>> {
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
            let identity = match (item.guid, item.canonical_url) {
                (Some(guid), _) if guid_counts[guid] == 1 => Identity::Guid(guid.to_owned()),
                (_, Some(url)) => Identity::Link(url.to_owned()),
                _ => Identity::Content(item.content_hash.to_owned()),
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
    fn canonical_url_normalises_what_does_not_change_the_page() {
        let canon = |s| canonical_url(s).unwrap();
        assert_eq!(
            canon("http://www.Example.org:80/a/b?utm_source=x&b=2&a=1&fbclid=z#frag"),
            "https://example.org/a/b?a=1&b=2"
        );
        assert_eq!(
            canon("https://example.org/a"),
            canon("http://example.org/a")
        );
        assert_eq!(
            canon("https://example.org/a?UTM_MEDIUM=rss"),
            "https://example.org/a"
        );
        assert_eq!(canon("https://example.org"), "https://example.org/");
        // Different pages stay different.
        assert_ne!(
            canon("https://example.org/a?id=1"),
            canon("https://example.org/a?id=2")
        );
        assert_ne!(
            canon("https://example.org/a"),
            canon("https://example.org/A")
        );
        assert_ne!(
            canon("https://blog.example.org/a"),
            canon("https://example.org/a")
        );
    }

    #[test]
    fn canonical_url_refuses_non_web_links() {
        for link in [
            "",
            "not a url",
            "/relative/path",
            "mailto:a@b.c",
            "file:///etc/x",
        ] {
            assert_eq!(canonical_url(link), None, "{link}");
        }
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
        let ids = assign_identities(&items);
        assert_eq!(ids[0], Some(Identity::Guid("g1".into())));
        assert_eq!(ids[1], Some(Identity::Link("https://a/2".into())));
        assert_eq!(ids[2], Some(Identity::Link("https://a/3".into())));
        assert_eq!(ids[3], Some(Identity::Content("h4".into())));
        assert_eq!(ids[4], Some(Identity::Link("https://a/1".into())));
        assert_eq!(
            ids[5], None,
            "the same content twice in one document is one item"
        );
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
