//! HTML parsed at a bounded cost, whatever the markup. `guard` says where the markup stops
//! being worth parsing; the parser then reads it in chunks while a count of its own stack walks
//! (every element name it looks at, every node it compares) stays under [`MAX_STEPS`] and its
//! time under [`MAX_PARSE_TIME`], for what the guard's model does not foresee. What is left is
//! reduced to text (tags dropped, blocks still ending paragraphs) and parsed on its own, flat,
//! so its text is never lost.

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use html5ever::tendril::{StrTendril, TendrilSink};
use html5ever::tree_builder::{ElementFlags, NodeOrText, QuirksMode, TreeSink};
use html5ever::{Attribute, QualName, local_name, ns};
use scraper::{Html, HtmlTreeSink};

use super::guard;
use super::lexer::{Lexer, Token};

/// The parser's stack walks (names read and nodes compared) past which the rest of an item's
/// markup is reduced to text: well above what `guard` lets through (each of its steps costs the
/// parser a few of these), so this only stops what the model misses.
const MAX_STEPS: u64 = 40_000_000;

/// Markup handed to the parser at a time, between two looks at the step count.
const CHUNK_BYTES: usize = 16 * 1024;

/// The last resort: parsing time past which the rest of the markup is reduced to text. The
/// guard and the step count stop every costly input known long before this (and
/// deterministically, so that the same item always gives the same document); the clock is only
/// there for what they might miss.
const MAX_PARSE_TIME: Duration = Duration::from_secs(1);

/// An HTML fragment parsed in two parts: its markup, and the rest reduced to text.
pub(super) struct Parsed {
    pub markup: Html,
    pub rest: Option<Html>,
}

pub(super) fn parse_fragment(html: &str) -> Parsed {
    let end = guard::markup_end(html);
    let (markup, parsed_to) = parse_metered(&html[..end]);
    let rest = &html[parsed_to..];
    Parsed {
        markup,
        rest: (!rest.is_empty()).then(|| Html::parse_fragment(&reduce_to_text(rest))),
    }
}

/// Parses `markup` as a fragment in the body, chunk by chunk, until it ends, the parser has
/// taken [`MAX_STEPS`] or [`MAX_PARSE_TIME`] has passed; says how far it got (a token's start).
fn parse_metered(markup: &str) -> (Html, usize) {
    let steps = Rc::new(Cell::new(0));
    let sink = MeteredSink {
        inner: HtmlTreeSink::new(Html::new_fragment()),
        steps: Rc::clone(&steps),
    };
    // As `Html::parse_fragment` does.
    let mut parser = html5ever::driver::parse_fragment(
        sink,
        Default::default(),
        QualName::new(None, ns!(html), local_name!("body")),
        Vec::new(),
        false,
    );
    let mut lexer = Lexer::new(markup);
    let mut at = 0;
    let started = Instant::now();
    while at < markup.len() && steps.get() <= MAX_STEPS && started.elapsed() < MAX_PARSE_TIME {
        // Chunks end where a token starts, so that what is left is whole tokens; at a
        // paragraph's end when there is one, so that if parsing stops there no paragraph is
        // split in two.
        let mut end = markup.len();
        while let Some((start, token)) = lexer.next_token() {
            if start >= at + 2 * CHUNK_BYTES
                || (start >= at + CHUNK_BYTES && guard::ends_paragraph(&token))
            {
                end = start;
                break;
            }
        }
        parser.process(StrTendril::from_slice(&markup[at..end]));
        at = end;
    }
    (parser.finish(), at)
}

/// The elements whose content is no text for a reader and no markup either.
const SKIPPED_CONTENT: &[&str] = &[
    "script", "style", "textarea", "title", "iframe", "noembed", "noframes",
];

/// Markup as text for the parser: tags dropped (a block or `<br>` becomes one `<br>`, a table
/// cell a space), comments and scripts dropped, entities left for the parser to decode once,
/// every other `<` escaped. The parser reads the result flat, at no cost beyond its length.
pub(super) fn reduce_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut lexer = Lexer::new(html);
    while let Some((_, token)) = lexer.next_token() {
        let name = match token {
            Token::Text(text) => {
                escape_into(&mut out, text, false);
                continue;
            }
            Token::Comment => continue,
            Token::End { name } => name.to_ascii_lowercase(),
            Token::Start { name, .. } => {
                let lower = name.to_ascii_lowercase();
                if SKIPPED_CONTENT.contains(&lower.as_str()) {
                    lexer.skip_raw_text(name);
                } else if lower == "xmp" {
                    let content = lexer.skip_raw_text(name);
                    escape_into(&mut out, content, true);
                } else if lower == "plaintext" {
                    let content = lexer.skip_rest();
                    escape_into(&mut out, content, true);
                }
                lower
            }
        };
        match name.as_str() {
            "td" | "th" => push_space(&mut out),
            "br" => push_break(&mut out),
            name if super::BLOCKS.contains(&name) => push_break(&mut out),
            _ => {}
        }
    }
    out
}

/// A space between cells; one is enough, and none is needed after a break.
fn push_space(out: &mut String) {
    if !out.ends_with(' ') && !out.ends_with("<br>") {
        out.push(' ');
    }
}

/// A paragraph break; breaks in a row, or with spaces before them, make no more paragraphs
/// than one (the parser would read a run of `<br>` at some cost for nothing).
fn push_break(out: &mut String) {
    out.truncate(out.trim_end_matches(' ').len());
    if !out.ends_with("<br>") {
        out.push_str("<br>");
    }
}

/// `text` with `<` (and `&` when it is literal) escaped.
fn escape_into(out: &mut String, text: &str, literal: bool) {
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '&' if literal => out.push_str("&amp;"),
            c => out.push(c),
        }
    }
}

/// scraper's tree sink, counting the calls with which the tree builder walks its stacks.
struct MeteredSink {
    inner: HtmlTreeSink,
    steps: Rc<Cell<u64>>,
}

impl MeteredSink {
    fn step(&self) {
        self.steps.set(self.steps.get() + 1);
    }
}

impl TreeSink for MeteredSink {
    type Handle = <HtmlTreeSink as TreeSink>::Handle;
    type Output = Html;
    type ElemName<'a>
        = <HtmlTreeSink as TreeSink>::ElemName<'a>
    where
        Self: 'a;

    fn finish(self) -> Html {
        self.inner.finish()
    }

    fn parse_error(&self, msg: std::borrow::Cow<'static, str>) {
        self.inner.parse_error(msg)
    }

    fn get_document(&self) -> Self::Handle {
        self.inner.get_document()
    }

    fn elem_name<'a>(&'a self, target: &'a Self::Handle) -> Self::ElemName<'a> {
        self.step();
        self.inner.elem_name(target)
    }

    fn create_element(
        &self,
        name: QualName,
        attrs: Vec<Attribute>,
        flags: ElementFlags,
    ) -> Self::Handle {
        self.step();
        self.inner.create_element(name, attrs, flags)
    }

    fn create_comment(&self, text: StrTendril) -> Self::Handle {
        self.inner.create_comment(text)
    }

    fn create_pi(&self, target: StrTendril, data: StrTendril) -> Self::Handle {
        self.inner.create_pi(target, data)
    }

    fn append(&self, parent: &Self::Handle, child: NodeOrText<Self::Handle>) {
        self.inner.append(parent, child)
    }

    fn append_based_on_parent_node(
        &self,
        element: &Self::Handle,
        prev_element: &Self::Handle,
        child: NodeOrText<Self::Handle>,
    ) {
        self.inner
            .append_based_on_parent_node(element, prev_element, child)
    }

    fn append_doctype_to_document(
        &self,
        name: StrTendril,
        public_id: StrTendril,
        system_id: StrTendril,
    ) {
        self.inner
            .append_doctype_to_document(name, public_id, system_id)
    }

    fn mark_script_already_started(&self, node: &Self::Handle) {
        self.inner.mark_script_already_started(node)
    }

    fn pop(&self, node: &Self::Handle) {
        self.inner.pop(node)
    }

    fn get_template_contents(&self, target: &Self::Handle) -> Self::Handle {
        self.inner.get_template_contents(target)
    }

    fn same_node(&self, x: &Self::Handle, y: &Self::Handle) -> bool {
        self.step();
        self.inner.same_node(x, y)
    }

    fn set_quirks_mode(&self, mode: QuirksMode) {
        self.inner.set_quirks_mode(mode)
    }

    fn append_before_sibling(&self, sibling: &Self::Handle, new_node: NodeOrText<Self::Handle>) {
        self.inner.append_before_sibling(sibling, new_node)
    }

    fn add_attrs_if_missing(&self, target: &Self::Handle, attrs: Vec<Attribute>) {
        self.inner.add_attrs_if_missing(target, attrs)
    }

    fn associate_with_form(
        &self,
        target: &Self::Handle,
        form: &Self::Handle,
        nodes: (&Self::Handle, Option<&Self::Handle>),
    ) {
        self.inner.associate_with_form(target, form, nodes)
    }

    fn remove_from_parent(&self, target: &Self::Handle) {
        self.step();
        self.inner.remove_from_parent(target)
    }

    fn reparent_children(&self, node: &Self::Handle, new_parent: &Self::Handle) {
        self.step();
        self.inner.reparent_children(node, new_parent)
    }

    fn is_mathml_annotation_xml_integration_point(&self, handle: &Self::Handle) -> bool {
        self.inner
            .is_mathml_annotation_xml_integration_point(handle)
    }

    fn set_current_line(&self, line_number: u64) {
        self.inner.set_current_line(line_number)
    }

    fn allow_declarative_shadow_roots(&self, intended_parent: &Self::Handle) -> bool {
        self.inner.allow_declarative_shadow_roots(intended_parent)
    }

    fn attach_declarative_shadow(
        &self,
        location: &Self::Handle,
        template: &Self::Handle,
        attrs: &[Attribute],
    ) -> bool {
        self.inner
            .attach_declarative_shadow(location, template, attrs)
    }

    fn maybe_clone_an_option_into_selectedcontent(&self, option: &Self::Handle) {
        self.inner
            .maybe_clone_an_option_into_selectedcontent(option)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reduced_markup_keeps_text_and_paragraph_breaks() {
        assert_eq!(
            reduce_to_text("<p>a &amp; <b>b</b></p><div>c<td>d</td>e<script>x<y</script>f"),
            "<br>a &amp; b<br>c d ef"
        );
        assert_eq!(reduce_to_text("1 < 2 <!-- c --> 3"), "1 &lt; 2  3");
        assert_eq!(
            reduce_to_text("<xmp><b>&amp;</b></xmp>"),
            "&lt;b>&amp;amp;&lt;/b>"
        );
    }

    #[test]
    fn chunked_parsing_gives_the_tree_of_one_parse() {
        let html =
            "<p>para <b>bold &amp; <i>both</i></b></p>\r\n<ul><li>one<li>two</ul>".repeat(2_000);
        let (chunked, parsed_to) = parse_metered(&html);
        assert_eq!(parsed_to, html.len());
        assert_eq!(chunked.html(), Html::parse_fragment(&html).html());
    }
}
