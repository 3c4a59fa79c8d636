//! `stop`: stops replicas of a role (gracefully, or with SIGKILL when `kill = true`), leaving their
//! containers in place. A stopped replica's exit is not a crash; `start` brings it back.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::load::StepCx;
use super::{Done, Exec, Kind, PlanCx, ReplicaSel};
use crate::run::{select, Cluster, Live, StepError};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Raw {
    role: Option<Spanned<String>>,
    replica: Option<Spanned<toml::Value>>,
    kill: Option<Spanned<bool>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stop {
    pub role: String,
    pub replica: ReplicaSel,
    /// SIGKILL instead of a graceful stop.
    pub kill: bool,
}

impl Kind for Stop {
    const NAMES: &'static [&'static str] = &["stop"];
    type Raw = Raw;
    type Op = Stop;

    fn load(raw: Raw, cx: &mut StepCx<'_, '_>) -> Option<Stop> {
        let role = cx.role_key(&raw.role)?;
        let replica = cx.replica(&raw.replica, Some(role));
        Some(Stop {
            role: role.name.clone(),
            replica,
            kill: raw.kill.as_ref().is_some_and(|k| *k.get_ref()),
        })
    }

    fn plan(&self, _: &PlanCx<'_>) -> Vec<Stop> {
        vec![self.clone()]
    }
}

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let how = if self.kill { "kill" } else { "stop" };
        write!(f, "{how} {}", self.replica.label(&self.role))
    }
}

impl Exec for Stop {
    fn deadline(&self, c: &Cluster) -> Duration {
        c.bounce_time(&self.role) * c.role(&self.role).replicas + Duration::from_secs(60)
    }

    async fn exec(&self, live: &mut Live) -> Result<Done, StepError> {
        let c = &live.cluster;
        let names = select(c, &self.role, &self.replica).await?;
        for n in &names {
            c.stop(n, self.kill).await?;
        }
        Ok(Done::nothing().on(names))
    }
}
