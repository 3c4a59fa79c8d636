//! The agent (slave): detects the leading master through ZooKeeper,
//! registers (or re-registers with its checkpointed id), runs tasks
//! through its executor (a separate container that connects to it), and
//! forwards status updates reliably: each update is checkpointed, sent to
//! the master and retried with backoff until the framework acknowledges
//! it. After a restart it recovers from its work dir, reconnects the
//! executor and re-registers; the tasks keep running.
//!
//! Executors talk to it in one of two ways, in every release that has them:
//! driver executors with libprocess messages (`RegisterExecutorMessage`,
//! `StatusUpdateMessage`, ...), and from 0.28 v1 HTTP executors through
//! `POST /api/v1/executor` ([`crate::executor_api`]: SUBSCRIBE opens a
//! RecordIO event stream, UPDATE calls feed the same status update path).
//!
//! Maintenance (0.25+ masters): `mesos.internal.ShutdownMessage` from the
//! master (its machine went DOWN) makes the agent shut its executor's tasks
//! down, remove its checkpointed state (so that it comes back as a new
//! agent, as Mesos's `Slave::finalize` removes the `latest` symlink) and
//! exit 0, as Mesos's `Slave::shutdown` does.

use crate::election::{Election, MasterInfo};
use crate::executor_api::{self as api, Call};
use crate::flags::Flags;
use crate::http::{self, Request};
use crate::master::is_terminal;
use crate::process::{self, message_of, Get, Message, Outbox, Pid, Reply};
use crate::release::Caps;
use crate::zk::ZkUrl;
use crate::{now_secs, say};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::PathBuf;
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const USAGE: &str = "\
usage:
  tinymesos-agent --master zk://HOST:PORT/PATH [--hostname NAME] [--port 5051]
                  [--work_dir /var/lib/mesos] [--resources cpus:4;mem:1024]
                  [--executor_reregistration_timeout 10secs]
                  [--executor_registration_timeout 1mins]
                  [--ping_timeout 15secs] [--zk_session_timeout 10secs]
                  [--executor_shutdown_grace_period 5secs]
  (--zk is accepted as a synonym of --master)
  tinymesos-agent get PATH [--addr 127.0.0.1:5051]
  tinymesos-agent version";

pub struct Opts {
    pub zk: ZkUrl,
    pub hostname: String,
    pub port: u16,
    pub work_dir: PathBuf,
    pub cpus: f64,
    pub mem: f64,
    pub executor_reregistration_timeout: Duration,
    pub executor_registration_timeout: Duration,
    pub ping_timeout: Duration,
    pub zk_session_timeout: Duration,
    /// How long a shutdown (ShutdownMessage) waits for the executor to
    /// report its tasks killed.
    pub executor_shutdown_grace_period: Duration,
}

/// Parses `cpus:4;mem:1024` (other resources are ignored).
pub fn parse_resources(s: &str) -> Result<(f64, f64), String> {
    let (mut cpus, mut mem) = (4.0, 1024.0);
    for part in s.split(';').filter(|p| !p.trim().is_empty()) {
        let (k, v) = part
            .split_once(':')
            .ok_or_else(|| format!("bad resource {part:?} (expected name:value)"))?;
        let v: f64 = v
            .trim()
            .parse()
            .map_err(|_| format!("bad resource value in {part:?}"))?;
        match k.trim() {
            "cpus" => cpus = v,
            "mem" => mem = v,
            _ => {}
        }
    }
    Ok((cpus, mem))
}

impl Opts {
    pub fn parse(args: &[String]) -> Result<Opts, String> {
        let mut f = Flags::parse(args)?;
        let zk = f
            .opt("master")
            .or_else(|| f.opt("zk"))
            .ok_or("--master zk://HOST:PORT/PATH is required")?;
        let zk = ZkUrl::parse(&zk)?;
        let hostname = f
            .opt("hostname")
            .or_else(|| std::env::var("HOSTNAME").ok())
            .unwrap_or_else(|| "localhost".into());
        let port = f.num("port", 5051u16)?;
        let work_dir = PathBuf::from(f.string("work_dir", "/var/lib/mesos"));
        let (cpus, mem) = parse_resources(&f.string("resources", "cpus:4;mem:1024"))?;
        let _ = f.opt("ip");
        let _ = f.opt("containerizers");
        Ok(Opts {
            zk,
            hostname,
            port,
            work_dir,
            cpus,
            mem,
            executor_reregistration_timeout: f
                .duration("executor_reregistration_timeout", Duration::from_secs(10))?,
            executor_registration_timeout: f
                .duration("executor_registration_timeout", Duration::from_secs(60))?,
            ping_timeout: f.duration("ping_timeout", Duration::from_secs(15))?,
            zk_session_timeout: f.duration("zk_session_timeout", Duration::from_secs(10))?,
            executor_shutdown_grace_period: f
                .duration("executor_shutdown_grace_period", Duration::from_secs(5))?,
        })
        .and_then(|o| f.finish().map(|()| o))
    }
}

#[derive(Debug, Clone)]
struct AgentTask {
    task: Value,
    framework_id: String,
    framework_name: String,
    framework_pid: String,
    state: String,
    /// Not yet handed to the executor.
    queued: bool,
    received: Instant,
    /// The executor run (as it reported itself when registering) and the
    /// launch sequence number this task was handed to it with.
    sent: Option<(String, u64)>,
}

impl AgentTask {
    fn id(&self) -> String {
        self.task.s("task_id")
    }
    fn checkpoint(&self) -> Value {
        json!({
            "task": self.task, "framework_id": self.framework_id,
            "framework_name": self.framework_name, "framework_pid": self.framework_pid,
            "state": self.state, "queued": self.queued,
            "sent_to_run": self.sent.as_ref().map(|s| s.0.clone()),
            "launch_seq": self.sent.as_ref().map(|s| s.1),
        })
    }
}

#[derive(Debug, Clone)]
struct Stream {
    updates: VecDeque<Value>,
    next_send: Instant,
    backoff: Duration,
}

/// How the agent reaches its executor.
#[derive(Debug, Clone)]
enum Link {
    /// libprocess messages to its pid.
    Driver,
    /// Events on its SUBSCRIBE stream (`None`: no stream open), numbered so
    /// that a stream that ends can tell whether it was still the current one.
    V1 {
        events: Option<Sender<Vec<u8>>>,
        stream: u64,
    },
}

#[derive(Debug, Clone)]
struct Executor {
    id: String,
    /// The run id the executor process reported (empty: it reports none).
    run: String,
    /// Where its `/health` is (and, for a driver executor, its messages go).
    pid: Option<Pid>,
    connected: bool,
    missed: u32,
    link: Link,
}

impl Executor {
    fn api(&self) -> &'static str {
        match self.link {
            Link::Driver => "driver",
            Link::V1 { .. } => "v1",
        }
    }
}

/// What the agent tells its executor.
enum ToExecutor<'a> {
    Launch(&'a AgentTask, u64),
    Kill(&'a Key),
    Ack(&'a Key, &'a str),
    Shutdown,
}

type Key = (String, String);

struct State {
    id: Option<String>,
    master: Option<MasterInfo>,
    detect_error: Option<String>,
    registered: bool,
    last_ping: Instant,
    reg_next: Instant,
    reg_backoff: Duration,
    reg_attempts: u32,
    executor: Option<Executor>,
    tasks: BTreeMap<Key, AgentTask>,
    streams: BTreeMap<Key, Stream>,
    acked: VecDeque<String>,
    /// Sequence number of the last RunTaskMessage handed to the executor.
    launch_seq: u64,
    recovering: bool,
    recovery_deadline: Instant,
    /// Shutting down (ShutdownMessage): until when to wait for the
    /// executor to report its tasks killed.
    terminating: Option<Instant>,
    /// The checkpoint is gone: write no other.
    terminated: bool,
    /// Number of the last v1 event stream opened.
    streams_opened: u64,
    counters: BTreeMap<&'static str, u64>,
}

const RETRY_MIN: Duration = Duration::from_secs(2);
const RETRY_MAX: Duration = Duration::from_secs(20);

impl State {
    fn count(&mut self, k: &'static str) {
        *self.counters.entry(k).or_default() += 1;
    }
    fn counter(&self, k: &str) -> u64 {
        self.counters.get(k).copied().unwrap_or(0)
    }
    fn known_uuid(&self, uuid: &str) -> bool {
        self.acked.iter().any(|u| u == uuid)
            || self
                .streams
                .values()
                .any(|s| s.updates.iter().any(|u| u.s("uuid") == uuid))
    }
    fn flush_streams(&mut self) {
        let now = Instant::now();
        for s in self.streams.values_mut() {
            s.next_send = now;
            s.backoff = RETRY_MIN;
        }
    }
}

pub struct Agent {
    caps: Caps,
    opts: Opts,
    me: Pid,
    outbox: Arc<Outbox>,
    state: Mutex<State>,
    start_time: f64,
}

impl Agent {
    fn checkpoint_path(&self) -> PathBuf {
        self.opts.work_dir.join("meta").join("agent.json")
    }

    fn checkpoint(&self, st: &State) {
        if st.terminated {
            return;
        }
        let v = json!({
            "slave_id": st.id,
            "executor": st.executor.as_ref().map(|e| json!({
                "id": e.id, "run": e.run, "pid": e.pid.as_ref().map(Pid::to_string), "api": e.api(),
            })),
            "launch_seq": st.launch_seq,
            "tasks": st.tasks.values().map(AgentTask::checkpoint).collect::<Vec<_>>(),
            "streams": st.streams.iter().map(|((fw, t), s)| json!({
                "framework_id": fw, "task_id": t, "updates": s.updates,
            })).collect::<Vec<_>>(),
            "acked": st.acked,
            "completed_tasks": st.counter("tasks_completed"),
        });
        let path = self.checkpoint_path();
        let tmp = path.with_extension("json.tmp");
        let write = || -> std::io::Result<()> {
            use std::io::Write as _;
            std::fs::create_dir_all(path.parent().expect("has a parent"))?;
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(v.to_string().as_bytes())?;
            f.sync_all()?;
            std::fs::rename(&tmp, &path)
        };
        if let Err(e) = write() {
            say!("Failed to checkpoint to {}: {e}", path.display());
        }
    }

    fn recover(&self, st: &mut State) {
        let path = self.checkpoint_path();
        let raw = match std::fs::read(&path) {
            Ok(r) => r,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                say!(
                    "No checkpointed state in {}; starting fresh",
                    path.display()
                );
                return;
            }
            Err(e) => {
                say!("Cannot read {}: {e}; starting fresh", path.display());
                st.count("recovery_errors");
                return;
            }
        };
        let v: Value = match serde_json::from_slice(&raw) {
            Ok(v) => v,
            Err(e) => {
                say!("Corrupt checkpoint {}: {e}; starting fresh", path.display());
                st.count("recovery_errors");
                return;
            }
        };
        st.id = v["slave_id"].as_str().map(str::to_string);
        st.launch_seq = v["launch_seq"].as_u64().unwrap_or(0);
        for t in v["tasks"].as_array().into_iter().flatten() {
            let at = AgentTask {
                task: t["task"].clone(),
                framework_id: t.s("framework_id"),
                framework_name: t.s("framework_name"),
                framework_pid: t.s("framework_pid"),
                state: t.s("state"),
                queued: t["queued"].as_bool().unwrap_or(false),
                received: Instant::now(),
                sent: t["sent_to_run"]
                    .as_str()
                    .zip(t["launch_seq"].as_u64())
                    .map(|(r, n)| (r.to_string(), n)),
            };
            st.tasks.insert((at.framework_id.clone(), at.id()), at);
        }
        for s in v["streams"].as_array().into_iter().flatten() {
            let updates: VecDeque<Value> =
                s["updates"].as_array().cloned().unwrap_or_default().into();
            if !updates.is_empty() {
                st.streams.insert(
                    (s.s("framework_id"), s.s("task_id")),
                    Stream {
                        updates,
                        next_send: Instant::now(),
                        backoff: RETRY_MIN,
                    },
                );
            }
        }
        st.acked = v["acked"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|u| u.as_str().map(str::to_string))
            .collect();
        *st.counters.entry("tasks_completed").or_default() =
            v["completed_tasks"].as_u64().unwrap_or(0);
        let e = &v["executor"];
        let exec = e.is_object().then(|| Executor {
            id: e.s("id"),
            run: e.s("run"),
            pid: e["pid"].as_str().and_then(Pid::parse),
            connected: false,
            missed: 0,
            // Checkpoints written before v1 executors existed have no "api".
            link: if e.s("api") == "v1" {
                Link::V1 {
                    events: None,
                    stream: 0,
                }
            } else {
                Link::Driver
            },
        });
        say!(
            "Recovering agent {} from {}: {} tasks, {} pending status update streams, executor {}",
            st.id.as_deref().unwrap_or("(unregistered)"),
            path.display(),
            st.tasks.len(),
            st.streams.len(),
            exec.as_ref().map_or_else(
                || "none".to_string(),
                |e| format!(
                    "'{}' ({}) at {}",
                    e.id,
                    e.api(),
                    e.pid.as_ref().map_or("?".into(), Pid::to_string)
                )
            )
        );
        st.recovering = true;
        st.recovery_deadline = Instant::now() + self.opts.executor_reregistration_timeout;
        if let Some(e) = exec {
            match (&e.link, &e.pid) {
                (Link::Driver, Some(pid)) => {
                    say!("Sending reconnect request to executor at {pid}");
                    self.outbox.send(
                        pid,
                        "mesos.internal.ReconnectExecutorMessage",
                        json!({
                            "slave_id": st.id,
                        }),
                    );
                }
                // A v1 executor notices its event stream broke and
                // subscribes again.
                _ => say!(
                    "Waiting for executor '{}' to subscribe again (v1 HTTP API)",
                    e.id
                ),
            }
            st.executor = Some(e);
        }
    }

    pub fn run(opts: Opts) -> i32 {
        let caps = Caps::built();
        let me = Pid::new("slave(1)", &opts.hostname, opts.port);
        say!(
            "tinymesos agent {} starting: hostname {}, master zk://{}{}, work_dir {}",
            caps.version(),
            opts.hostname,
            opts.zk.hosts.join(","),
            opts.zk.path,
            opts.work_dir.display()
        );
        let now = Instant::now();
        let a = Arc::new(Agent {
            outbox: Outbox::new(me.clone()),
            caps: caps.clone(),
            me,
            state: Mutex::new(State {
                id: None,
                master: None,
                detect_error: None,
                registered: false,
                last_ping: now,
                reg_next: now,
                reg_backoff: Duration::from_secs(1),
                reg_attempts: 0,
                executor: None,
                tasks: BTreeMap::new(),
                streams: BTreeMap::new(),
                acked: VecDeque::new(),
                launch_seq: 0,
                recovering: false,
                recovery_deadline: now,
                terminating: None,
                terminated: false,
                streams_opened: 0,
                counters: BTreeMap::new(),
            }),
            start_time: now_secs(),
            opts,
        });
        {
            let mut st = a.state.lock().unwrap();
            a.recover(&mut st);
        }
        let h = Arc::clone(&a);
        if let Err(e) = process::serve(a.opts.port, Arc::new(move |req| h.http(req))) {
            say!("Failed to bind port {}: {e}", a.opts.port);
            return 1;
        }
        say!("agent listening on {} as {}", a.opts.port, a.me);
        let election = Election::start(a.opts.zk.clone(), caps, None, a.opts.zk_session_timeout);
        let e2 = Arc::clone(&election);
        crate::install_shutdown(move || e2.close(Duration::from_secs(1)));
        let x = Arc::clone(&a);
        std::thread::Builder::new()
            .name("executor-health".into())
            .spawn(move || x.executor_health())
            .expect("spawn");
        a.main_loop(&election)
    }

    fn send(&self, to: &Pid, name: &str, body: Value) {
        self.outbox.send(to, name, body);
    }

    fn master_pid(st: &State) -> Option<Pid> {
        st.master.as_ref().and_then(|m| Pid::parse(&m.pid))
    }

    fn main_loop(&self, election: &Election) -> i32 {
        loop {
            std::thread::sleep(Duration::from_millis(200));
            let view = election.view();
            let mut st = self.state.lock().unwrap();
            if let Some(deadline) = st.terminating {
                let left = live_tasks(&st);
                if left.is_empty() || Instant::now() >= deadline {
                    if !left.is_empty() {
                        say!(
                            "{} tasks were not reported terminated within {:?} (--executor_shutdown_grace_period): {}",
                            left.len(),
                            self.opts.executor_shutdown_grace_period,
                            left.join(", ")
                        );
                    }
                    self.finalize(&mut st);
                    drop(st);
                    election.close(Duration::from_secs(1));
                    say!("Agent terminated");
                    return 0;
                }
                continue;
            }
            if let Some(err) = &view.error {
                say!("Failed to detect a master: {err}");
                st.detect_error = Some(err.clone());
                return 1;
            }
            // A new pid, or the same master in a new incarnation (new id).
            let ident = |m: &MasterInfo| (m.pid.clone(), m.id.clone());
            if view.leader.as_ref().map(ident) != st.master.as_ref().map(ident) {
                match &view.leader {
                    Some(l) => say!("New master detected at {} ({})", l.pid, l.hostname),
                    None => say!("Lost leading master; waiting for a new one to be elected"),
                }
                st.master = view.leader.clone();
                st.registered = false;
                st.reg_next = Instant::now();
                st.reg_backoff = Duration::from_secs(1);
                st.reg_attempts = 0;
            }
            if st.recovering {
                let exec_back = st.executor.as_ref().is_some_and(|e| e.connected);
                if exec_back || Instant::now() >= st.recovery_deadline {
                    self.finish_recovery(&mut st);
                }
                continue;
            }
            self.tick(&mut st);
        }
    }

    /// The end of a shutdown: removes the checkpointed state, so that the
    /// agent registers as a new agent when it comes back (Mesos removes the
    /// `latest` symlink of its meta directory in `Slave::finalize`).
    fn finalize(&self, st: &mut State) {
        say!("Agent terminating");
        st.terminated = true;
        let path = self.checkpoint_path();
        match std::fs::remove_file(&path) {
            Ok(()) => say!(
                "Removed the checkpointed state {} so that this agent registers as a new agent when it restarts",
                path.display()
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => say!("Failed to remove {}: {e}", path.display()),
        }
    }

    /// `ShutdownMessage` from the master: shut the executor's tasks down
    /// and terminate (`Slave::shutdown`).
    fn shutdown(&self, st: &mut State, from: &str, message: &str) {
        if st.terminating.is_some() {
            return;
        }
        if message.is_empty() {
            say!("Agent asked to shut down by {from}");
        } else {
            say!("Agent asked to shut down by {from} because '{message}'");
        }
        st.terminating = Some(Instant::now() + self.opts.executor_shutdown_grace_period);
        st.registered = false;
        // Tasks not yet handed over are killed here; the executor kills the
        // others and reports them TASK_KILLED.
        let queued: Vec<Key> = st
            .tasks
            .iter()
            .filter(|(_, t)| t.queued && !is_terminal(&t.state))
            .map(|(k, _)| k.clone())
            .collect();
        for k in &queued {
            self.kill(st, k);
        }
        let n = live_tasks(st).len();
        match st.executor.clone().filter(|e| e.connected) {
            Some(e) => {
                say!(
                    "Shutting down executor '{}' ({}) with {n} tasks",
                    e.id,
                    e.api()
                );
                self.to_executor(st, &ToExecutor::Shutdown);
            }
            None if n > 0 => say!("No executor connected to shut down; {n} tasks left behind"),
            None => {}
        }
    }

    fn finish_recovery(&self, st: &mut State) {
        st.recovering = false;
        if !st.executor.as_ref().is_some_and(|e| e.connected) {
            let lost: Vec<Key> = st
                .tasks
                .iter()
                .filter(|(_, t)| !t.queued && !is_terminal(&t.state))
                .map(|(k, _)| k.clone())
                .collect();
            if !lost.is_empty() {
                say!(
                    "Executor did not re-register within {:?}; {} tasks are lost",
                    self.opts.executor_reregistration_timeout,
                    lost.len()
                );
            }
            for k in lost {
                let msg = format!(
                    "Executor did not re-register within {:?}",
                    self.opts.executor_reregistration_timeout
                );
                self.new_update(st, &k, "TASK_LOST", &msg);
            }
        }
        say!("Finished recovery");
        self.checkpoint(st);
    }

    fn tick(&self, st: &mut State) {
        let now = Instant::now();
        let Some(master) = Self::master_pid(st) else {
            return;
        };
        if st.registered && st.last_ping.elapsed() > self.opts.ping_timeout {
            say!(
                "No pings from master received within {:?}; re-registering",
                self.opts.ping_timeout
            );
            st.registered = false;
            st.reg_next = now;
        }
        if !st.registered && now >= st.reg_next {
            self.send_registration(st, &master);
            st.reg_next = now + st.reg_backoff;
            st.reg_backoff = (st.reg_backoff * 2).min(Duration::from_secs(8));
        }
        if st.registered {
            let mut sends = Vec::new();
            for s in st.streams.values_mut() {
                if let Some(u) = s.updates.front() {
                    if now >= s.next_send {
                        sends.push(u.clone());
                        s.next_send = now + s.backoff;
                        s.backoff = (s.backoff * 2).min(RETRY_MAX);
                    }
                }
            }
            for u in sends {
                self.send(
                    &master,
                    "mesos.internal.StatusUpdateMessage",
                    json!({
                        "update": u, "pid": self.me.to_string(),
                    }),
                );
            }
        }
        // Queued tasks: hand them to the executor, or give up on them.
        let connected = st.executor.as_ref().is_some_and(|e| e.connected);
        let queued: Vec<Key> = st
            .tasks
            .iter()
            .filter(|(_, t)| t.queued)
            .map(|(k, _)| k.clone())
            .collect();
        let mut changed = false;
        for k in queued {
            match connected {
                true => {
                    self.hand_to_executor(st, &k);
                    changed = true;
                }
                false => {
                    let t = &st.tasks[&k];
                    if t.received.elapsed() > self.opts.executor_registration_timeout {
                        let msg = format!(
                            "Executor did not register within {:?}",
                            self.opts.executor_registration_timeout
                        );
                        st.tasks.get_mut(&k).expect("listed").queued = false;
                        self.new_update(st, &k, "TASK_LOST", &msg);
                        changed = true;
                    }
                }
            }
        }
        if changed {
            self.checkpoint(st);
        }
    }

    fn slave_info(&self) -> Value {
        json!({
            "hostname": self.opts.hostname, "port": self.opts.port,
            "resources": self.scalars(&json!({"cpus": self.opts.cpus, "mem": self.opts.mem})),
        })
    }

    fn send_registration(&self, st: &mut State, master: &Pid) {
        st.reg_attempts += 1;
        match &st.id {
            None => {
                if st.reg_attempts == 1 {
                    say!("Registering with master {master}");
                }
                self.send(
                    master,
                    "mesos.internal.RegisterSlaveMessage",
                    json!({
                        "slave": self.slave_info(), "version": self.caps.version(),
                    }),
                );
            }
            Some(id) => {
                if st.reg_attempts == 1 {
                    say!("Re-registering with master {master} as agent {id}");
                }
                let tasks: Vec<Value> = st
                    .tasks
                    .values()
                    .map(|t| {
                        json!({
                            "task_id": t.id(), "framework_id": t.framework_id,
                            "name": t.task.s("name"), "state": t.state,
                            "resources": t.task["resources"],
                        })
                    })
                    .collect();
                self.send(master, "mesos.internal.ReregisterSlaveMessage", json!({
                    "slave_id": id, "slave": self.slave_info(), "tasks": tasks,
                    "executor_infos": st.executor.as_ref().map(|e| vec![json!({"executor_id": e.id})]),
                    "version": self.caps.version(),
                }));
            }
        }
    }

    /// Creates a status update (agent-generated, e.g. TASK_LOST) for a task
    /// and queues it in its stream.
    fn new_update(&self, st: &mut State, k: &Key, state: &str, message: &str) {
        let update = json!({
            "framework_id": k.0, "slave_id": st.id, "task_id": k.1,
            "state": state, "message": message, "uuid": crate::uuid(),
            "timestamp": now_secs(),
            "resources": st.tasks.get(k).map(|t| t.task["resources"].clone()),
        });
        self.enqueue(st, k, update);
    }

    fn enqueue(&self, st: &mut State, k: &Key, update: Value) {
        let state = update.s("state");
        say!(
            "Handling status update {state} (UUID: {}) for task {} of framework {}",
            update.s("uuid"),
            k.1,
            k.0
        );
        if let Some(t) = st.tasks.get_mut(k) {
            t.state = state.clone();
        }
        let s = st.streams.entry(k.clone()).or_insert_with(|| Stream {
            updates: VecDeque::new(),
            next_send: Instant::now(),
            backoff: RETRY_MIN,
        });
        s.updates.push_back(update);
        st.count(match state.as_str() {
            "TASK_RUNNING" => "tasks_started",
            "TASK_FINISHED" => "tasks_finished",
            "TASK_FAILED" => "tasks_failed",
            "TASK_KILLED" => "tasks_killed",
            "TASK_LOST" => "tasks_lost",
            _ => "status_updates_other",
        });
    }

    // ---- HTTP -----------------------------------------------------------

    fn http(self: &Arc<Self>, req: &Request) -> Reply {
        if let Some(m) = message_of(req, "slave(1)") {
            match m {
                Ok(m) => self.receive(m),
                Err(e) => say!("{e}"),
            }
            return Reply::accepted();
        }
        if matches!(req.path.as_str(), api::PATH | api::PROCESS_PATH)
            && self.caps.agent_serves(api::PATH)
        {
            return self.executor_api(req);
        }
        if !self.caps.agent_serves(&req.path) {
            return Reply::not_found(&req.path, self.caps.release);
        }
        match req.path.as_str() {
            "/health" | "/slave(1)/health" => Reply::text(200, ""),
            "/version" => Reply::json(&self.version_json()),
            "/slave(1)/state.json" | "/slave(1)/state" => Reply::json(&self.state_json()),
            "/slave(1)/stats.json" | "/metrics/snapshot" => Reply::json(&self.metrics()),
            _ => Reply::not_found(&req.path, self.caps.release),
        }
    }

    /// `/version`, shaped like Mesos's (`version`, `build_date`,
    /// `build_time`, `build_user`, `git_tag`); the build time is the
    /// binary's modification time.
    fn version_json(&self) -> Value {
        let built = std::env::current_exe()
            .and_then(std::fs::metadata)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_secs());
        json!({
            "version": self.caps.version(),
            "release": self.caps.release,
            "git_tag": self.caps.version(),
            "build_user": "tinymesos",
            "build_time": built,
            "build_date": utc_date(built),
        })
    }

    fn state_json(&self) -> Value {
        let st = self.state.lock().unwrap();
        let tasks: Vec<Value> = st
            .tasks
            .values()
            .map(|t| {
                json!({
                    "id": t.id(), "name": t.task.s("name"), "framework_id": t.framework_id,
                    "state": t.state, "queued": t.queued,
                    "resources": self.scalars(&t.task["resources"]),
                })
            })
            .collect();
        let pending: usize = st.streams.values().map(|s| s.updates.len()).sum();
        json!({
            "version": self.caps.version(),
            "release": self.caps.release,
            "id": st.id,
            "pid": self.me.to_string(),
            "hostname": self.opts.hostname,
            "start_time": self.start_time,
            "master_hostname": st.master.as_ref().map(|m| m.hostname.clone()),
            "master": st.master.as_ref().map(|m| m.pid.clone()),
            "registered": st.registered,
            "recovering": st.recovering,
            "terminating": st.terminating.is_some(),
            "detector_error": st.detect_error,
            "resources": self.scalars(&json!({"cpus": self.opts.cpus, "mem": self.opts.mem})),
            "executor": st.executor.as_ref().map(|e| json!({
                "id": e.id, "pid": e.pid.as_ref().map(Pid::to_string), "connected": e.connected,
                "api": e.api(), "run": e.run,
            })),
            "tasks": tasks,
            "pending_status_updates": pending,
            "completed_tasks": st.counter("tasks_completed"),
            "flags": {
                "work_dir": self.opts.work_dir.display().to_string(),
                "executor_reregistration_timeout": format!("{:?}", self.opts.executor_reregistration_timeout),
                "executor_shutdown_grace_period": format!("{:?}", self.opts.executor_shutdown_grace_period),
            },
        })
    }

    /// `{"cpus", "mem"}` rounded as this release stores scalars.
    fn scalars(&self, r: &Value) -> Value {
        match r.as_object() {
            Some(o) => Value::Object(
                o.iter()
                    .map(|(k, v)| {
                        let v = v.as_f64().map_or(v.clone(), |f| json!(self.caps.scalar(f)));
                        (k.clone(), v)
                    })
                    .collect(),
            ),
            None => r.clone(),
        }
    }

    fn metrics(&self) -> Value {
        let st = self.state.lock().unwrap();
        let n = |s: &str| st.tasks.values().filter(|t| t.state == s).count() as f64;
        let pending: usize = st.streams.values().map(|s| s.updates.len()).sum();
        let exec = st.executor.as_ref().is_some_and(|e| e.connected);
        json!({
            "slave/registered": if st.registered { 1.0 } else { 0.0 },
            "slave/uptime_secs": now_secs() - self.start_time,
            "slave/recovering": if st.recovering { 1.0 } else { 0.0 },
            "slave/executors_running": if exec { 1.0 } else { 0.0 },
            "slave/tasks_staging": n("TASK_STAGING"),
            "slave/tasks_running": n("TASK_RUNNING"),
            "slave/tasks_finished": st.counter("tasks_finished") as f64,
            "slave/tasks_failed": st.counter("tasks_failed") as f64,
            "slave/tasks_killed": st.counter("tasks_killed") as f64,
            "slave/tasks_lost": st.counter("tasks_lost") as f64,
            "slave/status_updates_pending": pending as f64,
            "slave/valid_status_updates": st.counter("valid_status_updates") as f64,
            "slave/invalid_status_updates": st.counter("invalid_status_updates") as f64,
            "slave/recovery_errors": st.counter("recovery_errors") as f64,
            "slave/dropped_messages": st.counter("dropped_messages") as f64,
            "slave/executor_subscriptions": st.counter("executor_subscriptions") as f64,
        })
    }

    // ---- the v1 executor API --------------------------------------------

    /// `POST /api/v1/executor` (`Slave::Http::executor`).
    fn executor_api(self: &Arc<Self>, req: &Request) -> Reply {
        let call = match api::parse_request(
            &self.caps,
            &req.method,
            req.header("content-type"),
            req.header("accept"),
            &req.body,
        ) {
            Ok(c) => c,
            Err((status, msg)) => {
                say!(
                    "Refusing executor call from {}: {status} {msg}",
                    req.header("libprocess-from").unwrap_or("(unknown)")
                );
                let reply = Reply::text(status, &msg);
                return if status == 405 {
                    reply.with_header("Allow", "POST")
                } else {
                    reply
                };
            }
        };
        let mut st = self.state.lock().unwrap();
        if let Call::Subscribe {
            executor_id,
            tasks,
            updates,
            ..
        } = call
        {
            let run = req
                .header(&api::RUN_HEADER.to_ascii_lowercase())
                .unwrap_or("");
            let pid = req.header("libprocess-from").and_then(Pid::parse);
            return self.subscribe(&mut st, &executor_id, run, pid, &tasks, updates);
        }
        // (Mesos answers 503 here while it reads its checkpoints; this
        // agent has read them before it serves HTTP. Its `recovering` is
        // the wait for the executor, which is over for a subscribed one.)
        let Some(e) = st
            .executor
            .clone()
            .filter(|e| e.id == call.executor_id() && matches!(e.link, Link::V1 { .. }))
        else {
            return Reply::text(400, "Executor cannot be found");
        };
        if !e.connected {
            return Reply::text(403, "Executor is not subscribed");
        }
        match call {
            Call::Update { update, .. } => {
                self.executor_update(&mut st, update);
                Reply::accepted()
            }
            Call::Message {
                framework_id, data, ..
            } => {
                say!(
                    "Executor '{}' sent a message of {} bytes for framework {framework_id}; dropping it (tinymesos schedulers take no executor messages)",
                    e.id,
                    data.len()
                );
                Reply::accepted()
            }
            Call::Subscribe { .. } => unreachable!("handled above"),
        }
    }

    /// SUBSCRIBE: the executor (re)connects; its event stream replaces any
    /// earlier one. Tasks it must know but does not report are lost.
    fn subscribe(
        self: &Arc<Self>,
        st: &mut State,
        executor_id: &str,
        run: &str,
        pid: Option<Pid>,
        tasks: &[Value],
        updates: Vec<Value>,
    ) -> Reply {
        let (tx, rx) = mpsc::channel::<Vec<u8>>();
        st.streams_opened += 1;
        let stream = st.streams_opened;
        st.count("executor_subscriptions");
        let from = pid
            .as_ref()
            .map_or_else(|| "(no pid)".to_string(), Pid::to_string);
        if st.terminating.is_some() {
            // As Mesos does for an executor that subscribes while its
            // framework (here: the agent) is terminating.
            say!("Shutting down executor '{executor_id}' at {from} that subscribed while the agent is terminating");
            let _ = tx.send(api::frame(&api::shutdown()));
            return self.stream_reply(rx, stream);
        }
        let earlier = st.executor.take();
        if let Some(Link::V1 {
            events: Some(old), ..
        }) = earlier.as_ref().map(|e| &e.link)
        {
            say!("Closing the earlier event stream of executor '{executor_id}'");
            let _ = old.send(api::frame(&api::error(&format!(
                "Executor '{executor_id}' subscribed again from {from}; closing this stream"
            ))));
        }
        let same_run = earlier
            .as_ref()
            .is_some_and(|e| e.id == executor_id && !run.is_empty() && e.run == run);
        say!(
            "Executor '{executor_id}' {} (v1 HTTP API) from {from}, run {}, with {} unacknowledged tasks and {} unacknowledged updates",
            if same_run { "re-subscribed" } else { "subscribed" },
            if run.is_empty() { "(none)" } else { run },
            tasks.len(),
            updates.len()
        );
        let e = Executor {
            id: executor_id.to_string(),
            run: run.to_string(),
            pid,
            connected: true,
            missed: 0,
            link: Link::V1 {
                events: Some(tx),
                stream,
            },
        };
        st.executor = Some(e.clone());
        // The stream's first event.
        let me = api::AgentSelf {
            id: st.id.as_deref(),
            hostname: &self.opts.hostname,
            port: self.opts.port,
            cpus: self.opts.cpus,
            mem: self.opts.mem,
        };
        let subscribed = api::subscribed(&self.caps, executor_id, api::ANY_FRAMEWORK, &me);
        self.event(st, &subscribed);
        // What the executor knows: its unacknowledged tasks and the tasks
        // of its unacknowledged updates (matched by task id); besides, a
        // task it has had an update acknowledged for (the agent saw it
        // leave TASK_STAGING) if it is the same executor process.
        let known: BTreeSet<String> = tasks
            .iter()
            .chain(updates.iter())
            .map(|t| t.s("task_id"))
            .collect();
        let gone: Vec<Key> = st
            .tasks
            .iter()
            .filter(|(k, t)| !t.queued && !is_terminal(&t.state) && !known.contains(&k.1))
            .filter(|(_, t)| must_know_v1(t.sent.as_ref().map(|s| s.0.as_str()), &t.state, run))
            .map(|(k, _)| k.clone())
            .collect();
        for k in gone {
            self.new_update(
                st,
                &k,
                "TASK_LOST",
                "Task is unknown to the (re-)subscribed executor",
            );
        }
        // Tasks it runs that this agent does not know: kill them.
        for t in tasks {
            let id = t.s("task_id");
            let ours = st
                .tasks
                .iter()
                .any(|(k, t)| k.1 == id && !is_terminal(&t.state))
                || st.streams.keys().any(|k| k.1 == id);
            if !ours {
                say!("Killing task {id} unknown to this agent");
                self.event(st, &api::kill(&id));
            }
        }
        for mut u in updates {
            // An update whose task the executor did not send names no
            // framework (Mesos's Call.Update has only the status): the task's
            // here says which.
            if u.s("framework_id") == api::ANY_FRAMEWORK {
                let task_id = u.s("task_id");
                if let Some(k) = st.tasks.keys().find(|k| k.1 == task_id) {
                    u["framework_id"] = json!(k.0);
                }
            }
            self.executor_update(st, u);
        }
        self.checkpoint(st);
        self.stream_reply(rx, stream)
    }

    /// The 200 answer to SUBSCRIBE: events as they come, until the channel
    /// closes (another subscription replaced this one, or the agent is
    /// gone) or a write fails (the executor left).
    fn stream_reply(self: &Arc<Self>, rx: mpsc::Receiver<Vec<u8>>, stream: u64) -> Reply {
        let agent = Arc::clone(self);
        Reply::stream(api::APPLICATION_JSON, Vec::new(), move |w| {
            while let Ok(record) = rx.recv() {
                if let Err(err) = w.chunk(&record) {
                    agent.stream_broke(stream, &err.to_string());
                    return;
                }
            }
            let _ = w.end();
        })
    }

    fn stream_broke(&self, stream: u64, why: &str) {
        let mut st = self.state.lock().unwrap();
        let Some(e) = st.executor.as_mut() else {
            return;
        };
        if let Link::V1 {
            events,
            stream: current,
        } = &mut e.link
        {
            if *current == stream && e.connected {
                *events = None;
                e.connected = false;
                say!(
                    "Executor '{}' disconnected: its event stream broke ({why}); waiting for it to subscribe again",
                    e.id
                );
            }
        }
    }

    /// Queues an event on the v1 executor's stream.
    fn event(&self, st: &mut State, ev: &Value) {
        let Some(e) = st.executor.as_mut() else {
            return;
        };
        if let Link::V1 {
            events: Some(tx), ..
        } = &e.link
        {
            if tx.send(api::frame(ev)).is_err() {
                say!(
                    "Executor '{}' disconnected: its event stream is closed",
                    e.id
                );
                e.connected = false;
                e.link = Link::V1 {
                    events: None,
                    stream: 0,
                };
            }
        }
    }

    /// Tells the (connected) executor something, the way its API wants it.
    fn to_executor(&self, st: &mut State, what: &ToExecutor) {
        let Some(e) = st.executor.clone().filter(|e| e.connected) else {
            return;
        };
        match &e.link {
            Link::Driver => {
                let Some(pid) = &e.pid else { return };
                let (name, body) = match what {
                    ToExecutor::Launch(t, seq) => (
                        "mesos.internal.RunTaskMessage",
                        json!({
                            "framework_id": t.framework_id,
                            "framework": {"id": t.framework_id, "name": t.framework_name},
                            "task": t.task,
                            "launch_seq": seq,
                        }),
                    ),
                    ToExecutor::Kill(k) => (
                        "mesos.internal.KillTaskMessage",
                        json!({"framework_id": k.0, "task_id": k.1}),
                    ),
                    ToExecutor::Ack(k, uuid) => (
                        "mesos.internal.StatusUpdateAcknowledgementMessage",
                        json!({"framework_id": k.0, "task_id": k.1, "uuid": uuid}),
                    ),
                    ToExecutor::Shutdown => (
                        "mesos.internal.ShutdownExecutorMessage",
                        json!({"executor_id": e.id}),
                    ),
                };
                self.send(pid, name, body);
            }
            Link::V1 { .. } => {
                let ev = match what {
                    ToExecutor::Launch(t, _) => {
                        api::launch(&self.caps, &e.id, &t.framework_id, &t.task)
                    }
                    ToExecutor::Kill(k) => api::kill(&k.1),
                    ToExecutor::Ack(k, uuid) => api::acknowledged(&k.1, uuid),
                    ToExecutor::Shutdown => api::shutdown(),
                };
                self.event(st, &ev);
            }
        }
    }

    // ---- messages -------------------------------------------------------

    fn receive(&self, m: Message) {
        let from = m.from.clone();
        let from_s = from
            .as_ref()
            .map_or_else(|| "(unknown)".to_string(), Pid::to_string);
        let mut st = self.state.lock().unwrap();
        let from_master = from.is_some() && from == Self::master_pid(&st);
        let b = &m.body;
        if m.name == "mesos.internal.ShutdownMessage" {
            if !from_master {
                say!(
                    "Ignoring shutdown message from {from_s} because it is not from the registered master: {}",
                    st.master.as_ref().map_or("None", |m| m.pid.as_str())
                );
                st.count("dropped_messages");
                return;
            }
            let message = b.s("message");
            self.shutdown(&mut st, &from_s, &message);
            return;
        }
        let needs_master = matches!(
            m.name.as_str(),
            "mesos.internal.SlaveRegisteredMessage"
                | "mesos.internal.SlaveReregisteredMessage"
                | "mesos.internal.RunTaskMessage"
                | "mesos.internal.PingSlaveMessage"
                | "mesos.internal.ShutdownFrameworkMessage"
                | "mesos.internal.KillTaskMessage"
        );
        if needs_master && !from_master {
            if m.name != "mesos.internal.PingSlaveMessage" {
                say!(
                    "Ignoring '{}' from {from_s} because it is not the expected master: {}",
                    m.name,
                    st.master.as_ref().map_or("None", |m| m.pid.as_str())
                );
            }
            st.count("dropped_messages");
            return;
        }
        match m.name.as_str() {
            "mesos.internal.SlaveRegisteredMessage"
            | "mesos.internal.SlaveReregisteredMessage"
            | "mesos.internal.PingSlaveMessage"
                if st.terminating.is_some() => {}
            "mesos.internal.SlaveRegisteredMessage" => {
                if st.registered {
                    return;
                }
                let id = b.s("slave_id");
                st.id = Some(id.clone());
                st.registered = true;
                st.last_ping = Instant::now();
                st.flush_streams();
                let host = st
                    .master
                    .as_ref()
                    .map(|m| m.hostname.clone())
                    .unwrap_or_default();
                say!("agent registered with {host} as agent id {id} (registered with master {from_s})");
                self.checkpoint(&st);
                self.executor_learns_id(&st);
            }
            "mesos.internal.SlaveReregisteredMessage" => {
                if st.registered {
                    return;
                }
                st.registered = true;
                st.last_ping = Instant::now();
                st.flush_streams();
                let host = st
                    .master
                    .as_ref()
                    .map(|m| m.hostname.clone())
                    .unwrap_or_default();
                say!(
                    "agent registered with {host} as agent id {} (re-registered with master {from_s})",
                    st.id.as_deref().unwrap_or("?")
                );
            }
            "mesos.internal.PingSlaveMessage" => {
                st.last_ping = Instant::now();
                if st.registered && b["connected"] == json!(false) {
                    say!("Master {from_s} marked this agent disconnected; re-registering");
                    st.registered = false;
                    st.reg_next = Instant::now();
                    st.reg_backoff = Duration::from_secs(1);
                    st.reg_attempts = 0;
                }
            }
            "mesos.internal.RunTaskMessage" if st.terminating.is_some() => {
                say!(
                    "Ignoring run task message for task {} from {from_s} because the agent is terminating",
                    b.s("/task/task_id")
                );
                st.count("dropped_messages");
            }
            "mesos.internal.RunTaskMessage" if !st.registered || st.recovering => {
                say!(
                    "Ignoring run task message for task {} from {from_s} because the agent is not (re-)registered yet",
                    b.s("/task/task_id")
                );
                st.count("dropped_messages");
            }
            "mesos.internal.RunTaskMessage" => {
                let task = b["task"].clone();
                let fw = b.s("framework_id");
                let k = (fw.clone(), task.s("task_id"));
                say!("Got assigned task {} for framework {fw}", k.1);
                let connected = st.executor.as_ref().is_some_and(|e| e.connected);
                let t = AgentTask {
                    task,
                    framework_id: fw.clone(),
                    framework_name: b.s("/framework/name"),
                    framework_pid: b.s("pid"),
                    state: "TASK_STAGING".into(),
                    queued: true,
                    received: Instant::now(),
                    sent: None,
                };
                st.tasks.insert(k.clone(), t);
                if connected {
                    self.hand_to_executor(&mut st, &k);
                } else {
                    say!("Queuing task {} until the executor registers", k.1);
                }
                self.checkpoint(&st);
            }
            "mesos.internal.KillTaskMessage" => {
                let k = (b.s("framework_id"), b.s("task_id"));
                self.kill(&mut st, &k);
            }
            "mesos.internal.ShutdownFrameworkMessage" => {
                let fw = b.s("framework_id");
                say!("Asked to shut down framework {fw}");
                let keys: Vec<Key> = st.tasks.keys().filter(|k| k.0 == fw).cloned().collect();
                for k in keys {
                    self.kill(&mut st, &k);
                }
            }
            "mesos.internal.StatusUpdateAcknowledgementMessage" => self.ack(&mut st, b, &from_s),
            "mesos.internal.RegisterExecutorMessage"
            | "mesos.internal.ReregisterExecutorMessage"
                if st.terminating.is_some() =>
            {
                let Some(pid) = from else { return };
                say!(
                    "Shutting down executor '{}' at {pid} as the agent is terminating",
                    b.s("executor_id")
                );
                self.send(
                    &pid,
                    "mesos.internal.ShutdownExecutorMessage",
                    json!({"executor_id": b.s("executor_id")}),
                );
            }
            "mesos.internal.RegisterExecutorMessage" => {
                let Some(pid) = from else { return };
                self.register_executor(&mut st, pid, b, false)
            }
            "mesos.internal.ReregisterExecutorMessage" => {
                let Some(pid) = from else { return };
                self.register_executor(&mut st, pid, b, true)
            }
            "mesos.internal.StatusUpdateMessage" => {
                let u = b["update"].clone();
                let registered = st.executor.as_ref().is_some_and(|e| {
                    e.connected
                        && matches!(e.link, Link::Driver)
                        && e.pid.as_ref().is_some_and(|p| p.to_string() == from_s)
                });
                if registered {
                    self.executor_update(&mut st, u);
                } else {
                    say!(
                        "Ignoring status update (UUID: {}) for task {} from {from_s}: not the registered executor",
                        u.s("uuid"),
                        u.s("task_id")
                    );
                    st.count("invalid_status_updates");
                }
            }
            other => {
                say!("Dropping unknown message '{other}' from {from_s}: no handler installed");
                st.count("dropped_messages");
            }
        }
    }

    /// Hands a (queued) task to the executor, stamped with the next launch
    /// sequence number; a driver executor reports the last one it received
    /// when it (re-)registers, so that a task handed over after its
    /// snapshot is not taken for one it lost.
    fn hand_to_executor(&self, st: &mut State, k: &Key) {
        let Some(run) = st.executor.as_ref().map(|e| e.run.clone()) else {
            return;
        };
        st.launch_seq += 1;
        let seq = st.launch_seq;
        let Some(t) = st.tasks.get_mut(k) else {
            return;
        };
        t.queued = false;
        t.sent = Some((run, seq));
        let t = t.clone();
        self.to_executor(st, &ToExecutor::Launch(&t, seq));
    }

    fn executor_learns_id(&self, st: &State) {
        let Some(e) = st.executor.as_ref().filter(|e| e.connected) else {
            return;
        };
        // v1 executors learn it from SUBSCRIBED only (there is no event
        // for it).
        if let (Link::Driver, Some(pid), Some(id)) = (&e.link, &e.pid, &st.id) {
            self.send(
                pid,
                "mesos.internal.ExecutorReregisteredMessage",
                json!({
                    "slave_id": id, "slave_pid": self.me.to_string(),
                }),
            );
        }
    }

    fn kill(&self, st: &mut State, k: &Key) {
        let Some(t) = st.tasks.get(k) else {
            say!("Cannot kill unknown task {} of framework {}", k.1, k.0);
            return;
        };
        if is_terminal(&t.state) {
            return;
        }
        if t.queued {
            st.tasks.get_mut(k).expect("present").queued = false;
            self.new_update(
                st,
                k,
                "TASK_KILLED",
                "Killed before delivery to the executor",
            );
            self.checkpoint(st);
        } else if st.executor.as_ref().is_some_and(|e| e.connected) {
            say!("Asking executor to kill task {}", k.1);
            self.to_executor(st, &ToExecutor::Kill(k));
        }
    }

    fn ack(&self, st: &mut State, b: &Value, from: &str) {
        let k = (b.s("framework_id"), b.s("task_id"));
        let uuid = b.s("uuid");
        let matches = st
            .streams
            .get(&k)
            .and_then(|s| s.updates.front())
            .is_some_and(|u| u.s("uuid") == uuid);
        if !matches {
            if !st.acked.contains(&uuid) {
                say!("Ignoring unexpected status update acknowledgement (UUID: {uuid}) for task {} of framework {} from {from}", k.1, k.0);
            }
            return;
        }
        let s = st.streams.get_mut(&k).expect("checked");
        let u = s.updates.pop_front().expect("checked");
        s.next_send = Instant::now();
        s.backoff = RETRY_MIN;
        let empty = s.updates.is_empty();
        say!(
            "Status update manager successfully handled status update acknowledgement (UUID: {uuid}) for task {} of framework {}",
            k.1,
            k.0
        );
        st.acked.push_back(uuid);
        while st.acked.len() > 500 {
            st.acked.pop_front();
        }
        if empty {
            st.streams.remove(&k);
            if is_terminal(&u.s("state")) && st.tasks.get(&k).is_some_and(|t| is_terminal(&t.state))
            {
                st.tasks.remove(&k);
                st.count("tasks_completed");
            }
        }
        self.checkpoint(st);
    }

    fn register_executor(&self, st: &mut State, pid: Pid, b: &Value, re: bool) {
        let id = b.s("executor_id");
        let run = b.s("executor_run");
        let seen = b["last_launch_seq"].as_u64();
        let reported: Vec<Value> = b["tasks"].as_array().cloned().unwrap_or_default();
        st.executor = Some(Executor {
            id: id.clone(),
            run: run.clone(),
            pid: Some(pid.clone()),
            connected: true,
            missed: 0,
            link: Link::Driver,
        });
        let reported_keys: BTreeSet<Key> = reported
            .iter()
            .map(|t| (t.s("framework_id"), t.s("task_id")))
            .collect();
        if re {
            say!(
                "Executor '{id}' re-registered at {pid} with {} tasks",
                reported.len()
            );
        } else {
            say!("Executor '{id}' registered at {pid}");
        }
        // Tasks handed to an executor that does not know them are gone, but
        // only those it should know of by the snapshot it reported: a task
        // handed to this same executor run after that snapshot is still on
        // its way to it (messages to it are delivered in order).
        let mut in_flight = Vec::new();
        let mut gone = Vec::new();
        for (k, t) in &st.tasks {
            if t.queued || is_terminal(&t.state) || reported_keys.contains(k) {
                continue;
            }
            if should_know(t.sent.as_ref(), &run, seen) {
                gone.push(k.clone());
            } else {
                in_flight.push(k.clone());
            }
        }
        for k in &in_flight {
            say!(
                "Task {} was handed to executor '{id}' after the snapshot it reported; keeping it",
                k.1
            );
        }
        for k in gone {
            self.new_update(
                st,
                &k,
                "TASK_LOST",
                "Task is unknown to the (re-)registered executor",
            );
        }
        // Tasks the executor runs that we do not know: kill them.
        for k in &reported_keys {
            if st.tasks.get(k).is_none_or(|t| is_terminal(&t.state)) && !st.streams.contains_key(k)
            {
                say!("Killing task {} unknown to this agent", k.1);
                self.to_executor(st, &ToExecutor::Kill(k));
            }
        }
        let name = if re {
            "mesos.internal.ExecutorReregisteredMessage"
        } else {
            "mesos.internal.ExecutorRegisteredMessage"
        };
        self.send(
            &pid,
            name,
            json!({
                "slave_id": st.id, "slave_pid": self.me.to_string(),
                "slave_info": self.slave_info(),
            }),
        );
        // Updates the executor never saw acknowledged.
        for u in b["updates"].as_array().cloned().unwrap_or_default() {
            self.executor_update(st, u);
        }
        self.checkpoint(st);
    }

    /// A status update from the (registered or subscribed) executor: the
    /// status update manager checkpoints it and forwards it to the master
    /// (unless it is a duplicate); the executor gets its acknowledgement.
    fn executor_update(&self, st: &mut State, mut u: Value) {
        let k = (u.s("framework_id"), u.s("task_id"));
        let uuid = u.s("uuid");
        if !st.known_uuid(&uuid) {
            if !st.tasks.contains_key(&k) {
                say!(
                    "Status update (UUID: {uuid}) for unknown task {} of framework {}",
                    k.1,
                    k.0
                );
            }
            u["slave_id"] = json!(st.id);
            if let Some(t) = st.tasks.get(&k) {
                u["resources"] = t.task["resources"].clone();
            }
            st.count("valid_status_updates");
            self.enqueue(st, &k, u);
            self.checkpoint(st);
        }
        self.to_executor(st, &ToExecutor::Ack(&k, &uuid));
    }

    /// Checks every second that the executor answers on its `/health`;
    /// after 10 misses its tasks are lost. (A v1 executor whose stream
    /// broke is still checked: it may come back, or be gone.)
    fn executor_health(&self) {
        loop {
            std::thread::sleep(Duration::from_secs(1));
            let Some(e) = self.state.lock().unwrap().executor.clone() else {
                continue;
            };
            let Some(pid) = e.pid.clone() else { continue };
            if !e.connected && matches!(e.link, Link::Driver) {
                continue;
            }
            let ok = http::request(
                &pid.addr(),
                "GET",
                "/health",
                &[],
                None,
                Duration::from_secs(1),
            )
            .is_ok_and(|r| r.status == 200);
            let mut st = self.state.lock().unwrap();
            if st.terminating.is_some() {
                continue;
            }
            let Some(cur) = st
                .executor
                .as_mut()
                .filter(|x| x.pid == e.pid && x.run == e.run)
            else {
                continue;
            };
            if ok {
                cur.missed = 0;
                continue;
            }
            cur.missed += 1;
            if cur.missed == 10 {
                cur.connected = false;
                if let Link::V1 { events, .. } = &mut cur.link {
                    *events = None;
                }
                say!(
                    "Executor '{}' at {pid} is unreachable; its tasks are lost",
                    e.id
                );
                let lost: Vec<Key> = st
                    .tasks
                    .iter()
                    .filter(|(_, t)| !t.queued && !is_terminal(&t.state))
                    .map(|(k, _)| k.clone())
                    .collect();
                for k in lost {
                    self.new_update(&mut st, &k, "TASK_LOST", "Executor terminated");
                }
                self.checkpoint(&st);
            }
        }
    }
}

/// The tasks a shutdown still waits for: not yet terminal.
fn live_tasks(st: &State) -> Vec<String> {
    st.tasks
        .iter()
        .filter(|(_, t)| !is_terminal(&t.state))
        .map(|(k, _)| k.1.clone())
        .collect()
}

/// Whether a v1 executor subscribing as run `run` must know (report as
/// unacknowledged, or have had an update acknowledged for) a task handed
/// over to run `sent` and now in `state`. The same process knows every task
/// the agent has had an update for (state past TASK_STAGING), so it must
/// report only those still staging; another process (or one that reports
/// no run) knows none of an earlier one's tasks. A task handed to the same
/// run after its subscription is never a question: the subscription and
/// the events on it are ordered.
fn must_know_v1(sent: Option<&str>, state: &str, run: &str) -> bool {
    match sent {
        Some(r) if !run.is_empty() && r == run => state == "TASK_STAGING",
        _ => true,
    }
}

/// `YYYY-MM-DD HH:MM:SS` (UTC) of seconds since the epoch.
fn utc_date(secs: u64) -> String {
    let days = (secs / 86400) as i64;
    let rem = secs % 86400;
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// Whether an executor run `run` that reported `seen` as the last launch
/// sequence number it received must know a task handed over as `sent`.
/// Tasks handed to another run (an earlier executor process), or to an
/// executor that does not report runs and sequence numbers, must be known.
fn should_know(sent: Option<&(String, u64)>, run: &str, seen: Option<u64>) -> bool {
    match sent {
        Some((r, seq)) if !run.is_empty() && r == run => seen.is_some_and(|n| *seq <= n),
        _ => true,
    }
}

pub fn main(args: &[String]) -> i32 {
    crate::cli_main(args, USAGE, 5051, |a| Opts::parse(a).map(Agent::run))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources() {
        assert_eq!(parse_resources("cpus:2;mem:512").unwrap(), (2.0, 512.0));
        assert_eq!(parse_resources("disk:1;cpus:8").unwrap(), (8.0, 1024.0));
        assert!(parse_resources("cpus=2").is_err());
    }

    #[test]
    fn tasks_the_executor_must_know() {
        let sent = ("run-a".to_string(), 7);
        // Handed to this run before the snapshot it reports: must be known.
        assert!(should_know(Some(&sent), "run-a", Some(7)));
        assert!(should_know(Some(&sent), "run-a", Some(9)));
        // Handed over after the snapshot (or before it saw any launch).
        assert!(!should_know(Some(&sent), "run-a", Some(6)));
        assert!(!should_know(Some(&sent), "run-a", None));
        // Handed to another executor process: a new one cannot know it.
        assert!(should_know(Some(&sent), "run-b", Some(100)));
        assert!(should_know(Some(&sent), "run-b", None));
        // An executor that reports no run, or a task with no record of it.
        assert!(should_know(Some(&("".to_string(), 7)), "", Some(1)));
        assert!(should_know(None, "run-a", None));
    }

    #[test]
    fn tasks_a_v1_executor_must_know() {
        // The same process knows every task the agent has had an update
        // for; a task still staging it must report as unacknowledged.
        assert!(!must_know_v1(Some("run-a"), "TASK_RUNNING", "run-a"));
        assert!(must_know_v1(Some("run-a"), "TASK_STAGING", "run-a"));
        // Another process (a replaced executor container) knows none.
        assert!(must_know_v1(Some("run-a"), "TASK_RUNNING", "run-b"));
        assert!(must_know_v1(Some("run-a"), "TASK_STAGING", "run-b"));
        // No run reported, or no record of the hand-over.
        assert!(must_know_v1(Some(""), "TASK_RUNNING", ""));
        assert!(must_know_v1(None, "TASK_RUNNING", "run-a"));
    }

    #[test]
    fn dates() {
        assert_eq!(utc_date(0), "1970-01-01 00:00:00");
        assert_eq!(utc_date(1_458_172_800 + 3723), "2016-03-17 01:02:03");
        assert_eq!(utc_date(951_782_400), "2000-02-29 00:00:00");
    }
}
