//! A path scenario cut where its roles move: the steps before the first move (the prefix), one
//! segment per role (its moves and the steps after them, up to the next other role's move), and
//! the steps after the last move (the tail). Order exploration permutes the segments; a multi-hop
//! path runs them once per hop. The cut is a rule, not a guess: the steps between two moves go with
//! the move before them.

use std::ops::Range;

use super::types::Scenario;
use crate::step::StepSpec;

/// Where a scenario's steps are cut.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Shape {
    /// Steps before the first move: start, first checks, workloads.
    pub prefix: Range<usize>,
    /// In the scenario's order.
    pub segments: Vec<Segment>,
    /// Steps after the last move: final checks.
    pub tail: Range<usize>,
}

/// A role's run of moves, and the steps up to the next other role's move.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Segment {
    pub role: String,
    /// Indices into the scenario's steps.
    pub steps: Range<usize>,
    /// `file:line` of its first move.
    pub origin: String,
}

impl Shape {
    /// The roles in the order the scenario moves them, when each moves in one segment: what an
    /// order permutes. Otherwise the role that moves again after another, with both lines.
    pub(crate) fn order(&self) -> Result<Vec<String>, String> {
        let mut roles: Vec<String> = Vec::new();
        for (i, s) in self.segments.iter().enumerate() {
            if let Some(first) = self.segments[..i].iter().find(|x| x.role == s.role) {
                let between = &self.segments[i - 1].role;
                return Err(format!(
                    "it moves `{}` at {} and again at {}, with `{between}` moving between: an \
                     order permutes whole roles",
                    s.role, first.origin, s.origin
                ));
            }
            roles.push(s.role.clone());
        }
        Ok(roles)
    }

    /// The segments in `order` (a permutation of [`Self::order`]).
    pub(crate) fn permuted(&self, order: &[String]) -> Vec<&Segment> {
        order
            .iter()
            .filter_map(|r| self.segments.iter().find(|s| &s.role == r))
            .collect()
    }
}

impl Scenario {
    /// Where its steps are cut (see the module's doc). A scenario with no move is all prefix.
    pub(crate) fn shape(&self) -> Shape {
        let moves: Vec<(usize, &str)> = self
            .steps
            .iter()
            .enumerate()
            .filter_map(|(i, s)| match &s.spec {
                StepSpec::Upgrade(u) => Some((i, u.role.as_str())),
                _ => None,
            })
            .collect();
        let n = self.steps.len();
        let (Some(&(first, _)), Some(&(last, _))) = (moves.first(), moves.last()) else {
            return Shape {
                prefix: 0..n,
                segments: vec![],
                tail: n..n,
            };
        };
        let mut segments: Vec<Segment> = Vec::new();
        for &(i, role) in &moves {
            match segments.last_mut() {
                Some(s) if s.role == role => {}
                _ => {
                    if let Some(prev) = segments.last_mut() {
                        prev.steps.end = i;
                    }
                    segments.push(Segment {
                        role: role.to_string(),
                        steps: i..i,
                        origin: self.steps[i].origin.clone(),
                    });
                }
            }
        }
        if let Some(s) = segments.last_mut() {
            s.steps.end = last + 1;
        }
        Shape {
            prefix: 0..first,
            segments,
            tail: last + 1..n,
        }
    }
}
