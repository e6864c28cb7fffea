//! Politeness and scheduling through the real binary and a real loopback server: per-host
//! limits and spacing, redirects, 410, Retry-After, backoff, outages, user agents, retention,
//! and servers that misbehave. Every assertion is on what the server saw or what the database
//! says.

mod common;

use std::time::Duration;

use common::{Reply, TestServer, Workspace, count, rss, run, stderr, stdout, tagged_feed as feed};

const DATE: &str = "Fri, 03 Feb 2023 10:00:00 +0000";

fn source_row(
    ws: &Workspace,
    name: &str,
) -> (
    String,
    String,
    i64,
    Option<String>,
    Option<String>,
    Option<String>,
) {
    ws.open_db()
        .query_row(
            "SELECT url, status, consecutive_errors, next_poll_reason, last_polled_at, next_poll_at
             FROM sources WHERE name = ?1",
            [name],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            },
        )
        .unwrap()
}

fn seconds_between(from: &str, to: &str) -> i64 {
    let parse = |t: &str| chrono::DateTime::parse_from_rfc3339(t).unwrap();
    (parse(to) - parse(from)).num_seconds()
}

#[test]
fn requests_to_one_host_are_limited_and_spaced() {
    let server = TestServer::start();
    let names: Vec<String> = (0..4).map(|i| format!("s{i}")).collect();
    for name in &names {
        server.route(&format!("/{name}.xml"), feed(name));
    }
    let ws = Workspace::new();
    let sources: Vec<(String, String)> = names
        .iter()
        .map(|n| (n.clone(), server.url(&format!("/{n}.xml"))))
        .collect();
    let refs: Vec<(&str, &str)> = sources
        .iter()
        .map(|(n, u)| (n.as_str(), u.as_str()))
        .collect();
    ws.write_config("per_host = 1\nhost_delay = \"1s\"", &refs);
    ws.once();
    let mut times: Vec<_> = server.all_seen().iter().map(|s| s.at).collect();
    times.sort();
    assert_eq!(times.len(), 4);
    for pair in times.windows(2) {
        let gap = pair[1].duration_since(pair[0]);
        assert!(gap >= Duration::from_millis(950), "requests {gap:?} apart");
    }
    assert_eq!(server.max_in_flight(), 1);

    // Two in flight at most when the host's per_host is 2, however many sources it has.
    let slow = TestServer::start();
    let many: Vec<(String, String)> = (0..6)
        .map(|i| {
            let path = format!("/slow{i}.xml");
            slow.route(
                &path,
                Reply::Slow(
                    Duration::from_millis(400),
                    Box::new(feed(&format!("slow{i}"))),
                ),
            );
            (format!("slow{i}"), slow.url(&path))
        })
        .collect();
    let refs: Vec<(&str, &str)> = many.iter().map(|(n, u)| (n.as_str(), u.as_str())).collect();
    let ws = Workspace::new();
    // The global limits are strict; the host's own limits are what apply to it.
    ws.write_config(
        "per_host = 1\nhost_delay = \"5s\"\n[hosts.\"127.0.0.1\"]\nper_host = 2\nhost_delay = \"0s\"",
        &refs,
    );
    ws.once();
    assert_eq!(slow.all_seen().len(), 6);
    assert_eq!(slow.max_in_flight(), 2);
}

#[test]
fn a_permanent_redirect_moves_the_source_after_three_polls_a_temporary_one_never() {
    let server = TestServer::start();
    server.route("/old.xml", Reply::redirect(301, "/new.xml"));
    server.route("/new.xml", feed("moved"));
    server.route("/temp.xml", Reply::redirect(302, "/elsewhere.xml"));
    server.route("/elsewhere.xml", feed("temp"));
    server.route("/perm308.xml", Reply::redirect(308, "/new308.xml"));
    server.route("/new308.xml", feed("p308"));
    let ws = Workspace::new();
    ws.write_config(
        "host_delay = \"0s\"",
        &[
            ("moved", &server.url("/old.xml")),
            ("temp", &server.url("/temp.xml")),
            ("p308", &server.url("/perm308.xml")),
        ],
    );
    for poll in 1..=3 {
        ws.once();
        let (url, ..) = source_row(&ws, "moved");
        let expected = if poll < 3 {
            server.url("/old.xml")
        } else {
            server.url("/new.xml")
        };
        assert_eq!(url, expected, "after poll {poll}");
    }
    ws.once();
    assert_eq!(
        server.seen("/old.xml").len(),
        3,
        "the old URL is no longer asked"
    );
    assert_eq!(server.seen("/new.xml").len(), 4);
    assert_eq!(source_row(&ws, "p308").0, server.url("/new308.xml"));
    assert_eq!(
        source_row(&ws, "temp").0,
        server.url("/temp.xml"),
        "302 never moves a source"
    );
    assert_eq!(server.seen("/temp.xml").len(), 4);
    let db = ws.open_db();
    assert_eq!(count(&db, "SELECT count(*) FROM source_aliases"), 2);
    let hops: String = db
        .query_row(
            "SELECT redirects FROM fetches WHERE url LIKE '%/temp.xml' LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(hops, format!("302 {}", server.url("/elsewhere.xml")));
    // The configuration still names the old URL: it maps to the same source, no new one.
    ws.once();
    assert_eq!(count(&db, "SELECT count(*) FROM sources"), 3);
    assert_eq!(
        count(&db, "SELECT count(*) FROM sources WHERE status = 'active'"),
        3
    );
    assert_eq!(count(&db, "SELECT count(*) FROM articles"), 3);
}

#[test]
fn redirect_loops_and_chains_are_cut() {
    let server = TestServer::start();
    server.route("/a.xml", Reply::redirect(302, "/b.xml"));
    server.route("/b.xml", Reply::redirect(302, "/a.xml"));
    for i in 0..8 {
        server.route(
            &format!("/hop{i}.xml"),
            Reply::redirect(307, &format!("/hop{}.xml", i + 1)),
        );
    }
    let ws = Workspace::new();
    ws.write_config(
        "host_delay = \"0s\"",
        &[
            ("loop", &server.url("/a.xml")),
            ("chain", &server.url("/hop0.xml")),
        ],
    );
    let out = stdout(&ws.once());
    assert!(
        out.contains("error  loop: redirect: redirect loop"),
        "{out}"
    );
    assert!(
        out.contains("error  chain: redirect: more than 5 redirects"),
        "{out}"
    );
    assert!(server.seen("/hop7.xml").is_empty());
    assert_eq!(server.seen("/a.xml").len(), 1);
}

#[test]
fn gone_retires_the_source_until_revived() {
    let server = TestServer::start();
    server.route("/gone.xml", Reply::status(410, "gone"));
    server.route("/ok.xml", feed("ok"));
    let ws = Workspace::new();
    ws.write_config(
        "host_delay = \"0s\"",
        &[
            ("gone", &server.url("/gone.xml")),
            ("ok", &server.url("/ok.xml")),
        ],
    );
    ws.once();
    let (_, status, errors, reason, ..) = source_row(&ws, "gone");
    assert_eq!(
        (status.as_str(), errors, reason.as_deref()),
        ("gone", 0, Some("gone"))
    );
    ws.once();
    assert_eq!(
        server.seen("/gone.xml").len(),
        1,
        "a gone source is not polled, even with --force"
    );
    let listing = stdout(&run(&[
        "--config",
        ws.config().to_str().unwrap(),
        "sources",
    ]));
    assert!(
        listing
            .lines()
            .any(|l| l.contains("gone") && l.ends_with("gone")),
        "{listing}"
    );

    let revived = run(&[
        "--config",
        ws.config().to_str().unwrap(),
        "revive",
        &server.url("/gone.xml"),
    ]);
    assert!(revived.status.success(), "{}", stderr(&revived));
    ws.once_due();
    assert_eq!(server.seen("/gone.xml").len(), 2);
    let unknown = run(&[
        "--config",
        ws.config().to_str().unwrap(),
        "revive",
        "https://nowhere.example/",
    ]);
    assert!(!unknown.status.success());
    assert!(
        stderr(&unknown).contains("no source"),
        "{}",
        stderr(&unknown)
    );
}

#[test]
fn retry_after_is_obeyed_for_the_source_and_for_the_whole_host_on_429() {
    let a = TestServer::start();
    let b = TestServer::start_at("127.0.0.2");
    a.route(
        "/limited.xml",
        Reply::status(429, "slow down").with_header("Retry-After", "3600"),
    );
    a.route(
        "/sibling.xml",
        Reply::Slow(Duration::from_millis(300), Box::new(feed("sibling"))),
    );
    let in_an_hour = (chrono::Utc::now() + chrono::Duration::hours(1))
        .to_rfc2822()
        .replace("+0000", "GMT");
    b.route(
        "/busy.xml",
        Reply::status(503, "busy").with_header("Retry-After", &in_an_hour),
    );
    b.route("/fine.xml", feed("fine"));
    let ws = Workspace::new();
    ws.write_config(
        "host_delay = \"0s\"\nper_host = 1",
        &[
            ("limited", &a.url("/limited.xml")),
            ("sibling", &a.url("/sibling.xml")),
            ("busy", &b.url("/busy.xml")),
            ("fine", &b.url("/fine.xml")),
        ],
    );
    let out = stdout(&ws.once());
    assert!(
        out.contains("error  limited: rate_limited: HTTP 429"),
        "{out}"
    );
    let sibling_polls = a.seen("/sibling.xml").len();
    ws.once();
    ws.once();
    assert_eq!(a.seen("/limited.xml").len(), 1, "Retry-After broken");
    assert_eq!(
        a.seen("/sibling.xml").len(),
        sibling_polls,
        "a 429 holds the whole host"
    );
    assert_eq!(b.seen("/busy.xml").len(), 1, "Retry-After of a 503 broken");
    assert_eq!(b.seen("/fine.xml").len(), 3, "a 503 holds only its source");

    let (_, status, errors, reason, last, next) = source_row(&ws, "limited");
    assert_eq!(
        (status.as_str(), errors, reason.as_deref()),
        ("active", 0, Some("retry-after"))
    );
    let wait = seconds_between(&last.unwrap(), &next.unwrap());
    assert!((3590..=3610).contains(&wait), "{wait}");
    let (_, _, errors, reason, ..) = source_row(&ws, "busy");
    assert_eq!((errors, reason.as_deref()), (0, Some("retry-after")));
    let db = ws.open_db();
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM fetches WHERE error_class = 'rate_limited' AND charged = 0 AND retry_after IS NOT NULL"
        ),
        2
    );
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM host_blocks WHERE host = '127.0.0.1'"
        ),
        1
    );
}

#[test]
fn backoff_grows_with_errors_and_resets_on_success() {
    let server = TestServer::start();
    server.route("/flaky.xml", Reply::status(500, "oops"));
    let ws = Workspace::new();
    ws.write_config(
        "interval = \"10m\"\nhost_delay = \"0s\"",
        &[("flaky", &server.url("/flaky.xml"))],
    );
    let mut waits = Vec::new();
    for expected_errors in 1..=4 {
        ws.once();
        let (_, status, errors, reason, last, next) = source_row(&ws, "flaky");
        assert_eq!(
            (status.as_str(), errors, reason.as_deref()),
            ("active", expected_errors, Some("backoff"))
        );
        waits.push(seconds_between(&last.unwrap(), &next.unwrap()));
    }
    // 10, 20, 40, 80 minutes, each give or take 3% of jitter.
    for (wait, minutes) in waits.iter().zip([10, 20, 40, 80]) {
        let expected = minutes * 60;
        assert!(
            (*wait - expected).abs() <= expected * 3 / 100 + 1,
            "{waits:?}"
        );
    }
    server.route("/flaky.xml", feed("flaky"));
    ws.once();
    let (_, _, errors, reason, last, next) = source_row(&ws, "flaky");
    assert_eq!((errors, reason.as_deref()), (0, Some("interval")));
    assert!(seconds_between(&last.unwrap(), &next.unwrap()) <= 620);
    // Due-only polling respects the schedule: nothing is due now.
    ws.once_due();
    assert_eq!(server.seen("/flaky.xml").len(), 5);
}

#[test]
fn a_local_outage_charges_no_source() {
    // Nothing listens on port 9 of these addresses: every connection is refused at once, as
    // when the machine has no network.
    let dead: Vec<(String, String)> = (3..7)
        .map(|i| (format!("dead{i}"), format!("http://127.0.0.{i}:9/feed.xml")))
        .collect();
    let refs: Vec<(&str, &str)> = dead.iter().map(|(n, u)| (n.as_str(), u.as_str())).collect();
    let ws = Workspace::new();
    ws.write_config("", &refs);
    let output = ws.once();
    assert!(
        stderr(&output).contains("the network looks down here"),
        "{}",
        stderr(&output)
    );
    let db = ws.open_db();
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM sources WHERE consecutive_errors > 0"
        ),
        0
    );
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM fetches WHERE error_class = 'connect' AND charged = 0"
        ),
        4
    );
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM sources WHERE next_poll_reason = 'outage'"
        ),
        4
    );

    // With the network known to work, one dead host is the feed's fault.
    let server = TestServer::start();
    server.route("/ok.xml", feed("ok"));
    let ws = Workspace::new();
    ws.write_config("", &[("ok", &server.url("/ok.xml"))]);
    ws.once();
    ws.write_config(
        "",
        &[
            ("ok", &server.url("/ok.xml")),
            ("dead", "http://127.0.0.3:9/feed.xml"),
        ],
    );
    ws.once();
    let (_, _, errors, reason, ..) = source_row(&ws, "dead");
    assert_eq!((errors, reason.as_deref()), (1, Some("backoff")));
}

#[test]
fn user_agent_is_global_or_per_source() {
    let server = TestServer::start();
    server.route("/a.xml", feed("a"));
    server.route("/b.xml", feed("b"));
    let ws = Workspace::new();
    std::fs::write(
        ws.config(),
        format!(
            "database = \"gleaner.db\"\nuser_agent = \"gleaner/test (+https://example.org/ua)\"\nhost_delay = \"0s\"\n\
             [[sources]]\nurl = \"{}\"\n[[sources]]\nurl = \"{}\"\nuser_agent = \"special-agent/1.0\"\n",
            server.url("/a.xml"),
            server.url("/b.xml")
        ),
    )
    .unwrap();
    ws.once();
    assert_eq!(
        server.seen("/a.xml")[0].headers["user-agent"],
        "gleaner/test (+https://example.org/ua)"
    );
    assert_eq!(
        server.seen("/b.xml")[0].headers["user-agent"],
        "special-agent/1.0"
    );
}

#[test]
fn bad_servers_are_cut_off_and_recorded() {
    let server = TestServer::start();
    server.route(
        "/trickle.xml",
        Reply::Endless {
            chunk: 1,
            pause: Duration::from_millis(500),
        },
    );
    server.route(
        "/flood.xml",
        Reply::Endless {
            chunk: 64 * 1024,
            pause: Duration::ZERO,
        },
    );
    server.route("/silent.xml", Reply::Hang);
    server.route("/ok.xml", feed("ok"));
    let ws = Workspace::new();
    ws.write_config(
        "timeout = \"3s\"\nmax_feed_bytes = 1048576\nhost_delay = \"0s\"\nper_host = 4",
        &[
            ("trickle", &server.url("/trickle.xml")),
            ("flood", &server.url("/flood.xml")),
            ("silent", &server.url("/silent.xml")),
            ("ok", &server.url("/ok.xml")),
        ],
    );
    let out = stdout(&ws.once());
    assert!(out.contains("error  trickle: timeout"), "{out}");
    assert!(out.contains("error  flood: too_large"), "{out}");
    assert!(out.contains("error  silent: timeout"), "{out}");
    assert!(out.contains("ok     ok: 1 new"), "{out}");
    for name in ["trickle", "flood", "silent"] {
        let (_, status, errors, reason, ..) = source_row(&ws, name);
        assert_eq!(
            (status.as_str(), errors, reason.as_deref()),
            ("active", 1, Some("backoff")),
            "{name}"
        );
    }
}

#[test]
fn old_fetches_are_pruned_after_the_retention() {
    let server = TestServer::start();
    server.route("/a.xml", feed("a"));
    let ws = Workspace::new();
    ws.write_config("fetch_retention = \"1d\"", &[("a", &server.url("/a.xml"))]);
    ws.once();
    let db = ws.open_db();
    db.execute("UPDATE fetches SET started_at = '2000-01-01T00:00:00Z'", [])
        .unwrap();
    ws.once();
    assert_eq!(count(&db, "SELECT count(*) FROM fetches"), 1);
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM fetches WHERE started_at > '2020-01-01'"
        ),
        1
    );
}

#[test]
fn publisher_hints_push_the_next_poll_back() {
    let server = TestServer::start();
    let with_ttl = rss(&[("t", "https://example.org/t", "T", DATE, "<p>t</p>")]).replace(
        "<description>d</description>",
        "<description>d</description><ttl>180</ttl>",
    );
    server.route("/ttl.xml", Reply::feed(with_ttl).with_etag("\"t\""));
    server.route(
        "/maxage.xml",
        feed("m").with_header("Cache-Control", "max-age=7200"),
    );
    let ws = Workspace::new();
    // Full text off: the teaser's page is off this machine, and a page still to fetch makes the
    // next poll read the feed again instead of a conditional GET (tests/full_text.rs).
    ws.write_config(
        "interval = \"10m\"\nhost_delay = \"0s\"\nfull_text = \"never\"",
        &[
            ("ttl", &server.url("/ttl.xml")),
            ("maxage", &server.url("/maxage.xml")),
        ],
    );
    ws.once();
    // A 304 keeps the feed's ttl: the hint is remembered, not lost with the body.
    ws.once();
    assert_eq!(server.seen("/ttl.xml")[1].status, 304);
    let (_, _, _, reason, last, next) = source_row(&ws, "ttl");
    assert_eq!(reason.as_deref(), Some("hint"));
    assert_eq!(seconds_between(&last.unwrap(), &next.unwrap()), 3 * 3600);
    let (_, _, _, reason, last, next) = source_row(&ws, "maxage");
    assert_eq!(reason.as_deref(), Some("hint"));
    assert_eq!(seconds_between(&last.unwrap(), &next.unwrap()), 7200);
}
