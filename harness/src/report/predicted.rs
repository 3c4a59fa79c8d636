//! Predicted versus observed (issue 17): each trial's static API prediction (recorded in
//! results.json when the run was planned) beside its verdict. A failure the schemas predicted, a
//! predicted change the trial tolerated or never exercised, a failure no schema shows (behaviour:
//! a ZooKeeper label, an endpoint), or neither. Read from `results.json` alone, like the
//! compatibility table.

use std::fmt::Write as _;

use serde::Serialize;

use super::html::escape;
use super::results::{Results, TrialReport};
use super::summary::cell_text;
use crate::api::Counts;
use crate::outcome::Verdict;
use crate::risk::TopFinding;

pub(crate) const SCHEMA: &str = "crossgrade.predicted/v1";

/// How a trial's verdict compares with its prediction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    /// A breaking or risky finding, and the trial failed.
    PredictedFailed,
    /// It failed with no breaking or risky finding: behaviour no schema shows.
    FailedUnpredicted,
    /// A breaking or risky finding, and the trial passed: tolerated, or not exercised.
    PredictedPassed,
    /// Nothing predicted, and it passed.
    Neither,
    /// The harness or the engine failed: no evidence either way.
    Error,
}

impl Class {
    fn of(t: &TrialReport, at_risk: bool) -> Class {
        match (t.outcome.verdict, at_risk) {
            (Verdict::Error, _) => Class::Error,
            (Verdict::Fail, true) => Class::PredictedFailed,
            (Verdict::Fail, false) => Class::FailedUnpredicted,
            (Verdict::Pass, true) => Class::PredictedPassed,
            (Verdict::Pass, false) => Class::Neither,
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Class::PredictedFailed => "predicted, failed",
            Class::FailedUnpredicted => "failed, not predicted",
            Class::PredictedPassed => "predicted, passed",
            Class::Neither => "neither",
            Class::Error => "error",
        }
    }

    fn mark(self) -> &'static str {
        match self {
            Class::PredictedFailed => "🎯",
            Class::FailedUnpredicted => "❗",
            Class::PredictedPassed => "🟡",
            Class::Neither => "✅",
            Class::Error => "⚠️",
        }
    }
}

/// The whole section.
#[derive(Debug, Clone, Serialize)]
pub struct Predicted {
    pub schema: &'static str,
    pub system: String,
    pub run_id: String,
    pub complete: bool,
    pub counts: ClassCounts,
    /// Most telling first: predicted and failed, failed without a prediction, predicted and
    /// passed, neither, errors; plan order within each.
    pub trials: Vec<Row>,
}

#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct ClassCounts {
    pub predicted_failed: usize,
    pub failed_unpredicted: usize,
    pub predicted_passed: usize,
    pub neither: usize,
    pub error: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub trial: String,
    pub verdict: Verdict,
    pub class: Class,
    pub predicted: Counts,
    /// The most important finding, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top: Option<TopFinding>,
    /// Why it failed, in the component's words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The section of a run whose trials carry predictions; `None` when none does (a matrix without
/// `[api]`).
pub fn of(r: &Results) -> Option<Predicted> {
    let mut counts = ClassCounts::default();
    let mut trials: Vec<Row> = r
        .trials
        .iter()
        .filter_map(|t| {
            let p = t.prediction.as_ref()?;
            let class = Class::of(t, p.at_risk());
            match class {
                Class::PredictedFailed => counts.predicted_failed += 1,
                Class::FailedUnpredicted => counts.failed_unpredicted += 1,
                Class::PredictedPassed => counts.predicted_passed += 1,
                Class::Neither => counts.neither += 1,
                Class::Error => counts.error += 1,
            }
            Some(Row {
                trial: t.outcome.id.clone(),
                verdict: t.outcome.verdict,
                class,
                predicted: p.counts,
                top: p
                    .top
                    .iter()
                    .find(|f| f.severity > crate::api::Severity::Compatible)
                    .or(p.top.first())
                    .cloned(),
                reason: t.outcome.reason.clone(),
            })
        })
        .collect();
    if trials.is_empty() {
        return None;
    }
    // Stable: plan order within a class.
    trials.sort_by_key(|row| row.class);
    Some(Predicted {
        schema: SCHEMA,
        system: r.meta.system.clone(),
        run_id: r.meta.run_id.clone(),
        complete: r.complete,
        counts,
        trials,
    })
}

const LEGEND: &str = "predicted: a breaking or risky finding between the releases of two roles \
                      that exchange messages in the trial (sender's definition against the \
                      receiver's). 🎯 predicted, failed · ❗ failed, not predicted (behaviour no \
                      schema shows) · 🟡 predicted, passed (tolerated, or not exercised) · ✅ \
                      neither · ⚠️ error (no evidence)";

impl Predicted {
    fn headline(&self) -> String {
        let c = self.counts;
        format!(
            "{} predicted and failed · {} failed without a prediction · {} predicted and passed · \
             {} neither{}",
            c.predicted_failed,
            c.failed_unpredicted,
            c.predicted_passed,
            c.neither,
            if c.error > 0 {
                format!(" · {} errors", c.error)
            } else {
                String::new()
            }
        )
    }

    /// A Markdown section, its heading at `level`.
    pub fn markdown(&self, level: usize) -> String {
        let h = "#".repeat(level);
        let mut s = format!(
            "{h} Predicted versus observed\n\n{}\n\n{LEGEND}\n\n| | trial | verdict | predicted \
             (breaking/risky/compatible) | top finding | reason |\n|---|---|---|---|---|---|\n",
            self.headline()
        );
        for r in &self.trials {
            let top = r
                .top
                .as_ref()
                .map(|f| format!("{} `{}` {}: {}", f.severity, f.rule, f.exposure, f.message))
                .unwrap_or_default();
            let _ = writeln!(
                s,
                "| {} | `{}` | {} | {}/{}/{} | {} | {} |",
                r.class.mark(),
                r.trial,
                r.verdict,
                r.predicted.breaking,
                r.predicted.risky,
                r.predicted.compatible,
                cell_text(&top),
                cell_text(r.reason.as_deref().unwrap_or(""))
            );
        }
        s
    }

    /// The same as an HTML fragment (for `index.html` and `predicted --format html`).
    pub fn html(&self) -> String {
        let mut h = format!(
            "<section class=\"predicted\"><h2 id=\"predicted\">Predicted versus observed</h2>\n\
             <p>{}</p>\n<p class=\"legend\">{}</p>\n<table><tr><th></th><th>trial</th>\
             <th>verdict</th><th>predicted (b/r/c)</th><th>top finding</th><th>reason</th></tr>\n",
            escape(&self.headline()),
            escape(LEGEND)
        );
        for r in &self.trials {
            let top = r
                .top
                .as_ref()
                .map(|f| {
                    format!(
                        "{} <code>{}</code> {}: {}",
                        escape(f.severity.as_str()),
                        escape(&f.rule),
                        escape(&f.exposure),
                        escape(&f.message)
                    )
                })
                .unwrap_or_default();
            let _ = writeln!(
                h,
                "<tr class=\"{}\"><td title=\"{}\">{}</td><td><a href=\"#{}\">{}</a></td><td>{}</td>\
                 <td>{}/{}/{}</td><td>{top}</td><td>{}</td></tr>",
                serde_json::to_value(r.class)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                r.class.describe(),
                r.class.mark(),
                escape(&r.trial),
                escape(&r.trial),
                r.verdict,
                r.predicted.breaking,
                r.predicted.risky,
                r.predicted.compatible,
                escape(r.reason.as_deref().unwrap_or(""))
            );
        }
        h.push_str("</table></section>\n");
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A trial: id, verdict, and predicted (breaking, risky), or no prediction.
    type Given<'a> = (&'a str, &'a str, Option<(usize, usize)>);

    /// A results.json of the given trials.
    fn results(trials: &[Given]) -> Results {
        let trials: Vec<serde_json::Value> = trials
            .iter()
            .map(|(id, verdict, p)| {
                let mut t = serde_json::json!({
                    "id": id, "scenario": "basic", "kind": "cell", "start": {}, "cell": {},
                    "verdict": verdict, "reason": format!("why {id}"), "duration_ms": 0,
                    "steps": [], "logs_dir": "", "reproduce": "",
                    "baseline": {"change": "unchanged", "red": false, "snapshot": ""},
                });
                if let Some((b, r)) = p {
                    t["prediction"] = serde_json::json!({
                        "counts": {"breaking": b, "risky": r, "compatible": 3},
                        "exposures": [{"from": "scheduler", "to": "master", "sender": "0.23",
                                       "receiver": "0.22", "step": 0,
                                       "counts": {"breaking": b, "risky": r, "compatible": 3}}],
                        "top": [{"severity": if *b > 0 { "breaking" } else { "compatible" },
                                 "rule": "call.removed", "exposure": "scheduler 0.23 → master 0.22",
                                 "message": "call `ACCEPT` removed", "sender_at": "a.proto:1:1"}],
                    });
                }
                t
            })
            .collect();
        serde_json::from_value(serde_json::json!({
            "schema": "crossgrade.results/v1", "run_id": "r", "matrix": "m.toml", "system": "s",
            "started_at": "", "duration_ms": 0, "complete": true, "planned": trials.len(),
            "counts": {"total": 0, "pass": 0, "fail": 0, "error": 0},
            "changes": {"unchanged": 0, "regressed": 0, "fixed": 0, "changed": 0, "new": 0},
            "red": false, "trials": trials,
        }))
        .expect("a valid results.json")
    }

    #[test]
    fn each_trial_is_classed_by_its_verdict_and_its_prediction() {
        let r = results(&[
            ("a", "pass", Some((0, 0))),
            ("b", "fail", Some((3, 0))),
            ("c", "pass", Some((0, 2))),
            ("d", "fail", Some((0, 0))),
            ("e", "error", Some((5, 0))),
            ("f", "fail", None),
        ]);
        let p = of(&r).expect("trials carry predictions");
        let classes: Vec<(&str, Class)> = p
            .trials
            .iter()
            .map(|t| (t.trial.as_str(), t.class))
            .collect();
        assert_eq!(
            classes,
            [
                ("b", Class::PredictedFailed),
                ("d", Class::FailedUnpredicted),
                ("c", Class::PredictedPassed),
                ("a", Class::Neither),
                ("e", Class::Error),
            ],
            "most telling first; a trial without a prediction is not in the table"
        );
        let c = p.counts;
        assert_eq!(
            (
                c.predicted_failed,
                c.failed_unpredicted,
                c.predicted_passed,
                c.neither,
                c.error
            ),
            (1, 1, 1, 1, 1)
        );
        let md = p.markdown(2);
        assert!(md.contains("| 🎯 | `b` | fail | 3/0/3 | breaking `call.removed` scheduler 0.23 → master 0.22: call `ACCEPT` removed | why b |"), "{md}");
        let html = p.html();
        assert!(html.contains("<tr class=\"predicted_failed\">"), "{html}");
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(json["schema"], SCHEMA);
        assert_eq!(json["trials"][0]["class"], "predicted_failed");
    }

    #[test]
    fn a_run_without_predictions_has_no_section_and_its_reports_say_nothing_of_it() {
        let r = results(&[("a", "pass", None), ("b", "fail", None)]);
        assert!(of(&r).is_none());
        assert!(!super::super::summary::render(&r).contains("Predicted versus observed"));
    }

    #[test]
    fn the_prediction_survives_a_round_trip_through_results_json() {
        let r = results(&[("b", "fail", Some((3, 1)))]);
        let again: Results = serde_json::from_slice(&serde_json::to_vec(&r).unwrap()).unwrap();
        assert_eq!(again.trials[0].prediction, r.trials[0].prediction);
        assert!(super::super::summary::render(&again).contains("## Predicted versus observed"));
    }
}
