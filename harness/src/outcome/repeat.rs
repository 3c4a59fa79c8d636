//! A trial run N times (`crossgrade run --repeat N`): its runs aggregated into one outcome, and its
//! class, as nextest reports a test that passed on a retry as flaky.

use serde::{Deserialize, Serialize};

use super::{TrialOutcome, Verdict};

/// What N runs of one trial say about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Class {
    /// Every run had the same verdict (all pass, or all fail).
    Deterministic,
    /// Some runs passed and some failed.
    Flaky,
    /// A run ended in an `error` (ours or the engine's): the runs say nothing about the system.
    Error,
}

impl Class {
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Deterministic => "deterministic",
            Class::Flaky => "flaky",
            Class::Error => "error",
        }
    }
}

/// The runs of a repeated trial, in `results.json` beside the outcome of the run shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Repeats {
    /// How many runs finished (N, unless the run was interrupted).
    pub runs: usize,
    pub passed: usize,
    pub failed: usize,
    pub errors: usize,
    pub class: Class,
    /// Every run's verdict, run 1 first.
    pub verdicts: Vec<Verdict>,
    /// The run whose details the outcome holds (1-based): the first error, else the first failure,
    /// else run 1.
    pub shown: usize,
}

impl Repeats {
    /// `deterministic (3 of 3 passed)`, `flaky (1 of 3 passed)`, `error (0 of 3 passed)`.
    pub fn describe(&self) -> String {
        format!(
            "{} ({} of {} passed)",
            self.class.as_str(),
            self.passed,
            self.runs
        )
    }
}

/// The class of a trial whose runs ended with `verdicts`.
pub fn classify(verdicts: &[Verdict]) -> Class {
    if verdicts.contains(&Verdict::Error) {
        Class::Error
    } else if verdicts.windows(2).all(|w| w[0] == w[1]) {
        Class::Deterministic
    } else {
        Class::Flaky
    }
}

/// One outcome for the runs of a trial (in run order; none empty): the details of the run that
/// matters most to a reader (the first error, else the first failure, else the first run), with
/// [`Repeats`] added. Its verdict is `error` if any run errored, `pass` if every run passed, `fail`
/// otherwise; it spans the runs in time.
pub fn aggregate(mut runs: Vec<TrialOutcome>) -> TrialOutcome {
    assert!(!runs.is_empty(), "a repeated trial has at least one run");
    runs.sort_by_key(|o| o.repeat.unwrap_or(0));
    let verdicts: Vec<Verdict> = runs.iter().map(|o| o.verdict).collect();
    let count = |v: Verdict| verdicts.iter().filter(|x| **x == v).count();
    let shown = verdicts
        .iter()
        .position(|v| *v == Verdict::Error)
        .or_else(|| verdicts.iter().position(|v| *v == Verdict::Fail))
        .unwrap_or(0);
    let start = runs.iter().map(|o| o.started_unix_ms).min().unwrap_or(0);
    let end = runs
        .iter()
        .map(|o| o.started_unix_ms + o.duration_ms)
        .max()
        .unwrap_or(0);
    let repeats = Repeats {
        runs: runs.len(),
        passed: count(Verdict::Pass),
        failed: count(Verdict::Fail),
        errors: count(Verdict::Error),
        class: classify(&verdicts),
        verdicts: verdicts.clone(),
        shown: runs[shown].repeat.unwrap_or(shown + 1),
    };
    let mut o = runs.swap_remove(shown);
    // The details are the shown run's; the verdict is the worst of all of them.
    o.verdict = verdicts.iter().copied().max().unwrap_or(Verdict::Pass);
    if start > 0 {
        o.started_unix_ms = start;
        o.duration_ms = end.saturating_sub(start);
    }
    o.repeat = None;
    o.repeats = Some(repeats);
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use indexmap::IndexMap;

    fn run(k: usize, verdict: Verdict) -> TrialOutcome {
        TrialOutcome {
            id: "sys/basic/a=1".into(),
            scenario: "basic".into(),
            kind: "cell".into(),
            start: IndexMap::new(),
            cell: None,
            path: None,
            unpromised: false,
            verdict,
            reason: (verdict != Verdict::Pass).then(|| format!("run {k} went wrong")),
            failed_step: (verdict != Verdict::Pass).then_some(2),
            duration_ms: 1000,
            started_unix_ms: 10_000 * k as u64,
            steps: vec![],
            workloads: vec![],
            faults: vec![],
            last_logs: IndexMap::new(),
            logs_dir: format!("trials/basic/a=1/repeat-{k}/logs"),
            reproduce: String::new(),
            reproduce_nextest: String::new(),
            repeat: Some(k),
            repeats: None,
        }
    }

    fn of(verdicts: &[Verdict]) -> TrialOutcome {
        aggregate(
            verdicts
                .iter()
                .enumerate()
                .map(|(i, v)| run(i + 1, *v))
                .collect(),
        )
    }

    use Verdict::{Error, Fail, Pass};

    #[test]
    fn classes() {
        assert_eq!(classify(&[Pass, Pass, Pass]), Class::Deterministic);
        assert_eq!(classify(&[Fail, Fail]), Class::Deterministic);
        assert_eq!(classify(&[Pass]), Class::Deterministic);
        assert_eq!(classify(&[Pass, Fail, Pass]), Class::Flaky);
        assert_eq!(classify(&[Fail, Pass]), Class::Flaky);
        assert_eq!(classify(&[Pass, Error, Pass]), Class::Error);
        assert_eq!(classify(&[Error, Error]), Class::Error);
    }

    #[test]
    fn all_pass_is_a_pass_with_run_one_shown() {
        let o = of(&[Pass, Pass, Pass]);
        assert_eq!(o.verdict, Pass);
        let r = o.repeats.unwrap();
        assert_eq!((r.runs, r.passed, r.failed, r.errors), (3, 3, 0, 0));
        assert_eq!(r.shown, 1);
        assert_eq!(r.describe(), "deterministic (3 of 3 passed)");
        assert_eq!(o.repeat, None);
    }

    #[test]
    fn a_flake_fails_and_keeps_its_first_failing_run() {
        let o = of(&[Pass, Fail, Pass, Fail]);
        assert_eq!(o.verdict, Fail);
        assert_eq!(o.reason.as_deref(), Some("run 2 went wrong"));
        assert_eq!(o.logs_dir, "trials/basic/a=1/repeat-2/logs");
        let r = o.repeats.unwrap();
        assert_eq!(r.class, Class::Flaky);
        assert_eq!(r.verdicts, vec![Pass, Fail, Pass, Fail]);
        assert_eq!(r.shown, 2);
        assert_eq!(r.describe(), "flaky (2 of 4 passed)");
    }

    #[test]
    fn an_error_wins_over_a_failure() {
        let o = of(&[Fail, Pass, Error]);
        assert_eq!(o.verdict, Error);
        assert_eq!(o.reason.as_deref(), Some("run 3 went wrong"));
        let r = o.repeats.unwrap();
        assert_eq!(r.class, Class::Error);
        assert_eq!((r.passed, r.failed, r.errors, r.shown), (1, 1, 1, 3));
    }

    #[test]
    fn spans_the_runs_in_time_whatever_order_they_came_in() {
        let o = aggregate(vec![run(3, Pass), run(1, Pass), run(2, Pass)]);
        assert_eq!(o.started_unix_ms, 10_000);
        assert_eq!(o.duration_ms, 21_000);
        assert_eq!(o.repeats.unwrap().verdicts, vec![Pass, Pass, Pass]);
    }
}
