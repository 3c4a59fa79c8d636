//! The executor: its own container, connected to one agent by name. It
//! runs each task as a child process (its own binary re-executed as
//! `tinymesos-executor task --duration D`), reports status updates to the
//! agent and keeps them until the agent acknowledges them. When the agent
//! goes away the tasks keep running; the executor re-registers (with its
//! tasks and unacknowledged updates) as soon as the agent is back.

use crate::flags::{host_port, Flags};
use crate::http::{self, Request};
use crate::master::is_terminal;
use crate::process::{self, message_of, Get, Message, Outbox, Pid, Reply};
use crate::release::Caps;
use crate::{now_secs, say};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const USAGE: &str = "\
usage:
  tinymesos-executor --agent HOST:PORT [--hostname NAME] [--port 5052]
                     [--executor_id default] [--recovery_timeout 15mins]
  tinymesos-executor task --id ID --duration SECS     (0: run until killed)
  tinymesos-executor get PATH [--addr 127.0.0.1:5052]
  tinymesos-executor version";

pub struct Opts {
    pub agent: Pid,
    pub hostname: String,
    pub port: u16,
    pub executor_id: String,
    pub recovery_timeout: Duration,
}

impl Opts {
    pub fn parse(args: &[String]) -> Result<Opts, String> {
        let mut f = Flags::parse(args)?;
        let (host, port) = host_port(&f.required("agent")?)?;
        let hostname = f
            .opt("hostname")
            .or_else(|| std::env::var("HOSTNAME").ok())
            .unwrap_or_else(|| "localhost".into());
        let o = Opts {
            agent: Pid::new("slave(1)", &host, port),
            hostname,
            port: f.num("port", 5052u16)?,
            executor_id: f.string("executor_id", "default"),
            recovery_timeout: f.duration("recovery_timeout", Duration::from_secs(900))?,
        };
        f.finish()?;
        Ok(o)
    }
}

struct ExecTask {
    task: Value,
    state: String,
    child: Option<Child>,
    killing: bool,
    started: f64,
}

struct State {
    registered: bool,
    ever_registered: bool,
    agent_id: Option<String>,
    tasks: BTreeMap<(String, String), ExecTask>,
    /// Updates sent but not yet acknowledged by the agent, by uuid.
    unacked: BTreeMap<String, (Value, Instant)>,
    disconnected_since: Option<Instant>,
    reg_next: Instant,
    reg_attempts: u32,
    registrations: u64,
    reregistrations: u64,
    /// Sequence number of the last RunTaskMessage received from the agent
    /// (reported when (re-)registering: the snapshot of tasks is as of it).
    last_launch_seq: Option<u64>,
    counters: BTreeMap<&'static str, u64>,
}

pub struct Executor {
    caps: Caps,
    opts: Opts,
    me: Pid,
    /// Identifies this executor process to the agent.
    run: String,
    outbox: Arc<Outbox>,
    state: Mutex<State>,
    start_time: f64,
}

impl Executor {
    pub fn run(opts: Opts) -> i32 {
        let caps = Caps::built();
        let me = Pid::new("executor(1)", &opts.hostname, opts.port);
        say!(
            "tinymesos executor {} starting: id '{}', agent {}",
            caps.version(),
            opts.executor_id,
            opts.agent
        );
        let e = Arc::new(Executor {
            outbox: Outbox::new(me.clone()),
            caps,
            me,
            state: Mutex::new(State {
                registered: false,
                ever_registered: false,
                agent_id: None,
                tasks: BTreeMap::new(),
                unacked: BTreeMap::new(),
                disconnected_since: None,
                reg_next: Instant::now(),
                reg_attempts: 0,
                registrations: 0,
                reregistrations: 0,
                last_launch_seq: None,
                counters: BTreeMap::new(),
            }),
            run: crate::uuid(),
            start_time: now_secs(),
            opts,
        });
        let h = Arc::clone(&e);
        if let Err(err) = process::serve(e.opts.port, Arc::new(move |req| h.http(req))) {
            say!("Failed to bind port {}: {err}", e.opts.port);
            return 1;
        }
        say!("executor listening on {} as {}", e.opts.port, e.me);
        let k = Arc::clone(&e);
        crate::install_shutdown(move || {
            let mut st = k.state.lock().unwrap();
            for t in st.tasks.values_mut() {
                if let Some(c) = t.child.as_mut() {
                    let _ = c.kill();
                }
            }
        });
        let x = Arc::clone(&e);
        std::thread::Builder::new()
            .name("agent-health".into())
            .spawn(move || x.agent_health())
            .expect("spawn");
        e.main_loop()
    }

    fn send(&self, name: &str, body: Value) {
        self.outbox.send(&self.opts.agent, name, body);
    }

    fn main_loop(&self) -> i32 {
        loop {
            std::thread::sleep(Duration::from_millis(200));
            let mut st = self.state.lock().unwrap();
            self.reap(&mut st);
            let now = Instant::now();
            if !st.registered && now >= st.reg_next {
                st.reg_attempts += 1;
                st.reg_next = now + Duration::from_secs(1);
                if st.ever_registered {
                    if st.reg_attempts == 1 {
                        say!("Re-registering with agent {}", self.opts.agent);
                    }
                    let tasks: Vec<Value> = st
                        .tasks
                        .iter()
                        .map(|((fw, id), t)| json!({"framework_id": fw, "task_id": id, "state": t.state}))
                        .collect();
                    let updates: Vec<Value> = st.unacked.values().map(|(u, _)| u.clone()).collect();
                    self.send("mesos.internal.ReregisterExecutorMessage", json!({
                        "executor_id": self.opts.executor_id, "tasks": tasks, "updates": updates,
                        "executor_run": self.run, "last_launch_seq": st.last_launch_seq,
                    }));
                } else {
                    if st.reg_attempts == 1 {
                        say!("Registering with agent {}", self.opts.agent);
                    }
                    self.send(
                        "mesos.internal.RegisterExecutorMessage",
                        json!({
                            "executor_id": self.opts.executor_id,
                            "executor_run": self.run, "last_launch_seq": st.last_launch_seq,
                        }),
                    );
                }
            }
            if st.registered {
                let due: Vec<Value> = st
                    .unacked
                    .values_mut()
                    .filter(|(_, t)| t.elapsed() > Duration::from_secs(10))
                    .map(|(u, t)| {
                        *t = Instant::now();
                        u.clone()
                    })
                    .collect();
                for u in due {
                    self.send("mesos.internal.StatusUpdateMessage", json!({"update": u}));
                }
            }
            if let Some(since) = st.disconnected_since {
                if since.elapsed() > self.opts.recovery_timeout {
                    say!(
                        "Agent did not come back within {:?}; killing {} tasks",
                        self.opts.recovery_timeout,
                        st.tasks.len()
                    );
                    for t in st.tasks.values_mut() {
                        if let Some(c) = t.child.as_mut() {
                            let _ = c.kill();
                            let _ = c.wait();
                        }
                    }
                    st.tasks.clear();
                    st.unacked.clear();
                    st.ever_registered = false;
                    st.disconnected_since = None;
                }
            }
        }
    }

    fn reap(&self, st: &mut State) {
        let mut updates = Vec::new();
        for ((fw, id), t) in st.tasks.iter_mut() {
            let Some(child) = t.child.as_mut() else {
                continue;
            };
            let Ok(Some(status)) = child.try_wait() else {
                continue;
            };
            t.child = None;
            let state = if t.killing {
                "TASK_KILLED"
            } else if status.success() {
                "TASK_FINISHED"
            } else {
                "TASK_FAILED"
            };
            say!("Task {id} exited ({status}): {state}");
            t.state = state.to_string();
            updates.push((
                fw.clone(),
                id.clone(),
                state,
                format!("Command exited: {status}"),
            ));
        }
        for (fw, id, state, msg) in updates {
            self.update(st, &fw, &id, state, &msg);
        }
    }

    fn update(&self, st: &mut State, fw: &str, task: &str, state: &str, message: &str) {
        let u = json!({
            "framework_id": fw, "task_id": task, "state": state, "message": message,
            "uuid": crate::uuid(), "timestamp": now_secs(),
            "executor_id": self.opts.executor_id,
        });
        st.unacked.insert(u.s("uuid"), (u.clone(), Instant::now()));
        *st.counters
            .entry(match state {
                "TASK_RUNNING" => "tasks_started",
                "TASK_FINISHED" => "tasks_finished",
                "TASK_FAILED" => "tasks_failed",
                "TASK_KILLED" => "tasks_killed",
                _ => "tasks_other",
            })
            .or_default() += 1;
        if st.registered {
            self.send("mesos.internal.StatusUpdateMessage", json!({"update": u}));
        }
    }

    fn agent_health(&self) {
        let mut misses = 0;
        loop {
            std::thread::sleep(Duration::from_secs(1));
            let ok = http::request(
                &self.opts.agent.addr(),
                "GET",
                "/health",
                &[],
                None,
                Duration::from_secs(1),
            )
            .is_ok_and(|r| r.status == 200);
            misses = if ok { 0 } else { misses + 1 };
            if misses == 2 {
                let mut st = self.state.lock().unwrap();
                if st.registered {
                    st.registered = false;
                    st.reg_attempts = 0;
                    st.disconnected_since = Some(Instant::now());
                    let running = st.tasks.values().filter(|t| t.child.is_some()).count();
                    say!(
                        "Agent {} disconnected; waiting for it to come back ({running} tasks keep running)",
                        self.opts.agent
                    );
                }
            }
        }
    }

    fn http(&self, req: &Request) -> Reply {
        if let Some(m) = message_of(req, "executor(1)") {
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
            "/state" | "/state.json" => Reply::json(&self.state_json()),
            _ => Reply::not_found(&req.path, self.caps.release),
        }
    }

    fn state_json(&self) -> Value {
        let st = self.state.lock().unwrap();
        let c = |k: &str| st.counters.get(k).copied().unwrap_or(0);
        let tasks: Vec<Value> = st
            .tasks
            .iter()
            .map(|((fw, id), t)| {
                json!({
                    "id": id, "framework_id": fw, "state": t.state,
                    "pid": t.child.as_ref().map(Child::id), "started": t.started,
                    "duration": t.task["command"]["duration"],
                })
            })
            .collect();
        json!({
            "version": self.caps.version(),
            "release": self.caps.release,
            "executor_id": self.opts.executor_id,
            "pid": self.me.to_string(),
            "agent": self.opts.agent.to_string(),
            "agent_id": st.agent_id,
            "registered": st.registered,
            "registrations": st.registrations,
            "reregistrations": st.reregistrations,
            "start_time": self.start_time,
            "tasks": tasks,
            "tasks_running": st.tasks.values().filter(|t| t.child.is_some()).count(),
            "tasks_started": c("tasks_started"),
            "tasks_finished": c("tasks_finished"),
            "tasks_failed": c("tasks_failed"),
            "tasks_killed": c("tasks_killed"),
            "unacknowledged_updates": st.unacked.len(),
            "run": self.run,
            "last_launch_seq": st.last_launch_seq,
        })
    }

    fn receive(&self, m: Message) {
        let from = m
            .from
            .as_ref()
            .map_or_else(|| "(unknown)".to_string(), Pid::to_string);
        let b = &m.body;
        let mut st = self.state.lock().unwrap();
        match m.name.as_str() {
            "mesos.internal.ExecutorRegisteredMessage"
            | "mesos.internal.ExecutorReregisteredMessage" => {
                let re = m.name.ends_with("ReregisteredMessage");
                if let Some(id) = b["slave_id"].as_str() {
                    st.agent_id = Some(id.to_string());
                }
                if st.registered && !re {
                    return;
                }
                let was_registered = st.registered;
                st.registered = true;
                st.reg_attempts = 0;
                st.disconnected_since = None;
                let id = st
                    .agent_id
                    .clone()
                    .unwrap_or_else(|| "(not yet registered)".into());
                if re {
                    if !was_registered {
                        st.reregistrations += 1;
                        let running = st.tasks.values().filter(|t| t.child.is_some()).count();
                        say!("executor registered with agent {from} (agent id {id}; re-registered, {running} tasks kept running)");
                    }
                } else {
                    st.registrations += 1;
                    st.ever_registered = true;
                    say!("executor registered with agent {from} (agent id {id})");
                }
                // Re-send what is still unacknowledged.
                let pending: Vec<Value> = st.unacked.values().map(|(u, _)| u.clone()).collect();
                for u in pending {
                    self.send("mesos.internal.StatusUpdateMessage", json!({"update": u}));
                }
            }
            "mesos.internal.ReconnectExecutorMessage" => {
                say!("Received reconnect request from agent {from}");
                st.registered = false;
                st.reg_attempts = 0;
                st.reg_next = Instant::now();
                if st.disconnected_since.is_none() {
                    st.disconnected_since = Some(Instant::now());
                }
            }
            "mesos.internal.RunTaskMessage" => self.launch(&mut st, b),
            "mesos.internal.KillTaskMessage" => {
                let k = (b.s("framework_id"), b.s("task_id"));
                match st.tasks.get_mut(&k) {
                    Some(t) => {
                        if let Some(c) = t.child.as_ref() {
                            say!("Killing task {}", k.1);
                            t.killing = true;
                            // SAFETY: plain kill(2) on our own child's pid.
                            unsafe {
                                libc::kill(c.id() as libc::pid_t, libc::SIGTERM);
                            }
                        }
                    }
                    None => say!("Asked to kill unknown task {}", k.1),
                }
            }
            "mesos.internal.StatusUpdateAcknowledgementMessage" => {
                let uuid = b.s("uuid");
                if let Some((u, _)) = st.unacked.remove(&uuid) {
                    let k = (u.s("framework_id"), u.s("task_id"));
                    let done = st
                        .tasks
                        .get(&k)
                        .is_some_and(|t| is_terminal(&t.state) && t.child.is_none());
                    let more = st
                        .unacked
                        .values()
                        .any(|(x, _)| x.s("task_id") == k.1 && x.s("framework_id") == k.0);
                    if done && !more {
                        st.tasks.remove(&k);
                    }
                }
            }
            other => say!("Dropping unknown message '{other}' from {from}: no handler installed"),
        }
    }

    fn launch(&self, st: &mut State, b: &Value) {
        let task = b["task"].clone();
        let fw = b.s("framework_id");
        let id = task.s("task_id");
        if let Some(seq) = b["launch_seq"].as_u64() {
            st.last_launch_seq = Some(seq);
        }
        if st.tasks.contains_key(&(fw.clone(), id.clone())) {
            say!("Ignoring duplicate launch of task {id}");
            return;
        }
        let duration = task["command"]["duration"].as_f64().unwrap_or(0.0);
        let exe = std::env::current_exe().unwrap_or_else(|_| "/tinymesos-executor".into());
        let spawned = Command::new(exe)
            .args(["task", "--id", &id, "--duration", &duration.to_string()])
            .stdin(Stdio::null())
            .spawn();
        let (state, child, msg) = match spawned {
            Ok(c) => {
                say!(
                    "Launched task {id} of framework {fw} as process {} (duration {duration}s)",
                    c.id()
                );
                ("TASK_RUNNING", Some(c), String::new())
            }
            Err(e) => {
                say!("Failed to launch task {id}: {e}");
                ("TASK_FAILED", None, format!("Failed to launch: {e}"))
            }
        };
        st.tasks.insert(
            (fw.clone(), id.clone()),
            ExecTask {
                task,
                state: state.to_string(),
                child,
                killing: false,
                started: now_secs(),
            },
        );
        self.update(st, &fw, &id, state, &msg);
    }
}

/// The `task` subcommand: a task's process. Sleeps for its duration (0:
/// until killed) and exits 0.
pub fn task_main(args: &[String]) -> i32 {
    let mut f = match Flags::parse(args) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e}\n{USAGE}");
            return 64;
        }
    };
    let id = f.string("id", "task");
    let duration: f64 = match f.num("duration", 0.0) {
        Ok(d) if d >= 0.0 => d,
        _ => {
            eprintln!("error: --duration must be a number of seconds >= 0");
            return 64;
        }
    };
    if let Err(e) = f.finish() {
        eprintln!("error: {e}");
        return 64;
    }
    if duration == 0.0 {
        say!(
            "task {id} running until killed (pid {})",
            std::process::id()
        );
        loop {
            std::thread::park();
        }
    }
    say!(
        "task {id} running for {duration}s (pid {})",
        std::process::id()
    );
    std::thread::sleep(Duration::from_secs_f64(duration));
    say!("task {id} done");
    0
}

pub fn main(args: &[String]) -> i32 {
    match args.first().map(String::as_str) {
        Some("task") => task_main(&args[1..]),
        Some("get") => {
            let Some(path) = args.get(1) else {
                eprintln!("{USAGE}");
                return 64;
            };
            let addr = match args.get(2..4) {
                Some([flag, a]) if flag == "--addr" => a.clone(),
                _ => "127.0.0.1:5052".to_string(),
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
            Ok(o) => Executor::run(o),
            Err(e) => {
                eprintln!("error: {e}\n{USAGE}");
                64
            }
        },
    }
}
