//! Managing subscriptions with the real binary: `import` of real and reader-shaped OPML lists
//! into a configuration whose comments must survive, `export-opml` and its round trip, `add`
//! against a loopback server (a feed, a page declaring one, a page at whose origin /feed is
//! one, nothing), `remove`, `pause` and `resume` by URL and by id, and a running daemon that
//! picks all of these up without a signal.

mod common;

use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use common::{
    Reply, TestServer, Workspace, count, fixture, gleaner, rss, stderr, stdout, wait_for,
};
use gleaner::config::Config;

/// A configuration with comments, odd spacing and one source, as a user keeps it.
const HEAD: &str = "# gleaner, as I keep it\n\
    database = \"gleaner.db\"   # beside this file\n\
    interval = \"1h\"\n\n\
    # The one I started with.\n\
    [[sources]]\n\
    url = \"http://daringfireball.net/feeds/main\"  # the original\n\
    name = \"DF\"\n";

fn gleaner_in(ws: &Workspace, args: &[&str]) -> Output {
    gleaner_with(ws, args, |_| {})
}

fn gleaner_with(ws: &Workspace, args: &[&str], setup: impl FnOnce(&mut Command)) -> Output {
    let mut command = gleaner();
    command
        .arg("--config")
        .arg(ws.config())
        .args(args)
        .stdin(Stdio::null());
    setup(&mut command);
    command.output().expect("running gleaner")
}

/// Runs and asserts success.
fn ok(ws: &Workspace, args: &[&str]) -> String {
    let output = gleaner_in(ws, args);
    assert!(
        output.status.success(),
        "gleaner {args:?} failed: {}{}",
        stdout(&output),
        stderr(&output)
    );
    stdout(&output)
}

fn config_text(ws: &Workspace) -> String {
    std::fs::read_to_string(ws.config()).unwrap()
}

fn load(ws: &Workspace) -> Config {
    Config::load(&ws.config()).expect("the edited configuration loads")
}

/// (url, name, tags) of each configured source.
fn sources(ws: &Workspace) -> Vec<(String, Option<String>, Vec<String>)> {
    load(ws)
        .sources
        .into_iter()
        .map(|s| (s.url, s.name, s.tags))
        .collect()
}

fn find<'a>(
    all: &'a [(String, Option<String>, Vec<String>)],
    url: &str,
) -> &'a (String, Option<String>, Vec<String>) {
    all.iter()
        .find(|s| s.0 == url)
        .unwrap_or_else(|| panic!("{url} not in {all:?}"))
}

fn summary_line(out: &str) -> &str {
    out.lines().last().unwrap_or_default()
}

struct Case {
    file: &'static str,
    added: usize,
    skipped: usize,
    refused: usize,
    /// One source to look at: its URL, name and tags.
    url: &'static str,
    name: Option<&'static str>,
    tags: &'static [&'static str],
}

#[test]
fn each_real_list_imports_keeping_the_configuration_as_it_was() {
    let cases = [
        Case {
            // NetNewsWire's real export: 207 feeds in 4 categories; Daring Fireball is in the
            // configuration already, Katie Floyd is listed twice (with and without the slash).
            file: "real-feeds/Subs.opml",
            added: 205,
            skipped: 2,
            refused: 0,
            url: "https://medium.com/feed/swift-programming",
            name: Some("Swift Programming — Medium"),
            tags: &["Programming"],
        },
        Case {
            file: "real-feeds/SubsNoTitleAttributes.opml",
            added: 205,
            skipped: 2,
            refused: 0,
            url: "http://ericasadun.com/feed/",
            name: Some("Erica Sadun"),
            tags: &[],
        },
        Case {
            file: "opml/feedly.opml",
            added: 4,
            skipped: 1,
            refused: 0,
            url: "https://feeds.arstechnica.com/arstechnica/index",
            name: Some("Ars Technica"),
            tags: &["Tech", "Science & Nature"],
        },
        Case {
            file: "opml/miniflux.opml",
            added: 4,
            skipped: 0,
            refused: 0,
            url: "https://this-week-in-rust.org/rss.xml",
            name: Some("This Week in Rust"),
            tags: &["Rust"],
        },
        Case {
            file: "opml/freshrss.opml",
            added: 3,
            skipped: 0,
            refused: 0,
            url: "https://cafebabel.example/feed?lang=fr&format=rss",
            name: Some("Café Babel"),
            tags: &["Blogs"],
        },
        Case {
            file: "opml/newsboat.opml",
            added: 3,
            skipped: 0,
            refused: 1,
            url: "https://www.openbsd.org/errata.rss",
            name: None,
            tags: &[],
        },
    ];
    for case in cases {
        let ws = Workspace::new();
        std::fs::write(ws.config(), HEAD).unwrap();
        let list = fixture(case.file);
        let out = ok(&ws, &["import", list.to_str().unwrap()]);
        let expected = format!(
            "{} added, {} skipped, {} refused: written to",
            case.added, case.skipped, case.refused
        );
        assert!(
            summary_line(&out).starts_with(&expected),
            "{}: {out}",
            case.file
        );
        assert_eq!(
            out.lines().filter(|l| l.starts_with("added ")).count(),
            case.added,
            "{}",
            case.file
        );
        // Every byte of the configuration as it was is still there, in front.
        let text = config_text(&ws);
        assert!(text.starts_with(HEAD), "{}: {text}", case.file);
        let all = sources(&ws);
        assert_eq!(all.len(), 1 + case.added, "{}", case.file);
        let (_, name, tags) = find(&all, case.url);
        assert_eq!(name.as_deref(), case.name, "{}", case.file);
        assert_eq!(tags, case.tags, "{}", case.file);

        // A second import finds every feed present and writes nothing.
        let before = config_text(&ws);
        let again = ok(&ws, &["import", list.to_str().unwrap()]);
        assert!(
            summary_line(&again).starts_with(&format!(
                "0 added, {} skipped, {} refused: nothing to write",
                case.added + case.skipped,
                case.refused
            )),
            "{}: {again}",
            case.file
        );
        assert_eq!(config_text(&ws), before);
    }
}

#[test]
fn the_categories_of_the_real_list_become_tags() {
    let ws = Workspace::new();
    std::fs::write(ws.config(), "database = \"gleaner.db\"\n").unwrap();
    ok(
        &ws,
        &["import", fixture("real-feeds/Subs.opml").to_str().unwrap()],
    );
    let config = load(&ws);
    let tagged = |tag: &str| config.sources.iter().filter(|s| s.tags == [tag]).count();
    assert_eq!(
        [
            tagged("Programming"),
            tagged("Macintosh"),
            tagged("Weblogs"),
            tagged("Writers")
        ],
        [33, 5, 97, 3]
    );
    assert_eq!(
        config.sources.iter().filter(|s| s.tags.is_empty()).count(),
        68
    );
    // Entities decoded in names.
    assert!(
        config
            .sources
            .iter()
            .any(|s| s.name.as_deref() == Some("chat & code"))
    );
}

#[test]
fn a_dry_run_writes_nothing() {
    let ws = Workspace::new();
    std::fs::write(ws.config(), HEAD).unwrap();
    let out = ok(
        &ws,
        &[
            "import",
            "--dry-run",
            fixture("opml/miniflux.opml").to_str().unwrap(),
        ],
    );
    assert_eq!(out.lines().filter(|l| l.starts_with("added ")).count(), 4);
    assert!(
        summary_line(&out).ends_with("dry run: nothing written"),
        "{out}"
    );
    assert_eq!(config_text(&ws), HEAD);
}

#[test]
fn a_broken_list_is_refused_with_its_place_and_nothing_is_written() {
    let ws = Workspace::new();
    std::fs::write(ws.config(), HEAD).unwrap();
    for (file, place) in [
        (
            "opml/truncated.opml",
            "truncated.opml:8:5: not well-formed XML",
        ),
        // A feed is not a list.
        ("real-feeds/DaringFireball.rss", "DaringFireball.rss:"),
    ] {
        let output = gleaner_in(&ws, &["import", fixture(file).to_str().unwrap()]);
        assert_eq!(output.status.code(), Some(1), "{file}");
        assert!(
            stderr(&output).contains(place),
            "{file}: {}",
            stderr(&output)
        );
        assert!(stdout(&output).is_empty(), "{file}");
        assert_eq!(config_text(&ws), HEAD, "{file}");
    }
    let output = gleaner_in(
        &ws,
        &[
            "import",
            fixture("real-feeds/DaringFireball.rss").to_str().unwrap(),
        ],
    );
    assert!(
        stderr(&output).contains("not an OPML document: its root element is <feed>"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn an_export_imports_back_to_the_same_sources_and_tags() {
    let ws = Workspace::new();
    std::fs::write(
        ws.config(),
        "database = \"gleaner.db\"\n\
         [[sources]]\nurl = \"https://a.example/feed?x=1&y=2\"\nname = \"A & <B>\"\ntags = [\"News/Tech\", \"Later\"]\n\
         [[sources]]\nurl = \"https://b.example/rss\"\n\
         [[sources]]\nurl = \"https://c.example/atom.xml\"\nname = \"C\"\ntags = [\"News\"]\npaused = true\n\
         [[sources]]\nurl = \"https://d.example/index.xml\"\nname = \"D \\\"quoted\\\"\"\ntags = [\"News/Tech\"]\n",
    )
    .unwrap();
    let exported = ws.path("subs.opml");
    ok(&ws, &["export-opml", "--out", exported.to_str().unwrap()]);
    let xml = std::fs::read_to_string(&exported).unwrap();
    assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<opml version=\"2.0\">"));
    assert!(xml.contains("<dateCreated>") && xml.contains("<title>gleaner subscriptions</title>"));
    // The same on stdout.
    let printed = ok(&ws, &["export-opml"]);
    assert!(
        printed.contains("xmlUrl=\"https://a.example/feed?x=1&amp;y=2\""),
        "{printed}"
    );

    let other = Workspace::new();
    std::fs::write(other.config(), "database = \"gleaner.db\"\n").unwrap();
    let out = ok(&other, &["import", exported.to_str().unwrap()]);
    assert!(
        summary_line(&out).starts_with("4 added, 0 skipped, 0 refused"),
        "{out}"
    );
    let mut before = sources(&ws);
    let mut after = sources(&other);
    before.sort();
    after.sort();
    // Sources without a name come back named by nothing either (the URL is not a name).
    assert_eq!(after, before);
}

/// A feed served with a title.
fn titled_feed(title: &str) -> Reply {
    Reply::feed(
        rss(&[(
            "g1",
            "https://example.org/1",
            "One",
            "Fri, 03 Feb 2023 10:00:00 +0000",
            "<p>x</p>",
        )])
        .replace(
            "<title>Test feed</title>",
            &format!("<title>{title}</title>"),
        ),
    )
}

fn page(head: &str) -> Reply {
    Reply::status(
        200,
        &format!(
            "<!doctype html><html><head><title>A blog</title>{head}</head><body><p>Hi</p></body></html>"
        ),
    )
}

/// `gleaner add` with the loopback address counted as public (as the internet would be).
fn add(ws: &Workspace, args: &[&str]) -> Output {
    let mut all = vec!["add"];
    all.extend_from_slice(args);
    gleaner_with(ws, &all, |c| {
        c.env("GLEANER_TEST_PUBLIC_ADDRESSES", "127.0.0.1,127.0.0.2");
    })
}

fn added(output: &Output) -> String {
    assert!(
        output.status.success(),
        "{}{}",
        stdout(output),
        stderr(output)
    );
    stdout(output)
}

#[test]
fn add_a_feed_a_page_that_declares_one_and_a_page_with_a_feed_at_a_common_path() {
    let server = TestServer::start();
    server.route("/feed.xml", titled_feed("Direct Feed"));
    server.route("/blog/", page(r#"<link rel="alternate" type="application/atom+xml" title="Posts" href="posts.atom"><link rel="alternate" type="application/rss+xml" href="/comments.rss">"#));
    server.route("/blog/posts.atom", titled_feed("Declared Feed"));
    server.route("/comments.rss", titled_feed("Comments"));
    let other = TestServer::start_at("127.0.0.2");
    other.route("/", page(""));
    other.route("/feed", titled_feed("Common Path Feed"));
    let ws = Workspace::new();
    std::fs::write(ws.config(), HEAD).unwrap();

    // A feed's own address.
    let out = added(&add(
        &ws,
        &[
            &server.url("/feed.xml"),
            "--tag",
            "News",
            "--tag",
            "News/Local",
        ],
    ));
    assert!(out.contains("is a feed"), "{out}");
    assert!(out.contains("picks this up within 5 seconds"), "{out}");
    // A page declaring two: the first, resolved against the page, and the other listed.
    let out = added(&add(&ws, &[&server.url("/blog/")]));
    assert!(
        out.contains(&format!("chose {}", server.url("/blog/posts.atom"))),
        "{out}"
    );
    assert!(out.contains("declares 2 feeds"), "{out}");
    assert!(out.contains(&server.url("/comments.rss")), "{out}");
    // A page declaring none, whose site serves /feed; the name given wins over the title.
    let out = added(&add(&ws, &[&other.url("/"), "--name", "Mine"]));
    assert!(out.contains("declares no feed"), "{out}");
    assert!(
        out.contains(&format!("chose {}", other.url("/feed"))),
        "{out}"
    );

    assert!(config_text(&ws).starts_with(HEAD));
    let all = sources(&ws);
    assert_eq!(all.len(), 4);
    let direct = find(&all, &server.url("/feed.xml"));
    assert_eq!(direct.1.as_deref(), Some("Direct Feed"));
    assert_eq!(direct.2, ["News", "News/Local"]);
    assert_eq!(
        find(&all, &server.url("/blog/posts.atom")).1.as_deref(),
        Some("Declared Feed")
    );
    assert_eq!(find(&all, &other.url("/feed")).1.as_deref(), Some("Mine"));
    // The common paths were tried in order up to the first feed.
    assert_eq!(other.seen("/feed").len(), 1);
    assert!(other.seen("/rss").is_empty());
    // Every request carried the configured user agent.
    assert!(
        server
            .all_seen()
            .iter()
            .all(|s| s.headers["user-agent"].starts_with("gleaner/"))
    );

    // Already there: an error, and nothing written.
    let before = config_text(&ws);
    let output = add(&ws, &[&server.url("/feed.xml")]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("already in"),
        "{}",
        stderr(&output)
    );
    // Found through its page, the same.
    let output = add(&ws, &[&server.url("/blog/")]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("already in"),
        "{}",
        stderr(&output)
    );
    assert_eq!(config_text(&ws), before);
}

#[test]
fn add_says_clearly_when_no_feed_is_found_and_writes_nothing() {
    let server = TestServer::start();
    server.route(
        "/",
        page(r#"<link rel="alternate" type="application/rss+xml" href="/gone.rss">"#),
    );
    server.route("/plain", page(""));
    server.route(
        "/data.bin",
        Reply::status(200, "").with_content_type("application/octet-stream"),
    );
    let ws = Workspace::new();
    std::fs::write(ws.config(), HEAD).unwrap();
    for (path, needle) in [
        ("/", "no feed found"),
        ("/plain", "no feed found"),
        ("/data.bin", "neither a feed nor a web page"),
        ("/missing", "HTTP 404"),
    ] {
        let output = add(&ws, &[&server.url(path)]);
        assert_eq!(output.status.code(), Some(1), "{path}");
        assert!(
            stderr(&output).contains(needle),
            "{path}: {}",
            stderr(&output)
        );
        assert_eq!(config_text(&ws), HEAD, "{path}");
    }
    // Each common path was tried for the page that declares nothing.
    for path in ["/feed", "/rss", "/atom.xml", "/index.xml"] {
        assert_eq!(server.seen(path).len(), 1, "{path}");
    }
}

#[test]
fn add_refuses_a_private_address_unless_allowed_and_then_writes_it() {
    let server = TestServer::start();
    server.route("/feed.xml", titled_feed("Local"));
    let ws = Workspace::new();
    std::fs::write(ws.config(), HEAD).unwrap();
    let url = server.url("/feed.xml");
    let output = gleaner_in(&ws, &["add", &url]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("--allow-private"),
        "{}",
        stderr(&output)
    );
    assert!(
        server.all_seen().is_empty(),
        "nothing may be asked of a refused address"
    );
    assert_eq!(config_text(&ws), HEAD);

    ok(&ws, &["add", "--allow-private", &url]);
    let config = load(&ws);
    let source = config.sources.iter().find(|s| s.url == url).unwrap();
    assert!(source.allow_private);
    assert_eq!(source.name.as_deref(), Some("Local"));

    // An empty tag is refused before anything is asked.
    let asked = server.all_seen().len();
    let output = gleaner_in(
        &ws,
        &["add", "--no-discover", "https://t.example/f", "--tag", " "],
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("--tag"), "{}", stderr(&output));
    assert_eq!(server.all_seen().len(), asked);

    // --no-discover adds without asking anything.
    let asked = server.all_seen().len();
    ok(
        &ws,
        &[
            "add",
            "--no-discover",
            "https://never.example/feed",
            "--name",
            "Later",
        ],
    );
    assert_eq!(server.all_seen().len(), asked);
    assert_eq!(
        find(&sources(&ws), "https://never.example/feed")
            .1
            .as_deref(),
        Some("Later")
    );
}

fn status_of(ws: &Workspace, url: &str) -> String {
    ws.open_db()
        .query_row("SELECT status FROM sources WHERE url = ?1", [url], |r| {
            r.get(0)
        })
        .unwrap()
}

fn id_of(ws: &Workspace, url: &str) -> i64 {
    ws.open_db()
        .query_row("SELECT id FROM sources WHERE url = ?1", [url], |r| r.get(0))
        .unwrap()
}

#[test]
fn remove_pause_and_resume_by_url_and_by_id() {
    let server = TestServer::start();
    for path in ["/a.xml", "/b.xml", "/c.xml"] {
        server.route(path, common::tagged_feed(&path[1..2]));
    }
    let (a, b, c) = (
        server.url("/a.xml"),
        server.url("/b.xml"),
        server.url("/c.xml"),
    );
    let ws = Workspace::new();
    ws.write_config(
        "# my sources\ninterval = \"1h\"",
        &[("a", &a), ("b", &b), ("c", &c)],
    );
    ws.once();
    let original = config_text(&ws);

    // Pause a by URL (spelled otherwise: the host in capitals), b by id.
    let shouted = a.replace("http://", "HTTP://");
    let out = ok(&ws, &["pause", &shouted]);
    assert!(out.contains(&format!("paused {a}")), "{out}");
    let out = ok(&ws, &["pause", &id_of(&ws, &b).to_string()]);
    assert!(out.contains(&format!("paused {b}")), "{out}");
    assert!(ok(&ws, &["pause", &b]).contains("already paused"));
    let config = load(&ws);
    assert_eq!(
        config.sources.iter().map(|s| s.paused).collect::<Vec<_>>(),
        [true, true, false]
    );
    assert!(config_text(&ws).starts_with("database = \"gleaner.db\"\n# my sources\n"));

    // A pass polls only c; a and b are paused in the database.
    let before_a = server.seen("/a.xml").len();
    ws.once();
    assert_eq!(
        server.seen("/a.xml").len(),
        before_a,
        "a paused source was polled"
    );
    assert_eq!(status_of(&ws, &a), "paused");
    assert_eq!(status_of(&ws, &b), "paused");
    assert_eq!(status_of(&ws, &c), "active");

    // `revive` does not undo a pause (the configuration would pause it again): it says how.
    let revived = gleaner_in(&ws, &["revive", &id_of(&ws, &b).to_string()]);
    assert_eq!(revived.status.code(), Some(1));
    assert!(
        stderr(&revived).contains(&format!(
            "{b} is paused in the configuration: `gleaner resume"
        )),
        "{}",
        stderr(&revived)
    );
    assert_eq!(status_of(&ws, &b), "paused");

    // Resume a by id: polled again.
    let out = ok(&ws, &["resume", &id_of(&ws, &a).to_string()]);
    assert!(out.contains(&format!("resumed {a}")), "{out}");
    ws.once();
    assert_eq!(status_of(&ws, &a), "active");
    assert_eq!(server.seen("/a.xml").len(), before_a + 1);

    // Remove c by id, b by URL: marked removed, articles kept.
    ok(&ws, &["remove", &id_of(&ws, &c).to_string()]);
    ok(&ws, &["remove", &b]);
    let config = load(&ws);
    assert_eq!(
        config
            .sources
            .iter()
            .map(|s| s.url.as_str())
            .collect::<Vec<_>>(),
        [a.as_str()]
    );
    ws.once();
    assert_eq!(status_of(&ws, &c), "removed");
    assert_eq!(status_of(&ws, &b), "removed");
    assert_eq!(count(&ws.open_db(), "SELECT count(*) FROM articles"), 3);
    // Resuming a paused source leaves the configuration's other bytes alone: the file is the
    // original with two tables taken out.
    let text = config_text(&ws);
    assert!(original.starts_with(&text[..text.find("[[sources]]").unwrap()]));

    // Unknown ones: a clear error naming `gleaner sources`, nothing written.
    for unknown in ["9999", "https://nowhere.example/feed", &c] {
        let output = gleaner_in(&ws, &["remove", unknown]);
        assert_eq!(output.status.code(), Some(1), "{unknown}");
        assert!(
            stderr(&output).contains("gleaner sources"),
            "{unknown}: {}",
            stderr(&output)
        );
    }
    assert_eq!(config_text(&ws), text);
}

#[test]
fn a_gone_source_stays_gone_when_resumed() {
    let server = TestServer::start();
    server.route("/gone.xml", Reply::status(410, "gone"));
    let url = server.url("/gone.xml");
    let ws = Workspace::new();
    ws.write_config("", &[("g", &url)]);
    ws.once();
    assert_eq!(status_of(&ws, &url), "gone");
    ok(&ws, &["pause", &url]);
    ws.once();
    assert_eq!(status_of(&ws, &url), "gone", "pausing does not hide a 410");
    let out = ok(&ws, &["resume", &url]);
    assert!(out.contains("gleaner revive"), "{out}");
    ws.once();
    assert_eq!(status_of(&ws, &url), "gone");
}

/// A running `gleaner run`, stopped when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn polls_of(server: &TestServer, path: &str) -> usize {
    server.seen(path).len()
}

#[test]
fn a_running_daemon_picks_up_add_pause_resume_and_remove_without_a_signal() {
    let server = TestServer::start();
    server.route("/a.xml", common::tagged_feed("a"));
    server.route("/b.xml", common::tagged_feed("b"));
    let (a, b) = (server.url("/a.xml"), server.url("/b.xml"));
    let ws = Workspace::new();
    // a is polled every 3 s (a pinned interval), so "stops being polled" shows within seconds.
    std::fs::write(
        ws.config(),
        format!(
            "# watched\ndatabase = \"gleaner.db\"\nmin_interval = \"1s\"\nhost_delay = \"0s\"\n\n\
             [[sources]]\nurl = \"{a}\"\nname = \"a\"\ninterval = \"3s\"\n"
        ),
    )
    .unwrap();
    let _daemon = Running(
        gleaner()
            .args(["--config", ws.config().to_str().unwrap(), "run"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for(Duration::from_secs(20), "a's first poll", || {
        ws.db().exists() && polls_of(&server, "/a.xml") >= 1
    });

    // add: polled within seconds, with no SIGHUP.
    let output = gleaner_in(&ws, &["add", "--allow-private", &b]);
    assert!(output.status.success(), "{}", stderr(&output));
    wait_for(Duration::from_secs(15), "b polled by the daemon", || {
        polls_of(&server, "/b.xml") >= 2 // one by `add`, one by the daemon
    });
    assert_eq!(status_of(&ws, &b), "active");

    // pause: status paused, and no poll of a after that.
    ok(&ws, &["pause", &a]);
    wait_for(Duration::from_secs(15), "a paused in the database", || {
        status_of(&ws, &a) == "paused"
    });
    let polls = polls_of(&server, "/a.xml");
    std::thread::sleep(Duration::from_secs(7)); // more than two intervals of a
    assert_eq!(
        polls_of(&server, "/a.xml"),
        polls,
        "a paused source was polled"
    );

    // resume: polled again.
    ok(&ws, &["resume", &id_of(&ws, &a).to_string()]);
    wait_for(Duration::from_secs(15), "a polled again", || {
        polls_of(&server, "/a.xml") > polls
    });
    assert_eq!(status_of(&ws, &a), "active");

    // remove: marked removed, its article kept.
    ok(&ws, &["remove", &b]);
    wait_for(Duration::from_secs(15), "b marked removed", || {
        status_of(&ws, &b) == "removed"
    });
    assert_eq!(count(&ws.open_db(), "SELECT count(*) FROM articles"), 2);
    assert!(config_text(&ws).starts_with("# watched\n"));
}
