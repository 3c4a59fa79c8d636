//! `partition`: splits replicas into groups that cannot reach each other: every packet between two
//! replicas of different groups is dropped (iptables, in each one's network namespace, from the
//! network-tools helper). Replicas in no group reach everyone as before. `heal` ends it.
//!
//! A group lists replicas as `"node-0"`, a whole role as `"node"`, or a table
//! `{ role = "node", replica = "leader" }` (an index, `"leader"` or `"all"`, as other steps select).

use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::fault::{Target, Undone};
use super::load::StepCx;
use super::{Done, Exec, Kind, PlanCx, ReplicaSel};
use crate::outcome::Observation;
use crate::run::{select, Cluster, Live, StepError, LEADER_WAIT};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Raw {
    groups: Option<Spanned<Vec<Group>>>,
}

/// One group's members, each with its position.
type Group = Spanned<Vec<Spanned<toml::Value>>>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMember {
    role: Option<String>,
    replica: Option<toml::Value>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Partition {
    pub groups: Vec<Vec<Target>>,
}

const HINT: &str =
    "write e.g. `groups = [[\"node-0\"], [\"node-1\", \"node-2\"]]`: replicas by name, \
                    a whole role by its name, or `{ role = \"node\", replica = \"leader\" }`";

impl Kind for Partition {
    const NAMES: &'static [&'static str] = &["partition"];
    type Raw = Raw;
    type Op = Partition;

    fn load(raw: Raw, cx: &mut StepCx<'_, '_>) -> Option<Partition> {
        let groups = cx.required(raw.groups, "groups")?;
        if groups.get_ref().len() < 2 {
            cx.err(
                groups.span(),
                "a partition needs at least two groups",
                HINT.to_string(),
            );
            return None;
        }
        let mut out: Vec<Vec<Target>> = Vec::new();
        let mut seen: Vec<(Target, std::ops::Range<usize>)> = Vec::new();
        let mut ok = true;
        for g in groups.get_ref() {
            if g.get_ref().is_empty() {
                cx.err(
                    g.span(),
                    "a group of a partition is empty",
                    HINT.to_string(),
                );
                ok = false;
                continue;
            }
            let mut group = Vec::new();
            for m in g.get_ref() {
                let Some(t) = member(m, cx) else {
                    ok = false;
                    continue;
                };
                if let Some((other, _)) =
                    seen.iter().find(|(o, _)| o.role == t.role && clash(o, &t))
                {
                    cx.err(
                        m.span(),
                        format!("{t} is already in a group of this partition (as {other})"),
                        "put each replica in one group; replicas in none reach every group",
                    );
                    ok = false;
                    continue;
                }
                seen.push((t.clone(), m.span()));
                group.push(t);
            }
            out.push(group);
        }
        if !ok {
            return None;
        }
        cx.opens(Undone::ByHeal, out.iter().flatten().cloned().collect());
        Some(Partition { groups: out })
    }

    fn plan(&self, _: &PlanCx<'_>) -> Vec<Partition> {
        vec![self.clone()]
    }
}

/// Whether two members of one role certainly name a replica in common (a leader is only known when
/// the step runs).
fn clash(a: &Target, b: &Target) -> bool {
    match (&a.replica, &b.replica) {
        (ReplicaSel::Index(x), ReplicaSel::Index(y)) => x == y,
        (ReplicaSel::All, _) | (_, ReplicaSel::All) => true,
        _ => false,
    }
}

/// One member of a group: `"node-0"`, `"node"` or `{ role, replica }`.
fn member(m: &Spanned<toml::Value>, cx: &mut StepCx<'_, '_>) -> Option<Target> {
    match m.get_ref() {
        toml::Value::String(s) => {
            let names = cx.sc.role_names();
            if names.contains(&s.as_str()) {
                return Some(Target {
                    role: s.clone(),
                    replica: ReplicaSel::All,
                });
            }
            let parsed = s
                .rsplit_once('-')
                .and_then(|(role, i)| Some((role, i.parse::<u32>().ok()?)))
                .filter(|(role, _)| names.contains(role));
            let Some((role, index)) = parsed else {
                let known = names.join(", ");
                cx.err(
                    m.span(),
                    format!("`{s}` is no replica or role of the system"),
                    format!("name a replica as ROLE-INDEX (e.g. `node-0`) or a role; roles are: {known}"),
                );
                return None;
            };
            let r = cx.known_role(role)?;
            if index >= r.replicas {
                cx.err(
                    m.span(),
                    format!(
                        "replica {index} does not exist (the role has {})",
                        r.replicas
                    ),
                    format!(
                        "replicas are numbered from 0 to {}",
                        r.replicas.saturating_sub(1)
                    ),
                );
                return None;
            }
            Some(Target {
                role: role.to_string(),
                replica: ReplicaSel::Index(index),
            })
        }
        toml::Value::Table(t) => {
            let raw: RawMember = match t.clone().try_into() {
                Ok(r) => r,
                Err(e) => {
                    cx.err(m.span(), e.message().trim().to_string(), HINT.to_string());
                    return None;
                }
            };
            // A value inside an array keeps no positions of its own: problems point at the member.
            let Some(role) = raw.role else {
                cx.err(
                    m.span(),
                    "a group member's table needs `role`",
                    HINT.to_string(),
                );
                return None;
            };
            let replica = raw.replica.map(|r| Spanned::new(m.span(), r));
            cx.target(&Some(Spanned::new(m.span(), role)), &replica)
        }
        _ => {
            cx.err(m.span(), "a group lists replicas", HINT.to_string());
            None
        }
    }
}

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let groups: Vec<String> = self
            .groups
            .iter()
            .map(|g| g.iter().map(member_label).collect::<Vec<_>>().join(", "))
            .collect();
        write!(f, "partition {}", groups.join(" | "))
    }
}

/// `node-0`, `node` (all of it), `the node leader`.
fn member_label(t: &Target) -> String {
    match t.replica {
        ReplicaSel::All => t.role.clone(),
        _ => t.to_string(),
    }
}

impl Exec for Partition {
    fn deadline(&self, _: &Cluster) -> Duration {
        LEADER_WAIT + Duration::from_secs(60)
    }

    async fn exec(&self, live: &mut Live) -> Result<Done, StepError> {
        let mut groups: Vec<Vec<String>> = Vec::new();
        for g in &self.groups {
            let mut names = Vec::new();
            for t in g {
                for n in select(&live.cluster, &t.role, &t.replica).await? {
                    if let Some(i) = groups.iter().position(|o| o.contains(&n)) {
                        return Err(StepError::harness(format!(
                            "{n} is in two groups of the partition (groups {} and {})",
                            i + 1,
                            groups.len() + 1
                        )));
                    }
                    if !names.contains(&n) {
                        names.push(n);
                    }
                }
            }
            groups.push(names);
        }
        let step = live.step;
        live.faults.partition(&live.cluster, &groups, step).await?;
        let all: Vec<String> = groups.iter().flatten().cloned().collect();
        let shown: Vec<String> = groups.iter().map(|g| g.join(", ")).collect();
        Ok(Done::observed(Observation {
            what: all.join(", "),
            note: Some(format!("partitioned {}", shown.join(" | "))),
            ..Default::default()
        })
        .on(all))
    }
}
