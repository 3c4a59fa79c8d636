//! `stop-workload`: stops a background workload that an earlier step started, and judges it: the
//! step fails when the workload saw less success or longer unavailability than it allows.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::load::StepCx;
use super::{Done, Exec, Kind, PlanCx};
use crate::outcome::Observation;
use crate::run::{violation_detail, workload_failure, Cluster, Live, StepError};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Raw {
    name: Option<Spanned<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StopWorkload {
    pub name: String,
}

impl Kind for StopWorkload {
    const NAMES: &'static [&'static str] = &["stop-workload"];
    type Raw = Raw;
    type Op = StopWorkload;

    fn load(raw: Raw, cx: &mut StepCx<'_, '_>) -> Option<StopWorkload> {
        let name = cx.required(raw.name.as_ref(), "name")?;
        if !cx.sc.workloads.contains(name.get_ref()) {
            cx.err(
                name.span(),
                format!(
                    "no workload `{}` was started before this step",
                    name.get_ref()
                ),
                "name a workload an earlier `do = \"workload\"` step started",
            );
        }
        Some(StopWorkload {
            name: name.get_ref().clone(),
        })
    }

    fn plan(&self, _: &PlanCx<'_>) -> Vec<StopWorkload> {
        vec![self.clone()]
    }
}

impl fmt::Display for StopWorkload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "stop workload {} and judge it", self.name)
    }
}

impl Exec for StopWorkload {
    fn deadline(&self, _: &Cluster) -> Duration {
        Duration::from_secs(60)
    }

    async fn exec(&self, live: &mut Live) -> Result<Done, StepError> {
        let name = &self.name;
        let w = live
            .workloads
            .shift_remove(name)
            .ok_or_else(|| StepError::harness(format!("workload {name} is not running")))?;
        let report = w
            .finish_in(&live.cluster)
            .await
            .ok_or_else(|| StepError::harness(format!("workload {name} panicked")))?;
        let passed = report.passed;
        let note = workload_failure(&report);
        let obs = Observation {
            what: format!("workload {name}"),
            note: Some(violation_detail(&report).unwrap_or_else(|| note.clone())),
            ..Default::default()
        };
        live.reports.push(report);
        match (&live.reports.last().and_then(|r| r.broken.clone()), passed) {
            (Some(_), _) => Err(StepError::harness(note).with(obs)),
            (None, true) => Ok(Done::observed(obs)),
            (None, false) => Err(StepError::fail(note).with(obs)),
        }
    }
}
