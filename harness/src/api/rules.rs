//! The compatibility rules between an old and a new release, at the wire level (numbers and wire
//! types) and at the JSON-mapping level (names), after Mesos's policy: "API compatibility is
//! determined by the corresponding protobuf guarantees". Adding optional fields, calls, events and
//! values is compatible; adding required fields and renaming or removing fields, messages, calls and
//! events is not.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::finding::{Finding, Rule, Severity};
use super::schema::{Deprecation, Enum, Field, FieldType, Label, Location, Message, Schema};
use super::scope::Scope;

use Severity::{Breaking, Compatible, Risky};

/// Every finding between `old` and `new` within `scope`, most important first.
pub fn diff(old: &Schema, new: &Schema, scope: &Scope) -> Vec<Finding> {
    let in_scope = scope.resolve(old, new);
    let wanted = |name: &str| in_scope.as_ref().is_none_or(|s| s.contains(name));
    let moves = Moves::find(old, new);
    let mut d = Diff {
        old,
        new,
        moves: &moves,
        out: Vec::new(),
    };
    d.package_moves(&wanted);
    for (name, m) in &old.messages {
        if m.map_entry || !wanted(name) {
            continue;
        }
        match moves.new_name(name).and_then(|n| new.messages.get(n)) {
            Some(n) => d.message(m, n),
            None => d.message_removed(m),
        }
    }
    for (name, m) in &new.messages {
        if m.map_entry || !wanted(name) || moves.is_target(name) || old.messages.contains_key(name)
        {
            continue;
        }
        // Only the outermost added message: what it nests comes with it.
        if parent(name)
            .is_some_and(|p| new.messages.contains_key(p) && !old.messages.contains_key(p))
        {
            continue;
        }
        d.out.push(
            Finding::new(
                Rule::MessageAdded,
                Compatible,
                Compatible,
                name,
                format!("message `{name}` added"),
            )
            .at(d.old_parent(name), Some(&m.location)),
        );
    }
    for (name, e) in &old.enums {
        if !wanted(name) {
            continue;
        }
        match moves.new_name(name).and_then(|n| new.enums.get(n)) {
            Some(n) => d.enumeration(e, n),
            None => {
                let kind = if is_calls(name) || is_events(name) {
                    "enum (of calls or events)"
                } else {
                    "enum"
                };
                d.out.push(
                    Finding::new(
                        Rule::EnumRemoved,
                        Breaking,
                        Breaking,
                        name,
                        format!("{kind} `{name}` removed{}", deprecated_note(&e.deprecated)),
                    )
                    .at(Some(&e.location), d.new_parent(name)),
                )
            }
        }
    }
    for (name, e) in &new.enums {
        if !wanted(name) || moves.is_target(name) || old.enums.contains_key(name) {
            continue;
        }
        if parent(name)
            .is_some_and(|p| new.messages.contains_key(p) && !old.messages.contains_key(p))
        {
            continue;
        }
        d.out.push(
            Finding::new(
                Rule::EnumAdded,
                Compatible,
                Compatible,
                name,
                format!("enum `{name}` added"),
            )
            .at(d.old_parent(name), Some(&e.location)),
        );
    }
    d.services(&wanted);
    let mut out = d.out;
    out.sort_by(Finding::importance_order);
    out
}

/// Messages and enums whose package changed: gone from the old package, there under the same name
/// (below the package) in a package of the new release, and only there.
#[derive(Debug, Default)]
pub(crate) struct Moves {
    /// Old full name → new full name.
    to: HashMap<String, String>,
    targets: BTreeSet<String>,
    /// (old package, new package) → how many names moved.
    packages: BTreeMap<(String, String), usize>,
}

impl Moves {
    pub(crate) fn find(old: &Schema, new: &Schema) -> Moves {
        let mut moves = Moves::default();
        let mut candidates: HashMap<&str, Vec<(&str, &str)>> = HashMap::new();
        for m in new.messages.values() {
            if !old.messages.contains_key(&m.full_name) {
                candidates
                    .entry(m.relative_name())
                    .or_default()
                    .push((&m.full_name, &m.package));
            }
        }
        for e in new.enums.values() {
            if !old.enums.contains_key(&e.full_name) {
                candidates
                    .entry(e.relative_name())
                    .or_default()
                    .push((&e.full_name, &e.package));
            }
        }
        let gone = old
            .messages
            .values()
            .filter(|m| !new.messages.contains_key(&m.full_name))
            .map(|m| (&m.full_name, m.relative_name(), &m.package))
            .chain(
                old.enums
                    .values()
                    .filter(|e| !new.enums.contains_key(&e.full_name))
                    .map(|e| (&e.full_name, e.relative_name(), &e.package)),
            );
        for (full, relative, package) in gone {
            let Some(found) = candidates.get(relative) else {
                continue;
            };
            // The nearest package: the most segments in common, then the shallowest (a `v1` copy
            // of a type is not where the type went).
            let rank = |p: &str| {
                let common = package
                    .split('.')
                    .zip(p.split('.'))
                    .take_while(|(a, b)| a == b)
                    .count();
                (std::cmp::Reverse(common), p.split('.').count())
            };
            let best = found.iter().map(|(_, p)| rank(p)).min();
            let mut nearest = found.iter().filter(|(_, p)| Some(rank(p)) == best);
            if let (Some((to, to_package)), None) = (nearest.next(), nearest.next()) {
                if *to_package != package {
                    moves.to.insert(full.clone(), to.to_string());
                    moves.targets.insert(to.to_string());
                    *moves
                        .packages
                        .entry((package.clone(), to_package.to_string()))
                        .or_default() += 1;
                }
            }
        }
        moves
    }

    /// The name in the new release of what the old release calls `name`.
    pub(crate) fn new_name<'a>(&'a self, name: &'a str) -> Option<&'a str> {
        Some(self.to.get(name).map_or(name, String::as_str))
    }

    fn is_target(&self, name: &str) -> bool {
        self.targets.contains(name)
    }

    /// Whether two type names are the same type, allowing for a move.
    fn same(&self, old: &str, new: &str) -> bool {
        old == new || self.to.get(old).is_some_and(|n| n == new)
    }
}

struct Diff<'a> {
    old: &'a Schema,
    new: &'a Schema,
    moves: &'a Moves,
    out: Vec<Finding>,
}

impl Diff<'_> {
    fn package_moves(&mut self, wanted: &dyn Fn(&str) -> bool) {
        for ((from, to), count) in &self.moves.packages {
            let moved: Vec<&String> = self
                .moves
                .to
                .iter()
                .filter(|(o, n)| {
                    wanted(o)
                        && self.package_of_old(o) == Some(from)
                        && self.package_of_new(n) == Some(to)
                })
                .map(|(o, _)| o)
                .collect();
            let Some(first) = moved.iter().min() else {
                continue;
            };
            let old_loc = self
                .old
                .messages
                .get(*first)
                .map(|m| &m.location)
                .or_else(|| self.old.enums.get(*first).map(|e| &e.location));
            let new_name = self.moves.new_name(first).unwrap_or(first);
            let new_loc = self
                .new
                .messages
                .get(new_name)
                .map(|m| &m.location)
                .or_else(|| self.new.enums.get(new_name).map(|e| &e.location));
            let plural = if *count == 1 { "type" } else { "types" };
            self.out.push(
                Finding::new(
                    Rule::PackageMoved,
                    Risky,
                    Compatible,
                    from,
                    format!(
                        "package `{from}` moved to `{to}` ({count} {plural}, e.g. `{first}`): \
                         the encoding and JSON do not name packages, but type URLs (Any), \
                         service paths and generated code do"
                    ),
                )
                .at(old_loc, new_loc),
            );
        }
    }

    fn package_of_old(&self, name: &str) -> Option<&String> {
        self.old
            .messages
            .get(name)
            .map(|m| &m.package)
            .or_else(|| self.old.enums.get(name).map(|e| &e.package))
    }

    fn package_of_new(&self, name: &str) -> Option<&String> {
        self.new
            .messages
            .get(name)
            .map(|m| &m.package)
            .or_else(|| self.new.enums.get(name).map(|e| &e.package))
    }

    /// Where the new release has what held `name` (its enclosing message), for a removal.
    fn new_parent(&self, name: &str) -> Option<&Location> {
        let p = parent(name)?;
        let p = self.moves.new_name(p).unwrap_or(p);
        self.new.messages.get(p).map(|m| &m.location)
    }

    /// Where the old release had what holds `name` now, for an addition.
    fn old_parent(&self, name: &str) -> Option<&Location> {
        self.old.messages.get(parent(name)?).map(|m| &m.location)
    }

    fn message_removed(&mut self, m: &Message) {
        let name = &m.full_name;
        // Nested messages go with their parent: one finding.
        if parent(name).is_some_and(|p| {
            self.old.messages.contains_key(p)
                && self
                    .moves
                    .new_name(p)
                    .is_none_or(|n| !self.new.messages.contains_key(n))
        }) {
            return;
        }
        self.out.push(
            Finding::new(
                Rule::MessageRemoved,
                Breaking,
                Breaking,
                name,
                format!("message `{name}` removed{}", deprecated_note(&m.deprecated)),
            )
            .at(Some(&m.location), self.new_parent(name)),
        );
    }

    fn message(&mut self, old: &Message, new: &Message) {
        let subject = &new.full_name;
        if old.deprecated.is_none() {
            if let Some(how) = &new.deprecated {
                self.out.push(
                    Finding::new(
                        Rule::DeprecationAdded,
                        Compatible,
                        Compatible,
                        subject,
                        format!("message `{subject}` deprecated ({})", describe(how)),
                    )
                    .at(Some(&old.location), Some(&new.location)),
                );
            }
        }
        for f in &old.fields {
            let by_number = new.field_by_number(f.number);
            let by_name = new.field_by_name(&f.name);
            match (by_name, by_number) {
                (Some(n), _) if n.number == f.number => self.field(subject, f, n),
                (Some(n), reused) => {
                    self.push(
                        Rule::FieldRenumbered,
                        Breaking,
                        Compatible,
                        subject,
                        format!(
                            "`{subject}` field `{}` renumbered {} → {}: old and new encode it \
                             under different numbers (JSON, by name, is unaffected)",
                            f.name, f.number, n.number
                        ),
                        &f.location,
                        &n.location,
                    );
                    if let Some(r) = reused.filter(|r| old.field_by_name(&r.name).is_none()) {
                        self.number_reused(subject, f, r);
                    }
                    self.field(subject, f, n);
                }
                (None, Some(n)) if old.field_by_name(&n.name).is_none() => {
                    if type_change(self.moves, &f.ty, &n.ty).is_none_or(|c| c.wire != Breaking) {
                        self.push(
                            Rule::FieldRenamed,
                            Compatible,
                            Breaking,
                            subject,
                            format!(
                                "`{subject}` field {} renamed `{}` → `{}`: the same on the wire, \
                                 but JSON says `{}` where it said `{}`",
                                f.number, f.name, n.name, n.json_name, f.json_name
                            ),
                            &f.location,
                            &n.location,
                        );
                        self.field(subject, f, n);
                    } else {
                        self.number_reused(subject, f, n);
                    }
                }
                (None, _) => self.field_removed(new, f),
            }
        }
        for n in &new.fields {
            if old.field_by_name(&n.name).is_some() || old.field_by_number(n.number).is_some() {
                continue;
            }
            let (rule, severity, what) = if n.label == Label::Required {
                (
                    Rule::RequiredFieldAdded,
                    Breaking,
                    "required: old writers do not send it, so new readers reject their messages",
                )
            } else {
                (Rule::FieldAdded, Compatible, "old readers skip it")
            };
            self.out.push(
                Finding::new(
                    rule,
                    severity,
                    severity,
                    subject,
                    format!(
                        "`{subject}` field `{}` = {} ({} {}) added, {what}",
                        n.name, n.number, n.label, n.ty
                    ),
                )
                .at(Some(&old.location), Some(&n.location)),
            );
        }
    }

    fn number_reused(&mut self, subject: &str, f: &Field, n: &Field) {
        self.push(
            Rule::NumberReused,
            Breaking,
            Breaking,
            subject,
            format!(
                "`{subject}` field number {} reused: it was `{}` ({} {}), it is `{}` ({} {}); \
                 old data is read as the new field",
                f.number, f.name, f.label, f.ty, n.name, n.label, n.ty
            ),
            &f.location,
            &n.location,
        );
    }

    fn field_removed(&mut self, new: &Message, f: &Field) {
        let subject = &new.full_name;
        let reserved =
            new.reserves_number(f.number) || new.reserved_names.iter().any(|n| n == &f.name);
        let wire = if f.label == Label::Required {
            Breaking
        } else {
            Risky
        };
        let why = if f.label == Label::Required {
            "it was required: old readers reject what new writers send"
        } else if reserved {
            "old writers' values are dropped (its number is reserved)"
        } else {
            "old writers' values are dropped, and its number is free to be reused"
        };
        self.push(
            Rule::FieldRemoved,
            wire,
            Breaking,
            subject,
            format!(
                "`{subject}` field `{}` = {} ({} {}) removed{}: {why}; JSON that names it is \
                 rejected",
                f.name,
                f.number,
                f.label,
                f.ty,
                deprecated_note(&f.deprecated)
            ),
            &f.location,
            &new.location,
        );
    }

    /// The same field (by number, and by name unless renamed) in both releases.
    fn field(&mut self, subject: &str, f: &Field, n: &Field) {
        let (ol, nl) = (&f.location, &n.location);
        if let Some(c) = type_change(self.moves, &f.ty, &n.ty) {
            self.push(
                Rule::TypeChanged,
                c.wire,
                c.json,
                subject,
                format!(
                    "`{subject}` field `{}` type changed {} → {}: {}",
                    n.name, f.ty, n.ty, c.why
                ),
                ol,
                nl,
            );
        }
        if f.label != n.label {
            let (wire, json, why) = label_change(f.label, n.label, &n.ty);
            self.push(
                Rule::LabelChanged,
                wire,
                json,
                subject,
                format!(
                    "`{subject}` field `{}` changed {} → {}: {why}",
                    n.name, f.label, n.label
                ),
                ol,
                nl,
            );
        }
        if f.name == n.name && f.json_name != n.json_name {
            self.push(
                Rule::JsonNameChanged,
                Compatible,
                Breaking,
                subject,
                format!(
                    "`{subject}` field `{}` is `{}` in JSON, was `{}`",
                    n.name, n.json_name, f.json_name
                ),
                ol,
                nl,
            );
        }
        if f.default != n.default && f.ty == n.ty && f.label == n.label {
            let show = |d: &Option<String>| d.clone().unwrap_or_else(|| "none".into());
            self.push(
                Rule::DefaultChanged,
                Risky,
                Risky,
                subject,
                format!(
                    "`{subject}` field `{}` default changed {} → {}: an absent value reads \
                     differently in each release",
                    n.name,
                    show(&f.default),
                    show(&n.default)
                ),
                ol,
                nl,
            );
        }
        if f.oneof != n.oneof {
            let show = |o: &Option<String>| {
                o.as_ref()
                    .map_or("no oneof".to_string(), |o| format!("oneof `{o}`"))
            };
            self.push(
                Rule::OneofChanged,
                Risky,
                Risky,
                subject,
                format!(
                    "`{subject}` field `{}` moved from {} to {}: setting another member now \
                     clears it, in one release and not the other",
                    n.name,
                    show(&f.oneof),
                    show(&n.oneof)
                ),
                ol,
                nl,
            );
        }
        if f.deprecated.is_none() {
            if let Some(how) = &n.deprecated {
                self.push(
                    Rule::DeprecationAdded,
                    Compatible,
                    Compatible,
                    subject,
                    format!(
                        "`{subject}` field `{}` deprecated ({})",
                        n.name,
                        describe(how)
                    ),
                    ol,
                    nl,
                );
            }
        }
    }

    fn enumeration(&mut self, old: &Enum, new: &Enum) {
        let subject = &new.full_name;
        let (removed, renamed, added, what) = if is_calls(subject) {
            (
                Rule::CallRemoved,
                Rule::CallRenamed,
                Rule::CallAdded,
                "call",
            )
        } else if is_events(subject) {
            (
                Rule::EventRemoved,
                Rule::EventRenamed,
                Rule::EventAdded,
                "event",
            )
        } else {
            (
                Rule::EnumValueRemoved,
                Rule::EnumValueRenamed,
                Rule::EnumValueAdded,
                "value",
            )
        };
        if old.deprecated.is_none() {
            if let Some(how) = &new.deprecated {
                self.push(
                    Rule::DeprecationAdded,
                    Compatible,
                    Compatible,
                    subject,
                    format!("enum `{subject}` deprecated ({})", describe(how)),
                    &old.location,
                    &new.location,
                );
            }
        }
        let old_name = |n: &str| old.values.iter().any(|v| v.name == n);
        let new_name = |n: &str| new.values.iter().any(|v| v.name == n);
        for v in &old.values {
            let by_name = new.values.iter().find(|n| n.name == v.name);
            let by_number = new
                .values
                .iter()
                .find(|n| n.number == v.number && !old_name(&n.name));
            match (by_name, by_number) {
                (Some(n), _) => {
                    if n.number != v.number {
                        self.push(
                            Rule::EnumValueRenumbered,
                            Breaking,
                            Compatible,
                            subject,
                            format!(
                                "`{subject}` {what} `{}` renumbered {} → {}: on the wire each \
                                 release reads the other's as another value (JSON, by name, is \
                                 unaffected)",
                                v.name, v.number, n.number
                            ),
                            &v.location,
                            &n.location,
                        );
                    }
                    if v.deprecated.is_none() {
                        if let Some(how) = &n.deprecated {
                            self.push(
                                Rule::DeprecationAdded,
                                Compatible,
                                Compatible,
                                subject,
                                format!(
                                    "`{subject}` {what} `{}` deprecated ({})",
                                    n.name,
                                    describe(how)
                                ),
                                &v.location,
                                &n.location,
                            );
                        }
                    }
                }
                (None, Some(n)) => self.push(
                    renamed,
                    Compatible,
                    Breaking,
                    subject,
                    format!(
                        "`{subject}` {what} {} renamed `{}` → `{}`: the same on the wire, but \
                         JSON names it `{}`",
                        v.number, v.name, n.name, n.name
                    ),
                    &v.location,
                    &n.location,
                ),
                (None, None) => self.push(
                    removed,
                    Breaking,
                    Breaking,
                    subject,
                    format!(
                        "`{subject}` {what} `{}` = {} removed{}: new readers do not know it \
                         (an unknown value: the field reads as unset, a required one fails)",
                        v.name,
                        v.number,
                        deprecated_note(&v.deprecated)
                    ),
                    &v.location,
                    &new.location,
                ),
            }
        }
        for n in &new.values {
            let renamed_to = !old_name(&n.name)
                && old
                    .values
                    .iter()
                    .any(|v| v.number == n.number && !new_name(&v.name));
            if old_name(&n.name) || renamed_to {
                continue;
            }
            self.push(
                added,
                Compatible,
                Compatible,
                subject,
                format!(
                    "`{subject}` {what} `{}` = {} added (old readers see an unknown value)",
                    n.name, n.number
                ),
                &old.location,
                &n.location,
            );
        }
    }

    fn services(&mut self, wanted: &dyn Fn(&str) -> bool) {
        for (name, s) in &self.old.services {
            if !wanted(name) {
                continue;
            }
            let Some(n) = self.new.services.get(name) else {
                self.out.push(
                    Finding::new(
                        Rule::ServiceRemoved,
                        Breaking,
                        Breaking,
                        name,
                        format!("service `{name}` removed"),
                    )
                    .at(Some(&s.location), None),
                );
                continue;
            };
            for m in &s.methods {
                match n.methods.iter().find(|k| k.name == m.name) {
                    None => self.push(
                        Rule::MethodRemoved,
                        Breaking,
                        Breaking,
                        name,
                        format!("`{name}` method `{}` removed", m.name),
                        &m.location,
                        &n.location,
                    ),
                    Some(k) => {
                        let same = self.moves.same(&m.input, &k.input)
                            && self.moves.same(&m.output, &k.output)
                            && m.client_streaming == k.client_streaming
                            && m.server_streaming == k.server_streaming;
                        if !same {
                            self.push(
                                Rule::MethodChanged,
                                Breaking,
                                Breaking,
                                name,
                                format!(
                                    "`{name}` method `{}` changed ({} → {} became {} → {}, or \
                                     its streaming)",
                                    m.name, m.input, m.output, k.input, k.output
                                ),
                                &m.location,
                                &k.location,
                            );
                        }
                    }
                }
            }
            for k in &n.methods {
                if !s.methods.iter().any(|m| m.name == k.name) {
                    self.push(
                        Rule::MethodAdded,
                        Compatible,
                        Compatible,
                        name,
                        format!("`{name}` method `{}` added", k.name),
                        &s.location,
                        &k.location,
                    );
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        rule: Rule,
        wire: Severity,
        json: Severity,
        subject: &str,
        message: String,
        old: &Location,
        new: &Location,
    ) {
        self.out
            .push(Finding::new(rule, wire, json, subject, message).at(Some(old), Some(new)));
    }
}

/// What a type change does, when the types differ.
struct TypeChange {
    wire: Severity,
    json: Severity,
    why: &'static str,
}

/// protobuf's wire-compatible groups (language guide, "Updating a message type"): compatible on the
/// wire, never in JSON (numbers as strings, enums by name, bytes as base64).
fn type_change(moves: &Moves, old: &FieldType, new: &FieldType) -> Option<TypeChange> {
    use FieldType as T;
    let varint = |t: &T| {
        matches!(
            t,
            T::Int32 | T::Int64 | T::Uint32 | T::Uint64 | T::Bool | T::Enum(_)
        )
    };
    let change = |wire, json, why| Some(TypeChange { wire, json, why });
    match (old, new) {
        (a, b) if a == b => None,
        (T::Message(a), T::Message(b)) | (T::Group(a), T::Group(b)) if moves.same(a, b) => None,
        (T::Enum(a), T::Enum(b)) if moves.same(a, b) => None,
        (T::Enum(_), T::Enum(_)) => change(
            Risky,
            Risky,
            "another enum: its numbers and names mean what that enum says",
        ),
        (T::Message(_), T::Message(_)) => change(
            Risky,
            Risky,
            "another message: compatible only as far as their fields are",
        ),
        (a, b) if varint(a) && varint(b) => change(
            Compatible,
            Breaking,
            "both varints, so the wire accepts it (values outside the narrower type are \
             truncated), but JSON writes them differently",
        ),
        (T::Sint32 | T::Sint64, T::Sint32 | T::Sint64) => change(
            Compatible,
            Breaking,
            "both zigzag varints on the wire, written differently in JSON",
        ),
        (T::Fixed32 | T::Sfixed32, T::Fixed32 | T::Sfixed32)
        | (T::Fixed64 | T::Sfixed64, T::Fixed64 | T::Sfixed64) => change(
            Compatible,
            Breaking,
            "the same fixed width on the wire (signedness reinterpreted), not in JSON",
        ),
        (T::String, T::Bytes) | (T::Bytes, T::String) => change(
            Compatible,
            Breaking,
            "both length-delimited on the wire (valid UTF-8 only), but JSON writes bytes as \
             base64",
        ),
        (T::Message(_), T::Bytes) | (T::Bytes, T::Message(_)) => change(
            Compatible,
            Breaking,
            "an embedded message is length-delimited bytes on the wire, but JSON writes an \
             object where it wrote base64",
        ),
        _ => change(
            Breaking,
            Breaking,
            "different wire types: each release drops or misreads the other's value",
        ),
    }
}

fn label_change(old: Label, new: Label, ty: &FieldType) -> (Severity, Severity, &'static str) {
    use Label as L;
    match (old, new) {
        (L::Optional, L::Required) => (
            Breaking,
            Breaking,
            "old writers may leave it out, and new readers then reject the message",
        ),
        (L::Required, L::Optional) => (
            Risky,
            Risky,
            "new writers may leave it out, and old readers then reject the message",
        ),
        (L::Optional, L::Repeated) | (L::Repeated, L::Optional) => (
            Risky,
            Breaking,
            if ty.is_scalar_number() {
                "an old reader keeps only the last value, and a packed list is not read as one \
                 value; JSON writes a list where it wrote a value"
            } else {
                "a singular reader keeps only the last value (messages merge); JSON writes a \
                 list where it wrote a value"
            },
        ),
        _ => (
            Breaking,
            Breaking,
            "a required field and a list: each release rejects or misreads the other's",
        ),
    }
}

/// `Call.Type`: an enum whose values are an API's calls (Mesos's v1 APIs).
pub(crate) fn is_calls(enum_name: &str) -> bool {
    enum_name.ends_with(".Call.Type") || enum_name == "Call.Type"
}

/// `Event.Type`: an enum whose values are an API's events.
pub(crate) fn is_events(enum_name: &str) -> bool {
    enum_name.ends_with(".Event.Type") || enum_name == "Event.Type"
}

/// The name that holds a nested one (`a.B` for `a.B.C`), which for a top-level one is its package.
fn parent(name: &str) -> Option<&str> {
    name.rsplit_once('.').map(|(p, _)| p)
}

fn deprecated_note(d: &Option<Deprecation>) -> String {
    match d {
        Some(how) => format!(" (it was deprecated: {})", describe(how)),
        None => String::new(),
    }
}

pub(crate) fn describe(d: &Deprecation) -> String {
    match d {
        Deprecation::Option => "[deprecated = true]".into(),
        Deprecation::Comment(text) => {
            let short: String = text.chars().take(80).collect();
            if short.len() < text.len() {
                format!("comment: \"{short}…\"")
            } else {
                format!("comment: \"{short}\"")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use FieldType as T;

    fn severities(old: &FieldType, new: &FieldType) -> Option<(Severity, Severity)> {
        type_change(&Moves::default(), old, new).map(|c| (c.wire, c.json))
    }

    #[test]
    fn wire_compatible_type_changes_break_json_only() {
        let wire_ok = Some((Compatible, Breaking));
        assert_eq!(severities(&T::Int32, &T::Int64), wire_ok);
        assert_eq!(severities(&T::Uint64, &T::Bool), wire_ok);
        assert_eq!(severities(&T::Sint32, &T::Sint64), wire_ok);
        assert_eq!(severities(&T::Fixed32, &T::Sfixed32), wire_ok);
        assert_eq!(severities(&T::String, &T::Bytes), wire_ok);
        assert_eq!(severities(&T::Message("a.M".into()), &T::Bytes), wire_ok);
        assert_eq!(severities(&T::Enum("a.E".into()), &T::Int32), wire_ok);
        assert_eq!(severities(&T::Int32, &T::Int32), None);
    }

    #[test]
    fn other_type_changes_break_both() {
        let broken = Some((Breaking, Breaking));
        assert_eq!(
            severities(&T::Int32, &T::Sint32),
            broken,
            "zigzag is another encoding"
        );
        assert_eq!(severities(&T::Fixed32, &T::Fixed64), broken);
        assert_eq!(severities(&T::String, &T::Int64), broken);
        assert_eq!(severities(&T::Double, &T::Float), broken);
        assert_eq!(
            severities(&T::Message("a.M".into()), &T::Message("a.N".into())),
            Some((Risky, Risky))
        );
    }

    #[test]
    fn calls_and_events_are_found_by_their_enum() {
        assert!(is_calls("mesos.v1.scheduler.Call.Type"));
        assert!(is_events("mesos.v1.executor.Event.Type"));
        assert!(!is_calls("mesos.v1.scheduler.Call.Accept"));
        assert!(!is_calls("mesos.v1.RecallType"));
    }
}
