//! The `crossgrade` command: parse arguments, load the matrix, then dispatch to one small function per
//! subcommand. Errors are mapped to exit codes in one place.

use std::error::Error as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use crossgrade::baseline::{self, Store};
use crossgrade::model::{self, Matrix};
use crossgrade::outcome::Verdict;
use crossgrade::plan::{self, Filter, Plan};
use crossgrade::report::{self, Recorder, Results, RunMeta, Terminal};
use crossgrade::run::{self, Event, Events, RunOptions};
use crossgrade::runtime::{self, Engine};
use tokio_util::sync::CancellationToken;

/// Nothing red: every trial passed or failed exactly as its baseline records (or only `plan`/`gc`/...
/// was asked).
const EXIT_OK: u8 = 0;
/// A trial is red (regressed, changed, new and failing, or errored), or the engine could not be used.
const EXIT_FAILED: u8 = 1;
/// Bad input: the matrix, a scenario or an argument. Nothing was started.
const EXIT_BAD_INPUT: u8 = 2;
/// Interrupted by SIGINT/SIGTERM (after cleaning up).
const EXIT_INTERRUPTED: u8 = 130;

#[derive(Parser)]
#[command(
    name = "crossgrade",
    version,
    about = "Test cross-version upgrades of distributed systems on a real Docker engine"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args, Clone)]
struct MatrixArg {
    /// The matrix file.
    #[arg(
        short = 'f',
        long = "matrix",
        default_value = "matrix.toml",
        global = true
    )]
    matrix: PathBuf,
}

#[derive(clap::Args, Clone, Default)]
struct FilterArgs {
    /// Run only this trial (exact id; repeatable).
    #[arg(long = "trial")]
    trials: Vec<String>,
    /// Run only cells matching this partial assignment, e.g. `master=0.23,scheduler=0.22` (repeatable).
    #[arg(long = "cell")]
    cells: Vec<String>,
    /// Run only this scenario (repeatable).
    #[arg(long = "scenario")]
    scenarios: Vec<String>,
    /// Run only the trials of the matrix's `[subsets.NAME]` (e.g. `quick`, what the tests run).
    #[arg(long)]
    subset: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Print the trials and their steps, without touching Docker.
    Plan {
        #[command(flatten)]
        m: MatrixArg,
        #[command(flatten)]
        filter: FilterArgs,
        /// Print only the trial ids.
        #[arg(long)]
        ids: bool,
    },
    /// Run trials on the local Docker engine.
    Run {
        #[command(flatten)]
        m: MatrixArg,
        #[command(flatten)]
        filter: FilterArgs,
        /// Trials at once.
        #[arg(short = 'j', long = "jobs")]
        jobs: Option<usize>,
        /// Leave the containers of trials that did not pass, and print how to reach them.
        #[arg(long)]
        keep: bool,
        /// Where run reports go (default: `reports/` beside the matrix file).
        #[arg(long)]
        reports: Option<PathBuf>,
        /// The baseline snapshots (default: `reports/snapshots/` beside the matrix file).
        #[arg(long)]
        snapshots: Option<PathBuf>,
        /// Record this run's verdicts as the new baseline (errors are never recorded).
        #[arg(long)]
        accept: bool,
    },
    /// Rebuild a run's reports (results.json, junit.xml, summary.md, index.html) from its trial records,
    /// e.g. after a nextest run whose trials ran in separate processes.
    Report {
        /// The run's report folder.
        #[arg(default_value = "reports/latest")]
        dir: PathBuf,
    },
    /// Build the system's images locally.
    Images {
        #[command(subcommand)]
        command: ImagesCommand,
    },
    /// Remove containers, networks and volumes left by runs that are no longer alive.
    Gc {
        /// Remove every crossgrade object, even those of runs that look alive.
        #[arg(long)]
        all: bool,
    },
    /// Check the engine, the images the matrix needs, and leftovers.
    Doctor {
        #[command(flatten)]
        m: MatrixArg,
    },
}

#[derive(Subcommand)]
enum ImagesCommand {
    /// Build the matrix's images (with filters: those the selected trials run), when missing or out of
    /// date (by content hash).
    Build {
        #[command(flatten)]
        m: MatrixArg,
        #[command(flatten)]
        filter: FilterArgs,
        /// Rebuild even when up to date.
        #[arg(long)]
        force: bool,
        /// Install missing host tools (`debootstrap`, with `apt-get`, as root on Debian or Ubuntu)
        /// instead of failing with how to install them.
        #[arg(
            long,
            env = "CROSSGRADE_INSTALL_TOOLS",
            value_parser = clap::builder::FalseyValueParser::new()
        )]
        install_tools: bool,
    },
    /// List the images the matrix needs and whether the engine has them.
    List {
        #[command(flatten)]
        m: MatrixArg,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_FAILED);
        }
    };
    let code = rt.block_on(dispatch(cli));
    ExitCode::from(code)
}

async fn dispatch(cli: Cli) -> u8 {
    match cli.command {
        Command::Plan { m, filter, ids } => cmd_plan(&m.matrix, &filter, ids),
        Command::Run {
            m,
            filter,
            jobs,
            keep,
            reports,
            snapshots,
            accept,
        } => {
            let opts = RunArgs {
                jobs,
                keep,
                reports,
                snapshots,
                accept,
            };
            cmd_run(&m.matrix, &filter, opts).await
        }
        Command::Images { command } => match command {
            ImagesCommand::Build {
                m,
                filter,
                force,
                install_tools,
            } => cmd_images_build(&m.matrix, &filter, force, install_tools).await,
            ImagesCommand::List { m } => cmd_images_list(&m.matrix).await,
        },
        Command::Gc { all } => cmd_gc(all).await,
        Command::Report { dir } => cmd_report(&dir),
        Command::Doctor { m } => cmd_doctor(&m.matrix).await,
    }
}

/// Loads the matrix, printing every problem with its position.
fn load(path: &Path) -> Result<Matrix, u8> {
    model::load(path)
        .and_then(|m| plan::expand_checked(&m).map(|_| m))
        .map_err(|e| {
            eprintln!("{:?}", miette::Report::new(e));
            EXIT_BAD_INPUT
        })
}

/// The plan, filtered; a filter that names nothing is bad input.
fn planned(m: &Matrix, f: &FilterArgs) -> Result<Plan, u8> {
    let mut filter = Filter {
        trials: f.trials.clone(),
        scenarios: f.scenarios.clone(),
        cells: vec![],
    };
    for c in &f.cells {
        match Filter::parse_cell(c) {
            Ok(cell) => filter.cells.push(cell),
            Err(e) => {
                eprintln!("error: {e}");
                return Err(EXIT_BAD_INPUT);
            }
        }
    }
    let full = plan::expand(m);
    for t in &f.trials {
        if !full.trials.iter().any(|x| &x.id == t) {
            eprintln!(
                "error: no trial `{t}` in {}; list them with `crossgrade plan --ids -f {}`",
                m.file.display(),
                m.file.display()
            );
            return Err(EXIT_BAD_INPUT);
        }
    }
    for s in &f.scenarios {
        if m.scenario(s).is_none() {
            eprintln!("error: no scenario `{s}` in {}", m.file.display());
            return Err(EXIT_BAD_INPUT);
        }
    }
    let full = match &f.subset {
        Some(name) => full.subset(m, name).map_err(|e| {
            eprintln!("{:?}", miette::Report::new(e));
            EXIT_BAD_INPUT
        })?,
        None => full,
    };
    let plan = full.filtered(&filter);
    if plan.trials.is_empty() {
        eprintln!("error: the filters select no trial");
        return Err(EXIT_BAD_INPUT);
    }
    Ok(plan)
}

fn cmd_plan(path: &Path, f: &FilterArgs, ids: bool) -> u8 {
    let plan = match load(path).and_then(|m| planned(&m, f)) {
        Ok(p) => p,
        Err(code) => return code,
    };
    if ids {
        for t in &plan.trials {
            println!("{}", t.id);
        }
    } else {
        println!("{plan}");
    }
    EXIT_OK
}

/// What `run` was asked besides the matrix and the filters.
struct RunArgs {
    jobs: Option<usize>,
    keep: bool,
    reports: Option<PathBuf>,
    snapshots: Option<PathBuf>,
    accept: bool,
}

async fn cmd_run(path: &Path, f: &FilterArgs, args: RunArgs) -> u8 {
    let (m, plan) = match load(path).and_then(|m| planned(&m, f).map(|p| (m, p))) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let run_id = run::new_run_id();
    let reports_root = args.reports.unwrap_or_else(|| m.root.join("reports"));
    let report_dir = reports_root.join(&run_id);
    let store = Store::new(
        args.snapshots
            .unwrap_or_else(|| baseline::default_dir(&m.root)),
    );
    // The default matrix needs no `-f` in the commands we print.
    let matrix_arg = (path != Path::new("matrix.toml")).then(|| path.display().to_string());
    let opts = RunOptions {
        run_id: run_id.clone(),
        report_dir: report_dir.clone(),
        jobs: args.jobs.unwrap_or_else(run::default_jobs),
        keep: args.keep,
        reproduce: Arc::new(move |t| report::reproduce(matrix_arg.as_deref(), &t.id)),
    };
    let meta = RunMeta::of(&m, &run_id, &path.display().to_string(), store.dir());
    let order: Vec<String> = plan.trials.iter().map(|t| t.id.clone()).collect();
    let recorder = Recorder::new(&report_dir, meta, store.clone(), order);

    let cancel = CancellationToken::new();
    let signals = tokio::spawn(run::cancel_on_signals(cancel.clone()));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    // The consumers of the run's events: the terminal, and the report files as trials finish.
    let display = tokio::spawn(async move {
        let mut term = Terminal::new();
        while let Some(e) = rx.recv().await {
            term.handle(&e);
            if let Event::TrialFinished { outcome } = &e {
                match recorder.finished(outcome) {
                    Ok(t) => term.trial_finished(&t),
                    Err(err) => {
                        term.trial_finished(&recorder.judge(outcome));
                        eprintln!(
                            "error: writing the report to {}: {err}",
                            recorder.dir().display()
                        );
                    }
                }
            }
        }
        term.finish();
        recorder
    });
    let matrix = Arc::new(m);
    let _ = run::run_trials(matrix, plan.trials, opts, Events::new(tx), cancel.clone()).await;
    let recorder = match display.await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: the report writer failed: {e}");
            return EXIT_FAILED;
        }
    };
    signals.abort();

    let (paths, results) = match recorder.rebuild() {
        Ok(x) => x,
        Err(e) => {
            eprintln!("error: writing the report to {}: {e}", report_dir.display());
            return EXIT_FAILED;
        }
    };
    print!("{}", report::table(&results));
    let (c, ch) = (results.counts, results.changes);
    println!(
        "{} trials: {} pass, {} fail, {} error · against the baseline: {} regressed, {} changed, {} new, {} fixed, {} unchanged",
        c.total, c.pass, c.fail, c.error, ch.regressed, ch.changed, ch.new, ch.fixed, ch.unchanged
    );
    println!("report: {}", paths.html.display());
    println!("        {}", paths.summary.display());
    if args.keep {
        for o in results
            .trials
            .iter()
            .filter(|t| t.outcome.verdict != Verdict::Pass)
        {
            println!("kept: {}", run::keep_hint(&run_id, &o.outcome.id));
        }
        if results
            .trials
            .iter()
            .any(|t| t.outcome.verdict != Verdict::Pass)
        {
            println!("remove them with `crossgrade gc --all` when done");
        }
    }
    if cancel.is_cancelled() {
        eprintln!("interrupted; everything this run created has been removed");
        return EXIT_INTERRUPTED;
    }
    if args.accept {
        return accept(&store, &results);
    }
    if ch.fixed > 0 || (ch.new > 0 && !results.red) {
        println!(
            "{} fixed and {} new trials are not in the baseline yet: record them with `crossgrade run --accept` (or `cargo insta review` after a nextest run)",
            ch.fixed, ch.new
        );
    }
    if results.red {
        EXIT_FAILED
    } else {
        EXIT_OK
    }
}

/// `--accept`: records every changed verdict as the new baseline. Errors are never recorded, and keep
/// the run red.
fn accept(store: &Store, results: &Results) -> u8 {
    let mut written = 0;
    let mut errors = 0;
    for t in &results.trials {
        if t.outcome.verdict == Verdict::Error {
            errors += 1;
            eprintln!(
                "not recorded: {} ended in an error (ours or the engine's), not a behaviour of the system",
                t.outcome.id
            );
            continue;
        }
        if !baseline::acceptable(t.outcome.verdict, t.change()) {
            continue;
        }
        if let Err(e) = store.write(&t.outcome.id, &t.baseline.snapshot) {
            eprintln!(
                "error: {e}: {}",
                e.source().map_or(String::new(), |s| s.to_string())
            );
            return EXIT_FAILED;
        }
        written += 1;
    }
    println!(
        "baseline: {written} snapshots written to {}",
        store.dir().display()
    );
    if errors > 0 {
        EXIT_FAILED
    } else {
        EXIT_OK
    }
}

async fn connect() -> Result<Engine, u8> {
    Engine::connect().await.map_err(|e| {
        eprintln!("error: {e}");
        EXIT_FAILED
    })
}

/// The matrix (checked first: bad input never touches the engine), then the engine.
async fn load_and_connect(path: &Path) -> Result<(Matrix, Engine), u8> {
    let m = load(path)?;
    Ok((m, connect().await?))
}

fn cmd_report(dir: &Path) -> u8 {
    let previous = std::fs::read(dir.join("results.json"))
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice::<Results>(&b).map_err(|e| e.to_string()));
    let results = match previous {
        Ok(r) => r,
        Err(e) => {
            eprintln!(
                "error: {} is not a run's report folder (its results.json: {e})",
                dir.display()
            );
            return EXIT_BAD_INPUT;
        }
    };
    let order: Vec<String> = results
        .trials
        .iter()
        .map(|t| t.outcome.id.clone())
        .collect();
    match report::rebuild_from_records(dir, results.meta, &order, results.duration_ms) {
        Ok((paths, r)) => {
            print!("{}", report::table(&r));
            println!("report: {}", paths.html.display());
            if r.red {
                EXIT_FAILED
            } else {
                EXIT_OK
            }
        }
        Err(e) => {
            eprintln!("error: rebuilding the report in {}: {e}", dir.display());
            EXIT_FAILED
        }
    }
}

async fn cmd_gc(all: bool) -> u8 {
    let engine = match connect().await {
        Ok(e) => e,
        Err(c) => return c,
    };
    match runtime::gc(&engine, all, None).await {
        Ok(s) => {
            println!("removed {s}");
            EXIT_OK
        }
        Err(e) => {
            eprintln!("error: {e}");
            EXIT_FAILED
        }
    }
}

async fn cmd_images_build(path: &Path, f: &FilterArgs, force: bool, install_tools: bool) -> u8 {
    let (m, engine) = match load_and_connect(path).await {
        Ok(x) => x,
        Err(c) => return c,
    };
    // Without filters, every image the matrix's [[image]] tables make (some matrices exist only to
    // build images); with filters, those the selected trials run. An image no [[image]] makes is the
    // user's to provide; the run says so if it is missing.
    let filtered = !(f.trials.is_empty()
        && f.cells.is_empty()
        && f.scenarios.is_empty()
        && f.subset.is_none());
    let only: Vec<String> = if filtered {
        let plan = match planned(&m, f) {
            Ok(p) => p,
            Err(c) => return c,
        };
        let defined = runtime::defined_images(&m);
        trial_images(&m, &plan)
            .into_iter()
            .filter(|i| defined.contains(i))
            .collect()
    } else {
        vec![]
    };
    if filtered && only.is_empty() {
        println!(
            "nothing to build: no [[image]] of {} makes the images these trials run",
            m.file.display()
        );
        return EXIT_OK;
    }
    let opts = runtime::BuildOptions {
        force,
        only,
        install_tools,
    };
    let mut progress = |e: runtime::BuildEvent| print_build_event(&e);
    match runtime::build_images(&engine, &m, &opts, &mut progress).await {
        Ok(r) => {
            println!(
                "{} built, {} up to date, {} base images bootstrapped",
                r.built.len(),
                r.up_to_date.len(),
                r.bootstrapped.len()
            );
            EXIT_OK
        }
        Err(e) => {
            eprintln!("{:?}", miette::Report::new(e));
            EXIT_FAILED
        }
    }
}

fn print_build_event(e: &runtime::BuildEvent) {
    use runtime::BuildEvent as B;
    match e {
        B::Log { .. } => {}
        other => eprintln!("  {other:?}"),
    }
}

/// The images the plan's trials run, each once.
fn trial_images(m: &Matrix, plan: &Plan) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for image in plan.trials.iter().flat_map(|t| t.images(m)) {
        if !out.contains(&image) {
            out.push(image);
        }
    }
    out
}

async fn cmd_images_list(path: &Path) -> u8 {
    let (m, engine) = match load_and_connect(path).await {
        Ok(x) => x,
        Err(c) => return c,
    };
    match runtime::image_status(&engine, &m).await {
        Ok(list) => {
            for (img, present) in list {
                println!(
                    "{:<8} {}",
                    if present { "present" } else { "MISSING" },
                    img.name
                );
            }
            EXIT_OK
        }
        Err(e) => {
            eprintln!("error: {e}");
            EXIT_FAILED
        }
    }
}

async fn cmd_doctor(path: &Path) -> u8 {
    let mut ok = true;
    let engine = match Engine::connect().await {
        Ok(e) => {
            let v = e.server_version().await.unwrap_or_else(|x| x.to_string());
            println!("engine    ok: Docker {v}, speaking API {}", e.api_version());
            Some(e)
        }
        Err(e) => {
            println!("engine    UNREACHABLE: {e}");
            println!("          start it (e.g. `dockerd &` as root) or set DOCKER_HOST");
            ok = false;
            None
        }
    };
    let m = model::load(path).and_then(|m| plan::expand_checked(&m).map(|p| (m, p)));
    match &m {
        Ok((_, p)) => println!(
            "matrix    ok: {} ({} trials)",
            path.display(),
            p.trials.len()
        ),
        Err(e) => {
            println!("matrix    INVALID: {e}");
            ok = false;
        }
    }
    if let Some(engine) = &engine {
        if let Ok((m, _)) = &m {
            match runtime::image_status(engine, m).await {
                Ok(list) => {
                    let missing: Vec<_> = list.iter().filter(|(_, p)| !p).collect();
                    if missing.is_empty() {
                        println!("images    ok: all {} present", list.len());
                    } else {
                        ok = false;
                        println!(
                            "images    {} of {} MISSING (build with `crossgrade images build -f {}`):",
                            missing.len(),
                            list.len(),
                            path.display()
                        );
                        for (i, _) in missing {
                            println!("          {}", i.name);
                        }
                    }
                }
                Err(e) => println!("images    cannot list: {e}"),
            }
        }
        let label = runtime::LABEL_RUN;
        let c = engine.containers_labelled(label).await.map(|v| v.len());
        let n = engine.networks_labelled(label).await.map(|v| v.len());
        let v = engine.volumes_labelled(label).await.map(|v| v.len());
        match (c, n, v) {
            (Ok(0), Ok(0), Ok(0)) => println!("leftovers none"),
            (Ok(c), Ok(n), Ok(v)) => println!(
                "leftovers {c} containers, {n} networks, {v} volumes labelled {label} (`crossgrade gc` removes those of dead runs)"
            ),
            _ => println!("leftovers cannot list"),
        }
    }
    if let Ok(out) = std::process::Command::new("df")
        .args(["-h", "--output=avail", "."])
        .output()
    {
        let text = String::from_utf8_lossy(&out.stdout);
        if let Some(avail) = text.lines().nth(1) {
            println!("disk      {} free here", avail.trim());
        }
    }
    if ok {
        EXIT_OK
    } else {
        EXIT_FAILED
    }
}
