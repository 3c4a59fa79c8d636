//! One run pipeline for every front-end: selection → preflight (engine, images) → run → reporters.
//! `crossgrade run` and the trials test binary (one trial per test process) both run through a
//! [`Session`]; they differ only in what they select, how they display, and where the report goes.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use miette::Diagnostic;
use tokio_util::sync::CancellationToken;

use crate::baseline::Store;
use crate::model::{LoadError, Matrix};
use crate::plan::{self, Filter, Plan, Trial};
use crate::report::{
    self, Display, Provenance, Recorder, ReportPaths, Reporter, Results, RunMeta, TrialReport,
};
use crate::risk::Prediction;
use crate::run::{self, errored, Event, Events, RunOptions};
use crate::runtime::{gc, Backend, EngineError, ReachChoice};

/// Which trials of a matrix to run: what `--trial`, `--cell`, `--scenario` and `--subset` say.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Exact trial ids.
    pub trials: Vec<String>,
    /// Partial assignments, `master=0.23,scheduler=0.22`.
    pub cells: Vec<String>,
    pub scenarios: Vec<String>,
    /// A `[subsets.NAME]` of the matrix.
    pub subset: Option<String>,
    /// `(k, n)`: the k-th of n parts of what the rest selects (1-based), for spreading a run over
    /// machines whose reports `crossgrade report merge` puts back together.
    pub partition: Option<(usize, usize)>,
    /// A scenario file with a `[trial]` table: its one trial instead of the matrix's.
    pub scenario_file: Option<PathBuf>,
}

/// A selection that names what the matrix does not have. Nothing runs.
#[derive(Debug, thiserror::Error, Diagnostic)]
pub enum SelectError {
    #[error("`{part}` in --cell is not ROLE=RELEASE")]
    #[diagnostic(help("e.g. --cell master=0.23,scheduler=0.22"))]
    BadCell { part: String },
    #[error("no trial `{id}` in {matrix}")]
    #[diagnostic(help("list them with `crossgrade plan --ids -f {matrix}`"))]
    UnknownTrial { id: String, matrix: String },
    #[error("no scenario `{name}` in {matrix}")]
    #[diagnostic(help("its scenarios: {known}"))]
    UnknownScenario {
        name: String,
        matrix: String,
        known: String,
    },
    #[error(transparent)]
    #[diagnostic(transparent)]
    Subset(#[from] LoadError),
    #[error("the filters select no trial")]
    #[diagnostic(help("`crossgrade plan --ids -f {matrix}` lists the trials"))]
    Empty { matrix: String },
}

impl Selection {
    /// Whether it selects every trial (no filter at all).
    pub fn is_everything(&self) -> bool {
        self.trials.is_empty()
            && self.cells.is_empty()
            && self.scenarios.is_empty()
            && self.subset.is_none()
            && self.partition.is_none()
            && self.scenario_file.is_none()
    }

    /// The selected trials of `m`'s plan, in plan order.
    pub fn select(&self, m: &Matrix) -> Result<Plan, SelectError> {
        let matrix = m.file.display().to_string();
        if let Some(file) = &self.scenario_file {
            let f = crate::model::load_scenario_file(m, file)?;
            return Ok(Plan {
                system: m.system.clone(),
                trials: vec![plan::file_trial(m, &f)],
                cells: Default::default(),
            });
        }
        let mut filter = Filter {
            trials: self.trials.clone(),
            scenarios: self.scenarios.clone(),
            cells: vec![],
        };
        for c in &self.cells {
            let cell = Filter::parse_cell(c).map_err(|part| SelectError::BadCell { part })?;
            filter.cells.push(cell);
        }
        let full = plan::expand(m);
        if let Some(id) = self
            .trials
            .iter()
            .find(|t| !full.trials.iter().any(|x| &x.id == *t))
        {
            return Err(SelectError::UnknownTrial {
                id: id.clone(),
                matrix,
            });
        }
        if let Some(name) = self.scenarios.iter().find(|s| m.scenario(s).is_none()) {
            let known: Vec<&str> = m.scenarios.iter().map(|s| s.name.as_str()).collect();
            return Err(SelectError::UnknownScenario {
                name: name.clone(),
                matrix,
                known: known.join(", "),
            });
        }
        let full = match &self.subset {
            Some(name) => full.subset(m, name)?,
            None => full,
        };
        let mut plan = full.filtered(&filter);
        if let Some((k, n)) = self.partition {
            // Round robin in plan order: parts differ in size by one at most, and the cells of a
            // scenario spread over every part.
            let mut i = 0;
            plan.trials.retain(|_| {
                i += 1;
                (i - 1) % n == k - 1
            });
        }
        if plan.trials.is_empty() {
            return Err(SelectError::Empty { matrix });
        }
        Ok(plan)
    }
}

/// Where a session's report goes.
#[derive(Debug, Clone)]
pub struct ReportTarget {
    /// The report folder (`reports/<run id>`, or one folder shared by the processes of a nextest
    /// run).
    pub dir: PathBuf,
    /// The run's name in `results.json`.
    pub name: String,
    /// Every trial the report covers, in plan order (more than this session runs when several
    /// processes share the folder): orders the report and says when it is complete.
    pub order: Vec<String>,
    /// The matrix as the user named it (`None`: the default `matrix.toml`), for the commands that
    /// rerun a trial.
    pub matrix_arg: Option<String>,
    pub store: Store,
    /// What the matrix's API definitions predict for each trial (`risk`), recorded in its report;
    /// empty without `[api]`.
    pub predictions: Arc<BTreeMap<String, Prediction>>,
}

/// One run of some trials of a matrix.
pub struct Session {
    pub matrix: Arc<Matrix>,
    pub trials: Vec<Trial>,
    /// Labels this run's objects in the engine (`crossgrade.run`).
    pub run_id: String,
    /// Trials at once.
    pub jobs: usize,
    /// Leave the containers of trials that did not pass.
    pub keep: bool,
    /// Runs per trial (`run --repeat N`; 1 runs each once, as without it). The runs go in rounds
    /// (every trial's run 1, then every trial's run 2, ...), each in its own folder `…/repeat-K`
    /// with its own containers, and each trial is reported once, its runs aggregated.
    pub repeat: usize,
    pub report: ReportTarget,
}

/// What a finished session leaves.
pub struct Finished {
    /// The whole report folder's results (with the trials of other processes, if any).
    pub results: Results,
    pub paths: ReportPaths,
    /// This session's trials as reported, in the order they finished.
    pub trials: Vec<TrialReport>,
    /// Stopped by SIGINT/SIGTERM (everything it created has been removed).
    pub cancelled: bool,
}

impl Session {
    /// Runs the session on `backend` (or gives every trial an `error` when the engine could not be
    /// reached), showing it on `display` and writing the report as trials finish.
    pub async fn run(
        self,
        backend: Result<Arc<dyn Backend>, EngineError>,
        display: Display,
        cancel: CancellationToken,
    ) -> std::io::Result<Finished> {
        let target = &self.report;
        let mut meta = RunMeta::of(
            &self.matrix,
            &target.name,
            target.matrix_arg.as_deref().unwrap_or("matrix.toml"),
            target.store.dir(),
        );
        meta.provenance = Provenance::here(&self.matrix.root, self.jobs);
        meta.provenance.repeat = (self.repeat > 1).then_some(self.repeat);
        if let Ok(b) = &backend {
            meta.provenance.engine = b.describe().await.unwrap_or_default();
        }
        // How replicas' ports are reached on this engine: what every trial runs with.
        let (backend, reach) = match backend {
            Ok(b) => match b.reach().await {
                Ok(r) => (Ok(b), Some(r)),
                Err(e) => (Err(format!("Docker engine: {e}")), None),
            },
            Err(e) => (Err(format!("Docker engine unreachable: {e}")), None),
        };
        meta.provenance.reach = reach
            .as_ref()
            .map(|r| r.reach.word().to_string())
            .unwrap_or_default();
        // A drawn plan is written into its trial's folder as the scenario file that replays it.
        for t in &self.trials {
            if let Some(d) = &t.drawn {
                let dir = target.dir.join(run::trial_dir(t));
                std::fs::create_dir_all(&dir)?;
                let steps: Vec<&plan::PlannedStep> = t.steps.iter().collect();
                let matrix = target.matrix_arg.as_deref().unwrap_or("matrix.toml");
                let file = dir.join("plan.toml");
                let comment = format!(
                    "Plan {} of {} drawn from seed {} by [matrix.random] of {matrix}: {}.\n\
                     Replay it: crossgrade run -f {matrix} --scenario-file {}",
                    d.plan,
                    d.of,
                    d.seed,
                    t.id,
                    report::shell_quote(&file.display().to_string())
                );
                let name = format!("{}-random-{}-{}", t.scenario, d.seed, d.plan);
                let text = t.scenario_file(&self.matrix, &name, &comment, &steps);
                crate::atomic::write_atomic(&file, text.as_bytes())?;
            }
        }
        let recorder = Recorder::new(
            &target.dir,
            meta,
            target.store.clone(),
            target.order.clone(),
            target.predictions.clone(),
        )
        .with_repeat(self.repeat);
        let mut reporter = Reporter::new(display, recorder);
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let consumer = tokio::spawn(async move {
            while let Some(e) = rx.recv().await {
                reporter.report(&e);
            }
            reporter
        });
        let events = Events::new(tx);
        let matrix_arg = target.matrix_arg.clone();
        let opts = RunOptions {
            run_id: self.run_id.clone(),
            report_dir: target.dir.clone(),
            jobs: self.jobs,
            keep: self.keep,
            reproduce: Arc::new(move |t| {
                report::reproduce(matrix_arg.as_deref(), &t.id, t.file.as_deref())
            }),
            reach: reach.clone().unwrap_or_else(|| {
                ReachChoice::new(crate::runtime::Reach::Direct, "no engine answered")
            }),
            // The previous run in the same reports folder, before this one becomes `latest`.
            took: target
                .dir
                .parent()
                .map(|reports| run::Durations::of_report(&reports.join("latest")))
                .unwrap_or_default(),
            bring_up: run::bring_up_slots(),
        };
        events.emit(Event::RunStarted {
            run_id: self.run_id.clone(),
            trials: self.trials.len(),
        });
        let rounds = self.repeat.max(1);
        // Run `k` of each trial: its own folder, when the trials are repeated.
        let run_k = |t: &Trial, k: usize| {
            let mut t = t.clone();
            t.repeat = (rounds > 1).then_some(k);
            t
        };
        match backend {
            Err(reason) => {
                for k in 1..=rounds {
                    for t in &self.trials {
                        events.emit(Event::TrialFinished {
                            outcome: Box::new(errored(
                                &run_k(t, k),
                                reason.clone(),
                                &*opts.reproduce,
                            )),
                        });
                    }
                }
            }
            Ok(backend) => {
                // Leftovers of runs whose process is gone (killed with SIGKILL, say): one try each,
                // best effort. What is busy is being removed by another sweeper, or is stuck in the
                // engine (a stale endpoint): either way, not worth delaying this run for.
                let _ = gc(&*backend, false, Some(&self.run_id), Duration::ZERO).await;
                let (ready, unready) =
                    preflight(&*backend, &self.matrix, self.trials, &opts.reach).await;
                for k in 1..=rounds {
                    for (t, reason) in &unready {
                        events.emit(Event::TrialFinished {
                            outcome: Box::new(errored(
                                &run_k(t, k),
                                reason.clone(),
                                &*opts.reproduce,
                            )),
                        });
                    }
                }
                for k in 1..=rounds {
                    // An interrupted round leaves the rest unrun (the reports say how many runs
                    // each trial had).
                    if k > 1 && cancel.is_cancelled() {
                        break;
                    }
                    run::run_trials(
                        backend.clone(),
                        self.matrix.clone(),
                        ready.iter().map(|t| run_k(t, k)).collect(),
                        opts.clone(),
                        events.clone(),
                        cancel.clone(),
                    )
                    .await;
                }
            }
        }
        drop(events);
        let reporter = consumer.await.map_err(std::io::Error::other)?;
        let (recorder, trials) = reporter.finish();
        let (paths, results) = recorder.rebuild()?;
        Ok(Finished {
            results,
            paths,
            trials,
            cancelled: cancel.is_cancelled(),
        })
    }
}

/// Every image `trials` run on an engine whose replicas are reached as `reach` says: those the plan
/// names, and the relay helper when they are reached through the engine.
pub fn images_needed(m: &Matrix, trials: &[Trial], reach: &ReachChoice) -> Vec<String> {
    let mut images = plan::images(m, trials);
    if let Some(helper) = reach.helper_image() {
        if !images.iter().any(|i| i == helper) {
            images.push(helper.to_string());
        }
    }
    images
}

/// Splits `trials` into those whose images the engine has and those it cannot run, each with the
/// reason of its `error`: a missing image is our side's error, caught before anything is created.
async fn preflight(
    backend: &dyn Backend,
    m: &Matrix,
    trials: Vec<Trial>,
    reach: &ReachChoice,
) -> (Vec<Trial>, Vec<(Trial, String)>) {
    let mut present: std::collections::HashMap<String, bool> = Default::default();
    let (mut ready, mut unready) = (vec![], vec![]);
    for t in trials {
        let mut missing = vec![];
        let mut failure = None;
        for image in images_needed(m, std::slice::from_ref(&t), reach) {
            let known = match present.get(&image) {
                Some(p) => *p,
                None => match backend.image_exists(&image).await {
                    Ok(p) => *present.entry(image.clone()).or_insert(p),
                    Err(e) => {
                        failure = Some(format!("Docker engine: {e}"));
                        break;
                    }
                },
            };
            if !known {
                missing.push(image);
            }
        }
        let reason = failure.or_else(|| {
            (!missing.is_empty()).then(|| {
                format!(
                    "image {} missing: build with `crossgrade images build -f {}` (images are never pulled)",
                    missing.join(", "),
                    m.file.display()
                )
            })
        });
        match reason {
            Some(r) => unready.push((t, r)),
            None => ready.push(t),
        }
    }
    (ready, unready)
}

/// Cancels `cancel` on SIGINT or SIGTERM (Ctrl-C, and how nextest stops a test that ran too long).
/// The run then says so through its display, removes what it created and returns.
pub async fn cancel_on_signals(cancel: CancellationToken) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        return;
    };
    tokio::select! {
        _ = int.recv() => {}
        _ = term.recv() => {}
    }
    cancel.cancel();
}
