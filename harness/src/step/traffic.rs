//! `loss`, `throttle` and `delay`: a replica's traffic made lossy, slow or late, from the
//! network-tools helper in its network namespace. `heal` ends them.
//!
//! - `loss`: each packet it sends or receives (loopback aside) is dropped with probability
//!   `percent`/100 (iptables' `statistic` match).
//! - `throttle`: what it sends is limited to `rate` (a `tbf` qdisc on its interfaces).
//! - `delay`: what it sends is held back by `delay` (a `netem` qdisc). A kernel without netem makes
//!   the step an `error` that says so, with what tc answered: the environment's lack, not the
//!   system's failure.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::fault::{format_rate, parse_rate, Target, Undone};
use super::load::StepCx;
use super::{Done, Exec, Kind, PlanCx};
use crate::model::format_duration;
use crate::outcome::Observation;
use crate::run::{select, Cluster, Live, StepError, LEADER_WAIT};

/// What the three steps do to a replica's traffic.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Shaping {
    /// Percent of packets dropped, each way.
    Loss(f64),
    /// Bits per second it may send.
    Throttle(u64),
    Delay(Duration),
}

impl fmt::Display for Shaping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Shaping::Loss(p) => write!(f, "loss {p}%"),
            Shaping::Throttle(r) => write!(f, "throttle to {}", format_rate(*r)),
            Shaping::Delay(d) => write!(f, "delay by {}", format_duration(*d)),
        }
    }
}

/// Runs a shaping on the replicas a step selects.
async fn shape(live: &mut Live, target: &Target, how: &Shaping) -> Result<Done, StepError> {
    let names = select(&live.cluster, &target.role, &target.replica).await?;
    let step = live.step;
    for n in &names {
        live.faults.shape(&live.cluster, n, how, step).await?;
    }
    Ok(Done::observed(Observation {
        what: names.join(", "),
        note: Some(format!("{how} on {}", names.join(", "))),
        ..Default::default()
    })
    .on(names))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLoss {
    role: Option<Spanned<String>>,
    replica: Option<Spanned<toml::Value>>,
    percent: Option<Spanned<toml::Value>>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Loss {
    pub target: Target,
    pub percent: f64,
}

impl Kind for Loss {
    const NAMES: &'static [&'static str] = &["loss"];
    type Raw = RawLoss;
    type Op = Loss;

    fn load(raw: RawLoss, cx: &mut StepCx<'_, '_>) -> Option<Loss> {
        let target = cx.target(&raw.role, &raw.replica);
        let p = cx.required(raw.percent.as_ref(), "percent")?;
        let percent = match p.get_ref() {
            toml::Value::Integer(i) => Some(*i as f64),
            toml::Value::Float(f) => Some(*f),
            _ => None,
        };
        let Some(percent) = percent.filter(|v| (0.0..=100.0).contains(v)) else {
            cx.err(
                p.span(),
                "`percent` is a share of packets from 0 to 100",
                "write e.g. `percent = 30` (100 drops everything)",
            );
            return None;
        };
        let target = target?;
        cx.opens(Undone::ByHeal, vec![target.clone()]);
        Some(Loss { target, percent })
    }

    fn plan(&self, _: &PlanCx<'_>) -> Vec<Loss> {
        vec![self.clone()]
    }
}

impl fmt::Display for Loss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "drop {}% of the packets of {}",
            self.percent, self.target
        )
    }
}

impl Exec for Loss {
    fn deadline(&self, _: &Cluster) -> Duration {
        LEADER_WAIT + Duration::from_secs(60)
    }

    async fn exec(&self, live: &mut Live) -> Result<Done, StepError> {
        shape(live, &self.target, &Shaping::Loss(self.percent)).await
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawThrottle {
    role: Option<Spanned<String>>,
    replica: Option<Spanned<toml::Value>>,
    rate: Option<Spanned<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Throttle {
    pub target: Target,
    /// Bits per second.
    pub rate: u64,
}

impl Kind for Throttle {
    const NAMES: &'static [&'static str] = &["throttle"];
    type Raw = RawThrottle;
    type Op = Throttle;

    fn load(raw: RawThrottle, cx: &mut StepCx<'_, '_>) -> Option<Throttle> {
        let target = cx.target(&raw.role, &raw.replica);
        let r = cx.required(raw.rate.as_ref(), "rate")?;
        let Some(rate) = parse_rate(r.get_ref()) else {
            cx.err(
                r.span(),
                format!("`{}` is not a rate", r.get_ref()),
                "write a number and a unit as tc does, from 8bit to 100gbit: \"1mbit\", \
                 \"500kbit\", \"2mbps\" (bytes per second)",
            );
            return None;
        };
        let target = target?;
        cx.opens(Undone::ByHeal, vec![target.clone()]);
        Some(Throttle { target, rate })
    }

    fn plan(&self, _: &PlanCx<'_>) -> Vec<Throttle> {
        vec![self.clone()]
    }
}

impl fmt::Display for Throttle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "throttle {} to {}", self.target, format_rate(self.rate))
    }
}

impl Exec for Throttle {
    fn deadline(&self, _: &Cluster) -> Duration {
        LEADER_WAIT + Duration::from_secs(60)
    }

    async fn exec(&self, live: &mut Live) -> Result<Done, StepError> {
        shape(live, &self.target, &Shaping::Throttle(self.rate)).await
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDelay {
    role: Option<Spanned<String>>,
    replica: Option<Spanned<toml::Value>>,
    delay: Option<Spanned<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Delay {
    pub target: Target,
    pub delay: Duration,
}

impl Kind for Delay {
    const NAMES: &'static [&'static str] = &["delay"];
    type Raw = RawDelay;
    type Op = Delay;

    fn load(raw: RawDelay, cx: &mut StepCx<'_, '_>) -> Option<Delay> {
        let target = cx.target(&raw.role, &raw.replica);
        let d = cx.required(raw.delay.as_ref(), "delay")?;
        let delay = cx.duration(d);
        let target = target?;
        cx.opens(Undone::ByHeal, vec![target.clone()]);
        Some(Delay { target, delay })
    }

    fn plan(&self, _: &PlanCx<'_>) -> Vec<Delay> {
        vec![self.clone()]
    }
}

impl fmt::Display for Delay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "delay the packets of {} by {}",
            self.target,
            format_duration(self.delay)
        )
    }
}

impl Exec for Delay {
    fn deadline(&self, _: &Cluster) -> Duration {
        LEADER_WAIT + Duration::from_secs(60)
    }

    async fn exec(&self, live: &mut Live) -> Result<Done, StepError> {
        shape(live, &self.target, &Shaping::Delay(self.delay)).await
    }
}
