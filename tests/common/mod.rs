//! Shared by the integration tests: a real HTTP/1.1 server on 127.0.0.1 whose routes the test
//! sets and changes, which records every request it receives and can misbehave on purpose;
//! helpers to write a configuration, run the real binary and open the real database; and a
//! throwaway PostgreSQL cluster (`postgres`).
#![allow(dead_code)]

pub mod postgres;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// How a route answers.
#[derive(Clone, Debug)]
pub enum Reply {
    /// A full response. When `etag` or `last_modified` is set, a request carrying the matching
    /// validator gets a 304, as a real server would.
    Ok {
        status: u16,
        content_type: String,
        body: Vec<u8>,
        etag: Option<String>,
        last_modified: Option<String>,
        extra_headers: Vec<(String, String)>,
    },
    /// Accepts the request and never answers (until the server stops).
    Hang,
    /// Waits, then answers as the inner reply.
    Slow(Duration, Box<Reply>),
    /// A 200 whose body never ends: `chunk` bytes every `pause`, until the client leaves.
    Endless { chunk: usize, pause: Duration },
}

impl Reply {
    pub fn feed(body: impl Into<Vec<u8>>) -> Reply {
        Reply::Ok {
            status: 200,
            content_type: "application/rss+xml; charset=utf-8".into(),
            body: body.into(),
            etag: None,
            last_modified: None,
            extra_headers: Vec::new(),
        }
    }

    pub fn status(status: u16, body: &str) -> Reply {
        Reply::Ok {
            status,
            content_type: "text/html; charset=utf-8".into(),
            body: body.as_bytes().to_vec(),
            etag: None,
            last_modified: None,
            extra_headers: Vec::new(),
        }
    }

    /// A redirect to `location` (a path on this server or a URL).
    pub fn redirect(status: u16, location: &str) -> Reply {
        Reply::status(status, "").with_header("Location", location)
    }

    pub fn with_etag(mut self, value: &str) -> Reply {
        if let Reply::Ok { etag, .. } = &mut self {
            *etag = Some(value.into());
        }
        self
    }

    pub fn with_last_modified(mut self, value: &str) -> Reply {
        if let Reply::Ok { last_modified, .. } = &mut self {
            *last_modified = Some(value.into());
        }
        self
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Reply {
        if let Reply::Ok { extra_headers, .. } = &mut self {
            extra_headers.push((name.into(), value.into()));
        }
        self
    }

    pub fn with_content_type(mut self, value: &str) -> Reply {
        if let Reply::Ok { content_type, .. } = &mut self {
            *content_type = value.into();
        }
        self
    }
}

/// A request as the server saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub path: String,
    /// Header names in lower case.
    pub headers: HashMap<String, String>,
    pub status: u16,
    /// When the request arrived.
    pub at: Instant,
}

#[derive(Default)]
struct State {
    routes: HashMap<String, Reply>,
    seen: Vec<Seen>,
    active: usize,
    max_active: usize,
}

pub struct TestServer {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl TestServer {
    pub fn start() -> TestServer {
        TestServer::start_at("127.0.0.1")
    }

    /// A server on another loopback address: another host as far as gleaner can tell.
    pub fn start_at(ip: &str) -> TestServer {
        let listener = TcpListener::bind((ip, 0)).expect("binding a loopback address");
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let state = Arc::clone(&state);
            let stop = Arc::clone(&stop);
            thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            let state = Arc::clone(&state);
                            let stop = Arc::clone(&stop);
                            thread::spawn(move || serve(stream, &state, &stop));
                        }
                        Err(_) => thread::sleep(Duration::from_millis(5)),
                    }
                }
            })
        };
        TestServer {
            addr,
            state,
            stop,
            thread: Some(thread),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn route(&self, path: &str, reply: Reply) {
        self.state.lock().unwrap().routes.insert(path.into(), reply);
    }

    /// The most requests this server had in flight at once.
    pub fn max_in_flight(&self) -> usize {
        self.state.lock().unwrap().max_active
    }

    /// Every request received, in order.
    pub fn all_seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }

    /// Every request received for `path`, in order.
    pub fn seen(&self, path: &str) -> Vec<Seen> {
        self.state
            .lock()
            .unwrap()
            .seen
            .iter()
            .filter(|s| s.path == path)
            .cloned()
            .collect()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(mut stream: TcpStream, state: &Mutex<State>, stop: &AtomicBool) {
    stream.set_nonblocking(false).ok();
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let path = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or("/")
        .to_owned();
    let mut headers = HashMap::new();
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) if line == "\r\n" || line == "\n" => break,
            Ok(_) => {
                if let Some((name, value)) = line.split_once(':') {
                    headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
                }
            }
        }
    }
    let at = Instant::now();
    let mut reply = {
        let mut state = state.lock().unwrap();
        state.active += 1;
        state.max_active = state.max_active.max(state.active);
        state.routes.get(&path).cloned()
    };
    while let Some(Reply::Slow(delay, inner)) = reply {
        thread::sleep(delay);
        reply = Some(*inner);
    }
    let (status, response) = match reply {
        None => (404, response(404, "text/plain", &[], b"not found")),
        Some(Reply::Slow(..)) => unreachable!("unwrapped above"),
        Some(Reply::Endless { chunk, pause }) => {
            finish(
                state,
                Seen {
                    path,
                    headers,
                    status: 200,
                    at,
                },
            );
            let head = "HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nConnection: close\r\n\r\n<rss version=\"2.0\"><channel><title>";
            if stream.write_all(head.as_bytes()).is_err() {
                return;
            }
            let filler = vec![b'x'; chunk];
            while !stop.load(Ordering::Relaxed) && stream.write_all(&filler).is_ok() {
                thread::sleep(pause);
            }
            return;
        }
        Some(Reply::Hang) => {
            finish(
                state,
                Seen {
                    path,
                    headers,
                    status: 0,
                    at,
                },
            );
            while !stop.load(Ordering::Relaxed) {
                thread::sleep(Duration::from_millis(20));
            }
            return;
        }
        Some(Reply::Ok {
            status,
            content_type,
            body,
            etag,
            last_modified,
            extra_headers,
        }) => {
            let matches_etag = etag.is_some() && headers.get("if-none-match") == etag.as_ref();
            let matches_date = etag.is_none()
                && last_modified.is_some()
                && headers.get("if-modified-since") == last_modified.as_ref();
            let mut all: Vec<(String, String)> = extra_headers;
            if let Some(e) = etag {
                all.push(("ETag".into(), e));
            }
            if let Some(l) = last_modified {
                all.push(("Last-Modified".into(), l));
            }
            if matches_etag || matches_date {
                (304, response(304, &content_type, &all, b""))
            } else {
                (status, response(status, &content_type, &all, &body))
            }
        }
    };
    finish(
        state,
        Seen {
            path,
            headers,
            status,
            at,
        },
    );
    let _ = stream.write_all(&response);
    let _ = stream.flush();
    // Let the client read everything before the socket closes.
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let _ = reader.read(&mut [0u8; 64]);
}

/// Records a request as seen and no longer in flight.
fn finish(state: &Mutex<State>, seen: Seen) {
    let mut state = state.lock().unwrap();
    state.seen.push(seen);
    state.active -= 1;
}

fn response(status: u16, content_type: &str, headers: &[(String, String)], body: &[u8]) -> Vec<u8> {
    let mut head =
        format!("HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if status != 304 {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// The real binary.
pub fn gleaner() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_gleaner"));
    command
        .env_remove("GLEANER_CONFIG")
        .env_remove("GLEANER_DATABASE")
        .env_remove("GLEANER_LOG");
    command
}

/// Runs the binary to completion with `args` and an empty stdin.
pub fn run(args: &[&str]) -> Output {
    gleaner()
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("running gleaner")
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A temporary folder with a configuration in it.
pub struct Workspace {
    pub dir: tempfile::TempDir,
}

impl Workspace {
    pub fn new() -> Workspace {
        Workspace {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn config(&self) -> PathBuf {
        self.path("gleaner.toml")
    }

    pub fn db(&self) -> PathBuf {
        self.path("gleaner.db")
    }

    /// Writes `gleaner.toml` with `head` (global settings) and one `[[sources]]` per URL.
    pub fn write_config(&self, head: &str, sources: &[(&str, &str)]) {
        let mut text = format!("database = \"gleaner.db\"\n{head}\n");
        for (name, url) in sources {
            text.push_str(&format!(
                "\n[[sources]]\nname = \"{name}\"\nurl = \"{url}\"\n"
            ));
        }
        std::fs::write(self.config(), text).unwrap();
    }

    /// `gleaner once --force` on this workspace (poll every source now); asserts success.
    pub fn once(&self) -> Output {
        self.run_once(&["--force"])
    }

    /// `gleaner once` (only the sources that are due); asserts success.
    pub fn once_due(&self) -> Output {
        self.run_once(&[])
    }

    fn run_once(&self, extra: &[&str]) -> Output {
        let config = self.config();
        let mut args = vec!["--config", config.to_str().unwrap(), "once"];
        args.extend_from_slice(extra);
        let output = run(&args);
        assert!(
            output.status.success(),
            "gleaner once failed: {}",
            stderr(&output)
        );
        output
    }

    pub fn open_db(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(self.db()).unwrap()
    }
}

pub fn count(conn: &rusqlite::Connection, sql: &str) -> i64 {
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

/// Waits until `check` holds, polling, or panics with `what` after `limit`.
pub fn wait_for(limit: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(50));
    }
}

/// An RSS 2.0 document with the given items, each (guid, link, title, pubDate, html body).
pub fn rss(items: &[(&str, &str, &str, &str, &str)]) -> String {
    let mut xml = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rss version=\"2.0\"><channel>\
         <title>Test feed</title><link>https://example.org/</link><description>d</description>\n",
    );
    for (guid, link, title, date, body) in items {
        xml.push_str("<item>");
        if !guid.is_empty() {
            xml.push_str(&format!("<guid isPermaLink=\"false\">{guid}</guid>"));
        }
        if !link.is_empty() {
            xml.push_str(&format!("<link>{link}</link>"));
        }
        xml.push_str(&format!(
            "<title>{title}</title><pubDate>{date}</pubDate><description><![CDATA[{body}]]></description></item>\n"
        ));
    }
    xml.push_str("</channel></rss>\n");
    xml
}

/// A feed of one item whose guid, link path and title are `tag`.
pub fn tagged_feed(tag: &str) -> Reply {
    Reply::feed(rss(&[(
        tag,
        &format!("https://example.org/{tag}"),
        tag,
        "Fri, 03 Feb 2023 10:00:00 +0000",
        "<p>x</p>",
    )]))
}

/// The bundled seed with its one stray empty paragraph collapsed: what gleaner must store.
pub fn seed_document() -> String {
    let seed = std::fs::read_to_string(fixture("seed/000_84bee846af57b8c6.txt")).unwrap();
    seed.replace("\n\n\n\n", "\n\n")
}

pub fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

/// A running `gleaner run`, its stderr collected as it comes (so a chatty daemon never blocks
/// on a full pipe, and a test can wait for a line of the log).
pub struct Daemon {
    pub child: Child,
    log: Arc<Mutex<String>>,
}

impl Daemon {
    pub fn start(ws: &Workspace) -> Daemon {
        Daemon::start_with(ws, |_| {})
    }

    pub fn start_with(ws: &Workspace, setup: impl FnOnce(&mut Command)) -> Daemon {
        Daemon::start_on(&ws.config(), setup)
    }

    /// `gleaner run` on the configuration at `config`.
    pub fn start_on(config: &Path, setup: impl FnOnce(&mut Command)) -> Daemon {
        let mut command = gleaner();
        command
            .args(["--config", config.to_str().unwrap(), "run"])
            .env("GLEANER_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        setup(&mut command);
        let mut child = command.spawn().expect("starting gleaner run");
        let log = Arc::new(Mutex::new(String::new()));
        let mut stderr = child.stderr.take().unwrap();
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            while let Ok(n) = stderr.read(&mut buffer) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buffer[..n]));
            }
        });
        Daemon { child, log }
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    pub fn wait_for_log(&self, limit: Duration, text: &str) {
        wait_for(limit, &format!("{text:?} in the log"), || {
            self.log().contains(text)
        });
    }

    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the exit, up to `limit`; returns the exit status and the log.
    pub fn wait(mut self, limit: Duration) -> (std::process::ExitStatus, String) {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                // The reader thread sees the end of the pipe right after the exit.
                std::thread::sleep(Duration::from_millis(100));
                return (status, self.log());
            }
            assert!(
                start.elapsed() < limit,
                "gleaner did not stop within {limit:?}: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Daemon {
    /// Kills the process at once (SIGKILL): no clean stop, as a crash or a lost machine.
    pub fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A body long enough to be fingerprinted (near-duplicates), about `topic`.
pub fn long_body(topic: &str) -> String {
    format!(
        "<p>The committee on {topic} met on Monday to review the proposals submitted over the \
         summer, and its chair said a decision would follow within weeks.</p>\
         <p>Members heard from residents, engineers and two former officials, who disagreed on \
         the cost and on how quickly the work on {topic} could begin.</p>\
         <p>A report published alongside the hearing estimated that the first phase would take \
         eighteen months and warned that delays in procurement were the largest risk.</p>\
         <p>Opponents said the consultation had been too short and asked for another round of \
         public meetings before any money is committed to {topic}.</p>"
    )
}
