//! The `crossgrade` command: parse arguments, load the matrix, then dispatch to one small function per
//! subcommand. Errors are mapped to exit codes in one place.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use crossgrade::model::{self, Matrix};
use crossgrade::outcome::Verdict;
use crossgrade::plan::{self, Filter, Plan};
use crossgrade::report::{self, Results, Terminal};
use crossgrade::run::{self, Events, RunOptions};
use crossgrade::runtime::{self, Engine};
use tokio_util::sync::CancellationToken;

/// Every trial passed (or only `plan`/`gc`/... was asked).
const EXIT_OK: u8 = 0;
/// A trial failed or errored, or the engine could not be used.
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
    /// Build every image of the matrix that is missing or out of date (by content hash).
    Build {
        #[command(flatten)]
        m: MatrixArg,
        /// Rebuild even when up to date.
        #[arg(long)]
        force: bool,
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
        } => cmd_run(&m.matrix, &filter, jobs, keep, reports).await,
        Command::Images { command } => match command {
            ImagesCommand::Build { m, force } => cmd_images_build(&m.matrix, force).await,
            ImagesCommand::List { m } => cmd_images_list(&m.matrix).await,
        },
        Command::Gc { all } => cmd_gc(all).await,
        Command::Doctor { m } => cmd_doctor(&m.matrix).await,
    }
}

/// Loads the matrix, printing every problem with its position.
fn load(path: &Path) -> Result<Matrix, u8> {
    model::load(path).map_err(|e| {
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

fn shell_quote(s: &str) -> String {
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_./=,:".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

async fn cmd_run(
    path: &Path,
    f: &FilterArgs,
    jobs: Option<usize>,
    keep: bool,
    reports: Option<PathBuf>,
) -> u8 {
    let (m, plan) = match load(path).and_then(|m| planned(&m, f).map(|p| (m, p))) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let run_id = run::new_run_id();
    let reports_root = reports.unwrap_or_else(|| m.root.join("reports"));
    let report_dir = reports_root.join(&run_id);
    let matrix_arg = path.display().to_string();
    let opts = RunOptions {
        run_id: run_id.clone(),
        report_dir: report_dir.clone(),
        jobs: jobs.unwrap_or_else(run::default_jobs),
        keep,
        reproduce: Arc::new(move |t| {
            format!(
                "crossgrade run -f {} --trial {}",
                shell_quote(&matrix_arg),
                shell_quote(&t.id)
            )
        }),
    };

    let cancel = CancellationToken::new();
    let signals = tokio::spawn(watch_signals(cancel.clone()));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let display = tokio::spawn(async move {
        let mut term = Terminal::new();
        while let Some(e) = rx.recv().await {
            term.handle(&e);
        }
        term.finish();
    });
    let started = time::OffsetDateTime::now_utc();
    let t0 = std::time::Instant::now();
    let matrix = Arc::new(m);
    let outcomes = run::run_trials(
        matrix.clone(),
        plan.trials,
        opts,
        Events::new(tx),
        cancel.clone(),
    )
    .await;
    let _ = display.await;
    signals.abort();

    let results = Results {
        schema: report::SCHEMA,
        run_id: &run_id,
        matrix: path.display().to_string(),
        system: &matrix.system,
        started_at: started
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
        duration_ms: t0.elapsed().as_millis() as u64,
        counts: report::Counts::of(&outcomes),
        trials: &outcomes,
    };
    if let Err(e) = report::write_report(&report_dir, &results) {
        eprintln!("error: writing the report to {}: {e}", report_dir.display());
    }
    print!("{}", report::table(&outcomes));
    let c = results.counts;
    println!(
        "{} trials: {} pass, {} fail, {} error. Report: {}",
        c.total,
        c.pass,
        c.fail,
        c.error,
        report_dir.join("summary.md").display()
    );
    if keep {
        for o in outcomes.iter().filter(|o| o.verdict != Verdict::Pass) {
            println!("kept: {}", run::keep_hint(&run_id, &o.id));
        }
        if outcomes.iter().any(|o| o.verdict != Verdict::Pass) {
            println!("remove them with `crossgrade gc --all` when done");
        }
    }
    if cancel.is_cancelled() {
        eprintln!("interrupted; everything this run created has been removed");
        return EXIT_INTERRUPTED;
    }
    if c.fail + c.error > 0 {
        EXIT_FAILED
    } else {
        EXIT_OK
    }
}

/// Cancels the run on SIGINT or SIGTERM (as Ctrl-C and nextest send them).
async fn watch_signals(cancel: CancellationToken) {
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
    eprintln!("crossgrade: stopping, cleaning up…");
    cancel.cancel();
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

async fn cmd_images_build(path: &Path, force: bool) -> u8 {
    let (m, engine) = match load_and_connect(path).await {
        Ok(x) => x,
        Err(c) => return c,
    };
    let opts = runtime::BuildOptions {
        force,
        only: vec![],
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
            eprintln!("{:?}", miette::Report::msg(format!("{e}")));
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
    let m = model::load(path);
    match &m {
        Ok(m) => println!(
            "matrix    ok: {} ({} trials)",
            path.display(),
            plan::expand(m).trials.len()
        ),
        Err(e) => {
            println!("matrix    INVALID: {e}");
            ok = false;
        }
    }
    if let Some(engine) = &engine {
        if let Ok(m) = &m {
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
