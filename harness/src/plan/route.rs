//! Which scenario steps a trial plans, in which order, and against which path: a cell trial plans
//! its scenario as written; a path trial plans the scenario's prefix, then its role segments once
//! per hop (in the order explored, if any), then its tail ([`crate::model::Shape`]).

use std::borrow::Cow;

use crate::model::{PathSpec, Release, Scenario, Shape};
use crate::step::{fill_path, Op, ScenarioStep};

/// A scenario step to plan, the path its releases resolve against (a hop's, in a multi-hop path)
/// and the part of the trial it belongs to.
pub(crate) struct Piece<'s> {
    pub step: Cow<'s, ScenarioStep>,
    pub path: Option<(Release, Release)>,
    pub phase: Option<String>,
}

impl Piece<'_> {
    pub(crate) fn path(&self) -> Option<(&Release, &Release)> {
        self.path.as_ref().map(|(f, t)| (f, t))
    }
}

/// A cell scenario's steps, as written.
pub(crate) fn cell_pieces(sc: &Scenario) -> Vec<Piece<'_>> {
    sc.steps
        .iter()
        .map(|s| Piece {
            step: Cow::Borrowed(s),
            path: None,
            phase: None,
        })
        .collect()
}

/// A path scenario's steps along `p`: the prefix and tail against the whole path, the segments
/// once per hop against the hop, in `order` when one is explored. A path run as written (one hop,
/// no order) plans exactly the scenario's steps, without phases.
pub(crate) fn path_pieces<'s>(
    sc: &'s Scenario,
    shape: &Shape,
    p: &PathSpec,
    order: Option<&[String]>,
) -> Vec<Piece<'s>> {
    let whole = (p.from.clone(), p.to.clone());
    let stops: Vec<&Release> = std::iter::once(&p.from)
        .chain(&p.via)
        .chain(std::iter::once(&p.to))
        .collect();
    let hops: Vec<(Release, Release)> = stops
        .windows(2)
        .map(|w| (w[0].clone(), w[1].clone()))
        .collect();
    let piece = |i: usize, path: (Release, Release), phase: Option<String>| Piece {
        step: Cow::Borrowed(&sc.steps[i]),
        path: Some(path),
        phase,
    };
    let mut out: Vec<Piece<'s>> = shape
        .prefix
        .clone()
        .map(|i| piece(i, whole.clone(), None))
        .collect();
    let segments = match order {
        Some(o) => shape.permuted(o),
        None => shape.segments.iter().collect(),
    };
    for (from, to) in &hops {
        for seg in &segments {
            let phase = match (hops.len() > 1, order.is_some()) {
                (false, false) => None,
                (false, true) => Some(seg.role.clone()),
                (true, false) => Some(format!("{from} → {to}")),
                (true, true) => Some(format!("{from} → {to} · {}", seg.role)),
            };
            out.extend(
                seg.steps
                    .clone()
                    .map(|i| piece(i, (from.clone(), to.clone()), phase.clone())),
            );
        }
    }
    out.extend(shape.tail.clone().map(|i| piece(i, whole.clone(), None)));
    out
}

/// The step `op` came from, as a scenario file would write it with its releases resolved: a move
/// is an `upgrade` (or `downgrade`) of one replica to its release; any other step is its table
/// with `{from}` and `{to}` filled in and its `when` (already decided) left out.
pub(crate) fn source_of(
    op: &Op,
    step: &ScenarioStep,
    path: Option<(&Release, &Release)>,
) -> toml::Table {
    let mut t = step.source.clone();
    t.remove("when");
    if let Some((_, to)) = op.moves_to() {
        t.insert("to".into(), to.as_str().into());
        t.insert("count".into(), 1.into());
        return t;
    }
    fill_table(&mut t, path);
    t
}

fn fill_table(t: &mut toml::Table, path: Option<(&Release, &Release)>) {
    for (_, v) in t.iter_mut() {
        fill_value(v, path);
    }
}

fn fill_value(v: &mut toml::Value, path: Option<(&Release, &Release)>) {
    match v {
        toml::Value::String(s) => *s = fill_path(s, path),
        toml::Value::Array(a) => a.iter_mut().for_each(|x| fill_value(x, path)),
        toml::Value::Table(t) => fill_table(t, path),
        _ => {}
    }
}
