//! Executing one trial: set up its network, run its steps with deadlines, judge, tear down.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indexmap::IndexMap;

use super::cluster::{Cluster, Replica, LAST_LOG_LINES};
use super::events::{Event, Events};
use super::last_words::it_logged;
use super::step::{eventually, invoke, judge, next_to_move, select, StepError};
use super::workload::{Spec, Workload};
use crate::model::{format_duration, Matrix, StepKind};
use crate::outcome::{Observation, StepOutcome, StepStatus, TrialOutcome, Verdict};
use crate::plan::{Op, PlannedStep, Trial, TrialKind};
use crate::runtime::{labels, Engine, SweepGuard, LABEL_RUN, LABEL_TRIAL};

/// What every trial of a run shares.
pub(crate) struct TrialContext {
    pub engine: Engine,
    pub matrix: Arc<Matrix>,
    pub http: reqwest::Client,
    pub run_id: String,
    pub report_dir: PathBuf,
    pub events: Events,
    /// Leave the containers of trials that did not pass.
    pub keep: bool,
    pub reproduce: Arc<dyn Fn(&Trial) -> crate::outcome::Reproduce + Send + Sync>,
}

/// Folder of a trial's files, relative to the run's report folder: `trials/<scenario>/<cell or path>`.
pub fn trial_dir(t: &Trial) -> String {
    let rest = t.id.rsplit('/').next().unwrap_or(&t.id);
    format!("trials/{}/{}", t.scenario, rest)
}

/// The default deadline of a step that sets none: generous enough for its own inner timeouts.
fn default_deadline(c: &Cluster, op: &Op) -> Duration {
    let ready = |role: &str| {
        let r = c.role(role);
        r.ready.as_ref().map_or(Duration::ZERO, |x| x.timeout) + r.stop_timeout
    };
    let slack = Duration::from_secs(60);
    match op {
        Op::Step(StepKind::Start { .. }) => {
            c.matrix
                .roles
                .iter()
                .chain(&c.matrix.services)
                .map(|r| ready(&r.name))
                .sum::<Duration>()
                + slack
        }
        Op::Move { role, .. }
        | Op::Step(StepKind::Upgrade { role, .. })
        | Op::Step(StepKind::Restart { role, .. })
        | Op::Step(StepKind::Stop { role, .. }) => ready(role) * c.role(role).replicas + slack,
        Op::Step(StepKind::Run {
            action,
            eventually,
            exits,
            ..
        }) => {
            eventually.unwrap_or_default()
                + c.role(&action.role).actions[&action.action].timeout * 2
                + Duration::from_secs(10)
                + if exits.is_some() {
                    super::cluster::EXPECTED_EXIT_WAIT
                } else {
                    Duration::ZERO
                }
        }
        Op::Step(StepKind::Workload { .. }) => Duration::from_secs(10),
        Op::Step(StepKind::StopWorkload { .. }) => Duration::from_secs(60),
    }
}

/// Test hook: `CROSSGRADE_FAILPOINT=panic-after-start` panics after a trial's first `start` step, so
/// the cleanup of a panicking trial can be tested against the real engine.
fn failpoint(name: &str) {
    if std::env::var("CROSSGRADE_FAILPOINT").is_ok_and(|v| v == name) {
        panic!("failpoint {name} reached");
    }
}

struct Running {
    cluster: Cluster,
    workloads: IndexMap<String, Workload>,
    reports: Vec<crate::outcome::WorkloadReport>,
}

pub(crate) async fn run_trial(ctx: &TrialContext, trial: &Trial, slot: usize) -> TrialOutcome {
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

    // Every image the trial will need, before anything is created: a missing one is our side's error.
    if let Err(reason) = preflight(ctx, trial).await {
        outcome.verdict = Verdict::Error;
        outcome.reason = Some(reason);
        outcome.duration_ms = started.elapsed().as_millis() as u64;
        return outcome;
    }

    let label_filter = format!("{LABEL_RUN}={}&{LABEL_TRIAL}={}", ctx.run_id, trial.id);
    // If this future is dropped (panic, Ctrl-C) the guard removes the trial's objects.
    let mut guard = SweepGuard::new(label_filter.clone());
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
                        incarnation: 0,
                    },
                )
            })
        })
        .collect();
    let mut running = Running {
        cluster: Cluster {
            engine: ctx.engine.clone(),
            matrix: ctx.matrix.clone(),
            table: Arc::new(Mutex::new(table)),
            network: format!("cg-{}-t{slot}", ctx.run_id),
            labels: labels(&ctx.run_id, Some(&trial.id)),
            label_filter,
            http: ctx.http.clone(),
            logs_dir,
            volumes: Mutex::new(vec![]),
        },
        workloads: IndexMap::new(),
        reports: vec![],
    };

    let body = run_steps(ctx, trial, &mut running, started, &mut outcome);
    if tokio::time::timeout(trial.timeout, body).await.is_err() {
        outcome.verdict = Verdict::Fail;
        let at = outcome.steps.len() + 1;
        outcome.reason = Some(format!(
            "the trial did not finish within its deadline of {} (at step {at})",
            format_duration(trial.timeout)
        ));
        outcome.failed_step.get_or_insert(at);
    }

    // Workloads still running at the end are stopped and judged.
    for (_, w) in running.workloads.drain(..) {
        if let Some(r) = w.finish().await {
            running.reports.push(r);
        }
    }
    for r in &running.reports {
        if !r.passed && outcome.verdict == Verdict::Pass {
            outcome.verdict = Verdict::Fail;
            outcome.reason = Some(workload_failure(r));
        }
    }
    outcome.workloads = std::mem::take(&mut running.reports);

    // Evidence for a failure: the last lines of every container still there.
    if outcome.verdict != Verdict::Pass && outcome.last_logs.is_empty() {
        for (name, rep) in running.cluster.snapshot() {
            if let Some(id) = rep.container {
                if let Ok(l) = ctx.engine.logs(&id, Some(LAST_LOG_LINES)).await {
                    outcome.last_logs.insert(name, lines(&l));
                }
            }
        }
    }

    let keep = ctx.keep && outcome.verdict != Verdict::Pass;
    if keep {
        guard.disarm();
    } else {
        match running.cluster.teardown().await {
            Ok(()) => guard.disarm(),
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
            TrialKind::Path { from, to } => Some(crate::outcome::PathEnds {
                from: from.to_string(),
                to: to.to_string(),
            }),
        },
        verdict: Verdict::Pass,
        reason: None,
        failed_step: None,
        duration_ms: 0,
        started_unix_ms: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64),
        steps: vec![],
        workloads: vec![],
        last_logs: IndexMap::new(),
        logs_dir: format!("{}/logs", trial_dir(trial)),
        reproduce: again.crossgrade,
        reproduce_nextest: again.nextest,
    }
}

fn lines(s: &str) -> Vec<String> {
    s.lines().map(str::to_string).collect()
}

fn workload_failure(r: &crate::outcome::WorkloadReport) -> String {
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

async fn preflight(ctx: &TrialContext, trial: &Trial) -> Result<(), String> {
    let mut missing = Vec::new();
    for image in trial.images(&ctx.matrix) {
        match ctx.engine.image_exists(&image).await {
            Ok(true) => {}
            Ok(false) => missing.push(image),
            Err(e) => return Err(format!("Docker engine: {e}")),
        }
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "image {} missing: build with `crossgrade images build -f {}` (images are never pulled)",
            missing.join(", "),
            ctx.matrix.file.display()
        ))
    }
}

async fn run_steps(
    ctx: &TrialContext,
    trial: &Trial,
    running: &mut Running,
    started: Instant,
    outcome: &mut TrialOutcome,
) {
    if let Err(e) = ctx
        .engine
        .create_network(&running.cluster.network, &running.cluster.labels)
        .await
    {
        outcome.verdict = Verdict::Error;
        outcome.reason = Some(format!("Docker engine: {e}"));
        return;
    }
    // Services come up first, before any step, at their fixed release.
    let services: Vec<String> = ctx
        .matrix
        .services
        .iter()
        .flat_map(|s| s.replica_names())
        .collect();
    for name in services {
        if let Err(e) = running.cluster.start(&name).await {
            outcome.verdict = verdict_of(e.status);
            outcome.reason = Some(format!("service {name}: {}", e.message));
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
        let deadline = step
            .timeout
            .unwrap_or_else(|| default_deadline(&running.cluster, &step.op));
        let mut result = match tokio::time::timeout(deadline, exec(ctx, running, step)).await {
            Ok(r) => r,
            Err(_) => Err(StepError::fail(format!(
                "step {} ({description}) did not finish within its deadline of {}",
                step.number,
                format_duration(deadline)
            ))),
        };
        // A component that died during the step fails it, even if the step's own check passed; a
        // step that failed names such a death too (it is likely why), unless its failure is an exit.
        result = match (result, running.cluster.crashed().await) {
            (Ok(obs), Ok(crashed)) if crashed.is_empty() => Ok(obs),
            (Ok(_), Ok(crashed)) => Err(crash_error(&running.cluster, &crashed, outcome)),
            (Ok(_), Err(e)) => Err(e),
            (Err(e), Ok(crashed)) => {
                let crashed: Vec<_> = crashed
                    .into_iter()
                    .filter(|(n, ..)| !e.exited.contains(n))
                    .collect();
                if crashed.is_empty() {
                    Err(e)
                } else {
                    let also = crash_error(&running.cluster, &crashed, outcome);
                    let mut e = e;
                    // A failure that is itself an exit has its cause; more exits it set off (and
                    // that may or may not have happened yet) are evidence, not the reason.
                    if e.exited.is_empty() {
                        e.message = format!("{}; and {}", e.message, also.message);
                    }
                    e.observations.extend(also.observations);
                    Err(e)
                }
            }
            (Err(e), Err(_)) => Err(e),
        };
        let (status, message, observations) = match result {
            Ok(obs) => (StepStatus::Pass, None, obs),
            Err(e) => (e.status, Some(e.message), e.observations),
        };
        let so = StepOutcome {
            number: step.number,
            description: description.clone(),
            origin: step.origin.clone(),
            status,
            started_ms: (step_start - started).as_millis() as u64,
            duration_ms: step_start.elapsed().as_millis() as u64,
            message: message.clone(),
            observations,
            releases: running.cluster.releases(),
        };
        ctx.events.emit(Event::StepFinished {
            trial: trial.id.clone(),
            outcome: so.clone(),
        });
        outcome.steps.push(so);
        if status != StepStatus::Pass {
            outcome.verdict = verdict_of(status);
            outcome.failed_step = Some(step.number);
            outcome.reason = Some(format!(
                "step {} ({description}): {}",
                step.number,
                message.unwrap_or_default()
            ));
            for rest in &trial.steps[i + 1..] {
                outcome.steps.push(skipped(rest, running));
            }
            return;
        }
        if matches!(step.op, Op::Step(StepKind::Start { .. })) {
            failpoint("panic-after-start");
        }
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

fn skipped(s: &PlannedStep, running: &Running) -> StepOutcome {
    StepOutcome {
        number: s.number,
        description: s.op.to_string(),
        origin: s.origin.clone(),
        status: StepStatus::Skipped,
        started_ms: 0,
        duration_ms: 0,
        message: None,
        observations: vec![],
        releases: running.cluster.releases(),
    }
}

fn verdict_of(s: StepStatus) -> Verdict {
    match s {
        StepStatus::Error => Verdict::Error,
        StepStatus::Pass | StepStatus::Skipped => Verdict::Pass,
        StepStatus::Fail => Verdict::Fail,
    }
}

/// Executes one step; returns what it observed.
async fn exec(
    ctx: &TrialContext,
    running: &mut Running,
    step: &PlannedStep,
) -> Result<Vec<Observation>, StepError> {
    let c = &running.cluster;
    match &step.op {
        Op::Step(StepKind::Start { roles }) => {
            let roles: Vec<String> = if roles.is_empty() {
                ctx.matrix.roles.iter().map(|r| r.name.clone()).collect()
            } else {
                roles.clone()
            };
            // Roles in order; a role's replicas in parallel.
            for role in roles {
                let snapshot = c.snapshot();
                let names: Vec<String> = c
                    .replicas_of(&role)
                    .into_iter()
                    .filter(|n| snapshot[n].container.is_none() || snapshot[n].stopped)
                    .collect();
                for n in &names {
                    if snapshot[n].container.is_some() {
                        c.remove(n).await?;
                    }
                }
                let starts = names.iter().map(|n| c.start(n));
                for r in futures_util::future::join_all(starts).await {
                    r?;
                }
            }
            Ok(vec![])
        }
        Op::Move {
            role, to, order, ..
        } => {
            let name = next_to_move(c, &ctx.http, role, to, *order).await?;
            let from = c.replica(&name).release;
            c.replace(&name, to).await?;
            Ok(vec![Observation {
                what: name.clone(),
                note: Some(format!("moved {name} from {from} to {to}")),
                ..Default::default()
            }])
        }
        Op::Step(StepKind::Upgrade { .. }) => Err(StepError::error(
            "an upgrade step reached the runner unexpanded (a planner bug)",
        )),
        Op::Step(StepKind::Restart { role, replica }) => {
            let names = select(c, &ctx.http, role, replica).await?;
            for n in &names {
                let rel = c.replica(n).release;
                c.replace(n, &rel).await?;
            }
            Ok(vec![Observation {
                what: names.join(", "),
                note: Some(format!("restarted {}", names.join(", "))),
                ..Default::default()
            }])
        }
        Op::Step(StepKind::Stop {
            role,
            replica,
            kill,
        }) => {
            let names = select(c, &ctx.http, role, replica).await?;
            for n in &names {
                c.stop(n, *kill).await?;
            }
            Ok(vec![])
        }
        Op::Step(StepKind::Run {
            action,
            replica,
            expect,
            eventually: within,
            exits,
        }) => {
            let act = &c.role(&action.role).actions[&action.action];
            let expect = expect.as_deref().cloned().unwrap_or_default();
            // Ok(Ok(obs)): the check holds; Ok(Err(e)): it does not (yet); Err(e): engine error.
            let attempt = || async {
                // Chosen on every attempt: the leader may change (or be unknown for a moment) while
                // a check waits for its condition.
                let name = match select(c, &ctx.http, &action.role, replica).await {
                    Ok(names) => names
                        .into_iter()
                        .next()
                        .ok_or_else(|| StepError::error("no replica selected"))?,
                    Err(e) if e.status == StepStatus::Fail => return Ok(Err(e)),
                    Err(e) => return Err(e),
                };
                let inv = invoke(&c.engine, &ctx.http, &c.table, act, &name).await?;
                Ok(match judge(&inv, &expect) {
                    None => Ok(inv.observation),
                    Some(why) => Err(StepError::fail(why).with(inv.observation)),
                })
            };
            let observed = match within {
                None => attempt().await??,
                Some(d) => eventually(*d, Duration::from_millis(250), attempt).await?,
            };
            let mut observations = vec![observed];
            if let Some(x) = exits {
                observations.push(c.await_exit(x).await?);
            }
            Ok(observations)
        }
        Op::Step(StepKind::Workload {
            name,
            action,
            every,
            expect,
            min_success,
            max_unavailable,
        }) => {
            let act = c.role(&action.role).actions[&action.action].clone();
            let w = Workload::start(
                ctx.engine.clone(),
                ctx.http.clone(),
                c.table.clone(),
                Spec {
                    name: name.clone(),
                    action_label: action.to_string(),
                    action: act,
                    replica: format!("{}-0", action.role),
                    every: *every,
                    expect: expect.as_deref().cloned(),
                    min_success: *min_success,
                    max_unavailable: *max_unavailable,
                },
            );
            running.workloads.insert(name.clone(), w);
            Ok(vec![])
        }
        Op::Step(StepKind::StopWorkload { name }) => {
            let w = running
                .workloads
                .shift_remove(name)
                .ok_or_else(|| StepError::error(format!("workload {name} is not running")))?;
            let report = w
                .finish()
                .await
                .ok_or_else(|| StepError::error(format!("workload {name} panicked")))?;
            let passed = report.passed;
            let note = workload_failure(&report);
            running.reports.push(report);
            let obs = Observation {
                what: format!("workload {name}"),
                note: Some(note.clone()),
                ..Default::default()
            };
            if passed {
                Ok(vec![obs])
            } else {
                Err(StepError::fail(note).with(obs))
            }
        }
    }
}

/// Labels kept on objects of `trial` (for `--keep` messages).
pub fn keep_hint(run_id: &str, trial: &str) -> String {
    format!(
        "docker ps -a --filter label={LABEL_RUN}={run_id} --filter 'label={LABEL_TRIAL}={trial}'"
    )
}
