//! `isolate`: cuts replicas off the trial's network (the engine's network disconnect): nothing
//! reaches them and they reach nothing, the harness's own probes included, while their processes run
//! on. `heal` connects them again under their names (the engine may give them another address).

use std::fmt;
use std::time::Duration;

use super::fault::{RawTarget, Target, Undone};
use super::load::StepCx;
use super::{Done, Exec, Kind, PlanCx};
use crate::outcome::Observation;
use crate::run::{select, Cluster, Live, StepError, LEADER_WAIT};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Isolate {
    pub target: Target,
}

impl Kind for Isolate {
    const NAMES: &'static [&'static str] = &["isolate"];
    type Raw = RawTarget;
    type Op = Isolate;

    fn load(raw: RawTarget, cx: &mut StepCx<'_, '_>) -> Option<Isolate> {
        let target = cx.target_of(&raw)?;
        cx.opens(Undone::ByHeal, vec![target.clone()]);
        Some(Isolate { target })
    }

    fn plan(&self, _: &PlanCx<'_>) -> Vec<Isolate> {
        vec![self.clone()]
    }
}

impl fmt::Display for Isolate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "isolate {}", self.target)
    }
}

impl Exec for Isolate {
    fn deadline(&self, _: &Cluster) -> Duration {
        LEADER_WAIT + Duration::from_secs(30)
    }

    async fn exec(&self, live: &mut Live) -> Result<Done, StepError> {
        let names = select(&live.cluster, &self.target.role, &self.target.replica).await?;
        let step = live.step;
        for n in &names {
            live.faults.isolate(&live.cluster, n, step).await?;
        }
        Ok(Done::observed(Observation {
            what: names.join(", "),
            note: Some(format!("cut {} off the trial's network", names.join(", "))),
            ..Default::default()
        })
        .on(names))
    }
}
