//! A minimal synchronous ZooKeeper client over TCP: one request in flight
//! at a time, watch notifications queued while waiting for replies, pings
//! at a third of the session timeout, reconnection with the same session
//! (so ephemeral nodes survive a short disconnection) and a clear
//! [`ZkError::SessionExpired`] when the server has dropped the session.

use crate::jute::{self, err, op, ConnectRequest, ConnectResponse, Reader, WatcherEvent};
use std::collections::VecDeque;
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// A parsed `zk://host1:port1,host2:port2/path` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZkUrl {
    pub hosts: Vec<String>,
    pub path: String,
}

impl ZkUrl {
    pub fn parse(url: &str) -> Result<ZkUrl, String> {
        let rest = url
            .strip_prefix("zk://")
            .ok_or_else(|| format!("expected zk://HOST:PORT[,HOST:PORT...]/PATH, got {url:?}"))?;
        let (hosts, path) = rest
            .split_once('/')
            .ok_or_else(|| format!("missing path in ZooKeeper URL {url:?}"))?;
        let path = format!("/{}", path.trim_end_matches('/'));
        if path == "/" || path.contains("//") {
            return Err(format!(
                "expecting a (chroot) path for ZooKeeper ('/' is not supported): {url:?}"
            ));
        }
        let hosts: Vec<String> = hosts
            .split(',')
            .map(|h| {
                if h.contains(':') {
                    h.to_string()
                } else {
                    format!("{h}:2181")
                }
            })
            .collect();
        if hosts.iter().any(|h| h.starts_with(':')) {
            return Err(format!("empty host in ZooKeeper URL {url:?}"));
        }
        Ok(ZkUrl { hosts, path })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ZkError {
    /// The connection broke or timed out; the session may still be alive.
    ConnectionLoss(String),
    /// The server no longer knows the session: ephemeral nodes are gone.
    SessionExpired,
    /// The server answered with an error code for `path`.
    Api { code: i32, path: String },
}

impl fmt::Display for ZkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ZkError::ConnectionLoss(m) => write!(f, "connection loss: {m}"),
            ZkError::SessionExpired => f.write_str("session expired"),
            ZkError::Api { code, path } => {
                let name = match *code {
                    err::NO_NODE => "no node",
                    err::NODE_EXISTS => "node exists",
                    err::SESSION_EXPIRED => "session expired",
                    _ => "error",
                };
                write!(f, "{name} ({code}) for {path}")
            }
        }
    }
}

impl From<jute::DecodeError> for ZkError {
    fn from(e: jute::DecodeError) -> Self {
        ZkError::ConnectionLoss(e.to_string())
    }
}

fn loss(e: io::Error) -> ZkError {
    ZkError::ConnectionLoss(e.to_string())
}

/// The identity of a session, to reconnect to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: i64,
    pub passwd: Vec<u8>,
    pub timeout_ms: i32,
}

pub struct ZkConn {
    stream: TcpStream,
    pub session: Session,
    pub server: String,
    xid: i32,
    last_zxid: i64,
    last_send: Instant,
    last_recv: Instant,
    events: VecDeque<WatcherEvent>,
    /// Bytes read but not yet parsed (a read timeout may split a packet).
    rbuf: Vec<u8>,
}

fn read_packet(stream: &mut TcpStream) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    stream.read_exact(&mut len)?;
    let n = i32::from_be_bytes(len);
    if !(0..=16 << 20).contains(&n) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("bad packet length {n}"),
        ));
    }
    let mut body = vec![0u8; n as usize];
    stream.read_exact(&mut body)?;
    Ok(body)
}

/// Takes one complete length-prefixed packet off the front of `buf`.
fn take_packet(buf: &mut Vec<u8>) -> io::Result<Option<Vec<u8>>> {
    if buf.len() < 4 {
        return Ok(None);
    }
    let n = i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
    if !(0..=16 << 20).contains(&n) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("bad packet length {n}"),
        ));
    }
    let n = n as usize;
    if buf.len() < 4 + n {
        return Ok(None);
    }
    let body = buf[4..4 + n].to_vec();
    buf.drain(..4 + n);
    Ok(Some(body))
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

impl ZkConn {
    /// Connects to the first reachable host, resuming `session` if given.
    pub fn connect(
        hosts: &[String],
        session: Option<&Session>,
        timeout: Duration,
        last_zxid: i64,
    ) -> Result<ZkConn, ZkError> {
        let mut last = ZkError::ConnectionLoss("no hosts".into());
        for host in hosts {
            match Self::connect_one(host, session, timeout, last_zxid) {
                Ok(c) => return Ok(c),
                Err(ZkError::SessionExpired) => return Err(ZkError::SessionExpired),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    fn connect_one(
        host: &str,
        session: Option<&Session>,
        timeout: Duration,
        last_zxid: i64,
    ) -> Result<ZkConn, ZkError> {
        let addrs: Vec<SocketAddr> = host
            .to_socket_addrs()
            .map_err(|e| ZkError::ConnectionLoss(format!("{host}: {e}")))?
            .collect();
        let mut stream = None;
        let mut last = ZkError::ConnectionLoss(format!("{host}: no addresses"));
        for a in addrs {
            match TcpStream::connect_timeout(&a, Duration::from_secs(2)) {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(e) => last = ZkError::ConnectionLoss(format!("{host}: {e}")),
            }
        }
        let mut stream = stream.ok_or(last)?;
        let _ = stream.set_nodelay(true);
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .map_err(loss)?;
        stream
            .set_write_timeout(Some(Duration::from_secs(5)))
            .map_err(loss)?;
        let req = ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: last_zxid,
            timeout_ms: session.map_or(timeout.as_millis() as i32, |s| s.timeout_ms),
            session_id: session.map_or(0, |s| s.id),
            passwd: session.map_or_else(|| vec![0u8; 16], |s| s.passwd.clone()),
        };
        stream.write_all(&req.encode()).map_err(loss)?;
        // A server that is still starting closes the connection without an
        // answer: that is a connection loss, not an expired session (which
        // is answered with a zero timeout, below).
        let body = read_packet(&mut stream)
            .map_err(|e| ZkError::ConnectionLoss(format!("{host}: {e}")))?;
        let resp = ConnectResponse::decode(&body)?;
        if resp.timeout_ms <= 0 || resp.session_id == 0 {
            return Err(ZkError::SessionExpired);
        }
        let now = Instant::now();
        Ok(ZkConn {
            stream,
            session: Session {
                id: resp.session_id,
                passwd: resp.passwd,
                timeout_ms: resp.timeout_ms,
            },
            server: host.to_string(),
            xid: 0,
            last_zxid,
            last_send: now,
            last_recv: now,
            events: VecDeque::new(),
            rbuf: Vec::new(),
        })
    }

    pub fn last_zxid(&self) -> i64 {
        self.last_zxid
    }

    fn session_timeout(&self) -> Duration {
        Duration::from_millis(self.session.timeout_ms.max(1000) as u64)
    }

    fn ping_interval(&self) -> Duration {
        self.session_timeout() / 3
    }

    fn send(&mut self, packet: &[u8]) -> Result<(), ZkError> {
        self.stream.write_all(packet).map_err(loss)?;
        self.last_send = Instant::now();
        Ok(())
    }

    /// Reads one packet, waiting at most `max`. `Ok(None)` on timeout.
    /// Notifications are queued; ping replies are swallowed.
    fn read_one(&mut self, max: Duration) -> Result<Option<(jute::ReplyHeader, Vec<u8>)>, ZkError> {
        let dead_after = self.session_timeout() * 2 / 3;
        if self.last_recv.elapsed() > dead_after {
            return Err(ZkError::ConnectionLoss(format!(
                "no answer from {} for {:?}",
                self.server,
                self.last_recv.elapsed()
            )));
        }
        let body = loop {
            if let Some(p) = take_packet(&mut self.rbuf).map_err(loss)? {
                break p;
            }
            self.stream
                .set_read_timeout(Some(max.max(Duration::from_millis(1))))
                .map_err(loss)?;
            let mut chunk = [0u8; 16 * 1024];
            match self.stream.read(&mut chunk) {
                Ok(0) => {
                    return Err(ZkError::ConnectionLoss(format!(
                        "{} closed the connection",
                        self.server
                    )))
                }
                Ok(n) => self.rbuf.extend_from_slice(&chunk[..n]),
                Err(e) if is_timeout(&e) => return Ok(None),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(loss(e)),
            }
        };
        self.last_recv = Instant::now();
        let mut r = Reader::new(&body);
        let h = jute::ReplyHeader::decode(&mut r)?;
        if h.zxid > 0 {
            self.last_zxid = self.last_zxid.max(h.zxid);
        }
        match h.xid {
            jute::XID_NOTIFICATION => {
                self.events.push_back(WatcherEvent::decode(&mut r)?);
                Ok(Some((h, Vec::new())))
            }
            jute::XID_PING => Ok(Some((h, Vec::new()))),
            _ => {
                let rest = body[body.len() - r.remaining()..].to_vec();
                Ok(Some((h, rest)))
            }
        }
    }

    fn ping_if_due(&mut self) -> Result<(), ZkError> {
        if self.last_send.elapsed() >= self.ping_interval() {
            let p = jute::request(jute::XID_PING, op::PING, |_| {});
            self.send(&p)?;
        }
        Ok(())
    }

    /// Sends a request built by `build(xid)` and waits for its reply body.
    fn call(&mut self, path: &str, build: impl FnOnce(i32) -> Vec<u8>) -> Result<Vec<u8>, ZkError> {
        self.xid = self.xid.wrapping_add(1).max(1);
        let xid = self.xid;
        self.send(&build(xid))?;
        let deadline = Instant::now() + self.session_timeout() * 2 / 3;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(ZkError::ConnectionLoss(format!(
                    "no reply from {} within {:?}",
                    self.server,
                    self.session_timeout() * 2 / 3
                )));
            }
            self.ping_if_due()?;
            let Some((h, body)) = self.read_one(left.min(self.ping_interval()))? else {
                continue;
            };
            if h.xid != xid {
                continue;
            }
            return match h.err {
                err::OK => Ok(body),
                err::SESSION_EXPIRED => Err(ZkError::SessionExpired),
                code => Err(ZkError::Api {
                    code,
                    path: path.to_string(),
                }),
            };
        }
    }

    /// Creates a node; returns its actual path (with the sequence suffix).
    pub fn create(&mut self, path: &str, data: &[u8], flags: i32) -> Result<String, ZkError> {
        let body = self.call(path, |xid| jute::create(xid, path, data, flags))?;
        Ok(Reader::new(&body).string()?)
    }

    /// Creates `path` and its parents as persistent nodes, if missing.
    pub fn ensure_path(&mut self, path: &str) -> Result<(), ZkError> {
        let mut cur = String::new();
        for part in path.split('/').filter(|p| !p.is_empty()) {
            cur.push('/');
            cur.push_str(part);
            match self.create(&cur, b"", jute::PERSISTENT) {
                Ok(_) => {}
                Err(ZkError::Api {
                    code: err::NODE_EXISTS,
                    ..
                }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    pub fn get_children(&mut self, path: &str, watch: bool) -> Result<Vec<String>, ZkError> {
        let body = self.call(path, |xid| {
            jute::path_watch(xid, op::GET_CHILDREN, path, watch)
        })?;
        Ok(Reader::new(&body).strings()?)
    }

    pub fn get_data(&mut self, path: &str, watch: bool) -> Result<Vec<u8>, ZkError> {
        let body = self.call(path, |xid| jute::path_watch(xid, op::GET_DATA, path, watch))?;
        Ok(jute::decode_get_data(&mut Reader::new(&body))?)
    }

    pub fn exists(&mut self, path: &str, watch: bool) -> Result<bool, ZkError> {
        match self.call(path, |xid| jute::path_watch(xid, op::EXISTS, path, watch)) {
            Ok(_) => Ok(true),
            Err(ZkError::Api {
                code: err::NO_NODE, ..
            }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    pub fn delete(&mut self, path: &str) -> Result<(), ZkError> {
        self.call(path, |xid| jute::delete(xid, path)).map(|_| ())
    }

    /// Waits up to `max` for a watch notification, pinging as needed.
    pub fn wait_event(&mut self, max: Duration) -> Result<Option<WatcherEvent>, ZkError> {
        let deadline = Instant::now() + max;
        loop {
            if let Some(e) = self.events.pop_front() {
                return Ok(Some(e));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            self.ping_if_due()?;
            let until_ping = self
                .ping_interval()
                .saturating_sub(self.last_send.elapsed())
                .max(Duration::from_millis(10));
            self.read_one(left.min(until_ping))?;
        }
    }

    /// Closes the session: the server deletes its ephemeral nodes at once.
    pub fn close(mut self) {
        let req = jute::request(self.xid.wrapping_add(1).max(1), op::CLOSE_SESSION, |_| {});
        if self.send(&req).is_ok() {
            let _ = self.read_one(Duration::from_secs(1));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_packets_across_reads() {
        let mut buf = vec![0, 0, 0, 3, b'a', b'b'];
        assert_eq!(take_packet(&mut buf).unwrap(), None);
        buf.extend_from_slice(&[b'c', 0, 0, 0, 0, 0]);
        assert_eq!(take_packet(&mut buf).unwrap().unwrap(), b"abc");
        assert_eq!(take_packet(&mut buf).unwrap().unwrap(), b"");
        assert_eq!(buf, [0]);
        assert!(take_packet(&mut vec![0xff, 0xff, 0xff, 0xff]).is_err());
    }

    #[test]
    fn parses_urls() {
        let u = ZkUrl::parse("zk://zookeeper:2181/mesos").unwrap();
        assert_eq!(u.hosts, ["zookeeper:2181"]);
        assert_eq!(u.path, "/mesos");
        let u = ZkUrl::parse("zk://a:1,b/x/y/").unwrap();
        assert_eq!(u.hosts, ["a:1", "b:2181"]);
        assert_eq!(u.path, "/x/y");
        for bad in ["zookeeper:2181/mesos", "zk://a:1", "zk://a:1/", "zk://:1/m"] {
            assert!(ZkUrl::parse(bad).is_err(), "{bad}");
        }
    }
}
