//! Real feeds from the wild (`tests/fixtures/real-feeds/`, with their licence note): every file
//! parses or fails with a clear error, never a panic, and every entry renders to a document that
//! obeys the form.

mod common;

use chrono::Utc;
use gleaner::{dedup, feed, render, text};

#[test]
fn real_feeds_give_documents_in_the_form() {
    let dir = common::fixture("real-feeds");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let (mut feeds, mut documents) = (0, 0);
    let mut refused = Vec::new();
    for path in files {
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        if !["rss", "atom", "json", "xml", "rdf", "html", "opml"].contains(&ext) {
            continue;
        }
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let bytes = std::fs::read(&path).unwrap();
        match feed::parse(&bytes, None, Some("https://example.org/feed")) {
            Err(e) => {
                println!("{name}: {} ({e})", gleaner::record::FailureClass::from(&e));
                assert!(!e.to_string().contains('\n'));
                refused.push(name);
            }
            Ok(parsed) => {
                feeds += 1;
                let rendered: Vec<_> = parsed
                    .entries
                    .iter()
                    .map(|e| render::render_entry(e, None, Utc::now()))
                    .collect();
                for r in &rendered {
                    text::check_document(&r.document)
                        .unwrap_or_else(|e| panic!("{name}: {e}\n{}", r.document));
                    assert!(r.document.starts_with(&format!(" date {}", r.date)));
                    documents += 1;
                }
                let source = dedup::SourceContext {
                    url: "https://example.org/feed",
                    site_url: parsed.site_url.as_deref(),
                    basis: dedup::IdentityBasis::Guid,
                };
                let identified =
                    dedup::identify(source, &dedup::TrackingParams::default(), rendered);
                for item in &identified.items {
                    assert_eq!(item.key.len(), 16, "{name}");
                }
            }
        }
    }
    // What may not parse: web pages and subscription lists are not feeds; ScriptingNews.json is
    // RSS written as JSON (not JSON Feed), and allthis-partial.json is cut off mid-document.
    refused.retain(|name| {
        !(name.ends_with(".html") || name.ends_with(".opml"))
            && name != "ScriptingNews.json"
            && name != "allthis-partial.json"
    });
    assert!(
        refused.is_empty(),
        "feeds that should parse but did not: {refused:?}"
    );
    println!("{feeds} feeds, {documents} documents");
    assert!(feeds >= 40, "only {feeds} feeds parsed");
    assert!(documents >= 1000, "only {documents} documents");
}

/// Damaged copies of real feeds (cut short, bytes flipped) give an error or entries, never a
/// panic, and whatever renders obeys the form.
#[test]
fn damaged_feeds_never_panic() {
    let dir = common::fixture("real-feeds");
    let mut tried = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        for cut in [
            1,
            7,
            64,
            bytes.len() / 3,
            bytes.len() / 2,
            bytes.len().saturating_sub(9),
        ] {
            let mut damaged = bytes[..cut.min(bytes.len())].to_vec();
            for (i, b) in damaged.iter_mut().enumerate() {
                if i % 251 == 17 {
                    *b = b.wrapping_add(0x80);
                }
            }
            tried += 1;
            if let Ok(parsed) = feed::parse(&damaged, None, None) {
                for e in &parsed.entries {
                    let r = render::render_entry(e, None, Utc::now());
                    text::check_document(&r.document)
                        .unwrap_or_else(|err| panic!("{}: {err}", path.display()));
                }
            }
        }
    }
    assert!(tried > 300);
}
