//! `POST /api/v1/scheduler` (0.24+, Mesos's `docs/scheduler-http-api.md`):
//! JSON calls; SUBSCRIBE answers `200` with a never-ending chunked stream
//! of RecordIO-framed JSON events (SUBSCRIBED first, HEARTBEAT every
//! `--heartbeat_interval`), every other call `202 Accepted`.
//!
//! Checks, in Mesos's order and words: leadership ([`v1_http::non_leader`]),
//! method, `Content-Type`, JSON, the call ([`calls::parse`]); for SUBSCRIBE
//! `Accept` and (0.28+) no `Mesos-Stream-Id`; for other calls the framework
//! (`400 Framework cannot be found`, `403 Framework is not subscribed`, and
//! from 0.28 `403 Framework is not connected via HTTP` and the stream id:
//! `400` when missing or not the subscription's).
//!
//! The master never writes to a socket while holding its state lock: each
//! stream has a channel, and the connection's own thread (the [`Reply`]
//! stream closure) writes what comes down it, and the heartbeats. A write
//! that fails (the scheduler left) disconnects the framework
//! ([`Master::stream_closed`]); the master ends a stream by dropping its
//! sender (teardown, removal, failover to a newer subscription, lost
//! leadership).

use super::calls::{self, Call};
use super::events::Event;
use super::v1_http;
use super::{Conn, HttpConn, Master};
use crate::http::{ChunkedWriter, Request};
use crate::process::Reply;
use crate::say;
use serde_json::Value;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::Instant;

pub fn handle(m: &Arc<Master>, req: &Request) -> Reply {
    let reply = answer(m, req);
    if (400..500).contains(&reply.status) {
        m.state.lock().unwrap().count("invalid_http_calls");
        say!(
            "Refused {} /api/v1/scheduler call: {} {}",
            req.method,
            reply.status,
            String::from_utf8_lossy(&reply.body)
        );
    }
    reply
}

fn answer(m: &Arc<Master>, req: &Request) -> Reply {
    let body = match m.v1_call_body(req) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let parsed = match calls::parse(&m.caps, &body) {
        Ok(p) => p,
        Err(e) => return Reply::text(400, &e.message()),
    };
    let stream_header = req.header("mesos-stream-id");
    match parsed.call {
        Call::Subscribe { info } => {
            if let Err(r) = v1_http::accept_json(req) {
                return r;
            }
            if m.caps.stream_id && stream_header.is_some() {
                return Reply::text(
                    400,
                    "Subscribe calls should not include the 'Mesos-Stream-Id' header",
                );
            }
            subscribe(m, req, parsed.framework_id, info)
        }
        call => {
            let fw_id = parsed.framework_id.expect("validated: not SUBSCRIBE");
            let mut st = m.state.lock().unwrap();
            if let Some(r) = m.not_leading(&st, req) {
                return r;
            }
            let Some(f) = st.frameworks.get(&fw_id) else {
                return Reply::text(400, "Framework cannot be found");
            };
            if !f.active {
                return Reply::text(403, "Framework is not subscribed");
            }
            if m.caps.stream_id {
                let Conn::Http(h) = &f.conn else {
                    return Reply::text(403, "Framework is not connected via HTTP");
                };
                match stream_header {
                    None => {
                        return Reply::text(
                            400,
                            "All non-subscribe calls should include the 'Mesos-Stream-Id' header",
                        )
                    }
                    Some(s) if s != h.stream_id => {
                        return Reply::text(
                            400,
                            &format!(
                                "The stream ID '{s}' included in this request didn't match the stream ID \
                                 currently associated with framework ID '{fw_id}'"
                            ),
                        )
                    }
                    Some(_) => {}
                }
            }
            let name = call.type_name();
            st.count("http_calls");
            st.count(&format!("http_calls_{}", name.to_ascii_lowercase()));
            m.apply_call(&mut st, &fw_id, call);
            Reply::accepted()
        }
    }
}

fn subscribe(m: &Arc<Master>, req: &Request, framework_id: Option<String>, info: Value) -> Reply {
    let stream_id = crate::uuid();
    let (tx, rx) = mpsc::channel::<Vec<u8>>();
    let result = {
        let mut st = m.state.lock().unwrap();
        if let Some(r) = m.not_leading(&st, req) {
            return r;
        }
        let conn = HttpConn {
            stream_id: stream_id.clone(),
            tx,
        };
        m.subscribe_http(&mut st, framework_id, info, conn)
    };
    let mut headers = Vec::new();
    if m.caps.stream_id {
        headers.push(("Mesos-Stream-Id".to_string(), stream_id.clone()));
    }
    match result {
        Ok(fw_id) => {
            let master = Arc::clone(m);
            Reply::stream(v1_http::APPLICATION_JSON, headers, move |w| {
                pump(&master, &fw_id, &stream_id, &rx, w)
            })
        }
        Err(message) => {
            // As Mesos: an ERROR event, then the stream closes.
            let record = Event::Error(message).record(&m.caps);
            Reply::stream(v1_http::APPLICATION_JSON, headers, move |w| {
                if w.chunk(&record).is_ok() {
                    let _ = w.end();
                }
            })
        }
    }
}

/// Writes a stream's events as they come, and a HEARTBEAT every interval
/// (the first one went with SUBSCRIBED). Runs on the connection's thread.
fn pump(
    m: &Master,
    fw_id: &str,
    stream_id: &str,
    rx: &Receiver<Vec<u8>>,
    w: &mut ChunkedWriter<'_>,
) {
    let interval = m.opts.heartbeat_interval;
    let mut next = Instant::now() + interval;
    loop {
        let now = Instant::now();
        let record = if now >= next {
            next = now.max(next + interval);
            Event::Heartbeat.record(&m.caps)
        } else {
            match rx.recv_timeout(next - now) {
                Ok(r) => r,
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => {
                    // The master closed the stream.
                    let _ = w.end();
                    return;
                }
            }
        };
        if w.chunk(&record).is_err() {
            m.stream_closed(fw_id, stream_id);
            return;
        }
    }
}
