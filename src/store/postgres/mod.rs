//! The PostgreSQL store (issue 10): the same tables and the same rules as the SQLite store
//! ([`super::SqliteStore`]), through tokio-postgres, selected by a `postgres://` URL as the
//! configured `database`. Several processes may run on one database: they share the sources
//! through leases ([`lease`]).
//!
//! Choices, and why:
//! * One connection behind a mutex: writes are applied one at a time, in the order given, as the
//!   SQLite writer applies them; reads wait for a write in progress, which is short.
//! * One transaction per poll, at PostgreSQL's default READ COMMITTED. Two processes never
//!   write the same source at once (leases); what they can race on is an article both find
//!   (`articles.key`), inserted `ON CONFLICT DO NOTHING` and then read back, which READ
//!   COMMITTED sees committed. Serialization failures and deadlocks are reported as transient:
//!   the poll is written again later.
//! * Near-duplicate candidates come from the band expression indexes, queried per poll, not
//!   from an in-memory index: the database is the only truth several processes can share.
//! * Reads (`due`, `pages_known`) run in a read-only REPEATABLE READ transaction: one snapshot
//!   for answers that must agree, as SQLite's reader gives.
//! * Statements are prepared once per connection (`Db`); a broken connection is made again
//!   by the next call.
//! * Text with a NUL (which PostgreSQL's text cannot hold) is stored with U+FFFD (`clean`);
//!   `articles.search` indexes the first 150,000 characters (migration 0001 says why).
//! * No tokio_postgres type leaves this module: errors become [`StoreError::Engine`].
//! * Not batched like SQLite's writer (a transaction per poll, not per batch of polls): 1,000
//!   new articles take some 1.9 s here against 0.35 s in SQLite (one local socket, release).

/// Runs `$work` (an expression of `$tx` that may use `?`) in a transaction on `$store`'s
/// connection, `begin` to write or `begin_read` for one read-only snapshot, and commits it;
/// an early `?` or `return` rolls back. A macro rather than a function taking an async closure,
/// whose future could not be shown to be `Send` for the trait's `BoxFuture`.
macro_rules! in_transaction {
    ($store:expr, $begin:ident, |$tx:ident| $work:expr) => {{
        let mut guard = $store.client().await?;
        let conn = guard.as_mut().ok_or(StoreError::WriterGone)?;
        let $tx = Db::$begin(conn).await?;
        let value = $work;
        $tx.commit().await?;
        value
    }};
}

mod articles;
mod catalog;
mod copy;
mod lease;
mod pages;
mod poll;
mod search;

pub use copy::{Copied, CopyError, grouped, migrate_to};

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use tokio::sync::Mutex;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, NoTls, Row, Statement, Transaction};

use super::database::Sharing;
use super::port::{Due, Store};
use super::writer::{Pruned, Retention, Synced};
use super::{SourceSpec, StoreError};
use crate::dedup::NearDuplicates;
use crate::record::{PageKnown, PageQuery, PollCounts, PollRecord};

/// The migrations, in order: `migrations/postgres/000N_*.sql` is version N. Each sets
/// `schema_version` itself, last.
const MIGRATIONS: &[&str] = &[
    include_str!("../../../migrations/postgres/0001_initial.sql"),
    include_str!("../../../migrations/postgres/0002_leases.sql"),
];

/// Taken (transaction-scoped) while syncing the sources with the configuration, so that
/// processes starting together apply their (same) configurations one after the other instead
/// of racing on new sources' URLs. "sources".
const SYNC_LOCK: i64 = 0x0073_6f75_7263_6573;

/// Taken (transaction-scoped) while migrating, so that two gleaners starting at once do not both
/// create the schema: the second waits and then finds it made. Any fixed number: "gleaner".
const MIGRATION_LOCK: i64 = 0x0067_6c65_616e_6572;

/// The schema version this gleaner writes.
pub fn latest_version() -> u32 {
    MIGRATIONS.len() as u32
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> StoreError {
        StoreError::Engine {
            transient: is_transient(&e),
            message: message(&e),
        }
    }
}

/// The server's own words (severity, message, detail, hint) when it refused; else the error
/// and its cause. The driver's Display alone says only "db error".
fn message(e: &tokio_postgres::Error) -> String {
    match (e.as_db_error(), std::error::Error::source(e)) {
        (Some(db), _) => format!("PostgreSQL: {db}"),
        (None, Some(cause)) => format!("PostgreSQL: {e}: {cause}"),
        (None, None) => format!("PostgreSQL: {e}"),
    }
}

/// `text` as PostgreSQL can hold it: its text has no NUL (SQLite's has), and a feed can send one
/// (a JSON Feed's `\u0000` in a guid, a link, a title). U+FFFD takes its place, the same way on
/// every write and lookup, so an identity with a NUL still finds its entry. Documents and
/// bodies never hold one (the text rules drop control characters).
pub(super) fn clean(text: &str) -> std::borrow::Cow<'_, str> {
    if text.contains('\0') {
        text.replace('\0', "\u{FFFD}").into()
    } else {
        text.into()
    }
}

/// [`clean`] of an optional text.
pub(super) fn clean_opt(text: Option<&str>) -> Option<std::borrow::Cow<'_, str>> {
    text.map(clean)
}

/// Whether the same write may well succeed later: the connection failed or closed, the server is
/// shutting down or refusing connections, or the transaction lost a race with another one.
fn is_transient(e: &tokio_postgres::Error) -> bool {
    match e.code() {
        Some(code) => {
            // Class 08: connection exceptions; 57P0x: admin/crash shutdown, cannot connect now.
            code.code().starts_with("08")
                || [
                    SqlState::T_R_SERIALIZATION_FAILURE,
                    SqlState::T_R_DEADLOCK_DETECTED,
                    SqlState::ADMIN_SHUTDOWN,
                    SqlState::CRASH_SHUTDOWN,
                    SqlState::CANNOT_CONNECT_NOW,
                    SqlState::TOO_MANY_CONNECTIONS,
                    SqlState::DISK_FULL,
                ]
                .contains(code)
        }
        // Not an error of the server's: the connection itself (I/O, closed, timed out).
        None => {
            e.is_closed() || std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>())
        }
    }
}

/// The TLS of `sslmode=require`: rustls (the crypto reqwest already brings), the platform's
/// verifier.
fn tls() -> Result<tokio_postgres_rustls::MakeRustlsConnect, StoreError> {
    use rustls_platform_verifier::BuilderVerifierExt;
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|builder| builder.with_platform_verifier())
        .map_err(|e| StoreError::Engine {
            message: format!("PostgreSQL: cannot set up TLS: {e}"),
            transient: false,
        })?
        .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

/// The connection, its prepared statements and the task that drives it.
struct Conn {
    client: Client,
    statements: Statements,
    task: tokio::task::JoinHandle<()>,
}

impl Conn {
    /// Connects as `url` says: over TLS when it asks for it (`sslmode=require`), the server's
    /// certificate verified against the system's trusted roots (SSL_CERT_FILE names another
    /// bundle, a private CA's say); in the clear otherwise, as `sslmode=prefer` (the default)
    /// and `disable` are taken here: TLS is used when asked, and then never unverified.
    ///
    /// Commits do not wait for the server's disk (`synchronous_commit = off`) unless the URL
    /// gives `options` of its own: a server crash may then lose the last fraction of a second
    /// of polls, which are polled again (the database stays consistent), and each poll's write
    /// does not wait for a flush (a warm pass took 2.6 s instead of 7.0 s, benches/postgres_cycle.py).
    async fn connect(url: &str) -> Result<Conn, StoreError> {
        let mut config: tokio_postgres::Config = url.parse()?;
        if config.get_options().is_none() {
            config.options("-c synchronous_commit=off");
        }
        let report = |e: tokio_postgres::Error| {
            tracing::error!(error = %message(&e), "the PostgreSQL connection failed");
        };
        let (client, task) = if config.get_ssl_mode() == tokio_postgres::config::SslMode::Require {
            let (client, connection) = config.connect(tls()?).await?;
            let task = tokio::spawn(async move { connection.await.unwrap_or_else(report) });
            (client, task)
        } else {
            let (client, connection) = config.connect(NoTls).await?;
            let task = tokio::spawn(async move { connection.await.unwrap_or_else(report) });
            (client, task)
        };
        Ok(Conn {
            client,
            statements: Statements::default(),
            task,
        })
    }

    /// [`Conn::connect`], its failure said as a failure to open the database at `url`.
    async fn open(url: &str) -> Result<Conn, StoreError> {
        Conn::connect(url).await.map_err(|e| StoreError::Open {
            path: without_password(url).into(),
            message: match e {
                StoreError::Engine { message, .. } => message,
                other => other.to_string(),
            },
        })
    }

    /// Ends the connection once the server has what was sent.
    async fn close(self) {
        drop(self.client);
        if self.task.await.is_err() {
            tracing::error!("the PostgreSQL connection task stopped unexpectedly");
        }
    }
}

/// Statements prepared on the connection, by their text: each is parsed once and, after a few
/// runs, PostgreSQL plans it once too. Preparing (and planning) each statement on every use
/// cost more than running it (planning a band lookup: 0.8 ms, running it: 0.05 ms).
type Statements = std::sync::Mutex<HashMap<String, Statement>>;

/// A transaction with the connection's prepared statements: what the store's functions write
/// and read through. Takes SQL text and prepares it on first use.
pub(super) struct Db<'a> {
    tx: Transaction<'a>,
    statements: &'a Statements,
}

impl<'a> Db<'a> {
    async fn begin(conn: &'a mut Conn) -> Result<Db<'a>, StoreError> {
        Ok(Db {
            tx: conn.client.transaction().await?,
            statements: &conn.statements,
        })
    }

    /// A read-only transaction on one snapshot (REPEATABLE READ), for answers that must agree.
    async fn begin_read(conn: &'a mut Conn) -> Result<Db<'a>, StoreError> {
        Ok(Db {
            tx: conn
                .client
                .build_transaction()
                .read_only(true)
                .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                .start()
                .await?,
            statements: &conn.statements,
        })
    }

    async fn statement(&self, sql: &str) -> Result<Statement, StoreError> {
        let cached = lock(self.statements).get(sql).cloned();
        if let Some(statement) = cached {
            return Ok(statement);
        }
        let statement = self.tx.prepare(sql).await?;
        lock(self.statements).insert(sql.to_owned(), statement.clone());
        Ok(statement)
    }

    pub(super) async fn query(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, StoreError> {
        let statement = self.statement(sql).await?;
        Ok(self.tx.query(&statement, params).await?)
    }

    pub(super) async fn query_opt(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, StoreError> {
        let statement = self.statement(sql).await?;
        Ok(self.tx.query_opt(&statement, params).await?)
    }

    pub(super) async fn query_one(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Row, StoreError> {
        let statement = self.statement(sql).await?;
        Ok(self.tx.query_one(&statement, params).await?)
    }

    pub(super) async fn execute(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, StoreError> {
        let statement = self.statement(sql).await?;
        Ok(self.tx.execute(&statement, params).await?)
    }

    async fn commit(self) -> Result<(), StoreError> {
        Ok(self.tx.commit().await?)
    }
}

fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// The PostgreSQL store: one connection (made again when it broke), the near-duplicate settings,
/// and this process's name and lease time for sharing the sources with other processes.
pub struct PostgresStore {
    /// To connect again after the connection broke (a server restart, a network cut).
    url: String,
    /// `None` once closed.
    client: Mutex<Option<Conn>>,
    near: NearDuplicates,
    owner: String,
    sharing: Sharing,
}

impl PostgresStore {
    /// Connects to `url` (a libpq connection string or URL), then creates or upgrades the schema;
    /// leases last [`Sharing::default`].
    pub async fn open(url: &str, near: NearDuplicates) -> Result<PostgresStore, StoreError> {
        Self::open_shared(url, near, Sharing::default()).await
    }

    /// As [`PostgresStore::open`], with leases lasting `sharing.lease` unless renewed.
    pub async fn open_shared(
        url: &str,
        near: NearDuplicates,
        sharing: Sharing,
    ) -> Result<PostgresStore, StoreError> {
        let mut conn = Conn::open(url).await?;
        if let Err(e) = migrate(&mut conn.client).await {
            conn.close().await;
            return Err(e);
        }
        Ok(PostgresStore {
            url: url.to_owned(),
            client: Mutex::new(Some(conn)),
            near,
            owner: lease::owner_name(),
            sharing,
        })
    }
}

/// The connection string as an error may show it: without its password, URL
/// (`postgres://user:secret@host/db`) or key/value (`password=secret`) form alike.
pub(crate) fn without_password(url: &str) -> String {
    let mask_pairs = |text: &str, separator: char| {
        text.split(separator)
            .map(|pair| match pair.split_once('=') {
                Some((key, _)) if key.trim() == "password" => format!("{key}=***"),
                _ => pair.to_owned(),
            })
            .collect::<Vec<_>>()
            .join(&separator.to_string())
    };
    let Some((scheme, rest)) = url.split_once("://") else {
        return mask_pairs(url, ' ');
    };
    // By hand rather than with a URL parser: a URL the parser refuses (no host, as with a Unix
    // socket given as `?host=/run/postgresql`; a bad port; a raw `/` or `@` in the password)
    // must be masked all the same. The user part ends at the last `@` before the query.
    let (before_query, query) = match rest.split_once('?') {
        Some((before, query)) => (before, Some(query)),
        None => (rest, None),
    };
    let shown = match before_query.rsplit_once('@') {
        Some((userinfo, host_and_path)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{user}:***@{host_and_path}"),
            None => before_query.to_owned(),
        },
        None => before_query.to_owned(),
    };
    match query {
        Some(query) => format!("{scheme}://{shown}?{}", mask_pairs(query, '&')),
        None => format!("{scheme}://{shown}"),
    }
}

/// Applies the migrations the database lacks, in one transaction under an advisory lock;
/// refuses a database newer than this gleaner.
async fn migrate(client: &mut Client) -> Result<(), StoreError> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    let exists: bool = tx
        .query_one("SELECT to_regclass('schema_version') IS NOT NULL", &[])
        .await?
        .get(0);
    let found = if exists {
        let version: i32 = tx
            .query_one("SELECT version FROM schema_version", &[])
            .await?
            .get(0);
        u32::try_from(version).map_err(|_| StoreError::Migration(format!("version {version}")))?
    } else {
        0
    };
    let supported = latest_version();
    if found > supported {
        return Err(StoreError::TooNew { found, supported });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        tx.batch_execute(sql)
            .await
            .map_err(|e| StoreError::Migration(format!("{} failed: {e}", i + 1)))?;
    }
    tx.commit().await?;
    Ok(())
}

impl PostgresStore {
    async fn client(&self) -> Result<tokio::sync::MutexGuard<'_, Option<Conn>>, StoreError> {
        let mut guard = self.client.lock().await;
        let Some(conn) = guard.as_mut() else {
            return Err(StoreError::WriterGone);
        };
        if conn.client.is_closed() {
            // The connection broke: this call connects again (a failure is transient, and the
            // next call tries again). What the broken one was writing was rolled back.
            let fresh = Conn::connect(&self.url).await?;
            tracing::info!("connected to PostgreSQL again");
            if let Some(broken) = guard.replace(fresh) {
                broken.close().await;
            }
        }
        Ok(guard)
    }
}

impl Store for PostgresStore {
    fn sync_sources(&self, specs: Vec<SourceSpec>) -> BoxFuture<'_, Result<Synced, StoreError>> {
        Box::pin(async move {
            in_transaction!(self, begin, |tx| {
                tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SYNC_LOCK])
                    .await?;
                let now = Utc::now();
                let sources = poll::sync_sources(&tx, &specs, now).await?;
                let host_blocks = poll::host_blocks(&tx, now).await?;
                let last_network_success = poll::last_network_success(&tx).await?;
                Ok(Synced {
                    sources,
                    host_blocks,
                    last_network_success,
                })
            })
        })
    }

    fn record_poll(&self, record: PollRecord) -> BoxFuture<'_, Result<PollCounts, StoreError>> {
        Box::pin(async move {
            in_transaction!(self, begin, |tx| {
                let counts = poll::record_poll(&tx, &record, &self.near).await?;
                lease::release(&tx, &self.owner, &[record.source_id]).await?;
                Ok(counts)
            })
        })
    }

    fn prune(&self, retention: Retention) -> BoxFuture<'_, Result<Pruned, StoreError>> {
        Box::pin(async move {
            let mut guard = self.client().await?;
            let conn = guard.as_mut().ok_or(StoreError::WriterGone)?;
            let now = Utc::now();
            let tx = Db::begin(conn).await?;
            let fetches = poll::prune(&tx, retention.fetches_before, now).await?
                + pages::prune(&tx, retention.fetches_before).await?;
            tx.commit().await?;
            let articles = match &retention.articles_before {
                Some(before) => articles::remove_old_articles(conn, before, now).await?,
                None => 0,
            };
            Ok(Pruned { fetches, articles })
        })
    }

    fn due(
        &self,
        now: DateTime<Utc>,
        skip: HashSet<i64>,
        limit: usize,
    ) -> BoxFuture<'_, Result<Due, StoreError>> {
        Box::pin(async move {
            let until = now + self.sharing.lease_delta();
            let skip: Vec<i64> = skip.into_iter().collect();
            // Renewing and taking in one transaction: the leases of what this process polls are
            // never let lapse between the two.
            in_transaction!(self, begin, |tx| {
                lease::renew(&tx, &self.owner, &skip, now, until).await?;
                // Enough new hosts to fill `limit` at `per_host` sources each, no more.
                let new_hosts = limit.div_ceil(self.sharing.per_host.max(1));
                let taken =
                    lease::take_due(&tx, &self.owner, now, until, &skip, limit, new_hosts).await?;
                let mut sources = Vec::with_capacity(taken.len());
                for id in taken {
                    sources.push(poll::load_state(&tx, id).await?);
                }
                let host_blocks = poll::host_blocks(&tx, now).await?;
                let next_poll_after = poll::next_poll_after(&tx, now).await?;
                Ok(Due {
                    sources,
                    next_poll_after,
                    host_blocks,
                })
            })
        })
    }

    fn release(&self, sources: Vec<i64>) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            if sources.is_empty() {
                return Ok(());
            }
            in_transaction!(self, begin, |tx| {
                lease::release(&tx, &self.owner, &sources).await?;
                Ok(())
            })
        })
    }

    fn claim_host(&self, host: String) -> BoxFuture<'_, Result<bool, StoreError>> {
        Box::pin(async move {
            let now = Utc::now();
            in_transaction!(self, begin, |tx| {
                let held = lease::claim_hosts(
                    &tx,
                    &self.owner,
                    &[host],
                    now,
                    now + self.sharing.lease_delta(),
                )
                .await?;
                Ok(!held.is_empty())
            })
        })
    }

    fn pages_known(
        &self,
        source_id: i64,
        queries: Vec<PageQuery>,
    ) -> BoxFuture<'_, Result<Vec<PageKnown>, StoreError>> {
        Box::pin(async move {
            in_transaction!(self, begin_read, |tx| {
                let known = pages::known(&tx, source_id, &queries).await?;
                Ok(known)
            })
        })
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            // Waits for a write in progress (it holds the connection), hands this process's
            // leases back, then ends the connection.
            let conn = self.client.lock().await.take();
            if let Some(mut conn) = conn {
                let released = async {
                    let tx = Db::begin(&mut conn).await?;
                    lease::release_all(&tx, &self.owner).await?;
                    tx.commit().await
                };
                if let Err(e) = released.await {
                    tracing::warn!(error = %e, "leases not handed back: they lapse on their own");
                }
                conn.close().await;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_never_show_the_password() {
        assert_eq!(
            without_password("postgres://gleaner:s3cret@db.example:5432/gleaner"),
            "postgres://gleaner:***@db.example:5432/gleaner"
        );
        assert_eq!(
            without_password("host=/tmp user=gleaner password=s3cret dbname=g"),
            "host=/tmp user=gleaner password=*** dbname=g"
        );
        assert_eq!(
            without_password("postgresql://h/db?user=u&password=s3cret"),
            "postgresql://h/db?user=u&password=***"
        );
        assert_eq!(
            without_password("postgresql://g:s3cret@/db?host=/run/postgresql"),
            "postgresql://g:***@/db?host=/run/postgresql"
        );
        assert_eq!(
            without_password("postgresql://g@/db?host=/run/postgresql"),
            "postgresql://g@/db?host=/run/postgresql"
        );
        assert_eq!(
            without_password("postgres://gleaner:s3cret@db.example:notaport/gleaner"),
            "postgres://gleaner:***@db.example:notaport/gleaner"
        );
        assert_eq!(
            without_password("postgres://g:pa/ss@w@db.example/gleaner"),
            "postgres://g:***@db.example/gleaner"
        );
        assert!(!without_password("postgres://h:bad/db?password=s3cret").contains("s3cret"));
        assert_eq!(clean("a\0b"), "a\u{FFFD}b");
        assert!(matches!(
            clean("plain"),
            std::borrow::Cow::Borrowed("plain")
        ));
    }
}
