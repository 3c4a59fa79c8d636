//! What a history holds: operations by clients, each a call with when it was made, when (if ever)
//! it came back, and what came of it.

use std::fmt;

/// A client's call and what came of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    /// The client (Jepsen's process) that made the call; a client has one call open at a time.
    pub client: u64,
    /// When the call was made: nanoseconds, or any tick every client's times are comparable in.
    pub invoke: u64,
    /// When its answer came back; `None`: never (the outcome is then [`Outcome::Unknown`]).
    pub complete: Option<u64>,
    /// The key, for a store of several; `None` is the single register of a register history.
    pub key: Option<String>,
    pub call: Call,
    pub outcome: Outcome,
}

/// What was asked. Values are strings: the checker only compares and concatenates them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Call {
    /// Register: read the value (absent until first written).
    Read,
    /// Register: set the value.
    Write(String),
    /// Register: set `new` if the value is `expected`.
    Cas { expected: String, new: String },
    /// Key-value: the key's value (`""` until first put or appended to).
    Get,
    /// Key-value: set the key's value.
    Put(String),
    /// Key-value: append to the key's value.
    Append(String),
}

/// What came of a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// It took effect, at one instant between its invoke and its completion, with this result.
    Ok(Return),
    /// It definitely did not take effect: the checker drops it.
    Fail,
    /// It may or may not have taken effect, at any time after its invoke (a timeout, a lost
    /// connection, Jepsen's `:info`, no completion): its completion is taken as never and its
    /// result constrains nothing.
    Unknown,
}

/// The result of a call that took effect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Return {
    /// A write, put or append: acknowledged.
    Done,
    /// A read or get: the value seen (`None`: absent, Jepsen's `nil`).
    Value(Option<String>),
    /// A compare-and-set: whether the compare held (and so the new value was set).
    Cas(bool),
}

impl Call {
    /// Whether `ret` is a result this call can have (a read returns a value, a cas a bool, ...).
    pub fn fits(&self, ret: &Return) -> bool {
        matches!(
            (self, ret),
            (Call::Read | Call::Get, Return::Value(_))
                | (
                    Call::Write(_) | Call::Put(_) | Call::Append(_),
                    Return::Done
                )
                | (Call::Cas { .. }, Return::Cas(_))
        )
    }

    /// The operation's name, as `history.jsonl` spells it.
    pub fn name(&self) -> &'static str {
        match self {
            Call::Read => "read",
            Call::Write(_) => "write",
            Call::Cas { .. } => "cas",
            Call::Get => "get",
            Call::Put(_) => "put",
            Call::Append(_) => "append",
        }
    }
}

impl fmt::Display for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Call::Read | Call::Get => f.write_str(self.name()),
            Call::Write(v) | Call::Put(v) | Call::Append(v) => write!(f, "{} {v:?}", self.name()),
            Call::Cas { expected, new } => write!(f, "cas {expected:?}→{new:?}"),
        }
    }
}

impl fmt::Display for Return {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Return::Done => f.write_str("ok"),
            Return::Value(Some(v)) => write!(f, "{v:?}"),
            Return::Value(None) => f.write_str("nil"),
            Return::Cas(held) => write!(f, "{held}"),
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Ok(ret) => write!(f, "{ret}"),
            Outcome::Fail => f.write_str("fail"),
            Outcome::Unknown => f.write_str("unknown"),
        }
    }
}

/// `client 3: cas "1"→"4" -> true [120, 340]` (`[120, …]` when it never completed).
impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "client {}: {} -> {} [{}, ",
            self.client, self.call, self.outcome, self.invoke
        )?;
        match self.complete {
            Some(c) => write!(f, "{c}]"),
            None => f.write_str("…]"),
        }
    }
}

/// Operations in the order they were recorded (the checker orders them by time itself).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct History {
    pub ops: Vec<Operation>,
}

impl History {
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

impl From<Vec<Operation>> for History {
    fn from(ops: Vec<Operation>) -> History {
        History { ops }
    }
}
