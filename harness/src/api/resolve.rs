//! Names → types across a release's files, as protoc resolves them: a field's type name is looked
//! up from the innermost scope outwards (`Docker` inside `ContainerConfig`, then in its package,
//! then in the enclosing packages), and is a message or an enum.
//!
//! Why not protox's own checker: it rejects fields whose JSON names collide, which protoc allows in
//! proto2, and Mesos 0.28.0's `mesos.slave.ContainerConfig` has both `executor_info` and
//! `executorInfo`. The parser (protox-parse) is protox's; only the checking is ours, and it checks
//! what the rules need: every import is there, every type name resolves.

use std::collections::HashMap;
use std::ops::Range;

use prost_types::field_descriptor_proto::Type;
use prost_types::{DescriptorProto, FileDescriptorProto};

/// What a full name is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Message,
    Enum,
}

/// A type name that names nothing, or an import that is not there: where, and what.
#[derive(Debug)]
pub(crate) struct Unresolved {
    /// The file's import name.
    pub file: String,
    /// The descriptor path of the element (for its source span).
    pub path: Vec<i32>,
    pub message: String,
}

/// Well-known types are not in a release's files; names in their package are taken for messages.
const WELL_KNOWN: &str = "google.protobuf.";

/// Sets each named field's type (message, enum or group) and its type name to the full name with
/// a leading dot, as a compiler would.
pub(crate) fn resolve(files: &mut [FileDescriptorProto]) -> Result<(), Unresolved> {
    let names: Vec<&str> = files.iter().map(|f| f.name()).collect();
    for f in files.iter() {
        for (i, import) in f.dependency.iter().enumerate() {
            if !names.contains(&import.as_str()) && !import.starts_with("google/protobuf/") {
                return Err(Unresolved {
                    file: f.name().to_string(),
                    path: vec![3, i32::try_from(i).unwrap_or(i32::MAX)],
                    message: format!("import '{import}' not found"),
                });
            }
        }
    }
    let mut symbols = HashMap::new();
    for f in files.iter() {
        for m in &f.message_type {
            collect(&mut symbols, f.package(), m);
        }
        for e in &f.enum_type {
            symbols.insert(join(f.package(), e.name()), Kind::Enum);
        }
    }
    for f in files.iter_mut() {
        let package = f.package().to_string();
        let file = f.name().to_string();
        for (i, m) in f.message_type.iter_mut().enumerate() {
            let path = vec![4, i32::try_from(i).unwrap_or(i32::MAX)];
            resolve_message(&symbols, &file, &package, m, path)?;
        }
    }
    Ok(())
}

fn collect(symbols: &mut HashMap<String, Kind>, scope: &str, m: &DescriptorProto) {
    let name = join(scope, m.name());
    for nested in &m.nested_type {
        collect(symbols, &name, nested);
    }
    for e in &m.enum_type {
        symbols.insert(join(&name, e.name()), Kind::Enum);
    }
    symbols.insert(name, Kind::Message);
}

fn resolve_message(
    symbols: &HashMap<String, Kind>,
    file: &str,
    scope: &str,
    m: &mut DescriptorProto,
    path: Vec<i32>,
) -> Result<(), Unresolved> {
    let name = join(scope, m.name());
    for (k, field) in m.field.iter_mut().enumerate() {
        let Some(written) = field.type_name.clone() else {
            continue;
        };
        let Some((full, kind)) = lookup(symbols, &name, &written) else {
            let mut at = path.clone();
            at.extend([2, i32::try_from(k).unwrap_or(i32::MAX)]);
            return Err(Unresolved {
                file: file.to_string(),
                path: at,
                message: format!("type `{written}` is not defined (in `{name}`)"),
            });
        };
        if field.r#type != Some(Type::Group as i32) {
            field.r#type = Some(match kind {
                Kind::Message => Type::Message,
                Kind::Enum => Type::Enum,
            } as i32);
        }
        field.type_name = Some(format!(".{full}"));
    }
    for (j, nested) in m.nested_type.iter_mut().enumerate() {
        let mut at = path.clone();
        at.extend([3, i32::try_from(j).unwrap_or(i32::MAX)]);
        resolve_message(symbols, file, &name, nested, at)?;
    }
    Ok(())
}

/// protoc's scoping: `.a.B` is absolute; otherwise `a.B` is tried in `scope`, then in each scope
/// enclosing it, out to the root.
fn lookup(symbols: &HashMap<String, Kind>, scope: &str, written: &str) -> Option<(String, Kind)> {
    if let Some(absolute) = written.strip_prefix('.') {
        return found(symbols, absolute);
    }
    let mut scope = scope;
    loop {
        let candidate = join(scope, written);
        if let Some(hit) = found(symbols, &candidate) {
            return Some(hit);
        }
        if scope.is_empty() {
            return None;
        }
        scope = scope.rsplit_once('.').map_or("", |(outer, _)| outer);
    }
}

fn found(symbols: &HashMap<String, Kind>, full: &str) -> Option<(String, Kind)> {
    match symbols.get(full) {
        Some(k) => Some((full.to_string(), *k)),
        None if full.starts_with(WELL_KNOWN) => Some((full.to_string(), Kind::Message)),
        None => None,
    }
}

fn join(scope: &str, name: &str) -> String {
    if scope.is_empty() {
        name.to_string()
    } else {
        format!("{scope}.{name}")
    }
}

/// The byte range of the element at `path` in `source`, from the file's source info.
pub(crate) fn span_of(file: &FileDescriptorProto, source: &str, path: &[i32]) -> Range<usize> {
    let span = file
        .source_code_info
        .iter()
        .flat_map(|i| &i.location)
        .find(|l| l.path == path)
        .map(|l| l.span.clone())
        .unwrap_or_default();
    let (Some(&line), Some(&col)) = (span.first(), span.get(1)) else {
        return 0..0;
    };
    let start = offset(source, line, col);
    let end = match span.len() {
        4 => offset(source, span[2], span[3]),
        _ => offset(source, line, span.get(2).copied().unwrap_or(col)),
    };
    start..end.max(start)
}

/// A 0-based line and column (in characters) as a byte offset, clamped to the text.
fn offset(source: &str, line: i32, col: i32) -> usize {
    let (Ok(line), Ok(col)) = (usize::try_from(line), usize::try_from(col)) else {
        return 0;
    };
    let Some(start) = source
        .split_inclusive('\n')
        .take(line)
        .map(str::len)
        .try_fold(0usize, |acc, l| acc.checked_add(l))
    else {
        return 0;
    };
    let rest = source.get(start..).unwrap_or_default();
    start
        + rest.char_indices().nth(col).map_or(
            rest.len().min(rest.find('\n').unwrap_or(rest.len())),
            |(i, _)| i,
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn symbols(names: &[(&str, Kind)]) -> HashMap<String, Kind> {
        names.iter().map(|(n, k)| (n.to_string(), *k)).collect()
    }

    #[test]
    fn names_resolve_from_the_innermost_scope_out() {
        let s = symbols(&[
            ("mesos.TaskInfo", Kind::Message),
            ("mesos.slave.Config.Docker", Kind::Message),
            ("docker.spec.v1.ImageManifest", Kind::Message),
            ("mesos.TaskState", Kind::Enum),
        ]);
        let at = "mesos.slave.Config";
        assert_eq!(
            lookup(&s, at, "Docker").unwrap().0,
            "mesos.slave.Config.Docker"
        );
        assert_eq!(lookup(&s, at, "TaskInfo").unwrap().0, "mesos.TaskInfo");
        assert_eq!(lookup(&s, at, "TaskState").unwrap().1, Kind::Enum);
        assert_eq!(
            lookup(&s, at, "docker.spec.v1.ImageManifest").unwrap().0,
            "docker.spec.v1.ImageManifest"
        );
        assert_eq!(
            lookup(&s, at, ".mesos.TaskInfo").unwrap().0,
            "mesos.TaskInfo"
        );
        assert!(lookup(&s, at, "Nothing").is_none());
    }

    #[test]
    fn offsets_are_clamped() {
        let src = "ab\ncd\n";
        assert_eq!(offset(src, 1, 1), 4);
        assert_eq!(offset(src, 9, 0), src.len());
        assert_eq!(offset(src, 0, 9), 2);
        assert_eq!(offset(src, -1, 0), 0);
    }
}
