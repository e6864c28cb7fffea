//! The fuzz targets (`tests/fuzz/targets.rs`) on stable: every seed replayed through its target, then a
//! deterministic mutation loop (an xorshift generator flipping bytes, inserting multi-byte
//! characters and markup, cutting, duplicating and deleting spans). A failure is saved under the
//! test's temporary folder and named in the message.
//!
//! `cargo test` runs a few hundred mutations per target. A long run:
//! `GLEANER_FUZZ_RUNS=100000 cargo test --release --test fuzz_seeds -- --nocapture`
//! (`GLEANER_FUZZ_SEED=n` for another sequence; `GLEANER_FUZZ_REPLAY=folder` replays the saved
//! failures of a run instead of the seeds).

mod common;
#[path = "fuzz/targets.rs"]
mod targets;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::time::{Duration, Instant};

/// Mutations per target when `GLEANER_FUZZ_RUNS` is not set: a few seconds in a debug build.
const DEFAULT_RUNS: u64 = 400;

/// Inputs that broke a promise once; kept so that they never do again.
const FEED_REGRESSIONS: &[&str] = &[
    // A root tag followed by a no-break space: the root was sliced inside it.
    "<rss\u{A0}version=\"n\"><channel><title>t</title></channel></rss>",
    "<rss version\u{A0}=\"n\" version='x'><channel><title>t</title></channel></rss>",
    "<é‹rssé",
    "<‹rssé",
    "‹rssé",
    "<?xml version=\"1.0\"?><r\u{A0}",
    // Character references XML forbids.
    "<rss><channel><title>a&#0;b</title><item><title>x&#1;&#xFFFE;&#99999999999;</title></item></channel></rss>",
    // Links that are no web pages.
    "<rss><channel><title>t</title><item><link>javascript:alert(1)</link></item><item><link>data:text/html,x</link></item></channel></rss>",
    // An address that feed-rs 3 slices inside a character, in CDATA.
    "<rss><channel><title>t</title><webMaster><![CDATA[yo\u{FFFD}rfriends@medium.com]]></webMaster>\
     <item><title>x</title><author>w\u{A0}r@e.org</author></item></channel></rss>",
    // Dates no one can believe.
    "<rss><channel><title>t</title><item><pubDate>Fri, 03 Feb 99999 22:40:00 -0500</pubDate></item><item><pubDate>0001-01-01T00:00:00Z</pubDate></item></channel></rss>",
];

const HTML_REGRESSIONS: &[&str] = &[
    "<span></x>",
    "<div/>",
    "<p><b id=1>x</p><p><b id=2>y</p>z",
    "<table><td><table><td>",
    "<svg><p/><g/></svg><math><mi/></math>",
    "<script>a<b</script><plaintext><p>x",
    "<a href='x>y'>z</a><!-- <p> -->",
];

/// Subscription lists with the characters the writer must escape or split on.
const OPML_REGRESSIONS: &[&str] = &[
    "<opml><body><outline text=\"a/b, c\"><outline text=\"x&amp;y &lt;z&gt; &quot;q&quot;\" \
     xmlUrl=\"https://e.org/?a=1&b=2\" category=\"/p/q,/r\"/></outline></body></opml>",
    "\u{FEFF}<opml><body><outline xmlurl=\"https://e.org/\" title=\"\t\"/></body></opml>",
];

/// Configurations that use every setting, beside the one that ships.
const TOML_SEEDS: &[&str] = &[
    "database = \"g.db\"\nuser_agent = \"gleaner/0.1 (+https://e.org/)\"\nconcurrency = 4\n\
     interval = \"30m\"\nmin_interval = \"5m\"\nmax_interval = \"1d\"\nmax_backoff = \"2d\"\n\
     per_host = 2\nhost_delay = \"1s\"\nfetch_retention = \"90d\"\narticle_retention = \"365d\"\n\
     tracking_params = [\"default\", \"ref*\"]\nnear_duplicate_distance = 7\n\
     near_duplicate_window = \"30d\"\nconnect_timeout = \"10s\"\ntimeout = \"1m\"\n\
     max_feed_bytes = 10000000\n\n[hosts.\"example.org\"]\nper_host = 1\nhost_delay = \"5s\"\n\n\
     [[sources]]\nurl = \"https://example.org/feed\"\nname = \"É ‹x›\"\nuser_agent = \"x\"\n\
     interval = \"2h\"\ntimezone = \"Europe/Paris\"\nallow_private = true\n\n\
     [[sources]]\nurl = \"file:///tmp/feed.xml\"\n",
    "database = 'x'\n[[sources]]\nurl = 'http://127.0.0.1:8080/a'\n[[sources]]\nurl = 'https://e.org/b'\ninterval = '90s'\n",
];

/// Multi-byte characters and markup that the mutations insert.
const INSERTS: &[&str] = &[
    "\u{A0}",
    "‹",
    "é",
    "\u{FFFD}",
    "\u{2028}",
    "\u{FEFF}",
    "😀",
    "<",
    ">",
    "&",
    "&#0;",
    "&#xD800;",
    "&amp;",
    "<![CDATA[",
    "]]>",
    "<rss",
    "<feed",
    "version=",
    "\"",
    "'",
    "</x>",
    "<div/>",
    "<b>",
    "</p>",
    "<table><td>",
    "<svg>",
    "<!--",
    "javascript:",
    "9999-",
    "+14:00",
    "=",
    "[",
    "]]",
    "{",
    "}",
    "\0",
    "\r\n",
];

#[test]
fn every_seed_passes_its_target() {
    let mut failures = Vec::new();
    for mut target in targets() {
        // Saved failures to try again: `GLEANER_FUZZ_REPLAY=target/tmp/fuzz-failures`.
        if let Ok(dir) = std::env::var("GLEANER_FUZZ_REPLAY") {
            target.seeds = files_in(Path::new(&dir))
                .into_iter()
                .filter(|p| p.to_string_lossy().contains(&format!("{}-", target.name)))
                .map(|p| (p.display().to_string(), std::fs::read(&p).unwrap()))
                .collect();
        }
        for (name, seed) in &target.seeds {
            if let Err(panic) = catch_unwind(AssertUnwindSafe(|| (target.run)(seed))) {
                failures.push(format!(
                    "{} on {name}: {}",
                    target.name,
                    panic_message(&*panic)
                ));
            }
        }
        println!("{}: {} seeds", target.name, target.seeds.len());
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn mutated_seeds_keep_every_promise() {
    let runs = env_number("GLEANER_FUZZ_RUNS").unwrap_or(DEFAULT_RUNS);
    let seed = env_number("GLEANER_FUZZ_SEED").unwrap_or(0x5eed);
    let failures_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fuzz-failures");
    let mut failures = Vec::new();
    for target in targets() {
        let small: Vec<&[u8]> = target
            .seeds
            .iter()
            .map(|(_, s)| s.as_slice())
            .filter(|s| s.len() <= MAX_SEED_BYTES)
            .collect();
        assert!(!small.is_empty(), "{}: no seed small enough", target.name);
        let mut rng = XorShift::new(seed ^ name_hash(target.name));
        let started = Instant::now();
        let (mut slowest, mut slowest_len) = (Duration::ZERO, 0);
        for run in 0..runs {
            let input = mutate(small[rng.below(small.len())], &mut rng);
            let one = Instant::now();
            let result = catch_unwind(AssertUnwindSafe(|| (target.run)(&input)));
            if one.elapsed() > slowest {
                (slowest, slowest_len) = (one.elapsed(), input.len());
            }
            if let Err(panic) = result {
                std::fs::create_dir_all(&failures_dir).unwrap();
                let file = failures_dir.join(format!("{}-{seed}-{run}.bin", target.name));
                std::fs::write(&file, &input).unwrap();
                failures.push(format!(
                    "{} run {run}: {} ({})",
                    target.name,
                    panic_message(&*panic),
                    file.display()
                ));
            }
        }
        println!(
            "{}: {runs} runs in {:.1?} ({:.0} per second), slowest {slowest:.1?} on {slowest_len} bytes",
            target.name,
            started.elapsed(),
            runs as f64 / started.elapsed().as_secs_f64(),
        );
    }
    println!("{} failures", failures.len());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Seeds larger than this are replayed but not mutated: a mutation loop is only as fast as its
/// inputs are small. Large feeds are cut down to their head and first items (`small_feed`).
const MAX_SEED_BYTES: usize = 48 * 1024;

struct Target {
    name: &'static str,
    run: fn(&[u8]),
    seeds: Vec<(String, Vec<u8>)>,
}

fn targets() -> Vec<Target> {
    vec![
        Target {
            name: "feed",
            run: targets::feed_to_documents,
            seeds: feed_seeds(),
        },
        Target {
            name: "html",
            run: targets::html_to_document,
            seeds: html_seeds(),
        },
        Target {
            name: "config",
            run: targets::toml_to_config,
            seeds: toml_seeds(),
        },
        Target {
            name: "opml",
            run: targets::opml_round_trip,
            seeds: opml_seeds(),
        },
    ]
}

/// Every real feed, whole and cut down to its first items; and the regressions.
fn feed_seeds() -> Vec<(String, Vec<u8>)> {
    let mut seeds = Vec::new();
    for path in files_in(&common::fixture("real-feeds")) {
        let bytes = std::fs::read(&path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if let Some(small) = small_feed(&bytes) {
            seeds.push((format!("{name} (first items)"), small));
        }
        seeds.push((name, bytes));
    }
    seeds.extend(
        FEED_REGRESSIONS
            .iter()
            .map(|s| ("regression".to_owned(), s.as_bytes().to_vec())),
    );
    seeds
}

/// A large XML feed cut to its head and first two items, closed again.
fn small_feed(bytes: &[u8]) -> Option<Vec<u8>> {
    if bytes.len() <= MAX_SEED_BYTES {
        return None;
    }
    let text = String::from_utf8_lossy(bytes);
    let item_end = ["</item>", "</entry>"]
        .iter()
        .filter_map(|end| text.match_indices(end).nth(1).map(|(at, _)| at + end.len()))
        .min()?;
    let closing = ["</channel>", "</feed>", "</rdf:RDF>"]
        .iter()
        .filter_map(|end| text.rfind(end))
        .min()?;
    (item_end <= closing && item_end + text.len() - closing <= MAX_SEED_BYTES)
        .then(|| format!("{}{}", &text[..item_end], &text[closing..]).into_bytes())
}

/// The sample article, real article texts as HTML paragraphs, the seed document, regressions.
fn html_seeds() -> Vec<(String, Vec<u8>)> {
    let mut seeds = vec![
        (
            "sample-body.html".to_owned(),
            std::fs::read(common::fixture("seed/sample-body.html")).unwrap(),
        ),
        (
            "seed document".to_owned(),
            std::fs::read(common::fixture("seed/000_84bee846af57b8c6.txt")).unwrap(),
        ),
    ];
    let articles: serde_json::Value =
        serde_json::from_slice(&std::fs::read(common::fixture("articles/articles.json")).unwrap())
            .unwrap();
    for (id, article) in articles.as_object().unwrap() {
        let body = article["articleBody"].as_str().unwrap_or_default();
        let html: String = body
            .split("\n\n")
            .map(|p| format!("<p>{}</p>\n", p.replace('&', "&amp;").replace('<', "&lt;")))
            .collect();
        seeds.push((format!("article {id}"), html.into_bytes()));
    }
    seeds.extend(
        HTML_REGRESSIONS
            .iter()
            .map(|s| ("regression".to_owned(), s.as_bytes().to_vec())),
    );
    seeds
}

/// The configuration files that ship.
fn toml_seeds() -> Vec<(String, Vec<u8>)> {
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let mut files = files_in(&config);
    files.extend(files_in(&config.join("samples")));
    let seeds: Vec<_> = files
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .map(|p| (p.display().to_string(), std::fs::read(&p).unwrap()))
        .chain(
            TOML_SEEDS
                .iter()
                .map(|s| ("inline".to_owned(), s.as_bytes().to_vec())),
        )
        .collect();
    assert!(seeds.len() > TOML_SEEDS.len(), "no configuration ships");
    seeds
}

/// The real subscription lists, the lists in the shapes of other readers' exports, and the
/// regressions.
fn opml_seeds() -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = files_in(&common::fixture("real-feeds"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "opml"))
        .collect();
    files.extend(files_in(&common::fixture("opml")));
    let seeds: Vec<_> = files
        .into_iter()
        .map(|p| (p.display().to_string(), std::fs::read(&p).unwrap()))
        .chain(
            OPML_REGRESSIONS
                .iter()
                .map(|s| ("regression".to_owned(), s.as_bytes().to_vec())),
        )
        .collect();
    assert!(seeds.len() > 6, "the OPML fixtures are missing");
    seeds
}

fn files_in(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .map(|e| e.unwrap().path())
                .filter(|p| p.is_file())
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// A few random edits of `seed`.
fn mutate(seed: &[u8], rng: &mut XorShift) -> Vec<u8> {
    let mut data = seed.to_vec();
    for _ in 0..1 + rng.below(6) {
        let at = rng.below(data.len() + 1);
        match rng.below(7) {
            0 if !data.is_empty() => {
                let at = at.min(data.len() - 1);
                data[at] ^= 1 << rng.below(8);
            }
            1 if !data.is_empty() => {
                let at = at.min(data.len() - 1);
                data[at] = rng.next() as u8;
            }
            2 | 3 => {
                let insert = INSERTS[rng.below(INSERTS.len())].as_bytes();
                data.splice(at..at, insert.iter().copied());
            }
            4 => data.truncate(at),
            5 => {
                let len = rng.below(64.min(data.len() - at) + 1);
                let span = data[at..at + len].to_vec();
                let to = rng.below(data.len() + 1);
                data.splice(to..to, span);
            }
            _ => {
                let len = rng.below(32.min(data.len() - at) + 1);
                data.drain(at..at + len);
            }
        }
    }
    data
}

/// xorshift64*: small, fast, and the same sequence on every machine.
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> XorShift {
        XorShift(seed.max(1))
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number below `n` (`n` > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn name_hash(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}
