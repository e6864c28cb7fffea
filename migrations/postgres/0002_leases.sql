-- Version 2: several gleaner processes on one database share the sources (issue 10). There is
-- no SQLite counterpart: one process runs on a SQLite file (its lock file says so).
--
-- A process leases the due sources it is about to poll (`leased_by`, `leased_until`), taken with
-- SELECT ... FOR UPDATE SKIP LOCKED so that two processes never take the same one; writing the
-- poll ends the lease. It also leases the host of each (`host_leases`): a host is polled by one
-- process at a time, so the per-host limits (`per_host`, `host_delay`, [hosts]) hold across
-- processes as they hold within one. A process renews its leases while it works (every few
-- seconds); one that dies stops renewing, and once `leased_until` has passed the others take its
-- sources and hosts over. `leased_by` names the process: "HOST pid PID since TIME".
ALTER TABLE sources
    ADD COLUMN leased_by    text COLLATE "C",
    ADD COLUMN leased_until text COLLATE "C",
    -- The URL's host, as the leases and host blocks name it (NULL for a file).
    ADD COLUMN host         text COLLATE "C" GENERATED ALWAYS AS (
        lower(substring(url FROM '^[A-Za-z][A-Za-z0-9+.-]*://(?:[^@/?#]*@)?(\[[^]]*\]|[^:/?#]+)'))
    ) STORED;

CREATE TABLE host_leases (
    host         text COLLATE "C" PRIMARY KEY,
    leased_by    text COLLATE "C" NOT NULL,
    leased_until text COLLATE "C" NOT NULL
);

-- The sources free to lease, in the order they are leased: never polled first, then soonest.
-- An index scan that stops at the lease's limit, instead of sorting every due source, and that
-- never walks the sources being polled (leased), which other processes would pass over one by
-- one on every ask.
CREATE INDEX sources_due ON sources (next_poll_at NULLS FIRST, id)
    WHERE status = 'active' AND leased_by IS NULL;
-- The leases held: those that lapsed (their process died) are taken over first.
CREATE INDEX sources_leased ON sources (leased_until) WHERE leased_by IS NOT NULL;

UPDATE schema_version SET version = 2;
