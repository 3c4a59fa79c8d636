//! Load errors that point into the file: `matrix.toml:12:5: unknown role `mastr`` plus a snippet and a hint.

use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use miette::{Diagnostic, NamedSource, SourceSpan};

/// A file being loaded, kept so errors can quote it.
#[derive(Debug, Clone)]
pub(crate) struct SourceFile {
    pub name: String,
    pub text: Arc<str>,
    /// Byte offset of each line's start: positions are found by binary search, so that thousands of
    /// errors in a large file cost no more than reading it.
    line_starts: Arc<[usize]>,
}

/// Lines longer than this are not quoted in a diagnostic (the renderer cannot draw them, and a
/// screenful of one line helps no one): the error still names the line and column.
const LONGEST_QUOTED_LINE: usize = 1_000;

impl SourceFile {
    pub(crate) fn new(path: &Path, text: String) -> SourceFile {
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        SourceFile {
            name: path.display().to_string(),
            text: text.into(),
            line_starts,
        }
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub(crate) fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = self.floor_char_boundary(offset.min(self.text.len()));
        let line = self.line_starts.partition_point(|&start| start <= offset);
        let start = self.line_starts[line - 1];
        (line, self.text[start..offset].chars().count() + 1)
    }

    fn floor_char_boundary(&self, mut offset: usize) -> usize {
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        offset
    }

    /// Whether the lines `span` touches are short enough to quote.
    fn quotable(&self, span: &Range<usize>) -> bool {
        let start = self.floor_char_boundary(span.start.min(self.text.len()));
        let end = self
            .floor_char_boundary(span.end.min(self.text.len()))
            .max(start);
        let first = self.line_starts.partition_point(|&s| s <= start) - 1;
        let last = self.line_starts.partition_point(|&s| s <= end) - 1;
        (first..=last).all(|l| {
            let from = self.line_starts[l];
            let to = self
                .line_starts
                .get(l + 1)
                .copied()
                .unwrap_or(self.text.len());
            to - from <= LONGEST_QUOTED_LINE
        })
    }
}

/// One problem in a matrix or scenario file.
#[derive(Debug, thiserror::Error, Diagnostic)]
#[error("{location}: {message}")]
pub struct ModelError {
    /// `file:line:column`, or just the file when the problem has no position.
    pub location: String,
    pub message: String,
    #[source_code]
    src: Option<NamedSource<Arc<str>>>,
    #[label("here")]
    span: Option<SourceSpan>,
    #[help]
    pub help: Option<String>,
}

impl ModelError {
    pub(crate) fn at(
        file: &SourceFile,
        span: Range<usize>,
        message: impl Into<String>,
    ) -> ModelError {
        let (line, col) = file.line_col(span.start);
        let quoted = file.quotable(&span);
        ModelError {
            location: format!("{}:{line}:{col}", file.name),
            message: message.into(),
            src: quoted.then(|| NamedSource::new(&file.name, file.text.clone())),
            span: quoted.then(|| span.into()),
            help: None,
        }
    }

    pub(crate) fn in_file(file: &str, message: impl Into<String>) -> ModelError {
        ModelError {
            location: file.to_string(),
            message: message.into(),
            src: None,
            span: None,
            help: None,
        }
    }

    pub(crate) fn help(mut self, help: impl Into<String>) -> ModelError {
        self.help = Some(help.into());
        self
    }
}

/// Every problem found while loading; nothing runs while there is one. At most
/// [`LoadError::SHOWN`] are kept (in file order), the rest counted: a file with twenty thousand bad
/// steps is answered at once, not after a screen-scroll of twenty thousand diagnostics.
#[derive(Debug, thiserror::Error, Diagnostic)]
#[error("{}{} in {file}", plural(.errors.len() + .omitted), shown(.errors.len(), *.omitted))]
pub struct LoadError {
    pub file: String,
    #[related]
    pub errors: Vec<ModelError>,
    /// Errors found but not kept.
    pub omitted: usize,
}

impl LoadError {
    /// How many errors are kept.
    pub const SHOWN: usize = 50;

    pub(crate) fn new(file: impl Into<String>, mut errors: Vec<ModelError>) -> LoadError {
        let omitted = errors.len().saturating_sub(Self::SHOWN);
        errors.truncate(Self::SHOWN);
        LoadError {
            file: file.into(),
            errors,
            omitted,
        }
    }
}

fn shown(kept: usize, omitted: usize) -> String {
    if omitted == 0 {
        String::new()
    } else {
        format!(" (the first {kept} shown)")
    }
}

fn plural(n: usize) -> String {
    if n == 1 {
        "1 error".into()
    } else {
        format!("{n} errors")
    }
}

/// Collects errors during validation instead of stopping at the first.
#[derive(Debug, Default)]
pub(crate) struct Errors(pub Vec<ModelError>);

impl Errors {
    pub(crate) fn push(&mut self, e: ModelError) {
        self.0.push(e);
    }

    /// An error at `span`, with what would be accepted there: every positioned error has a hint.
    pub(crate) fn at(
        &mut self,
        file: &SourceFile,
        span: Range<usize>,
        msg: impl Into<String>,
        help: impl Into<String>,
    ) {
        self.0.push(ModelError::at(file, span, msg).help(help));
    }

    /// Converts a TOML parse/deserialize error, keeping its position and adding a hint.
    pub(crate) fn toml(&mut self, file: &SourceFile, e: toml::de::Error) {
        let msg = e.message().trim().to_string();
        let span = e.span().or_else(|| unpositioned_span(file, &msg));
        let help = toml_hint(&msg);
        match span {
            Some(span) => self.push(ModelError::at(file, span, msg).help(help)),
            None => self.push(ModelError::in_file(&file.name, msg).help(help)),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// What would be accepted, for the errors the TOML reader and serde give (their messages are stable:
/// `unknown field`, `invalid type`, `missing field`, ...). The fallback names the TOML reference.
pub(crate) fn toml_hint(message: &str) -> String {
    let after = |key: &str| message.split_once(key).map(|(_, rest)| rest.trim());
    if let Some(rest) = message.strip_prefix("unknown field ") {
        return match rest.split_once(", expected ") {
            Some((_, keys)) => {
                let keys = keys.trim_start_matches("one of ").replace('`', "");
                format!("this table takes: {keys}")
            }
            None => "this table takes no keys".into(),
        };
    }
    if let Some(rest) = message.strip_prefix("unknown variant ") {
        if let Some((_, values)) = rest.split_once(", expected ") {
            let values = values.trim_start_matches("one of ").replace('`', "");
            return format!("write one of: {values}");
        }
    }
    if let Some(field) = after("missing field ") {
        return format!("add {} = … to this table", field.trim_end_matches('.'));
    }
    let typed = ["invalid type", "invalid value", "invalid length"]
        .iter()
        .any(|p| message.starts_with(p));
    if let (true, Some(expected)) = (typed, after(", expected ")) {
        let example = if expected.contains("string") {
            " (quoted: \"…\")"
        } else if expected.contains("sequence") || expected.contains("array") {
            " (a list: [\"a\", \"b\"])"
        } else if expected.contains("map")
            || expected.contains("struct")
            || expected.contains("table")
        {
            " (a table: { key = \"value\" } or a [section])"
        } else if expected.contains("u8")
            || expected.contains("u16")
            || expected.contains("u32")
            || expected.contains("u64")
            || expected.contains("usize")
        {
            " (a whole number, not negative, within range)"
        } else if expected.contains("bool") {
            " (true or false)"
        } else {
            ""
        };
        return format!("write {expected} here{example}");
    }
    if message.contains("duplicate key") {
        return "each key is written once per table".into();
    }
    if message.contains("recursion limit") {
        return "tables and arrays nest at most a few dozen levels deep; flatten this one".into();
    }
    if let Some(expected) = after("expected ") {
        return format!(
            "TOML expects {expected} here: strings are quoted, tables are [name], lists are \
             [a, b], one key = value per line (https://toml.io/en/v1.0.0)"
        );
    }
    "see https://toml.io/en/v1.0.0: strings are quoted, tables are [name], lists are [a, b], \
     keys are written once"
        .into()
}

/// A position for a TOML error that has none (the reader's nesting limit): the line that nests
/// deepest, which is where such an error comes from.
fn unpositioned_span(file: &SourceFile, message: &str) -> Option<Range<usize>> {
    if !message.contains("recursion limit") {
        return None;
    }
    let mut offset = 0;
    let mut deepest: Option<(usize, Range<usize>)> = None;
    for line in file.text.split_inclusive('\n') {
        let depth = line
            .bytes()
            .filter(|b| matches!(b, b'.' | b'[' | b'{'))
            .count();
        if deepest.as_ref().is_none_or(|(d, _)| depth > *d) {
            deepest = Some((depth, offset..offset + line.trim_end().len().max(1)));
        }
        offset += line.len();
    }
    deepest.map(|(_, span)| span)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_are_one_based() {
        let f = SourceFile::new(Path::new("m.toml"), "a = 1\nbb = 2\n".into());
        assert_eq!(f.line_col(0), (1, 1));
        assert_eq!(f.line_col(6), (2, 1));
        assert_eq!(f.line_col(9), (2, 4));
        let e = ModelError::at(&f, 9..10, "bad");
        assert_eq!(e.to_string(), "m.toml:2:4: bad");
        assert_eq!(f.line_col(13), (3, 1), "past the last newline");
        assert_eq!(f.line_col(99), (3, 1), "clamped to the end");
    }

    #[test]
    fn columns_count_characters_and_long_lines_are_not_quoted() {
        let f = SourceFile::new(Path::new("m.toml"), "é = 1\n".into());
        assert_eq!(f.line_col(3), (1, 3), "é is one column");
        assert_eq!(f.line_col(1), (1, 1), "inside a character");
        let long = format!("x = \"{}\" y\n", "a".repeat(70_000));
        let f = SourceFile::new(Path::new("m.toml"), long);
        let e = ModelError::at(&f, 70_007..70_008, "bad");
        assert_eq!(e.location, "m.toml:1:70008");
        assert!(e.src.is_none() && e.span.is_none(), "not quoted");
        // What the CLI does with it: render it.
        let mut out = String::new();
        miette::GraphicalReportHandler::new()
            .render_report(&mut out, &e)
            .unwrap();
        assert!(out.contains("m.toml:1:70008: bad"), "{out}");
    }
}
