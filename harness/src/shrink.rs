//! Shrinking a failing trial to a smallest plan that fails the same way: delta debugging over its
//! steps (moves, restarts, checks; a hop is its moves), each candidate a real trial. "The same
//! way" is the same kind of failed step (a restart, a move, a check) and the same reason once what
//! varies between runs is normalised (times, addresses, which replica, step numbers).
//!
//! The steps after the one that failed never ran, so they go first, without a trial. Then
//! complement-first delta debugging (Zeller's ddmin, removing chunks of halving size and keeping
//! any removal after which the trial still fails the same way) down to single steps: the result is
//! 1-minimal (removing any one step more makes it pass, or fail otherwise). The trial's first
//! `start` always stays, and a candidate that stops a workload it no longer starts, or resumes or
//! heals a fault it no longer starts, is not tried.

use std::collections::HashMap;
use std::sync::LazyLock;

use regex::Regex;

use crate::baseline::reason_of;
use crate::outcome::{TrialOutcome, Verdict};
use crate::plan::{PlannedStep, Trial};
use crate::step::{take_back, Op};

/// How a trial failed, in the words a shrunk plan must fail with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    /// The failed step's kind (`Restart`, `Move`, `Action`).
    pub kind: String,
    /// Its reason, normalised as in a baseline snapshot, step numbers left out.
    pub reason: String,
}

impl Signature {
    /// How `outcome` (a run of `trial`) failed; `None` when it did not fail.
    pub fn of(trial: &Trial, outcome: &TrialOutcome) -> Option<Signature> {
        if outcome.verdict != Verdict::Fail {
            return None;
        }
        let step = trial.steps.get(outcome.failed_step? - 1)?;
        static STEP: LazyLock<Regex> =
            LazyLock::new(|| Regex::new(r"\bstep \d+\b").expect("valid pattern"));
        let reason = reason_of(outcome).unwrap_or_default();
        Some(Signature {
            kind: step.op.kind().to_string(),
            reason: STEP.replace_all(&reason, "step <n>").into_owned(),
        })
    }
}

impl std::fmt::Display for Signature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "({}): {}", self.kind.to_lowercase(), self.reason)
    }
}

/// Runs a candidate: whether it fails the same way. The shrinker's only contact with the world (a
/// real trial in `crossgrade shrink`, a function in the tests).
#[allow(async_fn_in_trait)]
pub trait Oracle {
    async fn fails_the_same_way(&mut self, candidate: &Trial) -> bool;
}

/// What shrinking found.
#[derive(Debug, Clone)]
pub struct Shrunk {
    /// The smallest failing plan found.
    pub trial: Trial,
    /// The original's steps kept (indices into the original's steps), in order.
    pub kept: Vec<usize>,
    /// Candidates run.
    pub trials: usize,
    /// Whether the trial budget ran out before the plan was 1-minimal.
    pub exhausted: bool,
}

/// `original` with only the steps at `keep` (indices, ascending), renumbered; `None` when that is
/// not a plan that can run (no `start`, a workload stopped that is not started, or a fault undone
/// that is not started).
pub fn candidate(original: &Trial, keep: &[usize]) -> Option<Trial> {
    let steps: Vec<&PlannedStep> = keep.iter().filter_map(|&i| original.steps.get(i)).collect();
    if !matches!(steps.first().map(|s| &s.op), Some(Op::Start(_))) {
        return None;
    }
    let mut started: Vec<&str> = Vec::new();
    for s in &steps {
        match &s.op {
            Op::Workload(w) => started.push(&w.name),
            Op::StopWorkload(w) if !started.contains(&w.name.as_str()) => return None,
            _ => {}
        }
    }
    // A `resume` or `heal` undoes a fault started before it, as the scenario file the plan is
    // written as must.
    let mut open = Vec::new();
    for s in &steps {
        open.extend(s.op.opens_fault());
        if let Some((undone, target)) = s.op.undoes_faults() {
            if !take_back(&mut open, undone, target) {
                return None;
            }
        }
    }
    let mut t = original.clone();
    t.steps = steps
        .into_iter()
        .enumerate()
        .map(|(i, s)| PlannedStep {
            number: i + 1,
            ..s.clone()
        })
        .collect();
    Some(t)
}

/// Shrinks `original`, which failed at step `failed` (1-based), with at most `budget` candidates
/// run.
pub async fn shrink(
    original: &Trial,
    failed: usize,
    budget: usize,
    oracle: &mut impl Oracle,
) -> Shrunk {
    // The steps after the failed one never ran.
    let mut kept: Vec<usize> = (0..failed.min(original.steps.len())).collect();
    let mut tried: HashMap<Vec<usize>, bool> = HashMap::new();
    let mut trials = 0;
    let mut exhausted = false;
    let mut n = 2usize;
    // Index 0 is the start: never a unit.
    loop {
        let units: Vec<usize> = kept.iter().copied().filter(|&i| i != 0).collect();
        if units.is_empty() {
            break;
        }
        let n_now = n.min(units.len());
        let chunks = split(&units, n_now);
        let mut removed = false;
        for chunk in &chunks {
            let rest: Vec<usize> = kept
                .iter()
                .copied()
                .filter(|i| !chunk.contains(i))
                .collect();
            let Some(c) = candidate(original, &rest) else {
                continue;
            };
            let fails = match tried.get(&rest) {
                Some(&f) => f,
                None => {
                    if trials >= budget {
                        exhausted = true;
                        break;
                    }
                    trials += 1;
                    let f = oracle.fails_the_same_way(&c).await;
                    tried.insert(rest.clone(), f);
                    f
                }
            };
            if fails {
                kept = rest;
                removed = true;
                break;
            }
        }
        if exhausted {
            break;
        }
        if removed {
            n = n_now.saturating_sub(1).max(2);
        } else if n_now >= units.len() {
            break;
        } else {
            n = (n_now * 2).min(units.len());
        }
    }
    let trial = candidate(original, &kept).unwrap_or_else(|| original.clone());
    Shrunk {
        trial,
        kept,
        trials,
        exhausted,
    }
}

/// `units` in `n` chunks of near-equal size, in order.
fn split(units: &[usize], n: usize) -> Vec<Vec<usize>> {
    let n = n.max(1);
    let mut out = Vec::new();
    let mut start = 0;
    for k in 0..n {
        let end = start + (units.len() - start) / (n - k);
        out.push(units[start..end].to_vec());
        start = end;
    }
    out.retain(|c| !c.is_empty());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A trial of `n` steps: a start, then restarts (stand-ins: their kind does not matter here).
    fn trial(n: usize) -> Trial {
        let m = crate::model::load(std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../fixture.toml"
        )))
        .expect("fixture matrix");
        let plan = crate::plan::expand(&m);
        let mut t = plan
            .trials
            .into_iter()
            .find(|t| t.steps.len() >= 2 && matches!(t.steps[0].op, Op::Start(_)))
            .expect("a trial that starts");
        let filler = t
            .steps
            .iter()
            .find(|s| !matches!(s.op, Op::Start(_) | Op::Workload(_) | Op::StopWorkload(_)))
            .expect("a plain step")
            .clone();
        let start = t.steps[0].clone();
        t.steps = std::iter::once(start)
            .chain(std::iter::repeat_n(filler, n - 1))
            .enumerate()
            .map(|(i, s)| PlannedStep { number: i + 1, ..s })
            .collect();
        t
    }

    /// Fails when every step in `needed` (original indices, tracked by the `origin` we tag) is
    /// kept.
    struct Needs {
        needed: Vec<usize>,
        runs: usize,
    }

    impl Oracle for Needs {
        async fn fails_the_same_way(&mut self, c: &Trial) -> bool {
            self.runs += 1;
            let kept: Vec<usize> = c.steps.iter().map(|s| s.origin.parse().unwrap()).collect();
            self.needed.iter().all(|n| kept.contains(n))
        }
    }

    fn tagged(n: usize) -> Trial {
        let mut t = trial(n);
        for (i, s) in t.steps.iter_mut().enumerate() {
            s.origin = i.to_string();
        }
        t
    }

    #[tokio::test]
    async fn shrinks_to_the_steps_the_failure_needs_dropping_what_never_ran() {
        let t = tagged(40);
        let mut oracle = Needs {
            needed: vec![3, 7, 8],
            runs: 0,
        };
        // It failed at step 9 (index 8): steps 10–40 never ran.
        let s = shrink(&t, 9, 100, &mut oracle).await;
        assert_eq!(s.kept, vec![0, 3, 7, 8]);
        assert_eq!(s.trial.steps.len(), 4);
        assert_eq!(
            s.trial.steps.iter().map(|x| x.number).collect::<Vec<_>>(),
            [1, 2, 3, 4]
        );
        assert!(!s.exhausted);
        assert_eq!(s.trials, oracle.runs);
        assert!(s.trials <= 16, "{} candidates for 8 steps", s.trials);
    }

    #[tokio::test]
    async fn a_budget_stops_it_with_the_smallest_plan_so_far() {
        let t = tagged(30);
        let mut oracle = Needs {
            needed: vec![5, 20],
            runs: 0,
        };
        let s = shrink(&t, 30, 3, &mut oracle).await;
        assert!(s.exhausted);
        assert_eq!(s.trials, 3);
        assert!(s.kept.contains(&5) && s.kept.contains(&20) && s.kept[0] == 0);
    }

    #[test]
    fn a_candidate_keeps_its_start_and_never_stops_a_workload_it_did_not_start() {
        let t = tagged(5);
        assert!(candidate(&t, &[1, 2]).is_none(), "no start");
        assert_eq!(candidate(&t, &[0, 2]).map(|c| c.steps.len()), Some(2));
    }

    #[test]
    fn a_candidate_never_heals_or_resumes_a_fault_it_does_not_start() {
        let m = crate::model::load(std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../etcd.toml"
        )))
        .expect("etcd matrix");
        let t = crate::plan::expand(&m)
            .trials
            .into_iter()
            .find(|t| t.steps.iter().any(|s| s.fault))
            .expect("a drawn plan with an inserted fault");
        let all: Vec<usize> = (0..t.steps.len()).collect();
        let fault = t.steps.iter().position(|s| s.fault).unwrap();
        let without = |drop: &[usize]| -> Vec<usize> {
            all.iter().copied().filter(|i| !drop.contains(i)).collect()
        };
        assert!(candidate(&t, &all).is_some());
        // The fault's start dropped, its undoing kept: not a plan a scenario file can be.
        assert!(candidate(&t, &without(&[fault])).is_none());
        // The whole window dropped (start, hold, undoing): fine.
        let window = [fault, fault + 1, fault + 2];
        assert!(candidate(&t, &without(&window)).is_some());
    }

    #[test]
    fn split_covers_every_unit_in_order() {
        assert_eq!(split(&[1, 2, 3, 4, 5], 2), vec![vec![1, 2], vec![3, 4, 5]]);
        assert_eq!(split(&[1, 2], 4), vec![vec![1], vec![2]]);
    }
}
