//! The model: `matrix.toml` and `scenarios/*.toml` → validated types. No I/O beyond reading the files.
//! A scenario's steps are each loaded by their kind ([`crate::step`]), with the helpers this module
//! shares with it ([`Loader`]).

mod condition;
mod diag;
mod duration;
mod load;
mod raw;
mod release;
mod template;
mod types;

pub use condition::{Comparison, Condition, ConditionError, Op};
pub use diag::{LoadError, ModelError};
pub use duration::{format_duration, parse_duration, DurationError};
pub use load::load;
pub(crate) use load::{keys, Loader};
pub use release::{Release, ReleaseError};
pub use template::{Scope, Template, TemplateError};
pub use types::*;
