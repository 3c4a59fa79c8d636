//! `crossgrade run --repeat N` against the real engine: every run of a trial in its own folder, one
//! entry per trial with its runs counted and classed, a baseline that records a trial as flaky
//! tolerating its failures, and `--accept` recording runs that agree as one run would be.

use std::path::Path;

use crossgrade::baseline::Store;

mod common;
use common::*;

const PASSES: &str = "fixture/basic/node=1.0,client=1.0";
const FAILS: &str = "fixture/basic/node=1.0,client=2.0";

fn results(reports: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(reports.join("latest/results.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn repeat_2_of_a_passing_and_a_failing_cell_classes_both_deterministic() {
    ensure_fixture_images();
    let reports = tempfile::tempdir().unwrap();
    let snaps = tempfile::tempdir().unwrap();
    let store = Store::new(snaps.path());
    // The failing cell is a known flake: failing every run is one of the things a flake does.
    store.write(FAILS, "verdict: flaky").unwrap();

    let out = crossgrade()
        .args(["run", "-f"])
        .arg(fixture_matrix())
        .arg("--reports")
        .arg(reports.path())
        .arg("--snapshots")
        .arg(snaps.path())
        .args([
            "--trial", PASSES, "--trial", FAILS, "--repeat", "2", "-j", "2",
        ])
        .arg("--accept")
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "a new pass and a known flake are green: {stdout}{stderr}"
    );

    let r = results(reports.path());
    let trial = |id: &str| {
        r["trials"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["id"] == id)
            .unwrap_or_else(|| panic!("no trial {id}"))
            .clone()
    };
    assert_eq!(
        r["trials"].as_array().unwrap().len(),
        2,
        "one entry per trial"
    );
    assert_eq!(r["provenance"]["repeat"], 2);
    let (p, f) = (trial(PASSES), trial(FAILS));
    let why = |t: &serde_json::Value| format!("{}: {}", t["id"], t["reason"]);
    assert_eq!(p["verdict"], "pass", "{}", why(&p));
    assert_eq!(
        p["repeats"],
        serde_json::json!({"runs": 2, "passed": 2, "failed": 0, "errors": 0,
            "class": "deterministic", "verdicts": ["pass", "pass"], "shown": 1}),
        "{}",
        why(&p)
    );
    assert_eq!(f["verdict"], "fail");
    assert_eq!(f["repeats"]["class"], "deterministic", "{}", why(&f));
    assert_eq!(
        (&f["repeats"]["passed"], &f["repeats"]["failed"]),
        (&0.into(), &2.into())
    );
    assert_eq!(f["baseline"]["change"], "unchanged");
    assert_eq!(f["baseline"]["red"], false);
    assert_eq!(
        r["counts"],
        serde_json::json!({"total": 2, "pass": 1, "fail": 1, "error": 0})
    );
    assert_eq!(r["red"], false);

    // Each run in its own folder with its own logs; the trial's record above them.
    let dir = reports
        .path()
        .join("latest/trials/basic/node=1.0,client=2.0");
    assert!(dir.join("trial.json").is_file());
    for k in 1..=2 {
        assert!(
            dir.join(format!("repeat-{k}/run.json")).is_file(),
            "run {k}"
        );
        assert!(dir.join(format!("repeat-{k}/logs")).is_dir(), "run {k}");
    }
    assert!(
        stderr.contains("deterministic (2 of 2 passed)") || stdout.contains("(2 of 2 passed)"),
        "{stdout}{stderr}"
    );

    // --accept recorded the new pass as one run's snapshot and left the flake as it was.
    assert_eq!(
        store.read(PASSES).unwrap().as_deref(),
        Some("verdict: pass")
    );
    assert_eq!(
        store.read(FAILS).unwrap().as_deref(),
        Some("verdict: flaky")
    );
}

#[test]
fn the_json_stream_has_a_line_per_run_and_one_per_trial() {
    ensure_fixture_images();
    let reports = tempfile::tempdir().unwrap();
    let snaps = tempfile::tempdir().unwrap();
    let out = crossgrade()
        .args(["run", "-f"])
        .arg(fixture_matrix())
        .arg("--reports")
        .arg(reports.path())
        .arg("--snapshots")
        .arg(snaps.path())
        .args([
            "--trial",
            FAILS,
            "--repeat",
            "2",
            "--message-format",
            "json",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "a new failure is red");
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let of = |event: &str| -> Vec<&serde_json::Value> {
        lines.iter().filter(|l| l["event"] == event).collect()
    };
    let runs = of("trial_run_finished");
    assert_eq!(runs.len(), 2, "{lines:?}");
    for (k, run) in runs.iter().enumerate() {
        assert_eq!(run["id"], FAILS);
        assert_eq!(run["repeat"], k + 1);
        assert_eq!(run["verdict"], "fail");
    }
    let trials = of("trial_finished");
    assert_eq!(trials.len(), 1);
    assert_eq!(trials[0]["trial"]["repeats"]["class"], "deterministic");
    assert_eq!(of("run_finished")[0]["counts"]["fail"], 1);
}
