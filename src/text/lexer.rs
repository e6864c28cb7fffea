//! A cheap HTML tokenizer that finds where tags, comments and text are, the way the HTML5
//! tokenizer would (quoted attribute values may hold `>`, a comment ends at `-->`, the content
//! of `<script>` is not markup), without building anything. It lets `guard` look ahead at
//! markup before the real parser pays for it, and reduces markup to text. Linear in the input;
//! every position it returns is on a char boundary, because every delimiter is ASCII.

/// One piece of the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Token<'a> {
    /// Text, stray `<` included (`a < b`).
    Text(&'a str),
    /// `<name ...>`; `name` as written (HTML compares it in ASCII lower case).
    Start {
        name: &'a str,
        self_closing: bool,
        /// How many attributes, and their source (to tell identical tags apart).
        attributes: usize,
        attributes_text: &'a str,
    },
    /// `</name ...>`.
    End { name: &'a str },
    /// Comments, doctypes, processing instructions, `</>`: nothing for the tree.
    Comment,
}

pub(super) struct Lexer<'a> {
    html: &'a str,
    pos: usize,
}

impl<'a> Lexer<'a> {
    pub(super) fn new(html: &'a str) -> Lexer<'a> {
        Lexer { html, pos: 0 }
    }

    /// The next token and the byte where it starts. A tag cut off by the end of the input is
    /// no token: the HTML tokenizer drops it too.
    pub(super) fn next_token(&mut self) -> Option<(usize, Token<'a>)> {
        let start = self.pos;
        let bytes = self.html.as_bytes();
        if start >= bytes.len() {
            return None;
        }
        if bytes[start] != b'<' {
            self.pos = self.find_byte(start + 1, b'<');
            return Some((start, Token::Text(&self.html[start..self.pos])));
        }
        let token = match bytes.get(start + 1) {
            Some(b'!') if bytes[start + 2..].starts_with(b"--") => {
                self.pos = comment_end(bytes, start + 4);
                Token::Comment
            }
            Some(b'!' | b'?') => {
                self.pos = self.after_byte(start + 2, b'>');
                Token::Comment
            }
            Some(b'/') => match bytes.get(start + 2) {
                Some(c) if c.is_ascii_alphabetic() => {
                    let (name_end, tag_end) = self.tag(start + 2)?;
                    self.pos = tag_end.end;
                    Token::End {
                        name: &self.html[start + 2..name_end],
                    }
                }
                Some(b'>') => {
                    self.pos = start + 3;
                    Token::Comment
                }
                // `</` at the very end is text.
                None => {
                    self.pos = bytes.len();
                    Token::Text(&self.html[start..])
                }
                Some(_) => {
                    self.pos = self.after_byte(start + 2, b'>');
                    Token::Comment
                }
            },
            Some(c) if c.is_ascii_alphabetic() => {
                let (name_end, tag_end) = self.tag(start + 1)?;
                self.pos = tag_end.end;
                Token::Start {
                    name: &self.html[start + 1..name_end],
                    self_closing: tag_end.self_closing,
                    attributes: tag_end.attributes,
                    attributes_text: &self.html[name_end..tag_end.attributes_end],
                }
            }
            _ => {
                self.pos = self.find_byte(start + 1, b'<');
                Token::Text(&self.html[start..self.pos])
            }
        };
        Some((start, token))
    }

    /// After the start tag of an element whose content is not markup (`script`, `style`,
    /// `textarea`...): moves to its end tag, and returns the content skipped.
    pub(super) fn skip_raw_text(&mut self, name: &str) -> &'a str {
        let bytes = self.html.as_bytes();
        let start = self.pos;
        let mut at = start;
        while let Some(offset) = self.html[at..].find("</") {
            let candidate = at + offset;
            let after = candidate + 2 + name.len();
            let named = bytes
                .get(candidate + 2..after)
                .is_some_and(|n| n.eq_ignore_ascii_case(name.as_bytes()));
            if named
                && bytes
                    .get(after)
                    .is_none_or(|b| is_tag_space(*b) || matches!(b, b'/' | b'>'))
            {
                self.pos = candidate;
                return &self.html[start..candidate];
            }
            at = candidate + 2;
        }
        self.pos = bytes.len();
        &self.html[start..]
    }

    /// After `<plaintext>`: everything left is its text.
    pub(super) fn skip_rest(&mut self) -> &'a str {
        let rest = &self.html[self.pos..];
        self.pos = self.html.len();
        rest
    }

    /// The position of the first `byte` at or after `from`, or the end.
    fn find_byte(&self, from: usize, byte: u8) -> usize {
        self.html.as_bytes()[from.min(self.html.len())..]
            .iter()
            .position(|b| *b == byte)
            .map_or(self.html.len(), |p| from + p)
    }

    /// Just past the first `byte` at or after `from`, or the end.
    fn after_byte(&self, from: usize, byte: u8) -> usize {
        (self.find_byte(from, byte) + 1).min(self.html.len())
    }

    /// Reads a tag whose name starts at `name_start`: where the name ends, and the tag.
    /// `None` when the input ends inside the tag.
    fn tag(&self, name_start: usize) -> Option<(usize, TagEnd)> {
        let bytes = self.html.as_bytes();
        let mut at = name_start;
        while at < bytes.len() && !is_tag_space(bytes[at]) && !matches!(bytes[at], b'/' | b'>') {
            at += 1;
        }
        let name_end = at;
        let mut attributes = 0;
        loop {
            // Before an attribute name.
            while at < bytes.len() && is_tag_space(bytes[at]) {
                at += 1;
            }
            match *bytes.get(at)? {
                b'>' => {
                    return Some((name_end, TagEnd::new(at, 1, attributes)));
                }
                b'/' => {
                    if bytes.get(at + 1) == Some(&b'>') {
                        return Some((name_end, TagEnd::new(at, 2, attributes)));
                    }
                    at += 1;
                    continue;
                }
                _ => {}
            }
            // The name; its first character may be `=`.
            attributes += 1;
            at += 1;
            while at < bytes.len()
                && !is_tag_space(bytes[at])
                && !matches!(bytes[at], b'/' | b'>' | b'=')
            {
                at += 1;
            }
            while at < bytes.len() && is_tag_space(bytes[at]) {
                at += 1;
            }
            if bytes.get(at) != Some(&b'=') {
                continue;
            }
            at += 1;
            while at < bytes.len() && is_tag_space(bytes[at]) {
                at += 1;
            }
            match *bytes.get(at)? {
                quote @ (b'"' | b'\'') => {
                    let close = bytes[at + 1..].iter().position(|b| *b == quote)?;
                    at += close + 2;
                }
                b'>' => {}
                _ => {
                    while at < bytes.len() && !is_tag_space(bytes[at]) && bytes[at] != b'>' {
                        at += 1;
                    }
                }
            }
        }
    }
}

struct TagEnd {
    /// Where the attributes end: at `>`, or at `/>`.
    attributes_end: usize,
    end: usize,
    self_closing: bool,
    attributes: usize,
}

impl TagEnd {
    /// The tag closed by `closer` bytes (`>` or `/>`) at `at`.
    fn new(at: usize, closer: usize, attributes: usize) -> TagEnd {
        TagEnd {
            attributes_end: at,
            end: at + closer,
            self_closing: closer == 2,
            attributes,
        }
    }
}

/// White space inside a tag, as the HTML tokenizer sees it.
fn is_tag_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\x0C' | b'\r')
}

/// Just past the comment whose text starts at `from`: `-->` or `--!>` ends it, and so do `>`
/// and `->` right at its start; an unclosed comment runs to the end.
fn comment_end(bytes: &[u8], from: usize) -> usize {
    let from = from.min(bytes.len());
    let rest = &bytes[from..];
    if rest.starts_with(b">") {
        return from + 1;
    }
    if rest.starts_with(b"->") {
        return from + 2;
    }
    let mut at = from;
    while let Some(p) = bytes[at..].iter().position(|b| *b == b'-') {
        let dash = at + p;
        if bytes[dash..].starts_with(b"-->") {
            return dash + 3;
        }
        if bytes[dash..].starts_with(b"--!>") {
            return dash + 4;
        }
        at = dash + 1;
    }
    bytes.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(html: &str) -> Vec<Token<'_>> {
        let mut lexer = Lexer::new(html);
        std::iter::from_fn(|| lexer.next_token().map(|(_, t)| t)).collect()
    }

    fn start<'a>(
        name: &'a str,
        self_closing: bool,
        attributes: usize,
        attributes_text: &'a str,
    ) -> Token<'a> {
        Token::Start {
            name,
            self_closing,
            attributes,
            attributes_text,
        }
    }

    #[test]
    fn tags_text_and_comments() {
        assert_eq!(
            tokens("a<B class='x>y' id=z>é</b ><!-- <p> -->< c<br/>"),
            vec![
                Token::Text("a"),
                start("B", false, 2, " class='x>y' id=z"),
                Token::Text("é"),
                Token::End { name: "b" },
                Token::Comment,
                Token::Text("< c"),
                start("br", true, 0, ""),
            ]
        );
        assert_eq!(
            tokens("<div/ x/><!doctype html></><?pi?>x</"),
            vec![
                start("div", true, 1, "/ x"),
                Token::Comment,
                Token::Comment,
                Token::Comment,
                Token::Text("x"),
                Token::Text("</"),
            ]
        );
        // Cut off inside a tag: the tag is no token, as in a browser.
        assert_eq!(tokens("a<p class=\"x"), vec![Token::Text("a")]);
        assert_eq!(tokens("<!-- open"), vec![Token::Comment]);
        assert_eq!(tokens("<!-->x"), vec![Token::Comment, Token::Text("x")]);
    }

    #[test]
    fn raw_text_runs_to_its_end_tag() {
        let html = "<script>if (a<b) x = '</scr' + 'ipt>';</SCRIPT >after";
        let mut lexer = Lexer::new(html);
        assert_eq!(lexer.next_token().unwrap().1, start("script", false, 0, ""));
        assert_eq!(
            lexer.skip_raw_text("script"),
            "if (a<b) x = '</scr' + 'ipt>';"
        );
        assert_eq!(lexer.next_token().unwrap().1, Token::End { name: "SCRIPT" });
        assert_eq!(lexer.next_token().unwrap().1, Token::Text("after"));
        let mut unclosed = Lexer::new("<style>a { }");
        unclosed.next_token();
        assert_eq!(unclosed.skip_raw_text("style"), "a { }");
        assert_eq!(unclosed.next_token(), None);
    }

    #[test]
    fn positions_are_char_boundaries() {
        let html = "é<a\u{A0}b='‹'>‹</a\u{A0}>\u{A0}<";
        let mut lexer = Lexer::new(html);
        while let Some((at, _)) = lexer.next_token() {
            assert!(html.is_char_boundary(at));
        }
    }
}
