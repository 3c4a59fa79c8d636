//! The test scheduler as a v1 HTTP framework (0.28, 1.0): `POST
//! /api/v1/scheduler` on the leading master, as Mesos's
//! `docs/scheduler-http-api.md` describes a client.
//!
//! * **Master detection**: through ZooKeeper (`--master zk://...`), or
//!   `--master HOST:PORT[,HOST:PORT...]`: each in turn, a non-leader
//!   redirecting to the leader.
//! * **SUBSCRIBE** with `Content-Type: application/json` and `Accept:
//!   application/json`; the answer is `200` with a chunked RecordIO stream
//!   of events ([`crate::recordio`]) whose first event is SUBSCRIBED (the
//!   framework id, `heartbeat_interval_seconds`). Its `Mesos-Stream-Id`
//!   header is sent back on every later call. `307` is followed (`Location:
//!   //host:port/path`), `503` and connection errors are retried with
//!   backoff (1 s doubling to 15 s), other statuses are logged with their
//!   body and recorded as errors.
//! * **Calls** (ACCEPT, DECLINE, ACKNOWLEDGE, KILL, inverse-offer answers)
//!   are separate POSTs, in order, on their own thread; anything but `202`
//!   is logged with its body.
//! * **Resubscribes** (with the framework id in the call and in
//!   `framework_info.id`) when the stream ends or fails, when no event
//!   (heartbeats included) came for more than twice
//!   `heartbeat_interval_seconds`, or when ZooKeeper names a new leader.
//! * **Dialect**: the scheduler speaks and reads only its own release's
//!   ([`parse_event`], the call builders): inverse offers inside OFFERS and accepted
//!   with an ACCEPT call naming the inverse offer's id (0.25–0.28, Mesos's
//!   master then tries each accepted id as an inverse offer), or as
//!   INVERSE_OFFERS events accepted with ACCEPT_INVERSE_OFFERS (1.0)
//!   ([`Caps::inverse_offers`]). An event it cannot decode (an offer without
//!   its release's agent field, an event type it does not know) fails the
//!   stream the way Mesos's scheduler library does: `Failed to decode the
//!   stream of events: ...`, recorded on `/status`, then a resubscription.
//! * **Maintenance**: no long-running task is launched on an offer that
//!   carries `unavailability`; on an inverse offer for agent X the
//!   scheduler kills its long tasks on X (KILL), relaunches them from
//!   ordinary offers elsewhere, and accepts the inverse offer once the
//!   replacements run. Such a kill is a move (`tasks_moved`), not a long
//!   task ending (`long_ended`).

use crate::election::{Election, MasterInfo};
use crate::http::{self, Request};
use crate::process::{self, Pid, Reply};
use crate::recordio;
use crate::release::{Caps, InverseOfferEvent};
use crate::scheduler::{internal_task, Kind, MasterSpec, Opts, State};
use crate::v1;
use crate::{now_secs, say};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The endpoint.
pub const API_PATH: &str = "/api/v1/scheduler";

/// How often a KILL for a task being moved is repeated while it runs.
const KILL_RETRY: Duration = Duration::from_secs(10);
/// Longest backoff between subscription attempts (the docs suggest 15 s).
const MAX_BACKOFF: Duration = Duration::from_secs(15);
/// A stream that lasted this long was healthy: after it ends the backoff
/// starts again from 1 s.
const HEALTHY_STREAM: Duration = Duration::from_secs(10);
/// Redirects followed within one subscription attempt.
const MAX_REDIRECTS: u32 = 3;
/// Connect / response-head / call timeout.
const HTTP_TIMEOUT: Duration = Duration::from_secs(5);
/// `refuse_seconds` of the filters sent with ACCEPT and DECLINE: short, so
/// the next allocation offers the resources again.
const REFUSE_SECONDS: f64 = 0.5;

// ---- Events, in the scheduler's own dialect ---------------------------------

/// `Unavailability`: when (and for how long) an agent may go away.
#[derive(Debug, Clone, PartialEq)]
pub struct Unavailability {
    /// Seconds since the epoch.
    pub start: f64,
    pub duration: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Offer {
    pub id: String,
    pub framework_id: String,
    pub agent_id: String,
    pub hostname: String,
    pub cpus: f64,
    pub mem: f64,
    pub unavailability: Option<Unavailability>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct InverseOffer {
    pub id: String,
    pub framework_id: String,
    /// Optional in the proto (an inverse offer for no agent asks nothing
    /// of this scheduler).
    pub agent_id: Option<String>,
    pub unavailability: Unavailability,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TaskStatus {
    pub task_id: String,
    pub state: String,
    pub agent_id: Option<String>,
    /// Base64, exactly as received (acknowledged as is).
    pub uuid: Option<String>,
    pub message: String,
    pub source: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Subscribed {
        framework_id: String,
        heartbeat_interval: Option<f64>,
    },
    /// OFFERS; `inverse` only in the dialect that carries inverse offers
    /// inside OFFERS (0.25–0.28).
    Offers {
        offers: Vec<Offer>,
        inverse: Vec<InverseOffer>,
    },
    /// INVERSE_OFFERS (1.0).
    InverseOffers(Vec<InverseOffer>),
    Rescind(String),
    /// RESCIND_INVERSE_OFFER (1.0).
    RescindInverseOffer(String),
    Update(TaskStatus),
    Message,
    Failure {
        agent_id: Option<String>,
        executor_id: Option<String>,
        status: Option<i64>,
    },
    Error(String),
    Heartbeat,
}

fn missing(path: &str) -> String {
    format!("Missing required field {path}")
}

/// A required id message (`{"value": ..}`) at `field` of `v`.
fn req_id(v: &Value, field: &str, path: &str) -> Result<String, String> {
    match v.get(field) {
        None | Some(Value::Null) => Err(missing(&format!("{path}.{field}"))),
        Some(x) => v1::id_of(x).ok_or_else(|| {
            format!("Invalid field {path}.{field}: expected {{\"value\": \"...\"}}, got {x}")
        }),
    }
}

fn opt_id(v: &Value, field: &str) -> Option<String> {
    v1::id_at(v, field)
}

fn opt_str(v: &Value, field: &str) -> String {
    v.get(field)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn parse_unavailability(u: &Value, path: &str) -> Result<Unavailability, String> {
    let start = u
        .get("start")
        .ok_or_else(|| missing(&format!("{path}.start")))?;
    let start = v1::secs_of(start).ok_or_else(|| missing(&format!("{path}.start.nanoseconds")))?;
    Ok(Unavailability {
        start,
        duration: u.get("duration").and_then(v1::secs_of),
    })
}

fn parse_offer(o: &Value, path: &str) -> Result<Offer, String> {
    let agent_field = "agent_id";
    let (cpus, mem) = v1::resources_of(o.get("resources").unwrap_or(&json!([])))
        .map_err(|e| format!("{path}.resources: {e}"))?;
    Ok(Offer {
        id: req_id(o, "id", path)?,
        framework_id: req_id(o, "framework_id", path)?,
        agent_id: req_id(o, agent_field, path)?,
        hostname: o
            .get("hostname")
            .and_then(Value::as_str)
            .ok_or_else(|| missing(&format!("{path}.hostname")))?
            .to_string(),
        cpus,
        mem,
        unavailability: match o.get("unavailability") {
            None | Some(Value::Null) => None,
            Some(u) => Some(parse_unavailability(u, &format!("{path}.unavailability"))?),
        },
    })
}

fn parse_inverse_offer(o: &Value, path: &str) -> Result<InverseOffer, String> {
    let u = o
        .get("unavailability")
        .ok_or_else(|| missing(&format!("{path}.unavailability")))?;
    Ok(InverseOffer {
        id: req_id(o, "id", path)?,
        framework_id: req_id(o, "framework_id", path)?,
        agent_id: opt_id(o, "agent_id"),
        unavailability: parse_unavailability(u, &format!("{path}.unavailability"))?,
    })
}

fn parse_list<T>(
    v: &Value,
    path: &str,
    f: impl Fn(&Value, &str) -> Result<T, String>,
) -> Result<Vec<T>, String> {
    match v {
        Value::Null => Ok(Vec::new()),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .map(|(i, x)| f(x, &format!("{path}[{i}]")))
            .collect(),
        other => Err(format!(
            "Invalid field {path}: expected an array, got {other}"
        )),
    }
}

fn parse_status(s: &Value, path: &str) -> Result<TaskStatus, String> {
    Ok(TaskStatus {
        task_id: req_id(s, "task_id", path)?,
        state: s
            .get("state")
            .and_then(Value::as_str)
            .ok_or_else(|| missing(&format!("{path}.state")))?
            .to_string(),
        agent_id: opt_id(s, "agent_id"),
        uuid: s.get("uuid").and_then(Value::as_str).map(str::to_string),
        message: opt_str(s, "message"),
        source: opt_str(s, "source"),
        reason: opt_str(s, "reason"),
    })
}

/// Decodes one event as this release's scheduler library would: only its
/// own event types and field names. The error says what did not decode.
pub fn parse_event(caps: &Caps, v: &Value) -> Result<Event, String> {
    let t = v
        .get("type")
        .and_then(Value::as_str)
        .ok_or_else(|| missing("type"))?;
    let separate = caps.inverse_offers == InverseOfferEvent::Separate;
    let null = Value::Null;
    let body = |k: &str| v.get(k).unwrap_or(&null);
    Ok(match t {
        "SUBSCRIBED" => {
            let s = body("subscribed");
            Event::Subscribed {
                framework_id: req_id(s, "framework_id", "subscribed")?,
                heartbeat_interval: s.get("heartbeat_interval_seconds").and_then(Value::as_f64),
            }
        }
        "OFFERS" => {
            let o = body("offers");
            let offers = parse_list(&o["offers"], "offers.offers", parse_offer)?;
            // 1.0's `Offers` has no `inverse_offers` field: ignored there.
            let inverse = if separate {
                Vec::new()
            } else {
                parse_list(&o["inverse_offers"], "offers.inverse_offers", |x, p| {
                    parse_inverse_offer(x, p)
                })?
            };
            Event::Offers { offers, inverse }
        }
        "INVERSE_OFFERS" if separate => Event::InverseOffers(parse_list(
            &body("inverse_offers")["inverse_offers"],
            "inverse_offers.inverse_offers",
            parse_inverse_offer,
        )?),
        "RESCIND" => Event::Rescind(req_id(body("rescind"), "offer_id", "rescind")?),
        "RESCIND_INVERSE_OFFER" if separate => Event::RescindInverseOffer(req_id(
            body("rescind_inverse_offer"),
            "inverse_offer_id",
            "rescind_inverse_offer",
        )?),
        "UPDATE" => {
            let s = body("update")
                .get("status")
                .ok_or_else(|| missing("update.status"))?;
            Event::Update(parse_status(s, "update.status")?)
        }
        "MESSAGE" => Event::Message,
        "FAILURE" => {
            let f = body("failure");
            Event::Failure {
                agent_id: opt_id(f, "agent_id"),
                executor_id: opt_id(f, "executor_id"),
                status: f.get("status").and_then(Value::as_i64),
            }
        }
        "ERROR" => Event::Error(
            body("error")
                .get("message")
                .or_else(|| v.get("message"))
                .and_then(Value::as_str)
                .unwrap_or("(no message)")
                .to_string(),
        ),
        "HEARTBEAT" => Event::Heartbeat,
        other => {
            return Err(format!(
                "unknown event type '{other}' (a {} scheduler does not know it)",
                caps.release
            ))
        }
    })
}

// ---- Calls, in the scheduler's own dialect ----------------------------------

fn call(fw: &str, kind: &str, body: Value) -> Value {
    let mut c = json!({"framework_id": v1::id(fw), "type": kind});
    c[kind.to_ascii_lowercase()] = body;
    c
}

/// SUBSCRIBE; with a framework id (in the call and in `framework_info.id`)
/// once the master has given one.
pub fn subscribe_call(name: &str, hostname: &str, framework_id: Option<&str>) -> Value {
    let mut info = json!({
        "user": "root", "name": name, "hostname": hostname, "failover_timeout": 604800.0,
    });
    let mut c = json!({"type": "SUBSCRIBE"});
    if let Some(id) = framework_id {
        info["id"] = v1::id(id);
        c["framework_id"] = v1::id(id);
    }
    c["subscribe"] = json!({ "framework_info": info });
    c
}

/// ACCEPT of one offer with one LAUNCH operation for `tasks` (internal task
/// descriptions, see [`internal_task`]).
pub fn launch_call(caps: &Caps, fw: &str, offer_id: &str, tasks: &[Value]) -> Value {
    let infos: Vec<Value> = tasks.iter().map(|t| v1::task_info(caps, t)).collect();
    call(
        fw,
        "ACCEPT",
        json!({
            "offer_ids": [v1::id(offer_id)],
            "operations": [{"type": "LAUNCH", "launch": {"task_infos": infos}}],
            "filters": {"refuse_seconds": REFUSE_SECONDS},
        }),
    )
}

pub fn decline_call(fw: &str, offer_id: &str) -> Value {
    call(
        fw,
        "DECLINE",
        json!({"offer_ids": [v1::id(offer_id)], "filters": {"refuse_seconds": REFUSE_SECONDS}}),
    )
}

/// ACKNOWLEDGE: the agent id under the release's word, the uuid as
/// received (base64).
pub fn acknowledge_call(fw: &str, agent: &str, task: &str, uuid: &str) -> Value {
    let mut a = json!({"task_id": v1::id(task), "uuid": uuid});
    a["agent_id"] = v1::id(agent);
    call(fw, "ACKNOWLEDGE", a)
}

pub fn kill_call(fw: &str, task: &str, agent: &str) -> Value {
    let mut k = json!({"task_id": v1::id(task)});
    k["agent_id"] = v1::id(agent);
    call(fw, "KILL", k)
}

/// Accepts an inverse offer: an ACCEPT naming its id and no operations
/// where inverse offers come inside OFFERS (0.25–0.28: the master tries an
/// accepted id as an inverse offer when it is no offer), an
/// ACCEPT_INVERSE_OFFERS call where they are their own event (1.0).
pub fn accept_inverse_call(caps: &Caps, fw: &str, inverse_id: &str) -> Value {
    match caps.inverse_offers {
        InverseOfferEvent::InsideOffers => call(
            fw,
            "ACCEPT",
            json!({"offer_ids": [v1::id(inverse_id)], "operations": [], "filters": {}}),
        ),
        InverseOfferEvent::Separate => call(
            fw,
            "ACCEPT_INVERSE_OFFERS",
            json!({"inverse_offer_ids": [v1::id(inverse_id)], "filters": {}}),
        ),
    }
}

/// Where a `307` sends us: `Location` is `//host:port/path` (Mesos), but
/// `http://host:port/path`, `host:port` and a bare `/path` (same master)
/// are understood too. Returns `(host:port, path)`.
pub fn redirect_target(location: &str, current: &str) -> Option<(String, String)> {
    let l = location.trim();
    if l.is_empty() {
        return None;
    }
    if l.starts_with('/') && !l.starts_with("//") {
        return Some((current.to_string(), l.to_string()));
    }
    let rest = l
        .strip_prefix("http://")
        .or_else(|| l.strip_prefix("//"))
        .unwrap_or(l);
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, API_PATH),
    };
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    let addr = if authority.contains(':') {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    crate::flags::host_port(&addr).ok()?;
    Some((addr, path.to_string()))
}

// ---- Inverse offers ----------------------------------------------------------

/// What to do for one agent with a pending inverse offer.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct InverseStep {
    /// Tasks to KILL (first time, or again after [`KILL_RETRY`]).
    pub kill: Vec<String>,
    /// The inverse offer to accept now.
    pub accept: Option<String>,
}

/// Moves our long tasks off `agent` and says when its inverse offer can be
/// accepted: when no long task of ours is active there any more and every
/// slot moved from it runs elsewhere.
pub(crate) fn inverse_step(st: &mut State, agent: &str, now: Instant) -> InverseStep {
    let mut step = InverseStep::default();
    let Some(mut pending) = st.inverse.get(agent).cloned() else {
        return step;
    };
    for (id, t) in st.tasks.iter_mut() {
        let Kind::Long(slot) = t.kind else { continue };
        if t.agent_id != agent || !t.active() {
            continue;
        }
        if !t.moving {
            t.moving = true;
            pending.moved_slots.insert(slot);
        }
        if t.kill_sent
            .is_none_or(|k| now.duration_since(k) >= KILL_RETRY)
        {
            t.kill_sent = Some(now);
            step.kill.push(id.clone());
        }
    }
    let still_there = st
        .tasks
        .values()
        .any(|t| matches!(t.kind, Kind::Long(_)) && t.agent_id == agent && t.active());
    // Once nothing of ours runs there the machine is free: accept, whether or not the moved tasks
    // found room elsewhere yet (with `--long_per_agent` they may wait for the machine to come back).
    if !still_there {
        if let Some(id) = pending.id.take() {
            step.accept = Some(id);
        }
    }
    if step.accept.is_some() {
        st.inverse.remove(agent);
    } else {
        st.inverse.insert(agent.to_string(), pending);
    }
    step
}

// ---- The client ---------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// No subscription (waiting for a leader or for the next attempt).
    Idle,
    /// SUBSCRIBE sent, no SUBSCRIBED yet.
    Connecting,
    Subscribed,
}

struct Conn {
    /// Bumped whenever a subscription is given up: events, answers and
    /// failures of an older one are ignored.
    gen: u64,
    phase: Phase,
    /// The master (`host:port`) of the current stream.
    addr: Option<String>,
    stream_id: Option<String>,
    heartbeat: Option<f64>,
    last_event: Instant,
    subscribed_at: Instant,
    next_attempt: Instant,
    backoff: Duration,
    attempts: u64,
    redirects: u64,
    /// `--master HOST:PORT,...`: which one to try next.
    direct_index: usize,
    /// Agents whose offers carry unavailability (for logging changes).
    unavailable: BTreeSet<String>,
}

struct V1State {
    core: State,
    conn: Conn,
}

struct CallJob {
    gen: u64,
    addr: String,
    stream_id: Option<String>,
    what: String,
    body: Value,
    /// Tasks an ACCEPT launches (forgotten again if it is not delivered).
    launches: Vec<String>,
}

pub struct V1Scheduler {
    caps: Caps,
    opts: Opts,
    /// `scheduler(1)@host:port`, only for `/status` (nothing is addressed
    /// to it: events come on the stream).
    me: String,
    state: Mutex<V1State>,
    calls: Sender<CallJob>,
    run: String,
    start: Instant,
    start_time: f64,
}

impl V1Scheduler {
    pub fn run(opts: Opts) -> i32 {
        let caps = Caps::built();
        say!(
            "tinymesos scheduler {} starting (v1 HTTP API, {API_PATH}): framework '{}', master {}, {} long tasks, {}",
            caps.version(),
            opts.name,
            opts.master_text(),
            opts.long,
            opts.short_text()
        );
        let (tx, rx) = mpsc::channel();
        let s = Arc::new(V1Scheduler {
            caps: caps.clone(),
            me: format!("scheduler(1)@{}:{}", opts.hostname, opts.port),
            state: Mutex::new(V1State {
                core: State::new(),
                conn: Conn {
                    gen: 0,
                    phase: Phase::Idle,
                    addr: None,
                    stream_id: None,
                    heartbeat: None,
                    last_event: Instant::now(),
                    subscribed_at: Instant::now(),
                    next_attempt: Instant::now(),
                    backoff: Duration::from_secs(1),
                    attempts: 0,
                    redirects: 0,
                    direct_index: 0,
                    unavailable: BTreeSet::new(),
                },
            }),
            calls: tx,
            run: crate::uuid()[..8].to_string(),
            start: Instant::now(),
            start_time: now_secs(),
            opts,
        });
        let h = Arc::clone(&s);
        if let Err(e) = process::serve(s.opts.port, Arc::new(move |req| h.http(req))) {
            say!("Failed to bind port {}: {e}", s.opts.port);
            return 1;
        }
        say!("scheduler listening on {} as {}", s.opts.port, s.me);
        let c = Arc::clone(&s);
        std::thread::Builder::new()
            .name("calls".into())
            .spawn(move || c.send_calls(rx))
            .expect("spawn calls thread");
        let election = match &s.opts.master {
            MasterSpec::Zk(zk) => Some(Election::start(
                zk.clone(),
                caps,
                None,
                s.opts.zk_session_timeout,
            )),
            MasterSpec::Direct(_) => None,
        };
        let e2 = election.clone();
        crate::install_shutdown(move || {
            if let Some(e) = &e2 {
                e.close(Duration::from_secs(1));
            }
        });
        s.main_loop(election.as_deref())
    }

    fn http(&self, req: &Request) -> Reply {
        match req.path.as_str() {
            "/health" => Reply::text(200, ""),
            "/version" => Reply::json(&json!({
                "version": self.caps.version(), "release": self.caps.release,
            })),
            "/status" => Reply::json(&self.status()),
            _ => Reply::not_found(&req.path, self.caps.release),
        }
    }

    fn status(&self) -> Value {
        let st = self.state.lock().unwrap();
        let mut v = st
            .core
            .status_json(&self.caps, &self.opts, &self.me, self.start_time);
        let c = &st.conn;
        v["stream_id"] = json!(c.stream_id.is_some());
        v["stream_id_value"] = json!(c.stream_id);
        v["master"] = json!(c.addr);
        v["connection"] = json!(match c.phase {
            Phase::Idle => "idle",
            Phase::Connecting => "subscribing",
            Phase::Subscribed => "subscribed",
        });
        v["heartbeat_interval_secs"] = json!(c.heartbeat);
        v["secs_since_last_event"] = json!(match c.phase {
            Phase::Subscribed => Some(c.last_event.elapsed().as_secs_f64()),
            _ => None,
        });
        v["subscribe_attempts"] = json!(c.attempts);
        v["redirects_followed"] = json!(c.redirects);
        v["unavailable_agents"] = json!(c.unavailable);
        v
    }

    /// The master to subscribe with next, if one is known.
    fn target(&self, st: &V1State) -> Option<String> {
        match &self.opts.master {
            MasterSpec::Zk(_) => st.core.leader.as_ref().map(|m| {
                Pid::parse(&m.pid)
                    .map_or_else(|| format!("{}:{}", m.hostname, m.port), |p| p.addr())
            }),
            MasterSpec::Direct(list) => Some(list[st.conn.direct_index % list.len()].clone()),
        }
    }

    fn main_loop(self: &Arc<Self>, election: Option<&Election>) -> i32 {
        loop {
            std::thread::sleep(Duration::from_millis(200));
            let mut st = self.state.lock().unwrap();
            if let Some(election) = election {
                let view = election.view();
                if view.error != st.core.detect_error {
                    st.core.detect_error = view.error.clone();
                    if let Some(err) = &view.error {
                        st.core.error(format!("Failed to detect a master: {err}"));
                    }
                }
                // A new pid, or the same master in a new incarnation (new id).
                let ident = |m: &MasterInfo| (m.pid.clone(), m.id.clone());
                if view.leader.as_ref().map(ident) != st.core.leader.as_ref().map(ident) {
                    match &view.leader {
                        Some(l) => say!("New master detected at {} ({})", l.pid, l.hostname),
                        None => say!("No master detected; waiting for one to be elected"),
                    }
                    st.core.leader = view.leader.clone();
                    if st.conn.phase != Phase::Idle {
                        self.disconnect(&mut st, "a new leading master was detected");
                    }
                    st.conn.backoff = Duration::from_secs(1);
                    st.conn.next_attempt = Instant::now();
                }
            }
            let now = Instant::now();
            if st.conn.phase == Phase::Idle && now >= st.conn.next_attempt {
                if let Some(addr) = self.target(&st) {
                    self.start_subscription(&mut st, addr);
                }
            }
            if st.conn.phase == Phase::Subscribed {
                if let Some(hb) = st.conn.heartbeat.filter(|h| *h > 0.0) {
                    let quiet = st.conn.last_event.elapsed();
                    if quiet > Duration::from_secs_f64(2.0 * hb + 1.0) {
                        let why = format!(
                            "no event for {:.1}s (heartbeat interval {hb}s)",
                            quiet.as_secs_f64()
                        );
                        self.disconnect(&mut st, &why);
                        st.conn.next_attempt = now;
                    }
                }
            }
            st.core.expire_launches(self.opts.launch_timeout);
            if st.conn.phase == Phase::Subscribed {
                self.maintenance(&mut st);
            }
        }
    }

    /// Gives the current subscription up (its thread's later events and
    /// failures are ignored).
    fn disconnect(&self, st: &mut V1State, why: &str) {
        if st.conn.phase == Phase::Subscribed {
            say!(
                "Disconnected from master {}: {why}; resubscribing",
                st.conn.addr.as_deref().unwrap_or("(none)")
            );
        }
        st.conn.gen += 1;
        st.conn.phase = Phase::Idle;
        st.conn.stream_id = None;
        st.conn.addr = None;
        st.core.subscribed = false;
    }

    /// A subscription attempt `gen` failed: retry after the backoff.
    fn failed(&self, gen: u64, msg: String, record: bool, next_master: bool) {
        let mut st = self.state.lock().unwrap();
        if st.conn.gen != gen {
            return;
        }
        if record {
            st.core.error(msg);
        } else {
            say!("{msg}");
        }
        // A stream that lived a while was healthy: come back quickly. One
        // that fails at once (e.g. an event it cannot decode) backs off.
        let healthy =
            st.conn.phase == Phase::Subscribed && st.conn.subscribed_at.elapsed() >= HEALTHY_STREAM;
        if healthy {
            st.conn.backoff = Duration::from_secs(1);
        }
        self.disconnect(&mut st, "the subscription failed");
        if next_master {
            st.conn.direct_index += 1;
        }
        st.conn.next_attempt = Instant::now() + st.conn.backoff;
        st.conn.backoff = (st.conn.backoff * 2).min(MAX_BACKOFF);
    }

    fn start_subscription(self: &Arc<Self>, st: &mut V1State, addr: String) {
        st.conn.gen += 1;
        st.conn.phase = Phase::Connecting;
        st.conn.attempts += 1;
        let gen = st.conn.gen;
        let fw = st.core.framework_id.clone();
        let body = subscribe_call(&self.opts.name, &self.opts.hostname, fw.as_deref());
        let idle = Duration::from_secs_f64(st.conn.heartbeat.map_or(60.0, |h| (3.0 * h).max(60.0)));
        match &fw {
            None => say!("Subscribing to master {addr} ({API_PATH})"),
            Some(id) => say!("Subscribing to master {addr} ({API_PATH}) as framework {id}"),
        }
        let me = Arc::clone(self);
        let spawned = std::thread::Builder::new()
            .name("subscription".into())
            .spawn(move || me.subscription(gen, addr, body, idle));
        if let Err(e) = spawned {
            self.disconnect(st, &format!("cannot start a thread: {e}"));
        }
    }

    /// One subscription: SUBSCRIBE (following redirects), then the event
    /// stream until it ends or is given up.
    fn subscription(&self, gen: u64, mut addr: String, body: Value, idle: Duration) {
        let body = body.to_string();
        let mut path = API_PATH.to_string();
        let mut hops = 0;
        let stream = loop {
            let r = http::open(
                &addr,
                "POST",
                &path,
                &[
                    ("Content-Type", "application/json"),
                    ("Accept", "application/json"),
                ],
                Some(body.as_bytes()),
                HTTP_TIMEOUT,
                idle,
            );
            let s = match r {
                Ok(s) => s,
                Err(e) => {
                    return self.failed(
                        gen,
                        format!("Failed to connect to master {addr}: {e}"),
                        false,
                        true,
                    )
                }
            };
            match s.status {
                200 => break s,
                307 => {
                    let loc = s.header("location").unwrap_or_default().to_string();
                    match redirect_target(&loc, &addr) {
                        Some((a, p)) if hops < MAX_REDIRECTS => {
                            say!("Master {addr} is not the leader: redirected to {a}{p} (Location: {loc})");
                            hops += 1;
                            self.state.lock().unwrap().conn.redirects += 1;
                            addr = a;
                            path = p;
                        }
                        _ => {
                            return self.failed(
                                gen,
                                format!("Master {addr} answered 307 with an unusable Location {loc:?} (after {hops} redirects)"),
                                true,
                                true,
                            )
                        }
                    }
                }
                503 => {
                    let text = s.text();
                    return self.failed(
                        gen,
                        format!(
                            "Master {addr} is not available (503 Service Unavailable): {}",
                            text.trim()
                        ),
                        false,
                        true,
                    );
                }
                code => {
                    let text = s.text();
                    return self.failed(
                        gen,
                        format!(
                            "Failed to subscribe with master {addr}: HTTP {code}: {}",
                            text.trim()
                        ),
                        true,
                        false,
                    );
                }
            }
        };
        let stream_id = stream.header("mesos-stream-id").map(str::to_string);
        let mut reader = recordio::Reader::new(stream.body);
        let mut first = true;
        loop {
            let rec = match reader.next_record() {
                Ok(Some(r)) => r,
                Ok(None) => {
                    return self.failed(
                        gen,
                        format!("The event stream from master {addr} ended"),
                        false,
                        false,
                    )
                }
                Err(e) => {
                    return self.failed(
                        gen,
                        format!("The event stream from master {addr} broke: {e}"),
                        false,
                        false,
                    )
                }
            };
            let event = serde_json::from_slice::<Value>(&rec)
                .map_err(|e| format!("not JSON: {e}"))
                .and_then(|v| parse_event(&self.caps, &v));
            let event = match event {
                Ok(e) => e,
                Err(e) => {
                    return self.failed(
                        gen,
                        format!("Failed to decode the stream of events from master {addr}: {e}"),
                        true,
                        false,
                    )
                }
            };
            let mut st = self.state.lock().unwrap();
            if st.conn.gen != gen {
                return; // Given up: a newer subscription owns the state.
            }
            st.conn.last_event = Instant::now();
            if first {
                first = false;
                let Event::Subscribed {
                    framework_id,
                    heartbeat_interval,
                } = event
                else {
                    drop(st);
                    return self.failed(
                        gen,
                        format!("Master {addr} sent {event:?} before SUBSCRIBED"),
                        true,
                        false,
                    );
                };
                self.subscribed(
                    &mut st,
                    &addr,
                    stream_id.clone(),
                    framework_id,
                    heartbeat_interval,
                );
                continue;
            }
            self.handle(&mut st, event);
        }
    }

    fn subscribed(
        &self,
        st: &mut V1State,
        addr: &str,
        stream_id: Option<String>,
        framework_id: String,
        heartbeat: Option<f64>,
    ) {
        let again = st.core.framework_id.is_some();
        st.conn.phase = Phase::Subscribed;
        st.conn.addr = Some(addr.to_string());
        // Only releases that know the header keep it (0.28+).
        st.conn.stream_id = stream_id.filter(|_| self.caps.stream_id);
        st.conn.heartbeat = heartbeat;
        st.conn.subscribed_at = Instant::now();
        st.core.subscribed = true;
        let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h).to_string();
        if let MasterSpec::Direct(_) = self.opts.master {
            st.core.leader = Some(MasterInfo {
                id: String::new(),
                ip: 0,
                port: addr
                    .rsplit_once(':')
                    .and_then(|(_, p)| p.parse().ok())
                    .unwrap_or(0),
                pid: format!("master@{addr}"),
                hostname: host.clone(),
                version: String::new(),
            });
        }
        let sid = match &st.conn.stream_id {
            Some(s) => format!("Mesos-Stream-Id {s}"),
            None => "no Mesos-Stream-Id".to_string(),
        };
        let hb = heartbeat.map_or_else(
            || "no heartbeats".to_string(),
            |h| format!("heartbeats every {h}s"),
        );
        if again {
            st.core.reregistrations += 1;
            say!("framework registered with id {framework_id} (re-subscribed with master {addr}, {host}; {sid}; {hb})");
        } else {
            st.core.registrations += 1;
            say!("framework registered with id {framework_id} (subscribed with master {addr}, {host}; {sid}; {hb})");
        }
        st.core.framework_id = Some(framework_id);
    }

    fn send(&self, st: &V1State, what: String, body: Value) {
        self.send_launching(st, what, body, Vec::new());
    }

    fn send_launching(&self, st: &V1State, what: String, body: Value, launches: Vec<String>) {
        let Some(addr) = st.conn.addr.clone() else {
            return;
        };
        let _ = self.calls.send(CallJob {
            gen: st.conn.gen,
            addr,
            stream_id: st.conn.stream_id.clone(),
            what,
            body,
            launches,
        });
    }

    /// An ACCEPT that did not reach the master launched nothing: its tasks
    /// are forgotten (their slots free again) instead of timing out.
    fn undelivered(&self, job: &CallJob, why: &str) {
        if job.launches.is_empty() {
            return;
        }
        let mut st = self.state.lock().unwrap();
        for id in &job.launches {
            if st
                .core
                .tasks
                .get(id)
                .is_some_and(|t| t.state == "TASK_STAGING" && !t.got_update)
            {
                say!("Task {id} was not launched ({why})");
                st.core.tasks.remove(id);
            }
        }
    }

    fn fw(st: &V1State) -> String {
        st.core.framework_id.clone().unwrap_or_default()
    }

    fn handle(&self, st: &mut V1State, event: Event) {
        match event {
            Event::Subscribed { framework_id, .. } => {
                say!("Ignoring a second SUBSCRIBED event (framework {framework_id})");
            }
            Event::Offers { offers, inverse } => {
                for o in offers {
                    self.offer(st, o);
                }
                for io in inverse {
                    self.inverse_offer(st, io);
                }
            }
            Event::InverseOffers(list) => {
                for io in list {
                    self.inverse_offer(st, io);
                }
            }
            Event::Rescind(id) => {
                // Before 1.0 inverse offers are rescinded like offers (the
                // ids are shared).
                if !self.rescind_inverse(st, &id) {
                    say!("Offer {id} rescinded");
                }
            }
            Event::RescindInverseOffer(id) => {
                if !self.rescind_inverse(st, &id) {
                    say!("Inverse offer {id} rescinded");
                }
            }
            Event::Update(s) => self.update(st, s),
            Event::Message => say!("Ignoring a framework message from an executor"),
            Event::Failure {
                agent_id,
                executor_id,
                status,
            } => match executor_id {
                Some(e) => say!(
                    "Executor {e} on agent {} terminated (status {})",
                    agent_id.unwrap_or_default(),
                    status.map_or_else(|| "unknown".into(), |s| s.to_string())
                ),
                None => say!("Agent {} failed", agent_id.unwrap_or_default()),
            },
            Event::Error(m) => st.core.error(format!("Error event from the master: {m}")),
            Event::Heartbeat => {}
        }
        self.maintenance(st);
    }

    fn offer(&self, st: &mut V1State, o: Offer) {
        st.core.counts.offers += 1;
        let fw = Self::fw(st);
        let draining = o.unavailability.is_some();
        if draining != st.conn.unavailable.contains(&o.agent_id) {
            if let Some(u) = &o.unavailability {
                st.conn.unavailable.insert(o.agent_id.clone());
                say!(
                    "Offers from agent {} ({}) carry unavailability (from {:.0}s from now{}): no long-running tasks there",
                    o.agent_id,
                    o.hostname,
                    u.start - now_secs(),
                    u.duration.map_or_else(String::new, |d| format!(", for {d:.0}s"))
                );
            } else {
                st.conn.unavailable.remove(&o.agent_id);
                say!(
                    "Offers from agent {} ({}) no longer carry unavailability",
                    o.agent_id,
                    o.hostname
                );
            }
        }
        let launch =
            st.core
                .plan_offer(&self.opts, &self.run, &o.agent_id, o.cpus, o.mem, !draining);
        if launch.is_empty() {
            st.core.counts.declined += 1;
            self.send(st, format!("DECLINE {}", o.id), decline_call(&fw, &o.id));
            return;
        }
        let tasks: Vec<Value> = launch
            .iter()
            .map(|l| internal_task(&self.opts, l, &o.agent_id))
            .collect();
        for l in &launch {
            st.core.record_launch(l, &o.agent_id, &o.id);
        }
        let ids: Vec<String> = launch.iter().map(|l| l.id.clone()).collect();
        self.send_launching(
            st,
            format!("ACCEPT {} (launch {})", o.id, ids.join(", ")),
            launch_call(&self.caps, &fw, &o.id, &tasks),
            ids,
        );
    }

    fn inverse_offer(&self, st: &mut V1State, io: InverseOffer) {
        st.core.counts.inverse_received += 1;
        let Some(agent) = io.agent_id.clone() else {
            let field = "agent_id";
            st.core.error(format!(
                "Inverse offer {} has no {field}: cannot tell which agent it is for; not answered",
                io.id
            ));
            return;
        };
        let u = &io.unavailability;
        say!(
            "Received inverse offer {} for agent {agent}: unavailable from {:.0}s from now{}",
            io.id,
            u.start - now_secs(),
            u.duration
                .map_or_else(String::new, |d| format!(", for {d:.0}s"))
        );
        let p = st.core.inverse.entry(agent).or_default();
        p.id = Some(io.id);
    }

    fn rescind_inverse(&self, st: &mut V1State, id: &str) -> bool {
        for (agent, p) in st.core.inverse.iter_mut() {
            if p.id.as_deref() == Some(id) {
                say!("Inverse offer {id} for agent {agent} rescinded");
                p.id = None;
                return true;
            }
        }
        false
    }

    /// Moves long tasks off agents with inverse offers, and accepts those
    /// whose agent we have left.
    fn maintenance(&self, st: &mut V1State) {
        let agents: Vec<String> = st.core.inverse.keys().cloned().collect();
        let fw = Self::fw(st);
        let now = Instant::now();
        for agent in agents {
            let step = inverse_step(&mut st.core, &agent, now);
            for task in step.kill {
                say!("Killing task {task} on agent {agent} to move it off (inverse offer)");
                self.send(st, format!("KILL {task}"), kill_call(&fw, &task, &agent));
            }
            if let Some(id) = step.accept {
                st.core.counts.inverse_accepted += 1;
                say!("Accepting inverse offer {id} for agent {agent}: no long-running task of ours is left there");
                self.send(
                    st,
                    format!("accept inverse offer {id}"),
                    accept_inverse_call(&self.caps, &fw, &id),
                );
            }
        }
    }

    fn update(&self, st: &mut V1State, s: TaskStatus) {
        let agent = s.agent_id.clone().unwrap_or_default();
        let mut msg = s.message.clone();
        if !s.reason.is_empty() {
            msg = format!("{msg} ({}, {})", s.reason, s.source)
                .trim()
                .to_string();
        }
        st.core
            .record_update(self.start, &s.task_id, &s.state, &agent, &msg);
        let Some(uuid) = s.uuid else {
            return; // Not retried, so not acknowledged (as the docs say).
        };
        if s.agent_id.is_none() {
            let field = "agent_id";
            st.core.error(format!(
                "Cannot acknowledge the {} update of task {}: the status has no {field}",
                s.state, s.task_id
            ));
            return;
        }
        st.core.counts.acks += 1;
        let fw = Self::fw(st);
        self.send(
            st,
            format!("ACKNOWLEDGE {} {}", s.task_id, s.state),
            acknowledge_call(&fw, &agent, &s.task_id, &uuid),
        );
    }

    /// Sends calls in order; those of a given-up subscription are dropped
    /// (the master would refuse them, and everything they carry is redone:
    /// updates are retried, offers are made again).
    fn send_calls(&self, rx: Receiver<CallJob>) {
        for job in rx {
            let current = |s: &Self| {
                let st = s.state.lock().unwrap();
                st.conn.gen == job.gen && st.conn.phase == Phase::Subscribed
            };
            if !current(self) {
                self.undelivered(
                    &job,
                    "its subscription was given up before the ACCEPT was sent",
                );
                continue;
            }
            let body = job.body.to_string();
            let mut headers = vec![
                ("Content-Type", "application/json"),
                ("Accept", "application/json"),
            ];
            if let Some(sid) = &job.stream_id {
                headers.push(("Mesos-Stream-Id", sid.as_str()));
            }
            match http::request(
                &job.addr,
                "POST",
                API_PATH,
                &headers,
                Some(body.as_bytes()),
                HTTP_TIMEOUT,
            ) {
                Ok(r) if r.status == 202 => {}
                Ok(r) => {
                    let msg = format!(
                        "Call {} to master {} answered HTTP {}: {}",
                        job.what,
                        job.addr,
                        r.status,
                        r.body.trim()
                    );
                    if current(self) {
                        self.state.lock().unwrap().core.error(msg);
                    } else {
                        say!("{msg} (subscription already given up)");
                    }
                    self.undelivered(&job, &format!("the ACCEPT got HTTP {}", r.status));
                }
                Err(e) => {
                    say!("Call {} to master {} failed: {e}", job.what, job.addr);
                    self.undelivered(&job, "the ACCEPT was not delivered");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::PendingInverse;

    fn caps(r: &str) -> Caps {
        Caps::of(r).unwrap()
    }

    fn offer_json(agent_field: &str, unavailable: bool) -> Value {
        let mut o = json!({
            "id": {"value": "O1"}, "framework_id": {"value": "F1"}, "hostname": "agent-0",
            "resources": v1::resources(&caps("1.0"), 1.0, 128.0),
        });
        o[agent_field] = json!({"value": "S1"});
        if unavailable {
            o["unavailability"] = json!({"start": {"nanoseconds": 2_000_000_000i64}, "duration": {"nanoseconds": "3000000000"}});
        }
        o
    }

    fn inverse_json(agent_field: &str) -> Value {
        let mut o = json!({
            "id": {"value": "I1"}, "framework_id": {"value": "F1"},
            "unavailability": {"start": {"nanoseconds": 1_000_000_000i64}},
        });
        o[agent_field] = json!({"value": "S1"});
        o
    }

    #[test]
    fn subscribed_and_heartbeat() {
        let e = json!({"type": "SUBSCRIBED", "subscribed": {"framework_id": {"value": "F1"}, "heartbeat_interval_seconds": 15.0}});
        for r in ["0.28", "1.0"] {
            assert_eq!(
                parse_event(&caps(r), &e).unwrap(),
                Event::Subscribed {
                    framework_id: "F1".into(),
                    heartbeat_interval: Some(15.0)
                }
            );
            assert_eq!(
                parse_event(&caps(r), &json!({"type": "HEARTBEAT"})).unwrap(),
                Event::Heartbeat
            );
        }
        let e = parse_event(
            &caps("1.0"),
            &json!({"type": "SUBSCRIBED", "subscribed": {}}),
        );
        assert!(e.unwrap_err().contains("subscribed.framework_id"));
        assert!(parse_event(&caps("1.0"), &json!({})).is_err());
    }

    #[test]
    fn offers() {
        let e = json!({"type": "OFFERS", "offers": {"offers": [offer_json("agent_id", true)]}});
        let Event::Offers { offers, inverse } = parse_event(&caps("0.28"), &e).unwrap() else {
            panic!()
        };
        assert!(inverse.is_empty());
        assert_eq!(offers[0].agent_id, "S1");
        assert_eq!((offers[0].cpus, offers[0].mem), (1.0, 128.0));
        assert_eq!(
            offers[0].unavailability,
            Some(Unavailability {
                start: 2.0,
                duration: Some(3.0)
            })
        );
        // Every release with a v1 API reads `agent_id`; without it the offer
        // is refused, as by a protobuf parser.
        let Event::Offers { offers: same, .. } = parse_event(&caps("1.0"), &e).unwrap() else {
            panic!()
        };
        assert_eq!(same, offers);
        let e = json!({"type": "OFFERS", "offers": {"offers": [offer_json("slave_id", false)]}});
        let err = parse_event(&caps("0.28"), &e).unwrap_err();
        assert_eq!(err, "Missing required field offers.offers[0].agent_id");
        let e = json!({"type": "OFFERS", "offers": {"offers": [offer_json("agent_id", false)]}});
        let Event::Offers { offers, .. } = parse_event(&caps("1.0"), &e).unwrap() else {
            panic!()
        };
        assert_eq!(offers[0].unavailability, None);
        // Other required fields.
        let mut o = offer_json("agent_id", false);
        o.as_object_mut().unwrap().remove("hostname");
        let e = json!({"type": "OFFERS", "offers": {"offers": [o]}});
        assert!(parse_event(&caps("1.0"), &e)
            .unwrap_err()
            .contains("hostname"));
    }

    #[test]
    fn inverse_offers_per_dialect() {
        // 0.28: inside OFFERS.
        let inside = json!({"type": "OFFERS", "offers": {"offers": [], "inverse_offers": [inverse_json("agent_id")]}});
        let Event::Offers { inverse, .. } = parse_event(&caps("0.28"), &inside).unwrap() else {
            panic!()
        };
        assert_eq!(inverse[0].id, "I1");
        assert_eq!(inverse[0].agent_id.as_deref(), Some("S1"));
        assert_eq!(inverse[0].unavailability.start, 1.0);
        // 1.0's Offers has no such field: ignored.
        let inside = json!({"type": "OFFERS", "offers": {"offers": [], "inverse_offers": [inverse_json("agent_id")]}});
        assert_eq!(
            parse_event(&caps("1.0"), &inside).unwrap(),
            Event::Offers {
                offers: vec![],
                inverse: vec![]
            }
        );
        // 1.0: their own event, unknown to 0.28.
        let sep = json!({"type": "INVERSE_OFFERS", "inverse_offers": {"inverse_offers": [inverse_json("agent_id")]}});
        let Event::InverseOffers(l) = parse_event(&caps("1.0"), &sep).unwrap() else {
            panic!()
        };
        assert_eq!(l[0].agent_id.as_deref(), Some("S1"));
        let err = parse_event(&caps("0.28"), &sep).unwrap_err();
        assert!(err.contains("unknown event type 'INVERSE_OFFERS'"), "{err}");
        let r = json!({"type": "RESCIND_INVERSE_OFFER", "rescind_inverse_offer": {"inverse_offer_id": {"value": "I1"}}});
        assert_eq!(
            parse_event(&caps("1.0"), &r).unwrap(),
            Event::RescindInverseOffer("I1".into())
        );
        assert!(parse_event(&caps("0.28"), &r).is_err());
        // No unavailability: not an inverse offer.
        let mut bad = inverse_json("agent_id");
        bad.as_object_mut().unwrap().remove("unavailability");
        let sep = json!({"type": "INVERSE_OFFERS", "inverse_offers": {"inverse_offers": [bad]}});
        assert!(parse_event(&caps("1.0"), &sep)
            .unwrap_err()
            .contains("unavailability"));
    }

    #[test]
    fn updates_and_other_events() {
        let u = json!({"task_id": "t1", "state": "TASK_RUNNING", "slave_id": "S1", "uuid": "u-1", "message": "hi"});
        for r in ["0.28", "1.0"] {
            let status = v1::task_status(&u);
            let e = json!({"type": "UPDATE", "update": {"status": status}});
            let Event::Update(s) = parse_event(&caps(r), &e).unwrap() else {
                panic!()
            };
            assert_eq!(
                (s.task_id.as_str(), s.state.as_str()),
                ("t1", "TASK_RUNNING")
            );
            assert_eq!(s.agent_id.as_deref(), Some("S1"));
            assert_eq!(v1::uuid_from_v1(s.uuid.as_deref().unwrap()).unwrap(), "u-1");
            assert_eq!(s.message, "hi");
        }
        // A status without its agent (optional in TaskStatus).
        let mut status = v1::task_status(&u);
        status.as_object_mut().unwrap().remove("agent_id");
        let e = json!({"type": "UPDATE", "update": {"status": status}});
        let Event::Update(s) = parse_event(&caps("0.28"), &e).unwrap() else {
            panic!()
        };
        assert_eq!(s.agent_id, None);
        assert!(parse_event(&caps("1.0"), &json!({"type": "UPDATE", "update": {}})).is_err());
        assert_eq!(
            parse_event(
                &caps("1.0"),
                &json!({"type": "RESCIND", "rescind": {"offer_id": {"value": "O1"}}})
            )
            .unwrap(),
            Event::Rescind("O1".into())
        );
        assert_eq!(
            parse_event(
                &caps("1.0"),
                &json!({"type": "ERROR", "error": {"message": "boom"}})
            )
            .unwrap(),
            Event::Error("boom".into())
        );
        assert_eq!(
            parse_event(
                &caps("0.28"),
                &json!({"type": "FAILURE", "failure": {"agent_id": {"value": "S1"}}})
            )
            .unwrap(),
            Event::Failure {
                agent_id: Some("S1".into()),
                executor_id: None,
                status: None
            }
        );
        assert!(parse_event(&caps("1.0"), &json!({"type": "BOGUS"})).is_err());
    }

    #[test]
    fn calls() {
        let s = subscribe_call("fw", "sched-0", None);
        assert_eq!(s["type"], "SUBSCRIBE");
        assert_eq!(s["subscribe"]["framework_info"]["name"], "fw");
        assert!(s.get("framework_id").is_none());
        assert!(s["subscribe"]["framework_info"].get("id").is_none());
        let s = subscribe_call("fw", "sched-0", Some("F1"));
        assert_eq!(s["framework_id"], json!({"value": "F1"}));
        assert_eq!(
            s["subscribe"]["framework_info"]["id"],
            json!({"value": "F1"})
        );

        let task = json!({"task_id": "long-0-1-r", "name": "x", "slave_id": "S1",
                          "resources": {"cpus": 0.25, "mem": 16.0}, "command": {"duration": 0.0}});
        for r in ["0.28", "1.0"] {
            let word = "agent_id";
            let c = launch_call(&caps(r), "F1", "O1", std::slice::from_ref(&task));
            assert_eq!(c["type"], "ACCEPT");
            assert_eq!(c["framework_id"], json!({"value": "F1"}));
            assert_eq!(c["accept"]["offer_ids"], json!([{"value": "O1"}]));
            let op = &c["accept"]["operations"][0];
            assert_eq!(op["type"], "LAUNCH");
            let info = &op["launch"]["task_infos"][0];
            assert_eq!(info[word], json!({"value": "S1"}));
            assert_eq!(v1::task_of(&caps(r), info).unwrap(), task);

            let a = acknowledge_call("F1", "S1", "t1", "dS0x");
            assert_eq!(a["type"], "ACKNOWLEDGE");
            assert_eq!(a["acknowledge"][word], json!({"value": "S1"}));
            assert_eq!(a["acknowledge"]["task_id"], json!({"value": "t1"}));
            assert_eq!(a["acknowledge"]["uuid"], "dS0x");

            let k = kill_call("F1", "t1", "S1");
            assert_eq!(k["kill"][word], json!({"value": "S1"}));
            assert_eq!(k["kill"]["task_id"], json!({"value": "t1"}));
        }
        let d = decline_call("F1", "O2");
        assert_eq!(d["type"], "DECLINE");
        assert_eq!(d["decline"]["offer_ids"], json!([{"value": "O2"}]));

        // Inverse offers: ACCEPT with the inverse offer's id in 0.28,
        // ACCEPT_INVERSE_OFFERS in 1.0.
        let a = accept_inverse_call(&caps("0.28"), "F1", "I1");
        assert_eq!(a["type"], "ACCEPT");
        assert_eq!(a["accept"]["offer_ids"], json!([{"value": "I1"}]));
        assert_eq!(a["accept"]["operations"], json!([]));
        let a = accept_inverse_call(&caps("1.0"), "F1", "I1");
        assert_eq!(a["type"], "ACCEPT_INVERSE_OFFERS");
        assert_eq!(
            a["accept_inverse_offers"]["inverse_offer_ids"],
            json!([{"value": "I1"}])
        );
    }

    #[test]
    fn redirect_locations() {
        let t = |l: &str| redirect_target(l, "master-0:5050");
        assert_eq!(
            t("//master-2:5050/api/v1/scheduler"),
            Some(("master-2:5050".into(), "/api/v1/scheduler".into()))
        );
        assert_eq!(
            t("http://master-1:5050/api/v1/scheduler"),
            Some(("master-1:5050".into(), "/api/v1/scheduler".into()))
        );
        assert_eq!(
            t("master-1:5050"),
            Some(("master-1:5050".into(), API_PATH.into()))
        );
        assert_eq!(
            t("/api/v1/scheduler"),
            Some(("master-0:5050".into(), "/api/v1/scheduler".into()))
        );
        assert_eq!(t("//m:80"), Some(("m:80".into(), API_PATH.into())));
        assert_eq!(t(""), None);
        assert_eq!(t("//:5050/x"), None);
        assert_eq!(t("//m:port/x"), None);
    }

    fn opts(long: u32) -> Opts {
        let a: Vec<String> = ["--master", "m:5050"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let mut o = Opts::parse(&a).unwrap();
        o.long = long;
        o
    }

    #[test]
    fn inverse_offer_moves_then_accepts() {
        let o = opts(2);
        let mut st = State::new();
        let start = Instant::now();
        let l = st.plan_offer(&o, "r", "A", 0.5, 32.0, true);
        assert_eq!(l.len(), 2);
        for x in &l {
            st.record_launch(x, "A", "o1");
            st.record_update(start, &x.id, "TASK_RUNNING", "A", "");
        }
        let now = Instant::now();
        // Nothing pending: nothing to do.
        assert_eq!(inverse_step(&mut st, "A", now), InverseStep::default());
        st.inverse.insert(
            "A".into(),
            PendingInverse {
                id: Some("I1".into()),
                ..Default::default()
            },
        );
        let step = inverse_step(&mut st, "A", now);
        assert_eq!(step.kill, vec![l[0].id.clone(), l[1].id.clone()]);
        assert_eq!(step.accept, None);
        // Asked again soon: no second KILL; later: again.
        assert!(inverse_step(&mut st, "A", now).kill.is_empty());
        assert_eq!(inverse_step(&mut st, "A", now + KILL_RETRY).kill.len(), 2);
        // The killed tasks end: moves, not endings; accepted once nothing
        // of ours runs there, before the replacements found room elsewhere.
        for x in &l {
            st.record_update(start, &x.id, "TASK_KILLED", "A", "");
        }
        assert_eq!((st.counts.moved, st.counts.long_ended), (2, 0));
        let step = inverse_step(&mut st, "A", now);
        assert_eq!(step.accept.as_deref(), Some("I1"));
        assert!(st.inverse.is_empty());
        // The slots are free for replacements elsewhere.
        let r = st.plan_offer(&o, "r", "B", 0.5, 32.0, true);
        assert_eq!(r.len(), 2);
    }

    #[test]
    fn inverse_offer_without_our_tasks_is_accepted_at_once() {
        let o = opts(1);
        let mut st = State::new();
        let start = Instant::now();
        let l = st.plan_offer(&o, "r", "B", 0.25, 16.0, true);
        st.record_launch(&l[0], "B", "o1");
        st.record_update(start, &l[0].id, "TASK_RUNNING", "B", "");
        st.inverse.insert(
            "A".into(),
            PendingInverse {
                id: Some("I9".into()),
                ..Default::default()
            },
        );
        let step = inverse_step(&mut st, "A", Instant::now());
        assert!(step.kill.is_empty());
        assert_eq!(step.accept.as_deref(), Some("I9"));
        // A rescinded one (id gone) is not answered, the moves go on.
        st.inverse.insert("B".into(), PendingInverse::default());
        let step = inverse_step(&mut st, "B", Instant::now());
        assert_eq!(step.kill, vec![l[0].id.clone()]);
        assert_eq!(step.accept, None);
        assert!(st.inverse.contains_key("B"));
        // While moving, its slot is free for a replacement (not on B).
        let r = st.plan_offer(&o, "r", "A", 0.25, 16.0, true);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].kind, Kind::Long(0));
    }
}
