//! `restart`: bounces replicas of a role (an index, the leader, or all of them one at a time): stop,
//! remove, start again at the same release on the same data volume, wait until ready.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::load::StepCx;
use super::{Done, Exec, Kind, PlanCx, ReplicaSel};
use crate::outcome::Observation;
use crate::run::{select, Cluster, Live, StepError};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Raw {
    role: Option<Spanned<String>>,
    replica: Option<Spanned<toml::Value>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Restart {
    pub role: String,
    pub replica: ReplicaSel,
}

impl Kind for Restart {
    const NAMES: &'static [&'static str] = &["restart"];
    type Raw = Raw;
    type Op = Restart;

    fn load(raw: Raw, cx: &mut StepCx<'_, '_>) -> Option<Restart> {
        let role = cx.role_key(&raw.role)?;
        let replica = cx.replica(&raw.replica, Some(role));
        Some(Restart {
            role: role.name.clone(),
            replica,
        })
    }

    fn plan(&self, _: &PlanCx<'_>) -> Vec<Restart> {
        vec![self.clone()]
    }
}

impl fmt::Display for Restart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "restart {}", self.replica.label(&self.role))
    }
}

impl Exec for Restart {
    fn deadline(&self, c: &Cluster) -> Duration {
        c.bounce_time(&self.role) * c.role(&self.role).replicas + Duration::from_secs(60)
    }

    async fn exec(&self, live: &mut Live) -> Result<Done, StepError> {
        let c = &live.cluster;
        let names = select(c, &self.role, &self.replica).await?;
        for n in &names {
            let rel = c.replica(n).release;
            c.replace(n, &rel, None).await?;
        }
        Ok(Done::observed(Observation {
            what: names.join(", "),
            note: Some(format!("restarted {}", names.join(", "))),
            ..Default::default()
        })
        .on(names))
    }
}
