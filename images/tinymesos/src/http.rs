//! Just enough HTTP/1.1 on std::net (adapted from the fixture): one request
//! per connection (`Connection: close`), request bodies framed by
//! `Content-Length`. Responses are either whole (`Content-Length`) or a
//! stream (`Transfer-Encoding: chunked`), which the v1 APIs' event streams
//! need ([`ChunkedWriter`] on the server, [`open`] on the client).
//! No keep-alive.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// Largest request head (request line + headers) a server accepts.
const MAX_HEAD: usize = 64 * 1024;
/// Largest request body a server accepts.
pub const MAX_BODY: usize = 1024 * 1024;
/// Largest response a client accepts.
const MAX_RESPONSE: usize = 4 * 1024 * 1024;

/// A parsed request. `path` has any `?query` stripped.
pub struct Request {
    pub method: String,
    pub path: String,
    pub query: String,
    /// Header names are lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// A parameter from the query string or a form-encoded body.
    pub fn param(&self, name: &str) -> Option<String> {
        let body = String::from_utf8_lossy(&self.body);
        [self.query.as_str(), body.as_ref()]
            .iter()
            .flat_map(|s| s.split('&'))
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| percent_decode(v))
    }
}

/// Decodes `%XX` escapes and `+` (form encoding).
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                match std::str::from_utf8(&b[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    Some(v) => {
                        out.push(v);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A request that could not be parsed: the status and message to answer.
pub type Reject = (u16, String);

fn find_head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

/// Reads one request from `r`. The caller sets socket timeouts.
pub fn read_request(r: &mut impl Read) -> Result<Request, Reject> {
    let bad = |m: &str| (400, format!("bad request: {m}"));
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(end) = find_head_end(&buf) {
            break end;
        }
        if buf.len() > MAX_HEAD {
            return Err((431, "request head too large".to_string()));
        }
        let n = r.read(&mut chunk).map_err(|e| bad(&e.to_string()))?;
        if n == 0 {
            return Err(bad("connection closed before end of headers"));
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = std::str::from_utf8(&buf[..head_end]).map_err(|_| bad("head is not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let mut parts = lines.next().unwrap_or("").split(' ');
    let (method, target) = match (parts.next(), parts.next(), parts.next()) {
        (Some(m), Some(t), Some(v)) if !m.is_empty() && v.starts_with("HTTP/1.") => (m, t),
        _ => return Err(bad("malformed request line")),
    };
    let mut content_length = 0usize;
    let mut headers = Vec::new();
    for line in lines.filter(|l| !l.is_empty()) {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| bad("malformed header"))?;
        let value = value.trim();
        headers.push((name.to_ascii_lowercase(), value.to_string()));
        if name.eq_ignore_ascii_case("content-length") {
            content_length = value.parse().map_err(|_| bad("bad Content-Length"))?;
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err((501, "Transfer-Encoding is not supported".to_string()));
        }
    }
    if content_length > MAX_BODY {
        return Err((413, format!("body larger than {MAX_BODY} bytes")));
    }
    let mut body = buf[head_end..].to_vec();
    body.truncate(content_length);
    let have = body.len();
    body.resize(content_length, 0);
    r.read_exact(&mut body[have..])
        .map_err(|e| bad(&format!("short body: {e}")))?;
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    Ok(Request {
        method: method.to_string(),
        path: path.to_string(),
        query: query.to_string(),
        headers,
        body,
    })
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        202 => "Accepted",
        406 => "Not Acceptable",
        409 => "Conflict",
        415 => "Unsupported Media Type",
        403 => "Forbidden",
        307 => "Temporary Redirect",
        503 => "Service Unavailable",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Payload Too Large",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        _ => "Unknown",
    }
}

/// Writes a complete response and closes the exchange (`Connection: close`).
pub fn write_response(
    w: &mut impl Write,
    status: u16,
    content_type: &str,
    extra_headers: &[(String, String)],
    body: &[u8],
) -> io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n",
        reason(status),
        body.len()
    );
    for (n, v) in extra_headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let mut out = head.into_bytes();
    out.extend_from_slice(body);
    w.write_all(&out)?;
    w.flush()
}

/// A response as seen by a client; the body is decoded lossily as UTF-8.
pub struct Response {
    pub status: u16,
    /// Header names are lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }
}

fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn timed_out(what: &str, timeout: Duration) -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        format!("{what} timed out after {timeout:?}"),
    )
}

/// Connects to `addr` (`host:port`, resolved by DNS), trying each resolved
/// address in turn, each with `timeout`.
fn connect(addr: &str, timeout: Duration) -> io::Result<TcpStream> {
    let addrs: Vec<SocketAddr> = addr.to_socket_addrs()?.collect();
    let mut last = io::Error::new(io::ErrorKind::NotFound, "name resolved to no addresses");
    for a in addrs {
        match TcpStream::connect_timeout(&a, timeout) {
            Ok(s) => return Ok(s),
            Err(e) if e.kind() == io::ErrorKind::TimedOut => last = timed_out("connect", timeout),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Connects and sends one request (`Connection: close`); `timeout` bounds
/// the connect and, separately, the send.
fn send(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
    timeout: Duration,
) -> io::Result<TcpStream> {
    let mut s = connect(addr, timeout)?;
    s.set_write_timeout(Some(timeout))?;
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (n, v) in headers {
        req.push_str(&format!("{n}: {v}\r\n"));
    }
    if let Some(b) = body {
        req.push_str(&format!("Content-Length: {}\r\n", b.len()));
    }
    req.push_str("\r\n");
    let mut out = req.into_bytes();
    out.extend_from_slice(body.unwrap_or_default());
    s.write_all(&out).map_err(|e| match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => timed_out("send", timeout),
        _ => e,
    })?;
    Ok(s)
}

/// Performs one request. `timeout` bounds the connect, and separately the
/// whole exchange after it (send + read until the server closes).
pub fn request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
    timeout: Duration,
) -> io::Result<Response> {
    let mut s = send(addr, method, path, headers, body, timeout)?;
    let deadline = Instant::now() + timeout;

    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(timed_out("response", timeout));
        }
        s.set_read_timeout(Some(left))?;
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Err(timed_out("response", timeout))
            }
            Err(e) => return Err(e),
        }
        if buf.len() > MAX_RESPONSE {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "response too large",
            ));
        }
    }
    parse_response(&buf)
}

/// Status line and headers of a response head (up to the blank line).
fn parse_head(head: &[u8]) -> io::Result<(u16, Vec<(String, String)>)> {
    let bad = |m: &str| io::Error::new(io::ErrorKind::InvalidData, format!("bad response: {m}"));
    let head = String::from_utf8_lossy(head);
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .filter(|_| status_line.starts_with("HTTP/1."))
        .ok_or_else(|| bad("malformed status line"))?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Ok((status, headers))
}

fn is_chunked(headers: &[(String, String)]) -> bool {
    find_header(headers, "transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
}

fn parse_response(buf: &[u8]) -> io::Result<Response> {
    let bad = |m: &str| io::Error::new(io::ErrorKind::InvalidData, format!("bad response: {m}"));
    let end = find_head_end(buf).ok_or_else(|| bad("no end of headers"))?;
    let (status, headers) = parse_head(&buf[..end])?;
    let mut body = buf[end..].to_vec();
    if is_chunked(&headers) {
        let mut decoded = Vec::new();
        let _ = ChunkedReader::new(&body[..]).read_to_end(&mut decoded);
        body = decoded;
    } else if let Some(n) = find_header(&headers, "content-length") {
        let n: usize = n.parse().map_err(|_| bad("bad Content-Length"))?;
        if body.len() < n {
            return Err(bad("body shorter than Content-Length"));
        }
        body.truncate(n);
    }
    Ok(Response {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

/// Writes the head of a streamed response (`Transfer-Encoding: chunked`);
/// the body follows through [`ChunkedWriter`].
pub fn write_stream_head(
    w: &mut impl Write,
    status: u16,
    content_type: &str,
    extra_headers: &[(String, String)],
) -> io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n",
        reason(status),
    );
    for (n, v) in extra_headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    head.push_str("\r\n");
    w.write_all(head.as_bytes())?;
    w.flush()
}

/// The body of a streamed response: every [`chunk`](Self::chunk) is sent
/// and flushed at once, so the peer sees each event when it happens.
pub struct ChunkedWriter<'a> {
    w: &'a mut dyn Write,
}

impl<'a> ChunkedWriter<'a> {
    pub fn new(w: &'a mut dyn Write) -> Self {
        ChunkedWriter { w }
    }

    /// Sends one chunk (nothing for empty data: an empty chunk ends the body).
    pub fn chunk(&mut self, data: &[u8]) -> io::Result<()> {
        if data.is_empty() {
            return Ok(());
        }
        let mut out = format!("{:x}\r\n", data.len()).into_bytes();
        out.extend_from_slice(data);
        out.extend_from_slice(b"\r\n");
        self.w.write_all(&out)?;
        self.w.flush()
    }

    /// Ends the body.
    pub fn finish(self) -> io::Result<()> {
        self.w.write_all(b"0\r\n\r\n")?;
        self.w.flush()
    }

    /// Ends the body through a borrowed writer (a [`Reply::stream`]
    /// closure only has `&mut`); write nothing after it.
    ///
    /// [`Reply::stream`]: crate::process::Reply::stream
    pub fn end(&mut self) -> io::Result<()> {
        self.w.write_all(b"0\r\n\r\n")?;
        self.w.flush()
    }
}

/// Reads a chunked body as a plain byte stream; EOF at the last chunk.
pub struct ChunkedReader<R: Read> {
    r: io::BufReader<R>,
    /// Bytes left in the current chunk.
    left: usize,
    done: bool,
}

impl<R: Read> ChunkedReader<R> {
    pub fn new(r: R) -> Self {
        ChunkedReader {
            r: io::BufReader::new(r),
            left: 0,
            done: false,
        }
    }

    fn line(&mut self) -> io::Result<String> {
        let mut line = String::new();
        let n = io::BufRead::read_line(&mut self.r, &mut line)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "stream closed inside a chunked body",
            ));
        }
        Ok(line.trim_end().to_string())
    }
}

impl<R: Read> Read for ChunkedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.done || buf.is_empty() {
            return Ok(0);
        }
        if self.left == 0 {
            let line = self.line()?;
            let size = line.split(';').next().unwrap_or("").trim();
            self.left = usize::from_str_radix(size, 16).map_err(|_| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("bad chunk size {line:?}"),
                )
            })?;
            if self.left == 0 {
                // Trailers, then the blank line.
                while !self.line()?.is_empty() {}
                self.done = true;
                return Ok(0);
            }
        }
        let want = buf.len().min(self.left);
        let n = self.r.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "stream closed inside a chunk",
            ));
        }
        self.left -= n;
        if self.left == 0 {
            self.line()?;
        }
        Ok(n)
    }
}

/// An open response whose body is read as it arrives.
pub struct Streaming {
    pub status: u16,
    /// Header names are lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: Box<dyn Read + Send>,
}

impl Streaming {
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// Reads the rest of the body (for a non-streamed answer, e.g. an error).
    pub fn text(mut self) -> String {
        let mut b = Vec::new();
        let _ = self.body.read_to_end(&mut b);
        String::from_utf8_lossy(&b).into_owned()
    }
}

/// Sends a request and returns as soon as the response head has arrived.
/// `timeout` bounds the connect, the send and the wait for the head; reads
/// of the body then time out after `idle` without data (a stream that
/// sends heartbeats never idles that long while its server lives).
pub fn open(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
    timeout: Duration,
    idle: Duration,
) -> io::Result<Streaming> {
    let mut s = send(addr, method, path, headers, body, timeout)?;
    s.set_read_timeout(Some(timeout))?;
    // Byte by byte up to the end of the head, so nothing of the body is
    // consumed here (heads are small).
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() > MAX_HEAD {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "response head too large",
            ));
        }
        match s.read(&mut b) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed before the response head",
                ))
            }
            Ok(_) => head.push(b[0]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Err(timed_out("response head", timeout))
            }
            Err(e) => return Err(e),
        }
    }
    let (status, headers) = parse_head(&head)?;
    s.set_read_timeout(Some(idle))?;
    let body: Box<dyn Read + Send> = if is_chunked(&headers) {
        Box::new(ChunkedReader::new(s))
    } else if let Some(n) = find_header(&headers, "content-length").and_then(|n| n.parse().ok()) {
        Box::new(s.take(n))
    } else {
        Box::new(s)
    };
    Ok(Streaming {
        status,
        headers,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_request_with_body() {
        let raw = b"POST /master/teardown?x=1 HTTP/1.1\r\nHost: h\r\nLibprocess-From: a@b:1\r\ncontent-length: 16\r\n\r\nframeworkId=a%2B";
        let req = read_request(&mut &raw[..]).unwrap();
        assert_eq!(req.method, "POST");
        assert_eq!(req.path, "/master/teardown");
        assert_eq!(req.query, "x=1");
        assert_eq!(req.header("libprocess-from"), Some("a@b:1"));
        assert_eq!(req.param("frameworkId").as_deref(), Some("a+"));
        assert_eq!(req.param("x").as_deref(), Some("1"));
        assert_eq!(percent_decode("a+b%20c%zz"), "a b c%zz");
    }

    #[test]
    fn chunked_roundtrip() {
        let mut out = Vec::new();
        write_stream_head(
            &mut out,
            200,
            "application/json",
            &[("Mesos-Stream-Id".into(), "s".into())],
        )
        .unwrap();
        let mut w = ChunkedWriter::new(&mut out);
        w.chunk(b"5\nhello").unwrap();
        w.chunk(b"").unwrap();
        w.chunk(&[b'x'; 300]).unwrap();
        w.finish().unwrap();
        let r = parse_response(&out).unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.header("MESOS-STREAM-ID"), Some("s"));
        assert_eq!(r.body, format!("5\nhello{}", "x".repeat(300)));
        // A reader fed one byte at a time sees the same bytes.
        let end = find_head_end(&out).unwrap();
        struct OneByte<'a>(&'a [u8]);
        impl Read for OneByte<'_> {
            fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
                if self.0.is_empty() || b.is_empty() {
                    return Ok(0);
                }
                b[0] = self.0[0];
                self.0 = &self.0[1..];
                Ok(1)
            }
        }
        let mut got = Vec::new();
        ChunkedReader::new(OneByte(&out[end..]))
            .read_to_end(&mut got)
            .unwrap();
        assert_eq!(got.len(), 7 + 300);
        // A stream cut inside a chunk is an error, not a clean end.
        let cut = &out[end..end + 8];
        assert!(ChunkedReader::new(cut)
            .read_to_end(&mut Vec::new())
            .is_err());
    }

    #[test]
    fn response_roundtrip() {
        let mut out = Vec::new();
        write_response(&mut out, 404, "text/plain", &[], b"no such key").unwrap();
        let r = parse_response(&out).unwrap();
        assert_eq!(r.status, 404);
        assert_eq!(r.body, "no such key");
    }
}
