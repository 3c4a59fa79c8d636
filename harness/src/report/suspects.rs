//! Which combination broke it. A failing cell holds many roles' releases at once (more so in a covering
//! array); the suspects are the combinations of up to `t` roles' releases that occur only in failing
//! cells and in no passing one (the reasoning of locating arrays), each with the failing cells as
//! evidence. Only the smallest are named: a pair that contains a suspect single release is not a
//! suspect of its own. A failing cell that holds no suspect is reported as unexplained: every
//! combination it holds also passed somewhere, so its failure needs more than `t` roles, or is not
//! repeatable.

use std::collections::{BTreeMap, BTreeSet};

use indexmap::IndexMap;
use serde::Serialize;

use super::results::{Results, TrialReport};
use crate::outcome::Verdict;

/// A combination of roles' releases, in the matrix's role order.
pub(crate) type Combination = Vec<(String, String)>;

/// The suspects of a run's cell trials, per cell scenario.
#[derive(Debug, Clone, Serialize)]
pub struct Suspects {
    /// The largest combination looked at (the covering strength, 2 for a full product).
    pub strength: usize,
    pub suspects: Vec<Suspect>,
    /// The fewest suspects that explain every explained failure (greedy, most failing cells first):
    /// where a covering array holds each combination in few cells, a failing cell has several
    /// suspects, and the ones that explain many failures at once are the likely causes.
    pub likeliest: Vec<Likely>,
    /// Failing cell trials that hold no suspect.
    pub unexplained: Vec<String>,
}

/// A suspect in [`Suspects::likeliest`], with the failing cells it is picked to explain.
#[derive(Debug, Clone, Serialize)]
pub struct Likely {
    /// `master=0.22 & scheduler=0.23`.
    pub suspect: String,
    pub scenario: String,
    /// How many failing cells hold it.
    pub cells: usize,
    /// Of those, how many no suspect picked before it explains.
    pub explains: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct Suspect {
    pub scenario: String,
    /// role → release.
    pub combination: IndexMap<String, String>,
    /// The failing trials that hold it (every trial that holds it failed).
    pub evidence: Vec<String>,
}

impl Suspect {
    /// `master=0.22 & scheduler=0.23`.
    pub fn label(&self) -> String {
        label(self.combination.iter())
    }
}

pub(crate) fn label<'a>(c: impl Iterator<Item = (&'a String, &'a String)>) -> String {
    c.map(|(r, v)| format!("{r}={v}"))
        .collect::<Vec<_>>()
        .join(" & ")
}

/// The combinations of `1..=t` of a cell's roles, in role order.
pub(crate) fn combinations(cell: &IndexMap<String, String>, t: usize) -> Vec<Combination> {
    let items: Vec<(String, String)> = cell.iter().map(|(r, v)| (r.clone(), v.clone())).collect();
    let mut out = Vec::new();
    let n = items.len();
    // Subsets by bitmask, smallest first; a cell has few roles.
    let mut masks: Vec<u32> = (1..(1u32 << n.min(31)))
        .filter(|m| (m.count_ones() as usize) <= t)
        .collect();
    masks.sort_by_key(|m| (m.count_ones(), m.reverse_bits()));
    for m in masks {
        out.push(
            (0..n)
                .filter(|i| m & (1 << i) != 0)
                .map(|i| items[i].clone())
                .collect(),
        );
    }
    out
}

/// A cell trial's releases in the matrix's role order (whatever order its record lists them in).
pub(crate) fn in_role_order(r: &Results, t: &TrialReport) -> IndexMap<String, String> {
    let mut cell = t.outcome.cell.clone().unwrap_or_default();
    let pos = |role: &String| r.meta.vary.iter().position(|v| v == role);
    cell.sort_by(|a, _, b, _| pos(a).cmp(&pos(b)).then(a.cmp(b)));
    cell
}

/// Whether `small` is part of `big`.
pub(crate) fn within(small: &Combination, big: &Combination) -> bool {
    small.iter().all(|x| big.contains(x))
}

/// Whether a repeated trial both passed and failed: no combination of releases explains a failure
/// that does not repeat.
pub(crate) fn is_flaky(t: &TrialReport) -> bool {
    t.outcome
        .repeats
        .as_ref()
        .is_some_and(|r| r.class == crate::outcome::Class::Flaky)
}

/// The suspects of `r`'s cell trials. Trials that errored are no evidence either way; flaky ones
/// (`run --repeat`) neither, and are counted unexplained.
pub fn find(r: &Results, strength: usize) -> Suspects {
    let mut by_scenario: IndexMap<&str, Vec<&TrialReport>> = IndexMap::new();
    let mut unexplained = Vec::new();
    for t in &r.trials {
        if t.outcome.cell.is_none() || t.outcome.verdict == Verdict::Error {
            continue;
        }
        if is_flaky(t) {
            unexplained.push(t.outcome.id.clone());
            continue;
        }
        by_scenario.entry(&t.outcome.scenario).or_default().push(t);
    }
    let mut suspects = Vec::new();
    for (scenario, trials) in by_scenario {
        let mut passed: BTreeSet<Combination> = BTreeSet::new();
        let mut failed: BTreeMap<Combination, Vec<&str>> = BTreeMap::new();
        for t in &trials {
            let cell = in_role_order(r, t);
            for c in combinations(&cell, strength) {
                if t.outcome.verdict == Verdict::Pass {
                    passed.insert(c);
                } else {
                    failed.entry(c).or_default().push(&t.outcome.id);
                }
            }
        }
        // Smallest first (combinations() and the sort give that), so a larger one that holds a
        // smaller suspect is skipped.
        let mut found: Vec<Combination> = Vec::new();
        let mut candidates: Vec<(&Combination, &Vec<&str>)> = failed
            .iter()
            .filter(|(c, _)| !passed.contains(*c))
            .collect();
        candidates.sort_by_key(|(c, _)| c.len());
        for (c, evidence) in candidates {
            if found.iter().any(|f| within(f, c)) {
                continue;
            }
            found.push(c.clone());
            suspects.push(Suspect {
                scenario: scenario.to_string(),
                combination: c.iter().cloned().collect(),
                evidence: evidence.iter().map(|s| s.to_string()).collect(),
            });
        }
        for t in &trials {
            if t.outcome.verdict == Verdict::Fail {
                let holds: Combination = in_role_order(r, t).into_iter().collect();
                if !found.iter().any(|f| within(f, &holds)) {
                    unexplained.push(t.outcome.id.clone());
                }
            }
        }
    }
    for s in &mut suspects {
        s.evidence.sort();
    }
    let likeliest = likeliest(&suspects);
    Suspects {
        strength,
        suspects,
        likeliest,
        unexplained,
    }
}

/// A greedy cover of the failing cells by suspects: each time the suspect that explains the most
/// failing cells not yet explained (ties: the smaller combination, then the order found).
fn likeliest(suspects: &[Suspect]) -> Vec<Likely> {
    let mut left: BTreeSet<(&str, &str)> = suspects
        .iter()
        .flat_map(|s| s.evidence.iter().map(|e| (s.scenario.as_str(), e.as_str())))
        .collect();
    let mut out = Vec::new();
    while !left.is_empty() {
        let best = suspects
            .iter()
            .map(|s| {
                let n = s
                    .evidence
                    .iter()
                    .filter(|e| left.contains(&(s.scenario.as_str(), e.as_str())))
                    .count();
                (n, s)
            })
            .filter(|(n, _)| *n > 0)
            .max_by(|(a, x), (b, y)| {
                a.cmp(b)
                    .then(y.combination.len().cmp(&x.combination.len()))
                    .then(std::cmp::Ordering::Greater)
            });
        let Some((n, s)) = best else { break };
        for e in &s.evidence {
            left.remove(&(s.scenario.as_str(), e.as_str()));
        }
        out.push(Likely {
            suspect: s.label(),
            scenario: s.scenario.clone(),
            cells: s.evidence.len(),
            explains: n,
        });
    }
    out
}
