//! The PostgreSQL store (`store::postgres`) on a real PostgreSQL (a throwaway cluster,
//! tests/common/postgres.rs): sources synced, polls recorded, and the same records written
//! through a `SqliteStore` give byte-identical documents.

mod common;

use std::collections::HashSet;

use chrono::{DateTime, Duration, Utc};
use common::postgres::Cluster;
use gleaner::dedup::{self, IdentityBasis, NearDuplicates, SourceContext, TrackingParams};
use gleaner::fetch::ErrorClass;
use gleaner::record::{
    FailureClass, PageOutcome, PageQuery, PageRecord, PollCounts, PollOutcome, PollRecord,
};
use gleaner::render::Rendered;
use gleaner::store::writer::Retention;
use gleaner::store::{PostgresStore, SourceSpec, SqliteStore, Store, StoreError};
use tokio_postgres::{Client, NoTls};

const FEED: &str = "https://pg.example/feed";

fn spec(url: &str, name: Option<&str>) -> SourceSpec {
    SourceSpec {
        url: url.into(),
        name: name.map(Into::into),
        paused: false,
    }
}

async fn connect(url: &str) -> Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await.unwrap();
    tokio::spawn(connection);
    client
}

/// A body of `words` pseudo-random words (seeded by `seed`), long enough for a SimHash.
fn body(seed: u64, words: usize) -> String {
    const VOCABULARY: &[&str] = &[
        "council", "river", "budget", "school", "harbour", "winter", "market", "bridge", "vote",
        "library", "station", "forest", "museum", "festival", "court", "hospital", "garden",
        "tram", "storm", "harvest", "factory", "island", "mayor", "teacher", "road", "village",
        "concert", "report", "tower", "ferry", "bakery", "stadium",
    ];
    let mut state = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    let mut out = Vec::new();
    for i in 0..words {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        out.push(VOCABULARY[(state >> 33) as usize % VOCABULARY.len()]);
        if i % 40 == 39 {
            out.push("\n\n");
        }
    }
    out.join(" ").replace(" \n\n ", ".\n\n") + "."
}

fn rendered(guid: &str, title: &str, body: String) -> Rendered {
    Rendered {
        guid: Some(guid.into()),
        link: Some(format!("https://pg.example/{guid}")),
        document: gleaner::text::document("2026-11-25", title, &body),
        title: title.into(),
        published_at: None,
        revised_at: None,
        date: "2026-11-25".into(),
        body,
    }
}

fn items(rendered: Vec<Rendered>) -> Vec<dedup::Item> {
    let source = SourceContext {
        url: FEED,
        site_url: None,
        basis: IdentityBasis::Guid,
    };
    dedup::identify(source, &TrackingParams::default(), rendered).items
}

fn record(source_id: i64, outcome: PollOutcome) -> PollRecord {
    PollRecord {
        source_id,
        url: FEED.into(),
        started_at: Utc::now(),
        duration: std::time::Duration::from_millis(12),
        next: gleaner::schedule::Plan {
            at: Utc::now() + Duration::hours(1),
            reason: gleaner::schedule::Reason::Interval,
        },
        validators_sent: Default::default(),
        meta: Default::default(),
        outcome,
    }
}

fn parsed(items: Vec<dedup::Item>) -> PollOutcome {
    PollOutcome::Parsed {
        status: Some(200),
        bytes: 1234,
        validators: Default::default(),
        body_hash: format!("hash-{}", items.len()),
        feed_title: Some("PG feed".into()),
        site_url: None,
        hints: Default::default(),
        items,
        pages: Vec::new(),
        identity_fallback: None,
    }
}

/// Five stories, a near-duplicate copy of the first (a few words changed) and a short one.
fn stories() -> Vec<Rendered> {
    let mut copy = body(1, 300);
    copy = copy.replacen("council", "senate", 2);
    vec![
        rendered("g1", "Story one", body(1, 300)),
        rendered("g2", "Story two", body(2, 300)),
        rendered("g3", "Story three", body(3, 300)),
        rendered("g4", "Story four", body(4, 300)),
        rendered("g5", "Short", "Too short for a fingerprint.".into()),
        rendered("g6", "Story one, again", copy),
    ]
}

struct Both {
    pg: PostgresStore,
    pg_url: String,
    pg_source: i64,
    sqlite: SqliteStore,
    sqlite_source: i64,
    _dir: tempfile::TempDir,
}

async fn both(cluster: &Cluster) -> Both {
    let pg_url = cluster.database();
    let pg = PostgresStore::open(&pg_url, NearDuplicates::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let sqlite = SqliteStore::open(&dir.path().join("g.db"), NearDuplicates::default())
        .await
        .unwrap();
    let pg_source = pg
        .sync_sources(vec![spec(FEED, None)])
        .await
        .unwrap()
        .sources[0]
        .id;
    let sqlite_source = sqlite
        .sync_sources(vec![spec(FEED, None)])
        .await
        .unwrap()
        .sources[0]
        .id;
    Both {
        pg,
        pg_url,
        pg_source,
        sqlite,
        sqlite_source,
        _dir: dir,
    }
}

impl Both {
    /// Records the poll of `rendered` in both stores; their counts must agree.
    async fn poll(&self, rendered: Vec<Rendered>) -> PollCounts {
        let pg = self
            .pg
            .record_poll(record(self.pg_source, parsed(items(rendered.clone()))))
            .await
            .unwrap();
        let sqlite = self
            .sqlite
            .record_poll(record(self.sqlite_source, parsed(items(rendered))))
            .await
            .unwrap();
        assert_eq!(pg, sqlite, "PostgreSQL's counts, then SQLite's");
        pg
    }

    /// Both stores' `query` rows (text columns), which must be the same.
    async fn same_rows(&self, query: &str) -> Vec<Vec<Option<String>>> {
        let client = connect(&self.pg_url).await;
        let pg: Vec<Vec<Option<String>>> = client
            .query(query, &[])
            .await
            .unwrap()
            .iter()
            .map(|r| (0..r.len()).map(|i| r.get(i)).collect())
            .collect();
        let conn = rusqlite::Connection::open(self.sqlite.path()).unwrap();
        let mut stmt = conn.prepare(query).unwrap();
        let n = stmt.column_count();
        let sqlite: Vec<Vec<Option<String>>> = stmt
            .query_map([], |r| (0..n).map(|i| r.get(i)).collect())
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(pg, sqlite, "{query}: PostgreSQL's rows, then SQLite's");
        pg
    }

    async fn close(self) {
        self.pg.close().await;
        self.sqlite.close().await;
    }
}

#[tokio::test]
async fn sync_creates_renames_removes_and_revives_sources() {
    let cluster = Cluster::shared();
    let url = cluster.database();
    let store = PostgresStore::open(&url, NearDuplicates::default())
        .await
        .unwrap();
    let synced = store
        .sync_sources(vec![
            spec("https://a.example/feed", Some("A")),
            spec("https://b.example/feed", None),
        ])
        .await
        .unwrap();
    assert_eq!(synced.sources.len(), 2);
    let (a, b) = (synced.sources[0].id, synced.sources[1].id);
    assert_eq!(synced.sources[0].url, "https://a.example/feed");
    assert!(synced.host_blocks.is_empty());
    assert_eq!(synced.last_network_success, None);

    let synced = store
        .sync_sources(vec![
            spec("https://a.example/feed", Some("A2")),
            spec("https://c.example/feed", None),
        ])
        .await
        .unwrap();
    assert_eq!(synced.sources[0].id, a);
    let client = connect(&url).await;
    let rows: Vec<(i64, String, Option<String>)> = client
        .query("SELECT id, status, name FROM sources ORDER BY id", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(rows[0], (a, "active".into(), Some("A2".into())));
    assert_eq!(rows[1], (b, "removed".into(), None));
    assert_eq!(rows[2].1, "active");

    // Configured again: the same source, active again.
    let synced = store
        .sync_sources(vec![spec("https://b.example/feed", None)])
        .await
        .unwrap();
    assert_eq!(synced.sources[0].id, b);
    let status: String = client
        .query_one("SELECT status FROM sources WHERE id = $1", &[&b])
        .await
        .unwrap()
        .get(0);
    assert_eq!(status, "active");

    // A URL a source moved away from maps to that source.
    client
        .execute(
            "INSERT INTO source_aliases (url, source_id, moved_at) VALUES ($1, $2, '2026-01-01T00:00:00Z')",
            &[&"https://old-b.example/feed", &b],
        )
        .await
        .unwrap();
    let synced = store
        .sync_sources(vec![spec("https://old-b.example/feed", Some("B"))])
        .await
        .unwrap();
    assert_eq!(synced.sources[0].id, b);
    assert_eq!(synced.sources[0].url, "https://b.example/feed");
    store.close().await;
}

#[tokio::test]
async fn a_parsed_poll_stores_the_documents_sqlite_stores() {
    let cluster = Cluster::shared();
    let both = both(&cluster).await;
    let counts = both.poll(stories()).await;
    assert_eq!(counts.new, 6);
    assert_eq!(counts.seen, 6);
    assert_eq!(counts.near_duplicates, 1, "{counts:?}");
    let rows = both
        .same_rows("SELECT key, document FROM articles ORDER BY id")
        .await;
    assert_eq!(rows.len(), 6);
    both.same_rows(
        "SELECT a.key, d.key, CAST(x.distance AS TEXT), x.method FROM duplicates x
         JOIN articles a ON a.id = x.article_id JOIN articles d ON d.id = x.duplicate_of
         ORDER BY a.key",
    )
    .await;
    both.same_rows(
        "SELECT identity, guid, link, e.content_hash, CAST(simhash AS TEXT), url, canonical_url,
                title, date, body, a.content_hash
         FROM entries e JOIN articles a ON a.id = e.article_id ORDER BY e.id",
    )
    .await;
    both.same_rows(
        "SELECT url, CAST(http_status AS TEXT), CAST(not_modified AS TEXT), CAST(bytes AS TEXT),
                CAST(items_seen AS TEXT), CAST(items_new AS TEXT), error_class, CAST(charged AS TEXT)
         FROM fetches ORDER BY id",
    )
    .await;
    both.same_rows(
        "SELECT status, body_hash, title, next_poll_reason, CAST(consecutive_errors AS TEXT)
         FROM sources ORDER BY id",
    )
    .await;
    both.close().await;
}

#[tokio::test]
async fn a_repeat_stores_nothing_new() {
    let cluster = Cluster::shared();
    let both = both(&cluster).await;
    both.poll(stories()).await;
    let counts = both.poll(stories()).await;
    assert_eq!(counts.new, 0);
    assert_eq!(counts.updated, 0);
    assert_eq!(counts.near_duplicates, 0);
    assert_eq!(counts.seen, 6);
    let n = both
        .same_rows(
            "SELECT CAST(count(*) AS TEXT) FROM articles
             UNION ALL SELECT CAST(count(*) AS TEXT) FROM entries
             UNION ALL SELECT CAST(count(*) AS TEXT) FROM article_revisions
             UNION ALL SELECT CAST(count(*) AS TEXT) FROM fetches",
        )
        .await;
    let n: Vec<&str> = n.iter().map(|r| r[0].as_deref().unwrap()).collect();
    assert_eq!(n, ["6", "6", "0", "2"]);
    both.close().await;
}

#[tokio::test]
async fn an_edit_makes_a_revision() {
    let cluster = Cluster::shared();
    let both = both(&cluster).await;
    both.poll(stories()).await;
    let mut edited = stories();
    edited[1] = rendered("g2", "Story two, corrected", body(22, 300));
    let counts = both.poll(edited).await;
    assert_eq!(counts.updated, 1, "{counts:?}");
    assert_eq!(counts.new, 0);
    let revisions = both
        .same_rows(
            "SELECT a.key, CAST(r.revision AS TEXT), r.title, r.document, CAST(a.revision AS TEXT)
             FROM article_revisions r JOIN articles a ON a.id = r.article_id",
        )
        .await;
    assert_eq!(revisions.len(), 1);
    assert_eq!(revisions[0][1].as_deref(), Some("1"));
    assert_eq!(revisions[0][4].as_deref(), Some("2"));
    both.same_rows("SELECT key, title, document FROM articles ORDER BY id")
        .await;
    both.close().await;
}

#[tokio::test]
async fn failed_and_not_modified_polls_write_their_fetch_and_the_state() {
    let cluster = Cluster::shared();
    let both = both(&cluster).await;
    let until = Utc::now() + Duration::hours(2);
    let failed = || PollOutcome::Failed {
        status: Some(429),
        bytes: None,
        class: FailureClass::Fetch(ErrorClass::RateLimited),
        message: "slow down".into(),
        charged: false,
        retry_after: Some(until),
        block_host: Some("pg.example".into()),
    };
    let server_error = || PollOutcome::Failed {
        status: Some(503),
        bytes: Some(10),
        class: FailureClass::Fetch(ErrorClass::Http5xx),
        message: "unavailable".into(),
        charged: true,
        retry_after: None,
        block_host: None,
    };
    let failures: [&dyn Fn() -> PollOutcome; 2] = [&failed, &server_error];
    for outcome in failures {
        both.pg
            .record_poll(record(both.pg_source, outcome()))
            .await
            .unwrap();
        both.sqlite
            .record_poll(record(both.sqlite_source, outcome()))
            .await
            .unwrap();
    }
    for outcome in [
        || PollOutcome::NotModified { status: Some(304) },
        || PollOutcome::Unchanged {
            status: Some(200),
            bytes: 99,
            validators: Default::default(),
        },
    ] {
        both.pg
            .record_poll(record(both.pg_source, outcome()))
            .await
            .unwrap();
        both.sqlite
            .record_poll(record(both.sqlite_source, outcome()))
            .await
            .unwrap();
    }
    let fetches = both
        .same_rows(
            "SELECT CAST(http_status AS TEXT), CAST(not_modified AS TEXT), CAST(bytes AS TEXT),
                    error_class, error_message, CASE WHEN retry_after IS NULL THEN 'no' ELSE 'yes' END,
                    CAST(charged AS TEXT)
             FROM fetches ORDER BY id",
        )
        .await;
    assert_eq!(fetches.len(), 4);
    assert_eq!(fetches[0][3].as_deref(), Some("rate_limited"));
    assert_eq!(fetches[1][3].as_deref(), Some("http_5xx"));
    assert_eq!(fetches[2][1].as_deref(), Some("1"));
    both.same_rows(
        "SELECT status, CAST(consecutive_errors AS TEXT), last_error, next_poll_reason,
                CASE WHEN last_polled_at IS NULL THEN 'no' ELSE 'yes' END,
                CASE WHEN last_success_at IS NULL THEN 'no' ELSE 'yes' END
         FROM sources ORDER BY id",
    )
    .await;
    both.same_rows("SELECT host, until FROM host_blocks").await;
    let due = both.pg.due(Utc::now(), HashSet::new(), 10).await.unwrap();
    assert_eq!(due.host_blocks.len(), 1);
    assert_eq!(due.host_blocks[0].0, "pg.example");
    assert!(due.sources.is_empty(), "polled, next poll in an hour");
    assert!(due.next_poll_after.is_some());
    let due = both
        .pg
        .due(Utc::now() + Duration::hours(3), HashSet::new(), 10)
        .await
        .unwrap();
    assert_eq!(due.sources.len(), 1);
    let due = both
        .pg
        .due(
            Utc::now() + Duration::hours(3),
            HashSet::from([both.pg_source]),
            10,
        )
        .await
        .unwrap();
    assert!(due.sources.is_empty());
    both.close().await;
}

#[tokio::test]
async fn paused_sources_are_not_due_and_resume_alike_in_both_engines() {
    let cluster = Cluster::shared();
    let both = both(&cluster).await;
    const GONE: &str = "https://gone.example/feed";
    let sync = |paused_feed: bool, paused_gone: bool| {
        let specs = vec![
            SourceSpec {
                paused: paused_feed,
                ..spec(FEED, None)
            },
            SourceSpec {
                paused: paused_gone,
                ..spec(GONE, None)
            },
        ];
        let (pg, sqlite) = (&both.pg, &both.sqlite);
        async move {
            let pg = pg.sync_sources(specs.clone()).await.unwrap();
            let sqlite = sqlite.sync_sources(specs).await.unwrap();
            (pg, sqlite)
        }
    };
    let statuses = "SELECT url, status FROM sources ORDER BY id";
    let (pg, sqlite) = sync(false, false).await;
    // The second source retired by a 410 in both.
    let gone = || PollOutcome::Failed {
        status: Some(410),
        bytes: None,
        class: FailureClass::Fetch(ErrorClass::Gone),
        message: "HTTP 410 Gone".into(),
        charged: true,
        retry_after: None,
        block_host: None,
    };
    both.pg
        .record_poll(record(pg.sources[1].id, gone()))
        .await
        .unwrap();
    both.sqlite
        .record_poll(record(sqlite.sources[1].id, gone()))
        .await
        .unwrap();

    // Paused: not due in either engine; a gone source stays gone.
    sync(true, true).await;
    let rows = both.same_rows(statuses).await;
    assert_eq!(rows[0][1].as_deref(), Some("paused"));
    assert_eq!(rows[1][1].as_deref(), Some("gone"));
    let later = Utc::now() + Duration::days(30);
    assert!(
        both.pg
            .due(later, HashSet::new(), 10)
            .await
            .unwrap()
            .sources
            .is_empty()
    );
    assert!(
        both.sqlite
            .due(later, HashSet::new(), 10)
            .await
            .unwrap()
            .sources
            .is_empty()
    );

    // Resumed: active and due again; the gone one is still gone (only `revive` takes back a 410).
    sync(false, false).await;
    let rows = both.same_rows(statuses).await;
    assert_eq!(rows[0][1].as_deref(), Some("active"));
    assert_eq!(rows[1][1].as_deref(), Some("gone"));
    let due = both.pg.due(later, HashSet::new(), 10).await.unwrap();
    assert_eq!(due.sources.len(), 1);
    assert_eq!(due.sources[0].url, FEED);
    assert_eq!(
        both.sqlite
            .due(later, HashSet::new(), 10)
            .await
            .unwrap()
            .sources
            .len(),
        1
    );

    // Removed, then put back paused: paused, not active.
    both.pg.sync_sources(vec![spec(GONE, None)]).await.unwrap();
    both.sqlite
        .sync_sources(vec![spec(GONE, None)])
        .await
        .unwrap();
    assert_eq!(
        both.same_rows(statuses).await[0][1].as_deref(),
        Some("removed")
    );
    sync(true, false).await;
    assert_eq!(
        both.same_rows(statuses).await[0][1].as_deref(),
        Some("paused")
    );
    both.close().await;
}

#[tokio::test]
async fn pages_known_and_prune_answer_as_sqlite() {
    let cluster = Cluster::shared();
    let both = both(&cluster).await;
    let stories = stories();
    both.poll(stories.clone()).await;
    let queries = |items: &[dedup::Item]| -> Vec<PageQuery> {
        items
            .iter()
            .map(|i| PageQuery {
                identity: i.identity.as_stored(),
                key: i.key.clone(),
                canonical_url: i.canonical_url.clone(),
                marker: "m1".into(),
            })
            .chain([PageQuery {
                identity: "guid:unknown".into(),
                key: "0123456789abcdef".into(),
                canonical_url: None,
                marker: "m1".into(),
            }])
            .collect()
    };
    let pg = both
        .pg
        .pages_known(both.pg_source, queries(&items(stories.clone())))
        .await
        .unwrap();
    let sqlite = both
        .sqlite
        .pages_known(both.sqlite_source, queries(&items(stories.clone())))
        .await
        .unwrap();
    assert_eq!(pg, sqlite);

    let retention = Retention {
        fetches_before: Utc::now() + Duration::days(1),
        articles_before: Some("2026-12-01".into()),
    };
    let pg = both.pg.prune(retention.clone()).await.unwrap();
    let sqlite = both.sqlite.prune(retention).await.unwrap();
    assert_eq!(pg, sqlite);
    assert_eq!(pg.articles, 6);
    both.same_rows("SELECT key, canonical_url, title, date FROM removed_articles ORDER BY key")
        .await;
    both.same_rows("SELECT identity, key FROM removed_entries ORDER BY identity")
        .await;
    // A feed still carrying them does not bring them back.
    let counts = both.poll(stories).await;
    assert_eq!((counts.new, counts.removed), (0, 6));
    both.close().await;
}

#[tokio::test]
async fn reopening_migrates_once_and_a_newer_schema_is_refused() {
    let cluster = Cluster::shared();
    let url = cluster.database();
    // Two starters at once: the advisory lock makes the second find the schema made.
    let (first, second) = tokio::join!(
        PostgresStore::open(&url, NearDuplicates::default()),
        PostgresStore::open(&url, NearDuplicates::default()),
    );
    first.unwrap().close().await;
    second.unwrap().close().await;
    let client = connect(&url).await;
    client
        .execute("UPDATE schema_version SET version = 99", &[])
        .await
        .unwrap();
    match PostgresStore::open(&url, NearDuplicates::default()).await {
        Err(StoreError::TooNew { found: 99, .. }) => {}
        Err(other) => panic!("expected TooNew, got {other}"),
        Ok(_) => panic!("a newer schema was accepted"),
    }
}

#[tokio::test]
async fn calls_after_close_fail_as_writer_gone() {
    let cluster = Cluster::shared();
    let store = PostgresStore::open(&cluster.database(), NearDuplicates::default())
        .await
        .unwrap();
    store.close().await;
    assert!(matches!(
        store.sync_sources(vec![]).await,
        Err(StoreError::WriterGone)
    ));
}

/// PostgreSQL's text holds no NUL, which SQLite's does; a JSON Feed can send one (`\u0000`) in
/// a guid, a link or its title. Documents never hold one (the text rules drop control
/// characters); the rest is stored with U+FFFD in its place, the same on every lookup.
#[tokio::test]
async fn nul_bytes_in_guids_links_and_titles_are_stored() {
    let cluster = Cluster::shared();
    let both = both(&cluster).await;
    let mut stories = stories();
    stories[0].guid = Some("g\u{0}1".into());
    stories[0].link = Some("https://pg.example/a\u{0}b".into());
    let outcome = || {
        let mut outcome = parsed(items(stories.clone()));
        if let PollOutcome::Parsed { feed_title, .. } = &mut outcome {
            *feed_title = Some("A \u{0} title".into());
        }
        outcome
    };
    let first = both
        .pg
        .record_poll(record(both.pg_source, outcome()))
        .await
        .unwrap();
    assert_eq!(first.new, 6);
    let again = both
        .pg
        .record_poll(record(both.pg_source, outcome()))
        .await
        .unwrap();
    assert_eq!(again.new, 0, "a repeat, found by its identity");
    let client = connect(&both.pg_url).await;
    let guid: String = client
        .query_one("SELECT guid FROM entries ORDER BY id LIMIT 1", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(guid, "g\u{FFFD}1");
    both.sqlite
        .record_poll(record(both.sqlite_source, outcome()))
        .await
        .unwrap();
    both.same_rows("SELECT key, document FROM articles ORDER BY id")
        .await;
    both.close().await;
}

/// A tsvector holds at most 1 MB of lexemes: a body of enough distinct words must still be
/// stored (its search covers its beginning), as SQLite stores it.
#[tokio::test]
async fn a_body_too_large_for_a_tsvector_is_stored() {
    let cluster = Cluster::shared();
    let both = both(&cluster).await;
    // 150,000 distinct words, 1.5 MB: past the tsvector's limit.
    let words: Vec<String> = (0..150_000u32).map(|i| format!("w{i:07x}")).collect();
    let body = words
        .chunks(50)
        .map(|c| c.join(" ") + ".")
        .collect::<Vec<_>>()
        .join("\n\n");
    let counts = both
        .poll(vec![rendered("huge", "A huge article", body)])
        .await;
    assert_eq!(counts.new, 1);
    both.same_rows("SELECT key, document FROM articles ORDER BY id")
        .await;
    let client = connect(&both.pg_url).await;
    let found: i64 = client
        .query_one(
            "SELECT count(*) FROM articles WHERE search @@ plainto_tsquery('simple', 'w0000010')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(found, 1, "its beginning is searchable");
    both.close().await;
}

/// Records `outcome()` in both stores, with `meta`; their counts must agree.
async fn poll_both(
    both: &Both,
    outcome: impl Fn() -> PollOutcome,
    meta: impl Fn() -> gleaner::fetch::ResponseMeta,
) -> PollCounts {
    let mut pg_record = record(both.pg_source, outcome());
    pg_record.meta = meta();
    let mut sqlite_record = record(both.sqlite_source, outcome());
    sqlite_record.meta = meta();
    let pg = both.pg.record_poll(pg_record).await.unwrap();
    let sqlite = both.sqlite.record_poll(sqlite_record).await.unwrap();
    assert_eq!(pg, sqlite, "PostgreSQL's counts, then SQLite's");
    pg
}

fn page(item: usize, marker: &str, outcome: PageOutcome) -> PageRecord {
    PageRecord {
        item,
        url: format!("https://pg.example/page{item}"),
        final_url: Some(format!("https://pg.example/page{item}?final")),
        fetched_at: Utc::now(),
        duration: std::time::Duration::from_millis(30),
        status: Some(200),
        bytes: Some(5000),
        marker: marker.into(),
        outcome,
    }
}

#[tokio::test]
async fn pages_and_teasers_switched_to_their_page_text_as_sqlite() {
    let cluster = Cluster::shared();
    let both = both(&cluster).await;
    let teaser = "A teaser of the story, shorter than its page.".to_owned();
    let first = vec![
        // Its page's text, fetched with the feed's teaser kept.
        rendered("p0", "Paged", body(10, 300)),
        rendered("p1", "Robots", teaser.clone()),
        rendered("p2", "Timeout", teaser.clone() + " Two."),
        rendered("p3", "Later", teaser.clone() + " Three."),
    ];
    let pages = vec![
        page(
            0,
            "m0",
            PageOutcome::Extracted {
                feed_body: teaser.clone(),
            },
        ),
        page(
            1,
            "m1",
            PageOutcome::KeptFeed {
                reason: "robots",
                message: "disallowed".into(),
                retry: false,
            },
        ),
        page(
            2,
            "m2",
            PageOutcome::KeptFeed {
                reason: "timeout",
                message: "took too long".into(),
                retry: true,
            },
        ),
    ];
    let with_pages = |rendered: Vec<Rendered>, pages: Vec<PageRecord>| {
        move || {
            let mut outcome = parsed(items(rendered.clone()));
            if let PollOutcome::Parsed { pages: p, .. } = &mut outcome {
                *p = pages.clone();
            }
            outcome
        }
    };
    let counts = poll_both(&both, with_pages(first.clone(), pages), Default::default).await;
    assert_eq!((counts.new, counts.full_text, counts.pages), (4, 1, 3));

    // The teaser of p3 gets its page's text, a near-duplicate of p0's: a switch, no revision,
    // and linked to p0 (the earlier article).
    let mut second = first.clone();
    second[3] = rendered("p3", "Later", body(10, 300).replacen("river", "lake", 2));
    let switch = vec![page(
        3,
        "m3",
        PageOutcome::Extracted {
            feed_body: teaser.clone() + " Three.",
        },
    )];
    let counts = poll_both(&both, with_pages(second, switch), Default::default).await;
    assert_eq!(counts.full_text, 1, "{counts:?}");
    assert_eq!(counts.updated, 0, "{counts:?}");
    assert_eq!(counts.near_duplicates, 1, "{counts:?}");

    both.same_rows(
        "SELECT key, document, body_origin, feed_body, page_marker, CAST(revision AS TEXT)
         FROM articles ORDER BY id",
    )
    .await;
    both.same_rows(
        "SELECT a.key, p.marker, p.url, p.final_url, p.outcome, p.reason, p.message,
                CAST(p.http_status AS TEXT), CAST(p.bytes AS TEXT)
         FROM page_fetches p JOIN articles a ON a.id = p.article_id ORDER BY p.id",
    )
    .await;
    both.same_rows(
        "SELECT a.key, d.key FROM duplicates x JOIN articles a ON a.id = x.article_id
         JOIN articles d ON d.id = x.duplicate_of ORDER BY a.key",
    )
    .await;
    let queries: Vec<PageQuery> = items(first)
        .iter()
        .enumerate()
        .map(|(n, i)| PageQuery {
            identity: i.identity.as_stored(),
            key: i.key.clone(),
            canonical_url: i.canonical_url.clone(),
            marker: format!("m{n}"),
        })
        .collect();
    let pg = both
        .pg
        .pages_known(both.pg_source, queries.clone())
        .await
        .unwrap();
    let sqlite = both
        .sqlite
        .pages_known(both.sqlite_source, queries)
        .await
        .unwrap();
    assert_eq!(pg, sqlite);
    assert_eq!(pg[2], gleaner::record::PageKnown::Fetch { deferred: 1 });
    both.close().await;
}

#[tokio::test]
async fn permanent_redirects_move_the_source_as_sqlite() {
    let cluster = Cluster::shared();
    let both = both(&cluster).await;
    let moved = || gleaner::fetch::ResponseMeta {
        redirects: vec![(301, "https://new.example/feed".into())],
        ..Default::default()
    };
    let mut moved_to = None;
    for _ in 0..10 {
        let counts = poll_both(
            &both,
            || PollOutcome::NotModified { status: Some(304) },
            moved,
        )
        .await;
        if counts.moved_to.is_some() {
            moved_to = counts.moved_to;
            break;
        }
    }
    assert_eq!(moved_to.as_deref(), Some("https://new.example/feed"));
    both.same_rows("SELECT url, redirect_to, CAST(redirect_polls AS TEXT) FROM sources")
        .await;
    both.same_rows("SELECT url FROM source_aliases").await;
    // The old URL, still configured, maps to the moved source.
    let synced = both.pg.sync_sources(vec![spec(FEED, None)]).await.unwrap();
    assert_eq!(synced.sources[0].id, both.pg_source);
    assert_eq!(synced.sources[0].url, "https://new.example/feed");
    both.close().await;
}

#[tokio::test]
async fn a_feed_whose_guids_cannot_be_trusted_switches_to_links_as_sqlite() {
    let cluster = Cluster::shared();
    let both = both(&cluster).await;
    let outcome = || {
        let mut outcome = parsed(items(stories()));
        if let PollOutcome::Parsed {
            identity_fallback, ..
        } = &mut outcome
        {
            *identity_fallback = Some("every item has the same guid".into());
        }
        outcome
    };
    let counts = poll_both(&both, outcome, Default::default).await;
    assert_eq!(counts.identity_basis, Some(IdentityBasis::Link));
    both.same_rows("SELECT identity, identity_reason FROM sources")
        .await;
    let counts = poll_both(&both, outcome, Default::default).await;
    assert_eq!(counts.identity_basis, None, "switched once");
    both.close().await;
}

/// A connection that broke (here: its backend terminated, as a server restart does) fails the
/// call in progress as transient, and the store connects again.
#[tokio::test]
async fn a_broken_connection_is_made_again() {
    let cluster = Cluster::shared();
    let url = cluster.database();
    let store = PostgresStore::open(&url, NearDuplicates::default())
        .await
        .unwrap();
    store.sync_sources(vec![spec(FEED, None)]).await.unwrap();
    let client = connect(&url).await;
    let terminated: i64 = client
        .query_one(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(terminated, 1);
    let mut errors = Vec::new();
    let synced = loop {
        match store.sync_sources(vec![spec(FEED, None)]).await {
            Ok(synced) => break synced,
            Err(e) => {
                assert!(e.is_transient(), "{e}");
                errors.push(e.to_string());
                assert!(errors.len() < 3, "{errors:?}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    };
    assert_eq!(synced.sources.len(), 1);
    store.close().await;
}

/// Near-duplicate candidates come through the band expression indexes (a scan of `articles`
/// would make each new article cost the whole comparison window). The other lookups of so small
/// a table are sequential scans, as the planner rightly prefers: not checked here.
#[tokio::test]
async fn near_duplicate_candidates_come_through_the_band_indexes() {
    let cluster = Cluster::shared();
    let both = both(&cluster).await;
    let client = connect(&both.pg_url).await;
    let scans = || async {
        let row = client
            .query_one(
                "SELECT coalesce(sum(idx_scan), 0)::bigint FROM pg_stat_user_indexes
                 WHERE relname = 'articles' AND indexrelname LIKE 'articles_simhash_%'",
                &[],
            )
            .await
            .unwrap();
        row.get::<_, i64>(0)
    };
    both.poll(stories()).await;
    // A backend reports its statistics when it exits (or idle, seconds later).
    both.pg.close().await;
    let mut band_scans = 0;
    for _ in 0..50 {
        band_scans = scans().await;
        if band_scans > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // Five articles with a fingerprint (the sixth is too short), four bands, a bucket each.
    assert!(band_scans >= 5 * 4, "band index scans: {band_scans}");
    both.close().await;
}

/// Two stores on the database at `url`, as two processes would open it, leases lasting
/// `lease_seconds`.
async fn two_processes(url: &str, lease_seconds: u64) -> (PostgresStore, PostgresStore) {
    let sharing = gleaner::store::Sharing {
        lease: std::time::Duration::from_secs(lease_seconds),
        per_host: 2,
    };
    let near = NearDuplicates::default();
    (
        PostgresStore::open_shared(url, near, sharing)
            .await
            .unwrap(),
        PostgresStore::open_shared(url, near, sharing)
            .await
            .unwrap(),
    )
}

/// The ids of the sources `store` takes at `at`, skipping `skip`, at most `limit`, in order.
async fn taken(
    store: &PostgresStore,
    at: DateTime<Utc>,
    skip: HashSet<i64>,
    limit: usize,
) -> Vec<i64> {
    let mut ids: Vec<i64> = store
        .due(at, skip, limit)
        .await
        .unwrap()
        .sources
        .iter()
        .map(|s| s.id)
        .collect();
    ids.sort();
    ids
}

/// Two processes on one database (two stores): a due source is leased to one only, and so is
/// its host; a lease lapses when not renewed, is renewed while the source is in flight, ends
/// when the poll is written or the source handed back, and all of a store's end when it closes.
#[tokio::test]
async fn leases_give_each_source_and_host_to_one_process_at_a_time() {
    let cluster = Cluster::shared();
    let url = cluster.database();
    let (a, b) = two_processes(&url, 30).await;
    let specs = vec![
        spec("https://one.example/a", None),
        spec("https://one.example/b", None),
        spec("https://two.example/feed", None),
    ];
    a.sync_sources(specs.clone()).await.unwrap();
    let synced = b.sync_sources(specs).await.unwrap();
    let ids: Vec<i64> = synced.sources.iter().map(|s| s.id).collect();
    let now = Utc::now();

    // A takes one source (a limit of 1): one.example is then A's, so B gets only two.example.
    assert_eq!(taken(&a, now, HashSet::new(), 1).await, vec![ids[0]]);
    assert_eq!(
        taken(&b, now, HashSet::new(), 10).await,
        vec![ids[2]],
        "one.example is A's"
    );
    // A may take the rest of its host; nothing is left for B.
    assert_eq!(
        taken(&a, now, HashSet::from([ids[0]]), 10).await,
        vec![ids[1]]
    );
    assert!(taken(&b, now, HashSet::from([ids[2]]), 10).await.is_empty());

    let client = connect(&url).await;
    let leases = |sql: &'static str| {
        let client = &client;
        async move {
            client
                .query(sql, &[])
                .await
                .unwrap()
                .iter()
                .map(|r| (r.get::<_, String>(0), r.get::<_, Option<String>>(1)))
                .collect::<Vec<_>>()
        }
    };
    let by_source = leases("SELECT url, leased_by FROM sources ORDER BY id").await;
    assert_eq!(by_source[0].1, by_source[1].1);
    assert_ne!(by_source[0].1, by_source[2].1);
    assert!(by_source[0].1.as_deref().unwrap().contains(" pid "));
    let hosts = leases("SELECT host, leased_by FROM host_leases ORDER BY host").await;
    assert_eq!(
        hosts.iter().map(|h| h.0.as_str()).collect::<Vec<_>>(),
        ["one.example", "two.example"]
    );

    // A handed back source is B's to take only once its host is free: A's host lease stands
    // until it lapses, so A handing back b leaves it to A.
    a.release(vec![ids[1]]).await.unwrap();
    assert!(taken(&b, now, HashSet::from([ids[2]]), 10).await.is_empty());
    // Thirty seconds later A's leases have lapsed unless renewed: A renews ids[0] (in flight),
    // so B still gets nothing of one.example; at ninety seconds, unrenewed, all of it is B's.
    let later = now + Duration::seconds(31);
    assert_eq!(
        taken(&a, later, HashSet::from([ids[0]]), 0).await,
        Vec::<i64>::new()
    );
    assert!(
        taken(&b, later, HashSet::from([ids[2]]), 10)
            .await
            .is_empty()
    );
    let much_later = now + Duration::seconds(90);
    assert_eq!(
        taken(&b, much_later, HashSet::from([ids[2]]), 10).await,
        vec![ids[0], ids[1]],
        "A's leases lapsed"
    );

    // Writing a poll ends its source's lease; closing ends every lease of the store.
    b.record_poll(record(
        ids[0],
        PollOutcome::NotModified { status: Some(304) },
    ))
    .await
    .unwrap();
    let by_source = leases("SELECT url, leased_by FROM sources ORDER BY id").await;
    assert_eq!(by_source[0].1, None, "written");
    assert!(by_source[1].1.is_some());
    b.close().await;
    let by_source = leases("SELECT url, leased_by FROM sources ORDER BY id").await;
    assert!(by_source.iter().all(|s| s.1.is_none()), "{by_source:?}");
    // B had taken one.example over from A's lapsed lease: B's host leases went with it.
    assert_eq!(
        leases("SELECT host, leased_by FROM host_leases").await,
        vec![]
    );
    a.close().await;
}

/// A page's host (full text) is claimed as a source's host is: one process at a time, the
/// claim lapsing after the lease time; a host one process polls feeds on is not another's.
#[tokio::test]
async fn page_hosts_are_claimed_by_one_process_at_a_time() {
    let cluster = Cluster::shared();
    let (a, b) = two_processes(&cluster.database(), 3).await;
    assert!(a.claim_host("pages.example".into()).await.unwrap());
    assert!(
        a.claim_host("pages.example".into()).await.unwrap(),
        "still A's"
    );
    assert!(!b.claim_host("pages.example".into()).await.unwrap(), "A's");
    assert!(b.claim_host("other.example".into()).await.unwrap());
    // A source's host leased with the source is claimed too.
    b.sync_sources(vec![spec("https://feeds.example/f", None)])
        .await
        .unwrap();
    let due = b.due(Utc::now(), HashSet::new(), 10).await.unwrap();
    assert_eq!(due.sources.len(), 1);
    assert!(!a.claim_host("feeds.example".into()).await.unwrap());
    tokio::time::sleep(std::time::Duration::from_millis(4_100)).await;
    assert!(
        b.claim_host("pages.example".into()).await.unwrap(),
        "A's lapsed"
    );
    a.close().await;
    b.close().await;
}
