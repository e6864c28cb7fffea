//! Full text through the real binary: teaser feeds and their article pages on loopback
//! servers, the real SQLite file. Each test checks what is stored (`body`, `feed_body`,
//! `body_origin`, `document`, `page_fetches`) and what the servers were asked.

mod common;

use common::{Reply, TestServer, Workspace, count, rss, stdout};

/// A teaser, as news feeds give them.
const TEASER: &str = "<p>The council voted on Tuesday to close the old harbour bridge to traffic \
                      from March …</p><p><a href=\"https://example.org/x\">Read more</a></p>";

/// The article's paragraphs, as its page has them.
const ARTICLE: [&str; 3] = [
    "The council voted on Tuesday to close the old harbour bridge to traffic from March, after \
     engineers found cracks in two of its piers during the winter inspection.",
    "Ferries will run every twenty minutes while the bridge is closed, and the council says the \
     repairs should take about eight months if the weather allows.",
    "Shop owners on the quay said they feared losing customers, but most welcomed the decision \
     after last year's partial collapse of the footpath.",
];

/// An article page: navigation, the article with its headline and paragraphs, a footer.
fn page(headline: &str, paragraphs: &[&str], head_extra: &str) -> String {
    let body: String = paragraphs.iter().map(|p| format!("<p>{p}</p>\n")).collect();
    format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{headline} | Harbour News</title>\
         {head_extra}</head><body><nav><a href=\"/\">Home</a> <a href=\"/news\">News</a> \
         <a href=\"/sport\">Sport</a></nav><main><article><h1>{headline}</h1>\n{body}</article></main>\
         <footer>© Harbour News. All rights reserved.</footer></body></html>"
    )
}

/// A feed of teasers, each (guid, link, title), dated [`DATE`].
fn teasers(items: &[(&str, &str, &str)]) -> Reply {
    let items: Vec<_> = items
        .iter()
        .map(|&(guid, link, title)| (guid, link, title, DATE, TEASER))
        .collect();
    Reply::feed(rss(&items))
}

fn html(body: impl Into<Vec<u8>>) -> Reply {
    Reply::feed(body).with_content_type("text/html; charset=utf-8")
}

const DATE: &str = "Tue, 05 Mar 2024 10:00:00 +0000";

/// A configuration with no gap between requests, `head` added, one source per (name, url).
fn configure(ws: &Workspace, head: &str, sources: &[(&str, &str)]) {
    ws.write_config(
        &format!("host_delay = \"0s\"\nper_host = 4\n{head}"),
        sources,
    );
}

/// An article's (body_origin, body, feed_body, document) by its title.
fn article(ws: &Workspace, title: &str) -> (String, String, Option<String>, String) {
    ws.open_db()
        .query_row(
            "SELECT body_origin, body, feed_body, document FROM articles WHERE title = ?1",
            [title],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap_or_else(|e| panic!("no article {title:?}: {e}"))
}

/// The (outcome, reason) of every page fetch, in order.
fn page_fetches(ws: &Workspace) -> Vec<(String, Option<String>)> {
    let conn = ws.open_db();
    let mut stmt = conn
        .prepare("SELECT outcome, reason FROM page_fetches ORDER BY id")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn a_teaser_gets_its_pages_article_and_a_whole_article_keeps_its_feed_text() {
    let server = TestServer::start();
    let long: String = std::iter::repeat_n(ARTICLE.join(" "), 3)
        .collect::<Vec<_>>()
        .join(" ");
    server.route(
        "/feed.xml",
        Reply::feed(rss(&[
            ("1", &server.url("/bridge"), "Bridge to close", DATE, TEASER),
            (
                "2",
                &server.url("/whole"),
                "A whole post",
                DATE,
                &format!("<p>{long}</p>"),
            ),
        ])),
    );
    server.route("/bridge", html(page("Bridge to close", &ARTICLE, "")));
    server.route("/whole", html(page("A whole post", &ARTICLE, "")));
    let ws = Workspace::new();
    configure(&ws, "", &[("news", &server.url("/feed.xml"))]);
    let out = stdout(&ws.once());
    assert!(out.contains("1 pages fetched, 1 with full text"), "{out}");

    let (origin, body, feed_body, document) = article(&ws, "Bridge to close");
    assert_eq!(origin, "page");
    assert_eq!(
        body,
        ARTICLE.join("\n\n"),
        "the page's article, in paragraphs"
    );
    assert!(
        feed_body
            .unwrap()
            .starts_with("The council voted on Tuesday")
    );
    assert_eq!(
        document,
        format!(
            " date 2024-03-05 Bridge to close\n\n{}",
            ARTICLE.join("\n\n")
        )
    );
    gleaner::text::check_document(&document).unwrap();
    let (origin, _, feed_body, _) = article(&ws, "A whole post");
    assert_eq!((origin.as_str(), feed_body), ("feed", None));
    assert!(
        server.seen("/whole").is_empty(),
        "a whole article's page is not fetched"
    );
    assert_eq!(server.seen("/bridge").len(), 1);
    // The page was asked for as a page, with gleaner's User-Agent, after robots.txt.
    let asked = &server.seen("/bridge")[0];
    assert!(asked.headers["accept"].starts_with("text/html"));
    assert!(asked.headers["user-agent"].starts_with("gleaner/"));
    assert_eq!(server.seen("/robots.txt").len(), 1);

    // A second pass fetches nothing again: the feed is unchanged, its pages known.
    ws.once();
    assert_eq!(server.seen("/bridge").len(), 1);
    assert_eq!(page_fetches(&ws), vec![("extracted".into(), None)]);
    let sources = stdout(&common::run(&[
        "--config",
        ws.config().to_str().unwrap(),
        "sources",
    ]));
    assert!(
        sources.contains("pages (last day): 1 fetched, 1 full text"),
        "{sources}"
    );
}

#[test]
fn always_fetches_every_page_and_never_none() {
    let server = TestServer::start();
    let short_whole = "<p>The council voted on Tuesday to close the old harbour bridge.</p>";
    let feed = rss(&[(
        "1",
        &server.url("/bridge"),
        "Bridge to close",
        DATE,
        short_whole,
    )]);
    server.route("/always.xml", Reply::feed(feed.clone()));
    server.route(
        "/never.xml",
        Reply::feed(feed.replace("/bridge", "/bridge-never")),
    );
    server.route("/bridge", html(page("Bridge to close", &ARTICLE, "")));
    server.route("/bridge-never", html(page("Bridge to close", &ARTICLE, "")));
    let ws = Workspace::new();
    std::fs::write(
        ws.config(),
        format!(
            "database = \"gleaner.db\"\nhost_delay = \"0s\"\nfull_text = \"never\"\n\
             [[sources]]\nname = \"always\"\nurl = \"{}\"\nfull_text = \"always\"\n\
             [[sources]]\nname = \"never\"\nurl = \"{}\"\n",
            server.url("/always.xml"),
            server.url("/never.xml")
        ),
    )
    .unwrap();
    ws.once();
    assert_eq!(server.seen("/bridge").len(), 1);
    assert!(server.seen("/bridge-never").is_empty());
    let conn = ws.open_db();
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM articles WHERE body_origin = 'page'"
        ),
        1
    );
    assert_eq!(count(&conn, "SELECT count(*) FROM page_fetches"), 1);

    // A bad value is refused with its place.
    std::fs::write(ws.config(), "full_text = \"sometimes\"\n").unwrap();
    let out = common::run(&["--config", ws.config().to_str().unwrap(), "once"]);
    assert!(!out.status.success());
    let err = common::stderr(&out);
    assert!(
        err.contains("gleaner.toml:1:") && err.contains("\"auto\", \"always\" or \"never\""),
        "{err}"
    );
}

#[test]
fn robots_txt_disallowing_a_page_keeps_the_feed_text() {
    let server = TestServer::start();
    server.route(
        "/robots.txt",
        Reply::feed("User-agent: *\nDisallow: /private/\n").with_content_type("text/plain"),
    );
    server.route(
        "/feed.xml",
        teasers(&[
            ("1", &server.url("/private/bridge"), "Bridge to close"),
            ("2", &server.url("/public/bridge"), "Bridge again"),
        ]),
    );
    server.route(
        "/private/bridge",
        html(page("Bridge to close", &ARTICLE, "")),
    );
    server.route("/public/bridge", html(page("Bridge again", &ARTICLE, "")));
    let ws = Workspace::new();
    configure(&ws, "", &[("news", &server.url("/feed.xml"))]);
    ws.once();
    assert!(
        server.seen("/private/bridge").is_empty(),
        "robots.txt obeyed"
    );
    assert_eq!(server.seen("/public/bridge").len(), 1);
    assert_eq!(
        server.seen("/robots.txt").len(),
        1,
        "robots.txt read once per site"
    );
    let (origin, body, _, _) = article(&ws, "Bridge to close");
    assert_eq!(origin, "feed");
    assert!(body.starts_with("The council voted"));
    assert_eq!(article(&ws, "Bridge again").0, "page");
    let conn = ws.open_db();
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM page_fetches WHERE outcome = 'kept_feed' AND reason = 'robots'"
        ),
        1
    );
    let sources = stdout(&common::run(&[
        "--config",
        ws.config().to_str().unwrap(),
        "sources",
    ]));
    assert!(sources.contains("feed text kept: robots 1"), "{sources}");
    // Refused for this revision: not asked again.
    ws.once();
    assert_eq!(count(&conn, "SELECT count(*) FROM page_fetches"), 2);
}

#[test]
fn pages_that_fail_keep_the_feed_text_with_the_reason() {
    let server = TestServer::start();
    server.route(
        "/feed.xml",
        teasers(&[
            ("1", &server.url("/missing"), "Missing"),
            ("2", &server.url("/slow"), "Slow"),
            ("3", &server.url("/huge"), "Huge"),
            ("4", &server.url("/menu"), "Menu"),
            ("5", &server.url("/cookies"), "Cookies"),
        ]),
    );
    server.route("/missing", Reply::status(404, "not here"));
    server.route("/slow", Reply::Hang);
    let huge = page("Huge", &[&"All work and no play. ".repeat(12_000)], "");
    server.route("/huge", html(huge));
    server.route(
        "/menu",
        html("<html><body><nav><a href=\"/\">Home</a></nav></body></html>"),
    );
    let wall = "We value your privacy. We and our partners store and access information on a \
                device, such as cookies, and process personal data for personalised advertising \
                and content, advertising and content measurement, audience research and services \
                development. You may click to consent to our processing as described above.";
    server.route("/cookies", html(page("Before you continue", &[wall], "")));
    let ws = Workspace::new();
    configure(
        &ws,
        "timeout = \"2s\"\nmax_feed_bytes = 100000\n",
        &[("news", &server.url("/feed.xml"))],
    );
    ws.once();
    let conn = ws.open_db();
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM articles WHERE body_origin = 'feed' AND feed_body IS NULL"
        ),
        5,
        "every article keeps its feed text"
    );
    let reasons: Vec<(String, String)> = {
        let mut stmt = conn
            .prepare(
                "SELECT a.title, p.outcome || ' ' || p.reason FROM page_fetches p
                 JOIN articles a ON a.id = p.article_id ORDER BY a.title",
            )
            .unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    assert_eq!(
        reasons,
        [
            ("Cookies".to_string(), "kept_feed mismatch".to_string()),
            ("Huge".into(), "kept_feed too_large".into()),
            ("Menu".into(), "kept_feed no_article".into()),
            ("Missing".into(), "kept_feed http_4xx".into()),
            ("Slow".into(), "deferred timeout".into()),
        ]
    );
    // Only the timeout is tried again, at the next poll.
    ws.once();
    assert_eq!(server.seen("/slow").len(), 2);
    assert_eq!(server.seen("/missing").len(), 1);
    assert_eq!(server.seen("/menu").len(), 1);
}

#[test]
fn a_pages_canonical_link_makes_two_feeds_items_one_article() {
    let server = TestServer::start();
    let canonical = format!(
        "<link rel=\"canonical\" href=\"{}\">",
        server.url("/story/bridge")
    );
    server.route(
        "/a.xml",
        teasers(&[("a1", &server.url("/amp/bridge"), "Bridge to close")]),
    );
    server.route(
        "/b.xml",
        teasers(&[("b1", &server.url("/bridge?from=rss"), "Bridge to close")]),
    );
    server.route(
        "/amp/bridge",
        html(page("Bridge to close", &ARTICLE, &canonical)),
    );
    server.route(
        "/bridge?from=rss",
        html(page("Bridge to close", &ARTICLE, &canonical)),
    );
    let ws = Workspace::new();
    ws.write_config(
        "host_delay = \"0s\"\nconcurrency = 1\n",
        &[("a", &server.url("/a.xml")), ("b", &server.url("/b.xml"))],
    );
    ws.once();
    let conn = ws.open_db();
    assert_eq!(
        count(&conn, "SELECT count(*) FROM articles"),
        1,
        "one article"
    );
    assert_eq!(
        count(&conn, "SELECT count(DISTINCT source_id) FROM entries"),
        2
    );
    let canonical_url: String = conn
        .query_row("SELECT canonical_url FROM articles", [], |r| r.get(0))
        .unwrap();
    assert!(canonical_url.ends_with("/story/bridge"), "{canonical_url}");
    // Known now by both sources: no page is fetched again.
    ws.once();
    assert_eq!(
        server.seen("/amp/bridge").len() + server.seen("/bridge?from=rss").len(),
        2
    );
}

#[test]
fn an_undated_item_takes_the_pages_date_and_an_untitled_one_its_headline() {
    let server = TestServer::start();
    let json_ld = "<script type=\"application/ld+json\">{\"@type\":\"NewsArticle\",\
                   \"headline\":\"Bridge to close\",\"datePublished\":\"2024-03-04T23:30:00-05:00\"}</script>";
    let feed = "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>t</title>\
                <link>https://example.org/</link><description>d</description>"
        .to_string()
        + &format!(
            "<item><guid>1</guid><link>{}</link><description><![CDATA[{TEASER}]]></description></item>",
            server.url("/bridge")
        )
        + "</channel></rss>";
    server.route("/feed.xml", Reply::feed(feed));
    server.route("/bridge", html(page("Bridge to close", &ARTICLE, json_ld)));
    let ws = Workspace::new();
    configure(&ws, "", &[("news", &server.url("/feed.xml"))]);
    ws.once();
    let (origin, _, _, document) = article(&ws, "Bridge to close");
    assert_eq!(origin, "page");
    // The calendar date in the publisher's own offset (-05:00), not in UTC (the 5th).
    assert!(
        document.starts_with(" date 2024-03-04 Bridge to close\n\nThe council voted"),
        "{document}"
    );
    let published: String = ws
        .open_db()
        .query_row("SELECT published_at FROM articles", [], |r| r.get(0))
        .unwrap();
    assert_eq!(published, "2024-03-05T04:30:00Z");
}

#[test]
fn pages_on_private_addresses_are_refused_unless_on_the_sources_own_host() {
    let feed_server = TestServer::start();
    let elsewhere = TestServer::start_at("127.0.0.2");
    let feed_url = format!("http://localhost:{}/feed.xml", feed_server.addr.port());
    let own = format!("http://localhost:{}/bridge", feed_server.addr.port());
    feed_server.route(
        "/feed.xml",
        teasers(&[
            ("1", &own, "Own host"),
            ("2", &elsewhere.url("/bridge"), "Elsewhere"),
        ]),
    );
    feed_server.route("/bridge", html(page("Own host", &ARTICLE, "")));
    elsewhere.route("/bridge", html(page("Elsewhere", &ARTICLE, "")));
    let ws = Workspace::new();
    configure(&ws, "", &[("news", &feed_url)]);
    ws.once();
    assert!(
        elsewhere.all_seen().is_empty(),
        "nothing asked of 127.0.0.2"
    );
    assert_eq!(article(&ws, "Own host").0, "page");
    assert_eq!(article(&ws, "Elsewhere").0, "feed");
    let (reason, message): (String, String) = ws
        .open_db()
        .query_row(
            "SELECT reason, message FROM page_fetches WHERE url LIKE 'http://127.0.0.2%'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(reason, "private_address");
    assert!(message.contains("allow_private"), "{message}");

    // The source allowing private addresses reaches it.
    let ws = Workspace::new();
    std::fs::write(
        ws.config(),
        format!(
            "database = \"gleaner.db\"\nhost_delay = \"0s\"\n[[sources]]\nurl = \"{feed_url}\"\nallow_private = true\n"
        ),
    )
    .unwrap();
    ws.once();
    assert_eq!(article(&ws, "Elsewhere").0, "page");
}

#[test]
fn pages_in_legacy_encodings_are_decoded() {
    let server = TestServer::start();
    let text = [
        "Le conseil a voté mardi la fermeture du vieux pont du port à la circulation dès mars, \
         après la découverte de fissures dans deux de ses piles.",
        "Des navettes fluviales circuleront toutes les vingt minutes pendant les travaux, qui \
         devraient durer huit mois si la météo le permet.",
    ];
    let html_text = page("Le pont ferme", &text, "").replace(
        "<meta charset=\"utf-8\">",
        "<meta charset=\"windows-1252\">",
    );
    let (bytes, _, _) = encoding_rs::WINDOWS_1252.encode(&html_text);
    server.route(
        "/pont",
        Reply::feed(bytes.into_owned()).with_content_type("text/html"),
    );
    let teaser = "<p>Le conseil a voté mardi la fermeture du vieux pont du port …</p>";
    server.route(
        "/feed.xml",
        Reply::feed(rss(&[(
            "1",
            &server.url("/pont"),
            "Le pont ferme",
            DATE,
            teaser,
        )])),
    );
    let ws = Workspace::new();
    configure(&ws, "", &[("news", &server.url("/feed.xml"))]);
    ws.once();
    let (origin, body, _, _) = article(&ws, "Le pont ferme");
    assert_eq!(origin, "page");
    assert_eq!(body, text.join("\n\n"));
}

#[test]
fn a_page_edit_is_a_revision_and_a_teaser_edit_alone_fetches_nothing() {
    let server = TestServer::start();
    let feed = |date: &str, teaser: &str| {
        Reply::feed(rss(&[(
            "1",
            &server.url("/bridge"),
            "Bridge to close",
            date,
            teaser,
        )]))
    };
    server.route("/feed.xml", feed(DATE, TEASER));
    server.route("/bridge", html(page("Bridge to close", &ARTICLE, "")));
    let ws = Workspace::new();
    configure(&ws, "", &[("news", &server.url("/feed.xml"))]);
    ws.once();
    let conn = ws.open_db();
    let revision = |conn: &rusqlite::Connection| count(conn, "SELECT revision FROM articles");
    assert_eq!(revision(&conn), 1);

    // The teaser edited, the item's date not: no page fetch, no revision, feed_body follows.
    let edited = TEASER.replace("old harbour bridge", "old harbour swing bridge");
    server.route("/feed.xml", feed(DATE, &edited));
    ws.once();
    assert_eq!(server.seen("/bridge").len(), 1);
    assert_eq!(revision(&conn), 1);
    let (origin, body, feed_body, _) = article(&ws, "Bridge to close");
    assert_eq!(origin, "page");
    assert_eq!(body, ARTICLE.join("\n\n"));
    assert!(feed_body.unwrap().contains("swing bridge"));

    // The item updated (a new date) and its page edited: fetched again, a revision.
    let mut edited_article = ARTICLE;
    edited_article[1] = "Ferries will run every ten minutes while the bridge is closed.";
    server.route(
        "/bridge",
        html(page("Bridge to close", &edited_article, "")),
    );
    server.route(
        "/feed.xml",
        feed("Wed, 06 Mar 2024 09:00:00 +0000", &edited),
    );
    ws.once();
    assert_eq!(server.seen("/bridge").len(), 2);
    assert_eq!(revision(&conn), 2);
    let (_, body, _, _) = article(&ws, "Bridge to close");
    assert!(body.contains("every ten minutes"));
    let old: String = conn
        .query_row("SELECT document FROM article_revisions", [], |r| r.get(0))
        .unwrap();
    assert!(
        old.contains("every twenty minutes"),
        "the page text before the edit is kept"
    );
    assert_eq!(
        page_fetches(&ws),
        vec![("extracted".into(), None), ("extracted".into(), None)]
    );
}

#[test]
fn a_page_put_off_makes_the_next_poll_read_the_feed_again() {
    let server = TestServer::start();
    server.route(
        "/feed.xml",
        teasers(&[("1", &server.url("/bridge"), "Bridge to close")]).with_etag("\"v1\""),
    );
    server.route("/bridge", Reply::Hang);
    let ws = Workspace::new();
    configure(
        &ws,
        "timeout = \"1s\"\n",
        &[("news", &server.url("/feed.xml"))],
    );
    ws.once();
    assert_eq!(
        page_fetches(&ws),
        vec![("deferred".into(), Some("timeout".into()))]
    );
    assert_eq!(article(&ws, "Bridge to close").0, "feed");

    // The page was put off: the feed is asked for without its validator, read, the page got.
    server.route("/bridge", html(page("Bridge to close", &ARTICLE, "")));
    ws.once();
    let asked = server.seen("/feed.xml");
    assert!(!asked[1].headers.contains_key("if-none-match"));
    assert_eq!(
        article(&ws, "Bridge to close").0,
        "page",
        "a teaser replaced"
    );
    let conn = ws.open_db();
    assert_eq!(
        count(&conn, "SELECT revision FROM articles"),
        1,
        "no revision"
    );

    // Nothing left to fetch: conditional again.
    ws.once();
    let asked = server.seen("/feed.xml");
    assert_eq!(
        asked[2].headers.get("if-none-match").map(String::as_str),
        Some("\"v1\"")
    );
    assert_eq!(server.seen("/bridge").len(), 2);
}

#[test]
fn a_teaser_that_gets_its_page_later_is_linked_to_an_earlier_copy() {
    let server = TestServer::start();
    let whole: String = ARTICLE.iter().map(|p| format!("<p>{p}</p>")).collect();
    server.route(
        "/wire.xml",
        Reply::feed(rss(&[(
            "w1",
            &server.url("/wire/bridge"),
            "Bridge to close",
            DATE,
            &whole,
        )])),
    );
    server.route(
        "/news.xml",
        teasers(&[("n1", &server.url("/news/bridge"), "Bridge to close")]),
    );
    server.route("/news/bridge", Reply::Hang);
    let ws = Workspace::new();
    std::fs::write(
        ws.config(),
        format!(
            "database = \"gleaner.db\"\nhost_delay = \"0s\"\nconcurrency = 1\ntimeout = \"1s\"\n\
             [[sources]]\nname = \"wire\"\nurl = \"{}\"\nfull_text = \"never\"\n\
             [[sources]]\nname = \"news\"\nurl = \"{}\"\n",
            server.url("/wire.xml"),
            server.url("/news.xml")
        ),
    )
    .unwrap();
    ws.once();
    let conn = ws.open_db();
    assert_eq!(count(&conn, "SELECT count(*) FROM articles"), 2);
    assert_eq!(
        count(&conn, "SELECT count(*) FROM duplicates"),
        0,
        "a teaser is too short to compare"
    );

    // The page arrives at the next poll: the teaser becomes the article, a copy of the wire's.
    server.route("/news/bridge", html(page("Bridge to close", &ARTICLE, "")));
    ws.once();
    // Whichever came first is the original (the later id is the copy), so the order of the two
    // polls does not matter.
    let (copy, original): (i64, i64) = conn
        .query_row("SELECT article_id, duplicate_of FROM duplicates", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert!(original < copy);
    let origins: Vec<String> = [original, copy]
        .iter()
        .map(|id| {
            conn.query_row(
                "SELECT body_origin FROM articles WHERE id = ?1",
                [id],
                |r| r.get(0),
            )
            .unwrap()
        })
        .collect();
    let mut sorted = origins.clone();
    sorted.sort();
    assert_eq!(sorted, ["feed", "page"], "{origins:?}");
}
