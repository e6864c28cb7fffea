//! How deep a page's tags nest, by a cheap count of start and end tags, before any parser sees
//! it. The HTML tree builder's scope checks cost time in proportion to the depth at every tag,
//! and the extractor walks the tree, so a hostile page of 100,000 nested tags would keep a
//! thread busy for minutes; real pages nest a few dozen deep.
//!
//! `text` guards the feed bodies it renders the same way (its private `limit_nesting`, which
//! cuts the markup instead: a body must render). A page is refused instead: the feed's own
//! text is still there.

/// Elements that never stay open (void) or that the tree builder closes by itself when the
/// next one starts: they do not deepen the tree.
const SHALLOW: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
    "track", "wbr", "p", "li", "dt", "dd", "tr", "td", "th", "option",
];

/// Elements whose content is text, not markup: a `<` in a script is no tag.
const RAW_TEXT: &[&str] = &[
    "script", "style", "textarea", "title", "xmp", "iframe", "noembed", "noframes",
];

/// Whether the start tags of `html` ever stand more than `limit` deep.
pub fn deeper_than(html: &str, limit: usize) -> bool {
    let bytes = html.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while let Some(offset) = memchr(b'<', &bytes[i..]) {
        let at = i + offset;
        if bytes[at..].starts_with(b"<!--") {
            i = find(b"-->", bytes, at + 4).map_or(bytes.len(), |e| e + 3);
            continue;
        }
        let Some(end) = memchr(b'>', &bytes[at + 1..]).map(|p| at + 1 + p) else {
            break;
        };
        let tag = &html[at + 1..end];
        i = end + 1;
        if let Some(name) = tag.strip_prefix('/') {
            if !SHALLOW.contains(&tag_name(name).as_str()) {
                depth = depth.saturating_sub(1);
            }
        } else if tag.starts_with(|c: char| c.is_ascii_alphabetic()) {
            let name = tag_name(tag);
            if RAW_TEXT.contains(&name.as_str()) {
                // Skip to the end tag, which the parser needs to leave the element.
                i = find_end_tag(bytes, i, &name).unwrap_or(bytes.len());
            } else if !tag.ends_with('/') && !SHALLOW.contains(&name.as_str()) {
                depth += 1;
                if depth > limit {
                    return true;
                }
            }
        }
    }
    false
}

fn find(needle: &[u8], haystack: &[u8], from: usize) -> Option<usize> {
    haystack[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| from + p)
}

/// Where `</name` (any case) starts at or after `from`.
fn find_end_tag(bytes: &[u8], from: usize, name: &str) -> Option<usize> {
    let mut at = from;
    while let Some(p) = find(b"</", bytes, at) {
        let rest = &bytes[p + 2..];
        if rest.len() >= name.len() && rest[..name.len()].eq_ignore_ascii_case(name.as_bytes()) {
            return Some(p);
        }
        at = p + 2;
    }
    None
}

fn memchr(needle: u8, haystack: &[u8]) -> Option<usize> {
    haystack.iter().position(|&b| b == needle)
}

fn tag_name(tag: &str) -> String {
    tag.split(|c: char| c.is_ascii_whitespace() || c == '/' || c == '>')
        .next()
        .unwrap_or("")
        .to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_open_elements_only() {
        let nested = |n: usize| format!("{}x{}", "<div>".repeat(n), "</div>".repeat(n));
        assert!(!deeper_than(&nested(10), 10));
        assert!(deeper_than(&nested(11), 10));
        // Closed siblings, void and self-closing tags, paragraphs left open: all shallow.
        assert!(!deeper_than(&"<div>a</div>".repeat(1000), 1));
        assert!(!deeper_than(&"<p>a<br><img src=x><x/>".repeat(1000), 0));
        // Comments, doctypes and stray `<` are not tags.
        assert!(!deeper_than(
            &"<!-- c --><!doctype html> a < b".repeat(100),
            0
        ));
        assert!(!deeper_than("<div", 0));
        // Markup inside scripts, styles and comments opens nothing.
        let hidden =
            "<script>for(i=0;i<n;i++){s+='<div>'}</SCRIPT><!-- <div><div> --><style>a<b{}</style>";
        assert!(!deeper_than(&hidden.repeat(100), 0));
        assert!(deeper_than(&format!("{hidden}<div>"), 0));
    }
}
