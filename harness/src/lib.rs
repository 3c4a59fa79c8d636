//! crossgrade: tests cross-version upgrades of distributed systems on a real Docker engine.
//!
//! Data flows one way: [`model`] (files → validated types) → [`plan`] (cells, paths, trials; pure) →
//! [`run`] (executes trials against [`runtime`], emits events) → [`outcome`] (verdicts) →
//! [`baseline`] (compared with the recorded verdicts) → [`report`]. Beside them, [`api`] reads a
//! system's protobuf definitions per release and says statically what a change between two breaks;
//! [`risk`] turns that into what each trial of a plan is exposed to; [`history`] checks recorded
//! operation histories for linearizability.

/// `eprintln!` that never panics: a line for the user on stderr, dropped when stderr is closed (a
/// reader that went away must not turn a run's result into a panic; the exit code still says it).
/// Exported for the command line (the binary's `cli`), not part of the library's API.
#[doc(hidden)]
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

pub mod api;
mod atomic;
pub mod baseline;
pub mod history;
pub mod model;
pub mod outcome;
pub mod plan;
pub mod report;
pub mod risk;
pub mod run;
pub mod runtime;
pub mod session;
pub mod shrink;
pub(crate) mod step;
