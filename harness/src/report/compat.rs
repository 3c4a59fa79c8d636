//! The compatibility table: the answer to "I run X; which releases of the other components can I use
//! with it, and how do I get to Y?". For each pair of varying roles, release × release, what the run's
//! cell trials say (works, broken, unclear or untested), and for each upgrade path scenario whether the
//! paths were proven. Read from `results.json` alone, so it reads a partial (covering-array) run and a
//! run merged from several machines alike.

use std::fmt::Write as _;

use serde::Serialize;

use super::html::escape;
use super::results::{Results, TrialReport};
use super::suspects::{self, within, Combination, Suspects};
use crate::outcome::Verdict;

/// The whole table.
#[derive(Debug, Clone, Serialize)]
pub struct Compat {
    pub schema: &'static str,
    pub system: String,
    pub run_id: String,
    /// The run held every planned trial (else the table says what part of the plan it read).
    pub complete: bool,
    pub suspects: Suspects,
    pub pairs: Vec<PairTable>,
    pub paths: Vec<PathRow>,
}

/// Two roles' releases against each other.
#[derive(Debug, Clone, Serialize)]
pub struct PairTable {
    pub row_role: String,
    pub col_role: String,
    pub rows: Vec<String>,
    pub cols: Vec<String>,
    /// `entries[row][col]`.
    pub entries: Vec<Vec<Entry>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Every cell that holds the pair passed, or failed for a suspect that is not this pair.
    Works,
    /// The pair (or one release of it) is a suspect: it failed in every cell that holds it.
    Broken,
    /// A cell holding it failed and no suspect explains why (needs more roles, or is not repeatable:
    /// a trial `run --repeat` found flaky is always this).
    Unclear,
    /// No cell trial (that did not error) holds the pair.
    Untested,
}

#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    pub status: Status,
    /// Cell trials holding the pair, and how many of them passed, failed, errored.
    pub cells: usize,
    pub pass: usize,
    pub fail: usize,
    pub error: usize,
    /// The suspects that explain its failures (`master=0.22 & scheduler=0.23`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub explained_by: Vec<String>,
    /// For a broken or unclear pair: its first failing trial and why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_failure: Option<Failure>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    pub trial: String,
    pub reason: String,
}

/// One upgrade path scenario from one release to another.
#[derive(Debug, Clone, Serialize)]
pub struct PathRow {
    pub scenario: String,
    pub from: String,
    pub to: String,
    /// `proven`, `failed`, `error`; for an upgrade the policy does not promise, `refused` (cleanly),
    /// `through` or `quietly wrong`.
    pub status: &'static str,
    pub trial: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

pub(crate) const SCHEMA: &str = "crossgrade.compat/v1";

const LEGEND: &str =
    "✅ p/n: works (p of the n cells holding the pair passed; * the others failed \
                      for a suspect that is not this pair) · ❌ broken (a suspect) · ❓ p/n: a \
                      failure no combination of the roles explains · · untested";

/// The table of a run. `strength` is the largest combination suspects are sought among (the
/// matrix's covering strength; 2 for a full product).
pub fn of(r: &Results, strength: usize) -> Compat {
    let suspects = suspects::find(r, strength);
    let cells: Vec<&TrialReport> = r
        .trials
        .iter()
        .filter(|t| t.outcome.cell.is_some())
        .collect();
    // A run without cell trials has no pairs to show (its paths still do).
    let roles: Vec<String> = if cells.is_empty() {
        Vec::new()
    } else if r.meta.vary.is_empty() {
        cells
            .first()
            .and_then(|t| t.outcome.cell.as_ref())
            .map(|c| c.keys().cloned().collect())
            .unwrap_or_default()
    } else {
        r.meta.vary.clone()
    };
    let released = |role: &str| -> Vec<String> {
        let mut v: Vec<String> = cells
            .iter()
            .filter_map(|t| t.outcome.cell.as_ref()?.get(role).cloned())
            .collect();
        let pos = |x: &String| r.meta.releases.iter().position(|y| y == x);
        v.sort_by(|a, b| pos(a).cmp(&pos(b)).then(a.cmp(b)));
        v.dedup();
        v
    };
    let mut pairs = Vec::new();
    for (i, a) in roles.iter().enumerate() {
        for b in &roles[i + 1..] {
            let (rows, cols) = (released(a), released(b));
            let entries = rows
                .iter()
                .map(|ra| {
                    cols.iter()
                        .map(|rb| entry(&cells, &suspects, (a, ra), (b, rb)))
                        .collect()
                })
                .collect();
            pairs.push(PairTable {
                row_role: a.clone(),
                col_role: b.clone(),
                rows,
                cols,
                entries,
            });
        }
    }
    Compat {
        schema: SCHEMA,
        system: r.meta.system.clone(),
        run_id: r.meta.run_id.clone(),
        complete: r.complete,
        suspects,
        pairs,
        paths: paths(r),
    }
}

fn entry(
    cells: &[&TrialReport],
    suspects: &Suspects,
    (a, ra): (&String, &String),
    (b, rb): (&String, &String),
) -> Entry {
    let pair: Combination = vec![(a.clone(), ra.clone()), (b.clone(), rb.clone())];
    let holding: Vec<&&TrialReport> = cells
        .iter()
        .filter(|t| {
            t.outcome
                .cell
                .as_ref()
                .is_some_and(|c| c.get(a) == Some(ra) && c.get(b) == Some(rb))
        })
        .collect();
    let count = |v: Verdict| holding.iter().filter(|t| t.outcome.verdict == v).count();
    let (pass, fail, error) = (
        count(Verdict::Pass),
        count(Verdict::Fail),
        count(Verdict::Error),
    );
    let as_combination = |s: &suspects::Suspect| -> Combination {
        s.combination
            .iter()
            .map(|(r, v)| (r.clone(), v.clone()))
            .collect()
    };
    // The pair is broken when a suspect lies within it (the pair, or one of its releases).
    let own = suspects
        .suspects
        .iter()
        .any(|s| within(&as_combination(s), &pair));
    let mut explained_by: Vec<String> = Vec::new();
    let mut unexplained_failure = false;
    let mut first_failure = None;
    for t in holding
        .iter()
        .filter(|t| t.outcome.verdict == Verdict::Fail)
    {
        if first_failure.is_none() {
            first_failure = Some(Failure {
                trial: t.outcome.id.clone(),
                reason: t.outcome.reason.clone().unwrap_or_default(),
            });
        }
        if suspects::is_flaky(t) {
            unexplained_failure = true;
            continue;
        }
        let cell: Combination = t
            .outcome
            .cell
            .iter()
            .flatten()
            .map(|(r, v)| (r.clone(), v.clone()))
            .collect();
        let why: Vec<String> = suspects
            .suspects
            .iter()
            .filter(|s| s.scenario == t.outcome.scenario && within(&as_combination(s), &cell))
            .map(|s| s.label())
            .collect();
        if why.is_empty() {
            unexplained_failure = true;
        }
        for w in why {
            if !explained_by.contains(&w) {
                explained_by.push(w);
            }
        }
    }
    let status = if own {
        Status::Broken
    } else if pass + fail == 0 {
        Status::Untested
    } else if unexplained_failure {
        Status::Unclear
    } else {
        Status::Works
    };
    if status == Status::Works {
        first_failure = None;
    }
    Entry {
        status,
        cells: holding.len(),
        pass,
        fail,
        error,
        explained_by,
        first_failure,
    }
}

fn paths(r: &Results) -> Vec<PathRow> {
    r.trials
        .iter()
        .filter_map(|t| {
            let p = t.outcome.path.as_ref()?;
            Some(PathRow {
                scenario: t.outcome.scenario.clone(),
                from: p.from.clone(),
                to: p.to.clone(),
                status: match (t.outcome.verdict, t.outcome.unpromised) {
                    (Verdict::Pass, false) => "proven",
                    (Verdict::Fail, false) => "failed",
                    // A negative trial: refused, or through though not promised, or gone wrong
                    // without a refusal.
                    (Verdict::Pass, true) if t.outcome.failed_step.is_some() => "refused",
                    (Verdict::Pass, true) => "through",
                    (Verdict::Fail, true) => "quietly wrong",
                    (Verdict::Error, _) => "error",
                },
                trial: t.outcome.id.clone(),
                reason: t.outcome.reason.clone(),
            })
        })
        .collect()
}

impl Entry {
    fn mark(&self) -> String {
        match self.status {
            Status::Works if self.fail > 0 => {
                format!("✅ {}/{}*", self.pass, self.pass + self.fail)
            }
            Status::Works => format!("✅ {}/{}", self.pass, self.pass + self.fail),
            Status::Broken => "❌ broken".to_string(),
            Status::Unclear => format!("❓ {}/{}", self.pass, self.pass + self.fail),
            Status::Untested if self.error > 0 => format!("⚠️ {} error", self.error),
            Status::Untested => "·".to_string(),
        }
    }
}

fn md_text(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

impl Compat {
    /// What the run's coverage was, in one sentence.
    fn scope(&self) -> String {
        if self.complete {
            String::new()
        } else {
            " (from a run that recorded part of its plan: what it did not run shows as untested)"
                .to_string()
        }
    }

    /// Markdown: suspects, one table per pair of roles, the paths. `level` is the heading depth.
    pub fn markdown(&self, level: usize) -> String {
        let h = "#".repeat(level);
        let mut s = format!(
            "{h} Compatibility · {} · run {}\n\n",
            self.system, self.run_id
        );
        let _ = writeln!(s, "{LEGEND}{}\n", self.scope());
        let _ = writeln!(s, "{h}# Suspects\n");
        s.push_str(&self.suspects_text());
        for p in &self.pairs {
            let _ = writeln!(s, "\n{h}# {} × {}\n", p.row_role, p.col_role);
            let _ = writeln!(
                s,
                "| {} \\ {} | {} |",
                p.row_role,
                p.col_role,
                p.cols.join(" | ")
            );
            let _ = writeln!(s, "|---|{}", "---|".repeat(p.cols.len()));
            for (row, entries) in p.rows.iter().zip(&p.entries) {
                let marks: Vec<String> = entries.iter().map(Entry::mark).collect();
                let _ = writeln!(s, "| **{row}** | {} |", marks.join(" | "));
            }
            for (row, entries) in p.rows.iter().zip(&p.entries) {
                for (col, e) in p.cols.iter().zip(entries) {
                    if let (Status::Broken | Status::Unclear, Some(f)) =
                        (e.status, &e.first_failure)
                    {
                        let _ = writeln!(
                            s,
                            "\n- {}={row} with {}={col}: first failed in `{}`: {}",
                            p.row_role,
                            p.col_role,
                            f.trial,
                            md_text(&f.reason)
                        );
                    }
                }
            }
        }
        if !self.paths.is_empty() {
            let _ = writeln!(
                s,
                "\n{h}# Upgrade paths\n\n| scenario | from | to | result | why |\n|---|---|---|---|---|"
            );
            for p in &self.paths {
                let mark = match p.status {
                    "proven" => "✅ proven",
                    "failed" => "❌ failed",
                    "refused" => "🛑 refused cleanly (not promised)",
                    "through" => "✅ goes through (not promised)",
                    "quietly wrong" => "❌ went wrong without a refusal (not promised)",
                    _ => "⚠️ error",
                };
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {mark} | {} |",
                    p.scenario,
                    p.from,
                    p.to,
                    md_text(p.reason.as_deref().unwrap_or(""))
                );
            }
        }
        s
    }

    /// The suspects as a Markdown list (also what the terminal prints).
    pub fn suspects_text(&self) -> String {
        let mut s = String::new();
        if self.pairs.is_empty() {
            s.push_str("No cell trials in this run.\n");
            return s;
        }
        if self.suspects.suspects.is_empty() && self.suspects.unexplained.is_empty() {
            s.push_str("No cell failed.\n");
            return s;
        }
        let many = self.suspects.suspects.len() > self.suspects.likeliest.len();
        if many {
            let _ = writeln!(
                s,
                "Likeliest (the fewest suspects that explain every failure, most failing cells \
                 first):\n"
            );
            for l in &self.suspects.likeliest {
                let _ = writeln!(
                    s,
                    "- **{}** ({}): in {} failing cell{}, {} not explained by those above",
                    l.suspect,
                    l.scenario,
                    l.cells,
                    if l.cells == 1 { "" } else { "s" },
                    l.explains
                );
            }
            let _ = writeln!(
                s,
                "\nEvery suspect (a combination found only in failing cells; a covering array holds \
                 each in few cells, so a failing cell has several):\n"
            );
        }
        for x in &self.suspects.suspects {
            let _ = writeln!(
                s,
                "- **{}** ({}): fails in every cell that holds it, {} of them: {}",
                x.label(),
                x.scenario,
                x.evidence.len(),
                x.evidence
                    .iter()
                    .map(|e| format!("`{e}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        for u in &self.suspects.unexplained {
            let _ = writeln!(
                s,
                "- `{u}` failed, but every combination of up to {} of its roles' releases also \
                 passed in another cell: no suspect",
                self.suspects.strength
            );
        }
        s
    }

    /// The same as an HTML fragment (for `index.html` and `compat --format html`).
    pub fn html(&self) -> String {
        let mut h = String::from("<section class=\"compat\"><h2>Compatibility</h2>\n");
        let _ = writeln!(
            h,
            "<p class=\"legend\">{}{}</p>",
            escape(LEGEND),
            escape(&self.scope())
        );
        h.push_str("<h3>Suspects</h3><ul>\n");
        if self.suspects.suspects.is_empty() && self.suspects.unexplained.is_empty() {
            h.push_str("<li>No cell failed.</li>\n");
        }
        for x in &self.suspects.suspects {
            let _ = writeln!(
                h,
                "<li><b>{}</b> ({}): fails in every cell that holds it: {}</li>",
                escape(&x.label()),
                escape(&x.scenario),
                x.evidence
                    .iter()
                    .map(|e| format!("<a href=\"#{}\">{}</a>", escape(e), escape(e)))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        for u in &self.suspects.unexplained {
            let _ = writeln!(
                h,
                "<li><a href=\"#{0}\">{0}</a> failed; no combination of up to {1} roles explains it</li>",
                escape(u),
                self.suspects.strength
            );
        }
        h.push_str("</ul>\n");
        for p in &self.pairs {
            let _ = write!(
                h,
                "<h3>{} × {}</h3><table class=\"grid\"><tr><th>{} \\ {}</th>",
                escape(&p.row_role),
                escape(&p.col_role),
                escape(&p.row_role),
                escape(&p.col_role)
            );
            for c in &p.cols {
                let _ = write!(h, "<th>{}</th>", escape(c));
            }
            h.push_str("</tr>\n");
            for (row, entries) in p.rows.iter().zip(&p.entries) {
                let _ = write!(h, "<tr><th>{}</th>", escape(row));
                for e in entries {
                    let title = match &e.first_failure {
                        Some(f) => format!("{}: {}", f.trial, f.reason),
                        None => e.explained_by.join("; "),
                    };
                    let _ = write!(
                        h,
                        "<td class=\"c-{:?}\" title=\"{}\">{}</td>",
                        e.status,
                        escape(&title),
                        escape(&e.mark())
                    );
                }
                h.push_str("</tr>\n");
            }
            h.push_str("</table>\n");
        }
        if !self.paths.is_empty() {
            h.push_str(
                "<h3>Upgrade paths</h3><table><tr><th>scenario</th><th>from</th><th>to</th>\
                 <th>result</th><th>why</th></tr>\n",
            );
            for p in &self.paths {
                let _ = writeln!(
                    h,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td><a href=\"#{}\">{}</a></td><td>{}</td></tr>",
                    escape(&p.scenario),
                    escape(&p.from),
                    escape(&p.to),
                    escape(&p.trial),
                    p.status,
                    escape(p.reason.as_deref().unwrap_or(""))
                );
            }
            h.push_str("</table>\n");
        }
        h.push_str("</section>\n");
        h
    }
}

/// The table of a run, suspects sought among combinations of as many roles as its cells were
/// chosen to cover (2 for every cell).
pub fn of_run(r: &Results) -> Compat {
    of(r, r.meta.strength.unwrap_or(2))
}

/// The table of a run that has cell trials.
pub(crate) fn of_cells(r: &Results) -> Option<Compat> {
    r.trials
        .iter()
        .any(|t| t.outcome.cell.is_some())
        .then(|| of_run(r))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROLES: [&str; 4] = ["master", "agent", "executor", "scheduler"];

    /// A run of the given cells (releases in ROLES order) with the verdict `judge` gives each.
    fn run(cells: &[[&str; 4]], judge: impl Fn(&[&str; 4]) -> &'static str) -> Results {
        let trials: Vec<serde_json::Value> = cells
            .iter()
            .map(|c| {
                let cell: serde_json::Map<String, serde_json::Value> = ROLES
                    .iter()
                    .zip(c)
                    .map(|(r, v)| (r.to_string(), (*v).into()))
                    .collect();
                let id = format!(
                    "s/basic/{}",
                    ROLES
                        .iter()
                        .zip(c)
                        .map(|(r, v)| format!("{r}={v}"))
                        .collect::<Vec<_>>()
                        .join(",")
                );
                serde_json::json!({
                    "id": id, "scenario": "basic", "kind": "cell", "start": cell.clone(),
                    "cell": cell, "verdict": judge(c), "reason": format!("why {id}"),
                    "duration_ms": 0, "steps": [], "logs_dir": "", "reproduce": "",
                    "baseline": {"change": "unchanged", "red": false, "snapshot": ""},
                })
            })
            .collect();
        serde_json::from_value(serde_json::json!({
            "schema": "crossgrade.results/v1", "run_id": "r", "matrix": "m.toml", "system": "s",
            "releases": ["0.22", "0.23", "0.24"], "vary": ROLES, "started_at": "",
            "duration_ms": 0, "complete": true, "planned": trials.len(),
            "counts": {"total": 0, "pass": 0, "fail": 0, "error": 0},
            "changes": {"unchanged": 0, "regressed": 0, "fixed": 0, "changed": 0, "new": 0},
            "red": false, "trials": trials,
        }))
        .expect("a valid results.json")
    }

    fn product(releases: &[&'static str]) -> Vec<[&'static str; 4]> {
        let mut out = Vec::new();
        for &a in releases {
            for &b in releases {
                for &c in releases {
                    for &d in releases {
                        out.push([a, b, c, d]);
                    }
                }
            }
        }
        out
    }

    fn entry<'a>(c: &'a Compat, a: &str, ra: &str, b: &str, rb: &str) -> &'a Entry {
        let p = c
            .pairs
            .iter()
            .find(|p| p.row_role == a && p.col_role == b)
            .unwrap();
        let i = p.rows.iter().position(|r| r == ra).unwrap();
        let j = p.cols.iter().position(|r| r == rb).unwrap();
        &p.entries[i][j]
    }

    #[test]
    fn a_flaky_failure_is_no_suspect_and_its_pairs_are_unclear() {
        let mut r = run(&product(&["0.22", "0.23"]), |c| {
            if c[0] == "0.22" && c[3] == "0.23" {
                "fail"
            } else {
                "pass"
            }
        });
        // The same failures, but `run --repeat 3` saw each of them pass once.
        for t in r
            .trials
            .iter_mut()
            .filter(|t| t.outcome.verdict == Verdict::Fail)
        {
            t.outcome.repeats = Some(crate::outcome::Repeats {
                runs: 3,
                passed: 1,
                failed: 2,
                errors: 0,
                class: crate::outcome::Class::Flaky,
                verdicts: vec![Verdict::Fail, Verdict::Pass, Verdict::Fail],
                shown: 1,
            });
        }
        let c = of(&r, 2);
        assert!(c.suspects.suspects.is_empty(), "{:?}", c.suspects.suspects);
        assert_eq!(c.suspects.unexplained.len(), 4);
        assert_eq!(
            entry(&c, "master", "0.22", "scheduler", "0.23").status,
            Status::Unclear
        );
        assert_eq!(
            entry(&c, "master", "0.23", "scheduler", "0.23").status,
            Status::Works
        );
    }

    #[test]
    fn the_default_matrix_has_one_suspect_the_old_master_with_the_new_scheduler() {
        let r = run(&product(&["0.22", "0.23"]), |c| {
            if c[0] == "0.22" && c[3] == "0.23" {
                "fail"
            } else {
                "pass"
            }
        });
        let c = of(&r, 2);
        let labels: Vec<String> = c.suspects.suspects.iter().map(|s| s.label()).collect();
        assert_eq!(labels, vec!["master=0.22 & scheduler=0.23"]);
        assert_eq!(c.suspects.suspects[0].evidence.len(), 4);
        let likeliest: Vec<(&str, usize)> = c
            .suspects
            .likeliest
            .iter()
            .map(|l| (l.suspect.as_str(), l.explains))
            .collect();
        assert_eq!(likeliest, vec![("master=0.22 & scheduler=0.23", 4)]);
        assert!(c.suspects.unexplained.is_empty());
        assert_eq!(
            entry(&c, "master", "0.22", "scheduler", "0.23").status,
            Status::Broken
        );
        let e = entry(&c, "master", "0.22", "agent", "0.22");
        assert_eq!((e.status, e.pass, e.fail), (Status::Works, 2, 2));
        assert_eq!(e.explained_by, vec!["master=0.22 & scheduler=0.23"]);
        assert_eq!(
            entry(&c, "master", "0.23", "scheduler", "0.23").status,
            Status::Works
        );
        let md = c.markdown(1);
        assert!(md.contains("| **0.22** | ✅ 4/4 | ❌ broken |"), "{md}");
        assert!(md.contains("| **0.22** | ✅ 2/4* | ✅ 2/4* |"), "{md}");
    }

    #[test]
    fn where_cells_hold_several_suspects_the_likeliest_explain_the_most_failures() {
        // Three cells, each pair of releases once or twice: the failures of the two cells with
        // master=0.23 & agent=0.23 have it in common; each also holds suspects of its own.
        let cells = [
            ["0.22", "0.22", "0.22", "0.22"],
            ["0.23", "0.23", "0.22", "0.23"],
            ["0.23", "0.23", "0.23", "0.22"],
            ["0.22", "0.23", "0.23", "0.23"],
            ["0.23", "0.22", "0.23", "0.23"],
        ];
        let r = run(&cells, |c| {
            if c[0] == "0.23" && c[1] == "0.23" {
                "fail"
            } else {
                "pass"
            }
        });
        let c = of(&r, 2);
        assert!(c.suspects.suspects.len() > 1, "{:?}", c.suspects.suspects);
        let likeliest: Vec<(&str, usize)> = c
            .suspects
            .likeliest
            .iter()
            .map(|l| (l.suspect.as_str(), l.explains))
            .collect();
        assert_eq!(likeliest, vec![("master=0.23 & agent=0.23", 2)]);
        assert!(c.markdown(1).contains("Likeliest"));
    }

    #[test]
    fn paths_the_policy_does_not_promise_say_how_they_ended() {
        let mut r = run(&[["0.22", "0.22", "0.22", "0.22"]], |_| "pass");
        let path = |id: &str, verdict: &str, failed_step: Option<usize>| {
            let mut t = serde_json::json!({
                "id": id, "scenario": "rolling-upgrade", "kind": "path", "start": {},
                "path": {"from": "0.22", "to": "0.24"}, "unpromised": true, "verdict": verdict,
                "duration_ms": 0, "steps": [], "logs_dir": "", "reproduce": "",
                "baseline": {"change": "unchanged", "red": false, "snapshot": ""},
            });
            if let Some(n) = failed_step {
                t["failed_step"] = n.into();
            }
            serde_json::from_value::<TrialReport>(t).unwrap()
        };
        r.trials.push(path("s/rolling-upgrade/a", "pass", Some(9)));
        r.trials.push(path("s/rolling-upgrade/b", "pass", None));
        r.trials.push(path("s/rolling-upgrade/c", "fail", Some(27)));
        let c = of(&r, 2);
        let statuses: Vec<&str> = c.paths.iter().map(|p| p.status).collect();
        assert_eq!(statuses, vec!["refused", "through", "quietly wrong"]);
        assert!(c.markdown(1).contains("🛑 refused cleanly (not promised)"));
    }

    #[test]
    fn a_release_that_always_fails_is_the_suspect_not_its_pairs() {
        let r = run(&product(&["0.22", "0.23"]), |c| {
            if c[1] == "0.23" {
                "fail"
            } else {
                "pass"
            }
        });
        let c = of(&r, 2);
        let labels: Vec<String> = c.suspects.suspects.iter().map(|s| s.label()).collect();
        assert_eq!(labels, vec!["agent=0.23"]);
        assert_eq!(
            entry(&c, "master", "0.22", "agent", "0.23").status,
            Status::Broken
        );
    }

    #[test]
    fn a_failure_of_three_roles_at_once_has_no_pair_to_blame() {
        // Fails only when master, agent and executor are all new: every pair of that cell also
        // holds in a passing one.
        let r = run(&product(&["0.22", "0.23"]), |c| {
            if c[..3] == ["0.23", "0.23", "0.23"] {
                "fail"
            } else {
                "pass"
            }
        });
        let c = of(&r, 2);
        assert!(c.suspects.suspects.is_empty());
        assert_eq!(c.suspects.unexplained.len(), 2);
        let e = entry(&c, "master", "0.23", "agent", "0.23");
        assert_eq!((e.status, e.pass, e.fail), (Status::Unclear, 2, 2));
        assert!(e.first_failure.is_some());
        // At strength 3 the triple is the suspect.
        let c3 = of(&r, 3);
        let labels: Vec<String> = c3.suspects.suspects.iter().map(|s| s.label()).collect();
        assert_eq!(labels, vec!["master=0.23 & agent=0.23 & executor=0.23"]);
    }

    #[test]
    fn errors_are_no_evidence_and_pairs_never_run_are_untested() {
        let cells = [
            ["0.22", "0.22", "0.22", "0.22"],
            ["0.23", "0.23", "0.23", "0.23"],
            ["0.24", "0.24", "0.24", "0.24"],
        ];
        let r = run(&cells, |c| if c[0] == "0.24" { "error" } else { "pass" });
        let c = of(&r, 2);
        // Paths alone: no pairs, and the suspects say why.
        let mut paths_only = r.clone();
        paths_only.trials.clear();
        let none = of(&paths_only, 2);
        assert!(none.pairs.is_empty());
        assert_eq!(none.suspects_text(), "No cell trials in this run.\n");
        assert!(c.suspects.suspects.is_empty());
        assert_eq!(
            entry(&c, "master", "0.22", "agent", "0.22").status,
            Status::Works
        );
        assert_eq!(
            entry(&c, "master", "0.22", "agent", "0.23").status,
            Status::Untested
        );
        let e = entry(&c, "master", "0.24", "agent", "0.24");
        assert_eq!((e.status, e.error), (Status::Untested, 1));
        assert_eq!(e.mark(), "⚠️ 1 error");
    }
}
