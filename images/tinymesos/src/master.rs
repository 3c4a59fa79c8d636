//! The master: contends for leadership in ZooKeeper; the leader registers
//! agents and frameworks, offers agents' free resources to frameworks,
//! launches tasks on agents and forwards status updates. Non-leaders drop
//! messages ("not elected yet") and answer their endpoints honestly (the v1
//! APIs: 503 or a redirect to the leader, see [`v1_http`]).
//!
//! A newly elected master starts empty (there is no replicated registry):
//! it learns agents and their tasks from re-registrations, and frameworks
//! from their re-registration (or re-subscription). The maintenance
//! schedule is not replicated either: a new leader starts without one.
//!
//! Frameworks are connected one of two ways ([`Conn`]): a driver
//! framework's libprocess pid (every release), or an HTTP framework's event
//! stream on `/api/v1/scheduler` (0.24+, [`scheduler_api`]). Everything the
//! master tells a framework is an [`events::Event`], delivered as a
//! message to the pid or a RecordIO record on the stream. Other modules:
//! [`calls`] (scheduler calls, v1 and driver), [`maintenance`] (schedule
//! and machine modes), [`maintenance_api`] (its endpoints and what the
//! master does about it: inverse offers, DOWN machines), [`operator`] (the
//! 1.0 operator API `POST /api/v1`).

mod calls;
pub mod events;
mod maintenance;
mod maintenance_api;
mod operator;
mod scheduler_api;
mod v1_http;

use crate::election::{Election, MasterInfo};
use crate::flags::Flags;
use crate::http::Request;
use crate::process::{self, message_of, Get, Message, Outbox, Pid, Reply};
use crate::release::{Caps, InverseOfferEvent};
use crate::zk::ZkUrl;
use crate::{now_secs, say};
use calls::{Call, Launch};
use events::{AgentAt, Event, InverseOut, OfferOut};
/// When a machine is unavailable (what offers and inverse offers carry).
pub use maintenance::Unavailability;
use maintenance::{Maintenance, Mode};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::ToSocketAddrs;
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

pub const USAGE: &str = "\
usage:
  tinymesos-master --zk zk://HOST:PORT/PATH [--hostname NAME] [--port 5050]
                   [--work_dir DIR] [--quorum N] [--zk_session_timeout 10secs]
                   [--agent_ping_timeout 15secs] [--offer_timeout 30secs]
                   [--allocation_interval 1secs] [--heartbeat_interval 15secs]
  tinymesos-master get PATH [--addr 127.0.0.1:5050]
  tinymesos-master version";

/// How long a declined or accepted inverse offer is not re-sent when the
/// framework gives no `filters.refuse_seconds` (Mesos's `Filters` default).
const DEFAULT_REFUSE_SECS: f64 = 5.0;

pub struct Opts {
    pub zk: ZkUrl,
    pub hostname: String,
    pub port: u16,
    pub zk_session_timeout: Duration,
    pub agent_ping_timeout: Duration,
    pub offer_timeout: Duration,
    pub allocation_interval: Duration,
    /// Between HEARTBEAT events on v1 event streams (a tinymesos flag:
    /// Mesos fixes it at 15 s).
    pub heartbeat_interval: Duration,
}

impl Opts {
    pub fn parse(args: &[String]) -> Result<Opts, String> {
        let mut f = Flags::parse(args)?;
        let zk = ZkUrl::parse(&f.required("zk")?)?;
        let hostname = f
            .opt("hostname")
            .or_else(|| std::env::var("HOSTNAME").ok())
            .unwrap_or_else(|| "localhost".into());
        let port = f.num("port", 5050u16)?;
        let _ = f.opt("work_dir");
        let _ = f.opt("quorum");
        let _ = f.opt("ip");
        let zk_session_timeout = f.duration("zk_session_timeout", Duration::from_secs(10))?;
        let ping = f.duration("slave_ping_timeout", Duration::from_secs(15))?;
        let agent_ping_timeout = f.duration("agent_ping_timeout", ping)?;
        let offer_timeout = f.duration("offer_timeout", Duration::from_secs(30))?;
        let allocation_interval = f.duration("allocation_interval", Duration::from_secs(1))?;
        let heartbeat_interval = f.duration("heartbeat_interval", Duration::from_secs(15))?;
        if heartbeat_interval < Duration::from_millis(100) {
            return Err("--heartbeat_interval must be at least 100ms".into());
        }
        f.finish()?;
        Ok(Opts {
            zk,
            hostname,
            port,
            zk_session_timeout,
            agent_ping_timeout,
            offer_timeout,
            allocation_interval,
            heartbeat_interval,
        })
    }
}

#[derive(Debug, Clone)]
struct Agent {
    id: String,
    pid: Pid,
    hostname: String,
    /// The IPv4 address the agent's pid host resolved to ("" if it did
    /// not), for maintenance machine ids and offers' URLs.
    ip: String,
    version: String,
    cpus: f64,
    mem: f64,
    active: bool,
    missed_pings: u32,
    registered_time: f64,
    reregistered: bool,
}

impl Agent {
    fn at(&self) -> AgentAt {
        AgentAt {
            id: self.id.clone(),
            pid: self.pid.to_string(),
            hostname: self.hostname.clone(),
            ip: self.ip.clone(),
            port: self.pid.port,
        }
    }
}

/// An HTTP framework's event stream: events go down the channel to the
/// connection's own thread, which writes them (and heartbeats). Dropping
/// the sender ends the stream.
#[derive(Debug, Clone)]
struct HttpConn {
    /// The subscription's id (sent as `Mesos-Stream-Id` from 0.28).
    stream_id: String,
    tx: mpsc::Sender<Vec<u8>>,
}

/// How the master reaches a framework.
#[derive(Debug, Clone)]
enum Conn {
    /// A scheduler driver's libprocess pid.
    Pid(Pid),
    /// A v1 HTTP event stream.
    Http(HttpConn),
}

impl Conn {
    fn pid(&self) -> Option<&Pid> {
        match self {
            Conn::Pid(p) => Some(p),
            Conn::Http(_) => None,
        }
    }

    fn is(&self, pid: &Pid) -> bool {
        self.pid() == Some(pid)
    }
}

#[derive(Debug, Clone)]
struct Framework {
    id: String,
    name: String,
    conn: Conn,
    active: bool,
    missed_pings: u32,
    registered_time: f64,
    reregistered_time: Option<f64>,
    /// The v1 `FrameworkInfo` (with its id).
    info: Value,
    /// Seconds a disconnected HTTP framework is kept before it is removed
    /// (`FrameworkInfo.failover_timeout`). Driver frameworks are never
    /// removed for being disconnected (as before).
    failover_timeout: f64,
    disconnected_at: Option<Instant>,
    /// SUPPRESS: no offers until REVIVE.
    suppressed: bool,
    /// Offer filters: no offers of these agents until then.
    refused: BTreeMap<String, Instant>,
}

impl Framework {
    fn new(id: &str, name: &str, conn: Conn, info: Value) -> Framework {
        Framework {
            id: id.to_string(),
            name: name.to_string(),
            conn,
            active: true,
            missed_pings: 0,
            registered_time: now_secs(),
            reregistered_time: None,
            failover_timeout: info
                .get("failover_timeout")
                .and_then(Value::as_f64)
                .unwrap_or(0.0),
            info,
            disconnected_at: None,
            suppressed: false,
            refused: BTreeMap::new(),
        }
    }

    fn is_http(&self) -> bool {
        matches!(self.conn, Conn::Http(_))
    }

    fn pid_string(&self) -> String {
        self.conn.pid().map(Pid::to_string).unwrap_or_default()
    }
}

#[derive(Debug, Clone)]
struct Task {
    id: String,
    name: String,
    framework_id: String,
    agent_id: String,
    state: String,
    cpus: f64,
    mem: f64,
}

impl Task {
    fn json(&self, caps: &Caps) -> Value {
        json!({
            "id": self.id, "name": self.name, "framework_id": self.framework_id,
            "slave_id": self.agent_id, "state": self.state,
            "resources": {"cpus": caps.scalar(self.cpus), "mem": caps.scalar(self.mem)},
        })
    }
}

#[derive(Debug, Clone)]
struct Offer {
    id: String,
    framework_id: String,
    agent_id: String,
    cpus: f64,
    mem: f64,
    created: Instant,
}

#[derive(Debug, Clone)]
struct InverseOffer {
    id: String,
    framework_id: String,
    agent_id: String,
    created: Instant,
}

/// A framework's answer to the inverse offers for an agent
/// (`InverseOfferStatus`): UNKNOWN until it answers.
#[derive(Debug, Clone)]
struct InverseStatus {
    status: &'static str,
    timestamp: f64,
}

pub fn is_terminal(state: &str) -> bool {
    matches!(
        state,
        "TASK_FINISHED" | "TASK_FAILED" | "TASK_KILLED" | "TASK_LOST" | "TASK_ERROR"
    )
}

#[derive(Default)]
struct State {
    elected: bool,
    elected_time: Option<f64>,
    leader: Option<MasterInfo>,
    detect_error: Option<String>,
    agents: BTreeMap<String, Agent>,
    frameworks: BTreeMap<String, Framework>,
    /// Active tasks by (framework id, task id).
    tasks: BTreeMap<(String, String), Task>,
    completed: VecDeque<Task>,
    offers: BTreeMap<String, Offer>,
    inverse_offers: BTreeMap<String, InverseOffer>,
    /// By (agent id, framework id).
    inverse_statuses: BTreeMap<(String, String), InverseStatus>,
    /// Inverse offer filters by (agent id, framework id).
    inverse_filters: BTreeMap<(String, String), Instant>,
    maintenance: Maintenance,
    /// Removed frameworks: id → `FrameworkInfo`.
    removed_frameworks: BTreeMap<String, Value>,
    next_agent: u64,
    next_framework: u64,
    next_offer: u64,
    round_robin: usize,
    counters: BTreeMap<String, u64>,
}

impl State {
    fn count(&mut self, key: &str) {
        *self.counters.entry(key.to_string()).or_default() += 1;
    }
    fn counter(&self, key: &str) -> u64 {
        self.counters.get(key).copied().unwrap_or(0)
    }
    fn used(&self, agent_id: &str) -> (f64, f64) {
        self.tasks
            .values()
            .filter(|t| t.agent_id == agent_id)
            .fold((0.0, 0.0), |(c, m), t| (c + t.cpus, m + t.mem))
    }
    fn offered(&self, agent_id: &str) -> (f64, f64) {
        self.offers
            .values()
            .filter(|o| o.agent_id == agent_id)
            .fold((0.0, 0.0), |(c, m), o| (c + o.cpus, m + o.mem))
    }
    /// Forgets everything learnt as a leader (counters stay). Dropping the
    /// frameworks ends their event streams.
    fn reset(&mut self) {
        self.agents.clear();
        self.frameworks.clear();
        self.tasks.clear();
        self.completed.clear();
        self.offers.clear();
        self.inverse_offers.clear();
        self.inverse_statuses.clear();
        self.inverse_filters.clear();
        self.maintenance = Maintenance::default();
        self.removed_frameworks.clear();
    }
    fn complete(&mut self, mut t: Task, state: &str) {
        t.state = state.to_string();
        let key = match state {
            "TASK_FINISHED" => "tasks_finished",
            "TASK_FAILED" => "tasks_failed",
            "TASK_KILLED" => "tasks_killed",
            "TASK_ERROR" => "tasks_error",
            _ => "tasks_lost",
        };
        self.count(key);
        self.completed.push_back(t);
        while self.completed.len() > 200 {
            self.completed.pop_front();
        }
    }
    /// The agent's machine when it is in the maintenance schedule.
    fn machine_of(
        &self,
        a: &Agent,
    ) -> Option<(maintenance::MachineId, Mode, maintenance::Unavailability)> {
        self.maintenance.machine_of(&a.hostname, &a.ip)
    }
    fn offer_ids_where(&self, f: impl Fn(&Offer) -> bool) -> Vec<String> {
        self.offers
            .values()
            .filter(|o| f(o))
            .map(|o| o.id.clone())
            .collect()
    }
    fn inverse_ids_where(&self, f: impl Fn(&InverseOffer) -> bool) -> Vec<String> {
        self.inverse_offers
            .values()
            .filter(|o| f(o))
            .map(|o| o.id.clone())
            .collect()
    }
}

pub struct Master {
    caps: Caps,
    opts: Opts,
    info: MasterInfo,
    me: Pid,
    outbox: Arc<Outbox>,
    state: Mutex<State>,
    start_time: f64,
    election: Mutex<Option<Arc<Election>>>,
}

fn resolve(host: &str, port: u16) -> Option<std::net::Ipv4Addr> {
    (host, port)
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.find(|a| a.is_ipv4()))
        .and_then(|a| match a.ip() {
            std::net::IpAddr::V4(v4) => Some(v4),
            std::net::IpAddr::V6(_) => None,
        })
}

fn resolve_ip(host: &str, port: u16) -> u32 {
    resolve(host, port)
        .map(|v4| MasterInfo::ip_from_octets(v4.octets()))
        .unwrap_or(0)
}

/// A status update the master generates itself (no uuid: the framework
/// does not acknowledge it).
fn master_update(fw: &str, agent: &str, task: &str, state: &str, message: &str) -> Value {
    json!({
        "framework_id": fw, "slave_id": agent, "task_id": task,
        "state": state, "message": message, "uuid": "", "timestamp": now_secs(),
        "source": "SOURCE_MASTER",
    })
}

fn lost_update(fw: &str, agent: &str, task: &str, message: &str) -> Value {
    master_update(fw, agent, task, "TASK_LOST", message)
}

impl Master {
    pub fn run(opts: Opts) -> i32 {
        let caps = Caps::built();
        let r = crate::random_bytes();
        let start = now_secs();
        let id = format!(
            "{}-{}-{}",
            start as u64,
            opts.port,
            u32::from_le_bytes([r[0], r[1], r[2], r[3]])
        );
        let me = Pid::new("master", &opts.hostname, opts.port);
        let info = MasterInfo {
            id: id.clone(),
            ip: resolve_ip(&opts.hostname, opts.port),
            port: u32::from(opts.port),
            pid: me.to_string(),
            hostname: opts.hostname.clone(),
            version: caps.version(),
        };
        say!(
            "tinymesos master {} starting: hostname {}, zk zk://{}{}",
            caps.version(),
            opts.hostname,
            opts.zk.hosts.join(","),
            opts.zk.path
        );
        let m = Arc::new(Master {
            outbox: Outbox::new(me.clone()),
            caps: caps.clone(),
            info: info.clone(),
            me,
            state: Mutex::new(State::default()),
            start_time: start,
            election: Mutex::new(None),
            opts,
        });
        let f = Arc::clone(&m);
        m.outbox
            .on_failure(Arc::new(move |pid, name| f.link_broken(pid, name)));
        let h = Arc::clone(&m);
        if let Err(e) = process::serve(m.opts.port, Arc::new(move |req| h.http(req))) {
            say!("Failed to bind port {}: {e}", m.opts.port);
            return 1;
        }
        say!(
            "Master {} ({}) started on {}:{}",
            id,
            m.opts.hostname,
            info.ip_string(),
            m.opts.port
        );
        say!("master listening on {}", m.opts.port);
        let election = Election::start(
            m.opts.zk.clone(),
            caps,
            Some(info),
            m.opts.zk_session_timeout,
        );
        *m.election.lock().unwrap() = Some(Arc::clone(&election));
        let e2 = Arc::clone(&election);
        crate::install_shutdown(move || e2.close(Duration::from_secs(2)));
        let t = Arc::clone(&m);
        std::thread::Builder::new()
            .name("allocator".into())
            .spawn(move || t.timer_loop())
            .expect("spawn allocator");
        m.watch_election(&election)
    }

    fn watch_election(&self, election: &Election) -> i32 {
        let mut gen = u64::MAX;
        let mut announced = false;
        loop {
            let v = election.wait_change(gen, Duration::from_secs(3600));
            gen = v.generation;
            let mut st = self.state.lock().unwrap();
            if let Some(err) = &v.error {
                say!("Failed to detect the leading master: {err}; committing suicide!");
                return 1;
            }
            if v.elected && !st.elected {
                st.reset();
                st.elected = true;
                st.elected_time = Some(now_secs());
                say!(
                    "Elected as the leading master! (elected leader: {})",
                    self.me
                );
            } else if !v.elected && st.elected {
                say!("Lost leadership... no longer the leading master; forgetting agents and frameworks");
                st.reset();
                st.elected = false;
                st.elected_time = None;
            }
            let changed = st.leader.as_ref().map(|l| &l.id) != v.leader.as_ref().map(|l| &l.id);
            if changed && !v.elected {
                match &v.leader {
                    Some(l) => say!("The newly elected leader is {} with id {}", l.pid, l.id),
                    None => say!("No master is currently leading"),
                }
            }
            st.leader = v.leader.clone();
            st.detect_error = v.error.clone();
            if !announced {
                if let Some(l) = &v.leader {
                    // Readiness: this master knows who leads (maybe itself).
                    say!(
                        "master ready: the leading master is {} ({})",
                        l.pid,
                        l.hostname
                    );
                    announced = true;
                }
            }
        }
    }

    fn send(&self, to: &Pid, name: &str, body: Value) {
        self.outbox.send(to, name, body);
    }

    /// Tells a framework something, through its pid or its event stream
    /// (a closed stream's sender fails quietly: its connection thread has
    /// already reported it closed, see [`Master::stream_closed`]).
    fn deliver(&self, f: &Framework, ev: Event) {
        match &f.conn {
            Conn::Pid(pid) => {
                if let Some((name, body)) = ev.message(&self.caps) {
                    self.send(pid, name, body);
                }
            }
            Conn::Http(h) => {
                let _ = h.tx.send(ev.record(&self.caps));
            }
        }
    }

    fn deliver_to(&self, st: &State, framework_id: &str, ev: Event) {
        if let Some(f) = st.frameworks.get(framework_id) {
            self.deliver(f, ev);
        }
    }

    /// The leading master's hostname and port, for redirects.
    fn leader_address(st: &State) -> Option<(String, u32)> {
        st.leader.as_ref().map(|l| (l.hostname.clone(), l.port))
    }

    /// How a master that does not lead answers a v1 or maintenance request
    /// (503, or a 307 to the leader: [`v1_http::non_leader`]); `None` when it leads.
    fn not_leading(&self, st: &State, req: &Request) -> Option<Reply> {
        if st.elected {
            return None;
        }
        let leader = Master::leader_address(st);
        Some(v1_http::non_leader(
            &self.caps,
            leader.as_ref().map(|(h, p)| (h.as_str(), *p)),
            &req.path,
        ))
    }

    /// The prologue of the master's v1 endpoints that take a call: it leads
    /// (else 503/307), the method is `POST` (else 405) and the body is JSON
    /// (else 400/415); the call's JSON when all hold.
    fn v1_call_body(&self, req: &Request) -> Result<serde_json::Value, Reply> {
        {
            let st = self.state.lock().unwrap();
            if let Some(r) = self.not_leading(&st, req) {
                return Err(r);
            }
        }
        v1_http::method(req, &["POST"])?;
        v1_http::json_body(req)
    }

    /// A message to `pid` could not be delivered: deactivate the agent or
    /// framework there at once (pings reactivate it when it answers again).
    fn link_broken(&self, pid: &Pid, name: &str) {
        let mut st = self.state.lock().unwrap();
        if !st.elected {
            return;
        }
        let agent = st
            .agents
            .values()
            .find(|a| a.pid == *pid && a.active)
            .map(|a| a.id.clone());
        if let Some(id) = agent {
            let a = st.agents.get_mut(&id).expect("found above");
            a.active = false;
            say!("Agent {id} at {pid} ({}) disconnected ('{name}' could not be delivered); deactivating it", a.hostname);
            self.rescind_agent_offers(&mut st, &id);
        }
        let fw = st
            .frameworks
            .values()
            .find(|f| f.conn.is(pid) && f.active)
            .map(|f| f.id.clone());
        if let Some(id) = fw {
            let f = st.frameworks.get_mut(&id).expect("found above");
            f.active = false;
            say!("Framework {id} at {pid} disconnected ('{name}' could not be delivered); deactivating it");
            st.offers.retain(|_, o| o.framework_id != id);
            st.inverse_offers.retain(|_, o| o.framework_id != id);
        }
    }

    /// An HTTP framework's event stream ended (a write failed: the
    /// scheduler went away). As Mesos does when the connection closes, the
    /// framework is deactivated, loses its offers, and is removed after its
    /// `failover_timeout` unless it re-subscribes.
    fn stream_closed(&self, framework_id: &str, stream_id: &str) {
        let mut st = self.state.lock().unwrap();
        let Some(f) = st.frameworks.get_mut(framework_id) else {
            return;
        };
        let same = matches!(&f.conn, Conn::Http(h) if h.stream_id == stream_id);
        if !same || !f.active {
            return;
        }
        f.active = false;
        f.disconnected_at = Some(Instant::now());
        say!(
            "Framework {framework_id} ({}) disconnected: its event stream closed; removing it in {}s unless it re-subscribes",
            f.name,
            f.failover_timeout
        );
        st.count("framework_disconnections");
        st.offers.retain(|_, o| o.framework_id != framework_id);
        st.inverse_offers
            .retain(|_, o| o.framework_id != framework_id);
    }

    fn rescind_agent_offers(&self, st: &mut State, agent_id: &str) {
        for o in st.offer_ids_where(|o| o.agent_id == agent_id) {
            self.rescind(st, &o);
        }
    }

    // ---- HTTP -----------------------------------------------------------

    /// The endpoint a path names: Mesos serves the master's routes under
    /// `/master/...` and, through libprocess's delegation, without the
    /// prefix; both work for the endpoints added from 0.24 on.
    fn route<'a>(&self, path: &'a str) -> &'a str {
        match path.strip_prefix("/master") {
            Some(rest) if !self.caps.master_serves(path) && self.caps.master_serves(rest) => rest,
            _ => path,
        }
    }

    fn http(self: &Arc<Self>, req: &Request) -> Reply {
        if let Some(m) = message_of(req, "master") {
            match m {
                Ok(m) => self.receive(m),
                Err(e) => say!("{e}"),
            }
            return Reply::accepted();
        }
        let path = self.route(&req.path);
        if !self.caps.master_serves(path) {
            return Reply::not_found(&req.path, self.caps.release);
        }
        match path {
            "/health" | "/master/health" => Reply::text(200, ""),
            "/version" => Reply::json(&self.version_json(true)),
            "/master/state.json" | "/master/state" => Reply::json(&self.state_json()),
            "/master/stats.json" => Reply::json(&self.stats_json()),
            "/metrics/snapshot" => Reply::json(&self.metrics()),
            "/master/redirect" => {
                let st = self.state.lock().unwrap();
                match &st.leader {
                    Some(l) => {
                        let mut r = Reply::text(307, "");
                        r.headers
                            .push(("Location".into(), format!("//{}:{}", l.hostname, l.port)));
                        r
                    }
                    None => Reply::text(503, "No leader elected"),
                }
            }
            "/master/shutdown" | "/master/teardown" => self.teardown(req),
            "/api/v1/scheduler" => scheduler_api::handle(self, req),
            "/api/v1" => operator::handle(self, req),
            "/maintenance/schedule" | "/maintenance/status" | "/machine/down" | "/machine/up" => {
                maintenance_api::handle(self, path, req)
            }
            _ => Reply::not_found(&req.path, self.caps.release),
        }
    }

    fn teardown(&self, req: &Request) -> Reply {
        if req.method != "POST" {
            return Reply::text(405, "Expecting a POST request");
        }
        let Some(id) = req.param("frameworkId") else {
            return Reply::text(400, "Missing 'frameworkId' query parameter");
        };
        let mut st = self.state.lock().unwrap();
        if !st.elected {
            return Reply::text(307, "Master is not the leader");
        }
        if !st.frameworks.contains_key(&id) {
            return Reply::text(400, "No framework found with specified ID");
        }
        say!("Removing framework {id} on request of {}", req.path);
        self.remove_framework(&mut st, &id, "Framework removed by the operator", true);
        Reply::text(200, "")
    }

    /// `/version` (0.28+), as Mesos shapes it (a tinymesos build has no
    /// build date: its start time stands in); `release` is a tinymesos
    /// addition.
    fn version_json(&self, with_release: bool) -> Value {
        let secs = self.start_time as i64;
        let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
        // Civil date from days since the epoch (Howard Hinnant's algorithm).
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = doy - (153 * mp + 2) / 5 + 1;
        let m = if mp < 10 { mp + 3 } else { mp - 9 };
        let y = yoe + era * 400 + i64::from(m <= 2);
        let date = format!(
            "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
            rem / 3600,
            (rem / 60) % 60,
            rem % 60
        );
        let mut v = json!({
            "version": self.caps.version(),
            "build_date": date,
            "build_time": secs as f64,
            "build_user": "tinymesos",
            "git_tag": self.caps.version(),
        });
        if with_release {
            v["release"] = json!(self.caps.release);
        }
        v
    }

    fn leader_fields(&self, st: &State) -> (Value, Value) {
        match &st.leader {
            Some(l) => (json!(l.pid), {
                let mut v = l.to_json();
                v["elected"] = json!(true);
                v
            }),
            None => (json!(""), Value::Null),
        }
    }

    fn state_json(&self) -> Value {
        let st = self.state.lock().unwrap();
        let caps = &self.caps;
        let res = |c: f64, m: f64| json!({"cpus": caps.scalar(c), "mem": caps.scalar(m)});
        let (leader, leader_info) = self.leader_fields(&st);
        let slaves: Vec<Value> = st
            .agents
            .values()
            .map(|a| {
                let (uc, um) = st.used(&a.id);
                let (oc, om) = st.offered(&a.id);
                json!({
                    "id": a.id, "pid": a.pid.to_string(), "hostname": a.hostname,
                    "active": a.active, "registered_time": a.registered_time,
                    "reregistered": a.reregistered, "version": a.version,
                    "resources": res(a.cpus, a.mem),
                    "used_resources": res(uc, um),
                    "offered_resources": res(oc, om),
                })
            })
            .collect();
        let frameworks: Vec<Value> = st
            .frameworks
            .values()
            .map(|f| {
                let tasks: Vec<Value> = st
                    .tasks
                    .values()
                    .filter(|t| t.framework_id == f.id)
                    .map(|t| t.json(caps))
                    .collect();
                let completed: Vec<Value> = st
                    .completed
                    .iter()
                    .filter(|t| t.framework_id == f.id)
                    .map(|t| t.json(caps))
                    .collect();
                let offers = st
                    .offers
                    .values()
                    .filter(|o| o.framework_id == f.id)
                    .count();
                let mut v = json!({
                    "id": f.id, "name": f.name, "active": f.active,
                    "registered_time": f.registered_time, "tasks": tasks,
                    "completed_tasks": completed, "offers": offers,
                    "failover_timeout": f.failover_timeout,
                    "user": f.info.get("user").cloned().unwrap_or(json!("")),
                });
                // As Mesos: no pid for HTTP frameworks.
                if let Some(pid) = f.conn.pid() {
                    v["pid"] = json!(pid.to_string());
                }
                if let Some(t) = f.reregistered_time {
                    v["reregistered_time"] = json!(t);
                }
                v
            })
            .collect();
        let orphans: Vec<Value> = st
            .tasks
            .values()
            .filter(|t| !st.frameworks.contains_key(&t.framework_id))
            .map(|t| t.json(caps))
            .collect();
        let active = st.agents.values().filter(|a| a.active).count();
        json!({
            "version": self.caps.version(),
            "release": self.caps.release,
            "git_tag": self.caps.version(),
            "id": self.info.id,
            "pid": self.me.to_string(),
            "hostname": self.opts.hostname,
            "start_time": self.start_time,
            "elected_time": st.elected_time,
            "elected": st.elected,
            "leader": leader,
            "leader_info": leader_info,
            "detector_error": st.detect_error,
            "activated_slaves": active,
            "deactivated_slaves": st.agents.len() - active,
            "slaves": slaves,
            "frameworks": frameworks,
            "completed_frameworks": st.removed_frameworks.keys().collect::<Vec<_>>(),
            "orphan_tasks": orphans,
            "dropped_messages": st.counter("dropped_messages"),
        })
    }

    fn stats_json(&self) -> Value {
        let st = self.state.lock().unwrap();
        let running = st
            .tasks
            .values()
            .filter(|t| t.state == "TASK_RUNNING")
            .count();
        json!({
            "elected": u8::from(st.elected),
            "uptime": now_secs() - self.start_time,
            "activated_slaves": st.agents.values().filter(|a| a.active).count(),
            "deactivated_slaves": st.agents.values().filter(|a| !a.active).count(),
            "total_frameworks": st.frameworks.len(),
            "active_tasks_gauge": st.tasks.len(),
            "staged_tasks": st.tasks.values().filter(|t| t.state == "TASK_STAGING").count(),
            "started_tasks": running,
            "finished_tasks": st.counter("tasks_finished"),
            "failed_tasks": st.counter("tasks_failed"),
            "killed_tasks": st.counter("tasks_killed"),
            "lost_tasks": st.counter("tasks_lost"),
            "outstanding_offers": st.offers.len(),
            "valid_status_updates": st.counter("valid_status_updates"),
            "invalid_status_updates": st.counter("invalid_status_updates"),
        })
    }

    fn metrics(&self) -> Value {
        let st = self.state.lock().unwrap();
        let state_count = |s: &str| st.tasks.values().filter(|t| t.state == s).count();
        let active_agents = st.agents.values().filter(|a| a.active).count();
        let active_fws = st.frameworks.values().filter(|f| f.active).count();
        let mut m = serde_json::Map::new();
        let mut put = |k: &str, v: f64| {
            m.insert(k.to_string(), json!(v));
        };
        put("master/elected", if st.elected { 1.0 } else { 0.0 });
        put("master/uptime_secs", now_secs() - self.start_time);
        put("master/slaves_active", active_agents as f64);
        put(
            "master/slaves_inactive",
            (st.agents.len() - active_agents) as f64,
        );
        put("master/slaves_connected", active_agents as f64);
        put(
            "master/slaves_disconnected",
            (st.agents.len() - active_agents) as f64,
        );
        put("master/frameworks_active", active_fws as f64);
        put(
            "master/frameworks_inactive",
            (st.frameworks.len() - active_fws) as f64,
        );
        put("master/frameworks_connected", active_fws as f64);
        put(
            "master/frameworks_disconnected",
            (st.frameworks.len() - active_fws) as f64,
        );
        put(
            "master/frameworks_http",
            st.frameworks
                .values()
                .filter(|f| f.active && f.is_http())
                .count() as f64,
        );
        put("master/tasks_staging", state_count("TASK_STAGING") as f64);
        put("master/tasks_starting", state_count("TASK_STARTING") as f64);
        put("master/tasks_running", state_count("TASK_RUNNING") as f64);
        for key in [
            "tasks_finished",
            "tasks_failed",
            "tasks_killed",
            "tasks_lost",
            "tasks_error",
            "dropped_messages",
            "valid_status_updates",
            "invalid_status_updates",
            "slave_registrations",
            "slave_reregistrations",
            "slave_removals",
            "slave_shutdowns_machine_down",
            "messages_launch_tasks",
            "messages_decline_offers",
            "messages_revive_offers",
            "messages_suppress_offers",
            "messages_kill_task",
            "messages_status_update_acknowledgement",
            "messages_reconcile_tasks",
            "messages_framework_to_executor",
            "messages_resource_request",
            "messages_unregister_framework",
            "framework_disconnections",
            "framework_failover_removals",
            "invalid_http_calls",
            "http_calls",
            "operator_calls",
            "invalid_operator_calls",
            "inverse_offers_sent",
            "inverse_offers_accepted",
            "inverse_offers_declined",
            "inverse_offers_rescinded",
            "maintenance_schedule_updates",
        ] {
            put(&format!("master/{key}"), st.counter(key) as f64);
        }
        for (k, v) in &st.counters {
            if k.starts_with("http_calls_") {
                put(&format!("master/{k}"), *v as f64);
            }
        }
        put("master/outstanding_offers", st.offers.len() as f64);
        put(
            "master/outstanding_inverse_offers",
            st.inverse_offers.len() as f64,
        );
        put(
            "master/machines_draining",
            st.maintenance.count(Mode::Draining) as f64,
        );
        put(
            "master/machines_down",
            st.maintenance.count(Mode::Down) as f64,
        );
        Value::Object(m)
    }

    // ---- messages -------------------------------------------------------

    fn handles(&self, name: &str) -> bool {
        matches!(
            name,
            "mesos.internal.RegisterSlaveMessage"
                | "mesos.internal.ReregisterSlaveMessage"
                | "mesos.internal.UnregisterSlaveMessage"
                | "mesos.internal.StatusUpdateMessage"
                | "mesos.internal.RegisterFrameworkMessage"
                | "mesos.internal.ReregisterFrameworkMessage"
                | "mesos.internal.UnregisterFrameworkMessage"
                | "mesos.internal.LaunchTasksMessage"
                | "mesos.internal.StatusUpdateAcknowledgementMessage"
        ) || (name == "mesos.scheduler.Call" && self.caps.master_handles_calls)
    }

    fn receive(&self, m: Message) {
        let from = m
            .from
            .clone()
            .map_or_else(|| "(unknown)".to_string(), |p| p.to_string());
        // An agent's address, resolved before taking the lock.
        let agent_ip = match (m.name.as_str(), &m.from) {
            (
                "mesos.internal.RegisterSlaveMessage" | "mesos.internal.ReregisterSlaveMessage",
                Some(p),
            ) => resolve(&p.host, p.port).map(|ip| ip.to_string()),
            _ => None,
        }
        .unwrap_or_default();
        let mut st = self.state.lock().unwrap();
        if !self.handles(&m.name) {
            say!(
                "Dropping unknown message '{}' from {from}: no handler installed",
                m.name
            );
            st.count("dropped_messages");
            return;
        }
        if !st.elected {
            say!("Dropping '{}' message since not elected yet", m.name);
            st.count("dropped_messages");
            return;
        }
        let Some(pid) = m.from.clone() else {
            say!(
                "Dropping '{}' message without a Libprocess-From sender",
                m.name
            );
            st.count("dropped_messages");
            return;
        };
        let b = &m.body;
        match m.name.as_str() {
            "mesos.internal.RegisterSlaveMessage" => {
                self.register_agent(&mut st, pid, &agent_ip, b)
            }
            "mesos.internal.ReregisterSlaveMessage" => {
                self.reregister_agent(&mut st, pid, &agent_ip, b)
            }
            "mesos.internal.UnregisterSlaveMessage" => {
                let id = b.s("slave_id");
                say!("Asked to unregister agent {id}");
                self.remove_agent(&mut st, &id, "agent unregistered");
            }
            "mesos.internal.StatusUpdateMessage" => self.status_update(&mut st, &pid, b),
            "mesos.internal.RegisterFrameworkMessage" => self.register_framework(&mut st, pid, b),
            "mesos.internal.ReregisterFrameworkMessage" => {
                self.reregister_framework(&mut st, pid, b)
            }
            "mesos.internal.UnregisterFrameworkMessage" => {
                let id = b.s("framework_id");
                if st.frameworks.get(&id).is_some_and(|f| f.conn.is(&pid)) {
                    st.count("messages_unregister_framework");
                    self.remove_framework(&mut st, &id, "Framework unregistered", true);
                }
            }
            "mesos.internal.LaunchTasksMessage" => {
                st.count("messages_launch_tasks");
                let fw = b.s("framework_id");
                if self.driver_sender_ok(&st, &fw, &pid) {
                    let offers = str_list(&b["offer_ids"]);
                    let tasks: Vec<Launch> = b["tasks"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .cloned()
                        .map(Launch::Task)
                        .collect();
                    self.launch(&mut st, &fw, &offers, tasks, None);
                }
            }
            "mesos.internal.StatusUpdateAcknowledgementMessage" => {
                st.count("messages_status_update_acknowledgement");
                self.forward_ack(&mut st, b)
            }
            "mesos.scheduler.Call" => {
                let fw = b.s("framework_id");
                match calls::parse_driver(b) {
                    Some(call) => {
                        if self.driver_sender_ok(&st, &fw, &pid) {
                            self.apply_call(&mut st, &fw, call);
                        }
                    }
                    None => say!(
                        "Ignoring unsupported call type '{}' from {pid}",
                        b.s("type")
                    ),
                }
            }
            _ => unreachable!("handles() and receive() disagree"),
        }
    }

    /// A driver call or launch must come from the framework's own pid.
    fn driver_sender_ok(&self, st: &State, fw_id: &str, pid: &Pid) -> bool {
        match st.frameworks.get(fw_id) {
            None => {
                say!("Ignoring call for unknown framework {fw_id} from {pid}");
                false
            }
            Some(f) if !f.conn.is(pid) => {
                say!(
                    "Ignoring call for framework {fw_id} from {pid}: it is connected at {}",
                    match &f.conn {
                        Conn::Pid(p) => p.to_string(),
                        Conn::Http(_) => "an HTTP event stream".to_string(),
                    }
                );
                false
            }
            Some(_) => true,
        }
    }

    /// An agent on a DOWN machine may not (re)register: it is told to shut
    /// down, as Mesos does (`Machine is \`DOWN\``).
    fn refuse_if_down(&self, st: &mut State, pid: &Pid, hostname: &str, ip: &str) -> bool {
        match st.maintenance.machine_of(hostname, ip) {
            Some((m, Mode::Down, _)) => {
                say!("Refusing registration of agent at {pid} because the machine '{m}' that it is running on is `DOWN`");
                st.count("slave_shutdowns_machine_down");
                self.send(
                    pid,
                    "mesos.internal.ShutdownMessage",
                    json!({"message": "Machine is `DOWN`"}),
                );
                true
            }
            _ => false,
        }
    }

    fn register_agent(&self, st: &mut State, pid: Pid, ip: &str, b: &Value) {
        let hostname = b.s("/slave/hostname");
        if self.refuse_if_down(st, &pid, &hostname, ip) {
            return;
        }
        if let Some(a) = st.agents.values().find(|a| a.pid == pid) {
            let id = a.id.clone();
            self.send(
                &pid,
                "mesos.internal.SlaveRegisteredMessage",
                json!({
                    "slave_id": id, "master_info": self.info.to_json(),
                }),
            );
            return;
        }
        st.next_agent += 1;
        let id = format!("{}-S{}", self.info.id, st.next_agent);
        let a = Agent {
            id: id.clone(),
            hostname,
            ip: ip.to_string(),
            version: b.s("version"),
            cpus: b.f("/slave/resources/cpus"),
            mem: b.f("/slave/resources/mem"),
            pid: pid.clone(),
            active: true,
            missed_pings: 0,
            registered_time: now_secs(),
            reregistered: false,
        };
        say!(
            "Registered agent {id} at {pid} ({}) with cpus(*):{}; mem(*):{}",
            a.hostname,
            a.cpus,
            a.mem
        );
        st.agents.insert(id.clone(), a);
        st.count("slave_registrations");
        self.send(
            &pid,
            "mesos.internal.SlaveRegisteredMessage",
            json!({
                "slave_id": id, "master_info": self.info.to_json(),
            }),
        );
    }

    fn reregister_agent(&self, st: &mut State, pid: Pid, ip: &str, b: &Value) {
        let id = b.s("slave_id");
        if id.is_empty() {
            say!("Ignoring re-registration from {pid} without an agent id");
            return;
        }
        let hostname = b.s("/slave/hostname");
        if self.refuse_if_down(st, &pid, &hostname, ip) {
            return;
        }
        // An older incarnation at the same address with another id is gone.
        let stale: Vec<String> = st
            .agents
            .values()
            .filter(|a| a.pid == pid && a.id != id)
            .map(|a| a.id.clone())
            .collect();
        for s in stale {
            self.remove_agent(st, &s, "agent re-registered with a different id");
        }
        let reported: Vec<Value> = b["tasks"].as_array().cloned().unwrap_or_default();
        let reported_ids: BTreeSet<(String, String)> = reported
            .iter()
            .map(|t| (t.s("framework_id"), t.s("task_id")))
            .collect();
        // Tasks we thought were there but the agent does not know: lost.
        let missing: Vec<(String, String)> = st
            .tasks
            .iter()
            .filter(|(k, t)| t.agent_id == id && !reported_ids.contains(*k))
            .map(|(k, _)| k.clone())
            .collect();
        for k in missing {
            if let Some(t) = st.tasks.remove(&k) {
                let u = lost_update(&t.framework_id, &id, &t.id, "Task is unknown to the agent");
                self.forward_update(st, &u, "");
                st.complete(t, "TASK_LOST");
            }
        }
        for t in &reported {
            let state = t.s("state");
            if is_terminal(&state) {
                continue;
            }
            let key = (t.s("framework_id"), t.s("task_id"));
            let task = Task {
                id: key.1.clone(),
                name: t.s("name"),
                framework_id: key.0.clone(),
                agent_id: id.clone(),
                state,
                cpus: t.f("/resources/cpus"),
                mem: t.f("/resources/mem"),
            };
            st.tasks.insert(key, task);
        }
        let existed = st.agents.contains_key(&id);
        let a = Agent {
            id: id.clone(),
            hostname,
            ip: ip.to_string(),
            version: b.s("version"),
            cpus: b.f("/slave/resources/cpus"),
            mem: b.f("/slave/resources/mem"),
            pid: pid.clone(),
            active: true,
            missed_pings: 0,
            registered_time: now_secs(),
            reregistered: true,
        };
        say!(
            "Re-registered agent {id} at {pid} ({}) with {} tasks{}",
            a.hostname,
            reported.len(),
            if existed {
                ""
            } else {
                " (unknown to this master until now)"
            }
        );
        st.agents.insert(id.clone(), a);
        st.count("slave_reregistrations");
        self.send(
            &pid,
            "mesos.internal.SlaveReregisteredMessage",
            json!({
                "slave_id": id, "master_info": self.info.to_json(),
            }),
        );
    }

    fn remove_agent(&self, st: &mut State, id: &str, why: &str) {
        let Some(a) = st.agents.remove(id) else {
            return;
        };
        say!("Removing agent {id} at {} ({}): {why}", a.pid, a.hostname);
        st.count("slave_removals");
        for o in st.offer_ids_where(|o| o.agent_id == id) {
            self.rescind(st, &o);
        }
        for o in st.inverse_ids_where(|o| o.agent_id == id) {
            self.rescind_inverse(st, &o);
        }
        st.inverse_statuses.retain(|(agent, _), _| agent != id);
        st.inverse_filters.retain(|(agent, _), _| agent != id);
        let keys: Vec<(String, String)> = st
            .tasks
            .iter()
            .filter(|(_, t)| t.agent_id == id)
            .map(|(k, _)| k.clone())
            .collect();
        for k in keys {
            if let Some(t) = st.tasks.remove(&k) {
                let u = lost_update(
                    &t.framework_id,
                    id,
                    &t.id,
                    &format!("Agent {id} removed: {why}"),
                );
                self.forward_update(st, &u, "");
                st.complete(t, "TASK_LOST");
            }
        }
        // As Mesos: every framework hears of the lost agent (FAILURE /
        // LostSlaveMessage; a driver without a handler drops it).
        for f in st.frameworks.values().filter(|f| f.active) {
            self.deliver(
                f,
                Event::Failure {
                    agent_id: id.to_string(),
                },
            );
        }
    }

    fn rescind(&self, st: &mut State, offer_id: &str) {
        if let Some(o) = st.offers.remove(offer_id) {
            self.deliver_to(st, &o.framework_id, Event::Rescind(o.id));
        }
    }

    fn rescind_inverse(&self, st: &mut State, id: &str) {
        if let Some(o) = st.inverse_offers.remove(id) {
            st.count("inverse_offers_rescinded");
            self.deliver_to(st, &o.framework_id, Event::RescindInverse(o.id));
        }
    }

    fn status_update(&self, st: &mut State, pid: &Pid, b: &Value) {
        let u = &b["update"];
        let (fw, agent, task, state, uuid) = (
            u.s("framework_id"),
            u.s("slave_id"),
            u.s("task_id"),
            u.s("state"),
            u.s("uuid"),
        );
        if !st.agents.get(&agent).is_some_and(|a| a.pid == *pid) {
            say!("Ignoring status update {state} (UUID: {uuid}) for task {task} of framework {fw} from unknown agent {pid}");
            st.count("invalid_status_updates");
            return;
        }
        say!("Status update {state} (UUID: {uuid}) for task {task} of framework {fw} from agent {pid}");
        st.count("valid_status_updates");
        let key = (fw.clone(), task.clone());
        let (cpus, mem) = (u.f("/resources/cpus"), u.f("/resources/mem"));
        let t = st.tasks.entry(key.clone()).or_insert_with(|| Task {
            id: task.clone(),
            name: task.clone(),
            framework_id: fw.clone(),
            agent_id: agent.clone(),
            state: state.clone(),
            cpus,
            mem,
        });
        t.state = state.clone();
        if is_terminal(&state) {
            if let Some(t) = st.tasks.remove(&key) {
                st.complete(t, &state);
            }
        }
        self.forward_update(st, u, &pid.to_string());
    }

    /// Sends an update to its framework; for removed frameworks the master
    /// acknowledges it to the agent itself.
    fn forward_update(&self, st: &mut State, u: &Value, agent_pid: &str) {
        let fw = u.s("framework_id");
        if let Some(f) = st.frameworks.get(&fw).filter(|f| f.active) {
            self.deliver(
                f,
                Event::Update {
                    update: u.clone(),
                    agent_pid: agent_pid.to_string(),
                },
            );
        } else if st.removed_frameworks.contains_key(&fw) && !u.s("uuid").is_empty() {
            if let Some(a) = st.agents.get(&u.s("slave_id")) {
                self.send(
                    &a.pid,
                    "mesos.internal.StatusUpdateAcknowledgementMessage",
                    json!({
                        "slave_id": u.s("slave_id"), "framework_id": fw,
                        "task_id": u.s("task_id"), "uuid": u.s("uuid"),
                    }),
                );
            }
        }
    }

    fn forward_ack(&self, st: &mut State, b: &Value) {
        let agent = b.s("slave_id");
        match st.agents.get(&agent) {
            Some(a) => self.send(
                &a.pid,
                "mesos.internal.StatusUpdateAcknowledgementMessage",
                json!({
                    "slave_id": agent, "framework_id": b.s("framework_id"),
                    "task_id": b.s("task_id"), "uuid": b.s("uuid"),
                }),
            ),
            None => say!(
                "Cannot forward status update acknowledgement for task {} to unknown agent {agent}",
                b.s("task_id")
            ),
        }
    }

    fn register_framework(&self, st: &mut State, pid: Pid, b: &Value) {
        if let Some(f) = st.frameworks.values().find(|f| f.conn.is(&pid) && f.active) {
            let id = f.id.clone();
            self.send(
                &pid,
                "mesos.internal.FrameworkRegisteredMessage",
                json!({
                    "framework_id": id, "master_info": self.info.to_json(),
                }),
            );
            return;
        }
        st.next_framework += 1;
        let id = format!("{}-{:04}", self.info.id, st.next_framework);
        let name = b.s("/framework/name");
        say!("Registered framework {id} ({name}) at {pid}");
        let info = json!({"user": b.s("/framework/user"), "name": name, "id": {"value": id}});
        st.frameworks.insert(
            id.clone(),
            Framework::new(&id, &name, Conn::Pid(pid.clone()), info),
        );
        self.send(
            &pid,
            "mesos.internal.FrameworkRegisteredMessage",
            json!({
                "framework_id": id, "master_info": self.info.to_json(),
            }),
        );
    }

    fn reregister_framework(&self, st: &mut State, pid: Pid, b: &Value) {
        let id = b.s("/framework/id");
        if id.is_empty() {
            say!("Ignoring re-registration from {pid} without a framework id");
            return;
        }
        if st.removed_frameworks.contains_key(&id) {
            say!("Refusing re-registration of removed framework {id} at {pid}");
            self.send(
                &pid,
                "mesos.internal.FrameworkErrorMessage",
                json!({
                    "message": "Framework has been removed",
                }),
            );
            return;
        }
        let name = b.s("/framework/name");
        for o in st.offer_ids_where(|o| o.framework_id == id) {
            st.offers.remove(&o);
        }
        st.inverse_offers.retain(|_, o| o.framework_id != id);
        let known = st.frameworks.contains_key(&id);
        say!(
            "Re-registered framework {id} ({name}) at {pid}{}",
            if known {
                ""
            } else {
                " (unknown to this master until now)"
            }
        );
        let info = json!({"user": b.s("/framework/user"), "name": name, "id": {"value": id}});
        let mut f = Framework::new(&id, &name, Conn::Pid(pid.clone()), info);
        if let Some(old) = st.frameworks.get(&id) {
            f.registered_time = old.registered_time;
            f.reregistered_time = Some(now_secs());
        }
        // Replacing an HTTP framework's entry drops its stream's sender:
        // the stream ends.
        st.frameworks.insert(id.clone(), f);
        self.send(
            &pid,
            "mesos.internal.FrameworkReregisteredMessage",
            json!({
                "framework_id": id, "master_info": self.info.to_json(),
            }),
        );
    }

    /// Subscribes an HTTP framework (SUBSCRIBE on `/api/v1/scheduler`):
    /// a new one, a known one failing over to this stream (its old stream
    /// gets ERROR `Framework failed over` and ends; a driver framework
    /// upgrades to HTTP the same way), or one this master does not know
    /// yet (after a master failover). Queues SUBSCRIBED and a first
    /// HEARTBEAT on the stream. A removed framework is refused.
    fn subscribe_http(
        &self,
        st: &mut State,
        framework_id: Option<String>,
        mut info: Value,
        conn: HttpConn,
    ) -> Result<String, String> {
        st.count("http_calls");
        st.count("http_calls_subscribe");
        let name = info.s("name");
        let given = framework_id.is_some();
        let id = match framework_id {
            Some(id) if st.removed_frameworks.contains_key(&id) => {
                say!("Refusing subscription of removed framework {id} ({name})");
                return Err("Framework has been removed".into());
            }
            Some(id) => id,
            None => {
                st.next_framework += 1;
                format!("{}-{:04}", self.info.id, st.next_framework)
            }
        };
        info["id"] = json!({ "value": id });
        let mut f = Framework::new(&id, &name, Conn::Http(conn), info);
        match st.frameworks.get(&id) {
            Some(old) => {
                if old.active {
                    self.deliver(old, Event::Error("Framework failed over".into()));
                }
                f.registered_time = old.registered_time;
                f.reregistered_time = Some(now_secs());
                f.suppressed = old.suppressed;
                say!(
                    "Re-subscribed framework {id} ({name}) over HTTP (it failed over from {})",
                    match &old.conn {
                        Conn::Pid(p) => p.to_string(),
                        Conn::Http(_) => "an older event stream".to_string(),
                    }
                );
                for o in st.offer_ids_where(|o| o.framework_id == id) {
                    st.offers.remove(&o);
                }
                st.inverse_offers.retain(|_, o| o.framework_id != id);
            }
            None if given => {
                say!("Re-subscribed framework {id} ({name}) over HTTP (unknown to this master until now)");
            }
            None => say!("Subscribed framework {id} ({name}) over HTTP"),
        }
        self.deliver(
            &f,
            Event::Subscribed {
                framework_id: id.clone(),
                heartbeat_secs: self.opts.heartbeat_interval.as_secs_f64(),
            },
        );
        self.deliver(&f, Event::Heartbeat);
        st.frameworks.insert(id.clone(), f);
        Ok(id)
    }

    /// Removes a framework: its tasks are killed on their agents, its
    /// offers go, and (when `notify`) it is told why (ERROR).
    fn remove_framework(&self, st: &mut State, id: &str, why: &str, notify: bool) {
        let Some(f) = st.frameworks.remove(id) else {
            return;
        };
        say!(
            "Removing framework {id} ({}) at {}: {why}",
            f.name,
            match &f.conn {
                Conn::Pid(p) => p.to_string(),
                Conn::Http(_) => "an HTTP event stream".to_string(),
            }
        );
        st.removed_frameworks.insert(id.to_string(), f.info.clone());
        for o in st.offer_ids_where(|o| o.framework_id == id) {
            st.offers.remove(&o);
        }
        st.inverse_offers.retain(|_, o| o.framework_id != id);
        st.inverse_statuses.retain(|(_, fw), _| fw != id);
        st.inverse_filters.retain(|(_, fw), _| fw != id);
        let keys: Vec<(String, String)> = st
            .tasks
            .keys()
            .filter(|(fw, _)| fw == id)
            .cloned()
            .collect();
        for k in keys {
            if let Some(t) = st.tasks.remove(&k) {
                st.complete(t, "TASK_KILLED");
            }
        }
        for a in st.agents.values() {
            self.send(
                &a.pid,
                "mesos.internal.ShutdownFrameworkMessage",
                json!({
                    "framework_id": id,
                }),
            );
        }
        if notify {
            self.deliver(&f, Event::Error(why.to_string()));
        }
        // Dropping `f` ends an HTTP framework's stream.
    }

    /// Applies a scheduler call of framework `fw_id` (checked by the
    /// caller: it exists and the call came through its connection).
    fn apply_call(&self, st: &mut State, fw_id: &str, call: Call) {
        let inside = self.caps.inverse_offers == InverseOfferEvent::InsideOffers;
        match call {
            Call::Subscribe { .. } => unreachable!("SUBSCRIBE is handled by scheduler_api"),
            Call::Teardown => {
                st.count("messages_unregister_framework");
                self.remove_framework(st, fw_id, "Framework torn down (TEARDOWN call)", false);
            }
            Call::Accept {
                offer_ids,
                tasks,
                refuse,
            } => {
                st.count("messages_launch_tasks");
                // Before 1.0, inverse offers are answered with ACCEPT.
                let offer_ids = if inside {
                    self.answer_inverse(st, fw_id, &offer_ids, "ACCEPT", refuse)
                } else {
                    offer_ids
                };
                if offer_ids.is_empty() && tasks.is_empty() {
                    return;
                }
                self.launch(st, fw_id, &offer_ids, tasks, refuse);
            }
            Call::Decline { offer_ids, refuse } => {
                st.count("messages_decline_offers");
                let offer_ids = if inside {
                    self.answer_inverse(st, fw_id, &offer_ids, "DECLINE", refuse)
                } else {
                    offer_ids
                };
                for o in offer_ids {
                    let Some(offer) = st.offers.get(&o).filter(|x| x.framework_id == fw_id) else {
                        continue;
                    };
                    let agent = offer.agent_id.clone();
                    st.offers.remove(&o);
                    if let (Some(secs), Some(f)) = (refuse, st.frameworks.get_mut(fw_id)) {
                        f.refused.insert(
                            agent,
                            Instant::now() + Duration::from_secs_f64(secs.clamp(0.0, 1e6)),
                        );
                    }
                }
            }
            Call::AcceptInverse { ids, refuse } => {
                for id in self.answer_inverse(st, fw_id, &ids, "ACCEPT", refuse) {
                    say!("Ignoring ACCEPT_INVERSE_OFFERS of unknown inverse offer {id} from framework {fw_id}");
                }
            }
            Call::DeclineInverse { ids, refuse } => {
                for id in self.answer_inverse(st, fw_id, &ids, "DECLINE", refuse) {
                    say!("Ignoring DECLINE_INVERSE_OFFERS of unknown inverse offer {id} from framework {fw_id}");
                }
            }
            Call::Revive => {
                st.count("messages_revive_offers");
                if let Some(f) = st.frameworks.get_mut(fw_id) {
                    f.refused.clear();
                    f.suppressed = false;
                }
            }
            Call::Suppress => {
                st.count("messages_suppress_offers");
                if let Some(f) = st.frameworks.get_mut(fw_id) {
                    f.suppressed = true;
                }
            }
            Call::Kill { task_id, agent_id } => {
                st.count("messages_kill_task");
                let key = (fw_id.to_string(), task_id.clone());
                let agent = st
                    .tasks
                    .get(&key)
                    .and_then(|t| st.agents.get(&t.agent_id))
                    .map(|a| a.pid.clone());
                match agent {
                    Some(pid) => {
                        say!("Telling agent {pid} to kill task {task_id} of framework {fw_id}");
                        self.send(
                            &pid,
                            "mesos.internal.KillTaskMessage",
                            json!({"framework_id": fw_id, "task_id": task_id}),
                        );
                    }
                    None => {
                        say!("Cannot kill task {task_id} of framework {fw_id} because it is unknown; performing reconciliation");
                        self.reconcile(st, fw_id, &[(task_id, agent_id)]);
                    }
                }
            }
            Call::Shutdown {
                executor_id,
                agent_id,
            } => match st.agents.get(&agent_id) {
                Some(a) => self.send(
                    &a.pid,
                    "mesos.internal.ShutdownExecutorMessage",
                    json!({"framework_id": fw_id, "executor_id": executor_id}),
                ),
                None => say!("Cannot shut down executor {executor_id} on unknown agent {agent_id}"),
            },
            Call::Acknowledge {
                agent_id,
                task_id,
                uuid,
            } => {
                st.count("messages_status_update_acknowledgement");
                let ack = json!({
                    "slave_id": agent_id, "framework_id": fw_id,
                    "task_id": task_id, "uuid": uuid,
                });
                self.forward_ack(st, &ack);
            }
            Call::Reconcile { tasks } => {
                st.count("messages_reconcile_tasks");
                self.reconcile(st, fw_id, &tasks);
            }
            Call::Message {
                agent_id,
                executor_id,
                data,
            } => {
                st.count("messages_framework_to_executor");
                match st.agents.get(&agent_id) {
                    Some(a) => self.send(
                        &a.pid,
                        "mesos.internal.FrameworkToExecutorMessage",
                        json!({"slave_id": agent_id, "framework_id": fw_id,
                               "executor_id": executor_id, "data": data}),
                    ),
                    None => say!("Dropping framework message for unknown agent {agent_id}"),
                }
            }
            Call::Request => {
                st.count("messages_resource_request");
                say!("Ignoring resource request of framework {fw_id} (the allocator does not support requests)");
            }
        }
    }

    /// Records a framework's answer (ACCEPT/DECLINE) to those of `ids` that
    /// are its inverse offers; the inverse offer for that agent is not sent
    /// again for `refuse` seconds (5 s by default). Returns the other ids.
    fn answer_inverse(
        &self,
        st: &mut State,
        fw_id: &str,
        ids: &[String],
        status: &'static str,
        refuse: Option<f64>,
    ) -> Vec<String> {
        let mut rest = Vec::new();
        for id in ids {
            let Some(o) = st
                .inverse_offers
                .get(id)
                .filter(|o| o.framework_id == fw_id)
                .cloned()
            else {
                rest.push(id.clone());
                continue;
            };
            st.inverse_offers.remove(id);
            say!(
                "Framework {fw_id} answered inverse offer {id} for agent {}: {status}",
                o.agent_id
            );
            st.count(if status == "ACCEPT" {
                "inverse_offers_accepted"
            } else {
                "inverse_offers_declined"
            });
            let key = (o.agent_id.clone(), fw_id.to_string());
            st.inverse_statuses.insert(
                key.clone(),
                InverseStatus {
                    status,
                    timestamp: now_secs(),
                },
            );
            let secs = refuse.unwrap_or(DEFAULT_REFUSE_SECS).clamp(0.0, 1e6);
            st.inverse_filters
                .insert(key, Instant::now() + Duration::from_secs_f64(secs));
        }
        rest
    }

    /// Sends the latest state of a framework's tasks (all of them when
    /// `tasks` is empty); tasks the master does not know are TASK_LOST.
    fn reconcile(&self, st: &mut State, fw_id: &str, tasks: &[(String, Option<String>)]) {
        let updates: Vec<Value> = if tasks.is_empty() {
            st.tasks
                .values()
                .filter(|t| t.framework_id == fw_id)
                .map(|t| {
                    master_update(
                        fw_id,
                        &t.agent_id,
                        &t.id,
                        &t.state,
                        "Reconciliation: Latest task state",
                    )
                })
                .collect()
        } else {
            tasks
                .iter()
                .map(
                    |(task, agent)| match st.tasks.get(&(fw_id.to_string(), task.clone())) {
                        Some(t) => master_update(
                            fw_id,
                            &t.agent_id,
                            task,
                            &t.state,
                            "Reconciliation: Latest task state",
                        ),
                        None => lost_update(
                            fw_id,
                            agent.as_deref().unwrap_or_default(),
                            task,
                            "Reconciliation: Task is unknown",
                        ),
                    },
                )
                .collect()
        };
        for u in updates {
            self.deliver_to(
                st,
                fw_id,
                Event::Update {
                    update: u,
                    agent_pid: String::new(),
                },
            );
        }
    }

    fn launch(
        &self,
        st: &mut State,
        fw_id: &str,
        offer_ids: &[String],
        tasks: Vec<Launch>,
        refuse: Option<f64>,
    ) {
        let Some(fw) = st.frameworks.get(fw_id).cloned() else {
            say!(
                "Ignoring launch of {} tasks for unknown framework {fw_id}",
                tasks.len()
            );
            return;
        };
        let mut invalid = None;
        let mut agent_id: Option<String> = None;
        if offer_ids.is_empty() {
            invalid = Some("no offers specified".to_string());
        }
        for o in offer_ids {
            match st.offers.get(o) {
                Some(x) if x.framework_id == fw_id => match &agent_id {
                    Some(a) if *a != x.agent_id => {
                        invalid = Some(format!("offers from different agents ({o})"))
                    }
                    _ => agent_id = Some(x.agent_id.clone()),
                },
                _ => invalid = Some(format!("offer {o} is no longer valid")),
            }
        }
        let (mut cpus, mut mem) = (0.0, 0.0);
        for o in offer_ids {
            if let Some(x) = st.offers.get(o).filter(|x| x.framework_id == fw_id) {
                cpus += x.cpus;
                mem += x.mem;
                st.offers.remove(o);
            }
        }
        if let (Some(secs), Some(a)) = (refuse, &agent_id) {
            if let Some(f) = st.frameworks.get_mut(fw_id) {
                f.refused.insert(
                    a.clone(),
                    Instant::now() + Duration::from_secs_f64(secs.clamp(0.0, 1e6)),
                );
            }
        }
        if tasks.is_empty() {
            return;
        }
        let agent = agent_id.and_then(|a| st.agents.get(&a).cloned());
        let aid = agent.as_ref().map(|a| a.id.clone()).unwrap_or_default();
        for t in tasks {
            let t = match t {
                Launch::Task(t) => t,
                Launch::Invalid { task_id, why } => {
                    say!("Refusing to launch task {task_id} of framework {fw_id}: {why}");
                    let u = master_update(
                        fw_id,
                        &aid,
                        &task_id,
                        "TASK_ERROR",
                        &format!("Task is invalid: {why}"),
                    );
                    self.deliver(
                        &fw,
                        Event::Update {
                            update: u,
                            agent_pid: String::new(),
                        },
                    );
                    st.count("tasks_error");
                    continue;
                }
            };
            let tid = t.s("task_id");
            let (tc, tm) = (t.f("/resources/cpus"), t.f("/resources/mem"));
            // Offer problems are TASK_LOST, a task's own problems
            // TASK_ERROR, as in Mesos.
            let problem = if let Some(why) = &invalid {
                Some((
                    "TASK_LOST",
                    format!("Task launched with invalid offers: {why}"),
                ))
            } else if agent.is_none() {
                Some((
                    "TASK_LOST",
                    "Task launched without offers or on an unknown agent".to_string(),
                ))
            } else if tc > cpus + 1e-9 || tm > mem + 1e-9 {
                Some((
                    "TASK_ERROR",
                    "Task uses more resources than available in the offers".to_string(),
                ))
            } else if st.tasks.contains_key(&(fw_id.to_string(), tid.clone())) {
                Some(("TASK_ERROR", "Task has duplicate ID".to_string()))
            } else {
                None
            };
            if let Some((state, why)) = problem {
                say!("Refusing to launch task {tid} of framework {fw_id}: {why}");
                let u = master_update(fw_id, &aid, &tid, state, &why);
                self.deliver(
                    &fw,
                    Event::Update {
                        update: u,
                        agent_pid: String::new(),
                    },
                );
                st.count(if state == "TASK_LOST" {
                    "tasks_lost"
                } else {
                    "tasks_error"
                });
                continue;
            }
            let a = agent.as_ref().expect("checked above");
            cpus -= tc;
            mem -= tm;
            say!(
                "Launching task {tid} of framework {fw_id} with resources cpus(*):{tc}; mem(*):{tm} on agent {} ({})",
                a.id,
                a.hostname
            );
            st.tasks.insert(
                (fw_id.to_string(), tid.clone()),
                Task {
                    id: tid.clone(),
                    name: t.s("name"),
                    framework_id: fw_id.to_string(),
                    agent_id: a.id.clone(),
                    state: "TASK_STAGING".into(),
                    cpus: tc,
                    mem: tm,
                },
            );
            let mut task = t.clone();
            task["slave_id"] = json!(a.id);
            self.send(
                &a.pid,
                "mesos.internal.RunTaskMessage",
                json!({
                    "framework": {"id": fw_id, "name": fw.name},
                    "framework_id": fw_id,
                    "pid": fw.pid_string(),
                    "task": task,
                }),
            );
        }
    }

    // ---- timers ---------------------------------------------------------

    fn timer_loop(&self) {
        loop {
            let started = Instant::now();
            let elected = self.state.lock().unwrap().elected;
            if elected {
                self.health_checks();
                self.allocate();
            }
            let spent = started.elapsed();
            std::thread::sleep(self.opts.allocation_interval.saturating_sub(spent));
        }
    }

    /// Pings agents and driver frameworks; deactivates after 3 misses and
    /// removes agents after `agent_ping_timeout`. HTTP frameworks are
    /// watched through their streams instead.
    fn health_checks(&self) {
        type Peers = Vec<(String, Pid, bool)>;
        let (agents, fws): (Peers, Peers) = {
            let st = self.state.lock().unwrap();
            (
                st.agents
                    .values()
                    .map(|a| (a.id.clone(), a.pid.clone(), a.active))
                    .collect(),
                st.frameworks
                    .values()
                    .filter_map(|f| f.conn.pid().map(|p| (f.id.clone(), p.clone(), f.active)))
                    .collect(),
            )
        };
        // `connected: false` tells a deactivated agent to re-register.
        let ping = |pid: &Pid, name: &str, connected: bool| {
            process::post(
                &self.me,
                pid,
                name,
                &json!({ "connected": connected }),
                Duration::from_secs(1),
            )
            .is_ok_and(|s| s < 500)
        };
        let (agent_ok, fw_ok): (Vec<bool>, Vec<bool>) = std::thread::scope(|s| {
            let a: Vec<_> = agents
                .iter()
                .map(|(_, p, c)| s.spawn(|| ping(p, "mesos.internal.PingSlaveMessage", *c)))
                .collect();
            let f: Vec<_> = fws
                .iter()
                .map(|(_, p, c)| s.spawn(|| ping(p, "mesos.internal.PingFrameworkMessage", *c)))
                .collect();
            (
                a.into_iter().map(|h| h.join().unwrap_or(false)).collect(),
                f.into_iter().map(|h| h.join().unwrap_or(false)).collect(),
            )
        });
        let max_missed = (self.opts.agent_ping_timeout.as_secs_f64()
            / self.opts.allocation_interval.as_secs_f64().max(0.1))
        .ceil()
        .max(3.0) as u32;
        let mut st = self.state.lock().unwrap();
        if !st.elected {
            return;
        }
        let mut remove = Vec::new();
        for ((id, pid, _), ok) in agents.iter().zip(agent_ok) {
            let Some(a) = st.agents.get_mut(id).filter(|a| a.pid == *pid) else {
                continue;
            };
            if ok {
                // A deactivated agent comes back by re-registering (the
                // ping told it it is not connected).
                a.missed_pings = 0;
                continue;
            }
            a.missed_pings += 1;
            if a.missed_pings == 3 && a.active {
                a.active = false;
                say!(
                    "Agent {id} at {pid} ({}) disconnected; deactivating it",
                    a.hostname
                );
                self.rescind_agent_offers(&mut st, id);
            } else if a.missed_pings >= max_missed {
                remove.push(id.clone());
            }
        }
        for id in remove {
            let why = format!("health check timed out (no answer to {max_missed} pings)");
            self.remove_agent(&mut st, &id, &why);
        }
        for ((id, pid, _), ok) in fws.iter().zip(fw_ok) {
            let Some(f) = st.frameworks.get_mut(id).filter(|f| f.conn.is(pid)) else {
                continue;
            };
            if ok {
                if !f.active {
                    say!("Framework {id} ({}) at {pid} reconnected", f.name);
                }
                f.missed_pings = 0;
                f.active = true;
                continue;
            }
            f.missed_pings += 1;
            if f.missed_pings == 3 && f.active {
                f.active = false;
                say!(
                    "Framework {id} ({}) at {pid} disconnected; deactivating it",
                    f.name
                );
                st.offers.retain(|_, o| o.framework_id != *id);
                st.inverse_offers.retain(|_, o| o.framework_id != *id);
            }
        }
    }

    fn allocate(&self) {
        let mut st = self.state.lock().unwrap();
        if !st.elected {
            return;
        }
        // Disconnected HTTP frameworks past their failover timeout go.
        let expired: Vec<String> = st
            .frameworks
            .values()
            .filter(|f| {
                f.disconnected_at
                    .is_some_and(|t| t.elapsed().as_secs_f64() >= f.failover_timeout)
                    && !f.active
            })
            .map(|f| f.id.clone())
            .collect();
        for id in expired {
            st.count("framework_failover_removals");
            self.remove_framework(&mut st, &id, "Framework failover timeout", false);
        }
        // Rescind offers nobody answered.
        let timeout = self.opts.offer_timeout;
        for o in st.offer_ids_where(|o| o.created.elapsed() >= timeout) {
            say!("Rescinding offer {o}: not answered within {timeout:?}");
            self.rescind(&mut st, &o);
        }
        for o in st.inverse_ids_where(|o| o.created.elapsed() >= timeout) {
            say!("Rescinding inverse offer {o}: not answered within {timeout:?}");
            self.rescind_inverse(&mut st, &o);
        }
        self.allocate_offers(&mut st);
        self.allocate_inverse_offers(&mut st);
    }

    /// Offers each active agent's free resources to one framework (round
    /// robin over active, unsuppressed frameworks not filtering the agent
    /// and without an offer of it already).
    fn allocate_offers(&self, st: &mut State) {
        let now = Instant::now();
        let fws: Vec<Framework> = st
            .frameworks
            .values()
            .filter(|f| f.active && !f.suppressed)
            .cloned()
            .collect();
        if fws.is_empty() {
            return;
        }
        let agents: Vec<Agent> = st.agents.values().filter(|a| a.active).cloned().collect();
        for a in agents {
            let (uc, um) = st.used(&a.id);
            let (oc, om) = st.offered(&a.id);
            let (cpus, mem) = (a.cpus - uc - oc, a.mem - um - om);
            if cpus < 0.01 || mem < 1.0 {
                continue;
            }
            let f = &fws[st.round_robin % fws.len()];
            st.round_robin += 1;
            if st
                .offers
                .values()
                .any(|o| o.framework_id == f.id && o.agent_id == a.id)
                || f.refused.get(&a.id).is_some_and(|until| *until > now)
            {
                continue;
            }
            st.next_offer += 1;
            let id = format!("{}-O{}", self.info.id, st.next_offer);
            st.offers.insert(
                id.clone(),
                Offer {
                    id: id.clone(),
                    framework_id: f.id.clone(),
                    agent_id: a.id.clone(),
                    cpus,
                    mem,
                    created: now,
                },
            );
            let unavailability = st.machine_of(&a).map(|(_, _, u)| u);
            self.deliver(
                f,
                Event::Offers(vec![OfferOut {
                    id,
                    framework_id: f.id.clone(),
                    agent: a.at(),
                    cpus,
                    mem,
                    unavailability,
                }]),
            );
        }
    }

    /// Maintenance: every active framework with tasks on an agent of a
    /// DRAINING machine gets an inverse offer for that agent, unless one is
    /// outstanding or its last answer is still filtering (kept simple: the
    /// allocator re-sends after `filters.refuse_seconds`, 5 s by default,
    /// whatever the answer; an unanswered one is rescinded after
    /// `--offer_timeout` and sent again).
    fn allocate_inverse_offers(&self, st: &mut State) {
        if !self.caps.maintenance {
            return;
        }
        let now = Instant::now();
        let draining: Vec<(Agent, maintenance::Unavailability)> = st
            .agents
            .values()
            .filter_map(|a| match st.machine_of(a) {
                Some((_, Mode::Draining, u)) => Some((a.clone(), u)),
                _ => None,
            })
            .collect();
        let mut out: BTreeMap<String, Vec<InverseOut>> = BTreeMap::new();
        for (a, u) in draining {
            let fws: BTreeSet<String> = st
                .tasks
                .values()
                .filter(|t| t.agent_id == a.id)
                .map(|t| t.framework_id.clone())
                .filter(|fw| st.frameworks.get(fw).is_some_and(|f| f.active))
                .collect();
            for fw in fws {
                let key = (a.id.clone(), fw.clone());
                let outstanding = st
                    .inverse_offers
                    .values()
                    .any(|o| o.agent_id == a.id && o.framework_id == fw);
                if outstanding || st.inverse_filters.get(&key).is_some_and(|t| *t > now) {
                    continue;
                }
                st.next_offer += 1;
                let id = format!("{}-O{}", self.info.id, st.next_offer);
                st.inverse_offers.insert(
                    id.clone(),
                    InverseOffer {
                        id: id.clone(),
                        framework_id: fw.clone(),
                        agent_id: a.id.clone(),
                        created: now,
                    },
                );
                st.inverse_statuses.entry(key).or_insert(InverseStatus {
                    status: "UNKNOWN",
                    timestamp: now_secs(),
                });
                st.count("inverse_offers_sent");
                say!(
                    "Sending inverse offer {id} for agent {} ({}) to framework {fw}",
                    a.id,
                    a.hostname
                );
                out.entry(fw.clone()).or_default().push(InverseOut {
                    id,
                    framework_id: fw,
                    agent: a.at(),
                    unavailability: u.clone(),
                });
            }
        }
        for (fw, list) in out {
            self.deliver_to(st, &fw, Event::InverseOffers(list));
        }
    }
}

fn str_list(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|x| x.as_str().map(str::to_string))
        .collect()
}

pub fn main(args: &[String]) -> i32 {
    crate::cli_main(args, USAGE, 5050, |a| Opts::parse(a).map(Master::run))
}
