//! Where markup stops being worth parsing. The HTML tree builder checks scopes by walking its
//! stack of open elements, so a tag costs time in proportion to the depth: 1 MB of `<div/>` or of
//! `<span></x>` (markup that opens elements and never closes them) keeps it busy for minutes.
//! This module runs a cheap model of that stack over the markup first (elements opened, closed,
//! implied and reopened as the HTML5 rules do it, roughly, erring towards more open elements,
//! and the list of formatting elements the parser reopens) and says where the markup must
//! stop: past [`MAX_NESTING`] open elements, past [`MAX_MARKUP_BYTES`], or once the walks it
//! models add up to [`MAX_WORK`]. The cut is a count of steps, not of time, so the same item
//! gives the same document on every machine.

use std::collections::HashMap;
use std::sync::OnceLock;

use super::lexer::{Lexer, Token};

/// Open elements past which markup is ignored. Real articles nest a few dozen deep.
pub(super) const MAX_NESTING: usize = 512;

/// Markup past this many bytes of one item is reduced to text.
pub(super) const MAX_MARKUP_BYTES: usize = 2 * 1024 * 1024;

/// Steps of the modelled stack walks (one per element looked at) past which markup is reduced
/// to text: some 30 ms of the real parser's work in a release build on the costliest markup
/// known, and thirty times what the largest item of the real feeds in the tests needs
/// (127,000).
pub(super) const MAX_WORK: u64 = 4_000_000;

/// The byte of `html` where its markup must stop (a token's start), or its length.
pub(super) fn markup_end(html: &str) -> usize {
    let mut lexer = Lexer::new(html);
    let mut model = Model::default();
    while let Some((at, token)) = lexer.next_token() {
        // Past the size budget, the cut waits for a paragraph's end if one comes soon, so that
        // no paragraph is split in two.
        if at >= MAX_MARKUP_BYTES
            && (ends_paragraph(&token) || at >= MAX_MARKUP_BYTES + PARAGRAPH_END_SEARCH)
        {
            return at;
        }
        model.take(token, &mut lexer);
        if model.stack.len() > MAX_NESTING || model.work > MAX_WORK {
            return at;
        }
    }
    html.len()
}

impl Model {
    /// Follows one token as the tree builder would; the raw text of a `<script>`, `<textarea>`
    /// and the like is skipped in `lexer`, as the tokenizer does.
    fn take<'a>(&mut self, token: Token<'a>, lexer: &mut Lexer<'a>) {
        match token {
            Token::Text(text) => self.text(text),
            Token::Comment => self.work += 1,
            Token::End { name } => self.end(name_id(name)),
            Token::Start {
                name,
                self_closing,
                attributes,
                attributes_text,
            } => {
                let id = name_id(name);
                let same_as = name_hash(attributes_text.as_bytes());
                if self.start(id, self_closing, attributes, same_as) {
                    let content = if id == PLAINTEXT {
                        lexer.skip_rest()
                    } else {
                        lexer.skip_raw_text(name)
                    };
                    self.work += 1 + breaks(content);
                }
            }
        }
    }
}

/// How far past [`MAX_MARKUP_BYTES`] a paragraph's end is looked for.
const PARAGRAPH_END_SEARCH: usize = 64 * 1024;

/// A tag that ends a paragraph: a block's start or end, or `<br>`.
pub(super) fn ends_paragraph(token: &Token<'_>) -> bool {
    match token {
        Token::Start { name, .. } | Token::End { name } => {
            name.eq_ignore_ascii_case("br")
                || super::BLOCKS.iter().any(|b| b.eq_ignore_ascii_case(name))
        }
        _ => false,
    }
}

/// Where the tokenizer hands the tree builder a separate piece of text (a line, an entity).
fn breaks(text: &str) -> u64 {
    text.bytes()
        .filter(|b| matches!(b, b'\n' | b'\r' | b'&' | b'\0'))
        .count() as u64
}

/// An element name, compared as HTML does (ASCII case folded): FNV-1a of the folded bytes.
type Name = u64;

const fn name_hash(bytes: &[u8]) -> Name {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i].to_ascii_lowercase() as u64;
        hash = hash.wrapping_mul(0x0100_0000_01b3);
        i += 1;
    }
    hash
}

fn name_id(name: &str) -> Name {
    name_hash(name.as_bytes())
}

const P: Name = name_hash(b"p");
const LI: Name = name_hash(b"li");
const DD: Name = name_hash(b"dd");
const DT: Name = name_hash(b"dt");
const BUTTON: Name = name_hash(b"button");
const A: Name = name_hash(b"a");
const NOBR: Name = name_hash(b"nobr");
const OPTION: Name = name_hash(b"option");
const OPTGROUP: Name = name_hash(b"optgroup");
const TABLE: Name = name_hash(b"table");
const CAPTION: Name = name_hash(b"caption");
const COLGROUP: Name = name_hash(b"colgroup");
const TBODY: Name = name_hash(b"tbody");
const TR: Name = name_hash(b"tr");
const TD: Name = name_hash(b"td");
const TH: Name = name_hash(b"th");
const PLAINTEXT: Name = name_hash(b"plaintext");
const ADDRESS: Name = name_hash(b"address");
const DIV: Name = name_hash(b"div");

// What the tree builder does with an element, as flags.
/// The HTML "special" category: an end tag of another element stops at one.
const SPECIAL: u16 = 1;
/// Bounds the default scope.
const SCOPE: u16 = 1 << 1;
/// Bounds the button scope too (`button`).
const BUTTON_SCOPE: u16 = 1 << 2;
/// Bounds the list item scope too (`ol`, `ul`).
const LIST_SCOPE: u16 = 1 << 3;
/// Bounds the table scope.
const TABLE_SCOPE: u16 = 1 << 4;
const FORMATTING: u16 = 1 << 5;
/// Its start tag closes an open `p`.
const CLOSES_P: u16 = 1 << 6;
/// Never open: void, or a start tag that the body ignores.
const NEVER_OPEN: u16 = 1 << 7;
/// Its content is text to the tokenizer (outside svg and math).
const RAW_TEXT: u16 = 1 << 8;
const HEADING: u16 = 1 << 9;
/// `table` and its parts.
const TABLE_PART: u16 = 1 << 10;
/// Its start tag leaves svg and math.
const BREAKOUT: u16 = 1 << 11;
/// `svg`, `math`.
const FOREIGN: u16 = 1 << 12;
/// Inside svg or math, its content is HTML again.
const INTEGRATION: u16 = 1 << 13;
/// Puts a marker in the list of formatting elements (cells, captions, objects).
const MARKER: u16 = 1 << 14;
/// Special, yet its start tag reopens formatting elements as inline elements do.
const REOPENS: u16 = 1 << 15;

const CLASSES: &[(&str, u16)] = &[
    ("a", FORMATTING),
    ("address", SPECIAL | CLOSES_P),
    ("annotation-xml", INTEGRATION),
    ("applet", SPECIAL | SCOPE | MARKER | REOPENS),
    ("area", SPECIAL | NEVER_OPEN | REOPENS),
    ("article", SPECIAL | CLOSES_P),
    ("aside", SPECIAL | CLOSES_P),
    ("b", FORMATTING | BREAKOUT),
    ("base", SPECIAL | NEVER_OPEN),
    ("basefont", SPECIAL | NEVER_OPEN),
    ("bgsound", SPECIAL | NEVER_OPEN),
    ("big", FORMATTING | BREAKOUT),
    ("blockquote", SPECIAL | CLOSES_P | BREAKOUT),
    ("body", SPECIAL | NEVER_OPEN | BREAKOUT),
    ("br", SPECIAL | NEVER_OPEN | BREAKOUT | REOPENS),
    ("button", SPECIAL | BUTTON_SCOPE),
    ("caption", SPECIAL | SCOPE | TABLE_PART | MARKER),
    ("center", SPECIAL | CLOSES_P | BREAKOUT),
    ("code", FORMATTING | BREAKOUT),
    ("col", SPECIAL | NEVER_OPEN),
    ("colgroup", SPECIAL | TABLE_PART),
    ("dd", SPECIAL | CLOSES_P | BREAKOUT),
    ("desc", INTEGRATION),
    ("details", SPECIAL | CLOSES_P),
    ("dialog", CLOSES_P),
    ("dir", SPECIAL | CLOSES_P),
    ("div", SPECIAL | CLOSES_P | BREAKOUT),
    ("dl", SPECIAL | CLOSES_P | BREAKOUT),
    ("dt", SPECIAL | CLOSES_P | BREAKOUT),
    ("em", FORMATTING | BREAKOUT),
    ("embed", SPECIAL | NEVER_OPEN | BREAKOUT | REOPENS),
    ("fieldset", SPECIAL | CLOSES_P),
    ("figcaption", SPECIAL | CLOSES_P),
    ("figure", SPECIAL | CLOSES_P),
    ("font", FORMATTING),
    ("footer", SPECIAL | CLOSES_P),
    ("foreignobject", INTEGRATION),
    ("form", SPECIAL | CLOSES_P),
    ("frame", SPECIAL | NEVER_OPEN),
    ("frameset", SPECIAL | NEVER_OPEN),
    ("h1", SPECIAL | CLOSES_P | HEADING | BREAKOUT),
    ("h2", SPECIAL | CLOSES_P | HEADING | BREAKOUT),
    ("h3", SPECIAL | CLOSES_P | HEADING | BREAKOUT),
    ("h4", SPECIAL | CLOSES_P | HEADING | BREAKOUT),
    ("h5", SPECIAL | CLOSES_P | HEADING | BREAKOUT),
    ("h6", SPECIAL | CLOSES_P | HEADING | BREAKOUT),
    ("head", SPECIAL | NEVER_OPEN | BREAKOUT),
    ("header", SPECIAL | CLOSES_P),
    ("hgroup", SPECIAL | CLOSES_P),
    ("hr", SPECIAL | NEVER_OPEN | BREAKOUT),
    ("html", SPECIAL | SCOPE | TABLE_SCOPE | NEVER_OPEN),
    ("i", FORMATTING | BREAKOUT),
    ("iframe", SPECIAL | RAW_TEXT),
    ("image", NEVER_OPEN),
    ("img", SPECIAL | NEVER_OPEN | BREAKOUT | REOPENS),
    ("input", SPECIAL | NEVER_OPEN | REOPENS),
    ("keygen", NEVER_OPEN),
    ("li", SPECIAL | CLOSES_P | BREAKOUT),
    ("link", SPECIAL | NEVER_OPEN),
    ("listing", SPECIAL | CLOSES_P | BREAKOUT),
    ("main", SPECIAL | CLOSES_P),
    ("marquee", SPECIAL | SCOPE | MARKER | REOPENS),
    ("math", FOREIGN),
    ("menu", SPECIAL | CLOSES_P | BREAKOUT),
    ("meta", SPECIAL | NEVER_OPEN | BREAKOUT),
    ("mi", INTEGRATION),
    ("mn", INTEGRATION),
    ("mo", INTEGRATION),
    ("ms", INTEGRATION),
    ("mtext", INTEGRATION),
    ("nav", SPECIAL | CLOSES_P),
    ("nobr", FORMATTING | BREAKOUT),
    ("noembed", SPECIAL | RAW_TEXT),
    ("noframes", SPECIAL | RAW_TEXT),
    ("noscript", SPECIAL),
    ("object", SPECIAL | SCOPE | MARKER | REOPENS),
    ("ol", SPECIAL | CLOSES_P | LIST_SCOPE | BREAKOUT),
    ("p", SPECIAL | CLOSES_P | BREAKOUT),
    ("param", SPECIAL | NEVER_OPEN),
    ("plaintext", SPECIAL | CLOSES_P | RAW_TEXT),
    ("pre", SPECIAL | CLOSES_P | BREAKOUT),
    ("ruby", BREAKOUT),
    ("s", FORMATTING | BREAKOUT),
    ("script", SPECIAL | RAW_TEXT),
    ("search", SPECIAL | CLOSES_P),
    ("section", SPECIAL | CLOSES_P),
    ("select", SPECIAL | REOPENS),
    ("small", FORMATTING | BREAKOUT),
    ("source", SPECIAL | NEVER_OPEN),
    ("span", BREAKOUT),
    ("strike", FORMATTING | BREAKOUT),
    ("strong", FORMATTING | BREAKOUT),
    ("style", SPECIAL | RAW_TEXT),
    ("sub", BREAKOUT),
    ("summary", SPECIAL | CLOSES_P),
    ("sup", BREAKOUT),
    ("svg", FOREIGN),
    (
        "table",
        SPECIAL | SCOPE | TABLE_SCOPE | TABLE_PART | BREAKOUT,
    ),
    ("tbody", SPECIAL | TABLE_PART),
    ("td", SPECIAL | SCOPE | TABLE_PART | MARKER),
    ("template", SPECIAL | SCOPE | TABLE_SCOPE | MARKER),
    ("textarea", SPECIAL | RAW_TEXT),
    ("tfoot", SPECIAL | TABLE_PART),
    ("th", SPECIAL | SCOPE | TABLE_PART | MARKER),
    ("thead", SPECIAL | TABLE_PART),
    ("title", SPECIAL | RAW_TEXT | INTEGRATION),
    ("tr", SPECIAL | TABLE_PART),
    ("track", SPECIAL | NEVER_OPEN),
    ("tt", FORMATTING | BREAKOUT),
    ("u", FORMATTING | BREAKOUT),
    ("ul", SPECIAL | CLOSES_P | LIST_SCOPE | BREAKOUT),
    ("var", BREAKOUT),
    ("wbr", SPECIAL | NEVER_OPEN),
    ("xmp", SPECIAL | CLOSES_P | RAW_TEXT | REOPENS),
];

fn class_of(name: Name) -> u16 {
    static TABLE: OnceLock<HashMap<Name, u16>> = OnceLock::new();
    let table = TABLE.get_or_init(|| {
        CLASSES
            .iter()
            .map(|(name, class)| (name_hash(name.as_bytes()), *class))
            .collect()
    });
    table.get(&name).copied().unwrap_or(0)
}

/// How deep in a table an element sits: rows need a section, cells need a row.
fn table_level(name: Name) -> u8 {
    match name {
        TABLE => 0,
        TR => 2,
        TD | TH => 3,
        // tbody, thead, tfoot, caption, colgroup.
        _ => 1,
    }
}

#[derive(Clone, Copy)]
struct Open {
    name: Name,
    class: u16,
    /// Its content is svg or math (the self-closing slash counts there).
    foreign_content: bool,
}

/// An entry of the list of active formatting elements: the parser reopens the formatting
/// elements that an end tag closed before their own, at the next text or inline tag.
#[derive(Clone, Copy)]
enum Formatting {
    /// Set by a cell, a caption or an object: reopening stops there.
    Marker,
    Element {
        name: Name,
        /// A hash of the tag's attributes: of identical tags, only three are kept.
        attributes: u64,
        /// Its index in the stack while it is open.
        open_at: Option<usize>,
    },
}

#[derive(Default)]
struct Model {
    stack: Vec<Open>,
    formatting: Vec<Formatting>,
    work: u64,
}

impl Model {
    /// A start tag; true when the element's content is raw text to skip.
    fn start(&mut self, name: Name, self_closing: bool, attributes: usize, same_as: u64) -> bool {
        let class = class_of(name);
        // The tokenizer checks each attribute against the ones before it.
        let attributes = attributes as u64;
        self.work += 1 + attributes * attributes.saturating_sub(1) / 2;
        if self.in_foreign_content() {
            if class & BREAKOUT == 0 {
                if !self_closing {
                    self.push(name, class, class & INTEGRATION == 0);
                }
                return false;
            }
            // An HTML element ends the svg or math it appears in.
            while self.in_foreign_content() {
                self.pop();
            }
        }
        if class & TABLE_PART != 0 {
            if name == TABLE {
                self.start_table();
            } else {
                self.start_table_part(name, class);
            }
            return false;
        }
        match name {
            LI => self.close_list_item(|n| n == LI),
            DD | DT => self.close_list_item(|n| n == DD || n == DT),
            BUTTON => self.close_in_scope(|n| n == BUTTON, SCOPE),
            // A new link ends the one still open.
            A if self.last_listed(A).is_some() => {
                self.end_formatting(A);
                if let Some(k) = self.last_listed(A) {
                    self.formatting.remove(k);
                }
            }
            NOBR => {
                self.reconstruct();
                if self
                    .find(|o| o.name == NOBR, |o| o.class & SCOPE != 0)
                    .is_some()
                {
                    self.end_formatting(NOBR);
                }
            }
            OPTION | OPTGROUP if self.top().is_some_and(|t| t.name == OPTION) => self.pop(),
            _ => {}
        }
        if class & CLOSES_P != 0 {
            self.close_in_scope(|n| n == P, SCOPE | BUTTON_SCOPE);
        }
        if class & SPECIAL == 0 || class & REOPENS != 0 {
            self.reconstruct();
        }
        if class & NEVER_OPEN != 0 {
            return false;
        }
        if class & FOREIGN != 0 {
            if !self_closing {
                self.push(name, class, true);
            }
            return false;
        }
        if class & HEADING != 0 && self.top().is_some_and(|t| t.class & HEADING != 0) {
            self.pop();
        }
        if class & FORMATTING != 0 {
            self.push_formatting(name, class, attributes, same_as);
        } else {
            self.push(name, class, false);
        }
        class & RAW_TEXT != 0
    }

    fn end(&mut self, name: Name) {
        self.work += 1;
        let class = class_of(name);
        if self.in_foreign_content() {
            self.close_in_scope(|n| n == name, SCOPE);
            return;
        }
        match name {
            P => self.close_in_scope(|n| n == P, SCOPE | BUTTON_SCOPE),
            LI => self.close_in_scope(|n| n == LI, SCOPE | LIST_SCOPE),
            // `</br>` is a `<br>`; the body and html stay open.
            _ if class & NEVER_OPEN != 0 => {}
            _ if class & HEADING != 0 => {
                if let Some(i) = self.find(|o| o.class & HEADING != 0, |o| o.class & SCOPE != 0) {
                    self.truncate(i);
                }
            }
            _ if class & TABLE_PART != 0 => self.close_in_scope(|n| n == name, TABLE_SCOPE),
            _ if class & FORMATTING != 0 => self.end_formatting(name),
            _ if class & SPECIAL != 0 => self.close_in_scope(|n| n == name, SCOPE),
            // Any other end tag closes the nearest element of its name, unless a special
            // element comes first: `</x>` with nothing named x open closes nothing.
            _ => self.close_in_scope(|n| n == name, SPECIAL),
        }
    }

    /// Text: formatting elements are reopened first, and the parser checks whether they need
    /// to be once per separate piece of text (each line, each entity).
    fn text(&mut self, text: &str) {
        self.reconstruct();
        self.work += breaks(text) * self.reopen_check_cost();
    }

    fn top(&self) -> Option<&Open> {
        self.stack.last()
    }

    fn in_foreign_content(&self) -> bool {
        self.top().is_some_and(|t| t.foreign_content)
    }

    fn push(&mut self, name: Name, class: u16, foreign_content: bool) {
        self.stack.push(Open {
            name,
            class,
            foreign_content,
        });
        if class & MARKER != 0 {
            self.formatting.push(Formatting::Marker);
        }
        self.work += 1;
    }

    fn pop(&mut self) {
        self.truncate(self.stack.len().saturating_sub(1));
    }

    /// Closes the elements from index `at` up; their formatting entries are no longer open,
    /// and a closed cell or object forgets the formatting elements opened inside it.
    fn truncate(&mut self, at: usize) {
        while self.stack.len() > at {
            let closed = self.stack.pop().map_or(0, |o| o.class);
            self.work += 1;
            if closed & MARKER != 0 {
                while let Some(entry) = self.formatting.pop() {
                    self.work += 1;
                    if matches!(entry, Formatting::Marker) {
                        break;
                    }
                }
            }
        }
        // Open entries sit in the stack in list order, so the search stops at the first one
        // below `at`.
        for entry in self.formatting.iter_mut().rev() {
            self.work += 1;
            if let Formatting::Element { open_at, .. } = entry {
                match *open_at {
                    Some(i) if i < at => break,
                    Some(_) => *open_at = None,
                    None => {}
                }
            }
        }
    }

    /// The index of the latest entry named `name` since the last marker.
    fn last_listed(&mut self, name: Name) -> Option<usize> {
        for (k, entry) in self.formatting.iter().enumerate().rev() {
            self.work += 1;
            match entry {
                Formatting::Marker => return None,
                Formatting::Element { name: n, .. } if *n == name => return Some(k),
                Formatting::Element { .. } => {}
            }
        }
        None
    }

    /// Opens a formatting element and lists it, after dropping the earliest of three identical
    /// ones already listed (each comparison clones and sorts the attributes).
    fn push_formatting(&mut self, name: Name, class: u16, attributes: u64, same_as: u64) {
        let mut identical = 0;
        let mut earliest = None;
        for (k, entry) in self.formatting.iter().enumerate().rev() {
            self.work += 1;
            match *entry {
                Formatting::Marker => break,
                Formatting::Element {
                    name: n,
                    attributes: a,
                    ..
                } if n == name => {
                    self.work += attributes + 1;
                    if a == same_as {
                        identical += 1;
                        earliest = Some(k);
                    }
                }
                Formatting::Element { .. } => {}
            }
        }
        if let Some(k) = earliest.filter(|_| identical >= 3) {
            self.formatting.remove(k);
        }
        let at = self.stack.len();
        self.push(name, class, false);
        self.formatting.push(Formatting::Element {
            name,
            attributes: same_as,
            open_at: Some(at),
        });
    }

    /// What finding out that nothing needs reopening costs: a walk of the stack down to the
    /// last listed element.
    fn reopen_check_cost(&self) -> u64 {
        match self.formatting.last() {
            Some(Formatting::Element {
                open_at: Some(at), ..
            }) => (self.stack.len() - at) as u64,
            _ => 1,
        }
    }

    /// Reopens the listed formatting elements that are closed, after the last open one or
    /// marker; finding each one costs a walk of the whole stack.
    fn reconstruct(&mut self) {
        let closed = self
            .formatting
            .iter()
            .rev()
            .take_while(|e| matches!(e, Formatting::Element { open_at: None, .. }))
            .count();
        if closed == 0 {
            self.work += self.reopen_check_cost();
            return;
        }
        self.work += closed as u64 * self.stack.len() as u64;
        let first = self.formatting.len() - closed;
        for k in first..self.formatting.len() {
            if let Formatting::Element { name, .. } = self.formatting[k] {
                let at = self.stack.len();
                self.push(name, class_of(name), false);
                if let Formatting::Element { open_at, .. } = &mut self.formatting[k] {
                    *open_at = Some(at);
                }
            }
        }
    }

    /// The index of the nearest open element that `is_target`, looking down from the top and
    /// giving up at one that `is_stop`.
    fn find(
        &mut self,
        is_target: impl Fn(&Open) -> bool,
        is_stop: impl Fn(&Open) -> bool,
    ) -> Option<usize> {
        for i in (0..self.stack.len()).rev() {
            self.work += 1;
            let open = &self.stack[i];
            if is_target(open) {
                return Some(i);
            }
            if is_stop(open) {
                return None;
            }
        }
        None
    }

    /// Closes the nearest element named so, with everything inside it, when it is in the scope
    /// bounded by `stop` (class flags).
    fn close_in_scope(&mut self, is_target: impl Fn(Name) -> bool, stop: u16) {
        if let Some(i) = self.find(|o| is_target(o.name), |o| o.class & stop != 0) {
            self.truncate(i);
        }
    }

    /// A new list item closes the open one, unless a special element other than `address`,
    /// `div` and `p` comes first.
    fn close_list_item(&mut self, is_target: impl Fn(Name) -> bool) {
        let found = self.find(
            |o| is_target(o.name),
            |o| o.class & SPECIAL != 0 && !matches!(o.name, ADDRESS | DIV | P),
        );
        if let Some(i) = found {
            self.truncate(i);
        }
    }

    /// The end of a formatting element (the "adoption agency"). Not listed: as any other end
    /// tag. Listed but closed: forgotten. Open with only inline elements inside: closed with
    /// them. With a block inside, the parser moves elements around and the depth stays about
    /// the same, so the model changes nothing.
    fn end_formatting(&mut self, name: Name) {
        let Some(k) = self.last_listed(name) else {
            self.close_in_scope(|n| n == name, SPECIAL);
            return;
        };
        let Formatting::Element {
            open_at: Some(at), ..
        } = self.formatting[k]
        else {
            self.formatting.remove(k);
            return;
        };
        let mut block_inside = false;
        for i in (at + 1..self.stack.len()).rev() {
            self.work += 1;
            let class = self.stack[i].class;
            if class & SCOPE != 0 {
                return;
            }
            block_inside |= class & SPECIAL != 0;
        }
        if !block_inside {
            self.truncate(at);
            self.formatting.remove(k);
        }
    }

    /// `<table>`: in a table (not in one of its cells) it ends that table first; elsewhere it
    /// closes a `p` like any block.
    fn start_table(&mut self) {
        let context = self.find(|o| o.class & TABLE_PART != 0, |_| false);
        match context.map(|i| self.stack[i].name) {
            Some(TD | TH | CAPTION) | None => {
                self.close_in_scope(|n| n == P, SCOPE | BUTTON_SCOPE);
            }
            Some(_) => self.close_in_scope(|n| n == TABLE, 0),
        }
        self.push(TABLE, class_of(TABLE), false);
    }

    /// Sections, rows, cells, captions: outside a table the body ignores them; inside one they
    /// close what they cannot sit in and bring the sections and rows they need.
    fn start_table_part(&mut self, name: Name, class: u16) {
        let level = table_level(name);
        loop {
            let Some(i) = self.find(|o| o.class & TABLE_PART != 0, |_| false) else {
                return;
            };
            let context = self.stack[i].name;
            let context_level = table_level(context);
            if context_level < level && !matches!(context, CAPTION | COLGROUP) {
                self.truncate(i + 1);
                for implied in context_level + 1..level {
                    let implied = if implied == 1 { TBODY } else { TR };
                    self.push(implied, class_of(implied), false);
                }
                self.push(name, class, false);
                return;
            }
            self.truncate(i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The model's depth after `html`, and whether it cut.
    fn depth(html: &str) -> usize {
        let mut lexer = Lexer::new(html);
        let mut model = Model::default();
        while let Some((_, token)) = lexer.next_token() {
            model.take(token, &mut lexer);
        }
        model.stack.len()
    }

    #[test]
    fn the_model_follows_the_tree_builder() {
        let cases = [
            ("<div><span>a</span></div>", 0),
            ("<div/><div/>", 2),
            ("<span></x></x>", 1),
            ("<div><span></div>", 0),
            ("<span><div></span>", 2),
            ("<p>a<p>b<p>c", 1),
            ("<p>a<div>b", 1),
            ("<ul><li>a<li>b<li>c", 2),
            ("<dl><dt>a<dd>b<dt>c", 2),
            ("<table><td>a<td>b<tr><td>c", 4),
            ("<table><tr><td>a</table>", 0),
            ("<td><tr><tbody>", 0),
            ("<table><td><table><td>", 8),
            ("<table><tr><table>", 1),
            ("<b><i>x</b>", 0),
            ("<b><div>x</b>", 2),
            ("<svg><path/><g><rect/></g></svg>", 0),
            ("<svg><div>", 1),
            ("<svg/><img><br/><hr>", 0),
            ("<script><div><div></script>", 0),
            ("<h1><h2>", 1),
            ("<select><option>a<option>b", 2),
            ("<a href=1>x<a href=2>y", 1),
            ("<BODY><Div>", 1),
            // Formatting elements closed by another end tag are reopened by the next text...
            ("<p><b>x</p>y", 1),
            ("<p><b id=1>x</p><p><b id=2>x</p>y", 2),
            // ...but of identical ones only three,
            (&"<p><b>x</p>".repeat(5), 0),
            (&format!("{}y", "<p><b>x</p>".repeat(5)), 3),
            // and none past the cell they were opened in.
            ("<table><td><b>x</td></table>y", 0),
        ];
        for (html, expected) in cases {
            assert_eq!(depth(html), expected, "{html}");
        }
    }

    #[test]
    fn stray_end_tags_and_self_closing_tags_do_not_dodge_the_count() {
        let spans = "<span></x>".repeat(MAX_NESTING + 10);
        assert_eq!(markup_end(&spans), MAX_NESTING * "<span></x>".len());
        let divs = "<div/>".repeat(MAX_NESTING + 10);
        assert_eq!(markup_end(&divs), MAX_NESTING * "<div/>".len());
        // Closed elements never add up.
        let flat = "<div><span>x</span></div>".repeat(10_000);
        assert_eq!(markup_end(&flat), flat.len());
        let paragraphs = "<p>x".repeat(10_000);
        assert_eq!(markup_end(&paragraphs), paragraphs.len());
    }

    #[test]
    fn work_and_size_are_bounded() {
        // Shallow enough, but every end tag walks the whole stack.
        let html = format!("{}{}", "<span>".repeat(500), "</x>".repeat(100_000));
        let cut = markup_end(&html);
        assert!(cut < html.len(), "no cut");
        assert!(cut > 500 * 6, "cut too early: {cut}");
        // One tag with very many attributes.
        let attributes: String = (0..10_000).map(|i| format!(" a{i}")).collect();
        let html = format!("<p>x</p><b{attributes}>y</b>");
        assert_eq!(markup_end(&html), "<p>x</p>".len());
        // Plain text costs nothing much, however long.
        let text = "word &amp; word\n".repeat(200_000);
        assert_eq!(markup_end(&text), text.len());
        // Past the size budget, the cut comes at the next paragraph's end, if one is near.
        let big = format!("{}<b>x</b><p>y</p>", "x".repeat(MAX_MARKUP_BYTES));
        assert_eq!(markup_end(&big), MAX_MARKUP_BYTES + "<b>x</b>".len());
        let far = format!(
            "{}<b>{}</b><p>y</p>",
            "x".repeat(MAX_MARKUP_BYTES),
            "x".repeat(PARAGRAPH_END_SEARCH)
        );
        assert_eq!(
            markup_end(&far),
            far.len() - "<p>y</p>".len() - "</b>".len()
        );
    }
}
