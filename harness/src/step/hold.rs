//! `hold`: lets a deliberate stretch of time pass (`for = "10s"`): the window a fault stays in
//! effect, so that the workloads running in the background meet it. It is not a way to wait for
//! something to happen — a `check` with `eventually` does that, and ends as soon as its condition
//! holds; a hold waits its whole time whatever the system does. A replica that exits meanwhile fails
//! it, as any step (the crash check after every step).

use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::load::StepCx;
use super::{Done, Exec, Kind, PlanCx};
use crate::model::format_duration;
use crate::run::{Cluster, Live, StepError};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Raw {
    #[serde(rename = "for")]
    length: Option<Spanned<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Hold {
    pub length: Duration,
}

impl Kind for Hold {
    const NAMES: &'static [&'static str] = &["hold"];
    type Raw = Raw;
    type Op = Hold;

    fn load(raw: Raw, cx: &mut StepCx<'_, '_>) -> Option<Hold> {
        let d = cx.required(raw.length.as_ref(), "for")?;
        Some(Hold {
            length: cx.duration(d),
        })
    }

    fn plan(&self, _: &PlanCx<'_>) -> Vec<Hold> {
        vec![self.clone()]
    }
}

impl fmt::Display for Hold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "hold for {}", format_duration(self.length))
    }
}

impl Exec for Hold {
    fn deadline(&self, _: &Cluster) -> Duration {
        self.length + Duration::from_secs(10)
    }

    async fn exec(&self, _: &mut Live) -> Result<Done, StepError> {
        // A deliberate window, not a synchronisation: nothing is waited for.
        tokio::time::sleep(self.length).await;
        Ok(Done::nothing())
    }
}
