//! The terminal display: a line per finished trial (and, on a TTY, a live line per running trial), then
//! a table. Reads events; owns stderr/stdout so the runner never prints.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::results::{Results, TrialReport};
use crate::baseline::Change;
use crate::outcome::Verdict;
use crate::run::Event;

pub struct Terminal {
    multi: MultiProgress,
    overall: Option<ProgressBar>,
    live: BTreeMap<String, ProgressBar>,
    tty: bool,
}

impl Default for Terminal {
    fn default() -> Self {
        Self::new()
    }
}

impl Terminal {
    pub fn new() -> Terminal {
        let tty = std::io::stderr().is_terminal();
        let multi = MultiProgress::with_draw_target(if tty {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        });
        Terminal {
            multi,
            overall: None,
            live: BTreeMap::new(),
            tty,
        }
    }

    fn println(&self, line: String) {
        if self.tty {
            let _ = self.multi.println(line);
        } else {
            say!("{line}");
        }
    }

    pub(crate) fn handle(&mut self, e: &Event) {
        match e {
            Event::RunStarted { run_id, trials } => {
                self.println(format!("crossgrade run {run_id}: {trials} trials"));
                let bar = self.multi.add(ProgressBar::new(*trials as u64));
                bar.set_style(
                    ProgressStyle::with_template("{bar:30} {pos}/{len} trials  {elapsed}")
                        .expect("valid template"),
                );
                self.overall = Some(bar);
            }
            Event::TrialStarted { id } => {
                let bar = self.multi.add(ProgressBar::new_spinner());
                // `{elapsed}` is the trial's own: the bar is made when the trial starts.
                bar.set_style(
                    ProgressStyle::with_template("  {spinner} {elapsed:>4} {msg}").expect("valid"),
                );
                bar.enable_steady_tick(Duration::from_millis(200));
                bar.set_message(format!("{id}: setting up"));
                self.live.insert(id.clone(), bar);
            }
            Event::StepStarted {
                trial,
                number,
                of,
                description,
            } => {
                if let Some(bar) = self.live.get(trial) {
                    bar.set_message(format!("{trial}: step {number}/{of} {description}"));
                }
            }
            Event::StepFinished { .. } => {}
            // Finished trials are shown by `trial_finished`, once held against the baseline; a run
            // of a repeated trial only ends its live line (the trial is shown after its last run).
            Event::TrialFinished { outcome } if outcome.repeat.is_some() => {
                if let Some(bar) = self.live.remove(&outcome.id) {
                    bar.finish_and_clear();
                    self.multi.remove(&bar);
                }
            }
            Event::TrialFinished { .. } => {}
            Event::Cancelling => self.println("crossgrade: stopping, cleaning up…".into()),
            Event::CleanupFailed { error } => self.println(format!(
                "crossgrade: {error}; `crossgrade gc` removes what is left"
            )),
        }
    }

    /// A finished trial: one line, and for a red one its reason and the commands that rerun it.
    pub(crate) fn trial_finished(&mut self, t: &TrialReport) {
        let o = &t.outcome;
        if let Some(bar) = self.live.remove(&o.id) {
            bar.finish_and_clear();
            self.multi.remove(&bar);
        }
        if let Some(b) = &self.overall {
            b.inc(1);
        }
        self.println(line(t));
        // A known failure (failing as its baseline records) is its one line: what is news is red.
        let known = o.verdict == Verdict::Fail && t.change() == Change::Unchanged;
        if o.verdict != Verdict::Pass && !known {
            if let Some(r) = &o.reason {
                self.println(format!("      {r}"));
            }
            // What the replicas complained of in their logs during the failed step.
            let failed = o.steps.iter().find(|s| Some(s.number) == o.failed_step);
            for obs in failed.into_iter().flat_map(|s| &s.observations) {
                if obs.what.ends_with(crate::run::DURING_STEP) {
                    for l in obs.output.lines() {
                        self.println(format!("      {}: {l}", obs.what));
                    }
                }
            }
            self.println(format!("      reproduce: {}", o.reproduce));
            if t.baseline.red && !o.reproduce_nextest.is_empty() {
                self.println(format!("             or: {}", o.reproduce_nextest));
            }
        }
    }

    pub(crate) fn finish(&mut self) {
        if let Some(b) = self.overall.take() {
            b.finish_and_clear();
        }
    }
}

fn line(t: &TrialReport) -> String {
    let o = &t.outcome;
    // Coloured when stderr is a terminal and NO_COLOR is unset (or as --color says); a known
    // failure is not news, so it is not red.
    let known = o.verdict == Verdict::Fail && t.change() == Change::Unchanged;
    let tag = match o.verdict {
        Verdict::Pass => console::style("PASS ").green(),
        Verdict::Fail if known => console::style("FAIL ").yellow(),
        Verdict::Fail => console::style("FAIL ").red().bold(),
        Verdict::Error => console::style("ERROR").magenta().bold(),
    }
    .for_stderr();
    let change = match t.change() {
        Change::Unchanged if o.verdict == Verdict::Fail => " (known failure)".to_string(),
        Change::Unchanged => String::new(),
        c => format!(" [{c}]"),
    };
    format!(
        "  {tag} {:>6.1}s  {}{change}{}",
        o.duration_ms as f64 / 1000.0,
        o.id,
        repeats(t)
    )
}

/// ` · flaky (1 of 3 passed)` for a repeated trial; empty otherwise.
fn repeats(t: &TrialReport) -> String {
    t.outcome
        .repeats
        .as_ref()
        .map(|r| format!(" · {}", r.describe()))
        .unwrap_or_default()
}

/// After the table, the red trials again with their reasons, so that a long run's news is not
/// scrolled away; empty when nothing is red.
pub fn recap(r: &Results) -> String {
    let red: Vec<&TrialReport> = r.trials.iter().filter(|t| t.baseline.red).collect();
    if red.is_empty() {
        return String::new();
    }
    let mut s = format!("{} red:\n", red.len());
    for t in red {
        s.push_str(&format!(
            "  {} [{}]{}: {}\n",
            t.outcome.id,
            t.change(),
            repeats(t),
            t.outcome
                .reason
                .as_deref()
                .unwrap_or(t.outcome.verdict.as_str())
        ));
    }
    s
}

/// The final table, for stdout: every trial, its verdict and its change against the baseline.
pub fn table(r: &Results) -> String {
    let width = r
        .trials
        .iter()
        .map(|t| t.outcome.id.len())
        .max()
        .unwrap_or(5);
    let mut s = format!("{:<width$}  verdict  change     time\n", "trial");
    for t in &r.trials {
        s.push_str(&format!(
            "{:<width$}  {:<7}  {:<9}  {:.1}s{}\n",
            t.outcome.id,
            t.outcome.verdict.as_str(),
            t.change().as_str(),
            t.outcome.duration_ms as f64 / 1000.0,
            repeats(t)
        ));
    }
    s
}
