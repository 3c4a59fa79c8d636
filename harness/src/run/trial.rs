//! Executing one trial: set up its network, run its steps with deadlines, judge, tear down. Every
//! step kind executes itself ([`crate::step`]); this loop owns what is common to all of them: the
//! step's deadline, the crash check after it, the events, and the trial's verdict.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use indexmap::IndexMap;
use tokio::time::Instant;

use super::cluster::{Cluster, Replica, LAST_LOG_LINES};
use super::error::StepError;
use super::events::{Event, Events};
use super::faults::Faults;
use super::last_words::it_logged;
use super::workload::{workload_failure, RunningWorkload};
use crate::model::{format_duration, Matrix, Release};
use crate::outcome::{Observation, StepOutcome, StepStatus, TrialOutcome, Verdict};
use crate::plan::{PlannedStep, Trial, TrialKind};
use crate::runtime::{
    labels, Backend, ContainerSpec, Reach, ReachChoice, SweepGuard, LABEL_RUN, LABEL_TRIAL,
    RELAY_IMAGE,
};
use crate::step::Op;

/// What every trial of a run shares.
pub(crate) struct TrialContext {
    pub backend: Arc<dyn Backend>,
    pub matrix: Arc<Matrix>,
    pub run_id: String,
    pub report_dir: PathBuf,
    pub events: Events,
    /// Leave the containers of trials that did not pass.
    pub keep: bool,
    pub reproduce: Arc<dyn Fn(&Trial) -> crate::outcome::Reproduce + Send + Sync>,
    /// How replicas' ports are reached.
    pub reach: ReachChoice,
    /// Trials bringing their cluster up (network, services, first step) at once: see
    /// [`super::bring_up_slots`].
    pub bring_up: Arc<tokio::sync::Semaphore>,
}

/// Folder of a trial's files, relative to the run's report folder: `trials/<scenario>/<cell or path>`.
pub(crate) fn trial_dir(t: &Trial) -> String {
    // Past `system/scenario/`: the cell, the path, and an explored order or a drawn plan below it
    // (`0.22-to-0.23/order=agent,master`), so that no two trials share a folder.
    let rest = t.id.splitn(3, '/').nth(2).unwrap_or(&t.id);
    match t.repeat {
        None => format!("trials/{}/{}", t.scenario, rest),
        Some(k) => format!("trials/{}/{}/repeat-{k}", t.scenario, rest),
    }
}

/// Test hook: `CROSSGRADE_FAILPOINT=panic-after-start` panics after a trial's first `start` step, so
/// the cleanup of a panicking trial can be tested against the real engine.
fn failpoint(name: &str) {
    if std::env::var("CROSSGRADE_FAILPOINT").is_ok_and(|v| v == name) {
        panic!("failpoint {name} reached");
    }
}

/// A trial while it runs: its cluster and its background workloads. What a step executes against.
pub(crate) struct Live {
    pub cluster: Cluster,
    pub workloads: IndexMap<String, RunningWorkload>,
    /// Reports of the workloads stopped so far.
    pub reports: Vec<crate::outcome::WorkloadReport>,
    /// Faults in effect, and the window of each so far.
    pub faults: Faults,
    /// The number of the step that runs (fault windows start and end at steps).
    pub step: usize,
}

pub(crate) async fn run_trial(ctx: &TrialContext, trial: &Trial, slot: usize) -> TrialOutcome {
    // Before the trial's clock starts: its deadlines are for the system, not for waiting its turn.
    let bring_up = ctx
        .bring_up
        .clone()
        .acquire_owned()
        .await
        .expect("semaphore open");
    let started = Instant::now();
    ctx.events.emit(Event::TrialStarted {
        id: trial.id.clone(),
    });
    let logs_dir = ctx.report_dir.join(trial_dir(trial)).join("logs");
    let mut outcome = blank_outcome(trial, &*ctx.reproduce);
    if let Err(e) = std::fs::create_dir_all(&logs_dir) {
        outcome.verdict = Verdict::Error;
        outcome.reason = Some(format!("cannot create {}: {e}", logs_dir.display()));
        return outcome;
    }

    let label_filter = format!("{LABEL_RUN}={}&{LABEL_TRIAL}={}", ctx.run_id, trial.id);
    // If this future is dropped (panic, Ctrl-C) the guard removes the trial's objects.
    let events = ctx.events.clone();
    let mut guard = SweepGuard::new(ctx.backend.clone(), label_filter.clone())
        .on_failure(move |error| events.emit(Event::CleanupFailed { error }));
    let table: IndexMap<String, Replica> = trial
        .start
        .iter()
        .flat_map(|(role, rel)| {
            let n = ctx.matrix.role(role).map_or(1, |r| r.replicas);
            (0..n).map(move |i| {
                (
                    format!("{role}-{i}"),
                    Replica {
                        role: role.clone(),
                        index: i,
                        release: rel.clone(),
                        container: None,
                        container_name: None,
                        ip: None,
                        stopped: false,
                        paused: false,
                        incarnation: 0,
                    },
                )
            })
        })
        .collect();
    let mut live = Live {
        cluster: Cluster {
            backend: ctx.backend.clone(),
            matrix: ctx.matrix.clone(),
            table: Arc::new(Mutex::new(table)),
            network: format!("cg-{}-t{slot}", ctx.run_id),
            labels: labels(&ctx.run_id, Some(&trial.id)),
            label_filter,
            logs_dir,
            volumes: Mutex::new(vec![]),
            way: ctx.reach.clone(),
            relay: None,
            direct_proven: Default::default(),
        },
        workloads: IndexMap::new(),
        reports: vec![],
        faults: Faults::new(started),
        step: 0,
    };

    let body = run_steps(ctx, trial, &mut live, started, &mut outcome, bring_up);
    if tokio::time::timeout(trial.timeout, body).await.is_err() {
        outcome.verdict = Verdict::Fail;
        let at = outcome.steps.len() + 1;
        outcome.reason = Some(format!(
            "the trial did not finish within its deadline of {} (at step {at})",
            format_duration(trial.timeout)
        ));
        outcome.failed_step.get_or_insert(at);
    }

    // Faults still in effect are undone, however the trial ended: before the workloads' last
    // attempts are judged and the evidence is collected.
    let undone = live.faults.end(&live.cluster).await;
    outcome.faults = live.faults.windows();
    if !undone.is_empty() && outcome.verdict == Verdict::Pass {
        outcome.verdict = Verdict::Error;
        outcome.reason = Some(format!(
            "a fault could not be undone at the end of the trial: {}",
            undone.join("; ")
        ));
    }

    // Workloads still running at the end are stopped and judged.
    for (_, w) in live.workloads.drain(..) {
        if let Some(r) = w.finish_in(&live.cluster).await {
            live.reports.push(r);
        }
    }
    for r in &live.reports {
        if !r.passed && outcome.verdict == Verdict::Pass {
            outcome.verdict = if r.broken.is_some() {
                Verdict::Error
            } else {
                Verdict::Fail
            };
            outcome.reason = Some(workload_failure(r));
        }
    }
    outcome.workloads = std::mem::take(&mut live.reports);
    if trial.unpromised {
        judge_unpromised(&mut outcome);
    }

    // Evidence for a failure: the last lines of every container still there (those that exited
    // where they should not come first, from the crash check).
    if outcome.verdict != Verdict::Pass {
        for (name, rep) in live.cluster.snapshot() {
            if outcome.last_logs.contains_key(&name) {
                continue;
            }
            if let Some(id) = rep.container {
                if let Ok(l) = ctx.backend.logs(&id, Some(LAST_LOG_LINES)).await {
                    outcome.last_logs.insert(name, lines(&l));
                }
            }
        }
    }

    let keep = ctx.keep && outcome.verdict != Verdict::Pass;
    if keep {
        guard.disarm();
    } else {
        match live.cluster.teardown().await {
            Ok(unsaved) => {
                guard.disarm();
                // A trial whose evidence is lost cannot pass: the harness failed it.
                if !unsaved.is_empty() && outcome.verdict == Verdict::Pass {
                    outcome.verdict = Verdict::Error;
                    outcome.reason = Some(unsaved.join("; "));
                }
            }
            Err(e) => {
                if outcome.verdict == Verdict::Pass {
                    outcome.verdict = Verdict::Error;
                    outcome.reason = Some(format!("teardown failed: {e}"));
                }
                // The guard sweeps by label when it drops below.
            }
        }
    }
    drop(guard);
    outcome.duration_ms = started.elapsed().as_millis() as u64;
    outcome
}

/// Starts the trial's relay helper on its network: what its replicas' ports are reached through
/// when the engine's network is not reachable from here. It carries the trial's labels, so that
/// teardown and `gc` remove it with the rest.
async fn start_relay(cluster: &Cluster) -> Result<String, crate::runtime::EngineError> {
    let mut labels = cluster.labels.clone();
    labels.insert(super::faults::LABEL_HELPER.into(), "relay".into());
    let spec = ContainerSpec {
        name: format!("{}-relay", cluster.network),
        image: RELAY_IMAGE.into(),
        hostname: "relay".into(),
        network: cluster.network.clone(),
        labels,
        ..Default::default()
    };
    cluster.backend.start_container(&spec).await
}

/// A trial's outcome before anything ran: `pass` until a step says otherwise.
pub(crate) fn blank_outcome(
    trial: &Trial,
    reproduce: &dyn Fn(&Trial) -> crate::outcome::Reproduce,
) -> TrialOutcome {
    let again = reproduce(trial);
    TrialOutcome {
        id: trial.id.clone(),
        scenario: trial.scenario.clone(),
        kind: match trial.kind {
            TrialKind::Cell(_) => "cell".into(),
            TrialKind::Path { .. } => "path".into(),
        },
        start: trial
            .start
            .iter()
            .map(|(k, v)| (k.clone(), v.to_string()))
            .collect(),
        cell: match &trial.kind {
            TrialKind::Cell(c) => Some(c.iter().map(|(k, v)| (k.clone(), v.to_string())).collect()),
            TrialKind::Path { .. } => None,
        },
        path: match &trial.kind {
            TrialKind::Cell(_) => None,
            TrialKind::Path {
                from,
                to,
                via,
                order,
            } => Some(crate::outcome::PathEnds {
                from: from.to_string(),
                to: to.to_string(),
                via: via.iter().map(Release::to_string).collect(),
                order: order.as_ref().map(|o| o.roles.clone()),
                documented: order.as_ref().is_some_and(|o| o.documented),
            }),
        },
        unpromised: trial.unpromised,
        verdict: Verdict::Pass,
        reason: None,
        failed_step: None,
        duration_ms: 0,
        started_unix_ms: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64),
        steps: vec![],
        workloads: vec![],
        faults: vec![],
        last_logs: IndexMap::new(),
        logs_dir: format!("{}/logs", trial_dir(trial)),
        reproduce: again.crossgrade,
        reproduce_nextest: again.nextest,
        repeat: trial.repeat,
        repeats: None,
    }
}

fn lines(s: &str) -> Vec<String> {
    s.lines().map(str::to_string).collect()
}

async fn run_steps(
    ctx: &TrialContext,
    trial: &Trial,
    live: &mut Live,
    started: Instant,
    outcome: &mut TrialOutcome,
    bring_up: tokio::sync::OwnedSemaphorePermit,
) {
    // Given back when the first step ends, or when the trial stops bringing its cluster up sooner.
    let mut bring_up = Some(bring_up);
    if let Err(e) = ctx
        .backend
        .create_network(&live.cluster.network, &live.cluster.labels)
        .await
    {
        outcome.verdict = Verdict::Error;
        outcome.reason = Some(StepError::from(e).message());
        return;
    }
    if ctx.reach.reach == Reach::Engine {
        match start_relay(&live.cluster).await {
            Ok(id) => live.cluster.relay = Some(id),
            Err(e) => {
                outcome.verdict = Verdict::Error;
                outcome.reason = Some(format!(
                    "starting the relay helper that reaches the replicas through the engine ({}): {}",
                    ctx.reach.why,
                    StepError::from(e).message()
                ));
                return;
            }
        }
    }
    // Services come up first, before any step, at their fixed release.
    let services: Vec<String> = ctx
        .matrix
        .services
        .iter()
        .flat_map(|s| s.replica_names())
        .collect();
    for name in services {
        if let Err(e) = live.cluster.start(&name).await {
            outcome.verdict = verdict_of(e.status());
            outcome.reason = Some(format!("service {name}: {}", e.message()));
            return;
        }
    }
    let total = trial.steps.len();
    for (i, step) in trial.steps.iter().enumerate() {
        let description = step.op.to_string();
        ctx.events.emit(Event::StepStarted {
            trial: trial.id.clone(),
            number: step.number,
            of: total,
            description: description.clone(),
        });
        let step_start = Instant::now();
        live.step = step.number;
        let deadline = step
            .timeout
            .unwrap_or_else(|| step.op.deadline(&live.cluster));
        let result = match tokio::time::timeout(deadline, step.op.exec(live)).await {
            Ok(r) => r,
            Err(_) => Err(StepError::fail(format!(
                "step {} ({description}) did not finish within its deadline of {}",
                step.number,
                format_duration(deadline)
            ))),
        };
        let result = with_crashes(result, &live.cluster, outcome).await;
        live.faults.settle(&live.cluster, step.number);
        let (status, message, mut observations, targets, refusal) = match result {
            Ok(done) => (
                StepStatus::Pass,
                None,
                done.observations,
                done.targets,
                false,
            ),
            Err(e) => {
                let refusal = e.is_refusal();
                (
                    e.status(),
                    Some(e.message()),
                    e.observations,
                    vec![],
                    refusal,
                )
            }
        };
        if status == StepStatus::Fail {
            // Kept beside the reason, not in it: the reason is held against a baseline, and what
            // else a component logged meanwhile varies from run to run.
            let said = live.cluster.complaints_during(step_start.elapsed()).await;
            observations.extend(said);
        }
        let so = StepOutcome {
            number: step.number,
            description: description.clone(),
            origin: step.origin.clone(),
            status,
            started_ms: (step_start - started).as_millis() as u64,
            duration_ms: step_start.elapsed().as_millis() as u64,
            message: message.clone(),
            observations,
            targets,
            releases: live.cluster.releases(),
            refusal,
        };
        ctx.events.emit(Event::StepFinished {
            trial: trial.id.clone(),
            outcome: so.clone(),
        });
        outcome.steps.push(so);
        drop(bring_up.take());
        if status != StepStatus::Pass {
            outcome.verdict = verdict_of(status);
            outcome.failed_step = Some(step.number);
            outcome.reason = Some(format!(
                "step {} ({description}): {}",
                step.number,
                message.unwrap_or_default()
            ));
            for rest in &trial.steps[i + 1..] {
                outcome.steps.push(skipped(rest, live));
            }
            return;
        }
        if matches!(step.op, Op::Start(_)) {
            failpoint("panic-after-start");
        }
    }
}

/// A component that died during the step fails it, even if the step's own check passed; a step
/// that failed names such a death too (it is likely why), unless its failure is itself an exit:
/// then further exits it set off (which may or may not have happened yet) are evidence, not the
/// reason.
async fn with_crashes(
    result: Result<crate::step::Done, StepError>,
    cluster: &Cluster,
    outcome: &mut TrialOutcome,
) -> Result<crate::step::Done, StepError> {
    match (result, cluster.crashed().await) {
        (Ok(done), Ok(crashed)) if crashed.is_empty() => Ok(done),
        (Ok(_), Ok(crashed)) => Err(crash_error(cluster, &crashed, outcome)),
        (Ok(_), Err(e)) => Err(e),
        (Err(mut e), Ok(crashed)) => {
            let crashed: Vec<_> = crashed
                .into_iter()
                .filter(|(n, ..)| !e.exited.contains(n))
                .collect();
            if !crashed.is_empty() {
                let also = crash_error(cluster, &crashed, outcome);
                if e.exited.is_empty() {
                    e.also.push(also.message());
                }
                e.observations.extend(also.observations);
            }
            Err(e)
        }
        (Err(e), Err(_)) => Err(e),
    }
}

/// The failure of a step during which replicas that should run exited: the first one's exit code and
/// own words, and every one's last lines as evidence.
fn crash_error(
    cluster: &Cluster,
    crashed: &[(String, Option<i64>, String)],
    outcome: &mut TrialOutcome,
) -> StepError {
    let (name, code, log) = &crashed[0];
    let mut e = StepError::fail(format!(
        "{name} exited unexpectedly with code {}{}",
        code.unwrap_or(-1),
        it_logged(log, cluster.role_of(name).error_lines.as_ref())
    ));
    for (n, c, l) in crashed {
        outcome.last_logs.insert(n.clone(), lines(l));
        e = e.with(Observation {
            what: n.clone(),
            exit_code: *c,
            output: l.clone(),
            ..Default::default()
        });
    }
    e
}

fn skipped(s: &PlannedStep, live: &Live) -> StepOutcome {
    StepOutcome {
        number: s.number,
        description: s.op.to_string(),
        origin: s.origin.clone(),
        status: StepStatus::Skipped,
        started_ms: 0,
        duration_ms: 0,
        message: None,
        observations: vec![],
        targets: vec![],
        releases: live.cluster.releases(),
        refusal: false,
    }
}

/// A negative trial's verdict: an upgrade the policy does not promise passes when it goes through
/// or when a component refuses it cleanly (the failed step is a refusal), and fails when it goes
/// wrong without one: a check that finds the data wrong while every component carries on.
fn judge_unpromised(outcome: &mut TrialOutcome) {
    let refused = outcome
        .failed_step
        .and_then(|n| outcome.steps.iter().find(|s| s.number == n))
        .is_some_and(|s| s.refusal);
    let why = outcome.reason.take().unwrap_or_default();
    outcome.reason = Some(match outcome.verdict {
        Verdict::Pass => {
            "went through, though the support policy does not promise this upgrade".into()
        }
        Verdict::Fail if refused => {
            outcome.verdict = Verdict::Pass;
            format!(
                "refused cleanly, as an upgrade the support policy does not promise may be: {why}"
            )
        }
        Verdict::Fail => format!(
            "went wrong without a refusal (an upgrade the support policy does not promise must go \
             through or be refused cleanly): {why}"
        ),
        Verdict::Error => why,
    });
}

fn verdict_of(s: StepStatus) -> Verdict {
    match s {
        StepStatus::Error => Verdict::Error,
        StepStatus::Pass | StepStatus::Skipped => Verdict::Pass,
        StepStatus::Fail => Verdict::Fail,
    }
}

/// Labels kept on objects of `trial` (for `--keep` messages).
pub fn keep_hint(run_id: &str, trial: &str) -> String {
    format!(
        "docker ps -a --filter label={LABEL_RUN}={run_id} --filter 'label={LABEL_TRIAL}={trial}'"
    )
}
