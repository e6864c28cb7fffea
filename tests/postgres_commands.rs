//! The real binary on PostgreSQL (`database = "postgres://…"` or `--database`/GLEANER_DATABASE),
//! against a throwaway cluster: the same real feeds polled into SQLite and into PostgreSQL export
//! byte-identical documents; `sources`, `revive` and `run` work on it; a database that cannot be
//! reached is a clear error that never shows the password.

mod common;

use std::path::Path;

use common::postgres::Cluster;
use common::{Daemon, Reply, TestServer, Workspace, fixture, gleaner, run, stderr, stdout};

/// Real feeds of several shapes (RSS, Atom, JSON Feed, RDF).
const FEEDS: &[(&str, &str)] = &[
    ("DaringFireball.atom", "application/atom+xml"),
    ("DaringFireball.json", "application/feed+json"),
    ("atp.rss", "application/rss+xml"),
    ("bio.rdf", "application/rdf+xml"),
    ("allthis.json", "application/feed+json"),
    ("aktuality.rss", "application/rss+xml"),
];

fn serve_feeds(server: &TestServer) -> Vec<(String, String)> {
    FEEDS
        .iter()
        .map(|(file, content_type)| {
            let path = format!("/{file}");
            let body = std::fs::read(fixture(&format!("real-feeds/{file}"))).unwrap();
            server.route(&path, Reply::feed(body).with_content_type(content_type));
            (file.to_string(), server.url(&path))
        })
        .collect()
}

/// The documents of an export folder, by article key (the position in a name is the order of
/// arrival, which concurrent polls make differ from run to run), with their bytes.
fn exported(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().into_owned();
            let key = name.split_once('_').unwrap().1.to_owned();
            (key, std::fs::read(e.path()).unwrap())
        })
        .collect();
    files.sort();
    files
}

fn gleaner_ok(args: &[&str]) -> String {
    let output = run(args);
    assert!(
        output.status.success(),
        "gleaner {args:?} failed: {}",
        stderr(&output)
    );
    stdout(&output)
}

#[test]
fn the_same_feeds_give_the_same_documents_on_postgresql_as_on_sqlite() {
    let cluster = Cluster::shared();
    let url = cluster.database_url();
    let server = TestServer::start();
    let feeds = serve_feeds(&server);
    let ws = Workspace::new();
    let sources: Vec<(&str, &str)> = feeds
        .iter()
        .map(|(name, url)| (name.as_str(), url.as_str()))
        .collect();
    ws.write_config("full_text = \"never\"", &sources);
    let config = ws.config();
    let config = config.to_str().unwrap();

    // SQLite, as configured; PostgreSQL by --database.
    let on_sqlite = gleaner_ok(&["--config", config, "once"]);
    let on_postgres = gleaner_ok(&["--config", config, "--database", &url, "once"]);
    assert_eq!(on_sqlite.lines().count(), FEEDS.len());
    assert_eq!(on_postgres.lines().count(), FEEDS.len());
    let (sqlite_out, postgres_out) = (ws.path("sqlite-export"), ws.path("postgres-export"));
    gleaner_ok(&[
        "--config",
        config,
        "export",
        "--out",
        sqlite_out.to_str().unwrap(),
    ]);
    let exported_pg = gleaner()
        .args([
            "--config",
            config,
            "export",
            "--out",
            postgres_out.to_str().unwrap(),
        ])
        .env("GLEANER_DATABASE", &url)
        .output()
        .unwrap();
    assert!(exported_pg.status.success(), "{}", stderr(&exported_pg));
    let (sqlite_files, postgres_files) = (exported(&sqlite_out), exported(&postgres_out));
    assert!(sqlite_files.len() > 100, "{} documents", sqlite_files.len());
    assert_eq!(
        sqlite_files.iter().map(|f| &f.0).collect::<Vec<_>>(),
        postgres_files.iter().map(|f| &f.0).collect::<Vec<_>>(),
        "the same articles"
    );
    for (sqlite, postgres) in sqlite_files.iter().zip(&postgres_files) {
        assert!(sqlite.1 == postgres.1, "{} differs", sqlite.0);
    }

    // `sources` lists them from PostgreSQL, with their articles.
    let listed = gleaner_ok(&["--config", config, "--database", &url, "sources"]);
    for (name, _) in &feeds {
        assert!(listed.contains(name.as_str()), "{name} in:\n{listed}");
    }
    assert!(
        listed.lines().nth(1).unwrap().contains("active"),
        "{listed}"
    );
    let revived = gleaner_ok(&["--config", config, "--database", &url, "revive", "1"]);
    assert!(
        revived.starts_with("revived http://127.0.0.1:"),
        "{revived}"
    );
    let unknown = run(&["--config", config, "--database", &url, "revive", "999"]);
    assert!(!unknown.status.success());
    assert!(
        stderr(&unknown).contains("no source \"999\""),
        "{}",
        stderr(&unknown)
    );
}

#[test]
fn the_daemon_runs_on_postgresql_without_a_lock_file_and_stops_cleanly() {
    let cluster = Cluster::shared();
    let url = cluster.database_url();
    let server = TestServer::start();
    let feeds = serve_feeds(&server);
    let ws = Workspace::new();
    let mut text = format!("database = \"{url}\"\nfull_text = \"never\"\n");
    for (_, feed) in &feeds {
        text.push_str(&format!("\n[[sources]]\nurl = \"{feed}\"\n"));
    }
    std::fs::write(ws.config(), text).unwrap();
    // Two daemons on one configuration: allowed on PostgreSQL (they share the sources).
    let first = Daemon::start(&ws);
    let second = Daemon::start(&ws);
    common::wait_for(
        std::time::Duration::from_secs(30),
        "every feed polled",
        || {
            FEEDS
                .iter()
                .all(|(file, _)| !server.seen(&format!("/{file}")).is_empty())
        },
    );
    for (file, _) in FEEDS {
        assert_eq!(
            server.seen(&format!("/{file}")).len(),
            1,
            "{file} polled once"
        );
    }
    for daemon in [first, second] {
        daemon.signal("TERM");
        let (status, log) = daemon.wait(std::time::Duration::from_secs(20));
        assert!(status.success(), "{log}");
        assert!(log.contains("stopped cleanly"), "{log}");
        assert!(!log.contains("s3cret"));
    }
    let lock_files: Vec<_> = std::fs::read_dir(ws.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with("-lock"))
        .collect();
    assert!(lock_files.is_empty(), "{lock_files:?}");
}

#[test]
fn an_unreachable_database_is_a_clear_error_without_the_password() {
    let ws = Workspace::new();
    ws.write_config("", &[]);
    let config = ws.config();
    let missing = ws.path("no-socket-here");
    let url = format!(
        "postgresql://gleaner:s3cret@/gleaner?host={}",
        missing.display()
    );
    for command in [&["once"][..], &["sources"], &["export", "--out", "x"]] {
        let mut args = vec!["--config", config.to_str().unwrap(), "--database", &url];
        args.extend_from_slice(command);
        let output = run(&args);
        assert!(!output.status.success(), "{command:?}");
        let message = stderr(&output);
        assert!(message.contains("PostgreSQL"), "{command:?}: {message}");
        assert!(message.contains("gleaner:***@"), "{command:?}: {message}");
        assert!(!message.contains("s3cret"), "{command:?}: {message}");
    }
}
