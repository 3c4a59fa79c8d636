//! Static API compatibility between releases (issue 17): a release's protobuf definitions are
//! loaded ([`load`]) into a [`Schema`], and two schemas compared ([`diff`]) by protobuf's rules at
//! the wire level and at the JSON-mapping level, each [`Finding`] with its severity and both sides'
//! `file:line:column`. A [`Scope`] restricts a diff to the messages an interface exchanges; a
//! [`History`] of releases checks deprecations against a grace period.

mod deprecation;
mod finding;
mod json;
mod load;
mod normalize;
mod render;
mod resolve;
mod rules;
mod schema;
mod scope;

pub use deprecation::{deprecated, Deprecated, History, ItemKind};
pub use finding::{Counts, Finding, Rule, Severity};
pub use json::{check_json, check_message, message_named, read_messages, JsonCheck};
pub use load::{load, load_history, ApiError, ApiSource};
pub use render::{ApiDiff, Format};
pub use rules::diff;
pub use schema::{
    Deprecation, Enum, EnumValue, Field, FieldType, Label, Location, Message, Method, Schema,
    Service,
};
pub use scope::Scope;
