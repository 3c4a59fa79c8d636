//! Why a history file could not be had: it could not be read, its format could not be told, a line
//! is not an operation, or its operations are not the model's.

use std::path::PathBuf;

use miette::Diagnostic;

use super::check::CheckError;
use super::format::Format;

/// A line of a history file that is not what its format says a line is.
#[derive(Debug, thiserror::Error, Diagnostic, PartialEq, Eq)]
#[error("{}:{line}: {message}", .path.display())]
#[diagnostic(help("{}", .format.help()))]
pub struct ParseError {
    pub path: PathBuf,
    /// 1-based.
    pub line: usize,
    pub message: String,
    pub format: Format,
}

#[derive(Debug, thiserror::Error, Diagnostic)]
pub enum HistoryError {
    #[error("cannot read {}", .path.display())]
    #[diagnostic(help("is the path right, and the file readable?"))]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    #[diagnostic(transparent)]
    Parse(#[from] ParseError),
    #[error("cannot tell the format of {}", .path.display())]
    #[diagnostic(help(
        "its first line is neither a JSON object (history.jsonl) nor an EDN map (Jepsen kv), and no \
         line holds `jepsen.util` (a Jepsen etcd log): give --format jsonl|jepsen-etcd|jepsen-kv"
    ))]
    UnknownFormat { path: PathBuf },
    #[error("{} cannot be checked as a {model} history", .path.display())]
    #[diagnostic(help("is --model right? register: read, write, cas; kv: get, put, append"))]
    Model {
        path: PathBuf,
        model: &'static str,
        #[source]
        source: CheckError,
    },
}
