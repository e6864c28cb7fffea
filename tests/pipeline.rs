//! The whole pipeline through the real binary: a loopback HTTP server, `gleaner once`, and the
//! real SQLite file it writes.

mod common;

use common::{Reply, TestServer, Workspace, count, rss};

const DATE: &str = "Fri, 03 Feb 2023 10:00:00 +0000";

/// For tests of the feed's own polling: their teasers' links lead off this machine, and a page
/// still to fetch makes the next poll read the feed again (see tests/full_text.rs).
const NO_FULL_TEXT: &str = "full_text = \"never\"";

#[test]
fn first_poll_stores_second_poll_is_conditional_and_stores_nothing() {
    let server = TestServer::start();
    let feed = rss(&[
        (
            "a1",
            "https://example.org/a1",
            "First story",
            DATE,
            "<p>One.</p><p>Two.</p>",
        ),
        (
            "a2",
            "https://example.org/a2",
            "Second story",
            DATE,
            "<p>Three.</p>",
        ),
    ]);
    server.route("/etag.xml", Reply::feed(feed.clone()).with_etag("\"v1\""));
    server.route(
        "/date.xml",
        Reply::feed(rss(&[(
            "b1",
            "https://example.org/b1",
            "Third",
            DATE,
            "<p>Four.</p>",
        )]))
        .with_last_modified("Fri, 03 Feb 2023 10:00:00 GMT"),
    );
    let ws = Workspace::new();
    ws.write_config(
        NO_FULL_TEXT,
        &[
            ("etag", &server.url("/etag.xml")),
            ("date", &server.url("/date.xml")),
        ],
    );

    let first = ws.once();
    let out = common::stdout(&first);
    assert!(
        out.contains("ok     etag: 2 new, 0 updated, 2 items"),
        "{out}"
    );
    assert!(out.contains("ok     date: 1 new"), "{out}");
    let db = ws.open_db();
    assert_eq!(count(&db, "SELECT count(*) FROM articles"), 3);
    let doc: String = db
        .query_row(
            "SELECT document FROM articles WHERE title = 'First story'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(doc, " date 2023-02-03 First story\n\nOne.\n\nTwo.");
    // No validators on a first request.
    assert!(
        !server.seen("/etag.xml")[0]
            .headers
            .contains_key("if-none-match")
    );

    let second = ws.once();
    let out = common::stdout(&second);
    assert!(out.contains("ok     etag: not modified"), "{out}");
    assert!(out.contains("ok     date: not modified"), "{out}");
    let etag_requests = server.seen("/etag.xml");
    assert_eq!(etag_requests.len(), 2);
    assert_eq!(
        etag_requests[1]
            .headers
            .get("if-none-match")
            .map(String::as_str),
        Some("\"v1\"")
    );
    assert_eq!(etag_requests[1].status, 304);
    let date_requests = server.seen("/date.xml");
    assert_eq!(
        date_requests[1]
            .headers
            .get("if-modified-since")
            .map(String::as_str),
        Some("Fri, 03 Feb 2023 10:00:00 GMT")
    );
    assert!(etag_requests[1].headers["user-agent"].starts_with("gleaner/"));
    assert_eq!(count(&db, "SELECT count(*) FROM articles"), 3);
    assert_eq!(count(&db, "SELECT count(*) FROM entries"), 3);
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM fetches WHERE not_modified = 1 AND http_status = 304"
        ),
        2
    );
    assert_eq!(count(&db, "SELECT count(*) FROM fetches"), 4);
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM sources WHERE last_success_at IS NOT NULL AND consecutive_errors = 0"
        ),
        2
    );
}

#[test]
fn identical_body_without_validators_is_not_parsed_again() {
    let server = TestServer::start();
    server.route(
        "/plain.xml",
        Reply::feed(rss(&[(
            "x",
            "https://example.org/x",
            "X",
            DATE,
            "<p>x</p>",
        )])),
    );
    let ws = Workspace::new();
    ws.write_config(NO_FULL_TEXT, &[("plain", &server.url("/plain.xml"))]);
    ws.once();
    let out = common::stdout(&ws.once());
    assert!(out.contains("ok     plain: not modified"), "{out}");
    let db = ws.open_db();
    // The second fetch was a full 200, recorded as such, with no items looked at.
    let (status, seen, not_modified): (i64, i64, i64) = db
        .query_row(
            "SELECT http_status, items_seen, not_modified FROM fetches ORDER BY id DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!((status, seen, not_modified), (200, 0, 0));
}

#[test]
fn an_edited_item_becomes_a_revision() {
    let server = TestServer::start();
    let before = rss(&[
        (
            "e1",
            "https://example.org/e1",
            "Edited story",
            DATE,
            "<p>Original text.</p>",
        ),
        (
            "e2",
            "https://example.org/e2",
            "Untouched",
            DATE,
            "<p>Same.</p>",
        ),
    ]);
    server.route("/feed.xml", Reply::feed(before).with_etag("\"1\""));
    let ws = Workspace::new();
    ws.write_config("", &[("news", &server.url("/feed.xml"))]);
    ws.once();

    let after = rss(&[
        (
            "e1",
            "https://example.org/e1",
            "Edited story, updated",
            DATE,
            "<p>Corrected text.</p>",
        ),
        (
            "e2",
            "https://example.org/e2",
            "Untouched",
            DATE,
            "<p>Same.</p>",
        ),
    ]);
    server.route("/feed.xml", Reply::feed(after).with_etag("\"2\""));
    let out = common::stdout(&ws.once());
    assert!(out.contains("0 new, 1 updated, 2 items"), "{out}");

    let db = ws.open_db();
    assert_eq!(count(&db, "SELECT count(*) FROM articles"), 2);
    let (revision, document): (i64, String) = db
        .query_row(
            "SELECT revision, document FROM articles WHERE url = 'https://example.org/e1'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(revision, 2);
    assert_eq!(
        document,
        " date 2023-02-03 Edited story, updated\n\nCorrected text."
    );
    let (old_revision, old): (i64, String) = db
        .query_row(
            "SELECT revision, document FROM article_revisions",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(old_revision, 1);
    assert_eq!(old, " date 2023-02-03 Edited story\n\nOriginal text.");
    assert_eq!(count(&db, "SELECT count(*) FROM article_revisions"), 1);
    // The full-text index follows the edit.
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM articles_fts WHERE articles_fts MATCH 'corrected'"
        ),
        1
    );
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM articles_fts WHERE articles_fts MATCH 'original'"
        ),
        0
    );
}

#[test]
fn two_feeds_with_the_same_link_give_one_article_and_two_entries() {
    let server = TestServer::start();
    server.route(
        "/one.xml",
        Reply::feed(rss(&[(
            "one-1",
            "https://www.example.org/shared?utm_source=one",
            "Shared",
            DATE,
            "<p>Shared text.</p>",
        )])),
    );
    server.route(
        "/two.xml",
        Reply::feed(rss(&[
            (
                "two-9",
                "http://example.org/shared#comments",
                "Shared",
                DATE,
                "<p>Shared text.</p>",
            ),
            (
                "two-10",
                "https://example.org/other",
                "Other",
                DATE,
                "<p>Other text.</p>",
            ),
        ])),
    );
    let ws = Workspace::new();
    ws.write_config(
        "",
        &[
            ("one", &server.url("/one.xml")),
            ("two", &server.url("/two.xml")),
        ],
    );
    ws.once();
    let db = ws.open_db();
    assert_eq!(count(&db, "SELECT count(*) FROM articles"), 2);
    assert_eq!(count(&db, "SELECT count(*) FROM entries"), 3);
    assert_eq!(
        count(
            &db,
            "SELECT count(DISTINCT source_id) FROM article_sources WHERE title = 'Shared'"
        ),
        2
    );
    // The publishers' links are kept as they gave them, the canonical form is shared.
    let links: Vec<String> = db
        .prepare("SELECT link FROM entries e JOIN articles a ON a.id = e.article_id WHERE a.title = 'Shared' ORDER BY e.id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(links.len(), 2);
    assert!(links.contains(&"https://www.example.org/shared?utm_source=one".to_string()));
    assert!(links.contains(&"http://example.org/shared#comments".to_string()));
    let canonical: String = db
        .query_row(
            "SELECT canonical_url FROM articles WHERE title = 'Shared'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(canonical, "https://example.org/shared");

    // Polling again changes nothing.
    server.route(
        "/one.xml",
        Reply::feed(rss(&[(
            "one-1",
            "https://www.example.org/shared?utm_source=one",
            "Shared",
            DATE,
            "<p>Shared text.</p>",
        )]))
        .with_etag("\"n\""),
    );
    ws.once();
    assert_eq!(count(&db, "SELECT count(*) FROM articles"), 2);
    assert_eq!(count(&db, "SELECT count(*) FROM article_revisions"), 0);
}

#[test]
fn broken_sources_are_recorded_and_the_others_stored() {
    let server = TestServer::start();
    server.route(
        "/good.xml",
        Reply::feed(rss(&[(
            "g",
            "https://example.org/g",
            "Good",
            DATE,
            "<p>Fine.</p>",
        )])),
    );
    server.route(
        "/invalid.xml",
        Reply::feed("<rss version=\"2.0\"><channel><item><title>x</titl"),
    );
    server.route(
        "/page.html",
        Reply::status(
            200,
            "<!DOCTYPE html><html><head><title>Home</title></head><body><p>Hi</p></body></html>",
        ),
    );
    server.route("/missing.xml", Reply::status(404, "not here"));
    server.route("/broken.xml", Reply::status(500, "oops"));
    server.route("/hang.xml", Reply::Hang);
    let ws = Workspace::new();
    ws.write_config(
        "timeout = \"2s\"\nconnect_timeout = \"2s\"",
        &[
            ("good", &server.url("/good.xml")),
            ("invalid", &server.url("/invalid.xml")),
            ("page", &server.url("/page.html")),
            ("missing", &server.url("/missing.xml")),
            ("broken", &server.url("/broken.xml")),
            ("hang", &server.url("/hang.xml")),
            ("nofile", "/nonexistent/gleaner/feed.xml"),
        ],
    );
    let out = common::stdout(&ws.once());
    assert!(out.contains("ok     good: 1 new"), "{out}");
    let db = ws.open_db();
    assert_eq!(count(&db, "SELECT count(*) FROM articles"), 1);
    let expected = [
        ("invalid", "parse", None),
        ("page", "not_a_feed", Some(200)),
        ("missing", "http_4xx", Some(404)),
        ("broken", "http_5xx", Some(500)),
        ("hang", "timeout", None),
        ("nofile", "io", None),
    ];
    for (name, class, status) in expected {
        let (errors, last_error, next): (i64, String, Option<String>) = db
            .query_row(
                "SELECT consecutive_errors, last_error, next_poll_at FROM sources WHERE name = ?1",
                [name],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!(errors, 1, "{name}");
        assert!(
            last_error.starts_with(&format!("{class}: ")),
            "{name}: {last_error}"
        );
        assert!(next.is_some(), "{name} must be retried later");
        let (fetch_class, fetch_status, message): (String, Option<i64>, String) = db
            .query_row(
                "SELECT f.error_class, f.http_status, f.error_message FROM fetches f
                 JOIN sources s ON s.id = f.source_id WHERE s.name = ?1",
                [name],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!(fetch_class, class, "{name}: {message}");
        if let Some(status) = status {
            assert_eq!(fetch_status, Some(status), "{name}");
        }
        assert!(!message.is_empty());
        assert!(out.contains(&format!("error  {name}: {class}")), "{out}");
    }
}

#[test]
fn compressed_and_oversized_bodies() {
    use std::io::Write;
    let server = TestServer::start();
    let feed = rss(&[(
        "z",
        "https://example.org/z",
        "Zipped",
        DATE,
        "<p>Compressed body.</p>",
    )]);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(feed.as_bytes()).unwrap();
    server.route(
        "/gzip.xml",
        Reply::feed(gz.finish().unwrap()).with_header("Content-Encoding", "gzip"),
    );
    // A small compressed body that inflates past the cap: the cap counts decompressed bytes.
    let mut bomb = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    bomb.write_all(&vec![b' '; 4 * 1024 * 1024]).unwrap();
    let bomb = bomb.finish().unwrap();
    assert!(bomb.len() < 64 * 1024);
    server.route(
        "/bomb.xml",
        Reply::feed(bomb).with_header("Content-Encoding", "gzip"),
    );
    let ws = Workspace::new();
    ws.write_config(
        "max_feed_bytes = 1048576",
        &[
            ("gzip", &server.url("/gzip.xml")),
            ("bomb", &server.url("/bomb.xml")),
        ],
    );
    let out = common::stdout(&ws.once());
    assert!(out.contains("ok     gzip: 1 new"), "{out}");
    assert!(out.contains("error  bomb: too_large"), "{out}");
    assert!(server.seen("/gzip.xml")[0].headers["accept-encoding"].contains("gzip"));
}
