//! `junit.xml`: one testsuite per scenario, one testcase per trial. A red trial is a `<failure>` (the
//! system misbehaved) or an `<error>` (the harness or engine did), with the reason and the last log
//! lines. A known failure that fails exactly as recorded is `<skipped type="expected-failure">`, as
//! pytest reports an xfail: it is not a red CI, and CI systems reading JUnit agree with the exit status.
//! A trial repeated with `--repeat N` that the baseline knows as flaky, and was flaky again, is a
//! success with its failed runs as `<flakyFailure>`/`<flakyError>` (as nextest and Maven Surefire
//! write a test that passed on a retry); a new flake is a `<failure>` with its failed runs as
//! `<rerunFailure>`. Either way the runs are counted in the `repeats` property.

use std::time::Duration;

use indexmap::IndexMap;
use quick_junit::{
    NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestRerun, TestSuite,
};

use super::results::{Results, TrialReport};
use crate::outcome::{Class, Verdict};

pub(crate) fn render(r: &Results) -> Result<String, quick_junit::SerializeError> {
    let mut report = Report::new(format!("crossgrade {}", r.meta.system));
    report.set_time(Duration::from_millis(r.duration_ms));
    let mut suites: IndexMap<&str, TestSuite> = IndexMap::new();
    for t in &r.trials {
        let suite = suites
            .entry(&t.outcome.scenario)
            .or_insert_with(|| TestSuite::new(format!("{}/{}", r.meta.system, t.outcome.scenario)));
        suite.add_test_case(test_case(t));
    }
    report.add_test_suites(suites.into_values());
    report.to_string()
}

fn test_case(t: &TrialReport) -> TestCase {
    let o = &t.outcome;
    let reason = o.reason.clone().unwrap_or_default();
    let flaky = o.repeats.as_ref().filter(|r| r.class == Class::Flaky);
    let status = if let Some(r) = flaky.filter(|_| t.expected_failure()) {
        let mut s = TestCaseStatus::success();
        s.add_reruns(failed_runs(r, &reason));
        s
    } else if t.expected_failure() {
        let mut s = TestCaseStatus::skipped();
        s.set_type("expected-failure")
            .set_message(format!("fails as recorded in the baseline: {reason}"))
            .set_description(details(t));
        s
    } else if o.verdict == Verdict::Pass {
        TestCaseStatus::success()
    } else {
        let kind = if o.verdict == Verdict::Error {
            NonSuccessKind::Error
        } else {
            NonSuccessKind::Failure
        };
        let mut s = TestCaseStatus::non_success(kind);
        s.set_type(t.change().as_str())
            .set_message(reason.clone())
            .set_description(details(t));
        if let Some(r) = flaky {
            // The runs that failed besides the one the failure shows.
            s.add_reruns(failed_runs(r, &reason).into_iter().skip(1));
        }
        s
    };
    let mut case = TestCase::new(o.id.clone(), status);
    if let Some(r) = &o.repeats {
        case.add_property(Property::new("repeats", r.describe()));
    }
    case.set_classname(o.scenario.clone())
        .set_time(Duration::from_millis(o.duration_ms))
        .add_property(Property::new("verdict", o.verdict.as_str()))
        .add_property(Property::new("change", t.change().as_str()))
        .add_property(Property::new("reproduce", o.reproduce.clone()));
    case
}

/// A repeated trial's runs that did not pass, as reruns: `run 2 of 5: fail` (the details are the
/// shown run's; the others' are in their folders).
fn failed_runs(r: &crate::outcome::Repeats, reason: &str) -> Vec<TestRerun> {
    r.verdicts
        .iter()
        .enumerate()
        .filter(|(_, v)| **v != Verdict::Pass)
        .map(|(i, v)| {
            let kind = if *v == Verdict::Error {
                NonSuccessKind::Error
            } else {
                NonSuccessKind::Failure
            };
            let mut rerun = TestRerun::new(kind);
            let message = if i + 1 == r.shown {
                format!("run {} of {}: {v}: {reason}", i + 1, r.runs)
            } else {
                format!("run {} of {}: {v}", i + 1, r.runs)
            };
            rerun.set_message(message).set_type(v.as_str());
            rerun
        })
        .collect()
}

/// The failure's text: where it failed, the reproduce command, then the last log lines.
fn details(t: &TrialReport) -> String {
    let o = &t.outcome;
    let mut s = String::new();
    if let Some(step) = o
        .failed_step
        .and_then(|n| o.steps.iter().find(|st| st.number == n))
    {
        s.push_str(&format!(
            "failed at step {} ({}) at {}\n",
            step.number, step.description, step.origin
        ));
        for obs in &step.observations {
            s.push_str(&format!("observed {}: {}\n", obs.what, obs.output.trim()));
        }
    }
    if let Some(prev) = &t.baseline.recorded {
        s.push_str(&format!("baseline:\n{prev}\n"));
    }
    s.push_str(&format!("reproduce: {}\n", o.reproduce));
    for (replica, lines) in &o.last_logs {
        s.push_str(&format!("--- last log lines of {replica}\n"));
        for l in lines {
            s.push_str(l);
            s.push('\n');
        }
    }
    s
}
