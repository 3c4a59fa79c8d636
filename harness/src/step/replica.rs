//! Naming replicas in steps: which replica a step acts on, which action it runs, and which replica
//! it expects to exit.

use serde::Deserialize;
use toml::Spanned;

/// Which replicas of a role a step acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ReplicaSel {
    All,
    Index(u32),
    /// Whichever replica leads when the step runs (asked through the role's `leader` action).
    Leader,
}

impl ReplicaSel {
    /// `all node`, `node-1`, `the node leader`.
    pub(crate) fn label(&self, role: &str) -> String {
        match self {
            ReplicaSel::All => format!("all {role}"),
            ReplicaSel::Index(i) => format!("{role}-{i}"),
            ReplicaSel::Leader => format!("the {role} leader"),
        }
    }
}

/// `ROLE.ACTION`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ActionRef {
    pub role: String,
    pub action: String,
}

impl std::fmt::Display for ActionRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.role, self.action)
    }
}

/// A replica that a step makes exit on its own (an operator's shutdown, a lame-duck signal): the
/// step waits for that exit, and it is not a crash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ExpectedExit {
    pub role: String,
    pub replica: u32,
    /// The exit code it must exit with, if given.
    pub code: Option<i64>,
}

impl ExpectedExit {
    /// The replica's name (`agent-0`).
    pub(crate) fn name(&self) -> String {
        format!("{}-{}", self.role, self.replica)
    }

    /// `; then agent-0 exits with code 0`, for step descriptions.
    pub(crate) fn describe(&self) -> String {
        let mut s = format!("; then {} exits", self.name());
        if let Some(code) = self.code {
            s.push_str(&format!(" with code {code}"));
        }
        s
    }
}

/// `exits = { role = "agent", replica = 0, code = 0 }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawExits {
    pub role: Option<Spanned<String>>,
    pub replica: Option<Spanned<toml::Value>>,
    pub code: Option<i64>,
}
