//! `crossgrade report merge`: one report from the report folders of runs that each ran part of a
//! plan (partitions on several machines, or a rerun of what failed). Trial records and their logs are
//! copied into a new folder and the reports rebuilt from them, so that counts, grid, JUnit and
//! results are those of one run of the whole. A trial recorded by several inputs keeps its newest
//! record (a rerun replaces what it reran); the merge says so.

use std::path::{Path, PathBuf};

use super::files::{read_trial_records, rebuild_from_records, trial_record_path, Latest};
use super::results::{Provenance, Results, RunMeta, TrialReport};
use super::ReportPaths;

#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error("no report folders to merge")]
    NoReports,
    #[error(
        "{} holds a run of `{found}`, {} one of `{first}`: reports of different systems do not merge",
        .dir.display(), .first_dir.display()
    )]
    OtherSystem {
        dir: PathBuf,
        found: String,
        first_dir: PathBuf,
        first: String,
    },
    #[error("{} is one of the folders being merged: merge into a new folder", .0.display())]
    IntoAnInput(PathBuf),
    #[error("cannot write the merged report in {}", .dir.display())]
    Write {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// What a merge did.
#[derive(Debug)]
pub struct Merged {
    pub paths: ReportPaths,
    pub results: Results,
    /// Trials recorded by more than one input: (id, the folder whose record was kept).
    pub replaced: Vec<(String, PathBuf)>,
}

/// Merges the reports of `runs` (each a report folder and its `results.json`) into `into` (a new
/// folder). The merged plan is every trial the runs planned (each run's selection: the partitions
/// of a plan make up the whole of it), listed in `plan_order` (the matrix's trial ids) where it has
/// them, else in the runs' order.
pub fn merge(
    runs: &[(PathBuf, Results)],
    into: &Path,
    plan_order: Option<&[String]>,
) -> Result<Merged, MergeError> {
    let Some((first_dir, first)) = runs.first() else {
        return Err(MergeError::NoReports);
    };
    let target = std::fs::canonicalize(into).ok();
    for (dir, results) in runs {
        if results.meta.system != first.meta.system {
            return Err(MergeError::OtherSystem {
                dir: dir.clone(),
                found: results.meta.system.clone(),
                first_dir: first_dir.clone(),
                first: first.meta.system.clone(),
            });
        }
        if target.is_some() && std::fs::canonicalize(dir).ok() == target {
            return Err(MergeError::IntoAnInput(dir.clone()));
        }
    }
    let write = |source| MergeError::Write {
        dir: into.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(into).map_err(write)?;

    // The newest record of each trial, with the folder it came from.
    let mut kept: Vec<(TrialReport, PathBuf)> = Vec::new();
    let mut twice: Vec<String> = Vec::new();
    for (dir, _) in runs {
        for t in read_trial_records(dir) {
            match kept.iter_mut().find(|(k, _)| k.outcome.id == t.outcome.id) {
                Some(slot) => {
                    if !twice.contains(&t.outcome.id) {
                        twice.push(t.outcome.id.clone());
                    }
                    if t.outcome.started_unix_ms >= slot.0.outcome.started_unix_ms {
                        *slot = (t, dir.clone());
                    }
                }
                None => kept.push((t, dir.clone())),
            }
        }
    }
    let replaced = twice
        .into_iter()
        .filter_map(|id| {
            let (_, dir) = kept.iter().find(|(k, _)| k.outcome.id == id)?;
            Some((id, dir.clone()))
        })
        .collect();
    for (t, dir) in &kept {
        let from = trial_record_path(dir, t);
        let from = from.parent().unwrap_or(dir);
        let to = trial_record_path(into, t);
        let to = to.parent().unwrap_or(into);
        copy_tree(from, to).map_err(write)?;
    }

    // Every trial some run planned (older results.json do not say: then those it recorded).
    let mut planned: Vec<String> = Vec::new();
    for (_, r) in runs {
        let ids: Vec<&String> = if r.selected.is_empty() {
            r.trials.iter().map(|t| &t.outcome.id).collect()
        } else {
            r.selected.iter().collect()
        };
        for id in ids {
            if !planned.contains(id) {
                planned.push(id.clone());
            }
        }
    }
    if let Some(plan) = plan_order {
        let pos = |id: &String| plan.iter().position(|p| p == id).unwrap_or(usize::MAX);
        planned.sort_by_key(pos);
    }
    let meta = merged_meta(runs, into);
    let (paths, results) =
        rebuild_from_records(into, meta, &planned, 0, Latest::LeaveAlone).map_err(write)?;
    Ok(Merged {
        paths,
        results,
        replaced,
    })
}

/// The first run's description, named after the merged folder, with every run's provenance.
fn merged_meta(runs: &[(PathBuf, Results)], into: &Path) -> RunMeta {
    let mut meta = runs[0].1.meta.clone();
    meta.run_id = into
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "merged".into());
    meta.started_at = runs
        .iter()
        .map(|(_, r)| r.meta.started_at.clone())
        .min()
        .unwrap_or_default();
    let join = |f: &dyn Fn(&Provenance) -> String| -> String {
        let mut seen: Vec<String> = Vec::new();
        for (_, r) in runs {
            let v = f(&r.meta.provenance);
            if !v.is_empty() && !seen.contains(&v) {
                seen.push(v);
            }
        }
        seen.join(", ")
    };
    meta.provenance = Provenance {
        crossgrade: join(&|p| p.crossgrade.clone()),
        git_revision: join(&|p| p.git_revision.clone()),
        engine: join(&|p| p.engine.clone()),
        host: join(&|p| p.host.clone()),
        jobs: runs
            .iter()
            .map(|(_, r)| r.meta.provenance.jobs)
            .max()
            .unwrap_or(0),
        repeat: runs
            .iter()
            .filter_map(|(_, r)| r.meta.provenance.repeat)
            .max(),
        reach: join(&|p| p.reach.clone()),
    };
    meta
}

/// Copies a folder's files (and its subfolders') into `to`.
fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let target = to.join(e.file_name());
        if e.file_type()?.is_dir() {
            copy_tree(&e.path(), &target)?;
        } else {
            std::fs::copy(e.path(), &target)?;
        }
    }
    Ok(())
}
