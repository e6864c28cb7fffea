#!/usr/bin/env python3
"""Cold and warm polling passes of `gleaner run` over thousands of feeds, on SQLite (one process)
and on PostgreSQL (one process, and three processes sharing one database).

    python3 benches/postgres_cycle.py                  # 10,000 sources
    python3 benches/postgres_cycle.py --sizes 1000,10000
    python3 benches/postgres_cycle.py --configs pg-3 --processes 3

The feeds are poll_cycle.py's (20 items of three paragraphs each), served by nginx on `--hosts`
loopback addresses (127.0.0.1, 127.0.0.2, ...; feed n on address n % hosts + 1), because a host is
polled by one process at a time: with every feed on one host, three processes could not help.
Every configuration has the same settings: concurrency 16 per process, per_host 4, host_delay
"0s", full_text "never", interval "1d".

PostgreSQL is a throwaway cluster: initdb into a temporary folder, started with pg_ctl on a Unix
socket in that folder (no TCP), the server's default settings otherwise (fsync and
synchronous_commit on: the settings in use are printed), stopped and deleted at the end, on a
failure or Ctrl-C too. As root, the server runs as the user `postgres` (runuser), as the tests'
cluster does (tests/common/postgres.rs). Each configuration gets a new database.

A cold pass starts the process(es) on an empty database and times until every source has a
`fetches` row (the database is read every 0.2 s), then stops them with SIGTERM and waits for their
clean exit. A warm pass sets every source due again (`UPDATE sources SET next_poll_at = NULL`,
daemons stopped), starts them again and times until every source has its second `fetches` row;
nginx answers 304 to the conditional GETs. Printed per pass: wall time (and the time to the first
poll), polls/s, CPU time of the gleaner processes and of the PostgreSQL backends serving them
(the postmaster's reaped children), articles stored, database size, peak RSS of each process. Checked: every fetch
succeeded, no source was polled twice in a pass, every process exited with 0, and every
configuration stored the same number of articles.

Needs, on a fresh Debian: nginx-light, postgresql (server programs in
/usr/lib/postgresql/<version>/bin, else initdb on PATH; psql) and Rust to build gleaner in
release. Not part of `cargo test`.
"""

import argparse
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no benches/__pycache__ left in the checkout
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from poll_cycle import ROOT, free_port, start_nginx, write_feeds  # noqa: E402

CONCURRENCY = 16
PER_HOST = 4
POLL_EVERY = 0.2
CONFIGS = {"sqlite-1": ("sqlite", 1), "pg-1": ("postgres", 1), "pg-3": ("postgres", 3)}


class Stop(Exception):
    """SIGTERM to this script: clean up as for Ctrl-C."""


def on_sigterm(_signum, _frame):
    raise Stop()


def server_programs():
    """The folder of initdb and pg_ctl: Debian's newest version, else the one on PATH."""
    versions = []
    if os.path.isdir("/usr/lib/postgresql"):
        for name in os.listdir("/usr/lib/postgresql"):
            bin_dir = os.path.join("/usr/lib/postgresql", name, "bin")
            if name.isdigit() and os.path.isfile(os.path.join(bin_dir, "initdb")):
                versions.append((int(name), bin_dir))
    if versions:
        return max(versions)[1]
    initdb = shutil.which("initdb")
    if initdb:
        return os.path.dirname(os.path.realpath(initdb))
    sys.exit("PostgreSQL's server programs are needed (Debian: apt-get install postgresql)")


class Cluster:
    """A throwaway PostgreSQL cluster on a Unix socket in a temporary folder."""

    USER = "gleaner"

    def __init__(self):
        self.bin = server_programs()
        self.dir = tempfile.mkdtemp(prefix="gleaner-pg-")
        if len(self.dir) > 90:
            sys.exit(f"{self.dir} is too long a path for a socket: set TMPDIR to a shorter one")
        self.run_as = []
        if os.geteuid() == 0:  # initdb and postgres refuse root
            import pwd
            user = pwd.getpwnam("postgres")
            os.chown(self.dir, user.pw_uid, user.pw_gid)
            self.run_as = ["runuser", "-u", "postgres", "--"]
        self.data = os.path.join(self.dir, "data")
        self.started = False

    def program(self, name, *args, check=True):
        cmd = self.run_as + [os.path.join(self.bin, name), *args]
        done = subprocess.run(cmd, cwd=self.dir, stdin=subprocess.DEVNULL, capture_output=True,
                              text=True)
        if check and done.returncode != 0:
            raise RuntimeError(f"{name} failed: {done.stdout}{done.stderr}")
        return done

    def start(self, extra_options=""):
        self.program("initdb", "--pgdata", self.data, "--username", self.USER, "--auth", "trust",
                     "--no-locale", "--encoding", "UTF8")
        self.started = True
        options = f"-c listen_addresses='' -k {self.dir} {extra_options}"
        done = self.program("pg_ctl", "start", "--pgdata", self.data, "--log",
                            os.path.join(self.dir, "server.log"), "--wait", "--timeout", "60",
                            "-o", options, check=False)
        if done.returncode != 0:
            with open(os.path.join(self.dir, "server.log")) as f:
                raise RuntimeError(f"pg_ctl start failed: {done.stdout}{done.stderr}\n{f.read()}")

    def stop(self):
        if self.started and os.path.exists(os.path.join(self.data, "postmaster.pid")):
            self.program("pg_ctl", "stop", "--pgdata", self.data, "--mode", "fast", "--wait",
                         "--timeout", "60", check=False)
        shutil.rmtree(self.dir, ignore_errors=True)

    def backends_cpu(self):
        """CPU seconds of the server's ended backends so far (the postmaster's reaped children:
        a daemon's backend ends with its connection)."""
        with open(os.path.join(self.data, "postmaster.pid")) as f:
            pid = f.readline().strip()
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")

    def createdb(self, name):
        self.program("createdb", "--host", self.dir, "--username", self.USER, name)
        return f"postgresql://{self.USER}@/{name}?host={self.dir}"

    def psql(self, database, sql):
        done = subprocess.run(
            ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", self.dir, "-U",
             self.USER, "-d", database, "-c", sql],
            stdin=subprocess.DEVNULL, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"psql failed on {sql!r}: {done.stderr}")
        return done.stdout.strip()

    def settings(self):
        names = ["server_version", "fsync", "synchronous_commit", "full_page_writes",
                 "shared_buffers", "wal_buffers", "max_wal_size", "checkpoint_timeout"]
        rows = self.psql("postgres", "SELECT name, setting || coalesce(' ' || unit, '') "
                                     "FROM pg_settings WHERE name IN ("
                         + ", ".join(f"'{n}'" for n in names) + ") ORDER BY name")
        return ", ".join(row.replace("|", " = ") for row in rows.splitlines())


class SqliteDb:
    def __init__(self, path):
        self.path = path
        self.url = path

    def query(self, sql):
        conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30)
        try:
            return conn.execute(sql).fetchone()[0]
        finally:
            conn.close()

    def execute(self, sql):
        conn = sqlite3.connect(self.path, timeout=30)
        try:
            conn.execute(sql)
            conn.commit()
        finally:
            conn.close()

    def polls(self):
        """Rows in `fetches`; 0 before the schema is made."""
        try:
            return self.query("SELECT count(*) FROM fetches")
        except sqlite3.Error:
            return 0

    def size(self):
        return sum(os.path.getsize(self.path + suffix) for suffix in ("", "-wal")
                   if os.path.exists(self.path + suffix))


class PostgresDb:
    def __init__(self, cluster, name):
        self.cluster = cluster
        self.name = name
        self.url = cluster.createdb(name)

    def query(self, sql):
        out = self.cluster.psql(self.name, sql)
        return int(out) if out.lstrip("-").isdigit() else out

    def execute(self, sql):
        self.cluster.psql(self.name, sql)

    def polls(self):
        """Rows in `fetches`; 0 before the schema is made."""
        try:
            return self.query("SELECT count(*) FROM fetches")
        except RuntimeError:
            return 0

    def size(self):
        return self.query("SELECT pg_database_size(current_database())")


def write_config(path, database, urls):
    with open(path, "w") as f:
        f.write(f'database = "{database}"\nconcurrency = {CONCURRENCY}\nper_host = {PER_HOST}\n'
                'host_delay = "0s"\nfull_text = "never"\ninterval = "1d"\n')
        for url in urls:
            f.write(f'[[sources]]\nurl = "{url}"\n')


def one_pass(gleaner, config, processes, db, baseline, target, work, label, timeout):
    """Starts `processes` daemons and waits until `fetches` has `target` rows (`baseline`
    before); stops them.
    Returns (seconds to done, seconds to the first poll, [peak RSS MiB], CPU seconds of the
    daemons, [exit codes])."""
    procs = []
    logs = []
    start = time.monotonic()
    try:
        for i in range(processes):
            log = open(os.path.join(work, f"{label}-{i}.log"), "w")
            logs.append(log)
            procs.append(subprocess.Popen([gleaner, "--config", config, "run"],
                                          stdout=subprocess.DEVNULL, stderr=log,
                                          start_new_session=True))
        first = None
        while True:
            time.sleep(POLL_EVERY)
            done = db.polls()
            now = time.monotonic()
            if first is None and done > baseline:
                first = now - start
            if done >= target:
                elapsed = now - start
                break
            if now - start > timeout:
                raise RuntimeError(f"{label}: {done} of {target} polls after {timeout} s")
            dead = [p.returncode for p in procs if p.poll() is not None]
            if dead:
                raise RuntimeError(f"{label}: a gleaner exited ({dead}): see {work}/{label}-*.log")
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        peaks, codes, cpu = [], [], 0.0
        for p in procs:
            if p.returncode is None:
                try:
                    _, status, usage = os.wait4(p.pid, 0)
                except ChildProcessError:
                    status, usage = 0, None
                p.returncode = os.waitstatus_to_exitcode(status)
                peaks.append(usage.ru_maxrss / 1024 if usage else float("nan"))
                cpu += usage.ru_utime + usage.ru_stime if usage else float("nan")
            else:
                peaks.append(float("nan"))
            codes.append(p.returncode)
        for log in logs:
            log.close()
    return elapsed, first, peaks, cpu, codes


def check(db, polls_each, size):
    """What a finished pass left: (articles, problems)."""
    problems = []
    wrong = db.query("SELECT count(*) FROM (SELECT source_id FROM fetches GROUP BY source_id "
                     f"HAVING count(*) <> {polls_each}) AS t")
    unpolled = db.query(f"SELECT {size} - count(DISTINCT source_id) FROM fetches")
    if wrong or unpolled:
        problems.append(f"{wrong} sources not polled exactly {polls_each}x, {unpolled} never")
    failed = db.query("SELECT count(*) FROM fetches WHERE error_class IS NOT NULL")
    if failed:
        problems.append(f"{failed} failed fetches")
    if polls_each == 2:
        not_modified = db.query("SELECT count(*) FROM fetches WHERE not_modified = 1")
        if not_modified != size:
            problems.append(f"{not_modified} of {size} warm polls were 304")
    return db.query("SELECT count(*) FROM articles"), problems


def run_config(name, gleaner, cluster, work, urls, size, timeout):
    engine, processes = CONFIGS[name]
    if engine == "sqlite":
        db = SqliteDb(os.path.join(work, f"{name}.db"))
    else:
        db = PostgresDb(cluster, f"bench_{name.replace('-', '_')}_{size}")
    config = os.path.join(work, f"{name}.toml")
    write_config(config, db.url, urls)
    results = []
    for polls_each in (1, 2):
        label = f"{name}-{'cold' if polls_each == 1 else 'warm'}"
        if polls_each == 2:
            db.execute("UPDATE sources SET next_poll_at = NULL")
        server_before = cluster.backends_cpu() if engine == "postgres" else 0.0
        seconds, first, peaks, cpu, codes = one_pass(gleaner, config, processes, db,
                                                size * (polls_each - 1), size * polls_each,
                                                work, label, timeout)
        server_cpu = cluster.backends_cpu() - server_before if engine == "postgres" else None
        articles, problems = check(db, polls_each, size)
        if any(codes):
            problems.append(f"exit codes {codes}")
        results.append((label, seconds, first, peaks, (cpu, server_cpu), articles, db.size(),
                        problems))
    return results


def main():
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--sizes", default="10000")
    parser.add_argument("--hosts", type=int, default=50, help="loopback addresses serving feeds")
    parser.add_argument("--configs", default=",".join(CONFIGS),
                        help="of " + ", ".join(CONFIGS))
    parser.add_argument("--server-options", default="",
                        help="more postgres options, e.g. \"-c synchronous_commit=off\"")
    parser.add_argument("--timeout", type=float, default=1800, help="longest pass, in seconds")
    args = parser.parse_args()
    configs = args.configs.split(",")
    for name in configs:
        if name not in CONFIGS:
            sys.exit(f"unknown configuration {name}: one of {', '.join(CONFIGS)}")
    for tool in ("nginx", "psql"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is needed (Debian: apt-get install nginx-light postgresql)")
    if not 1 <= args.hosts <= 254:
        sys.exit("--hosts is between 1 and 254")
    signal.signal(signal.SIGTERM, on_sigterm)
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    gleaner = os.path.join(ROOT, "target", "release", "gleaner")
    cluster = Cluster()
    try:
        if any(CONFIGS[c][0] == "postgres" for c in configs):
            cluster.start(args.server_options)
            print(f"PostgreSQL: {cluster.settings()}")
        print(f"each process: concurrency {CONCURRENCY}, per_host {PER_HOST}, host_delay 0s, "
              f"full_text never; feeds on {args.hosts} loopback hosts; {os.cpu_count()} CPUs")
        print(f"{'sources':>8} {'config':<9} {'pass':<5} {'wall s':>8} {'first s':>8} "
              f"{'polls/s':>8} {'CPU s':>7} {'PG CPU':>7} {'articles':>9} {'DB MB':>7}  peak RSS MiB per process")
        sys.stdout.flush()
        for size in [int(s) for s in args.sizes.split(",")]:
            run_size(size, args, configs, gleaner, cluster)
    except (KeyboardInterrupt, Stop):
        print("interrupted: cleaning up", file=sys.stderr)
        sys.exit(130)
    finally:
        cluster.stop()


def run_size(size, args, configs, gleaner, cluster):
    work = tempfile.mkdtemp(prefix=f"gleaner-pgbench-{size}-")
    os.chmod(work, 0o755)
    write_feeds(os.path.join(work, "feeds"), size)
    port = free_port()
    addresses = [f"127.0.0.{h}" for h in range(1, args.hosts + 1)]
    nginx = start_nginx(work, port, addresses)
    urls = [f"http://{addresses[n % args.hosts]}:{port}/feed{n}.xml" for n in range(size)]
    articles = {}
    failed = False
    try:
        for name in configs:
            for label, seconds, first, peaks, cpu, stored, db_size, problems in run_config(
                    name, gleaner, cluster, work, urls, size, args.timeout):
                articles[name] = stored
                rss = " ".join(f"{p:.0f}" for p in peaks)
                print(f"{size:>8} {name:<9} {label.rsplit('-', 1)[1]:<5} {seconds:>8.2f} "
                      f"{first if first is not None else float('nan'):>8.2f} "
                      f"{size / seconds:>8.0f} {cpu[0]:>7.1f} "
                      f"{'-' if cpu[1] is None else format(cpu[1], '.1f'):>7} {stored:>9} {db_size / 1e6:>7.0f}  {rss}")
                for problem in problems:
                    failed = True
                    print(f"{'':>8} PROBLEM: {problem}")
                sys.stdout.flush()
        if len(set(articles.values())) > 1:
            failed = True
            print(f"{'':>8} PROBLEM: article counts differ: {articles}")
    finally:
        nginx.send_signal(signal.SIGQUIT)
        nginx.wait(timeout=10)
    if failed:
        print(f"{'':>8} logs kept in {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
