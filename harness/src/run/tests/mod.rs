//! The runner's own logic, driven by the scripted backend under tokio's paused clock: no Docker, a
//! trial of minutes in milliseconds. Each test loads a real matrix and scenario (through the real
//! loader and planner), scripts what the containers do, runs the trial and asserts on its outcome,
//! its steps, its events and what the backend was asked.

mod checks;
mod lifecycle;

use std::path::PathBuf;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::{run_trials, Event, Events, RunOptions};
use crate::model::Matrix;
use crate::outcome::{StepOutcome, StepStatus, TrialOutcome};
use crate::plan::{self, Trial};
use crate::runtime::scripted::{Script, Scripted};
use crate::runtime::{Backend, HttpCall};

/// A three-node system with a leader, a client, and nothing else; every readiness probe waits for
/// the log line `ready` (the scripted default).
const SYSTEM: &str = r#"
[system]
name = "sim"
releases = ["1.0", "2.0"]
scenarios = "scenarios"

[roles.node]
image = "sim/node:{release}"
replicas = 3
data = "/data"
ready = { log = "ready", timeout = "10s" }
leader = { action = "leader", pointer = "/leader" }
stop_timeout = "5s"

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

/// A loaded matrix and the folder its files (and the run's report) live in.
pub(super) struct Fixture {
    dir: tempfile::TempDir,
    pub matrix: Arc<Matrix>,
}

impl Fixture {
    /// `system` plus `matrix` (a `[matrix]` table) and one scenario file, `t.toml`.
    pub fn new(system: &str, matrix: &str, scenario: &str) -> Fixture {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir(dir.path().join("scenarios")).unwrap();
        std::fs::write(dir.path().join("scenarios/t.toml"), scenario).unwrap();
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
}

/// A cell scenario (every role at 1.0) with these steps.
pub(super) fn cell(steps: &str) -> Fixture {
    Fixture::new(
        SYSTEM,
        "[matrix]\nreleases = [\"1.0\"]\nscenarios = [\"t\"]\n",
        &format!("kind = \"cell\"\ntimeout = \"10m\"\n{steps}"),
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
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let opts = RunOptions {
        run_id: RUN_ID.into(),
        report_dir: fx.reports(),
        jobs: 1,
        keep,
        reproduce: Arc::new(|t| crate::report::reproduce(None, &t.id)),
    };
    let mut outcomes = run_trials(
        backend.clone() as Arc<dyn Backend>,
        fx.matrix.clone(),
        vec![fx.trial()],
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

/// A script whose nodes elect `leader` and answer `/health` 200.
pub(super) fn cluster_led_by(leader: &'static str) -> Script {
    Script::default().on_http(move |_, call: &HttpCall| {
        use crate::runtime::scripted::Reply;
        match call.path.as_str() {
            "/leader" => Reply::Answer(200, format!(r#"{{"leader":"{leader}"}}"#)),
            _ => Reply::Answer(200, r#"{"ok":true}"#.into()),
        }
    })
}
