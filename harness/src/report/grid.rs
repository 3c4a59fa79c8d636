//! The matrix laid out for people: per cell scenario, the first varying role's releases as rows, the
//! last one's as columns, and the roles in between listed inside each square (master × scheduler, with
//! agent × executor inside, for the Mesos matrix). Paths are listed per scenario. Shared by the Markdown
//! and HTML reports.

use indexmap::IndexMap;

use super::results::{Results, TrialReport};

/// One cell scenario's grid.
pub(crate) struct Grid<'a> {
    pub scenario: String,
    pub row_role: String,
    /// `None` when only one role varies.
    pub col_role: Option<String>,
    pub inner_roles: Vec<String>,
    pub rows: Vec<String>,
    pub cols: Vec<String>,
    /// `squares[row][col]`: the trials there, with the inner roles' releases as a label.
    pub squares: Vec<Vec<Vec<(String, &'a TrialReport)>>>,
}

/// One path scenario's rows: `from → to` and its trial.
pub(crate) struct PathList<'a> {
    pub scenario: String,
    pub paths: Vec<(String, String, &'a TrialReport)>,
}

pub(crate) fn grids(r: &Results) -> Vec<Grid<'_>> {
    let mut by_scenario: IndexMap<&str, Vec<&TrialReport>> = IndexMap::new();
    for t in &r.trials {
        if t.outcome.cell.is_some() {
            by_scenario.entry(&t.outcome.scenario).or_default().push(t);
        }
    }
    by_scenario
        .into_iter()
        .map(|(scenario, trials)| grid(r, scenario, trials))
        .collect()
}

fn grid<'a>(r: &Results, scenario: &str, trials: Vec<&'a TrialReport>) -> Grid<'a> {
    // Axes: the matrix's varying roles, else the roles the cells name.
    let mut roles: Vec<String> = r.meta.vary.clone();
    if roles.is_empty() {
        if let Some(c) = trials.first().and_then(|t| t.outcome.cell.as_ref()) {
            roles = c.keys().cloned().collect();
        }
    }
    let row_role = roles.first().cloned().unwrap_or_default();
    let col_role = (roles.len() > 1).then(|| roles[roles.len() - 1].clone());
    let inner_roles: Vec<String> = if roles.len() > 2 {
        roles[1..roles.len() - 1].to_vec()
    } else {
        vec![]
    };
    let release_of = |t: &TrialReport, role: &str| -> String {
        t.outcome
            .cell
            .as_ref()
            .and_then(|c| c.get(role))
            .cloned()
            .unwrap_or_default()
    };
    let order = |v: &mut Vec<String>| {
        let pos = |x: &String| r.meta.releases.iter().position(|y| y == x);
        v.sort_by(|a, b| pos(a).cmp(&pos(b)).then(a.cmp(b)));
        v.dedup();
    };
    let mut rows: Vec<String> = trials.iter().map(|t| release_of(t, &row_role)).collect();
    order(&mut rows);
    let mut cols: Vec<String> = match &col_role {
        Some(c) => trials.iter().map(|t| release_of(t, c)).collect(),
        None => vec![String::new()],
    };
    order(&mut cols);
    let mut squares = vec![vec![Vec::new(); cols.len()]; rows.len()];
    for t in trials {
        let ri = rows
            .iter()
            .position(|x| *x == release_of(t, &row_role))
            .unwrap_or(0);
        let ci = match &col_role {
            Some(c) => cols
                .iter()
                .position(|x| *x == release_of(t, c))
                .unwrap_or(0),
            None => 0,
        };
        let label = inner_roles
            .iter()
            .map(|role| format!("{role} {}", release_of(t, role)))
            .collect::<Vec<_>>()
            .join(", ");
        squares[ri][ci].push((label, t));
    }
    Grid {
        scenario: scenario.to_string(),
        row_role,
        col_role,
        inner_roles,
        rows,
        cols,
        squares,
    }
}

pub(crate) fn paths(r: &Results) -> Vec<PathList<'_>> {
    let mut by_scenario: IndexMap<&str, Vec<(String, String, &TrialReport)>> = IndexMap::new();
    for t in &r.trials {
        if let Some(p) = &t.outcome.path {
            by_scenario.entry(&t.outcome.scenario).or_default().push((
                p.from.clone(),
                p.to.clone(),
                t,
            ));
        }
    }
    by_scenario
        .into_iter()
        .map(|(s, paths)| PathList {
            scenario: s.to_string(),
            paths,
        })
        .collect()
}

/// Trials in the order a reader should see them: red ones first (regressions before the rest), then
/// fixes, then everything else in plan order.
pub(crate) fn by_attention(r: &Results) -> Vec<&TrialReport> {
    let mut v: Vec<&TrialReport> = r.trials.iter().collect();
    v.sort_by_key(|t| {
        use crate::baseline::Change::*;
        match (t.baseline.red, t.change()) {
            (true, Regressed) => 0,
            (true, _) => 1,
            (false, Fixed) => 2,
            (false, _) => 3,
        }
    });
    v
}
