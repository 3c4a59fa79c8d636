//! Background workloads: judged by `min_success` and `max_unavailable` when a `stop-workload` step
//! stops them or, still running, when the trial ends; `expect` on their answers.
//!
//! Each workload here reads every 750 ms while node-0 runs a 10 s command: 14 attempts, at 0 s,
//! 0.75 s, … 9.75 s. The client answers "error: no quorum" (exit 1) from 2 s to 6 s after it
//! started: 5 failures, from 2.25 s to 6 s (3750 ms).

use super::*;
use crate::outcome::Verdict;
use crate::runtime::scripted::{Reply, Script};

/// The trial's steps: start, the workload with `bounds` (TOML keys), 10 s of waiting, and `end`.
pub(super) fn workload(bounds: &str, end: &str) -> Fixture {
    cell(&format!(
        r#"
[[step]]
do = "start"
[[step]]
do = "workload"
name = "w"
action = "client.get"
every = "750ms"
{bounds}
{WAIT}{end}"#
    ))
}

pub(super) const STOP_W: &str = "[[step]]\ndo = \"stop-workload\"\nname = \"w\"\n";

/// The client answers `during` from 2 s to 6 s of its life, and "hello" otherwise.
fn outage(during: Reply) -> Script {
    Script::default().on_exec(with_sleep(move |v, _| {
        if (secs(2)..secs(6)).contains(&v.uptime) {
            during.clone()
        } else {
            Reply::Output(0, "hello".into())
        }
    }))
}

fn no_quorum() -> Script {
    outage(Reply::Output(1, "error: no quorum".into()))
}

const NO_QUORUM_REPORT: &str = "workload w (client.get) saw 64.3% success (9/14) and 3750 ms of \
                                unavailability; last error: exit 1: error: no quorum";

#[tokio::test(start_paused = true)]
async fn a_workload_below_its_min_success_fails_the_step_that_stops_it() {
    let fx = workload("min_success = 0.9", STOP_W);
    let ran = run(&fx, no_quorum()).await;
    assert_eq!(ran.outcome.verdict, Verdict::Fail);
    assert_eq!(ran.outcome.failed_step, Some(4));
    assert_eq!(ran.message(4), NO_QUORUM_REPORT);
    assert_eq!(
        ran.reason(),
        format!("step 4 (stop workload w and judge it): {NO_QUORUM_REPORT}")
    );
}

#[tokio::test(start_paused = true)]
async fn a_workload_unavailable_longer_than_allowed_fails_despite_enough_success() {
    let fx = workload("min_success = 0.5\nmax_unavailable = \"3s\"", STOP_W);
    let ran = run(&fx, no_quorum()).await;
    assert_eq!(ran.outcome.verdict, Verdict::Fail);
    assert_eq!(ran.message(4), NO_QUORUM_REPORT);
}

#[tokio::test(start_paused = true)]
async fn a_workload_within_its_bounds_passes_and_is_reported() {
    let fx = workload("min_success = 0.5\nmax_unavailable = \"4s\"", STOP_W);
    let ran = run(&fx, no_quorum()).await;
    assert_eq!(ran.outcome.verdict, Verdict::Pass, "{:#?}", ran.outcome);
    let w = &ran.outcome.workloads[0];
    assert_eq!(
        (w.attempts, w.successes, w.longest_unavailable_ms, w.passed),
        (14, 9, 3750, true)
    );
    assert_eq!(w.last_error.as_deref(), Some("exit 1: error: no quorum"));
}

#[tokio::test(start_paused = true)]
async fn a_workload_still_running_at_the_end_is_judged_then() {
    let fx = workload("min_success = 0.9", "");
    let ran = run(&fx, no_quorum()).await;
    assert_eq!(ran.outcome.verdict, Verdict::Fail);
    assert_eq!(ran.reason(), NO_QUORUM_REPORT);
    assert_eq!(ran.statuses(), [StepStatus::Pass; 3]);
    assert_eq!(ran.outcome.failed_step, None);
    assert_eq!(ran.outcome.workloads.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_workload_counts_answers_its_expect_refuses_as_failures() {
    let fx = workload(
        "min_success = 0.9\nexpect = { contains = \"hello\" }",
        STOP_W,
    );
    // The client answers, successfully, something else for a while.
    let ran = run(&fx, outage(Reply::Output(0, "hi".into()))).await;
    assert_eq!(ran.outcome.verdict, Verdict::Fail);
    assert_eq!(
        ran.message(4),
        "workload w (client.get) saw 64.3% success (9/14) and 3750 ms of unavailability; \
         last error: output does not contain \"hello\": hi"
    );
}
