//! Every worked example of FORMAT.md (`tests/fixtures/format/vectors.json`), through the same
//! functions the daemon uses, and the bundled sample article.

mod common;

use chrono::Utc;
use gleaner::{feed, render, text};

#[derive(serde::Deserialize)]
struct Vectors {
    vectors: Vec<Vector>,
}

#[derive(serde::Deserialize)]
struct Vector {
    id: String,
    kind: String,
    input: serde_json::Value,
    expected: String,
}

/// Parses one RSS `<item>` the way a fetched feed is parsed and renders it.
fn render_item(item_xml: &str) -> String {
    let namespaces = "xmlns:content=\"http://purl.org/rss/1.0/modules/content/\"";
    let xml = format!(
        "<rss version=\"2.0\" {namespaces}><channel><title>t</title>{item_xml}</channel></rss>"
    );
    let parsed = feed::parse(xml.as_bytes(), None, None).expect("the vector's item parses");
    assert_eq!(parsed.entries.len(), 1);
    render::render_entry(&parsed.entries[0], None, Utc::now()).document
}

fn date_of(timestamp: &str) -> String {
    let xml = format!(
        "<rss version=\"2.0\"><channel><title>t</title><item><title>x</title><pubDate>{timestamp}</pubDate></item></channel></rss>"
    );
    let parsed = feed::parse(xml.as_bytes(), None, None).unwrap();
    render::document_date(parsed.entries[0].published, None, Utc::now()).to_string()
}

#[test]
fn every_vector_passes() {
    let file = std::fs::read_to_string(common::fixture("format/vectors.json")).unwrap();
    let vectors: Vectors = serde_json::from_str(&file).unwrap();
    assert_eq!(vectors.vectors.len(), 42);
    let mut failures = Vec::new();
    for v in &vectors.vectors {
        let got = match v.kind.as_str() {
            "body" => {
                let html = v.input.as_str().unwrap();
                text::html_to_paragraphs(html).join("\n\n")
            }
            "title" => text::clean_title(v.input.as_str().unwrap()),
            "date" => date_of(v.input.as_str().unwrap()),
            "doc" => {
                let [title, date, html] = [0, 1, 2].map(|i| v.input[i].as_str().unwrap());
                let title = text::clean_title(title);
                let body = text::body_from_paragraphs(&title, text::html_to_paragraphs(html));
                text::document(date, &title, &body)
            }
            "item" => render_item(v.input.as_str().unwrap()),
            other => panic!("unknown vector kind {other}"),
        };
        if got != v.expected {
            failures.push(format!(
                "{}: expected {:?}, got {:?}",
                v.id, v.expected, got
            ));
        }
        if matches!(v.kind.as_str(), "doc" | "item") {
            text::check_document(&got).unwrap_or_else(|e| panic!("{}: {e}", v.id));
        }
    }
    assert!(
        failures.is_empty(),
        "{} vectors fail:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn the_sample_body_renders_to_the_seed() {
    let html = std::fs::read_to_string(common::fixture("seed/sample-body.html")).unwrap();
    let title = text::clean_title(
        "Ukraine Says Russia Mustering 500,000 Troops On Borders For New Major Offensive",
    );
    let body = text::body_from_paragraphs(&title, text::html_to_paragraphs(&html));
    let document = text::document("2023-02-03", &title, &body);
    assert_eq!(document, common::seed_document());
    assert_eq!(document.len(), 3157);
    text::check_document(&document).unwrap();
    // The seed itself, stray empty paragraph and all, is read by the parser.
    let seed = std::fs::read_to_string(common::fixture("seed/000_84bee846af57b8c6.txt")).unwrap();
    let parsed = text::parse_document(&seed).expect("the seed parses");
    assert_eq!(parsed.date, "2023-02-03");
    assert_eq!(parsed.title, title);
    assert_eq!(parsed.paragraphs.len(), body.split("\n\n").count());
    assert!(
        text::check_document(&seed).is_err(),
        "the daemon never writes an empty paragraph"
    );
}
