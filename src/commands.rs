//! What each command does, on top of the library's stages. `main` only parses the command line
//! and calls one of these.

use std::io::{ErrorKind, IsTerminal, Read, StdoutLock, Write};
use std::path::Path;

use anyhow::{Context, bail};
use chrono::{NaiveDate, Utc};

use crate::config::Config;
use crate::daemon::{self, Daemon};
use crate::progress::Progress;
use crate::search::{SearchHit, SearchQuery, Terms};
use crate::store::Database;
use crate::store::lock::DaemonLock;
use crate::store::postgres::grouped;
use crate::subscriptions::manage::{self, AddRequest, PICKUP, Pause};
use crate::text;

/// Loads the configuration, with the database overridden when asked (a path relative to the
/// current folder, or a PostgreSQL URL).
pub fn load_config(path: &Path, database: Option<String>) -> anyhow::Result<Config> {
    let mut config = Config::load(path)?;
    if let Some(database) = database {
        config.database = Database::parse(&database, Path::new(""));
    }
    Ok(config)
}

/// `gleaner run`: the daemon, until SIGINT or SIGTERM; one per SQLite file, any number on one
/// PostgreSQL database (they share the sources).
pub async fn run(config: Config, database_override: bool) -> anyhow::Result<()> {
    let _lock = match config.database.sqlite_path() {
        Some(path) => Some(DaemonLock::acquire(path)?),
        None => None,
    };
    let (shutdown, reload) = daemon::signals()?;
    Daemon::start(config, database_override, Some(&shutdown))
        .await?
        .run(shutdown, reload)
        .await
}

/// How many polls a pass makes before `once` shows a progress bar (on a terminal): a pass over
/// fewer is over before a bar would tell anything.
const ONCE_PROGRESS_FROM: usize = 20;

/// `gleaner once`: one pass over the due sources (every active one with `force`, except those
/// a server asked to wait), one summary line each on stdout (a JSON object with `json`), and a
/// progress bar on a terminal when the pass is long. Fails when a poll's result could not be
/// written, since that pass lost it.
pub async fn once(
    config: Config,
    force: bool,
    json: bool,
    database_override: bool,
) -> anyhow::Result<()> {
    let (shutdown, _reload) = daemon::signals()?;
    let database = config.database.clone();
    let daemon = Daemon::start(config, database_override, None).await?;
    let mut stdout = std::io::stdout().lock();
    // Set when the pass knows its size; read by each report.
    let progress = std::cell::OnceCell::new();
    let summaries = daemon
        .once_counted(
            force,
            shutdown,
            |polls| {
                let _ = progress.set(if polls > ONCE_PROGRESS_FROM {
                    Progress::new(polls as u64, "sources polled")
                } else {
                    Progress::hidden()
                });
            },
            |summary| {
                let progress = progress.get_or_init(Progress::hidden);
                progress.suspend(|| {
                    let _ = if json {
                        writeln!(stdout, "{}", summary.to_json())
                    } else {
                        writeln!(stdout, "{summary}")
                    };
                    // Line by line, so a reader of a pipe sees each poll as it ends.
                    let _ = stdout.flush();
                });
                progress.inc();
            },
        )
        .await?;
    if let Some(progress) = progress.get() {
        progress.finish();
    }
    let failed = summaries.iter().filter(|s| s.error.is_some()).count();
    let new: u64 = summaries.iter().map(|s| s.counts.new).sum();
    tracing::info!(sources = summaries.len(), failed, new, "pass complete");
    let unrecorded: Vec<&str> = summaries
        .iter()
        .filter_map(|s| s.unrecorded.as_deref())
        .collect();
    if let Some(cause) = unrecorded.first() {
        bail!(
            "{} of {} polls could not be written to {database}: {cause}",
            unrecorded.len(),
            summaries.len(),
        );
    }
    Ok(())
}

/// `gleaner export --out DIR`: every article as `NNN_KEY.txt`, byte for byte its document.
/// A re-export replaces the files an earlier one wrote (numbering shifts as articles come and
/// go, and may widen), so the folder holds exactly the current set; other files stay.
/// Returns the number of files written.
pub async fn export(database: &Database, out: &Path) -> anyhow::Result<u64> {
    let catalog = crate::store::database::catalog(database).await?;
    std::fs::create_dir_all(out)
        .with_context(|| format!("cannot create the folder {}", out.display()))?;
    // Before writing rather than after: knowing which old names survive would take a list of
    // every name written, and the files are copies of the database, written again at once.
    remove_previous_export(out)
        .with_context(|| format!("cannot remove the previous export from {}", out.display()))?;
    let total = catalog.article_count().await?;
    // At least three digits, and enough for every position, so the names sort in order.
    let width = total.saturating_sub(1).to_string().len().max(3);
    let mut position = 0u64;
    let progress = Progress::new(total, "documents written");
    catalog
        .for_each_document(&mut |doc| {
            let name = format!("{position:0width$}_{}.txt", doc.key);
            std::fs::write(out.join(&name), doc.document.as_bytes())?;
            position += 1;
            progress.inc();
            Ok(())
        })
        .await?
        .with_context(|| format!("cannot write into {}", out.display()))?;
    progress.finish();
    Ok(position)
}

/// Whether `name` is one that `export` writes: `NNN_KEY.txt`, at least three digits, then an
/// article key (16 lower-case hex digits).
fn is_export_name(name: &str) -> bool {
    let Some((position, key)) = name.strip_suffix(".txt").and_then(|s| s.split_once('_')) else {
        return false;
    };
    position.len() >= 3
        && position.bytes().all(|b| b.is_ascii_digit())
        && key.len() == 16
        && key.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Removes the regular files of `out` named as `export` names them; nothing else.
fn remove_previous_export(out: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(out)? {
        let entry = entry?;
        // `file_type` does not follow links: a link named like an export is not ours.
        if entry.file_name().to_str().is_some_and(is_export_name) && entry.file_type()?.is_file() {
            std::fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}

/// A `--date` of `render`, for the command line's parser: a mistake there is a usage error.
pub fn parse_date(text: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|_| format!("{text:?} is not a date of the form YYYY-MM-DD"))
}

/// `gleaner render`: an HTML body on stdin to a document on stdout, exactly as stored (no
/// newline after the last paragraph). The date is today's (UTC) unless given.
pub fn render(title: Option<&str>, date: Option<NaiveDate>) -> anyhow::Result<()> {
    let date = date.unwrap_or_else(|| Utc::now().date_naive());
    let mut stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprintln!("gleaner: reading an HTML body from standard input (end with Ctrl-D)");
    }
    let mut bytes = Vec::new();
    stdin
        .read_to_end(&mut bytes)
        .context("cannot read standard input")?;
    let html = String::from_utf8_lossy(&bytes);
    let title = title.map(text::clean_title).unwrap_or_default();
    let body = text::body_from_paragraphs(&title, text::html_to_paragraphs(&html));
    let document = text::document(&date.to_string(), &title, &body);
    to_stdout(|out| out.write_all(document.as_bytes()))
}

/// Writes to stdout, and ends quietly when the reader has gone (`gleaner sources | head -1`):
/// it had what it wanted, which is no error.
fn to_stdout(
    write: impl FnOnce(&mut StdoutLock<'static>) -> std::io::Result<()>,
) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match write(&mut out).and_then(|()| out.flush()) {
        Err(e) if e.kind() == ErrorKind::BrokenPipe => Ok(()),
        result => Ok(result?),
    }
}

/// `gleaner revive SOURCE`: a `gone` (or any) source, by id or URL, active and due again.
pub async fn revive(database: &Database, source: &str) -> anyhow::Result<()> {
    let catalog = crate::store::database::catalog(database).await?;
    match catalog.revive(source).await? {
        Some(url) => to_stdout(|out| {
            writeln!(
                out,
                "revived {url}: a running daemon polls it within seconds, or run `gleaner once`"
            )
        }),
        None => {
            let paused = catalog.sources().await?.into_iter().find(|s| {
                s.status == "paused" && (s.id.to_string() == source.trim() || s.url == source)
            });
            match paused {
                Some(s) => bail!(
                    "{} is paused in the configuration: `gleaner resume {}` polls it again",
                    s.url,
                    s.id
                ),
                None => bail!(
                    "no source {source:?} in {database}: give its id or URL as `gleaner sources` \
                     lists it"
                ),
            }
        }
    }
}

/// `gleaner migrate-to URL`: the SQLite database copied into an empty PostgreSQL database, then
/// a line per table (`articles 3,402`) and one for the whole. A daemon running on the SQLite
/// database is warned about, not stopped: the copy is one snapshot, and what the daemon records
/// after it stays behind.
pub async fn migrate_to(database: &Database, url: &str) -> anyhow::Result<()> {
    let Some(database) = database.sqlite_path() else {
        bail!(
            "migrate-to copies a SQLite database into PostgreSQL, and the database is already \
             PostgreSQL ({database}): give the SQLite file with --database PATH"
        );
    };
    // Held while copying, when free, so that no daemon starts on the database meanwhile.
    let _lock = match database.exists().then(|| DaemonLock::acquire(database)) {
        Some(Err(e)) => {
            tracing::warn!(
                "{e}: the copy is of the database as it is now; what that daemon records \
                 from now on will not be in PostgreSQL"
            );
            None
        }
        Some(Ok(lock)) => Some(lock),
        None => None,
    };
    let copied = crate::store::postgres::migrate_to(database, url).await?;
    let total: u64 = copied.tables.iter().map(|t| t.1).sum();
    to_stdout(|out| {
        for (table, rows) in &copied.tables {
            writeln!(out, "{table} {}", grouped(*rows))?;
        }
        writeln!(
            out,
            "copied {} rows in {} tables from {} to {} in {:.1} s",
            grouped(total),
            copied.tables.len(),
            database.display(),
            copied.target,
            copied.elapsed.as_secs_f64()
        )
    })
}

/// `gleaner sources`: each source with its status, polls, errors and article count; with
/// `json`, one JSON object a source (the fields of [`crate::store::SourceStatus`]).
pub async fn sources(database: &Database, json: bool) -> anyhow::Result<()> {
    let catalog = crate::store::database::catalog(database).await?;
    let sources = catalog.sources().await?;
    if sources.is_empty() {
        bail!("no sources in {database}: add [[sources]] to the configuration");
    }
    if json {
        return to_stdout(|out| {
            for source in &sources {
                writeln!(out, "{}", serde_json::to_string(source)?)?;
            }
            Ok(())
        });
    }
    to_stdout(|out| {
        writeln!(
            out,
            "{:>4}  {:<8} {:>8}  {:<20}  {:<20}  {:<10} {:>6}  SOURCE",
            "ID", "STATUS", "ARTICLES", "LAST POLL", "NEXT POLL", "WHY", "ERRORS"
        )?;
        for s in sources {
            let name = s.name.as_deref().or(s.title.as_deref()).unwrap_or(&s.url);
            writeln!(
                out,
                "{:>4}  {:<8} {:>8}  {:<20}  {:<20}  {:<10} {:>6}  {}",
                s.id,
                s.status,
                s.articles,
                s.last_polled_at.as_deref().unwrap_or("never"),
                s.next_poll_at.as_deref().unwrap_or("now"),
                s.next_poll_reason.as_deref().unwrap_or("-"),
                s.consecutive_errors,
                name
            )?;
            if name != s.url {
                writeln!(out, "{:>70}  {}", "", s.url)?;
            }
            if let Some(error) = &s.last_error {
                writeln!(out, "{:>70}  last error: {error}", "")?;
            }
            if let Some(reason) = &s.identity_reason {
                writeln!(out, "{:>70}  items told apart by their links: {reason}", "")?;
            }
            if s.pages_last_day > 0 {
                write!(
                    out,
                    "{:>70}  pages (last day): {} fetched, {} full text",
                    "", s.pages_last_day, s.full_text_last_day
                )?;
                match &s.page_failures_last_day {
                    Some(reasons) => writeln!(out, "; feed text kept: {reasons}")?,
                    None => writeln!(out)?,
                }
            }
        }
        Ok(())
    })
}

/// `gleaner import FILE [--dry-run]`: a line per feed of the list, then the counts.
/// A progress bar on a terminal, as the list is read (a big list's first outlines are the slow
/// part: each is checked against every configured source).
pub fn import(config: &Config, list: &Path, dry_run: bool) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    let progress = std::cell::OnceCell::new();
    let summary = manage::import(&config.path, list, dry_run, |_, total, outcome| {
        let progress = progress.get_or_init(|| Progress::new(total as u64, "feeds imported"));
        progress.suspend(|| writeln!(out, "{outcome}").ok());
        progress.inc();
    })?;
    if let Some(progress) = progress.get() {
        progress.finish();
    }
    let what = if dry_run {
        "dry run: nothing written".to_owned()
    } else if summary.added > 0 {
        format!("written to {}; {PICKUP}", config.path.display())
    } else {
        "nothing to write".to_owned()
    };
    let _ = writeln!(
        out,
        "{} added, {} skipped, {} refused: {what}",
        summary.added, summary.skipped, summary.refused
    );
    Ok(())
}

/// `gleaner export-opml [--out FILE]`: the sources as OPML 2.0, on stdout or into FILE.
pub fn export_opml(config: &Config, out: Option<&Path>) -> anyhow::Result<()> {
    let text = manage::export_opml(config);
    match out {
        Some(path) => {
            crate::subscriptions::config_file::write_atomically(path, text.as_bytes())
                .with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!(
                "gleaner: wrote {} sources to {}",
                config.sources.len(),
                path.display()
            );
            Ok(())
        }
        None => to_stdout(|out| out.write_all(text.as_bytes())),
    }
}

/// `gleaner add URL`: what was tried and chosen, then the line saying what was added.
pub async fn add(config: &Config, request: &AddRequest) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    manage::add(&config.path, request, |line| {
        let _ = writeln!(out, "{line}");
    })
    .await?;
    let _ = writeln!(out, "{PICKUP}");
    Ok(())
}

/// `gleaner remove SOURCE`.
pub async fn remove(config: &Config, source: &str) -> anyhow::Result<()> {
    let message = manage::remove(&config.path, &config.database, source).await?;
    to_stdout(|out| writeln!(out, "{message}"))
}

/// `gleaner pause SOURCE` and `gleaner resume SOURCE`.
pub async fn pause(config: &Config, source: &str, action: Pause) -> anyhow::Result<()> {
    let message = manage::set_paused(&config.path, &config.database, source, action).await?;
    to_stdout(|out| writeln!(out, "{message}"))
}

/// A `search` QUERY, for the command line's parser: a query with nothing to look for is a
/// usage error.
pub fn parse_query(text: &str) -> Result<Terms, String> {
    Terms::parse(text).map_err(|e| e.to_string())
}

/// What `gleaner search` is asked, as the command line gives it.
pub struct SearchArgs {
    pub terms: Terms,
    pub since: Option<NaiveDate>,
    /// A source's id, URL or name.
    pub source: Option<String>,
    pub limit: u32,
    pub json: bool,
}

/// `gleaner search`: the articles matching the query, best first, each a header line and its
/// snippet (a JSON object with `json`). Nothing found is an error (exit 1, as grep), saying so.
pub async fn search(database: &Database, args: SearchArgs) -> anyhow::Result<()> {
    let catalog = crate::store::database::catalog(database).await?;
    let source = match &args.source {
        Some(wanted) => Some(source_id(catalog.as_ref(), wanted, database).await?),
        None => None,
    };
    let query = SearchQuery {
        terms: args.terms,
        since: args.since,
        source,
        limit: args.limit,
    };
    let hits = catalog.search(&query).await?;
    if hits.is_empty() {
        bail!("no article matches");
    }
    to_stdout(|out| {
        for hit in &hits {
            write_hit(out, hit, args.json)?;
        }
        Ok(())
    })
}

fn write_hit(out: &mut impl Write, hit: &SearchHit, json: bool) -> std::io::Result<()> {
    let snippet = crate::search::one_line(&hit.snippet);
    if json {
        let hit = SearchHit {
            snippet,
            ..hit.clone()
        };
        return writeln!(out, "{}", serde_json::to_string(&hit)?);
    }
    writeln!(
        out,
        "{}  {}  {}  ({})",
        hit.key, hit.date, hit.title, hit.source
    )?;
    writeln!(out, "    {snippet}")
}

/// The id of the source `wanted` names: its id, URL or name (configured or the feed's title).
/// A name several sources share is refused, naming their ids.
async fn source_id(
    catalog: &dyn crate::store::Catalog,
    wanted: &str,
    database: &Database,
) -> anyhow::Result<i64> {
    let sources = catalog.sources().await?;
    if let Some(source) = sources
        .iter()
        .find(|s| s.id.to_string() == wanted || s.url == wanted)
    {
        return Ok(source.id);
    }
    let named: Vec<i64> = sources
        .iter()
        .filter(|s| s.name.as_deref() == Some(wanted) || s.title.as_deref() == Some(wanted))
        .map(|s| s.id)
        .collect();
    match named[..] {
        [id] => Ok(id),
        [] => bail!(
            "no source {wanted:?} in {database}: give its id, URL or name as `gleaner sources` lists it"
        ),
        _ => bail!(
            "{} sources are named {wanted:?}: give one's id ({named:?})",
            named.len()
        ),
    }
}

/// A `show` KEY, for the command line's parser: an article key (16 hex digits), or a unique
/// start of one of at least 6; upper case is read as lower.
pub fn parse_key(text: &str) -> Result<String, String> {
    let key = text.trim().to_ascii_lowercase();
    if (6..=16).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(key)
    } else {
        Err(format!(
            "{text:?} is not an article key: 16 hex digits (or the first 6 or more of them)"
        ))
    }
}

/// `gleaner show KEY`: the article's document on stdout, byte for byte as `export` writes it.
pub async fn show(database: &Database, key: &str) -> anyhow::Result<()> {
    let catalog = crate::store::database::catalog(database).await?;
    let mut documents = catalog.documents_by_key(key).await?;
    match documents.len() {
        0 => bail!("no article {key} in {database}"),
        1 => {
            let document = documents.remove(0).document;
            to_stdout(|out| out.write_all(document.as_bytes()))
        }
        _ => bail!(
            "several articles' keys start with {key} ({}, {}, ...): give more digits",
            documents[0].key,
            documents[1].key
        ),
    }
}
