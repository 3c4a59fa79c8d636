//! The engine's failures are `error`, never `fail`, and leave nothing behind.

use super::workloads::{workload, STOP_W};
use super::*;
use crate::outcome::Verdict;
use crate::runtime::scripted::{Fault, Script, Scripted};

/// Runs the fixture's trial (default script) on a backend where `fault` fails from the start.
async fn run_failing(fx: &Fixture, fault: Fault) -> Ran {
    let backend = Arc::new(Scripted::new(Script::default().on_exec(with_sleep(
        |_, _| crate::runtime::scripted::Reply::Output(0, "hello".into()),
    ))));
    backend.fail(fault);
    run_on(fx, backend).await
}

const NETWORK: &str = "cg-20261202-000000-test-t0";

#[tokio::test(start_paused = true)]
async fn a_refused_network_is_an_error_and_nothing_starts() {
    let fx = cell(START);
    let ran = run_failing(&fx, Fault::CreateNetwork).await;
    assert_eq!(ran.outcome.verdict, Verdict::Error);
    assert_eq!(
        ran.reason(),
        format!("Docker engine: creating network {NETWORK}: scripted: the engine refuses")
    );
    assert!(ran.outcome.steps.is_empty());
    assert!(ran.calls("start ").is_empty());
    assert_eq!(ran.leftovers(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_refused_container_start_is_an_error_and_leaves_nothing() {
    let fx = cell(&[START, GET].concat());
    let ran = run_failing(&fx, Fault::Start("node-1".into())).await;
    assert_eq!(ran.outcome.verdict, Verdict::Error);
    assert_eq!(
        ran.message(1),
        format!(
            "Docker engine: creating container {NETWORK}-node-1-1 from sim/node:1.0: \
             scripted: the engine refuses"
        )
    );
    assert_eq!(ran.statuses(), [StepStatus::Error, StepStatus::Skipped]);
    assert_eq!(ran.leftovers(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_refused_container_listing_in_the_crash_check_is_an_error() {
    let fx = cell(START);
    let ran = run_failing(&fx, Fault::ListContainers).await;
    assert_eq!(ran.outcome.verdict, Verdict::Error);
    assert_eq!(
        ran.message(1),
        format!(
            "Docker engine: listing containers labelled crossgrade.run={RUN_ID}&crossgrade.trial={}: \
             scripted: the engine refuses",
            fx.trial().id
        )
    );
    // Teardown cannot list the trial's strays either: the trial's guard sweeps by label.
    assert_eq!(ran.leftovers(), 0);
}

#[tokio::test(start_paused = true)]
async fn an_exec_refused_by_the_engine_is_an_error_not_a_fail() {
    let fx = cell(&[START, GET].concat());
    let ran = run_failing(&fx, Fault::Exec("client".into())).await;
    assert_eq!(ran.outcome.verdict, Verdict::Error);
    assert_eq!(
        ran.message(2),
        "Docker engine: starting exec `get greeting`: scripted: the engine refuses"
    );
    assert_eq!(ran.leftovers(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_teardown_the_engine_refuses_turns_a_pass_into_an_error() {
    let fx = cell(START);
    let ran = run_failing(&fx, Fault::RemoveNetwork).await;
    assert_eq!(ran.outcome.verdict, Verdict::Error);
    assert_eq!(
        ran.reason(),
        format!("teardown failed: removing network {NETWORK}: scripted: the engine refuses")
    );
    assert_eq!(ran.statuses(), [StepStatus::Pass]);
    assert_eq!(ran.leftovers(), 0, "the trial's guard swept");
}

#[tokio::test(start_paused = true)]
async fn an_engine_error_in_a_workload_is_an_error_not_a_fail() {
    let fx = workload("min_success = 0.9", STOP_W);
    let ran = run_failing(&fx, Fault::Exec("client".into())).await;
    assert_eq!(ran.outcome.verdict, Verdict::Error, "{}", ran.reason());
    assert_eq!(ran.step(4).status, StepStatus::Error);
}

#[tokio::test(start_paused = true)]
async fn an_engine_error_in_a_readiness_probe_is_an_error_not_a_fail() {
    let system = SYSTEM.replace(
        "[roles.client]\nimage = \"sim/client:{release}\"\nready = { log = \"ready\", timeout = \"10s\" }",
        "[roles.client]\nimage = \"sim/client:{release}\"\nready = { exec = [\"probe\"], timeout = \"5s\" }",
    );
    let fx = Fixture::new(&system, ONE_CELL, &format!("kind = \"cell\"\n{START}"));
    let ran = run_failing(&fx, Fault::Exec("client".into())).await;
    assert_eq!(ran.outcome.verdict, Verdict::Error, "{}", ran.reason());
}
