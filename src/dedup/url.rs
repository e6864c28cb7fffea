//! Canonical article URLs: the same page reached through `http` or `https`, with or without
//! `www.`, with tracking parameters or a fragment, is one URL. Pure.

/// Query parameters that only track the reader and never select content. `utm_*` and the like
/// are prefixes: a trailing `*` matches any rest.
pub const DEFAULT_TRACKING_PARAMS: &[&str] = &[
    "utm_*",
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

/// The query parameters dropped from links, as configured (`tracking_params`); names compare
/// without regard to case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackingParams {
    exact: Vec<String>,
    prefixes: Vec<String>,
}

impl Default for TrackingParams {
    fn default() -> TrackingParams {
        let mut params = TrackingParams::empty();
        for name in DEFAULT_TRACKING_PARAMS {
            params.add(name);
        }
        params
    }
}

impl TrackingParams {
    /// From a list of names; `prefix*` matches every name that starts with `prefix`, and the
    /// word `default` stands for [`DEFAULT_TRACKING_PARAMS`].
    pub fn new<'a>(names: impl IntoIterator<Item = &'a str>) -> TrackingParams {
        let mut params = TrackingParams::empty();
        for name in names {
            if name == "default" {
                DEFAULT_TRACKING_PARAMS.iter().for_each(|n| params.add(n));
            } else {
                params.add(name);
            }
        }
        params
    }

    fn empty() -> TrackingParams {
        TrackingParams {
            exact: Vec::new(),
            prefixes: Vec::new(),
        }
    }

    fn add(&mut self, name: &str) {
        let name = name.to_ascii_lowercase();
        match name.strip_suffix('*') {
            Some(prefix) if !self.prefixes.iter().any(|p| p == prefix) => {
                self.prefixes.push(prefix.to_owned())
            }
            Some(_) => {}
            None => {
                if let Err(at) = self.exact.binary_search(&name) {
                    self.exact.insert(at, name);
                }
            }
        }
    }

    pub fn matches(&self, name: &str) -> bool {
        let name = name.to_ascii_lowercase();
        self.exact.binary_search(&name).is_ok()
            || self.prefixes.iter().any(|p| name.starts_with(p.as_str()))
    }
}

/// The canonical form of an article link. Returns `None` for anything that is not an absolute
/// http(s) URL.
pub fn canonical_url(link: &str, tracking: &TrackingParams) -> Option<String> {
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
        .filter(|(name, _)| !tracking.matches(name))
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

/// Whether a canonical URL is a site's front page rather than an article: some feeds give every
/// item the home page as its link, which must never make different stories one.
pub fn is_front_page(canonical: &str) -> bool {
    url::Url::parse(canonical).is_ok_and(|u| {
        matches!(u.path(), "" | "/" | "/index.html" | "/index.php" | "/home") && u.query().is_none()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(link: &str) -> String {
        canonical_url(link, &TrackingParams::default()).unwrap()
    }

    #[test]
    fn canonical_url_normalises_what_does_not_change_the_page() {
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
            assert_eq!(
                canonical_url(link, &TrackingParams::default()),
                None,
                "{link}"
            );
        }
    }

    #[test]
    fn tracking_params_are_configurable() {
        let custom = TrackingParams::new(["default", "ref", "src_*"]);
        let link = "https://example.org/a?ref=rss&src_feed=x&utm_campaign=y&page=2";
        assert_eq!(
            canonical_url(link, &custom).unwrap(),
            "https://example.org/a?page=2"
        );
        assert_eq!(
            canon(link),
            "https://example.org/a?page=2&ref=rss&src_feed=x"
        );
        // Without `default` only the names given are dropped.
        let only = TrackingParams::new(["ref"]);
        assert_eq!(
            canonical_url(link, &only).unwrap(),
            "https://example.org/a?page=2&src_feed=x&utm_campaign=y"
        );
        assert!(TrackingParams::new([]).exact.is_empty());
    }

    #[test]
    fn front_pages_are_told_from_articles() {
        assert!(is_front_page(&canon("https://www.example.org")));
        assert!(is_front_page(&canon("http://example.org/index.html")));
        assert!(!is_front_page(&canon("https://example.org/2024/story")));
        assert!(!is_front_page(&canon("https://example.org/?p=123")));
    }
}
