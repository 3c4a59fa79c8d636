//! Upgrade orders, predicted from cells and run (issue 15). Every role-level state an order passes
//! through (its first k roles moved, the rest not) is a cell; an order is predicted safe when every
//! state on its way passed as a cell, unsafe from the first that failed, unknown when the run holds
//! no verdict for one. Beside the prediction, what the order did when run. A state that passed as a
//! cell but failed when reached by upgrading depends on history (data the old release wrote, a
//! re-registration): a finding in its own right. Read from `results.json` alone.

use std::fmt::Write as _;

use indexmap::IndexMap;
use serde::Serialize;

use super::html::escape;
use super::results::{Results, TrialReport};
use super::summary::cell_text;
use crate::baseline::releases_by_role;
use crate::outcome::Verdict;

pub(crate) const SCHEMA: &str = "crossgrade.orders/v1";

/// Every explored path of a run.
#[derive(Debug, Clone, Serialize)]
pub struct Orders {
    pub schema: &'static str,
    pub paths: Vec<OrderTable>,
}

/// One scenario on one path, in every order run.
#[derive(Debug, Clone, Serialize)]
pub struct OrderTable {
    pub scenario: String,
    /// `0.22 → 0.23`, with its hops.
    pub route: String,
    pub rows: Vec<OrderRow>,
}

#[derive(Debug, Clone, Serialize)]
pub struct OrderRow {
    pub trial: String,
    pub order: Vec<String>,
    /// The scenario's own order.
    pub documented: bool,
    pub verdict: Verdict,
    /// Where it failed: the step and the releases of every replica then.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed_at: Option<String>,
    pub predicted: Prediction,
    /// Whether the run agrees with the prediction (`None`: no prediction, or the trial errored).
    pub agrees: Option<bool>,
    /// The failing state passed as a cell: the failure depends on how the state was reached.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history_dependent: Option<String>,
}

/// What the cells say about an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "prediction", rename_all = "lowercase")]
pub enum Prediction {
    /// Every state on its way passed as a cell.
    Safe,
    /// This state failed as a cell (first on the way), in this cell trial.
    Unsafe { state: String, trial: String },
    /// No cell verdict for this state.
    Unknown { state: String },
}

impl Prediction {
    fn describe(&self) -> String {
        match self {
            Prediction::Safe => "safe".into(),
            Prediction::Unsafe { state, .. } => format!("unsafe: {state} failed as a cell"),
            Prediction::Unknown { state } => format!("unknown: no cell verdict for {state}"),
        }
    }
}

/// The orders explored in `r`, if any path explored them.
pub fn of(r: &Results) -> Option<Orders> {
    let mut paths: Vec<OrderTable> = Vec::new();
    for t in &r.trials {
        let Some(p) = &t.outcome.path else { continue };
        let Some(order) = &p.order else { continue };
        let mut route = format!("{} → ", p.from);
        for v in &p.via {
            let _ = write!(route, "{v} → ");
        }
        route.push_str(&p.to);
        let row = row(r, t, order);
        match paths
            .iter_mut()
            .find(|x| x.scenario == t.outcome.scenario && x.route == route)
        {
            Some(table) => table.rows.push(row),
            None => paths.push(OrderTable {
                scenario: t.outcome.scenario.clone(),
                route,
                rows: vec![row],
            }),
        }
    }
    for table in &mut paths {
        table.rows.sort_by_key(|r| !r.documented);
    }
    (!paths.is_empty()).then_some(Orders {
        schema: SCHEMA,
        paths,
    })
}

/// The varying roles' releases in every role-level state of a path trial's order, in the order it
/// reaches them (its start first).
fn states(r: &Results, t: &TrialReport, order: &[String]) -> Vec<IndexMap<String, String>> {
    let p = t.outcome.path.as_ref().expect("a path trial");
    let mut state: IndexMap<String, String> = r
        .meta
        .vary
        .iter()
        .filter_map(|role| Some((role.clone(), t.outcome.start.get(role)?.clone())))
        .collect();
    let mut out = vec![state.clone()];
    let stops: Vec<&String> = p.via.iter().chain(std::iter::once(&p.to)).collect();
    for to in stops {
        for role in order {
            if let Some(rel) = state.get_mut(role) {
                if rel != to {
                    *rel = to.clone();
                    out.push(state.clone());
                }
            }
        }
    }
    out
}

fn label(state: &IndexMap<String, String>) -> String {
    state
        .iter()
        .map(|(r, v)| format!("{r}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// The cell trials of `r` in `state` that did not error.
fn cells_in<'r>(r: &'r Results, state: &IndexMap<String, String>) -> Vec<&'r TrialReport> {
    r.trials
        .iter()
        .filter(|c| c.outcome.verdict != Verdict::Error)
        .filter(|c| {
            c.outcome
                .cell
                .as_ref()
                .is_some_and(|cell| state.iter().all(|(role, rel)| cell.get(role) == Some(rel)))
        })
        .collect()
}

fn row(r: &Results, t: &TrialReport, order: &[String]) -> OrderRow {
    let states = states(r, t, order);
    let mut predicted = Prediction::Safe;
    for s in &states {
        let cells = cells_in(r, s);
        if let Some(failed) = cells.iter().find(|c| c.outcome.verdict == Verdict::Fail) {
            predicted = Prediction::Unsafe {
                state: label(s),
                trial: failed.outcome.id.clone(),
            };
            break;
        }
        if cells.is_empty() && predicted == Prediction::Safe {
            predicted = Prediction::Unknown { state: label(s) };
        }
    }
    let o = &t.outcome;
    let failed_step = o
        .failed_step
        .and_then(|n| o.steps.iter().find(|s| s.number == n));
    let failed_at = failed_step.map(|s| {
        format!(
            "step {} {} ({})",
            s.number,
            s.description,
            by_role(&s.releases)
                .iter()
                .map(|(r, v)| format!("{r}={v}"))
                .collect::<Vec<_>>()
                .join(" ")
        )
    });
    // The state it failed in, when every role's replicas were at one release: a cell.
    let history_dependent = (o.verdict == Verdict::Fail)
        .then(|| failed_step.map(|s| by_role(&s.releases)))
        .flatten()
        .and_then(|roles| {
            let state: IndexMap<String, String> = r
                .meta
                .vary
                .iter()
                .map(|v| {
                    Some((
                        v.clone(),
                        roles.get(v).filter(|x| !x.contains(','))?.clone(),
                    ))
                })
                .collect::<Option<_>>()?;
            let cells = cells_in(r, &state);
            (!cells.is_empty() && cells.iter().all(|c| c.outcome.verdict == Verdict::Pass)).then(
                || {
                    format!(
                        "{} passed as a cell ({}) but failed when reached by upgrading",
                        label(&state),
                        cells[0].outcome.id
                    )
                },
            )
        });
    let ran = match o.verdict {
        Verdict::Pass => Some(true),
        Verdict::Fail => Some(false),
        Verdict::Error => None,
    };
    let agrees = match (&predicted, ran) {
        (Prediction::Safe, Some(safe)) => Some(safe),
        (Prediction::Unsafe { .. }, Some(safe)) => Some(!safe),
        _ => None,
    };
    OrderRow {
        trial: o.id.clone(),
        order: order.to_vec(),
        documented: o.path.as_ref().is_some_and(|p| p.documented),
        verdict: o.verdict,
        failed_at,
        predicted,
        agrees,
        history_dependent,
    }
}

/// Replica releases (`master-0` → `0.22`) by role: `0.22` when all agree, else `0.22×2,0.23×1`.
fn by_role(releases: &IndexMap<String, String>) -> IndexMap<String, String> {
    releases_by_role(releases)
        .into_iter()
        .map(|(role, counts)| {
            let v = if counts.len() == 1 {
                counts.into_keys().next().unwrap_or_default().to_string()
            } else {
                counts
                    .iter()
                    .map(|(rel, n)| format!("{rel}×{n}"))
                    .collect::<Vec<_>>()
                    .join(",")
            };
            (role.to_string(), v)
        })
        .collect()
}

impl OrderRow {
    /// `❌ fail at step 12 … (master=0.22 …); … passed as a cell …`.
    fn run(&self) -> String {
        let mut run = verdict_mark(self.verdict);
        if let Some(at) = &self.failed_at {
            let _ = write!(run, " at {at}");
        }
        if let Some(hd) = &self.history_dependent {
            let _ = write!(run, "; {hd}");
        }
        run
    }
}

impl OrderTable {
    /// `The scenario's own order passed; 20 of 24 orders passed. From the cells: 22 agree, 1
    /// disagrees, 1 unknown.`
    pub fn headline(&self) -> String {
        let passed = self
            .rows
            .iter()
            .filter(|r| r.verdict == Verdict::Pass)
            .count();
        let own = match self.rows.iter().find(|r| r.documented) {
            Some(r) => format!("The scenario's own order {}; ", verdict_word(r.verdict)),
            None => String::new(),
        };
        let agree = self.rows.iter().filter(|r| r.agrees == Some(true)).count();
        let disagree = self.rows.iter().filter(|r| r.agrees == Some(false)).count();
        let unknown = self.rows.len() - agree - disagree;
        let history = self
            .rows
            .iter()
            .filter(|r| r.history_dependent.is_some())
            .count();
        let mut s = format!(
            "{own}{passed} of {} orders passed. Predicted from the cells: {agree} agree, {disagree} \
             disagree{}, {unknown} without a prediction or a verdict.",
            self.rows.len(),
            if disagree == 1 { "s" } else { "" },
        );
        if history > 0 {
            let _ = write!(
                s,
                " {history} failed in a state that passed as a cell: the failure depends on how \
                 the state was reached."
            );
        }
        s
    }

    pub fn markdown(&self, level: usize) -> String {
        let h = "#".repeat(level);
        let mut s = format!(
            "{h} Upgrade orders — {} {}\n\n{}\n\n| order | run | predicted from the cells | \
             agrees |\n|---|---|---|---|\n",
            self.scenario,
            self.route,
            self.headline()
        );
        for r in &self.rows {
            let order = if r.documented {
                format!("**{}** (the scenario's)", r.order.join(", "))
            } else {
                r.order.join(", ")
            };
            let run = r.run();
            let _ = writeln!(
                s,
                "| {order} | {} | {} | {} |",
                cell_text(&run),
                cell_text(&r.predicted.describe()),
                agrees_word(r.agrees)
            );
        }
        s
    }

    pub fn html(&self) -> String {
        let mut h = format!(
            "<section class=\"orders\"><h2>Upgrade orders — {} {}</h2>\n<p>{}</p>\n<table><tr>\
             <th>order</th><th>run</th><th>predicted from the cells</th><th>agrees</th></tr>\n",
            escape(&self.scenario),
            escape(&self.route),
            escape(&self.headline())
        );
        for r in &self.rows {
            let order = if r.documented {
                format!("<b>{}</b> (the scenario's)", escape(&r.order.join(", ")))
            } else {
                escape(&r.order.join(", "))
            };
            let run = r.run();
            let _ = writeln!(
                h,
                "<tr><td><a href=\"#{}\">{order}</a></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&r.trial),
                escape(&run),
                escape(&r.predicted.describe()),
                agrees_word(r.agrees).replace("**", "")
            );
        }
        h.push_str("</table></section>\n");
        h
    }
}

impl Orders {
    pub fn markdown(&self, level: usize) -> String {
        self.paths
            .iter()
            .map(|t| t.markdown(level))
            .collect::<Vec<_>>()
            .join("\n")
    }

    pub fn html(&self) -> String {
        self.paths.iter().map(OrderTable::html).collect()
    }
}

fn verdict_word(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "passed",
        Verdict::Fail => "failed",
        Verdict::Error => "errored",
    }
}

/// `✅ pass`, `❌ fail`, `⚠️ error`.
fn verdict_mark(v: Verdict) -> String {
    format!("{} {v}", super::summary::verdict_mark(v))
}

fn agrees_word(a: Option<bool>) -> &'static str {
    match a {
        Some(true) => "yes",
        Some(false) => "**no**",
        None => "—",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROLES: [&str; 2] = ["master", "agent"];

    fn cell(m: &str, a: &str, verdict: &str) -> serde_json::Value {
        let cell = serde_json::json!({"master": m, "agent": a});
        serde_json::json!({
            "id": format!("s/basic/master={m},agent={a}"), "scenario": "basic", "kind": "cell",
            "start": cell.clone(), "cell": cell, "verdict": verdict, "duration_ms": 0,
            "steps": [], "logs_dir": "", "reproduce": "",
            "baseline": {"change": "unchanged", "red": false, "snapshot": ""},
        })
    }

    /// An order trial from 0.22 to 0.23; a failure at step 2 with these replica releases.
    fn order(o: [&str; 2], documented: bool, failed: Option<[&str; 2]>) -> serde_json::Value {
        let start = serde_json::json!({"master": "0.22", "agent": "0.22"});
        let (verdict, failed_step, steps) = match failed {
            None => ("pass", None, serde_json::json!([])),
            Some([m, a]) => (
                "fail",
                Some(2),
                serde_json::json!([{"number": 2, "description": "check", "origin": "x:1",
                    "status": "fail", "started_ms": 0, "duration_ms": 0,
                    "releases": {"master-0": m, "agent-0": a}}]),
            ),
        };
        serde_json::json!({
            "id": format!("s/up/0.22-to-0.23/order={}", o.join(",")), "scenario": "up",
            "kind": "path", "start": start,
            "path": {"from": "0.22", "to": "0.23", "order": o, "documented": documented},
            "verdict": verdict, "failed_step": failed_step, "duration_ms": 0, "steps": steps,
            "logs_dir": "", "reproduce": "",
            "baseline": {"change": "unchanged", "red": false, "snapshot": ""},
        })
    }

    fn results(trials: Vec<serde_json::Value>) -> Results {
        serde_json::from_value(serde_json::json!({
            "schema": "crossgrade.results/v1", "run_id": "r", "matrix": "m.toml", "system": "s",
            "releases": ["0.22", "0.23"], "vary": ROLES, "started_at": "",
            "duration_ms": 0, "complete": true, "planned": trials.len(),
            "counts": {"total": 0, "pass": 0, "fail": 0, "error": 0},
            "changes": {"unchanged": 0, "regressed": 0, "fixed": 0, "changed": 0, "new": 0},
            "red": false, "trials": trials,
        }))
        .expect("results")
    }

    #[test]
    fn orders_are_predicted_from_the_cells_on_their_way_and_set_beside_the_run() {
        // An agent newer than its master fails as a cell: agent first is predicted unsafe.
        let r = results(vec![
            cell("0.22", "0.22", "pass"),
            cell("0.23", "0.22", "pass"),
            cell("0.22", "0.23", "fail"),
            cell("0.23", "0.23", "pass"),
            order(["master", "agent"], true, None),
            order(["agent", "master"], false, Some(["0.22", "0.23"])),
        ]);
        let o = of(&r).expect("orders");
        let t = &o.paths[0];
        assert_eq!(t.route, "0.22 → 0.23");
        assert_eq!(t.rows[0].order, ["master", "agent"]);
        assert_eq!(t.rows[0].predicted, Prediction::Safe);
        assert_eq!(t.rows[0].agrees, Some(true));
        assert_eq!(
            t.rows[1].predicted,
            Prediction::Unsafe {
                state: "master=0.22,agent=0.23".into(),
                trial: "s/basic/master=0.22,agent=0.23".into()
            }
        );
        assert_eq!(t.rows[1].agrees, Some(true));
        assert_eq!(t.rows[1].history_dependent, None);
        assert!(t
            .headline()
            .contains("The scenario's own order passed; 1 of 2 orders passed"));
        assert!(
            t.headline().contains("2 agree, 0 disagree,"),
            "{}",
            t.headline()
        );
    }

    #[test]
    fn a_state_that_passed_as_a_cell_but_failed_when_reached_is_a_finding_and_a_missing_cell_unknown(
    ) {
        let r = results(vec![
            cell("0.22", "0.22", "pass"),
            cell("0.23", "0.22", "pass"),
            order(["master", "agent"], true, Some(["0.23", "0.22"])),
            order(["agent", "master"], false, None),
        ]);
        let t = &of(&r).expect("orders").paths[0];
        let own = &t.rows[0];
        assert_eq!(
            own.predicted,
            Prediction::Unknown {
                state: "master=0.23,agent=0.23".into()
            }
        );
        assert_eq!(own.agrees, None);
        assert_eq!(
            own.history_dependent.as_deref(),
            Some(
                "master=0.23,agent=0.22 passed as a cell (s/basic/master=0.23,agent=0.22) but \
                 failed when reached by upgrading"
            )
        );
        assert_eq!(
            own.failed_at.as_deref(),
            Some("step 2 check (agent=0.22 master=0.23)")
        );
        assert!(t
            .markdown(2)
            .contains("| **master, agent** (the scenario's) | ❌ fail at step 2"));
    }
}
