//! Writing what a poll found: the `fetches` row and the source's new state (validators, hints,
//! errors, a permanent move, `gone`, what its items are told apart by); the items themselves
//! are filed by [`super::articles`].

use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use super::articles;
use super::{StoreError, parse_timestamp, timestamp};
use crate::dedup::IdentityBasis;
use crate::dedup::NearDuplicates;
use crate::dedup::simhash::BandIndex;
use crate::feed::FeedHints;
use crate::fetch::Validators;
use crate::record::{FetchFailure, PollCounts, PollOutcome, PollRecord};
use crate::schedule::Reason;
use crate::source::{self, RedirectStep, SourceState, Status};

/// A source of the configuration, as the database needs it.
#[derive(Debug, Clone)]
pub struct SourceSpec {
    pub url: String,
    pub name: Option<String>,
    /// `paused = true` in the configuration: not polled until it is resumed.
    pub paused: bool,
}

/// The statuses a configured source's `paused` setting moves it from, and to. A `gone` source is
/// neither paused nor resumed: a 410 is the server's word, taken back only by `gleaner revive`
/// (or removing the source and putting it back); pausing it would let a resume poll it again
/// behind the user's back. A removed source put back paused stays unpolled.
pub(crate) const PAUSE_SQL: &str = "status IN ('active', 'removed')";
pub(crate) const RESUME_SQL: &str = "status = 'paused'";

/// Makes `sources` match the configuration: new sources added, names updated, sources no longer
/// configured marked `removed` (their articles stay; a `gone` one stays gone unless it is put
/// back after removal), paused ones `paused` and resumed ones `active` again (a resumed source
/// keeps its planned next poll: one whose time has passed is due at once, a Retry-After still
/// holds). A configured URL that a source moved away from maps to that source. Returns the
/// configured sources in order.
pub(super) fn sync_sources(
    tx: &Connection,
    specs: &[SourceSpec],
    now: DateTime<Utc>,
) -> Result<Vec<SourceState>, StoreError> {
    let now = timestamp(now);
    tx.execute(
        "UPDATE sources SET status = 'removed' WHERE status <> 'removed'
           AND id NOT IN (SELECT id FROM sources WHERE url IN (SELECT value FROM json_each(?1)))
           AND id NOT IN (SELECT source_id FROM source_aliases WHERE url IN (SELECT value FROM json_each(?1)))",
        [serde_json::to_string(&specs.iter().map(|s| &s.url).collect::<Vec<_>>())
            .unwrap_or_default()],
    )?;
    let mut alias = tx.prepare_cached("SELECT source_id FROM source_aliases WHERE url = ?1")?;
    let mut upsert = tx.prepare_cached(
        "INSERT INTO sources (url, name, added_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (url) DO UPDATE SET name = excluded.name
         RETURNING id",
    )?;
    let mut rename = tx.prepare_cached("UPDATE sources SET name = ?2 WHERE id = ?1")?;
    let mut revive = tx.prepare_cached(
        "UPDATE sources SET status = 'active', next_poll_at = NULL, next_poll_reason = NULL
         WHERE id = ?1 AND status = 'removed'",
    )?;
    let mut resume = tx.prepare_cached(&format!(
        "UPDATE sources SET status = 'active' WHERE id = ?1 AND {RESUME_SQL}"
    ))?;
    let mut pause = tx.prepare_cached(&format!(
        "UPDATE sources SET status = 'paused' WHERE id = ?1 AND {PAUSE_SQL}"
    ))?;
    let mut states = Vec::with_capacity(specs.len());
    for spec in specs {
        let moved: Option<i64> = alias.query_row([&spec.url], |r| r.get(0)).optional()?;
        let id: i64 = match moved {
            Some(id) => {
                rename.execute(params![id, spec.name])?;
                id
            }
            None => upsert.query_row(params![spec.url, spec.name, now], |r| r.get(0))?,
        };
        if spec.paused {
            pause.execute([id])?;
        } else {
            revive.execute([id])?;
            resume.execute([id])?;
        }
        let state = load_state(tx, id)?;
        states.push(state);
    }
    Ok(states)
}

/// The last time any web server answered a poll (a success of an http source).
pub(super) fn last_network_success(conn: &Connection) -> Result<Option<DateTime<Utc>>, StoreError> {
    let last: Option<String> = conn
        .prepare_cached("SELECT max(last_success_at) FROM sources WHERE url LIKE 'http%'")?
        .query_row([], |r| r.get(0))?;
    Ok(last.as_deref().and_then(parse_timestamp))
}

/// Hosts that asked (429) not to be polled before a time still to come.
pub(super) fn host_blocks(
    conn: &Connection,
    now: DateTime<Utc>,
) -> Result<Vec<(String, DateTime<Utc>)>, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT host, until FROM host_blocks WHERE until > ?1")?;
    let rows = stmt.query_map([timestamp(now)], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
    })?;
    Ok(rows
        .filter_map(Result::ok)
        .filter_map(|(host, until)| Some((host, parse_timestamp(&until)?)))
        .collect())
}

/// Forgets fetches older than `cutoff` and host blocks that have expired.
pub(super) fn prune(
    conn: &Connection,
    cutoff: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    let removed = conn.execute(
        "DELETE FROM fetches WHERE started_at < ?1",
        [timestamp(cutoff)],
    )?;
    conn.execute(
        "DELETE FROM host_blocks WHERE until <= ?1",
        [timestamp(now)],
    )?;
    Ok(removed)
}

/// Brings a `gone` source (or any source, by id or URL) back to `active`, due now; not a
/// paused one (the configuration pauses it: `gleaner resume` is its way back) nor a removed one.
pub(super) fn revive(conn: &Connection, source: &str) -> Result<Option<String>, StoreError> {
    Ok(conn
        .query_row(
            "UPDATE sources SET status = 'active', next_poll_at = NULL, next_poll_reason = NULL,
                    consecutive_errors = 0
             WHERE (CAST(id AS TEXT) = ?1 OR url = ?1
                    OR id IN (SELECT source_id FROM source_aliases WHERE url = ?1))
               AND status NOT IN ('removed', 'paused')
             RETURNING url",
            [source],
            |r| r.get(0),
        )
        .optional()?)
}

/// Writes one poll. Runs inside the caller's transaction (or savepoint).
pub(super) fn record_poll(
    tx: &Connection,
    record: &PollRecord,
    near: &NearDuplicates,
    recent: &mut BandIndex,
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
            let filed = articles::file_items(
                tx,
                record.source_id,
                items,
                pages,
                record.started_at,
                near,
                recent,
            )?;
            counts.full_text = filed.full_text;
            counts.pages = pages.len() as u64;
            counts.seen = items.len() as u64;
            counts.new = filed.new;
            counts.updated = filed.updated;
            counts.near_duplicates = filed.near_duplicates;
            counts.removed = filed.removed;
            if let Some(reason) = identity_fallback.as_ref().or(filed.unstable_guids.as_ref()) {
                counts.identity_basis = identify_by_links(tx, record.source_id, reason)?;
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

    tx.prepare_cached(
        "INSERT INTO fetches (source_id, started_at, url, http_status, not_modified, bytes,
                              duration_ms, items_seen, items_new, items_updated,
                              error_class, error_message, wire_bytes, etag_sent,
                              last_modified_sent, retry_after, redirects, charged)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)",
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
        error_class,
        error_message,
        record.meta.wire_bytes.map(|b| b as i64),
        record.validators_sent.etag,
        record.validators_sent.last_modified,
        retry_after.map(timestamp),
        redirects,
        charged,
    ])?;

    let mut state = load_row(tx, record.source_id)?;
    state.apply(record);
    save_state(tx, &state)?;
    if let PollOutcome::Failed {
        retry_after: Some(until),
        block_host: Some(host),
        ..
    } = &record.outcome
    {
        tx.prepare_cached(
            "INSERT INTO host_blocks (host, until) VALUES (?1, ?2)
             ON CONFLICT (host) DO UPDATE SET until = max(until, excluded.until)",
        )?
        .execute(params![host, timestamp(*until)])?;
    }
    counts.moved_to = follow_permanent_redirect(tx, record)?;
    Ok(counts)
}

/// Switches a source from guids to links (once: the first reason stays recorded).
fn identify_by_links(
    tx: &Connection,
    source_id: i64,
    reason: &str,
) -> Result<Option<IdentityBasis>, StoreError> {
    let changed = tx
        .prepare_cached(
            "UPDATE sources SET identity = 'link', identity_reason = ?2
             WHERE id = ?1 AND identity <> 'link'",
        )?
        .execute(params![source_id, reason])?;
    if changed > 0 {
        tracing::info!(
            source_id,
            reason,
            "source's items are told apart by their links from now on"
        );
    }
    Ok((changed > 0).then_some(IdentityBasis::Link))
}

/// Applies what [`source::redirect_step`] says of this poll's permanent redirect: counts polls
/// that saw the same one in a row, and moves the source when it is time, keeping the old URL as
/// an alias. Returns the new URL when it moved.
fn follow_permanent_redirect(
    tx: &Connection,
    record: &PollRecord,
) -> Result<Option<String>, StoreError> {
    let (pending_to, pending_polls): (Option<String>, i64) = tx
        .prepare_cached("SELECT redirect_to, redirect_polls FROM sources WHERE id = ?1")?
        .query_row([record.source_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
    let pending = pending_to.as_deref().map(|to| (to, pending_polls));
    let (target, polls) = match source::redirect_step(pending, record.meta.permanent_redirect()) {
        RedirectStep::Keep => return Ok(None),
        RedirectStep::Clear => {
            tx.prepare_cached(
                "UPDATE sources SET redirect_to = NULL, redirect_polls = 0 WHERE id = ?1",
            )?
            .execute([record.source_id])?;
            return Ok(None);
        }
        RedirectStep::Count { to, polls } => {
            count_redirect(tx, record.source_id, to, polls)?;
            return Ok(None);
        }
        RedirectStep::Move { to, polls } => (to, polls),
    };
    let taken: bool = tx
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM sources WHERE url = ?1)")?
        .query_row([target], |r| r.get(0))?;
    if taken {
        // Another configured source already polls the target: keep both as they are.
        count_redirect(tx, record.source_id, target, polls)?;
        return Ok(None);
    }
    let now = timestamp(Utc::now());
    tx.prepare_cached(
        "INSERT INTO source_aliases (url, source_id, moved_at)
         SELECT url, id, ?2 FROM sources WHERE id = ?1
         ON CONFLICT (url) DO UPDATE SET source_id = excluded.source_id, moved_at = excluded.moved_at",
    )?
    .execute(params![record.source_id, now])?;
    tx.prepare_cached("DELETE FROM source_aliases WHERE url = ?1")?
        .execute([target])?;
    tx.prepare_cached(
        "UPDATE sources SET url = ?2, redirect_to = NULL, redirect_polls = 0 WHERE id = ?1",
    )?
    .execute(params![record.source_id, target])?;
    tracing::info!(from = %record.url, to = %target, "source moved after repeated permanent redirects");
    Ok(Some(target.to_owned()))
}

/// Writes a source's count of polls permanently redirected to `to`.
fn count_redirect(tx: &Connection, source_id: i64, to: &str, polls: i64) -> Result<(), StoreError> {
    tx.prepare_cached("UPDATE sources SET redirect_to = ?2, redirect_polls = ?3 WHERE id = ?1")?
        .execute(params![source_id, to, polls])?;
    Ok(())
}

const STATE_COLUMNS: &str = "id, url, status, etag, last_modified, body_hash, title, site_url,
    hint_ttl_seconds, hint_update_seconds, skip_hours, skip_days, last_polled_at,
    last_success_at, next_poll_at, next_poll_reason, consecutive_errors, last_error, identity";

fn state_of_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SourceState> {
    let seconds = |v: Option<i64>| v.map(|s| Duration::from_secs(s.max(0) as u64));
    let time = |v: Option<String>| v.as_deref().and_then(parse_timestamp);
    Ok(SourceState {
        id: r.get(0)?,
        url: r.get(1)?,
        status: Status::parse(&r.get::<_, String>(2)?),
        validators: Validators {
            etag: r.get(3)?,
            last_modified: r.get(4)?,
        },
        body_hash: r.get(5)?,
        title: r.get(6)?,
        site_url: r.get(7)?,
        hints: FeedHints {
            ttl: seconds(r.get(8)?),
            update_period: seconds(r.get(9)?),
            skip_hours: r.get::<_, i64>(10)? as u32,
            skip_days: r.get::<_, i64>(11)? as u8,
        },
        last_polled_at: time(r.get(12)?),
        last_success_at: time(r.get(13)?),
        next_poll_at: time(r.get(14)?),
        next_poll_reason: r
            .get::<_, Option<String>>(15)?
            .as_deref()
            .and_then(Reason::parse),
        consecutive_errors: r.get::<_, i64>(16)?.clamp(0, i64::from(u32::MAX)) as u32,
        last_error: r.get(17)?,
        identity_basis: IdentityBasis::parse(&r.get::<_, String>(18)?),
        history: Vec::new(),
    })
}

/// A source's row (without its history, which a poll does not change).
fn load_row(conn: &Connection, id: i64) -> Result<SourceState, StoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {STATE_COLUMNS} FROM sources WHERE id = ?1"
        ))?
        .query_row([id], state_of_row)?)
}

/// A source's row, with the publication times of its latest articles.
pub(super) fn load_state(conn: &Connection, id: i64) -> Result<SourceState, StoreError> {
    let mut state = load_row(conn, id)?;
    state.history = conn
        .prepare_cached(
            "SELECT a.published_at FROM entries e JOIN articles a ON a.id = e.article_id
             WHERE e.source_id = ?1 AND a.published_at IS NOT NULL
             ORDER BY a.published_at DESC LIMIT ?2",
        )?
        .query_map(params![id, crate::schedule::HISTORY as i64], |r| {
            r.get::<_, String>(0)
        })?
        .filter_map(|t| t.ok().as_deref().and_then(parse_timestamp))
        .collect();
    Ok(state)
}

/// Writes back what [`SourceState::apply`] changed (not the URL or identity basis, which
/// change through their own rules).
fn save_state(conn: &Connection, state: &SourceState) -> Result<(), StoreError> {
    let seconds = |d: Option<Duration>| d.map(|d| d.as_secs() as i64);
    conn.prepare_cached(
        "UPDATE sources SET status = ?2, etag = ?3, last_modified = ?4, body_hash = ?5,
                title = ?6, site_url = ?7, hint_ttl_seconds = ?8, hint_update_seconds = ?9,
                skip_hours = ?10, skip_days = ?11, last_polled_at = ?12, last_success_at = ?13,
                next_poll_at = ?14, next_poll_reason = ?15, consecutive_errors = ?16,
                last_error = ?17
         WHERE id = ?1",
    )?
    .execute(params![
        state.id,
        state.status.as_str(),
        state.validators.etag,
        state.validators.last_modified,
        state.body_hash,
        state.title,
        state.site_url,
        seconds(state.hints.ttl),
        seconds(state.hints.update_period),
        i64::from(state.hints.skip_hours),
        i64::from(state.hints.skip_days),
        state.last_polled_at.map(timestamp),
        state.last_success_at.map(timestamp),
        state.next_poll_at.map(timestamp),
        state.next_poll_reason.map(Reason::as_str),
        i64::from(state.consecutive_errors),
        state.last_error,
    ])?;
    Ok(())
}

/// The active sources due at `now` (never polled, or their time has come).
pub(super) fn due_source_ids(
    conn: &Connection,
    now: DateTime<Utc>,
) -> Result<Vec<i64>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id FROM sources
         WHERE status = 'active' AND (next_poll_at IS NULL OR next_poll_at <= ?1)
         ORDER BY coalesce(next_poll_at, ''), id",
    )?;
    let ids = stmt.query_map([timestamp(now)], |r| r.get(0))?;
    Ok(ids.collect::<Result<_, _>>()?)
}

/// The earliest poll planned after `now`, over the active sources.
pub(super) fn next_poll_after(
    conn: &Connection,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    let next: Option<String> = conn
        .prepare_cached(
            "SELECT min(next_poll_at) FROM sources WHERE status = 'active' AND next_poll_at > ?1",
        )?
        .query_row([timestamp(now)], |r| r.get(0))?;
    Ok(next.as_deref().and_then(parse_timestamp))
}
