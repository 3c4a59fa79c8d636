//! The master: contends for leadership in ZooKeeper; the leader registers
//! agents and frameworks, offers agents' free resources to frameworks,
//! launches tasks on agents and forwards status updates. Non-leaders drop
//! messages ("not elected yet") and answer their endpoints honestly.
//!
//! A newly elected master starts empty (there is no replicated registry):
//! it learns agents and their tasks from re-registrations, and frameworks
//! from their re-registration.

use crate::election::{Election, MasterInfo};
use crate::flags::Flags;
use crate::http::Request;
use crate::process::{self, message_of, Get, Message, Outbox, Pid, Reply};
use crate::release::Caps;
use crate::zk::ZkUrl;
use crate::{now_secs, say};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::ToSocketAddrs;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const USAGE: &str = "\
usage:
  tinymesos-master --zk zk://HOST:PORT/PATH [--hostname NAME] [--port 5050]
                   [--work_dir DIR] [--quorum N] [--zk_session_timeout 10secs]
                   [--agent_ping_timeout 15secs] [--offer_timeout 30secs]
                   [--allocation_interval 1secs]
  tinymesos-master get PATH [--addr 127.0.0.1:5050]
  tinymesos-master version";

pub struct Opts {
    pub zk: ZkUrl,
    pub hostname: String,
    pub port: u16,
    pub zk_session_timeout: Duration,
    pub agent_ping_timeout: Duration,
    pub offer_timeout: Duration,
    pub allocation_interval: Duration,
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
        f.finish()?;
        Ok(Opts {
            zk,
            hostname,
            port,
            zk_session_timeout,
            agent_ping_timeout,
            offer_timeout,
            allocation_interval,
        })
    }
}

#[derive(Debug, Clone)]
struct Agent {
    id: String,
    pid: Pid,
    hostname: String,
    cpus: f64,
    mem: f64,
    active: bool,
    missed_pings: u32,
    registered_time: f64,
    reregistered: bool,
}

#[derive(Debug, Clone)]
struct Framework {
    id: String,
    name: String,
    pid: Pid,
    active: bool,
    missed_pings: u32,
    registered_time: f64,
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
    fn json(&self) -> Value {
        json!({
            "id": self.id, "name": self.name, "framework_id": self.framework_id,
            "slave_id": self.agent_id, "state": self.state,
            "resources": {"cpus": self.cpus, "mem": self.mem},
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
    removed_frameworks: BTreeSet<String>,
    next_agent: u64,
    next_framework: u64,
    next_offer: u64,
    round_robin: usize,
    counters: BTreeMap<&'static str, u64>,
}

impl State {
    fn count(&mut self, key: &'static str) {
        *self.counters.entry(key).or_default() += 1;
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
    /// Forgets everything learnt as a leader (counters stay).
    fn reset(&mut self) {
        self.agents.clear();
        self.frameworks.clear();
        self.tasks.clear();
        self.completed.clear();
        self.offers.clear();
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

fn resolve_ip(host: &str, port: u16) -> u32 {
    (host, port)
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.find(|a| a.is_ipv4()))
        .map(|a| match a.ip() {
            std::net::IpAddr::V4(v4) => MasterInfo::ip_from_octets(v4.octets()),
            std::net::IpAddr::V6(_) => 0,
        })
        .unwrap_or(0)
}

fn lost_update(fw: &str, agent: &str, task: &str, message: &str) -> Value {
    json!({
        "framework_id": fw, "slave_id": agent, "task_id": task,
        "state": "TASK_LOST", "message": message, "uuid": "", "timestamp": now_secs(),
    })
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
            .find(|f| f.pid == *pid && f.active)
            .map(|f| f.id.clone());
        if let Some(id) = fw {
            let f = st.frameworks.get_mut(&id).expect("found above");
            f.active = false;
            say!("Framework {id} at {pid} disconnected ('{name}' could not be delivered); deactivating it");
            st.offers.retain(|_, o| o.framework_id != id);
        }
    }

    fn rescind_agent_offers(&self, st: &mut State, agent_id: &str) {
        let offers: Vec<String> = st
            .offers
            .values()
            .filter(|o| o.agent_id == agent_id)
            .map(|o| o.id.clone())
            .collect();
        for o in offers {
            self.rescind(st, &o);
        }
    }

    // ---- HTTP -----------------------------------------------------------

    fn http(&self, req: &Request) -> Reply {
        if let Some(m) = message_of(req, "master") {
            match m {
                Ok(m) => self.receive(m),
                Err(e) => say!("{e}"),
            }
            return Reply::accepted();
        }
        if !self.caps.master_serves(&req.path) {
            return Reply::not_found(&req.path, self.caps.release);
        }
        match req.path.as_str() {
            "/health" | "/master/health" => Reply::text(200, ""),
            "/version" => Reply::json(&json!({
                "version": self.caps.version(), "release": self.caps.release,
                "build_user": "tinymesos",
            })),
            "/master/state.json" => Reply::json(&self.state_json()),
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
        self.remove_framework(&mut st, &id, "Framework removed by the operator");
        Reply::text(200, "")
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
        let (leader, leader_info) = self.leader_fields(&st);
        let slaves: Vec<Value> = st
            .agents
            .values()
            .map(|a| {
                let (uc, um) = st.used(&a.id);
                json!({
                    "id": a.id, "pid": a.pid.to_string(), "hostname": a.hostname,
                    "active": a.active, "registered_time": a.registered_time,
                    "reregistered": a.reregistered,
                    "resources": {"cpus": a.cpus, "mem": a.mem},
                    "used_resources": {"cpus": uc, "mem": um},
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
                    .map(Task::json)
                    .collect();
                let completed: Vec<Value> = st
                    .completed
                    .iter()
                    .filter(|t| t.framework_id == f.id)
                    .map(Task::json)
                    .collect();
                let offers = st
                    .offers
                    .values()
                    .filter(|o| o.framework_id == f.id)
                    .count();
                json!({
                    "id": f.id, "name": f.name, "pid": f.pid.to_string(), "active": f.active,
                    "registered_time": f.registered_time, "tasks": tasks,
                    "completed_tasks": completed, "offers": offers,
                })
            })
            .collect();
        let orphans: Vec<Value> = st
            .tasks
            .values()
            .filter(|t| !st.frameworks.contains_key(&t.framework_id))
            .map(Task::json)
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
            "completed_frameworks": st.removed_frameworks.iter().collect::<Vec<_>>(),
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
        put("master/tasks_staging", state_count("TASK_STAGING") as f64);
        put("master/tasks_starting", state_count("TASK_STARTING") as f64);
        put("master/tasks_running", state_count("TASK_RUNNING") as f64);
        for (k, c) in [
            ("master/tasks_finished", "tasks_finished"),
            ("master/tasks_failed", "tasks_failed"),
            ("master/tasks_killed", "tasks_killed"),
            ("master/tasks_lost", "tasks_lost"),
            ("master/tasks_error", "tasks_error"),
            ("master/dropped_messages", "dropped_messages"),
            ("master/valid_status_updates", "valid_status_updates"),
            ("master/invalid_status_updates", "invalid_status_updates"),
            ("master/slave_registrations", "slave_registrations"),
            ("master/slave_reregistrations", "slave_reregistrations"),
            ("master/slave_removals", "slave_removals"),
            ("master/messages_launch_tasks", "messages_launch_tasks"),
            ("master/messages_decline_offers", "messages_decline_offers"),
        ] {
            put(k, st.counter(c) as f64);
        }
        put("master/outstanding_offers", st.offers.len() as f64);
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
            "mesos.internal.RegisterSlaveMessage" => self.register_agent(&mut st, pid, b),
            "mesos.internal.ReregisterSlaveMessage" => self.reregister_agent(&mut st, pid, b),
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
                if st.frameworks.get(&id).is_some_and(|f| f.pid == pid) {
                    self.remove_framework(&mut st, &id, "Framework unregistered");
                }
            }
            "mesos.internal.LaunchTasksMessage" => {
                st.count("messages_launch_tasks");
                let offers = str_list(&b["offer_ids"]);
                let tasks = b["tasks"].as_array().cloned().unwrap_or_default();
                self.launch(&mut st, &pid, &b.s("framework_id"), &offers, &tasks);
            }
            "mesos.internal.StatusUpdateAcknowledgementMessage" => self.forward_ack(&mut st, b),
            "mesos.scheduler.Call" => self.call(&mut st, &pid, b),
            _ => unreachable!("handles() and receive() disagree"),
        }
    }

    fn register_agent(&self, st: &mut State, pid: Pid, b: &Value) {
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
            hostname: b.s("/slave/hostname"),
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

    fn reregister_agent(&self, st: &mut State, pid: Pid, b: &Value) {
        let id = b.s("slave_id");
        if id.is_empty() {
            say!("Ignoring re-registration from {pid} without an agent id");
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
            hostname: b.s("/slave/hostname"),
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
        let offers: Vec<String> = st
            .offers
            .values()
            .filter(|o| o.agent_id == id)
            .map(|o| o.id.clone())
            .collect();
        for o in offers {
            self.rescind(st, &o);
        }
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
    }

    fn rescind(&self, st: &mut State, offer_id: &str) {
        if let Some(o) = st.offers.remove(offer_id) {
            if let Some(f) = st.frameworks.get(&o.framework_id) {
                self.send(
                    &f.pid,
                    "mesos.internal.RescindResourceOfferMessage",
                    json!({
                        "offer_id": o.id,
                    }),
                );
            }
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
            self.send(
                &f.pid,
                "mesos.internal.StatusUpdateMessage",
                json!({
                    "update": u, "pid": agent_pid,
                }),
            );
        } else if st.removed_frameworks.contains(&fw) && !u.s("uuid").is_empty() {
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
        if let Some(f) = st.frameworks.values().find(|f| f.pid == pid && f.active) {
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
        st.frameworks.insert(
            id.clone(),
            Framework {
                id: id.clone(),
                name,
                pid: pid.clone(),
                active: true,
                missed_pings: 0,
                registered_time: now_secs(),
            },
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
        if st.removed_frameworks.contains(&id) {
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
        let offers: Vec<String> = st
            .offers
            .values()
            .filter(|o| o.framework_id == id)
            .map(|o| o.id.clone())
            .collect();
        for o in offers {
            st.offers.remove(&o);
        }
        let known = st.frameworks.contains_key(&id);
        say!(
            "Re-registered framework {id} ({name}) at {pid}{}",
            if known {
                ""
            } else {
                " (unknown to this master until now)"
            }
        );
        st.frameworks.insert(
            id.clone(),
            Framework {
                id: id.clone(),
                name,
                pid: pid.clone(),
                active: true,
                missed_pings: 0,
                registered_time: now_secs(),
            },
        );
        self.send(
            &pid,
            "mesos.internal.FrameworkReregisteredMessage",
            json!({
                "framework_id": id, "master_info": self.info.to_json(),
            }),
        );
    }

    fn remove_framework(&self, st: &mut State, id: &str, why: &str) {
        let Some(f) = st.frameworks.remove(id) else {
            return;
        };
        say!("Removing framework {id} ({}) at {}: {why}", f.name, f.pid);
        st.removed_frameworks.insert(id.to_string());
        let offers: Vec<String> = st
            .offers
            .values()
            .filter(|o| o.framework_id == id)
            .map(|o| o.id.clone())
            .collect();
        for o in offers {
            st.offers.remove(&o);
        }
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
        self.send(
            &f.pid,
            "mesos.internal.FrameworkErrorMessage",
            json!({"message": why}),
        );
    }

    fn call(&self, st: &mut State, pid: &Pid, b: &Value) {
        let fw = b.s("framework_id");
        match b.s("type").as_str() {
            "ACCEPT" => {
                let offers = str_list(&b["accept"]["offer_ids"]);
                let mut tasks = Vec::new();
                for op in b["accept"]["operations"].as_array().into_iter().flatten() {
                    if op.s("type") == "LAUNCH" {
                        tasks.extend(
                            op["launch"]["task_infos"]
                                .as_array()
                                .cloned()
                                .unwrap_or_default(),
                        );
                    } else {
                        say!("Ignoring unsupported offer operation {}", op.s("type"));
                    }
                }
                st.count("messages_launch_tasks");
                self.launch(st, pid, &fw, &offers, &tasks);
            }
            "DECLINE" => {
                st.count("messages_decline_offers");
                for o in str_list(&b["decline"]["offer_ids"]) {
                    if st.offers.get(&o).is_some_and(|x| x.framework_id == fw) {
                        st.offers.remove(&o);
                    }
                }
            }
            "ACKNOWLEDGE" => {
                let a = &b["acknowledge"];
                let ack = json!({
                    "slave_id": a.s("slave_id"), "framework_id": fw,
                    "task_id": a.s("task_id"), "uuid": a.s("uuid"),
                });
                self.forward_ack(st, &ack);
            }
            other => say!("Ignoring unsupported call type '{other}' from {pid}"),
        }
    }

    fn launch(
        &self,
        st: &mut State,
        pid: &Pid,
        fw_id: &str,
        offer_ids: &[String],
        tasks: &[Value],
    ) {
        let Some(fw) = st.frameworks.get(fw_id).cloned() else {
            say!(
                "Ignoring launch of {} tasks for unknown framework {fw_id} from {pid}",
                tasks.len()
            );
            return;
        };
        if fw.pid != *pid {
            say!(
                "Ignoring launch for framework {fw_id} from {pid}: it is registered at {}",
                fw.pid
            );
            return;
        }
        let mut invalid = None;
        let mut agent_id: Option<String> = None;
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
            if let Some(x) = st.offers.remove(o) {
                cpus += x.cpus;
                mem += x.mem;
            }
        }
        if tasks.is_empty() {
            return;
        }
        let agent = agent_id.and_then(|a| st.agents.get(&a).cloned());
        for t in tasks {
            let tid = t.s("task_id");
            let (tc, tm) = (t.f("/resources/cpus"), t.f("/resources/mem"));
            let problem = if let Some(why) = &invalid {
                Some(format!("Task launched with invalid offers: {why}"))
            } else if agent.is_none() {
                Some("Task launched without offers or on an unknown agent".to_string())
            } else if tc > cpus + 1e-9 || tm > mem + 1e-9 {
                Some("Task uses more resources than available in the offers".to_string())
            } else if st.tasks.contains_key(&(fw_id.to_string(), tid.clone())) {
                Some("Task has duplicate ID".to_string())
            } else {
                None
            };
            let aid = agent.as_ref().map(|a| a.id.clone()).unwrap_or_default();
            if let Some(why) = problem {
                say!("Refusing to launch task {tid} of framework {fw_id}: {why}");
                let u = lost_update(fw_id, &aid, &tid, &why);
                self.send(
                    &fw.pid,
                    "mesos.internal.StatusUpdateMessage",
                    json!({"update": u, "pid": ""}),
                );
                st.count("tasks_lost");
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
                    "pid": fw.pid.to_string(),
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

    /// Pings agents and frameworks; deactivates after 3 misses and removes
    /// agents after `agent_ping_timeout`.
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
                    .map(|f| (f.id.clone(), f.pid.clone(), f.active))
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
                let offers: Vec<String> = st
                    .offers
                    .values()
                    .filter(|o| o.agent_id == *id)
                    .map(|o| o.id.clone())
                    .collect();
                for o in offers {
                    self.rescind(&mut st, &o);
                }
            } else if a.missed_pings >= max_missed {
                remove.push(id.clone());
            }
        }
        for id in remove {
            let why = format!("health check timed out (no answer to {max_missed} pings)");
            self.remove_agent(&mut st, &id, &why);
        }
        for ((id, pid, _), ok) in fws.iter().zip(fw_ok) {
            let Some(f) = st.frameworks.get_mut(id).filter(|f| f.pid == *pid) else {
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
                let offers: Vec<String> = st
                    .offers
                    .values()
                    .filter(|o| o.framework_id == *id)
                    .map(|o| o.id.clone())
                    .collect();
                for o in offers {
                    st.offers.remove(&o);
                }
            }
        }
    }

    fn allocate(&self) {
        let mut st = self.state.lock().unwrap();
        if !st.elected {
            return;
        }
        // Rescind offers nobody answered.
        let expired: Vec<String> = st
            .offers
            .values()
            .filter(|o| o.created.elapsed() >= self.opts.offer_timeout)
            .map(|o| o.id.clone())
            .collect();
        for o in expired {
            say!(
                "Rescinding offer {o}: not answered within {:?}",
                self.opts.offer_timeout
            );
            self.rescind(&mut st, &o);
        }
        let fws: Vec<Framework> = st
            .frameworks
            .values()
            .filter(|f| f.active)
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
                    created: Instant::now(),
                },
            );
            self.send(
                &f.pid,
                "mesos.internal.ResourceOffersMessage",
                json!({
                    "offers": [{
                        "id": id, "framework_id": f.id, "slave_id": a.id, "hostname": a.hostname,
                        "resources": {"cpus": cpus, "mem": mem},
                    }],
                    "pids": [a.pid.to_string()],
                }),
            );
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
    match args.first().map(String::as_str) {
        Some("get") => {
            let Some(path) = args.get(1) else {
                eprintln!("{USAGE}");
                return 64;
            };
            let addr = match args.get(2..4) {
                Some([flag, a]) if flag == "--addr" => a.clone(),
                _ => "127.0.0.1:5050".to_string(),
            };
            crate::get_command(&addr, path)
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
            Ok(o) => Master::run(o),
            Err(e) => {
                eprintln!("error: {e}\n{USAGE}");
                64
            }
        },
    }
}
