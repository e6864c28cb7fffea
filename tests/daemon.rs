//! `gleaner run`, the real daemon: it polls on its interval, users read the database with the
//! real `sqlite3` while it writes, and SIGTERM stops it cleanly.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Reply, TestServer, Workspace, count, gleaner, rss, wait_for};

const DATE: &str = "Fri, 03 Feb 2023 10:00:00 +0000";

struct Daemon(Child);

impl Daemon {
    fn start(ws: &Workspace) -> Daemon {
        let child = gleaner()
            .args(["--config", ws.config().to_str().unwrap(), "run"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting gleaner run");
        Daemon(child)
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.0.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the exit, up to `limit`; returns the exit status and stderr.
    fn wait(mut self, limit: Duration) -> (std::process::ExitStatus, String) {
        let start = Instant::now();
        loop {
            if let Some(status) = self.0.try_wait().unwrap() {
                let mut err = String::new();
                use std::io::Read;
                self.0
                    .stderr
                    .take()
                    .unwrap()
                    .read_to_string(&mut err)
                    .unwrap();
                return (status, err);
            }
            assert!(
                start.elapsed() < limit,
                "gleaner did not stop within {limit:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs the real sqlite3 shell on the database, as a user would.
fn sqlite3(db: &std::path::Path, sql: &str) -> String {
    let output = Command::new("sqlite3")
        .arg(db)
        .arg(sql)
        .output()
        .expect("the sqlite3 program (Debian package sqlite3) is needed by this test");
    assert!(
        output.status.success(),
        "sqlite3: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

#[test]
fn run_polls_on_its_interval_is_readable_while_writing_and_stops_on_sigterm() {
    let server = TestServer::start();
    server.route(
        "/feed.xml",
        Reply::feed(rss(&[(
            "1",
            "https://example.org/1",
            "One",
            DATE,
            "<p>First.</p>",
        )])),
    );
    let ws = Workspace::new();
    ws.write_config(
        "interval = \"1s\"\nmin_interval = \"1s\"",
        &[("live", &server.url("/feed.xml"))],
    );
    let daemon = Daemon::start(&ws);

    wait_for(Duration::from_secs(20), "the first article", || {
        ws.db().exists()
            && sqlite3(
                &ws.db(),
                "SELECT count(*) FROM sqlite_master WHERE name = 'articles'",
            ) == "1"
            && sqlite3(&ws.db(), "SELECT count(*) FROM articles") == "1"
    });

    // New items arrive on the next polls while sqlite3 reads the same file.
    let mut items = vec![("1".to_string(), "https://example.org/1".to_string())];
    for n in 2..=4 {
        items.push((n.to_string(), format!("https://example.org/{n}")));
        let listed: Vec<(&str, &str, &str, &str, &str)> = items
            .iter()
            .map(|(g, l)| (g.as_str(), l.as_str(), "Story", DATE, "<p>Text.</p>"))
            .collect();
        server.route("/feed.xml", Reply::feed(rss(&listed)));
        wait_for(Duration::from_secs(20), "the next article", || {
            // A full-text query, read while the daemon writes (before the count: it only grows).
            let matches: usize = sqlite3(
                &ws.db(),
                "SELECT count(*) FROM articles_fts WHERE articles_fts MATCH 'text OR first'",
            )
            .parse()
            .unwrap();
            let found: usize = sqlite3(&ws.db(), "SELECT count(*) FROM articles")
                .parse()
                .unwrap();
            assert!(matches <= found);
            found == n
        });
    }
    assert!(server.seen("/feed.xml").len() >= 4);
    assert_eq!(
        sqlite3(&ws.db(), "SELECT source FROM source_health"),
        "live"
    );

    daemon.signal("TERM");
    let (status, err) = daemon.wait(Duration::from_secs(10));
    assert!(status.success(), "exit status {status:?}: {err}");
    assert!(err.contains("stopped cleanly"), "{err}");
    let conn = ws.open_db();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    assert_eq!(count(&conn, "SELECT count(*) FROM articles"), 4);
}

#[test]
fn sigint_during_a_hanging_poll_stops_within_the_grace_period() {
    let server = TestServer::start();
    server.route("/hang.xml", Reply::Hang);
    server.route(
        "/ok.xml",
        Reply::feed(rss(&[(
            "1",
            "https://example.org/1",
            "One",
            DATE,
            "<p>x</p>",
        )])),
    );
    let ws = Workspace::new();
    ws.write_config(
        "timeout = \"5m\"",
        &[
            ("hang", &server.url("/hang.xml")),
            ("ok", &server.url("/ok.xml")),
        ],
    );
    let daemon = Daemon::start(&ws);
    wait_for(
        Duration::from_secs(20),
        "the hanging request and the good poll",
        || {
            !server.seen("/hang.xml").is_empty()
                && ws.db().exists()
                && sqlite3(
                    &ws.db(),
                    "SELECT count(*) FROM sqlite_master WHERE name = 'fetches'",
                ) == "1"
                && sqlite3(&ws.db(), "SELECT count(*) FROM fetches") == "1"
        },
    );
    let asked = Instant::now();
    daemon.signal("INT");
    let (status, err) = daemon.wait(Duration::from_secs(15));
    assert!(status.success(), "{err}");
    assert!(
        asked.elapsed() < Duration::from_secs(10),
        "took {:?}",
        asked.elapsed()
    );
    assert!(err.contains("abandoning"), "{err}");
    let conn = ws.open_db();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    assert_eq!(count(&conn, "SELECT count(*) FROM articles"), 1);
}

#[test]
fn the_run_loop_backs_off_on_errors_and_recovers() {
    let server = TestServer::start();
    server.route("/flaky.xml", Reply::status(500, "down"));
    let ws = Workspace::new();
    ws.write_config(
        "interval = \"1s\"\nmin_interval = \"1s\"\nmax_backoff = \"4s\"\nhost_delay = \"0s\"",
        &[("flaky", &server.url("/flaky.xml"))],
    );
    let daemon = Daemon::start(&ws);
    wait_for(Duration::from_secs(30), "five failed polls", || {
        server.seen("/flaky.xml").len() >= 5
    });
    server.route(
        "/flaky.xml",
        Reply::feed(rss(&[(
            "1",
            "https://example.org/1",
            "One",
            DATE,
            "<p>x</p>",
        )])),
    );
    let recovered_from = server.seen("/flaky.xml").len();
    wait_for(Duration::from_secs(30), "polls after recovery", || {
        server.seen("/flaky.xml").len() >= recovered_from + 3
    });
    daemon.signal("TERM");
    let (status, err) = daemon.wait(Duration::from_secs(10));
    assert!(status.success(), "{err}");

    let times: Vec<Instant> = server.seen("/flaky.xml").iter().map(|s| s.at).collect();
    let gaps: Vec<f64> = times
        .windows(2)
        .map(|w| w[1].duration_since(w[0]).as_secs_f64())
        .collect();
    // Failing: 1 s, then 2 s, then 4 s (the cap), each within jitter and scheduling slack.
    let expect = [1.0, 2.0, 4.0, 4.0];
    for (gap, want) in gaps.iter().zip(expect) {
        assert!(
            *gap >= want * 0.96 && *gap <= want * 1.04 + 0.5,
            "gaps {gaps:?}"
        );
    }
    // After the first success the wait is back to the interval.
    for gap in &gaps[recovered_from..] {
        assert!(*gap >= 0.96 && *gap <= 1.6, "gaps {gaps:?}");
    }
    let conn = ws.open_db();
    assert_eq!(count(&conn, "SELECT consecutive_errors FROM sources"), 0);
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM fetches WHERE error_class = 'http_5xx' AND charged = 1"
        ),
        recovered_from as i64
    );
}
