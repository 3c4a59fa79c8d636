//! A scripted, in-memory [`Backend`] for unit tests of the runner's own logic: containers are
//! records, and what their processes do (log, answer, exit, react to signals) is a [`Script`] of
//! closures evaluated in tokio's clock. Under a paused clock (`#[tokio::test(start_paused = true)]`)
//! a trial of minutes runs in milliseconds, deterministically.
//!
//! Not a mock of Docker: tests that claim an end-to-end behaviour run the real engine. This drives
//! deadlines, retries, crash detection, workloads, leader lookup and cancellation, which cost
//! seconds of real containers each.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use indexmap::IndexMap;
use tokio::time::Instant;

use super::backend::{
    Backend, ContainerSpec, ContainerStatus, Endpoint, EngineError, EngineErrorKind, ExecOutput,
    HttpAnswer, HttpCall, Labelled, Labels, Result, Unanswered,
};
use super::reach::{Reach, ReachChoice};

/// What a script sees of a container when it is asked something.
#[derive(Debug, Clone)]
pub(crate) struct View {
    /// The replica's name (the container's hostname): `node-0`.
    pub name: String,
    pub image: String,
    /// The image's tag: the release it runs (`crossgrade/fixture:1.1` → `1.1`).
    pub release: String,
    /// Since the container started.
    pub uptime: Duration,
    /// How many containers with this name were started before this one (0 for the first).
    pub incarnation: usize,
    pub env: Vec<String>,
    pub cmd: Vec<String>,
}

/// What a container's process does when it starts: lines it logs (each after a delay) and, if it
/// ends on its own, when and with which code.
#[derive(Debug, Clone, Default)]
pub(crate) struct Boot {
    pub logs: Vec<(Duration, String)>,
    pub exit: Option<(Duration, i64)>,
}

impl Boot {
    /// Logs `line` at once and keeps running.
    pub fn logs(line: &str) -> Boot {
        Boot::default().then_log(Duration::ZERO, line)
    }

    pub fn then_log(mut self, after: Duration, line: &str) -> Boot {
        self.logs.push((after, line.to_string()));
        self
    }

    pub fn exits(mut self, after: Duration, code: i64) -> Boot {
        self.exit = Some((after, code));
        self
    }
}

/// A reply to an exec or an HTTP request.
#[derive(Debug, Clone)]
pub(crate) enum Reply {
    /// An exec's result: exit code and stdout.
    Output(i64, String),
    /// An HTTP answer: status and body.
    Answer(u16, String),
    /// No answer: refused, reset.
    Refused(String),
    /// Never answers (the caller's timeout decides).
    Hang,
    /// Answers after a while.
    After(Duration, Box<Reply>),
    /// An exec's reply, after which the process does what the effect says (an operator's
    /// `shutdown` command makes it exit).
    Then(Box<Reply>, Effect),
}

/// What a signal does to the process.
#[derive(Debug, Clone)]
pub(crate) enum Effect {
    /// Nothing visible.
    Ignore,
    /// Logs a line and goes on.
    Log(String),
    /// Exits with this code (after logging the line, if any).
    Exit(i64, Option<String>),
}

type StartFn = dyn Fn(&View) -> Boot + Send + Sync;
type ExecFn = dyn Fn(&View, &[String]) -> Reply + Send + Sync;
type HttpFn = dyn Fn(&View, &HttpCall) -> Reply + Send + Sync;
type SignalFn = dyn Fn(&View, &str) -> Effect + Send + Sync;

/// How the scripted containers behave. Every part has a default: a process that logs `ready` and
/// runs, execs that print `ok`, HTTP that answers 200 `{}`, signals with their default action.
#[derive(Clone)]
pub(crate) struct Script {
    start: Arc<StartFn>,
    exec: Arc<ExecFn>,
    http: Arc<HttpFn>,
    signal: Arc<SignalFn>,
}

impl Default for Script {
    fn default() -> Self {
        Script {
            start: Arc::new(|_| Boot::logs("ready")),
            exec: Arc::new(|_, _| Reply::Output(0, "ok".into())),
            http: Arc::new(|_, _| Reply::Answer(200, "{}".into())),
            signal: Arc::new(|_, sig| default_effect(sig)),
        }
    }
}

/// A signal's default action: terminate (128 + its number), except those that are ignored by
/// default.
fn default_effect(sig: &str) -> Effect {
    let n = match sig {
        "SIGHUP" => 1,
        "SIGINT" => 2,
        "SIGQUIT" => 3,
        "SIGKILL" => 9,
        "SIGUSR1" => 10,
        "SIGUSR2" => 12,
        "SIGTERM" => 15,
        _ => return Effect::Ignore,
    };
    Effect::Exit(128 + n, None)
}

impl Script {
    pub fn on_start(mut self, f: impl Fn(&View) -> Boot + Send + Sync + 'static) -> Script {
        self.start = Arc::new(f);
        self
    }

    pub fn on_exec(
        mut self,
        f: impl Fn(&View, &[String]) -> Reply + Send + Sync + 'static,
    ) -> Script {
        self.exec = Arc::new(f);
        self
    }

    pub fn on_http(
        mut self,
        f: impl Fn(&View, &HttpCall) -> Reply + Send + Sync + 'static,
    ) -> Script {
        self.http = Arc::new(f);
        self
    }

    pub fn on_signal(
        mut self,
        f: impl Fn(&View, &str) -> Effect + Send + Sync + 'static,
    ) -> Script {
        self.signal = Arc::new(f);
        self
    }
}

/// Which calls fail, with which engine answer.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Fault {
    /// Creating a container whose name contains this text.
    Start(String),
    CreateNetwork,
    RemoveNetwork,
    /// Listing containers (which the crash check after every step does).
    ListContainers,
    /// Execs in containers whose name contains this text.
    Exec(String),
    /// The cleanup that runs when a trial is dropped.
    SweepBlocking,
    /// Trial networks do not answer connections from the harness (a remote engine's bridge).
    Unreachable,
    /// Requests through relay helpers (the relay program died).
    Relay,
}

#[derive(Debug, Clone)]
struct Container {
    name: String,
    view: View,
    labels: Labels,
    network: Option<String>,
    ip: IpAddr,
    started: Instant,
    logs: Vec<(Instant, String)>,
    /// When and how it ends on its own (from its boot script).
    exits_at: Option<(Instant, i64)>,
    /// Ended by the harness (stop, kill) or a signal: its exit code.
    ended: Option<i64>,
    paused: bool,
}

impl Container {
    fn exit_code(&self, now: Instant) -> Option<i64> {
        self.ended
            .or_else(|| self.exits_at.filter(|(at, _)| *at <= now).map(|(_, c)| c))
    }

    fn running(&self, now: Instant) -> bool {
        self.exit_code(now).is_none()
    }

    fn end(&mut self, code: i64, now: Instant) {
        if self.running(now) {
            self.ended = Some(code);
        }
    }

    fn visible_logs(&self, now: Instant) -> Vec<&str> {
        self.visible_logs_since(now, None)
    }

    /// The lines logged by `now`, from `from` on (all of them without it).
    fn visible_logs_since(&self, now: Instant, from: Option<Instant>) -> Vec<&str> {
        let end = self
            .exits_at
            .filter(|_| self.ended.is_none())
            .map(|(at, _)| at);
        self.logs
            .iter()
            .filter(|(at, _)| *at <= now && end.is_none_or(|e| *at <= e))
            .filter(|(at, _)| from.is_none_or(|f| *at >= f))
            .map(|(_, l)| l.as_str())
            .collect()
    }

    /// What a signal, or a command run in it, does to the process.
    fn undergo(&mut self, effect: Effect, now: Instant) {
        match effect {
            Effect::Ignore => {}
            Effect::Log(line) => self.logs.push((now, line)),
            Effect::Exit(code, line) => {
                if let Some(l) = line {
                    self.logs.push((now, l));
                }
                self.end(code, now);
            }
        }
    }

    fn view(&self, now: Instant) -> View {
        View {
            uptime: now - self.started,
            ..self.view.clone()
        }
    }
}

#[derive(Debug, Default)]
struct State {
    next: u64,
    containers: IndexMap<String, Container>,
    networks: IndexMap<String, Labels>,
    volumes: IndexMap<String, Labels>,
    missing_images: HashSet<String>,
    faults: HashSet<Fault>,
    /// Every call, in order (`start node-0`, `signal node-1 SIGHUP`, …), for assertions.
    calls: Vec<String>,
    /// How many containers were started per replica name.
    starts: HashMap<String, usize>,
}

/// The scripted backend.
pub(crate) struct Scripted {
    script: Script,
    state: Mutex<State>,
    reach: ReachChoice,
}

impl std::fmt::Debug for Scripted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scripted").finish_non_exhaustive()
    }
}

fn refused(doing: String, kind: EngineErrorKind, why: &str) -> EngineError {
    EngineError::new(doing, kind, why.to_string())
}

/// What connecting to an engine that is not there answers: `doing` failed because `why`.
pub(crate) fn unreachable(doing: &str, why: &str) -> EngineError {
    refused(doing.to_string(), EngineErrorKind::Other, why)
}

/// The networks or volumes (by name) whose labels match `filter`.
fn listed(objects: &IndexMap<String, Labels>, filter: &str) -> Vec<Labelled> {
    objects
        .iter()
        .filter(|(_, l)| matches(l, filter))
        .map(|(n, l)| Labelled {
            id: n.clone(),
            name: n.clone(),
            labels: l.clone(),
            state: String::new(),
        })
        .collect()
}

/// Whether `labels` match a filter `k=v&k2` (each `k=v` or a bare `k`).
fn matches(labels: &Labels, filter: &str) -> bool {
    filter.split('&').all(|f| match f.split_once('=') {
        Some((k, v)) => labels.get(k).is_some_and(|x| x == v),
        None => labels.contains_key(f),
    })
}

impl Scripted {
    pub fn new(script: Script) -> Scripted {
        Scripted {
            script,
            state: Mutex::new(State::default()),
            reach: ReachChoice::new(Reach::Direct, "the engine is scripted"),
        }
    }

    /// Replicas are reached as `reach` says (directly by default).
    pub fn with_reach(mut self, reach: ReachChoice) -> Scripted {
        self.reach = reach;
        self
    }

    /// A request through the relay in `helper`: recorded (`relay HELPER REPLICA WHAT`), and an
    /// engine error unless the helper runs and relays work.
    fn relayed(&self, helper: &str, to: &Endpoint, what: String) -> Result<()> {
        let now = Instant::now();
        let (helper_name, runs) = {
            let s = self.state();
            match s.containers.get(helper) {
                Some(c) => (c.name.clone(), c.running(now)),
                None => (helper.to_string(), false),
            }
        };
        let target = self.name_of(&to.container);
        self.record(format!("relay {helper_name} {target} {what}"));
        if !runs || self.faulty(&Fault::Relay) {
            return Err(refused(
                format!("the relay in helper {helper_name}"),
                EngineErrorKind::Other,
                "scripted: its exec ended",
            ));
        }
        Ok(())
    }

    /// What the replica's process answers a request.
    async fn answer(
        &self,
        to: &Endpoint,
        call: &HttpCall,
    ) -> std::result::Result<HttpAnswer, Unanswered> {
        let now = Instant::now();
        let view = {
            let s = self.state();
            match s.containers.get(&to.container) {
                Some(c) if c.running(now) && !c.paused && c.network.is_some() => Some(c.view(now)),
                _ => None,
            }
        };
        let Some(view) = view else {
            return Err(Unanswered("connection refused".into()));
        };
        let reply = (self.script.http)(&view, call);
        match tokio::time::timeout(call.timeout, Self::resolve(reply)).await {
            Err(_) | Ok(None) => Err(Unanswered("operation timed out".into())),
            Ok(Some(Reply::Answer(status, body))) => Ok(HttpAnswer { status, body }),
            Ok(Some(Reply::Refused(why))) => Err(Unanswered(why)),
            Ok(Some(other)) => panic!("an HTTP script answered {other:?}"),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("scripted state")
    }

    /// The engine lacks this image.
    pub fn without_image(self, image: &str) -> Scripted {
        self.state().missing_images.insert(image.to_string());
        self
    }

    /// This call fails from now on.
    pub fn fail(&self, fault: Fault) {
        self.state().faults.insert(fault);
    }

    fn faulty(&self, f: &Fault) -> bool {
        self.state().faults.contains(f)
    }

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<String> {
        self.state().calls.clone()
    }

    /// Containers, networks and volumes still there whose labels match `filter`.
    pub fn leftovers(&self, filter: &str) -> usize {
        let s = self.state();
        s.containers
            .values()
            .filter(|c| matches(&c.labels, filter))
            .count()
            + s.networks.values().filter(|l| matches(l, filter)).count()
            + s.volumes.values().filter(|l| matches(l, filter)).count()
    }

    /// Makes the replica's current container end on its own now, with `code`, after logging `line`.
    pub fn crash(&self, name: &str, code: i64, line: &str) {
        let now = Instant::now();
        let mut s = self.state();
        if let Some(c) = s
            .containers
            .values_mut()
            .rev()
            .find(|c| c.view.name == name && c.running(now))
        {
            c.logs.push((now, line.to_string()));
            c.end(code, now);
        }
    }

    /// The replica (or helper) name of a container, for recorded calls.
    fn name_of(&self, id: &str) -> String {
        self.state()
            .containers
            .get(id)
            .map_or_else(|| id.to_string(), |c| c.view.name.clone())
    }

    fn record(&self, call: String) {
        self.state().calls.push(call);
    }

    fn with_container<T>(
        &self,
        id: &str,
        doing: impl FnOnce() -> String,
        f: impl FnOnce(&mut Container, Instant) -> T,
    ) -> Result<T> {
        let now = Instant::now();
        let mut s = self.state();
        match s.containers.get_mut(id) {
            Some(c) => Ok(f(c, now)),
            None => Err(refused(
                doing(),
                EngineErrorKind::NotFound,
                "no such container",
            )),
        }
    }

    /// Resolves a reply, waiting (in tokio's clock) as it says; `None` for one that never comes.
    async fn resolve(reply: Reply) -> Option<Reply> {
        let mut reply = reply;
        loop {
            match reply {
                Reply::Hang => {
                    std::future::pending::<()>().await;
                    return None;
                }
                Reply::After(d, next) => {
                    tokio::time::sleep(d).await;
                    reply = *next;
                }
                other => return Some(other),
            }
        }
    }
}

#[async_trait]
impl Backend for Scripted {
    async fn describe(&self) -> Result<String> {
        Ok("scripted".into())
    }

    async fn image_exists(&self, image: &str) -> Result<bool> {
        Ok(!self.state().missing_images.contains(image))
    }

    async fn create_network(&self, name: &str, labels: &Labels) -> Result<()> {
        self.record(format!("create network {name}"));
        if self.faulty(&Fault::CreateNetwork) {
            return Err(refused(
                format!("creating network {name}"),
                EngineErrorKind::Other,
                "scripted: the engine refuses",
            ));
        }
        self.state()
            .networks
            .insert(name.to_string(), labels.clone());
        Ok(())
    }

    async fn remove_network(&self, name: &str) -> Result<()> {
        if self.faulty(&Fault::RemoveNetwork) {
            return Err(refused(
                format!("removing network {name}"),
                EngineErrorKind::Other,
                "scripted: the engine refuses",
            ));
        }
        self.state().networks.shift_remove(name);
        Ok(())
    }

    async fn create_volume(&self, name: &str, labels: &Labels) -> Result<()> {
        self.state()
            .volumes
            .insert(name.to_string(), labels.clone());
        Ok(())
    }

    async fn remove_volume(&self, name: &str) -> Result<()> {
        self.state().volumes.shift_remove(name);
        Ok(())
    }

    async fn start_container(&self, spec: &ContainerSpec) -> Result<String> {
        match &spec.joins {
            // A helper in another container's network namespace: named after its container.
            Some(target) => {
                let of = self.name_of(target);
                self.record(format!(
                    "start {} in {of} with {}",
                    spec.image,
                    spec.cap_add.join(",")
                ));
            }
            None => self.record(format!("start {} {}", spec.hostname, spec.image)),
        }
        let faults = self.state().faults.clone();
        if faults
            .iter()
            .any(|f| matches!(f, Fault::Start(n) if spec.name.contains(n.as_str())))
        {
            return Err(refused(
                format!("creating container {} from {}", spec.name, spec.image),
                EngineErrorKind::Other,
                "scripted: the engine refuses",
            ));
        }
        let now = Instant::now();
        let (id, view) = {
            let mut s = self.state();
            s.next += 1;
            let incarnation = s.starts.entry(spec.hostname.clone()).or_default();
            let view = View {
                name: if spec.joins.is_some() {
                    spec.name.clone()
                } else {
                    spec.hostname.clone()
                },
                image: spec.image.clone(),
                release: spec
                    .image
                    .rsplit_once(':')
                    .map_or(String::new(), |(_, t)| t.to_string()),
                uptime: Duration::ZERO,
                incarnation: *incarnation,
                env: spec.env.clone(),
                cmd: spec.cmd.clone().unwrap_or_default(),
            };
            *incarnation += 1;
            (format!("c{:04}", s.next), view)
        };
        let boot = (self.script.start)(&view);
        let n = self.state().next;
        let container = Container {
            name: spec.name.clone(),
            labels: spec.labels.clone(),
            network: Some(spec.network.clone()),
            ip: IpAddr::V4(Ipv4Addr::new(10, 0, (n / 250) as u8, (n % 250 + 2) as u8)),
            started: now,
            logs: boot
                .logs
                .iter()
                .map(|(d, l)| (now + *d, l.clone()))
                .collect(),
            exits_at: boot.exit.map(|(d, c)| (now + d, c)),
            ended: None,
            paused: false,
            view,
        };
        self.state().containers.insert(id.clone(), container);
        Ok(id)
    }

    async fn stop(&self, id: &str, _grace: Duration) -> Result<()> {
        self.record(format!("stop {id}"));
        self.with_container(
            id,
            || format!("stopping container {id}"),
            |c, now| c.end(0, now),
        )
    }

    async fn kill(&self, id: &str) -> Result<()> {
        self.record(format!("kill {id}"));
        self.with_container(
            id,
            || format!("killing container {id}"),
            |c, now| c.end(137, now),
        )
    }

    async fn signal(&self, id: &str, signal: &str) -> Result<()> {
        let now = Instant::now();
        let view = {
            let s = self.state();
            let c = s.containers.get(id).ok_or_else(|| {
                refused(
                    format!("sending {signal} to container {id}"),
                    EngineErrorKind::NotFound,
                    "no such container",
                )
            })?;
            if !c.running(now) {
                return Err(refused(
                    format!("sending {signal} to container {id}"),
                    EngineErrorKind::Conflict,
                    "container is not running",
                ));
            }
            c.view(now)
        };
        self.record(format!("signal {} {signal}", view.name));
        let effect = (self.script.signal)(&view, signal);
        self.with_container(id, String::new, |c, now| c.undergo(effect, now))
    }

    async fn remove_container(&self, id: &str) -> Result<()> {
        self.record(format!("remove {id}"));
        self.state().containers.shift_remove(id);
        Ok(())
    }

    async fn pause(&self, id: &str) -> Result<()> {
        self.record(format!("pause {}", self.name_of(id)));
        self.with_container(
            id,
            || format!("pausing container {id}"),
            |c, _| c.paused = true,
        )
    }

    async fn unpause(&self, id: &str) -> Result<()> {
        self.record(format!("unpause {}", self.name_of(id)));
        self.with_container(
            id,
            || format!("unpausing container {id}"),
            |c, _| c.paused = false,
        )
    }

    async fn disconnect(&self, id: &str, _network: &str) -> Result<()> {
        self.record(format!("disconnect {}", self.name_of(id)));
        self.with_container(
            id,
            || format!("disconnecting container {id}"),
            |c, _| c.network = None,
        )
    }

    async fn connect(&self, id: &str, network: &str, aliases: &[String]) -> Result<()> {
        self.record(format!(
            "connect {} as {}",
            self.name_of(id),
            aliases.join(",")
        ));
        self.with_container(
            id,
            || format!("connecting container {id}"),
            |c, _| c.network = Some(network.to_string()),
        )
    }

    async fn status(&self, id: &str) -> Result<ContainerStatus> {
        self.with_container(
            id,
            || format!("inspecting container {id}"),
            |c, now| ContainerStatus {
                running: c.running(now),
                exit_code: c.exit_code(now),
                oom_killed: false,
            },
        )
    }

    async fn ip_on(&self, id: &str, network: &str) -> Result<Option<IpAddr>> {
        self.with_container(
            id,
            || format!("inspecting container {id}"),
            |c, _| (c.network.as_deref() == Some(network)).then_some(c.ip),
        )
    }

    /// An exec's environment is shown to the script as a leading `env KEY=value …`, as a shell
    /// would run it, so that a script can answer by the arguments an exec was given.
    async fn exec(&self, id: &str, argv: &[String], env: &[String]) -> Result<ExecOutput> {
        let with_env: Vec<String>;
        let argv = if env.is_empty() {
            argv
        } else {
            with_env = std::iter::once("env".to_string())
                .chain(env.iter().cloned())
                .chain(argv.iter().cloned())
                .collect();
            &with_env[..]
        };
        let (view, paused) = self.with_container(
            id,
            || format!("creating exec `{}`", argv.join(" ")),
            |c, now| (c.running(now).then(|| c.view(now)), c.paused),
        )?;
        if paused {
            return Err(refused(
                format!("creating exec `{}`", argv.join(" ")),
                EngineErrorKind::Conflict,
                "container is paused, unpause the container before exec",
            ));
        }
        let Some(view) = view else {
            return Err(refused(
                format!("creating exec `{}`", argv.join(" ")),
                EngineErrorKind::Conflict,
                "container is not running",
            ));
        };
        let faulty = self
            .state()
            .faults
            .iter()
            .any(|f| matches!(f, Fault::Exec(n) if view.name.contains(n.as_str())));
        if faulty {
            return Err(refused(
                format!("starting exec `{}`", argv.join(" ")),
                EngineErrorKind::Other,
                "scripted: the engine refuses",
            ));
        }
        self.record(format!("exec {} {}", view.name, argv.join(" ")));
        let (reply, effect) = match (self.script.exec)(&view, argv) {
            Reply::Then(reply, effect) => (*reply, Some(effect)),
            reply => (reply, None),
        };
        let resolved = Self::resolve(reply).await;
        if let Some(effect) = effect {
            self.with_container(id, String::new, |c, now| c.undergo(effect, now))?;
        }
        match resolved {
            Some(Reply::Output(code, stdout)) => Ok(ExecOutput {
                exit_code: Some(code),
                stdout,
                stderr: String::new(),
            }),
            Some(Reply::Refused(why)) => Err(refused(
                format!("starting exec `{}`", argv.join(" ")),
                EngineErrorKind::Conflict,
                &why,
            )),
            Some(other) => panic!("an exec script answered {other:?}"),
            None => unreachable!("a hanging exec never resolves"),
        }
    }

    async fn logs(&self, id: &str, tail: Option<usize>) -> Result<String> {
        self.with_container(
            id,
            || format!("reading logs of {id}"),
            |c, now| {
                let lines = c.visible_logs(now);
                let from = tail.map_or(0, |n| lines.len().saturating_sub(n));
                lines[from..].iter().map(|l| format!("{l}\n")).collect()
            },
        )
    }

    async fn logs_since(&self, id: &str, ago: Duration) -> Result<String> {
        self.with_container(
            id,
            || format!("reading logs of {id}"),
            |c, now| {
                let from = now.checked_sub(ago);
                c.visible_logs_since(now, from)
                    .iter()
                    .map(|l| format!("{l}\n"))
                    .collect()
            },
        )
    }

    async fn wait_for_log(&self, id: &str, needle: &str) -> Result<bool> {
        loop {
            let (found, running) = self.with_container(
                id,
                || format!("following logs of {id}"),
                |c, now| {
                    (
                        c.visible_logs(now).iter().any(|l| l.contains(needle)),
                        c.running(now),
                    )
                },
            )?;
            if found {
                return Ok(true);
            }
            if !running {
                return Ok(false);
            }
            // The scripted process's clock: the next thing that can happen is a log line or an exit.
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn containers_labelled(&self, label: &str) -> Result<Vec<Labelled>> {
        if self.faulty(&Fault::ListContainers) {
            return Err(refused(
                format!("listing containers labelled {label}"),
                EngineErrorKind::Other,
                "scripted: the engine refuses",
            ));
        }
        let now = Instant::now();
        Ok(self
            .state()
            .containers
            .iter()
            .filter(|(_, c)| matches(&c.labels, label))
            .map(|(id, c)| Labelled {
                id: id.clone(),
                name: c.name.clone(),
                labels: c.labels.clone(),
                state: if c.running(now) { "running" } else { "exited" }.into(),
            })
            .collect())
    }

    async fn networks_labelled(&self, label: &str) -> Result<Vec<Labelled>> {
        Ok(listed(&self.state().networks, label))
    }

    async fn volumes_labelled(&self, label: &str) -> Result<Vec<Labelled>> {
        Ok(listed(&self.state().volumes, label))
    }

    async fn http(
        &self,
        to: &Endpoint,
        call: &HttpCall,
    ) -> Result<std::result::Result<HttpAnswer, Unanswered>> {
        if let Some(helper) = &to.via {
            let what = format!("{} :{}{}", call.method, call.port, call.path);
            self.relayed(helper, to, what)?;
        }
        Ok(self.answer(to, call).await)
    }

    async fn tcp_accepts(&self, to: &Endpoint, port: u16, _within: Duration) -> Result<bool> {
        if let Some(helper) = &to.via {
            self.relayed(helper, to, format!("tcp :{port}"))?;
        }
        let now = Instant::now();
        let s = self.state();
        Ok(s.containers
            .get(&to.container)
            .is_some_and(|c| c.running(now) && !c.paused))
    }

    async fn reach(&self) -> Result<ReachChoice> {
        Ok(self.reach.clone())
    }

    async fn answers_directly(&self, _ip: IpAddr, _within: Duration) -> bool {
        !self.faulty(&Fault::Unreachable)
    }

    fn sweep_blocking(&self, label: &str) -> std::result::Result<(), String> {
        if self.faulty(&Fault::SweepBlocking) {
            return Err(format!(
                "cleanup of {label} failed: scripted: the engine refuses"
            ));
        }
        let mut s = self.state();
        s.calls.push(format!("sweep {label}"));
        s.containers.retain(|_, c| !matches(&c.labels, label));
        s.networks.retain(|_, l| !matches(l, label));
        s.volumes.retain(|_, l| !matches(l, label));
        Ok(())
    }
}
