//! The main content trimmed of what is not the article, then rendered to paragraphs.
//!
//! Readability keeps whatever sits inside the article's container: captions, bylines, share
//! bars, lists of related stories. Two kinds of rule take them out: elements, by their tag, their
//! class and id names, or the share of their text inside links; and rendered paragraphs, by
//! their words (`furniture`). Each rule can be turned off (`Cleanup`) so that the benchmark
//! (`cargo bench --bench extract -- --rules`) shows what it is worth; every one kept raises F1
//! on the benchmark's pages, and rules that did not (hidden text, headings of link lists) were
//! dropped.

use dom_query::{Document, NodeRef, Selection};

use super::furniture;
use crate::text;

/// Which post-processing rules run; all by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cleanup {
    /// `figure`, `figcaption`, and elements named for captions, credits and galleries.
    pub captions: bool,
    /// Lines that are photo credits ("© Aaron Schwartz", "Photo: ..., AP").
    pub credit_lines: bool,
    /// Elements named for bylines, authors and time stamps.
    pub bylines: bool,
    /// Lines that are bylines ("By Justine Coleman - 11/18/19").
    pub byline_lines: bool,
    /// Lines that are time stamps ("Updated 1:39 am EST, Wednesday, November 20, 2019").
    pub time_stamps: bool,
    /// Elements named for share bars, newsletters, ads, comments, tags, related content.
    pub widgets: bool,
    /// Lines made of interface words only ("Share Tweet Submit", "Comments").
    pub interface_lines: bool,
    /// Lists whose text is nearly all links (related stories, "most read").
    pub link_lists: bool,
    /// Paragraphs whose text is all one or more links ("Read more: ...", promoted headlines).
    pub link_paragraphs: bool,
}

impl Default for Cleanup {
    fn default() -> Cleanup {
        Cleanup::ALL
    }
}

impl Cleanup {
    pub const ALL: Cleanup = Cleanup {
        captions: true,
        credit_lines: true,
        bylines: true,
        byline_lines: true,
        time_stamps: true,
        widgets: true,
        interface_lines: true,
        link_lists: true,
        link_paragraphs: true,
    };
    pub const NONE: Cleanup = Cleanup {
        captions: false,
        credit_lines: false,
        bylines: false,
        byline_lines: false,
        time_stamps: false,
        widgets: false,
        interface_lines: false,
        link_lists: false,
        link_paragraphs: false,
    };
}

/// Parts of class and id names (split at `-` and `_`) that mark a caption, when they contain
/// one of these.
const CAPTION_MARKS: &[&str] = &[
    "caption",
    "credit",
    "copyright",
    "gallery",
    "slideshow",
    "carousel",
];
const BYLINE_MARKS: &[&str] = &[
    "byline",
    "author",
    "timestamp",
    "dateline",
    "published",
    "updated",
];
const WIDGET_MARKS: &[&str] = &[
    "share",
    "sharing",
    "social",
    "newsletter",
    "subscribe",
    "subscription",
    "signup",
    "advert",
    "promo",
    "sponsor",
    "comment",
    "related",
    "recommended",
    "popular",
    "trending",
    "breadcrumb",
    "toolbar",
];
/// Whole parts only: inside words they mean other things ("header", "download").
const WIDGET_WORDS: &[&str] = &["ad", "ads", "tags", "print"];

/// An element is removed only when it holds less than this share of the content's text: a
/// wrapper of the whole article may carry any class.
const MAX_REMOVED_SHARE: f64 = 1.0 / 3.0;

/// Share of a list's text inside links from which it is a list of links.
const LINK_LIST_DENSITY: f64 = 0.8;

/// Share of a paragraph's text inside links from which it is all links.
const LINK_PARAGRAPH_DENSITY: f64 = 0.9;

/// Words at most in the label before a paragraph's link ("Read more:", "Related post:").
const LABEL_WORDS: usize = 3;

/// Words at least in the link after such a label: a headline, not a name or a handle.
const HEADLINE_WORDS: usize = 3;

/// The paragraphs of the article in `content`, the HTML of the main content with its classes.
pub fn paragraphs(content: &str, rules: Cleanup) -> Vec<String> {
    let document = Document::fragment(content);
    let total = text_length(&document.root()).max(1) as f64;
    let doomed: Vec<NodeRef> = document
        .root()
        .descendants_it()
        .filter(|node| node.is_element() && is_not_article(node, rules))
        .filter(|node| (text_length(node) as f64) < MAX_REMOVED_SHARE * total)
        .collect();
    for node in &doomed {
        node.remove_from_parent();
    }
    let mut paragraphs = text::html_to_paragraphs(&document.html());
    paragraphs.retain(|p| !furniture::is_furniture(p, rules));
    paragraphs
}

fn is_not_article(node: &NodeRef, rules: Cleanup) -> bool {
    let Some(tag) = node.node_name() else {
        return false;
    };
    let tag = tag.as_ref();
    let parts = name_parts(node);
    let marked = |marks: &[&str]| parts.iter().any(|p| marks.iter().any(|m| p.contains(m)));
    (rules.captions && (matches!(tag, "figure" | "figcaption") || marked(CAPTION_MARKS)))
        || (rules.bylines && marked(BYLINE_MARKS))
        || (rules.widgets
            && (marked(WIDGET_MARKS) || parts.iter().any(|p| WIDGET_WORDS.contains(&p.as_str()))))
        || (rules.link_lists && matches!(tag, "ul" | "ol") && is_link_list(node))
        || (rules.link_paragraphs && tag == "p" && is_link_paragraph(node))
}

/// The lower-cased parts of an element's class and id names, split at white space, `-` and
/// `_`.
fn name_parts(node: &NodeRef) -> Vec<String> {
    let mut parts = Vec::new();
    for attribute in ["class", "id"] {
        if let Some(value) = node.attr(attribute) {
            parts.extend(
                value
                    .to_ascii_lowercase()
                    .split(|c: char| c.is_ascii_whitespace() || c == '-' || c == '_')
                    .filter(|p| !p.is_empty())
                    .map(str::to_owned),
            );
        }
    }
    parts
}

/// A list of at least two items whose text is nearly all inside links.
fn is_link_list(list: &NodeRef) -> bool {
    let items = list
        .element_children()
        .iter()
        .filter(|c| c.has_name("li"))
        .count();
    items >= 2 && link_share(list) >= LINK_LIST_DENSITY
}

/// A paragraph whose text is all inside links, or all but a label ("Read more: ..."), unless
/// the text is an address: a source cited as its URL is part of the article.
fn is_link_paragraph(paragraph: &NodeRef) -> bool {
    let text = paragraph.text();
    let text = text.trim();
    if text.is_empty() || text.starts_with("http") || text.starts_with("www.") {
        return false;
    }
    if link_share(paragraph) >= LINK_PARAGRAPH_DENSITY {
        return true;
    }
    let links = Selection::from(*paragraph).select("a");
    // A label, short and ending in a colon, then a link that reads as a headline: "Read
    // more: Tencent profit falls". "Account: @name" is a handle, which the article cites.
    let Some(first_link) = links.nodes().first().map(|a| a.text()) else {
        return false;
    };
    let link_text = first_link.trim();
    let Some(label) = text
        .find(link_text)
        .filter(|_| !link_text.is_empty())
        .map(|at| text[..at].trim())
    else {
        return false;
    };
    label.ends_with(':')
        && label.split_whitespace().count() <= LABEL_WORDS
        && link_text.split_whitespace().count() >= HEADLINE_WORDS
        && text_length(paragraph).saturating_sub(link_text_length(paragraph))
            <= label.chars().filter(|c| !c.is_whitespace()).count()
}

/// The share of `node`'s text inside links (0 when it has none).
fn link_share(node: &NodeRef) -> f64 {
    match text_length(node) {
        0 => 0.0,
        all => link_text_length(node) as f64 / all as f64,
    }
}

/// Characters of text inside the links of `node`, white space left out.
fn link_text_length(node: &NodeRef) -> usize {
    Selection::from(*node)
        .select("a")
        .nodes()
        .iter()
        .map(text_length)
        .sum()
}

/// Characters of text, white space left out.
fn text_length(node: &NodeRef) -> usize {
    node.text().chars().filter(|c| !c.is_whitespace()).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clean(html: &str) -> Vec<String> {
        paragraphs(html, Cleanup::ALL)
    }

    const ARTICLE: &str = "<p>The council voted on Tuesday to close the old bridge to cars, after \
        engineers found cracks in two of its piers during a routine inspection last month.</p>\
        <p>Cyclists and pedestrians may still cross while repairs go on.</p>";

    #[test]
    fn captions_and_credits_go() {
        let html = format!(
            "<figure><img src=x><figcaption>The bridge at dawn</figcaption></figure>\
             <div class=\"image-credit\">Jane Roe</div>{ARTICLE}<p>© Jane Roe</p>\
             <p>Photo: Damian Dovarganes, AP</p>"
        );
        assert_eq!(clean(&html), clean(ARTICLE));
        assert_eq!(clean(ARTICLE).len(), 2);
    }

    #[test]
    fn bylines_time_stamps_and_widgets_go() {
        let html = format!(
            "<p class=\"byline\">Jane Roe, City Desk</p><p>By Jane Roe - 11/18/19 11:04 PM EST</p>\
             <p>Updated 1:39 am EST, Wednesday, November 20, 2019</p>{ARTICLE}\
             <div class=\"share-bar\">Share on Facebook</div><p>Share Tweet Submit</p>\
             <aside id=\"newsletter_box\">Get our newsletter</aside><div class=\"ad\">Buy</div>"
        );
        assert_eq!(clean(&html), clean(ARTICLE));
    }

    #[test]
    fn link_lists_and_link_paragraphs_go() {
        let html = format!(
            "{ARTICLE}<p>Read more: <a href=/a>Bridge closures across the county</a></p>\
             <ul><li><a href=/b>Story one</a></li><li><a href=/c>Story two</a></li></ul>"
        );
        assert_eq!(clean(&html), clean(ARTICLE));
    }

    #[test]
    fn what_reads_as_the_article_stays() {
        // A prose "By ...", a time of day alone, a phone number, a cited address, a list with
        // some links, an ordinary class name: all kept.
        let kept = [
            "<p>By the time the crews arrived, the pier had moved.</p>",
            "<p>4:14 p.m.</p>",
            "<p>02-751-1500</p>",
            "<p><a href=\"http://example.org/r\">http://example.org/report.pdf</a></p>",
            "<ul><li>Cracks in <a href=/p>two piers</a> and the deck</li><li>Rust on the rails</li></ul>",
            "<p class=\"lead\">A lead paragraph.</p>",
            "<p>Account: <a href=/u>@kitchen_ghosts</a></p>",
        ];
        for html in kept {
            assert_eq!(clean(html), text::html_to_paragraphs(html), "{html}");
            assert!(!clean(html).is_empty(), "{html}");
        }
    }

    #[test]
    fn a_wrapper_of_the_whole_article_is_never_removed() {
        // Its class says "comments", but it holds the article.
        let html = format!("<div class=\"comments-enabled\">{ARTICLE}</div><p>Note.</p>");
        assert_eq!(clean(&html).len(), 3);
    }

    #[test]
    fn no_rule_keeps_everything() {
        let html =
            format!("<figure><figcaption>Cap</figcaption></figure>{ARTICLE}<p>By Jane Roe</p>");
        assert_eq!(
            paragraphs(&html, Cleanup::NONE),
            text::html_to_paragraphs(&html)
        );
    }
}
