//! Predictions for a reader: the plan riskiest first (`crossgrade plan --risk`), and what one
//! release pair puts at risk (`crossgrade api-diff --cells A B`).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use super::{Api, Prediction};
use crate::api::{ApiDiff, Format};
use crate::model::{Matrix, Release};
use crate::plan::Trial;

/// A closed set of output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RiskFormat {
    Text,
    Json,
    Markdown,
}

/// The trials riskiest first (by breaking, then risky findings); ties keep the plan's order.
pub fn ordered<'a>(
    trials: &'a [Trial],
    predictions: &'a BTreeMap<String, Prediction>,
) -> Vec<(&'a Trial, Option<&'a Prediction>)> {
    let mut v: Vec<(&Trial, Option<&Prediction>)> =
        trials.iter().map(|t| (t, predictions.get(&t.id))).collect();
    let none = Prediction::default();
    v.sort_by(|a, b| Prediction::risk_order(a.1.unwrap_or(&none), b.1.unwrap_or(&none)));
    v
}

/// `crossgrade plan --risk`: a line of counts per trial, its exposures, and its most important
/// finding.
pub fn plan_text(ordered: &[(&Trial, Option<&Prediction>)]) -> String {
    let mut s = String::new();
    let width = ordered
        .iter()
        .map(|(_, p)| p.map_or(0, |p| p.counts.breaking.to_string().len()))
        .max()
        .unwrap_or(1);
    let mut at_risk = 0;
    for (t, p) in ordered {
        let Some(p) = p.filter(|p| p.counts != Default::default()) else {
            let _ = writeln!(s, "{:>width$}  {}  (no exposure)", "-", t.id);
            continue;
        };
        if p.at_risk() {
            at_risk += 1;
        }
        let _ = writeln!(
            s,
            "{:>width$}  {}  ({} breaking, {} risky, {} compatible)",
            p.counts.breaking, t.id, p.counts.breaking, p.counts.risky, p.counts.compatible
        );
        let exposures: Vec<String> = p
            .exposures
            .iter()
            .map(|e| {
                let when = if e.step == 0 {
                    String::new()
                } else {
                    format!(" from step {}", e.step)
                };
                format!(
                    "{}{when}: {}b/{}r",
                    e.label(),
                    e.counts.breaking,
                    e.counts.risky
                )
            })
            .collect();
        let _ = writeln!(s, "      {}", exposures.join(" · "));
        if let Some(f) = p.top.first() {
            let _ = writeln!(
                s,
                "      {} [{}] {}: {}",
                f.severity, f.rule, f.exposure, f.message
            );
        }
    }
    let _ = write!(
        s,
        "{} trials, {at_risk} at risk (a breaking or risky finding), riskiest first",
        ordered.len()
    );
    s
}

/// One interface between the two releases, one way, and where the plan puts them together.
#[derive(Debug, Clone, Serialize)]
pub struct PairRisk {
    pub from: String,
    pub to: String,
    #[serde(flatten)]
    pub diff: ApiDiff,
    /// The trials where a sender at `diff.old` meets a receiver at `diff.new` (with the step after
    /// which they meet; 0 from the start).
    pub trials: Vec<TrialAt>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TrialAt {
    pub id: String,
    pub step: usize,
}

/// Everything that releases `a` and `b` exchange, both ways, in `trials`.
#[derive(Debug, Clone, Serialize)]
pub struct AtRisk {
    pub schema: &'static str,
    pub a: String,
    pub b: String,
    pub interfaces: Vec<PairRisk>,
}

impl Api {
    /// Per interface and direction between `a` and `b`: its findings and the trials (cells and path
    /// states) where its two roles run those releases.
    pub fn at_risk(&mut self, m: &Matrix, trials: &[Trial], a: &Release, b: &Release) -> AtRisk {
        let predictions: Vec<(&Trial, Prediction)> =
            trials.iter().map(|t| (t, self.predict(m, t))).collect();
        let mut out = Vec::new();
        for i in 0..self.interfaces.len() {
            for (sender, receiver) in [(a, b), (b, a)] {
                let findings = self.findings(i, sender, receiver);
                let iface = &self.interfaces[i];
                let trials = predictions
                    .iter()
                    .filter_map(|(t, p)| {
                        p.exposures
                            .iter()
                            .find(|e| {
                                e.from == iface.from
                                    && e.to == iface.to
                                    && e.sender == sender.as_str()
                                    && e.receiver == receiver.as_str()
                            })
                            .map(|e| TrialAt {
                                id: t.id.clone(),
                                step: e.step,
                            })
                    })
                    .collect();
                out.push(PairRisk {
                    from: iface.from.clone(),
                    to: iface.to.clone(),
                    diff: ApiDiff::new(
                        sender.to_string(),
                        receiver.to_string(),
                        (*findings).clone(),
                    ),
                    trials,
                });
            }
        }
        AtRisk {
            schema: "crossgrade.api-risk/v1",
            a: a.to_string(),
            b: b.to_string(),
            interfaces: out,
        }
    }
}

impl AtRisk {
    pub fn render(&self, format: RiskFormat) -> String {
        match format {
            RiskFormat::Json => serde_json::to_string_pretty(self).unwrap_or_default(),
            RiskFormat::Text => self.text(),
            RiskFormat::Markdown => self.markdown(),
        }
    }

    fn text(&self) -> String {
        let mut s = String::new();
        for p in &self.interfaces {
            let _ = writeln!(
                s,
                "== {} {} → {} {}: {}",
                p.from, p.diff.old, p.to, p.diff.new, p.diff.counts
            );
            if p.diff.findings.is_empty() {
                s.push('\n');
                continue;
            }
            let shown = 5;
            for f in p.diff.findings.iter().take(shown) {
                let _ = writeln!(s, "  {} [{}] {}", f.severity, f.rule, f.message);
            }
            if p.diff.findings.len() > shown {
                let _ = writeln!(
                    s,
                    "  … {} more: crossgrade api-diff with the two folders lists them",
                    p.diff.findings.len() - shown
                );
            }
            if p.trials.is_empty() {
                let _ = writeln!(s, "  no trial of the plan puts them together");
            } else {
                let _ = writeln!(s, "  the two meet in {} trials:", p.trials.len());
                for t in &p.trials {
                    let when = if t.step == 0 {
                        String::new()
                    } else {
                        format!("  (from step {})", t.step)
                    };
                    let _ = writeln!(s, "    {}{when}", t.id);
                }
            }
            s.push('\n');
        }
        s.trim_end().to_string()
    }

    fn markdown(&self) -> String {
        let mut s = format!("# API risk: {} ↔ {}\n", self.a, self.b);
        for p in &self.interfaces {
            let _ = write!(
                s,
                "\n## {} {} → {} {}\n\n{}\n",
                p.from,
                p.diff.old,
                p.to,
                p.diff.new,
                p.diff
                    .render(Format::Markdown)
                    .lines()
                    .skip(2)
                    .collect::<Vec<_>>()
                    .join("\n")
            );
            if !p.trials.is_empty() {
                s.push_str("\nAt risk in: ");
                let ids: Vec<String> = p.trials.iter().map(|t| format!("`{}`", t.id)).collect();
                s.push_str(&ids.join(", "));
                s.push('\n');
            }
        }
        s
    }
}
