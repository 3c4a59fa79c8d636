//! The executor: its own container, connected to one agent by name. It
//! runs each task as a child process (its own binary re-executed as
//! `tinymesos-executor task --duration D`), reports status updates to the
//! agent and keeps them until the agent acknowledges them. When the agent
//! goes away the tasks keep running; the executor re-registers (with its
//! tasks and unacknowledged updates) as soon as the agent is back.
//!
//! Executors of 0.22–0.25 speak the executor driver's libprocess messages.
//! From 0.28 ([`ExecutorApi::V1Http`]) they use the agent's
//! `POST /api/v1/executor` ([`crate::executor_api`]): SUBSCRIBE (with the
//! unacknowledged tasks and updates) opens a RecordIO event stream (LAUNCH,
//! KILL, ACKNOWLEDGED, SHUTDOWN, ...), status updates are UPDATE calls on
//! their own connections. When the stream breaks (the agent restarts) the
//! executor subscribes again, retrying within `--recovery_timeout`; its tasks
//! keep running meanwhile. An agent that does not serve the endpoint (before
//! 0.28: 404) never subscribes it: the executor logs each answer, retries,
//! and exits 1 after `--recovery_timeout`.
//!
//! Asked to shut down (`ShutdownExecutorMessage` / SHUTDOWN, e.g. when the
//! agent's machine goes DOWN for maintenance), the executor kills its tasks
//! and reports them TASK_KILLED, as Mesos executors do; it then stays up
//! (a tinymesos executor is its agent's companion container, not a process
//! the agent launched) and registers again, as a new executor run, when the
//! agent comes back.

use crate::executor_api::{self as api, Event};
use crate::flags::{host_port, Flags};
use crate::http::{self, Request};
use crate::master::is_terminal;
use crate::process::{self, message_of, Get, Message, Outbox, Pid, Reply};
use crate::recordio;
use crate::release::{Caps, ExecutorApi};
use crate::{now_secs, say};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a shutdown waits for the tasks to exit after SIGTERM before
/// killing them (Mesos's default `executor_shutdown_grace_period`).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

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
    /// The agent acknowledged an update of this task (v1: until then it is
    /// one of the `unacknowledged_tasks` of a SUBSCRIBE).
    acked: bool,
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
    /// Identifies this executor process (a new one after a shutdown) to the
    /// agent.
    run: String,
    /// Since when this run tries to register for the first time.
    started: Instant,
    /// v1: number of the current subscription (a stream that ends or
    /// sends after a newer one started is ignored), and whether one is
    /// being opened.
    subscription: u64,
    connecting: bool,
    /// v1: why the last SUBSCRIBE failed (logged when it changes).
    subscribe_error: Option<String>,
    subscribe_failures: u64,
    /// Asked to shut down: when (the tasks get SIGKILL after the grace
    /// period).
    shutting_down: Option<Instant>,
    counters: BTreeMap<&'static str, u64>,
}

pub struct Executor {
    caps: Caps,
    opts: Opts,
    me: Pid,
    outbox: Arc<Outbox>,
    /// v1: calls other than SUBSCRIBE, sent in order by one thread.
    calls: Sender<Value>,
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
        let (calls, calls_rx) = mpsc::channel();
        let e = Arc::new(Executor {
            outbox: Outbox::new(me.clone()),
            calls,
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
                run: crate::uuid(),
                started: Instant::now(),
                subscription: 0,
                connecting: false,
                subscribe_error: None,
                subscribe_failures: 0,
                shutting_down: None,
                counters: BTreeMap::new(),
            }),
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
        if e.caps.executor_api == ExecutorApi::V1Http {
            let c = Arc::clone(&e);
            std::thread::Builder::new()
                .name("calls".into())
                .spawn(move || c.call_worker(&calls_rx))
                .expect("spawn");
        }
        e.main_loop()
    }

    fn v1(&self) -> bool {
        self.caps.executor_api == ExecutorApi::V1Http
    }

    /// The agent's executor endpoint, for logs.
    fn endpoint(&self) -> String {
        format!("http://{}{}", self.opts.agent.addr(), api::PATH)
    }

    fn send(&self, name: &str, body: Value) {
        self.outbox.send(&self.opts.agent, name, body);
    }

    fn main_loop(self: &Arc<Self>) -> i32 {
        loop {
            std::thread::sleep(Duration::from_millis(200));
            let mut st = self.state.lock().unwrap();
            self.reap(&mut st);
            if let Some(since) = st.shutting_down {
                let running = st.tasks.values().any(|t| t.child.is_some());
                if !running || since.elapsed() > SHUTDOWN_GRACE {
                    self.finish_shutdown(&mut st);
                }
                continue;
            }
            let now = Instant::now();
            if self.v1() {
                if !st.registered && !st.connecting && now >= st.reg_next {
                    self.start_subscription(&mut st);
                }
            } else if !st.registered && now >= st.reg_next {
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
                        "executor_run": st.run, "last_launch_seq": st.last_launch_seq,
                    }));
                } else {
                    if st.reg_attempts == 1 {
                        say!("Registering with agent {}", self.opts.agent);
                    }
                    self.send(
                        "mesos.internal.RegisterExecutorMessage",
                        json!({
                            "executor_id": self.opts.executor_id,
                            "executor_run": st.run, "last_launch_seq": st.last_launch_seq,
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
                    self.send_update(&st, &u);
                }
            }
            if self.v1() {
                // Mesos's v1 executors give up (and exit) when they cannot
                // subscribe within the recovery timeout.
                let why = match st.disconnected_since {
                    Some(since) if since.elapsed() > self.opts.recovery_timeout => Some(format!(
                        "Agent {} did not come back within {:?} (--recovery_timeout)",
                        self.endpoint(),
                        self.opts.recovery_timeout
                    )),
                    None if !st.ever_registered
                        && st.started.elapsed() > self.opts.recovery_timeout =>
                    {
                        Some(format!(
                            "Could not subscribe with agent {} within {:?} (--recovery_timeout){}",
                            self.endpoint(),
                            self.opts.recovery_timeout,
                            st.subscribe_error
                                .as_ref()
                                .map_or(String::new(), |e| format!("; last answer: {e}"))
                        ))
                    }
                    _ => None,
                };
                if let Some(why) = why {
                    say!("{why}; killing {} tasks and exiting", st.tasks.len());
                    Self::kill_all(&mut st);
                    return 1;
                }
            } else if let Some(since) = st.disconnected_since {
                if since.elapsed() > self.opts.recovery_timeout {
                    say!(
                        "Agent did not come back within {:?}; killing {} tasks",
                        self.opts.recovery_timeout,
                        st.tasks.len()
                    );
                    Self::kill_all(&mut st);
                    st.unacked.clear();
                    st.ever_registered = false;
                    st.disconnected_since = None;
                }
            }
        }
    }

    fn kill_all(st: &mut State) {
        for t in st.tasks.values_mut() {
            if let Some(c) = t.child.as_mut() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
        st.tasks.clear();
    }

    /// Sends (or re-sends) an update the way this release's API does.
    fn send_update(&self, st: &State, u: &Value) {
        if self.v1() {
            let mut u = u.clone();
            u["slave_id"] = json!(st.agent_id);
            let _ = self
                .calls
                .send(api::update_call(&self.opts.executor_id, &u));
        } else {
            self.send("mesos.internal.StatusUpdateMessage", json!({"update": u}));
        }
    }

    /// Asked to shut down: kill every task (SIGTERM, SIGKILL after the
    /// grace period); each is reported TASK_KILLED.
    fn shutdown(&self, st: &mut State, from: &str) {
        if st.shutting_down.is_some() {
            return;
        }
        let running = st.tasks.values().filter(|t| t.child.is_some()).count();
        say!("Executor asked to shut down by {from}; killing {running} tasks");
        st.shutting_down = Some(Instant::now());
        for t in st.tasks.values_mut() {
            if let Some(c) = t.child.as_ref() {
                t.killing = true;
                // SAFETY: plain kill(2) on our own child's pid.
                unsafe {
                    libc::kill(c.id() as libc::pid_t, libc::SIGTERM);
                }
            }
        }
        *st.counters.entry("shutdowns").or_default() += 1;
    }

    /// The end of a shutdown: what is left is killed; this executor then
    /// starts over as a new run. It stays connected until the agent goes
    /// (so that the TASK_KILLED updates get there), and registers again,
    /// as a new executor, when an agent is back: the agent that shut it
    /// down forgets it.
    fn finish_shutdown(&self, st: &mut State) {
        for t in st.tasks.values_mut() {
            if let Some(c) = t.child.as_mut() {
                t.killing = true;
                let _ = c.kill();
                let _ = c.wait();
            }
        }
        self.reap(st);
        let killed = st
            .tasks
            .values()
            .filter(|t| t.state == "TASK_KILLED")
            .count();
        st.tasks.clear();
        st.unacked.clear();
        st.shutting_down = None;
        st.ever_registered = false;
        st.last_launch_seq = None;
        st.reg_attempts = 0;
        st.started = Instant::now();
        st.run = crate::uuid();
        say!(
            "Executor shut down: {killed} tasks killed; it registers again, as a new executor (run {}), when the agent is back",
            st.run
        );
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
            self.send_update(st, &u);
        }
    }

    /// The agent acknowledged the update with this uuid: forget it, and the
    /// task too once it has ended and nothing of it is left unacknowledged.
    fn acknowledged(&self, st: &mut State, uuid: &str) {
        let Some((u, _)) = st.unacked.remove(uuid) else {
            return;
        };
        let k = (u.s("framework_id"), u.s("task_id"));
        if let Some(t) = st.tasks.get_mut(&k) {
            t.acked = true;
        }
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
                    // v1: whatever the old stream still says is stale.
                    st.subscription += 1;
                    st.connecting = false;
                    let running = st.tasks.values().filter(|t| t.child.is_some()).count();
                    say!(
                        "Agent {} disconnected; waiting for it to come back ({running} tasks keep running)",
                        self.opts.agent
                    );
                }
            }
        }
    }

    // ---- v1 HTTP API ------------------------------------------------------

    /// Opens a new subscription (on its own thread): SUBSCRIBE with what the
    /// agent has not acknowledged yet.
    fn start_subscription(self: &Arc<Self>, st: &mut State) {
        st.subscription += 1;
        st.connecting = true;
        st.reg_attempts += 1;
        st.reg_next = Instant::now() + Duration::from_secs(1);
        if st.reg_attempts == 1 {
            say!(
                "{} with agent {}",
                if st.ever_registered {
                    "Subscribing again"
                } else {
                    "Subscribing"
                },
                self.endpoint()
            );
        }
        let tasks: Vec<Value> = st
            .tasks
            .iter()
            .filter(|(_, t)| !t.acked)
            .map(|((framework_id, _), t)| {
                let mut task = t.task.clone();
                task["framework_id"] = json!(framework_id);
                task
            })
            .collect();
        let updates: Vec<Value> = st
            .unacked
            .values()
            .map(|(u, _)| {
                let mut u = u.clone();
                u["slave_id"] = json!(st.agent_id);
                u
            })
            .collect();
        let call = api::subscribe_call(&self.caps, &self.opts.executor_id, &tasks, &updates);
        let (n, run) = (st.subscription, st.run.clone());
        let me = Arc::clone(self);
        let spawned = std::thread::Builder::new()
            .name("subscription".into())
            .spawn(move || me.subscription(n, &run, &call));
        if spawned.is_err() {
            say!("Cannot start a subscription thread");
            st.connecting = false;
        }
    }

    /// One subscription: SUBSCRIBE, then the events until the stream ends.
    fn subscription(&self, n: u64, run: &str, call: &Value) {
        let body = call.to_string();
        let me = self.me.to_string();
        let answer = http::open(
            &self.opts.agent.addr(),
            "POST",
            api::PATH,
            &[
                ("Content-Type", api::APPLICATION_JSON),
                ("Accept", api::APPLICATION_JSON),
                ("Libprocess-From", &me),
                (api::RUN_HEADER, run),
            ],
            Some(body.as_bytes()),
            Duration::from_secs(3),
            // The agent sends no heartbeats to executors: a quiet stream is
            // normal. (A dead agent shows as a broken connection, or to the
            // /health checks.)
            Duration::from_secs(3600),
        );
        let stream = match answer {
            Err(e) => return self.subscribe_failed(n, &format!("cannot reach the agent: {e}")),
            Ok(s) if s.status != 200 => {
                let status = s.status;
                let text = s.text();
                return self.subscribe_failed(n, &format!("HTTP {status}: {}", text.trim()));
            }
            Ok(s) => s,
        };
        let mut records = recordio::Reader::new(stream.body);
        loop {
            match records.next_record() {
                Ok(Some(r)) => {
                    if !self.on_event(n, &r) {
                        return;
                    }
                }
                Ok(None) => return self.stream_ended(n, "the agent ended the stream"),
                Err(e) => return self.stream_ended(n, &e.to_string()),
            }
        }
    }

    fn subscribe_failed(&self, n: u64, why: &str) {
        let mut st = self.state.lock().unwrap();
        if st.subscription != n {
            return;
        }
        self.note_subscribe_failure(&mut st, why);
    }

    /// Logs a failed subscription when the reason changes (and every 30th
    /// time), so that an agent that keeps refusing does not flood the log.
    fn note_subscribe_failure(&self, st: &mut State, why: &str) {
        st.connecting = false;
        st.subscribe_failures += 1;
        if st.subscribe_error.as_deref() != Some(why) || st.subscribe_failures.is_multiple_of(30) {
            say!(
                "Failed to subscribe with agent {}: {why} (attempt {}); retrying",
                self.endpoint(),
                st.reg_attempts
            );
        }
        st.subscribe_error = Some(why.to_string());
    }

    /// The event stream of subscription `n` ended: unless a newer one
    /// replaced it, the agent is gone (for now).
    fn stream_ended(&self, n: u64, why: &str) {
        let mut st = self.state.lock().unwrap();
        if st.subscription != n {
            return;
        }
        st.connecting = false;
        if st.registered {
            // Subscribe again at once (the agent is back soon after a
            // restart); retries are a second apart.
            st.reg_attempts = 0;
            st.reg_next = Instant::now();
            st.registered = false;
            if st.disconnected_since.is_none() {
                st.disconnected_since = Some(Instant::now());
            }
            let running = st.tasks.values().filter(|t| t.child.is_some()).count();
            say!(
                "Agent {} disconnected ({why}); waiting for it to come back ({running} tasks keep running)",
                self.endpoint()
            );
        } else {
            self.note_subscribe_failure(&mut st, &format!("stream ended before SUBSCRIBED: {why}"));
        }
    }

    /// Handles one event of subscription `n`; false: stop reading it.
    fn on_event(&self, n: u64, record: &[u8]) -> bool {
        let mut st = self.state.lock().unwrap();
        if st.subscription != n {
            return false;
        }
        let event = match api::parse_event(&self.caps, record) {
            Ok(e) => e,
            Err(e) => {
                if st.registered {
                    say!(
                        "Failed to decode an event from agent {}: {e}; subscribing again",
                        self.endpoint()
                    );
                }
                drop(st);
                self.stream_ended(n, &format!("undecodable event: {e}"));
                return false;
            }
        };
        match event {
            Event::Subscribed { agent_id, .. } => {
                st.connecting = false;
                st.registered = true;
                st.reg_attempts = 0;
                st.subscribe_error = None;
                st.subscribe_failures = 0;
                st.disconnected_since = None;
                if agent_id.is_some() {
                    st.agent_id = agent_id;
                }
                let id = st
                    .agent_id
                    .clone()
                    .unwrap_or_else(|| "(not yet registered)".into());
                let url = self.endpoint();
                if st.ever_registered {
                    st.reregistrations += 1;
                    let running = st.tasks.values().filter(|t| t.child.is_some()).count();
                    say!("executor registered with agent {url} (agent id {id}; re-subscribed, {running} tasks kept running)");
                } else {
                    st.registrations += 1;
                    st.ever_registered = true;
                    say!("executor registered with agent {url} (agent id {id}; subscribed with the v1 HTTP API, run {})", st.run);
                }
                // Updates made after the SUBSCRIBE was written (e.g. while
                // it waited for the agent) were not in it: send what is
                // unacknowledged (the agent ignores duplicates but
                // acknowledges them).
                let pending: Vec<Value> = st.unacked.values().map(|(u, _)| u.clone()).collect();
                for u in pending {
                    self.send_update(&st, &u);
                }
            }
            Event::Launch {
                framework_id,
                task_id,
                task,
            } => match task {
                Ok(task) => self.start_task(&mut st, &framework_id, task),
                Err(why) => {
                    say!("Cannot run task {task_id} of framework {framework_id}: {why}");
                    let k = (framework_id.clone(), task_id.clone());
                    if let std::collections::btree_map::Entry::Vacant(slot) = st.tasks.entry(k) {
                        slot.insert(ExecTask {
                            task: json!({"task_id": task_id}),
                            state: "TASK_FAILED".into(),
                            child: None,
                            killing: false,
                            started: now_secs(),
                            acked: false,
                        });
                        self.update(&mut st, &framework_id, &task_id, "TASK_FAILED", &why);
                    }
                }
            },
            Event::Kill { task_id } => {
                let keys: Vec<(String, String)> = st
                    .tasks
                    .keys()
                    .filter(|k| k.1 == task_id)
                    .cloned()
                    .collect();
                if keys.is_empty() {
                    say!("Asked to kill unknown task {task_id}");
                }
                for k in keys {
                    self.kill(&mut st, &k);
                }
            }
            Event::Acknowledged { uuid, .. } => self.acknowledged(&mut st, &uuid),
            Event::Message { data } => {
                say!(
                    "Message of {} bytes from the scheduler (ignored)",
                    data.len()
                )
            }
            Event::Shutdown => self.shutdown(&mut st, &self.endpoint()),
            Event::Error { message } => {
                say!(
                    "Agent {} sent an error: {message}; subscribing again",
                    self.endpoint()
                );
                drop(st);
                self.stream_ended(n, &format!("ERROR event: {message}"));
                return false;
            }
            Event::Unknown(kind) => say!("Ignoring event of unknown type '{kind}'"),
        }
        true
    }

    /// Sends v1 calls (UPDATE) in order, each on its own connection.
    fn call_worker(&self, rx: &Receiver<Value>) {
        let mut failing = false;
        while let Ok(call) = rx.recv() {
            let body = call.to_string();
            let task = call.s("/update/status/task_id/value");
            match http::request(
                &self.opts.agent.addr(),
                "POST",
                api::PATH,
                &[
                    ("Content-Type", api::APPLICATION_JSON),
                    ("Accept", api::APPLICATION_JSON),
                ],
                Some(body.as_bytes()),
                Duration::from_secs(2),
            ) {
                Ok(r) if r.status == 202 => failing = false,
                Ok(r) => say!(
                    "{} call for task {task} answered HTTP {}: {}",
                    call.s("type"),
                    r.status,
                    r.body.trim()
                ),
                Err(e) => {
                    if !failing {
                        say!(
                            "Failed to send {} call for task {task}: {e}",
                            call.s("type")
                        );
                    }
                    failing = true;
                }
            }
        }
    }

    // ---- HTTP and messages -------------------------------------------------

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
            "api": if self.v1() { "v1" } else { "driver" },
            "agent": if self.v1() { self.endpoint() } else { self.opts.agent.to_string() },
            "agent_id": st.agent_id,
            "registered": st.registered,
            "registrations": st.registrations,
            "reregistrations": st.reregistrations,
            "subscribe_error": st.subscribe_error,
            "start_time": self.start_time,
            "tasks": tasks,
            "tasks_running": st.tasks.values().filter(|t| t.child.is_some()).count(),
            "tasks_started": c("tasks_started"),
            "tasks_finished": c("tasks_finished"),
            "tasks_failed": c("tasks_failed"),
            "tasks_killed": c("tasks_killed"),
            "shutdowns": c("shutdowns"),
            "unacknowledged_updates": st.unacked.len(),
            "run": st.run,
            "last_launch_seq": st.last_launch_seq,
        })
    }

    fn receive(&self, m: Message) {
        let from = m
            .from
            .as_ref()
            .map_or_else(|| "(unknown)".to_string(), Pid::to_string);
        if self.v1() {
            // A v1 HTTP executor has no libprocess handlers.
            say!(
                "Dropping unknown message '{}' from {from}: no handler installed",
                m.name
            );
            return;
        }
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
                if st.tasks.contains_key(&k) {
                    self.kill(&mut st, &k);
                } else {
                    say!("Asked to kill unknown task {}", k.1);
                }
            }
            "mesos.internal.StatusUpdateAcknowledgementMessage" => {
                self.acknowledged(&mut st, &b.s("uuid"))
            }
            // The executor driver's shutdown (every release has it).
            "mesos.internal.ShutdownExecutorMessage" => self.shutdown(&mut st, &from),
            other => say!("Dropping unknown message '{other}' from {from}: no handler installed"),
        }
    }

    fn kill(&self, st: &mut State, k: &(String, String)) {
        if let Some(t) = st.tasks.get_mut(k) {
            if let Some(c) = t.child.as_ref() {
                say!("Killing task {}", k.1);
                t.killing = true;
                // SAFETY: plain kill(2) on our own child's pid.
                unsafe {
                    libc::kill(c.id() as libc::pid_t, libc::SIGTERM);
                }
            }
        }
    }

    /// RunTaskMessage (driver).
    fn launch(&self, st: &mut State, b: &Value) {
        if let Some(seq) = b["launch_seq"].as_u64() {
            st.last_launch_seq = Some(seq);
        }
        self.start_task(st, &b.s("framework_id"), b["task"].clone());
    }

    /// Runs a task (internal shape) as a child process.
    fn start_task(&self, st: &mut State, fw: &str, task: Value) {
        let id = task.s("task_id");
        if st.tasks.contains_key(&(fw.to_string(), id.clone())) {
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
            (fw.to_string(), id.clone()),
            ExecTask {
                task,
                state: state.to_string(),
                child,
                killing: false,
                started: now_secs(),
                acked: false,
            },
        );
        self.update(st, fw, &id, state, &msg);
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
    if args.first().map(String::as_str) == Some("task") {
        return task_main(&args[1..]);
    }
    crate::cli_main(args, USAGE, 5052, |a| Opts::parse(a).map(Executor::run))
}
