//! The backend: everything the runner asks of a container engine, as one trait. The Docker engine
//! ([`super::Engine`]) is the implementation that runs trials; a scripted in-memory backend drives
//! the runner's own logic in unit tests, thousands of steps a second, without Docker.
//!
//! The trait speaks in container ids, network and volume names, and plain data; it knows nothing of
//! roles, releases or steps. What a call failed at is an [`EngineError`]: the engine's doing, which
//! the runner turns into an `error` verdict. A replica that does not answer a request is not an
//! engine error: [`Backend::http`] reports it as [`Unanswered`], which the runner records as an
//! observation of the system.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use async_trait::async_trait;

use super::reach::ReachChoice;

/// Labels of a container, network or volume.
pub(crate) type Labels = HashMap<String, String>;

/// An engine call that failed, with what was being done. Its message ends with the engine's own
/// answer (`creating network cg-…: …`), which is what most readers need in one line; the chain of
/// causes continues from that answer's own cause, so that a report of the whole chain does not
/// repeat it.
#[derive(Debug)]
pub struct EngineError {
    /// What the harness was doing, e.g. `creating network cg-…`.
    pub doing: String,
    /// How the engine answered, in the terms the runner acts on.
    pub kind: EngineErrorKind,
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

impl std::fmt::Display for EngineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.doing, self.source)
    }
}

impl std::error::Error for EngineError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.source()
    }
}

/// The engine answers the runner distinguishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineErrorKind {
    /// 404: no such image, container, network or volume.
    NotFound,
    /// 409: a conflict, e.g. exec in a container that is not running, or a removal already under way.
    Conflict,
    /// 403: still in use by something being removed ("network has active endpoints").
    InUse,
    /// Anything else: the engine is down, refused, or answered something unexpected.
    Other,
}

impl EngineError {
    pub fn new(
        doing: impl Into<String>,
        kind: EngineErrorKind,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> EngineError {
        EngineError {
            doing: doing.into(),
            kind,
            source: source.into(),
        }
    }

    /// The engine answered 404 (no such image, container, ...).
    pub(crate) fn is_not_found(&self) -> bool {
        self.kind == EngineErrorKind::NotFound
    }

    /// The object is being removed by someone else, or still used by something being removed: 409
    /// ("removal already in progress", "volume in use") or 403 ("network has active endpoints").
    pub(crate) fn is_busy(&self) -> bool {
        matches!(
            self.kind,
            EngineErrorKind::Conflict | EngineErrorKind::InUse
        )
    }

    /// The container named is not running (409 on exec, say).
    pub(crate) fn is_conflict(&self) -> bool {
        self.kind == EngineErrorKind::Conflict
    }
}

pub(crate) type Result<T> = std::result::Result<T, EngineError>;

/// What to start.
#[derive(Debug, Clone, Default)]
pub struct ContainerSpec {
    pub name: String,
    pub image: String,
    pub hostname: String,
    pub network: String,
    /// Names other containers reach it by on the trial network.
    pub aliases: Vec<String>,
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    pub env: Vec<String>,
    /// (volume name, mount path).
    pub volume: Option<(String, String)>,
    pub labels: Labels,
    /// Join this container's network namespace instead of `network` (`--network container:ID`): a
    /// helper that acts on another container's traffic. `hostname`, `network` and `aliases` are
    /// then not used.
    pub joins: Option<String>,
    /// Capabilities added beyond the engine's default set (`NET_ADMIN` for a network helper; the
    /// components under test get none).
    pub cap_add: Vec<String>,
}

/// The state of a container as far as the harness cares.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ContainerStatus {
    pub running: bool,
    pub exit_code: Option<i64>,
    pub oom_killed: bool,
}

/// The result of running a command inside a container.
#[derive(Debug, Clone, Default)]
pub struct ExecOutput {
    pub exit_code: Option<i64>,
    pub stdout: String,
    pub stderr: String,
}

/// One labelled object, as listed for cleanup.
#[derive(Debug, Clone, Default)]
pub struct Labelled {
    pub id: String,
    pub name: String,
    pub labels: Labels,
    /// Containers only: `running`, `exited`, ...
    pub state: String,
}

/// Where a replica is reached: its container, its address on the trial network, and the way there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub container: String,
    pub ip: IpAddr,
    /// The trial's relay helper (a container on the trial network) when replicas are reached
    /// through the engine ([`crate::runtime::Reach::Engine`]); `None`: straight from here.
    pub via: Option<String>,
}

/// An HTTP request to a port of a replica.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpCall {
    pub method: String,
    pub port: u16,
    /// Path and query, starting with `/`.
    pub path: String,
    pub body: Option<String>,
    pub timeout: Duration,
}

/// A replica's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpAnswer {
    pub status: u16,
    pub body: String,
}

/// No answer came: refused, reset, timed out. The system's doing, not the engine's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Unanswered(pub String);

/// Everything the runner asks of a container engine.
#[async_trait]
pub trait Backend: Send + Sync + std::fmt::Debug {
    /// What the engine says it is (`28.2.2 (API 1.50)`), for a run's record.
    async fn describe(&self) -> Result<String>;

    /// Whether the image is in the engine. Never pulls.
    async fn image_exists(&self, image: &str) -> Result<bool>;

    async fn create_network(&self, name: &str, labels: &Labels) -> Result<()>;
    /// Removes a network; one that is gone already is no error.
    async fn remove_network(&self, name: &str) -> Result<()>;
    async fn create_volume(&self, name: &str, labels: &Labels) -> Result<()>;
    /// Removes a volume; one that is gone already is no error.
    async fn remove_volume(&self, name: &str) -> Result<()>;

    /// Creates and starts a container; returns its id.
    async fn start_container(&self, spec: &ContainerSpec) -> Result<String>;
    /// Stops gracefully (SIGTERM, then SIGKILL after `grace`); a stopped container is no error.
    async fn stop(&self, id: &str, grace: Duration) -> Result<()>;
    /// SIGKILL; a container that is not running is no error.
    async fn kill(&self, id: &str) -> Result<()>;
    /// Sends `signal` (e.g. `SIGHUP`) to the container's main process. A container that is not
    /// running is a [`EngineErrorKind::Conflict`].
    async fn signal(&self, id: &str, signal: &str) -> Result<()>;
    /// Removes a container (killing it if it runs), keeping its volumes; a gone one is no error.
    async fn remove_container(&self, id: &str) -> Result<()>;
    /// Freezes every process of the container (`docker pause`).
    async fn pause(&self, id: &str) -> Result<()>;
    async fn unpause(&self, id: &str) -> Result<()>;
    /// Cuts the container off `network`.
    async fn disconnect(&self, id: &str, network: &str) -> Result<()>;
    /// Joins the container to `network` again, reachable by `aliases`.
    async fn connect(&self, id: &str, network: &str, aliases: &[String]) -> Result<()>;

    async fn status(&self, id: &str) -> Result<ContainerStatus>;
    /// The container's address on `network`, once it has one.
    async fn ip_on(&self, id: &str, network: &str) -> Result<Option<IpAddr>>;
    /// Runs `argv` in the container, with `env` (`KEY=value` each) added to its environment, and
    /// collects its output.
    async fn exec(&self, id: &str, argv: &[String], env: &[String]) -> Result<ExecOutput>;
    /// The container's log (stdout and stderr interleaved), whole or its last `tail` lines.
    async fn logs(&self, id: &str, tail: Option<usize>) -> Result<String>;
    /// What the container logged in the last `ago` (a step's span), without timestamps.
    async fn logs_since(&self, id: &str, ago: std::time::Duration) -> Result<String>;
    /// Follows the container's log until a line contains `needle` (true) or the container stops
    /// (false). The caller bounds the wait.
    async fn wait_for_log(&self, id: &str, needle: &str) -> Result<bool>;

    /// Containers (running or not) with the label (`key` or `key=value`; several joined by `&`).
    async fn containers_labelled(&self, label: &str) -> Result<Vec<Labelled>>;
    async fn networks_labelled(&self, label: &str) -> Result<Vec<Labelled>>;
    async fn volumes_labelled(&self, label: &str) -> Result<Vec<Labelled>>;

    /// Sends an HTTP request to a replica's port: its answer, or [`Unanswered`] when none came (the
    /// system's doing). The outer `Err` is ours: the relay the request went through failed.
    async fn http(
        &self,
        to: &Endpoint,
        call: &HttpCall,
    ) -> Result<std::result::Result<HttpAnswer, Unanswered>>;
    /// Whether the replica accepts a TCP connection on `port` within `within`. `Err` as for
    /// [`Backend::http`].
    async fn tcp_accepts(&self, to: &Endpoint, port: u16, within: Duration) -> Result<bool>;

    /// How replicas' ports are reached on this engine (directly, or through it), and why.
    async fn reach(&self) -> Result<ReachChoice>;
    /// Whether a TCP connection from here to `ip` gets any answer (accepted or refused) within
    /// `within`: the trial network is reachable directly.
    async fn answers_directly(&self, ip: IpAddr, within: Duration) -> bool;

    /// Removes everything matching `label` and waits for it, from any context, including `Drop`
    /// during a panic or after the async runtime is gone. Returns what went wrong, if anything.
    fn sweep_blocking(&self, label: &str) -> std::result::Result<(), String>;
}
