//! History workloads on a real engine: the fixture's register, read, written and compared-and-set by
//! three clients, each call to a node chosen at random: the harness's clients through `/fixture ctl
//! op` in the client container (scenario `history`), and the system's own recording client, whose
//! printed lines the workload reads (`printed-history`). Release 2.0 forwards a follower's read to
//! the leader; 2.1 (the stale-read release) answers it from the follower's own copy. Both pass the
//! simple put-and-get checks; only 2.1's history cannot be linearized, and the run says where.

use std::path::Path;

mod common;
use common::*;

/// `crossgrade history check --model register FILE`: its exit code and its line.
fn check(file: &Path) -> (Option<i32>, String) {
    let out = crossgrade()
        .args(["history", "check", "--model", "register"])
        .arg(file)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn stale_follower_reads_pass_the_simple_checks_and_fail_the_history_check() {
    ensure_fixture_images();
    let dir = tempfile::tempdir().unwrap();
    let (reports, snapshots) = (dir.path().join("reports"), dir.path().join("snapshots"));
    let out = crossgrade()
        .args(["run", "-f"])
        .arg(fixture_matrix())
        .args([
            "--scenario",
            "history",
            "--scenario",
            "printed-history",
            "--reports",
        ])
        .arg(&reports)
        .arg("--snapshots")
        .arg(&snapshots)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    // A new failing trial against an empty baseline is red.
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let latest = reports.join("latest");
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(latest.join("results.json")).unwrap())
            .unwrap();

    let sound = trial(&r, "fixture/history/node=2.0,client=2.0");
    assert_eq!(sound["verdict"], "pass", "{sound:#}");
    let h = &sound["workloads"][0]["history"];
    assert_eq!(h["verdict"], "linearizable", "{h:#}");
    assert!(h["ops"].as_u64().unwrap() >= 50, "{h:#}");

    let stale = trial(&r, "fixture/history/node=2.1,client=2.1");
    assert_eq!(stale["verdict"], "fail", "{stale:#}");
    // The simple checks pass: a put through node-0, and a get that reads it back.
    for n in [2, 3] {
        assert_eq!(stale["steps"][n - 1]["status"], "pass", "{stale:#}");
    }
    assert_eq!(stale["failed_step"], 6, "{stale:#}");
    assert_eq!(
        stale["reason"],
        "step 6 (stop workload register and judge it): workload register: its register history \
         is not linearizable at key 0 (the operations no order fits are drawn in the report)"
    );
    let h = &stale["workloads"][0]["history"];
    assert_eq!(h["verdict"], "not linearizable", "{h:#}");
    let window = h["violation"]["window"].as_array().unwrap();
    let stuck: Vec<_> = window.iter().filter(|o| o["stuck"] == true).collect();
    assert_eq!(stuck.len(), 1, "{h:#}");
    assert!(window.iter().any(|o| o["placed"] == false), "{h:#}");

    // The files agree with the run, read back by the checker on its own.
    let file = |cell: &str| latest.join(format!("trials/history/{cell}/history.jsonl"));
    let (code, line) = check(&file("node=2.0,client=2.0"));
    assert_eq!(code, Some(0), "{line}");
    let (code, line) = check(&file("node=2.1,client=2.1"));
    assert_eq!(code, Some(1), "{line}");
    assert!(line.contains("not linearizable"), "{line}");

    // The recorder's own history: the same verdicts, from the lines it printed.
    for (cell, verdict) in [
        ("node=2.0,client=2.0", "linearizable"),
        ("node=2.1,client=2.1", "not linearizable"),
    ] {
        let t = trial(&r, &format!("fixture/printed-history/{cell}"));
        let w = &t["workloads"][0];
        assert_eq!(
            w["action"], "register history printed by recorder-0",
            "{t:#}"
        );
        assert_eq!(w["history"]["verdict"], verdict, "{t:#}");
        assert_eq!(w["history"]["clients"], 3, "{t:#}");
        let file = latest.join(format!("trials/printed-history/{cell}/history.jsonl"));
        assert_eq!(
            check(&file).0,
            Some(if verdict == "linearizable" { 0 } else { 1 })
        );
    }

    // The report draws the window: one line per client, the stuck operation outlined.
    let html = std::fs::read_to_string(latest.join("index.html")).unwrap();
    assert!(
        html.contains("class=\"timeline ops\""),
        "no history timeline"
    );
    assert!(
        html.contains("op-stuck"),
        "the stuck operation is not marked"
    );
    assert!(html.contains("history.jsonl"), "no link to the history");
}
