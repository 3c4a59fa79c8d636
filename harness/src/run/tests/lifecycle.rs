//! A trial's life: start, moves along a path, teardown, and what is left behind.

use std::time::Duration;

use super::*;
use crate::outcome::Verdict;
use crate::runtime::scripted::{Boot, Script};

#[tokio::test(start_paused = true)]
async fn a_path_moves_every_replica_leader_last_and_checks_each_state() {
    let fx = path(
        "[[step]]\ndo = \"start\"\n[[step]]\ndo = \"upgrade\"\nrole = \"node\"\norder = \"leader-last\"\n\
         [[each_state]]\ndo = \"check\"\naction = \"node.health\"\nexpect = { status = 200 }\n",
    );
    let ran = run(&fx, cluster_led_by("node-0")).await;
    assert_eq!(ran.outcome.verdict, Verdict::Pass, "{:#?}", ran.outcome);
    // start, then (move, check) × 3.
    assert_eq!(ran.outcome.steps.len(), 7);
    let moved: Vec<&str> = [2, 4, 6]
        .iter()
        .map(|n| ran.step(*n).targets[0].as_str())
        .collect();
    assert_eq!(
        moved,
        ["node-1", "node-2", "node-0"],
        "the leader moves last"
    );
    let last = &ran.step(7).releases;
    assert!(
        ["node-0", "node-1", "node-2"]
            .iter()
            .all(|n| last[*n] == "2.0"),
        "{last:?}"
    );
    let starts: Vec<String> = ran
        .backend
        .calls()
        .into_iter()
        .filter(|c| c.starts_with("start node-"))
        .collect();
    assert_eq!(
        starts,
        [
            "start node-0 sim/node:1.0",
            "start node-1 sim/node:1.0",
            "start node-2 sim/node:1.0",
            "start node-1 sim/node:2.0",
            "start node-2 sim/node:2.0",
            "start node-0 sim/node:2.0",
        ]
    );
    assert_eq!(ran.leftovers(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_replica_that_exits_before_it_is_ready_fails_the_start_with_its_words() {
    let fx = cell("[[step]]\ndo = \"start\"\n");
    let script = Script::default().on_start(|v| {
        if v.name == "node-2" {
            Boot::logs("starting")
                .then_log(
                    Duration::from_millis(300),
                    "FATAL: cannot open /data/wal: permission denied",
                )
                .exits(Duration::from_millis(300), 1)
        } else {
            Boot::logs("ready")
        }
    });
    let ran = run(&fx, script).await;
    assert_eq!(ran.outcome.verdict, Verdict::Fail);
    assert_eq!(
        ran.step(1).message.as_deref(),
        Some("node-2 (sim/node:1.0) exited with code 1 before it was ready; it logged: FATAL: cannot open /data/wal: permission denied")
    );
    assert_eq!(ran.leftovers(), 0, "a failed trial is torn down too");
}

#[tokio::test(start_paused = true)]
async fn the_events_tell_the_trial_step_by_step() {
    let fx = cell("[[step]]\ndo = \"start\"\n[[step]]\ndo = \"run\"\naction = \"client.get\"\n");
    let ran = run(&fx, Script::default()).await;
    let kinds: Vec<String> = ran
        .events
        .iter()
        .map(|e| match e {
            Event::RunStarted { .. } => "run".to_string(),
            Event::TrialStarted { .. } => "trial".into(),
            Event::StepStarted { number, of, .. } => format!("step {number}/{of}"),
            Event::StepFinished { outcome, .. } => {
                format!("done {} {:?}", outcome.number, outcome.status)
            }
            Event::TrialFinished { outcome } => format!("finished {}", outcome.verdict),
            Event::Cancelling => "cancelling".into(),
            Event::CleanupFailed { .. } => "cleanup failed".into(),
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "trial",
            "step 1/2",
            "done 1 Pass",
            "step 2/2",
            "done 2 Pass",
            "finished pass"
        ]
    );
}
