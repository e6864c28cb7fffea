//! The README's promises about the database, checked on the sample database it describes: the
//! shipped configuration polled once by the real binary. Every example query of the README,
//! run with the real `sqlite3` shell, returns a row (or says that the sample has none), and
//! Datasette finds the full-text index.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{Workspace, gleaner, stderr, stdout};

/// Ends the comment of a README query that can return no row on the sample database (it has
/// no edits and no near-duplicates); such a query must still run, and must find nothing there.
const NONE_IN_THE_SAMPLE: &str = "(none in the sample)";

/// The shipped configuration polled once into a new database in `ws`, as the README's sample.
/// Its public feeds fail as they do offline (the README's sample): every request goes to a
/// proxy on a loopback port where nothing listens, so the test never leaves this machine.
fn sample_database(ws: &Workspace) -> PathBuf {
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let proxy = format!("http://127.0.0.1:{closed_port}");
    let db = ws.db();
    let output = gleaner()
        .args(["once", "--config"])
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/config/gleaner.toml"))
        .arg("--database")
        .arg(&db)
        .env("HTTPS_PROXY", &proxy)
        .env("HTTP_PROXY", &proxy)
        .env_remove("NO_PROXY")
        .env_remove("no_proxy")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let summary = stdout(&output);
    assert!(summary.contains("ok     Sample: 1 new"), "{summary}");
    assert_eq!(summary.matches("error  ").count(), 3, "{summary}");
    db
}

/// Runs `sql` with the real sqlite3 shell, as a user would, and returns its rows.
fn sqlite3_rows(db: &Path, sql: &str) -> Vec<serde_json::Value> {
    let mut child = Command::new("sqlite3")
        .args(["-bail", "-json"])
        .arg(db)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the sqlite3 program (Debian package sqlite3) is needed by this test");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(sql.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success() && output.stderr.is_empty(),
        "sqlite3 failed on\n{sql}\n{}",
        stderr(&output)
    );
    let text = stdout(&output);
    if text.trim().is_empty() {
        return Vec::new(); // the JSON mode prints nothing for no row
    }
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// Every statement of the README's ```sql blocks, each with the comment above it.
fn readme_queries(readme: &str) -> Vec<String> {
    let mut queries = Vec::new();
    let mut current = String::new();
    let mut in_sql = false;
    for line in readme.lines() {
        if !in_sql {
            in_sql = line.trim() == "```sql";
            continue;
        }
        if line.trim() == "```" {
            assert!(current.trim().is_empty(), "no `;` after:\n{current}");
            in_sql = false;
            continue;
        }
        if current.is_empty() && line.trim().is_empty() {
            continue;
        }
        current.push_str(line);
        current.push('\n');
        if line.trim_end().ends_with(';') {
            queries.push(std::mem::take(&mut current));
        }
    }
    queries
}

#[test]
fn every_readme_query_returns_a_row_on_the_sample_database() {
    let ws = Workspace::new();
    let db = sample_database(&ws);
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let queries = readme_queries(&readme);
    assert!(queries.len() >= 9, "{queries:#?}");
    let mut marked = 0;
    for query in &queries {
        let rows = sqlite3_rows(&db, query);
        if query.contains(NONE_IN_THE_SAMPLE) {
            marked += 1;
            assert!(
                rows.is_empty(),
                "marked as finding nothing, but found {rows:?}:\n{query}"
            );
        } else {
            assert!(!rows.is_empty(), "no row on the sample database:\n{query}");
        }
    }
    assert!(
        marked <= 2,
        "most queries must show something on the sample"
    );
}

#[test]
fn the_readme_key_is_the_sample_article_and_search_finds_it() {
    let ws = Workspace::new();
    let db = sample_database(&ws);
    let rows = sqlite3_rows(
        &db,
        "SELECT a.key FROM articles_fts JOIN articles a ON a.id = articles_fts.rowid
         WHERE articles_fts MATCH 'reznikov AND bakhmut';",
    );
    assert_eq!(rows.len(), 1, "{rows:?}");
    let key = rows[0]["key"].as_str().unwrap().to_owned();
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    assert!(
        readme.contains(&format!("WHERE key = '{key}'")),
        "the README's example key is not the sample's {key}"
    );
}

#[test]
fn datasette_finds_the_full_text_index() {
    let ws = Workspace::new();
    let db = sample_database(&ws);
    // Datasette's own test (`detect_fts_sql` in datasette/utils) for the table `articles`.
    let detected = sqlite3_rows(
        &db,
        r#"SELECT name FROM sqlite_master WHERE rootpage = 0 AND (
               sql LIKE '%VIRTUAL TABLE%USING FTS%content="articles"%'
               OR sql LIKE '%VIRTUAL TABLE%USING FTS%content=[articles]%'
               OR (tbl_name = 'articles' AND sql LIKE '%VIRTUAL TABLE%USING FTS%'));"#,
    );
    assert_eq!(detected, vec![serde_json::json!({"name": "articles_fts"})]);
    // And the search Datasette then runs: MATCH on the index, joined back by rowid.
    let found = sqlite3_rows(
        &db,
        "SELECT a.title FROM articles a WHERE a.id IN
             (SELECT rowid FROM articles_fts WHERE articles_fts MATCH 'troops');",
    );
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0]["title"].as_str().unwrap().contains("Troops"),
        "{found:?}"
    );
}

#[test]
fn the_readme_search_examples_find_the_sample_article() {
    let ws = Workspace::new();
    let db = sample_database(&ws);
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let block = readme
        .split("## Searching\n\n```sh\n")
        .nth(1)
        .and_then(|rest| rest.split("\n```").next())
        .expect("the README's Searching examples");
    let examples: Vec<&str> = block
        .lines()
        .filter(|l| l.starts_with("gleaner "))
        .collect();
    assert!(examples.len() >= 7, "{examples:?}");
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/config/gleaner.toml");
    for example in examples {
        let command = example.split(" #").next().unwrap().trim();
        // The shell reads the quotes, as it would for the reader.
        let output = Command::new("sh")
            .arg("-c")
            .arg(format!("\"$GLEANER\" {}", &command["gleaner ".len()..]))
            .env("GLEANER", env!("CARGO_BIN_EXE_gleaner"))
            .env("GLEANER_CONFIG", config)
            .env("GLEANER_DATABASE", &db)
            .env_remove("GLEANER_LOG")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(output.status.success(), "{command}: {}", stderr(&output));
        let text = stdout(&output);
        assert!(text.contains("Troops"), "{command}: {text}");
    }
}
