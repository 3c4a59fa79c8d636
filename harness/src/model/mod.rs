//! The model: `matrix.toml` and `scenarios/*.toml` → validated types. No I/O beyond reading the files.
//! A scenario's steps are each loaded by their kind ([`crate::step`]), with the helpers this module
//! shares with it ([`Loader`]).

mod condition;
mod diag;
mod duration;
mod image_ref;
mod load;
mod raw;
mod release;
mod shape;
mod skew;
mod template;
mod types;

pub use condition::Op;

pub(crate) use condition::Condition;
pub(crate) use diag::toml_hint;
pub use diag::LoadError;
pub use diag::ModelError;
pub(crate) use diag::SourceFile;
pub(crate) use duration::format_duration;
pub(crate) use load::{keys, Loader, REGEX_HINT};
pub use load::{load, load_scenario_file, ScenarioFile};
pub use release::Release;
pub(crate) use shape::Shape;
pub(crate) use template::{ReleaseScope, Scope, Template};
pub use types::*;
