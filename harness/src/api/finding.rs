//! What the rules say: a finding, its severity on the wire and in JSON, and where on both sides.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::schema::Location;

/// How bad a change is for a reader and a writer of different releases. Ordered: the worst is the
/// greatest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Old and new read each other's data as before (an added optional field, an added value).
    Compatible,
    /// Works unless a value or a path that the change touches is used (a value truncated, a
    /// required field that a new writer may now leave out).
    Risky,
    /// An old reader or writer fails, or reads something else, with the new one.
    Breaking,
}

impl Severity {
    pub const ALL: [Severity; 3] = [Severity::Breaking, Severity::Risky, Severity::Compatible];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Compatible => "compatible",
            Severity::Risky => "risky",
            Severity::Breaking => "breaking",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// Each rule the diff applies, by a stable id (`field.renamed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Rule {
    #[serde(rename = "package.moved")]
    PackageMoved,
    #[serde(rename = "message.removed")]
    MessageRemoved,
    #[serde(rename = "message.added")]
    MessageAdded,
    #[serde(rename = "field.removed")]
    FieldRemoved,
    #[serde(rename = "field.added")]
    FieldAdded,
    #[serde(rename = "field.required_added")]
    RequiredFieldAdded,
    #[serde(rename = "field.renamed")]
    FieldRenamed,
    #[serde(rename = "field.json_name_changed")]
    JsonNameChanged,
    #[serde(rename = "field.renumbered")]
    FieldRenumbered,
    #[serde(rename = "field.number_reused")]
    NumberReused,
    #[serde(rename = "field.type_changed")]
    TypeChanged,
    #[serde(rename = "field.label_changed")]
    LabelChanged,
    #[serde(rename = "field.default_changed")]
    DefaultChanged,
    #[serde(rename = "field.oneof_changed")]
    OneofChanged,
    #[serde(rename = "enum.removed")]
    EnumRemoved,
    #[serde(rename = "enum.added")]
    EnumAdded,
    #[serde(rename = "enum_value.removed")]
    EnumValueRemoved,
    #[serde(rename = "enum_value.renamed")]
    EnumValueRenamed,
    #[serde(rename = "enum_value.renumbered")]
    EnumValueRenumbered,
    #[serde(rename = "enum_value.added")]
    EnumValueAdded,
    /// A value of a `Call.Type` enum: a call of the API.
    #[serde(rename = "call.removed")]
    CallRemoved,
    #[serde(rename = "call.renamed")]
    CallRenamed,
    #[serde(rename = "call.added")]
    CallAdded,
    /// A value of an `Event.Type` enum: an event of the API.
    #[serde(rename = "event.removed")]
    EventRemoved,
    #[serde(rename = "event.renamed")]
    EventRenamed,
    #[serde(rename = "event.added")]
    EventAdded,
    #[serde(rename = "service.removed")]
    ServiceRemoved,
    #[serde(rename = "method.removed")]
    MethodRemoved,
    #[serde(rename = "method.changed")]
    MethodChanged,
    #[serde(rename = "method.added")]
    MethodAdded,
    /// Marked deprecated in the new release.
    #[serde(rename = "deprecation.added")]
    DeprecationAdded,
    /// Removed before it had been deprecated for the grace period.
    #[serde(rename = "deprecation.grace")]
    DeprecationGrace,
}

impl Rule {
    pub fn id(self) -> &'static str {
        match self {
            Rule::PackageMoved => "package.moved",
            Rule::MessageRemoved => "message.removed",
            Rule::MessageAdded => "message.added",
            Rule::FieldRemoved => "field.removed",
            Rule::FieldAdded => "field.added",
            Rule::RequiredFieldAdded => "field.required_added",
            Rule::FieldRenamed => "field.renamed",
            Rule::JsonNameChanged => "field.json_name_changed",
            Rule::FieldRenumbered => "field.renumbered",
            Rule::NumberReused => "field.number_reused",
            Rule::TypeChanged => "field.type_changed",
            Rule::LabelChanged => "field.label_changed",
            Rule::DefaultChanged => "field.default_changed",
            Rule::OneofChanged => "field.oneof_changed",
            Rule::EnumRemoved => "enum.removed",
            Rule::EnumAdded => "enum.added",
            Rule::EnumValueRemoved => "enum_value.removed",
            Rule::EnumValueRenamed => "enum_value.renamed",
            Rule::EnumValueRenumbered => "enum_value.renumbered",
            Rule::EnumValueAdded => "enum_value.added",
            Rule::CallRemoved => "call.removed",
            Rule::CallRenamed => "call.renamed",
            Rule::CallAdded => "call.added",
            Rule::EventRemoved => "event.removed",
            Rule::EventRenamed => "event.renamed",
            Rule::EventAdded => "event.added",
            Rule::ServiceRemoved => "service.removed",
            Rule::MethodRemoved => "method.removed",
            Rule::MethodChanged => "method.changed",
            Rule::MethodAdded => "method.added",
            Rule::DeprecationAdded => "deprecation.added",
            Rule::DeprecationGrace => "deprecation.grace",
        }
    }

    /// How much a finding of this rule matters among those of its severity: what a peer sees
    /// first (a removed call before a renamed enum value). Greater is more important.
    pub fn weight(self) -> u8 {
        match self {
            Rule::CallRemoved | Rule::EventRemoved => 100,
            Rule::MessageRemoved | Rule::ServiceRemoved | Rule::MethodRemoved => 90,
            Rule::RequiredFieldAdded => 85,
            Rule::FieldRenumbered | Rule::NumberReused | Rule::EnumValueRenumbered => 80,
            Rule::CallRenamed | Rule::EventRenamed => 75,
            Rule::TypeChanged | Rule::LabelChanged | Rule::MethodChanged => 70,
            Rule::DeprecationGrace => 65,
            Rule::FieldRemoved | Rule::EnumRemoved | Rule::EnumValueRemoved => 60,
            Rule::FieldRenamed | Rule::JsonNameChanged | Rule::EnumValueRenamed => 50,
            Rule::PackageMoved => 45,
            Rule::OneofChanged | Rule::DefaultChanged => 40,
            Rule::DeprecationAdded => 20,
            Rule::CallAdded | Rule::EventAdded | Rule::MethodAdded => 15,
            Rule::MessageAdded | Rule::EnumAdded => 10,
            Rule::FieldAdded | Rule::EnumValueAdded => 5,
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.id())
    }
}

/// One change between two releases and what it does to readers and writers of each.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The worse of [`Finding::wire`] and [`Finding::json`].
    pub severity: Severity,
    pub rule: Rule,
    /// For the binary protobuf encoding (the internal messages, the v0 driver).
    pub wire: Severity,
    /// For the JSON mapping (the v1 HTTP APIs), where names matter and numbers do not.
    pub json: Severity,
    /// The message, enum or service the change is in (full name), which scopes filter by.
    pub subject: String,
    /// What changed, in a sentence.
    pub message: String,
    /// Where it is in the old release: the element itself, or what held it.
    pub old: Option<Location>,
    /// Where it is in the new release: the element itself, or what holds it now.
    pub new: Option<Location>,
}

impl Finding {
    pub(crate) fn new(
        rule: Rule,
        wire: Severity,
        json: Severity,
        subject: impl Into<String>,
        message: impl Into<String>,
    ) -> Finding {
        Finding {
            severity: wire.max(json),
            rule,
            wire,
            json,
            subject: subject.into(),
            message: message.into(),
            old: None,
            new: None,
        }
    }

    pub(crate) fn at(mut self, old: Option<&Location>, new: Option<&Location>) -> Finding {
        self.old = old.cloned();
        self.new = new.cloned();
        self
    }

    /// Most important first: severity, then the rule's weight, then the public v1 API before the
    /// rest, then by name (so that the order is stable).
    pub fn importance_order(a: &Finding, b: &Finding) -> std::cmp::Ordering {
        let public = |f: &Finding| f.subject.contains(".v1.");
        b.severity
            .cmp(&a.severity)
            .then(b.rule.weight().cmp(&a.rule.weight()))
            .then(public(b).cmp(&public(a)))
            .then(a.subject.cmp(&b.subject))
            .then(a.message.cmp(&b.message))
    }
}

/// Counts by severity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub breaking: usize,
    pub risky: usize,
    pub compatible: usize,
}

impl Counts {
    pub fn of(findings: &[Finding]) -> Counts {
        let mut c = Counts::default();
        for f in findings {
            match f.severity {
                Severity::Breaking => c.breaking += 1,
                Severity::Risky => c.risky += 1,
                Severity::Compatible => c.compatible += 1,
            }
        }
        c
    }
}

impl fmt::Display for Counts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} breaking, {} risky, {} compatible",
            self.breaking, self.risky, self.compatible
        )
    }
}
