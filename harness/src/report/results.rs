//! `results.json`: the run as data (versioned schema), from which every other report is rendered.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::baseline::{Change, Judgement};
use crate::model::Matrix;
use crate::outcome::{Class, TrialOutcome, Verdict};
use crate::risk::Prediction;

/// Identifies the layout of `results.json`; bumped on any incompatible change. Fields are only ever
/// added within a version.
pub(crate) const SCHEMA: &str = "crossgrade.results/v1";

/// What is known of the run before any trial finishes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunMeta {
    pub run_id: String,
    /// The matrix file as given.
    pub matrix: String,
    pub system: String,
    /// Every release, old → new (orders the grid).
    #[serde(default)]
    pub releases: Vec<String>,
    /// The roles that vary across cells, in matrix order (the grid's axes).
    #[serde(default)]
    pub vary: Vec<String>,
    /// Folder of the baseline snapshots.
    #[serde(default)]
    pub snapshots: String,
    pub started_at: String,
    /// Where and with what the run ran, so that results from several machines can be told apart.
    #[serde(default)]
    pub provenance: Provenance,
    /// The covering strength the cells were chosen with (`None` for every cell): how many roles'
    /// releases the suspects of a failure are sought among.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strength: Option<usize>,
}

/// The harness, the repository, the engine and the machine of a run.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Provenance {
    /// crossgrade's version.
    pub crossgrade: String,
    /// `git rev-parse HEAD` of the matrix's repository, with `-dirty` when it has changes; empty
    /// outside a repository.
    pub git_revision: String,
    /// The engine's version, as it says (empty when it could not be reached).
    pub engine: String,
    pub host: String,
    /// Trials at once.
    pub jobs: usize,
    /// Runs of each trial (`run --repeat N`); absent when each ran once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat: Option<usize>,
    /// How replicas' ports were reached: `direct` or `engine` (through it, by a relay helper);
    /// absent when no engine answered.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reach: String,
}

impl std::fmt::Display for Provenance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let or_unknown = |s: &str| {
            if s.is_empty() {
                "?".to_string()
            } else {
                s.to_string()
            }
        };
        write!(
            f,
            "crossgrade {} · revision {} · engine {} · host {} · -j {}",
            or_unknown(&self.crossgrade),
            or_unknown(&self.git_revision),
            or_unknown(&self.engine),
            or_unknown(&self.host),
            self.jobs
        )?;
        if self.reach == crate::runtime::Reach::Engine.word() {
            write!(f, " · replicas reached through the engine")?;
        }
        match self.repeat {
            Some(n) => write!(f, " · --repeat {n}"),
            None => Ok(()),
        }
    }
}

impl Provenance {
    pub(crate) fn here(matrix_root: &Path, jobs: usize) -> Provenance {
        let git = |args: &[&str]| {
            std::process::Command::new("git")
                .args(args)
                .current_dir(matrix_root)
                .stderr(std::process::Stdio::null())
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        };
        let git_revision = match git(&["rev-parse", "HEAD"]) {
            None => String::new(),
            Some(rev) => match git(&["status", "--porcelain", "--untracked-files=no"]) {
                Some(changes) if !changes.is_empty() => format!("{rev}-dirty"),
                _ => rev,
            },
        };
        Provenance {
            crossgrade: env!("CARGO_PKG_VERSION").to_string(),
            git_revision,
            engine: String::new(),
            host: std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_string())
                .unwrap_or_default(),
            jobs,
            repeat: None,
            reach: String::new(),
        }
    }
}

impl RunMeta {
    /// The run's description, from its matrix. `matrix_arg` is the matrix file as the user gave it.
    pub(crate) fn of(m: &Matrix, run_id: &str, matrix_arg: &str, snapshots: &Path) -> RunMeta {
        RunMeta {
            run_id: run_id.to_string(),
            matrix: matrix_arg.to_string(),
            system: m.system.clone(),
            releases: m.releases.iter().map(|r| r.to_string()).collect(),
            vary: m.cells.vary.clone(),
            snapshots: snapshots.display().to_string(),
            started_at: time::OffsetDateTime::now_utc()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            provenance: Provenance::default(),
            strength: match m.cells.strategy {
                crate::model::Strategy::All => None,
                crate::model::Strategy::Covering { t } => Some(t),
            },
        }
    }
}

/// One trial as reported: its outcome and how it compares with the baseline.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrialReport {
    #[serde(flatten)]
    pub outcome: TrialOutcome,
    pub baseline: Judgement,
    /// What the matrix's API definitions predicted for the trial before it ran (`[api]`), kept
    /// here so that reports never read `.proto` files; absent without `[api]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prediction: Option<Prediction>,
}

impl TrialReport {
    pub fn change(&self) -> Change {
        self.baseline.change
    }

    /// Its verdict, and for a repeated trial its runs: `fail · flaky (1 of 3 passed)`.
    pub fn verdict_text(&self) -> String {
        match &self.outcome.repeats {
            None => self.outcome.verdict.to_string(),
            Some(r) => format!("{} · {}", self.outcome.verdict, r.describe()),
        }
    }

    /// A failure the baseline expects: the trial does not pass, and fails exactly as recorded.
    pub(crate) fn expected_failure(&self) -> bool {
        self.outcome.verdict == Verdict::Fail && self.baseline.change == Change::Unchanged
    }
}

/// The whole of `results.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Results {
    pub schema: String,
    #[serde(flatten)]
    pub meta: RunMeta,
    pub duration_ms: u64,
    /// False while not every planned trial has a record: the run is still going (the file is rewritten
    /// as trials finish), or it ran part of its plan (a filtered or partitioned nextest run).
    pub complete: bool,
    /// How many trials the run planned (its selection); `trials` holds those recorded.
    #[serde(default)]
    pub planned: usize,
    /// The ids of the trials it planned, in plan order (what a merge of partial runs puts together).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub selected: Vec<String>,
    pub counts: Counts,
    pub changes: ChangeCounts,
    /// Whether the run is red: a regression, a changed or new failure, or an error.
    pub red: bool,
    pub trials: Vec<TrialReport>,
}

impl Results {
    /// The `results.json` of a report folder; the error says what is wrong with it.
    pub fn read(dir: &Path) -> Result<Results, String> {
        let bytes = std::fs::read(dir.join("results.json")).map_err(|e| e.to_string())?;
        serde_json::from_slice(&bytes).map_err(|e| e.to_string())
    }

    /// `duration_ms` is the caller's measure; when the trials ran longer than that (trials recorded by
    /// other processes, as in a nextest run), their span from first start to last end is used.
    pub fn new(
        meta: RunMeta,
        duration_ms: u64,
        selected: Vec<String>,
        complete: bool,
        trials: Vec<TrialReport>,
    ) -> Self {
        let starts = trials
            .iter()
            .map(|t| t.outcome.started_unix_ms)
            .filter(|s| *s > 0);
        let ends = trials
            .iter()
            .filter(|t| t.outcome.started_unix_ms > 0)
            .map(|t| t.outcome.started_unix_ms + t.outcome.duration_ms);
        let span = match (starts.min(), ends.max()) {
            (Some(a), Some(b)) => b.saturating_sub(a),
            _ => 0,
        };
        let duration_ms = duration_ms.max(span);
        Results {
            schema: SCHEMA.into(),
            meta,
            duration_ms,
            complete,
            planned: selected.len(),
            selected,
            counts: Counts {
                flaky: trials
                    .iter()
                    .filter(|t| {
                        t.outcome
                            .repeats
                            .as_ref()
                            .is_some_and(|r| r.class == Class::Flaky)
                    })
                    .count(),
                ..Counts::of(trials.iter().map(|t| t.outcome.verdict))
            },
            changes: ChangeCounts::of(trials.iter().map(|t| t.change())),
            red: trials.iter().any(|t| t.baseline.red),
            trials,
        }
    }
}

impl Results {
    /// One line of figures, the same in every report: `12 trials: 9 pass, 3 fail, 0 error · against
    /// the baseline: 0 regressed, 0 changed, 0 new, 0 fixed · 17.2 s`.
    pub(crate) fn headline(&self) -> String {
        let (c, ch) = (self.counts, self.changes);
        format!(
            "{} trials: {} pass, {} fail{}, {} error · against the baseline: {} regressed, {} \
             changed, {} new, {} fixed · {:.1} s",
            c.total,
            c.pass,
            c.fail,
            flaky_note(c),
            c.error,
            ch.regressed,
            ch.changed,
            ch.new,
            ch.fixed,
            self.duration_ms as f64 / 1000.0
        )
    }

    /// `red` or `green`, and whether the run is still going.
    /// `red`/`green`, and what is known of the rest: a report without every planned trial cannot
    /// tell a run still going from one that ran part of its plan, so it says what it has.
    pub(crate) fn status(&self) -> (&'static str, String) {
        (
            if self.red { "red" } else { "green" },
            if self.complete {
                String::new()
            } else {
                format!(
                    " ({} of {} planned trials recorded: still running, or a filtered or \
                     partitioned run)",
                    self.trials.len(),
                    self.planned
                )
            },
        )
    }
}

/// ` (2 flaky)` after the failures when some repeated trials were flaky; empty otherwise.
pub fn flaky_note(c: Counts) -> String {
    if c.flaky == 0 {
        String::new()
    } else {
        format!(" ({} flaky)", c.flaky)
    }
}

#[derive(Debug, Default, Serialize, Deserialize, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub total: usize,
    pub pass: usize,
    pub fail: usize,
    pub error: usize,
    /// Repeated trials (`run --repeat N`) whose runs disagreed: counted under `fail` as well.
    /// Absent when none.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub flaky: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl Counts {
    pub(crate) fn of(verdicts: impl Iterator<Item = Verdict>) -> Counts {
        let mut c = Counts::default();
        for v in verdicts {
            c.total += 1;
            match v {
                Verdict::Pass => c.pass += 1,
                Verdict::Fail => c.fail += 1,
                Verdict::Error => c.error += 1,
            }
        }
        c
    }
}

#[derive(Debug, Default, Serialize, Deserialize, Clone, Copy, PartialEq, Eq)]
pub struct ChangeCounts {
    pub unchanged: usize,
    pub regressed: usize,
    pub fixed: usize,
    pub changed: usize,
    pub new: usize,
}

impl ChangeCounts {
    pub(crate) fn of(changes: impl Iterator<Item = Change>) -> ChangeCounts {
        let mut c = ChangeCounts::default();
        for ch in changes {
            match ch {
                Change::Unchanged => c.unchanged += 1,
                Change::Regressed => c.regressed += 1,
                Change::Fixed => c.fixed += 1,
                Change::Changed => c.changed += 1,
                Change::New => c.new += 1,
            }
        }
        c
    }
}
