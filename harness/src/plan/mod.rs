//! The plan: cells and paths expanded into trials, each a list of concrete steps. Pure and deterministic:
//! the same matrix always gives the same trials, ids and steps, so the plan can be printed, reviewed and
//! filtered before anything runs (the way CockroachDB's mixedversion treats its test plan as data).

pub mod cover;
mod faults;
mod file;
mod random;
mod route;

pub use file::file_trial;
pub use random::Drawn;

use std::fmt::{self, Write as _};
use std::time::Duration;

use indexmap::IndexMap;

use crate::model::{
    format_duration, CellSpec, LeftOut, LoadError, Matrix, ModelError, Orders, Release, Scenario,
    Strategy,
};
use crate::step::{Op, PlanCx, ScenarioStep};

/// Every trial of a matrix, in a stable order: cell trials (by scenario, then cell), then path trials.
#[derive(Debug, Clone)]
pub struct Plan {
    pub system: String,
    pub trials: Vec<Trial>,
    /// How the cells were chosen.
    pub cells: CellChoice,
}

/// One (cell or path) × scenario: the unit that is run, listed, filtered and reported.
#[derive(Debug, Clone)]
pub struct Trial {
    /// Stable, readable id: `system/scenario/role=release,...` or `system/scenario/FROM-to-TO`.
    pub id: String,
    pub scenario: String,
    pub kind: TrialKind,
    /// A negative trial (an upgrade the support policy does not promise): it passes when the
    /// scenario passes or when a component refuses cleanly (exits, or answers with an error), and
    /// fails only when something goes wrong without a refusal.
    pub unpromised: bool,
    /// The release every role (and service) starts at.
    pub start: IndexMap<String, Release>,
    pub steps: Vec<PlannedStep>,
    pub timeout: Duration,
    /// What a generated plan was drawn from (`[matrix.random]`).
    pub drawn: Option<Drawn>,
    /// The scenario file it is the trial of (`--scenario-file`), as the user named it.
    pub file: Option<String>,
    /// Which run of a repeated trial this is (`run --repeat N`, 1-based): each run has its own
    /// folder (`…/repeat-K`) and containers. `None` outside a repeated run.
    pub repeat: Option<usize>,
}

/// Every image `trials` will run, each once, in the order first needed: each service, and each
/// role a step starts, at its starting release; each release a replica moves to; and the
/// network-tools helper of the fault steps that shape traffic. Known before anything starts, so a
/// missing image is caught first. The one answer to "which images does this selection need", for
/// the run's preflight, `images build` with filters, and the test binary.
pub fn images<'a>(m: &Matrix, trials: impl IntoIterator<Item = &'a Trial>) -> Vec<String> {
    let mut wanted = indexmap::IndexSet::new();
    for t in trials {
        for (role, rel) in &t.start {
            let service = m.services.iter().any(|s| &s.name == role);
            if !service && !t.steps.iter().any(|s| s.op.starts(role)) {
                continue;
            }
            if let Some(r) = m.role(role) {
                wanted.insert(m.image_of(r, rel));
            }
        }
        for s in &t.steps {
            if let Some((role, to)) = s.op.moves_to() {
                if let Some(r) = m.role(role) {
                    wanted.insert(m.image_of(r, to));
                }
            }
            if s.op.needs_net_tools() {
                wanted.insert(crate::step::NET_TOOLS_IMAGE.to_string());
            }
        }
    }
    wanted.into_iter().collect()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrialKind {
    /// The varying roles' releases, in role order.
    Cell(IndexMap<String, Release>),
    Path {
        from: Release,
        to: Release,
        /// Releases passed through on the way, in order.
        via: Vec<Release>,
        /// The order the roles move in, when the path explores orders.
        order: Option<PathOrder>,
    },
}

/// The order a path trial moves its roles in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathOrder {
    pub roles: Vec<String>,
    /// Whether it is the scenario's own (the order its upgrade notes prescribe).
    pub documented: bool,
}

/// Every permutation of `items`, in lexicographic order of positions (the written order first).
/// Whether `order` moves the members of each interchangeable group in the group's order: of the
/// orders that differ only by which member moves when, the one that is kept.
fn in_member_order(order: &[String], groups: &[Vec<String>]) -> bool {
    groups.iter().all(|group| {
        let positions: Vec<usize> = group
            .iter()
            .filter_map(|role| order.iter().position(|r| r == role))
            .collect();
        positions.windows(2).all(|w| w[0] < w[1])
    })
}

fn permutations(items: &[String]) -> Vec<Vec<String>> {
    if items.len() <= 1 {
        return vec![items.to_vec()];
    }
    let mut out = Vec::new();
    for (i, first) in items.iter().enumerate() {
        let mut rest = items.to_vec();
        rest.remove(i);
        for mut tail in permutations(&rest) {
            tail.insert(0, first.clone());
            out.push(tail);
        }
    }
    out
}

#[derive(Debug, Clone)]
pub struct PlannedStep {
    /// 1-based position in the trial.
    pub number: usize,
    pub(crate) op: Op,
    /// Deadline of the step; `None` lets the runner derive it from the step's own timeouts.
    pub timeout: Option<Duration>,
    /// `file:line` of the scenario step it came from.
    pub origin: String,
    /// Whether it was added as an `each_state` check after a move.
    pub each_state: bool,
    /// Whether the plan inserted it as a fault (`[matrix.random.faults]`): a fault's start, its
    /// hold or its undoing.
    pub fault: bool,
    /// The part of a reordered or multi-hop path it belongs to (`0.22 → 0.23 · master`); `None`
    /// in a trial that runs its scenario as written.
    pub phase: Option<String>,
    /// The step as a scenario file would write it (`do` included), its releases resolved: what a
    /// generated or shrunk plan is written back as.
    pub source: toml::Table,
}

impl PlannedStep {
    /// What the step does, in a plan's words (`move node replica 1/3 to 1.1, leader last`).
    pub fn describe(&self) -> String {
        self.op.to_string()
    }

    /// Whether it moves a replica to another release (a step an `upgrade` planned).
    pub fn is_move(&self) -> bool {
        self.op.moves_to().is_some()
    }
}

/// Expands the matrix into its trials.
pub fn expand(m: &Matrix) -> Plan {
    expand_drawing(m).0
}

/// The plan, and why `[matrix.random]` drew no plan within its bound (bad input found by planning,
/// which [`expand_checked`] refuses with its position): its other trials are planned all the same.
fn expand_drawing(m: &Matrix) -> (Plan, Option<Box<ModelError>>) {
    let mut trials = Vec::new();
    let (cells, choice) = if m.cells.scenarios.is_empty() {
        (Vec::new(), CellChoice::default())
    } else {
        cells(m)
    };
    for name in &m.cells.scenarios {
        let sc = m.scenario(name).expect("validated");
        for cell in &cells {
            let mut start: IndexMap<String, Release> = m
                .roles
                .iter()
                .map(|r| {
                    let rel = cell
                        .get(&r.name)
                        .or_else(|| m.cells.fixed.get(&r.name))
                        .expect("validated: every role varies or is fixed");
                    (r.name.clone(), rel.clone())
                })
                .collect();
            if let Some(when) = &sc.when {
                if !when.holds(|role| start.get(role).into_iter().collect()) {
                    continue;
                }
            }
            add_services(m, &mut start);
            let id = format!("{}/{}/{}", m.system, sc.name, assignment(cell));
            let pieces = route::cell_pieces(sc);
            trials.push(trial(
                m,
                sc,
                id,
                TrialKind::Cell(cell.clone()),
                start,
                pieces,
            ));
        }
    }
    for p in &m.paths {
        for name in &p.scenarios {
            let sc = m.scenario(name).expect("validated");
            let mut start: IndexMap<String, Release> = m
                .roles
                .iter()
                .map(|r| {
                    let at = p.fixed.get(&r.name).unwrap_or(&p.from);
                    (r.name.clone(), at.clone())
                })
                .collect();
            add_services(m, &mut start);
            let mut route = format!("{}-to-{}", p.from, p.to);
            for v in &p.via {
                let _ = write!(route, "-via-{v}");
            }
            let shape = sc.shape();
            let written = shape.order().ok();
            let orders: Vec<Option<Vec<String>>> = match &p.orders {
                Orders::Written => vec![None],
                Orders::All => permutations(written.as_deref().unwrap_or_default())
                    .into_iter()
                    .filter(|o| in_member_order(o, &m.cells.interchangeable))
                    .map(Some)
                    .collect(),
                Orders::Listed(l) => l.iter().cloned().map(Some).collect(),
            };
            for order in orders {
                let mut id = format!("{}/{}/{route}", m.system, sc.name);
                if let Some(o) = &order {
                    let _ = write!(id, "/order={}", o.join(","));
                }
                let pieces = route::path_pieces(sc, &shape, p, order.as_deref());
                let kind = TrialKind::Path {
                    from: p.from.clone(),
                    to: p.to.clone(),
                    via: p.via.clone(),
                    order: order.map(|roles| PathOrder {
                        documented: Some(&roles) == written.as_ref(),
                        roles,
                    }),
                };
                let mut t = trial(m, sc, id, kind, start.clone(), pieces);
                t.unpromised = p.unpromised;
                trials.push(t);
            }
        }
    }
    let mut random_error = None;
    if let Some(spec) = &m.random {
        match random::trials(m, spec) {
            Ok(t) => trials.extend(t),
            Err(e) => random_error = Some(e),
        }
    }
    let plan = Plan {
        system: m.system.clone(),
        trials,
        cells: choice,
    };
    (plan, random_error)
}

fn add_services(m: &Matrix, start: &mut IndexMap<String, Release>) {
    for s in &m.services {
        start.insert(
            s.name.clone(),
            s.fixed_release.clone().expect("services have a release"),
        );
    }
}

/// `role=release,...` of a cell.
pub(crate) fn assignment(cell: &IndexMap<String, Release>) -> String {
    cell.iter()
        .map(|(r, v)| format!("{r}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// The cells that run, in product order (first varying role slowest, releases oldest first): every
/// cell the exclusions and rules allow, or those a covering strategy chooses among them.
fn cells(m: &Matrix) -> (Vec<IndexMap<String, Release>>, CellChoice) {
    // A covering search takes a moment, and a command plans a matrix more than once (its checks,
    // then its selection): the choice is kept per cell spec, which alone decides it.
    type Chosen = (Vec<IndexMap<String, Release>>, CellChoice);
    static CHOSEN: std::sync::Mutex<Vec<(String, Chosen)>> = std::sync::Mutex::new(Vec::new());
    let lock = || CHOSEN.lock().unwrap_or_else(|p| p.into_inner());
    let key = format!("{:?}", m.cells);
    if let Some((_, hit)) = lock().iter().find(|(k, _)| *k == key) {
        return hit.clone();
    }
    let chosen = choose_cells(m);
    lock().push((key, chosen.clone()));
    chosen
}

fn choose_cells(m: &Matrix) -> (Vec<IndexMap<String, Release>>, CellChoice) {
    let spec = &m.cells;
    let to_cell = |row: &[usize]| -> IndexMap<String, Release> {
        spec.vary
            .iter()
            .zip(row)
            .map(|(role, &i)| (role.clone(), spec.releases[i].clone()))
            .collect()
    };
    let mut choice = CellChoice::of(spec);
    let rows = match spec.strategy {
        Strategy::All => product(spec.vary.len(), spec.releases.len())
            .filter(|row| spec.allows(&row.iter().map(|&i| Some(i)).collect::<Vec<_>>()))
            .collect(),
        Strategy::Covering { t } => {
            let allowed = |c: &[Option<usize>]| spec.allows(c);
            let pinned = spec
                .include
                .iter()
                .map(|cell| {
                    spec.vary
                        .iter()
                        .filter_map(|v| spec.releases.iter().position(|r| Some(r) == cell.get(v)))
                        .collect()
                })
                .collect();
            let problem = cover::Problem {
                levels: vec![spec.releases.len(); spec.vary.len()],
                strength: t,
                allowed: &allowed,
                pinned,
                seed: spec.seed,
            };
            choice.combinations = cover::required_tuples(&problem).ok().map(|t| t.len());
            match cover::generate(&problem) {
                Ok(mut rows) => {
                    rows.sort();
                    rows.dedup();
                    rows
                }
                Err(e) => {
                    choice.error = Some(e.to_string());
                    Vec::new()
                }
            }
        }
    };
    choice.chosen = rows.len();
    (rows.iter().map(|r| to_cell(r)).collect(), choice)
}

/// Every row of release indices of `roles` roles over `releases` releases, in product order.
fn product(roles: usize, releases: usize) -> impl Iterator<Item = Vec<usize>> {
    let total = (releases as u128)
        .checked_pow(roles as u32)
        .unwrap_or(u128::MAX);
    let mut digits = vec![0usize; roles];
    (0..total).map(move |n| {
        let row = digits.clone();
        if n + 1 < total {
            for d in digits.iter_mut().rev() {
                *d += 1;
                if *d < releases {
                    break;
                }
                *d = 0;
            }
        }
        row
    })
}

/// How a matrix's cells were chosen: the product, what each exclusion and rule removed, and what the
/// strategy kept. `crossgrade plan` prints it (the removed cells with `--cells`).
#[derive(Debug, Clone, Default)]
pub struct CellChoice {
    /// `all`, `pairwise` or `covering, t = N`.
    pub strategy: String,
    /// The strength of a covering strategy.
    pub strength: Option<usize>,
    pub seed: u64,
    /// Cells in the full product of the varying roles' releases.
    pub product: u128,
    /// Per exclusion and rule that removed any, the cells it removed (each cell counted once, by the
    /// first that removes it); `None` when the product is too large to walk.
    pub removed: Option<Vec<Removal>>,
    /// Cells the exclusions and rules allow (`None` when the product is too large to walk).
    pub allowed: Option<u128>,
    /// Cells pinned with `include`.
    pub pinned: usize,
    /// For a covering strategy: the combinations of `strength` roles' releases that the rules
    /// allow, every one of which some chosen cell holds.
    pub combinations: Option<usize>,
    /// Cells that run.
    pub chosen: usize,
    /// Why a covering strategy chose nothing (a generator failure: the matrix was checked).
    pub error: Option<String>,
}

/// What one exclusion or rule left out.
#[derive(Debug, Clone)]
pub struct Removal {
    /// `rule `scheduler <= master`` or `exclude entry 2`.
    pub by: String,
    /// `file:line:column` of a rule.
    pub origin: Option<String>,
    /// The cells, as `role=release,...`.
    pub cells: Vec<String>,
}

impl CellChoice {
    /// Cells past this many are not walked to attribute removals.
    const WALK_UP_TO: u128 = 1_000_000;

    fn of(spec: &CellSpec) -> CellChoice {
        let product = (spec.releases.len() as u128)
            .checked_pow(spec.vary.len() as u32)
            .unwrap_or(u128::MAX);
        let mut choice = CellChoice {
            strategy: spec.strategy.to_string(),
            strength: match spec.strategy {
                Strategy::All => None,
                Strategy::Covering { t } => Some(t),
            },
            seed: spec.seed,
            product,
            pinned: spec.include.len(),
            ..CellChoice::default()
        };
        if product > Self::WALK_UP_TO {
            return choice;
        }
        let mut removed: Vec<Removal> = Vec::new();
        let mut allowed = 0u128;
        for row in product_cells(spec) {
            let by = match spec.left_out_by(&row) {
                None => {
                    allowed += 1;
                    continue;
                }
                Some(LeftOut::Excluded(i)) => (format!("exclude entry {}", i + 1), None),
                Some(LeftOut::Rule(rule)) => {
                    (format!("rule `{}`", rule.text), Some(rule.origin.clone()))
                }
            };
            let cell = assignment(&row);
            match removed.iter_mut().find(|r| r.by == by.0) {
                Some(r) => r.cells.push(cell),
                None => removed.push(Removal {
                    by: by.0,
                    origin: by.1,
                    cells: vec![cell],
                }),
            }
        }
        choice.removed = Some(removed);
        choice.allowed = Some(allowed);
        choice
    }

    /// One line, e.g. `38 cells, chosen pairwise (seed 0): the product's 1296, less 1030 that 3
    /// rules remove`.
    pub fn summary(&self) -> String {
        let whole = match (self.allowed, &self.removed) {
            (Some(a), Some(r)) if a != self.product => format!(
                "the product's {}, less {} that {} remove{}",
                self.product,
                self.product - a,
                removals(r),
                if r.len() == 1 { "s" } else { "" }
            ),
            (Some(_), _) => format!("the full product, {}", self.product),
            (None, _) => format!(
                "the product's {} (too large to count what the rules remove)",
                self.product
            ),
        };
        let pinned = if self.pinned > 0 {
            format!(", {} pinned", self.pinned)
        } else {
            String::new()
        };
        match self.strength {
            None => format!("{}: {whole}", plural(self.chosen, "cell")),
            Some(t) => {
                let covering = match self.combinations {
                    Some(n) if t == 2 => format!(" to hold all {n} allowed pairs of releases"),
                    Some(n) => format!(" to hold all {n} allowed combinations of {t} releases"),
                    None => String::new(),
                };
                format!(
                    "{}, chosen {} (seed {}){covering}{pinned}, from {whole}",
                    plural(self.chosen, "cell"),
                    self.strategy,
                    self.seed
                )
            }
        }
    }
}

/// `1 cell`, `2 cells`.
fn plural(n: usize, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

impl CellChoice {
    /// The summary, then each exclusion and rule with the cells it removed.
    pub fn explain(&self) -> String {
        let mut s = self.summary();
        match &self.removed {
            None => s.push_str("\n(the product is too large to list what each rule removes)"),
            Some(r) if r.is_empty() => s.push_str("\nno exclusion or rule removes a cell"),
            Some(removed) => {
                for r in removed {
                    let origin = r
                        .origin
                        .as_ref()
                        .map(|o| format!(" ({o})"))
                        .unwrap_or_default();
                    let n = plural(r.cells.len(), "cell");
                    let _ = write!(s, "\n{}{origin} removes {n}:", r.by);
                    for c in &r.cells {
                        let _ = write!(s, "\n    {c}");
                    }
                }
            }
        }
        s
    }

    fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "strategy": self.strategy,
            "strength": self.strength,
            "seed": self.seed,
            "product": u64::try_from(self.product).unwrap_or(u64::MAX),
            "allowed": self.allowed.map(|a| u64::try_from(a).unwrap_or(u64::MAX)),
            "pinned": self.pinned,
            "combinations": self.combinations,
            "chosen": self.chosen,
            "removed": self.removed.as_ref().map(|r| r.iter().map(|x| serde_json::json!({
                "by": x.by,
                "origin": x.origin,
                "cells": x.cells,
            })).collect::<Vec<_>>()),
        })
    }
}

fn removals(r: &[Removal]) -> String {
    let rules = r.iter().filter(|x| x.origin.is_some()).count();
    let excl = r.len() - rules;
    match (rules, excl) {
        (0, e) => format!("{e} exclusion{}", if e == 1 { "" } else { "s" }),
        (n, 0) => format!("{n} rule{}", if n == 1 { "" } else { "s" }),
        (n, e) => format!(
            "{n} rule{} and {e} exclusion{}",
            if n == 1 { "" } else { "s" },
            if e == 1 { "" } else { "s" }
        ),
    }
}

/// Every cell of the product, as role → release.
fn product_cells(spec: &CellSpec) -> impl Iterator<Item = IndexMap<String, Release>> + '_ {
    product(spec.vary.len(), spec.releases.len()).map(|row| {
        spec.vary
            .iter()
            .zip(row)
            .map(|(role, i)| (role.clone(), spec.releases[i].clone()))
            .collect()
    })
}

/// Release of every replica, as the plan simulates it step by step.
struct State(IndexMap<String, Vec<Release>>);

impl State {
    fn holds(&self, step: &ScenarioStep) -> bool {
        step.when.as_ref().is_none_or(|c| {
            c.holds(|role| {
                self.0
                    .get(role)
                    .map(|v| v.iter().collect())
                    .unwrap_or_default()
            })
        })
    }

    /// The first replica of `role` not at `to` moves there (which one really moves is the runner's
    /// choice, by its order; the releases a role's replicas are at is what the plan tracks).
    fn move_one(&mut self, role: &str, to: &Release) {
        if let Some(slot) = self
            .0
            .get_mut(role)
            .and_then(|v| v.iter_mut().find(|r| *r != to))
        {
            *slot = to.clone();
        }
    }
}

/// Builds a trial's steps: the pieces' steps whose `when` holds in the state reached so far, each
/// `upgrade` expanded into one move per replica with the `each_state` checks after every move.
fn trial(
    m: &Matrix,
    sc: &Scenario,
    id: String,
    kind: TrialKind,
    start: IndexMap<String, Release>,
    pieces: Vec<route::Piece<'_>>,
) -> Trial {
    let mut state = State(
        start
            .iter()
            .map(|(role, rel)| {
                let n = m.role(role).map_or(1, |r| r.replicas);
                (role.clone(), vec![rel.clone(); n as usize])
            })
            .collect(),
    );
    let mut steps: Vec<PlannedStep> = Vec::new();
    let push = |steps: &mut Vec<PlannedStep>,
                op: Op,
                piece: &route::Piece<'_>,
                step: &ScenarioStep,
                each_state: bool| {
        let source = route::source_of(&op, step, piece.path());
        steps.push(PlannedStep {
            number: steps.len() + 1,
            op,
            timeout: step.timeout,
            origin: step.origin.clone(),
            each_state,
            fault: false,
            phase: piece.phase.clone(),
            source,
        });
    };
    for piece in &pieces {
        let step = piece.step.as_ref();
        if !state.holds(step) {
            continue;
        }
        let path = piece.path();
        let ops = step.spec.plan(&PlanCx {
            path,
            releases: &state.0,
        });
        for op in ops {
            let Some((role, to)) = op.moves_to().map(|(r, t)| (r.to_string(), t.clone())) else {
                push(&mut steps, op, piece, step, false);
                continue;
            };
            state.move_one(&role, &to);
            push(&mut steps, op, piece, step, false);
            // Every intermediate state is checked.
            for check in &sc.each_state {
                if state.holds(check) {
                    let checks = check.spec.plan(&PlanCx {
                        path,
                        releases: &state.0,
                    });
                    for op in checks {
                        push(&mut steps, op, piece, check, true);
                    }
                }
            }
        }
    }
    Trial {
        id,
        scenario: sc.name.clone(),
        kind,
        unpromised: false,
        start,
        steps,
        timeout: sc.timeout,
        drawn: None,
        file: None,
        repeat: None,
    }
}

/// Which trials to keep.
#[derive(Debug, Clone, Default)]
pub(crate) struct Filter {
    /// Exact trial ids.
    pub trials: Vec<String>,
    /// Partial assignments (`master=0.23,scheduler=0.22`): a cell trial matches if it agrees on every role
    /// named. Path trials never match a cell filter.
    pub cells: Vec<IndexMap<String, String>>,
    pub scenarios: Vec<String>,
}

impl Filter {
    /// Parses `role=release,role=release`; the part that is not `ROLE=RELEASE` is the error.
    /// `ROLE=RELEASE,...`; the part at fault otherwise. Every part must name a role and a release:
    /// an empty one would select every cell.
    pub(crate) fn parse_cell(s: &str) -> Result<IndexMap<String, String>, String> {
        s.split(',')
            .map(|p| match p.split_once('=') {
                Some((r, v)) if !r.trim().is_empty() && !v.trim().is_empty() => {
                    Ok((r.trim().to_string(), v.trim().to_string()))
                }
                _ => Err(p.to_string()),
            })
            .collect()
    }

    pub(crate) fn matches(&self, t: &Trial) -> bool {
        (self.trials.is_empty() || self.trials.contains(&t.id))
            && (self.scenarios.is_empty() || self.scenarios.contains(&t.scenario))
            && (self.cells.is_empty()
                || self.cells.iter().any(|want| {
                    matches!(&t.kind, TrialKind::Cell(_))
                        && want
                            .iter()
                            .all(|(r, v)| t.start.get(r).is_some_and(|rel| rel.as_str() == v))
                }))
    }
}

impl Plan {
    pub(crate) fn filtered(mut self, f: &Filter) -> Plan {
        self.trials.retain(|t| f.matches(t));
        self
    }

    /// The trials of the matrix's subset `name`, in plan order.
    pub fn subset(mut self, m: &Matrix, name: &str) -> Result<Plan, LoadError> {
        let Some(subset) = m.subsets.iter().find(|s| s.name == name) else {
            let known: Vec<&str> = m.subsets.iter().map(|s| s.name.as_str()).collect();
            let help = if known.is_empty() {
                "it has no [subsets.NAME] table".to_string()
            } else {
                format!("its subsets: {}", known.join(", "))
            };
            return Err(LoadError::new(
                m.file.display().to_string(),
                vec![ModelError::in_file(
                    &m.file.display().to_string(),
                    format!("no subset `{name}`"),
                )
                .help(help)],
            ));
        };
        self.trials
            .retain(|t| subset.trials.iter().any(|s| s.value == t.id));
        Ok(self)
    }
}

/// The plan of a loaded matrix, with its subsets checked against it: what every command that takes a
/// matrix starts from.
pub fn expand_checked(m: &Matrix) -> Result<Plan, LoadError> {
    let (plan, random_error) = expand_drawing(m);
    if let Some(e) = random_error {
        return Err(LoadError::new(m.file.display().to_string(), vec![*e]));
    }
    if let Some(e) = &plan.cells.error {
        let file = m.file.display().to_string();
        return Err(LoadError::new(
            file.clone(),
            vec![
                ModelError::in_file(&file, format!("the cells could not be chosen: {e}")).help(
                    "this is a crossgrade bug: the matrix passed its checks; please report it",
                ),
            ],
        ));
    }
    check_subsets(m, &plan)?;
    Ok(plan)
}

/// Checks that every trial a subset of the matrix lists is a trial of its plan, pointing at the ones
/// that are not (the plan is what knows the trial ids, so the model cannot check this itself).
pub(crate) fn check_subsets(m: &Matrix, plan: &Plan) -> Result<(), LoadError> {
    let mut errors = Vec::new();
    for subset in &m.subsets {
        for t in &subset.trials {
            if !plan.trials.iter().any(|x| x.id == t.value) {
                let near = closest(&t.value, plan.trials.iter().map(|x| x.id.as_str()));
                let mut e = t.error(format!(
                    "subset `{}` lists `{}`, which is not a trial of this matrix",
                    subset.name, t.value
                ));
                e = e.help(match near {
                    Some(n) => format!("did you mean `{n}`? `crossgrade plan --ids` lists them"),
                    None => "`crossgrade plan --ids` lists the trials".to_string(),
                });
                errors.push(e);
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(LoadError::new(m.file.display().to_string(), errors))
    }
}

/// The id sharing the longest prefix with `id` (a typo is usually late in an id), if any shares the
/// system and scenario.
fn closest<'a>(id: &str, ids: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let common = |a: &str| {
        id.chars()
            .zip(a.chars())
            .take_while(|(x, y)| x == y)
            .count()
    };
    let scenario_len = id
        .match_indices('/')
        .nth(1)
        .map_or(id.len(), |(i, _)| i + 1);
    ids.map(|x| (common(x), x))
        .filter(|(n, _)| *n >= scenario_len)
        .max_by_key(|(n, _)| *n)
        .map(|(_, x)| x)
}

impl fmt::Display for Trial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.id)?;
        if self.unpromised {
            writeln!(
                f,
                "    negative: the policy does not promise this upgrade; it must go through or be \
                 refused cleanly"
            )?;
        }
        let start = self
            .start
            .iter()
            .map(|(r, v)| format!("{r}={v}"))
            .collect::<Vec<_>>()
            .join(" ");
        if let TrialKind::Path {
            order: Some(order), ..
        } = &self.kind
        {
            let whose = if order.documented {
                " (the scenario's own)"
            } else {
                ""
            };
            writeln!(f, "    order: {}{whose}", order.roles.join(", "))?;
        }
        if let Some(d) = &self.drawn {
            writeln!(
                f,
                "    drawn: plan {} of {} from seed {} (the same seed draws the same plan)",
                d.plan, d.of, d.seed
            )?;
        }
        writeln!(f, "    at start: {start}")?;
        let line = |s: &PlannedStep| {
            let mut line = format!("{:>4}. {}", s.number, s.op);
            if s.each_state {
                line.push_str("  [each state]");
            }
            if s.fault {
                line.push_str("  [inserted fault]");
            }
            if let Some(t) = s.timeout {
                let _ = write!(line, "  (deadline {})", format_duration(t));
            }
            line
        };
        if self.steps.iter().all(|s| s.phase.is_none()) {
            for s in &self.steps {
                writeln!(f, "{}", line(s))?;
            }
            return Ok(());
        }
        // A reordered or multi-hop path: a tree of its parts.
        let parts = self.parts();
        for (i, (phase, steps)) in parts.iter().enumerate() {
            let last = i + 1 == parts.len();
            writeln!(f, "    {} {phase}", if last { "└─" } else { "├─" })?;
            for s in steps {
                writeln!(f, "    {}  {}", if last { " " } else { "│" }, line(s))?;
            }
        }
        Ok(())
    }
}

impl Trial {
    /// Its steps grouped by phase, in order: `before the moves`, each hop and role, `after the
    /// moves`.
    fn parts(&self) -> Vec<(String, Vec<&PlannedStep>)> {
        let mut parts: Vec<(String, Vec<&PlannedStep>)> = Vec::new();
        let mut seen_phase = false;
        for s in &self.steps {
            let name = match &s.phase {
                Some(p) => {
                    seen_phase = true;
                    p.clone()
                }
                None if seen_phase => "after the moves".to_string(),
                None => "before the moves".to_string(),
            };
            match parts.last_mut() {
                Some((p, steps)) if *p == name => steps.push(s),
                _ => parts.push((name, vec![s])),
            }
        }
        parts
    }
}

impl Plan {
    /// The plan as data (`crossgrade plan --format json`): `schema` `crossgrade.plan/v1` (fields
    /// are only added within it), `system`, and `trials[]` with `id`, `scenario`, `kind`, `cell`
    /// (varying role → release) or `path` {from, to}, `start` (role → release), `timeout_ms` and
    /// `steps[]` {`number`, `description`, `origin`, `each_state`, `fault` (inserted by
    /// `[matrix.random.faults]`), `moves`, `timeout_ms`}, a path's
    /// `via` and explored `order` (with `documented`), a drawn plan's `drawn` {`seed`, `plan`, `of`}; and
    /// `cells`: how they were chosen {`strategy`, `strength`, `seed`, `product`, `allowed`,
    /// `pinned`, `chosen`, `removed[]` {`by`, `origin`, `cells`}}.
    pub fn to_json(&self) -> serde_json::Value {
        let rel = |m: &IndexMap<String, Release>| -> serde_json::Map<String, serde_json::Value> {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().into()))
                .collect()
        };
        let trials: Vec<serde_json::Value> = self
            .trials
            .iter()
            .map(|t| {
                let mut o = serde_json::json!({
                    "id": t.id,
                    "scenario": t.scenario,
                    "start": rel(&t.start),
                    "unpromised": t.unpromised,
                    "timeout_ms": t.timeout.as_millis() as u64,
                    "steps": t.steps.iter().map(|s| serde_json::json!({
                        "number": s.number,
                        "description": s.describe(),
                        "origin": s.origin,
                        "each_state": s.each_state,
                        "fault": s.fault,
                        "moves": s.is_move(),
                        "timeout_ms": s.timeout.map(|d| d.as_millis() as u64),
                    })).collect::<Vec<_>>(),
                });
                if let Some(d) = &t.drawn {
                    o["drawn"] = serde_json::json!({"seed": d.seed, "plan": d.plan, "of": d.of});
                }
                match &t.kind {
                    TrialKind::Cell(cell) => {
                        o["kind"] = "cell".into();
                        o["cell"] = rel(cell).into();
                    }
                    TrialKind::Path {
                        from,
                        to,
                        via,
                        order,
                    } => {
                        o["kind"] = "path".into();
                        o["path"] = serde_json::json!({"from": from.as_str(), "to": to.as_str()});
                        if !via.is_empty() {
                            o["path"]["via"] =
                                via.iter().map(|v| v.as_str()).collect::<Vec<_>>().into();
                        }
                        if let Some(order) = order {
                            o["path"]["order"] = order.roles.clone().into();
                            o["path"]["documented"] = order.documented.into();
                        }
                    }
                }
                o
            })
            .collect();
        serde_json::json!({
            "schema": "crossgrade.plan/v1",
            "system": self.system,
            "cells": self.cells.to_json(),
            "trials": trials,
        })
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for t in &self.trials {
            writeln!(f, "{t}")?;
        }
        write!(f, "{} trials", self.trials.len())
    }
}
