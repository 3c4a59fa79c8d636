//! Whether a JSON value is a message of a release's schema, read as Mesos reads the JSON of its v1
//! HTTP APIs (stout's JSON → protobuf conversion): keys are the `.proto` field names, enums their
//! value names, `bytes` base64, 64-bit integers numbers or decimal strings; a missing required
//! field is an error ("Missing required fields"), and so, here, is a key the message does not
//! define (Mesos skips those; an imitation that sends them speaks something the release does not
//! define, which is what a conformance test is after).
//!
//! Why not a reflection crate: prost-reflect's JSON needs its `serde` feature (and `serde-value`,
//! not in this build's registry), and its descriptor pool checks what protox's does, which refuses
//! a file of Mesos 0.28 (see `resolve`). The schema has every name, label and type this needs.

use std::path::Path;

use serde_json::Value;

use super::load::ApiError;
use super::schema::{Deprecation, FieldType, Label, Location, Message, Schema};

/// Every way `value` is not a `message` of `schema`, each as `path: what` (`offers[0].agent_id:
/// missing required field`); empty when it conforms.
pub fn check_json(schema: &Schema, message: &str, value: &Value) -> Vec<String> {
    check_message(schema, message, value).errors
}

/// What [`check_message`] found in one JSON message.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct JsonCheck {
    /// Every way it is not the message (see [`check_json`]).
    pub errors: Vec<String>,
    /// Every use of something its release marks deprecated: a field set, an enum value named, a
    /// message of a deprecated type, each as `path: what (where it is marked)`. This is how a
    /// component (or a scenario's request) that still uses a deprecated part of the API is found:
    /// by the messages it sends, not by what the definitions declare.
    pub deprecated: Vec<String>,
}

/// Checks `value` as a `message` of `schema`: conformance and deprecated use.
pub fn check_message(schema: &Schema, message: &str, value: &Value) -> JsonCheck {
    let mut check = JsonCheck::default();
    match schema.messages.get(message) {
        None => check
            .errors
            .push(format!("{message}: not a message of {}", schema.origin)),
        Some(m) => Checker {
            schema,
            errors: &mut check.errors,
            deprecated: &mut check.deprecated,
        }
        .message(m, value, ""),
    }
    check
}

/// The messages of a JSON Lines file (one message per line, blank lines skipped), each with its
/// line number; a line that is not JSON is an error naming its line and column.
pub fn read_messages(path: &Path) -> Result<Vec<(usize, Value)>, ApiError> {
    let text = std::fs::read_to_string(path).map_err(|source| ApiError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let mut messages = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let value = serde_json::from_str(line).map_err(|e| ApiError::Json {
            path: path.to_path_buf(),
            line: i + 1,
            column: e.column(),
            message: e.to_string(),
        })?;
        messages.push((i + 1, value));
    }
    Ok(messages)
}

/// `name` as a message of `schema`, or an error whose hint names the messages it may have meant
/// (those ending the same way, e.g. `Call` → `mesos.v1.scheduler.Call`).
pub fn message_named<'a>(schema: &'a Schema, name: &str) -> Result<&'a Message, ApiError> {
    if let Some(m) = schema.messages.get(name) {
        return Ok(m);
    }
    let last = name.rsplit('.').next().unwrap_or(name);
    let mut near: Vec<&str> = schema
        .messages
        .keys()
        .map(String::as_str)
        .filter(|k| k.rsplit('.').next() == Some(last) || k.ends_with(&format!(".{name}")))
        .collect();
    near.sort_unstable();
    near.truncate(8);
    let hint = if near.is_empty() {
        "give a message's full name, package included (e.g. mesos.v1.scheduler.Call)".to_string()
    } else {
        format!("did you mean {}?", near.join(", "))
    };
    Err(ApiError::UnknownMessage {
        name: name.to_string(),
        origin: schema.origin.clone(),
        hint,
    })
}

/// Messages nest at most this deep (a value that nests deeper is refused, not walked).
const DEEPEST: usize = 64;

struct Checker<'a> {
    schema: &'a Schema,
    errors: &'a mut Vec<String>,
    deprecated: &'a mut Vec<String>,
}

/// How a deprecation reads in a finding: `[deprecated = true]` or the comment's words, and where.
fn marked(how: &Deprecation, at: &Location) -> String {
    match how {
        Deprecation::Option => format!("[deprecated = true] at {at}"),
        Deprecation::Comment(text) => {
            let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
            format!("\"{text}\" at {at}")
        }
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

impl Checker<'_> {
    fn err(&mut self, path: &str, what: String) {
        let at = if path.is_empty() { "(top)" } else { path };
        self.errors.push(format!("{at}: {what}"));
    }

    fn uses(&mut self, path: &str, what: String) {
        let at = if path.is_empty() { "(top)" } else { path };
        self.deprecated.push(format!("{at}: {what}"));
    }

    fn message(&mut self, m: &Message, v: &Value, path: &str) {
        if path.matches('.').count() > DEEPEST {
            self.err(path, "nested too deep".into());
            return;
        }
        let Some(object) = v.as_object() else {
            self.err(
                path,
                format!("expected a JSON object for {}, got {v}", m.full_name),
            );
            return;
        };
        if let Some(how) = &m.deprecated {
            let what = format!(
                "{} is deprecated: {}",
                m.full_name,
                marked(how, &m.location)
            );
            self.uses(path, what);
        }
        for (key, value) in object {
            if let Some(f) = m.field_by_name(key) {
                if let Some(how) = &f.deprecated {
                    let what = format!(
                        "field `{key}` of {} is deprecated: {}",
                        m.full_name,
                        marked(how, &f.location)
                    );
                    self.uses(&join(path, key), what);
                }
            }
            match m.field_by_name(key) {
                None => self.err(
                    &join(path, key),
                    format!("{} has no field `{key}`", m.full_name),
                ),
                Some(f) if f.label == Label::Repeated => match value.as_array() {
                    Some(items) => {
                        for (i, item) in items.iter().enumerate() {
                            self.value(&f.ty, item, &format!("{}[{i}]", join(path, key)));
                        }
                    }
                    None => self.err(
                        &join(path, key),
                        format!("repeated field: expected a JSON array, got {value}"),
                    ),
                },
                Some(f) => self.value(&f.ty, value, &join(path, key)),
            }
        }
        for f in &m.fields {
            if f.label == Label::Required && !object.contains_key(&f.name) {
                self.err(
                    &join(path, &f.name),
                    format!("missing required field of {}", m.full_name),
                );
            }
        }
    }

    fn value(&mut self, ty: &FieldType, v: &Value, path: &str) {
        let int_in = |lo: i128, hi: i128| -> bool {
            let n = v
                .as_i64()
                .map(i128::from)
                .or_else(|| v.as_u64().map(i128::from))
                .or_else(|| v.as_str().and_then(|s| s.parse::<i128>().ok()));
            n.is_some_and(|n| (lo..=hi).contains(&n))
        };
        let ok = match ty {
            FieldType::Int32 | FieldType::Sint32 | FieldType::Sfixed32 => {
                int_in(i32::MIN.into(), i32::MAX.into())
            }
            FieldType::Uint32 | FieldType::Fixed32 => int_in(0, u32::MAX.into()),
            FieldType::Int64 | FieldType::Sint64 | FieldType::Sfixed64 => {
                int_in(i64::MIN.into(), i64::MAX.into())
            }
            FieldType::Uint64 | FieldType::Fixed64 => int_in(0, u64::MAX.into()),
            FieldType::Double | FieldType::Float => v.is_number(),
            FieldType::Bool => v.is_boolean(),
            FieldType::String => v.is_string(),
            FieldType::Bytes => v.as_str().is_some_and(is_base64),
            FieldType::Enum(name) => {
                let Some(e) = self.schema.enums.get(name) else {
                    self.err(path, format!("enum {name} is not defined"));
                    return;
                };
                match v.as_str() {
                    Some(s) if e.values.iter().any(|x| x.name == s) => {
                        let value = e.values.iter().find(|x| x.name == s);
                        if let Some((how, at)) =
                            value.and_then(|x| Some((x.deprecated.as_ref()?, &x.location)))
                        {
                            let what = format!("{name}.{s} is deprecated: {}", marked(how, at));
                            self.uses(path, what);
                        }
                        true
                    }
                    Some(s) => {
                        self.err(path, format!("`{s}` is not a value of {name}"));
                        return;
                    }
                    None => false,
                }
            }
            FieldType::Message(name) | FieldType::Group(name) => {
                match self.schema.messages.get(name) {
                    Some(m) => self.message(m, v, path),
                    None => self.err(path, format!("message {name} is not defined")),
                }
                return;
            }
        };
        if !ok {
            self.err(path, format!("expected {ty}, got {v}"));
        }
    }
}

fn is_base64(s: &str) -> bool {
    s.len().is_multiple_of(4)
        && s.trim_end_matches('=').len() + 2 >= s.len()
        && s.trim_end_matches('=')
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '/')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{load, ApiSource};

    fn schema() -> Schema {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("a.proto"),
            "syntax = \"proto2\"; package p;\n\
             message Id { required string value = 1; }\n\
             enum Kind { A = 1; B = 2; }\n\
             message Call { required Id id = 1; optional Kind kind = 2; repeated Id more = 3;\n\
                            optional bytes data = 4; optional int32 n = 5; optional uint64 big = 6; }\n",
        )
        .unwrap();
        load(&ApiSource::dir(dir.path())).unwrap()
    }

    #[test]
    fn conforming_json_has_no_error() {
        let v = serde_json::json!({"id": {"value": "x"}, "kind": "B", "more": [{"value": "y"}],
                                   "data": "aGk=", "n": -3, "big": "18446744073709551615"});
        assert_eq!(check_json(&schema(), "p.Call", &v), Vec::<String>::new());
    }

    #[test]
    fn unknown_keys_missing_required_fields_and_wrong_types_are_errors_with_their_paths() {
        let v = serde_json::json!({"kind": "C", "more": [{}], "data": "not base64!", "n": 1e12,
                                   "agent_id": {"value": "S1"}});
        let errors = check_json(&schema(), "p.Call", &v);
        assert_eq!(
            errors,
            [
                "agent_id: p.Call has no field `agent_id`",
                "data: expected bytes, got \"not base64!\"",
                "kind: `C` is not a value of p.Kind",
                "more[0].value: missing required field of p.Id",
                "n: expected int32, got 1000000000000.0",
                "id: missing required field of p.Call",
            ]
        );
    }

    #[test]
    fn deprecated_fields_values_and_messages_used_are_named_with_where_they_are_marked() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("d.proto"),
            "syntax = \"proto2\"; package p;\n\
             enum Kind { A = 1; B = 2 [deprecated = true]; }\n\
             // Deprecated, use `Info` instead.\n\
             message Old { optional string x = 1; }\n\
             message Call {\n\
               optional Kind kind = 1;\n\
               // Deprecated, use `address.ip` instead.\n\
               optional uint32 ip = 2;\n\
               optional Old old = 3;\n\
               optional string name = 4;\n\
             }\n",
        )
        .unwrap();
        let schema = load(&ApiSource::dir(dir.path())).unwrap();
        let clean = serde_json::json!({"kind": "A", "name": "n"});
        assert_eq!(
            check_message(&schema, "p.Call", &clean),
            JsonCheck::default()
        );
        let v = serde_json::json!({"kind": "B", "ip": 7, "old": {"x": "y"}});
        let check = check_message(&schema, "p.Call", &v);
        assert!(check.errors.is_empty(), "{:?}", check.errors);
        let d = check.deprecated.join("\n");
        assert_eq!(check.deprecated.len(), 3, "{d}");
        assert!(
            d.contains("kind: p.Kind.B is deprecated: [deprecated = true] at "),
            "{d}"
        );
        assert!(
            d.contains("ip: field `ip` of p.Call is deprecated: \"Deprecated, use `address.ip` instead.\" at "),
            "{d}"
        );
        assert!(d.contains("d.proto:8:"), "{d}");
        assert!(d.contains("old: p.Old is deprecated: "), "{d}");
    }
}
