//! Near-duplicate detection, measured: the threshold sweep over the labelled set
//! (`tests/labelled/`) that the default distance was chosen from, and the cost of deduplicating
//! an item against 10,000 and 1,000,000 stored articles, and against many articles that share
//! one fingerprint.
//!
//! `cargo bench --bench dedup` (add `-- --sweep`, `-- --cost` or `-- --crowd` for one part only;
//! `GLEANER_BENCH_ARTICLES=10000` for other archive sizes, `GLEANER_BENCH_CROWD=10000,44000`
//! for other crowd sizes, `SHINGLES=1,2,3` to sweep shingle sizes).

#[path = "../tests/labelled/mod.rs"]
mod labelled;

use std::collections::HashMap;

use chrono::Utc;
use gleaner::dedup::{self, IdentityBasis, SourceContext, TrackingParams, simhash};
use gleaner::store::{SqliteStore, Store};
use labelled::{Label, Scored};

/// One article as the sweep stores it.
struct Stored {
    labels: Vec<Label>,
    body: String,
    simhash: Option<u64>,
    chars: usize,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let only = |part: &str| {
        !args.iter().any(|a| a.starts_with("--") && a != "--bench")
            || args.iter().any(|a| a == part)
    };
    if only("--sweep") {
        sweep();
    }
    if only("--cost") {
        let sizes: Vec<usize> = std::env::var("GLEANER_BENCH_ARTICLES")
            .ok()
            .map(|v| v.split(',').filter_map(|n| n.parse().ok()).collect())
            .unwrap_or_else(|| vec![10_000, 1_000_000]);
        let runtime = tokio::runtime::Runtime::new().unwrap();
        for size in sizes {
            runtime.block_on(cost(size));
        }
    }
    if only("--crowd") {
        let sizes: Vec<usize> = std::env::var("GLEANER_BENCH_CROWD")
            .ok()
            .map(|v| v.split(',').filter_map(|n| n.parse().ok()).collect())
            .unwrap_or_else(|| vec![10_000, 44_000]);
        let runtime = tokio::runtime::Runtime::new().unwrap();
        for size in sizes {
            runtime.block_on(crowd(size));
        }
    }
}

/// A body of about 100 words from a 5,000-word vocabulary: random enough that fingerprints
/// spread over the bands as real ones do.
fn random_body(rng: &mut u64) -> Vec<String> {
    let mut next = || {
        *rng ^= *rng << 13;
        *rng ^= *rng >> 7;
        *rng ^= *rng << 17;
        *rng
    };
    (0..4)
        .map(|_| {
            (0..25)
                .map(|_| format!("w{}", next() % 5_000))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

fn item_of(n: usize, paragraphs: &[String]) -> gleaner::render::Rendered {
    let title = format!("Story {n}");
    let body = paragraphs.join("\n\n");
    gleaner::render::Rendered {
        guid: Some(format!("g{n}")),
        link: Some(format!("https://bench.example/{n}")),
        document: gleaner::text::document("2026-11-25", &title, &body),
        title,
        published_at: None,
        revised_at: None,
        date: "2026-11-25".into(),
        body,
    }
}

/// A new database at `path` with one source, its writer started with the default settings.
async fn new_store(path: &std::path::Path) -> (SqliteStore, i64) {
    use gleaner::store::SourceSpec;
    let store = SqliteStore::open(path, dedup::NearDuplicates::default())
        .await
        .unwrap();
    let synced = store
        .sync_sources(vec![SourceSpec {
            url: "https://bench.example/feed".into(),
            name: None,
            paused: false,
        }])
        .await
        .unwrap();
    let source_id = synced.sources[0].id;
    (store, source_id)
}

fn record(source_id: i64, items: Vec<dedup::Item>) -> gleaner::record::PollRecord {
    use gleaner::record::{PollOutcome, PollRecord};
    PollRecord {
        source_id,
        url: "https://bench.example/feed".into(),
        started_at: Utc::now(),
        duration: std::time::Duration::ZERO,
        next: gleaner::schedule::Plan {
            at: Utc::now(),
            reason: gleaner::schedule::Reason::Interval,
        },
        validators_sent: Default::default(),
        meta: Default::default(),
        outcome: PollOutcome::Parsed {
            status: Some(200),
            bytes: 0,
            validators: Default::default(),
            body_hash: format!("{}", items.len()),
            feed_title: None,
            site_url: None,
            hints: Default::default(),
            items,
            pages: Vec::new(),
            identity_fallback: None,
        },
    }
}

fn identify(rendered: Vec<gleaner::render::Rendered>) -> Vec<dedup::Item> {
    let source = SourceContext {
        url: "https://bench.example/feed",
        site_url: None,
        basis: IdentityBasis::Guid,
    };
    dedup::identify(source, &TrackingParams::default(), rendered).items
}

/// Fills a database with `size` articles, then times filing new articles and near-duplicate
/// copies at a few distances: the cost of deduplication per item against that archive.
async fn cost(size: usize) {
    const PROBE: usize = 2_000;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bench.db");
    let (store, source_id) = new_store(&path).await;
    let mut rng = 0x2545_f491_4f6c_dd1d_u64;
    let mut bodies: Vec<Vec<String>> = Vec::new();
    let clock = std::time::Instant::now();
    let mut n = 0;
    while n < size {
        let batch: Vec<_> = (n..(n + 1_000).min(size))
            .map(|i| {
                let body = random_body(&mut rng);
                // Keep PROBE bodies spread over the archive, so that every copy filed below
                // has a different original.
                if i % (size / PROBE).max(1) == 0 {
                    bodies.push(body.clone());
                }
                item_of(i, &body)
            })
            .collect();
        n += batch.len();
        let items = tokio::task::spawn_blocking(move || identify(batch))
            .await
            .unwrap();
        store.record_poll(record(source_id, items)).await.unwrap();
    }
    let fill = clock.elapsed().as_secs_f64();
    store.close().await;
    let db_mb = std::fs::metadata(&path).unwrap().len() as f64 / 1e6;
    println!(
        "\n{size} stored articles: filled in {fill:.1} s ({:.0} items/s), database {db_mb:.0} MB",
        size as f64 / fill
    );

    for distance in [0, 3, 7, 10] {
        let store = SqliteStore::open(
            &path,
            dedup::NearDuplicates {
                max_distance: distance,
                ..Default::default()
            },
        )
        .await
        .unwrap();
        // The writer loads the recent fingerprints at its first write: timed apart.
        let clock = std::time::Instant::now();
        let first = identify(vec![item_of(n, &random_body(&mut rng))]);
        n += 1;
        store.record_poll(record(source_id, first)).await.unwrap();
        if distance == 0 {
            println!(
                "  writer start (loads {size} fingerprints) and one item: {:.2} s",
                clock.elapsed().as_secs_f64()
            );
        }
        let mut timings = Vec::new();
        for copies in [false, true] {
            let batch: Vec<_> = (0..PROBE)
                .map(|i| {
                    let id = n + i;
                    let body = if copies {
                        // A copy of a stored article with two words changed.
                        let mut body = bodies[i % bodies.len()].clone();
                        body[0] = body[0].replacen('w', "x", 2);
                        body
                    } else {
                        random_body(&mut rng)
                    };
                    item_of(id, &body)
                })
                .collect();
            n += PROBE;
            let items = identify(batch);
            let clock = std::time::Instant::now();
            let counts = store.record_poll(record(source_id, items)).await.unwrap();
            let per_item = clock.elapsed().as_secs_f64() / PROBE as f64 * 1e6;
            timings.push((per_item, counts.near_duplicates));
        }
        store.close().await;
        println!(
            "  distance {distance:>2}: new story {:>7.1} µs/item, copy {:>7.1} µs/item ({} of {PROBE} linked)",
            timings[0].0, timings[1].0, timings[1].1
        );
    }
}

/// What the articles of a crowd have in common.
#[derive(Clone, Copy, Debug)]
enum Crowd {
    /// Every body different: the baseline.
    Distinct,
    /// Every body the same (a boilerplate or a feed that repeats itself): one fingerprint.
    Identical,
    /// One template with other figures in each: fingerprints within a few bits, never linked.
    Template,
}

/// Files `size` new articles into a new database, all distinct, all identical or all from one
/// template, and prints the writer's time per article: a crowd that shares a fingerprint must
/// cost about what distinct articles cost.
async fn crowd(size: usize) {
    println!("\n{size} new articles into an empty database:");
    let mut baseline = None;
    for kind in [Crowd::Distinct, Crowd::Identical, Crowd::Template] {
        let dir = tempfile::tempdir().unwrap();
        let (store, source_id) = new_store(&dir.path().join("bench.db")).await;
        let mut rng = 0x9e37_79b9_7f4a_7c15_u64;
        // Digits would count as figures: the template's words are letters only.
        let template: Vec<String> = random_body(&mut rng)
            .iter()
            .map(|p| {
                p.chars()
                    .map(|c| c.to_digit(10).map_or(c, |d| (b'a' + d as u8) as char))
                    .collect()
            })
            .collect();
        let (mut writer_time, mut linked, mut n) = (0.0, 0, 0);
        while n < size {
            let batch: Vec<_> = (n..(n + 1_000).min(size))
                .map(|i| {
                    let body = match kind {
                        Crowd::Distinct => random_body(&mut rng),
                        Crowd::Identical => template.clone(),
                        Crowd::Template => {
                            let mut body = template.clone();
                            body.push(format!("Figures {i} and {} of {}.", i * 7 + 3, i * 13 + 5));
                            body
                        }
                    };
                    item_of(i, &body)
                })
                .collect();
            n += batch.len();
            let items = identify(batch);
            let clock = std::time::Instant::now();
            let counts = store.record_poll(record(source_id, items)).await.unwrap();
            writer_time += clock.elapsed().as_secs_f64();
            linked += counts.near_duplicates;
        }
        store.close().await;
        let per_item = writer_time / size as f64 * 1e6;
        let ratio = per_item / *baseline.get_or_insert(per_item);
        println!(
            "  {:<9} {per_item:>7.1} µs/item ({ratio:.2}x distinct), writer {writer_time:.1} s, {linked} linked",
            format!("{kind:?}").to_lowercase()
        );
    }
}

/// Files the labelled set the way the store does (exact identity by canonical URL or by the
/// item's identity within its source), then scores near-duplicate linking at every distance
/// and a few length ratios.
fn sweep() {
    let base = "http://127.0.0.1:9";
    let set = labelled::build(base);
    let tracking = TrackingParams::default();
    let mut stored: Vec<Stored> = Vec::new();
    let mut by_url: HashMap<String, usize> = HashMap::new();
    let mut by_identity: HashMap<(String, String), usize> = HashMap::new();
    let mut new_articles = Vec::new();
    for feed in &set.feeds {
        let url = format!("{base}{}", feed.path);
        let parsed = gleaner::feed::parse(&feed.body, None, Some(&url)).unwrap();
        let rendered: Vec<_> = parsed
            .entries
            .iter()
            .map(|e| gleaner::render::render_entry(e, None, Utc::now()))
            .collect();
        let source = SourceContext {
            url: &url,
            site_url: parsed.site_url.as_deref(),
            basis: IdentityBasis::Guid,
        };
        for item in dedup::identify(source, &tracking, rendered).items {
            let Some(label) = set
                .label(
                    &feed.name,
                    item.rendered.link.as_deref(),
                    item.rendered.guid.as_deref(),
                )
                .cloned()
            else {
                continue;
            };
            let identity = (feed.name.clone(), item.identity.as_stored());
            let known = by_identity
                .get(&identity)
                .or_else(|| item.canonical_url.as_ref().and_then(|u| by_url.get(u)))
                .copied();
            let index = match known {
                Some(i) => i,
                None => {
                    stored.push(Stored {
                        labels: Vec::new(),
                        body: item.rendered.body.clone(),
                        simhash: item.simhash,
                        chars: item.rendered.body.chars().count(),
                    });
                    new_articles.push(stored.len() - 1);
                    stored.len() - 1
                }
            };
            stored[index].labels.push(label);
            by_identity.insert(identity, index);
            if let Some(u) = item.canonical_url {
                by_url.entry(u).or_insert(index);
            }
        }
    }
    println!(
        "labelled set: {} feeds, {} labelled items, {} articles, {} with fingerprints",
        set.feeds.len(),
        set.items(),
        stored.len(),
        stored.iter().filter(|s| s.simhash.is_some()).count()
    );
    let shingles: Vec<usize> = std::env::var("SHINGLES")
        .ok()
        .map(|v| v.split(',').filter_map(|n| n.parse().ok()).collect())
        .unwrap_or_else(|| vec![simhash::SHINGLE_WORDS]);
    for words in shingles {
        for s in &mut stored {
            s.simhash = dedup::fingerprint(&s.body)
                .and_then(|_| simhash::simhash_of_shingles(&s.body, words));
        }
        println!("\n== shingles of {words} words");
        sweep_distances(&stored);
    }
}

fn sweep_distances(stored: &[Stored]) {
    // Distances from each article to every earlier one.
    let mut nearest: Vec<Vec<(u32, usize)>> = Vec::with_capacity(stored.len());
    for (i, a) in stored.iter().enumerate() {
        let mut list: Vec<(u32, usize)> = match a.simhash {
            None => Vec::new(),
            Some(h) => stored[..i]
                .iter()
                .enumerate()
                .filter_map(|(j, b)| b.simhash.map(|g| (simhash::distance(h, g), j)))
                .filter(|(d, _)| *d <= dedup::MAX_NEAR_DISTANCE)
                .collect(),
        };
        list.sort();
        nearest.push(list);
    }
    println!("\ndistance ratio guard   links  right  precision  recall  recall(comparable)");
    for (ratio, figures) in [(0.0, false), (0.8, false), (0.8, true)] {
        for distance in 0..=dedup::MAX_NEAR_DISTANCE {
            let scored: Vec<Scored> = stored
                .iter()
                .enumerate()
                .map(|(i, a)| Scored {
                    labels: a.labels.iter().cloned().collect(),
                    fingerprinted: a.simhash.is_some(),
                    duplicate_of: nearest[i]
                        .iter()
                        .find(|(d, j)| {
                            *d <= distance
                                && {
                                    let (x, y) = (a.chars as f64, stored[*j].chars as f64);
                                    x.min(y) / x.max(y) >= ratio
                                }
                                && (!figures || dedup::same_figures(&a.body, &stored[*j].body))
                        })
                        .map(|(_, j)| *j),
                })
                .collect();
            let s = labelled::score(&scored);
            println!(
                "{distance:>8} {ratio:>5.1} {} {:>6} {:>6} {:>10.3} {:>7.3} {:>7.3}   false merges {} split {}",
                if figures { "figures" } else { "       " },
                s.links,
                s.true_links,
                s.precision(),
                s.recall(),
                s.recall_comparable(),
                s.false_merges,
                s.split_stories
            );
            if ratio == 0.8 && [7, 10].contains(&distance) {
                println!("{s}");
                for (i, a) in scored.iter().enumerate() {
                    if let Some(t) = a.duplicate_of {
                        let mine: Vec<_> = a.labels.iter().map(|l| &l.story).collect();
                        let theirs: Vec<_> = scored[t].labels.iter().map(|l| &l.story).collect();
                        if !mine.iter().any(|s| theirs.contains(s)) {
                            println!("      false link: {mine:?} -> {theirs:?}");
                        }
                    }
                    let _ = i;
                }
            }
        }
    }
}
