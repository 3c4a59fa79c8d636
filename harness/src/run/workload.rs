//! Workloads while they run: a client repeating an action, the clients of a history, or a recorder
//! whose printed history is read when it stops; each judged into a [`WorkloadReport`] when it is
//! stopped. The `workload` step (`step/workload.rs`) starts them.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use super::history::{
    longest_unavailable, printed_history, record, write_and_check, Judging, Recording,
};
use super::{invoke, Cluster, Reach};
use crate::history::{ModelKind, Operation, Outcome};
use crate::model::Action;
use crate::outcome::WorkloadReport;
use crate::step::{judge_expect, Expect};

/// How a workload fared, in one line: what a failed one's step and the trial's reason say.
pub(crate) fn workload_failure(r: &WorkloadReport) -> String {
    if let Some(why) = &r.broken {
        return format!(
            "workload {} ({}) could not go on after {} attempts: {why}",
            r.name, r.action, r.attempts
        );
    }
    if let Some(h) = r.history.as_ref().filter(|h| h.violation.is_some()) {
        // What varies from run to run (counts, values, times) is in `violation_detail`: this line
        // is what a baseline records.
        let key = h.violation.as_ref().and_then(|v| v.key.as_deref());
        return format!(
            "workload {}: its {} history is not linearizable{} (the operations no order fits are \
             drawn in the report)",
            r.name,
            h.model,
            key.map(|k| format!(" at key {k}")).unwrap_or_default(),
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

/// Where a workload's history could not be linearized, in words: the state the search reached and
/// the operation it could not get past. `None` for a history that is linearizable, or none.
pub(crate) fn violation_detail(r: &WorkloadReport) -> Option<String> {
    let h = r.history.as_ref()?;
    let v = h.violation.as_ref()?;
    let stuck = v.window.iter().find(|o| o.stuck);
    Some(format!(
        "{} operations recorded ({} ok, {} failed, {} unknown); after {} of the key's {} operations \
         the value is {}, and no order of the {} operations in the window fits{}; every call is in {}",
        h.ops,
        h.ok,
        h.failed,
        h.unknown,
        v.linearized,
        v.ops_in_key,
        v.state,
        v.window.len(),
        stuck
            .map(|o| format!(
                ", up to client {}'s {} -> {} at {:.3} s",
                o.client,
                o.call,
                o.outcome,
                o.complete_ms.unwrap_or(o.invoke_ms) / 1000.0
            ))
            .unwrap_or_default(),
        h.file
    ))
}

/// A workload running in the background.
pub(crate) struct RunningWorkload {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<WorkloadReport>,
    /// The replica that records the history itself, stopped (gracefully) before its output is read.
    recorder: Option<String>,
}

/// How a workload is judged, whatever it does.
pub(crate) struct Judged {
    pub name: String,
    pub min_success: Option<f64>,
    pub max_unavailable: Option<Duration>,
}

impl Judged {
    /// Its report, from what it counted; `passed` weighs the bounds and whether it was broken.
    #[allow(clippy::too_many_arguments)]
    fn report(
        self,
        action: String,
        attempts: u64,
        successes: u64,
        longest: Duration,
        last_error: Option<String>,
        broken: Option<String>,
        history: Option<crate::outcome::HistoryReport>,
    ) -> WorkloadReport {
        let ratio = if attempts == 0 {
            1.0
        } else {
            successes as f64 / attempts as f64
        };
        let passed = broken.is_none()
            && self.min_success.is_none_or(|m| ratio >= m)
            && self.max_unavailable.is_none_or(|m| longest <= m)
            && history.as_ref().is_none_or(|h| h.violation.is_none());
        WorkloadReport {
            name: self.name,
            action,
            attempts,
            successes,
            success_ratio: ratio,
            longest_unavailable_ms: longest.as_millis() as u64,
            last_error,
            broken,
            passed,
            history,
        }
    }
}

impl Judged {
    /// The report of a history workload: the calls counted as attempts (those that took effect as
    /// successes, unavailability from their times up to `end`), written to its file and checked.
    async fn history(
        self,
        label: String,
        ops: Vec<Operation>,
        end: u64,
        to: Judging<'_>,
        last_error: Option<String>,
        broken: Option<String>,
    ) -> WorkloadReport {
        let longest = longest_unavailable(&ops, end);
        let attempts = ops.len() as u64;
        let successes = ops
            .iter()
            .filter(|o| matches!(o.outcome, Outcome::Ok(_)))
            .count() as u64;
        let (history, checked) = match write_and_check(to, ops).await {
            Ok(h) => (Some(h), None),
            Err(e) => (None, Some(e)),
        };
        self.report(
            label,
            attempts,
            successes,
            longest,
            last_error,
            broken.or(checked),
            history,
        )
    }
}

/// What a repeating workload repeats.
pub(crate) struct Repeating {
    pub judged: Judged,
    pub action_label: String,
    pub action: Action,
    pub replica: String,
    pub every: Duration,
    pub expect: Option<Expect>,
}

impl RunningWorkload {
    /// Repeats one action.
    pub(crate) fn start(reach: Reach, spec: Repeating) -> RunningWorkload {
        let (stop, mut stopped) = watch::channel(false);
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
                    _ = stopped.wait_for(|s| *s) => break,
                    _ = tick.tick() => {}
                }
                let at = Instant::now();
                attempts += 1;
                let ok = match invoke(&reach, &spec.action, &spec.replica).await {
                    Ok(inv) if inv.succeeded => {
                        match spec.expect.as_ref().and_then(|e| judge_expect(&inv, e)) {
                            None => true,
                            Some(why) => {
                                last_error = Some(why);
                                false
                            }
                        }
                    }
                    Ok(inv) => {
                        last_error = Some(inv.said());
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
            spec.judged.report(
                spec.action_label,
                attempts,
                successes,
                longest,
                last_error,
                broken,
                None,
            )
        });
        RunningWorkload {
            stop,
            task,
            recorder: None,
        }
    }

    /// Records a history, then writes and checks it.
    pub(crate) fn record(reach: Reach, judged: Judged, rec: Recording) -> RunningWorkload {
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            let rec = Arc::new(rec);
            let started = Instant::now();
            let recorded = record(reach, rec.clone(), stopped).await;
            let end = started.elapsed().as_nanos() as u64;
            let label = format!(
                "{} history from {} client{}",
                rec.model.name(),
                rec.clients,
                if rec.clients == 1 { "" } else { "s" }
            );
            let to = Judging {
                model: rec.model,
                file: &rec.file,
            };
            judged
                .history(
                    label,
                    recorded.ops,
                    end,
                    to,
                    recorded.last_error,
                    recorded.broken,
                )
                .await
        });
        RunningWorkload {
            stop,
            task,
            recorder: None,
        }
    }

    /// Reads the history a recorder replica printed, once the workload is stopped (the recorder
    /// then has been stopped too, so that the calls it had under way are finished and printed).
    pub(crate) fn collect(
        reach: Reach,
        judged: Judged,
        model: ModelKind,
        replica: String,
        file: std::path::PathBuf,
    ) -> RunningWorkload {
        let (stop, mut stopped) = watch::channel(false);
        let recorder = Some(replica.clone());
        let task = tokio::spawn(async move {
            let _ = stopped.wait_for(|s| *s).await;
            let label = format!("{} history printed by {replica}", model.name());
            let read = async {
                let id = reach
                    .snapshot()
                    .get(&replica)
                    .and_then(|r| r.container.clone());
                let id =
                    id.ok_or_else(|| format!("{replica} never ran, so it printed no history"))?;
                let output = reach
                    .backend
                    .logs(&id, None)
                    .await
                    .map_err(|e| format!("cannot read the output of {replica}: {e}"))?;
                printed_history(&replica, &output)
            };
            let ops = match read.await {
                Ok(ops) => ops,
                Err(why) => {
                    return judged.report(label, 0, 0, Duration::ZERO, None, Some(why), None)
                }
            };
            let end = ops.iter().filter_map(|o| o.complete).max().unwrap_or(0);
            let to = Judging { model, file: &file };
            judged.history(label, ops, end, to, None, None).await
        });
        RunningWorkload {
            stop,
            task,
            recorder,
        }
    }

    /// Stops the workload and returns its report.
    pub(crate) async fn finish(self) -> Option<WorkloadReport> {
        let _ = self.stop.send(true);
        self.task.await.ok()
    }

    /// [`finish`](Self::finish), stopping a recorder replica first. A recorder that cannot be
    /// stopped is read all the same: its report says if what it printed is incomplete.
    pub(crate) async fn finish_in(self, cluster: &Cluster) -> Option<WorkloadReport> {
        if let Some(name) = &self.recorder {
            let _ = cluster.stop(name, false).await;
        }
        self.finish().await
    }
}
