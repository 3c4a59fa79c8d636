//! A trial's life: start, moves along a path, teardown, and what is left behind.

use std::time::Duration;

use super::*;
use crate::outcome::Verdict;
use crate::runtime::scripted::{Boot, Reply, Script};

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
    let fx = cell(&[START, GET].concat());
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

/// Nodes that answer `/leader` with node-0 and the release they run.
fn telling_their_release() -> Script {
    Script::default().on_http(|v, _| {
        Reply::Answer(
            200,
            format!(r#"{{"leader":"node-0","release":"{}"}}"#, v.release),
        )
    })
}

#[tokio::test(start_paused = true)]
async fn each_state_checks_run_only_in_the_states_their_when_holds() {
    let fx = path(
        r#"
[[step]]
do = "start"
[[step]]
do = "upgrade"
role = "node"
[[each_state]]
do = "check"
action = "node.health"
expect = { status = 200 }
[[each_state]]
do = "check"
action = "node.leader"
when = "node >= 2.0"
expect = { pointer = "/release", equals = "2.0" }
"#,
    );
    let ran = run(&fx, telling_their_release()).await;
    assert_eq!(ran.outcome.verdict, Verdict::Pass, "{:#?}", ran.outcome);
    let described: Vec<&str> = ran
        .outcome
        .steps
        .iter()
        .map(|s| s.description.as_str())
        .collect();
    assert_eq!(
        described,
        [
            "start all roles",
            "move node replica 1/3 to 2.0",
            "check node.health on node-0: status 200",
            "move node replica 2/3 to 2.0",
            "check node.health on node-0: status 200",
            "move node replica 3/3 to 2.0",
            "check node.health on node-0: status 200",
            r#"check node.leader on node-0: /release == "2.0""#,
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_step_whose_when_does_not_hold_is_planned_away() {
    let fx = cell(
        r#"
[[step]]
do = "start"
[[step]]
do = "run"
action = "client.put"
when = "node >= 2.0"
[[step]]
do = "run"
action = "client.get"
when = "node == 1.0"
"#,
    );
    let ran = run(&fx, Script::default()).await;
    assert_eq!(ran.outcome.verdict, Verdict::Pass, "{:#?}", ran.outcome);
    assert_eq!(ran.outcome.steps.len(), 2);
    assert_eq!(ran.calls("exec "), ["exec client-0 get greeting"]);
}

#[tokio::test(start_paused = true)]
async fn an_upgrade_with_a_count_moves_that_many_and_a_later_one_the_rest() {
    let fx = path(
        r#"
[[step]]
do = "start"
[[step]]
do = "upgrade"
role = "node"
count = 1
[[step]]
do = "check"
action = "node.leader"
replica = 0
expect = { pointer = "/release", equals = "2.0" }
[[step]]
do = "run"
action = "client.put"
when = "node >= 2.0"
[[step]]
do = "upgrade"
role = "node"
"#,
    );
    let ran = run(&fx, telling_their_release()).await;
    assert_eq!(ran.outcome.verdict, Verdict::Pass, "{:#?}", ran.outcome);
    // start, move, check, move, move: the put is planned away (two nodes are still at 1.0).
    assert_eq!(ran.outcome.steps.len(), 5);
    let at_check = &ran.step(3).releases;
    assert_eq!(
        [
            &at_check["node-0"],
            &at_check["node-1"],
            &at_check["node-2"]
        ],
        ["2.0", "1.0", "1.0"]
    );
    let moved: Vec<&str> = [2, 4, 5]
        .iter()
        .map(|n| ran.step(*n).targets[0].as_str())
        .collect();
    assert_eq!(moved, ["node-0", "node-1", "node-2"]);
    assert!(ran.calls("exec ").is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_kill_sends_sigkill_and_its_exit_is_no_crash() {
    let kill_node_1 = format!("{STOP_NODE_1}kill = true\n");
    let fx = cell(&[START, &kill_node_1, &health_of(0)].concat());
    let ran = run(&fx, Script::default()).await;
    assert_eq!(ran.outcome.verdict, Verdict::Pass, "{:#?}", ran.outcome);
    assert_eq!(ran.step(2).description, "kill node-1");
    assert_eq!(ran.step(2).targets, ["node-1"]);
    assert_eq!(ran.calls("kill "), ["kill c0002"]);
    assert!(ran.calls("stop ").is_empty());
}

#[tokio::test(start_paused = true)]
async fn start_brings_a_stopped_replica_back_in_a_new_container() {
    let start_nodes = "[[step]]\ndo = \"start\"\nroles = [\"node\"]\n";
    let fx = cell(&[START, STOP_NODE_1, start_nodes, &health_of(1)].concat());
    let ran = run(&fx, Script::default()).await;
    assert_eq!(ran.outcome.verdict, Verdict::Pass, "{:#?}", ran.outcome);
    assert_eq!(
        ran.step(3).targets,
        ["node-1"],
        "running replicas are left alone"
    );
    let calls = ran.backend.calls();
    let at = |c: &str| calls.iter().position(|x| x == c).expect(c);
    assert!(at("stop c0002") < at("remove c0002"));
    assert_eq!(ran.calls("start node-1").len(), 2);
    assert_eq!(ran.leftovers(), 0);
}

#[tokio::test(start_paused = true)]
async fn replicas_start_with_their_command_environment_and_incarnation() {
    let fx = cell(&format!(
        "{START}[[step]]\ndo = \"restart\"\nrole = \"node\"\nreplica = 1\n"
    ));
    let seen = Arc::new(std::sync::Mutex::new(vec![]));
    let log = seen.clone();
    let script = Script::default().on_start(move |v| {
        log.lock().unwrap().push(v.clone());
        Boot::logs("ready")
    });
    let ran = run(&fx, script).await;
    assert_eq!(ran.outcome.verdict, Verdict::Pass, "{:#?}", ran.outcome);
    let seen = seen.lock().unwrap();
    let node_1: Vec<_> = seen.iter().filter(|v| v.name == "node-1").collect();
    assert_eq!(
        node_1.iter().map(|v| v.incarnation).collect::<Vec<_>>(),
        [0, 1]
    );
    let v = node_1[1];
    assert_eq!(v.image, "sim/node:1.0");
    assert_eq!(v.cmd, ["serve", "--name", "node-1"]);
    assert_eq!(v.env, ["PEERS=node-0,node-1,node-2", "RELEASE=1.0"]);
}

/// A script in which `name` starts but never says it is ready.
fn never_ready(name: &'static str) -> Script {
    Script::default().on_start(booting(name, Boot::logs("starting")))
}

#[tokio::test(start_paused = true)]
async fn a_replica_not_ready_within_its_timeout_fails_the_start() {
    let fx = cell(START);
    let ran = run(&fx, never_ready("node-1")).await;
    assert_eq!(ran.outcome.verdict, Verdict::Fail);
    assert_eq!(
        ran.message(1),
        r#"node-1 (sim/node:1.0) was not ready within 10s: no log line contains "ready""#
    );
    assert_eq!(ran.step(1).duration_ms, 10_000);
    assert_eq!(ran.step(1).observations[0].exit_code, None, "still running");
    assert_eq!(ran.leftovers(), 0);
}

/// The system with a ZooKeeper service that is ready once it binds its port.
fn with_zk(steps: &str) -> Fixture {
    Fixture::new(
        &format!(
            "{SYSTEM}\n[services.zk]\nimage = \"sim/zk:3.8\"\nrelease = \"3.8\"\nready = {{ log = \"binding to port\", timeout = \"5s\" }}\n"
        ),
        ONE_CELL,
        &format!("kind = \"cell\"\n{steps}"),
    )
}

#[tokio::test(start_paused = true)]
async fn services_start_before_the_first_step() {
    let fx = with_zk(START);
    let script = Script::default().on_start(booting("zk-0", Boot::logs("binding to port 2181")));
    let ran = run(&fx, script).await;
    assert_eq!(ran.outcome.verdict, Verdict::Pass, "{:#?}", ran.outcome);
    assert_eq!(ran.calls("start ")[0], "start zk-0 sim/zk:3.8");
    assert_eq!(
        ran.step(1).targets,
        ["node-0", "node-1", "node-2", "client-0"],
        "the start step starts the roles, not the service again"
    );
    assert_eq!(ran.step(1).releases["zk-0"], "3.8");
    assert_eq!(ran.leftovers(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_service_that_does_not_come_up_fails_the_trial_before_any_step() {
    let fx = with_zk(START);
    let ran = run(&fx, never_ready("zk-0")).await;
    assert_eq!(ran.outcome.verdict, Verdict::Fail);
    assert_eq!(
        ran.reason(),
        r#"service zk-0: zk-0 (sim/zk:3.8) was not ready within 5s: no log line contains "binding to port""#
    );
    assert!(ran.outcome.steps.is_empty());
    assert!(ran.calls("start node").is_empty());
    assert_eq!(ran.leftovers(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_first_start_setting_goes_to_the_moved_replica_once() {
    // ZooKeeper's case: 2.0 refuses the old data unless told once to trust it; a later restart of
    // the same replica (its data now 2.0's) must go without the setting.
    let fx = path(
        "[[step]]\ndo = \"start\"\n\
         [[step]]\ndo = \"upgrade\"\nrole = \"node\"\ncount = 1\n\
         first_start = { env = { TRUST = \"yes-{name}\" }, args = [\"--once\"] }\n\
         [[step]]\ndo = \"restart\"\nrole = \"node\"\nreplica = 0\n",
    );
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    let script = Script::default().on_start(move |v| {
        let trusted = v.env.iter().any(|e| e == "TRUST=yes-node-0");
        log.lock()
            .unwrap()
            .push((v.name.clone(), v.release.clone(), trusted, v.cmd.clone()));
        Boot::logs("ready")
    });
    let ran = run(&fx, script).await;
    assert_eq!(
        ran.outcome.verdict,
        Verdict::Pass,
        "{:#?}",
        ran.outcome.steps
    );
    assert_eq!(
        ran.step(2).description,
        "move node replica 1/3 to 2.0, first start with TRUST=yes-{name} --once"
    );
    let starts: Vec<_> = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|s| s.0 == "node-0")
        .cloned()
        .collect();
    let plain = vec!["serve".to_string(), "--name".into(), "node-0".into()];
    let mut once = plain.clone();
    once.push("--once".into());
    assert_eq!(
        starts,
        [
            (
                "node-0".to_string(),
                "1.0".to_string(),
                false,
                plain.clone()
            ),
            ("node-0".to_string(), "2.0".to_string(), true, once),
            ("node-0".to_string(), "2.0".to_string(), false, plain),
        ]
    );
    let trusted = seen.lock().unwrap().iter().filter(|s| s.2).count();
    assert_eq!(trusted, 1, "only the moved replica's first start");
}
