//! `workload`: repeats one of a role's actions in the background, every `every`, across the
//! following steps, measuring the availability the system gave a client while it was upgraded;
//! judged (`min_success`, `max_unavailable`) when a `stop-workload` step stops it or the trial ends.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use tokio::sync::oneshot;
use tokio::time::Instant;
use toml::Spanned;

use super::expect::{describe_expect, judge, Expect, RawExpect};
use super::load::StepCx;
use super::{ActionRef, Done, Exec, Kind, PlanCx};
use crate::model::{format_duration, Action, Release};
use crate::outcome::WorkloadReport;
use crate::run::{invoke, Cluster, Live, Reach, StepError};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Raw {
    name: Option<Spanned<String>>,
    action: Option<Spanned<String>>,
    every: Option<Spanned<String>>,
    expect: Option<Spanned<RawExpect>>,
    min_success: Option<Spanned<f64>>,
    max_unavailable: Option<Spanned<String>>,
}

/// Starts a background workload.
#[derive(Debug, Clone)]
pub(crate) struct StartWorkload {
    pub name: String,
    pub action: ActionRef,
    pub every: Duration,
    /// What a successful attempt must show, beyond the action succeeding (boxed: it is large and
    /// rare).
    pub expect: Option<Box<Expect>>,
    pub min_success: Option<f64>,
    pub max_unavailable: Option<Duration>,
}

const DEFAULT_EVERY: Duration = Duration::from_millis(500);

impl Kind for StartWorkload {
    const NAMES: &'static [&'static str] = &["workload"];
    type Raw = Raw;
    type Op = StartWorkload;

    fn load(raw: Raw, cx: &mut StepCx<'_, '_>) -> Option<StartWorkload> {
        let name = cx.required(raw.name.as_ref(), "name")?;
        if !cx.sc.workloads.insert(name.get_ref().clone()) {
            cx.err(
                name.span(),
                format!("workload `{}` is started twice", name.get_ref()),
                "give each workload its own `name`, or stop it first with `do = \"stop-workload\"`",
            );
        }
        let action = cx.required(raw.action.as_ref(), "action")?;
        let action = cx.action_ref(action)?;
        let every = match &raw.every {
            Some(e) => {
                let d = cx.duration(e);
                if d.is_zero() {
                    DEFAULT_EVERY
                } else {
                    d
                }
            }
            None => DEFAULT_EVERY,
        };
        if let Some(m) = &raw.min_success {
            if !(0.0..=1.0).contains(m.get_ref()) {
                cx.err(
                    m.span(),
                    "min_success is a ratio between 0 and 1",
                    "write e.g. `min_success = 0.95`",
                );
            }
        }
        let expect = raw.expect.as_ref().map(|e| Box::new(cx.expect(e)));
        Some(StartWorkload {
            name: name.get_ref().clone(),
            action,
            every,
            expect,
            min_success: raw.min_success.as_ref().map(|m| *m.get_ref()),
            max_unavailable: raw.max_unavailable.as_ref().map(|d| cx.duration(d)),
        })
    }

    fn plan(&self, cx: &PlanCx<'_>) -> Vec<StartWorkload> {
        vec![self.on_path(cx.path)]
    }
}

impl StartWorkload {
    /// On a path, `{from}` and `{to}` in what it expects are the path's releases.
    pub(crate) fn on_path(&self, path: Option<(&Release, &Release)>) -> StartWorkload {
        StartWorkload {
            expect: self.expect.as_ref().map(|e| Box::new(e.on_path(path))),
            ..self.clone()
        }
    }
}

impl fmt::Display for StartWorkload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "workload {}: {} every {}",
            self.name,
            self.action,
            format_duration(self.every)
        )?;
        if let Some(e) = &self.expect {
            write!(f, " expecting {}", describe_expect(e))?;
        }
        if let Some(m) = self.min_success {
            write!(f, ", success >= {:.0}%", m * 100.0)?;
        }
        if let Some(d) = self.max_unavailable {
            write!(f, ", unavailable <= {}", format_duration(d))?;
        }
        Ok(())
    }
}

impl Exec for StartWorkload {
    fn deadline(&self, _: &Cluster) -> Duration {
        Duration::from_secs(10)
    }

    async fn exec(&self, live: &mut Live) -> Result<Done, StepError> {
        let c = &live.cluster;
        let w = RunningWorkload::start(
            c.reach(),
            Spec {
                name: self.name.clone(),
                action_label: self.action.to_string(),
                action: c.action(&self.action).clone(),
                replica: format!("{}-0", self.action.role),
                every: self.every,
                expect: self.expect.as_deref().cloned(),
                min_success: self.min_success,
                max_unavailable: self.max_unavailable,
            },
        );
        live.workloads.insert(self.name.clone(), w);
        Ok(Done::nothing())
    }
}

/// How a workload fared, in one line: what a failed one's step and the trial's reason say.
pub(crate) fn workload_failure(r: &WorkloadReport) -> String {
    if let Some(why) = &r.broken {
        return format!(
            "workload {} ({}) could not go on after {} attempts: {why}",
            r.name, r.action, r.attempts
        );
    }
    format!(
        "workload {} ({}) saw {:.1}% success ({}/{}) and {} ms of unavailability{}",
        r.name,
        r.action,
        r.success_ratio * 100.0,
        r.successes,
        r.attempts,
        r.longest_unavailable_ms,
        r.last_error
            .as_ref()
            .map(|e| format!("; last error: {}", e.trim()))
            .unwrap_or_default()
    )
}

/// A workload running in the background.
pub(crate) struct RunningWorkload {
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<WorkloadReport>,
}

/// What a running workload repeats, and how it is judged.
pub(crate) struct Spec {
    pub name: String,
    pub action_label: String,
    pub action: Action,
    pub replica: String,
    pub every: Duration,
    pub expect: Option<Expect>,
    pub min_success: Option<f64>,
    pub max_unavailable: Option<Duration>,
}

impl RunningWorkload {
    pub(crate) fn start(reach: Reach, spec: Spec) -> RunningWorkload {
        let (stop, mut stopped) = oneshot::channel();
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(spec.every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let (mut attempts, mut successes) = (0u64, 0u64);
            let mut down_since: Option<Instant> = None;
            let mut longest = Duration::ZERO;
            let mut last_error = None;
            // The engine or the harness failing an attempt: the workload stops observing, and its
            // report says so (an `error`, not the system's unavailability).
            let mut broken = None;
            loop {
                tokio::select! {
                    _ = &mut stopped => break,
                    _ = tick.tick() => {}
                }
                let at = Instant::now();
                attempts += 1;
                let ok = match invoke(&reach, &spec.action, &spec.replica).await {
                    Ok(inv) if inv.succeeded => {
                        match spec.expect.as_ref().and_then(|e| judge(&inv, e)) {
                            None => true,
                            Some(why) => {
                                last_error = Some(why);
                                false
                            }
                        }
                    }
                    Ok(inv) => {
                        let o = inv.observation;
                        last_error = Some(o.note.unwrap_or_else(|| {
                            format!(
                                "{}{}",
                                o.exit_code
                                    .map(|c| format!("exit {c}: "))
                                    .or(o.http_status.map(|s| format!("HTTP {s}: ")))
                                    .unwrap_or_default(),
                                o.output.trim()
                            )
                        }));
                        false
                    }
                    Err(e) => {
                        broken = Some(e.message());
                        break;
                    }
                };
                if ok {
                    successes += 1;
                    if let Some(since) = down_since.take() {
                        longest = longest.max(at - since);
                    }
                } else if down_since.is_none() {
                    down_since = Some(at);
                }
            }
            if let Some(since) = down_since {
                longest = longest.max(Instant::now() - since);
            }
            let ratio = if attempts == 0 {
                1.0
            } else {
                successes as f64 / attempts as f64
            };
            let passed = broken.is_none()
                && spec.min_success.is_none_or(|m| ratio >= m)
                && spec.max_unavailable.is_none_or(|m| longest <= m);
            WorkloadReport {
                name: spec.name,
                action: spec.action_label,
                attempts,
                successes,
                success_ratio: ratio,
                longest_unavailable_ms: longest.as_millis() as u64,
                last_error,
                broken,
                passed,
            }
        });
        RunningWorkload { stop, task }
    }

    /// Stops the workload and returns its report.
    pub(crate) async fn finish(self) -> Option<WorkloadReport> {
        let _ = self.stop.send(());
        self.task.await.ok()
    }
}
