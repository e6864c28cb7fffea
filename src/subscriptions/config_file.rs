//! Editing the configuration file in place, for the commands that manage sources (`import`,
//! `add`, `remove`, `pause`, `resume`): the file stays the one source of truth, so these change
//! only the `[[sources]]` tables they mean to, keep every comment and the layout of the rest
//! (`toml_edit`), check the result as the daemon would (`Config::parse`) and replace the file
//! atomically. A running daemon notices the new file and reloads it.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use toml_edit::{Array, ArrayOfTables, DocumentMut, Item, Table, value};

use crate::config::{Config, normalise_source_url};

/// A source to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSource {
    /// Written as given: an absolute URL (or a path, kept as the user wrote it).
    pub url: String,
    pub name: Option<String>,
    pub tags: Vec<String>,
    pub allow_private: bool,
}

/// Why the file cannot be edited or written. Nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    #[error("{0}")]
    Config(#[from] crate::config::ConfigError),
    #[error("{path}: {message}")]
    Unusable { path: PathBuf, message: String },
    #[error("{path}: cannot write the configuration: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The configuration file, read and being edited.
pub struct ConfigFile {
    path: PathBuf,
    original: String,
    document: DocumentMut,
    /// The normalised URL of each `[[sources]]` table, in the document's order (the order
    /// `Config::sources` has): what sources are found by.
    urls: Vec<String>,
    /// Each URL's position in `urls`: a list of thousands is looked up thousands of times.
    positions: HashMap<String, usize>,
    /// Where the next appended table goes: after every table the document has.
    end_position: isize,
    config: Config,
}

impl ConfigFile {
    /// Reads the file at `path`, which must be a valid configuration already: an edit never
    /// makes a broken file worse, and never hides its mistake.
    pub fn open(path: &Path) -> Result<ConfigFile, EditError> {
        let original = std::fs::read_to_string(path).map_err(|e| EditError::Unusable {
            path: path.to_owned(),
            message: format!("cannot read the configuration: {e}"),
        })?;
        ConfigFile::from_text(path, original)
    }

    /// As [`ConfigFile::open`], for `text` as if read from `path`.
    pub fn from_text(path: &Path, text: String) -> Result<ConfigFile, EditError> {
        let config = Config::parse(&text, path)?;
        let document: DocumentMut = text.parse().map_err(|e| EditError::Unusable {
            path: path.to_owned(),
            message: format!("cannot be edited: {e}"),
        })?;
        let end_position = last_position(document.as_table()) + 1;
        let urls: Vec<String> = config.sources.iter().map(|s| s.url.clone()).collect();
        let mut file = ConfigFile {
            path: path.to_owned(),
            positions: positions_of(&urls),
            urls,
            end_position,
            original: text,
            document,
            config,
        };
        // Sources written as an inline array (`sources = [{ url = ... }]`) cannot take a
        // table; they are rare enough that a clear refusal beats a rewrite of the user's style.
        if !file.urls.is_empty() {
            file.tables().map_err(|message| EditError::Unusable {
                path: path.to_owned(),
                message,
            })?;
        }
        Ok(file)
    }

    /// The configuration as it was read.
    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The URL the database knows the source `raw` by (see [`normalise_source_url`]).
    pub fn normalise(&self, raw: &str) -> Result<String, String> {
        normalise_source_url(raw, &self.path)
    }

    /// The position among the sources of the one whose normalised URL is `url`.
    pub fn position(&self, url: &str) -> Option<usize> {
        self.positions.get(url).copied()
    }

    /// Appends a `[[sources]]` table after the last table of the file, leaving every byte
    /// before it as it was. Fails when the URL is not one the configuration accepts.
    pub fn append(&mut self, source: &NewSource) -> Result<(), String> {
        let normalised = self.normalise(&source.url)?;
        let mut table = Table::new();
        table.insert("url", value(source.url.as_str()));
        if let Some(name) = &source.name {
            table.insert("name", value(name.as_str()));
        }
        if !source.tags.is_empty() {
            table.insert("tags", value(Array::from_iter(source.tags.iter())));
        }
        if source.allow_private {
            table.insert("allow_private", value(true));
        }
        // A blank line before each new table, as the shipped configuration has them.
        table.decor_mut().set_prefix("\n");
        table.set_position(Some(self.end_position));
        self.end_position += 1;
        match self.document.get_mut("sources") {
            None => {
                let mut tables = ArrayOfTables::new();
                tables.push(table);
                self.document.insert("sources", Item::ArrayOfTables(tables));
            }
            Some(_) => self.tables()?.push(table),
        }
        self.positions.insert(normalised.clone(), self.urls.len());
        self.urls.push(normalised);
        Ok(())
    }

    /// Removes the source at `position`, with its comments (those above its header).
    pub fn remove(&mut self, position: usize) -> Result<(), String> {
        let tables = self.tables()?;
        if position >= tables.len() {
            return Err(format!("no source at position {position}"));
        }
        tables.remove(position);
        if tables.is_empty() {
            self.document.remove("sources");
        }
        self.urls.remove(position);
        self.positions = positions_of(&self.urls);
        Ok(())
    }

    /// Sets `paused = true` on the source at `position`, or takes the key away (the default,
    /// not polled when false), leaving its other keys and comments as they are.
    pub fn set_paused(&mut self, position: usize, paused: bool) -> Result<(), String> {
        let table = self
            .tables()?
            .get_mut(position)
            .ok_or_else(|| format!("no source at position {position}"))?;
        if paused {
            table.insert("paused", value(true));
        } else {
            table.remove("paused");
        }
        Ok(())
    }

    /// The edited text.
    pub fn text(&self) -> String {
        self.document.to_string()
    }

    /// Whether the edits changed anything.
    pub fn changed(&self) -> bool {
        self.text() != self.original
    }

    /// Checks the edited text as the daemon would read it, then replaces the file with it
    /// atomically (a temporary file beside it, flushed, then renamed over it, with the
    /// original's permissions): the file is always either the old configuration or the new
    /// one, never half of it. Returns the new configuration.
    pub fn save(&self) -> Result<Config, EditError> {
        let text = self.text();
        let config = Config::parse(&text, &self.path)?;
        write_atomically(&self.path, text.as_bytes()).map_err(|source| EditError::Write {
            path: self.path.clone(),
            source,
        })?;
        Ok(config)
    }

    /// The `[[sources]]` tables.
    fn tables(&mut self) -> Result<&mut ArrayOfTables, String> {
        self.document
            .get_mut("sources")
            .and_then(Item::as_array_of_tables_mut)
            .ok_or_else(|| {
                "`sources` is written as an inline array: write each source as a [[sources]] \
                 table to let gleaner edit them"
                    .to_owned()
            })
    }
}

fn positions_of(urls: &[String]) -> HashMap<String, usize> {
    urls.iter()
        .enumerate()
        .map(|(at, url)| (url.clone(), at))
        .collect()
}

/// The greatest position of a table in `table` (itself and every table under it): a new table
/// placed after it is written last.
fn last_position(table: &Table) -> isize {
    let mut at = table.position().unwrap_or(0);
    for (_, item) in table.iter() {
        match item {
            Item::Table(t) => at = at.max(last_position(t)),
            Item::ArrayOfTables(ts) => {
                for t in ts.iter() {
                    at = at.max(last_position(t));
                }
            }
            _ => {}
        }
    }
    at
}

/// Replaces `path` by `bytes` through a temporary file in the same folder (a rename is atomic
/// within one file system), keeping the original's permissions. A link is followed, so the
/// file it points to is replaced, not the link.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let target = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
    let folder = target
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut name = target.file_name().unwrap_or_default().to_owned();
    name.push(format!(".gleaner-{}.tmp", std::process::id()));
    let temporary = folder.join(name);
    let written = (|| {
        let mut file = std::fs::File::create(&temporary)?;
        if let Ok(meta) = std::fs::metadata(&target) {
            file.set_permissions(meta.permissions())?;
            // Kept when allowed (root editing a service's file); otherwise the file is the
            // editor's own, as any editor would leave it.
            use std::os::unix::fs::MetadataExt;
            let _ = std::os::unix::fs::chown(&temporary, Some(meta.uid()), Some(meta.gid()));
        }
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temporary, &target)?;
        // The rename itself is durable once the folder is.
        if let Ok(dir) = std::fs::File::open(folder) {
            let _ = dir.sync_all();
        }
        Ok(())
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = "# gleaner's configuration\ndatabase = \"g.db\" # beside this file\n\n\
        [[sources]]\n# the sample\nurl = \"https://example.org/feed.xml\" # keep me\nname = \"Example\"\n\n\
        # a comment before the second\n[[sources]]\nurl = \"https://two.example/rss\"\n\n\
        [hosts.\"example.org\"]\nper_host = 1 # gentle\n";

    fn open(text: &str) -> ConfigFile {
        ConfigFile::from_text(Path::new("/etc/gleaner/gleaner.toml"), text.to_owned()).unwrap()
    }

    fn new(url: &str) -> NewSource {
        NewSource {
            url: url.into(),
            name: Some("New \"one\"".into()),
            tags: vec!["News".into(), "News/Tech".into()],
            allow_private: false,
        }
    }

    #[test]
    fn appending_keeps_every_byte_before_it() {
        let mut file = open(CONFIG);
        file.append(&new("https://new.example/atom.xml")).unwrap();
        let text = file.text();
        assert!(text.starts_with(CONFIG), "{text}");
        assert_eq!(
            &text[CONFIG.len()..],
            "\n[[sources]]\nurl = \"https://new.example/atom.xml\"\nname = 'New \"one\"'\n\
             tags = [\"News\", \"News/Tech\"]\n"
        );
        let config = Config::parse(&text, file.path()).unwrap();
        assert_eq!(config.sources.len(), 3);
        assert_eq!(config.sources[2].tags, ["News", "News/Tech"]);
        assert_eq!(config.sources[2].name.as_deref(), Some("New \"one\""));
        assert_eq!(config.hosts["example.org"].per_host, 1);
    }

    #[test]
    fn appending_to_a_file_without_sources() {
        let mut file = open("# nothing yet\ninterval = \"1h\"\n");
        file.append(&new("https://a.example/feed")).unwrap();
        file.append(&new("https://b.example/feed")).unwrap();
        let text = file.text();
        assert!(
            text.starts_with("# nothing yet\ninterval = \"1h\"\n"),
            "{text}"
        );
        let config = Config::parse(&text, file.path()).unwrap();
        assert_eq!(config.sources.len(), 2);
        assert_eq!(file.position("https://b.example/feed"), Some(1));
    }

    #[test]
    fn removing_takes_the_table_and_its_comment_only() {
        let mut file = open(CONFIG);
        let at = file.position("https://two.example/rss").unwrap();
        file.remove(at).unwrap();
        let text = file.text();
        assert!(
            !text.contains("two.example") && !text.contains("before the second"),
            "{text}"
        );
        assert!(
            text.starts_with(&CONFIG[..CONFIG.find("\n# a comment").unwrap()]),
            "{text}"
        );
        assert!(
            text.ends_with("[hosts.\"example.org\"]\nper_host = 1 # gentle\n"),
            "{text}"
        );
        assert_eq!(Config::parse(&text, file.path()).unwrap().sources.len(), 1);
        // The last one too: no `sources` left at all.
        file.remove(0).unwrap();
        assert!(!file.text().contains("[[sources]]"));
        assert!(file.remove(0).is_err());
    }

    #[test]
    fn pausing_and_resuming_touch_one_key() {
        let mut file = open(CONFIG);
        file.set_paused(0, true).unwrap();
        let paused = file.text();
        assert!(
            paused.contains("name = \"Example\"\npaused = true\n"),
            "{paused}"
        );
        assert!(paused.contains("# keep me"), "{paused}");
        let config = Config::parse(&paused, file.path()).unwrap();
        assert!(config.sources[0].paused && !config.sources[1].paused);
        file.set_paused(0, false).unwrap();
        assert_eq!(file.text(), CONFIG);
        assert!(!file.changed());
    }

    #[test]
    fn sources_are_found_by_their_normalised_url() {
        let file = open(
            "[[sources]]\nurl = \"HTTPS://Example.ORG\"\n[[sources]]\nurl = \"feeds/a.xml\"\n",
        );
        assert_eq!(
            file.position(&file.normalise("https://example.org/").unwrap()),
            Some(0)
        );
        assert_eq!(
            file.position(&file.normalise("https://example.org").unwrap()),
            Some(0)
        );
        assert_eq!(
            file.position(&file.normalise("/etc/gleaner/feeds/a.xml").unwrap()),
            Some(1)
        );
        assert_eq!(
            file.position(&file.normalise("https://example.org/x").unwrap()),
            None
        );
    }

    #[test]
    fn inline_sources_are_refused_clearly() {
        let err = ConfigFile::from_text(
            Path::new("/etc/gleaner/gleaner.toml"),
            "sources = [{ url = \"https://a.example/f\" }]\n".into(),
        )
        .err()
        .unwrap();
        assert!(err.to_string().contains("[[sources]] table"), "{err}");
    }

    #[test]
    fn a_bad_edit_is_never_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gleaner.toml");
        std::fs::write(&path, CONFIG).unwrap();
        let mut file = ConfigFile::open(&path).unwrap();
        // The URL check happens before anything changes.
        assert!(file.append(&new("ftp://x.example/feed")).is_err());
        // A tag the configuration refuses makes `save` fail and leaves the file as it was.
        let mut bad = new("https://c.example/feed");
        bad.tags = vec!["  ".into()];
        file.append(&bad).unwrap();
        let err = file.save().unwrap_err();
        assert!(err.to_string().contains("tags"), "{err}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), CONFIG);
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temporary file left"
        );
    }

    #[test]
    fn saving_replaces_the_file_and_keeps_its_permissions() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gleaner.toml");
        std::fs::write(&path, CONFIG).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        let mut file = ConfigFile::open(&path).unwrap();
        file.append(&new("https://c.example/feed")).unwrap();
        let config = file.save().unwrap();
        assert_eq!(config.sources.len(), 3);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), file.text());
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
