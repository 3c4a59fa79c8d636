//! `upgrade` / `downgrade`: moves a role's replicas to another release one at a time, each on its
//! own data volume (graceful stop, remove, start the other release's image, wait until ready).
//! The planner expands it into one [`Move`] per replica, with `each_state` checks after each; the
//! runner only ever sees moves, with their release resolved. With `exits`, each moved replica is
//! expected to refuse its new release: a move the system documents as unsupported (PostgreSQL's new
//! major on an old data directory) passes when it is refused, and fails when it is not.

use std::fmt;
use std::time::Duration;

use indexmap::IndexMap;
use serde::Deserialize;
use toml::Spanned;

use super::load::StepCx;
use super::{Done, Exec, Kind, PlanCx};
use crate::model::{Release, ScenarioKind, Template};
use crate::outcome::Observation;
use crate::run::{next_to_move, Cluster, Live, StepError, EXPECTED_EXIT_WAIT};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Raw {
    role: Option<Spanned<String>>,
    to: Option<Spanned<String>>,
    order: Option<Spanned<String>>,
    count: Option<Spanned<i64>>,
    first_start: Option<Spanned<RawFirstStart>>,
    exits: Option<Spanned<RawRefusal>>,
}

/// `exits = { code = 1 }`: about each replica the step moves, so no role or replica.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRefusal {
    code: Option<i64>,
}

/// What a move expects instead of a ready replica: that it refuses the release at its first start,
/// exiting on its own (with this code, if given) before it is ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub code: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFirstStart {
    #[serde(default)]
    env: IndexMap<String, Spanned<String>>,
    #[serde(default)]
    args: Vec<Spanned<String>>,
}

/// A setting for the first start of a moved replica at its new release only (ZooKeeper 3.5+'s
/// `snapshot.trust.empty=true` on 3.4's data): later starts of that replica go without it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct FirstStart {
    /// Set (or replaced) in the container's environment.
    pub env: Vec<(String, Template)>,
    /// Appended to the role's command.
    pub args: Vec<Template>,
}

/// Where an upgrade goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ReleaseRef {
    /// The path's destination release.
    Target,
    /// The path's source release (for rollbacks).
    Source,
    Exact(Release),
}

/// Which replica moves next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReplicaOrder {
    ByIndex,
    LeaderFirst,
    LeaderLast,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Upgrade {
    pub role: String,
    pub to: ReleaseRef,
    pub order: ReplicaOrder,
    /// Move only this many replicas (in `order`); a later upgrade of the role moves the rest.
    pub count: Option<u32>,
    pub first_start: Option<FirstStart>,
    /// Each moved replica must refuse the release (exit) instead of getting ready.
    pub exits: Option<Refusal>,
}

/// Move one replica of `role` to `to`: the next one, in `order`, that is not there yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Move {
    pub role: String,
    pub to: Release,
    pub order: ReplicaOrder,
    /// 1-based position of this move among the role's replicas, for display.
    pub nth: u32,
    pub of: u32,
    pub(crate) first_start: Option<FirstStart>,
    pub(crate) exits: Option<Refusal>,
}

impl Kind for Upgrade {
    const NAMES: &'static [&'static str] = &["upgrade", "downgrade"];
    type Raw = Raw;
    type Op = Move;

    fn load(raw: Raw, cx: &mut StepCx<'_, '_>) -> Option<Upgrade> {
        if cx.sc.in_each_state {
            cx.err(
                cx.span.clone(),
                format!("a `{}` step cannot be an [[each_state]] step", cx.what),
                "[[each_state]] steps check every intermediate state; moves go in [[step]]",
            );
            return None;
        }
        let role = cx.role_key(&raw.role)?;
        if role.fixed_release.is_some() {
            let span = raw.role.as_ref().map_or(cx.span.clone(), |r| r.span());
            cx.err(
                span,
                format!("`{}` is a service: its release is fixed", role.name),
                "name a [roles.NAME] in `role`",
            );
        }
        let path = cx.scenario_kind() == ScenarioKind::Path;
        let to = match &raw.to {
            None if path && cx.what == "upgrade" => ReleaseRef::Target,
            None if path => ReleaseRef::Source,
            None => {
                cx.missing("to");
                ReleaseRef::Target
            }
            Some(t) if t.get_ref() == "target" || t.get_ref() == "source" => {
                if !path {
                    cx.err(
                        t.span(),
                        format!("`{}` only has a meaning in a path scenario", t.get_ref()),
                        "in a cell scenario, name a release of the system",
                    );
                }
                if t.get_ref() == "target" {
                    ReleaseRef::Target
                } else {
                    ReleaseRef::Source
                }
            }
            Some(t) => ReleaseRef::Exact(cx.release(t)?),
        };
        let order = match raw.order.as_ref().map(|o| (o.get_ref().as_str(), o.span())) {
            None | Some(("index", _)) => ReplicaOrder::ByIndex,
            Some((which @ ("leader-first" | "leader-last"), sp)) => {
                if role.leader.is_none() {
                    cx.err(
                        sp,
                        format!("role `{}` does not say how to find its leader", role.name),
                        "add `leader = { action = \"NAME\", pointer = \"/leader\" }` to the role",
                    );
                }
                if which == "leader-first" {
                    ReplicaOrder::LeaderFirst
                } else {
                    ReplicaOrder::LeaderLast
                }
            }
            Some((other, sp)) => {
                cx.err(
                    sp,
                    format!("unknown order `{other}`"),
                    "orders are: index, leader-first, leader-last",
                );
                ReplicaOrder::ByIndex
            }
        };
        let count = raw.count.as_ref().and_then(|c| {
            let n = *c.get_ref();
            if n < 1 || n > i64::from(role.replicas) {
                cx.err(
                    c.span(),
                    format!(
                        "count must be between 1 and {} (the replicas of `{}`)",
                        role.replicas, role.name
                    ),
                    "leave `count` out to move every replica",
                );
                None
            } else {
                Some(n as u32)
            }
        });
        let first_start = raw.first_start.as_ref().map(|f| {
            let f = f.get_ref();
            let roles: Vec<String> = cx.sc.role_names().iter().map(|r| r.to_string()).collect();
            let roles: Vec<&str> = roles.iter().map(String::as_str).collect();
            let mut template = |s: &Spanned<String>| {
                Template::parse(s.get_ref(), &roles).unwrap_or_else(|e| {
                    cx.err(s.span(), e.to_string(), e.hint());
                    Template::literal(s.get_ref())
                })
            };
            FirstStart {
                env: f
                    .env
                    .iter()
                    .map(|(k, v)| (k.clone(), template(v)))
                    .collect(),
                args: f.args.iter().map(&mut template).collect(),
            }
        });
        let exits = raw.exits.as_ref().map(|x| Refusal {
            code: x.get_ref().code,
        });
        Some(Upgrade {
            role: role.name.clone(),
            to,
            order,
            count,
            first_start,
            exits,
        })
    }

    fn plan(&self, cx: &PlanCx<'_>) -> Vec<Move> {
        let replicas = cx.releases.get(&self.role).map_or(&[][..], Vec::as_slice);
        self.moves(replicas, cx.path)
    }
}

impl Upgrade {
    /// The release it goes to on `path` (`None` in a cell: `target` and `source` are refused
    /// there when the scenario loads, so only an exact release reaches a cell's plan).
    pub(crate) fn destination(&self, path: Option<(&Release, &Release)>) -> Option<Release> {
        match (&self.to, path) {
            (ReleaseRef::Exact(r), _) => Some(r.clone()),
            (ReleaseRef::Target, Some((_, to))) => Some(to.clone()),
            (ReleaseRef::Source, Some((from, _))) => Some(from.clone()),
            (_, None) => None,
        }
    }

    /// The moves it plans, given the releases the role's replicas are at: one per replica not yet
    /// at the destination, at most `count`.
    pub(crate) fn moves(
        &self,
        replicas: &[Release],
        path: Option<(&Release, &Release)>,
    ) -> Vec<Move> {
        let Some(to) = self.destination(path) else {
            return vec![];
        };
        let pending = replicas.iter().filter(|r| **r != to).count();
        let moving = pending.min(self.count.map_or(usize::MAX, |c| c as usize));
        (0..moving)
            .map(|k| Move {
                role: self.role.clone(),
                to: to.clone(),
                order: self.order,
                nth: (replicas.len() - pending + k + 1) as u32,
                of: replicas.len() as u32,
                first_start: self.first_start.clone(),
                exits: self.exits,
            })
            .collect()
    }
}

impl fmt::Display for Upgrade {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let to = match &self.to {
            ReleaseRef::Target => "the path's target".to_string(),
            ReleaseRef::Source => "the path's source".to_string(),
            ReleaseRef::Exact(r) => r.to_string(),
        };
        write!(f, "upgrade {} to {to}", self.role)
    }
}

impl fmt::Display for Move {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let how = match self.order {
            ReplicaOrder::ByIndex => "",
            ReplicaOrder::LeaderFirst => ", leader first",
            ReplicaOrder::LeaderLast => ", leader last",
        };
        write!(
            f,
            "move {} replica {}/{} to {}{how}",
            self.role, self.nth, self.of, self.to
        )?;
        if let Some(first) = &self.first_start {
            let settings: Vec<String> = first
                .env
                .iter()
                .map(|(k, v)| format!("{k}={}", v.source()))
                .chain(first.args.iter().map(|a| a.source().to_string()))
                .collect();
            write!(f, ", first start with {}", settings.join(" "))?;
        }
        if let Some(refusal) = &self.exits {
            write!(f, "; it must refuse {} and exit", self.to)?;
            if let Some(code) = refusal.code {
                write!(f, " with code {code}")?;
            }
        }
        Ok(())
    }
}

impl Exec for Move {
    fn deadline(&self, c: &Cluster) -> Duration {
        c.bounce_time(&self.role) * c.role(&self.role).replicas
            + Duration::from_secs(60)
            + if self.exits.is_some() {
                EXPECTED_EXIT_WAIT
            } else {
                Duration::ZERO
            }
    }

    async fn exec(&self, live: &mut Live) -> Result<Done, StepError> {
        let c = &live.cluster;
        let name = next_to_move(c, &self.role, &self.to, self.order).await?;
        let from = c.replica(&name).release;
        if let Some(refusal) = self.exits {
            let refused = c
                .replace_refused(&name, &self.to, self.first_start.as_ref(), refusal.code)
                .await?;
            return Ok(Done::observed(refused).on(vec![name]));
        }
        c.replace(&name, &self.to, self.first_start.as_ref())
            .await?;
        Ok(Done::observed(Observation {
            what: name.clone(),
            note: Some(format!("moved {name} from {from} to {}", self.to)),
            ..Default::default()
        })
        .on(vec![name]))
    }
}
