//! RecordIO, the framing of the v1 APIs' event streams: each record is its
//! length in bytes as ASCII decimal, a `\n`, then the record itself
//! (`"20\n{\"type\":\"HEARTBEAT\"}"`). Records are independent of the HTTP
//! chunks that carry them: a record may span chunks and a chunk may hold
//! several records.

use std::io::{self, Read};

/// Longest record a reader accepts (a sanity bound, not a protocol limit).
pub const MAX_RECORD: usize = 16 * 1024 * 1024;

/// Frames one record.
pub fn encode(record: &[u8]) -> Vec<u8> {
    let mut out = format!("{}\n", record.len()).into_bytes();
    out.extend_from_slice(record);
    out
}

/// Reads records from a byte stream.
pub struct Reader<R: Read> {
    r: R,
}

impl<R: Read> Reader<R> {
    pub fn new(r: R) -> Self {
        Reader { r }
    }

    /// The next record; `Ok(None)` at a clean end of the stream (between
    /// records). A stream that ends inside a record, or a malformed length,
    /// is an error.
    pub fn next_record(&mut self) -> io::Result<Option<Vec<u8>>> {
        let mut len = Vec::new();
        let mut b = [0u8; 1];
        loop {
            match self.r.read(&mut b) {
                Ok(0) if len.is_empty() => return Ok(None),
                Ok(0) => return Err(bad("stream ended inside a record length")),
                Ok(_) if b[0] == b'\n' => break,
                Ok(_) if b[0].is_ascii_digit() && len.len() < 20 => len.push(b[0]),
                Ok(_) => {
                    return Err(bad(&format!(
                        "bad record length: unexpected byte {:?} after {:?}",
                        b[0] as char,
                        String::from_utf8_lossy(&len)
                    )))
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        let n: usize = std::str::from_utf8(&len)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad("empty record length"))?;
        if n > MAX_RECORD {
            return Err(bad(&format!("record of {n} bytes is too large")));
        }
        let mut rec = vec![0u8; n];
        self.r.read_exact(&mut rec).map_err(|e| {
            if e.kind() == io::ErrorKind::UnexpectedEof {
                bad(&format!("stream ended inside a record of {n} bytes"))
            } else {
                e
            }
        })?;
        Ok(Some(rec))
    }
}

fn bad(m: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("RecordIO: {m}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_and_reads_back() {
        let a = br#"{"type":"HEARTBEAT"}"#;
        assert_eq!(encode(a), b"20\n{\"type\":\"HEARTBEAT\"}".to_vec());
        let mut stream = encode(a);
        stream.extend(encode(b""));
        stream.extend(encode("é".as_bytes()));
        let mut r = Reader::new(&stream[..]);
        assert_eq!(r.next_record().unwrap().unwrap(), a);
        assert_eq!(r.next_record().unwrap().unwrap(), b"");
        assert_eq!(r.next_record().unwrap().unwrap(), "é".as_bytes());
        assert!(r.next_record().unwrap().is_none());
    }

    #[test]
    fn rejects_truncated_and_malformed() {
        assert!(Reader::new(&b"10\nabc"[..]).next_record().is_err());
        assert!(Reader::new(&b"12"[..]).next_record().is_err());
        assert!(Reader::new(&b"x\n"[..]).next_record().is_err());
        assert!(Reader::new(&b"\n"[..]).next_record().is_err());
        assert!(Reader::new(&b"99999999999\n"[..]).next_record().is_err());
    }
}
