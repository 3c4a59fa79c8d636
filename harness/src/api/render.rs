//! The findings between two releases as text, JSON or Markdown: grouped by severity, both sides'
//! `file:line:column`, and a one-line count.

use std::fmt::Write;

use serde::Serialize;

use super::finding::{Counts, Finding, Severity};
use super::schema::Location;

/// A closed set of output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
    Markdown,
}

/// The findings between two releases, ready to print.
#[derive(Debug, Clone, Serialize)]
pub struct ApiDiff {
    pub schema: &'static str,
    /// The old and the new release as the caller named them (their folders).
    pub old: String,
    pub new: String,
    pub counts: Counts,
    /// Most important first.
    pub findings: Vec<Finding>,
}

impl ApiDiff {
    pub fn new(old: impl Into<String>, new: impl Into<String>, mut findings: Vec<Finding>) -> Self {
        findings.sort_by(Finding::importance_order);
        ApiDiff {
            schema: "crossgrade.api-diff/v1",
            old: old.into(),
            new: new.into(),
            counts: Counts::of(&findings),
            findings,
        }
    }

    /// `OLD → NEW: 3 breaking, 1 risky, 40 compatible`.
    pub fn summary(&self) -> String {
        format!("{} → {}: {}", self.old, self.new, self.counts)
    }

    pub fn render(&self, format: Format) -> String {
        match format {
            Format::Text => self.text(),
            Format::Json => serde_json::to_string_pretty(self).unwrap_or_default(),
            Format::Markdown => self.markdown(),
        }
    }

    fn of(&self, severity: Severity) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(move |f| f.severity == severity)
    }

    fn text(&self) -> String {
        let mut s = String::new();
        for severity in Severity::ALL {
            let group: Vec<&Finding> = self.of(severity).collect();
            if group.is_empty() {
                continue;
            }
            let _ = writeln!(s, "{severity} ({})", group.len());
            for f in group {
                let _ = writeln!(
                    s,
                    "  [{}] {} (wire: {}, JSON: {})",
                    f.rule, f.message, f.wire, f.json
                );
                let _ = writeln!(s, "      old: {}", place(&f.old));
                let _ = writeln!(s, "      new: {}", place(&f.new));
            }
            s.push('\n');
        }
        s.push_str(&self.summary());
        s
    }

    fn markdown(&self) -> String {
        let mut s = format!(
            "# API diff: `{}` → `{}`\n\n{}\n",
            self.old, self.new, self.counts
        );
        for severity in Severity::ALL {
            let group: Vec<&Finding> = self.of(severity).collect();
            if group.is_empty() {
                continue;
            }
            let _ = write!(
                s,
                "\n## {} ({})\n\n| rule | finding | wire | JSON | old | new |\n|---|---|---|---|---|---|\n",
                capitalised(severity.as_str()),
                group.len()
            );
            for f in group {
                let _ = writeln!(
                    s,
                    "| `{}` | {} | {} | {} | {} | {} |",
                    f.rule,
                    cell(&f.message),
                    f.wire,
                    f.json,
                    cell(&place(&f.old)),
                    cell(&place(&f.new))
                );
            }
        }
        s
    }
}

fn place(l: &Option<Location>) -> String {
    l.as_ref().map_or("—".into(), Location::to_string)
}

/// A table cell: a `|` would end it, a newline the row.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|first| first.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}
