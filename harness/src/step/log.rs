//! `log`: a check on what replicas logged, for components that misbehave without exiting (NATS's
//! RAFT errors, a scheduler's own complaint): `contains`, `not_contains` and `matches` over the log
//! of each selected replica's current container (since it last started), once or, with
//! `eventually`, until it holds.

use std::fmt;
use std::time::Duration;

use regex::Regex;
use serde::Deserialize;
use toml::Spanned;

use super::load::StepCx;
use super::{Done, Exec, Kind, PlanCx, ReplicaSel};
use crate::model::REGEX_HINT;
use crate::outcome::Observation;
use crate::run::{eventually, select, Cluster, Live, StepError, LEADER_WAIT};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Raw {
    role: Option<Spanned<String>>,
    replica: Option<Spanned<toml::Value>>,
    contains: Option<Spanned<String>>,
    not_contains: Option<Spanned<String>>,
    matches: Option<Spanned<String>>,
    eventually: Option<Spanned<String>>,
}

#[derive(Debug, Clone)]
pub(crate) struct LogCheck {
    pub role: String,
    pub replica: ReplicaSel,
    pub contains: Option<String>,
    pub not_contains: Option<String>,
    pub matches: Option<Regex>,
    pub eventually: Option<Duration>,
}

impl PartialEq for LogCheck {
    fn eq(&self, o: &LogCheck) -> bool {
        (
            &self.role,
            &self.replica,
            &self.contains,
            &self.not_contains,
            self.matches.as_ref().map(Regex::as_str),
            self.eventually,
        ) == (
            &o.role,
            &o.replica,
            &o.contains,
            &o.not_contains,
            o.matches.as_ref().map(Regex::as_str),
            o.eventually,
        )
    }
}

impl Eq for LogCheck {}

impl Kind for LogCheck {
    const NAMES: &'static [&'static str] = &["log"];
    type Raw = Raw;
    type Op = LogCheck;

    fn load(raw: Raw, cx: &mut StepCx<'_, '_>) -> Option<LogCheck> {
        let role = cx.role_key(&raw.role)?;
        let replica = cx.replica(&raw.replica, Some(role));
        let matches = raw.matches.as_ref().and_then(|m| {
            Regex::new(m.get_ref())
                .map_err(|e| cx.err(m.span(), format!("bad regex: {e}"), REGEX_HINT))
                .ok()
        });
        if raw.contains.is_none() && raw.not_contains.is_none() && raw.matches.is_none() {
            cx.err(
                cx.span.clone(),
                "a `log` step needs what to look for",
                "add `contains = \"…\"`, `not_contains = \"…\"` or `matches = \"regex\"`",
            );
            return None;
        }
        let eventually = raw.eventually.as_ref().map(|e| cx.duration(e));
        Some(LogCheck {
            role: role.name.clone(),
            replica,
            contains: raw.contains.map(|s| s.into_inner()),
            not_contains: raw.not_contains.map(|s| s.into_inner()),
            matches,
            eventually,
        })
    }

    fn plan(&self, _: &PlanCx<'_>) -> Vec<LogCheck> {
        vec![self.clone()]
    }
}

impl fmt::Display for LogCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.replica {
            ReplicaSel::All => write!(f, "check the log of every {} replica:", self.role)?,
            _ => write!(f, "check the log of {}:", self.replica.label(&self.role))?,
        }
        let mut parts = Vec::new();
        if let Some(c) = &self.contains {
            parts.push(format!("contains {c:?}"));
        }
        if let Some(c) = &self.not_contains {
            parts.push(format!("not {c:?}"));
        }
        if let Some(r) = &self.matches {
            parts.push(format!("matches /{}/", r.as_str()));
        }
        write!(f, " {}", parts.join(", "))?;
        if let Some(d) = self.eventually {
            write!(f, " within {}", crate::model::format_duration(d))?;
        }
        Ok(())
    }
}

impl LogCheck {
    /// `None` if `log` satisfies the check, else what is wrong with it.
    fn judge(&self, name: &str, log: &str) -> Option<String> {
        if let Some(c) = &self.contains {
            if !log.contains(c.as_str()) {
                return Some(format!("no line of {name}'s log contains {c:?}"));
            }
        }
        if let Some(c) = &self.not_contains {
            if let Some(line) = log.lines().find(|l| l.contains(c.as_str())) {
                return Some(format!("{name} logged {:?}", line.trim()));
            }
        }
        if let Some(r) = &self.matches {
            if !r.is_match(log) {
                return Some(format!("no line of {name}'s log matches /{}/", r.as_str()));
            }
        }
        None
    }

    /// The line that shows the check holds, for the record.
    fn evidence(&self, log: &str) -> String {
        let found = |p: &dyn Fn(&str) -> bool| log.lines().find(|l| p(l)).map(str::trim);
        self.contains
            .as_ref()
            .and_then(|c| found(&|l: &str| l.contains(c.as_str())))
            .or_else(|| {
                self.matches
                    .as_ref()
                    .and_then(|r| found(&|l: &str| r.is_match(l)))
            })
            .unwrap_or_default()
            .to_string()
    }
}

impl Exec for LogCheck {
    fn deadline(&self, _: &Cluster) -> Duration {
        self.eventually.unwrap_or_default() + LEADER_WAIT + Duration::from_secs(30)
    }

    async fn exec(&self, live: &mut Live) -> Result<Done, StepError> {
        let c = &live.cluster;
        let backend = c.reach().backend;
        // Ok(Ok(..)): it holds on every replica selected; Ok(Err(e)): not (yet); Err: engine error.
        let attempt = || async {
            let names = match select(c, &self.role, &self.replica).await {
                Ok(names) => names,
                Err(e) if e.is_fail() => return Ok(Err(e)),
                Err(e) => return Err(e),
            };
            let mut seen = Vec::new();
            for name in &names {
                let Some(id) = c.replica(name).container else {
                    return Ok(Err(StepError::fail(format!("{name} has no container"))));
                };
                let log = backend.logs(&id, None).await?;
                let observation = Observation {
                    what: format!("{name} log"),
                    output: self.evidence(&log),
                    ..Default::default()
                };
                if let Some(why) = self.judge(name, &log) {
                    return Ok(Err(StepError::fail(why).with(observation)));
                }
                seen.push(observation);
            }
            Ok(Ok((names, seen)))
        };
        let (names, seen) = match self.eventually {
            None => attempt().await??,
            Some(d) => eventually(d, Duration::from_millis(250), attempt).await?,
        };
        let mut done = Done::default().on(names);
        done.observations = seen;
        Ok(done)
    }
}
