//! Replicas that exit where they should not: found by the crash check after every step, named in
//! the step's failure, kept as evidence.

use std::time::Duration;

use super::*;
use crate::outcome::Verdict;
use crate::runtime::scripted::{Boot, Reply, Script, Scripted};

/// node-1 is ready, then panics 1 s after it started.
fn node_1_panics_after_1s() -> Boot {
    Boot::logs("ready")
        .then_log(secs(1), "panic: runtime error: index out of range")
        .exits(secs(1), 2)
}

#[tokio::test(start_paused = true)]
async fn a_crash_during_a_failing_check_is_named_after_its_reason() {
    let fx = cell(&[START, &health_of(0)].concat());
    // node-0 answers 500 after 2 s; node-1 dies meanwhile.
    let script = Script::default()
        .on_start(booting("node-1", node_1_panics_after_1s()))
        .on_http(|_, _| after(2, Reply::Answer(500, "no quorum".into())));
    let ran = run(&fx, script).await;
    assert_eq!(ran.outcome.verdict, Verdict::Fail);
    assert_eq!(
        ran.message(2),
        "HTTP status 500 (expected 200): no quorum; \
         and node-1 exited unexpectedly with code 2; it logged: panic: runtime error: index out of range"
    );
    let crash = ran
        .step(2)
        .observations
        .iter()
        .find(|o| o.what == "node-1")
        .expect("the crash is observed");
    assert_eq!(crash.exit_code, Some(2));
    assert_eq!(
        ran.outcome.last_logs["node-1"],
        ["ready", "panic: runtime error: index out of range"]
    );
}

#[tokio::test(start_paused = true)]
async fn an_exit_that_fails_a_step_is_not_followed_by_the_crashes_it_set_off() {
    let fx = cell(START);
    // node-2 cannot open its data and exits before it is ready; node-1, ready at once, exits too.
    let script = Script::default().on_start(|v| match v.name.as_str() {
        "node-1" => Boot::logs("ready")
            .then_log(
                Duration::from_millis(200),
                "FATAL: lost contact with node-2",
            )
            .exits(Duration::from_millis(200), 3),
        "node-2" => Boot::logs("starting")
            .then_log(
                Duration::from_millis(300),
                "FATAL: cannot open /data/wal: permission denied",
            )
            .exits(Duration::from_millis(300), 1),
        _ => Boot::logs("ready"),
    });
    let ran = run(&fx, script).await;
    assert_eq!(ran.outcome.verdict, Verdict::Fail);
    assert_eq!(
        ran.message(1),
        "node-2 (sim/node:1.0) exited with code 1 before it was ready; \
         it logged: FATAL: cannot open /data/wal: permission denied"
    );
    // node-1's exit is evidence, not part of the reason.
    assert!(ran
        .step(1)
        .observations
        .iter()
        .any(|o| o.what == "node-1" && o.exit_code == Some(3)));
    assert_eq!(
        ran.outcome.last_logs["node-1"],
        ["ready", "FATAL: lost contact with node-2"]
    );
}

#[tokio::test(start_paused = true)]
async fn a_replica_killed_from_outside_fails_the_step_it_died_in() {
    let fx = cell(&[START, WAIT, GET].concat());
    let backend = Arc::new(Scripted::new(
        Script::default().on_exec(with_sleep(|_, _| Reply::Output(0, "hello".into()))),
    ));
    // The kernel's OOM killer takes node-2 4 s into the 10 s wait on node-0.
    let oom = backend.clone();
    tokio::spawn(async move {
        tokio::time::sleep(secs(4)).await;
        oom.crash("node-2", 137, "Killed");
    });
    let ran = run_on(&fx, backend).await;
    assert_eq!(ran.outcome.failed_step, Some(2));
    assert_eq!(
        ran.reason(),
        "step 2 (run node.wait on node-0): node-2 exited unexpectedly with code 137; it logged: Killed"
    );
    assert!(ran.calls("exec client-0").is_empty());
    assert_eq!(ran.leftovers(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_failure_with_a_crash_still_keeps_every_container_s_last_lines() {
    let fx = cell(START);
    let script = Script::default().on_start(|v| match v.name.as_str() {
        "node-1" => Boot::logs("ready").exits(Duration::from_millis(200), 3),
        "node-2" => Boot::logs("starting").exits(Duration::from_millis(300), 1),
        _ => Boot::logs("ready"),
    });
    let ran = run(&fx, script).await;
    assert_eq!(
        ran.outcome.last_logs.keys().collect::<Vec<_>>(),
        ["node-1", "node-0", "node-2"]
    );
}
