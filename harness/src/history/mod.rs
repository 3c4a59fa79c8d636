//! Operation histories and a linearizability checker (issue 16).
//!
//! A [`History`] is what clients did to a system: each [`Operation`] with its client, when it was
//! invoked and completed, and its [`Outcome`]. It is read from crossgrade's own `history.jsonl`
//! ([`jsonl`]) or imported from Jepsen's logs ([`jepsen`]), and checked against a sequential
//! [`Model`] (a register, or a key-value store) by [`check`]: a Wing–Gong/Lowe search in the manner
//! of porcupine, key by key, that names the window of operations that cannot be ordered when there
//! is no linearization.

mod check;
mod error;
mod format;
pub mod jepsen;
pub mod jsonl;
mod model;
mod types;

pub use check::{check, Check, CheckError, CheckOptions, Exhausted, Verdict, Violation};
pub use error::{HistoryError, ParseError};
pub use format::{load, Format};
pub use model::{Model, ModelKind, KV, REGISTER};
pub use types::{Call, History, Operation, Outcome, Return};
