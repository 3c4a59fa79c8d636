//! The container engine side: the [`Backend`] trait the runner speaks, its Docker implementation
//! ([`Engine`], the only code that uses bollard), images, and cleanup.

mod backend;
mod cleanup;
mod engine;
mod engine_addr;
mod engine_images;
mod images;
#[cfg(test)]
pub(crate) mod scripted;

pub use backend::{Backend, EngineError, EngineErrorKind};

pub use backend::ContainerSpec;

pub(crate) use backend::{ContainerStatus, Endpoint, HttpCall, Labelled, Labels};
pub use cleanup::BUSY_WAIT;
pub use cleanup::{gc, LABEL_OWNER, LABEL_RUN, LABEL_TRIAL};
pub use cleanup::{labels, SweepGuard};
pub(crate) use cleanup::{remove_when_free, sweep};
pub use engine::Engine;
pub use engine_addr::EngineAddr;
pub use images::{
    build_images, defined_images, image_states, BuildError, BuildEvent, BuildOptions, BuildReport,
    ImageState,
};
