//! Leases (migration 0002): how several processes on one database share the sources. A process
//! takes the due sources it will poll, and their hosts, until a time it renews while it works;
//! writing a poll ends its source's lease; a host's lease lapses on its own once no source of
//! it is being polled by its holder.

use chrono::{DateTime, Utc};

use super::Db;
use crate::store::{StoreError, timestamp};

/// The process as `leased_by` names it: which machine, which process, since when. Unique as
/// long as two processes of one machine do not share a pid at the same second.
pub(super) fn owner_name() -> String {
    let machine = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "localhost".to_owned());
    format!(
        "{machine} pid {} since {}",
        std::process::id(),
        Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ")
    )
}

/// Extends the leases `owner` holds on `sources` (those it is polling) and on their hosts, those
/// past half their time: each renewal is a new row version (and index entries) PostgreSQL must
/// clean up, and renewing on every ask made the others' scans wade through them.
pub(super) async fn renew(
    tx: &Db<'_>,
    owner: &str,
    sources: &[i64],
    now: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<(), StoreError> {
    if sources.is_empty() {
        return Ok(());
    }
    let halfway = timestamp(now + (until - now) / 2);
    let until = timestamp(until);
    tx.execute(
        "UPDATE sources SET leased_until = $3
         WHERE leased_by = $1 AND id = ANY($2) AND leased_until < $4",
        &[&owner, &sources, &until, &halfway],
    )
    .await?;
    tx.execute(
        "UPDATE host_leases SET leased_until = $3
         WHERE leased_by = $1 AND leased_until < $4
           AND host IN (SELECT host FROM sources WHERE id = ANY($2))",
        &[&owner, &sources, &until, &halfway],
    )
    .await?;
    Ok(())
}

/// Leases to `owner`, until `until`, at most `limit` active sources due at `now` (never polled
/// first, then soonest), except `skip`: none leased by another process, none on a host another
/// process holds or a server asked to wait (429), and no more than `new_hosts` hosts it does
/// not hold already. Returns their ids.
///
/// The rows are taken with FOR UPDATE SKIP LOCKED: a source another process is leasing at this
/// moment is passed over, not waited for, and one it leased since this statement's snapshot is
/// read again and left out. Hosts are claimed with one upsert that only takes a host that is
/// free, lapsed or already ours; of two processes claiming one host, the second sees the
/// first's claim and gets nothing.
pub(super) async fn take_due(
    tx: &Db<'_>,
    owner: &str,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
    skip: &[i64],
    limit: usize,
    new_hosts: usize,
) -> Result<Vec<i64>, StoreError> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    // Two asks, each through its own index: the lapsed leases of processes that died (few),
    // then the free sources in order. FOR UPDATE cannot take a UNION.
    let filter = "status = 'active' AND (next_poll_at IS NULL OR next_poll_at <= $2)
               AND NOT (id = ANY($3))
               AND (host IS NULL OR host NOT IN (
                     SELECT host FROM host_leases WHERE leased_by <> $1 AND leased_until > $2
                     UNION ALL
                     SELECT host FROM host_blocks WHERE until > $2))";
    let now_text = timestamp(now);
    let lapsed = format!(
        "SELECT id, host FROM sources
         WHERE leased_by IS NOT NULL AND leased_until <= $2 AND {filter}
         ORDER BY leased_until LIMIT $4 FOR UPDATE SKIP LOCKED"
    );
    let free = format!(
        "SELECT id, host FROM sources
         WHERE leased_by IS NULL AND {filter}
         ORDER BY next_poll_at NULLS FIRST, id LIMIT $4 FOR UPDATE SKIP LOCKED"
    );
    let limit_rows = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut candidates = tx
        .query(&lapsed, &[&owner, &now_text, &skip, &limit_rows])
        .await?;
    let left = limit_rows - candidates.len() as i64;
    if left > 0 {
        candidates.extend(tx.query(&free, &[&owner, &now_text, &skip, &left]).await?);
    }
    let mine: Vec<String> = tx
        .query(
            "SELECT host FROM host_leases WHERE leased_by = $1 AND leased_until > $2",
            &[&owner, &timestamp(now)],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    // The hosts of the candidates: those held already, and at most `new_hosts` more in the
    // order their sources come. Without that bound the first process would take a host for
    // each of its first sources, and keep them all (renewed while they have due sources): a
    // process started later would find every host taken.
    let mut hosts: Vec<String> = Vec::new();
    let mut new = 0;
    for host in candidates
        .iter()
        .filter_map(|r| r.get::<_, Option<String>>(1))
    {
        if hosts.contains(&host) {
            continue;
        }
        if !mine.contains(&host) {
            if new == new_hosts {
                continue;
            }
            new += 1;
        }
        hosts.push(host);
    }
    let held = claim_hosts(tx, owner, &hosts, now, until).await?;
    let taken: Vec<i64> = candidates
        .iter()
        .filter(|r| {
            r.get::<_, Option<String>>(1)
                .is_none_or(|host| held.contains(&host))
        })
        .map(|r| r.get(0))
        .collect();
    tx.execute(
        "UPDATE sources SET leased_by = $1, leased_until = $2 WHERE id = ANY($3)",
        &[&owner, &timestamp(until), &taken],
    )
    .await?;
    Ok(taken)
}

/// Leases to `owner`, until `until`, those of `hosts` that are free, lapsed at `now`, or
/// `owner`'s already; returns them. One upsert: of two processes claiming one host at once, the
/// second waits for the first's row and then, seeing it held, gets nothing.
pub(super) async fn claim_hosts(
    tx: &Db<'_>,
    owner: &str,
    hosts: &[String],
    now: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<Vec<String>, StoreError> {
    if hosts.is_empty() {
        return Ok(Vec::new());
    }
    Ok(tx
        .query(
            "INSERT INTO host_leases (host, leased_by, leased_until)
             SELECT unnest($1::text[]), $2, $3
             ON CONFLICT (host) DO UPDATE
                SET leased_by = excluded.leased_by, leased_until = excluded.leased_until
                WHERE host_leases.leased_by = excluded.leased_by
                   OR host_leases.leased_until <= $4
             RETURNING host",
            &[&hosts, &owner, &timestamp(until), &timestamp(now)],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect())
}

/// Ends `owner`'s leases on `sources` (polled and written, or taken and not polled after all).
pub(super) async fn release(tx: &Db<'_>, owner: &str, sources: &[i64]) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE sources SET leased_by = NULL, leased_until = NULL
         WHERE leased_by = $1 AND id = ANY($2)",
        &[&owner, &sources],
    )
    .await?;
    Ok(())
}

/// Ends every lease `owner` holds, of sources and hosts: the process is stopping, and the others
/// need not wait for its leases to lapse.
pub(super) async fn release_all(tx: &Db<'_>, owner: &str) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE sources SET leased_by = NULL, leased_until = NULL WHERE leased_by = $1",
        &[&owner],
    )
    .await?;
    tx.execute("DELETE FROM host_leases WHERE leased_by = $1", &[&owner])
        .await?;
    Ok(())
}
