//! End-to-end tests of the engine against the real Docker engine and the fixture system: verdicts, the
//! evidence they carry, and that nothing labelled with the run is left behind after pass, fail, panic
//! and SIGINT.

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossgrade::baseline::Store;
use crossgrade::model::{self, Matrix};
use crossgrade::outcome::{StepStatus, TrialOutcome, Verdict};
use crossgrade::plan;
use crossgrade::report::Display;
use crossgrade::run;
use crossgrade::runtime::{Backend, Engine};
use crossgrade::session::{ReportTarget, Session};
use tokio_util::sync::CancellationToken;

mod common;
use common::*;

/// Runs the trials of `matrix` selected by `ids` through the same pipeline as `crossgrade run`;
/// their outcomes in the order of `ids`.
fn run(matrix: &Path, ids: &[&str]) -> (String, Vec<TrialOutcome>, tempfile::TempDir) {
    ensure_fixture_images();
    let m: Matrix = model::load(matrix).unwrap_or_else(|e| panic!("{e:?}"));
    let trials: Vec<_> = plan::expand(&m)
        .trials
        .into_iter()
        .filter(|t| ids.contains(&t.id.as_str()))
        .collect();
    assert_eq!(trials.len(), ids.len(), "unknown trial id among {ids:?}");
    let reports = tempfile::tempdir().unwrap();
    let run_id = run::new_run_id();
    let session = Session {
        matrix: Arc::new(m),
        trials,
        run_id: run_id.clone(),
        jobs: 4,
        keep: false,
        repeat: 1,
        report: ReportTarget {
            dir: reports.path().to_path_buf(),
            name: run_id.clone(),
            order: ids.iter().map(|s| s.to_string()).collect(),
            matrix_arg: None,
            store: Store::new(reports.path().join("snapshots")),
            predictions: Default::default(),
        },
    };
    let done = rt()
        .block_on(async {
            let backend = Engine::connect()
                .await
                .map(|e| Arc::new(e) as Arc<dyn Backend>);
            session
                .run(backend, Display::Silent, CancellationToken::new())
                .await
        })
        .expect("the report is written");
    let outcomes = ids
        .iter()
        .map(|id| {
            done.trials
                .iter()
                .find(|t| t.outcome.id == *id)
                .expect("every trial is reported")
                .outcome
                .clone()
        })
        .collect();
    (run_id, outcomes, reports)
}

#[test]
fn passing_cell_passes_keeps_logs_and_leaves_nothing() {
    let id = "fixture/basic/node=1.1,client=1.0";
    let (run_id, out, reports) = run(&fixture_matrix(), &[id]);
    let o = &out[0];
    assert_eq!(o.verdict, Verdict::Pass, "{o:#?}");
    assert!(o.steps.iter().all(|s| s.status == StepStatus::Pass));
    let log = std::fs::read_to_string(reports.path().join(&o.logs_dir).join("node-0.log")).unwrap();
    assert!(log.contains("listening on"), "node-0's log was kept: {log}");
    assert_eq!(leftovers_of_run(&run_id), 0);
}

#[test]
fn failing_check_is_a_fail_with_the_components_words() {
    // A 1.0 client against 2.0 nodes: the /kv endpoint is gone.
    let id = "fixture/basic/node=2.0,client=1.0";
    let (run_id, out, _r) = run(&fixture_matrix(), &[id]);
    let o = &out[0];
    assert_eq!(o.verdict, Verdict::Fail, "{o:#?}");
    assert_eq!(o.failed_step, Some(3), "the put fails: {o:#?}");
    let step = &o.steps[2];
    assert_eq!(step.observations[0].exit_code, Some(1));
    assert!(
        step.observations[0].output.contains("HTTP 404"),
        "{:?}",
        step.observations
    );
    assert_eq!(o.steps[3].status, StepStatus::Skipped);
    assert_eq!(leftovers_of_run(&run_id), 0);
}

#[test]
fn component_crashing_at_start_fails_with_exit_code_and_logs() {
    let (run_id, out, _r) = run(&fixture("crash.toml"), &["crash/start/node=1.0,client=1.0"]);
    let o = &out[0];
    assert_eq!(o.verdict, Verdict::Fail, "{o:#?}");
    let reason = o.reason.as_deref().unwrap();
    assert!(
        reason.contains("node-0") && reason.contains("exited with code 3 before it was ready"),
        "{reason}"
    );
    // Its own words, from its log, not only the code.
    assert!(
        reason.contains("it logged: fatal: refusing to start: simulated crash"),
        "{reason}"
    );
    let evidence = &o.steps[0].observations[0];
    assert_eq!(evidence.exit_code, Some(3));
    assert!(evidence.output.contains("simulated crash"), "{evidence:?}");
    assert_eq!(leftovers_of_run(&run_id), 0);
}

#[test]
fn missing_image_is_an_error_naming_the_build_command() {
    let (run_id, out, _r) = run(&fixture("missing.toml"), &["missing/start/node=1.0"]);
    let o = &out[0];
    assert_eq!(o.verdict, Verdict::Error, "{o:#?}");
    let reason = o.reason.as_deref().unwrap();
    assert!(reason.contains("crossgrade/never-built:1.0"), "{reason}");
    assert!(reason.contains("crossgrade images build"), "{reason}");
    assert_eq!(leftovers_of_run(&run_id), 0);
}

#[test]
fn leader_bounce_passes_leadership_and_back() {
    let (run_id, out, _r) = run(&fixture("edge.toml"), &["edge/bounce/node=1.0"]);
    let o = &out[0];
    assert_eq!(o.verdict, Verdict::Pass, "{o:#?}");
    assert!(o.steps[3].observations[0].output.contains("node-1"));
    assert!(o.steps[6].description.contains("restart the node leader"));
    assert_eq!(leftovers_of_run(&run_id), 0);
}

#[test]
fn upgrade_keeps_the_data_volume() {
    // The key is written at 1.0 and read at the end, after every node and the client moved to 1.1.
    let id = "fixture/rolling-upgrade/1.0-to-1.1";
    let (run_id, out, _r) = run(&fixture_matrix(), &[id]);
    let o = &out[0];
    assert_eq!(o.verdict, Verdict::Pass, "{o:#?}");
    let last = o.steps.last().unwrap();
    assert!(last.observations[0].output.contains("hello"));
    // Every replica that ran (the recorder, which only the printed-history scenario starts, stays
    // at its starting release, never started).
    assert!(
        last.releases
            .iter()
            .filter(|(name, _)| !name.starts_with("recorder-"))
            .all(|(_, r)| r == "1.1"),
        "{:?}",
        last.releases
    );
    let moves = o
        .steps
        .iter()
        .filter(|s| s.description.starts_with("move "))
        .count();
    assert_eq!(moves, 4, "three nodes and one client moved one by one");
    assert_eq!(o.workloads.len(), 1);
    assert_eq!(leftovers_of_run(&run_id), 0);
}

#[test]
fn a_step_may_expect_a_component_to_exit_with_a_code() {
    let ids = ["edge/exit-expected/node=1.0", "edge/exit-code/node=1.0"];
    let (run_id, out, _r) = run(&fixture("edge.toml"), &ids);
    let by = |id: &str| out.iter().find(|o| o.id == id).unwrap();

    let o = by(ids[0]);
    assert_eq!(o.verdict, Verdict::Pass, "{o:#?}");
    assert_eq!(
        o.steps[1].description,
        "check node.shutdown on node-2: status 200; then node-2 exits with code 0"
    );
    let exit = &o.steps[1].observations[1];
    assert_eq!(exit.exit_code, Some(0), "{exit:?}");
    assert!(exit.output.contains("shutdown requested"), "{exit:?}");

    let o = by(ids[1]);
    assert_eq!(o.verdict, Verdict::Fail, "{o:#?}");
    assert_eq!(o.failed_step, Some(2), "{o:#?}");
    let reason = o.reason.as_deref().unwrap();
    assert!(
        reason.contains("node-2 exited with code 0, expected 3"),
        "{reason}"
    );
    assert!(
        reason.contains("it logged: shutdown requested: exiting with code 0"),
        "{reason}"
    );
    assert_eq!(leftovers_of_run(&run_id), 0);
}

/// `signal`: SIGHUP reloads a real node without a restart (it counts the reload and keeps serving),
/// SIGUSR2 makes another leave as a lame duck, an exit the step expects; the same signal without
/// `exits` is a crash, quoted in the node's own words.
#[test]
fn a_signal_reloads_a_node_or_makes_it_leave() {
    let ids = ["edge/signals/node=1.1", "edge/signal-unexpected/node=1.1"];
    let (run_id, out, _r) = run(&fixture("edge.toml"), &ids);
    let by = |id: &str| out.iter().find(|o| o.id == id).unwrap();

    let o = by(ids[0]);
    assert_eq!(o.verdict, Verdict::Pass, "{o:#?}");
    assert_eq!(o.steps[1].description, "send SIGHUP to node-1");
    assert_eq!(o.steps[1].targets, ["node-1"]);
    assert!(o.steps[2].observations[0].output.contains(r#""reloads":1"#));
    assert_eq!(
        o.steps[3].description,
        "send SIGUSR2 to node-2; then node-2 exits with code 0"
    );
    let exit = &o.steps[3].observations[1];
    assert_eq!(exit.exit_code, Some(0), "{exit:?}");
    assert!(
        exit.output.contains("lame duck: SIGUSR2 received"),
        "{exit:?}"
    );

    let o = by(ids[1]);
    assert_eq!(o.verdict, Verdict::Fail, "{o:#?}");
    let reason = o.reason.as_deref().unwrap();
    // The exit may be seen right after the signal or during the next step, as for any crash.
    assert!(
        reason.contains(
            "node-2 exited unexpectedly with code 0; it logged: lame duck: SIGUSR2 received, leaving the cluster, exiting with code 0"
        ),
        "{reason}"
    );
    assert_eq!(leftovers_of_run(&run_id), 0);
}

#[test]
fn a_failed_step_keeps_what_a_component_complained_of_in_its_log_meanwhile() {
    let (run_id, out, _r) = run(&fixture("edge.toml"), &["edge/complaint/node=1.1"]);
    let o = &out[0];
    assert_eq!(o.verdict, Verdict::Fail, "{o:#?}");
    // The log check before the complaint passed; the action that complained failed.
    assert_eq!(o.steps[1].status, StepStatus::Pass, "{o:#?}");
    assert_eq!(o.failed_step, Some(3), "{o:#?}");
    let said: Vec<(&str, &str)> = o.steps[2]
        .observations
        .iter()
        .filter(|x| x.what.ends_with(crossgrade::run::DURING_STEP))
        .map(|x| (x.what.as_str(), x.output.as_str()))
        .collect();
    assert_eq!(
        said,
        [(
            "client-0 logged during the step",
            "[ERR] raft: append entry corrupt"
        )],
        "{o:#?}"
    );
    assert_eq!(leftovers_of_run(&run_id), 0);
}

#[test]
fn a_failed_check_names_a_crash_that_happened_during_it() {
    let (run_id, out, _r) = run(&fixture("edge.toml"), &["edge/crash-then-check/node=1.0"]);
    let o = &out[0];
    assert_eq!(o.verdict, Verdict::Fail, "{o:#?}");
    assert_eq!(o.failed_step, Some(2), "{o:#?}");
    let reason = o.reason.as_deref().unwrap();
    // The check's own failure first, then the crash, with node-1's words.
    assert!(reason.contains("not true within 3s"), "{reason}");
    assert!(
        reason.contains(
            "; and node-1 exited unexpectedly with code 3; it logged: shutdown requested: exiting with code 3"
        ),
        "{reason}"
    );
    let crash = o.steps[1]
        .observations
        .iter()
        .find(|ob| ob.what == "node-1")
        .expect("the crash is evidence of the step");
    assert_eq!(crash.exit_code, Some(3), "{crash:?}");
    assert!(o.last_logs.contains_key("node-1"), "{o:#?}");
    assert_eq!(leftovers_of_run(&run_id), 0);
}

#[test]
fn step_deadline_fails_the_step_and_names_the_deadline() {
    let (run_id, out, _r) = run(&fixture("edge.toml"), &["edge/deadline/node=1.0"]);
    let o = &out[0];
    assert_eq!(o.verdict, Verdict::Fail, "{o:#?}");
    let reason = o.reason.as_deref().unwrap();
    assert!(reason.contains("deadline of 2s"), "{reason}");
    // The step ended at its own deadline, not at the action's 30s timeout.
    let step = &o.steps[1];
    assert_eq!(step.status, StepStatus::Fail);
    assert!(step.duration_ms < 30_000, "{step:#?}");
    assert_eq!(leftovers_of_run(&run_id), 0);
}

/// Runs the CLI on one trial in a child process; returns it once containers of its run exist.
fn spawn_cli(trial: &str, env: &[(&str, &str)], reports: &Path) -> std::process::Child {
    ensure_fixture_images();
    let mut cmd = crossgrade();
    cmd.args(["run", "-f"])
        .arg(fixture_matrix())
        .args(["--trial", trial, "--reports"])
        .arg(reports)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn().unwrap()
}

fn results(reports: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(reports.join("latest/results.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn panic_in_a_trial_is_an_error_and_leaves_nothing() {
    let reports = tempfile::tempdir().unwrap();
    let mut child = spawn_cli(
        "fixture/basic/node=1.0,client=1.0",
        &[("CROSSGRADE_FAILPOINT", "panic-after-start")],
        reports.path(),
    );
    let pid = child.id();
    let status = wait_exit(&mut child, Duration::from_secs(120));
    assert_eq!(status.code(), Some(1));
    let r = results(reports.path());
    assert_eq!(r["trials"][0]["verdict"], "error");
    assert!(r["trials"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("the harness panicked"));
    assert_eq!(leftovers_of_pid(pid), 0);
}

#[test]
fn sigint_during_a_trial_cleans_up_and_exits_130() {
    let reports = tempfile::tempdir().unwrap();
    let mut child = spawn_cli("fixture/rolling-upgrade/1.1-to-2.0", &[], reports.path());
    let pid = child.id();
    // Wait until the trial has containers, then interrupt it.
    let deadline = Instant::now() + Duration::from_secs(60);
    while leftovers_of_pid(pid) == 0 {
        assert!(
            Instant::now() < deadline,
            "the run never created a container"
        );
        assert!(child.try_wait().unwrap().is_none(), "the run ended early");
        std::thread::sleep(Duration::from_millis(100));
    }
    unsafe { libc::kill(pid as i32, libc::SIGINT) };
    let status = wait_exit(&mut child, Duration::from_secs(60));
    assert_eq!(status.code(), Some(130));
    assert_eq!(leftovers_of_pid(pid), 0);
}
