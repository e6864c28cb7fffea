//! A page's bytes to text, choosing the encoding the way a browser does (the HTML standard's
//! "encoding sniffing", less the guessing): a byte-order mark, then the HTTP `charset`, then a
//! `<meta charset>` or `<meta http-equiv="content-type">` in the first 1,024 bytes, else UTF-8,
//! with U+FFFD for bytes that are not.

use encoding_rs::{Encoding, UTF_8, UTF_16BE, UTF_16LE, WINDOWS_1252, X_USER_DEFINED};

/// How far into the page a `<meta>` declaration is looked for: browsers look no further, so
/// publishers who test their pages put it there.
const META_SCAN_BYTES: usize = 1024;

/// The page as text.
pub fn decode(page: &[u8], content_type: Option<&str>) -> String {
    if let Some((encoding, bom_len)) = Encoding::for_bom(page) {
        let (text, _) = encoding.decode_without_bom_handling(&page[bom_len..]);
        return text.into_owned();
    }
    let encoding = content_type
        .and_then(charset_of_content_type)
        .or_else(|| declared_in_meta(&page[..page.len().min(META_SCAN_BYTES)]))
        .unwrap_or(UTF_8);
    let (text, _) = encoding.decode_without_bom_handling(page);
    text.into_owned()
}

/// The encoding a label names, as the standard adjusts it for HTML: a page that is read as
/// bytes cannot be UTF-16 (its `<meta>` was readable as ASCII), and `x-user-defined` means
/// windows-1252.
fn html_encoding(label: &str) -> Option<&'static Encoding> {
    let encoding = Encoding::for_label(label.trim().trim_matches(['"', '\'']).as_bytes())?;
    Some(match encoding {
        e if e == UTF_16BE || e == UTF_16LE => UTF_8,
        e if e == X_USER_DEFINED => WINDOWS_1252,
        e => e,
    })
}

/// The `charset` parameter of a `Content-Type` value (`text/html; charset=koi8-r`).
fn charset_of_content_type(content_type: &str) -> Option<&'static Encoding> {
    content_type.split(';').skip(1).find_map(|param| {
        let (name, value) = param.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| html_encoding(value))?
    })
}

/// The encoding a `<meta>` tag declares in `head`: `charset="..."`, or `http-equiv` with a
/// `content` holding `charset=...`. The first tag that declares one wins.
fn declared_in_meta(head: &[u8]) -> Option<&'static Encoding> {
    // Only ASCII matters here; other bytes are kept as they are (one char each).
    let head: String = head.iter().map(|&b| b as char).collect();
    let lower = head.to_ascii_lowercase();
    let mut from = 0;
    while let Some(at) = lower[from..].find("<meta") {
        let start = from + at + "<meta".len();
        let end = lower[start..].find('>').map_or(lower.len(), |e| start + e);
        let tag = &lower[start..end];
        if let Some(label) = attribute(tag, "charset") {
            if let Some(encoding) = html_encoding(label) {
                return Some(encoding);
            }
        } else if attribute(tag, "http-equiv").is_some_and(|v| v == "content-type")
            && let Some(content) = attribute(tag, "content")
            && let Some(encoding) = charset_in_content(content)
        {
            return Some(encoding);
        }
        from = end;
    }
    None
}

/// `charset=X` inside a `content` attribute (`text/html; charset=X`).
fn charset_in_content(content: &str) -> Option<&'static Encoding> {
    let at = content.find("charset")?;
    let rest = content[at + "charset".len()..].trim_start();
    let value = rest.strip_prefix('=')?.trim_start();
    let value = value.trim_start_matches(['"', '\'']);
    let end = value
        .find(|c: char| c == ';' || c == '"' || c == '\'' || c.is_ascii_whitespace())
        .unwrap_or(value.len());
    html_encoding(&value[..end])
}

/// The value of attribute `name` in the inside of a tag (lower-cased), quoted or not.
fn attribute<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let mut from = 0;
    while let Some(at) = tag[from..].find(name) {
        let start = from + at;
        from = start + name.len();
        // A whole attribute name: preceded by a separator, followed by `=`.
        let before_ok = tag[..start]
            .chars()
            .next_back()
            .is_none_or(|c| c.is_ascii_whitespace() || c == '/' || c == '"' || c == '\'');
        let rest = tag[from..].trim_start();
        let Some(value) = rest.strip_prefix('=').filter(|_| before_ok) else {
            continue;
        };
        let value = value.trim_start();
        return Some(match value.chars().next() {
            Some(quote @ ('"' | '\'')) => {
                let inner = &value[1..];
                &inner[..inner.find(quote).unwrap_or(inner.len())]
            }
            _ => {
                let end = value
                    .find(|c: char| c.is_ascii_whitespace() || c == '/')
                    .unwrap_or(value.len());
                &value[..end]
            }
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn koi8(text: &str) -> Vec<u8> {
        encoding_rs::KOI8_R.encode(text).0.into_owned()
    }

    #[test]
    fn the_http_charset_is_obeyed() {
        let page = koi8("<p>Привет</p>");
        assert_eq!(
            decode(&page, Some("text/html; charset=\"KOI8-R\"")),
            "<p>Привет</p>"
        );
        // Without it the same bytes are not UTF-8: replacement characters, no failure.
        assert!(decode(&page, Some("text/html")).contains('\u{FFFD}'));
    }

    #[test]
    fn a_meta_declaration_in_the_first_bytes_is_obeyed() {
        let page = [
            b"<html><head><meta charset=windows-1251>".as_slice(),
            &encoding_rs::WINDOWS_1251.encode("Ёж").0,
        ]
        .concat();
        assert!(decode(&page, None).ends_with("Ёж"));
        let page = [
            b"<meta http-equiv='Content-Type' content='text/html; charset=ISO-8859-1'>".as_slice(),
            b"caf\xe9",
        ]
        .concat();
        assert!(decode(&page, None).ends_with("café"));
        // The HTTP header wins over the page.
        assert!(decode(&page, Some("text/html; charset=utf-8")).ends_with("caf\u{FFFD}"));
        // Past the first 1,024 bytes a declaration is not seen, as in a browser.
        let late = [
            " ".repeat(2000).as_bytes(),
            b"<meta charset=iso-8859-1>caf\xc3\xa9",
        ]
        .concat();
        assert!(decode(&late, None).ends_with("café"));
    }

    #[test]
    fn a_byte_order_mark_wins_over_everything() {
        let mut page = vec![0xFF, 0xFE];
        for unit in "<p>ü</p>".encode_utf16() {
            page.extend_from_slice(&unit.to_le_bytes());
        }
        assert_eq!(decode(&page, Some("text/html; charset=koi8-r")), "<p>ü</p>");
        let page = b"\xEF\xBB\xBF<meta charset=koi8-r>\xc3\xbc";
        assert_eq!(decode(page, None), "<meta charset=koi8-r>ü");
    }

    #[test]
    fn odd_declarations() {
        // UTF-16 declared in an ASCII-readable page means UTF-8; unknown labels are ignored.
        assert_eq!(
            decode(b"<meta charset=utf-16>\xc3\xbc", None),
            "<meta charset=utf-16>ü"
        );
        assert_eq!(
            decode(b"<meta charset=nonsense>\xc3\xbc", None),
            "<meta charset=nonsense>ü"
        );
        // A name that merely ends in "charset" is not the attribute.
        assert_eq!(
            decode(
                b"<meta data-charset=koi8-r charset=\"utf-8\">\xc3\xbc",
                None
            ),
            "<meta data-charset=koi8-r charset=\"utf-8\">ü"
        );
        assert_eq!(declared_in_meta(b"<meta charset"), None);
        assert_eq!(
            declared_in_meta(b"<meta http-equiv=content-type content=\"text/html\">"),
            None
        );
        assert_eq!(decode(b"", None), "");
    }
}
