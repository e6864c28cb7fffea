//! OPML subscription lists, read and written. Pure: bytes in, feeds out; sources in, text out.
//!
//! Reading accepts what real readers export (OPML 1.0, 1.1 and 2.0 from newsboat, Miniflux,
//! FreshRSS, Feedly, NetNewsWire, Inoreader...): any case of `xmlUrl`, `title` or else `text`
//! for the name, HTML entities (`&eacute;`, `&nbsp;`) and stray `&` in attributes, a byte-order
//! mark, UTF-16 or a declared legacy encoding, outlines without `xmlUrl` that are categories
//! (empty ones too), and feeds at any depth.
//!
//! Categories become tags: a feed inside "Tech" inside "News" gets the one tag `"News/Tech"`
//! (the path, so that a nested layout survives a round trip and two "Tech" folders under
//! different parents stay apart), plus the tags of an OPML 2.0 `category` attribute
//! (`"/News/Tech,/Later"`, as Feedly and Inoreader write it). Writing puts a feed under the
//! category path of its first tag and lists all its tags in `category`, so reading the written
//! file gives back the same tags in the same order.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

/// A feed of the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpmlFeed {
    /// `xmlUrl`, trimmed, its entities decoded (not checked: the caller says whether it is a
    /// URL it takes).
    pub url: String,
    /// `title`, else `text`; white space collapsed. `None` when both are missing or blank.
    pub title: Option<String>,
    pub html_url: Option<String>,
    /// Category paths, each once, the enclosing one first.
    pub tags: Vec<String>,
    /// 1-based line of its outline, for messages.
    pub line: usize,
}

/// A parsed subscription list.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Opml {
    pub title: Option<String>,
    pub feeds: Vec<OpmlFeed>,
}

/// Why a file is not a usable OPML list, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{line}:{column}: {message}")]
pub struct OpmlError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// Categories nested deeper than this are taken as their first levels: no reader makes such
/// trees, and the stack of names must stay bounded whatever the file.
const MAX_DEPTH: usize = 64;

/// Reads an OPML document.
pub fn parse(bytes: &[u8]) -> Result<Opml, OpmlError> {
    let text = decode(bytes);
    let text = text.strip_prefix('\u{FEFF}').unwrap_or(&text);
    let error_at = |offset: u64, message: String| {
        let (line, column) = line_column(text, offset as usize);
        OpmlError {
            line,
            column,
            message,
        }
    };
    let mut reader = Reader::from_str(text);
    reader.config_mut().check_end_names = true;
    let mut opml = Opml::default();
    let mut seen_root = false;
    let mut in_body = false;
    let mut seen_body = false;
    // Per open `<outline>`: the category name it opens (`None`: a feed, or a nameless group).
    let mut open: Vec<Option<String>> = Vec::new();
    // The text of `<head><title>` while it is read.
    let mut title: Option<String> = None;
    let mut in_head = false;
    loop {
        let at = reader.buffer_position();
        let event = reader
            .read_event()
            .map_err(|e| error_at(at, format!("not well-formed XML: {e}")))?;
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let empty = matches!(event, Event::Empty(_));
                let name = local_name(e);
                if !seen_root {
                    if name != "opml" {
                        return Err(error_at(
                            at,
                            format!(
                                "not an OPML document: its root element is <{name}>, not <opml>"
                            ),
                        ));
                    }
                    seen_root = true;
                    continue;
                }
                match name.as_str() {
                    "head" if !empty => in_head = true,
                    "title" if in_head && !empty => title = Some(String::new()),
                    "body" => {
                        seen_body = true;
                        in_body = !empty;
                    }
                    "outline" if in_body => {
                        let line = line_column(text, at as usize).0;
                        let category = read_outline(e, &open, line, &mut opml.feeds);
                        if !empty {
                            open.push(category);
                        }
                    }
                    _ => {}
                }
            }
            Event::End(ref e) => match local_name_end(e.name().as_ref()).as_str() {
                "outline" if in_body => {
                    open.pop();
                }
                "body" => in_body = false,
                "head" => in_head = false,
                "title" if in_head => {
                    opml.title = title
                        .take()
                        .map(|t| clean(&decode_entities(&t)))
                        .filter(|t| !t.is_empty());
                }
                _ => {}
            },
            Event::Text(ref e) => {
                if let Some(t) = title.as_mut() {
                    t.push_str(&String::from(e.as_ref() as &str));
                }
            }
            Event::CData(ref e) => {
                if let Some(t) = title.as_mut() {
                    // Escaped so the entity pass leaves it as it is.
                    t.push_str(&String::from(e.as_ref() as &str).replace('&', "&amp;"));
                }
            }
            Event::GeneralRef(ref e) => {
                if let Some(t) = title.as_mut() {
                    t.push('&');
                    t.push_str(&String::from(e.as_ref() as &str));
                    t.push(';');
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !seen_root {
        return Err(error_at(
            0,
            "not an OPML document: it has no <opml> element".into(),
        ));
    }
    if !seen_body {
        return Err(error_at(
            text.len() as u64,
            "not an OPML document: it has no <body>".into(),
        ));
    }
    Ok(opml)
}

/// Takes in one `<outline>`: a feed is added to `feeds`; returns the category name it opens
/// for its children (a feed opens none).
fn read_outline(
    e: &BytesStart<'_>,
    open: &[Option<String>],
    line: usize,
    feeds: &mut Vec<OpmlFeed>,
) -> Option<String> {
    let mut xml_url = None;
    let mut plain_url = None;
    let mut kind = None;
    let mut title = None;
    let mut text = None;
    let mut html_url = None;
    let mut categories = None;
    // HTML rules: unquoted values and repeated names are read, not refused; a broken
    // attribute is skipped rather than losing the whole list.
    for attribute in e.html_attributes().with_checks(false).flatten() {
        let key = attribute.key.local_name().as_ref().to_ascii_lowercase();
        let value = decode_entities(&attribute.value);
        let slot = match key.as_str() {
            "xmlurl" => &mut xml_url,
            "url" => &mut plain_url,
            "type" => &mut kind,
            "title" => &mut title,
            "text" => &mut text,
            "htmlurl" => &mut html_url,
            "category" => &mut categories,
            _ => continue,
        };
        if slot.is_none() {
            *slot = Some(value);
        }
    }
    let nonblank = |v: Option<String>| v.map(|v| clean(&v)).filter(|v| !v.is_empty());
    let name = nonblank(title).or(nonblank(text.clone()));
    // Old Radio UserLand lists name a feed's address `url` with type "rss".
    let is_feed_type = kind.as_deref().is_some_and(|k| {
        matches!(
            k.trim().to_ascii_lowercase().as_str(),
            "rss" | "atom" | "feed"
        )
    });
    let url = nonblank(xml_url).or(if is_feed_type {
        nonblank(plain_url)
    } else {
        None
    });
    let Some(url) = url else {
        // A category: named by its text (what readers show), else its title.
        return nonblank(text).or(name).map(|n| n.replace('/', "-"));
    };
    let mut tags: Vec<String> = Vec::new();
    let path: Vec<&str> = open
        .iter()
        .flatten()
        .map(String::as_str)
        .take(MAX_DEPTH)
        .collect();
    if !path.is_empty() {
        tags.push(path.join("/"));
    }
    // "/News/Tech,/Later" (the spec's form, Feedly's): a new tag starts at each comma followed
    // by a slash, so a name with a comma in it stays whole; "News,Later" (no slashes) splits on
    // every comma.
    let categories = categories.unwrap_or_default();
    let by_path = categories.trim_start().starts_with('/');
    let mut pieces: Vec<String> = Vec::new();
    for piece in categories.split(',').filter(|p| !p.trim().is_empty()) {
        match pieces.last_mut() {
            Some(last) if by_path && !piece.trim_start().starts_with('/') => {
                last.push(',');
                last.push_str(piece);
            }
            _ => pieces.push(piece.to_owned()),
        }
    }
    for category in &pieces {
        let parts: Vec<&str> = category
            .split('/')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .collect();
        if !parts.is_empty() {
            tags.push(parts.join("/"));
        }
    }
    let mut unique: Vec<String> = Vec::with_capacity(tags.len());
    for tag in tags {
        if !unique.contains(&tag) {
            unique.push(tag);
        }
    }
    feeds.push(OpmlFeed {
        url,
        title: name,
        html_url: nonblank(html_url),
        tags: unique,
        line,
    });
    None
}

fn local_name(e: &BytesStart<'_>) -> String {
    local_name_end(e.name().as_ref())
}

/// The element name without a prefix, in lower case (`<OPML>` and `<Outline>` exist).
fn local_name_end(name: &str) -> String {
    name.rsplit(':')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase()
}

/// White space (and control characters, which no name means and XML cannot carry back)
/// collapsed to single spaces, trimmed.
fn clean(text: &str) -> String {
    text.split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|word| !word.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The document's text: a byte-order mark decides, then valid UTF-8, then the encoding the XML
/// declaration names, then windows-1252 (what "Latin-1" means in practice).
fn decode(bytes: &[u8]) -> String {
    if let Some((encoding, bom)) = encoding_rs::Encoding::for_bom(bytes) {
        return encoding
            .decode_without_bom_handling(&bytes[bom..])
            .0
            .into_owned();
    }
    if let Ok(text) = std::str::from_utf8(bytes) {
        return text.to_owned();
    }
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned();
    let declared = head
        .find("encoding=")
        .map(|at| &head[at + "encoding=".len()..])
        .and_then(|rest| {
            let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'')?;
            rest[1..].split(quote).next()
        })
        .and_then(|label| encoding_rs::Encoding::for_label(label.trim().as_bytes()));
    declared
        .unwrap_or(encoding_rs::WINDOWS_1252)
        .decode_without_bom_handling(bytes)
        .0
        .into_owned()
}

/// Decodes character references and named entities, XML's and HTML's (OPML files carry both,
/// written by tools that thought in HTML). An `&` that starts no known reference stays as it
/// is: a bare `&` in a URL's query is common.
pub fn decode_entities(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let reference = rest[1..]
            .find(';')
            .filter(|end| *end <= 32)
            .map(|end| &rest[1..end + 2]);
        let decoded = reference.and_then(|r| {
            let name = &r[..r.len() - 1];
            if let Some(number) = name.strip_prefix('#') {
                let code = match number.strip_prefix(['x', 'X']) {
                    Some(hex) => u32::from_str_radix(hex, 16).ok(),
                    None => number.parse().ok(),
                };
                return code
                    .and_then(char::from_u32)
                    .filter(|c| *c != '\0')
                    .map(String::from);
            }
            match html5ever::data::NAMED_ENTITIES.get(r) {
                Some(&(first, second)) if first != 0 => {
                    let mut s: String = char::from_u32(first).into_iter().collect();
                    s.extend(char::from_u32(second).filter(|_| second != 0));
                    Some(s)
                }
                _ => None,
            }
        });
        match (decoded, reference) {
            (Some(text), Some(r)) => {
                out.push_str(&text);
                rest = &rest[1 + r.len()..];
            }
            _ => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// 1-based line and column (in characters) of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    (line, column)
}

/// A source as it is written out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedSource {
    pub url: String,
    /// The name shown; the URL when `None`.
    pub name: Option<String>,
    pub tags: Vec<String>,
}

/// Writes `sources` as an OPML 2.0 document: the category tree rebuilt from the first tag of
/// each source (`"News/Tech"`: a "Tech" outline inside a "News" one), every tag in the
/// `category` attribute, sources without tags at the top level, in the order given.
pub fn write(title: &str, created: DateTime<Utc>, sources: &[ListedSource]) -> String {
    let mut tree = Category::default();
    for (index, source) in sources.iter().enumerate() {
        let path: Vec<&str> = source
            .tags
            .first()
            .map(|t| {
                t.split('/')
                    .map(str::trim)
                    .filter(|p| !p.is_empty())
                    .take(MAX_DEPTH)
                    .collect()
            })
            .unwrap_or_default();
        tree.at(&path).feeds.push(index);
    }
    let mut out = String::new();
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<opml version=\"2.0\">\n  <head>\n");
    let _ = writeln!(out, "    <title>{}</title>", escape(title));
    let _ = writeln!(
        out,
        "    <dateCreated>{}</dateCreated>",
        created.format("%a, %d %b %Y %H:%M:%S GMT")
    );
    out.push_str("  </head>\n  <body>\n");
    tree.write(&mut out, sources, 2);
    out.push_str("  </body>\n</opml>\n");
    out
}

/// One level of the category tree being written.
#[derive(Default)]
struct Category {
    /// Subcategories in the order first met.
    children: Vec<(String, Category)>,
    /// Indexes of the sources filed here.
    feeds: Vec<usize>,
}

impl Category {
    fn at(&mut self, path: &[&str]) -> &mut Category {
        let Some((first, rest)) = path.split_first() else {
            return self;
        };
        let index = match self.children.iter().position(|(name, _)| name == first) {
            Some(index) => index,
            None => {
                self.children
                    .push(((*first).to_owned(), Category::default()));
                self.children.len() - 1
            }
        };
        self.children[index].1.at(rest)
    }

    fn write(&self, out: &mut String, sources: &[ListedSource], depth: usize) {
        let indent = "  ".repeat(depth);
        // Feeds before subcategories, as readers list them.
        for &index in &self.feeds {
            let source = &sources[index];
            let name = escape(source.name.as_deref().unwrap_or(&source.url));
            let _ = write!(
                out,
                "{indent}<outline type=\"rss\" text=\"{name}\" title=\"{name}\" xmlUrl=\"{}\"",
                escape(&source.url)
            );
            if !source.tags.is_empty() {
                let categories: Vec<String> = source.tags.iter().map(|t| format!("/{t}")).collect();
                let _ = write!(out, " category=\"{}\"", escape(&categories.join(",")));
            }
            out.push_str("/>\n");
        }
        for (name, child) in &self.children {
            let name = escape(name);
            let _ = writeln!(out, "{indent}<outline text=\"{name}\" title=\"{name}\">");
            child.write(out, sources, depth + 1);
            let _ = writeln!(out, "{indent}</outline>");
        }
    }
}

/// Text for an attribute or element: markup characters escaped, line breaks and tabs as
/// references (an attribute would turn them into spaces), characters XML 1.0 forbids dropped.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            '\u{0}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}' => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feeds(xml: &str) -> Vec<OpmlFeed> {
        parse(xml.as_bytes()).unwrap().feeds
    }

    #[test]
    fn nested_categories_become_path_tags() {
        let list = feeds(
            r#"<opml version="2.0"><head><title>Mine &amp; yours</title></head><body>
<outline text="News" title="News">
  <outline text="Tech"><outline type="rss" text="A" xmlUrl="https://a.example/feed"/></outline>
  <outline type="rss" title="B" text="ignored" xmlUrl="https://b.example/rss"/>
</outline>
<outline type="rss" text="C" xmlUrl="https://c.example/atom"/>
<outline text="Empty"></outline>
</body></opml>"#,
        );
        let got: Vec<(&str, Option<&str>, Vec<&str>)> = list
            .iter()
            .map(|f| {
                (
                    f.url.as_str(),
                    f.title.as_deref(),
                    f.tags.iter().map(String::as_str).collect(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("https://a.example/feed", Some("A"), vec!["News/Tech"]),
                ("https://b.example/rss", Some("B"), vec!["News"]),
                ("https://c.example/atom", Some("C"), vec![]),
            ]
        );
        assert_eq!(list[0].line, 3);
    }

    #[test]
    fn odd_shapes_of_real_exports() {
        // A byte-order mark, upper-case attribute names, HTML entities, a bare `&` in a URL,
        // the category attribute (Feedly, Inoreader), no title at all, Radio's `url`.
        let xml = "\u{FEFF}<?xml version=\"1.0\"?>\n<OPML version=\"1.0\"><body>\
            <outline XMLURL=\"https://a.example/?a=1&b=2\" TEXT=\"Caf&eacute;&nbsp;Life &#x263A;\" \
             category=\"/Food, /Food/Drinks,\"/>\
            <outline xmlUrl=\"  https://b.example/feed  \"/>\
            <outline type=\"rss\" url=\"https://c.example/rss\" text=\"C\"/>\
            <outline type=\"link\" url=\"https://d.example/page\" text=\"not a feed\"/>\
            </body></OPML>";
        let list = feeds(xml);
        assert_eq!(list.len(), 3, "{list:?}");
        assert_eq!(list[0].url, "https://a.example/?a=1&b=2");
        assert_eq!(list[0].title.as_deref(), Some("Café Life ☺"));
        assert_eq!(list[0].tags, ["Food", "Food/Drinks"]);
        assert_eq!(list[1].url, "https://b.example/feed");
        assert_eq!(list[1].title, None);
        assert_eq!(list[2].url, "https://c.example/rss");
    }

    #[test]
    fn legacy_encodings_are_decoded() {
        let mut bytes =
            b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><opml><body><outline text=\"".to_vec();
        bytes.push(0xe9); // é in Latin-1
        bytes.extend_from_slice(b"t\xe9\" xmlUrl=\"https://a.example/f\"/></body></opml>");
        assert_eq!(feeds_of(&bytes)[0].title.as_deref(), Some("été"));
        let utf16: Vec<u8> =
            "\u{FEFF}<opml><body><outline text=\"Ü\" xmlUrl=\"https://u.example/\"/></body></opml>"
                .encode_utf16()
                .flat_map(u16::to_le_bytes)
                .collect();
        assert_eq!(feeds_of(&utf16)[0].title.as_deref(), Some("Ü"));
    }

    fn feeds_of(bytes: &[u8]) -> Vec<OpmlFeed> {
        parse(bytes).unwrap().feeds
    }

    #[test]
    fn broken_documents_are_refused_with_their_place() {
        let cases = [
            (
                "<opml><body>\n<outline text=\"a\">\n</body></opml>",
                (3, 1),
                "not well-formed",
            ),
            (
                "<rss version=\"2.0\"><channel/></rss>",
                (1, 1),
                "root element is <rss>",
            ),
            ("<opml version=\"2.0\"><head/></opml>", (1, 35), "no <body>"),
            ("", (1, 1), "no <opml>"),
            ("just text", (1, 1), "no <opml>"),
        ];
        for (xml, (line, column), needle) in cases {
            let err = parse(xml.as_bytes()).unwrap_err();
            assert_eq!((err.line, err.column), (line, column), "{xml}: {err}");
            assert!(err.message.contains(needle), "{xml}: {err}");
        }
    }

    #[test]
    fn entities() {
        assert_eq!(
            decode_entities("a &amp; b &lt;&gt; &quot;&apos;"),
            "a & b <> \"'"
        );
        assert_eq!(decode_entities("&#233;&#xE9;&eacute;&hellip;"), "ééé…");
        assert_eq!(
            decode_entities("?a=1&b=2&;&#0;&nosuch;&"),
            "?a=1&b=2&;&#0;&nosuch;&"
        );
    }

    #[test]
    fn written_lists_read_back_the_same() {
        let sources = vec![
            ListedSource {
                url: "https://a.example/feed?x=1&y=\"2\"".into(),
                name: Some("A <b> & \"c\"".into()),
                tags: vec!["News/Tech".into(), "Later".into()],
            },
            ListedSource {
                url: "https://b.example/rss".into(),
                name: None,
                tags: vec![],
            },
            ListedSource {
                url: "https://c.example/atom".into(),
                name: Some("C\tline\nbreak".into()),
                tags: vec!["News".into()],
            },
        ];
        let created = DateTime::parse_from_rfc3339("2026-12-03T11:12:36Z")
            .unwrap()
            .to_utc();
        let xml = write("gleaner & co", created, &sources);
        assert!(
            xml.contains("<dateCreated>Thu, 03 Dec 2026 11:12:36 GMT</dateCreated>"),
            "{xml}"
        );
        assert!(xml.contains("<title>gleaner &amp; co</title>"), "{xml}");
        let read = parse(xml.as_bytes()).unwrap();
        assert_eq!(read.title.as_deref(), Some("gleaner & co"));
        let mut back: Vec<(String, Vec<String>)> = read
            .feeds
            .iter()
            .map(|f| (f.url.clone(), f.tags.clone()))
            .collect();
        back.sort();
        let mut expected: Vec<(String, Vec<String>)> = sources
            .iter()
            .map(|s| (s.url.clone(), s.tags.clone()))
            .collect();
        expected.sort();
        assert_eq!(back, expected);
        let a = read
            .feeds
            .iter()
            .find(|f| f.url.starts_with("https://a."))
            .unwrap();
        assert_eq!(a.title.as_deref(), Some("A <b> & \"c\""));
        let b = read
            .feeds
            .iter()
            .find(|f| f.url.starts_with("https://b."))
            .unwrap();
        assert_eq!(b.title.as_deref(), Some("https://b.example/rss"));
    }
}
