//! ZooKeeper's wire encoding (jute): big-endian integers, length-prefixed
//! buffers and strings (length -1 is null), counted vectors, and every
//! packet framed by a 4-byte big-endian length. Only the records the
//! client needs are here.

use std::fmt;

/// Operation codes (`ZooDefs.OpCode`).
pub mod op {
    pub const CREATE: i32 = 1;
    pub const DELETE: i32 = 2;
    pub const EXISTS: i32 = 3;
    pub const GET_DATA: i32 = 4;
    pub const GET_CHILDREN: i32 = 8;
    pub const PING: i32 = 11;
    pub const CLOSE_SESSION: i32 = -11;
}

/// Special xids: watch notifications and ping replies.
pub const XID_NOTIFICATION: i32 = -1;
pub const XID_PING: i32 = -2;

/// Create modes.
pub const PERSISTENT: i32 = 0;
pub const EPHEMERAL_SEQUENTIAL: i32 = 3;

/// Error codes (`KeeperException.Code`).
pub mod err {
    pub const OK: i32 = 0;
    pub const NO_NODE: i32 = -101;
    pub const NODE_EXISTS: i32 = -110;
    pub const SESSION_EXPIRED: i32 = -112;
}

/// Watch event types.
pub mod event {
    pub const NODE_CREATED: i32 = 1;
    pub const NODE_DELETED: i32 = 2;
    pub const NODE_DATA_CHANGED: i32 = 3;
    pub const NODE_CHILDREN_CHANGED: i32 = 4;
}

/// A record that could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError(pub String);

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed ZooKeeper record: {}", self.0)
    }
}

/// Appends jute-encoded fields to a buffer.
#[derive(Default)]
pub struct Writer {
    pub buf: Vec<u8>,
}

impl Writer {
    pub fn new() -> Writer {
        Writer::default()
    }
    pub fn int(&mut self, v: i32) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub fn long(&mut self, v: i64) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub fn boolean(&mut self, v: bool) -> &mut Self {
        self.buf.push(u8::from(v));
        self
    }
    pub fn buffer(&mut self, v: &[u8]) -> &mut Self {
        self.int(v.len() as i32);
        self.buf.extend_from_slice(v);
        self
    }
    pub fn string(&mut self, v: &str) -> &mut Self {
        self.buffer(v.as_bytes())
    }
    /// Frames the record: 4-byte length, then the bytes.
    pub fn framed(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.buf.len() + 4);
        out.extend_from_slice(&(self.buf.len() as i32).to_be_bytes());
        out.extend_from_slice(&self.buf);
        out
    }
}

/// Reads jute-encoded fields from a slice.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf, pos: 0 }
    }
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], DecodeError> {
        if self.buf.len() - self.pos < n {
            return Err(DecodeError(format!(
                "{what}: need {n} bytes at offset {}, have {}",
                self.pos,
                self.buf.len() - self.pos
            )));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }
    pub fn int(&mut self) -> Result<i32, DecodeError> {
        let b = self.take(4, "int")?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    pub fn long(&mut self) -> Result<i64, DecodeError> {
        let b = self.take(8, "long")?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(i64::from_be_bytes(a))
    }
    pub fn boolean(&mut self) -> Result<bool, DecodeError> {
        Ok(self.take(1, "bool")?[0] != 0)
    }
    /// A buffer; null (length -1) reads as empty.
    pub fn buffer(&mut self) -> Result<Vec<u8>, DecodeError> {
        let n = self.int()?;
        if n < 0 {
            return Ok(Vec::new());
        }
        Ok(self.take(n as usize, "buffer")?.to_vec())
    }
    pub fn string(&mut self) -> Result<String, DecodeError> {
        String::from_utf8(self.buffer()?).map_err(|_| DecodeError("string is not UTF-8".into()))
    }
    pub fn strings(&mut self) -> Result<Vec<String>, DecodeError> {
        let n = self.int()?;
        if n < 0 {
            return Ok(Vec::new());
        }
        if n as usize > self.remaining() / 4 {
            return Err(DecodeError(format!("vector of {n} strings is too long")));
        }
        (0..n).map(|_| self.string()).collect()
    }
}

/// `ConnectRequest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectRequest {
    pub protocol_version: i32,
    pub last_zxid_seen: i64,
    pub timeout_ms: i32,
    pub session_id: i64,
    pub passwd: Vec<u8>,
}

impl ConnectRequest {
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.int(self.protocol_version)
            .long(self.last_zxid_seen)
            .int(self.timeout_ms)
            .long(self.session_id)
            .buffer(&self.passwd)
            .boolean(false); // readOnly
        w.framed()
    }
}

/// `ConnectResponse`. A session the server no longer knows comes back with
/// `timeout_ms <= 0` (and session id 0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectResponse {
    pub protocol_version: i32,
    pub timeout_ms: i32,
    pub session_id: i64,
    pub passwd: Vec<u8>,
}

impl ConnectResponse {
    pub fn decode(body: &[u8]) -> Result<ConnectResponse, DecodeError> {
        let mut r = Reader::new(body);
        Ok(ConnectResponse {
            protocol_version: r.int()?,
            timeout_ms: r.int()?,
            session_id: r.long()?,
            passwd: r.buffer()?,
        })
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.int(self.protocol_version)
            .int(self.timeout_ms)
            .long(self.session_id)
            .buffer(&self.passwd)
            .boolean(false);
        w.framed()
    }
}

/// Encodes a request: header (xid, type) then the op's record.
pub fn request(xid: i32, op: i32, body: impl FnOnce(&mut Writer)) -> Vec<u8> {
    let mut w = Writer::new();
    w.int(xid).int(op);
    body(&mut w);
    w.framed()
}

/// `CreateRequest` with the `world:anyone` ALL ACL.
pub fn create(xid: i32, path: &str, data: &[u8], flags: i32) -> Vec<u8> {
    request(xid, op::CREATE, |w| {
        w.string(path).buffer(data);
        w.int(1).int(0x1f).string("world").string("anyone");
        w.int(flags);
    })
}

/// `ExistsRequest`, `GetDataRequest`, `GetChildrenRequest`: path and watch.
pub fn path_watch(xid: i32, op: i32, path: &str, watch: bool) -> Vec<u8> {
    request(xid, op, |w| {
        w.string(path).boolean(watch);
    })
}

/// `DeleteRequest` (version -1: any).
pub fn delete(xid: i32, path: &str) -> Vec<u8> {
    request(xid, op::DELETE, |w| {
        w.string(path).int(-1);
    })
}

/// `ReplyHeader`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplyHeader {
    pub xid: i32,
    pub zxid: i64,
    pub err: i32,
}

impl ReplyHeader {
    pub fn decode(r: &mut Reader) -> Result<ReplyHeader, DecodeError> {
        Ok(ReplyHeader {
            xid: r.int()?,
            zxid: r.long()?,
            err: r.int()?,
        })
    }
}

/// `WatcherEvent` (the body of an xid -1 notification).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatcherEvent {
    pub kind: i32,
    pub state: i32,
    pub path: String,
}

impl WatcherEvent {
    pub fn decode(r: &mut Reader) -> Result<WatcherEvent, DecodeError> {
        Ok(WatcherEvent {
            kind: r.int()?,
            state: r.int()?,
            path: r.string()?,
        })
    }
}

/// Length of an encoded `Stat` (8 longs/ints: 6 longs, 5 ints).
pub const STAT_LEN: usize = 6 * 8 + 5 * 4;

/// `GetDataResponse`: the data (the `Stat` after it is skipped).
pub fn decode_get_data(r: &mut Reader) -> Result<Vec<u8>, DecodeError> {
    let data = r.buffer()?;
    if r.remaining() < STAT_LEN {
        return Err(DecodeError("GetDataResponse without a Stat".into()));
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_request_layout() {
        let req = ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 0x0102,
            timeout_ms: 10_000,
            session_id: 0x1122334455667788,
            passwd: vec![0xAA; 16],
        }
        .encode();
        // 4 length + 4 + 8 + 4 + 8 + (4 + 16) + 1
        assert_eq!(req.len(), 4 + 45);
        assert_eq!(&req[..4], &45i32.to_be_bytes());
        assert_eq!(&req[4..8], &[0, 0, 0, 0]);
        assert_eq!(&req[8..16], &[0, 0, 0, 0, 0, 0, 1, 2]);
        assert_eq!(&req[16..20], &10_000i32.to_be_bytes());
        assert_eq!(&req[20..28], &0x1122334455667788i64.to_be_bytes());
        assert_eq!(&req[28..32], &16i32.to_be_bytes());
        assert_eq!(req[48], 0);
    }

    #[test]
    fn connect_response_roundtrip() {
        let resp = ConnectResponse {
            protocol_version: 0,
            timeout_ms: 6000,
            session_id: 42,
            passwd: (0..16).collect(),
        };
        let framed = resp.encode();
        assert_eq!(ConnectResponse::decode(&framed[4..]).unwrap(), resp);
        // Servers that omit the readOnly flag are fine too.
        assert_eq!(
            ConnectResponse::decode(&framed[4..framed.len() - 1]).unwrap(),
            resp
        );
    }

    #[test]
    fn create_request_layout() {
        let req = create(7, "/mesos/info_", b"ab", EPHEMERAL_SEQUENTIAL);
        let mut r = Reader::new(&req[4..]);
        assert_eq!(r.int().unwrap(), 7);
        assert_eq!(r.int().unwrap(), op::CREATE);
        assert_eq!(r.string().unwrap(), "/mesos/info_");
        assert_eq!(r.buffer().unwrap(), b"ab");
        assert_eq!(r.int().unwrap(), 1, "one ACL");
        assert_eq!(r.int().unwrap(), 31, "perms ALL");
        assert_eq!(r.string().unwrap(), "world");
        assert_eq!(r.string().unwrap(), "anyone");
        assert_eq!(r.int().unwrap(), 3, "EPHEMERAL_SEQUENTIAL");
        assert_eq!(r.remaining(), 0);
        assert_eq!(
            i32::from_be_bytes(req[..4].try_into().unwrap()) as usize,
            req.len() - 4
        );
    }

    #[test]
    fn path_watch_and_ping_layout() {
        let req = path_watch(3, op::GET_CHILDREN, "/mesos", true);
        assert_eq!(
            req,
            [
                &[0, 0, 0, 19][..],
                &[0, 0, 0, 3],
                &[0, 0, 0, 8],
                &[0, 0, 0, 6],
                b"/mesos",
                &[1]
            ]
            .concat()
        );
        let ping = request(XID_PING, op::PING, |_| {});
        assert_eq!(ping, [0, 0, 0, 8, 0xff, 0xff, 0xff, 0xfe, 0, 0, 0, 11]);
    }

    #[test]
    fn decodes_replies_and_events() {
        let mut w = Writer::new();
        w.int(5).long(99).int(0);
        w.int(2)
            .string("info_0000000001")
            .string("json.info_0000000002");
        let mut r = Reader::new(&w.buf);
        let h = ReplyHeader::decode(&mut r).unwrap();
        assert_eq!(
            h,
            ReplyHeader {
                xid: 5,
                zxid: 99,
                err: 0
            }
        );
        assert_eq!(
            r.strings().unwrap(),
            ["info_0000000001", "json.info_0000000002"]
        );

        let mut w = Writer::new();
        w.int(-1).long(-1).int(0);
        w.int(event::NODE_CHILDREN_CHANGED).int(3).string("/mesos");
        let mut r = Reader::new(&w.buf);
        assert_eq!(ReplyHeader::decode(&mut r).unwrap().xid, XID_NOTIFICATION);
        let e = WatcherEvent::decode(&mut r).unwrap();
        assert_eq!(e.kind, event::NODE_CHILDREN_CHANGED);
        assert_eq!(e.path, "/mesos");

        let mut w = Writer::new();
        w.buffer(b"data");
        w.buf.extend_from_slice(&[0u8; STAT_LEN]);
        assert_eq!(decode_get_data(&mut Reader::new(&w.buf)).unwrap(), b"data");
    }

    #[test]
    fn rejects_truncated_and_null() {
        assert!(Reader::new(&[0, 0]).int().is_err());
        assert!(Reader::new(&[0, 0, 0, 9, 1]).buffer().is_err());
        assert_eq!(
            Reader::new(&[0xff, 0xff, 0xff, 0xff]).buffer().unwrap(),
            b""
        );
        assert!(Reader::new(&[0x7f, 0, 0, 0]).strings().is_err());
    }
}
