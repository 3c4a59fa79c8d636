//! What the fault steps share: the replicas a fault aims at, and the loader's record of the faults
//! the steps so far leave in effect, so that a `resume` or a `heal` with nothing before it to undo is
//! refused with its position (`when` is not weighed: a fault that only some states plan counts).
//! Executing faults, and undoing them at a trial's end, is the runner's (`run/faults.rs`).

use std::fmt;
use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;

use super::load::StepCx;
use super::{Op, ReplicaSel};
use crate::model::Role;
use crate::run::{select, Cluster, StepError};

/// The network-tools helper: a container the harness starts in a replica's network namespace
/// (`--network container:ID`, with `NET_ADMIN`) to drop, shape or delay that replica's traffic with
/// iptables and tc. Built like any image (`crossgrade images build` builds it for a matrix whose
/// scenarios use it), from Debian's packages.
pub(crate) const NET_TOOLS_IMAGE: &str = "crossgrade/net-tools:bookworm";

/// Its Dockerfile (`images/tools/net-tools/Dockerfile`), compiled in so that a matrix anywhere gets
/// the helper without a copy of it.
pub(crate) const NET_TOOLS_DOCKERFILE: &str =
    include_str!("../../../images/tools/net-tools/Dockerfile");

/// The keys of a step that puts a fault on replicas, or takes faults back: `role` and `replica`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTarget {
    role: Option<Spanned<String>>,
    replica: Option<Spanned<toml::Value>>,
}

/// Replicas a fault aims at: `role` and `replica` (an index, `"leader"` or `"all"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    pub role: String,
    pub replica: ReplicaSel,
}

impl Target {
    /// Whether the two may name the same replica (a leader may be any of its role's).
    fn overlaps(&self, other: &Target) -> bool {
        self.role == other.role
            && match (&self.replica, &other.replica) {
                (ReplicaSel::Index(a), ReplicaSel::Index(b)) => a == b,
                _ => true,
            }
    }

    /// Whether every replica `other` may name is one this names.
    fn covers(&self, other: &Target) -> bool {
        self.role == other.role
            && (self.replica == ReplicaSel::All || self.replica == other.replica)
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.replica.label(&self.role))
    }
}

/// What undoes a fault: `resume` a pause, `heal` the network faults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Undone {
    ByResume,
    ByHeal,
}

/// A fault the steps loaded so far leave in effect.
#[derive(Debug, Clone)]
pub(crate) struct OpenFault {
    pub undone: Undone,
    pub targets: Vec<Target>,
}

impl<'a> StepCx<'_, 'a> {
    /// `role` (required) and `replica` of a fault step: a role or service of the system and one of
    /// its replicas.
    pub(crate) fn target(
        &mut self,
        role: &Option<Spanned<String>>,
        replica: &Option<Spanned<toml::Value>>,
    ) -> Option<Target> {
        let r: &Role = self.role_key(role)?;
        let replica = self.replica(replica, Some(r));
        Some(Target {
            role: r.name.clone(),
            replica,
        })
    }

    /// A `pause` or `isolate`'s target (`role` required).
    pub(crate) fn target_of(&mut self, raw: &RawTarget) -> Option<Target> {
        self.target(&raw.role, &raw.replica)
    }

    /// A `resume` or `heal`'s target, with the faults it takes back recorded: none without `role`
    /// or `replica` (it undoes every fault of its kind). `None` when its keys are bad.
    pub(crate) fn undoing(&mut self, undone: Undone, raw: &RawTarget) -> Option<Option<Target>> {
        let target = match (&raw.role, &raw.replica) {
            (None, None) => None,
            _ => Some(self.target(&raw.role, &raw.replica)?),
        };
        let at = raw.role.as_ref().map_or(self.span.clone(), |r| r.span());
        self.closes(undone, target.as_ref(), at);
        Some(target)
    }

    /// Records a fault the step puts in effect.
    pub(crate) fn opens(&mut self, undone: Undone, targets: Vec<Target>) {
        self.sc.faults.push(OpenFault { undone, targets });
    }

    /// Takes back the faults a `resume` or `heal` undoes: those on `target` (all of them without
    /// one). None in effect is an error at `at`.
    pub(crate) fn closes(&mut self, undone: Undone, target: Option<&Target>, at: Range<usize>) {
        if !take_back(&mut self.sc.faults, undone, target) {
            let (fault, steps) = match undone {
                Undone::ByResume => ("pause", "a `pause`"),
                Undone::ByHeal => (
                    "network fault",
                    "an `isolate`, `partition`, `loss`, `throttle` or `delay`",
                ),
            };
            let on = target.map(|t| format!(" on {t}")).unwrap_or_default();
            let before = if self.sc.in_each_state {
                "no [[each_state]] step before this one"
            } else {
                "no step before this one"
            };
            self.err(
                at,
                format!(
                    "no {fault}{on} is in effect here: {before} starts one that is still in effect"
                ),
                format!(
                    "a `{}` undoes what {steps} step before it started (every fault still in \
                     effect is undone at the end of the trial anyway)",
                    self.what
                ),
            );
        }
    }
}

/// Takes back from `open` the faults a `resume` or `heal` (`undone`) of `target` (every replica
/// without one) undoes; `false`, taking nothing, when no fault it may undo is in effect. As a
/// scenario is checked, and a plan's steps: a leader may be any replica of its role.
pub(crate) fn take_back(
    open: &mut Vec<OpenFault>,
    undone: Undone,
    target: Option<&Target>,
) -> bool {
    let matching = |f: &OpenFault| {
        f.undone == undone && target.is_none_or(|t| f.targets.iter().any(|o| t.overlaps(o)))
    };
    if !open.iter().any(matching) {
        return false;
    }
    open.retain(|f| {
        !(f.undone == undone && target.is_none_or(|t| f.targets.iter().all(|o| t.covers(o))))
    });
    true
}

impl Op {
    /// The fault a planned step puts in effect, if it starts one.
    pub(crate) fn opens_fault(&self) -> Option<OpenFault> {
        let (undone, targets) = match self {
            Op::Pause(p) => (Undone::ByResume, vec![p.target.clone()]),
            Op::Isolate(super::Isolate { target })
            | Op::Loss(super::Loss { target, .. })
            | Op::Throttle(super::Throttle { target, .. })
            | Op::Delay(super::Delay { target, .. }) => (Undone::ByHeal, vec![target.clone()]),
            Op::Partition(p) => (Undone::ByHeal, p.groups.iter().flatten().cloned().collect()),
            _ => return None,
        };
        Some(OpenFault { undone, targets })
    }

    /// What a planned `resume` or `heal` undoes: its kind of fault, on its target (every replica
    /// without one).
    pub(crate) fn undoes_faults(&self) -> Option<(Undone, Option<&Target>)> {
        match self {
            Op::Resume(r) => Some((Undone::ByResume, r.target.as_ref())),
            Op::Heal(h) => Some((Undone::ByHeal, h.target.as_ref())),
            _ => None,
        }
    }
}

/// A rate as tc writes it (`1mbit`, `500kbit`, `10mbps`), in bits per second.
pub(crate) fn parse_rate(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let n: f64 = number.parse().ok()?;
    let per_unit: f64 = match unit.to_ascii_lowercase().as_str() {
        "bit" => 1.0,
        "kbit" => 1e3,
        "mbit" => 1e6,
        "gbit" => 1e9,
        "bps" => 8.0,
        "kbps" => 8e3,
        "mbps" => 8e6,
        "gbps" => 8e9,
        _ => return None,
    };
    let bits = n * per_unit;
    (8.0..=1e11).contains(&bits).then_some(bits.round() as u64)
}

/// A rate in bits per second, in the largest unit that keeps it whole (`1mbit`).
pub(crate) fn format_rate(bits: u64) -> String {
    for (unit, n) in [
        ("gbit", 1_000_000_000),
        ("mbit", 1_000_000),
        ("kbit", 1_000),
    ] {
        if bits.is_multiple_of(n) {
            return format!("{}{unit}", bits / n);
        }
    }
    format!("{bits}bit")
}

/// The replicas an undoing step names now, or `None` (every one its faults hold) without a target.
pub(crate) async fn selected(
    cluster: &Cluster,
    target: Option<&Target>,
) -> Result<Option<Vec<String>>, StepError> {
    match target {
        Some(t) => Ok(Some(select(cluster, &t.role, &t.replica).await?)),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_read_as_tc_writes_them() {
        assert_eq!(parse_rate("1mbit"), Some(1_000_000));
        assert_eq!(parse_rate("500kbit"), Some(500_000));
        assert_eq!(parse_rate("1.5Mbit"), Some(1_500_000));
        assert_eq!(parse_rate("10mbps"), Some(80_000_000));
        assert_eq!(parse_rate("1 mbit"), None);
        assert_eq!(parse_rate("fast"), None);
        assert_eq!(parse_rate("1mb"), None);
        assert_eq!(parse_rate("0mbit"), None);
        assert_eq!(parse_rate("mbit"), None);
        assert_eq!(format_rate(1_000_000), "1mbit");
        assert_eq!(format_rate(1_500_000), "1500kbit");
        assert_eq!(format_rate(80_000_000), "80mbit");
        assert_eq!(format_rate(12), "12bit");
    }

    #[test]
    fn a_target_covers_what_it_names_and_overlaps_what_it_may_name() {
        let t = |r: ReplicaSel| Target {
            role: "node".into(),
            replica: r,
        };
        assert!(t(ReplicaSel::All).covers(&t(ReplicaSel::Index(1))));
        assert!(!t(ReplicaSel::Index(1)).covers(&t(ReplicaSel::All)));
        assert!(t(ReplicaSel::Index(1)).overlaps(&t(ReplicaSel::All)));
        assert!(t(ReplicaSel::Leader).overlaps(&t(ReplicaSel::Index(2))));
        assert!(!t(ReplicaSel::Index(1)).overlaps(&t(ReplicaSel::Index(2))));
    }
}
