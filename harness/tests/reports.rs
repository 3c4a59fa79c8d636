//! The reports of real runs, through the CLI: the baseline comparison (regressed, fixed, new, and
//! `--accept`), JUnit that parses, an HTML report that shows hostile log content as text in a real
//! headless browser, and `results.json` that is whole whenever a run is killed.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crossgrade::baseline::Store;
use crossgrade::runtime::labels;

mod common;
use common::*;

fn results(reports: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(reports.join("latest/results.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// `crossgrade run` on `matrix` with its reports and baseline in the given folders.
fn run_cli(matrix: &Path, reports: &Path, snapshots: &Path, extra: &[&str]) -> Output {
    run_command(matrix, reports, snapshots, extra)
        .output()
        .unwrap()
}

/// The command `run_cli` runs, for a caller that sets its environment first.
fn run_command(matrix: &Path, reports: &Path, snapshots: &Path, extra: &[&str]) -> Command {
    let mut c = crossgrade();
    c.args(["run", "-f"])
        .arg(matrix)
        .arg("--reports")
        .arg(reports)
        .arg("--snapshots")
        .arg(snapshots)
        .args(extra);
    c
}

const PASSES: &str = "fixture/basic/node=1.0,client=1.0";
const NEW: &str = "fixture/basic/node=1.0,client=1.1";
const FAILS: &str = "fixture/basic/node=1.0,client=2.0";

#[test]
fn baseline_comparison_finds_regressed_fixed_and_new_and_accept_records_them() {
    ensure_fixture_images();
    let matrix = fixture_matrix();
    let reports = tempfile::tempdir().unwrap();
    let snaps = tempfile::tempdir().unwrap();
    let store = Store::new(snaps.path());
    // A baseline that says the passing cell failed, the failing cell passed, and knows nothing of a
    // third.
    store
        .write(
            PASSES,
            "verdict: fail\nstep: 3 run client.put on client-0\nreason: it used to fail",
        )
        .unwrap();
    store.write(FAILS, "verdict: pass").unwrap();

    let out = run_cli(
        &matrix,
        reports.path(),
        snaps.path(),
        &["--cell", "node=1.0"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "a regression is red: {stderr}");
    // The recap after the table names the red trial with its reason.
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("  {FAILS} [regressed]: step ")),
        "{stdout}"
    );
    let r = results(reports.path());
    assert_eq!(r["schema"], "crossgrade.results/v1");
    // On a loaded machine a fixture trial can fail for a reason of its own: say which.
    let why = |id: &str| format!("{id}: {}", trial(&r, id)["reason"]);
    assert_eq!(
        trial(&r, PASSES)["baseline"]["change"],
        "fixed",
        "{}",
        why(PASSES)
    );
    assert_eq!(trial(&r, NEW)["baseline"]["change"], "new", "{}", why(NEW));
    assert_eq!(
        trial(&r, FAILS)["baseline"]["change"],
        "regressed",
        "{}",
        why(FAILS)
    );
    assert_eq!(trial(&r, FAILS)["baseline"]["recorded"], "verdict: pass");
    assert_eq!(r["changes"]["regressed"], 1);
    assert_eq!(r["red"], true);
    // The regressed trial prints both commands that rerun exactly it.
    assert!(stderr.contains(&format!("--trial {FAILS}")), "{stderr}");
    assert!(
        stderr.contains(r"-E 'test(=fixture/basic/node=1.0\,client=2.0)'"),
        "{stderr}"
    );

    let cases = junit_cases(&reports.path().join("latest/junit.xml"));
    assert_eq!(cases.len(), 3);
    let case = |id: &str| cases.iter().find(|c| c.0 == id).unwrap().clone();
    assert_eq!(case(PASSES).1, "pass");
    let (_, status, ty, message) = case(FAILS);
    assert_eq!((status.as_str(), ty.as_str()), ("failure", "regressed"));
    assert!(message.contains("no such endpoint"), "{message}");

    // The summary puts what needs attention first, then the grid.
    let summary = std::fs::read_to_string(reports.path().join("latest/summary.md")).unwrap();
    let attention = summary
        .find("## Needs attention")
        .expect("an attention section");
    let grid = summary.find("## basic — node × client").expect("a grid");
    assert!(attention < grid, "{summary}");
    assert!(summary.contains("| **1.0** |"), "{summary}");

    // --accept records what changed but a regression, and the run stays red; with --regressions it
    // records that too (still red: the run is judged against the baseline it started from); the next
    // run is all unchanged and green, with the known failure reported to JUnit as an expected failure.
    let out = run_cli(
        &matrix,
        reports.path(),
        snaps.path(),
        &["--cell", "node=1.0", "--accept"],
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("not recorded: {FAILS} regressed")),
        "{stderr}"
    );
    let r = results(reports.path());
    assert_ne!(
        store.read(FAILS).unwrap().as_deref(),
        trial(&r, FAILS)["baseline"]["snapshot"]
            .as_str()
            .map(str::trim_end),
        "the regression is not recorded"
    );
    let out = run_cli(
        &matrix,
        reports.path(),
        snaps.path(),
        &["--cell", "node=1.0", "--accept", "--regressions"],
    );
    assert_eq!(out.status.code(), Some(1));
    for id in [PASSES, NEW, FAILS] {
        let recorded = store.read(id).unwrap().expect("recorded");
        let r = results(reports.path());
        assert_eq!(
            recorded,
            trial(&r, id)["baseline"]["snapshot"]
                .as_str()
                .unwrap()
                .trim_end()
        );
    }
    let out = run_cli(
        &matrix,
        reports.path(),
        snaps.path(),
        &["--cell", "node=1.0"],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "a known failure is not red: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out_known = out;
    let r = results(reports.path());
    assert_eq!(r["changes"]["unchanged"], 3);
    assert_eq!(r["red"], false);
    let (_, status, ty, _) = junit_cases(&reports.path().join("latest/junit.xml"))
        .into_iter()
        .find(|c| c.0 == FAILS)
        .unwrap();
    assert_eq!(
        (status.as_str(), ty.as_str()),
        ("skipped", "expected-failure")
    );

    // Rebuilding an older run's reports leaves `latest` with the newest run; a known failure is its
    // one line in the terminal, and the final recap is of red trials only (none here).
    let latest = std::fs::read_link(reports.path().join("latest")).unwrap();
    let mut runs: Vec<_> = std::fs::read_dir(reports.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| *n != *"latest" && *n != *"snapshots")
        .collect();
    runs.sort();
    let oldest = reports.path().join(&runs[0]);
    assert_ne!(runs[0], latest);
    let out = crossgrade().arg("report").arg(&oldest).output().unwrap();
    assert!(out.status.code().is_some(), "{out:?}");
    assert_eq!(
        std::fs::read_link(reports.path().join("latest")).unwrap(),
        latest
    );
    let stderr = String::from_utf8_lossy(&out_known.stderr);
    let known = stderr.lines().position(|l| l.contains(FAILS)).unwrap();
    assert!(
        stderr
            .lines()
            .nth(known + 1)
            .is_none_or(|l| !l.contains("reproduce")),
        "a known failure is one line: {stderr}"
    );
    assert!(!String::from_utf8_lossy(&out_known.stdout).contains(" red:"));
}

/// Loads `index.html` in Debian's chromium (headless, in a container, the report folder mounted
/// read-only) and returns the DOM it rendered.
fn rendered_dom(report_dir: &Path) -> String {
    ensure_images(&fixture("browser.toml"));
    let run_id = format!("reports-test-{}", std::process::id());
    let mut cmd = Command::new("docker");
    cmd.args(["run", "--rm", "--network", "none"]);
    for (k, v) in labels(&run_id, None) {
        cmd.arg("--label").arg(format!("{k}={v}"));
    }
    let out = cmd
        .arg("-v")
        .arg(format!("{}:/report:ro", report_dir.display()))
        .args([
            "crossgrade/chromium:12",
            "--dump-dom",
            "file:///report/index.html",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(leftovers_of_run(&run_id), 0);
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn html_report_shows_hostile_log_content_as_text_in_a_real_browser() {
    ensure_fixture_images();
    let reports = tempfile::tempdir().unwrap();
    let snaps = tempfile::tempdir().unwrap();
    let out = run_cli(&fixture("hostile.toml"), reports.path(), snaps.path(), &[]);
    assert_eq!(out.status.code(), Some(1), "new failures are red");
    let dir = std::fs::canonicalize(reports.path().join("latest")).unwrap();
    let html = std::fs::read_to_string(dir.join("index.html")).unwrap();
    // Self-contained: nothing fetched from anywhere, no scripts at all.
    for needle in [
        "http://", "https://", "<script", "<link", "<img", "<iframe", " src=\"",
    ] {
        assert!(!html.contains(needle), "index.html contains {needle:?}");
    }

    let dom = rendered_dom(&dir);
    // The page rendered: its own title, the grid, a panel per trial with the reproduce commands.
    assert!(
        dom.contains("<title>crossgrade · hostile · run "),
        "{}",
        &dom[..dom.len().min(500)]
    );
    assert!(dom.contains("<h2>shout — client</h2>"));
    assert_eq!(dom.matches("<article class=\"trial v-fail\"").count(), 2);
    // Marks carry a symbol as well as a colour, and link to anchors that are the trial ids.
    assert!(dom.contains("✗+ "), "no symbol on a new failure's mark");
    assert!(
        dom.contains("href=\"#hostile/"),
        "marks link to the trial ids"
    );
    assert!(
        dom.contains("id=\"hostile/"),
        "trials are anchored at their ids"
    );
    assert!(dom.contains("crossgrade run -f"));
    assert!(dom.contains("cargo nextest run -p crossgrade --test trials"));
    // The log line and the failing output carry markup: it shows as text, never as elements.
    assert!(!dom.contains("<script"), "a script element was rendered");
    assert!(
        !dom.contains("<b id=\"injected\">"),
        "log markup became an element"
    );
    assert!(!dom.contains("<img"), "output markup became an element");
    assert!(dom.contains("&lt;script&gt;document.title='pwned'&lt;/script&gt;"));
    assert!(dom.contains("&lt;img src=x onerror=alert(1)&gt;"));
    assert!(!dom.contains("<title>pwned"));

    let cases = junit_cases(&dir.join("junit.xml"));
    assert_eq!(cases.len(), 2);
    assert!(cases.iter().all(|c| c.1 == "failure" && c.2 == "new"));
    assert!(
        cases[0].3.contains("<img src=x onerror=alert(1)>"),
        "the message keeps the component's words: {:?}",
        cases[0].3
    );
}

#[test]
fn a_killed_run_never_leaves_half_a_results_json() {
    ensure_fixture_images();
    let reports = tempfile::tempdir().unwrap();
    let snaps = tempfile::tempdir().unwrap();
    let mut child = crossgrade()
        .args(["run", "-j", "2", "-f"])
        .arg(fixture_matrix())
        .arg("--reports")
        .arg(reports.path())
        .arg("--snapshots")
        .arg(snaps.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    // results.json is rewritten as each trial finishes; every read must find a whole document.
    let path = reports.path().join("latest/results.json");
    let mut finished_seen = 0;
    wait_for(
        "three trials recorded in results.json",
        Duration::from_secs(120),
        || {
            let Ok(bytes) = std::fs::read(&path) else {
                return false;
            };
            let r: serde_json::Value =
                serde_json::from_slice(&bytes).expect("results.json is always a whole document");
            assert_eq!(r["complete"], false);
            finished_seen = r["trials"].as_array().unwrap().len();
            finished_seen >= 3
        },
    );
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    let status = wait_exit(&mut child, Duration::from_secs(10));
    assert_eq!(status.code(), None, "killed by a signal");
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert!(r["trials"].as_array().unwrap().len() >= finished_seen);
    for leftover in std::fs::read_dir(path.parent().unwrap()).unwrap() {
        let name = leftover.unwrap().file_name();
        assert!(
            !name.to_string_lossy().starts_with("results.json."),
            "a stray partial file {name:?}"
        );
    }
    // What the killed run left in the engine is `crossgrade gc`'s to remove. A request the run had sent
    // just before it died may still complete in the engine after a first gc, so gc until nothing of
    // the run is left, within a deadline.
    wait_for(
        "crossgrade gc to leave nothing of the killed run",
        Duration::from_secs(30),
        || {
            let gc = crossgrade().arg("gc").output().unwrap();
            assert!(
                gc.status.success(),
                "crossgrade gc failed: {}",
                String::from_utf8_lossy(&gc.stderr)
            );
            leftovers_of_pid(pid) == 0
        },
    );
}

/// On GitHub Actions a run appends its summary to the job's and annotates each red trial.
#[test]
fn on_github_actions_the_summary_is_appended_and_red_trials_annotated() {
    let reports = tempfile::tempdir().unwrap();
    let snaps = tempfile::tempdir().unwrap();
    let step_summary = reports.path().join("step-summary.md");
    std::fs::write(&step_summary, "earlier steps\n").unwrap();
    // A failing trial with no baseline yet: new, and red.
    let red = "fixture/basic/node=1.0,client=2.0";
    let fixture = fixture_matrix();
    let out = run_command(&fixture, reports.path(), snaps.path(), &["--trial", red])
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", &step_summary)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let annotation = stdout
        .lines()
        .find(|l| l.starts_with("::error "))
        .unwrap_or_else(|| panic!("no annotation in {stdout}"));
    assert!(
        annotation.starts_with(&format!(
            "::error title=crossgrade fixture/basic/node=1.0%2Cclient=2.0::{red} [new]: step 3"
        )),
        "{annotation}"
    );
    let summary = std::fs::read_to_string(&step_summary).unwrap();
    assert!(
        summary.starts_with("earlier steps\n# crossgrade · fixture"),
        "{summary}"
    );

    // `--failed` reruns the red trials of that report, and only those.
    let latest = reports.path().join("latest");
    let rerun = run_cli(
        &fixture,
        reports.path(),
        snaps.path(),
        &["--failed", latest.to_str().unwrap()],
    );
    assert_eq!(rerun.status.code(), Some(1));
    let r = results(reports.path());
    let ids: Vec<&str> = r["trials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [red]);
}

/// `--message-format json`: stdout is one JSON object per line, each with the schema, from
/// run_started to run_finished; `plan --format json` is the plan as data.
#[test]
fn the_json_event_stream_and_the_json_plan() {
    let reports = tempfile::tempdir().unwrap();
    let snaps = tempfile::tempdir().unwrap();
    let id = "fixture/basic/node=1.0,client=1.0";
    let out = run_cli(
        &fixture_matrix(),
        reports.path(),
        snaps.path(),
        &["--message-format", "json", "--trial", id],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let events: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(events.iter().all(|e| e["schema"] == "crossgrade.events/v1"));
    let names: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(names.first(), Some(&"run_started"));
    assert_eq!(names.last(), Some(&"run_finished"));
    for n in [
        "trial_started",
        "step_started",
        "step_finished",
        "trial_finished",
    ] {
        assert!(names.contains(&n), "{names:?}");
    }
    let finished = events
        .iter()
        .find(|e| e["event"] == "trial_finished")
        .unwrap();
    assert_eq!(finished["trial"]["id"], id);
    assert_eq!(finished["trial"]["verdict"], "pass");
    assert_eq!(finished["trial"]["baseline"]["change"], "new");
    assert_eq!(events.last().unwrap()["red"], false);

    let plan = crossgrade()
        .args(["plan", "--format", "json", "-f"])
        .arg(workspace().join("fixture.toml"))
        .output()
        .unwrap();
    let plan: serde_json::Value = serde_json::from_slice(&plan.stdout).unwrap();
    assert_eq!(plan["schema"], "crossgrade.plan/v1");
    let t = plan["trials"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == id)
        .unwrap();
    assert_eq!(t["kind"], "cell");
    assert_eq!(t["cell"]["node"], "1.0");
    assert_eq!(t["steps"][0]["description"], "start node, client");
}

/// A missing image is said once, before anything starts: exit 1, the build command, no report.
#[test]
fn a_missing_image_fails_the_run_once_before_anything_is_written() {
    let reports = tempfile::tempdir().unwrap();
    let out = crossgrade()
        .args(["run", "-f"])
        .arg(fixture("missing.toml"))
        .arg("--reports")
        .arg(reports.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(
        stderr.matches("crossgrade/never-built:1.0").count(),
        1,
        "{stderr}"
    );
    assert!(stderr.contains("crossgrade images build -f"), "{stderr}");
    assert_eq!(
        std::fs::read_dir(reports.path()).unwrap().count(),
        0,
        "no report, no latest"
    );
}

/// The report folder a run wrote under `reports` (its `latest`).
fn latest(reports: &Path) -> std::path::PathBuf {
    reports.join("latest")
}

#[test]
fn partial_runs_merge_into_the_report_of_one_run() {
    ensure_fixture_images();
    let matrix = fixture_matrix();
    let snaps = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (full, a, b, again) = (
        dir.path().join("full"),
        dir.path().join("a"),
        dir.path().join("b"),
        dir.path().join("again"),
    );
    // The three node=1.0 cells in one run, then in two parts, then the first part once more.
    run_cli(&matrix, &full, snaps.path(), &["--cell", "node=1.0"]);
    run_cli(&matrix, &a, snaps.path(), &["--trial", PASSES]);
    run_cli(
        &matrix,
        &b,
        snaps.path(),
        &["--trial", FAILS, "--trial", NEW],
    );
    run_cli(&matrix, &again, snaps.path(), &["--trial", PASSES]);
    let merged = dir.path().join("merged");
    let out = crossgrade()
        .args(["report", "merge"])
        .args([latest(&a), latest(&b), latest(&again)])
        .arg("--into")
        .arg(&merged)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!(
            "{PASSES} was recorded more than once: kept the newest"
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains("merged 3 reports: 3 of 3 planned trials"),
        "{stdout}"
    );

    let read = |d: &Path| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(d.join("results.json")).unwrap()).unwrap()
    };
    let (one, m) = (read(&latest(&full)), read(&merged));
    for key in [
        "counts", "changes", "planned", "complete", "red", "selected",
    ] {
        assert_eq!(one[key], m[key], "{key} differs");
    }
    let ids_and_verdicts = |r: &serde_json::Value| -> Vec<(String, String)> {
        r["trials"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| (t["id"].to_string(), t["verdict"].to_string()))
            .collect()
    };
    assert_eq!(ids_and_verdicts(&one), ids_and_verdicts(&m));
    let statuses = |d: &Path| -> Vec<(String, String)> {
        junit_cases(&d.join("junit.xml"))
            .into_iter()
            .map(|(name, status, ..)| (name, status))
            .collect()
    };
    assert_eq!(statuses(&latest(&full)), statuses(&merged));
    // Each trial's folder came along: its record and its logs.
    let failing = trial(&m, FAILS);
    assert!(merged
        .join(failing["logs_dir"].as_str().unwrap())
        .read_dir()
        .unwrap()
        .next()
        .is_some());
    // Reports of another system do not merge.
    let other = dir.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    let mut r = read(&latest(&a));
    r["system"] = "other".into();
    std::fs::write(other.join("results.json"), r.to_string()).unwrap();
    let out = crossgrade()
        .args(["report", "merge"])
        .arg(latest(&a))
        .arg(&other)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("do not merge"));
}

#[test]
fn accept_records_a_finished_run_and_shows_each_change() {
    ensure_fixture_images();
    let matrix = fixture_matrix();
    let reports = tempfile::tempdir().unwrap();
    let snaps = tempfile::tempdir().unwrap();
    let store = Store::new(snaps.path());
    // The baseline says the passing cell failed and the failing one passed.
    store
        .write(
            PASSES,
            "verdict: fail\nstep: 3 run client.put on client-0\nreason: it used to fail",
        )
        .unwrap();
    store.write(FAILS, "verdict: pass").unwrap();
    run_cli(
        &matrix,
        reports.path(),
        snaps.path(),
        &["--trial", PASSES, "--trial", FAILS],
    );
    let r = results(reports.path());
    let why = |id: &str| format!("{id}: {}", trial(&r, id)["reason"]);
    assert_eq!(trial(&r, PASSES)["verdict"], "pass", "{}", why(PASSES));
    assert_eq!(trial(&r, FAILS)["verdict"], "fail", "{}", why(FAILS));
    let accept = |extra: &[&str]| {
        crossgrade()
            .arg("accept")
            .arg(reports.path().join("latest"))
            .arg("--snapshots")
            .arg(snaps.path())
            .args(extra)
            .output()
            .unwrap()
    };
    // The fix is recorded with its diff; the regression is not, and that is red.
    let out = accept(&[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "{PASSES} [fixed]\n- verdict: fail\n+ verdict: pass\n- step: 3"
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("not recorded: {FAILS} regressed")),
        "{stdout}"
    );
    assert_eq!(
        store.read(PASSES).unwrap().as_deref(),
        Some("verdict: pass")
    );
    assert_eq!(store.read(FAILS).unwrap().as_deref(), Some("verdict: pass"));
    // Asked for, the regression is recorded; then nothing is left to record.
    let out = accept(&["--trial", FAILS, "--regressions"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(store
        .read(FAILS)
        .unwrap()
        .unwrap()
        .starts_with("verdict: fail\nstep: "));
    let out = accept(&[]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("baseline: 0 snapshots written"));
    // A trial the run does not hold is bad input.
    let out = accept(&["--trial", "fixture/basic/node=9.9,client=1.0"]);
    assert_eq!(out.status.code(), Some(2));
}
