//! The trials test binary as nextest and libtest see it: the listing (format, count, nothing else on
//! stdout, no Docker touched), filters and `--exact`, a changed verdict shown as insta's snapshot diff,
//! and a trial stopped by nextest's own timeout leaving nothing behind.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crossgrade::baseline::Store;

mod common;
use common::*;

/// The `trials` test binary of this build: beside this test's own executable.
fn trials_binary() -> PathBuf {
    let me = std::env::current_exe().unwrap();
    let deps = me.parent().unwrap();
    std::fs::read_dir(deps)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            name.starts_with("trials-") && p.extension().is_none()
        })
        .max_by_key(|p| p.metadata().and_then(|m| m.modified()).ok())
        .expect("the trials test binary is built beside this one")
}

/// Runs the trials binary with `args` on `matrix` (default: the workspace's), Docker unreachable
/// unless `docker` is true.
fn trials(matrix: Option<&Path>, docker: bool, args: &[&str]) -> Command {
    let mut cmd = Command::new(trials_binary());
    cmd.args(args).current_dir(env!("CARGO_MANIFEST_DIR"));
    match matrix {
        Some(m) => cmd.env("CROSSGRADE_MATRIX", m),
        None => cmd.env_remove("CROSSGRADE_MATRIX"),
    };
    if !docker {
        cmd.env("DOCKER_HOST", "unix:///nonexistent/docker.sock");
    }
    cmd
}

fn plan_ids(matrix: &Path) -> Vec<String> {
    ids_of(matrix, &[])
}

fn subset_ids(matrix: &Path, subset: &str) -> Vec<String> {
    ids_of(matrix, &["--subset", subset])
}

/// `crossgrade plan --ids` of `matrix`, with `filters`.
fn ids_of(matrix: &Path, filters: &[&str]) -> Vec<String> {
    let out = crossgrade()
        .args(["plan", "--ids"])
        .args(filters)
        .arg("-f")
        .arg(matrix)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn listed(out: &Output) -> Vec<String> {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| {
            l.strip_suffix(": test")
                .unwrap_or_else(|| panic!("not a terse listing line: {l:?}"))
                .to_string()
        })
        .collect()
}

#[test]
fn listing_is_one_test_per_trial_and_nothing_else_without_docker() {
    for matrix in [fixture_matrix(), fixture("edge.toml")] {
        let out = trials(Some(&matrix), false, &["--list", "--format", "terse"])
            .output()
            .unwrap();
        assert_eq!(listed(&out), plan_ids(&matrix), "{matrix:?}");
        assert!(
            out.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // nextest also asks for the ignored tests: there are none.
        let out = trials(
            Some(&matrix),
            false,
            &["--list", "--format", "terse", "--ignored"],
        )
        .output()
        .unwrap();
        assert!(listed(&out).is_empty());
    }
    // Without CROSSGRADE_MATRIX: the workspace's matrix.toml, then the `quick` subsets of the etcd,
    // Redis and PostgreSQL matrices.
    let out = trials(None, false, &["--list", "--format", "terse"])
        .output()
        .unwrap();
    let mut expected = plan_ids(&workspace().join("matrix.toml"));
    for m in ["etcd.toml", "redis.toml", "postgres.toml"] {
        let ids = subset_ids(&workspace().join(m), "quick");
        assert!(ids.len() >= 3, "{m}: {ids:?}");
        expected.extend(ids);
    }
    assert_eq!(listed(&out), expected);
}

#[test]
fn crossgrade_matrix_lists_several_matrices_and_subsets() {
    let list = |value: &str| {
        let mut cmd = trials(None, false, &["--list", "--format", "terse"]);
        cmd.env("CROSSGRADE_MATRIX", value);
        cmd.output().unwrap()
    };
    let out = list("fixture.toml, etcd.toml:quick");
    let mut expected = plan_ids(&fixture_matrix());
    expected.extend(subset_ids(&workspace().join("etcd.toml"), "quick"));
    assert_eq!(listed(&out), expected);

    // An unknown subset, and a trial listed twice, are bad input: exit 2, nothing listed.
    for (value, says) in [
        ("etcd.toml:slow", "no subset `slow`"),
        ("fixture.toml,fixture.toml", "is in both"),
    ] {
        let out = list(value);
        assert_eq!(out.status.code(), Some(2), "{value}");
        assert!(out.stdout.is_empty(), "{value}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{value}: {err}");
    }
}

#[test]
fn bad_matrix_fails_the_listing_with_its_position() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("matrix.toml");
    std::fs::write(&bad, "[system]\nname = \"x\"\nreleases = [\"1.0\"\n").unwrap();
    let out = trials(Some(&bad), false, &["--list", "--format", "terse"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("matrix.toml:3:"), "{err}");
}

#[test]
fn exact_and_substring_filters_select_trials() {
    let matrix = fixture_matrix();
    let one = "fixture/basic/node=1.0,client=2.0";
    let out = trials(
        Some(&matrix),
        false,
        &["--list", "--format", "terse", "--exact", one],
    )
    .output()
    .unwrap();
    assert_eq!(listed(&out), vec![one.to_string()]);
    let out = trials(
        Some(&matrix),
        false,
        &["--list", "--format", "terse", "client=2.0"],
    )
    .output()
    .unwrap();
    assert_eq!(
        listed(&out),
        plan_ids(&matrix)
            .into_iter()
            .filter(|id| id.contains("client=2.0"))
            .collect::<Vec<_>>()
    );
}

#[test]
fn nextest_filtersets_select_trials_by_id() {
    // The real cargo-nextest, on the same build as the README's test command.
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "nextest",
            "list",
            "--workspace",
            "--message-format",
            "oneline",
            "-E",
            r"binary(trials) & (test(/node=2\.0/) | test(=fixture/basic/node=1.0\,client=1.0))",
        ])
        .current_dir(workspace())
        .env("CROSSGRADE_MATRIX", "fixture.toml")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut names: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("crossgrade::trials "))
        .collect();
    names.sort();
    assert_eq!(
        names,
        vec![
            "fixture/basic/node=1.0,client=1.0",
            "fixture/basic/node=2.0,client=1.0",
            "fixture/basic/node=2.0,client=1.1",
            "fixture/basic/node=2.0,client=2.0",
            "fixture/history/node=2.0,client=2.0",
            "fixture/printed-history/node=2.0,client=2.0",
        ],
        "{stdout}"
    );
}

#[test]
fn a_changed_verdict_shows_as_a_snapshot_diff() {
    ensure_fixture_images();
    let id = "fixture/basic/node=1.0,client=2.0";
    let snaps = tempfile::tempdir().unwrap();
    let reports = tempfile::tempdir().unwrap();
    let store = Store::new(snaps.path());
    store.write(id, "verdict: pass").unwrap();
    let run = |ci: bool| {
        let mut cmd = trials(Some(&fixture_matrix()), true, &["--exact", id]);
        cmd.env("CROSSGRADE_SNAPSHOTS", snaps.path())
            .env("CROSSGRADE_REPORTS", reports.path())
            .env_remove("INSTA_UPDATE")
            .env_remove("INSTA_FORCE_PASS");
        if ci {
            cmd.env("CI", "true");
        } else {
            cmd.env_remove("CI").env("INSTA_UPDATE", "new");
        }
        cmd.output().unwrap()
    };

    let out = run(true);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "a regression fails the test: {text}");
    // insta's diff: the recorded line goes, the new ones come.
    assert!(text.contains("Snapshot Summary"), "{text}");
    assert!(text.contains("│-verdict: pass"), "{text}");
    assert!(text.contains("│+verdict: fail"), "{text}");
    assert!(
        text.contains("│+step: 3 run client.put on client-0"),
        "{text}"
    );
    assert!(text.contains("regressed against the baseline"), "{text}");
    let (folder, name) = store.location(id);
    let pending = folder.join(format!("{name}.snap.new"));
    assert!(!pending.exists(), "with CI set, insta writes no .snap.new");

    // Outside CI the new snapshot waits for `cargo insta review`.
    let out = run(false);
    assert!(!out.status.success());
    let pending_text = std::fs::read_to_string(&pending).expect("a .snap.new to review");
    assert!(pending_text.contains("verdict: fail"), "{pending_text}");
    assert!(pending_text.contains("no such endpoint"), "{pending_text}");
    // The baseline itself is untouched until accepted.
    assert_eq!(store.read(id).unwrap().as_deref(), Some("verdict: pass"));
}

#[test]
fn a_trial_killed_by_nextest_leaves_nothing_behind() {
    ensure_fixture_images();
    // A system whose one trial hangs in a step far longer than the profile's slow-timeout.
    let dir = tempfile::tempdir().unwrap();
    let system = format!("terminated{}", std::process::id());
    std::fs::create_dir(dir.path().join("scenarios")).unwrap();
    std::fs::write(
        dir.path().join("matrix.toml"),
        format!(
            r#"[system]
name = "{system}"
releases = ["1.0"]
scenarios = "scenarios"

[roles.node]
image = "crossgrade/fixture:{{release}}"
replicas = 2
command = ["node", "--name", "{{name}}", "--peers", "{{replicas.node}}", "--port", "8080", "--data", "/data"]
data = "/data"
ready = {{ log = "listening on", timeout = "10s" }}

[roles.client]
image = "crossgrade/fixture:{{release}}"
command = ["idle"]
ready = {{ log = "idle ready", timeout = "10s" }}

[roles.client.actions.hang]
exec = ["/fixture", "hang"]
timeout = "5m"

[matrix]
scenarios = ["hang"]
"#
        ),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("scenarios/hang.toml"),
        "kind = \"cell\"\n[[step]]\ndo = \"start\"\n[[step]]\ndo = \"run\"\naction = \"client.hang\"\n",
    )
    .unwrap();
    let trial = format!("{system}/hang/node=1.0,client=1.0");

    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "nextest",
            "run",
            "--workspace",
            "--profile",
            "terminate-test",
            "--no-fail-fast",
            "-E",
        ])
        .arg(format!(
            "binary(trials) & test(={})",
            trial.replace(',', r"\,")
        ))
        .current_dir(workspace())
        .env("CROSSGRADE_MATRIX", dir.path().join("matrix.toml"))
        .env("CROSSGRADE_REPORTS", dir.path().join("reports"))
        .env("CROSSGRADE_SNAPSHOTS", dir.path().join("snapshots"))
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("TIMEOUT"),
        "nextest timed the trial out: {text}"
    );
    // The trial got as far as its containers, and the test process removed them all before it exited.
    assert!(
        text.contains("step 2/2 run client.hang"),
        "the trial was running its hanging step: {text}"
    );
    assert_eq!(leftovers_of_trial(&trial), 0, "{text}");
}

/// Copies the files under `from` into `to`, leaving out folders named in `skip`.
fn copy_dir(from: &Path, to: &Path, skip: &[&str]) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let name = e.file_name();
        if e.file_type().unwrap().is_dir() {
            if !skip.contains(&name.to_string_lossy().as_ref()) {
                copy_dir(&e.path(), &to.join(&name), skip);
            }
        } else {
            std::fs::copy(e.path(), to.join(&name)).unwrap();
        }
    }
}

/// The trials of the subset the archive test runs: a 2 × 2 grid of the fixture's `basic`, two
/// passing and two failing (a client and a server a major release apart).
const PARTS: [&str; 4] = [
    "fixture/basic/node=1.0,client=1.0",
    "fixture/basic/node=1.0,client=2.0",
    "fixture/basic/node=2.0,client=1.0",
    "fixture/basic/node=2.0,client=2.0",
];

/// What the trials read, copied out of the workspace into `to`: the fixture's matrix (with a
/// `[subsets.parts]` of [`PARTS`]), scenarios and image sources; nextest's config; and what nextest
/// itself needs of a remapped workspace (its `Cargo.toml`, the package's folder, where the tests
/// start). No baseline: every trial is new, the same in every run whatever the workspace's
/// snapshots say.
fn checkout_for_the_fixture(to: &Path) {
    let ws = workspace();
    let mut matrix = std::fs::read_to_string(ws.join("fixture.toml")).unwrap();
    matrix.push_str("\n[subsets.parts]\ntrials = [\n");
    for id in PARTS {
        matrix.push_str(&format!("  \"{id}\",\n"));
    }
    matrix.push_str("]\n");
    std::fs::create_dir_all(to).unwrap();
    std::fs::write(to.join("fixture.toml"), matrix).unwrap();
    std::fs::copy(ws.join("Cargo.toml"), to.join("Cargo.toml")).unwrap();
    std::fs::create_dir_all(to.join("harness")).unwrap();
    std::fs::create_dir_all(to.join(".config")).unwrap();
    std::fs::copy(
        ws.join(".config/nextest.toml"),
        to.join(".config/nextest.toml"),
    )
    .unwrap();
    for sub in ["scenarios/fixture", "images/fixture"] {
        copy_dir(&ws.join(sub), &to.join(sub), &["bin", "target"]);
    }
}

/// The report folders nextest runs wrote under `reports`, by name.
fn nextest_reports(reports: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(reports)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("nextest-"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn read_results(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("results.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// `summary.md` from its first section on (the attention list, the grids, the paths, the suspects),
/// without the heading lines (duration, provenance) and with the run's name as `RUN`.
fn summary_body(dir: &Path) -> String {
    let text = std::fs::read_to_string(dir.join("summary.md")).unwrap();
    let at = text.find("\n## ").expect("summary.md has sections");
    let run = read_results(dir)["run_id"].as_str().unwrap().to_string();
    text[at..].replace(&run, "RUN")
}

/// Issue 18: the trials test binary archived with `cargo nextest archive`, run from the archive in
/// another folder (`--workspace-remap`, the workspace found when the tests run) as two hash
/// partitions one after the other, each into a report folder of its own, merged with `crossgrade
/// report merge`: the same counts, grid, JUnit and results as one unpartitioned run of the archive.
#[test]
fn archived_partitions_merge_into_the_report_of_one_run() {
    ensure_fixture_images();
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("trials.tar.zst");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    // The build of the README's test command (so nothing is compiled), its trials binary only.
    let out = Command::new(&cargo)
        .args(["nextest", "archive", "--workspace", "-E", "binary(trials)"])
        .arg("--archive-file")
        .arg(&archive)
        .current_dir(workspace())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let checkout = dir.path().join("checkout");
    checkout_for_the_fixture(&checkout);
    let reports = checkout.join("reports");
    let nextest = |command: &str, partition: Option<&str>| {
        let mut cmd = Command::new(&cargo);
        cmd.args(["nextest", command, "--archive-file"])
            .arg(&archive)
            .arg("--workspace-remap")
            .arg(&checkout)
            .args(["--profile", "default"])
            .current_dir(dir.path())
            .env("CROSSGRADE_MATRIX", "fixture.toml:parts")
            .env_remove("CROSSGRADE_REPORTS")
            .env_remove("CROSSGRADE_SNAPSHOTS")
            // No `.snap.new` files: the baseline stays as it is (none) from run to run.
            .env("CI", "true")
            .env_remove("INSTA_UPDATE")
            .env_remove("INSTA_FORCE_PASS");
        if command == "run" {
            cmd.args(["--no-fail-fast", "--no-tests", "pass"]);
        }
        if let Some(p) = partition {
            cmd.args(["--partition", p]);
        }
        let out = cmd.output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        // A new failing trial is red: its test fails, and nextest says so with exit code 100.
        assert!(
            matches!(out.status.code(), Some(0 | 100)),
            "nextest {command} {partition:?}: {text}"
        );
        text
    };

    // Listed from the remapped workspace's matrix: the four trials of its subset.
    let listed = nextest("list", None);
    for id in PARTS {
        assert!(listed.contains(id), "{id}: {listed}");
    }

    // The two partitions, one after the other, each in a report folder named by its nextest run and
    // partition (a partition the hash leaves empty runs nothing and writes none).
    let mut parts = vec![];
    for k in 1..=2 {
        let before = nextest_reports(&reports);
        nextest("run", Some(&format!("hash:{k}/2")));
        let new: Vec<String> = nextest_reports(&reports)
            .into_iter()
            .filter(|n| !before.contains(n))
            .collect();
        assert!(new.len() <= 1, "{new:?}");
        for name in new {
            assert!(name.ends_with(&format!("-hash-{k}-of-2-fixture")), "{name}");
            parts.push(reports.join(name));
        }
    }
    let recorded: Vec<Vec<String>> = parts
        .iter()
        .map(|p| {
            let r = read_results(p);
            assert_eq!(r["planned"], 4, "a part plans the whole subset");
            r["trials"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["id"].as_str().unwrap().to_string())
                .collect()
        })
        .collect();
    let mut all: Vec<String> = recorded.concat();
    all.sort();
    assert_eq!(
        all, PARTS,
        "the partitions ran every trial once: {recorded:?}"
    );

    // One unpartitioned run of the same archive. A failing trial with no baseline says why.
    let before = nextest_reports(&reports);
    let text = nextest("run", None);
    assert!(text.contains("2 failed"), "{text}");
    assert!(
        text.contains(&format!(
            "no baseline: {} does not exist",
            reports.join("snapshots").display()
        )),
        "{text}"
    );
    let whole: Vec<String> = nextest_reports(&reports)
        .into_iter()
        .filter(|n| !before.contains(n))
        .collect();
    assert_eq!(whole.len(), 1, "{whole:?}");
    assert!(!whole[0].contains("-of-"), "{}", whole[0]);
    let whole = reports.join(&whole[0]);

    let merged = dir.path().join("merged");
    let out = crossgrade()
        .args(["report", "merge"])
        .args(&parts)
        .arg("--into")
        .arg(&merged)
        .current_dir(&checkout)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    // Red (exit 1): the failures are new.
    assert_eq!(
        out.status.code(),
        Some(1),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("4 of 4 planned trials"), "{stdout}");

    let (one, m) = (read_results(&whole), read_results(&merged));
    assert_eq!(one["complete"], true);
    for key in [
        "counts",
        "changes",
        "planned",
        "complete",
        "red",
        "selected",
        "matrix",
        "snapshots",
    ] {
        assert_eq!(one[key], m[key], "{key} differs");
    }
    assert_eq!(one["counts"]["pass"], 2);
    assert_eq!(one["counts"]["fail"], 2);
    assert_eq!(one["changes"]["new"], 4);
    // The baseline is looked for in the remapped workspace, not in the one the binary was built in.
    assert!(
        one["snapshots"]
            .as_str()
            .unwrap()
            .starts_with(&checkout.display().to_string()),
        "{}",
        one["snapshots"]
    );
    let trials = |r: &serde_json::Value| -> Vec<serde_json::Value> {
        r["trials"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                serde_json::json!([
                    t["id"],
                    t["verdict"],
                    t["reason"],
                    t["failed_step"],
                    t["baseline"]["change"]
                ])
            })
            .collect()
    };
    assert_eq!(trials(&one), trials(&m));
    let cases = |d: &Path| -> Vec<(String, String, String)> {
        junit_cases(&d.join("junit.xml"))
            .into_iter()
            .map(|(name, status, ty, _)| (name, status, ty))
            .collect()
    };
    assert_eq!(cases(&whole), cases(&merged));
    assert_eq!(summary_body(&whole), summary_body(&merged));
}

/// A workspace that does not hold the matrix the tests name is said before anything is listed:
/// where the workspace was looked for, and how an archive finds it.
#[test]
fn a_workspace_without_the_matrix_is_a_clear_error() {
    let empty = tempfile::tempdir().unwrap();
    let out = trials(None, false, &["--list", "--format", "terse"])
        .env("CROSSGRADE_MATRIX", "fixture.toml")
        .env("NEXTEST_WORKSPACE_ROOT", empty.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no matrix `fixture.toml` in the workspace"),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "NEXTEST_WORKSPACE_ROOT={}",
            empty.path().display()
        )),
        "{err}"
    );
    assert!(err.contains("--workspace-remap"), "{err}");
}
