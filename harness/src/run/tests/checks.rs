//! Checks: `eventually`, deadlines, what a failed check says, and the crash check after a step.

use std::time::Duration;

use super::*;
use crate::outcome::Verdict;
use crate::runtime::scripted::{Boot, Reply, Script};

const START: &str = "[[step]]\ndo = \"start\"\n";

#[tokio::test(start_paused = true)]
async fn a_passing_check_passes_and_names_the_replica_it_asked() {
    let fx = cell(&format!(
        "{START}[[step]]\ndo = \"check\"\naction = \"node.leader\"\nreplica = 2\nexpect = {{ pointer = \"/leader\", equals = \"node-0\" }}\n"
    ));
    let ran = run(&fx, cluster_led_by("node-0")).await;
    assert_eq!(ran.outcome.verdict, Verdict::Pass, "{:#?}", ran.outcome);
    assert_eq!(ran.step(2).targets, ["node-2"]);
    assert_eq!(ran.leftovers(), 0, "torn down");
}

#[tokio::test(start_paused = true)]
async fn eventually_retries_until_the_condition_holds() {
    let fx = cell(&format!(
        "{START}[[step]]\ndo = \"check\"\naction = \"node.leader\"\neventually = \"10s\"\nexpect = {{ pointer = \"/leader\", equals = \"node-1\" }}\n"
    ));
    // No leader for the first 3 s of a node's life, then node-1.
    let script = Script::default().on_http(|v, _| {
        if v.uptime < Duration::from_secs(3) {
            Reply::Answer(503, r#"{"leader":null}"#.into())
        } else {
            Reply::Answer(200, r#"{"leader":"node-1"}"#.into())
        }
    });
    let ran = run(&fx, script).await;
    assert_eq!(ran.outcome.verdict, Verdict::Pass, "{:#?}", ran.outcome);
    assert!(ran.step(2).duration_ms >= 2_500, "{:?}", ran.step(2));
}

#[tokio::test(start_paused = true)]
async fn eventually_fails_with_the_last_observation_and_how_long_it_was_given() {
    let fx = cell(&format!(
        "{START}[[step]]\ndo = \"check\"\naction = \"node.leader\"\neventually = \"2s\"\nexpect = {{ pointer = \"/leader\", equals = \"node-1\" }}\n"
    ));
    let ran = run(&fx, cluster_led_by("node-2")).await;
    assert_eq!(ran.outcome.verdict, Verdict::Fail);
    assert_eq!(
        ran.step(2).message.as_deref(),
        Some(r#"not true within 2s: /leader is "node-2" (expected "node-1")"#)
    );
    assert_eq!(ran.outcome.failed_step, Some(2));
}

#[tokio::test(start_paused = true)]
async fn a_step_that_outlives_its_deadline_fails_naming_it() {
    let fx = cell(&format!(
        "{START}[[step]]\ndo = \"run\"\naction = \"client.get\"\ntimeout = \"1s\"\n"
    ));
    // The client answers after 3 s: within its action timeout (5 s), not within the step's 1 s.
    let script = Script::default().on_exec(|_, _| {
        Reply::After(
            Duration::from_secs(3),
            Box::new(Reply::Output(0, "hi".into())),
        )
    });
    let ran = run(&fx, script).await;
    assert_eq!(ran.outcome.verdict, Verdict::Fail);
    assert_eq!(
        ran.step(2).message.as_deref(),
        Some("step 2 (run client.get on client-0) did not finish within its deadline of 1s")
    );
}

#[tokio::test(start_paused = true)]
async fn a_component_that_dies_during_a_passing_step_fails_it_in_its_own_words() {
    let fx = cell(&format!(
        "{START}[[step]]\ndo = \"run\"\naction = \"client.get\"\n[[step]]\ndo = \"check\"\naction = \"node.health\"\nexpect = {{ status = 200 }}\n"
    ));
    // node-1 panics 1 s after it starts; the get takes 2 s, so the crash happens during step 2.
    let script = Script::default()
        .on_start(|v| {
            let boot = Boot::logs("ready");
            if v.name == "node-1" {
                boot.then_log(
                    Duration::from_secs(1),
                    "panic: runtime error: index out of range",
                )
                .then_log(Duration::from_secs(1), "goroutine 1 [running]:")
                .exits(Duration::from_secs(1), 2)
            } else {
                boot
            }
        })
        .on_exec(|_, _| {
            Reply::After(
                Duration::from_secs(2),
                Box::new(Reply::Output(0, "hello".into())),
            )
        });
    let ran = run(&fx, script).await;
    assert_eq!(ran.outcome.verdict, Verdict::Fail);
    assert_eq!(ran.outcome.failed_step, Some(2));
    assert_eq!(
        ran.step(2).message.as_deref(),
        Some("node-1 exited unexpectedly with code 2; it logged: panic: runtime error: index out of range")
    );
    assert_eq!(
        ran.statuses(),
        [StepStatus::Pass, StepStatus::Fail, StepStatus::Skipped]
    );
    assert!(ran.outcome.last_logs.contains_key("node-1"));
}
