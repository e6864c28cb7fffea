//! Filing the items of a parsed document. Each item is a repeat (nothing to do), an edit of a
//! known article (a new revision), a new entry of a known article (another source, or a guid
//! that changed under the same link), or a new article: unless retention removed it before,
//! and then linked to the nearest recent article whose body is a near-duplicate of its own.
//! Also retention itself: removing old articles and remembering them.
//!
//! Near-duplicate candidates come from a [`BandIndex`] of recent fingerprints that the writer
//! keeps in memory ([`load_recent_fingerprints`]); the article rows stay the truth.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use super::filing::{Change, Entry, Filed, stored};
use super::pages;
use super::{StoreError, timestamp};
use crate::dedup::edit::{self, Edit};
use crate::dedup::simhash::{self, BandIndex};
use crate::dedup::{self, Identity, Item, NearDuplicates};
use crate::record::PageRecord;

/// Files every item of one parsed document of source `source_id`, with what fetching their
/// pages came to (`pages`, by item). New fingerprints are added to `recent`, which must hold
/// those of the recent articles of `tx`.
pub(super) fn file_items(
    tx: &Connection,
    source_id: i64,
    items: &[Item],
    pages: &[PageRecord],
    now: DateTime<Utc>,
    near: &NearDuplicates,
    recent: &mut BandIndex,
) -> Result<Filed, StoreError> {
    let page_of: std::collections::HashMap<usize, &PageRecord> =
        pages.iter().map(|p| (p.item, p)).collect();
    let now_text = timestamp(now);
    let mut filed = Filed::default();
    let current: HashSet<String> = items.iter().map(|i| i.identity.as_stored()).collect();
    let mut find_entry = tx.prepare_cached(
        "SELECT id, article_id, content_hash FROM entries WHERE source_id = ?1 AND identity = ?2",
    )?;
    let mut touch_entry =
        tx.prepare_cached("UPDATE entries SET last_seen_at = ?2 WHERE id = ?1")?;
    let mut earlier = Earlier {
        window_start: None,
        now,
        near,
    };
    for (index, item) in items.iter().enumerate() {
        let page = page_of.get(&index).copied();
        let identity = item.identity.as_stored();
        let mut known: Option<Entry> = find_entry
            .query_row(params![source_id, identity], |r| {
                Ok(Entry {
                    id: r.get(0)?,
                    article_id: r.get(1)?,
                    content_hash: r.get(2)?,
                })
            })
            .optional()?;
        // The article of this item's canonical URL, looked up once for a new entry.
        let mut same_url: Option<i64> = None;
        if known.is_none() {
            if let Some(url) = &item.canonical_url {
                same_url = tx
                    .prepare_cached("SELECT id FROM articles WHERE canonical_url = ?1")?
                    .query_row([url], |r| r.get(0))
                    .optional()?;
            }
            if let Some(article_id) = same_url {
                known = rekey_moved_entry(tx, source_id, article_id, item, &identity, &current)?
                    .map(|(entry, unstable)| {
                        filed.unstable_guids = unstable.or(filed.unstable_guids.take());
                        entry
                    });
            }
        }
        match known {
            Some(entry) if entry.content_hash == item.content_hash && page.is_none() => {
                touch_entry.execute(params![entry.id, now_text])?;
            }
            Some(entry) => {
                let change = update_article(tx, entry.article_id, item, page, true, &now_text)?;
                earlier.settle(
                    &mut filed,
                    tx,
                    recent,
                    change,
                    entry.article_id,
                    item,
                    &now_text,
                )?;
                tx.prepare_cached(
                    "UPDATE entries SET content_hash = ?2, last_seen_at = ?3, link = ?4 WHERE id = ?1",
                )?
                .execute(params![entry.id, item.content_hash, now_text, item.rendered.link])?;
                if let Some(page) = page {
                    pages::record(
                        tx,
                        source_id,
                        entry.article_id,
                        page,
                        stored(page, change),
                        true,
                    )?;
                }
            }
            None => {
                if was_removed(tx, source_id, &identity, item)? {
                    filed.removed += 1;
                    continue;
                }
                let (article_id, created) = match same_url {
                    Some(id) => (id, false),
                    None => find_or_create_article(tx, item, page, &now_text)?,
                };
                let change = if created {
                    Change::Created
                } else {
                    let change = update_article(tx, article_id, item, page, false, &now_text)?;
                    earlier.settle(&mut filed, tx, recent, change, article_id, item, &now_text)?;
                    change
                };
                if let Some(page) = page {
                    pages::record(tx, source_id, article_id, page, stored(page, change), false)?;
                }
                if created {
                    filed.full_text +=
                        u64::from(page.is_some_and(|p| p.outcome.feed_body().is_some()));
                    earlier.settle(&mut filed, tx, recent, change, article_id, item, &now_text)?;
                }
                tx.prepare_cached(
                    "INSERT INTO entries (source_id, article_id, identity, guid, link, content_hash,
                                          first_seen_at, last_seen_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
                )?
                .execute(params![
                    source_id,
                    article_id,
                    identity,
                    item.rendered.guid,
                    item.rendered.link,
                    item.content_hash,
                    now_text
                ])?;
            }
        }
    }
    Ok(filed)
}

/// An item this source gave before under another identity (a guid that changed, or the source
/// switching from guids to links) is found through the article of its canonical link and takes
/// its new identity. An entry whose old identity is still in the document is another item and
/// is left alone. Returns the entry and, when a guid changed, why the guids are unstable.
fn rekey_moved_entry(
    tx: &Connection,
    source_id: i64,
    article_id: i64,
    item: &Item,
    identity: &str,
    current: &HashSet<String>,
) -> Result<Option<(Entry, Option<String>)>, StoreError> {
    let found: Option<(Entry, String)> = tx
        .prepare_cached(
            "SELECT id, article_id, content_hash, identity FROM entries
             WHERE article_id = ?1 AND source_id = ?2",
        )?
        .query_row(params![article_id, source_id], |r| {
            Ok((
                Entry {
                    id: r.get(0)?,
                    article_id: r.get(1)?,
                    content_hash: r.get(2)?,
                },
                r.get(3)?,
            ))
        })
        .optional()?;
    let Some((entry, old_identity)) = found.filter(|(_, old)| !current.contains(old)) else {
        return Ok(None);
    };
    tx.prepare_cached("UPDATE entries SET identity = ?2, guid = ?3, link = ?4 WHERE id = ?1")?
        .execute(params![
            entry.id,
            identity,
            item.rendered.guid,
            item.rendered.link
        ])?;
    let unstable = match (Identity::from_stored(&old_identity), &item.identity) {
        (Some(Identity::Guid(old)), Identity::Guid(new)) => Some(format!(
            "the guid of {} changed from {old:?} to {new:?}",
            item.canonical_url.as_deref().unwrap_or_default(),
        )),
        _ => None,
    };
    Ok(Some((entry, unstable)))
}

/// Whether retention removed this item's article: by this source's identity of it, by its key,
/// or by its canonical URL.
fn was_removed(
    tx: &Connection,
    source_id: i64,
    identity: &str,
    item: &Item,
) -> Result<bool, StoreError> {
    Ok(tx
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM removed_entries WHERE source_id = ?1 AND identity = ?2)
                 OR EXISTS (SELECT 1 FROM removed_articles WHERE key = ?3)
                 OR EXISTS (SELECT 1 FROM removed_articles WHERE canonical_url = ?4)",
        )?
        .query_row(
            params![source_id, identity, item.key, item.canonical_url],
            |r| r.get(0),
        )?)
}

/// The article of a new entry whose canonical URL no article has: the one with the same key,
/// or a new one. Returns its id and whether it was created.
fn find_or_create_article(
    tx: &Connection,
    item: &Item,
    page: Option<&PageRecord>,
    now: &str,
) -> Result<(i64, bool), StoreError> {
    let r = &item.rendered;
    let feed_body = page.and_then(|p| p.outcome.feed_body());
    let inserted: Option<i64> = tx
        .prepare_cached(
            "INSERT INTO articles (key, url, canonical_url, title, published_at, date, body,
                                   document, content_hash, first_seen_at, updated_at, simhash,
                                   body_origin, feed_body)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10, ?11,
                     CASE WHEN ?12 IS NULL THEN 'feed' ELSE 'page' END, ?12)
             ON CONFLICT (key) DO NOTHING
             RETURNING id",
        )?
        .query_row(
            params![
                item.key,
                r.link,
                item.canonical_url,
                r.title,
                r.published_at.map(timestamp),
                r.date,
                r.body,
                r.document,
                item.content_hash,
                now,
                item.simhash.map(simhash::to_stored),
                feed_body
            ],
            |row| row.get(0),
        )
        .optional()?;
    match inserted {
        Some(id) => Ok((id, true)),
        // The same identity reached through another source (same content, no link).
        None => Ok((
            tx.prepare_cached("SELECT id FROM articles WHERE key = ?1")?
                .query_row([&item.key], |row| row.get(0))?,
            false,
        )),
    }
}

/// The id from which articles are recent enough to compare: ids grow with `first_seen_at`.
fn first_recent_article(
    tx: &Connection,
    now: DateTime<Utc>,
    near: &NearDuplicates,
) -> Result<i64, StoreError> {
    let since = chrono::Duration::from_std(near.window)
        .ok()
        .and_then(|w| now.checked_sub_signed(w))
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    // Through the first_seen_at index: `min(id)` would walk every older article.
    let id: Option<i64> = tx
        .prepare_cached(
            "SELECT id FROM articles WHERE first_seen_at >= ?1 ORDER BY first_seen_at, id LIMIT 1",
        )?
        .query_row([timestamp(since)], |r| r.get(0))
        .optional()?;
    Ok(id.unwrap_or(i64::MAX))
}

/// The fingerprints of the articles recent enough to be compared with a new one.
pub(super) fn load_recent_fingerprints(
    conn: &Connection,
    now: DateTime<Utc>,
    near: &NearDuplicates,
) -> Result<BandIndex, StoreError> {
    let since = first_recent_article(conn, now, near)?;
    let mut index = BandIndex::default();
    let mut stmt = conn.prepare(
        "SELECT id, simhash FROM articles WHERE simhash IS NOT NULL AND id >= ?1 ORDER BY id",
    )?;
    let rows = stmt.query_map([since], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))?;
    for row in rows {
        let (id, stored) = row?;
        index.insert(id, simhash::from_stored(stored));
    }
    Ok(index)
}

/// What comparing an article with the earlier ones needs: the first id recent enough (looked up
/// once per document) and the fingerprints of recent articles.
struct Earlier<'a> {
    window_start: Option<i64>,
    now: DateTime<Utc>,
    near: &'a NearDuplicates,
}

impl Earlier<'_> {
    /// Links `article_id` (fingerprint `hash`) to its nearest earlier near-duplicate, unless it
    /// is linked already. Returns whether it was linked now.
    fn link(
        &mut self,
        tx: &Connection,
        recent: &BandIndex,
        article_id: i64,
        hash: u64,
        body: &str,
        now_text: &str,
    ) -> Result<bool, StoreError> {
        let linked: bool = tx
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM duplicates WHERE article_id = ?1)")?
            .query_row([article_id], |r| r.get(0))?;
        if linked {
            return Ok(false);
        }
        let start = match self.window_start {
            Some(id) => id,
            None => *self
                .window_start
                .insert(first_recent_article(tx, self.now, self.near)?),
        };
        let lookup = recent.within(hash, self.near.max_distance, start..article_id);
        link_near_duplicate(tx, article_id, body, &lookup.candidates, now_text)
    }

    /// Links to `article_id` (a teaser that just got its page's text, fingerprint `hash`) the
    /// nearest later article that is a near-duplicate of it and was linked to nothing: it
    /// arrived while `article_id` was too short to compare. Copies are always the later ones.
    fn link_later(
        &self,
        tx: &Connection,
        recent: &BandIndex,
        article_id: i64,
        hash: u64,
        body: &str,
        now_text: &str,
    ) -> Result<bool, StoreError> {
        let lookup = recent.within(hash, self.near.max_distance, article_id + 1..i64::MAX);
        let mut linked =
            tx.prepare_cached("SELECT EXISTS (SELECT 1 FROM duplicates WHERE article_id = ?1)")?;
        for &(distance, later) in &lookup.candidates {
            if linked.query_row([later], |r| r.get::<_, bool>(0))? {
                continue;
            }
            if link_near_duplicate(tx, later, body, &[(distance, article_id)], now_text)? {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

/// Links a new article to the nearest of `candidates` (distance, id: nearest first) whose body
/// confirms it a near-duplicate ([`dedup::confirms_near_duplicate`]).
fn link_near_duplicate(
    tx: &Connection,
    article_id: i64,
    body: &str,
    candidates: &[(u32, i64)],
    now: &str,
) -> Result<bool, StoreError> {
    let mut body_of = tx.prepare_cached("SELECT body FROM articles WHERE id = ?1")?;
    for &(distance, id) in candidates {
        let Some(other) = body_of
            .query_row([id], |r| r.get::<_, String>(0))
            .optional()?
        else {
            continue; // removed by retention since the index was loaded
        };
        if !dedup::confirms_near_duplicate(body, &other) {
            continue;
        }
        tx.prepare_cached(
            "INSERT INTO duplicates (article_id, duplicate_of, method, distance, found_at)
             VALUES (?1, ?2, 'simhash', ?3, ?4)",
        )?
        .execute(params![article_id, id, distance, now])?;
        return Ok(true);
    }
    Ok(false)
}

impl Earlier<'_> {
    /// Counts what filing an item changed in `article_id`. An article whose text is new to the
    /// comparison (a new one, or a teaser that just got its page's text) is linked to its
    /// nearest earlier near-duplicate, and its fingerprint joins `recent`.
    #[allow(clippy::too_many_arguments)]
    fn settle(
        &mut self,
        filed: &mut Filed,
        tx: &Connection,
        recent: &mut BandIndex,
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
            if self.link(tx, recent, article_id, hash, body, now_text)?
                || (change == Change::Switched
                    && self.link_later(tx, recent, article_id, hash, body, now_text)?)
            {
                filed.near_duplicates += 1;
            }
            recent.insert(article_id, hash);
        }
        Ok(())
    }
}

/// The article as `update_article` needs it: what the edit rule looks at, and what a
/// revision keeps.
struct Current {
    content_hash: String,
    revision: i64,
    title: String,
    body: String,
    document: String,
    date: String,
    from_page: bool,
    simhash: Option<i64>,
}

/// Applies an item (with its page, when one was fetched) to its existing article, as the edit
/// rule ([`edit::decide`]) says. `own`: the article is this item's (the entry was known);
/// otherwise the item is another source's copy.
fn update_article(
    tx: &Connection,
    article_id: i64,
    item: &Item,
    page: Option<&PageRecord>,
    own: bool,
    now: &str,
) -> Result<Change, StoreError> {
    let current = tx
        .prepare_cached(
            "SELECT content_hash, revision, title, body, document, date, body_origin = 'page',
                    simhash
             FROM articles WHERE id = ?1",
        )?
        .query_row([article_id], |r| {
            Ok(Current {
                content_hash: r.get(0)?,
                revision: r.get(1)?,
                title: r.get(2)?,
                body: r.get(3)?,
                document: r.get(4)?,
                date: r.get(5)?,
                from_page: r.get(6)?,
                simhash: r.get(7)?,
            })
        })?;
    let article = edit::Article {
        title: &current.title,
        body: &current.body,
        date: &current.date,
        content_hash: &current.content_hash,
        from_page: current.from_page,
        fingerprint: current.simhash.map(simhash::from_stored),
    };
    let incoming = edit::Incoming {
        item,
        feed_body: page.and_then(|p| p.outcome.feed_body()),
        own,
    };
    let (change, text) = match edit::decide(&article, &incoming) {
        Edit::Nothing => return Ok(Change::None),
        Edit::FeedBodyOnly(feed_body) => {
            tx.prepare_cached("UPDATE articles SET feed_body = ?2 WHERE id = ?1")?
                .execute(params![article_id, feed_body])?;
            return Ok(Change::None);
        }
        Edit::Switch(text) => (Change::Switched, text),
        Edit::Revise(text) => {
            tx.prepare_cached(
                "INSERT INTO article_revisions (article_id, revision, title, document, replaced_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![
                article_id,
                current.revision,
                current.title,
                current.document,
                now
            ])?;
            (Change::Revised, text)
        }
    };
    tx.prepare_cached(
        "UPDATE articles SET title = ?2, published_at = coalesce(?3, published_at), date = ?4,
                body = ?5, document = ?6, content_hash = ?7, updated_at = ?8,
                revision = revision + ?9, simhash = ?10,
                body_origin = CASE WHEN ?11 IS NULL THEN 'feed' ELSE 'page' END, feed_body = ?11
         WHERE id = ?1",
    )?
    .execute(params![
        article_id,
        text.title,
        text.published_at.map(timestamp),
        text.date,
        text.body,
        text.document,
        text.content_hash,
        now,
        i64::from(change == Change::Revised),
        text.fingerprint.map(simhash::to_stored),
        text.feed_body,
    ])?;
    Ok(change)
}

/// Articles removed in one transaction at most, so the write lock is never held long.
const REMOVE_BATCH: i64 = 1_000;

/// Removes articles dated before `before` (`YYYY-MM-DD`), in short transactions, remembering
/// each (its key, canonical URL and every source's identity of it) so it is not stored again.
/// Their entries, revisions and near-duplicate links go with them.
pub(super) fn remove_old_articles(
    conn: &mut Connection,
    before: &str,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let now = timestamp(now);
    let mut removed = 0;
    loop {
        let tx = conn.transaction()?;
        tx.execute(
            "CREATE TEMP TABLE IF NOT EXISTS doomed (id INTEGER PRIMARY KEY)",
            [],
        )?;
        tx.execute("DELETE FROM temp.doomed", [])?;
        let batch = tx.execute(
            "INSERT INTO temp.doomed (id)
             SELECT id FROM articles WHERE date < ?1 ORDER BY date LIMIT ?2",
            params![before, REMOVE_BATCH],
        )?;
        if batch == 0 {
            tx.commit()?;
            break;
        }
        tx.execute(
            "INSERT INTO removed_articles (key, canonical_url, title, date, removed_at)
             SELECT key, canonical_url, title, date, ?1 FROM articles
             WHERE id IN (SELECT id FROM temp.doomed)
             ON CONFLICT (key) DO NOTHING",
            [&now],
        )?;
        tx.execute(
            "INSERT INTO removed_entries (source_id, identity, key)
             SELECT e.source_id, e.identity, a.key FROM entries e JOIN articles a ON a.id = e.article_id
             WHERE a.id IN (SELECT id FROM temp.doomed)
             ON CONFLICT DO NOTHING",
            [],
        )?;
        tx.execute(
            "DELETE FROM articles WHERE id IN (SELECT id FROM temp.doomed)",
            [],
        )?;
        tx.commit()?;
        removed += batch as u64;
    }
    Ok(removed)
}
