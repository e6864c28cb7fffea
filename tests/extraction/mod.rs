//! The article-extraction benchmark of scrapinghub (`tests/fixtures/extraction/`, MIT): its 181
//! pages with the hand-checked article body of each, and its scoring, exactly as its
//! `evaluate.py` does it. Shared by `tests/extract.rs` (a floor on F1) and `benches/extract.rs`
//! (the figures).
//!
//! The scoring: a text is cut into tokens (runs of Python's `\w`: letters, digits, `_`), the
//! tokens into 4-token shingles (a text of 1 to 3 tokens is one shorter shingle), and each page
//! compared as multisets of shingles: true positives, false positives and false negatives,
//! divided by their sum so every page weighs the same. Precision is averaged over the pages that
//! gave any shingle, recall over the pages whose truth has any, and F1 is computed from the two
//! averages.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::Read;
use std::path::PathBuf;

/// One page of the benchmark.
pub struct Page {
    pub id: String,
    pub url: String,
    pub html: Vec<u8>,
    /// The true article body, a paragraph a line.
    pub truth: String,
}

/// Every page, in the order of their ids.
pub fn pages() -> Vec<Page> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/extraction");
    let truth: HashMap<String, serde_json::Value> = serde_json::from_slice(
        &std::fs::read(dir.join("ground-truth.json")).expect("ground-truth.json"),
    )
    .expect("ground-truth.json is JSON");
    let mut pages: Vec<Page> = truth
        .into_iter()
        .map(|(id, entry)| {
            let gz = std::fs::read(dir.join("html").join(format!("{id}.html.gz")))
                .unwrap_or_else(|e| panic!("{id}: {e}"));
            let mut html = Vec::new();
            flate2::read::GzDecoder::new(gz.as_slice())
                .read_to_end(&mut html)
                .unwrap_or_else(|e| panic!("{id}: {e}"));
            Page {
                url: entry["url"].as_str().unwrap_or_default().to_owned(),
                truth: entry["articleBody"].as_str().unwrap_or_default().to_owned(),
                id,
                html,
            }
        })
        .collect();
    pages.sort_by(|a, b| a.id.cmp(&b.id));
    pages
}

/// Python's `\w` on a `str`: `str.isalnum()` (the letter and number categories) or `_`. Not
/// Rust's `char::is_alphanumeric`, which also takes the combining marks of the Alphabetic
/// property (Arabic vowel signs, for one, which the benchmark's truth holds).
fn is_word_char(c: char) -> bool {
    use unicode_general_category::{GeneralCategory as G, get_general_category};
    c == '_'
        || matches!(
            get_general_category(c),
            G::UppercaseLetter
                | G::LowercaseLetter
                | G::TitlecaseLetter
                | G::ModifierLetter
                | G::OtherLetter
                | G::DecimalNumber
                | G::LetterNumber
                | G::OtherNumber
        )
}

pub fn tokens(text: &str) -> Vec<&str> {
    text.split(|c: char| !is_word_char(c))
        .filter(|t| !t.is_empty())
        .collect()
}

pub fn shingles(text: &str) -> HashMap<Vec<&str>, usize> {
    const N: usize = 4;
    let tokens = tokens(text);
    let mut counts = HashMap::new();
    if tokens.is_empty() {
        return counts;
    }
    for i in 0..tokens.len().saturating_sub(N - 1).max(1) {
        let end = (i + N).min(tokens.len());
        *counts.entry(tokens[i..end].to_vec()).or_insert(0) += 1;
    }
    counts
}

/// One page's true positives, false positives and false negatives, as shares of their sum.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Matching {
    pub tp: f64,
    pub fp: f64,
    pub fn_: f64,
}

impl Matching {
    pub fn precision(&self) -> f64 {
        if self.fp == 0.0 && self.fn_ == 0.0 {
            1.0
        } else if self.tp == 0.0 && self.fp == 0.0 {
            0.0
        } else {
            self.tp / (self.tp + self.fp)
        }
    }

    pub fn recall(&self) -> f64 {
        if self.fp == 0.0 && self.fn_ == 0.0 {
            1.0
        } else if self.tp == 0.0 && self.fn_ == 0.0 {
            0.0
        } else {
            self.tp / (self.tp + self.fn_)
        }
    }
}

/// `string_shingle_matching` of evaluate.py.
pub fn matching(truth: &str, predicted: &str) -> Matching {
    let truth = shingles(truth);
    let predicted = shingles(predicted);
    let (mut tp, mut fp, mut fn_) = (0usize, 0usize, 0usize);
    for (shingle, &t) in &truth {
        let p = predicted.get(shingle).copied().unwrap_or(0);
        tp += t.min(p);
        fn_ += t.saturating_sub(p);
    }
    for (shingle, &p) in &predicted {
        fp += p.saturating_sub(truth.get(shingle).copied().unwrap_or(0));
    }
    let sum = (tp + fp + fn_) as f64;
    let share = |x: usize| if sum > 0.0 { x as f64 / sum } else { 0.0 };
    Matching {
        tp: share(tp),
        fp: share(fp),
        fn_: share(fn_),
    }
}

/// Precision, recall and F1 over pages (`metrics_from_tp_fp_fns` of evaluate.py).
#[derive(Debug, Clone, Copy)]
pub struct Scores {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
}

pub fn scores(pages: &[Matching]) -> Scores {
    let mean = |values: Vec<f64>| values.iter().sum::<f64>() / values.len().max(1) as f64;
    let precision = mean(
        pages
            .iter()
            .filter(|m| m.tp + m.fp > 0.0)
            .map(Matching::precision)
            .collect(),
    );
    let recall = mean(
        pages
            .iter()
            .filter(|m| m.tp + m.fn_ > 0.0)
            .map(Matching::recall)
            .collect(),
    );
    let f1 = if precision + recall > 0.0 {
        2.0 * precision * recall / (precision + recall)
    } else {
        0.0
    };
    Scores {
        precision,
        recall,
        f1,
    }
}

/// How many of the truth's paragraphs (its lines, white space collapsed as FORMAT.md does)
/// are exactly one paragraph of `body`, and how many it has.
pub fn paragraphs_kept(truth: &str, body: &str) -> (usize, usize) {
    let ours: std::collections::HashSet<&str> = body.split("\n\n").collect();
    let theirs = gleaner::text::text_to_paragraphs(truth);
    let kept = theirs.iter().filter(|p| ours.contains(p.as_str())).count();
    (kept, theirs.len())
}
