//! Outcomes: what happened in a trial, step by step, and its verdict. Plain data, serializable; the
//! runner produces it, reporters consume it.

mod repeat;

pub use repeat::{aggregate, Class, Repeats};

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

/// `fail` is the system under test misbehaving; `error` is the harness or the engine. Never mixed up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    Fail,
    Error,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Error => "error",
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StepStatus {
    Pass,
    Fail,
    Error,
    /// Not reached because an earlier step ended the trial.
    Skipped,
}

/// What the harness saw when it ran an action or a probe.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Observation {
    /// e.g. `client.get on client-0`.
    pub what: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    /// Output excerpt (stdout then stderr, or the response body), cut to a few KiB.
    pub output: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepOutcome {
    pub number: usize,
    pub description: String,
    pub origin: String,
    pub status: StepStatus,
    /// Offset from the start of the trial.
    pub started_ms: u64,
    pub duration_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub observations: Vec<Observation>,
    /// The replicas the step acted on, as chosen when it ran (the leader it bounced, the replica an
    /// upgrade order moved next).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<String>,
    /// Release of every replica when the step ended (`node-0` → `1.0`).
    pub releases: IndexMap<String, String>,
    /// It failed because a component refused: one exited, or an action was answered with an
    /// error (what a negative trial accepts as a clean refusal).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub refusal: bool,
}

/// How a background workload fared.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkloadReport {
    pub name: String,
    pub action: String,
    pub attempts: u64,
    pub successes: u64,
    pub success_ratio: f64,
    pub longest_unavailable_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// The engine or the harness failed an attempt, so the workload stopped observing: the trial is
    /// an `error`, whatever the numbers say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broken: Option<String>,
    pub passed: bool,
    /// A history workload's record and the check of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history: Option<HistoryReport>,
}

/// The history a workload recorded (every operation its clients made), and whether it is
/// linearizable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryReport {
    /// `register` or `kv`.
    pub model: String,
    /// The history's file, relative to the trial's folder (`history.jsonl`).
    pub file: String,
    pub clients: u32,
    pub ops: usize,
    /// Operations that took effect, that definitely did not, and that may have.
    pub ok: usize,
    pub failed: usize,
    pub unknown: usize,
    /// `linearizable`, `not linearizable` or `unknown` (the checker's budget ran out).
    pub verdict: String,
    /// The checker's search steps, and the time they took.
    pub check_steps: u64,
    pub check_ms: u64,
    /// Where no order fits: the window of operations to show, when not linearizable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub violation: Option<HistoryViolation>,
}

/// The smallest window of operations the checker could not order (see
/// [`crate::history::Violation`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryViolation {
    /// The key (absent: the single register).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// How many of the key's operations the deepest attempt placed, of how many.
    pub linearized: usize,
    pub ops_in_key: usize,
    /// The model's state after them, in words.
    pub state: String,
    /// The operations of the window, by invoke; times in milliseconds from the workload's start.
    pub window: Vec<WindowOp>,
}

/// One operation of a violation's window, as the report draws it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowOp {
    pub client: u64,
    /// `write "7"`, `read`, `cas "3"→"4"`.
    pub call: String,
    /// `ok`, `"7"`, `nil`, `true`, `fail`, `unknown`.
    pub outcome: String,
    pub invoke_ms: f64,
    /// Absent: it never completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub complete_ms: Option<f64>,
    /// Whether the deepest attempt placed it before it got stuck.
    pub placed: bool,
    /// Whether it is the operation whose completion the search could not get past.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stuck: bool,
}

/// A fault's window in a trial: from the step that started it to the step that ended it, or the
/// trial's end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultWindow {
    /// `pause`, `isolate`, `partition`, `loss`, `throttle` or `delay`.
    pub kind: String,
    /// What it was, its replicas resolved: `pause node-1`, `partition node-0 | node-1, node-2`.
    pub description: String,
    pub replicas: Vec<String>,
    pub from_step: usize,
    /// The step that ended it (a `resume` or `heal`, or one that stopped or replaced its replica);
    /// none when it lasted until the end of the trial.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until_step: Option<usize>,
    /// How it ended, in words: `step 5`, `the end of the trial`.
    pub ended_by: String,
    /// Offsets from the start of the trial.
    pub started_ms: u64,
    pub ended_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathEnds {
    pub from: String,
    pub to: String,
    /// Releases passed through on the way.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub via: Vec<String>,
    /// The order the roles moved in, when the path explores orders.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<Vec<String>>,
    /// Whether that order is the scenario's own.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub documented: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrialOutcome {
    pub id: String,
    pub scenario: String,
    /// `cell` or `path`.
    pub kind: String,
    /// Release of every role at the start.
    pub start: IndexMap<String, String>,
    /// For a cell: the varying roles' releases (the cell's coordinates in the matrix).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cell: Option<IndexMap<String, String>>,
    /// For a path: the releases it goes from and to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<PathEnds>,
    /// A negative trial: an upgrade the support policy does not promise (it passes when it goes
    /// through or is refused cleanly).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unpromised: bool,
    pub verdict: Verdict,
    /// One line: why it failed or errored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed_step: Option<usize>,
    pub duration_ms: u64,
    /// When the trial started, in milliseconds since the Unix epoch (places trials run by separate
    /// processes on one time line).
    #[serde(default)]
    pub started_unix_ms: u64,
    pub steps: Vec<StepOutcome>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub workloads: Vec<WorkloadReport>,
    /// The faults the trial's steps put in effect, each as the window it lasted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub faults: Vec<FaultWindow>,
    /// Last log lines of every container of a trial that did not pass (those that exited where they
    /// should not first).
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub last_logs: IndexMap<String, Vec<String>>,
    /// Folder of this trial's container logs, relative to the run's report folder.
    pub logs_dir: String,
    /// The command that runs exactly this trial again.
    pub reproduce: String,
    /// The same, as a `cargo nextest run` of the trials test binary.
    #[serde(default)]
    pub reproduce_nextest: String,
    /// Which run of a repeated trial this outcome is (`run --repeat N`, 1-based).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat: Option<usize>,
    /// A repeated trial's runs, aggregated: how many passed, and its class. The rest of the outcome
    /// is the run whose details are kept ([`Repeats::shown`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeats: Option<Repeats>,
}

/// The commands that run exactly one trial again, from the CLI and from nextest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Reproduce {
    pub crossgrade: String,
    pub nextest: String,
}
