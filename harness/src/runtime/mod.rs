//! The container engine side: the [`Backend`] trait the runner speaks, its Docker implementation
//! ([`Engine`], the only code that uses bollard), images, and cleanup.

mod backend;
mod cleanup;
mod engine;
mod engine_images;
mod images;
#[cfg(test)]
pub(crate) mod scripted;

pub use backend::{
    Backend, ContainerSpec, ContainerStatus, Endpoint, EngineError, EngineErrorKind, ExecOutput,
    HttpAnswer, HttpCall, Labelled, Labels, Unanswered,
};
pub use cleanup::{
    gc, labels, owner_alive, owner_id, sweep, SweepGuard, Swept, LABEL_OWNER, LABEL_RUN,
    LABEL_TRIAL,
};
pub use engine::Engine;
pub use images::{
    build_images, defined_images, image_status, wanted_images, BuildError, BuildEvent,
    BuildOptions, BuildReport, WantedImage, LABEL_BUILD_HASH, LABEL_SYSTEM,
};
