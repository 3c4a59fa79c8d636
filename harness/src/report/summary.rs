//! `summary.md`: short enough to paste into a pull request. What needs attention first, then the matrix
//! as grids and the paths as a table.

use super::grid::{self, Grid};
use super::results::{Results, TrialReport};
use crate::baseline::Change;
use crate::outcome::{Class, Verdict};

/// The mark of a trial in a grid: its verdict, and its change when it has one.
pub(crate) fn mark(t: &TrialReport) -> String {
    let v = verdict_mark(t.outcome.verdict);
    // A flaky trial says so, with how many of its runs passed.
    let v = match &t.outcome.repeats {
        Some(r) if r.class == Class::Flaky => format!("{v} flaky {}/{}", r.passed, r.runs),
        _ => v.to_string(),
    };
    match t.change() {
        Change::Unchanged => v,
        c => format!("{v} {c}"),
    }
}

/// ✅ pass, ❌ fail, ⚠️ error.
pub(crate) fn verdict_mark(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "✅",
        Verdict::Fail => "❌",
        Verdict::Error => "⚠️",
    }
}

/// Text safe in a Markdown table cell.
pub(crate) fn cell_text(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

pub(crate) fn render(r: &Results) -> String {
    let (status, running) = r.status();
    let mut s = format!(
        "# crossgrade · {} · run {}\n\n{} · **{status}**{running}\n\n{}\n\n",
        r.meta.system,
        r.meta.run_id,
        r.headline(),
        r.meta.provenance,
    );

    let attention: Vec<&TrialReport> = grid::by_attention(r)
        .into_iter()
        .filter(|t| t.baseline.red || t.change() == Change::Fixed)
        .collect();
    if !attention.is_empty() {
        s.push_str(
            "## Needs attention\n\n| trial | verdict | change | reason |\n|---|---|---|---|\n",
        );
        for t in &attention {
            s.push_str(&format!(
                "| `{}` | {} | **{}** | {} |\n",
                t.outcome.id,
                t.verdict_text(),
                t.change(),
                cell_text(t.outcome.reason.as_deref().unwrap_or(""))
            ));
        }
        s.push_str("\nRerun one:\n\n```sh\n");
        for t in attention.iter().take(10) {
            s.push_str(&format!("{}\n", t.outcome.reproduce));
        }
        s.push_str("```\n\n");
    }

    for g in grid::grids(r) {
        render_grid(&mut s, &g);
    }
    for p in grid::paths(r) {
        s.push_str(&format!(
            "## {} (paths)\n\n| path | verdict | failed at |\n|---|---|---|\n",
            p.scenario
        ));
        for (from, to, t) in &p.paths {
            let at = t
                .outcome
                .failed_step
                .and_then(|n| t.outcome.steps.iter().find(|st| st.number == n))
                .map(|st| format!("step {} {}", st.number, cell_text(&st.description)))
                .unwrap_or_default();
            s.push_str(&format!("| {from} → {to} | {} | {at} |\n", mark(t)));
        }
        s.push('\n');
    }
    s.push_str(
        "✅ pass · ❌ fail · ⚠️ error (harness or engine) · a word after the mark is the change \
         against the baseline (regressed, changed, new, fixed); none means as recorded.\n",
    );
    if let Some(c) = super::compat::of_cells(r) {
        s.push_str("\n## Which combination broke it\n\n");
        s.push_str(&c.suspects_text());
        s.push_str(
            "\n<details><summary>Compatibility table (also `crossgrade compat`)</summary>\n\n",
        );
        s.push_str(&c.markdown(3));
        s.push_str("\n</details>\n");
    }
    if let Some(p) = super::predicted::of(r) {
        s.push('\n');
        s.push_str(&p.markdown(2));
    }
    if let Some(o) = super::orders::of(r) {
        s.push('\n');
        s.push_str(&o.markdown(2));
    }
    s
}

fn render_grid(s: &mut String, g: &Grid) {
    let title = match &g.col_role {
        Some(c) => format!("{} × {}", g.row_role, c),
        None => g.row_role.clone(),
    };
    let inner = if g.inner_roles.is_empty() {
        String::new()
    } else {
        format!(" (inside: {})", g.inner_roles.join(" × "))
    };
    s.push_str(&format!("## {} — {title}{inner}\n\n", g.scenario));
    let corner = match &g.col_role {
        Some(c) => format!("{} \\ {}", g.row_role, c),
        None => g.row_role.clone(),
    };
    s.push_str(&format!("| {corner} |"));
    for c in &g.cols {
        s.push_str(&format!(" {} |", if c.is_empty() { "verdict" } else { c }));
    }
    s.push_str("\n|---|");
    s.push_str(&"---|".repeat(g.cols.len()));
    s.push('\n');
    for (ri, row) in g.rows.iter().enumerate() {
        s.push_str(&format!("| **{row}** |"));
        for square in &g.squares[ri] {
            let items: Vec<String> = square
                .iter()
                .map(|(label, t)| {
                    if label.is_empty() {
                        mark(t)
                    } else {
                        format!("{label}: {}", mark(t))
                    }
                })
                .collect();
            s.push_str(&format!(" {} |", items.join("<br>")));
        }
        s.push('\n');
    }
    s.push('\n');
}
