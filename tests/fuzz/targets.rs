//! The four fuzz targets as plain functions, shared by the cargo-fuzz binaries
//! (`fuzz_targets/`) and the stable replay and mutation loop (`tests/fuzz_seeds.rs`). Each
//! panics when an input breaks a promise: a panic anywhere below, a document out of the form, a
//! date or link that should have been refused.

// Each fuzz binary uses one of these functions.
#![allow(dead_code)]

use std::path::Path;

use chrono::{DateTime, Utc};
use gleaner::subscriptions::opml;
use gleaner::{config, dedup, feed, render, text};

/// When every fuzzed item is "seen": a fixed time, so that a failure replays.
fn seen_at() -> DateTime<Utc> {
    DateTime::from_timestamp(1_675_400_000, 0).unwrap_or_default()
}

/// Feed bytes to entries to documents: parse, render, identify.
pub fn feed_to_documents(bytes: &[u8]) {
    let parsed = match feed::parse(bytes, None, Some("https://example.org/feed")) {
        Ok(parsed) => parsed,
        // A crash of the feed parser is caught, but the whole feed is lost: a finding too.
        Err(e) if e.to_string().contains("crashed") => panic!("{e}"),
        Err(_) => return,
    };
    let seen = seen_at();
    let rendered: Vec<_> = parsed
        .entries
        .iter()
        .map(|entry| render::render_entry(entry, None, seen))
        .collect();
    for r in &rendered {
        if let Err(e) = text::check_document(&r.document) {
            panic!("a document out of the form: {e}\n{:?}", r.document);
        }
        assert_eq!(r.date.len(), 10, "a DATE of another shape: {:?}", r.date);
        if let Some(at) = r.published_at {
            let stored = at.format("%Y-%m-%dT%H:%M:%SZ").to_string();
            assert_eq!(stored.len(), 20, "a timestamp of another shape: {stored}");
            assert!(
                at <= seen + chrono::TimeDelta::days(2),
                "a future date kept"
            );
        }
        if let Some(link) = &r.link {
            let scheme = url::Url::parse(link).map(|u| u.scheme().to_owned());
            assert!(
                matches!(scheme.as_deref(), Ok("http" | "https")),
                "a link that is no web page kept: {link:?}"
            );
        }
    }
    let source = dedup::SourceContext {
        url: "https://example.org/feed",
        site_url: parsed.site_url.as_deref(),
        basis: dedup::IdentityBasis::Guid,
    };
    let identified = dedup::identify(source, &dedup::TrackingParams::default(), rendered);
    for item in &identified.items {
        assert_eq!(item.key.len(), 16);
    }
}

/// HTML (any bytes, read as UTF-8 with replacement) to a document: title, body, the whole.
pub fn html_to_document(bytes: &[u8]) {
    let html = String::from_utf8_lossy(bytes);
    let title = text::clean_title(&html);
    let body = text::body_from_paragraphs(&title, text::html_to_paragraphs(&html));
    let document = text::document("2023-02-03", &title, &body);
    if let Err(e) = text::check_document(&document) {
        panic!("a document out of the form: {e}\n{document:?}");
    }
    let parsed = text::parse_document(&document).expect("a document reads back");
    assert_eq!(parsed.title, title);
    let plain = text::text_to_paragraphs(&html);
    assert!(plain.iter().all(|p| !p.is_empty() && !p.contains('\n')));
}

/// TOML (any bytes that are UTF-8) to a configuration, or an error that says where.
pub fn toml_to_config(bytes: &[u8]) {
    let Ok(toml) = std::str::from_utf8(bytes) else {
        return;
    };
    if let Err(e) = config::Config::parse(toml, Path::new("fuzz.toml")) {
        let message = e.to_string();
        assert!(!message.is_empty());
    }
}

/// OPML bytes to feeds, or an error with a place; the feeds written out as OPML read back as
/// the same feeds (addresses, names, tags).
pub fn opml_round_trip(bytes: &[u8]) {
    let list = match opml::parse(bytes) {
        Ok(list) => list,
        Err(e) => {
            assert!(
                e.line >= 1 && e.column >= 1 && !e.message.is_empty(),
                "{e:?}"
            );
            return;
        }
    };
    let listed: Vec<opml::ListedSource> = list
        .feeds
        .iter()
        .map(|f| opml::ListedSource {
            url: f.url.clone(),
            name: f.title.clone(),
            tags: f.tags.clone(),
        })
        .collect();
    let written = opml::write("fuzz", seen_at(), &listed);
    let again = opml::parse(written.as_bytes()).expect("a written list reads back");
    assert_eq!(again.feeds.len(), list.feeds.len(), "{written}");
    let named = |feeds: &[opml::OpmlFeed]| {
        let mut pairs: Vec<(String, String)> = feeds
            .iter()
            .map(|f| {
                (
                    f.url.clone(),
                    f.title.clone().unwrap_or_else(|| f.url.clone()),
                )
            })
            .collect();
        pairs.sort();
        pairs
    };
    assert_eq!(named(&list.feeds), named(&again.feeds), "{written}");
    // Tags too, unless one holds the separator of the `category` attribute.
    if !list
        .feeds
        .iter()
        .flat_map(|f| &f.tags)
        .any(|t| t.contains(','))
    {
        let tagged = |feeds: &[opml::OpmlFeed]| {
            let mut pairs: Vec<(String, Vec<String>)> = feeds
                .iter()
                .map(|f| (f.url.clone(), f.tags.clone()))
                .collect();
            pairs.sort();
            pairs
        };
        assert_eq!(tagged(&list.feeds), tagged(&again.feeds), "{written}");
    }
}
