//! What `gleaner search` asks for and gets back, and the user's query text read into terms
//! that both engines' full-text syntaxes can be given safely. Pure: the store turns [`Terms`]
//! into an FTS5 `MATCH` expression or a PostgreSQL `tsquery`.
//!
//! The query syntax, the same on both engines: words, all required; `"a phrase"`, its words
//! next to each other in that order; `word*`, any word starting so; `-word` (or `-"a phrase"`),
//! articles without it. Everything else is text: `AND`, `OR`, `NOT`, `NEAR`, parentheses and
//! colons are not operators, and a character that is neither a letter nor a digit separates
//! words (`foo-bar` is the phrase `"foo bar"`), as both engines' tokenizers do.

use chrono::NaiveDate;
use serde::Serialize;

/// One word, or several that must follow each other (a phrase); `prefix`: the last word may be
/// the start of a longer one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    /// Lower case, letters and digits only: safe inside either engine's query syntax.
    pub words: Vec<String>,
    pub prefix: bool,
}

/// A query read: the terms an article must have, and those it must not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Terms {
    pub required: Vec<Term>,
    pub excluded: Vec<Term>,
}

/// Why a query cannot be searched for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("nothing to search for: give one or more words (letters or digits)")]
    Empty,
    #[error("only words to exclude: give at least one word to look for as well")]
    OnlyExcluded,
}

/// A search: what to look for, and which articles to look in.
#[derive(Debug, Clone)]
pub struct SearchQuery {
    pub terms: Terms,
    /// Only articles dated (`articles.date`) on or after this day.
    pub since: Option<NaiveDate>,
    /// Only articles carried by this source (its id).
    pub source: Option<i64>,
    pub limit: u32,
}

/// One article found, best first. `rank` is the engine's own score, higher is better
/// (SQLite: minus FTS5's bm25; PostgreSQL: `ts_rank`), comparable only within one search.
#[derive(Debug, Clone, Serialize)]
pub struct SearchHit {
    pub key: String,
    pub date: String,
    pub title: String,
    /// The source's name (configured, else the feed's title, else its URL); with `--source`,
    /// that source, else the first that carried the article.
    pub source: String,
    pub source_url: String,
    pub rank: f64,
    /// Words around the matches in the body on one line, matches marked `[`like this`]`.
    pub snippet: String,
}

/// How snippets mark a match (both engines).
pub const MATCH_START: &str = "[";
pub const MATCH_END: &str = "]";

impl Terms {
    /// Reads the user's query (see the module's documentation for the syntax).
    pub fn parse(text: &str) -> Result<Terms, QueryError> {
        let mut terms = Terms {
            required: Vec::new(),
            excluded: Vec::new(),
        };
        let mut rest = text.trim_start();
        while !rest.is_empty() {
            let excluded = rest.starts_with('-');
            if excluded {
                rest = &rest[1..];
            }
            let (chunk, prefix, after) = if let Some(inside) = rest.strip_prefix('"') {
                // An unclosed quote runs to the end: a forgiving reading beats an error.
                let end = inside.find('"').unwrap_or(inside.len());
                let after = inside.get(end + 1..).unwrap_or("");
                (&inside[..end], false, after)
            } else {
                let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
                let token = &rest[..end];
                let prefix = token.ends_with('*');
                (token.trim_end_matches('*'), prefix, &rest[end..])
            };
            let words = words_of(chunk);
            if !words.is_empty() {
                let term = Term { words, prefix };
                if excluded {
                    terms.excluded.push(term);
                } else {
                    terms.required.push(term);
                }
            }
            rest = after.trim_start();
        }
        if terms.required.is_empty() {
            return Err(if terms.excluded.is_empty() {
                QueryError::Empty
            } else {
                QueryError::OnlyExcluded
            });
        }
        Ok(terms)
    }

    /// The FTS5 `MATCH` expression: every word in double quotes (so no word is an operator),
    /// phrases as FTS5 phrases, `*` after a quoted prefix; exclusions by `NOT`, which FTS5 has
    /// only as a binary operator (hence at least one required term).
    pub fn to_fts5(&self) -> String {
        let phrase = |t: &Term| {
            let quoted: Vec<String> = t.words.iter().map(|w| format!("\"{w}\"")).collect();
            let star = if t.prefix { " *" } else { "" };
            format!("{}{star}", quoted.join(" + "))
        };
        let required: Vec<String> = self.required.iter().map(phrase).collect();
        let mut expression = format!("({})", required.join(" AND "));
        for term in &self.excluded {
            expression.push_str(&format!(" NOT ({})", phrase(term)));
        }
        expression
    }

    /// The PostgreSQL `to_tsquery` text: each word a quoted lexeme (`'word'`, letters and
    /// digits only, so no quote to escape), phrases joined by `<->`, `:*` on a prefix.
    pub fn to_tsquery(&self) -> String {
        let phrase = |t: &Term| {
            let lexemes: Vec<String> = t.words.iter().map(|w| format!("'{w}'")).collect();
            let star = if t.prefix { ":*" } else { "" };
            format!("({}{star})", lexemes.join(" <-> "))
        };
        let mut parts: Vec<String> = self.required.iter().map(phrase).collect();
        parts.extend(self.excluded.iter().map(|t| format!("!{}", phrase(t))));
        parts.join(" & ")
    }
}

/// The words of `text`: runs of letters and digits, in lower case.
fn words_of(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// A snippet as the engine gave it, on one line: the body's paragraph breaks and runs of white
/// space become one space.
pub fn one_line(snippet: &str) -> String {
    snippet.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn term(words: &[&str], prefix: bool) -> Term {
        Term {
            words: words.iter().map(|w| w.to_string()).collect(),
            prefix,
        }
    }

    #[test]
    fn words_phrases_prefixes_and_exclusions() {
        let terms = Terms::parse(r#"Apple "Tim  Cook" watch* -android -"google pixel""#).unwrap();
        assert_eq!(
            terms.required,
            vec![
                term(&["apple"], false),
                term(&["tim", "cook"], false),
                term(&["watch"], true)
            ]
        );
        assert_eq!(
            terms.excluded,
            vec![term(&["android"], false), term(&["google", "pixel"], false)]
        );
        assert_eq!(
            terms.to_fts5(),
            r#"("apple" AND "tim" + "cook" AND "watch" *) NOT ("android") NOT ("google" + "pixel")"#
        );
        assert_eq!(
            terms.to_tsquery(),
            "('apple') & ('tim' <-> 'cook') & ('watch':*) & !('android') & !('google' <-> 'pixel')"
        );
    }

    #[test]
    fn operators_and_punctuation_are_text() {
        let terms = Terms::parse("foo AND NEAR(bar: baz) OR x-ray").unwrap();
        let words: Vec<_> = terms.required.iter().map(|t| t.words.join(" ")).collect();
        assert_eq!(words, ["foo", "and", "near bar", "baz", "or", "x ray"]);
        assert!(terms.excluded.is_empty());
        // Quotes inside words cannot reach either engine's syntax.
        let terms = Terms::parse(r#"o'brien "a"b"#).unwrap();
        assert!(!terms.to_fts5().contains('\''));
        assert_eq!(terms.to_tsquery(), "('o' <-> 'brien') & ('a') & ('b')");
    }

    #[test]
    fn nothing_to_search_for_is_an_error() {
        for text in ["", "   ", "\"", "-", "*", "()", "\"\"", "-*", "NEAR("] {
            let result = Terms::parse(text);
            if text == "NEAR(" {
                assert!(result.is_ok());
            } else {
                assert_eq!(result, Err(QueryError::Empty), "{text:?}");
            }
        }
        assert_eq!(Terms::parse("-foo"), Err(QueryError::OnlyExcluded));
        // An unclosed quote is a phrase to the end.
        assert_eq!(
            Terms::parse("\"big red").unwrap().required,
            vec![term(&["big", "red"], false)]
        );
    }

    #[test]
    fn letters_of_any_script_are_words() {
        let terms = Terms::parse("Zürich 東京 Ünïcode").unwrap();
        let words: Vec<_> = terms.required.iter().map(|t| t.words.join(" ")).collect();
        assert_eq!(words, ["zürich", "東京", "ünïcode"]);
    }

    #[test]
    fn snippets_are_one_line() {
        assert_eq!(one_line("a\n\nb  c\t d "), "a b c d");
    }
}
