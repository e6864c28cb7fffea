//! The commands of the real binary: the shipped configuration, export, render, sources, and
//! the clear one-line errors on bad input.

mod common;

use std::io::Write;
use std::process::Stdio;

use common::{Reply, TestServer, Workspace, count, fixture, gleaner, rss, run, stderr, stdout};

fn shipped_config() -> String {
    concat!(env!("CARGO_MANIFEST_DIR"), "/config/gleaner.toml").to_string()
}

#[test]
fn shipped_config_stores_the_sample_article_and_export_writes_the_seed() {
    let ws = Workspace::new();
    let db = ws.db();
    let output = run(&[
        "once",
        "--config",
        &shipped_config(),
        "--database",
        db.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("ok     Sample: 1 new"),
        "{}",
        stdout(&output)
    );

    let out_dir = ws.path("export");
    let output = run(&[
        "export",
        "--out",
        out_dir.to_str().unwrap(),
        "--config",
        &shipped_config(),
        "--database",
        db.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));

    let conn = ws.open_db();
    let key: String = conn
        .query_row("SELECT key FROM articles a JOIN entries e ON e.article_id = a.id JOIN sources s ON s.id = e.source_id WHERE s.name = 'Sample'", [], |r| r.get(0))
        .unwrap();
    // Without a network only the sample is stored, so it is file 000; with one, the real feeds'
    // articles may come first: find the sample's file by its key.
    let files: Vec<String> = std::fs::read_dir(&out_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    let name = files
        .iter()
        .find(|f| f.ends_with(&format!("_{key}.txt")))
        .expect("the sample's file");
    let document = std::fs::read_to_string(out_dir.join(name)).unwrap();
    assert_eq!(document, common::seed_document());
    assert_eq!(document.len(), 3157);
    if count(&conn, "SELECT count(*) FROM articles") == 1 {
        assert_eq!(name, &format!("000_{key}.txt"));
    }
    let stored: String = conn
        .query_row(
            "SELECT document FROM articles WHERE key = ?1",
            [&key],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(stored, document);
}

#[test]
fn export_names_files_by_position_and_key() {
    let server = TestServer::start();
    let items: Vec<(String, String)> = (0..12)
        .map(|i| (format!("g{i}"), format!("https://example.org/{i}")))
        .collect();
    let feed_items: Vec<(&str, &str, &str, &str, &str)> = items
        .iter()
        .map(|(g, l)| {
            (
                g.as_str(),
                l.as_str(),
                "T",
                "Fri, 03 Feb 2023 10:00:00 +0000",
                "<p>b</p>",
            )
        })
        .collect();
    server.route("/f.xml", Reply::feed(rss(&feed_items)));
    let ws = Workspace::new();
    ws.write_config("", &[("f", &server.url("/f.xml"))]);
    ws.once();
    let out = ws.path("out");
    let output = run(&[
        "--config",
        ws.config().to_str().unwrap(),
        "export",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let mut names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names.len(), 12);
    let conn = ws.open_db();
    let keys: Vec<String> = conn
        .prepare("SELECT key FROM articles ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for (i, (name, key)) in names.iter().zip(&keys).enumerate() {
        assert_eq!(name, &format!("{i:03}_{key}.txt"));
        let doc = std::fs::read_to_string(out.join(name)).unwrap();
        let stored: String = conn
            .query_row("SELECT document FROM articles WHERE key = ?1", [key], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(doc, stored);
    }
}

#[test]
fn render_reads_html_on_stdin() {
    let html = std::fs::read(fixture("seed/sample-body.html")).unwrap();
    let mut child = gleaner()
        .args([
            "render",
            "--title",
            "Ukraine Says Russia Mustering 500,000 Troops On Borders For New Major Offensive",
            "--date",
            "2023-02-03",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&html).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), common::seed_document());

    let bad = run(&["render", "--date", "03/02/2023"]);
    assert!(!bad.status.success());
    assert!(stderr(&bad).contains("YYYY-MM-DD"), "{}", stderr(&bad));
}

#[test]
fn sources_lists_status_errors_and_counts() {
    let server = TestServer::start();
    server.route(
        "/ok.xml",
        Reply::feed(rss(&[(
            "a",
            "https://example.org/a",
            "A",
            "Fri, 03 Feb 2023 10:00:00 +0000",
            "<p>a</p>",
        )])),
    );
    server.route("/down.xml", Reply::status(503, "busy"));
    let ws = Workspace::new();
    ws.write_config(
        "",
        &[
            ("Working", &server.url("/ok.xml")),
            ("Down", &server.url("/down.xml")),
        ],
    );
    ws.once();
    // --config after the subcommand, and through the environment.
    let output = gleaner()
        .arg("sources")
        .env("GLEANER_CONFIG", ws.config())
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    let working = text.lines().find(|l| l.ends_with("Working")).expect(&text);
    assert!(
        working.contains("active") && working.contains(" 1 "),
        "{working}"
    );
    let down = text.lines().find(|l| l.ends_with("Down")).expect(&text);
    assert!(down.contains("backoff"), "{down}");
    assert!(text.contains("last error: http_5xx: HTTP 503"), "{text}");
}

#[test]
fn removed_sources_are_marked_and_keep_their_articles() {
    let server = TestServer::start();
    server.route(
        "/a.xml",
        Reply::feed(rss(&[(
            "a",
            "https://example.org/a",
            "A",
            "Fri, 03 Feb 2023 10:00:00 +0000",
            "<p>a</p>",
        )])),
    );
    server.route(
        "/b.xml",
        Reply::feed(rss(&[(
            "b",
            "https://example.org/b",
            "B",
            "Fri, 03 Feb 2023 10:00:00 +0000",
            "<p>b</p>",
        )])),
    );
    let ws = Workspace::new();
    ws.write_config(
        "",
        &[("A", &server.url("/a.xml")), ("B", &server.url("/b.xml"))],
    );
    ws.once();
    ws.write_config("", &[("A", &server.url("/a.xml"))]);
    ws.once();
    let conn = ws.open_db();
    let status: String = conn
        .query_row("SELECT status FROM sources WHERE name = 'B'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(status, "removed");
    assert_eq!(count(&conn, "SELECT count(*) FROM articles"), 2);
    assert_eq!(
        server.seen("/b.xml").len(),
        1,
        "a removed source is not polled"
    );
    ws.write_config(
        "",
        &[("A", &server.url("/a.xml")), ("B", &server.url("/b.xml"))],
    );
    ws.once();
    let status: String = conn
        .query_row("SELECT status FROM sources WHERE name = 'B'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(status, "active");
}

/// Runs a command expected to fail and returns its one-line error.
fn fails(args: &[&str]) -> String {
    let output = run(args);
    assert!(!output.status.success(), "{args:?} should fail");
    let err = stderr(&output);
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "one line expected: {err}"
    );
    assert!(err.starts_with("gleaner: "), "{err}");
    err
}

#[test]
fn bad_input_gets_a_clear_one_line_error() {
    let ws = Workspace::new();
    let missing = ws.path("nope.toml");
    let err = fails(&["--config", missing.to_str().unwrap(), "once"]);
    assert!(
        err.contains("nope.toml") && err.contains("cannot read"),
        "{err}"
    );

    std::fs::write(ws.config(), "interval = \"30m\"\nconcurency = 4\n").unwrap();
    let err = fails(&["--config", ws.config().to_str().unwrap(), "once"]);
    assert!(
        err.contains("gleaner.toml:2:1:") && err.contains("concurency"),
        "{err}"
    );

    std::fs::write(
        ws.config(),
        "[[sources]]\nurl = \"x.xml\"\ninterval = \"often\"\n",
    )
    .unwrap();
    let err = fails(&["--config", ws.config().to_str().unwrap(), "once"]);
    assert!(
        err.contains("gleaner.toml:3:12:") && err.contains("duration"),
        "{err}"
    );

    // A database folder that does not exist.
    std::fs::write(ws.config(), "database = \"no/such/dir/g.db\"\n").unwrap();
    let err = fails(&["--config", ws.config().to_str().unwrap(), "once"]);
    assert!(err.contains("does not exist"), "{err}");

    // Reading commands do not create a database.
    std::fs::write(ws.config(), "").unwrap();
    let err = fails(&["--config", ws.config().to_str().unwrap(), "sources"]);
    assert!(err.contains("does not exist yet"), "{err}");
    assert!(!ws.db().exists());

    // A file that is not a database.
    std::fs::write(
        ws.db(),
        "this is not sqlite, just text long enough to have a header......",
    )
    .unwrap();
    let err = fails(&["--config", ws.config().to_str().unwrap(), "once"]);
    assert!(err.contains("gleaner.db"), "{err}");

    // An export folder that cannot be created.
    std::fs::remove_file(ws.db()).unwrap();
    run(&["--config", ws.config().to_str().unwrap(), "once"]);
    let blocker = ws.path("file");
    std::fs::write(&blocker, "").unwrap();
    let err = fails(&[
        "--config",
        ws.config().to_str().unwrap(),
        "export",
        "--out",
        blocker.join("sub").to_str().unwrap(),
    ]);
    assert!(err.contains("cannot create the folder"), "{err}");
}

#[test]
fn a_database_newer_than_the_binary_is_refused() {
    let ws = Workspace::new();
    std::fs::write(ws.config(), "").unwrap();
    let conn = rusqlite::Connection::open(ws.db()).unwrap();
    conn.pragma_update(None, "user_version", 999).unwrap();
    drop(conn);
    for command in ["once", "sources"] {
        let err = fails(&["--config", ws.config().to_str().unwrap(), command]);
        assert!(err.contains("newer than this gleaner"), "{err}");
    }
    let conn = rusqlite::Connection::open(ws.db()).unwrap();
    assert_eq!(
        count(&conn, "SELECT count(*) FROM sqlite_master"),
        0,
        "nothing was written"
    );
}

/// The file names in `dir`, sorted.
fn names_in(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

#[test]
fn a_re_export_holds_exactly_the_current_articles_and_leaves_other_files() {
    let server = TestServer::start();
    let feed_of = |count: usize| {
        let items: Vec<(String, String)> = (0..count)
            .map(|i| (format!("g{i}"), format!("https://example.org/{i}")))
            .collect();
        let refs: Vec<(&str, &str, &str, &str, &str)> = items
            .iter()
            .map(|(g, l)| {
                let date = "Fri, 03 Feb 2023 10:00:00 +0000";
                (g.as_str(), l.as_str(), "T", date, "<p>b</p>")
            })
            .collect();
        Reply::feed(rss(&refs))
    };
    server.route("/f.xml", feed_of(998));
    let ws = Workspace::new();
    ws.write_config("", &[("f", &server.url("/f.xml"))]);
    ws.once();
    let out = ws.path("out");
    let export = || {
        let output = run(&[
            "--config",
            ws.config().to_str().unwrap(),
            "export",
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(output.status.success(), "{}", stderr(&output));
    };
    export();
    assert_eq!(names_in(&out).len(), 998);
    assert!(names_in(&out)[997].starts_with("997_"));
    // What is not gleaner's export stays: other names, near misses, a folder named like one.
    let foreign_files = [
        "notes.txt",
        "12_0123456789abcdef.txt",
        "000_0123456789ABCDEF.txt",
        "000_0123456789abcdef.txt.bak",
        "000_0123456789abcde.txt",
    ];
    for name in foreign_files {
        std::fs::write(out.join(name), name).unwrap();
    }
    std::fs::create_dir(out.join("001_0123456789abcdef.txt")).unwrap();

    // Three more articles: 1,001 needs four digits, so every name changes.
    server.route("/f.xml", feed_of(1001));
    ws.once();
    export();
    export(); // and again: the same set
    let conn = ws.open_db();
    let keys: Vec<String> = conn
        .prepare("SELECT key FROM articles ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(keys.len(), 1001);
    let mut expected: Vec<String> = keys
        .iter()
        .enumerate()
        .map(|(i, key)| format!("{i:04}_{key}.txt"))
        .chain(foreign_files.iter().map(|n| n.to_string()))
        .chain(["001_0123456789abcdef.txt".to_string()])
        .collect();
    expected.sort();
    assert_eq!(names_in(&out), expected);
    for name in foreign_files {
        assert_eq!(std::fs::read_to_string(out.join(name)).unwrap(), name);
    }
    assert!(out.join("001_0123456789abcdef.txt").is_dir());
}

#[test]
fn a_command_line_mistake_exits_2() {
    for args in [
        &["render", "--date", "15/05/2024"][..],
        &["render", "--date", "2024-02-30"],
        &["render", "--date", ""],
        &["sources", "--no-such-option"],
        &["no-such-command"],
    ] {
        let output = run(args);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            stderr(&output)
        );
        assert!(stdout(&output).is_empty(), "{args:?}");
    }
    let output = run(&["render", "--date", "15/05/2024"]);
    let err = stderr(&output);
    assert!(
        err.contains("\"15/05/2024\" is not a date of the form YYYY-MM-DD"),
        "{err}"
    );
}

#[test]
fn sources_ends_quietly_when_its_reader_goes_away() {
    let ws = Workspace::new();
    // Enough sources (each with its URL and last error on lines of their own) that the list is
    // far larger than a pipe holds: `sources` is still writing when the reader leaves.
    let missing: Vec<(String, String)> = (0..1000)
        .map(|i| {
            let path = ws.path(&format!("missing-{i}.xml"));
            (format!("feed {i}"), path.to_str().unwrap().to_owned())
        })
        .collect();
    let refs: Vec<(&str, &str)> = missing
        .iter()
        .map(|(n, u)| (n.as_str(), u.as_str()))
        .collect();
    ws.write_config("", &refs);
    ws.once();
    let config = ws.config();
    let whole = run(&["--config", config.to_str().unwrap(), "sources"]);
    assert!(whole.status.success(), "{}", stderr(&whole));
    assert!(
        whole.stdout.len() > 256 * 1024,
        "{} bytes",
        whole.stdout.len()
    );

    let mut child = gleaner()
        .args(["--config", config.to_str().unwrap(), "sources"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut reader = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    std::io::BufRead::read_line(&mut reader, &mut first).unwrap();
    assert!(first.starts_with("  ID  STATUS"), "{first}");
    drop(reader); // as `head -1` does
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(output.stderr.is_empty(), "{}", stderr(&output));
}

#[test]
fn render_ends_quietly_when_its_reader_goes_away() {
    let mut child = gleaner()
        .args(["render", "--title", "T", "--date", "2024-05-15"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // closed before anything is written
    let html = "<p>A paragraph of the body.</p>".repeat(10_000);
    child
        .stdin
        .take()
        .unwrap()
        .write_all(html.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(output.stderr.is_empty(), "{}", stderr(&output));
}

#[test]
fn a_web_address_without_its_scheme_or_a_huge_duration_is_refused_at_start() {
    let ws = Workspace::new();
    let config = ws.config();
    let config = config.to_str().unwrap();
    ws.write_config("", &[("typo", "example.org/feed.xml")]);
    let err = fails(&["--config", config, "once"]);
    assert!(
        err.contains("gleaner.toml:6:7: `url` \"example.org/feed.xml\"")
            && err.contains("did you mean https://example.org/feed.xml?"),
        "{err}"
    );
    ws.write_config("", &[("typo", "https//example.org/feed")]);
    let err = fails(&["--config", config, "once"]);
    assert!(
        err.contains("did you mean https://example.org/feed?"),
        "{err}"
    );
    ws.write_config("interval = \"1000000000w\"", &[]);
    let err = fails(&["--config", config, "once"]);
    assert!(
        err.contains("gleaner.toml:2:12: `interval` = \"1000000000w\" is too long: at most 365d"),
        "{err}"
    );
    assert!(!ws.db().exists(), "nothing was started");
}
