//! Reading Dockerfiles, as far as building needs: where the file goes in the context archive, and
//! which images it is built on (`FROM`, `COPY --from`), to order the builds and make missing bases.
//! The engine's builder does the real parsing.

use std::collections::HashMap;
use std::path::{Component, Path};

use indexmap::IndexMap;

use super::error::{io_err, BuildError};
use crate::model::ImageDef;

/// The name a Dockerfile from outside its context gets inside the context archive.
pub(super) const OUTSIDE_DOCKERFILE: &str = ".crossgrade.Dockerfile";

/// An `[[image]]`'s Dockerfile, read once for all its releases.
pub(super) struct Dockerfile {
    pub(super) text: String,
    /// Its name inside the context archive.
    pub(super) name_in_context: String,
    /// Set when it lies outside the context and is added to the archive (as
    /// [`OUTSIDE_DOCKERFILE`]).
    pub(super) outside: bool,
}

/// Reads an `[[image]]`'s Dockerfile and works out where it goes in the context archive.
pub(super) async fn read(def: &ImageDef, image: &str) -> Result<Dockerfile, BuildError> {
    if let Some(text) = def.inline {
        return Ok(Dockerfile {
            text: text.to_string(),
            name_in_context: OUTSIDE_DOCKERFILE.to_string(),
            outside: true,
        });
    }
    let rel = Path::new(&def.dockerfile);
    let inside = rel
        .components()
        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
    let dockerfile_path = def.context.join(rel);
    let text = tokio::fs::read_to_string(&dockerfile_path)
        .await
        .map_err(io_err("reading the Dockerfile", &dockerfile_path))?;
    let name_in_context = if inside {
        rel.components()
            .filter_map(|c| match c {
                Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join("/")
    } else {
        OUTSIDE_DOCKERFILE.to_string()
    };
    if name_in_context.is_empty() {
        return Err(BuildError::Dockerfile {
            image: image.to_string(),
            path: dockerfile_path,
            message: "names the context directory, not a file".into(),
        });
    }
    let has_from = instructions(&text).iter().any(|i| {
        i.split_whitespace()
            .next()
            .is_some_and(|k| k.eq_ignore_ascii_case("FROM"))
    });
    if !has_from {
        return Err(BuildError::Dockerfile {
            image: image.to_string(),
            path: dockerfile_path,
            message: "has no FROM instruction".into(),
        });
    }
    Ok(Dockerfile {
        text,
        name_in_context,
        outside: !inside,
    })
}

/// The images a Dockerfile builds on: `FROM` images and `COPY --from` images, with `ARG`s declared
/// before the first `FROM` substituted (`build_args` override their defaults), in order, without
/// duplicates, leaving out `scratch` and earlier stages.
pub(super) fn bases(text: &str, build_args: &IndexMap<String, String>) -> Vec<String> {
    let mut global_args: HashMap<String, String> = HashMap::new();
    let mut stages: Vec<String> = Vec::new();
    let mut seen_from = false;
    let mut bases: Vec<String> = Vec::new();
    fn add(base: String, bases: &mut Vec<String>) {
        if !bases.contains(&base) {
            bases.push(base);
        }
    }
    for instruction in instructions(text) {
        let mut words = instruction.split_whitespace();
        let Some(keyword) = words.next() else {
            continue;
        };
        let rest: Vec<&str> = words.collect();
        match keyword.to_ascii_uppercase().as_str() {
            "ARG" if !seen_from => {
                for decl in rest {
                    let (name, default) = match decl.split_once('=') {
                        Some((n, v)) => (n, Some(unquote(v))),
                        None => (decl, None),
                    };
                    let value = build_args
                        .get(name)
                        .cloned()
                        .or(default.map(str::to_string));
                    if let Some(v) = value {
                        global_args.insert(name.to_string(), v);
                    } else {
                        global_args.remove(name);
                    }
                }
            }
            "FROM" => {
                seen_from = true;
                let mut args = rest.iter().filter(|w| !w.starts_with("--"));
                let Some(image) = args.next() else {
                    continue;
                };
                let image = expand_vars(image, &global_args);
                let stage = match (args.next(), args.next()) {
                    (Some(kw), Some(name)) if kw.eq_ignore_ascii_case("as") => {
                        Some(name.to_ascii_lowercase())
                    }
                    _ => None,
                };
                // `FROM scratch` and `FROM earlier-stage` need no image.
                let lower = image.to_ascii_lowercase();
                let is_image = !(image.is_empty() || lower == "scratch" || stages.contains(&lower));
                stages.extend(stage);
                if is_image {
                    add(image, &mut bases);
                }
            }
            "COPY" | "ADD" => {
                for flag in rest.iter().take_while(|w| w.starts_with("--")) {
                    if let Some(from) = flag.strip_prefix("--from=") {
                        let from = expand_vars(from, &global_args);
                        let lower = from.to_ascii_lowercase();
                        let is_index = !from.is_empty() && from.bytes().all(|b| b.is_ascii_digit());
                        if !(is_index || stages.contains(&lower) || from.is_empty()) {
                            add(from, &mut bases);
                        }
                    }
                }
            }
            _ => {}
        }
    }
    bases
}

/// The Dockerfile's instructions: comment lines dropped, `\` continuations joined.
fn instructions(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') {
            continue;
        }
        if let Some(cont) = trimmed.strip_suffix('\\') {
            current.push_str(cont);
            current.push(' ');
            continue;
        }
        current.push_str(trimmed);
        if !current.trim().is_empty() {
            out.push(current.trim().to_string());
        }
        current.clear();
    }
    if !current.trim().is_empty() {
        out.push(current.trim().to_string());
    }
    out
}

fn unquote(s: &str) -> &str {
    for q in ['"', '\''] {
        if let Some(inner) = s.strip_prefix(q).and_then(|r| r.strip_suffix(q)) {
            return inner;
        }
    }
    s
}

/// Expands `$NAME`, `${NAME}`, `${NAME:-default}` and `${NAME:+alternative}`; unknown names are
/// empty.
fn expand_vars(s: &str, vars: &HashMap<String, String>) -> String {
    let is_name = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find(['$', '\\']) {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if rest[i..].starts_with('\\') {
            match after.chars().next() {
                Some(c) => {
                    out.push(c);
                    rest = &after[c.len_utf8()..];
                }
                None => rest = after,
            }
            continue;
        }
        if let Some(body) = after.strip_prefix('{') {
            let Some(end) = body.find('}') else {
                out.push_str(&rest[i..]);
                return out;
            };
            let inner = &body[..end];
            rest = &body[end + 1..];
            let (name, op) = match inner.find(':') {
                Some(c) => (&inner[..c], Some(&inner[c + 1..])),
                None => (inner, None),
            };
            let value = vars.get(name).filter(|v| !v.is_empty());
            match op {
                Some(word) if word.starts_with('-') => {
                    out.push_str(value.map_or(&word[1..], |v| v.as_str()))
                }
                Some(word) if word.starts_with('+') => {
                    if value.is_some() {
                        out.push_str(&word[1..]);
                    }
                }
                _ => out.push_str(value.map_or("", |v| v.as_str())),
            }
        } else {
            let len = after.find(|c: char| !is_name(c)).unwrap_or(after.len());
            if len == 0 {
                out.push('$');
            } else {
                out.push_str(vars.get(&after[..len]).map_or("", |v| v.as_str()));
            }
            rest = &after[len..];
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::images::testing::args;

    #[test]
    fn from_lines_stages_platform_and_scratch() {
        let df = "\
# a comment FROM nothing
ARG SUITE=bookworm
from --platform=$BUILDPLATFORM rust:1.85 AS Build
RUN cargo build
FROM build AS test
FROM scratch
COPY --from=build /x /x
COPY --from=0 /y /y
COPY --chown=0:0 --from=busybox:1.36 /bin/busybox /busybox
FROM debian:${SUITE}-slim
FROM \\
    debian:${SUITE}-slim
";
        assert_eq!(
            bases(df, &IndexMap::new()),
            vec!["rust:1.85", "busybox:1.36", "debian:bookworm-slim"]
        );
        // A build argument overrides the ARG's default; an undeclared one does not count.
        assert_eq!(
            bases(df, &args(&[("SUITE", "trixie"), ("X", "y")])),
            vec!["rust:1.85", "busybox:1.36", "debian:trixie-slim"]
        );
        assert_eq!(
            bases("FROM ${IMG:-alpine:3}\nFROM $NOPE/x", &IndexMap::new()),
            vec!["alpine:3", "/x"]
        );
        assert!(bases("FROM scratch\nCOPY a /a\n", &IndexMap::new()).is_empty());
        // A stage may reuse an image an earlier stage is based on; a stage named like an image is
        // not one.
        assert_eq!(
            bases("FROM x:1 AS a\nFROM x:1 AS b\nFROM a\n", &IndexMap::new()),
            vec!["x:1"]
        );
        assert_eq!(bases("FROM node AS node\n", &IndexMap::new()), vec!["node"]);
    }
}
