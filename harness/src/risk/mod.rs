//! What the API changes between releases put at risk in a plan (issue 17): the matrix's `[api]`
//! says where each release's definition is and which messages each pair of roles exchanges; in
//! every state a trial goes through, an interface whose sender and receiver run different releases
//! is an *exposure*, and the diff of the sender's definition against the receiver's, scoped to the
//! interface's messages and what they reach, is its prediction. Pure once the definitions are
//! read; diffs are cached per (interface, sender release, receiver release), so a plan of
//! thousands of cells costs as many diffs as there are release pairs.
//!
//! The diff reads the sender's definition as its "old" side and the receiver's as its "new" one:
//! the rules speak of writers and readers that way ("required: old writers do not send it, so new
//! readers reject their messages"), so a newer sender talking to an older receiver and the reverse
//! are told apart.

mod render;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use indexmap::IndexMap;
use miette::Diagnostic;
use serde::{Deserialize, Serialize};

use crate::api::{self, ApiError, ApiSource, Counts, Finding, Schema, Scope, Severity};
use crate::model::{Interface, LoadError, Matrix, Release};
use crate::outcome::TrialOutcome;
use crate::plan::{Trial, TrialKind};

pub use render::{ordered, plan_text, AtRisk, PairRisk, RiskFormat, TrialAt};

/// Why the API definitions of a matrix cannot be used. Bad input (exit 2).
#[derive(Debug, thiserror::Error, Diagnostic)]
pub enum RiskError {
    /// A release's `.proto` files do not parse or do not compile.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Definition(#[from] ApiError),
    /// An interface names a message that no release defines.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Names(#[from] LoadError),
}

/// How many of the most important findings a trial's prediction keeps (results.json stays small).
pub const TOP: usize = 5;

/// The matrix's API definitions, read, with the diffs asked so far.
pub struct Api {
    schemas: IndexMap<Release, Arc<Schema>>,
    interfaces: Vec<Interface>,
    cache: HashMap<(usize, Release, Release), Arc<Vec<Finding>>>,
}

impl Api {
    /// Reads every release's definition (a folder shared by releases is read once) and checks that
    /// each message an interface names is defined by at least one release. `None` without `[api]`.
    pub fn load(m: &Matrix) -> Result<Option<Api>, RiskError> {
        let Some(spec) = &m.api else {
            return Ok(None);
        };
        let mut by_dir: HashMap<PathBuf, Arc<Schema>> = HashMap::new();
        let mut schemas = IndexMap::new();
        for (release, dir) in &spec.definitions {
            let schema = match by_dir.get(dir) {
                Some(s) => s.clone(),
                None => {
                    let s = Arc::new(api::load(&ApiSource::dir(dir))?);
                    by_dir.insert(dir.clone(), s.clone());
                    s
                }
            };
            schemas.insert(release.clone(), schema);
        }
        let mut errors = Vec::new();
        for i in &spec.interfaces {
            for name in &i.messages {
                let scope = Scope::names([name.value.as_str()]);
                let defined = schemas
                    .values()
                    .any(|s| scope.resolve(s, s).is_some_and(|set| !set.is_empty()));
                if !defined {
                    let packages: Vec<&str> = schemas
                        .values()
                        .flat_map(|s| s.packages())
                        .collect::<std::collections::BTreeSet<_>>()
                        .into_iter()
                        .collect();
                    errors.push(
                        name.error(format!(
                            "no release's API definition defines `{}`",
                            name.value
                        ))
                        .help(format!(
                            "name a message, enum or service by its full name, or a package; the \
                             definitions' packages are: {}",
                            packages.join(", ")
                        )),
                    );
                }
            }
        }
        if !errors.is_empty() {
            return Err(LoadError::new(m.file.display().to_string(), errors).into());
        }
        Ok(Some(Api {
            schemas,
            interfaces: spec.interfaces.clone(),
            cache: HashMap::new(),
        }))
    }

    pub fn interfaces(&self) -> &[Interface] {
        &self.interfaces
    }

    /// The findings of interface `i` between a sender at `sender` and a receiver at `receiver`,
    /// most important first; empty for a release without a definition.
    pub fn findings(
        &mut self,
        i: usize,
        sender: &Release,
        receiver: &Release,
    ) -> Arc<Vec<Finding>> {
        let key = (i, sender.clone(), receiver.clone());
        if let Some(f) = self.cache.get(&key) {
            return f.clone();
        }
        let found = match (
            self.schemas.get(sender),
            self.schemas.get(receiver),
            self.interfaces.get(i),
        ) {
            (Some(a), Some(b), Some(iface)) if !Arc::ptr_eq(a, b) => {
                let scope = Scope::names(iface.messages()).with_reachable();
                api::diff(a, b, &scope)
            }
            _ => Vec::new(),
        };
        let found = Arc::new(found);
        self.cache.insert(key, found.clone());
        found
    }

    /// How many distinct diffs were computed (what the cache saves is the rest).
    pub fn diffs_computed(&self) -> usize {
        self.cache.len()
    }

    /// The prediction of every trial, by trial id.
    pub fn predict_all<'a>(
        &mut self,
        m: &Matrix,
        trials: impl IntoIterator<Item = &'a Trial>,
    ) -> BTreeMap<String, Prediction> {
        trials
            .into_iter()
            .map(|t| (t.id.clone(), self.predict(m, t)))
            .collect()
    }

    /// Every exposure of a trial: in its start state and after each step that moves a replica, each
    /// interface whose two roles have replicas at different releases.
    pub fn predict(&mut self, m: &Matrix, t: &Trial) -> Prediction {
        let mut state: IndexMap<String, Vec<Release>> = t
            .start
            .iter()
            .map(|(role, rel)| {
                let n = m.role(role).map_or(1, |r| r.replicas.max(1));
                (role.clone(), vec![rel.clone(); n as usize])
            })
            .collect();
        let mut states = vec![(0, state.clone())];
        if matches!(t.kind, TrialKind::Path { .. }) {
            for s in &t.steps {
                let Some((role, to)) = s.op.moves_to() else {
                    continue;
                };
                // As the plan tracks it: the first replica not yet there moves.
                if let Some(slot) = state
                    .get_mut(role)
                    .and_then(|v| v.iter_mut().find(|r| *r != to))
                {
                    *slot = to.clone();
                }
                states.push((s.number, state.clone()));
            }
        }
        self.predict_states(states)
    }

    /// The prediction of a trial that already ran, from the states its record shows (the start,
    /// then every replica's release after each step): for runs recorded before predictions were.
    pub fn predict_outcome(&mut self, o: &TrialOutcome) -> Prediction {
        let parse = |s: &str| Release::parse(s).ok();
        let mut states: Vec<(usize, IndexMap<String, Vec<Release>>)> = vec![(
            0,
            o.start
                .iter()
                .filter_map(|(role, r)| Some((role.clone(), vec![parse(r)?])))
                .collect(),
        )];
        for s in &o.steps {
            let mut state: IndexMap<String, Vec<Release>> = IndexMap::new();
            for (replica, r) in &s.releases {
                // `master-2` is a replica of `master`.
                let role = replica
                    .rsplit_once('-')
                    .filter(|(_, i)| i.chars().all(|c| c.is_ascii_digit()))
                    .map_or(replica.as_str(), |(role, _)| role);
                if let Some(r) = parse(r) {
                    state.entry(role.to_string()).or_default().push(r);
                }
            }
            if !state.is_empty() {
                states.push((s.number, state));
            }
        }
        self.predict_states(states)
    }

    /// Every exposure of a sequence of states (step number, role → its replicas' releases).
    fn predict_states(
        &mut self,
        states: Vec<(usize, IndexMap<String, Vec<Release>>)>,
    ) -> Prediction {
        let mut seen: IndexMap<(usize, Release, Release), usize> = IndexMap::new();
        for (step, state) in &states {
            self.expose(state, *step, &mut seen);
        }
        let mut exposures = Vec::new();
        let mut top: Vec<(Finding, usize)> = Vec::new();
        for ((i, sender, receiver), step) in seen {
            let findings = self.findings(i, &sender, &receiver);
            if findings.is_empty() {
                continue;
            }
            let iface = &self.interfaces[i];
            exposures.push(Exposure {
                from: iface.from.clone(),
                to: iface.to.clone(),
                sender: sender.to_string(),
                receiver: receiver.to_string(),
                step,
                counts: Counts::of(&findings),
            });
            let at = exposures.len() - 1;
            top.extend(findings.iter().take(TOP).map(|f| (f.clone(), at)));
        }
        top.sort_by(|a, b| Finding::importance_order(&a.0, &b.0));
        let top = top
            .into_iter()
            .take(TOP)
            .map(|(f, at)| TopFinding::of(&f, &exposures[at]))
            .collect();
        let counts = exposures.iter().fold(Counts::default(), |mut c, e| {
            c.breaking += e.counts.breaking;
            c.risky += e.counts.risky;
            c.compatible += e.counts.compatible;
            c
        });
        Prediction {
            counts,
            exposures,
            top,
        }
    }

    fn expose(
        &self,
        state: &IndexMap<String, Vec<Release>>,
        step: usize,
        seen: &mut IndexMap<(usize, Release, Release), usize>,
    ) {
        for (i, iface) in self.interfaces.iter().enumerate() {
            let (Some(from), Some(to)) = (state.get(&iface.from), state.get(&iface.to)) else {
                continue;
            };
            for a in distinct(from) {
                for b in distinct(to) {
                    if a != b {
                        seen.entry((i, a.clone(), b.clone())).or_insert(step);
                    }
                }
            }
        }
    }
}

fn distinct(v: &[Release]) -> Vec<&Release> {
    let mut d: Vec<&Release> = Vec::new();
    for r in v {
        if !d.contains(&r) {
            d.push(r);
        }
    }
    d
}

/// What the API definitions predict for one trial: recorded in results.json (the `prediction` of
/// a trial) so that reports need no `.proto` file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prediction {
    /// Summed over the exposures.
    pub counts: Counts,
    /// Each interface between roles at different releases that shows a change, in the order the
    /// trial reaches them.
    #[serde(default)]
    pub exposures: Vec<Exposure>,
    /// The most important findings of all its exposures (at most [`TOP`]).
    #[serde(default)]
    pub top: Vec<TopFinding>,
}

impl Prediction {
    /// A change that may break the trial: a breaking or a risky finding.
    pub fn at_risk(&self) -> bool {
        self.counts.breaking + self.counts.risky > 0
    }

    /// Riskiest first: by breaking, then risky findings.
    pub fn risk_order(a: &Prediction, b: &Prediction) -> std::cmp::Ordering {
        (b.counts.breaking, b.counts.risky).cmp(&(a.counts.breaking, a.counts.risky))
    }
}

/// One interface between two roles at different releases.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exposure {
    /// The sending and the receiving role.
    pub from: String,
    pub to: String,
    /// Their releases.
    pub sender: String,
    pub receiver: String,
    /// The step after which they first meet (0: from the start).
    pub step: usize,
    pub counts: Counts,
}

impl Exposure {
    /// `scheduler 0.23 → master 0.22`.
    pub fn label(&self) -> String {
        format!(
            "{} {} → {} {}",
            self.from, self.sender, self.to, self.receiver
        )
    }
}

/// One finding as a report keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopFinding {
    pub severity: Severity,
    pub rule: String,
    /// `scheduler 0.23 → master 0.22`.
    pub exposure: String,
    pub message: String,
    /// `file:line:column` on the sender's and the receiver's side.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receiver_at: Option<String>,
}

impl TopFinding {
    fn of(f: &Finding, e: &Exposure) -> TopFinding {
        TopFinding {
            severity: f.severity,
            rule: f.rule.id().to_string(),
            exposure: e.label(),
            message: f.message.clone(),
            sender_at: f.old.as_ref().map(ToString::to_string),
            receiver_at: f.new.as_ref().map(ToString::to_string),
        }
    }
}
