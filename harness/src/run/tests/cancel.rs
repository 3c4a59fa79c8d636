//! Trials that end early (cancelled, a panic) and trials kept on purpose: what is left behind.

use super::*;
use crate::outcome::Verdict;
use crate::runtime::scripted::{Fault, Reply, Script};
use crate::runtime::{LABEL_RUN, LABEL_TRIAL};

/// Starts, waits 10 s on node-0, then reads through the client.
fn wait_then_get() -> Fixture {
    cell(&[START, WAIT, GET].concat())
}

fn sleepy() -> Arc<Scripted> {
    Arc::new(Scripted::new(
        Script::default().on_exec(with_sleep(|_, _| Reply::Output(0, "hello".into()))),
    ))
}

/// A token cancelled `n` seconds from now.
fn cancelled_after(n: u64) -> CancellationToken {
    let cancel = CancellationToken::new();
    let later = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(secs(n)).await;
        later.cancel();
    });
    cancel
}

#[tokio::test(start_paused = true)]
async fn cancelling_mid_trial_errors_it_and_leaves_nothing() {
    let fx = wait_then_get();
    let ran = run_with(&fx, sleepy(), cancelled_after(3), false).await;
    assert_eq!(ran.outcome.verdict, Verdict::Error);
    assert_eq!(ran.reason(), "interrupted before it finished");
    let told: Vec<String> = ran
        .events
        .iter()
        .map(|e| match e {
            Event::StepFinished { outcome, .. } => format!("step {} done", outcome.number),
            Event::TrialFinished { outcome } => format!("finished {}", outcome.verdict),
            other => format!("{other:?}")
                .split([' ', '{'])
                .next()
                .unwrap()
                .to_string(),
        })
        .collect();
    assert_eq!(
        told,
        [
            "TrialStarted",
            "StepStarted",
            "step 1 done",
            "StepStarted",
            "Cancelling",
            "finished error"
        ]
    );
    assert_eq!(
        ran.calls("sweep "),
        [format!(
            "sweep {LABEL_RUN}={RUN_ID}&{LABEL_TRIAL}={}",
            fx.trial().id
        )],
        "the dropped trial's guard swept"
    );
    assert!(ran.calls("exec client-0").is_empty());
    assert_eq!(ran.leftovers(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_run_cancelled_before_it_starts_creates_nothing() {
    let fx = wait_then_get();
    let cancel = CancellationToken::new();
    cancel.cancel();
    let ran = run_with(&fx, sleepy(), cancel, false).await;
    assert_eq!(ran.reason(), "interrupted before it finished");
    assert!(ran.backend.calls().is_empty(), "{:?}", ran.backend.calls());
}

#[tokio::test(start_paused = true)]
async fn a_sweep_that_fails_on_drop_is_told_and_the_run_sweeps_after_it() {
    let fx = wait_then_get();
    let backend = sleepy();
    backend.fail(Fault::SweepBlocking);
    let ran = run_with(&fx, backend, cancelled_after(3), false).await;
    let failed: Vec<&str> = ran
        .events
        .iter()
        .filter_map(|e| match e {
            Event::CleanupFailed { error } => Some(error.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        failed,
        [format!(
            "cleanup of {LABEL_RUN}={RUN_ID}&{LABEL_TRIAL}={} failed: scripted: the engine refuses",
            fx.trial().id
        )]
    );
    assert_eq!(ran.leftovers(), 0, "the run's own sweep removed it all");
}

#[tokio::test(start_paused = true)]
async fn a_panic_in_a_step_is_an_error_and_leaves_nothing() {
    let fx = wait_then_get();
    let script = Script::default().on_exec(with_sleep(|_, argv| match argv[0].as_str() {
        "get" => panic!("the client's script broke"),
        _ => Reply::Output(0, "ok".into()),
    }));
    let ran = run(&fx, script).await;
    assert_eq!(ran.outcome.verdict, Verdict::Error);
    assert_eq!(
        ran.reason(),
        "the harness panicked: the client's script broke"
    );
    assert_eq!(ran.calls("sweep ").len(), 1);
    assert_eq!(ran.leftovers(), 0);
}

/// Starts, then checks that the client reads "hello".
const GET_HELLO: &str = "[[step]]\ndo = \"start\"\n[[step]]\ndo = \"check\"\naction = \"client.get\"\nexpect = { contains = \"hello\" }\n";

#[tokio::test(start_paused = true)]
async fn keep_leaves_a_failed_trial_s_containers_network_and_volumes() {
    let fx = cell(GET_HELLO);
    let backend = Arc::new(Scripted::new(
        Script::default().on_exec(|_, _| Reply::Output(0, "hi".into())),
    ));
    let ran = run_with(&fx, backend, CancellationToken::new(), true).await;
    assert_eq!(ran.outcome.verdict, Verdict::Fail);
    // 4 containers, the network, node's 3 data volumes.
    assert_eq!(ran.leftovers(), 8);
    assert!(ran.calls("remove ").is_empty());
}

#[tokio::test(start_paused = true)]
async fn keep_still_removes_a_passing_trial() {
    let fx = cell(GET_HELLO);
    let ran = run_with(&fx, sleepy(), CancellationToken::new(), true).await;
    assert_eq!(ran.outcome.verdict, Verdict::Pass, "{:#?}", ran.outcome);
    assert_eq!(ran.leftovers(), 0);
}
