//! PostgreSQL's schema (`migrations/postgres/`) against SQLite's, on a real PostgreSQL (a
//! throwaway cluster, tests/common/postgres.rs; Debian package `postgresql`): the same tables
//! and views with the same columns in the same order, the same foreign keys, CHECKs that refuse
//! what SQLite's refuse, full-text search through the tsvector's GIN index, near-duplicate band
//! lookups through their indexes, and views that give the same rows for the same data.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{Duration, Utc};
use common::postgres::Cluster;
use gleaner::dedup::simhash;
use rusqlite::Connection;
use tokio_postgres::types::Type;
use tokio_postgres::{Client, NoTls};

const MIGRATIONS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres");

/// Tables of SQLite's schema PostgreSQL has no counterpart of: the FTS5 table and the tables
/// FTS5 keeps for it. PostgreSQL's full-text search is the column `articles.search`.
const SQLITE_ONLY: &[&str] = &[
    "articles_fts",
    "articles_fts_config",
    "articles_fts_data",
    "articles_fts_docsize",
    "articles_fts_idx",
];

/// PostgreSQL's tables SQLite has no counterpart of: the version (SQLite: PRAGMA user_version)
/// and the hosts leased by processes sharing the database (one process runs on a SQLite file).
const POSTGRES_ONLY: &[&str] = &["host_leases", "schema_version"];

/// PostgreSQL's columns SQLite has no counterpart of: the full-text search vector, the leases
/// of sources and the host they are leased by.
const POSTGRES_ONLY_COLUMNS: &[(&str, &str)] = &[
    ("articles", "search"),
    ("sources", "leased_by"),
    ("sources", "leased_until"),
    ("sources", "host"),
];

/// SQLite's indexes PostgreSQL does without: the one that loads the writer's in-memory band
/// index; PostgreSQL finds candidates through its band indexes instead.
const SQLITE_ONLY_INDEXES: &[&str] = &["articles_simhash"];

/// PostgreSQL's indexes SQLite has no counterpart of: the SimHash bands, the full-text index,
/// the sources free to lease in the order processes lease them, and the leases held.
const POSTGRES_ONLY_INDEXES: &[&str] = &[
    "articles_search",
    "sources_due",
    "sources_leased",
    "articles_simhash_0",
    "articles_simhash_1",
    "articles_simhash_2",
    "articles_simhash_3",
];

/// The migrations, in order; their numbering must run 1, 2, 3...
fn migrations() -> Vec<(PathBuf, String)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(MIGRATIONS)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "sql"))
        .collect();
    files.sort();
    assert!(!files.is_empty());
    for (i, file) in files.iter().enumerate() {
        let name = file.file_name().unwrap().to_str().unwrap();
        assert!(
            name.starts_with(&format!("{:04}_", i + 1)),
            "{name} is out of sequence"
        );
    }
    files
        .into_iter()
        .map(|f| {
            let sql = std::fs::read_to_string(&f).unwrap();
            (f, sql)
        })
        .collect()
}

/// A new database of `cluster` with every migration applied, each in one transaction.
async fn migrated(cluster: &Cluster) -> Client {
    let (client, connection) = tokio_postgres::connect(&cluster.database(), NoTls)
        .await
        .unwrap();
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            eprintln!("PostgreSQL connection: {e}");
        }
    });
    let all = migrations();
    for (file, sql) in &all {
        client
            .batch_execute(&format!("BEGIN;\n{sql}\nCOMMIT;"))
            .await
            .unwrap_or_else(|e| panic!("{}: {}", file.display(), describe(&e)));
    }
    let version: i32 = client
        .query_one("SELECT version FROM schema_version", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        version as usize,
        all.len(),
        "schema_version after the migrations"
    );
    client
}

/// A new SQLite database made by gleaner itself, in `dir`.
fn sqlite(dir: &Path) -> Connection {
    gleaner::store::open_for_writing(&dir.join("gleaner.db")).unwrap()
}

/// A PostgreSQL error with its detail, which Display leaves out.
fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {} ({:?})", db.severity(), db.message(), db.detail()),
        None => e.to_string(),
    }
}

/// SQLite's tables and views (name -> "table" or "view"), its own tables left out.
fn sqlite_relations(conn: &Connection) -> BTreeMap<String, String> {
    let mut stmt = conn
        .prepare(
            "SELECT name, type FROM sqlite_master WHERE type IN ('table', 'view')
             AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'",
        )
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// A relation's columns, in order: (name, declared type, NOT NULL).
fn sqlite_columns(conn: &Connection, relation: &str) -> Vec<(String, String, bool)> {
    let mut stmt = conn
        .prepare("SELECT name, type, \"notnull\" OR pk FROM pragma_table_xinfo(?1) ORDER BY cid")
        .unwrap();
    stmt.query_map([relation], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

async fn postgres_relations(client: &Client) -> BTreeMap<String, String> {
    client
        .query(
            "SELECT table_name::text,
                    CASE table_type WHEN 'VIEW' THEN 'view' ELSE 'table' END
             FROM information_schema.tables WHERE table_schema = 'public'",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

async fn postgres_columns(client: &Client, relation: &str) -> Vec<(String, String, bool)> {
    client
        .query(
            "SELECT column_name::text, data_type::text, is_nullable = 'NO'
             FROM information_schema.columns
             WHERE table_schema = 'public' AND table_name = $1 ORDER BY ordinal_position",
            &[&relation],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect()
}

#[tokio::test]
async fn the_same_tables_views_and_columns_as_sqlite() {
    let cluster = Cluster::shared();
    eprintln!("cluster started in {:?}", cluster.started_in);
    let pg = migrated(&cluster).await;
    let dir = tempfile::tempdir().unwrap();
    let lite = sqlite(dir.path());

    let mut lite_relations = sqlite_relations(&lite);
    let mut pg_relations = postgres_relations(&pg).await;
    for name in SQLITE_ONLY {
        assert!(
            lite_relations.remove(*name).is_some(),
            "{name} is listed as SQLite's only, but SQLite has no such table any more"
        );
    }
    for name in POSTGRES_ONLY {
        assert!(
            pg_relations.remove(*name).is_some(),
            "{name} is listed as PostgreSQL's only, but PostgreSQL has no such table"
        );
    }
    assert_eq!(pg_relations, lite_relations, "tables and views, by kind");

    for (relation, kind) in &lite_relations {
        let lite_columns = sqlite_columns(&lite, relation);
        let mut pg_columns = postgres_columns(&pg, relation).await;
        for (table, column) in POSTGRES_ONLY_COLUMNS.iter().filter(|c| c.0 == relation) {
            let at = pg_columns.iter().position(|c| c.0 == *column);
            let at = at.unwrap_or_else(|| panic!("{table}.{column} is missing in PostgreSQL"));
            pg_columns.remove(at);
        }
        let names = |columns: &[(String, String, bool)]| -> Vec<String> {
            columns.iter().map(|c| c.0.clone()).collect()
        };
        assert_eq!(
            names(&pg_columns),
            names(&lite_columns),
            "the columns of {kind} {relation}, in order"
        );
        if kind == "view" {
            continue;
        }
        for (lite_column, pg_column) in lite_columns.iter().zip(&pg_columns) {
            let expected = match lite_column.1.as_str() {
                "INTEGER" => "bigint",
                "TEXT" => "text",
                other => panic!("{relation}.{}: no mapping for {other}", lite_column.0),
            };
            assert_eq!(
                pg_column.1, expected,
                "the type of {relation}.{}",
                pg_column.0
            );
            // SQLite lets a NULL into a PRIMARY KEY that is not an INTEGER one (a historical
            // quirk; gleaner never writes one); PostgreSQL refuses it, as the primary key means.
            assert_eq!(
                pg_column.2, lite_column.2,
                "NOT NULL on {relation}.{}",
                pg_column.0
            );
        }
    }

    // The same foreign keys, with the same action on delete.
    let mut lite_keys = Vec::new();
    for (relation, _) in lite_relations.iter().filter(|r| r.1 == "table") {
        let mut stmt = lite
            .prepare(
                "SELECT \"from\", \"table\", \"to\", on_delete FROM pragma_foreign_key_list(?1)",
            )
            .unwrap();
        let keys = stmt
            .query_map([relation], |r| {
                Ok(format!(
                    "{relation}.{} -> {}.{} ON DELETE {}",
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?
                ))
            })
            .unwrap();
        lite_keys.extend(keys.map(Result::unwrap));
    }
    let mut pg_keys: Vec<String> = pg
        .query(
            "SELECT format('%s.%s -> %s.%s ON DELETE %s', c.conrelid::regclass, a.attname,
                           c.confrelid::regclass, fa.attname,
                           CASE c.confdeltype WHEN 'c' THEN 'CASCADE' WHEN 'a' THEN 'NO ACTION'
                                              ELSE c.confdeltype::text END)
             FROM pg_constraint c
             JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
             JOIN pg_attribute fa ON fa.attrelid = c.confrelid AND fa.attnum = c.confkey[1]
             WHERE c.contype = 'f' AND cardinality(c.conkey) = 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    lite_keys.sort();
    pg_keys.sort();
    assert_eq!(pg_keys, lite_keys, "foreign keys");

    // The same named indexes, but for the listed differences.
    let mut lite_indexes: Vec<String> = lite
        .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .filter(|name: &String| !SQLITE_ONLY_INDEXES.contains(&name.as_str()))
        .collect();
    lite_indexes.extend(POSTGRES_ONLY_INDEXES.iter().map(|s| s.to_string()));
    lite_indexes.sort();
    // PostgreSQL's indexes but those behind PRIMARY KEY and UNIQUE constraints (SQLite's have no
    // SQL, and are left out above).
    let pg_indexes: Vec<String> = pg
        .query(
            "SELECT i.indexname::text FROM pg_indexes i
             WHERE i.schemaname = 'public'
               AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)
             ORDER BY 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(pg_indexes, lite_indexes, "indexes");
}

/// Statements both engines take as they are, the values written out.
struct Both<'a> {
    lite: &'a Connection,
    pg: &'a Client,
}

impl Both<'_> {
    /// Runs `sql` on both; both must take it.
    async fn accept(&self, sql: &str) {
        if let Err(e) = self.lite.execute_batch(sql) {
            panic!("SQLite refused {sql}: {e}");
        }
        if let Err(e) = self.pg.batch_execute(sql).await {
            panic!("PostgreSQL refused {sql}: {}", describe(&e));
        }
    }

    /// Runs `sql` on both; both must refuse it, PostgreSQL with the error `state`.
    async fn refuse(&self, sql: &str, state: &tokio_postgres::error::SqlState) {
        assert!(
            self.lite.execute_batch(sql).is_err(),
            "SQLite accepted {sql}"
        );
        match self.pg.batch_execute(sql).await {
            Ok(()) => panic!("PostgreSQL accepted {sql}"),
            Err(e) => assert_eq!(
                e.code(),
                Some(state),
                "PostgreSQL refused {sql} otherwise: {}",
                describe(&e)
            ),
        }
    }
}

/// One good row of each table, in both; ids given, as both engines take them.
async fn good_rows(both: &Both<'_>) {
    let at = "2024-05-01T12:00:00Z";
    both.accept(&format!(
        "INSERT INTO sources (id, url, added_at) VALUES (1, 'https://a.example/feed', '{at}');
         INSERT INTO articles (id, key, title, date, body, document, content_hash, first_seen_at,
                               updated_at, simhash)
             VALUES (1, '0123456789abcdef', 'Title', '2024-05-01', 'Body', 'doc', 'h', '{at}',
                     '{at}', -5);
         INSERT INTO articles (id, key, title, date, body, document, content_hash, first_seen_at,
                               updated_at, body_origin)
             VALUES (2, 'fedcba9876543210', 'Copy', '2024-05-01', 'Body', 'doc', 'h', '{at}',
                     '{at}', 'page');
         INSERT INTO entries (id, source_id, article_id, identity, content_hash, first_seen_at,
                              last_seen_at)
             VALUES (1, 1, 1, 'guid:1', 'h', '{at}', '{at}'),
                    (2, 1, 2, 'link:https://a.example/2', 'h', '{at}', '{at}'),
                    (3, 1, 2, 'hash:ab', 'h', '{at}', '{at}');
         INSERT INTO fetches (id, source_id, started_at, url, duration_ms, error_class)
             VALUES (1, 1, '{at}', 'https://a.example/feed', 5, 'http_5xx'),
                    (2, 1, '{at}', 'https://a.example/feed', 5, NULL);
         INSERT INTO page_fetches (id, article_id, source_id, marker, url, fetched_at,
                                   duration_ms, outcome, reason)
             VALUES (1, 1, 1, 'm', 'https://a.example/1', '{at}', 5, 'extracted', NULL),
                    (2, 1, 1, 'm', 'https://a.example/1', '{at}', 5, 'kept_feed', 'robots');
         INSERT INTO duplicates (article_id, duplicate_of, method, distance, found_at)
             VALUES (2, 1, 'simhash', 3, '{at}');
         INSERT INTO article_revisions (id, article_id, revision, title, document, replaced_at)
             VALUES (1, 1, 1, 'Old', 'old doc', '{at}');
         INSERT INTO removed_articles (key, title, date, removed_at)
             VALUES ('00000000000000aa', 'Gone', '2024-01-01', '{at}');
         INSERT INTO removed_entries (source_id, identity, key)
             VALUES (1, 'guid:old', '00000000000000aa');
         INSERT INTO source_aliases (url, source_id, moved_at)
             VALUES ('https://old.example/feed', 1, '{at}');
         INSERT INTO host_blocks (host, until) VALUES ('a.example', '{at}');"
    ))
    .await;
}

#[tokio::test]
async fn checks_refuse_what_sqlite_refuses() {
    use tokio_postgres::error::SqlState;
    let cluster = Cluster::shared();
    let pg = migrated(&cluster).await;
    let dir = tempfile::tempdir().unwrap();
    let lite = sqlite(dir.path());
    let both = Both {
        lite: &lite,
        pg: &pg,
    };
    good_rows(&both).await;

    let check = &SqlState::CHECK_VIOLATION;
    let at = "2024-05-01T12:00:00Z";
    let source = |column: &str, value: &str| {
        format!(
            "INSERT INTO sources (id, url, added_at, {column}) VALUES (5, 'https://b.example/{column}', '{at}', {value})"
        )
    };
    both.refuse(&source("status", "'bogus'"), check).await;
    both.refuse(&source("next_poll_reason", "'bogus'"), check)
        .await;
    both.refuse(&source("identity", "'x'"), check).await;
    for (column, value) in [
        ("status", "'paused'"),
        ("next_poll_reason", "'retry-after'"),
        ("next_poll_reason", "NULL"),
        ("identity", "'link'"),
    ] {
        both.accept(&format!(
            "{}; DELETE FROM sources WHERE id <> 1",
            source(column, value)
        ))
        .await;
    }

    let article = |key: &str, origin: &str| {
        format!(
            "INSERT INTO articles (id, key, title, date, body, document, content_hash,
                                   first_seen_at, updated_at, body_origin)
             VALUES (10, '{key}', 't', '2024-05-01', 'b', 'd', 'h', '{at}', '{at}', '{origin}')"
        )
    };
    for key in [
        "0123456789ABCDEF",   // upper case
        "0123456789abcde",    // 15
        "0123456789abcdef0",  // 17
        "0123456789abcdeg",   // not hex
        "0123456789abcde\n",  // a line break where a regular expression's $ may match
        "\n0123456789abcdef", // and its ^
    ] {
        both.refuse(&article(key, "feed"), check).await;
    }
    both.refuse(&article("00000000000000bb", "bogus"), check)
        .await;
    both.accept(&article("00000000000000bb", "page")).await;

    let entry = |identity: &str| {
        format!(
            "INSERT INTO entries (id, source_id, article_id, identity, content_hash, first_seen_at,
                                  last_seen_at)
             VALUES (20, 1, 1, '{identity}', 'h', '{at}', '{at}')"
        )
    };
    for identity in ["bogus:1", "GUID:1", "guid", "1guid:", " guid:1"] {
        both.refuse(&entry(identity), check).await;
    }

    let fetch = |class: &str| {
        format!(
            "INSERT INTO fetches (id, source_id, started_at, url, duration_ms, error_class)
             VALUES (20, 1, '{at}', 'u', 1, {class})"
        )
    };
    both.refuse(&fetch("'bogus'"), check).await;
    both.refuse(&fetch("'DNS'"), check).await;

    let page = |outcome: &str, reason: &str| {
        format!(
            "INSERT INTO page_fetches (id, article_id, source_id, marker, url, fetched_at,
                                       duration_ms, outcome, reason)
             VALUES (20, 1, 1, 'm', 'u', '{at}', 1, '{outcome}', {reason})"
        )
    };
    both.refuse(&page("bogus", "NULL"), check).await;
    both.refuse(&page("extracted", "'robots'"), check).await;
    both.refuse(&page("unchanged", "'robots'"), check).await;
    both.refuse(&page("kept_feed", "NULL"), check).await;
    both.refuse(&page("deferred", "NULL"), check).await;

    let duplicate = |article: i64, of: i64, method: &str| {
        format!(
            "INSERT INTO duplicates (article_id, duplicate_of, method, distance, found_at)
             VALUES ({article}, {of}, '{method}', 1, '{at}')"
        )
    };
    both.refuse(&duplicate(10, 1, "minhash"), check).await;
    both.refuse(&duplicate(1, 10, "simhash"), check).await;
    both.refuse(&duplicate(10, 10, "simhash"), check).await;

    // Foreign keys: refused when dangling, and deleting a source or an article cascades.
    both.refuse(
        &format!(
            "INSERT INTO entries (id, source_id, article_id, identity, content_hash,
                                  first_seen_at, last_seen_at)
             VALUES (20, 99, 1, 'guid:x', 'h', '{at}', '{at}')"
        ),
        &SqlState::FOREIGN_KEY_VIOLATION,
    )
    .await;
    both.accept("DELETE FROM articles WHERE id = 1; DELETE FROM sources WHERE id = 1")
        .await;
    for table in [
        "entries",
        "fetches",
        "page_fetches",
        "duplicates",
        "article_revisions",
        "removed_entries",
        "source_aliases",
    ] {
        let sql = format!("SELECT count(*) FROM {table}");
        let lite_count: i64 = lite.query_row(&sql, [], |r| r.get(0)).unwrap();
        let pg_count: i64 = pg.query_one(&sql, &[]).await.unwrap().get(0);
        assert_eq!((lite_count, pg_count), (0, 0), "{table} after the deletes");
    }
}

#[tokio::test]
async fn full_text_search_goes_through_the_gin_index() {
    let cluster = Cluster::shared();
    let pg = migrated(&cluster).await;
    let at = "2024-05-01T12:00:00Z";
    pg.batch_execute(&format!(
        "INSERT INTO articles (key, title, date, body, document, content_hash, first_seen_at,
                               updated_at)
         VALUES ('0000000000000001', 'Offensive near Bakhmut', '2024-05-01',
                 'Troops advanced.\n\nThe front moved west.', 'd', 'h', '{at}', '{at}'),
                ('0000000000000002', 'Weather', '2024-05-01', 'Rain all week.', 'd', 'h',
                 '{at}', '{at}')"
    ))
    .await
    .unwrap();
    let search =
        "SELECT key FROM articles WHERE search @@ plainto_tsquery('simple', $1) ORDER BY key";
    let keys =
        |rows: Vec<tokio_postgres::Row>| -> Vec<String> { rows.iter().map(|r| r.get(0)).collect() };
    // In the title and the body, whatever the case; every word of the query must be there.
    for (query, expected) in [
        ("bakhmut", vec!["0000000000000001"]),
        ("FRONT west", vec!["0000000000000001"]),
        ("rain", vec!["0000000000000002"]),
        ("rain front", vec![]),
        ("snow", vec![]),
    ] {
        let found = keys(pg.query(search, &[&query]).await.unwrap());
        assert_eq!(found, expected, "searching {query:?}");
    }
    // An edit changes what is found: the column follows the title and body by itself.
    pg.batch_execute("UPDATE articles SET body = 'Snow all week.' WHERE key = '0000000000000002'")
        .await
        .unwrap();
    assert_eq!(
        keys(pg.query(search, &[&"snow"]).await.unwrap()),
        vec!["0000000000000002"]
    );
    assert!(pg.query(search, &[&"rain"]).await.unwrap().is_empty());

    // Two rows make a sequential scan cheapest: forbid it to see that the index serves.
    pg.batch_execute("SET enable_seqscan = off").await.unwrap();
    let plan = explain(&pg, search, &[&"bakhmut"]).await;
    assert!(plan.contains("Index Scan on articles_search"), "{plan}");
}

async fn explain(
    pg: &Client,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> String {
    pg.query(&format!("EXPLAIN {sql}"), params)
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<_, String>(0))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn simhash_band_lookups_use_their_indexes() {
    let cluster = Cluster::shared();
    let pg = migrated(&cluster).await;
    // Enough articles for the planner to prefer an index without being told: 20,000 hashes
    // spread over all 64 bits, and one known hash with its top bit set (stored negative).
    pg.batch_execute(
        "INSERT INTO articles (key, title, date, body, document, content_hash, first_seen_at,
                               updated_at, simhash)
         SELECT lpad(to_hex(i), 16, '0'), 't', '2024-05-01', 'b', 'd', 'h',
                '2024-05-01T00:00:00Z', '2024-05-01T00:00:00Z',
                ('x' || left(md5(i::text), 16))::bit(64)::bigint
         FROM generate_series(1, 20000) i;
         ANALYZE articles;",
    )
    .await
    .unwrap();
    let hash: u64 = 0x8dc4_b0f9_b264_4178;
    let stored = simhash::to_stored(hash);
    assert!(stored < 0);
    let id: i64 = pg
        .query_one(
            "INSERT INTO articles (key, title, date, body, document, content_hash, first_seen_at,
                                   updated_at, simhash)
             VALUES ('ffffffffffffffff', 't', '2024-05-01', 'b', 'd', 'h',
                     '2024-05-01T00:00:00Z', '2024-05-01T00:00:00Z', $1) RETURNING id",
            &[&stored],
        )
        .await
        .unwrap()
        .get(0);

    let bands = [
        "((simhash >> 48) & 65535)",
        "((simhash >> 32) & 65535)",
        "((simhash >> 16) & 65535)",
        "(simhash & 65535)",
    ];
    for (b, band) in bands.iter().enumerate() {
        // The band as SQL computes it is the band as gleaner computes it.
        let value = i64::from(simhash::band(hash, b));
        let lookup = format!("SELECT id, simhash FROM articles WHERE {band} = $1 AND id > $2");
        let found: Vec<(i64, i64)> = pg
            .query(&lookup, &[&value, &0i64])
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        assert!(found.contains(&(id, stored)), "band {b}: {found:?}");
        let plan = explain(&pg, &lookup, &[&value, &0i64]).await;
        assert!(
            plan.contains(&format!("Index Only Scan using articles_simhash_{b}"))
                || plan.contains(&format!("Index Scan using articles_simhash_{b}"))
                || plan.contains(&format!("Bitmap Index Scan on articles_simhash_{b}")),
            "band {b} is not looked up through its index:\n{plan}"
        );
        assert!(!plan.contains("Seq Scan"), "{plan}");
    }
}

/// A value as both engines give it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum V {
    Null,
    Int(i64),
    Text(String),
}

fn sqlite_rows(conn: &Connection, sql: &str) -> Vec<Vec<V>> {
    let mut stmt = conn.prepare(sql).unwrap();
    let width = stmt.column_count();
    let mut rows: Vec<Vec<V>> = stmt
        .query_map([], |r| {
            (0..width)
                .map(|i| {
                    Ok(match r.get::<_, rusqlite::types::Value>(i)? {
                        rusqlite::types::Value::Null => V::Null,
                        rusqlite::types::Value::Integer(n) => V::Int(n),
                        rusqlite::types::Value::Text(t) => V::Text(t),
                        other => panic!("{sql}: unexpected {other:?}"),
                    })
                })
                .collect()
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    rows.sort();
    rows
}

async fn postgres_rows(client: &Client, sql: &str) -> Vec<Vec<V>> {
    let mut rows: Vec<Vec<V>> = client
        .query(sql, &[])
        .await
        .unwrap_or_else(|e| panic!("{sql}: {}", describe(&e)))
        .iter()
        .map(|r| {
            r.columns()
                .iter()
                .enumerate()
                .map(|(i, c)| match *c.type_() {
                    Type::INT8 => r.get::<_, Option<i64>>(i).map_or(V::Null, V::Int),
                    Type::INT4 => r
                        .get::<_, Option<i32>>(i)
                        .map_or(V::Null, |n| V::Int(n.into())),
                    Type::TEXT => r.get::<_, Option<String>>(i).map_or(V::Null, V::Text),
                    ref other => panic!("{sql}: column {} is {other}", c.name()),
                })
                .collect()
        })
        .collect();
    rows.sort();
    rows
}

#[tokio::test]
async fn views_and_defaults_give_the_same_rows_as_sqlite() {
    let cluster = Cluster::shared();
    let pg = migrated(&cluster).await;
    let dir = tempfile::tempdir().unwrap();
    let lite = sqlite(dir.path());
    let both = Both {
        lite: &lite,
        pg: &pg,
    };
    // Times relative to now: the views count the last day.
    let now = Utc::now();
    let ago = |hours: i64| gleaner::store::timestamp(now - Duration::hours(hours));
    let (h1, h2, h3, h23, h25, h48) = (ago(1), ago(2), ago(3), ago(23), ago(25), ago(48));
    both.accept(&format!(
        "INSERT INTO sources (id, url, name, title, added_at, last_error, consecutive_errors)
             VALUES (1, 'https://a.example/feed', 'A', 'A title', '{h48}', 'timeout', 2),
                    (2, 'https://b.example/feed', NULL, 'B title', '{h48}', NULL, 0),
                    (3, 'https://c.example/feed', NULL, NULL, '{h48}', NULL, 0);
         UPDATE sources SET status = 'gone', next_poll_reason = 'gone' WHERE id = 3;
         INSERT INTO articles (id, key, url, title, date, body, document, content_hash,
                               first_seen_at, updated_at, simhash)
             VALUES (1, '000000000000000a', 'https://a.example/1', 'One', '2024-05-01', 'b',
                     'd1', 'h', '{h48}', '{h48}', 7),
                    (2, '000000000000000b', 'https://b.example/2', 'Two', '2024-05-02', 'b',
                     'd2', 'h', '{h3}', '{h3}', 7),
                    (3, '000000000000000c', NULL, 'Three', '2024-05-03', 'b', 'd3', 'h',
                     '{h2}', '{h2}', 6),
                    (4, '000000000000000d', NULL, 'Four', '2024-05-03', 'b', 'd4', 'h',
                     '{h1}', '{h1}', NULL);
         INSERT INTO duplicates (article_id, duplicate_of, method, distance, found_at)
             VALUES (2, 1, 'simhash', 0, '{h3}'), (3, 2, 'simhash', 1, '{h2}');
         INSERT INTO entries (source_id, article_id, identity, guid, link, content_hash,
                              first_seen_at, last_seen_at)
             VALUES (1, 1, 'guid:1', '1', 'https://a.example/1', 'h', '{h48}', '{h1}'),
                    (1, 3, 'guid:3', '3', NULL, 'h', '{h2}', '{h1}'),
                    (2, 2, 'link:https://b.example/2', NULL, 'https://b.example/2', 'h', '{h3}',
                     '{h3}'),
                    (2, 1, 'hash:ff', NULL, NULL, 'h', '{h3}', '{h3}');
         INSERT INTO fetches (source_id, started_at, url, duration_ms, error_class, charged)
             VALUES (1, '{h1}', 'https://a.example/feed', 9, 'timeout', 1),
                    (1, '{h23}', 'https://a.example/feed', 9, 'dns', 0),
                    (1, '{h25}', 'https://a.example/feed', 9, 'dns', 1),
                    (2, '{h2}', 'https://b.example/feed', 9, NULL, 1),
                    (3, '{h1}', 'https://c.example/feed', 9, 'gone', 1);
         INSERT INTO page_fetches (article_id, source_id, marker, url, fetched_at, duration_ms,
                                   outcome, reason)
             VALUES (1, 1, 'm', 'u', '{h1}', 1, 'extracted', NULL),
                    (1, 1, 'm', 'u', '{h1}', 1, 'kept_feed', 'robots'),
                    (3, 1, 'm', 'u', '{h2}', 1, 'kept_feed', 'robots'),
                    (3, 1, 'm', 'u', '{h2}', 1, 'deferred', 'timeout'),
                    (3, 1, 'm', 'u', '{h3}', 1, 'kept_feed', 'Shorter'),
                    (3, 1, 'm', 'u', '{h3}', 1, 'kept_feed', 'http_4xx'),
                    (3, 1, 'm', 'u', '{h25}', 1, 'kept_feed', 'no_article'),
                    (2, 2, 'm', 'u', '{h48}', 1, 'unchanged', NULL),
                    (2, 2, 'm', 'u', '{h2}', 1, 'unchanged', NULL);"
    ))
    .await;

    // The same rows from every view, and from every table (defaults included), but the columns
    // only PostgreSQL has.
    let relations = sqlite_relations(&lite);
    let mut compared = 0;
    for relation in relations
        .keys()
        .filter(|name| !SQLITE_ONLY.contains(&name.as_str()))
    {
        let columns: Vec<String> = sqlite_columns(&lite, relation)
            .into_iter()
            .map(|c| format!("\"{}\"", c.0))
            .collect();
        let sql = format!("SELECT {} FROM {relation}", columns.join(", "));
        let lite_rows = sqlite_rows(&lite, &sql);
        let pg_rows = postgres_rows(&pg, &sql).await;
        assert_eq!(pg_rows, lite_rows, "{relation}");
        compared += usize::from(!lite_rows.is_empty());
    }
    // Every relation the data fills: all but article_revisions, removed_*, source_aliases and
    // host_blocks.
    assert_eq!(compared, relations.len() - SQLITE_ONLY.len() - 5);

    // What the rows say, spelled out for the two health views.
    let health = postgres_rows(
        &pg,
        "SELECT id, source, articles, errors_last_day FROM source_health",
    )
    .await;
    let row = |id: i64, source: &str, articles: i64, errors: i64| {
        vec![
            V::Int(id),
            V::Text(source.into()),
            V::Int(articles),
            V::Int(errors),
        ]
    };
    assert_eq!(
        health,
        vec![
            row(1, "A", 2, 2),
            row(2, "B title", 2, 0),
            row(3, "https://c.example/feed", 0, 1),
        ]
    );
    let pages = postgres_rows(&pg, "SELECT * FROM page_health WHERE id = 1").await;
    assert_eq!(
        pages,
        vec![vec![
            V::Int(1),
            V::Text("A".into()),
            V::Int(6),
            V::Int(1),
            V::Int(5),
            // The most frequent first, then in byte order: upper case before lower.
            V::Text("robots 2, Shorter 1, http_4xx 1, timeout 1".into()),
        ]]
    );
}
