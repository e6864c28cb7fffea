//! The labelled deduplication set: real material and the publisher behaviours that make
//! duplicates, every item labelled with its story, and the scoring of what a deduplicator made
//! of it. Shared by `tests/dedup.rs` (through the real pipeline) and `benches/dedup.rs` (the
//! threshold sweep), so both measure the same thing.
//!
//! - `newsroom`: 181 real article texts (`fixtures/articles/`) as originals. Several cover the same
//!   events (an earnings report, a court plea, a band's reunion) in independent words: different
//!   stories on similar topics, which must not be merged.
//! - every real feed of `fixtures/real-feeds/` that parses, served as it is; Daring Fireball's
//!   Atom, RSS and JSON feeds carry the same posts: one article each, with three entries.
//! - `templates`: stories written from one template with different facts (earthquakes, earnings,
//!   matches, releases, forecasts): the hardest different-stories case.
//! - `wire`, `aggregator`, `copydesk`: syndicated copies of the newsroom's articles at their own
//!   URLs, with the edits syndication makes (see [`Variant`]).
//! - `planet`: long posts of the real feeds republished, half under their own link (with
//!   tracking parameters and http: the same article) and half as a copy at the planet's URL.

#![allow(dead_code)]

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

/// The edits of a syndicated copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Variant {
    /// Word for word, at another URL under another title.
    Copy,
    /// A wire dateline before the first paragraph and a credit line after the last.
    Dateline,
    /// Two paragraphs of the syndicator's boilerplate appended.
    Footer,
    /// About one word in 25 changed.
    Copyedit,
    /// Cut after about 85% of its words.
    Trim,
    /// Dateline, one word in 50 changed and the footer.
    Mixed,
}

pub const VARIANTS: [Variant; 6] = [
    Variant::Copy,
    Variant::Dateline,
    Variant::Footer,
    Variant::Copyedit,
    Variant::Trim,
    Variant::Mixed,
];

/// What an item is, for the scoring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// A newsroom original.
    Original,
    /// An item of a real feed.
    Corpus,
    /// A templated story.
    Template,
    /// A syndicated copy at its own URL: should be linked as a near-duplicate.
    Copy(Variant),
    /// A real post republished under its own link: must be the same article.
    PlanetLink,
    /// A real post republished at the planet's URL with a footer: a near-duplicate.
    PlanetCopy,
}

impl Kind {
    /// Items that must share one article with the other items of their story.
    pub fn is_exact(self) -> bool {
        matches!(self, Kind::Original | Kind::Corpus | Kind::PlanetLink)
    }

    pub fn name(self) -> String {
        match self {
            Kind::Copy(v) => format!("{v:?}").to_lowercase(),
            other => format!("{other:?}").to_lowercase(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Label {
    pub story: String,
    pub kind: Kind,
    /// The item's canonical link: items of an exact kind with the same one must be one article.
    pub url: Option<String>,
}

/// A feed of the set, to be served at `{base}/{path}`.
pub struct Feed {
    pub name: String,
    pub path: String,
    pub body: Vec<u8>,
}

pub struct LabelledSet {
    pub feeds: Vec<Feed>,
    /// (feed name, link as served, or guid when there is no link) → label.
    labels: HashMap<(String, String), Label>,
}

impl LabelledSet {
    /// The label of an item as the database records it (its source's name, link and guid).
    pub fn label(&self, feed: &str, link: Option<&str>, guid: Option<&str>) -> Option<&Label> {
        link.and_then(|l| self.labels.get(&(feed.to_owned(), l.to_owned())))
            .or_else(|| guid.and_then(|g| self.labels.get(&(feed.to_owned(), g.to_owned()))))
    }

    pub fn items(&self) -> usize {
        self.labels.len()
    }
}

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

/// A small deterministic generator (splitmix64), so the set is the same on every run.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9e37_79b9_7f4a_7c15)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// One RSS item: (guid, link, title, paragraphs).
struct Item {
    guid: String,
    link: String,
    title: String,
    paragraphs: Vec<String>,
}

fn rss(title: &str, site: &str, items: &[Item]) -> Vec<u8> {
    let mut xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rss version=\"2.0\"><channel>\
         <title>{}</title><link>{}</link><description>labelled set</description>\n",
        escape(title),
        escape(site)
    );
    for item in items {
        let body: String = item
            .paragraphs
            .iter()
            .map(|p| format!("<p>{}</p>", escape(p)))
            .collect();
        xml.push_str(&format!(
            "<item><guid isPermaLink=\"false\">{}</guid><link>{}</link><title>{}</title>\
             <pubDate>Tue, 19 Nov 2019 12:00:00 +0000</pubDate>\
             <description>{}</description></item>\n",
            escape(&item.guid),
            escape(&item.link),
            escape(&item.title),
            escape(&body)
        ));
    }
    xml.push_str("</channel></rss>\n");
    xml.into_bytes()
}

/// A title from the last meaningful segment of an article's URL.
fn title_from_url(url: &str, n: usize) -> String {
    let words: Vec<&str> = url
        .trim_end_matches('/')
        .rsplit('/')
        .find(|s| s.chars().filter(|c| c.is_alphabetic()).count() > 8)
        .unwrap_or("")
        .split(['-', '_', '.'])
        .filter(|w| w.chars().all(char::is_alphabetic) && !w.is_empty() && *w != "html")
        .take(10)
        .collect();
    if words.len() < 2 {
        format!("Article {n}")
    } else {
        words.join(" ")
    }
}

/// The newsroom's articles: (id, url, title, paragraphs), in a fixed order.
fn articles() -> Vec<(String, String, String, Vec<String>)> {
    let text = std::fs::read_to_string(fixture("articles/articles.json")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut ids: Vec<&String> = json.as_object().unwrap().keys().collect();
    ids.sort();
    ids.into_iter()
        .enumerate()
        .map(|(n, id)| {
            let url = json[id]["url"].as_str().unwrap().to_owned();
            let paragraphs: Vec<String> = json[id]["articleBody"]
                .as_str()
                .unwrap()
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect();
            (id.clone(), url.clone(), title_from_url(&url, n), paragraphs)
        })
        .collect()
}

const FOOTER: [&str; 2] = [
    "This article originally appeared on the publisher's website and is republished here with \
     permission. Subscribe to our free daily newsletter to get the most important stories of the \
     day delivered to your inbox every morning.",
    "Copyright 2019. All rights reserved. This material may not be published, broadcast, \
     rewritten or redistributed without permission.",
];

const REPLACEMENTS: [&str; 12] = [
    "says",
    "reported",
    "noted",
    "also",
    "however",
    "new",
    "major",
    "recent",
    "about",
    "nearly",
    "officials",
    "added",
];

fn words_of(paragraphs: &[String]) -> usize {
    paragraphs
        .iter()
        .map(|p| p.split_whitespace().count())
        .sum()
}

/// Changes about one word in `every` (at least one).
fn copyedit(paragraphs: &[String], every: usize, rng: &mut Rng) -> Vec<String> {
    let total = words_of(paragraphs);
    let changes = (total / every).max(1);
    let mut targets: BTreeSet<usize> = BTreeSet::new();
    while targets.len() < changes.min(total) {
        targets.insert(rng.below(total));
    }
    let mut index = 0;
    paragraphs
        .iter()
        .map(|p| {
            p.split_whitespace()
                .map(|w| {
                    let word = if targets.contains(&index) {
                        REPLACEMENTS[rng.below(REPLACEMENTS.len())].to_owned()
                    } else {
                        w.to_owned()
                    };
                    index += 1;
                    word
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

/// The first `share` of the words, cut at a word.
fn trim(paragraphs: &[String], share: f64) -> Vec<String> {
    let keep = ((words_of(paragraphs) as f64) * share).ceil() as usize;
    let mut left = keep;
    let mut out = Vec::new();
    for p in paragraphs {
        if left == 0 {
            break;
        }
        let words: Vec<&str> = p.split_whitespace().collect();
        let take = words.len().min(left);
        out.push(words[..take].join(" "));
        left -= take;
    }
    out
}

fn dateline(paragraphs: &[String]) -> Vec<String> {
    let mut out = paragraphs.to_vec();
    if let Some(first) = out.first_mut() {
        *first = format!("NEW YORK (Wire Service) — {first}");
    }
    out.push(
        "Reporting by Jane Doe in New York; additional reporting by Ravi Patel; editing by Sam \
         Holmes."
            .into(),
    );
    out
}

fn footer(paragraphs: &[String]) -> Vec<String> {
    let mut out = paragraphs.to_vec();
    out.extend(FOOTER.iter().map(|f| f.to_string()));
    out
}

pub fn make_variant(paragraphs: &[String], variant: Variant, seed: u64) -> Vec<String> {
    let mut rng = Rng::new(seed);
    match variant {
        Variant::Copy => paragraphs.to_vec(),
        Variant::Dateline => dateline(paragraphs),
        Variant::Footer => footer(paragraphs),
        Variant::Copyedit => copyedit(paragraphs, 25, &mut rng),
        Variant::Trim => trim(paragraphs, 0.85),
        Variant::Mixed => footer(&copyedit(&dateline(paragraphs), 50, &mut rng)),
    }
}

/// Stories written from one template with different facts: each is a story of its own.
fn templated() -> Vec<(String, Vec<String>)> {
    const TOWNS: [&str; 12] = [
        "Ridgecrest",
        "Anza",
        "Petrolia",
        "Hollister",
        "Ferndale",
        "Bishop",
        "Coalinga",
        "Parkfield",
        "Salton City",
        "Mammoth Lakes",
        "Ocotillo",
        "Willits",
    ];
    const COMPANIES: [&str; 12] = [
        "Northwind Traders",
        "Contoso",
        "Fabrikam",
        "Tailspin Toys",
        "Wingtip",
        "Litware",
        "Adventure Works",
        "Proseware",
        "Fourth Coffee",
        "Lucerne Publishing",
        "Margie's Travel",
        "Humongous Insurance",
    ];
    const TEAMS: [&str; 12] = [
        "Riverside",
        "Kingsbridge",
        "Ashford",
        "Millwall Park",
        "Eastfield",
        "Harrow Vale",
        "Northgate",
        "Stonebridge",
        "Westbury",
        "Oakham",
        "Fairhaven",
        "Redcliffe",
    ];
    const PROJECTS: [&str; 12] = [
        "Quillpad",
        "Ferrous",
        "Lanternfish",
        "Mossbank",
        "Tidewater",
        "Sparrowhawk",
        "Cobalt",
        "Driftwood",
        "Ironbark",
        "Kestrel",
        "Larkspur",
        "Nightjar",
    ];
    const REGIONS: [&str; 12] = [
        "the northern valleys",
        "the coast",
        "the high plains",
        "the river delta",
        "the eastern suburbs",
        "the mountain passes",
        "the islands",
        "the lake district",
        "the southern farmland",
        "the capital region",
        "the western foothills",
        "the border towns",
    ];
    const DAYS: [&str; 7] = [
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
    ];
    let mut stories = Vec::new();
    for i in 0..12 {
        let j = (i * 5 + 3) % 12;
        let k = (i * 7 + 1) % 12;
        let day = DAYS[i % 7];
        stories.push((
            format!("Magnitude {}.{} earthquake shakes {}", 3 + i % 4, (i * 3) % 10, TOWNS[i]),
            vec![
                format!(
                    "A magnitude {}.{} earthquake struck {} kilometres {} of {} on {} at {}:{:02} \
                     local time, the Geological Survey said. The quake hit at a depth of {} \
                     kilometres and was felt across {}.",
                    3 + i % 4, (i * 3) % 10, 4 + i * 3, ["north", "south", "east", "west"][i % 4],
                    TOWNS[i], day, 1 + i, (i * 13) % 60, 2 + (i * 7) % 15, REGIONS[j]
                ),
                format!(
                    "Residents of {} described {} shaking that lasted several seconds, and some \
                     reported {}. There were no immediate reports of serious damage or injuries, \
                     emergency officials said, though crews were inspecting {} as a precaution.",
                    TOWNS[k], ["light", "moderate", "strong", "sharp"][i % 4],
                    ["items falling from shelves", "a loud rumble", "swaying lamps", "rattling windows"][j % 4],
                    ["bridges", "the water system", "school buildings", "the dam"][k % 4]
                ),
                "The region sits on a complex network of faults and experiences frequent small \
                 earthquakes. Seismologists warned that aftershocks are possible in the coming days \
                 and urged residents to secure heavy furniture and review their emergency plans."
                    .into(),
            ],
        ));
        stories.push((
            format!("{} reports quarterly results", COMPANIES[i]),
            vec![
                format!(
                    "{} reported {} quarter revenue of {}.{} billion dollars on {}, {} analysts' \
                     expectations of {}.{} billion, as demand for its {} {}.",
                    COMPANIES[i],
                    ["first", "second", "third", "fourth"][i % 4],
                    1 + i,
                    (i * 7) % 10,
                    day,
                    ["beating", "missing", "matching"][i % 3],
                    1 + i,
                    (i * 3) % 10,
                    [
                        "cloud services",
                        "printers",
                        "toys",
                        "insurance plans",
                        "coffee",
                        "books"
                    ][i % 6],
                    ["grew faster than expected", "slowed", "held steady"][j % 3]
                ),
                format!(
                    "Net income {} to {} million dollars, or {}.{:02} dollars per share, compared \
                     with {} million a year earlier. Chief executive {} said the company was {} \
                     about the rest of the year and {} its full-year forecast.",
                    ["rose", "fell"][i % 2],
                    100 + i * 37,
                    i % 4,
                    (i * 17) % 100,
                    90 + i * 29,
                    [
                        "Dana Reyes",
                        "Omar Haddad",
                        "Li Wen",
                        "Ingrid Olsen",
                        "Kofi Mensah",
                        "Ana Souza"
                    ][i % 6],
                    ["optimistic", "cautious", "confident"][k % 3],
                    ["raised", "kept", "lowered"][j % 3]
                ),
                "The company will hold a conference call with analysts later in the day. \
                 Investors will be watching for comments on costs, hiring and the outlook for the \
                 holiday season, which accounts for a large share of annual sales."
                    .into(),
            ],
        ));
        stories.push((
            format!("{} beat {}", TEAMS[i], TEAMS[j]),
            vec![
                format!(
                    "{} beat {} {}-{} on {} night, with {} scoring {} and the goalkeeper making \
                     {} saves in front of {} supporters.",
                    TEAMS[i],
                    TEAMS[j],
                    2 + i % 3,
                    i % 2,
                    day,
                    [
                        "Marco Silva",
                        "Tom Baker",
                        "Yusuf Ali",
                        "Sam Okafor",
                        "Luca Rossi",
                        "Ben Carter"
                    ][k % 6],
                    ["twice", "the winner", "a late penalty"][i % 3],
                    3 + i % 6,
                    8000 + i * 1250
                ),
                format!(
                    "The win moves {} up to {} place in the table, {} points behind the leaders, \
                     while {} have now lost {} of their last five matches. The manager praised \
                     his side's {} and said the squad was growing in confidence.",
                    TEAMS[i],
                    ["second", "third", "fourth", "fifth", "sixth"][i % 5],
                    1 + i % 9,
                    TEAMS[j],
                    1 + j % 4,
                    ["pressing", "patience", "defending", "spirit"][k % 4]
                ),
                format!(
                    "Next up, {} travel to face {} on Saturday afternoon, while {} host {} in \
                     midweek. Tickets for both matches are on sale from the club websites.",
                    TEAMS[i],
                    TEAMS[k],
                    TEAMS[j],
                    TEAMS[(k + 1) % 12]
                ),
            ],
        ));
        stories.push((
            format!("{} {}.{} released", PROJECTS[i], 1 + i % 3, i),
            vec![
                format!(
                    "Version {}.{} of {} is now available. This release {} and fixes {} bugs \
                     reported since the previous version. Highlights include {} and {}.",
                    1 + i % 3, i, PROJECTS[i],
                    ["improves start-up time", "adds a plugin system", "drops support for old platforms", "reworks the settings screen"][i % 4],
                    10 + i * 3,
                    ["a faster search index", "dark mode", "better keyboard navigation", "smaller downloads"][j % 4],
                    ["a new command palette", "improved accessibility", "offline support", "a rewritten importer"][k % 4]
                ),
                format!(
                    "Users of version {}.{} are encouraged to upgrade. As always, the release can be \
                     downloaded from the project website or installed through your package \
                     manager, and {} contributors helped make it possible.",
                    1 + i % 3, i.saturating_sub(1), 5 + i * 4
                ),
                "Detailed notes are available in the changelog. Please report any problems on the \
                 issue tracker, and remember to back up your data before upgrading a production \
                 installation."
                    .into(),
            ],
        ));
        stories.push((
            format!(
                "Forecast for {}: {}",
                REGIONS[i],
                ["rain", "snow", "sun", "storms"][i % 4]
            ),
            vec![
                format!(
                    "Forecasters expect {} across {} on {}, with highs near {} degrees and lows \
                     around {}. Winds from the {} will gust up to {} kilometres an hour, and the \
                     chance of rain is {} percent.",
                    [
                        "heavy rain",
                        "snow showers",
                        "bright sunshine",
                        "thunderstorms"
                    ][i % 4],
                    REGIONS[i],
                    day,
                    5 + i * 2,
                    i as i32 - 4,
                    ["north", "south", "east", "west"][j % 4],
                    20 + i * 5,
                    (i * 9) % 100
                ),
                format!(
                    "The weather service issued {} for {} until {} evening and advised drivers to \
                     allow extra time. Conditions are expected to {} later in the week as {} moves \
                     in.",
                    [
                        "a wind advisory",
                        "a flood watch",
                        "a frost warning",
                        "a heat advisory"
                    ][k % 4],
                    REGIONS[j],
                    DAYS[(i + 1) % 7],
                    ["improve", "worsen", "stay unsettled"][i % 3],
                    [
                        "a ridge of high pressure",
                        "a cold front",
                        "a band of moist air"
                    ][j % 3]
                ),
                "Stay with us for updates throughout the day, and check the travel page for road \
                 and rail disruption before setting out."
                    .into(),
            ],
        ));
    }
    stories
}

/// Builds the set for feeds served under `base` (links inside real feeds may be relative).
pub fn build(base: &str) -> LabelledSet {
    let mut feeds = Vec::new();
    let mut labels = HashMap::new();
    let tracking = gleaner::dedup::TrackingParams::default();
    let articles = articles();

    let originals: Vec<Item> = articles
        .iter()
        .enumerate()
        .map(|(n, (id, url, title, paragraphs))| {
            labels.insert(
                ("newsroom".to_owned(), url.clone()),
                Label {
                    story: format!("article:{id}"),
                    kind: Kind::Original,
                    url: gleaner::dedup::canonical_url(url, &tracking),
                },
            );
            Item {
                guid: format!("newsroom-{n}"),
                link: url.clone(),
                title: title.clone(),
                paragraphs: paragraphs.clone(),
            }
        })
        .collect();
    feeds.push(Feed {
        name: "newsroom".into(),
        path: "/newsroom.xml".into(),
        body: rss("Newsroom", "https://newsroom.example/", &originals),
    });

    // Real feeds, as they are; their long posts are what the planet republishes. A post is
    // known by its canonical link, and posts with the same title and text are one post even
    // under different links (Daring Fireball's Atom feed links a linked-list post's subject,
    // its JSON feed the post itself).
    let mut long_posts: Vec<(String, String, Vec<String>)> = Vec::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(fixture("real-feeds"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let mut corpus_items: Vec<(String, String, Option<String>, String)> = Vec::new();
    let mut story_of_text: HashMap<String, String> = HashMap::new();
    let mut same_story: HashMap<String, String> = HashMap::new();
    for path in files {
        let name = format!("corpus-{}", path.file_name().unwrap().to_string_lossy());
        let served = format!("/corpus/{}", path.file_name().unwrap().to_string_lossy());
        let bytes = std::fs::read(&path).unwrap();
        let Ok(parsed) = gleaner::feed::parse(&bytes, None, Some(&format!("{base}{served}")))
        else {
            continue;
        };
        if parsed.entries.is_empty() {
            continue;
        }
        let canonical: Vec<Option<String>> = parsed
            .entries
            .iter()
            .map(|e| {
                e.link
                    .as_deref()
                    .and_then(|l| gleaner::dedup::canonical_url(l, &tracking))
            })
            .collect();
        for (i, entry) in parsed.entries.iter().enumerate() {
            // A link shared by several items of a feed (a day's page, the home page) names no
            // one post.
            let url = canonical[i].clone().filter(|u| {
                canonical.iter().filter(|c| c.as_ref() == Some(u)).count() == 1
                    && !gleaner::dedup::is_front_page(u)
            });
            let story = url
                .clone()
                .or_else(|| entry.guid.as_ref().map(|g| format!("{name}#{g}")))
                .unwrap_or_else(|| format!("{name}#{i}"));
            let rendered = gleaner::render::render_entry(entry, None, chrono::Utc::now());
            let text = format!("{}\n{}", rendered.title, rendered.body);
            if let Some(first) = story_of_text.get(&text)
                && *first != story
            {
                same_story.insert(story.clone(), first.clone());
            } else {
                story_of_text.insert(text, story.clone());
            }
            if let Some(key) = entry.link.clone().or_else(|| entry.guid.clone()) {
                corpus_items.push((name.clone(), key, url, story));
            }
            if let Some(link) = entry.link.as_deref().filter(|l| l.starts_with("http"))
                && rendered.body.len() > 1500
                && long_posts.iter().all(|(_, l, _)| l != link)
            {
                let paragraphs = rendered.body.split("\n\n").map(str::to_owned).collect();
                long_posts.push((rendered.title.clone(), link.to_owned(), paragraphs));
            }
        }
        feeds.push(Feed {
            name,
            path: served,
            body: bytes,
        });
    }
    let root = |story: &String| {
        let mut story = story.clone();
        while let Some(next) = same_story.get(&story) {
            story = next.clone();
        }
        story
    };
    for (name, key, url, story) in corpus_items {
        labels.insert(
            (name, key),
            Label {
                story: format!("corpus:{}", root(&story)),
                kind: Kind::Corpus,
                url,
            },
        );
    }

    let mut template_items = Vec::new();
    for (n, (title, paragraphs)) in templated().into_iter().enumerate() {
        let link = format!("https://desk.example/stories/{n}");
        labels.insert(
            ("templates".to_owned(), link.clone()),
            Label {
                story: format!("template:{n}"),
                kind: Kind::Template,
                url: None,
            },
        );
        template_items.push(Item {
            guid: format!("desk-{n}"),
            link,
            title,
            paragraphs,
        });
    }
    feeds.push(Feed {
        name: "templates".into(),
        path: "/templates.xml".into(),
        body: rss("Desk", "https://desk.example/", &template_items),
    });

    for (feed, variants) in [
        ("wire", [Variant::Copy, Variant::Dateline]),
        ("aggregator", [Variant::Footer, Variant::Trim]),
        ("copydesk", [Variant::Copyedit, Variant::Mixed]),
    ] {
        let mut items = Vec::new();
        for (n, (id, _, title, paragraphs)) in articles.iter().enumerate() {
            for variant in variants {
                let link = format!("https://{feed}.example/{n}/{variant:?}").to_lowercase();
                labels.insert(
                    (feed.to_owned(), link.clone()),
                    Label {
                        story: format!("article:{id}"),
                        kind: Kind::Copy(variant),
                        url: None,
                    },
                );
                items.push(Item {
                    guid: format!("{feed}-{n}-{variant:?}"),
                    link,
                    title: format!("{title} | {feed}"),
                    paragraphs: make_variant(paragraphs, variant, n as u64 * 31 + variant as u64),
                });
            }
        }
        feeds.push(Feed {
            name: feed.into(),
            path: format!("/{feed}.xml"),
            body: rss(feed, &format!("https://{feed}.example/"), &items),
        });
    }

    let mut planet = Vec::new();
    for (n, (title, link, paragraphs)) in long_posts.iter().take(60).enumerate() {
        let url = gleaner::dedup::canonical_url(link, &tracking).unwrap();
        let story = format!("corpus:{}", root(&url));
        let (link, kind, paragraphs) = if n % 2 == 0 {
            let sep = if link.contains('?') { '&' } else { '?' };
            let moved = format!(
                "{}{sep}utm_source=planet",
                link.replacen("https://", "http://", 1)
            );
            (moved, Kind::PlanetLink, paragraphs.clone())
        } else {
            (
                format!("https://planet.example/{n}"),
                Kind::PlanetCopy,
                footer(paragraphs),
            )
        };
        let url = (kind == Kind::PlanetLink).then_some(url);
        labels.insert(
            ("planet".to_owned(), link.clone()),
            Label { story, kind, url },
        );
        planet.push(Item {
            guid: format!("planet-{n}"),
            link,
            title: title.clone(),
            paragraphs,
        });
    }
    feeds.push(Feed {
        name: "planet".into(),
        path: "/planet.xml".into(),
        body: rss("Planet", "https://planet.example/", &planet),
    });

    LabelledSet { feeds, labels }
}

/// One stored article, as far as the scoring cares.
#[derive(Debug, Clone, Default)]
pub struct Scored {
    /// The labels of all its entries.
    pub labels: BTreeSet<Label>,
    /// The index of the article it was linked to as a near-duplicate.
    pub duplicate_of: Option<usize>,
    /// Whether it has a fingerprint (a body long enough to compare).
    pub fingerprinted: bool,
}

/// What a deduplicator made of the set.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Score {
    pub articles: usize,
    /// Articles holding entries of different stories: must be zero.
    pub false_merges: usize,
    /// Canonical links that must be one article but were stored as several.
    pub split_stories: usize,
    pub split_examples: Vec<String>,
    pub links: usize,
    pub true_links: usize,
    /// Articles that have an earlier article of their story they are not the same article as.
    pub should_link: usize,
    /// Of those, the ones linked to an article of their story.
    pub linked: usize,
    /// The same two counts, only for articles whose earlier same-story article both have
    /// fingerprints (what SimHash can see at all).
    pub should_link_comparable: usize,
    pub linked_comparable: usize,
    /// (should, linked) by kind.
    pub by_kind: std::collections::BTreeMap<String, (usize, usize)>,
}

impl Score {
    pub fn precision(&self) -> f64 {
        if self.links == 0 {
            1.0
        } else {
            self.true_links as f64 / self.links as f64
        }
    }

    pub fn recall(&self) -> f64 {
        ratio(self.linked, self.should_link)
    }

    pub fn recall_comparable(&self) -> f64 {
        ratio(self.linked_comparable, self.should_link_comparable)
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 1.0 } else { a as f64 / b as f64 }
}

/// Scores articles given in the order they were stored.
pub fn score(articles: &[Scored]) -> Score {
    let stories =
        |a: &Scored| -> BTreeSet<String> { a.labels.iter().map(|l| l.story.clone()).collect() };
    let mut out = Score {
        articles: articles.len(),
        ..Score::default()
    };
    let mut exact_homes: HashMap<String, BTreeSet<usize>> = HashMap::new();
    let mut first_of: HashMap<String, usize> = HashMap::new();
    for (i, article) in articles.iter().enumerate() {
        let own = stories(article);
        if own.len() > 1 {
            out.false_merges += 1;
        }
        for label in article.labels.iter().filter(|l| l.kind.is_exact()) {
            if let Some(url) = &label.url {
                exact_homes.entry(url.clone()).or_default().insert(i);
            }
        }
        if let Some(target) = article.duplicate_of {
            out.links += 1;
            if !own.is_disjoint(&stories(&articles[target])) {
                out.true_links += 1;
            }
        }
        for story in &own {
            match first_of.get(story) {
                None => {
                    first_of.insert(story.clone(), i);
                }
                Some(&first) => {
                    out.should_link += 1;
                    let linked = article
                        .duplicate_of
                        .is_some_and(|t| stories(&articles[t]).contains(story));
                    out.linked += usize::from(linked);
                    if article.fingerprinted && articles[first].fingerprinted {
                        out.should_link_comparable += 1;
                        out.linked_comparable += usize::from(linked);
                    }
                    let kind = article
                        .labels
                        .iter()
                        .find(|l| &l.story == story)
                        .map_or("?".into(), |l| l.kind.name());
                    let entry = out.by_kind.entry(kind).or_default();
                    entry.0 += 1;
                    entry.1 += usize::from(linked);
                }
            }
        }
    }
    out.split_stories = exact_homes.values().filter(|homes| homes.len() > 1).count();
    out.split_examples = exact_homes
        .iter()
        .filter(|(_, homes)| homes.len() > 1)
        .map(|(url, _)| url.clone())
        .take(12)
        .collect();
    out
}

impl std::fmt::Display for Score {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} articles, {} false merges, {} split stories; {} near-duplicate links, {} right: \
             precision {:.3}, recall {:.3} ({}/{}), recall where both have fingerprints {:.3} ({}/{})",
            self.articles,
            self.false_merges,
            self.split_stories,
            self.links,
            self.true_links,
            self.precision(),
            self.recall(),
            self.linked,
            self.should_link,
            self.recall_comparable(),
            self.linked_comparable,
            self.should_link_comparable
        )?;
        for url in &self.split_examples {
            write!(f, "\n    split: {url}")?;
        }
        for (kind, (should, linked)) in &self.by_kind {
            write!(
                f,
                "\n    {kind:<12} {linked:>4}/{should:<4} {:.3}",
                ratio(*linked, *should)
            )?;
        }
        Ok(())
    }
}
