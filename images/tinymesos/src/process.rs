//! libprocess-style messaging over HTTP.
//!
//! A process is addressed by a pid `id@host:port` (`master@master-1:5050`,
//! `slave(1)@agent-0:5051`). A message `mesos.internal.Foo` to it is
//! `POST /id/mesos.internal.Foo` with a JSON body and the sender's pid in
//! the `Libprocess-From` header; the receiver answers `202 Accepted` at
//! once, whether or not it has a handler (messages without one are dropped
//! and logged, as libprocess does). Delivery is best effort: retries are the
//! business of the protocol above (registration loops, status update
//! retries).

use crate::http::{self, Request};
use crate::say;
use serde_json::Value;
use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::TcpListener;
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Pid {
    pub id: String,
    pub host: String,
    pub port: u16,
}

impl Pid {
    pub fn new(id: &str, host: &str, port: u16) -> Pid {
        Pid {
            id: id.to_string(),
            host: host.to_string(),
            port,
        }
    }

    pub fn parse(s: &str) -> Option<Pid> {
        let (id, addr) = s.split_once('@')?;
        let (host, port) = addr.rsplit_once(':')?;
        if id.is_empty() || host.is_empty() {
            return None;
        }
        Some(Pid::new(id, host, port.parse().ok()?))
    }

    pub fn addr(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

impl fmt::Display for Pid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}:{}", self.id, self.host, self.port)
    }
}

/// A message delivered to one of our processes.
#[derive(Debug, Clone)]
pub struct Message {
    pub name: String,
    pub from: Option<Pid>,
    pub body: Value,
}

/// If `req` is a message to process `id`, decodes it.
pub fn message_of(req: &Request, id: &str) -> Option<Result<Message, String>> {
    if req.method != "POST" {
        return None;
    }
    let name = req
        .path
        .strip_prefix('/')?
        .strip_prefix(id)?
        .strip_prefix('/')?;
    if name.is_empty() || name.contains('/') || !name.contains('.') {
        return None;
    }
    let from = req.header("libprocess-from").and_then(Pid::parse);
    let body = if req.body.is_empty() {
        Ok(Value::Null)
    } else {
        serde_json::from_slice(&req.body)
    };
    Some(match body {
        Ok(body) => Ok(Message {
            name: name.to_string(),
            from,
            body,
        }),
        Err(e) => Err(format!("Failed to parse message '{name}': {e}")),
    })
}

/// An HTTP answer: a whole body, or a stream.
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// When set, the answer is a chunked stream and this writes its body
    /// (on the connection's own thread) until it returns: the v1 APIs'
    /// event streams. `body` is then ignored.
    pub stream: Option<Streamer>,
}

/// Writes a streamed body; returns when the stream ends (or its peer left).
pub type Streamer = Box<dyn FnOnce(&mut http::ChunkedWriter<'_>) + Send>;

impl Reply {
    pub fn json(v: &Value) -> Reply {
        Reply {
            status: 200,
            content_type: "application/json",
            headers: Vec::new(),
            body: v.to_string().into_bytes(),
            stream: None,
        }
    }
    pub fn text(status: u16, s: &str) -> Reply {
        Reply {
            status,
            content_type: "text/plain",
            headers: Vec::new(),
            body: s.as_bytes().to_vec(),
            stream: None,
        }
    }
    /// A streamed answer (200, chunked) whose body `f` writes.
    pub fn stream(
        content_type: &'static str,
        headers: Vec<(String, String)>,
        f: impl FnOnce(&mut http::ChunkedWriter<'_>) + Send + 'static,
    ) -> Reply {
        Reply {
            status: 200,
            content_type,
            headers,
            body: Vec::new(),
            stream: Some(Box::new(f)),
        }
    }
    /// Adds a header.
    pub fn with_header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }
    pub fn accepted() -> Reply {
        Reply::text(202, "")
    }
    pub fn not_found(path: &str, release: &str) -> Reply {
        Reply::text(
            404,
            &format!("no such endpoint {path} (this is release {release})"),
        )
    }
}

pub type Handler = Arc<dyn Fn(&Request) -> Reply + Send + Sync>;

/// Binds `0.0.0.0:port` and serves each connection on its own thread.
pub fn serve(port: u16, handler: Handler) -> io::Result<()> {
    let listener = TcpListener::bind(("0.0.0.0", port))?;
    std::thread::Builder::new()
        .name("http".into())
        .spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut stream) = conn else { continue };
                let h = Arc::clone(&handler);
                let _ = std::thread::Builder::new()
                    .name("conn".into())
                    .stack_size(256 * 1024)
                    .spawn(move || {
                        let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                        let _ = stream.set_write_timeout(Some(Duration::from_secs(5)));
                        let reply = match http::read_request(&mut stream) {
                            Ok(req) => h(&req),
                            Err((status, msg)) => Reply::text(status, &msg),
                        };
                        if let Some(body) = reply.stream {
                            // A stream may stay open for hours: only a
                            // stuck write (a peer that stopped reading) ends it.
                            let _ = stream.set_read_timeout(None);
                            if http::write_stream_head(
                                &mut stream,
                                reply.status,
                                reply.content_type,
                                &reply.headers,
                            )
                            .is_ok()
                            {
                                body(&mut http::ChunkedWriter::new(&mut stream));
                            }
                            return;
                        }
                        let _ = http::write_response(
                            &mut stream,
                            reply.status,
                            reply.content_type,
                            &reply.headers,
                            &reply.body,
                        );
                    });
            }
        })?;
    Ok(())
}

/// Sends a message and waits for the answer's status.
pub fn post(from: &Pid, to: &Pid, name: &str, body: &Value, timeout: Duration) -> io::Result<u16> {
    let from = from.to_string();
    let path = format!("/{}/{}", to.id, name);
    let body = body.to_string();
    let r = http::request(
        &to.addr(),
        "POST",
        &path,
        &[
            ("Libprocess-From", &from),
            ("Content-Type", "application/json"),
        ],
        Some(body.as_bytes()),
        timeout,
    )?;
    Ok(r.status)
}

struct Envelope {
    to: Pid,
    name: String,
    body: Value,
}

/// Asynchronous, ordered-per-destination message delivery: one worker
/// thread per destination address (so a dead peer delays only its own
/// messages), exiting when idle.
pub struct Outbox {
    from: Pid,
    queues: Mutex<HashMap<String, SyncSender<Envelope>>>,
    on_failure: Mutex<Option<FailureHook>>,
}

/// Called (from a sender thread) when a message could not be delivered: the
/// equivalent of libprocess's `exited` event for a broken link.
pub type FailureHook = Arc<dyn Fn(&Pid, &str) + Send + Sync>;

impl Outbox {
    pub fn new(from: Pid) -> Arc<Outbox> {
        Arc::new(Outbox {
            from,
            queues: Mutex::new(HashMap::new()),
            on_failure: Mutex::new(None),
        })
    }

    pub fn on_failure(&self, hook: FailureHook) {
        *self.on_failure.lock().unwrap() = Some(hook);
    }

    pub fn me(&self) -> &Pid {
        &self.from
    }

    pub fn send(self: &Arc<Self>, to: &Pid, name: &str, body: Value) {
        let addr = to.addr();
        let mut queues = self.queues.lock().unwrap();
        let env = Envelope {
            to: to.clone(),
            name: name.to_string(),
            body,
        };
        let env = match queues.get(&addr) {
            Some(q) => match q.try_send(env) {
                Ok(()) => return,
                Err(TrySendError::Full(e)) => {
                    say!("Dropping message '{}' to {}: queue full", e.name, e.to);
                    return;
                }
                Err(TrySendError::Disconnected(e)) => e,
            },
            None => env,
        };
        let (tx, rx) = mpsc::sync_channel::<Envelope>(1000);
        let _ = tx.try_send(env);
        queues.insert(addr.clone(), tx);
        drop(queues);
        let me = Arc::clone(self);
        let spawned = std::thread::Builder::new()
            .name("outbox".into())
            .stack_size(256 * 1024)
            .spawn(move || me.worker(&addr, &rx));
        if spawned.is_err() {
            say!("Cannot start a sender thread for {to}");
        }
    }

    fn worker(&self, addr: &str, rx: &mpsc::Receiver<Envelope>) {
        let mut failing = false;
        loop {
            let env = match rx.recv_timeout(Duration::from_secs(30)) {
                Ok(e) => e,
                Err(RecvTimeoutError::Timeout) => {
                    let mut queues = self.queues.lock().unwrap();
                    match rx.try_recv() {
                        Ok(e) => e,
                        Err(_) => {
                            queues.remove(addr);
                            return;
                        }
                    }
                }
                Err(RecvTimeoutError::Disconnected) => return,
            };
            match post(
                &self.from,
                &env.to,
                &env.name,
                &env.body,
                Duration::from_secs(2),
            ) {
                Ok(s) if (200..300).contains(&s) => failing = false,
                Ok(s) => say!("Message '{}' to {} answered HTTP {s}", env.name, env.to),
                Err(e) => {
                    if !failing {
                        say!("Failed to send '{}' to {}: {e}", env.name, env.to);
                    }
                    failing = true;
                    let hook = self.on_failure.lock().unwrap().clone();
                    if let Some(h) = hook {
                        h(&env.to, &env.name);
                    }
                }
            }
        }
    }
}

/// Small helpers to read JSON message fields.
pub trait Get {
    fn s(&self, key: &str) -> String;
    fn f(&self, key: &str) -> f64;
}

impl Get for Value {
    fn s(&self, key: &str) -> String {
        self.pointer(key)
            .or_else(|| self.get(key))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    }
    fn f(&self, key: &str) -> f64 {
        self.pointer(key)
            .or_else(|| self.get(key))
            .and_then(Value::as_f64)
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pids() {
        let p = Pid::parse("slave(1)@agent-0:5051").unwrap();
        assert_eq!(p.id, "slave(1)");
        assert_eq!(p.addr(), "agent-0:5051");
        assert_eq!(p.to_string(), "slave(1)@agent-0:5051");
        for bad in ["master", "@h:1", "m@:1", "m@h:x", "m@h"] {
            assert!(Pid::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn recognises_messages() {
        let req = Request {
            method: "POST".into(),
            path: "/slave(1)/mesos.internal.RunTaskMessage".into(),
            query: String::new(),
            headers: vec![("libprocess-from".into(), "master@m:5050".into())],
            body: br#"{"a":1}"#.to_vec(),
        };
        let m = message_of(&req, "slave(1)").unwrap().unwrap();
        assert_eq!(m.name, "mesos.internal.RunTaskMessage");
        assert_eq!(m.from.unwrap().host, "m");
        assert_eq!(m.body, json!({"a": 1}));
        assert!(message_of(&req, "master").is_none());
        let get = Request {
            method: "GET".into(),
            ..req
        };
        assert!(message_of(&get, "slave(1)").is_none());
        assert_eq!(json!({"a": {"b": "x"}}).s("/a/b"), "x");
    }
}
