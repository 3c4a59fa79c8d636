//! A trial's outcome against its baseline, and what that means for the run's exit status.

use serde::{Deserialize, Serialize};

use super::snapshot::{is_flaky, verdict_of};
use crate::outcome::Verdict;

/// How a trial's snapshot compares with the recorded one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    /// Was `pass`, now is not.
    Regressed,
    /// Did not pass before and does not now, but differently (another step, another reason).
    Changed,
    /// No baseline yet.
    New,
    /// Did not pass before, passes now.
    Fixed,
    /// Same snapshot as the baseline (a known failure that fails the same way included).
    Unchanged,
}

impl Change {
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Regressed => "regressed",
            Change::Changed => "changed",
            Change::New => "new",
            Change::Fixed => "fixed",
            Change::Unchanged => "unchanged",
        }
    }
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Compares a fresh snapshot with the recorded one (`None`: none recorded).
///
/// A trial recorded as flaky is unchanged whatever mix of passes and failures it shows now (one
/// failing run included); passing every run is a fix to look at, not news that turns the run red.
/// A trial recorded as deterministic that now is flaky compares as its verdicts do: from `pass`, a
/// regression; from `fail`, a change.
pub(crate) fn compare(recorded: Option<&str>, current: &str) -> Change {
    let Some(recorded) = recorded else {
        return Change::New;
    };
    if recorded.trim_end() == current.trim_end() {
        return Change::Unchanged;
    }
    let is_pass = verdict_of(current) == Some(Verdict::Pass);
    if is_flaky(recorded) {
        return match verdict_of(current) {
            Some(Verdict::Pass) => Change::Fixed,
            Some(Verdict::Fail) => Change::Unchanged,
            _ if is_flaky(current) => Change::Unchanged,
            _ => Change::Changed,
        };
    }
    let was_pass = verdict_of(recorded) == Some(Verdict::Pass);
    match (was_pass, is_pass) {
        (true, false) => Change::Regressed,
        (false, true) => Change::Fixed,
        // Two different passing snapshots cannot happen (a pass is one line); two failures can.
        _ => Change::Changed,
    }
}

/// Whether a trial makes the run red. A known failure that fails the same way does not; a regression,
/// a failure that changed, a new trial that does not pass, and any harness error do. A fix does not
/// (it is reported, to be accepted).
pub(crate) fn is_red(verdict: Verdict, change: Change) -> bool {
    verdict == Verdict::Error
        || match change {
            Change::Regressed | Change::Changed => true,
            Change::New => verdict != Verdict::Pass,
            Change::Fixed | Change::Unchanged => false,
        }
}

/// Whether `--accept` may record this outcome. An `error` is our side's or the engine's failure, never
/// an expected behaviour of the system, so it is not recorded.
pub(crate) fn acceptable(verdict: Verdict, change: Change) -> bool {
    verdict != Verdict::Error && change != Change::Unchanged
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASS: &str = "verdict: pass";
    const FAIL_A: &str = "verdict: fail\nstep: 3 run client.put\nreason: a";
    const FAIL_B: &str = "verdict: fail\nstep: 4 check\nreason: b";

    #[test]
    fn classifies_every_transition() {
        assert_eq!(compare(None, PASS), Change::New);
        assert_eq!(compare(Some(PASS), PASS), Change::Unchanged);
        assert_eq!(compare(Some(FAIL_A), FAIL_A), Change::Unchanged);
        assert_eq!(compare(Some(PASS), FAIL_A), Change::Regressed);
        assert_eq!(compare(Some(FAIL_A), PASS), Change::Fixed);
        assert_eq!(compare(Some(FAIL_A), FAIL_B), Change::Changed);
        // insta trims the trailing newline it stores.
        assert_eq!(compare(Some(PASS), "verdict: pass\n"), Change::Unchanged);
    }

    const FLAKY: &str = "verdict: flaky";
    const ERROR: &str = "verdict: error\nreason: engine";

    #[test]
    fn a_recorded_flake_tolerates_any_mix() {
        assert_eq!(compare(Some(FLAKY), FLAKY), Change::Unchanged);
        assert_eq!(compare(Some(FLAKY), "verdict: flaky\n"), Change::Unchanged);
        // A single run, or every repeat failing: a flake can do that.
        assert_eq!(compare(Some(FLAKY), FAIL_A), Change::Unchanged);
        assert!(!is_red(Verdict::Fail, compare(Some(FLAKY), FAIL_B)));
        // Passing every time: worth a look (and an accept), not red.
        assert_eq!(compare(Some(FLAKY), PASS), Change::Fixed);
        assert!(!is_red(Verdict::Pass, compare(Some(FLAKY), PASS)));
        // An error is red whatever the baseline says.
        assert_eq!(compare(Some(FLAKY), ERROR), Change::Changed);
        assert!(is_red(Verdict::Error, compare(Some(FLAKY), ERROR)));
    }

    #[test]
    fn a_new_flake_is_red() {
        // The aggregate verdict of a flaky trial is `fail`.
        assert_eq!(compare(Some(PASS), FLAKY), Change::Regressed);
        assert!(is_red(Verdict::Fail, compare(Some(PASS), FLAKY)));
        assert_eq!(compare(Some(FAIL_A), FLAKY), Change::Changed);
        assert!(is_red(Verdict::Fail, compare(Some(FAIL_A), FLAKY)));
        assert_eq!(compare(None, FLAKY), Change::New);
        assert!(is_red(Verdict::Fail, compare(None, FLAKY)));
    }

    #[test]
    fn red_follows_regressions_not_known_failures() {
        assert!(!is_red(Verdict::Fail, Change::Unchanged));
        assert!(!is_red(Verdict::Pass, Change::Fixed));
        assert!(!is_red(Verdict::Pass, Change::New));
        assert!(is_red(Verdict::Fail, Change::New));
        assert!(is_red(Verdict::Fail, Change::Regressed));
        assert!(is_red(Verdict::Fail, Change::Changed));
        assert!(is_red(Verdict::Error, Change::Unchanged));
    }

    #[test]
    fn errors_are_never_accepted() {
        assert!(!acceptable(Verdict::Error, Change::New));
        assert!(acceptable(Verdict::Fail, Change::New));
        assert!(!acceptable(Verdict::Pass, Change::Unchanged));
    }
}
