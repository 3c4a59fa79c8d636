//! Every trial of a matrix as a test, for `cargo nextest` (and `cargo test`).
//!
//! Lists one test per trial, named by its stable trial id, so that `cargo nextest list`, `-E
//! 'test(/scheduler=0.22/)'`, `--partition`, retries and `--exact` work. Which trials: those of the
//! matrices `CROSSGRADE_MATRIX` names, a comma-separated list of `FILE` (every trial) or `FILE:SUBSET`
//! (the trials of its `[subsets.SUBSET]`), relative to the workspace root; by default [`DEFAULT_SUITE`]:
//! the default matrix whole and the `quick` subsets of the Redis and etcd matrices. Listing reads the
//! matrix files only: it never touches Docker and prints nothing but the list on stdout.
//!
//! Running a test builds the images the trial needs (skipped when up to date), runs the trial through
//! the same runner as `crossgrade run`, records it in the run's report folder
//! (`reports/nextest-<run>-<system>/`, shared by every test process of one nextest run) and holds its
//! verdict against the baseline snapshot under `reports/snapshots/` with insta. The test fails exactly
//! when `crossgrade run` would count the trial red: a regression, a changed or new failure, or an error.
//! A fixed or new passing trial passes, leaving a `.snap.new` for `cargo insta review`.

use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use crossgrade::baseline::{self, Store};
use crossgrade::model::{self, Matrix};
use crossgrade::outcome::Verdict;
use crossgrade::plan::{self, Trial};
use crossgrade::report::{self, Display, MATRIX_ENV};
use crossgrade::risk;
use crossgrade::run;
use crossgrade::runtime::{self, Backend, Engine};
use crossgrade::session::{self, ReportTarget, Session};
use libtest_mimic::{Arguments, Failed};
use tokio_util::sync::CancellationToken;

/// Where snapshots are read and written instead of `reports/snapshots/` beside the matrix.
const SNAPSHOTS_ENV: &str = "CROSSGRADE_SNAPSHOTS";
/// Where run reports go instead of `reports/` beside the matrix.
const REPORTS_ENV: &str = "CROSSGRADE_REPORTS";
/// What the tests hold when `CROSSGRADE_MATRIX` is not set: the default matrix, and of each real
/// system's matrix the subset its file chose for the test command (the full runs take longer; the
/// README gives their commands).
const DEFAULT_SUITE: &str = "matrix.toml,etcd.toml:quick,redis.toml:quick";

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the harness crate sits in the workspace")
        .to_path_buf()
}

/// Everything the tests of one process share.
struct Setup {
    suites: Vec<Suite>,
    runtime: tokio::runtime::Runtime,
    cancel: CancellationToken,
}

/// One matrix's share of the tests.
struct Suite {
    matrix: Arc<Matrix>,
    /// The matrix as the user would name it to rerun a trial (`None`: the default `matrix.toml`).
    matrix_arg: Option<String>,
    /// The trials listed, in plan order.
    trials: Vec<Trial>,
    store: Store,
    report_dir: PathBuf,
    report_name: String,
}

fn load() -> Result<Setup, String> {
    let list = std::env::var(MATRIX_ENV)
        .ok()
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_SUITE.to_string());
    let env_path = |name: &str| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    // One report folder per nextest run and matrix (its test processes share NEXTEST_RUN_ID), else
    // per process.
    let run_name = match std::env::var("NEXTEST_RUN_ID") {
        Ok(id) if !id.is_empty() => format!("nextest-{}", &id[..id.len().min(8)]),
        _ => format!("test-{}", run::new_run_id()),
    };
    let mut suites: Vec<Suite> = Vec::new();
    for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (file, subset) = match entry.rsplit_once(':') {
            Some((f, s)) if !s.contains('/') => (f, Some(s)),
            _ => (entry, None),
        };
        let path = if Path::new(file).is_absolute() {
            PathBuf::from(file)
        } else {
            workspace().join(file)
        };
        let bad = |e: model::LoadError| format!("{:?}", miette::Report::new(e));
        let matrix = model::load(&path).map_err(bad)?;
        let mut plan = plan::expand_checked(&matrix).map_err(bad)?;
        if let Some(name) = subset {
            plan = plan.subset(&matrix, name).map_err(bad)?;
        }
        for t in &plan.trials {
            if let Some(other) = suites
                .iter()
                .find(|s| s.trials.iter().any(|x| x.id == t.id))
            {
                return Err(format!(
                    "{MATRIX_ENV}: trial `{}` is in both {} and {}; their systems need different names",
                    t.id,
                    other.matrix.file.display(),
                    path.display()
                ));
            }
        }
        let store = Store::new(
            env_path(SNAPSHOTS_ENV).unwrap_or_else(|| baseline::default_dir(&matrix.root)),
        );
        let report_name = format!("{run_name}-{}", matrix.system);
        let report_dir = env_path(REPORTS_ENV)
            .unwrap_or_else(|| matrix.root.join("reports"))
            .join(&report_name);
        suites.push(Suite {
            matrix_arg: (file != "matrix.toml").then(|| file.to_string()),
            matrix: Arc::new(matrix),
            trials: plan.trials,
            store,
            report_dir,
            report_name,
        });
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    Ok(Setup {
        suites,
        runtime,
        cancel: CancellationToken::new(),
    })
}

fn main() -> ExitCode {
    let args = Arguments::from_args();
    let setup = match load() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let setup: &'static Setup = Box::leak(Box::new(setup));
    if !args.list {
        // nextest stops a test that runs too long with SIGTERM: cancel, clean up, then exit.
        setup
            .runtime
            .spawn(session::cancel_on_signals(setup.cancel.clone()));
    }
    let tests = setup
        .suites
        .iter()
        .flat_map(|suite| {
            suite.trials.iter().map(move |t| {
                let id = t.id.clone();
                libtest_mimic::Trial::test(t.id.clone(), move || run_test(setup, suite, &id))
            })
        })
        .collect();
    libtest_mimic::run(&args, tests).exit_code()
}

fn run_test(setup: &'static Setup, suite: &'static Suite, id: &str) -> Result<(), Failed> {
    let trial = suite
        .trials
        .iter()
        .find(|t| t.id == id)
        .expect("listed from the plan")
        .clone();
    setup.runtime.block_on(ensure_images(suite, &trial))?;
    let report = setup.runtime.block_on(run_trial(setup, suite, trial))?;
    check_baseline(suite, &report)
}

/// Builds the images the trial needs, once per process and one process at a time (by a file lock),
/// skipping those that are up to date.
async fn ensure_images(suite: &Suite, trial: &Trial) -> Result<(), Failed> {
    let engine = Engine::connect()
        .await
        .map_err(|e| format!("Docker engine unreachable: {e}"))?;
    // On an engine reached through itself, every trial also runs the relay helper.
    let reach = engine
        .reach()
        .await
        .map_err(|e| format!("Docker engine: {e}"))?;
    let mut matrix = Matrix::clone(&suite.matrix);
    runtime::define_helper_images(&mut matrix, &reach);
    let only = session::images_needed(&matrix, std::slice::from_ref(trial), &reach);
    let mut all_present = true;
    for image in &only {
        all_present &= engine
            .image_exists(image)
            .await
            .map_err(|e| format!("cannot inspect images: {e}"))?;
    }
    if all_present {
        return Ok(());
    }
    let lock_path = workspace().join("target").join(".crossgrade-images.lock");
    std::fs::create_dir_all(lock_path.parent().expect("has a parent"))?;
    let lock = std::fs::File::create(&lock_path)?;
    lock.lock()?;
    let opts = runtime::BuildOptions {
        force: false,
        only,
        install_tools: install_tools(),
    };
    // What is built and how long it took; build logs stay out of the test output.
    let mut progress = |e: runtime::BuildEvent| {
        if !matches!(
            e,
            runtime::BuildEvent::Log { .. } | runtime::BuildEvent::PrepareLog { .. }
        ) {
            eprintln!("images: {e}")
        }
    };
    runtime::build_images(&engine, &matrix, &opts, &mut progress)
        .await
        .map_err(|e| format!("building the images failed: {:?}", miette::Report::new(e)))?;
    Ok(())
}

/// `CROSSGRADE_INSTALL_TOOLS` (the workspace's `.cargo/config.toml` sets it to 1 for cargo's test
/// runs) lets a missing `debootstrap` be installed, as `crossgrade images build --install-tools` does;
/// read like the command reads it (empty, `0`, `false`, `no`, `off`, `n`, `f`: no).
fn install_tools() -> bool {
    std::env::var("CROSSGRADE_INSTALL_TOOLS").is_ok_and(|v| {
        !matches!(
            v.to_ascii_lowercase().as_str(),
            "" | "0" | "false" | "no" | "off" | "n" | "f"
        )
    })
}

/// Runs the trial through the same pipeline as `crossgrade run`, into the report folder the test
/// processes of this nextest run share.
async fn run_trial(
    setup: &Setup,
    suite: &Suite,
    trial: Trial,
) -> Result<report::TrialReport, Failed> {
    // What the matrix's API definitions predict for the trial, recorded in its report as `crossgrade
    // run` records it (the definitions are read here, not when the tests are listed).
    let mut predictions = std::collections::BTreeMap::new();
    match risk::Api::load(&suite.matrix) {
        Ok(Some(mut api)) => {
            predictions.insert(trial.id.clone(), api.predict(&suite.matrix, &trial));
        }
        Ok(None) => {}
        Err(e) => eprintln!("no prediction: the matrix's API definitions: {e}"),
    }
    let session = Session {
        matrix: suite.matrix.clone(),
        trials: vec![trial],
        // Docker labels are per process (its own sweep must not touch other tests'); the report
        // folder is shared by the whole nextest run.
        run_id: run::new_run_id(),
        jobs: 1,
        keep: false,
        repeat: 1,
        report: ReportTarget {
            dir: suite.report_dir.clone(),
            name: suite.report_name.clone(),
            order: suite.trials.iter().map(|t| t.id.clone()).collect(),
            matrix_arg: suite.matrix_arg.clone(),
            store: suite.store.clone(),
            predictions: Arc::new(predictions),
        },
    };
    let backend = Engine::connect()
        .await
        .map(|e| Arc::new(e) as Arc<dyn Backend>);
    // Step by step on stderr: nextest shows it when the test fails.
    let done = session
        .run(backend, Display::StepLog, setup.cancel.clone())
        .await?;
    let t = done
        .trials
        .into_iter()
        .next()
        .expect("one trial, one report");
    let outcome = &t.outcome;
    eprintln!(
        "{}: {} ({}){}\nreport: {}",
        outcome.id,
        outcome.verdict,
        t.change(),
        outcome
            .reason
            .as_ref()
            .map(|r| format!("\nreason: {r}"))
            .unwrap_or_default(),
        suite.report_dir.join("index.html").display()
    );
    if done.cancelled {
        return Err("interrupted; the trial's containers, network and volumes were removed".into());
    }
    Ok(t)
}

/// Holds the trial's snapshot against the baseline with insta: a changed snapshot shows as insta's
/// diff (and a `.snap.new` to review); the test fails only when the trial is red.
fn check_baseline(suite: &Suite, t: &report::TrialReport) -> Result<(), Failed> {
    let o = &t.outcome;
    if o.verdict == Verdict::Error {
        return Err(format!(
            "error (the harness or the engine, not the system): {}\nreproduce: {}",
            o.reason.as_deref().unwrap_or("?"),
            o.reproduce
        )
        .into());
    }
    let (folder, name) = suite.store.location(&o.id);
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(folder);
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    let snapshot = t.baseline.snapshot.clone();
    let held = std::panic::catch_unwind(AssertUnwindSafe(|| {
        settings.bind(|| insta::assert_snapshot!(name.as_str(), snapshot));
    }));
    match held {
        Ok(()) => Ok(()),
        Err(_) if !t.baseline.red => {
            eprintln!(
                "{}: {} against the baseline, which is not a regression; record it with \
                 `cargo insta review` or `crossgrade run --accept --trial {}`",
                o.id,
                t.change(),
                report::shell_quote(&o.id)
            );
            Ok(())
        }
        Err(_) => Err(format!(
            "{} against the baseline: {}\nreproduce: {}\n       or: {}",
            t.change(),
            o.reason.as_deref().unwrap_or("the snapshot differs"),
            o.reproduce,
            o.reproduce_nextest
        )
        .into()),
    }
}
