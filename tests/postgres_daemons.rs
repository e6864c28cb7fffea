//! Several `gleaner run` processes on one PostgreSQL database (a throwaway cluster,
//! tests/common/postgres.rs), the real binary, feeds on six loopback hosts: every feed is polled
//! once per interval by one process, each host by one process at a time within its per-host
//! limit, every article is stored once, and a killed process's sources are taken over once its
//! leases lapse.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use common::postgres::Cluster;
use common::{Daemon, Reply, Seen, TestServer, Workspace, rss, wait_for};
use tokio_postgres::NoTls;

const HOSTS: usize = 6;
const FEEDS_PER_HOST: usize = 50;
const FEEDS: usize = HOSTS * FEEDS_PER_HOST;
const INTERVAL: Duration = Duration::from_secs(10);
const LEASE: Duration = Duration::from_secs(3);
const PER_HOST: usize = 2;
const DATE: &str = "Fri, 03 Feb 2023 10:00:00 +0000";

/// Feed `n`: two stories of its own and one every feed carries (the same link and text).
fn feed(n: usize) -> Reply {
    let own = |i: usize| {
        (
            format!("feed{n}-{i}"),
            format!("https://news.example/{n}/{i}"),
            format!("Story {i} of feed {n}"),
            format!("<p>Feed {n} tells story {i}, in words of its own: {n} {i}.</p>"),
        )
    };
    let (a, b) = (own(1), own(2));
    Reply::Slow(
        // Slow enough that a host's requests overlap when they can.
        Duration::from_millis(20),
        Box::new(Reply::feed(rss(&[
            (&a.0, &a.1, &a.2, DATE, &a.3),
            (&b.0, &b.1, &b.2, DATE, &b.3),
            (
                &format!("shared-{n}"),
                "https://news.example/shared",
                "The story everyone carries",
                DATE,
                "<p>Everyone carries this story, word for word.</p>",
            ),
        ]))),
    )
}

/// Which process made a request: its user agent names it.
fn process_of(seen: &Seen) -> String {
    seen.headers["user-agent"]
        .split('/')
        .next()
        .unwrap()
        .to_owned()
}

#[test]
fn three_daemons_share_the_sources_and_take_over_a_killed_ones() {
    let cluster = Cluster::shared();
    let url = cluster.database_url();
    // Six hosts as far as gleaner can tell: 127.0.0.1 to 127.0.0.6.
    let servers: Vec<TestServer> = (1..=HOSTS)
        .map(|i| TestServer::start_at(&format!("127.0.0.{i}")))
        .collect();
    let mut sources = String::new();
    let mut feed_of = BTreeMap::new();
    for (h, server) in servers.iter().enumerate() {
        for f in 0..FEEDS_PER_HOST {
            let n = h * FEEDS_PER_HOST + f;
            let path = format!("/feed/{n}.xml");
            server.route(&path, feed(n));
            sources.push_str(&format!("\n[[sources]]\nurl = \"{}\"\n", server.url(&path)));
            feed_of.insert((h, path), n);
        }
    }
    // One configuration each, alike but for the user agent that tells their requests apart.
    let ws = Workspace::new();
    let config = |name: &str| {
        let path = ws.path(&format!("{name}.toml"));
        std::fs::write(
            &path,
            format!(
                "database = \"{url}\"\nuser_agent = \"{name}/1.0 (+https://example.org/test)\"\n\
                 concurrency = 8\nper_host = {PER_HOST}\nhost_delay = \"0s\"\n\
                 interval = \"10s\"\nmin_interval = \"10s\"\nmax_interval = \"10s\"\n\
                 source_lease = \"3s\"\nfull_text = \"never\"\n{sources}"
            ),
        )
        .unwrap();
        path
    };
    let mut daemons: BTreeMap<&str, Daemon> = ["alpha", "bravo", "charlie"]
        .into_iter()
        .map(|name| (name, Daemon::start_on(&config(name), |_| {})))
        .collect();

    // Every feed's requests, as (when, by which process), over all hosts.
    let requests = || {
        let mut by_feed: BTreeMap<usize, Vec<(Instant, String)>> = BTreeMap::new();
        for (h, server) in servers.iter().enumerate() {
            for seen in server.all_seen() {
                let n = feed_of[&(h, seen.path.clone())];
                by_feed
                    .entry(n)
                    .or_default()
                    .push((seen.at, process_of(&seen)));
            }
        }
        for polls in by_feed.values_mut() {
            polls.sort();
        }
        by_feed
    };
    let logs = |daemons: &BTreeMap<&str, Daemon>| {
        daemons
            .iter()
            .map(|(name, d)| format!("--- {name}\n{}", d.log()))
            .collect::<String>()
    };
    let polled_at_least = |times: usize| {
        let by_feed = requests();
        by_feed.len() == FEEDS && by_feed.values().all(|polls| polls.len() >= times)
    };
    let began = Instant::now();
    wait_for(Duration::from_secs(60), "every feed polled once", || {
        polled_at_least(1)
    });
    let first_pass = began.elapsed();
    eprintln!("{}", logs(&daemons));
    wait_for(Duration::from_secs(60), "every feed polled twice", || {
        polled_at_least(2)
    });

    // Once per interval, by one process: no feed polled again within half an interval. (A poll
    // is planned from when it began, and it may then wait for its host's slot, so the next
    // request can come a little before a full interval; a source two processes polled would
    // show a gap of a fraction of a second.) Each process has a share, each host one process.
    let by_feed = requests();
    for (n, polls) in &by_feed {
        for pair in polls.windows(2) {
            let gap = pair[1].0 - pair[0].0;
            assert!(
                gap >= INTERVAL / 2,
                "feed {n} polled again after {gap:?} (by {} then {})\n{}",
                pair[0].1,
                pair[1].1,
                logs(&daemons)
            );
        }
    }
    let mut hosts_of: BTreeMap<String, BTreeSet<usize>> = BTreeMap::new();
    for (n, polls) in &by_feed {
        for (_, process) in polls {
            hosts_of
                .entry(process.clone())
                .or_default()
                .insert(n / FEEDS_PER_HOST);
        }
    }
    assert_eq!(
        hosts_of.len(),
        3,
        "every process polls some hosts: {hosts_of:?}"
    );
    for server in &servers {
        assert!(
            server.max_in_flight() <= PER_HOST,
            "{} had {} requests in flight, per_host is {PER_HOST}",
            server.addr,
            server.max_in_flight()
        );
    }

    // Charlie dies without a word. Its feeds are polled by the others once its leases lapse:
    // within the lease and an interval (the feeds' next polls) and a few ticks.
    let charlie_pid = daemons["charlie"].child.id();
    let killed_at = {
        let mut charlie = daemons.remove("charlie").unwrap();
        charlie.kill();
        Instant::now()
    };
    let charlies: Vec<usize> = requests()
        .iter()
        .filter(|(_, polls)| polls.last().is_some_and(|p| p.1 == "charlie"))
        .map(|(n, _)| *n)
        .collect();
    assert!(!charlies.is_empty(), "charlie polled the last time of some");
    wait_for(
        INTERVAL + LEASE + Duration::from_secs(15),
        "charlie's feeds taken over",
        || {
            let by_feed = requests();
            charlies.iter().all(|n| {
                by_feed[n]
                    .iter()
                    .any(|(at, process)| *at > killed_at && process != "charlie")
            })
        },
    );
    let takeover = killed_at.elapsed();

    for daemon in daemons.values() {
        daemon.signal("TERM");
    }
    for (name, daemon) in std::mem::take(&mut daemons) {
        let (status, log) = daemon.wait(Duration::from_secs(20));
        assert!(status.success(), "{name} did not stop cleanly:\n{log}");
    }

    // Every article once: two of each feed's own and the one they all carry; every entry.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let charlies_leases = format!("% pid {charlie_pid} since %");
    let (articles, entries, shared_entries, leased) = runtime.block_on(async {
        let (client, connection) = tokio_postgres::connect(&url, NoTls).await.unwrap();
        tokio::spawn(connection);
        let one = |sql: &'static str| {
            let client = &client;
            async move { client.query_one(sql, &[]).await.unwrap().get::<_, i64>(0) }
        };
        (
            one("SELECT count(*) FROM articles").await,
            one("SELECT count(*) FROM entries").await,
            one(
                "SELECT count(*) FROM entries e JOIN articles a ON a.id = e.article_id
                 WHERE a.url = 'https://news.example/shared'",
            )
            .await,
            client
                .query_one(
                    "SELECT (SELECT count(*) FROM sources WHERE leased_by NOT LIKE $1)
                          + (SELECT count(*) FROM host_leases WHERE leased_by NOT LIKE $1)",
                    &[&charlies_leases],
                )
                .await
                .unwrap()
                .get::<_, i64>(0),
        )
    });
    assert_eq!(articles as usize, 2 * FEEDS + 1);
    assert_eq!(entries as usize, 3 * FEEDS);
    assert_eq!(shared_entries as usize, FEEDS);
    assert_eq!(
        leased, 0,
        "the processes stopped cleanly hand their leases back"
    );
    eprintln!("first pass {first_pass:?}, takeover {takeover:?}, hosts by process {hosts_of:?}");
}
