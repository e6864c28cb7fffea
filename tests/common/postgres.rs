//! A real PostgreSQL for the tests: a throwaway cluster (`initdb` into a temporary folder,
//! `pg_ctl start` listening on a Unix socket in that folder only, no TCP), shared by the tests
//! of one test binary while any of them holds it, stopped (`pg_ctl stop -m fast`) when the last
//! one lets go, a panicking test included. Each test takes a database of its own
//! ([`Cluster::database`]).
//!
//! The server programs are Debian's (package `postgresql`, which `.ci/run` installs):
//! `/usr/lib/postgresql/<version>/bin/`, the newest version first, else `initdb` on PATH. A test
//! that finds none fails, naming the package: the tests never skip PostgreSQL silently.
//!
//! initdb and postgres refuse to run as root, and CI runs as root: then the server runs as the
//! `postgres` user the Debian package creates (`runuser -u postgres --`), in a folder handed to
//! it. The cluster's superuser is `gleaner`, trusted on the socket (a throwaway cluster that
//! only this machine's socket reaches).

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

/// The package that has the server programs, named by every failure to find them.
const PACKAGE: &str =
    "the Debian package `postgresql` (apt-get install postgresql; .ci/run installs it)";

/// The user the server runs as when the tests run as root.
const SERVER_USER: &str = "postgres";

/// The cluster's superuser.
pub const USER: &str = "gleaner";

/// The cluster every test of this binary shares while one holds it.
static SHARED: Mutex<Weak<Cluster>> = Mutex::new(Weak::new());

static DATABASES: AtomicUsize = AtomicUsize::new(0);

/// A running throwaway cluster; stopped and deleted when dropped.
pub struct Cluster {
    bin: PathBuf,
    /// Holds the data folder, the socket and the log; deleted last.
    dir: tempfile::TempDir,
    /// `Some(user)` when the server runs as another user (the tests run as root).
    run_as: Option<&'static str>,
    /// The port of its socket (and of 127.0.0.1 when it listens there).
    port: u16,
    /// How long initdb and the start took.
    pub started_in: Duration,
}

impl Cluster {
    /// The cluster of this test binary, started if no test holds one now.
    pub fn shared() -> Arc<Cluster> {
        let mut shared = SHARED.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(cluster) = shared.upgrade() {
            return cluster;
        }
        let cluster = Arc::new(Cluster::start());
        *shared = Arc::downgrade(&cluster);
        cluster
    }

    /// initdb into a new temporary folder and start the server on a socket in it.
    pub fn start() -> Cluster {
        Cluster::start_with(5432, |_| "-c listen_addresses=''".to_owned())
    }

    /// A cluster of its own that also listens on 127.0.0.1:`port` with TLS only (hostssl), its
    /// certificate (for IP 127.0.0.1) signed by a throwaway CA made with the `openssl` program:
    /// `<dir>/ca.crt`, returned.
    pub fn start_tls(port: u16) -> (Cluster, PathBuf) {
        let mut ca = None;
        let cluster = Cluster::start_with(port, |dir| {
            let openssl = |args: &[&str]| {
                let output = Command::new("openssl")
                    .args(args)
                    .current_dir(dir)
                    .output()
                    .expect("the `openssl` program (Debian package openssl)");
                assert!(
                    output.status.success(),
                    "openssl {args:?}:\n{}",
                    text(&output)
                );
            };
            let ec = [
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
            ];
            openssl(
                &[
                    &["req", "-x509"][..],
                    &ec,
                    &[
                        "-keyout",
                        "ca.key",
                        "-out",
                        "ca.crt",
                        "-days",
                        "2",
                        "-subj",
                        "/CN=gleaner test CA",
                        "-addext",
                        "basicConstraints=critical,CA:TRUE",
                        "-addext",
                        "keyUsage=critical,keyCertSign,cRLSign",
                    ],
                ]
                .concat(),
            );
            openssl(
                &[
                    &["req"][..],
                    &ec,
                    &[
                        "-keyout",
                        "server.key",
                        "-out",
                        "server.csr",
                        "-subj",
                        "/CN=127.0.0.1",
                    ],
                ]
                .concat(),
            );
            std::fs::write(
                dir.join("server.ext"),
                "subjectAltName=IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\n\
                 extendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\n",
            )
            .unwrap();
            openssl(&[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "server.crt",
                "-days",
                "2",
                "-extfile",
                "server.ext",
            ]);
            ca = Some(dir.join("ca.crt"));
            format!(
                "-c listen_addresses=127.0.0.1 -c ssl=on -c log_connections=on \
                 -c ssl_cert_file={0}/server.crt -c ssl_key_file={0}/server.key",
                dir.display()
            )
        });
        (cluster, ca.expect("made above"))
    }

    /// The server's log so far.
    pub fn server_log(&self) -> String {
        std::fs::read_to_string(self.log()).unwrap_or_default()
    }

    /// As [`Cluster::start`], with the server options `listen(dir)` gives (`dir` is the
    /// cluster's folder, not handed to the server user yet).
    fn start_with(port: u16, listen: impl FnOnce(&Path) -> String) -> Cluster {
        let began = Instant::now();
        let bin = server_programs();
        let dir = tempfile::Builder::new()
            .prefix("gleaner-pg")
            .tempdir()
            .unwrap();
        // The socket's path must fit in sun_path (107 bytes): `<dir>/.s.PGSQL.5432`.
        assert!(
            dir.path().as_os_str().len() < 90,
            "the temporary folder {} is too long a path for PostgreSQL's socket: set TMPDIR to a shorter one",
            dir.path().display()
        );
        let listen = listen(dir.path());
        let run_as = if is_root(dir.path()) {
            hand_over(dir.path(), SERVER_USER);
            Some(SERVER_USER)
        } else {
            None
        };
        let mut cluster = Cluster {
            bin,
            dir,
            run_as,
            port,
            started_in: Duration::ZERO,
        };
        let data = cluster.data();
        let initdb = cluster.run(
            cluster
                .program("initdb")
                .arg("--pgdata")
                .arg(&data)
                .args(["--username", USER, "--auth", "trust"])
                // Byte-order text and UTF-8, whatever this machine's locale: the schema asks for
                // "C" itself, and a UTF-8 database is what gleaner's text needs.
                .args(["--no-locale", "--encoding", "UTF8", "--no-sync"]),
        );
        assert!(initdb.status.success(), "initdb failed:\n{}", text(&initdb));
        let options = format!(
            "{listen} -p {port} -k {} -c fsync=off -c synchronous_commit=off -c full_page_writes=off",
            cluster.dir.path().display()
        );
        let start = cluster.run(
            cluster
                .program("pg_ctl")
                .arg("start")
                .arg("--pgdata")
                .arg(&data)
                .arg("--log")
                .arg(cluster.log())
                .args(["--wait", "--timeout", "60", "-o", &options]),
        );
        if !start.status.success() {
            let log = std::fs::read_to_string(cluster.log()).unwrap_or_default();
            // Nothing to stop; the folder goes when `cluster` drops.
            panic!("pg_ctl start failed:\n{}\nserver log:\n{log}", text(&start));
        }
        cluster.started_in = began.elapsed();
        cluster
    }

    /// A new, empty database of its own, as a connection string for tokio-postgres.
    pub fn database(&self) -> String {
        self.connection_string(&self.new_database())
    }

    /// A new, empty database of its own: its name.
    pub fn new_database(&self) -> String {
        let name = format!(
            "test_{}_{}",
            std::process::id(),
            DATABASES.fetch_add(1, Ordering::Relaxed)
        );
        let created = self.run(
            self.program("createdb")
                .arg("--host")
                .arg(self.dir.path())
                .args(["--port", &self.port.to_string()])
                .args(["--username", USER, &name]),
        );
        assert!(
            created.status.success(),
            "createdb failed:\n{}",
            text(&created)
        );
        name
    }

    /// A new, empty database of its own, as a `postgresql://` URL (the form gleaner's
    /// `database` setting takes), reaching the server through its Unix socket.
    pub fn database_url(&self) -> String {
        let name = self.new_database();
        let socket: String = self
            .dir
            .path()
            .to_str()
            .expect("a UTF-8 temporary folder")
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect();
        format!(
            "postgresql://{USER}@/{name}?host={socket}&port={}",
            self.port
        )
    }

    pub fn connection_string(&self, database: &str) -> String {
        format!(
            "host={} port={} user={USER} dbname={database}",
            self.dir.path().display(),
            self.port
        )
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    /// One of the cluster's programs, as the server's user, in the cluster's folder (root's
    /// working directory may be closed to that user).
    fn program(&self, name: &str) -> Command {
        let program = self.bin.join(name);
        let mut command = match self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(program);
                c
            }
            None => Command::new(program),
        };
        command.current_dir(self.dir.path());
        command
    }

    fn run(&self, command: &mut Command) -> Output {
        command
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("could not run {command:?}: {e}"))
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if !self.data().join("postmaster.pid").exists() {
            return;
        }
        let stop = self.run(
            self.program("pg_ctl")
                .arg("stop")
                .arg("--pgdata")
                .arg(self.data())
                .args(["--mode", "fast", "--wait", "--timeout", "60"]),
        );
        if !stop.status.success() {
            eprintln!("pg_ctl stop failed:\n{}", text(&stop));
        }
    }
}

/// The folder with initdb, pg_ctl and createdb: Debian's newest, else the one of initdb on PATH.
fn server_programs() -> PathBuf {
    let mut debian: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    debian.sort();
    if let Some((_, bin)) = debian.pop() {
        return bin;
    }
    let on_path = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .map(|dir| dir.join("initdb"))
        .find(|initdb| initdb.is_file());
    match on_path {
        Some(initdb) => {
            let initdb = initdb.canonicalize().unwrap_or(initdb);
            initdb.parent().unwrap().to_owned()
        }
        None => panic!(
            "PostgreSQL's server programs (initdb, pg_ctl) were found neither in \
             /usr/lib/postgresql/<version>/bin nor on PATH: these tests need a real PostgreSQL, \
             from {PACKAGE}"
        ),
    }
}

/// Whether the tests run as root: the owner of the folder they just made.
fn is_root(made: &Path) -> bool {
    std::fs::metadata(made).unwrap().uid() == 0
}

/// Gives `dir` to `user`, the server's user.
fn hand_over(dir: &Path, user: &str) {
    let id = |flag: &str| -> u32 {
        let out = Command::new("id").args([flag, user]).output().unwrap();
        assert!(
            out.status.success(),
            "the tests run as root, and PostgreSQL refuses to: they run it as the user `{user}`, \
             which {PACKAGE} creates, but it does not exist here: {}",
            text(&out)
        );
        String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
    };
    let (uid, gid) = (id("-u"), id("-g"));
    std::os::unix::fs::chown(dir, Some(uid), Some(gid)).unwrap();
    // And what was made in it before (a TLS key the server must read, say).
    for entry in std::fs::read_dir(dir).unwrap() {
        std::os::unix::fs::chown(entry.unwrap().path(), Some(uid), Some(gid)).unwrap();
    }
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}
