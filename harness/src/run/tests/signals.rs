//! `signal` steps: what reaches the replicas, a signal handled, a signal died of, an expected exit,
//! and a replica that is not there to receive it.

use super::*;
use crate::outcome::Verdict;
use crate::runtime::scripted::{Effect, Script};

/// A step that sends `signal` to node-1, with `exits` (TOML), if given.
fn signal_to_node_1(signal: &str, exits: &str) -> String {
    format!(
        "[[step]]\ndo = \"signal\"\nrole = \"node\"\nreplica = 1\nsignal = \"{signal}\"\n{exits}\n"
    )
}

/// Sends `signal` (with `exits`, if given) to node-1, then checks node-0's health.
fn signal_node_1(signal: &str, exits: &str) -> Fixture {
    cell(&[START, &signal_to_node_1(signal, exits), &health_of(0)].concat())
}

#[tokio::test(start_paused = true)]
async fn a_handled_sighup_passes_and_reaches_the_replica() {
    let fx = signal_node_1("SIGHUP", "");
    let script = Script::default().on_signal(|_, sig| match sig {
        "SIGHUP" => Effect::Log("reloading configuration".into()),
        _ => Effect::Ignore,
    });
    let ran = run(&fx, script).await;
    assert_eq!(ran.outcome.verdict, Verdict::Pass, "{:#?}", ran.outcome);
    assert_eq!(ran.calls("signal "), ["signal node-1 SIGHUP"]);
    assert_eq!(ran.step(2).description, "send SIGHUP to node-1");
    assert_eq!(ran.step(2).targets, ["node-1"]);
    assert_eq!(
        ran.step(2).observations[0].note.as_deref(),
        Some("sent SIGHUP to node-1")
    );
}

#[tokio::test(start_paused = true)]
async fn a_signal_the_process_dies_of_fails_as_a_crash() {
    let fx = signal_node_1("hup", "");
    // SIGHUP's default action: the process ends with 128 + 1.
    let ran = run(&fx, Script::default()).await;
    assert_eq!(ran.outcome.verdict, Verdict::Fail);
    assert_eq!(
        ran.message(2),
        "node-1 exited unexpectedly with code 129; it logged: ready"
    );
    assert_eq!(ran.outcome.failed_step, Some(2));
}

#[tokio::test(start_paused = true)]
async fn an_expected_exit_on_a_signal_passes_and_names_the_signalled_replica() {
    let fx = signal_node_1("SIGTERM", "exits = { code = 0 }");
    let script = Script::default()
        .on_signal(|_, _| Effect::Exit(0, Some("graceful shutdown complete".into())));
    let ran = run(&fx, script).await;
    assert_eq!(ran.outcome.verdict, Verdict::Pass, "{:#?}", ran.outcome);
    assert_eq!(
        ran.step(2).description,
        "send SIGTERM to node-1; then node-1 exits with code 0"
    );
    let exit = &ran.step(2).observations[1];
    assert_eq!(
        (exit.what.as_str(), exit.exit_code),
        ("exit of node-1", Some(0))
    );
    assert!(exit.output.contains("graceful shutdown complete"));
}

#[tokio::test(start_paused = true)]
async fn a_signal_to_a_stopped_replica_fails_without_reaching_the_engine() {
    let fx = cell(&[START, STOP_NODE_1, &signal_to_node_1("SIGHUP", "")].concat());
    let ran = run(&fx, Script::default()).await;
    assert_eq!(ran.outcome.verdict, Verdict::Fail);
    assert_eq!(
        ran.message(3),
        "cannot send SIGHUP to node-1: it is not running"
    );
    assert!(ran.calls("signal ").is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_signal_to_a_role_reaches_every_replica_in_order() {
    let fx = cell(
        "[[step]]\ndo = \"start\"\n[[step]]\ndo = \"signal\"\nrole = \"node\"\nsignal = \"SIGUSR1\"\n",
    );
    let ran = run(&fx, Script::default().on_signal(|_, _| Effect::Ignore)).await;
    assert_eq!(ran.outcome.verdict, Verdict::Pass, "{:#?}", ran.outcome);
    assert_eq!(
        ran.calls("signal "),
        [
            "signal node-0 SIGUSR1",
            "signal node-1 SIGUSR1",
            "signal node-2 SIGUSR1"
        ]
    );
    assert_eq!(ran.step(2).targets, ["node-0", "node-1", "node-2"]);
}
