//! Loading a release's `.proto` files: found in a folder, named by their import roots, parsed by
//! protox-parse (protox's pure-Rust parser: no protoc needed), their type names resolved, then
//! normalised into a [`Schema`].

use std::collections::{BTreeSet, HashMap};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use miette::Diagnostic;
use regex::Regex;

use super::deprecation::History;
use super::normalize::normalize;
use super::resolve::{resolve, span_of};
use super::schema::Schema;
use crate::model::{LoadError, ModelError, Release, SourceFile};

/// Why a release's API definition could not be loaded. Every case is bad input (exit 2).
#[derive(Debug, thiserror::Error, Diagnostic)]
pub enum ApiError {
    #[error("reading {}", .path.display())]
    #[diagnostic(help("give a folder of .proto files (e.g. apis/mesos/1.0.0)"))]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} holds no .proto file", .dir.display())]
    #[diagnostic(help("give the folder of one release's .proto files (e.g. apis/mesos/1.0.0)"))]
    Empty { dir: PathBuf },
    #[error("{} is not under any import root ({roots})", .path.display())]
    #[diagnostic(help("add the folder it is imported from to the import roots"))]
    NotUnderRoot { path: PathBuf, roots: String },
    #[error("{} and {} are both imported as `{name}`", .first.display(), .second.display())]
    #[diagnostic(help(
        "a release's import roots must give each file one import name: remove one, or name the roots"
    ))]
    SameName {
        name: String,
        first: PathBuf,
        second: PathBuf,
    },
    #[error("{} and {} are not releases in one folder", .old.display(), .new.display())]
    #[diagnostic(help(
        "the grace check reads the releases between them from their common folder (e.g. \
         apis/mesos/0.22.0 and apis/mesos/0.28.0); give two such folders, or leave --grace out"
    ))]
    NotSiblings { old: PathBuf, new: PathBuf },
    /// A file that does not parse or does not compile (a name that is not defined, an import that
    /// is not there): `file:line:column: message` with a hint.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Invalid(LoadError),
    /// A line of a messages file that is not JSON.
    #[error("{}:{line}:{column}: not a JSON message: {message}", .path.display())]
    #[diagnostic(help("give one JSON message per line (JSON Lines); blank lines are skipped"))]
    Json {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    /// A message type the release does not define.
    #[error("{name} is not a message of {origin}")]
    #[diagnostic(help("{hint}"))]
    UnknownMessage {
        name: String,
        origin: String,
        hint: String,
    },
}

/// Where a release's API definition is: a folder, and optionally the files in it to read and the
/// folders `import` statements resolve against.
#[derive(Debug, Clone)]
pub struct ApiSource {
    dir: PathBuf,
    files: Option<Vec<PathBuf>>,
    import_roots: Option<Vec<PathBuf>>,
}

impl ApiSource {
    /// Every `.proto` file under `dir`, with the import roots found from the imports themselves: a
    /// file at `dir/include/mesos/mesos.proto` that another file imports as `mesos/mesos.proto`
    /// makes `dir/include` a root (and `dir` is one always).
    pub fn dir(dir: impl Into<PathBuf>) -> ApiSource {
        ApiSource {
            dir: dir.into(),
            files: None,
            import_roots: None,
        }
    }

    /// Only these files (and what they import), instead of every file under the folder.
    pub fn with_files(mut self, files: impl IntoIterator<Item = impl Into<PathBuf>>) -> ApiSource {
        self.files = Some(files.into_iter().map(Into::into).collect());
        self
    }

    /// These import roots, instead of the ones the imports suggest.
    pub fn with_import_roots(
        mut self,
        roots: impl IntoIterator<Item = impl Into<PathBuf>>,
    ) -> ApiSource {
        self.import_roots = Some(roots.into_iter().map(Into::into).collect());
        self
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }
}

/// One file read from disk, under the name it is imported by.
struct Source {
    path: PathBuf,
    file: SourceFile,
}

/// Loads and compiles a release's files into a [`Schema`].
pub fn load(source: &ApiSource) -> Result<Schema, ApiError> {
    let paths = match &source.files {
        Some(files) => files.clone(),
        None => {
            let mut found = Vec::new();
            walk(&source.dir, &mut found, 0)?;
            found.sort();
            found
        }
    };
    if paths.is_empty() {
        return Err(ApiError::Empty {
            dir: source.dir.clone(),
        });
    }
    let mut texts = Vec::with_capacity(paths.len());
    for path in &paths {
        let text = std::fs::read_to_string(path).map_err(|e| ApiError::Read {
            path: path.clone(),
            source: e,
        })?;
        texts.push(text);
    }
    let roots = match &source.import_roots {
        Some(roots) => roots.clone(),
        None => infer_roots(&source.dir, &paths, &texts),
    };
    let mut sources: HashMap<String, Source> = HashMap::new();
    let mut order = Vec::new();
    for (path, text) in paths.into_iter().zip(texts) {
        let name = import_name(&path, &roots)?;
        if let Some(other) = sources.get(&name) {
            return Err(ApiError::SameName {
                name,
                first: other.path.clone(),
                second: path,
            });
        }
        let file = SourceFile::new(&path, text);
        order.push(name.clone());
        sources.insert(name, Source { path, file });
    }
    let mut descriptors = Vec::with_capacity(order.len());
    for name in &order {
        let source = &sources[name];
        let parsed = protox_parse::parse(name, &source.file.text)
            .map_err(|e| parse_error(&e, source, &roots))?;
        descriptors.push(parsed);
    }
    if let Err(u) = resolve(&mut descriptors) {
        let at = descriptors.iter().find(|d| d.name() == u.file);
        let source = &sources[&u.file];
        let span = at.map_or(0..0, |d| span_of(d, &source.file.text, &u.path));
        return Err(invalid(source, span, u.message, &roots));
    }
    let paths: HashMap<&str, &Path> = sources
        .iter()
        .map(|(n, s)| (n.as_str(), s.path.as_path()))
        .collect();
    Ok(normalize(
        &source.dir.display().to_string(),
        &descriptors,
        &paths,
    ))
}

/// The releases beside `old` in its folder, in version order, up to `new` (which must be there
/// too): what a grace check needs. Returns them with the positions of `old` and `new`; each
/// release is named by its folder.
pub fn load_history(old: &Path, new: &Path) -> Result<(History, usize, usize), ApiError> {
    let name = |p: &Path| p.file_name().map(|n| n.to_string_lossy().into_owned());
    let (Some(parent), Some(old_name), Some(new_name)) = (old.parent(), name(old), name(new))
    else {
        return Err(not_siblings(old, new));
    };
    if new.parent() != Some(parent) {
        return Err(not_siblings(old, new));
    }
    let read = |e| ApiError::Read {
        path: parent.to_path_buf(),
        source: e,
    };
    let mut releases: Vec<(Release, String)> = Vec::new();
    for entry in std::fs::read_dir(parent).map_err(read)? {
        let entry = entry.map_err(read)?;
        let n = entry.file_name().to_string_lossy().into_owned();
        if entry.path().is_dir() {
            // A folder whose name is no release name is not a release.
            if let Ok(r) = Release::parse(&n) {
                releases.push((r, n));
            }
        }
    }
    releases.sort();
    let position = |n: &str| releases.iter().position(|(_, r)| r == n);
    let (Some(from), Some(to)) = (position(&old_name), position(&new_name)) else {
        return Err(not_siblings(old, new));
    };
    let mut history = Vec::new();
    for (_, r) in releases.iter().take(to.max(from) + 1) {
        let dir = parent.join(r);
        history.push((r.clone(), load(&ApiSource::dir(dir))?));
    }
    Ok((History::new(history), from, to))
}

fn not_siblings(old: &Path, new: &Path) -> ApiError {
    ApiError::NotSiblings {
        old: old.to_path_buf(),
        new: new.to_path_buf(),
    }
}

/// Folders deeper than this are not walked (a symlink loop ends here).
const DEEPEST: usize = 32;

fn walk(dir: &Path, found: &mut Vec<PathBuf>, depth: usize) -> Result<(), ApiError> {
    let read = |e| ApiError::Read {
        path: dir.to_path_buf(),
        source: e,
    };
    for entry in std::fs::read_dir(dir).map_err(read)? {
        let entry = entry.map_err(read)?;
        let path = entry.path();
        let hidden = entry.file_name().to_string_lossy().starts_with('.');
        if path.is_dir() {
            if !hidden && depth < DEEPEST {
                walk(&path, found, depth + 1)?;
            }
        } else if !hidden && path.extension().is_some_and(|e| e == "proto") {
            found.push(path);
        }
    }
    Ok(())
}

/// `import "a/b.proto";` statements, read before parsing to know the roots. A commented-out import
/// can only add a root that changes no file's name.
static IMPORT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?m)^\s*import\s+(?:public\s+|weak\s+)?"([^"]+)"\s*;"#).expect("a valid regex")
});

/// `dir` itself, and each folder below it from which some import names a file: deepest first, so
/// that a file is named from the root nearest to it.
fn infer_roots(dir: &Path, paths: &[PathBuf], texts: &[String]) -> Vec<PathBuf> {
    let imports: BTreeSet<&str> = texts
        .iter()
        .flat_map(|t| IMPORT.captures_iter(t))
        .filter_map(|c| c.get(1).map(|m| m.as_str()))
        .collect();
    let mut roots: BTreeSet<PathBuf> = BTreeSet::new();
    for path in paths {
        let Ok(rel) = path.strip_prefix(dir) else {
            continue;
        };
        let rel = slashed(rel);
        for import in &imports {
            if let Some(prefix) = rel.strip_suffix(import) {
                if prefix.is_empty() || prefix.ends_with('/') {
                    roots.insert(dir.join(prefix.trim_end_matches('/')));
                }
            }
        }
    }
    roots.insert(dir.to_path_buf());
    let mut roots: Vec<PathBuf> = roots.into_iter().collect();
    roots.sort_by_key(|r| std::cmp::Reverse(r.components().count()));
    roots
}

/// The name a file is imported by: its path below the deepest root that holds it.
fn import_name(path: &Path, roots: &[PathBuf]) -> Result<String, ApiError> {
    roots
        .iter()
        .filter_map(|r| path.strip_prefix(r).ok())
        .min_by_key(|rel| rel.components().count())
        .map(slashed)
        .ok_or_else(|| ApiError::NotUnderRoot {
            path: path.to_path_buf(),
            roots: roots
                .iter()
                .map(|r| r.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        })
}

fn slashed(p: &Path) -> String {
    p.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// A syntax error as `file:line:column: message`, with a hint. Only an unexpected end of file has
/// no position: it is at the end.
fn parse_error(e: &protox_parse::ParseError, source: &Source, roots: &[PathBuf]) -> ApiError {
    let span = e.span().unwrap_or_else(|| {
        let end = source.file.text.trim_end().len();
        end..end
    });
    invalid(source, span, e.to_string(), roots)
}

fn invalid(source: &Source, span: Range<usize>, message: String, roots: &[PathBuf]) -> ApiError {
    let help = hint(&message, roots);
    let e = ModelError::at(&source.file, span, message).help(help);
    ApiError::Invalid(LoadError::new(source.file.name.clone(), vec![e]))
}

/// What to do about a compiler message (protox's wording: stable across its releases).
fn hint(message: &str, roots: &[PathBuf]) -> String {
    if message.starts_with("import") && message.contains("not found") {
        let roots: Vec<String> = roots.iter().map(|r| r.display().to_string()).collect();
        return format!(
            "imports are looked up below the import roots ({}): add the file there, or fix the path",
            roots.join(", ")
        );
    }
    if message.contains("is not defined") || message.contains("not found") {
        return "define the type, or import the file that defines it (names resolve from the \
                innermost scope outwards, as protoc's)"
            .into();
    }
    if message.contains("already defined") || message.contains("already used") {
        return "each name and field number is defined once per scope".into();
    }
    if message.contains("expected") || message.contains("invalid") {
        return "the file must be protobuf as protoc reads it (proto2 or proto3): \
                https://protobuf.dev/reference/protobuf/proto2-spec/"
            .into();
    }
    "fix the definition here; protoc rejects it as well".into()
}
