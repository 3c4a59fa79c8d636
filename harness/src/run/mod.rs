//! Running trials against a [`Backend`](crate::runtime::Backend): bounded parallelism,
//! cancellation, panics turned into `error` verdicts, and the run-level cleanup. Emits [`Event`]s;
//! never prints. Each step kind executes itself ([`crate::step`]) against the trial's [`Cluster`].

mod action;
mod cluster;
mod error;
mod events;
mod faults;
mod history;
mod last_words;
mod schedule;
#[cfg(test)]
mod tests;
mod trial;
mod workload;

use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

#[cfg(test)]
pub(crate) use action::excerpt;
pub(crate) use action::{eventually, invoke, next_to_move, select, Invocation, LEADER_WAIT};
pub use cluster::DURING_STEP;
pub(crate) use cluster::{Cluster, Reach, EXPECTED_EXIT_WAIT};
pub(crate) use error::StepError;
pub use events::{Event, Events};
pub(crate) use history::{OpKind, Recording, HISTORY_FILE};
pub use schedule::Durations;
pub use trial::keep_hint;
pub(crate) use trial::trial_dir;
pub(crate) use trial::{blank_outcome, Live};
pub(crate) use workload::{violation_detail, workload_failure, Judged, Repeating, RunningWorkload};

use crate::model::Matrix;
use crate::outcome::{TrialOutcome, Verdict};
use crate::plan::Trial;
use crate::runtime::{sweep, Backend, LABEL_RUN, LABEL_TRIAL};

/// How to run.
#[derive(Clone)]
pub(crate) struct RunOptions {
    pub run_id: String,
    /// Folder of this run's report: container logs go under it.
    pub report_dir: PathBuf,
    /// Trials at once.
    pub jobs: usize,
    /// Leave the containers of trials that did not pass.
    pub keep: bool,
    /// The command line that reruns exactly one trial.
    pub reproduce: Arc<dyn Fn(&Trial) -> crate::outcome::Reproduce + Send + Sync>,
    /// How replicas' ports are reached (directly, or through the engine).
    pub reach: crate::runtime::ReachChoice,
    /// What trials took last time: the longest start first.
    pub took: Durations,
    /// Trials bringing their cluster up at once ([`bring_up_slots`] by default).
    pub bring_up: usize,
}

/// A default for `-j`: Docker trials mostly wait (on the engine and on the system under test), so
/// five per core, at most 10; how many of them bring their clusters up at once is bounded apart
/// ([`bring_up_slots`]). (The default matrix, 19 tinymesos trials, on 2 cores with 4 bringing up
/// at once: 44.3–45.8 s at 10 over 7 runs, where plan order at 8 took 53.0–56.2 s.)
pub fn default_jobs() -> usize {
    std::thread::available_parallelism()
        .map_or(2, |n| n.get() * 5)
        .clamp(1, 10)
}

/// How many trials bring their cluster up at once: two per core. The engine starts containers
/// nearly one at a time, so eight trials that start their clusters together each take about eight
/// times as long to come up (their readiness deadlines running meanwhile), then finish together and
/// leave their slots to the next burst. A trial brings its cluster up (network, services, first
/// step) only while fewer than this many others do; the rest of it (checks, upgrades, waits) runs
/// alongside as `-j` allows. (The default matrix on 2 cores, at `-j 8`: 43.0–48.8 s with 4 at
/// once, 44.8–49.3 s with 2, 46.5–54.3 s unbounded, over 2–5 runs each.)
pub fn bring_up_slots() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get() * 2)
}

/// A fresh run id: UTC time plus a random suffix, e.g. `20261121-223501-3fa2`.
pub fn new_run_id() -> String {
    let now = time::OffsetDateTime::now_utc();
    let fmt = time::macros::format_description!("[year][month][day]-[hour][minute][second]");
    let suffix = std::process::id() as u64 ^ now.unix_timestamp_nanos() as u64;
    format!(
        "{}-{:04x}",
        now.format(&fmt).unwrap_or_default(),
        suffix & 0xffff
    )
}

/// The outcome of a trial that could not run: an `error` with its reason.
pub(crate) fn errored(
    t: &Trial,
    reason: String,
    reproduce: &dyn Fn(&Trial) -> crate::outcome::Reproduce,
) -> TrialOutcome {
    let mut o = blank_outcome(t, reproduce);
    o.verdict = Verdict::Error;
    o.reason = Some(reason);
    o
}

/// Runs `trials` on `backend`, at most `opts.jobs` at once, until done or `cancel` fires. Returns
/// one outcome per trial, in plan order, each also emitted as [`Event::TrialFinished`]. Whatever
/// happens, nothing labelled with this run is left in the engine (unless `keep` asked for failed
/// trials to stay).
pub(crate) async fn run_trials(
    backend: Arc<dyn Backend>,
    matrix: Arc<Matrix>,
    trials: Vec<Trial>,
    opts: RunOptions,
    events: Events,
    cancel: CancellationToken,
) -> Vec<TrialOutcome> {
    let ctx = Arc::new(trial::TrialContext {
        backend: backend.clone(),
        matrix,
        run_id: opts.run_id.clone(),
        report_dir: opts.report_dir.clone(),
        events: events.clone(),
        keep: opts.keep,
        reproduce: opts.reproduce.clone(),
        reach: opts.reach.clone(),
        bring_up: Arc::new(Semaphore::new(opts.bring_up.max(1))),
    });
    let permits = Arc::new(Semaphore::new(opts.jobs.max(1)));
    let mut set: JoinSet<(usize, TrialOutcome)> = JoinSet::new();
    // Trials start in this order, each when a slot is free; outcomes are kept in plan order.
    let mut waiting = schedule::longest_first(&trials, &opts.took).into_iter();
    let mut next = waiting.next();
    let mut outcomes: Vec<Option<TrialOutcome>> = vec![None; trials.len()];
    loop {
        if next.is_none() && set.is_empty() {
            break;
        }
        tokio::select! {
            biased;
            _ = cancel.cancelled() => {
                events.emit(Event::Cancelling);
                // Dropping the trial futures runs their guards, which sweep their objects.
                set.abort_all();
                while set.join_next().await.is_some() {}
                break;
            }
            Some(done) = set.join_next(), if !set.is_empty() => {
                // An abort happens only on cancellation, handled above.
                if let Ok((slot, o)) = done {
                    events.emit(Event::TrialFinished {
                        outcome: Box::new(o.clone()),
                    });
                    outcomes[slot] = Some(o);
                }
            }
            permit = permits.clone().acquire_owned(), if next.is_some() => {
                let permit = permit.expect("semaphore open");
                let slot = next.take().expect("a trial waits");
                next = waiting.next();
                let (ctx, t) = (ctx.clone(), trials[slot].clone());
                set.spawn(async move {
                    let _permit = permit;
                    // A panic unwinds through the trial (its guard sweeps its objects) and becomes
                    // an `error`.
                    let run = std::panic::AssertUnwindSafe(trial::run_trial(&ctx, &t, slot));
                    let o = match futures_util::FutureExt::catch_unwind(run).await {
                        Ok(o) => o,
                        Err(p) => {
                            let text = p
                                .downcast_ref::<&str>()
                                .map(|s| s.to_string())
                                .or_else(|| p.downcast_ref::<String>().cloned())
                                .unwrap_or_else(|| "unknown panic".into());
                            errored(&t, format!("the harness panicked: {text}"), &*ctx.reproduce)
                        }
                    };
                    (slot, o)
                });
            }
        }
    }
    let mut result = Vec::with_capacity(trials.len());
    for (slot, o) in outcomes.into_iter().enumerate() {
        let o = o.unwrap_or_else(|| {
            let o = errored(
                &trials[slot],
                "interrupted before it finished".into(),
                &*opts.reproduce,
            );
            events.emit(Event::TrialFinished {
                outcome: Box::new(o.clone()),
            });
            o
        });
        result.push(o);
    }

    // The run's own sweep: anything still labelled with this run, except trials kept on purpose.
    let kept: Vec<String> = result
        .iter()
        .filter(|o| opts.keep && o.verdict != Verdict::Pass)
        .map(|o| o.id.clone())
        .collect();
    let keep = |obj: &crate::runtime::Labelled| {
        obj.labels
            .get(LABEL_TRIAL)
            .is_some_and(|t| kept.contains(t))
    };
    let label = format!("{LABEL_RUN}={}", opts.run_id);
    if let Err(e) = sweep(&*backend, &label, keep, crate::runtime::BUSY_WAIT).await {
        events.emit(Event::CleanupFailed {
            error: e.to_string(),
        });
    }
    result
}
