//! `pause` and `resume`: freeze every process of replicas (the engine's pause, the cgroup freezer:
//! they neither run nor answer, their connections stay open) and thaw them. A pause still in effect
//! at the end of the trial is undone then; a replica stopped, restarted or moved while paused is
//! thawed first (its pause ends there).

use std::fmt;
use std::time::Duration;

use super::fault::{selected, RawTarget, Target, Undone};
use super::load::StepCx;
use super::{Done, Exec, Kind, PlanCx};
use crate::outcome::Observation;
use crate::run::{select, Cluster, Live, StepError, LEADER_WAIT};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pause {
    pub target: Target,
}

impl Kind for Pause {
    const NAMES: &'static [&'static str] = &["pause"];
    type Raw = RawTarget;
    type Op = Pause;

    fn load(raw: RawTarget, cx: &mut StepCx<'_, '_>) -> Option<Pause> {
        let target = cx.target_of(&raw)?;
        cx.opens(Undone::ByResume, vec![target.clone()]);
        Some(Pause { target })
    }

    fn plan(&self, _: &PlanCx<'_>) -> Vec<Pause> {
        vec![self.clone()]
    }
}

impl fmt::Display for Pause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pause {}", self.target)
    }
}

impl Exec for Pause {
    fn deadline(&self, _: &Cluster) -> Duration {
        LEADER_WAIT + Duration::from_secs(30)
    }

    async fn exec(&self, live: &mut Live) -> Result<Done, StepError> {
        let names = select(&live.cluster, &self.target.role, &self.target.replica).await?;
        let step = live.step;
        for n in &names {
            live.faults.pause(&live.cluster, n, step).await?;
        }
        Ok(Done::observed(Observation {
            what: names.join(", "),
            note: Some(format!("paused {}", names.join(", "))),
            ..Default::default()
        })
        .on(names))
    }
}

/// `resume`: thaws paused replicas (`role`/`replica`), or every paused one without `role`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Resume {
    /// Every paused replica when `None`.
    pub target: Option<Target>,
}

impl Kind for Resume {
    const NAMES: &'static [&'static str] = &["resume"];
    type Raw = RawTarget;
    type Op = Resume;

    fn load(raw: RawTarget, cx: &mut StepCx<'_, '_>) -> Option<Resume> {
        Some(Resume {
            target: cx.undoing(Undone::ByResume, &raw)?,
        })
    }

    fn plan(&self, _: &PlanCx<'_>) -> Vec<Resume> {
        vec![self.clone()]
    }
}

impl fmt::Display for Resume {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.target {
            Some(t) => write!(f, "resume {t}"),
            None => f.write_str("resume every paused replica"),
        }
    }
}

impl Exec for Resume {
    fn deadline(&self, _: &Cluster) -> Duration {
        LEADER_WAIT + Duration::from_secs(30)
    }

    async fn exec(&self, live: &mut Live) -> Result<Done, StepError> {
        let names = selected(&live.cluster, self.target.as_ref()).await?;
        let step = live.step;
        let resumed = live
            .faults
            .resume(&live.cluster, names.as_deref(), step)
            .await?;
        let note = if resumed.is_empty() {
            "nothing was paused".to_string()
        } else {
            format!("resumed {}", resumed.join(", "))
        };
        Ok(Done::observed(Observation {
            what: resumed.join(", "),
            note: Some(note),
            ..Default::default()
        })
        .on(resumed))
    }
}
