//! The SQLite database: opening it (WAL, busy timeout, migrations), the single writer, and the
//! read queries of the commands. The only module that speaks SQL.
//!
//! Invariants: one writer at a time (the daemon funnels every write through [`writer`]); each
//! poll is applied in one short transaction, so readers never see half of it; timestamps are
//! stored as `YYYY-MM-DDTHH:MM:SSZ` text in UTC.

mod articles;
pub mod database;
mod filing;
pub mod lock;
pub mod migrate;
mod pages;
mod poll;
pub mod port;
pub mod postgres;
mod search;
mod snapshot;
pub mod writer;

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use rusqlite::{Connection, ErrorCode, OpenFlags, TransactionBehavior};

pub use database::{Catalog, Database, Sharing};
pub use poll::SourceSpec;
pub use port::{Due, SqliteStore, Store};
pub use postgres::PostgresStore;

use crate::record::{PageKnown, PageQuery};
use crate::source::SourceState;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database {path}: {message}")]
    Open { path: PathBuf, message: String },
    #[error(
        "the database is at schema version {found}, newer than this gleaner understands \
         ({supported}): use a newer gleaner"
    )]
    TooNew { found: u32, supported: u32 },
    #[error(
        "the database is at schema version {found}, older than this gleaner ({supported}): \
         run `gleaner once` or `gleaner run` to upgrade it"
    )]
    TooOld { found: u32, supported: u32 },
    #[error("migration {0}")]
    Migration(String),
    #[error("writing to the database failed: {0}")]
    Write(String),
    #[error("the database writer has stopped")]
    WriterGone,
    /// An error of the database engine, as text: no driver type leaves the store.
    #[error("{message}")]
    Engine {
        message: String,
        /// It may well succeed later (see [`StoreError::is_transient`]).
        transient: bool,
    },
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> StoreError {
        StoreError::Engine {
            transient: is_transient(&e),
            message: e.to_string(),
        }
    }
}

impl StoreError {
    /// Whether the same write may well succeed later: the database is locked by another
    /// process, the disk is full, the file is read-only for now.
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Engine { transient, .. } => *transient,
            StoreError::Write(_) => true,
            _ => false,
        }
    }
}

fn is_transient(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(
            ErrorCode::DatabaseBusy
                | ErrorCode::DatabaseLocked
                | ErrorCode::DiskFull
                | ErrorCode::ReadOnly
                | ErrorCode::SystemIoFailure
                | ErrorCode::CannotOpen
        )
    )
}

/// Formats a timestamp the way every column stores it.
pub fn timestamp(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn parse_timestamp(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text).ok().map(|t| t.to_utc())
}

/// How long a statement waits for another process's lock before it fails as busy.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(())
}

/// Opens (creating if needed) the database for writing and brings its schema up to date.
/// A new database is made whole under a temporary name and then linked into place, so no
/// reader ever sees it half-made and two processes creating it at once both succeed.
///
/// The connection itself is public for the schema's tests (tests/schema.rs); gleaner goes
/// through [`SqliteStore`].
pub fn open_for_writing(path: &Path) -> Result<Connection, StoreError> {
    let open_error = |message: String| StoreError::Open {
        path: path.to_owned(),
        message,
    };
    check_location(path)?;
    if !path.exists() {
        create(path)?;
    }
    let mut conn = Connection::open(path).map_err(|e| open_error(e.to_string()))?;
    set_up(&mut conn).map_err(|e| match e {
        StoreError::Engine {
            message,
            transient: false,
        } => open_error(format!("not a usable SQLite database: {message}")),
        other => other,
    })?;
    Ok(conn)
}

/// Refuses a database path that can never work: in a missing folder, or a folder itself.
pub fn check_location(path: &Path) -> Result<(), StoreError> {
    let open_error = |message: String| StoreError::Open {
        path: path.to_owned(),
        message,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && !dir.is_dir()
    {
        return Err(open_error(format!(
            "the folder {} does not exist",
            dir.display()
        )));
    }
    if path.is_dir() {
        return Err(open_error(
            "is a folder: give the path of a database file (it is created if missing)".into(),
        ));
    }
    Ok(())
}

/// WAL, durability, immediate write transactions, then the migrations.
fn set_up(conn: &mut Connection) -> Result<(), StoreError> {
    configure(conn)?;
    // Take the write lock when a write transaction begins, so that a lock held by another
    // process is waited for (busy timeout) instead of failing half-way through.
    conn.set_transaction_behavior(TransactionBehavior::Immediate);
    // WAL lets users read with sqlite3 while the daemon writes; NORMAL is durable at each
    // checkpoint and safe against corruption, which is what a re-fetchable cache needs.
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        tracing::warn!(%mode, "the database could not switch to WAL mode");
    }
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    // Checkpoint the WAL every ~40 MB instead of every 4 MB: a first fetch of many sources
    // writes much less twice, and readers are not blocked by checkpoints either way.
    conn.pragma_update(None, "wal_autocheckpoint", 10_000)?;
    migrate::apply(conn)
}

/// Makes a new database at `path`: built beside it under a name of this process, then
/// hard-linked into place (which fails, harmlessly, when another process got there first).
fn create(path: &Path) -> Result<(), StoreError> {
    let open_error = |message: String| StoreError::Open {
        path: path.to_owned(),
        message,
    };
    let mut name = path.file_name().unwrap_or_default().to_owned();
    name.push(format!(".new-{}", std::process::id()));
    let temporary = path.with_file_name(name);
    let remove_temporary = || {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut file = temporary.clone().into_os_string();
            file.push(suffix);
            let _ = std::fs::remove_file(file);
        }
    };
    remove_temporary();
    let made = (|| -> Result<(), StoreError> {
        let mut conn = Connection::open(&temporary)?;
        set_up(&mut conn)?;
        conn.close().map_err(|(_, e)| e)?;
        Ok(())
    })();
    let linked = made.and_then(|()| match std::fs::hard_link(&temporary, path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        // A file system without hard links: a rename is atomic too, only not exclusive.
        Err(_) if !path.exists() => std::fs::rename(&temporary, path)
            .map_err(|e| open_error(format!("cannot create the database: {e}"))),
        Err(e) => Err(open_error(format!("cannot create the database: {e}"))),
    });
    remove_temporary();
    linked.map_err(|e| match e {
        StoreError::Engine {
            message,
            transient: false,
        } => open_error(message),
        other => other,
    })
}

/// Brings the source named by `source` (its id, URL or a former URL) back to `active` and due
/// now, whatever its status (`gone`, say). Returns its URL, or `None` when no source matches.
pub fn revive(path: &Path, source: &str) -> Result<Option<String>, StoreError> {
    let conn = open_for_writing(path)?;
    poll::revive(&conn, source)
}

/// Read access for the commands (`sources`, `export`): never creates or migrates anything.
pub struct Reader {
    conn: Connection,
}

/// One line of `gleaner sources`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SourceStatus {
    pub id: i64,
    pub url: String,
    pub name: Option<String>,
    pub title: Option<String>,
    pub status: String,
    pub last_polled_at: Option<String>,
    pub last_success_at: Option<String>,
    pub next_poll_at: Option<String>,
    pub next_poll_reason: Option<String>,
    pub consecutive_errors: i64,
    pub last_error: Option<String>,
    pub articles: i64,
    /// Why the source's items are told apart by their links, when they are.
    pub identity_reason: Option<String>,
    /// Pages fetched over the last day, those whose text the articles have, and why the others
    /// kept their feed's text (`robots 2, http_4xx 1`).
    pub pages_last_day: i64,
    pub full_text_last_day: i64,
    pub page_failures_last_day: Option<String>,
}

/// One article as exported.
#[derive(Debug, Clone)]
pub struct ExportedDocument {
    pub key: String,
    pub document: String,
}

impl Reader {
    pub fn open(path: &Path) -> Result<Reader, StoreError> {
        let open_error = |message: String| StoreError::Open {
            path: path.to_owned(),
            message,
        };
        if !path.exists() {
            return Err(open_error(
                "does not exist yet: run `gleaner once` or `gleaner run` first".into(),
            ));
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| open_error(e.to_string()))?;
        configure(&conn).map_err(|e| open_error(e.to_string()))?;
        let found = migrate::current_version(&conn)
            .map_err(|e| open_error(format!("not a usable SQLite database: {e}")))?;
        let supported = migrate::latest_version();
        if found > supported {
            return Err(StoreError::TooNew { found, supported });
        }
        if found < supported {
            return Err(StoreError::TooOld { found, supported });
        }
        Ok(Reader { conn })
    }

    pub fn sources(&self) -> Result<Vec<SourceStatus>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT s.id, s.url, s.name, s.title, s.status, s.last_polled_at, s.last_success_at,
                    s.next_poll_at, s.next_poll_reason, s.consecutive_errors, s.last_error,
                    (SELECT count(DISTINCT article_id) FROM entries e WHERE e.source_id = s.id),
                    CASE WHEN s.identity = 'link' THEN s.identity_reason END,
                    p.pages_last_day, p.extracted_last_day, p.reasons_last_day
             FROM sources s JOIN page_health p ON p.id = s.id ORDER BY s.id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(SourceStatus {
                id: r.get(0)?,
                url: r.get(1)?,
                name: r.get(2)?,
                title: r.get(3)?,
                status: r.get(4)?,
                last_polled_at: r.get(5)?,
                last_success_at: r.get(6)?,
                next_poll_at: r.get(7)?,
                next_poll_reason: r.get(8)?,
                consecutive_errors: r.get(9)?,
                last_error: r.get(10)?,
                articles: r.get(11)?,
                identity_reason: r.get(12)?,
                pages_last_day: r.get(13)?,
                full_text_last_day: r.get(14)?,
                page_failures_last_day: r.get(15)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The active sources due at `now`, except those in `skip`, as the database knows them.
    pub fn due_sources(
        &self,
        now: DateTime<Utc>,
        skip: impl Fn(i64) -> bool,
    ) -> Result<Vec<SourceState>, StoreError> {
        poll::due_source_ids(&self.conn, now)?
            .into_iter()
            .filter(|id| !skip(*id))
            .map(|id| poll::load_state(&self.conn, id))
            .collect()
    }

    /// The earliest poll planned after `now`: when the daemon's loop must wake next.
    pub fn next_poll_after(&self, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>, StoreError> {
        poll::next_poll_after(&self.conn, now)
    }

    /// Hosts that asked (429) not to be polled before a time still to come.
    pub fn host_blocks(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<(String, DateTime<Utc>)>, StoreError> {
        poll::host_blocks(&self.conn, now)
    }

    /// What the database knows of the pages of `queries`, items of source `source_id`: which
    /// were fetched for their revision already (see [`PageKnown`]).
    pub fn pages_known(
        &self,
        source_id: i64,
        queries: &[PageQuery],
    ) -> Result<Vec<PageKnown>, StoreError> {
        pages::known(&self.conn, source_id, queries)
    }

    pub fn article_count(&self) -> Result<u64, StoreError> {
        let count: i64 = self
            .conn
            .query_row("SELECT count(*) FROM articles", [], |r| r.get(0))?;
        Ok(count as u64)
    }

    /// The articles matching `query`, best first (FTS5, bm25).
    pub fn search(
        &self,
        query: &crate::search::SearchQuery,
    ) -> Result<Vec<crate::search::SearchHit>, StoreError> {
        search::search(&self.conn, query)
    }

    /// At most two documents whose key starts with `prefix` (lower-case hex).
    pub fn documents_by_key(&self, prefix: &str) -> Result<Vec<ExportedDocument>, StoreError> {
        search::documents_by_key(&self.conn, prefix)
    }

    /// Calls `each` with every article, in the order they arrived, streaming so that an export
    /// of a large archive needs no more memory than one document.
    pub fn for_each_document(
        &self,
        mut each: impl FnMut(ExportedDocument) -> std::io::Result<()>,
    ) -> Result<Result<(), std::io::Error>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT key, document FROM articles ORDER BY id")?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let doc = ExportedDocument {
                key: row.get(0)?,
                document: row.get(1)?,
            };
            if let Err(e) = each(doc) {
                return Ok(Err(e));
            }
        }
        Ok(Ok(()))
    }
}
