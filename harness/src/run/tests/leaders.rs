//! Finding a role's leader: steps on "the leader", an election under way, a leader never found, a
//! leader action that names no replica, and moving replicas around the leader.

use super::*;
use crate::outcome::Verdict;
use crate::runtime::scripted::{Effect, Reply, Script};

/// A step that restarts the node leader.
const RESTART_THE_LEADER: &str =
    "[[step]]\ndo = \"restart\"\nrole = \"node\"\nreplica = \"leader\"\n";

/// Starts, then restarts the node leader.
fn restart_leader() -> Fixture {
    cell(&[START, RESTART_THE_LEADER].concat())
}

/// Nodes that know no leader for their first `for_secs` seconds, then name `leader`.
fn elected_after(for_secs: u64, leader: &'static str) -> Script {
    Script::default().on_http(move |v, call| match call.path.as_str() {
        "/leader" if v.uptime < secs(for_secs) => Reply::Answer(503, r#"{"leader":null}"#.into()),
        "/leader" => Reply::Answer(200, format!(r#"{{"leader":"{leader}"}}"#)),
        _ => Reply::Answer(200, "{}".into()),
    })
}

/// Nodes whose leader action always answers `body`.
fn leader_answers(status: u16, body: &'static str) -> Script {
    Script::default().on_http(move |_, _| Reply::Answer(status, body.into()))
}

#[tokio::test(start_paused = true)]
async fn restarting_the_leader_restarts_the_replica_that_leads() {
    let fx = restart_leader();
    let ran = run(&fx, cluster_led_by("node-2")).await;
    assert_eq!(ran.outcome.verdict, Verdict::Pass, "{:#?}", ran.outcome);
    assert_eq!(ran.step(2).targets, ["node-2"]);
    assert_eq!(
        ran.calls("start node-2"),
        ["start node-2 sim/node:1.0", "start node-2 sim/node:1.0"]
    );
    assert_eq!(ran.calls("start node-0").len(), 1);
    assert_eq!(ran.calls("stop "), ["stop c0003"]);
    assert_eq!(
        ran.step(2).observations[0].note.as_deref(),
        Some("restarted node-2")
    );
}

#[tokio::test(start_paused = true)]
async fn a_leader_elected_after_a_while_is_waited_for() {
    let fx = restart_leader();
    let ran = run(&fx, elected_after(4, "node-1")).await;
    assert_eq!(ran.outcome.verdict, Verdict::Pass, "{:#?}", ran.outcome);
    assert_eq!(ran.step(2).targets, ["node-1"]);
    let took = ran.step(2).duration_ms;
    assert!((4_000..5_000).contains(&took), "{took} ms");
}

#[tokio::test(start_paused = true)]
async fn a_leader_never_found_fails_after_15s_with_the_last_answer() {
    let fx = restart_leader();
    let ran = run(&fx, leader_answers(503, r#"{"leader":null}"#)).await;
    assert_eq!(ran.outcome.verdict, Verdict::Fail);
    assert_eq!(
        ran.message(2),
        "not true within 15s: could not learn the node leader from node-2"
    );
    let asked = &ran.step(2).observations[0];
    assert_eq!(
        (asked.what.as_str(), asked.http_status),
        ("node.leader on node-2", Some(503))
    );
    assert!(ran.step(2).duration_ms >= 15_000);
    assert_eq!(ran.calls("stop ").len(), 0, "nothing was restarted");
}

#[tokio::test(start_paused = true)]
async fn a_leader_action_naming_no_replica_fails_saying_so() {
    let fx = restart_leader();
    let ran = run(&fx, leader_answers(200, r#"{"leader":"node-7"}"#)).await;
    assert_eq!(
        ran.message(2),
        r#"not true within 15s: the node leader action on node-2 answered "node-7", which is no node replica"#
    );
}

#[tokio::test(start_paused = true)]
async fn asking_for_the_leader_with_every_replica_stopped_fails() {
    let stop_all = "[[step]]\ndo = \"stop\"\nrole = \"node\"\n";
    let fx = cell(&[START, stop_all, RESTART_THE_LEADER].concat());
    let ran = run(&fx, cluster_led_by("node-0")).await;
    assert_eq!(ran.step(2).targets, ["node-0", "node-1", "node-2"]);
    assert_eq!(
        ran.message(3),
        "not true within 15s: no node replica is running to ask for the leader"
    );
}

/// Checks node health on the leader.
const CHECK_ON_THE_LEADER: &str = r#"
[[step]]
do = "start"
[[step]]
do = "check"
action = "node.health"
replica = "leader"
expect = { status = 200 }
"#;

#[tokio::test(start_paused = true)]
async fn a_check_on_the_leader_waits_out_an_election() {
    let fx = cell(CHECK_ON_THE_LEADER);
    let ran = run(&fx, elected_after(8, "node-1")).await;
    assert_eq!(ran.outcome.verdict, Verdict::Pass, "{:#?}", ran.outcome);
    assert_eq!(ran.step(2).targets, ["node-1"]);
}

#[tokio::test(start_paused = true)]
async fn the_derived_deadline_cuts_a_check_whose_leader_lookup_hangs() {
    let fx = cell(CHECK_ON_THE_LEADER);
    // Every leader question takes its whole 10 s timeout; the step is given 2 × 2s + 10s.
    let script = Script::default().on_http(|_, call| match call.path.as_str() {
        "/leader" => Reply::Hang,
        _ => Reply::Answer(200, "{}".into()),
    });
    let ran = run(&fx, script).await;
    assert_eq!(ran.outcome.verdict, Verdict::Fail);
    assert_eq!(
        ran.message(2),
        "step 2 (check node.health on the node leader: status 200) did not finish within its deadline of 29s"
    );
    assert_eq!(ran.step(2).duration_ms, 29_000);
}

#[tokio::test(start_paused = true)]
async fn a_check_on_a_leader_never_found_fails_with_the_last_answer() {
    let fx = cell(CHECK_ON_THE_LEADER);
    let ran = run(&fx, leader_answers(503, r#"{"leader":null}"#)).await;
    assert_eq!(
        ran.message(2),
        "not true within 15s: could not learn the node leader from node-2"
    );
}

#[tokio::test(start_paused = true)]
async fn a_signal_to_the_leader_reaches_the_replica_that_leads() {
    let fx = cell(
        "[[step]]\ndo = \"start\"\n[[step]]\ndo = \"signal\"\nrole = \"node\"\nreplica = \"leader\"\nsignal = \"SIGUSR2\"\n",
    );
    let script = cluster_led_by("node-1").on_signal(|_, _| Effect::Log("lame duck mode".into()));
    let ran = run(&fx, script).await;
    assert_eq!(ran.outcome.verdict, Verdict::Pass, "{:#?}", ran.outcome);
    assert_eq!(ran.calls("signal "), ["signal node-1 SIGUSR2"]);
}

#[tokio::test(start_paused = true)]
async fn leader_first_moves_the_leader_then_the_others_by_index() {
    let fx = path(
        "[[step]]\ndo = \"start\"\n[[step]]\ndo = \"upgrade\"\nrole = \"node\"\norder = \"leader-first\"\n",
    );
    let ran = run(&fx, cluster_led_by("node-1")).await;
    assert_eq!(ran.outcome.verdict, Verdict::Pass, "{:#?}", ran.outcome);
    let moved: Vec<&str> = [2, 3, 4]
        .iter()
        .map(|n| ran.step(*n).targets[0].as_str())
        .collect();
    assert_eq!(moved, ["node-1", "node-0", "node-2"]);
}
