//! The container engine side: the [`Backend`] trait the runner speaks, its Docker implementation
//! ([`Engine`] and its relays, the only code that uses bollard), how replicas' ports are reached
//! (directly or through the engine), images, and cleanup.

mod backend;
mod cleanup;
mod engine;
mod engine_addr;
mod engine_images;
mod images;
mod reach;
mod relay;
#[cfg(test)]
pub(crate) mod scripted;

pub use backend::{Backend, EngineError, EngineErrorKind};

pub use backend::ContainerSpec;

pub(crate) use backend::{ContainerStatus, Labelled, Labels};
pub use backend::{Endpoint, HttpAnswer, HttpCall, Unanswered};
pub use cleanup::BUSY_WAIT;
pub use cleanup::{gc, LABEL_OWNER, LABEL_RUN, LABEL_TRIAL};
pub use cleanup::{labels, SweepGuard};
pub(crate) use cleanup::{remove_when_free, sweep};
pub use engine::Engine;
pub use engine_addr::EngineAddr;
pub use images::{
    build_images, define_helper_images, defined_images, image_states, BuildError, BuildEvent,
    BuildOptions, BuildReport, ImageState,
};
pub use reach::{Reach, ReachChoice, ReachSetting, REACH_VAR};
pub(crate) use relay::RELAY_DOCKERFILE;
pub use relay::RELAY_IMAGE;
