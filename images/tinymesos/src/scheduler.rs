//! The test scheduler (framework): detects the leading master through
//! ZooKeeper, registers (re-registers with its framework id after a
//! failover), keeps `--long` long-running tasks up and launches a short
//! task every `--short_every`, acknowledges status updates, and serves its
//! view on `GET /status`.
//!
//! How it launches and acknowledges depends on its release
//! ([`Caps::launch`], [`Caps::ack`]): 0.22 sends `LaunchTasksMessage` and
//! acknowledges straight to the agent; 0.23+ sends `mesos.scheduler.Call`
//! (ACCEPT / DECLINE / ACKNOWLEDGE) to the master.

use crate::election::{Election, MasterInfo};
use crate::flags::Flags;
use crate::http::Request;
use crate::master::is_terminal;
use crate::process::{self, message_of, Get, Message, Outbox, Pid, Reply};
use crate::release::{AckProtocol, Caps, LaunchProtocol};
use crate::zk::ZkUrl;
use crate::{now_secs, say};
use serde_json::{json, Value};
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const USAGE: &str = "\
usage:
  tinymesos-scheduler --master zk://HOST:PORT/PATH [--hostname NAME] [--port 8080]
                      [--name tinymesos-test] [--long 2] [--short_every 1secs]
                      [--short_duration 2secs] [--task_cpus 0.25] [--task_mem 16]
                      [--launch_timeout 30secs] [--zk_session_timeout 10secs]
  (--zk is accepted as a synonym of --master; --short_every 0 launches no short tasks)
  tinymesos-scheduler status [--addr 127.0.0.1:8080]
  tinymesos-scheduler version";

pub struct Opts {
    pub zk: ZkUrl,
    pub hostname: String,
    pub port: u16,
    pub name: String,
    pub long: u32,
    pub short_every: Duration,
    pub short_duration: Duration,
    pub task_cpus: f64,
    pub task_mem: f64,
    pub launch_timeout: Duration,
    pub zk_session_timeout: Duration,
}

impl Opts {
    pub fn parse(args: &[String]) -> Result<Opts, String> {
        let mut f = Flags::parse(args)?;
        let zk = f
            .opt("master")
            .or_else(|| f.opt("zk"))
            .ok_or("--master zk://HOST:PORT/PATH is required")?;
        let o = Opts {
            zk: ZkUrl::parse(&zk)?,
            hostname: f
                .opt("hostname")
                .or_else(|| std::env::var("HOSTNAME").ok())
                .unwrap_or_else(|| "localhost".into()),
            port: f.num("port", 8080u16)?,
            name: f.string("name", "tinymesos-test"),
            long: f.num("long", 2u32)?,
            short_every: f.duration("short_every", Duration::from_secs(1))?,
            short_duration: f.duration("short_duration", Duration::from_secs(2))?,
            task_cpus: f.num("task_cpus", 0.25)?,
            task_mem: f.num("task_mem", 16.0)?,
            launch_timeout: f.duration("launch_timeout", Duration::from_secs(30))?,
            zk_session_timeout: f.duration("zk_session_timeout", Duration::from_secs(10))?,
        };
        f.finish()?;
        if o.task_cpus <= 0.0 || o.task_mem <= 0.0 {
            return Err("--task_cpus and --task_mem must be positive".into());
        }
        Ok(o)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Long(u32),
    Short,
}

#[derive(Debug, Clone)]
struct SchedTask {
    kind: Kind,
    state: String,
    launched_at: Instant,
    agent_id: String,
    got_update: bool,
}

impl SchedTask {
    fn active(&self) -> bool {
        !is_terminal(&self.state) && self.state != "LAUNCH_TIMEOUT"
    }
}

#[derive(Default)]
struct Counts {
    launched: u64,
    finished: u64,
    failed: u64,
    lost: u64,
    killed: u64,
    launch_timeouts: u64,
    long_ended: u64,
    offers: u64,
    declined: u64,
    updates: u64,
    acks: u64,
}

struct State {
    subscribed: bool,
    aborted: bool,
    framework_id: Option<String>,
    leader: Option<MasterInfo>,
    detect_error: Option<String>,
    reg_next: Instant,
    reg_backoff: Duration,
    reg_attempts: u32,
    registrations: u64,
    reregistrations: u64,
    tasks: BTreeMap<String, SchedTask>,
    done: VecDeque<String>,
    next_task: u64,
    last_short: Option<Instant>,
    counts: Counts,
    errors: VecDeque<String>,
    last_error: Option<String>,
    first_running_after: Option<f64>,
}

impl State {
    fn error(&mut self, msg: String) {
        say!("error: {msg}");
        self.errors
            .push_back(format!("{} {msg}", crate::timestamp()));
        while self.errors.len() > 20 {
            self.errors.pop_front();
        }
        self.last_error = Some(msg);
    }
}

pub struct Scheduler {
    caps: Caps,
    opts: Opts,
    me: Pid,
    outbox: Arc<Outbox>,
    state: Mutex<State>,
    /// Part of every task id, so that ids stay unique within the framework
    /// across scheduler processes (a restarted scheduler gets the same
    /// framework back, and the old process's tasks may still report).
    run: String,
    start: Instant,
    start_time: f64,
}

impl Scheduler {
    pub fn run(opts: Opts) -> i32 {
        let caps = Caps::built();
        let me = Pid::new("scheduler(1)", &opts.hostname, opts.port);
        say!(
            "tinymesos scheduler {} starting: framework '{}', master zk://{}{}, {} long tasks, a {:?} task every {:?}",
            caps.version(),
            opts.name,
            opts.zk.hosts.join(","),
            opts.zk.path,
            opts.long,
            opts.short_duration,
            opts.short_every
        );
        let s = Arc::new(Scheduler {
            outbox: Outbox::new(me.clone()),
            caps: caps.clone(),
            me,
            state: Mutex::new(State {
                subscribed: false,
                aborted: false,
                framework_id: None,
                leader: None,
                detect_error: None,
                reg_next: Instant::now(),
                reg_backoff: Duration::from_secs(1),
                reg_attempts: 0,
                registrations: 0,
                reregistrations: 0,
                tasks: BTreeMap::new(),
                done: VecDeque::new(),
                next_task: 0,
                last_short: None,
                counts: Counts::default(),
                errors: VecDeque::new(),
                last_error: None,
                first_running_after: None,
            }),
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
        let election = Election::start(s.opts.zk.clone(), caps, None, s.opts.zk_session_timeout);
        let e2 = Arc::clone(&election);
        crate::install_shutdown(move || e2.close(Duration::from_secs(1)));
        s.main_loop(&election)
    }

    fn master_pid(st: &State) -> Option<Pid> {
        st.leader.as_ref().and_then(|m| Pid::parse(&m.pid))
    }

    fn main_loop(&self, election: &Election) -> i32 {
        loop {
            std::thread::sleep(Duration::from_millis(200));
            let view = election.view();
            let mut st = self.state.lock().unwrap();
            if view.error != st.detect_error {
                st.detect_error = view.error.clone();
                if let Some(err) = &view.error {
                    st.error(format!("Failed to detect a master: {err}"));
                    st.subscribed = false;
                }
            }
            // A new pid, or the same master in a new incarnation (new id).
            let ident = |m: &MasterInfo| (m.pid.clone(), m.id.clone());
            if view.leader.as_ref().map(ident) != st.leader.as_ref().map(ident) {
                match &view.leader {
                    Some(l) => say!("New master detected at {} ({})", l.pid, l.hostname),
                    None => say!("No master detected; waiting for one to be elected"),
                }
                st.leader = view.leader.clone();
                st.subscribed = false;
                st.reg_next = Instant::now();
                st.reg_backoff = Duration::from_secs(1);
                st.reg_attempts = 0;
            }
            let now = Instant::now();
            if let Some(master) = Self::master_pid(&st) {
                if !st.subscribed && !st.aborted && now >= st.reg_next {
                    self.register(&mut st, &master);
                    st.reg_next = now + st.reg_backoff;
                    st.reg_backoff = (st.reg_backoff * 2).min(Duration::from_secs(8));
                }
            }
            // Launches that never got an update.
            let stuck: Vec<String> = st
                .tasks
                .iter()
                .filter(|(_, t)| {
                    t.state == "TASK_STAGING"
                        && !t.got_update
                        && t.launched_at.elapsed() > self.opts.launch_timeout
                })
                .map(|(id, _)| id.clone())
                .collect();
            for id in stuck {
                st.tasks.get_mut(&id).expect("listed").state = "LAUNCH_TIMEOUT".into();
                st.counts.launch_timeouts += 1;
                st.error(format!(
                    "task {id}: no status update within {:?} of launching it (the master may have dropped the launch)",
                    self.opts.launch_timeout
                ));
                st.done.push_back(id.clone());
                st.tasks.remove(&id);
            }
            while st.done.len() > 2000 {
                st.done.pop_front();
            }
        }
    }

    fn register(&self, st: &mut State, master: &Pid) {
        st.reg_attempts += 1;
        let info = json!({
            "name": self.opts.name, "user": "root", "hostname": self.opts.hostname,
            "failover_timeout": 604800.0, "id": st.framework_id,
        });
        match &st.framework_id {
            None => {
                if st.reg_attempts == 1 {
                    say!("Registering framework with master {master}");
                }
                self.outbox.send(
                    master,
                    "mesos.internal.RegisterFrameworkMessage",
                    json!({
                        "framework": info,
                    }),
                );
            }
            Some(id) => {
                if st.reg_attempts == 1 {
                    say!("Re-registering framework {id} with master {master}");
                }
                self.outbox.send(
                    master,
                    "mesos.internal.ReregisterFrameworkMessage",
                    json!({
                        "framework": info, "failover": false,
                    }),
                );
            }
        }
    }

    fn http(&self, req: &Request) -> Reply {
        if let Some(m) = message_of(req, "scheduler(1)") {
            match m {
                Ok(m) => self.receive(m),
                Err(e) => say!("{e}"),
            }
            return Reply::accepted();
        }
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
        let n = |s: &str| st.tasks.values().filter(|t| t.state == s).count();
        let long_running = st
            .tasks
            .values()
            .filter(|t| matches!(t.kind, Kind::Long(_)) && t.state == "TASK_RUNNING")
            .count();
        let c = &st.counts;
        json!({
            "release": self.caps.release,
            "version": self.caps.version(),
            "pid": self.me.to_string(),
            "subscribed": st.subscribed,
            "aborted": st.aborted,
            "framework_id": st.framework_id,
            "leader": st.leader.as_ref().map(|l| l.hostname.clone()),
            "leader_pid": st.leader.as_ref().map(|l| l.pid.clone()),
            "launch_protocol": match self.caps.launch {
                LaunchProtocol::LaunchTasksMessage => "LaunchTasksMessage",
                LaunchProtocol::AcceptCall => "Call/ACCEPT",
            },
            "tasks": {
                "running": n("TASK_RUNNING"),
                "staging": n("TASK_STAGING"),
                "finished": c.finished,
                "failed": c.failed,
                "lost": c.lost,
                "killed": c.killed,
                "launched": c.launched,
                "launch_timeouts": c.launch_timeouts,
            },
            "long_running": long_running,
            "long_ended": c.long_ended,
            "long_target": self.opts.long,
            "offers_received": c.offers,
            "offers_declined": c.declined,
            "updates_received": c.updates,
            "acknowledgements_sent": c.acks,
            "registrations": st.registrations,
            "reregistrations": st.reregistrations,
            "first_task_running_after_secs": st.first_running_after,
            "uptime_secs": now_secs() - self.start_time,
            "detector_error": st.detect_error,
            "errors": st.errors,
            "last_error": st.last_error,
        })
    }

    fn receive(&self, m: Message) {
        let from = m.from.clone();
        let from_s = from
            .as_ref()
            .map_or_else(|| "(unknown)".to_string(), Pid::to_string);
        let mut st = self.state.lock().unwrap();
        let master = Self::master_pid(&st);
        let from_master = from.is_some() && from == master;
        let b = &m.body;
        match m.name.as_str() {
            "mesos.internal.PingFrameworkMessage" => {}
            "mesos.internal.FrameworkRegisteredMessage"
            | "mesos.internal.FrameworkReregisteredMessage" => {
                if !from_master {
                    say!(
                        "Ignoring framework registered message because it was sent from '{from_s}' instead of the leading master '{}'",
                        master.map_or_else(|| "None".into(), |p| p.to_string())
                    );
                    return;
                }
                if st.subscribed {
                    return;
                }
                let id = b.s("framework_id");
                let host = st
                    .leader
                    .as_ref()
                    .map(|l| l.hostname.clone())
                    .unwrap_or_default();
                st.subscribed = true;
                st.reg_attempts = 0;
                if m.name.ends_with("ReregisteredMessage") {
                    st.reregistrations += 1;
                    say!("framework registered with id {id} (re-registered with master {from_s}, {host})");
                } else {
                    st.registrations += 1;
                    say!("framework registered with id {id} (master {from_s}, {host})");
                }
                st.framework_id = Some(id);
            }
            "mesos.internal.ResourceOffersMessage" => {
                if !from_master || !st.subscribed {
                    // Offers are for the framework, which may be this
                    // scheduler's from before a restart: give them back at
                    // once, or the master holds the resources until its
                    // --offer_timeout.
                    let Some(from) = from else { return };
                    for o in b["offers"].as_array().cloned().unwrap_or_default() {
                        say!(
                            "Declining offer {} from {from_s}: not subscribed with it",
                            o.s("id")
                        );
                        st.counts.offers += 1;
                        self.decline(&mut st, &from, &o.s("framework_id"), &o.s("id"));
                    }
                    return;
                }
                let master = master.expect("from_master");
                for o in b["offers"].as_array().cloned().unwrap_or_default() {
                    self.offer(&mut st, &master, &o);
                }
            }
            "mesos.internal.RescindResourceOfferMessage" => {
                say!("Offer {} rescinded", b.s("offer_id"));
            }
            "mesos.internal.StatusUpdateMessage" => self.status_update(&mut st, b, master.as_ref()),
            "mesos.internal.FrameworkErrorMessage" => {
                st.subscribed = false;
                st.aborted = true;
                st.error(format!("Framework error from {from_s}: {}", b.s("message")));
            }
            other => say!("Dropping unknown message '{other}' from {from_s}: no handler installed"),
        }
    }

    fn offer(&self, st: &mut State, master: &Pid, o: &Value) {
        st.counts.offers += 1;
        let offer_id = o.s("id");
        let agent = o.s("slave_id");
        let fw = st.framework_id.clone().unwrap_or_default();
        // A master may still offer to a framework this scheduler's pid had
        // before (e.g. one registered by an earlier process, reconnected
        // by the master's pings): answer it as that framework (declining),
        // or the master ignores the answer and holds the resources until
        // its --offer_timeout.
        let offer_fw = o.s("framework_id");
        if !offer_fw.is_empty() && offer_fw != fw {
            say!("Declining offer {offer_id}: it is for framework {offer_fw}, not {fw}");
            self.decline(st, master, &offer_fw, &offer_id);
            return;
        }
        let (mut cpus, mut mem) = (o.f("/resources/cpus"), o.f("/resources/mem"));
        let (tc, tm) = (self.opts.task_cpus, self.opts.task_mem);
        let mut launch: Vec<(String, Kind, f64)> = Vec::new();
        for slot in 0..self.opts.long {
            let busy = st
                .tasks
                .values()
                .any(|t| t.kind == Kind::Long(slot) && t.active());
            if !busy && cpus >= tc - 1e-9 && mem >= tm - 1e-9 {
                st.next_task += 1;
                launch.push((
                    format!("long-{slot}-{}-{}", st.next_task, self.run),
                    Kind::Long(slot),
                    0.0,
                ));
                cpus -= tc;
                mem -= tm;
            }
        }
        let due = !self.opts.short_every.is_zero()
            && st.last_short.is_none_or(|t| {
                t.elapsed()
                    >= self
                        .opts
                        .short_every
                        .saturating_sub(Duration::from_millis(100))
            });
        if due && cpus >= tc - 1e-9 && mem >= tm - 1e-9 {
            st.next_task += 1;
            launch.push((
                format!("short-{}-{}", st.next_task, self.run),
                Kind::Short,
                self.opts.short_duration.as_secs_f64(),
            ));
            st.last_short = Some(Instant::now());
        }
        if launch.is_empty() {
            self.decline(st, master, &fw, &offer_id);
            return;
        }
        let infos: Vec<Value> = launch
            .iter()
            .map(|(id, _, d)| {
                json!({
                    "task_id": id, "name": format!("{} {id}", self.opts.name), "slave_id": agent,
                    "resources": {"cpus": tc, "mem": tm},
                    "command": {"duration": d},
                })
            })
            .collect();
        for (id, kind, d) in &launch {
            say!(
                "Launching task {id} ({}) on agent {agent} with offer {offer_id}",
                if *d > 0.0 {
                    format!("short, {d}s")
                } else {
                    "long-running".to_string()
                }
            );
            st.counts.launched += 1;
            st.tasks.insert(
                id.clone(),
                SchedTask {
                    kind: *kind,
                    state: "TASK_STAGING".into(),
                    launched_at: Instant::now(),
                    agent_id: agent.clone(),
                    got_update: false,
                },
            );
        }
        match self.caps.launch {
            LaunchProtocol::LaunchTasksMessage => self.outbox.send(
                master,
                "mesos.internal.LaunchTasksMessage",
                json!({
                    "framework_id": fw, "offer_ids": [offer_id], "tasks": infos, "filters": {},
                }),
            ),
            LaunchProtocol::AcceptCall => self.outbox.send(
                master,
                "mesos.scheduler.Call",
                json!({
                    "framework_id": fw, "type": "ACCEPT",
                    "accept": {
                        "offer_ids": [offer_id],
                        "operations": [{"type": "LAUNCH", "launch": {"task_infos": infos}}],
                        "filters": {},
                    },
                }),
            ),
        }
    }

    /// Declines an offer: 0.22 launches no task with it, 0.23+ sends a
    /// DECLINE call.
    fn decline(&self, st: &mut State, master: &Pid, fw: &str, offer_id: &str) {
        st.counts.declined += 1;
        match self.caps.launch {
            LaunchProtocol::LaunchTasksMessage => self.outbox.send(
                master,
                "mesos.internal.LaunchTasksMessage",
                json!({
                    "framework_id": fw, "offer_ids": [offer_id], "tasks": [], "filters": {},
                }),
            ),
            LaunchProtocol::AcceptCall => self.outbox.send(
                master,
                "mesos.scheduler.Call",
                json!({
                    "framework_id": fw, "type": "DECLINE",
                    "decline": {"offer_ids": [offer_id], "filters": {}},
                }),
            ),
        }
    }

    fn status_update(&self, st: &mut State, b: &Value, master: Option<&Pid>) {
        let u = &b["update"];
        let (id, state, uuid, agent) = (u.s("task_id"), u.s("state"), u.s("uuid"), u.s("slave_id"));
        st.counts.updates += 1;
        let seen_done = st.done.iter().any(|d| *d == id);
        let prev = st.tasks.get(&id).map(|t| t.state.clone());
        if !seen_done && prev.as_deref() != Some(state.as_str()) {
            let msg = u.s("message");
            say!(
                "Status update: task {id} is now {state} (agent {agent}){}",
                if msg.is_empty() {
                    String::new()
                } else {
                    format!(": {msg}")
                }
            );
            if state == "TASK_RUNNING" && st.first_running_after.is_none() {
                st.first_running_after = Some(self.start.elapsed().as_secs_f64());
            }
            match state.as_str() {
                "TASK_FINISHED" => st.counts.finished += 1,
                "TASK_FAILED" | "TASK_ERROR" => st.counts.failed += 1,
                "TASK_LOST" => st.counts.lost += 1,
                "TASK_KILLED" => st.counts.killed += 1,
                _ => {}
            }
            if is_terminal(&state) {
                if matches!(parse_kind(&id), Kind::Long(_)) {
                    st.counts.long_ended += 1;
                }
                st.tasks.remove(&id);
                st.done.push_back(id.clone());
            } else {
                let t = st.tasks.entry(id.clone()).or_insert_with(|| SchedTask {
                    kind: parse_kind(&id),
                    state: state.clone(),
                    launched_at: Instant::now(),
                    agent_id: agent.clone(),
                    got_update: true,
                });
                t.state = state.clone();
                t.got_update = true;
                t.agent_id = agent.clone();
            }
        }
        if uuid.is_empty() {
            return; // Generated by the master: nothing to acknowledge.
        }
        st.counts.acks += 1;
        let fw = u.s("framework_id");
        match self.caps.ack {
            AckProtocol::AckMessageToAgent => match Pid::parse(&b.s("pid")) {
                Some(agent_pid) => self.outbox.send(
                    &agent_pid,
                    "mesos.internal.StatusUpdateAcknowledgementMessage",
                    json!({
                        "slave_id": agent, "framework_id": fw, "task_id": id, "uuid": uuid,
                    }),
                ),
                None => say!("Cannot acknowledge update {uuid} for task {id}: no agent pid"),
            },
            AckProtocol::AcknowledgeCall => {
                if let Some(m) = master {
                    self.outbox.send(
                        m,
                        "mesos.scheduler.Call",
                        json!({
                            "framework_id": fw, "type": "ACKNOWLEDGE",
                            "acknowledge": {"slave_id": agent, "task_id": id, "uuid": uuid},
                        }),
                    );
                }
            }
        }
    }
}

/// Long tasks are named `long-SLOT-N-RUN`, short ones `short-N-RUN`.
fn parse_kind(id: &str) -> Kind {
    id.strip_prefix("long-")
        .and_then(|r| r.split('-').next())
        .and_then(|s| s.parse().ok())
        .map_or(Kind::Short, Kind::Long)
}

pub fn main(args: &[String]) -> i32 {
    match args.first().map(String::as_str) {
        Some("status") => {
            let addr = match args.get(1..3) {
                Some([flag, a]) if flag == "--addr" => a.clone(),
                _ => "127.0.0.1:8080".to_string(),
            };
            crate::get_command(&addr, "/status")
        }
        Some("version") => {
            println!("{}", Caps::built().version());
            0
        }
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            0
        }
        _ => match Opts::parse(args) {
            Ok(o) => Scheduler::run(o),
            Err(e) => {
                eprintln!("error: {e}\n{USAGE}");
                64
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_kinds() {
        assert_eq!(parse_kind("long-1-17"), Kind::Long(1));
        assert_eq!(parse_kind("short-3"), Kind::Short);
        assert_eq!(parse_kind("long-0-4-1a2b3c4d"), Kind::Long(0));
        assert_eq!(parse_kind("short-5-1a2b3c4d"), Kind::Short);
    }
}
