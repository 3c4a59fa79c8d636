//! Compiled descriptors → [`Schema`]: full names, resolved types, JSON names, deprecations and the
//! line and column of every element (from the descriptors' source info).

use std::collections::HashMap;
use std::path::Path;
use std::sync::LazyLock;

use prost_types::field_descriptor_proto::{Label as PLabel, Type};
use prost_types::source_code_info::Location as PLocation;
use prost_types::{
    DescriptorProto, EnumDescriptorProto, FieldDescriptorProto, FileDescriptorProto,
    UninterpretedOption,
};
use regex::Regex;

use super::schema::{
    Deprecation, Enum, EnumValue, Field, FieldType, Label, Location, Message, Method, Schema,
    Service,
};

// Field numbers of descriptor.proto, as source info paths name them.
const FILE_MESSAGE: i32 = 4;
const FILE_ENUM: i32 = 5;
const FILE_SERVICE: i32 = 6;
const MESSAGE_FIELD: i32 = 2;
const MESSAGE_NESTED: i32 = 3;
const MESSAGE_ENUM: i32 = 4;
const ENUM_VALUE: i32 = 2;
const SERVICE_METHOD: i32 = 2;

/// `paths` maps each file's import name to the file on disk.
pub(crate) fn normalize(
    origin: &str,
    files: &[FileDescriptorProto],
    paths: &HashMap<&str, &Path>,
) -> Schema {
    let mut schema = Schema {
        origin: origin.to_string(),
        ..Schema::default()
    };
    for file in files {
        let name = file.name().to_string();
        let Some(path) = paths.get(name.as_str()) else {
            // A well-known file (google/protobuf/...) imported, not the release's own.
            continue;
        };
        let f = FileCtx::new(file, path);
        schema.files.push(name);
        let package = file.package().to_string();
        for (i, m) in file.message_type.iter().enumerate() {
            f.message(
                &mut schema,
                &package,
                &package,
                m,
                vec![FILE_MESSAGE, i as i32],
            );
        }
        for (i, e) in file.enum_type.iter().enumerate() {
            f.enumeration(
                &mut schema,
                &package,
                &package,
                e,
                vec![FILE_ENUM, i as i32],
            );
        }
        for (i, s) in file.service.iter().enumerate() {
            let at = vec![FILE_SERVICE, i as i32];
            let methods = s
                .method
                .iter()
                .enumerate()
                .map(|(k, m)| {
                    let at = extend(&at, SERVICE_METHOD, k);
                    Method {
                        name: m.name().to_string(),
                        input: m.input_type().trim_start_matches('.').to_string(),
                        output: m.output_type().trim_start_matches('.').to_string(),
                        client_streaming: m.client_streaming(),
                        server_streaming: m.server_streaming(),
                        deprecated: f.deprecation(
                            m.options
                                .as_ref()
                                .map(|o| flag(o.deprecated, &o.uninterpreted_option, "deprecated")),
                            &at,
                        ),
                        location: f.location(&at),
                    }
                })
                .collect();
            let full_name = join(&package, s.name());
            schema.services.insert(
                full_name.clone(),
                Service {
                    full_name,
                    package: package.clone(),
                    deprecated: f.deprecation(
                        s.options
                            .as_ref()
                            .map(|o| flag(o.deprecated, &o.uninterpreted_option, "deprecated")),
                        &at,
                    ),
                    location: f.location(&at),
                    methods,
                },
            );
        }
    }
    schema
}

/// One file's source info, indexed by element path.
struct FileCtx<'a> {
    path: &'a Path,
    name: &'a str,
    locations: HashMap<&'a [i32], &'a PLocation>,
}

/// A comment that says the element is deprecated: the word itself, not "deprecation" in prose
/// about something else.
static DEPRECATED_WORD: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)\bdeprecated\b").expect("a valid regex"));

impl<'a> FileCtx<'a> {
    fn new(file: &'a FileDescriptorProto, path: &'a Path) -> FileCtx<'a> {
        let locations = file
            .source_code_info
            .iter()
            .flat_map(|i| &i.location)
            .map(|l| (l.path.as_slice(), l))
            .collect();
        FileCtx {
            path,
            name: file.name(),
            locations,
        }
    }

    fn location(&self, at: &[i32]) -> Location {
        let (line, column) = self
            .locations
            .get(at)
            .and_then(|l| Some((*l.span.first()?, *l.span.get(1)?)))
            .map_or((1, 1), |(l, c)| (l + 1, c + 1));
        Location {
            path: self.path.to_path_buf(),
            name: self.name.to_string(),
            line: u32::try_from(line).unwrap_or(1),
            column: u32::try_from(column).unwrap_or(1),
        }
    }

    /// The option wins; else the element's own attached comment, when it says "deprecated".
    fn deprecation(&self, option: Option<bool>, at: &[i32]) -> Option<Deprecation> {
        if option == Some(true) {
            return Some(Deprecation::Option);
        }
        let l = self.locations.get(at)?;
        [l.leading_comments(), l.trailing_comments()]
            .into_iter()
            .find(|c| DEPRECATED_WORD.is_match(c))
            .map(|c| Deprecation::Comment(c.split_whitespace().collect::<Vec<_>>().join(" ")))
    }

    fn message(
        &self,
        schema: &mut Schema,
        package: &str,
        scope: &str,
        m: &DescriptorProto,
        at: Vec<i32>,
    ) {
        let full_name = join(scope, m.name());
        let oneofs: Vec<&str> = m.oneof_decl.iter().map(|o| o.name()).collect();
        let fields = m
            .field
            .iter()
            .enumerate()
            .map(|(k, f)| self.field(f, &oneofs, &extend(&at, MESSAGE_FIELD, k)))
            .collect();
        for (j, nested) in m.nested_type.iter().enumerate() {
            self.message(
                schema,
                package,
                &full_name,
                nested,
                extend(&at, MESSAGE_NESTED, j),
            );
        }
        for (j, e) in m.enum_type.iter().enumerate() {
            self.enumeration(schema, package, &full_name, e, extend(&at, MESSAGE_ENUM, j));
        }
        let options = m.options.as_ref();
        schema.messages.insert(
            full_name.clone(),
            Message {
                full_name,
                package: package.to_string(),
                location: self.location(&at),
                deprecated: self.deprecation(
                    options.map(|o| flag(o.deprecated, &o.uninterpreted_option, "deprecated")),
                    &at,
                ),
                fields,
                map_entry: options
                    .is_some_and(|o| flag(o.map_entry, &o.uninterpreted_option, "map_entry")),
                reserved_numbers: m
                    .reserved_range
                    .iter()
                    // Descriptor ranges end exclusively.
                    .map(|r| (r.start(), r.end().saturating_sub(1)))
                    .collect(),
                reserved_names: m.reserved_name.clone(),
            },
        );
    }

    fn field(&self, f: &FieldDescriptorProto, oneofs: &[&str], at: &[i32]) -> Field {
        let type_name = f.type_name().trim_start_matches('.').to_string();
        let ty = match f.r#type.and_then(|t| Type::try_from(t).ok()) {
            Some(Type::Double) => FieldType::Double,
            Some(Type::Float) => FieldType::Float,
            Some(Type::Int64) => FieldType::Int64,
            Some(Type::Uint64) => FieldType::Uint64,
            Some(Type::Int32) => FieldType::Int32,
            Some(Type::Fixed64) => FieldType::Fixed64,
            Some(Type::Fixed32) => FieldType::Fixed32,
            Some(Type::Bool) => FieldType::Bool,
            Some(Type::String) => FieldType::String,
            Some(Type::Group) => FieldType::Group(type_name),
            Some(Type::Bytes) => FieldType::Bytes,
            Some(Type::Uint32) => FieldType::Uint32,
            Some(Type::Enum) => FieldType::Enum(type_name),
            Some(Type::Sfixed32) => FieldType::Sfixed32,
            Some(Type::Sfixed64) => FieldType::Sfixed64,
            Some(Type::Sint32) => FieldType::Sint32,
            Some(Type::Sint64) => FieldType::Sint64,
            // The compiler resolves every named type; unresolved, a name is a message's.
            Some(Type::Message) | None => FieldType::Message(type_name),
        };
        let label = match f.label() {
            PLabel::Required => Label::Required,
            PLabel::Repeated => Label::Repeated,
            PLabel::Optional => Label::Optional,
        };
        Field {
            name: f.name().to_string(),
            number: f.number(),
            label,
            ty,
            json_name: f.json_name.clone().unwrap_or_else(|| json_name(f.name())),
            default: f.default_value.clone(),
            // A proto3 `optional` is a synthetic oneof of its own: not a oneof to compare.
            oneof: f
                .oneof_index
                .filter(|_| !f.proto3_optional())
                .and_then(|i| oneofs.get(usize::try_from(i).ok()?))
                .map(|s| s.to_string()),
            deprecated: self.deprecation(
                f.options
                    .as_ref()
                    .map(|o| flag(o.deprecated, &o.uninterpreted_option, "deprecated")),
                at,
            ),
            location: self.location(at),
        }
    }

    fn enumeration(
        &self,
        schema: &mut Schema,
        package: &str,
        scope: &str,
        e: &EnumDescriptorProto,
        at: Vec<i32>,
    ) {
        let full_name = join(scope, e.name());
        let values = e
            .value
            .iter()
            .enumerate()
            .map(|(k, v)| {
                let at = extend(&at, ENUM_VALUE, k);
                EnumValue {
                    name: v.name().to_string(),
                    number: v.number(),
                    deprecated: self.deprecation(
                        v.options
                            .as_ref()
                            .map(|o| flag(o.deprecated, &o.uninterpreted_option, "deprecated")),
                        &at,
                    ),
                    location: self.location(&at),
                }
            })
            .collect();
        schema.enums.insert(
            full_name.clone(),
            Enum {
                full_name,
                package: package.to_string(),
                location: self.location(&at),
                deprecated: self.deprecation(
                    e.options
                        .as_ref()
                        .map(|o| flag(o.deprecated, &o.uninterpreted_option, "deprecated")),
                    &at,
                ),
                values,
            },
        );
    }
}

/// A boolean option, as the parser leaves it: set, or written but not interpreted
/// (`[deprecated = true]` is kept as an uninterpreted `deprecated` with the identifier `true`).
fn flag(parsed: Option<bool>, uninterpreted: &[UninterpretedOption], name: &str) -> bool {
    parsed.unwrap_or_else(|| {
        uninterpreted.iter().any(|o| {
            matches!(o.name.as_slice(), [part] if part.name_part == name && !part.is_extension)
                && o.identifier_value.as_deref() == Some("true")
        })
    })
}

fn extend(at: &[i32], kind: i32, index: usize) -> Vec<i32> {
    let mut v = at.to_vec();
    v.push(kind);
    v.push(i32::try_from(index).unwrap_or(i32::MAX));
    v
}

fn join(scope: &str, name: &str) -> String {
    if scope.is_empty() {
        name.to_string()
    } else {
        format!("{scope}.{name}")
    }
}

/// protoc's JSON name: underscores dropped, the letter after each one capitalised.
pub(crate) fn json_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = false;
    for c in name.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_names_are_protocs() {
        assert_eq!(json_name("framework_id"), "frameworkId");
        assert_eq!(json_name("id"), "id");
        assert_eq!(json_name("a__b_c"), "aBC");
    }
}
