//! Step kinds. Each kind is one module that holds everything about it: its keys (the fields of its
//! `Raw` struct) and their validation with positions, how it plans (what reaches the runner, with a
//! path's releases resolved), how it reads in a plan, its default deadline, and its execution,
//! side by side as in CockroachDB's mixedversion `steps.go`. Adding a kind is one file, one variant
//! in each enum below (the compiler then names every `match` that must learn it) and its README
//! lines.
//!
//! Two enums carry the kinds through the pipeline:
//! - [`StepSpec`]: a step as a scenario file says it (an `upgrade` of a whole role, `{to}` in what a
//!   check expects);
//! - [`Op`]: a step as the plan hands it to the runner: upgrades expanded into one [`Move`] per
//!   replica, every release resolved. Nothing unexpanded or unresolved can reach the runner, because
//!   `Op` has no variant for it.

mod action;
mod expect;
mod load;
mod replica;
mod restart;
mod signal;
mod start;
mod stop;
mod stop_workload;
mod upgrade;
mod workload;

use std::fmt;
use std::time::Duration;

use crate::model::{Condition, Release};
use crate::outcome::Observation;
use crate::run::{Cluster, Live, StepError};

pub use action::ActionStep;
pub use expect::{describe_expect, Expect, NumOp};
pub(crate) use load::{load_step, ScenarioCx};
pub use replica::{ActionRef, ExpectedExit, ReplicaSel};
pub use restart::Restart;
pub use signal::Signal;
pub use start::Start;
pub use stop::Stop;
pub use stop_workload::StopWorkload;
pub use upgrade::{Move, ReleaseRef, ReplicaOrder, Upgrade};
pub use workload::StartWorkload;
pub(crate) use workload::{workload_failure, RunningWorkload};

/// A step of a scenario, as its file gives it, validated.
#[derive(Debug, Clone)]
pub struct ScenarioStep {
    pub spec: StepSpec,
    /// Only in states where this holds (`when = "node >= 1.1"`); checked by the planner.
    pub when: Option<Condition>,
    /// The step's own deadline.
    pub timeout: Option<Duration>,
    /// `file:line` of the step, for reports.
    pub origin: String,
}

/// What a scenario step does.
#[derive(Debug, Clone)]
pub enum StepSpec {
    Start(Start),
    Upgrade(Upgrade),
    Restart(Restart),
    Stop(Stop),
    Action(ActionStep),
    Workload(StartWorkload),
    StopWorkload(StopWorkload),
    Signal(Signal),
}

/// A concrete step of a trial: what the runner executes.
#[derive(Debug, Clone)]
pub enum Op {
    Start(Start),
    /// One replica's move to another release: what an `upgrade` plans into.
    Move(Move),
    Restart(Restart),
    Stop(Stop),
    Action(ActionStep),
    Workload(StartWorkload),
    StopWorkload(StopWorkload),
    Signal(Signal),
}

/// A step kind as scenario files write it.
pub(crate) trait Kind: Sized {
    /// The `do = "…"` names it answers to.
    const NAMES: &'static [&'static str];
    /// Its keys, beside `do`, `when` and `timeout` (which every step takes): serde reads the step's
    /// table into this, with positions, and its field names are the keys it accepts.
    type Raw: serde::de::DeserializeOwned;
    /// Validates the keys; every problem goes to `cx`, with its position.
    fn load(raw: Self::Raw, cx: &mut load::StepCx<'_, '_>) -> Option<Self>;
}

/// What a step observed, and which replicas it acted on (as chosen when it ran: the leader, the
/// next replica in an order), for the results.
#[derive(Debug, Default)]
pub(crate) struct Done {
    pub observations: Vec<Observation>,
    pub targets: Vec<String>,
}

impl Done {
    pub fn nothing() -> Done {
        Done::default()
    }

    pub fn observed(o: Observation) -> Done {
        Done {
            observations: vec![o],
            targets: vec![],
        }
    }

    pub fn on(mut self, targets: Vec<String>) -> Done {
        self.targets = targets;
        self
    }
}

/// A step the runner executes.
pub(crate) trait Exec: fmt::Display {
    /// The deadline of the step when its scenario sets none: generous enough for its own inner
    /// timeouts (readiness, actions, `eventually`).
    fn deadline(&self, c: &Cluster) -> Duration;
    /// Runs the step. `Err` says whether the system failed it or the harness/engine did.
    async fn exec(&self, live: &mut Live) -> Result<Done, StepError>;
}

impl Op {
    pub(crate) fn deadline(&self, c: &Cluster) -> Duration {
        match self {
            Op::Start(s) => s.deadline(c),
            Op::Move(s) => s.deadline(c),
            Op::Restart(s) => s.deadline(c),
            Op::Stop(s) => s.deadline(c),
            Op::Action(s) => s.deadline(c),
            Op::Workload(s) => s.deadline(c),
            Op::StopWorkload(s) => s.deadline(c),
            Op::Signal(s) => s.deadline(c),
        }
    }

    pub(crate) async fn exec(&self, live: &mut Live) -> Result<Done, StepError> {
        match self {
            Op::Start(s) => s.exec(live).await,
            Op::Move(s) => s.exec(live).await,
            Op::Restart(s) => s.exec(live).await,
            Op::Stop(s) => s.exec(live).await,
            Op::Action(s) => s.exec(live).await,
            Op::Workload(s) => s.exec(live).await,
            Op::StopWorkload(s) => s.exec(live).await,
            Op::Signal(s) => s.exec(live).await,
        }
    }

    /// The roles whose images the step may start: a move's target release is known from the plan.
    pub fn moves_to(&self) -> Option<(&str, &Release)> {
        match self {
            Op::Move(m) => Some((&m.role, &m.to)),
            _ => None,
        }
    }
}

impl StepSpec {
    /// The step as it reaches the runner, when it is not an upgrade (which the planner expands
    /// through [`Upgrade::moves`]): with `{from}` and `{to}` resolved on a path.
    pub(crate) fn op(&self, path: Option<(&Release, &Release)>) -> Option<Op> {
        Some(match self {
            StepSpec::Upgrade(_) => return None,
            StepSpec::Start(s) => Op::Start(s.clone()),
            StepSpec::Restart(s) => Op::Restart(s.clone()),
            StepSpec::Stop(s) => Op::Stop(s.clone()),
            StepSpec::Action(s) => Op::Action(s.on_path(path)),
            StepSpec::Workload(s) => Op::Workload(s.on_path(path)),
            StepSpec::StopWorkload(s) => Op::StopWorkload(s.clone()),
            StepSpec::Signal(s) => Op::Signal(s.clone()),
        })
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::Start(s) => s.fmt(f),
            Op::Move(s) => s.fmt(f),
            Op::Restart(s) => s.fmt(f),
            Op::Stop(s) => s.fmt(f),
            Op::Action(s) => s.fmt(f),
            Op::Workload(s) => s.fmt(f),
            Op::StopWorkload(s) => s.fmt(f),
            Op::Signal(s) => s.fmt(f),
        }
    }
}

impl fmt::Display for StepSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StepSpec::Start(s) => s.fmt(f),
            StepSpec::Upgrade(s) => s.fmt(f),
            StepSpec::Restart(s) => s.fmt(f),
            StepSpec::Stop(s) => s.fmt(f),
            StepSpec::Action(s) => s.fmt(f),
            StepSpec::Workload(s) => s.fmt(f),
            StepSpec::StopWorkload(s) => s.fmt(f),
            StepSpec::Signal(s) => s.fmt(f),
        }
    }
}

/// `{from}` and `{to}` in a text a path scenario expects: the path's releases.
pub(crate) fn fill_path(s: &str, path: Option<(&Release, &Release)>) -> String {
    match path {
        Some((from, to)) => s
            .replace("{from}", from.as_str())
            .replace("{to}", to.as_str()),
        None => s.to_string(),
    }
}
