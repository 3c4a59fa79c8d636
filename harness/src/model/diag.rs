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
}

impl SourceFile {
    pub(crate) fn new(path: &Path, text: String) -> SourceFile {
        SourceFile {
            name: path.display().to_string(),
            text: text.into(),
        }
    }

    /// 1-based line and column of a byte offset.
    pub(crate) fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let col = before.rfind('\n').map_or(offset, |nl| offset - nl - 1) + 1;
        (line, col)
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
        ModelError {
            location: format!("{}:{line}:{col}", file.name),
            message: message.into(),
            src: Some(NamedSource::new(&file.name, file.text.clone())),
            span: Some(span.into()),
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

/// Every problem found while loading; nothing runs while there is one.
#[derive(Debug, thiserror::Error, Diagnostic)]
#[error("{} in {file}", plural(.errors.len()))]
pub struct LoadError {
    pub file: String,
    #[related]
    pub errors: Vec<ModelError>,
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

    pub(crate) fn at(&mut self, file: &SourceFile, span: Range<usize>, msg: impl Into<String>) {
        self.0.push(ModelError::at(file, span, msg));
    }

    pub(crate) fn at_help(
        &mut self,
        file: &SourceFile,
        span: Range<usize>,
        msg: impl Into<String>,
        help: impl Into<String>,
    ) {
        self.0.push(ModelError::at(file, span, msg).help(help));
    }

    /// Converts a TOML parse/deserialize error, keeping its position.
    pub(crate) fn toml(&mut self, file: &SourceFile, e: toml::de::Error) {
        let msg = e.message().trim().to_string();
        match e.span() {
            Some(span) => self.push(ModelError::at(file, span, msg)),
            None => self.push(ModelError::in_file(&file.name, msg)),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
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
    }
}
