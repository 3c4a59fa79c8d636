//! Which part of an API a caller asks about: an interface between two roles is a list of messages
//! (the scheduler's `Call` and `Event`), and a change matters to it when it is in one of them or in
//! a type they reach.

use std::collections::{BTreeSet, VecDeque};

use super::schema::Schema;

/// The messages, enums and services a diff reports on.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// Full names or packages; empty means everything.
    names: Vec<String>,
    reachable: bool,
}

impl Scope {
    /// The whole API.
    pub fn all() -> Scope {
        Scope::default()
    }

    /// What is named (a message, enum or service by full name, with what is nested in it), or what
    /// a package holds: `mesos.v1.scheduler.Call`, `mesos.internal`. A name matches itself and the
    /// names below it, so `mesos` matches `mesos.v1` too.
    pub fn names(names: impl IntoIterator<Item = impl Into<String>>) -> Scope {
        Scope {
            names: names.into_iter().map(Into::into).collect(),
            reachable: false,
        }
    }

    /// Also every message and enum that a field (or a method) of what is named reaches, in either
    /// release: a removed field of `TaskInfo` breaks the scheduler's `Call` that carries it.
    pub fn with_reachable(mut self) -> Scope {
        self.reachable = true;
        self
    }

    pub fn is_all(&self) -> bool {
        self.names.is_empty()
    }

    /// The full names in scope between two releases, or `None` for all of them.
    pub(crate) fn resolve(&self, old: &Schema, new: &Schema) -> Option<BTreeSet<String>> {
        if self.is_all() {
            return None;
        }
        let mut set: BTreeSet<String> = BTreeSet::new();
        for schema in [old, new] {
            let names = schema
                .messages
                .keys()
                .chain(schema.enums.keys())
                .chain(schema.services.keys());
            set.extend(names.filter(|n| self.matches(n)).cloned());
        }
        if self.reachable {
            let mut queue: VecDeque<String> = set.iter().cloned().collect();
            while let Some(name) = queue.pop_front() {
                for schema in [old, new] {
                    let mut reached: Vec<&str> = Vec::new();
                    if let Some(m) = schema.messages.get(&name) {
                        reached.extend(m.fields.iter().filter_map(|f| f.ty.named()));
                    }
                    if let Some(s) = schema.services.get(&name) {
                        for m in &s.methods {
                            reached.push(&m.input);
                            reached.push(&m.output);
                        }
                    }
                    for r in reached {
                        if set.insert(r.to_string()) {
                            queue.push_back(r.to_string());
                        }
                    }
                }
            }
        }
        Some(set)
    }

    fn matches(&self, full_name: &str) -> bool {
        self.names.iter().any(|n| {
            full_name == n
                || full_name
                    .strip_prefix(n.as_str())
                    .is_some_and(|rest| rest.starts_with('.'))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_matches_itself_and_what_is_below_it() {
        let s = Scope::names(["mesos.v1.scheduler.Call"]);
        assert!(s.matches("mesos.v1.scheduler.Call"));
        assert!(s.matches("mesos.v1.scheduler.Call.Type"));
        assert!(!s.matches("mesos.v1.scheduler.CallX"));
        assert!(!s.matches("mesos.v1.scheduler"));
    }
}
