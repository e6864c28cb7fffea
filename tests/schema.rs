//! The schema as a contract. `migrations/schema.sql` is the whole schema of a new database, kept
//! in step with the migrations here (`GLEANER_WRITE_SCHEMA=1 cargo test --test schema` rewrites
//! it); and upgrading a version-6 database, the last before the CHECKs of version 7 rebuilt its
//! tables, keeps every row, every reference and the full-text index.

use std::path::Path;

use gleaner::store::{self, StoreError, migrate};
use rusqlite::types::Value;
use rusqlite::{Connection, ErrorCode, params};

const SCHEMA_FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/schema.sql");

/// The schema as SQLite stores it in sqlite_master: one statement per object, tables first, then
/// indexes, triggers and views, each group by name. What SQLite makes by itself is left out: its
/// own tables, the indexes behind UNIQUE and PRIMARY KEY (no SQL), and FTS5's shadow tables.
fn statements(conn: &Connection) -> String {
    let mut stmt = conn
        .prepare(
            "SELECT sql FROM sqlite_schema
             WHERE sql IS NOT NULL
               AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'
               AND name NOT IN (SELECT name FROM pragma_table_list WHERE type = 'shadow')
             ORDER BY CASE type WHEN 'table' THEN 0 WHEN 'index' THEN 1 WHEN 'trigger' THEN 2
                                ELSE 3 END,
                      name",
        )
        .unwrap();
    stmt.query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .map(|sql| format!("{};\n", sql.unwrap()))
        .collect::<Vec<_>>()
        .join("\n")
}

fn header(version: u32) -> String {
    format!(
        "-- The whole gleaner schema at version {version} (PRAGMA user_version), as SQLite stores it in
-- sqlite_master: every table, index, trigger and view, tables first, then each kind by name.
-- Generated, and never executed by gleaner: the numbered migrations make the schema, and
-- tests/schema.rs checks that a new database has exactly this one. After a new migration,
-- regenerate it with
--     GLEANER_WRITE_SCHEMA=1 cargo test --test schema
-- Left out, as SQLite makes them itself: the indexes of UNIQUE and PRIMARY KEY constraints and
-- the tables FTS5 keeps for articles_fts (articles_fts_data, _idx, _docsize, _config). Columns
-- added by ALTER TABLE sit at the end of their table's statement, and the names of the tables
-- rebuilt by a migration are quoted (\"sources\"): SQLite writes them so.

"
    )
}

/// Where two texts first differ, for a failure message shorter than both.
fn first_difference(expected: &str, actual: &str) -> String {
    let mut expected_lines = expected.lines();
    let mut actual_lines = actual.lines();
    for line in 1.. {
        match (expected_lines.next(), actual_lines.next()) {
            (None, None) => break,
            (e, a) if e != a => {
                return format!("line {line}: schema.sql has {e:?}, the database has {a:?}");
            }
            _ => {}
        }
    }
    "no line differs (line endings?)".into()
}

#[test]
fn a_new_database_has_exactly_the_schema_of_schema_sql() {
    let dir = tempfile::tempdir().unwrap();
    let conn = store::open_for_writing(&dir.path().join("gleaner.db")).unwrap();
    assert_eq!(
        migrate::current_version(&conn).unwrap(),
        migrate::latest_version()
    );
    let body = statements(&conn);
    let generated = header(migrate::latest_version()) + &body;
    if std::env::var_os("GLEANER_WRITE_SCHEMA").is_some() {
        std::fs::write(SCHEMA_FILE, &generated).unwrap();
        return;
    }
    let stored = std::fs::read_to_string(SCHEMA_FILE).unwrap();
    assert!(
        stored == generated,
        "migrations/schema.sql is not the schema of a new database ({}); regenerate it with \
         GLEANER_WRITE_SCHEMA=1 cargo test --test schema",
        first_difference(&stored, &generated)
    );

    // Whole: run on an empty database, the file makes the same schema again.
    let replayed = Connection::open_in_memory().unwrap();
    replayed.execute_batch(&stored).unwrap();
    assert!(statements(&replayed) == body, "schema.sql does not replay");
}

/// Every table of version 6, with realistic rows in each.
const TABLES: &[&str] = &[
    "sources",
    "articles",
    "entries",
    "article_revisions",
    "fetches",
    "source_aliases",
    "host_blocks",
    "duplicates",
    "removed_articles",
    "removed_entries",
    "page_fetches",
];

const VIEWS: &[&str] = &[
    "article_sources",
    "source_health",
    "page_health",
    "unique_articles",
    "duplicate_clusters",
];

/// The error classes gleaner writes to `fetches.error_class` (see 0007_states.sql).
const ERROR_CLASSES: &[&str] = &[
    "dns",
    "connect",
    "tls",
    "timeout",
    "http_4xx",
    "http_5xx",
    "http_other",
    "too_large",
    "redirect",
    "private_address",
    "gone",
    "rate_limited",
    "io",
    "network",
    "not_a_feed",
    "parse",
    "internal",
    "database",
];

/// A database at version 6, made by its migrations as gleaner 6 made it.
fn version_6(path: &Path) -> Connection {
    let conn = Connection::open(path).unwrap();
    conn.pragma_update(None, "foreign_keys", "ON").unwrap();
    for (version, _, sql) in &migrate::MIGRATIONS[..6] {
        conn.execute_batch(sql).unwrap();
        conn.pragma_update(None, "user_version", version).unwrap();
    }
    conn
}

fn hours_ago(hours: i64) -> String {
    store::timestamp(chrono::Utc::now() - chrono::Duration::hours(hours))
}

/// Three sources (active, gone and never polled), four articles (one edited, one a
/// near-duplicate, one whose page was fetched), entries under each kind of identity, a fetch of
/// every error class and successes, pages, an alias, a tombstone and a blocked host.
fn fill(conn: &Connection) {
    conn.execute_batch(
        "INSERT INTO sources (id, url, name, title, site_url, status, etag, last_modified,
                              body_hash, added_at, last_polled_at, last_success_at, next_poll_at,
                              next_poll_reason, consecutive_errors, last_error, redirect_to,
                              redirect_polls, hint_ttl_seconds, hint_update_seconds, skip_hours,
                              skip_days, identity, identity_reason)
         VALUES
         (1, 'https://news.example/feed', 'News', 'Example News', 'https://news.example/',
          'active', '\"v1\"', 'Fri, 03 Feb 2023 10:00:00 GMT', 'abc123', '2024-01-01T00:00:00Z',
          '2024-03-01T10:00:00Z', '2024-03-01T10:00:00Z', '2024-03-01T11:00:00Z', 'adaptive',
          0, NULL, 'https://news.example/rss', 1, 3600, 7200, 3, 64, 'link',
          'guid repeated: 2 items share one'),
         (2, 'https://gone.example/feed', NULL, 'Gone', NULL, 'gone', NULL, NULL, NULL,
          '2024-01-01T00:00:00Z', '2024-02-01T00:00:00Z', '2024-01-15T00:00:00Z', NULL, 'gone',
          4, 'gone: HTTP 410', NULL, 0, NULL, NULL, 0, 0, 'guid', NULL),
         (3, 'file:///srv/feeds/local.xml', 'Local', NULL, NULL, 'paused', NULL, NULL, NULL,
          '2024-01-02T00:00:00Z', NULL, NULL, NULL, NULL, 0, NULL, NULL, 0, NULL, NULL, 0, 0,
          'guid', NULL);

         INSERT INTO articles (id, key, url, canonical_url, title, published_at, date, body,
                               document, content_hash, first_seen_at, updated_at, revision,
                               simhash, body_origin, feed_body, page_marker)
         VALUES
         (1, '00000000000000a1', 'https://news.example/a1?utm_source=rss',
          'https://news.example/a1', 'Offensive expected', '2024-03-01T09:00:00Z', '2024-03-01',
          'Troops gather near Bakhmut.', 'doc 1', 'h1', '2024-03-01T10:00:00Z',
          '2024-03-02T10:00:00Z', 2, -1234567890123, 'page', 'Troops gather.', 'm1'),
         (2, '00000000000000a2', 'https://wire.example/a2', 'https://wire.example/a2',
          'Offensive expected (wire)', NULL, '2024-03-01', 'Troops gather near Bakhmut today.',
          'doc 2', 'h2', '2024-03-01T10:05:00Z', '2024-03-01T10:05:00Z', 1, -1234567890124,
          'feed', NULL, NULL),
         (3, '00000000000000a3', NULL, NULL, 'Bus routes', NULL, '2024-02-28',
          'The council expands the network.', 'doc 3', 'h3', '2024-02-28T08:00:00Z',
          '2024-02-28T08:00:00Z', 1, NULL, 'feed', NULL, NULL),
         (4, '00000000000000a4', 'https://gone.example/4', 'https://gone.example/4', 'Snow',
          NULL, '2024-01-10', 'The pass is closed.', 'doc 4', 'h4', '2024-01-10T07:00:00Z',
          '2024-01-10T07:00:00Z', 1, NULL, 'feed', NULL, NULL);

         INSERT INTO article_revisions (article_id, revision, title, document, replaced_at)
         VALUES (1, 1, 'Offensive expected', 'doc 1, first version', '2024-03-02T10:00:00Z');
         INSERT INTO duplicates (article_id, duplicate_of, method, distance, found_at)
         VALUES (2, 1, 'simhash', 3, '2024-03-01T10:05:00Z');

         INSERT INTO entries (id, source_id, article_id, identity, guid, link, content_hash,
                              first_seen_at, last_seen_at)
         VALUES
         (1, 1, 1, 'link:https://news.example/a1', 'a1', 'https://news.example/a1', 'e1',
          '2024-03-01T10:00:00Z', '2024-03-02T10:00:00Z'),
         (2, 1, 2, 'link:https://wire.example/a2', NULL, 'https://wire.example/a2', 'e2',
          '2024-03-01T10:05:00Z', '2024-03-01T10:05:00Z'),
         (3, 3, 3, 'hash:5f0c2a', NULL, NULL, 'e3', '2024-02-28T08:00:00Z',
          '2024-02-28T08:00:00Z'),
         (4, 2, 4, 'guid:tag:gone.example,2024:4', 'tag:gone.example,2024:4',
          'https://gone.example/4', 'e4', '2024-01-10T07:00:00Z', '2024-01-10T07:00:00Z'),
         (5, 3, 1, 'guid:local-1', 'local-1', 'https://news.example/a1', 'e5',
          '2024-03-01T12:00:00Z', '2024-03-01T12:00:00Z');

         INSERT INTO source_aliases (url, source_id, moved_at)
         VALUES ('http://news.example/feed', 1, '2024-02-01T00:00:00Z');
         INSERT INTO host_blocks (host, until) VALUES ('slow.example', '2024-03-01T12:00:00Z');
         INSERT INTO removed_articles (key, canonical_url, title, date, removed_at)
         VALUES ('00000000000000b1', 'https://news.example/old', 'Old', '2023-01-01',
                 '2024-01-01T00:00:00Z');
         INSERT INTO removed_entries (source_id, identity, key)
         VALUES (1, 'link:https://news.example/old', '00000000000000b1');",
    )
    .unwrap();
    // A success, a 304, then a failure of every class, the last ones within the day (so that
    // `source_health.errors_last_day` counts some).
    let mut fetch = conn
        .prepare(
            "INSERT INTO fetches (source_id, started_at, url, http_status, not_modified, bytes,
                                  duration_ms, items_seen, items_new, items_updated,
                                  error_class, error_message, wire_bytes, etag_sent,
                                  last_modified_sent, retry_after, redirects, charged)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,
                     ?17, ?18)",
        )
        .unwrap();
    fetch
        .execute(params![
            1,
            "2024-03-01T10:00:00Z",
            "https://news.example/feed",
            200,
            0,
            5120,
            85,
            2,
            2,
            0,
            None::<String>,
            None::<String>,
            1800,
            None::<String>,
            None::<String>,
            None::<String>,
            "301 https://news.example/feed",
            1
        ])
        .unwrap();
    fetch
        .execute(params![
            1,
            hours_ago(30),
            "https://news.example/feed",
            304,
            1,
            None::<i64>,
            12,
            0,
            0,
            0,
            None::<String>,
            None::<String>,
            None::<i64>,
            "\"v1\"",
            "Fri, 03 Feb 2023 10:00:00 GMT",
            None::<String>,
            None::<String>,
            1
        ])
        .unwrap();
    for (i, class) in ERROR_CLASSES.iter().enumerate() {
        let source = [1, 2, 3][i % 3];
        fetch
            .execute(params![
                source,
                hours_ago(i as i64 % 3),
                "https://news.example/feed",
                (*class == "gone").then_some(410),
                0,
                None::<i64>,
                40 + i as i64,
                0,
                0,
                0,
                class,
                format!("{class}: what went wrong"),
                None::<i64>,
                None::<String>,
                None::<String>,
                (*class == "rate_limited").then_some("2024-03-01T12:00:00Z"),
                None::<String>,
                !matches!(*class, "rate_limited" | "database" | "gone"),
            ])
            .unwrap();
    }
    conn.execute_batch(&format!(
        "INSERT INTO page_fetches (article_id, source_id, marker, url, final_url, fetched_at,
                                   http_status, bytes, duration_ms, outcome, reason, message)
         VALUES
         (1, 1, 'm1', 'https://news.example/a1', 'https://news.example/a1', '{recent}', 200,
          40000, 120, 'extracted', NULL, NULL),
         (2, 1, 'm2', 'https://wire.example/a2', NULL, '{recent}', NULL, NULL, 3, 'kept_feed',
          'robots', 'robots.txt disallows it'),
         (2, 1, 'm2', 'https://wire.example/a2', NULL, '2024-03-01T10:05:00Z', 503, 0, 900,
          'deferred', 'http_5xx', 'HTTP 503')",
        recent = hours_ago(2)
    ))
    .unwrap();
}

/// Everything a user's query can see of the database: each table's columns (name, type, NOT
/// NULL, default, key) and rows, and each view's rows.
fn contents(conn: &Connection) -> Vec<(String, Vec<Vec<Value>>)> {
    let mut all = Vec::new();
    for table in TABLES {
        let columns = rows(
            conn,
            &format!(
                "SELECT name, type, \"notnull\", dflt_value, pk FROM pragma_table_xinfo('{table}')"
            ),
        );
        all.push((format!("{table} columns"), columns));
        all.push((
            table.to_string(),
            rows(conn, &format!("SELECT * FROM {table} ORDER BY 1, 2")),
        ));
    }
    for view in VIEWS {
        all.push((
            view.to_string(),
            rows(conn, &format!("SELECT * FROM {view} ORDER BY 1, 2")),
        ));
    }
    all
}

fn rows(conn: &Connection, sql: &str) -> Vec<Vec<Value>> {
    let mut stmt = conn.prepare(sql).unwrap();
    let width = stmt.column_count();
    stmt.query_map([], |r| (0..width).map(|i| r.get::<_, Value>(i)).collect())
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// The SQL of the views and indexes, which the rebuild drops and makes again.
fn views_and_indexes(conn: &Connection) -> Vec<Vec<Value>> {
    rows(
        conn,
        "SELECT type, name, tbl_name, sql FROM sqlite_schema WHERE type IN ('view', 'index')
         ORDER BY type, name",
    )
}

fn count(conn: &Connection, sql: &str) -> i64 {
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

fn fts_matches(conn: &Connection, query: &str) -> Vec<i64> {
    conn.prepare("SELECT rowid FROM articles_fts WHERE articles_fts MATCH ?1 ORDER BY rowid")
        .unwrap()
        .query_map([query], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

fn is_check_failure(result: rusqlite::Result<usize>) -> bool {
    matches!(
        result,
        Err(ref e) if e.sqlite_error_code() == Some(ErrorCode::ConstraintViolation)
            && e.to_string().contains("CHECK constraint failed")
    )
}

#[test]
fn upgrading_version_6_keeps_every_row_and_enforces_the_states() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gleaner.db");
    let before = {
        let conn = version_6(&path);
        fill(&conn);
        assert_eq!(count(&conn, "SELECT count(*) FROM fetches"), 20);
        (contents(&conn), views_and_indexes(&conn))
    };

    let conn = store::open_for_writing(&path).unwrap();
    assert_eq!(migrate::current_version(&conn).unwrap(), 7);
    // The connection writes with its foreign keys enforced again.
    assert_eq!(count(&conn, "PRAGMA foreign_keys"), 1);

    // Nothing lost or changed: columns, rows (ids included), views, indexes.
    let after = (contents(&conn), views_and_indexes(&conn));
    for ((name, was), (_, is)) in before.0.iter().zip(&after.0) {
        assert_eq!(was, is, "{name}");
    }
    assert!(!before.0[1].1.is_empty() && !before.0.last().unwrap().1.is_empty());
    assert_eq!(before.1, after.1);
    let spot: (String, String, Option<String>, String) = conn
        .query_row(
            "SELECT s.status, s.identity, s.redirect_to, e.identity FROM sources s
             JOIN entries e ON e.source_id = s.id WHERE e.id = 2",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap();
    assert_eq!(
        spot,
        (
            "active".into(),
            "link".into(),
            Some("https://news.example/rss".into()),
            "link:https://wire.example/a2".into()
        )
    );
    assert_eq!(
        count(
            &conn,
            "SELECT errors_last_day FROM source_health WHERE id = 1"
        ),
        6
    );

    assert_eq!(
        count(&conn, "SELECT count(*) FROM pragma_foreign_key_check"),
        0
    );
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
    assert_eq!(fts_matches(&conn, "bakhmut"), vec![1, 2]);
    conn.execute(
        "INSERT INTO articles_fts (articles_fts) VALUES ('integrity-check')",
        [],
    )
    .unwrap();

    // Each state column refuses what gleaner never writes, and takes what it does.
    assert!(is_check_failure(conn.execute(
        "UPDATE sources SET status = 'bogus' WHERE id = 1",
        []
    )));
    assert!(is_check_failure(conn.execute(
        "UPDATE sources SET next_poll_reason = 'bogus' WHERE id = 1",
        []
    )));
    assert!(is_check_failure(conn.execute(
        "UPDATE sources SET identity = 'bogus' WHERE id = 1",
        []
    )));
    for reason in [
        "interval",
        "adaptive",
        "hint",
        "retry-after",
        "backoff",
        "outage",
        "retry",
        "gone",
    ] {
        conn.execute(
            "UPDATE sources SET next_poll_reason = ?1 WHERE id = 3",
            [reason],
        )
        .unwrap();
    }
    conn.execute(
        "UPDATE sources SET next_poll_reason = NULL WHERE id = 3",
        [],
    )
    .unwrap();
    let insert_fetch = |class: Option<&str>| {
        conn.execute(
            "INSERT INTO fetches (source_id, started_at, url, duration_ms, error_class)
             VALUES (1, '2024-03-02T00:00:00Z', 'https://news.example/feed', 1, ?1)",
            [class],
        )
    };
    assert!(is_check_failure(insert_fetch(Some("bogus"))));
    assert!(is_check_failure(insert_fetch(Some("HTTP_4XX"))));
    insert_fetch(None).unwrap();
    let insert_entry = |identity: &str| {
        conn.execute(
            "INSERT INTO entries (source_id, article_id, identity, content_hash, first_seen_at,
                                  last_seen_at)
             VALUES (2, 3, ?1, 'h', '2024-03-02T00:00:00Z', '2024-03-02T00:00:00Z')",
            [identity],
        )
    };
    assert!(is_check_failure(insert_entry("x")));
    assert!(is_check_failure(insert_entry("GUID:1")));
    insert_entry("guid:line one\nline two").unwrap();

    // The references point at the rebuilt tables: a source deleted takes its rows with it.
    conn.execute("DELETE FROM sources WHERE id = 1", [])
        .unwrap();
    for table in [
        "entries",
        "fetches",
        "page_fetches",
        "source_aliases",
        "removed_entries",
    ] {
        assert_eq!(
            count(
                &conn,
                &format!("SELECT count(*) FROM {table} WHERE source_id = 1")
            ),
            0,
            "{table}"
        );
    }
    assert_eq!(count(&conn, "SELECT count(*) FROM fetches"), 12);
}

#[test]
fn a_refused_upgrade_changes_nothing_and_enforces_foreign_keys_again() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = version_6(&dir.path().join("gleaner.db"));
    fill(&conn);
    // A value gleaner never wrote, by hand.
    conn.execute_batch("UPDATE fetches SET error_class = 'bogus' WHERE id = 3")
        .unwrap();
    let before = contents(&conn);
    let schema = statements(&conn);

    let refused = migrate::apply(&mut conn);
    assert!(
        matches!(&refused, Err(StoreError::Migration(m)) if m.contains("CHECK constraint failed")),
        "{refused:?}"
    );
    assert_eq!(migrate::current_version(&conn).unwrap(), 6);
    assert_eq!(count(&conn, "PRAGMA foreign_keys"), 1);
    assert!(conn.is_autocommit());
    assert!(contents(&conn) == before);
    assert_eq!(statements(&conn), schema);
}

#[test]
fn rows_left_dangling_by_hand_do_not_block_the_upgrade() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = version_6(&dir.path().join("gleaner.db"));
    fill(&conn);
    // A source deleted in a shell without foreign keys: its entries and fetches dangle.
    conn.execute_batch("PRAGMA foreign_keys = OFF; DELETE FROM sources WHERE id = 2;")
        .unwrap();
    conn.pragma_update(None, "foreign_keys", "ON").unwrap();
    let dangling = count(&conn, "SELECT count(*) FROM pragma_foreign_key_check");
    assert!(dangling > 0);
    migrate::apply(&mut conn).unwrap();
    assert_eq!(migrate::current_version(&conn).unwrap(), 7);
    assert_eq!(
        count(&conn, "SELECT count(*) FROM pragma_foreign_key_check"),
        dangling,
        "the user's rows are kept as they were, no more dangling"
    );
    assert_eq!(count(&conn, "PRAGMA foreign_keys"), 1);
}
