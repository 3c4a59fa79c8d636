//! `signal`: sends a named signal to replicas of a role (an index, the leader, or all of them):
//! SIGHUP to reload a configuration, SIGUSR2 for a lame-duck shutdown, SIGTERM to see what a
//! component does on a plain `kill`. A signal is sent, not waited on: a replica that the signal makes
//! exit fails the step as a crash, unless `exits` says the exit is expected (as for `run`): then the
//! step waits for it and checks its code. Without `role`/`replica`, `exits` means the signalled
//! replica.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::load::StepCx;
use super::replica::RawExits;
use super::{Done, Exec, ExpectedExit, Kind, PlanCx, ReplicaSel};
use crate::outcome::Observation;
use crate::run::{select, Cluster, Live, StepError, EXPECTED_EXIT_WAIT, LEADER_WAIT};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Raw {
    role: Option<Spanned<String>>,
    replica: Option<Spanned<toml::Value>>,
    signal: Option<Spanned<String>>,
    exits: Option<Spanned<RawExits>>,
}

/// The signals a step may send, by their names without `SIG`.
const SIGNALS: &[&str] = &[
    "HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "BUS", "FPE", "KILL", "USR1", "SEGV", "USR2",
    "PIPE", "ALRM", "TERM", "STKFLT", "CHLD", "CONT", "STOP", "TSTP", "TTIN", "TTOU", "URG",
    "XCPU", "XFSZ", "VTALRM", "PROF", "WINCH", "IO", "PWR", "SYS",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Signal {
    pub role: String,
    pub replica: ReplicaSel,
    /// Its full name, e.g. `SIGHUP`.
    pub signal: String,
    /// A replica the signal is expected to make exit (boxed: rare).
    pub exits: Option<Box<ExpectedExit>>,
}

/// `hup`, `SIGHUP`, `SigHup` → `SIGHUP`; `None` for a name that is no signal.
fn canonical(name: &str) -> Option<String> {
    let upper = name.trim().to_ascii_uppercase();
    let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
    SIGNALS.contains(&bare).then(|| format!("SIG{bare}"))
}

impl Kind for Signal {
    const NAMES: &'static [&'static str] = &["signal"];
    type Raw = Raw;
    type Op = Signal;

    fn load(raw: Raw, cx: &mut StepCx<'_, '_>) -> Option<Signal> {
        let role = cx.role_key(&raw.role)?;
        if role.fixed_release.is_some() {
            let span = raw.role.as_ref().map_or(cx.span.clone(), |r| r.span());
            cx.err(
                span,
                format!(
                    "`{}` is a service: signals go to the system's own roles",
                    role.name
                ),
                "name a [roles.NAME] in `role`",
            );
        }
        let replica = cx.replica(&raw.replica, Some(role));
        let signal = cx.required(raw.signal.as_ref(), "signal")?;
        let Some(name) = canonical(signal.get_ref()) else {
            cx.err(
                signal.span(),
                format!("`{}` is not a signal", signal.get_ref()),
                "name one as `kill -l` lists it, e.g. \"SIGHUP\", \"SIGUSR2\", \"SIGTERM\"",
            );
            return None;
        };
        let exits = raw
            .exits
            .as_ref()
            .and_then(|x| cx.exits(x, Some((role, replica.clone()))));
        Some(Signal {
            role: role.name.clone(),
            replica,
            signal: name,
            exits,
        })
    }

    fn plan(&self, _: &PlanCx<'_>) -> Vec<Signal> {
        vec![self.clone()]
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "send {} to {}",
            self.signal,
            self.replica.label(&self.role)
        )?;
        if let Some(x) = &self.exits {
            f.write_str(&x.describe())?;
        }
        Ok(())
    }
}

impl Exec for Signal {
    fn deadline(&self, _: &Cluster) -> Duration {
        LEADER_WAIT
            + Duration::from_secs(30)
            + if self.exits.is_some() {
                EXPECTED_EXIT_WAIT
            } else {
                Duration::ZERO
            }
    }

    async fn exec(&self, live: &mut Live) -> Result<Done, StepError> {
        let c = &live.cluster;
        let names = select(c, &self.role, &self.replica).await?;
        for n in &names {
            c.signal(n, &self.signal).await?;
        }
        let mut done = Done::observed(Observation {
            what: names.join(", "),
            note: Some(format!("sent {} to {}", self.signal, names.join(", "))),
            ..Default::default()
        })
        .on(names);
        if let Some(x) = &self.exits {
            done.observations.push(c.await_exit(x).await?);
        }
        Ok(done)
    }
}

#[cfg(test)]
mod tests {
    use super::canonical;

    #[test]
    fn signal_names_are_read_with_or_without_sig_in_any_case() {
        assert_eq!(canonical("HUP").as_deref(), Some("SIGHUP"));
        assert_eq!(canonical("sigusr2").as_deref(), Some("SIGUSR2"));
        assert_eq!(canonical(" SIGTERM ").as_deref(), Some("SIGTERM"));
        assert_eq!(canonical("SIGNOPE"), None);
        assert_eq!(canonical("9"), None);
    }
}
