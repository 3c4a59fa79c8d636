//! The test scheduler (framework): detects the leading master through
//! ZooKeeper, registers (re-registers with its framework id after a
//! failover), keeps `--long` long-running tasks up and launches a short
//! task every `--short_every`, acknowledges status updates, and serves its
//! view on `GET /status`.
//!
//! What it is written against depends on its release
//! ([`Caps::scheduler_api`]):
//!
//! * **driver** (0.22–0.25, this module): libprocess messages. How it
//!   launches and acknowledges comes from [`Caps::launch`] and
//!   [`Caps::ack`]: 0.22 sends `LaunchTasksMessage` and acknowledges
//!   straight to the agent; 0.23+ sends `mesos.scheduler.Call` (ACCEPT /
//!   DECLINE / ACKNOWLEDGE) to the master. Inverse offers a master puts in
//!   `ResourceOffersMessage` are ignored, as Mesos's scheduler driver
//!   ignores them.
//! * **v1 HTTP** (0.28, 1.0, [`crate::scheduler_v1`]): `POST
//!   /api/v1/scheduler`, a RecordIO event stream, and maintenance awareness
//!   (offers with `unavailability`, inverse offers).
//!
//! The bookkeeping both share (which tasks to launch on an offer, what a
//! status update means, the `/status` document) is [`State`], here.

use crate::election::{Election, MasterInfo};
use crate::flags::Flags;
use crate::http::Request;
use crate::master::is_terminal;
use crate::process::{self, message_of, Get, Message, Outbox, Pid, Reply};
use crate::release::{AckProtocol, Caps, LaunchProtocol, SchedulerApi};
use crate::zk::ZkUrl;
use crate::{now_secs, say};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const USAGE: &str = "\
usage:
  tinymesos-scheduler --master zk://HOST:PORT/PATH [--hostname NAME] [--port 8080]
                      [--name tinymesos-test] [--long 2] [--long_per_agent 0] [--short_every 1secs]
                      [--short_duration 2secs] [--task_cpus 0.25] [--task_mem 16]
                      [--launch_timeout 30secs] [--zk_session_timeout 10secs]
  (--zk is accepted as a synonym of --master; --short_every 0 launches no short tasks;
   v1 HTTP schedulers (0.28+) also take --master HOST:PORT[,HOST:PORT...]: no ZooKeeper,
   the first master that answers redirects to the leader)
  tinymesos-scheduler status [--addr 127.0.0.1:8080]
  tinymesos-scheduler version";

/// Where the scheduler finds the leading master.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MasterSpec {
    /// Detect the leader through ZooKeeper.
    Zk(ZkUrl),
    /// Ask these masters (`host:port`) in turn; a non-leader redirects
    /// (v1 HTTP schedulers only).
    Direct(Vec<String>),
}

pub struct Opts {
    pub master: MasterSpec,
    pub hostname: String,
    pub port: u16,
    pub name: String,
    pub long: u32,
    /// At most this many long-running tasks on one agent (0: no limit), the way a framework spreads
    /// replicas over machines (Marathon's `hostname:UNIQUE`).
    pub long_per_agent: u32,
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
        let master = f
            .opt("master")
            .or_else(|| f.opt("zk"))
            .ok_or("--master zk://HOST:PORT/PATH is required")?;
        let master = if master.starts_with("zk://") {
            MasterSpec::Zk(ZkUrl::parse(&master)?)
        } else {
            let addrs = master
                .split(',')
                .map(|a| {
                    crate::flags::host_port(a.trim().trim_start_matches("http://"))
                        .map(|(h, p)| format!("{h}:{p}"))
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("--master: {e} (expected zk://... or HOST:PORT)"))?;
            MasterSpec::Direct(addrs)
        };
        let o = Opts {
            master,
            hostname: f
                .opt("hostname")
                .or_else(|| std::env::var("HOSTNAME").ok())
                .unwrap_or_else(|| "localhost".into()),
            port: f.num("port", 8080u16)?,
            name: f.string("name", "tinymesos-test"),
            long: f.num("long", 2u32)?,
            long_per_agent: f.num("long_per_agent", 0u32)?,
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

    /// The short tasks, for the start-up line.
    pub fn short_text(&self) -> String {
        if self.short_every.is_zero() {
            "no short tasks".to_string()
        } else {
            format!(
                "a {:?} task every {:?}",
                self.short_duration, self.short_every
            )
        }
    }

    /// How the master is named in the start-up line.
    pub fn master_text(&self) -> String {
        match &self.master {
            MasterSpec::Zk(zk) => format!("zk://{}{}", zk.hosts.join(","), zk.path),
            MasterSpec::Direct(a) => a.join(","),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Long(u32),
    Short,
}

#[derive(Debug, Clone)]
pub(crate) struct SchedTask {
    pub kind: Kind,
    pub state: String,
    pub launched_at: Instant,
    pub agent_id: String,
    pub got_update: bool,
    /// Killed on purpose to move it off an agent going into maintenance:
    /// its end is a move, not a long task ending.
    pub moving: bool,
    /// When the last KILL for it was sent.
    pub kill_sent: Option<Instant>,
}

impl SchedTask {
    pub fn active(&self) -> bool {
        !is_terminal(&self.state) && self.state != "LAUNCH_TIMEOUT"
    }
}

/// How recent a finished task must be for `/status` to call the framework progressing.
pub(crate) const PROGRESS_WINDOW: Duration = Duration::from_secs(10);

#[derive(Default)]
pub(crate) struct Counts {
    pub launched: u64,
    pub finished: u64,
    pub failed: u64,
    pub lost: u64,
    pub killed: u64,
    pub launch_timeouts: u64,
    pub long_ended: u64,
    pub offers: u64,
    pub declined: u64,
    pub updates: u64,
    pub acks: u64,
    pub inverse_received: u64,
    pub inverse_accepted: u64,
    pub moved: u64,
}

/// An inverse offer being honoured: the long tasks on its agent are being
/// moved elsewhere; it is accepted once they are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct PendingInverse {
    /// The inverse offer to answer (`None` after it was rescinded: the
    /// moves go on, the next inverse offer for the agent is answered).
    pub id: Option<String>,
    /// Long-task slots moved off the agent.
    pub moved_slots: BTreeSet<u32>,
}

/// One task to launch.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Launch {
    pub id: String,
    pub kind: Kind,
    /// Seconds; 0 runs until killed.
    pub duration: f64,
}

pub(crate) struct State {
    pub subscribed: bool,
    pub aborted: bool,
    pub framework_id: Option<String>,
    pub leader: Option<MasterInfo>,
    pub detect_error: Option<String>,
    pub reg_next: Instant,
    pub reg_backoff: Duration,
    pub reg_attempts: u32,
    pub registrations: u64,
    pub reregistrations: u64,
    pub tasks: BTreeMap<String, SchedTask>,
    pub done: VecDeque<String>,
    pub next_task: u64,
    pub last_short: Option<Instant>,
    pub counts: Counts,
    pub errors: VecDeque<String>,
    pub last_error: Option<String>,
    pub first_running_after: Option<f64>,
    /// When a task last reached TASK_FINISHED: whether the framework makes progress, not only stays
    /// subscribed.
    pub last_finished: Option<Instant>,
    /// Inverse offers being honoured, by agent id (v1 schedulers).
    pub inverse: BTreeMap<String, PendingInverse>,
    /// The driver logged that it ignores inverse offers.
    pub told_ignoring_inverse: bool,
}

impl State {
    pub fn new() -> State {
        State {
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
            last_finished: None,
            inverse: BTreeMap::new(),
            told_ignoring_inverse: false,
        }
    }

    pub fn error(&mut self, msg: String) {
        say!("error: {msg}");
        self.errors
            .push_back(format!("{} {msg}", crate::timestamp()));
        while self.errors.len() > 20 {
            self.errors.pop_front();
        }
        self.last_error = Some(msg);
    }

    /// The tasks to launch on an offer of `cpus` and `mem` from `agent`:
    /// every free long slot (at most `--long_per_agent` long tasks on the
    /// agent), then a short task if one is due, as far as the resources go.
    /// Nothing at all on an agent that is not `available` (its machine is
    /// scheduled for maintenance): a task there would be lost when it goes
    /// down.
    pub fn plan_offer(
        &mut self,
        opts: &Opts,
        run: &str,
        agent: &str,
        mut cpus: f64,
        mut mem: f64,
        available: bool,
    ) -> Vec<Launch> {
        let (tc, tm) = (opts.task_cpus, opts.task_mem);
        let fits = |c: f64, m: f64| c >= tc - 1e-9 && m >= tm - 1e-9;
        let mut launch = Vec::new();
        if !available {
            return launch;
        }
        let mut long_here = self
            .tasks
            .values()
            .filter(|t| matches!(t.kind, Kind::Long(_)) && t.active() && !t.moving)
            .filter(|t| t.agent_id == agent)
            .count() as u32;
        for slot in 0..opts.long {
            if opts.long_per_agent > 0 && long_here >= opts.long_per_agent {
                break;
            }
            let busy = self
                .tasks
                .values()
                .any(|t| t.kind == Kind::Long(slot) && t.active() && !t.moving);
            if !busy && fits(cpus, mem) {
                long_here += 1;
                self.next_task += 1;
                launch.push(Launch {
                    id: format!("long-{slot}-{}-{run}", self.next_task),
                    kind: Kind::Long(slot),
                    duration: 0.0,
                });
                cpus -= tc;
                mem -= tm;
            }
        }
        let due = !opts.short_every.is_zero()
            && self.last_short.is_none_or(|t| {
                t.elapsed() >= opts.short_every.saturating_sub(Duration::from_millis(100))
            });
        if due && fits(cpus, mem) {
            self.next_task += 1;
            launch.push(Launch {
                id: format!("short-{}-{run}", self.next_task),
                kind: Kind::Short,
                duration: opts.short_duration.as_secs_f64(),
            });
            self.last_short = Some(Instant::now());
        }
        launch
    }

    /// Records a launch about to be sent.
    pub fn record_launch(&mut self, l: &Launch, agent: &str, offer_id: &str) {
        say!(
            "Launching task {} ({}) on agent {agent} with offer {offer_id}",
            l.id,
            if l.duration > 0.0 {
                format!("short, {}s", l.duration)
            } else {
                "long-running".to_string()
            }
        );
        self.counts.launched += 1;
        self.tasks.insert(
            l.id.clone(),
            SchedTask {
                kind: l.kind,
                state: "TASK_STAGING".into(),
                launched_at: Instant::now(),
                agent_id: agent.to_string(),
                got_update: false,
                moving: false,
                kill_sent: None,
            },
        );
    }

    /// Records a status update (counted once per task and state). A long
    /// task that ends counts in `long_ended`, unless it was killed to move
    /// it (then it counts in `tasks_moved`).
    pub fn record_update(
        &mut self,
        start: Instant,
        id: &str,
        state: &str,
        agent: &str,
        message: &str,
    ) {
        self.counts.updates += 1;
        let seen_done = self.done.iter().any(|d| d == id);
        let prev = self.tasks.get(id).map(|t| t.state.clone());
        if seen_done || prev.as_deref() == Some(state) {
            return;
        }
        say!(
            "Status update: task {id} is now {state} (agent {agent}){}",
            if message.is_empty() {
                String::new()
            } else {
                format!(": {message}")
            }
        );
        if state == "TASK_RUNNING" && self.first_running_after.is_none() {
            self.first_running_after = Some(start.elapsed().as_secs_f64());
        }
        match state {
            "TASK_FINISHED" => {
                self.counts.finished += 1;
                self.last_finished = Some(Instant::now());
            }
            "TASK_FAILED" | "TASK_ERROR" => self.counts.failed += 1,
            "TASK_LOST" => self.counts.lost += 1,
            "TASK_KILLED" => self.counts.killed += 1,
            _ => {}
        }
        if is_terminal(state) {
            let moving = self.tasks.get(id).is_some_and(|t| t.moving);
            if moving {
                self.counts.moved += 1;
                say!("Task {id} left agent {agent} ({state}); it is relaunched elsewhere");
            } else if matches!(parse_kind(id), Kind::Long(_)) {
                self.counts.long_ended += 1;
            }
            self.tasks.remove(id);
            self.done.push_back(id.to_string());
        } else {
            let t = self
                .tasks
                .entry(id.to_string())
                .or_insert_with(|| SchedTask {
                    kind: parse_kind(id),
                    state: state.to_string(),
                    launched_at: Instant::now(),
                    agent_id: agent.to_string(),
                    got_update: true,
                    moving: false,
                    kill_sent: None,
                });
            t.state = state.to_string();
            t.got_update = true;
            if !agent.is_empty() {
                t.agent_id = agent.to_string();
            }
        }
    }

    /// Gives up on launches that never got an update.
    pub fn expire_launches(&mut self, timeout: Duration) {
        let stuck: Vec<String> = self
            .tasks
            .iter()
            .filter(|(_, t)| {
                t.state == "TASK_STAGING" && !t.got_update && t.launched_at.elapsed() > timeout
            })
            .map(|(id, _)| id.clone())
            .collect();
        for id in stuck {
            self.counts.launch_timeouts += 1;
            self.error(format!(
                "task {id}: no status update within {timeout:?} of launching it (the master may have dropped the launch)"
            ));
            self.done.push_back(id.clone());
            self.tasks.remove(&id);
        }
        while self.done.len() > 2000 {
            self.done.pop_front();
        }
    }

    /// Long tasks in TASK_RUNNING, by agent id.
    pub fn long_by_agent(&self) -> BTreeMap<String, u64> {
        let mut m = BTreeMap::new();
        for t in self.tasks.values() {
            if matches!(t.kind, Kind::Long(_)) && t.state == "TASK_RUNNING" {
                *m.entry(t.agent_id.clone()).or_insert(0) += 1;
            }
        }
        m
    }

    /// The `/status` fields every scheduler has.
    pub fn status_json(&self, caps: &Caps, opts: &Opts, pid: &str, start_time: f64) -> Value {
        let n = |s: &str| self.tasks.values().filter(|t| t.state == s).count();
        let long_running = self
            .tasks
            .values()
            .filter(|t| matches!(t.kind, Kind::Long(_)) && t.state == "TASK_RUNNING")
            .count();
        let c = &self.counts;
        json!({
            "release": caps.release,
            "version": caps.version(),
            "api": match caps.scheduler_api {
                SchedulerApi::Driver => "driver",
                SchedulerApi::V1Http => "v1",
            },
            "pid": pid,
            "subscribed": self.subscribed,
            "aborted": self.aborted,
            "framework_id": self.framework_id,
            "leader": self.leader.as_ref().map(|l| l.hostname.clone()),
            "leader_pid": self.leader.as_ref().map(|l| l.pid.clone()),
            "launch_protocol": match (caps.scheduler_api, caps.launch) {
                (SchedulerApi::V1Http, _) => "v1/ACCEPT",
                (_, LaunchProtocol::LaunchTasksMessage) => "LaunchTasksMessage",
                (_, LaunchProtocol::AcceptCall) => "Call/ACCEPT",
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
            // Progress: a task finished within PROGRESS_WINDOW (short tasks finish every
            // `--short_every` while offers, launches and updates all work).
            "finished_recently": self
                .last_finished
                .is_some_and(|t| t.elapsed() <= PROGRESS_WINDOW),
            "seconds_since_finished": self.last_finished.map(|t| t.elapsed().as_secs_f64()),
            "long_running": long_running,
            "long_ended": c.long_ended,
            "long_target": opts.long,
            "long_by_agent": self.long_by_agent(),
            "tasks_moved": c.moved,
            "inverse_offers": {
                "received": c.inverse_received,
                "accepted": c.inverse_accepted,
                "pending": self.inverse.values().filter(|p| p.id.is_some()).count(),
            },
            "offers_received": c.offers,
            "offers_declined": c.declined,
            "updates_received": c.updates,
            "acknowledgements_sent": c.acks,
            "registrations": self.registrations,
            "reregistrations": self.reregistrations,
            "first_task_running_after_secs": self.first_running_after,
            "uptime_secs": now_secs() - start_time,
            "detector_error": self.detect_error,
            "errors": self.errors,
            "last_error": self.last_error,
        })
    }
}

/// A launch as an internal task description (what [`crate::v1::task_info`]
/// and the libprocess messages take).
pub(crate) fn internal_task(opts: &Opts, l: &Launch, agent: &str) -> Value {
    json!({
        "task_id": l.id, "name": format!("{} {}", opts.name, l.id), "slave_id": agent,
        "resources": {"cpus": opts.task_cpus, "mem": opts.task_mem},
        "command": {"duration": l.duration},
    })
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
        let MasterSpec::Zk(zk) = opts.master.clone() else {
            say!(
                "The scheduler driver of release {} needs --master zk://HOST:PORT/PATH",
                caps.release
            );
            return 64;
        };
        let me = Pid::new("scheduler(1)", &opts.hostname, opts.port);
        say!(
            "tinymesos scheduler {} starting (scheduler driver): framework '{}', master {}, {} long tasks, {}",
            caps.version(),
            opts.name,
            opts.master_text(),
            opts.long,
            opts.short_text()
        );
        let s = Arc::new(Scheduler {
            outbox: Outbox::new(me.clone()),
            caps: caps.clone(),
            me,
            state: Mutex::new(State::new()),
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
        let election = Election::start(zk, caps, None, s.opts.zk_session_timeout);
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
            st.expire_launches(self.opts.launch_timeout);
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
        let mut v = st.status_json(
            &self.caps,
            &self.opts,
            &self.me.to_string(),
            self.start_time,
        );
        v["stream_id"] = json!(false);
        v
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
                // Mesos's scheduler driver never hands inverse offers to
                // the scheduler: they are dropped here.
                let inverse = b["inverse_offers"].as_array().map_or(0, Vec::len);
                if inverse > 0 {
                    st.counts.inverse_received += inverse as u64;
                    if !st.told_ignoring_inverse {
                        st.told_ignoring_inverse = true;
                        say!("Ignoring {inverse} inverse offer(s) from {from_s}: the scheduler driver does not support inverse offers (logged once)");
                    }
                }
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
        // The driver knows nothing of maintenance: `unavailability` is not
        // looked at.
        let launch = st.plan_offer(
            &self.opts,
            &self.run,
            &o.s("slave_id"),
            o.f("/resources/cpus"),
            o.f("/resources/mem"),
            true,
        );
        if launch.is_empty() {
            self.decline(st, master, &fw, &offer_id);
            return;
        }
        let infos: Vec<Value> = launch
            .iter()
            .map(|l| internal_task(&self.opts, l, &agent))
            .collect();
        for l in &launch {
            st.record_launch(l, &agent, &offer_id);
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
        st.record_update(self.start, &id, &state, &agent, &u.s("message"));
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
pub(crate) fn parse_kind(id: &str) -> Kind {
    id.strip_prefix("long-")
        .and_then(|r| r.split('-').next())
        .and_then(|s| s.parse().ok())
        .map_or(Kind::Short, Kind::Long)
}

pub fn main(args: &[String]) -> i32 {
    // `status [--addr A]` is `get /status [--addr A]`.
    let args: Vec<String> = match args.first().map(String::as_str) {
        Some("status") => ["get", "/status"]
            .iter()
            .map(|s| s.to_string())
            .chain(args[1..].iter().cloned())
            .collect(),
        _ => args.to_vec(),
    };
    crate::cli_main(&args, USAGE, 8080, |a| {
        Opts::parse(a).map(|o| match Caps::built().scheduler_api {
            SchedulerApi::Driver => Scheduler::run(o),
            SchedulerApi::V1Http => crate::scheduler_v1::V1Scheduler::run(o),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    fn opts(long: u32) -> Opts {
        let mut o = Opts::parse(&args(&["--master", "m:5050", "--hostname", "s"])).unwrap();
        o.long = long;
        o
    }

    #[test]
    fn task_kinds() {
        assert_eq!(parse_kind("long-1-17"), Kind::Long(1));
        assert_eq!(parse_kind("short-3"), Kind::Short);
        assert_eq!(parse_kind("long-0-4-1a2b3c4d"), Kind::Long(0));
        assert_eq!(parse_kind("short-5-1a2b3c4d"), Kind::Short);
    }

    #[test]
    fn master_flag_forms() {
        let o = Opts::parse(&args(&["--master", "zk://z:2181/mesos"])).unwrap();
        assert!(matches!(o.master, MasterSpec::Zk(ref z) if z.path == "/mesos"));
        let o = Opts::parse(&args(&["--zk", "zk://z:2181/mesos"])).unwrap();
        assert!(matches!(o.master, MasterSpec::Zk(_)));
        let o = Opts::parse(&args(&["--master", "master-0:5050,http://master-1:5050"])).unwrap();
        assert_eq!(
            o.master,
            MasterSpec::Direct(vec!["master-0:5050".into(), "master-1:5050".into()])
        );
        assert!(Opts::parse(&args(&["--master", "master-0"])).is_err());
        assert!(Opts::parse(&args(&[])).is_err());
    }

    #[test]
    fn plans_long_slots_then_a_short_task() {
        let o = opts(2);
        let mut st = State::new();
        let l = st.plan_offer(&o, "r", "A", 1.0, 100.0, true);
        let kinds: Vec<Kind> = l.iter().map(|l| l.kind).collect();
        assert_eq!(kinds, [Kind::Long(0), Kind::Long(1), Kind::Short]);
        for x in &l {
            st.record_launch(x, "A", "o1");
        }
        // Slots busy, short not due yet: nothing.
        assert!(st.plan_offer(&o, "r", "A", 1.0, 100.0, true).is_empty());
        // Not enough resources for two.
        let mut st = State::new();
        assert_eq!(st.plan_offer(&o, "r", "A", 0.3, 100.0, true).len(), 1);
        // Nothing on an agent about to go down.
        let mut st = State::new();
        assert!(st.plan_offer(&o, "r", "A", 1.0, 100.0, false).is_empty());
    }

    #[test]
    fn spreads_long_tasks_when_asked() {
        let mut o = opts(2);
        o.long_per_agent = 1;
        o.short_every = Duration::ZERO;
        let mut st = State::new();
        let l = st.plan_offer(&o, "r", "A", 1.0, 100.0, true);
        assert_eq!(l.len(), 1, "one long task on A");
        st.record_launch(&l[0], "A", "o1");
        assert!(st.plan_offer(&o, "r", "A", 1.0, 100.0, true).is_empty());
        let l = st.plan_offer(&o, "r", "B", 1.0, 100.0, true);
        assert_eq!(l.len(), 1, "the other on B");
        assert_eq!(l[0].kind, Kind::Long(1));
    }

    #[test]
    fn updates_count_once_and_moves_are_not_endings() {
        let o = opts(2);
        let mut st = State::new();
        let start = Instant::now();
        let l = st.plan_offer(&o, "r", "A", 1.0, 100.0, true);
        for x in &l {
            st.record_launch(x, "A", "o1");
        }
        let (a, b) = (l[0].id.clone(), l[1].id.clone());
        st.record_update(start, &a, "TASK_RUNNING", "A", "");
        st.record_update(start, &a, "TASK_RUNNING", "A", "");
        st.record_update(start, &b, "TASK_RUNNING", "A", "");
        assert_eq!(st.counts.updates, 3);
        assert_eq!(st.long_by_agent().get("A"), Some(&2));
        st.tasks.get_mut(&a).unwrap().moving = true;
        st.record_update(start, &a, "TASK_KILLED", "A", "");
        st.record_update(start, &b, "TASK_LOST", "A", "");
        assert_eq!(st.counts.moved, 1);
        assert_eq!(st.counts.long_ended, 1);
        assert_eq!((st.counts.killed, st.counts.lost), (1, 1));
        // A late duplicate of a terminal update changes nothing.
        st.record_update(start, &a, "TASK_KILLED", "A", "");
        assert_eq!(st.counts.killed, 1);
    }
}
