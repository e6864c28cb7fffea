//! Whether a feed's item carries only a teaser of its article (the `auto` rule of issue 9).

/// Words under which a body counts as a teaser. Chosen on the real feeds of
/// `tests/fixtures/real-feeds/` (`cargo bench --bench extract -- --teasers`): the items of the
/// summary-only feeds (Medscape, Mint, Aktuality, Never Work in Theory) have at most 63 words,
/// while complete short posts often have more than 100 (Daring Fireball's median is 133, ATP's
/// show notes 148). Under 100 takes every one of those summaries and flags 15 of Daring
/// Fireball's 48 posts and 8 of ATP's 100, where the "about 150" flags 26 and 52.
/// Longer summaries are told by their endings (Macworld's "To read this article in full,
/// please click here").
pub const TEASER_WORDS: usize = 100;

/// What makes a body look like a teaser; each is enough.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TeaserSigns {
    /// Fewer than [`TEASER_WORDS`] words.
    pub short: bool,
    /// The last paragraph ends in an ellipsis: `…`, `...`, `[…]`, `(more…)`.
    pub ellipsis: bool,
    /// The last paragraph is a short call to read on: "Read more", "Continue reading",
    /// "To read this article in full, please click here".
    pub read_more: bool,
    /// The last paragraph is the article's own address.
    pub link_last: bool,
}

impl TeaserSigns {
    pub fn any(&self) -> bool {
        self.short || self.ellipsis || self.read_more || self.link_last
    }
}

/// Phrases of a call to read on (compared in lower case).
const READ_ON: &[&str] = &[
    "read more",
    "read on",
    "continue reading",
    "keep reading",
    "read the full",
    "read the rest",
    "read full",
    "full story",
    "full article",
    "click here",
];

/// Words at most in a last paragraph that is a call to read on: a call is short, and a long
/// paragraph that mentions "click here" is prose.
const READ_ON_WORDS: usize = 12;

/// Whether `body` (a rendered BODY: paragraphs separated by blank lines) is a teaser of the
/// article at `link`: short (under [`TEASER_WORDS`] words), or ending as teasers end, in an
/// ellipsis, a call to read on ("Read more", "Continue reading"), or the article's address.
///
/// The rule cannot tell a summary from a complete post that is short (a microblog's, a
/// link-blog's comment): when it says yes, the caller should keep the feed's text unless the
/// page's article is longer and takes up where the teaser leaves off.
pub fn is_teaser(body: &str, link: Option<&str>) -> bool {
    teaser_signs(body, link).any()
}

/// Each part of [`is_teaser`]'s rule, for measuring them apart.
pub fn teaser_signs(body: &str, link: Option<&str>) -> TeaserSigns {
    let last = body
        .rsplit("\n\n")
        .map(str::trim)
        .find(|p| !p.is_empty())
        .unwrap_or("");
    let last_lower = last.to_lowercase();
    TeaserSigns {
        short: body.split_whitespace().count() < TEASER_WORDS,
        ellipsis: ["…", "...", "[…]", "[...]", "(more…)", "(more...)"]
            .iter()
            .any(|end| last.ends_with(end)),
        read_more: last.split_whitespace().count() <= READ_ON_WORDS
            && READ_ON.iter().any(|phrase| last_lower.contains(phrase)),
        link_last: link.is_some_and(|link| same_address(last, link)),
    }
}

/// Two spellings of one address: scheme, `www.` and a trailing slash aside.
fn same_address(a: &str, b: &str) -> bool {
    fn bare(url: &str) -> &str {
        let url = url.trim();
        let url = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"))
            .unwrap_or(url);
        let url = url.strip_prefix("www.").unwrap_or(url);
        url.strip_suffix('/').unwrap_or(url)
    }
    !bare(b).is_empty() && bare(a) == bare(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A body of `n` words in paragraphs of ten.
    fn words(n: usize) -> String {
        (0..n)
            .map(|i| format!("w{i}"))
            .collect::<Vec<_>>()
            .chunks(10)
            .map(|c| c.join(" "))
            .collect::<Vec<_>>()
            .join("\n\n")
    }

    #[test]
    fn short_bodies_are_teasers_long_ones_are_not() {
        assert!(is_teaser(&words(TEASER_WORDS - 1), None));
        assert!(!is_teaser(&words(TEASER_WORDS), None));
        assert!(is_teaser("", None));
    }

    #[test]
    fn teaser_endings_make_a_long_body_a_teaser() {
        let long = words(300);
        for ending in [
            "and then the council… ",
            "and then the council...",
            "the vote [...]",
            "the vote […]",
            "Continue reading on Medium »",
            "To read this article in full, please click here",
            "READ MORE",
        ] {
            let body = format!("{long}\n\n{}", ending.trim_end());
            assert!(is_teaser(&body, None), "{ending}");
        }
        let body = format!("{long}\n\nhttp://www.example.org/story/");
        assert!(is_teaser(&body, Some("https://example.org/story")));
        assert!(!is_teaser(&body, Some("https://example.org/other")));
        // A long last paragraph that mentions reading on is prose, and an ellipsis mid-way
        // ends nothing.
        let prose = format!(
            "{long}\n\nWe asked readers to click here and there on the new site, and to read more slowly than they usually would."
        );
        assert!(!is_teaser(&prose, None));
        assert!(!is_teaser(&format!("{long}\n\nIt was… fine."), None));
        assert!(!is_teaser(&long, Some("")));
    }
}
