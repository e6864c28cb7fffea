//! Full-text extraction, measured: quality and speed of `extract::extract` over the 181 pages of
//! scrapinghub's article-extraction benchmark (`tests/fixtures/extraction/`), scored exactly as
//! its evaluate.py (see `tests/extraction/mod.rs`); and the teaser rule of `extract::is_teaser`
//! over the real feeds of `tests/fixtures/real-feeds/`.
//!
//! `cargo bench --bench extract` (add `-- --quality`, `-- --rules`, `-- --teasers` or
//! `-- --hostile` for one part only; `-- --dump FILE` writes the bodies as the benchmark's
//! `output/*.json`, for its own evaluate.py;
//! `-- --worst 10` also lists the ten pages of lowest F1, `-- --page ID` prints one page's
//! body beside its truth, `-- --extra` every paragraph of the bodies that is mostly not in the
//! truth, and every truth paragraph that is mostly missing: what post-processing is tuned on).

#[path = "../tests/extraction/mod.rs"]
mod extraction;

use std::time::Instant;

use chrono::Utc;
use gleaner::{extract, feed, render};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let value_of = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    if args.iter().any(|a| a == "--extra") {
        extra_paragraphs();
        return;
    }
    if let Some(path) = value_of("--dump") {
        dump(&path);
        return;
    }
    if let Some(id) = value_of("--page") {
        show_page(&id);
        return;
    }
    let only = |part: &str| {
        !args
            .iter()
            .any(|a| ["--quality", "--rules", "--teasers", "--hostile"].contains(&a.as_str()))
            || args.iter().any(|a| a == part)
    };
    if only("--quality") {
        let worst = value_of("--worst")
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        quality(worst);
    }
    if only("--rules") {
        rules();
    }
    if only("--teasers") {
        teasers();
    }
    if only("--hostile") {
        hostile();
    }
}

/// The body gleaner would store for a page, or "" when it finds no article.
fn body_of(page: &extraction::Page) -> String {
    extract::extract_with(&page.html, None, Some(&page.url), chosen_rules())
        .map_or_else(|_| String::new(), |e| e.body)
}

/// Each post-processing rule by its field name in `Cleanup`, and how to turn it off.
type TurnOff = fn(&mut extract::Cleanup);
const RULES: [(&str, TurnOff); 9] = [
    ("captions", |r| r.captions = false),
    ("credit_lines", |r| r.credit_lines = false),
    ("bylines", |r| r.bylines = false),
    ("byline_lines", |r| r.byline_lines = false),
    ("time_stamps", |r| r.time_stamps = false),
    ("widgets", |r| r.widgets = false),
    ("interface_lines", |r| r.interface_lines = false),
    ("link_lists", |r| r.link_lists = false),
    ("link_paragraphs", |r| r.link_paragraphs = false),
];

/// All rules, less those named after `--without` (comma-separated field names of `Cleanup`).
fn chosen_rules() -> extract::Cleanup {
    let args: Vec<String> = std::env::args().collect();
    let mut rules = extract::Cleanup::ALL;
    if let Some(names) = args
        .iter()
        .position(|a| a == "--without")
        .and_then(|i| args.get(i + 1))
    {
        for name in names.split(',') {
            let Some((_, turn_off)) = RULES.iter().find(|(n, _)| *n == name) else {
                panic!("no rule {name:?}: one of {:?}", RULES.map(|(n, _)| n));
            };
            turn_off(&mut rules);
        }
    }
    rules
}

fn quality(worst: usize) {
    let pages = extraction::pages();
    let bytes: usize = pages.iter().map(|p| p.html.len()).sum();
    // Once for the text, then timed over several rounds.
    let bodies: Vec<String> = pages.iter().map(body_of).collect();
    let rounds = 5;
    let started = Instant::now();
    for _ in 0..rounds {
        for page in &pages {
            std::hint::black_box(body_of(page));
        }
    }
    let seconds = started.elapsed().as_secs_f64() / rounds as f64;

    let matchings: Vec<_> = pages
        .iter()
        .zip(&bodies)
        .map(|(page, body)| extraction::matching(&page.truth, body))
        .collect();
    let scores = extraction::scores(&matchings);
    let failed = bodies.iter().filter(|b| b.is_empty()).count();
    let (kept, total) = pages
        .iter()
        .zip(&bodies)
        .map(|(page, body)| extraction::paragraphs_kept(&page.truth, body))
        .fold((0, 0), |(k, t), (pk, pt)| (k + pk, t + pt));

    println!(
        "extraction, {} pages ({:.1} MB of HTML), scored as evaluate.py:",
        pages.len(),
        bytes as f64 / 1e6
    );
    println!(
        "  F1 {:.4}  precision {:.4}  recall {:.4}  (no article: {failed} pages)",
        scores.f1, scores.precision, scores.recall
    );
    println!(
        "  truth paragraphs that are exactly one paragraph of the document: {kept} of {total} ({:.1}%)",
        100.0 * kept as f64 / total.max(1) as f64
    );
    println!(
        "  speed: {:.0} pages/s, {:.2} ms a page, {:.1} MB/s (mean of {rounds} rounds, one thread)",
        pages.len() as f64 / seconds,
        1e3 * seconds / pages.len() as f64,
        bytes as f64 / 1e6 / seconds
    );
    println!("  peak memory (VmHWM): {}", peak_memory());

    if worst > 0 {
        let mut ranked: Vec<_> = pages.iter().zip(&matchings).collect();
        let f1 = |m: &extraction::Matching| {
            let (p, r) = (m.precision(), m.recall());
            if p + r > 0.0 {
                2.0 * p * r / (p + r)
            } else {
                0.0
            }
        };
        ranked.sort_by(|a, b| f1(a.1).total_cmp(&f1(b.1)));
        for (page, m) in ranked.into_iter().take(worst) {
            println!(
                "  F1 {:.3} P {:.3} R {:.3}  {}  {}",
                f1(m),
                m.precision(),
                m.recall(),
                &page.id[..12],
                page.url
            );
        }
    }
}

/// Paragraphs of our bodies most of whose words are not in the truth (`+`), and paragraphs of
/// the truth most of whose words we lost (`-`), page by page.
fn extra_paragraphs() {
    let words = |text: &str| -> std::collections::HashSet<String> {
        text.split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect()
    };
    for page in extraction::pages() {
        let body = body_of(&page);
        let (ours, theirs) = (words(&body), words(&page.truth));
        let mostly_outside = |paragraph: &str, other: &std::collections::HashSet<String>| {
            let w = words(paragraph);
            !w.is_empty() && w.iter().filter(|x| other.contains(*x)).count() * 2 < w.len()
        };
        let extra: Vec<_> = body
            .split("\n\n")
            .filter(|p| mostly_outside(p, &theirs))
            .collect();
        let missing: Vec<_> = page
            .truth
            .lines()
            .filter(|p| mostly_outside(p, &ours))
            .collect();
        if extra.is_empty() && missing.is_empty() {
            continue;
        }
        println!("=== {} {}", &page.id[..12], page.url);
        for p in extra {
            println!("+ {}", p.chars().take(160).collect::<String>());
        }
        for p in missing {
            println!("- {}", p.chars().take(160).collect::<String>());
        }
    }
}

/// What each post-processing rule is worth: the scores with no rule, with all, and with all
/// but one.
fn rules() {
    let pages = extraction::pages();
    let matchings = |rules: extract::Cleanup| -> Vec<extraction::Matching> {
        pages
            .iter()
            .map(|page| {
                let body = extract::extract_with(&page.html, None, Some(&page.url), rules)
                    .map_or_else(|_| String::new(), |e| e.body);
                extraction::matching(&page.truth, &body)
            })
            .collect()
    };
    let with_all = matchings(extract::Cleanup::ALL);
    let all = extraction::scores(&with_all);
    let line = |name: &str, these: &[extraction::Matching]| {
        let s = extraction::scores(these);
        // Pages the rule helps (their F1 drops without it) and hurts.
        let page_f1 = |m: &extraction::Matching| {
            let (p, r) = (m.precision(), m.recall());
            if p + r > 0.0 {
                2.0 * p * r / (p + r)
            } else {
                0.0
            }
        };
        let helps = these
            .iter()
            .zip(&with_all)
            .filter(|(a, b)| page_f1(a) < page_f1(b) - 1e-9)
            .count();
        let hurts = these
            .iter()
            .zip(&with_all)
            .filter(|(a, b)| page_f1(a) > page_f1(b) + 1e-9)
            .count();
        println!(
            "  {name:<26} F1 {:.4} ({:+.4})  precision {:.4}  recall {:.4}  helps {helps:>3} pages, hurts {hurts:>3}",
            s.f1,
            s.f1 - all.f1,
            s.precision,
            s.recall
        );
    };
    println!("post-processing rules (F1 change against all rules):");
    line("all rules", &with_all);
    line("no rule", &matchings(extract::Cleanup::NONE));
    for (name, turn_off) in RULES {
        let mut rules = extract::Cleanup::ALL;
        turn_off(&mut rules);
        line(&format!("without {name}"), &matchings(rules));
    }
}

/// The body of every page in the form of the benchmark's predictions (`{id: {"articleBody"}}`).
fn dump(path: &str) {
    let bodies: serde_json::Map<String, serde_json::Value> = extraction::pages()
        .iter()
        .map(|page| {
            (
                page.id.clone(),
                serde_json::json!({ "articleBody": body_of(page) }),
            )
        })
        .collect();
    std::fs::write(path, serde_json::to_string(&bodies).unwrap()).unwrap();
    println!("wrote {} bodies to {path}", bodies.len());
}

fn show_page(prefix: &str) {
    for page in extraction::pages()
        .iter()
        .filter(|p| p.id.starts_with(prefix))
    {
        let result = extract::extract(&page.html, None, Some(&page.url));
        println!("=== {} {}", page.id, page.url);
        match result {
            Ok(e) => {
                println!(
                    "title: {:?}\npublished: {:?}\ncanonical: {:?}",
                    e.title, e.published, e.canonical_url
                );
                println!("--- body\n{}", e.body);
            }
            Err(e) => println!("error: {e}"),
        }
        println!("--- truth\n{}", page.truth);
    }
}

/// The teaser rule over the real feeds: per feed, the word counts of its items' bodies and how
/// many items each part of the rule flags (the word count at three thresholds, so the choice of
/// `TEASER_WORDS` can be checked).
fn teasers() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/real-feeds");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    println!(
        "teaser rule over tests/fixtures/real-feeds (TEASER_WORDS = {}):",
        extract::TEASER_WORDS
    );
    println!(
        "  {:<24} {:>5}  {:>5} {:>5} {:>6} {:>5} {:>6}   <50 <100 <150  ellipsis read-more link  teaser",
        "feed", "items", "min", "p25", "median", "p75", "max"
    );
    let mut totals = [0usize; 8];
    for path in files {
        let Ok(parsed) = feed::parse(&std::fs::read(&path).unwrap(), None, None) else {
            continue;
        };
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let rendered: Vec<_> = parsed
            .entries
            .iter()
            .map(|e| render::render_entry(e, None, Utc::now()))
            .collect();
        let mut words: Vec<usize> = rendered
            .iter()
            .map(|r| r.body.split_whitespace().count())
            .collect();
        words.sort_unstable();
        let signs: Vec<_> = rendered
            .iter()
            .map(|r| extract::teaser_signs(&r.body, r.link.as_deref()))
            .collect();
        let under = |n: usize| words.iter().filter(|&&w| w < n).count();
        let counts = [
            rendered.len(),
            under(50),
            under(100),
            under(150),
            signs.iter().filter(|s| s.ellipsis).count(),
            signs.iter().filter(|s| s.read_more).count(),
            signs.iter().filter(|s| s.link_last).count(),
            signs.iter().filter(|s| s.any()).count(),
        ];
        for (total, count) in totals.iter_mut().zip(counts) {
            *total += count;
        }
        let q = |f: f64| {
            words
                .get(((words.len().max(1) - 1) as f64 * f).round() as usize)
                .copied()
                .unwrap_or(0)
        };
        println!(
            "  {name:<24} {:>5}  {:>5} {:>5} {:>6} {:>5} {:>6}   {:>3} {:>4} {:>4}  {:>8} {:>9} {:>4}  {:>6}",
            counts[0],
            q(0.0),
            q(0.25),
            q(0.5),
            q(0.75),
            q(1.0),
            counts[1],
            counts[2],
            counts[3],
            counts[4],
            counts[5],
            counts[6],
            counts[7]
        );
    }
    println!(
        "  {:<24} {:>5}  {:>37}   {:>3} {:>4} {:>4}  {:>8} {:>9} {:>4}  {:>6}",
        "all",
        totals[0],
        "",
        totals[1],
        totals[2],
        totals[3],
        totals[4],
        totals[5],
        totals[6],
        totals[7]
    );
}

/// The worst pages the size budget lets through: time and memory for pages of about
/// `MAX_PAGE_BYTES` built to be costly.
fn hostile() {
    let budget = extract::MAX_PAGE_BYTES - 1024;
    let fill = |unit: &str| {
        let mut page = String::from("<html><body>");
        while page.len() + unit.len() < budget {
            page.push_str(unit);
        }
        page
    };
    let nested = {
        let depth = extract::MAX_NESTING - 2;
        let unit = format!(
            "{}<p>Some words in a deep paragraph.</p>{}",
            "<div>".repeat(depth),
            "</div>".repeat(depth)
        );
        fill(&unit)
    };
    let cases = [
        (
            "paragraphs",
            fill("<p>The council voted on Monday to close the old bridge.</p>"),
        ),
        ("links", fill("<a href=/x>x</a>")),
        ("empty divs", fill("<div></div>")),
        ("nested 510 deep", nested),
        ("one text", fill("word ")),
    ];
    println!("pages of {:.1} MB built to be costly:", budget as f64 / 1e6);
    for (name, page) in cases {
        let started = Instant::now();
        let result = extract::extract(page.as_bytes(), None, None);
        println!(
            "  {name:<16} {:>6.2} s  {}  peak memory so far {}",
            started.elapsed().as_secs_f64(),
            match &result {
                Ok(e) => format!("{} chars of body", e.body.len()),
                Err(e) => format!("error: {e}"),
            },
            peak_memory()
        );
    }
}

fn peak_memory() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(|l| l["VmHWM:".len()..].trim().to_owned())
        })
        .unwrap_or_else(|| "unknown (no /proc/self/status)".to_owned())
}
