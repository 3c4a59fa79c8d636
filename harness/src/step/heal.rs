//! `heal`: ends network faults (`isolate`, `partition`, `loss`, `throttle`, `delay`): every one in
//! effect, or with `role`/`replica` those that involve these replicas (a partition as a whole).
//! Whatever is still in effect at the end of a trial is healed then anyway.

use std::fmt;
use std::time::Duration;

use super::fault::{selected, RawTarget, Target, Undone};
use super::load::StepCx;
use super::{Done, Exec, Kind, PlanCx};
use crate::outcome::Observation;
use crate::run::{Cluster, Live, StepError, LEADER_WAIT};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Heal {
    /// Every network fault when `None`.
    pub target: Option<Target>,
}

impl Kind for Heal {
    const NAMES: &'static [&'static str] = &["heal"];
    type Raw = RawTarget;
    type Op = Heal;

    fn load(raw: RawTarget, cx: &mut StepCx<'_, '_>) -> Option<Heal> {
        Some(Heal {
            target: cx.undoing(Undone::ByHeal, &raw)?,
        })
    }

    fn plan(&self, _: &PlanCx<'_>) -> Vec<Heal> {
        vec![self.clone()]
    }
}

impl fmt::Display for Heal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.target {
            Some(t) => write!(f, "heal the network faults of {t}"),
            None => f.write_str("heal every network fault"),
        }
    }
}

impl Exec for Heal {
    fn deadline(&self, _: &Cluster) -> Duration {
        LEADER_WAIT + Duration::from_secs(60)
    }

    async fn exec(&self, live: &mut Live) -> Result<Done, StepError> {
        let names = selected(&live.cluster, self.target.as_ref()).await?;
        let step = live.step;
        let healed = live
            .faults
            .heal(&live.cluster, names.as_deref(), step)
            .await?;
        let note = if healed.is_empty() {
            "no network fault was in effect".to_string()
        } else {
            let what: Vec<&str> = healed.iter().map(|(d, _)| d.as_str()).collect();
            format!("healed: {}", what.join("; "))
        };
        let mut replicas: Vec<String> = Vec::new();
        for n in healed.into_iter().flat_map(|(_, r)| r) {
            if !replicas.contains(&n) {
                replicas.push(n);
            }
        }
        Ok(Done::observed(Observation {
            what: replicas.join(", "),
            note: Some(note),
            ..Default::default()
        })
        .on(replicas))
    }
}
