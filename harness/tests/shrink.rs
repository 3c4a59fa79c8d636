//! `crossgrade shrink` end to end on the fixture: real trials reduce a failing upgrade, the plan it
//! writes replays with `run --scenario-file` and fails with the same words, and a trial that passes
//! has nothing to shrink.

mod common;

use common::*;

const FAILS: &str = "fixture/rolling-upgrade/1.0-to-2.0";
const PASSES: &str = "fixture/rolling-upgrade/1.0-to-1.1";

/// `crossgrade shrink -f fixture.toml TRIAL --reports DIR EXTRA…`.
fn shrink(trial: &str, reports: &std::path::Path, extra: &[&str]) -> std::process::Output {
    crossgrade()
        .arg("shrink")
        .arg("-f")
        .arg(fixture_matrix())
        .arg(trial)
        .args(extra)
        .arg("--reports")
        .arg(reports)
        .output()
        .unwrap()
}

fn results(dir: &std::path::Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("results.json")).unwrap()).unwrap()
}

#[test]
fn a_failing_upgrade_shrinks_to_a_plan_that_replays_with_the_same_words() {
    ensure_fixture_images();
    let reports = tempfile::tempdir().unwrap();
    // A budget of four candidates keeps the test short: the steps after the failed one go without a
    // trial, so the plan shrinks even if no candidate does.
    let out = shrink(FAILS, reports.path(), &["--max-trials", "4"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("it fails at step 12 of 17 (action): not true within"),
        "{stdout}"
    );
    let line = stdout
        .lines()
        .find(|l| l.starts_with("shrunk: 17 steps → "))
        .unwrap_or_else(|| panic!("{stdout}"));
    let after: usize = line["shrunk: 17 steps → ".len()..]
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(after <= 12, "{line}");
    assert_eq!(stderr.matches("  candidate ").count(), 4, "{stderr}");
    let file = stdout
        .lines()
        .find_map(|l| l.strip_prefix("written to "))
        .unwrap_or_else(|| panic!("{stdout}"));
    let text = std::fs::read_to_string(file).unwrap();
    assert!(
        text.contains("[trial]\nfrom = \"1.0\"\nto = \"2.0\""),
        "{text}"
    );

    // The printed command replays it: the same failure, in a trial of its own.
    let replay = tempfile::tempdir().unwrap();
    let snaps = tempfile::tempdir().unwrap();
    let out = crossgrade()
        .arg("run")
        .arg("-f")
        .arg(fixture_matrix())
        .arg("--scenario-file")
        .arg(file)
        .arg("--reports")
        .arg(replay.path())
        .arg("--snapshots")
        .arg(snaps.path())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = results(&replay.path().join("latest"));
    let t = &r["trials"][0];
    assert_eq!(t["id"], "fixture/rolling-upgrade-shrunk/1.0-to-2.0");
    assert_eq!(t["verdict"], "fail");
    assert!(
        t["reason"]
            .as_str()
            .unwrap()
            .contains("no such endpoint /kv/greeting (this is release 2.0)"),
        "{t}"
    );
}

#[test]
fn a_trial_that_passes_has_nothing_to_shrink() {
    ensure_fixture_images();
    let reports = tempfile::tempdir().unwrap();
    let out = shrink(PASSES, reports.path(), &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains(&format!("nothing to shrink: {PASSES} did not fail (pass)")),
        "{stdout}"
    );
}
