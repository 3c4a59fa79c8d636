//! Every trial of a matrix as a test, for `cargo nextest` (and `cargo test`).
//!
//! Lists one test per trial, named by its stable trial id, so that `cargo nextest list`, `-E
//! 'test(/scheduler=0.22/)'`, `--partition`, retries and `--exact` work. Which trials: those of the
//! matrices `CROSSGRADE_MATRIX` names, a comma-separated list of `FILE` (every trial) or `FILE:SUBSET`
//! (the trials of its `[subsets.SUBSET]`), relative to the workspace root; by default [`DEFAULT_SUITE`]:
//! the default matrix whole and the `quick` subsets of the etcd, Redis and PostgreSQL matrices. Listing reads the
//! matrix files only: it never touches Docker and prints nothing but the list on stdout.
//!
//! Running a test builds the images the trial needs (skipped when up to date), runs the trial through
//! the same runner as `crossgrade run`, records it in the run's report folder
//! (`reports/nextest-<run>[-<partition>]-<system>/`, shared by every test process of one nextest run)
//! and holds its verdict against the baseline snapshot under `reports/snapshots/` with insta. The test
//! fails exactly when `crossgrade run` would count the trial red: a regression, a changed or new
//! failure, or an error. A fixed or new passing trial passes, leaving a `.snap.new` for `cargo insta
//! review`.
//!
//! The workspace (matrix files, scenarios, images, snapshots, reports) is found when the tests run,
//! not where the binary was built, so that a build archived with `cargo nextest archive` runs anywhere
//! with `--workspace-remap` (see [`Workspace::find`]).

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
const DEFAULT_SUITE: &str = "matrix.toml,etcd.toml:quick,redis.toml:quick,postgres.toml:quick";

/// The workspace root the matrices of `CROSSGRADE_MATRIX` are named relative to.
struct Workspace {
    root: PathBuf,
    /// Where `root` came from, for the errors that name it.
    from: String,
}

impl Workspace {
    /// Found when the tests run, never from where the binary was compiled: `cargo nextest archive`
    /// takes the binary to another folder or machine (`cargo nextest run --archive-file …
    /// --workspace-remap DIR`). In order: nextest's `NEXTEST_WORKSPACE_ROOT` (the remapped root,
    /// nextest 0.9.130 and later); one level above `CARGO_MANIFEST_DIR` as cargo and nextest set it
    /// at run time (nextest remaps it too); the nearest folder from the current one up whose
    /// `Cargo.toml` declares a `[workspace]` (the binary started by hand).
    fn find() -> Result<Workspace, String> {
        let var = |name: &str| {
            std::env::var_os(name)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        if let Some(root) = var("NEXTEST_WORKSPACE_ROOT") {
            let from = format!("NEXTEST_WORKSPACE_ROOT={}", root.display());
            return Ok(Workspace { root, from });
        }
        if let Some(package) = var("CARGO_MANIFEST_DIR") {
            if let Some(root) = package.parent() {
                return Ok(Workspace {
                    root: root.to_path_buf(),
                    from: format!("CARGO_MANIFEST_DIR={}, one level up", package.display()),
                });
            }
        }
        let here = std::env::current_dir()
            .map_err(|e| format!("cannot find the workspace: no current folder ({e})"))?;
        let declares_workspace = |dir: &Path| {
            std::fs::read_to_string(dir.join("Cargo.toml"))
                .is_ok_and(|t| t.lines().any(|l| l.trim() == "[workspace]"))
        };
        match here.ancestors().find(|d| declares_workspace(d)) {
            Some(root) => Ok(Workspace {
                root: root.to_path_buf(),
                from: format!("the Cargo workspace around {}", here.display()),
            }),
            None => Err(format!(
                "cannot find the workspace: neither NEXTEST_WORKSPACE_ROOT nor CARGO_MANIFEST_DIR is \
                 set, and no folder from {} up has a workspace's Cargo.toml\n  hint: run the trials \
                 with `cargo nextest run` (from an archive: with `--workspace-remap DIR`, DIR a \
                 checkout of the revision it was built from), or from inside the workspace",
                here.display()
            )),
        }
    }

    /// What a missing or unloadable matrix is told with: where the workspace was looked for.
    fn hint(&self) -> String {
        format!(
            "the workspace: {} (from {})\n  hint: the trials read the workspace's matrix files, \
             scenarios, images and snapshots when they run; a build from `cargo nextest archive` runs \
             with `--workspace-remap DIR`, DIR a checkout of the revision it was built from",
            self.root.display(),
            self.from
        )
    }
}

/// The partition nextest was asked to run (`--partition hash:1/2` gives `hash-1-of-2`), to name the
/// report folder by. nextest does not tell a test its partition, but it starts every test process
/// itself (its double spawn execs the test), so its command line is the parent process's. `None`
/// when there is none or it cannot be read (not Linux, not started by nextest, a target runner).
fn nextest_partition() -> Option<String> {
    let parent = std::os::unix::process::parent_id();
    let raw = std::fs::read(format!("/proc/{parent}/cmdline")).ok()?;
    let args: Vec<String> = raw
        .split(|b| *b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    let program = Path::new(args.first()?).file_name()?.to_string_lossy();
    if !program.starts_with("cargo-nextest") {
        return None;
    }
    // Up to `--`: what follows is for the test binaries.
    let mut rest = args.iter().skip(1).take_while(|a| *a != "--");
    let mut spec = None;
    while let Some(a) = rest.next() {
        if let Some(v) = a.strip_prefix("--partition=") {
            spec = Some(v.to_string());
        } else if a == "--partition" {
            spec = rest.next().cloned();
        }
    }
    let spec = spec?;
    let (kind, part) = spec.split_once(':')?;
    let (k, n) = part.split_once('/')?;
    let word = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric());
    (word(kind) && word(k) && word(n)).then(|| format!("{kind}-{k}-of-{n}"))
}

/// Everything the tests of one process share.
struct Setup {
    suites: Vec<Suite>,
    /// Held while images are built, so that test processes build one at a time.
    images_lock: PathBuf,
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
    // Needed for matrices named relative to it (all but absolute paths).
    let workspace = Workspace::find();
    // One report folder per nextest run and matrix (its test processes share NEXTEST_RUN_ID, and
    // each partition is a run of its own, on one machine or several), else per process.
    let run_name = match std::env::var("NEXTEST_RUN_ID") {
        Ok(id) if !id.is_empty() => {
            let part = nextest_partition()
                .map(|p| format!("-{p}"))
                .unwrap_or_default();
            format!("nextest-{}{part}", &id[..id.len().min(8)])
        }
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
            let ws = workspace.as_ref().map_err(Clone::clone)?;
            if !ws.root.join(file).is_file() {
                return Err(format!(
                    "{MATRIX_ENV}: no matrix `{file}` in the workspace\n{}",
                    ws.hint()
                ));
            }
            ws.root.join(file)
        };
        // A matrix named relative to the workspace is told with where the workspace was found.
        let bad = |e: model::LoadError| {
            let hint = match &workspace {
                Ok(ws) if !Path::new(file).is_absolute() => format!("\n{}", ws.hint()),
                _ => String::new(),
            };
            format!("{:?}{hint}", miette::Report::new(e))
        };
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
        // The lock the other test binaries take too (tests/common), when there is a workspace.
        images_lock: workspace
            .map(|ws| ws.root.join("target"))
            .unwrap_or_else(|_| std::env::temp_dir())
            .join(".crossgrade-images.lock"),
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
    setup
        .runtime
        .block_on(ensure_images(suite, &trial, &setup.images_lock))?;
    let report = setup.runtime.block_on(run_trial(setup, suite, trial))?;
    check_baseline(suite, &report)
}

/// Builds the images the trial needs, once per process and one process at a time (by a file lock),
/// skipping those that are up to date.
async fn ensure_images(suite: &Suite, trial: &Trial, lock_path: &Path) -> Result<(), Failed> {
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
    std::fs::create_dir_all(lock_path.parent().expect("has a parent"))?;
    let lock = std::fs::File::create(lock_path)?;
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
    // Before insta writes a `.snap.new` (and makes the folder).
    let has_baseline = suite.store.dir().is_dir();
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
            "{} against the baseline: {}\nreproduce: {}\n       or: {}{}",
            t.change(),
            o.reason.as_deref().unwrap_or("the snapshot differs"),
            o.reproduce,
            o.reproduce_nextest,
            // A workspace without its snapshots makes every trial new: say so rather than let
            // every known failure read as a new one.
            if has_baseline {
                String::new()
            } else {
                format!(
                    "\nno baseline: {} does not exist (is the workspace, or --workspace-remap, a \
                     checkout with reports/snapshots?)",
                    suite.store.dir().display()
                )
            }
        )
        .into()),
    }
}
