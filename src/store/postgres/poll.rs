//! Writing what a poll found, in PostgreSQL: the `fetches` row and the source's new state, as
//! `store::poll` does in SQLite (same statements, PostgreSQL's words); the items are filed by
//! [`super::articles`].

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_postgres::types::ToSql;

use super::{Db, articles, clean, clean_opt};
use crate::dedup::{IdentityBasis, NearDuplicates};
use crate::feed::FeedHints;
use crate::fetch::Validators;
use crate::record::{FetchFailure, PollCounts, PollOutcome, PollRecord};
use crate::schedule::Reason;
use crate::source::{self, RedirectStep, SourceState, Status};
use crate::store::poll::{PAUSE_SQL, RESUME_SQL};
use crate::store::{SourceSpec, StoreError, parse_timestamp, timestamp};

/// As `store::poll::sync_sources`: new sources added, names updated, sources no longer
/// configured marked `removed`, removed ones configured again revived, paused ones `paused` and
/// resumed ones `active` (a `gone` one neither); a configured URL a source moved away from maps
/// to that source.
pub(super) async fn sync_sources(
    tx: &Db<'_>,
    specs: &[SourceSpec],
    now: DateTime<Utc>,
) -> Result<Vec<SourceState>, StoreError> {
    let now = timestamp(now);
    let urls: Vec<_> = specs.iter().map(|s| clean(&s.url)).collect();
    tx.execute(
        "UPDATE sources SET status = 'removed' WHERE status <> 'removed'
           AND NOT (url = ANY($1))
           AND id NOT IN (SELECT source_id FROM source_aliases WHERE url = ANY($1))",
        &[&urls],
    )
    .await?;
    let alias = "SELECT source_id FROM source_aliases WHERE url = $1";
    let upsert = "INSERT INTO sources (url, name, added_at) VALUES ($1, $2, $3)
             ON CONFLICT (url) DO UPDATE SET name = excluded.name
             RETURNING id";
    let rename = "UPDATE sources SET name = $2 WHERE id = $1";
    let revive =
        "UPDATE sources SET status = 'active', next_poll_at = NULL, next_poll_reason = NULL
             WHERE id = $1 AND status = 'removed'";
    let resume = format!("UPDATE sources SET status = 'active' WHERE id = $1 AND {RESUME_SQL}");
    let pause = format!("UPDATE sources SET status = 'paused' WHERE id = $1 AND {PAUSE_SQL}");
    let mut states = Vec::with_capacity(specs.len());
    for spec in specs {
        let moved: Option<i64> = tx
            .query_opt(alias, &[&clean(&spec.url)])
            .await?
            .map(|r| r.get(0));
        let id: i64 = match moved {
            Some(id) => {
                tx.execute(rename, &[&id, &clean_opt(spec.name.as_deref())])
                    .await?;
                id
            }
            None => tx
                .query_one(
                    upsert,
                    &[&clean(&spec.url), &clean_opt(spec.name.as_deref()), &now],
                )
                .await?
                .get(0),
        };
        if spec.paused {
            tx.execute(pause.as_str(), &[&id]).await?;
        } else {
            tx.execute(revive, &[&id]).await?;
            tx.execute(resume.as_str(), &[&id]).await?;
        }
        states.push(load_state(tx, id).await?);
    }
    Ok(states)
}

/// The last time any web server answered a poll (a success of an http source).
pub(super) async fn last_network_success(tx: &Db<'_>) -> Result<Option<DateTime<Utc>>, StoreError> {
    let last: Option<String> = tx
        .query_one(
            "SELECT max(last_success_at) FROM sources WHERE url LIKE 'http%'",
            &[],
        )
        .await?
        .get(0);
    Ok(last.as_deref().and_then(parse_timestamp))
}

/// Hosts that asked (429) not to be polled before a time still to come.
pub(super) async fn host_blocks(
    tx: &Db<'_>,
    now: DateTime<Utc>,
) -> Result<Vec<(String, DateTime<Utc>)>, StoreError> {
    let rows = tx
        .query(
            "SELECT host, until FROM host_blocks WHERE until > $1",
            &[&timestamp(now)],
        )
        .await?;
    Ok(rows
        .iter()
        .filter_map(|r| {
            let until: String = r.get(1);
            Some((r.get(0), parse_timestamp(&until)?))
        })
        .collect())
}

/// Forgets fetches older than `cutoff` and host blocks that have expired.
pub(super) async fn prune(
    tx: &Db<'_>,
    cutoff: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    let removed = tx
        .execute(
            "DELETE FROM fetches WHERE started_at < $1",
            &[&timestamp(cutoff)],
        )
        .await?;
    tx.execute(
        "DELETE FROM host_blocks WHERE until <= $1",
        &[&timestamp(now)],
    )
    .await?;
    Ok(removed as usize)
}

/// Writes one poll, inside the caller's transaction.
pub(super) async fn record_poll(
    tx: &Db<'_>,
    record: &PollRecord,
    near: &NearDuplicates,
) -> Result<PollCounts, StoreError> {
    let started = timestamp(record.started_at);
    let mut counts = PollCounts::default();
    let (status, not_modified, bytes) = match &record.outcome {
        PollOutcome::NotModified { status } => (*status, true, None),
        PollOutcome::Unchanged { status, bytes, .. } => (*status, false, Some(*bytes)),
        PollOutcome::Parsed {
            status,
            bytes,
            items,
            pages,
            identity_fallback,
            ..
        } => {
            let filed =
                articles::file_items(tx, record.source_id, items, pages, record.started_at, near)
                    .await?;
            counts.full_text = filed.full_text;
            counts.pages = pages.len() as u64;
            counts.seen = items.len() as u64;
            counts.new = filed.new;
            counts.updated = filed.updated;
            counts.near_duplicates = filed.near_duplicates;
            counts.removed = filed.removed;
            if let Some(reason) = identity_fallback.as_ref().or(filed.unstable_guids.as_ref()) {
                counts.identity_basis = identify_by_links(tx, record.source_id, reason).await?;
            }
            (*status, false, Some(*bytes))
        }
        PollOutcome::Failed { status, bytes, .. } => (*status, false, *bytes),
    };
    let FetchFailure {
        class: error_class,
        message: error_message,
        charged,
        retry_after,
    } = record.outcome.failure();
    let redirects = record.meta.redirects_text();
    let params: [&(dyn ToSql + Sync); 18] = [
        &record.source_id,
        &started,
        &clean(&record.url),
        &status.map(i64::from),
        &i64::from(not_modified),
        &bytes.map(|b| b as i64),
        &(record.duration.as_millis() as i64),
        &(counts.seen as i64),
        &(counts.new as i64),
        &(counts.updated as i64),
        &error_class,
        &clean_opt(error_message),
        &record.meta.wire_bytes.map(|b| b as i64),
        &clean_opt(record.validators_sent.etag.as_deref()),
        &clean_opt(record.validators_sent.last_modified.as_deref()),
        &retry_after.map(timestamp),
        &clean_opt(redirects.as_deref()),
        &i64::from(charged),
    ];
    tx.execute(
        "INSERT INTO fetches (source_id, started_at, url, http_status, not_modified, bytes,
                              duration_ms, items_seen, items_new, items_updated,
                              error_class, error_message, wire_bytes, etag_sent,
                              last_modified_sent, retry_after, redirects, charged)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)",
        &params,
    )
    .await?;

    let mut state = load_row(tx, record.source_id).await?;
    state.apply(record);
    save_state(tx, &state).await?;
    if let PollOutcome::Failed {
        retry_after: Some(until),
        block_host: Some(host),
        ..
    } = &record.outcome
    {
        tx.execute(
            "INSERT INTO host_blocks (host, until) VALUES ($1, $2)
             ON CONFLICT (host) DO UPDATE SET until = GREATEST(host_blocks.until, excluded.until)",
            &[&clean(host), &timestamp(*until)],
        )
        .await?;
    }
    counts.moved_to = follow_permanent_redirect(tx, record).await?;
    Ok(counts)
}

/// Switches a source from guids to links (once: the first reason stays recorded).
async fn identify_by_links(
    tx: &Db<'_>,
    source_id: i64,
    reason: &str,
) -> Result<Option<IdentityBasis>, StoreError> {
    let changed = tx
        .execute(
            "UPDATE sources SET identity = 'link', identity_reason = $2
             WHERE id = $1 AND identity <> 'link'",
            &[&source_id, &clean(reason)],
        )
        .await?;
    if changed > 0 {
        tracing::info!(
            source_id,
            reason,
            "source's items are told apart by their links from now on"
        );
    }
    Ok((changed > 0).then_some(IdentityBasis::Link))
}

/// As `store::poll::follow_permanent_redirect`: counts polls that saw the same permanent
/// redirect in a row and moves the source when [`source::redirect_step`] says so, keeping the
/// old URL as an alias. Returns the new URL when it moved.
async fn follow_permanent_redirect(
    tx: &Db<'_>,
    record: &PollRecord,
) -> Result<Option<String>, StoreError> {
    let row = tx
        .query_one(
            "SELECT redirect_to, redirect_polls FROM sources WHERE id = $1",
            &[&record.source_id],
        )
        .await?;
    let (pending_to, pending_polls): (Option<String>, i64) = (row.get(0), row.get(1));
    let pending = pending_to.as_deref().map(|to| (to, pending_polls));
    let (target, polls) = match source::redirect_step(pending, record.meta.permanent_redirect()) {
        RedirectStep::Keep => return Ok(None),
        RedirectStep::Clear => {
            tx.execute(
                "UPDATE sources SET redirect_to = NULL, redirect_polls = 0 WHERE id = $1",
                &[&record.source_id],
            )
            .await?;
            return Ok(None);
        }
        RedirectStep::Count { to, polls } => {
            count_redirect(tx, record.source_id, to, polls).await?;
            return Ok(None);
        }
        RedirectStep::Move { to, polls } => (to, polls),
    };
    let taken: bool = tx
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM sources WHERE url = $1)",
            &[&clean(target)],
        )
        .await?
        .get(0);
    if taken {
        // Another configured source already polls the target: keep both as they are.
        count_redirect(tx, record.source_id, target, polls).await?;
        return Ok(None);
    }
    let now = timestamp(Utc::now());
    tx.execute(
        "INSERT INTO source_aliases (url, source_id, moved_at)
         SELECT url, id, $2 FROM sources WHERE id = $1
         ON CONFLICT (url) DO UPDATE SET source_id = excluded.source_id, moved_at = excluded.moved_at",
        &[&record.source_id, &now],
    )
    .await?;
    tx.execute(
        "DELETE FROM source_aliases WHERE url = $1",
        &[&clean(target)],
    )
    .await?;
    tx.execute(
        "UPDATE sources SET url = $2, redirect_to = NULL, redirect_polls = 0 WHERE id = $1",
        &[&record.source_id, &clean(target)],
    )
    .await?;
    tracing::info!(from = %record.url, to = %target, "source moved after repeated permanent redirects");
    Ok(Some(target.to_owned()))
}

async fn count_redirect(
    tx: &Db<'_>,
    source_id: i64,
    to: &str,
    polls: i64,
) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE sources SET redirect_to = $2, redirect_polls = $3 WHERE id = $1",
        &[&source_id, &clean(to), &polls],
    )
    .await?;
    Ok(())
}

const STATE_COLUMNS: &str = "id, url, status, etag, last_modified, body_hash, title, site_url,
    hint_ttl_seconds, hint_update_seconds, skip_hours, skip_days, last_polled_at,
    last_success_at, next_poll_at, next_poll_reason, consecutive_errors, last_error, identity";

fn state_of_row(r: &tokio_postgres::Row) -> SourceState {
    let seconds = |v: Option<i64>| v.map(|s| Duration::from_secs(s.max(0) as u64));
    let time = |v: Option<String>| v.as_deref().and_then(parse_timestamp);
    SourceState {
        id: r.get(0),
        url: r.get(1),
        status: Status::parse(r.get::<_, &str>(2)),
        validators: Validators {
            etag: r.get(3),
            last_modified: r.get(4),
        },
        body_hash: r.get(5),
        title: r.get(6),
        site_url: r.get(7),
        hints: FeedHints {
            ttl: seconds(r.get(8)),
            update_period: seconds(r.get(9)),
            skip_hours: r.get::<_, i64>(10) as u32,
            skip_days: r.get::<_, i64>(11) as u8,
        },
        last_polled_at: time(r.get(12)),
        last_success_at: time(r.get(13)),
        next_poll_at: time(r.get(14)),
        next_poll_reason: r.get::<_, Option<&str>>(15).and_then(Reason::parse),
        consecutive_errors: r.get::<_, i64>(16).clamp(0, i64::from(u32::MAX)) as u32,
        last_error: r.get(17),
        identity_basis: IdentityBasis::parse(r.get::<_, &str>(18)),
        history: Vec::new(),
    }
}

/// A source's row (without its history, which a poll does not change).
async fn load_row(tx: &Db<'_>, id: i64) -> Result<SourceState, StoreError> {
    let row = tx
        .query_one(
            &format!("SELECT {STATE_COLUMNS} FROM sources WHERE id = $1"),
            &[&id],
        )
        .await?;
    Ok(state_of_row(&row))
}

/// A source's row, with the publication times of its latest articles.
pub(super) async fn load_state(tx: &Db<'_>, id: i64) -> Result<SourceState, StoreError> {
    let mut state = load_row(tx, id).await?;
    state.history = tx
        .query(
            "SELECT a.published_at FROM entries e JOIN articles a ON a.id = e.article_id
             WHERE e.source_id = $1 AND a.published_at IS NOT NULL
             ORDER BY a.published_at DESC LIMIT $2",
            &[&id, &(crate::schedule::HISTORY as i64)],
        )
        .await?
        .iter()
        .filter_map(|r| parse_timestamp(r.get::<_, &str>(0)))
        .collect();
    Ok(state)
}

/// Writes back what [`SourceState::apply`] changed (not the URL or identity basis).
async fn save_state(tx: &Db<'_>, state: &SourceState) -> Result<(), StoreError> {
    let seconds = |d: Option<Duration>| d.map(|d| d.as_secs() as i64);
    let params: [&(dyn ToSql + Sync); 17] = [
        &state.id,
        &state.status.as_str(),
        &clean_opt(state.validators.etag.as_deref()),
        &clean_opt(state.validators.last_modified.as_deref()),
        &clean_opt(state.body_hash.as_deref()),
        &clean_opt(state.title.as_deref()),
        &clean_opt(state.site_url.as_deref()),
        &seconds(state.hints.ttl),
        &seconds(state.hints.update_period),
        &i64::from(state.hints.skip_hours),
        &i64::from(state.hints.skip_days),
        &state.last_polled_at.map(timestamp),
        &state.last_success_at.map(timestamp),
        &state.next_poll_at.map(timestamp),
        &state.next_poll_reason.map(Reason::as_str),
        &i64::from(state.consecutive_errors),
        &clean_opt(state.last_error.as_deref()),
    ];
    tx.execute(
        "UPDATE sources SET status = $2, etag = $3, last_modified = $4, body_hash = $5,
                title = $6, site_url = $7, hint_ttl_seconds = $8, hint_update_seconds = $9,
                skip_hours = $10, skip_days = $11, last_polled_at = $12, last_success_at = $13,
                next_poll_at = $14, next_poll_reason = $15, consecutive_errors = $16,
                last_error = $17
         WHERE id = $1",
        &params,
    )
    .await?;
    Ok(())
}

/// The earliest poll planned after `now`, over the active sources not being polled.
pub(super) async fn next_poll_after(
    tx: &Db<'_>,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    let next: Option<String> = tx
        .query_one(
            // Sources being polled (leased) are not planned yet; asked this way, the answer is
            // the first row after `now` of the `sources_due` index, not a scan of every source.
            "SELECT min(next_poll_at) FROM sources
             WHERE status = 'active' AND leased_by IS NULL AND next_poll_at > $1",
            &[&timestamp(now)],
        )
        .await?
        .get(0);
    Ok(next.as_deref().and_then(parse_timestamp))
}
