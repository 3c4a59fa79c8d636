//! Reports: consumers of outcomes and events. `results.json` (versioned schema) is the data; `junit.xml`,
//! `summary.md` and `index.html` are rendered from it; the terminal shows progress. Files are written
//! atomically (temp file + rename), so a killed run never leaves a half-written report.

mod compat;
mod files;
mod grid;
mod html;
mod junit;
mod merge;
mod orders;
mod predicted;
mod recorder;
mod reporter;
mod reproduce;
mod results;
mod summary;
mod suspects;
mod terminal;

pub use compat::{of_run as compat, Compat, Entry, PairTable, PathRow, Status};
pub use files::{rebuild_from_records, Latest};
pub use merge::{merge, MergeError, Merged};
pub use orders::{of as orders, OrderRow, OrderTable, Orders, Prediction};
pub use predicted::{of as predicted, Class, Predicted};
pub use suspects::{Suspect, Suspects};

pub(crate) use files::ReportPaths;
pub(crate) use recorder::Recorder;
pub(crate) use reporter::Reporter;
pub use reporter::{json_line, Display, EVENTS_SCHEMA};
pub(crate) use reproduce::reproduce;
pub use reproduce::{shell_quote, MATRIX_ENV};
pub use results::Provenance;
pub(crate) use results::RunMeta;
pub use results::TrialReport;
pub use results::{flaky_note, Results};
pub use terminal::{recap, table, Terminal};
