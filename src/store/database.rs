//! Which database gleaner runs on, chosen by the configured `database`: a SQLite file, or a
//! PostgreSQL database named by a `postgres://` URL. Opens the daemon's [`Store`] and the
//! commands' [`Catalog`] on either.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::BoxFuture;

use super::port::{SqliteStore, Store};
use super::postgres::{self, PostgresStore};
use super::{ExportedDocument, Reader, SourceStatus, StoreError};
use crate::dedup::NearDuplicates;
use crate::search::{SearchHit, SearchQuery};

/// Where the articles are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    /// A SQLite file (made on first use).
    Sqlite(PathBuf),
    /// A PostgreSQL connection URL (`postgres://user@host/db`, or `postgresql://`); its schema
    /// is made on first use, the database itself must exist.
    Postgres(String),
}

impl Database {
    /// `text` as configured: a `postgres://` or `postgresql://` URL is PostgreSQL, anything
    /// else a SQLite file, relative to `base` (the configuration's folder).
    pub fn parse(text: &str, base: &Path) -> Database {
        let lower = text.trim_start().to_ascii_lowercase();
        if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
            Database::Postgres(text.trim().to_owned())
        } else {
            Database::Sqlite(base.join(text))
        }
    }

    /// The SQLite file, if this is one.
    pub fn sqlite_path(&self) -> Option<&Path> {
        match self {
            Database::Sqlite(path) => Some(path),
            Database::Postgres(_) => None,
        }
    }
}

/// Shown in logs and errors: the path, or the URL without its password.
impl fmt::Display for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Database::Sqlite(path) => write!(f, "{}", path.display()),
            Database::Postgres(url) => f.write_str(&postgres::without_password(url)),
        }
    }
}

/// How a PostgreSQL store shares sources with other processes on the same database.
#[derive(Debug, Clone, Copy)]
pub struct Sharing {
    /// How long a process's claim on a source (and its host) lasts unless renewed: a process
    /// that died leaves its sources to the others after this.
    pub lease: Duration,
    /// The configured `per_host`: a process takes new hosts enough to fill its free slots at
    /// this many sources each, so that it does not take every host from processes started
    /// after it.
    pub per_host: usize,
}

/// The configuration's default `source_lease`: a minute; processes renew every few seconds.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(60);

impl Default for Sharing {
    fn default() -> Sharing {
        Sharing {
            lease: DEFAULT_LEASE,
            per_host: crate::config::DEFAULT_PER_HOST,
        }
    }
}

impl Sharing {
    pub(crate) fn lease_delta(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.lease).unwrap_or(chrono::Duration::MAX)
    }
}

/// Opens (creating or migrating) the daemon's store on `database`.
pub async fn open(
    database: &Database,
    near: NearDuplicates,
    sharing: Sharing,
) -> Result<Arc<dyn Store>, StoreError> {
    Ok(match database {
        Database::Sqlite(path) => Arc::new(SqliteStore::open(path, near).await?),
        Database::Postgres(url) => Arc::new(PostgresStore::open_shared(url, near, sharing).await?),
    })
}

/// What the commands (`sources`, `export`, `revive`, `search`, `show`) read and change outside the daemon.
pub trait Catalog: Send + Sync {
    /// Every source with its status, polls, errors and article count, by id.
    fn sources(&self) -> BoxFuture<'_, Result<Vec<SourceStatus>, StoreError>>;

    /// Brings the source named by `source` (its id, URL or a former URL) back to `active` and
    /// due now. Its URL, or `None` when no source matches (removed and paused sources do not:
    /// the configuration says what they are).
    fn revive<'a>(&'a self, source: &'a str) -> BoxFuture<'a, Result<Option<String>, StoreError>>;

    fn article_count(&self) -> BoxFuture<'_, Result<u64, StoreError>>;

    /// Calls `each` with every article in the order they arrived, one at a time (an archive's
    /// export needs no more memory than one document). The outer error is the database's, the
    /// inner one `each`'s, which stops the walk.
    fn for_each_document<'a>(
        &'a self,
        each: &'a mut (dyn FnMut(ExportedDocument) -> std::io::Result<()> + Send),
    ) -> BoxFuture<'a, Result<std::io::Result<()>, StoreError>>;

    /// The articles matching `query` in the full-text index, best first.
    fn search<'a>(
        &'a self,
        query: &'a SearchQuery,
    ) -> BoxFuture<'a, Result<Vec<SearchHit>, StoreError>>;

    /// The documents whose key starts with `prefix` (lower-case hex digits), at most two: one
    /// for a unique prefix, two when it is ambiguous.
    fn documents_by_key<'a>(
        &'a self,
        prefix: &'a str,
    ) -> BoxFuture<'a, Result<Vec<ExportedDocument>, StoreError>>;
}

/// The commands' view of `database`. SQLite: the file must exist and is never migrated by a
/// read; PostgreSQL: connected (its schema made or brought up to date).
pub async fn catalog(database: &Database) -> Result<Box<dyn Catalog>, StoreError> {
    Ok(match database {
        Database::Sqlite(path) => Box::new(SqliteCatalog {
            reader: Mutex::new(Reader::open(path)?),
            path: path.clone(),
        }),
        Database::Postgres(url) => {
            Box::new(PostgresStore::open(url, NearDuplicates::default()).await?)
        }
    })
}

/// SQLite's catalog: the read-only connection; `revive` writes through a connection of its own
/// (a running daemon's writer waits for it, busy timeout).
struct SqliteCatalog {
    /// A mutex only to be shared between threads: one command uses it at a time.
    reader: Mutex<Reader>,
    path: PathBuf,
}

impl SqliteCatalog {
    fn reader(&self) -> std::sync::MutexGuard<'_, Reader> {
        self.reader.lock().unwrap_or_else(|e| e.into_inner())
    }
}

// The commands run alone on their runtime: SQLite's calls are made inline, not on the blocking
// pool, which would need the document callback to be 'static.
impl Catalog for SqliteCatalog {
    fn sources(&self) -> BoxFuture<'_, Result<Vec<SourceStatus>, StoreError>> {
        Box::pin(async move { self.reader().sources() })
    }

    fn revive<'a>(&'a self, source: &'a str) -> BoxFuture<'a, Result<Option<String>, StoreError>> {
        Box::pin(async move { super::revive(&self.path, source) })
    }

    fn article_count(&self) -> BoxFuture<'_, Result<u64, StoreError>> {
        Box::pin(async move { self.reader().article_count() })
    }

    fn for_each_document<'a>(
        &'a self,
        each: &'a mut (dyn FnMut(ExportedDocument) -> std::io::Result<()> + Send),
    ) -> BoxFuture<'a, Result<std::io::Result<()>, StoreError>> {
        Box::pin(async move { self.reader().for_each_document(each) })
    }

    fn search<'a>(
        &'a self,
        query: &'a SearchQuery,
    ) -> BoxFuture<'a, Result<Vec<SearchHit>, StoreError>> {
        Box::pin(async move { self.reader().search(query) })
    }

    fn documents_by_key<'a>(
        &'a self,
        prefix: &'a str,
    ) -> BoxFuture<'a, Result<Vec<ExportedDocument>, StoreError>> {
        Box::pin(async move { self.reader().documents_by_key(prefix) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_postgres_and_anything_else_a_sqlite_file() {
        let base = Path::new("/etc/gleaner");
        assert_eq!(
            Database::parse("postgres://g@db/gleaner", base),
            Database::Postgres("postgres://g@db/gleaner".into())
        );
        assert_eq!(
            Database::parse("PostgreSQL://g@db/gleaner", base),
            Database::Postgres("PostgreSQL://g@db/gleaner".into())
        );
        assert_eq!(
            Database::parse("data/g.db", base),
            Database::Sqlite("/etc/gleaner/data/g.db".into())
        );
        // A file that happens to be named like a scheme is still a file.
        assert_eq!(
            Database::parse("postgres.db", base),
            Database::Sqlite("/etc/gleaner/postgres.db".into())
        );
        let shown = Database::Postgres("postgres://g:s3cret@db/gleaner".into()).to_string();
        assert!(!shown.contains("s3cret"), "{shown}");
    }
}
