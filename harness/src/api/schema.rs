//! A release's API as the compatibility rules need it: what is named, numbered and typed, and where.
//! Normalised from the parser's descriptors so that the rules never read descriptor paths or options.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

/// Where an element is defined: the file on disk (as the caller named its folder), its import name,
/// and a 1-based line and column.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Location {
    pub path: PathBuf,
    /// The name other files import it by (e.g. `mesos/v1/mesos.proto`).
    pub name: String,
    pub line: u32,
    pub column: u32,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.path.display(), self.line, self.column)
    }
}

/// One release's API: every message, enum and service of its files, by full name
/// (`mesos.v1.scheduler.Call`, nested ones as `mesos.v1.scheduler.Call.Type`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Schema {
    /// What the schema was loaded from (the folder, as given), for messages.
    pub origin: String,
    /// The files' import names, in the order they were loaded.
    pub files: Vec<String>,
    pub messages: BTreeMap<String, Message>,
    pub enums: BTreeMap<String, Enum>,
    pub services: BTreeMap<String, Service>,
}

impl Schema {
    /// The packages that define at least one message, enum or service.
    pub fn packages(&self) -> Vec<&str> {
        let mut p: Vec<&str> = self
            .messages
            .values()
            .map(|m| m.package.as_str())
            .chain(self.enums.values().map(|e| e.package.as_str()))
            .chain(self.services.values().map(|s| s.package.as_str()))
            .collect();
        p.sort_unstable();
        p.dedup();
        p
    }
}

/// How an element was marked deprecated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "by", content = "text")]
pub enum Deprecation {
    /// `[deprecated = true]` (or `option deprecated = true;`): what protoc itself knows.
    Option,
    /// The element's own comment (the one protoc attaches: just above it with no blank line
    /// between, or after it on its line) says "deprecated": how Mesos announces most
    /// deprecations. The comment's text is kept so that a reader can judge it.
    Comment(String),
}

#[derive(Debug, Clone, Serialize)]
pub struct Message {
    pub full_name: String,
    pub package: String,
    pub location: Location,
    pub deprecated: Option<Deprecation>,
    /// In declaration order.
    pub fields: Vec<Field>,
    /// A `map<K, V>` field's generated entry type: compared through its field, never on its own.
    pub map_entry: bool,
    /// Field numbers given up with `reserved` (inclusive ranges).
    pub reserved_numbers: Vec<(i32, i32)>,
    pub reserved_names: Vec<String>,
}

impl Message {
    /// The name below the package (`Call.Accept` in `mesos.v1.scheduler`).
    pub fn relative_name(&self) -> &str {
        relative(&self.full_name, &self.package)
    }

    pub fn field_by_number(&self, number: i32) -> Option<&Field> {
        self.fields.iter().find(|f| f.number == number)
    }

    pub fn field_by_name(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    pub fn reserves_number(&self, number: i32) -> bool {
        self.reserved_numbers
            .iter()
            .any(|&(lo, hi)| (lo..=hi).contains(&number))
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Field {
    pub name: String,
    pub number: i32,
    pub label: Label,
    pub ty: FieldType,
    /// The key of this field in the JSON mapping (protoc's lowerCamelCase, or an explicit
    /// `json_name`).
    pub json_name: String,
    /// A proto2 `default`, as written.
    pub default: Option<String>,
    /// The `oneof` it belongs to, if any.
    pub oneof: Option<String>,
    pub deprecated: Option<Deprecation>,
    pub location: Location,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Label {
    Optional,
    Required,
    Repeated,
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Label::Optional => "optional",
            Label::Required => "required",
            Label::Repeated => "repeated",
        })
    }
}

/// A field's type; named types carry their full name without the leading dot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "name")]
pub enum FieldType {
    Double,
    Float,
    Int32,
    Int64,
    Uint32,
    Uint64,
    Sint32,
    Sint64,
    Fixed32,
    Fixed64,
    Sfixed32,
    Sfixed64,
    Bool,
    String,
    Bytes,
    Message(String),
    Group(String),
    Enum(String),
}

impl FieldType {
    /// The message or enum it names, if any.
    pub fn named(&self) -> Option<&str> {
        match self {
            FieldType::Message(n) | FieldType::Group(n) | FieldType::Enum(n) => Some(n),
            _ => None,
        }
    }

    /// Whether repeated values of this type may be packed, i.e. it is a scalar number.
    pub fn is_scalar_number(&self) -> bool {
        !matches!(
            self,
            FieldType::String | FieldType::Bytes | FieldType::Message(_) | FieldType::Group(_)
        )
    }
}

impl fmt::Display for FieldType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            FieldType::Double => "double",
            FieldType::Float => "float",
            FieldType::Int32 => "int32",
            FieldType::Int64 => "int64",
            FieldType::Uint32 => "uint32",
            FieldType::Uint64 => "uint64",
            FieldType::Sint32 => "sint32",
            FieldType::Sint64 => "sint64",
            FieldType::Fixed32 => "fixed32",
            FieldType::Fixed64 => "fixed64",
            FieldType::Sfixed32 => "sfixed32",
            FieldType::Sfixed64 => "sfixed64",
            FieldType::Bool => "bool",
            FieldType::String => "string",
            FieldType::Bytes => "bytes",
            FieldType::Message(n) | FieldType::Enum(n) => n,
            FieldType::Group(n) => return write!(f, "group {n}"),
        };
        f.write_str(s)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Enum {
    pub full_name: String,
    pub package: String,
    pub location: Location,
    pub deprecated: Option<Deprecation>,
    pub values: Vec<EnumValue>,
}

impl Enum {
    pub fn relative_name(&self) -> &str {
        relative(&self.full_name, &self.package)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct EnumValue {
    pub name: String,
    pub number: i32,
    pub deprecated: Option<Deprecation>,
    pub location: Location,
}

#[derive(Debug, Clone, Serialize)]
pub struct Service {
    pub full_name: String,
    pub package: String,
    pub location: Location,
    pub deprecated: Option<Deprecation>,
    pub methods: Vec<Method>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Method {
    pub name: String,
    pub input: String,
    pub output: String,
    pub client_streaming: bool,
    pub server_streaming: bool,
    pub deprecated: Option<Deprecation>,
    pub location: Location,
}

fn relative<'a>(full: &'a str, package: &str) -> &'a str {
    if package.is_empty() {
        return full;
    }
    full.strip_prefix(package)
        .and_then(|r| r.strip_prefix('.'))
        .unwrap_or(full)
}
