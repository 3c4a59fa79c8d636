use std::io::Write;
use std::path::Path;

use serde::Serialize;

use crate::outcome::{TrialOutcome, Verdict};

/// Identifies the layout of `results.json`; bumped on any incompatible change.
pub const SCHEMA: &str = "crossgrade.results/v1";

/// The whole of `results.json`.
#[derive(Debug, Serialize)]
pub struct Results<'a> {
    pub schema: &'static str,
    pub run_id: &'a str,
    pub matrix: String,
    pub system: &'a str,
    pub started_at: String,
    pub duration_ms: u64,
    pub counts: Counts,
    pub trials: &'a [TrialOutcome],
}

#[derive(Debug, Default, Serialize, Clone, Copy)]
pub struct Counts {
    pub total: usize,
    pub pass: usize,
    pub fail: usize,
    pub error: usize,
}

impl Counts {
    pub fn of(trials: &[TrialOutcome]) -> Counts {
        let mut c = Counts {
            total: trials.len(),
            ..Default::default()
        };
        for t in trials {
            match t.verdict {
                Verdict::Pass => c.pass += 1,
                Verdict::Fail => c.fail += 1,
                Verdict::Error => c.error += 1,
            }
        }
        c
    }
}

fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// Writes `results.json` and `summary.md` into `dir` and points `reports/latest` at it.
pub fn write_report(dir: &Path, results: &Results) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let json = serde_json::to_vec_pretty(results).map_err(std::io::Error::other)?;
    write_atomic(&dir.join("results.json"), &json)?;
    write_atomic(&dir.join("summary.md"), summary(results).as_bytes())?;
    if let (Some(parent), Some(name)) = (dir.parent(), dir.file_name()) {
        let latest = parent.join("latest");
        let tmp = parent.join(".latest.tmp");
        let _ = std::fs::remove_file(&tmp);
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(name, &tmp)?;
            std::fs::rename(&tmp, &latest)?;
        }
    }
    Ok(())
}

fn summary(r: &Results) -> String {
    let c = r.counts;
    let mut s = format!(
        "# crossgrade run {}\n\n{} · {} trials: **{} pass**, **{} fail**, **{} error** · {:.1}s\n\n",
        r.run_id,
        r.system,
        c.total,
        c.pass,
        c.fail,
        c.error,
        r.duration_ms as f64 / 1000.0
    );
    let bad: Vec<&TrialOutcome> = r
        .trials
        .iter()
        .filter(|t| t.verdict != Verdict::Pass)
        .collect();
    if !bad.is_empty() {
        s.push_str("## Not passing\n\n| trial | verdict | reason |\n|---|---|---|\n");
        for t in &bad {
            s.push_str(&format!(
                "| `{}` | {} | {} |\n",
                t.id,
                t.verdict,
                t.reason
                    .as_deref()
                    .unwrap_or("")
                    .replace('|', "\\|")
                    .replace('\n', " ")
            ));
        }
        s.push('\n');
    }
    s.push_str("## All trials\n\n| trial | verdict | time |\n|---|---|---|\n");
    for t in r.trials {
        s.push_str(&format!(
            "| `{}` | {} | {:.1}s |\n",
            t.id,
            t.verdict,
            t.duration_ms as f64 / 1000.0
        ));
    }
    s
}
