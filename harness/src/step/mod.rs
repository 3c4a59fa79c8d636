//! Step kinds. Each kind is one module that holds everything about it: its keys (the fields of its
//! `Raw` struct) and their validation with positions, how it plans (what reaches the runner, with a
//! path's releases resolved), how it reads in a plan, its default deadline, and its execution,
//! side by side as in CockroachDB's mixedversion `steps.go`. Adding a kind is one file (a type that
//! implements [`Kind`], and an operation that implements [`Exec`]), one line in [`kinds!`] and its
//! README lines; the compiler checks that the kind has every part.
//!
//! Two enums carry the kinds through the pipeline:
//! - [`StepSpec`]: a step as a scenario file says it (an `upgrade` of a whole role, `{to}` in what a
//!   check expects);
//! - [`Op`]: a step as the plan hands it to the runner: upgrades expanded into one [`Move`] per
//!   replica, every release resolved. Nothing unexpanded or unresolved can reach the runner, because
//!   `Op` has no variant for it.

mod action;
mod expect;
mod fault;
mod heal;
mod hold;
mod isolate;
mod load;
mod log;
mod partition;
mod pause;
mod replica;
mod restart;
mod signal;
mod start;
mod stop;
mod stop_workload;
mod traffic;
mod upgrade;
mod workload;

use std::fmt;
use std::time::Duration;

use indexmap::IndexMap;

use crate::model::{Condition, Release};
use crate::outcome::Observation;
use crate::run::{Cluster, Live, StepError};

pub(crate) use action::ActionStep;
pub(crate) use fault::{
    format_rate, parse_rate, take_back, OpenFault, Target, NET_TOOLS_DOCKERFILE, NET_TOOLS_IMAGE,
};
pub(crate) use heal::Heal;
pub(crate) use hold::Hold;
pub(crate) use isolate::Isolate;
pub(crate) use load::{load_step, ScenarioCx};
pub(crate) use log::LogCheck;
pub(crate) use partition::Partition;
pub(crate) use pause::{Pause, Resume};
pub(crate) use traffic::{Delay, Loss, Shaping, Throttle};

pub(crate) use expect::{judge as judge_expect, Expect};
pub(crate) use replica::{ActionRef, ExpectedExit, ReplicaSel};
pub(crate) use restart::Restart;
pub(crate) use signal::Signal;
pub(crate) use start::Start;
pub(crate) use stop::Stop;
pub(crate) use stop_workload::StopWorkload;
pub use upgrade::Move;
pub(crate) use upgrade::{FirstStart, ReleaseRef, ReplicaOrder, Upgrade};
pub(crate) use workload::StartWorkload;

/// A step of a scenario, as its file gives it, validated.
#[derive(Debug, Clone)]
pub(crate) struct ScenarioStep {
    pub spec: StepSpec,
    /// Only in states where this holds (`when = "node >= 1.1"`); checked by the planner.
    pub when: Option<Condition>,
    /// The step's own deadline.
    pub timeout: Option<Duration>,
    /// `file:line` of the step, for reports.
    pub origin: String,
    /// The step's table as its file writes it (`do` included): what a plan is written back as.
    pub source: toml::Table,
}

/// Declares the kinds, once: each line is `Variant(Kind) => OpVariant(Op)`, the kind as a scenario
/// gives it and what it plans into. From this list come [`StepSpec`], [`Op`], the loader's table
/// of kinds ([`KINDS`]) and every `match` over them.
macro_rules! kinds {
    ($($spec:ident($kind:ty) => $op:ident($opty:ty)),* $(,)?) => {
        /// What a scenario step does.
        #[derive(Debug, Clone)]
        pub(crate) enum StepSpec {
            $($spec($kind)),*
        }

        /// A concrete step of a trial: what the runner executes.
        #[derive(Debug, Clone)]
        pub(crate) enum Op {
            $($op($opty)),*
        }

        /// Every kind, for the loader, in the order the "unknown step" hint lists them.
        const KINDS: &[load::KindEntry] = &[$(load::KindEntry {
            names: <$kind as Kind>::NAMES,
            keys: load::keys_of::<$kind>,
            load: |table, cx| load::read::<$kind>(table, cx).map(StepSpec::$spec),
        }),*];

        impl StepSpec {
            /// What the step plans into in the state `cx` describes.
            pub(crate) fn plan(&self, cx: &PlanCx<'_>) -> Vec<Op> {
                match self {
                    $(StepSpec::$spec(k) => k.plan(cx).into_iter().map(Op::$op).collect()),*
                }
            }
        }

        impl fmt::Display for StepSpec {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self {
                    $(StepSpec::$spec(k) => k.fmt(f)),*
                }
            }
        }

        impl Op {
            /// The kind's name (`Move`, `Restart`, `Action`): what "fails the same way" compares.
            pub(crate) fn kind(&self) -> &'static str {
                match self {
                    $(Op::$op(_) => stringify!($op)),*
                }
            }

            pub(crate) fn deadline(&self, c: &Cluster) -> Duration {
                match self {
                    $(Op::$op(o) => o.deadline(c)),*
                }
            }

            pub(crate) async fn exec(&self, live: &mut Live) -> Result<Done, StepError> {
                match self {
                    $(Op::$op(o) => o.exec(live).await),*
                }
            }
        }

        impl fmt::Display for Op {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self {
                    $(Op::$op(o) => o.fmt(f)),*
                }
            }
        }
    };
}

kinds! {
    Start(Start) => Start(Start),
    Upgrade(Upgrade) => Move(Move),
    Restart(Restart) => Restart(Restart),
    Stop(Stop) => Stop(Stop),
    Action(ActionStep) => Action(ActionStep),
    Workload(StartWorkload) => Workload(StartWorkload),
    StopWorkload(StopWorkload) => StopWorkload(StopWorkload),
    Signal(Signal) => Signal(Signal),
    Log(LogCheck) => Log(LogCheck),
    Pause(Pause) => Pause(Pause),
    Resume(Resume) => Resume(Resume),
    Isolate(Isolate) => Isolate(Isolate),
    Partition(Partition) => Partition(Partition),
    Loss(Loss) => Loss(Loss),
    Throttle(Throttle) => Throttle(Throttle),
    Delay(Delay) => Delay(Delay),
    Heal(Heal) => Heal(Heal),
    Hold(Hold) => Hold(Hold),
}

/// What a step kind plans with: the path's releases (in a path scenario) and the release of every
/// replica in the state the steps before it reach.
pub(crate) struct PlanCx<'a> {
    pub path: Option<(&'a Release, &'a Release)>,
    pub releases: &'a IndexMap<String, Vec<Release>>,
}

/// A step kind as scenario files write it.
pub(crate) trait Kind: Sized + fmt::Display {
    /// The `do = "…"` names it answers to.
    const NAMES: &'static [&'static str];
    /// Its keys, beside `do`, `when` and `timeout` (which every step takes): serde reads the step's
    /// table into this, with positions, and its field names are the keys it accepts.
    type Raw: serde::de::DeserializeOwned;
    /// What it plans into: itself with a path's releases resolved, or (an upgrade) moves.
    type Op: Exec;
    /// Validates the keys; every problem goes to `cx`, with its position.
    fn load(raw: Self::Raw, cx: &mut load::StepCx<'_, '_>) -> Option<Self>;
    /// The operations it plans into.
    fn plan(&self, cx: &PlanCx<'_>) -> Vec<Self::Op>;
}

/// What a step observed, and which replicas it acted on (as chosen when it ran: the leader, the
/// next replica in an order), for the results.
#[derive(Debug, Default)]
pub(crate) struct Done {
    pub observations: Vec<Observation>,
    pub targets: Vec<String>,
}

impl Done {
    pub(crate) fn nothing() -> Done {
        Done::default()
    }

    pub(crate) fn observed(o: Observation) -> Done {
        Done {
            observations: vec![o],
            targets: vec![],
        }
    }

    pub(crate) fn on(mut self, targets: Vec<String>) -> Done {
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
    /// The role and release a move brings a replica to: the images a trial runs are known from its
    /// plan.
    pub(crate) fn moves_to(&self) -> Option<(&str, &Release)> {
        match self {
            Op::Move(m) => Some((&m.role, &m.to)),
            _ => None,
        }
    }

    /// Whether it starts `role`'s replicas at their starting release (a `start` of every role, or
    /// of this one): a role no step starts needs no image at its starting release.
    pub(crate) fn starts(&self, role: &str) -> bool {
        match self {
            Op::Start(s) => s.roles.is_empty() || s.roles.iter().any(|r| r == role),
            _ => false,
        }
    }

    /// Whether it runs the network-tools helper ([`NET_TOOLS_IMAGE`]): the faults made with
    /// iptables and tc.
    pub(crate) fn needs_net_tools(&self) -> bool {
        matches!(
            self,
            Op::Partition(_) | Op::Loss(_) | Op::Throttle(_) | Op::Delay(_)
        )
    }
}

impl StepSpec {
    /// Whether the step runs the network-tools helper, in whatever it plans into.
    pub(crate) fn needs_net_tools(&self) -> bool {
        matches!(
            self,
            StepSpec::Partition(_) | StepSpec::Loss(_) | StepSpec::Throttle(_) | StepSpec::Delay(_)
        )
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
