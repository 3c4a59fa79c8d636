//! Events: the interface between the trial runner and whoever displays or records a run. The runner
//! never prints; terminal progress, results.json and summary.md are consumers of these.

use crate::outcome::{StepOutcome, TrialOutcome};

/// Serialized (`--message-format json`) as one object per line with `"event"` naming the variant in
/// snake case and its fields beside it.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    RunStarted {
        run_id: String,
        trials: usize,
    },
    TrialStarted {
        id: String,
    },
    StepStarted {
        trial: String,
        number: usize,
        of: usize,
        description: String,
    },
    StepFinished {
        trial: String,
        outcome: StepOutcome,
    },
    TrialFinished {
        outcome: Box<TrialOutcome>,
    },
    /// The run was asked to stop (SIGINT, SIGTERM): it is removing what it created.
    Cancelling,
    /// A cleanup that runs when a trial is dropped (panic, cancellation) failed; what was left can
    /// be removed with `crossgrade gc`.
    CleanupFailed {
        error: String,
    },
}

/// Where events go. Sending never blocks and never fails the run: a reporter that went away is ignored.
#[derive(Debug, Clone)]
pub struct Events(Option<tokio::sync::mpsc::UnboundedSender<Event>>);

impl Events {
    pub(crate) fn new(tx: tokio::sync::mpsc::UnboundedSender<Event>) -> Events {
        Events(Some(tx))
    }

    pub(crate) fn emit(&self, e: Event) {
        if let Some(tx) = &self.0 {
            let _ = tx.send(e);
        }
    }
}
