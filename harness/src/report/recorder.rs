//! Turns finished trials into report files as they come: each outcome is held against its baseline,
//! recorded beside its logs, and the run's reports are rebuilt, so that `results.json` is current (and
//! whole) at every moment of a long run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use super::files::{rebuild_from_records, write_run_record, write_trial_record, ReportPaths};
use super::results::{Results, RunMeta, TrialReport};
use crate::baseline::{self, Change, Judgement, Store};
use crate::outcome::TrialOutcome;
use crate::risk::Prediction;

pub(crate) struct Recorder {
    dir: PathBuf,
    meta: RunMeta,
    store: Store,
    /// Trial ids in plan order.
    order: Vec<String>,
    /// Each trial's prediction, by id, recorded with its outcome.
    predictions: Arc<BTreeMap<String, Prediction>>,
    started: Instant,
    /// Runs per trial (`run --repeat N`; 1 without it).
    repeat: usize,
    /// The runs so far of repeated trials not yet aggregated, by trial id.
    pending: BTreeMap<String, Vec<TrialOutcome>>,
}

impl Recorder {
    pub(crate) fn new(
        dir: &Path,
        meta: RunMeta,
        store: Store,
        order: Vec<String>,
        predictions: Arc<BTreeMap<String, Prediction>>,
    ) -> Recorder {
        Recorder {
            dir: dir.to_path_buf(),
            meta,
            store,
            order,
            predictions,
            started: Instant::now(),
            repeat: 1,
            pending: BTreeMap::new(),
        }
    }

    /// Each trial runs `n` times: its runs are aggregated into one outcome before it is judged.
    pub(crate) fn with_repeat(mut self, n: usize) -> Recorder {
        self.repeat = n.max(1);
        self
    }

    /// Takes one finished run. A run of a repeated trial is written beside its logs and held until
    /// the trial's last run, which gives the trial's aggregate; anything else is given back as it
    /// is. The second half says whether the run's own record could be written.
    pub(crate) fn collect(
        &mut self,
        outcome: &TrialOutcome,
    ) -> (Option<TrialOutcome>, std::io::Result<()>) {
        if self.repeat <= 1 || outcome.repeat.is_none() {
            return (Some(outcome.clone()), Ok(()));
        }
        let written = write_run_record(&self.dir, outcome);
        let runs = self.pending.entry(outcome.id.clone()).or_default();
        runs.push(outcome.clone());
        let trial = if runs.len() >= self.repeat {
            self.pending
                .remove(&outcome.id)
                .map(crate::outcome::aggregate)
        } else {
            None
        };
        (trial, written)
    }

    /// The aggregates of repeated trials whose runs did not all finish (an interrupted run), in id
    /// order.
    pub(crate) fn unfinished(&mut self) -> Vec<TrialOutcome> {
        std::mem::take(&mut self.pending)
            .into_values()
            .map(crate::outcome::aggregate)
            .collect()
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Judges `outcome` against the baseline. A baseline file that cannot be read counts as none, and
    /// says so where the recorded snapshot would be.
    pub(crate) fn judge(&self, outcome: &TrialOutcome) -> TrialReport {
        let baseline = baseline::judge(&self.store, outcome).unwrap_or_else(|e| {
            let snapshot = baseline::snapshot_of(outcome);
            Judgement {
                change: Change::New,
                red: baseline::is_red(outcome.verdict, Change::New),
                snapshot,
                recorded: Some(format!("(unreadable baseline: {e})")),
            }
        });
        TrialReport {
            outcome: outcome.clone(),
            baseline,
            prediction: self.predictions.get(&outcome.id).cloned(),
        }
    }

    /// Records a finished trial and rebuilds the reports; returns the trial as reported.
    pub(crate) fn finished(&self, outcome: &TrialOutcome) -> std::io::Result<TrialReport> {
        let t = self.judge(outcome);
        write_trial_record(&self.dir, &t)?;
        self.rebuild()?;
        Ok(t)
    }

    /// Rebuilds every report from the trial records on disk.
    pub(crate) fn rebuild(&self) -> std::io::Result<(ReportPaths, Results)> {
        rebuild_from_records(
            &self.dir,
            self.meta.clone(),
            &self.order,
            self.started.elapsed().as_millis() as u64,
            super::files::Latest::Point,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::{Class, Verdict};

    fn run(k: usize, verdict: Verdict) -> TrialOutcome {
        serde_json::from_value(serde_json::json!({
            "id": "sys/s/a=1", "scenario": "s", "kind": "cell", "start": {}, "verdict": verdict,
            "duration_ms": 1, "steps": [], "logs_dir": format!("trials/s/a=1/repeat-{k}/logs"),
            "reproduce": "", "repeat": k,
        }))
        .unwrap()
    }

    fn recorder(dir: &Path, n: usize) -> Recorder {
        let meta: RunMeta = serde_json::from_value(serde_json::json!({
            "run_id": "r", "matrix": "m.toml", "system": "sys", "started_at": "",
        }))
        .unwrap();
        Recorder::new(
            dir,
            meta,
            Store::new(dir.join("snapshots")),
            vec!["sys/s/a=1".into()],
            Default::default(),
        )
        .with_repeat(n)
    }

    #[test]
    fn runs_are_held_until_the_last_and_recorded_beside_their_logs() {
        let dir = tempfile::tempdir().unwrap();
        let mut r = recorder(dir.path(), 2);
        let (trial, written) = r.collect(&run(1, Verdict::Pass));
        written.unwrap();
        assert!(trial.is_none(), "held for run 2");
        assert!(dir.path().join("trials/s/a=1/repeat-1/run.json").is_file());
        let (trial, _) = r.collect(&run(2, Verdict::Fail));
        let trial = trial.expect("the last run gives the trial");
        assert_eq!(trial.repeats.as_ref().unwrap().class, Class::Flaky);
        let t = r.finished(&trial).unwrap();
        assert!(dir.path().join("trials/s/a=1/trial.json").is_file());
        assert_eq!(t.baseline.snapshot, "verdict: flaky\n");
        assert!(r.unfinished().is_empty());
    }

    /// A flaky trial (pass, fail, pass) in `junit.xml`, with or without a baseline that knows it.
    fn flaky_junit(known: bool) -> String {
        let dir = tempfile::tempdir().unwrap();
        if known {
            Store::new(dir.path().join("snapshots"))
                .write("sys/s/a=1", "verdict: flaky\n")
                .unwrap();
        }
        let mut r = recorder(dir.path(), 3);
        r.collect(&run(1, Verdict::Pass)).1.unwrap();
        r.collect(&run(2, Verdict::Fail)).1.unwrap();
        let (trial, _) = r.collect(&run(3, Verdict::Pass));
        r.finished(&trial.unwrap()).unwrap();
        let (_, results) = r.rebuild().unwrap();
        crate::report::junit::render(&results).unwrap()
    }

    #[test]
    fn a_known_flake_is_a_success_with_its_flaky_runs_and_a_new_one_a_failure() {
        let known = flaky_junit(true);
        assert!(known.contains("<flakyFailure"), "{known}");
        assert!(known.contains("run 2 of 3: fail"), "{known}");
        assert!(!known.contains("<failure"), "{known}");
        assert!(!known.contains("<skipped"), "{known}");
        assert!(
            known.contains("flaky (2 of 3 passed)"),
            "the repeats property: {known}"
        );
        let new = flaky_junit(false);
        assert!(new.contains("<failure"), "{new}");
        assert!(!new.contains("<flakyFailure"), "{new}");
        assert!(new.contains("flaky (2 of 3 passed)"), "{new}");
    }

    #[test]
    fn an_interrupted_trial_is_reported_with_the_runs_it_had() {
        let dir = tempfile::tempdir().unwrap();
        let mut r = recorder(dir.path(), 3);
        assert!(r.collect(&run(1, Verdict::Fail)).0.is_none());
        let left = r.unfinished();
        assert_eq!(left.len(), 1);
        let reps = left[0].repeats.as_ref().unwrap();
        assert_eq!((reps.runs, reps.failed), (1, 1));
    }

    #[test]
    fn without_repeat_an_outcome_passes_straight_through() {
        let dir = tempfile::tempdir().unwrap();
        let mut r = recorder(dir.path(), 1);
        let mut o = run(1, Verdict::Pass);
        o.repeat = None;
        assert!(r.collect(&o).0.is_some_and(|t| t.repeats.is_none()));
        assert!(!dir.path().join("trials/s/a=1/repeat-1").exists());
    }
}
