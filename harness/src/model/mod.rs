//! The model: `matrix.toml` and `scenarios/*.toml` → validated types. No I/O beyond reading the files.

mod condition;
mod diag;
mod duration;
mod load;
mod raw;
mod release;
mod template;
mod types;

pub use condition::{Comparison, Condition, Op};
pub use diag::{LoadError, ModelError};
pub use duration::{format_duration, parse_duration};
pub use load::load;
pub use release::Release;
pub use template::{Scope, Template};
pub use types::*;
