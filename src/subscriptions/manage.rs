//! The commands that manage sources: `import`, `export-opml`, `add`, `remove`, `pause`,
//! `resume`. Each reads the configuration file, edits it (`config_file`) and writes it once;
//! a running daemon notices the new file and reloads it (see `daemon`). What they print goes
//! through a callback, one line at a time, so the caller decides where it goes (and may drive
//! a progress bar from it).

use std::path::Path;

use anyhow::{Context, bail};
use chrono::Utc;

use super::config_file::{ConfigFile, NewSource};
use super::discover;
use super::opml::{self, ListedSource};
use crate::config::Config;
use crate::fetch::{ErrorClass, Fetched, Reach, Validators};
use crate::store::{Database, SourceStatus};

/// What every command that changed the file says about a running daemon: it checks the file
/// every `daemon::TICK` (2 s), and a reload takes a moment more.
pub const PICKUP: &str = "a running daemon picks this up within 5 seconds";

/// What became of one outline of an imported list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Added {
        url: String,
        name: Option<String>,
        tags: Vec<String>,
    },
    /// Already in the configuration.
    Skipped { url: String },
    /// Listed earlier in the same list: added once, with the tags of both places.
    Repeated { url: String, tags: Vec<String> },
    /// Not something the configuration can take, with why.
    Refused { url: String, reason: String },
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Added { url, name, tags } => {
                write!(f, "added {url}")?;
                if let Some(name) = name {
                    write!(f, " ({name})")?;
                }
                if !tags.is_empty() {
                    write!(f, " tags: {}", tags.join(", "))?;
                }
                Ok(())
            }
            Outcome::Skipped { url } => write!(f, "skipped {url} (already present)"),
            Outcome::Repeated { url, tags } => write!(
                f,
                "skipped {url} (listed earlier in this file; tags: {})",
                tags.join(", ")
            ),
            Outcome::Refused { url, reason } => write!(f, "refused {url:?} ({reason})"),
        }
    }
}

/// The counts of an import.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportSummary {
    pub added: usize,
    pub skipped: usize,
    pub refused: usize,
}

/// `gleaner import FILE`: each feed of the OPML list at `opml_path` that the configuration
/// does not have yet is appended to it as a `[[sources]]` table (its title as `name`, its
/// categories as `tags`; a feed listed under several categories gets them all). `each` is
/// called once per feed outline, in the list's order, with its position, the number of feeds
/// and what became of it (the hook for a progress bar). With `dry_run` nothing is written. A
/// list that does not parse writes nothing either.
pub fn import(
    config_path: &Path,
    opml_path: &Path,
    dry_run: bool,
    mut each: impl FnMut(usize, usize, &Outcome),
) -> anyhow::Result<ImportSummary> {
    let bytes =
        std::fs::read(opml_path).with_context(|| format!("cannot read {}", opml_path.display()))?;
    let list = opml::parse(&bytes).map_err(|e| anyhow::anyhow!("{}:{e}", opml_path.display()))?;
    let mut file = ConfigFile::open(config_path)?;
    let mut summary = ImportSummary::default();
    let mut new = NewSources::default();
    let total = list.feeds.len();
    for (index, feed) in list.feeds.iter().enumerate() {
        let outcome = import_one(&file, &mut new, feed);
        match outcome {
            Outcome::Added { .. } => summary.added += 1,
            Outcome::Skipped { .. } | Outcome::Repeated { .. } => summary.skipped += 1,
            Outcome::Refused { .. } => summary.refused += 1,
        }
        each(index, total, &outcome);
    }
    for source in &new.sources {
        file.append(source).map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    if !dry_run && !new.sources.is_empty() {
        file.save()?;
    }
    Ok(summary)
}

/// The sources an import appends, in the list's order, and where each URL is among them.
#[derive(Default)]
struct NewSources {
    sources: Vec<NewSource>,
    positions: std::collections::HashMap<String, usize>,
}

/// What one feed of a list adds to `new`.
fn import_one(file: &ConfigFile, new: &mut NewSources, feed: &opml::OpmlFeed) -> Outcome {
    let refused = |reason: String| Outcome::Refused {
        url: feed.url.clone(),
        reason: format!("line {}: {reason}", feed.line),
    };
    // A list's addresses are absolute; a bare name would be read as a file beside the
    // configuration, which no other reader meant.
    if !feed.url.contains("://") {
        return refused("not an absolute URL".into());
    }
    let url = match file.normalise(&feed.url) {
        Ok(url) => url,
        Err(reason) => return refused(reason),
    };
    if file.position(&url).is_some() {
        return Outcome::Skipped { url };
    }
    if let Some(earlier) = new.positions.get(&url).map(|&at| &mut new.sources[at]) {
        // Feedly and others list a feed once per category it is filed under.
        for tag in &feed.tags {
            if !earlier.tags.contains(tag) {
                earlier.tags.push(tag.clone());
            }
        }
        return Outcome::Repeated {
            url,
            tags: earlier.tags.clone(),
        };
    }
    let name = feed.title.clone().filter(|t| *t != feed.url && *t != url);
    new.positions.insert(url.clone(), new.sources.len());
    new.sources.push(NewSource {
        url: url.clone(),
        name: name.clone(),
        tags: feed.tags.clone(),
        allow_private: false,
    });
    Outcome::Added {
        url,
        name,
        tags: feed.tags.clone(),
    }
}

/// `gleaner export-opml`: the configured sources, with their names and tags, as OPML 2.0.
pub fn export_opml(config: &Config) -> String {
    let sources: Vec<ListedSource> = config
        .sources
        .iter()
        .map(|s| ListedSource {
            url: s.url.clone(),
            name: s.name.clone(),
            tags: s.tags.clone(),
        })
        .collect();
    opml::write("gleaner subscriptions", Utc::now(), &sources)
}

/// What `gleaner add` was asked.
#[derive(Debug, Clone, Default)]
pub struct AddRequest {
    pub url: String,
    pub name: Option<String>,
    pub tags: Vec<String>,
    /// Look for the feed of a web page (autodiscovery, then the common paths).
    pub discover: bool,
    /// The URL (or its feed) may be on a loopback or private address; written as
    /// `allow_private = true`.
    pub allow_private: bool,
}

/// `gleaner add URL`: fetches URL (through the fetcher, with the configured user agent,
/// timeouts and size cap; a non-public address only with `allow_private`); a feed is added as
/// it is, a web page's feed is found (declared by `<link rel="alternate">`, else at a common
/// path). `say` gets each line of what was tried and chosen. Returns the URL added.
pub async fn add(
    config_path: &Path,
    request: &AddRequest,
    mut say: impl FnMut(&str),
) -> anyhow::Result<String> {
    let tags: Vec<String> = request.tags.iter().map(|t| t.trim().to_owned()).collect();
    if let Some(bad) = tags
        .iter()
        .find(|t| t.is_empty() || t.split('/').any(|part| part.trim().is_empty()))
    {
        bail!("--tag {bad:?}: a tag is a name (\"News\"), or names joined by / (\"News/Tech\")");
    }
    let file = ConfigFile::open(config_path)?;
    let requested = file
        .normalise(&request.url)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    refuse_present(&file, &requested)?;
    let (url, title) = if request.discover {
        find_feed(file.config(), &requested, request.allow_private, &mut say).await?
    } else {
        (requested, None)
    };
    // Read again after the fetches (seconds, maybe): an edit made meanwhile is kept.
    let mut file = ConfigFile::open(config_path)?;
    refuse_present(&file, &url)?;
    let name = request
        .name
        .clone()
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty())
        .or(title);
    file.append(&NewSource {
        url: url.clone(),
        name: name.clone(),
        tags,
        allow_private: request.allow_private,
    })
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    file.save()?;
    match name {
        Some(name) => say(&format!(
            "added {url} ({name}) to {}",
            config_path.display()
        )),
        None => say(&format!("added {url} to {}", config_path.display())),
    }
    Ok(url)
}

fn refuse_present(file: &ConfigFile, url: &str) -> anyhow::Result<()> {
    if file.position(url).is_some() {
        bail!(
            "{url} is already in {}: nothing changed",
            file.path().display()
        );
    }
    Ok(())
}

/// The feed at `url` or the one its page leads to, with the feed's title.
async fn find_feed(
    config: &Config,
    url: &str,
    allow_private: bool,
    say: &mut impl FnMut(&str),
) -> anyhow::Result<(String, Option<String>)> {
    let fetcher = crate::daemon::fetcher_of(config)?;
    let politeness = crate::daemon::politeness_of(config);
    let reach = if allow_private {
        Reach::Anywhere
    } else {
        Reach::PublicOnly
    };
    let fetch = |target: String| {
        let fetcher = fetcher.clone();
        let politeness = &politeness;
        let user_agent = config.user_agent.clone();
        async move {
            match fetcher
                .fetch(
                    &target,
                    &Validators::default(),
                    &user_agent,
                    reach,
                    politeness,
                )
                .await
            {
                Ok(Fetched::Body(body)) => Ok(body),
                Ok(Fetched::NotModified { status, .. }) => Err(format!(
                    "HTTP {status} to a request that asked for no such thing"
                )),
                Err(e) if e.class == ErrorClass::PrivateAddress => Err(format!(
                    "{e} (for `gleaner add`: --allow-private, which writes it)"
                )),
                Err(e) => Err(e.to_string()),
            }
        }
    };
    let body = fetch(url.to_owned())
        .await
        .map_err(|e| anyhow::anyhow!("cannot fetch {url}: {e}"))?;
    let final_url = body.meta.final_url(url).to_owned();
    // A feed that moved for good is added at its new address.
    let feed_url = body.meta.permanent_redirect().unwrap_or(url).to_owned();
    let base = (!final_url.starts_with("file:")).then_some(final_url.as_str());
    let not_a_feed = match crate::feed::parse(&body.bytes, body.content_type.as_deref(), base) {
        Ok(feed) => {
            say(&format!("{feed_url} is a feed"));
            return Ok((feed_url, feed.title));
        }
        Err(e) => e,
    };
    if !discover::looks_like_html(body.content_type.as_deref(), &body.bytes) {
        bail!("{url} is neither a feed nor a web page: {not_a_feed}");
    }
    say(&format!("{url} is a web page: looking for its feed"));
    let page = String::from_utf8_lossy(&body.bytes);
    let declared = discover::feed_links(&page, &final_url);
    let candidates: Vec<(String, String)> = if declared.is_empty() {
        say(&format!(
            "the page declares no feed (<link rel=\"alternate\">): trying {}",
            discover::COMMON_PATHS.join(", ")
        ));
        discover::common_feed_urls(&final_url)
            .into_iter()
            .map(|u| (u, "a common feed address".to_owned()))
            .collect()
    } else {
        let listed: Vec<String> = declared
            .iter()
            .map(|l| match &l.title {
                Some(title) => format!("{} ({title}, {})", l.url, l.kind),
                None => format!("{} ({})", l.url, l.kind),
            })
            .collect();
        say(&format!(
            "the page declares {} feed{}: {}",
            declared.len(),
            if declared.len() == 1 { "" } else { "s" },
            listed.join("; ")
        ));
        declared
            .into_iter()
            .map(|l| (l.url, "declared by the page".to_owned()))
            .collect()
    };
    let mut tried = Vec::new();
    for (candidate, why) in candidates {
        match fetch(candidate.clone()).await {
            Ok(body) => {
                let final_url = body.meta.final_url(&candidate).to_owned();
                match crate::feed::parse(
                    &body.bytes,
                    body.content_type.as_deref(),
                    Some(&final_url),
                ) {
                    Ok(feed) => {
                        let chosen = body
                            .meta
                            .permanent_redirect()
                            .unwrap_or(&candidate)
                            .to_owned();
                        say(&format!("chose {chosen}: {why}, the first that is a feed"));
                        return Ok((chosen, feed.title));
                    }
                    Err(e) => tried.push(format!("{candidate}: {e}")),
                }
            }
            Err(e) => tried.push(format!("{candidate}: {e}")),
        }
    }
    bail!(
        "no feed found for {url}: {}; give the feed's own address",
        if tried.is_empty() {
            "nothing to try".to_owned()
        } else {
            tried.join("; ")
        }
    )
}

/// What `pause` and `resume` do to a source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pause {
    Pause,
    Resume,
}

/// `gleaner remove SOURCE`: takes the source's table out of the configuration (its comments
/// with it). The database keeps its articles; the daemon marks it `removed`. Returns the
/// message to print.
pub async fn remove(
    config_path: &Path,
    database: &Database,
    which: &str,
) -> anyhow::Result<String> {
    let mut file = ConfigFile::open(config_path)?;
    let position = locate(&file, database, which).await?;
    let url = file.config().sources[position].url.clone();
    file.remove(position).map_err(|e| anyhow::anyhow!("{e}"))?;
    file.save()?;
    Ok(format!(
        "removed {url} from {} (its articles stay in the database): {PICKUP}",
        config_path.display()
    ))
}

/// `gleaner pause SOURCE` / `gleaner resume SOURCE`: sets or takes away `paused = true` on the
/// source's table. Returns the message to print.
pub async fn set_paused(
    config_path: &Path,
    database: &Database,
    which: &str,
    action: Pause,
) -> anyhow::Result<String> {
    let mut file = ConfigFile::open(config_path)?;
    let position = locate(&file, database, which).await?;
    let source = &file.config().sources[position];
    let url = source.url.clone();
    let paused = action == Pause::Pause;
    if source.paused == paused {
        return Ok(format!(
            "{url} is already {}: nothing changed",
            if paused { "paused" } else { "not paused" }
        ));
    }
    file.set_paused(position, paused)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    file.save()?;
    if paused {
        return Ok(format!(
            "paused {url}: it is not polled until `gleaner resume`; {PICKUP}"
        ));
    }
    let gone = database_entry(database, &url)
        .await
        .ok()
        .flatten()
        .is_some_and(|(_, status)| status == "gone");
    let mut message = format!("resumed {url}: {PICKUP}");
    if gone {
        // Resuming is the user's word about pausing, not about the server's 410.
        message.push_str(&format!(
            "; it stays `gone` (its server answered 410): `gleaner revive {url}` polls it again"
        ));
    }
    Ok(message)
}

/// The position in the configuration of the source named by `which`: its URL (as the
/// configuration normalises it), or its id in the database.
async fn locate(file: &ConfigFile, database: &Database, which: &str) -> anyhow::Result<usize> {
    let which = which.trim();
    let hint = "give its URL as the configuration has it, or its id as `gleaner sources` lists it";
    if !which.is_empty() && which.bytes().all(|b| b.is_ascii_digit()) {
        let id: i64 = which.parse().context("the id is too large")?;
        let (url, _) = source_of_id(database, id)
            .await?
            .ok_or_else(|| anyhow::anyhow!("no source with id {id} in {database}: {hint}"))?;
        return file.position(&url).ok_or_else(|| {
            anyhow::anyhow!(
                "source {id} ({url}) is not in {}: it was removed already, or the configuration \
                 names it by a URL it has moved from; {hint}",
                file.path().display()
            )
        });
    }
    let url = file.normalise(which).map_err(|e| anyhow::anyhow!("{e}"))?;
    file.position(&url)
        .ok_or_else(|| anyhow::anyhow!("no source {url} in {}: {hint}", file.path().display()))
}

/// The sources as the database lists them: the one place these commands read it.
async fn database_sources(database: &Database) -> anyhow::Result<Vec<SourceStatus>> {
    let catalog = crate::store::database::catalog(database).await?;
    Ok(catalog.sources().await?)
}

/// The URL and status of the source with `id`, as the database lists it.
async fn source_of_id(database: &Database, id: i64) -> anyhow::Result<Option<(String, String)>> {
    Ok(database_sources(database)
        .await?
        .into_iter()
        .find(|s| s.id == id)
        .map(|s| (s.url, s.status)))
}

/// The id and status of the source with `url`, when the database has it.
async fn database_entry(database: &Database, url: &str) -> anyhow::Result<Option<(i64, String)>> {
    Ok(database_sources(database)
        .await?
        .into_iter()
        .find(|s| s.url == url)
        .map(|s| (s.id, s.status)))
}
