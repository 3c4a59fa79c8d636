//! Step conditions on releases: `when = "master >= 0.25 and scheduler < 1.0"`.

use std::cmp::Ordering;
use std::fmt;

use super::release::{Release, ReleaseError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Op {
    fn holds(self, o: Ordering) -> bool {
        match self {
            Op::Eq => o == Ordering::Equal,
            Op::Ne => o != Ordering::Equal,
            Op::Lt => o == Ordering::Less,
            Op::Le => o != Ordering::Greater,
            Op::Gt => o == Ordering::Greater,
            Op::Ge => o != Ordering::Less,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "==",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
        }
    }
}

/// Why a `when` condition is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ConditionError {
    #[error("`{0}` is not a comparison like `master >= 0.25` (operators: == != < <= > >=)")]
    NotAComparison(String),
    #[error("`{role}` in condition `{condition}` is not a role; roles are: {}", .roles.join(", "))]
    NotARole {
        role: String,
        condition: String,
        roles: Vec<String>,
    },
    #[error("`{release}` in condition `{condition}` is not a release of the system")]
    UnknownRelease {
        release: String,
        condition: String,
        releases: Vec<String>,
    },
    #[error(transparent)]
    Release(#[from] ReleaseError),
}

impl ConditionError {
    /// What would be accepted.
    pub(crate) fn hint(&self) -> String {
        match self {
            ConditionError::NotAComparison(_) => {
                "a condition is ROLE OP RELEASE, joined by ` and `: e.g. `master >= 0.25 and agent < 1.0`".into()
            }
            ConditionError::NotARole { roles, .. } => format!("roles are: {}", roles.join(", ")),
            ConditionError::UnknownRelease { releases, .. } => {
                format!("the system's releases are: {}", releases.join(", "))
            }
            ConditionError::Release(e) => e.hint().into(),
        }
    }
}

/// One comparison `ROLE OP RELEASE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Comparison {
    pub role: String,
    pub op: Op,
    pub release: Release,
}

/// A conjunction of comparisons. A role whose replicas are at different releases (mid-upgrade) satisfies a
/// comparison only if every replica does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Condition {
    pub all: Vec<Comparison>,
}

impl Condition {
    /// Parses `s` over the system's `roles` and `releases`. A release the system does not have is
    /// refused: the comparison would still be computed, and a step would silently never run.
    pub(crate) fn parse(
        s: &str,
        roles: &[&str],
        releases: &[Release],
    ) -> Result<Condition, ConditionError> {
        let mut all = Vec::new();
        for clause in s.split(" and ") {
            let clause = clause.trim();
            let (pos, op) = ["<=", ">=", "==", "!=", "<", ">"]
                .iter()
                .find_map(|o| clause.find(o).map(|p| (p, *o)))
                .ok_or_else(|| ConditionError::NotAComparison(clause.to_string()))?;
            let role = clause[..pos].trim();
            let rel = clause[pos + op.len()..].trim();
            if !roles.contains(&role) {
                return Err(ConditionError::NotARole {
                    role: role.to_string(),
                    condition: s.to_string(),
                    roles: roles.iter().map(|r| r.to_string()).collect(),
                });
            }
            let op = match op {
                "<=" => Op::Le,
                ">=" => Op::Ge,
                "==" => Op::Eq,
                "!=" => Op::Ne,
                "<" => Op::Lt,
                _ => Op::Gt,
            };
            let release = Release::parse(rel)?;
            if !releases.contains(&release) {
                return Err(ConditionError::UnknownRelease {
                    release: release.to_string(),
                    condition: s.to_string(),
                    releases: releases.iter().map(Release::to_string).collect(),
                });
            }
            all.push(Comparison {
                role: role.to_string(),
                op,
                release,
            });
        }
        Ok(Condition { all })
    }

    /// Evaluates against the releases each role's replicas are at.
    pub(crate) fn holds<'a>(&self, releases_of: impl Fn(&str) -> Vec<&'a Release>) -> bool {
        self.all.iter().all(|c| {
            let rels = releases_of(&c.role);
            !rels.is_empty() && rels.iter().all(|r| c.op.holds((*r).cmp(&c.release)))
        })
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, c) in self.all.iter().enumerate() {
            if i > 0 {
                f.write_str(" and ")?;
            }
            write!(f, "{} {} {}", c.role, c.op.as_str(), c.release)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evaluates_conjunctions_by_version() {
        let known = ["0.8", "0.9", "1.0"].map(|r| Release::parse(r).unwrap());
        let c = Condition::parse(
            "master >= 0.9 and agent < 1.0",
            &["master", "agent"],
            &known,
        )
        .unwrap();
        let m = Release::parse("0.10").unwrap();
        let a = Release::parse("0.22").unwrap();
        assert!(c.holds(|r| if r == "master" { vec![&m] } else { vec![&a] }));
        let old = Release::parse("0.8").unwrap();
        assert!(!c.holds(|r| if r == "master" { vec![&old] } else { vec![&a] }));
    }

    #[test]
    fn mixed_replicas_satisfy_only_if_all_do() {
        let known = [Release::parse("0.23").unwrap()];
        let c = Condition::parse("master >= 0.23", &["master"], &known).unwrap();
        let (a, b) = (
            Release::parse("0.22").unwrap(),
            Release::parse("0.23").unwrap(),
        );
        assert!(!c.holds(|_| vec![&a, &b]));
    }

    #[test]
    fn rejects_unknown_role_missing_operator_and_unknown_release() {
        let known = [Release::parse("1.0").unwrap()];
        assert!(Condition::parse("mastr >= 1.0", &["master"], &known)
            .unwrap_err()
            .to_string()
            .contains("not a role"));
        assert!(Condition::parse("master 1.0", &["master"], &known)
            .unwrap_err()
            .to_string()
            .contains("not a comparison"));
        let e = Condition::parse("master >= 9.9", &["master"], &known).unwrap_err();
        assert!(e.to_string().contains("`9.9`"), "{e}");
        assert!(e.hint().contains("1.0"), "{}", e.hint());
    }
}
