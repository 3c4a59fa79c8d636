//! What the end-to-end test files share: paths, image building (once, under a lock), the CLI, and
//! counting what the engine still holds.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crossgrade::runtime::{Backend, Engine, LABEL_OWNER, LABEL_RUN, LABEL_TRIAL};

pub mod second_engine;

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// The `crossgrade` binary of this build.
pub fn crossgrade() -> Command {
    Command::new(env!("CARGO_BIN_EXE_crossgrade"))
}

/// Builds the images of `matrix` (skipped by content hash when up to date). A file lock keeps parallel
/// test processes (nextest) from building at the same time; the trials test binary takes it too.
pub fn ensure_images(matrix: &Path) {
    ensure_images_with(matrix, &[]);
}

/// [`ensure_images`] with `env` set for the build (`CROSSGRADE_REACH=engine` also builds the relay
/// helper).
pub fn ensure_images_with(matrix: &Path, env: &[(&str, &str)]) {
    let lock_path = workspace().join("target/.crossgrade-images.lock");
    let lock = std::fs::File::create(&lock_path).unwrap();
    lock.lock().unwrap();
    let status = crossgrade()
        .args(["images", "build", "-f"])
        .arg(matrix)
        .envs(env.iter().copied())
        .status()
        .unwrap();
    assert!(status.success(), "building the images of {matrix:?} failed");
}

/// The trial `id` of a run's `results.json`.
pub fn trial<'a>(results: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    results["trials"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == id)
        .unwrap_or_else(|| panic!("no trial {id} in results.json"))
}

/// The harness's own test system: `fixture.toml` at the workspace root.
pub fn fixture_matrix() -> PathBuf {
    workspace().join("fixture.toml")
}

/// The fixture's images, once per test process.
pub fn ensure_fixture_images() {
    static ONCE: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    ONCE.get_or_init(|| ensure_images(&fixture_matrix()));
}

/// Objects in the engine labelled `crossgrade.run` whose labels pass `filter`.
pub fn leftovers(filter: impl Fn(&HashMap<String, String>) -> bool) -> usize {
    rt().block_on(async {
        let e = Engine::connect().await.unwrap();
        let c = e.containers_labelled(LABEL_RUN).await.unwrap();
        let n = e.networks_labelled(LABEL_RUN).await.unwrap();
        let v = e.volumes_labelled(LABEL_RUN).await.unwrap();
        c.iter()
            .chain(&n)
            .chain(&v)
            .filter(|o| filter(&o.labels))
            .count()
    })
}

pub fn leftovers_of_run(run_id: &str) -> usize {
    leftovers(|l| l.get(LABEL_RUN).map(String::as_str) == Some(run_id))
}

pub fn leftovers_of_pid(pid: u32) -> usize {
    leftovers(|l| {
        l.get(LABEL_OWNER)
            .is_some_and(|o| o.split(':').nth(1) == Some(&pid.to_string()))
    })
}

pub fn leftovers_of_trial(trial_id: &str) -> usize {
    leftovers(|l| l.get(LABEL_TRIAL).map(String::as_str) == Some(trial_id))
}

/// Waits for `child` to exit, at most `within`.
pub fn wait_exit(child: &mut std::process::Child, within: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "the process did not exit within {within:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Polls `cond` every 100 ms until it holds; panics naming `what` after `within`.
pub fn wait_for(what: &str, within: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "timed out after {within:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Testcases of a JUnit file, parsed by an independent XML parser: (name, status element or "pass",
/// its `type`, its `message`).
pub fn junit_cases(path: &Path) -> Vec<(String, String, String, String)> {
    let text = std::fs::read_to_string(path).unwrap();
    let doc = roxmltree::Document::parse(&text).expect("junit.xml is well-formed XML");
    assert_eq!(doc.root_element().tag_name().name(), "testsuites");
    doc.descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .map(|case| {
            let status = case
                .children()
                .find(|c| ["failure", "error", "skipped"].contains(&c.tag_name().name()));
            (
                case.attribute("name").unwrap().to_string(),
                status.map_or("pass".into(), |s| s.tag_name().name().to_string()),
                status
                    .and_then(|s| s.attribute("type"))
                    .unwrap_or("")
                    .to_string(),
                status
                    .and_then(|s| s.attribute("message"))
                    .unwrap_or("")
                    .to_string(),
            )
        })
        .collect()
}
