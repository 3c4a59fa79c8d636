//! The live cluster of one trial: which container each replica runs in, at which release, and the
//! operations on it (start, stop, move to another release on the same data volume, collect logs).

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use indexmap::IndexMap;

use super::error::StepError;
use super::last_words::{complaints, it_logged};
use crate::atomic::append_whole;
use crate::model::{Action, Matrix, Probe, Release, Role, Scope};
use crate::outcome::Observation;
use crate::runtime::{remove_when_free, BUSY_WAIT};
use crate::runtime::{
    Backend, ContainerSpec, ContainerStatus, Endpoint, EngineError, HttpCall, Labels, ReachChoice,
    REACH_VAR, RELAY_IMAGE,
};
use crate::step::{ActionRef, ExpectedExit, FirstStart};

/// Lines of a container's log kept in a failure's evidence.
pub(crate) const LAST_LOG_LINES: usize = 25;
/// How long teardown waits for the engine to release a trial network's endpoints.
/// How long a step waits for a replica it expects to exit (`exits`).
pub(crate) const EXPECTED_EXIT_WAIT: Duration = Duration::from_secs(30);

/// How long the first replica of a trial reached directly may take to answer a connection attempt
/// (accepted or refused) before its network counts as unreachable from here.
pub(crate) const DIRECT_WAIT: Duration = Duration::from_secs(3);

/// How an observation of what a replica complained of during a failed step is named (after the
/// replica's name).
pub const DURING_STEP: &str = "logged during the step";

/// One replica (`node-1`) of a role or service.
#[derive(Debug, Clone)]
pub(crate) struct Replica {
    pub role: String,
    pub index: u32,
    pub release: Release,
    /// Running (or exited) container, if one exists.
    pub container: Option<String>,
    pub container_name: Option<String>,
    pub ip: Option<IpAddr>,
    /// Stopped on purpose by a step: its exit is not a crash.
    pub stopped: bool,
    /// Frozen by a `pause` step (the engine's pause) and not thawed since.
    pub paused: bool,
    pub incarnation: u32,
}

/// The replicas of a trial, shared with background workloads (which look up current addresses).
pub(crate) type Table = Arc<Mutex<IndexMap<String, Replica>>>;

/// Template scope for one replica, over a snapshot of the table.
pub(crate) struct ReplicaScope<'a> {
    pub name: &'a str,
    pub table: &'a IndexMap<String, Replica>,
}

impl Scope for ReplicaScope<'_> {
    fn release(&self) -> &str {
        self.table[self.name].release.as_str()
    }
    fn role(&self) -> &str {
        &self.table[self.name].role
    }
    fn index(&self) -> u32 {
        self.table[self.name].index
    }
    fn replicas(&self, role: &str) -> String {
        self.table
            .iter()
            .filter(|(_, r)| r.role == role)
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }
    fn role_release(&self, role: &str) -> String {
        self.table
            .values()
            .find(|r| r.role == role)
            .map(|r| r.release.to_string())
            .unwrap_or_default()
    }
}

/// What reaches a trial's replicas: the backend, the table of where each replica runs, and the
/// trial's relay helper when their ports are reached through the engine. Cheap to clone;
/// background workloads hold one.
#[derive(Clone)]
pub(crate) struct Reach {
    pub backend: Arc<dyn Backend>,
    pub table: Table,
    pub relay: Option<String>,
}

impl Reach {
    pub(crate) fn snapshot(&self) -> IndexMap<String, Replica> {
        self.table.lock().expect("table lock").clone()
    }

    /// Where `container`, at `ip`, is reached.
    pub(crate) fn endpoint(&self, container: String, ip: IpAddr) -> Endpoint {
        Endpoint {
            container,
            ip,
            via: self.relay.clone(),
        }
    }
}

pub(crate) struct Cluster {
    pub backend: Arc<dyn Backend>,
    pub matrix: Arc<Matrix>,
    pub table: Table,
    /// Name of the trial's network, and prefix of its container and volume names: `cg-<run>-t<n>`.
    pub network: String,
    pub labels: Labels,
    /// Label filter that selects exactly this trial's objects (`run=…&trial=…`).
    pub label_filter: String,
    pub logs_dir: PathBuf,
    /// Data volumes created so far (one per replica with a `data` path, kept across incarnations).
    pub volumes: Mutex<Vec<String>>,
    /// How replicas' ports are reached, and why.
    pub way: ReachChoice,
    /// The relay helper on the trial network, when they are reached through the engine.
    pub relay: Option<String>,
    /// A replica answered a connection from here: the trial network is reachable directly.
    pub direct_proven: AtomicBool,
}

impl Cluster {
    pub(crate) fn reach(&self) -> Reach {
        Reach {
            backend: self.backend.clone(),
            table: self.table.clone(),
            relay: self.relay.clone(),
        }
    }

    pub(crate) fn role(&self, name: &str) -> &Role {
        self.matrix.role(name).expect("validated role")
    }

    /// The action a step names (validated when the scenario loaded).
    pub(crate) fn action(&self, a: &ActionRef) -> &Action {
        &self.role(&a.role).actions[&a.action]
    }

    /// How long a replica of `role` may take to stop and come back ready: what a step that bounces
    /// or moves it allows per replica.
    pub(crate) fn bounce_time(&self, role: &str) -> Duration {
        let r = self.role(role);
        r.ready.as_ref().map_or(Duration::ZERO, |x| x.timeout) + r.stop_timeout
    }

    /// The role (or service) of a replica (`node-1` → `node`).
    pub(crate) fn role_of(&self, replica: &str) -> &Role {
        let role = self.replica(replica).role;
        self.role(&role)
    }

    pub(crate) fn snapshot(&self) -> IndexMap<String, Replica> {
        self.table.lock().expect("table lock").clone()
    }

    pub(crate) fn replica(&self, name: &str) -> Replica {
        self.table.lock().expect("table lock")[name].clone()
    }

    fn update(&self, name: &str, f: impl FnOnce(&mut Replica)) {
        if let Some(r) = self.table.lock().expect("table lock").get_mut(name) {
            f(r);
        }
    }

    /// Records that a fault step froze (or thawed) the replica.
    pub(crate) fn mark_paused(&self, name: &str, paused: bool) {
        self.update(name, |r| r.paused = paused);
    }

    /// The replica's address on the trial network, after it was connected again, if `container` is
    /// still its container.
    pub(crate) fn set_ip(&self, name: &str, container: &str, ip: Option<IpAddr>) {
        self.update(name, |r| {
            if r.container.as_deref() == Some(container) {
                r.ip = ip;
            }
        });
    }

    /// Names of a role's replicas, in index order.
    pub(crate) fn replicas_of(&self, role: &str) -> Vec<String> {
        self.table
            .lock()
            .expect("table lock")
            .iter()
            .filter(|(_, r)| r.role == role)
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// `node-0` → `1.0` for every replica, for step outcomes.
    pub(crate) fn releases(&self) -> IndexMap<String, String> {
        self.table
            .lock()
            .expect("table lock")
            .iter()
            .map(|(n, r)| (n.clone(), r.release.to_string()))
            .collect()
    }

    /// Creates and starts `name`'s container at its current release, then waits until it is ready.
    pub(crate) async fn start(&self, name: &str) -> Result<(), StepError> {
        self.start_with(name, None).await
    }

    /// [`Cluster::start`], with settings for this start only.
    async fn start_with(&self, name: &str, first: Option<&FirstStart>) -> Result<(), StepError> {
        let (id, image) = self.launch(name, first).await?;
        let role = self.role_of(name);
        if let Some(ready) = &role.ready {
            self.wait_ready(name, &id, &ready.probe, ready.timeout, &image)
                .await?;
        }
        Ok(())
    }

    /// Creates and starts `name`'s container at its current release (with `first`'s settings),
    /// without waiting for it to be ready: its container id and image.
    async fn launch(
        &self,
        name: &str,
        first: Option<&FirstStart>,
    ) -> Result<(String, String), StepError> {
        let snapshot = self.snapshot();
        let rep = &snapshot[name];
        let role = self.role(&rep.role);
        let scope = ReplicaScope {
            name,
            table: &snapshot,
        };
        let render = |v: &Option<Vec<crate::model::Template>>| {
            v.as_ref()
                .map(|ts| ts.iter().map(|t| t.render(&scope)).collect::<Vec<_>>())
        };
        let image = self.matrix.image_of(role, &rep.release);
        let volume = role
            .data
            .as_ref()
            .map(|path| (format!("{}-{name}-data", self.network), path.clone()));
        if let Some((v, _)) = &volume {
            let known = self.volumes.lock().expect("volumes lock").contains(v);
            if !known {
                self.backend.create_volume(v, &self.labels).await?;
                self.volumes.lock().expect("volumes lock").push(v.clone());
            }
        }
        let incarnation = rep.incarnation + 1;
        let container_name = format!("{}-{name}-{incarnation}", self.network);
        let spec = ContainerSpec {
            name: container_name.clone(),
            image: image.clone(),
            hostname: name.to_string(),
            network: self.network.clone(),
            aliases: vec![name.to_string()],
            entrypoint: render(&role.entrypoint),
            cmd: match first.filter(|f| !f.args.is_empty()) {
                None => render(&role.command),
                Some(f) => Some(
                    render(&role.command)
                        .unwrap_or_default()
                        .into_iter()
                        .chain(f.args.iter().map(|a| a.render(&scope)))
                        .collect(),
                ),
            },
            env: role
                .env
                .iter()
                .filter(|(k, _)| !first.is_some_and(|f| f.env.iter().any(|(o, _)| o == *k)))
                .chain(first.iter().flat_map(|f| f.env.iter().map(|(k, v)| (k, v))))
                .map(|(k, v)| format!("{k}={}", v.render(&scope)))
                .collect(),
            volume,
            labels: self.labels.clone(),
            joins: None,
            cap_add: vec![],
        };
        let id = self.backend.start_container(&spec).await?;
        // The address is assigned at start; probes and HTTP actions use it from here on.
        let ip = self.backend.ip_on(&id, &self.network).await?;
        self.update(name, |r| {
            r.container = Some(id.clone());
            r.container_name = Some(container_name.clone());
            r.incarnation = incarnation;
            r.stopped = false;
            r.paused = false;
            r.ip = ip;
        });
        if let Some(ip) = ip {
            self.prove_direct(name, &id, ip).await?;
        }
        Ok((id, image))
    }

    /// When replicas are reached directly, that the first one started answers a connection from
    /// here (accepted or refused): otherwise every probe and HTTP action would time out and read
    /// as the system's silence, when it is this host that cannot reach the engine's network. A
    /// replica that exited meanwhile proves nothing either way; the next start tries again.
    async fn prove_direct(&self, name: &str, id: &str, ip: IpAddr) -> Result<(), StepError> {
        if self.relay.is_some() || self.direct_proven.load(Ordering::Relaxed) {
            return Ok(());
        }
        if self.backend.answers_directly(ip, DIRECT_WAIT).await {
            self.direct_proven.store(true, Ordering::Relaxed);
            return Ok(());
        }
        if !self.backend.status(id).await?.running {
            return Ok(());
        }
        Err(StepError::harness(format!(
            "cannot reach {name} at {ip} on the trial network from here: no answer within {}. \
             Replicas' ports are reached directly because {}, but this engine's networks are not \
             reachable from this host (an engine on another host, a rootless one, a firewall): \
             set {REACH_VAR}=engine to reach them through the engine (by a relay helper on the \
             trial network, {RELAY_IMAGE}: `{REACH_VAR}=engine crossgrade images build` builds it)",
            crate::model::format_duration(DIRECT_WAIT),
            self.way.why
        )))
    }

    /// Waits on the readiness probe until it holds, the container exits, or the deadline passes.
    async fn wait_ready(
        &self,
        name: &str,
        id: &str,
        probe: &Probe,
        timeout: Duration,
        image: &str,
    ) -> Result<(), StepError> {
        let deadline = Instant::now() + timeout;
        let waited = match probe {
            Probe::Log(needle) => {
                match tokio::time::timeout(timeout, self.backend.wait_for_log(id, needle)).await {
                    Ok(r) => Some(r?),
                    Err(_) => None,
                }
            }
            other => {
                let mut tick = tokio::time::interval(Duration::from_millis(100));
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                let mut result = None;
                while Instant::now() < deadline {
                    tick.tick().await;
                    if !self.backend.status(id).await?.running {
                        result = Some(false);
                        break;
                    }
                    if self.probe_once(name, other).await? {
                        result = Some(true);
                        break;
                    }
                }
                result
            }
        };
        match waited {
            Some(true) => Ok(()),
            Some(false) | None => {
                let status = self.backend.status(id).await?;
                let logs = self.backend.logs(id, Some(LAST_LOG_LINES)).await?;
                let obs = Observation {
                    what: format!("{name} ({image})"),
                    exit_code: status.exit_code.filter(|_| !status.running),
                    output: logs,
                    ..Default::default()
                };
                if status.running {
                    let msg = format!(
                        "{name} ({image}) was not ready within {}: {}",
                        crate::model::format_duration(timeout),
                        describe_probe(probe)
                    );
                    Err(StepError::fail(msg).with(obs))
                } else {
                    let msg = format!(
                        "{name} ({image}) exited with code {} before it was ready{}{}",
                        status.exit_code.unwrap_or(-1),
                        if status.oom_killed {
                            " (out of memory)"
                        } else {
                            ""
                        },
                        it_logged(&obs.output, self.role_of(name).error_lines.as_ref())
                    );
                    Err(StepError::fail(msg).with(obs).exited(name))
                }
            }
        }
    }

    /// Whether the probe holds now. A replica that does not answer is not ready yet; an engine that
    /// fails the probe's exec is the engine's error, not the system's.
    async fn probe_once(&self, name: &str, probe: &Probe) -> Result<bool, StepError> {
        let rep = self.replica(name);
        let Some(id) = rep.container.clone() else {
            return Ok(false);
        };
        Ok(match probe {
            Probe::Log(_) => false,
            Probe::Exec(argv) => {
                let table = self.snapshot();
                let scope = ReplicaScope {
                    name,
                    table: &table,
                };
                let argv: Vec<String> = argv.iter().map(|t| t.render(&scope)).collect();
                match self.backend.exec(&id, &argv, &[]).await {
                    Ok(o) => o.exit_code == Some(0),
                    // Not running (yet, or any more): the loop sees the exit.
                    Err(e) if e.is_conflict() || e.is_not_found() => false,
                    Err(e) => return Err(e.into()),
                }
            }
            Probe::Tcp(port) => match rep.ip {
                Some(ip) => {
                    let to = self.reach().endpoint(id, ip);
                    self.backend
                        .tcp_accepts(&to, *port, Duration::from_millis(500))
                        .await?
                }
                None => false,
            },
            Probe::Http(req) => match rep.ip {
                Some(ip) => {
                    let table = self.snapshot();
                    let scope = ReplicaScope {
                        name,
                        table: &table,
                    };
                    let call = HttpCall {
                        method: req.method.clone(),
                        port: req.port,
                        path: req.path.render(&scope),
                        body: None,
                        timeout: Duration::from_secs(1),
                    };
                    let to = self.reach().endpoint(id, ip);
                    matches!(
                        self.backend.http(&to, &call).await?,
                        Ok(a) if a.status == req.status
                    )
                }
                None => false,
            },
        })
    }

    /// Stops (or kills) a replica's container, leaving it in place.
    pub(crate) async fn stop(&self, name: &str, kill: bool) -> Result<(), StepError> {
        let rep = self.replica(name);
        let Some(id) = rep.container else {
            return Ok(());
        };
        self.update(name, |r| r.stopped = true);
        // A frozen process cannot take a signal: thaw it first (its pause ends here).
        if rep.paused {
            match self.backend.unpause(&id).await {
                Err(e) if e.is_not_found() || e.is_conflict() => {}
                r => r?,
            }
            self.mark_paused(name, false);
        }
        if kill {
            self.backend.kill(&id).await?;
        } else {
            let grace = self.role(&rep.role).stop_timeout;
            self.backend.stop(&id, grace).await?;
        }
        Ok(())
    }

    /// Sends `signal` to a replica's main process. A replica that is not running is the system's
    /// state, not the engine's failure.
    pub(crate) async fn signal(&self, name: &str, signal: &str) -> Result<(), StepError> {
        let rep = self.replica(name);
        let Some(id) = rep.container.filter(|_| !rep.stopped) else {
            return Err(StepError::fail(format!(
                "cannot send {signal} to {name}: it is not running"
            )));
        };
        match self.backend.signal(&id, signal).await {
            Err(e) if e.is_conflict() || e.is_not_found() => Err(StepError::fail(format!(
                "cannot send {signal} to {name}: it is not running ({e})"
            ))),
            r => Ok(r?),
        }
    }

    /// Saves the container's log and removes it; the data volume stays.
    pub(crate) async fn remove(&self, name: &str) -> Result<(), StepError> {
        let rep = self.replica(name);
        let Some(id) = rep.container.clone() else {
            return Ok(());
        };
        // Without its log the trial has lost its evidence: the harness's error, and the container
        // stays for the teardown to remove.
        self.save_log(name, &rep, &id)
            .await
            .map_err(StepError::harness)?;
        self.backend.remove_container(&id).await?;
        self.update(name, |r| {
            r.container = None;
            r.ip = None;
        });
        Ok(())
    }

    /// Moves a replica to `release`: graceful stop, remove, start the new image on the same volume
    /// (with `first`'s settings for that start only).
    pub(crate) async fn replace(
        &self,
        name: &str,
        release: &Release,
        first: Option<&FirstStart>,
    ) -> Result<(), StepError> {
        self.stop(name, false).await?;
        self.remove(name).await?;
        self.update(name, |r| r.release = release.clone());
        self.start_with(name, first).await
    }

    /// Moves a replica to `release` expecting it to refuse that release at its first start, as a
    /// system documents for a move it does not support: it must exit on its own, with `code` if
    /// given, within its readiness timeout (at least [`EXPECTED_EXIT_WAIT`]), and is then stopped on
    /// purpose. One still running then, or exiting with another code, fails; the observation has
    /// its last log lines and its own words.
    pub(crate) async fn replace_refused(
        &self,
        name: &str,
        release: &Release,
        first: Option<&FirstStart>,
        code: Option<i64>,
    ) -> Result<Observation, StepError> {
        self.stop(name, false).await?;
        self.remove(name).await?;
        self.update(name, |r| r.release = release.clone());
        let (id, image) = self.launch(name, first).await?;
        let within = self
            .role_of(name)
            .ready
            .as_ref()
            .map_or(EXPECTED_EXIT_WAIT, |r| r.timeout.max(EXPECTED_EXIT_WAIT));
        let status = self.exit_within(&id, within).await?;
        let logs = self.backend.logs(&id, Some(LAST_LOG_LINES)).await?;
        let words = it_logged(&logs, self.role_of(name).error_lines.as_ref());
        let mut obs = Observation {
            what: format!("{name} ({image})"),
            exit_code: status.exit_code.filter(|_| !status.running),
            output: logs,
            ..Default::default()
        };
        if status.running {
            return Err(StepError::fail(format!(
                "{name} ({image}) was still running {} after it started at {release}; the step \
                 expects it to refuse that release and exit",
                crate::model::format_duration(within)
            ))
            .with(obs));
        }
        self.update(name, |r| r.stopped = true);
        let got = status.exit_code.unwrap_or(-1);
        if let Some(want) = code.filter(|w| *w != got) {
            return Err(StepError::fail(format!(
                "{name} ({image}) exited with code {got}, expected {want}{words}"
            ))
            .with(obs));
        }
        obs.note = Some(format!(
            "{name} refused {release} as expected: it exited with code {got}{words}"
        ));
        Ok(obs)
    }

    /// The container's status once it has exited, or when `within` has passed (still running).
    async fn exit_within(&self, id: &str, within: Duration) -> Result<ContainerStatus, StepError> {
        let deadline = Instant::now() + within;
        loop {
            let status = self.backend.status(id).await?;
            if !status.running || Instant::now() >= deadline {
                return Ok(status);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Appends the container's whole log to `logs/<replica>.log`, with a header per incarnation. A
    /// section that cannot be written whole (a full disk) is taken back out, so the file holds only
    /// whole incarnations; the error says which log and why.
    async fn save_log(&self, name: &str, rep: &Replica, id: &str) -> Result<(), String> {
        let text = match self.backend.logs(id, None).await {
            Ok(t) => t,
            Err(e) => format!("(logs unavailable: {e})\n"),
        };
        let status = self.backend.status(id).await.ok();
        let header = format!(
            "===== {name} incarnation {} at release {} ({}), exit code {} =====\n",
            rep.incarnation,
            rep.release,
            rep.container_name.as_deref().unwrap_or("?"),
            status
                .and_then(|s| if s.running { None } else { s.exit_code })
                .map_or("-".into(), |c| c.to_string()),
        );
        let path = self.logs_dir.join(format!("{name}.log"));
        append_whole(&path, &[header.as_bytes(), text.as_bytes()])
            .map_err(|e| format!("cannot save the log of {name} to {}: {e}", path.display()))
    }

    /// Waits for a replica that a step made exit on its own (`exits`), then counts it as stopped on
    /// purpose. Fails when it is still running after [`EXPECTED_EXIT_WAIT`] or exits with another
    /// code than the one expected; either way the observation has its last log lines.
    pub(crate) async fn await_exit(&self, x: &ExpectedExit) -> Result<Observation, StepError> {
        let name = x.name();
        let rep = self.replica(&name);
        let Some(id) = rep.container.filter(|_| !rep.stopped) else {
            return Err(StepError::fail(format!(
                "{name} was expected to exit, but it was not running"
            )));
        };
        let status = self.exit_within(&id, EXPECTED_EXIT_WAIT).await?;
        let logs = self.backend.logs(&id, Some(LAST_LOG_LINES)).await?;
        let obs = Observation {
            what: format!("exit of {name}"),
            exit_code: status.exit_code.filter(|_| !status.running),
            output: logs,
            ..Default::default()
        };
        if status.running {
            return Err(StepError::fail(format!(
                "{name} did not exit within {}s of the step (the step expects it to exit)",
                EXPECTED_EXIT_WAIT.as_secs()
            ))
            .with(obs));
        }
        self.update(&name, |r| r.stopped = true);
        match (x.code, status.exit_code) {
            (Some(want), Some(got)) if want != got => Err(StepError::fail(format!(
                "{name} exited with code {got}, expected {want}{}",
                it_logged(&obs.output, self.role_of(&name).error_lines.as_ref())
            ))
            .with(obs)),
            _ => Ok(obs),
        }
    }

    /// Replicas that should be running but whose container has exited: (name, exit code, last log lines).
    pub(crate) async fn crashed(&self) -> Result<Vec<(String, Option<i64>, String)>, StepError> {
        let listed = self.backend.containers_labelled(&self.label_filter).await?;
        let mut out = Vec::new();
        for (name, rep) in self.snapshot() {
            let Some(id) = &rep.container else { continue };
            if rep.stopped {
                continue;
            }
            let state = listed
                .iter()
                .find(|c| &c.id == id)
                .map(|c| c.state.as_str());
            if state != Some("running") {
                let status = self.backend.status(id).await?;
                if status.running {
                    continue;
                }
                let logs = self.backend.logs(id, Some(LAST_LOG_LINES)).await?;
                out.push((name, status.exit_code, logs));
            }
        }
        Ok(out)
    }

    /// What each replica complained of (warnings, errors) in its log in the last `ago`: quoted when a
    /// step fails, since a component may misbehave without exiting. Best effort: a log that cannot
    /// be read is left out (the failure is the system's, whatever its log says).
    pub(crate) async fn complaints_during(&self, ago: Duration) -> Vec<Observation> {
        let mut out = Vec::new();
        for (name, rep) in self.snapshot() {
            let Some(id) = &rep.container else { continue };
            let Ok(log) = self.backend.logs_since(id, ago).await else {
                continue;
            };
            let lines = complaints(&log, self.role_of(&name).error_lines.as_ref());
            if !lines.is_empty() {
                out.push(Observation {
                    what: format!("{name} {DURING_STEP}"),
                    output: lines.join("\n"),
                    ..Default::default()
                });
            }
        }
        out
    }

    /// Saves every container's log and removes containers, the network and the volumes. Returns
    /// why the logs that could not be saved were not (everything is removed all the same).
    pub(crate) async fn teardown(&self) -> Result<Vec<String>, EngineError> {
        let snapshot = self.snapshot();
        let saves = snapshot.iter().filter_map(|(name, rep)| {
            rep.container
                .as_ref()
                .map(|id| async move { self.save_log(name, rep, id).await })
        });
        let unsaved: Vec<String> = futures_util::future::join_all(saves)
            .await
            .into_iter()
            .filter_map(Result::err)
            .collect();
        let removals = snapshot
            .values()
            .filter_map(|r| r.container.as_ref())
            .map(|id| self.backend.remove_container(id));
        for r in futures_util::future::join_all(removals).await {
            r?;
        }
        // A container of the trial the table does not know (a start whose answer was lost) would
        // keep the network busy: remove whatever still carries the trial's label.
        let strays = self.backend.containers_labelled(&self.label_filter).await?;
        for c in strays {
            self.backend.remove_container(&c.id).await?;
        }
        // The engine may release a removed container's endpoint a moment later ("active
        // endpoints", 403): wait for the network to become removable, with a deadline.
        let deadline = Instant::now() + BUSY_WAIT;
        remove_when_free(format!("network {}", self.network), deadline, || {
            self.backend.remove_network(&self.network)
        })
        .await?;
        let volumes = self.volumes.lock().expect("volumes lock").clone();
        let removals = volumes.iter().map(|v| self.backend.remove_volume(v));
        for r in futures_util::future::join_all(removals).await {
            r?;
        }
        Ok(unsaved)
    }
}

pub(crate) fn describe_probe(p: &Probe) -> String {
    match p {
        Probe::Log(s) => format!("no log line contains {s:?}"),
        Probe::Exec(argv) => format!(
            "`{}` did not exit 0",
            argv.iter()
                .map(|t| t.source())
                .collect::<Vec<_>>()
                .join(" ")
        ),
        Probe::Http(h) => format!(
            "{} :{}{} did not answer {}",
            h.method,
            h.port,
            h.path.source(),
            h.status
        ),
        Probe::Tcp(port) => format!("port {port} did not accept connections"),
    }
}
