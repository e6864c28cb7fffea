//! Deduplication through the real pipeline: a loopback server plays each publisher behaviour,
//! the real binary polls it, and the assertions read the SQLite file. Each test fails if a
//! duplicate article is stored or two different stories are merged.

mod common;
mod labelled;

use common::{Reply, TestServer, Workspace, count, long_body, rss};

const DATE: &str = "Tue, 03 Nov 2026 10:00:00 +0000";
/// No gap between requests to the one loopback host: these tests are about what is stored.
// Full text off: these tests are about the feeds' own text, and their links lead off this machine.
const QUICK: &str = "host_delay = \"0s\"\nper_host = 4\nfull_text = \"never\"\n";

fn text(conn: &rusqlite::Connection, sql: &str) -> String {
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

#[test]
fn a_guid_that_changes_with_the_headline_keeps_one_article() {
    let server = TestServer::start();
    server.route(
        "/feed.xml",
        Reply::feed(rss(&[(
            "https://news.example/p1/council-votes",
            "https://news.example/2026/council-votes",
            "Council votes",
            DATE,
            "<p>The council voted.</p>",
        )])),
    );
    let ws = Workspace::new();
    ws.write_config(QUICK, &[("news", &server.url("/feed.xml"))]);
    ws.once();
    // The headline is edited, and the guid, which embeds it, changes with it.
    server.route(
        "/feed.xml",
        Reply::feed(rss(&[(
            "https://news.example/p1/council-votes-to-expand-buses",
            "https://news.example/2026/council-votes?utm_source=rss",
            "Council votes to expand buses",
            DATE,
            "<p>The council voted to expand the bus network.</p>",
        )])),
    );
    ws.once();
    let db = ws.open_db();
    assert_eq!(count(&db, "SELECT count(*) FROM articles"), 1);
    assert_eq!(count(&db, "SELECT count(*) FROM entries"), 1);
    assert_eq!(count(&db, "SELECT revision FROM articles"), 2);
    assert_eq!(
        text(&db, "SELECT title FROM article_revisions"),
        "Council votes"
    );
    assert_eq!(text(&db, "SELECT identity FROM sources"), "link");
    let reason = text(&db, "SELECT identity_reason FROM sources");
    assert!(reason.contains("changed"), "{reason}");
    // From now on the source is known by its links: a third guid is still the same story.
    server.route(
        "/feed.xml",
        Reply::feed(rss(&[(
            "https://news.example/p1/something-else",
            "https://news.example/2026/council-votes",
            "Council votes to expand buses",
            DATE,
            "<p>The council voted to expand the bus network.</p>",
        )])),
    );
    ws.once();
    let db = ws.open_db();
    assert_eq!(count(&db, "SELECT count(*) FROM articles"), 1);
    assert_eq!(count(&db, "SELECT revision FROM articles"), 2);
}

#[test]
fn a_move_from_http_to_https_keeps_one_article() {
    let server = TestServer::start();
    let item = |scheme: &str, host: &str| {
        let link = format!("{scheme}://{host}/2026/11/story.html");
        rss(&[(
            link.as_str(),
            link.as_str(),
            "Story",
            DATE,
            "<p>Same story.</p>",
        )])
    };
    server.route("/feed.xml", Reply::feed(item("http", "news.example")));
    let ws = Workspace::new();
    ws.write_config(QUICK, &[("news", &server.url("/feed.xml"))]);
    ws.once();
    server.route("/feed.xml", Reply::feed(item("https", "www.news.example")));
    let out = common::stdout(&ws.once());
    assert!(out.contains("0 new, 0 updated"), "{out}");
    let db = ws.open_db();
    assert_eq!(count(&db, "SELECT count(*) FROM articles"), 1);
    assert_eq!(count(&db, "SELECT count(*) FROM entries"), 1);
    // The link is still stored as the publisher gave it.
    assert_eq!(
        text(&db, "SELECT link FROM entries"),
        "https://www.news.example/2026/11/story.html"
    );
    assert_eq!(
        text(&db, "SELECT canonical_url FROM articles"),
        "https://news.example/2026/11/story.html"
    );
}

#[test]
fn tracking_parameters_and_white_space_are_no_new_article_and_no_revision() {
    let server = TestServer::start();
    let feed = |query: &str, body: &str| {
        let link = format!("https://news.example/a?id=7&amp;{query}");
        rss(&[("", link.as_str(), "Title", DATE, body)])
    };
    server.route(
        "/feed.xml",
        Reply::feed(feed(
            "utm_source=rss&amp;ref=feed",
            "<p>One two three.</p><p>Four.</p>",
        )),
    );
    let ws = Workspace::new();
    ws.write_config(
        &format!("{QUICK}tracking_params = [\"default\", \"ref\"]\n"),
        &[("news", &server.url("/feed.xml"))],
    );
    ws.once();
    server.route(
        "/feed.xml",
        Reply::feed(feed(
            "fbclid=abc&amp;ref=twitter&amp;utm_medium=social",
            "<p>One&nbsp;two  three.</p>\n\n<p>\n  Four.\n</p>",
        )),
    );
    let out = common::stdout(&ws.once());
    assert!(out.contains("0 new, 0 updated"), "{out}");
    let db = ws.open_db();
    assert_eq!(count(&db, "SELECT count(*) FROM articles"), 1);
    assert_eq!(count(&db, "SELECT revision FROM articles"), 1);
    assert_eq!(count(&db, "SELECT count(*) FROM article_revisions"), 0);
    assert_eq!(
        text(&db, "SELECT canonical_url FROM articles"),
        "https://news.example/a?id=7"
    );
    // A parameter that selects content is kept: another id is another story.
    server.route(
        "/feed.xml",
        Reply::feed(rss(&[(
            "",
            "https://news.example/a?id=8",
            "Other",
            DATE,
            "<p>Other.</p>",
        )])),
    );
    ws.once();
    assert_eq!(count(&ws.open_db(), "SELECT count(*) FROM articles"), 2);
}

#[test]
fn repeated_or_missing_guids_fall_back_to_links_and_merge_nothing() {
    let server = TestServer::start();
    server.route(
        "/repeated.xml",
        Reply::feed(rss(&[
            ("same", "https://a.example/1", "One", DATE, "<p>One.</p>"),
            ("same", "https://a.example/2", "Two", DATE, "<p>Two.</p>"),
            (
                "other",
                "https://a.example/3",
                "Three",
                DATE,
                "<p>Three.</p>",
            ),
        ])),
    );
    // No guids, and every item links to the home page: only the content tells them apart.
    server.route(
        "/homepage.xml",
        Reply::feed(rss(&[
            ("", "https://b.example/", "Monday", DATE, "<p>Monday.</p>"),
            ("", "https://b.example/", "Tuesday", DATE, "<p>Tuesday.</p>"),
            (
                "",
                "https://www.b.example",
                "Wednesday",
                DATE,
                "<p>Wednesday.</p>",
            ),
        ])),
    );
    // No guid, no link, no title: keyed by the content.
    server.route(
        "/bare.xml",
        Reply::feed(rss(&[
            ("", "", "", DATE, "<p>First note.</p>"),
            ("", "", "", DATE, "<p>Second note.</p>"),
        ])),
    );
    let ws = Workspace::new();
    ws.write_config(
        QUICK,
        &[
            ("repeated", &server.url("/repeated.xml")),
            ("homepage", &server.url("/homepage.xml")),
            ("bare", &server.url("/bare.xml")),
        ],
    );
    ws.once();
    ws.once();
    let db = ws.open_db();
    let per_source = |name: &str| {
        count(
            &db,
            &format!(
                "SELECT count(DISTINCT e.article_id) FROM entries e JOIN sources s ON s.id = e.source_id
                 WHERE s.name = '{name}'"
            ),
        )
    };
    assert_eq!(per_source("repeated"), 3);
    assert_eq!(per_source("homepage"), 3);
    assert_eq!(per_source("bare"), 2);
    assert_eq!(count(&db, "SELECT count(*) FROM articles"), 8);
    assert_eq!(count(&db, "SELECT count(*) FROM entries"), 8);
    assert_eq!(
        text(
            &db,
            "SELECT identity || ': ' || identity_reason FROM sources WHERE name = 'repeated'"
        ),
        "link: 1 guids are given to more than one item"
    );
    assert_eq!(
        text(&db, "SELECT identity FROM sources WHERE name = 'homepage'"),
        "link"
    );
    let listing = common::stdout(&common::run(&[
        "--config",
        ws.config().to_str().unwrap(),
        "sources",
    ]));
    assert!(
        listing
            .contains("items told apart by their links: 1 guids are given to more than one item"),
        "{listing}"
    );
    // The home page identifies no article, here or across sources.
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM articles WHERE canonical_url = 'https://b.example/'"
        ),
        0
    );
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM entries WHERE identity LIKE 'hash:%'"
        ),
        5
    );
}

#[test]
fn syndicated_copies_are_linked_and_similar_stories_are_not() {
    let server = TestServer::start();
    let original = long_body("the new tram line");
    let copy = format!(
        "<p>BRIGHTON (Wire) — {}<p>Reporting by Jane Doe.</p>",
        &original[3..]
    );
    // The same subject, told by another paper in its own words.
    let other = "<p>Work on the tram line could start next spring if the committee backs the \
        plan, according to people who attended Monday's hearing.</p><p>Engineers told members \
        that the route through the old market would need new drainage, and residents of the \
        eastern estates asked for a stop closer to the school.</p><p>The chair promised an \
        answer within weeks; critics want more public meetings before any contract is signed, \
        saying the consultation over the summer was rushed.</p>"
        .to_owned();
    server.route(
        "/paper.xml",
        Reply::feed(rss(&[
            (
                "p1",
                "https://paper.example/tram",
                "Tram line",
                DATE,
                &original,
            ),
            (
                "p2",
                "https://paper.example/tram-start",
                "Tram work could start in spring",
                DATE,
                &other,
            ),
        ])),
    );
    server.route(
        "/wire.xml",
        Reply::feed(rss(&[(
            "w1",
            "https://wire.example/story/991",
            "Tram line plans reviewed",
            DATE,
            &copy,
        )])),
    );
    let ws = Workspace::new();
    ws.write_config(
        QUICK,
        &[
            ("paper", &server.url("/paper.xml")),
            ("wire", &server.url("/wire.xml")),
        ],
    );
    let out = common::stdout(&ws.once());
    // Whichever of the two arrived second is linked to the first.
    assert!(out.contains(", 1 near-duplicates"), "{out}");
    let db = ws.open_db();
    assert_eq!(count(&db, "SELECT count(*) FROM articles"), 3);
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM articles WHERE simhash IS NOT NULL"
        ),
        3
    );
    assert_eq!(count(&db, "SELECT count(*) FROM duplicates"), 1);
    let (mut pair, method, distance): (Vec<String>, String, i64) = db
        .query_row(
            "SELECT a.title, b.title, d.method, d.distance FROM duplicates d
             JOIN articles a ON a.id = d.article_id JOIN articles b ON b.id = d.duplicate_of",
            [],
            |r| Ok((vec![r.get(0)?, r.get(1)?], r.get(2)?, r.get(3)?)),
        )
        .unwrap();
    pair.sort();
    assert_eq!(pair, ["Tram line", "Tram line plans reviewed"]);
    assert_eq!(method, "simhash");
    assert!(
        distance <= i64::from(gleaner::dedup::DEFAULT_NEAR_DISTANCE),
        "{distance}"
    );
    // Nothing is deleted; the views show one story per cluster.
    assert_eq!(count(&db, "SELECT count(*) FROM unique_articles"), 2);
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM unique_articles WHERE title = 'Tram work could start in spring'"
        ),
        1
    );
    let clusters: Vec<(String, i64)> = db
        .prepare("SELECT title, distance FROM duplicate_clusters ORDER BY article_id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(clusters.len(), 2);
    assert_eq!(
        clusters[0].1, 0,
        "the cluster's first article: {clusters:?}"
    );
    assert_eq!(clusters[1].1, distance, "{clusters:?}");
    drop(db);

    // A later run finds the stored articles as candidates too (its writer loads their
    // fingerprints from the database).
    let digest = format!("{}<p>Subscribe to our newsletter.</p>", &original);
    server.route(
        "/digest.xml",
        Reply::feed(rss(&[(
            "d1",
            "https://digest.example/tram",
            "Tram line (digest)",
            DATE,
            &digest,
        )])),
    );
    ws.write_config(
        QUICK,
        &[
            ("paper", &server.url("/paper.xml")),
            ("wire", &server.url("/wire.xml")),
            ("digest", &server.url("/digest.xml")),
        ],
    );
    let out = common::stdout(&ws.once());
    assert!(out.contains(", 1 near-duplicates"), "{out}");
    let db = ws.open_db();
    let linked_to: String = db
        .query_row(
            "SELECT b.title FROM duplicates d JOIN articles a ON a.id = d.article_id
             JOIN articles b ON b.id = d.duplicate_of WHERE a.title = 'Tram line (digest)'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(linked_to.starts_with("Tram line"), "{linked_to}");
    assert_eq!(count(&db, "SELECT count(*) FROM unique_articles"), 2);
}

#[test]
fn articles_removed_by_retention_are_not_fetched_back() {
    let server = TestServer::start();
    let today = chrono::Utc::now().to_rfc2822();
    let feed = rss(&[
        (
            "old",
            "https://a.example/old",
            "Old",
            "Mon, 06 Jan 2020 10:00:00 +0000",
            "<p>Old.</p>",
        ),
        (
            "new",
            "https://a.example/new",
            "New",
            today.as_str(),
            "<p>New.</p>",
        ),
    ]);
    server.route("/a.xml", Reply::feed(feed));
    server.route(
        "/b.xml",
        Reply::feed(rss(&[(
            "elsewhere",
            "http://www.a.example/old?utm_source=b",
            "Old, again",
            "Mon, 06 Jan 2020 10:00:00 +0000",
            "<p>Old, told again.</p>",
        )])),
    );
    let ws = Workspace::new();
    ws.write_config(
        &format!("{QUICK}article_retention = \"365d\"\n"),
        &[("a", &server.url("/a.xml"))],
    );
    ws.once();
    assert_eq!(count(&ws.open_db(), "SELECT count(*) FROM articles"), 2);
    // The next start prunes the old article; the feed still carries it (with one more item, so
    // that it is parsed again), and another feed carries it too.
    server.route(
        "/a.xml",
        Reply::feed(rss(&[
            (
                "old",
                "https://a.example/old",
                "Old",
                "Mon, 06 Jan 2020 10:00:00 +0000",
                "<p>Old.</p>",
            ),
            (
                "new",
                "https://a.example/new",
                "New",
                today.as_str(),
                "<p>New.</p>",
            ),
            (
                "newer",
                "https://a.example/newer",
                "Newer",
                today.as_str(),
                "<p>Newer.</p>",
            ),
        ])),
    );
    ws.write_config(
        &format!("{QUICK}article_retention = \"365d\"\n"),
        &[("a", &server.url("/a.xml")), ("b", &server.url("/b.xml"))],
    );
    let out = common::stdout(&ws.once());
    assert!(
        out.contains("a: 1 new, 0 updated, 3 items, 1 removed by retention"),
        "{out}"
    );
    assert!(
        out.contains("b: 0 new, 0 updated, 1 items, 1 removed by retention"),
        "{out}"
    );
    let db = ws.open_db();
    assert_eq!(count(&db, "SELECT count(*) FROM articles"), 2);
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM articles WHERE title IN ('New', 'Newer')"
        ),
        2
    );
    assert_eq!(
        text(
            &db,
            "SELECT title || ' ' || date || ' ' || canonical_url FROM removed_articles"
        ),
        "Old 2020-01-06 https://a.example/old"
    );
    assert_eq!(
        text(&db, "SELECT identity FROM removed_entries"),
        "guid:old"
    );
    assert_eq!(count(&db, "SELECT count(*) FROM entries"), 2);
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM articles_fts WHERE articles_fts MATCH 'old'"
        ),
        0
    );
}

/// The labelled set (see `tests/labelled/`) through `gleaner once`: no two stories merged, no
/// story stored twice under one link, and near-duplicate links as precise and complete as the
/// sweep in `benches/dedup.rs` measured at the default distance.
#[test]
fn labelled_set_precision_and_recall() {
    let server = TestServer::start();
    let base = format!("http://{}", server.addr);
    let set = labelled::build(&base);
    let mut sources = Vec::new();
    for feed in &set.feeds {
        server.route(&feed.path, Reply::feed(feed.body.clone()));
        sources.push((feed.name.clone(), server.url(&feed.path)));
    }
    let ws = Workspace::new();
    let named: Vec<(&str, &str)> = sources
        .iter()
        .map(|(n, u)| (n.as_str(), u.as_str()))
        .collect();
    ws.write_config(&format!("{QUICK}concurrency = 1\n"), &named);
    ws.once();
    let db = ws.open_db();
    let mut index = std::collections::HashMap::new();
    let mut scored: Vec<labelled::Scored> = Vec::new();
    let mut articles = db
        .prepare(
            "SELECT a.id, a.simhash IS NOT NULL, d.duplicate_of FROM articles a
             LEFT JOIN duplicates d ON d.article_id = a.id ORDER BY a.id",
        )
        .unwrap();
    let rows: Vec<(i64, bool, Option<i64>)> = articles
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for (id, fingerprinted, duplicate_of) in &rows {
        index.insert(*id, scored.len());
        scored.push(labelled::Scored {
            fingerprinted: *fingerprinted,
            duplicate_of: duplicate_of.map(|d| index[&d]),
            ..Default::default()
        });
    }
    let mut entries = db
        .prepare(
            "SELECT e.article_id, s.name, e.link, e.guid FROM entries e
             JOIN sources s ON s.id = e.source_id",
        )
        .unwrap();
    let mut unlabelled = 0;
    for row in entries
        .query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, Option<String>>(3)?,
            ))
        })
        .unwrap()
    {
        let (article, source, link, guid) = row.unwrap();
        match set.label(&source, link.as_deref(), guid.as_deref()) {
            Some(label) => {
                scored[index[&article]].labels.insert(label.clone());
            }
            None => unlabelled += 1,
        }
    }
    let score = labelled::score(&scored);
    println!("{score}");
    assert_eq!(score.false_merges, 0, "{score}");
    assert_eq!(score.split_stories, 0, "{score}");
    assert!(unlabelled < 40, "{unlabelled} entries without a label");
    assert!(score.articles > 2_000, "{score}");
    assert!(score.precision() >= 0.99, "{score}");
    // Measured at the default distance: 0.780 (`cargo bench --bench dedup -- --sweep`).
    assert!(score.recall() >= 0.77, "{score}");
    // The views agree with the table.
    assert_eq!(
        count(&db, "SELECT count(*) FROM unique_articles") + score.links as i64,
        score.articles as i64
    );
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM duplicate_clusters WHERE duplicate_of IS NOT NULL"
        ),
        score.links as i64
    );
}
