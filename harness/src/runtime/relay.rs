//! Reaching a trial's containers through the engine ([`super::Reach::Engine`]): the runner starts a
//! relay helper ([`RELAY_IMAGE`]) on the trial's network, and the engine connection runs the relay
//! program (`images/tools/relay/relay.py`) in it in one long exec whose stdin and stdout the engine
//! streams. Each HTTP request or TCP probe is one JSON line each way over that stream, matched by
//! id, so a probe costs one round trip over a connection already open, not an exec (a process
//! started by the engine) per probe; requests run side by side.
//!
//! A session ends when its stream does (the helper removed with its trial, the engine gone); a
//! request then fails as an engine error, never as the system's silence. A request that times out
//! is followed by a ping, so that a relay that stopped answering is told apart from a replica that
//! did not answer.

use std::collections::HashMap;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bollard::container::LogOutput;
use bollard::exec::{StartExecOptions, StartExecResults};
use bollard::models::ExecConfig;
use bollard::Docker;
use futures_util::{Stream, StreamExt};
use serde_json::{json, Value};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::oneshot;

use super::backend::{EngineError, EngineErrorKind, HttpAnswer, HttpCall, Unanswered};

/// The relay helper's image, built by `crossgrade images build` when replicas are reached through
/// the engine.
pub const RELAY_IMAGE: &str = "crossgrade/relay:bookworm";

/// Its Dockerfile (`images/tools/relay/Dockerfile`), compiled in like the network-tools helper's.
pub(crate) const RELAY_DOCKERFILE: &str = include_str!("../../../images/tools/relay/Dockerfile");

/// The program the relay runs, sent with the exec that starts it.
const PROGRAM: &str = include_str!("../../../images/tools/relay/relay.py");

/// How long the relay program may take to say it is ready.
const START_WAIT: Duration = Duration::from_secs(20);
/// How long a relay may take to answer a ping.
const PING_WAIT: Duration = Duration::from_secs(5);
/// Beyond a TCP probe's own deadline (which the relay keeps), how long its answer may take to come
/// back through the engine.
const TCP_SLACK: Duration = Duration::from_secs(5);
/// The last bytes of the relay's stderr kept, to say why it ended.
const STDERR_KEPT: usize = 2048;

type Output = Pin<Box<dyn Stream<Item = Result<LogOutput, bollard::errors::Error>> + Send>>;

/// Answers awaited, by request id; `Err` (why) once the session ended.
type Pending = Result<HashMap<u64, oneshot::Sender<Value>>, String>;

/// One relay program running in one helper.
struct Session {
    helper: String,
    input: tokio::sync::Mutex<Pin<Box<dyn AsyncWrite + Send>>>,
    pending: Mutex<Pending>,
    next: AtomicU64,
}

/// A helper's session, if open; locked while it is being opened.
type Slot = Arc<tokio::sync::Mutex<Option<Arc<Session>>>>;

/// The sessions of one engine connection, by helper container; each opened on its first request.
#[derive(Default)]
pub(crate) struct Relays {
    slots: Mutex<HashMap<String, Slot>>,
}

impl std::fmt::Debug for Relays {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.slots.lock().map_or(0, |s| s.len());
        write!(f, "Relays({n})")
    }
}

fn relay_error(
    doing: String,
    why: impl Into<Box<dyn std::error::Error + Send + Sync>>,
) -> EngineError {
    // Never NotFound or Conflict: a helper gone is our failure, not a replica that is not running.
    EngineError::new(doing, EngineErrorKind::Other, why)
}

impl Relays {
    /// Sends `call` to `ip` through the relay in `helper`.
    pub(crate) async fn http(
        &self,
        docker: &Docker,
        helper: &str,
        ip: IpAddr,
        call: &HttpCall,
    ) -> Result<Result<HttpAnswer, Unanswered>, EngineError> {
        let s = self.session(docker, helper).await?;
        let (id, answer) = s
            .ask(json!({
                "op": "http",
                "host": ip.to_string(),
                "port": call.port,
                "method": call.method,
                "path": call.path,
                "body": call.body,
                "timeout": call.timeout.as_secs_f64(),
            }))
            .await?;
        match tokio::time::timeout(call.timeout, answer).await {
            Ok(Ok(v)) => Ok(match v["status"].as_u64() {
                Some(status) => Ok(HttpAnswer {
                    status: status as u16,
                    body: v["body"].as_str().unwrap_or_default().to_string(),
                }),
                None => Err(Unanswered(
                    v["error"].as_str().unwrap_or("no answer").to_string(),
                )),
            }),
            Ok(Err(_)) => Err(s.ended()),
            Err(_) => {
                s.forget(id);
                s.ping().await?;
                Ok(Err(Unanswered(format!(
                    "no answer within {}",
                    crate::model::format_duration(call.timeout)
                ))))
            }
        }
    }

    /// Whether `ip` accepts a TCP connection on `port` within `within`, tried from the relay.
    pub(crate) async fn tcp(
        &self,
        docker: &Docker,
        helper: &str,
        ip: IpAddr,
        port: u16,
        within: Duration,
    ) -> Result<bool, EngineError> {
        let s = self.session(docker, helper).await?;
        let (id, answer) = s
            .ask(json!({
                "op": "tcp",
                "host": ip.to_string(),
                "port": port,
                "timeout": within.as_secs_f64(),
            }))
            .await?;
        match tokio::time::timeout(within + TCP_SLACK, answer).await {
            Ok(Ok(v)) => Ok(v["open"].as_bool() == Some(true)),
            Ok(Err(_)) => Err(s.ended()),
            Err(_) => {
                s.forget(id);
                Err(relay_error(
                    format!("probing port {port} of {ip} through the relay in {helper}"),
                    format!(
                        "no answer within {} of the probe's own deadline",
                        crate::model::format_duration(TCP_SLACK)
                    ),
                ))
            }
        }
    }

    /// The open session in `helper`, opened now if it has none (or its last one ended).
    async fn session(&self, docker: &Docker, helper: &str) -> Result<Arc<Session>, EngineError> {
        let slot = {
            let mut slots = self.slots.lock().expect("relay slots");
            // Sessions of helpers removed since (their trials ended) go.
            slots.retain(|h, slot| {
                h == helper
                    || match slot.try_lock() {
                        Ok(s) => s.as_ref().is_some_and(|s| s.is_open()),
                        // Being opened.
                        Err(_) => true,
                    }
            });
            slots.entry(helper.to_string()).or_default().clone()
        };
        let mut slot = slot.lock().await;
        if let Some(s) = slot.as_ref().filter(|s| s.is_open()) {
            return Ok(s.clone());
        }
        let s = Session::open(docker, helper).await?;
        *slot = Some(s.clone());
        Ok(s)
    }
}

impl Session {
    /// Starts the relay program in `helper` and waits until it says it is ready.
    async fn open(docker: &Docker, helper: &str) -> Result<Arc<Session>, EngineError> {
        let doing = || format!("starting the relay in helper {helper}");
        let exec = docker
            .create_exec(
                helper,
                ExecConfig {
                    cmd: Some(vec![
                        "python3".into(),
                        "-u".into(),
                        "-c".into(),
                        PROGRAM.into(),
                    ]),
                    attach_stdin: Some(true),
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| relay_error(doing(), e))?;
        let started = docker
            .start_exec(
                &exec.id,
                Some(StartExecOptions {
                    detach: false,
                    tty: false,
                    output_capacity: Some(64 * 1024),
                }),
            )
            .await
            .map_err(|e| relay_error(doing(), e))?;
        let StartExecResults::Attached { output, input } = started else {
            return Err(relay_error(doing(), "the engine did not attach to it"));
        };
        let session = Arc::new(Session {
            helper: helper.to_string(),
            input: tokio::sync::Mutex::new(input),
            pending: Mutex::new(Ok(HashMap::new())),
            next: AtomicU64::new(1),
        });
        let (ready_tx, ready_rx) = oneshot::channel();
        tokio::spawn(read_answers(session.clone(), output, ready_tx));
        match tokio::time::timeout(START_WAIT, ready_rx).await {
            Ok(Ok(())) => Ok(session),
            Ok(Err(_)) => Err(session.ended()),
            Err(_) => Err(relay_error(
                doing(),
                format!(
                    "it did not say it was ready within {}",
                    crate::model::format_duration(START_WAIT)
                ),
            )),
        }
    }

    fn is_open(&self) -> bool {
        self.pending.lock().expect("relay pending").is_ok()
    }

    /// The error of a request whose session ended.
    fn ended(&self) -> EngineError {
        let why = match &*self.pending.lock().expect("relay pending") {
            Err(why) => why.clone(),
            Ok(_) => "it ended".into(),
        };
        relay_error(format!("the relay in helper {}", self.helper), why)
    }

    /// Writes `request` with an id of its own; the answer comes on the receiver.
    async fn ask(
        &self,
        mut request: Value,
    ) -> Result<(u64, oneshot::Receiver<Value>), EngineError> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        request["id"] = id.into();
        let (tx, rx) = oneshot::channel();
        match &mut *self.pending.lock().expect("relay pending") {
            Ok(p) => p.insert(id, tx),
            Err(_) => return Err(self.ended()),
        };
        let mut line = serde_json::to_vec(&request).expect("a request is JSON");
        line.push(b'\n');
        let mut input = self.input.lock().await;
        let written = async {
            input.write_all(&line).await?;
            input.flush().await
        };
        if let Err(e) = written.await {
            self.forget(id);
            return Err(relay_error(
                format!("sending a request to the relay in helper {}", self.helper),
                e,
            ));
        }
        Ok((id, rx))
    }

    /// Stops waiting for request `id` (a late answer is dropped).
    fn forget(&self, id: u64) {
        if let Ok(p) = &mut *self.pending.lock().expect("relay pending") {
            p.remove(&id);
        }
    }

    /// Whether the relay still answers: after a request timed out, the relay's silence is ours to
    /// report, not the replica's.
    async fn ping(&self) -> Result<(), EngineError> {
        let (id, pong) = self.ask(json!({ "op": "ping" })).await?;
        match tokio::time::timeout(PING_WAIT, pong).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(_)) => Err(self.ended()),
            Err(_) => {
                self.forget(id);
                Err(relay_error(
                    format!("the relay in helper {}", self.helper),
                    format!(
                        "it stopped answering (no answer to a ping within {})",
                        crate::model::format_duration(PING_WAIT)
                    ),
                ))
            }
        }
    }

    /// Hands an answer line to whoever waits for it.
    fn deliver(&self, line: &[u8], ready: &mut Option<oneshot::Sender<()>>) {
        let Ok(v) = serde_json::from_slice::<Value>(line) else {
            return;
        };
        if v["ready"].as_bool() == Some(true) {
            if let Some(r) = ready.take() {
                let _ = r.send(());
            }
            return;
        }
        let Some(id) = v["id"].as_u64() else { return };
        let waiter = match &mut *self.pending.lock().expect("relay pending") {
            Ok(p) => p.remove(&id),
            Err(_) => None,
        };
        if let Some(w) = waiter {
            let _ = w.send(v);
        }
    }
}

/// Reads the relay's answers until its stream ends, then ends the session with why, failing every
/// request still waiting.
async fn read_answers(session: Arc<Session>, mut output: Output, ready: oneshot::Sender<()>) {
    let mut ready = Some(ready);
    let (mut buf, mut stderr) = (Vec::new(), Vec::new());
    let end = loop {
        match output.next().await {
            None => break "its exec ended (the helper was removed, or the program exited)".into(),
            Some(Err(e)) => break format!("its stream broke: {e}"),
            Some(Ok(LogOutput::StdOut { message } | LogOutput::Console { message })) => {
                buf.extend_from_slice(&message);
                while let Some(nl) = buf.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = buf.drain(..=nl).collect();
                    session.deliver(&line, &mut ready);
                }
            }
            Some(Ok(LogOutput::StdErr { message })) => {
                stderr.extend_from_slice(&message);
                let cut = stderr.len().saturating_sub(STDERR_KEPT);
                stderr.drain(..cut);
            }
            Some(Ok(LogOutput::StdIn { .. })) => {}
        }
    };
    let said = String::from_utf8_lossy(&stderr).trim().to_string();
    let why = if said.is_empty() {
        end
    } else {
        format!("{end}; it said: {said}")
    };
    // Dropping the waiters' senders wakes them with the session's end.
    *session.pending.lock().expect("relay pending") = Err(why);
}
