//! One function per subcommand: load, ask the library, print.

use crossgrade::say;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crossgrade::api::{self, ApiDiff, ApiSource, Scope, Severity};
use crossgrade::baseline::{self, Store};
use crossgrade::model::{self, Matrix, Release};
use crossgrade::outcome::Verdict;
use crossgrade::plan::{self, Plan, Trial};
use crossgrade::report::{self, Display, Results, Terminal, TrialReport};
use crossgrade::risk::{self, Api, RiskFormat};
use crossgrade::run;
use crossgrade::runtime::{self, Backend, Engine};
use crossgrade::session::{ReportTarget, Selection, Session};
use tokio_util::sync::CancellationToken;

use super::args::{
    ApiCheckArgs, ApiDiffArgs, ApiFormat, CompatFormat, DenySeverity, HistoryFormat, HistoryModel,
    MessageFormat, PlanFormat, RunArgs,
};
use super::build_display::BuildDisplay;
use super::{out, Failure, Status};

/// The matrix, loaded and its plan checked (subsets name real trials): bad input never touches the
/// engine.
fn load(path: &Path) -> Result<Matrix, Failure> {
    let m = model::load(path)?;
    plan::expand_checked(&m)?;
    Ok(m)
}

/// The engine, or [`Failure::Unreachable`]: one message, whatever the command would have done. A
/// `CROSSGRADE_REACH` that names no way is bad input, said first.
async fn connect() -> Result<Engine, Failure> {
    reach_setting()?;
    Engine::connect().await.map_err(Failure::Unreachable)
}

/// What `CROSSGRADE_REACH` says, or exit 2.
fn reach_setting() -> Result<runtime::ReachSetting, Failure> {
    runtime::ReachSetting::from_env().map_err(|message| Failure::BadArgument {
        message,
        help: Some(format!(
            "unset {} to let crossgrade choose from where the engine is",
            runtime::REACH_VAR
        )),
    })
}

/// Two releases' API definitions compared: findings printed, never an error; `--deny` turns the
/// severe ones red (exit 1).
pub fn api_diff(args: &ApiDiffArgs) -> Result<Status, Failure> {
    if args.cells {
        return api_risk(args);
    }
    let scope = if args.messages.is_empty() {
        Scope::all()
    } else {
        Scope::names(args.messages.iter().cloned()).with_reachable()
    };
    let (mut findings, grace) = match args.grace {
        None => {
            let old = api::load(&ApiSource::dir(&args.old))?;
            let new = api::load(&ApiSource::dir(&args.new))?;
            (api::diff(&old, &new, &scope), Vec::new())
        }
        Some(n) => {
            let (history, from, to) = api::load_history(&args.old, &args.new)?;
            let (old, new) = (&history.releases[from].1, &history.releases[to].1);
            let grace = history.grace_findings(from.min(to), from.max(to), n, &scope);
            (api::diff(old, new, &scope), grace)
        }
    };
    findings.extend(grace);
    let diff = ApiDiff::new(
        args.old.display().to_string(),
        args.new.display().to_string(),
        findings,
    );
    let format = match args.format {
        ApiFormat::Text => api::Format::Text,
        ApiFormat::Json => api::Format::Json,
        ApiFormat::Markdown => api::Format::Markdown,
    };
    out(diff.render(format))?;
    let denied = args.deny.map(|d| match d {
        DenySeverity::Breaking => Severity::Breaking,
        DenySeverity::Risky => Severity::Risky,
    });
    Ok(Status::red_if(denied.is_some_and(|d| {
        diff.findings.iter().any(|f| f.severity >= d)
    })))
}

/// JSON messages held to one release's definitions: each one's nonconformance and deprecated uses
/// printed under `FILE:LINE`, then a count.
pub fn api_check(args: &ApiCheckArgs) -> Result<Status, Failure> {
    let schema = api::load(&ApiSource::dir(&args.definitions))?;
    api::message_named(&schema, &args.message)?;
    let files = args
        .files
        .iter()
        .map(|f| Ok((f, api::read_messages(f)?)))
        .collect::<Result<Vec<_>, Failure>>()?;
    let (mut total, mut bad, mut deprecated) = (0, 0, 0);
    for (file, messages) in &files {
        for (line, value) in messages {
            total += 1;
            let check = api::check_message(&schema, &args.message, value);
            let at = format!("{}:{line}", file.display());
            if !check.errors.is_empty() {
                bad += 1;
            }
            for e in &check.errors {
                out(format_args!("{at}: does not conform: {e}"))?;
            }
            for d in &check.deprecated {
                deprecated += 1;
                out(format_args!("{at}: uses deprecated: {d}"))?;
            }
        }
    }
    out(format_args!(
        "{total} {} of {} checked against {}: {bad} do not conform, {deprecated} uses of deprecated parts",
        if total == 1 { "message" } else { "messages" },
        args.message,
        args.definitions.display()
    ))?;
    Ok(Status::red_if(
        bad > 0 || (args.deny_deprecated && deprecated > 0),
    ))
}

/// Two releases of a matrix through its interfaces: the findings each way and the trials where
/// they meet.
fn api_risk(args: &ApiDiffArgs) -> Result<Status, Failure> {
    let m = load(&args.m.matrix.path)?;
    let release = |p: &Path| -> Result<Release, Failure> {
        let s = p.to_string_lossy();
        m.releases
            .iter()
            .find(|r| r.as_str() == s)
            .cloned()
            .ok_or_else(|| Failure::BadArgument {
                message: format!("`{s}` is not a release of {}", m.file.display()),
                help: Some(format!(
                    "with --cells, name two of its releases: {}",
                    m.releases
                        .iter()
                        .map(|r| r.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            })
    };
    let (a, b) = (release(&args.old)?, release(&args.new)?);
    let Some(mut api) = Api::load(&m)? else {
        return Err(Failure::BadArgument {
            message: format!("{} has no [api] table", m.file.display()),
            help: Some(
                "say where each release's definitions are and what the roles exchange (README: \
                 `[api]`), or give api-diff two folders"
                    .into(),
            ),
        });
    };
    let plan = plan::expand(&m);
    let risk = api.at_risk(&m, &plan.trials, &a, &b);
    let format = match args.format {
        ApiFormat::Text => RiskFormat::Text,
        ApiFormat::Json => RiskFormat::Json,
        ApiFormat::Markdown => RiskFormat::Markdown,
    };
    out(risk.render(format))?;
    let denied = args.deny.map(|d| match d {
        DenySeverity::Breaking => Severity::Breaking,
        DenySeverity::Risky => Severity::Risky,
    });
    Ok(Status::red_if(denied.is_some_and(|d| {
        risk.interfaces
            .iter()
            .any(|p| p.diff.findings.iter().any(|f| f.severity >= d))
    })))
}

/// What `crossgrade plan` shows.
pub struct PlanView {
    pub ids: bool,
    pub explain: bool,
    pub format: PlanFormat,
    pub risk: bool,
}

pub fn plan(path: &Path, selection: &Selection, view: PlanView) -> Result<Status, Failure> {
    let PlanView {
        ids,
        explain,
        format,
        risk,
    } = view;
    let m = load(path)?;
    // A matrix's API definitions are read (and their names checked) whenever it has them, so that
    // `plan` finds their bad input as it finds the matrix's.
    let api = Api::load(&m)?;
    let mut plan = selection.select(&m)?;
    let has_cells = plan.cells.product > 0;
    if risk {
        let Some(mut api) = api else {
            return Err(Failure::BadArgument {
                message: format!(
                    "{} has no [api] table: nothing to predict",
                    m.file.display()
                ),
                help: Some(
                    "say where each release's definitions are and what the roles exchange \
                     (README: `[api]`)"
                        .into(),
                ),
            });
        };
        let predictions = api.predict_all(&m, &plan.trials);
        let order: Vec<Trial> = risk::ordered(&plan.trials, &predictions)
            .into_iter()
            .map(|(t, _)| t.clone())
            .collect();
        plan.trials = order;
        if format == PlanFormat::Json {
            let mut json = plan.to_json();
            if let Some(trials) = json["trials"].as_array_mut() {
                for t in trials {
                    let id = t["id"].as_str().unwrap_or_default().to_string();
                    if let Some(p) = predictions.get(&id) {
                        t["prediction"] = serde_json::to_value(p).unwrap_or_default();
                    }
                }
            }
            out(json)?;
        } else if ids {
            for t in &plan.trials {
                out(&t.id)?;
            }
        } else {
            out(risk::plan_text(&risk::ordered(&plan.trials, &predictions)))?;
        }
        return Ok(Status::Green);
    }
    if format == PlanFormat::Json {
        out(plan.to_json())?;
    } else if ids {
        for t in &plan.trials {
            out(&t.id)?;
        }
    } else if explain {
        out(plan.cells.explain())?;
    } else {
        out(&plan)?;
        if has_cells {
            out(plan.cells.summary())?;
        }
    }
    Ok(Status::Green)
}

pub async fn run(path: &Path, selection: &Selection, args: RunArgs) -> Result<Status, Failure> {
    let m = load(path)?;
    let mut selection = selection.clone();
    if let Some(report) = &args.failed {
        let dir = if report.as_os_str().is_empty() {
            m.root.join("reports/latest")
        } else {
            report.clone()
        };
        let red = red_trials_of(&dir)?;
        if red.is_empty() {
            out(format_args!("nothing is red in {}", dir.display()))?;
            return Ok(Status::Green);
        }
        // The red trials, narrowed by any --trial given as well.
        selection.trials = if selection.trials.is_empty() {
            red
        } else {
            red.into_iter()
                .filter(|t| selection.trials.contains(t))
                .collect()
        };
    }
    let plan = selection.select(&m)?;
    // Predicted before anything runs (and bad definitions refused as bad input), recorded with each
    // trial's outcome so that the reports put the prediction beside the verdict.
    let predictions = match Api::load(&m)? {
        Some(mut api) => api.predict_all(&m, &plan.trials),
        None => Default::default(),
    };
    let run_id = run::new_run_id();
    let reports_root = args.reports.unwrap_or_else(|| m.root.join("reports"));
    let store = Store::new(
        args.snapshots
            .unwrap_or_else(|| baseline::default_dir(&m.root)),
    );
    let session = Session {
        trials: plan.trials.clone(),
        run_id: run_id.clone(),
        jobs: args.jobs.unwrap_or_else(run::default_jobs),
        keep: args.keep,
        repeat: args.repeat,
        report: ReportTarget {
            dir: reports_root.join(&run_id),
            name: run_id.clone(),
            order: plan.trials.iter().map(|t| t.id.clone()).collect(),
            // The default matrix needs no `-f` in the commands we print.
            matrix_arg: (path != Path::new("matrix.toml")).then(|| path.display().to_string()),
            store: store.clone(),
            predictions: Arc::new(predictions),
        },
        matrix: Arc::new(m),
    };
    // Before anything is written: an engine that cannot be reached is said once (not once per
    // trial), and leaves no report behind and reports/latest where it was.
    let backend: Arc<dyn Backend> = Arc::new(connect().await?);
    // So is a missing image: one message naming the build command, not an error per trial.
    let reach = backend.reach().await?;
    all_images_in(
        &*backend,
        &session.matrix,
        &plan.trials,
        &reach,
        session.report.matrix_arg.as_deref(),
    )
    .await?;
    let cancel = CancellationToken::new();
    let signals = tokio::spawn(crossgrade::session::cancel_on_signals(cancel.clone()));
    let report_dir = session.report.dir.clone();
    let json = args.message_format == MessageFormat::Json;
    let display = if json {
        Display::Json
    } else {
        Display::Terminal(Terminal::new())
    };
    let done = session
        .run(Ok(backend), display, cancel)
        .await
        .map_err(|source| Failure::Report {
            dir: report_dir,
            source,
        })?;
    signals.abort();

    let results = &done.results;
    if json {
        report::json_line(&serde_json::json!({
            "event": "run_finished",
            "counts": results.counts,
            "changes": results.changes,
            "red": results.red,
            "cancelled": done.cancelled,
            "report": done.paths.results,
        }));
    } else {
        show_finished(&done, args.keep, &run_id)?;
    }
    // With the JSON stream, stdout is its alone: no annotations there.
    github_actions(results, &done.paths.summary, !json)?;
    if done.cancelled {
        say!("interrupted; everything this run created has been removed");
        return Ok(Status::Interrupted);
    }
    if args.accept {
        let accepted = accept(&store, results, args.regressions, json)?;
        return Ok(Status::red_if(results.red || accepted == Status::Red));
    }
    let ch = results.changes;
    if !json && (ch.fixed > 0 || (ch.new > 0 && !results.red)) {
        out(format_args!(
            "{} fixed and {} new trials are not in the baseline yet: record them with `crossgrade run --accept` (or `cargo insta review` after a nextest run)",
            ch.fixed, ch.new
        ))?;
    }
    Ok(Status::red_if(results.red))
}

/// A finished run for a reader: the table, the red trials again, the counts, where the report is,
/// and how to reach kept containers.
fn show_finished(
    done: &crossgrade::session::Finished,
    keep: bool,
    run_id: &str,
) -> Result<(), Failure> {
    let results = &done.results;
    out(report::table(results).trim_end())?;
    let recap = report::recap(results);
    if !recap.is_empty() {
        out(recap.trim_end())?;
    }
    let (c, ch) = (results.counts, results.changes);
    out(format_args!(
        "{} trials: {} pass, {} fail{}, {} error · against the baseline: {} regressed, {} changed, {} new, {} fixed, {} unchanged",
        c.total, c.pass, c.fail, report::flaky_note(c), c.error, ch.regressed, ch.changed, ch.new, ch.fixed, ch.unchanged
    ))?;
    out(format_args!("report: {}", done.paths.html.display()))?;
    out(format_args!("        {}", done.paths.summary.display()))?;
    let kept: Vec<_> = results
        .trials
        .iter()
        .filter(|t| keep && t.outcome.verdict != Verdict::Pass)
        .collect();
    for t in &kept {
        out(format_args!(
            "kept: {}",
            run::keep_hint(run_id, &t.outcome.id)
        ))?;
    }
    if !kept.is_empty() {
        out("remove them with `crossgrade gc --all` when done")?;
    }
    Ok(())
}

/// The ids of a report folder's red trials, in its order.
fn red_trials_of(dir: &Path) -> Result<Vec<String>, Failure> {
    let results = read_results_or(
        dir,
        "give --failed a folder under reports/, e.g. reports/latest",
    )?;
    Ok(results
        .trials
        .iter()
        .filter(|t| t.baseline.red)
        .map(|t| t.outcome.id.clone())
        .collect())
}

/// On GitHub Actions: the run's summary.md appended to the job's summary (`$GITHUB_STEP_SUMMARY`),
/// and an `::error` annotation per red trial with its reason.
fn github_actions(results: &Results, summary: &Path, annotate: bool) -> Result<(), Failure> {
    if let Some(target) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|t| !t.is_empty()) {
        use std::io::Write;
        let text = std::fs::read_to_string(summary).unwrap_or_default();
        let appended = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&target)
            .and_then(|mut f| f.write_all(format!("{text}\n").as_bytes()));
        if let Err(e) = appended {
            say!(
                "cannot append the summary to GITHUB_STEP_SUMMARY ({}): {e}",
                Path::new(&target).display()
            );
        }
    }
    if annotate && std::env::var("GITHUB_ACTIONS").as_deref() == Ok("true") {
        // Workflow commands: `%`, CR and LF in a value are escaped.
        let escape = |s: &str| {
            s.replace('%', "%25")
                .replace('\r', "%0D")
                .replace('\n', "%0A")
        };
        let title = |s: &str| escape(s).replace(':', "%3A").replace(',', "%2C");
        for t in results.trials.iter().filter(|t| t.baseline.red) {
            out(format_args!(
                "::error title={}::{} [{}]: {}",
                title(&format!("crossgrade {}", t.outcome.id)),
                escape(&t.outcome.id),
                t.change(),
                escape(
                    t.outcome
                        .reason
                        .as_deref()
                        .unwrap_or(t.outcome.verdict.as_str())
                )
            ))?;
        }
    }
    Ok(())
}

/// `--accept`: records every changed verdict as the new baseline. Errors are never recorded, and keep
/// the run red; regressions are recorded only when asked (`--regressions`).
/// `quiet_stdout`: stdout carries something else (the JSON stream); say what was written on stderr.
fn accept(
    store: &Store,
    results: &Results,
    regressions: bool,
    quiet_stdout: bool,
) -> Result<Status, Failure> {
    let trials = results
        .trials
        .iter()
        .map(|t| (&t.outcome, t.baseline.snapshot.as_str()));
    let done = baseline::accept(store, trials, regressions).map_err(Failure::Baseline)?;
    for id in &done.regressions {
        say!(
            "not recorded: {id} regressed (it passed before); record it with --accept --regressions"
        );
    }
    for id in &done.errors {
        say!(
            "not recorded: {id} ended in an error (ours or the engine's), not a behaviour of the system"
        );
    }
    for id in &done.unconfirmed {
        say!("{}", unconfirmed(id));
    }
    let written = format!(
        "baseline: {} snapshots written to {}",
        done.written.len(),
        store.dir().display()
    );
    if quiet_stdout {
        say!("{written}");
    } else {
        out(written)?;
    }
    Ok(Status::red_if(!done.errors.is_empty()))
}

/// `accept`: a finished run's changed verdicts recorded as the baseline, each shown as a diff
/// against the baseline as it is now. Exit 1 when something asked for stays unrecorded (a regression
/// without --regressions, an error).
pub fn accept_run(
    dir: &Path,
    only: &[String],
    regressions: bool,
    snapshots: Option<std::path::PathBuf>,
) -> Result<Status, Failure> {
    let results = read_results(dir)?;
    if let Some(missing) = only
        .iter()
        .find(|id| !results.trials.iter().any(|t| &t.outcome.id == *id))
    {
        return Err(Failure::BadArgument {
            message: format!("{} holds no trial `{missing}`", dir.display()),
            help: Some(format!(
                "`crossgrade report {}` lists its trials",
                dir.display()
            )),
        });
    }
    let store =
        Store::new(snapshots.unwrap_or_else(|| std::path::PathBuf::from(&results.meta.snapshots)));
    let trials = results
        .trials
        .iter()
        .filter(|t| only.is_empty() || only.contains(&t.outcome.id))
        .map(|t| (&t.outcome, t.baseline.snapshot.as_str()));
    let done = baseline::accept(&store, trials, regressions).map_err(Failure::Baseline)?;
    for w in &done.written {
        out(format_args!("{} [{}]", w.id, w.change))?;
        out(w.diff.trim_end())?;
    }
    for id in &done.regressions {
        out(format_args!(
            "not recorded: {id} regressed (it passes in the baseline); record it with --regressions"
        ))?;
    }
    for id in &done.errors {
        out(format_args!(
            "not recorded: {id} ended in an error (ours or the engine's), not a behaviour of the \
             system"
        ))?;
    }
    for id in &done.unconfirmed {
        out(unconfirmed(id))?;
    }
    let left = done.regressions.len() + done.errors.len();
    out(format_args!(
        "baseline: {} snapshots written to {}{}",
        done.written.len(),
        store.dir().display(),
        if left > 0 {
            format!(", {left} left as they were")
        } else {
            String::new()
        }
    ))?;
    Ok(Status::red_if(left > 0))
}

/// Why a flaky trial's single pass was not recorded (it is not a failure to record it).
fn unconfirmed(id: &str) -> String {
    format!(
        "not recorded: {id} is recorded as flaky and passed once; a pass in every run of          `crossgrade run --repeat N --accept` records it as fixed"
    )
}

/// A run's `results.json`, or a bad-argument failure naming the folder.
fn read_results(dir: &Path) -> Result<Results, Failure> {
    read_results_or(dir, "name a folder under reports/, e.g. reports/latest")
}

/// The same, with a hint of the command's own.
fn read_results_or(dir: &Path, help: &str) -> Result<Results, Failure> {
    Results::read(dir).map_err(|e| Failure::BadArgument {
        message: format!(
            "{} is not a run's report folder (its results.json: {e})",
            dir.display()
        ),
        help: Some(help.into()),
    })
}

pub fn compat(dir: &Path, format: CompatFormat) -> Result<Status, Failure> {
    let results = read_results(dir)?;
    let table = report::compat(&results);
    match format {
        CompatFormat::Markdown => out(table.markdown(1).trim_end())?,
        CompatFormat::Html => out(table.html().trim_end())?,
        CompatFormat::Json => out(serde_json::to_string_pretty(&table).unwrap_or_default())?,
    }
    Ok(Status::Green)
}

/// Predicted versus observed of a run. A run recorded before predictions were (or by a matrix
/// without `[api]` then) is predicted now from the matrix `-f` names, and says so.
pub fn predicted(matrix: &Path, dir: &Path, format: CompatFormat) -> Result<Status, Failure> {
    let mut results = read_results(dir)?;
    if results.trials.iter().all(|t| t.prediction.is_none()) && matrix.is_file() {
        let m = load(matrix)?;
        if let Some(mut api) = Api::load(&m)? {
            for t in &mut results.trials {
                t.prediction = Some(api.predict_outcome(&t.outcome));
            }
            say!(
                "{}'s trials carry no prediction: predicted now from the [api] of {}, over the \
                 states their records show",
                dir.display(),
                m.file.display(),
            );
        }
    }
    let Some(p) = report::predicted(&results) else {
        return Err(Failure::BadArgument {
            message: format!("the trials of {} carry no prediction", dir.display()),
            help: Some(
                "predictions are recorded by runs of a matrix with an [api] table; \
                 `crossgrade plan --risk` shows them without a run"
                    .into(),
            ),
        });
    };
    match format {
        CompatFormat::Markdown => out(p.markdown(1).trim_end())?,
        CompatFormat::Html => out(p.html().trim_end())?,
        CompatFormat::Json => out(serde_json::to_string_pretty(&p).unwrap_or_default())?,
    }
    Ok(Status::Green)
}

pub fn report(dir: &Path) -> Result<Status, Failure> {
    let results = read_results(dir)?;
    // What the run planned (older results.json do not say: then what it recorded).
    let order: Vec<String> = if results.selected.is_empty() {
        results
            .trials
            .iter()
            .map(|t| t.outcome.id.clone())
            .collect()
    } else {
        results.selected.clone()
    };
    // An older run's reports, rebuilt: `reports/latest` stays with the newest run.
    let (paths, r) = report::rebuild_from_records(
        dir,
        results.meta,
        &order,
        results.duration_ms,
        report::Latest::LeaveAlone,
    )
    .map_err(|source| Failure::Report {
        dir: dir.to_path_buf(),
        source,
    })?;
    out(report::table(&r).trim_end())?;
    out(format_args!("report: {}", paths.html.display()))?;
    Ok(Status::red_if(r.red))
}

pub async fn gc(all: bool) -> Result<Status, Failure> {
    let engine = connect().await?;
    let swept = runtime::gc(&engine, all, None, runtime::BUSY_WAIT).await?;
    out(format_args!("removed {swept}"))?;
    Ok(Status::Green)
}

/// The images `selection` runs; every image the matrix's `[[image]]` tables make when it selects
/// everything (some matrices exist only to build images).
fn images_to_build(m: &Matrix, selection: &Selection) -> Result<Option<Vec<String>>, Failure> {
    if selection.is_everything() {
        return Ok(None);
    }
    let plan: Plan = selection.select(m)?;
    let defined = runtime::defined_images(m);
    Ok(Some(
        plan::images(m, &plan.trials)
            .into_iter()
            .filter(|i| defined.contains(i))
            .collect(),
    ))
}

pub async fn images_build(
    path: &Path,
    selection: &Selection,
    force: bool,
    install_tools: bool,
    verbose: bool,
) -> Result<Status, Failure> {
    let mut m = load(path)?;
    let mut only = images_to_build(&m, selection)?;
    let engine = connect().await?;
    // An engine whose replicas are reached through it runs the relay helper in every trial.
    let reach = engine.reach().await?;
    runtime::define_helper_images(&mut m, &reach);
    if let (Some(only), Some(helper)) = (only.as_mut(), reach.helper_image()) {
        only.push(helper.to_string());
    }
    if only.as_ref().is_some_and(|o| o.is_empty()) {
        // An image no [[image]] makes is the user's to provide; the run says so if it is missing.
        out(format_args!(
            "nothing to build: no [[image]] of {} makes the images these trials run",
            m.file.display()
        ))?;
        return Ok(Status::Green);
    }
    let opts = runtime::BuildOptions {
        force,
        only: only.unwrap_or_default(),
        install_tools,
    };
    let mut display = BuildDisplay::new(&m.root.join("reports/builds"), verbose);
    let built = runtime::build_images(&engine, &m, &opts, &mut |e| display.event(e)).await;
    let r = built
        .inspect_err(|_| display.failed())
        .map_err(Failure::Build)?;
    out(format_args!(
        "{} built, {} up to date, {} base images bootstrapped",
        r.built.len(),
        r.up_to_date.len(),
        r.bootstrapped.len()
    ))?;
    Ok(Status::Green)
}

/// Every image the matrix's trials run, and what the engine holds of it (up to date, stale,
/// missing).
async fn image_states(
    engine: &Engine,
    m: &Matrix,
) -> Result<Vec<(String, runtime::ImageState)>, Failure> {
    let reach = engine.reach().await?;
    let mut m = m.clone();
    runtime::define_helper_images(&mut m, &reach);
    let images = crossgrade::session::images_needed(&m, &plan::expand(&m).trials, &reach);
    runtime::image_states(engine, &m, &images)
        .await
        .map_err(Failure::Build)
}

/// `images list`'s word for a state.
fn state_word(s: runtime::ImageState) -> &'static str {
    match s {
        runtime::ImageState::UpToDate => "present",
        runtime::ImageState::Stale => "STALE",
        runtime::ImageState::Missing => "MISSING",
        runtime::ImageState::Provided { present: true } => "present",
        runtime::ImageState::Provided { present: false } => "MISSING",
    }
}

pub async fn images_list(path: &Path) -> Result<Status, Failure> {
    let m = load(path)?;
    let engine = connect().await?;
    for (image, state) in image_states(&engine, &m).await? {
        let note = match state {
            runtime::ImageState::Stale => "  (its inputs changed since it was built)",
            runtime::ImageState::Provided { .. } => "  (no [[image]] makes it)",
            _ => "",
        };
        out(format_args!("{:<8} {image}{note}", state_word(state)))?;
    }
    Ok(Status::Green)
}

pub async fn doctor(path: &Path) -> Result<Status, Failure> {
    let mut ok = true;
    reach_setting()?;
    let engine = match Engine::connect().await {
        Ok(e) => {
            let v = e.server_version().await.unwrap_or_else(|x| x.to_string());
            out(format_args!(
                "engine    ok: Docker {v} at {}, speaking API {}",
                e.address(),
                e.api_version()
            ))?;
            match e.reach().await {
                Ok(r) => out(format_args!("reach     {r}"))?,
                Err(x) => {
                    ok = false;
                    out(format_args!("reach     cannot tell: {x}"))?
                }
            }
            Some(e)
        }
        Err(e) => {
            out(format_args!("engine    UNREACHABLE: {e}"))?;
            out("          start it (e.g. `dockerd &` as root) or set DOCKER_HOST")?;
            ok = false;
            None
        }
    };
    let m = match load(path) {
        Ok(m) => {
            out(format_args!(
                "matrix    ok: {} ({} trials)",
                path.display(),
                plan::expand(&m).trials.len()
            ))?;
            Some(m)
        }
        Err(e) => {
            out(format_args!("matrix    INVALID: {e}"))?;
            // The errors themselves, as `plan` and `run` print them.
            let report = format!("{:?}", miette::Report::new(e));
            for line in report.lines() {
                out(format_args!("          {line}"))?;
            }
            ok = false;
            None
        }
    };
    if let Some(engine) = &engine {
        if let Some(m) = &m {
            match image_states(engine, m).await {
                Ok(list) => {
                    let not_ready: Vec<_> = list
                        .iter()
                        .filter(|(_, s)| {
                            !matches!(
                                s,
                                runtime::ImageState::UpToDate
                                    | runtime::ImageState::Provided { present: true }
                            )
                        })
                        .collect();
                    if not_ready.is_empty() {
                        out(format_args!("images    ok: all {} up to date", list.len()))?;
                    } else {
                        ok = false;
                        out(format_args!(
                            "images    {} of {} missing or stale (build with `crossgrade images build -f {}`):",
                            not_ready.len(),
                            list.len(),
                            path.display()
                        ))?;
                        for (i, s) in not_ready {
                            out(format_args!("          {:<8} {i}", state_word(*s)))?;
                        }
                    }
                }
                Err(e) => out(format_args!("images    cannot list: {e}"))?,
            }
        }
        let label = runtime::LABEL_RUN;
        let c = engine.containers_labelled(label).await.map(|v| v.len());
        let n = engine.networks_labelled(label).await.map(|v| v.len());
        let v = engine.volumes_labelled(label).await.map(|v| v.len());
        match (c, n, v) {
            (Ok(0), Ok(0), Ok(0)) => out("leftovers none")?,
            (Ok(c), Ok(n), Ok(v)) => out(format_args!(
                "leftovers {c} containers, {n} networks, {v} volumes labelled {label} (`crossgrade gc` removes those of dead runs)"
            ))?,
            _ => out("leftovers cannot list")?,
        }
    }
    if let Ok(o) = std::process::Command::new("df")
        .args(["-h", "--output=avail", "."])
        .output()
    {
        let text = String::from_utf8_lossy(&o.stdout);
        if let Some(avail) = text.lines().nth(1) {
            out(format_args!("disk      {} free here", avail.trim()))?;
        }
    }
    Ok(Status::red_if(!ok))
}

/// The plan order of the matrix the runs name (`FILE` or `FILE:SUBSET`, as given to them), when
/// they all name one and it still loads: the merged report lists trials in it.
fn plan_order_of(runs: &[(std::path::PathBuf, Results)]) -> Option<Vec<String>> {
    let named = &runs.first()?.1.meta.matrix;
    if runs.iter().any(|(_, r)| r.meta.matrix != *named) {
        return None;
    }
    let file = match named.rsplit_once(':') {
        Some((f, _)) if f.ends_with(".toml") => f,
        _ => named.as_str(),
    };
    let m = model::load(Path::new(file)).ok()?;
    let plan = plan::expand_checked(&m).ok()?;
    Some(plan.trials.into_iter().map(|t| t.id).collect())
}

pub fn report_merge(
    dirs: &[std::path::PathBuf],
    into: Option<std::path::PathBuf>,
) -> Result<Status, Failure> {
    let into = into.unwrap_or_else(|| {
        let parent = dirs[0]
            .canonicalize()
            .ok()
            .and_then(|d| d.parent().map(Path::to_path_buf))
            .unwrap_or_else(|| std::path::PathBuf::from("reports"));
        parent.join(format!("{}-merged", run::new_run_id()))
    });
    let runs = dirs
        .iter()
        .map(|d| Ok((d.clone(), read_results(d)?)))
        .collect::<Result<Vec<_>, Failure>>()?;
    let order = plan_order_of(&runs);
    let merged = report::merge(&runs, &into, order.as_deref()).map_err(|e| match e {
        report::MergeError::Write { dir, source } => Failure::Report { dir, source },
        other => Failure::BadArgument {
            message: other.to_string(),
            help: Some(
                "name the report folders of runs of one matrix, e.g. reports/<run id>".into(),
            ),
        },
    })?;
    let r = &merged.results;
    out(report::table(r).trim_end())?;
    for (id, dir) in &merged.replaced {
        out(format_args!(
            "{id} was recorded more than once: kept the newest, from {}",
            dir.display()
        ))?;
    }

    out(format_args!(
        "merged {} reports: {} of {} planned trials · report: {}",
        dirs.len(),
        r.trials.len(),
        r.planned,
        merged.paths.html.display()
    ))?;
    Ok(Status::red_if(r.red))
}

/// `history check`: every file read first (a bad one is bad input and nothing is checked), then one
/// line per file.
pub fn history_check(
    files: &[std::path::PathBuf],
    model: HistoryModel,
    format: Option<HistoryFormat>,
    max_steps: u64,
) -> Result<Status, Failure> {
    use crossgrade::history::{self, CheckOptions, Format, HistoryError, ModelKind, Verdict};
    let model = match model {
        HistoryModel::Register => ModelKind::Register,
        HistoryModel::Kv => ModelKind::Kv,
    };
    let format = format.map(|f| match f {
        HistoryFormat::Jsonl => Format::Jsonl,
        HistoryFormat::JepsenEtcd => Format::JepsenEtcd,
        HistoryFormat::JepsenKv => Format::JepsenKv,
    });
    let options = CheckOptions {
        max_steps: (max_steps > 0).then_some(max_steps),
    };
    let histories = files
        .iter()
        .map(|f| history::load(f, format))
        .collect::<Result<Vec<_>, _>>()?;
    let mut red = false;
    for (file, h) in files.iter().zip(&histories) {
        let started = std::time::Instant::now();
        let c = model
            .check(h, options)
            .map_err(|source| HistoryError::Model {
                path: file.clone(),
                model: model.name(),
                source,
            })?;
        let ms = started.elapsed().as_millis();
        let file = file.display();
        match c.verdict {
            Verdict::Linearizable => out(format_args!(
                "{file}: linearizable ({} ops, {ms} ms)",
                c.ops
            ))?,
            Verdict::NotLinearizable(v) => {
                red = true;
                let key = v.key.as_deref().unwrap_or("(the register)");
                let window: Vec<String> = v.window.iter().map(ToString::to_string).collect();
                out(format_args!(
                    "{file}: not linearizable: key {key}, window of {} ops: {}; \
                     {} of the key's {} ops placed (then it held {}), none of the rest fits before \
                     {} completes ({ms} ms)",
                    v.window.len(),
                    window.join("; "),
                    v.linearized,
                    v.ops_in_key,
                    v.state,
                    v.stuck,
                ))?
            }
            Verdict::Unknown(e) => {
                red = true;
                let key = e.key.as_deref().unwrap_or("(the register)");
                out(format_args!(
                    "{file}: unknown: the search gave up at key {key} after {} steps \
                     (--max-steps) ({} ops, {ms} ms)",
                    e.max_steps, c.ops
                ))?
            }
        }
    }
    Ok(Status::red_if(red))
}

/// Every image `trials` run is in the engine, or one error naming the missing ones and the build
/// command (`matrix_arg`: the matrix as the user named it), before anything starts.
async fn all_images_in(
    backend: &dyn Backend,
    m: &Matrix,
    trials: &[Trial],
    reach: &runtime::ReachChoice,
    matrix_arg: Option<&str>,
) -> Result<(), Failure> {
    let mut missing = Vec::new();
    for image in crossgrade::session::images_needed(m, trials, reach) {
        if !backend.image_exists(&image).await? {
            missing.push(image);
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    let f = matrix_arg.map(|m| format!(" -f {m}")).unwrap_or_default();
    Err(Failure::MissingImages {
        images: missing,
        build: format!("crossgrade images build{f}"),
    })
}

/// What `crossgrade shrink` is told.
pub struct ShrinkArgs {
    /// A report holding the trial's failure (else the trial runs once first).
    pub from: Option<PathBuf>,
    /// The most candidates to run.
    pub max_trials: usize,
    pub reports: Option<PathBuf>,
}

/// Runs candidates of a shrink as real trials, one session each, every report kept under `dir`.
struct RealTrials {
    matrix: Arc<Matrix>,
    matrix_arg: Option<String>,
    backend: Arc<dyn Backend>,
    store: Store,
    dir: PathBuf,
    runs: usize,
    want: Option<crossgrade::shrink::Signature>,
    cancel: CancellationToken,
}

impl RealTrials {
    async fn run(&mut self, trial: &Trial) -> std::io::Result<Option<TrialReport>> {
        self.runs += 1;
        let name = format!("try-{:02}", self.runs);
        let session = Session {
            matrix: self.matrix.clone(),
            trials: vec![trial.clone()],
            run_id: run::new_run_id(),
            jobs: 1,
            keep: false,
            repeat: 1,
            report: ReportTarget {
                dir: self.dir.join(&name),
                name,
                order: vec![trial.id.clone()],
                matrix_arg: self.matrix_arg.clone(),
                store: self.store.clone(),
                predictions: Default::default(),
            },
        };
        let done = session
            .run(
                Ok(self.backend.clone()),
                Display::Silent,
                self.cancel.clone(),
            )
            .await?;
        Ok(done.trials.into_iter().next())
    }
}

impl crossgrade::shrink::Oracle for RealTrials {
    async fn fails_the_same_way(&mut self, candidate: &Trial) -> bool {
        if self.cancel.is_cancelled() {
            return false;
        }
        let started = std::time::Instant::now();
        let report = self.run(candidate).await.ok().flatten();
        let got = report
            .as_ref()
            .and_then(|r| crossgrade::shrink::Signature::of(candidate, &r.outcome));
        let same = got.is_some() && got == self.want;
        let verdict = report.map_or("error".to_string(), |r| r.outcome.verdict.to_string());
        say!(
            "  candidate {:>2}: {:>2} steps → {verdict}{} ({:.0} s)",
            self.runs - 1,
            candidate.steps.len(),
            if same {
                ", the same way: kept"
            } else if verdict == "fail" {
                ", another way"
            } else {
                ""
            },
            started.elapsed().as_secs_f64()
        );
        same
    }
}

pub async fn shrink(path: &Path, id: &str, args: ShrinkArgs) -> Result<Status, Failure> {
    let m = load(path)?;
    let selection = Selection {
        trials: vec![id.to_string()],
        ..Selection::default()
    };
    let plan = selection.select(&m)?;
    let original = plan.trials[0].clone();
    let backend: Arc<dyn Backend> = Arc::new(connect().await?);
    let matrix_arg = (path != Path::new("matrix.toml")).then(|| path.display().to_string());
    let reach = backend.reach().await?;
    all_images_in(&*backend, &m, &plan.trials, &reach, matrix_arg.as_deref()).await?;
    let reports_root = args.reports.unwrap_or_else(|| m.root.join("reports"));
    let dir = reports_root.join(format!("shrink-{}", run::new_run_id()));
    let cancel = CancellationToken::new();
    let signals = tokio::spawn(crossgrade::session::cancel_on_signals(cancel.clone()));
    let started = std::time::Instant::now();
    let m = Arc::new(m);
    let mut real = RealTrials {
        matrix: m.clone(),
        matrix_arg: matrix_arg.clone(),
        backend,
        store: Store::new(baseline::default_dir(&m.root)),
        dir: dir.clone(),
        runs: 0,
        want: None,
        cancel: cancel.clone(),
    };
    let io = |source| Failure::Report {
        dir: dir.clone(),
        source,
    };
    // The failure to keep: the one a report recorded, else the trial's own, run once now.
    let recorded = match &args.from {
        Some(d) => read_results(d)?
            .trials
            .into_iter()
            .find(|t| t.outcome.id == original.id),
        None => None,
    };
    let first = match recorded {
        Some(r) => Some(r),
        None => {
            out(format_args!(
                "running {} once to see how it fails ({} steps)",
                original.id,
                original.steps.len()
            ))?;
            real.run(&original).await.map_err(io)?
        }
    };
    let Some((want, failed)) = first.as_ref().and_then(|r| {
        Some((
            crossgrade::shrink::Signature::of(&original, &r.outcome)?,
            r.outcome.failed_step?,
        ))
    }) else {
        let verdict = first.map_or("no outcome".into(), |r| r.outcome.verdict.to_string());
        signals.abort();
        out(format_args!(
            "nothing to shrink: {} did not fail ({verdict})",
            original.id
        ))?;
        return Ok(Status::Red);
    };
    out(format_args!(
        "it fails at step {failed} of {} {want}",
        original.steps.len()
    ))?;
    real.want = Some(want.clone());
    let before = real.runs;
    let shrunk = crossgrade::shrink::shrink(&original, failed, args.max_trials, &mut real).await;
    signals.abort();
    if cancel.is_cancelled() {
        say!("interrupted; everything this run created has been removed");
        return Ok(Status::Interrupted);
    }
    let steps: Vec<&plan::PlannedStep> = shrunk.trial.steps.iter().collect();
    let name = format!("{}-shrunk", original.scenario);
    let comment = format!(
        "Shrunk by `crossgrade shrink` from {} ({} steps → {}), in {} trials and {:.1} minutes.\n\
         It fails at its last step {want}.",
        original.id,
        original.steps.len(),
        steps.len(),
        real.runs,
        started.elapsed().as_secs_f64() / 60.0
    );
    let text = shrunk.trial.scenario_file(&m, &name, &comment, &steps);
    std::fs::create_dir_all(&dir).map_err(io)?;
    let file = dir.join(format!("{name}.toml"));
    std::fs::write(&file, text).map_err(io)?;
    let f = matrix_arg
        .as_deref()
        .map(|m| format!(" -f {}", report::shell_quote(m)))
        .unwrap_or_default();
    out(format_args!(
        "shrunk: {} steps → {} ({} candidates{}, {} trials with the first, {:.1} minutes)",
        original.steps.len(),
        steps.len(),
        real.runs - before,
        if shrunk.exhausted {
            "; the budget ran out before every step was tried"
        } else {
            ""
        },
        real.runs,
        started.elapsed().as_secs_f64() / 60.0
    ))?;
    out(&shrunk.trial)?;
    out(format_args!("written to {}", file.display()))?;
    out(format_args!(
        "run it: crossgrade run{f} --scenario-file {}",
        report::shell_quote(&file.display().to_string())
    ))?;
    Ok(Status::Green)
}
