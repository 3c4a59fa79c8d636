//! Background workloads: an action repeated every N ms across the following steps, measuring the
//! availability the system gave a client while it was being upgraded.

use std::time::Duration;

use tokio::sync::oneshot;
use tokio::time::Instant;

use super::cluster::Table;
use super::step::{invoke, judge};
use crate::model::{Action, Expect};
use crate::outcome::WorkloadReport;
use crate::runtime::Engine;

pub(crate) struct Workload {
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<WorkloadReport>,
}

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

impl Workload {
    pub fn start(engine: Engine, http: reqwest::Client, table: Table, spec: Spec) -> Workload {
        let (stop, mut stopped) = oneshot::channel();
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(spec.every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let (mut attempts, mut successes) = (0u64, 0u64);
            let mut down_since: Option<Instant> = None;
            let mut longest = Duration::ZERO;
            let mut last_error = None;
            loop {
                tokio::select! {
                    _ = &mut stopped => break,
                    _ = tick.tick() => {}
                }
                let at = Instant::now();
                attempts += 1;
                let ok = match invoke(&engine, &http, &table, &spec.action, &spec.replica).await {
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
                        last_error = Some(e.message);
                        false
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
            let passed = spec.min_success.is_none_or(|m| ratio >= m)
                && spec.max_unavailable.is_none_or(|m| longest <= m);
            WorkloadReport {
                name: spec.name,
                action: spec.action_label,
                attempts,
                successes,
                success_ratio: ratio,
                longest_unavailable_ms: longest.as_millis() as u64,
                last_error,
                passed,
            }
        });
        Workload { stop, task }
    }

    /// Stops the workload and returns its report.
    pub async fn finish(self) -> Option<WorkloadReport> {
        let _ = self.stop.send(());
        self.task.await.ok()
    }
}
