//! Finding a web page's feed, for `gleaner add`: the feeds a page declares (`<link
//! rel="alternate" type="application/rss+xml" href=...>`, feed autodiscovery) and, when it
//! declares none, the places sites usually keep one. Pure: the fetching is the caller's.

use scraper::{Html, Selector};

/// Where sites commonly serve their feed, tried in this order on the page's origin when the
/// page declares none (WordPress `/feed`, many CMSs `/rss`, Jekyll `/atom.xml`, Hugo
/// `/index.xml`).
pub const COMMON_PATHS: [&str; 4] = ["/feed", "/rss", "/atom.xml", "/index.xml"];

/// A feed a page declares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedLink {
    /// Absolute: resolved against the page's `<base href>`, else its own (final) URL.
    pub url: String,
    /// The link's `title`, when it has one ("Comments Feed" tells a reader which is which).
    pub title: Option<String>,
    /// The declared type, lower case, without parameters.
    pub kind: String,
}

/// The media types of feeds.
const FEED_TYPES: [&str; 5] = [
    "application/rss+xml",
    "application/atom+xml",
    "application/feed+json",
    "application/json",
    // Old blogs declare RSS 1.0 so.
    "application/rdf+xml",
];

/// The feeds `html` declares, in document order, each URL once. `page_url` is the URL the
/// page was served from (after redirects). Only http(s) addresses are kept.
pub fn feed_links(html: &str, page_url: &str) -> Vec<FeedLink> {
    let document = Html::parse_document(html);
    let Ok(page) = url::Url::parse(page_url) else {
        return Vec::new();
    };
    let base = Selector::parse("base[href]")
        .ok()
        .and_then(|s| document.select(&s).next())
        .and_then(|b| b.value().attr("href"))
        .and_then(|href| page.join(href.trim()).ok())
        .unwrap_or(page);
    let Ok(links) = Selector::parse("link[rel][href]") else {
        return Vec::new();
    };
    let mut found: Vec<FeedLink> = Vec::new();
    for link in document.select(&links) {
        let element = link.value();
        let rel = element.attr("rel").unwrap_or_default();
        if !rel
            .split_ascii_whitespace()
            .any(|r| r.eq_ignore_ascii_case("alternate"))
        {
            continue;
        }
        let kind = element
            .attr("type")
            .unwrap_or_default()
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        if !FEED_TYPES.contains(&kind.as_str()) {
            continue;
        }
        let Some(url) = element
            .attr("href")
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .and_then(|href| base.join(href).ok())
            .filter(|u| matches!(u.scheme(), "http" | "https"))
        else {
            continue;
        };
        let url = String::from(url);
        if found.iter().any(|f| f.url == url) {
            continue;
        }
        found.push(FeedLink {
            url,
            title: element
                .attr("title")
                .map(|t| t.split_whitespace().collect::<Vec<_>>().join(" "))
                .filter(|t| !t.is_empty()),
            kind,
        });
    }
    found
}

/// The common feed addresses on the origin of `page_url` (scheme, host and port), in the order
/// to try them.
pub fn common_feed_urls(page_url: &str) -> Vec<String> {
    let Ok(page) = url::Url::parse(page_url) else {
        return Vec::new();
    };
    if !matches!(page.scheme(), "http" | "https") {
        return Vec::new();
    }
    COMMON_PATHS
        .iter()
        .filter_map(|path| page.join(path).ok())
        .map(String::from)
        .collect()
}

/// Whether a body that is no feed is a web page worth looking into, by its type or its start.
pub fn looks_like_html(content_type: Option<&str>, bytes: &[u8]) -> bool {
    if content_type.is_some_and(|t| {
        let t = t.to_ascii_lowercase();
        t.contains("text/html") || t.contains("application/xhtml")
    }) {
        return true;
    }
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(1024)]).to_ascii_lowercase();
    head.contains("<html") || head.contains("<!doctype html")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_feeds_in_order_resolved_against_the_page() {
        let html = r#"<!doctype html><html><head>
            <link rel="stylesheet" href="/style.css">
            <link rel="alternate" type="application/rss+xml" title="Posts" href="feed.xml">
            <link rel="Alternate" type="application/atom+xml; charset=utf-8" href="/atom.xml">
            <link rel="alternate" type="text/html" hreflang="fr" href="/fr/">
            <link rel="alternate" type="application/rss+xml" href="feed.xml">
            <link rel="alternate home" type="application/feed+json" href="https://cdn.example/feed.json">
            <link rel="alternate" type="application/rss+xml" href="javascript:alert(1)">
            </head><body></body></html>"#;
        let links = feed_links(html, "https://blog.example/posts/index.html");
        let got: Vec<(&str, &str, Option<&str>)> = links
            .iter()
            .map(|l| (l.url.as_str(), l.kind.as_str(), l.title.as_deref()))
            .collect();
        assert_eq!(
            got,
            [
                (
                    "https://blog.example/posts/feed.xml",
                    "application/rss+xml",
                    Some("Posts")
                ),
                (
                    "https://blog.example/atom.xml",
                    "application/atom+xml",
                    None
                ),
                (
                    "https://cdn.example/feed.json",
                    "application/feed+json",
                    None
                ),
            ]
        );
    }

    #[test]
    fn a_base_element_moves_relative_links() {
        let html = r#"<html><head><base href="https://other.example/blog/">
            <link rel=alternate type=application/rss+xml href=rss></head></html>"#;
        assert_eq!(
            feed_links(html, "https://blog.example/")[0].url,
            "https://other.example/blog/rss"
        );
    }

    #[test]
    fn the_real_pages_of_the_corpus() {
        let read = |name: &str| {
            std::fs::read_to_string(
                std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("tests/fixtures/real-feeds")
                    .join(name),
            )
            .unwrap()
        };
        let urls = |name: &str, page: &str| -> Vec<String> {
            feed_links(&read(name), page)
                .into_iter()
                .map(|l| l.url)
                .collect()
        };
        assert_eq!(
            urls("DaringFireball.html", "https://daringfireball.net/"),
            ["https://daringfireball.net/feeds/main"]
        );
        assert_eq!(
            urls("coco.html", "https://www.theatlantic.com/"),
            [
                "https://www.theatlantic.com/feed/all/",
                "https://www.theatlantic.com/feed/best-of/"
            ]
        );
        // A 300 KB page whose other `alternate` links are apps and a mobile site.
        assert_eq!(
            urls(
                "YouTubeTheVolvoRocks.html",
                "https://www.youtube.com/user/TheVolvorocks"
            ),
            ["https://www.youtube.com/feeds/videos.xml?channel_id=UCct7QF2jcWRY6dhXWMSq9LQ"]
        );
    }

    #[test]
    fn nothing_declared() {
        assert!(
            feed_links(
                "<html><head><title>x</title></head></html>",
                "https://a.example/"
            )
            .is_empty()
        );
        assert!(feed_links("", "https://a.example/").is_empty());
        assert!(
            feed_links(
                "<link rel=alternate type=application/rss+xml href=x>",
                "not a url"
            )
            .is_empty()
        );
    }

    #[test]
    fn common_paths_on_the_origin() {
        assert_eq!(
            common_feed_urls("http://127.0.0.1:8080/blog/post?x=1"),
            [
                "http://127.0.0.1:8080/feed",
                "http://127.0.0.1:8080/rss",
                "http://127.0.0.1:8080/atom.xml",
                "http://127.0.0.1:8080/index.xml"
            ]
        );
        assert!(common_feed_urls("file:///tmp/x.html").is_empty());
    }

    #[test]
    fn html_is_recognised() {
        assert!(looks_like_html(Some("text/html; charset=utf-8"), b""));
        assert!(looks_like_html(None, b"  <!DOCTYPE html><html>"));
        assert!(!looks_like_html(
            Some("application/rss+xml"),
            b"<rss version=\"2.0\">"
        ));
    }
}
