//! The run pipeline front-ends share (`crate::session`): selection, the preflight of engine and
//! images, running, and the report, on the scripted backend.

use super::*;
use crate::baseline::Store;
use crate::outcome::Verdict;
use crate::report::Display;
use crate::runtime::scripted::unreachable;
use crate::runtime::{labels, EngineError, LABEL_OWNER, LABEL_RUN};
use crate::session::{Finished, ReportTarget, SelectError, Selection, Session};

/// Every trial of the fixture's plan as one session, reporting into the fixture's folder.
fn session(fx: &Fixture) -> Session {
    let trials = plan::expand(&fx.matrix).trials;
    Session {
        matrix: fx.matrix.clone(),
        run_id: RUN_ID.into(),
        jobs: 2,
        keep: false,
        repeat: 1,
        report: ReportTarget {
            dir: fx.reports(),
            name: RUN_ID.into(),
            order: trials.iter().map(|t| t.id.clone()).collect(),
            matrix_arg: None,
            store: Store::new(fx.dir().join("snapshots")),
            predictions: Default::default(),
        },
        trials,
    }
}

/// Runs the fixture's session on `backend`, silently.
async fn run_session(fx: &Fixture, backend: Result<Arc<dyn Backend>, EngineError>) -> Finished {
    session(fx)
        .run(backend, Display::Silent, CancellationToken::new())
        .await
        .expect("the report is written")
}

fn reasons(done: &Finished) -> Vec<(Verdict, String)> {
    done.results
        .trials
        .iter()
        .map(|t| {
            (
                t.outcome.verdict,
                t.outcome.reason.clone().unwrap_or_default(),
            )
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_session_runs_its_trials_and_writes_the_report() {
    let fx = cell(START);
    let backend = Arc::new(Scripted::new(Script::default()));
    let done = run_session(&fx, Ok(backend.clone())).await;
    assert_eq!(
        (done.results.counts.total, done.results.counts.pass),
        (1, 1)
    );
    assert!(done.results.complete);
    assert!(done.paths.results.is_file(), "{:?}", done.paths.results);
    assert!(!done.cancelled);
    assert_eq!(
        backend.leftovers(&format!("{LABEL_RUN}={RUN_ID}")),
        0,
        "torn down"
    );
    // Where and with what it ran, in the results and the summary.
    let p = &done.results.meta.provenance;
    assert_eq!(p.engine, "scripted");
    assert_eq!(p.crossgrade, env!("CARGO_PKG_VERSION"));
    assert!(!p.host.is_empty() && p.jobs >= 1, "{p:?}");
    let summary = std::fs::read_to_string(&done.paths.summary).unwrap();
    assert!(summary.contains("engine scripted"), "{summary}");
    assert_eq!(p.reach, "direct");
    assert!(!summary.contains("through the engine"), "{summary}");
}

#[tokio::test(start_paused = true)]
async fn through_the_engine_the_relay_image_is_needed_and_the_run_says_how_it_reached() {
    use crate::runtime::{Reach, ReachChoice, RELAY_IMAGE};
    let fx = cell(START);
    let engine = ReachChoice::new(Reach::Engine, "CROSSGRADE_REACH=engine");
    let backend = Arc::new(
        Scripted::new(Script::default())
            .with_reach(engine.clone())
            .without_image(RELAY_IMAGE),
    );
    let done = run_session(&fx, Ok(backend.clone())).await;
    assert_eq!(
        reasons(&done),
        [(
            Verdict::Error,
            format!(
                "image {RELAY_IMAGE} missing: build with `crossgrade images build -f {}` \
                 (images are never pulled)",
                fx.matrix.file.display()
            )
        )]
    );
    assert!(backend.calls().is_empty(), "{:?}", backend.calls());

    let fx = cell(START);
    let backend = Arc::new(Scripted::new(Script::default()).with_reach(engine));
    let done = run_session(&fx, Ok(backend)).await;
    assert_eq!(done.results.counts.pass, 1, "{:?}", reasons(&done));
    assert_eq!(done.results.meta.provenance.reach, "engine");
    let summary = std::fs::read_to_string(&done.paths.summary).unwrap();
    assert!(
        summary.contains("replicas reached through the engine"),
        "{summary}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_missing_image_errors_its_trial_before_anything_starts() {
    let fx = path("[[step]]\ndo = \"start\"\n[[step]]\ndo = \"upgrade\"\nrole = \"node\"\n");
    let backend = Arc::new(Scripted::new(Script::default()).without_image("sim/node:2.0"));
    let done = run_session(&fx, Ok(backend.clone())).await;
    assert_eq!(
        reasons(&done),
        [(
            Verdict::Error,
            format!(
                "image sim/node:2.0 missing: build with `crossgrade images build -f {}` \
                 (images are never pulled)",
                fx.matrix.file.display()
            )
        )]
    );
    assert!(backend.calls().is_empty(), "{:?}", backend.calls());
}

#[tokio::test(start_paused = true)]
async fn an_unreachable_engine_errors_every_trial() {
    let fx = Fixture::new(
        SYSTEM,
        "[matrix]\nvary = [\"node\"]\nscenarios = [\"t\"]\n",
        &format!("kind = \"cell\"\n{START}"),
    );
    let engine = unreachable(
        "connecting to unix:///var/run/docker.sock",
        "No such file or directory",
    );
    let done = run_session(&fx, Err(engine)).await;
    let why = "Docker engine unreachable: connecting to unix:///var/run/docker.sock: \
               No such file or directory";
    assert_eq!(
        reasons(&done),
        [
            (Verdict::Error, why.to_string()),
            (Verdict::Error, why.to_string())
        ]
    );
    assert_eq!(done.results.counts.error, 2);
}

#[tokio::test(start_paused = true)]
async fn a_session_first_sweeps_what_dead_runs_left_and_only_that() {
    let fx = cell(START);
    let backend = Arc::new(Scripted::new(Script::default()));
    // Owned by this process, and by one with this pid but another start time: one that is gone.
    let alive = labels("alive", None);
    let mut dead = labels("dead", None);
    let me = &alive[LABEL_OWNER];
    let (host_pid, _) = me.rsplit_once(':').expect("host:pid:start");
    dead.insert(LABEL_OWNER.into(), format!("{host_pid}:1"));
    for (run, labels) in [("alive", alive.clone()), ("dead", dead)] {
        let name = format!("cg-{run}-t0");
        backend.create_network(&name, &labels).await.unwrap();
    }
    run_session(&fx, Ok(backend.clone())).await;
    assert_eq!(backend.leftovers(&format!("{LABEL_RUN}=dead")), 0);
    assert_eq!(backend.leftovers(&format!("{LABEL_RUN}=alive")), 1);
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_session_says_so_and_errors_its_trials() {
    let fx = cell(START);
    let cancel = CancellationToken::new();
    cancel.cancel();
    let session = session(&fx);
    let backend: Arc<dyn Backend> = Arc::new(Scripted::new(Script::default()));
    let done = session
        .run(Ok(backend), Display::Silent, cancel)
        .await
        .expect("the report is written");
    assert!(done.cancelled);
    assert_eq!(
        reasons(&done),
        [(Verdict::Error, "interrupted before it finished".to_string())]
    );
}

#[test]
fn a_selection_naming_an_unknown_trial_is_refused() {
    let fx = cell(START);
    let sel = Selection {
        trials: vec!["sim/t/node=9.9".into()],
        ..Selection::default()
    };
    let err = sel.select(&fx.matrix).unwrap_err();
    assert!(
        matches!(&err, SelectError::UnknownTrial { id, .. } if id == "sim/t/node=9.9"),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!("no trial `sim/t/node=9.9` in {}", fx.matrix.file.display())
    );
}

#[test]
fn a_selection_naming_an_unknown_scenario_is_refused_with_the_known_ones() {
    let fx = cell(START);
    let sel = Selection {
        scenarios: vec!["rolling".into()],
        ..Selection::default()
    };
    match sel.select(&fx.matrix) {
        Err(SelectError::UnknownScenario { name, known, .. }) => {
            assert_eq!((name.as_str(), known.as_str()), ("rolling", "t"))
        }
        other => panic!("{:?}", other.map(|p| p.trials.len())),
    }
}

#[test]
fn a_selection_that_selects_nothing_is_refused() {
    let fx = cell(START);
    let sel = Selection {
        cells: vec!["node=2.0".into()],
        ..Selection::default()
    };
    let err = sel.select(&fx.matrix).unwrap_err();
    assert!(matches!(err, SelectError::Empty { .. }), "{err:?}");
    assert_eq!(err.to_string(), "the filters select no trial");
}

#[test]
fn a_cell_that_is_not_role_equals_release_is_refused_naming_it() {
    let fx = cell(START);
    let bad = Selection {
        cells: vec!["node".into()],
        ..Selection::default()
    };
    let err = bad.select(&fx.matrix).unwrap_err();
    assert_eq!(err.to_string(), "`node` in --cell is not ROLE=RELEASE");
}

#[test]
fn a_selection_of_a_cell_keeps_its_trials_in_plan_order() {
    let fx = Fixture::new(
        SYSTEM,
        "[matrix]\nvary = [\"node\"]\nscenarios = [\"t\"]\n",
        &format!("kind = \"cell\"\n{START}"),
    );
    let all = Selection::default().select(&fx.matrix).unwrap();
    let ids: Vec<&str> = all.trials.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, ["sim/t/node=1.0", "sim/t/node=2.0"]);
    let one = Selection {
        cells: vec!["node=2.0".into()],
        ..Selection::default()
    };
    let picked = one.select(&fx.matrix).unwrap();
    assert_eq!(picked.trials.len(), 1);
    assert_eq!(picked.trials[0].id, "sim/t/node=2.0");
}

#[test]
fn the_parts_of_a_partition_hold_every_selected_trial_once_in_plan_order() {
    // Four releases of both roles: 16 cells and one path.
    let fx = Fixture::new(
        &SYSTEM.replace(
            "releases = [\"1.0\", \"2.0\"]",
            "releases = [\"1.0\", \"2.0\", \"3.0\", \"4.0\"]",
        ),
        "[matrix]\nscenarios = [\"t\"]\n",
        &format!("kind = \"cell\"\n{START}"),
    );
    let all: Vec<String> = Selection::default()
        .select(&fx.matrix)
        .unwrap()
        .trials
        .into_iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(all.len(), 16);
    let mut parts: Vec<Vec<String>> = Vec::new();
    for k in 1..=3 {
        let sel = Selection {
            partition: Some((k, 3)),
            ..Selection::default()
        };
        parts.push(
            sel.select(&fx.matrix)
                .unwrap()
                .trials
                .into_iter()
                .map(|t| t.id)
                .collect(),
        );
    }
    assert_eq!(
        parts.iter().map(Vec::len).collect::<Vec<_>>(),
        vec![6, 5, 5]
    );
    let mut together: Vec<String> = parts.concat();
    together.sort_by_key(|id| all.iter().position(|a| a == id));
    assert_eq!(together, all);
    assert!(!Selection {
        partition: Some((1, 2)),
        ..Selection::default()
    }
    .is_everything());
}

/// A one-trial fixture whose client answers `client.get` as `answer` says for the client
/// container's incarnation (0 in run 1, 1 in run 2, ...).
fn flaky_fixture() -> Fixture {
    cell(&[START, GET].concat())
}

/// `fx`'s session, each trial run `n` times, `client.get` passing in the runs `answer` says (by
/// the client container's incarnation: 0 in run 1, 1 in run 2, ...).
async fn repeated(
    fx: &Fixture,
    n: usize,
    answer: impl Fn(usize) -> bool + Send + Sync + 'static,
) -> Finished {
    let script = Script::default().on_exec(move |view, _| {
        if answer(view.incarnation) {
            Reply::Output(0, "ok".into())
        } else {
            Reply::Output(1, "no such key".into())
        }
    });
    let backend: Arc<dyn Backend> = Arc::new(Scripted::new(script));
    Session {
        repeat: n,
        ..session(fx)
    }
    .run(Ok(backend), Display::Silent, CancellationToken::new())
    .await
    .expect("the report is written")
}

#[tokio::test(start_paused = true)]
async fn repeated_runs_that_disagree_make_a_flaky_trial_with_its_first_failure() {
    let fx = flaky_fixture();
    let done = repeated(&fx, 3, |k| k != 1).await;
    let r = &done.results;
    assert_eq!(r.trials.len(), 1, "one entry per trial, not per run");
    let t = &r.trials[0];
    let reps = t.outcome.repeats.as_ref().expect("aggregated");
    assert_eq!(reps.describe(), "flaky (2 of 3 passed)");
    assert_eq!(reps.verdicts, [Verdict::Pass, Verdict::Fail, Verdict::Pass]);
    assert_eq!((t.outcome.verdict, reps.shown), (Verdict::Fail, 2));
    assert_eq!(
        t.outcome.logs_dir,
        "trials/t/node=1.0,client=1.0/repeat-2/logs"
    );
    assert_eq!(t.baseline.snapshot, "verdict: flaky\n");
    assert_eq!((r.counts.fail, r.counts.flaky), (1, 1));
    assert_eq!(r.meta.provenance.repeat, Some(3));
    assert!(r.red, "a new flake is red");
    // Each run has its folder and record; the trial's record is above them.
    let trial = fx.reports().join("trials/t/node=1.0,client=1.0");
    assert!(trial.join("trial.json").is_file());
    for k in 1..=3 {
        assert!(
            trial.join(format!("repeat-{k}/run.json")).is_file(),
            "run {k}"
        );
        assert!(trial.join(format!("repeat-{k}/logs")).is_dir(), "run {k}");
    }
    let results = std::fs::read_to_string(&done.paths.results).unwrap();
    assert!(results.contains("\"flaky\": 1"), "{results}");
    let summary = std::fs::read_to_string(&done.paths.summary).unwrap();
    assert!(
        summary.contains("fail · flaky (2 of 3 passed)"),
        "{summary}"
    );
    assert!(
        summary.contains("❌ flaky 2/3 new"),
        "the grid says so: {summary}"
    );
    let html = std::fs::read_to_string(&done.paths.html).unwrap();
    assert!(
        html.contains("flaky (2 of 3 passed): runs pass, fail, pass"),
        "{html}"
    );
}

#[tokio::test(start_paused = true)]
async fn runs_that_agree_are_deterministic_and_snapshot_as_one_run() {
    let fx = flaky_fixture();
    let once = repeated(&fx, 1, |_| false).await.results.trials[0].clone();
    assert_eq!(once.outcome.repeats, None);
    let fx = flaky_fixture();
    let twice = repeated(&fx, 2, |_| false).await.results.trials[0].clone();
    let reps = twice.outcome.repeats.as_ref().unwrap();
    assert_eq!(reps.describe(), "deterministic (0 of 2 passed)");
    assert_eq!(twice.baseline.snapshot, once.baseline.snapshot);
}

#[tokio::test(start_paused = true)]
async fn a_trial_recorded_flaky_is_green_whatever_mix_its_runs_show() {
    use crate::baseline::Change;
    let fx = flaky_fixture();
    let store = Store::new(fx.dir().join("snapshots"));
    let id = fx.trial().id;
    store.write(&id, "verdict: flaky").unwrap();
    // Flaky again; run once and failing; failing every run.
    for (n, pass_in) in [(2, 0), (1, 9), (2, 9)] {
        let done = repeated(&fx, n, move |k| k == pass_in).await;
        let t = &done.results.trials[0];
        assert_eq!(t.change(), Change::Unchanged, "{n} runs");
        assert!(!done.results.red, "{n} runs");
    }
    // Passing every run: a fix to look at, not red.
    let done = repeated(&fx, 2, |_| true).await;
    assert_eq!(done.results.trials[0].change(), Change::Fixed);
    assert!(!done.results.red);
    // A trial recorded as passing that now varies is red.
    store.write(&id, "verdict: pass").unwrap();
    let done = repeated(&fx, 2, |k| k == 0).await;
    assert_eq!(done.results.trials[0].change(), Change::Regressed);
    assert!(done.results.red);
}
