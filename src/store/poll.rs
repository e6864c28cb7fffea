//! Writing what a poll found: the `fetches` row, the source's new state, and every item filed
//! as a new article, a new entry of a known article, an edit (a new revision) or a repeat.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use super::{StoreError, parse_timestamp, timestamp};
use crate::dedup::Item;
use crate::fetch::Validators;

/// The outcome of one poll of one source, ready to be written.
#[derive(Debug)]
pub struct PollRecord {
    pub source_id: i64,
    pub url: String,
    pub started_at: DateTime<Utc>,
    pub duration: Duration,
    pub next_poll_at: DateTime<Utc>,
    pub next_poll_reason: &'static str,
    pub outcome: PollOutcome,
}

#[derive(Debug)]
pub enum PollOutcome {
    /// A 304.
    NotModified { status: Option<u16> },
    /// A body identical to the last one parsed: not parsed again.
    Unchanged {
        status: Option<u16>,
        bytes: u64,
        validators: Validators,
    },
    Parsed {
        status: Option<u16>,
        bytes: u64,
        validators: Validators,
        body_hash: String,
        feed_title: Option<String>,
        site_url: Option<String>,
        items: Vec<Item>,
    },
    Failed {
        status: Option<u16>,
        bytes: Option<u64>,
        class: &'static str,
        message: String,
    },
}

/// What a poll added to the archive.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PollCounts {
    pub seen: u64,
    pub new: u64,
    pub updated: u64,
}

/// A configured source as the database knows it.
#[derive(Debug, Clone)]
pub struct SourceState {
    pub id: i64,
    pub url: String,
    pub status: String,
    pub validators: Validators,
    pub body_hash: Option<String>,
    pub next_poll_at: Option<DateTime<Utc>>,
}

/// A source of the configuration, as the database needs it.
#[derive(Debug, Clone)]
pub struct SourceSpec {
    pub url: String,
    pub name: Option<String>,
}

/// Makes `sources` match the configuration: new sources added, names updated, sources no longer
/// configured marked `removed` (their articles stay). Returns the configured sources in order.
pub(super) fn sync_sources(
    tx: &Connection,
    specs: &[SourceSpec],
    now: DateTime<Utc>,
) -> Result<Vec<SourceState>, StoreError> {
    let now = timestamp(now);
    tx.execute(
        "UPDATE sources SET status = 'removed' WHERE status <> 'removed'",
        [],
    )?;
    let mut upsert = tx.prepare_cached(
        "INSERT INTO sources (url, name, added_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (url) DO UPDATE SET name = excluded.name
         RETURNING id",
    )?;
    let mut revive = tx.prepare_cached(
        "UPDATE sources SET status = CASE WHEN status = 'removed' THEN 'active' ELSE status END
         WHERE id = ?1",
    )?;
    let mut select = tx.prepare_cached(
        "SELECT status, etag, last_modified, body_hash, next_poll_at FROM sources WHERE id = ?1",
    )?;
    let mut states = Vec::with_capacity(specs.len());
    for spec in specs {
        let id: i64 = upsert.query_row(params![spec.url, spec.name, now], |r| r.get(0))?;
        revive.execute([id])?;
        let state = select.query_row([id], |r| {
            Ok(SourceState {
                id,
                url: spec.url.clone(),
                status: r.get(0)?,
                validators: Validators {
                    etag: r.get(1)?,
                    last_modified: r.get(2)?,
                },
                body_hash: r.get(3)?,
                next_poll_at: r
                    .get::<_, Option<String>>(4)?
                    .as_deref()
                    .and_then(parse_timestamp),
            })
        })?;
        states.push(state);
    }
    Ok(states)
}

/// Writes one poll. Runs inside the caller's transaction (or savepoint).
pub(super) fn record_poll(tx: &Connection, record: &PollRecord) -> Result<PollCounts, StoreError> {
    let started = timestamp(record.started_at);
    let next = timestamp(record.next_poll_at);
    let mut counts = PollCounts::default();
    let (status, not_modified, bytes, error) = match &record.outcome {
        PollOutcome::NotModified { status } => (*status, true, None, None),
        PollOutcome::Unchanged { status, bytes, .. } => (*status, false, Some(*bytes), None),
        PollOutcome::Parsed {
            status,
            bytes,
            items,
            ..
        } => {
            counts = file_items(tx, record.source_id, items, &started)?;
            (*status, false, Some(*bytes), None)
        }
        PollOutcome::Failed {
            status,
            bytes,
            class,
            message,
        } => (*status, false, *bytes, Some((*class, message.as_str()))),
    };

    tx.prepare_cached(
        "INSERT INTO fetches (source_id, started_at, url, http_status, not_modified, bytes,
                              duration_ms, items_seen, items_new, items_updated,
                              error_class, error_message)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?
    .execute(params![
        record.source_id,
        started,
        record.url,
        status,
        not_modified,
        bytes.map(|b| b as i64),
        record.duration.as_millis() as i64,
        counts.seen as i64,
        counts.new as i64,
        counts.updated as i64,
        error.map(|e| e.0),
        error.map(|e| e.1),
    ])?;

    match (&record.outcome, error) {
        (_, Some((class, message))) => {
            tx.prepare_cached(
                "UPDATE sources SET last_polled_at = ?2, next_poll_at = ?3, next_poll_reason = ?4,
                        consecutive_errors = consecutive_errors + 1, last_error = ?5
                 WHERE id = ?1",
            )?
            .execute(params![
                record.source_id,
                started,
                next,
                record.next_poll_reason,
                format!("{class}: {message}")
            ])?;
        }
        (outcome, None) => {
            tx.prepare_cached(
                "UPDATE sources SET last_polled_at = ?2, last_success_at = ?2, next_poll_at = ?3,
                        next_poll_reason = ?4, consecutive_errors = 0, last_error = NULL
                 WHERE id = ?1",
            )?
            .execute(params![
                record.source_id,
                started,
                next,
                record.next_poll_reason
            ])?;
            let validators = match outcome {
                PollOutcome::Unchanged { validators, .. }
                | PollOutcome::Parsed { validators, .. } => Some(validators),
                _ => None,
            };
            if let Some(v) = validators {
                tx.prepare_cached(
                    "UPDATE sources SET etag = ?2, last_modified = ?3 WHERE id = ?1",
                )?
                .execute(params![record.source_id, v.etag, v.last_modified])?;
            }
            if let PollOutcome::Parsed {
                body_hash,
                feed_title,
                site_url,
                ..
            } = outcome
            {
                tx.prepare_cached(
                    "UPDATE sources SET body_hash = ?2, title = coalesce(?3, title),
                            site_url = coalesce(?4, site_url)
                     WHERE id = ?1",
                )?
                .execute(params![
                    record.source_id,
                    body_hash,
                    feed_title,
                    site_url
                ])?;
            }
        }
    }
    Ok(counts)
}

/// Files every item of a parsed document; see the module doc for the four cases.
fn file_items(
    tx: &Connection,
    source_id: i64,
    items: &[Item],
    now: &str,
) -> Result<PollCounts, StoreError> {
    let mut counts = PollCounts {
        seen: items.len() as u64,
        ..PollCounts::default()
    };
    let mut find_entry = tx.prepare_cached(
        "SELECT id, article_id, content_hash FROM entries WHERE source_id = ?1 AND identity = ?2",
    )?;
    let mut touch_entry =
        tx.prepare_cached("UPDATE entries SET last_seen_at = ?2 WHERE id = ?1")?;
    for item in items {
        let identity = item.identity.as_stored();
        let known: Option<(i64, i64, String)> = find_entry
            .query_row(params![source_id, identity], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .optional()?;
        match known {
            Some((_, _, ref hash)) if *hash == item.content_hash => {
                touch_entry.execute(params![known.as_ref().map(|k| k.0), now])?;
            }
            Some((entry_id, article_id, _)) => {
                if revise_article(tx, article_id, item, now)? {
                    counts.updated += 1;
                }
                tx.prepare_cached(
                    "UPDATE entries SET content_hash = ?2, last_seen_at = ?3, link = ?4 WHERE id = ?1",
                )?
                .execute(params![entry_id, item.content_hash, now, item.rendered.link])?;
            }
            None => {
                let (article_id, created) = find_or_create_article(tx, item, now)?;
                if created {
                    counts.new += 1;
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
                    now
                ])?;
            }
        }
    }
    Ok(counts)
}

/// The article this new entry belongs to: the one with the same canonical URL or key, or a new
/// one. Returns its id and whether it was created.
fn find_or_create_article(
    tx: &Connection,
    item: &Item,
    now: &str,
) -> Result<(i64, bool), StoreError> {
    if let Some(url) = &item.canonical_url {
        let existing = tx
            .prepare_cached("SELECT id FROM articles WHERE canonical_url = ?1")?
            .query_row([url], |r| r.get(0))
            .optional()?;
        if let Some(id) = existing {
            return Ok((id, false));
        }
    }
    let r = &item.rendered;
    let inserted: Option<i64> = tx
        .prepare_cached(
            "INSERT INTO articles (key, url, canonical_url, title, published_at, date, body,
                                   document, content_hash, first_seen_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)
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
                now
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

/// Applies an edit: the current document goes to `article_revisions` and the article takes the
/// new text. Returns false when the article already has this text (another source's copy).
fn revise_article(
    tx: &Connection,
    article_id: i64,
    item: &Item,
    now: &str,
) -> Result<bool, StoreError> {
    let (current_hash, revision, title, document, date): (String, i64, String, String, String) = tx
        .prepare_cached(
            "SELECT content_hash, revision, title, document, date FROM articles WHERE id = ?1",
        )?
        .query_row([article_id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })?;
    if current_hash == item.content_hash {
        return Ok(false);
    }
    tx.prepare_cached(
        "INSERT INTO article_revisions (article_id, revision, title, document, replaced_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![article_id, revision, title, document, now])?;
    let r = &item.rendered;
    // An undated item keeps the date it was first seen on, not the day of the edit.
    let (date, new_document) = match r.published_at {
        Some(_) => (r.date.as_str(), r.document.clone()),
        None => (
            date.as_str(),
            crate::text::document(&date, &r.title, &r.body),
        ),
    };
    tx.prepare_cached(
        "UPDATE articles SET title = ?2, published_at = coalesce(?3, published_at), date = ?4,
                body = ?5, document = ?6, content_hash = ?7, updated_at = ?8,
                revision = revision + 1
         WHERE id = ?1",
    )?
    .execute(params![
        article_id,
        r.title,
        r.published_at.map(timestamp),
        date,
        r.body,
        new_document,
        item.content_hash,
        now
    ])?;
    Ok(true)
}
