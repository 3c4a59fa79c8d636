//! Fault steps against the real Docker engine, on the fixture system (`fixtures/faults.toml`): each
//! fault holds while it is in effect (who reaches whom, seen from the other replicas through the
//! fixture's own client, which gives up after 2 s), is undone by its step, and is drawn as a window;
//! faults left in effect when a trial fails are undone at its end, and nothing the trial made remains.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

use crossgrade::baseline::Store;
use crossgrade::model::{self, Matrix};
use crossgrade::outcome::{TrialOutcome, Verdict};
use crossgrade::plan;
use crossgrade::report::Display;
use crossgrade::run;
use crossgrade::runtime::{Backend, Engine, LABEL_RUN};
use crossgrade::session::{ReportTarget, Session};
use tokio_util::sync::CancellationToken;

mod common;
use common::*;

fn matrix() -> PathBuf {
    fixture("faults.toml")
}

/// The fixture's images and the network-tools helper, once per test process.
fn ensure_fault_images() {
    static ONCE: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    ONCE.get_or_init(|| ensure_images(&matrix()));
}

/// What a run of one trial of `faults.toml` left: its outcome, its run id and its report folder.
struct Ran {
    run_id: String,
    outcome: TrialOutcome,
    reports: tempfile::TempDir,
}

impl Ran {
    fn index_html(&self) -> String {
        let path = walk(self.reports.path())
            .into_iter()
            .find(|p| p.ends_with("index.html"))
            .expect("the run wrote index.html");
        std::fs::read_to_string(path).unwrap()
    }
}

fn walk(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut out = vec![];
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Runs the trial of `scenario` through the same pipeline as `crossgrade run` (`keep`: leave its
/// containers if it does not pass).
fn run_scenario(scenario: &str, keep: bool) -> Ran {
    ensure_fault_images();
    let id = format!("faults/{scenario}/node=1.1,client=1.1");
    let m: Matrix = model::load(&matrix()).unwrap_or_else(|e| panic!("{e:?}"));
    let trials: Vec<_> = plan::expand(&m)
        .trials
        .into_iter()
        .filter(|t| t.id == id)
        .collect();
    assert_eq!(trials.len(), 1, "no trial {id}");
    let reports = tempfile::tempdir().unwrap();
    let run_id = run::new_run_id();
    let session = Session {
        matrix: Arc::new(m),
        trials,
        run_id: run_id.clone(),
        jobs: 1,
        keep,
        repeat: 1,
        report: ReportTarget {
            dir: reports.path().to_path_buf(),
            name: run_id.clone(),
            order: vec![id.clone()],
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
    let outcome = done.trials[0].outcome.clone();
    Ran {
        run_id,
        outcome,
        reports,
    }
}

/// The steps' numbers and whether each passed, for messages.
fn steps(o: &TrialOutcome) -> String {
    o.steps
        .iter()
        .map(|s| {
            format!(
                "{}. {} {:?} {:?}",
                s.number, s.description, s.status, s.message
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A trial whose checks pass only if the fault held while in effect and was gone after its undo.
fn assert_fault_held_and_was_undone(scenario: &str, kind: &str, from: usize, until: usize) {
    let ran = run_scenario(scenario, false);
    let o = &ran.outcome;
    assert_eq!(o.verdict, Verdict::Pass, "{}\n{:?}", steps(o), o.reason);
    assert_eq!(o.faults.len(), 1, "{:#?}", o.faults);
    let w = &o.faults[0];
    assert_eq!(
        (w.kind.as_str(), w.from_step, w.until_step),
        (kind, from, Some(until)),
        "{w:#?}"
    );
    assert!(w.ended_ms >= w.started_ms, "{w:#?}");
    assert_eq!(leftovers_of_run(&ran.run_id), 0);
}

#[test]
fn a_paused_replica_does_not_answer_until_resumed() {
    // Step 3 expects the client's request to node-1 to go unanswered (exit 2), step 4 node-2 to
    // answer, step 6 node-1 to answer again.
    assert_fault_held_and_was_undone("pause", "pause", 2, 5);
}

#[test]
fn an_isolated_replica_is_cut_off_and_healed_under_its_name() {
    // node-0 cannot reach node-1 while it is isolated, still reaches node-2, and reaches node-1 by
    // its name once healed.
    assert_fault_held_and_was_undone("isolate", "isolate", 2, 5);
}

#[test]
fn a_partition_drops_only_what_crosses_it() {
    // node-0 cannot reach node-1; node-1 reaches node-2 (same side); the client, in no group,
    // reaches both sides; after heal node-0 reaches node-1.
    assert_fault_held_and_was_undone("partition", "partition", 2, 7);
}

#[test]
fn loss_of_100_percent_drops_everything() {
    // Neither the client nor node-0 reaches node-2; the client still reaches node-1.
    assert_fault_held_and_was_undone("loss", "loss", 2, 6);
}

#[test]
fn a_throttled_replica_answers_but_cannot_send_much_until_healed() {
    // At 100 kbit/s node-1 answers a health check but cannot send a 100 kB value within the
    // client's 2 s; healed, it can.
    assert_fault_held_and_was_undone("throttle", "throttle", 3, 6);
}

#[test]
fn delay_is_netem_or_an_error_that_says_the_kernel_lacks_it() {
    let ran = run_scenario("delay", false);
    let o = &ran.outcome;
    match o.verdict {
        // This machine's kernel has no netem (../shared/environment.md): our side's error, with
        // tc's own words, never a `fail` of the system.
        Verdict::Error => {
            let reason = o.reason.as_deref().unwrap_or_default();
            assert!(reason.contains("the kernel lacks netem"), "{reason}");
            assert!(
                reason.contains("tc qdisc add dev eth0 root netem delay 100ms"),
                "{reason}"
            );
            assert!(
                reason.contains("Specified qdisc kind is unknown"),
                "{reason}"
            );
            assert_eq!(o.failed_step, Some(2));
            assert!(o.faults.is_empty(), "{:#?}", o.faults);
        }
        // A kernel with netem: the delay is applied and healed.
        Verdict::Pass => {
            assert_eq!(o.faults.len(), 1);
            assert_eq!(o.faults[0].kind, "delay");
            assert_eq!(o.faults[0].until_step, Some(4));
        }
        Verdict::Fail => panic!("{}\n{:?}", steps(o), o.reason),
    }
    assert_eq!(leftovers_of_run(&ran.run_id), 0);
}

/// `docker` with the machine's engine.
fn docker(args: &[&str]) -> (bool, String) {
    let out = Command::new("docker").args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
    )
}

#[test]
fn faults_left_in_effect_when_a_trial_fails_are_undone_at_its_end() {
    // `--keep`: the failed trial's containers stay, so what the end of the trial undid can be seen.
    let ran = run_scenario("left-in-effect", true);
    let o = &ran.outcome;
    assert_eq!(o.verdict, Verdict::Fail, "{}", steps(o));
    assert_eq!(o.failed_step, Some(7), "{}", steps(o));
    let kinds: Vec<&str> = o.faults.iter().map(|w| w.kind.as_str()).collect();
    assert_eq!(
        kinds,
        ["pause", "isolate", "loss", "throttle", "partition"],
        "{:#?}",
        o.faults
    );
    for w in &o.faults {
        assert_eq!(w.until_step, None, "{w:#?}");
        assert_eq!(w.ended_by, "the end of the trial");
        assert!(w.ended_ms >= w.started_ms);
    }

    let label = format!("label={LABEL_RUN}={}", ran.run_id);
    let (_, names) = docker(&["ps", "-a", "--filter", &label, "--format", "{{.Names}}"]);
    let name = |suffix: &str| {
        names
            .lines()
            .find(|n| n.ends_with(suffix))
            .unwrap_or_else(|| panic!("no container *{suffix} in {names}"))
            .to_string()
    };
    // No helper remains; node-0 runs thawed.
    assert!(!names.contains("-net"), "{names}");
    let (_, paused) = docker(&["inspect", "-f", "{{.State.Paused}}", &name("node-0-1")]);
    assert_eq!(paused, "false");
    // The client reaches node-1 (isolated, then connected again under its name) and node-2 (lossy
    // and partitioned from the client, whose own rate was limited): the rules are gone.
    let client = name("client-0-1");
    for server in ["node-0:8080", "node-1:8080", "node-2:8080"] {
        let (ok, said) = docker(&[
            "exec", &client, "/fixture", "ctl", "--server", server, "health",
        ]);
        assert!(ok, "the client does not reach {server}: {said}");
    }

    // The report draws every window on the trial's timeline.
    let html = ran.index_html();
    for w in &o.faults {
        assert!(
            html.contains(&format!("class=\"fault f-{}\"", w.kind)),
            "{html}"
        );
        assert!(html.contains(&format!("⚡ {}", w.description)), "{html}");
    }
    assert!(html.contains("step 2 to the end"), "{html}");

    // What --keep left goes with the label sweep `crossgrade gc` does.
    rt().block_on(async {
        let e = Engine::connect().await.unwrap();
        e.sweep_blocking(&format!("{LABEL_RUN}={}", ran.run_id))
            .unwrap();
    });
    assert_eq!(leftovers_of_run(&ran.run_id), 0);
}
