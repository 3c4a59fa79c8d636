//! Reports: consumers of outcomes and events. `results.json` (versioned schema) is the data; `junit.xml`,
//! `summary.md` and `index.html` are rendered from it; the terminal shows progress. Files are written
//! atomically (temp file + rename), so a killed run never leaves a half-written report.

mod files;
mod grid;
mod html;
mod junit;
mod recorder;
mod reporter;
mod reproduce;
mod results;
mod summary;
mod terminal;

pub use files::{
    read_trial_records, rebuild_from_records, trial_record_path, write_report, write_trial_record,
    ReportPaths,
};
pub use html::escape as escape_html;
pub use recorder::Recorder;
pub use reporter::{Display, Reporter};
pub use reproduce::{reproduce, shell_quote, MATRIX_ENV};
pub use results::{ChangeCounts, Counts, Results, RunMeta, TrialReport, SCHEMA};
pub use terminal::{table, Terminal};
