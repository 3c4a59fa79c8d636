//! Expected exits: a `run` whose action makes a replica exit on its own (`exits`), waited for and
//! checked, and not a crash afterwards.

use super::*;
use crate::outcome::Verdict;
use crate::runtime::scripted::{Effect, Reply, Script};

/// node-1 is told to shut down (expecting exit code 0); then node-0's health is checked.
fn shutdown_node_1() -> Fixture {
    let shutdown = "[[step]]\ndo = \"run\"\naction = \"node.shutdown\"\nreplica = 1\n\
                    exits = { role = \"node\", replica = 1, code = 0 }\n";
    cell(&[START, shutdown, &health_of(0)].concat())
}

/// A script where `shutdown` answers, then makes the process exit with `code` after logging `line`.
fn shutdown_exits_with(code: i64, line: &'static str) -> Script {
    Script::default().on_exec(move |_, argv| match argv[0].as_str() {
        "shutdown" => Reply::Then(
            Box::new(Reply::Output(0, "shutting down".into())),
            Effect::Exit(code, Some(line.into())),
        ),
        _ => Reply::Output(0, "ok".into()),
    })
}

#[tokio::test(start_paused = true)]
async fn an_expected_exit_with_its_code_passes_and_is_no_crash_later() {
    let fx = shutdown_node_1();
    let ran = run(&fx, shutdown_exits_with(0, "bye")).await;
    assert_eq!(ran.outcome.verdict, Verdict::Pass, "{:#?}", ran.outcome);
    assert_eq!(
        ran.step(2).description,
        "run node.shutdown on node-1; then node-1 exits with code 0"
    );
    let exit = &ran.step(2).observations[1];
    assert_eq!(
        (exit.what.as_str(), exit.exit_code),
        ("exit of node-1", Some(0))
    );
    assert_eq!(ran.step(3).status, StepStatus::Pass);
    assert_eq!(ran.leftovers(), 0);
}

#[tokio::test(start_paused = true)]
async fn an_expected_exit_with_another_code_fails_naming_both_codes_and_its_words() {
    let fx = shutdown_node_1();
    let script = shutdown_exits_with(1, "FATAL: unclean shutdown, 3 transactions lost");
    let ran = run(&fx, script).await;
    assert_eq!(ran.outcome.verdict, Verdict::Fail);
    assert_eq!(
        ran.message(2),
        "node-1 exited with code 1, expected 0; it logged: FATAL: unclean shutdown, 3 transactions lost"
    );
    assert_eq!(
        ran.statuses(),
        [StepStatus::Pass, StepStatus::Fail, StepStatus::Skipped]
    );
}

#[tokio::test(start_paused = true)]
async fn a_replica_that_never_exits_fails_the_step_after_30s() {
    let fx = shutdown_node_1();
    // `shutdown` answers, and the process goes on.
    let ran = run(&fx, Script::default()).await;
    assert_eq!(ran.outcome.verdict, Verdict::Fail);
    assert_eq!(
        ran.message(2),
        "node-1 did not exit within 30s of the step (the step expects it to exit)"
    );
    assert!(ran.step(2).duration_ms >= 30_000, "{:?}", ran.step(2));
}

#[tokio::test(start_paused = true)]
async fn an_expected_exit_of_a_replica_that_is_not_running_fails() {
    let shutdown = "[[step]]\ndo = \"run\"\naction = \"node.shutdown\"\nreplica = 0\n\
                    exits = { role = \"node\", replica = 1 }\n";
    let fx = cell(&[START, STOP_NODE_1, shutdown].concat());
    let ran = run(&fx, Script::default()).await;
    assert_eq!(
        ran.message(3),
        "node-1 was expected to exit, but it was not running"
    );
}
