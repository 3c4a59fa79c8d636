//! Baselines: the committed, reviewed verdict of every trial, as insta snapshots under
//! `reports/snapshots/`. A run compares each outcome with its snapshot and classifies it as unchanged,
//! regressed, fixed, changed or new; the exit status follows regressions, not known failures.

mod compare;
mod snapshot;
mod store;

pub use compare::Change;
pub(crate) use compare::{acceptable, compare, is_red};
pub(crate) use snapshot::snapshot_of;
pub use store::{Store, StoreError};

use serde::{Deserialize, Serialize};

use crate::outcome::TrialOutcome;

/// One trial held against its baseline.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Judgement {
    pub change: Change,
    /// Whether this trial makes the run red.
    pub red: bool,
    /// This run's snapshot.
    pub snapshot: String,
    /// The recorded one, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recorded: Option<String>,
}

/// Compares `outcome` with its recorded snapshot in `store`. An unreadable baseline file is treated as
/// missing, and said so in the returned error string for the caller to show.
pub(crate) fn judge(store: &Store, outcome: &TrialOutcome) -> Result<Judgement, StoreError> {
    let recorded = store.read(&outcome.id)?;
    let snapshot = snapshot_of(outcome);
    let change = compare(recorded.as_deref(), &snapshot);
    Ok(Judgement {
        change,
        red: is_red(outcome.verdict, change),
        snapshot,
        recorded,
    })
}

/// What recording a run as the new baseline did.
#[derive(Debug, Default)]
pub struct Accepted {
    /// Snapshots written.
    pub written: usize,
    /// Trials not recorded because they ended in an error (ours or the engine's, not a behaviour of
    /// the system); they keep the run red.
    pub errors: Vec<String>,
}

/// Records every changed verdict of a run as the new baseline (`crossgrade run --accept`). An
/// `error` is never recorded.
pub fn accept<'a>(
    store: &Store,
    trials: impl IntoIterator<Item = (&'a TrialOutcome, &'a Judgement)>,
) -> Result<Accepted, StoreError> {
    let mut done = Accepted::default();
    for (outcome, judgement) in trials {
        if outcome.verdict == crate::outcome::Verdict::Error {
            done.errors.push(outcome.id.clone());
        } else if acceptable(outcome.verdict, judgement.change) {
            store.write(&outcome.id, &judgement.snapshot)?;
            done.written += 1;
        }
    }
    Ok(done)
}

/// How a trial's snapshot from an earlier run compares with the baseline as it is now (it may have
/// moved on since that run): the change, and the recorded snapshot.
pub fn judge_again(
    store: &Store,
    trial_id: &str,
    snapshot: &str,
) -> Result<(Change, Option<String>), StoreError> {
    let recorded = store.read(trial_id)?;
    Ok((compare(recorded.as_deref(), snapshot), recorded))
}

/// A snapshot's change as lines: `-` recorded only, `+` this run only, ` ` both (snapshots are a
/// few lines, each a field, so lines are compared in place).
pub fn snapshot_diff(recorded: Option<&str>, current: &str) -> String {
    let old: Vec<&str> = recorded.map(|r| r.lines().collect()).unwrap_or_default();
    let new: Vec<&str> = current.lines().collect();
    let mut out = String::new();
    for i in 0..old.len().max(new.len()) {
        match (old.get(i), new.get(i)) {
            (Some(a), Some(b)) if a == b => out.push_str(&format!("  {a}\n")),
            (a, b) => {
                if let Some(a) = a {
                    out.push_str(&format!("- {a}\n"));
                }
                if let Some(b) = b {
                    out.push_str(&format!("+ {b}\n"));
                }
            }
        }
    }
    out
}

/// Where a matrix's baseline lives: `reports/snapshots/` beside the matrix file.
pub fn default_dir(matrix_root: &std::path::Path) -> std::path::PathBuf {
    matrix_root.join("reports").join("snapshots")
}
