//! `gleaner run`, the real daemon: it polls on its interval, users read the database with the
//! real `sqlite3` while it writes, and SIGTERM stops it cleanly.

mod common;

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{
    Daemon, Reply, TestServer, Workspace, count, gleaner, rss, run, stderr, stdout, wait_for,
};

const DATE: &str = "Fri, 03 Feb 2023 10:00:00 +0000";

/// SQLite's own check of the whole file.
fn assert_intact(conn: &rusqlite::Connection) {
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
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
    assert_intact(&conn);
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
    assert_intact(&conn);
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

fn one_item_feed(n: usize) -> Reply {
    let items: Vec<(String, String)> = (1..=n)
        .map(|i| (i.to_string(), format!("https://example.org/{i}")))
        .collect();
    let listed: Vec<(&str, &str, &str, &str, &str)> = items
        .iter()
        .map(|(g, l)| (g.as_str(), l.as_str(), "Story", DATE, "<p>Text.</p>"))
        .collect();
    Reply::feed(rss(&listed))
}

fn articles(ws: &Workspace) -> i64 {
    count(&ws.open_db(), "SELECT count(*) FROM articles")
}

#[test]
fn a_second_daemon_on_the_same_database_is_refused_naming_the_first() {
    let server = TestServer::start();
    server.route("/feed.xml", one_item_feed(1));
    let ws = Workspace::new();
    ws.write_config("", &[("live", &server.url("/feed.xml"))]);
    // A lock file left by a process that died does not block.
    std::fs::write(ws.path("gleaner.db-lock"), "999999\n").unwrap();
    let first = Daemon::start(&ws);
    first.wait_for_log(Duration::from_secs(20), "gleaner is running");

    let config = ws.config();
    let second = run(&["--config", config.to_str().unwrap(), "run"]);
    assert_eq!(second.status.code(), Some(1));
    let message = stderr(&second);
    assert!(
        message.contains(&format!("PID {}", first.child.id()))
            && message.contains("already running"),
        "{message}"
    );
    assert_eq!(message.trim().lines().count(), 1, "{message}");

    first.signal("TERM");
    let (status, log) = first.wait(Duration::from_secs(10));
    assert!(status.success(), "{log}");
    // Once the first is gone, a daemon starts again on the same database.
    let again = Daemon::start(&ws);
    again.wait_for_log(Duration::from_secs(20), "gleaner is running");
}

#[test]
fn processes_creating_a_new_database_at_once_all_succeed() {
    let server = TestServer::start();
    server.route("/feed.xml", one_item_feed(3));
    let ws = Workspace::new();
    ws.write_config("", &[("live", &server.url("/feed.xml"))]);
    let config = ws.config();
    let children: Vec<Child> = (0..6)
        .map(|_| {
            gleaner()
                .args(["--config", config.to_str().unwrap(), "once", "--force"])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success(), "{}", stderr(&output));
    }
    let conn = ws.open_db();
    assert_intact(&conn);
    assert_eq!(count(&conn, "SELECT count(*) FROM articles"), 3);
    assert_eq!(count(&conn, "SELECT count(*) FROM sources"), 1);
    // The temporary files each process built its copy in are gone.
    let left: Vec<String> = std::fs::read_dir(ws.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.contains(".new-"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn a_revived_source_is_polled_by_the_running_daemon_within_seconds() {
    let server = TestServer::start();
    server.route("/feed.xml", Reply::status(410, "gone for good"));
    let ws = Workspace::new();
    ws.write_config(
        "interval = \"1h\"",
        &[("retired", &server.url("/feed.xml"))],
    );
    let daemon = Daemon::start(&ws);
    wait_for(Duration::from_secs(20), "the source to be retired", || {
        ws.db().exists() && sqlite3(&ws.db(), "SELECT status FROM sources") == "gone"
    });
    server.route("/feed.xml", one_item_feed(2));
    let config = ws.config();
    let revived = run(&["--config", config.to_str().unwrap(), "revive", "1"]);
    assert!(revived.status.success(), "{}", stderr(&revived));
    let asked = Instant::now();
    wait_for(
        Duration::from_secs(15),
        "the revived source's articles",
        || articles(&ws) == 2,
    );
    // Seen through the database, not at the next hourly pass.
    assert!(
        asked.elapsed() < Duration::from_secs(10),
        "{:?}",
        asked.elapsed()
    );
    assert_eq!(sqlite3(&ws.db(), "SELECT status FROM sources"), "active");

    // `gleaner once` from another process is seen too: its poll sets the next time, and the
    // daemon does not poll again before it.
    let polls = server.seen("/feed.xml").len();
    let once = run(&["--config", config.to_str().unwrap(), "once", "--force"]);
    assert!(once.status.success(), "{}", stderr(&once));
    assert_eq!(server.seen("/feed.xml").len(), polls + 1);
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(server.seen("/feed.xml").len(), polls + 1);
    daemon.signal("TERM");
    let (status, log) = daemon.wait(Duration::from_secs(10));
    assert!(status.success(), "{log}");
}

#[test]
fn sighup_reloads_the_configuration_and_a_bad_one_is_refused() {
    let server = TestServer::start();
    server.route("/a.xml", one_item_feed(1));
    let b_items = rss(&[(
        "b1",
        "https://example.org/b1",
        "From B",
        DATE,
        "<p>Bee.</p>",
    )]);
    server.route("/b.xml", Reply::feed(b_items));
    let ws = Workspace::new();
    ws.write_config("interval = \"1h\"", &[("a", &server.url("/a.xml"))]);
    let daemon = Daemon::start(&ws);
    wait_for(Duration::from_secs(20), "source a's article", || {
        ws.db().exists() && articles(&ws) == 1
    });

    // b added, a removed.
    ws.write_config("interval = \"1h\"", &[("b", &server.url("/b.xml"))]);
    daemon.signal("HUP");
    wait_for(Duration::from_secs(15), "source b's article", || {
        articles(&ws) == 2
    });
    assert_eq!(
        sqlite3(
            &ws.db(),
            "SELECT name || ' ' || status FROM sources ORDER BY id"
        ),
        "a removed\nb active"
    );
    daemon.wait_for_log(Duration::from_secs(5), "configuration reloaded");

    // A broken configuration is refused with its place, and the daemon goes on with b.
    std::fs::write(
        ws.config(),
        "database = \"gleaner.db\"\ninterval = \"soon\"\n[[sources]]\nurl = \"/nowhere.xml\"\n",
    )
    .unwrap();
    daemon.signal("HUP");
    daemon.wait_for_log(Duration::from_secs(10), "previous one stays in force");
    let log = daemon.log();
    assert!(log.contains("gleaner.toml:2:"), "{log}");
    assert!(
        sqlite3(
            &ws.db(),
            "SELECT count(*) FROM sources WHERE status = 'active'"
        ) == "1",
        "the bad configuration must not have been applied"
    );
    daemon.signal("TERM");
    let (status, log) = daemon.wait(Duration::from_secs(10));
    assert!(status.success(), "{log}");
    // Closed cleanly: the WAL was checkpointed and removed.
    assert!(!ws.path("gleaner.db-wal").exists(), "WAL left behind");
}

#[test]
fn systemd_hears_ready_status_watchdog_and_stopping() {
    use std::os::unix::net::UnixDatagram;
    let server = TestServer::start();
    server.route("/feed.xml", one_item_feed(1));
    let ws = Workspace::new();
    ws.write_config("interval = \"1h\"", &[("live", &server.url("/feed.xml"))]);
    let socket_path = ws.path("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let daemon = Daemon::start_with(&ws, |command| {
        command
            .env("NOTIFY_SOCKET", &socket_path)
            .env("WATCHDOG_USEC", "400000")
            .env_remove("WATCHDOG_PID");
    });
    let mut heard: Vec<String> = Vec::new();
    let mut buffer = [0u8; 4096];
    let mut receive = |heard: &mut Vec<String>| {
        let n = socket.recv(&mut buffer).expect("a notify message");
        heard.push(String::from_utf8_lossy(&buffer[..n]).into_owned());
    };
    receive(&mut heard);
    assert!(heard[0].starts_with("READY=1\nSTATUS="), "{heard:?}");
    assert!(heard[0].contains("1 sources"), "{heard:?}");
    // The watchdog is fed at half the timeout: several pings in well under two seconds.
    while heard.iter().filter(|m| *m == "WATCHDOG=1").count() < 3 {
        receive(&mut heard);
    }
    // The status follows the polls.
    while !heard
        .iter()
        .any(|m| m.contains("1 polls (0 failed), 1 new articles"))
    {
        receive(&mut heard);
    }
    daemon.signal("TERM");
    while !heard.iter().any(|m| m == "STOPPING=1") {
        receive(&mut heard);
    }
    let (status, log) = daemon.wait(Duration::from_secs(10));
    assert!(status.success(), "{log}");
}

/// A feed that takes the parser and renderer many seconds (in a test build): thousands of
/// items, each with a long body.
fn heavy_feed() -> Vec<u8> {
    let paragraph = format!("<p>{}</p>", "Words and <b>more</b> words. ".repeat(40));
    let body = paragraph.repeat(8);
    let items: Vec<(String, String)> = (0..6000)
        .map(|i| (format!("g{i}"), format!("https://example.org/heavy/{i}")))
        .collect();
    let listed: Vec<(&str, &str, &str, &str, &str)> = items
        .iter()
        .map(|(g, l)| (g.as_str(), l.as_str(), "Heavy", DATE, body.as_str()))
        .collect();
    rss(&listed).into_bytes()
}

#[test]
fn sigterm_during_a_long_parse_exits_within_the_grace_period() {
    let server = TestServer::start();
    server.route("/heavy.xml", Reply::feed(heavy_feed()));
    let ws = Workspace::new();
    ws.write_config(
        "max_feed_bytes = 200000000",
        &[("heavy", &server.url("/heavy.xml"))],
    );
    let daemon = Daemon::start(&ws);
    wait_for(
        Duration::from_secs(20),
        "the heavy feed to be served",
        || !server.seen("/heavy.xml").is_empty(),
    );
    std::thread::sleep(Duration::from_millis(500));
    let asked = Instant::now();
    daemon.signal("TERM");
    let (status, log) = daemon.wait(Duration::from_secs(60));
    let took = asked.elapsed();
    assert!(status.success(), "{log}");
    // The parse was still running at the end of the grace period: it was abandoned, and the
    // process did not wait for it.
    assert!(log.contains("abandoning polls in flight"), "{log}");
    assert!(
        took <= gleaner::daemon::SHUTDOWN_GRACE + Duration::from_secs(1),
        "took {took:?}"
    );
    let conn = ws.open_db();
    assert_intact(&conn);
}

/// A small tmpfs of its own, for a disk that fills up; unmounted on drop.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> SmallDisk {
        let dir = tempfile::tempdir().unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .expect("the mount program");
        assert!(
            status.success(),
            "this test mounts a small tmpfs to fill it: it needs root (CAP_SYS_ADMIN)"
        );
        SmallDisk { dir }
    }

    /// Fills the disk to the last byte; returns the filler to remove.
    fn fill(&self) -> std::path::PathBuf {
        use std::io::Write;
        let path = self.dir.path().join("filler");
        let mut file = std::fs::File::create(&path).unwrap();
        let block = vec![0u8; 16 * 1024];
        while file.write_all(&block).is_ok() {}
        let _ = file.write_all(&[0u8; 512]);
        let _ = file.flush();
        path
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

#[test]
fn a_full_disk_loses_no_poll() {
    let disk = SmallDisk::mount("8m");
    let db = disk.dir.path().join("gleaner.db");
    let server = TestServer::start();
    server.route("/feed.xml", one_item_feed(1));
    let ws = Workspace::new();
    ws.write_config(
        "interval = \"1s\"\nmin_interval = \"1s\"\nhost_delay = \"0s\"",
        &[("live", &server.url("/feed.xml"))],
    );
    let daemon = Daemon::start_with(&ws, |command| {
        command.arg("--database").arg(&db);
    });
    let conn = || rusqlite::Connection::open(&db).unwrap();
    wait_for(Duration::from_secs(20), "the first article", || {
        db.exists() && count(&conn(), "SELECT count(*) FROM articles") == 1
    });

    let filler = disk.fill();
    server.route("/feed.xml", one_item_feed(5));
    daemon.wait_for_log(Duration::from_secs(30), "could not be written");
    let polls_while_full = server.seen("/feed.xml").len();
    std::fs::remove_file(filler).unwrap();

    wait_for(
        Duration::from_secs(60),
        "the articles of the full-disk time",
        || count(&conn(), "SELECT count(*) FROM articles") == 5,
    );
    assert!(server.seen("/feed.xml").len() > polls_while_full);
    let c = conn();
    // The refused poll is on record, not charged to the feed.
    assert!(
        count(
            &c,
            "SELECT count(*) FROM fetches WHERE error_class = 'database' AND charged = 0"
        ) >= 1
    );
    assert_eq!(count(&c, "SELECT consecutive_errors FROM sources"), 0);
    let log = daemon.log();
    assert_eq!(
        log.matches("a poll could not be written").count(),
        1,
        "logged once per cause: {log}"
    );
    daemon.signal("TERM");
    let (status, log) = daemon.wait(Duration::from_secs(10));
    assert!(status.success(), "{log}");
}

/// The real sqlite3 shell holding the database's write lock for `seconds`.
fn hold_write_lock(db: &std::path::Path, seconds: u32) -> Child {
    use std::io::Write;
    let mut child = Command::new("sqlite3")
        .arg(db)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the sqlite3 program");
    let mut input = child.stdin.take().unwrap();
    writeln!(
        input,
        "BEGIN EXCLUSIVE;\nSELECT 'locked';\n.shell sleep {seconds}\nCOMMIT;"
    )
    .unwrap();
    drop(input);
    // Wait until the lock is really held.
    let mut out = child.stdout.take().unwrap();
    let mut first = [0u8; 6];
    out.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"locked");
    child
}

#[test]
fn a_database_locked_by_another_process_loses_no_poll() {
    let server = TestServer::start();
    server.route("/feed.xml", one_item_feed(1));
    let ws = Workspace::new();
    ws.write_config(
        "interval = \"1s\"\nmin_interval = \"1s\"\nhost_delay = \"0s\"",
        &[("live", &server.url("/feed.xml"))],
    );
    ws.once();
    assert_eq!(articles(&ws), 1);

    // Busy at start: `run` waits, `once` says why it could not work.
    server.route("/feed.xml", one_item_feed(2));
    let mut holder = hold_write_lock(&ws.db(), 15);
    let daemon = Daemon::start(&ws);
    let config = ws.config();
    let once = run(&["--config", config.to_str().unwrap(), "once", "--force"]);
    assert_eq!(once.status.code(), Some(1), "{}", stdout(&once));
    assert!(stderr(&once).contains("locked"), "{}", stderr(&once));
    daemon.wait_for_log(Duration::from_secs(30), "waiting");
    holder.wait().unwrap();
    wait_for(
        Duration::from_secs(60),
        "the article after the lock",
        || articles(&ws) == 2,
    );

    // Held for longer than the busy timeout while running: the poll is held back and written
    // once the lock is let go.
    let mut holder = hold_write_lock(&ws.db(), 30);
    server.route("/feed.xml", one_item_feed(3));
    daemon.wait_for_log(Duration::from_secs(40), "could not be written");
    holder.wait().unwrap();
    wait_for(
        Duration::from_secs(60),
        "the article of the locked time",
        || articles(&ws) == 3,
    );
    assert!(
        count(
            &ws.open_db(),
            "SELECT count(*) FROM fetches WHERE error_class = 'database' AND charged = 0"
        ) >= 1
    );
    daemon.signal("TERM");
    let (status, log) = daemon.wait(Duration::from_secs(20));
    assert!(status.success(), "{log}");
}

#[test]
fn network_failures_during_an_outage_are_shown_without_being_charged() {
    // Three hosts (loopback addresses) that refuse connections: the network looks down.
    let closed: Vec<String> = ["127.0.0.1", "127.0.0.2", "127.0.0.3"]
        .iter()
        .map(|ip| {
            let listener = std::net::TcpListener::bind((*ip, 0)).unwrap();
            let addr = listener.local_addr().unwrap();
            drop(listener);
            format!("http://{addr}/feed.xml")
        })
        .collect();
    let ws = Workspace::new();
    ws.write_config(
        "",
        &[
            ("one", &closed[0]),
            ("two", &closed[1]),
            ("three", &closed[2]),
        ],
    );
    ws.once();
    ws.once();
    let conn = ws.open_db();
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM source_health WHERE last_error LIKE 'connect:%'"
        ),
        3
    );
    let config = ws.config();
    let listed = stdout(&run(&["--config", config.to_str().unwrap(), "sources"]));
    assert_eq!(listed.matches("last error: connect").count(), 3, "{listed}");
    // The README's query for sources in trouble finds them.
    assert_eq!(
        sqlite3(
            &ws.db(),
            "SELECT count(*) FROM source_health WHERE last_error IS NOT NULL"
        ),
        "3"
    );
    // At least the later failures, with the outage known, were not charged.
    assert!(count(&conn, "SELECT count(*) FROM fetches WHERE charged = 0") >= 3);
}

#[test]
fn a_folder_given_as_the_database_is_refused_with_a_clear_error() {
    let ws = Workspace::new();
    ws.write_config("", &[]);
    let config = ws.config();
    let folder = ws.path("a-folder");
    std::fs::create_dir(&folder).unwrap();
    for command in ["once", "run"] {
        let output = run(&[
            "--config",
            config.to_str().unwrap(),
            "--database",
            folder.to_str().unwrap(),
            command,
        ]);
        assert_eq!(output.status.code(), Some(1), "{command}");
        assert!(
            stderr(&output).contains("is a folder"),
            "{}",
            stderr(&output)
        );
    }
    // Nothing was made beside it.
    assert!(!ws.path("a-folder-lock").exists());
}

/// A configuration file that is emptied (an editor between truncating and writing, say) is not
/// applied on its own: the sources stay; SIGHUP, the user's explicit word, applies it.
#[test]
fn a_configuration_emptied_on_disk_is_applied_only_when_asked() {
    let server = TestServer::start();
    server.route("/feed.xml", one_item_feed(1));
    let ws = Workspace::new();
    ws.write_config("", &[("one", &server.url("/feed.xml"))]);
    let daemon = Daemon::start(&ws);
    wait_for(Duration::from_secs(20), "the first poll", || {
        !server.seen("/feed.xml").is_empty()
    });
    std::fs::write(ws.config(), "database = \"gleaner.db\"\n").unwrap();
    daemon.wait_for_log(Duration::from_secs(15), "names no source: not applied");
    assert_eq!(
        sqlite3(&ws.db(), "SELECT status FROM sources"),
        "active",
        "{}",
        daemon.log()
    );
    daemon.signal("HUP");
    wait_for(Duration::from_secs(15), "the source removed", || {
        sqlite3(&ws.db(), "SELECT status FROM sources") == "removed"
    });
    daemon.signal("TERM");
    let (status, log) = daemon.wait(Duration::from_secs(15));
    assert!(status.success(), "{log}");
}
