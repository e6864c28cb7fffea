//! The command line: parsing only. Every command is carried out by the library.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use gleaner::commands;
use gleaner::config::DEFAULT_CONFIG_PATH;
use gleaner::subscriptions::manage::{AddRequest, Pause};

#[derive(Parser)]
#[command(
    name = "gleaner",
    version,
    about = "Polls RSS, Atom and JSON feeds and keeps every article as a plain-text document in SQLite"
)]
struct Cli {
    /// The configuration file.
    #[arg(long, global = true, env = "GLEANER_CONFIG", value_name = "PATH", default_value = DEFAULT_CONFIG_PATH)]
    config: PathBuf,
    /// Use this database instead of the one the configuration names: a SQLite file, or a
    /// PostgreSQL URL (postgres://user@host/db).
    #[arg(long, global = true, env = "GLEANER_DATABASE", value_name = "PATH|URL")]
    database: Option<String>,
    /// Log format on stderr (the level comes from GLEANER_LOG, e.g. "debug").
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon: poll every source on its schedule until SIGINT or SIGTERM.
    Run,
    /// Poll the sources that are due (all on a new database), print a line per source, exit.
    Once {
        /// Poll every active source now, except those a server asked to wait (Retry-After).
        #[arg(long)]
        force: bool,
        /// One JSON object a source on stdout instead of a line of text.
        #[arg(long)]
        json: bool,
    },
    /// Write every article to DIR as NNN_KEY.txt, byte for byte its document.
    Export {
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Read an HTML body on stdin and print it in the document form.
    Render {
        #[arg(long)]
        title: Option<String>,
        /// YYYY-MM-DD; today (UTC) by default.
        #[arg(long, value_name = "YYYY-MM-DD", value_parser = commands::parse_date)]
        date: Option<chrono::NaiveDate>,
    },
    /// Read an article's web page on stdin and print the document gleaner would store for it:
    /// title and date from the page's metadata (the date today, UTC, when the page gives
    /// none), body from its main content. A page with no article is an error.
    Extract {
        /// The page's address, against which its relative canonical link is resolved.
        #[arg(long, value_name = "URL")]
        url: Option<String>,
    },
    /// List the sources with their status, last poll, next poll and why, errors, article count.
    Sources {
        /// One JSON object a source on stdout instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// Search the articles' full text, best matches first: words (all required), "a phrase",
    /// prefix*, -excluded. Exits 1 when nothing matches.
    Search {
        /// The words to look for; several arguments are one query (`gleaner search tim cook`).
        #[arg(value_name = "QUERY", required = true, num_args = 1..)]
        query: Vec<String>,
        /// Only articles dated on or after this day.
        #[arg(long, value_name = "YYYY-MM-DD", value_parser = commands::parse_date)]
        since: Option<chrono::NaiveDate>,
        /// Only articles of this source: its id, URL or name.
        #[arg(long, value_name = "ID|URL|NAME")]
        source: Option<String>,
        /// At most this many articles.
        #[arg(long, value_name = "N", default_value_t = 20,
              value_parser = clap::value_parser!(u32).range(1..=100_000))]
        limit: u32,
        /// One JSON object a hit on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Print an article's document, byte for byte as `export` writes it.
    Show {
        /// Its key (16 hex digits), or a unique start of it (6 or more).
        #[arg(value_name = "KEY", value_parser = commands::parse_key)]
        key: String,
    },
    /// Bring a source back (one retired by 410 Gone, say): by its id or URL.
    Revive {
        #[arg(value_name = "ID|URL")]
        source: String,
    },
    /// Copy the SQLite database into an empty PostgreSQL database, ids and all, in one
    /// transaction; the PostgreSQL schema is created first.
    MigrateTo {
        /// The PostgreSQL database: postgres://USER[:PASSWORD]@HOST[:PORT]/DBNAME, or a
        /// key/value string ("host=/run/postgresql dbname=gleaner").
        #[arg(value_name = "URL")]
        url: String,
    },
    /// Add each feed of an OPML list to the configuration (names from titles, tags from
    /// categories), skipping those already there.
    Import {
        #[arg(value_name = "FILE.opml")]
        file: PathBuf,
        /// Say what would be added; write nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Write the configured sources, with their tags as categories, as OPML 2.0.
    ExportOpml {
        /// Into FILE instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Add a source: a feed's URL, or a web page whose feed is found (its <link
    /// rel="alternate">, else /feed, /rss, /atom.xml, /index.xml).
    Add {
        url: String,
        /// The source's name (default: the feed's title).
        #[arg(long)]
        name: Option<String>,
        /// A category, "News" or "News/Tech"; repeat for several.
        #[arg(long = "tag", value_name = "TAG")]
        tags: Vec<String>,
        /// Add URL as it is, without fetching it.
        #[arg(long)]
        no_discover: bool,
        /// Let the URL (and the source's polls) reach loopback and private addresses; written
        /// as allow_private = true.
        #[arg(long)]
        allow_private: bool,
    },
    /// Remove a source from the configuration (its articles stay): by its id or URL.
    Remove {
        #[arg(value_name = "ID|URL")]
        source: String,
    },
    /// Stop polling a source until it is resumed: by its id or URL.
    Pause {
        #[arg(value_name = "ID|URL")]
        source: String,
    },
    /// Poll a paused source again: by its id or URL.
    Resume {
        #[arg(value_name = "ID|URL")]
        source: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(&cli);
    match execute(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gleaner: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn execute(cli: Cli) -> anyhow::Result<()> {
    if let Command::Render { title, date } = &cli.command {
        return commands::render(title.as_deref(), *date);
    }
    if let Command::Extract { url } = &cli.command {
        return gleaner::extract::extract_page(url.as_deref());
    }
    let database_override = cli.database.is_some();
    let config = commands::load_config(&cli.config, cli.database)?;
    match cli.command {
        Command::Run => in_runtime(commands::run(config, database_override)),
        Command::Once { force, json } => {
            in_runtime(commands::once(config, force, json, database_override))
        }
        Command::Export { out } => {
            let written = in_runtime(commands::export(&config.database, &out))?;
            eprintln!("gleaner: wrote {written} documents to {}", out.display());
            Ok(())
        }
        Command::Sources { json } => in_runtime(commands::sources(&config.database, json)),
        Command::Search {
            query,
            since,
            source,
            limit,
            json,
        } => in_runtime(commands::search(
            &config.database,
            commands::SearchArgs {
                terms: search_terms(&query),
                since,
                source,
                limit,
                json,
            },
        )),
        Command::Show { key } => in_runtime(commands::show(&config.database, &key)),
        Command::Revive { source } => in_runtime(commands::revive(&config.database, &source)),
        Command::MigrateTo { url } => in_runtime(commands::migrate_to(&config.database, &url)),
        Command::Import { file, dry_run } => commands::import(&config, &file, dry_run),
        Command::ExportOpml { out } => commands::export_opml(&config, out.as_deref()),
        Command::Add {
            url,
            name,
            tags,
            no_discover,
            allow_private,
        } => {
            let request = AddRequest {
                url,
                name,
                tags,
                discover: !no_discover,
                allow_private,
            };
            in_runtime(async { commands::add(&config, &request).await })
        }
        Command::Remove { source } => in_runtime(commands::remove(&config, &source)),
        Command::Pause { source } => in_runtime(commands::pause(&config, &source, Pause::Pause)),
        Command::Resume { source } => in_runtime(commands::pause(&config, &source, Pause::Resume)),
        Command::Render { .. } | Command::Extract { .. } => unreachable!("handled above"),
    }
}

/// The query of `search`, its arguments read as one text; nothing to look for is a mistake of
/// the command line (exit 2, as clap's own).
fn search_terms(words: &[String]) -> gleaner::search::Terms {
    use clap::CommandFactory;
    commands::parse_query(&words.join(" ")).unwrap_or_else(|message| {
        Cli::command()
            .error(clap::error::ErrorKind::InvalidValue, message)
            .exit()
    })
}

/// Runs `work` to its end, then leaves at once: a parse or render still busy on the blocking
/// pool (abandoned at shutdown) must not hold the process past the grace period.
fn in_runtime<T>(work: impl Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let result = runtime.block_on(work);
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    result
}

fn init_logging(cli: &Cli) {
    use tracing_subscriber::EnvFilter;
    // A copy into PostgreSQL logs its progress through big tables.
    let default = if matches!(cli.command, Command::Run | Command::MigrateTo { .. }) {
        "info"
    } else {
        "warn"
    };
    let filter = EnvFilter::try_from_env("GLEANER_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match cli.log_format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
