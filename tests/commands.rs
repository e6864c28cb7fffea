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
