//! Loading one `[[step]]` (or `[[each_state]]`) table: `do` picks the kind; `do`, `when` and
//! `timeout`, which every step takes, are read here; the rest of the table is the kind's own `Raw`
//! struct, read by serde with positions. A key the kind does not take is pointed at with the keys it
//! does take; everything a kind's `load` finds wrong goes to the same list of errors, so one pass
//! reports every problem of every step.

use std::collections::HashSet;
use std::ops::Range;
use std::time::Duration;

use serde::de::{Deserializer, Error as _, Visitor};
use toml::de::{DeTable, DeValue, ValueDeserializer};
use toml::Spanned;

use super::expect::{Expect, NumOp, RawExpect};
use super::replica::{ActionRef, ExpectedExit, RawExits, ReplicaSel};
use super::{Kind, ScenarioStep, StepSpec, KINDS};
use crate::model::{keys, Condition, Loader, Release, Role, ScenarioKind, REGEX_HINT};

/// A kind's loader: the step's table without `do`, `when` and `timeout`.
pub(super) type LoadFn = for<'i> fn(Spanned<DeTable<'i>>, &mut StepCx<'_, '_>) -> Option<StepSpec>;

/// What the loader knows of a kind; [`super::KINDS`] lists one per kind, in the order the "unknown
/// step" hint names them.
pub(super) struct KindEntry {
    /// Its `do` names.
    pub names: &'static [&'static str],
    /// Its keys (beside the common ones).
    pub keys: fn() -> &'static [&'static str],
    pub load: LoadFn,
}

/// The keys every step takes.
const COMMON_KEYS: [&str; 3] = ["do", "when", "timeout"];

/// What the steps of one scenario file share while they load.
pub(crate) struct ScenarioCx<'a> {
    pub l: Loader<'a>,
    pub roles: &'a [Role],
    pub services: &'a [Role],
    pub releases: &'a [Release],
    pub kind: ScenarioKind,
    /// Workloads started by the steps so far (a `stop-workload` must name one).
    pub workloads: HashSet<String>,
    /// The workload that records the scenario's history, if one does (there is one file for it).
    pub history: Option<String>,
    /// Loading the `[[each_state]]` steps, which run in every intermediate state of a path.
    pub in_each_state: bool,
    /// Faults the steps so far leave in effect (a `resume` or `heal` must undo one).
    pub faults: Vec<super::OpenFault>,
}

/// One step being loaded: the scenario's context, the step's `do` as written, and its table's
/// position (for what is missing from it).
pub(crate) struct StepCx<'s, 'a> {
    pub sc: &'s mut ScenarioCx<'a>,
    /// `do` as written (`upgrade` or `downgrade`, `run` or `check`).
    pub what: String,
    pub span: Range<usize>,
}

/// Loads a step table; `None` when it has errors (they are recorded in `sc`).
pub(crate) fn load_step(
    value: Spanned<DeValue<'_>>,
    sc: &mut ScenarioCx<'_>,
) -> Option<ScenarioStep> {
    let span = value.span();
    let (line, _) = sc.l.file.line_col(span.start);
    let origin = format!("{}:{line}", sc.l.file.name);
    // The step as written, for the scenario files a generated or shrunk plan is written as.
    let source =
        <toml::Table as serde::Deserialize>::deserialize(ValueDeserializer::from(value.clone()))
            .unwrap_or_default();
    let DeValue::Table(mut table) = value.into_inner() else {
        sc.l.err(
            span,
            "a step is a table",
            "write [[step]] followed by `do = \"…\"` and the step's keys",
        );
        return None;
    };
    let Some(what) = table.remove("do") else {
        sc.l.err(
            span,
            "a step needs `do`",
            format!("steps are: {}", all_names().join(", ")),
        );
        return None;
    };
    let what_span = what.span();
    let Some(what) = what.get_ref().as_str().map(str::to_string) else {
        sc.l.err(
            what_span,
            "`do` is a step name",
            format!(
                "write e.g. `do = \"start\"`; steps are: {}",
                all_names().join(", ")
            ),
        );
        return None;
    };
    let Some(kind) = KINDS.iter().find(|k| k.names.contains(&what.as_str())) else {
        sc.l.err(
            what_span,
            format!("unknown step `{what}`"),
            format!("steps are: {}", all_names().join(", ")),
        );
        return None;
    };
    let when = table.remove("when").and_then(|w| {
        let text = string(&w, sc, "when")?;
        let parsed = Condition::parse(&text, &sc.role_names(), sc.releases);
        parsed
            .map_err(|e| sc.l.err(w.span(), e.to_string(), e.hint()))
            .ok()
    });
    let timeout = table.remove("timeout").and_then(|t| {
        let text = string(&t, sc, "timeout")?;
        Some(sc.l.duration(&Some(Spanned::new(t.span(), text)), Duration::ZERO))
    });

    // Keys the kind does not take: all of them pointed at, with what the kind does take.
    let own = (kind.keys)();
    let stray: Vec<(String, Range<usize>)> = table
        .iter()
        .filter(|(k, _)| !own.contains(&k.get_ref().as_ref()))
        .map(|(k, v)| (k.get_ref().to_string(), v.span()))
        .collect();
    for (key, at) in &stray {
        let message = if all_keys().contains(&key.as_str()) {
            format!("`{key}` does not apply to a `{what}` step")
        } else {
            format!("unknown key `{key}` in a `{what}` step")
        };
        let takes: Vec<&str> = own
            .iter()
            .copied()
            .chain(COMMON_KEYS)
            .filter(|k| *k != "do")
            .collect();
        sc.l.err(
            at.clone(),
            message,
            format!("a `{what}` step takes: {}", takes.join(", ")),
        );
        table.remove(key.as_str());
    }
    let mut cx = StepCx {
        sc,
        what,
        span: span.clone(),
    };
    let spec = (kind.load)(Spanned::new(span, table), &mut cx)?;
    Some(ScenarioStep {
        spec,
        when,
        timeout,
        origin,
        source,
    })
}

/// Reads a kind's `Raw` struct from its table, then lets the kind validate it.
pub(super) fn read<K: Kind>(table: Spanned<DeTable<'_>>, cx: &mut StepCx<'_, '_>) -> Option<K> {
    let span = table.span();
    let value = Spanned::new(span.clone(), DeValue::Table(table.into_inner()));
    match <K::Raw as serde::Deserialize>::deserialize(ValueDeserializer::from(value)) {
        Ok(raw) => K::load(raw, cx),
        Err(e) => {
            let at = e.span().unwrap_or(span);
            let message = e.message().trim().to_string();
            let help = crate::model::toml_hint(&message);
            cx.sc.l.err(at, message, help);
            None
        }
    }
}

/// Every `do` name, in [`KINDS`] order.
fn all_names() -> Vec<&'static str> {
    KINDS.iter().flat_map(|k| k.names.iter().copied()).collect()
}

/// Every key some kind takes.
fn all_keys() -> Vec<&'static str> {
    KINDS
        .iter()
        .flat_map(|k| (k.keys)().iter().copied())
        .collect()
}

fn string(v: &Spanned<DeValue<'_>>, sc: &mut ScenarioCx<'_>, key: &str) -> Option<String> {
    match v.get_ref().as_str() {
        Some(s) => Some(s.to_string()),
        None => {
            sc.l.err(
                v.span(),
                format!("`{key}` must be a string"),
                "quote it: `\"…\"`",
            );
            None
        }
    }
}

/// The field names serde's derive gives a kind's `Raw` struct: its keys, from the one place they
/// are written. Read by asking the struct to deserialize from a deserializer that only records what
/// `deserialize_struct` is told.
pub(super) fn keys_of<K: Kind>() -> &'static [&'static str] {
    struct Probe<'a>(&'a mut &'static [&'static str]);
    impl<'de> Deserializer<'de> for Probe<'_> {
        type Error = serde::de::value::Error;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(Self::Error::custom("not a struct"))
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Self::Error> {
            *self.0 = fields;
            Err(Self::Error::custom("probed"))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
            option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
            ignored_any
        }
    }
    let mut fields: &'static [&'static str] = &[];
    let _ = <K::Raw as serde::Deserialize>::deserialize(Probe(&mut fields));
    fields
}

impl ScenarioCx<'_> {
    pub(crate) fn role_names(&self) -> Vec<&str> {
        self.roles
            .iter()
            .chain(self.services)
            .map(|r| r.name.as_str())
            .collect()
    }
}

impl<'a> StepCx<'_, 'a> {
    /// An error at `span` and what would be accepted there.
    pub(crate) fn err(
        &mut self,
        span: Range<usize>,
        msg: impl Into<String>,
        help: impl Into<String>,
    ) {
        self.sc.l.err(span, msg, help);
    }

    /// `a `upgrade` step needs `role``, at the step.
    pub(crate) fn missing(&mut self, key: &str) {
        let msg = format!("a `{}` step needs `{key}`", self.what);
        let help = format!("add `{key} = …` to this step (the README lists each step's keys)");
        self.sc.l.err(self.span.clone(), msg, help);
    }

    /// A required key: its value, or an error at the step.
    pub(crate) fn required<T>(&mut self, v: Option<T>, key: &str) -> Option<T> {
        if v.is_none() {
            self.missing(key);
        }
        v
    }

    pub(crate) fn scenario_kind(&self) -> ScenarioKind {
        self.sc.kind
    }

    /// A release of the system.
    pub(crate) fn release(&mut self, s: &Spanned<String>) -> Option<Release> {
        let releases = self.sc.releases;
        self.sc.l.release(s, releases)
    }

    /// A duration; an error is recorded and `ZERO` returned when it is bad.
    pub(crate) fn duration(&mut self, s: &Spanned<String>) -> Duration {
        self.sc.l.duration(&Some(s.clone()), Duration::ZERO)
    }

    /// A role or service by name.
    pub(crate) fn role(&mut self, s: &Spanned<String>) -> Option<&'a Role> {
        let found = self
            .sc
            .roles
            .iter()
            .chain(self.sc.services)
            .find(|r| &r.name == s.get_ref());
        if found.is_none() {
            let names = self.sc.role_names().join(", ");
            self.sc.l.err(
                s.span(),
                format!("unknown role `{}`", s.get_ref()),
                format!("roles are: {names}"),
            );
        }
        found
    }

    /// A role or service known to exist (named by a reference already checked).
    pub(crate) fn known_role(&self, name: &str) -> Option<&'a Role> {
        self.sc
            .roles
            .iter()
            .chain(self.sc.services)
            .find(|r| r.name == name)
    }

    /// The role a step moves, restarts or stops: required, and named in the step.
    pub(crate) fn role_key(&mut self, s: &Option<Spanned<String>>) -> Option<&'a Role> {
        match s {
            Some(r) => self.role(r),
            None => {
                self.missing("role");
                None
            }
        }
    }

    /// `ROLE.ACTION`.
    pub(crate) fn action_ref(&mut self, s: &Spanned<String>) -> Option<ActionRef> {
        let Some((role, action)) = s.get_ref().split_once('.') else {
            self.err(
                s.span(),
                format!("`{}` does not name an action", s.get_ref()),
                "write ROLE.ACTION, e.g. `master.health`",
            );
            return None;
        };
        let r = self.role(&Spanned::new(s.span(), role.to_string()))?;
        if !r.actions.contains_key(action) {
            let known = keys(&r.actions);
            self.err(
                s.span(),
                format!("role `{role}` has no action `{action}`"),
                format!("its actions are: {known}"),
            );
            return None;
        }
        Some(ActionRef {
            role: role.into(),
            action: action.into(),
        })
    }

    /// `replica`: an index, `"leader"` or `"all"` (the default).
    pub(crate) fn replica(
        &mut self,
        v: &Option<Spanned<toml::Value>>,
        role: Option<&Role>,
    ) -> ReplicaSel {
        let Some(v) = v else {
            return ReplicaSel::All;
        };
        match v.get_ref() {
            toml::Value::String(s) if s == "leader" => {
                if let Some(r) = role {
                    if r.leader.is_none() {
                        self.err(
                            v.span(),
                            format!("role `{}` does not say how to find its leader", r.name),
                            "add `leader = { action = \"NAME\", pointer = \"/leader\" }` to the role",
                        );
                    }
                }
                ReplicaSel::Leader
            }
            toml::Value::String(s) if s == "all" => ReplicaSel::All,
            toml::Value::Integer(i) => {
                let max = role.map_or(u32::MAX, |r| r.replicas);
                if *i < 0 || *i >= max as i64 {
                    self.err(
                        v.span(),
                        format!("replica {i} does not exist (the role has {max})"),
                        format!("replicas are numbered from 0 to {}", max.saturating_sub(1)),
                    );
                }
                ReplicaSel::Index((*i).max(0) as u32)
            }
            _ => {
                self.err(
                    v.span(),
                    "`replica` is an index, \"leader\" or \"all\"",
                    "write e.g. `replica = 0` or `replica = \"leader\"`",
                );
                ReplicaSel::All
            }
        }
    }

    /// `exits`: a replica of a role (not a service: services are not the system under test).
    /// `default`: the replica it names when it names none (the step's own, for `signal`).
    pub(crate) fn exits(
        &mut self,
        x: &Spanned<RawExits>,
        default: Option<(&'a Role, ReplicaSel)>,
    ) -> Option<Box<ExpectedExit>> {
        let r = x.get_ref();
        let role = match (&r.role, &default) {
            (Some(name), _) => self.role(name)?,
            (None, Some((role, _))) => *role,
            (None, None) => {
                self.err(
                    x.span(),
                    "`exits` needs `role`",
                    "write e.g. `exits = { role = \"agent\", replica = 0 }`",
                );
                return None;
            }
        };
        if role.fixed_release.is_some() {
            let span = r.role.as_ref().map_or(x.span(), |s| s.span());
            self.err(
                span,
                format!(
                    "`{}` is a service: only a role's replica can be expected to exit",
                    role.name
                ),
                "name a [roles.NAME] in `exits`",
            );
            return None;
        }
        let named = self.replica(&r.replica, Some(role));
        let replica = match (named, &r.replica, &default) {
            (ReplicaSel::Index(i), Some(_), _) => i,
            (ReplicaSel::All, None, Some((_, ReplicaSel::Index(i)))) if r.role.is_none() => *i,
            (ReplicaSel::All, None, _) if role.replicas == 1 => 0,
            _ => {
                let span = r.replica.as_ref().map_or(x.span(), |v| v.span());
                self.err(
                    span,
                    "`exits` names one replica by its index",
                    "write e.g. `replica = 0`",
                );
                return None;
            }
        };
        Some(Box::new(ExpectedExit {
            role: role.name.clone(),
            replica,
            code: r.code,
        }))
    }

    /// What an action's result must show.
    pub(crate) fn expect(&mut self, e: &Spanned<RawExpect>) -> Expect {
        let r = e.get_ref();
        let matches = r.matches.as_ref().and_then(|m| {
            regex::Regex::new(m.get_ref())
                .map_err(|err| self.err(m.span(), format!("bad regex: {err}"), REGEX_HINT))
                .ok()
        });
        if let Some(p) = &r.pointer {
            if !p.get_ref().is_empty() && !p.get_ref().starts_with('/') {
                self.err(
                    p.span(),
                    "a JSON pointer starts with `/`",
                    "write e.g. `pointer = \"/leader\"` (RFC 6901)",
                );
            }
        }
        let has_value_check = r.equals.is_some()
            || r.gt.is_some()
            || r.ge.is_some()
            || r.lt.is_some()
            || r.le.is_some();
        if r.pointer.is_some() && !has_value_check {
            self.err(
                e.span(),
                "`pointer` needs `equals` or a comparison",
                "add `equals = …` or one of gt, ge, lt, le",
            );
        }
        let status = r.status.as_ref().map(|s| {
            if !(100..=599).contains(s.get_ref()) {
                self.err(
                    s.span(),
                    "an HTTP status is between 100 and 599",
                    "write e.g. `status = 200`",
                );
            }
            *s.get_ref() as u16
        });
        let compare = [
            (NumOp::Gt, r.gt),
            (NumOp::Ge, r.ge),
            (NumOp::Lt, r.lt),
            (NumOp::Le, r.le),
        ]
        .into_iter()
        .filter_map(|(op, v)| v.map(|v| (op, v)))
        .collect();
        Expect {
            exit: r.exit,
            status,
            contains: r.contains.clone(),
            not_contains: r.not_contains.clone(),
            matches,
            pointer: r.pointer.as_ref().map(|p| p.get_ref().clone()),
            equals: r
                .equals
                .as_ref()
                .map(|v| serde_json::to_value(v).unwrap_or(serde_json::Value::Null)),
            compare,
        }
    }
}
