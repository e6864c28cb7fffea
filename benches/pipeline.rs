//! Throughput of the whole pipeline (parse, render, dedup, store) on a generated corpus served
//! from files: `cargo bench --bench pipeline` (set GLEANER_BENCH_FEEDS / GLEANER_BENCH_ITEMS to
//! change the size). Prints items per second for each stage and the peak memory of the process.

mod common;

use std::fmt::Write as _;
use std::time::Instant;

use chrono::Utc;
use gleaner::config::Config;
use gleaner::daemon::Daemon;
use gleaner::{dedup, feed, render};
use tokio_util::sync::CancellationToken;

/// A feed of `items` items of a few HTML paragraphs each; every item unique across the corpus.
fn generate_feed(feed: usize, items: usize) -> String {
    const WORDS: &[&str] = &[
        "the",
        "government",
        "said",
        "on",
        "Thursday",
        "that",
        "forces",
        "are",
        "gathering",
        "near",
        "border",
        "officials",
        "expect",
        "a",
        "new",
        "offensive",
        "in",
        "spring",
        "markets",
        "rose",
        "after",
        "report",
        "analysts",
        "warned",
        "of",
        "risk",
        "city",
        "council",
        "voted",
        "to",
        "expand",
        "the",
        "budget",
        "for",
        "schools",
        "and",
        "roads",
    ];
    let mut xml = String::with_capacity(items * 1200);
    xml.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rss version=\"2.0\" xmlns:content=\"http://purl.org/rss/1.0/modules/content/\"><channel>");
    let _ = write!(
        xml,
        "<title>Feed {feed}</title><link>https://feed{feed}.example.org/</link><description>Generated</description>"
    );
    let mut seed = (feed as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut word = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        WORDS[(seed % WORDS.len() as u64) as usize]
    };
    for item in 0..items {
        let _ = write!(
            xml,
            "<item><title>Story {item} of feed {feed}</title><link>https://feed{feed}.example.org/story/{item}?utm_source=rss</link>\
             <guid isPermaLink=\"false\">feed{feed}-item{item}</guid><pubDate>Fri, 03 Feb 2023 10:{:02}:00 -0500</pubDate><content:encoded><![CDATA[",
            item % 60
        );
        for paragraph in 0..4 {
            xml.push_str("<p>");
            for w in 0..30 {
                if w == 5 {
                    xml.push_str("<strong>");
                }
                xml.push_str(word());
                if w == 7 {
                    xml.push_str("</strong>");
                }
                xml.push(' ');
            }
            let _ = writeln!(
                xml,
                "(feed {feed}, item {item}, paragraph {paragraph}).</p>"
            );
        }
        xml.push_str("]]></content:encoded></item>\n");
    }
    xml.push_str("</channel></rss>\n");
    xml
}

fn main() {
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return; // `cargo test --benches` probes bench targets this way.
    }
    let feeds = common::env_number("GLEANER_BENCH_FEEDS", 3_000);
    let items_per_feed = common::env_number("GLEANER_BENCH_ITEMS", 34);
    let total = feeds * items_per_feed;
    let dir = tempfile::tempdir().expect("a temporary folder");
    println!(
        "corpus: {feeds} feeds x {items_per_feed} items = {total} items, in {}",
        dir.path().display()
    );

    let clock = Instant::now();
    let mut config_text = String::from("database = \"bench.db\"\nconcurrency = 16\n");
    let mut bytes = 0usize;
    for f in 0..feeds {
        let xml = generate_feed(f, items_per_feed);
        bytes += xml.len();
        let path = dir.path().join(format!("feed{f}.xml"));
        std::fs::write(&path, xml).unwrap();
        let _ = write!(config_text, "[[sources]]\nurl = \"feed{f}.xml\"\n");
    }
    let config_path = dir.path().join("gleaner.toml");
    std::fs::write(&config_path, &config_text).unwrap();
    println!(
        "generated {:.1} MB of feeds in {:.1} s",
        bytes as f64 / 1e6,
        clock.elapsed().as_secs_f64()
    );

    // Stage by stage, without the store, on a sample of the feeds.
    let sample = feeds.min(300);
    let files: Vec<Vec<u8>> = (0..sample)
        .map(|f| std::fs::read(dir.path().join(format!("feed{f}.xml"))).unwrap())
        .collect();
    let clock = Instant::now();
    let parsed: Vec<_> = files
        .iter()
        .map(|b| feed::parse(b, None, None).unwrap())
        .collect();
    let parse_secs = clock.elapsed().as_secs_f64();
    let clock = Instant::now();
    let rendered: Vec<Vec<_>> = parsed
        .iter()
        .map(|p| {
            p.entries
                .iter()
                .map(|e| render::render_entry(e, None, Utc::now()))
                .collect()
        })
        .collect();
    let render_secs = clock.elapsed().as_secs_f64();
    let clock = Instant::now();
    let tracking = dedup::TrackingParams::default();
    let source = dedup::SourceContext {
        url: "file:///x",
        site_url: None,
        basis: dedup::IdentityBasis::Guid,
    };
    let identified: usize = rendered
        .into_iter()
        .map(|r| dedup::identify(source, &tracking, r).items.len())
        .sum();
    let dedup_secs = clock.elapsed().as_secs_f64();
    let sample_bytes: usize = files.iter().map(Vec::len).sum();
    println!(
        "stages on {sample} feeds ({identified} items): parse {:.0} items/s ({:.1} MB/s), render {:.0} items/s, dedup {:.0} items/s",
        identified as f64 / parse_secs,
        sample_bytes as f64 / 1e6 / parse_secs,
        identified as f64 / render_secs,
        identified as f64 / dedup_secs,
    );
    drop(parsed);

    // The whole pipeline, as `gleaner once` runs it, into a fresh database.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let config = Config::load(&config_path).unwrap();
    let clock = Instant::now();
    let summaries = runtime.block_on(async {
        let daemon = Daemon::start(config.clone(), false, None).await.unwrap();
        daemon
            .once(false, CancellationToken::new(), |_| {})
            .await
            .unwrap()
    });
    let cold = clock.elapsed().as_secs_f64();
    let new: u64 = summaries.iter().map(|s| s.counts.new).sum();
    let failed = summaries.iter().filter(|s| s.error.is_some()).count();
    assert_eq!(failed, 0, "every generated feed must parse");
    assert_eq!(new as usize, total, "every generated item must be stored");
    println!(
        "cold pass (parse, render, dedup, store with FTS5): {new} articles in {cold:.1} s = {:.0} items/s",
        new as f64 / cold
    );

    let clock = Instant::now();
    let summaries = runtime.block_on(async {
        let daemon = Daemon::start(config.clone(), false, None).await.unwrap();
        daemon
            .once(true, CancellationToken::new(), |_| {})
            .await
            .unwrap()
    });
    let warm = clock.elapsed().as_secs_f64();
    let unchanged = summaries.iter().filter(|s| s.not_modified).count();
    println!("warm pass (all {unchanged} feeds unchanged, recognised by hash): {warm:.2} s");
    let db_size = std::fs::metadata(dir.path().join("bench.db")).map_or(0, |m| m.len());
    println!("database: {:.1} MB", db_size as f64 / 1e6);
    println!("peak memory (VmHWM): {:.0} MiB", common::peak_memory_mib());
}
