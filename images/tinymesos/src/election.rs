//! Leader election and detection through ZooKeeper, as Mesos does it.
//!
//! Masters *contend*: each creates an ephemeral sequential znode under the
//! path (`/mesos/info_0000000003`, or `/mesos/json.info_0000000004`) holding
//! its MasterInfo; the lowest sequence number leads. Everyone else
//! *detects*: watch the children, take the lowest sequence, read its data.
//! Which labels a release writes and can read comes from its
//! [`Caps`](crate::release::Caps); a detector that meets a leader under a
//! label it does not know fails the way Mesos did ("Failed to parse data of
//! unknown label ...").

use crate::release::{Caps, Label};
use crate::zk::{Session, ZkConn, ZkError, ZkUrl};
use crate::{jute, say};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// What a master publishes about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MasterInfo {
    pub id: String,
    /// IPv4 address in network byte order packed into a u32, as Mesos does.
    pub ip: u32,
    pub port: u32,
    /// `master@HOST:PORT`.
    pub pid: String,
    pub hostname: String,
    pub version: String,
}

impl MasterInfo {
    /// The binary encoding (protobuf wire format, fields 1-6 as in Mesos's
    /// `MasterInfo`: id, ip, port, pid, hostname, version).
    pub fn encode_binary(&self) -> Vec<u8> {
        let mut out = Vec::new();
        pb_bytes(&mut out, 1, self.id.as_bytes());
        pb_varint_field(&mut out, 2, u64::from(self.ip));
        pb_varint_field(&mut out, 3, u64::from(self.port));
        pb_bytes(&mut out, 4, self.pid.as_bytes());
        pb_bytes(&mut out, 5, self.hostname.as_bytes());
        pb_bytes(&mut out, 6, self.version.as_bytes());
        out
    }

    pub fn decode_binary(buf: &[u8]) -> Result<MasterInfo, String> {
        let mut m = MasterInfo {
            id: String::new(),
            ip: 0,
            port: 0,
            pid: String::new(),
            hostname: String::new(),
            version: String::new(),
        };
        let (mut have_id, mut have_ip, mut have_port) = (false, false, false);
        let mut pos = 0;
        while pos < buf.len() {
            let key = pb_read_varint(buf, &mut pos)?;
            let (field, wire) = (key >> 3, key & 7);
            match wire {
                0 => {
                    let v = pb_read_varint(buf, &mut pos)?;
                    match field {
                        2 => (m.ip, have_ip) = (v as u32, true),
                        3 => (m.port, have_port) = (v as u32, true),
                        _ => {}
                    }
                }
                2 => {
                    let n = pb_read_varint(buf, &mut pos)? as usize;
                    if buf.len() - pos < n {
                        return Err("truncated length-delimited field".into());
                    }
                    let s = String::from_utf8(buf[pos..pos + n].to_vec())
                        .map_err(|_| format!("field {field} is not UTF-8"))?;
                    pos += n;
                    match field {
                        1 => (m.id, have_id) = (s, true),
                        4 => m.pid = s,
                        5 => m.hostname = s,
                        6 => m.version = s,
                        _ => {}
                    }
                }
                5 => pos += 4,
                1 => pos += 8,
                w => return Err(format!("unsupported wire type {w}")),
            }
            if pos > buf.len() {
                return Err("truncated field".into());
            }
        }
        if !(have_id && have_ip && have_port) {
            return Err("missing required fields (id, ip, port)".into());
        }
        Ok(m)
    }

    pub fn to_json(&self) -> Value {
        let ip = self.ip_string();
        json!({
            "id": self.id,
            "ip": self.ip,
            "port": self.port,
            "pid": self.pid,
            "hostname": self.hostname,
            "version": self.version,
            "address": {"hostname": self.hostname, "ip": ip, "port": self.port},
        })
    }

    pub fn from_json(v: &Value) -> Result<MasterInfo, String> {
        let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        let n = |k: &str| v.get(k).and_then(Value::as_u64);
        Ok(MasterInfo {
            id: s("id").ok_or("missing id")?,
            ip: n("ip").ok_or("missing ip")? as u32,
            port: n("port").ok_or("missing port")? as u32,
            pid: s("pid").unwrap_or_default(),
            hostname: s("hostname").unwrap_or_default(),
            version: s("version").unwrap_or_default(),
        })
    }

    /// Dotted quad of `ip` (stored in network byte order, read on a
    /// little-endian host as Mesos does).
    pub fn ip_string(&self) -> String {
        let b = self.ip.to_le_bytes();
        format!("{}.{}.{}.{}", b[0], b[1], b[2], b[3])
    }

    pub fn ip_from_octets(o: [u8; 4]) -> u32 {
        u32::from_le_bytes(o)
    }

    pub fn encode(&self, label: Label) -> Vec<u8> {
        match label {
            Label::Info => self.encode_binary(),
            Label::JsonInfo => self.to_json().to_string().into_bytes(),
        }
    }
}

fn pb_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn pb_varint_field(out: &mut Vec<u8>, field: u64, v: u64) {
    pb_varint(out, field << 3);
    pb_varint(out, v);
}

fn pb_bytes(out: &mut Vec<u8>, field: u64, b: &[u8]) {
    pb_varint(out, (field << 3) | 2);
    pb_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

fn pb_read_varint(buf: &[u8], pos: &mut usize) -> Result<u64, String> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *buf.get(*pos).ok_or("truncated varint")?;
        *pos += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return Ok(v);
        }
    }
    Err("varint too long".into())
}

/// A child of the election path: `json.info_0000000004` → label
/// `json.info`, sequence 4. Children without a 10-digit sequence suffix
/// (like `log_replicas`) are not candidates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub name: String,
    pub label: String,
    pub seq: u64,
}

pub fn parse_child(name: &str) -> Option<Candidate> {
    let (label, seq) = name.rsplit_once('_')?;
    if seq.len() != 10 || !seq.bytes().all(|b| b.is_ascii_digit()) || label.is_empty() {
        return None;
    }
    Some(Candidate {
        name: name.to_string(),
        label: label.to_string(),
        seq: seq.parse().ok()?,
    })
}

/// The candidate with the lowest sequence: the leader.
pub fn leader_of(children: &[String]) -> Option<Candidate> {
    children
        .iter()
        .filter_map(|c| parse_child(c))
        .min_by_key(|c| c.seq)
}

/// Decodes a leader's data the way a detector of release `caps` can.
/// Returns the info and a warning to log, or the error a real detector
/// gives (the label is unknown to this release, or the data is corrupt).
pub fn decode_leader(
    caps: &Caps,
    cand: &Candidate,
    data: &[u8],
) -> Result<(MasterInfo, Option<String>), String> {
    let label = Label::from_prefix(&cand.label)
        .filter(|l| caps.reads_label(*l))
        .ok_or_else(|| format!("Failed to parse data of unknown label '{}'", cand.label))?;
    match label {
        Label::JsonInfo => {
            let v: Value = serde_json::from_slice(data)
                .map_err(|e| format!("Failed to parse JSON in {}: {e}", cand.name))?;
            let info = MasterInfo::from_json(&v)
                .map_err(|e| format!("Failed to parse MasterInfo in {}: {e}", cand.name))?;
            Ok((info, None))
        }
        Label::Info => {
            let info = MasterInfo::decode_binary(data)
                .map_err(|e| format!("Failed to parse MasterInfo in {}: {e}", cand.name))?;
            // Readers that also know JSON warn about the old format.
            let warn = caps.reads_label(Label::JsonInfo).then(|| {
                format!(
                    "Leading master {} is using a Protobuf binary format when registering with \
                     ZooKeeper (info): this will be deprecated as of Mesos 0.24 (see MESOS-2340)",
                    info.pid
                )
            });
            Ok((info, warn))
        }
    }
}

/// The current view of the election, shared with the component.
#[derive(Debug, Clone, Default)]
pub struct View {
    /// The leading master, as far as this process can tell.
    pub leader: Option<MasterInfo>,
    /// The leader's znode (a new candidacy of the same master is a new
    /// leader: it has forgotten its agents and frameworks).
    pub leader_node: Option<String>,
    /// Why the leader cannot be detected (unknown label, bad data).
    pub error: Option<String>,
    /// This process is a contender and currently leads.
    pub elected: bool,
    /// Connected to ZooKeeper with a live session.
    pub connected: bool,
    /// Bumped on every change.
    pub generation: u64,
}

/// The election thread's shared state.
pub struct Election {
    state: Mutex<View>,
    changed: Condvar,
    closing: AtomicBool,
    closed: (Mutex<bool>, Condvar),
}

impl Election {
    /// Starts the election thread. `contend` is `Some(info)` for masters.
    pub fn start(
        url: ZkUrl,
        caps: Caps,
        contend: Option<MasterInfo>,
        timeout: Duration,
    ) -> Arc<Election> {
        let e = Arc::new(Election {
            state: Mutex::new(View::default()),
            changed: Condvar::new(),
            closing: AtomicBool::new(false),
            closed: (Mutex::new(false), Condvar::new()),
        });
        let e2 = Arc::clone(&e);
        std::thread::Builder::new()
            .name("zookeeper".into())
            .spawn(move || run(&e2, &url, &caps, contend.as_ref(), timeout))
            .expect("spawn zookeeper thread");
        e
    }

    pub fn view(&self) -> View {
        self.state.lock().unwrap().clone()
    }

    /// Waits until the generation differs from `seen` (or `max` passes).
    pub fn wait_change(&self, seen: u64, max: Duration) -> View {
        let g = self.state.lock().unwrap();
        let (g, _) = self
            .changed
            .wait_timeout_while(g, max, |v| v.generation == seen)
            .unwrap();
        g.clone()
    }

    fn publish(&self, f: impl FnOnce(&mut View)) {
        let mut v = self.state.lock().unwrap();
        let snapshot = |v: &View| {
            (
                v.leader.clone(),
                v.leader_node.clone(),
                v.error.clone(),
                v.elected,
                v.connected,
            )
        };
        let before = snapshot(&v);
        f(&mut v);
        if before != snapshot(&v) {
            v.generation += 1;
            self.changed.notify_all();
        }
    }

    /// Closes the ZooKeeper session (removing a contender's znode at once)
    /// and waits up to `max` for it.
    pub fn close(&self, max: Duration) {
        self.closing.store(true, Ordering::SeqCst);
        let g = self.closed.0.lock().unwrap();
        let _ = self.closed.1.wait_timeout_while(g, max, |c| !*c).unwrap();
    }

    fn mark_closed(&self) {
        *self.closed.0.lock().unwrap() = true;
        self.closed.1.notify_all();
    }
}

fn run(e: &Election, url: &ZkUrl, caps: &Caps, contend: Option<&MasterInfo>, timeout: Duration) {
    let mut session: Option<Session> = None;
    let mut own_node: Option<String> = None;
    let mut last_zxid = 0i64;
    let mut backoff = Duration::from_millis(200);
    let mut logged_failure = false;
    // Like Mesos: the client library only learns of an expired session when
    // it reconnects, so a session disconnected for longer than its timeout
    // is given up here (and a wiped ZooKeeper, which refuses clients that
    // have seen newer zxids, is joined with a new session).
    let mut disconnected_since: Option<Instant> = None;
    let mut candidacies = 0u32;
    let mut candidacy: Option<MasterInfo> = None;
    loop {
        if e.closing.load(Ordering::SeqCst) {
            e.mark_closed();
            return;
        }
        let mut conn = match ZkConn::connect(&url.hosts, session.as_ref(), timeout, last_zxid) {
            Ok(c) => c,
            Err(ZkError::SessionExpired) => {
                say!("ZooKeeper session expired; starting a new session");
                session = None;
                last_zxid = 0;
                if own_node.take().is_some() {
                    e.publish(|v| v.elected = false);
                }
                continue;
            }
            Err(err) => {
                let since = *disconnected_since.get_or_insert_with(Instant::now);
                if session.is_some() && since.elapsed() > timeout {
                    say!(
                        "Disconnected from ZooKeeper for {:?}, longer than the session timeout: giving up the session ({err})",
                        since.elapsed()
                    );
                    session = None;
                    last_zxid = 0;
                    if own_node.take().is_some() {
                        e.publish(|v| v.elected = false);
                    }
                }
                if !logged_failure {
                    say!(
                        "Cannot connect to ZooKeeper at {}: {err}; retrying",
                        url.hosts.join(",")
                    );
                    logged_failure = true;
                }
                e.publish(|v| v.connected = false);
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(2));
                continue;
            }
        };
        backoff = Duration::from_millis(200);
        logged_failure = false;
        disconnected_since = None;
        if session.as_ref().map(|s| s.id) == Some(conn.session.id) {
            say!(
                "Reconnected to ZooKeeper {} (session 0x{:x} resumed)",
                conn.server,
                conn.session.id
            );
        } else {
            say!(
                "Connected to ZooKeeper {} (session 0x{:x}, timeout {} ms)",
                conn.server,
                conn.session.id,
                conn.session.timeout_ms
            );
        }
        session = Some(conn.session.clone());
        // Each new candidacy is a new incarnation of this master (it starts
        // empty), so it gets a new id: detectors compare ids and re-register.
        if let (Some(base), None) = (contend, &own_node) {
            candidacies += 1;
            let mut c = base.clone();
            if candidacies > 1 {
                c.id = format!("{}.{candidacies}", base.id);
            }
            candidacy = Some(c);
        }
        let result = session_loop(e, &mut conn, url, caps, candidacy.as_ref(), &mut own_node);
        last_zxid = conn.last_zxid();
        match result {
            Ok(()) => {
                // Closing: delete the session and with it our znode.
                conn.close();
                e.publish(|v| {
                    v.elected = false;
                    v.connected = false;
                });
                e.mark_closed();
                return;
            }
            Err(ZkError::SessionExpired) => {
                say!("ZooKeeper session expired");
                session = None;
                own_node = None;
                last_zxid = 0;
                e.publish(|v| {
                    v.elected = false;
                    v.connected = false;
                });
            }
            Err(err) => {
                disconnected_since = Some(Instant::now());
                say!("Disconnected from ZooKeeper ({err}); reconnecting");
                e.publish(|v| v.connected = false);
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }
}

/// Runs on one connection until it breaks (`Err`) or closing (`Ok`).
fn session_loop(
    e: &Election,
    conn: &mut ZkConn,
    url: &ZkUrl,
    caps: &Caps,
    contend: Option<&MasterInfo>,
    own_node: &mut Option<String>,
) -> Result<(), ZkError> {
    conn.ensure_path(&url.path)?;
    if let Some(info) = contend {
        let still_there = match own_node.as_deref() {
            Some(n) => conn.exists(&format!("{}/{n}", url.path), false)?,
            None => false,
        };
        if !still_there {
            let label = caps.writes[0];
            let path = format!("{}/{}_", url.path, label.prefix());
            let created = conn.create(&path, &info.encode(label), jute::EPHEMERAL_SEQUENTIAL)?;
            let name = created.rsplit('/').next().unwrap_or(&created).to_string();
            say!("Created znode {created} ({label} label) for this master's candidacy");
            *own_node = Some(name);
        }
    }
    e.publish(|v| v.connected = true);
    let mut last_reported: Option<String> = None;
    loop {
        if e.closing.load(Ordering::SeqCst) {
            return Ok(());
        }
        let children = conn.get_children(&url.path, true)?;
        let leader = leader_of(&children);
        if let (Some(own), Some(info)) = (own_node.as_deref(), contend) {
            if !children.iter().any(|c| c == own) {
                // Our znode vanished under a live session: contend again.
                say!("Our candidacy znode {own} is gone; contending again");
                return Err(ZkError::ConnectionLoss("candidacy lost".into()));
            }
            if leader.as_ref().is_some_and(|l| l.name == own) {
                let me = info.clone();
                let node = own.to_string();
                e.publish(|v| {
                    v.elected = true;
                    v.leader = Some(me);
                    v.leader_node = Some(node);
                    v.error = None;
                });
                wait_for_change(e, conn)?;
                continue;
            }
        }
        match leader {
            None => {
                if last_reported.as_deref() != Some("") {
                    say!("No master is currently leading");
                    last_reported = Some(String::new());
                }
                e.publish(|v| {
                    v.elected = false;
                    v.leader = None;
                    v.leader_node = None;
                    v.error = None;
                });
            }
            Some(cand) => {
                let data = match conn.get_data(&format!("{}/{}", url.path, cand.name), false) {
                    Ok(d) => d,
                    // Deleted between listing and reading: list again.
                    Err(ZkError::Api { .. }) => continue,
                    Err(err) => return Err(err),
                };
                match decode_leader(caps, &cand, &data) {
                    Ok((info, warn)) => {
                        if last_reported.as_deref() != Some(&cand.name) {
                            if let Some(w) = warn {
                                say!("{w}");
                            }
                            last_reported = Some(cand.name.clone());
                        }
                        let node = cand.name.clone();
                        e.publish(|v| {
                            v.elected = false;
                            v.leader = Some(info);
                            v.leader_node = Some(node);
                            v.error = None;
                        });
                    }
                    Err(msg) => {
                        e.publish(|v| {
                            v.elected = false;
                            v.leader = None;
                            v.leader_node = None;
                            v.error = Some(msg);
                        });
                    }
                }
            }
        }
        wait_for_change(e, conn)?;
    }
}

/// Waits for a watch notification on the path (or closing).
fn wait_for_change(e: &Election, conn: &mut ZkConn) -> Result<(), ZkError> {
    loop {
        if e.closing.load(Ordering::SeqCst) {
            return Ok(());
        }
        if conn.wait_event(Duration::from_millis(500))?.is_some() {
            return Ok(());
        }
    }
}

/// Keeps a deadline-bounded wait for the first leader, for logging.
pub fn wait_for_leader(e: &Election, max: Duration) -> View {
    let deadline = Instant::now() + max;
    let mut v = e.view();
    while v.leader.is_none() && v.error.is_none() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        v = e.wait_change(v.generation, left);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> MasterInfo {
        MasterInfo {
            id: "20150818-1-5050-42".into(),
            ip: MasterInfo::ip_from_octets([172, 18, 0, 3]),
            port: 5050,
            pid: "master@master-1:5050".into(),
            hostname: "master-1".into(),
            version: "0.23.0".into(),
        }
    }

    #[test]
    fn parses_labels_and_sequences() {
        let c = parse_child("json.info_0000000004").unwrap();
        assert_eq!((c.label.as_str(), c.seq), ("json.info", 4));
        let c = parse_child("info_0000000012").unwrap();
        assert_eq!((c.label.as_str(), c.seq), ("info", 12));
        for bad in [
            "log_replicas",
            "info_12",
            "info_000000001x",
            "_0000000001",
            "info",
        ] {
            assert!(parse_child(bad).is_none(), "{bad}");
        }
        let kids: Vec<String> = ["log_replicas", "json.info_0000000007", "info_0000000005"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(leader_of(&kids).unwrap().name, "info_0000000005");
        assert!(leader_of(&kids[..1]).is_none());
    }

    #[test]
    fn binary_master_info_roundtrip() {
        let i = info();
        let b = i.encode_binary();
        assert_eq!(b[0], 0x0a, "field 1, length-delimited");
        assert_eq!(MasterInfo::decode_binary(&b).unwrap(), i);
        assert!(MasterInfo::decode_binary(&b[..b.len() - 1]).is_err());
        assert!(MasterInfo::decode_binary(&[]).is_err());
        assert!(MasterInfo::decode_binary(b"{\"id\":1}").is_err());
        assert_eq!(i.ip_string(), "172.18.0.3");
    }

    #[test]
    fn json_master_info_roundtrip() {
        let i = info();
        let v = i.to_json();
        assert_eq!(v["address"]["ip"], "172.18.0.3");
        assert_eq!(MasterInfo::from_json(&v).unwrap(), i);
    }

    #[test]
    fn detectors_by_release() {
        let c22 = Caps::of("0.22").unwrap();
        let c23 = Caps::of("0.23").unwrap();
        let i = info();
        let json_cand = parse_child("json.info_0000000003").unwrap();
        let bin_cand = parse_child("info_0000000003").unwrap();
        let json_data = i.encode(Label::JsonInfo);
        let bin_data = i.encode(Label::Info);

        let err = decode_leader(&c22, &json_cand, &json_data).unwrap_err();
        assert_eq!(err, "Failed to parse data of unknown label 'json.info'");
        assert_eq!(
            decode_leader(&c22, &bin_cand, &bin_data).unwrap(),
            (i.clone(), None)
        );

        assert_eq!(decode_leader(&c23, &json_cand, &json_data).unwrap().0, i);
        let (got, warn) = decode_leader(&c23, &bin_cand, &bin_data).unwrap();
        assert_eq!(got, i);
        assert!(warn.unwrap().contains("deprecated"));
        let other = parse_child("zeus.info_0000000001").unwrap();
        assert!(decode_leader(&c23, &other, b"")
            .unwrap_err()
            .contains("unknown label 'zeus.info'"));
        assert!(decode_leader(&c23, &json_cand, &bin_data).is_err());
    }
}
