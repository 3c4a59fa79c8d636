//! The fan-out of a run's events, as nextest's `Reporter::write_event` does it: every event goes to
//! the display, and every finished trial to the recorder first (which holds it against the
//! baseline and rewrites the report files), then to the display with its judgement. The runner
//! never prints; this is where a run becomes visible.

use std::io::Write as _;

use super::recorder::Recorder;
use super::results::TrialReport;
use super::terminal::Terminal;
use crate::outcome::TrialOutcome;
use crate::run::Event;

/// How a run shows itself while it goes: a closed set.
pub enum Display {
    /// `crossgrade run`: a live line per running trial on a terminal, a line per finished one.
    Terminal(Terminal),
    /// The trials test binary: each step on stderr, which nextest shows when the test fails.
    StepLog,
    /// `--message-format json`: one JSON object per line on stdout, for CI and other programs.
    Json,
    /// Nothing (library callers that only want the results).
    Silent,
}

/// The version of the JSON event stream, on every line: fields are only added within it.
pub const EVENTS_SCHEMA: &str = "crossgrade.events/v1";

/// Writes `value` (an object) as one line on stdout, with the schema first. A closed stdout is
/// ignored: the run goes on and its report is still written.
pub fn json_line(value: &impl serde::Serialize) {
    let mut line = serde_json::Map::new();
    line.insert("schema".into(), EVENTS_SCHEMA.into());
    if let Ok(serde_json::Value::Object(fields)) = serde_json::to_value(value) {
        line.extend(fields);
    }
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", serde_json::Value::Object(line));
    let _ = out.flush();
}

impl Display {
    fn event(&mut self, e: &Event) {
        match self {
            Display::Terminal(t) => t.handle(e),
            Display::StepLog => step_log(e),
            // One run of a repeated trial: what it was; the trial is written with its judgement
            // after its last run.
            Display::Json => match e {
                Event::TrialFinished { outcome } if outcome.repeat.is_some() => {
                    json_line(&serde_json::json!({
                        "event": "trial_run_finished",
                        "id": outcome.id,
                        "repeat": outcome.repeat,
                        "verdict": outcome.verdict,
                        "reason": outcome.reason,
                        "logs_dir": outcome.logs_dir,
                    }))
                }
                // A finished trial is written with its judgement, by `trial_finished`.
                Event::TrialFinished { .. } => {}
                _ => json_line(e),
            },
            Display::Silent => {}
        }
    }

    fn trial_finished(&mut self, t: &TrialReport) {
        match self {
            Display::Terminal(term) => term.trial_finished(t),
            Display::Json => json_line(&serde_json::json!({
                "event": "trial_finished",
                "trial": t,
            })),
            _ => {}
        }
    }

    /// Something went wrong that is neither a trial's verdict nor fatal to the run.
    fn problem(&mut self, message: &str) {
        match self {
            Display::Silent => {}
            _ => say!("error: {message}"),
        }
    }

    fn finish(&mut self) {
        if let Display::Terminal(t) = self {
            t.finish();
        }
    }
}

fn step_log(e: &Event) {
    let mut err = std::io::stderr().lock();
    let _ = match e {
        Event::StepStarted {
            number,
            of,
            description,
            ..
        } => writeln!(err, "step {number}/{of} {description}"),
        Event::StepFinished { outcome, .. } => writeln!(
            err,
            "step {} {:?} in {:.1}s{}",
            outcome.number,
            outcome.status,
            outcome.duration_ms as f64 / 1000.0,
            outcome
                .message
                .as_ref()
                .map(|m| format!(": {m}"))
                .unwrap_or_default()
        ),
        Event::Cancelling => writeln!(err, "crossgrade: stopping, cleaning up…"),
        Event::CleanupFailed { error } => writeln!(err, "crossgrade: {error}"),
        _ => Ok(()),
    };
}

/// Hands each event of a run to the recorder and the display.
pub(crate) struct Reporter {
    display: Display,
    recorder: Recorder,
    /// Finished trials as reported, in the order they finished.
    finished: Vec<TrialReport>,
    /// The last attempt to write the report failed (and said so: a full disk is said once, not
    /// once per trial).
    write_failing: bool,
}

impl Reporter {
    pub(crate) fn new(display: Display, recorder: Recorder) -> Reporter {
        Reporter {
            display,
            recorder,
            finished: vec![],
            write_failing: false,
        }
    }

    pub(crate) fn report(&mut self, e: &Event) {
        self.display.event(e);
        if let Event::TrialFinished { outcome } = e {
            let (trial, written) = self.recorder.collect(outcome);
            if let Err(err) = written {
                self.problem(err);
            }
            if let Some(o) = trial {
                self.trial(&o);
            }
        }
    }

    /// A trial's outcome (a repeated trial's aggregate): recorded, then shown with its judgement.
    fn trial(&mut self, outcome: &TrialOutcome) {
        let t = match self.recorder.finished(outcome) {
            Ok(t) => {
                self.write_failing = false;
                t
            }
            Err(err) => {
                self.problem(err);
                self.recorder.judge(outcome)
            }
        };
        self.display.trial_finished(&t);
        self.finished.push(t);
    }

    /// A report file could not be written: said once until writing works again (a full disk is
    /// said once, not once per trial).
    fn problem(&mut self, err: std::io::Error) {
        if !self.write_failing {
            let msg = format!(
                "writing the report to {}: {err}",
                self.recorder.dir().display()
            );
            self.display.problem(&msg);
        }
        self.write_failing = true;
    }

    /// Ends the display; the recorder and the trials reported, for the run's summary. Repeated
    /// trials whose runs did not all finish are reported with the runs they have.
    pub(crate) fn finish(mut self) -> (Recorder, Vec<TrialReport>) {
        for o in self.recorder.unfinished() {
            self.trial(&o);
        }
        self.display.finish();
        (self.recorder, self.finished)
    }
}
