//! Protocol-level tests of tinymesos's v1 HTTP APIs against running masters (and agents and
//! executors) in Docker, through a raw HTTP client that sees the exact bytes: status line, headers,
//! chunked framing and RecordIO records. And a third-party v1 client, pymesos 0.2.15 (unchanged),
//! running a task on a 1.0 cluster.
//!
//! The expectations per release are Mesos's, from its public docs (`docs/scheduler-http-api.md`,
//! `docs/maintenance.md`, `docs/operator-http-api.md`) and tinymesos's capability table
//! (`images/tinymesos/src/release.rs`), written out here independently of the code under test:
//!
//! | release | `/api/v1/scheduler` non-leader | `Mesos-Stream-Id` | v1 word | maintenance | `/version` | operator `/api/v1` |
//! |---------|------------------------------|-------------------|---------|-------------|------------|--------------------|
//! | 0.24    | 503                          | —                 | `slave` | 404         | 404        | 404                |
//! | 0.25    | 503                          | —                 | `slave` | served      | 404        | 404                |
//! | 0.28    | 307 → `//leader:5050/api/v1/scheduler` | required | `slave` | served    | served     | 404                |
//! | 1.0     | 307 → `//leader:5050/api/v1/scheduler` | required | `agent` | served    | served     | served             |
//!
//! Every test starts its own ZooKeeper and components on its own Docker network, through the
//! harness's runtime API, labelled `crossgrade.run=<unique run id>` with this process as owner; a
//! [`SweepGuard`] removes all of it when the test ends, passes, fails or panics. The host reaches
//! containers at their address on the test network (no published ports).
//!
//! Images: by default the fixture matrix `tests/fixtures/tinymesos-api.toml` builds them (once per
//! process, under the images lock: `prepare.sh` for 0.24–1.0, then the images by content hash).
//! `TINYMESOS_API_IMAGES=<prefix>` uses `<prefix>/tinymesos-<role>:<release>` and
//! `<prefix>/pymesos:0.2.15` built by hand instead and builds nothing (ZooKeeper stays
//! `crossgrade/zookeeper:3.8`): for trying tinymesos changes without rebuilding every release.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossgrade::runtime::{labels, Backend, ContainerSpec, Engine, SweepGuard, LABEL_RUN};
use serde_json::{json, Value};

mod common;
use common::*;

const ZK_IMAGE: &str = "crossgrade/zookeeper:3.8";
const PYMESOS_VERSION: &str = "0.2.15";

// ---------------------------------------------------------------------------------------------
// Images

/// The repository prefix of the tinymesos and pymesos images; builds them first unless overridden.
fn image_prefix() -> &'static str {
    static PREFIX: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PREFIX.get_or_init(|| match std::env::var("TINYMESOS_API_IMAGES") {
        Ok(p) if !p.is_empty() => p,
        _ => {
            ensure_images(&fixture("tinymesos-api.toml"));
            "crossgrade".to_string()
        }
    })
}

fn tinymesos_image(role: &str, release: &str) -> String {
    format!("{}/tinymesos-{role}:{release}", image_prefix())
}

fn pymesos_image() -> String {
    format!("{}/pymesos:{PYMESOS_VERSION}", image_prefix())
}

// ---------------------------------------------------------------------------------------------
// One test's Docker objects

/// A test's network and containers. Everything carries `crossgrade.run=<run_id>`; dropping the
/// environment (also while panicking) removes it all. On a panic the last log lines of every
/// container are printed first.
struct Env {
    rt: tokio::runtime::Runtime,
    engine: Engine,
    run_id: String,
    net: String,
    labels: HashMap<String, String>,
    /// alias → container id, in start order.
    containers: Mutex<Vec<(String, String)>>,
    /// alias → address on the test network (fixed while the container lives).
    ips: Mutex<HashMap<String, IpAddr>>,
    _sweep: SweepGuard,
}

impl Env {
    fn new(tag: &str) -> Env {
        // Images first (a build may take minutes), before anything runs.
        image_prefix();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let run_id = format!("tmapi-{}-{nanos:08x}-{tag}", std::process::id());
        let rt = rt();
        let engine = rt
            .block_on(Engine::connect())
            .expect("connecting to Docker");
        let sweep = SweepGuard::new(Arc::new(engine.clone()), format!("{LABEL_RUN}={run_id}"));
        let labels = labels(&run_id, None);
        let net = format!("{run_id}-net");
        rt.block_on(engine.create_network(&net, &labels))
            .expect("creating the test network");
        Env {
            rt,
            engine,
            run_id,
            net,
            labels,
            containers: Mutex::new(Vec::new()),
            ips: Mutex::new(HashMap::new()),
            _sweep: sweep,
        }
    }

    /// Starts `image` as `alias` (its hostname and DNS name on the test network).
    fn run(&self, alias: &str, image: &str, args: &[&str]) {
        let spec = ContainerSpec {
            name: format!("{}-{alias}", self.run_id),
            image: image.to_string(),
            hostname: alias.to_string(),
            network: self.net.clone(),
            aliases: vec![alias.to_string()],
            cmd: Some(args.iter().map(|s| s.to_string()).collect()),
            labels: self.labels.clone(),
            ..Default::default()
        };
        let id = self
            .rt
            .block_on(self.engine.start_container(&spec))
            .unwrap_or_else(|e| {
                panic!("starting {alias} from {image}: {e} (build the images: see the module docs)")
            });
        self.containers
            .lock()
            .unwrap()
            .push((alias.to_string(), id));
    }

    fn id(&self, alias: &str) -> String {
        let c = self.containers.lock().unwrap();
        c.iter()
            .find(|(a, _)| a == alias)
            .map(|(_, id)| id.clone())
            .unwrap_or_else(|| panic!("no container {alias} in this test"))
    }

    fn ip(&self, alias: &str) -> IpAddr {
        if let Some(ip) = self.ips.lock().unwrap().get(alias) {
            return *ip;
        }
        let ip = self
            .rt
            .block_on(self.engine.ip_on(&self.id(alias), &self.net))
            .unwrap()
            .unwrap_or_else(|| panic!("{alias} has no address on {}", self.net));
        self.ips.lock().unwrap().insert(alias.to_string(), ip);
        ip
    }

    fn addr(&self, alias: &str, port: u16) -> SocketAddr {
        SocketAddr::new(self.ip(alias), port)
    }

    fn logs(&self, alias: &str) -> String {
        self.rt
            .block_on(self.engine.logs(&self.id(alias), None))
            .unwrap_or_default()
    }

    /// The exit code once the container has stopped.
    fn exit_code(&self, alias: &str) -> Option<i64> {
        let s = self
            .rt
            .block_on(self.engine.status(&self.id(alias)))
            .unwrap();
        if s.running {
            None
        } else {
            s.exit_code
        }
    }

    fn wait_log(&self, alias: &str, needle: &str, within: Duration) {
        wait_for(&format!("{alias} to log {needle:?}"), within, || {
            self.logs(alias).contains(needle)
        });
    }

    /// ZooKeeper as `zookeeper-0`, serving.
    fn zookeeper(&self) {
        self.run("zookeeper-0", ZK_IMAGE, &[]);
        self.wait_log(
            "zookeeper-0",
            "binding to port 0.0.0.0/0.0.0.0:2181",
            Duration::from_secs(90),
        );
    }

    /// `n` masters of `release` contending under `zk_path`, named `<prefix>-<i>`, sending v1
    /// heartbeats every second (`--heartbeat_interval 1secs`); returns the elected one (every
    /// master agrees on it).
    fn masters(&self, release: &str, prefix: &str, zk_path: &str, n: usize) -> Master {
        let zk = format!("zk://zookeeper-0:2181{zk_path}");
        let image = tinymesos_image("master", release);
        let names: Vec<String> = (0..n).map(|i| format!("{prefix}-{i}")).collect();
        for name in &names {
            self.run(
                name,
                &image,
                &[
                    "--zk",
                    &zk,
                    "--hostname",
                    name,
                    "--work_dir",
                    "/var/lib/mesos",
                    "--heartbeat_interval",
                    "1secs",
                ],
            );
        }
        let mut leader = String::new();
        wait_for(
            &format!("one of the {release} masters {names:?} to be elected and all to agree"),
            Duration::from_secs(45),
            || {
                let states: Vec<Option<Value>> = names
                    .iter()
                    .map(|m| get_json(self.addr(m, 5050), "/master/state.json"))
                    .collect();
                let elected: Vec<&String> = names
                    .iter()
                    .zip(&states)
                    .filter(|(_, s)| s.as_ref().is_some_and(|s| s["elected"] == true))
                    .map(|(m, _)| m)
                    .collect();
                let [one] = elected[..] else { return false };
                let agree = states.iter().all(|s| {
                    s.as_ref()
                        .is_some_and(|s| s.pointer("/leader_info/hostname") == Some(&json!(one)))
                });
                leader = one.clone();
                agree
            },
        );
        Master {
            release: release.to_string(),
            leader: leader.clone(),
            addr: self.addr(&leader, 5050),
            all: names,
            zk,
        }
    }

    /// An agent `agent-0` of `release` registered with `m`'s leader.
    fn agent(&self, release: &str, m: &Master, resources: &str) {
        self.run(
            "agent-0",
            &tinymesos_image("agent", release),
            &[
                "--master",
                &m.zk,
                "--hostname",
                "agent-0",
                "--work_dir",
                "/var/lib/mesos",
                "--resources",
                resources,
            ],
        );
        wait_for(
            &format!("agent-0 ({release}) to register with {}", m.leader),
            Duration::from_secs(45),
            || {
                get_json(self.addr("agent-0", 5051), "/slave(1)/state.json").is_some_and(|s| {
                    s["registered"] == true && s["master_hostname"] == json!(m.leader)
                })
            },
        );
    }

    /// An executor `executor-0` of `release` registered with `agent-0`.
    fn executor(&self, release: &str) {
        self.run(
            "executor-0",
            &tinymesos_image("executor", release),
            &["--agent", "agent-0:5051", "--hostname", "executor-0"],
        );
        wait_for(
            &format!("executor-0 ({release}) to register with agent-0"),
            Duration::from_secs(45),
            || {
                get_json(self.addr("executor-0", 5052), "/state")
                    .is_some_and(|s| s["registered"] == true)
            },
        );
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let containers = self.containers.lock().unwrap().clone();
            for (alias, id) in containers {
                let logs = self
                    .rt
                    .block_on(self.engine.logs(
                        &id,
                        Some(if alias.starts_with("zookeeper") {
                            5
                        } else {
                            40
                        }),
                    ))
                    .unwrap_or_else(|e| format!("(no logs: {e})"));
                eprintln!("----- last logs of {alias}\n{logs}");
            }
        }
        // `_sweep` removes the containers and the network.
    }
}

/// The elected master of a group.
struct Master {
    release: String,
    leader: String,
    addr: SocketAddr,
    all: Vec<String>,
    zk: String,
}

impl Master {
    fn follower(&self) -> &str {
        self.all
            .iter()
            .find(|m| **m != self.leader)
            .expect("a group of one has no follower")
    }
}

// ---------------------------------------------------------------------------------------------
// A raw HTTP/1.1 client

#[derive(Debug, Clone)]
struct Head {
    status_line: String,
    status: u16,
    headers: Vec<(String, String)>,
}

impl Head {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug)]
struct Resp {
    head: Head,
    /// The body, de-chunked when it was chunked.
    body: Vec<u8>,
}

impl Resp {
    fn status(&self) -> u16 {
        self.head.status
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", self.text()))
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.head.header(name)
    }
}

impl std::fmt::Display for Resp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {:?} {:?}",
            self.head.status_line,
            self.head.headers,
            self.text()
        )
    }
}

fn connect(addr: SocketAddr) -> std::io::Result<TcpStream> {
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(3))?;
    s.set_read_timeout(Some(Duration::from_secs(15)))?;
    s.set_write_timeout(Some(Duration::from_secs(15)))?;
    Ok(s)
}

fn write_request(
    s: &mut TcpStream,
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<()> {
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\n");
    for (n, v) in headers {
        req.push_str(&format!("{n}: {v}\r\n"));
    }
    if method != "GET" || !body.is_empty() {
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    req.push_str("Connection: close\r\n\r\n");
    let mut bytes = req.into_bytes();
    bytes.extend_from_slice(body);
    s.write_all(&bytes)
}

/// One CRLF-terminated line (without the CRLF); a bare LF is a protocol error.
fn read_crlf_line(r: &mut impl BufRead) -> std::io::Result<String> {
    let mut line = Vec::new();
    r.read_until(b'\n', &mut line)?;
    if line.is_empty() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "connection closed",
        ));
    }
    assert!(
        line.ends_with(b"\r\n"),
        "line not terminated by CRLF: {:?}",
        String::from_utf8_lossy(&line)
    );
    line.truncate(line.len() - 2);
    Ok(String::from_utf8(line).expect("header line is not UTF-8"))
}

fn read_head(r: &mut impl BufRead) -> std::io::Result<Head> {
    let status_line = read_crlf_line(r)?;
    let mut parts = status_line.splitn(3, ' ');
    assert_eq!(
        parts.next(),
        Some("HTTP/1.1"),
        "status line {status_line:?}"
    );
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status code in {status_line:?}"));
    let mut headers = Vec::new();
    loop {
        let line = read_crlf_line(r)?;
        if line.is_empty() {
            break;
        }
        let (n, v) = line
            .split_once(':')
            .unwrap_or_else(|| panic!("malformed header line {line:?}"));
        headers.push((n.to_string(), v.trim().to_string()));
    }
    Ok(Head {
        status_line,
        status,
        headers,
    })
}

/// Reads a whole chunked body, checking the framing: `<hex size>\r\n<data>\r\n` ... `0\r\n\r\n`.
fn read_chunked(r: &mut impl BufRead) -> std::io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let size = chunk_size(&read_crlf_line(r)?);
        if size == 0 {
            while !read_crlf_line(r)?.is_empty() {}
            return Ok(body);
        }
        let start = body.len();
        body.resize(start + size, 0);
        r.read_exact(&mut body[start..])?;
        let mut crlf = [0u8; 2];
        r.read_exact(&mut crlf)?;
        assert_eq!(&crlf, b"\r\n", "chunk data not followed by CRLF");
    }
}

fn chunk_size(line: &str) -> usize {
    let hex = line.split(';').next().unwrap_or("");
    assert!(
        !hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit()),
        "malformed chunk size line {line:?}"
    );
    usize::from_str_radix(hex, 16).unwrap()
}

/// Reads the body the head announces: chunked, `Content-Length`, or up to the close.
fn read_body(head: &Head, r: &mut impl BufRead) -> std::io::Result<Vec<u8>> {
    if head
        .header("Transfer-Encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        return read_chunked(r);
    }
    if let Some(n) = head.header("Content-Length") {
        let n: usize = n.parse().expect("Content-Length is a number");
        let mut body = vec![0u8; n];
        r.read_exact(&mut body)?;
        return Ok(body);
    }
    let mut body = Vec::new();
    r.read_to_end(&mut body)?;
    Ok(body)
}

/// One whole exchange on a fresh connection.
fn try_http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<Resp> {
    let mut s = connect(addr)?;
    write_request(&mut s, addr, method, path, headers, body)?;
    let mut r = BufReader::new(s);
    let head = read_head(&mut r)?;
    let body = read_body(&head, &mut r)?;
    Ok(Resp { head, body })
}

fn http(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
    try_http(addr, method, path, headers, body)
        .unwrap_or_else(|e| panic!("{method} http://{addr}{path}: {e}"))
}

fn get(addr: SocketAddr, path: &str) -> Resp {
    http(addr, "GET", path, &[], b"")
}

/// A JSON endpoint's answer, or `None` if unreachable, not 200 or not JSON (for polling).
fn get_json(addr: SocketAddr, path: &str) -> Option<Value> {
    let r = try_http(addr, "GET", path, &[], b"").ok()?;
    (r.status() == 200)
        .then(|| serde_json::from_slice(&r.body).ok())
        .flatten()
}

fn post_json(addr: SocketAddr, path: &str, body: &Value) -> Resp {
    http(
        addr,
        "POST",
        path,
        &[("Content-Type", "application/json")],
        body.to_string().as_bytes(),
    )
}

// ---------------------------------------------------------------------------------------------
// The v1 scheduler API

const JSON_HEADERS: &[(&str, &str)] = &[
    ("Content-Type", "application/json"),
    ("Accept", "application/json"),
];

fn subscribe_body(name: &str) -> Value {
    json!({
        "type": "SUBSCRIBE",
        "subscribe": {"framework_info": {"user": "root", "name": name, "hostname": "crossgrade-test"}},
    })
}

/// Why reading the event stream stopped.
#[derive(Debug)]
enum StreamEnd {
    Timeout,
    Closed,
}

/// A subscription's event stream, read through its chunked framing and then its RecordIO framing,
/// both checked byte for byte.
struct Events {
    head: Head,
    r: BufReader<TcpStream>,
    /// Bytes left in the current chunk.
    chunk_left: usize,
    ended: bool,
    /// Every event read so far, in order.
    seen: Vec<Value>,
}

/// Sends SUBSCRIBE with `headers`; the event stream on 200, the whole answer otherwise.
fn subscribe_with(
    addr: SocketAddr,
    headers: &[(&str, &str)],
    body: &Value,
) -> Result<Events, Resp> {
    let mut s = connect(addr).unwrap_or_else(|e| panic!("connecting to {addr}: {e}"));
    write_request(
        &mut s,
        addr,
        "POST",
        "/api/v1/scheduler",
        headers,
        body.to_string().as_bytes(),
    )
    .unwrap();
    let mut r = BufReader::new(s);
    let head = read_head(&mut r).unwrap_or_else(|e| panic!("SUBSCRIBE to {addr}: {e}"));
    if head.status != 200 {
        let body = read_body(&head, &mut r).unwrap_or_default();
        return Err(Resp { head, body });
    }
    Ok(Events {
        head,
        r,
        chunk_left: 0,
        ended: false,
        seen: Vec::new(),
    })
}

fn subscribe(addr: SocketAddr, name: &str) -> Events {
    subscribe_with(addr, JSON_HEADERS, &subscribe_body(name))
        .unwrap_or_else(|r| panic!("SUBSCRIBE to {addr} was refused: {r}"))
}

impl Events {
    fn stream_id(&self) -> Option<&str> {
        self.head.header("Mesos-Stream-Id")
    }

    /// Reads `buf.len()` bytes of chunk data, crossing chunk boundaries, before `deadline`.
    fn fill(&mut self, buf: &mut [u8], deadline: Instant) -> Result<(), StreamEnd> {
        let mut got = 0;
        while got < buf.len() {
            if self.ended {
                return Err(StreamEnd::Closed);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(StreamEnd::Timeout);
            }
            self.r.get_ref().set_read_timeout(Some(left)).unwrap();
            let res = if self.chunk_left == 0 {
                read_crlf_line(&mut self.r).map(|line| {
                    self.chunk_left = chunk_size(&line);
                    if self.chunk_left == 0 {
                        self.ended = true;
                    }
                })
            } else {
                let want = (buf.len() - got).min(self.chunk_left);
                self.r
                    .read(&mut buf[got..got + want])
                    .and_then(|n| {
                        if n == 0 {
                            Err(std::io::ErrorKind::UnexpectedEof.into())
                        } else {
                            Ok(n)
                        }
                    })
                    .and_then(|n| {
                        got += n;
                        self.chunk_left -= n;
                        if self.chunk_left == 0 {
                            let mut crlf = [0u8; 2];
                            self.r.read_exact(&mut crlf)?;
                            assert_eq!(&crlf, b"\r\n", "chunk data not followed by CRLF");
                        }
                        Ok(())
                    })
            };
            match res {
                Ok(()) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    return Err(StreamEnd::Timeout)
                }
                Err(_) => return Err(StreamEnd::Closed),
            }
        }
        Ok(())
    }

    /// One RecordIO record: `<decimal length>\n<exactly that many bytes>`.
    fn record(&mut self, deadline: Instant) -> Result<Vec<u8>, StreamEnd> {
        let mut len = String::new();
        loop {
            let mut b = [0u8; 1];
            self.fill(&mut b, deadline)?;
            match b[0] {
                b'\n' => break,
                d if d.is_ascii_digit() && len.len() < 20 => len.push(d as char),
                other => panic!(
                    "RecordIO: unexpected byte {:?} in a record length (after {len:?})",
                    other as char
                ),
            }
        }
        let n: usize = len
            .parse()
            .unwrap_or_else(|_| panic!("RecordIO: empty record length"));
        assert!(n > 0, "RecordIO: a record of length 0");
        let mut rec = vec![0u8; n];
        self.fill(&mut rec, deadline)?;
        Ok(rec)
    }

    /// The next event; the record must be exactly one JSON object (the length prefix is exact:
    /// nothing after the closing brace, nothing missing).
    fn next(&mut self, deadline: Instant) -> Result<Value, StreamEnd> {
        let rec = self.record(deadline)?;
        assert_eq!(
            rec.last(),
            Some(&b'}'),
            "RecordIO record does not end with its JSON object: {:?}",
            String::from_utf8_lossy(&rec)
        );
        let v: Value = serde_json::from_slice(&rec).unwrap_or_else(|e| {
            panic!(
                "RecordIO record is not one JSON value ({e}): {:?}",
                String::from_utf8_lossy(&rec)
            )
        });
        assert!(v["type"].is_string(), "event without a type: {v}");
        self.seen.push(v.clone());
        Ok(v)
    }

    /// Reads events until one of type `kind` (returned); panics after `within` naming what came.
    fn until(&mut self, kind: &str, within: Duration) -> Value {
        self.until_match(kind, within, |e| e["type"] == kind)
    }

    /// Reads events until one satisfies `pred` (returned); panics after `within` naming `what` and
    /// the events that came meanwhile.
    fn until_match(
        &mut self,
        what: &str,
        within: Duration,
        mut pred: impl FnMut(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + within;
        let before = self.seen.len();
        loop {
            match self.next(deadline) {
                Ok(e) if pred(&e) => return e,
                Ok(_) => {}
                Err(end) => panic!(
                    "no {what} event within {within:?} ({end:?}); events meanwhile: {:?}",
                    self.seen[before..]
                        .iter()
                        .map(|e| e["type"].as_str().unwrap_or("?"))
                        .collect::<Vec<_>>()
                ),
            }
        }
    }
}

/// A non-subscribe call on its own connection.
fn call(addr: SocketAddr, stream_id: Option<&str>, body: &Value) -> Resp {
    let mut headers = vec![("Content-Type", "application/json")];
    if let Some(id) = stream_id {
        headers.push(("Mesos-Stream-Id", id));
    }
    http(
        addr,
        "POST",
        "/api/v1/scheduler",
        &headers,
        body.to_string().as_bytes(),
    )
}

/// SUBSCRIBED's framework id and heartbeat interval, after checking the stream's head.
fn subscribed(ev: &mut Events, release: &str) -> (String, f64) {
    let h = &ev.head;
    assert_eq!(h.status_line, "HTTP/1.1 200 OK", "{release}: {h:?}");
    assert_eq!(
        h.header("Content-Type"),
        Some("application/json"),
        "{release}: {h:?}"
    );
    assert_eq!(
        h.header("Transfer-Encoding"),
        Some("chunked"),
        "{release}: {h:?}"
    );
    assert_eq!(
        h.header("Content-Length"),
        None,
        "{release}: a stream has no length: {h:?}"
    );
    let first = ev
        .next(Instant::now() + Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{release}: no first event: {e:?}"));
    assert_eq!(
        first["type"], "SUBSCRIBED",
        "{release}: first event {first}"
    );
    let fid = first
        .pointer("/subscribed/framework_id/value")
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("{release}: SUBSCRIBED without framework_id: {first}"))
        .to_string();
    assert!(!fid.is_empty(), "{release}: empty framework id");
    let hb = first
        .pointer("/subscribed/heartbeat_interval_seconds")
        .and_then(Value::as_f64)
        .unwrap_or_else(|| {
            panic!("{release}: SUBSCRIBED without heartbeat_interval_seconds: {first}")
        });
    assert!(hb > 0.0, "{release}: heartbeat interval {hb}");
    (fid, hb)
}

fn stream_id_required(release: &str) -> bool {
    matches!(release, "0.28" | "1.0")
}

/// SUBSCRIBE on the leader: the stream's head and framing, SUBSCRIBED first, a HEARTBEAT within the
/// announced interval, and `Mesos-Stream-Id` exactly where the release has it.
fn check_subscribe(release: &str) {
    let env = Env::new(&format!("sub{}", release.replace('.', "")));
    env.zookeeper();
    let m = env.masters(release, "master", "/mesos", 1);
    let mut ev = subscribe(m.addr, "api-test-subscribe");
    let (_fid, hb) = subscribed(&mut ev, release);
    match (stream_id_required(release), ev.stream_id()) {
        (true, Some(id)) => assert!(!id.trim().is_empty(), "{release}: empty Mesos-Stream-Id"),
        (true, None) => panic!(
            "{release}: SUBSCRIBE answered without Mesos-Stream-Id: {:?}",
            ev.head
        ),
        (false, Some(id)) => panic!("{release} has no stream ids, but sent Mesos-Stream-Id: {id}"),
        (false, None) => {}
    }
    assert_eq!(
        hb, 1.0,
        "{release}: the interval of --heartbeat_interval 1secs"
    );
    let hb_event = ev.until("HEARTBEAT", Duration::from_secs_f64(hb + 3.0));
    assert_eq!(hb_event, json!({"type": "HEARTBEAT"}), "{release}");
    // ... and keeps coming.
    ev.until("HEARTBEAT", Duration::from_secs_f64(hb + 3.0));

    // A SUBSCRIBE that carries a stream id: 0.28+ refuses it (the id is the master's to give);
    // before, the header means nothing.
    let r = subscribe_with(
        m.addr,
        &[
            ("Content-Type", "application/json"),
            ("Accept", "application/json"),
            ("Mesos-Stream-Id", "0b1e9c1e-0000-4000-8000-000000000000"),
        ],
        &subscribe_body("api-test-subscribe-with-id"),
    );
    match (stream_id_required(release), r) {
        (true, Err(r)) => assert_eq!(r.status(), 400, "{release}: {r}"),
        (true, Ok(ev)) => panic!(
            "{release}: SUBSCRIBE with a stream id was streamed: {:?}",
            ev.head
        ),
        (false, Err(r)) => {
            panic!("{release}: SUBSCRIBE with a (meaningless) stream id refused: {r}")
        }
        (false, Ok(mut other)) => {
            subscribed(&mut other, release);
        }
    }
    // And the master counts the framework as subscribed while the stream is open.
    let state = get_json(m.addr, "/master/state.json").expect("state.json");
    let names: Vec<&Value> = state["frameworks"]
        .as_array()
        .map(|a| a.iter().map(|f| &f["name"]).collect())
        .unwrap_or_default();
    assert!(
        names.contains(&&json!("api-test-subscribe")),
        "{release}: frameworks in state.json: {names:?}"
    );
}

#[test]
fn subscribe_0_24_streams_recordio_without_stream_id() {
    check_subscribe("0.24");
}

#[test]
fn subscribe_0_25_streams_recordio_without_stream_id() {
    check_subscribe("0.25");
}

#[test]
fn subscribe_0_28_streams_recordio_with_stream_id() {
    check_subscribe("0.28");
}

#[test]
fn subscribe_1_0_streams_recordio_with_stream_id() {
    check_subscribe("1.0");
}

/// Errors every v1 release answers the same way, on a subscribed framework `fid`.
fn check_call_errors(release: &str, addr: SocketAddr, fid: &str, sid: Option<&str>) {
    let revive = json!({"framework_id": {"value": fid}, "type": "REVIVE"});

    let with_sid = |content_type: &'static str| {
        let mut h = vec![("Content-Type", content_type)];
        if let Some(id) = sid {
            h.push(("Mesos-Stream-Id", id));
        }
        h
    };
    let r = http(
        addr,
        "POST",
        "/api/v1/scheduler",
        &with_sid("application/json"),
        b"{\"type\": \"REVIVE\", \"framework_id\": ",
    );
    assert_eq!(r.status(), 400, "{release}: malformed JSON: {r}");

    let r = call(addr, sid, &json!({"type": "REVIVE"}));
    assert_eq!(
        r.status(),
        400,
        "{release}: a call without framework_id: {r}"
    );

    let r = http(
        addr,
        "POST",
        "/api/v1/scheduler",
        &with_sid("text/plain"),
        revive.to_string().as_bytes(),
    );
    assert_eq!(r.status(), 415, "{release}: Content-Type text/plain: {r}");

    let r = get(addr, "/api/v1/scheduler");
    assert_eq!(r.status(), 405, "{release}: GET: {r}");
    assert!(
        r.header("Allow").is_some_and(|a| a.contains("POST")),
        "{release}: a 405 names the allowed methods (RFC 9110): {r}"
    );

    // SUBSCRIBE asking for something other than JSON (or protobuf): Not Acceptable.
    let r = subscribe_with(
        addr,
        &[
            ("Content-Type", "application/json"),
            ("Accept", "text/html"),
        ],
        &subscribe_body("api-test-html"),
    )
    .err()
    .unwrap_or_else(|| panic!("{release}: SUBSCRIBE with Accept: text/html was streamed"));
    assert_eq!(r.status(), 406, "{release}: Accept: text/html: {r}");
}

/// 0.25 (no stream ids): calls are accepted with no `Mesos-Stream-Id`, and one that makes no sense
/// is ignored, not checked: the header means nothing before 0.28.
#[test]
fn calls_0_25_need_no_stream_id() {
    let env = Env::new("calls025");
    env.zookeeper();
    let m = env.masters("0.25", "master", "/mesos", 1);
    let mut ev = subscribe(m.addr, "api-test-calls");
    let (fid, _) = subscribed(&mut ev, "0.25");
    let revive = json!({"framework_id": {"value": fid}, "type": "REVIVE"});
    let r = call(m.addr, None, &revive);
    assert_eq!(r.status(), 202, "REVIVE: {r}");
    assert!(r.body.is_empty(), "202 has no body: {r}");
    let r = call(m.addr, Some("not-a-stream-of-this-master"), &revive);
    assert_eq!(r.status(), 202, "0.25 ignores Mesos-Stream-Id: {r}");
    check_call_errors("0.25", m.addr, &fid, None);
}

/// Launches `task_id` (`sleep infinity`, 0.5 cpus, 32 MB) on the next offer through ACCEPT, and
/// acknowledges its updates until TASK_RUNNING; every update must name the agent in the release's
/// word. Returns the agent id.
fn run_task(
    ev: &mut Events,
    addr: SocketAddr,
    release: &str,
    fid: &str,
    sid: Option<&str>,
    task_id: &str,
) -> String {
    let word = "agent_id";
    let offers = ev.until_match("OFFERS with an offer", Duration::from_secs(15), |e| {
        e["type"] == "OFFERS" && e.pointer("/offers/offers/0").is_some()
    });
    let offer = &offers["offers"]["offers"][0];
    let agent_id = offer[&word]["value"]
        .as_str()
        .unwrap_or_else(|| panic!("{release}: offer without {word}: {offer}"))
        .to_string();
    let mut task = json!({
        "name": task_id, "task_id": {"value": task_id},
        "resources": [
            {"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.5}},
            {"name": "mem", "type": "SCALAR", "scalar": {"value": 32}},
        ],
        "command": {"shell": true, "value": "sleep infinity"},
    });
    task[&word] = json!({"value": agent_id});
    let accept = json!({
        "framework_id": {"value": fid}, "type": "ACCEPT",
        "accept": {
            "offer_ids": [offer["id"]],
            "operations": [{"type": "LAUNCH", "launch": {"task_infos": [task]}}],
        },
    });
    let r = call(addr, sid, &accept);
    assert_eq!(r.status(), 202, "{release}: ACCEPT: {r}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let u = ev.until("UPDATE", deadline.saturating_duration_since(Instant::now()));
        let status = &u["update"]["status"];
        assert_eq!(status["task_id"]["value"], task_id, "{release}: {u}");
        assert_eq!(
            status[&word]["value"],
            json!(agent_id),
            "{release} says {word}: {u}"
        );
        if let Some(uuid) = status["uuid"].as_str() {
            let mut ack = json!({
                "framework_id": {"value": fid}, "type": "ACKNOWLEDGE",
                "acknowledge": {"task_id": {"value": task_id}, "uuid": uuid},
            });
            ack["acknowledge"][&word] = json!({"value": agent_id});
            let r = call(addr, sid, &ack);
            assert_eq!(r.status(), 202, "{release}: ACKNOWLEDGE: {r}");
        }
        match status["state"].as_str() {
            Some("TASK_RUNNING") => return agent_id,
            Some("TASK_STAGING" | "TASK_STARTING") => {}
            other => panic!("{release}: {task_id} went {other:?}: {u}"),
        }
    }
}

/// OFFERS in the release's dialect, DECLINE and REVIVE accepted (202) with the stream id, refused
/// (400) without it or with another, and the request errors.
fn check_offers_and_calls(release: &str) {
    let env = Env::new(&format!("offers{}", release.replace('.', "")));
    env.zookeeper();
    let m = env.masters(release, "master", "/mesos", 1);
    env.agent(release, &m, "cpus:1.23456;mem:100");
    let mut ev = subscribe(m.addr, "api-test-offers");
    let (fid, _) = subscribed(&mut ev, release);
    let sid = ev.stream_id().map(str::to_string);
    assert_eq!(sid.is_some(), stream_id_required(release), "{:?}", ev.head);

    let offers = ev.until("OFFERS", Duration::from_secs(15));
    let list = offers
        .pointer("/offers/offers")
        .and_then(Value::as_array)
        .unwrap_or_else(|| panic!("{release}: OFFERS without offers.offers: {offers}"));
    assert_eq!(list.len(), 1, "{release}: one agent, one offer: {offers}");
    let offer = &list[0];
    let (word, other) = ("agent_id", "slave_id");
    let agent_id = offer
        .pointer(&format!("/{word}/value"))
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("{release}: offer without {word}: {offer}"));
    assert!(
        offer.get(other).is_none(),
        "{release}: offer has {other}: {offer}"
    );
    let state = get_json(m.addr, "/master/state.json").unwrap();
    assert_eq!(
        state.pointer("/slaves/0/id"),
        Some(&json!(agent_id)),
        "{release}: the offer's {word} is the registered agent"
    );
    assert_eq!(
        offer["framework_id"]["value"],
        json!(fid),
        "{release}: {offer}"
    );
    assert_eq!(offer["hostname"], "agent-0", "{release}: {offer}");
    let offer_id = offer
        .pointer("/id/value")
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("{release}: offer without id.value: {offer}"))
        .to_string();
    let resources = offer["resources"]
        .as_array()
        .unwrap_or_else(|| panic!("{release}: resources is not a list: {offer}"));
    let mut scalars = HashMap::new();
    for r in resources {
        assert_eq!(r["type"], "SCALAR", "{release}: {r}");
        let name = r["name"].as_str().unwrap_or_else(|| panic!("unnamed: {r}"));
        let v = r
            .pointer("/scalar/value")
            .and_then(Value::as_f64)
            .unwrap_or_else(|| panic!("{release}: no scalar.value: {r}"));
        scalars.insert(name.to_string(), v);
    }
    // 0.28 and 1.0 keep scalars in fixed point with three decimals.
    assert_eq!(
        scalars.get("cpus"),
        Some(&1.235),
        "{release}: {resources:?}"
    );
    assert_eq!(scalars.get("mem"), Some(&100.0), "{release}: {resources:?}");

    let sid = sid.as_deref();
    let decline = json!({
        "framework_id": {"value": fid}, "type": "DECLINE",
        "decline": {"offer_ids": [{"value": offer_id}], "filters": {"refuse_seconds": 1.0}},
    });
    if stream_id_required(release) {
        let r = call(m.addr, None, &decline);
        assert_eq!(
            r.status(),
            400,
            "{release}: DECLINE without Mesos-Stream-Id: {r}"
        );
        let r = call(
            m.addr,
            Some("0b1e9c1e-0000-4000-8000-000000000000"),
            &decline,
        );
        assert_eq!(
            r.status(),
            400,
            "{release}: DECLINE with another stream's id: {r}"
        );
    }
    let r = call(m.addr, sid, &decline);
    assert_eq!(r.status(), 202, "{release}: DECLINE: {r}");
    // The declined resources come back in a new offer once the 1 s filter has passed.
    let again = ev.until("OFFERS", Duration::from_secs(15));
    let again_id = again.pointer("/offers/offers/0/id/value").cloned();
    assert_ne!(
        again_id,
        Some(json!(offer_id)),
        "{release}: a new offer: {again}"
    );
    let r = call(
        m.addr,
        sid,
        &json!({"framework_id": {"value": fid}, "type": "REVIVE"}),
    );
    assert_eq!(r.status(), 202, "{release}: REVIVE: {r}");
    check_call_errors(release, m.addr, &fid, sid);

    // Once the subscription is gone, calls are Forbidden until the framework subscribes again.
    drop(ev);
    let revive = json!({"framework_id": {"value": fid}, "type": "REVIVE"});
    let mut last = None;
    wait_for(
        &format!("{release}: REVIVE after the subscription closed to be refused 403"),
        Duration::from_secs(10),
        || {
            let r = call(m.addr, sid, &revive);
            let forbidden = r.status() == 403;
            last = Some(r);
            forbidden
        },
    );
    let r = last.unwrap();
    assert!(r.text().contains("not subscribed"), "{release}: {r}");
}

#[test]
fn offers_and_calls_0_28_say_agent_id() {
    check_offers_and_calls("0.28");
}

#[test]
fn offers_and_calls_1_0_say_agent_id() {
    check_offers_and_calls("1.0");
}

/// A follower's answer to SUBSCRIBE, for three masters of each of `releases` (each group under its
/// own ZooKeeper path, on one ZooKeeper; the follower is one that says it is not elected).
fn follower_answers(tag: &str, releases: &[&str], check: impl Fn(&Env, &Master, Resp)) {
    let env = Env::new(tag);
    env.zookeeper();
    for rel in releases {
        let prefix = format!("m{}", rel.replace('.', ""));
        let m = env.masters(rel, &prefix, &format!("/{prefix}"), 3);
        let follower = env.addr(m.follower(), 5050);
        let r = subscribe_with(follower, JSON_HEADERS, &subscribe_body("api-test-follower"))
            .err()
            .unwrap_or_else(|| panic!("{rel}: the follower {} streamed events", m.follower()));
        check(&env, &m, r);
    }
}

#[test]
fn non_leader_answers_503_in_0_24_and_0_25() {
    follower_answers("nl503", &["0.24", "0.25"], |_, m, r| {
        assert_eq!(r.status(), 503, "{}: {r}", m.release);
        assert_eq!(r.header("Location"), None, "{}: {r}", m.release);
    });
}

#[test]
fn non_leader_redirects_to_the_leader_in_0_28_and_1_0() {
    follower_answers("nl307", &["0.28", "1.0"], |env, m, r| {
        let rel = &m.release;
        assert_eq!(
            r.head.status_line, "HTTP/1.1 307 Temporary Redirect",
            "{rel}: {r}"
        );
        let want = format!("//{}:5050/api/v1/scheduler", m.leader);
        assert_eq!(r.header("Location"), Some(want.as_str()), "{rel}: {r}");
        // Following it (as a client resolving the leader's name would) subscribes.
        let leader = env.addr(&m.leader, 5050);
        let mut ev = subscribe(leader, "api-test-redirected");
        subscribed(&mut ev, rel);
        // The operator API (1.0) redirects the same way; 0.28 has none, on any master.
        let follower = env.addr(m.follower(), 5050);
        let r = post_json(follower, "/api/v1", &json!({"type": "GET_HEALTH"}));
        if rel == "1.0" {
            assert_eq!(r.status(), 307, "{rel}: operator API on a follower: {r}");
            let want = format!("//{}:5050/api/v1", m.leader);
            assert_eq!(r.header("Location"), Some(want.as_str()), "{rel}: {r}");
        } else {
            assert_eq!(r.status(), 404, "{rel}: operator API on a follower: {r}");
        }
    });
}

// ---------------------------------------------------------------------------------------------
// Maintenance (0.25+)

fn machine(host: &str, ip: &str) -> Value {
    json!({"hostname": host, "ip": ip})
}

fn schedule(machines: &[Value], start_ns: i64) -> Value {
    json!({"windows": [{
        "machine_ids": machines,
        "unavailability": {"start": {"nanoseconds": start_ns}, "duration": {"nanoseconds": 3_600_000_000_000i64}},
    }]})
}

fn status_has(list: &Value, m: &Value) -> bool {
    list.as_array()
        .is_some_and(|l| l.iter().any(|e| e == m || e.get("id") == Some(m)))
}

/// The schedule round trip, DRAINING → DOWN → UP, and the transitions the master must refuse.
fn check_maintenance(m: &Master) {
    let rel = &m.release;
    let (m1, m2) = (
        machine("machine-1", "10.0.0.1"),
        machine("machine-2", "10.0.0.2"),
    );
    let sched = schedule(&[m1.clone(), m2.clone()], 1_443_830_400_000_000_000);
    let r = post_json(m.addr, "/maintenance/schedule", &sched);
    assert_eq!(r.status(), 200, "{rel}: POST schedule: {r}");
    let r = get(m.addr, "/maintenance/schedule");
    assert_eq!(r.status(), 200, "{rel}: GET schedule: {r}");
    let got = r.json();
    assert_eq!(
        got.pointer("/windows/0/machine_ids"),
        sched.pointer("/windows/0/machine_ids"),
        "{rel}: schedule round trip: {got}"
    );
    assert_eq!(
        got.pointer("/windows/0/unavailability/start/nanoseconds")
            .and_then(Value::as_i64),
        Some(1_443_830_400_000_000_000),
        "{rel}: {got}"
    );

    let status = get(m.addr, "/maintenance/status").json();
    assert!(
        status_has(&status["draining_machines"], &m1)
            && status_has(&status["draining_machines"], &m2),
        "{rel}: both machines draining: {status}"
    );
    assert!(
        !status_has(&status["down_machines"], &m1),
        "{rel}: {status}"
    );

    // Not scheduled, so not draining: cannot go down. And up only from down.
    let r = post_json(
        m.addr,
        "/machine/down",
        &json!([machine("machine-3", "10.0.0.3")]),
    );
    assert_eq!(
        r.status(),
        400,
        "{rel}: down of a machine not draining: {r}"
    );
    let r = post_json(m.addr, "/machine/up", &json!([m1]));
    assert_eq!(
        r.status(),
        400,
        "{rel}: up of a machine that is not down: {r}"
    );

    let r = post_json(m.addr, "/machine/down", &json!([m1]));
    assert_eq!(r.status(), 200, "{rel}: down: {r}");
    let status = get(m.addr, "/maintenance/status").json();
    assert!(
        status_has(&status["down_machines"], &m1),
        "{rel}: machine-1 down: {status}"
    );
    assert!(
        !status_has(&status["draining_machines"], &m1),
        "{rel}: {status}"
    );
    assert!(
        status_has(&status["draining_machines"], &m2),
        "{rel}: {status}"
    );

    // A schedule must keep every machine that is down.
    let r = post_json(
        m.addr,
        "/maintenance/schedule",
        &schedule(std::slice::from_ref(&m2), 1),
    );
    assert_eq!(
        r.status(),
        400,
        "{rel}: a schedule without the down machine: {r}"
    );

    let r = post_json(m.addr, "/machine/up", &json!([m1]));
    assert_eq!(r.status(), 200, "{rel}: up: {r}");
    let status = get(m.addr, "/maintenance/status").json();
    assert!(
        !status_has(&status["down_machines"], &m1)
            && !status_has(&status["draining_machines"], &m1),
        "{rel}: machine-1 left maintenance: {status}"
    );
    let got = get(m.addr, "/maintenance/schedule").json();
    assert!(
        !got.to_string().contains("machine-1"),
        "{rel}: up removes the machine from the schedule: {got}"
    );
}

#[test]
fn maintenance_0_25_schedule_drain_down_up() {
    let env = Env::new("maint025");
    env.zookeeper();
    let m = env.masters("0.25", "master", "/mesos", 1);
    check_maintenance(&m);
}

/// A framework with a task on agent-0, whose machine is then scheduled for maintenance: the master
/// asks for the resources back with an inverse offer (inside OFFERS before 1.0, its own
/// INVERSE_OFFERS event in 1.0), re-offers agent-0 with the unavailability, and records the
/// framework's acceptance (ACCEPT of the inverse offer's id before 1.0, ACCEPT_INVERSE_OFFERS in
/// 1.0) in /maintenance/status.
fn check_inverse_offers(release: &str) {
    let env = Env::new(&format!("inverse{}", release.replace('.', "")));
    env.zookeeper();
    let m = env.masters(release, "master", "/mesos", 1);
    env.agent(release, &m, "cpus:2;mem:256");
    env.executor(release);
    let mut ev = subscribe(m.addr, "api-test-inverse");
    let (fid, _) = subscribed(&mut ev, release);
    let sid = ev.stream_id().map(str::to_string);
    let sid = sid.as_deref();
    let agent_id = run_task(&mut ev, m.addr, release, &fid, sid, "long-1");
    let word = "agent_id";

    // The agent's machine, as Mesos matches it: hostname and IP.
    let start_ns = 1_443_830_400_000_000_000i64;
    let agent_ip = env.ip("agent-0").to_string();
    let r = post_json(
        m.addr,
        "/maintenance/schedule",
        &schedule(&[machine("agent-0", &agent_ip)], start_ns),
    );
    assert_eq!(r.status(), 200, "{release}: POST schedule: {r}");

    // Both come, in whatever order: the inverse offer, and agent-0's resources offered (again)
    // with the unavailability.
    let seen_before = ev.seen.len();
    let inverse_path = if release == "1.0" {
        "/inverse_offers/inverse_offers/0"
    } else {
        "/offers/inverse_offers/0"
    };
    let mut inverse = None;
    let mut unavailable_offer = false;
    ev.until_match(
        "inverse offer and offer with unavailability",
        Duration::from_secs(20),
        |e| {
            let kind = if release == "1.0" {
                "INVERSE_OFFERS"
            } else {
                "OFFERS"
            };
            if e["type"] == kind && inverse.is_none() {
                inverse = e.pointer(inverse_path).cloned();
            }
            unavailable_offer |= e
                .pointer("/offers/offers")
                .and_then(Value::as_array)
                .is_some_and(|l| {
                    l.iter().any(|o| {
                        o.pointer("/unavailability/start/nanoseconds")
                            .and_then(Value::as_i64)
                            == Some(start_ns)
                    })
                });
            inverse.is_some() && unavailable_offer
        },
    );
    let inverse = inverse.unwrap();
    assert_eq!(
        inverse[&word]["value"],
        json!(agent_id),
        "{release}: {inverse}"
    );
    assert_eq!(
        inverse["framework_id"]["value"],
        json!(fid),
        "{release}: {inverse}"
    );
    assert_eq!(
        inverse
            .pointer("/unavailability/start/nanoseconds")
            .and_then(Value::as_i64),
        Some(start_ns),
        "{release}: {inverse}"
    );
    let inverse_id = inverse
        .pointer("/id/value")
        .cloned()
        .unwrap_or_else(|| panic!("{release}: inverse offer without id: {inverse}"));
    let wrong_kind = if release == "1.0" {
        ev.seen[seen_before..]
            .iter()
            .find(|e| e.pointer("/offers/inverse_offers").is_some())
    } else {
        ev.seen[seen_before..]
            .iter()
            .find(|e| e["type"] == "INVERSE_OFFERS")
    };
    assert!(
        wrong_kind.is_none(),
        "{release}: inverse offers travel the other release's way: {wrong_kind:?}"
    );

    // 1.0 answers with ACCEPT_INVERSE_OFFERS; before 1.0 that call does not exist (the enum value
    // is unknown: 400) and an inverse offer is answered like an offer, with ACCEPT.
    let accept_inverse = json!({
        "framework_id": {"value": fid}, "type": "ACCEPT_INVERSE_OFFERS",
        "accept_inverse_offers": {"inverse_offer_ids": [{"value": inverse_id}]},
    });
    let r = call(m.addr, sid, &accept_inverse);
    if release == "1.0" {
        assert_eq!(r.status(), 202, "{release}: ACCEPT_INVERSE_OFFERS: {r}");
    } else {
        assert_eq!(r.status(), 400, "{release}: ACCEPT_INVERSE_OFFERS: {r}");
        assert!(r.text().contains("ACCEPT_INVERSE_OFFERS"), "{release}: {r}");
        let accept = json!({
            "framework_id": {"value": fid}, "type": "ACCEPT",
            "accept": {"offer_ids": [{"value": inverse_id}], "operations": []},
        });
        let r = call(m.addr, sid, &accept);
        assert_eq!(
            r.status(),
            202,
            "{release}: ACCEPT of the inverse offer: {r}"
        );
    }
    wait_for(
        &format!("{release}: /maintenance/status to show {fid}'s ACCEPT for agent-0's machine"),
        Duration::from_secs(10),
        || {
            let status = get_json(m.addr, "/maintenance/status").unwrap_or_default();
            status["draining_machines"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|d| d["id"]["hostname"] == "agent-0")
                .flat_map(|d| d["statuses"].as_array().into_iter().flatten())
                .any(|s| s["status"] == "ACCEPT" && s["framework_id"]["value"] == json!(fid))
        },
    );
}

#[test]
fn inverse_offers_0_28_inside_offers() {
    check_inverse_offers("0.28");
}

#[test]
fn inverse_offers_1_0_as_their_own_event() {
    check_inverse_offers("1.0");
}

// ---------------------------------------------------------------------------------------------
// Endpoints per release

/// The endpoints a release serves or answers 404 for (on the leader of a group of one).
#[test]
fn endpoints_by_release() {
    let env = Env::new("endpoints");
    env.zookeeper();
    let masters: Vec<Master> = ["0.24", "0.25", "0.28", "1.0"]
        .iter()
        .map(|rel| {
            let p = format!("m{}", rel.replace('.', ""));
            env.masters(rel, &p, &format!("/{p}"), 1)
        })
        .collect();
    for m in &masters {
        let rel = m.release.as_str();
        let maintenance = rel != "0.24";
        for path in ["/maintenance/schedule", "/maintenance/status"] {
            let r = get(m.addr, path);
            assert_eq!(r.status() == 200, maintenance, "{rel} GET {path}: {r}");
            if !maintenance {
                assert_eq!(r.status(), 404, "{rel} GET {path}: {r}");
            }
        }
        for path in ["/machine/down", "/machine/up"] {
            let r = post_json(m.addr, path, &json!([machine("nowhere", "10.9.9.9")]));
            // Served: 400 (not scheduled / not down); not served: 404.
            let want = if maintenance { 400 } else { 404 };
            assert_eq!(r.status(), want, "{rel} POST {path}: {r}");
        }

        let r = get(m.addr, "/version");
        if matches!(rel, "0.28" | "1.0") {
            assert_eq!(r.status(), 200, "{rel} /version: {r}");
            assert_eq!(
                r.header("Content-Type"),
                Some("application/json"),
                "{rel}: {r}"
            );
            assert_eq!(r.json()["version"], format!("{rel}.0"), "{rel}: {r}");
        } else {
            assert_eq!(r.status(), 404, "{rel} /version: {r}");
        }

        let r = post_json(m.addr, "/api/v1", &json!({"type": "GET_HEALTH"}));
        if rel == "1.0" {
            assert_eq!(r.status(), 200, "{rel} operator API: {r}");
        } else {
            assert_eq!(r.status(), 404, "{rel} has no operator API: {r}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The operator API (1.0)

fn operator(addr: SocketAddr, body: &Value) -> Value {
    let r = http(
        addr,
        "POST",
        "/api/v1",
        JSON_HEADERS,
        body.to_string().as_bytes(),
    );
    assert_eq!(r.status(), 200, "{body}: {r}");
    assert_eq!(
        r.header("Content-Type"),
        Some("application/json"),
        "{body}: {r}"
    );
    let v = r.json();
    assert_eq!(v["type"], body["type"], "the response names its call: {v}");
    v
}

/// A framework with one running task on a 1.0 cluster, seen through the operator API.
#[test]
fn operator_api_1_0_calls() {
    let env = Env::new("operator");
    env.zookeeper();
    let m = env.masters("1.0", "master", "/mesos", 1);
    env.agent("1.0", &m, "cpus:2;mem:256");
    env.executor("1.0");

    let health = operator(m.addr, &json!({"type": "GET_HEALTH"}));
    assert_eq!(
        health.pointer("/get_health/healthy"),
        Some(&json!(true)),
        "{health}"
    );
    let version = operator(m.addr, &json!({"type": "GET_VERSION"}));
    assert_eq!(
        version.pointer("/get_version/version_info/version"),
        Some(&json!("1.0.0")),
        "{version}"
    );

    // A framework running one task, through the raw scheduler API.
    let mut ev = subscribe(m.addr, "api-test-operator");
    let (fid, _) = subscribed(&mut ev, "1.0");
    let sid = ev.stream_id().map(str::to_string);
    let agent_id = run_task(&mut ev, m.addr, "1.0", &fid, sid.as_deref(), "op-task-1");

    let agents = operator(m.addr, &json!({"type": "GET_AGENTS"}));
    let list = agents
        .pointer("/get_agents/agents")
        .and_then(Value::as_array)
        .unwrap_or_else(|| panic!("{agents}"));
    assert_eq!(list.len(), 1, "{agents}");
    let a = &list[0];
    assert_eq!(
        a.pointer("/agent_info/hostname"),
        Some(&json!("agent-0")),
        "{a}"
    );
    assert_eq!(
        a.pointer("/agent_info/id/value"),
        Some(&json!(agent_id)),
        "{a}"
    );
    assert_eq!(a["active"], true, "{a}");
    assert!(
        a["pid"].as_str().is_some_and(|p| p.contains("agent-0")),
        "{a}"
    );
    assert!(
        a.pointer("/registered_time/nanoseconds").is_some(),
        "registered_time is a TimeInfo: {a}"
    );
    let total: Vec<&Value> = a["total_resources"]
        .as_array()
        .map(|l| l.iter().collect())
        .unwrap_or_default();
    assert!(
        total.iter().any(|r| r["name"] == "cpus"
            && r["type"] == "SCALAR"
            && r.pointer("/scalar/value") == Some(&json!(2.0))),
        "total_resources: {a}"
    );

    let frameworks = operator(m.addr, &json!({"type": "GET_FRAMEWORKS"}));
    let f = frameworks
        .pointer("/get_frameworks/frameworks")
        .and_then(Value::as_array)
        .and_then(|l| {
            l.iter()
                .find(|f| f.pointer("/framework_info/id/value") == Some(&json!(fid)))
        })
        .unwrap_or_else(|| panic!("framework {fid} not in {frameworks}"));
    assert_eq!(
        f.pointer("/framework_info/name"),
        Some(&json!("api-test-operator")),
        "{f}"
    );
    assert_eq!(f["active"], true, "{f}");
    assert_eq!(f["connected"], true, "{f}");

    let tasks = operator(m.addr, &json!({"type": "GET_TASKS"}));
    let t = tasks
        .pointer("/get_tasks/tasks")
        .and_then(Value::as_array)
        .and_then(|l| l.iter().find(|t| t["task_id"]["value"] == "op-task-1"))
        .unwrap_or_else(|| panic!("op-task-1 not in {tasks}"));
    assert_eq!(t["framework_id"]["value"], json!(fid), "{t}");
    assert_eq!(t["agent_id"]["value"], json!(agent_id), "{t}");
    assert_eq!(t["state"], "TASK_RUNNING", "{t}");
    assert_eq!(t["name"], "op-task-1", "{t}");

    // The maintenance schedule, posted through the old endpoint, read through the new API.
    let sched = schedule(
        &[machine("machine-1", "10.0.0.1")],
        1_443_830_400_000_000_000,
    );
    let r = post_json(m.addr, "/maintenance/schedule", &sched);
    assert_eq!(r.status(), 200, "{r}");
    let got = operator(m.addr, &json!({"type": "GET_MAINTENANCE_SCHEDULE"}));
    assert_eq!(
        got.pointer("/get_maintenance_schedule/schedule/windows/0/machine_ids"),
        sched.pointer("/windows/0/machine_ids"),
        "{got}"
    );
}

/// Maintenance works the same in 1.0 (besides the operator API).
#[test]
fn maintenance_1_0_schedule_drain_down_up() {
    let env = Env::new("maint10");
    env.zookeeper();
    let m = env.masters("1.0", "master", "/mesos", 1);
    check_maintenance(&m);
}

// ---------------------------------------------------------------------------------------------
// A third-party v1 client: pymesos

/// Runs framework.py (pymesos) against a ZooKeeper + master + agent + executor stack of `release`
/// until it exits; returns its exit code and log.
/// What a pymesos run left: its exit code and log, and afterwards the leader's `state.json` and the
/// executor's `/state`.
struct PymesosRun {
    code: i64,
    log: String,
    master_state: Value,
    executor_state: Value,
}

/// How pymesos is told where the master is.
#[derive(Clone, Copy, PartialEq)]
enum Through {
    /// The ZooKeeper URL (pymesos's detector reads the leader's `json.info_` znode).
    ZooKeeper,
    /// `host:port` of a master that does not lead, of three (pymesos must follow the 307).
    Follower,
}

fn run_pymesos(release: &str, through: Through) -> PymesosRun {
    let tag = if through == Through::Follower {
        "f"
    } else {
        ""
    };
    let env = Env::new(&format!("pymesos{}{tag}", release.replace('.', "")));
    env.zookeeper();
    let n = if through == Through::Follower { 3 } else { 1 };
    let m = env.masters(release, "master", "/mesos", n);
    env.agent(release, &m, "cpus:2;mem:512");
    env.executor(release);
    let master = match through {
        Through::ZooKeeper => m.zk.clone(),
        Through::Follower => format!("{}:5050", m.follower()),
    };
    env.run(
        "scheduler-0",
        &pymesos_image(),
        &["--master", &master, "--timeout", "45"],
    );
    let mut code = None;
    wait_for(
        "the pymesos framework to exit (it gives up after 45 s)",
        Duration::from_secs(90),
        || {
            code = env.exit_code("scheduler-0");
            code.is_some()
        },
    );
    let log = env.logs("scheduler-0");
    println!("----- pymesos on {release}\n{log}");
    PymesosRun {
        code: code.unwrap(),
        log,
        master_state: get_json(m.addr, "/master/state.json").expect("the master's state.json"),
        executor_state: get_json(env.addr("executor-0", 5052), "/state")
            .expect("the executor's /state"),
    }
}

/// Whether a `state.json` framework list names `id` (as an id, or as an object's `id`).
fn lists_framework(list: &Value, id: &str) -> bool {
    list.as_array()
        .into_iter()
        .flatten()
        .any(|f| f == id || f["id"] == id)
}

#[test]
fn pymesos_runs_a_task_on_1_0() {
    let PymesosRun {
        code,
        log,
        master_state,
        executor_state,
    } = run_pymesos("1.0", Through::ZooKeeper);
    assert_eq!(code, 0, "pymesos exited {code}:\n{log}");
    // It found the leader through ZooKeeper's json.info znode and read /version.
    assert!(log.contains("(version 1.0.0)"), "{log}");
    let task = log
        .lines()
        .find_map(|l| {
            l.split_once("LAUNCH ")
                .map(|(_, t)| t.split(' ').next().unwrap())
        })
        .unwrap_or_else(|| panic!("no LAUNCH line:\n{log}"));
    for line in [
        format!("UPDATE {task} TASK_RUNNING"),
        format!("ACKNOWLEDGED {task} TASK_FINISHED"),
        format!("FINISHED {task}"),
    ] {
        assert!(log.contains(&line), "no {line:?}:\n{log}");
    }
    // The task ran as a process on the executor, and pymesos's TEARDOWN on exit removed the
    // framework.
    assert_eq!(executor_state["tasks_finished"], 1, "{executor_state}");
    let fid = log
        .lines()
        .find_map(|l| {
            l.split_once("REGISTERED framework ")
                .map(|(_, t)| t.split(' ').next().unwrap())
        })
        .unwrap_or_else(|| panic!("no REGISTERED line:\n{log}"));
    assert!(
        !lists_framework(&master_state["frameworks"], fid)
            && lists_framework(&master_state["completed_frameworks"], fid),
        "{fid} torn down: {master_state}"
    );
}

/// Pointed at a 1.0 master that does not lead, pymesos follows its `307` (`Location:
/// //<leader>:5050/api/v1/scheduler`) to the leader and gets its task done.
#[test]
fn pymesos_follows_the_redirect_of_a_1_0_follower() {
    let PymesosRun { code, log, .. } = run_pymesos("1.0", Through::Follower);
    assert_eq!(code, 0, "pymesos exited {code}:\n{log}");
    assert!(
        log.contains("Try to redirect to new master: master-"),
        "pymesos logged the redirect:\n{log}"
    );
    assert!(log.contains("FINISHED pymesos-"), "{log}");
}

/// pymesos (written against Mesos 1.0) on a 0.28 stack: it finds the leader (ZooKeeper), reads
/// `/version` (0.28 serves it), subscribes (0.28 has the stream id, which pymesos echoes) and runs
/// its task, since 0.28's v1 JSON names the agent `agent_id` as 1.0's does.
#[test]
fn pymesos_runs_a_task_on_0_28() {
    let PymesosRun {
        code,
        log,
        executor_state,
        ..
    } = run_pymesos("0.28", Through::ZooKeeper);
    assert_eq!(code, 0, "pymesos exited {code}:\n{log}");
    assert!(log.contains("(version 0.28.0)"), "it subscribes:\n{log}");
    assert!(log.contains("FINISHED pymesos-"), "{log}");
    assert_eq!(executor_state["tasks_finished"], 1, "{executor_state}");
}
