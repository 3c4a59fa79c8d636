//! Reaching replicas' ports through the engine, on an engine whose networks this host cannot reach:
//! a second `dockerd` of the test's own (common::second_engine), spoken to over loopback TCP, with
//! this host's traffic to its address pool dropped by an iptables chain of the test's own (taken
//! out when the test ends, however it ends; the host's `docker0` and its engine are not touched).
//! The same trial (HTTP and TCP readiness probes, the leader asked over HTTP, an HTTP action, HTTP
//! checks) passes through the engine, and is an `error` that says what to set when it is reached
//! directly, forced or as chosen for an engine on this host. Nothing is left in the engine.
//!
//! They need root, a `dockerd` binary and `iptables`; without them they say why and pass as
//! skipped.

use std::path::Path;
use std::process::{Command, Output, Stdio};

mod common;
use common::second_engine::{second_engine_unavailable, SecondEngine};
use common::*;

const MATRIX: &str = "reach.toml";
const TRIAL: &str = "reach/probes/node=1.0";
const RELAY_IMAGE: &str = "crossgrade/relay:bookworm";

/// Why this machine cannot run the test, if it cannot.
fn unavailable() -> Option<String> {
    second_engine_unavailable().or_else(|| {
        let iptables = Command::new("iptables")
            .args(["-w", "-L", "OUTPUT", "-n"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        (!iptables)
            .then(|| "no usable `iptables` to cut this host off the engine's networks".into())
    })
}

fn iptables(args: &[&str]) -> bool {
    Command::new("iptables")
        .arg("-w")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// This host's traffic to `pool` dropped, as if the engine's networks were on another host: a chain
/// of the test's own, jumped to from OUTPUT (traffic from this host's processes; the containers'
/// traffic among themselves is bridged and never passes OUTPUT). Taken out on drop.
struct CutOff {
    chain: String,
}

impl CutOff {
    fn from(pool: &str) -> CutOff {
        let cut = CutOff {
            chain: format!("CG-REACH-{}", std::process::id()),
        };
        assert!(
            iptables(&["-N", &cut.chain])
                && iptables(&["-A", &cut.chain, "-d", pool, "-j", "DROP"])
                && iptables(&["-I", "OUTPUT", "1", "-j", &cut.chain]),
            "cannot drop this host's traffic to {pool}"
        );
        cut
    }
}

impl Drop for CutOff {
    fn drop(&mut self) {
        while iptables(&["-D", "OUTPUT", "-j", &self.chain]) {}
        iptables(&["-F", &self.chain]);
        iptables(&["-X", &self.chain]);
    }
}

/// `crossgrade ARGS -f reach.toml` on `engine`, with `CROSSGRADE_REACH` as given (unset: `None`).
fn on(engine: &SecondEngine, reach: Option<&str>, args: &[&str]) -> Output {
    let mut cmd = crossgrade();
    cmd.current_dir(workspace())
        .env("DOCKER_HOST", &engine.tcp)
        .env("NO_COLOR", "1")
        .args(args)
        .arg("-f")
        .arg(fixture(MATRIX));
    match reach {
        Some(r) => cmd.env("CROSSGRADE_REACH", r),
        None => cmd.env_remove("CROSSGRADE_REACH"),
    };
    cmd.output().unwrap()
}

fn printed(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Runs the trial on `engine` with reports under `dir`: its exit code, what it printed, and its
/// results.json.
fn run_trial(
    engine: &SecondEngine,
    reach: Option<&str>,
    dir: &Path,
) -> (Option<i32>, String, serde_json::Value) {
    let reports = dir.join("reports");
    let snapshots = dir.join("snapshots");
    let o = on(
        engine,
        reach,
        &[
            "run",
            "--reports",
            reports.to_str().unwrap(),
            "--snapshots",
            snapshots.to_str().unwrap(),
        ],
    );
    let text = std::fs::read_to_string(reports.join("latest/results.json"))
        .unwrap_or_else(|e| panic!("no results.json ({e}):\n{}", printed(&o)));
    (
        o.status.code(),
        printed(&o),
        serde_json::from_str(&text).unwrap(),
    )
}

#[test]
fn probes_actions_and_checks_go_through_an_engine_whose_networks_are_out_of_reach() {
    let test = "probes_actions_and_checks_go_through_an_engine_whose_networks_are_out_of_reach";
    if let Some(why) = unavailable() {
        eprintln!("SKIPPED {test}: {why}");
        return;
    }
    // The fixture's images, and the relay helper's: `images build` builds it for an engine reached
    // through itself.
    ensure_images_with(&fixture_matrix(), &[("CROSSGRADE_REACH", "engine")]);
    let engine = SecondEngine::start();
    engine.load_images(&["crossgrade/fixture:1.0", RELAY_IMAGE]);
    let _cut = CutOff::from(&engine.pool());
    let work = tempfile::tempdir().unwrap();

    let doctor = printed(&on(&engine, Some("engine"), &["doctor"]));
    assert!(
        doctor.contains(
            "reach     through the engine, by a relay helper on each trial's network \
             (CROSSGRADE_REACH=engine)"
        ),
        "{doctor}"
    );

    // Through the engine: every probe, the action and the checks pass.
    let (code, out, results) = run_trial(&engine, Some("engine"), &work.path().join("engine"));
    let t = trial(&results, TRIAL);
    assert_eq!(t["verdict"], "pass", "{out}\n{t:#}");
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(results["provenance"]["reach"], "engine");
    let steps: Vec<&str> = t["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["status"].as_str().unwrap())
        .collect();
    assert_eq!(steps, ["pass"; 4], "{t:#}");
    assert!(engine.labelled().is_empty(), "{:?}", engine.labelled());

    // Directly, forced, and as chosen for an engine on this host: the network does not answer, and
    // the trial says so (an `error`, not the system's `fail`) long before a probe's deadline.
    for (reach, because) in [
        (
            Some("direct"),
            "because CROSSGRADE_REACH=direct".to_string(),
        ),
        (
            None,
            format!("because the engine at {} is on this host", engine.tcp),
        ),
    ] {
        let dir = work.path().join(reach.unwrap_or("auto"));
        let (code, out, results) = run_trial(&engine, reach, &dir);
        let t = trial(&results, TRIAL);
        assert_eq!(t["verdict"], "error", "{reach:?}: {out}\n{t:#}");
        assert_eq!(code, Some(1), "{reach:?}: {out}");
        assert_eq!(results["provenance"]["reach"], "direct");
        let reason = t["reason"].as_str().unwrap();
        for part in [
            "on the trial network from here: no answer within 3s",
            because.as_str(),
            "set CROSSGRADE_REACH=engine",
        ] {
            assert!(reason.contains(part), "{reach:?}: {part:?} in {reason}");
        }
        assert!(
            t["duration_ms"].as_u64().unwrap() < 15_000,
            "found before the probes' deadlines: {t:#}"
        );
        assert!(engine.labelled().is_empty(), "{:?}", engine.labelled());
    }
}

/// A `CROSSGRADE_REACH` that names no way is bad input: exit 2, before any engine is asked.
#[test]
fn a_reach_that_names_no_way_is_bad_input() {
    let o = crossgrade()
        .current_dir(workspace())
        .env("CROSSGRADE_REACH", "relay")
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .args(["images", "list", "-f"])
        .arg(fixture(MATRIX))
        .output()
        .unwrap();
    let said = printed(&o);
    assert_eq!(o.status.code(), Some(2), "{said}");
    assert!(
        said.contains("CROSSGRADE_REACH = `relay`") && said.contains("`engine`"),
        "{said}"
    );
}
