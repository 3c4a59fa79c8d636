//! Deprecations across releases: what each release marks deprecated, and what was removed before it
//! had been deprecated for the grace period (Mesos: six months, i.e. six monthly releases before
//! 1.0). A grace check needs the releases in order, not just two of them: when a field became
//! deprecated may be several releases before the one that removes it.

use std::collections::HashSet;

use serde::Serialize;

use super::finding::{Finding, Rule, Severity};
use super::rules::{describe, Moves};
use super::schema::{Deprecation, Location, Schema};
use super::scope::Scope;

/// What a deprecated item is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemKind {
    Message,
    Field,
    Enum,
    EnumValue,
}

/// One element marked deprecated in a release.
#[derive(Debug, Clone, Serialize)]
pub struct Deprecated {
    pub kind: ItemKind,
    /// `mesos.TaskStatus.source`: the message or enum, then the field or value.
    pub name: String,
    /// The message or enum it is in (itself, for a message or an enum).
    pub subject: String,
    pub how: Deprecation,
    pub location: Location,
}

/// Everything `schema` marks deprecated, by option or by its own comment.
pub fn deprecated(schema: &Schema) -> Vec<Deprecated> {
    let mut out = Vec::new();
    for m in schema.messages.values() {
        if let Some(how) = &m.deprecated {
            out.push(Deprecated {
                kind: ItemKind::Message,
                name: m.full_name.clone(),
                subject: m.full_name.clone(),
                how: how.clone(),
                location: m.location.clone(),
            });
        }
        for f in &m.fields {
            if let Some(how) = &f.deprecated {
                out.push(Deprecated {
                    kind: ItemKind::Field,
                    name: format!("{}.{}", m.full_name, f.name),
                    subject: m.full_name.clone(),
                    how: how.clone(),
                    location: f.location.clone(),
                });
            }
        }
    }
    for e in schema.enums.values() {
        if let Some(how) = &e.deprecated {
            out.push(Deprecated {
                kind: ItemKind::Enum,
                name: e.full_name.clone(),
                subject: e.full_name.clone(),
                how: how.clone(),
                location: e.location.clone(),
            });
        }
        for v in &e.values {
            if let Some(how) = &v.deprecated {
                out.push(Deprecated {
                    kind: ItemKind::EnumValue,
                    name: format!("{}.{}", e.full_name, v.name),
                    subject: e.full_name.clone(),
                    how: how.clone(),
                    location: v.location.clone(),
                });
            }
        }
    }
    out
}

/// Releases in order, oldest first, each with its name (`0.23.0`).
#[derive(Debug, Clone, Default)]
pub struct History {
    pub releases: Vec<(String, Schema)>,
}

impl History {
    pub fn new(releases: Vec<(String, Schema)>) -> History {
        History { releases }
    }

    pub fn position(&self, release: &str) -> Option<usize> {
        self.releases.iter().position(|(r, _)| r == release)
    }

    /// What releases `from+1 ..= to` removed while it was deprecated, when it had been so for fewer
    /// than `grace` releases (counted from the first release that marked it, up to the one that
    /// removed it). What was removed without ever being deprecated is the removal rules' finding.
    pub fn grace_findings(
        &self,
        from: usize,
        to: usize,
        grace: usize,
        scope: &Scope,
    ) -> Vec<Finding> {
        let mut out = Vec::new();
        let to = to.min(self.releases.len().saturating_sub(1));
        // What each release marks, once.
        let marked: Vec<HashSet<(ItemKind, String)>> = self
            .releases
            .iter()
            .map(|(_, s)| {
                deprecated(s)
                    .into_iter()
                    .map(|d| (d.kind, d.name))
                    .collect()
            })
            .collect();
        for removed_in in from + 1..=to {
            let (_, before) = &self.releases[removed_in - 1];
            let (release, after) = &self.releases[removed_in];
            let in_scope = scope.resolve(before, after);
            let moves = Moves::find(before, after);
            for item in deprecated(before) {
                if in_scope
                    .as_ref()
                    .is_some_and(|s| !s.contains(&item.subject))
                {
                    continue;
                }
                if present(after, &moves, &item) {
                    continue;
                }
                let since = deprecated_since(&marked, removed_in - 1, &item);
                let kept = removed_in - since;
                if kept >= grace {
                    continue;
                }
                let (since_release, _) = &self.releases[since];
                let plural = if kept == 1 { "" } else { "s" };
                let kind = match item.kind {
                    ItemKind::Message => "message",
                    ItemKind::Field => "field",
                    ItemKind::Enum => "enum",
                    ItemKind::EnumValue => "value",
                };
                out.push(
                    Finding::new(
                        Rule::DeprecationGrace,
                        Severity::Breaking,
                        Severity::Breaking,
                        &item.subject,
                        format!(
                            "{kind} `{}` removed in {release} after {kept} release{plural} \
                             deprecated (since {since_release}, {}); the grace period is {grace}",
                            item.name,
                            describe(&item.how)
                        ),
                    )
                    .at(Some(&item.location), holder(after, &moves, &item)),
                );
            }
        }
        out.sort_by(Finding::importance_order);
        out
    }
}

/// The first release of the unbroken run of releases ending at `at` that mark `item` deprecated
/// (by its name: a move between packages ends the run).
fn deprecated_since(marked: &[HashSet<(ItemKind, String)>], at: usize, item: &Deprecated) -> usize {
    let key = (item.kind, item.name.clone());
    let mut since = at;
    while since > 0 && marked[since - 1].contains(&key) {
        since -= 1;
    }
    since
}

/// Where the new release has what held the item (its message or enum), if it still does.
fn holder<'a>(schema: &'a Schema, moves: &Moves, item: &Deprecated) -> Option<&'a Location> {
    let subject = moves.new_name(&item.subject).unwrap_or(&item.subject);
    let parent = match item.kind {
        ItemKind::Field | ItemKind::EnumValue => subject,
        ItemKind::Message | ItemKind::Enum => subject.rsplit_once('.').map_or("", |(p, _)| p),
    };
    schema
        .messages
        .get(parent)
        .map(|m| &m.location)
        .or_else(|| schema.enums.get(parent).map(|e| &e.location))
}

/// Whether `schema` still has the item (under a moved name too).
fn present(schema: &Schema, moves: &Moves, item: &Deprecated) -> bool {
    let subject = moves.new_name(&item.subject).unwrap_or(&item.subject);
    let leaf = item.name.rsplit('.').next().unwrap_or_default();
    match item.kind {
        ItemKind::Message => schema.messages.contains_key(subject),
        ItemKind::Enum => schema.enums.contains_key(subject),
        ItemKind::Field => schema
            .messages
            .get(subject)
            .is_some_and(|m| m.field_by_name(leaf).is_some()),
        ItemKind::EnumValue => schema
            .enums
            .get(subject)
            .is_some_and(|e| e.values.iter().any(|v| v.name == leaf)),
    }
}
