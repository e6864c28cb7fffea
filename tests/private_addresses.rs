//! Redirects to loopback, private and link-local addresses, through the real binary, real
//! loopback servers and the real SQLite file. Only loopback servers are available, so the tests
//! that need a "public" feed run a debug build with `GLEANER_TEST_PUBLIC_ADDRESSES` naming one
//! loopback address (127.0.0.2) that is then counted public; every other address keeps its real
//! class, and names still go through the system resolver.

mod common;

use std::process::Stdio;

use common::{Reply, TestServer, Workspace, count, stderr, stdout, tagged_feed as feed};
use gleaner::fetch::address::TEST_PUBLIC_ADDRESSES;

/// The loopback address counted public, where the "public" feeds are served.
const PUBLIC_IP: &str = "127.0.0.2";
/// More polls than `source::REDIRECT_POLLS_TO_MOVE` (3), which moves a source.
const POLLS_PAST_A_MOVE: usize = 4;
const ADVICE: &str = "set allow_private = true on the source to allow it";

/// Writes a configuration with no gap between requests and these (name, url, allow_private).
fn write_config(ws: &Workspace, sources: &[(&str, &str, bool)]) {
    let mut text = String::from("database = \"gleaner.db\"\nhost_delay = \"0s\"\nper_host = 4\n");
    for (name, url, allow_private) in sources {
        text.push_str(&format!(
            "\n[[sources]]\nname = \"{name}\"\nurl = \"{url}\"\n"
        ));
        if *allow_private {
            text.push_str("allow_private = true\n");
        }
    }
    std::fs::write(ws.config(), text).unwrap();
}

/// `gleaner once --force` with `public` counted as public addresses; returns its stdout.
fn once_counting_public(ws: &Workspace, public: &str) -> String {
    let output = common::gleaner()
        .env(TEST_PUBLIC_ADDRESSES, public)
        .args(["--config", ws.config().to_str().unwrap(), "once", "--force"])
        .stdin(Stdio::null())
        .output()
        .expect("running gleaner");
    assert!(
        output.status.success(),
        "gleaner once failed: {}",
        stderr(&output)
    );
    stdout(&output)
}

/// The last fetch of a source: (error_class, error_message, charged, redirects).
fn last_fetch(ws: &Workspace, name: &str) -> (Option<String>, Option<String>, i64, Option<String>) {
    ws.open_db()
        .query_row(
            "SELECT f.error_class, f.error_message, f.charged, f.redirects
             FROM fetches f JOIN sources s ON s.id = f.source_id
             WHERE s.name = ?1 ORDER BY f.id DESC LIMIT 1",
            [name],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap()
}

/// A source's (url, redirect_polls, consecutive_errors).
fn source_row(ws: &Workspace, name: &str) -> (String, i64, i64) {
    ws.open_db()
        .query_row(
            "SELECT url, redirect_polls, consecutive_errors FROM sources WHERE name = ?1",
            [name],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap()
}

#[test]
fn a_source_on_a_loopback_address_follows_redirects_within_it_and_may_move_there() {
    let origin = TestServer::start();
    let elsewhere = TestServer::start();
    origin.route(
        "/temp.xml",
        Reply::redirect(302, &elsewhere.url("/temp.xml")),
    );
    origin.route(
        "/perm.xml",
        Reply::redirect(301, &elsewhere.url("/perm.xml")),
    );
    elsewhere.route("/temp.xml", feed("temp"));
    elsewhere.route("/perm.xml", feed("perm"));
    elsewhere.route("/named.xml", feed("named"));
    // A name that resolves only to loopback is on a loopback address too.
    let named = format!("http://localhost:{}/named.xml", origin.addr.port());
    origin.route(
        "/named.xml",
        Reply::redirect(302, &elsewhere.url("/named.xml")),
    );
    let ws = Workspace::new();
    write_config(
        &ws,
        &[
            ("temp", &origin.url("/temp.xml"), false),
            ("perm", &origin.url("/perm.xml"), false),
            ("named", &named, false),
        ],
    );
    for poll in 1..=POLLS_PAST_A_MOVE {
        let out = stdout(&ws.once());
        for name in ["temp", "named"] {
            assert!(
                out.contains(&format!("ok     {name}: ")),
                "poll {poll}: {out}"
            );
            assert_eq!(last_fetch(&ws, name).0, None, "poll {poll}");
        }
    }
    assert_eq!(elsewhere.seen("/temp.xml").len(), POLLS_PAST_A_MOVE);
    assert_eq!(elsewhere.seen("/named.xml").len(), POLLS_PAST_A_MOVE);
    // Moving within the private network it already lives in is allowed.
    assert_eq!(source_row(&ws, "perm").0, elsewhere.url("/perm.xml"));
    assert_eq!(origin.seen("/perm.xml").len(), 3);
    assert_eq!(source_row(&ws, "temp").0, origin.url("/temp.xml"));
}

#[test]
#[cfg_attr(not(debug_assertions), ignore = "needs the debug build's address hook")]
fn a_public_feed_redirecting_to_a_non_public_address_is_refused_and_recorded() {
    let public = TestServer::start_at(PUBLIC_IP);
    let private = TestServer::start();
    let port = private.addr.port();
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "loopback",
            private.url("/loopback.xml"),
            "(127.0.0.1) refused: a loopback address",
        ),
        (
            "ten",
            "http://10.0.0.1/feed.xml".into(),
            "(10.0.0.1) refused: a private address",
        ),
        (
            "metadata",
            "http://169.254.169.254/latest/meta-data/".into(),
            "(169.254.169.254) refused: a link-local address",
        ),
        (
            "v6-loopback",
            format!("http://[::1]:{port}/v6-loopback.xml"),
            "(::1) refused: a loopback address",
        ),
        (
            "v6-link",
            "http://[fe80::1]/feed.xml".into(),
            "(fe80::1) refused: a link-local address",
        ),
        (
            "mapped",
            format!("http://[::ffff:7f00:1]:{port}/mapped.xml"),
            "(::ffff:127.0.0.1) refused: a loopback address",
        ),
        (
            "unspecified",
            format!("http://0.0.0.0:{port}/unspecified.xml"),
            "(0.0.0.0) refused: an unspecified address",
        ),
        // A name: refused after resolution, whatever else it resolves to here (::1 too, maybe).
        (
            "name",
            format!("http://localhost:{port}/name.xml"),
            "(127.0.0.1",
        ),
    ];
    for (name, target, _) in &cases {
        public.route(&format!("/{name}.xml"), Reply::redirect(302, target));
        private.route(&format!("/{name}.xml"), feed(name));
    }
    // Refused on a later hop too, named in the message and in the recorded hops.
    public.route("/two-hops.xml", Reply::redirect(302, "/hop.xml"));
    public.route("/hop.xml", Reply::redirect(307, &private.url("/deep.xml")));
    private.route("/deep.xml", feed("deep"));
    let ws = Workspace::new();
    let urls: Vec<(String, String)> = cases
        .iter()
        .map(|(name, ..)| (name.to_string(), public.url(&format!("/{name}.xml"))))
        .chain([("two-hops".to_string(), public.url("/two-hops.xml"))])
        .collect();
    let sources: Vec<(&str, &str, bool)> = urls
        .iter()
        .map(|(name, url)| (name.as_str(), url.as_str(), false))
        .collect();
    write_config(&ws, &sources);

    let out = once_counting_public(&ws, PUBLIC_IP);

    assert!(private.all_seen().is_empty(), "{:?}", private.all_seen());
    for (name, target, why) in &cases {
        let target = url::Url::parse(target).unwrap().to_string();
        let expected = format!("redirect to {target} {why}");
        assert!(
            out.contains(&format!("error  {name}: private_address: {expected}")),
            "{name}: {out}"
        );
        let (class, message, charged, redirects) = last_fetch(&ws, name);
        assert_eq!(class.as_deref(), Some("private_address"), "{name}");
        let message = message.unwrap();
        assert!(message.starts_with(&expected), "{name}: {message}");
        assert!(message.ends_with(ADVICE), "{name}: {message}");
        assert_eq!(charged, 1, "{name}: charged to the feed");
        assert_eq!(redirects, Some(format!("302 {target}")), "{name}");
        assert_eq!(source_row(&ws, name).2, 1, "{name}");
        assert_eq!(public.seen(&format!("/{name}.xml")).len(), 1, "{name}");
    }
    let (class, message, _, redirects) = last_fetch(&ws, "two-hops");
    assert_eq!(class.as_deref(), Some("private_address"));
    assert!(message.unwrap().starts_with(&format!(
        "redirect to {} (127.0.0.1) refused",
        private.url("/deep.xml")
    )),);
    assert_eq!(
        redirects,
        Some(format!(
            "302 {}; 307 {}",
            public.url("/hop.xml"),
            private.url("/deep.xml")
        ))
    );
    let db = ws.open_db();
    assert_eq!(count(&db, "SELECT count(*) FROM articles"), 0);
}

#[test]
#[cfg_attr(not(debug_assertions), ignore = "needs the debug build's address hook")]
fn a_feed_on_a_public_name_is_guarded_after_resolution() {
    // Here 127.0.0.1 counts public, so `localhost` resolves to a public address; 127.0.0.2 is
    // the private target.
    let origin = TestServer::start();
    let private = TestServer::start_at("127.0.0.2");
    let url = format!("http://localhost:{}/feed.xml", origin.addr.port());
    origin.route("/feed.xml", Reply::redirect(302, &private.url("/feed.xml")));
    origin.route("/direct.xml", feed("direct"));
    private.route("/feed.xml", feed("private"));
    let direct = format!("http://localhost:{}/direct.xml", origin.addr.port());
    let ws = Workspace::new();
    write_config(&ws, &[("named", &url, false), ("direct", &direct, false)]);

    let out = once_counting_public(&ws, "127.0.0.1");

    assert!(out.contains("ok     direct: 1 new"), "{out}");
    assert_eq!(origin.seen("/feed.xml").len(), 1);
    assert!(private.all_seen().is_empty());
    let expected = format!(
        "error  named: private_address: redirect to {} (127.0.0.2) refused: a loopback address; {ADVICE}",
        private.url("/feed.xml")
    );
    assert!(out.contains(&expected), "{out}");
}

#[test]
#[cfg_attr(not(debug_assertions), ignore = "needs the debug build's address hook")]
fn allow_private_lets_a_public_feed_redirect_to_a_private_address() {
    let public = TestServer::start_at(PUBLIC_IP);
    let private = TestServer::start();
    public.route(
        "/literal.xml",
        Reply::redirect(302, &private.url("/literal.xml")),
    );
    let by_name = format!("http://localhost:{}/named.xml", private.addr.port());
    public.route("/named.xml", Reply::redirect(307, &by_name));
    private.route("/literal.xml", feed("literal"));
    private.route("/named.xml", feed("named"));
    let ws = Workspace::new();
    write_config(
        &ws,
        &[
            ("literal", &public.url("/literal.xml"), true),
            ("named", &public.url("/named.xml"), true),
        ],
    );

    let out = once_counting_public(&ws, PUBLIC_IP);

    assert!(out.contains("ok     literal: 1 new"), "{out}");
    assert!(out.contains("ok     named: 1 new"), "{out}");
    assert_eq!(private.seen("/literal.xml").len(), 1);
    assert_eq!(private.seen("/named.xml").len(), 1);
    assert_eq!(last_fetch(&ws, "literal").0, None);
}

#[test]
#[cfg_attr(not(debug_assertions), ignore = "needs the debug build's address hook")]
fn a_permanent_redirect_never_moves_a_public_source_onto_a_private_address() {
    let public = TestServer::start_at(PUBLIC_IP);
    let also_public = TestServer::start_at("127.0.0.3");
    let private = TestServer::start();
    public.route(
        "/refused.xml",
        Reply::redirect(301, &private.url("/refused.xml")),
    );
    public.route(
        "/allowed.xml",
        Reply::redirect(308, &private.url("/allowed.xml")),
    );
    public.route(
        "/public.xml",
        Reply::redirect(301, &also_public.url("/public.xml")),
    );
    private.route("/refused.xml", feed("refused"));
    private.route("/allowed.xml", feed("allowed"));
    also_public.route("/public.xml", feed("public"));
    // A private target that never answers: where it is cannot be seen, so it is no place to
    // move a public source to either.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}/dead.xml", closed.local_addr().unwrap());
    drop(closed);
    public.route("/dead.xml", Reply::redirect(301, &dead));
    let ws = Workspace::new();
    write_config(
        &ws,
        &[
            ("refused", &public.url("/refused.xml"), false),
            // Followed every time, as the source allows, but never moved onto: its URL stays
            // the public one the configuration gave.
            ("allowed", &public.url("/allowed.xml"), true),
            // The control: the same number of polls moves a source between public addresses.
            ("public", &public.url("/public.xml"), false),
            ("dead", &public.url("/dead.xml"), true),
        ],
    );

    for poll in 1..=POLLS_PAST_A_MOVE {
        let out = once_counting_public(&ws, &format!("{PUBLIC_IP},127.0.0.3"));
        assert!(
            out.contains("error  refused: private_address: "),
            "poll {poll}: {out}"
        );
        assert!(out.contains("ok     allowed: "), "poll {poll}: {out}");
    }

    assert_eq!(
        source_row(&ws, "refused"),
        (public.url("/refused.xml"), 0, POLLS_PAST_A_MOVE as i64)
    );
    assert!(private.seen("/refused.xml").is_empty());
    assert_eq!(
        source_row(&ws, "allowed"),
        (public.url("/allowed.xml"), 0, 0)
    );
    assert_eq!(private.seen("/allowed.xml").len(), POLLS_PAST_A_MOVE);
    assert_eq!(public.seen("/allowed.xml").len(), POLLS_PAST_A_MOVE);
    assert_eq!(source_row(&ws, "public").0, also_public.url("/public.xml"));
    let (dead_url, dead_redirect_polls, _) = source_row(&ws, "dead");
    assert_eq!(
        (dead_url, dead_redirect_polls),
        (public.url("/dead.xml"), 0)
    );
    assert_eq!(last_fetch(&ws, "dead").3, Some(format!("301 {dead}")));
    let db = ws.open_db();
    assert_eq!(
        count(&db, "SELECT count(*) FROM source_aliases"),
        1,
        "only the public source moved"
    );
}
