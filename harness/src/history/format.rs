//! The history file formats, told apart by their first line, and reading a file in one.

use std::path::Path;

use super::error::{HistoryError, ParseError};
use super::types::History;
use super::{jepsen, jsonl};

/// A history file's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// crossgrade's own `history.jsonl` ([`jsonl`]).
    Jsonl,
    /// A Jepsen etcd test's log: `INFO jepsen.util - 3 :invoke :cas [1 4]` ([`jepsen::parse_etcd`]).
    JepsenEtcd,
    /// A Jepsen key-value history of EDN maps ([`jepsen::parse_kv`]).
    JepsenKv,
}

impl Format {
    /// Guesses from the text: a first non-empty line that opens a JSON object is history.jsonl, one
    /// that opens an EDN map (`{:`) is Jepsen kv, and a text with a `jepsen.util` line is a Jepsen
    /// etcd log.
    pub fn detect(text: &str) -> Option<Format> {
        let first = text.lines().map(str::trim).find(|l| !l.is_empty())?;
        if first.starts_with("{\"") {
            Some(Format::Jsonl)
        } else if first.starts_with("{:") {
            Some(Format::JepsenKv)
        } else if text.lines().any(|l| l.contains("jepsen.util")) {
            Some(Format::JepsenEtcd)
        } else {
            None
        }
    }

    /// Parses `text` (read from `path`, which errors name).
    pub fn parse(self, path: &Path, text: &str) -> Result<History, ParseError> {
        match self {
            Format::Jsonl => jsonl::parse(path, text),
            Format::JepsenEtcd => jepsen::parse_etcd(path, text),
            Format::JepsenKv => jepsen::parse_kv(path, text),
        }
    }

    /// What a line of this format looks like, for a parse error's hint.
    pub fn help(self) -> &'static str {
        match self {
            Format::Jsonl => {
                "history.jsonl (v1) has one JSON object per line, e.g. {\"client\":0,\"invoke\":10,\
                 \"complete\":20,\"f\":\"write\",\"value\":\"3\",\"outcome\":\"ok\"}; see the \
                 crossgrade::history::jsonl documentation for every field"
            }
            Format::JepsenEtcd => {
                "a Jepsen etcd log line is `INFO  jepsen.util - PROCESS\t:invoke|:ok|:fail|:info\t\
                 :read|:write|:cas\tVALUE` (VALUE: nil, a number, [FROM TO] or :timed-out)"
            }
            Format::JepsenKv => {
                "a Jepsen kv line is an EDN map: {:process 0, :type :invoke|:ok|:fail|:info, \
                 :f :get|:put|:append, :key \"K\", :value \"V\"|nil}"
            }
        }
    }
}

/// Reads the history in `path`, in `format` or the one [`Format::detect`] finds.
pub fn load(path: &Path, format: Option<Format>) -> Result<History, HistoryError> {
    let text = std::fs::read_to_string(path).map_err(|source| HistoryError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let format =
        format
            .or_else(|| Format::detect(&text))
            .ok_or_else(|| HistoryError::UnknownFormat {
                path: path.to_path_buf(),
            })?;
    Ok(format.parse(path, &text)?)
}
