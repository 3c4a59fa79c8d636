//! crossgrade: tests cross-version upgrades of distributed systems on a real Docker engine.
//!
//! Data flows one way: [`model`] (files → validated types) → [`plan`] (cells, paths, trials; pure) →
//! [`run`] (executes trials against [`runtime`], emits events) → [`outcome`] (verdicts) →
//! [`baseline`] (compared with the recorded verdicts) → [`report`]. Beside them, [`api`] reads a
//! system's protobuf definitions per release and says statically what a change between two breaks;
//! [`risk`] turns that into what each trial of a plan is exposed to; [`history`] checks recorded
//! operation histories for linearizability.

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
