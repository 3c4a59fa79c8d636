//! Checks: `eventually`, deadlines, what a failed check says, and the crash check after a step.

use std::time::Duration;

use super::*;
use crate::outcome::Verdict;
use crate::runtime::scripted::{Boot, Reply, Script};

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
async fn a_large_answer_is_checked_whole_and_kept_as_an_excerpt() {
    // NATS 2.10's /routez is 4.8 KB: the pointer is past the first 4 KiB.
    let fx = cell(&format!(
        "{START}[[step]]\ndo = \"check\"\naction = \"node.leader\"\nexpect = {{ pointer = \"/leader\", equals = \"node-0\" }}\n\
         [[step]]\ndo = \"check\"\naction = \"node.leader\"\nexpect = {{ contains = \"the end\" }}\n"
    ));
    let script = Script::default().on_http(|_, _| {
        let padding = "x".repeat(8_000);
        Reply::Answer(
            200,
            format!(r#"{{"padding":"{padding}","leader":"node-0","note":"the end"}}"#),
        )
    });
    let ran = run(&fx, script).await;
    assert_eq!(
        ran.outcome.verdict,
        Verdict::Pass,
        "{:#?}",
        ran.outcome.steps
    );
    let kept = &ran.step(3).observations[0].output;
    assert!(kept.len() < 4_200, "an excerpt: {} bytes", kept.len());
    assert!(
        kept.ends_with(r#""leader":"node-0","note":"the end"}"#),
        "its end is kept"
    );
    assert!(kept.contains("bytes cut"), "{kept}");
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

/// A step that checks node-0's health until it answers 200, for `within`.
fn healthy_within(within: &str) -> String {
    format!(
        "[[step]]\ndo = \"check\"\naction = \"node.health\"\neventually = \"{within}\"\n\
         expect = {{ status = 200 }}\n"
    )
}

#[tokio::test(start_paused = true)]
async fn a_step_without_a_timeout_is_given_its_eventually_and_its_action_timeouts() {
    let fx = cell(&[START, &healthy_within("40s")].concat());
    // Healthy after 35 s: within `eventually`, and within the derived deadline (40s + 2 × 2s + 10s).
    let script = Script::default().on_http(|v, _| {
        if v.uptime < secs(35) {
            Reply::Answer(503, "starting".into())
        } else {
            Reply::Answer(200, "{}".into())
        }
    });
    let ran = run(&fx, script).await;
    assert_eq!(ran.outcome.verdict, Verdict::Pass, "{:#?}", ran.outcome);
    assert!(ran.step(2).duration_ms >= 35_000, "{:?}", ran.step(2));
}

#[tokio::test(start_paused = true)]
async fn a_trial_that_outlives_its_deadline_fails_at_the_step_it_was_in() {
    let fx = cell_within("30s", &[START, &healthy_within("1m"), GET].concat());
    let script = Script::default().on_http(|_, _| Reply::Answer(503, "starting".into()));
    let ran = run(&fx, script).await;
    assert_eq!(ran.outcome.verdict, Verdict::Fail);
    assert_eq!(
        ran.reason(),
        "the trial did not finish within its deadline of 30s (at step 2)"
    );
    assert_eq!(ran.outcome.failed_step, Some(2));
    // The step that was cut has no outcome, and neither have the steps after it.
    assert_eq!(ran.statuses(), [StepStatus::Pass]);
    assert!(ran.calls("exec client-0").is_empty());
    assert_eq!(ran.outcome.duration_ms, 30_000);
    assert_eq!(ran.leftovers(), 0);
}

#[tokio::test(start_paused = true)]
async fn an_exec_that_hangs_past_its_action_timeout_fails_naming_the_command() {
    let fx = cell(&[START, GET].concat());
    let ran = run(&fx, Script::default().on_exec(|_, _| Reply::Hang)).await;
    assert_eq!(ran.outcome.verdict, Verdict::Fail);
    assert_eq!(ran.message(2), "`get greeting` did not finish within 5s");
    assert_eq!(ran.step(2).duration_ms, 5_000);
}

#[tokio::test(start_paused = true)]
async fn an_http_action_that_is_refused_fails_naming_the_request() {
    let fx = cell(&[START, &health_of(0)].concat());
    let script = Script::default().on_http(|_, _| Reply::Refused("connection refused".into()));
    let ran = run(&fx, script).await;
    assert_eq!(ran.outcome.verdict, Verdict::Fail);
    assert_eq!(
        ran.message(2),
        "GET http://10.0.0.3:8080/health: connection refused"
    );
}

#[tokio::test(start_paused = true)]
async fn an_http_action_that_never_answers_fails_at_its_action_timeout() {
    let fx = cell(&[START, &health_of(0)].concat());
    let ran = run(&fx, Script::default().on_http(|_, _| Reply::Hang)).await;
    assert_eq!(ran.outcome.verdict, Verdict::Fail);
    assert_eq!(
        ran.message(2),
        "GET http://10.0.0.3:8080/health: operation timed out"
    );
    assert_eq!(ran.step(2).duration_ms, 2_000);
}

#[tokio::test(start_paused = true)]
async fn a_check_on_a_stopped_replica_fails_saying_it_is_not_running() {
    let check_node_1 = health_of(1);
    let fx = cell(&[START, STOP_NODE_1, &check_node_1].concat());
    let ran = run(&fx, cluster_led_by("node-0")).await;
    assert_eq!(ran.outcome.verdict, Verdict::Fail);
    assert_eq!(ran.message(3), "node-1 is not running");
}

/// Starts, then checks that the client reads "hello", then writes and restarts a node.
const GET_HELLO_THEN_MORE: &str = r#"
[[step]]
do = "start"
[[step]]
do = "check"
action = "client.get"
expect = { contains = "hello" }
[[step]]
do = "run"
action = "client.put"
[[step]]
do = "restart"
role = "node"
replica = 0
"#;

#[tokio::test(start_paused = true)]
async fn a_failed_check_skips_the_steps_after_it_and_gives_the_trial_its_reason() {
    let fx = cell(GET_HELLO_THEN_MORE);
    let ran = run(
        &fx,
        Script::default().on_exec(|_, _| Reply::Output(0, "hi".into())),
    )
    .await;
    assert_eq!(ran.outcome.verdict, Verdict::Fail);
    assert_eq!(
        ran.statuses(),
        [
            StepStatus::Pass,
            StepStatus::Fail,
            StepStatus::Skipped,
            StepStatus::Skipped
        ]
    );
    assert_eq!(
        ran.reason(),
        r#"step 2 (check client.get on client-0: contains "hello"): output does not contain "hello": hi"#
    );
    assert_eq!(ran.calls("exec "), ["exec client-0 get greeting"]);
    assert_eq!(
        ran.calls("start node-0").len(),
        1,
        "the restart did not run"
    );
}

#[tokio::test(start_paused = true)]
async fn a_failed_trial_keeps_the_last_25_lines_of_every_container() {
    let fx = cell(GET_HELLO_THEN_MORE);
    let chatty = (0..30).fold(Boot::logs("ready"), |b, i| {
        b.then_log(Duration::ZERO, &format!("line {i}"))
    });
    let script = Script::default()
        .on_start(booting("node-0", chatty))
        .on_exec(|_, _| Reply::Output(0, "hi".into()));
    let ran = run(&fx, script).await;
    let logs = &ran.outcome.last_logs;
    assert_eq!(
        logs.keys().collect::<Vec<_>>(),
        ["node-0", "node-1", "node-2", "client-0"]
    );
    assert_eq!(logs["node-0"].len(), 25);
    assert_eq!(logs["node-0"][0], "line 5");
    assert_eq!(logs["node-0"][24], "line 29");
    assert_eq!(logs["client-0"], ["ready"]);
}

#[tokio::test(start_paused = true)]
async fn a_long_output_is_cut_in_the_observation_saying_how_much() {
    let fx = cell(&[START, GET].concat());
    let ran = run(
        &fx,
        Script::default().on_exec(|_, _| Reply::Output(0, "x".repeat(5_000))),
    )
    .await;
    assert_eq!(ran.outcome.verdict, Verdict::Pass, "{:#?}", ran.outcome);
    let output = &ran.step(2).observations[0].output;
    // Its first KiB and its last three, around what was cut.
    assert_eq!(
        *output,
        format!(
            "{}\n… (904 bytes cut) …\n{}",
            "x".repeat(1024),
            "x".repeat(3072)
        )
    );
}

#[tokio::test(start_paused = true)]
async fn a_log_check_waits_for_a_line_and_quotes_one_it_must_not_see() {
    let fx = cell(&format!(
        "{START}[[step]]\ndo = \"log\"\nrole = \"node\"\nreplica = 1\ncontains = \"joined the cluster\"\neventually = \"10s\"\n\
         [[step]]\ndo = \"log\"\nrole = \"node\"\nnot_contains = \"append entry corrupt\"\n"
    ));
    let script = Script::default().on_start(|v| {
        let boot = Boot::logs("ready").then_log(secs(3), "node joined the cluster");
        if v.name == "node-2" {
            boot.then_log(secs(1), "[ERR] raft: append entry corrupt")
        } else {
            boot
        }
    });
    let ran = run(&fx, script).await;
    assert_eq!(
        ran.outcome.verdict,
        Verdict::Fail,
        "{:#?}",
        ran.outcome.steps
    );
    assert_eq!(ran.step(2).targets, ["node-1"]);
    assert_eq!(
        ran.step(2).observations[0].output,
        "node joined the cluster"
    );
    assert!(ran.step(2).duration_ms >= 2_500, "it waited for the line");
    assert_eq!(ran.outcome.failed_step, Some(3));
    assert_eq!(
        ran.step(3).message.as_deref(),
        Some(r#"node-2 logged "[ERR] raft: append entry corrupt""#)
    );
    assert_eq!(
        ran.step(3).description,
        r#"check the log of every node replica: not "append entry corrupt""#
    );
}

#[tokio::test(start_paused = true)]
async fn a_failed_step_keeps_what_the_replicas_complained_of_during_it() {
    let fx = cell(&format!(
        "{START}[[step]]\ndo = \"check\"\naction = \"node.health\"\nreplica = 0\neventually = \"5s\"\nexpect = {{ status = 200 }}\n"
    ));
    let script = Script::default()
        .on_start(|v| {
            // A warning before the step (not quoted), a complaint during it (quoted).
            let boot = Boot::logs("[WRN] slow start").then_log(Duration::ZERO, "ready");
            if v.name == "node-2" {
                boot.then_log(secs(2), "[ERR] raft: append entry corrupt")
            } else {
                boot
            }
        })
        .on_http(|_, _| Reply::Answer(503, "unavailable".into()));
    let ran = run(&fx, script).await;
    assert_eq!(ran.outcome.verdict, Verdict::Fail);
    let said: Vec<(&str, &str)> = ran
        .step(2)
        .observations
        .iter()
        .filter(|o| o.what.ends_with(crate::run::DURING_STEP))
        .map(|o| (o.what.as_str(), o.output.as_str()))
        .collect();
    assert_eq!(
        said,
        [(
            "node-2 logged during the step",
            "[ERR] raft: append entry corrupt"
        )]
    );
    // The reason, held against a baseline, is the probe's alone.
    assert!(!ran.outcome.reason.as_deref().unwrap().contains("raft"));
}
