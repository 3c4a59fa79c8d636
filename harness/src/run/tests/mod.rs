//! The runner's own logic, driven by the scripted backend under tokio's paused clock: no Docker, a
//! trial of minutes in milliseconds. Each test loads a real matrix and scenario (through the real
//! loader and planner), scripts what the containers do, runs the trial and asserts on its outcome,
//! its steps, its events and what the backend was asked.

mod cancel;
mod checks;
mod crashes;
mod engine_errors;
mod exits;
mod faults;
mod histories;
mod leaders;
mod lifecycle;
mod reach;
mod refusals;
mod schedule;
mod session;
mod signals;
mod unpromised;
mod workloads;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::{run_trials, Event, Events, RunOptions};
use crate::model::Matrix;
use crate::outcome::{StepOutcome, StepStatus, TrialOutcome};
use crate::plan::{self, Trial};
use crate::runtime::scripted::{Boot, Reply, Script, Scripted, View};
use crate::runtime::{Backend, HttpCall};

/// A three-node system with a leader, a client, and nothing else; every readiness probe waits for
/// the log line `ready` (the scripted default). `node.wait` runs `sleep 10` (see [`with_sleep`]).
pub(super) const SYSTEM: &str = r#"
[system]
name = "sim"
releases = ["1.0", "2.0"]
scenarios = "scenarios"

[roles.node]
image = "sim/node:{release}"
replicas = 3
data = "/data"
command = ["serve", "--name", "{name}"]
env = { PEERS = "{replicas.node}", RELEASE = "{release}" }
ready = { log = "ready", timeout = "10s" }
leader = { action = "leader", pointer = "/leader" }
stop_timeout = "5s"

[roles.node.actions.shutdown]
exec = ["shutdown"]

[roles.node.actions.wait]
exec = ["sleep", "10"]
timeout = "30s"

[roles.node.actions.leader]
http = { port = 8080, path = "/leader" }

[roles.node.actions.health]
http = { port = 8080, path = "/health" }
timeout = "2s"

[roles.client]
image = "sim/client:{release}"
ready = { log = "ready", timeout = "10s" }

[roles.client.actions.get]
exec = ["get", "greeting"]
timeout = "5s"

[roles.client.actions.put]
exec = ["put", "greeting", "hello"]
"#;

/// The `[matrix]` of a fixture with one cell: every role at 1.0.
pub(super) const ONE_CELL: &str = "[matrix]\nreleases = [\"1.0\"]\nscenarios = [\"t\"]\n";

// Steps that the scenarios here share, composed with `concat()`:
// `cell(&[START, STOP_NODE_1, &health_of(0)].concat())`.

/// Starts every role.
pub(super) const START: &str = "[[step]]\ndo = \"start\"\n";
/// Stops node-1, gracefully.
pub(super) const STOP_NODE_1: &str = "[[step]]\ndo = \"stop\"\nrole = \"node\"\nreplica = 1\n";
/// Reads through the client (`client.get`).
pub(super) const GET: &str = "[[step]]\ndo = \"run\"\naction = \"client.get\"\n";
/// Waits 10 s on node-0 (`node.wait`, with [`with_sleep`]).
pub(super) const WAIT: &str = "[[step]]\ndo = \"run\"\naction = \"node.wait\"\n";

/// A loaded matrix and the folder its files (and the run's report) live in.
pub(super) struct Fixture {
    dir: tempfile::TempDir,
    pub matrix: Arc<Matrix>,
}

impl Fixture {
    /// `system` plus `matrix` (a `[matrix]` table) and one scenario file, `t.toml`.
    pub fn new(system: &str, matrix: &str, scenario: &str) -> Fixture {
        Fixture::with_scenarios(system, matrix, &[("t", scenario)])
    }

    /// `system` plus `matrix` and the scenario files named (`t` is `scenarios/t.toml`).
    pub fn with_scenarios(system: &str, matrix: &str, scenarios: &[(&str, &str)]) -> Fixture {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir(dir.path().join("scenarios")).unwrap();
        for (name, text) in scenarios {
            std::fs::write(dir.path().join(format!("scenarios/{name}.toml")), text).unwrap();
        }
        let path = dir.path().join("matrix.toml");
        std::fs::write(&path, format!("{system}\n{matrix}")).unwrap();
        let matrix = crate::model::load(&path).unwrap_or_else(|e| {
            let errors: Vec<String> = e.errors.iter().map(|e| e.to_string()).collect();
            panic!("the test's matrix does not load: {errors:#?}")
        });
        Fixture {
            dir,
            matrix: Arc::new(matrix),
        }
    }

    /// The only trial of the plan.
    pub fn trial(&self) -> Trial {
        let mut trials = plan::expand(&self.matrix).trials;
        assert_eq!(trials.len(), 1, "the test's plan has one trial");
        trials.remove(0)
    }

    pub fn reports(&self) -> PathBuf {
        self.dir.path().join("reports")
    }

    /// The folder of the matrix file.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

/// A cell scenario (every role at 1.0) with these steps.
pub(super) fn cell(steps: &str) -> Fixture {
    cell_within("10m", steps)
}

/// A cell scenario with these steps and this trial deadline.
pub(super) fn cell_within(timeout: &str, steps: &str) -> Fixture {
    Fixture::new(
        SYSTEM,
        ONE_CELL,
        &format!("kind = \"cell\"\ntimeout = \"{timeout}\"\n{steps}"),
    )
}

/// A path scenario from 1.0 to 2.0 with these steps (and `[[each_state]]` tables, if any).
pub(super) fn path(steps: &str) -> Fixture {
    Fixture::new(
        SYSTEM,
        "[matrix]\n[[matrix.paths]]\nfrom = \"1.0\"\nto = \"2.0\"\nscenarios = [\"t\"]\n",
        &format!("kind = \"path\"\ntimeout = \"10m\"\n{steps}"),
    )
}

/// What a run of one trial left: its outcome, the events in order, and the backend.
pub(super) struct Ran {
    pub outcome: TrialOutcome,
    pub events: Vec<Event>,
    pub backend: Arc<Scripted>,
    pub run_id: String,
}

impl Ran {
    pub fn step(&self, number: usize) -> &StepOutcome {
        self.outcome
            .steps
            .iter()
            .find(|s| s.number == number)
            .unwrap_or_else(|| panic!("no step {number} in {:#?}", self.outcome.steps))
    }

    pub fn statuses(&self) -> Vec<StepStatus> {
        self.outcome.steps.iter().map(|s| s.status).collect()
    }

    pub fn reason(&self) -> &str {
        self.outcome.reason.as_deref().unwrap_or("")
    }

    /// Step `number`'s message (empty when it has none).
    pub fn message(&self, number: usize) -> &str {
        self.step(number).message.as_deref().unwrap_or("")
    }

    /// The backend calls that start with `prefix` (`start node-`, `signal `, `kill `), in order.
    pub fn calls(&self, prefix: &str) -> Vec<String> {
        self.backend
            .calls()
            .into_iter()
            .filter(|c| c.starts_with(prefix))
            .collect()
    }

    /// Objects of this run the backend still holds.
    pub fn leftovers(&self) -> usize {
        self.backend
            .leftovers(&format!("{}={}", crate::runtime::LABEL_RUN, self.run_id))
    }
}

pub(super) const RUN_ID: &str = "20261202-000000-test";

/// Runs the fixture's one trial on `backend`.
pub(super) async fn run_on(fx: &Fixture, backend: Arc<Scripted>) -> Ran {
    run_with(fx, backend, CancellationToken::new(), false).await
}

/// Runs the fixture's one trial on a backend following `script`.
pub(super) async fn run(fx: &Fixture, script: Script) -> Ran {
    run_on(fx, Arc::new(Scripted::new(script))).await
}

pub(super) async fn run_with(
    fx: &Fixture,
    backend: Arc<Scripted>,
    cancel: CancellationToken,
    keep: bool,
) -> Ran {
    run_trial(fx, fx.trial(), backend, cancel, keep).await
}

/// Runs `trial` (one of the fixture's, perhaps changed) on `backend`.
pub(super) async fn run_trial(
    fx: &Fixture,
    trial: Trial,
    backend: Arc<Scripted>,
    cancel: CancellationToken,
    keep: bool,
) -> Ran {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let opts = RunOptions {
        run_id: RUN_ID.into(),
        report_dir: fx.reports(),
        jobs: 1,
        keep,
        reproduce: Arc::new(|t| crate::report::reproduce(None, &t.id, None)),
        reach: backend.reach().await.expect("the scripted backend's way"),
        took: Default::default(),
        bring_up: 1,
    };
    let mut outcomes = run_trials(
        backend.clone() as Arc<dyn Backend>,
        fx.matrix.clone(),
        vec![trial],
        opts,
        Events::new(tx),
        cancel,
    )
    .await;
    let mut events = vec![];
    while let Ok(e) = rx.try_recv() {
        events.push(e);
    }
    Ran {
        outcome: outcomes.remove(0),
        events,
        backend,
        run_id: RUN_ID.into(),
    }
}

pub(super) fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// `reply`, `n` seconds from now.
pub(super) fn after(n: u64, reply: Reply) -> Reply {
    Reply::After(secs(n), Box::new(reply))
}

/// A boot script: replica `name` boots as `boot` says, every other replica logs `ready` and runs.
pub(super) fn booting(
    name: &'static str,
    boot: Boot,
) -> impl Fn(&View) -> Boot + Send + Sync + 'static {
    move |v| {
        if v.name == name {
            boot.clone()
        } else {
            Boot::logs("ready")
        }
    }
}

/// An exec script in which `sleep N` takes N seconds and prints nothing, and every other command
/// answers as `f` says.
pub(super) fn with_sleep(
    f: impl Fn(&View, &[String]) -> Reply + Send + Sync + 'static,
) -> impl Fn(&View, &[String]) -> Reply + Send + Sync + 'static {
    move |v, argv| match argv {
        [cmd, n] if cmd == "sleep" => {
            after(n.parse().expect("sleep N"), Reply::Output(0, "".into()))
        }
        _ => f(v, argv),
    }
}

/// A step that checks that node-`replica` answers its health check with HTTP 200.
pub(super) fn health_of(replica: u32) -> String {
    format!(
        "[[step]]\ndo = \"check\"\naction = \"node.health\"\nreplica = {replica}\nexpect = {{ status = 200 }}\n"
    )
}

/// A script whose nodes elect `leader` and answer `/health` 200.
pub(super) fn cluster_led_by(leader: &'static str) -> Script {
    Script::default().on_http(move |_, call: &HttpCall| match call.path.as_str() {
        "/leader" => Reply::Answer(200, format!(r#"{{"leader":"{leader}"}}"#)),
        _ => Reply::Answer(200, r#"{"ok":true}"#.into()),
    })
}
