//! The validated model: what a matrix and its scenarios say, with every name resolved and every value
//! checked. Nothing downstream re-validates.

use std::path::PathBuf;
use std::time::Duration;

use indexmap::IndexMap;
use regex::Regex;

use super::diag::{ModelError, SourceFile};
use super::release::Release;
use super::skew::SkewRule;
use super::template::Template;
use crate::step::ScenarioStep;

/// A loaded `matrix.toml` with its scenarios.
#[derive(Debug, Clone)]
pub struct Matrix {
    /// The matrix file, as given.
    pub file: PathBuf,
    /// The directory relative paths in the file are resolved against.
    pub root: PathBuf,
    pub system: String,
    /// Every release of the system, oldest first.
    pub releases: Vec<Release>,
    /// Roles whose release varies, in declaration order (start order).
    pub(crate) roles: Vec<Role>,
    /// Fixed-release services every trial starts first (e.g. ZooKeeper).
    pub(crate) services: Vec<Role>,
    pub(crate) images: Vec<ImageDef>,
    /// A command `crossgrade images build` runs once before building (e.g. compiling static binaries).
    pub(crate) prepare: Option<Vec<String>>,
    pub(crate) cells: CellSpec,
    pub(crate) paths: Vec<PathSpec>,
    /// Path trials drawn from a seed (`[matrix.random]`).
    pub(crate) random: Option<RandomSpec>,
    pub(crate) scenarios: Vec<Scenario>,
    /// Named selections of trials (`[subsets.quick]`), in file order.
    pub(crate) subsets: Vec<Subset>,
    /// Where each release's API definition is and what the roles exchange (`[api]`).
    pub api: Option<ApiSpec>,
}

/// `[api]`, validated but not read: the folders exist; whether the message names are defined is
/// known once the definitions are parsed (`risk`), which only the commands that need it do.
#[derive(Debug, Clone)]
pub struct ApiSpec {
    /// The folder of `.proto` files of every release of the system (absolute or relative to the
    /// working directory, as the matrix's root makes it).
    pub definitions: IndexMap<Release, PathBuf>,
    pub interfaces: Vec<Interface>,
}

/// What one role sends another: its messages, and the types they reach.
#[derive(Debug, Clone)]
pub struct Interface {
    pub from: String,
    pub to: String,
    pub(crate) messages: Vec<Located<String>>,
}

impl Interface {
    pub fn messages(&self) -> impl Iterator<Item = &str> {
        self.messages.iter().map(|m| m.value.as_str())
    }

    /// `scheduler → master`.
    pub fn label(&self) -> String {
        format!("{} → {}", self.from, self.to)
    }
}

/// A named selection of trials, e.g. the few that the test command holds of a large matrix. Its ids are
/// checked against the plan (`plan::check_subsets`), which is what knows the trials.
#[derive(Debug, Clone)]
pub(crate) struct Subset {
    pub name: String,
    /// Why these trials, in the file's words.
    #[expect(
        dead_code,
        reason = "part of the file format, kept for front-ends; none shows it yet"
    )]
    pub about: String,
    pub trials: Vec<Located<String>>,
}

/// A value and where the file says it, for problems only a later stage can see.
#[derive(Debug, Clone)]
pub(crate) struct Located<T> {
    pub value: T,
    file: SourceFile,
    span: std::ops::Range<usize>,
}

impl<T> Located<T> {
    pub(crate) fn new(value: T, file: &SourceFile, span: std::ops::Range<usize>) -> Located<T> {
        Located {
            value,
            file: file.clone(),
            span,
        }
    }

    /// An error pointing at where the value is written.
    pub(crate) fn error(&self, message: impl Into<String>) -> ModelError {
        ModelError::at(&self.file, self.span.clone(), message)
    }
}

impl Matrix {
    pub(crate) fn role(&self, name: &str) -> Option<&Role> {
        self.roles
            .iter()
            .chain(&self.services)
            .find(|r| r.name == name)
    }

    pub(crate) fn scenario(&self, name: &str) -> Option<&Scenario> {
        self.scenarios.iter().find(|s| s.name == name)
    }

    /// The image of `role` at `release`.
    pub(crate) fn image_of(&self, role: &Role, release: &Release) -> String {
        match &role.image {
            ImageRef::Template(t) => t.render(&ImageScope { role, release }),
            ImageRef::PerRelease(map) => map
                .get(release)
                .cloned()
                .expect("validated: every release has an image"),
        }
    }
}

struct ImageScope<'a> {
    role: &'a Role,
    release: &'a Release,
}

impl super::template::Scope for ImageScope<'_> {
    fn release(&self) -> &str {
        self.release.as_str()
    }
    fn role(&self) -> &str {
        &self.role.name
    }
    fn index(&self) -> u32 {
        0
    }
    fn replicas(&self, _: &str) -> String {
        String::new()
    }
    fn role_release(&self, _: &str) -> String {
        String::new()
    }
}

/// How to build an image locally: a Dockerfile context, per release.
#[derive(Debug, Clone)]
pub(crate) struct ImageDef {
    pub name: Template,
    pub context: PathBuf,
    pub dockerfile: String,
    pub args: IndexMap<String, Template>,
    /// The releases to build; all of the system's by default.
    pub releases: Vec<Release>,
    /// Files added to the context's root under their own names (absolute paths).
    pub include: Vec<PathBuf>,
    /// A Dockerfile the harness itself provides (the network-tools helper), built with an empty
    /// context; `context` and `dockerfile` are then not read.
    pub inline: Option<&'static str>,
}

impl ImageDef {
    /// The network-tools helper of the fault steps that shape traffic, for a matrix whose
    /// scenarios use them.
    pub(crate) fn net_tools(release: &Release) -> ImageDef {
        ImageDef {
            name: Template::literal(crate::step::NET_TOOLS_IMAGE),
            context: PathBuf::new(),
            dockerfile: "Dockerfile".into(),
            args: IndexMap::new(),
            releases: vec![release.clone()],
            include: vec![],
            inline: Some(crate::step::NET_TOOLS_DOCKERFILE),
        }
    }

    /// The relay helper that reaches replicas' ports through the engine, for an engine reached
    /// that way.
    pub(crate) fn relay(release: &Release) -> ImageDef {
        ImageDef {
            name: Template::literal(crate::runtime::RELAY_IMAGE),
            context: PathBuf::new(),
            dockerfile: "Dockerfile".into(),
            args: IndexMap::new(),
            releases: vec![release.clone()],
            include: vec![],
            inline: Some(crate::runtime::RELAY_DOCKERFILE),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) enum ImageRef {
    Template(Template),
    PerRelease(IndexMap<Release, String>),
}

/// A role (varies by release) or a service (fixed release).
#[derive(Debug, Clone)]
pub(crate) struct Role {
    pub name: String,
    pub image: ImageRef,
    pub replicas: u32,
    pub entrypoint: Option<Vec<Template>>,
    pub command: Option<Vec<Template>>,
    pub env: IndexMap<String, Template>,
    /// Path inside the container kept on a volume across upgrades.
    pub data: Option<String>,
    pub ready: Option<Ready>,
    pub leader: Option<LeaderSpec>,
    pub actions: IndexMap<String, Action>,
    pub stop_timeout: Duration,
    /// Which lines of its log are the component's error lines, when the default reading would miss the
    /// cause (its last two are quoted when it exits where it should not).
    pub error_lines: Option<Regex>,
    /// Set for services: the one release they run at.
    pub fixed_release: Option<Release>,
}

impl Role {
    pub(crate) fn replica_names(&self) -> Vec<String> {
        (0..self.replicas)
            .map(|i| format!("{}-{i}", self.name))
            .collect()
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Ready {
    pub probe: Probe,
    pub timeout: Duration,
}

/// How to tell a container is ready.
#[derive(Debug, Clone)]
pub(crate) enum Probe {
    /// A line of its log contains this text.
    Log(String),
    /// This command exits 0 inside it.
    Exec(Vec<Template>),
    /// An HTTP request to it answers with this status.
    Http(HttpRequest),
    /// A TCP port accepts connections.
    Tcp(u16),
}

/// Which replica leads: an action whose output names it (`node-1`), optionally at a JSON pointer.
#[derive(Debug, Clone)]
pub(crate) struct LeaderSpec {
    pub action: String,
    pub pointer: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct HttpRequest {
    pub method: String,
    pub port: u16,
    pub path: Template,
    pub body: Option<Template>,
    /// Expected status for readiness probes.
    pub status: u16,
}

#[derive(Debug, Clone)]
pub(crate) struct Action {
    pub name: String,
    pub kind: ActionKind,
    pub timeout: Duration,
}

#[derive(Debug, Clone)]
pub(crate) enum ActionKind {
    /// Run inside the replica's container.
    Exec(Vec<Template>),
    /// Sent from the harness to the replica's address on the trial network.
    Http(HttpRequest),
}

/// Which cells the matrix covers.
#[derive(Debug, Clone)]
pub(crate) struct CellSpec {
    /// Roles that vary, in role order.
    pub vary: Vec<String>,
    /// Releases the varying roles take.
    pub releases: Vec<Release>,
    /// Release of every role that does not vary.
    pub fixed: IndexMap<String, Release>,
    /// Partial assignments; a cell matching any is left out.
    pub exclude: Vec<IndexMap<String, Release>>,
    pub scenarios: Vec<String>,
    /// Which cells of the allowed product run.
    pub strategy: Strategy,
    /// Seed of a covering strategy's search: the same matrix and seed give the same cells.
    pub seed: u64,
    /// Skew rules; a cell breaking one is left out.
    pub rules: Vec<SkewRule>,
    /// Groups of interchangeable roles (their rules are among `rules`); upgrade orders that differ
    /// only by which member moves when are one.
    pub interchangeable: Vec<Vec<String>>,
    /// Cells that run whatever the strategy chooses (they count toward its coverage).
    pub include: Vec<IndexMap<String, Release>>,
    /// The system's releases, oldest first: rules compare positions in this list.
    pub order: Vec<Release>,
}

/// How cells are chosen from the product the exclusions and rules allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Strategy {
    /// Every allowed cell.
    All,
    /// A covering array of strength `t`: every combination of `t` roles' releases that some allowed
    /// cell holds appears in at least one chosen cell.
    Covering { t: usize },
}

impl std::fmt::Display for Strategy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Strategy::All => f.write_str("all"),
            Strategy::Covering { t: 2 } => f.write_str("pairwise"),
            Strategy::Covering { t } => write!(f, "covering, t = {t}"),
        }
    }
}

impl CellSpec {
    /// Why `cell` (the varying roles' releases) is left out, if it is: the first `exclude` entry
    /// that matches it, else the first rule it breaks.
    pub(crate) fn left_out_by(&self, cell: &IndexMap<String, Release>) -> Option<LeftOut<'_>> {
        self.breach(|role| cell.get(role).or_else(|| self.fixed.get(role)))
    }

    /// Whether a cell given as release indices (into `releases`, one per varying role; `None` for a
    /// role not yet chosen) is allowed so far: no exclusion matches it and no rule whose roles all
    /// have a release breaks. What a covering strategy searches with.
    pub(crate) fn allows(&self, cell: &[Option<usize>]) -> bool {
        self.breach(|role| match self.vary.iter().position(|v| v == role) {
            Some(i) => cell.get(i).copied().flatten().map(|r| &self.releases[r]),
            None => self.fixed.get(role),
        })
        .is_none()
    }

    /// The first exclusion, else rule, that the releases `release_of` gives break. A role without
    /// one yet (`None`) breaks nothing: an exclusion matches when every role it names has the
    /// release it names, a rule breaks when every role it compares has a release.
    fn breach<'c>(&self, release_of: impl Fn(&str) -> Option<&'c Release>) -> Option<LeftOut<'_>> {
        if let Some(i) = self.exclude.iter().position(|ex| {
            ex.iter()
                .all(|(role, rel)| release_of(role).is_some_and(|r| r == rel))
        }) {
            return Some(LeftOut::Excluded(i));
        }
        let position = |role: &str| release_of(role).and_then(|r| self.position(r));
        self.rules
            .iter()
            .find(|rule| rule.holds(position) == Some(false))
            .map(LeftOut::Rule)
    }

    /// Position of a release in the system's list (what rules compare).
    pub(crate) fn position(&self, r: &Release) -> Option<usize> {
        self.order.iter().position(|x| x == r)
    }

    /// How many cells there are, without building them: exact up to [`Self::EXACT_UP_TO`]
    /// candidates (walking release indices), past that the full product, an upper bound
    /// (`exact` false). Saturates instead of overflowing.
    pub(crate) fn count(&self) -> CellCount {
        let radix = self.releases.len() as u128;
        let product = (0..self.vary.len()).try_fold(1u128, |n, _| n.checked_mul(radix));
        let Some(product) = product else {
            return CellCount {
                cells: u128::MAX,
                exact: false,
            };
        };
        if (self.exclude.is_empty() && self.rules.is_empty()) || product == 0 {
            return CellCount {
                cells: product,
                exact: true,
            };
        }
        if product > Self::EXACT_UP_TO {
            return CellCount {
                cells: product,
                exact: false,
            };
        }
        let mut digits = vec![0usize; self.vary.len()];
        let mut cell: Vec<Option<usize>> = vec![None; self.vary.len()];
        let mut kept = 0u128;
        for _ in 0..product {
            for (c, d) in cell.iter_mut().zip(&digits) {
                *c = Some(*d);
            }
            if self.allows(&cell) {
                kept += 1;
            }
            for d in digits.iter_mut() {
                *d += 1;
                if *d < self.releases.len() {
                    break;
                }
                *d = 0;
            }
        }
        CellCount {
            cells: kept,
            exact: true,
        }
    }

    const EXACT_UP_TO: u128 = 10_000_000;
}

/// What leaves a cell out.
#[derive(Debug, Clone, Copy)]
pub(crate) enum LeftOut<'a> {
    /// The `exclude` entry at this index.
    Excluded(usize),
    Rule(&'a SkewRule),
}

/// How many cells a matrix has (see [`CellSpec::count`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CellCount {
    pub cells: u128,
    /// False when `cells` is an upper bound: the product before exclusions.
    pub exact: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct PathSpec {
    pub from: Release,
    pub to: Release,
    pub scenarios: Vec<String>,
    /// Roles that start at their own release on this path, not at `from`. `[matrix] fixed` is for
    /// cells only: a path scenario moves its roles, the fixed ones included, from `from` to `to`.
    pub fixed: IndexMap<String, Release>,
    /// An upgrade the support policy does not promise: its trials must go through or be refused
    /// cleanly (a component exits or answers with an error), never go wrong quietly.
    pub unpromised: bool,
    /// Releases passed through on the way, in order: the scenario's moves run once per hop.
    pub via: Vec<Release>,
    /// Which orders of the roles' moves run.
    pub orders: Orders,
}

/// `[matrix.random]`: upgrade plans drawn from a seed.
#[derive(Debug, Clone)]
pub(crate) struct RandomSpec {
    pub trials: usize,
    pub seed: u64,
    /// The path scenario whose prefix (start, workloads), `each_state` checks and tail surround
    /// the drawn moves.
    pub scenario: String,
    /// At most this many hops per plan.
    pub hops: usize,
    /// The chance of a rollback part-way through a hop.
    pub rollback: f64,
    /// The most steps a plan may have; a plan drawn longer is drawn again.
    pub max_steps: Located<usize>,
    /// Hops that may skip releases: the upgrades `[matrix.policy]` promises, as positions.
    pub skips: Vec<(usize, usize)>,
    /// Faults inserted in the mixed-version states (`[matrix.random.faults]`); none by default.
    pub faults: Option<FaultSpec>,
}

/// `[matrix.random.faults]`: faults a drawn plan gets in its mixed-version states.
#[derive(Debug, Clone)]
pub(crate) struct FaultSpec {
    /// The chance of a fault in each mixed-version state.
    pub probability: f64,
    /// Every kind with its weight (0: never drawn), in [`FaultKind::ALL`] order.
    pub weights: Vec<(FaultKind, u32)>,
    /// Roles (and services) that may be faulted, in the matrix's order.
    pub roles: Vec<String>,
    /// Roles whose replicas together form one quorum group, as declared (`quorum`); every other
    /// role's replicas are a group of their own.
    pub quorum: Vec<Vec<String>>,
    /// Never take down (pause, isolate, cut off by a partition) a majority of a quorum group.
    pub keep_quorum: bool,
    /// How long each fault holds before it is undone.
    pub hold: Duration,
    /// `loss`: percent of packets dropped.
    pub percent: f64,
    /// `throttle`: bits per second.
    pub rate: u64,
    /// `delay`: how long packets are held back.
    pub delay: Duration,
}

/// A fault a plan may be given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FaultKind {
    Pause,
    Isolate,
    Partition,
    Loss,
    Throttle,
    Delay,
}

impl FaultKind {
    pub(crate) const ALL: [FaultKind; 6] = [
        FaultKind::Pause,
        FaultKind::Isolate,
        FaultKind::Partition,
        FaultKind::Loss,
        FaultKind::Throttle,
        FaultKind::Delay,
    ];

    /// Its step's `do` name, and its key in `kinds`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            FaultKind::Pause => "pause",
            FaultKind::Isolate => "isolate",
            FaultKind::Partition => "partition",
            FaultKind::Loss => "loss",
            FaultKind::Throttle => "throttle",
            FaultKind::Delay => "delay",
        }
    }

    /// Its weight when `kinds` is not given: every kind but `delay`, which needs the kernel's
    /// netem (a kernel without it makes the trial an `error`).
    pub(crate) fn default_weight(self) -> u32 {
        u32::from(self != FaultKind::Delay)
    }

    /// Whether it takes replicas down for their peers (they neither answer nor reach them), so
    /// that it is weighed against a quorum; `loss`, `throttle` and `delay` only degrade.
    pub(crate) fn takes_down(self) -> bool {
        matches!(
            self,
            FaultKind::Pause | FaultKind::Isolate | FaultKind::Partition
        )
    }
}

impl FaultSpec {
    /// The quorum group `role` belongs to: its declared group, or itself alone.
    pub(crate) fn group_of<'a>(&'a self, role: &'a str) -> Vec<&'a str> {
        self.quorum
            .iter()
            .find(|g| g.iter().any(|r| r == role))
            .map(|g| g.iter().map(String::as_str).collect())
            .unwrap_or_else(|| vec![role])
    }

    /// The quorum groups with a role that may be faulted, each as its roles, in the order of
    /// [`Self::roles`].
    pub(crate) fn groups(&self) -> Vec<Vec<&str>> {
        let mut out: Vec<Vec<&str>> = Vec::new();
        for r in &self.roles {
            let g = self.group_of(r);
            if !out.contains(&g) {
                out.push(g);
            }
        }
        out
    }

    /// The most replicas of a group of `size` a fault of `kind` may take down: a minority when the
    /// quorum is kept (none of a group of one or two), all of them otherwise; a partition leaves at
    /// least one replica on the other side.
    pub(crate) fn most_down(&self, kind: FaultKind, size: usize) -> usize {
        let most = if self.keep_quorum {
            size.saturating_sub(1) / 2
        } else {
            size
        };
        if kind == FaultKind::Partition {
            most.min(size.saturating_sub(1))
        } else {
            most
        }
    }

    /// Whether a drawn fault may run the network-tools helper (a partition, loss, throttle or
    /// delay), so that the matrix builds it.
    pub(crate) fn may_shape(&self) -> bool {
        self.probability > 0.0
            && self
                .weights
                .iter()
                .any(|(k, w)| *w > 0 && !matches!(k, FaultKind::Pause | FaultKind::Isolate))
    }

    /// Whether a fault of `kind` can be put anywhere, `replicas` counting each role's.
    pub(crate) fn possible(&self, kind: FaultKind, replicas: impl Fn(&str) -> usize) -> bool {
        if !kind.takes_down() {
            return !self.roles.is_empty();
        }
        self.groups().iter().any(|g| {
            let size = g.iter().map(|r| replicas(r)).sum();
            self.most_down(kind, size) >= 1
        })
    }
}

/// Which orders of a path scenario's role moves run.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) enum Orders {
    /// The scenario's own, one trial with the path's id.
    #[default]
    Written,
    /// Every permutation of the roles it moves, a trial each (`…/order=agent,master`).
    All,
    /// These permutations, a trial each.
    Listed(Vec<Vec<String>>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ScenarioKind {
    /// Runs in one mixed-version state.
    Cell,
    /// Runs along an upgrade path from one release to another.
    Path,
}

#[derive(Debug, Clone)]
pub(crate) struct Scenario {
    pub name: String,
    pub kind: ScenarioKind,
    /// What the scenario checks and why, in the file's words.
    #[expect(
        dead_code,
        reason = "part of the file format, kept for front-ends; none shows it yet"
    )]
    pub description: String,
    pub steps: Vec<ScenarioStep>,
    /// Checks run in every intermediate state of a path: after each replica moves.
    pub each_state: Vec<ScenarioStep>,
    /// Deadline of the whole trial.
    pub timeout: Duration,
    /// A cell scenario runs only in the cells where this holds (the matrix's other cells do not
    /// have what it tests, e.g. an API a release introduced).
    pub when: Option<super::condition::Condition>,
}
