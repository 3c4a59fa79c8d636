//! `start`: starts roles (all of them when none are named), roles in order and a role's replicas in
//! parallel, each waited on until its readiness probe holds. Replicas that a step stopped are
//! started again; running ones are left alone.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::load::StepCx;
use super::{Done, Exec, Kind, PlanCx};
use crate::run::{Cluster, Live, StepError};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Raw {
    roles: Option<Spanned<Vec<Spanned<String>>>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Start {
    /// The roles to start, in order; empty: every role.
    pub roles: Vec<String>,
}

impl Kind for Start {
    const NAMES: &'static [&'static str] = &["start"];
    type Raw = Raw;
    type Op = Start;

    fn load(raw: Raw, cx: &mut StepCx<'_, '_>) -> Option<Start> {
        let roles = match &raw.roles {
            None => vec![],
            Some(v) => v
                .get_ref()
                .iter()
                .filter_map(|r| cx.role(r).map(|r| r.name.clone()))
                .collect(),
        };
        Some(Start { roles })
    }

    fn plan(&self, _: &PlanCx<'_>) -> Vec<Start> {
        vec![self.clone()]
    }
}

impl fmt::Display for Start {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.roles.is_empty() {
            f.write_str("start all roles")
        } else {
            write!(f, "start {}", self.roles.join(", "))
        }
    }
}

impl Exec for Start {
    fn deadline(&self, c: &Cluster) -> Duration {
        c.matrix
            .roles
            .iter()
            .chain(&c.matrix.services)
            .map(|r| c.bounce_time(&r.name))
            .sum::<Duration>()
            + Duration::from_secs(60)
    }

    async fn exec(&self, live: &mut Live) -> Result<Done, StepError> {
        let c = &live.cluster;
        let roles: Vec<String> = if self.roles.is_empty() {
            c.matrix.roles.iter().map(|r| r.name.clone()).collect()
        } else {
            self.roles.clone()
        };
        let mut started = vec![];
        for role in roles {
            let snapshot = c.snapshot();
            let names: Vec<String> = c
                .replicas_of(&role)
                .into_iter()
                .filter(|n| snapshot[n].container.is_none() || snapshot[n].stopped)
                .collect();
            for n in &names {
                if snapshot[n].container.is_some() {
                    c.remove(n).await?;
                }
            }
            let starts = names.iter().map(|n| c.start(n));
            for r in futures_util::future::join_all(starts).await {
                r?;
            }
            started.extend(names);
        }
        Ok(Done::nothing().on(started))
    }
}
