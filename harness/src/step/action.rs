//! `run` and `check`: run one of a role's actions on a replica (an index, or the leader). `check`
//! requires what `expect` says to hold, once or, with `eventually`, within a time; `run` only
//! requires the action to succeed. With `exits`, the action is expected to make a replica exit on its
//! own (an operator's shutdown): the step waits for that exit, which is then not a crash.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::expect::{describe_expect, judge, Expect, RawExpect};
use super::load::StepCx;
use super::replica::RawExits;
use super::{ActionRef, Done, Exec, ExpectedExit, Kind, PlanCx, ReplicaSel};
use crate::model::{format_duration, Release};
use crate::run::{
    eventually, invoke, select, Cluster, Live, StepError, EXPECTED_EXIT_WAIT, LEADER_WAIT,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Raw {
    action: Option<Spanned<String>>,
    replica: Option<Spanned<toml::Value>>,
    expect: Option<Spanned<RawExpect>>,
    eventually: Option<Spanned<String>>,
    exits: Option<Spanned<RawExits>>,
}

#[derive(Debug, Clone)]
pub(crate) struct ActionStep {
    pub action: ActionRef,
    /// An index or the leader (never all: an action runs on one replica).
    pub replica: ReplicaSel,
    /// Boxed: large, and only checks have one.
    pub expect: Option<Box<Expect>>,
    pub eventually: Option<Duration>,
    /// Boxed: rare, and it would make every step larger.
    pub exits: Option<Box<ExpectedExit>>,
}

impl Kind for ActionStep {
    const NAMES: &'static [&'static str] = &["run", "check"];
    type Raw = Raw;
    type Op = ActionStep;

    fn load(raw: Raw, cx: &mut StepCx<'_, '_>) -> Option<ActionStep> {
        let action = cx.required(raw.action.as_ref(), "action")?;
        let action = cx.action_ref(action)?;
        let role = cx.known_role(&action.role);
        let replica = match cx.replica(&raw.replica, role) {
            ReplicaSel::All => ReplicaSel::Index(0),
            r => r,
        };
        let expect = raw.expect.as_ref().map(|e| Box::new(cx.expect(e)));
        if cx.what == "check" && expect.is_none() {
            cx.err(
                cx.span.clone(),
                "a `check` step needs `expect`",
                "e.g. expect = { exit = 0, contains = \"ok\" }; use `run` to only run the action",
            );
        }
        let eventually = raw.eventually.as_ref().map(|e| cx.duration(e));
        let exits = raw.exits.as_ref().and_then(|x| cx.exits(x, None));
        Some(ActionStep {
            action,
            replica,
            expect,
            eventually,
            exits,
        })
    }

    fn plan(&self, cx: &PlanCx<'_>) -> Vec<ActionStep> {
        vec![self.on_path(cx.path)]
    }
}

impl ActionStep {
    /// On a path, `{from}` and `{to}` in what it expects are the path's releases.
    pub(crate) fn on_path(&self, path: Option<(&Release, &Release)>) -> ActionStep {
        ActionStep {
            expect: self.expect.as_ref().map(|e| Box::new(e.on_path(path))),
            ..self.clone()
        }
    }
}

impl fmt::Display for ActionStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let on = self.replica.label(&self.action.role);
        let action = &self.action;
        match &self.expect {
            None => write!(f, "run {action} on {on}")?,
            Some(e) => {
                write!(f, "check {action} on {on}")?;
                if let Some(d) = self.eventually {
                    write!(f, " within {}", format_duration(d))?;
                }
                write!(f, ": {}", describe_expect(e))?;
            }
        }
        if let Some(x) = &self.exits {
            f.write_str(&x.describe())?;
        }
        Ok(())
    }
}

impl Exec for ActionStep {
    fn deadline(&self, c: &Cluster) -> Duration {
        self.eventually.unwrap_or_default()
            + c.action(&self.action).timeout * 2
            + Duration::from_secs(10)
            + if self.exits.is_some() {
                EXPECTED_EXIT_WAIT
            } else {
                Duration::ZERO
            }
            + if self.replica == ReplicaSel::Leader {
                // An election may be under way: the leader is looked for that long.
                LEADER_WAIT
            } else {
                Duration::ZERO
            }
    }

    async fn exec(&self, live: &mut Live) -> Result<Done, StepError> {
        let c = &live.cluster;
        let act = c.action(&self.action);
        let expect = self.expect.as_deref().cloned().unwrap_or_default();
        let reach = c.reach();
        // Ok(Ok(obs)): the check holds; Ok(Err(e)): it does not (yet); Err(e): engine error.
        let attempt = || async {
            // Chosen on every attempt: the leader may change (or be unknown for a moment) while a
            // check waits for its condition.
            let name = match select(c, &self.action.role, &self.replica).await {
                Ok(names) => names
                    .into_iter()
                    .next()
                    .ok_or_else(|| StepError::harness("no replica selected"))?,
                Err(e) if e.is_fail() => return Ok(Err(e)),
                Err(e) => return Err(e),
            };
            let inv = invoke(&reach, act, &name).await?;
            Ok(match judge(&inv, &expect) {
                None => Ok((name, inv.observation)),
                Some(why) => Err(StepError::fail(why).with(inv.observation)),
            })
        };
        let (name, observed) = match self.eventually {
            None => attempt().await??,
            Some(d) => eventually(d, Duration::from_millis(250), attempt).await?,
        };
        let mut done = Done::observed(observed).on(vec![name]);
        if let Some(x) = &self.exits {
            done.observations.push(c.await_exit(x).await?);
        }
        Ok(done)
    }
}
