//! The report folder of a run, `reports/<run-id>/`: `results.json`, `junit.xml`, `summary.md`,
//! `index.html`, and per trial `trials/<scenario>/<cell or path>/{trial.json, logs/}`. Every file is
//! written atomically; `reports/latest` points at the newest run.
//!
//! Trial records make the report rebuildable from what is on disk: the nextest front-end runs one trial
//! per process, and each process rebuilds the folder's reports from every record there (under a lock).

use std::path::{Path, PathBuf};

use super::results::{Results, RunMeta, TrialReport};
use crate::atomic::write_atomic;
use crate::outcome::TrialOutcome;

/// The files of a written report.
#[derive(Debug, Clone)]
pub struct ReportPaths {
    pub dir: PathBuf,
    pub results: PathBuf,
    pub junit: PathBuf,
    pub summary: PathBuf,
    pub html: PathBuf,
}

impl ReportPaths {
    pub(crate) fn in_dir(dir: &Path) -> ReportPaths {
        ReportPaths {
            dir: dir.to_path_buf(),
            results: dir.join("results.json"),
            junit: dir.join("junit.xml"),
            summary: dir.join("summary.md"),
            html: dir.join("index.html"),
        }
    }
}

/// Record of one trial, beside its logs; a repeated trial's in its own folder, above those of its
/// runs (`…/repeat-K/logs`).
pub(crate) fn trial_record_path(dir: &Path, t: &TrialReport) -> PathBuf {
    let o = &t.outcome;
    let mut folder = o.logs_dir.strip_suffix("/logs").unwrap_or(&o.logs_dir);
    if o.repeats.is_some() {
        if let Some((trial, run)) = folder.rsplit_once('/') {
            if run.starts_with("repeat-") {
                folder = trial;
            }
        }
    }
    dir.join(folder).join("trial.json")
}

/// Writes the outcome of one run of a repeated trial beside its logs (`…/repeat-K/run.json`); the
/// trial's record, which the reports are built from, aggregates its runs.
pub(crate) fn write_run_record(dir: &Path, o: &TrialOutcome) -> std::io::Result<()> {
    let folder = o.logs_dir.strip_suffix("/logs").unwrap_or(&o.logs_dir);
    let json = serde_json::to_vec_pretty(o).map_err(std::io::Error::other)?;
    write_atomic(&dir.join(folder).join("run.json"), &json)
}

/// Writes one trial's record.
pub(crate) fn write_trial_record(dir: &Path, t: &TrialReport) -> std::io::Result<()> {
    let json = serde_json::to_vec_pretty(t).map_err(std::io::Error::other)?;
    write_atomic(&trial_record_path(dir, t), &json)
}

/// Every trial record under `dir`, in no particular order. Unreadable records are skipped (a record is
/// written atomically, so that only happens to files that are not ours).
pub(crate) fn read_trial_records(dir: &Path) -> Vec<TrialReport> {
    let mut out = vec![];
    let mut stack = vec![dir.join("trials")];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().is_some_and(|n| n == "trial.json") {
                if let Ok(bytes) = std::fs::read(&p) {
                    if let Ok(t) = serde_json::from_slice::<TrialReport>(&bytes) {
                        out.push(t);
                    }
                }
            }
        }
    }
    out
}

/// Whether writing a run's reports makes it `reports/latest`: a run in progress does; rebuilding an
/// older run's reports (`crossgrade report DIR`) does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Latest {
    Point,
    LeaveAlone,
}

/// Writes `results.json`, `junit.xml`, `summary.md` and `index.html` into `dir` and, if asked,
/// points `<dir>/../latest` at it.
pub(crate) fn write_report(
    dir: &Path,
    results: &Results,
    latest: Latest,
) -> std::io::Result<ReportPaths> {
    let paths = ReportPaths::in_dir(dir);
    let json = serde_json::to_vec_pretty(results).map_err(std::io::Error::other)?;
    write_atomic(&paths.results, &json)?;
    let junit = super::junit::render(results).map_err(std::io::Error::other)?;
    write_atomic(&paths.junit, junit.as_bytes())?;
    write_atomic(&paths.summary, super::summary::render(results).as_bytes())?;
    write_atomic(&paths.html, super::html::render(results, dir).as_bytes())?;
    if latest == Latest::Point {
        point_latest(dir)?;
    }
    Ok(paths)
}

/// `reports/latest` → this run's folder, replaced atomically.
fn point_latest(dir: &Path) -> std::io::Result<()> {
    let (Some(parent), Some(name)) = (dir.parent(), dir.file_name()) else {
        return Ok(());
    };
    let latest = parent.join("latest");
    let tmp = parent.join(format!(".latest.tmp-{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(name, &tmp)?;
    std::fs::rename(&tmp, &latest)
}

/// Rebuilds a folder's reports from its trial records, ordered as `order` lists trial ids (others
/// last). Holds an exclusive lock on `<dir>/.lock` meanwhile, so that concurrent processes of one
/// nextest run do not interleave.
pub fn rebuild_from_records(
    dir: &Path,
    meta: RunMeta,
    order: &[String],
    duration_ms: u64,
    latest: Latest,
) -> std::io::Result<(ReportPaths, Results)> {
    std::fs::create_dir_all(dir)?;
    let lock = std::fs::File::create(dir.join(".lock"))?;
    lock.lock()?;
    let mut trials = read_trial_records(dir);
    trials.sort_by_key(|t| {
        (
            order
                .iter()
                .position(|id| *id == t.outcome.id)
                .unwrap_or(usize::MAX),
            t.outcome.id.clone(),
        )
    });
    let complete = order
        .iter()
        .all(|id| trials.iter().any(|t| &t.outcome.id == id));
    let results = Results::new(meta, duration_ms, order.to_vec(), complete, trials);
    let paths = write_report(dir, &results, latest)?;
    drop(lock);
    Ok((paths, results))
}
