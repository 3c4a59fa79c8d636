//! The command line's arguments (clap), parsed and checked before anything runs.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use crossgrade::session::Selection;

#[derive(Parser)]
#[command(
    name = "crossgrade",
    version,
    about = "Test cross-version upgrades of distributed systems on a real Docker engine",
    after_help = "Exit codes: 0 nothing red (every trial passed, or failed as its baseline records); \
                  1 a red trial (regressed, changed, new and failing, or an error), or the engine, a \
                  build or a report failed; 2 bad input (a matrix, scenario or argument: nothing was \
                  started); 130 interrupted (after cleaning up). The engine is the one the docker CLI \
                  would use (DOCKER_HOST, DOCKER_CONTEXT, its current context); replicas' ports are \
                  reached directly for an engine on this host and through the engine otherwise \
                  (CROSSGRADE_REACH=direct|engine forces it; `crossgrade doctor` says which)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Colour the verdicts: auto (on a terminal, unless NO_COLOR is set), always or never.
    #[arg(long, global = true, value_enum, default_value = "auto")]
    pub color: ColorChoice,
}

#[derive(Subcommand)]
pub enum ReportCommand {
    /// Merge the reports of runs that each ran part of a plan (partitions on several machines, a
    /// rerun of what failed) into one, as if one run had run them all; a trial recorded twice keeps
    /// its newest record.
    Merge {
        /// The report folders (e.g. one per CI runner).
        #[arg(required = true, num_args = 1..)]
        dirs: Vec<PathBuf>,
        /// The new folder (default: reports/<run id>-merged beside the first).
        #[arg(long)]
        into: Option<PathBuf>,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum CompatFormat {
    Markdown,
    Html,
    Json,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

impl ColorChoice {
    /// Applies the choice to what is printed on stderr (`auto` leaves console's own reading of the
    /// terminal, NO_COLOR and CLICOLOR_FORCE).
    pub fn apply(self) {
        match self {
            ColorChoice::Auto => {}
            ColorChoice::Always => console::set_colors_enabled_stderr(true),
            ColorChoice::Never => console::set_colors_enabled_stderr(false),
        }
    }
}

#[derive(clap::Args, Clone)]
pub struct MatrixArg {
    /// The matrix file, or FILE:SUBSET for the trials of its [subsets.SUBSET] (as the tests read
    /// CROSSGRADE_MATRIX).
    #[arg(
        short = 'f',
        long = "matrix",
        default_value = "matrix.toml",
        env = "CROSSGRADE_MATRIX",
        global = true,
        value_parser = matrix_ref
    )]
    pub matrix: MatrixRef,
}

/// `FILE` or `FILE:SUBSET`.
#[derive(Debug, Clone)]
pub struct MatrixRef {
    pub path: PathBuf,
    pub subset: Option<String>,
}

fn matrix_ref(s: &str) -> Result<MatrixRef, String> {
    if s.contains(',') {
        return Err(format!(
            "`{s}` names several matrices (the tests' list); the command line takes one: \
             give it with -f FILE[:SUBSET]"
        ));
    }
    match s.rsplit_once(':') {
        Some((file, subset)) if file.ends_with(".toml") && !subset.is_empty() => Ok(MatrixRef {
            path: PathBuf::from(file),
            subset: Some(subset.to_string()),
        }),
        _ => Ok(MatrixRef {
            path: PathBuf::from(s),
            subset: None,
        }),
    }
}

impl MatrixArg {
    /// What the filters select, with the subset `FILE:SUBSET` names when `--subset` does not.
    /// A run's report folder: the one given, else `reports/latest` beside the matrix file.
    pub fn report_dir(&self, given: Option<PathBuf>) -> PathBuf {
        given.unwrap_or_else(|| {
            let root = self
                .matrix
                .path
                .parent()
                .unwrap_or(std::path::Path::new(""));
            root.join("reports/latest")
        })
    }

    pub fn selection(&self, f: FilterArgs) -> Selection {
        let mut s: Selection = f.into();
        if s.subset.is_none() {
            s.subset = self.matrix.subset.clone();
        }
        s
    }
}

#[derive(clap::Args, Clone, Default)]
pub struct FilterArgs {
    /// Run only this trial (exact id; repeatable).
    #[arg(long = "trial")]
    pub trials: Vec<String>,
    /// Run only cells matching this partial assignment, e.g. `master=0.23,scheduler=0.22` (repeatable).
    #[arg(long = "cell")]
    pub cells: Vec<String>,
    /// Run only this scenario (repeatable).
    #[arg(long = "scenario")]
    pub scenarios: Vec<String>,
    /// Run only the trials of the matrix's `[subsets.NAME]` (e.g. `quick`, what the tests run).
    #[arg(long)]
    pub subset: Option<String>,
    /// Run only part K of N of what the other filters select (`2/4`; round robin in plan order),
    /// e.g. one per CI runner; `crossgrade report merge` makes one report of the parts.
    #[arg(long, value_parser = partition)]
    pub partition: Option<(usize, usize)>,
    /// Instead of the matrix's trials, the one trial a scenario file with a [trial] table is (a
    /// plan `crossgrade shrink` or a generated plan wrote), with the matrix's roles and images.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["trials", "cells", "scenarios", "subset", "partition"])]
    pub scenario_file: Option<PathBuf>,
}

/// `K/N` with 1 ≤ K ≤ N.
fn partition(s: &str) -> Result<(usize, usize), String> {
    let parsed = s
        .split_once('/')
        .and_then(|(k, n)| Some((k.trim().parse().ok()?, n.trim().parse().ok()?)));
    match parsed {
        Some((k, n)) if (1..=n).contains(&k) => Ok((k, n)),
        _ => Err(format!(
            "`{s}` is not a part: give K/N with 1 <= K <= N, e.g. 1/4 for the first of four"
        )),
    }
}

#[derive(Subcommand)]
pub enum Command {
    /// Print the trials and their steps, without touching Docker.
    Plan {
        #[command(flatten)]
        m: MatrixArg,
        #[command(flatten)]
        filter: FilterArgs,
        /// Print only the trial ids.
        #[arg(long, conflicts_with = "format")]
        ids: bool,
        /// Print how the cells were chosen: the product, the strategy, and the cells each exclusion
        /// and skew rule removed (with the rule's file:line:column).
        #[arg(long, conflicts_with_all = ["format", "ids"])]
        explain: bool,
        /// `text`, or `json`: the plan as data (schema crossgrade.plan/v1).
        #[arg(long, value_enum, default_value = "text")]
        format: PlanFormat,
        /// Order the trials riskiest first by what the matrix's [api] definitions predict (breaking,
        /// then risky findings between the releases each interface's roles run), with the counts;
        /// with --format json, each trial gets its `prediction`.
        #[arg(long, conflicts_with_all = ["explain"])]
        risk: bool,
    },
    /// Run trials on the local Docker engine.
    Run {
        #[command(flatten)]
        m: MatrixArg,
        #[command(flatten)]
        filter: FilterArgs,
        #[command(flatten)]
        opts: RunArgs,
    },
    /// Rebuild a run's reports (results.json, junit.xml, summary.md, index.html) from its trial records,
    /// e.g. after a nextest run whose trials ran in separate processes.
    #[command(args_conflicts_with_subcommands = true)]
    Report {
        #[command(flatten)]
        m: MatrixArg,
        /// The run's report folder (default: reports/latest beside the matrix file).
        dir: Option<PathBuf>,
        #[command(subcommand)]
        command: Option<ReportCommand>,
    },
    /// Record a finished run's verdicts as the baseline: every trial whose verdict differs from the
    /// baseline as it is now (new, fixed, changed), each shown as a diff; regressions only with
    /// --regressions; errors never (they are ours or the engine's).
    Accept {
        #[command(flatten)]
        m: MatrixArg,
        /// The run's report folder (default: reports/latest beside the matrix file).
        dir: Option<PathBuf>,
        /// Only this trial (repeatable).
        #[arg(long = "trial")]
        trials: Vec<String>,
        /// Record regressions too (a trial that passed in the baseline and fails now).
        #[arg(long)]
        regressions: bool,
        /// The baseline's folder (default: the one the run was compared with).
        #[arg(long)]
        snapshots: Option<PathBuf>,
    },
    /// Shrinks a failing trial to a smallest plan that fails the same way (same kind of failed
    /// step, same reason), by delta debugging over its steps with real trials; writes that plan as
    /// a scenario file and prints the command that runs it. Exit 1 when the trial does not fail.
    Shrink {
        #[command(flatten)]
        m: MatrixArg,
        /// The failing trial's id (`crossgrade plan --ids`).
        trial: String,
        /// A report holding the trial's failure (else the trial runs once first to see it fail).
        #[arg(long, value_name = "DIR")]
        from: Option<PathBuf>,
        /// The most candidate trials to run.
        #[arg(long, default_value_t = 40, value_parser = at_least_one)]
        max_trials: usize,
        /// Where the candidates' reports and the shrunk plan go (default: reports/ beside the
        /// matrix file).
        #[arg(long)]
        reports: Option<PathBuf>,
    },
    /// The compatibility table of a run: per pair of roles, release × release, works, broken or
    /// untested; the combinations suspected of each failure; the upgrade paths proven or failed.
    Compat {
        #[command(flatten)]
        m: MatrixArg,
        /// The run's report folder (default: reports/latest beside the matrix file).
        dir: Option<PathBuf>,
        /// `markdown`, `html` (a fragment) or `json` (schema crossgrade.compat/v1).
        #[arg(long, value_enum, default_value = "markdown")]
        format: CompatFormat,
    },
    /// Predicted versus observed: each trial's static API prediction (recorded when the run was
    /// planned, from the matrix's [api]) beside its verdict: predicted and failed, failed without a
    /// prediction, predicted and passed, neither.
    Predicted {
        #[command(flatten)]
        m: MatrixArg,
        /// The run's report folder (default: reports/latest beside the matrix file).
        dir: Option<PathBuf>,
        /// `markdown`, `html` (a fragment) or `json` (schema crossgrade.predicted/v1).
        #[arg(long, value_enum, default_value = "markdown")]
        format: CompatFormat,
    },
    /// Build the system's images locally.
    Images {
        #[command(subcommand)]
        command: ImagesCommand,
    },
    /// Remove containers, networks and volumes left by runs that are no longer alive (engine-wide:
    /// `-f` is accepted and changes nothing).
    Gc {
        #[command(flatten)]
        m: MatrixArg,
        /// Remove every crossgrade object, even those of runs that look alive.
        #[arg(long)]
        all: bool,
    },
    /// Check the engine, the images the matrix needs, and leftovers.
    Doctor {
        #[command(flatten)]
        m: MatrixArg,
    },
    /// Compare two releases' protobuf API definitions (folders of .proto files, e.g.
    /// apis/mesos/0.22.0 apis/mesos/0.23.0): what a change breaks on the wire and in JSON, with
    /// both sides' file:line. Findings are not errors: the exit code is 0 unless --deny says so.
    ApiDiff(ApiDiffArgs),
    /// Check JSON messages (captured from a system, or written by a scenario) against one release's
    /// protobuf definitions: what does not conform (unknown keys, missing required fields, wrong
    /// types) and what uses a part the release marks deprecated. Exit 1 when a message does not
    /// conform (or, with --deny-deprecated, uses a deprecated part).
    ApiCheck(ApiCheckArgs),
    /// Operation histories: check them for linearizability.
    History {
        #[command(subcommand)]
        command: HistoryCommand,
    },
    /// Print a shell completion script, e.g. `crossgrade completions bash > /etc/bash_completion.d/crossgrade`.
    Completions { shell: clap_complete::Shell },
    /// Print the manual page (roff), e.g. `crossgrade man | man -l -`.
    Man,
}

#[derive(Subcommand)]
pub enum ImagesCommand {
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
        /// Stream every build's log (otherwise a live line per image on a terminal; every log is
        /// kept in reports/builds/ either way).
        #[arg(long, short = 'v')]
        verbose: bool,
    },
    /// List the images the matrix needs and whether the engine has them.
    List {
        #[command(flatten)]
        m: MatrixArg,
    },
}

#[derive(Subcommand)]
pub enum HistoryCommand {
    /// Check operation histories for linearizability against a model, one line per file.
    #[command(
        after_help = "Exit codes: 0 every history is linearizable; 1 one is not (or its \
                            check ran out of steps); 2 a file cannot be read or parsed, or its \
                            operations are not the model's (nothing is checked then)."
    )]
    Check {
        /// The sequential model: `register` (read, write, cas; per key if the operations have
        /// one) or `kv` (get, put, append; per key).
        #[arg(long, value_enum)]
        model: HistoryModel,
        /// The files' format (default: told from each file's first line).
        #[arg(long, value_enum)]
        format: Option<HistoryFormat>,
        /// Give up on a history (verdict unknown, exit 1) after this many search steps; 0: never.
        /// Real histories take a few steps per operation.
        #[arg(long, default_value_t = 100_000_000)]
        max_steps: u64,
        /// History files: crossgrade's history.jsonl, a Jepsen etcd log, or Jepsen kv EDN lines.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum HistoryModel {
    Register,
    Kv,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum HistoryFormat {
    Jsonl,
    JepsenEtcd,
    JepsenKv,
}

/// What `run` is asked besides the matrix and the filters.
#[derive(clap::Args, Clone)]
pub struct RunArgs {
    /// Trials at once.
    #[arg(short = 'j', long = "jobs", value_parser = at_least_one)]
    pub jobs: Option<usize>,
    /// Leave the containers of trials that did not pass, and print how to reach them.
    #[arg(long)]
    pub keep: bool,
    /// Where run reports go (default: `reports/` beside the matrix file).
    #[arg(long)]
    pub reports: Option<PathBuf>,
    /// The baseline snapshots (default: `reports/snapshots/` beside the matrix file).
    #[arg(long)]
    pub snapshots: Option<PathBuf>,
    /// Record this run's changed verdicts as the new baseline (errors are never recorded, nor
    /// regressions without --regressions). The exit code is still the run's, judged against the
    /// baseline it started from.
    #[arg(long)]
    pub accept: bool,
    /// Rerun the red trials of a finished run's report folder (default: reports/latest beside the
    /// matrix file), with the other filters narrowing them further.
    #[arg(long, value_name = "REPORT", num_args = 0..=1, default_missing_value = "")]
    pub failed: Option<PathBuf>,
    /// With --accept: record regressions too (a trial that passed and no longer does).
    #[arg(long, requires = "accept")]
    pub regressions: bool,
    /// Run every selected trial N times, each run with its own containers and folder
    /// (trials/…/repeat-K); each trial is reported once with how many runs passed and its class:
    /// deterministic (every run the same verdict), flaky (k of N passed) or error (a run errored).
    /// A trial the baseline records as `verdict: flaky` may pass or fail without turning the run
    /// red; one recorded as deterministic that now varies is red. With --accept, a trial whose runs
    /// disagree is recorded as flaky. Not with --keep (a kept run's containers would stand in the
    /// way of the next run's).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = at_least_one,
          conflicts_with = "keep")]
    pub repeat: usize,
    /// `human` (lines and a table) or `json`: one JSON object per line on stdout (run_started,
    /// trial_started, step_started, step_finished, trial_finished, ..., run_finished), each with
    /// "schema": "crossgrade.events/v1"; the terminal lines go away.
    #[arg(long, value_enum, default_value = "human")]
    pub message_format: MessageFormat,
}

#[derive(clap::Args, Clone)]
pub struct ApiDiffArgs {
    /// The old release's folder of .proto files (import roots are found from the imports); with
    /// --cells, a release of the matrix.
    pub old: PathBuf,
    /// The new release's folder; with --cells, another release of the matrix.
    pub new: PathBuf,
    /// OLD and NEW are releases of the matrix (-f): diff them through its [api] interfaces, both
    /// ways, and name the cells and path states of its plan where the two meet.
    #[arg(long, conflicts_with_all = ["grace", "messages"])]
    pub cells: bool,
    #[command(flatten)]
    pub m: MatrixArg,
    /// `text`, `json` (schema crossgrade.api-diff/v1) or `markdown`.
    #[arg(long, value_enum, default_value = "text")]
    pub format: ApiFormat,
    /// Exit 1 when a finding is this severe or worse.
    #[arg(long, value_enum, value_name = "SEVERITY")]
    pub deny: Option<DenySeverity>,
    /// Only findings in this message, enum or package (full name, e.g. mesos.v1.scheduler.Call)
    /// and in the types its fields reach (repeatable).
    #[arg(long = "message", value_name = "NAME")]
    pub messages: Vec<String>,
    /// Also report what was removed after fewer than N releases deprecated; the releases between
    /// (and before, for when a deprecation began) are the folders beside OLD, in version order.
    #[arg(long, value_name = "N")]
    pub grace: Option<usize>,
}

#[derive(clap::Args, Clone)]
pub struct ApiCheckArgs {
    /// The release's folder of .proto files (e.g. apis/mesos/0.28.0).
    pub definitions: PathBuf,
    /// The messages' type, package included (e.g. mesos.v1.scheduler.Call).
    #[arg(long = "message", value_name = "NAME")]
    pub message: String,
    /// JSON Lines files: one message per line.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Exit 1 also when a message uses a field, value or message the release marks deprecated.
    #[arg(long)]
    pub deny_deprecated: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ApiFormat {
    Text,
    Json,
    Markdown,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum DenySeverity {
    Breaking,
    Risky,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum PlanFormat {
    Text,
    Json,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum MessageFormat {
    Human,
    Json,
}

impl From<FilterArgs> for Selection {
    fn from(f: FilterArgs) -> Selection {
        Selection {
            trials: f.trials,
            cells: f.cells,
            scenarios: f.scenarios,
            subset: f.subset,
            partition: f.partition,
            scenario_file: f.scenario_file,
        }
    }
}

/// A count that must be at least 1 (`-j 0` would run nothing and wait forever).
fn at_least_one(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(format!("{e}: give a whole number, at least 1")),
    }
}
