//! What a page says about its article, from its markup: the headline, the publication time with
//! the publisher's own offset, and the canonical address.

use chrono::{DateTime, FixedOffset};
use dom_query::Document;
use serde_json::Value;
use url::Url;

use crate::{feed, text};

/// The metadata of one page; every part may be missing.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct PageMetadata {
    /// Cleaned as FORMAT.md's TITLE.
    pub title: String,
    pub published: Option<DateTime<FixedOffset>>,
    /// Absolute, `http` or `https`.
    pub canonical_url: Option<String>,
}

/// Objects of JSON-LD looked at, at most: a page's graph has a few dozen.
const MAX_JSON_LD_OBJECTS: usize = 1_000;

/// Reads the metadata of `document`, resolving addresses against `page_url`.
pub fn read(document: &Document, page_url: Option<&Url>) -> PageMetadata {
    let json_ld = JsonLd::read(document);
    let title = first_content(document, &[r#"meta[property="og:title"]"#])
        .map(|t| plain_line(&t))
        .filter(|t| !t.is_empty())
        .or_else(|| json_ld.headline.filter(|t| !t.is_empty()))
        .or_else(|| {
            let title = document.select_single("head title").text();
            Some(plain_line(&title)).filter(|t| !t.is_empty())
        })
        .unwrap_or_default();
    let published = json_ld
        .date_published
        .as_deref()
        .and_then(timestamp)
        .or_else(|| {
            first_content(
                document,
                &[
                    r#"meta[property="article:published_time"]"#,
                    r#"meta[name="article:published_time"]"#,
                ],
            )
            .as_deref()
            .and_then(timestamp)
        });
    let base = base_url(document, page_url);
    let canonical_url = document
        .select(r#"link[rel~="canonical"][href]"#)
        .iter()
        .filter_map(|link| link.attr("href"))
        .chain(
            document
                .select(r#"meta[property="og:url"][content]"#)
                .iter()
                .filter_map(|meta| meta.attr("content")),
        )
        .find_map(|href| absolute_http_url(&href, base.as_ref()));
    PageMetadata {
        title,
        published,
        canonical_url,
    }
}

/// Text the HTML parser has already decoded (an attribute, `<title>`): only white space and
/// invisible characters are cleaned, as for a title; decoding it again (`text::clean_title`)
/// would turn a title about `&lt;div&gt;` into an empty tag.
fn plain_line(decoded: &str) -> String {
    text::text_to_paragraphs(decoded).join(" ")
}

/// The first non-empty `content` of the first selector that has one.
fn first_content(document: &Document, selectors: &[&str]) -> Option<String> {
    selectors.iter().find_map(|selector| {
        document
            .select(selector)
            .iter()
            .filter_map(|meta| meta.attr("content"))
            .map(|content| content.trim().to_owned())
            .find(|content| !content.is_empty())
    })
}

/// A timestamp as the publisher wrote it, its offset kept (no offset: UTC).
fn timestamp(text: &str) -> Option<DateTime<FixedOffset>> {
    let (utc, offset) = feed::parse_timestamp(text)?;
    Some(utc.with_timezone(&offset))
}

/// The address relative links of the page resolve against: its `<base href>` when it has one.
fn base_url(document: &Document, page_url: Option<&Url>) -> Option<Url> {
    let base_href = document.select_single("base[href]").attr("href");
    match (page_url, base_href) {
        (Some(page), Some(href)) => page.join(href.trim()).ok().or(Some(page.clone())),
        (None, Some(href)) => Url::parse(href.trim()).ok(),
        (page, None) => page.cloned(),
    }
}

fn absolute_http_url(href: &str, base: Option<&Url>) -> Option<String> {
    let href = href.trim();
    let url = match base {
        Some(base) => base.join(href).ok()?,
        None => Url::parse(href).ok()?,
    };
    matches!(url.scheme(), "http" | "https")
        .then(|| url.host_str().is_some_and(|h| !h.is_empty()))?
        .then(|| url.to_string())
}

/// What the page's JSON-LD says of its article.
#[derive(Default)]
struct JsonLd {
    headline: Option<String>,
    date_published: Option<String>,
}

impl JsonLd {
    /// The headline and `datePublished` of the first article-typed object (`NewsArticle`,
    /// `BlogPosting`, ...) of the page's JSON-LD blocks; when no article says when it was
    /// published, the first object that does (a `WebPage`).
    fn read(document: &Document) -> JsonLd {
        let mut found = JsonLd::default();
        let mut any_date = None;
        for script in document
            .select(r#"script[type="application/ld+json"]"#)
            .iter()
        {
            let source = script.text();
            let source = source.trim();
            let source = source
                .strip_prefix("<![CDATA[")
                .and_then(|s| s.strip_suffix("]]>"))
                .unwrap_or(source);
            // A block that is not valid JSON is skipped: publishers get it wrong often.
            let Ok(value) = serde_json::from_str::<Value>(source) else {
                continue;
            };
            for object in objects(&value) {
                let date = object.get("datePublished").and_then(Value::as_str);
                if any_date.is_none() {
                    any_date = date.map(str::to_owned);
                }
                if is_article(object) {
                    found.headline = object
                        .get("headline")
                        .and_then(Value::as_str)
                        .map(text::clean_title);
                    found.date_published = date.map(str::to_owned);
                    break;
                }
            }
            if found.headline.is_some() || found.date_published.is_some() {
                break;
            }
        }
        found.date_published = found.date_published.or(any_date);
        found
    }
}

/// The objects of a JSON-LD block: itself, the members of an array, and of `@graph`.
fn objects(value: &Value) -> Vec<&serde_json::Map<String, Value>> {
    let mut out = Vec::new();
    let mut stack = vec![value];
    while let Some(value) = stack.pop() {
        if out.len() >= MAX_JSON_LD_OBJECTS {
            break;
        }
        match value {
            Value::Array(items) => stack.extend(items.iter().rev()),
            Value::Object(object) => {
                out.push(object);
                if let Some(graph) = object.get("@graph") {
                    stack.push(graph);
                }
            }
            _ => {}
        }
    }
    out
}

/// `@type` names an article (`Article`, `NewsArticle`, `BlogPosting`, `schema:Report`, ...).
fn is_article(object: &serde_json::Map<String, Value>) -> bool {
    let is_article_type = |t: &str| {
        let name = t.rsplit(['/', ':']).next().unwrap_or(t);
        name.ends_with("Article") || name.ends_with("Posting") || name == "Report"
    };
    match object.get("@type") {
        Some(Value::String(t)) => is_article_type(t),
        Some(Value::Array(types)) => types.iter().filter_map(Value::as_str).any(is_article_type),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_page(html: &str, url: Option<&str>) -> PageMetadata {
        let url = url.map(|u| Url::parse(u).unwrap());
        read(&Document::from(html), url.as_ref())
    }

    #[test]
    fn headline_from_og_title_then_json_ld_then_title() {
        let ld = r#"<script type="application/ld+json">{"@context":"https://schema.org","@type":"NewsArticle","headline":"LD &amp; headline"}</script>"#;
        let og = r#"<meta property="og:title" content=" OG  &amp;amp; title ">"#;
        let title = "<title>Page &lt;title&gt; | Site</title>";
        let page = |head: &str| read_page(&format!("<html><head>{head}</head></html>"), None);
        assert_eq!(page(&format!("{title}{ld}{og}")).title, "OG &amp; title");
        assert_eq!(page(&format!("{title}{ld}")).title, "LD & headline");
        assert_eq!(page(title).title, "Page <title> | Site");
        assert_eq!(page(r#"<meta property="og:title" content=" ">"#).title, "");
        // An <svg> title in the body is not the page's.
        assert_eq!(
            read_page("<body><svg><title>icon</title></svg></body>", None).title,
            ""
        );
    }

    #[test]
    fn published_keeps_its_offset() {
        let page = read_page(
            r#"<script type="application/ld+json">
            [{"@type":"Organization","name":"x"},
             {"@context":"https://schema.org","@graph":[{"@type":"WebPage","datePublished":"2020-01-01T00:00:00Z"},
               {"@type":["Thing","BlogPosting"],"headline":"H","datePublished":"2023-02-03T22:40:00-05:00"}]}]
            </script>
            <meta property="article:published_time" content="2023-02-05T10:00:00Z">"#,
            None,
        );
        let published = page.published.unwrap();
        assert_eq!(published.to_rfc3339(), "2023-02-03T22:40:00-05:00");
        assert_eq!(published.date_naive().to_string(), "2023-02-03");
        assert_eq!(page.title, "H");
        // Without JSON-LD: the Open Graph article time.
        let page = read_page(
            r#"<meta name="article:published_time" content="2023-02-05T01:30:00+09:00">"#,
            None,
        );
        assert_eq!(
            page.published.unwrap().to_rfc3339(),
            "2023-02-05T01:30:00+09:00"
        );
        // A WebPage's date when no article has one; broken JSON is skipped.
        let page = read_page(
            r#"<script type="application/ld+json">{"@type": "Article",</script>
            <script type="application/ld+json"><![CDATA[{"@type":"WebPage","datePublished":"2021-06-07"}]]></script>"#,
            None,
        );
        assert_eq!(
            page.published.unwrap().to_rfc3339(),
            "2021-06-07T00:00:00+00:00"
        );
        assert_eq!(read_page("<p>no dates</p>", None).published, None);
        let page = read_page(
            r#"<meta property="article:published_time" content="yesterday">"#,
            None,
        );
        assert_eq!(page.published, None);
    }

    #[test]
    fn canonical_from_link_then_og_url_resolved() {
        let url = Some("https://news.example.org/2024/story.html?utm_source=x");
        let page = read_page(
            r#"<link rel="canonical" href="/2024/story"><meta property="og:url" content="https://og.example.org/s">"#,
            url,
        );
        assert_eq!(
            page.canonical_url.as_deref(),
            Some("https://news.example.org/2024/story")
        );
        let page = read_page(r#"<meta property="og:url" content="story-2">"#, url);
        assert_eq!(
            page.canonical_url.as_deref(),
            Some("https://news.example.org/2024/story-2")
        );
        // A relative address with no page address to resolve it against is unusable.
        let page = read_page(r#"<link rel="canonical" href="/a">"#, None);
        assert_eq!(page.canonical_url, None);
        // <base href> moves relative addresses; other schemes are refused.
        let page = read_page(
            r#"<base href="https://cdn.example.net/x/"><link rel="alternate canonical" href="y">"#,
            url,
        );
        assert_eq!(
            page.canonical_url.as_deref(),
            Some("https://cdn.example.net/x/y")
        );
        let page = read_page(
            r#"<link rel="canonical" href="javascript:alert(1)"><meta property="og:url" content="mailto:a@b">"#,
            url,
        );
        assert_eq!(page.canonical_url, None);
    }
}
