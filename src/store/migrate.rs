//! Schema migrations: the numbered files of `migrations/`, compiled into the binary and applied
//! in order, with `PRAGMA user_version` as the record of what ran. The version is read and
//! every pending migration applied inside one write-locked transaction, so two processes
//! upgrading the same file at once never both run a migration.

use rusqlite::Connection;

use super::StoreError;

/// Every migration, in order: (version, file name, SQL). Version N is `migrations/000N_*.sql`.
pub const MIGRATIONS: &[(u32, &str, &str)] = &[
    (
        1,
        "0001_initial.sql",
        include_str!("../../migrations/0001_initial.sql"),
    ),
    (
        2,
        "0002_politeness.sql",
        include_str!("../../migrations/0002_politeness.sql"),
    ),
    (
        3,
        "0003_dedup.sql",
        include_str!("../../migrations/0003_dedup.sql"),
    ),
    (
        4,
        "0004_fingerprints_in_memory.sql",
        include_str!("../../migrations/0004_fingerprints_in_memory.sql"),
    ),
    (
        5,
        "0005_fts_datasette.sql",
        include_str!("../../migrations/0005_fts_datasette.sql"),
    ),
    (
        6,
        "0006_full_text.sql",
        include_str!("../../migrations/0006_full_text.sql"),
    ),
    (
        7,
        "0007_states.sql",
        include_str!("../../migrations/0007_states.sql"),
    ),
];

/// Work a migration needs that SQL cannot do, run in the same transaction right after it.
fn after(version: u32, tx: &Connection) -> Result<(), StoreError> {
    if version == 3 {
        fingerprint_existing_articles(tx)?;
    }
    Ok(())
}

/// Gives the articles stored before version 3 their SimHash, so that new articles are compared
/// with the whole recent archive, not only with what arrived after the upgrade.
fn fingerprint_existing_articles(tx: &Connection) -> Result<(), StoreError> {
    let mut select = tx.prepare("SELECT id, body FROM articles")?;
    let mut update = tx.prepare("UPDATE articles SET simhash = ?2 WHERE id = ?1")?;
    let mut rows = select.query([])?;
    while let Some(row) = rows.next()? {
        let body: String = row.get(1)?;
        if let Some(hash) = crate::dedup::fingerprint(&body) {
            update.execute(rusqlite::params![
                row.get::<_, i64>(0)?,
                crate::dedup::simhash::to_stored(hash)
            ])?;
        }
    }
    Ok(())
}

/// The schema version this binary writes.
pub fn latest_version() -> u32 {
    MIGRATIONS.last().map_or(0, |m| m.0)
}

pub fn current_version(conn: &Connection) -> Result<u32, StoreError> {
    Ok(conn.query_row("PRAGMA user_version", [], |r| r.get(0))?)
}

/// Brings the database up to [`latest_version`]; refuses a database made by a newer gleaner.
pub fn apply(conn: &mut Connection) -> Result<(), StoreError> {
    let latest = latest_version();
    // Most opens find nothing to do: check without taking the write lock.
    let current = current_version(conn)?;
    if current > latest {
        return Err(StoreError::TooNew {
            found: current,
            supported: latest,
        });
    }
    if current == latest {
        return Ok(());
    }
    // A migration that rebuilds a table drops it, and with foreign keys enforced that drop
    // deletes every row referencing it (ON DELETE CASCADE). The setting cannot change inside a
    // transaction, so enforcement is off around it and foreign_key_check stands in before commit.
    let enforced: bool = conn.query_row("PRAGMA foreign_keys", [], |r| r.get(0))?;
    if enforced {
        conn.pragma_update(None, "foreign_keys", "OFF")?;
    }
    let applied = apply_pending(conn);
    if enforced {
        // Restored whatever happened: the connection goes on to serve writes.
        let restored = conn.pragma_update(None, "foreign_keys", "ON");
        applied?;
        restored?;
        return Ok(());
    }
    applied
}

/// Every migration the database lacks, in one transaction that holds the write lock.
fn apply_pending(conn: &mut Connection) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Exclusive)?;
    // Read again under the lock: another process may have upgraded it meanwhile.
    let current = current_version(&tx)?;
    // Rows a shell without foreign keys left dangling (a source deleted by hand) are the
    // user's: kept as they were and not held against the migrations.
    let dangling_before = dangling_rows(&tx)?;
    if dangling_before > 0 {
        tracing::warn!(
            rows = dangling_before,
            "rows reference rows that do not exist (`PRAGMA foreign_key_check` in sqlite3 lists them); left as they are"
        );
    }
    for (version, name, sql) in MIGRATIONS.iter().filter(|m| m.0 > current) {
        tx.execute_batch(sql)
            .map_err(|e| StoreError::Migration(format!("{name}: {e}")))?;
        after(*version, &tx).map_err(|e| StoreError::Migration(format!("{name}: {e}")))?;
        tx.pragma_update(None, "user_version", version)?;
        tracing::info!(migration = name, "applying database migration");
    }
    check_foreign_keys(&tx, dangling_before)?;
    // Dropping the transaction unasked (on an error above) rolls it back.
    tx.commit()?;
    Ok(())
}

fn dangling_rows(tx: &Connection) -> Result<i64, StoreError> {
    Ok(
        tx.query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
            r.get(0)
        })?,
    )
}

/// Refuses to commit migrations that left rows referencing missing rows (more than the
/// `before` that were there already), naming a few of them.
fn check_foreign_keys(tx: &Connection, before: i64) -> Result<(), StoreError> {
    let count = dangling_rows(tx)?;
    if count <= before {
        return Ok(());
    }
    let examples: Vec<String> = tx
        .prepare("SELECT \"table\", rowid, parent FROM pragma_foreign_key_check LIMIT 5")?
        .query_map([], |r| {
            let (table, rowid, parent): (String, Option<i64>, String) =
                (r.get(0)?, r.get(1)?, r.get(2)?);
            let row = rowid.map_or_else(|| "a row".to_owned(), |id| format!("row {id}"));
            Ok(format!("{table} {row} (its {parent} row is missing)"))
        })?
        .collect::<Result<_, _>>()?;
    Err(StoreError::Migration(format!(
        "not applied, the database is unchanged: it would leave {count} row(s) referencing \
         rows that do not exist ({before} before), such as {}",
        examples.join(", ")
    )))
}

#[cfg(test)]
mod tests {
    use rusqlite::OptionalExtension;

    use super::*;

    #[test]
    fn migrations_match_the_folder() {
        let folder = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations");
        let mut files: Vec<String> = std::fs::read_dir(folder)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            // schema.sql is the snapshot of the result (tests/schema.rs), not a migration.
            .filter(|n| n.ends_with(".sql") && n != "schema.sql")
            .collect();
        files.sort();
        let listed: Vec<&str> = MIGRATIONS.iter().map(|m| m.1).collect();
        assert_eq!(files, listed, "every file in migrations/ must be listed");
        for (i, (version, name, _)) in MIGRATIONS.iter().enumerate() {
            assert_eq!(*version as usize, i + 1);
            assert!(name.starts_with(&format!("{version:04}_")), "{name}");
        }
    }

    #[test]
    fn upgrading_fingerprints_the_articles_already_stored() {
        let mut conn = Connection::open_in_memory().unwrap();
        for (version, _, sql) in &MIGRATIONS[..2] {
            conn.execute_batch(sql).unwrap();
            conn.pragma_update(None, "user_version", version).unwrap();
        }
        let long = "Words enough to compare, again and again. ".repeat(12);
        for (key, body) in [
            ("0000000000000001", long.as_str()),
            ("0000000000000002", "Short."),
        ] {
            conn.execute(
                "INSERT INTO articles (key, title, date, body, document, content_hash,
                                       first_seen_at, updated_at)
                 VALUES (?1, 't', '2024-01-01', ?2, 'd', 'h', '2024-01-01T00:00:00Z',
                         '2024-01-01T00:00:00Z')",
                [key, body],
            )
            .unwrap();
        }
        apply(&mut conn).unwrap();
        let hashes: Vec<Option<i64>> = conn
            .prepare("SELECT simhash FROM articles ORDER BY key")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let expected = crate::dedup::fingerprint(&long).map(crate::dedup::simhash::to_stored);
        assert!(expected.is_some());
        assert_eq!(hashes, vec![expected, None]);
    }

    /// Datasette's test for a table's full-text index (`detect_fts_sql` in datasette/utils),
    /// for the table `articles`.
    const DATASETTE_DETECT_FTS: &str = "SELECT name FROM sqlite_master WHERE rootpage = 0 AND (
        sql LIKE '%VIRTUAL TABLE%USING FTS%content=\"articles\"%'
        OR sql LIKE '%VIRTUAL TABLE%USING FTS%content=[articles]%'
        OR (tbl_name = 'articles' AND sql LIKE '%VIRTUAL TABLE%USING FTS%'))";

    fn fts_matches(conn: &Connection, query: &str) -> Vec<i64> {
        conn.prepare("SELECT rowid FROM articles_fts WHERE articles_fts MATCH ?1 ORDER BY rowid")
            .unwrap()
            .query_map([query], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    #[test]
    fn upgrading_redeclares_the_full_text_index_for_datasette_and_keeps_it_whole() {
        let mut conn = Connection::open_in_memory().unwrap();
        for (version, _, sql) in &MIGRATIONS[..4] {
            conn.execute_batch(sql).unwrap();
            conn.pragma_update(None, "user_version", version).unwrap();
        }
        let undetected: Option<String> = conn
            .query_row(DATASETTE_DETECT_FTS, [], |r| r.get(0))
            .optional()
            .unwrap();
        assert_eq!(undetected, None, "version 4 is what Datasette missed");
        for (key, title, body) in [
            (
                "0000000000000001",
                "Offensive expected",
                "Troops gather near Bakhmut.",
            ),
            (
                "0000000000000002",
                "Bus routes",
                "The council expands the network.",
            ),
            (
                "0000000000000003",
                "Snow",
                "The pass near Bakhmut is closed.",
            ),
        ] {
            conn.execute(
                "INSERT INTO articles (key, title, date, body, document, content_hash,
                                       first_seen_at, updated_at)
                 VALUES (?1, ?2, '2024-01-01', ?3, 'd', 'h', '2024-01-01T00:00:00Z',
                         '2024-01-01T00:00:00Z')",
                [key, title, body],
            )
            .unwrap();
        }
        apply(&mut conn).unwrap();

        let detected: String = conn
            .query_row(DATASETTE_DETECT_FTS, [], |r| r.get(0))
            .unwrap();
        assert_eq!(detected, "articles_fts");
        // Rebuilt from the articles stored before the upgrade.
        assert_eq!(fts_matches(&conn, "bakhmut"), vec![1, 3]);
        assert_eq!(fts_matches(&conn, "offensive"), vec![1]);
        assert_eq!(
            conn.query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'articles'",
                [],
                |r| r.get::<_, i64>(0)
            )
            .unwrap(),
            3
        );
        // The triggers keep it in step as before: insert, edit, delete.
        conn.execute(
            "INSERT INTO articles (key, title, date, body, document, content_hash, first_seen_at,
                                   updated_at)
             VALUES ('0000000000000004', 'Floods', '2024-01-02', 'Rivers rise near Bakhmut.', 'd',
                     'h', '2024-01-02T00:00:00Z', '2024-01-02T00:00:00Z')",
            [],
        )
        .unwrap();
        conn.execute("UPDATE articles SET body = 'Quiet day.' WHERE id = 3", [])
            .unwrap();
        conn.execute("DELETE FROM articles WHERE id = 1", [])
            .unwrap();
        assert_eq!(fts_matches(&conn, "bakhmut"), vec![4]);
        assert_eq!(fts_matches(&conn, "quiet"), vec![3]);
        conn.execute(
            "INSERT INTO articles_fts (articles_fts) VALUES ('integrity-check')",
            [],
        )
        .unwrap();
    }

    #[test]
    fn applies_once_and_refuses_newer() {
        let mut conn = Connection::open_in_memory().unwrap();
        apply(&mut conn).unwrap();
        assert_eq!(current_version(&conn).unwrap(), latest_version());
        apply(&mut conn).unwrap();
        conn.pragma_update(None, "user_version", latest_version() + 1)
            .unwrap();
        assert!(matches!(apply(&mut conn), Err(StoreError::TooNew { .. })));
    }
}
