//! `gleaner migrate-to URL` through the real binary: a SQLite store made by `gleaner once` from
//! the real-feed corpus (plus an edit, a page, a near-duplicate, a 429, a NUL) on loopback
//! servers, copied into a fresh database of a real PostgreSQL (a throwaway cluster,
//! tests/common/postgres.rs), then compared table by table, column by column.

mod common;

use std::collections::BTreeMap;
use std::process::Output;

use common::postgres::Cluster;
use common::{Reply, TestServer, Workspace, count, long_body, rss, stderr, stdout};
use gleaner::dedup::NearDuplicates;
use gleaner::store::{PostgresStore, SourceSpec, Store};
use tokio_postgres::{Client, NoTls};

const DATE: &str = "Tue, 05 Mar 2024 10:00:00 +0000";

/// The corpus's feeds, by file name: every RSS, Atom, RDF and JSON Feed file.
fn corpus() -> Vec<(String, Vec<u8>)> {
    let dir = common::fixture("real-feeds");
    let mut feeds: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| ["rss", "atom", "xml", "rdf", "json"].contains(&e))
        })
        .map(|p| {
            let name = p.file_name().unwrap().to_str().unwrap().to_owned();
            (name, std::fs::read(&p).unwrap())
        })
        .collect();
    feeds.sort();
    assert!(feeds.len() > 30, "the corpus has {} feeds", feeds.len());
    feeds
}

/// An article page, for the source whose pages are fetched.
const PAGE: &str = "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Bridge | News</title>\
    </head><body><nav><a href=\"/\">Home</a></nav><main><article><h1>Harbour bridge to close</h1>\
    <p>The council voted on Tuesday to close the old harbour bridge to traffic from March, after \
    engineers found cracks in two of its piers during the winter inspection.</p>\
    <p>Ferries will run every twenty minutes while the bridge is closed, and the council says the \
    repairs should take about eight months if the weather allows.</p></article></main>\
    <footer>© News</footer></body></html>";

/// A JSON Feed whose item has a NUL in its guid and its link (PostgreSQL's text has no NUL).
const NUL_FEED: &str = r#"{"version": "https://jsonfeed.org/version/1.1", "title": "Nul",
  "items": [{"id": "nul\u0000guid", "url": "https://nul.example/a\u0000b",
    "title": "Zanzibar lighthouse keepers", "date_published": "2024-03-05T10:00:00Z",
    "content_html": "<p>The lighthouse keepers of Zanzibar met again.</p>"}]}"#;

/// The sources of the store: the corpus, plus the special cases, and a server on another
/// loopback address that answers 429 (a host block).
struct Feeds {
    server: TestServer,
    limited: TestServer,
}

fn serve() -> Feeds {
    let server = TestServer::start();
    for (name, body) in corpus() {
        let reply = Reply::feed(body);
        let reply = if name.ends_with(".json") {
            reply.with_content_type("application/feed+json")
        } else {
            reply
        };
        server.route(&format!("/corpus/{name}"), reply);
    }
    server.route(
        "/edit.xml",
        Reply::feed(rss(&[(
            "e1",
            "https://edit.example/1",
            "Budget vote",
            DATE,
            "<p>The budget vote is on Friday.</p>",
        )])),
    );
    server.route(
        "/pages.xml",
        Reply::feed(rss(&[(
            "p1",
            &server.url("/bridge"),
            "Harbour bridge to close",
            DATE,
            "<p>The council voted on Tuesday to close the old harbour bridge …</p>",
        )])),
    );
    server.route(
        "/bridge",
        Reply::feed(PAGE).with_content_type("text/html; charset=utf-8"),
    );
    let original = long_body("the new tram line");
    let copy = format!(
        "<p>BRIGHTON (Wire) — {}<p>Reporting by Jane Doe.</p>",
        &original[3..]
    );
    server.route(
        "/paper.xml",
        Reply::feed(rss(&[(
            "t1",
            "https://paper.example/tram",
            "Tram line",
            DATE,
            &original,
        )])),
    );
    server.route(
        "/wire.xml",
        Reply::feed(rss(&[(
            "w1",
            "https://wire.example/991",
            "Tram line plans reviewed",
            DATE,
            &copy,
        )])),
    );
    server.route(
        "/nul.json",
        Reply::feed(NUL_FEED).with_content_type("application/feed+json"),
    );
    server.route("/gone.xml", Reply::status(404, "no such feed"));
    let limited = TestServer::start_at("127.0.0.2");
    limited.route(
        "/feed.xml",
        Reply::status(429, "slow down").with_header("Retry-After", "3600"),
    );
    Feeds { server, limited }
}

/// The configuration of the store: every source, full text only for `pages`.
fn configure(ws: &Workspace, feeds: &Feeds) {
    let mut text = String::from(
        "database = \"gleaner.db\"\nhost_delay = \"0s\"\nper_host = 8\nfull_text = \"never\"\n",
    );
    let mut source = |name: &str, url: String, extra: &str| {
        text.push_str(&format!(
            "\n[[sources]]\nname = \"{name}\"\nurl = \"{url}\"\n{extra}"
        ));
    };
    for (name, _) in corpus() {
        source(&name, feeds.server.url(&format!("/corpus/{name}")), "");
    }
    for name in ["edit", "paper", "wire", "gone"] {
        source(name, feeds.server.url(&format!("/{name}.xml")), "");
    }
    source("nul", feeds.server.url("/nul.json"), "");
    source(
        "pages",
        feeds.server.url("/pages.xml"),
        "full_text = \"always\"\n",
    );
    source("limited", feeds.limited.url("/feed.xml"), "");
    std::fs::write(ws.config(), text).unwrap();
}

/// A store with every kind of row: two passes, the second after an edit.
fn realistic_store() -> (Workspace, Feeds) {
    let feeds = serve();
    let ws = Workspace::new();
    configure(&ws, &feeds);
    ws.once();
    feeds.server.route(
        "/edit.xml",
        Reply::feed(rss(&[(
            "e1",
            "https://edit.example/1",
            "Budget vote moved",
            DATE,
            "<p>The budget vote is on Monday now, not Friday.</p>",
        )])),
    );
    ws.once();
    (ws, feeds)
}

fn migrate(ws: &Workspace, url: &str) -> Output {
    common::run(&["--config", ws.config().to_str().unwrap(), "migrate-to", url])
}

async fn connect(url: &str) -> Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await.unwrap();
    tokio::spawn(connection);
    client
}

/// SQLite's tables gleaner copies (not SQLite's own, not FTS5's), with their columns.
fn sqlite_tables(db: &rusqlite::Connection) -> BTreeMap<String, Vec<String>> {
    let names: Vec<String> = db
        .prepare(
            "SELECT name FROM pragma_table_list WHERE schema = 'main' AND type = 'table'
             AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'",
        )
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    names
        .into_iter()
        .map(|name| {
            let columns = db
                .prepare("SELECT name FROM pragma_table_info(?1) ORDER BY cid")
                .unwrap()
                .query_map([&name], |r| r.get(0))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            (name, columns)
        })
        .collect()
}

type Rows = Vec<Vec<Option<String>>>;

/// The columns as `t."name"`: qualified, so that ORDER BY sorts by the column, not by the
/// text output column of the same name.
fn quoted(columns: &[String]) -> Vec<String> {
    columns.iter().map(|c| format!("t.\"{c}\"")).collect()
}

/// Every row of `table`, each column as text (NULL as None), ordered by every column.
fn sqlite_rows(db: &rusqlite::Connection, table: &str, columns: &[String]) -> Rows {
    let names = quoted(columns);
    let casts: Vec<String> = names.iter().map(|c| format!("CAST({c} AS TEXT)")).collect();
    let sql = format!(
        "SELECT {} FROM \"{table}\" t ORDER BY {}",
        casts.join(", "),
        names.join(", ")
    );
    let mut stmt = db.prepare(&sql).unwrap();
    stmt.query_map([], |r| {
        (0..columns.len())
            .map(|i| r.get::<_, Option<String>>(i))
            .collect::<Result<Vec<_>, _>>()
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

async fn postgres_rows(pg: &Client, table: &str, columns: &[String]) -> Rows {
    let names = quoted(columns);
    let casts: Vec<String> = names.iter().map(|c| format!("{c}::text")).collect();
    let sql = format!(
        "SELECT {} FROM \"{table}\" t ORDER BY {}",
        casts.join(", "),
        names.join(", ")
    );
    pg.query(&sql, &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (0..columns.len()).map(|i| r.get(i)).collect())
        .collect()
}

/// Every shared table of PostgreSQL, as text.
async fn postgres_dump(
    pg: &Client,
    tables: &BTreeMap<String, Vec<String>>,
) -> BTreeMap<String, Rows> {
    let mut dump = BTreeMap::new();
    for (table, columns) in tables {
        dump.insert(table.clone(), postgres_rows(pg, table, columns).await);
    }
    dump
}

#[tokio::test(flavor = "multi_thread")]
async fn a_real_store_is_copied_keys_and_all_and_a_second_copy_is_refused() {
    let cluster = Cluster::shared();
    let (ws, _feeds) = tokio::task::spawn_blocking(realistic_store).await.unwrap();
    let lite = ws.open_db();
    // The store has a row of every kind the copy must carry.
    for (what, sql) in [
        ("articles", "SELECT count(*) >= 500 FROM articles"),
        ("a revision", "SELECT count(*) FROM article_revisions"),
        ("a page fetch", "SELECT count(*) FROM page_fetches"),
        ("a near-duplicate", "SELECT count(*) FROM duplicates"),
        ("a host block", "SELECT count(*) FROM host_blocks"),
        (
            "a failed fetch",
            "SELECT count(*) FROM fetches WHERE error_class = 'http_4xx'",
        ),
        (
            "a NUL",
            "SELECT count(*) FROM entries WHERE instr(guid, char(0)) > 0",
        ),
        (
            "a page body",
            "SELECT count(*) FROM articles WHERE body_origin = 'page'",
        ),
    ] {
        assert!(count(&lite, sql) > 0, "the store lacks {what}");
    }
    let articles = count(&lite, "SELECT count(*) FROM articles");

    let url = cluster.database();
    let out = tokio::task::spawn_blocking({
        let (url, config) = (url.clone(), ws.config());
        move || common::run(&["--config", config.to_str().unwrap(), "migrate-to", &url])
    })
    .await
    .unwrap();
    assert!(out.status.success(), "migrate-to failed: {}", stderr(&out));
    let printed = stdout(&out);
    eprintln!("{printed}");
    let grouped = gleaner::store::postgres::grouped(articles as u64);
    assert!(
        printed.lines().any(|l| l == format!("articles {grouped}")),
        "{printed}"
    );
    assert!(
        printed.lines().last().unwrap().starts_with("copied "),
        "{printed}"
    );

    let pg = connect(&url).await;
    let tables = sqlite_tables(&lite);
    assert!(!tables.contains_key("articles_fts") && tables.contains_key("host_blocks"));
    assert_eq!(
        tables.len(),
        printed.lines().count() - 1,
        "a line per table: {printed}"
    );
    let mut nul_seen = false;
    for (table, columns) in &tables {
        let expected: Rows = sqlite_rows(&lite, table, columns)
            .into_iter()
            .map(|row| {
                row.into_iter()
                    .map(|v| {
                        v.map(|t| {
                            nul_seen |= t.contains('\0');
                            t.replace('\0', "\u{FFFD}")
                        })
                    })
                    .collect()
            })
            .collect();
        let found = postgres_rows(&pg, table, columns).await;
        assert_eq!(found.len(), expected.len(), "the rows of {table}");
        for (f, e) in found.iter().zip(&expected) {
            assert_eq!(f, e, "a row of {table}");
        }
        assert!(
            printed.lines().any(|l| l
                == format!(
                    "{table} {}",
                    gleaner::store::postgres::grouped(expected.len() as u64)
                )),
            "no line for {table}: {printed}"
        );
    }
    assert!(nul_seen, "the NUL reached the comparison");

    // Documents byte for byte, by key.
    let lite_documents: BTreeMap<String, Vec<u8>> = lite
        .prepare("SELECT key, CAST(document AS BLOB) FROM articles")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let pg_documents: BTreeMap<String, Vec<u8>> = pg
        .query(
            "SELECT key, convert_to(document, 'UTF8') FROM articles",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(pg_documents.len(), articles as usize);
    assert!(pg_documents == lite_documents, "the documents differ");

    // The full-text column indexes copied rows.
    let found: Vec<String> = pg
        .query(
            "SELECT title FROM articles WHERE search @@ plainto_tsquery('simple', 'zanzibar lighthouse')",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(found, ["Zanzibar lighthouse keepers"]);

    // Every sequence continues past the largest id copied.
    for table in [
        "sources",
        "articles",
        "entries",
        "article_revisions",
        "fetches",
        "page_fetches",
    ] {
        let (max, next): (i64, i64) = {
            let row = pg
                .query_one(
                    &format!(
                        "SELECT (SELECT max(id) FROM {table}), nextval(pg_get_serial_sequence('{table}', 'id'))"
                    ),
                    &[],
                )
                .await
                .unwrap();
            (row.get(0), row.get(1))
        };
        assert_eq!(next, max + 1, "the next id of {table}");
    }
    // And gleaner's PostgreSQL store writes a new source beside the copied ones.
    let max_source = count(&lite, "SELECT max(id) FROM sources");
    let store = PostgresStore::open(&url, NearDuplicates::default())
        .await
        .unwrap();
    let synced = store
        .sync_sources(vec![SourceSpec {
            url: "https://new.example/feed".into(),
            name: Some("new".into()),
            paused: false,
        }])
        .await
        .unwrap();
    store.close().await;
    let new = synced
        .sources
        .iter()
        .find(|s| s.url == "https://new.example/feed")
        .expect("the new source");
    assert!(new.id > max_source, "new id {} after {max_source}", new.id);

    // A second copy into the same database is refused and changes nothing.
    let before = postgres_dump(&pg, &tables).await;
    let again = migrate(&ws, &url);
    assert!(!again.status.success());
    let err = stderr(&again);
    eprintln!("{err}");
    let sources = count(&lite, "SELECT count(*) FROM sources") + 1;
    assert!(
        err.contains("is not empty")
            && err.contains(&format!("sources {sources}"))
            && err.contains(&format!("articles {grouped}"))
            && err.contains("empty database"),
        "{err}"
    );
    assert_eq!(stdout(&again), "");
    assert!(
        postgres_dump(&pg, &tables).await == before,
        "the refused copy changed the target"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_value_postgresql_cannot_take_stops_the_copy_with_nothing_written() {
    let cluster = Cluster::shared();
    let server = TestServer::start();
    server.route("/feed.xml", common::tagged_feed("one"));
    let ws = Workspace::new();
    ws.write_config(
        "host_delay = \"0s\"\nfull_text = \"never\"",
        &[("one", &server.url("/feed.xml"))],
    );
    ws.once();
    // SQLite keeps text in an INTEGER column; no PostgreSQL bigint takes it. `fetches` is
    // copied after `sources` and `articles`, so a copy that is not all-or-nothing would leave
    // those behind.
    ws.open_db()
        .execute("UPDATE fetches SET bytes = 'lots'", [])
        .unwrap();
    let url = cluster.database();
    let out = migrate(&ws, &url);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("fetches.bytes of the row with id 1")
            && err.contains("text (\"lots\") cannot go into a PostgreSQL bigint column")
            && err.contains("nothing was copied"),
        "{err}"
    );
    let pg = connect(&url).await;
    let tables = sqlite_tables(&ws.open_db());
    for (table, rows) in postgres_dump(&pg, &tables).await {
        assert!(rows.is_empty(), "{table} has rows after a failed copy");
    }
}

#[test]
fn a_bad_or_unreachable_target_is_a_clear_error_without_the_password() {
    let server = TestServer::start();
    server.route("/feed.xml", common::tagged_feed("one"));
    let ws = Workspace::new();
    ws.write_config(
        "host_delay = \"0s\"\nfull_text = \"never\"",
        &[("one", &server.url("/feed.xml"))],
    );
    ws.once();
    for (url, shown) in [
        // Nothing listens on port 1.
        (
            "postgres://gleaner:s3cret@127.0.0.1:1/gleaner",
            "postgres://gleaner:***@127.0.0.1:1/gleaner",
        ),
        (
            "host=/nonexistent-gleaner-socket user=gleaner password=s3cret dbname=g",
            "password=***",
        ),
        (
            "postgres://gleaner:s3cret@127.0.0.1:notaport/gleaner",
            "postgres://gleaner:***@127.0.0.1:notaport/gleaner: PostgreSQL: invalid connection string",
        ),
    ] {
        let out = migrate(&ws, url);
        assert!(!out.status.success(), "{url}");
        let err = stderr(&out);
        assert!(
            err.starts_with("gleaner: ") && err.contains(shown),
            "{url}: {err}"
        );
        assert!(!err.contains("s3cret"), "the password shown: {err}");
    }
}

#[test]
fn a_missing_sqlite_database_is_not_created() {
    let ws = Workspace::new();
    ws.write_config("", &[]);
    let out = migrate(&ws, "host=/nonexistent-gleaner-socket dbname=g");
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("does not exist: there is nothing to copy"),
        "{err}"
    );
    assert!(!ws.db().exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_running_daemon_is_warned_about_and_its_snapshot_copied() {
    let cluster = Cluster::shared();
    let server = TestServer::start();
    server.route("/feed.xml", common::tagged_feed("one"));
    let ws = Workspace::new();
    ws.write_config(
        "host_delay = \"0s\"\nfull_text = \"never\"",
        &[("one", &server.url("/feed.xml"))],
    );
    let mut daemon = common::gleaner()
        .args(["--config", ws.config().to_str().unwrap(), "run"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    common::wait_for(
        std::time::Duration::from_secs(20),
        "the daemon's first article",
        || {
            ws.db().exists()
                && ws
                    .open_db()
                    .query_row("SELECT count(*) FROM articles", [], |r| r.get::<_, i64>(0))
                    .is_ok_and(|n| n == 1)
        },
    );
    let url = cluster.database();
    let out = migrate(&ws, &url);
    let _ = daemon.kill();
    let _ = daemon.wait();
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("already running") && err.contains("will not be in PostgreSQL"),
        "{err}"
    );
    let pg = connect(&url).await;
    let articles: i64 = pg
        .query_one("SELECT count(*) FROM articles", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(articles, 1);
}
