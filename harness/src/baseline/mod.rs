//! Baselines: the committed, reviewed verdict of every trial, as insta snapshots under
//! `reports/snapshots/`. A run compares each outcome with its snapshot and classifies it as unchanged,
//! regressed, fixed, changed or new; the exit status follows regressions, not known failures.

mod compare;
mod snapshot;
mod store;

pub use compare::Change;
pub(crate) use compare::{acceptable, compare, is_red};
pub(crate) use snapshot::{reason_of, releases_by_role, snapshot_of};
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
    /// Snapshots written, in the order given.
    pub written: Vec<Written>,
    /// Trials not recorded because they regressed (they pass in the baseline) and regressions were
    /// not asked for.
    pub regressions: Vec<String>,
    /// Trials not recorded because they ended in an error (ours or the engine's, not a behaviour of
    /// the system).
    pub errors: Vec<String>,
    /// Trials recorded as flaky that passed in a run that ran them once: one pass does not show
    /// that a flake is gone, so the record stays (`run --repeat N` can show it).
    pub unconfirmed: Vec<String>,
}

/// One snapshot [`accept`] wrote.
#[derive(Debug)]
pub struct Written {
    pub id: String,
    pub change: Change,
    /// The change as lines: `-` recorded only, `+` this run only, ` ` both.
    pub diff: String,
}

/// Records as the new baseline every trial whose snapshot differs from the baseline as it is now
/// (it may have moved on since the run): `crossgrade run --accept` and `crossgrade accept`. An
/// `error` is never recorded; a regression only when `regressions` says so.
pub fn accept<'a>(
    store: &Store,
    trials: impl IntoIterator<Item = (&'a TrialOutcome, &'a str)>,
    regressions: bool,
) -> Result<Accepted, StoreError> {
    let mut done = Accepted::default();
    for (outcome, snapshot) in trials {
        let recorded = store.read(&outcome.id)?;
        let change = compare(recorded.as_deref(), snapshot);
        if change == Change::Unchanged {
            continue;
        }
        if !acceptable(outcome.verdict, change) {
            done.errors.push(outcome.id.clone());
        } else if change == Change::Fixed
            && outcome.repeats.is_none()
            && recorded.as_deref().is_some_and(snapshot::is_flaky)
        {
            done.unconfirmed.push(outcome.id.clone());
        } else if change == Change::Regressed && !regressions {
            done.regressions.push(outcome.id.clone());
        } else {
            store.write(&outcome.id, snapshot)?;
            done.written.push(Written {
                id: outcome.id.clone(),
                change,
                diff: snapshot_diff(recorded.as_deref(), snapshot),
            });
        }
    }
    Ok(done)
}

/// `recorded` against `current` as lines (snapshots are a few lines, each a field, so lines are
/// compared in place).
fn snapshot_diff(recorded: Option<&str>, current: &str) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::{aggregate, Verdict};

    /// A passing outcome of `id`, as a run (`repeat`) or as a single run.
    fn pass(id: &str, repeat: Option<usize>) -> TrialOutcome {
        let mut o: TrialOutcome = serde_json::from_value(serde_json::json!({
            "id": id, "scenario": "s", "kind": "cell", "start": {}, "verdict": "pass",
            "duration_ms": 1, "steps": [], "logs_dir": "trials/s/x/logs", "reproduce": "",
        }))
        .unwrap();
        o.repeat = repeat;
        o
    }

    #[test]
    fn a_flaky_record_stays_on_one_pass_and_goes_on_every_run_passing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        store.write("sys/s/a", "verdict: flaky").unwrap();
        store.write("sys/s/b", "verdict: flaky").unwrap();
        let once = pass("sys/s/a", None);
        let repeated = aggregate(vec![pass("sys/s/b", Some(1)), pass("sys/s/b", Some(2))]);
        assert_eq!(repeated.verdict, Verdict::Pass);
        let snapshot = snapshot_of(&once);
        let done = accept(
            &store,
            [(&once, snapshot.as_str()), (&repeated, snapshot.as_str())],
            false,
        )
        .unwrap();
        assert_eq!(done.unconfirmed, ["sys/s/a"]);
        assert_eq!(
            store.read("sys/s/a").unwrap().as_deref(),
            Some("verdict: flaky")
        );
        assert_eq!(done.written.len(), 1);
        assert_eq!(done.written[0].change, Change::Fixed);
        assert_eq!(
            store.read("sys/s/b").unwrap().as_deref(),
            Some("verdict: pass")
        );
    }

    #[test]
    fn runs_that_disagree_are_recorded_as_flaky() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        let mut failing = pass("sys/s/c", Some(2));
        failing.verdict = Verdict::Fail;
        let flaky = aggregate(vec![pass("sys/s/c", Some(1)), failing]);
        let snapshot = snapshot_of(&flaky);
        assert_eq!(snapshot, "verdict: flaky\n");
        let done = accept(&store, [(&flaky, snapshot.as_str())], false).unwrap();
        assert_eq!(done.written[0].change, Change::New);
        assert_eq!(
            store.read("sys/s/c").unwrap().as_deref(),
            Some("verdict: flaky")
        );
    }
}
