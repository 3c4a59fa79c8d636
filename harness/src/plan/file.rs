//! A trial written back as a scenario file, and a scenario file planned as one trial: how a
//! generated or shrunk plan leaves the harness (in the report, beside the command that runs it)
//! and comes back in (`crossgrade run --scenario-file`). Every step is written as a plain
//! `[[step]]` with its releases resolved (a move is an upgrade of one replica to its release), so
//! the file plans into the same steps.

use std::borrow::Cow;
use std::fmt::Write as _;

use indexmap::IndexMap;

use super::route::Piece;
use super::{assignment, trial, PlannedStep, Trial, TrialKind};
use crate::model::{format_duration, Matrix, Release, ScenarioFile, ScenarioKind};

/// The one trial a scenario file is: `system/NAME/FROM-to-TO` or `system/NAME/role=release,…`.
pub fn file_trial(m: &Matrix, f: &ScenarioFile) -> Trial {
    let sc = &f.scenario;
    let pieces: Vec<Piece<'_>> = sc
        .steps
        .iter()
        .map(|s| Piece {
            step: Cow::Borrowed(s),
            path: f.path.clone(),
            phase: None,
        })
        .collect();
    let (id, kind) = match &f.path {
        Some((from, to)) => (
            format!("{}/{}/{from}-to-{to}", m.system, sc.name),
            TrialKind::Path {
                from: from.clone(),
                to: to.clone(),
                via: vec![],
                order: None,
            },
        ),
        None => {
            let cell: IndexMap<String, Release> = m
                .cells
                .vary
                .iter()
                .filter_map(|r| Some((r.clone(), f.start.get(r)?.clone())))
                .collect();
            (
                format!("{}/{}/{}", m.system, sc.name, assignment(&cell)),
                TrialKind::Cell(cell),
            )
        }
    };
    let mut t = trial(m, sc, id, kind, f.start.clone(), pieces);
    t.file = Some(f.file.clone());
    t
}

impl Trial {
    /// The trial as a scenario file named `name` (steps `steps`, a subset of its own, in order),
    /// headed by `comment` lines.
    pub fn scenario_file(
        &self,
        m: &Matrix,
        name: &str,
        comment: &str,
        steps: &[&PlannedStep],
    ) -> String {
        let mut doc = toml::Table::new();
        doc.insert("name".into(), name.into());
        let kind = match self.kind {
            TrialKind::Cell(_) => ScenarioKind::Cell,
            TrialKind::Path { .. } => ScenarioKind::Path,
        };
        doc.insert(
            "kind".into(),
            match kind {
                ScenarioKind::Cell => "cell",
                ScenarioKind::Path => "path",
            }
            .into(),
        );
        doc.insert(
            "description".into(),
            format!("Trial {}, written as a scenario file.", self.id).into(),
        );
        doc.insert("timeout".into(), format_duration(self.timeout).into());
        let mut target = toml::Table::new();
        let mut start = toml::Table::new();
        let from = match &self.kind {
            TrialKind::Path { from, to, .. } => {
                target.insert("from".into(), from.as_str().into());
                target.insert("to".into(), to.as_str().into());
                Some(from)
            }
            TrialKind::Cell(_) => None,
        };
        for (role, rel) in &self.start {
            let service = m.services.iter().any(|s| &s.name == role);
            if !service && Some(rel) != from {
                start.insert(role.clone(), rel.as_str().into());
            }
        }
        if !start.is_empty() {
            target.insert("start".into(), start.into());
        }
        doc.insert("trial".into(), target.into());
        let tables: Vec<toml::Value> = steps.iter().map(|s| s.source.clone().into()).collect();
        doc.insert("step".into(), tables.into());
        let mut text = String::new();
        for line in comment.lines() {
            let _ = writeln!(text, "# {line}");
        }
        text.push_str(&toml::to_string(&doc).unwrap_or_default());
        text
    }
}
