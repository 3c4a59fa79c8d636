//! Why a step did not pass: the system misbehaved (`fail`), or the engine or the harness did
//! (`error`). Never mixed up, and the engine's own error is kept as the cause, not flattened.

use crate::outcome::{Observation, StepStatus};
use crate::runtime::EngineError;

/// What went wrong in a step.
#[derive(Debug)]
pub(crate) enum Cause {
    /// The system under test: a check did not hold, a component exited, a deadline passed. The text
    /// is what was observed, in the report's words.
    Fail(String),
    /// The engine failed a call the harness made.
    Engine(EngineError),
    /// The harness itself (a planner or runner bug, a local file that cannot be written).
    Harness(String),
}

/// A step's failure: its cause, the other failures seen with it, the observations that show it, and
/// the replicas whose exit it already reports.
#[derive(Debug)]
pub(crate) struct StepError {
    pub cause: Cause,
    /// Further failures seen during the same step (a crash it set off), appended to the message.
    pub also: Vec<String>,
    pub observations: Vec<Observation>,
    /// Replicas whose exit this error reports (the crash check does not report them again).
    pub exited: Vec<String>,
}

impl StepError {
    fn of(cause: Cause) -> StepError {
        StepError {
            cause,
            also: vec![],
            observations: vec![],
            exited: vec![],
        }
    }

    /// The system misbehaved.
    pub(crate) fn fail(message: impl Into<String>) -> StepError {
        StepError::of(Cause::Fail(message.into()))
    }

    /// The harness did.
    pub(crate) fn harness(message: impl Into<String>) -> StepError {
        StepError::of(Cause::Harness(message.into()))
    }

    pub(crate) fn with(mut self, o: Observation) -> StepError {
        self.observations.push(o);
        self
    }

    /// Says that this error reports `replica`'s exit.
    pub(crate) fn exited(mut self, replica: &str) -> StepError {
        self.exited.push(replica.to_string());
        self
    }

    pub(crate) fn status(&self) -> StepStatus {
        match self.cause {
            Cause::Fail(_) => StepStatus::Fail,
            Cause::Engine(_) | Cause::Harness(_) => StepStatus::Error,
        }
    }

    pub(crate) fn is_fail(&self) -> bool {
        matches!(self.cause, Cause::Fail(_))
    }

    /// A failure that is a component refusing: one exited (and is quoted), or an action was
    /// answered with an error (a non-zero exit, an HTTP status of 400 or more). A check that
    /// read a wrong answer, or a deadline that passed, is not one.
    pub(crate) fn is_refusal(&self) -> bool {
        self.is_fail()
            && (!self.exited.is_empty()
                || self.observations.iter().any(|o| {
                    o.exit_code.is_some_and(|c| c != 0) || o.http_status.is_some_and(|s| s >= 400)
                }))
    }

    /// A failure that only held until a deadline: `not true within 10s: …`.
    pub(crate) fn not_true_within(mut self, within: std::time::Duration) -> StepError {
        if let Cause::Fail(m) = &mut self.cause {
            *m = format!(
                "not true within {}: {m}",
                crate::model::format_duration(within)
            );
        }
        self
    }

    /// The one line a report shows.
    pub(crate) fn message(&self) -> String {
        let mut m = match &self.cause {
            Cause::Fail(m) | Cause::Harness(m) => m.clone(),
            Cause::Engine(e) => format!("Docker engine: {e}"),
        };
        for a in &self.also {
            m.push_str("; and ");
            m.push_str(a);
        }
        m
    }
}

impl From<EngineError> for StepError {
    fn from(e: EngineError) -> StepError {
        StepError::of(Cause::Engine(e))
    }
}
