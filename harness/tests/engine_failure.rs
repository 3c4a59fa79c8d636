//! The engine failing under a run. The engine is a second `dockerd` the test starts itself
//! (common::second_engine), so that killing it never touches the machine's own: its daemon is killed
//! in the middle of a trial and brought back, and a run is started while it is down. Then the disk
//! holding the reports fills up (a small tmpfs, on the machine's engine).
//!
//! They need root and a `dockerd` binary; without them they say why and pass as skipped.

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::second_engine::{second_engine_unavailable, SecondEngine};
use common::*;

const MATRIX: &str = "engine-failure.toml";
const DIES: &str = "enginefail/engine-dies/node=1.0";
const QUEUED: &str = "enginefail/basic/node=1.0";

/// Prints why the test cannot run on this machine, if it cannot.
fn cannot(test: &str, why: Option<String>) -> bool {
    match why {
        Some(why) => {
            eprintln!("SKIPPED {test}: {why}");
            true
        }
        None => false,
    }
}

/// A `crossgrade` process whose stdout and stderr go to files; killed if the test ends first.
struct Cli {
    child: Child,
    out: PathBuf,
    err: PathBuf,
}

impl Cli {
    fn spawn(args: &[&str], docker_host: Option<&str>, logs: &Path, name: &str) -> Cli {
        let (out, err) = (
            logs.join(format!("{name}.out")),
            logs.join(format!("{name}.err")),
        );
        let mut cmd = crossgrade();
        cmd.args(args)
            .current_dir(workspace())
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::fs::File::create(&err).unwrap());
        match docker_host {
            Some(h) => cmd.env("DOCKER_HOST", h),
            None => cmd.env_remove("DOCKER_HOST"),
        };
        Cli {
            child: cmd.spawn().unwrap(),
            out,
            err,
        }
    }

    /// Waits for the exit, at most `within`; its code and everything it printed.
    fn finish(&mut self, within: Duration) -> (Option<i32>, String) {
        let status = wait_exit(&mut self.child, within);
        let printed = std::fs::read_to_string(&self.out).unwrap()
            + &std::fs::read_to_string(&self.err).unwrap();
        (status.code(), printed)
    }
}

impl Drop for Cli {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `crossgrade run` of the engine-failure matrix, one trial at a time, reports under `reports`.
fn run_args(reports: &Path, snapshots: &Path) -> Vec<String> {
    let m = fixture(MATRIX);
    [
        "run",
        "-f",
        m.to_str().unwrap(),
        "-j",
        "1",
        "--reports",
        reports.to_str().unwrap(),
        "--snapshots",
        snapshots.to_str().unwrap(),
    ]
    .map(String::from)
    .to_vec()
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// Whether a process of a trial in `engine` is in `fixture hang`: the trial is blocked in that step.
fn blocked_in_hang(engine: &SecondEngine) -> bool {
    let ids = engine.docker_out(&["ps", "-q", "--filter", "label=crossgrade.run"]);
    ids.split_whitespace().any(|id| {
        engine
            .docker()
            .args(["top", id])
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("/fixture hang"))
    })
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![];
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() && !p.is_symlink() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// Every report file under `root` is whole: JSON parses, JUnit parses as XML, the HTML page is
/// closed, and no temporary file of an unfinished write is left. Returns how many were checked.
fn assert_report_files_whole(root: &Path) -> usize {
    let mut checked = 0;
    for p in files_under(root) {
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            !name.contains(".tmp-"),
            "a temporary file of an unfinished write is left: {}",
            p.display()
        );
        if p.is_symlink() || name == ".lock" {
            continue;
        }
        let text = std::fs::read_to_string(&p)
            .unwrap_or_else(|e| panic!("{} cannot be read: {e}", p.display()));
        if name.ends_with(".json") {
            serde_json::from_str::<serde_json::Value>(&text)
                .unwrap_or_else(|e| panic!("{} is not whole JSON: {e}", p.display()));
        } else if name.ends_with(".xml") {
            roxmltree::Document::parse(&text)
                .unwrap_or_else(|e| panic!("{} is not whole XML: {e}", p.display()));
        } else if name.ends_with(".log") {
            // Whole sections only: one per incarnation, each with its header first.
            assert!(
                text.starts_with("===== ") && text.ends_with('\n'),
                "{} is not whole sections: {text:?}",
                p.display()
            );
        } else if name.ends_with(".html") {
            assert!(
                text.trim_end().ends_with("</html>"),
                "{} is cut short",
                p.display()
            );
        } else {
            assert!(!text.is_empty(), "{} is empty", p.display());
        }
        checked += 1;
    }
    checked
}

fn trial<'a>(results: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    results["trials"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == id)
        .unwrap_or_else(|| panic!("{id} is not in results.json"))
}

#[test]
fn an_engine_killed_mid_trial_errors_the_trial_and_leaves_nothing_once_back() {
    let test = "an_engine_killed_mid_trial_errors_the_trial_and_leaves_nothing_once_back";
    if cannot(test, second_engine_unavailable()) {
        return;
    }
    ensure_fixture_images();
    let mut engine = SecondEngine::start();
    engine.load_images(&["crossgrade/fixture:1.0"]);
    let work = tempfile::tempdir().unwrap();
    let (reports, snapshots) = (work.path().join("reports"), work.path().join("snapshots"));
    let args = run_args(&reports, &snapshots);

    // The engine dies while a trial waits in an exec.
    let mut run = Cli::spawn(&strs(&args), Some(&engine.host), work.path(), "run");
    wait_for(
        "a trial to block in `fixture hang`",
        Duration::from_secs(90),
        || {
            assert!(
                run.child.try_wait().unwrap().is_none(),
                "the run ended before the engine died: {}",
                std::fs::read_to_string(&run.err).unwrap_or_default()
            );
            blocked_in_hang(&engine)
        },
    );
    engine.kill();
    let killed = Instant::now();
    // The exec would hang for 150 s: ending well before says the harness noticed the engine.
    let (code, printed) = run.finish(Duration::from_secs(60));
    eprintln!(
        "the run ended {:.1}s after the engine died; it printed:\n{printed}",
        killed.elapsed().as_secs_f64()
    );
    assert_eq!(code, Some(1), "a run with an error is red:\n{printed}");

    // A report whose files are whole, with the trial in `error` (never `fail`).
    let latest = reports.join("latest");
    let run_dir = reports.join(std::fs::read_link(&latest).expect("reports/latest is written"));
    assert!(assert_report_files_whole(&reports) >= 6);
    let results: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run_dir.join("results.json")).unwrap()).unwrap();
    assert_eq!(results["complete"], true, "{results:#}");
    let dies = trial(&results, DIES);
    assert_eq!(dies["verdict"], "error", "{dies:#}");
    assert_eq!(dies["failed_step"], 3, "the exec step: {dies:#}");
    let reason = dies["reason"].as_str().unwrap();
    assert!(reason.contains("Docker engine"), "{reason}");
    // The trial queued behind it ran before the engine died, or after and then could not.
    let queued = &trial(&results, QUEUED)["verdict"];
    assert!(queued == "pass" || queued == "error", "{queued}");
    for t in results["trials"].as_array().unwrap() {
        assert_ne!(
            t["verdict"], "fail",
            "the engine's death is no failure of the system: {t:#}"
        );
    }
    assert_eq!(results["counts"]["fail"], 0);
    let junit = std::fs::read_to_string(run_dir.join("junit.xml")).expect("junit.xml is written");
    let doc = roxmltree::Document::parse(&junit).unwrap();
    let case = doc
        .descendants()
        .find(|n| {
            n.has_tag_name("testcase")
                && n.attribute("name")
                    .is_some_and(|a| a.contains("engine-dies"))
        })
        .expect("a testcase for the trial");
    assert!(
        case.children().any(|c| c.has_tag_name("error")),
        "junit: {junit}"
    );

    // A run started while the engine is down says so once, writes no report and leaves
    // reports/latest where it was.
    let runs_before = std::fs::read_dir(&reports).unwrap().count();
    let mut down = Cli::spawn(&strs(&args), Some(&engine.host), work.path(), "down");
    let (code, printed) = down.finish(Duration::from_secs(60));
    eprintln!("a run while the engine was down printed:\n{printed}");
    assert_eq!(
        code,
        Some(1),
        "an engine that cannot be used exits 1:\n{printed}"
    );
    assert_eq!(
        printed.matches("unreachable").count(),
        1,
        "the engine is unreachable, said exactly once:\n{printed}"
    );
    assert!(
        printed.contains(&engine.host),
        "names the engine:\n{printed}"
    );
    assert_eq!(
        reports.join(std::fs::read_link(&latest).unwrap()),
        run_dir,
        "reports/latest moved"
    );
    assert_eq!(std::fs::read_dir(&reports).unwrap().count(), runs_before);

    // Back up: what the dead run left is there until `crossgrade gc` removes it.
    engine.launch();
    let left = engine.labelled();
    assert!(
        !left.is_empty(),
        "the killed engine should have kept the trial's objects for gc to remove"
    );
    let mut gc = Cli::spawn(&["gc"], Some(&engine.host), work.path(), "gc");
    let (code, printed) = gc.finish(Duration::from_secs(120));
    eprintln!("gc once the engine was back (it held {left:?}):\n{printed}");
    assert_eq!(code, Some(0), "{printed}");
    assert_eq!(
        engine.labelled(),
        Vec::<String>::new(),
        "left after gc (before: {left:?})"
    );
}

/// A tmpfs mounted on a fresh folder; unmounted and removed when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Tmpfs {
        let dir = tempfile::tempdir().unwrap();
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(status.success(), "mounting a tmpfs on {:?}", dir.path());
        Tmpfs { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let unmounted = std::process::Command::new("umount")
            .arg(self.dir.path())
            .status()
            .is_ok_and(|s| s.success());
        if !unmounted {
            let _ = std::process::Command::new("umount")
                .arg("-l")
                .arg(self.dir.path())
                .status();
        }
    }
}

/// The disk holding the reports fills up: at 12 KiB (three pages) before the trial's four container
/// logs are saved, at 24 KiB after them, while the report files are written. Either way the run is an
/// error that names ENOSPC, and every file left is whole.
#[test]
fn a_full_report_disk_is_an_error_naming_enospc_and_leaves_no_half_written_file() {
    let test = "a_full_report_disk_is_an_error_naming_enospc_and_leaves_no_half_written_file";
    let why = (unsafe { libc::geteuid() } != 0)
        .then(|| "not root: mounting a small tmpfs for the reports needs root".to_string());
    if cannot(test, why) {
        return;
    }
    ensure_fixture_images();
    for (size, what) in [
        ("12k", "cannot save the log of"),
        ("24k", "writing the report to"),
    ] {
        let work = tempfile::tempdir().unwrap();
        let disk = Tmpfs::mount(size);
        let m = fixture_matrix();
        let snapshots = work.path().join("snapshots");
        let args = [
            "run",
            "-f",
            m.to_str().unwrap(),
            "--trial",
            "fixture/basic/node=1.0,client=1.0",
            "--reports",
            disk.path().to_str().unwrap(),
            "--snapshots",
            snapshots.to_str().unwrap(),
        ];
        let mut run = Cli::spawn(&args, None, work.path(), "run");
        let pid = run.child.id();
        let started = Instant::now();
        let (code, printed) = run.finish(Duration::from_secs(120));
        eprintln!(
            "with {size} for the reports the run took {:.1}s and printed:\n{printed}",
            started.elapsed().as_secs_f64()
        );
        assert_eq!(code, Some(1), "{size}: {printed}");
        assert!(
            printed.contains(what) && printed.contains("No space left on device"),
            "{size}: the error and its cause are named:\n{printed}"
        );
        assert!(!printed.contains("panicked"), "{size}: {printed}");
        assert_report_files_whole(disk.path());
        assert_eq!(leftovers_of_pid(pid), 0, "{size}");
    }
}

/// `DOCKER_HOST=tcp://…` is the engine every command speaks to (never the local socket instead):
/// the second engine, on loopback TCP, holds only the fixture's 1.0 image, so `images list` says the
/// others are missing there (the machine's engine has them all) and a trial of 1.0 runs on it; an
/// ssh:// host is refused with what to do instead.
#[test]
fn the_engine_docker_host_names_over_tcp_is_the_one_spoken_to() {
    let test = "the_engine_docker_host_names_over_tcp_is_the_one_spoken_to";
    if cannot(test, second_engine_unavailable()) {
        return;
    }
    ensure_fixture_images();
    let engine = SecondEngine::start();
    engine.load_images(&["crossgrade/fixture:1.0"]);
    let fixture = workspace().join("fixture.toml");
    let with_host = |host: &str, args: &[&str]| {
        let out = crossgrade()
            .env("DOCKER_HOST", host)
            .args(args)
            .arg("-f")
            .arg(&fixture)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, listed, err) = with_host(&engine.tcp, &["images", "list"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        listed.contains("present  crossgrade/fixture:1.0"),
        "{listed}"
    );
    assert!(
        listed.contains("MISSING  crossgrade/fixture:1.1"),
        "{listed}"
    );
    let (code, doctor, _) = with_host(&engine.tcp, &["doctor"]);
    assert!(doctor.contains("engine    ok"), "{doctor}");
    assert_eq!(code, Some(1), "images are missing there: {doctor}");

    let work = tempfile::tempdir().unwrap();
    let reports = work.path().join("reports");
    let snapshots = work.path().join("snapshots");
    let (code, out, err) = with_host(
        &engine.tcp,
        &[
            "run",
            "--trial",
            "fixture/basic/node=1.0,client=1.0",
            "--reports",
            reports.to_str().unwrap(),
            "--snapshots",
            snapshots.to_str().unwrap(),
        ],
    );
    assert!(out.contains("1 pass"), "{out}{err}");
    assert_eq!(code, Some(0), "{out}{err}");

    let (code, _, err) = with_host("ssh://someone@elsewhere", &["images", "list"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("does not speak to engines over ssh"), "{err}");
}
