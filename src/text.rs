//! The document form (FORMAT.md): HTML and plain text to paragraphs, titles, and the whole
//! document; parsing a document back and checking that one obeys the form. Pure.
//!
//! HTML is parsed as a browser would (html5ever, via scraper), at a bounded cost whatever the
//! markup (`bounded`), and walked with an explicit stack, not recursion, so that no nesting
//! depth can overflow the stack.

mod bounded;
mod guard;
mod lexer;

use ego_tree::NodeRef;
use scraper::Node;

/// Elements that end the current paragraph before and after themselves (FORMAT.md rule 1; `li`,
/// `tr`, `pre` and `blockquote` have rules of their own on top).
const BLOCKS: &[&str] = &[
    "p",
    "div",
    "section",
    "article",
    "main",
    "header",
    "footer",
    "aside",
    "nav",
    "address",
    "center",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "ul",
    "ol",
    "li",
    "dl",
    "dt",
    "dd",
    "figure",
    "figcaption",
    "table",
    "caption",
    "thead",
    "tbody",
    "tfoot",
    "tr",
    "form",
    "fieldset",
    "legend",
    "details",
    "summary",
    "hr",
    "pre",
    "blockquote",
    "body",
    "html",
];

/// Elements dropped with everything inside them (rule 6).
const DROPPED: &[&str] = &[
    "script", "style", "noscript", "template", "iframe", "frame", "object", "embed", "applet",
    "video", "audio", "source", "track", "canvas", "svg", "math", "img", "picture", "map", "area",
    "input", "button", "select", "option", "textarea", "head", "title", "meta", "link", "base",
];

/// Characters that carry no text (rule 4). White space is handled by rule 3 instead.
fn is_invisible(c: char) -> bool {
    matches!(c, '\u{00AD}' | '\u{200B}' | '\u{FEFF}') || (c.is_control() && !c.is_whitespace())
}

/// Builds paragraphs from a stream of text and breaks, applying rules 3 and 4 as it goes.
struct Paragraphs {
    done: Vec<String>,
    current: String,
    pending_space: bool,
    /// Inside a blockquote (or a title) every break is a space: the whole is one paragraph.
    joined: usize,
}

impl Paragraphs {
    fn new() -> Paragraphs {
        Paragraphs {
            done: Vec::new(),
            current: String::new(),
            pending_space: false,
            joined: 0,
        }
    }

    fn text(&mut self, text: &str) {
        for c in text.chars() {
            if c.is_whitespace() {
                self.pending_space = true;
            } else if !is_invisible(c) {
                if self.pending_space && !self.current.is_empty() {
                    self.current.push(' ');
                }
                self.pending_space = false;
                self.current.push(c);
            }
        }
    }

    /// Ends the current paragraph (rules 1, 7, 8), or adds a space when joined (rule 9).
    fn end(&mut self) {
        if self.joined > 0 {
            self.pending_space = true;
        } else {
            if !self.current.is_empty() {
                self.done.push(std::mem::take(&mut self.current));
            }
            self.pending_space = false;
        }
    }

    fn finish(mut self) -> Vec<String> {
        self.joined = 0;
        self.end();
        self.done
    }
}

/// One step of the walk: enter a node, or leave an element entered before.
enum Step<'a> {
    Enter(NodeRef<'a, Node>),
    Leave(&'a str),
}

fn walk(root: NodeRef<'_, Node>, out: &mut Paragraphs) {
    let mut stack = vec![Step::Enter(root)];
    let mut in_pre = 0usize;
    while let Some(step) = stack.pop() {
        match step {
            Step::Leave(name) => match name {
                "blockquote" => {
                    out.joined -= 1;
                    out.end();
                }
                "pre" => {
                    in_pre -= 1;
                    out.end();
                }
                _ => out.end(),
            },
            Step::Enter(node) => match node.value() {
                Node::Text(text) if in_pre > 0 => {
                    // Rule 13: in <pre> every line is a paragraph.
                    for (i, line) in text.split('\n').enumerate() {
                        if i > 0 {
                            out.end();
                        }
                        out.text(line);
                    }
                }
                Node::Text(text) => out.text(text),
                Node::Element(element) => {
                    let name = element.name();
                    if DROPPED.contains(&name) {
                        continue;
                    }
                    match name {
                        "br" => {
                            out.end();
                            continue;
                        }
                        // Rule 12: cells of a row are joined by one space.
                        "td" | "th" => out.pending_space = true,
                        "blockquote" => {
                            out.end();
                            out.joined += 1;
                        }
                        "pre" => {
                            out.end();
                            in_pre += 1;
                        }
                        _ if BLOCKS.contains(&name) => out.end(),
                        _ => {}
                    }
                    if BLOCKS.contains(&name) {
                        stack.push(Step::Leave(name));
                    }
                    let children: Vec<_> = node.children().collect();
                    stack.extend(children.into_iter().rev().map(Step::Enter));
                }
                // Comments, doctypes and processing instructions leave nothing (rule 6).
                Node::Document | Node::Fragment => {
                    let children: Vec<_> = node.children().collect();
                    stack.extend(children.into_iter().rev().map(Step::Enter));
                }
                _ => {}
            },
        }
    }
}

/// An HTML fragment to paragraphs (rules 1-13): each non-empty, trimmed, single-spaced.
pub fn html_to_paragraphs(html: &str) -> Vec<String> {
    let mut out = Paragraphs::new();
    walk_fragment(html, &mut out);
    out.finish()
}

/// Parses `html` at a bounded cost and walks it: its markup, then whatever was reduced to text.
fn walk_fragment(html: &str, out: &mut Paragraphs) {
    let parsed = bounded::parse_fragment(html);
    walk(parsed.markup.tree.root(), out);
    if let Some(rest) = &parsed.rest {
        walk(rest.tree.root(), out);
    }
}

/// Plain text (Atom `type="text"`, JSON Feed `content_text`) to paragraphs: no markup and no
/// entities are interpreted; every line break ends a paragraph, as `<br>` does in HTML.
pub fn text_to_paragraphs(text: &str) -> Vec<String> {
    let mut out = Paragraphs::new();
    for line in text.split(['\n', '\r']) {
        out.text(line);
        out.end();
    }
    out.finish()
}

/// The TITLE rule: entities decoded once, tags removed, white space collapsed, trimmed.
pub fn clean_title(raw: &str) -> String {
    let mut out = Paragraphs::new();
    // A title is one line whatever its markup: every break becomes a space.
    out.joined = 1;
    walk_fragment(raw, &mut out);
    out.finish().pop().unwrap_or_default()
}

/// The BODY: paragraphs joined by one blank line, less a first paragraph that repeats the title
/// (rule 14, compared without regard to case).
pub fn body_from_paragraphs(title: &str, mut paragraphs: Vec<String>) -> String {
    if !title.is_empty()
        && paragraphs
            .first()
            .is_some_and(|first| first.to_lowercase() == title.to_lowercase())
    {
        paragraphs.remove(0);
    }
    paragraphs.join("\n\n")
}

/// The whole document: the header, then the body after a blank line when there is one.
pub fn document(date: &str, title: &str, body: &str) -> String {
    let mut doc = String::with_capacity(body.len() + title.len() + 20);
    doc.push_str(" date ");
    doc.push_str(date);
    if !title.is_empty() {
        doc.push(' ');
        doc.push_str(title);
    }
    if !body.is_empty() {
        doc.push_str("\n\n");
        doc.push_str(body);
    }
    doc
}

/// A document read back into its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedDocument<'a> {
    pub date: &'a str,
    pub title: &'a str,
    pub paragraphs: Vec<&'a str>,
}

/// Reads a document, accepting runs of blank lines between paragraphs (the bundled sample has
/// one stray empty paragraph). `None` when the header is not of the form.
pub fn parse_document(doc: &str) -> Option<ParsedDocument<'_>> {
    let (header, body) = doc.split_once('\n').unwrap_or((doc, ""));
    let rest = header.strip_prefix(" date ")?;
    let date = rest.get(..10)?;
    let title = match &rest[10..] {
        "" => "",
        t => t.strip_prefix(' ')?,
    };
    if !is_date(date) {
        return None;
    }
    let paragraphs = body.split('\n').filter(|p| !p.is_empty()).collect();
    Some(ParsedDocument {
        date,
        title,
        paragraphs,
    })
}

fn is_date(text: &str) -> bool {
    text.len() == 10 && chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").is_ok()
}

/// Checks a document against the form exactly as the daemon writes it; the error names the
/// first thing wrong.
pub fn check_document(doc: &str) -> Result<(), String> {
    if let Some(c) = doc
        .chars()
        .find(|&c| c == '\r' || c == '\t' || is_invisible(c) && c != '\n')
    {
        return Err(format!("forbidden character {c:?}"));
    }
    let mut parts = doc.split("\n\n");
    let header = parts.next().unwrap_or_default();
    let parsed = parse_document(header).ok_or_else(|| format!("bad header {header:?}"))?;
    if header.contains('\n') {
        return Err(format!("the header {header:?} spans lines"));
    }
    check_line(parsed.title).map_err(|e| format!("title: {e}"))?;
    for (i, paragraph) in parts.enumerate() {
        if paragraph.is_empty() {
            return Err(format!("paragraph {i} is empty"));
        }
        if paragraph.contains('\n') {
            return Err(format!("paragraph {i} has a line break: {paragraph:?}"));
        }
        check_line(paragraph).map_err(|e| format!("paragraph {i}: {e}"))?;
    }
    Ok(())
}

fn check_line(line: &str) -> Result<(), String> {
    if line.starts_with(char::is_whitespace) || line.ends_with(char::is_whitespace) {
        return Err(format!("leading or trailing space in {line:?}"));
    }
    if line.chars().any(|c| c.is_whitespace() && c != ' ') {
        return Err(format!("white space other than a single space in {line:?}"));
    }
    if line.contains("  ") {
        return Err(format!("a run of spaces in {line:?}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(html: &str) -> String {
        html_to_paragraphs(html).join("\n\n")
    }

    #[test]
    fn blocks_and_inline() {
        assert_eq!(
            body("<p>a</p>text<div>b<span>c</span></div>"),
            "a\n\ntext\n\nbc"
        );
        assert_eq!(
            body("<article><h1>H</h1><section><p>x</p></section></article>"),
            "H\n\nx"
        );
        assert_eq!(body("<unknown>in</unknown>line"), "inline");
        assert_eq!(body("<dl><dt>term</dt><dd>def</dd></dl>"), "term\n\ndef");
    }

    #[test]
    fn empty_inputs() {
        assert!(html_to_paragraphs("").is_empty());
        assert!(html_to_paragraphs("   \n\t ").is_empty());
        assert!(html_to_paragraphs("<p><img src=x></p><br><br>").is_empty());
        assert!(html_to_paragraphs("<p>&nbsp;\u{200B}</p>").is_empty());
        assert!(text_to_paragraphs("\n\n  \n").is_empty());
    }

    #[test]
    fn blockquotes_are_one_paragraph_even_nested() {
        assert_eq!(
            body(
                "<p>before</p><blockquote><p>a</p><blockquote><p>b<br>c</p></blockquote>d</blockquote>after"
            ),
            "before\n\na b c d\n\nafter"
        );
    }

    #[test]
    fn tables_lists_and_pre() {
        assert_eq!(
            body("<table><caption>Cap</caption><tr><td>a</td><td>b</td></tr></table>"),
            "Cap\n\na b"
        );
        assert_eq!(
            body("<tr><td>x</td><td>y</td></tr>"),
            "xy",
            "cells outside a table are not cells"
        );
        assert_eq!(
            body("<table><tr><td> a </td><td></td><td>c</td></tr></table>"),
            "a c"
        );
        assert_eq!(
            body("<ol><li>one<ol><li>two</li></ol></li><li>three</li></ol>"),
            "one\n\ntwo\n\nthree"
        );
        assert_eq!(body("<pre>  a\n\n  b  c\n</pre>d"), "a\n\nb c\n\nd");
    }

    #[test]
    fn dropped_elements_leave_nothing() {
        assert_eq!(body("a<script>x</script>b"), "ab");
        assert_eq!(body("<p>a</p><svg><text>t</text></svg><p>b</p>"), "a\n\nb");
        assert_eq!(
            body("<figure><picture><img alt=z></picture><figcaption>cap</figcaption></figure>"),
            "cap"
        );
        assert_eq!(body("x<!-- c -->y<template>t</template>"), "xy");
    }

    #[test]
    fn whitespace_and_invisible_characters() {
        assert_eq!(body("<p>a\u{00A0}\u{2009}b\u{3000}c</p>"), "a b c");
        assert_eq!(
            body("<p>s\u{00AD}o\u{200B}f\u{FEFF}t\u{7F}\u{1}</p>"),
            "soft"
        );
        assert_eq!(body("<p> <b> bold </b> </p>"), "bold");
        assert_eq!(
            text_to_paragraphs("  a  b \r\n\tc\u{0}d\n"),
            vec!["a b", "cd"]
        );
        assert_eq!(text_to_paragraphs("x <b>&amp;</b>"), vec!["x <b>&amp;</b>"]);
    }

    #[test]
    fn entities_are_decoded_once() {
        assert_eq!(body("&amp;lt;b&amp;gt; &lt;i&gt;"), "&lt;b&gt; <i>");
        assert_eq!(clean_title("Q&amp;A <b>x</b>"), "Q&A x");
        assert_eq!(clean_title("A &amp;amp; B"), "A &amp; B");
    }

    #[test]
    fn titles_are_one_line() {
        assert_eq!(clean_title(" <p>Two</p><p>blocks</p> "), "Two blocks");
        assert_eq!(clean_title("a<br>b"), "a b");
        assert_eq!(clean_title("x < y"), "x < y");
        assert_eq!(clean_title(""), "");
        assert_eq!(clean_title("<img src=x>"), "");
    }

    #[test]
    fn title_echo_is_dropped_once_and_only_first() {
        let p = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            body_from_paragraphs("Big News", p(&["BIG NEWS", "Text", "Big News"])),
            "Text\n\nBig News"
        );
        assert_eq!(
            body_from_paragraphs("Big News", p(&["Text", "Big News"])),
            "Text\n\nBig News"
        );
        assert_eq!(body_from_paragraphs("Ünïcode", p(&["üNÏCODE"])), "");
    }

    #[test]
    fn documents_and_headers() {
        assert_eq!(
            document("2023-02-03", "T", "a\n\nb"),
            " date 2023-02-03 T\n\na\n\nb"
        );
        assert_eq!(document("2023-02-03", "", "a"), " date 2023-02-03\n\na");
        assert_eq!(document("2023-02-03", "", ""), " date 2023-02-03");
        let doc = document("2023-02-03", "T x", "a\n\nb");
        let parsed = parse_document(&doc).unwrap();
        assert_eq!(
            (parsed.date, parsed.title, parsed.paragraphs),
            ("2023-02-03", "T x", vec!["a", "b"])
        );
        assert_eq!(parse_document(" date 2023-02-03").unwrap().title, "");
        for bad in [
            "date 2023-02-03 T",
            " date 2023-13-03 T",
            " date 2023-02-03T",
            " date 23-02-03",
        ] {
            assert_eq!(parse_document(bad), None, "{bad}");
        }
    }

    #[test]
    fn check_document_names_each_violation() {
        assert!(check_document(" date 2023-02-03 T\n\na\n\nb").is_ok());
        assert!(check_document(" date 2023-02-03").is_ok());
        let cases = [
            (" date 2023-02-03 T\n\na\n\n\n\nb", "empty"),
            (" date 2023-02-03 T\n\na\n", "line break"),
            (" date 2023-02-03 T\n\na\nb", "line break"),
            (" date 2023-02-03 T\n\n a", "leading"),
            (" date 2023-02-03 T\n\na  b", "run of spaces"),
            (" date 2023-02-03 T\n\na\tb", "forbidden"),
            (" date 2023-02-03 T\r\n\r\na", "forbidden"),
            ("\u{FEFF} date 2023-02-03 T", "forbidden"),
            (" date 2023-02-03 T\n\na\u{00A0}b", "white space other"),
            (" date 2023-02-03 T \n\na", "title"),
            ("date 2023-02-03 T\n\na", "header"),
        ];
        for (doc, needle) in cases {
            let err = check_document(doc).unwrap_err();
            assert!(err.contains(needle), "{doc:?}: {err}");
        }
    }

    #[test]
    fn hostile_nesting_is_cut_short_and_keeps_its_text() {
        let depth = 200_000;
        let html = format!(
            "{}deep{}",
            "<div><b>".repeat(depth),
            "</b></div>".repeat(depth)
        );
        assert_eq!(html_to_paragraphs(&html), vec!["deep"]);
        let quotes = format!(
            "<p>a</p>{}q{}",
            "<blockquote>".repeat(depth),
            "</blockquote>".repeat(depth)
        );
        assert_eq!(html_to_paragraphs(&quotes), vec!["a", "q"]);
        // Many unclosed paragraphs are not nesting.
        let flat = "<p>x".repeat(5_000);
        assert_eq!(html_to_paragraphs(&flat).len(), 5_000);
        // Ordinary depth is untouched.
        let html = format!(
            "{}<p>a</p><p>b</p>{}",
            "<div>".repeat(100),
            "</div>".repeat(100)
        );
        assert_eq!(guard::markup_end(&html), html.len());
        assert_eq!(html_to_paragraphs(&html), vec!["a", "b"]);
    }
}
