//! A poll cycle with full text on, over HTTP: `cargo bench --bench full_text`.
//!
//! In-process HTTP/1.1 servers on several loopback addresses (127.0.0.1, 127.0.0.2, …: Linux
//! routes all of 127/8, so each is a host of its own to gleaner's politeness) serve teaser feeds
//! (RSS 2.0, one sentence and "Read more" per item) and the article page of every item, each
//! answer after a simulated latency. `gleaner once` runs over them into a fresh database (the
//! cold pass: every page fetched and extracted), then again, forced (the warm pass: the same
//! feed bytes, no page fetched), then once more with every feed rebuilt (a new
//! `lastBuildDate`, the same items: parsed again, still no page fetched, since a page is
//! fetched once per item revision). The servers count what they are asked, per host and per
//! path, and the requests each host has in flight at once, which must never exceed `per_host`.
//!
//! Settings (environment): GLEANER_BENCH_FEEDS (200), GLEANER_BENCH_ITEMS (10 per feed, at most
//! `full_text::MAX_PAGES_PER_POLL`), GLEANER_BENCH_HOSTS (4), GLEANER_BENCH_LATENCY_MS (5, before
//! each answer), GLEANER_BENCH_BODY_DELAY_MS (0, between an answer's head and its body: the time
//! a large page takes to arrive), GLEANER_BENCH_PER_HOST (4).
//!
//! A request is in flight, to its server, from its head received to its answer's last byte
//! written. The bench panics, saying what it saw, when a pass does not do what full text
//! promises: a feed failing, an article without its page's text, a page asked for twice,
//! robots.txt asked for more than once per host, more than `per_host` requests in flight to a
//! host.

mod common;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use gleaner::config::Config;
use gleaner::daemon::{Daemon, PollSummary};
use gleaner::full_text::MAX_PAGES_PER_POLL;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

// ---------------------------------------------------------------------------------------------
// The corpus: a story per (feed, item), generated from its numbers alone, so the feed's teaser
// and the page's article always agree.

const WORD_TEXT: &str = "\
    council harbour bridge engineers river school budget minister hospital railway station \
    winter summer festival museum library farmers market prices energy wind solar grid storm \
    flood coast village mayor election voters parliament court judge ruling police inquiry \
    report survey scientists researchers study university students teachers union strike \
    workers factory company shares investors bank interest rates inflation housing rents \
    tenants landlords planning permission road traffic cyclists buses airport flights \
    tourists season weather forecast drought reservoir water supply pipes repairs contract \
    tender suppliers delays costs taxpayers audit spending services residents neighbours \
    community volunteers charity donations campaign petition protest square park trees \
    gardens wildlife birds fishermen quota boats ferry island mountain valley tunnel \
    construction crane tower architects design heritage castle cathedral concert orchestra \
    theatre players season league match coach stadium fans tickets said announced warned \
    expected agreed rejected approved delayed opened closed reported confirmed denied \
    planned promised argued voted found measured estimated doubled fell rose reached left \
    new old local national public private early late heavy light long short first last \
    second final annual monthly weekly after before during despite because while although \
    since until the the the a a of of to to in in and and on for with by at from that its \
    their this last next";

const SECTION_TEXT: &str = "\
    News World Politics Business Money Science Climate Technology Health Education Culture \
    Books Music Film Sport Travel Food Opinion Letters Obituaries Weather Podcasts Video \
    Photography";

const NAME_TEXT: &str = "\
    Ada Lindqvist, Tomás Ferreira, Mira Okafor, Jonas Weber, Priya Raman, Hugo Marchetti, \
    Lena Novak, Samuel Osei, Ingrid Dahl, Kenji Watanabe";

static WORDS: LazyLock<Vec<&str>> = LazyLock::new(|| WORD_TEXT.split_whitespace().collect());
static SECTIONS: LazyLock<Vec<&str>> = LazyLock::new(|| SECTION_TEXT.split_whitespace().collect());
static NAMES: LazyLock<Vec<&str>> = LazyLock::new(|| NAME_TEXT.split(", ").collect());

/// xorshift64: fast, deterministic, good enough for prose.
struct Rng(u64);

impl Rng {
    fn new(a: usize, b: usize, salt: u64) -> Rng {
        let seed = (a as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)
            ^ (b as u64 + 1).wrapping_mul(0xC2B2_AE3D_27D4_EB4F)
            ^ salt.wrapping_mul(0x1656_67B1_9E37_79F9);
        let mut rng = Rng(seed | 1);
        for _ in 0..4 {
            rng.next();
        }
        rng
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn between(&mut self, low: usize, high: usize) -> usize {
        low + self.below(high - low + 1)
    }

    fn pick<'a>(&mut self, list: &[&'a str]) -> &'a str {
        list[self.below(list.len())]
    }
}

/// A sentence of `words` words, capitalised, with a comma or two, ending in a full stop.
fn sentence(rng: &mut Rng, words: usize) -> String {
    let mut s = String::with_capacity(words * 8);
    for w in 0..words {
        let word = rng.pick(&WORDS);
        if w == 0 {
            let mut chars = word.chars();
            if let Some(first) = chars.next() {
                s.extend(first.to_uppercase());
                s.push_str(chars.as_str());
            }
        } else {
            s.push(' ');
            s.push_str(word);
        }
        if w > 3 && w + 3 < words && rng.below(9) == 0 {
            s.push(',');
        }
    }
    s.push('.');
    s
}

/// A paragraph of `low`..=`high` words, in sentences of 8 to 20, after `start` if given.
fn paragraph(rng: &mut Rng, start: Option<&str>, low: usize, high: usize) -> String {
    let target = rng.between(low, high);
    let mut text = start.map(str::to_owned).unwrap_or_default();
    let mut count = text.split_whitespace().count();
    while count < target {
        let n = rng.between(8, 20).min(target - count).max(4);
        if !text.is_empty() {
            text.push(' ');
        }
        text.push_str(&sentence(rng, n));
        count += n;
    }
    text
}

fn title_of(rng: &mut Rng) -> String {
    let n = rng.between(6, 10);
    let sentence = sentence(rng, n);
    sentence.trim_end_matches('.').replace(',', "")
}

/// One item: its title, its teaser sentence (with its full stop) and its article's paragraphs
/// (the first of which starts with the teaser sentence).
struct Story {
    title: String,
    teaser: String,
    paragraphs: Vec<String>,
}

fn story(feed: usize, item: usize) -> Story {
    let mut rng = Rng::new(feed, item, 1);
    let title = title_of(&mut rng);
    let length = rng.between(22, 28);
    let teaser = sentence(&mut rng, length);
    let count = rng.between(5, 8);
    let paragraphs = (0..count)
        .map(|p| paragraph(&mut rng, (p == 0).then_some(teaser.as_str()), 40, 80))
        .collect();
    Story {
        title,
        teaser,
        paragraphs,
    }
}

fn pub_date(item: usize) -> String {
    // Newest first, an hour apart, all in March 2024.
    let hours = 20 * 24 - item;
    format!(
        "{}, {:02} Mar 2024 {:02}:{:02}:00 +0000",
        ["Fri", "Sat", "Sun", "Mon", "Tue", "Wed", "Thu"][(hours / 24) % 7],
        1 + hours / 24,
        hours % 24,
        (item * 7) % 60
    )
}

fn page_path(feed: usize, item: usize) -> String {
    format!("/f{feed}/a{item}")
}

fn feed_path(feed: usize) -> String {
    format!("/f{feed}/feed.xml")
}

/// A teaser feed: `items` items of one sentence cut short and a "Read more" link. `build`
/// changes only the channel's `lastBuildDate`.
fn feed_xml(origin: &str, feed: usize, items: usize, build: u64) -> String {
    let mut xml = String::with_capacity(600 + items * 700);
    let _ = write!(
        xml,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rss version=\"2.0\"><channel>\
         <title>The Loopback Courier, desk {feed}</title><link>{origin}/</link>\
         <description>News from desk {feed}</description><language>en</language>\
         <lastBuildDate>Wed, 20 Mar 2024 {:02}:{:02}:00 +0000</lastBuildDate>\n",
        (build / 60) % 24,
        build % 60
    );
    for item in 0..items {
        let story = story(feed, item);
        let link = format!("{origin}{}", page_path(feed, item));
        let cut = story.teaser.trim_end_matches('.');
        let _ = writeln!(
            xml,
            "<item><title>{}</title><link>{link}</link>\
             <guid isPermaLink=\"false\">courier-{feed}-{item}</guid><pubDate>{}</pubDate>\
             <description><![CDATA[<p>{cut} …</p>\
             <p><a href=\"{link}\">Read more</a></p>]]></description>\
             </item>",
            story.title,
            pub_date(item)
        );
    }
    xml.push_str("</channel></rss>\n");
    xml
}

/// An article page as news sites make them: a head with metadata, inline CSS and JSON-LD, a
/// navigation bar, the article (headline, byline, figure, paragraphs), related stories, a most
/// read list, a large footer and an inline script; 20 to 60 KB.
fn page_html(origin: &str, feed: usize, item: usize, items: usize) -> String {
    let story = story(feed, item);
    let mut rng = Rng::new(feed, item, 2);
    let target = rng.between(20_000, 60_000);
    let url = format!("{origin}{}", page_path(feed, item));
    let author = rng.pick(&NAMES);
    let section = rng.pick(&SECTIONS);
    let date = pub_date(item);
    let mut head = String::with_capacity(4_000);
    let _ = write!(
        head,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n\
         <title>{title} | The Loopback Courier</title>\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"description\" content=\"{teaser}\">\n\
         <meta property=\"og:title\" content=\"{title}\">\n\
         <meta property=\"og:type\" content=\"article\">\n\
         <meta property=\"og:url\" content=\"{url}\">\n\
         <meta name=\"author\" content=\"{author}\">\n\
         <link rel=\"canonical\" href=\"{url}\">\n\
         <link rel=\"stylesheet\" href=\"/static/site.css\">\n\
         <script type=\"application/ld+json\">{{\"@context\":\"https://schema.org\",\
         \"@type\":\"NewsArticle\",\
         \"headline\":\"{title}\",\"author\":{{\"@type\":\"Person\",\"name\":\"{author}\"}},\
         \"articleSection\":\"{section}\",\"mainEntityOfPage\":\"{url}\"}}</script>\n",
        title = story.title,
        teaser = story.teaser,
    );
    let mut body = String::with_capacity(target);
    body.push_str(
        "</head>\n<body class=\"article\"><a class=\"skip\" href=\"#content\">Skip to content</a>\n\
         <header class=\"masthead\"><a class=\"logo\" href=\"/\">The Loopback Courier</a>\
         <form class=\"search\" action=\"/search\"><input name=\"q\" placeholder=\"Search\"></form>\
         <a class=\"subscribe\" href=\"/subscribe\">Subscribe</a> \
         <a href=\"/login\">Sign in</a></header>\n\
         <nav class=\"primary\"><ul>",
    );
    for s in SECTIONS.iter() {
        let _ = write!(
            body,
            "<li><a href=\"/section/{}\">{s}</a></li>",
            s.to_lowercase()
        );
    }
    let _ = write!(
        body,
        "</ul></nav>\n<div class=\"breadcrumbs\"><a href=\"/\">Home</a> › \
         <a href=\"/section/{}\">{section}</a></div>\n<main id=\"content\">\
         <article class=\"story\">\n<h1>{}</h1>\n<p class=\"byline\">By <a rel=\"author\" \
         href=\"/people/{}\">{author}</a> · <time datetime=\"2024-03-{:02}\">{date}</time></p>\n\
         <figure><img src=\"/img/{feed}-{item}.jpg\" width=\"1200\" height=\"800\" alt=\"\">\
         <figcaption>Photograph: {author} for the Courier</figcaption></figure>\n",
        section.to_lowercase(),
        story.title,
        author.to_lowercase().replace(' ', "-"),
        1 + (20 * 24 - item) / 24,
    );
    for p in &story.paragraphs {
        let _ = writeln!(body, "<p>{p}</p>");
    }
    body.push_str(
        "<p class=\"share\"><a href=\"/share/mail\">Email</a> \
         <a href=\"/share/social\">Share</a></p>\
         </article>\n<aside class=\"related\"><h2>Related stories</h2><ul>",
    );
    for other in (0..items).filter(|&o| o != item).take(6) {
        let mut r = Rng::new(feed, other, 1);
        let _ = write!(
            body,
            "<li><a href=\"{}\">{}</a></li>",
            page_path(feed, other),
            title_of(&mut r)
        );
    }
    body.push_str("</ul></aside>\n<section class=\"most-read\"><h2>Most read</h2><ol>");
    for n in 0..10 {
        let mut r = Rng::new(feed + 1_000_000, n, 3);
        let _ = write!(
            body,
            "<li><a href=\"/most-read/{n}\">{}</a></li>",
            title_of(&mut r)
        );
    }
    body.push_str(
        "</ol></section>\n<section class=\"newsletter\">\
         <h2>Sign up to the morning briefing</h2>\
         <p>Our editors' pick of the day's news, in your inbox before breakfast.</p>\
         <form action=\"/newsletter\"><input name=\"email\"><button>Sign up</button></form>\
         </section>\n</main>\n<footer><div class=\"columns\">",
    );
    for s in SECTIONS.iter() {
        let _ = write!(
            body,
            "<ul><li><b>{s}</b></li><li><a href=\"/section/{0}/latest\">Latest</a></li>\
             <li><a href=\"/section/{0}/archive\">Archive</a></li></ul>",
            s.to_lowercase()
        );
    }
    body.push_str(
        "</div><p><a href=\"/about\">About us</a> · <a href=\"/contact\">Contact</a> · \
         <a href=\"/privacy\">Privacy policy</a> · <a href=\"/cookies\">Cookie settings</a> · \
         <a href=\"/terms\">Terms</a></p><p>© 2024 The Loopback Courier. All rights reserved.</p>\
         </footer>\n<script>window.__COURIER__={\"edition\":\"uk\",\"ads\":true,\"slots\":[",
    );
    // Padding up to the page's size, as sites pad theirs: inline styles and script data.
    let mut css = String::from("<style>\n");
    let mut slots = String::new();
    let mut n = 0usize;
    while head.len() + css.len() + body.len() + slots.len() + 60 < target {
        if n.is_multiple_of(2) {
            let _ = writeln!(
                css,
                ".story .c{n} > .x{}{{margin:{}px {}px;color:#{:06x};font-size:{}px}}",
                rng.below(100),
                rng.below(40),
                rng.below(40),
                rng.next() & 0xff_ffff,
                rng.between(11, 24)
            );
        } else {
            let _ = write!(
                slots,
                "{{\"id\":\"slot-{n}\",\"size\":[{},{}],\"targeting\":\"{}\"}},",
                rng.between(100, 970),
                rng.between(50, 600),
                rng.pick(&WORDS)
            );
        }
        n += 1;
    }
    css.push_str("</style>\n");
    let mut page = head;
    page.push_str(&css);
    page.push_str(&body);
    page.push_str(slots.trim_end_matches(','));
    page.push_str("]};</script>\n</body></html>\n");
    page
}

// ---------------------------------------------------------------------------------------------
// The servers.

#[derive(Default)]
struct HostStats {
    /// Requests received and not yet answered in full (the whole body written).
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    feeds: AtomicUsize,
    pages: AtomicUsize,
    robots: AtomicUsize,
    /// Anything else (answered 404).
    other: AtomicUsize,
    bytes: AtomicU64,
    connections: AtomicUsize,
}

impl HostStats {
    fn requests(&self) -> usize {
        self.feeds.load(Ordering::SeqCst)
            + self.pages.load(Ordering::SeqCst)
            + self.robots.load(Ordering::SeqCst)
            + self.other.load(Ordering::SeqCst)
    }
}

struct Shared {
    feeds: usize,
    items: usize,
    latency: Duration,
    body_delay: Duration,
    /// Changes the feeds' `lastBuildDate` (and so their bytes), not their items.
    build: AtomicU64,
    hosts: Vec<HostStats>,
    /// Requests per "host:port/path".
    paths: Mutex<HashMap<String, u32>>,
}

impl Shared {
    fn host_of_feed(&self, feed: usize) -> usize {
        feed % self.hosts.len()
    }
}

enum Route {
    Feed(usize),
    Page(usize, usize),
    Robots,
    NotFound,
}

fn route(shared: &Shared, host: usize, path: &str) -> Route {
    if path == "/robots.txt" {
        return Route::Robots;
    }
    let Some(rest) = path.strip_prefix("/f") else {
        return Route::NotFound;
    };
    let Some((feed, tail)) = rest.split_once('/') else {
        return Route::NotFound;
    };
    let Ok(feed) = feed.parse::<usize>() else {
        return Route::NotFound;
    };
    if feed >= shared.feeds || shared.host_of_feed(feed) != host {
        return Route::NotFound;
    }
    if tail == "feed.xml" {
        return Route::Feed(feed);
    }
    match tail.strip_prefix('a').map(str::parse::<usize>) {
        Some(Ok(item)) if item < shared.items => Route::Page(feed, item),
        _ => Route::NotFound,
    }
}

async fn serve_connection(
    mut stream: TcpStream,
    host: usize,
    origin: Arc<str>,
    shared: Arc<Shared>,
) {
    let stats = &shared.hosts[host];
    stats.connections.fetch_add(1, Ordering::SeqCst);
    let _ = stream.set_nodelay(true);
    let mut buffer: Vec<u8> = Vec::with_capacity(4096);
    loop {
        // One request head (GETs only: no body to read).
        let end = loop {
            if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            if buffer.len() > 64 * 1024 {
                return;
            }
            match stream.read_buf(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        };
        let head = String::from_utf8_lossy(&buffer[..end]).into_owned();
        buffer.drain(..end);
        let now = stats.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        stats.max_in_flight.fetch_max(now, Ordering::SeqCst);
        let mut lines = head.lines();
        let path = lines
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .unwrap_or("/")
            .to_owned();
        let close = lines.any(|l| {
            l.split_once(':').is_some_and(|(name, value)| {
                name.trim().eq_ignore_ascii_case("connection")
                    && value.trim().eq_ignore_ascii_case("close")
            })
        });
        *shared
            .paths
            .lock()
            .unwrap()
            .entry(format!("{origin}{path}"))
            .or_default() += 1;
        tokio::time::sleep(shared.latency).await;
        let (status, content_type, body) = match route(&shared, host, &path) {
            Route::Feed(feed) => {
                stats.feeds.fetch_add(1, Ordering::SeqCst);
                let build = shared.build.load(Ordering::SeqCst);
                let xml = feed_xml(&origin, feed, shared.items, build);
                ("200 OK", "application/rss+xml; charset=utf-8", xml)
            }
            Route::Page(feed, item) => {
                stats.pages.fetch_add(1, Ordering::SeqCst);
                let html = page_html(&origin, feed, item, shared.items);
                ("200 OK", "text/html; charset=utf-8", html)
            }
            Route::Robots => {
                stats.robots.fetch_add(1, Ordering::SeqCst);
                let text = "User-agent: *\nAllow: /\n".to_owned();
                ("200 OK", "text/plain; charset=utf-8", text)
            }
            Route::NotFound => {
                stats.other.fetch_add(1, Ordering::SeqCst);
                ("404 Not Found", "text/plain", "not found\n".to_owned())
            }
        };
        let response_head = format!(
            "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
             Connection: {}\r\n\r\n",
            body.len(),
            if close { "close" } else { "keep-alive" }
        );
        stats.bytes.fetch_add(body.len() as u64, Ordering::SeqCst);
        let written = if shared.body_delay.is_zero() {
            let mut response = response_head.into_bytes();
            response.extend_from_slice(body.as_bytes());
            stream.write_all(&response).await
        } else {
            // The head first, the body a little later, as a large page arrives.
            let head_written = stream.write_all(response_head.as_bytes()).await;
            tokio::time::sleep(shared.body_delay).await;
            match head_written {
                Ok(()) => stream.write_all(body.as_bytes()).await,
                Err(e) => Err(e),
            }
        };
        stats.in_flight.fetch_sub(1, Ordering::SeqCst);
        if written.is_err() || close {
            return;
        }
    }
}

/// Binds a listener on each loopback address and serves on `runtime` until it is dropped.
/// Returns each host's origin (`http://127.0.0.N:PORT`).
fn start_servers(runtime: &tokio::runtime::Runtime, shared: &Arc<Shared>) -> Vec<Arc<str>> {
    (0..shared.hosts.len())
        .map(|host| {
            let ip = format!("127.0.0.{}", host + 1);
            let listener = runtime
                .block_on(TcpListener::bind((ip.as_str(), 0)))
                .unwrap_or_else(|e| panic!("cannot listen on {ip}: {e}"));
            let port = listener.local_addr().unwrap().port();
            let origin: Arc<str> = format!("http://{ip}:{port}").into();
            let shared = Arc::clone(shared);
            let served = Arc::clone(&origin);
            runtime.spawn(async move {
                loop {
                    match listener.accept().await {
                        Ok((stream, _)) => {
                            tokio::spawn(serve_connection(
                                stream,
                                host,
                                Arc::clone(&served),
                                Arc::clone(&shared),
                            ));
                        }
                        Err(e) => {
                            eprintln!("accept on {served}: {e}");
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                    }
                }
            });
            origin
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The bench.

/// Requests per host of one kind, summed over the hosts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Totals {
    feeds: usize,
    pages: usize,
    robots: usize,
    other: usize,
}

fn totals(shared: &Shared) -> Totals {
    shared.hosts.iter().fold(Totals::default(), |t, h| Totals {
        feeds: t.feeds + h.feeds.load(Ordering::SeqCst),
        pages: t.pages + h.pages.load(Ordering::SeqCst),
        robots: t.robots + h.robots.load(Ordering::SeqCst),
        other: t.other + h.other.load(Ordering::SeqCst),
    })
}

/// Paths requested more than once, with their counts.
fn repeated_paths(shared: &Shared) -> Vec<(String, u32)> {
    let mut repeated: Vec<(String, u32)> = shared
        .paths
        .lock()
        .unwrap()
        .iter()
        .filter(|(path, n)| **n > 1 && !path.ends_with("/feed.xml"))
        .map(|(p, n)| (p.clone(), *n))
        .collect();
    repeated.sort();
    repeated
}

fn run_pass(
    runtime: &tokio::runtime::Runtime,
    config: &Config,
    force: bool,
) -> (Vec<PollSummary>, f64) {
    let clock = Instant::now();
    let summaries = runtime.block_on(async {
        let daemon = Daemon::start(config.clone(), false, None).await.unwrap();
        daemon
            .once(force, CancellationToken::new(), |_| {})
            .await
            .unwrap()
    });
    (summaries, clock.elapsed().as_secs_f64())
}

fn assert_polled(summaries: &[PollSummary], feeds: usize, pass: &str) {
    let failed: Vec<String> = summaries
        .iter()
        .filter(|s| s.error.is_some() || s.unrecorded.is_some())
        .map(ToString::to_string)
        .collect();
    assert!(
        failed.is_empty(),
        "{pass}: {} of {} polls failed, first: {:?}",
        failed.len(),
        summaries.len(),
        &failed[..failed.len().min(5)]
    );
    assert_eq!(
        summaries.len(),
        feeds,
        "{pass}: every feed must be polled once"
    );
}

/// (body_origin, count), (outcome, reason, count) and the number of articles.
fn database_figures(db: &rusqlite::Connection) -> (usize, usize, Vec<(String, String, usize)>) {
    let count = |sql: &str| -> usize {
        db.query_row(sql, [], |r| r.get::<_, i64>(0))
            .unwrap_or_else(|e| panic!("{sql}: {e}")) as usize
    };
    let articles = count("SELECT count(*) FROM articles");
    let from_page = count("SELECT count(*) FROM articles WHERE body_origin = 'page'");
    let mut stmt = db
        .prepare(
            "SELECT outcome, coalesce(reason, ''), count(*) FROM page_fetches \
             GROUP BY 1, 2 ORDER BY 3 DESC",
        )
        .unwrap();
    let outcomes = stmt
        .query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get::<_, i64>(2)? as usize))
        })
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    (articles, from_page, outcomes)
}

/// How well the stored bodies match the generated articles: (exact, all paragraphs present
/// with something more, some paragraph missing), and one example of each of the last two.
fn body_quality(
    db: &rusqlite::Connection,
) -> (usize, usize, usize, Option<String>, Option<String>) {
    let mut stmt = db
        .prepare("SELECT url, body FROM articles WHERE body_origin = 'page'")
        .unwrap();
    let rows = stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
        .unwrap();
    let (mut exact, mut more, mut missing) = (0, 0, 0);
    let (mut more_example, mut missing_example) = (None, None);
    for row in rows {
        let (url, body) = row.unwrap();
        let numbers = url
            .rsplit_once("/f")
            .and_then(|(_, tail)| tail.split_once("/a"))
            .and_then(|(f, i)| Some((f.parse().ok()?, i.parse().ok()?)));
        let Some((feed, item)) = numbers else {
            missing += 1;
            continue;
        };
        let story = story(feed, item);
        let expected = story.paragraphs.join("\n\n");
        if body == expected {
            exact += 1;
        } else if story.paragraphs.iter().all(|p| body.contains(p.as_str())) {
            more += 1;
            more_example.get_or_insert_with(|| format!("{url}:\n{}", excerpt(&body)));
        } else {
            missing += 1;
            missing_example.get_or_insert_with(|| format!("{url}:\n{}", excerpt(&body)));
        }
    }
    (exact, more, missing, more_example, missing_example)
}

/// The start of a long text.
fn excerpt(text: &str) -> String {
    let mut cut: String = text.chars().take(800).collect();
    if cut.len() < text.len() {
        cut.push_str(" […]");
    }
    cut
}

fn main() {
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return; // `cargo test --benches` probes bench targets this way.
    }
    let feeds = common::env_number("GLEANER_BENCH_FEEDS", 200);
    let items = common::env_number("GLEANER_BENCH_ITEMS", 10);
    let host_count = common::env_number("GLEANER_BENCH_HOSTS", 4).clamp(1, 254);
    let latency = Duration::from_millis(common::env_number("GLEANER_BENCH_LATENCY_MS", 5) as u64);
    let body_delay =
        Duration::from_millis(common::env_number("GLEANER_BENCH_BODY_DELAY_MS", 0) as u64);
    let per_host = common::env_number("GLEANER_BENCH_PER_HOST", 4);
    assert!(
        items <= MAX_PAGES_PER_POLL,
        "GLEANER_BENCH_ITEMS = {items}: at most {MAX_PAGES_PER_POLL} pages are fetched per poll, \
         so one cold pass could not fetch every page"
    );
    let total = feeds * items;

    let shared = Arc::new(Shared {
        feeds,
        items,
        latency,
        body_delay,
        build: AtomicU64::new(0),
        hosts: (0..host_count).map(|_| HostStats::default()).collect(),
        paths: Mutex::default(),
    });
    // The servers have threads of their own, apart from the daemon's runtime; they stop when
    // this runtime is dropped, at the end of `main`.
    let server_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("bench-server")
        .enable_all()
        .build()
        .unwrap();
    let origins = start_servers(&server_runtime, &shared);

    let dir = tempfile::tempdir().expect("a temporary folder");
    let mut config_text = format!(
        "database = \"bench.db\"\nconcurrency = 16\nper_host = {per_host}\nhost_delay = \"0s\"\n"
    );
    for feed in 0..feeds {
        let origin = &origins[shared.host_of_feed(feed)];
        let _ = write!(
            config_text,
            "[[sources]]\nurl = \"{origin}{}\"\nallow_private = true\n",
            feed_path(feed)
        );
    }
    let config_path = dir.path().join("gleaner.toml");
    std::fs::write(&config_path, &config_text).unwrap();
    let config = Config::load(&config_path).unwrap();
    assert_eq!(config.per_host, per_host, "per_host as configured");

    // The corpus's size, as served.
    let feed_bytes: usize = (0..feeds)
        .map(|f| feed_xml(&origins[shared.host_of_feed(f)], f, items, 0).len())
        .sum();
    let page_sizes: Vec<usize> = (0..feeds.min(20))
        .flat_map(|f| {
            let origin = Arc::clone(&origins[shared.host_of_feed(f)]);
            (0..items).map(move |i| page_html(&origin, f, i, items).len())
        })
        .collect();
    let mean_page = page_sizes.iter().sum::<usize>() as f64 / page_sizes.len().max(1) as f64;
    println!(
        "corpus: {feeds} teaser feeds x {items} items = {total} pages, on {host_count} hosts ({}), \
         in {}",
        origins.join(", "),
        dir.path().display()
    );
    println!(
        "  feeds {:.2} MB in all; pages {:.1} KB on average ({:.1} to {:.1} KB in a sample of {}), \
         about {:.0} MB in all",
        feed_bytes as f64 / 1e6,
        mean_page / 1e3,
        *page_sizes.iter().min().unwrap_or(&0) as f64 / 1e3,
        *page_sizes.iter().max().unwrap_or(&0) as f64 / 1e3,
        page_sizes.len(),
        mean_page * total as f64 / 1e6
    );
    println!(
        "  latency {} ms before each answer{}; per_host = {per_host}, host_delay = 0s, \
         concurrency = 16",
        latency.as_millis(),
        if body_delay.is_zero() {
            String::new()
        } else {
            format!(", {} ms between head and body", body_delay.as_millis())
        }
    );

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();

    // Cold pass: a fresh database, every page fetched.
    let (summaries, cold) = run_pass(&runtime, &config, false);
    let after_cold = totals(&shared);
    let db = rusqlite::Connection::open(dir.path().join("bench.db")).unwrap();
    let (articles, from_page, outcomes) = database_figures(&db);
    let pages_counted: u64 = summaries.iter().map(|s| s.counts.pages).sum();
    let full_text_counted: u64 = summaries.iter().map(|s| s.counts.full_text).sum();
    let near_duplicates: u64 = summaries.iter().map(|s| s.counts.near_duplicates).sum();
    println!(
        "cold pass: {} polls, {articles} articles, {} pages fetched in {cold:.2} s \
         = {:.0} pages/s, {:.0} articles/s",
        summaries.len(),
        after_cold.pages,
        after_cold.pages as f64 / cold,
        articles as f64 / cold
    );
    println!(
        "  {from_page} articles with their page's text; page_fetches: {}; polls said \
         {pages_counted} pages, {full_text_counted} with full text, {near_duplicates} \
         near-duplicates",
        outcomes
            .iter()
            .map(|(o, r, n)| if r.is_empty() {
                format!("{o} {n}")
            } else {
                format!("{o}/{r} {n}")
            })
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!("  per host: requests (feeds + pages + robots.txt + other), most in flight at once:");
    for (h, stats) in shared.hosts.iter().enumerate() {
        println!(
            "    {}: {} ({} + {} + {} + {}) over {} connections, {:.1} MB; most in flight {} \
             (per_host {per_host})",
            origins[h],
            stats.requests(),
            stats.feeds.load(Ordering::SeqCst),
            stats.pages.load(Ordering::SeqCst),
            stats.robots.load(Ordering::SeqCst),
            stats.other.load(Ordering::SeqCst),
            stats.connections.load(Ordering::SeqCst),
            stats.bytes.load(Ordering::SeqCst) as f64 / 1e6,
            stats.max_in_flight.load(Ordering::SeqCst),
        );
    }
    let (exact, more, missing, more_example, missing_example) = body_quality(&db);
    println!(
        "  stored bodies: {exact} exactly the article, {more} the article and more, \
         {missing} missing some of it"
    );
    if let Some(example) = more_example {
        println!("  an example of more:\n{example}");
    }
    if let Some(example) = missing_example {
        println!("  an example of missing:\n{example}");
    }

    assert_polled(&summaries, feeds, "cold pass");
    assert_eq!(articles, total, "cold pass: every item must be stored");
    assert_eq!(
        from_page, total,
        "cold pass: every article must have its page's text (page_fetches: {outcomes:?})"
    );
    for (h, stats) in shared.hosts.iter().enumerate() {
        let most = stats.max_in_flight.load(Ordering::SeqCst);
        assert!(
            most <= per_host,
            "{}: {most} requests in flight at once, over per_host = {per_host}",
            origins[h]
        );
    }
    // robots.txt once per host (its cache makes concurrent checks of a site wait for one fetch).
    let robots: Vec<usize> = shared
        .hosts
        .iter()
        .map(|h| h.robots.load(Ordering::SeqCst))
        .collect();
    assert!(
        robots.iter().all(|&n| n == 1),
        "cold pass: robots.txt requests per host {robots:?}, not once on each"
    );
    assert_eq!(after_cold.other, 0, "cold pass: requests for unknown paths");
    assert_eq!(after_cold.feeds, feeds, "cold pass: one request per feed");
    let repeated = repeated_paths(&shared);
    assert!(
        repeated.is_empty(),
        "cold pass: {} paths requested more than once: {:?}",
        repeated.len(),
        &repeated[..repeated.len().min(10)]
    );
    assert_eq!(after_cold.pages, total, "cold pass: every page requested");

    // Warm pass: every feed again (forced), the same bytes: no page asked for again.
    let (summaries, warm) = run_pass(&runtime, &config, true);
    let after_warm = totals(&shared);
    let unchanged = summaries.iter().filter(|s| s.not_modified).count();
    println!(
        "warm pass (forced, the same feeds): {warm:.2} s, {} feed requests, {} pages, {} \
         robots.txt; {unchanged} of {} feeds recognised as unchanged",
        after_warm.feeds - after_cold.feeds,
        after_warm.pages - after_cold.pages,
        after_warm.robots - after_cold.robots,
        summaries.len()
    );
    assert_polled(&summaries, feeds, "warm pass");
    assert_eq!(
        after_warm.pages,
        after_cold.pages,
        "warm pass: pages requested again: {:?}",
        repeated_paths(&shared)
    );

    // Rebuilt pass: every feed's bytes change (its lastBuildDate), not its items: each feed is
    // parsed again and its items' pages looked up, and none fetched.
    shared.build.store(1, Ordering::SeqCst);
    let (summaries, rebuilt) = run_pass(&runtime, &config, true);
    let after_rebuilt = totals(&shared);
    let parsed = summaries.iter().filter(|s| !s.not_modified).count();
    let updated: u64 = summaries.iter().map(|s| s.counts.updated).sum();
    println!(
        "rebuilt pass (forced, every feed's lastBuildDate changed): {rebuilt:.2} s, {} feed \
         requests, {} pages, {} robots.txt; {parsed} feeds parsed again, {updated} articles \
         updated",
        after_rebuilt.feeds - after_warm.feeds,
        after_rebuilt.pages - after_warm.pages,
        after_rebuilt.robots - after_warm.robots,
    );
    assert_polled(&summaries, feeds, "rebuilt pass");
    assert_eq!(
        after_rebuilt.pages,
        after_cold.pages,
        "rebuilt pass: pages requested again: {:?}",
        repeated_paths(&shared)
    );
    let (articles, from_page, outcomes) = database_figures(&db);
    assert_eq!(
        (articles, from_page),
        (total, total),
        "after the rebuilt pass: every article still with its page's text \
         (page_fetches: {outcomes:?})"
    );
    let most: Vec<usize> = shared
        .hosts
        .iter()
        .map(|h| h.max_in_flight.load(Ordering::SeqCst))
        .collect();
    assert!(
        most.iter().all(|&m| m <= per_host),
        "over all passes, most in flight per host {most:?}, over per_host = {per_host}"
    );
    println!("most in flight per host over all passes: {most:?} (per_host {per_host})");

    let db_size = std::fs::metadata(dir.path().join("bench.db")).map_or(0, |m| m.len());
    println!("database: {:.1} MB", db_size as f64 / 1e6);
    println!(
        "peak memory (VmHWM, the servers included): {:.0} MiB",
        common::peak_memory_mib()
    );
    drop(db);
    drop(runtime);
    drop(server_runtime);
}
