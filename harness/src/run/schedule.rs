//! The order trials start in. With `-j N` slots, a run ends when its last trial does: a long trial
//! that happens to start last (a rolling upgrade after sixteen cells) keeps the run going long after
//! the slots have emptied. Starting the longest first (the LPT rule of scheduling) fills the slots
//! evenly. How long a trial will take is what it took the last time it ran (the previous report's
//! `results.json`, as Jest orders tests by their last durations); a trial never seen is judged by
//! its length in steps, at the pace per step of those seen. Reports keep plan order whatever the
//! start order was.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use crate::plan::Trial;
use crate::report::Results;

/// A step's expected time when no trial has a record: what matters then is the order of the
/// estimates, not their scale.
const PACE_WITHOUT_RECORDS: Duration = Duration::from_secs(1);

/// What each trial took the last time, by trial id.
#[derive(Debug, Clone, Default)]
pub struct Durations(HashMap<String, Duration>);

impl Durations {
    /// The trial durations recorded in the report folder `dir` (`reports/latest`, say); none when
    /// it has no readable `results.json` (a first run, or a report from another version): the order
    /// then falls back to plan length, which is never wrong, only less good.
    pub fn of_report(dir: &Path) -> Durations {
        let Ok(results) = Results::read(dir) else {
            return Durations::default();
        };
        Durations(
            results
                .trials
                .iter()
                .filter(|t| t.outcome.duration_ms > 0)
                .map(|t| {
                    (
                        t.outcome.id.clone(),
                        Duration::from_millis(t.outcome.duration_ms),
                    )
                })
                .collect(),
        )
    }

    pub fn from_pairs(pairs: impl IntoIterator<Item = (String, Duration)>) -> Durations {
        Durations(pairs.into_iter().collect())
    }
}

/// Indices of `trials` in the order to start them: longest expected first, plan order among
/// equals, so the order is deterministic for the same plan and records.
pub(crate) fn longest_first(trials: &[Trial], took: &Durations) -> Vec<usize> {
    let steps = |t: &Trial| t.steps.len().max(1) as u32;
    // Time per step of the trials seen: the median, which one odd trial does not move.
    let mut paces: Vec<Duration> = trials
        .iter()
        .filter_map(|t| took.0.get(&t.id).map(|d| *d / steps(t)))
        .collect();
    paces.sort();
    let pace = paces
        .get(paces.len() / 2)
        .copied()
        .unwrap_or(PACE_WITHOUT_RECORDS);
    let expected: Vec<Duration> = trials
        .iter()
        .map(|t| took.0.get(&t.id).copied().unwrap_or(pace * steps(t)))
        .collect();
    let mut order: Vec<usize> = (0..trials.len()).collect();
    order.sort_by(|&a, &b| expected[b].cmp(&expected[a]).then(a.cmp(&b)));
    order
}
