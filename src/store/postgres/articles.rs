//! Filing the items of a parsed document in PostgreSQL, by the rules of `store::articles`
//! (repeats, edits through [`edit::decide`], entries re-keyed when a guid moved, tombstones of
//! retention, new articles linked to their nearest earlier near-duplicate), and retention.
//!
//! Unlike SQLite's writer, no fingerprints are held in memory: candidates come from the band
//! expression indexes (`articles_simhash_0..3`), then the exact distance is computed here. The
//! database is the one truth when several processes write. One difference follows: SQLite's
//! in-memory index keeps the fingerprint an article had when it was indexed (a revised article
//! stays findable by its old text until the writer restarts), here an article is found by its
//! current fingerprint only. The comparison window is an id range (`first_recent_article`): ids
//! grow with `first_seen_at` while one process writes; with several (leases, later) an id is
//! taken before its commit, so the window's first id may be a little off.

use std::collections::{HashMap, HashSet};
use std::ops::Range;

use chrono::{DateTime, Utc};
use tokio_postgres::types::ToSql;

use crate::dedup::edit::{self, Edit};
use crate::dedup::simhash::{self, MAX_CANDIDATES, MAX_EXAMINED_PER_BUCKET};
use crate::dedup::{self, Identity, Item, NearDuplicates};
use crate::record::PageRecord;
use crate::store::filing::{Change, Entry, Filed, stored};
use crate::store::{StoreError, timestamp};

use super::{Conn, Db, clean, clean_opt, pages};

fn entry_of(r: &tokio_postgres::Row) -> Entry {
    Entry {
        id: r.get(0),
        article_id: r.get(1),
        content_hash: r.get(2),
    }
}

/// Files every item of one parsed document of source `source_id`, with their pages.
pub(super) async fn file_items(
    tx: &Db<'_>,
    source_id: i64,
    items: &[Item],
    pages: &[PageRecord],
    now: DateTime<Utc>,
    near: &NearDuplicates,
) -> Result<Filed, StoreError> {
    let page_of: HashMap<usize, &PageRecord> = pages.iter().map(|p| (p.item, p)).collect();
    let now_text = timestamp(now);
    let mut filed = Filed::default();
    let current: HashSet<String> = items
        .iter()
        .map(|i| clean(&i.identity.as_stored()).into_owned())
        .collect();
    let find_entry = "SELECT id, article_id, content_hash FROM entries
             WHERE source_id = $1 AND identity = $2";
    let touch_entry = "UPDATE entries SET last_seen_at = $2 WHERE id = $1";
    let mut earlier = Earlier {
        window_start: None,
        now,
        near,
    };
    for (index, item) in items.iter().enumerate() {
        let page = page_of.get(&index).copied();
        // PostgreSQL's form of the identity, for every write and lookup alike.
        let identity = clean(&item.identity.as_stored()).into_owned();
        let mut known: Option<Entry> = tx
            .query_opt(find_entry, &[&source_id, &identity])
            .await?
            .as_ref()
            .map(entry_of);
        let mut same_url: Option<i64> = None;
        if known.is_none() {
            if let Some(url) = &item.canonical_url {
                same_url = tx
                    .query_opt(
                        "SELECT id FROM articles WHERE canonical_url = $1",
                        &[&clean(url)],
                    )
                    .await?
                    .map(|r| r.get(0));
            }
            if let Some(article_id) = same_url {
                known = rekey_moved_entry(tx, source_id, article_id, item, &identity, &current)
                    .await?
                    .map(|(entry, unstable)| {
                        filed.unstable_guids = unstable.or(filed.unstable_guids.take());
                        entry
                    });
            }
        }
        match known {
            Some(entry) if entry.content_hash == item.content_hash && page.is_none() => {
                tx.execute(touch_entry, &[&entry.id, &now_text]).await?;
            }
            Some(entry) => {
                let change =
                    update_article(tx, entry.article_id, item, page, true, &now_text).await?;
                earlier
                    .settle(&mut filed, tx, change, entry.article_id, item, &now_text)
                    .await?;
                tx.execute(
                    "UPDATE entries SET content_hash = $2, last_seen_at = $3, link = $4
                     WHERE id = $1",
                    &[
                        &entry.id,
                        &item.content_hash,
                        &now_text,
                        &clean_opt(item.rendered.link.as_deref()),
                    ],
                )
                .await?;
                if let Some(page) = page {
                    pages::record(
                        tx,
                        source_id,
                        entry.article_id,
                        page,
                        stored(page, change),
                        true,
                    )
                    .await?;
                }
            }
            None => {
                if was_removed(tx, source_id, &identity, item).await? {
                    filed.removed += 1;
                    continue;
                }
                let (article_id, created) = match same_url {
                    Some(id) => (id, false),
                    None => find_or_create_article(tx, item, page, &now_text).await?,
                };
                let change = if created {
                    Change::Created
                } else {
                    let change =
                        update_article(tx, article_id, item, page, false, &now_text).await?;
                    earlier
                        .settle(&mut filed, tx, change, article_id, item, &now_text)
                        .await?;
                    change
                };
                if let Some(page) = page {
                    pages::record(tx, source_id, article_id, page, stored(page, change), false)
                        .await?;
                }
                if created {
                    filed.full_text +=
                        u64::from(page.is_some_and(|p| p.outcome.feed_body().is_some()));
                    earlier
                        .settle(&mut filed, tx, change, article_id, item, &now_text)
                        .await?;
                }
                tx.execute(
                    "INSERT INTO entries (source_id, article_id, identity, guid, link, content_hash,
                                          first_seen_at, last_seen_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
                    &[
                        &source_id,
                        &article_id,
                        &identity,
                        &clean_opt(item.rendered.guid.as_deref()),
                        &clean_opt(item.rendered.link.as_deref()),
                        &item.content_hash,
                        &now_text,
                    ],
                )
                .await?;
            }
        }
    }
    Ok(filed)
}

/// As `store::articles::rekey_moved_entry`: an item this source gave before under another
/// identity takes its new one, unless its old identity is still in the document.
async fn rekey_moved_entry(
    tx: &Db<'_>,
    source_id: i64,
    article_id: i64,
    item: &Item,
    identity: &str,
    current: &HashSet<String>,
) -> Result<Option<(Entry, Option<String>)>, StoreError> {
    let found = tx
        .query_opt(
            "SELECT id, article_id, content_hash, identity FROM entries
             WHERE article_id = $1 AND source_id = $2 LIMIT 1",
            &[&article_id, &source_id],
        )
        .await?
        .map(|r| (entry_of(&r), r.get::<_, String>(3)));
    let Some((entry, old_identity)) = found.filter(|(_, old)| !current.contains(old)) else {
        return Ok(None);
    };
    tx.execute(
        "UPDATE entries SET identity = $2, guid = $3, link = $4 WHERE id = $1",
        &[
            &entry.id,
            &identity,
            &clean_opt(item.rendered.guid.as_deref()),
            &clean_opt(item.rendered.link.as_deref()),
        ],
    )
    .await?;
    let unstable = match (Identity::from_stored(&old_identity), &item.identity) {
        (Some(Identity::Guid(old)), Identity::Guid(new)) => Some(format!(
            "the guid of {} changed from {old:?} to {new:?}",
            item.canonical_url.as_deref().unwrap_or_default(),
        )),
        _ => None,
    };
    Ok(Some((entry, unstable)))
}

/// Whether retention removed this item's article.
async fn was_removed(
    tx: &Db<'_>,
    source_id: i64,
    identity: &str,
    item: &Item,
) -> Result<bool, StoreError> {
    Ok(tx
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM removed_entries WHERE source_id = $1 AND identity = $2)
                 OR EXISTS (SELECT 1 FROM removed_articles WHERE key = $3)
                 OR EXISTS (SELECT 1 FROM removed_articles WHERE canonical_url = $4)",
            &[
                &source_id,
                &identity,
                &item.key,
                &clean_opt(item.canonical_url.as_deref()),
            ],
        )
        .await?
        .get(0))
}

/// The article with the item's key, or a new one. Returns its id and whether it was created.
async fn find_or_create_article(
    tx: &Db<'_>,
    item: &Item,
    page: Option<&PageRecord>,
    now: &str,
) -> Result<(i64, bool), StoreError> {
    let r = &item.rendered;
    let feed_body = page.and_then(|p| p.outcome.feed_body());
    let params: [&(dyn ToSql + Sync); 12] = [
        &item.key,
        &clean_opt(r.link.as_deref()),
        &clean_opt(item.canonical_url.as_deref()),
        &clean(&r.title),
        &r.published_at.map(timestamp),
        &r.date,
        &clean(&r.body),
        &clean(&r.document),
        &item.content_hash,
        &now,
        &item.simhash.map(simhash::to_stored),
        &clean_opt(feed_body),
    ];
    let inserted = tx
        .query_opt(
            "INSERT INTO articles (key, url, canonical_url, title, published_at, date, body,
                                   document, content_hash, first_seen_at, updated_at, simhash,
                                   body_origin, feed_body)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11,
                     CASE WHEN $12::text IS NULL THEN 'feed' ELSE 'page' END, $12)
             ON CONFLICT (key) DO NOTHING
             RETURNING id",
            &params,
        )
        .await?;
    match inserted {
        Some(row) => Ok((row.get(0), true)),
        // The same identity reached through another source (same content, no link).
        None => Ok((
            tx.query_one("SELECT id FROM articles WHERE key = $1", &[&item.key])
                .await?
                .get(0),
            false,
        )),
    }
}

/// The id from which articles are recent enough to compare: ids grow with `first_seen_at`.
async fn first_recent_article(
    tx: &Db<'_>,
    now: DateTime<Utc>,
    near: &NearDuplicates,
) -> Result<i64, StoreError> {
    let since = chrono::Duration::from_std(near.window)
        .ok()
        .and_then(|w| now.checked_sub_signed(w))
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    let id: Option<i64> = tx
        .query_opt(
            "SELECT id FROM articles WHERE first_seen_at >= $1 ORDER BY first_seen_at, id LIMIT 1",
            &[&timestamp(since)],
        )
        .await?
        .map(|r| r.get(0));
    Ok(id.unwrap_or(i64::MAX))
}

/// The near-duplicate candidates of a fingerprint, in one statement: for each band, each value
/// within the probe radius of the fingerprint's own ($1..$4, one array a band), the newest
/// [`MAX_EXAMINED_PER_BUCKET`] articles of that bucket within the id range ($5..$6), as SQLite's
/// `BandIndex` examines them. Each band is written exactly as its expression index
/// (`articles_simhash_N`) so that each bucket is one backward index-only scan. One round trip
/// an article: at the default distance (7: radius 1, 17 values a band) a query per bucket made
/// 68 round trips and plans an article, some 10 ms.
const CANDIDATES: &str = "
    SELECT c.id, c.simhash FROM unnest($1::bigint[]) v (value) CROSS JOIN LATERAL (
        SELECT id, simhash FROM articles WHERE simhash IS NOT NULL
           AND ((simhash >> 48) & 65535) = v.value AND id >= $5 AND id < $6
         ORDER BY ((simhash >> 48) & 65535) DESC, id DESC LIMIT $7) c
    UNION ALL
    SELECT c.id, c.simhash FROM unnest($2::bigint[]) v (value) CROSS JOIN LATERAL (
        SELECT id, simhash FROM articles WHERE simhash IS NOT NULL
           AND ((simhash >> 32) & 65535) = v.value AND id >= $5 AND id < $6
         ORDER BY ((simhash >> 32) & 65535) DESC, id DESC LIMIT $7) c
    UNION ALL
    SELECT c.id, c.simhash FROM unnest($3::bigint[]) v (value) CROSS JOIN LATERAL (
        SELECT id, simhash FROM articles WHERE simhash IS NOT NULL
           AND ((simhash >> 16) & 65535) = v.value AND id >= $5 AND id < $6
         ORDER BY ((simhash >> 16) & 65535) DESC, id DESC LIMIT $7) c
    UNION ALL
    SELECT c.id, c.simhash FROM unnest($4::bigint[]) v (value) CROSS JOIN LATERAL (
        SELECT id, simhash FROM articles WHERE simhash IS NOT NULL
           AND (simhash & 65535) = v.value AND id >= $5 AND id < $6
         ORDER BY (simhash & 65535) DESC, id DESC LIMIT $7) c";

/// The articles with an id in `ids` whose fingerprint is within `max_distance` bits of `hash`:
/// (distance, id), nearest first and then earliest, [`MAX_CANDIDATES`] at most.
async fn candidates(
    tx: &Db<'_>,
    hash: u64,
    max_distance: u32,
    ids: Range<i64>,
) -> Result<Vec<(u32, i64)>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let radius = simhash::probe_radius(max_distance);
    let values: Vec<Vec<i64>> = (0..4)
        .map(|b| {
            simhash::band_neighbours(simhash::band(hash, b), radius)
                .into_iter()
                .map(i64::from)
                .collect()
        })
        .collect();
    let limit = MAX_EXAMINED_PER_BUCKET as i64;
    let rows = tx
        .query(
            CANDIDATES,
            &[
                &values[0], &values[1], &values[2], &values[3], &ids.start, &ids.end, &limit,
            ],
        )
        .await?;
    let mut found: Vec<(u32, i64)> = rows
        .iter()
        .filter_map(|row| {
            let (id, other): (i64, i64) = (row.get(0), row.get(1));
            let bits = simhash::distance(hash, simhash::from_stored(other));
            (bits <= max_distance).then_some((bits, id))
        })
        .collect();
    found.sort_unstable();
    found.dedup();
    found.truncate(MAX_CANDIDATES);
    Ok(found)
}

/// What comparing an article with the earlier ones needs: the first id recent enough (looked up
/// once per document).
struct Earlier<'a> {
    window_start: Option<i64>,
    now: DateTime<Utc>,
    near: &'a NearDuplicates,
}

async fn is_linked(tx: &Db<'_>, article_id: i64) -> Result<bool, StoreError> {
    Ok(tx
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM duplicates WHERE article_id = $1)",
            &[&article_id],
        )
        .await?
        .get(0))
}

impl Earlier<'_> {
    /// Links `article_id` to its nearest earlier near-duplicate, unless it is linked already.
    async fn link(
        &mut self,
        tx: &Db<'_>,
        article_id: i64,
        hash: u64,
        body: &str,
        now_text: &str,
    ) -> Result<bool, StoreError> {
        if is_linked(tx, article_id).await? {
            return Ok(false);
        }
        let start = match self.window_start {
            Some(id) => id,
            None => *self
                .window_start
                .insert(first_recent_article(tx, self.now, self.near).await?),
        };
        let found = candidates(tx, hash, self.near.max_distance, start..article_id).await?;
        link_near_duplicate(tx, article_id, body, &found, now_text).await
    }

    /// Links to `article_id` (a teaser that just got its page's text) the nearest later
    /// near-duplicate linked to nothing: it arrived while `article_id` was too short to compare.
    async fn link_later(
        &self,
        tx: &Db<'_>,
        article_id: i64,
        hash: u64,
        body: &str,
        now_text: &str,
    ) -> Result<bool, StoreError> {
        let found = candidates(tx, hash, self.near.max_distance, article_id + 1..i64::MAX).await?;
        for (distance, later) in found {
            if is_linked(tx, later).await? {
                continue;
            }
            if link_near_duplicate(tx, later, body, &[(distance, article_id)], now_text).await? {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

/// Links a new article to the nearest of `candidates` whose body confirms it a near-duplicate
/// ([`dedup::confirms_near_duplicate`]).
async fn link_near_duplicate(
    tx: &Db<'_>,
    article_id: i64,
    body: &str,
    candidates: &[(u32, i64)],
    now: &str,
) -> Result<bool, StoreError> {
    for &(distance, id) in candidates {
        let Some(row) = tx
            .query_opt("SELECT body FROM articles WHERE id = $1", &[&id])
            .await?
        else {
            continue;
        };
        if !dedup::confirms_near_duplicate(body, row.get::<_, &str>(0)) {
            continue;
        }
        tx.execute(
            "INSERT INTO duplicates (article_id, duplicate_of, method, distance, found_at)
             VALUES ($1, $2, 'simhash', $3, $4)",
            &[&article_id, &id, &i64::from(distance), &now],
        )
        .await?;
        return Ok(true);
    }
    Ok(false)
}

impl Earlier<'_> {
    /// Counts what filing an item changed in `article_id`; an article whose text is new to the
    /// comparison is linked to its nearest earlier near-duplicate.
    async fn settle(
        &mut self,
        filed: &mut Filed,
        tx: &Db<'_>,
        change: Change,
        article_id: i64,
        item: &Item,
        now_text: &str,
    ) -> Result<(), StoreError> {
        if !filed.count(change) {
            return Ok(());
        }
        if let Some(hash) = item.simhash {
            let body = &item.rendered.body;
            if self.link(tx, article_id, hash, body, now_text).await?
                || (change == Change::Switched
                    && self
                        .link_later(tx, article_id, hash, body, now_text)
                        .await?)
            {
                filed.near_duplicates += 1;
            }
        }
        Ok(())
    }
}

/// Applies an item (with its page) to its existing article, as [`edit::decide`] says.
async fn update_article(
    tx: &Db<'_>,
    article_id: i64,
    item: &Item,
    page: Option<&PageRecord>,
    own: bool,
    now: &str,
) -> Result<Change, StoreError> {
    let row = tx
        .query_one(
            "SELECT content_hash, revision, title, body, document, date, body_origin = 'page',
                    simhash
             FROM articles WHERE id = $1",
            &[&article_id],
        )
        .await?;
    let (content_hash, revision, title, body, document, date, from_page, fingerprint): (
        &str,
        i64,
        &str,
        &str,
        &str,
        &str,
        bool,
        Option<i64>,
    ) = (
        row.get(0),
        row.get(1),
        row.get(2),
        row.get(3),
        row.get(4),
        row.get(5),
        row.get(6),
        row.get(7),
    );
    let article = edit::Article {
        title,
        body,
        date,
        content_hash,
        from_page,
        fingerprint: fingerprint.map(simhash::from_stored),
    };
    let incoming = edit::Incoming {
        item,
        feed_body: page.and_then(|p| p.outcome.feed_body()),
        own,
    };
    let (change, text) = match edit::decide(&article, &incoming) {
        Edit::Nothing => return Ok(Change::None),
        Edit::FeedBodyOnly(feed_body) => {
            tx.execute(
                "UPDATE articles SET feed_body = $2 WHERE id = $1",
                &[&article_id, &clean(feed_body)],
            )
            .await?;
            return Ok(Change::None);
        }
        Edit::Switch(text) => (Change::Switched, text),
        Edit::Revise(text) => {
            tx.execute(
                "INSERT INTO article_revisions (article_id, revision, title, document, replaced_at)
                 VALUES ($1, $2, $3, $4, $5)",
                &[&article_id, &revision, &title, &document, &now],
            )
            .await?;
            (Change::Revised, text)
        }
    };
    let params: [&(dyn ToSql + Sync); 11] = [
        &article_id,
        &clean(text.title),
        &text.published_at.map(timestamp),
        &text.date,
        &clean(text.body),
        &clean(&text.document),
        &text.content_hash,
        &now,
        &i64::from(change == Change::Revised),
        &text.fingerprint.map(simhash::to_stored),
        &clean_opt(text.feed_body),
    ];
    tx.execute(
        "UPDATE articles SET title = $2, published_at = coalesce($3, published_at), date = $4,
                body = $5, document = $6, content_hash = $7, updated_at = $8,
                revision = revision + $9, simhash = $10,
                body_origin = CASE WHEN $11::text IS NULL THEN 'feed' ELSE 'page' END,
                feed_body = $11
         WHERE id = $1",
        &params,
    )
    .await?;
    Ok(change)
}

/// Articles removed in one transaction at most, so no transaction runs long.
const REMOVE_BATCH: i64 = 1_000;

/// As `store::articles::remove_old_articles`: removes articles dated before `before`, in short
/// transactions, remembering each so it is not stored again.
pub(super) async fn remove_old_articles(
    conn: &mut Conn,
    before: &str,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let now = timestamp(now);
    let mut removed = 0;
    loop {
        let tx = Db::begin(conn).await?;
        let doomed: Vec<i64> = tx
            .query(
                "SELECT id FROM articles WHERE date < $1 ORDER BY date LIMIT $2",
                &[&before, &REMOVE_BATCH],
            )
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
        if doomed.is_empty() {
            tx.commit().await?;
            break;
        }
        tx.execute(
            "INSERT INTO removed_articles (key, canonical_url, title, date, removed_at)
             SELECT key, canonical_url, title, date, $2 FROM articles WHERE id = ANY($1)
             ON CONFLICT (key) DO NOTHING",
            &[&doomed, &now],
        )
        .await?;
        tx.execute(
            "INSERT INTO removed_entries (source_id, identity, key)
             SELECT e.source_id, e.identity, a.key FROM entries e JOIN articles a ON a.id = e.article_id
             WHERE a.id = ANY($1)
             ON CONFLICT DO NOTHING",
            &[&doomed],
        )
        .await?;
        tx.execute("DELETE FROM articles WHERE id = ANY($1)", &[&doomed])
            .await?;
        tx.commit().await?;
        removed += doomed.len() as u64;
    }
    Ok(removed)
}
