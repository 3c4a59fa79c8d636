//! Reports: consumers of outcomes and events. `results.json` (versioned schema), `summary.md`, and the
//! terminal display. Files are written atomically (temp file + rename), so a killed run never leaves a
//! half-written report.

mod files;
mod terminal;

pub use files::{write_report, Counts, Results, SCHEMA};
pub use terminal::{table, Terminal};
