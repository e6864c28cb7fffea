//! `gleaner search`, `gleaner show`, the `--json` output of `sources`, `search` and `once`, and
//! the progress bar, through the real binary: real feeds (tests/fixtures/real-feeds) served on
//! loopback, polled by `gleaner once` into SQLite and into a throwaway PostgreSQL.

mod common;

use std::path::Path;
use std::process::Output;

use common::postgres::Cluster;
use common::{Reply, TestServer, Workspace, fixture, run, stderr, stdout, tagged_feed};
use serde_json::Value;

/// Real feeds of several shapes; Daring Fireball's post "Virgin Mobile Partners With Apple..."
/// is the only one that says "utterly dependent".
const FEEDS: &[(&str, &str)] = &[
    ("DaringFireball.atom", "application/atom+xml"),
    ("atp.rss", "application/rss+xml"),
    ("bio.rdf", "application/rdf+xml"),
    ("allthis.json", "application/feed+json"),
    ("aktuality.rss", "application/rss+xml"),
];

const KNOWN_TITLE: &str = "Virgin Mobile Partners With Apple to Go iPhone-Only With $1 Service";

/// A workspace whose configuration names the real feeds, served by `server`, plus one source
/// that answers 404.
fn workspace(server: &TestServer) -> Workspace {
    let mut sources = Vec::new();
    for (file, content_type) in FEEDS {
        let path = format!("/{file}");
        let body = std::fs::read(fixture(&format!("real-feeds/{file}"))).unwrap();
        server.route(&path, Reply::feed(body).with_content_type(content_type));
        sources.push((file.to_string(), server.url(&path)));
    }
    sources.push(("missing".to_string(), server.url("/missing.xml")));
    let ws = Workspace::new();
    let named: Vec<(&str, &str)> = sources
        .iter()
        .map(|(n, u)| (n.as_str(), u.as_str()))
        .collect();
    ws.write_config("full_text = \"never\"", &named);
    ws
}

/// `gleaner --config WS [--database DB] ARGS`.
fn gleaner_in(ws: &Workspace, database: Option<&str>, args: &[&str]) -> Output {
    let config = ws.config();
    let mut all = vec!["--config", config.to_str().unwrap()];
    if let Some(database) = database {
        all.extend(["--database", database]);
    }
    all.extend_from_slice(args);
    let output = run(&all);
    assert_no_escapes(&output);
    output
}

fn ok(output: Output) -> String {
    assert!(output.status.success(), "failed: {}", stderr(&output));
    stdout(&output)
}

/// Piped output never holds a terminal control sequence (no bar, no colour).
fn assert_no_escapes(output: &Output) {
    for (name, bytes) in [("stdout", &output.stdout), ("stderr", &output.stderr)] {
        assert!(
            !bytes.contains(&0x1b) && !bytes.contains(&b'\r'),
            "control characters in piped {name}: {:?}",
            String::from_utf8_lossy(bytes)
        );
    }
}

/// Every line of `text` as a JSON object.
fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|line| {
            let value: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
            assert!(value.is_object(), "{line}");
            value
        })
        .collect()
}

fn search_json(ws: &Workspace, database: Option<&str>, args: &[&str]) -> Vec<Value> {
    let mut all = vec!["search", "--json"];
    all.extend_from_slice(args);
    json_lines(&ok(gleaner_in(ws, database, &all)))
}

/// The export of `ws`'s database, by key.
fn exported(ws: &Workspace, database: Option<&str>, name: &str) -> Vec<(String, Vec<u8>)> {
    let dir = ws.path(name);
    ok(gleaner_in(
        ws,
        database,
        &["export", "--out", dir.to_str().unwrap()],
    ));
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().into_owned();
            let key = name.split_once('_').unwrap().1.trim_end_matches(".txt");
            (key.to_owned(), std::fs::read(e.path()).unwrap())
        })
        .collect();
    files.sort();
    files
}

/// `once --json`: one object per polled source, as each finishes, with the documented fields.
fn once_json(ws: &Workspace, database: Option<&str>) -> Vec<Value> {
    let polls = json_lines(&ok(gleaner_in(ws, database, &["once", "--json"])));
    assert_eq!(polls.len(), FEEDS.len() + 1, "{polls:#?}");
    for poll in &polls {
        for field in [
            "source_id",
            "source",
            "url",
            "outcome",
            "new",
            "updated",
            "items",
        ] {
            assert!(poll.get(field).is_some(), "{field} in {poll}");
        }
    }
    let missing = polls.iter().find(|p| p["source"] == "missing").unwrap();
    assert_eq!(missing["outcome"], "error", "{missing}");
    assert!(
        missing["error"].as_str().unwrap().contains("404"),
        "{missing}"
    );
    let fireball = polls
        .iter()
        .find(|p| p["source"] == "DaringFireball.atom")
        .unwrap();
    assert_eq!(fireball["outcome"], "ok", "{fireball}");
    assert!(fireball["error"].is_null());
    assert!(fireball["new"].as_u64().unwrap() > 10, "{fireball}");
    assert_eq!(fireball["new"], fireball["items"]);
    polls
}

/// What both engines must agree on: the known phrase found first, with its snippet; filters,
/// limits and `show`. Returns the known article's key.
fn check_search(ws: &Workspace, database: Option<&str>) -> String {
    // Text output: a header line, then the indented snippet with the matches marked.
    let text = ok(gleaner_in(
        ws,
        database,
        &["search", "\"utterly dependent\""],
    ));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "one hit:\n{text}");
    let key = lines[0].split("  ").next().unwrap().to_owned();
    assert_eq!(key.len(), 16, "{text}");
    assert!(lines[0].contains(KNOWN_TITLE), "{text}");
    assert!(lines[0].ends_with("(DaringFireball.atom)"), "{text}");
    assert!(lines[1].starts_with("    "), "{text}");
    assert!(lines[1].contains("[utterly"), "the match marked: {text}");

    // Words in any order, any case: the same article first among several.
    let hits = search_json(ws, database, &["Dependent", "virgin", "mobile"]);
    assert_eq!(hits[0]["key"], key.as_str(), "{hits:#?}");
    for field in [
        "key",
        "date",
        "title",
        "source",
        "source_url",
        "rank",
        "snippet",
    ] {
        assert!(hits[0].get(field).is_some(), "{field} in {}", hits[0]);
    }
    assert!(
        hits[0]["source_url"]
            .as_str()
            .unwrap()
            .starts_with("http://127.0.0.1:")
    );

    // Best first; the default limit of 20 and --limit.
    let apple = search_json(ws, database, &["apple"]);
    assert_eq!(apple.len(), 20, "more than 20 articles name Apple");
    let ranks: Vec<f64> = apple.iter().map(|h| h["rank"].as_f64().unwrap()).collect();
    assert!(ranks.windows(2).all(|w| w[0] >= w[1]), "{ranks:?}");
    assert_eq!(
        search_json(ws, database, &["apple", "--limit", "3"]).len(),
        3
    );
    let all_apple = search_json(ws, database, &["apple", "--limit", "1000"]);
    assert!(all_apple.len() > 20);

    // --source by name, id and URL: only that source's articles.
    let atp = search_json(
        ws,
        database,
        &["apple", "--source", "atp.rss", "--limit", "1000"],
    );
    assert!(!atp.is_empty() && atp.len() < all_apple.len());
    assert!(atp.iter().all(|h| h["source"] == "atp.rss"), "{atp:#?}");
    let atp_url = atp[0]["source_url"].as_str().unwrap().to_owned();
    let listed = json_lines(&ok(gleaner_in(ws, database, &["sources", "--json"])));
    let atp_id = listed.iter().find(|s| s["name"] == "atp.rss").unwrap()["id"].to_string();
    for by in [atp_id.as_str(), atp_url.as_str()] {
        let same = search_json(ws, database, &["apple", "--source", by, "--limit", "1000"]);
        assert_eq!(same.len(), atp.len(), "--source {by}");
    }
    let unknown = gleaner_in(ws, database, &["search", "apple", "--source", "nope"]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(
        stderr(&unknown).contains("no source \"nope\""),
        "{}",
        stderr(&unknown)
    );

    // --since: only articles dated that day or later.
    let since = "2018-06-01";
    let recent = search_json(
        ws,
        database,
        &["apple", "--since", since, "--limit", "1000"],
    );
    assert!(!recent.is_empty() && recent.len() < all_apple.len());
    assert!(
        recent.iter().all(|h| h["date"].as_str().unwrap() >= since),
        "{recent:#?}"
    );

    // Exclusion and prefix.
    let excluded = search_json(ws, database, &["apple -podcast", "--limit", "1000"]);
    assert!(excluded.len() < all_apple.len());
    let prefix = search_json(ws, database, &["depend*", "virgin"]);
    assert_eq!(prefix[0]["key"], key.as_str());

    // Nothing found: a message and exit 1, as grep.
    let none = gleaner_in(ws, database, &["search", "xylophonequartet"]);
    assert_eq!(none.status.code(), Some(1));
    assert!(stdout(&none).is_empty());
    assert!(
        stderr(&none).contains("no article matches"),
        "{}",
        stderr(&none)
    );

    // `show` prints the document exactly as exported, by key or a unique prefix.
    let export = exported(ws, database, &format!("export-{}", database.is_some()));
    let document = &export.iter().find(|(k, _)| *k == key).unwrap().1;
    for by in [key.as_str(), &key[..8], &key.to_ascii_uppercase()] {
        let shown = gleaner_in(ws, database, &["show", by]);
        assert!(shown.status.success(), "{}", stderr(&shown));
        assert!(
            shown.stdout == *document,
            "show {by} differs from the export"
        );
    }
    let missing = gleaner_in(ws, database, &["show", "0000000000000000"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(stderr(&missing).contains("no article 0000000000000000"));
    key
}

#[test]
fn search_show_and_json_on_sqlite() {
    let server = TestServer::start();
    let ws = workspace(&server);
    once_json(&ws, None);
    check_search(&ws, None);

    // `sources --json`: one object a source, with the documented fields.
    let listed = json_lines(&ok(gleaner_in(&ws, None, &["sources", "--json"])));
    assert_eq!(listed.len(), FEEDS.len() + 1);
    for source in &listed {
        for field in [
            "id",
            "url",
            "name",
            "title",
            "status",
            "last_polled_at",
            "next_poll_at",
            "next_poll_reason",
            "consecutive_errors",
            "last_error",
            "articles",
        ] {
            assert!(source.get(field).is_some(), "{field} in {source}");
        }
    }
    let missing = listed.iter().find(|s| s["name"] == "missing").unwrap();
    assert_eq!(missing["articles"], 0);
    assert!(missing["last_error"].as_str().unwrap().contains("404"));
    let atp = listed.iter().find(|s| s["name"] == "atp.rss").unwrap();
    assert_eq!(atp["status"], "active");
    assert!(atp["articles"].as_i64().unwrap() >= 100, "{atp}");
}

#[test]
fn hostile_queries_are_text_never_a_syntax_error() {
    let server = TestServer::start();
    let ws = workspace(&server);
    ok(gleaner_in(&ws, None, &["once"]));
    // Found or not (exit 0 or 1), but never an error of the engine.
    for query in [
        "foo AND",
        "NEAR(",
        "apple OR",
        "a:b",
        "(apple",
        "apple)",
        "\"apple",
        "NOT apple",
        "apple NOT",
        "title:apple",
        "^apple",
        "apple + watch",
        "o'brien",
        "apple -",
        "'; DROP TABLE articles; --",
    ] {
        let output = gleaner_in(&ws, None, &["search", query]);
        let message = stderr(&output);
        assert!(
            output.status.code() == Some(0)
                || (output.status.code() == Some(1) && message.contains("no article matches")),
            "{query:?}: {message}"
        );
    }
    // Operators are words: "near" is found as a word.
    assert!(!search_json(&ws, None, &["NEAR("]).is_empty());
    // Nothing to look for: a usage error (exit 2) that says so.
    for query in ["", "\"", "-", "*", "()", "\"\"", "\\", "-*"] {
        let output = gleaner_in(&ws, None, &["search", "--", query]);
        assert_eq!(output.status.code(), Some(2), "{query:?}");
        assert!(
            stderr(&output).contains("nothing to search for"),
            "{query:?}: {}",
            stderr(&output)
        );
    }
    let output = gleaner_in(&ws, None, &["search", "--", "-apple"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("only words to exclude"));
    // A key that is no key is a usage error too.
    for key in ["abc", "not-hex-at-all", "0123456789abcdef0"] {
        let output = gleaner_in(&ws, None, &["show", key]);
        assert_eq!(output.status.code(), Some(2), "{key}");
        assert!(stderr(&output).contains("is not an article key"), "{key}");
    }
}

#[test]
fn the_same_search_finds_the_same_articles_on_postgresql() {
    let cluster = Cluster::shared();
    let url = cluster.database_url();
    let server = TestServer::start();
    let ws = workspace(&server);
    once_json(&ws, None);
    once_json(&ws, Some(&url));
    let on_sqlite = check_search(&ws, None);
    let on_postgres = check_search(&ws, Some(&url));
    assert_eq!(on_sqlite, on_postgres);
    // The same articles for the same filters (ranks differ: bm25 and ts_rank), except where
    // PostgreSQL's parser reads a dotted name as one word (README "Searching"): `com.apple.dock`
    // is no "apple" there.
    for args in [
        &["apple", "--source", "atp.rss", "--limit", "1000"][..],
        &["apple -podcast", "--since", "2018-01-01", "--limit", "1000"],
        &["\"apple watch\"", "--limit", "1000"],
    ] {
        let keys = |database| {
            let mut keys: Vec<String> = search_json(&ws, database, args)
                .iter()
                .map(|h| h["key"].as_str().unwrap().to_owned())
                .collect();
            keys.sort();
            keys
        };
        let (sqlite, postgres) = (keys(None), keys(Some(&url)));
        assert!(!sqlite.is_empty(), "{args:?}");
        let missing: Vec<&String> = sqlite.iter().filter(|k| !postgres.contains(k)).collect();
        assert!(postgres.iter().all(|k| sqlite.contains(k)), "{args:?}");
        assert!(missing.len() * 20 <= sqlite.len(), "{args:?}: {missing:?}");
    }
    // Hostile text is no tsquery syntax error either.
    for query in [
        "foo AND",
        "NEAR(",
        "o'brien",
        "a:b",
        "(apple",
        "apple & !watch",
        "x <-> y",
    ] {
        let output = gleaner_in(&ws, Some(&url), &["search", query]);
        assert!(
            output.status.success() || stderr(&output).contains("no article matches"),
            "{query:?}: {}",
            stderr(&output)
        );
    }
    let listed = json_lines(&ok(gleaner_in(&ws, Some(&url), &["sources", "--json"])));
    assert_eq!(listed.len(), FEEDS.len() + 1);
}

/// `script` (util-linux) runs `command` with a pseudo-terminal as its stdin, stdout and stderr,
/// and copies what it wrote to its own stdout: what a user at a terminal would see.
fn at_a_terminal(command: &str) -> Output {
    let output = std::process::Command::new("script")
        .args(["-qec", command, "/dev/null"])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("script (util-linux) is needed by this test");
    assert!(output.status.success(), "{}", stderr(&output));
    output
}

fn shell_quote(path: &Path) -> String {
    format!("'{}'", path.to_str().unwrap().replace('\'', "'\\''"))
}

#[test]
fn a_progress_bar_on_a_terminal_and_nothing_in_a_pipe() {
    let server = TestServer::start();
    let tags: Vec<String> = (0..30).map(|i| format!("tag{i:02}")).collect();
    let mut sources = Vec::new();
    for tag in &tags {
        // Slow enough that the bar is drawn before the pass ends.
        server.route(
            &format!("/{tag}"),
            Reply::Slow(
                std::time::Duration::from_millis(150),
                Box::new(tagged_feed(tag)),
            ),
        );
        sources.push((tag.clone(), server.url(&format!("/{tag}"))));
    }
    let named: Vec<(&str, &str)> = sources
        .iter()
        .map(|(n, u)| (n.as_str(), u.as_str()))
        .collect();

    // Piped: each summary line and nothing else (gleaner_in checks for control characters).
    let piped = Workspace::new();
    piped.write_config(
        "full_text = \"never\"\nper_host = 4\nhost_delay = \"0s\"",
        &named,
    );
    let out = ok(gleaner_in(&piped, None, &["once"]));
    assert_eq!(out.lines().count(), tags.len(), "{out}");
    for tag in &tags {
        assert!(
            out.contains(&format!("ok     {tag}: 1 new, 0 updated, 1 items\n")),
            "{out}"
        );
    }
    let exported = gleaner_in(
        &piped,
        None,
        &["export", "--out", piped.path("out").to_str().unwrap()],
    );
    assert!(exported.status.success());
    assert_eq!(
        stderr(&exported),
        format!(
            "gleaner: wrote {} documents to {}\n",
            tags.len(),
            piped.path("out").display()
        )
    );

    // At a terminal: the bar is drawn (and cleared), and every summary line is still whole.
    let tty = Workspace::new();
    tty.write_config(
        "full_text = \"never\"\nper_host = 4\nhost_delay = \"0s\"",
        &named,
    );
    let binary = Path::new(env!("CARGO_BIN_EXE_gleaner"));
    let config = shell_quote(&tty.config());
    let seen = at_a_terminal(&format!("{} --config {config} once", shell_quote(binary)));
    let screen = stdout(&seen);
    assert!(screen.contains("sources polled"), "no bar: {screen:?}");
    assert!(
        screen.contains(&format!("/{}", tags.len())),
        "no total: {screen:?}"
    );
    assert!(screen.contains('\u{1b}'), "{screen:?}");
    for tag in &tags {
        assert!(
            screen.contains(&format!("ok     {tag}: 1 new, 0 updated, 1 items\r\n")),
            "{tag}'s line broken: {screen:?}"
        );
    }
    // --json at a terminal: the objects stay whole lines, the bar apart from them.
    let seen = at_a_terminal(&format!(
        "{} --config {config} once --force --json",
        shell_quote(binary)
    ));
    let screen = stdout(&seen);
    // A line may begin with the codes that wiped the bar; the object itself is whole.
    let objects: Vec<Value> = screen
        .split("\r\n")
        .filter_map(|line| line.find('{').map(|start| &line[start..]))
        .map(|object| serde_json::from_str(object).unwrap_or_else(|e| panic!("{e}: {object:?}")))
        .collect();
    assert!(objects.iter().all(|o| o["outcome"].is_string()));
    let objects = objects.len();
    assert_eq!(objects, tags.len(), "{screen:?}");

    // export draws its bar too.
    let out = shell_quote(&tty.path("out"));
    let seen = at_a_terminal(&format!(
        "{} --config {config} export --out {out}",
        shell_quote(binary)
    ));
    assert!(
        stdout(&seen).contains("documents written"),
        "{:?}",
        stdout(&seen)
    );

    // A pass over few sources draws nothing, even at a terminal.
    let few = Workspace::new();
    few.write_config("full_text = \"never\"", &named[..3]);
    let seen = at_a_terminal(&format!(
        "{} --config {} once",
        shell_quote(binary),
        shell_quote(&few.config())
    ));
    assert!(
        !stdout(&seen).contains("sources polled"),
        "{:?}",
        stdout(&seen)
    );
}
